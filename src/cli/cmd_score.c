/* switchc score: how well a model predicts each target text given its input
 * text. Reads JSON lines {"input": ..., "target": ...} from a file or
 * standard input and prints one JSON line per pair, in order: HF's loss for
 * that pair alone, its cross-entropy, token count, perplexity and router
 * losses (sc_score_pairs). --summary adds the token-weighted totals. The
 * first bad line stops the run (exit 1) after the lines before it were
 * answered. Left out: batching pairs (each pair runs alone, so its numbers
 * never depend on its neighbours) and per-token output. */
#define _GNU_SOURCE
#include "args.h"
#include "cli_files.h"
#include "cli_model.h"
#include "commands.h"
#include "util/json.h"
#include "switchc.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f) {
    fprintf(f,
            "usage: switchc score -m DIR --data FILE|- [--summary] [-t N] [--dtype T] [--kernels NAME]\n\n"
            "Scores (input, target) text pairs with the teacher-forced forward pass of HF\n"
            "SwitchTransformersForConditionalGeneration(input_ids, labels=target_ids). FILE holds\n"
            "one JSON object per line, {\"input\": TEXT, \"target\": TEXT}; both are tokenized with\n"
            "</s> appended (an empty target is scored as </s> alone). Each pair runs alone, and\n"
            "output line i is one JSON object answering input line i:\n"
            "  {\"loss\", \"ce\", \"tokens\", \"perplexity\", \"encoder_z_loss\", \"encoder_aux_loss\",\n"
            "   \"decoder_z_loss\", \"decoder_aux_loss\"}   (docs/scoring.md says what each means)\n"
            "  -m DIR         checkpoint directory, or a Hugging Face repo id ORG/NAME found in\n"
            "                 the local cache (docs/models.md)\n"
            "  --revision REF with a repo id: branch, tag or commit (default: main)\n"
            "  --data FILE    the JSON lines; - reads standard input\n"
            "  --summary      a last line {\"summary\": true, \"pairs\", \"tokens\", \"ce\", \"perplexity\",\n"
            "                 router losses}: ce token-weighted over all pairs, router losses the\n"
            "                 mean over pairs\n"
            "  -t N           threads, 1 to 256 (default: physical cores; also --threads)\n"
            "  --dtype T      weights converted at load: f32, bf16, f16 or q8 (default: as stored)\n"
            "  --kernels NAME kernel table (best, exact, ref, ...; see switchc info)\n"
            "  --json         accepted; the output is always JSON lines\n"
            "A line that is not such an object stops the run: its number is printed on stderr,\n"
            "the lines before it have been answered, no summary is printed, exit status 1.\n"
            "Options taking a value accept --opt VALUE and --opt=VALUE.\n"
            "Exit status: 0 ok, 1 failure, 2 bad usage.\n");
}

typedef struct score_opts {
    const char *model_dir, *revision, *data, *kernels;
    sc_dtype wdtype;
    bool summary, json;
    int64_t threads;
} score_opts;

#define AT(field) .off = offsetof(score_opts, field)
static const args_opt score_options[] = {
    {"-m", "--model", ARGS_STRING, AT(model_dir)},
    {NULL, "--revision", ARGS_STRING, AT(revision)},
    {NULL, "--data", ARGS_STRING, AT(data)},
    {NULL, "--summary", ARGS_FLAG, AT(summary)},
    {NULL, "--json", ARGS_FLAG, AT(json)},
    {NULL, "--kernels", ARGS_STRING, AT(kernels)},
    {NULL, "--dtype", ARGS_CALL, AT(wdtype), .call = args_dtype},
    {"-t", "--threads", ARGS_INT, AT(threads), .ilo = 1, .ihi = 256, .label = "-t"},
    {0},
};
#undef AT
static const args_spec score_args = {
    .cmd = "score", .usage = usage, .opts = score_options, .unknown = ARGS_SAY_OPTION_SEE_HELP,
    .pos = ARGS_POS_NONE,
};

/* A JSON number, or null where it is not finite (JSON has no NaN). */
static void put_num(const char *key, double v, bool first) {
    printf(first ? "{\"%s\": " : ", \"%s\": ", key);
    if (isfinite(v)) printf("%.17g", v);
    else printf("null");
}

/* ids of text + </s> into a growing buffer. */
static sc_status tokenize(const sc_tokenizer *tok, const char *text, size_t len, int32_t **ids, size_t *cap,
                          size_t *n, sc_error *err) {
    sc_status st = sc_tokenizer_encode(tok, text, len, true, *ids, *cap, n, err);
    if (st != SC_ERR_BUFFER_TOO_SMALL) return st;
    int32_t *grown = realloc(*ids, *n * sizeof(int32_t));
    if (!grown) {
        snprintf(err->msg, sizeof err->msg, "out of memory for %zu token ids", *n);
        return SC_ERR_NOMEM;
    }
    *ids = grown;
    *cap = *n;
    return sc_tokenizer_encode(tok, text, len, true, *ids, *cap, n, err);
}

typedef struct totals {
    int64_t pairs, tokens;
    double ce_sum; /* sum of ce_i * tokens_i */
    double router[4];
} totals;

typedef struct scorer {
    const sc_tokenizer *tok;
    sc_session *sess;
    const char *src;          /* the input's name in messages */
    int32_t *in_ids, *tg_ids; /* token buffers, reused from line to line */
    size_t in_cap, tg_cap;
    totals tot;
} scorer;

/* Parses, tokenizes and scores one line; prints its answer. false (having
 * said why, naming the line) stops the run. */
static bool score_line(void *ctx, size_t lineno, const char *line, size_t len) {
    scorer *c = ctx;
    const char *src = c->src;
    sc_error err;
    sc_json_doc *doc = NULL;
    bool ok = false;
    if (sc_json_parse(line, len, src, &doc, &err)) {
        fprintf(stderr, "switchc score: %s:%zu: not JSON: %s\n", src, lineno, err.msg);
        return false;
    }
    const sc_json *root = sc_json_root(doc);
    const char *keys[2] = {"input", "target"};
    const char *text[2];
    size_t tlen[2];
    for (int k = 0; k < 2; k++) {
        text[k] = sc_json_string(sc_json_get(root, keys[k]), &tlen[k]);
        if (!text[k]) {
            fprintf(stderr,
                    "switchc score: %s:%zu: needs an object with string \"input\" and \"target\" (\"%s\" %s)\n",
                    src, lineno, keys[k], sc_json_get(root, keys[k]) ? "is not a string" : "is missing");
            goto out;
        }
    }
    size_t n_in = 0, n_tg = 0;
    if (tokenize(c->tok, text[0], tlen[0], &c->in_ids, &c->in_cap, &n_in, &err) ||
        tokenize(c->tok, text[1], tlen[1], &c->tg_ids, &c->tg_cap, &n_tg, &err)) {
        fprintf(stderr, "switchc score: %s:%zu: %s\n", src, lineno, err.msg);
        goto out;
    }
    sc_score_pair pair = {.input = c->in_ids, .input_len = (int64_t)n_in, .target = c->tg_ids,
                          .target_len = (int64_t)n_tg};
    sc_score sc;
    if (sc_score_pairs(c->sess, &pair, 1, &sc, &err)) {
        fprintf(stderr, "switchc score: %s:%zu: %s\n", src, lineno, err.msg);
        goto out;
    }
    put_num("loss", sc.loss, true);
    put_num("ce", sc.ce, false);
    printf(", \"tokens\": %lld", (long long)sc.tokens);
    put_num("perplexity", exp(sc.ce), false);
    put_num("encoder_z_loss", sc.encoder_z_loss, false);
    put_num("encoder_aux_loss", sc.encoder_aux_loss, false);
    put_num("decoder_z_loss", sc.decoder_z_loss, false);
    put_num("decoder_aux_loss", sc.decoder_aux_loss, false);
    printf("}\n");
    totals *tot = &c->tot;
    tot->pairs++;
    tot->tokens += sc.tokens;
    tot->ce_sum += sc.ce * (double)sc.tokens;
    tot->router[0] += sc.encoder_z_loss;
    tot->router[1] += sc.encoder_aux_loss;
    tot->router[2] += sc.decoder_z_loss;
    tot->router[3] += sc.decoder_aux_loss;
    ok = fflush(stdout) == 0;
out:
    sc_json_free(doc);
    return ok;
}

static void print_summary(const totals *t) {
    const double ce = t->tokens ? t->ce_sum / (double)t->tokens : NAN, np = t->pairs ? (double)t->pairs : NAN;
    printf("{\"summary\": true, \"pairs\": %lld, \"tokens\": %lld", (long long)t->pairs, (long long)t->tokens);
    put_num("ce", ce, false);
    put_num("perplexity", exp(ce), false);
    put_num("encoder_z_loss", t->router[0] / np, false);
    put_num("encoder_aux_loss", t->router[1] / np, false);
    put_num("decoder_z_loss", t->router[2] / np, false);
    put_num("decoder_aux_loss", t->router[3] / np, false);
    printf("}\n");
}

int cmd_score(int argc, char **argv) {
    score_opts opt = {.wdtype = SC_DTYPE_COUNT /* as stored */};
    int rc = args_parse(&score_args, argc, argv, &opt);
    if (rc != ARGS_GO) return rc;
    if (!opt.model_dir || !opt.data) {
        fprintf(stderr, "switchc score: needs -m DIR and --data FILE (see --help)\n");
        return SC_EXIT_USAGE;
    }
    if (!cli_model_resolve("score", &opt.model_dir, opt.revision)) return SC_EXIT_FAIL;
    const bool from_stdin = !strcmp(opt.data, "-");
    const char *src = from_stdin ? "<stdin>" : opt.data;
    FILE *in = from_stdin ? stdin : fopen(opt.data, "rb");
    if (!in) {
        fprintf(stderr, "switchc score: cannot open %s: %s\n", opt.data, strerror(errno));
        return SC_EXIT_FAIL;
    }
    rc = SC_EXIT_FAIL;
    sc_error err;
    sc_tokenizer *tok = NULL;
    sc_model *model = NULL;
    sc_session *sess = NULL;
    sc_model_params mp = sc_model_default_params();
    mp.n_threads = (int)opt.threads;
    mp.kernels = opt.kernels;
    mp.dtype = opt.wdtype;
    mp.progress = cli_progress;
    mp.progress_ctx = "reading";
    if (sc_tokenizer_load(opt.model_dir, &tok, &err) || sc_model_load(opt.model_dir, &mp, &model, &err) ||
        sc_session_new(model, &sess, &err)) {
        fprintf(stderr, "switchc score: %s\n", err.msg);
        goto out;
    }
    scorer c = {.tok = tok, .sess = sess, .src = src};
    bool ok = cli_each_line("score", in, src, score_line, &c);
    free(c.in_ids);
    free(c.tg_ids);
    if (ok && opt.summary) print_summary(&c.tot);
    rc = ok && fflush(stdout) == 0 ? SC_EXIT_OK : SC_EXIT_FAIL;
out:
    sc_session_free(sess);
    sc_model_free(model);
    sc_tokenizer_free(tok);
    if (!from_stdin) fclose(in);
    return rc;
}
