/* SentencePiece normalization (precompiled charsmap, whitespace handling),
 * unigram segmentation and piece decoding, reproducing SentencePiece 0.1.97
 * (normalizer.cc Normalize/NormalizePrefix, unigram_model.cc
 * EncodeOptimized, sentencepiece_processor.cc Encode/Decode). Leaves out
 * n-best/sampling, offsets to the original text, and the denormalizer. */
#include "tokenizer/sp_model.h"

#include "core/checked.h"

#include <stdlib.h>
#include <string.h>

static const char kSpace[] = "\xE2\x96\x81"; /* U+2581, SentencePiece's whitespace symbol */

uint32_t sp_decode_utf8(const unsigned char *s, size_t n, size_t *mblen) {
    unsigned char c = s[0];
    if (c < 0x80) {
        *mblen = 1;
        return c;
    }
#define TRAIL(x) (((x) & 0xC0) == 0x80)
#define VALID(cp) ((cp) < 0xD800 || ((cp) >= 0xE000 && (cp) <= 0x10FFFF))
    if (n >= 2 && (c & 0xE0) == 0xC0) {
        uint32_t cp = ((uint32_t)(c & 0x1F) << 6) | (s[1] & 0x3F);
        if (TRAIL(s[1]) && cp >= 0x80 && VALID(cp)) {
            *mblen = 2;
            return cp;
        }
    } else if (n >= 3 && (c & 0xF0) == 0xE0) {
        uint32_t cp = ((uint32_t)(c & 0x0F) << 12) | ((uint32_t)(s[1] & 0x3F) << 6) | (s[2] & 0x3F);
        if (TRAIL(s[1]) && TRAIL(s[2]) && cp >= 0x800 && VALID(cp)) {
            *mblen = 3;
            return cp;
        }
    } else if (n >= 4 && (c & 0xF8) == 0xF0) {
        uint32_t cp = ((uint32_t)(c & 0x07) << 18) | ((uint32_t)(s[1] & 0x3F) << 12) |
                      ((uint32_t)(s[2] & 0x3F) << 6) | (s[3] & 0x3F);
        if (TRAIL(s[1]) && TRAIL(s[2]) && TRAIL(s[3]) && cp >= 0x10000 && VALID(cp)) {
            *mblen = 4;
            return cp;
        }
    }
#undef TRAIL
#undef VALID
    *mblen = 1;
    return 0xFFFD;
}

/* ------------------------------------------------------------ normalizer */

/* Darts-clone common prefix search over the charsmap trie: the longest key
 * that is a prefix of s (among the first 32 matches, as SentencePiece keeps
 * only 32 results), its length in *len and its value in *value. */
static bool darts_longest(const sp_model *m, const unsigned char *s, size_t n, size_t *len,
                          uint32_t *value) {
    const uint32_t *u = m->darts;
    size_t nu = m->n_darts;
#define OFFSET(x) (((x) >> 10) << (((x) & (1u << 9)) >> 6))
#define LABEL(x) ((x) & ((1u << 31) | 0xFFu))
#define HAS_LEAF(x) (((x) >> 8) & 1u)
#define VALUE(x) ((x) & ((1u << 31) - 1))
    size_t pos = OFFSET(u[0]);
    int found = 0;
    for (size_t i = 0; i < n; i++) {
        pos ^= s[i];
        if (pos >= nu) return found > 0;
        uint32_t unit = u[pos];
        if (LABEL(unit) != s[i]) return found > 0;
        pos ^= OFFSET(unit);
        if (HAS_LEAF(unit)) {
            if (pos >= nu) return found > 0;
            if (found < 32) {
                *len = i + 1;
                *value = VALUE(u[pos]);
            }
            found++;
        }
    }
    return found > 0;
#undef OFFSET
#undef LABEL
#undef HAS_LEAF
#undef VALUE
}

/* Longest user-defined piece that is a prefix of s (0 if none). */
static size_t user_prefix(const sp_trie *t, const unsigned char *s, size_t n) {
    size_t best = 0;
    uint32_t node = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t next = 0;
        if (node == 0) {
            next = t->root[s[i]];
        } else {
            uint32_t f = t->first[node];
            for (uint32_t e = 0; e < t->count[node]; e++)
                if (t->label[f + e] == s[i]) {
                    next = t->child[f + e];
                    break;
                }
        }
        if (!next) break;
        node = next;
        if (t->value[node] >= 0) best = i + 1;
    }
    return best;
}

/* NormalizePrefix: the normalized form of the longest rule matching the
 * start of s, and the number of input bytes it consumes. */
static void normalize_prefix(const sp_model *m, const unsigned char *s, size_t n, const char **out,
                             size_t *out_n, size_t *consumed) {
    if (m->has_user) {
        size_t k = user_prefix(&m->user, s, n);
        if (k) {
            *out = (const char *)s;
            *out_n = k;
            *consumed = k;
            return;
        }
    }
    size_t len = 0;
    uint32_t value = 0;
    if (m->darts && darts_longest(m, s, n, &len, &value) && len > 0) {
        *consumed = len;
        if (value >= m->norm_len) { /* hostile charsmap: replace with nothing */
            *out = "";
            *out_n = 0;
        } else {
            *out = m->norm_str + value;
            *out_n = strlen(*out); /* norm_str is NUL-terminated at norm_len */
        }
        return;
    }
    size_t mb;
    uint32_t cp = sp_decode_utf8(s, n, &mb);
    if (cp == 0xFFFD && mb != 3) {
        /* malformed UTF-8: U+FFFD, one byte consumed */
        *out = "\xEF\xBF\xBD";
        *out_n = 3;
        *consumed = 1;
    } else {
        *out = (const char *)s;
        *out_n = mb;
        *consumed = mb;
    }
}

sc_status sp_normalize(const sp_model *m, const char *in, size_t n, sp_buf *out) {
    const unsigned char *s = (const unsigned char *)in;
    out->n = 0;
    if (n == 0) return SC_OK;
    const char *sp;
    size_t sp_n, used;
    if (m->remove_extra_ws) {
        while (n > 0) {
            normalize_prefix(m, s, n, &sp, &sp_n, &used);
            if (!(sp_n == 1 && sp[0] == ' ')) break;
            s += used;
            n -= used;
        }
    }
    if (n == 0) return SC_OK;
    sc_status st;
    const char *ws = m->escape_ws ? kSpace : " ";
    size_t ws_n = m->escape_ws ? 3 : 1;
    bool prev_space = m->remove_extra_ws;
    if (!m->ws_suffix && m->add_dummy_prefix && (st = sp_buf_append(out, ws, ws_n))) return st;
    while (n > 0) {
        normalize_prefix(m, s, n, &sp, &sp_n, &used);
        while (prev_space && sp_n > 0 && sp[0] == ' ') {
            sp++;
            sp_n--;
        }
        if (sp_n > 0) {
            if (m->escape_ws) {
                size_t start = 0;
                for (size_t i = 0; i < sp_n; i++)
                    if (sp[i] == ' ') {
                        if ((st = sp_buf_append(out, sp + start, i - start))) return st;
                        if ((st = sp_buf_append(out, kSpace, 3))) return st;
                        start = i + 1;
                    }
                if ((st = sp_buf_append(out, sp + start, sp_n - start))) return st;
            } else if ((st = sp_buf_append(out, sp, sp_n))) {
                return st;
            }
            prev_space = sp[sp_n - 1] == ' ';
        }
        s += used;
        n -= used;
        if (!m->remove_extra_ws) prev_space = false;
    }
    if (m->remove_extra_ws) {
        while (out->n >= ws_n && !memcmp(out->p + out->n - ws_n, ws, ws_n)) out->n -= ws_n;
    }
    if (m->ws_suffix && m->add_dummy_prefix && (st = sp_buf_append(out, ws, ws_n))) return st;
    return SC_OK;
}

/* ------------------------------------------------------------- unigram */

typedef struct best_node {
    float score; /* best path score ending here */
    int32_t start; /* -1: unreached */
    int32_t id;
} best_node;

static inline uint32_t trie_step(const sp_trie *t, uint32_t node, unsigned char c) {
    if (node == 0) return t->root[c];
    uint32_t f = t->first[node], k = t->count[node];
    const uint8_t *lab = t->label + f;
    if (k <= 8) {
        for (uint32_t e = 0; e < k; e++)
            if (lab[e] == c) return t->child[f + e];
        return 0;
    }
    uint32_t lo = 0, hi = k;
    while (lo < hi) {
        uint32_t mid = (lo + hi) / 2;
        if (lab[mid] < c) lo = mid + 1;
        else hi = mid;
    }
    return lo < k && lab[lo] == c ? t->child[f + lo] : 0;
}

sc_status sp_encode_normalized(const sp_model *m, const char *norm, size_t n, sp_piece_ref **out,
                               size_t *n_out) {
    *out = NULL;
    *n_out = 0;
    if (n == 0) return SC_OK;
    if (n > INT32_MAX) return SC_ERR_LIMIT;
    const unsigned char *s = (const unsigned char *)norm;
    best_node *best = malloc((n + 1) * sizeof *best);
    if (!best) return SC_ERR_NOMEM;
    for (size_t i = 0; i <= n; i++) {
        best[i].score = 0.0f;
        best[i].start = -1;
        best[i].id = -1;
    }
    const float unk_score = m->min_score - 10.0f;
    const sp_trie *t = &m->pieces;
    size_t at = 0;
    while (at < n) {
        const float here = best[at].score;
        bool single = false;
        size_t mb = sp_one_char_len(s[at]);
        if (mb > n - at) mb = n - at;
        uint32_t node = 0;
        for (size_t k = at; k < n; k++) {
            node = trie_step(t, node, s[k]);
            if (!node) break;
            int32_t id = t->value[node];
            if (id < 0 || m->type[id] == SP_UNUSED) continue;
            size_t length = k + 1 - at;
            best_node *tg = &best[k + 1];
            /* SentencePiece mixes double and float here: the user-defined
             * bonus is a double expression, which promotes the sum and the
             * comparison to double. Reproduced exactly for identical ties. */
            double cand;
            if (m->type[id] == SP_USER_DEFINED)
                cand = ((double)((float)length * m->max_score) - 0.1) + (double)here;
            else
                cand = (double)m->score[id] + (double)here;
            if (tg->start < 0 || cand > (double)tg->score) {
                tg->score = (float)cand;
                tg->start = (int32_t)at;
                tg->id = id;
            }
            if (!single && length == mb) single = true;
        }
        if (!single) {
            best_node *tg = &best[at + mb];
            float cand = unk_score + here;
            if (tg->start < 0 || cand > tg->score) {
                tg->score = cand;
                tg->start = (int32_t)at;
                tg->id = m->unk_id;
            }
        }
        at += mb;
    }
    /* backtrack: count, then fill */
    size_t count = 0;
    for (size_t e = n; e > 0; e = (size_t)best[e].start) {
        if (best[e].start < 0) { /* unreachable end: cannot happen, be safe */
            free(best);
            return SC_ERR_FORMAT;
        }
        count++;
    }
    /* byte fallback may expand an unknown piece into its bytes */
    size_t cap = count;
    if (m->byte_fallback) cap = n;
    sp_piece_ref *res = malloc(cap * sizeof *res);
    if (!res) {
        free(best);
        return SC_ERR_NOMEM;
    }
    size_t k = count;
    for (size_t e = n; e > 0; e = (size_t)best[e].start) {
        k--;
        res[k].id = best[e].id;
        res[k].off = (uint32_t)best[e].start;
        res[k].len = (uint32_t)(e - (size_t)best[e].start);
    }
    free(best);
    /* SentencePieceProcessor::Encode post-processing */
    size_t w = 0;
    bool prev_unk = false;
    if (m->byte_fallback) {
        /* expand from the back so nothing is overwritten */
        size_t total = 0;
        for (size_t i = 0; i < count; i++) total += res[i].id == m->unk_id ? res[i].len : 1;
        size_t d = total;
        for (size_t i = count; i-- > 0;) {
            if (res[i].id == m->unk_id) {
                sp_piece_ref r = res[i];
                for (size_t b = r.len; b-- > 0;) {
                    d--;
                    res[d].id = m->byte_id[s[r.off + b]];
                    res[d].off = r.off + (uint32_t)b;
                    res[d].len = 1;
                }
            } else {
                res[--d] = res[i];
            }
        }
        *out = res;
        *n_out = total;
        return SC_OK;
    }
    for (size_t i = 0; i < count; i++) {
        bool unk = res[i].id == m->unk_id;
        if (unk && prev_unk) {
            res[w - 1].len += res[i].len; /* merge runs of unknowns */
        } else {
            res[w++] = res[i];
        }
        prev_unk = unk;
    }
    *out = res;
    *n_out = w;
    return SC_OK;
}

/* ------------------------------------------------------------- decoding */

sc_status sp_decode_pieces(const sp_model *m, const char *const *pieces, const size_t *lens,
                           const int32_t *ids, size_t n, sp_buf *out) {
    size_t start = out->n;
    bool bos_ws = true, bos_ws_seen = false;
    sc_status st;
    for (size_t i = 0; i < n; i++) {
        int32_t id = ids[i];
        const char *p = pieces[i];
        size_t pn = lens[i];
        if (m->byte_fallback && id >= 0 && m->type[id] == SP_BYTE) {
            /* collect a run of bytes; invalid UTF-8 in it becomes U+FFFD */
            size_t j = i;
            unsigned char tmp[64];
            while (j < n && ids[j] >= 0 && m->type[ids[j]] == SP_BYTE) j++;
            size_t k = i;
            while (k < j) {
                size_t nb = 0;
                while (k < j && nb < sizeof tmp) {
                    const char *bp = m->blob + m->off[ids[k]];
                    int hi = bp[3] <= '9' ? bp[3] - '0' : bp[3] - 'A' + 10;
                    int lo = bp[4] <= '9' ? bp[4] - '0' : bp[4] - 'A' + 10;
                    tmp[nb++] = (unsigned char)(hi * 16 + lo);
                    k++;
                }
                size_t q = 0;
                while (q < nb) {
                    size_t mb;
                    uint32_t cp = sp_decode_utf8(tmp + q, nb - q, &mb);
                    if (cp == 0xFFFD && mb != 3) st = sp_buf_append(out, "\xEF\xBF\xBD", 3);
                    else st = sp_buf_append(out, tmp + q, mb);
                    if (st) return st;
                    q += mb;
                }
            }
            i = j - 1;
            continue;
        }
        if (bos_ws_seen || out->n > start) bos_ws = false;
        bos_ws_seen = false;
        if (id >= 0 && m->type[id] == SP_CONTROL) continue;
        if (id < 0 || m->type[id] == SP_UNKNOWN) {
            int32_t u = m->unk_id;
            if (m->len[u] == pn && !memcmp(m->blob + m->off[u], p, pn))
                st = sp_buf_append(out, m->unk_surface, strlen(m->unk_surface));
            else
                st = sp_buf_append(out, p, pn);
            if (st) return st;
            continue;
        }
        if (bos_ws && !m->ws_suffix && pn >= 3 && !memcmp(p, kSpace, 3)) {
            p += 3;
            pn -= 3;
            bos_ws_seen = true;
        }
        size_t a = 0;
        for (size_t b = 0; b + 3 <= pn;) {
            if (!memcmp(p + b, kSpace, 3)) {
                if ((st = sp_buf_append(out, p + a, b - a)) || (st = sp_buf_append(out, " ", 1))) return st;
                b += 3;
                a = b;
            } else {
                b++;
            }
        }
        if ((st = sp_buf_append(out, p + a, pn - a))) return st;
    }
    return SC_OK;
}
