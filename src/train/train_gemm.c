/* The GEMMs of training's fast path (train_fast.h): a linear layer's forward
 * and its two backward products, all through the kernels table's fp32
 * matmul y[M,N] = x[M,K] W[N,K]^T, which is packed, AVX-512 where the CPU
 * has it, and split over the pool:
 *   forward  out = in W^T                 matmul(in, W)
 *   dX       dx += dout W  = dout (W^T)^T  matmul(dout, W^T)
 *   dW       dW += dout^T in               matmul(dout^T, in^T)
 * The transposed operands are made per call (a threaded blocked
 * transpose), and the products land in scratch before they are added to
 * dx / dW, because matmul overwrites. Wide layers (the LM head) run in
 * slices of output features so the scratch stays a few MiB per slice
 * rather than a copy of the whole weight.
 *
 * Left out: a micro-kernel that reads W and dY in their own layouts (it
 * would save the transposes, one pass over W and one over dY per call). */
#include "train/train_fast.h"

#include "kernels/cpu/transpose16.h" /* SC_HAVE_X86_KERNELS, sc_transpose16 */
#include "kernels/cpu_features.h"

#include <stdlib.h>
#include <string.h>

/* Output features per slice of the dX / dW products. */
#define SLICE 4096

typedef struct for_task {
    void (*fn)(void *ctx, int64_t lo, int64_t hi);
    void *ctx;
    int64_t n;
} for_task;

static void for_run(void *c, int t, int nt) {
    const for_task *f = c;
    int64_t lo = f->n * t / nt, hi = f->n * (t + 1) / nt;
    if (lo < hi)
        f->fn(f->ctx, lo, hi);
}

void sc_trx_for(sc_pool *pool, int64_t n, int64_t grain, void (*fn)(void *ctx, int64_t lo, int64_t hi),
                void *ctx) {
    if (n <= 0)
        return;
    int64_t nt = sc_pool_size(pool);
    if (grain < 1)
        grain = 1;
    if (nt > n / grain)
        nt = n / grain;
    if (nt <= 1 || !pool) {
        fn(ctx, 0, n);
        return;
    }
    for_task f = {fn, ctx, n};
    sc_pool_run(pool, for_run, &f, (int)nt);
}

/* ---------------------------------------------------------------- transpose */

typedef struct tr_ctx {
    float *dst;
    const float *src;
    int64_t R, C, ld;
} tr_ctx;

#define TB 16

/* The tile at (r0, c0), up to TB x TB, element by element. */
static void tr_tile(const tr_ctx *t, int64_t r0, int64_t r1, int64_t c0, int64_t c1) {
    for (int64_t r = r0; r < r1; r++) {
        const float *s = t->src + r * t->ld;
        for (int64_t cc = c0; cc < c1; cc++)
            t->dst[cc * t->R + r] = s[cc];
    }
}

#if SC_HAVE_X86_KERNELS
/* Full 16x16 tiles in registers: 16 row loads, 16 full-line stores. With the
 * element loop, the power-of-two row strides of these matrices (1024 tokens,
 * 4096 features) put every store of a tile in one L1 set. */
static SC_TARGET_AVX512 void tr_rows_avx512(const tr_ctx *t, int64_t lo, int64_t hi) {
    for (int64_t rb = lo; rb < hi; rb++) {
        int64_t r0 = rb * TB, r1 = r0 + TB < t->R ? r0 + TB : t->R;
        int64_t c0 = 0;
        if (r1 - r0 == TB)
            for (; c0 + TB <= t->C; c0 += TB) {
                __m512 v[16];
                for (int i = 0; i < 16; i++)
                    v[i] = _mm512_loadu_ps(t->src + (r0 + i) * t->ld + c0);
                sc_transpose16(v);
                for (int i = 0; i < 16; i++)
                    _mm512_storeu_ps(t->dst + (c0 + i) * t->R + r0, v[i]);
            }
        if (c0 < t->C)
            tr_tile(t, r0, r1, c0, t->C);
    }
}
#endif

/* Row blocks [lo, hi) of TB source rows each, tile by tile. */
static void tr_rows(void *c, int64_t lo, int64_t hi) {
    const tr_ctx *t = c;
#if SC_HAVE_X86_KERNELS
    if (sc_cpu_has_avx512(sc_cpu_features_get())) {
        tr_rows_avx512(t, lo, hi);
        return;
    }
#endif
    for (int64_t rb = lo; rb < hi; rb++) {
        int64_t r0 = rb * TB, r1 = r0 + TB < t->R ? r0 + TB : t->R;
        for (int64_t c0 = 0; c0 < t->C; c0 += TB)
            tr_tile(t, r0, r1, c0, c0 + TB < t->C ? c0 + TB : t->C);
    }
}

void sc_trx_transpose(float *dst, const float *src, int64_t R, int64_t C, int64_t ld, sc_pool *pool) {
    tr_ctx t = {dst, src, R, C, ld};
    sc_trx_for(pool, (R + TB - 1) / TB, 4, tr_rows, &t);
}

/* -------------------------------------------------------------------- add */

typedef struct add_ctx {
    float *y;
    const float *a;
    int64_t ld_y, ld_a, cols;
} add_ctx;

/* y[r, :cols] += a[r, :cols] for rows [lo, hi). */
static void add_rows(void *c, int64_t lo, int64_t hi) {
    const add_ctx *t = c;
    for (int64_t r = lo; r < hi; r++) {
        float *y = t->y + r * t->ld_y;
        const float *a = t->a + r * t->ld_a;
        for (int64_t i = 0; i < t->cols; i++)
            y[i] += a[i];
    }
}

static void add_into(float *y, int64_t ld_y, const float *a, int64_t ld_a, int64_t rows, int64_t cols,
                     sc_pool *pool) {
    add_ctx t = {y, a, ld_y, ld_a, cols};
    sc_trx_for(pool, rows, 16, add_rows, &t);
}

/* ------------------------------------------------------------------ GEMMs */

static const sc_kernels *table(const sc_trx *x) { return x && x->k ? x->k : sc_kernels_exact(); }

static sc_tensor f32_view(const float *w, int64_t rows, int64_t cols) {
    sc_tensor t;
    memset(&t, 0, sizeof t);
    t.dtype = SC_DTYPE_F32;
    t.ndim = 2;
    t.shape[0] = rows;
    t.shape[1] = cols;
    t.data = w;
    return t;
}

void sc_trx_linear_fwd(const sc_trx *x, float *out, const float *in, const float *W, int64_t N, int64_t In,
                       int64_t O) {
    if (!x || !x->fast) {
        sc_tr_linear_fwd(out, in, W, N, In, O);
        return;
    }
    sc_tensor t = f32_view(W, O, In);
    table(x)->matmul(out, in, &t, N, x->pool);
}

/* A float buffer of a*b*... elements, NULL on overflow or no memory. */
static float *fbuf(int64_t a, int64_t b) {
    if (a <= 0 || b <= 0 || (uint64_t)a > SIZE_MAX / sizeof(float) / (uint64_t)b)
        return NULL;
    return malloc((size_t)a * (size_t)b * sizeof(float));
}

void sc_trx_gemm_dx(const sc_trx *x, float *dx, const float *dout, const float *W, int64_t N, int64_t In,
                    int64_t O) {
    sc_pool *pool = x ? x->pool : NULL;
    int64_t sl = O < SLICE ? O : SLICE;
    float *wt = fbuf(In, sl), *tmp = fbuf(N, In), *a = O > sl ? fbuf(N, sl) : NULL;
    if (!wt || !tmp || (O > sl && !a)) {
        free(wt);
        free(tmp);
        free(a);
        sc_tr_linear_bwd(dx, NULL, dout, NULL, W, N, In, O);
        return;
    }
    /* dx += sum over slices [o0, o0+ob) of dout[:, slice] W[slice, :]. */
    for (int64_t o0 = 0; o0 < O; o0 += sl) {
        int64_t ob = O - o0 < sl ? O - o0 : sl;
        sc_trx_transpose(wt, W + o0 * In, ob, In, In, pool); /* [In, ob] */
        const float *src = dout;
        if (ob != O) {
            for (int64_t n = 0; n < N; n++)
                memcpy(a + n * ob, dout + n * O + o0, (size_t)ob * sizeof(float));
            src = a;
        }
        sc_tensor t = f32_view(wt, In, ob);
        table(x)->matmul(tmp, src, &t, N, pool);
        add_into(dx, In, tmp, In, N, In, pool);
    }
    free(wt);
    free(tmp);
    free(a);
}

void sc_trx_gemm_dw(const sc_trx *x, float *dW, const float *dout, const float *in, int64_t N, int64_t In,
                    int64_t O) {
    sc_pool *pool = x ? x->pool : NULL;
    int64_t sl = O < SLICE ? O : SLICE;
    float *xt = fbuf(In, N), *at = fbuf(sl, N), *tmp = fbuf(sl, In);
    if (!xt || !at || !tmp) {
        free(xt);
        free(at);
        free(tmp);
        sc_tr_linear_bwd(NULL, dW, dout, in, NULL, N, In, O);
        return;
    }
    sc_trx_transpose(xt, in, N, In, In, pool); /* [In, N] */
    sc_tensor t = f32_view(xt, In, N);
    for (int64_t o0 = 0; o0 < O; o0 += sl) {
        int64_t ob = O - o0 < sl ? O - o0 : sl;
        sc_trx_transpose(at, dout + o0, N, ob, O, pool); /* [ob, N] */
        table(x)->matmul(tmp, at, &t, ob, pool);         /* [ob, In] */
        add_into(dW + o0 * In, In, tmp, In, ob, In, pool);
    }
    free(xt);
    free(at);
    free(tmp);
}

void sc_trx_linear_bwd(const sc_trx *x, float *dx, float *dW, const float *dout, const float *in,
                       const float *W, int64_t N, int64_t In, int64_t O) {
    if (!x || !x->fast) {
        sc_tr_linear_bwd(dx, dW, dout, in, W, N, In, O);
        return;
    }
    if (N <= 0)
        return;
    if (dx)
        sc_trx_gemm_dx(x, dx, dout, W, N, In, O);
    if (dW)
        sc_trx_gemm_dw(x, dW, dout, in, N, In, O);
}
