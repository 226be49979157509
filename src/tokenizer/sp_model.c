/* Reads a SentencePiece ModelProto (spiece.model) with a minimal protobuf
 * wire-format reader and builds the lookup structures (piece tries, piece ->
 * id map). Only the fields that affect unigram encoding/decoding are kept:
 * pieces (piece, score, type), trainer_spec model_type, byte_fallback,
 * treat_whitespace_as_suffix, unk_surface, and normalizer_spec
 * precompiled_charsmap, add_dummy_prefix, remove_extra_whitespaces,
 * escape_whitespaces. normalization_rule_tsv, self-test data and the
 * denormalizer are ignored (T5 has none).
 * The piece -> id map is open addressing with linear probing (load <= 1/2)
 * over the keyed SipHash of core/hash.h, so a crafted vocabulary cannot
 * make building or lookups quadratic. */
#include "tokenizer/sp_model.h"

#include "core/checked.h"
#include "core/error.h"
#include "core/hash.h"

#include <float.h>
#include <stdlib.h>
#include <string.h>

#define SP_MAX_PIECES (1u << 24)
#define SP_MAX_PIECE_LEN 65536u

/* ------------------------------------------------------------ wire format */

typedef struct pb {
    const unsigned char *p;
    size_t n, pos;
    size_t base; /* file offset of p[0], for messages */
} pb;

static bool pb_varint(pb *r, uint64_t *v) {
    uint64_t x = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (r->pos >= r->n) return false;
        unsigned char c = r->p[r->pos++];
        x |= (uint64_t)(c & 0x7f) << shift;
        if (!(c & 0x80)) {
            *v = x;
            return true;
        }
    }
    return false;
}

/* Reads one field header and the field's payload location. For wire type 2
 * sub and sub_n give the bytes; for 0/1/5 v the value. */
typedef struct pb_field {
    uint32_t num;
    int wt;
    uint64_t v;
    const unsigned char *sub;
    size_t sub_n, sub_off;
} pb_field;

static sc_status pb_next(pb *r, pb_field *f, const char *path, sc_error *err) {
    size_t at = r->base + r->pos;
    uint64_t tag;
    if (!pb_varint(r, &tag)) return sc_fail(err, SC_ERR_FORMAT, at, "%s: truncated protobuf tag", path);
    f->num = (uint32_t)(tag >> 3);
    f->wt = (int)(tag & 7);
    if (f->num == 0 || (tag >> 3) > 0x1fffffff)
        return sc_fail(err, SC_ERR_FORMAT, at, "%s: invalid protobuf field number", path);
    switch (f->wt) {
    case 0:
        if (!pb_varint(r, &f->v)) return sc_fail(err, SC_ERR_FORMAT, at, "%s: truncated varint", path);
        return SC_OK;
    case 1:
        if (r->n - r->pos < 8) return sc_fail(err, SC_ERR_FORMAT, at, "%s: truncated fixed64", path);
        f->v = 0;
        for (int i = 7; i >= 0; i--) f->v = (f->v << 8) | r->p[r->pos + (size_t)i];
        r->pos += 8;
        return SC_OK;
    case 5:
        if (r->n - r->pos < 4) return sc_fail(err, SC_ERR_FORMAT, at, "%s: truncated fixed32", path);
        f->v = (uint64_t)r->p[r->pos] | (uint64_t)r->p[r->pos + 1] << 8 |
               (uint64_t)r->p[r->pos + 2] << 16 | (uint64_t)r->p[r->pos + 3] << 24;
        r->pos += 4;
        return SC_OK;
    case 2: {
        uint64_t len;
        if (!pb_varint(r, &len)) return sc_fail(err, SC_ERR_FORMAT, at, "%s: truncated length", path);
        if (len > r->n - r->pos)
            return sc_fail(err, SC_ERR_FORMAT, at,
                           "%s: field %u length %llu runs past the end of its message", path,
                           (unsigned)f->num, (unsigned long long)len);
        f->sub = r->p + r->pos;
        f->sub_n = (size_t)len;
        f->sub_off = r->base + r->pos;
        r->pos += (size_t)len;
        return SC_OK;
    }
    default:
        return sc_fail(err, SC_ERR_FORMAT, at, "%s: unsupported protobuf wire type %d (field %u)",
                       path, f->wt, (unsigned)f->num);
    }
}

static float f32_from_bits(uint32_t u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* ------------------------------------------------------------- ModelProto */

typedef struct raw_piece {
    const unsigned char *s;
    size_t n;
    float score;
    int type;
} raw_piece;

static sc_status parse_piece(const pb_field *outer, const char *path, raw_piece *out, sc_error *err) {
    pb r = {outer->sub, outer->sub_n, 0, outer->sub_off};
    out->s = NULL;
    out->n = 0;
    out->score = 0.0f;
    out->type = SP_NORMAL;
    bool have_piece = false;
    while (r.pos < r.n) {
        pb_field f = {0};
        sc_status st = pb_next(&r, &f, path, err);
        if (st) return st;
        if (f.num == 1 && f.wt == 2) {
            out->s = f.sub;
            out->n = f.sub_n;
            have_piece = true;
        } else if (f.num == 2 && f.wt == 5) {
            out->score = f32_from_bits((uint32_t)f.v);
        } else if (f.num == 3 && f.wt == 0) {
            if (f.v < 1 || f.v > 6)
                return sc_fail(err, SC_ERR_FORMAT, outer->sub_off, "%s: piece has invalid type %llu",
                               path, (unsigned long long)f.v);
            out->type = (int)f.v;
        }
    }
    if (!have_piece || out->n == 0)
        return sc_fail(err, SC_ERR_FORMAT, outer->sub_off, "%s: piece must not be empty", path);
    if (out->n > SP_MAX_PIECE_LEN)
        return sc_fail(err, SC_ERR_LIMIT, outer->sub_off, "%s: piece of %zu bytes is too long", path,
                       out->n);
    return SC_OK;
}

static sc_status parse_trainer(const pb_field *outer, const char *path, sp_model *m, sc_error *err) {
    pb r = {outer->sub, outer->sub_n, 0, outer->sub_off};
    while (r.pos < r.n) {
        pb_field f = {0};
        sc_status st = pb_next(&r, &f, path, err);
        if (st) return st;
        if (f.num == 3 && f.wt == 0) m->model_type = (int)(f.v > 100 ? 100 : f.v);
        else if (f.num == 24 && f.wt == 0) m->ws_suffix = f.v != 0;
        else if (f.num == 35 && f.wt == 0) m->byte_fallback = f.v != 0;
        else if (f.num == 44 && f.wt == 2) {
            char *s = malloc(f.sub_n + 1);
            if (!s) return sc_fail(err, SC_ERR_NOMEM, SC_NO_OFFSET, "%s: out of memory", path);
            memcpy(s, f.sub, f.sub_n);
            s[f.sub_n] = 0;
            free(m->unk_surface);
            m->unk_surface = s;
        }
    }
    return SC_OK;
}

static sc_status parse_normalizer(const pb_field *outer, const char *path, sp_model *m,
                                  sc_error *err) {
    pb r = {outer->sub, outer->sub_n, 0, outer->sub_off};
    while (r.pos < r.n) {
        pb_field f = {0};
        sc_status st = pb_next(&r, &f, path, err);
        if (st) return st;
        if (f.num == 2 && f.wt == 2) {
            st = sp_model_set_charsmap(m, f.sub, f.sub_n, path, f.sub_off, err);
            if (st) return st;
        } else if (f.num == 3 && f.wt == 0) m->add_dummy_prefix = f.v != 0;
        else if (f.num == 4 && f.wt == 0) m->remove_extra_ws = f.v != 0;
        else if (f.num == 5 && f.wt == 0) m->escape_ws = f.v != 0;
    }
    return SC_OK;
}

sc_status sp_model_set_charsmap(sp_model *m, const unsigned char *blob, size_t size,
                                const char *path, size_t file_off, sc_error *err) {
    free(m->darts);
    free(m->norm_str);
    m->darts = NULL;
    m->norm_str = NULL;
    m->n_darts = m->norm_len = 0;
    if (size == 0) return SC_OK; /* identity normalization */
    if (size <= 4)
        return sc_fail(err, SC_ERR_FORMAT, file_off, "%s: precompiled charsmap is truncated", path);
    uint32_t tsize = (uint32_t)blob[0] | (uint32_t)blob[1] << 8 | (uint32_t)blob[2] << 16 |
                     (uint32_t)blob[3] << 24;
    if ((size_t)tsize >= size || tsize > size - 4 || tsize % 4 != 0 || tsize == 0)
        return sc_fail(err, SC_ERR_FORMAT, file_off,
                       "%s: precompiled charsmap trie size %u is inconsistent with its %zu bytes",
                       path, tsize, size);
    m->n_darts = tsize / 4;
    m->darts = malloc(tsize);
    m->norm_len = size - 4 - tsize;
    m->norm_str = malloc(m->norm_len + 1);
    if (!m->darts || !m->norm_str)
        return sc_fail(err, SC_ERR_NOMEM, SC_NO_OFFSET, "%s: out of memory", path);
    for (size_t i = 0; i < m->n_darts; i++) {
        const unsigned char *q = blob + 4 + 4 * i;
        m->darts[i] = (uint32_t)q[0] | (uint32_t)q[1] << 8 | (uint32_t)q[2] << 16 |
                      (uint32_t)q[3] << 24;
    }
    memcpy(m->norm_str, blob + 4 + tsize, m->norm_len);
    m->norm_str[m->norm_len] = 0; /* a last string without its NUL still ends */
    return SC_OK;
}

sc_status sp_model_parse(const unsigned char *data, size_t size, const char *path, sp_model *m,
                         sc_error *err) {
    m->model_type = 1;
    m->add_dummy_prefix = m->remove_extra_ws = m->escape_ws = true;
    pb r = {data, size, 0, 0};
    size_t n = 0, cap = 0;
    raw_piece *raw = NULL;
    sc_status st = SC_OK;
    while (r.pos < r.n) {
        pb_field f = {0};
        st = pb_next(&r, &f, path, err);
        if (st) goto done;
        if (f.num == 1 && f.wt == 2) {
            if (n == cap) {
                size_t nc = cap ? cap * 2 : 1024;
                if (nc > SP_MAX_PIECES) nc = SP_MAX_PIECES;
                if (n == nc) {
                    st = sc_fail(err, SC_ERR_LIMIT, f.sub_off, "%s: more than %u pieces", path,
                                 SP_MAX_PIECES);
                    goto done;
                }
                raw_piece *t = realloc(raw, nc * sizeof *raw);
                if (!t) {
                    st = sc_fail(err, SC_ERR_NOMEM, SC_NO_OFFSET, "%s: out of memory", path);
                    goto done;
                }
                raw = t;
                cap = nc;
            }
            st = parse_piece(&f, path, &raw[n], err);
            if (st) goto done;
            n++;
        } else if (f.num == 2 && f.wt == 2) {
            st = parse_trainer(&f, path, m, err);
            if (st) goto done;
        } else if (f.num == 3 && f.wt == 2) {
            st = parse_normalizer(&f, path, m, err);
            if (st) goto done;
        }
    }
    if (m->model_type != 1) {
        st = sc_fail(err, SC_ERR_UNSUPPORTED, SC_NO_OFFSET,
                     "%s: trainer_spec.model_type %d is not unigram (only unigram is supported)",
                     path, m->model_type);
        goto done;
    }
    /* copy the pieces into one blob */
    size_t blob = 0;
    for (size_t i = 0; i < n; i++) blob += raw[i].n + 1; /* bounded by size + n */
    m->n_pieces = n;
    m->blob = malloc(blob ? blob : 1);
    m->blob_len = blob;
    m->off = malloc((n ? n : 1) * sizeof *m->off);
    m->len = malloc((n ? n : 1) * sizeof *m->len);
    m->score = malloc((n ? n : 1) * sizeof *m->score);
    m->type = malloc(n ? n : 1);
    if (!m->blob || !m->off || !m->len || !m->score || !m->type) {
        st = sc_fail(err, SC_ERR_NOMEM, SC_NO_OFFSET, "%s: out of memory", path);
        goto done;
    }
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        memcpy(m->blob + o, raw[i].s, raw[i].n);
        m->blob[o + raw[i].n] = 0;
        m->off[i] = (uint32_t)o;
        m->len[i] = (uint32_t)raw[i].n;
        m->score[i] = raw[i].score;
        m->type[i] = (uint8_t)raw[i].type;
        o += raw[i].n + 1;
    }
    st = sp_model_build(m, path, err);
done:
    free(raw);
    return st;
}

/* ------------------------------------------------------------------ trie */

static const char *piece_str(const sp_model *m, size_t i) { return m->blob + m->off[i]; }



static int cmp_ids(const void *a, const void *b, void *ctx) {
    const sp_model *m = ctx;
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    size_t lx = m->len[x], ly = m->len[y];
    int c = memcmp(piece_str(m, (size_t)x), piece_str(m, (size_t)y), lx < ly ? lx : ly);
    if (c) return c;
    return lx < ly ? -1 : lx > ly ? 1 : 0;
}

/* Simple merge sort (qsort_r is not portable C11). */
static void sort_ids(int32_t *a, int32_t *tmp, size_t n, const sp_model *m) {
    if (n < 2) return;
    size_t h = n / 2;
    sort_ids(a, tmp, h, m);
    sort_ids(a + h, tmp, n - h, m);
    size_t i = 0, j = h, k = 0;
    while (i < h && j < n) tmp[k++] = cmp_ids(&a[j], &a[i], (void *)m) < 0 ? a[j++] : a[i++];
    while (i < h) tmp[k++] = a[i++];
    while (j < n) tmp[k++] = a[j++];
    memcpy(a, tmp, n * sizeof *a);
}

static void trie_free(sp_trie *t) {
    free(t->value);
    free(t->first);
    free(t->count);
    free(t->label);
    free(t->child);
    memset(t, 0, sizeof *t);
}

/* Builds a trie over the given ids (sorted, unique strings) breadth first so
 * that each node's edges are contiguous and sorted. */
static bool trie_build(sp_trie *t, const sp_model *m, const int32_t *ids, size_t n) {
    memset(t, 0, sizeof *t);
    size_t total = 1;
    for (size_t i = 0; i < n; i++) total += m->len[ids[i]]; /* upper bound on nodes */
    t->value = malloc(total * sizeof *t->value);
    t->first = malloc(total * sizeof *t->first);
    t->count = malloc(total * sizeof *t->count);
    t->label = malloc(total);
    t->child = malloc(total * sizeof *t->child);
    /* queue of (node, lo, hi, depth) */
    typedef struct { uint32_t node, lo, hi, depth; } item;
    item *q = malloc(total * sizeof *q);
    if (!t->value || !t->first || !t->count || !t->label || !t->child || !q) {
        free(q);
        trie_free(t);
        return false;
    }
    size_t qh = 0, qt = 0;
    t->n_nodes = 1;
    q[qt++] = (item){0, 0, (uint32_t)n, 0};
    while (qh < qt) {
        item it = q[qh++];
        size_t lo = it.lo;
        t->value[it.node] = -1;
        if (lo < it.hi && m->len[ids[lo]] == it.depth) t->value[it.node] = ids[lo++];
        t->first[it.node] = (uint32_t)t->n_edges;
        uint16_t cnt = 0;
        while (lo < it.hi) {
            unsigned char c = (unsigned char)piece_str(m, (size_t)ids[lo])[it.depth];
            size_t hi = lo;
            while (hi < it.hi && (unsigned char)piece_str(m, (size_t)ids[hi])[it.depth] == c) hi++;
            uint32_t child = (uint32_t)t->n_nodes++;
            t->label[t->n_edges] = c;
            t->child[t->n_edges] = child;
            t->n_edges++;
            cnt++;
            q[qt++] = (item){child, (uint32_t)lo, (uint32_t)hi, it.depth + 1};
            lo = hi;
        }
        t->count[it.node] = cnt;
    }
    free(q);
    for (uint32_t e = 0; e < t->count[0]; e++) t->root[t->label[t->first[0] + e]] = t->child[t->first[0] + e];
    return true;
}

/* ----------------------------------------------------------------- build */

int32_t sp_piece_to_id(const sp_model *m, const char *s, size_t n) {
    if (!m->hash_cap) return -1;
    size_t mask = m->hash_cap - 1;
    for (size_t i = (size_t)sc_hash_bytes(s, n) & mask;; i = (i + 1) & mask) {
        int32_t id = m->hash[i];
        if (id < 0) return -1;
        if (m->len[id] == n && !memcmp(piece_str(m, (size_t)id), s, n)) return id;
    }
}

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

sc_status sp_model_build(sp_model *m, const char *path, sc_error *err) {

    size_t n = m->n_pieces;
    if (n == 0) return sc_fail(err, SC_ERR_FORMAT, SC_NO_OFFSET, "%s: the model has no pieces", path);
    if (n > SP_MAX_PIECES)
        return sc_fail(err, SC_ERR_LIMIT, SC_NO_OFFSET, "%s: %zu pieces is too many", path, n);
    if (!m->unk_surface) {
        m->unk_surface = malloc(6);
        if (!m->unk_surface) return sc_fail(err, SC_ERR_NOMEM, SC_NO_OFFSET, "%s: out of memory", path);
        memcpy(m->unk_surface, " \xE2\x81\x87 ", 6);
    }
    /* At least two slots per piece keeps linear probing short; n is at most
     * SP_MAX_PIECES, so none of these sizes can overflow. */
    size_t cap = 16;
    while (cap < 2 * n) cap *= 2;
    m->hash_probes = 0;
    m->hash = malloc(cap * sizeof *m->hash);
    int32_t *ids = malloc(n * sizeof *ids), *tmp = malloc(n * sizeof *tmp);
    int32_t *uids = malloc(n * sizeof *uids);
    if (!m->hash || !ids || !tmp || !uids) {
        free(ids);
        free(tmp);
        free(uids);
        return sc_fail(err, SC_ERR_NOMEM, SC_NO_OFFSET, "%s: out of memory", path);
    }
    memset(m->hash, 0xff, cap * sizeof *m->hash);
    m->hash_cap = cap;
    for (int i = 0; i < 256; i++) m->byte_id[i] = -1;
    m->unk_id = -1;
    m->min_score = FLT_MAX;
    m->max_score = FLT_MIN; /* as SentencePiece: the smallest positive float */
    size_t ni = 0, nu = 0;
    sc_status st = SC_OK;
    for (size_t i = 0; i < n; i++) {
        const char *s = piece_str(m, i);
        size_t len = m->len[i];
        /* One probe walk both finds a duplicate and the free slot. */
        size_t mask = cap - 1, h = (size_t)sc_hash_bytes(s, len) & mask;
        m->hash_probes++;
        while (m->hash[h] >= 0) {
            size_t o = (size_t)m->hash[h];
            if (m->len[o] == len && !memcmp(piece_str(m, o), s, len)) {
                st = sc_fail(err, SC_ERR_FORMAT, SC_NO_OFFSET,
                             "%s: piece %zu (\"%.64s\") is already defined", path, i, s);
                goto done;
            }
            h = (h + 1) & mask;
            m->hash_probes++;
        }
        m->hash[h] = (int32_t)i;
        int ty = m->type[i];
        if (ty == SP_NORMAL || ty == SP_USER_DEFINED || ty == SP_UNUSED) ids[ni++] = (int32_t)i;
        if (ty == SP_USER_DEFINED) uids[nu++] = (int32_t)i;
        if (ty == SP_UNKNOWN) {
            if (m->unk_id >= 0) {
                st = sc_fail(err, SC_ERR_FORMAT, SC_NO_OFFSET, "%s: unk is already defined", path);
                goto done;
            }
            m->unk_id = (int32_t)i;
        }
        if (ty == SP_BYTE) {
            if (!m->byte_fallback) {
                st = sc_fail(err, SC_ERR_FORMAT, SC_NO_OFFSET,
                             "%s: byte piece %zu found although byte_fallback is off", path, i);
                goto done;
            }
            int hi = len == 6 ? hexval(s[3]) : -1, lo = len == 6 ? hexval(s[4]) : -1;
            if (len != 6 || memcmp(s, "<0x", 3) || s[5] != '>' || hi < 0 || lo < 0) {
                st = sc_fail(err, SC_ERR_FORMAT, SC_NO_OFFSET, "%s: byte piece %zu is not <0xXX>", path, i);
                goto done;
            }
            m->byte_id[hi * 16 + lo] = (int32_t)i;
        }
        if (ty == SP_NORMAL) {
            if (m->score[i] < m->min_score) m->min_score = m->score[i];
            if (m->score[i] > m->max_score) m->max_score = m->score[i];
        }
    }
    if (m->unk_id < 0) {
        st = sc_fail(err, SC_ERR_FORMAT, SC_NO_OFFSET, "%s: unk is not defined", path);
        goto done;
    }
    if (m->byte_fallback) {
        for (int b = 0; b < 256; b++)
            if (m->byte_id[b] < 0) {
                st = sc_fail(err, SC_ERR_FORMAT, SC_NO_OFFSET,
                             "%s: byte_fallback is on but <0x%02X> is missing", path, b);
                goto done;
            }
    }
    sort_ids(ids, tmp, ni, m);
    if (!trie_build(&m->pieces, m, ids, ni)) {
        st = sc_fail(err, SC_ERR_NOMEM, SC_NO_OFFSET, "%s: out of memory", path);
        goto done;
    }
    if (nu) {
        sort_ids(uids, tmp, nu, m);
        if (!trie_build(&m->user, m, uids, nu)) {
            st = sc_fail(err, SC_ERR_NOMEM, SC_NO_OFFSET, "%s: out of memory", path);
            goto done;
        }
        m->has_user = true;
    }
done:
    free(ids);
    free(tmp);
    free(uids);
    return st;
}

void sp_model_free(sp_model *m) {
    if (!m) return;
    free(m->blob);
    free(m->off);
    free(m->len);
    free(m->score);
    free(m->type);
    free(m->unk_surface);
    free(m->darts);
    free(m->norm_str);
    free(m->hash);
    trie_free(&m->pieces);
    trie_free(&m->user);
    memset(m, 0, sizeof *m);
}

/* ---------------------------------------------------------------- buffer */

sc_status sp_buf_append(sp_buf *b, const void *p, size_t n) {
    if (n > b->cap - b->n) {
        size_t need;
        if (!sc_add_size(b->n, n, &need)) return SC_ERR_LIMIT;
        size_t nc = b->cap ? b->cap : 64;
        while (nc < need) {
            if (nc > SIZE_MAX / 2) return SC_ERR_LIMIT;
            nc *= 2;
        }
        char *q = realloc(b->p, nc);
        if (!q) return SC_ERR_NOMEM;
        b->p = q;
        b->cap = nc;
    }
    if (n) memcpy(b->p + b->n, p, n);
    b->n += n;
    return SC_OK;
}

void sp_buf_free(sp_buf *b) {
    free(b->p);
    b->p = NULL;
    b->n = b->cap = 0;
}
