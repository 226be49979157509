#!/usr/bin/python3
"""The unigram baseline of the corpus: the cross-entropy, in nats per token, of a unigram
model fitted on the training split's tokens, evaluated on the held-out split and on the
held-out-other prose. A pretrained model is worth shipping only if it beats this by a wide
margin (the project asks for 1 nat/token).

Tokens come from the project's own tokenizer, `switchc tokenize -m DIR --no-eos`, which
reads one document a line on stdin and answers one line of ids each, so no Python
SentencePiece is needed. Only real-word pieces count: the pad (0) and </s> (1) ids and
the sentinels <extra_id_*> (ids >= the SentencePiece vocabulary size, 32000 for T5) are
left out; <unk> (2) is kept, as it stands for text the model must also predict.

Smoothing: add-k (Laplace for k = 1, the default) over the V = 32000 - 2 real-word ids:
p(t) = (c(t) + k) / (N + k V). Every id the tokenizer can emit thus has a probability, and
the held-out cross-entropy is finite. The fitted-on-train entropy is printed too (it is
the floor a unigram model gets on its own data).

Standard library only (Debian's /usr/bin/python3).
"""

import argparse
import json
import math
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
SPM_VOCAB = 32000   # T5's SentencePiece pieces; ids from here on are the sentinels
EXCLUDED = (0, 1)   # <pad>, </s>


def token_counts(switchc, model, path, max_lines):
    """Counts of real-word ids over the lines of path (a list indexed by id), and the number
    of lines read."""
    counts = [0] * SPM_VOCAB
    lines = 0
    with open(path, "rb") as f:
        data = f.read()
    if max_lines:
        data = b"".join(data.splitlines(keepends=True)[:max_lines])
    proc = subprocess.run([switchc, "tokenize", "-m", model, "--no-eos"], input=data,
                          stdout=subprocess.PIPE, check=True)
    for line in proc.stdout.split(b"\n"):
        if not line:
            continue
        lines += 1
        for tok in line.split():
            i = int(tok)
            if i in EXCLUDED or i >= SPM_VOCAB:
                continue
            counts[i] += 1
    return counts, lines


def cross_entropy(train_counts, eval_counts, k):
    v = SPM_VOCAB - len(EXCLUDED)
    n = sum(train_counts)
    denom = n + k * v
    total = sum(eval_counts)
    if total == 0:
        return float("nan"), 0
    h = 0.0
    for i, c in enumerate(eval_counts):
        if c:
            h -= c * math.log((train_counts[i] + k) / denom)
    return h / total, total


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--corpus", default=os.path.join(ROOT, "corpus", "text"),
                    help="directory with train.txt, heldout.txt, heldout-other.txt")
    ap.add_argument("--switchc", default=os.path.join(ROOT, "build", "switchc"))
    ap.add_argument("-m", "--model", default=os.path.join(ROOT, "models", "switch-tiny-t5vocab"),
                    help="tokenizer (model directory or spiece.model)")
    ap.add_argument("-k", type=float, default=1.0, help="add-k smoothing constant (default 1)")
    ap.add_argument("--max-lines", type=int, default=0, help="first N lines of each file only")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    args = ap.parse_args(argv)

    if not os.access(args.switchc, os.X_OK):
        print("unigram_entropy: %s is not an executable; build switchc or pass --switchc"
              % args.switchc, file=sys.stderr)
        return 1
    files = {s: os.path.join(args.corpus, s + ".txt")
             for s in ("train", "heldout", "heldout-other")}
    for s, p in files.items():
        if not os.path.isfile(p):
            print("unigram_entropy: %s missing (run build_corpus.py)" % p, file=sys.stderr)
            return 1
    counts, docs = {}, {}
    for s, p in files.items():
        counts[s], docs[s] = token_counts(args.switchc, args.model, p, args.max_lines)
    result = {"smoothing": "add-k", "k": args.k, "vocab": SPM_VOCAB - len(EXCLUDED),
              "train_tokens": sum(counts["train"]), "train_documents": docs["train"]}
    for s in ("train", "heldout", "heldout-other"):
        h, n = cross_entropy(counts["train"], counts[s], args.k)
        key = s.replace("-", "_")
        result[key + "_nats_per_token"] = round(h, 4)
        result[key + "_tokens"] = n
    if args.json:
        print(json.dumps(result))
    else:
        print("unigram model: %d training tokens over %d documents, add-%g smoothing over %d ids"
              % (result["train_tokens"], docs["train"], args.k, result["vocab"]))
        for s in ("train", "heldout", "heldout-other"):
            key = s.replace("-", "_")
            print("  %-14s %8.4f nats/token  (%d tokens)"
                  % (s, result[key + "_nats_per_token"], result[key + "_tokens"]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
