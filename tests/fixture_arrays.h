/* Reading the arrays a fixture case's manifest.json lists (name, file,
 * shape; 4-byte elements: float32 or int32) into memory, for the tests
 * that compare with Hugging Face's recorded outputs. */
#ifndef SC_FIXTURE_ARRAYS_H
#define SC_FIXTURE_ARRAYS_H

#include "core/mapfile.h"
#include "io/json.h"
#include "test_util.h"

typedef struct arr {
    void *data;
    int64_t shape[4];
    int ndim;
    size_t n;
} arr;

/* Reads manifest array `name` of case dir into *out (free out->data); false,
 * with data NULL, when the manifest has no such array or its file does not
 * hold n 4-byte elements. */
static inline bool load_array(const char *dir, const sc_json *arrays, const char *name, arr *out) {
    memset(out, 0, sizeof *out);
    for (size_t i = 0; i < sc_json_len(arrays); i++) {
        const sc_json *a = sc_json_at(arrays, i);
        const char *nm = sc_json_string(sc_json_get(a, "name"), NULL);
        if (!nm || strcmp(nm, name) != 0) continue;
        const char *file = sc_json_string(sc_json_get(a, "file"), NULL);
        const sc_json *shape = sc_json_get(a, "shape");
        out->ndim = (int)sc_json_len(shape);
        out->n = 1;
        for (int d = 0; d < out->ndim && d < 4; d++) {
            sc_json_int(sc_json_at(shape, (size_t)d), &out->shape[d]);
            out->n *= (size_t)out->shape[d];
        }
        char *path = sc_path_join(dir, file);
        char *buf = NULL;
        size_t len = 0;
        sc_status st = sc_file_read(path, (size_t)1 << 30, &buf, &len, NULL);
        free(path);
        if (st != SC_OK || len != out->n * 4) {
            free(buf);
            return false;
        }
        out->data = buf;
        return true;
    }
    return false;
}

/* Whether dir is an inference reference case: it has a manifest.json with
 * no "kind" (the training and dense-T5 cases name theirs and are read by
 * their own tests). */
static inline bool fixture_is_inference_case(const char *dir) {
    char *man = sc_path_join(dir, "manifest.json");
    sc_json_doc *doc = NULL;
    bool yes = man && sc_path_is_file(man) && sc_json_parse_file(man, (size_t)1 << 26, &doc, NULL) == SC_OK &&
               sc_json_get(sc_json_root(doc), "kind") == NULL;
    sc_json_free(doc);
    free(man);
    return yes;
}

#endif
