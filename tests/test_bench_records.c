/* The recorded-runs reader and the comparison behind `switchc bench
 * --compare` (src/cli/bench_records.c, built into this test): which run is
 * matched, the tolerance arithmetic of every figure, and the report. The
 * CLI side (exit status, bad files through the binary) is test_bench_cli.c. */
#include "cli/bench_records.h"
#include "test_util.h"

#include <math.h>
#include <stdio.h>

/* The report of now against rec into buf (text or JSON); returns the count. */
static int report(const bench_run *now, const bench_run *rec, double tol, bool json, char *buf, size_t cap) {
    FILE *f = fmemopen(buf, cap, "w");
    int n = bench_compare(f, now, rec, "rec.jsonl", tol, json);
    fclose(f);
    return n;
}

static void test_parse_and_find(void) {
    const char *text = "{\"dtype\": \"bf16\", \"threads\": 2, \"kernels\": {\"table\": \"amx\"}, \"encoder_8x128_tok_s\": 5000}\n"
                       "\r\n"
                       "{\"dtype\": \"bf16\", \"threads\": 2, \"encoder_8x128_tok_s\": 4000, \"extra\": [1, {}]}\r\n"
                       "{\"dtype\": \"bf16\", \"threads\": 2, \"kernels\": {\"table\": \"avx512-vnni\"}}";
    bench_records r;
    sc_error err;
    CHECK(bench_records_parse(text, strlen(text), "rec.jsonl", &r, &err) == SC_OK);
    CHECK(r.n == 3);
    /* the last line naming the table, or naming none */
    const bench_run *b = bench_records_find(&r, "bf16", "amx", 2, true);
    CHECK(b && b->line == 3 && b->v[BENCH_ENC8] == 4000 && isnan(b->v[BENCH_ENC1]));
    b = bench_records_find(&r, "bf16", "avx512-vnni", 2, true);
    CHECK(b && b->line == 4 && !strcmp(b->table, "avx512-vnni"));
    CHECK(!bench_records_find(&r, "bf16", "amx", 1, true));
    CHECK(!bench_records_find(&r, "q8", "amx", 2, true));
    CHECK(!bench_records_find(&r, "bf16", "amx", 2, false)); /* no --no-mmap run recorded */
    bench_records_free(&r);
    /* "mmap": false lines match only --no-mmap runs; absent means mapped */
    const char *mm = "{\"dtype\": \"bf16\", \"threads\": 2, \"mmap\": false, \"encoder_1x128_tok_s\": 9}\n"
                     "{\"dtype\": \"bf16\", \"threads\": 2, \"mmap\": true, \"encoder_1x128_tok_s\": 8}\n";
    CHECK(bench_records_parse(mm, strlen(mm), "rec.jsonl", &r, &err) == SC_OK && r.n == 2);
    b = bench_records_find(&r, "bf16", "amx", 2, false);
    CHECK(b && b->line == 1 && !b->mmap && b->v[BENCH_ENC1] == 9);
    b = bench_records_find(&r, "bf16", "amx", 2, true);
    CHECK(b && b->line == 2 && b->mmap);
    bench_records_free(&r);
    const char *badmm = "{\"dtype\": \"bf16\", \"threads\": 2, \"mmap\": \"no\"}";
    CHECK(bench_records_parse(badmm, strlen(badmm), "rec.jsonl", &r, &err) == SC_ERR_FORMAT && r.n == 0);
    CHECKF(strstr(err.msg, "rec.jsonl:1: \"mmap\" must be true or false"), "%s", err.msg);
    CHECK(r.runs == NULL && r.n == 0);
    /* errors name source and line, and leave the output empty */
    CHECK(bench_records_parse("{}\n", 3, "rec.jsonl", &r, &err) == SC_ERR_FORMAT && r.n == 0);
    CHECKF(strstr(err.msg, "rec.jsonl:1: \"dtype\""), "%s", err.msg);
    const char nul[] = "{\"dtype\": \"f32\", \"threads\": 1}\n{\"dtype\": \"f\0\", \"threads\": 1}";
    CHECK(bench_records_parse(nul, sizeof nul - 1, "rec.jsonl", &r, &err) == SC_ERR_FORMAT);
    CHECKF(strstr(err.msg, "rec.jsonl:2: "), "%s", err.msg);
}

static void test_tolerance(void) {
    bench_run rec = {.dtype = "bf16", .threads = 2, .line = 7, .v = {0.010, 100, 100, 10, 1000}};
    bench_run now = rec;
    char buf[8192];
    CHECK(report(&now, &rec, 10, false, buf, sizeof buf) == 0);
    CHECKF(strstr(buf, "compared with rec.jsonl:7 (tolerance 10%)") && strstr(buf, "0 of 5 figures worse"), "%s", buf);
    /* tok/s: worse by rec / now - 1 */
    now.v[BENCH_ENC8] = 91; /* 9.9% */
    CHECK(report(&now, &rec, 10, false, buf, sizeof buf) == 0);
    now.v[BENCH_ENC8] = 90; /* 11.1% */
    CHECK(report(&now, &rec, 10, false, buf, sizeof buf) == 1);
    CHECKF(strstr(buf, "worse than recorded by 11%") && strstr(buf, "1 of 5 figures"), "%s", buf);
    CHECK(report(&now, &rec, 12, false, buf, sizeof buf) == 0);
    now.v[BENCH_ENC8] = 1000; /* faster is never worse */
    CHECK(report(&now, &rec, 0, false, buf, sizeof buf) == 0);
    /* ms/token and bytes: worse by now / rec - 1 */
    now.v[BENCH_DECODE] = 11.5;
    now.v[BENCH_RSS] = 1099; /* 9.9% */
    CHECK(report(&now, &rec, 10, false, buf, sizeof buf) == 1);
    CHECK(report(&now, &rec, 9.8, false, buf, sizeof buf) == 2);
    /* load: also 50 ms worse */
    now = rec;
    now.v[BENCH_LOAD] = 0.055; /* 450% but 45 ms */
    CHECK(report(&now, &rec, 10, false, buf, sizeof buf) == 0);
    now.v[BENCH_LOAD] = 0.070;
    CHECK(report(&now, &rec, 10, false, buf, sizeof buf) == 1);
    /* figures not recorded are shown, not compared */
    now = rec;
    rec.v[BENCH_ENC1] = NAN;
    rec.v[BENCH_RSS] = 0;
    CHECK(report(&now, &rec, 10, false, buf, sizeof buf) == 0);
    CHECKF(strstr(buf, "0 of 3 figures") && strstr(buf, "(not recorded)"), "%s", buf);
    /* JSON: null where not recorded */
    now.v[BENCH_ENC8] = 50;
    CHECK(report(&now, &rec, 10, true, buf, sizeof buf) == 1);
    CHECKF(strstr(buf, "\"encoder_1x128_tok_s\": {\"recorded\": null, \"now\": 100, \"ratio\": null, \"worse\": false}") &&
               strstr(buf, "\"encoder_8x128_tok_s\": {\"recorded\": 100, \"now\": 50, \"ratio\": 0.5, \"worse\": true}") &&
               strstr(buf, "\"compared\": 3, \"worse\": 1}") && strstr(buf, "{\"file\": \"rec.jsonl\", \"line\": 7, "),
           "%s", buf);
}

int main(void) {
    test_parse_and_find();
    test_tolerance();
    TEST_MAIN_END();
}
