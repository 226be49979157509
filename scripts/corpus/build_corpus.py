#!/usr/bin/python3
"""Rebuilds the English pretraining corpus from the documentation a Debian machine carries.

Sources, in this order (the first copy of a repeated text wins):
  licence   /usr/share/common-licenses/*          -> held-out-other only, never trained on
  man       /usr/share/man/man[1-8]/*            English pages only (not the language dirs)
  info      /usr/share/info/*.info*.gz            one unit per node
  doc       /usr/share/doc/**: README*, *.txt, *.md, *.rst, *.html, FAQ*
  pydoc     docstrings of /usr/lib/python3.*/ and /usr/lib/python3/dist-packages/ modules

Left out on purpose: the Google Cloud CLI's generated man pages (not from Debian's archive,
one template per command); the dpkg status database, apt lists, README.Debian / NEWS.Debian and
every /usr/share/doc/*/copyright file (they quote package descriptions or licences, which
the fine-tuning demo and the held-out-other set use); changelogs, NEWS, AUTHORS, THANKS,
TODO, examples and code; binary files. On top of that, any paragraph sharing a 13-word
sequence with a pair of the fine-tuning dataset (corpus/finetune/*.jsonl.xz, built first by
build_finetune.py) or with a licence text is dropped (decontamination).

Processing: each source becomes paragraphs (man pages are stripped of troff by our own
code, not rendered, so the text does not depend on a groff version); lines or paragraphs
that are mostly symbols or code are dropped, as are paragraphs that do not read as English
(too few common English words, non-ASCII text); repeated paragraphs (boilerplate such as
"report bugs to ...") are kept once; paragraphs are grouped into documents of at most
--max-words words, one per output line; repeated documents are kept once.

Splits: a unit (a file, or an info node) goes to the held-out split when a hash of its
path falls under --heldout-permille (default 15 = 1.5%), else to train. Licences form the
"held-out-other" set.

Outputs (-o DIR, default corpus/text): train.txt, heldout.txt, heldout-other.txt (with --xz
also their .xz, which the repository keeps), and the manifest (--manifest, default
corpus/MANIFEST.tsv): every file used with its sha256, size, kind, split and yield, then the
totals. `--check` compares this machine with the manifest;
`--from-manifest` rebuilds from exactly the manifest's files (refusing any that differ), so
two machines with the same files give the same corpus byte for byte.

Standard library only (Debian's /usr/bin/python3).
"""

import argparse
import glob
import hashlib
import json
import lzma
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import textprep as tp  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
NGRAM = 13

_DOC_NAME_SKIP = ("changelog", "news", "authors", "thanks", "todo", "copyright", "copying",
                  "license", "licence", "history", "contributors", "credits", "maintainers",
                  "install")
# The Google Cloud CLI comes from Google's repository, not Debian's archive, so most Debian
# machines lack it, and its 16,000 generated man pages are one template filled in per command.
_PATH_SKIP = ("/usr/share/man/man1/gcloud",)
_DOC_DIR_SKIP = ("/examples/", "/example/", "/test/", "/tests/", "/html/_sources/",
                 "/_static/", "/contrib/")


# ---------------------------------------------------------------------------------------------
# which files


def doc_kind(path):
    """'doc-text', 'doc-md', 'doc-html', or None for a /usr/share/doc file we leave out."""
    low = path.lower()
    base = os.path.basename(low)
    for ext in (".gz", ".xz", ".bz2"):
        if base.endswith(ext):
            base = base[:-len(ext)]
    if any(d in low for d in _DOC_DIR_SKIP):
        return None
    if ".debian" in base or base.startswith(_DOC_NAME_SKIP):
        return None
    if base.endswith((".html", ".htm")):
        return "doc-html"
    if base.endswith((".md", ".markdown", ".rst")):
        return "doc-md"
    if base.endswith(".txt") or base.startswith(("readme", "faq")) and "." not in base:
        return "doc-text"
    if base in ("readme", "faq") or base.startswith(("readme.", "faq.")):
        return "doc-text"
    return None


def candidates():
    """[(kind, path)] of every file the corpus may use, in the fixed processing order."""
    out = []
    seen_real = set()

    def add(kind, path):
        if os.path.islink(path) or not os.path.isfile(path) or path.startswith(_PATH_SKIP):
            return
        real = os.path.realpath(path)
        if real in seen_real:
            return
        seen_real.add(real)
        out.append((kind, path))

    for p in sorted(glob.glob("/usr/share/common-licenses/*")):
        add("licence", p)
    for sec in "12345678":
        for p in sorted(glob.glob("/usr/share/man/man%s/*" % sec)):
            add("man", p)
    for p in sorted(glob.glob("/usr/share/info/*.info*")):
        if p.endswith((".gz", ".info")) or ".info-" in p:
            add("info", p)
    for dirpath, dirnames, filenames in os.walk("/usr/share/doc"):
        dirnames.sort()
        for name in sorted(filenames):
            p = os.path.join(dirpath, name)
            kind = doc_kind(p)
            if kind:
                add(kind, p)
    py_roots = sorted(glob.glob("/usr/lib/python3.[0-9]*")) + ["/usr/lib/python3/dist-packages"]
    for root in py_roots:
        # Top-down walk: pruning dirnames in place skips test suites; sorting it fixes the order.
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = sorted(d for d in dirnames
                                 if d not in ("test", "tests", "testing", "__pycache__",
                                              "idle_test", "site-packages", "dist-packages"))
            for name in sorted(filenames):
                if name.endswith(".py") and not name.startswith("test_"):
                    add("pydoc", os.path.join(dirpath, name))
    return out


# ---------------------------------------------------------------------------------------------
# file -> units of paragraphs


def units_of(kind, path, text):
    """[(unit name, [paragraph text])]; a unit is the document the split is decided on."""
    if kind == "man":
        if text.lstrip().startswith(".so "):  # a link to another page
            return []
        return [(path, [tp.clean_joined(p) for p in tp.man_paragraphs(text)])]
    if kind == "info":
        return [(path + "#" + node, [tp.clean_paragraph(p) for p in paras])
                for node, paras in tp.info_nodes(text)]
    if kind == "doc-html":
        return [(path, [tp.clean_joined(p) for p in tp.html_paragraphs(text)])]
    if kind == "doc-md":
        return [(path, [tp.clean_paragraph(p) for p in tp.plain_paragraphs(text, markup=True)])]
    if kind == "pydoc":
        return [(path, [tp.clean_paragraph(p) for p in tp.python_docstrings(text)])]
    # licence, doc-text
    return [(path, [tp.clean_paragraph(p) for p in tp.plain_paragraphs(text)])]


# ---------------------------------------------------------------------------------------------
# manifest


def read_manifest(path):
    rows = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.startswith("#") or not line.strip():
                continue
            cols = line.rstrip("\n").split("\t")
            rows.append({"path": cols[0], "sha256": cols[1], "size": int(cols[2]),
                         "kind": cols[3]})
    return rows


def check(manifest):
    rows = read_manifest(manifest)
    missing, different = [], []
    for r in rows:
        path = r["path"] if os.path.isabs(r["path"]) else os.path.join(ROOT, r["path"])
        if not os.path.isfile(path):
            missing.append(r["path"])
            continue
        with open(path, "rb") as f:
            raw = f.read()
        if len(raw) != r["size"] or tp.sha256_hex(raw) != r["sha256"]:
            different.append(r["path"])
    for p in missing:
        print("missing\t" + p)
    for p in different:
        print("different\t" + p)
    print("%d files in the manifest: %d present and identical, %d missing, %d different"
          % (len(rows), len(rows) - len(missing) - len(different), len(missing), len(different)))
    return 0 if not missing and not different else 1


# ---------------------------------------------------------------------------------------------
# build


FINETUNE_FILES = ["corpus/finetune/%s.jsonl.xz" % s for s in ("train", "dev", "test")]


def protected_ngrams(files, log):
    """13-gram hashes of the fine-tuning dataset's pairs (the package descriptions the demo
    summarises): pretraining on them would leak the task's answers, its test split's too."""
    grams = set()
    n = 0
    for rel in files:
        with open(os.path.join(ROOT, rel), "rb") as f:
            body = lzma.decompress(f.read()).decode("utf-8")
        for line in body.splitlines():
            pair = json.loads(line)
            grams |= tp.ngram_hashes(pair["input"] + " " + pair["target"], NGRAM)
            n += 1
    log("protected: %d fine-tuning pairs, %d %d-grams" % (n, len(grams), NGRAM))
    return grams


def repo_file_digest(rel):
    with open(os.path.join(ROOT, rel), "rb") as f:
        raw = f.read()
    return tp.sha256_hex(raw), len(raw)


def build(args):
    log = (lambda *a: None) if args.quiet else (lambda m: print(m, file=sys.stderr, flush=True))
    if args.from_manifest:
        rows = read_manifest(args.manifest)
        files = [(r["kind"], r["path"]) for r in rows if r["kind"] != "finetune"]
        desc_files = [r["path"] for r in rows if r["kind"] == "finetune"]
        expect = {r["path"]: r for r in rows}
        for p in desc_files:
            if repo_file_digest(p) != (expect[p]["sha256"], expect[p]["size"]):
                print("build_corpus: %s differs from the manifest (run --check)" % p,
                      file=sys.stderr)
                return 1
    else:
        files = candidates()
        desc_files = [] if args.no_decontaminate else FINETUNE_FILES
        expect = None
    if args.limit:
        files = files[:args.limit]
    log("%d candidate files" % len(files))

    protected = set() if args.no_decontaminate else protected_ngrams(desc_files, log)
    seen_raw = {}          # sha256 of decompressed content -> first path
    seen_para = set()
    seen_doc = set()
    out = {"train": [], "heldout": [], "heldout-other": []}
    manifest = []
    if not args.no_decontaminate:
        for p in desc_files:
            digest, size = repo_file_digest(p)
            manifest.append((p, digest, size, "finetune", "-", 0, 0))
    dropped = {"contaminated": 0, "repeated paragraph": 0, "not prose": 0, "repeated doc": 0}

    for i, (kind, path) in enumerate(files):
        if i % 2000 == 0:
            log("  %d/%d %s" % (i, len(files), path))
        try:
            raw, data = tp.read_bytes(path)
        except (OSError, EOFError, ValueError) as e:
            if expect is not None:
                print("build_corpus: %s: %s" % (path, e), file=sys.stderr)
                return 1
            continue
        digest = tp.sha256_hex(raw)
        if expect is not None and (digest != expect[path]["sha256"]
                                   or len(raw) != expect[path]["size"]):
            print("build_corpus: %s differs from the manifest (run --check)" % path,
                  file=sys.stderr)
            return 1
        content = hashlib.sha256(data).digest()
        if content in seen_raw:
            continue
        seen_raw[content] = path
        if len(data) > args.max_file_bytes:
            continue
        text = tp.decode_text(data)
        if text is None:
            continue
        ndocs = nwords = 0
        contributed = False
        split_used = None
        for unit, paras in units_of(kind, path, text):
            if kind == "licence":
                split = "heldout-other"
            elif tp.stable_hash("corpus:" + unit) % 1000 < args.heldout_permille:
                split = "heldout"
            else:
                split = "train"
            keep = []
            for p in paras:
                if not p or not tp.paragraph_is_prose(p):
                    dropped["not prose"] += 1 if p else 0
                    continue
                key = hashlib.sha256(p.lower().encode("utf-8")).digest()
                if key in seen_para:
                    dropped["repeated paragraph"] += 1
                    continue
                seen_para.add(key)
                contributed = True  # a later copy of this paragraph depends on this file
                if kind == "licence":
                    protected |= tp.ngram_hashes(p, NGRAM)
                elif protected and not protected.isdisjoint(tp.ngram_hashes(p, NGRAM)):
                    dropped["contaminated"] += 1
                    continue
                keep.append(p)
            for doc in tp.group_paragraphs(keep, args.max_words, args.min_words):
                key = hashlib.sha256(doc.encode("utf-8")).digest()
                if key in seen_doc:
                    dropped["repeated doc"] += 1
                    continue
                seen_doc.add(key)
                out[split].append(doc)
                ndocs += 1
                nwords += len(doc.split())
                split_used = split if split_used in (None, split) else "mixed"
        split_used = split_used or "-"
        if contributed:
            manifest.append((path, digest, len(raw), kind, split_used, ndocs, nwords))

    os.makedirs(args.out, exist_ok=True)
    totals = {}
    for split, docs in out.items():
        body = "".join(d + "\n" for d in docs).encode("utf-8")
        with open(os.path.join(args.out, split + ".txt"), "wb") as f:
            f.write(body)
        if args.xz:
            # Preset 9, one thread: the same bytes for the same text with the same liblzma.
            with open(os.path.join(args.out, split + ".txt.xz"), "wb") as f:
                f.write(lzma.compress(body, preset=9))
        totals[split] = (len(docs), sum(len(d.split()) for d in docs), len(body),
                         hashlib.sha256(body).hexdigest())
    if not args.from_manifest:
        with open(args.manifest, "w", encoding="utf-8") as f:
            f.write("# path\tsha256\tsize\tkind\tsplit\tdocuments\twords\n")
            for row in manifest:
                f.write("%s\t%s\t%d\t%s\t%s\t%d\t%d\n" % row)
            f.write("# options\tmax_words=%d min_words=%d heldout_permille=%d decontaminate=%s\n"
                    % (args.max_words, args.min_words, args.heldout_permille,
                       "no" if args.no_decontaminate else "13-grams"))
            for split, (n, w, b, h) in totals.items():
                f.write("# total %s\t%d documents\t%d words\t%d bytes\tsha256 %s\n"
                        % (split, n, w, b, h))
            for k in sorted(dropped):
                f.write("# dropped\t%s\t%d\n" % (k, dropped[k]))
    for split, (n, w, b, h) in totals.items():
        log("%s: %d documents, %d words, %d bytes, sha256 %s" % (split, n, w, b, h))
    log("dropped: " + ", ".join("%s %d" % kv for kv in sorted(dropped.items())))
    return 0


def main(argv):
    ap = argparse.ArgumentParser(description="Rebuild the pretraining corpus from this "
                                 "machine's documentation (see the module docstring).")
    ap.add_argument("-o", "--out", default=os.path.join(ROOT, "corpus", "text"))
    ap.add_argument("--manifest", default=os.path.join(ROOT, "corpus", "MANIFEST.tsv"))
    ap.add_argument("--check", action="store_true",
                    help="only compare this machine's files with the manifest")
    ap.add_argument("--from-manifest", action="store_true",
                    help="use exactly the manifest's files (and do not rewrite it)")
    ap.add_argument("--max-words", type=int, default=400,
                    help="words per document at most (default 400, about 512 T5 tokens)")
    ap.add_argument("--min-words", type=int, default=20)
    ap.add_argument("--heldout-permille", type=int, default=15)
    ap.add_argument("--max-file-bytes", type=int, default=8 << 20)
    ap.add_argument("--no-decontaminate", action="store_true")
    ap.add_argument("--xz", action="store_true",
                    help="also write OUT/SPLIT.txt.xz (the form the repository keeps)")
    ap.add_argument("--limit", type=int, default=0, help="first N files only (for testing)")
    ap.add_argument("-q", "--quiet", action="store_true")
    args = ap.parse_args(argv)
    if args.check:
        return check(args.manifest)
    return build(args)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
