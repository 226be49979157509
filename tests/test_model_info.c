/* sc_model_info (switchc.h, "model info") through the public header only:
 * a fixture model's config, format, dtypes, tensor counts and parameters
 * per part against values computed here from its config; a directory
 * holding only config.json and one holding nothing (problems, not
 * failures); the tokenizer file picked; NULL arguments. Missing, bad and
 * unexpected tensors are covered end to end by test_inspect. */
#include "switchc.h"
#include "test_util.h"

#include <stdint.h>

#define MODEL SC_FIXTURES_DIR "/models/e8_step3_enc_dec0sparse_defaults"

/* Values of MODEL/config.json (tied embeddings, relu, not gated). */
enum { D_MODEL = 40, D_KV = 6, D_FF = 64, HEADS = 5, ENC = 6, DEC = 3, EXPERTS = 8, VOCAB = 512 };

static int64_t count_sparse(const sc_model_info *info, bool dec, int64_t n) {
    int64_t k = 0;
    for (int64_t i = 0; i < n; i++) k += sc_model_info_block_is_sparse(info, dec, i);
    return k;
}

static void test_fixture(sc_format format, const char *want_format) {
    sc_model_info *info = NULL;
    sc_error err;
    sc_status st = sc_model_info_read(MODEL, format, &info, &err);
    CHECKF(st == SC_OK && info, "%s", st ? err.msg : "");
    if (!info) return;
    sc_model_config_info c;
    CHECK(sc_model_info_config(info, &c));
    CHECK(c.d_model == D_MODEL && c.d_kv == D_KV && c.d_ff == D_FF && c.num_heads == HEADS);
    CHECK(c.num_layers == ENC && c.num_decoder_layers == DEC && c.num_experts == EXPERTS);
    CHECK(c.vocab_size == VOCAB && c.expert_capacity == 64 && c.tie_word_embeddings && !c.gated && c.router_bias);
    CHECK(c.act && !strcmp(c.act, "relu"));
    CHECKF(!strcmp(sc_model_info_format_name(info), want_format), "%s", sc_model_info_format_name(info));
    CHECK(sc_model_info_file_bytes(info) > (size_t)VOCAB * D_MODEL * 4);
    CHECK(sc_model_info_dtypes(info) == 1u << SC_DTYPE_F32);
    /* num_sparse_encoder_layers 2 over 6 blocks */
    CHECK(count_sparse(info, false, ENC) == 2);
    CHECK(!sc_model_info_block_is_sparse(info, false, -1) && !sc_model_info_block_is_sparse(info, false, ENC));
    CHECK(!sc_model_info_block_is_sparse(info, true, DEC));
    int64_t sparse = count_sparse(info, false, ENC) + count_sparse(info, true, DEC);
    uint64_t per_expert = 2u * D_MODEL * D_FF; /* wi [d_ff, d_model], wo [d_model, d_ff] */
    CHECK(sc_model_info_params(info, SC_PART_EMBEDDINGS) == (uint64_t)VOCAB * D_MODEL); /* tied: no lm_head */
    CHECK(sc_model_info_params(info, SC_PART_EXPERTS) == (uint64_t)sparse * EXPERTS * per_expert);
    uint64_t router = (uint64_t)sparse * (EXPERTS * D_MODEL + EXPERTS); /* with router_bias */
    CHECK(sc_model_info_params(info, SC_PART_ROUTER) == router);
    uint64_t sum = 0;
    for (int p = 0; p < SC_PART_COUNT; p++) {
        sum += sc_model_info_params(info, (sc_model_part)p);
        /* every tensor found, stored in F32 */
        CHECKF(sc_model_info_bytes(info, (sc_model_part)p) == 4 * sc_model_info_params(info, (sc_model_part)p),
               "%s", sc_model_part_name((sc_model_part)p));
    }
    CHECK(sum == sc_model_info_params_total(info));
    CHECK(sc_model_info_params_active(info) == sum - (uint64_t)sparse * (EXPERTS - 1) * per_expert);
    sc_model_tensor_counts n = sc_model_info_tensors(info);
    CHECK(n.expected > 0 && n.found == n.expected && n.missing == 0 && n.bad == 0);
    sc_model_tensor_counts un = sc_model_info_unlisted(info);
    CHECK(un.missing == 0 && un.bad == 0 && un.unexpected == 0);
    for (size_t i = 0; i < sc_model_info_problem_count(info); i++) {
        bool e = true;
        const char *msg = sc_model_info_problem(info, i, &e);
        CHECKF(msg && !e, "problem %zu: %s", i, msg ? msg : "(null)");
    }
    CHECK(sc_model_info_problem(info, sc_model_info_problem_count(info), NULL) == NULL);
    CHECK(sc_model_info_tokenizer_file(info) == NULL); /* this case has no tokenizer */
    /* what the info says loads */
    sc_model_params p = sc_model_default_params();
    p.format = sc_model_info_format(info);
    sc_model *m = NULL;
    CHECKF(sc_model_load(MODEL, &p, &m, &err) == SC_OK, "%s", err.msg);
    sc_model_free(m);
    sc_model_info_free(info);
}

static void test_broken_dirs(void) {
    char dir[400], cmd[2400];
    snprintf(dir, sizeof dir, "%s/model_info_cfg_only", SC_TMP_DIR);
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s' && cp '%s/config.json' '%s/' && : > '%s/spiece.model'",
             dir, dir, MODEL, dir, dir);
    CHECK(system(cmd) == 0);
    sc_model_info *info = NULL;
    sc_error err;
    CHECK(sc_model_info_read(dir, SC_FORMAT_AUTO, &info, &err) == SC_OK);
    sc_model_config_info c;
    CHECK(sc_model_info_config(info, &c) && c.d_model == D_MODEL);
    CHECK(sc_model_info_format_name(info) == NULL && sc_model_info_format(info) == SC_FORMAT_AUTO);
    CHECK(sc_model_info_file_bytes(info) == 0 && sc_model_info_dtypes(info) == 0);
    bool e = false;
    CHECK(sc_model_info_problem_count(info) == 1 && sc_model_info_problem(info, 0, &e) && e);
    CHECK(sc_model_info_tensors(info).expected == 0 && sc_model_info_params_total(info) == 0);
    /* the file is there, whether or not it loads */
    CHECK(sc_model_info_tokenizer_file(info) && !strcmp(sc_model_info_tokenizer_file(info), "spiece.model"));
    sc_model_info_free(info);

    snprintf(dir, sizeof dir, "%s/model_info_empty", SC_TMP_DIR);
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s'", dir, dir);
    CHECK(system(cmd) == 0);
    info = NULL;
    CHECK(sc_model_info_read(dir, SC_FORMAT_AUTO, &info, &err) == SC_OK);
    CHECK(!sc_model_info_config(info, &c));
    CHECK(sc_model_info_problem_count(info) == 2); /* config.json, then the checkpoint */
    const char *first = sc_model_info_problem(info, 0, &e);
    CHECKF(first && e && strstr(first, "config.json"), "%s", first ? first : "(null)");
    CHECK(!sc_model_info_block_is_sparse(info, false, 0));
    CHECK(sc_model_info_tokenizer_file(info) == NULL);
    sc_model_info_free(info);
}

static void test_arguments(void) {
    sc_model_info *info = NULL;
    sc_error err;
    CHECK(sc_model_info_read(NULL, SC_FORMAT_AUTO, &info, &err) == SC_ERR_INVALID_ARG && !info);
    CHECK(sc_model_info_read(MODEL, SC_FORMAT_AUTO, NULL, &err) == SC_ERR_INVALID_ARG);
    sc_model_info_free(NULL);
    sc_model_config_info c;
    CHECK(!sc_model_info_config(NULL, &c) && sc_model_info_format_name(NULL) == NULL);
    CHECK(sc_model_info_params_total(NULL) == 0 && sc_model_info_problem_count(NULL) == 0);
    static const char *const names[] = {"embeddings", "attention", "dense_ff", "experts", "router", "norms"};
    for (int p = 0; p < SC_PART_COUNT; p++) CHECK(!strcmp(sc_model_part_name((sc_model_part)p), names[p]));
    CHECK(sc_model_part_name(SC_PART_COUNT) == NULL);
}

int main(void) {
    test_fixture(SC_FORMAT_AUTO, "safetensors");
    test_fixture(SC_FORMAT_TORCH_BIN, "pytorch .bin");
    test_broken_dirs();
    test_arguments();
    TEST_MAIN_END();
}
