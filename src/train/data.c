/* Training data: JSON-lines seq2seq pairs and plain-text documents,
 * tokenized once at open, batched per step in a seeded per-epoch order (see
 * data.h). Leaves out streaming files larger than memory and packing. */
#include "train/data.h"

#include "core/checked.h"
#include "core/error.h"
#include "core/mapfile.h"
#include "io/json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct sc_data {
    sc_data_params p;
    const sc_tokenizer *tok;
    int32_t *ids;   /* every example's source then target tokens, back to back */
    size_t n_ids, cap_ids;
    size_t *off;    /* [2*count] start of source / target in ids */
    int64_t *len;   /* [2*count] their lengths */
    int64_t count, cap;
    int64_t skipped;
    int64_t *order; /* [count] the current epoch's order */
    int64_t order_epoch;
    sc_data_pos pos;
};

sc_data_params sc_data_default_params(void) {
    sc_data_params p;
    memset(&p, 0, sizeof p);
    p.kind = SC_DATA_SEQ2SEQ;
    p.batch_size = 8;
    p.shuffle = true;
    p.seed = 42;
    p.decoder_start_id = 0;
    p.span = sc_span_default_params();
    return p;
}

void sc_data_free(sc_data *d) {
    if (!d) return;
    free(d->ids);
    free(d->off);
    free(d->len);
    free(d->order);
    free(d);
}

int64_t sc_data_count(const sc_data *d) { return d ? d->count : 0; }
int64_t sc_data_skipped(const sc_data *d) { return d ? d->skipped : 0; }

int64_t sc_data_batches_per_epoch(const sc_data *d) {
    if (!d || d->count == 0) return 0;
    int64_t b = d->p.batch_size;
    return d->p.drop_last ? d->count / b : (d->count + b - 1) / b;
}

static const int32_t *part(const sc_data *d, int64_t i, int which, int64_t *n) {
    if (!d || i < 0 || i >= d->count) return NULL;
    if (n) *n = d->len[2 * i + which];
    return d->ids + d->off[2 * i + which];
}
const int32_t *sc_data_source(const sc_data *d, int64_t i, int64_t *n) { return part(d, i, 0, n); }
const int32_t *sc_data_target(const sc_data *d, int64_t i, int64_t *n) { return part(d, i, 1, n); }

/* Makes room for `more` ids at the end of d->ids. */
static bool reserve_ids(sc_data *d, size_t more) {
    size_t need;
    if (!sc_add_size(d->n_ids, more, &need)) return false;
    if (need <= d->cap_ids) return true;
    size_t cap = d->cap_ids ? d->cap_ids : 4096;
    while (cap < need) {
        if (!sc_mul_size(cap, 2, &cap)) return false;
    }
    size_t bytes;
    if (!sc_mul_size(cap, sizeof(int32_t), &bytes)) return false;
    int32_t *p = realloc(d->ids, bytes);
    if (!p) return false;
    d->ids = p;
    d->cap_ids = cap;
    return true;
}

/* Tokenizes text (no </s>) onto the end of d->ids, one slot spare for </s>;
 * *n = tokens written. */
static sc_status encode_append(sc_data *d, const char *text, size_t len, size_t *n, sc_error *err) {
    size_t guess = len + 2;
    for (int tries = 0; tries < 2; tries++) {
        if (!reserve_ids(d, guess + 1))
            return sc_fail(err, SC_ERR_NOMEM, SC_NO_OFFSET, "training data: out of memory for the tokens");
        size_t got = 0;
        sc_status st = sc_tokenizer_encode(d->tok, text, len, false, d->ids + d->n_ids, guess, &got, err);
        if (st == SC_OK) {
            *n = got;
            return SC_OK;
        }
        if (st != SC_ERR_BUFFER_TOO_SMALL) return st;
        guess = got;
    }
    return sc_fail(err, SC_ERR_LIMIT, SC_NO_OFFSET, "training data: the tokenizer's output size changed");
}

/* HF truncation=True to max (0 = none), then _add_eos_if_not_present, on
 * ids[0..*n) which has room for one more. */
static void truncate_add_eos(int32_t *ids, size_t *n, int64_t max, int32_t eos) {
    size_t k = *n;
    if (max > 0 && k + 1 > (size_t)max) k = (size_t)max - 1;
    if (!(k > 0 && ids[k - 1] == eos)) ids[k++] = eos;
    *n = k;
}

static sc_status add_example(sc_data *d, size_t src_off, size_t src_n, size_t tgt_off, size_t tgt_n,
                             sc_error *err) {
    if (d->count == d->cap) {
        int64_t cap = d->cap ? d->cap * 2 : 256;
        size_t b1, b2;
        if (!sc_mul3_size((size_t)cap, 2, sizeof(size_t), &b1) ||
            !sc_mul3_size((size_t)cap, 2, sizeof(int64_t), &b2))
            return sc_fail(err, SC_ERR_LIMIT, SC_NO_OFFSET, "training data: too many examples");
        size_t *off = realloc(d->off, b1);
        if (off) d->off = off;
        int64_t *len = realloc(d->len, b2);
        if (len) d->len = len;
        if (!off || !len) return sc_fail(err, SC_ERR_NOMEM, SC_NO_OFFSET, "training data: out of memory");
        d->cap = cap;
    }
    d->off[2 * d->count] = src_off;
    d->len[2 * d->count] = (int64_t)src_n;
    d->off[2 * d->count + 1] = tgt_off;
    d->len[2 * d->count + 1] = (int64_t)tgt_n;
    d->count++;
    return SC_OK;
}

static bool blank(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r') return false;
    return true;
}

static sc_status read_pair(sc_data *d, const char *line, size_t n, const char *source, size_t lineno,
                           size_t line_off, sc_error *err) {
    char where[1100];
    snprintf(where, sizeof where, "%s:%zu", source, lineno);
    sc_json_doc *doc = NULL;
    sc_status st = sc_json_parse(line, n, where, &doc, err);
    if (st) {
        if (err && err->offset != SC_NO_OFFSET) err->offset += line_off;
        return st;
    }
    const sc_json *root = sc_json_root(doc);
    const char *names[2] = {"input", "target"};
    const char *text[2] = {NULL, NULL};
    size_t tlen[2] = {0, 0};
    for (int k = 0; k < 2 && !st; k++) {
        const sc_json *v = sc_json_get(root, names[k]);
        text[k] = sc_json_string(v, &tlen[k]);
        if (sc_json_type_of(root) != SC_JSON_OBJECT)
            st = sc_fail(err, SC_ERR_FORMAT, line_off, "%s: the line is not a JSON object", where);
        else if (!v)
            st = sc_fail(err, SC_ERR_FORMAT, line_off, "%s: no \"%s\" member", where, names[k]);
        else if (!text[k])
            st = sc_fail(err, SC_ERR_FORMAT, line_off + sc_json_offset(v), "%s: \"%s\" is not a string", where,
                         names[k]);
    }
    int32_t eos = sc_tokenizer_eos_id(d->tok);
    size_t off[2], cnt[2];
    int64_t max[2] = {d->p.max_source_len, d->p.max_target_len};
    for (int k = 0; k < 2 && !st; k++) {
        off[k] = d->n_ids;
        st = encode_append(d, text[k], tlen[k], &cnt[k], err);
        if (st) {
            sc_error_prefix(err, "%s: \"%s\"", where, names[k]);
            break;
        }
        truncate_add_eos(d->ids + off[k], &cnt[k], max[k], eos);
        d->n_ids += cnt[k];
    }
    if (!st) st = add_example(d, off[0], cnt[0], off[1], cnt[1], err);
    sc_json_free(doc);
    return st;
}

/* The longest prefix of a document whose corrupted inputs (with </s>) fit
 * max_source_len; 0 when not even 2 tokens do. */
static sc_status fit_document(const sc_data *d, size_t n, int64_t tokens_length, size_t *keep, sc_error *err) {
    int64_t L = (int64_t)n < tokens_length ? (int64_t)n : tokens_length;
    for (; L >= 2; L--) {
        int64_t noise, spans;
        sc_status st = sc_span_counts(&d->p.span, L, &noise, &spans, err);
        if (st) return st;
        if (L - noise + spans + 1 <= d->p.max_source_len) break;
    }
    *keep = L >= 2 ? (size_t)L : 0;
    return SC_OK;
}

static sc_status read_document(sc_data *d, const char *line, size_t n, const char *source, size_t lineno,
                               int64_t tokens_length, sc_error *err) {
    size_t off = d->n_ids, cnt = 0, keep = 0;
    sc_status st = encode_append(d, line, n, &cnt, err);
    if (st) {
        sc_error_prefix(err, "%s:%zu", source, lineno);
        return st;
    }
    if ((st = fit_document(d, cnt, tokens_length, &keep, err))) return st;
    if (keep == 0) {
        d->skipped++;
        return SC_OK;
    }
    d->n_ids += keep;
    return add_example(d, off, keep, off, 0, err);
}

sc_status sc_data_open_buffer(const char *text, size_t len, const char *source, const sc_tokenizer *tok,
                              const sc_data_params *p, sc_data **out, sc_error *err) {
    const char *src = source ? source : "training data";
    if (!tok || !p || !out || (len && !text))
        return sc_fail(err, SC_ERR_INVALID_ARG, SC_NO_OFFSET, "%s: NULL argument", src);
    if (p->kind != SC_DATA_SEQ2SEQ && p->kind != SC_DATA_TEXT)
        return sc_fail(err, SC_ERR_INVALID_ARG, SC_NO_OFFSET, "%s: unknown data kind %d", src, (int)p->kind);
    if (p->batch_size < 1 || p->max_source_len < 0 || p->max_target_len < 0 || p->batch_size > ((int64_t)1 << 30))
        return sc_fail(err, SC_ERR_INVALID_ARG, SC_NO_OFFSET,
                       "%s: batch size must be >= 1 and maximum lengths >= 0", src);
    int64_t tokens_length = 0, targets_length = 0;
    if (p->kind == SC_DATA_TEXT) {
        if (p->max_source_len < 4)
            return sc_fail(err, SC_ERR_INVALID_ARG, SC_NO_OFFSET,
                           "%s: span corruption needs a maximum source length of at least 4", src);
        sc_status st = sc_span_lengths(&p->span, p->max_source_len, &tokens_length, &targets_length, err);
        if (st) return st;
    }
    sc_data *d = calloc(1, sizeof *d);
    if (!d) return sc_fail(err, SC_ERR_NOMEM, SC_NO_OFFSET, "%s: out of memory", src);
    d->p = *p;
    d->tok = tok;
    d->order_epoch = -1;
    sc_status st = SC_OK;
    size_t pos = 0, lineno = 0;
    while (pos < len && !st) {
        const char *nl = memchr(text + pos, '\n', len - pos);
        size_t end = nl ? (size_t)(nl - text) : len;
        size_t n = end - pos;
        lineno++;
        if (n > 0 && text[pos + n - 1] == '\r') n--;
        if (blank(text + pos, n))
            d->skipped++;
        else if (p->kind == SC_DATA_SEQ2SEQ)
            st = read_pair(d, text + pos, n, src, lineno, pos, err);
        else
            st = read_document(d, text + pos, n, src, lineno, tokens_length, err);
        pos = end + 1;
    }
    if (!st && d->count == 0)
        st = sc_fail(err, SC_ERR_MISSING, SC_NO_OFFSET, "%s: no usable example (%lld lines skipped)", src,
                     (long long)d->skipped);
    if (!st && p->drop_last && d->count < p->batch_size)
        st = sc_fail(err, SC_ERR_INVALID_ARG, SC_NO_OFFSET,
                     "%s: %lld examples make no full batch of %lld (drop_last)", src, (long long)d->count,
                     (long long)p->batch_size);
    if (!st && !(d->order = malloc(sizeof(int64_t) * (size_t)d->count)))
        st = sc_fail(err, SC_ERR_NOMEM, SC_NO_OFFSET, "%s: out of memory", src);
    if (st) {
        sc_data_free(d);
        return st;
    }
    *out = d;
    return SC_OK;
}

sc_status sc_data_open(const char *path, const sc_tokenizer *tok, const sc_data_params *p, sc_data **out,
                       sc_error *err) {
    if (!path) return sc_fail(err, SC_ERR_INVALID_ARG, SC_NO_OFFSET, "training data: no file given");
    sc_mapped_file f;
    sc_status st = sc_file_map(path, &f, err);
    if (st) return st;
    st = sc_data_open_buffer((const char *)f.data, f.size, path, tok, p, out, err);
    sc_file_unmap(&f);
    return st;
}

/* Streams of the project's RNG: one for each epoch's order, one for each
 * (epoch, example) corruption. */
#define ORDER_SALT 0x4f52444552ULL   /* "ORDER" */
#define SPAN_SALT 0x5350414e53ULL    /* "SPANS" */

static void ensure_order(sc_data *d) {
    if (d->order_epoch == d->pos.epoch) return;
    for (int64_t i = 0; i < d->count; i++) d->order[i] = i;
    if (d->p.shuffle) {
        sc_rng r;
        sc_rng_seed(&r, d->p.seed ^ ORDER_SALT, (uint64_t)d->pos.epoch);
        for (int64_t i = d->count - 1; i > 0; i--) {
            int64_t j = (int64_t)(sc_rng_uniform(&r) * (double)(i + 1));
            if (j > i) j = i;
            int64_t t = d->order[i];
            d->order[i] = d->order[j];
            d->order[j] = t;
        }
    }
    d->order_epoch = d->pos.epoch;
}

void sc_data_batch_free(sc_data_batch *b) {
    if (!b) return;
    free(b->input_ids);
    free(b->attention_mask);
    free(b->labels);
    free(b->decoder_input_ids);
    free(b->example);
    memset(b, 0, sizeof *b);
}

sc_status sc_data_next(sc_data *d, sc_data_batch *out, sc_error *err) {
    if (!d || !out) return sc_fail(err, SC_ERR_INVALID_ARG, SC_NO_OFFSET, "training data: NULL argument");
    sc_data_batch_free(out);
    int64_t B = d->p.batch_size;
    if (d->pos.index >= d->count || (d->p.drop_last && d->count - d->pos.index < B)) {
        d->pos.epoch++;
        d->pos.index = 0;
    }
    ensure_order(d);
    int64_t rows = d->count - d->pos.index < B ? d->count - d->pos.index : B;
    bool text = d->p.kind == SC_DATA_TEXT;
    /* text: corrupt each row first (into per-row buffers) to know S and T */
    int32_t **cin = NULL, **ctg = NULL;
    int64_t *nin = calloc((size_t)rows, sizeof(int64_t)), *ntg = calloc((size_t)rows, sizeof(int64_t));
    sc_status st = SC_OK;
    if (!nin || !ntg) goto oom;
    if (text) {
        cin = calloc((size_t)rows, sizeof *cin);
        ctg = calloc((size_t)rows, sizeof *ctg);
        if (!cin || !ctg) goto oom;
    }
    int64_t S = 1, T = 1;
    for (int64_t r = 0; r < rows; r++) {
        int64_t ex = d->order[d->pos.index + r];
        int64_t n = 0;
        const int32_t *src = sc_data_source(d, ex, &n);
        if (text) {
            uint8_t *mask = malloc((size_t)n);
            cin[r] = malloc(sizeof(int32_t) * (size_t)(n + 1));
            ctg[r] = malloc(sizeof(int32_t) * (size_t)(n + 1));
            if (!mask || !cin[r] || !ctg[r]) {
                free(mask);
                goto oom;
            }
            sc_rng rng;
            sc_rng_seed(&rng, d->p.seed ^ SPAN_SALT, (uint64_t)d->pos.epoch * (uint64_t)d->count + (uint64_t)ex);
            st = sc_span_noise_mask(&d->p.span, n, &rng, mask, err);
            if (!st) st = sc_span_corrupt(d->tok, src, n, mask, cin[r], &nin[r], ctg[r], &ntg[r], err);
            free(mask);
            if (st) goto done;
        } else {
            nin[r] = n;
            sc_data_target(d, ex, &ntg[r]);
        }
        if (nin[r] > S) S = nin[r];
        if (ntg[r] > T) T = ntg[r];
    }
    size_t ns, nt;
    if (!sc_mul_size((size_t)rows, (size_t)S, &ns) || !sc_mul_size((size_t)rows, (size_t)T, &nt)) goto oom;
    out->input_ids = malloc(ns * sizeof(int32_t));
    out->attention_mask = malloc(ns * sizeof(int32_t));
    out->labels = malloc(nt * sizeof(int32_t));
    out->decoder_input_ids = malloc(nt * sizeof(int32_t));
    out->example = malloc((size_t)rows * sizeof(int64_t));
    if (!out->input_ids || !out->attention_mask || !out->labels || !out->decoder_input_ids || !out->example)
        goto oom;
    int32_t pad = sc_tokenizer_pad_id(d->tok);
    for (int64_t r = 0; r < rows; r++) {
        int64_t ex = d->order[d->pos.index + r];
        const int32_t *src = text ? cin[r] : sc_data_source(d, ex, NULL);
        const int32_t *tgt = text ? ctg[r] : sc_data_target(d, ex, NULL);
        int32_t *ids = out->input_ids + r * S, *mask = out->attention_mask + r * S;
        int32_t *lab = out->labels + r * T, *dec = out->decoder_input_ids + r * T;
        for (int64_t s = 0; s < S; s++) {
            ids[s] = s < nin[r] ? src[s] : pad;
            mask[s] = s < nin[r];
        }
        for (int64_t t = 0; t < T; t++) lab[t] = t < ntg[r] ? tgt[t] : -100;
        /* the model's _shift_right: start id, labels[:-1], -100 -> pad */
        dec[0] = d->p.decoder_start_id;
        for (int64_t t = 1; t < T; t++) dec[t] = lab[t - 1] == -100 ? pad : lab[t - 1];
        out->example[r] = ex;
    }
    out->B = rows;
    out->S = S;
    out->T = T;
    d->pos.index += rows;
    goto done;
oom:
    st = sc_fail(err, SC_ERR_NOMEM, SC_NO_OFFSET, "training data: out of memory for a batch");
done:
    if (st) sc_data_batch_free(out);
    for (int64_t r = 0; cin && r < rows; r++) free(cin[r]);
    for (int64_t r = 0; ctg && r < rows; r++) free(ctg[r]);
    free(cin);
    free(ctg);
    free(nin);
    free(ntg);
    return st;
}

sc_data_pos sc_data_tell(const sc_data *d) {
    sc_data_pos z = {0, 0};
    return d ? d->pos : z;
}

sc_status sc_data_seek(sc_data *d, sc_data_pos pos, sc_error *err) {
    if (!d) return sc_fail(err, SC_ERR_INVALID_ARG, SC_NO_OFFSET, "training data: NULL argument");
    if (pos.epoch < 0 || pos.index < 0 || pos.index > d->count)
        return sc_fail(err, SC_ERR_INVALID_ARG, SC_NO_OFFSET,
                       "training data: position (epoch %lld, example %lld) is outside the data's %lld examples",
                       (long long)pos.epoch, (long long)pos.index, (long long)d->count);
    d->pos = pos;
    return SC_OK;
}
