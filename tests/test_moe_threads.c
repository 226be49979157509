/* Sparse layers with a pool: when enough experts are used, each thread runs
 * whole experts on its own lane (expert-parallel), and the used experts past
 * the last multiple of the threads run after that, one at a time, each GEMM
 * split over the pool (as every expert does when few are used). All must
 * give exactly the single-threaded result, for fp32, bf16 and q8 weights,
 * with and without dropped tokens. The test checks through the stats that
 * every expert of the first sparse layer was used, so the runs took the
 * expert-parallel path: the fixture's 8 experts split evenly over 2
 * threads; a random model with 13 (switchc init; capacity 64, so none
 * dropped and every routed token counts) leaves one over with 2 and with 3
 * threads. */
#include "model/session.h"
#include "test_util.h"

#include <sys/stat.h>

#define CASE SC_FIXTURES_DIR "/models/e8_step2_untied_heads_ne_dmodel"
#define ODD_EXPERTS 13

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

/* Writes a random model with ODD_EXPERTS experts (d_model 48) to
 * SC_TMP_DIR/moe_odd_experts; returns its path, NULL on failure. */
static const char *odd_experts_model(void) {
    static char dir[4096];
    char cfg[4096], cmd[16384];
    mkdir(SC_TMP_DIR, 0777);
    snprintf(dir, sizeof dir, "%s/moe_odd_experts", SC_TMP_DIR);
    snprintf(cfg, sizeof cfg, "%s/moe_odd_experts.json", SC_TMP_DIR);
    FILE *f = fopen(cfg, "wb");
    CHECKF(f != NULL, "cannot write %s", cfg);
    if (!f) return NULL;
    fprintf(f, "{\"d_model\": 48, \"d_ff\": 40, \"d_kv\": 12, \"num_heads\": 3, \"num_layers\": 2, "
               "\"num_decoder_layers\": 2, \"encoder_sparse_step\": 2, \"decoder_sparse_step\": 2, "
               "\"num_experts\": %d, \"expert_capacity\": 64, \"vocab_size\": 384, "
               "\"relative_attention_num_buckets\": 16, \"relative_attention_max_distance\": 32}\n",
            ODD_EXPERTS);
    fclose(f);
    snprintf(cmd, sizeof cmd, "'%s' init --config '%s' -o '%s' --seed 7 --force 2>&1", SC_SWITCHC_BIN, cfg, dir);
    char out[4096];
    int st = sc_test_run(cmd, out, sizeof out);
    CHECKF(st == 0, "switchc init: %s", out);
    return st == 0 ? dir : NULL;
}

/* dir encoded with `threads` threads and with 1 must agree bit for bit. */
static void compare(const char *dir, int threads, int64_t experts, const int32_t *ids, int64_t B, int64_t S) {
    const sc_dtype dtypes[] = {SC_DTYPE_AS_STORED, SC_DTYPE_BF16, SC_DTYPE_I8};
    const char *names[] = {"as stored (f32)", "bf16", "q8"};
    const sc_drop_policy policies[] = {SC_DROP_NONE, SC_DROP_HF4};
    for (int d = 0; d < 3; d++)
        for (int pi = 0; pi < 2; pi++) {
            int64_t used1 = 0, usedn = 0;
            float *one = encode(dir, 1, dtypes[d], policies[pi], ids, B, S, &used1);
            float *many = encode(dir, threads, dtypes[d], policies[pi], ids, B, S, &usedn);
            CHECK(one && many);
            if (one && many) {
                CHECK(used1 == experts && usedn == experts);
                int64_t n = B * S * 48; /* d_model of both models */
                size_t diff = 0;
                for (int64_t i = 0; i < n; i++) diff += one[i] != many[i];
                printf("%lld experts, %s, policy %d: %zu of %lld outputs differ between 1 and %d threads\n",
                       (long long)experts, names[d], pi, diff, (long long)n, threads);
                CHECK(diff == 0);
            }
            free(one);
            free(many);
        }
}

int main(void) {
    const int64_t B = 4, S = 48;
    int32_t ids[4 * 48];
    uint32_t r = 12345;
    for (int i = 0; i < B * S; i++) {
        r = r * 1103515245u + 12345u;
        ids[i] = (int32_t)(2 + (r >> 8) % 90);
    }
    compare(CASE, 2, 8, ids, B, S);
    const char *odd = odd_experts_model();
    if (odd) {
        compare(odd, 2, ODD_EXPERTS, ids, B, S);
        compare(odd, 3, ODD_EXPERTS, ids, B, S);
    }
    TEST_MAIN_END();
}
