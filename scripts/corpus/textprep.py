"""Shared text preparation for the corpus scripts: reading (possibly compressed) files,
turning man pages (troff), info manuals, HTML and Python docstrings into paragraphs, and the
filters that decide what counts as English prose.

Standard library only, so that Debian's /usr/bin/python3 runs it on a bare machine. It
leaves out full troff semantics (no macro expansion, no conditional evaluation, no tbl/eqn):
the aim is clean prose for a language model, not a faithful rendering, and a stripper of our
own gives the same text for the same input file whatever groff version a machine has.
"""

import gzip
import hashlib
import html.parser
import lzma
import re
import bz2

# ---------------------------------------------------------------------------------------------
# files


def read_bytes(path):
    """The file's bytes, decompressed when the name says .gz / .xz / .bz2."""
    with open(path, "rb") as f:
        raw = f.read()
    return raw, decompress(path, raw)


def decompress(path, raw):
    if path.endswith(".gz"):
        return gzip.decompress(raw)
    if path.endswith(".xz") or path.endswith(".lzma"):
        return lzma.decompress(raw)
    if path.endswith(".bz2"):
        return bz2.decompress(raw)
    return raw


def sha256_hex(data):
    return hashlib.sha256(data).hexdigest()


def decode_text(data):
    """UTF-8 text, Latin-1 as a fallback (older man pages); None for binary data."""
    if b"\0" in data[:65536]:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def stable_hash(s):
    """A hash of a string that does not depend on PYTHONHASHSEED (used for the splits)."""
    return int.from_bytes(hashlib.sha256(s.encode("utf-8")).digest()[:8], "big")


# ---------------------------------------------------------------------------------------------
# prose filters

_STOPWORDS = frozenset("""
a about above after all also an and any are as at be because been before being between both
but by can could do does each for from had has have how if in into is it its may more most
must no not of on one only or other same should so some such than that the their them then
there these they this those to under use used using was we were what when where which while
who will with would you your
""".split())

_WORD_RE = re.compile(r"[A-Za-z][A-Za-z'-]*")


def normalise_ws(s):
    return " ".join(s.split())


def line_is_text(line, min_words=3):
    """False for lines that are mostly symbols, numbers or code (tables, examples, rules), or
    that have fewer than min_words words."""
    s = line.strip()
    if not s:
        return False
    letters = sum(c.isalpha() for c in s)
    spaces = s.count(" ")
    if letters + spaces < 0.75 * len(s):
        return False
    words = _WORD_RE.findall(s)
    if len(words) < min_words:
        return False
    # Code: statement punctuation, assignments, calls.
    code_marks = sum(s.count(c) for c in "{};=<>$|\\[]")
    if code_marks > 2 and code_marks * 12 > len(s):
        return False
    if s.startswith((">>>", "...", "$ ", "# ", "#include", "//", "/*")):
        return False
    return True


def paragraph_is_prose(text, min_words=8):
    """English prose: enough words, and common English function words among them."""
    words = _WORD_RE.findall(text)
    if len(words) < min_words:
        return False
    stop = sum(1 for w in words if w.lower() in _STOPWORDS)
    if stop < 0.12 * len(words):
        return False
    non_ascii = sum(1 for c in text if ord(c) > 127)
    return non_ascii <= 0.02 * len(text)


def clean_paragraph(lines):
    """Keep the text lines of a paragraph, joined with normalised whitespace. A short line is
    kept (it may end a sentence); a paragraph made of short lines fails paragraph_is_prose."""
    kept = [l for l in lines if line_is_text(l, min_words=1)]
    return normalise_ws(" ".join(kept))


def clean_joined(lines):
    """A paragraph whose source lines are not visual lines (troff puts one word per macro
    line): joined first, then kept only if the whole reads as text."""
    s = normalise_ws(" ".join(lines))
    return s if line_is_text(s) else ""


def split_blank_paragraphs(text):
    """Paragraphs of a plain text file: runs of non-blank lines."""
    paras, cur = [], []
    for line in text.splitlines():
        if line.strip():
            cur.append(line)
        elif cur:
            paras.append(cur)
            cur = []
    if cur:
        paras.append(cur)
    return paras


# ---------------------------------------------------------------------------------------------
# troff (man(7), and a rough pass over mdoc(7))

# Named characters \(xx and \[name] that matter for prose; the rest become nothing.
_NAMED = {
    "em": "-", "en": "-", "hy": "-", "mi": "-", "lq": '"', "rq": '"', "oq": "'", "cq": "'",
    "aq": "'", "dq": '"', "bu": "*", "co": "(C)", "rg": "(R)", "tm": "(TM)", "ga": "`",
    "aa": "'", "ti": "~", "ha": "^", "rs": "\\", "ba": "|", "or": "|", "lh": "", "rh": "",
    "Fo": "<<", "Fc": ">>", "fo": "<", "fc": ">", "sq": "'", "ua": "^", "da": "v", "->": "->",
    "<-": "<-", "ul": "_", "bv": "|", "at": "@", "sh": "#", "Do": "$", "dg": "+", "de": "deg",
    "char46": ".", "char39": "'", "char96": "`", "char92": "\\",
}

_ESC_RE = re.compile(
    r"\\(?:"
    r"f(?:\[[^\]]*\]|\(..|.)"          # font changes
    r"|s[-+]?(?:\(..|\[[^\]]*\]|\d{1,2})"   # size
    r"|\*(?:\[[^\]]*\]|\(..|.)"        # strings
    r"|\((..)"                          # named char, group 1
    r"|\[([^\]]*)\]"                    # named char, group 2
    r"|[kgnmzYVF](?:\[[^\]]*\]|\(..|.)"
    r"|[hvwlLxXoSbDRHN]'[^']*'"         # motions and other quoted-argument escapes
    r"|\"[^\n]*"                        # comment to end of line
    r"|#[^\n]*"
    r"|(.)"                             # any other single-character escape, group 3
    r")")

_SIMPLE = {"-": "-", "e": "\\", "\\": "\\", "&": "", ")": "", "/": "", ",": "", "|": "", "^": "",
           "%": "", "c": "", "0": " ", " ": " ", "~": " ", "t": " ", "'": "'", "`": "`", ".": ".",
           "!": "", ":": "", "d": "", "u": "", "r": "", "p": "", "{": "", "}": "", "a": ""}


def _esc_sub(m):
    name = m.group(1) or m.group(2)
    if name is not None:
        return _NAMED.get(name, "")
    c = m.group(3)
    if c is not None:
        return _SIMPLE.get(c, "")
    return ""


def troff_inline(s):
    return _ESC_RE.sub(_esc_sub, s)


def _macro_args(rest):
    """Split a macro's arguments as troff does: spaces separate, double quotes group."""
    out, cur, inq, i = [], [], False, 0
    while i < len(rest):
        c = rest[i]
        if c == '"':
            if inq and i + 1 < len(rest) and rest[i + 1] == '"':
                cur.append('"')
                i += 2
                continue
            inq = not inq
        elif c in " \t" and not inq:
            if cur:
                out.append("".join(cur))
                cur = []
        else:
            cur.append(c)
        i += 1
    if cur:
        out.append("".join(cur))
    return out


# Font macros: their arguments are running text (alternating fonts join without spaces).
_ALT_FONT = {"BR", "RB", "BI", "IB", "IR", "RI"}
_FONT = {"B", "I", "SM", "SB", "R", "CW", "UR", "MT"}
# mdoc macros whose arguments are prose-like; the callable sub-macros in them are dropped.
_MDOC_TEXT = {"Nm", "Nd", "Ar", "Fl", "Cm", "Em", "Sy", "Pa", "Xr", "Dq", "Qq", "Sq", "Pq", "Op",
              "Va", "Ev", "Li", "Ql", "Dv", "Er", "Fn", "Fa", "Ic", "Ad", "Tn", "Ux", "At", "Bx",
              "Aq", "Ms", "Lk", "Mt", "Xo", "Xc", "It", "St", "Lb", "No", "Ns", "Ta", "Brq", "Bq"}
_MDOC_CALLABLE = _MDOC_TEXT | {"Oo", "Oc", "Po", "Pc", "Qo", "Qc", "Do", "Dc", "So", "Sc",
                               "Bro", "Brc", "Ao", "Ac", "Eo", "Ec"}
# Requests/macros that end a paragraph.
_BREAK = {"PP", "LP", "P", "SH", "SS", "TP", "IP", "HP", "sp", "br", "Pp", "Sh", "Ss", "Bl",
          "El", "Bd", "Ed", "It", "TQ", "RS", "RE", "Lp", "bp", "in", "ti", "TH", "Dd", "Dt",
          "Os", "ne", "Sx"}
_SKIP_BLOCKS = {"TS": "TE", "EQ": "EN", "PS": "PE", "nf": "fi", "EX": "EE", "Bd": "Ed",
                "de": "..", "de1": "..", "am": "..", "ig": ".."}


def man_paragraphs(text):
    """Paragraphs of prose from a man page source. Headings become their own short
    paragraphs (later dropped by the prose filter unless they read as text); tables,
    no-fill (example) blocks, macro definitions and conditionals are skipped."""
    paras, cur = [], []
    skip_until = None
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        i += 1
        # Continuation lines ending in a backslash.
        while line.endswith("\\") and not line.endswith("\\\\") and i < len(lines):
            line = line[:-1] + lines[i]
            i += 1
        if skip_until is not None:
            s = line.strip()
            if skip_until == ".." and s.startswith(".."):
                skip_until = None
            elif s[:1] in ".'" and s[1:].strip().split(" ")[0:1] == [skip_until]:
                skip_until = None
            continue
        if line[:1] in ".'":
            body = line[1:].strip()
            if not body or body.startswith('\\"') or body.startswith("\\#"):
                continue
            parts = body.split(None, 1)
            name = parts[0]
            rest = parts[1] if len(parts) > 1 else ""
            if name == "Bd" and "-literal" not in rest and "-unfilled" not in rest:
                # mdoc display of filled text: keep, as a paragraph break.
                if cur:
                    paras.append(cur)
                    cur = []
                continue
            if name in _SKIP_BLOCKS:
                skip_until = _SKIP_BLOCKS[name]
                if cur:
                    paras.append(cur)
                    cur = []
                continue
            if name in ("if", "ie", "el", "ds", "nr", "so", "mso", "tr", "ft", "ps", "vs",
                        "ll", "na", "ad", "hy", "nh", "ta", "ev", "rr", "rm", "as", "ch", "wh",
                        "cs", "ss", "lf", "pl", "po", "fam", "cc", "c2", "eo", "ec", "hw", "lt",
                        "pc", "tm", "ab", "ex", "do", "ne", "ns", "rs", "mk", "rt", "ul", "cu",
                        "fp", "pm", "defcolor", "color", "warn", "Dt", "Os", "Dd", "TH", "UC",
                        "AT", "PD", "DT", "Bl", "El", "Ed", "Sx", "Rs", "Re", "%A", "%T",
                        "%B", "%J", "%N", "%V", "%D", "%P", "%O", "%I", "%C", "%Q", "%R",
                        "%U", "An", "In", "Fd", "Ft", "Fo", "Fc", "Vt", "Ot", "Cd", "Bf",
                        "Ef", "Db", "Sm", "Ud", "Rv", "Ex", "Hf", "Ud", "ME", "UE", "OP",
                        "SY", "YS", "Ee", "Ve", "Vb", "IX", "Ip", "Sp", "Vs", "Xe"):
                if name == "if" or name == "ie":
                    # A conditional opening a multi-line block: skip the whole block.
                    if "\\{" in rest:
                        depth = rest.count("\\{") - rest.count("\\}")
                        while depth > 0 and i < len(lines):
                            depth += lines[i].count("\\{") - lines[i].count("\\}")
                            i += 1
                if name == "Vb":  # pod2man verbatim block
                    skip_until = "Ve"
                if name in _BREAK and cur:
                    paras.append(cur)
                    cur = []
                continue
            if name in _BREAK:
                if cur:
                    paras.append(cur)
                    cur = []
                if name in ("SH", "SS", "Sh", "Ss") and rest:
                    # Headings stand alone; their argument is not part of the paragraph.
                    continue
                if name == "It" and rest:
                    cur.append(" ".join(a for a in _macro_args(troff_inline(rest))
                                        if a not in _MDOC_CALLABLE))
                elif name in ("IP", "TP", "HP") and rest:
                    pass  # tag/indent argument: usually a bullet or a number
                continue
            if name in _FONT:
                cur.append(" ".join(_macro_args(troff_inline(rest))))
                continue
            if name in _ALT_FONT:
                cur.append("".join(_macro_args(troff_inline(rest))))
                continue
            if name in _MDOC_TEXT:
                args = [a for a in _macro_args(troff_inline(rest)) if a not in _MDOC_CALLABLE]
                if name == "Fl":
                    args = ["-" + a if not a.startswith("-") and a.isalnum() else a for a in args]
                cur.append(" ".join(args))
                continue
            # Unknown request: dropped.
            continue
        cur.append(troff_inline(line))
    if cur:
        paras.append(cur)
    return paras


# ---------------------------------------------------------------------------------------------
# GNU info

_INFO_NODE_RE = re.compile(r"^File: [^,]*,\s*Node: ([^,\n]*)")
_INFO_MENU_RE = re.compile(r"^\* Menu:")


def info_nodes(text):
    """(node name, paragraphs) for each node of an info file. Menus, the tag table and
    indirect tables are dropped; example blocks (indented by 5+ spaces in makeinfo's output)
    are dropped by the prose filters."""
    nodes = []
    for chunk in text.split("\x1f"):
        chunk = chunk.lstrip("\n")
        m = _INFO_NODE_RE.match(chunk)
        if not m:
            continue
        name = m.group(1).strip()
        body = chunk.split("\n", 1)[1] if "\n" in chunk else ""
        lines = []
        in_menu = False
        for line in body.splitlines():
            if _INFO_MENU_RE.match(line):
                in_menu = True
                continue
            if in_menu:
                if line.startswith("* ") or line.startswith("   ") or not line.strip():
                    continue
                in_menu = False
            # makeinfo indents examples, but also the bodies of tables and lists, by 5 spaces:
            # a paragraph break either way, and clean_paragraph's line filter drops the code.
            if line.startswith("     ") != (lines[-1:] != [] and lines[-1].startswith("     ")):
                lines.append("")
            # Underlines of section titles.
            if line.strip() and set(line.strip()) <= set("=-*."):
                lines.append("")
                continue
            lines.append(line)
        nodes.append((name, split_blank_paragraphs("\n".join(lines))))
    return nodes


# ---------------------------------------------------------------------------------------------
# HTML


class _HTMLText(html.parser.HTMLParser):
    _SKIP = {"script", "style", "pre", "code", "head", "nav", "table", "samp", "kbd", "tt"}
    _BLOCK = {"p", "div", "br", "li", "h1", "h2", "h3", "h4", "h5", "h6", "dt", "dd", "tr",
              "blockquote", "section", "ul", "ol", "dl", "hr", "title", "body", "td", "th"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.depth = 0
        self.out = []

    def handle_starttag(self, tag, attrs):
        if tag in self._SKIP:
            self.depth += 1
        if tag in self._BLOCK:
            self.out.append("\n\n")

    def handle_endtag(self, tag):
        if tag in self._SKIP and self.depth > 0:
            self.depth -= 1
        if tag in self._BLOCK:
            self.out.append("\n\n")

    def handle_data(self, data):
        if self.depth == 0:
            self.out.append(data.replace("\n", " "))


def html_paragraphs(text):
    p = _HTMLText()
    try:
        p.feed(text)
        p.close()
    except Exception:  # malformed HTML: whatever was collected so far
        pass
    return split_blank_paragraphs("".join(p.out))


# ---------------------------------------------------------------------------------------------
# Markdown / reStructuredText / plain text


def plain_paragraphs(text, markup=False):
    """Paragraphs of a plain, Markdown or reST file. Fenced and indented code blocks and
    reST directives are dropped; markup characters are stripped from prose lines."""
    out_lines = []
    fence = False
    for line in text.splitlines():
        s = line.strip()
        if s.startswith("```") or s.startswith("~~~"):
            fence = not fence
            out_lines.append("")
            continue
        if fence:
            continue
        if markup:
            if line.startswith("    ") or line.startswith("\t"):
                out_lines.append("")
                continue
            if s.startswith(".. ") or s.startswith("|") or s.startswith("<"):
                out_lines.append("")
                continue
            s = re.sub(r"!\[[^\]]*\]\([^)]*\)", "", s)          # images
            s = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", s)      # links keep their text
            s = re.sub(r"`+([^`]*)`+(_+)?", r"\1", s)
            s = re.sub(r"(\*\*|__|\*)", "", s)
            s = re.sub(r"^#+\s*", "", s)
            s = re.sub(r"^[-*+]\s+", "", s)
            s = re.sub(r":[a-z]+:", "", s)
            if s and set(s) <= set("=-~^*#+`'\".:_"):
                out_lines.append("")
                continue
            out_lines.append(s)
        else:
            if s and set(s) <= set("=-~^*#+_."):
                out_lines.append("")
                continue
            out_lines.append(line)
    return split_blank_paragraphs("\n".join(out_lines))


# ---------------------------------------------------------------------------------------------
# Python docstrings


def python_docstrings(source):
    """Docstrings of a Python module, its classes and functions, in source order, each split
    into paragraphs. The module is parsed, never imported."""
    import ast
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError):
        return []
    paras = []
    nodes = [tree]
    while nodes:
        node = nodes.pop(0)
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            doc = ast.get_docstring(node, clean=True)
            if doc:
                paras.extend(plain_paragraphs(doc, markup=True))
            nodes.extend(n for n in ast.iter_child_nodes(node)
                         if isinstance(n, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)))
    return paras


# ---------------------------------------------------------------------------------------------
# documents


def group_paragraphs(paras, max_words, min_words):
    """Greedy groups of consecutive paragraphs of up to max_words words; a paragraph longer
    than that is cut at word boundaries. Groups under min_words are dropped."""
    docs, cur, n = [], [], 0
    for p in paras:
        words = p.split()
        while len(words) > max_words:
            if cur:
                docs.append(cur)
                cur, n = [], 0
            docs.append([" ".join(words[:max_words])])
            words = words[max_words:]
        if not words:
            continue
        if n + len(words) > max_words and cur:
            docs.append(cur)
            cur, n = [], 0
        cur.append(" ".join(words))
        n += len(words)
    if cur:
        docs.append(cur)
    return [" ".join(d) for d in docs if sum(len(x.split()) for x in d) >= min_words]


def ngram_hashes(text, n):
    """Hashes of the lower-cased word n-grams of text (for decontamination). Python's str
    hash changes between runs, but only membership within one run is asked, and a 64-bit
    collision among a few million n-grams is too unlikely to change a corpus."""
    words = [w.lower() for w in _WORD_RE.findall(text)]
    out = set()
    for i in range(len(words) - n + 1):
        out.add(hash(" ".join(words[i:i + n])))
    return out
