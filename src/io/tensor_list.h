/* Building an sc_tensor_list (declared in io/checkpoint.h): the parsers for
 * safetensors and torch .bin append entries here, then sc_tensor_list_index
 * checks names are unique and builds the hash index used by lookups.
 * The list owns entry names, file names and any owned (copied) tensor data;
 * it never owns the buffers that zero-copy views point into. */
#ifndef SC_IO_TENSOR_LIST_H
#define SC_IO_TENSOR_LIST_H

#include "io/checkpoint.h"

sc_tensor_list *sc_tensor_list_new(void);

/* Interns a file name for entries' `file` fields (the list keeps one copy per
 * call). NULL on out-of-memory. */
const char *sc_tensor_list_file(sc_tensor_list *l, const char *path);

/* Appends an entry; the name is copied (name_len bytes, may lack a NUL).
 * `file` must come from sc_tensor_list_file. */
sc_status sc_tensor_list_add(sc_tensor_list *l, const char *name, size_t name_len,
                             const sc_tensor *view, size_t nbytes, const char *file,
                             size_t file_offset, sc_error *err);

/* An aligned buffer of `size` bytes owned by the list (freed with it). NULL on
 * out-of-memory or size 0. */
void *sc_tensor_list_own(sc_tensor_list *l, size_t size);

/* Checks that names are unique (SC_ERR_FORMAT naming both files otherwise)
 * and builds the lookup index. Must be called after the last add. */
sc_status sc_tensor_list_index(sc_tensor_list *l, sc_error *err);

/* A statistic for tests: the index slots visited by the last successful
 * sc_tensor_list_index (at least one per entry; equal to what looking every
 * entry up costs). Names are hashed with a per-process secret key, so
 * total / count stays a small constant on any set of names. 0 for NULL or
 * before indexing. */
size_t sc_tensor_list_index_probes(const sc_tensor_list *l);

/* True when p is aligned to the element size of t (zero copy is allowed). */
static inline bool sc_tensor_aligned(const void *p, sc_dtype t) {
    size_t a = sc_dtype_size(t);
    return a == 0 || ((uintptr_t)p % a) == 0;
}

#endif
