/* The engine's way into the JSON reader (util/json.h, shared with the
 * clients of the public header): everything there, plus reading a file
 * through core/mapfile.h, so that a Git LFS pointer in place of a JSON
 * file is told as such like every other file the engine reads. */
#ifndef SC_IO_JSON_H
#define SC_IO_JSON_H

#include "util/json.h"

/* Reads a file no larger than max_bytes (sc_file_read: a Git LFS pointer is
 * refused as SC_ERR_FORMAT) and parses it, naming the path in errors. */
sc_status sc_json_parse_file(const char *path, size_t max_bytes, sc_json_doc **out, sc_error *err);

#endif
