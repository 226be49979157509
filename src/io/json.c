/* sc_json_parse_file: the file side of the JSON reader (util/json.c holds
 * the parser, which reads memory only). */
#include "io/json.h"
#include "core/error.h"
#include "core/mapfile.h"

#include <stdlib.h>

sc_status sc_json_parse_file(const char *path, size_t max_bytes, sc_json_doc **out, sc_error *err) {
    if (!path || !out) return sc_fail(err, SC_ERR_INVALID_ARG, SC_NO_OFFSET, "json: NULL argument");
    char *buf = NULL;
    size_t len = 0;
    sc_status st = sc_file_read(path, max_bytes, &buf, &len, err);
    if (st) return st;
    st = sc_json_parse(buf, len, path, out, err);
    free(buf); /* strings were copied into the document's arena */
    return st;
}
