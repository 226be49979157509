/* safetensors reader (format: see safetensors.h and the safetensors project's
 * README). All checks happen on the parsed header before entries are added,
 * so a rejected file leaves nothing half-built behind its error. Unknown
 * fields inside a tensor record are ignored, as the reference reader does;
 * gaps between tensors are tolerated (the reference refuses them, but they
 * are harmless to a reader). */
#include "io/safetensors.h"
#include "core/checked.h"
#include "core/dtype.h"
#include "core/error.h"
#include "io/json.h"
#include "io/tensor_list.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct rec {
    const char *name;
    size_t name_len;
    sc_dtype dtype;
    int ndim;
    int64_t shape[SC_MAX_DIMS];
    size_t begin, end;    /* relative to the data section */
    size_t hdr_off;       /* of the record in the file, for messages */
} rec;

static int cmp_begin(const void *a, const void *b) {
    const rec *x = a, *y = b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    return x->end < y->end ? -1 : x->end > y->end;
}

/* dtypes the format defines that this engine does not handle */
static bool known_unsupported(const char *s) {
    static const char *names[] = {"U16", "U32", "U64", "F8_E4M3", "F8_E5M2", "F6_E2M3",
                                  "F6_E3M2", "F4", "F8_E8M0", "C64"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(s, names[i]) == 0) return true;
    return false;
}

static sc_status parse_record(const sc_json *v, const char *key, size_t klen, size_t base,
                              size_t data_size, const char *path, rec *r, sc_error *err) {
    size_t at = base + sc_json_offset(v);
    int pk = klen > 200 ? 200 : (int)klen;
    if (sc_json_type_of(v) != SC_JSON_OBJECT)
        return sc_fail(err, SC_ERR_FORMAT, at, "%s: tensor '%.*s': record is not an object", path, pk, key);
    const sc_json *jd = sc_json_get(v, "dtype"), *js = sc_json_get(v, "shape"),
                  *jo = sc_json_get(v, "data_offsets");
    size_t dl = 0;
    const char *ds = jd ? sc_json_string(jd, &dl) : NULL;
    if (!ds || !js || sc_json_type_of(js) != SC_JSON_ARRAY || !jo ||
        sc_json_type_of(jo) != SC_JSON_ARRAY)
        return sc_fail(err, SC_ERR_FORMAT, at,
                       "%s: tensor '%.*s': needs string 'dtype', array 'shape', array 'data_offsets'",
                       path, pk, key);
    if (!sc_dtype_parse(ds, dl, &r->dtype))
        return sc_fail(err, known_unsupported(ds) ? SC_ERR_UNSUPPORTED : SC_ERR_FORMAT,
                       base + sc_json_offset(jd), "%s: tensor '%.*s': %s dtype '%.*s'", path, pk,
                       key, known_unsupported(ds) ? "unsupported" : "unknown",
                       dl > 32 ? 32 : (int)dl, ds);
    size_t nd = sc_json_len(js);
    if (nd > SC_MAX_DIMS)
        return sc_fail(err, SC_ERR_UNSUPPORTED, base + sc_json_offset(js),
                       "%s: tensor '%.*s': %zu dimensions (at most %d supported)", path, pk, key,
                       nd, SC_MAX_DIMS);
    r->ndim = (int)nd;
    for (size_t i = 0; i < nd; i++) {
        int64_t d;
        if (!sc_json_int(sc_json_at(js, i), &d) || d < 0)
            return sc_fail(err, SC_ERR_FORMAT, base + sc_json_offset(sc_json_at(js, i)),
                           "%s: tensor '%.*s': shape[%zu] is not a non-negative integer", path,
                           pk, key, i);
        r->shape[i] = d;
    }
    int64_t b, e;
    if (sc_json_len(jo) != 2 || !sc_json_int(sc_json_at(jo, 0), &b) ||
        !sc_json_int(sc_json_at(jo, 1), &e) || b < 0 || e < b)
        return sc_fail(err, SC_ERR_FORMAT, base + sc_json_offset(jo),
                       "%s: tensor '%.*s': data_offsets must be [begin, end] with 0 <= begin <= end",
                       path, pk, key);
    if ((uint64_t)e > data_size)
        return sc_fail(err, SC_ERR_FORMAT, base + sc_json_offset(jo),
                       "%s: tensor '%.*s': data_offsets end %lld is past the %zu data bytes (the file is "
                       "truncated, or its header is wrong)",
                       path, pk, key, (long long)e, data_size);
    size_t numel, nbytes;
    if (!sc_numel(r->shape, r->ndim, &numel) ||
        !sc_mul_size(numel, sc_dtype_size(r->dtype), &nbytes) || nbytes != (size_t)(e - b))
        return sc_fail(err, SC_ERR_FORMAT, base + sc_json_offset(jo),
                       "%s: tensor '%.*s': shape and dtype %s need a different byte count than "
                       "data_offsets [%lld, %lld]",
                       path, pk, key, sc_dtype_name(r->dtype), (long long)b, (long long)e);
    r->name = key;
    r->name_len = klen;
    r->begin = (size_t)b;
    r->end = (size_t)e;
    r->hdr_off = at;
    return SC_OK;
}

sc_status sc_safetensors_parse_into(sc_tensor_list *l, const uint8_t *data, size_t size,
                                    const char *path, sc_error *err) {
    if (!l || (!data && size)) return sc_fail(err, SC_ERR_INVALID_ARG, SC_NO_OFFSET, "safetensors: NULL argument");
    if (!path) path = "<buffer>";
    if (size < 8)
        return sc_fail(err, SC_ERR_FORMAT, 0,
                       "%s: %zu bytes, too short for the 8-byte header length", path, size);
    uint64_t hl = 0;
    for (int i = 7; i >= 0; i--) hl = (hl << 8) | data[i];
    if (hl > SC_SAFETENSORS_MAX_HEADER)
        return sc_fail(err, SC_ERR_LIMIT, 0, "%s: header length %llu exceeds the %zu-byte limit",
                       path, (unsigned long long)hl, SC_SAFETENSORS_MAX_HEADER);
    if (hl > size - 8)
        return sc_fail(err, SC_ERR_FORMAT, 0,
                       "%s: header length %llu runs past the end of the %zu-byte file", path,
                       (unsigned long long)hl, size);
    size_t data_start = 8 + (size_t)hl, data_size = size - data_start;
    char source[4200];
    snprintf(source, sizeof source, "%s header", path);
    sc_json_doc *doc = NULL;
    sc_status st = sc_json_parse((const char *)data + 8, (size_t)hl, source, &doc, err);
    if (st) {
        if (err && err->offset != SC_NO_OFFSET) err->offset += 8;
        return st;
    }
    const sc_json *root = sc_json_root(doc);
    size_t n = sc_json_len(root);
    rec *recs = NULL;
    if (sc_json_type_of(root) != SC_JSON_OBJECT) {
        st = sc_fail(err, SC_ERR_FORMAT, 8, "%s: header is not a JSON object", path);
        goto done;
    }
    recs = calloc(n ? n : 1, sizeof(rec));
    if (!recs) {
        st = sc_fail(err, SC_ERR_NOMEM, SC_NO_OFFSET, "%s: out of memory", path);
        goto done;
    }
    size_t nr = 0;
    for (size_t i = 0; i < n; i++) {
        size_t klen;
        const char *key = sc_json_key_at(root, i, &klen);
        const sc_json *v = sc_json_at(root, i);
        if (strcmp(key, "__metadata__") == 0 && klen == 12) {
            bool ok = sc_json_type_of(v) == SC_JSON_OBJECT;
            for (size_t j = 0; ok && j < sc_json_len(v); j++)
                ok = sc_json_type_of(sc_json_at(v, j)) == SC_JSON_STRING;
            if (!ok) {
                st = sc_fail(err, SC_ERR_FORMAT, 8 + sc_json_offset(v),
                             "%s: __metadata__ must map strings to strings", path);
                goto done;
            }
            continue;
        }
        if ((st = parse_record(v, key, klen, 8, data_size, path, &recs[nr], err))) goto done;
        nr++;
    }
    qsort(recs, nr, sizeof(rec), cmp_begin);
    for (size_t i = 1; i < nr; i++) {
        if (recs[i].begin < recs[i - 1].end) {
            st = sc_fail(err, SC_ERR_FORMAT, recs[i].hdr_off,
                         "%s: tensors '%.*s' and '%.*s' overlap (data_offsets [%zu, %zu] and [%zu, %zu])",
                         path, (int)(recs[i - 1].name_len > 150 ? 150 : recs[i - 1].name_len),
                         recs[i - 1].name, (int)(recs[i].name_len > 150 ? 150 : recs[i].name_len),
                         recs[i].name, recs[i - 1].begin, recs[i - 1].end, recs[i].begin,
                         recs[i].end);
            goto done;
        }
    }
    const char *file = sc_tensor_list_file(l, path);
    if (!file) {
        st = sc_fail(err, SC_ERR_NOMEM, SC_NO_OFFSET, "%s: out of memory", path);
        goto done;
    }
    /* Entries are added in data order, which is also the writer's (sorted) order. */
    for (size_t i = 0; i < nr; i++) {
        const rec *r = &recs[i];
        sc_tensor view = {.dtype = r->dtype, .ndim = r->ndim};
        memcpy(view.shape, r->shape, sizeof view.shape);
        size_t nbytes = r->end - r->begin;
        const uint8_t *src = data + data_start + r->begin;
        view.data = src;
        if (nbytes && !sc_tensor_aligned(src, r->dtype)) {
            void *copy = sc_tensor_list_own(l, nbytes);
            if (!copy) {
                st = sc_fail(err, SC_ERR_NOMEM, data_start + r->begin, "%s: out of memory", path);
                goto done;
            }
            memcpy(copy, src, nbytes);
            view.data = copy;
        }
        if ((st = sc_tensor_list_add(l, r->name, r->name_len, &view, nbytes, file,
                                     data_start + r->begin, err)))
            goto done;
    }
done:
    free(recs);
    sc_json_free(doc);
    return st;
}

sc_status sc_safetensors_parse(const uint8_t *data, size_t size, const char *path,
                               sc_tensor_list **out, sc_error *err) {
    if (!out) return sc_fail(err, SC_ERR_INVALID_ARG, SC_NO_OFFSET, "safetensors: NULL argument");
    sc_tensor_list *l = sc_tensor_list_new();
    if (!l) return sc_fail(err, SC_ERR_NOMEM, SC_NO_OFFSET, "%s: out of memory", path ? path : "");
    sc_status st = sc_safetensors_parse_into(l, data, size, path, err);
    if (!st) st = sc_tensor_list_index(l, err);
    if (st) {
        sc_tensor_list_free(l);
        return st;
    }
    *out = l;
    return SC_OK;
}
