/* libFuzzer target: the JSON reader (util/json.c), then every accessor over the
 * tree. */
#include "util/json.h"

#include <stdint.h>
#include <stdlib.h>

static void walk(const sc_json *v, int depth) {
    size_t n = sc_json_len(v), len;
    double d;
    int64_t i;
    bool b;
    sc_json_number(v, &d);
    sc_json_int(v, &i);
    sc_json_bool(v, &b);
    sc_json_string(v, &len);
    for (size_t k = 0; k < n && depth < 200; k++) {
        const char *key = sc_json_key_at(v, k, &len);
        if (key) sc_json_getn(v, key, len);
        walk(sc_json_at(v, k), depth + 1);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    sc_json_doc *doc = NULL;
    sc_error err;
    if (sc_json_parse((const char *)data, size, "fuzz.json", &doc, &err) == SC_OK)
        walk(sc_json_root(doc), 0);
    sc_json_free(doc);
    return 0;
}
