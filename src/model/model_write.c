/* Streaming checkpoint writer (see model_write.h). */
#include "model/model_write.h"
#include "core/alloc.h"
#include "core/checked.h"
#include "core/error.h"
#include "core/mapfile.h"
#include "io/safetensors_write.h"
#include "model/weights_convert.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHUNK_ROWS 64

bool sc_weight_kind_is_matrix(sc_weight_kind k) {
    return !(k == SC_W_FINAL_LN || k == SC_W_SA_LN || k == SC_W_CA_LN || k == SC_W_FF_LN ||
             k == SC_W_REL_BIAS || k == SC_W_ROUTER_W || k == SC_W_ROUTER_B);
}

/* One tensor of the output: a weight (part 0) or a q8 matrix's scales (part 1). */
typedef struct out_tensor {
    sc_weight_ref ref;
    size_t index;
    int part;
    char name[280];
    sc_dtype dtype;
    int64_t rows, cols;
    size_t bytes;
    int shard;
} out_tensor;

typedef struct plan {
    out_tensor *t;
    size_t n, cap;
    sc_dtype dtype;
    bool fail;
} plan;

static bool plan_add(void *vctx, const sc_weight_ref *ref) {
    plan *p = vctx;
    bool matrix = sc_weight_kind_is_matrix(ref->kind);
    int parts = matrix && p->dtype == SC_DTYPE_I8 ? 2 : 1;
    for (int part = 0; part < parts; part++) {
        if (p->n == p->cap) {
            size_t cap = p->cap ? p->cap * 2 : 256;
            out_tensor *t = realloc(p->t, cap * sizeof *t);
            if (!t) {
                p->fail = true;
                return false;
            }
            p->t = t;
            p->cap = cap;
        }
        out_tensor *o = &p->t[p->n];
        memset(o, 0, sizeof *o);
        o->ref = *ref;
        o->index = (size_t)-1;
        o->part = part;
        if (!sc_hf_name(ref, o->name, sizeof o->name - 8)) {
            p->fail = true;
            return false;
        }
        if (part) strcat(o->name, ".scale");
        o->rows = ref->ndim == 2 ? ref->shape[0] : 1;
        o->cols = ref->ndim == 2 ? ref->shape[1] : ref->shape[0];
        o->dtype = part ? SC_DTYPE_F32 : matrix ? p->dtype : SC_DTYPE_F32;
        size_t numel = part ? (size_t)o->rows : (size_t)o->rows * (size_t)o->cols;
        o->bytes = numel * sc_dtype_size(o->dtype);
        p->n++;
    }
    return true;
}

typedef struct writer_ctx {
    const sc_write_opts *o;
    const sc_kernels *k;
    float *f32;     /* CHUNK_ROWS * max cols */
    void *packed;   /* same, in the output dtype */
    float *scales;  /* CHUNK_ROWS */
    size_t done, total;
} writer_ctx;

static sc_status write_tensor(writer_ctx *c, sc_st_writer *w, const out_tensor *t, sc_error *err) {
    for (int64_t r = 0; r < t->rows; r += CHUNK_ROWS) {
        int64_t n = t->rows - r < CHUNK_ROWS ? t->rows - r : CHUNK_ROWS;
        size_t elems = (size_t)n * (size_t)t->cols;
        sc_status st = c->o->rows(c->o->ctx, &t->ref, t->index, r, n, c->f32, err);
        if (st) return st;
        const void *out = c->packed;
        size_t bytes;
        if (t->part == 1) { /* q8 scales: the same quantization as the data pass */
            c->k->quantize_rows_q8(c->packed, c->scales, c->f32, n, t->cols);
            out = c->scales;
            bytes = (size_t)n * sizeof(float);
        } else if (t->dtype == SC_DTYPE_I8) {
            c->k->quantize_rows_q8(c->packed, c->scales, c->f32, n, t->cols);
            bytes = elems;
        } else {
            sc_weights_pack_rows(c->packed, c->f32, elems, t->dtype);
            bytes = elems * sc_dtype_size(t->dtype);
        }
        if ((st = sc_st_writer_write(w, out, bytes, err))) return st;
        c->done += bytes;
        if (c->o->progress) c->o->progress(c->o->progress_ctx, c->done, c->total);
    }
    return SC_OK;
}

static void shard_name(char *buf, size_t cap, int i, int n) {
    if (n == 1) snprintf(buf, cap, "model.safetensors");
    else snprintf(buf, cap, "model-%05d-of-%05d.safetensors", i + 1, n);
}

static sc_status write_index(const char *dir, const plan *p, int n_shards, size_t total, sc_error *err) {
    char *path = sc_path_join(dir, "model.safetensors.index.json");
    FILE *f = path ? fopen(path, "w") : NULL;
    if (!f) {
        sc_status st = sc_fail(err, SC_ERR_IO, SC_NO_OFFSET, "%s: cannot create", path ? path : dir);
        free(path);
        return st;
    }
    fprintf(f, "{\n  \"metadata\": {\"total_size\": %zu},\n  \"weight_map\": {\n", total);
    for (size_t i = 0; i < p->n; i++) {
        char fn[64];
        shard_name(fn, sizeof fn, p->t[i].shard, n_shards);
        fprintf(f, "    \"%s\": \"%s\"%s\n", p->t[i].name, fn, i + 1 < p->n ? "," : "");
    }
    fprintf(f, "  }\n}\n");
    bool ok = fclose(f) == 0;
    sc_status st = ok ? SC_OK : sc_fail(err, SC_ERR_IO, SC_NO_OFFSET, "%s: write failed", path);
    free(path);
    return st;
}

sc_status sc_model_write(const char *dir, const sc_config *cfg, const sc_write_opts *o,
                         sc_write_summary *sum, sc_error *err) {
    if (!dir || !cfg || !o || !o->rows || !sc_weights_dtype_ok(o->dtype))
        return sc_fail(err, SC_ERR_INVALID_ARG, SC_NO_OFFSET, "sc_model_write: bad arguments");
    plan p = {.dtype = o->dtype};
    sc_hf_for_each(cfg, plan_add, &p);
    if (p.fail) {
        free(p.t);
        return sc_fail(err, SC_ERR_NOMEM, SC_NO_OFFSET, "out of memory planning the checkpoint");
    }
    /* table order index (the producer's key) and shard assignment; a matrix
     * and its scales share a shard */
    size_t idx = 0, shard_fill = 0, total = 0;
    int shard = 0;
    int64_t max_cols = 1;
    for (size_t i = 0; i < p.n; i++) {
        out_tensor *t = &p.t[i];
        if (t->part == 0) {
            t->index = idx++;
            size_t unit = t->bytes + (i + 1 < p.n && p.t[i + 1].part == 1 ? p.t[i + 1].bytes : 0);
            if (o->shard_bytes && shard_fill && shard_fill + unit > o->shard_bytes) {
                shard++;
                shard_fill = 0;
            }
            shard_fill += unit;
        } else {
            t->index = p.t[i - 1].index;
        }
        t->shard = shard;
        total += t->bytes;
        if (t->cols > max_cols) max_cols = t->cols;
    }
    const int n_shards = shard + 1;
    writer_ctx c = {.o = o, .k = o->kern ? o->kern : sc_kernels_best(), .total = total};
    c.f32 = sc_alloc_aligned((size_t)CHUNK_ROWS * (size_t)max_cols * sizeof(float));
    c.packed = sc_alloc_aligned((size_t)CHUNK_ROWS * (size_t)max_cols * sizeof(float));
    c.scales = sc_alloc_aligned(CHUNK_ROWS * sizeof(float));
    sc_st_desc *d = calloc(p.n, sizeof *d);
    const out_tensor **order = calloc(p.n, sizeof *order);
    sc_status st = SC_OK;
    if (!c.f32 || !c.packed || !c.scales || !d || !order)
        st = sc_fail(err, SC_ERR_NOMEM, SC_NO_OFFSET, "out of memory");
    size_t file_bytes = 0;
    const char *meta[] = {"format", "pt", NULL};
    for (int s = 0; !st && s < n_shards; s++) {
        size_t nd = 0;
        for (size_t esz = 4; esz >= 1; esz /= 2) /* widest first: every tensor aligned */
            for (size_t i = 0; i < p.n; i++)
                if (p.t[i].shard == s && sc_dtype_size(p.t[i].dtype) == esz) {
                    order[nd] = &p.t[i];
                    d[nd].name = p.t[i].name;
                    d[nd].dtype = p.t[i].dtype;
                    d[nd].ndim = p.t[i].part ? 1 : p.t[i].ref.ndim;
                    d[nd].shape[0] = p.t[i].part ? p.t[i].rows : p.t[i].ref.shape[0];
                    d[nd].shape[1] = p.t[i].ref.shape[1];
                    nd++;
                }
        char fn[64];
        shard_name(fn, sizeof fn, s, n_shards);
        char *path = sc_path_join(dir, fn);
        sc_st_writer *w = NULL;
        if (!path) st = sc_fail(err, SC_ERR_NOMEM, SC_NO_OFFSET, "out of memory");
        if (!st) file_bytes += sc_st_file_bytes(d, nd, meta);
        if (!st) st = sc_st_writer_open(path, d, nd, meta, &w, err);
        for (size_t i = 0; !st && i < nd; i++) st = write_tensor(&c, w, order[i], err);
        if (st) sc_st_writer_abort(w);
        else st = sc_st_writer_close(w, err);
        free(path);
    }
    if (!st && n_shards > 1) st = write_index(dir, &p, n_shards, total, err);
    if (!st && sum) {
        sum->n_tensors = p.n;
        sum->n_shards = (size_t)n_shards;
        sum->data_bytes = total;
        sum->file_bytes = file_bytes;
    }
    sc_free_aligned(c.f32);
    sc_free_aligned(c.packed);
    sc_free_aligned(c.scales);
    free(d);
    free(order);
    free(p.t);
    return st;
}
