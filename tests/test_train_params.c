/* The trainable parameter set (src/train/params.c): HF named_parameters()
 * order and names from a config alone, zeroed gradients, lookup by name, and
 * the load errors: a missing tensor, a wrong shape, a gated config, a
 * missing directory. Copies of a fixture's config.json with one value
 * changed, beside a link to its weights, make the broken checkpoints. */
#include "test_util.h"

#include <errno.h>
#include <sys/stat.h>
#include <unistd.h>

#include "train/params.h"

#define CASE SC_FIXTURES_DIR "/models/train_e4_step2_bias_overflow"

/* A directory under SC_TMP_DIR with CASE's config.json where `key`'s number
 * is replaced by `value`, and a link to CASE's model.safetensors. */
static const char *broken_case(const char *name, const char *key, const char *value) {
    static char dir[1024];
    char path[1200], text[8192];
    mkdir(SC_TMP_DIR, 0777);
    snprintf(dir, sizeof dir, "%s/train_params_%s", SC_TMP_DIR, name);
    mkdir(dir, 0777);
    FILE *f = fopen(CASE "/config.json", "rb");
    size_t n = f ? fread(text, 1, sizeof text - 1, f) : 0;
    if (f) fclose(f);
    text[n] = '\0';
    char pat[128];
    snprintf(pat, sizeof pat, "\"%s\": ", key);
    char *at = strstr(text, pat);
    CHECKF(at != NULL, "config.json has %s", key);
    snprintf(path, sizeof path, "%s/config.json", dir);
    FILE *o = fopen(path, "wb");
    if (o && at) {
        char *val = at + strlen(pat), *end = val;
        while (*end && *end != ',' && *end != '\n') end++;
        fwrite(text, 1, (size_t)(val - text), o);
        fputs(value, o);
        fputs(end, o);
    }
    if (o) fclose(o);
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    unlink(path);
    CHECK(symlink(CASE "/model.safetensors", path) == 0 || errno == EEXIST);
    return dir;
}

int main(void) {
    sc_train_params *tp = NULL;
    sc_error err;
    CHECKF(sc_train_params_load(CASE, &tp, &err) == SC_OK, "%s", err.msg);
    if (tp) {
        /* Block 0 of a stack with sparse step 2 is dense, block 1 sparse; tied: no lm_head. */
        CHECK(tp->lm_head < 0 && tp->shared == 0 && !strcmp(tp->p[0].name, "shared.weight"));
        CHECK(!tp->blocks[0][0].sparse && tp->blocks[0][1].sparse && tp->blocks[1][1].sparse);
        CHECK(!strcmp(tp->p[tp->blocks[1][1].ex_wo[3]].name,
                      "decoder.block.1.layer.2.mlp.experts.expert_3.wo.weight"));
        CHECK(!strcmp(tp->p[tp->rel_bias[1]].name,
                      "decoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight"));
        CHECK(!strcmp(tp->p[tp->count - 1].name, "decoder.final_layer_norm.weight"));
        sc_train_param *rb = sc_train_params_find(tp, "encoder.block.1.layer.1.mlp.router.classifier.bias");
        CHECK(rb && rb->ndim == 1 && rb->shape[0] == 4 && rb->numel == 4);
        CHECK(sc_train_params_find(tp, "lm_head.weight") == NULL);
        size_t total = 0;
        bool zero = true, nonzero_w = false;
        for (size_t i = 0; i < tp->count; i++) {
            total += tp->p[i].numel;
            for (size_t j = 0; j < tp->p[i].numel; j++) {
                zero &= tp->p[i].g[j] == 0.0f;
                nonzero_w |= tp->p[i].w[j] != 0.0f;
            }
        }
        CHECK(zero && nonzero_w && total == sc_train_params_numel(tp));
        tp->p[3].g[0] = 1.0f;
        sc_train_params_zero_grad(tp);
        CHECK(tp->p[3].g[0] == 0.0f);
        sc_train_params_free(tp);
    }
    sc_train_params_free(NULL);

    tp = NULL;
    /* d_ff 40: every FF weight has the wrong shape; the message names the first. */
    sc_status st = sc_train_params_load(broken_case("shape", "d_ff", "40"), &tp, &err);
    CHECKF(st == SC_ERR_SHAPE && !tp && strstr(err.msg, "encoder.block.0.layer.1.mlp.wi.weight") &&
               strstr(err.msg, "[48,32]") && strstr(err.msg, "[40,32]"),
           "wrong shape: %d %s", st, err.msg);
    /* 3 decoder blocks: block 2 is missing. */
    st = sc_train_params_load(broken_case("missing", "num_decoder_layers", "3"), &tp, &err);
    CHECKF(st == SC_ERR_MISSING && !tp && strstr(err.msg, "decoder.block.2.layer.0.SelfAttention.q.weight"),
           "missing: %d %s", st, err.msg);
    st = sc_train_params_load(
        broken_case("gated", "dense_act_fn", "\"gelu_new\", \"feed_forward_proj\": \"gated-gelu\""), &tp,
        &err);
    CHECKF(st == SC_ERR_UNSUPPORTED && !tp && strstr(err.msg, "gated"), "gated: %d %s", st, err.msg);
    st = sc_train_params_load(SC_TMP_DIR "/no_such_dir_for_train_params", &tp, &err);
    CHECKF(st != SC_OK && !tp, "missing dir: %d", st);
    CHECK(sc_train_params_load(NULL, &tp, &err) == SC_ERR_INVALID_ARG);
    TEST_MAIN_END();
}
