/* Helpers shared by the checkpoint tests: reading fixture files, writing
 * mutated copies into SC_TMP_DIR and opening them as a checkpoint directory,
 * and a byte buffer for building zips and pickles by hand. */
#ifndef SC_CKPT_TEST_UTIL_H
#define SC_CKPT_TEST_UTIL_H

#include "io/checkpoint.h"
#include "test_util.h"

#include <errno.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct buf {
    uint8_t *p;
    size_t n, cap;
} buf;

static void buf_put(buf *b, const void *d, size_t n) {
    if (b->n + n > b->cap) {
        size_t nc = b->cap ? b->cap : 256;
        while (nc < b->n + n) nc *= 2;
        b->p = realloc(b->p, nc);
        if (!b->p) abort();
        b->cap = nc;
    }
    if (n) memcpy(b->p + b->n, d, n);
    b->n += n;
}
static inline void buf_u8(buf *b, unsigned v) { uint8_t c = (uint8_t)v; buf_put(b, &c, 1); }
static inline void buf_le(buf *b, uint64_t v, int k) {
    for (int i = 0; i < k; i++) buf_u8(b, (unsigned)(v >> (8 * i)) & 0xff);
}
static inline void buf_str(buf *b, const char *s) { buf_put(b, s, strlen(s)); }
static inline void buf_free(buf *b) { free(b->p); memset(b, 0, sizeof *b); }

static inline buf read_whole(const char *path) {
    buf b = {0};
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "cannot read %s\n", path);
        return b;
    }
    char tmp[65536];
    size_t r;
    while ((r = fread(tmp, 1, sizeof tmp, f)) > 0) buf_put(&b, tmp, r);
    fclose(f);
    return b;
}

static inline void write_whole(const char *path, const void *d, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) {
        fprintf(stderr, "cannot write %s\n", path);
        exit(2);
    }
    if (n) fwrite(d, 1, n, f);
    fclose(f);
}

/* A fresh empty directory SC_TMP_DIR/<name> (static buffer). */
static inline const char *tmp_case_dir(const char *name) {
    static char dir[4096];
    mkdir(SC_TMP_DIR, 0777);
    snprintf(dir, sizeof dir, "%s/%s", SC_TMP_DIR, name);
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) exit(2);
    if (mkdir(dir, 0777) != 0) {
        fprintf(stderr, "mkdir %s: %s\n", dir, strerror(errno));
        exit(2);
    }
    return dir;
}

/* Writes `file` with data into a fresh directory `name` and opens it as a
 * checkpoint (automatic format). Returns the status; err gets the message. */
static inline sc_status open_case(const char *name, const char *file, const void *d, size_t n,
                           sc_error *err) {
    const char *dir = tmp_case_dir(name);
    char path[4300];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    write_whole(path, d, n);
    sc_checkpoint *ck = NULL;
    memset(err, 0, sizeof *err);
    sc_status st = sc_checkpoint_open(dir, -1, &ck, err);
    sc_checkpoint_close(ck);
    return st;
}

/* Expects status `want` and a message naming `file`. */
#define CHECK_FAIL(st, want, err, file)                                                      \
    CHECKF((st) == (want) && strstr((err).msg, (file)) != NULL, "got %s (%s), want %s",        \
           sc_status_name(st), (err).msg, sc_status_name(want))

#endif
