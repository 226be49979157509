/* A tiny test harness: CHECK records failures without stopping, and
 * TEST_MAIN_END prints the machine-readable summary `N passed, N failed`.
 * Each tests/test_*.c is one ctest test. */
#ifndef SC_TEST_UTIL_H
#define SC_TEST_UTIL_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* Path under the fixtures directory (static buffer, one at a time). */
static inline const char *fixture_path(const char *rel) {
    static char buf[4096];
    snprintf(buf, sizeof buf, "%s/%s", SC_FIXTURES_DIR, rel);
    return buf;
}

#endif
