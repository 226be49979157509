/* How x is rounded for the bf16-compute kernels, and the per-row
 * activation quantization of the int8 kernels (matmul_q8_vnni.c,
 * matmul_q8_packed.c, matmul_q8_fewrows.c, matmul_amx.c), in one place so
 * all quantize x identically: symmetric,
 * sx = max|x[m,:]| / 127, q = round(x * (127 / max)) to nearest even,
 * clamped to [-127, 127]; an all-zero row gets sx = 0 and q = 0. */
#ifndef SC_KERNELS_CPU_QUANTIZE_X_H
#define SC_KERNELS_CPU_QUANTIZE_X_H

#include "kernels/cpu/cpu_kernels.h"

#if SC_HAVE_X86_KERNELS
#include <immintrin.h>

/* Mask of the first n (clamped to 0..16) lanes. */
static SC_AI SC_TARGET_AVX512 __mmask16 sc_mask16(int64_t n) {
    return n >= 16 ? (__mmask16)0xffff : n <= 0 ? (__mmask16)0 : (__mmask16)((1u << n) - 1);
}

/* sx of one row of K floats; *inv = 127 / max|x| (0 for an all-zero row). */
static SC_AI SC_TARGET_AVX512 float sc_q8_row_scale(const float *x, int64_t K, float *inv) {
    __m512 amax = _mm512_setzero_ps();
    for (int64_t k = 0; k < K; k += 16)
        amax = _mm512_max_ps(amax, _mm512_abs_ps(_mm512_maskz_loadu_ps(sc_mask16(K - k), x + k)));
    float mx = _mm512_reduce_max_ps(amax);
    *inv = mx > 0.0f ? 127.0f / mx : 0.0f;
    return mx / 127.0f;
}

/* 16 quantized values (as int32) of x[0..16) under mask m (masked lanes 0). */
static SC_AI SC_TARGET_AVX512 __m512i sc_q8_quantize16(const float *x, __mmask16 m, __m512 vinv) {
    /* cvtps_epi32 rounds to nearest even, like nearbyintf in the reference */
    __m512i v = _mm512_cvtps_epi32(_mm512_mul_ps(_mm512_maskz_loadu_ps(m, x), vinv));
    return _mm512_max_epi32(_mm512_min_epi32(v, _mm512_set1_epi32(127)), _mm512_set1_epi32(-127));
}

/* x[0..32) (the first `left` real, the rest 0) rounded to bf16, to nearest
 * even: 16 words of (x[2p], x[2p+1]), a 64-byte row of a bf16 tile. The
 * rounding every bf16-compute kernel applies to x. */
static SC_AI SC_TARGET_BF16 __m512 sc_bf16_round32(const float *x, int64_t left) {
    __m512 lo = _mm512_maskz_loadu_ps(sc_mask16(left), x);
    __m512 hi = _mm512_maskz_loadu_ps(sc_mask16(left - 16), x + 16);
    return (__m512)_mm512_cvtne2ps_pbh(hi, lo);
}

/* 64 quantized values of x[0..64) (the first `left` of them real, the rest
 * 0) as int8 in k order: a 64-byte row of an int8 tile. */
static SC_AI SC_TARGET_AVX512 __m512i sc_q8_quantize64(const float *x, int64_t left, __m512 vinv) {
    __m512i v[4];
    for (int c = 0; c < 4; c++) v[c] = sc_q8_quantize16(x + 16 * c, sc_mask16(left - 16 * c), vinv);
    /* int32 -> int8 by two saturating packs (the values are within
     * [-127, 127], so nothing saturates); per 128-bit lane L they leave quad
     * L of v[0], v[1], v[2], v[3], which one permute puts back in k order */
    const __m512i order = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
    __m512i q = _mm512_packs_epi16(_mm512_packs_epi32(v[0], v[1]), _mm512_packs_epi32(v[2], v[3]));
    return _mm512_permutexvar_epi32(order, q);
}

/* The x preparation every packing kernel shares: 16 rows of x, rows apart
 * K floats from x (row 0 at x), of which the first `rows` are real. */

/* sx[i] of the real rows (the rest of sx untouched) and vinv[i] = 127 / max
 * (0 past the real rows). */
static SC_AI SC_TARGET_AVX512 void sc_q8_scales16(const float *x, int64_t K, int64_t rows, float *sx,
                                                  __m512 vinv[16]) {
    for (int i = 0; i < 16; i++) {
        float inv = 0.0f;
        if (i < rows) sx[i] = sc_q8_row_scale(x + i * K, K, &inv);
        vinv[i] = _mm512_set1_ps(inv);
    }
}

/* r[i]: row i's 64-byte tile row at k (sc_q8_quantize64); zeros past the
 * real rows. */
static SC_AI SC_TARGET_AVX512 void sc_q8_rows16(__m512 r[16], const float *x, int64_t K, int64_t k, int64_t rows,
                                                const __m512 vinv[16]) {
    for (int i = 0; i < 16; i++)
        r[i] = i < rows ? _mm512_castsi512_ps(sc_q8_quantize64(x + i * K + k, K - k, vinv[i])) : _mm512_setzero_ps();
}

/* r[i]: row i's 64-byte bf16 tile row at k (sc_bf16_round32); zeros past
 * the real rows. */
static SC_AI SC_TARGET_BF16 void sc_bf16_rows16(__m512 r[16], const float *x, int64_t K, int64_t k, int64_t rows) {
    for (int i = 0; i < 16; i++) r[i] = i < rows ? sc_bf16_round32(x + i * K + k, K - k) : _mm512_setzero_ps();
}
#endif

#endif
