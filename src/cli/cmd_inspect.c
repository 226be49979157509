/* switchc inspect -m DIR [--json]: what a model directory holds and whether
 * it can be loaded, through the public header. sc_model_info_read reads
 * config.json and the checkpoint's index and checks every tensor the config
 * calls for (missing, wrong shape, non-float dtype), lists unexpected
 * tensors, counts parameters (total and active per token) and bytes per
 * part; this confirms with a real sc_model_load, then tells "the weights
 * load" from "ready to generate": the latter also needs a tokenizer that
 * loads and whose ids all have an embedding row. -m may name a Hugging Face
 * repo in the local cache. Leaves out reading tensor values (no NaN scan). */
#include "args.h"
#include "cli_model.h"
#include "commands.h"
#include "util/json.h"
#include "switchc.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* What inspect adds to the info's problems: the load, the tokenizer. */
typedef struct extra_problems {
    struct {
        bool error;
        char msg[1024];
    } p[4];
    size_t n;
} extra_problems;

static void add_problem(extra_problems *x, bool error, const char *fmt, ...) {
    if (x->n == sizeof x->p / sizeof x->p[0]) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(x->p[x->n].msg, sizeof x->p[x->n].msg, fmt, ap);
    va_end(ap);
    x->p[x->n++].error = error;
}

static void json_str(FILE *f, const char *s) { sc_json_write_string(f, s, strlen(s)); }

static void sparse_list(FILE *f, const sc_model_info *info, int64_t n, bool dec, bool json) {
    bool first = true;
    fputs(json ? "[" : "", f);
    for (int64_t i = 0; i < n; i++) {
        if (!sc_model_info_block_is_sparse(info, dec, i)) continue;
        fprintf(f, first ? "%lld" : json ? ",%lld" : " %lld", (long long)i);
        first = false;
    }
    if (json) fputs("]", f);
    else if (first) fputs("none", f);
}

/* Whether the model is ready to generate, beyond its weights loading. */
typedef struct readiness {
    const char *file; /* the tokenizer file sc_tokenizer_load picks, or NULL */
    bool loaded;
    int32_t vocab;    /* its ids (with the sentinels), when loaded */
    bool ready;
    char why[600];    /* when not ready */
} readiness;

/* The tokenizer in dir, and whether its ids fit the model's embedding rows. */
static void check_ready(const char *dir, const sc_model_info *info, bool loadable, extra_problems *x,
                        readiness *rd) {
    rd->file = sc_model_info_tokenizer_file(info);
    if (!rd->file) {
        snprintf(rd->why, sizeof rd->why, "no tokenizer (spiece.model or tokenizer.json) in %s", dir);
        return;
    }
    sc_tokenizer *t = NULL;
    sc_error err;
    if (sc_tokenizer_load(dir, &t, &err)) {
        snprintf(rd->why, sizeof rd->why, "the tokenizer does not load: %s", err.msg);
        add_problem(x, false, "tokenizer: %s", err.msg);
        return;
    }
    rd->loaded = true;
    rd->vocab = sc_tokenizer_vocab_size(t);
    sc_tokenizer_free(t);
    sc_model_config_info cfg;
    if (sc_model_info_config(info, &cfg) && rd->vocab > cfg.vocab_size) {
        snprintf(rd->why, sizeof rd->why, "the tokenizer has %d ids, more than the model's %lld embedding rows",
                 (int)rd->vocab, (long long)cfg.vocab_size);
        add_problem(x, false, "%s", rd->why);
        return;
    }
    if (!loadable) {
        snprintf(rd->why, sizeof rd->why, "the weights do not load");
        return;
    }
    rd->ready = true;
}

/* The info's problems, then inspect's own. */
static size_t problem_count(const sc_model_info *info, const extra_problems *x) {
    return sc_model_info_problem_count(info) + x->n;
}

static const char *problem_at(const sc_model_info *info, const extra_problems *x, size_t i, bool *error) {
    size_t n = sc_model_info_problem_count(info);
    if (i < n) return sc_model_info_problem(info, i, error);
    *error = x->p[i - n].error;
    return x->p[i - n].msg;
}

static void print_text(const char *name, const char *dir, const sc_model_info *info, const extra_problems *x,
                       bool loadable, const readiness *rd) {
    if (strcmp(name, dir) != 0) printf("model:      %s (%s)\n", dir, name);
    else printf("model:      %s\n", dir);
    const char *format = sc_model_info_format_name(info);
    printf("format:     %s\n", format ? format : "(none)");
    printf("file bytes: %zu\n", sc_model_info_file_bytes(info));
    printf("dtypes:    ");
    unsigned dtype_mask = sc_model_info_dtypes(info);
    for (int t = 0; t < SC_DTYPE_COUNT; t++)
        if (dtype_mask & (1u << t)) printf(" %s", sc_dtype_name((sc_dtype)t));
    printf("\n");
    sc_model_config_info cfg;
    if (sc_model_info_config(info, &cfg)) {
        printf("config:     d_model %lld, d_kv %lld, heads %lld, d_ff %lld, layers %lld enc / %lld dec,\n"
               "            experts %lld, capacity %lld, vocab %lld, tied %s, act %s%s, router_bias %s\n",
               (long long)cfg.d_model, (long long)cfg.d_kv, (long long)cfg.num_heads, (long long)cfg.d_ff,
               (long long)cfg.num_layers, (long long)cfg.num_decoder_layers, (long long)cfg.num_experts,
               (long long)cfg.expert_capacity, (long long)cfg.vocab_size, cfg.tie_word_embeddings ? "yes" : "no",
               cfg.act, cfg.gated ? " (gated)" : "", cfg.router_bias ? "yes" : "no");
        printf("sparse:     encoder blocks ");
        sparse_list(stdout, info, cfg.num_layers, false, false);
        printf("; decoder blocks ");
        sparse_list(stdout, info, cfg.num_decoder_layers, true, false);
        printf("\n");
        printf("params:     total %llu, active per token %llu (embeddings %llu, counted in both)\n",
               (unsigned long long)sc_model_info_params_total(info),
               (unsigned long long)sc_model_info_params_active(info),
               (unsigned long long)sc_model_info_params(info, SC_PART_EMBEDDINGS));
        printf("components: %-11s %14s %14s\n", "", "params", "bytes");
        for (int i = 0; i < SC_PART_COUNT; i++)
            printf("            %-11s %14llu %14llu\n", sc_model_part_name((sc_model_part)i),
                   (unsigned long long)sc_model_info_params(info, (sc_model_part)i),
                   (unsigned long long)sc_model_info_bytes(info, (sc_model_part)i));
        sc_model_tensor_counts n = sc_model_info_tensors(info);
        printf("tensors:    %zu expected, %zu found, %zu missing, %zu bad, %zu unexpected, %zu aliases\n",
               n.expected, n.found, n.missing, n.bad, n.unexpected, n.aliases);
    }
    for (size_t i = 0; i < problem_count(info, x); i++) {
        bool error = false;
        const char *msg = problem_at(info, x, i, &error);
        printf("%s: %s\n", error ? "error" : "warning", msg);
    }
    sc_model_tensor_counts un = sc_model_info_unlisted(info);
    if (un.missing) printf("error: ... and %zu more missing tensors\n", un.missing);
    if (un.bad) printf("error: ... and %zu more bad tensors\n", un.bad);
    if (un.unexpected) printf("warning: ... and %zu more unexpected tensors\n", un.unexpected);
    printf("loadable:   %s\n", loadable ? "yes (the weights load)" : "no");
    if (rd->loaded) printf("tokenizer:  %s, %d ids\n", rd->file, (int)rd->vocab);
    else printf("tokenizer:  %s\n", rd->file ? "does not load" : "none");
    if (rd->ready) printf("ready to generate: yes\n");
    else printf("ready to generate: no (%s)\n", rd->why);
}

static void print_json(const char *name, const char *dir, const sc_model_info *info, const extra_problems *x,
                       bool loadable, const readiness *rd) {
    FILE *f = stdout;
    fputs("{\"dir\":", f);
    json_str(f, dir);
    fputs(",\"format\":", f);
    const char *format = sc_model_info_format_name(info);
    if (format) json_str(f, format);
    else fputs("null", f);
    fprintf(f, ",\"file_bytes\":%zu,\"dtypes\":[", sc_model_info_file_bytes(info));
    bool first = true;
    unsigned dtype_mask = sc_model_info_dtypes(info);
    for (int t = 0; t < SC_DTYPE_COUNT; t++)
        if (dtype_mask & (1u << t)) {
            fprintf(f, "%s\"%s\"", first ? "" : ",", sc_dtype_name((sc_dtype)t));
            first = false;
        }
    fputs("],\"config\":", f);
    sc_model_config_info cfg;
    if (sc_model_info_config(info, &cfg)) {
        fprintf(f,
                "{\"d_model\":%lld,\"d_kv\":%lld,\"num_heads\":%lld,\"d_ff\":%lld,\"num_layers\":%lld,"
                "\"num_decoder_layers\":%lld,\"num_experts\":%lld,\"expert_capacity\":%lld,"
                "\"vocab_size\":%lld,\"tie_word_embeddings\":%s,\"act\":\"%s\",\"gated\":%s,"
                "\"router_bias\":%s}",
                (long long)cfg.d_model, (long long)cfg.d_kv, (long long)cfg.num_heads, (long long)cfg.d_ff,
                (long long)cfg.num_layers, (long long)cfg.num_decoder_layers, (long long)cfg.num_experts,
                (long long)cfg.expert_capacity, (long long)cfg.vocab_size,
                cfg.tie_word_embeddings ? "true" : "false", cfg.act, cfg.gated ? "true" : "false",
                cfg.router_bias ? "true" : "false");
        fputs(",\"encoder_sparse_layers\":", f);
        sparse_list(f, info, cfg.num_layers, false, true);
        fputs(",\"decoder_sparse_layers\":", f);
        sparse_list(f, info, cfg.num_decoder_layers, true, true);
        fprintf(f, ",\"params\":{\"total\":%llu,\"active_per_token\":%llu,\"embeddings\":%llu}",
                (unsigned long long)sc_model_info_params_total(info),
                (unsigned long long)sc_model_info_params_active(info),
                (unsigned long long)sc_model_info_params(info, SC_PART_EMBEDDINGS));
        fputs(",\"components\":{", f);
        for (int i = 0; i < SC_PART_COUNT; i++)
            fprintf(f, "%s\"%s\":{\"params\":%llu,\"bytes\":%llu}", i ? "," : "",
                    sc_model_part_name((sc_model_part)i),
                    (unsigned long long)sc_model_info_params(info, (sc_model_part)i),
                    (unsigned long long)sc_model_info_bytes(info, (sc_model_part)i));
        fputs("}", f);
    } else {
        fputs("null,\"encoder_sparse_layers\":[],\"decoder_sparse_layers\":[],\"params\":null,"
              "\"components\":null",
              f);
    }
    sc_model_tensor_counts n = sc_model_info_tensors(info);
    fprintf(f,
            ",\"tensors\":{\"expected\":%zu,\"found\":%zu,\"missing\":%zu,\"bad\":%zu,"
            "\"unexpected\":%zu,\"aliases\":%zu},\"problems\":[",
            n.expected, n.found, n.missing, n.bad, n.unexpected, n.aliases);
    for (size_t i = 0; i < problem_count(info, x); i++) {
        bool error = false;
        const char *msg = problem_at(info, x, i, &error);
        fprintf(f, "%s{\"severity\":\"%s\",\"message\":", i ? "," : "", error ? "error" : "warning");
        json_str(f, msg);
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

    sc_error err;
    sc_model_info *info = NULL;
    if (sc_model_info_read(opt.dir, (sc_format)opt.format, &info, &err)) {
        fprintf(stderr, "switchc inspect: %s\n", err.msg);
        return SC_EXIT_FAIL;
    }
    extra_problems x;
    memset(&x, 0, sizeof x);
    /* with a config and a checkpoint: confirm with a real load */
    bool loadable = false;
    sc_model_config_info cfg;
    bool have_cfg = sc_model_info_config(info, &cfg), have_ck = sc_model_info_format_name(info) != NULL;
    if (have_cfg && have_ck) {
        sc_model_params p = sc_model_default_params();
        p.format = sc_model_info_format(info);
        p.n_threads = 1;
        sc_model *m = NULL;
        if (sc_model_load(opt.dir, &p, &m, &err)) add_problem(&x, true, "model load failed: %s", err.msg);
        else loadable = true;
        sc_model_free(m);
    }
    readiness rd;
    memset(&rd, 0, sizeof rd);
    check_ready(opt.dir, info, loadable, &x, &rd);

    if (opt.json) print_json(name, opt.dir, info, &x, loadable, &rd);
    else print_text(name, opt.dir, info, &x, loadable, &rd);
    sc_model_info_free(info);
    return loadable ? SC_EXIT_OK : SC_EXIT_FAIL;
}
