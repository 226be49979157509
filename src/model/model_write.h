/* Writing a whole checkpoint (config's tensor set, named through the HF name
 * table) as safetensors, streaming: a producer gives each tensor's rows in
 * fp32, a chunk at a time; matrices are stored in the chosen dtype (q8:
 * "<name>" I8 [N,K] + "<name>.scale" F32 [N], docs/q8-format.md), the
 * vectors (norms, router, relative bias) always F32. Shards when the data
 * passes shard_bytes (model-0000i-of-0000n.safetensors + index json).
 * Within a file, F32 tensors come first, then 16-bit, then I8, so that every
 * tensor is aligned to its element size and loads zero-copy.
 * The files go into a staging directory (io/staged_dir.h) and are moved
 * into place by sc_model_write_commit, which also removes the safetensors
 * weights of another layout left in the output directory, so that the
 * directory loads what was just written.
 * Leaves out: config/tokenizer files (the CLI stages them). */
#ifndef SC_MODEL_MODEL_WRITE_H
#define SC_MODEL_MODEL_WRITE_H

#include "io/staged_dir.h"
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

/* Writes the weight files into the staging directory `stage`:
 * model.safetensors, or model-0000i-of-0000n.safetensors and
 * model.safetensors.index.json. Nothing is moved into the output directory
 * (sc_model_write_commit does that); on failure the caller aborts the
 * staging. */
sc_status sc_model_write(sc_staged_dir *stage, const sc_config *cfg, const sc_write_opts *o,
                         sc_write_summary *sum, sc_error *err);

/* Name of weight file i of n: "model.safetensors" when n == 1, else
 * "model-%05d-of-%05d.safetensors" (i counted from 0). */
void sc_model_weight_file_name(char *buf, size_t cap, int i, int n);

/* Commits a staging directory holding sc_model_write's files (as `sum`
 * describes them) plus side files. Order, so that the directory loads the
 * new weights as soon as possible and never a mix: the weight files; then
 * removal of the safetensors weights of the other layout found in OUT (a
 * stale index and shards model-*.safetensors after a single file; a stale
 * model.safetensors, which the loader would prefer, before a new index);
 * the index; stale shards the new index does not name; then each name of
 * `side` (NULL-terminated, in order; names that were not staged are
 * skipped), config.json best last. pytorch_model*.bin files are left
 * alone: they belong to no layout written here and the loader reads
 * safetensors first. Frees the staging in every case (sc_staged_dir_commit). */
sc_status sc_model_write_commit(sc_staged_dir *stage, const sc_write_summary *sum, const char *const *side,
                                sc_error *err);

/* Whether `dir` holds (part of) a checkpoint: an entry named config.json,
 * model.safetensors, model.safetensors.index.json, pytorch_model.bin,
 * pytorch_model.bin.index.json, model-*.safetensors or pytorch_model-*.bin,
 * whatever its kind (a link counts, dangling or not). The first name found
 * goes to found (cap bytes; may be NULL). A missing or unreadable dir holds
 * none. */
bool sc_model_dir_has_checkpoint(const char *dir, char *found, size_t cap);

/* Whether a weight kind is a matrix stored in the chosen dtype (else F32). */
bool sc_weight_kind_is_matrix(sc_weight_kind k);

#endif
