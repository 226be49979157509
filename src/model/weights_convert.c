/* Matrix dtype conversion (see weights_convert.h). Rows are converted in
 * chunks of CHUNK_ROWS through a small fp32 buffer, so converting a matrix
 * costs its output plus CHUNK_ROWS*K floats. */
#include "model/weights_convert.h"
#include "core/alloc.h"
#include "core/checked.h"
#include "core/dtype.h"
#include "core/error.h"

#include <stdlib.h>
#include <string.h>

#define CHUNK_ROWS 64

bool sc_weights_dtype_ok(sc_dtype t) {
    return t == SC_DTYPE_F32 || t == SC_DTYPE_BF16 || t == SC_DTYPE_F16 || t == SC_DTYPE_I8;
}

bool sc_dtype_from_label(const char *s, sc_dtype *out) {
    if (!s || !out) return false;
    static const struct { const char *name; sc_dtype t; } names[] = {
        {"f32", SC_DTYPE_F32}, {"fp32", SC_DTYPE_F32}, {"float32", SC_DTYPE_F32},
        {"bf16", SC_DTYPE_BF16}, {"bfloat16", SC_DTYPE_BF16},
        {"f16", SC_DTYPE_F16}, {"fp16", SC_DTYPE_F16}, {"float16", SC_DTYPE_F16},
        {"q8", SC_DTYPE_I8}, {"int8", SC_DTYPE_I8},
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (!strcmp(s, names[i].name)) {
            *out = names[i].t;
            return true;
        }
    return false;
}

const char *sc_dtype_label(sc_dtype t) {
    switch (t) {
    case SC_DTYPE_F32: return "f32";
    case SC_DTYPE_BF16: return "bf16";
    case SC_DTYPE_F16: return "f16";
    case SC_DTYPE_I8: return "q8";
    default: return "as-stored";
    }
}

static size_t round_up(size_t n) { return (n + SC_ALIGN - 1) / SC_ALIGN * SC_ALIGN; }

bool sc_weights_converted_bytes(int64_t N, int64_t K, sc_dtype to, size_t *out) {
    size_t numel, data, sc;
    if (N < 0 || K < 0 || !sc_mul_size((size_t)N, (size_t)K, &numel)) return false;
    if (!sc_mul_size(numel, sc_dtype_size(to), &data)) return false;
    if (to != SC_DTYPE_I8) {
        *out = data;
        return true;
    }
    if (data > SIZE_MAX - SC_ALIGN || !sc_mul_size((size_t)N, sizeof(float), &sc)) return false;
    return sc_add_size(round_up(data), sc, out);
}

void sc_weights_rows_f32(float *dst, const sc_tensor *W, int64_t r0, int64_t n) {
    const size_t K = (size_t)sc_tensor_cols(W);
    const size_t esz = sc_dtype_size(W->dtype);
    const unsigned char *src = (const unsigned char *)W->data + (size_t)r0 * K * esz;
    if (W->dtype != SC_DTYPE_I8) {
        sc_convert_to_f32(dst, src, W->dtype, (size_t)n * K);
        return;
    }
    const int8_t *q = (const int8_t *)src;
    for (int64_t r = 0; r < n; r++) {
        float s = W->scales ? W->scales[r0 + r] : 1.0f;
        for (size_t k = 0; k < K; k++) dst[(size_t)r * K + k] = (float)q[(size_t)r * K + k] * s;
    }
}

void sc_weights_pack_rows(void *dst, const float *src, size_t n, sc_dtype to) {
    switch (to) {
    case SC_DTYPE_F32: memcpy(dst, src, n * sizeof(float)); break;
    case SC_DTYPE_BF16:
        for (size_t i = 0; i < n; i++) ((uint16_t *)dst)[i] = sc_f32_to_bf16(src[i]);
        break;
    case SC_DTYPE_F16:
        for (size_t i = 0; i < n; i++) ((uint16_t *)dst)[i] = sc_f32_to_f16(src[i]);
        break;
    default: break;
    }
}

sc_status sc_weights_convert(sc_tensor *out, void **owned, const sc_tensor *W, sc_dtype to,
                             const sc_kernels *k, const char *name, sc_error *err) {
    *owned = NULL;
    if (!sc_weights_dtype_ok(to) || !sc_weights_dtype_ok(W->dtype) || W->ndim != 2)
        return sc_fail(err, SC_ERR_UNSUPPORTED, SC_NO_OFFSET, "%s: cannot convert %s to %s", name,
                       sc_dtype_name(W->dtype), sc_dtype_name(to));
    if (W->dtype == to) {
        *out = *W;
        return SC_OK;
    }
    const int64_t N = W->shape[0], K = W->shape[1];
    size_t bytes;
    if (!sc_weights_converted_bytes(N, K, to, &bytes))
        return sc_fail(err, SC_ERR_LIMIT, SC_NO_OFFSET, "%s: [%lld, %lld] is too large", name,
                       (long long)N, (long long)K);
    unsigned char *block = sc_alloc_aligned(bytes ? bytes : 1);
    float *tmp = sc_alloc_aligned((size_t)CHUNK_ROWS * (size_t)(K ? K : 1) * sizeof(float));
    if (!block || !tmp) {
        sc_free_aligned(block);
        sc_free_aligned(tmp);
        return sc_fail(err, SC_ERR_NOMEM, SC_NO_OFFSET, "%s: out of memory converting to %s (%zu bytes)",
                       name, sc_dtype_name(to), bytes);
    }
    const size_t esz = sc_dtype_size(to);
    float *scales = to == SC_DTYPE_I8 ? (float *)(block + round_up((size_t)N * (size_t)K)) : NULL;
    for (int64_t r = 0; r < N; r += CHUNK_ROWS) {
        int64_t n = N - r < CHUNK_ROWS ? N - r : CHUNK_ROWS;
        sc_weights_rows_f32(tmp, W, r, n);
        unsigned char *dst = block + (size_t)r * (size_t)K * esz;
        if (to == SC_DTYPE_I8)
            k->quantize_rows_q8((int8_t *)dst, scales + r, tmp, n, K);
        else
            sc_weights_pack_rows(dst, tmp, (size_t)n * (size_t)K, to);
    }
    sc_free_aligned(tmp);
    memset(out, 0, sizeof *out);
    out->dtype = to;
    out->ndim = 2;
    out->shape[0] = N;
    out->shape[1] = K;
    out->data = block;
    out->scales = scales;
    *owned = block;
    return SC_OK;
}

sc_status sc_owned_push(sc_owned_list *l, void *block, size_t bytes, sc_error *err) {
    if (!block) return SC_OK;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        void **p = realloc(l->p, cap * sizeof *p);
        if (!p) {
            sc_free_aligned(block);
            return sc_fail(err, SC_ERR_NOMEM, SC_NO_OFFSET, "out of memory");
        }
        l->p = p;
        l->cap = cap;
    }
    l->p[l->n++] = block;
    l->bytes += bytes;
    return SC_OK;
}

void sc_owned_list_free(sc_owned_list *l) {
    if (!l) return;
    for (size_t i = 0; i < l->n; i++) sc_free_aligned(l->p[i]);
    free(l->p);
    memset(l, 0, sizeof *l);
}
