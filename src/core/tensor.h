/* A tensor is a view: dtype, shape, and a pointer to data that someone else
 * owns (an mmapped checkpoint, a converted copy, an arena). Model code never
 * assumes fp32 storage; kernels dispatch on `dtype`. */
#ifndef SC_CORE_TENSOR_H
#define SC_CORE_TENSOR_H

#include "switchc.h"

#define SC_MAX_DIMS 4

typedef struct sc_tensor {
    sc_dtype dtype;
    int ndim;
    int64_t shape[SC_MAX_DIMS];
    const void *data;   /* row-major, contiguous, aligned to the element size */
    const float *scales; /* per-row fp32 scales for quantized dtypes, else NULL */
} sc_tensor;

static inline int64_t sc_tensor_rows(const sc_tensor *t) { return t->shape[0]; }
static inline int64_t sc_tensor_cols(const sc_tensor *t) { return t->ndim > 1 ? t->shape[1] : 1; }

#endif
