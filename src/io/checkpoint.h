/* A checkpoint directory as a list of named tensors, whatever its format:
 * model.safetensors, sharded safetensors (model.safetensors.index.json),
 * pytorch_model.bin, sharded .bin (pytorch_model.bin.index.json).
 * Tensor data stays in the mapped files (zero copy) whenever it is
 * contiguous and aligned to its element size; otherwise a copy is owned by
 * the checkpoint. Everything is released by sc_checkpoint_close. */
#ifndef SC_IO_CHECKPOINT_H
#define SC_IO_CHECKPOINT_H

#include "switchc.h"
#include "core/tensor.h"

/* The formats are the public sc_format (switchc.h). */
typedef sc_format sc_ckpt_format;

typedef struct sc_tensor_entry {
    const char *name;       /* HF state-dict key */
    sc_tensor view;         /* dtype, shape, data */
    size_t nbytes;
    const char *file;       /* the file it came from (for messages) */
    size_t file_offset;     /* byte offset of its data in that file */
} sc_tensor_entry;

/* A parsed list of entries (one file or many). */
typedef struct sc_tensor_list sc_tensor_list;

typedef struct sc_checkpoint sc_checkpoint;

/* Detects the format in `dir` (safetensors preferred over .bin) and opens it.
 * `prefer` may force a format: pass -1 for automatic. */
sc_status sc_checkpoint_open(const char *dir, int prefer, sc_checkpoint **out, sc_error *err);

/* How the files are read: mapped (the default, zero copy) or, with
 * into_memory, read whole into private memory (sc_file_load), with progress
 * over all the files' bytes. */
typedef struct sc_checkpoint_read {
    bool into_memory;
    int threads;             /* readers per file (sc_file_load); < 1: one */
    sc_progress_fn progress; /* may be NULL */
    void *progress_ctx;
} sc_checkpoint_read;
/* sc_checkpoint_open reading the files as `how` says (NULL: mapped). */
sc_status sc_checkpoint_open_read(const char *dir, int prefer, const sc_checkpoint_read *how,
                                  sc_checkpoint **out, sc_error *err);
/* A checkpoint over tensors already in memory (a trainer's parameters):
 * takes `list` (indexed with sc_tensor_list_index; freed with the checkpoint,
 * also on failure); its entries' data stays the caller's and must outlive the
 * checkpoint. It has no files; its format reads as safetensors. */
sc_status sc_checkpoint_from_list(sc_tensor_list *list, sc_checkpoint **out, sc_error *err);
void sc_checkpoint_close(sc_checkpoint *ck);

sc_ckpt_format sc_checkpoint_format(const sc_checkpoint *ck);
const char *sc_checkpoint_format_name(sc_ckpt_format f);
size_t sc_checkpoint_count(const sc_checkpoint *ck);
const sc_tensor_entry *sc_checkpoint_at(const sc_checkpoint *ck, size_t i);
/* Entry by exact name, NULL if absent. */
const sc_tensor_entry *sc_checkpoint_find(const sc_checkpoint *ck, const char *name);
/* Total bytes of all files. */
size_t sc_checkpoint_file_bytes(const sc_checkpoint *ck);
/* Gives back the pages of [p, p + len) when the range lies inside one of the
 * checkpoint's mapped files: madvise(MADV_DONTNEED) on the whole pages inside
 * (pages shared with neighbouring tensors are kept). The file stays mapped;
 * a later touch reads the pages back. Ranges anywhere else (files read into
 * memory, whose pages would come back as zeros; copies the checkpoint or the
 * caller owns) are left alone. For sources of converted copies, which are
 * not read again. */
void sc_checkpoint_drop_pages(const sc_checkpoint *ck, const void *p, size_t len);
/* The checkpoint's entries as a list (owned by the checkpoint). */
const sc_tensor_list *sc_checkpoint_list(const sc_checkpoint *ck);

/* Tensor lists, as produced by the buffer-level parsers
 * (sc_safetensors_parse in io/safetensors.h, sc_torchbin_parse in
 * io/torchbin.h). Entries keep the order of the file(s); lookup by name is
 * O(1) through a hash index. */
size_t sc_tensor_list_count(const sc_tensor_list *l);
const sc_tensor_entry *sc_tensor_list_at(const sc_tensor_list *l, size_t i);
const sc_tensor_entry *sc_tensor_list_find(const sc_tensor_list *l, const char *name);
void sc_tensor_list_free(sc_tensor_list *l);

#endif
