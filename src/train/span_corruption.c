/* T5 span corruption: noise-mask counts, the random segmentation, and the
 * sentinel inputs/targets (see span_corruption.h). Leaves out packing. */
#include "train/span_corruption.h"

#include "core/error.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

sc_span_params sc_span_default_params(void) {
    sc_span_params p = {0.15, 3.0};
    return p;
}

/* numpy's np.round / Python's round on a double: half to even. rint does
 * that in the default rounding mode. */
static int64_t round_even(double x) { return (int64_t)rint(x); }

static sc_status check_params(const sc_span_params *p, sc_error *err) {
    if (!p || !(p->noise_density > 0 && p->noise_density < 1) || !(p->mean_noise_span_length >= 1) ||
        !isfinite(p->mean_noise_span_length))
        return sc_fail(err, SC_ERR_INVALID_ARG, SC_NO_OFFSET,
                       "span corruption: noise_density must be in (0, 1) and mean_noise_span_length >= 1");
    return SC_OK;
}

sc_status sc_span_counts(const sc_span_params *p, int64_t length, int64_t *num_noise, int64_t *num_spans,
                         sc_error *err) {
    sc_status st = check_params(p, err);
    if (st) return st;
    if (length < 2 || length > ((int64_t)1 << 40))
        return sc_fail(err, SC_ERR_INVALID_ARG, SC_NO_OFFSET,
                       "span corruption: a sequence of %lld tokens cannot be corrupted (needs 2 or more)",
                       (long long)length);
    int64_t noise = round_even((double)length * p->noise_density);
    if (noise < 1) noise = 1;
    if (noise > length - 1) noise = length - 1;
    int64_t spans = round_even((double)noise / p->mean_noise_span_length);
    if (spans < 1) spans = 1;
    if (spans > length - noise || spans > noise)
        return sc_fail(err, SC_ERR_INVALID_ARG, SC_NO_OFFSET,
                       "span corruption: %lld tokens with noise_density %g give %lld spans, more than the "
                       "%lld non-noise tokens can separate",
                       (long long)length, p->noise_density, (long long)spans, (long long)(length - noise));
    *num_noise = noise;
    *num_spans = spans;
    return SC_OK;
}

/* HF's _tokens_length_to_inputs_length_targets_length: no clamping here,
 * Python round (half to even). */
static void corrupted_lengths(const sc_span_params *p, int64_t L, int64_t *in_len, int64_t *tg_len) {
    int64_t noise = round_even((double)L * p->noise_density);
    int64_t spans = round_even((double)noise / p->mean_noise_span_length);
    *in_len = (L - noise) + spans + 1;
    *tg_len = noise + spans + 1;
}

sc_status sc_span_lengths(const sc_span_params *p, int64_t inputs_length, int64_t *tokens_length,
                          int64_t *targets_length, sc_error *err) {
    sc_status st = check_params(p, err);
    if (st) return st;
    if (inputs_length < 2 || inputs_length > ((int64_t)1 << 30))
        return sc_fail(err, SC_ERR_INVALID_ARG, SC_NO_OFFSET, "span corruption: bad inputs length %lld",
                       (long long)inputs_length);
    int64_t L = inputs_length, in_len, tg_len;
    for (;;) {
        corrupted_lengths(p, L + 1, &in_len, &tg_len);
        if (in_len > inputs_length) break;
        L++;
    }
    corrupted_lengths(p, L, &in_len, &tg_len);
    /* HF: with density exactly 0.5, keep the targets no longer than the inputs */
    if (p->noise_density == 0.5 && tg_len > inputs_length) {
        L--;
        tg_len--;
    }
    *tokens_length = L;
    *targets_length = tg_len;
    return SC_OK;
}

/* _random_segmentation: num_items split into num_segments non-empty
 * segments; a shuffled array of num_items - 1 "a segment starts after this
 * item" flags of which num_segments - 1 are set. out[num_segments]. */
static void random_segmentation(int64_t num_items, int64_t num_segments, sc_rng *rng, uint8_t *flags,
                                int64_t *out) {
    int64_t m = num_items - 1;
    for (int64_t i = 0; i < m; i++) flags[i] = i < num_segments - 1;
    /* Fisher-Yates, as np.random.shuffle */
    for (int64_t i = m - 1; i > 0; i--) {
        int64_t j = (int64_t)(sc_rng_uniform(rng) * (double)(i + 1));
        if (j > i) j = i;
        uint8_t t = flags[i];
        flags[i] = flags[j];
        flags[j] = t;
    }
    int64_t seg = 0;
    for (int64_t s = 0; s < num_segments; s++) out[s] = 0;
    out[0] = 1;
    for (int64_t i = 0; i < m; i++) {
        if (flags[i]) seg++;
        out[seg]++;
    }
}

sc_status sc_span_noise_mask(const sc_span_params *p, int64_t length, sc_rng *rng, uint8_t *mask,
                             sc_error *err) {
    int64_t noise, spans;
    sc_status st = sc_span_counts(p, length, &noise, &spans, err);
    if (st) return st;
    if (!rng || !mask) return sc_fail(err, SC_ERR_INVALID_ARG, SC_NO_OFFSET, "span corruption: NULL argument");
    /* scratch: flags[length] + two length arrays of spans each */
    uint8_t *flags = malloc((size_t)length);
    int64_t *lens = malloc(sizeof(int64_t) * 2 * (size_t)spans);
    if (!flags || !lens) {
        free(flags);
        free(lens);
        return sc_fail(err, SC_ERR_NOMEM, SC_NO_OFFSET, "span corruption: out of memory");
    }
    int64_t *noise_lens = lens, *keep_lens = lens + spans;
    random_segmentation(noise, spans, rng, flags, noise_lens);
    random_segmentation(length - noise, spans, rng, flags, keep_lens);
    /* interleave: keep, noise, keep, noise, ... */
    int64_t pos = 0;
    for (int64_t s = 0; s < spans; s++) {
        memset(mask + pos, 0, (size_t)keep_lens[s]);
        pos += keep_lens[s];
        memset(mask + pos, 1, (size_t)noise_lens[s]);
        pos += noise_lens[s];
    }
    free(flags);
    free(lens);
    return SC_OK;
}

sc_status sc_span_corrupt(const sc_tokenizer *t, const int32_t *tokens, int64_t n, const uint8_t *mask,
                          int32_t *inputs, int64_t *n_inputs, int32_t *targets, int64_t *n_targets,
                          sc_error *err) {
    if (!t || (n > 0 && (!tokens || !mask)) || !inputs || !targets || !n_inputs || !n_targets || n < 0)
        return sc_fail(err, SC_ERR_INVALID_ARG, SC_NO_OFFSET, "span corruption: NULL argument");
    int32_t eos = sc_tokenizer_eos_id(t);
    int64_t ni = 0, nt = 0, in_sent = 0, tg_sent = 0;
    for (int64_t i = 0; i < n; i++) {
        bool noise = mask[i] != 0;
        bool starts = i == 0 || (mask[i - 1] != 0) != noise;
        /* a noise run: one sentinel in the inputs, its tokens in the targets;
         * a non-noise run: the reverse (HF create_sentinel_ids on mask and ~mask) */
        int32_t *run_out = noise ? targets : inputs;
        int64_t *run_n = noise ? &nt : &ni;
        int32_t *sent_out = noise ? inputs : targets;
        int64_t *sent_n = noise ? &ni : &nt;
        int64_t *counter = noise ? &in_sent : &tg_sent;
        if (starts) {
            int32_t id = *counter > 0x7fffffff ? -1 : sc_tokenizer_sentinel_id(t, (int)*counter);
            if (id < 0)
                return sc_fail(err, SC_ERR_LIMIT, SC_NO_OFFSET,
                               "span corruption: the sequence needs sentinel <extra_id_%lld>, which the "
                               "tokenizer does not have",
                               (long long)*counter);
            sent_out[(*sent_n)++] = id;
            (*counter)++;
        }
        run_out[(*run_n)++] = tokens[i];
    }
    inputs[ni++] = eos;
    targets[nt++] = eos;
    *n_inputs = ni;
    *n_targets = nt;
    return SC_OK;
}
