/* sc_model_info (switchc.h, "model info"): what a model directory holds,
 * from config.json and the checkpoint's tensor index, without reading a
 * tensor's values. Walks every tensor the HF name table expects for the
 * config (missing, wrong shape, non-float dtype), lists the tensors nobody
 * reads, and counts parameters (expected by the config) and bytes (stored)
 * per part. Leaves out loading the model (sc_model_load says whether it
 * loads) and NaN scans. */
#include "core/error.h"
#include "core/mapfile.h"
#include "io/checkpoint.h"
#include "io/config.h"
#include "model/hf_names.h"
#include "switchc.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Problems listed per kind before the rest are only counted. */
#define MAX_LISTED 20

typedef struct problem {
    bool error;
    char *msg;
} problem;

struct sc_model_info {
    sc_config cfg;
    bool have_cfg;
    sc_checkpoint *ck;
    unsigned dtypes;
    uint64_t params[SC_PART_COUNT];
    uint64_t bytes[SC_PART_COUNT];
    uint64_t expert0_params; /* params of expert 0 across all sparse blocks */
    sc_model_tensor_counts n, unlisted;
    const sc_tensor_entry **found; /* sorted by pointer for lookups */
    size_t n_found;
    problem *problems;
    size_t n_problems, cap_problems;
    const char *tokenizer_file;
    bool oom;
};

static void add_problem(sc_model_info *r, bool error, const char *fmt, ...) SC_PRINTF(3, 4);
static void add_problem(sc_model_info *r, bool error, const char *fmt, ...) {
    if (r->n_problems == r->cap_problems) {
        size_t cap = r->cap_problems ? r->cap_problems * 2 : 16;
        problem *p = realloc(r->problems, cap * sizeof *p);
        if (!p) {
            r->oom = true;
            return;
        }
        r->problems = p;
        r->cap_problems = cap;
    }
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    char *s = strdup(buf);
    if (!s) {
        r->oom = true;
        return;
    }
    r->problems[r->n_problems].error = error;
    r->problems[r->n_problems].msg = s;
    r->n_problems++;
}

static sc_model_part part_of(sc_weight_kind k) {
    switch (k) {
    case SC_W_SHARED:
    case SC_W_LM_HEAD: return SC_PART_EMBEDDINGS;
    case SC_W_FINAL_LN:
    case SC_W_SA_LN:
    case SC_W_CA_LN:
    case SC_W_FF_LN: return SC_PART_NORMS;
    case SC_W_FF_WI:
    case SC_W_FF_WI0:
    case SC_W_FF_WI1:
    case SC_W_FF_WO: return SC_PART_DENSE_FF;
    case SC_W_ROUTER_W:
    case SC_W_ROUTER_B: return SC_PART_ROUTER;
    case SC_W_EXPERT_WI:
    case SC_W_EXPERT_WI0:
    case SC_W_EXPERT_WI1:
    case SC_W_EXPERT_WO: return SC_PART_EXPERTS;
    default: return SC_PART_ATTENTION; /* q, k, v, o, relative attention bias */
    }
}

static void shape_str(char *buf, size_t cap, int ndim, const int64_t *shape) {
    size_t n = (size_t)snprintf(buf, cap, "[");
    for (int i = 0; i < ndim && n < cap; i++)
        n += (size_t)snprintf(buf + n, cap - n, i ? ", %lld" : "%lld", (long long)shape[i]);
    if (n < cap) snprintf(buf + n, cap - n, "]");
}

static bool is_float(sc_dtype t) { return t == SC_DTYPE_F32 || t == SC_DTYPE_F16 || t == SC_DTYPE_BF16; }

static bool visit(void *vr, const sc_weight_ref *ref) {
    sc_model_info *r = vr;
    uint64_t numel = (uint64_t)ref->shape[0] * (uint64_t)(ref->ndim > 1 ? ref->shape[1] : 1);
    sc_model_part part = part_of(ref->kind);
    r->n.expected++;
    r->params[part] += numel;
    if (part == SC_PART_EXPERTS && ref->expert == 0) r->expert0_params += numel;
    char name[256];
    if (!sc_hf_name(ref, name, sizeof name)) return true;
    const sc_tensor_entry *e = sc_checkpoint_find(r->ck, name);
    if (!e) {
        r->n.missing++;
        if (r->n.missing <= MAX_LISTED) add_problem(r, true, "missing tensor '%s'", name);
        else r->unlisted.missing++;
        return true;
    }
    r->n.found++;
    r->found[r->n_found++] = e;
    r->bytes[part] += e->nbytes;
    const sc_tensor *v = &e->view;
    bool shape_ok = v->ndim == ref->ndim && v->shape[0] == ref->shape[0] &&
                    (ref->ndim == 1 || v->shape[1] == ref->shape[1]);
    if (!shape_ok || !is_float(v->dtype)) {
        r->n.bad++;
        if (r->n.bad > MAX_LISTED) {
            r->unlisted.bad++;
            return true;
        }
        char got[96], want[96];
        shape_str(got, sizeof got, v->ndim, v->shape);
        shape_str(want, sizeof want, ref->ndim, ref->shape);
        add_problem(r, true, "tensor '%s' in %s is %s %s, expected a float tensor %s", name, e->file,
                    sc_dtype_name(v->dtype), got, want);
    }
    return true;
}

static int cmp_ptr(const void *a, const void *b) {
    uintptr_t x = (uintptr_t)*(const void *const *)a, y = (uintptr_t)*(const void *const *)b;
    return x < y ? -1 : x > y;
}

static void find_unexpected(sc_model_info *r) {
    qsort(r->found, r->n_found, sizeof *r->found, cmp_ptr);
    size_t n = sc_checkpoint_count(r->ck);
    for (size_t i = 0; i < n; i++) {
        const sc_tensor_entry *e = sc_checkpoint_at(r->ck, i);
        if (bsearch(&e, r->found, r->n_found, sizeof *r->found, cmp_ptr)) continue;
        if (sc_hf_is_alias(&r->cfg, e->name)) {
            r->n.aliases++;
            continue;
        }
        r->n.unexpected++;
        if (r->n.unexpected <= MAX_LISTED)
            add_problem(r, false, "unexpected tensor '%s' in %s (ignored)", e->name, e->file);
        else r->unlisted.unexpected++;
    }
}

/* By the rule sc_tokenizer_load applies to a directory. */
static const char *tokenizer_file(const char *dir, bool *oom) {
    static const char *const files[] = {"spiece.model", "tokenizer.json"};
    for (int i = 0; i < 2; i++) {
        char *p = sc_path_join(dir, files[i]);
        if (!p) *oom = true;
        bool is = p && sc_path_is_file(p);
        free(p);
        if (is) return files[i];
    }
    return NULL;
}

sc_status sc_model_info_read(const char *dir, sc_format format, sc_model_info **out, sc_error *err) {
    if (!dir || !out) return sc_fail(err, SC_ERR_INVALID_ARG, SC_NO_OFFSET, "model info: NULL argument");
    sc_model_info *r = calloc(1, sizeof *r);
    char *cfg_path = sc_path_join(dir, "config.json");
    if (!r || !cfg_path) {
        free(r);
        free(cfg_path);
        return sc_fail(err, SC_ERR_NOMEM, SC_NO_OFFSET, "%s: out of memory", dir);
    }
    sc_error e;
    if (sc_config_load(cfg_path, &r->cfg, &e)) add_problem(r, true, "%s", e.msg);
    else r->have_cfg = true;
    free(cfg_path);
    /* A sharded .bin is picked by the same rule as a bin format elsewhere:
     * the single file, then its sharded form. */
    if (sc_checkpoint_open(dir, format, &r->ck, &e) && format == SC_FORMAT_TORCH_BIN) {
        sc_error e2;
        if (!sc_checkpoint_open(dir, SC_FORMAT_TORCH_BIN_SHARDED, &r->ck, &e2)) sc_error_clear(&e);
    }
    if (!r->ck) add_problem(r, true, "%s", e.msg);
    size_t n = sc_checkpoint_count(r->ck);
    for (size_t i = 0; i < n; i++) {
        sc_dtype t = sc_checkpoint_at(r->ck, i)->view.dtype;
        if ((unsigned)t < SC_DTYPE_COUNT) r->dtypes |= 1u << t;
    }
    if (r->have_cfg && r->ck) {
        r->found = calloc(n ? n : 1, sizeof *r->found);
        if (!r->found) r->oom = true;
        else {
            sc_hf_for_each(&r->cfg, visit, r);
            find_unexpected(r);
        }
    }
    r->tokenizer_file = tokenizer_file(dir, &r->oom);
    if (r->oom) {
        sc_model_info_free(r);
        return sc_fail(err, SC_ERR_NOMEM, SC_NO_OFFSET, "%s: out of memory", dir);
    }
    *out = r;
    return SC_OK;
}

void sc_model_info_free(sc_model_info *info) {
    if (!info) return;
    for (size_t i = 0; i < info->n_problems; i++) free(info->problems[i].msg);
    free(info->problems);
    free(info->found);
    sc_checkpoint_close(info->ck);
    free(info);
}

static const char *act_name(sc_act a) {
    switch (a) {
    case SC_ACT_RELU: return "relu";
    case SC_ACT_GELU_NEW: return "gelu_new";
    case SC_ACT_GELU: return "gelu";
    }
    return "?";
}

bool sc_model_info_config(const sc_model_info *info, sc_model_config_info *out) {
    if (!info || !info->have_cfg || !out) return false;
    const sc_config *c = &info->cfg;
    *out = (sc_model_config_info){
        .d_model = c->d_model, .d_kv = c->d_kv, .num_heads = c->num_heads, .d_ff = c->d_ff,
        .num_layers = c->num_layers, .num_decoder_layers = c->num_decoder_layers,
        .num_experts = c->num_experts, .expert_capacity = c->expert_capacity, .vocab_size = c->vocab_size,
        .tie_word_embeddings = c->tie_word_embeddings, .act = act_name(c->act), .gated = c->gated,
        .router_bias = c->router_bias,
    };
    return true;
}

bool sc_model_info_block_is_sparse(const sc_model_info *info, bool decoder, int64_t i) {
    if (!info || !info->have_cfg || i < 0) return false;
    if (i >= (decoder ? info->cfg.num_decoder_layers : info->cfg.num_layers)) return false;
    return sc_config_block_is_sparse(&info->cfg, decoder, i);
}

sc_format sc_model_info_format(const sc_model_info *info) {
    return info && info->ck ? sc_checkpoint_format(info->ck) : SC_FORMAT_AUTO;
}

const char *sc_model_info_format_name(const sc_model_info *info) {
    return info && info->ck ? sc_checkpoint_format_name(sc_checkpoint_format(info->ck)) : NULL;
}

size_t sc_model_info_file_bytes(const sc_model_info *info) {
    return info && info->ck ? sc_checkpoint_file_bytes(info->ck) : 0;
}

unsigned sc_model_info_dtypes(const sc_model_info *info) { return info ? info->dtypes : 0; }

const char *sc_model_part_name(sc_model_part p) {
    static const char *const names[SC_PART_COUNT] = {"embeddings", "attention", "dense_ff",
                                                     "experts", "router", "norms"};
    return (unsigned)p < SC_PART_COUNT ? names[p] : NULL;
}

uint64_t sc_model_info_params(const sc_model_info *info, sc_model_part p) {
    return info && (unsigned)p < SC_PART_COUNT ? info->params[p] : 0;
}

uint64_t sc_model_info_bytes(const sc_model_info *info, sc_model_part p) {
    return info && (unsigned)p < SC_PART_COUNT ? info->bytes[p] : 0;
}

uint64_t sc_model_info_params_total(const sc_model_info *info) {
    uint64_t s = 0;
    for (int i = 0; info && i < SC_PART_COUNT; i++) s += info->params[i];
    return s;
}

uint64_t sc_model_info_params_active(const sc_model_info *info) {
    /* every sparse block keeps one of its num_experts experts per token */
    uint64_t total = sc_model_info_params_total(info);
    if (!info || !info->have_cfg || info->cfg.num_experts <= 1) return total;
    return total - info->expert0_params * (uint64_t)(info->cfg.num_experts - 1);
}

sc_model_tensor_counts sc_model_info_tensors(const sc_model_info *info) {
    return info ? info->n : (sc_model_tensor_counts){0};
}

size_t sc_model_info_problem_count(const sc_model_info *info) { return info ? info->n_problems : 0; }

const char *sc_model_info_problem(const sc_model_info *info, size_t i, bool *is_error) {
    if (!info || i >= info->n_problems) return NULL;
    if (is_error) *is_error = info->problems[i].error;
    return info->problems[i].msg;
}

sc_model_tensor_counts sc_model_info_unlisted(const sc_model_info *info) {
    return info ? info->unlisted : (sc_model_tensor_counts){0};
}

const char *sc_model_info_tokenizer_file(const sc_model_info *info) {
    return info ? info->tokenizer_file : NULL;
}
