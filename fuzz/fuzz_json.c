/* libFuzzer target: the JSON reader on arbitrary bytes. Besides not
 * crashing, a successful parse must give a tree whose accessors agree with
 * each other (every key found by lookup, offsets inside the input). */
#include "io/json.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void walk(const sc_json *v, size_t size, int depth) {
    if (sc_json_offset(v) >= size || depth > SC_JSON_MAX_DEPTH) abort();
    size_t n = sc_json_len(v);
    for (size_t i = 0; i < n; i++) {
        const sc_json *c = sc_json_at(v, i);
        if (!c) abort();
        if (sc_json_type_of(v) == SC_JSON_OBJECT) {
            size_t kl = 0;
            const char *k = sc_json_key_at(v, i, &kl);
            if (!k || k[kl] != '\0') abort();
            if (!sc_json_getn(v, k, kl)) abort();
        }
        walk(c, size, depth + 1);
    }
    size_t sl = 0;
    const char *s = sc_json_string(v, &sl);
    if (s && s[sl] != '\0') abort();
    int64_t i64;
    double d;
    sc_json_int(v, &i64);
    sc_json_number(v, &d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    sc_json_doc *doc = NULL;
    sc_error err;
    if (sc_json_parse((const char *)data, size, "fuzz.json", &doc, &err) == SC_OK) {
        walk(sc_json_root(doc), size, 1);
        sc_json_free(doc);
    } else if (doc != NULL || err.code == SC_OK || strstr(err.msg, "fuzz.json") == NULL) {
        abort();
    }
    return 0;
}
