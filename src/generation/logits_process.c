/* The logits processors of HF transformers 4.41 that switchc supports
 * (repetition penalty, no-repeat n-gram, top-k, top-p), log-softmax, argmax,
 * and the sampling RNG. Each works in place on one row of scores, with
 * scratch supplied by the caller so nothing allocates per token.
 * Left out: HF's other processors (bad words, forced ids, typical/eta/min-p,
 * diversity penalty, ...). */
#include "generation/generate.h"

#include <math.h>
#include <stdlib.h>

void sc_proc_repetition(float *scores, const int32_t *seq, int64_t len, float penalty,
                        float *tmp) {
    /* HF gathers every position first and scatters afterwards, so a token
     * that occurs twice is penalised once: do the same in two passes. */
    for (int64_t i = 0; i < len; i++) {
        float v = scores[seq[i]];
        tmp[i] = v < 0 ? v * penalty : v / penalty;
    }
    for (int64_t i = 0; i < len; i++) scores[seq[i]] = tmp[i];
}

void sc_proc_no_repeat_ngram(float *scores, int64_t vocab, const int32_t *seq, int64_t len,
                             int64_t n) {
    /* HF: no ban while cur_len + 1 < n; otherwise the last n-1 tokens are the
     * prefix, and every earlier n-gram with that prefix bans its last token.
     * n == 1 bans every token already in seq (the start token included). */
    if (n <= 0 || len + 1 < n) return;
    const int32_t *prefix = seq + (len - n + 1);
    for (int64_t j = 0; j + n <= len; j++) {
        int64_t m = 0;
        while (m < n - 1 && seq[j + m] == prefix[m]) m++;
        if (m == n - 1) {
            int32_t t = seq[j + n - 1];
            if (t >= 0 && t < vocab) scores[t] = -INFINITY;
        }
    }
}

/* min-heap of floats, for the k-th largest value */
static void heap_down(float *h, int64_t n, int64_t i) {
    for (;;) {
        int64_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < n && h[l] < h[m]) m = l;
        if (r < n && h[r] < h[m]) m = r;
        if (m == i) return;
        float t = h[i];
        h[i] = h[m];
        h[m] = t;
        i = m;
    }
}

void sc_proc_top_k(float *scores, int64_t vocab, int64_t k, int64_t min_keep, float *tmp) {
    /* HF: top_k = min(max(top_k, min_tokens_to_keep), vocab); remove every
     * score < the k-th largest (ties with it stay). */
    if (k < min_keep) k = min_keep;
    if (k >= vocab || k <= 0) return;
    int64_t n = 0;
    for (int64_t i = 0; i < vocab; i++) {
        float v = scores[i];
        if (n < k) {
            tmp[n++] = v;
            if (n == k)
                for (int64_t j = k / 2; j >= 0; j--) heap_down(tmp, k, j);
        } else if (v > tmp[0]) {
            tmp[0] = v;
            heap_down(tmp, k, 0);
        }
    }
    float kth = tmp[0];
    for (int64_t i = 0; i < vocab; i++)
        if (scores[i] < kth) scores[i] = -INFINITY;
}

static int pair_cmp(const void *a, const void *b) {
    const sc_score_index *x = a, *y = b;
    if (x->v < y->v) return -1;
    if (x->v > y->v) return 1;
    return (x->i > y->i) - (x->i < y->i);
}

void sc_proc_top_p(float *scores, int64_t vocab, double top_p, int64_t min_keep,
                   sc_score_index *p) {
    /* HF: sort ascending, softmax of the sorted scores (float32, times the
     * reciprocal of the sum), cumulative sum (torch accumulates in double and
     * stores float32); remove where cumsum <= 1 - top_p, never the last
     * min_keep. torch.sort is not stable; equal scores go by index here. */
    for (int64_t i = 0; i < vocab; i++) {
        p[i].v = scores[i];
        p[i].i = (int32_t)i;
    }
    qsort(p, (size_t)vocab, sizeof *p, pair_cmp);
    float mx = p[vocab - 1].v;
    double sum = 0;
    for (int64_t i = 0; i < vocab; i++) sum += (double)expf(p[i].v - mx);
    float inv = 1.0f / (float)sum, thr = (float)(1.0 - top_p);
    double cum = 0;
    int64_t keep_from = vocab - (min_keep > 0 ? min_keep : 0);
    for (int64_t i = 0; i < vocab; i++) {
        cum += (double)(expf(p[i].v - mx) * inv);
        if (i < keep_from && (float)cum <= thr) scores[p[i].i] = -INFINITY;
    }
}

void sc_log_softmax(float *out, const float *x, int64_t n) {
    float mx = x[0];
    for (int64_t i = 1; i < n; i++)
        if (x[i] > mx) mx = x[i];
    double sum = 0;
    for (int64_t i = 0; i < n; i++) sum += exp((double)(x[i] - mx));
    float ls = (float)log(sum);
    /* torch keeps this order: (x - max) - log(sum) */
    for (int64_t i = 0; i < n; i++) out[i] = (x[i] - mx) - ls;
}

int64_t sc_argmax(const float *x, int64_t n) {
    int64_t best = 0;
    for (int64_t i = 0; i < n; i++) {
        if (isnan(x[i])) return i;
        if (x[i] > x[best]) best = i;
    }
    return best;
}


int64_t sc_sample_softmax(const float *scores, int64_t vocab, sc_rng *r) {
    float mx = -INFINITY;
    for (int64_t i = 0; i < vocab; i++)
        if (scores[i] > mx) mx = scores[i];
    if (!isfinite(mx)) return -1;
    double total = 0;
    for (int64_t i = 0; i < vocab; i++) total += exp((double)scores[i] - (double)mx);
    double u = sc_rng_uniform(r) * total, cum = 0;
    int64_t last = -1;
    for (int64_t i = 0; i < vocab; i++) {
        double e = exp((double)scores[i] - (double)mx);
        if (e <= 0) continue;
        cum += e;
        last = i;
        if (u < cum) return i;
    }
    return last; /* rounding left u at the very top: the last possible token */
}
