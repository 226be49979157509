/* `switchc bench --json` prints one JSON object whose keys scripts depend on
 * (the list plus the peak it divides by). Values are checked for
 * type and sanity only: timings are not tested. Also the usage errors. */
#include "io/json.h"
#include "kernels/kernels.h"
#include "test_util.h"

#include <sys/stat.h>

#define MODEL SC_FIXTURES_DIR "/../../models/switch-tiny-t5vocab"

static int run(const char *args, char *out, size_t cap) {
    char cmd[16384];
    snprintf(cmd, sizeof cmd, "'%s' bench %s 2>&1", SC_SWITCHC_BIN, args);
    return sc_test_run(cmd, out, cap);
}

static double num(const sc_json *root, const char *key, bool *ok) {
    double v = 0;
    const sc_json *j = sc_json_get(root, key);
    *ok = j && sc_json_number(j, &v);
    return v;
}

/* Writes text to SC_TMP_DIR/name and returns the path (static buffer). */
static const char *tmp_file(const char *name, const char *text) {
    static char path[4096];
    mkdir(SC_TMP_DIR, 0777);
    snprintf(path, sizeof path, "%s/%s", SC_TMP_DIR, name);
    FILE *f = fopen(path, "wb");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
    return path;
}

/* bench on the tiny f32 model, 1 thread, against recorded runs `text`;
 * returns the exit status, output in out. */
static int compare_run(const char *text, const char *more, char *out, size_t cap) {
    char args[8192];
    const char *path = tmp_file("bench_records.jsonl", text);
    snprintf(args, sizeof args, "-m '%s' -t 1 --compare '%s' %s", MODEL, path, more);
    return run(args, out, cap);
}

/* --compare: the verdicts and the exit status (timings are not tested: the
 * recorded figures are far beyond anything this model can reach or miss), the
 * JSON "compare" object, and bad record files. */
static void test_compare(char *out, size_t cap) {
    /* recorded far slower and larger than any run: nothing is worse */
    const char *slow = "{\"dtype\": \"f32\", \"threads\": 1, \"load_s\": 1000, \"encoder_1x128_tok_s\": 0.001, "
                       "\"encoder_8x128_tok_s\": 0.001, \"decode_ms_per_token\": 1e9, \"peak_rss_bytes\": 1e15}\n";
    /* recorded far faster: both encoder figures and decode are worse */
    const char *fast = "{\"dtype\": \"f32\", \"threads\": 1, \"kernels\": {\"table\": \"%s\"}, "
                       "\"encoder_1x128_tok_s\": 1e15, \"encoder_8x128_tok_s\": 1e15, \"decode_ms_per_token\": 1e-9}\n";
    CHECKF(compare_run(slow, "", out, cap) == 0 && strstr(out, "0 of 5 figures worse"), "%s", out);
    CHECK(compare_run(slow, "--json", out, cap) == 0);
    sc_json_doc *doc = NULL;
    sc_error err;
    CHECKF(sc_json_parse(out, strlen(out), "bench --json --compare", &doc, &err) == SC_OK, "%s", out);
    const sc_json *c = doc ? sc_json_get(sc_json_root(doc), "compare") : NULL;
    int64_t worse = -1, compared = -1, line = -1;
    CHECK(c && sc_json_int(sc_json_get(c, "worse"), &worse) && worse == 0);
    CHECK(c && sc_json_int(sc_json_get(c, "compared"), &compared) && compared == 5);
    CHECK(c && sc_json_int(sc_json_get(c, "line"), &line) && line == 1);
    const sc_json *fig = c ? sc_json_get(sc_json_get(c, "figures"), "encoder_8x128_tok_s") : NULL;
    double ratio = 0;
    CHECK(fig && sc_json_number(sc_json_get(fig, "ratio"), &ratio) && ratio > 1000);
    sc_json_free(doc);

    char text[2048];
    snprintf(text, sizeof text, fast, "ref-no-such-table");
    CHECKF(compare_run(text, "", out, cap) == 1 && strstr(out, "no recorded run for f32 weights"), "%s", out);
    const char *table = sc_kernels_best()->name; /* the table bench picks for f32 weights */
    snprintf(text, sizeof text, fast, table);
    CHECKF(compare_run(text, "", out, cap) == 3 && strstr(out, "3 of 3 figures worse") &&
               strstr(out, "worse than recorded by"),
           "%s", out);
    CHECK(compare_run(text, "--json", out, cap) == 3 && strstr(out, "\"worse\": 3}"));
    /* the last matching line wins; blank lines and other runs are skipped */
    char two[4096];
    snprintf(two, sizeof two, "%s\n   \n{\"dtype\": \"q8\", \"threads\": 1}\n%s", text, slow);
    CHECKF(compare_run(two, "", out, cap) == 0 && strstr(out, ".jsonl:5 "), "%s", out);
    /* a --no-mmap run is compared only with runs recorded "mmap": false */
    CHECKF(compare_run(slow, "--no-mmap", out, cap) == 1 && strstr(out, "threads, --no-mmap"), "%s", out);
    snprintf(two, sizeof two, "{\"dtype\": \"f32\", \"threads\": 1, \"mmap\": false}\n%s", slow);
    CHECKF(compare_run(two, "--no-mmap", out, cap) == 0 && strstr(out, ".jsonl:1 "), "%s", out);
    /* the tolerance's own arithmetic: test_bench_records.c */
    CHECK(compare_run(slow, "--tolerance -1", out, cap) == 2);

    /* bad files: exit 1, the file and line named */
    struct {
        const char *text, *msg;
    } bad[] = {
        {"", "no recorded runs"},
        {"\n \n", "no recorded runs"},
        {"{\"dtype\": \"f32\", \"threads\": 1}\n{\"dtype\": ", "bench_records.jsonl:2: byte"},
        {"[1, 2]", "bench_records.jsonl:1: a recorded run must be a JSON object"},
        {"{\"threads\": 1}", "\"dtype\" must be a short string"},
        {"{\"dtype\": \"f32f32f32f32f32f32\", \"threads\": 1}", "\"dtype\" must be a short string"},
        {"{\"dtype\": \"f32\", \"threads\": 0}", "\"threads\" must be an integer"},
        {"{\"dtype\": \"f32\", \"threads\": 1.5}", "\"threads\" must be an integer"},
        {"{\"dtype\": \"f32\", \"threads\": 1, \"kernels\": 5}", "\"kernels\" must be an object"},
        {"{\"dtype\": \"f32\", \"threads\": 1, \"load_s\": -1}", "\"load_s\" must be a finite number >= 0"},
        {"{\"dtype\": \"f32\", \"threads\": 1, \"decode_ms_per_token\": \"fast\"}", "\"decode_ms_per_token\" must be"},
        {"{\"dtype\": \"f32\", \"threads\": 1}\n\n{\"dtype\": \"f32\", \"threads\": 1,}", "bench_records.jsonl:3: byte"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        CHECKF(compare_run(bad[i].text, "", out, cap) == 1 && strstr(out, bad[i].msg) && !strstr(out, "encoder"),
               "case %zu: %s", i, out);
    char args[8192];
    snprintf(args, sizeof args, "-m '%s' --compare '%s/no-such-records.jsonl'", MODEL, SC_TMP_DIR);
    CHECKF(run(args, out, cap) == 1 && strstr(out, "no-such-records.jsonl"), "%s", out);
    CHECK(run("-m x --compare", out, cap) == 2);
}

int main(void) {
    static char out[1 << 16];
    const char *dtypes[] = {"f32", "bf16", "q8"};
    for (int d = 0; d < 3; d++) {
        char args[1024];
        /* q8 with the weights read into memory: "mmap": false */
        snprintf(args, sizeof args, "-m '%s' --dtype %s -t 1 --json%s", MODEL, dtypes[d], d == 2 ? " --no-mmap" : "");
        CHECK(run(args, out, sizeof out) == 0);
        sc_json_doc *doc;
        sc_error err;
        CHECKF(sc_json_parse(out, strlen(out), "bench output", &doc, &err) == SC_OK, "%s", out);
        if (!doc) continue;
        const sc_json *r = sc_json_root(doc);
        const char *s = sc_json_string(sc_json_get(r, "dtype"), NULL);
        CHECK(s && !strcmp(s, dtypes[d]));
        bool ok, mapped = false;
        CHECK(num(r, "threads", &ok) == 1 && ok);
        CHECK(sc_json_bool(sc_json_get(r, "mmap"), &mapped) && mapped == (d != 2));
        const char *positive[] = {"load_s", "encoder_1x128_tok_s", "encoder_8x128_tok_s", "decode_ms_per_token",
                                  "peak_rss_bytes", "encoder_gflop_s", "decode_gb_s", "read_bw_gb_s"};
        for (size_t k = 0; k < sizeof positive / sizeof *positive; k++) {
            double v = num(r, positive[k], &ok);
            CHECKF(ok && v >= 0, "%s: %s = %g", dtypes[d], positive[k], v);
        }
        /* percentages: a number (-1 where this machine has no measurable peak) */
        num(r, "encoder_pct_of_peak", &ok);
        CHECK(ok);
        num(r, "decode_pct_of_bandwidth", &ok);
        CHECK(ok);
        num(r, "compute_peak_gflop_s", &ok);
        CHECK(ok);
        const char *peak = sc_json_string(sc_json_get(r, "compute_peak"), NULL);
        CHECK(peak && (!strcmp(peak, "fp32-fma") || !strcmp(peak, "bf16-dot") || !strcmp(peak, "int8-vnni") ||
                       !strcmp(peak, "amx-bf16") || !strcmp(peak, "amx-int8")));
        /* f32 weights always run on fp32 arithmetic */
        if (d == 0) CHECK(peak && !strcmp(peak, "fp32-fma"));
        const sc_json *k = sc_json_get(r, "kernels");
        CHECK(k && sc_json_string(sc_json_get(k, "table"), NULL) && sc_json_string(sc_json_get(k, "matmul"), NULL));
        sc_json_free(doc);
    }
    CHECK(run("--json", out, sizeof out) == 2 && strstr(out, "needs -m DIR"));
    CHECK(run("-m x --dtype f64", out, sizeof out) == 2 && strstr(out, "--dtype takes"));
    CHECK(run("-m x -t 0", out, sizeof out) == 2);
    CHECK(run("--bogus", out, sizeof out) == 2 && strstr(out, "unknown argument"));
    CHECK(run("--help", out, sizeof out) == 0 && strstr(out, "usage: switchc bench"));
    test_compare(out, sizeof out);
    TEST_MAIN_END();
}
