/* Unit tests of the model's building blocks, with expectations derived by
 * hand from the T5 / Switch definitions (not from our own output). */
#include "model/attention.h"
#include "model/forward.h"
#include "model/moe.h"
#include "test_util.h"

static void test_buckets(void) {
    /* bidirectional, 32 buckets, max_distance 128: 16 per direction, 8 exact */
    CHECK(sc_relative_bucket(0, true, 32, 128) == 0);
    CHECK(sc_relative_bucket(-1, true, 32, 128) == 1);
    CHECK(sc_relative_bucket(1, true, 32, 128) == 17);
    CHECK(sc_relative_bucket(-7, true, 32, 128) == 7);
    /* 8 + floor(log(8/8)/log(16)*8) = 8 */
    CHECK(sc_relative_bucket(-8, true, 32, 128) == 8);
    /* 8 + floor(log(127/8)/log(16)*8) = 8 + floor(7.977) = 15 */
    CHECK(sc_relative_bucket(-127, true, 32, 128) == 15);
    CHECK(sc_relative_bucket(-100000, true, 32, 128) == 15);
    CHECK(sc_relative_bucket(100000, true, 32, 128) == 31);
    /* 16 + 8 + floor(log(16/8)/log(16)*8) = 16 + 8 + 2 = 26 */
    CHECK(sc_relative_bucket(16, true, 32, 128) == 26);
    /* causal: keys after the query all land in bucket 0 */
    CHECK(sc_relative_bucket(5, false, 32, 128) == 0);
    CHECK(sc_relative_bucket(-15, false, 32, 128) == 15);
    /* 16 + floor(log(20/16)/log(8)*16) = 16 + floor(1.717) = 17 */
    CHECK(sc_relative_bucket(-20, false, 32, 128) == 17);
    CHECK(sc_relative_bucket(-5000, false, 32, 128) == 31);
}

static void test_capacity(void) {
    /* 2 rows x 5 tokens, 3 experts; logits make the top-1 choices
     * row 0: 0 0 1 0 0   row 1: 2 2 2 1 0 */
    const int64_t rows = 2, T = 5, E = 3;
    const int choice[10] = {0, 0, 1, 0, 0, 2, 2, 2, 1, 0};
    float logits[30];
    for (int n = 0; n < 10; n++)
        for (int e = 0; e < E; e++) logits[n * E + e] = e == choice[n] ? 2.0f : 0.0f;
    int32_t ex[10], kept[10], top1[10];
    float pmax[10];
    int64_t counts[3];
    sc_route_top1(logits, rows, T, E, 2, SC_DROP_HF4, ex, kept, top1, pmax, counts);
    /* capacity 2 per row: the third and later tokens of an expert drop */
    const int want_kept[10] = {1, 1, 1, 0, 0, 1, 1, 0, 1, 1};
    int ok = 1;
    for (int n = 0; n < 10; n++) {
        ok &= kept[n] == want_kept[n];
        ok &= top1[n] == choice[n];
        ok &= ex[n] == (want_kept[n] ? choice[n] : 0); /* HF reports 0 for dropped */
    }
    CHECK(ok);
    /* softmax([2,0,0]) max = e^2 / (e^2 + 2) */
    CHECK(fabsf(pmax[0] - (float)(exp(2.0) / (exp(2.0) + 2.0))) < 1e-6f);
    sc_route_top1(logits, rows, T, E, 2, SC_DROP_NONE, ex, kept, top1, pmax, counts);
    ok = 1;
    for (int n = 0; n < 10; n++) ok &= kept[n] == 1 && ex[n] == choice[n];
    CHECK(ok);
    /* ties go to the first expert */
    float tie[3] = {1.0f, 1.0f, 0.5f};
    sc_route_top1(tie, 1, 1, 3, 1, SC_DROP_HF4, ex, kept, top1, pmax, counts);
    CHECK(top1[0] == 0);
}

static void test_losses(void) {
    /* z-loss of all-zero logits over E experts = log(E)^2 */
    float zeros[12] = {0};
    CHECK(fabs(sc_router_z_loss(zeros, 1, 3, 4) - log(4.0) * log(4.0)) < 1e-9);
    /* uniform probs, all tokens to expert 0: sum_e frac_e * 1/E = 1/E;
     * mean over experts -> 1/E^2; times E^2 -> 1 */
    int32_t ex[3] = {0, 0, 0};
    CHECK(fabs(sc_router_aux_loss(zeros, ex, 1, 3, 4) - 1.0) < 1e-9);
    int32_t labels[4] = {5, 7, -100, -100}, dec[4];
    sc_shift_right(dec, labels, 1, 4, 0, 0);
    CHECK(dec[0] == 0 && dec[1] == 5 && dec[2] == 7 && dec[3] == 0);
}

int main(void) {
    test_buckets();
    test_capacity();
    test_losses();
    TEST_MAIN_END();
}
