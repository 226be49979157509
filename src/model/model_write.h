/* Writing a whole checkpoint (config's tensor set, named through the HF name
 * table) as safetensors, streaming: a producer gives each tensor's rows in
 * fp32, a chunk at a time; matrices are stored in the chosen dtype (q8:
 * "<name>" I8 [N,K] + "<name>.scale" F32 [N], docs/q8-format.md), the
 * vectors (norms, router, relative bias) always F32. Shards when the data
 * passes shard_bytes (model-0000i-of-0000n.safetensors + index json).
 * Within a file, F32 tensors come first, then 16-bit, then I8, so that every
 * tensor is aligned to its element size and loads zero-copy.
 * Leaves out: config/tokenizer files (the CLI copies them). */
#ifndef SC_MODEL_MODEL_WRITE_H
#define SC_MODEL_MODEL_WRITE_H

#include "kernels/kernels.h"
#include "model/hf_names.h"

/* Fills dst[n, cols] with rows [r0, r0+n) of tensor `ref` in fp32. A 1-D
 * tensor is one row; a 2-D one has shape[0] rows. `index` is the tensor's
 * position in the name table's order. */
typedef sc_status (*sc_rows_fn)(void *ctx, const sc_weight_ref *ref, size_t index, int64_t r0, int64_t n,
                                float *dst, sc_error *err);

typedef struct sc_write_opts {
    sc_dtype dtype;        /* matrices: F32, BF16, F16 or I8 (q8) */
    size_t shard_bytes;    /* 0 = one file */
    const sc_kernels *kern; /* quantize_rows_q8 (NULL: the best table) */
    sc_rows_fn rows;
    void *ctx;
    sc_progress_fn progress; /* may be NULL */
    void *progress_ctx;
} sc_write_opts;

typedef struct sc_write_summary {
    size_t n_tensors;   /* tensors written (scales included) */
    size_t n_shards;
    size_t data_bytes;  /* tensor bytes, all files */
    size_t file_bytes;  /* all safetensors files */
} sc_write_summary;

sc_status sc_model_write(const char *dir, const sc_config *cfg, const sc_write_opts *o,
                         sc_write_summary *sum, sc_error *err);

/* Whether a weight kind is a matrix stored in the chosen dtype (else F32). */
bool sc_weight_kind_is_matrix(sc_weight_kind k);

#endif
