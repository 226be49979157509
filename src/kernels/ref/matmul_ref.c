/* Reference matmul: y = x @ W^T for every weight dtype, one dot product at a
 * time, accumulated in fp32 (what PyTorch does on CPU up to summation order).
 * Slow and obviously correct; the oracle for the fast kernels. */
#include "core/dtype.h"
#include "kernels/kernels.h"

void sc_matmul_ref(float *y, const float *x, const sc_tensor *W, int64_t M, sc_pool *pool) {
    (void)pool;
    const int64_t N = W->shape[0], K = W->shape[1];
    for (int64_t n = 0; n < N; n++) {
        for (int64_t m = 0; m < M; m++) {
            const float *xr = x + m * K;
            float acc = 0.0f;
            switch (W->dtype) {
            case SC_DTYPE_F32: {
                const float *w = (const float *)W->data + n * K;
                for (int64_t k = 0; k < K; k++) acc += xr[k] * w[k];
                break;
            }
            case SC_DTYPE_BF16: {
                const uint16_t *w = (const uint16_t *)W->data + n * K;
                for (int64_t k = 0; k < K; k++) acc += xr[k] * sc_bf16_to_f32(w[k]);
                break;
            }
            case SC_DTYPE_F16: {
                const uint16_t *w = (const uint16_t *)W->data + n * K;
                for (int64_t k = 0; k < K; k++) acc += xr[k] * sc_f16_to_f32(w[k]);
                break;
            }
            case SC_DTYPE_I8: {
                const int8_t *w = (const int8_t *)W->data + n * K;
                for (int64_t k = 0; k < K; k++) acc += xr[k] * (float)w[k];
                acc *= W->scales[n];
                break;
            }
            default: break;
            }
            y[m * N + n] = acc;
        }
    }
}

/* Reference bf16 compute: x rounded to bf16 (nearest even) times BF16 W,
 * summed in fp32, from SC_EXACT_BF16_MAX_M + 1 rows on (fewer rows stay exact,
 * as the bf16-compute tables keep decode). Other dtypes: sc_matmul_ref. */
void sc_matmul_bf16x_ref(float *y, const float *x, const sc_tensor *W, int64_t M, sc_pool *pool) {
    if (W->dtype != SC_DTYPE_BF16 || M <= SC_EXACT_BF16_MAX_M) {
        sc_matmul_ref(y, x, W, M, pool);
        return;
    }
    const int64_t N = W->shape[0], K = W->shape[1];
    for (int64_t n = 0; n < N; n++) {
        const uint16_t *w = (const uint16_t *)W->data + n * K;
        for (int64_t m = 0; m < M; m++) {
            const float *xr = x + m * K;
            float acc = 0.0f;
            for (int64_t k = 0; k < K; k++) acc += sc_bf16_to_f32(sc_f32_to_bf16(xr[k])) * sc_bf16_to_f32(w[k]);
            y[m * N + n] = acc;
        }
    }
}
