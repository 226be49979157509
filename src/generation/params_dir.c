/* sc_generate_params_from_dir: a checkpoint's generation defaults
 * (config.json token ids, generation_config.json over HF's defaults). */
#include <stdio.h>

#include "core/error.h"
#include "io/config.h"

sc_status sc_generate_params_from_dir(const char *dir, sc_generate_params *p, sc_error *err) {
    if (!dir || !p) return sc_fail(err, SC_ERR_INVALID_ARG, SC_NO_OFFSET, "generate: NULL argument");
    char path[4096];
    int n = snprintf(path, sizeof path, "%s/config.json", dir);
    if (n < 0 || (size_t)n >= sizeof path)
        return sc_fail(err, SC_ERR_INVALID_ARG, SC_NO_OFFSET, "%s: path too long", dir);
    sc_config c;
    sc_status st = sc_config_load(path, &c, err);
    if (st != SC_OK) return st;
    n = snprintf(path, sizeof path, "%s/generation_config.json", dir);
    if (n < 0 || (size_t)n >= sizeof path)
        return sc_fail(err, SC_ERR_INVALID_ARG, SC_NO_OFFSET, "%s: path too long", dir);
    sc_generation_config g;
    st = sc_generation_config_load(path, &c, &g, err);
    if (st != SC_OK) return st;
    sc_generate_params q = sc_generate_default_params();
    q.max_length = g.max_length;
    q.max_new_tokens = g.max_new_tokens;
    q.min_length = g.min_length;
    q.min_new_tokens = g.min_new_tokens;
    q.num_beams = g.num_beams;
    q.num_return_sequences = g.num_return_sequences;
    q.length_penalty = g.length_penalty;
    q.early_stopping = g.early_stopping_never ? SC_EARLY_STOP_NEVER
                       : g.early_stopping     ? SC_EARLY_STOP_TRUE
                                              : SC_EARLY_STOP_HEURISTIC;
    q.do_sample = g.do_sample;
    q.temperature = g.temperature;
    q.top_k = g.top_k;
    q.top_p = g.top_p;
    q.repetition_penalty = g.repetition_penalty;
    q.no_repeat_ngram_size = g.no_repeat_ngram_size;
    /* ids outside int32 (or negative: unset) fall back to the model's */
    q.pad_token_id = (g.pad_token_id >= 0 && g.pad_token_id <= INT32_MAX) ? (int32_t)g.pad_token_id
                                                                          : SC_TOKEN_FROM_MODEL;
    q.eos_token_id = (g.eos_token_id >= 0 && g.eos_token_id <= INT32_MAX) ? (int32_t)g.eos_token_id
                                                                          : SC_TOKEN_FROM_MODEL;
    q.decoder_start_token_id = (g.decoder_start_token_id >= 0 && g.decoder_start_token_id <= INT32_MAX)
                                   ? (int32_t)g.decoder_start_token_id
                                   : SC_TOKEN_FROM_MODEL;
    *p = q;
    return SC_OK;
}
