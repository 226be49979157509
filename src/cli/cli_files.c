/* See cli_files.h. */
#include "cli/cli_files.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

bool cli_mkdirs(const char *cmd, const char *dir) {
    char buf[4096];
    if (snprintf(buf, sizeof buf, "%s", dir) >= (int)sizeof buf) return false;
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        if (mkdir(buf, 0777) != 0 && errno != EEXIST) {
            fprintf(stderr, "switchc %s: cannot create %s: %s\n", cmd, buf, strerror(errno));
            return false;
        }
        *p = '/';
    }
    if (mkdir(buf, 0777) != 0 && errno != EEXIST) {
        fprintf(stderr, "switchc %s: cannot create %s: %s\n", cmd, buf, strerror(errno));
        return false;
    }
    return true;
}

int cli_copy_file(const char *cmd, const char *dir_in, const char *dir_out, const char *name) {
    char src[4096], dst[4096];
    snprintf(src, sizeof src, "%s/%s", dir_in, name);
    snprintf(dst, sizeof dst, "%s/%s", dir_out, name);
    FILE *in = fopen(src, "rb");
    if (!in) return 0;
    FILE *out = fopen(dst, "wb");
    if (!out) {
        fprintf(stderr, "switchc %s: cannot create %s: %s\n", cmd, dst, strerror(errno));
        fclose(in);
        return -1;
    }
    char buf[1 << 16];
    size_t n;
    bool ok = true;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0)
        if (fwrite(buf, 1, n, out) != n) ok = false;
    if (ferror(in)) ok = false;
    fclose(in);
    if (fclose(out) != 0) ok = false;
    if (!ok) fprintf(stderr, "switchc %s: copying %s failed\n", cmd, src);
    return ok ? 1 : -1;
}

bool cli_write_text(const char *cmd, const char *dir, const char *name, const char *text, size_t len) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    bool ok = f && fwrite(text, 1, len, f) == len;
    if (f && fclose(f) != 0) ok = false;
    if (!ok) fprintf(stderr, "switchc %s: cannot write %s\n", cmd, path);
    return ok;
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
