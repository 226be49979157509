/* T5 attention (see attention.h). Scores are formed, biased, masked and
 * soft-maxed in per-task scratch rows, then used to mix V; no [H, Tq, Tk]
 * temporary. Work is split over the pool in contiguous runs of (head,
 * query rows), one scratch slot per task.
 *
 * Three kernels: a scalar row kernel (the reference, and the fallback off
 * x86); an AVX-512 row kernel for decode (one query row: q.k dots 4 keys at
 * a time, expf per key, p*V with 64 features in registers); and an AVX-512
 * block kernel for Tq >= 8 (encoder), 8 query rows of a head at a time with
 * a vectorized exp. All equal the reference up to summation order and exp
 * rounding (tests/test_attention.c). Leaves out online-softmax tiling over
 * Tk (a flash-attention layout): the score block is [8, Tk] per task. */
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

/* ---- query blocks (encoder self-attention): QB rows of one head at once.
 * Scores are a small GEMM against K^T of the head (packed once per head per
 * task), bias/mask/causal are added as vectors (the T5 bias depends only on
 * key - query, so per head it is one row indexed by j - i), exp is
 * vectorized, and the V mix streams each V row once for 4 output rows. */
#define QB 8

/* exp(x) for x <= 0 or moderate x: Cody-Waite reduction by ln 2 and a
 * degree-6 Taylor polynomial on |r| <= ln2/2 (truncation 1.2e-7 relative,
 * about 1 ulp, like expf). */
static inline TARGET_AVX512 __m512 exp_avx512(__m512 x) {
    x = _mm512_max_ps(x, _mm512_set1_ps(-88.0f));
    __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504f)), _MM_FROUND_TO_NEAREST_INT);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
    __m512 p = _mm512_set1_ps(1.0f / 720.0f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 120.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 24.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 6.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.5f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    return _mm512_scalef_ps(p, n);
}

/* Floats of one task's scratch for the block path: K^T [Dh][Tkp], the
 * score block [QB][Tkp], the key mask as additive floats [Tkp], the head's
 * bias row [Tkp + Tq + 16]; Tkp = Tk rounded up to 16. */
static int64_t block_floats(int64_t Tq, int64_t Tk, int64_t Dh) {
    int64_t Tkp = (Tk + 15) / 16 * 16;
    return Tkp * (Dh + QB + 2) + Tq + 16;
}

typedef struct {
    float *kt, *sc, *brow, *madd;
    int64_t Tkp, head; /* head whose K^T / bias row are packed; -1 none */
} block_scratch;

static TARGET_AVX512 void block_prepare_head(const sc_attn_args *a, block_scratch *b, int64_t h) {
    const int64_t I = a->H * a->Dh, Tk = a->Tk, Tkp = b->Tkp;
    for (int64_t d = 0; d < a->Dh; d++) {
        float *row = b->kt + d * Tkp;
        for (int64_t j = 0; j < Tk; j++) row[j] = a->k[j * I + h * a->Dh + d];
        for (int64_t j = Tk; j < Tkp; j++) row[j] = 0.0f;
    }
    /* brow[t] = bias of key - query = t - (Tq - 1) - q_pos0, so row i reads
     * brow + (Tq - 1 - i) indexed by key j */
    if (a->bias_table)
        for (int64_t t = 0; t < Tk + a->Tq + 15; t++) {
            int64_t rel = t - (a->Tq - 1) - a->q_pos0;
            /* only the relative positions the reference reads (bucket_of may not
             * cover others): keys before the end, and not after the query if causal */
            b->brow[t] = rel <= (a->causal ? 0 : Tk - 1)
                             ? a->bias_table[(int64_t)a->bucket_of[rel + a->bucket_off] * a->H + h] : 0.0f;
        }
    b->head = h;
}

static TARGET_AVX512 void block_rows(const sc_attn_args *a, block_scratch *b, int64_t h, int64_t i0) {
    const int64_t I = a->H * a->Dh, Dh = a->Dh, Tk = a->Tk, Tkp = b->Tkp;
    if (b->head != h) block_prepare_head(a, b, h);
    const float *qh = a->q + i0 * I + h * Dh;
    float *sc = b->sc;
    /* scores: QB rows x 16 keys per step */
    for (int64_t j = 0; j < Tkp; j += 16) {
        __m512 acc[QB];
        for (int r = 0; r < QB; r++) acc[r] = _mm512_setzero_ps();
        for (int64_t d = 0; d < Dh; d++) {
            __m512 kv = _mm512_loadu_ps(b->kt + d * Tkp + j);
            for (int r = 0; r < QB; r++) acc[r] = _mm512_fmadd_ps(_mm512_set1_ps(qh[r * I + d]), kv, acc[r]);
        }
        for (int r = 0; r < QB; r++) _mm512_storeu_ps(sc + r * Tkp + j, acc[r]);
    }
    float inv[QB];
    for (int r = 0; r < QB; r++) {
        const int64_t qpos = a->q_pos0 + i0 + r;
        const int64_t kend = a->causal ? (qpos + 1 < Tk ? qpos + 1 : Tk) : Tk;
        float *srow = sc + r * Tkp;
        const float *bias = a->bias_table ? b->brow + (a->Tq - 1 - (i0 + r)) : NULL;
        __m512 mx = _mm512_set1_ps(-INFINITY);
        for (int64_t j = 0; j < Tkp; j += 16) {
            __m512 v = _mm512_loadu_ps(srow + j);
            if (bias) v = _mm512_add_ps(v, _mm512_loadu_ps(bias + j));
            v = _mm512_add_ps(v, _mm512_loadu_ps(b->madd + j));
            v = _mm512_mask_blend_ps(dmask(kend - j), _mm512_set1_ps(-INFINITY), v);
            _mm512_storeu_ps(srow + j, v);
            mx = _mm512_max_ps(mx, v);
        }
        float m = _mm512_reduce_max_ps(mx);
        __m512 vm = _mm512_set1_ps(m == -INFINITY ? 0.0f : m), sum = _mm512_setzero_ps();
        for (int64_t j = 0; j < Tkp; j += 16) {
            __m512 v = _mm512_loadu_ps(srow + j);
            __mmask16 live = _mm512_cmp_ps_mask(v, _mm512_set1_ps(-INFINITY), _CMP_NEQ_OQ);
            __m512 e = _mm512_maskz_mov_ps(live, exp_avx512(_mm512_sub_ps(v, vm)));
            _mm512_storeu_ps(srow + j, e);
            sum = _mm512_add_ps(sum, e);
        }
        float total = _mm512_reduce_add_ps(sum);
        inv[r] = total > 0.0f ? 1.0f / total : 0.0f;
    }
    /* ctx rows = inv * (p @ V): 4 rows x 64 features of accumulators */
    const float *vh = a->v + h * Dh;
    for (int r0 = 0; r0 < QB; r0 += 4)
        for (int64_t d0 = 0; d0 < Dh; d0 += 64) {
            __mmask16 m[4];
            for (int c = 0; c < 4; c++) m[c] = dmask(Dh - d0 - 16 * c);
            __m512 o[4][4];
            for (int r = 0; r < 4; r++)
                for (int c = 0; c < 4; c++) o[r][c] = _mm512_setzero_ps();
            for (int64_t j = 0; j < Tk; j++) {
                const float *vj = vh + j * I + d0;
                __m512 vv[4];
                for (int c = 0; c < 4; c++) vv[c] = _mm512_maskz_loadu_ps(m[c], vj + 16 * c);
                for (int r = 0; r < 4; r++) {
                    __m512 p = _mm512_set1_ps(sc[(r0 + r) * Tkp + j]);
                    for (int c = 0; c < 4; c++) o[r][c] = _mm512_fmadd_ps(p, vv[c], o[r][c]);
                }
            }
            for (int r = 0; r < 4; r++) {
                float *out = a->ctx + (i0 + r0 + r) * I + h * Dh + d0;
                __m512 s = _mm512_set1_ps(inv[r0 + r]);
                for (int c = 0; c < 4; c++) _mm512_mask_storeu_ps(out + 16 * c, m[c], _mm512_mul_ps(o[r][c], s));
            }
        }
}

static TARGET_AVX512 void block_scratch_init(const sc_attn_args *a, block_scratch *b, float *base) {
    const int64_t Tkp = (a->Tk + 15) / 16 * 16;
    b->Tkp = Tkp;
    b->kt = base;
    b->sc = b->kt + a->Dh * Tkp;
    b->madd = b->sc + QB * Tkp;
    b->brow = b->madd + Tkp;
    b->head = -1;
    for (int64_t j = 0; j < Tkp; j++)
        b->madd[j] = j < a->Tk && (!a->key_mask || a->key_mask[j]) ? 0.0f : -INFINITY;
}
#endif

typedef void (*row_fn)(const sc_attn_args *a, float *s, int64_t h, int64_t i);

typedef struct {
    const sc_attn_args *a;
    row_fn row;
    int64_t slot; /* floats of scratch per task */
    bool blocks;  /* query blocks of QB rows (AVX-512, Tq >= QB) */
} attn_job;

/* Task t: units [t*U/n, (t+1)*U/n), head-major so a task keeps one head's
 * K/V columns hot (and packs the head's K^T once). A unit is one query row,
 * or with `blocks` one block of QB rows (the Tq % QB last rows are units of
 * their own). Causal rows grow in cost with i, but each task spans whole
 * heads or a mix of early and late rows only when H < tasks; fine for the
 * 2-8 threads this targets. */
static void attn_task(void *vctx, int task, int n_tasks) {
    const attn_job *jb = vctx;
    const sc_attn_args *a = jb->a;
    float *s = a->scratch + (int64_t)task * jb->slot;
#if defined(__x86_64__)
    if (jb->blocks) {
        const int64_t nb = a->Tq / QB, per_head = nb + a->Tq % QB, units = a->H * per_head;
        int64_t u0 = units * task / n_tasks, u1 = units * (task + 1) / n_tasks;
        block_scratch bs;
        block_scratch_init(a, &bs, s);
        for (int64_t u = u0; u < u1; u++) {
            int64_t h = u / per_head, k = u % per_head;
            if (k < nb) block_rows(a, &bs, h, k * QB);
            else jb->row(a, bs.sc, h, nb * QB + (k - nb));
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
    if (Tq >= QB && block_floats(Tq, Tk, Dh) > n) n = block_floats(Tq, Tk, Dh);
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
        jb.blocks = a->Tq >= QB;
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
