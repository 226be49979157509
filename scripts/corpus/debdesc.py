"""Debian package descriptions from the dpkg status database and apt's package lists.

A description has a short line ("Description: short") and a long text (the continuation
lines, " ." for an empty line). /var/lib/dpkg/status carries both for installed packages;
apt's Packages lists carry only the short line and a Description-md5, with the long text in
the i18n Translation-en lists (fetched by `apt-get update -o Acquire::Languages=en`), keyed by
that md5. Lists compressed with lz4 or zstd are read through apt's own helper, since Python's
standard library has no lz4. Leaves out every other field and any non-English translation.
"""

import glob
import os
import subprocess

from textprep import decompress, sha256_hex

STATUS = "/var/lib/dpkg/status"
LISTS = "/var/lib/apt/lists"
APT_HELPER = "/usr/lib/apt/apt-helper"


def read_list(path):
    """(raw bytes, decompressed text) of a status file or an apt list."""
    with open(path, "rb") as f:
        raw = f.read()
    if path.endswith((".lz4", ".zst")):
        data = subprocess.run([APT_HELPER, "cat-file", path], check=True,
                              stdout=subprocess.PIPE).stdout
    else:
        data = decompress(path, raw)
    return raw, data.decode("utf-8", "replace")


def stanzas(text):
    """deb822 paragraphs as dicts; a field's continuation lines are kept, newline-joined."""
    cur, key = {}, None
    for line in text.split("\n"):
        if not line.strip():
            if cur:
                yield cur
            cur, key = {}, None
            continue
        if line[0] in " \t" and key is not None:
            cur[key] += "\n" + line
            continue
        if ":" in line:
            key, _, value = line.partition(":")
            key = key.strip()
            cur[key] = value.strip()
    if cur:
        yield cur


def long_text(continuation_lines):
    """The long description as paragraphs of plain text: " ." separates paragraphs; lines
    indented by two or more spaces are verbatim (lists, examples) and kept as lines."""
    paras, cur = [], []
    for line in continuation_lines:
        body = line[1:] if line.startswith(" ") else line
        if body.strip() == ".":
            if cur:
                paras.append(" ".join(cur))
            cur = []
            continue
        cur.append(body.strip())
    if cur:
        paras.append(" ".join(cur))
    return "\n".join(" ".join(p.split()) for p in paras if p.strip())


def split_description(value):
    lines = value.split("\n")
    return lines[0].strip(), long_text(lines[1:])


def source_files():
    """The files read, in a fixed order: the status database, then apt's Packages and
    Translation-en lists."""
    files = []
    if os.path.exists(STATUS):
        files.append(STATUS)
    files += sorted(glob.glob(os.path.join(LISTS, "*_Packages*")))
    files += sorted(glob.glob(os.path.join(LISTS, "*_i18n_Translation-en*")))
    return files


def descriptions(files):
    """Yields dicts {package, source, short, long, origin} for every package with both a
    short and a long description. A package's own long text (status) wins over the
    translation list's."""
    translations = {}
    packages = []
    for path in files:
        _, text = read_list(path)
        if "_i18n_Translation-" in path:
            for st in stanzas(text):
                md5 = st.get("Description-md5")
                desc = st.get("Description-en")
                if md5 and desc:
                    translations[md5] = desc
            continue
        for st in stanzas(text):
            if "Package" not in st or "Description" not in st:
                continue
            # dpkg's Status is "want flag state": only state "installed" is on the machine.
            if "Status" in st and st["Status"].split()[-1:] != ["installed"]:
                continue
            packages.append((path, st))
    for path, st in packages:
        short, long = split_description(st["Description"])
        if not long and st.get("Description-md5") in translations:
            tshort, long = split_description(translations[st["Description-md5"]])
            short = short or tshort
        if not short or not long:
            continue
        source = st.get("Source", st["Package"]).split(" ")[0]
        yield {"package": st["Package"], "source": source, "short": short, "long": long,
               "origin": os.path.basename(path)}


def file_digest(path):
    with open(path, "rb") as f:
        raw = f.read()
    return sha256_hex(raw), len(raw)
