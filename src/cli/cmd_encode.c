/* switchc encode: the encoder's last hidden state for texts (HF
 * SwitchTransformersEncoderModel), pooled per text or per token. */
#include "cli/args.h"
#include "cli/cli_files.h"
#include "cli/commands.h"
#include "switchc.h"

#include <stdlib.h>
#include <string.h>

static void usage(FILE *f) {
    fprintf(f,
            "usage: switchc encode -m DIR [--pool mean|first|none] [--json] [-t N] [--no-mmap] TEXT...\n\n"
            "Runs the encoder on each TEXT (as one padded batch) and prints its final hidden\n"
            "states (after the final layer norm), as HF SwitchTransformersEncoderModel does.\n"
            "  --pool mean    average over the text's tokens, padding excluded (default)\n"
            "  --pool first   the first token's vector\n"
            "  --pool none    every token's vector, one line each\n"
            "  --json         one object per text: {\"text\", \"tokens\", \"embedding\"} or\n"
            "                 {\"text\", \"tokens\", \"embeddings\"} with --pool none\n"
            "  --no-mmap      read the weights into memory instead of mapping them\n"
            "Exit status: 0 ok, 1 failure, 2 bad usage.\n");
}

static void print_vec(const float *v, int64_t D, bool json) {
    if (json) fputc('[', stdout);
    for (int64_t d = 0; d < D; d++) printf(d ? (json ? ", %.9g" : " %.9g") : "%.9g", (double)v[d]);
    if (json) fputc(']', stdout);
}

static const char *const pools[] = {"mean", "first", "none", NULL};

typedef struct encode_opts {
    const char *model_dir;
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
    {NULL, "--pool", ARGS_CHOICE, AT(pool), .choices = pools},
    {NULL, "--json", ARGS_FLAG, AT(json)},
    {NULL, "--no-mmap", ARGS_FLAG, AT(no_mmap)},
    {"-t", "--threads", ARGS_INT, AT(threads), .ilo = 1, .ihi = 1024, .label = "-t"},
    {0},
};
#undef AT
static const args_spec encode_args = {
    .cmd = "encode", .usage = usage, .opts = encode_options, .unknown = ARGS_SAY_OPTION_SEE_HELP,
    .pos = ARGS_POS_CALL, .dash = ARGS_DASHED_NOT_LONE, .pos_call = add_text,
};

int cmd_encode(int argc, char **argv) {
    encode_opts opt = {.texts = calloc((size_t)argc, sizeof *opt.texts)};
    if (!opt.texts) return SC_EXIT_FAIL;
    int rc = args_parse(&encode_args, argc, argv, &opt);
    if (rc != ARGS_GO) {
        free(opt.texts);
        return rc;
    }
    rc = SC_EXIT_USAGE;
    const char *pool = pools[opt.pool], **texts = opt.texts;
    const size_t B = opt.n_texts;
    if (!opt.model_dir || B == 0) {
        fprintf(stderr, "switchc encode: needs -m DIR and at least one TEXT (see --help)\n");
        goto out_args;
    }
    rc = SC_EXIT_FAIL;
    sc_error err;
    sc_tokenizer *tok = NULL;
    sc_model *model = NULL;
    sc_session *sess = NULL;
    sc_token_batch batch = {0};
    sc_model_params mp = sc_model_default_params();
    mp.n_threads = (int)opt.threads;
    mp.no_mmap = opt.no_mmap;
    mp.progress = cli_progress;
    mp.progress_ctx = "reading";
    sc_batch_params bp = sc_batch_default_params();
    if (sc_tokenizer_load(opt.model_dir, &tok, &err) || sc_model_load(opt.model_dir, &mp, &model, &err) ||
        sc_session_new(model, &sess, &err) ||
        sc_tokenizer_encode_batch(tok, texts, NULL, B, &bp, &batch, &err) ||
        sc_session_encode(sess, batch.ids, batch.mask, batch.B, batch.S, &err)) {
        fprintf(stderr, "switchc encode: %s\n", err.msg);
        goto out;
    }
    const int64_t D = sc_model_d_model(model), S = batch.S;
    const float *h = sc_session_encoder_output(sess, NULL, NULL);
    float *mean = calloc((size_t)D, sizeof *mean);
    if (!mean) goto out;
    for (size_t b = 0; b < B; b++) {
        const float *hb = h + (int64_t)b * S * D;
        const int64_t n = batch.lengths[b];
        if (opt.json) {
            printf("{\"text\": ");
            json_write_string(stdout, texts[b], strlen(texts[b]));
            printf(", \"tokens\": %lld, \"%s\": ", (long long)n, strcmp(pool, "none") ? "embedding" : "embeddings");
        }
        if (!strcmp(pool, "none")) {
            if (opt.json) fputc('[', stdout);
            for (int64_t t = 0; t < n; t++) {
                if (opt.json && t) fputs(", ", stdout);
                print_vec(hb + t * D, D, opt.json);
                if (!opt.json) fputc('\n', stdout);
            }
            if (opt.json) fputc(']', stdout);
        } else if (!strcmp(pool, "first")) {
            print_vec(hb, D, opt.json);
            if (!opt.json) fputc('\n', stdout);
        } else {
            for (int64_t d = 0; d < D; d++) mean[d] = 0.0f;
            for (int64_t t = 0; t < n; t++)
                for (int64_t d = 0; d < D; d++) mean[d] += hb[t * D + d];
            for (int64_t d = 0; d < D; d++) mean[d] /= (float)(n ? n : 1);
            print_vec(mean, D, opt.json);
            if (!opt.json) fputc('\n', stdout);
        }
        if (opt.json) printf("}\n");
    }
    free(mean);
    rc = SC_EXIT_OK;
out:
    sc_token_batch_free(&batch);
    sc_session_free(sess);
    sc_model_free(model);
    sc_tokenizer_free(tok);
out_args:
    free(opt.texts);
    return rc;
}
