/* T5 span corruption: the noise/span counts T5 and HF compute (numpy's
 * half-to-even rounding), HF's expanded-length helper, the mask's shape,
 * sentinel order, inputs + targets reassembling the original, determinism
 * per seed, and the errors. */
#include "test_util.h"

#include "train/span_corruption.h"

#include <stdint.h>

static sc_tokenizer *tok;

static void test_counts(void) {
    sc_span_params p = sc_span_default_params();
    /* {length, noise tokens, spans}: round(L*0.15) clamped to [1, L-1],
     * max(1, round(noise/3)); 30*0.15 = 4.5 rounds to 4, 10*0.15 = 1.5 to 2 */
    static const int64_t want[][3] = {{2, 1, 1},     {3, 1, 1},     {10, 2, 1},     {30, 4, 1},
                                      {50, 8, 3},    {100, 15, 5},  {114, 17, 6},   {512, 77, 26},
                                      {568, 85, 28}};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        int64_t nz = -1, sp = -1;
        sc_error err;
        CHECK(sc_span_counts(&p, want[i][0], &nz, &sp, &err) == SC_OK);
        CHECKF(nz == want[i][1] && sp == want[i][2], "L=%lld: noise %lld spans %lld, want %lld %lld",
               (long long)want[i][0], (long long)nz, (long long)sp, (long long)want[i][1], (long long)want[i][2]);
    }
    /* HF compute_input_and_target_lengths: 512 -> 568 raw tokens, 114 targets */
    static const int64_t lens[][3] = {{512, 568, 114}, {128, 141, 29}, {64, 70, 14}, {10, 10, 4}};
    for (size_t i = 0; i < 4; i++) {
        int64_t tl = 0, tg = 0;
        sc_error err;
        CHECK(sc_span_lengths(&p, lens[i][0], &tl, &tg, &err) == SC_OK);
        CHECKF(tl == lens[i][1] && tg == lens[i][2], "inputs %lld: tokens %lld targets %lld",
               (long long)lens[i][0], (long long)tl, (long long)tg);
    }
    int64_t a, b;
    sc_error err;
    CHECK(sc_span_counts(&p, 1, &a, &b, &err) == SC_ERR_INVALID_ARG);
    sc_span_params dense = {0.9, 3.0}; /* 10 tokens: 9 noise in 3 spans, 1 token cannot separate them */
    CHECK(sc_span_counts(&dense, 10, &a, &b, &err) == SC_ERR_INVALID_ARG && strstr(err.msg, "3 spans"));
    sc_span_params bad = {1.5, 3.0};
    CHECK(sc_span_counts(&bad, 10, &a, &b, &err) == SC_ERR_INVALID_ARG);
    bad = (sc_span_params){0.15, 0.5};
    CHECK(sc_span_lengths(&bad, 100, &a, &b, &err) == SC_ERR_INVALID_ARG);
}

/* Noise runs of a mask; checks it has `noise` ones in `spans` runs and
 * starts with non-noise. */
static void check_mask(const uint8_t *m, int64_t L, int64_t noise, int64_t spans) {
    int64_t ones = 0, runs = 0;
    for (int64_t i = 0; i < L; i++) {
        ones += m[i];
        if (m[i] && (i == 0 || !m[i - 1])) runs++;
    }
    CHECKF(ones == noise && runs == spans && m[0] == 0 && m[L - 1] == 1,
           "L=%lld: %lld noise in %lld runs, want %lld in %lld", (long long)L, (long long)ones, (long long)runs,
           (long long)noise, (long long)spans);
}

static void test_masks(void) {
    sc_span_params p = sc_span_default_params();
    int64_t Ls[] = {2, 5, 10, 37, 100, 568};
    uint8_t m1[600], m2[600], m3[600];
    for (size_t k = 0; k < sizeof Ls / sizeof Ls[0]; k++) {
        int64_t L = Ls[k], nz, sp;
        sc_error err;
        sc_span_counts(&p, L, &nz, &sp, &err);
        sc_rng r1, r2, r3;
        sc_rng_seed(&r1, 1234, 7);
        sc_rng_seed(&r2, 1234, 7);
        sc_rng_seed(&r3, 99, 7);
        CHECK(sc_span_noise_mask(&p, L, &r1, m1, &err) == SC_OK);
        CHECK(sc_span_noise_mask(&p, L, &r2, m2, &err) == SC_OK);
        CHECK(sc_span_noise_mask(&p, L, &r3, m3, &err) == SC_OK);
        check_mask(m1, L, nz, sp);
        check_mask(m3, L, nz, sp);
        CHECK(memcmp(m1, m2, (size_t)L) == 0);
        if (L >= 37)
            CHECKF(memcmp(m1, m3, (size_t)L) != 0, "L=%lld: seeds 1234 and 99 give one mask", (long long)L);
    }
    /* every segmentation is reachable: over many draws the first noise span
     * of L=100 (5 spans of 15 tokens) takes many different lengths */
    sc_rng r;
    sc_rng_seed(&r, 5, 0);
    bool seen[16] = {false};
    for (int i = 0; i < 400; i++) {
        sc_error err;
        CHECK(sc_span_noise_mask(&p, 100, &r, m1, &err) == SC_OK);
        int64_t s = 0;
        while (!m1[s]) s++;
        int64_t e = s;
        while (e < 100 && m1[e]) e++;
        if (e - s < 16) seen[e - s] = true;
    }
    int kinds = 0;
    for (int i = 0; i < 16; i++) kinds += seen[i];
    CHECKF(kinds >= 6, "only %d distinct first-span lengths", kinds);
}

/* Rebuilds the original from inputs + targets: each sentinel in the inputs is
 * replaced by what follows the same sentinel in the targets. */
static int64_t reassemble(const int32_t *in, int64_t ni, const int32_t *tg, int64_t nt, int32_t *out) {
    int32_t first = sc_tokenizer_sentinel_id(tok, 99), last = sc_tokenizer_sentinel_id(tok, 0);
    int32_t eos = sc_tokenizer_eos_id(tok);
    int64_t n = 0;
    for (int64_t i = 0; i < ni && in[i] != eos; i++) {
        if (in[i] >= first && in[i] <= last) {
            int64_t j = 0;
            while (j < nt && tg[j] != in[i]) j++;
            for (j++; j < nt && tg[j] != eos && !(tg[j] >= first && tg[j] <= last); j++) out[n++] = tg[j];
        } else {
            out[n++] = in[i];
        }
    }
    return n;
}

static void test_corrupt(void) {
    sc_error err;
    int32_t x0 = sc_tokenizer_sentinel_id(tok, 0), x1 = sc_tokenizer_sentinel_id(tok, 1);
    int32_t x2 = sc_tokenizer_sentinel_id(tok, 2), eos = sc_tokenizer_eos_id(tok);
    CHECK(x0 == 32099 && x1 == 32098 && eos == 1);
    /* a hand example: tokens 10..19, noise at 2,3 and 7,8 */
    int32_t t[10] = {10, 11, 12, 13, 14, 15, 16, 17, 18, 19};
    uint8_t m[10] = {0, 0, 1, 1, 0, 0, 0, 1, 1, 0};
    int32_t in[11], tg[11];
    int64_t ni, nt;
    CHECK(sc_span_corrupt(tok, t, 10, m, in, &ni, tg, &nt, &err) == SC_OK);
    int32_t win[] = {10, 11, x0, 14, 15, 16, x1, 19, eos};
    int32_t wtg[] = {x0, 12, 13, x1, 17, 18, x2, eos}; /* HF: the last non-noise run gets a sentinel too */
    CHECK(ni == 9 && memcmp(in, win, sizeof win) == 0);
    CHECK(nt == 8 && memcmp(tg, wtg, sizeof wtg) == 0);

    /* a real text with the default mask */
    const char *text = "The quick brown fox jumps over the lazy dog, and then it runs far away into the green "
                       "forest where nobody can find it for a very long time.";
    int32_t ids[200];
    size_t n = 0;
    CHECK(sc_tokenizer_encode(tok, text, strlen(text), false, ids, 200, &n, &err) == SC_OK && n > 20);
    sc_span_params p = sc_span_default_params();
    sc_rng r;
    sc_rng_seed(&r, 42, 0);
    uint8_t mask[200];
    CHECK(sc_span_noise_mask(&p, (int64_t)n, &r, mask, &err) == SC_OK);
    int32_t cin[201], ctg[201], back[201];
    CHECK(sc_span_corrupt(tok, ids, (int64_t)n, mask, cin, &ni, ctg, &nt, &err) == SC_OK);
    int64_t nz, sp;
    sc_span_counts(&p, (int64_t)n, &nz, &sp, &err);
    CHECK(ni == (int64_t)n - nz + sp + 1 && nt == nz + sp + 1);
    CHECK(cin[ni - 1] == eos && ctg[nt - 1] == eos);
    /* sentinels in order: <extra_id_0>, <extra_id_1>, ... in both */
    int64_t k = 0;
    for (int64_t i = 0; i < ni; i++)
        if (cin[i] >= sc_tokenizer_sentinel_id(tok, 99) && cin[i] <= x0)
            CHECK(cin[i] == sc_tokenizer_sentinel_id(tok, (int)k++));
    CHECK(k == sp);
    CHECK(ctg[0] == x0);
    int64_t nb = reassemble(cin, ni, ctg, nt, back);
    CHECKF(nb == (int64_t)n && memcmp(back, ids, n * 4) == 0, "reassembled %lld of %zu tokens", (long long)nb, n);

    /* more spans than sentinels: every other token is noise */
    int32_t many[300];
    uint8_t alt[300];
    for (int i = 0; i < 300; i++) {
        many[i] = 100 + i;
        alt[i] = (uint8_t)(i & 1);
    }
    int32_t bi[301], bt[301];
    CHECK(sc_span_corrupt(tok, many, 300, alt, bi, &ni, bt, &nt, &err) == SC_ERR_LIMIT &&
          strstr(err.msg, "<extra_id_100>"));
}

int main(void) {
    sc_error err;
    if (sc_tokenizer_load(fixture_path("tokenizer/spiece.model"), &tok, &err) != SC_OK) {
        fprintf(stderr, "tokenizer: %s\n", err.msg);
        return 1;
    }
    test_counts();
    test_masks();
    test_corrupt();
    sc_tokenizer_free(tok);
    TEST_MAIN_END();
}
