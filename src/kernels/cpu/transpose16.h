/* 16x16 transpose of 32-bit elements held in 16 zmm registers, for the
 * kernels that reorder blocks in registers (matmul_avx512.c packs W panels
 * with it, matmul_amx.c packs x and turns its y^T tiles into y). */
#ifndef SC_KERNELS_CPU_TRANSPOSE16_H
#define SC_KERNELS_CPU_TRANSPOSE16_H

#include "kernels/cpu/cpu_kernels.h"

#if SC_HAVE_X86_KERNELS
#include <immintrin.h>

/* r[i] holds 16 values of row i; afterwards r[k] holds column k of the
 * rows, i.e. lane i of r[k] is the old lane k of r[i]. */
static SC_AI SC_TARGET_AVX512 void sc_transpose16(__m512 r[16]) {
    __m512 t[16], u[16];
    for (int i = 0; i < 8; i++) {
        t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    for (int g = 0; g < 4; g++) {
        __m512d a = _mm512_castps_pd(t[4 * g]), b = _mm512_castps_pd(t[4 * g + 1]);
        __m512d c = _mm512_castps_pd(t[4 * g + 2]), d = _mm512_castps_pd(t[4 * g + 3]);
        u[4 * g + 0] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, c));
        u[4 * g + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, c));
        u[4 * g + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(b, d));
        u[4 * g + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(b, d));
    }
    /* u[4g+j] lane L = elements 4L+j of rows 4g..4g+3 */
    for (int j = 0; j < 4; j++) {
        __m512 v = _mm512_shuffle_f32x4(u[j], u[4 + j], 0x88), w = _mm512_shuffle_f32x4(u[j], u[4 + j], 0xdd);
        __m512 v2 = _mm512_shuffle_f32x4(u[8 + j], u[12 + j], 0x88);
        __m512 w2 = _mm512_shuffle_f32x4(u[8 + j], u[12 + j], 0xdd);
        r[0 + j] = _mm512_shuffle_f32x4(v, v2, 0x88);
        r[8 + j] = _mm512_shuffle_f32x4(v, v2, 0xdd);
        r[4 + j] = _mm512_shuffle_f32x4(w, w2, 0x88);
        r[12 + j] = _mm512_shuffle_f32x4(w, w2, 0xdd);
    }
}
#endif

#endif
