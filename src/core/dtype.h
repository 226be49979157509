/* Scalar conversions between fp32 and the 16-bit float formats. The
 * round-to-nearest-even rules match PyTorch's `.to(bfloat16/float16)`. */
#ifndef SC_CORE_DTYPE_H
#define SC_CORE_DTYPE_H

#include "switchc.h"
#include <stdint.h>
#include <string.h>

static inline float sc_bf16_to_f32(uint16_t h) {
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static inline uint16_t sc_f32_to_bf16(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40); /* quiet NaN */
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

float sc_f16_to_f32(uint16_t h);
uint16_t sc_f32_to_f16(float f);

/* Parses "F32", "BF16", ... (safetensors names); returns false if unknown. */
bool sc_dtype_parse(const char *s, size_t len, sc_dtype *out);

/* Converts n elements of `src` (dtype t) to fp32. Only float dtypes. */
void sc_convert_to_f32(float *dst, const void *src, sc_dtype t, size_t n);

#endif
