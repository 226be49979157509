/* Row-wise ops; see ops.h. */
#include "model/ops.h"
#include "core/dtype.h"

#include <math.h>

void sc_rmsnorm(float *y, const float *x, const float *w, int64_t N, int64_t D, float eps) {
    for (int64_t r = 0; r < N; r++) {
        const float *xr = x + r * D;
        float *yr = y + r * D;
        /* HF: variance = x.pow(2).mean(-1) in fp32; x * rsqrt(variance + eps) */
        double ss = 0.0;
        for (int64_t i = 0; i < D; i++) ss += (double)xr[i] * xr[i];
        float var = (float)(ss / (double)D);
        float inv = 1.0f / sqrtf(var + eps);
        for (int64_t i = 0; i < D; i++) yr[i] = w[i] * (xr[i] * inv);
    }
}

void sc_embed_rows(float *y, const sc_tensor *table, const int32_t *ids, int64_t N) {
    const int64_t D = table->shape[1];
    const size_t esz = sc_dtype_size(table->dtype);
    for (int64_t r = 0; r < N; r++) {
        const unsigned char *row = (const unsigned char *)table->data + (size_t)ids[r] * (size_t)D * esz;
        sc_convert_to_f32(y + r * D, row, table->dtype, (size_t)D);
    }
}

void sc_activate(float *x, int64_t n, sc_act act) {
    switch (act) {
    case SC_ACT_RELU:
        for (int64_t i = 0; i < n; i++) x[i] = x[i] > 0.0f ? x[i] : 0.0f;
        break;
    case SC_ACT_GELU_NEW: /* HF NewGELUActivation (tanh approximation) */
        for (int64_t i = 0; i < n; i++) {
            float v = x[i];
            x[i] = 0.5f * v * (1.0f + tanhf(0.7978845608028654f * (v + 0.044715f * v * v * v)));
        }
        break;
    case SC_ACT_GELU: /* exact erf GELU */
        for (int64_t i = 0; i < n; i++) x[i] = 0.5f * x[i] * (1.0f + erff(x[i] * 0.7071067811865476f));
        break;
    }
}

void sc_softmax(float *x, int64_t n) {
    float mx = -INFINITY;
    for (int64_t i = 0; i < n; i++) mx = x[i] > mx ? x[i] : mx;
    float sum = 0.0f;
    for (int64_t i = 0; i < n; i++) {
        x[i] = expf(x[i] - mx);
        sum += x[i];
    }
    float inv = 1.0f / sum;
    for (int64_t i = 0; i < n; i++) x[i] *= inv;
}
