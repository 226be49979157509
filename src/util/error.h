/* Filling the caller-owned sc_error (switchc.h). The engine reports
 * failures only through these helpers and never prints; the utility library
 * (the JSON reader) uses them too, which is why they live here, below the
 * engine. */
#ifndef SC_UTIL_ERROR_H
#define SC_UTIL_ERROR_H

#include "switchc.h"

#if defined(__GNUC__)
#define SC_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define SC_PRINTF(a, b)
#endif

/* Sets err (if not NULL) to code/offset/formatted message; returns code so a
 * failing function can `return sc_fail(err, ...)`. */
sc_status sc_fail(sc_error *err, sc_status code, size_t offset, const char *fmt, ...)
    SC_PRINTF(4, 5);

/* Clears err to SC_OK. */
void sc_error_clear(sc_error *err);

/* Prefixes an existing message with context ("loading X: ..."). */
void sc_error_prefix(sc_error *err, const char *fmt, ...) SC_PRINTF(2, 3);

#endif
