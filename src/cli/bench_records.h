/* Recorded `switchc bench --json` runs, and a new run compared with one of
 * them (`switchc bench --compare FILE`).
 *
 * A file of recorded runs is JSON lines: every non-blank line is one object
 * as `switchc bench --json` prints it (other keys are ignored), so a run's
 * output appended to the file records it. A line needs "dtype" (a string)
 * and "threads" (an integer); "kernels": {"table": ...} is optional (absent,
 * the line matches any table), so is "mmap" (a boolean, absent: true, the
 * weights were mapped; false: read into memory, `--no-mmap`); each compared
 * figure is optional, and where present a finite number >= 0. Anything else
 * is an error naming the file, the line and the key. */
#ifndef SC_CLI_BENCH_RECORDS_H
#define SC_CLI_BENCH_RECORDS_H

#include "switchc.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* The compared figures, in report order. */
enum { BENCH_LOAD, BENCH_ENC1, BENCH_ENC8, BENCH_DECODE, BENCH_RSS, BENCH_N_FIGURES };

typedef struct bench_run {
    char dtype[16];  /* "bf16" */
    char table[32];  /* "amx"; "" when the line does not say */
    int64_t threads;
    bool mmap;       /* weights mapped (false: --no-mmap) */
    int64_t line;    /* 1-based line of the file (0: not from a file) */
    double v[BENCH_N_FIGURES]; /* NAN where not recorded */
} bench_run;

typedef struct bench_records {
    bench_run *runs;
    size_t n;
} bench_records;

/* Parses text[0..len); `source` names it in errors ("FILE:LINE: ...").
 * On error *out is left empty. */
sc_status bench_records_parse(const char *text, size_t len, const char *source, bench_records *out,
                              sc_error *err);
/* Reads and parses the file at path (at most 16 MiB). */
sc_status bench_records_read(const char *path, bench_records *out, sc_error *err);
void bench_records_free(bench_records *r);

/* The last recorded run of this dtype, table, thread count and weight
 * reading (a run that names no table matches any), or NULL. */
const bench_run *bench_records_find(const bench_records *r, const char *dtype, const char *table,
                                    int64_t threads, bool mmap);

/* Writes the comparison of now with rec to f: text lines, or (json) the
 * value of a "compare" key. A figure is worse when it is slower, or larger
 * for load time and RSS, by more than tolerance_pct percent of the recorded
 * value (load time also by more than 50 ms: warm, it takes milliseconds, and
 * their noise is no regression). Returns how many figures are worse. */
int bench_compare(FILE *f, const bench_run *now, const bench_run *rec, const char *path, double tolerance_pct,
                  bool json);

#endif
