/* switchc train, end to end on the shipped tiny model (real T5 tokenizer,
 * dropout 0.1 from its config):
 *  - a copy task: the loss falls, the log has the documented keys, --eval
 *    keeps the best, and OUT loads in `switchc generate`;
 *  - stop + --resume draws the loss curve of the uninterrupted run and ends
 *    with the same weights, byte for byte (optimizer state, data position,
 *    dropout streams restored);
 *  - SIGINT: the update under way ends, OUT/checkpoint-<step> is saved, exit
 *    130, and --resume continues from it;
 *  - span corruption on plain text runs;
 *  - refusals: OUT holding a checkpoint training did not write, adamw
 *    without --lr, a bad data line (named with its line), missing options. */
#define _GNU_SOURCE
#include "test_util.h"
#include "test_child.h"

#include <math.h>
#include <stdarg.h>
#include <sys/stat.h>

#define MODEL SC_FIXTURES_DIR "/../../models/switch-tiny-t5vocab"
#define TMP SC_TMP_DIR "/train_cli"

static char out[1 << 16];

static void write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "wb");
    CHECKF(f != NULL, "cannot write %s", path);
    if (!f) return;
    fputs(text, f);
    fclose(f);
}

static int run(const char *fmt, ...) {
    char cmd[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    return sc_test_run(cmd, out, sizeof out);
}

/* The "loss" values of a log's update lines, in order, as text. */
static size_t losses(const char *log, char *buf, size_t cap) {
    FILE *f = fopen(log, "rb");
    size_t n = 0, k = 0;
    if (!f) return 0;
    char line[4096];
    buf[0] = 0;
    while (fgets(line, sizeof line, f)) {
        const char *p = strstr(line, "\"loss\": ");
        if (!p || strstr(line, "eval_loss")) continue;
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (n + len + 2 < cap) {
            memcpy(buf + n, p, len);
            n += len;
            buf[n++] = '\n';
            buf[n] = 0;
        }
        k++;
    }
    fclose(f);
    return k;
}

static double first_last(const char *log, double *last) {
    char buf[1 << 14];
    losses(log, buf, sizeof buf);
    double first = NAN;
    *last = NAN;
    for (const char *p = buf; (p = strstr(p, "\"loss\": ")); p++) {
        double v = strtod(p + 8, NULL);
        if (isnan(first)) first = v;
        *last = v;
    }
    return first;
}

int main(void) {
    mkdir(SC_TMP_DIR, 0777);
    run("rm -rf '%s' && mkdir -p '%s'", TMP, TMP);
    char data[4096] = "";
    for (int i = 0; i < 16; i++) {
        char line[256];
        snprintf(line, sizeof line, "{\"input\": \"copy: word%d and more %d\", \"target\": \"word%d and more %d\"}\n",
                 i, i, i, i);
        strcat(data, line);
    }
    write_file(TMP "/train.jsonl", data);
    write_file(TMP "/dev.jsonl", "{\"input\": \"copy: word1 and more 1\", \"target\": \"word1 and more 1\"}\n"
                                 "{\"input\": \"copy: word2 and more 2\", \"target\": \"word2 and more 2\"}\n");

    /* a run with evaluation */
    int rc = run("%s train -m %s --data %s/train.jsonl --eval %s/dev.jsonl --eval-every 10 -o %s/run --steps 30 "
                 "--optimizer adamw --lr 1e-3 --batch-size 4 --log-every 5 --log-json %s/run.log --quiet 2>&1",
                 SC_SWITCHC_BIN, MODEL, TMP, TMP, TMP, TMP);
    CHECKF(rc == 0, "train exit %d: %s", rc, out);
    CHECKF(strstr(out, "the best evaluated") != NULL, "%s", out);
    double last, first = first_last(TMP "/run.log", &last);
    printf("copy task: loss %.4f -> %.4f\n", first, last);
    CHECKF(last < first - 0.5, "the loss went from %.4f to %.4f", first, last);
    rc = run("grep -c '\"eval_loss\"' %s/run.log", TMP);
    CHECKF(rc == 0 && atoi(out) == 3, "eval lines: %s", out);
    rc = run("head -1 %s/run.log", TMP);
    const char *keys[] = {"\"step\": 5,", "\"epoch\": ", "\"loss\": ", "\"ce\": ", "\"lr\": 0.001,", "\"grad_norm\": ",
                          "\"tokens_per_s\": ", "\"elapsed_s\": "};
    for (size_t k = 0; k < sizeof keys / sizeof *keys; k++) CHECKF(strstr(out, keys[k]) != NULL, "%s in %s", keys[k], out);
    rc = run("%s generate -m %s/run --max-new-tokens 8 'copy: word3 and more 3' 2>&1", SC_SWITCHC_BIN, TMP);
    CHECKF(rc == 0 && out[0] != 0, "generate on the trained model: exit %d: %s", rc, out);
    struct stat st;
    CHECK(stat(TMP "/run/trainer_state.json", &st) == 0 && stat(TMP "/run/optimizer.safetensors", &st) == 0);
    CHECK(stat(TMP "/run/spiece.model", &st) == 0);

    /* resume = uninterrupted, byte for byte */
    const char *common = "--data " TMP "/train.jsonl --batch-size 4 --log-every 1 --quiet";
    rc = run("%s train -m %s %s -o %s/A --steps 10 --log-json %s/A.log 2>&1", SC_SWITCHC_BIN, MODEL, common, TMP,
             TMP);
    CHECKF(rc == 0, "%s", out);
    rc = run("%s train -m %s %s -o %s/B --steps 4 --log-json %s/B.log 2>&1", SC_SWITCHC_BIN, MODEL, common, TMP, TMP);
    CHECKF(rc == 0, "%s", out);
    rc = run("%s train -m %s %s -o %s/B --steps 10 --log-json %s/B.log --resume 2>&1", SC_SWITCHC_BIN, MODEL, common,
             TMP, TMP);
    CHECKF(rc == 0 && strstr(out, "resuming") != NULL, "%s", out);
    char la[1 << 14], lb[1 << 14];
    size_t na = losses(TMP "/A.log", la, sizeof la), nb = losses(TMP "/B.log", lb, sizeof lb);
    CHECKF(na == 10 && nb == 10 && strcmp(la, lb) == 0, "%zu and %zu lines:\n%s---\n%s", na, nb, la, lb);
    CHECK(sc_test_files_equal(TMP "/A/model.safetensors", TMP "/B/model.safetensors"));

    /* SIGINT: a checkpoint, exit 130, then --resume from it */
    char bin[4096], mdir[4096], outdir[4096], datap[4096];
    snprintf(bin, sizeof bin, "%s", SC_SWITCHC_BIN);
    snprintf(mdir, sizeof mdir, "%s", MODEL);
    snprintf(outdir, sizeof outdir, "%s/C", TMP);
    snprintf(datap, sizeof datap, "%s/train.jsonl", TMP);
    char *const argv[] = {bin, "train", "-m", mdir, "--data", datap, "-o", outdir, "--steps", "100000",
                          "--batch-size", "4", "--quiet", NULL};
    sc_child c;
    if (sc_child_start(&c, argv, SC_CHILD_NULL, SC_CHILD_PIPE, SC_CHILD_PIPE)) {
        char line[1024];
        CHECK(sc_child_err_line(&c, line, sizeof line) && strstr(line, "examples") != NULL);
        usleep(300 * 1000);
        kill(c.pid, SIGINT);
        char err[4096];
        int status = sc_child_end(&c, NULL);
        sc_child_err_now(&c, err, sizeof err);
        CHECKF(status == 130, "exit %d", status);
        rc = run("ls -d %s/C/checkpoint-* | wc -l", TMP);
        CHECKF(atoi(out) == 1, "checkpoints: %s", out);
        rc = run("%s train -m %s --data %s/train.jsonl -o %s/C --batch-size 4 --quiet --resume --steps 100000 "
                 "2>%s/C.err & pid=$!; for i in $(seq 600); do grep -q examples %s/C.err && break; sleep 0.1; "
                 "done; kill -INT $pid; wait $pid; echo \"exit $?\"; cat %s/C.err",
                 SC_SWITCHC_BIN, MODEL, TMP, TMP, TMP, TMP, TMP);
        CHECKF(strstr(out, "exit 130") != NULL && strstr(out, "resuming") != NULL, "%s", out);
    } else {
        CHECK(0);
    }

    /* span corruption on plain text */
    write_file(TMP "/text.txt", "The quick brown fox jumps over the lazy dog near the river bank today.\n"
                                "A second document talks about something else entirely, with more words.\n\n"
                                "Short one here with a few more tokens to mask.\n");
    rc = run("%s train -m %s --data %s/text.txt --objective span-corruption --max-source-length 32 -o %s/span "
             "--steps 3 --batch-size 2 --log-every 1 --log-json %s/span.log --quiet 2>&1",
             SC_SWITCHC_BIN, MODEL, TMP, TMP, TMP);
    CHECKF(rc == 0, "%s", out);
    double l1, l0 = first_last(TMP "/span.log", &l1);
    CHECK(isfinite(l0) && isfinite(l1));

    /* refusals */
    rc = run("%s train -m %s --data %s/train.jsonl -o %s --steps 1 2>&1", SC_SWITCHC_BIN, MODEL, TMP, MODEL);
    CHECKF(rc == 1 && strstr(out, "already holds") != NULL, "exit %d: %s", rc, out);
    rc = run("%s train -m %s --data %s/train.jsonl -o %s/x --optimizer adamw 2>&1", SC_SWITCHC_BIN, MODEL, TMP, TMP);
    CHECKF(rc == 2 && strstr(out, "needs --lr") != NULL, "exit %d: %s", rc, out);
    rc = run("%s train -m %s -o %s/x 2>&1", SC_SWITCHC_BIN, MODEL, TMP);
    CHECKF(rc == 2 && strstr(out, "required") != NULL, "exit %d: %s", rc, out);
    write_file(TMP "/bad.jsonl", "{\"input\": \"a\", \"target\": \"b\"}\n{\"input\": 3}\n");
    rc = run("%s train -m %s --data %s/bad.jsonl -o %s/bad --steps 1 2>&1", SC_SWITCHC_BIN, MODEL, TMP, TMP);
    CHECKF(rc == 1 && strstr(out, "bad.jsonl:2") != NULL, "exit %d: %s", rc, out);
    rc = run("%s train -m %s --data %s/train.jsonl -o %s/x --resume 2>&1", SC_SWITCHC_BIN, MODEL, TMP, TMP);
    CHECKF(rc == 1 && strstr(out, "no saved run") != NULL, "exit %d: %s", rc, out);
    /* the log aimed at the data (through a link): refused, the data keeps its bytes */
    run("cp %s/train.jsonl %s/keep.jsonl && ln -sf %s/train.jsonl %s/log-link", TMP, TMP, TMP, TMP);
    rc = run("%s train -m %s --data %s/train.jsonl -o %s/y --steps 1 --log-json %s/log-link 2>&1", SC_SWITCHC_BIN,
             MODEL, TMP, TMP, TMP);
    CHECKF(rc == 2 && strstr(out, "is the --data file") != NULL, "exit %d: %s", rc, out);
    CHECK(sc_test_files_equal(TMP "/train.jsonl", TMP "/keep.jsonl"));
    /* a damaged trainer_state.json: --resume names the file and the problem */
    write_file(TMP "/run/trainer_state.json", "{\"format\": \"switchc-trainer-state\", \"version\": 1, \"step\": -4}\n");
    rc = run("%s train -m %s --data %s/train.jsonl -o %s/run --resume --steps 40 2>&1", SC_SWITCHC_BIN, MODEL, TMP,
             TMP);
    CHECKF(rc == 1 && strstr(out, "trainer_state.json has no readable step count") != NULL, "exit %d: %s", rc, out);
    write_file(TMP "/run/trainer_state.json", "{\"format\": \"switchc-trainer-state\", \"ver");
    rc = run("%s train -m %s --data %s/train.jsonl -o %s/run --resume --steps 40 2>&1", SC_SWITCHC_BIN, MODEL, TMP,
             TMP);
    CHECKF(rc == 1 && strstr(out, "trainer_state.json has no readable step count") != NULL, "exit %d: %s", rc, out);
    /* a state whose counts parse but do not fit: the library's check names the file */
    write_file(TMP "/run/trainer_state.json", "{\"format\": \"switchc-trainer-state\", \"version\": 1, "
                                              "\"optimizer\": \"adafactor\", \"step\": 9, \"micro_batches\": 2, "
                                              "\"pending\": 0, \"freeze\": 0}\n");
    rc = run("%s train -m %s --data %s/train.jsonl -o %s/run --resume --steps 40 2>&1", SC_SWITCHC_BIN, MODEL, TMP,
             TMP);
    CHECKF(rc == 1 && strstr(out, "trainer_state.json: step, micro_batches") != NULL, "exit %d: %s", rc, out);
    TEST_MAIN_END();
}
