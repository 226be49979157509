/* Internal interface of the generation code: a small decoder abstraction (so
 * greedy, sampling and beam search can be tested with a toy model), the core
 * entry point, and the logits processors HF applies between the model and the
 * token choice. The binding to sc_session lives in session_decoder.c. */
#ifndef SC_GENERATION_GENERATE_H
#define SC_GENERATION_GENERATE_H

#include "core/rng.h"
#include "switchc.h"

/* Something that produces next-token logits for a batch of rows, one token
 * per row per step, and can rebuild its batch from existing rows. */
typedef struct sc_decoder {
    void *ctx;
    int64_t vocab;
    /* tokens[rows] -> logits[rows, vocab]; rows is the current batch size */
    sc_status (*step)(void *ctx, const int32_t *tokens, int64_t rows, float *logits,
                      sc_error *err);
    /* new row r = old row src[r], r < n */
    sc_status (*select_rows)(void *ctx, const int32_t *src, int64_t n, sc_error *err);
} sc_decoder;

/* Runs generation on a decoder that currently holds B rows (one per prompt,
 * nothing decoded yet). Token ids in p must be resolved (pad and start >= 0,
 * eos >= 0 or SC_TOKEN_NONE). */
sc_status sc_generate_decoder(const sc_decoder *dec, int64_t B, const sc_generate_params *p,
                              sc_generate_result **out, sc_error *err);

/* ---- logits processors (HF order: repetition penalty, no-repeat n-gram,
 * min length; then for sampling temperature, top-k, top-p). Each works on
 * one row of `vocab` scores given the decoder ids so far seq[len]. */

/* HF RepetitionPenaltyLogitsProcessor: every token in seq (the start token
 * included, duplicates counted once): s < 0 ? s * penalty : s / penalty.
 * tmp has room for len floats. */
void sc_proc_repetition(float *scores, const int32_t *seq, int64_t len, float penalty,
                        float *tmp);
/* HF NoRepeatNGramLogitsProcessor: bans every token that would repeat an
 * n-gram already in seq. */
void sc_proc_no_repeat_ngram(float *scores, int64_t vocab, const int32_t *seq, int64_t len,
                             int64_t n);
/* HF TopKLogitsWarper: keeps the scores >= the k-th largest (k clamped to
 * [min_keep, vocab]). tmp has room for vocab floats. */
void sc_proc_top_k(float *scores, int64_t vocab, int64_t k, int64_t min_keep, float *tmp);
typedef struct sc_score_index {
    float v;
    int32_t i;
} sc_score_index;
/* HF TopPLogitsWarper: sorts ascending, removes tokens whose cumulative
 * probability is <= 1 - top_p, keeping at least min_keep. tmp has room for
 * vocab entries. */
void sc_proc_top_p(float *scores, int64_t vocab, double top_p, int64_t min_keep,
                   sc_score_index *tmp);
/* out = log_softmax(x) (may alias), torch's formula (x - max) - log(sum). */
void sc_log_softmax(float *out, const float *x, int64_t n);
/* torch.argmax: first maximum; a NaN counts as the maximum. */
int64_t sc_argmax(const float *x, int64_t n);

/* Draws an index from softmax(scores) (-inf = probability 0); -1 when no
 * finite score exists. */
int64_t sc_sample_softmax(const float *scores, int64_t vocab, sc_rng *r);

#endif
