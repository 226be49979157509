/* What `switchc bench` measures and counts, apart from its printing: the
 * encoder and decode timings on a session, and the model arithmetic that
 * turns them into GFLOP/s and weight GB/s. Leaves out the peaks (those are
 * kernels/peak.h) and recorded runs (bench_records.h). */
#ifndef SC_CLI_BENCH_FIGURES_H
#define SC_CLI_BENCH_FIGURES_H

#include "switchc.h"

struct sc_model;
struct sc_session;

/* Matmul flops of the encoder on `tokens` tokens, S per row (top-1 routing:
 * one expert per token), attention score/value products included. */
double bench_encoder_flops(const struct sc_model *m, double tokens, double S);

/* Weight bytes one decode step reads for one row: decoder self q/k/v/o,
 * cross q/o (cross K/V are cached), one expert or the dense FF per layer,
 * the lm head; every matrix in the dtype it computes in (an expert at its
 * converted size whether or not it has been converted yet). */
double bench_decode_bytes(const struct sc_model *m);

/* Best of `reps` encodes of B x S random ids: *tok_s tokens per second and
 * *secs the best time. Every failure sets err. */
sc_status bench_encoder(struct sc_session *s, int64_t B, int64_t S, int reps, double *tok_s, double *secs,
                        sc_error *err);

/* Milliseconds per greedy decode step after a 64-token prompt, 32 steps, the
 * best of `reps` runs (the first one also pages in decoder weights the
 * encoder runs did not touch, when they are not in memory yet). Every
 * failure sets err. */
sc_status bench_decode(struct sc_session *s, int reps, double *ms, sc_error *err);

#endif
