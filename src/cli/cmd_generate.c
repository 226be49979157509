/* switchc generate: text in, text out, with Hugging Face generate()
 * semantics (greedy, beam search, sampling). Prompts come from arguments,
 * from stdin (one per line) or as {"text": ...} JSON lines (--jsonl); they
 * are generated together as one padded batch. */
#define _GNU_SOURCE
#include "cli/args.h"
#include "cli/cli_files.h"
#include "cli/commands.h"
#include "io/json.h"
#include "model/weights_convert.h"
#include "switchc.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void usage(FILE *f) {
    fprintf(f,
            "usage: switchc generate -m DIR [options] [PROMPT...]\n\n"
            "Generates text for each PROMPT (or each stdin line when none is given) with the\n"
            "Switch Transformers checkpoint in DIR, as Hugging Face generate() does.\n\n"
            "input/output:\n"
            "  -m, --model DIR            checkpoint directory (config.json, weights, spiece.model)\n"
            "  --jsonl                    read {\"text\": ...} lines on stdin\n"
            "  --json                     one JSON object per output: {\"prompt\",\"text\",\"ids\"[,\"score\"]}\n"
            "  --raw                      decode keeping special tokens (<pad>, </s>) as HF decode does\n"
            "  --ids                      print the output ids instead of text\n"
            "  --fill                     print each prompt with every <extra_id_N> replaced by its span\n"
            "  --stats                    print timings, tokens/s and per-layer expert stats on stderr\n"
            "  --stats-json FILE          write the timings and expert stats as JSON to FILE\n"
            "  --no-stream                do not stream tokens on a terminal\n"
            "decoding (defaults from generation_config.json, else HF's):\n"
            "  --max-new-tokens N  --max-length N  --min-new-tokens N  --min-length N\n"
            "  --num-beams N  --num-return-sequences N  --length-penalty X\n"
            "  --early-stopping true|false|never  --no-repeat-ngram-size N  --repetition-penalty X\n"
            "  --do-sample  --temperature X  --top-k N  --top-p X  --seed N\n"
            "engine:\n"
            "  -t, --threads N            threads (default: physical cores, or SWITCHC_THREADS)\n"
            "  --drop-policy hf4|zero|none  tokens over expert capacity (default hf4)\n"
            "  --kernels NAME             kernel table (best, exact, ref, ref-bf16, avx512, avx512-vnni, avx512-bf16, amx)\n"
            "  --dtype f32|bf16|f16|q8    weights converted at load / per expert on first use\n"
            "                             (default: as stored in the checkpoint)\n"
            "  --max-memory SIZE          bound resident expert weights (12G, 512M; default unbounded)\n"
            "  --no-mmap                  read the weights into memory instead of mapping them\n"
            "                             (slower load; weights stream a little faster: docs/memory.md)\n"
            "Exit status: 0 ok, 1 failure, 2 bad usage.\n");
}

typedef struct stream_state {
    const sc_tokenizer *tok;
    int32_t *ids;
    size_t n, cap;
    size_t printed;
    char *buf;
    size_t buf_cap;
    double t_first; /* when step 0's tokens came (encoder + one decoder step) */
    int64_t steps;  /* decoder steps seen */
} stream_state;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Decodes ids[0..n) into a growing buffer; returns its length or -1. */
static long decode_into(const sc_tokenizer *tok, const int32_t *ids, size_t n, unsigned flags, char **buf,
                        size_t *cap) {
    size_t len;
    sc_error err;
    for (;;) {
        sc_status st = sc_tokenizer_decode(tok, ids, n, flags, *buf, *cap, &len, &err);
        if (st == SC_OK) return (long)len;
        if (st != SC_ERR_BUFFER_TOO_SMALL) return -1;
        size_t want = len + 1 > 2 * *cap ? len + 1 : 2 * *cap;
        char *nb = realloc(*buf, want);
        if (!nb) return -1;
        *buf = nb;
        *cap = want;
    }
}

/* Streaming on a terminal: re-decode the row so far and print what is new
 * (SentencePiece pieces join with spaces only in context). */
static int on_token(void *user, int64_t row, int64_t step, int32_t token) {
    stream_state *s = user;
    (void)row;
    if (step == 0) s->t_first = now_s();
    if (step + 1 > s->steps) s->steps = step + 1;
    if (s->n == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 64;
        int32_t *ids = realloc(s->ids, cap * sizeof *ids);
        if (!ids) return 0;
        s->ids = ids;
        s->cap = cap;
    }
    s->ids[s->n++] = token;
    long len = decode_into(s->tok, s->ids, s->n, SC_DECODE_SKIP_SPECIAL, &s->buf, &s->buf_cap);
    if (len > (long)s->printed) {
        fwrite(s->buf + s->printed, 1, (size_t)len - s->printed, stdout);
        fflush(stdout);
        s->printed = (size_t)len;
    }
    return 0;
}

/* Not streaming, with --stats/--stats-json: only the decode timing. */
static int on_token_timing(void *user, int64_t row, int64_t step, int32_t token) {
    stream_state *s = user;
    (void)row;
    (void)token;
    if (step == 0 && s->t_first == 0) s->t_first = now_s();
    if (step + 1 > s->steps) s->steps = step + 1;
    return 0;
}

/* The output's ids without <pad> and </s>: what users want to read for span
 * filling ("<extra_id_0> man<extra_id_1> beer..."). */
static size_t strip_pad_eos(const sc_tokenizer *tok, const int32_t *ids, size_t n, int32_t *out) {
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (ids[i] != sc_tokenizer_pad_id(tok) && ids[i] != sc_tokenizer_eos_id(tok)) out[k++] = ids[i];
    return k;
}

/* --fill: the prompt with every "<extra_id_N>" replaced by its span. */
static void print_fill(FILE *f, const sc_tokenizer *tok, const char *prompt, const int32_t *ids, size_t n) {
    char *buf = NULL;
    size_t cap = 0, len = 0;
    sc_error err;
    sc_status st;
    while ((st = sc_fill_spans(tok, prompt, ids, n, buf, cap, &len, &err)) == SC_ERR_BUFFER_TOO_SMALL) {
        char *nb = realloc(buf, len + 1);
        if (!nb) break;
        buf = nb;
        cap = len + 1;
    }
    if (st == SC_OK) fprintf(f, "%s\n", buf);
    else fprintf(stderr, "switchc generate: --fill: %s\n", err.msg);
    free(buf);
}


/* --stats: one line per sparse layer. */
static void print_expert_stats(FILE *f, const sc_session *s, const sc_model *m) {
    int64_t n = sc_session_expert_stats_count(s);
    if (!n) return;
    fprintf(f, "%-18s %8s %7s %6s %6s %6s %10s  %s\n", "sparse layer", "tokens", "dropped", "hits", "misses",
            "evict", "read MB", "busiest experts (tokens)");
    for (int64_t i = 0; i < n; i++) {
        sc_expert_layer_stats ls;
        if (sc_session_expert_stats(s, i, &ls, NULL)) continue;
        char name[40];
        snprintf(name, sizeof name, "%s.%lld", ls.decoder ? "decoder" : "encoder", (long long)ls.block);
        fprintf(f, "%-18s %8llu %7llu %6llu %6llu %6llu %10.1f ", name, (unsigned long long)ls.tokens,
                (unsigned long long)ls.dropped, (unsigned long long)ls.hits, (unsigned long long)ls.misses,
                (unsigned long long)ls.evictions, (double)ls.bytes_read / 1e6);
        int64_t top[3] = {-1, -1, -1}, used = 0; /* the three busiest experts */
        for (int64_t e = 0; e < ls.n_experts; e++) {
            used += ls.tokens_per_expert[e] > 0;
            for (int k = 0; k < 3; k++)
                if (top[k] < 0 || ls.tokens_per_expert[e] > ls.tokens_per_expert[top[k]]) {
                    for (int j = 2; j > k; j--) top[j] = top[j - 1];
                    top[k] = e;
                    break;
                }
        }
        for (int k = 0; k < 3 && top[k] >= 0 && ls.tokens_per_expert[top[k]]; k++)
            fprintf(f, " %lld(%llu)", (long long)top[k], (unsigned long long)ls.tokens_per_expert[top[k]]);
        fprintf(f, "  [%lld/%lld used]\n", (long long)used, (long long)ls.n_experts);
    }
    fprintf(f, "expert memory: %.1f MB resident, %.1f MB peak\n", (double)sc_model_expert_resident_bytes(m) / 1e6,
            (double)sc_model_expert_peak_bytes(m) / 1e6);
}

/* --stats-json: the expert part of the object (no braces). */
static void write_expert_stats_json(FILE *f, const sc_session *s, const sc_model *m, size_t max_memory) {
    fprintf(f, "\"max_memory\": %zu, \"expert_resident_bytes\": %zu, \"expert_peak_bytes\": %zu, \"sparse_layers\": [",
            max_memory, sc_model_expert_resident_bytes(m), sc_model_expert_peak_bytes(m));
    int64_t n = sc_session_expert_stats_count(s);
    for (int64_t i = 0; i < n; i++) {
        sc_expert_layer_stats ls;
        if (sc_session_expert_stats(s, i, &ls, NULL)) continue;
        fprintf(f, "%s{\"layer\": \"%s.block.%lld\", \"tokens\": %llu, \"dropped\": %llu, \"hits\": %llu, "
                   "\"misses\": %llu, \"evictions\": %llu, \"bytes_read\": %llu, \"tokens_per_expert\": [",
                i ? ", " : "", ls.decoder ? "decoder" : "encoder", (long long)ls.block, (unsigned long long)ls.tokens,
                (unsigned long long)ls.dropped, (unsigned long long)ls.hits, (unsigned long long)ls.misses,
                (unsigned long long)ls.evictions, (unsigned long long)ls.bytes_read);
        for (int64_t e = 0; e < ls.n_experts; e++)
            fprintf(f, e ? ", %llu" : "%llu", (unsigned long long)ls.tokens_per_expert[e]);
        fprintf(f, "]}");
    }
    fprintf(f, "]");
}


typedef struct prompts {
    char **text;
    size_t n, cap;
} prompts;

static bool add_prompt(prompts *p, const char *s, size_t len) {
    if (p->n == p->cap) {
        size_t cap = p->cap ? 2 * p->cap : 8;
        char **t = realloc(p->text, cap * sizeof *t);
        if (!t) return false;
        p->text = t;
        p->cap = cap;
    }
    char *c = malloc(len + 1);
    if (!c) return false;
    memcpy(c, s, len);
    c[len] = '\0';
    p->text[p->n++] = c;
    return true;
}

static bool read_stdin_prompts(prompts *p, bool jsonl) {
    char *line = NULL;
    size_t cap = 0, lineno = 0;
    ssize_t n;
    bool ok = true;
    while (ok && (n = getline(&line, &cap, stdin)) > 0) {
        lineno++;
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r')) n--;
        if (n == 0) continue;
        if (!jsonl) {
            ok = add_prompt(p, line, (size_t)n);
            continue;
        }
        sc_json_doc *doc;
        sc_error err;
        if (sc_json_parse(line, (size_t)n, "<stdin>", &doc, &err)) {
            fprintf(stderr, "switchc generate: line %zu: %s\n", lineno, err.msg);
            ok = false;
            break;
        }
        size_t tl;
        const char *t = sc_json_string(sc_json_get(sc_json_root(doc), "text"), &tl);
        if (!t) fprintf(stderr, "switchc generate: line %zu: no \"text\" string\n", lineno);
        ok = t && add_prompt(p, t, tl);
        sc_json_free(doc);
    }
    free(line);
    return ok;
}

static const char *const early_names[] = {"true", "false", "never", NULL};
static const sc_early_stopping early_modes[] = {SC_EARLY_STOP_TRUE, SC_EARLY_STOP_HEURISTIC, SC_EARLY_STOP_NEVER};
static const char *const policy_names[] = {"hf4", "zero", "none", NULL};
static const sc_drop_policy policies[] = {SC_DROP_HF4, SC_DROP_ZERO, SC_DROP_NONE};

typedef struct generate_opts {
    const char *model_dir, *kernels, *stats_json;
    sc_dtype wdtype;
    size_t max_memory;
    bool jsonl, json, raw, print_ids, fill, stats, no_stream, do_sample, no_mmap;
    int64_t threads;
    int policy; /* index into policies */
    prompts pr;
    /* Decoding options are applied after the checkpoint's defaults: -2, NAN
     * and -1 (early: an index into early_modes) mean "not given". */
    int64_t max_new, max_len, min_new, min_len, beams, nret, ngram, top_k, seed;
    double lp, rep, temp, top_p;
    int early;
} generate_opts;

static bool take_max_memory(const char *cmd, const char *v, void *field) {
    if (!v) return false;
    if (!strcmp(v, "0")) {
        *(size_t *)field = 0;
        return true;
    }
    if (cli_parse_size(v, field)) return true;
    fprintf(stderr, "switchc %s: --max-memory takes a size like 12G, 512M\n", cmd);
    return false;
}

static bool take_dtype(const char *cmd, const char *v, void *field) {
    if (!v) return false;
    if (sc_weights_dtype_parse(v, field)) return true;
    fprintf(stderr, "switchc %s: --dtype takes f32, bf16, f16 or q8, not '%s'\n", cmd, v);
    return false;
}

static int take_prompt(void *vo, const char *arg) {
    generate_opts *o = vo;
    if (add_prompt(&o->pr, arg, strlen(arg))) return ARGS_GO;
    fprintf(stderr, "switchc generate: out of memory\n");
    return SC_EXIT_FAIL;
}

#define AT(field) .off = offsetof(generate_opts, field)
static const args_opt generate_options[] = {
    {"-m", "--model", ARGS_STRING, AT(model_dir)},
    {NULL, "--jsonl", ARGS_FLAG, AT(jsonl)},
    {NULL, "--json", ARGS_FLAG, AT(json)},
    {NULL, "--raw", ARGS_FLAG, AT(raw)},
    {NULL, "--ids", ARGS_FLAG, AT(print_ids)},
    {NULL, "--fill", ARGS_FLAG, AT(fill)},
    {NULL, "--stats", ARGS_FLAG, AT(stats)},
    {NULL, "--stats-json", ARGS_STRING, AT(stats_json)},
    {NULL, "--max-memory", ARGS_CALL, AT(max_memory), .call = take_max_memory},
    {NULL, "--no-stream", ARGS_FLAG, AT(no_stream)},
    {NULL, "--no-mmap", ARGS_FLAG, AT(no_mmap)},
    {NULL, "--do-sample", ARGS_FLAG, AT(do_sample)},
    {NULL, "--max-new-tokens", ARGS_INT, AT(max_new), .ilo = 0, .ihi = 1 << 20},
    {NULL, "--max-length", ARGS_INT, AT(max_len), .ilo = 1, .ihi = 1 << 20},
    {NULL, "--min-new-tokens", ARGS_INT, AT(min_new), .ilo = 0, .ihi = 1 << 20},
    {NULL, "--min-length", ARGS_INT, AT(min_len), .ilo = 0, .ihi = 1 << 20},
    {NULL, "--num-beams", ARGS_INT, AT(beams), .ilo = 1, .ihi = 256},
    {NULL, "--num-return-sequences", ARGS_INT, AT(nret), .ilo = 1, .ihi = 256},
    {NULL, "--no-repeat-ngram-size", ARGS_INT, AT(ngram), .ilo = 0, .ihi = 1 << 20},
    {NULL, "--top-k", ARGS_INT, AT(top_k), .ilo = 0, .ihi = 1 << 30},
    {NULL, "--seed", ARGS_INT, AT(seed), .ilo = 0, .ihi = INT64_MAX},
    {NULL, "--length-penalty", ARGS_DOUBLE, AT(lp), .dlo = -1e6, .dhi = 1e6},
    {NULL, "--repetition-penalty", ARGS_DOUBLE, AT(rep), .dlo = 1e-6, .dhi = 1e6},
    {NULL, "--temperature", ARGS_DOUBLE, AT(temp), .dlo = 1e-6, .dhi = 1e6},
    {NULL, "--top-p", ARGS_DOUBLE, AT(top_p), .dlo = 0.0, .dhi = 1.0},
    {"-t", "--threads", ARGS_INT, AT(threads), .ilo = 1, .ihi = 1024},
    {NULL, "--kernels", ARGS_STRING, AT(kernels)},
    {NULL, "--dtype", ARGS_CALL, AT(wdtype), .call = take_dtype},
    {NULL, "--early-stopping", ARGS_CHOICE, AT(early), .choices = early_names},
    {NULL, "--drop-policy", ARGS_CHOICE, AT(policy), .choices = policy_names},
    {0},
};
#undef AT
static const args_spec generate_args = {
    .cmd = "generate", .usage = usage, .opts = generate_options, .unknown = ARGS_SAY_OPTION_SEE_HELP,
    .pos = ARGS_POS_CALL, .dash = ARGS_DASHED_NOT_LONE, .pos_call = take_prompt,
};

int cmd_generate(int argc, char **argv) {
    generate_opts opt = {
        .wdtype = SC_DTYPE_AS_STORED, .max_new = -2, .max_len = -2, .min_new = -2, .min_len = -2, .beams = -2,
        .nret = -2, .ngram = -2, .top_k = -2, .seed = -2, .lp = NAN, .rep = NAN, .temp = NAN, .top_p = NAN,
        .early = -1,
    };
    int rc = args_parse(&generate_args, argc, argv, &opt);
    if (rc != ARGS_GO) goto done;
    rc = SC_EXIT_USAGE;
    if (!opt.model_dir) {
        fprintf(stderr, "switchc generate: -m DIR is required (see --help)\n");
        goto done;
    }
    if (opt.jsonl && opt.pr.n) {
        fprintf(stderr, "switchc generate: give PROMPT arguments or --jsonl, not both\n");
        goto done;
    }
    rc = SC_EXIT_FAIL;
    if (!opt.pr.n && !read_stdin_prompts(&opt.pr, opt.jsonl)) goto done;
    if (!opt.pr.n) {
        fprintf(stderr, "switchc generate: no prompt given\n");
        rc = SC_EXIT_USAGE;
        goto done;
    }

    sc_error err;
    sc_model_params mp = sc_model_default_params();
    mp.n_threads = (int)opt.threads;
    mp.drop_policy = policies[opt.policy];
    mp.kernels = opt.kernels;
    mp.dtype = opt.wdtype;
    mp.max_memory = opt.max_memory;
    mp.no_mmap = opt.no_mmap;
    mp.progress = cli_progress;
    mp.progress_ctx = "reading";
    sc_model *model = NULL;
    sc_session *sess = NULL;
    sc_tokenizer *tok = NULL;
    sc_token_batch batch = {0};
    sc_generate_result *res = NULL;
    stream_state ss = {0};
    int32_t *tmp = NULL;
    char *text = NULL;
    size_t text_cap = 0;
    double t0 = now_s();
    sc_generate_params gp;
    if (sc_tokenizer_load(opt.model_dir, &tok, &err) || sc_model_load(opt.model_dir, &mp, &model, &err) ||
        sc_session_new(model, &sess, &err) || sc_generate_params_from_dir(opt.model_dir, &gp, &err)) {
        fprintf(stderr, "switchc generate: %s\n", err.msg);
        goto cleanup;
    }
    double t_load = now_s();
    if (opt.max_new != -2) gp.max_new_tokens = opt.max_new;
    if (opt.max_len != -2) {
        gp.max_length = opt.max_len;
        if (opt.max_new == -2) gp.max_new_tokens = -1;
    }
    if (opt.min_new != -2) gp.min_new_tokens = opt.min_new;
    if (opt.min_len != -2) gp.min_length = opt.min_len;
    if (opt.beams != -2) gp.num_beams = opt.beams;
    if (opt.nret != -2) gp.num_return_sequences = opt.nret;
    if (opt.ngram != -2) gp.no_repeat_ngram_size = opt.ngram;
    if (opt.top_k != -2) gp.top_k = opt.top_k;
    if (opt.seed != -2) gp.seed = (uint64_t)opt.seed;
    if (!isnan(opt.lp)) gp.length_penalty = opt.lp;
    if (!isnan(opt.rep)) gp.repetition_penalty = opt.rep;
    if (!isnan(opt.temp)) gp.temperature = opt.temp;
    if (!isnan(opt.top_p)) gp.top_p = opt.top_p;
    if (opt.do_sample) gp.do_sample = true;
    if (opt.early >= 0) gp.early_stopping = early_modes[opt.early];

    sc_batch_params bp = sc_batch_default_params();
    if (sc_tokenizer_encode_batch(tok, (const char *const *)opt.pr.text, NULL, opt.pr.n, &bp, &batch, &err)) {
        fprintf(stderr, "switchc generate: %s\n", err.msg);
        goto cleanup;
    }
    bool stream = !opt.no_stream && !opt.json && !opt.print_ids && !opt.fill && !opt.raw && opt.pr.n == 1 &&
                  gp.num_beams == 1 && gp.num_return_sequences == 1 && isatty(STDOUT_FILENO);
    if (stream) {
        ss.tok = tok;
        gp.on_token = on_token;
        gp.user = &ss;
    } else if ((opt.stats || opt.stats_json) && gp.num_beams == 1) {
        gp.on_token = on_token_timing;
        gp.user = &ss;
    }
    double t_gen0 = now_s();
    if (sc_generate(sess, batch.ids, batch.mask, batch.B, batch.S, &gp, &res, &err)) {
        fprintf(stderr, "switchc generate: %s\n", err.msg);
        goto cleanup;
    }
    double t_gen1 = now_s();
    if (stream) fputc('\n', stdout);
    int64_t rows, len;
    const int32_t *seq = sc_generate_result_sequences(res, &rows, &len);
    int64_t score_rows = 0;
    const float *scores = sc_generate_result_scores(res, &score_rows);
    if (score_rows != rows) scores = NULL;
    const int64_t per_prompt = rows / batch.B;
    tmp = malloc((size_t)(len ? len : 1) * sizeof *tmp);
    if (!tmp) goto cleanup;
    for (int64_t r = 0; r < rows && !stream; r++) {
        const int32_t *ids = seq + r * len;
        const char *prompt = opt.pr.text[r / per_prompt];
        /* HF pads finished rows: report ids up to and including eos */
        size_t n = (size_t)len;
        for (size_t i = 1; i < (size_t)len; i++)
            if (ids[i] == sc_tokenizer_eos_id(tok)) {
                n = i + 1;
                break;
            }
        size_t k = opt.raw ? n : strip_pad_eos(tok, ids, n, tmp);
        long tl = decode_into(tok, opt.raw ? ids : tmp, k, 0, &text, &text_cap);
        if (tl < 0) {
            fprintf(stderr, "switchc generate: cannot decode the output of prompt %lld\n", (long long)(r / per_prompt));
            goto cleanup;
        }
        if (opt.json) {
            printf("{\"prompt\": ");
            json_write_string(stdout, prompt, strlen(prompt));
            printf(", \"text\": ");
            json_write_string(stdout, text, (size_t)tl);
            printf(", \"ids\": [");
            for (int64_t i = 0; i < len; i++) printf(i ? ", %d" : "%d", ids[i]);
            printf("]");
            if (scores) printf(", \"score\": %.6g", (double)scores[r]);
            printf("}\n");
        } else if (opt.print_ids) {
            for (int64_t i = 0; i < len; i++) printf(i ? " %d" : "%d", ids[i]);
            printf("\n");
        } else if (opt.fill) {
            print_fill(stdout, tok, prompt, ids, n);
        } else {
            printf("%.*s\n", (int)tl, text);
        }
    }
    int64_t new_tokens = 0; /* for the stats: generated tokens, pad not counted */
    for (int64_t r = 0; r < rows; r++)
        for (int64_t i = 1; i < len; i++) new_tokens += seq[r * len + i] != sc_tokenizer_pad_id(tok);
    const double gen = t_gen1 - t_gen0;
    if (opt.stats) {
        fprintf(stderr, "load %.3f s; prompts %lld x %lld tokens; generated %lld tokens in %.3f s (%.1f tok/s)\n",
                t_load - t0, (long long)batch.B, (long long)batch.S, (long long)new_tokens, gen,
                gen > 0 ? (double)new_tokens / gen : 0.0);
        if (ss.t_first > 0 && ss.steps > 1)
            fprintf(stderr, "first token after %.3f s (encoder + 1 step); then %.2f ms per step (%lld row%s)\n",
                    ss.t_first - t_gen0, 1e3 * (t_gen1 - ss.t_first) / (double)(ss.steps - 1),
                    (long long)batch.B, batch.B == 1 ? "" : "s");
    }
    if (opt.stats) print_expert_stats(stderr, sess, model);
    if (opt.stats_json) {
        FILE *jf = fopen(opt.stats_json, "w");
        if (!jf) {
            fprintf(stderr, "switchc generate: cannot write %s\n", opt.stats_json);
            goto cleanup;
        }
        fprintf(jf, "{\"load_s\": %.6f, \"generate_s\": %.6f, \"prompts\": %lld, \"prompt_tokens\": %lld, "
                    "\"new_tokens\": %lld, \"tokens_per_s\": %.3f, ",
                t_load - t0, gen, (long long)batch.B, (long long)batch.S, (long long)new_tokens,
                gen > 0 ? (double)new_tokens / gen : 0.0);
        /* decode timing: greedy and sampling only (beam search reports no steps) */
        if (ss.t_first > 0 && ss.steps > 1)
            fprintf(jf, "\"first_token_s\": %.6f, \"decode_steps\": %lld, \"decode_ms_per_step\": %.4f, ",
                    ss.t_first - t_gen0, (long long)ss.steps, 1e3 * (t_gen1 - ss.t_first) / (double)(ss.steps - 1));
        else
            fprintf(jf, "\"first_token_s\": null, \"decode_steps\": null, \"decode_ms_per_step\": null, ");
        write_expert_stats_json(jf, sess, model, opt.max_memory);
        fprintf(jf, "}\n");
        if (fclose(jf)) {
            fprintf(stderr, "switchc generate: cannot write %s\n", opt.stats_json);
            goto cleanup;
        }
    }
    rc = SC_EXIT_OK;
cleanup:
    free(text);
    free(tmp);
    free(ss.ids);
    free(ss.buf);
    sc_generate_result_free(res);
    sc_token_batch_free(&batch);
    sc_session_free(sess);
    sc_model_free(model);
    sc_tokenizer_free(tok);
done:
    for (size_t i = 0; i < opt.pr.n; i++) free(opt.pr.text[i]);
    free(opt.pr.text);
    return rc;
}
