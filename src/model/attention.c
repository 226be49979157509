/* T5 attention (see attention.h). Scores are formed, biased, masked and
 * soft-maxed in per-task scratch, then used to mix V; no [H, Tq, Tk]
 * temporary. Work is split over the pool in contiguous runs of (head,
 * query rows), one scratch slot per task.
 *
 * Three kernels: a scalar row kernel (the reference, and the fallback off
 * x86); an AVX-512 block kernel for Tq >= 8 (encoder, cross-attention,
 * whole-target decoder passes), up to 16 query rows of a head at a time as
 * two small GEMMs around a vectorized softmax (below); and an AVX-512 row
 * kernel for fewer rows (decode) that gives a row the block kernel's bits.
 * The AVX-512 kernels equal the reference up to summation order and exp
 * rounding (tests/test_attention.c). Every kernel computes a query row
 * from that row and its keys alone, in an order that masked or padded
 * keys do not change, so a sequence's outputs are the same bits whatever
 * batch it is padded into (docs/batching.md). Leaves out
 * online-softmax tiling over Tk (a flash-attention layout): a task holds
 * the head's packed K^T and V and a [16, Tk] score block, so its scratch
 * grows with Tk. */
#include "model/attention.h"

#include "kernels/cpu_features.h"

#include <math.h>

int32_t sc_relative_bucket(int64_t relative, bool bidirectional, int64_t num_buckets,
                           int64_t max_distance) {
    int64_t bucket = 0;
    int64_t nb = num_buckets;
    int64_t rp;
    if (bidirectional) {
        nb /= 2;
        if (relative > 0) bucket += nb;
        rp = relative < 0 ? -relative : relative;
    } else {
        rp = relative < 0 ? -relative : 0;
    }
    int64_t max_exact = nb / 2;
    if (rp < max_exact) return (int32_t)(bucket + rp);
    /* HF computes this in float32: log(rp / max_exact) / log(max_distance / max_exact)
     * * (nb - max_exact), truncated toward zero, then clamped to nb - 1. */
    float ratio = (float)rp / (float)max_exact;
    float denom = (float)log((double)max_distance / (double)max_exact);
    float val = logf(ratio) / denom * (float)(nb - max_exact);
    int64_t large = max_exact + (int64_t)val;
    if (large > nb - 1) large = nb - 1;
    return (int32_t)(bucket + large);
}

/* Scores of row (h, i) into s[0..kend) with masked keys at -inf; returns
 * the row maximum (-inf if every key is masked). */
static float scores_scalar(const sc_attn_args *a, float *s, int64_t h, int64_t i, int64_t kend) {
    const int64_t I = a->H * a->Dh, qpos = a->q_pos0 + i;
    const float *qi = a->q + i * I + h * a->Dh;
    float mx = -INFINITY;
    for (int64_t j = 0; j < kend; j++) {
        if (a->key_mask && !a->key_mask[j]) {
            s[j] = -INFINITY;
            continue;
        }
        const float *kj = a->k + j * I + h * a->Dh;
        float dot = 0.0f;
        for (int64_t d = 0; d < a->Dh; d++) dot += qi[d] * kj[d];
        if (a->bias_table) dot += a->bias_table[(int64_t)a->bucket_of[j - qpos + a->bucket_off] * a->H + h];
        s[j] = dot;
        if (dot > mx) mx = dot;
    }
    return mx;
}

/* s[j] = exp(s[j] - mx) (0 for masked keys); returns 1 / sum (0 if empty). */
static float softmax_row(float *s, int64_t kend, float mx) {
    float sum = 0.0f;
    for (int64_t j = 0; j < kend; j++) {
        float e = s[j] == -INFINITY ? 0.0f : expf(s[j] - mx);
        s[j] = e;
        sum += e;
    }
    return sum > 0.0f ? 1.0f / sum : 0.0f;
}

static int64_t key_end(const sc_attn_args *a, int64_t i) {
    const int64_t qpos = a->q_pos0 + i;
    return a->causal ? (qpos + 1 < a->Tk ? qpos + 1 : a->Tk) : a->Tk;
}

static void row_scalar(const sc_attn_args *a, float *s, int64_t h, int64_t i) {
    const int64_t I = a->H * a->Dh, kend = key_end(a, i);
    float inv = softmax_row(s, kend, scores_scalar(a, s, h, i, kend));
    float *out = a->ctx + i * I + h * a->Dh;
    for (int64_t d = 0; d < a->Dh; d++) out[d] = 0.0f;
    for (int64_t j = 0; j < kend; j++) {
        float p = s[j] * inv;
        if (p == 0.0f) continue;
        const float *vj = a->v + j * I + h * a->Dh;
        for (int64_t d = 0; d < a->Dh; d++) out[d] += p * vj[d];
    }
}

void sc_attention_ref(const sc_attn_args *a) {
    for (int64_t h = 0; h < a->H; h++)
        for (int64_t i = 0; i < a->Tq; i++) row_scalar(a, a->scratch, h, i);
}

#if defined(__x86_64__)
#include <immintrin.h>
#define TARGET_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,fma")))

static inline TARGET_AVX512 __mmask16 dmask(int64_t left) {
    return left >= 16 ? (__mmask16)0xffff : left <= 0 ? 0 : (__mmask16)((1u << left) - 1);
}

/* ---- query blocks (Tq >= BLOCK_MIN_TQ): up to QB rows of one head at once.
 * Per head (once per task): K^T packed in strips of KS keys ([Tkp/KS][Dh][KS])
 * by 16x16 register transposes, V copied to contiguous rows [Tk][Dhp], the
 * relative bias as one row indexed by key - query (the T5 bias depends only
 * on that), the key mask as additive floats. Per block: the queries copied
 * to [QB][Dhp]; the scores as a GEMM in tiles of 8 rows x 32 keys (16 FMAs
 * per 2 key loads and 8 query broadcasts) with bias, mask and the row
 * maximum applied to the tile in registers before it is stored; exp and the
 * row sums in one pass; then P V in tiles of up to 6 rows x 64 features
 * (24 FMAs per 4 value loads and 6 broadcasts), scaled by 1 / sum at the
 * store. A causal block stops at its last row's last key. Packing makes the
 * head's keys and values contiguous: rows I floats apart (3 KB on the base
 * models) fall into a quarter of the L1 sets, and the earlier kernel, which
 * read them in place, re-read them from L2 for every block. */
#define QB 16
#define BLOCK_MIN_TQ 8
#define SR 8  /* rows of a score tile */
#define KS 32 /* keys of a score tile (two vectors) */
#define PR 6  /* rows of a P V tile */

/* Masked scores hold MASKED instead of -inf: exp2_avx512 then gives exactly
 * 0 for them without a compare (n is huge, 2^n underflows to 0), and a row
 * whose maximum is MASKED has no live key (its output is zeros). The cost:
 * a real score at or below -1e30 would count as masked; fp32 scores of a
 * model that has not overflowed stay many orders of magnitude above it. */
#define MASKED (-1e30f)

/* 2^t: n = round(t), 2^(t - n) by a degree-5 polynomial fitted to minimize
 * the relative error on [-1/2, 1/2] (7.5e-8; about 2e-7 evaluated in
 * float, 1-2 ulp like expf), scaled by 2^n (scalef: 0 for n < -150). The
 * caller forms t = (s - max) * log2(e) in one fused multiply-subtract. */
static inline TARGET_AVX512 __m512 exp2_avx512(__m512 t) {
    const __m512 n = _mm512_roundscale_ps(t, _MM_FROUND_TO_NEAREST_INT), f = _mm512_sub_ps(t, n);
    __m512 p = _mm512_set1_ps(1.327647245e-3f);
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(9.675540961e-3f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(5.550713092e-2f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(2.402212024e-1f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(6.931469440e-1f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.000000119f));
    return _mm512_scalef_ps(p, n);
}

static int64_t round_up(int64_t n, int64_t m) { return (n + m - 1) / m * m; }

/* Floats of one task's scratch for the block path (Tkp = Tk rounded up to
 * KS, Dhp = Dh rounded up to 16): K^T [Dh][Tkp], V [Tk][Dhp], the query
 * block [QB][Dhp], the score block [QB][Tkp], the additive key mask [Tkp]
 * and the head's bias row [Tq + Tkp, rounded up to 16]; 15 more to align
 * the start to 64 bytes. */
static int64_t block_floats(int64_t Tq, int64_t Tk, int64_t Dh) {
    const int64_t Tkp = round_up(Tk, KS), Dhp = round_up(Dh, 16);
    return Tkp * (Dh + QB + 2) + Dhp * (Tk + QB) + round_up(Tq, 16) + 15;
}

typedef struct {
    float *kt, *vp, *qb, *sc, *madd, *brow;
    int64_t Tkp, Dhp, head; /* head whose K^T, V and bias row are packed; -1 none */
} block_scratch;

/* r[t] = column t of the 16x16 block whose row i was r[i]. */
static inline TARGET_AVX512 void transpose16(__m512 r[16]) {
    __m512 t[16];
    for (int i = 0; i < 16; i += 2) {
        t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
    }
    /* per 128-bit lane L: r[4g + c] holds column 4L + c of rows 4g..4g+3 */
    for (int g = 0; g < 16; g += 4) {
        r[g] = _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(t[g]), _mm512_castps_pd(t[g + 2])));
        r[g + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(t[g]), _mm512_castps_pd(t[g + 2])));
        r[g + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(t[g + 1]), _mm512_castps_pd(t[g + 3])));
        r[g + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(t[g + 1]), _mm512_castps_pd(t[g + 3])));
    }
    for (int c = 0; c < 4; c++) {
        t[c] = _mm512_shuffle_f32x4(r[c], r[c + 4], 0x88);
        t[c + 4] = _mm512_shuffle_f32x4(r[c], r[c + 4], 0xdd);
        t[c + 8] = _mm512_shuffle_f32x4(r[c + 8], r[c + 12], 0x88);
        t[c + 12] = _mm512_shuffle_f32x4(r[c + 8], r[c + 12], 0xdd);
    }
    for (int c = 0; c < 4; c++) {
        r[c] = _mm512_shuffle_f32x4(t[c], t[c + 8], 0x88);
        r[c + 8] = _mm512_shuffle_f32x4(t[c], t[c + 8], 0xdd);
        r[c + 4] = _mm512_shuffle_f32x4(t[c + 4], t[c + 12], 0x88);
        r[c + 12] = _mm512_shuffle_f32x4(t[c + 4], t[c + 12], 0xdd);
    }
}

static TARGET_AVX512 void block_prepare_head(const sc_attn_args *a, block_scratch *b, int64_t h) {
    const int64_t I = a->H * a->Dh, Dh = a->Dh, Tk = a->Tk, Tkp = b->Tkp, Dhp = b->Dhp;
    const float *kh = a->k + h * Dh, *vh = a->v + h * Dh;
    for (int64_t j0 = 0; j0 < Tkp; j0 += 16)
        for (int64_t d0 = 0; d0 < Dh; d0 += 16) {
            const __mmask16 dm = dmask(Dh - d0);
            const float *src = kh + j0 * I + d0;
            float *dst = b->kt + j0 / KS * (Dh * KS) + j0 % KS + d0 * KS;
            __m512 r[16];
            if (j0 + 16 <= Tk)
                for (int t = 0; t < 16; t++) r[t] = _mm512_maskz_loadu_ps(dm, src + t * I);
            else
                for (int t = 0; t < 16; t++)
                    r[t] = j0 + t < Tk ? _mm512_maskz_loadu_ps(dm, src + t * I) : _mm512_setzero_ps();
            transpose16(r);
            if (d0 + 16 <= Dh)
                for (int t = 0; t < 16; t++) _mm512_storeu_ps(dst + t * KS, r[t]);
            else
                for (int t = 0; t < 16 && d0 + t < Dh; t++) _mm512_storeu_ps(dst + t * KS, r[t]);
        }
    for (int64_t j = 0; j < Tk; j++)
        for (int64_t d0 = 0; d0 < Dhp; d0 += 16)
            _mm512_storeu_ps(b->vp + j * Dhp + d0, _mm512_maskz_loadu_ps(dmask(Dh - d0), vh + j * I + d0));
    /* brow[t] = bias of key - query = t - (Tq - 1) - q_pos0, so row i reads
     * brow + (Tq - 1 - i) indexed by key j. Only the relative positions the
     * reference reads are looked up (bucket_of may not cover others): keys
     * before the end, and not after the query if causal; the rest are 0. */
    if (a->bias_table) {
        const int64_t first = a->bucket_off - (a->Tq - 1) - a->q_pos0; /* bucket_of index of t = 0 */
        const int64_t valid = (a->causal ? 0 : Tk - 1) + (a->Tq - 1) + a->q_pos0 + 1;
        const __m512i vh16 = _mm512_set1_epi32((int32_t)h), vH = _mm512_set1_epi32((int32_t)a->H);
        for (int64_t t = 0; t < a->Tq + Tkp; t += 16) {
            const __mmask16 m = dmask(valid - t);
            __m512i bk = _mm512_maskz_loadu_epi32(m, a->bucket_of + first + t);
            __m512i idx = _mm512_add_epi32(_mm512_mullo_epi32(bk, vH), vh16);
            _mm512_storeu_ps(b->brow + t, _mm512_mask_i32gather_ps(_mm512_setzero_ps(), m, idx, a->bias_table, 4));
        }
    }
    b->head = h;
}

/* Scores of block rows rg..rg+SR-1 (query block rows, zero past the block)
 * for keys [0, jlim): q k^T + bias + key mask, -inf past each row's causal
 * end; the row maxima go to rmax. */
static TARGET_AVX512 void score_tile_rows(const sc_attn_args *a, block_scratch *b, int64_t i0, int64_t rg,
                                          int64_t jlim, float *rmax) {
    const int64_t Dh = a->Dh, Tkp = b->Tkp, Dhp = b->Dhp;
    const float *qb = b->qb + rg * Dhp;
    const float *bias[SR];
    int64_t kend[SR];
    for (int r = 0; r < SR; r++) {
        int64_t i = i0 + rg + r < a->Tq ? i0 + rg + r : a->Tq - 1; /* rows past Tq: any valid row */
        bias[r] = a->bias_table ? b->brow + (a->Tq - 1 - i) : NULL;
        kend[r] = key_end(a, i);
    }
    __m512 mx[SR];
    for (int r = 0; r < SR; r++) mx[r] = _mm512_set1_ps(-INFINITY);
    for (int64_t j = 0; j < jlim; j += KS) {
        __m512 c0[SR], c1[SR];
        for (int r = 0; r < SR; r++) c0[r] = c1[r] = _mm512_setzero_ps();
        const float *kt = b->kt + j * Dh;
        for (int64_t d = 0; d < Dh; d++, kt += KS) {
            __m512 k0 = _mm512_loadu_ps(kt), k1 = _mm512_loadu_ps(kt + 16);
            for (int r = 0; r < SR; r++) {
                __m512 q = _mm512_set1_ps(qb[r * Dhp + d]);
                c0[r] = _mm512_fmadd_ps(q, k0, c0[r]);
                c1[r] = _mm512_fmadd_ps(q, k1, c1[r]);
            }
        }
        const __m512 m0 = _mm512_loadu_ps(b->madd + j), m1 = _mm512_loadu_ps(b->madd + j + 16);
        for (int r = 0; r < SR; r++) {
            __m512 v0 = _mm512_add_ps(c0[r], m0), v1 = _mm512_add_ps(c1[r], m1);
            if (bias[r]) {
                v0 = _mm512_add_ps(v0, _mm512_loadu_ps(bias[r] + j));
                v1 = _mm512_add_ps(v1, _mm512_loadu_ps(bias[r] + j + 16));
            }
            if (a->causal) {
                v0 = _mm512_mask_blend_ps(dmask(kend[r] - j), _mm512_set1_ps(MASKED), v0);
                v1 = _mm512_mask_blend_ps(dmask(kend[r] - j - 16), _mm512_set1_ps(MASKED), v1);
            }
            _mm512_storeu_ps(b->sc + (rg + r) * Tkp + j, v0);
            _mm512_storeu_ps(b->sc + (rg + r) * Tkp + j + 16, v1);
            mx[r] = _mm512_max_ps(mx[r], _mm512_max_ps(v0, v1));
        }
    }
    for (int r = 0; r < SR; r++) rmax[rg + r] = _mm512_reduce_max_ps(mx[r]);
}

/* out rows r < R, features [0, 16 NZ) of a 64-feature chunk: sum over keys
 * j < jend of sc[r][j] vp[j], times inv[r]; stores masked to `left` features. */
static inline __attribute__((always_inline)) TARGET_AVX512 void pv_tile(const float *sc, int64_t Tkp,
                                                                         const float *vp, int64_t Dhp,
                                                                         int64_t jend, const float *inv,
                                                                         float *out, int64_t I, int64_t left,
                                                                         const int R, const int NZ) {
    __m512 o[PR][4];
    for (int r = 0; r < R; r++)
        for (int c = 0; c < NZ; c++) o[r][c] = _mm512_setzero_ps();
    for (int64_t j = 0; j < jend; j++, vp += Dhp) {
        __m512 vv[4];
        for (int c = 0; c < NZ; c++) vv[c] = _mm512_loadu_ps(vp + 16 * c);
        for (int r = 0; r < R; r++) {
            __m512 p = _mm512_set1_ps(sc[r * Tkp + j]);
            for (int c = 0; c < NZ; c++) o[r][c] = _mm512_fmadd_ps(p, vv[c], o[r][c]);
        }
    }
    for (int r = 0; r < R; r++) {
        __m512 s = _mm512_set1_ps(inv[r]);
        for (int c = 0; c < NZ; c++)
            _mm512_mask_storeu_ps(out + r * I + 16 * c, dmask(left - 16 * c), _mm512_mul_ps(o[r][c], s));
    }
}

#define PV_CASE(R, NZ)                                                       \
    case (R) * 8 + (NZ):                                                     \
        pv_tile(sc, Tkp, vp, Dhp, jend, inv, out, I, left, (R), (NZ));       \
        break;
#define PV_CASES(R) PV_CASE(R, 1) PV_CASE(R, 2) PV_CASE(R, 3) PV_CASE(R, 4)

static TARGET_AVX512 void pv_rows(const float *sc, int64_t Tkp, const float *vp, int64_t Dhp, int64_t jend,
                                  const float *inv, float *out, int64_t I, int64_t left, int R) {
    const int NZ = left >= 64 ? 4 : (int)((left + 15) / 16);
    switch (R * 8 + NZ) {
        PV_CASES(1) PV_CASES(2) PV_CASES(3) PV_CASES(4) PV_CASES(5) PV_CASES(6)
    default: break;
    }
}

/* Rows i0 .. i0 + nr - 1 (nr <= QB) of head h. */
static TARGET_AVX512 void block_rows(const sc_attn_args *a, block_scratch *b, int64_t h, int64_t i0,
                                     int64_t nr) {
    const int64_t I = a->H * a->Dh, Dh = a->Dh, Tk = a->Tk, Tkp = b->Tkp, Dhp = b->Dhp;
    if (b->head != h) block_prepare_head(a, b, h);
    for (int64_t r = 0; r < QB; r++)
        for (int64_t d0 = 0; d0 < Dhp; d0 += 16)
            _mm512_storeu_ps(b->qb + r * Dhp + d0,
                             r < nr ? _mm512_maskz_loadu_ps(dmask(Dh - d0), a->q + (i0 + r) * I + h * Dh + d0)
                                    : _mm512_setzero_ps());
    /* causal: no row of the block sees keys past the last row's end */
    const int64_t jend = key_end(a, i0 + nr - 1), jlim = round_up(jend, KS);
    float rmax[QB], inv[QB];
    for (int64_t rg = 0; rg < nr; rg += SR) score_tile_rows(a, b, i0, rg, jlim, rmax);
    for (int64_t r = 0; r < nr; r++) {
        float *srow = b->sc + r * Tkp;
        /* a row without live keys (max MASKED) is shifted by 0, so its
         * exps underflow to 0 like its masked keys' (not 2^(rounding error)) */
        const bool dead = rmax[r] <= 0.5f * MASKED;
        const __m512 l2e = _mm512_set1_ps(1.44269504f), ml = _mm512_set1_ps(dead ? 0.0f : rmax[r] * 1.44269504f);
        __m512 sum = _mm512_setzero_ps();
        for (int64_t j = 0; j < jlim; j += 16) {
            __m512 e = exp2_avx512(_mm512_fmsub_ps(_mm512_loadu_ps(srow + j), l2e, ml));
            _mm512_storeu_ps(srow + j, e);
            sum = _mm512_add_ps(sum, e);
        }
        float total = _mm512_reduce_add_ps(sum);
        inv[r] = dead ? 0.0f : 1.0f / total;
    }
    for (int64_t r0 = 0; r0 < nr; r0 += PR) {
        const int R = (int)(nr - r0 < PR ? nr - r0 : PR);
        for (int64_t d0 = 0; d0 < Dh; d0 += 64)
            pv_rows(b->sc + r0 * Tkp, Tkp, b->vp + d0, Dhp, jend < Tk ? jend : Tk, inv + r0,
                    a->ctx + (i0 + r0) * I + h * Dh + d0, I, Dh - d0, R);
    }
}

/* ---- one query row (decode), the same numbers as the block path ----
 * Row i of head h computed exactly as block_rows computes it, so a row's
 * output does not depend on Tq (a prompt alone, Tq < BLOCK_MIN_TQ, or
 * padded in a batch, Tq >= BLOCK_MIN_TQ) nor on the rows beside it: each
 * score is one fused multiply-add chain over d from 0 (16 keys at a time,
 * read in place and transposed in registers, as block_prepare_head packs
 * them), plus the mask (0 or MASKED) and then the bias; the exps are
 * exp2_avx512 of the same fused multiply-subtract, summed in 16 lanes by
 * key (key j in lane j % 16) and reduced by _mm512_reduce_add_ps; P V is
 * one chain over keys per feature, scaled by 1 / sum at the end. Keys past
 * the row's end, which the block path also visits, add exact zeros there
 * (exp of MASKED is 0, and x + 0 and fma(0, v, x) are x), so leaving them
 * out here changes nothing. */
static TARGET_AVX512 void row_avx512(const sc_attn_args *a, float *s, int64_t h, int64_t i) {
    const int64_t I = a->H * a->Dh, Dh = a->Dh, kend = key_end(a, i), qpos = a->q_pos0 + i;
    const float *qi = a->q + i * I + h * Dh, *kh = a->k + h * Dh;
    __m512 mx = _mm512_set1_ps(-INFINITY);
    for (int64_t j0 = 0; j0 < kend; j0 += 16) {
        const int nj = kend - j0 < 16 ? (int)(kend - j0) : 16;
        __m512 c = _mm512_setzero_ps();
        for (int64_t d0 = 0; d0 < Dh; d0 += 16) {
            const __mmask16 dm = dmask(Dh - d0);
            __m512 r[16];
            for (int t = 0; t < 16; t++)
                r[t] = t < nj ? _mm512_maskz_loadu_ps(dm, kh + (j0 + t) * I + d0) : _mm512_setzero_ps();
            transpose16(r);
            const int64_t dn = Dh - d0 < 16 ? Dh - d0 : 16;
            for (int64_t dd = 0; dd < dn; dd++) c = _mm512_fmadd_ps(_mm512_set1_ps(qi[d0 + dd]), r[dd], c);
        }
        float madd[16], bias[16];
        for (int t = 0; t < 16; t++) {
            const int64_t j = j0 + t;
            madd[t] = t < nj && (!a->key_mask || a->key_mask[j]) ? 0.0f : MASKED;
            bias[t] = t < nj && a->bias_table
                          ? a->bias_table[(int64_t)a->bucket_of[j - qpos + a->bucket_off] * a->H + h]
                          : 0.0f;
        }
        __m512 v = _mm512_add_ps(c, _mm512_loadu_ps(madd));
        if (a->bias_table) v = _mm512_add_ps(v, _mm512_loadu_ps(bias));
        v = _mm512_mask_blend_ps(dmask(nj), _mm512_set1_ps(MASKED), v);
        _mm512_mask_storeu_ps(s + j0, dmask(nj), v);
        mx = _mm512_max_ps(mx, v);
    }
    const float rmax = _mm512_reduce_max_ps(mx);
    const bool dead = rmax <= 0.5f * MASKED;
    const __m512 l2e = _mm512_set1_ps(1.44269504f), ml = _mm512_set1_ps(dead ? 0.0f : rmax * 1.44269504f);
    __m512 sum = _mm512_setzero_ps();
    for (int64_t j0 = 0; j0 < kend; j0 += 16) {
        const __mmask16 m = dmask(kend - j0);
        __m512 e = _mm512_maskz_mov_ps(m, exp2_avx512(_mm512_fmsub_ps(_mm512_maskz_loadu_ps(m, s + j0), l2e, ml)));
        _mm512_mask_storeu_ps(s + j0, m, e);
        sum = _mm512_add_ps(sum, e);
    }
    const float total = _mm512_reduce_add_ps(sum), inv = dead ? 0.0f : 1.0f / total;
    const __m512 vinv = _mm512_set1_ps(inv);
    const float *vh = a->v + h * Dh;
    float *out = a->ctx + i * I + h * Dh;
    for (int64_t d0 = 0; d0 < Dh; d0 += 64) {
        const __mmask16 m0 = dmask(Dh - d0), m1 = dmask(Dh - d0 - 16), m2 = dmask(Dh - d0 - 32),
                        m3 = dmask(Dh - d0 - 48);
        __m512 o0 = _mm512_setzero_ps(), o1 = o0, o2 = o0, o3 = o0;
        const float *v = vh + d0;
        for (int64_t j = 0; j < kend; j++, v += I) {
            const __m512 p = _mm512_set1_ps(s[j]);
            o0 = _mm512_fmadd_ps(p, _mm512_maskz_loadu_ps(m0, v), o0);
            if (m1) o1 = _mm512_fmadd_ps(p, _mm512_maskz_loadu_ps(m1, v + 16), o1);
            if (m2) o2 = _mm512_fmadd_ps(p, _mm512_maskz_loadu_ps(m2, v + 32), o2);
            if (m3) o3 = _mm512_fmadd_ps(p, _mm512_maskz_loadu_ps(m3, v + 48), o3);
        }
        _mm512_mask_storeu_ps(out + d0, m0, _mm512_mul_ps(o0, vinv));
        _mm512_mask_storeu_ps(out + d0 + 16, m1, _mm512_mul_ps(o1, vinv));
        _mm512_mask_storeu_ps(out + d0 + 32, m2, _mm512_mul_ps(o2, vinv));
        _mm512_mask_storeu_ps(out + d0 + 48, m3, _mm512_mul_ps(o3, vinv));
    }
}

static TARGET_AVX512 void block_scratch_init(const sc_attn_args *a, block_scratch *b, float *base) {
    const int64_t Tkp = round_up(a->Tk, KS), Dhp = round_up(a->Dh, 16);
    /* 64-byte aligned (block_floats has room): every packed row is too */
    base += (64 - (uintptr_t)base % 64) % 64 / sizeof(float);
    b->Tkp = Tkp;
    b->Dhp = Dhp;
    b->kt = base;
    b->vp = b->kt + a->Dh * Tkp;
    b->qb = b->vp + a->Tk * Dhp;
    b->sc = b->qb + QB * Dhp;
    b->madd = b->sc + QB * Tkp;
    b->brow = b->madd + Tkp;
    b->head = -1;
    for (int64_t j = 0; j < Tkp; j++)
        b->madd[j] = j < a->Tk && (!a->key_mask || a->key_mask[j]) ? 0.0f : MASKED;
}
#endif

typedef void (*row_fn)(const sc_attn_args *a, float *s, int64_t h, int64_t i);

typedef struct {
    const sc_attn_args *a;
    row_fn row;
    int64_t slot; /* floats of scratch per task */
    bool blocks;  /* query blocks of up to QB rows (AVX-512, Tq >= BLOCK_MIN_TQ) */
} attn_job;

/* Task t: units [t*U/n, (t+1)*U/n), head-major so a task keeps one head's
 * K/V hot (and packs the head's K^T and V once). A unit is one query row,
 * or with `blocks` one block of up to QB rows (the last block of a head may
 * be short). Causal rows grow in cost with i, but each task spans whole
 * heads or a mix of early and late rows only when H < tasks; fine for the
 * 2-8 threads this targets. */
static void attn_task(void *vctx, int task, int n_tasks) {
    const attn_job *jb = vctx;
    const sc_attn_args *a = jb->a;
    float *s = a->scratch + (int64_t)task * jb->slot;
#if defined(__x86_64__)
    if (jb->blocks) {
        const int64_t per_head = (a->Tq + QB - 1) / QB, units = a->H * per_head;
        int64_t u0 = units * task / n_tasks, u1 = units * (task + 1) / n_tasks;
        block_scratch bs;
        block_scratch_init(a, &bs, s);
        for (int64_t u = u0; u < u1; u++) {
            int64_t h = u / per_head, i0 = u % per_head * QB;
            block_rows(a, &bs, h, i0, a->Tq - i0 < QB ? a->Tq - i0 : QB);
        }
        return;
    }
#endif
    int64_t units = a->H * a->Tq;
    int64_t u0 = units * task / n_tasks, u1 = units * (task + 1) / n_tasks;
    for (int64_t u = u0; u < u1; u++) jb->row(a, s, u / a->Tq, u % a->Tq);
}

int64_t sc_attention_scratch_rows(const sc_pool *pool) { return sc_pool_size(pool); }

int64_t sc_attention_task_floats(int64_t Tq, int64_t Tk, int64_t Dh) {
    int64_t n = Tk;
#if defined(__x86_64__)
    if (Tq >= BLOCK_MIN_TQ && block_floats(Tq, Tk, Dh) > n) n = block_floats(Tq, Tk, Dh);
#else
    (void)Tq;
    (void)Dh;
#endif
    return n;
}

void sc_attention(const sc_attn_args *a) {
    attn_job jb = {a, row_scalar, sc_attention_task_floats(a->Tq, a->Tk, a->Dh), false};
#if defined(__x86_64__)
    if (sc_cpu_has_avx512(sc_cpu_features_get())) {
        jb.row = row_avx512;
        jb.blocks = a->Tq >= BLOCK_MIN_TQ;
    }
#endif
    int64_t units = a->H * a->Tq, tasks = a->scratch_rows > 1 && a->pool ? a->scratch_rows : 1;
    int64_t threads = sc_pool_size(a->pool);
    if (tasks > threads) tasks = threads;
    if (tasks > units) tasks = units;
    /* a tiny step (decode: one query row) is not worth waking a thread for */
    if ((double)units * (double)a->Tk * (double)a->Dh < 32768.0) tasks = 1;
    if (tasks <= 1) {
        if (units > 0) attn_task(&jb, 0, 1);
        return;
    }
    sc_pool_run(a->pool, attn_task, &jb, (int)tasks);
}
