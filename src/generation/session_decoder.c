/* sc_generate: binds the generation code's sc_decoder to an sc_session
 * (encode once, then one decode step per token; row selection for beams)
 * and resolves the token ids the caller left to the model. */
#include "generation/generate.h"

#include "core/error.h"

static sc_status sess_step(void *ctx, const int32_t *tokens, int64_t rows, float *logits,
                           sc_error *err) {
    sc_session *s = ctx;
    if (sc_session_rows(s) != rows)
        return sc_fail(err, SC_ERR_SHAPE, SC_NO_OFFSET,
                       "generate: session holds %lld rows, generation expects %lld",
                       (long long)sc_session_rows(s), (long long)rows);
    return sc_session_decode_step(s, tokens, logits, err);
}

static sc_status sess_select(void *ctx, const int32_t *src, int64_t n, sc_error *err) {
    return sc_session_select_rows(ctx, src, n, err);
}

static int32_t resolve(int32_t v, int32_t from_model) {
    return v == SC_TOKEN_FROM_MODEL ? from_model : v;
}

sc_status sc_generate(sc_session *s, const int32_t *ids, const int32_t *mask, int64_t B,
                      int64_t S, const sc_generate_params *params, sc_generate_result **out,
                      sc_error *err) {
    if (!s || !ids || !params || !out)
        return sc_fail(err, SC_ERR_INVALID_ARG, SC_NO_OFFSET, "generate: NULL argument");
    const sc_model *m = sc_session_model(s);
    sc_generate_params p = *params;
    p.pad_token_id = resolve(p.pad_token_id, sc_model_pad_id(m));
    p.eos_token_id = resolve(p.eos_token_id, sc_model_eos_id(m));
    p.decoder_start_token_id = resolve(p.decoder_start_token_id, sc_model_decoder_start_id(m));
    sc_status st = sc_session_encode(s, ids, mask, B, S, err);
    if (st != SC_OK) return st;
    sc_decoder dec = {s, sc_model_vocab_size(m), sess_step, sess_select};
    return sc_generate_decoder(&dec, B, &p, out, err);
}
