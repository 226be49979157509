/* Filling the caller-owned sc_error. Library code reports failures only
 * through these helpers; it never prints. They live in the utility library,
 * which the JSON reader shares with the engine. */
#ifndef SC_CORE_ERROR_H
#define SC_CORE_ERROR_H

#include "util/error.h" /* sc_fail, sc_error_clear, sc_error_prefix, SC_PRINTF */

#endif
