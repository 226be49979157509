/* `switchc tokenize --jsonl` and `detokenize` end to end against the HF
 * T5Tokenizer cases: the ids, and pieces paired one to one with them (</s>
 * included). Then tokenize reading stdin through pipes, answering each line
 * before the next is written (a poll with a generous timeout guards against
 * a hang: an answer that only comes at EOF fails), and the notice it gives
 * when stdin is a terminal (a pseudo-terminal here). */
#define _GNU_SOURCE
#include "io/json.h"
#include "test_util.h"
#include "test_child.h"

#include <signal.h>
#include <stdbool.h>
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
    signal(SIGPIPE, SIG_IGN); /* a child that died early is a failed check, not a dead test */
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
        const sc_json *ids = sc_json_get(sc_json_root(db), "ids"), *pieces = sc_json_get(sc_json_root(db), "pieces");
        if (!same_ids(sc_json_get(sc_json_root(da), "ids"), ids)) {
            bad++;
            fprintf(stderr, "ids differ for line %d\n", lines + 1);
        }
        /* one piece per id: HF's tokenize() pieces, then "</s>" for the appended eos */
        const sc_json *hf = sc_json_get(sc_json_root(da), "pieces");
        bool paired = sc_json_len(pieces) == sc_json_len(ids) && sc_json_len(hf) <= sc_json_len(pieces);
        for (size_t i = 0; paired && i < sc_json_len(pieces); i++) {
            size_t la, lb;
            const char *pa = i < sc_json_len(hf) ? sc_json_string(sc_json_at(hf, i), &la) : "</s>";
            if (i >= sc_json_len(hf)) la = 4;
            const char *pb = sc_json_string(sc_json_at(pieces, i), &lb);
            paired = pa && pb && la == lb && !memcmp(pa, pb, la);
        }
        if (!paired) {
            bad++;
            fprintf(stderr, "pieces do not pair with the ids on line %d\n", lines + 1);
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

    /* plain lines on stdin: one line of ids per line, each answered before
     * the next is written; an empty line gets an empty line; "\r\n" ends a
     * line like "\n"; nothing on stderr when stdin is not a terminal */
    char ln[4096];
    static sc_child c;
    char *plain[] = {SC_SWITCHC_BIN, "tokenize", "-m", MODEL, NULL};
    CHECK(sc_child_start(&c, plain, SC_CHILD_PIPE, SC_CHILD_PIPE, SC_CHILD_PIPE));
    CHECK(sc_child_say(&c, "hello\n") && sc_child_line(&c, ln, sizeof ln));
    CHECKF(!strcmp(ln, "21820 1"), "got '%s'", ln);
    CHECK(sc_child_say(&c, "\n") && sc_child_line(&c, ln, sizeof ln));
    CHECKF(!strcmp(ln, ""), "got '%s'", ln);
    CHECK(sc_child_say(&c, "hello world\r\n") && sc_child_line(&c, ln, sizeof ln));
    CHECKF(!strcmp(ln, "21820 296 1"), "got '%s'", ln);
    char errs[4096];
    sc_child_err_now(&c, errs, sizeof errs);
    size_t extra = 1;
    CHECK(sc_child_end(&c, &extra) == 0 && extra == 0);
    CHECKF(errs[0] == '\0', "stderr '%s'", errs);

    /* --jsonl the same way, --no-eos honoured, pieces and ids paired */
    char *jsonl[] = {SC_SWITCHC_BIN, "tokenize", "--model=" MODEL, "--jsonl", NULL};
    CHECK(sc_child_start(&c, jsonl, SC_CHILD_PIPE, SC_CHILD_PIPE, SC_CHILD_PIPE));
    CHECK(sc_child_say(&c, "{\"text\": \"hello\"}\n") && sc_child_line(&c, ln, sizeof ln));
    CHECKF(!strcmp(ln, "{\"ids\": [21820, 1], \"pieces\": [\"\u2581hello\", \"</s>\"]}"), "got '%s'", ln);
    CHECK(sc_child_say(&c, "\n") && sc_child_line(&c, ln, sizeof ln));
    CHECKF(!strcmp(ln, ""), "got '%s'", ln);
    CHECK(sc_child_say(&c, "{\"text\": \"a </s>\"}\n") && sc_child_line(&c, ln, sizeof ln));
    CHECKF(!strcmp(ln, "{\"ids\": [3, 9, 1], \"pieces\": [\"\u2581\", \"a\", \"</s>\"]}"), "got '%s'", ln);
    CHECK(sc_child_end(&c, NULL) == 0);
    char *noeos[] = {SC_SWITCHC_BIN, "tokenize", "-m", MODEL, "--no-eos", "--jsonl", NULL};
    CHECK(sc_child_start(&c, noeos, SC_CHILD_PIPE, SC_CHILD_PIPE, SC_CHILD_PIPE));
    CHECK(sc_child_say(&c, "{\"text\": \"hello\"}\n") && sc_child_line(&c, ln, sizeof ln));
    CHECKF(!strcmp(ln, "{\"ids\": [21820], \"pieces\": [\"\u2581hello\"]}"), "got '%s'", ln);
    /* a bad line stops with its number, after the good ones were answered */
    CHECK(sc_child_say(&c, "{\"txt\": 1}\n"));
    CHECK(sc_child_end(&c, &extra) == 1 && extra == 0);

    /* stdin a terminal: it says it is reading, then works the same */
    char *tty[] = {SC_SWITCHC_BIN, "tokenize", "-m", MODEL, NULL};
    CHECK(sc_child_start(&c, tty, SC_CHILD_PTY, SC_CHILD_PIPE, SC_CHILD_PIPE));
    CHECK(sc_child_err_line(&c, ln, sizeof ln));
    CHECKF(!strcmp(ln, "switchc tokenize: reading text from standard input, one per line (Ctrl-D ends)"),
           "got '%s'", ln);
    CHECK(sc_child_say(&c, "hello\n") && sc_child_line(&c, ln, sizeof ln));
    CHECKF(!strcmp(ln, "21820 1"), "got '%s'", ln);
    CHECK(sc_child_say(&c, "\x04")); /* Ctrl-D at the start of a line: end of input */
    CHECK(sc_child_end(&c, &extra) == 0 && extra == 0);

    /* empty stdin: nothing to answer, success */
    static char text[1 << 16];
    snprintf(cmd, sizeof cmd, "'%s' tokenize -m '%s' </dev/null", SC_SWITCHC_BIN, MODEL);
    CHECK(sc_test_run(cmd, text, sizeof text) == 0 && text[0] == '\0');
    /* TEXT arguments: the pieces line has </s> too */
    snprintf(cmd, sizeof cmd, "'%s' tokenize -m '%s' hello </dev/null", SC_SWITCHC_BIN, MODEL);
    CHECK(sc_test_run(cmd, text, sizeof text) == 0);
    CHECKF(!strcmp(text, "ids: 21820 1\npieces: \"\u2581hello\" \"</s>\"\n"), "got '%s'", text);
    TEST_MAIN_END();
}
