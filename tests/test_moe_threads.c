/* Sparse layers with a pool: when enough experts are used, each thread runs
 * whole experts on its own lane (expert-parallel); with fewer, each GEMM is
 * split over the pool. Both must give exactly the single-threaded result,
 * for fp32, bf16 and q8 weights, with and without dropped tokens. The test
 * checks through the stats that every expert of the first sparse layer was
 * used, so the 2-thread run took the expert-parallel path. */
#include "model/session.h"
#include "test_util.h"

#define CASE SC_FIXTURES_DIR "/models/e8_step2_untied_heads_ne_dmodel"

static float *encode(const char *dir, int threads, sc_dtype dtype, sc_drop_policy policy,
                     const int32_t *ids, int64_t B, int64_t S, int64_t *used_first) {
    sc_model_params p = sc_model_default_params();
    p.n_threads = threads;
    p.dtype = dtype;
    sc_model *m;
    sc_error err;
    if (sc_model_load(dir, &p, &m, &err) != SC_OK) return NULL;
    sc_session *s;
    float *out = NULL;
    if (sc_session_new(m, &s, &err) == SC_OK) {
        sc_session_set_drop_policy(s, policy);
        if (sc_session_encode(s, ids, NULL, B, S, &err) == SC_OK) {
            int64_t b2, s2;
            const float *h = sc_session_encoder_output(s, &b2, &s2);
            size_t n = (size_t)(B * S * sc_model_d_model(m));
            out = malloc(n * sizeof *out);
            if (out) memcpy(out, h, n * sizeof *out);
            sc_expert_layer_stats ls;
            *used_first = 0;
            if (sc_session_expert_stats(s, 0, &ls, &err) == SC_OK)
                for (int64_t e = 0; e < ls.n_experts; e++) *used_first += ls.tokens_per_expert[e] > 0;
        }
        sc_session_free(s);
    }
    sc_model_free(m);
    return out;
}

int main(void) {
    const int64_t B = 4, S = 48;
    int32_t ids[4 * 48];
    uint32_t r = 12345;
    for (int i = 0; i < B * S; i++) {
        r = r * 1103515245u + 12345u;
        ids[i] = (int32_t)(2 + (r >> 8) % 90);
    }
    const sc_dtype dtypes[] = {SC_DTYPE_COUNT, SC_DTYPE_BF16, SC_DTYPE_I8};
    const char *names[] = {"as stored (f32)", "bf16", "q8"};
    const sc_drop_policy policies[] = {SC_DROP_NONE, SC_DROP_HF4};
    for (int d = 0; d < 3; d++)
        for (int pi = 0; pi < 2; pi++) {
            int64_t used1 = 0, used2 = 0;
            float *one = encode(CASE, 1, dtypes[d], policies[pi], ids, B, S, &used1);
            float *two = encode(CASE, 2, dtypes[d], policies[pi], ids, B, S, &used2);
            CHECK(one && two);
            if (!one || !two) continue;
            CHECK(used1 == 8 && used2 == 8);
            int64_t n = B * S * 48; /* d_model of the case */
            size_t diff = 0;
            for (int64_t i = 0; i < n; i++) diff += one[i] != two[i];
            printf("%s, policy %d: %zu of %lld outputs differ between 1 and 2 threads\n", names[d], pi, diff,
                   (long long)n);
            CHECK(diff == 0);
            free(one);
            free(two);
        }
    TEST_MAIN_END();
}
