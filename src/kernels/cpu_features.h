/* CPU feature detection (x86-64 cpuid + xgetbv), done once and cached.
 * A feature is reported only when both the CPU has it and the OS saves the
 * registers it needs (XCR0), and for AMX only after Linux granted this
 * process the tile-data permission. On other architectures every flag is
 * false and the reference kernels run.
 *
 * SWITCHC_NO_AMX set to anything but "" or "0" hides AMX (the amx_* flags
 * stay false and no permission is requested), so the non-AMX kernels can be
 * run and tested on an AMX machine. */
#ifndef SC_KERNELS_CPU_FEATURES_H
#define SC_KERNELS_CPU_FEATURES_H

#include <stdbool.h>
#include <stddef.h>

typedef struct sc_cpu_features {
    bool avx2, fma;
    bool avx512f, avx512bw, avx512vl, avx512dq;
    bool avx512_vnni, avx512_bf16, avx512_fp16;
    bool amx_tile, amx_bf16, amx_int8; /* usable: CPU, OS and permission */
    /* vdpbf16ps issues at the fp32 FMA rate (2 x its flop/s): AMD Zen 4/5.
     * Intel cores issue it at half that, i.e. no faster than widening bf16
     * to fp32 and using FMAs (bench/README.md), so the default table only
     * computes in bf16 without AMX where this is set. */
    bool fast_bf16_dot;
} sc_cpu_features;

/* Detected on the first call; thread-safe. */
const sc_cpu_features *sc_cpu_features_get(void);

/* "avx2 fma avx512f ..." into buf (always NUL-terminated). */
void sc_cpu_features_string(const sc_cpu_features *f, char *buf, size_t cap);

/* All of F, BW, VL, DQ and FMA: what the avx512 kernels require. */
static inline bool sc_cpu_has_avx512(const sc_cpu_features *f) {
    return f->avx512f && f->avx512bw && f->avx512vl && f->avx512dq && f->fma;
}

#endif
