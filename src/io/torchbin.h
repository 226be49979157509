/* PyTorch zip checkpoints (pytorch_model.bin written by torch.save with the
 * zip format, torch >= 1.6): the zip directory (io/zip.h), then data.pkl run
 * through a restricted unpickler that knows only the opcodes and globals a
 * state dict uses and refuses everything else (no code is ever executed).
 * Tensor data stays in the buffer when contiguous and aligned; otherwise the
 * list owns a copy. Leaves out the legacy (pre-1.6, non-zip) format,
 * compressed entries and big-endian archives. */
#ifndef SC_IO_TORCHBIN_H
#define SC_IO_TORCHBIN_H

#include "io/checkpoint.h"

/* Parses data[0..size) (the whole .bin file) into a new list whose views
 * point into `data` (which must outlive the list). `path` names the file in
 * errors. */
sc_status sc_torchbin_parse(const uint8_t *data, size_t size, const char *path,
                            sc_tensor_list **out, sc_error *err);

/* Same, appending to an existing list (for sharded checkpoints); the caller
 * indexes the list afterwards. On failure the list may hold some entries of
 * this file and should be discarded. */
sc_status sc_torchbin_parse_into(sc_tensor_list *l, const uint8_t *data, size_t size,
                                 const char *path, sc_error *err);

#endif
