/* safetensors files: an 8-byte little-endian header length N, N bytes of
 * JSON {name: {dtype, shape, data_offsets}, "__metadata__": {str: str}},
 * then the data. The header is validated fully before any entry is used:
 * known dtype, non-negative dims, numel * element size == end - begin
 * (overflow-checked), begin <= end <= data size, no two tensors
 * overlapping. A tensor whose data is misaligned for its dtype gets an owned
 * aligned copy; all others are views into the buffer. Leaves out writing. */
#ifndef SC_IO_SAFETENSORS_H
#define SC_IO_SAFETENSORS_H

#include "io/checkpoint.h"

/* Headers larger than this are refused (SC_ERR_LIMIT), as the reference
 * implementation does. */
#define SC_SAFETENSORS_MAX_HEADER ((size_t)100 * 1000 * 1000)

/* Parses data[0..size) (a whole file) into a new list whose views point into
 * `data`, which must outlive the list. `path` names the file in errors. */
sc_status sc_safetensors_parse(const uint8_t *data, size_t size, const char *path,
                               sc_tensor_list **out, sc_error *err);

/* Same, appending to an existing list (for shards); the caller indexes the
 * list afterwards. On failure the list should be discarded. */
sc_status sc_safetensors_parse_into(sc_tensor_list *l, const uint8_t *data, size_t size,
                                    const char *path, sc_error *err);

#endif
