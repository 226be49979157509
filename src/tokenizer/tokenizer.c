/* The public tokenizer: a SentencePiece unigram model plus the behaviour of
 * Hugging Face transformers 4.41.2's slow T5Tokenizer in legacy mode
 * (tokenization_t5.py, tokenization_utils.py tokenize/_decode):
 *  - the added tokens </s> <pad> <unk> and <extra_id_N> are found in the text
 *    (leftmost match); the sentinels strip Unicode whitespace on both sides
 *    (AddedToken lstrip/rstrip), the others strip nothing; every chunk
 *    between them is encoded by SentencePiece on its own (so each chunk gets
 *    its own leading U+2581);
 *  - </s> is appended unless the ids already end with it;
 *  - decode: sentinels are joined with spaces as separate sub-texts, the
 *    other specials are glued with HF's convert_tokens_to_string spacing,
 *    then clean_up_tokenization (on by default).
 * Leaves out: pair inputs, the non-legacy mode, offsets. */
#include "switchc.h"

#include "core/checked.h"
#include "core/error.h"
#include "core/mapfile.h"
#include "tokenizer/sp_model.h"
#include "tokenizer/tokenizer_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SPACE_SYM "\xE2\x96\x81"

/* ------------------------------------------------------------------ load */

static sc_status finish_load(sc_tokenizer *t, const char *path, sc_error *err) {
    const sp_model *m = &t->sp;
    if (m->n_pieces > INT32_MAX / 2)
        return sc_fail(err, SC_ERR_LIMIT, SC_NO_OFFSET, "%s: too many pieces", path);
    if (t->extra_ids < 0 || t->extra_ids > 100000)
        return sc_fail(err, SC_ERR_LIMIT, SC_NO_OFFSET, "%s: extra_ids %d is out of range", path,
                       t->extra_ids);
    t->sp_size = (int32_t)m->n_pieces;
    t->vocab = t->sp_size + t->extra_ids;
    t->pad_id = sp_piece_to_id(m, "<pad>", 5);
    t->eos_id = sp_piece_to_id(m, "</s>", 4);
    t->unk_id = m->unk_id;
    /* sentinel names */
    size_t bytes = (size_t)t->extra_ids * 20 + 1;
    t->extra_blob = malloc(bytes);
    t->extra_off = malloc(((size_t)t->extra_ids + 1) * sizeof *t->extra_off);
    if (!t->extra_blob || !t->extra_off)
        return sc_fail(err, SC_ERR_NOMEM, SC_NO_OFFSET, "%s: out of memory", path);
    size_t o = 0;
    for (int i = 0; i < t->extra_ids; i++) {
        t->extra_off[i] = (uint32_t)o;
        o += (size_t)snprintf(t->extra_blob + o, bytes - o, "<extra_id_%d>", i) + 1;
    }
    t->extra_off[t->extra_ids] = (uint32_t)o;
    return SC_OK;
}

sc_status sc_tokenizer_load(const char *dir_or_file, sc_tokenizer **out, sc_error *err) {
    if (!dir_or_file || !out) return sc_fail(err, SC_ERR_INVALID_ARG, SC_NO_OFFSET, "sc_tokenizer_load: NULL argument");
    sc_tokenizer *t = calloc(1, sizeof *t);
    if (!t) return sc_fail(err, SC_ERR_NOMEM, SC_NO_OFFSET, "out of memory");
    t->extra_ids = 100;
    char *model_path = NULL, *json_path = NULL, *config_path = NULL;
    sc_status st = SC_OK;
    if (sc_path_is_dir(dir_or_file)) {
        model_path = sc_path_join(dir_or_file, "spiece.model");
        json_path = sc_path_join(dir_or_file, "tokenizer.json");
        config_path = sc_path_join(dir_or_file, "tokenizer_config.json");
        if (!model_path || !json_path || !config_path) {
            st = sc_fail(err, SC_ERR_NOMEM, SC_NO_OFFSET, "out of memory");
            goto done;
        }
        if (!sc_path_is_file(model_path)) {
            free(model_path);
            model_path = NULL;
            if (!sc_path_is_file(json_path)) {
                st = sc_fail(err, SC_ERR_MISSING, SC_NO_OFFSET,
                             "%s: neither spiece.model nor tokenizer.json found", dir_or_file);
                goto done;
            }
        }
        if (sc_path_is_file(config_path)) {
            st = sc_tokenizer_read_config_(t, config_path, err);
            if (st) goto done;
        }
    } else {
        size_t n = strlen(dir_or_file);
        if (n >= 5 && !strcmp(dir_or_file + n - 5, ".json")) json_path = strdup(dir_or_file);
        else model_path = strdup(dir_or_file);
        if (!json_path && !model_path) {
            st = sc_fail(err, SC_ERR_NOMEM, SC_NO_OFFSET, "out of memory");
            goto done;
        }
    }
    if (model_path) {
        sc_mapped_file f;
        st = sc_file_map(model_path, &f, err);
        if (st) goto done;
        st = sp_model_parse(f.data, f.size, model_path, &t->sp, err);
        sc_file_unmap(&f);
        if (st) goto done;
        st = finish_load(t, model_path, err);
    } else {
        st = sc_tokenizer_load_json_(t, json_path, err);
        if (st) goto done;
        st = finish_load(t, json_path, err);
    }
done:
    free(model_path);
    free(json_path);
    free(config_path);
    if (st) {
        sc_tokenizer_free(t);
        return st;
    }
    *out = t;
    return SC_OK;
}

void sc_tokenizer_free(sc_tokenizer *t) {
    if (!t) return;
    sp_model_free(&t->sp);
    free(t->extra_blob);
    free(t->extra_off);
    free(t);
}

int32_t sc_tokenizer_vocab_size(const sc_tokenizer *t) { return t ? t->vocab : 0; }
int32_t sc_tokenizer_sp_size(const sc_tokenizer *t) { return t ? t->sp_size : 0; }
int32_t sc_tokenizer_pad_id(const sc_tokenizer *t) { return t ? t->pad_id : -1; }
int32_t sc_tokenizer_eos_id(const sc_tokenizer *t) { return t ? t->eos_id : -1; }
int32_t sc_tokenizer_unk_id(const sc_tokenizer *t) { return t ? t->unk_id : -1; }

int32_t sc_tokenizer_sentinel_id(const sc_tokenizer *t, int n) {
    if (!t || n < 0 || n >= t->extra_ids) return -1;
    return t->sp_size + t->extra_ids - 1 - n;
}

const char *sc_tokenizer_piece(const sc_tokenizer *t, int32_t id, size_t *len) {
    if (!t || id < 0 || id >= t->vocab) return NULL;
    if (id < t->sp_size) {
        if (len) *len = t->sp.len[id];
        return t->sp.blob + t->sp.off[id];
    }
    int n = t->sp_size + t->extra_ids - 1 - id;
    if (len) *len = t->extra_off[n + 1] - t->extra_off[n] - 1;
    return t->extra_blob + t->extra_off[n];
}

/* If s[0..n) starts with <extra_id_N> (N canonical decimal < extra_ids),
 * returns its length and sets *id. */
static size_t match_sentinel(const sc_tokenizer *t, const char *s, size_t n, int32_t *id) {
    static const char pre[] = "<extra_id_";
    if (n < 12 || memcmp(s, pre, 10)) return 0;
    size_t i = 10;
    long v = 0;
    while (i < n && i < 17 && s[i] >= '0' && s[i] <= '9') v = v * 10 + (s[i++] - '0');
    if (i == 10 || i >= n || s[i] != '>') return 0;
    if (s[10] == '0' && i > 11) return 0; /* "<extra_id_01>" is not a token */
    if (v >= t->extra_ids) return 0;
    *id = t->sp_size + t->extra_ids - 1 - (int32_t)v;
    return i + 1;
}

/* An added token at s: its length (0 if none), id and whether it strips. */
static size_t match_added(const sc_tokenizer *t, const char *s, size_t n, int32_t *id, bool *strip) {
    *strip = false;
    const int32_t cand[3] = {t->eos_id, t->pad_id, t->unk_id};
    for (int k = 0; k < 3; k++) {
        int32_t c = cand[k];
        if (c < 0) continue;
        size_t pl = t->sp.len[c];
        if (pl <= n && !memcmp(s, t->sp.blob + t->sp.off[c], pl)) {
            *id = c;
            return pl;
        }
    }
    size_t l = match_sentinel(t, s, n, id);
    if (l) *strip = true;
    return l;
}

int32_t sc_tokenizer_piece_id(const sc_tokenizer *t, const char *piece, size_t len) {
    if (!t || !piece) return -1;
    int32_t id;
    if (match_sentinel(t, piece, len, &id) == len) return id;
    id = sp_piece_to_id(&t->sp, piece, len);
    return id < 0 ? t->unk_id : id;
}

/* Python's str.isspace() code points (what str.strip() removes). */
static bool py_space(uint32_t c) {
    return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 ||
           c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 ||
           c == 0x202F || c == 0x205F || c == 0x3000;
}

static size_t lstrip_len(const char *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        size_t mb;
        uint32_t c = sp_decode_utf8((const unsigned char *)s + i, n - i, &mb);
        if ((c == 0xFFFD && mb != 3) || !py_space(c)) break;
        i += mb;
    }
    return i;
}

/* Trailing whitespace bytes of valid UTF-8 (walks back over code points). */
static size_t rstrip_len(const char *s, size_t n) {
    size_t e = n;
    while (e > 0) {
        size_t b = e - 1;
        while (b > 0 && e - b < 4 && ((unsigned char)s[b] & 0xC0) == 0x80) b--;
        size_t mb;
        uint32_t c = sp_decode_utf8((const unsigned char *)s + b, e - b, &mb);
        if (mb != e - b || (c == 0xFFFD && mb != 3) || !py_space(c)) break;
        e = b;
    }
    return n - e;
}

/* ---------------------------------------------------------------- encode */

typedef struct enc_out {
    int32_t *ids;
    size_t n, cap;
    bool want_pieces;
    sp_buf pieces; /* NUL-terminated pieces back to back */
    uint32_t *plen; /* [cap] piece lengths when want_pieces */
} enc_out;

static sc_status enc_push(enc_out *o, int32_t id, const char *p, size_t pn) {
    if (o->n == o->cap) {
        size_t nc = o->cap ? o->cap * 2 : 64;
        int32_t *q = realloc(o->ids, nc * sizeof *q);
        if (!q) return SC_ERR_NOMEM;
        o->ids = q;
        if (o->want_pieces) {
            uint32_t *l = realloc(o->plen, nc * sizeof *l);
            if (!l) return SC_ERR_NOMEM;
            o->plen = l;
        }
        o->cap = nc;
    }
    o->ids[o->n++] = id;
    if (o->want_pieces) {
        o->plen[o->n - 1] = (uint32_t)pn;
        sc_status st = sp_buf_append(&o->pieces, p, pn);
        if (!st) st = sp_buf_append(&o->pieces, "", 1);
        return st;
    }
    return SC_OK;
}

static sc_status encode_chunk(const sc_tokenizer *t, const char *s, size_t n, sp_buf *norm,
                              enc_out *o) {
    if (n == 0) return SC_OK;
    sc_status st = sp_normalize(&t->sp, s, n, norm);
    if (st) return st;
    sp_piece_ref *refs;
    size_t nr;
    st = sp_encode_normalized(&t->sp, norm->p, norm->n, &refs, &nr);
    if (st) return st;
    for (size_t i = 0; i < nr && !st; i++) {
        int32_t id = refs[i].id;
        const char *p = norm->p + refs[i].off;
        if (id == t->unk_id) { /* HF maps the piece text back to an id */
            int32_t k = sp_piece_to_id(&t->sp, p, refs[i].len);
            if (k >= 0) id = k;
        }
        st = enc_push(o, id, p, refs[i].len);
    }
    free(refs);
    return st;
}

/* HF tokenize(): split on added tokens, strip around the stripping ones,
 * encode every chunk. */
static sc_status encode_text(const sc_tokenizer *t, const char *s, size_t n, enc_out *o) {
    sp_buf norm = {0};
    sc_status st = SC_OK;
    size_t chunk = 0;      /* start of the pending text chunk */
    bool strip_left = false; /* the previous added token strips its right side */
    size_t i = 0;
    while (i <= n) {
        int32_t id = -1;
        bool strip = false;
        size_t l = 0;
        if (i < n) {
            const char *lt = memchr(s + i, '<', n - i);
            if (!lt) {
                i = n;
                continue;
            }
            i = (size_t)(lt - s);
            l = match_added(t, s + i, n - i, &id, &strip);
            if (!l) {
                i++;
                continue;
            }
        }
        /* the text chunk [chunk, i) */
        const char *c = s + chunk;
        size_t cn = i - chunk;
        if (strip_left) {
            size_t k = lstrip_len(c, cn);
            c += k;
            cn -= k;
        }
        if (strip) cn -= rstrip_len(c, cn);
        if ((st = encode_chunk(t, c, cn, &norm, o))) break;
        if (i == n) break;
        if ((st = enc_push(o, id, s + i, l))) break;
        strip_left = strip;
        i += l;
        chunk = i;
        if (i == n) {
            /* nothing after the token */
            break;
        }
    }
    sp_buf_free(&norm);
    return st;
}

static sc_status check_text(const char *text, size_t len, sc_error *err) {
    if (!text && len) return sc_fail(err, SC_ERR_INVALID_ARG, SC_NO_OFFSET, "tokenizer: NULL text");
    if (len > (size_t)INT32_MAX / 4)
        return sc_fail(err, SC_ERR_LIMIT, SC_NO_OFFSET, "tokenizer: text of %zu bytes is too long", len);
    return SC_OK;
}

sc_status sc_tokenizer_encode(const sc_tokenizer *t, const char *text, size_t len, bool add_eos,
                              int32_t *ids, size_t cap, size_t *n_out, sc_error *err) {
    if (!t || !n_out || (!ids && cap))
        return sc_fail(err, SC_ERR_INVALID_ARG, SC_NO_OFFSET, "sc_tokenizer_encode: NULL argument");
    sc_status st = check_text(text, len, err);
    if (st) return st;
    enc_out o = {0};
    st = encode_text(t, text ? text : "", len, &o);
    if (!st && add_eos && t->eos_id >= 0 && (o.n == 0 || o.ids[o.n - 1] != t->eos_id))
        st = enc_push(&o, t->eos_id, NULL, 0);
    if (st) {
        free(o.ids);
        return sc_fail(err, st, SC_NO_OFFSET, "tokenizer: encoding failed (%s)", sc_status_name(st));
    }
    *n_out = o.n;
    if (o.n > cap) {
        free(o.ids);
        return sc_fail(err, SC_ERR_BUFFER_TOO_SMALL, SC_NO_OFFSET,
                       "tokenizer: %zu ids do not fit in a buffer of %zu", o.n, cap);
    }
    if (o.n) memcpy(ids, o.ids, o.n * sizeof *ids);
    free(o.ids);
    return SC_OK;
}

sc_status sc_tokenizer_tokenize(const sc_tokenizer *t, const char *text, size_t len, char *buf,
                                size_t cap, size_t *len_out, sc_token_piece *pieces,
                                size_t pieces_cap, size_t *n_out, sc_error *err) {
    if (!t || !len_out || !n_out || (!buf && cap) || (!pieces && pieces_cap))
        return sc_fail(err, SC_ERR_INVALID_ARG, SC_NO_OFFSET, "sc_tokenizer_tokenize: NULL argument");
    sc_status st = check_text(text, len, err);
    if (st) return st;
    enc_out o = {0};
    o.want_pieces = true;
    st = encode_text(t, text ? text : "", len, &o);
    if (st) {
        free(o.ids);
        free(o.plen);
        sp_buf_free(&o.pieces);
        return sc_fail(err, st, SC_NO_OFFSET, "tokenizer: encoding failed (%s)", sc_status_name(st));
    }
    *len_out = o.pieces.n;
    *n_out = o.n;
    if (o.pieces.n > cap || o.n > pieces_cap) {
        st = sc_fail(err, SC_ERR_BUFFER_TOO_SMALL, SC_NO_OFFSET,
                     "tokenizer: %zu pieces (%zu bytes) do not fit", o.n, o.pieces.n);
    } else {
        if (o.pieces.n) memcpy(buf, o.pieces.p, o.pieces.n);
        size_t at = 0;
        for (size_t i = 0; i < o.n; i++) {
            pieces[i].id = o.ids[i];
            pieces[i].offset = (uint32_t)at;
            pieces[i].len = o.plen[i];
            at += o.plen[i] + 1;
        }
    }
    free(o.ids);
    free(o.plen);
    sp_buf_free(&o.pieces);
    return st;
}

/* ---------------------------------------------------------------- decode */

static bool is_special_id(const sc_tokenizer *t, int32_t id) {
    return id == t->pad_id || id == t->eos_id || id == t->unk_id || id >= t->sp_size;
}

/* Python str.strip() of b[from..) in place. */
static void py_strip_tail(sp_buf *b, size_t from) {
    size_t n = b->n - from;
    if (n == 0) return;
    char *s = b->p + from;
    size_t r = rstrip_len(s, n);
    n -= r;
    size_t l = lstrip_len(s, n);
    memmove(s, s + l, n - l);
    b->n = from + n - l;
}

/* T5Tokenizer.convert_tokens_to_string for ids g[0..k) (none a sentinel),
 * appended to out. */
static sc_status tokens_to_string(const sc_tokenizer *t, const int32_t *g, size_t k, sp_buf *out) {
    const sp_model *m = &t->sp;
    size_t from = out->n;
    const char **pp = malloc((k ? k : 1) * sizeof *pp);
    size_t *pl = malloc((k ? k : 1) * sizeof *pl);
    int32_t *pid = malloc((k ? k : 1) * sizeof *pid);
    if (!pp || !pl || !pid) {
        free(pp);
        free(pl);
        free(pid);
        return SC_ERR_NOMEM;
    }
    sc_status st = SC_OK;
    size_t ns = 0;
    bool prev_special = false;
    for (size_t i = 0; i < k && !st; i++) {
        const char *p = m->blob + m->off[g[i]];
        size_t n = m->len[g[i]];
        int32_t id = g[i];
        if (i == 0 && n >= 3 && !memcmp(p, SPACE_SYM, 3)) {
            /* HF drops the first token's U+2581 (add_prefix_space) and gives the
             * rest to SentencePiece, which looks the new text up again. */
            p += 3;
            n -= 3;
            id = sp_piece_to_id(m, p, n);
            if (id < 0) id = m->unk_id;
        }
        bool special = (id == t->pad_id || id == t->eos_id || id == t->unk_id) &&
                       n == m->len[id] && !memcmp(p, m->blob + m->off[id], n);
        if (special) {
            if (!prev_special) st = sp_buf_append(out, " ", 1);
            if (!st) st = sp_decode_pieces(m, pp, pl, pid, ns, out);
            if (!st) st = sp_buf_append(out, p, n);
            ns = 0;
            prev_special = true;
        } else {
            pp[ns] = p;
            pl[ns] = n;
            pid[ns] = id;
            ns++;
            prev_special = false;
        }
    }
    if (!st) st = sp_decode_pieces(m, pp, pl, pid, ns, out);
    free(pp);
    free(pl);
    free(pid);
    if (!st) py_strip_tail(out, from);
    return st;
}

static sc_status cleanup(sp_buf *b) {
    static const char *const from[] = {" .", " ?", " !", " ,", " ' ", " n't", " 'm", " 's", " 've", " 're"};
    static const char *const to[] = {".", "?", "!", ",", "'", "n't", "'m", "'s", "'ve", "'re"};
    for (size_t r = 0; r < sizeof from / sizeof from[0]; r++) {
        size_t fl = strlen(from[r]), tl = strlen(to[r]);
        size_t w = 0, i = 0;
        /* replacements only shrink the text, so it can be done in place */
        while (i < b->n) {
            if (b->n - i >= fl && !memcmp(b->p + i, from[r], fl)) {
                memcpy(b->p + w, to[r], tl);
                w += tl;
                i += fl;
            } else {
                b->p[w++] = b->p[i++];
            }
        }
        b->n = w;
    }
    return SC_OK;
}

sc_status sc_tokenizer_decode(const sc_tokenizer *t, const int32_t *ids, size_t n, unsigned flags,
                              char *buf, size_t cap, size_t *len_out, sc_error *err) {
    if (!t || !len_out || (!ids && n) || (!buf && cap))
        return sc_fail(err, SC_ERR_INVALID_ARG, SC_NO_OFFSET, "sc_tokenizer_decode: NULL argument");
    bool skip_unknown = flags & SC_DECODE_SKIP_UNKNOWN;
    for (size_t i = 0; i < n; i++)
        if (ids[i] < 0 || (ids[i] >= t->vocab && !skip_unknown))
            return sc_fail(err, SC_ERR_INVALID_ARG, SC_NO_OFFSET,
                           "tokenizer: piece id is out of range: ids[%zu] = %d, the tokenizer has %d ids "
                           "(model embedding rows beyond it have no text; SC_DECODE_SKIP_UNKNOWN leaves "
                           "them out)",
                           i, (int)ids[i], (int)t->vocab);
    bool skip = flags & SC_DECODE_SKIP_SPECIAL;
    int32_t *g = malloc((n ? n : 1) * sizeof *g);
    if (!g) return sc_fail(err, SC_ERR_NOMEM, SC_NO_OFFSET, "out of memory");
    sp_buf out = {0}, sub = {0};
    sc_status st = SC_OK;
    size_t k = 0, n_sub = 0;
    /* sub-texts joined by " " (spaces_between_special_tokens) */
#define ADD_SUB(p, l)                                                      \
    do {                                                                   \
        if (n_sub++ && (st = sp_buf_append(&out, " ", 1))) goto done;      \
        if ((st = sp_buf_append(&out, (p), (l)))) goto done;               \
    } while (0)
    for (size_t i = 0; i < n; i++) {
        int32_t id = ids[i];
        /* HF's fast tokenizer has no token for such an id and renders
         * nothing, without splitting the text around it */
        if (id >= t->vocab) continue;
        if (skip && is_special_id(t, id)) continue;
        if (id >= t->sp_size) { /* a sentinel: legacy added token */
            if (k) {
                sub.n = 0;
                if ((st = tokens_to_string(t, g, k, &sub))) goto done;
                if (sub.n) ADD_SUB(sub.p, sub.n);
                k = 0;
            }
            size_t pl;
            const char *p = sc_tokenizer_piece(t, id, &pl);
            ADD_SUB(p, pl);
        } else {
            g[k++] = id;
        }
    }
    if (k) {
        sub.n = 0;
        if ((st = tokens_to_string(t, g, k, &sub))) goto done;
        ADD_SUB(sub.p, sub.n);
    }
#undef ADD_SUB
    if (!(flags & SC_DECODE_NO_CLEANUP)) cleanup(&out);
done:
    free(g);
    sp_buf_free(&sub);
    if (st) {
        sp_buf_free(&out);
        return sc_fail(err, st, SC_NO_OFFSET, "tokenizer: decoding failed (%s)", sc_status_name(st));
    }
    *len_out = out.n;
    if (out.n + 1 > cap) {
        sp_buf_free(&out);
        return sc_fail(err, SC_ERR_BUFFER_TOO_SMALL, SC_NO_OFFSET,
                       "tokenizer: decoded text of %zu bytes does not fit in %zu", *len_out, cap);
    }
    if (out.n) memcpy(buf, out.p, out.n);
    buf[out.n] = 0;
    sp_buf_free(&out);
    return SC_OK;
}

/* ----------------------------------------------------------------- batch */

sc_batch_params sc_batch_default_params(void) {
    sc_batch_params p = {true, 0, false, false};
    return p;
}

void sc_token_batch_free(sc_token_batch *b) {
    if (!b) return;
    free(b->ids);
    free(b->mask);
    free(b->lengths);
    memset(b, 0, sizeof *b);
}

sc_status sc_tokenizer_encode_batch(const sc_tokenizer *t, const char *const *texts,
                                    const size_t *lens, size_t B, const sc_batch_params *p,
                                    sc_token_batch *out, sc_error *err) {
    if (!t || !out || (!texts && B))
        return sc_fail(err, SC_ERR_INVALID_ARG, SC_NO_OFFSET, "sc_tokenizer_encode_batch: NULL argument");
    sc_batch_params dp = sc_batch_default_params();
    if (!p) p = &dp;
    if (p->pad_to_max && !p->max_length)
        return sc_fail(err, SC_ERR_INVALID_ARG, SC_NO_OFFSET, "tokenizer: pad_to_max needs max_length");
    enc_out *rows = calloc(B ? B : 1, sizeof *rows);
    if (!rows) return sc_fail(err, SC_ERR_NOMEM, SC_NO_OFFSET, "out of memory");
    sc_status st = SC_OK;
    size_t S = 0;
    for (size_t b = 0; b < B; b++) {
        size_t len = lens ? lens[b] : (texts[b] ? strlen(texts[b]) : 0);
        if ((st = check_text(texts[b], len, err))) goto done;
        st = encode_text(t, texts[b] ? texts[b] : "", len, &rows[b]);
        enc_out *o = &rows[b];
        if (!st && p->max_length && o->n + (p->add_eos ? 1 : 0) > p->max_length) {
            /* HF truncates the text ids so that ids + eos fit */
            size_t keep = p->max_length - (p->add_eos ? 1 : 0);
            o->n = keep < o->n ? keep : o->n;
        }
        if (!st && p->add_eos && t->eos_id >= 0 && (o->n == 0 || o->ids[o->n - 1] != t->eos_id))
            st = enc_push(o, t->eos_id, NULL, 0);
        if (st) {
            st = sc_fail(err, st, SC_NO_OFFSET, "tokenizer: encoding text %zu failed (%s)", b, sc_status_name(st));
            goto done;
        }
        if (o->n > S) S = o->n;
    }
    if (p->pad_to_max) S = p->max_length;
    size_t total;
    if (!sc_mul_size(B, S, &total) || total > SIZE_MAX / sizeof(int32_t)) {
        st = sc_fail(err, SC_ERR_LIMIT, SC_NO_OFFSET, "tokenizer: batch %zu x %zu is too large", B, S);
        goto done;
    }
    out->ids = malloc((total ? total : 1) * sizeof(int32_t));
    out->mask = malloc((total ? total : 1) * sizeof(int32_t));
    out->lengths = malloc((B ? B : 1) * sizeof(int64_t));
    if (!out->ids || !out->mask || !out->lengths) {
        sc_token_batch_free(out);
        st = sc_fail(err, SC_ERR_NOMEM, SC_NO_OFFSET, "out of memory");
        goto done;
    }
    int32_t pad = t->pad_id >= 0 ? t->pad_id : 0;
    for (size_t b = 0; b < B; b++) {
        size_t n = rows[b].n, padn = S - n;
        int32_t *ri = out->ids + b * S, *rm = out->mask + b * S;
        size_t at = p->pad_left ? padn : 0, pat = p->pad_left ? 0 : n;
        for (size_t j = 0; j < n; j++) {
            ri[at + j] = rows[b].ids[j];
            rm[at + j] = 1;
        }
        for (size_t j = 0; j < padn; j++) {
            ri[pat + j] = pad;
            rm[pat + j] = 0;
        }
        out->lengths[b] = (int64_t)n;
    }
    out->B = (int64_t)B;
    out->S = (int64_t)S;
done:
    for (size_t b = 0; b < B; b++) free(rows[b].ids);
    free(rows);
    return st;
}
