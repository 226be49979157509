/* `switchc encode` end to end: the fixture's texts through the tokenizer and
 * the encoder give HF's SwitchTransformersEncoderModel states. Then texts on
 * stdin through a pipe: each line answered before the next is written (a
 * poll with a generous timeout guards against a hang), with the answer the
 * same text gets as an argument. */
#define _GNU_SOURCE
#include "io/json.h"
#include "test_util.h"
#include "test_child.h"

#include <signal.h>

#define MODEL SC_FIXTURES_DIR "/../../models/switch-tiny-t5vocab"
#define CASE SC_FIXTURES_DIR "/models/t5vocab_e4_step2"

int main(void) {
    sc_json_doc *m;
    sc_error err;
    CHECK(sc_json_parse_file(CASE "/manifest.json", 1 << 24, &m, &err) == SC_OK);
    const sc_json *texts = sc_json_get(sc_json_root(m), "text_inputs");
    char cmd[8192];
    size_t at = (size_t)snprintf(cmd, sizeof cmd, "'%s' encode -m '%s' --pool none --json", SC_SWITCHC_BIN, MODEL);
    for (size_t i = 0; i < sc_json_len(texts); i++)
        at += (size_t)snprintf(cmd + at, sizeof cmd - at, " '%s'", sc_json_string(sc_json_at(texts, i), NULL));
    static char out[1 << 20];
    CHECK(sc_test_run(cmd, out, sizeof out) == 0);

    /* reference: encoder_model.last_hidden_state [3, 21, 32] */
    FILE *rf = fopen(CASE "/arrays/encoder_model.last_hidden_state.bin", "rb");
    static float ref[3 * 21 * 32];
    CHECK(rf && fread(ref, 4, 3 * 21 * 32, rf) == 3 * 21 * 32);
    if (rf) fclose(rf);
    FILE *mf = fopen(CASE "/arrays/attention_mask.bin", "rb");
    int32_t mask[3 * 21];
    CHECK(mf && fread(mask, 4, 3 * 21, mf) == 3 * 21);
    if (mf) fclose(mf);

    const char *line = out;
    double max_diff = 0;
    for (int b = 0; b < 3; b++) {
        const char *nl = strchr(line, '\n');
        CHECK(nl != NULL);
        if (!nl) break;
        sc_json_doc *d;
        CHECK(sc_json_parse(line, (size_t)(nl - line), "encode output", &d, &err) == SC_OK);
        const sc_json *emb = sc_json_get(sc_json_root(d), "embeddings");
        int64_t real = 0;
        for (int t = 0; t < 21; t++) real += mask[b * 21 + t];
        CHECKF((int64_t)sc_json_len(emb) == real, "row %d: %zu vectors, %lld tokens", b, sc_json_len(emb), (long long)real);
        for (size_t t = 0; t < sc_json_len(emb); t++) {
            const sc_json *v = sc_json_at(emb, t);
            CHECK(sc_json_len(v) == 32);
            for (size_t k = 0; k < sc_json_len(v) && k < 32; k++) {
                double x;
                sc_json_number(sc_json_at(v, k), &x);
                double diff = fabs(x - ref[(b * 21 + (int)t) * 32 + (int)k]);
                if (diff > max_diff) max_diff = diff;
            }
        }
        sc_json_free(d);
        line = nl + 1;
    }
    printf("encode vs HF encoder_model.last_hidden_state: max_abs=%.3e\n", max_diff);
    CHECK(max_diff < 1e-4);
    /* the weights read into memory instead of mapped: the same output */
    static char out2[1 << 20];
    snprintf(cmd + at, sizeof cmd - at, " --no-mmap");
    CHECK(sc_test_run(cmd, out2, sizeof out2) == 0 && !strcmp(out, out2));
    sc_json_free(m);

    /* stdin: one answer line per line as it comes, equal to the argument's
     * answer (a batch of one either way); an empty line gets an empty line */
    signal(SIGPIPE, SIG_IGN);
    static char want[2][1 << 16], got[1 << 16];
    const char *words[2] = {"hello", "The <extra_id_0> walks in <extra_id_1> park"};
    for (int k = 0; k < 2; k++) {
        snprintf(cmd, sizeof cmd, "'%s' encode -m '%s' --json --pool first '%s' </dev/null", SC_SWITCHC_BIN, MODEL,
                 words[k]);
        CHECK(sc_test_run(cmd, want[k], sizeof want[k]) == 0 && strchr(want[k], '\n'));
        *strchr(want[k], '\n') = '\0';
    }
    char *argv[] = {SC_SWITCHC_BIN, "encode", "--model=" MODEL, "--json", "--pool=first", NULL};
    static sc_child c;
    bool started = sc_child_start(&c, argv, SC_CHILD_PIPE, SC_CHILD_PIPE, SC_CHILD_INHERIT);
    CHECK(started);
    if (started) {
        CHECK(sc_child_say(&c, "hello\n") && sc_child_line(&c, got, sizeof got));
        CHECKF(!strcmp(got, want[0]), "got '%.200s'\nwant '%.200s'", got, want[0]);
        CHECK(sc_child_say(&c, "\n") && sc_child_line(&c, got, sizeof got) && !strcmp(got, ""));
        CHECK(sc_child_say(&c, words[1]) && sc_child_say(&c, "\r\n") && sc_child_line(&c, got, sizeof got));
        CHECKF(!strcmp(got, want[1]), "got '%.200s'\nwant '%.200s'", got, want[1]);
        size_t extra = 1;
        int st = sc_child_end(&c, &extra);
        CHECK(extra == 0); /* nothing more */
        CHECK(st == 0);
    }
    /* plain mean vectors: one line each; --pool none needs --json on stdin */
    snprintf(cmd, sizeof cmd, "printf 'hello\\n\\nhello\\n' | '%s' encode -m '%s'", SC_SWITCHC_BIN, MODEL);
    CHECK(sc_test_run(cmd, out, sizeof out) == 0);
    const char *l1 = out, *l2 = strchr(l1, '\n'), *l3 = l2 ? l2 + 2 : NULL;
    CHECKF(l2 && l2[1] == '\n' && l3 && !strncmp(l1, l3, (size_t)(l2 - l1) + 1) && !l3[l2 - l1 + 1],
           "got '%.300s'", out);
    snprintf(cmd, sizeof cmd, "'%s' encode -m '%s' --pool none </dev/null 2>&1", SC_SWITCHC_BIN, MODEL);
    CHECK(sc_test_run(cmd, out, sizeof out) == 2);
    CHECKF(!strcmp(out, "switchc encode: --pool none reads standard input only with --json\n"), "got '%s'", out);
    TEST_MAIN_END();
}
