#include "core/dtype.h"

static const struct {
    const char *name;
    size_t size;
} dtype_info[SC_DTYPE_COUNT] = {
    [SC_DTYPE_F32] = {"F32", 4}, [SC_DTYPE_F16] = {"F16", 2}, [SC_DTYPE_BF16] = {"BF16", 2},
    [SC_DTYPE_I8] = {"I8", 1},   [SC_DTYPE_U8] = {"U8", 1},   [SC_DTYPE_I16] = {"I16", 2},
    [SC_DTYPE_I32] = {"I32", 4}, [SC_DTYPE_I64] = {"I64", 8}, [SC_DTYPE_F64] = {"F64", 8},
    [SC_DTYPE_BOOL] = {"BOOL", 1},
};

size_t sc_dtype_size(sc_dtype t) {
    return (unsigned)t < SC_DTYPE_COUNT ? dtype_info[t].size : 0;
}

const char *sc_dtype_name(sc_dtype t) {
    return (unsigned)t < SC_DTYPE_COUNT ? dtype_info[t].name : "?";
}

bool sc_dtype_parse(const char *s, size_t len, sc_dtype *out) {
    for (int t = 0; t < SC_DTYPE_COUNT; t++) {
        const char *n = dtype_info[t].name;
        if (strlen(n) == len && memcmp(n, s, len) == 0) {
            *out = (sc_dtype)t;
            return true;
        }
    }
    return false;
}

float sc_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu;
    uint32_t man = h & 0x3ffu;
    uint32_t u;
    if (exp == 0) {
        if (man == 0) {
            u = sign;
        } else { /* subnormal: renormalise */
            int e = -1;
            do {
                e++;
                man <<= 1;
            } while (!(man & 0x400u));
            u = sign | ((uint32_t)(127 - 15 - e) << 23) | ((man & 0x3ffu) << 13);
        }
    } else if (exp == 31) {
        u = sign | 0x7f800000u | (man << 13);
    } else {
        u = sign | ((exp + 127 - 15) << 23) | (man << 13);
    }
    float f;
    memcpy(&f, &u, 4);
    return f;
}

uint16_t sc_f32_to_f16(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    uint32_t sign = (u >> 16) & 0x8000u;
    uint32_t a = u & 0x7fffffffu;
    if (a > 0x7f800000u) return (uint16_t)(sign | 0x7e00u);
    if (a >= 0x477ff000u) return (uint16_t)(sign | 0x7c00u); /* rounds to inf */
    if (a < 0x38800000u) {                                   /* subnormal or zero */
        if (a < 0x33000000u) return (uint16_t)sign;
        uint32_t e = a >> 23;
        uint32_t m = (a & 0x7fffffu) | 0x800000u;
        uint32_t shift = 126 - e; /* 14 + (113 - e) */
        uint32_t r = m >> shift;
        uint32_t rem = m & ((1u << shift) - 1);
        uint32_t half = 1u << (shift - 1);
        if (rem > half || (rem == half && (r & 1u))) r++;
        return (uint16_t)(sign | r);
    }
    uint32_t r = a - 0x38000000u; /* rebias exponent 127 -> 15 */
    r += 0xfffu + ((r >> 13) & 1u);
    return (uint16_t)(sign | (r >> 13));
}

void sc_convert_to_f32(float *dst, const void *src, sc_dtype t, size_t n) {
    const uint16_t *h = src;
    switch (t) {
    case SC_DTYPE_F32: memcpy(dst, src, n * 4); break;
    case SC_DTYPE_BF16:
        for (size_t i = 0; i < n; i++) dst[i] = sc_bf16_to_f32(h[i]);
        break;
    case SC_DTYPE_F16:
        for (size_t i = 0; i < n; i++) dst[i] = sc_f16_to_f32(h[i]);
        break;
    default:
        for (size_t i = 0; i < n; i++) dst[i] = 0.0f;
        break;
    }
}
