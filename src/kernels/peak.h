/* Register-bound instruction peaks of this machine, measured: what the
 * benchmarks divide achieved flop/s by. Each loop keeps independent
 * accumulators (16 vector chains, or 4 AMX C tiles fed from 2 A and 2 B
 * tiles, the kernels' own blocking) busy with one instruction and no memory
 * traffic, and takes the best of short bursts (on a shared machine a long run
 * averages in the time another process held the core).
 *
 * Two traps an earlier benchmark fell into, avoided here: chains whose result
 * is never read are deleted by the compiler (every chain passes a volatile
 * asm barrier and all are summed), and chains started from equal values may
 * be merged (each starts from its own value). */
#ifndef SC_KERNELS_PEAK_H
#define SC_KERNELS_PEAK_H

#include "core/tensor.h"
#include "kernels/kernels.h"

#include <stddef.h>

typedef enum {
    SC_PEAK_FP32_FMA,  /* vfmadd231ps zmm: 32 flop */
    SC_PEAK_BF16_DOT,  /* vdpbf16ps zmm: 64 flop */
    SC_PEAK_INT8_VNNI, /* vpdpbusd zmm: 128 op */
    SC_PEAK_AMX_BF16,  /* tdpbf16ps 16x16x32: 16384 flop */
    SC_PEAK_AMX_INT8,  /* tdpbssd 16x16x64: 32768 op */
    SC_PEAK_COUNT
} sc_peak_kind;

/* "fp32-fma", "bf16-dot", "int8-vnni", "amx-bf16", "amx-int8". */
const char *sc_peak_name(sc_peak_kind k);

/* Operations per second of `threads` threads running the loop at once
 * (their sum); 0 when this CPU (or this build) lacks the instruction. Takes
 * about 0.1-0.3 s. */
double sc_peak_measure(sc_peak_kind k, int threads);

/* Read bandwidth in bytes per second: `threads` threads (the caller one of
 * them) each sum their slice of a fresh `bytes` buffer, the best of `passes`
 * passes (the first also warms a cache-sized buffer). A buffer far larger
 * than the caches measures DRAM. 0 when the buffer cannot be allocated. */
double sc_read_bw_measure(size_t bytes, int threads, int passes);

/* The same, read the way the decode kernels (1-4 x rows) read W, so that
 * weight bytes per second of a decode can be divided by it: each thread's
 * slice is 4 tasks (the kernels split N into up to 4 tasks per thread), a
 * task's rows of 768 floats are cut in 4 quarters read at once as 4 forward
 * streams, each prefetched SC_DOT_PF_BYTES ahead. Pass the bytes a decode
 * step reads, so the caches hold as much of the buffer as of the weights.
 * 0 when the buffer cannot be allocated or holds less than a row per
 * thread. */
double sc_read_bw_measure_rows(size_t bytes, int threads, int passes);

/* The instruction a kernels table runs weights of dtype `dt` on at encoder
 * sizes (many rows), e.g. SC_PEAK_AMX_BF16 for BF16 on the "amx" table. */
sc_peak_kind sc_peak_of_table(const sc_kernels *t, sc_dtype dt);

#endif
