/* Span filling: the prompt with each <extra_id_N> replaced by the text the
 * model generated after sentinel N (up to the next sentinel or </s>), the
 * way T5/Switch span-corruption outputs are read. A marker whose sentinel
 * the output lacks stays in the text (and is counted): deleting it would
 * hide that the model skipped a span. Markers are matched as the tokenizer
 * matches them: "<extra_id_01>" or "<extra_id_ 1>" is plain text. */
#include "core/error.h"
#include "switchc.h"

#include <stdlib.h>
#include <string.h>

typedef struct out_buf {
    char *p;
    size_t cap, len;
} out_buf;

static void put(out_buf *o, const char *s, size_t n) {
    if (o->len + n < o->cap) memcpy(o->p + o->len, s, n);
    o->len += n;
}

/* A sentinel: an id the tokenizer decodes at or past its SentencePiece pieces. */
static bool is_sentinel(const sc_tokenizer *t, int32_t id) {
    return id >= sc_tokenizer_sp_size(t) && id < sc_tokenizer_vocab_size(t);
}

sc_status sc_fill_spans(const sc_tokenizer *t, const char *prompt, const int32_t *ids, size_t n,
                        char *buf, size_t cap, size_t *len_out, size_t *n_missing, sc_error *err) {
    if (!t || !prompt || (!ids && n) || (!buf && cap))
        return sc_fail(err, SC_ERR_INVALID_ARG, SC_NO_OFFSET, "fill: NULL argument");
    out_buf o = {buf, cap, 0};
    char *span = NULL;
    size_t span_cap = 0;
    sc_status st = SC_OK;
    size_t missing = 0;
    const char *p = prompt;
    while (*p) {
        const char *s = strstr(p, "<extra_id_");
        if (!s) {
            put(&o, p, strlen(p));
            break;
        }
        /* canonical decimal only, as the tokenizer matches markers */
        const char *end = s + 10;
        long k = 0;
        while (*end >= '0' && *end <= '9' && end - s < 17) k = k * 10 + (*end++ - '0');
        bool canonical = end > s + 10 && *end == '>' && !(s[10] == '0' && end > s + 11);
        int32_t sid = canonical && k < 100000 ? sc_tokenizer_sentinel_id(t, (int)k) : -1;
        if (sid < 0) { /* not a sentinel: copy the '<' and go on */
            put(&o, p, (size_t)(s - p) + 1);
            p = s + 1;
            continue;
        }
        put(&o, p, (size_t)(s - p));
        size_t i = 0;
        while (i < n && ids[i] != sid) i++;
        if (i == n) { /* no such span in the output: keep the marker */
            put(&o, s, (size_t)(end + 1 - s));
            missing++;
            p = end + 1;
            continue;
        }
        size_t j = i + 1;
        while (j < n && ids[j] != sc_tokenizer_eos_id(t) && !is_sentinel(t, ids[j])) j++;
        if (j > i + 1) {
            size_t len = 0;
            for (;;) {
                st = sc_tokenizer_decode(t, ids + i + 1, j - i - 1, SC_DECODE_SKIP_SPECIAL | SC_DECODE_SKIP_UNKNOWN,
                                         span, span_cap, &len, err);
                if (st != SC_ERR_BUFFER_TOO_SMALL) break;
                char *nb = realloc(span, len + 1);
                if (!nb) {
                    st = sc_fail(err, SC_ERR_NOMEM, SC_NO_OFFSET, "fill: out of memory");
                    break;
                }
                span = nb;
                span_cap = len + 1;
            }
            if (st) break;
            put(&o, span, len);
        }
        p = end + 1;
    }
    free(span);
    if (st) return st;
    if (len_out) *len_out = o.len;
    if (n_missing) *n_missing = missing;
    if (o.len >= cap)
        return sc_fail(err, SC_ERR_BUFFER_TOO_SMALL, SC_NO_OFFSET, "fill: %zu bytes needed", o.len + 1);
    buf[o.len] = '\0';
    return SC_OK;
}
