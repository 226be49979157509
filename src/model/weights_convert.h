/* Weight matrices in another dtype: converting one view to F32, BF16, F16 or
 * I8 (q8: per-output-row symmetric int8 + fp32 scales) into an owned
 * buffer, row by row, so that no fp32 copy of a whole matrix is ever held.
 * Used by the loader (--dtype), by `switchc convert` and `switchc init`.
 * Leaves out: other quantization schemes (block-wise, 4-bit). */
#ifndef SC_MODEL_WEIGHTS_CONVERT_H
#define SC_MODEL_WEIGHTS_CONVERT_H

#include "core/tensor.h"
#include "kernels/kernels.h"

/* Sentinel for sc_model_params.dtype: keep each matrix in its stored dtype. */
#define SC_DTYPE_AS_STORED SC_DTYPE_COUNT

/* Whether t is a dtype matrices can be computed in (F32, BF16, F16, I8). */
bool sc_weights_dtype_ok(sc_dtype t);
/* Names of compute dtypes: sc_dtype_from_label, sc_dtype_label (switchc.h). */

/* Bytes of an owned converted [N,K] matrix in dtype `to` (I8: data rounded up
 * to SC_ALIGN, then N fp32 scales); false on overflow. */
bool sc_weights_converted_bytes(int64_t N, int64_t K, sc_dtype to, size_t *out);

/* Rows [r0, r0+n) of W as fp32 into dst[n, K]. W may be F32/BF16/F16, or I8
 * with scales (dequantized: q * scale). */
void sc_weights_rows_f32(float *dst, const sc_tensor *W, int64_t r0, int64_t n);

/* Converts W [N,K] to dtype `to`. When W is already in `to`, *out = *W and
 * *owned = NULL. Otherwise one aligned block is allocated (free with
 * sc_free_aligned), *owned points to it and *out views it. q8 uses
 * k->quantize_rows_q8 (a chunk of rows at a time). `name` is for messages. */
sc_status sc_weights_convert(sc_tensor *out, void **owned, const sc_tensor *W, sc_dtype to,
                             const sc_kernels *k, const char *name, sc_error *err);

/* fp32 rows src[n, K] -> dst in dtype `to` (F32/BF16/F16 only; round to
 * nearest even as PyTorch's .to()). */
void sc_weights_pack_rows(void *dst, const float *src, size_t n_elems, sc_dtype to);

/* A growing list of owned aligned blocks (converted matrices). */
typedef struct sc_owned_list {
    void **p;
    size_t n, cap;
    size_t bytes; /* total bytes held, for reporting */
} sc_owned_list;

sc_status sc_owned_push(sc_owned_list *l, void *block, size_t bytes, sc_error *err);
/* Frees every block and the list's storage; NULL-safe. */
void sc_owned_list_free(sc_owned_list *l);

#endif
