/* Streaming safetensors writer. The caller declares every tensor (name,
 * dtype, shape) up front, so the header can be written first: 8-byte
 * little-endian header length N, N bytes of JSON {"__metadata__": {...},
 * name: {"dtype", "shape", "data_offsets": [begin, end]}} padded with spaces
 * so the data starts 8-byte aligned, then the tensors' bytes back to back in
 * the declared order (the format allows no gaps). Data is then streamed
 * tensor by tensor, in any chunk sizes; nothing but the header is held.
 * A tensor whose offset is not a multiple of its element size is refused at
 * open (declare wider dtypes first), so every tensor loads zero-copy.
 * Leaves out: reading (io/safetensors.h), fsync and putting the file in
 * place (io/staged_dir.h). */
#ifndef SC_IO_SAFETENSORS_WRITE_H
#define SC_IO_SAFETENSORS_WRITE_H

#include "switchc.h"

typedef struct sc_st_desc {
    const char *name;
    sc_dtype dtype;
    int ndim;
    int64_t shape[4];
} sc_st_desc;

typedef struct sc_st_writer sc_st_writer;

/* Creates `path`, which must not exist yet (an existing file or link is an
 * error, never truncated or written through), and writes the header.
 * meta: key, value, key, value, ..., NULL (string metadata; may be NULL). */
sc_status sc_st_writer_open(const char *path, const sc_st_desc *d, size_t n, const char *const *meta,
                            sc_st_writer **out, sc_error *err);
/* Appends bytes of the current tensor (moving on to the next when one is
 * full); writing more than declared is an error. */
sc_status sc_st_writer_write(sc_st_writer *w, const void *data, size_t nbytes, sc_error *err);
/* Checks that every declared byte was written, flushes and closes. Frees w
 * in every case. */
sc_status sc_st_writer_close(sc_st_writer *w, sc_error *err);
/* Closes and removes the file (after a failure); NULL-safe. */
void sc_st_writer_abort(sc_st_writer *w);

/* Bytes the file will have for these tensors (header included); 0 on error. */
size_t sc_st_file_bytes(const sc_st_desc *d, size_t n, const char *const *meta);

#endif
