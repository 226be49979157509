/* Streaming checkpoint writer (see model_write.h). */
#include "model/model_write.h"
#include "core/alloc.h"
#include "core/checked.h"
#include "core/error.h"
#include "core/mapfile.h"
#include "io/safetensors_write.h"
#include "model/weights_convert.h"

#include <dirent.h>
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

void sc_model_weight_file_name(char *buf, size_t cap, int i, int n) {
    if (n == 1) snprintf(buf, cap, "model.safetensors");
    else snprintf(buf, cap, "model-%05d-of-%05d.safetensors", i + 1, n);
}

static const char index_name[] = "model.safetensors.index.json";

static sc_status write_index(sc_staged_dir *stage, const plan *p, int n_shards, size_t total, sc_error *err) {
    FILE *f = sc_staged_dir_fopen(stage, index_name, err);
    if (!f) return err ? err->code : SC_ERR_IO;
    fprintf(f, "{\n  \"metadata\": {\"total_size\": %zu},\n  \"weight_map\": {\n", total);
    for (size_t i = 0; i < p->n; i++) {
        char fn[64];
        sc_model_weight_file_name(fn, sizeof fn, p->t[i].shard, n_shards);
        fprintf(f, "    \"%s\": \"%s\"%s\n", p->t[i].name, fn, i + 1 < p->n ? "," : "");
    }
    fprintf(f, "  }\n}\n");
    bool ok = !ferror(f);
    ok = fclose(f) == 0 && ok;
    return ok ? SC_OK
              : sc_fail(err, SC_ERR_IO, SC_NO_OFFSET, "%s/%s: write failed: %s", sc_staged_dir_tmp(stage),
                        index_name, strerror(errno));
}

sc_status sc_model_write(sc_staged_dir *stage, const sc_config *cfg, const sc_write_opts *o,
                         sc_write_summary *sum, sc_error *err) {
    if (!stage || !cfg || !o || !o->rows || !sc_weights_dtype_ok(o->dtype))
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
        sc_model_weight_file_name(fn, sizeof fn, s, n_shards);
        char *path = sc_staged_dir_path(stage, fn);
        sc_st_writer *w = NULL;
        if (!path) st = sc_fail(err, SC_ERR_NOMEM, SC_NO_OFFSET, "out of memory");
        if (!st) file_bytes += sc_st_file_bytes(d, nd, meta);
        if (!st) st = sc_st_writer_open(path, d, nd, meta, &w, err);
        for (size_t i = 0; !st && i < nd; i++) st = write_tensor(&c, w, order[i], err);
        if (st) sc_st_writer_abort(w);
        else st = sc_st_writer_close(w, err);
        free(path);
    }
    if (!st && n_shards > 1) st = write_index(stage, &p, n_shards, total, err);
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

/* model-*.safetensors: a shard of some sharded safetensors layout. */
static bool is_st_shard(const char *name) {
    size_t n = strlen(name);
    return n > 6 + 12 && !strncmp(name, "model-", 6) && !strcmp(name + n - 12, ".safetensors");
}

static bool is_bin_shard(const char *name) {
    size_t n = strlen(name);
    return n > 14 + 4 && !strncmp(name, "pytorch_model-", 14) && !strcmp(name + n - 4, ".bin");
}

bool sc_model_dir_has_checkpoint(const char *dir, char *found, size_t cap) {
    static const char *const names[] = {"config.json", "model.safetensors", "model.safetensors.index.json",
                                        "pytorch_model.bin", "pytorch_model.bin.index.json"};
    DIR *d = dir ? opendir(dir) : NULL;
    if (!d) return false;
    bool hit = false;
    struct dirent *e;
    while (!hit && (e = readdir(d))) {
        for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) hit = hit || !strcmp(e->d_name, names[i]);
        hit = hit || is_st_shard(e->d_name) || is_bin_shard(e->d_name);
        if (hit && found && cap) snprintf(found, cap, "%s", e->d_name);
    }
    closedir(d);
    return hit;
}

/* Names of the commit's steps, owned here. */
typedef struct step_list {
    sc_stage_step *s;
    char **owned;
    size_t n, cap;
    bool oom;
} step_list;

static void step_add(step_list *l, sc_stage_op op, const char *name) {
    if (l->oom) return;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 32;
        sc_stage_step *s = realloc(l->s, cap * sizeof *s);
        if (s) l->s = s;
        char **o = s ? realloc(l->owned, cap * sizeof *o) : NULL;
        if (o) l->owned = o;
        if (!s || !o) {
            l->oom = true;
            return;
        }
        l->cap = cap;
    }
    char *copy = strdup(name);
    if (!copy) {
        l->oom = true;
        return;
    }
    l->owned[l->n] = copy;
    l->s[l->n].op = op;
    l->s[l->n].name = copy;
    l->n++;
}

static bool is_new_shard(const char *name, int n_shards) {
    char fn[64];
    for (int i = 0; i < n_shards; i++) {
        sc_model_weight_file_name(fn, sizeof fn, i, n_shards);
        if (!strcmp(fn, name)) return true;
    }
    return false;
}

sc_status sc_model_write_commit(sc_staged_dir *stage, const sc_write_summary *sum, const char *const *side,
                                sc_error *err) {
    if (!stage || !sum || sum->n_shards < 1 || sum->n_shards > 99999) {
        sc_staged_dir_abort(stage);
        return sc_fail(err, SC_ERR_INVALID_ARG, SC_NO_OFFSET, "sc_model_write_commit: bad arguments");
    }
    const int n = (int)sum->n_shards;
    step_list l = {0};
    char fn[64];
    for (int i = 0; i < n; i++) {
        sc_model_weight_file_name(fn, sizeof fn, i, n);
        step_add(&l, SC_STAGE_MOVE, fn);
    }
    if (n == 1) step_add(&l, SC_STAGE_REMOVE, index_name);
    else {
        step_add(&l, SC_STAGE_REMOVE, "model.safetensors");
        step_add(&l, SC_STAGE_MOVE, index_name);
    }
    /* shards of an older layout, read before any step runs */
    DIR *d = opendir(sc_staged_dir_target(stage));
    if (d) {
        struct dirent *e;
        while ((e = readdir(d)))
            if (is_st_shard(e->d_name) && !(n > 1 && is_new_shard(e->d_name, n)))
                step_add(&l, SC_STAGE_REMOVE, e->d_name);
        closedir(d);
    }
    for (size_t i = 0; side && side[i]; i++)
        if (sc_staged_dir_has(stage, side[i])) step_add(&l, SC_STAGE_MOVE, side[i]);
    sc_status st;
    if (l.oom) {
        sc_staged_dir_abort(stage);
        st = sc_fail(err, SC_ERR_NOMEM, SC_NO_OFFSET, "out of memory");
    } else {
        st = sc_staged_dir_commit(stage, l.s, l.n, err);
    }
    for (size_t i = 0; i < l.n; i++) free(l.owned[i]);
    free(l.owned);
    free(l.s);
    return st;
}
