/* Opening a checkpoint directory: format detection, mapping the file(s),
 * parsing them into one indexed tensor list, and for sharded checkpoints
 * checking the index (plain shard names that exist, every listed tensor found
 * in the shard the index names). Leaves out loading into a model (names and
 * shapes are checked by the model binder) and writing. */
#include "io/checkpoint.h"
#include "core/error.h"
#include "core/mapfile.h"
#include "io/json.h"
#include "io/safetensors.h"
#include "io/tensor_list.h"
#include "io/torchbin.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define MAX_INDEX_BYTES ((size_t)256 << 20)

struct sc_checkpoint {
    sc_ckpt_format format;
    sc_tensor_list *list;
    sc_mapped_file *files;
    size_t n_files;
    size_t file_bytes;
    sc_checkpoint_read how;
    size_t total_bytes; /* into_memory: of all files, for progress */
};

static const char *const format_files[] = {
    "model.safetensors", "model.safetensors.index.json", "pytorch_model.bin",
    "pytorch_model.bin.index.json"};

const char *sc_checkpoint_format_name(sc_ckpt_format f) {
    switch (f) {
    case SC_FORMAT_SAFETENSORS: return "safetensors";
    case SC_FORMAT_SAFETENSORS_SHARDED: return "safetensors (sharded)";
    case SC_FORMAT_TORCH_BIN: return "pytorch .bin";
    case SC_FORMAT_TORCH_BIN_SHARDED: return "pytorch .bin (sharded)";
    case SC_FORMAT_AUTO: break; /* a request, never the format of an open checkpoint */
    }
    return "unknown";
}

sc_status sc_checkpoint_from_list(sc_tensor_list *list, sc_checkpoint **out, sc_error *err) {
    sc_checkpoint *ck = list ? calloc(1, sizeof *ck) : NULL;
    if (!ck) {
        sc_tensor_list_free(list);
        return sc_fail(err, list ? SC_ERR_NOMEM : SC_ERR_INVALID_ARG, SC_NO_OFFSET,
                       list ? "checkpoint: out of memory" : "checkpoint: no tensor list");
    }
    ck->format = SC_FORMAT_SAFETENSORS;
    ck->list = list;
    *out = ck;
    return SC_OK;
}

void sc_checkpoint_close(sc_checkpoint *ck) {
    if (!ck) return;
    sc_tensor_list_free(ck->list);
    for (size_t i = 0; i < ck->n_files; i++) sc_file_unmap(&ck->files[i]);
    free(ck->files);
    free(ck);
}

/* Maps (or reads) `path` as the checkpoint's next file and parses it into
 * ck->list. */
static sc_status add_file(sc_checkpoint *ck, const char *path, bool torch, sc_error *err) {
    sc_mapped_file *f = &ck->files[ck->n_files];
    const sc_file_progress pg = {ck->how.progress, ck->how.progress_ctx, ck->file_bytes, ck->total_bytes};
    sc_status st = ck->how.into_memory ? sc_file_load(path, ck->how.threads, &pg, f, err) : sc_file_map(path, f, err);
    if (st) return st;
    ck->n_files++;
    ck->file_bytes += f->size;
    return torch ? sc_torchbin_parse_into(ck->list, f->data, f->size, f->path, err)
                 : sc_safetensors_parse_into(ck->list, f->data, f->size, f->path, err);
}

static bool plain_name(const char *s, size_t n) {
    if (n == 0 || strlen(s) != n || strcmp(s, ".") == 0 || strcmp(s, "..") == 0) return false;
    return !strchr(s, '/') && !strchr(s, '\\');
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static sc_status open_sharded(sc_checkpoint *ck, const char *dir, const char *index_path,
                              bool torch, sc_error *err) {
    sc_json_doc *doc = NULL;
    sc_status st = sc_json_parse_file(index_path, MAX_INDEX_BYTES, &doc, err);
    if (st) return st;
    const sc_json *wm = sc_json_get(sc_json_root(doc), "weight_map");
    const char **names = NULL;
    char *shard_path = NULL;
    if (!wm || sc_json_type_of(wm) != SC_JSON_OBJECT) {
        st = sc_fail(err, SC_ERR_FORMAT, SC_NO_OFFSET, "%s: no 'weight_map' object", index_path);
        goto done;
    }
    size_t n = sc_json_len(wm);
    names = calloc(n ? n : 1, sizeof *names);
    if (!names) {
        st = sc_fail(err, SC_ERR_NOMEM, SC_NO_OFFSET, "%s: out of memory", index_path);
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        size_t len;
        const sc_json *v = sc_json_at(wm, i);
        const char *s = sc_json_string(v, &len);
        if (!s || !plain_name(s, len)) {
            st = sc_fail(err, SC_ERR_FORMAT, sc_json_offset(v),
                         "%s: weight_map['%s'] is not a plain file name in the same directory",
                         index_path, sc_json_key_at(wm, i, NULL));
            goto done;
        }
        names[i] = s;
    }
    /* distinct shard files, in name order */
    qsort(names, n, sizeof *names, cmp_str);
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (k == 0 || strcmp(names[k - 1], names[i]) != 0) names[k++] = names[i];
    ck->files = calloc(k ? k : 1, sizeof(sc_mapped_file));
    if (!ck->files) {
        st = sc_fail(err, SC_ERR_NOMEM, SC_NO_OFFSET, "%s: out of memory", index_path);
        goto done;
    }
    for (int pass = 0; pass < 2; pass++) /* sizes (for progress), then the files */
        for (size_t i = 0; i < k; i++) {
            shard_path = sc_path_join(dir, names[i]);
            if (!shard_path) {
                st = sc_fail(err, SC_ERR_NOMEM, SC_NO_OFFSET, "%s: out of memory", index_path);
                goto done;
            }
            if (!sc_path_is_file(shard_path)) {
                st = sc_fail(err, SC_ERR_MISSING, SC_NO_OFFSET, "%s: shard '%s' does not exist",
                             index_path, names[i]);
                goto done;
            }
            if (pass == 0) ck->total_bytes += sc_file_size(shard_path);
            else if ((st = add_file(ck, shard_path, torch, err))) goto done;
            free(shard_path);
            shard_path = NULL;
        }
    if ((st = sc_tensor_list_index(ck->list, err))) goto done;
    /* Every tensor the index lists must be in the shard it names. */
    for (size_t i = 0; i < n; i++) {
        const char *key = sc_json_key_at(wm, i, NULL);
        const char *shard = sc_json_string(sc_json_at(wm, i), NULL);
        const sc_tensor_entry *e = sc_tensor_list_find(ck->list, key);
        const char *base = e ? strrchr(e->file, '/') : NULL;
        base = base ? base + 1 : e ? e->file : NULL;
        if (!e || strcmp(base, shard) != 0) {
            st = sc_fail(err, SC_ERR_MISSING, SC_NO_OFFSET, "%s: tensor '%s' is not in shard '%s'",
                         index_path, key, shard);
            goto done;
        }
    }
done:
    free(shard_path);
    free(names);
    sc_json_free(doc);
    return st;
}

sc_status sc_checkpoint_open(const char *dir, int prefer, sc_checkpoint **out, sc_error *err) {
    return sc_checkpoint_open_read(dir, prefer, NULL, out, err);
}

sc_status sc_checkpoint_open_read(const char *dir, int prefer, const sc_checkpoint_read *how,
                                  sc_checkpoint **out, sc_error *err) {
    if (!dir || !out) return sc_fail(err, SC_ERR_INVALID_ARG, SC_NO_OFFSET, "checkpoint: NULL argument");
    if (prefer < -1 || prefer > SC_FORMAT_TORCH_BIN_SHARDED)
        return sc_fail(err, SC_ERR_INVALID_ARG, SC_NO_OFFSET, "%s: unknown checkpoint format %d",
                       dir, prefer);
    if (!sc_path_is_dir(dir))
        return sc_fail(err, SC_ERR_MISSING, SC_NO_OFFSET, "%s: no such directory", dir);
    int fmt = -1;
    char *path = NULL;
    for (int f = 0; f < 4 && fmt < 0; f++) {
        if (prefer >= 0 && f != prefer) continue;
        path = sc_path_join(dir, format_files[f]);
        if (!path) return sc_fail(err, SC_ERR_NOMEM, SC_NO_OFFSET, "%s: out of memory", dir);
        if (sc_path_is_file(path)) {
            fmt = f;
        } else {
            free(path);
            path = NULL;
        }
    }
    if (fmt < 0) {
        if (prefer >= 0)
            return sc_fail(err, SC_ERR_MISSING, SC_NO_OFFSET, "%s: no %s (asked for %s)", dir,
                           format_files[prefer], sc_checkpoint_format_name((sc_ckpt_format)prefer));
        return sc_fail(err, SC_ERR_MISSING, SC_NO_OFFSET,
                       "%s: no weights found (looked for %s, %s, %s, %s)", dir, format_files[0],
                       format_files[1], format_files[2], format_files[3]);
    }
    sc_status st;
    sc_checkpoint *ck = calloc(1, sizeof *ck);
    if (!ck || !(ck->list = sc_tensor_list_new())) {
        st = sc_fail(err, SC_ERR_NOMEM, SC_NO_OFFSET, "%s: out of memory", dir);
        goto fail;
    }
    ck->format = (sc_ckpt_format)fmt;
    if (how) ck->how = *how;
    bool torch = fmt == SC_FORMAT_TORCH_BIN || fmt == SC_FORMAT_TORCH_BIN_SHARDED;
    if (fmt == SC_FORMAT_SAFETENSORS || fmt == SC_FORMAT_TORCH_BIN) {
        ck->files = calloc(1, sizeof(sc_mapped_file));
        if (!ck->files) {
            st = sc_fail(err, SC_ERR_NOMEM, SC_NO_OFFSET, "%s: out of memory", dir);
            goto fail;
        }
        ck->total_bytes = sc_file_size(path);
        st = add_file(ck, path, torch, err);
        if (!st) st = sc_tensor_list_index(ck->list, err);
    } else {
        st = open_sharded(ck, dir, path, torch, err);
    }
    if (st) goto fail;
    free(path);
    ck->how.progress = NULL; /* the caller's context is not kept past the open */
    ck->how.progress_ctx = NULL;
    *out = ck;
    return SC_OK;
fail:
    free(path);
    sc_checkpoint_close(ck);
    return st;
}

sc_ckpt_format sc_checkpoint_format(const sc_checkpoint *ck) { return ck->format; }
size_t sc_checkpoint_count(const sc_checkpoint *ck) { return ck ? sc_tensor_list_count(ck->list) : 0; }
const sc_tensor_entry *sc_checkpoint_at(const sc_checkpoint *ck, size_t i) {
    return ck ? sc_tensor_list_at(ck->list, i) : NULL;
}
const sc_tensor_entry *sc_checkpoint_find(const sc_checkpoint *ck, const char *name) {
    return ck ? sc_tensor_list_find(ck->list, name) : NULL;
}
size_t sc_checkpoint_file_bytes(const sc_checkpoint *ck) { return ck ? ck->file_bytes : 0; }

void sc_checkpoint_drop_pages(const sc_checkpoint *ck, const void *p, size_t len) {
    if (!ck || !p) return;
    const long page = sysconf(_SC_PAGESIZE);
    if (page <= 0) return;
    const uintptr_t a = (uintptr_t)p, mask = ~((uintptr_t)page - 1);
    for (size_t i = 0; i < ck->n_files; i++) {
        const uintptr_t lo = (uintptr_t)ck->files[i].data, hi = lo + ck->files[i].size;
        if (!ck->files[i].data || a < lo || a >= hi || len > hi - a) continue;
        if (ck->files[i].in_memory) return;
        const uintptr_t plo = (a + (uintptr_t)page - 1) & mask, phi = (a + len) & mask;
        if (phi > plo) madvise((void *)plo, phi - plo, MADV_DONTNEED);
        return;
    }
}
const sc_tensor_list *sc_checkpoint_list(const sc_checkpoint *ck) { return ck ? ck->list : NULL; }
