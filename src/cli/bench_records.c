/* Recorded bench runs and the comparison with them; see bench_records.h. */
#include "bench_records.h"

#include "args.h"
#include "util/error.h"
#include "util/file.h"
#include "util/json.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MAX_FILE_BYTES ((size_t)16 << 20)

/* The compared figures: JSON key, report label, unit, and whether a lower
 * value is the better one. */
static const struct {
    const char *key, *label, *unit;
    bool lower_better;
} figures[BENCH_N_FIGURES] = {
    [BENCH_LOAD] = {"load_s", "load", "s", true},
    [BENCH_ENC1] = {"encoder_1x128_tok_s", "encoder 1x128", "tok/s", false},
    [BENCH_ENC8] = {"encoder_8x128_tok_s", "encoder 8x128", "tok/s", false},
    [BENCH_DECODE] = {"decode_ms_per_token", "decode", "ms/token", true},
    [BENCH_RSS] = {"peak_rss_bytes", "peak RSS", "bytes", true},
};

/* A short string value of key into dst[cap]: 1 copied, 0 absent, -1 not a
 * string of 1 .. cap-1 bytes without NUL. */
static int short_string(const sc_json *obj, const char *key, char *dst, size_t cap) {
    const sc_json *v = sc_json_get(obj, key);
    if (!v) return 0;
    size_t n = 0;
    const char *s = sc_json_string(v, &n);
    if (!s || n == 0 || n >= cap || memchr(s, 0, n)) return -1;
    memcpy(dst, s, n + 1);
    return 1;
}

/* One line's object into *r; src is "FILE:LINE". */
static sc_status parse_run(const sc_json *o, const char *src, bench_run *r, sc_error *err) {
    if (sc_json_type_of(o) != SC_JSON_OBJECT)
        return sc_fail(err, SC_ERR_FORMAT, SC_NO_OFFSET, "%s: a recorded run must be a JSON object", src);
    if (short_string(o, "dtype", r->dtype, sizeof r->dtype) != 1)
        return sc_fail(err, SC_ERR_FORMAT, SC_NO_OFFSET, "%s: \"dtype\" must be a short string such as \"bf16\"",
                       src);
    if (!sc_json_int(sc_json_get(o, "threads"), &r->threads) || r->threads < 1 || r->threads > 4096)
        return sc_fail(err, SC_ERR_FORMAT, SC_NO_OFFSET, "%s: \"threads\" must be an integer from 1 to 4096", src);
    const sc_json *k = sc_json_get(o, "kernels");
    r->table[0] = '\0';
    if (k && (sc_json_type_of(k) != SC_JSON_OBJECT || short_string(k, "table", r->table, sizeof r->table) < 0))
        return sc_fail(err, SC_ERR_FORMAT, SC_NO_OFFSET,
                       "%s: \"kernels\" must be an object whose \"table\" is a short string", src);
    const sc_json *mm = sc_json_get(o, "mmap");
    r->mmap = true;
    if (mm && !sc_json_bool(mm, &r->mmap))
        return sc_fail(err, SC_ERR_FORMAT, SC_NO_OFFSET, "%s: \"mmap\" must be true or false", src);
    for (int f = 0; f < BENCH_N_FIGURES; f++) {
        const sc_json *v = sc_json_get(o, figures[f].key);
        r->v[f] = NAN;
        if (v && (!sc_json_number(v, &r->v[f]) || !isfinite(r->v[f]) || r->v[f] < 0))
            return sc_fail(err, SC_ERR_FORMAT, SC_NO_OFFSET, "%s: \"%s\" must be a finite number >= 0", src,
                           figures[f].key);
    }
    return SC_OK;
}

sc_status bench_records_parse(const char *text, size_t len, const char *source, bench_records *out,
                              sc_error *err) {
    out->runs = NULL;
    out->n = 0;
    bench_records r = {0};
    size_t cap = 0;
    int64_t line = 0;
    for (size_t pos = 0; pos < len; line++) {
        const char *nl = memchr(text + pos, '\n', len - pos);
        const size_t end = nl ? (size_t)(nl - text) : len, n = end - pos;
        const char *s = text + pos;
        pos = end + 1;
        size_t i = 0;
        while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r')) i++;
        if (i == n) continue; /* blank */
        char src[512];
        snprintf(src, sizeof src, "%s:%lld", source, (long long)(line + 1));
        if (r.n == cap) {
            size_t ncap = cap ? 2 * cap : 8;
            bench_run *g = realloc(r.runs, ncap * sizeof *g);
            if (!g) {
                bench_records_free(&r);
                return sc_fail(err, SC_ERR_NOMEM, SC_NO_OFFSET, "%s: out of memory", source);
            }
            r.runs = g;
            cap = ncap;
        }
        sc_json_doc *doc = NULL;
        sc_status st = sc_json_parse(s, n, src, &doc, err);
        if (!st) st = parse_run(sc_json_root(doc), src, &r.runs[r.n], err);
        sc_json_free(doc);
        if (st) {
            bench_records_free(&r);
            return st;
        }
        r.runs[r.n++].line = line + 1;
    }
    if (!r.n) return sc_fail(err, SC_ERR_FORMAT, SC_NO_OFFSET, "%s: no recorded runs (one JSON object a line)", source);
    *out = r;
    return SC_OK;
}

sc_status bench_records_read(const char *path, bench_records *out, sc_error *err) {
    out->runs = NULL;
    out->n = 0;
    char *buf = NULL;
    size_t len = 0;
    sc_status st = sc_read_file(path, MAX_FILE_BYTES, &buf, &len, err);
    if (st) return st;
    st = bench_records_parse(buf, len, path, out, err);
    free(buf);
    return st;
}

void bench_records_free(bench_records *r) {
    free(r->runs);
    r->runs = NULL;
    r->n = 0;
}

const bench_run *bench_records_find(const bench_records *r, const char *dtype, const char *table,
                                    int64_t threads, bool mmap) {
    for (size_t i = r->n; i-- > 0;) {
        const bench_run *b = &r->runs[i];
        if (!strcmp(b->dtype, dtype) && b->threads == threads && b->mmap == mmap &&
            (!b->table[0] || !strcmp(b->table, table)))
            return b;
    }
    return NULL;
}

/* How much worse now is than rec, as a fraction (0.15: 15% slower or
 * larger); negative when better, NAN when either is missing or rec is 0. */
static double worse_by(int f, double now, double rec) {
    if (!(rec > 0) || !(now > 0) || isnan(now)) return NAN;
    return figures[f].lower_better ? now / rec - 1.0 : rec / now - 1.0;
}

/* x as JSON: null when not a number. */
static void put_number(FILE *f, double x) {
    if (isnan(x)) fputs("null", f);
    else fprintf(f, "%.6g", x);
}

int bench_compare(FILE *f, const bench_run *now, const bench_run *rec, const char *path, double tolerance_pct,
                  bool json) {
    int worse = 0, compared = 0;
    if (json) {
        fputs("{\"file\": ", f);
        sc_json_write_string(f, path, strlen(path));
        fprintf(f, ", \"line\": %lld, \"tolerance_pct\": %g, \"figures\": {", (long long)rec->line, tolerance_pct);
    } else {
        fprintf(f, "compared with %s:%lld (tolerance %g%%)\n", path, (long long)rec->line, tolerance_pct);
    }
    for (int i = 0; i < BENCH_N_FIGURES; i++) {
        const double a = rec->v[i], b = now->v[i], w = worse_by(i, b, a);
        const bool bad = w > tolerance_pct / 100.0 && (i != BENCH_LOAD || b - a > 0.05);
        worse += bad;
        compared += !isnan(w);
        if (json) {
            fprintf(f, "%s\"%s\": {\"recorded\": ", i ? ", " : "", figures[i].key);
            put_number(f, a);
            fputs(", \"now\": ", f);
            put_number(f, b);
            fputs(", \"ratio\": ", f);
            put_number(f, isnan(w) ? NAN : b / a);
            fprintf(f, ", \"worse\": %s}", bad ? "true" : "false");
            continue;
        }
        if (isnan(w)) {
            fprintf(f, "  %-14s %12s -> %-12.6g %-9s (not recorded)\n", figures[i].label, "-", b, figures[i].unit);
            continue;
        }
        fprintf(f, "  %-14s %12.6g -> %-12.6g %-9s %.2fx", figures[i].label, a, b, figures[i].unit, b / a);
        if (bad) fprintf(f, "  worse than recorded by %.0f%%", 100.0 * w);
        fputc('\n', f);
    }
    if (json) fprintf(f, "}, \"compared\": %d, \"worse\": %d}", compared, worse);
    else fprintf(f, "%d of %d figures worse than recorded by more than %g%%\n", worse, compared, tolerance_pct);
    return worse;
}
