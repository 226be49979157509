/* switchc encode: the encoder's last hidden state for texts (HF
 * SwitchTransformersEncoderModel), pooled per text or per token. Texts come
 * from the arguments (one padded batch) or, when there are none, from stdin
 * one line at a time, each encoded and answered as it arrives. Left out:
 * batching stdin lines together (a line waits for no other). */
#define _GNU_SOURCE
#include "args.h"
#include "cli_files.h"
#include "cli_model.h"
#include "commands.h"
#include "switchc.h"
#include "util/json.h"

#include <stdlib.h>
#include <string.h>

static void usage(FILE *f) {
    fprintf(f,
            "usage: switchc encode -m DIR [--pool mean|first|none] [--json] [-t N] [--no-mmap] [--] [TEXT...]\n\n"
            "Runs the encoder on each TEXT (as one padded batch) and prints its final hidden\n"
            "states (after the final layer norm), as HF SwitchTransformersEncoderModel does.\n"
            "Without TEXT, reads standard input one line at a time and answers each line as\n"
            "it comes, one output line per input line (an empty line gets an empty line).\n"
            "  -m DIR         checkpoint directory, or a Hugging Face repo id ORG/NAME found in\n"
            "                 the local cache (docs/models.md)\n"
            "  --revision REF with a repo id: branch, tag or commit (default: main)\n"
            "  --pool mean    average over the text's tokens, padding excluded (default)\n"
            "  --pool first   the first token's vector\n"
            "  --pool none    every token's vector, one line each (standard input: --json only)\n"
            "  --json         one object per text: {\"text\", \"tokens\", \"embedding\"} or\n"
            "                 {\"text\", \"tokens\", \"embeddings\"} with --pool none\n"
            "  -t N           threads, 1 to 256 (default: physical cores; also --threads)\n"
            "  --no-mmap      read the weights into memory instead of mapping them\n"
            "Options taking a value accept --opt VALUE and --opt=VALUE; \"--\" ends the options.\n"
            "Exit status: 0 ok, 1 failure, 2 bad usage.\n");
}

static void print_vec(const float *v, int64_t D, bool json) {
    if (json) fputc('[', stdout);
    for (int64_t d = 0; d < D; d++) printf(d ? (json ? ", %.9g" : " %.9g") : "%.9g", (double)v[d]);
    if (json) fputc(']', stdout);
}

static const char *const pools[] = {"mean", "first", "none", NULL};
enum { POOL_MEAN, POOL_FIRST, POOL_NONE };

typedef struct encode_opts {
    const char *model_dir, *revision;
    int pool; /* index into pools */
    bool json, no_mmap;
    int64_t threads;
    const char **texts; /* argc slots: texts may come before or after options */
    size_t n_texts;
} encode_opts;

static int add_text(void *vo, const char *arg) {
    encode_opts *o = vo;
    o->texts[o->n_texts++] = arg;
    return ARGS_GO;
}

#define AT(field) .off = offsetof(encode_opts, field)
static const args_opt encode_options[] = {
    {"-m", "--model", ARGS_STRING, AT(model_dir)},
    {NULL, "--revision", ARGS_STRING, AT(revision)},
    {NULL, "--pool", ARGS_CHOICE, AT(pool), .choices = pools},
    {NULL, "--json", ARGS_FLAG, AT(json)},
    {NULL, "--no-mmap", ARGS_FLAG, AT(no_mmap)},
    {"-t", "--threads", ARGS_INT, AT(threads), .ilo = 1, .ihi = 256, .label = "-t"},
    {0},
};
#undef AT
static const args_spec encode_args = {
    .cmd = "encode", .usage = usage, .opts = encode_options, .unknown = ARGS_SAY_OPTION_SEE_HELP,
    .pos = ARGS_POS_CALL, .dash = ARGS_DASHED_NOT_LONE, .pos_call = add_text,
};

typedef struct encoder {
    const encode_opts *opt;
    sc_tokenizer *tok;
    sc_model *model;
    sc_session *sess;
    float *mean; /* [d_model] */
} encoder;

/* Encodes texts[0..B) (lens[b] bytes each) as one padded batch and prints
 * one answer per text. */
static bool encode_print(encoder *e, const char *const *texts, const size_t *lens, size_t B) {
    sc_error err;
    sc_token_batch batch = {0};
    sc_batch_params bp = sc_batch_default_params();
    if (sc_tokenizer_encode_batch(e->tok, texts, lens, B, &bp, &batch, &err) ||
        sc_session_encode(e->sess, batch.ids, batch.mask, batch.B, batch.S, &err)) {
        fprintf(stderr, "switchc encode: %s\n", err.msg);
        sc_token_batch_free(&batch);
        return false;
    }
    const int64_t D = sc_model_d_model(e->model), S = batch.S;
    const float *h = sc_session_encoder_output(e->sess, NULL, NULL);
    const bool json = e->opt->json;
    const int pool = e->opt->pool;
    for (size_t b = 0; b < B; b++) {
        const float *hb = h + (int64_t)b * S * D;
        const int64_t n = batch.lengths[b];
        if (json) {
            printf("{\"text\": ");
            sc_json_write_string(stdout, texts[b], lens[b]);
            printf(", \"tokens\": %lld, \"%s\": ", (long long)n, pool == POOL_NONE ? "embeddings" : "embedding");
        }
        if (pool == POOL_NONE) {
            if (json) fputc('[', stdout);
            for (int64_t t = 0; t < n; t++) {
                if (json && t) fputs(", ", stdout);
                print_vec(hb + t * D, D, json);
                if (!json) fputc('\n', stdout);
            }
            if (json) fputc(']', stdout);
        } else if (pool == POOL_FIRST) {
            print_vec(hb, D, json);
            if (!json) fputc('\n', stdout);
        } else {
            float *mean = e->mean;
            for (int64_t d = 0; d < D; d++) mean[d] = 0.0f;
            for (int64_t t = 0; t < n; t++)
                for (int64_t d = 0; d < D; d++) mean[d] += hb[t * D + d];
            for (int64_t d = 0; d < D; d++) mean[d] /= (float)(n ? n : 1);
            print_vec(mean, D, json);
            if (!json) fputc('\n', stdout);
        }
        if (json) printf("}\n");
    }
    sc_token_batch_free(&batch);
    return true;
}

/* Standard input: each line encoded alone and its answer flushed before the
 * next line is read, so a caller can wait for it; the line's end ("\n" or
 * "\r\n") is not text. The first failing line stops (exit 1). */
static bool encode_line(void *ctx, size_t lineno, const char *line, size_t len) {
    if (len == 0) {
        fputc('\n', stdout);
    } else if (!encode_print(ctx, &line, &len, 1)) {
        fprintf(stderr, "switchc encode: stopped at line %zu\n", lineno);
        return false;
    }
    return fflush(stdout) == 0;
}

static int encode_stdin(encoder *e) {
    cli_stdin_notice("encode", "text");
    return cli_each_line("encode", stdin, "<stdin>", encode_line, e) ? SC_EXIT_OK : SC_EXIT_FAIL;
}

int cmd_encode(int argc, char **argv) {
    encode_opts opt = {.texts = calloc((size_t)argc, sizeof *opt.texts)};
    size_t *lens = calloc((size_t)argc, sizeof *lens);
    int rc = SC_EXIT_FAIL;
    if (!opt.texts || !lens) goto out_args;
    rc = args_parse(&encode_args, argc, argv, &opt);
    if (rc != ARGS_GO) goto out_args;
    rc = SC_EXIT_USAGE;
    if (!opt.model_dir) {
        fprintf(stderr, "switchc encode: needs -m DIR (see --help)\n");
        goto out_args;
    }
    if (!opt.n_texts && opt.pool == POOL_NONE && !opt.json) {
        /* one line per token would break "one output line per input line" */
        fprintf(stderr, "switchc encode: --pool none reads standard input only with --json\n");
        goto out_args;
    }
    rc = SC_EXIT_FAIL;
    if (!cli_model_resolve("encode", &opt.model_dir, opt.revision)) goto out_args;
    sc_error err;
    encoder e = {.opt = &opt};
    sc_model_params mp = sc_model_default_params();
    mp.n_threads = (int)opt.threads;
    mp.no_mmap = opt.no_mmap;
    mp.progress = cli_progress;
    mp.progress_ctx = "reading";
    if (sc_tokenizer_load(opt.model_dir, &e.tok, &err) || sc_model_load(opt.model_dir, &mp, &e.model, &err) ||
        sc_session_new(e.model, &e.sess, &err)) {
        fprintf(stderr, "switchc encode: %s\n", err.msg);
        goto out;
    }
    e.mean = calloc((size_t)sc_model_d_model(e.model), sizeof *e.mean);
    if (!e.mean) goto out;
    if (opt.n_texts) {
        for (size_t b = 0; b < opt.n_texts; b++) lens[b] = strlen(opt.texts[b]);
        rc = encode_print(&e, opt.texts, lens, opt.n_texts) ? SC_EXIT_OK : SC_EXIT_FAIL;
    } else {
        rc = encode_stdin(&e);
    }
    if (fflush(stdout)) rc = SC_EXIT_FAIL;
out:
    free(e.mean);
    sc_session_free(e.sess);
    sc_model_free(e.model);
    sc_tokenizer_free(e.tok);
out_args:
    free(lens);
    free(opt.texts);
    return rc;
}
