/* switchc inspect -m DIR [--json]: what a model directory holds and whether
 * it can be loaded. Reads config.json, opens the checkpoint, walks every
 * tensor the HF name table expects for that config (missing, wrong shape,
 * non-float dtype), lists unexpected tensors, counts parameters (total and
 * active per token) and bytes per component, then confirms with a real
 * sc_model_load. Then tells "the weights load" from "ready to generate":
 * the latter also needs a tokenizer that loads and whose ids all have an
 * embedding row. -m may name a Hugging Face repo in the local cache.
 * Leaves out reading tensor values (no NaN scan). */
#include "cli/args.h"
#include "cli/cli_model.h"
#include "cli/commands.h"
#include "core/error.h"
#include "core/mapfile.h"
#include "io/checkpoint.h"
#include "io/config.h"
#include "model/hf_names.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Problems listed per kind before the rest are only counted. */
#define MAX_LISTED 20

static void usage(FILE *f) {
    fprintf(f,
            "usage: switchc inspect -m DIR [--json] [--format safetensors|bin] [--revision REF]\n\n"
            "Describes the Switch Transformers checkpoint in DIR: format, file bytes, dtypes,\n"
            "config summary, sparse blocks, parameters (total and active per token), bytes per\n"
            "component, and problems (missing tensors, wrong shapes or dtypes are errors;\n"
            "unexpected tensors are warnings). Then loads the model to confirm it is usable,\n"
            "and says whether it is ready to generate: the weights load, and a tokenizer\n"
            "(spiece.model or tokenizer.json) loads and fits the model's embeddings.\n"
            "  -m, --model DIR  model directory (config.json + weights), or a Hugging Face\n"
            "                   repo id ORG/NAME found in the local cache (docs/models.md)\n"
            "  --revision REF   with a repo id: branch, tag or commit (default: main)\n"
            "  --format F       weights to inspect: safetensors | bin (default: safetensors first)\n"
            "  --json           one JSON object on stdout instead of text\n\n"
            "Counting: 'total' is every parameter of the model (shared embedding once; lm_head\n"
            "when untied). 'active_per_token' is total minus (num_experts - 1) experts in each\n"
            "sparse block: dense weights + router + 1 expert per sparse block, embeddings and\n"
            "lm_head counted in full. Aliases of shared.weight are not counted.\n\n"
            "JSON keys (stable): dir, format (string or null), file_bytes, dtypes [string],\n"
            "config {d_model, d_kv, num_heads, d_ff, num_layers, num_decoder_layers, num_experts,\n"
            "expert_capacity, vocab_size, tie_word_embeddings, act, gated, router_bias} or null,\n"
            "encoder_sparse_layers [int], decoder_sparse_layers [int],\n"
            "params {total, active_per_token, embeddings},\n"
            "components {embeddings, attention, dense_ff, experts, router, norms: {params, bytes}},\n"
            "tensors {expected, found, missing, bad, unexpected, aliases},\n"
            "problems [{severity: \"error\"|\"warning\", message}], loadable (bool: the weights load),\n"
            "tokenizer {file (string or null), loaded (bool), vocab_size (int or null)},\n"
            "ready_to_generate (bool), not_ready (string: why not, or null), name (the -m argument).\n"
            "Exit status: 0 usable, 1 problems make it unloadable, 2 bad usage.\n");
}

enum { C_EMB, C_ATTN, C_DENSE, C_EXPERT, C_ROUTER, C_NORM, C_COUNT };
static const char *const comp_names[C_COUNT] = {"embeddings", "attention", "dense_ff",
                                                "experts", "router", "norms"};

static int component_of(sc_weight_kind k) {
    switch (k) {
    case SC_W_SHARED:
    case SC_W_LM_HEAD: return C_EMB;
    case SC_W_FINAL_LN:
    case SC_W_SA_LN:
    case SC_W_CA_LN:
    case SC_W_FF_LN: return C_NORM;
    case SC_W_FF_WI:
    case SC_W_FF_WI0:
    case SC_W_FF_WI1:
    case SC_W_FF_WO: return C_DENSE;
    case SC_W_ROUTER_W:
    case SC_W_ROUTER_B: return C_ROUTER;
    case SC_W_EXPERT_WI:
    case SC_W_EXPERT_WI0:
    case SC_W_EXPERT_WI1:
    case SC_W_EXPERT_WO: return C_EXPERT;
    default: return C_ATTN; /* q, k, v, o, relative attention bias */
    }
}

typedef struct problem {
    bool error;
    char *msg;
} problem;

typedef struct report {
    const sc_checkpoint *ck;
    const sc_config *cfg;
    uint64_t params[C_COUNT];
    uint64_t bytes[C_COUNT];
    uint64_t expert0_params; /* params of expert 0 across all sparse blocks */
    size_t expected, found, missing, bad, unexpected, aliases;
    const sc_tensor_entry **found_entries; /* sorted by pointer for lookups */
    size_t n_found_entries;
    problem *problems;
    size_t n_problems, cap_problems;
    size_t unlisted_missing, unlisted_bad, unlisted_unexpected;
    bool oom;
} report;

static void add_problem(report *r, bool error, const char *fmt, ...) {
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

static void shape_str(char *buf, size_t cap, int ndim, const int64_t *shape) {
    size_t n = (size_t)snprintf(buf, cap, "[");
    for (int i = 0; i < ndim && n < cap; i++)
        n += (size_t)snprintf(buf + n, cap - n, i ? ", %lld" : "%lld", (long long)shape[i]);
    if (n < cap) snprintf(buf + n, cap - n, "]");
}

static bool is_float(sc_dtype t) {
    return t == SC_DTYPE_F32 || t == SC_DTYPE_F16 || t == SC_DTYPE_BF16;
}

static bool visit(void *vr, const sc_weight_ref *ref) {
    report *r = vr;
    uint64_t numel = (uint64_t)ref->shape[0] * (uint64_t)(ref->ndim > 1 ? ref->shape[1] : 1);
    int comp = component_of(ref->kind);
    r->expected++;
    r->params[comp] += numel;
    if (comp == C_EXPERT && ref->expert == 0) r->expert0_params += numel;
    char name[256];
    if (!sc_hf_name(ref, name, sizeof name)) return true;
    const sc_tensor_entry *e = sc_checkpoint_find(r->ck, name);
    if (!e) {
        r->missing++;
        if (r->missing <= MAX_LISTED) add_problem(r, true, "missing tensor '%s'", name);
        else r->unlisted_missing++;
        return true;
    }
    r->found++;
    r->found_entries[r->n_found_entries++] = e;
    r->bytes[comp] += e->nbytes;
    const sc_tensor *v = &e->view;
    bool shape_ok = v->ndim == ref->ndim && v->shape[0] == ref->shape[0] &&
                    (ref->ndim == 1 || v->shape[1] == ref->shape[1]);
    if (!shape_ok || !is_float(v->dtype)) {
        r->bad++;
        if (r->bad > MAX_LISTED) {
            r->unlisted_bad++;
            return true;
        }
        char got[96], want[96];
        shape_str(got, sizeof got, v->ndim, v->shape);
        shape_str(want, sizeof want, ref->ndim, ref->shape);
        add_problem(r, true, "tensor '%s' in %s is %s %s, expected a float tensor %s", name,
                    e->file, sc_dtype_name(v->dtype), got, want);
    }
    return true;
}

static int cmp_ptr(const void *a, const void *b) {
    uintptr_t x = (uintptr_t)*(const void *const *)a, y = (uintptr_t)*(const void *const *)b;
    return x < y ? -1 : x > y;
}

static void find_unexpected(report *r) {
    qsort(r->found_entries, r->n_found_entries, sizeof *r->found_entries, cmp_ptr);
    size_t n = sc_checkpoint_count(r->ck);
    for (size_t i = 0; i < n; i++) {
        const sc_tensor_entry *e = sc_checkpoint_at(r->ck, i);
        if (bsearch(&e, r->found_entries, r->n_found_entries, sizeof *r->found_entries, cmp_ptr))
            continue;
        if (r->cfg && sc_hf_is_alias(r->cfg, e->name)) {
            r->aliases++;
            continue;
        }
        r->unexpected++;
        if (r->unexpected <= MAX_LISTED)
            add_problem(r, false, "unexpected tensor '%s' in %s (ignored)", e->name, e->file);
        else r->unlisted_unexpected++;
    }
}

static const char *act_name(const sc_config *c) {
    switch (c->act) {
    case SC_ACT_RELU: return "relu";
    case SC_ACT_GELU_NEW: return "gelu_new";
    case SC_ACT_GELU: return "gelu";
    }
    return "?";
}

static void json_str(FILE *f, const char *s) {
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') fprintf(f, "\\%c", *p);
        else if (*p < 0x20) fprintf(f, "\\u%04x", *p);
        else fputc(*p, f);
    }
    fputc('"', f);
}

static void sparse_list(FILE *f, const sc_config *c, bool dec, bool json) {
    int64_t n = dec ? c->num_decoder_layers : c->num_layers;
    bool first = true;
    fputs(json ? "[" : "", f);
    for (int64_t i = 0; i < n; i++) {
        if (!sc_config_block_is_sparse(c, dec, i)) continue;
        fprintf(f, first ? "%lld" : json ? ",%lld" : " %lld", (long long)i);
        first = false;
    }
    if (json) fputs("]", f);
    else if (first) fputs("none", f);
}

static uint64_t sum(const uint64_t *a) {
    uint64_t s = 0;
    for (int i = 0; i < C_COUNT; i++) s += a[i];
    return s;
}

static uint64_t active_params(const report *r, const sc_config *c) {
    /* every sparse block keeps one of its num_experts experts per token */
    uint64_t total = sum(r->params);
    if (c->num_experts <= 1) return total;
    return total - r->expert0_params * (uint64_t)(c->num_experts - 1);
}

/* Whether the model is ready to generate, beyond its weights loading. */
typedef struct readiness {
    const char *file; /* the tokenizer file sc_tokenizer_load picks, or NULL */
    bool loaded;
    int32_t vocab;    /* its ids (with the sentinels), when loaded */
    bool ready;
    char why[600];    /* when not ready */
} readiness;

/* The tokenizer in dir, by the rule sc_tokenizer_load applies to a
 * directory, and whether its ids fit the model's embedding rows. */
static void check_ready(const char *dir, const sc_config *cfg, bool loadable, report *r, readiness *rd) {
    static const char *const files[] = {"spiece.model", "tokenizer.json"};
    for (int i = 0; i < 2 && !rd->file; i++) {
        char *p = sc_path_join(dir, files[i]);
        if (p && sc_path_is_file(p)) rd->file = files[i];
        free(p);
    }
    if (!rd->file) {
        snprintf(rd->why, sizeof rd->why, "no tokenizer (spiece.model or tokenizer.json) in %s", dir);
        return;
    }
    sc_tokenizer *t = NULL;
    sc_error err;
    if (sc_tokenizer_load(dir, &t, &err)) {
        snprintf(rd->why, sizeof rd->why, "the tokenizer does not load: %s", err.msg);
        add_problem(r, false, "tokenizer: %s", err.msg);
        return;
    }
    rd->loaded = true;
    rd->vocab = sc_tokenizer_vocab_size(t);
    sc_tokenizer_free(t);
    if (cfg && rd->vocab > cfg->vocab_size) {
        snprintf(rd->why, sizeof rd->why, "the tokenizer has %d ids, more than the model's %lld embedding rows",
                 (int)rd->vocab, (long long)cfg->vocab_size);
        add_problem(r, false, "%s", rd->why);
        return;
    }
    if (!loadable) {
        snprintf(rd->why, sizeof rd->why, "the weights do not load");
        return;
    }
    rd->ready = true;
}

static void print_text(const char *name, const char *dir, const report *r, const sc_config *cfg, bool loadable,
                       unsigned dtype_mask, const readiness *rd) {
    const sc_checkpoint *ck = r->ck;
    if (strcmp(name, dir) != 0) printf("model:      %s (%s)\n", dir, name);
    else printf("model:      %s\n", dir);
    printf("format:     %s\n", ck ? sc_checkpoint_format_name(sc_checkpoint_format(ck)) : "(none)");
    printf("file bytes: %zu\n", ck ? sc_checkpoint_file_bytes(ck) : (size_t)0);
    printf("dtypes:    ");
    for (int t = 0; t < SC_DTYPE_COUNT; t++)
        if (dtype_mask & (1u << t)) printf(" %s", sc_dtype_name((sc_dtype)t));
    printf("\n");
    if (cfg) {
        printf("config:     d_model %lld, d_kv %lld, heads %lld, d_ff %lld, layers %lld enc / %lld dec,\n"
               "            experts %lld, capacity %lld, vocab %lld, tied %s, act %s%s, router_bias %s\n",
               (long long)cfg->d_model, (long long)cfg->d_kv, (long long)cfg->num_heads,
               (long long)cfg->d_ff, (long long)cfg->num_layers, (long long)cfg->num_decoder_layers,
               (long long)cfg->num_experts, (long long)cfg->expert_capacity,
               (long long)cfg->vocab_size, cfg->tie_word_embeddings ? "yes" : "no", act_name(cfg),
               cfg->gated ? " (gated)" : "", cfg->router_bias ? "yes" : "no");
        printf("sparse:     encoder blocks ");
        sparse_list(stdout, cfg, false, false);
        printf("; decoder blocks ");
        sparse_list(stdout, cfg, true, false);
        printf("\n");
        printf("params:     total %llu, active per token %llu (embeddings %llu, counted in both)\n",
               (unsigned long long)sum(r->params), (unsigned long long)active_params(r, cfg),
               (unsigned long long)r->params[C_EMB]);
        printf("components: %-11s %14s %14s\n", "", "params", "bytes");
        for (int i = 0; i < C_COUNT; i++)
            printf("            %-11s %14llu %14llu\n", comp_names[i],
                   (unsigned long long)r->params[i], (unsigned long long)r->bytes[i]);
        printf("tensors:    %zu expected, %zu found, %zu missing, %zu bad, %zu unexpected, %zu aliases\n",
               r->expected, r->found, r->missing, r->bad, r->unexpected, r->aliases);
    }
    for (size_t i = 0; i < r->n_problems; i++)
        printf("%s: %s\n", r->problems[i].error ? "error" : "warning", r->problems[i].msg);
    if (r->unlisted_missing) printf("error: ... and %zu more missing tensors\n", r->unlisted_missing);
    if (r->unlisted_bad) printf("error: ... and %zu more bad tensors\n", r->unlisted_bad);
    if (r->unlisted_unexpected)
        printf("warning: ... and %zu more unexpected tensors\n", r->unlisted_unexpected);
    printf("loadable:   %s\n", loadable ? "yes (the weights load)" : "no");
    if (rd->loaded) printf("tokenizer:  %s, %d ids\n", rd->file, (int)rd->vocab);
    else printf("tokenizer:  %s\n", rd->file ? "does not load" : "none");
    if (rd->ready) printf("ready to generate: yes\n");
    else printf("ready to generate: no (%s)\n", rd->why);
}

static void print_json(const char *name, const char *dir, const report *r, const sc_config *cfg, bool loadable,
                       unsigned dtype_mask, const readiness *rd) {
    FILE *f = stdout;
    const sc_checkpoint *ck = r->ck;
    fputs("{\"dir\":", f);
    json_str(f, dir);
    fputs(",\"format\":", f);
    if (ck) json_str(f, sc_checkpoint_format_name(sc_checkpoint_format(ck)));
    else fputs("null", f);
    fprintf(f, ",\"file_bytes\":%zu,\"dtypes\":[", ck ? sc_checkpoint_file_bytes(ck) : (size_t)0);
    bool first = true;
    for (int t = 0; t < SC_DTYPE_COUNT; t++)
        if (dtype_mask & (1u << t)) {
            fprintf(f, "%s\"%s\"", first ? "" : ",", sc_dtype_name((sc_dtype)t));
            first = false;
        }
    fputs("],\"config\":", f);
    if (cfg) {
        fprintf(f,
                "{\"d_model\":%lld,\"d_kv\":%lld,\"num_heads\":%lld,\"d_ff\":%lld,\"num_layers\":%lld,"
                "\"num_decoder_layers\":%lld,\"num_experts\":%lld,\"expert_capacity\":%lld,"
                "\"vocab_size\":%lld,\"tie_word_embeddings\":%s,\"act\":\"%s\",\"gated\":%s,"
                "\"router_bias\":%s}",
                (long long)cfg->d_model, (long long)cfg->d_kv, (long long)cfg->num_heads,
                (long long)cfg->d_ff, (long long)cfg->num_layers, (long long)cfg->num_decoder_layers,
                (long long)cfg->num_experts, (long long)cfg->expert_capacity,
                (long long)cfg->vocab_size, cfg->tie_word_embeddings ? "true" : "false",
                act_name(cfg), cfg->gated ? "true" : "false", cfg->router_bias ? "true" : "false");
        fputs(",\"encoder_sparse_layers\":", f);
        sparse_list(f, cfg, false, true);
        fputs(",\"decoder_sparse_layers\":", f);
        sparse_list(f, cfg, true, true);
        fprintf(f, ",\"params\":{\"total\":%llu,\"active_per_token\":%llu,\"embeddings\":%llu}",
                (unsigned long long)sum(r->params), (unsigned long long)active_params(r, cfg),
                (unsigned long long)r->params[C_EMB]);
        fputs(",\"components\":{", f);
        for (int i = 0; i < C_COUNT; i++)
            fprintf(f, "%s\"%s\":{\"params\":%llu,\"bytes\":%llu}", i ? "," : "", comp_names[i],
                    (unsigned long long)r->params[i], (unsigned long long)r->bytes[i]);
        fputs("}", f);
    } else {
        fputs("null,\"encoder_sparse_layers\":[],\"decoder_sparse_layers\":[],\"params\":null,"
              "\"components\":null",
              f);
    }
    fprintf(f,
            ",\"tensors\":{\"expected\":%zu,\"found\":%zu,\"missing\":%zu,\"bad\":%zu,"
            "\"unexpected\":%zu,\"aliases\":%zu},\"problems\":[",
            r->expected, r->found, r->missing, r->bad, r->unexpected, r->aliases);
    for (size_t i = 0; i < r->n_problems; i++) {
        fprintf(f, "%s{\"severity\":\"%s\",\"message\":", i ? "," : "",
                r->problems[i].error ? "error" : "warning");
        json_str(f, r->problems[i].msg);
        fputs("}", f);
    }
    fprintf(f, "],\"loadable\":%s,\"tokenizer\":{\"file\":", loadable ? "true" : "false");
    if (rd->file) json_str(f, rd->file);
    else fputs("null", f);
    fprintf(f, ",\"loaded\":%s,\"vocab_size\":", rd->loaded ? "true" : "false");
    if (rd->loaded) fprintf(f, "%d", (int)rd->vocab);
    else fputs("null", f);
    fprintf(f, "},\"ready_to_generate\":%s,\"not_ready\":", rd->ready ? "true" : "false");
    if (rd->ready) fputs("null", f);
    else json_str(f, rd->why);
    fputs(",\"name\":", f);
    json_str(f, name);
    fputs("}\n", f);
}

typedef struct inspect_opts {
    const char *dir;
    const char *revision;
    bool json;
    int format;
} inspect_opts;

#define AT(field) .off = offsetof(inspect_opts, field)
static const args_opt inspect_options[] = {
    {"-m", "--model", ARGS_STRING, AT(dir)},
    {NULL, "--format", ARGS_FORMAT, AT(format)},
    {NULL, "--revision", ARGS_STRING, AT(revision)},
    {NULL, "--json", ARGS_FLAG, AT(json)},
    {0},
};
#undef AT
/* the directory may also come as the one positional */
static const args_spec inspect_args = {
    .cmd = "inspect", .usage = usage, .opts = inspect_options, .unknown = ARGS_SAY_OPTION_USAGE,
    .pos = ARGS_POS_ONE, .dash = ARGS_DASHED, .pos_off = offsetof(inspect_opts, dir),
    .pos_extra = "more than one model directory",
};

int cmd_inspect(int argc, char **argv) {
    inspect_opts opt = {.format = -1};
    int rc = args_parse(&inspect_args, argc, argv, &opt);
    if (rc != ARGS_GO) return rc;
    if (!opt.dir) {
        fprintf(stderr, "switchc inspect: no model directory (-m DIR)\n");
        usage(stderr);
        return SC_EXIT_USAGE;
    }
    const char *name = opt.dir;
    if (!cli_model_resolve("inspect", &opt.dir, opt.revision)) return SC_EXIT_FAIL;

    report r;
    memset(&r, 0, sizeof r);
    sc_error err;
    sc_config cfg;
    bool have_cfg = false;
    sc_checkpoint *ck = NULL;
    char *cfg_path = sc_path_join(opt.dir, "config.json");
    if (!cfg_path) {
        fprintf(stderr, "switchc inspect: out of memory\n");
        return SC_EXIT_FAIL;
    }
    if (sc_config_load(cfg_path, &cfg, &err)) add_problem(&r, true, "%s", err.msg);
    else have_cfg = true;
    free(cfg_path);
    /* A sharded .bin is picked by the same rule as --format bin elsewhere:
     * try the single file, then its sharded form. */
    if (sc_checkpoint_open(opt.dir, opt.format, &ck, &err) && opt.format == SC_FORMAT_TORCH_BIN) {
        sc_error err2;
        if (!sc_checkpoint_open(opt.dir, SC_FORMAT_TORCH_BIN_SHARDED, &ck, &err2)) sc_error_clear(&err);
    }
    if (!ck) add_problem(&r, true, "%s", err.msg);
    r.ck = ck;
    r.cfg = have_cfg ? &cfg : NULL;

    unsigned dtype_mask = 0;
    size_t n = sc_checkpoint_count(ck);
    for (size_t i = 0; i < n; i++) {
        sc_dtype t = sc_checkpoint_at(ck, i)->view.dtype;
        if ((unsigned)t < SC_DTYPE_COUNT) dtype_mask |= 1u << t;
    }
    if (have_cfg && ck) {
        r.found_entries = calloc(n ? n : 1, sizeof *r.found_entries);
        if (!r.found_entries) r.oom = true;
        else {
            sc_hf_for_each(&cfg, visit, &r);
            find_unexpected(&r);
        }
    }

    bool loadable = false;
    if (have_cfg && ck && !r.oom) {
        sc_model_params p = sc_model_default_params();
        p.format = sc_checkpoint_format(ck);
        p.n_threads = 1;
        sc_model *m = NULL;
        if (sc_model_load(opt.dir, &p, &m, &err)) add_problem(&r, true, "model load failed: %s", err.msg);
        else loadable = true;
        sc_model_free(m);
    }
    readiness rd;
    memset(&rd, 0, sizeof rd);
    check_ready(opt.dir, have_cfg ? &cfg : NULL, loadable, &r, &rd);
    if (r.oom) fprintf(stderr, "switchc inspect: out of memory\n");

    if (opt.json) print_json(name, opt.dir, &r, have_cfg ? &cfg : NULL, loadable, dtype_mask, &rd);
    else print_text(name, opt.dir, &r, have_cfg ? &cfg : NULL, loadable, dtype_mask, &rd);

    for (size_t i = 0; i < r.n_problems; i++) free(r.problems[i].msg);
    free(r.problems);
    free(r.found_entries);
    sc_checkpoint_close(ck);
    return loadable ? SC_EXIT_OK : SC_EXIT_FAIL;
}
