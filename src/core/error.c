/* Status names (the sc_error helpers are in util/error.c). */
#include "core/error.h"

const char *sc_status_name(sc_status s) {
    switch (s) {
    case SC_OK: return "ok";
    case SC_ERR_INVALID_ARG: return "invalid-argument";
    case SC_ERR_IO: return "io";
    case SC_ERR_FORMAT: return "format";
    case SC_ERR_UNSUPPORTED: return "unsupported";
    case SC_ERR_LIMIT: return "limit";
    case SC_ERR_NOMEM: return "out-of-memory";
    case SC_ERR_MISSING: return "missing";
    case SC_ERR_SHAPE: return "shape";
    case SC_ERR_BUFFER_TOO_SMALL: return "buffer-too-small";
    }
    return "unknown";
}
