/* config.json / generation_config.json: every fixture's sparse blocks
 * against its manifest, HF defaults, and one test per malformed input. */
#include "core/error.h"
#include "io/config.h"
#include "io/json.h"
#include "test_util.h"

#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <sys/stat.h>

static void check_sparse_list(const sc_config *c, bool decoder, const sc_json *list, const char *cs) {
    int64_t n = decoder ? c->num_decoder_layers : c->num_layers;
    CHECKF(sc_json_type_of(list) == SC_JSON_ARRAY, "%s: manifest lacks the sparse list", cs);
    bool want[64] = {0};
    for (size_t i = 0; i < sc_json_len(list); i++) {
        int64_t b = -1;
        CHECK(sc_json_int(sc_json_at(list, i), &b) && b >= 0 && b < 64);
        if (b >= 0 && b < 64) want[b] = true;
    }
    for (int64_t i = 0; i < n && i < 64; i++)
        CHECKF(sc_config_block_is_sparse(c, decoder, i) == want[i], "%s: %s block %lld sparse=%d, manifest %d", cs,
               decoder ? "decoder" : "encoder", (long long)i, sc_config_block_is_sparse(c, decoder, i), want[i]);
}

static void test_fixtures(void) {
    DIR *d = opendir(fixture_path("models"));
    CHECK(d != NULL);
    if (!d) return;
    int cases = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.') continue;
        char path[4096], man[4096], gen[4096];
        snprintf(path, sizeof path, "%s/models/%s/config.json", SC_FIXTURES_DIR, de->d_name);
        snprintf(man, sizeof man, "%s/models/%s/manifest.json", SC_FIXTURES_DIR, de->d_name);
        snprintf(gen, sizeof gen, "%s/models/%s/generation_config.json", SC_FIXTURES_DIR, de->d_name);
        sc_config c;
        sc_error e;
        sc_error_clear(&e);
        sc_status st = sc_config_load(path, &c, &e);
        CHECKF(st == SC_OK, "%s: %s", de->d_name, e.msg);
        if (st) continue;
        cases++;
        sc_json_doc *m = NULL;
        st = sc_json_parse_file(man, 64u << 20, &m, &e);
        CHECKF(st == SC_OK, "%s: %s", man, e.msg);
        if (st) continue;
        const sc_json *r = sc_json_root(m);
        check_sparse_list(&c, false, sc_json_get(r, "encoder_sparse_layers"), de->d_name);
        check_sparse_list(&c, true, sc_json_get(r, "decoder_sparse_layers"), de->d_name);
        int64_t step = 0;
        CHECK(sc_json_int(sc_json_get(r, "encoder_sparse_step"), &step) && step == c.encoder_sparse_step);
        CHECK(sc_json_int(sc_json_get(r, "decoder_sparse_step"), &step) && step == c.decoder_sparse_step);
        /* The derivation from the layer counts agrees with the stored steps. */
        const sc_json *ov = sc_json_get(r, "config_overrides");
        int64_t nl = 0, ns = 0;
        if (sc_json_int(sc_json_get(ov, "num_layers"), &nl) &&
            sc_json_int(sc_json_get(ov, "num_sparse_encoder_layers"), &ns))
            CHECKF((ns > 0 ? nl / ns : nl) == c.encoder_sparse_step, "%s: derived step", de->d_name);
        bool tie = true;
        sc_json_bool(sc_json_get(ov, "tie_word_embeddings"), &tie);
        CHECK(tie == c.tie_word_embeddings);
        sc_json_free(m);
        CHECK(c.act == SC_ACT_RELU && !c.gated && c.router_dtype == SC_DTYPE_F32);
        CHECK(c.pad_token_id == 0 && c.eos_token_id == 1 && c.decoder_start_token_id == 0);

        sc_generation_config g;
        st = sc_generation_config_load(gen, &c, &g, &e);
        CHECKF(st == SC_OK, "%s: %s", gen, e.msg);
        CHECK(g.max_length == 20 && g.num_beams == 1 && g.eos_token_id == 1 && g.pad_token_id == 0 &&
              g.decoder_start_token_id == 0 && !g.do_sample);
    }
    closedir(d);
    CHECKF(cases >= 8, "only %d fixture configs", cases);

    /* Specific values of one case. */
    sc_config c;
    sc_error e;
    CHECK(sc_config_load(fixture_path("models/e4_untied_eos_early/config.json"), &c, &e) == SC_OK);
    CHECK(c.d_model == 48 && c.d_kv == 12 && c.num_heads == 3 && c.d_ff == 40 && c.num_experts == 4);
    CHECK(c.num_layers == 4 && c.num_decoder_layers == 6 && c.encoder_sparse_step == 2 &&
          c.decoder_sparse_step == 3);
    CHECK(!c.tie_word_embeddings && !c.router_bias && c.expert_capacity == 3 && c.vocab_size == 384);
    CHECK(c.relative_attention_num_buckets == 16 && c.relative_attention_max_distance == 32);
    CHECK(c.layer_norm_epsilon == 1e-6 && c.router_jitter_noise == 0.01);
    CHECK(sc_config_load(fixture_path("models/e8_step2_untied_heads_ne_dmodel_bf16/config.json"), &c, &e) == SC_OK);
    CHECK(c.torch_dtype == SC_DTYPE_BF16);
}

static sc_status from_text(const char *text, sc_config *c, sc_error *e) {
    sc_json_doc *d = NULL;
    sc_error_clear(e);
    sc_status st = sc_json_parse(text, strlen(text), "model/config.json", &d, e);
    if (st) return st;
    st = sc_config_from_json(sc_json_root(d), "model/config.json", c, e);
    sc_json_free(d);
    return st;
}

static void test_defaults(void) {
    sc_config c, def;
    sc_error e;
    sc_config_defaults(&def);
    CHECK(from_text("{}", &c, &e) == SC_OK);
    CHECK(memcmp(&c, &def, sizeof c) == 0);
    CHECK(c.vocab_size == 32128 && c.d_model == 768 && c.d_kv == 64 && c.d_ff == 2048 && c.num_heads == 12);
    CHECK(c.num_layers == 12 && c.num_decoder_layers == 12 && c.num_experts == 8 && c.expert_capacity == 64);
    CHECK(c.encoder_sparse_step == 4 && c.decoder_sparse_step == 4);
    CHECK(c.tie_word_embeddings && !c.router_bias && c.router_dtype == SC_DTYPE_F32 && c.act == SC_ACT_RELU);
    /* switch-base-8: blocks 1, 5, 9 sparse */
    CHECK(!sc_config_block_is_sparse(&c, false, 0) && sc_config_block_is_sparse(&c, false, 1) &&
          sc_config_block_is_sparse(&c, false, 5) && sc_config_block_is_sparse(&c, true, 9) &&
          !sc_config_block_is_sparse(&c, true, 4) && !sc_config_block_is_sparse(&c, true, 13));

    /* num_decoder_layers null -> num_layers; derived steps */
    CHECK(from_text("{\"num_layers\": 6, \"num_decoder_layers\": null, \"num_sparse_encoder_layers\": 0,"
                    " \"num_sparse_decoder_layers\": 6}", &c, &e) == SC_OK);
    CHECK(c.num_decoder_layers == 6 && c.encoder_sparse_step == 6 && c.decoder_sparse_step == 1);
    CHECK(sc_config_block_is_sparse(&c, false, 1) && !sc_config_block_is_sparse(&c, false, 2));
    CHECK(sc_config_block_is_sparse(&c, true, 0) && sc_config_block_is_sparse(&c, true, 5));
    /* a stored step overrides; 0 = no sparse blocks */
    CHECK(from_text("{\"num_layers\": 4, \"encoder_sparse_step\": 0, \"decoder_sparse_step\": 2}", &c, &e) ==
          SC_OK);
    CHECK(!sc_config_block_is_sparse(&c, false, 1) && sc_config_block_is_sparse(&c, true, 3));
    /* feed_forward_proj / dense_act_fn */
    CHECK(from_text("{\"feed_forward_proj\": \"gated-gelu\"}", &c, &e) == SC_OK);
    CHECK(c.gated && c.act == SC_ACT_GELU_NEW);
    CHECK(from_text("{\"feed_forward_proj\": \"gated-gelu\", \"dense_act_fn\": \"relu\"}", &c, &e) == SC_OK);
    CHECK(c.gated && c.act == SC_ACT_RELU);
    CHECK(from_text("{\"dense_act_fn\": \"gelu_new\", \"router_dtype\": \"bfloat16\"}", &c, &e) == SC_OK);
    CHECK(!c.gated && c.act == SC_ACT_GELU_NEW && c.router_dtype == SC_DTYPE_BF16);
    CHECK(from_text("{\"router_dtype\": \"float16\", \"eos_token_id\": [5, 1], \"pad_token_id\": null}", &c, &e) ==
          SC_OK);
    CHECK(c.router_dtype == SC_DTYPE_F16 && c.eos_token_id == 5 && c.pad_token_id == -1);
    /* integral floats are accepted as HF's Python would store them */
    CHECK(from_text("{\"d_model\": 64.0, \"unknown_key\": {\"x\": [1]}}", &c, &e) == SC_OK && c.d_model == 64);

    /* generation defaults */
    sc_generation_config g;
    sc_config_defaults(&c);
    c.eos_token_id = 7;
    char missing[4096];
    snprintf(missing, sizeof missing, "%s/no-such-dir/generation_config.json", SC_FIXTURES_DIR);
    CHECK(sc_generation_config_load(missing, &c, &g, &e) == SC_OK);
    CHECK(g.max_length == 20 && g.max_new_tokens == -1 && g.min_length == 0 && g.num_beams == 1 &&
          g.num_return_sequences == 1 && g.length_penalty == 1.0 && !g.early_stopping && !g.do_sample &&
          g.temperature == 1.0 && g.top_k == 50 && g.top_p == 1.0 && g.repetition_penalty == 1.0 &&
          g.no_repeat_ngram_size == 0 && g.eos_token_id == 7 && g.pad_token_id == 0);
    sc_json_doc *d = NULL;
    const char *gj = "{\"max_length\": 64, \"num_beams\": 4, \"early_stopping\": \"never\", \"eos_token_id\": [3, 4],"
                     " \"pad_token_id\": null, \"max_new_tokens\": 10, \"do_sample\": true, \"top_p\": 0.9}";
    CHECK(sc_json_parse(gj, strlen(gj), "g.json", &d, &e) == SC_OK);
    CHECK(sc_generation_config_from_json(sc_json_root(d), "g.json", &c, &g, &e) == SC_OK);
    CHECK(g.max_length == 64 && g.num_beams == 4 && g.early_stopping_never && !g.early_stopping &&
          g.eos_token_id == 3 && g.pad_token_id == 0 && g.max_new_tokens == 10 && g.do_sample && g.top_p == 0.9);
    sc_json_free(d);
    gj = "{\"num_beams\": 0}";
    CHECK(sc_json_parse(gj, strlen(gj), "g.json", &d, &e) == SC_OK);
    CHECK(sc_generation_config_from_json(sc_json_root(d), "g.json", &c, &g, &e) != SC_OK);
    CHECK(strstr(e.msg, "g.json") && strstr(e.msg, "num_beams"));
    sc_json_free(d);
    gj = "{\"early_stopping\": 1}";
    CHECK(sc_json_parse(gj, strlen(gj), "g.json", &d, &e) == SC_OK);
    CHECK(sc_generation_config_from_json(sc_json_root(d), "g.json", &c, &g, &e) == SC_ERR_FORMAT);
    CHECK(strstr(e.msg, "early_stopping") != NULL);
    sc_json_free(d);
}

/* A bad config: non-zero status (optionally a specific one) and a message
 * naming the file and the key. */
static void bad(const char *text, sc_status want, const char *key) {
    sc_config c;
    sc_config_defaults(&c);
    c.d_model = 12345;
    sc_config before = c;
    sc_error e;
    sc_status st = from_text(text, &c, &e);
    CHECKF(st != SC_OK && (want == SC_OK || st == want), "%s: status %d (%s)", text, (int)st, e.msg);
    CHECKF(strstr(e.msg, "model/config.json") != NULL, "%s: message '%s' lacks the file", text, e.msg);
    CHECKF(!key || strstr(e.msg, key) != NULL, "%s: message '%s' lacks '%s'", text, e.msg, key);
    CHECKF(memcmp(&c, &before, sizeof c) == 0, "%s: output changed on failure", text);
}

static void test_bad(void) {
    bad("{\"d_model\": 0}", SC_ERR_FORMAT, "'d_model'");
    bad("{\"d_model\": -8}", SC_ERR_FORMAT, "'d_model'");
    bad("{\"d_model\": 1e12}", SC_ERR_LIMIT, "'d_model'");
    bad("{\"d_model\": 1e300}", SC_ERR_LIMIT, "'d_model'");
    bad("{\"d_model\": 99999999999999999999999}", SC_ERR_LIMIT, "'d_model'");
    bad("{\"d_model\": 64.5}", SC_ERR_FORMAT, "'d_model'");
    bad("{\"d_model\": \"768\"}", SC_ERR_FORMAT, "'d_model'");
    bad("{\"d_model\": null}", SC_ERR_FORMAT, "'d_model'");
    bad("{\"vocab_size\": 0}", SC_ERR_FORMAT, "'vocab_size'");
    bad("{\"vocab_size\": 1000000000000}", SC_ERR_LIMIT, "'vocab_size'");
    bad("{\"d_kv\": -1}", SC_ERR_FORMAT, "'d_kv'");
    bad("{\"d_ff\": 0}", SC_ERR_FORMAT, "'d_ff'");
    bad("{\"num_heads\": 0}", SC_ERR_FORMAT, "'num_heads'");
    bad("{\"num_experts\": 0}", SC_ERR_FORMAT, "'num_experts'");
    bad("{\"num_experts\": 1e12}", SC_ERR_LIMIT, "'num_experts'");
    bad("{\"num_layers\": 0}", SC_ERR_FORMAT, "'num_layers'");
    bad("{\"num_layers\": 2000000}", SC_ERR_LIMIT, "'num_layers'");
    bad("{\"num_decoder_layers\": -1}", SC_ERR_FORMAT, "'num_decoder_layers'");
    bad("{\"num_sparse_encoder_layers\": -1}", SC_ERR_FORMAT, "'num_sparse_encoder_layers'");
    bad("{\"encoder_sparse_step\": -2}", SC_ERR_FORMAT, "'encoder_sparse_step'");
    bad("{\"expert_capacity\": 0}", SC_ERR_FORMAT, "'expert_capacity'");
    bad("{\"relative_attention_num_buckets\": 0}", SC_ERR_FORMAT, "'relative_attention_num_buckets'");
    /* sizes each within bounds but whose products are absurd */
    bad("{\"d_model\": 1048576, \"d_ff\": 1048576, \"num_experts\": 1048576, \"num_layers\": 1048576}", SC_ERR_LIMIT,
        NULL);
    bad("{\"num_heads\": 1048576, \"d_kv\": 1048576}", SC_ERR_LIMIT, NULL);
    /* wrong types */
    bad("{\"router_bias\": 1}", SC_ERR_FORMAT, "'router_bias'");
    bad("{\"tie_word_embeddings\": \"true\"}", SC_ERR_FORMAT, "'tie_word_embeddings'");
    bad("{\"layer_norm_epsilon\": \"1e-6\"}", SC_ERR_FORMAT, "'layer_norm_epsilon'");
    bad("{\"layer_norm_epsilon\": 1e400}", SC_ERR_FORMAT, "'layer_norm_epsilon'");
    bad("{\"dropout_rate\": 2}", SC_ERR_FORMAT, "'dropout_rate'");
    bad("{\"router_dtype\": 32}", SC_ERR_FORMAT, "'router_dtype'");
    bad("{\"dense_act_fn\": [\"relu\"]}", SC_ERR_FORMAT, "'dense_act_fn'");
    bad("{\"pad_token_id\": \"0\"}", SC_ERR_FORMAT, "'pad_token_id'");
    bad("{\"pad_token_id\": -5}", SC_ERR_FORMAT, "'pad_token_id'");
    bad("{\"eos_token_id\": [1, \"x\"]}", SC_ERR_FORMAT, "'eos_token_id'");
    /* bad enums */
    bad("{\"router_dtype\": \"float64\"}", SC_ERR_FORMAT, "'router_dtype'");
    bad("{\"router_dtype\": \"\"}", SC_ERR_FORMAT, "'router_dtype'");
    bad("{\"dense_act_fn\": \"swish\"}", SC_ERR_UNSUPPORTED, "'dense_act_fn'");
    bad("{\"feed_forward_proj\": \"gated-gelu-x\"}", SC_ERR_UNSUPPORTED, "'feed_forward_proj'");
    bad("{\"feed_forward_proj\": \"double-relu\"}", SC_ERR_UNSUPPORTED, "'feed_forward_proj'");
    /* not an object / invalid JSON */
    bad("[1, 2]", SC_ERR_FORMAT, "object");
    bad("{\"d_model\": 768,}", SC_ERR_FORMAT, "byte 16");
    bad("{\"d_model\": 07}", SC_ERR_FORMAT, "leading zero");

    /* the message carries the byte offset of the offending value */
    sc_config c;
    sc_error e;
    CHECK(from_text("{\"a\": 1, \"d_ff\": true}", &c, &e) == SC_ERR_FORMAT);
    CHECKF(e.offset == 17 && strstr(e.msg, "byte 17"), "%zu %s", e.offset, e.msg);

    /* file-level: invalid JSON on disk, a directory, a missing file */
    mkdir(SC_TMP_DIR, 0777);
    char path[4096];
    snprintf(path, sizeof path, "%s/bad_config.json", SC_TMP_DIR);
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    if (f) {
        fputs("{\"d_model\": 768 \"d_ff\": 1}", f);
        fclose(f);
        CHECK(sc_config_load(path, &c, &e) == SC_ERR_FORMAT);
        CHECKF(strstr(e.msg, "bad_config.json: byte 16: expected ',' or '}' in object") != NULL, "%s", e.msg);
        sc_generation_config g;
        CHECK(sc_generation_config_load(path, &c, &g, &e) == SC_ERR_FORMAT);
        remove(path);
    }
    CHECK(sc_config_load(fixture_path("models"), &c, &e) != SC_OK);
    sc_generation_config g;
    CHECK(sc_generation_config_load(fixture_path("models"), &c, &g, &e) != SC_OK); /* a directory */
    CHECK(sc_config_load(fixture_path("nope/config.json"), &c, &e) == SC_ERR_MISSING);
    CHECK(strstr(e.msg, "nope/config.json") != NULL);
}

int main(void) {
    test_fixtures();
    test_defaults();
    test_bad();
    TEST_MAIN_END();
}
