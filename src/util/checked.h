/* Overflow-checked size arithmetic. Every size computed from file contents
 * goes through these before it is used for an allocation or an offset. */
#ifndef SC_UTIL_CHECKED_H
#define SC_UTIL_CHECKED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

static inline bool sc_mul_size(size_t a, size_t b, size_t *out) {
    return !__builtin_mul_overflow(a, b, out);
}
static inline bool sc_add_size(size_t a, size_t b, size_t *out) {
    return !__builtin_add_overflow(a, b, out);
}
static inline bool sc_mul3_size(size_t a, size_t b, size_t c, size_t *out) {
    size_t t;
    return sc_mul_size(a, b, &t) && sc_mul_size(t, c, out);
}
/* Product of n non-negative dims; false on a negative dim or overflow. */
static inline bool sc_numel(const int64_t *dims, int n, size_t *out) {
    size_t p = 1;
    for (int i = 0; i < n; i++) {
        if (dims[i] < 0 || (uint64_t)dims[i] > SIZE_MAX) return false;
        if (!sc_mul_size(p, (size_t)dims[i], &p)) return false;
    }
    *out = p;
    return true;
}

#endif
