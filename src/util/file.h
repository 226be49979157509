/* Reading a small file whole, for clients of the public header (recorded
 * benchmark runs, reference manifests). The engine reads its files through
 * core/mapfile.h, which also refuses Git LFS pointers; this does not look
 * at the contents. Leaves out mapping and large files. */
#ifndef SC_UTIL_FILE_H
#define SC_UTIL_FILE_H

#include "switchc.h"

/* Reads the regular file at path, no larger than max_bytes, into a fresh
 * NUL-terminated heap buffer (*out, free it; its length in *len, may be
 * NULL). Errors name the path: "PATH: cannot open: why" (SC_ERR_MISSING
 * when it does not exist, else SC_ERR_IO), "PATH: not a regular file",
 * "PATH: file is N bytes, more than the M allowed" (SC_ERR_LIMIT), a
 * failed read (SC_ERR_IO). On failure *out is untouched. */
sc_status sc_read_file(const char *path, size_t max_bytes, char **out, size_t *len, sc_error *err);

#endif
