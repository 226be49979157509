/* T5's span-corruption pre-training objective, as T5's
 * preprocessors.random_spans_noise_mask and HF's run_t5_mlm_flax.py
 * (FlaxDataCollatorForT5MLM) do it:
 *   - of a sequence of L tokens, num_noise = round(L * noise_density)
 *     clamped to [1, L - 1], num_spans = max(1, round(num_noise /
 *     mean_noise_span_length)), rounding half to even as numpy does;
 *   - the noise and the non-noise tokens are each cut into num_spans
 *     non-empty segments by a seeded random permutation (every such
 *     segmentation equally likely), and the spans alternate, starting with
 *     non-noise;
 *   - inputs: the non-noise tokens with each noise span replaced by one
 *     sentinel, <extra_id_0>, <extra_id_1>, ... in order, then </s>;
 *     targets: each noise span preceded by its sentinel, then </s>.
 * The random numbers come from the project's xoshiro256** (core/rng.h), not
 * numpy's, so masks are not those of a Python run with the same seed; the
 * distribution is the same. Leaves out packing documents into fixed-length
 * chunks (data.h corrupts one document at a time). */
#ifndef SC_TRAIN_SPAN_CORRUPTION_H
#define SC_TRAIN_SPAN_CORRUPTION_H

#include "switchc.h"
#include "core/rng.h"

/* sc_span_params is public (switchc.h). */

sc_span_params sc_span_default_params(void);

/* The number of noise tokens and noise spans for a sequence of `length`
 * tokens (>= 2). SC_ERR_INVALID_ARG for length < 2, a density outside
 * (0, 1), a mean span length < 1, or settings that ask for more spans than
 * there are non-noise tokens (a segment would be empty). */
sc_status sc_span_counts(const sc_span_params *p, int64_t length, int64_t *num_noise, int64_t *num_spans,
                         sc_error *err);

/* HF compute_input_and_target_lengths: the longest raw token count whose
 * corrupted inputs (non-noise + one sentinel per span + </s>) still fit in
 * inputs_length, and the length of the targets it gives. */
sc_status sc_span_lengths(const sc_span_params *p, int64_t inputs_length, int64_t *tokens_length,
                          int64_t *targets_length, sc_error *err);

/* random_spans_noise_mask: mask[0..length) = 1 for noise, 0 otherwise,
 * drawn from rng (which advances). */
sc_status sc_span_noise_mask(const sc_span_params *p, int64_t length, sc_rng *rng, uint8_t *mask,
                             sc_error *err);

/* Sentinel inputs and targets of tokens[0..n) under mask[0..n) (any mask:
 * each maximal run of noise becomes one sentinel in the inputs, each
 * maximal run of non-noise one sentinel in the targets, numbered from
 * <extra_id_0> in order of appearance). inputs needs room for n + 1 ids,
 * targets for n + 1; *n_inputs / *n_targets get the counts. Sentinel and
 * </s> ids come from the tokenizer; SC_ERR_LIMIT when a sequence needs more
 * sentinels than the tokenizer has (extra_ids). */
sc_status sc_span_corrupt(const sc_tokenizer *t, const int32_t *tokens, int64_t n, const uint8_t *mask,
                          int32_t *inputs, int64_t *n_inputs, int32_t *targets, int64_t *n_targets,
                          sc_error *err);

#endif
