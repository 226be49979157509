/* The benchmarks' timer and per-core instruction peaks (header only: every
 * bench/bench_*.c is its own executable). The peak loops themselves are the
 * library's (src/kernels/peak.h), so `switchc bench` and these programs
 * divide by the same measured numbers. */
#ifndef SC_BENCH_PEAK_LOOPS_H
#define SC_BENCH_PEAK_LOOPS_H

#include "kernels/peak.h"

#include <time.h>

static inline double peak_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Operations per second of one core on instruction k (0 if the CPU lacks it). */
static inline double peak_core(sc_peak_kind k) { return sc_peak_measure(k, 1); }

#endif
