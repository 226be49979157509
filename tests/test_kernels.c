/* Every kernel table's matmul against sc_matmul_ref, for every weight dtype,
 * on odd shapes, serial and with a 2-thread pool; guard values after y must
 * stay untouched and every y must be written. Tolerances, with
 * S = sum_k |x[m,k] * w[n,k]| (w as the reference sees it):
 *   fp32 compute (F32, F16, BF16 widened):  1e-5 * S   (summation order)
 *   bf16 compute (vdpbf16ps or AMX tdpbf16ps, x -> bf16):  2^-8 * S + 1e-5 * S
 *   int8 (x quantized per row; vpdpbusd or AMX tdpbssd):  sw[n] * sx[m] / 2 * sum_k |q[n,k]| + 1e-5 * S
 * (the tolerance is chosen from the instruction names in the impl string).
 * A second shape set hits the AMX tile edges (M around 16 and 32 with the
 * decode cut at 4, N around 16, K around one 32-value bf16 / 64-value int8
 * step). On a CPU without AMX (or with SWITCHC_NO_AMX=1) the amx table is
 * reported "skipped (no AMX)".
 * The packed vdpbf16ps / vpdpbusd kernels are also called directly at every
 * M on their own edge shapes (check_packed_twin).
 * Batch invariance: a row's output bits do not depend on M, its place
 * among the rows or the threads (F32 weights; I8 where x is quantized per
 * row). Also: quantize_rows_q8, table selection ("best", "exact"), CPU feature
 * string, SWITCHC_NO_AMX hiding AMX from `switchc info`. */
#include "core/dtype.h"
#include "core/pool.h"
#include "kernels/cpu/cpu_kernels.h"
#include "kernels/cpu_features.h"
#include "kernels/kernels.h"
#include "test_util.h"

#include <math.h>
#include <stdint.h>

#define GUARD 16
static const float GUARD_VAL = -12345.678f;

static uint32_t rng = 12345u;
static float frand(void) {
    rng = rng * 1664525u + 1013904223u;
    return (float)((rng >> 8) & 0xffffff) / 8388608.0f - 1.0f;
}

/* ref-bf16: BF16 weights from M = 5 on are the reference on x rounded to
 * bf16 (nearest even: 1 + 2^-8 is a tie that goes down to 1, 1 + 3 * 2^-8
 * one that goes up), bit for bit; M <= 4 and other dtypes are the reference. */
static void test_ref_bf16(void) {
    const sc_kernels *t = sc_kernels_select("ref-bf16");
    CHECK(t != NULL && t->matmul == sc_matmul_bf16x_ref);
    enum { M = 6, N = 3, K = 37 };
    float x[M * K], xr[M * K], y[M * N], want[M * N];
    uint16_t wb[N * K];
    for (int i = 0; i < M * K; i++) x[i] = i % 7 == 0 ? 1.0f + (i % 2 ? 3.0f : 1.0f) / 256.0f : frand();
    for (int i = 0; i < M * K; i++) xr[i] = sc_bf16_to_f32(sc_f32_to_bf16(x[i]));
    CHECK(xr[0] == 1.0f && xr[7] == 1.0f + 4.0f / 256.0f);
    for (int i = 0; i < N * K; i++) wb[i] = sc_f32_to_bf16(frand());
    sc_tensor W = {.dtype = SC_DTYPE_BF16, .ndim = 2, .shape = {N, K}, .data = wb};
    for (int rows = 4; rows <= M; rows += 2) {
        sc_matmul_bf16x_ref(y, x, &W, rows, NULL);
        sc_matmul_ref(want, rows > SC_EXACT_BF16_MAX_M ? xr : x, &W, rows, NULL);
        CHECKF(!memcmp(y, want, sizeof(float) * (size_t)(rows * N)), "ref-bf16 at M = %d", rows);
    }
}

static void test_quantize(void) {
    float w[3 * 5] = {0.5f, -1.0f, 0.25f, 0.0f, 1.0f, 0, 0, 0, 0, 0, 3.0f, -0.1f, 2.9f, 1.5f, -3.0f};
    int8_t q[15];
    float s[3];
    const sc_kernels *t = sc_kernels_best();
    t->quantize_rows_q8(q, s, w, 3, 5);
    CHECK(fabsf(s[0] - 1.0f / 127.0f) < 1e-9f && q[1] == -127 && q[4] == 127 && q[3] == 0);
    CHECK(q[0] == 64 && q[2] == 32); /* 63.5 -> 64 (ties to even), 31.75 -> 32 */
    CHECK(s[1] == 0.0f && q[5] == 0 && q[9] == 0);
    CHECK(fabsf(s[2] - 3.0f / 127.0f) < 1e-7f && q[10] == 127 && q[14] == -127 && q[11] == -4);
}

static int check_one(const sc_kernels *t, sc_dtype dt, int64_t M, int64_t N, int64_t K, sc_pool *pool2) {
    float *x = malloc(sizeof(float) * (size_t)(M * K));
    float *wf = calloc((size_t)(N * K), sizeof(float));
    void *wd = malloc(sizeof(float) * (size_t)(N * K));
    float *scales = malloc(sizeof(float) * (size_t)N);
    float *wref = malloc(sizeof(float) * (size_t)(N * K)); /* w as the reference sees it */
    float *yref = malloc(sizeof(float) * (size_t)(M * N));
    float *y = malloc(sizeof(float) * (size_t)(M * N + GUARD));
    for (int64_t i = 0; i < M * K; i++) x[i] = frand();
    for (int64_t i = 0; i < N * K; i++) wf[i] = frand();
    sc_tensor W = {.dtype = dt, .ndim = 2, .shape = {N, K}, .data = wd, .scales = NULL};
    for (int64_t i = 0; i < N * K; i++) {
        switch (dt) {
        case SC_DTYPE_F32: ((float *)wd)[i] = wref[i] = wf[i]; break;
        case SC_DTYPE_BF16: ((uint16_t *)wd)[i] = sc_f32_to_bf16(wf[i]); wref[i] = sc_bf16_to_f32(((uint16_t *)wd)[i]); break;
        case SC_DTYPE_F16: ((uint16_t *)wd)[i] = sc_f32_to_f16(wf[i]); wref[i] = sc_f16_to_f32(((uint16_t *)wd)[i]); break;
        default: break;
        }
    }
    if (dt == SC_DTYPE_I8) {
        sc_quantize_rows_q8_ref(wd, scales, wf, N, K);
        W.scales = scales;
        for (int64_t i = 0; i < N * K; i++) wref[i] = (float)((int8_t *)wd)[i];
    }
    sc_matmul_ref(yref, x, &W, M, NULL);
    int ok = 1;
    for (int run = 0; run < 2 && ok; run++) {
    sc_pool *pool = run ? pool2 : NULL;
    const char *pool_name = run ? "2 threads" : "none";
    for (int64_t i = 0; i < M * N; i++) y[i] = NAN;
    for (int i = 0; i < GUARD; i++) y[M * N + i] = GUARD_VAL;
    t->matmul(y, x, &W, M, pool);
    for (int i = 0; i < GUARD; i++) ok &= y[M * N + i] == GUARD_VAL;
    if (!ok) fprintf(stderr, "%s dtype=%d M=%lld N=%lld K=%lld: guard overwritten\n", t->name, (int)dt,
                     (long long)M, (long long)N, (long long)K);
    const char *impl = t->matmul_impl[dt] ? t->matmul_impl[dt] : "";
    int bf16_compute = strstr(impl, "x rounded to bf16") != NULL;
    int q8 = strstr(impl, "vpdpbusd") || strstr(impl, "tdpbssd");
    double worst = 0;
    for (int64_t m = 0; m < M && ok; m++) {
        double sx = 0;
        for (int64_t k = 0; k < K; k++) { /* not fmax(): GCC 12's aarch64 vectorizer crashes on that reduction */
            const double v = fabs(x[m * K + k]);
            sx = v > sx ? v : sx;
        }
        sx /= 127.0;
        for (int64_t n = 0; n < N; n++) {
            double S = 0, Q = 0;
            for (int64_t k = 0; k < K; k++) {
                S += fabs((double)x[m * K + k] * wref[n * K + k]);
                Q += fabs(wref[n * K + k]);
            }
            if (dt == SC_DTYPE_I8) S *= scales[n];
            double tol = 1e-5 * S + 1e-30;
            if (bf16_compute) tol += S / 256.0;
            if (q8) tol += scales[n] * sx / 2.0 * Q * 1.0001;
            double d = fabs((double)y[m * N + n] - yref[m * N + n]);
            if (!(d <= tol)) {
                fprintf(stderr, "%s dtype=%d M=%lld N=%lld K=%lld pool=%s: y[%lld,%lld]=%g ref=%g tol=%g\n",
                        t->name, (int)dt, (long long)M, (long long)N, (long long)K, pool_name, (long long)m,
                        (long long)n, y[m * N + n], yref[m * N + n], tol);
                ok = 0;
                break;
            }
            if (tol > 0 && d / tol > worst) worst = d / tol;
        }
    }
    }
    free(x); free(wf); free(wd); free(scales); free(wref); free(yref); free(y);
    return ok;
}

/* The AMX kernels against their exact twins, on the AMX edge shapes (M > 4,
 * so the table runs the tiles for BF16; I8 also at M = 2..4): I8 must equal the VNNI kernel bit for bit
 * (same quantized x, exact int32 sums, same scaling expression); BF16 must
 * equal the reference run on x rounded to bf16, up to fp32 summation order
 * (1e-5 * S). Much tighter than the bf16-compute bound above. */
static int check_amx_twin(const sc_kernels *amx, sc_dtype dt, int64_t M, int64_t N, int64_t K, sc_pool *pool2) {
    const sc_kernels *vnni = sc_kernels_select("avx512-vnni");
    float *x = malloc(sizeof(float) * (size_t)(M * K)), *xr = malloc(sizeof(float) * (size_t)(M * K));
    float *wf = calloc((size_t)(N * K), sizeof(float)), *scales = malloc(sizeof(float) * (size_t)N);
    uint16_t *wb = malloc(sizeof(uint16_t) * (size_t)(N * K));
    int8_t *wq = malloc((size_t)(N * K));
    float *ytwin = malloc(sizeof(float) * (size_t)(M * N)), *y = malloc(sizeof(float) * (size_t)(M * N));
    for (int64_t i = 0; i < M * K; i++) {
        x[i] = frand() * (i % 5 == 0 ? 8.0f : 1.0f);
        xr[i] = sc_bf16_to_f32(sc_f32_to_bf16(x[i]));
    }
    for (int64_t i = 0; i < N * K; i++) wf[i] = frand();
    sc_tensor W = {.dtype = dt, .ndim = 2, .shape = {N, K}, .data = NULL, .scales = NULL};
    if (dt == SC_DTYPE_BF16) {
        for (int64_t i = 0; i < N * K; i++) wb[i] = sc_f32_to_bf16(wf[i]);
        W.data = wb;
        sc_matmul_ref(ytwin, xr, &W, M, NULL);
    } else {
        sc_quantize_rows_q8_ref(wq, scales, wf, N, K);
        W.data = wq;
        W.scales = scales;
        vnni->matmul(ytwin, x, &W, M, NULL);
    }
    int ok = 1;
    for (int run = 0; run < 2 && ok; run++) {
        for (int64_t i = 0; i < M * N; i++) y[i] = NAN;
        amx->matmul(y, x, &W, M, run ? pool2 : NULL);
        for (int64_t m = 0; m < M && ok; m++)
            for (int64_t n = 0; n < N && ok; n++) {
                double S = 0;
                for (int64_t k = 0; k < K && dt == SC_DTYPE_BF16; k++)
                    S += fabs((double)xr[m * K + k] * sc_bf16_to_f32(wb[n * K + k]));
                double d = fabs((double)y[m * N + n] - ytwin[m * N + n]);
                ok = dt == SC_DTYPE_I8 ? y[m * N + n] == ytwin[m * N + n] : d <= 1e-5 * S + 1e-30;
                if (!ok)
                    fprintf(stderr, "amx twin dtype=%d M=%lld N=%lld K=%lld pool=%d: y[%lld,%lld]=%.9g twin=%.9g\n",
                            (int)dt, (long long)M, (long long)N, (long long)K, run, (long long)m, (long long)n,
                            y[m * N + n], ytwin[m * N + n]);
            }
    }
    free(x); free(xr); free(wf); free(scales); free(wb); free(wq); free(ytwin); free(y);
    return ok;
}

/* The table's matmul_n (several weights on one x) against one matmul call
 * per weight on the same table: bit for bit, with and without the pool.
 * Returns 1 if equal, 0 if not, -1 if the table declined (nothing written). */
static int check_matmul_n(const sc_kernels *t, sc_dtype dt, int n, int64_t M, int64_t N, int64_t K, sc_pool *pool2) {
    float *x = malloc(sizeof(float) * (size_t)(M * K)), *wf = malloc(sizeof(float) * (size_t)(N * K));
    float *y[3], *ytwin[3], scales[3][512];
    uint16_t *wb[3];
    int8_t *wq[3];
    sc_tensor W[3];
    const sc_tensor *Wp[3];
    for (int64_t i = 0; i < M * K; i++) x[i] = frand() * (i % 5 == 0 ? 8.0f : 1.0f);
    for (int p = 0; p < n; p++) {
        for (int64_t i = 0; i < N * K; i++) wf[i] = frand();
        wb[p] = malloc(sizeof(uint16_t) * (size_t)(N * K));
        wq[p] = malloc((size_t)(N * K));
        for (int64_t i = 0; i < N * K; i++) wb[p][i] = sc_f32_to_bf16(wf[i]);
        sc_quantize_rows_q8_ref(wq[p], scales[p], wf, N, K);
        W[p] = (sc_tensor){.dtype = dt, .ndim = 2, .shape = {N, K}};
        W[p].data = dt == SC_DTYPE_BF16 ? (void *)wb[p] : (void *)wq[p];
        W[p].scales = dt == SC_DTYPE_I8 ? scales[p] : NULL;
        Wp[p] = &W[p];
        y[p] = malloc(sizeof(float) * (size_t)(M * N));
        ytwin[p] = malloc(sizeof(float) * (size_t)(M * N));
        t->matmul(ytwin[p], x, &W[p], M, NULL);
    }
    int ok = 1;
    for (int run = 0; run < 2 && ok == 1; run++) {
        for (int p = 0; p < n; p++)
            for (int64_t i = 0; i < M * N; i++) y[p][i] = NAN;
        if (!t->matmul_n(y, x, Wp, n, M, run ? pool2 : NULL)) {
            ok = -1;
            for (int p = 0; p < n; p++)
                for (int64_t i = 0; i < M * N; i++) ok = isnan(y[p][i]) ? ok : 0;
            break;
        }
        for (int p = 0; p < n && ok == 1; p++)
            for (int64_t i = 0; i < M * N && ok == 1; i++)
                if (memcmp(&y[p][i], &ytwin[p][i], sizeof(float))) {
                    fprintf(stderr, "%s matmul_n dtype=%d n=%d M=%lld N=%lld K=%lld pool=%d: y%d[%lld]=%.9g single %.9g\n",
                            t->name, (int)dt, n, (long long)M, (long long)N, (long long)K, run, p, (long long)i,
                            y[p][i], ytwin[p][i]);
                    ok = 0;
                }
    }
    for (int p = 0; p < n; p++) {
        free(wb[p]); free(wq[p]); free(y[p]); free(ytwin[p]);
    }
    free(x); free(wf);
    return ok;
}

static void test_matmul_n(const sc_kernels *amx, sc_pool *pool2) {
    CHECK(amx->matmul_n != NULL);
    /* both operand layouts, partial 16-row blocks, K tails, parts of one
     * to several 128-row n-chunks (a part's last block is followed by the
     * next part's first, which is not next in memory) */
    const int64_t Ms[] = {5, 17, 100, 256, 300}, Ns[] = {32, 96, 160}, Ks[] = {33, 64, 257};
    int runs = 0, ok = 1;
    for (int d = 0; d < 2; d++) {
        const sc_dtype dt = d ? SC_DTYPE_I8 : SC_DTYPE_BF16;
        for (int n = 1; n <= 3; n++)
            for (size_t a = 0; a < sizeof Ms / sizeof *Ms; a++)
                for (size_t b = 0; b < sizeof Ns / sizeof *Ns; b++)
                    for (size_t c = 0; c < sizeof Ks / sizeof *Ks; c++, runs += 2) {
                        int r = check_matmul_n(amx, dt, n, Ms[a], Ns[b], Ks[c], pool2);
                        CHECKF(r == 1, "amx matmul_n dtype %d n=%d M=%lld N=%lld K=%lld: %s", (int)dt, n,
                               (long long)Ms[a], (long long)Ns[b], (long long)Ks[c],
                               r < 0 ? "declined" : "differs from single calls");
                        ok &= r == 1;
                    }
    }
    /* declined, nothing written: decode rows of BF16 weights (kept
     * fp32-exact), and several parts whose rows are not a multiple of 32 */
    CHECK(check_matmul_n(amx, SC_DTYPE_BF16, 3, 4, 64, 64, pool2) == -1);
    CHECK(check_matmul_n(amx, SC_DTYPE_BF16, 2, 40, 48, 64, pool2) == -1);
    /* a single part of any N is taken */
    CHECK(check_matmul_n(amx, SC_DTYPE_BF16, 1, 40, 48, 64, pool2) == 1);
    printf("table amx matmul_n vs single matmul calls (bitwise): %d shapes %s\n", runs, ok ? "ok" : "FAILED");
}

/* The table's fused relu FF block against the three ops it replaces on the
 * same table (matmul, relu, matmul): bit for bit, with and without the
 * pool. Returns 1 if equal, 0 if not, -1 if the table declined the call. */
static int check_ffn_relu(const sc_kernels *t, int64_t M, int64_t D, int64_t F, sc_pool *pool2) {
    float *x = malloc(sizeof(float) * (size_t)(M * D)), *h = malloc(sizeof(float) * (size_t)(M * F));
    float *y = malloc(sizeof(float) * (size_t)(M * D)), *ytwin = malloc(sizeof(float) * (size_t)(M * D));
    uint16_t *wi = malloc(sizeof(uint16_t) * (size_t)(F * D)), *wo = malloc(sizeof(uint16_t) * (size_t)(D * F));
    for (int64_t i = 0; i < M * D; i++) x[i] = frand() * (i % 7 == 0 ? 8.0f : 1.0f);
    x[3] = NAN; /* row 0's hidden values are all NaN: relu makes them 0 */
    for (int64_t i = 0; i < F * D; i++) {
        wi[i] = sc_f32_to_bf16(frand());
        wo[i] = sc_f32_to_bf16(frand());
    }
    sc_tensor Wi = {.dtype = SC_DTYPE_BF16, .ndim = 2, .shape = {F, D}, .data = wi};
    sc_tensor Wo = {.dtype = SC_DTYPE_BF16, .ndim = 2, .shape = {D, F}, .data = wo};
    t->matmul(h, x, &Wi, M, NULL);
    for (int64_t i = 0; i < M * F; i++) h[i] = h[i] > 0.0f ? h[i] : 0.0f;
    t->matmul(ytwin, h, &Wo, M, NULL);
    int ok = 1;
    for (int run = 0; run < 2 && ok == 1; run++) {
        for (int64_t i = 0; i < M * D; i++) y[i] = NAN;
        if (!t->ffn_relu(y, x, &Wi, &Wo, M, h, sizeof(float) * (size_t)(M * F), run ? pool2 : NULL)) {
            ok = -1;
            for (int64_t i = 0; i < M * D; i++) ok = isnan(y[i]) ? ok : 0; /* declined: y untouched */
            break;
        }
        for (int64_t i = 0; i < M * D && ok == 1; i++)
            if (memcmp(&y[i], &ytwin[i], sizeof(float))) {
                fprintf(stderr, "%s ffn_relu M=%lld D=%lld F=%lld pool=%d: y[%lld]=%.9g unfused %.9g\n", t->name,
                        (long long)M, (long long)D, (long long)F, run, (long long)i, y[i], ytwin[i]);
                ok = 0;
            }
    }
    free(x); free(h); free(y); free(ytwin); free(wi); free(wo);
    return ok;
}

static void test_ffn_relu(const sc_kernels *amx, sc_pool *pool2) {
    CHECK(amx->ffn_relu != NULL);
    /* both operand layouts (M < 256: W as A, y^T tiles; M >= 256: x as A),
     * partial last 16-row blocks, one and several tasks, K chunks (M > 128) */
    const int64_t Ms[] = {8, 15, 16, 17, 33, 100, 129, 255, 256, 300};
    const int64_t DF[][2] = {{32, 64}, {96, 160}, {64, 544}, {160, 96}};
    int runs = 0, ok = 1;
    for (size_t a = 0; a < sizeof Ms / sizeof *Ms; a++)
        for (size_t b = 0; b < sizeof DF / sizeof *DF; b++, runs += 2) {
            int r = check_ffn_relu(amx, Ms[a], DF[b][0], DF[b][1], pool2);
            CHECKF(r == 1, "amx ffn_relu M=%lld D=%lld F=%lld: %s", (long long)Ms[a], (long long)DF[b][0],
                   (long long)DF[b][1], r < 0 ? "declined" : "differs from matmul, relu, matmul");
            ok &= r == 1;
        }
    /* declined, y untouched: decode rows (the table keeps them fp32-exact),
     * d_ff not a multiple of 32, and h too small (M = 5 pads to 16 rows) */
    CHECK(check_ffn_relu(amx, 4, 64, 64, pool2) == -1);
    CHECK(check_ffn_relu(amx, 20, 64, 48, pool2) == -1);
    CHECK(check_ffn_relu(amx, 5, 64, 64, pool2) == -1);
    printf("table amx ffn_relu vs matmul, relu, matmul (bitwise): %d shapes %s\n", runs, ok ? "ok" : "FAILED");
}

#if SC_HAVE_X86_KERNELS
/* The packed outer-product kernels called directly, at every M (the tables
 * use them only from some M on) and on shapes that hit their edges: tiles
 * of 14 rows (balanced, so M = 15 gives 8 + 7), 32-column panels and
 * 256-column work items, K chunks of 256 k-steps (1024 int8 / 512 bf16
 * values), K not a multiple of the 4-byte step, an all-zero x row; and the
 * int8 kernel for few rows (kind 2: y^T tiles of 28, 14 or 9 W rows for
 * M <= 16, 32, 48 and their shorter last tiles; it hands K % 4 != 0 and
 * M > 48 to the packed one). I8: bit-identical to sc_matmul_q8_vnni.
 * BF16: the reference on x rounded to bf16 within 1e-5 * S (summation
 * order only), and the reference on x itself within the bf16-compute bound
 * 2^-8 * S + 1e-5 * S. Guard values after y must survive.
 * kind: 0 bf16 packed, 1 i8 packed, 2 i8 few rows. */
static int check_packed_twin(int kind, int64_t M, int64_t N, int64_t K, sc_pool *pool2) {
    const int i8 = kind > 0;
    const char *what = kind == 0 ? "bf16" : kind == 1 ? "i8" : "i8 few rows";
    float *x = malloc(sizeof(float) * (size_t)(M * K)), *xr = malloc(sizeof(float) * (size_t)(M * K));
    float *wf = malloc(sizeof(float) * (size_t)(N * K)), *scales = malloc(sizeof(float) * (size_t)N);
    uint16_t *wb = malloc(sizeof(uint16_t) * (size_t)(N * K));
    int8_t *wq = malloc((size_t)(N * K));
    float *ytwin = malloc(sizeof(float) * (size_t)(M * N)), *yexact = malloc(sizeof(float) * (size_t)(M * N));
    float *y = malloc(sizeof(float) * (size_t)(M * N + GUARD));
    for (int64_t i = 0; i < M * K; i++) {
        x[i] = M > 2 && i / K == 2 ? 0.0f : frand() * (i % 7 == 0 ? 8.0f : 1.0f); /* row 2: all zero */
        xr[i] = sc_bf16_to_f32(sc_f32_to_bf16(x[i]));
    }
    for (int64_t i = 0; i < N * K; i++) wf[i] = frand();
    sc_tensor W = {.dtype = i8 ? SC_DTYPE_I8 : SC_DTYPE_BF16, .ndim = 2, .shape = {N, K}};
    if (i8) {
        sc_quantize_rows_q8_ref(wq, scales, wf, N, K);
        W.data = wq;
        W.scales = scales;
        sc_matmul_q8_vnni(ytwin, x, &W, M, NULL);
    } else {
        for (int64_t i = 0; i < N * K; i++) wb[i] = sc_f32_to_bf16(wf[i]);
        W.data = wb;
        sc_matmul_ref(ytwin, xr, &W, M, NULL);
        sc_matmul_ref(yexact, x, &W, M, NULL);
    }
    int ok = 1;
    for (int run = 0; run < 2 && ok; run++) {
        for (int64_t i = 0; i < M * N; i++) y[i] = NAN;
        for (int i = 0; i < GUARD; i++) y[M * N + i] = GUARD_VAL;
        if (kind == 2) sc_matmul_q8_fewrows(y, x, &W, M, run ? pool2 : NULL);
        else if (kind == 1) sc_matmul_q8_packed(y, x, &W, M, run ? pool2 : NULL);
        else sc_matmul_bf16_packed(y, x, &W, M, run ? pool2 : NULL);
        for (int i = 0; i < GUARD; i++) ok &= y[M * N + i] == GUARD_VAL;
        if (!ok) fprintf(stderr, "packed %s M=%lld N=%lld K=%lld: guard overwritten\n", what, (long long)M,
                         (long long)N, (long long)K);
        for (int64_t m = 0; m < M && ok; m++)
            for (int64_t n = 0; n < N && ok; n++) {
                const int64_t e = m * N + n;
                if (i8) {
                    ok = y[e] == ytwin[e];
                } else {
                    double S = 0, Sx = 0;
                    for (int64_t k = 0; k < K; k++) {
                        double w = sc_bf16_to_f32(wb[n * K + k]);
                        S += fabs((double)xr[m * K + k] * w);
                        Sx += fabs((double)x[m * K + k] * w);
                    }
                    ok = fabs((double)y[e] - ytwin[e]) <= 1e-5 * S + 1e-30 &&
                         fabs((double)y[e] - yexact[e]) <= Sx / 256.0 + 1e-5 * Sx + 1e-30;
                }
                if (!ok)
                    fprintf(stderr, "packed %s M=%lld N=%lld K=%lld pool=%d: y[%lld,%lld]=%.9g twin=%.9g\n",
                            what, (long long)M, (long long)N, (long long)K, run, (long long)m, (long long)n, y[e],
                            ytwin[e]);
            }
    }
    free(x); free(xr); free(wf); free(scales); free(wb); free(wq); free(ytwin); free(yexact); free(y);
    return ok;
}

static void test_packed_kernels(sc_pool *pool2) {
    const sc_cpu_features *f = sc_cpu_features_get();
    if (!sc_cpu_has_avx512(f) || !f->avx512_vnni || !f->avx512_bf16) {
        printf("packed kernels: skipped (no AVX512-VNNI/BF16)\n");
        return;
    }
    static const int64_t shapes[][3] = {
        {1, 100, 257}, {2, 33, 65},    {3, 17, 7},      {4, 300, 1025},   {5, 1, 1},     {5, 17, 3},
        {13, 31, 4},   {14, 32, 63},   {15, 33, 64},    {16, 100, 65},    {28, 64, 129}, {29, 257, 257},
        {33, 300, 1025}, {43, 65, 2100}, {100, 600, 77}, {128, 40, 513},  {5, 260, 1100}, {70, 33, 4097},
        /* few rows: K % 4 == 0, M up to 48, N not a multiple of the tile */
        {1, 28, 8},    {9, 57, 64},    {16, 29, 768},   {17, 57, 3072},   {32, 300, 768}, {47, 100, 128},
        {48, 31, 4},   {49, 30, 64},
    };
    for (int kind = 0; kind < 3; kind++) {
        int ok = 1, runs = 0;
        for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++, runs += 2)
            ok &= check_packed_twin(kind, shapes[s][0], shapes[s][1], shapes[s][2], pool2);
        CHECKF(ok, "%s kernel vs its twin", kind == 0 ? "packed bf16" : kind == 1 ? "packed i8" : "i8 few rows");
        printf("%s vs %s: %d shapes %s\n", kind == 0 ? "packed bf16" : kind == 1 ? "packed i8" : "i8 few rows",
               kind ? "avx512-vnni dot kernel (bitwise)" : "ref on bf16 x, bf16 bound vs ref", runs,
               ok ? "ok" : "FAILED");
    }
}
#endif

/* `switchc info` with SWITCHC_NO_AMX=1 lists amx as unsupported (or not at
 * all: builds without the x86 kernels have no such table) and selects a
 * non-AMX table; without it, amx is selected exactly when this process sees AMX. */
static void test_no_amx_env(int have_amx) {
    char cmd[4096], line[512];
    int unsupported = 0, selected_amx = 0;
#if !SC_HAVE_X86_KERNELS
    unsupported = 1;
#endif
    snprintf(cmd, sizeof cmd, "SWITCHC_NO_AMX=1 '%s' info 2>&1", SC_SWITCHC_BIN);
    FILE *f = popen(cmd, "r");
    CHECK(f != NULL);
    if (!f) return;
    while (fgets(line, sizeof line, f)) {
        if (strstr(line, "kernel tables:") && strstr(line, " amx(unsupported)")) unsupported = 1;
        if (!strncmp(line, "selected kernels: amx", 21)) selected_amx = 1;
    }
    CHECK(pclose(f) == 0);
    CHECKF(unsupported && !selected_amx, "SWITCHC_NO_AMX=1 must hide AMX");
    snprintf(cmd, sizeof cmd, "'%s' info 2>&1", SC_SWITCHC_BIN);
    f = popen(cmd, "r");
    CHECK(f != NULL);
    if (!f) return;
    selected_amx = 0;
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, "selected kernels: amx", 21)) selected_amx = 1;
    CHECK(pclose(f) == 0);
    CHECKF(selected_amx == have_amx, "info selects amx: %d, this process has AMX: %d", selected_amx, have_amx);
}

/* The exact table's fp32 kernel across its blocking edges (avx512: packed W
 * blocks of up to 768 columns x 256 of K, or 768 of K for up to 256 rows;
 * F32 W read in place for 16-192 rows, x^T in 1-4 row blocks of 32 or 48,
 * K chunks of 3072 down to 768, W row groups): more than one W block (the
 * last one ragged), K over one chunk, row counts at the path cuts and block
 * mixes, rows split over the pool's threads (512+ rows). F32 and BF16
 * (which takes the packed path). */
static void test_fp32_block_edges(sc_pool *pool2) {
    const sc_kernels *exact = sc_kernels_exact();
    static const int64_t shapes[][3] = {
        {15, 801, 300}, {16, 801, 300}, {48, 100, 3100}, {49, 801, 300}, {60, 1570, 513}, {33, 40, 6200},
        {270, 801, 300}, {150, 100, 3100}, {192, 90, 1000}, {193, 90, 300}, {112, 200, 100}, {520, 100, 300},
    };
    int ok = 1, runs = 0;
    for (size_t i = 0; i < sizeof shapes / sizeof *shapes; i++)
        for (int d = 0; d < 2; d++, runs += 2)
            ok &= check_one(exact, d ? SC_DTYPE_BF16 : SC_DTYPE_F32, shapes[i][0], shapes[i][1], shapes[i][2], pool2);
    CHECKF(ok, "table %s across its fp32 blocking edges", exact->name);
    printf("table %s fp32 blocking edges: %d shapes %s\n", exact->name, runs, ok ? "ok" : "FAILED");
}

/* Batch invariance: one row of x through matmul with M = 1 .. 300 rows
 * (the row at the start, middle or end, the other rows random, different
 * per M), serially and on 1- and 2-thread pools, gives the same output
 * bits as alone. Every table for F32 weights (its decode, tile, in-place
 * and packed paths, K over one block or chunk); I8 weights too on the
 * tables that quantize x per row (and the reference, which does not
 * quantize): their integer sums are exact. docs/batching.md. */
static int check_row_invariance(const sc_kernels *t, sc_dtype dt, int64_t N, int64_t K, sc_pool *pool1,
                                sc_pool *pool2) {
    static const int64_t Ms[] = {1, 2, 3, 4, 5, 8, 16, 33, 100, 200, 300};
    const int64_t MMAX = 300;
    float *x = malloc(sizeof(float) * (size_t)(MMAX * K)), *y = malloc(sizeof(float) * (size_t)(MMAX * N));
    float *row = malloc(sizeof(float) * (size_t)K), *want = malloc(sizeof(float) * (size_t)N);
    float *wf = malloc(sizeof(float) * (size_t)(N * K)), *scales = malloc(sizeof(float) * (size_t)N);
    void *wd = malloc(sizeof(float) * (size_t)(N * K));
    int ok = x && y && row && want && wf && scales && wd;
    for (int64_t i = 0; ok && i < K; i++) row[i] = frand();
    for (int64_t i = 0; ok && i < N * K; i++) wf[i] = frand();
    if (ok && dt == SC_DTYPE_I8) t->quantize_rows_q8(wd, scales, wf, N, K);
    else if (ok) memcpy(wd, wf, sizeof(float) * (size_t)(N * K));
    sc_tensor W = {.dtype = dt, .ndim = 2, .shape = {N, K}, .data = wd, .scales = scales};
    if (ok) t->matmul(want, row, &W, 1, NULL);
    for (size_t mi = 0; ok && mi < sizeof Ms / sizeof *Ms; mi++) {
        const int64_t M = Ms[mi];
        if (t == sc_kernels_ref() && M * N * K > 20000000) continue; /* scalar: keep it quick */
        for (int at = 0; at < 3; at++) {
            const int64_t r = at == 0 ? 0 : at == 1 ? M / 2 : M - 1;
            for (int64_t i = 0; i < M * K; i++) x[i] = frand();
            memcpy(x + r * K, row, sizeof(float) * (size_t)K);
            sc_pool *pools[3] = {NULL, pool1, pool2};
            for (int p = 0; p < (at == 1 ? 3 : 1); p++) { /* threads: one position suffices */
                t->matmul(y, x, &W, M, pools[p]);
                if (memcmp(y + r * N, want, sizeof(float) * (size_t)N)) {
                    int64_t n = 0;
                    while (y[r * N + n] == want[n]) n++;
                    fprintf(stderr, "table %s dtype %d N=%lld K=%lld: row %lld of M=%lld (pool %d) differs from "
                            "alone at column %lld: %.9g vs %.9g\n", t->name, (int)dt, (long long)N, (long long)K,
                            (long long)r, (long long)M, p, (long long)n, y[r * N + n], want[n]);
                    ok = 0;
                }
            }
        }
    }
    free(x); free(y); free(row); free(want); free(wf); free(scales); free(wd);
    return ok;
}

static void test_row_invariance(sc_pool *pool2) {
    sc_pool *pool1 = sc_pool_create(1);
    CHECK(pool1 != NULL);
    static const int64_t shapes[][2] = {{1, 1}, {100, 33}, {37, 300}, {230, 3100}};
    for (const char *const *name = sc_kernels_names(); *name; name++) {
        const sc_kernels *t = sc_kernels_select(*name);
        if (!t) continue;
        const char *i8 = t->matmul_impl[SC_DTYPE_I8];
        const int q8 = i8 && (strstr(i8, "quantized per row") || !strncmp(i8, "ref scalar", 10));
        for (int d = 0; d < 1 + q8; d++) {
            const sc_dtype dt = d ? SC_DTYPE_I8 : SC_DTYPE_F32;
            int ok = 1;
            for (size_t i = 0; i < sizeof shapes / sizeof *shapes; i++)
                ok &= check_row_invariance(t, dt, shapes[i][0], shapes[i][1], pool1, pool2);
            CHECKF(ok, "table %s dtype %d: a row's output depends on its batch", t->name, (int)dt);
            printf("table %-12s dtype %d: one row alone and among 2-300 rows, 0-2 threads: %s\n", t->name, (int)dt,
                   ok ? "bitwise equal" : "DIFFERENT");
        }
    }
    sc_pool_free(pool1);
}

int main(void) {
    const sc_cpu_features *f = sc_cpu_features_get();
    char feat[256];
    sc_cpu_features_string(f, feat, sizeof feat);
    printf("cpu features: %s\nbest table: %s\n", feat, sc_kernels_best()->name);
    CHECK(sc_kernels_best() != NULL && sc_kernels_select("best") == sc_kernels_best());
    CHECK(sc_kernels_select("ref") == sc_kernels_ref());
    CHECK(sc_kernels_select("no-such-table") == NULL && sc_kernels_select(NULL) == NULL);
    /* "exact": fp32 compute for F32/BF16/F16 weights */
    const sc_kernels *exact = sc_kernels_select("exact");
    CHECK(exact != NULL && exact == sc_kernels_exact());
    for (int d = 0; exact && d < 3; d++) {
        const char *impl = exact->matmul_impl[d == 0 ? SC_DTYPE_F32 : d == 1 ? SC_DTYPE_BF16 : SC_DTYPE_F16];
        CHECKF(impl && !strstr(impl, "dpbf16ps"), "exact table %s computes in bf16", exact->name);
    }
    int have_amx = f->amx_tile && f->amx_bf16 && f->amx_int8 && f->avx512_vnni && f->avx512_bf16;
    CHECK(have_amx == (sc_kernels_select("amx") != NULL));
    CHECK(!have_amx || !strcmp(sc_kernels_best()->name, "amx"));
    /* without AMX, AVX512-BF16 + VNNI on a core with a full-rate vdpbf16ps
     * make "avx512-bf16" the best table (bf16 compute for M > 4); else the
     * exact table is the best */
    int fast_bf16 = sc_kernels_select("avx512-bf16") != NULL && f->fast_bf16_dot;
    CHECK(have_amx || !fast_bf16 || !strcmp(sc_kernels_best()->name, "avx512-bf16"));
    CHECK(have_amx || fast_bf16 || sc_kernels_best() == sc_kernels_exact());
    if (!have_amx) printf("table amx: skipped (no AMX%s)\n", getenv("SWITCHC_NO_AMX") ? ", SWITCHC_NO_AMX set" : "");
    test_no_amx_env(have_amx);
    test_quantize();
    test_ref_bf16();

    sc_pool *pool2 = sc_pool_create(2);
    CHECK(pool2 != NULL);
    const int64_t Ms[] = {1, 3, 4, 7, 20, 45, 128}, Ns[] = {1, 17, 33, 100}, Ks[] = {1, 7, 33, 257, 4097};
    /* AMX edges: tiles are 16 rows of x / W, k-steps 32 (bf16) or 64 (int8) */
    const int64_t Ms2[] = {5, 16, 17, 33, 128}, Ns2[] = {1, 16, 17, 100}, Ks2[] = {1, 31, 32, 33, 64, 257};
    const sc_dtype dts[] = {SC_DTYPE_F32, SC_DTYPE_BF16, SC_DTYPE_F16, SC_DTYPE_I8};
    const char *tested[64];
    int n_tested = 0;
    for (const char *const *name = sc_kernels_names(); *name; name++) {
        const sc_kernels *t = sc_kernels_select(*name);
        if (!t) {
            if (strcmp(*name, "amx")) printf("table %s: not supported by this CPU, skipped\n", *name);
            continue;
        }
        if (t == sc_kernels_ref()) continue; /* the oracle itself */
        for (int d = 0; d < 4; d++) {
            /* the same kernel in several tables is tested once */
            const char *impl = t->matmul_impl[dts[d]];
            int seen = !impl || !strncmp(impl, "ref scalar", 10); /* the oracle itself */
            for (int i = 0; i < n_tested && !seen; i++) seen = !strcmp(tested[i], impl);
            if (seen) continue;
            tested[n_tested++] = impl;
            int ok = 1, runs = 0;
            for (int a = 0; a < 7; a++)
                for (int b = 0; b < 4; b++)
                    for (int c = 0; c < 5; c++) {
                        ok &= check_one(t, dts[d], Ms[a], Ns[b], Ks[c], pool2);
                        runs += 2;
                    }
            for (int a = 0; a < 5; a++)
                for (int b = 0; b < 4; b++)
                    for (int c = 0; c < 6; c++) {
                        ok &= check_one(t, dts[d], Ms2[a], Ns2[b], Ks2[c], pool2);
                        runs += 2;
                    }
            CHECKF(ok, "table %s dtype %d", t->name, (int)dts[d]);
            printf("table %-12s dtype %d: %d shapes %s (%s)\n", t->name, (int)dts[d], runs, ok ? "ok" : "FAILED",
                   t->matmul_impl[dts[d]]);
        }
    }
    const sc_kernels *amx = sc_kernels_select("amx");
    for (int d = 0; amx && d < 2; d++) {
        sc_dtype dt = d ? SC_DTYPE_I8 : SC_DTYPE_BF16;
        int ok = 1, runs = 0;
        for (int a = 0; a < 5; a++)
            for (int b = 0; b < 4; b++)
                for (int c = 0; c < 6; c++) {
                    ok &= check_amx_twin(amx, dt, Ms2[a], Ns2[b], Ks2[c], pool2);
                    runs += 2;
                }
        ok &= check_amx_twin(amx, dt, 300, 200, 3000, pool2); /* several tasks, long K */
        for (int b = 0; b < 4; b++, runs += 2) /* M >= 256: W is packed per call too */
            ok &= check_amx_twin(amx, dt, 257, Ns2[b], b & 1 ? 257 : 33, pool2);
        for (int64_t m = 1; m <= 4 && dt == SC_DTYPE_I8; m++, runs += 2) /* I8 takes the tiles from M = 2 */
            ok &= check_amx_twin(amx, dt, m, 100, 257, pool2);
        CHECKF(ok, "amx dtype %d vs its exact twin", (int)dt);
        printf("table amx dtype %d vs %s: %d shapes %s\n", (int)dt, d ? "avx512-vnni (bitwise)" : "ref on bf16 x",
               runs + 2, ok ? "ok" : "FAILED");
    }
    if (amx) {
        test_matmul_n(amx, pool2);
        test_ffn_relu(amx, pool2);
    } else {
        printf("amx twin, matmul_n and ffn_relu checks: skipped (no AMX)\n");
    }
#if SC_HAVE_X86_KERNELS
    test_packed_kernels(pool2);
#endif
    test_fp32_block_edges(pool2);
    test_row_invariance(pool2);
    sc_pool_free(pool2);
    TEST_MAIN_END();
}
