/* What `switchc bench` measures, apart from its printing: the encoder and
 * decode timings on a session. Leaves out the model arithmetic that turns
 * them into GFLOP/s and weight GB/s and the peaks (switchc.h, "benchmark
 * figures") and recorded runs (bench_records.h). */
#ifndef SC_CLI_BENCH_FIGURES_H
#define SC_CLI_BENCH_FIGURES_H

#include "switchc.h"

/* Best of `reps` encodes of B x S random ids: *tok_s tokens per second and
 * *secs the best time. Every failure sets err. */
sc_status bench_encoder(sc_session *s, int64_t B, int64_t S, int reps, double *tok_s, double *secs,
                        sc_error *err);

/* Milliseconds per greedy decode step after a 64-token prompt, 32 steps, the
 * best of `reps` runs (the first one also pages in decoder weights the
 * encoder runs did not touch, when they are not in memory yet). Every
 * failure sets err. */
sc_status bench_decode(sc_session *s, int reps, double *ms, sc_error *err);

#endif
