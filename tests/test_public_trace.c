/* sc_session_set_trace and sc_shift_right (switchc.h) through the public
 * header only: a traced forward pass names HF's hidden states (embeddings,
 * every block, the final norm last: num_layers + 1 of the encoder and
 * num_decoder_layers + 1 of the decoder), its last encoder state is the
 * encoder output the result keeps, the router outputs come with their
 * stack and block in the name, a cleared trace is not called again; and
 * HF's shift_right on a row with ignored labels. The values themselves are
 * checked against the fixtures by test_verify_fixtures. */
#include "switchc.h"
#include "test_util.h"

#include <stdint.h>

#define MODEL SC_FIXTURES_DIR "/models/e8_step3_enc_dec0sparse_defaults" /* 6 enc / 3 dec blocks, d_model 40 */

typedef struct seen {
    int calls;
    int enc_hidden, dec_hidden; /* highest index + 1 */
    int routers;
    bool shapes_ok;
    float *enc_last; /* a copy of "encoder_hidden_states.<last>" */
    size_t enc_last_n;
    int enc_last_index;
} seen;

static void on_trace(void *ctx, const char *name, sc_dtype dtype, const void *data, int ndim,
                     const int64_t *shape) {
    seen *s = ctx;
    s->calls++;
    if (ndim < 1 || ndim > 4 || (dtype != SC_DTYPE_F32 && dtype != SC_DTYPE_I32)) s->shapes_ok = false;
    int k = -1;
    if (sscanf(name, "encoder_hidden_states.%d", &k) == 1) {
        if (k + 1 > s->enc_hidden) s->enc_hidden = k + 1;
        if (ndim != 3 || shape[2] != 40) s->shapes_ok = false;
        if (k > s->enc_last_index) {
            size_t n = (size_t)(shape[0] * shape[1] * shape[2]);
            free(s->enc_last);
            s->enc_last = malloc(n * sizeof(float));
            if (s->enc_last) memcpy(s->enc_last, data, n * sizeof(float));
            s->enc_last_n = n;
            s->enc_last_index = k;
        }
    } else if (sscanf(name, "decoder_hidden_states.%d", &k) == 1) {
        if (k + 1 > s->dec_hidden) s->dec_hidden = k + 1;
    } else if (strstr(name, ".router_logits") && (!strncmp(name, "encoder.block.", 14) ||
                                                   !strncmp(name, "decoder.block.", 14))) {
        s->routers++;
    }
}

static void test_trace(void) {
    sc_model_params mp = sc_model_default_params();
    mp.n_threads = 1;
    mp.kernels = "exact";
    sc_model *m = NULL;
    sc_session *s = NULL;
    sc_error err;
    CHECKF(sc_model_load(MODEL, &mp, &m, &err) == SC_OK, "%s", err.msg);
    if (!m || sc_session_new(m, &s, &err)) {
        CHECK(0);
        sc_model_free(m);
        return;
    }
    const int32_t ids[2 * 5] = {5, 6, 7, 8, 1, 9, 10, 11, 1, 0};
    const int32_t mask[2 * 5] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 0};
    const int32_t labels[2 * 3] = {12, 13, 1, 14, 1, -100};
    seen sn = {.shapes_ok = true, .enc_last_index = -1};
    sc_session_set_trace(s, on_trace, &sn);
    sc_forward_params fp = sc_forward_default_params();
    fp.keep_encoder_output = true;
    fp.keep_router = true; /* the result's capture passes every tensor on to the trace */
    sc_forward_result *r = NULL;
    CHECKF(sc_session_forward(s, ids, mask, 2, 5, labels, 3, &fp, &r, &err) == SC_OK, "%s", err.msg);
    CHECK(sn.calls > 0 && sn.shapes_ok);
    CHECKF(sn.enc_hidden == 6 + 1 && sn.dec_hidden == 3 + 1, "enc %d dec %d", sn.enc_hidden, sn.dec_hidden);
    CHECKF(sn.routers == (int)sc_forward_result_router_count(r), "%d traced, %lld kept", sn.routers,
           (long long)sc_forward_result_router_count(r));
    int64_t B = 0, S = 0, D = 0;
    const float *enc = sc_forward_result_encoder_output(r, &B, &S, &D);
    CHECK(enc && sn.enc_last && sn.enc_last_n == (size_t)(B * S * D) &&
          !memcmp(enc, sn.enc_last, sn.enc_last_n * sizeof(float)));
    sc_forward_result_free(r);
    /* cleared: the next pass is not traced */
    sc_session_set_trace(s, NULL, NULL);
    int before = sn.calls;
    r = NULL;
    CHECK(sc_session_forward(s, ids, mask, 2, 5, labels, 3, NULL, &r, &err) == SC_OK);
    CHECK(sn.calls == before);
    sc_forward_result_free(r);
    free(sn.enc_last);
    sc_session_free(s);
    sc_model_free(m);
}

static void test_shift_right(void) {
    const int32_t labels[2 * 4] = {7, -100, 9, 1, -100, -100, 4, 1};
    int32_t dec[2 * 4];
    sc_shift_right(dec, labels, 2, 4, /*start*/ 0, /*pad*/ 3);
    const int32_t want[2 * 4] = {0, 7, 3, 9, 0, 3, 3, 4};
    CHECK(!memcmp(dec, want, sizeof want));
}

int main(void) {
    test_trace();
    test_shift_right();
    TEST_MAIN_END();
}
