/* Streaming safetensors writer (see safetensors_write.h). */
#include "io/safetensors_write.h"
#include "core/checked.h"
#include "core/error.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The stream's buffer. Every write to the file is then a whole, aligned
 * 4 MiB (until the last), so the page cache keeps what was written in 2 MiB
 * folios, which a later mapping maps with one entry each: a model used right
 * after it was converted or made streams as fast as one read in through a
 * huge-page mapping (docs/memory.md). */
#define WRITE_BUFFER ((size_t)4 << 20)

struct sc_st_writer {
    FILE *f;
    char *buf; /* WRITE_BUFFER bytes, the stream's; freed after fclose */
    char *path;
    size_t total;   /* data bytes declared */
    size_t written; /* data bytes written */
};

typedef struct strbuf {
    char *p;
    size_t n, cap;
    bool oom;
} strbuf;

static void sb_putn(strbuf *b, const char *s, size_t n) {
    if (b->oom) return;
    if (b->n + n + 1 > b->cap) {
        size_t cap = (b->cap ? b->cap * 2 : 4096);
        while (cap < b->n + n + 1) cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->oom = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
}

static void sb_printf(strbuf *b, const char *fmt, ...) {
    char tmp[128];
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (k > 0) sb_putn(b, tmp, (size_t)k < sizeof tmp ? (size_t)k : sizeof tmp - 1);
}

static void sb_json_string(strbuf *b, const char *s) {
    sb_putn(b, "\"", 1);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            char e[2] = {'\\', (char)c};
            sb_putn(b, e, 2);
        } else if (c < 0x20) {
            sb_printf(b, "\\u%04x", c);
        } else {
            sb_putn(b, (const char *)&c, 1);
        }
    }
    sb_putn(b, "\"", 1);
}

/* Builds the padded header JSON; *data_bytes = sum of tensor sizes. */
static sc_status build_header(const sc_st_desc *d, size_t n, const char *const *meta, strbuf *b,
                              size_t *data_bytes, sc_error *err) {
    size_t off = 0;
    sb_putn(b, "{", 1);
    bool first = true;
    if (meta && meta[0]) {
        sb_putn(b, "\"__metadata__\":{", 16);
        for (size_t i = 0; meta[i] && meta[i + 1]; i += 2) {
            if (i) sb_putn(b, ",", 1);
            sb_json_string(b, meta[i]);
            sb_putn(b, ":", 1);
            sb_json_string(b, meta[i + 1]);
        }
        sb_putn(b, "}", 1);
        first = false;
    }
    for (size_t i = 0; i < n; i++) {
        size_t esz = sc_dtype_size(d[i].dtype), numel, bytes;
        if (!esz || !d[i].name || d[i].ndim < 0 || d[i].ndim > 4 || !sc_numel(d[i].shape, d[i].ndim, &numel) ||
            !sc_mul_size(numel, esz, &bytes))
            return sc_fail(err, SC_ERR_INVALID_ARG, SC_NO_OFFSET, "safetensors writer: bad tensor '%s'",
                           d[i].name ? d[i].name : "(null)");
        if (off % esz)
            return sc_fail(err, SC_ERR_INVALID_ARG, SC_NO_OFFSET,
                           "safetensors writer: tensor '%s' (%s) would start at offset %zu, not a multiple "
                           "of its element size; declare wider dtypes first",
                           d[i].name, sc_dtype_name(d[i].dtype), off);
        if (!first) sb_putn(b, ",", 1);
        first = false;
        sb_json_string(b, d[i].name);
        sb_printf(b, ":{\"dtype\":\"%s\",\"shape\":[", sc_dtype_name(d[i].dtype));
        for (int k = 0; k < d[i].ndim; k++) sb_printf(b, k ? ",%lld" : "%lld", (long long)d[i].shape[k]);
        sb_printf(b, "],\"data_offsets\":[%zu,", off);
        if (!sc_add_size(off, bytes, &off))
            return sc_fail(err, SC_ERR_LIMIT, SC_NO_OFFSET, "safetensors writer: total size overflows");
        sb_printf(b, "%zu]}", off);
    }
    sb_putn(b, "}", 1);
    while (!b->oom && (8 + b->n) % 8) sb_putn(b, " ", 1);
    if (b->oom) return sc_fail(err, SC_ERR_NOMEM, SC_NO_OFFSET, "safetensors writer: out of memory");
    *data_bytes = off;
    return SC_OK;
}

size_t sc_st_file_bytes(const sc_st_desc *d, size_t n, const char *const *meta) {
    strbuf b = {0};
    size_t data = 0, total = 0;
    if (!build_header(d, n, meta, &b, &data, NULL)) total = 8 + b.n + data;
    free(b.p);
    return total;
}

sc_status sc_st_writer_open(const char *path, const sc_st_desc *d, size_t n, const char *const *meta,
                            sc_st_writer **out, sc_error *err) {
    strbuf b = {0};
    size_t data = 0;
    sc_status st = build_header(d, n, meta, &b, &data, err);
    if (st) {
        free(b.p);
        return st;
    }
    sc_st_writer *w = calloc(1, sizeof *w);
    if (w) {
        w->path = strdup(path);
        w->buf = malloc(WRITE_BUFFER);
    }
    if (!w || !w->path || !w->buf) {
        free(b.p);
        if (w) {
            free(w->buf);
            free(w->path);
            free(w);
        }
        return sc_fail(err, SC_ERR_NOMEM, SC_NO_OFFSET, "out of memory");
    }
    /* O_EXCL: the writer never truncates an existing file or writes through a
     * link (a file being read could be that file); outputs are staged
     * (io/staged_dir.h) and renamed into place */
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    w->f = fd >= 0 ? fdopen(fd, "wb") : NULL;
    if (!w->f) {
        if (fd >= 0) {
            close(fd);
            unlink(path);
        }
        st = sc_fail(err, SC_ERR_IO, SC_NO_OFFSET, "%s: cannot create: %s", path, strerror(errno));
        free(b.p);
        free(w->buf);
        free(w->path);
        free(w);
        return st;
    }
    setvbuf(w->f, w->buf, _IOFBF, WRITE_BUFFER);
    unsigned char len[8];
    uint64_t hl = b.n;
    for (int i = 0; i < 8; i++) len[i] = (unsigned char)(hl >> (8 * i));
    bool ok = fwrite(len, 1, 8, w->f) == 8 && fwrite(b.p, 1, b.n, w->f) == b.n;
    free(b.p);
    if (!ok) {
        st = sc_fail(err, SC_ERR_IO, 0, "%s: write failed: %s", path, strerror(errno));
        sc_st_writer_abort(w);
        return st;
    }
    w->total = data;
    *out = w;
    return SC_OK;
}

sc_status sc_st_writer_write(sc_st_writer *w, const void *data, size_t nbytes, sc_error *err) {
    if (nbytes > w->total - w->written)
        return sc_fail(err, SC_ERR_INVALID_ARG, SC_NO_OFFSET, "%s: more data than the header declares",
                       w->path);
    if (nbytes && fwrite(data, 1, nbytes, w->f) != nbytes)
        return sc_fail(err, SC_ERR_IO, SC_NO_OFFSET, "%s: write failed: %s", w->path, strerror(errno));
    w->written += nbytes;
    return SC_OK;
}

sc_status sc_st_writer_close(sc_st_writer *w, sc_error *err) {
    if (!w) return SC_OK;
    sc_status st = SC_OK;
    if (w->written != w->total)
        st = sc_fail(err, SC_ERR_INVALID_ARG, SC_NO_OFFSET, "%s: %zu of %zu data bytes written", w->path,
                     w->written, w->total);
    if (fclose(w->f) != 0 && !st)
        st = sc_fail(err, SC_ERR_IO, SC_NO_OFFSET, "%s: close failed: %s", w->path, strerror(errno));
    if (st) remove(w->path);
    free(w->buf);
    free(w->path);
    free(w);
    return st;
}

void sc_st_writer_abort(sc_st_writer *w) {
    if (!w) return;
    fclose(w->f);
    remove(w->path);
    free(w->buf);
    free(w->path);
    free(w);
}
