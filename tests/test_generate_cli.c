/* `switchc generate` end to end on the real-vocabulary fixture: text in,
 * HF's recorded ids and decoded text out; batch consistency; reproducible
 * sampling; bad flags rejected with exit status 2. */
#include "io/json.h"
#include "test_util.h"

#include <sys/stat.h>
#include <sys/wait.h>

#define MODEL SC_FIXTURES_DIR "/../../models/switch-tiny-t5vocab"
#define CASE SC_FIXTURES_DIR "/models/t5vocab_e4_step2/manifest.json"

/* Runs the CLI with args (shell-quoted by the caller); returns exit status,
 * stdout into out (cap bytes). */
static int run(const char *args, char *out, size_t cap) {
    char cmd[16384];
    snprintf(cmd, sizeof cmd, "'%s' generate -m '%s' %s 2>/dev/null", SC_SWITCHC_BIN, MODEL, args);
    return sc_test_run(cmd, out, cap);
}

static char *quote_all(const sc_json *texts) {
    static char buf[4096];
    size_t at = 0;
    for (size_t i = 0; i < sc_json_len(texts); i++)
        at += (size_t)snprintf(buf + at, sizeof buf - at, " '%s'", sc_json_string(sc_json_at(texts, i), NULL));
    return buf;
}

/* Checks each output line (JSON) against the manifest's ids and text lists. */
static void check_lines(const char *out, const sc_json *want_ids, const sc_json *want_text, const char *what) {
    const char *line = out;
    size_t row = 0;
    while (*line) {
        const char *nl = strchr(line, '\n');
        size_t len = nl ? (size_t)(nl - line) : strlen(line);
        sc_json_doc *doc;
        sc_error err;
        CHECKF(sc_json_parse(line, len, "output", &doc, &err) == SC_OK, "%s: bad JSON line", what);
        if (row < sc_json_len(want_ids)) {
            const sc_json *ids = sc_json_get(sc_json_root(doc), "ids"), *w = sc_json_at(want_ids, row);
            int same = sc_json_len(ids) == sc_json_len(w);
            for (size_t i = 0; same && i < sc_json_len(w); i++) {
                int64_t a, b;
                same = sc_json_int(sc_json_at(ids, i), &a) && sc_json_int(sc_json_at(w, i), &b) && a == b;
            }
            CHECKF(same, "%s: row %zu ids differ from HF", what, row);
            if (want_text) {
                const char *t = sc_json_string(sc_json_get(sc_json_root(doc), "text"), NULL);
                const char *wt = sc_json_string(sc_json_at(want_text, row), NULL);
                CHECKF(t && wt && !strcmp(t, wt), "%s: row %zu text '%s' != HF '%s'", what, row, t ? t : "", wt ? wt : "");
            }
        }
        sc_json_free(doc);
        row++;
        if (!nl) break;
        line = nl + 1;
    }
    CHECKF(row == sc_json_len(want_ids), "%s: %zu output lines, expected %zu", what, row, sc_json_len(want_ids));
}

int main(void) {
    sc_json_doc *m;
    sc_error err;
    if (sc_json_parse_file(CASE, 1 << 24, &m, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        CHECK(0);
        TEST_MAIN_END();
    }
    const sc_json *root = sc_json_root(m), *gen = sc_json_get(root, "generate");
    const sc_json *texts = sc_json_get(root, "text_inputs");
    static char out[1 << 16], out2[1 << 16], args[8192];

    /* greedy, the three prompts as one padded batch */
    snprintf(args, sizeof args, "--json --raw --max-new-tokens 20%s", quote_all(texts));
    CHECK(run(args, out, sizeof out) == 0);
    check_lines(out, sc_json_get(gen, "greedy"), sc_json_get(gen, "greedy_decoded"), "greedy batch");

    /* beam search, 4 beams */
    snprintf(args, sizeof args, "--json --raw --num-beams 4 --max-new-tokens 20%s", quote_all(texts));
    CHECK(run(args, out, sizeof out) == 0);
    check_lines(out, sc_json_get(gen, "beam4"), sc_json_get(gen, "beam4_decoded"), "beam batch");
    /* the same with the weights read into memory instead of mapped */
    snprintf(args, sizeof args, "--json --raw --num-beams 4 --max-new-tokens 20 --no-mmap%s", quote_all(texts));
    CHECK(run(args, out, sizeof out) == 0);
    check_lines(out, sc_json_get(gen, "beam4"), sc_json_get(gen, "beam4_decoded"), "beam batch, --no-mmap");

    /* each prompt alone equals its row of the padded batch */
    for (size_t i = 0; i < sc_json_len(texts); i++) {
        snprintf(args, sizeof args, "--ids --max-new-tokens 20 '%s'", sc_json_string(sc_json_at(texts, i), NULL));
        CHECK(run(args, out, sizeof out) == 0);
        const sc_json *w = sc_json_at(sc_json_get(gen, "greedy"), i);
        char want[4096];
        size_t at = 0;
        for (size_t k = 0; k < sc_json_len(w); k++) {
            int64_t v;
            sc_json_int(sc_json_at(w, k), &v);
            at += (size_t)snprintf(want + at, sizeof want - at, k ? " %lld" : "%lld", (long long)v);
        }
        snprintf(want + at, sizeof want - at, "\n");
        CHECKF(!strcmp(out, want), "prompt %zu alone: %s vs batch %s", i, out, want);
    }

    /* sampling: a seed reproduces its output; another seed gives another one */
    CHECK(run("--ids --do-sample --top-k 0 --temperature 3 --seed 7 'Hello world'", out, sizeof out) == 0);
    CHECK(run("--ids --do-sample --top-k 0 --temperature 3 --seed 7 'Hello world'", out2, sizeof out2) == 0);
    CHECK(strlen(out) > 2 && !strcmp(out, out2));
    CHECK(run("--ids --do-sample --top-k 0 --temperature 3 --seed 8 'Hello world'", out2, sizeof out2) == 0);
    CHECK(strcmp(out, out2) != 0);

    /* bad usage: exit 2; a missing model: exit 1 */
    CHECK(run("--num-beams 0 x", out, sizeof out) == 2);
    CHECK(run("--top-p 2 x", out, sizeof out) == 2);
    CHECK(run("--max-new-tokens abc x", out, sizeof out) == 2);
    CHECK(run("--bogus x", out, sizeof out) == 2);
    CHECK(run("--dtype x8 x", out, sizeof out) == 2);
    CHECK(run("--max-memory lots x", out, sizeof out) == 2);
    /* weights converted at load still generate (agreement with f32 is
     * measured in test_dtype_paths) */
    CHECK(run("--dtype bf16 --ids 'Hello world'", out, sizeof out) == 0 && strlen(out) > 2);
    /* --stats-json: timings (decode per step for greedy) and the expert stats */
    mkdir(SC_TMP_DIR, 0777);
    snprintf(args, sizeof args, "--ids --max-new-tokens 8 --min-new-tokens 8 --stats-json '%s/gen_stats.json' 'Hello world'",
             SC_TMP_DIR);
    CHECK(run(args, out, sizeof out) == 0);
    sc_json_doc *sj;
    if (sc_json_parse_file(SC_TMP_DIR "/gen_stats.json", 1 << 24, &sj, &err) == SC_OK) {
        const sc_json *r = sc_json_root(sj);
        double steps = -1, ms = -1, first = -1;
        CHECK(sc_json_number(sc_json_get(r, "decode_steps"), &steps) && steps == 8);
        CHECK(sc_json_number(sc_json_get(r, "decode_ms_per_step"), &ms) && ms > 0);
        CHECK(sc_json_number(sc_json_get(r, "first_token_s"), &first) && first > 0);
        CHECK(sc_json_get(r, "sparse_layers") != NULL);
        sc_json_free(sj);
    } else {
        CHECKF(0, "stats json: %s", err.msg);
    }
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "'%s' generate -m /nonexistent-model-dir x 2>/dev/null", SC_SWITCHC_BIN);
    int rc = system(cmd);
    CHECK(WIFEXITED(rc) && WEXITSTATUS(rc) == 1);
    sc_json_free(m);
    TEST_MAIN_END();
}
