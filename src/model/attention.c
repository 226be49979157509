/* T5 attention (see attention.h). One query row of one head at a time:
 * scores are formed, biased, masked and soft-maxed in a [Tk] scratch row,
 * then used to mix V; no [H, Tq, Tk] temporary. The (head, query row) pairs
 * are split over the pool in contiguous runs, one scratch row per task.
 *
 * Two row kernels: a scalar one (the reference, and the fallback off x86)
 * and an AVX-512 one that vectorizes the q.k dots (4 keys at a time) and the
 * p*V accumulation (up to 64 output features in registers). Both call expf
 * per key, so the softmax is the same function; only summation order
 * differs. Leaves out a vectorized exp and blocking several query rows
 * against one pass over K/V (a flash-attention layout). */
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

/* 4 keys per step: 4 vector accumulators over Dh, then 4 reductions. */
static TARGET_AVX512 float scores_avx512(const sc_attn_args *a, float *s, int64_t h, int64_t i, int64_t kend) {
    const int64_t I = a->H * a->Dh, Dh = a->Dh, qpos = a->q_pos0 + i;
    const float *qi = a->q + i * I + h * Dh;
    const float *kh = a->k + h * Dh;
    int64_t j = 0;
    for (; j + 4 <= kend; j += 4) {
        __m512 c0 = _mm512_setzero_ps(), c1 = c0, c2 = c0, c3 = c0;
        for (int64_t d = 0; d < Dh; d += 16) {
            __mmask16 m = dmask(Dh - d);
            __m512 qv = _mm512_maskz_loadu_ps(m, qi + d);
            c0 = _mm512_fmadd_ps(qv, _mm512_maskz_loadu_ps(m, kh + j * I + d), c0);
            c1 = _mm512_fmadd_ps(qv, _mm512_maskz_loadu_ps(m, kh + (j + 1) * I + d), c1);
            c2 = _mm512_fmadd_ps(qv, _mm512_maskz_loadu_ps(m, kh + (j + 2) * I + d), c2);
            c3 = _mm512_fmadd_ps(qv, _mm512_maskz_loadu_ps(m, kh + (j + 3) * I + d), c3);
        }
        s[j] = _mm512_reduce_add_ps(c0);
        s[j + 1] = _mm512_reduce_add_ps(c1);
        s[j + 2] = _mm512_reduce_add_ps(c2);
        s[j + 3] = _mm512_reduce_add_ps(c3);
    }
    for (; j < kend; j++) {
        __m512 c0 = _mm512_setzero_ps();
        for (int64_t d = 0; d < Dh; d += 16) {
            __mmask16 m = dmask(Dh - d);
            c0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, qi + d), _mm512_maskz_loadu_ps(m, kh + j * I + d), c0);
        }
        s[j] = _mm512_reduce_add_ps(c0);
    }
    /* bias, mask and max in a second, cheap pass (masked dots are wasted
     * work, but padding is a small share of a batch) */
    float mx = -INFINITY;
    for (j = 0; j < kend; j++) {
        if (a->key_mask && !a->key_mask[j]) {
            s[j] = -INFINITY;
            continue;
        }
        if (a->bias_table) s[j] += a->bias_table[(int64_t)a->bucket_of[j - qpos + a->bucket_off] * a->H + h];
        if (s[j] > mx) mx = s[j];
    }
    return mx;
}

/* out[0..Dh) = sum_j (s[j] * inv) v[j]: 64 features per pass in 4 registers. */
static TARGET_AVX512 void mix_avx512(float *out, const float *s, float inv, const float *vh, int64_t I,
                                     int64_t Dh, int64_t kend) {
    for (int64_t d0 = 0; d0 < Dh; d0 += 64) {
        __mmask16 m0 = dmask(Dh - d0), m1 = dmask(Dh - d0 - 16), m2 = dmask(Dh - d0 - 32),
                  m3 = dmask(Dh - d0 - 48);
        __m512 o0 = _mm512_setzero_ps(), o1 = o0, o2 = o0, o3 = o0;
        const float *v = vh + d0;
        for (int64_t j = 0; j < kend; j++, v += I) {
            float p = s[j] * inv;
            if (p == 0.0f) continue;
            __m512 pv = _mm512_set1_ps(p);
            o0 = _mm512_fmadd_ps(pv, _mm512_maskz_loadu_ps(m0, v), o0);
            if (m1) o1 = _mm512_fmadd_ps(pv, _mm512_maskz_loadu_ps(m1, v + 16), o1);
            if (m2) o2 = _mm512_fmadd_ps(pv, _mm512_maskz_loadu_ps(m2, v + 32), o2);
            if (m3) o3 = _mm512_fmadd_ps(pv, _mm512_maskz_loadu_ps(m3, v + 48), o3);
        }
        _mm512_mask_storeu_ps(out + d0, m0, o0);
        _mm512_mask_storeu_ps(out + d0 + 16, m1, o1);
        _mm512_mask_storeu_ps(out + d0 + 32, m2, o2);
        _mm512_mask_storeu_ps(out + d0 + 48, m3, o3);
    }
}

static TARGET_AVX512 void row_avx512(const sc_attn_args *a, float *s, int64_t h, int64_t i) {
    const int64_t I = a->H * a->Dh, kend = key_end(a, i);
    float inv = softmax_row(s, kend, scores_avx512(a, s, h, i, kend));
    mix_avx512(a->ctx + i * I + h * a->Dh, s, inv, a->v + h * a->Dh, I, a->Dh, kend);
}
#endif

typedef void (*row_fn)(const sc_attn_args *a, float *s, int64_t h, int64_t i);

typedef struct {
    const sc_attn_args *a;
    row_fn row;
} attn_job;

/* Task t: units [t*U/n, (t+1)*U/n) of the U = H*Tq (head, row) pairs,
 * head-major so a task keeps one head's K/V columns hot. Causal rows grow
 * in cost with i, but each task spans whole heads or a mix of early and late
 * rows only when H < tasks; fine for the 2-8 threads this targets. */
static void attn_task(void *vctx, int task, int n_tasks) {
    const attn_job *jb = vctx;
    const sc_attn_args *a = jb->a;
    int64_t units = a->H * a->Tq;
    int64_t u0 = units * task / n_tasks, u1 = units * (task + 1) / n_tasks;
    float *s = a->scratch + (int64_t)task * a->Tk;
    for (int64_t u = u0; u < u1; u++) jb->row(a, s, u / a->Tq, u % a->Tq);
}

int64_t sc_attention_scratch_rows(const sc_pool *pool) { return sc_pool_size(pool); }

void sc_attention(const sc_attn_args *a) {
    attn_job jb = {a, row_scalar};
#if defined(__x86_64__)
    if (sc_cpu_has_avx512(sc_cpu_features_get())) jb.row = row_avx512;
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
