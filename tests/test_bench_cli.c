/* `switchc bench --json` prints one JSON object whose keys scripts depend on
 * (the list plus the peak it divides by). Values are checked for
 * type and sanity only: timings are not tested. Also the usage errors. */
#include "io/json.h"
#include "test_util.h"

#define MODEL SC_FIXTURES_DIR "/../../models/switch-tiny-t5vocab"

static int run(const char *args, char *out, size_t cap) {
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "'%s' bench %s 2>&1", SC_SWITCHC_BIN, args);
    return sc_test_run(cmd, out, cap);
}

static double num(const sc_json *root, const char *key, bool *ok) {
    double v = 0;
    const sc_json *j = sc_json_get(root, key);
    *ok = j && sc_json_number(j, &v);
    return v;
}

int main(void) {
    static char out[1 << 16];
    const char *dtypes[] = {"f32", "bf16", "q8"};
    for (int d = 0; d < 3; d++) {
        char args[1024];
        snprintf(args, sizeof args, "-m '%s' --dtype %s -t 1 --json", MODEL, dtypes[d]);
        CHECK(run(args, out, sizeof out) == 0);
        sc_json_doc *doc;
        sc_error err;
        CHECKF(sc_json_parse(out, strlen(out), "bench output", &doc, &err) == SC_OK, "%s", out);
        if (!doc) continue;
        const sc_json *r = sc_json_root(doc);
        const char *s = sc_json_string(sc_json_get(r, "dtype"), NULL);
        CHECK(s && !strcmp(s, dtypes[d]));
        bool ok;
        CHECK(num(r, "threads", &ok) == 1 && ok);
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
    TEST_MAIN_END();
}
