/* See cli_files.h. */
#include "cli_files.h"
#include "switchc.h"
#include "util/path.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

bool cli_output_check(const char *cmd, const char *out, const char *in_place, bool force) {
    sc_error err;
    if (sc_output_dir_check(out, in_place, force, &err) == SC_OK) return true;
    fprintf(stderr, "switchc %s: %s\n", cmd, err.msg);
    return false;
}

bool cli_parse_size(const char *s, size_t *out) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || v <= 0) return false;
    double mul = 1;
    if (*end == 'K' || *end == 'k') mul = 1e3, end++;
    else if (*end == 'M' || *end == 'm') mul = 1e6, end++;
    else if (*end == 'G' || *end == 'g') mul = 1e9, end++;
    if (*end == 'B' || *end == 'b') end++;
    if (*end || v * mul > 1e18) return false;
    *out = (size_t)(v * mul);
    return true;
}

bool cli_shard_size_arg(const char *cmd, const char *v, void *field) {
    if (v && cli_parse_size(v, field)) return true;
    fprintf(stderr, "switchc %s: --shard-size takes a size like 5G, 500M\n", cmd);
    return false;
}

void cli_progress(void *ctx, size_t done, size_t total) {
    static int last = -1;
    if (!isatty(2)) return;
    int pct = total ? (int)(100.0 * (double)done / (double)total) : 100;
    if (pct == last) return;
    last = pct;
    fprintf(stderr, "\r  %s %5.1f / %.1f MB (%3d%%)", ctx ? (const char *)ctx : "writing", (double)done / 1e6,
            (double)total / 1e6, pct);
    if (done >= total) {
        fputc('\n', stderr);
        last = -1;
    }
    fflush(stderr);
}

bool cli_each_line(const char *cmd, FILE *f, const char *src,
                   bool (*fn)(void *ctx, size_t lineno, const char *line, size_t len), void *ctx) {
    char *line = NULL;
    size_t cap = 0, lineno = 0;
    ssize_t got;
    bool ok = true;
    while (ok && (errno = 0, got = getline(&line, &cap, f)) > 0) {
        size_t len = (size_t)got;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) len--;
        ok = fn(ctx, ++lineno, line, len);
    }
    const int read_errno = errno;
    free(line);
    /* a terminal that hangs up (EIO once its other side is gone, when even
     * isatty no longer answers) has ended its input as Ctrl-D does */
    struct stat st;
    bool hangup = read_errno == EIO && fstat(fileno(f), &st) == 0 && S_ISCHR(st.st_mode);
    if (ok && ferror(f) && !hangup) {
        fprintf(stderr, "switchc %s: %s: read error after line %zu: %s\n", cmd, src, lineno, strerror(read_errno));
        ok = false;
    }
    return ok;
}

void cli_stdin_notice(const char *cmd, const char *what) {
    if (isatty(STDIN_FILENO))
        fprintf(stderr, "switchc %s: reading %s from standard input, one per line (Ctrl-D ends)\n", cmd, what);
}

bool cli_same_file(const char *a, const char *b) {
    struct stat sa, sb;
    return a && b && stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

bool cli_is_file_of(const char *path, const char *dir) {
    struct stat sp, se;
    if (stat(path, &sp) != 0 || !S_ISREG(sp.st_mode)) return false;
    DIR *d = opendir(dir);
    if (!d) return false;
    bool same = false;
    struct dirent *e;
    while (!same && (e = readdir(d))) {
        char *p = sc_path_join(dir, e->d_name);
        same = p && stat(p, &se) == 0 && se.st_dev == sp.st_dev && se.st_ino == sp.st_ino;
        free(p);
    }
    closedir(d);
    return same;
}
