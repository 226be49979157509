/*
 * switchc — run Google's Switch Transformers (sparse Mixture-of-Experts T5)
 * from Hugging Face checkpoints, in C.
 *
 * This header is the whole public API and its documentation.
 *
 * Conventions
 *  - Opaque handles. A `sc_model` is immutable after load and may be shared by
 *    any number of threads; a `sc_session` (caches, scratch) belongs to one
 *    thread at a time.
 *  - Every call that can fail returns an `sc_status`. Outputs are written only
 *    on success. `err` may be NULL; when given, it receives a message naming
 *    the file, the key or tensor, and (where it applies) the byte offset.
 *  - The library never prints and never exits.
 *  - Every `_free`/`_close` accepts NULL as a harmless no-op.
 *  - Caller buffers are pointer + capacity; a too-small buffer gives
 *    SC_ERR_BUFFER_TOO_SMALL and reports the size needed.
 */
#ifndef SWITCHC_H
#define SWITCHC_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SWITCHC_VERSION "0.1.0"

/* ------------------------------------------------------------------ status */

typedef enum sc_status {
    SC_OK = 0,
    SC_ERR_INVALID_ARG = 1,     /* the caller passed a bad argument            */
    SC_ERR_IO = 2,              /* a file could not be opened, read or mapped  */
    SC_ERR_FORMAT = 3,          /* a file's contents are malformed            */
    SC_ERR_UNSUPPORTED = 4,     /* well-formed, but not something we handle    */
    SC_ERR_LIMIT = 5,           /* a size is absurd or its arithmetic overflows */
    SC_ERR_NOMEM = 6,           /* an allocation failed                        */
    SC_ERR_MISSING = 7,         /* an expected file, key or tensor is absent   */
    SC_ERR_SHAPE = 8,           /* a tensor has the wrong shape or dtype       */
    SC_ERR_BUFFER_TOO_SMALL = 9 /* a caller buffer cannot hold the result      */
} sc_status;

#define SC_NO_OFFSET ((size_t)-1)

/* Caller-owned error report. `offset` is a byte offset into the file named in
 * `msg`, or SC_NO_OFFSET when none applies. */
typedef struct sc_error {
    sc_status code;
    size_t offset;
    char msg[512];
} sc_error;

/* Short stable name of a status ("ok", "io", "format", ...). */
const char *sc_status_name(sc_status s);

/* ------------------------------------------------------------------- dtypes */

typedef enum sc_dtype {
    SC_DTYPE_F32 = 0,
    SC_DTYPE_F16,
    SC_DTYPE_BF16,
    SC_DTYPE_I8,
    SC_DTYPE_U8,
    SC_DTYPE_I16,
    SC_DTYPE_I32,
    SC_DTYPE_I64,
    SC_DTYPE_F64,
    SC_DTYPE_BOOL,
    SC_DTYPE_COUNT
} sc_dtype;

/* Bytes per element (0 for an invalid dtype). */
size_t sc_dtype_size(sc_dtype t);
/* Safetensors spelling: "F32", "F16", "BF16", "I8", ... */
const char *sc_dtype_name(sc_dtype t);

/* ---------------------------------------------------------------- tokenizer */

typedef struct sc_tokenizer sc_tokenizer;

/* ------------------------------------------------------------ model, session */

typedef struct sc_model sc_model;
typedef struct sc_session sc_session;

/* What a dropped (over-capacity) token outputs from a sparse FF layer. */
typedef enum sc_drop_policy {
    SC_DROP_HF4 = 0, /* transformers 4.x: router_prob_max * x (the default)   */
    SC_DROP_ZERO,    /* newer transformers and t5x: 0, only the residual passes */
    SC_DROP_NONE     /* no capacity limit: nothing is dropped                  */
} sc_drop_policy;

/* ---------------------------------------------------------------- generation */

#ifdef __cplusplus
}
#endif
#endif /* SWITCHC_H */
