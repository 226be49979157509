/* `switchc tokenize --jsonl` and `detokenize` end to end against the HF
 * T5Tokenizer cases. */
#include "io/json.h"
#include "test_util.h"

#include <sys/wait.h>

#define MODEL SC_FIXTURES_DIR "/../../models/switch-tiny-t5vocab"
#define CASES SC_FIXTURES_DIR "/tokenizer/t5_tokenizer_cases.jsonl"

static int same_ids(const sc_json *a, const sc_json *b) {
    if (sc_json_len(a) != sc_json_len(b)) return 0;
    for (size_t i = 0; i < sc_json_len(a); i++) {
        int64_t x, y;
        if (!sc_json_int(sc_json_at(a, i), &x) || !sc_json_int(sc_json_at(b, i), &y) || x != y) return 0;
    }
    return 1;
}

int main(void) {
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "'%s' tokenize -m '%s' --jsonl < '%s'", SC_SWITCHC_BIN, MODEL, CASES);
    FILE *out = popen(cmd, "r"), *in = fopen(CASES, "r");
    CHECK(out && in);
    if (!out || !in) TEST_MAIN_END();
    char *a = NULL, *b = NULL;
    size_t ca = 0, cb = 0;
    ssize_t na, nb;
    int lines = 0, bad = 0;
    while ((na = getline(&a, &ca, in)) > 0) {
        nb = getline(&b, &cb, out);
        if (nb <= 0) {
            bad++;
            break;
        }
        sc_json_doc *da, *db;
        sc_error err;
        if (sc_json_parse(a, (size_t)na, "case", &da, &err) || sc_json_parse(b, (size_t)nb, "output", &db, &err)) {
            bad++;
            continue;
        }
        if (!same_ids(sc_json_get(sc_json_root(da), "ids"), sc_json_get(sc_json_root(db), "ids"))) {
            bad++;
            fprintf(stderr, "ids differ for line %d\n", lines + 1);
        }
        sc_json_free(da);
        sc_json_free(db);
        lines++;
    }
    int rc = pclose(out);
    fclose(in);
    CHECK(WIFEXITED(rc) && WEXITSTATUS(rc) == 0);
    CHECKF(lines > 300 && bad == 0, "%d lines, %d differ", lines, bad);

    /* detokenize the model-card output: ids and text from t5_decode_cases.jsonl
     * ("model_card_expected_output", HF decode with special tokens) */
    snprintf(cmd, sizeof cmd, "'%s' detokenize -m '%s' 0 32099 388 32098 6061 32097 3 9 32096 3136 32095 3 5 1", SC_SWITCHC_BIN,
             MODEL);
    FILE *d = popen(cmd, "r");
    char line[1024] = {0};
    CHECK(d && fgets(line, sizeof line, d));
    if (d) pclose(d);
    CHECKF(!strcmp(line, "<pad> <extra_id_0> man <extra_id_1> beer <extra_id_2> a <extra_id_3> salt <extra_id_4>.</s>\n"),
           "got '%s'", line);
    /* a bad id is an error, not a crash */
    snprintf(cmd, sizeof cmd, "'%s' detokenize -m '%s' 32100 2>/dev/null", SC_SWITCHC_BIN, MODEL);
    rc = system(cmd);
    CHECK(WIFEXITED(rc) && WEXITSTATUS(rc) == 1);
    free(a);
    free(b);
    TEST_MAIN_END();
}
