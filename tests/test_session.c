/* Sessions: cached incremental decoding equals a full recompute; selecting
 * rows (beam expansion / reordering) carries every cache along; bad calls
 * are errors, not crashes. */
#include "model/session.h"
#include "test_util.h"

#define CASE SC_FIXTURES_DIR "/models/e8_step2_untied_heads_ne_dmodel"

static float max_diff(const float *a, const float *b, size_t n) {
    float m = 0;
    for (size_t i = 0; i < n; i++) m = fmaxf(m, fabsf(a[i] - b[i]));
    return m;
}

int main(void) {
    sc_model *m;
    sc_error err;
    CHECK(sc_model_load(CASE, NULL, &m, &err) == SC_OK);
    sc_session *s;
    CHECK(sc_session_new(m, &s, &err) == SC_OK);
    /* capacity drops differ between a T-token call and T one-token calls (as
     * in HF), so compare with no capacity limit */
    sc_session_set_drop_policy(s, SC_DROP_NONE);
    const int64_t B = 2, S = 5, T = 6, V = sc_model_vocab_size(m);
    int32_t ids[10] = {5, 9, 17, 3, 1, 8, 8, 2, 1, 0}, mask[10] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 0};
    int32_t dec[12] = {0, 11, 12, 13, 14, 15, 0, 21, 22, 23, 24, 25};
    float *full = malloc(sizeof(float) * B * T * V), *step = malloc(sizeof(float) * B * T * V);
    float *lg = malloc(sizeof(float) * B * V);

    CHECK(sc_session_encode(s, ids, mask, B, S, &err) == SC_OK);
    CHECK(sc_session_decode(s, dec, T, full, NULL, &err) == SC_OK);
    CHECK(sc_session_decoded_len(s) == T);

    CHECK(sc_session_encode(s, ids, mask, B, S, &err) == SC_OK);
    CHECK(sc_session_decoded_len(s) == 0);
    for (int64_t t = 0; t < T; t++) {
        int32_t tok[2] = {dec[t], dec[T + t]};
        CHECK(sc_session_decode_step(s, tok, lg, &err) == SC_OK);
        for (int64_t b = 0; b < B; b++) memcpy(step + (b * T + t) * V, lg + b * V, sizeof(float) * V);
    }
    float d = max_diff(full, step, (size_t)(B * T * V));
    printf("cached vs full recompute: max_abs=%.3e\n", d);
    CHECK(d < 1e-4f);

    /* select_rows: rows (1, 0, 1) after 3 steps continue exactly like the
     * original rows */
    CHECK(sc_session_encode(s, ids, mask, B, S, &err) == SC_OK);
    for (int64_t t = 0; t < 3; t++) {
        int32_t tok[2] = {dec[t], dec[T + t]};
        CHECK(sc_session_decode_step(s, tok, lg, &err) == SC_OK);
    }
    int32_t src[3] = {1, 0, 1};
    CHECK(sc_session_select_rows(s, src, 3, &err) == SC_OK);
    CHECK(sc_session_rows(s) == 3);
    float *lg3 = malloc(sizeof(float) * 3 * V);
    int32_t tok3[3] = {dec[T + 3], dec[3], dec[T + 3]};
    CHECK(sc_session_decode_step(s, tok3, lg3, &err) == SC_OK);
    CHECK(max_diff(lg3, step + (1 * T + 3) * V, (size_t)V) < 1e-4f);
    CHECK(max_diff(lg3 + V, step + (0 * T + 3) * V, (size_t)V) < 1e-4f);
    CHECK(max_diff(lg3 + 2 * V, step + (1 * T + 3) * V, (size_t)V) < 1e-4f);

    /* same row count: an in-place reorder (beam search); rows become
     * (orig 0, orig 0, orig 1) */
    int32_t perm[3] = {1, 1, 0};
    CHECK(sc_session_select_rows(s, perm, 3, &err) == SC_OK);
    int32_t tok4[3] = {dec[4], dec[4], dec[T + 4]};
    CHECK(sc_session_decode_step(s, tok4, lg3, &err) == SC_OK);
    CHECK(max_diff(lg3, step + (0 * T + 4) * V, (size_t)V) < 1e-4f);
    CHECK(max_diff(lg3 + V, step + (0 * T + 4) * V, (size_t)V) < 1e-4f);
    CHECK(max_diff(lg3 + 2 * V, step + (1 * T + 4) * V, (size_t)V) < 1e-4f);

    /* re-encoding reuses the encoder-side buffers (smaller, then the first
     * size again): results equal a fresh session's */
    {
        int32_t ids1[3] = {7, 4, 1}, dec1[2] = {0, 31};
        float *a = malloc(sizeof(float) * 2 * V), *b = malloc(sizeof(float) * 2 * V);
        sc_session *f2;
        CHECK(sc_session_new(m, &f2, &err) == SC_OK);
        sc_session_set_drop_policy(f2, SC_DROP_NONE);
        CHECK(sc_session_encode(f2, ids1, NULL, 1, 3, &err) == SC_OK);
        CHECK(sc_session_decode(f2, dec1, 2, a, NULL, &err) == SC_OK);
        CHECK(sc_session_encode(s, ids1, NULL, 1, 3, &err) == SC_OK);
        CHECK(sc_session_rows(s) == 1 && sc_session_decoded_len(s) == 0);
        CHECK(sc_session_decode(s, dec1, 2, b, NULL, &err) == SC_OK);
        CHECK(max_diff(a, b, (size_t)(2 * V)) == 0.0f);
        float *again = malloc(sizeof(float) * B * T * V);
        CHECK(sc_session_encode(s, ids, mask, B, S, &err) == SC_OK);
        CHECK(sc_session_decode(s, dec, T, again, NULL, &err) == SC_OK);
        CHECK(max_diff(full, again, (size_t)(B * T * V)) == 0.0f);

        /* the cross K/V are made by the first decode or row selection after
         * an encode: an encode-only request leaves none, a later smaller
         * request makes them at its size, and a larger one then regrows
         * them; rows selected before any step decode like the originals */
        sc_session *f3;
        CHECK(sc_session_new(m, &f3, &err) == SC_OK);
        sc_session_set_drop_policy(f3, SC_DROP_NONE);
        CHECK(sc_session_encode(f3, ids, mask, B, S, &err) == SC_OK);
        CHECK(sc_session_encode(f3, ids1, NULL, 1, 3, &err) == SC_OK);
        CHECK(sc_session_decode(f3, dec1, 2, b, NULL, &err) == SC_OK);
        CHECK(max_diff(a, b, (size_t)(2 * V)) == 0.0f);
        CHECK(sc_session_encode(f3, ids, mask, B, S, &err) == SC_OK);
        CHECK(sc_session_decode(f3, dec, T, again, NULL, &err) == SC_OK);
        CHECK(max_diff(full, again, (size_t)(B * T * V)) == 0.0f);
        CHECK(sc_session_encode(f3, ids, mask, B, S, &err) == SC_OK);
        CHECK(sc_session_select_rows(f3, src, 3, &err) == SC_OK);
        int32_t tok0[3] = {dec[T], dec[0], dec[T]};
        CHECK(sc_session_decode_step(f3, tok0, lg3, &err) == SC_OK);
        CHECK(max_diff(lg3, step + (1 * T) * V, (size_t)V) < 1e-4f);
        CHECK(max_diff(lg3 + V, step, (size_t)V) < 1e-4f);
        CHECK(max_diff(lg3 + 2 * V, step + (1 * T) * V, (size_t)V) < 1e-4f);
        sc_session_free(f3);

        /* back to 3 rows for the error checks below */
        CHECK(sc_session_select_rows(s, src, 3, &err) == SC_OK);
        free(again);
        free(a);
        free(b);
        sc_session_free(f2);
    }

    /* errors */
    int32_t bad[2] = {(int32_t)V, 0};
    CHECK(sc_session_decode_step(s, bad, lg3, &err) == SC_ERR_INVALID_ARG);
    CHECK(strstr(err.msg, "outside the vocabulary") != NULL);
    int32_t badsrc[1] = {7};
    CHECK(sc_session_select_rows(s, badsrc, 1, &err) == SC_ERR_INVALID_ARG);
    CHECK(sc_session_rows(s) == 3); /* unchanged */
    CHECK(sc_session_encode(s, ids, mask, 0, S, &err) == SC_ERR_INVALID_ARG);
    sc_session *fresh;
    CHECK(sc_session_new(m, &fresh, &err) == SC_OK);
    CHECK(sc_session_decode_step(fresh, tok3, lg3, &err) == SC_ERR_INVALID_ARG);
    sc_session_free(fresh);
    sc_session_free(NULL);
    sc_model_free(NULL);

    free(full);
    free(step);
    free(lg);
    free(lg3);
    sc_session_free(s);
    sc_model_free(m);
    TEST_MAIN_END();
}
