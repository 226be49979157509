/* libFuzzer target: the recorded-runs reader of `switchc bench --compare`
 * (JSON lines), then, on what it accepts, the lookup and both reports. */
#include "cli/bench_records.h"

#include <stdint.h>
#include <stdio.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    bench_records r;
    sc_error err;
    if (bench_records_parse((const char *)data, size, "fuzz.jsonl", &r, &err) != SC_OK) return 0;
    const bench_run *last = &r.runs[r.n - 1];
    const bench_run *b = bench_records_find(&r, last->dtype, "amx", last->threads, last->mmap);
    FILE *f = fopen("/dev/null", "w");
    if (b && f) {
        bench_compare(f, &r.runs[0], b, "fuzz.jsonl", 10, false);
        bench_compare(f, &r.runs[0], b, "fuzz.jsonl", 0, true);
    }
    if (f) fclose(f);
    bench_records_free(&r);
    return 0;
}
