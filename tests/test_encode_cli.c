/* `switchc encode` end to end: the fixture's texts through the tokenizer and
 * the encoder give HF's SwitchTransformersEncoderModel states. */
#include "io/json.h"
#include "test_util.h"

#include <sys/wait.h>

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
    TEST_MAIN_END();
}
