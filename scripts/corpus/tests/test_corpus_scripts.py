"""Tests of the corpus scripts (run: /usr/bin/python3 -m pytest scripts/corpus/tests).

Each test feeds a small hand-written input to one step (troff stripping, info nodes, the
prose filters, grouping, the package-description parser, the fine-tuning pair rules and
split, the unigram entropy, the manifest check, the training-log plot) and checks the exact
outcome. No machine file is read, so the results do not depend on what is installed.
"""

import gzip
import json
import math
import os
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS_DIR = os.path.dirname(HERE)
SCRIPTS = os.path.dirname(CORPUS_DIR)
sys.path.insert(0, CORPUS_DIR)
sys.path.insert(0, SCRIPTS)

import build_corpus  # noqa: E402
import build_finetune  # noqa: E402
import debdesc  # noqa: E402
import textprep as tp  # noqa: E402
import unigram_entropy  # noqa: E402
import plot_training  # noqa: E402


# --- troff ------------------------------------------------------------------------------------

MAN = r""".\" a comment that must not appear
.TH FROB 1 "2024" "frob 1.0" "User Commands"
.de XX
.  this macro body is never text
..
.SH NAME
frob \- frobnicate the widgets
.SH DESCRIPTION
.B frob
reads the widgets from the
.I input
file and writes them to the standard output\(em
sorted by name\&.
.PP
Options are described in
.BR frobrc (5).
.nf
int main(void) { return 0; }
.fi
.TS
tab(:);
a:b:c
.TE
.SH EXAMPLE
.EX
$ frob \-x file
.EE
The last paragraph is plain text again.
"""


def test_man_paragraphs_keep_prose_and_drop_code_tables_macros():
    paras = [tp.clean_joined(p) for p in tp.man_paragraphs(MAN)]
    paras = [p for p in paras if p]
    assert "frob reads the widgets from the input file and writes them to the standard " \
           "output- sorted by name." in paras
    assert "Options are described in frobrc(5)." in paras
    assert "The last paragraph is plain text again." in paras
    text = " ".join(paras)
    for gone in ("comment", "macro body", "int main", "tab(:)", "a:b:c", "$ frob"):
        assert gone not in text


def test_troff_escapes():
    assert tp.troff_inline(r"\fBbold\fR and \fIitalic\fP \(lqq\(rq \e \-x \[em]") == \
        'bold and italic "q" \\ -x -'
    assert tp.troff_inline(r"a\s-1SMALL\s0 b\*(Aqc") == "aSMALL bc"


def test_so_redirect_is_not_a_document():
    assert build_corpus.units_of("man", "/x/man1/a.1.gz", ".so man1/b.1\n") == []


# --- info -------------------------------------------------------------------------------------

INFO = ("This is x.info, produced by makeinfo.\n\x1f\n"
        "File: x.info,  Node: Top,  Next: Intro,  Up: (dir)\n\n"
        "X manual\n********\n\nThis manual documents the x program and how it is used.\n\n"
        "* Menu:\n\n* Intro::    Introduction.\n\n\x1f\n"
        "File: x.info,  Node: Intro,  Prev: Top,  Up: Top\n\n"
        "1 Intro\n=======\n\nThe x program reads text from a file and writes it back.\n\n"
        "     x --all file\n\nThat is all there is to it.\n\x1f\nTag Table:\nNode: Top\x7f1\n")


def test_info_nodes_split_and_drop_menus_examples():
    nodes = tp.info_nodes(INFO)
    assert [n for n, _ in nodes] == ["Top", "Intro"]
    top = [tp.clean_paragraph(p) for p in nodes[0][1]]
    assert "This manual documents the x program and how it is used." in top
    assert not any("Introduction" in p for p in top)
    intro = " ".join(p for p in (tp.clean_paragraph(p) for p in nodes[1][1])
                     if tp.paragraph_is_prose(p, min_words=5))
    assert "The x program reads text from a file and writes it back." in intro
    assert "--all" not in intro
    assert "That is all there is to it." in intro


# --- filters and grouping ---------------------------------------------------------------------

def test_line_and_prose_filters():
    assert tp.line_is_text("This line is ordinary English text for a reader.")
    assert not tp.line_is_text("if (x == 1) { y = 2; z = 3; }")
    assert not tp.line_is_text("0x00 0x01 0x02 0x03 | 12 | 13 | 14")
    assert not tp.line_is_text(">>> print('hello world and more')")
    assert tp.paragraph_is_prose("The program reads the file and writes it to the output "
                                 "when it is done.")
    assert not tp.paragraph_is_prose("Frobnicate widgets quickly")          # too short
    assert not tp.paragraph_is_prose("Le programme lit le fichier et écrit la sortie "
                                     "quand il a fini son travail élégamment.")


def test_group_paragraphs_sizes():
    paras = ["w%d " % i * 1 + " ".join(["word"] * 9) for i in range(5)]   # 10 words each
    docs = tp.group_paragraphs(paras, max_words=25, min_words=5)
    assert [len(d.split()) for d in docs] == [20, 20, 10]
    long = " ".join(["x"] * 60)
    assert [len(d.split()) for d in tp.group_paragraphs([long], 25, 5)] == [25, 25, 10]
    assert tp.group_paragraphs(["a b c"], 25, 5) == []


def test_doc_kind_choices():
    assert build_corpus.doc_kind("/usr/share/doc/p/README.md") == "doc-md"
    assert build_corpus.doc_kind("/usr/share/doc/p/README.gz") == "doc-text"
    assert build_corpus.doc_kind("/usr/share/doc/p/guide.html") == "doc-html"
    for skipped in ("/usr/share/doc/p/README.Debian", "/usr/share/doc/p/changelog.Debian.gz",
                    "/usr/share/doc/p/copyright", "/usr/share/doc/p/NEWS.gz",
                    "/usr/share/doc/p/examples/README", "/usr/share/doc/p/script.py"):
        assert build_corpus.doc_kind(skipped) is None, skipped


def test_html_paragraphs_drop_code():
    paras = tp.html_paragraphs("<html><head><title>t</title></head><body><p>Some text that "
                               "a person wrote.</p><pre>code()</pre><p>More &amp; more.</p>")
    assert [tp.clean_joined(p) for p in paras] == ["Some text that a person wrote.", ""]
    assert tp.normalise_ws(" ".join(paras[1])) == "More & more."


def test_python_docstrings_parse_not_import():
    src = ('"""Module doc: this module does one thing well."""\n'
           'raise SystemExit("never imported")\n'
           'class A:\n    """Class doc.\n\n    >>> A()\n    """\n'
           '    def f(self):\n        """Method doc."""\n')
    paras = [tp.clean_paragraph(p) for p in tp.python_docstrings(src)]
    assert paras[0] == "Module doc: this module does one thing well."
    assert "Method doc." in paras       # methods of classes are visited too
    assert not tp.paragraph_is_prose("Method doc.")
    assert not any(">>>" in p for p in paras)


# --- package descriptions and the fine-tuning pairs ---------------------------------------------

STATUS = """Package: frob
Status: install ok installed
Source: frob-src (1.0-1)
Description: widget frobnicator
 Frob reads widgets and frobnicates them, one at a time, until
 none are left.
 .
 It is fast.

Package: gone
Status: deinstall ok config-files
Description: removed package
 This package is not installed, so it must not be read at all here.
"""


def test_debdesc_status(tmp_path):
    p = tmp_path / "status"
    p.write_text(STATUS)
    got = list(debdesc.descriptions([str(p)]))
    assert len(got) == 1
    d = got[0]
    assert (d["package"], d["source"], d["short"]) == ("frob", "frob-src", "widget frobnicator")
    assert d["long"] == ("Frob reads widgets and frobnicates them, one at a time, until none "
                         "are left.\nIt is fast.")


def test_debdesc_translation_lookup(tmp_path):
    pk = tmp_path / "x_main_binary-amd64_Packages"
    pk.write_text("Package: a\nDescription: tool for things\nDescription-md5: abc\n\n")
    tr = tmp_path / "x_main_i18n_Translation-en"
    tr.write_text("Package: a\nDescription-md5: abc\nDescription-en: tool for things\n"
                  " The long text of a.\n")
    got = list(debdesc.descriptions([str(pk), str(tr)]))
    assert [(d["short"], d["long"]) for d in got] == [("tool for things", "The long text of a.")]


def test_finetune_rules():
    long = "This program reads many widgets from files and writes them to the output in order."
    assert build_finetune.keep("widget reader", long) is None
    assert build_finetune.keep("widget reader", "Too short to summarize.") is not None
    assert build_finetune.keep("transitional package", long) is not None
    assert build_finetune.keep("reads many widgets", long) is not None   # copied verbatim
    assert build_finetune.keep("x", long) is not None


def test_finetune_split_by_source_is_stable():
    assert build_finetune.split_of("glibc") == build_finetune.split_of("glibc")
    counts = {}
    for i in range(4000):
        s = build_finetune.split_of("pkg%d" % i)
        counts[s] = counts.get(s, 0) + 1
    assert 0.86 < counts["train"] / 4000 < 0.94
    assert counts["dev"] > 100 and counts["test"] > 100


def test_finetune_build_dedup_and_split(tmp_path):
    long = "Frob reads widgets from files and writes them to the output, one at a time."
    st = ""
    for name, src in (("frob", "frob"), ("libfrob1", "frob"), ("frob-copy", "other")):
        st += ("Package: %s\nStatus: install ok installed\nSource: %s\n"
               "Description: frob %s tool\n %s\n\n" % (name, src, name, long))
    p = tmp_path / "status"
    p.write_text(st)
    rows, stats = build_finetune.build([str(p)])
    kept = [r for split in rows.values() for r in split]
    assert len(kept) == 1 and kept[0]["_pkg"] == "frob"
    assert kept[0]["input"] == "summarize: " + long
    assert stats["duplicate long description"] == 2


# --- unigram entropy ----------------------------------------------------------------------------

def test_cross_entropy_add_one():
    v = unigram_entropy.SPM_VOCAB - 2
    train = [0] * unigram_entropy.SPM_VOCAB
    train[5], train[6] = 3, 1
    ev = [0] * unigram_entropy.SPM_VOCAB
    ev[5], ev[7] = 1, 1
    h, n = unigram_entropy.cross_entropy(train, ev, 1.0)
    want = -(math.log(4 / (4 + v)) + math.log(1 / (4 + v))) / 2
    assert n == 2 and abs(h - want) < 1e-12


def test_token_counts_skip_specials(tmp_path):
    fake = tmp_path / "switchc"
    fake.write_text("#!/bin/sh\nwhile read l; do echo '5 1 32099 0 5 2'; done\n")
    fake.chmod(0o755)
    text = tmp_path / "t.txt"
    text.write_text("a\nb\n")
    counts, lines = unigram_entropy.token_counts(str(fake), "unused", str(text), 0)
    assert lines == 2 and counts[5] == 4 and counts[2] == 2 and sum(counts) == 6


# --- manifest check -----------------------------------------------------------------------------

def test_check_reports_missing_and_different(tmp_path, capsys):
    same = tmp_path / "same.1.gz"
    same.write_bytes(gzip.compress(b"hello"))
    changed = tmp_path / "changed.txt"
    changed.write_bytes(b"new")
    man = tmp_path / "MANIFEST.tsv"
    rows = [(same, tp.sha256_hex(same.read_bytes()), same.stat().st_size),
            (changed, tp.sha256_hex(b"old"), 3), (tmp_path / "absent", "0" * 64, 1)]
    man.write_text("# header\n" + "".join("%s\t%s\t%d\tman\ttrain\t1\t1\n" % r for r in rows))
    assert build_corpus.check(str(man)) == 1
    out = capsys.readouterr().out
    assert "missing\t%s" % (tmp_path / "absent") in out
    assert "different\t%s" % changed in out
    assert "1 present and identical, 1 missing, 1 different" in out
    man.write_text("".join("%s\t%s\t%d\tman\ttrain\t1\t1\n" % rows[0]))
    assert build_corpus.check(str(man)) == 0


# --- training-log plot --------------------------------------------------------------------------

def test_read_log_last_line_per_step_wins(tmp_path):
    log = tmp_path / "log.jsonl"
    lines = [{"step": 10, "loss": 5.0, "ce": 4.9}, {"step": 20, "loss": 4.0, "ce": 3.9},
             {"step": 20, "eval_loss": 4.2, "eval_ppl": 66.7},
             {"step": 20, "loss": 3.5, "ce": 3.4}]      # resumed from step 10
    log.write_text("".join(json.dumps(x) + "\n" for x in lines))
    train, ce, evals = plot_training.read_log(str(log))
    assert train == {10: 5.0, 20: 3.5} and ce[20] == 3.4 and evals == {20: 4.2}
    bad = tmp_path / "bad.jsonl"
    bad.write_text("{\"step\": 1, \"loss\": 2}\nnot json\n")
    with pytest.raises(ValueError, match="bad.jsonl:2"):
        plot_training.read_log(str(bad))


def test_plot_says_when_matplotlib_is_missing(tmp_path):
    log = tmp_path / "log.jsonl"
    log.write_text('{"step": 1, "loss": 2.0}\n')
    # A stub package that fails to import stands in for a machine without matplotlib.
    stub = tmp_path / "stub" / "matplotlib"
    stub.mkdir(parents=True)
    (stub / "__init__.py").write_text("raise ImportError('no matplotlib here')\n")
    env = dict(os.environ, PYTHONPATH=str(tmp_path / "stub"))
    r = subprocess.run([sys.executable, os.path.join(SCRIPTS, "plot_training.py"), str(log),
                        "-o", str(tmp_path / "x.png")], env=env, capture_output=True, text=True)
    assert r.returncode == 3
    assert "matplotlib is not installed" in r.stderr
    assert not (tmp_path / "x.png").exists()


# --- the whole build, from a hand-made manifest ---------------------------------------------------

LEAK = ("Frobnicator reads every widget from the spool directory and writes a sorted report "
        "for the operator each night")


def _manifest_row(path, kind):
    raw = open(path, "rb").read()
    return "%s\t%s\t%d\t%s\t-\t0\t0\n" % (path, tp.sha256_hex(raw), len(raw), kind)


def _make_sources(tmp_path):
    import lzma
    ft = tmp_path / "ft.jsonl.xz"
    ft.write_bytes(lzma.compress((json.dumps({"input": "summarize: " + LEAK + ".",
                                              "target": "widget frobnicator"}) + "\n").encode()))
    good = "The tool reads the files that are given to it and writes them to the output."
    a = tmp_path / "a.txt"
    a.write_text(good + "\n\nIn short, " + LEAK.lower() + " as it is told to do.\n\n"
                 "if (x == 1) { y = 2; z = 3; }\n")
    b = tmp_path / "b.txt"
    b.write_text(good + "\n\nA second document is here so that the file has some new text in it.\n")
    c = tmp_path / "c.txt.gz"
    c.write_bytes(gzip.compress(a.read_bytes()))        # same text as a.txt, compressed
    man = tmp_path / "MANIFEST.tsv"
    man.write_text("# test\n" + _manifest_row(ft, "finetune") + "".join(
        _manifest_row(p, "doc-text") for p in (a, b, c)))
    return man, a


def test_build_drops_leaks_code_and_repeats(tmp_path):
    man, _ = _make_sources(tmp_path)
    out = tmp_path / "out"
    assert build_corpus.main(["--from-manifest", "--manifest", str(man), "-o", str(out),
                              "--min-words", "3", "-q"]) == 0
    # which split a document lands in hangs on a hash of its path (tmp_path
    # differs from run to run): compare the documents, not their order
    docs = ((out / "train.txt").read_text() + (out / "heldout.txt").read_text()).splitlines()
    assert sorted(docs) == sorted(["The tool reads the files that are given to it and writes them to the output.",
                                   "A second document is here so that the file has some new text in it."])
    first = (out / "train.txt").read_bytes()
    assert build_corpus.main(["--from-manifest", "--manifest", str(man), "-o", str(out),
                              "--min-words", "3", "-q"]) == 0
    assert (out / "train.txt").read_bytes() == first


def test_build_from_manifest_refuses_changed_file(tmp_path, capsys):
    man, a = _make_sources(tmp_path)
    a.write_text("changed\n")
    assert build_corpus.main(["--from-manifest", "--manifest", str(man), "-o",
                              str(tmp_path / "out"), "-q"]) == 1
    assert "differs from the manifest" in capsys.readouterr().err
