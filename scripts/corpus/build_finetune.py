#!/usr/bin/python3
"""Builds the fine-tuning demo's dataset: summarise a Debian package's long description into
its one-line short description.

    {"input": "summarize: <long description>", "target": "<short description>"}

Sources: /var/lib/dpkg/status (installed packages) and apt's lists in /var/lib/apt/lists
(Packages for every package of the archive, Translation-en for their long descriptions; run
`apt-get update -o Acquire::Languages=en` first to have them). The split is by source package
(every binary package of a source lands in the same split, so near-identical library/-dev
descriptions cannot leak from train into test), by a hash of its name: 90% train, 5% dev,
5% test. Deterministic: the same lists give the same files, byte for byte.

Dropped: long texts shared by several packages (kept once, for the first package name in
sorted order), pairs whose short description is copied verbatim into the long one,
transitional/dummy/metapackages, long texts under 12 words, short ones under 2 words, and
non-prose long texts. Leaves out any field other than the descriptions.

Standard library only (Debian's /usr/bin/python3).
"""

import argparse
import json
import lzma
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import debdesc  # noqa: E402
from textprep import stable_hash  # noqa: E402

SPLITS = (("train", 90), ("dev", 95), ("test", 100))
_TRIVIAL_RE = re.compile(r"\b(transitional|dummy|metapackage|meta-package|virtual package)\b",
                         re.IGNORECASE)


def split_of(source):
    bucket = stable_hash("finetune:" + source) % 100
    for name, limit in SPLITS:
        if bucket < limit:
            return name
    return SPLITS[-1][0]


def norm(s):
    return " ".join(s.lower().split())


def keep(short, long):
    """The reason a pair is dropped, or None to keep it."""
    if len(long.split()) < 12:
        return "long description under 12 words"
    if len(short.split()) < 2:
        return "short description under 2 words"
    if _TRIVIAL_RE.search(short) or _TRIVIAL_RE.search(long.split("\n")[0]):
        return "transitional, dummy or metapackage"
    if norm(short).rstrip(".") in norm(long):
        return "short description copied in the long one"
    letters = sum(c.isalpha() or c.isspace() for c in long)
    if letters < 0.8 * len(long):
        return "long description not prose"
    return None


def build(files):
    """(rows per split, statistics). Rows are sorted by package name."""
    seen_long = set()
    seen_pair = set()
    stats = {"candidates": 0}
    rows = {name: [] for name, _ in SPLITS}
    cands = sorted(debdesc.descriptions(files), key=lambda d: (d["package"], d["origin"]))
    seen_pkg = set()
    for d in cands:
        if d["package"] in seen_pkg:  # the same package in several lists
            continue
        seen_pkg.add(d["package"])
        stats["candidates"] += 1
        why = keep(d["short"], d["long"])
        if why is None:
            key_long = norm(d["long"])
            if key_long in seen_long or (key_long, norm(d["short"])) in seen_pair:
                why = "duplicate long description"
            seen_long.add(key_long)
            seen_pair.add((key_long, norm(d["short"])))
        if why is not None:
            stats[why] = stats.get(why, 0) + 1
            continue
        # Paragraphs are joined by newlines in the long text; the model sees one line.
        text = " ".join(d["long"].split())
        rows[split_of(d["source"])].append(
            {"input": "summarize: " + text, "target": d["short"], "_pkg": d["package"]})
    return rows, stats


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-o", "--out", default=os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "..", "corpus", "finetune"),
        help="output directory (default: corpus/finetune of the source tree)")
    ap.add_argument("--xz", action="store_true", help="write FILE.jsonl.xz instead of FILE.jsonl")
    args = ap.parse_args(argv)

    files = debdesc.source_files()
    if not files:
        print("build_finetune: no dpkg status database or apt lists found", file=sys.stderr)
        return 1
    rows, stats = build(files)
    os.makedirs(args.out, exist_ok=True)
    for name, _ in SPLITS:
        body = "".join(json.dumps({"input": r["input"], "target": r["target"]},
                                  ensure_ascii=False) + "\n" for r in rows[name]).encode("utf-8")
        path = os.path.join(args.out, name + ".jsonl")
        if args.xz:
            # preset 9, no threads: the same bytes on every machine.
            body = lzma.compress(body, preset=9)
            path += ".xz"
        with open(path, "wb") as f:
            f.write(body)
    # Which package each line came from, in file order (the JSON lines carry only the pair).
    listing = "".join("%s\t%s\n" % (r["_pkg"], name) for name, _ in SPLITS for r in rows[name])
    with open(os.path.join(args.out, "packages.tsv.xz"), "wb") as f:
        f.write(lzma.compress(("# package\tsplit\n" + listing).encode("utf-8"), preset=9))
    with open(os.path.join(args.out, "SOURCES.tsv"), "w", encoding="utf-8") as f:
        f.write("# path\tsha256\tsize\n")
        for path in files:
            digest, size = debdesc.file_digest(path)
            f.write("%s\t%s\t%d\n" % (path, digest, size))
        for name, _ in SPLITS:
            f.write("# %s\t%d pairs\n" % (name, len(rows[name])))
        for k in sorted(stats):
            f.write("# %s\t%d\n" % (k, stats[k]))
    for name, _ in SPLITS:
        print("%s: %d pairs" % (name, len(rows[name])))
    for k in sorted(stats):
        print("  %s: %d" % (k, stats[k]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
