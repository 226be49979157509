/* A complete program using switchc through its public header only: loads a
 * checkpoint directory, answers one prompt with greedy search and prints the
 * text, as `switchc generate -m DIR --max-new-tokens 8 PROMPT` does. It
 * leaves out batching, streaming, sampling and beam search (see switchc.h).
 *
 *   usage: generate MODEL_DIR PROMPT [MAX_NEW_TOKENS]
 *
 * Build it against an installed switchc:
 *   cc generate.c $(pkg-config --cflags --libs switchc) -o generate
 * or with CMake: examples/CMakeLists.txt (find_package(switchc)). */
#include <switchc.h>

#include <stdio.h>
#include <stdlib.h>

static int fail(const char *what, const sc_error *err) {
    fprintf(stderr, "generate: %s: %s\n", what, err->msg);
    return 1;
}

int main(int argc, char **argv) {
    if (argc < 3 || argc > 4) {
        fprintf(stderr, "usage: %s MODEL_DIR PROMPT [MAX_NEW_TOKENS]\n", argv[0]);
        return 2;
    }
    const char *dir = argv[1], *prompt = argv[2];
    long max_new = argc > 3 ? strtol(argv[3], NULL, 10) : 8;
    if (max_new < 1) {
        fprintf(stderr, "generate: MAX_NEW_TOKENS must be a positive number\n");
        return 2;
    }
    if (sc_version_number() / 100 != SWITCHC_VERSION_MAJOR * 100 + SWITCHC_VERSION_MINOR)
        fprintf(stderr, "generate: built with switchc %s, running with %s\n", SWITCHC_VERSION, sc_version());

    sc_error err = {0};
    sc_tokenizer *tok = NULL;
    sc_model *model = NULL;
    sc_session *sess = NULL;
    sc_token_batch batch = {0};
    sc_generate_result *res = NULL;
    char *text = NULL;
    int rc = 1;

    sc_model_params mp = sc_model_default_params();
    if (sc_tokenizer_load(dir, &tok, &err)) {
        rc = fail("loading the tokenizer", &err);
        goto out;
    }
    if (sc_model_load(dir, &mp, &model, &err) || sc_session_new(model, &sess, &err)) {
        rc = fail("loading the model", &err);
        goto out;
    }

    /* The checkpoint's generation defaults (token ids, generation_config.json);
     * greedy unless they ask for sampling or beams, which this example turns off. */
    sc_generate_params gp;
    if (sc_generate_params_from_dir(dir, &gp, &err)) {
        rc = fail("reading the generation config", &err);
        goto out;
    }
    gp.max_new_tokens = max_new;
    gp.num_beams = 1;
    gp.num_return_sequences = 1;
    gp.do_sample = false;

    sc_batch_params bp = sc_batch_default_params(); /* appends </s> as HF does */
    if (sc_tokenizer_encode_batch(tok, &prompt, NULL, 1, &bp, &batch, &err)) {
        rc = fail("encoding the prompt", &err);
        goto out;
    }
    if (sc_generate(sess, batch.ids, batch.mask, batch.B, batch.S, &gp, &res, &err)) {
        rc = fail("generating", &err);
        goto out;
    }

    /* The row starts with the decoder start token (<pad>) and may end with
     * </s> and padding: keep the tokens in between, as the CLI prints them. */
    int64_t rows = 0, len = 0;
    const int32_t *ids = sc_generate_result_sequences(res, &rows, &len);
    int64_t n = 0;
    int32_t *kept = malloc((size_t)len * sizeof *kept + 1);
    if (!kept) {
        fprintf(stderr, "generate: out of memory\n");
        goto out;
    }
    for (int64_t i = 0; i < len; i++) {
        if (ids[i] == sc_tokenizer_eos_id(tok)) break;
        if (ids[i] != sc_tokenizer_pad_id(tok)) kept[n++] = ids[i];
    }

    /* Ask for the size first: a too-small buffer reports the length needed. */
    size_t text_len = 0;
    sc_status st =
        sc_tokenizer_decode(tok, kept, (size_t)n, SC_DECODE_SKIP_UNKNOWN, NULL, 0, &text_len, &err);
    if (st == SC_ERR_BUFFER_TOO_SMALL && (text = malloc(text_len + 1)) != NULL)
        st = sc_tokenizer_decode(tok, kept, (size_t)n, SC_DECODE_SKIP_UNKNOWN, text, text_len + 1, &text_len,
                                 &err);
    free(kept);
    if (st != SC_OK || !text) {
        rc = fail("decoding the output", &err);
        goto out;
    }
    printf("%s\n", text);
    rc = 0;
out:
    free(text);
    sc_generate_result_free(res);
    sc_token_batch_free(&batch);
    sc_session_free(sess);
    sc_model_free(model);
    sc_tokenizer_free(tok);
    return rc;
}
