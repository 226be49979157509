/* Span filling: the prompt with each <extra_id_N> replaced by the text the
 * model generated after sentinel N (up to the next sentinel or </s>), the
 * way T5/Switch span-corruption outputs are read. */
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

sc_status sc_fill_spans(const sc_tokenizer *t, const char *prompt, const int32_t *ids, size_t n,
                        char *buf, size_t cap, size_t *len_out, sc_error *err) {
    if (!t || !prompt || (!ids && n) || (!buf && cap))
        return sc_fail(err, SC_ERR_INVALID_ARG, SC_NO_OFFSET, "fill: NULL argument");
    out_buf o = {buf, cap, 0};
    char *span = NULL;
    size_t span_cap = 0;
    sc_status st = SC_OK;
    const char *p = prompt;
    while (*p) {
        const char *s = strstr(p, "<extra_id_");
        if (!s) {
            put(&o, p, strlen(p));
            break;
        }
        char *end;
        long k = strtol(s + 10, &end, 10);
        int32_t sid = (end > s + 10 && *end == '>' && k >= 0 && k < 1000) ? sc_tokenizer_sentinel_id(t, (int)k) : -1;
        if (sid < 0) { /* not a sentinel: copy the '<' and go on */
            put(&o, p, (size_t)(s - p) + 1);
            p = s + 1;
            continue;
        }
        put(&o, p, (size_t)(s - p));
        size_t i = 0;
        while (i < n && ids[i] != sid) i++;
        size_t j = i + 1;
        while (j < n && ids[j] != sc_tokenizer_eos_id(t) && ids[j] < sc_tokenizer_sp_size(t)) j++;
        if (i < n && j > i + 1) {
            size_t len = 0;
            for (;;) {
                st = sc_tokenizer_decode(t, ids + i + 1, j - i - 1, SC_DECODE_SKIP_SPECIAL, span, span_cap, &len, err);
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
    if (o.len >= cap)
        return sc_fail(err, SC_ERR_BUFFER_TOO_SMALL, SC_NO_OFFSET, "fill: %zu bytes needed", o.len + 1);
    buf[o.len] = '\0';
    return SC_OK;
}
