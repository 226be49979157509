/* The benchmarks' timer and per-core instruction peaks (header only: every
 * bench/bench_*.c is its own executable). The clock (src/core/clock.h) and
 * the peak loops (src/kernels/peak.h) are the library's, so `switchc bench`
 * and these programs time with the same clock and divide by the same
 * measured numbers. */
#ifndef SC_BENCH_PEAK_LOOPS_H
#define SC_BENCH_PEAK_LOOPS_H

#include "core/clock.h"
#include "kernels/peak.h"

/* Operations per second of one core on instruction k (0 if the CPU lacks it). */
static inline double peak_core(sc_peak_kind k) { return sc_peak_measure(k, 1); }

#endif
