/* switchc convert / init end to end: a fixture converted to f32/bf16/f16/q8
 * loads; f32 is bit-identical and passes `switchc verify`; the others stay
 * close to HF's logits with the same expert choices; sharding writes an
 * index that loads; init is deterministic, loads and generates; with
 * embeddings far above the fp16 range, f16 weights keep the (fp32) residual
 * stream finite. */
#include "dtype_check.h"
#include "io/checkpoint.h"
#include "model/session.h"

/* paths are built from the build directory: truncation cannot happen in practice */
#pragma GCC diagnostic ignored "-Wformat-truncation"

#include <sys/stat.h>
#include <sys/wait.h>

#define CASE "e8_step2_untied_heads_ne_dmodel"

static int run(const char *cmd) {
    int rc = system(cmd);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

static void f32_identical(const char *src, const char *dst) {
    sc_checkpoint *a = NULL, *b = NULL;
    CHECK(sc_checkpoint_open(src, 0, &a, NULL) == SC_OK);
    CHECK(sc_checkpoint_open(dst, -1, &b, NULL) == SC_OK);
    if (!a || !b) goto out;
    size_t same = 0;
    for (size_t i = 0; i < sc_checkpoint_count(a); i++) {
        const sc_tensor_entry *ea = sc_checkpoint_at(a, i), *eb = sc_checkpoint_find(b, ea->name);
        if (eb && eb->nbytes == ea->nbytes && !memcmp(ea->view.data, eb->view.data, ea->nbytes)) same++;
        else fprintf(stderr, "differs: %s\n", ea->name);
        /* zero copy: every tensor aligned to its element size */
        CHECK(eb && (uintptr_t)eb->view.data % sc_dtype_size(eb->view.dtype) == 0);
    }
    CHECK(same == sc_checkpoint_count(a));
    CHECK(sc_checkpoint_count(a) == sc_checkpoint_count(b));
out:
    sc_checkpoint_close(a);
    sc_checkpoint_close(b);
}

static void converted(const char *fixture, const char *tmp, const char *dt, double min_cos) {
    char out[4096], cmd[16384];
    snprintf(out, sizeof out, "%s/convert_%s", tmp, dt);
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && '%s' convert -m '%s' -o '%s' --dtype %s --json > /dev/null", out,
             SC_SWITCHC_BIN, fixture, out, dt);
    CHECKF(run(cmd) == 0, "convert %s", dt);
    sc_model_params p = sc_model_default_params();
    p.n_threads = 1;
    dc_result r;
    bool ok = dc_run(out, fixture, &p, &r);
    CHECKF(ok, "converted %s loads and runs", dt);
    if (!ok) return;
    printf("convert %-5s cosine %.6f (worst row %.6f) experts %.4f greedy %.4f\n", dt, r.cosine, r.cosine_min_row,
           r.expert_agree, r.greedy_agree);
    CHECKF(r.cosine >= min_cos, "%s cosine %.6f", dt, r.cosine);
    /* q8: one flip of 88 real tokens allowed on this tiny model (see test_dtype_paths.c) */
    CHECKF(r.expert_agree >= (strcmp(dt, "q8") ? 0.99 : 0.98), "%s experts %.4f", dt, r.expert_agree);
    if (!strcmp(dt, "f32")) {
        f32_identical(fixture, out);
        snprintf(cmd, sizeof cmd, "'%s' verify '%s' -m '%s' > /dev/null 2>&1", SC_SWITCHC_BIN, fixture, out);
        CHECKF(run(cmd) == 0, "switchc verify with the converted f32 model");
    }
}

static bool load_ok(const char *dir, sc_dtype t) {
    sc_model_params p = sc_model_default_params();
    p.n_threads = 1;
    p.dtype = t;
    sc_model *m = NULL;
    sc_error err;
    sc_status st = sc_model_load(dir, &p, &m, &err);
    if (st) fprintf(stderr, "load %s: %s\n", dir, err.msg);
    bool ok = st == SC_OK && m->n_unexpected == 0;
    sc_model_free(m);
    return ok;
}

static const char tiny_cfg[] =
    "{\"d_model\": 32, \"d_kv\": 8, \"num_heads\": 4, \"d_ff\": 48, \"num_layers\": 2, \"num_decoder_layers\": 2,\n"
    " \"num_sparse_encoder_layers\": 1, \"num_sparse_decoder_layers\": 1, \"num_experts\": 4, \"vocab_size\": 100,\n"
    " \"expert_capacity\": 8, \"relative_attention_num_buckets\": 8, \"relative_attention_max_distance\": 16,\n"
    " \"tie_word_embeddings\": %s, \"router_bias\": %s}\n";

static void init_tests(const char *tmp) {
    char cfg[4096], a[4096], b[4096], c[4096], cmd[16384];
    snprintf(cfg, sizeof cfg, "%s/tiny_config.json", tmp);
    FILE *f = fopen(cfg, "w");
    CHECK(f != NULL);
    if (!f) return;
    fprintf(f, tiny_cfg, "true", "true");
    fclose(f);
    snprintf(a, sizeof a, "%s/init_a", tmp);
    snprintf(b, sizeof b, "%s/init_b", tmp);
    snprintf(c, sizeof c, "%s/init_c", tmp);
    snprintf(cmd, sizeof cmd,
             "rm -rf '%s' '%s' '%s' && '%s' init --config '%s' -o '%s' --seed 7 2>/dev/null && "
             "'%s' init --config '%s' -o '%s' --seed 7 2>/dev/null && '%s' init --config '%s' -o '%s' --seed 8 "
             "--dtype bf16 2>/dev/null",
             a, b, c, SC_SWITCHC_BIN, cfg, a, SC_SWITCHC_BIN, cfg, b, SC_SWITCHC_BIN, cfg, c);
    CHECK(run(cmd) == 0);
    char fa[4200], fb[4200];
    snprintf(fa, sizeof fa, "%s/model.safetensors", a);
    snprintf(fb, sizeof fb, "%s/model.safetensors", b);
    CHECK(sc_test_files_equal(fa, fb));
    snprintf(fb, sizeof fb, "%s/model.safetensors", c);
    CHECK(!sc_test_files_equal(fa, fb));
    CHECK(load_ok(a, SC_DTYPE_AS_STORED));
    CHECK(load_ok(c, SC_DTYPE_AS_STORED));
    CHECK(load_ok(a, SC_DTYPE_I8));
    /* generates */
    sc_model *m = NULL;
    sc_session *s = NULL;
    sc_model_params p = sc_model_default_params();
    p.n_threads = 1;
    CHECK(sc_model_load(a, &p, &m, NULL) == SC_OK);
    if (m && sc_session_new(m, &s, NULL) == SC_OK) {
        int32_t ids[6] = {5, 17, 42, 9, 3, 1};
        sc_generate_params gp = sc_generate_default_params();
        gp.max_new_tokens = 8;
        gp.eos_token_id = SC_TOKEN_NONE;
        sc_generate_result *res = NULL;
        CHECK(sc_generate(s, ids, NULL, 1, 6, &gp, &res, NULL) == SC_OK);
        int64_t rows = 0, len = 0;
        if (res) sc_generate_result_sequences(res, &rows, &len);
        CHECK(rows == 1 && len == 9);
        sc_generate_result_free(res);
    }
    sc_session_free(s);
    sc_model_free(m);
    /* sharded q8 of the same model: index + shards, loads, same bytes as unsharded per tensor */
    snprintf(cmd, sizeof cmd, "rm -rf '%s/sh' && '%s' convert -m '%s' -o '%s/sh' --dtype q8 --shard-size 40K "
             "--json > /dev/null", tmp, SC_SWITCHC_BIN, a, tmp);
    CHECK(run(cmd) == 0);
    char sh[4200];
    snprintf(sh, sizeof sh, "%s/sh/model.safetensors.index.json", tmp);
    struct stat stt;
    CHECK(stat(sh, &stt) == 0);
    snprintf(sh, sizeof sh, "%s/sh", tmp);
    CHECK(load_ok(sh, SC_DTYPE_AS_STORED));
}

static float max_abs_hidden;
static bool hidden_finite = true;
static void hid_trace(void *ctx, const char *name, sc_dtype dtype, const void *data, int ndim, const int64_t *shape) {
    (void)ctx;
    if (dtype != SC_DTYPE_F32 || strncmp(name, "encoder_hidden_states.", 22)) return;
    size_t n = 1;
    for (int d = 0; d < ndim; d++) n *= (size_t)shape[d];
    for (size_t i = 0; i < n; i++) {
        float v = ((const float *)data)[i];
        if (!isfinite(v)) hidden_finite = false;
        else if (fabsf(v) > max_abs_hidden) max_abs_hidden = fabsf(v);
    }
}

/* Embeddings with std 1e6: the residual stream is far beyond 65504. */
static void f16_overflow(const char *tmp) {
    char cfg[4096], dir[4096], cmd[16384];
    snprintf(cfg, sizeof cfg, "%s/big_config.json", tmp);
    FILE *f = fopen(cfg, "w");
    CHECK(f != NULL);
    if (!f) return;
    fprintf(f, tiny_cfg, "false", "false");
    fclose(f);
    snprintf(dir, sizeof dir, "%s/init_big", tmp);
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && '%s' init --config '%s' -o '%s' --seed 3 --embed-std 1e6 2>/dev/null",
             dir, SC_SWITCHC_BIN, cfg, dir);
    CHECK(run(cmd) == 0);
    sc_model_params p = sc_model_default_params();
    p.n_threads = 1;
    p.dtype = SC_DTYPE_F16;
    sc_model *m = NULL;
    sc_session *s = NULL;
    CHECK(sc_model_load(dir, &p, &m, NULL) == SC_OK);
    if (!m || sc_session_new(m, &s, NULL) != SC_OK) {
        sc_model_free(m);
        CHECK(0);
        return;
    }
    int32_t ids[8] = {5, 17, 42, 9, 3, 77, 20, 1}, labels[4] = {4, 8, 15, 1};
    float logits[4 * 100];
    sc_losses L;
    sc_session_set_trace(s, hid_trace, NULL);
    CHECK(sc_forward_labels(s, ids, NULL, 1, 8, labels, 4, logits, &L, NULL) == SC_OK);
    bool fin = true;
    for (int i = 0; i < 400; i++) fin = fin && isfinite(logits[i]);
    printf("f16 weights, embeddings std 1e6: max |hidden| %.3g, finite %d, logits finite %d\n",
           (double)max_abs_hidden, hidden_finite, fin);
    CHECK(max_abs_hidden > 65504.0f);
    CHECK(hidden_finite && fin);
    sc_session_free(s);
    sc_model_free(m);
}

int main(void) {
    char tmp[4096], fixture[4096];
    snprintf(tmp, sizeof tmp, "%s/convert", SC_TMP_DIR);
    snprintf(fixture, sizeof fixture, "%s/models/%s", SC_FIXTURES_DIR, CASE);
    char cmd[8300];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s'", tmp);
    CHECK(run(cmd) == 0);
    converted(fixture, tmp, "f32", 0.99999);
    converted(fixture, tmp, "bf16", 0.999);
    converted(fixture, tmp, "f16", 0.999);
    converted(fixture, tmp, "q8", 0.995);
    init_tests(tmp);
    f16_overflow(tmp);
    TEST_MAIN_END();
}
