/* Reference per-row symmetric int8 quantization of weights (load-time
 * conversion, so the reference is also what every table uses). */
#include "kernels/kernels.h"

#include <math.h>

void sc_quantize_rows_q8_ref(int8_t *q, float *scales, const float *w, int64_t N, int64_t K) {
    for (int64_t n = 0; n < N; n++) {
        const float *row = w + n * K;
        float amax = 0.0f;
        for (int64_t k = 0; k < K; k++) amax = fmaxf(amax, fabsf(row[k]));
        float scale = amax / 127.0f;
        float inv = amax > 0.0f ? 127.0f / amax : 0.0f;
        scales[n] = scale;
        for (int64_t k = 0; k < K; k++) {
            float v = nearbyintf(row[k] * inv); /* ties to even, as torch.round */
            q[n * K + k] = (int8_t)(v > 127.0f ? 127.0f : v < -127.0f ? -127.0f : v);
        }
    }
}
