/* sc_model_path_resolve: a path that exists, else a Hugging Face repo id
 * looked up in the local hub cache the way huggingface_hub lays it out and
 * transformers reads it offline:
 *   <cache>/models--ORG--NAME/refs/<revision>      holds a commit hash
 *   <cache>/models--ORG--NAME/snapshots/<hash>/    the files (symlinks into blobs/)
 * where <cache> is $HF_HUB_CACHE, else $HUGGINGFACE_HUB_CACHE (its older
 * name), else $HF_HOME/hub, else $XDG_CACHE_HOME/huggingface/hub, else
 * ~/.cache/huggingface/hub. Names, revisions and refs files are untrusted:
 * each is checked before it becomes part of a path, and the snapshot found
 * must lie inside the repo's snapshots/ directory. Leaves out downloading,
 * other repo types (datasets, spaces) and the hub's .no_exist markers. */
#define _GNU_SOURCE
#include "io/hf_cache.h"
#include "core/error.h"
#include "core/mapfile.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* A refs file holds 40 hex digits and maybe a newline; anything much larger
 * is not a ref. */
#define REF_MAX_BYTES 1024

/* A fresh formatted string, NULL on overflow or OOM. */
SC_PRINTF(1, 2)
static char *str_fmt(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) return NULL;
    char *s = malloc((size_t)n + 1);
    if (!s) return NULL;
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return s;
}

static bool word_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

sc_status sc_hf_check_repo_id(const char *id, sc_error *err) {
    if (!id) return sc_fail(err, SC_ERR_INVALID_ARG, SC_NO_OFFSET, "repo id: NULL");
    size_t n = strlen(id);
    if (n == 0) return sc_fail(err, SC_ERR_INVALID_ARG, SC_NO_OFFSET, "empty model name");
    if (n > SC_HF_REPO_ID_MAX)
        return sc_fail(err, SC_ERR_INVALID_ARG, SC_NO_OFFSET,
                       "'%.100s...' is not a Hugging Face repo id: longer than %d characters", id,
                       SC_HF_REPO_ID_MAX);
    if (id[0] == '/')
        return sc_fail(err, SC_ERR_INVALID_ARG, SC_NO_OFFSET, "'%s' is not a Hugging Face repo id: it is absolute",
                       id);
    if (strstr(id, "--") || strstr(id, ".."))
        return sc_fail(err, SC_ERR_INVALID_ARG, SC_NO_OFFSET,
                       "'%s' is not a Hugging Face repo id: it contains \"--\" or \"..\"", id);
    int parts = 1;
    size_t start = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i < n && id[i] != '/') {
            char c = id[i];
            if (!word_char(c) && c != '-' && c != '.')
                return sc_fail(err, SC_ERR_INVALID_ARG, SC_NO_OFFSET,
                               "'%s' is not a Hugging Face repo id: character '%c' (0x%02x) is not allowed "
                               "(letters, digits, '-', '_', '.')",
                               id, c >= 0x20 && c < 0x7f ? c : '?', (unsigned char)c);
            continue;
        }
        if (i == start)
            return sc_fail(err, SC_ERR_INVALID_ARG, SC_NO_OFFSET,
                           "'%s' is not a Hugging Face repo id: an empty part (ORG/NAME)", id);
        if (!word_char(id[start]) || !word_char(id[i - 1]))
            return sc_fail(err, SC_ERR_INVALID_ARG, SC_NO_OFFSET,
                           "'%s' is not a Hugging Face repo id: a part starts or ends with '-' or '.'", id);
        if (i < n && ++parts > 2)
            return sc_fail(err, SC_ERR_INVALID_ARG, SC_NO_OFFSET,
                           "'%s' is not a Hugging Face repo id: ORG/NAME has one '/'", id);
        start = i + 1;
    }
    return SC_OK;
}

sc_status sc_hf_check_revision(const char *rev, sc_error *err) {
    if (!rev) return sc_fail(err, SC_ERR_INVALID_ARG, SC_NO_OFFSET, "revision: NULL");
    size_t n = strlen(rev);
    if (n == 0) return sc_fail(err, SC_ERR_INVALID_ARG, SC_NO_OFFSET, "empty revision");
    if (n > SC_HF_REVISION_MAX)
        return sc_fail(err, SC_ERR_INVALID_ARG, SC_NO_OFFSET, "revision '%.60s...' is longer than %d characters",
                       rev, SC_HF_REVISION_MAX);
    size_t start = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i < n && rev[i] != '/') {
            unsigned char c = (unsigned char)rev[i];
            if (c <= 0x20 || c >= 0x7f || c == '\\')
                return sc_fail(err, SC_ERR_INVALID_ARG, SC_NO_OFFSET,
                               "revision '%s': byte 0x%02x at %zu is not allowed in a branch, tag or commit", rev,
                               c, i);
            continue;
        }
        size_t k = i - start;
        if (k == 0 || (k == 1 && rev[start] == '.') || (k == 2 && rev[start] == '.' && rev[start + 1] == '.'))
            return sc_fail(err, SC_ERR_INVALID_ARG, SC_NO_OFFSET,
                           "revision '%s': empty, '.' or '..' path parts are not allowed", rev);
        start = i + 1;
    }
    return SC_OK;
}

bool sc_hf_is_commit_hash(const char *s) {
    if (!s) return false;
    for (int i = 0; i < 40; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) return false;
    return s[40] == '\0';
}

sc_status sc_hf_parse_ref(const char *path, const char *data, size_t len, char hash[41], sc_error *err) {
    if (!path) path = "<ref>";
    if (!data && len) return sc_fail(err, SC_ERR_INVALID_ARG, SC_NO_OFFSET, "%s: NULL data", path);
    /* huggingface_hub writes the bare hash; a trailing newline (an edit by
     * hand) is tolerated, nothing else. */
    size_t n = len;
    while (n > 0 && (data[n - 1] == '\n' || data[n - 1] == '\r')) n--;
    char buf[41];
    bool ok = n == 40;
    if (ok) {
        memcpy(buf, data, 40);
        buf[40] = '\0';
        ok = sc_hf_is_commit_hash(buf);
    }
    if (!ok)
        return sc_fail(err, SC_ERR_FORMAT, 0,
                       "%s does not hold a commit hash (40 lowercase hex digits); the cache entry is damaged",
                       path);
    memcpy(hash, buf, 41);
    return SC_OK;
}

/* The hub cache directory and the variable it came from (for messages). */
static char *cache_root(const char **from) {
    const char *v = getenv("HF_HUB_CACHE");
    if (v && *v) {
        *from = "$HF_HUB_CACHE";
        return strdup(v);
    }
    v = getenv("HUGGINGFACE_HUB_CACHE");
    if (v && *v) {
        *from = "$HUGGINGFACE_HUB_CACHE";
        return strdup(v);
    }
    v = getenv("HF_HOME");
    if (v && *v) {
        *from = "$HF_HOME/hub";
        return str_fmt("%s/hub", v);
    }
    v = getenv("XDG_CACHE_HOME");
    if (v && *v) {
        *from = "$XDG_CACHE_HOME/huggingface/hub";
        return str_fmt("%s/huggingface/hub", v);
    }
    v = getenv("HOME");
    if (v && *v) {
        *from = "$HOME/.cache/huggingface/hub";
        return str_fmt("%s/.cache/huggingface/hub", v);
    }
    *from = NULL;
    return NULL;
}

/* Copies the answer out: buf[0..cap) gets path and a NUL. */
static sc_status give(const char *path, char *buf, size_t cap, size_t *len_out, sc_error *err) {
    size_t n = strlen(path);
    if (len_out) *len_out = n;
    if (!buf || cap <= n)
        return sc_fail(err, SC_ERR_BUFFER_TOO_SMALL, SC_NO_OFFSET,
                       "model path: %zu bytes needed (with the NUL), the buffer holds %zu", n + 1, buf ? cap : 0);
    memcpy(buf, path, n + 1);
    return SC_OK;
}

/* True when dir (after symlinks) lies inside parent (after symlinks). */
static bool inside(const char *dir, const char *parent) {
    char *a = realpath(dir, NULL), *b = realpath(parent, NULL);
    bool ok = a && b;
    if (ok) {
        size_t k = strlen(b);
        ok = strncmp(a, b, k) == 0 && a[k] == '/' && a[k + 1] != '\0';
    }
    free(a);
    free(b);
    return ok;
}

sc_status sc_model_path_resolve(const char *name_or_path, const char *revision, char *buf, size_t cap,
                                size_t *len_out, sc_error *err) {
    if (!name_or_path)
        return sc_fail(err, SC_ERR_INVALID_ARG, SC_NO_OFFSET, "sc_model_path_resolve: NULL name");
    struct stat st;
    if (name_or_path[0] && stat(name_or_path, &st) == 0) return give(name_or_path, buf, cap, len_out, err);
    sc_status s = sc_hf_check_repo_id(name_or_path, err);
    if (s) {
        /* What reads as a path ("./x", "/x", "a/b/c", "x/") is a missing path;
         * anything else was meant as a repo id and is told why it is not. */
        const char *slash = strchr(name_or_path, '/');
        bool path_like = name_or_path[0] == '/' || name_or_path[0] == '.' || name_or_path[0] == '~' ||
                         (slash && (strchr(slash + 1, '/') || slash[1] == '\0'));
        if (path_like)
            return sc_fail(err, SC_ERR_MISSING, SC_NO_OFFSET, "%s: no such file or directory", name_or_path);
        sc_error_prefix(err, "'%.200s' is not a file or directory here", name_or_path);
        return s;
    }
    const char *rev = revision && *revision ? revision : "main";
    if ((s = sc_hf_check_revision(rev, err))) return s;

    const char *from = NULL;
    char *root = cache_root(&from), *repo = NULL, *snaps = NULL, *ref = NULL, *snap = NULL, *text = NULL;
    if (!root) {
        if (!from)
            return sc_fail(err, SC_ERR_MISSING, SC_NO_OFFSET,
                           "'%s' is not a file or directory, and no Hugging Face cache to look in (none of "
                           "HF_HUB_CACHE, HUGGINGFACE_HUB_CACHE, HF_HOME, XDG_CACHE_HOME, HOME is set); "
                           "switchc does not download models",
                           name_or_path);
        return sc_fail(err, SC_ERR_NOMEM, SC_NO_OFFSET, "out of memory");
    }
    /* The cache spells ORG/NAME as models--ORG--NAME. */
    char folder[SC_HF_REPO_ID_MAX + 16 + 8];
    size_t k = (size_t)snprintf(folder, sizeof folder, "models--");
    for (const char *p = name_or_path; *p; p++) {
        if (*p == '/') {
            folder[k++] = '-';
            folder[k++] = '-';
        } else {
            folder[k++] = *p;
        }
    }
    folder[k] = '\0';
    repo = str_fmt("%s/%s", root, folder);
    snaps = repo ? str_fmt("%s/snapshots", repo) : NULL;
    if (!snaps) {
        s = sc_fail(err, SC_ERR_NOMEM, SC_NO_OFFSET, "out of memory");
        goto done;
    }
    char advice[200];
    snprintf(advice, sizeof advice,
             "switchc does not download models: fetch it first (`huggingface-cli download %s`) or give its "
             "directory",
             name_or_path);
    if (!sc_path_is_dir(repo)) {
        s = sc_fail(err, SC_ERR_MISSING, SC_NO_OFFSET,
                    "'%s' is not a file or directory here, nor in the Hugging Face cache: looked for ./%s and for "
                    "%s (the cache is %s); %s",
                    name_or_path, name_or_path, repo, from, advice);
        goto done;
    }
    /* A commit hash names its snapshot directly. */
    if (sc_hf_is_commit_hash(rev)) {
        snap = str_fmt("%s/%s", snaps, rev);
        if (!snap) {
            s = sc_fail(err, SC_ERR_NOMEM, SC_NO_OFFSET, "out of memory");
            goto done;
        }
        if (sc_path_is_dir(snap)) goto found;
        free(snap);
        snap = NULL;
    }
    ref = str_fmt("%s/refs/%s", repo, rev);
    if (!ref) {
        s = sc_fail(err, SC_ERR_NOMEM, SC_NO_OFFSET, "out of memory");
        goto done;
    }
    if (stat(ref, &st) != 0 || !S_ISREG(st.st_mode)) {
        if (sc_hf_is_commit_hash(rev))
            s = sc_fail(err, SC_ERR_MISSING, SC_NO_OFFSET,
                        "the Hugging Face cache has no revision '%s' of '%s': looked for %s/%s and %s; %s", rev,
                        name_or_path, snaps, rev, ref, advice);
        else
            s = sc_fail(err, SC_ERR_MISSING, SC_NO_OFFSET,
                        "the Hugging Face cache has no revision '%s' of '%s': looked for %s; %s", rev,
                        name_or_path, ref, advice);
        goto done;
    }
    if ((unsigned long long)st.st_size > REF_MAX_BYTES) {
        s = sc_fail(err, SC_ERR_FORMAT, SC_NO_OFFSET,
                    "%s is %lld bytes: a ref holds one commit hash; the cache entry is damaged", ref,
                    (long long)st.st_size);
        goto done;
    }
    size_t len = 0;
    char hash[41];
    if ((s = sc_file_read(ref, REF_MAX_BYTES, &text, &len, err)) ||
        (s = sc_hf_parse_ref(ref, text, len, hash, err)))
        goto done;
    snap = str_fmt("%s/%s", snaps, hash);
    if (!snap) {
        s = sc_fail(err, SC_ERR_NOMEM, SC_NO_OFFSET, "out of memory");
        goto done;
    }
    if (!sc_path_is_dir(snap)) {
        s = sc_fail(err, SC_ERR_MISSING, SC_NO_OFFSET,
                    "%s names commit %s, but %s does not exist (an interrupted download?); %s", ref, hash, snap,
                    advice);
        goto done;
    }
found:
    if (!inside(snap, snaps)) {
        s = sc_fail(err, SC_ERR_FORMAT, SC_NO_OFFSET, "%s leads outside %s: refusing it", snap, snaps);
        goto done;
    }
    s = give(snap, buf, cap, len_out, err);
done:
    free(text);
    free(snap);
    free(ref);
    free(snaps);
    free(repo);
    free(root);
    return s;
}
