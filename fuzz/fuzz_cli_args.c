/* libFuzzer target: the CLI option parser (args_parse) on arbitrary argument
 * vectors. The input's first byte picks how positionals and unknown
 * arguments are taken (every args_pos x args_dash x args_say) and whether
 * there is a table; the rest, split at NUL bytes, is argv[1..] (at most 64
 * arguments). The table has every option kind, short and long names, a
 * range-checked int and double, a list of words, a callback and a name
 * longer than the suggestion search compares, so values inline
 * ("--opt=v") and apart, ranges, missing values, "--", "-m=v" and the
 * nearest-name search on unknown options are all reached. The parse must
 * never read past argv or write outside the options struct, and every
 * string it stores must point into argv; its messages go to stdout/stderr
 * (run_all.sh closes them). */
#include "cli/args.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    bool flag;
    const char *str, *pos;
    int64_t n;
    double d;
    int format, choice, rest;
    const char *called;
    int positionals;
} fuzz_opts;

static void usage(FILE *f) { fputs("usage: fuzz [options] [ARG]\n", f); }

static bool take_call(const char *cmd, const char *v, void *field) {
    (void)cmd;
    if (!v || !*v) return false;
    *(const char **)field = v;
    return true;
}

static int count_positional(void *opts, const char *arg) {
    fuzz_opts *o = opts;
    if (!strcmp(arg, "stop")) return 2;
    o->positionals++;
    return ARGS_GO;
}

static const char *const words[] = {"greedy", "beam", "sample", NULL};

#define AT(field) .off = offsetof(fuzz_opts, field)
static const args_opt options[] = {
    {"-f", "--flag", ARGS_FLAG, AT(flag)},
    {"-s", "--string", ARGS_STRING, AT(str)},
    {"-n", "--number", ARGS_INT, AT(n), .ilo = -5, .ihi = 1000},
    {NULL, "--ratio", ARGS_DOUBLE, AT(d), .dlo = 0.0, .dhi = 1.0, .label = "--ratio"},
    {NULL, "--format", ARGS_FORMAT, AT(format)},
    {NULL, "--mode", ARGS_CHOICE, AT(choice), .choices = words},
    {"-c", NULL, ARGS_CALL, AT(called), .call = take_call},
    {"-m", "--model", ARGS_STRING, AT(pos)}, /* shares the ARGS_POS_ONE field */
    {NULL, "--a-name-longer-than-any-that-the-nearest-name-search-compares-with-its-table", ARGS_FLAG, AT(flag)},
    {0},
};
#undef AT

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    const uint8_t mode = data[0];
    /* argv strings: one NUL-terminated copy of the rest of the input */
    char *buf = malloc(size);
    if (!buf) return 0;
    memcpy(buf, data + 1, size - 1);
    buf[size - 1] = '\0';
    char *argv[66];
    int argc = 0;
    argv[argc++] = "fuzz";
    for (char *p = buf; p < buf + size && argc < 65;) {
        argv[argc++] = p;
        p += strlen(p) + 1;
    }
    argv[argc] = NULL;

    args_spec spec = {.cmd = "fuzz", .usage = usage, .opts = mode & 0x40 ? NULL : options,
                      .unknown = (args_say)(mode & 3), .pos = (args_pos)((mode >> 2) & 3),
                      .dash = (args_dash)((mode >> 4) % 3), .pos_extra = "more than one ARG",
                      .pos_call = count_positional};
    spec.pos_off = spec.pos == ARGS_POS_REST ? offsetof(fuzz_opts, rest) : offsetof(fuzz_opts, pos);
    fuzz_opts o = {.format = -1, .rest = -1};
    int rc = args_parse(&spec, argc, argv, &o);
    /* what the parse reports must hold together */
    if (rc == ARGS_GO && spec.pos == ARGS_POS_REST && (o.rest < 1 || o.rest > argc)) abort();
    if (o.str && (o.str < buf || o.str >= buf + size)) abort();
    if (o.called && (o.called < buf || o.called >= buf + size)) abort();
    if (o.pos && (o.pos < buf || o.pos >= buf + size)) abort();
    if (rc == ARGS_GO && o.n && (o.n < -5 || o.n > 1000)) abort();
    if (rc == ARGS_GO && !(o.d >= 0.0 && o.d <= 1.0)) abort();
    free(buf);
    return 0;
}
