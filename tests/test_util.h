/* A tiny test harness: CHECK records failures without stopping, and
 * TEST_MAIN_END prints the machine-readable summary `N passed, N failed`.
 * Each tests/test_*.c is one ctest test. */
#ifndef SC_TEST_UTIL_H
#define SC_TEST_UTIL_H

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

static int sc_test_passed, sc_test_failed;

#define CHECK(cond)                                                                \
    do {                                                                           \
        if (cond) {                                                                \
            sc_test_passed++;                                                      \
        } else {                                                                   \
            sc_test_failed++;                                                      \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
        }                                                                          \
    } while (0)

#define CHECKF(cond, ...)                                                          \
    do {                                                                           \
        if (cond) {                                                                \
            sc_test_passed++;                                                      \
        } else {                                                                   \
            sc_test_failed++;                                                      \
            fprintf(stderr, "%s:%d: CHECK failed: %s: ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                          \
            fputc('\n', stderr);                                                   \
        }                                                                          \
    } while (0)

#define TEST_MAIN_END()                                                            \
    do {                                                                           \
        printf("%d passed, %d failed\n", sc_test_passed, sc_test_failed);          \
        return sc_test_failed ? 1 : 0;                                             \
    } while (0)

/* Runs a shell command; its standard output goes to out (cap bytes,
 * NUL-terminated). Returns the exit status, or -1 if it did not exit. */
static inline int sc_test_run(const char *cmd, char *out, size_t cap) {
    FILE *f = popen(cmd, "r");
    if (!f) return -1;
    size_t n = fread(out, 1, cap - 1, f);
    out[n] = '\0';
    int rc = pclose(f);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

/* True when files a and b both open and hold the same bytes. */
static inline bool sc_test_files_equal(const char *a, const char *b) {
    FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
    bool eq = fa && fb;
    while (eq) {
        int ca = fgetc(fa), cb = fgetc(fb);
        if (ca != cb) eq = false;
        if (ca == EOF) break;
    }
    if (fa) fclose(fa);
    if (fb) fclose(fb);
    return eq;
}

/* Path under the fixtures directory (static buffer, one at a time). */
static inline const char *fixture_path(const char *rel) {
    static char buf[4096];
    snprintf(buf, sizeof buf, "%s/%s", SC_FIXTURES_DIR, rel);
    return buf;
}

#endif
