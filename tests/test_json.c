/* JSON reader: valid documents, every error kind at its byte offset, limits,
 * escapes, duplicates, lookups on large objects. */
#include "core/error.h"
#include "io/json.h"
#include "test_util.h"

#include <stdint.h>

static sc_json_doc *parse_ok(const char *s) {
    sc_json_doc *d = NULL;
    sc_error e;
    sc_error_clear(&e);
    sc_status st = sc_json_parse(s, strlen(s), "t.json", &d, &e);
    CHECKF(st == SC_OK, "parse of %.60s failed: %s", s, e.msg);
    return d;
}

/* Expects a failure with the given code at the given offset, and a message
 * that names the source and contains `frag`. */
static void parse_bad_n(const char *s, size_t n, sc_status code, size_t offset, const char *frag) {
    sc_json_doc *d = NULL;
    sc_error e;
    sc_error_clear(&e);
    sc_status st = sc_json_parse(s, n, "bad.json", &d, &e);
    CHECKF(st == code, "%.40s: status %d, want %d (%s)", s, (int)st, (int)code, e.msg);
    CHECKF(d == NULL, "%.40s: doc set on failure", s);
    CHECKF(e.offset == offset, "%.40s: offset %zu, want %zu (%s)", s, e.offset, offset, e.msg);
    char want[64];
    snprintf(want, sizeof want, "bad.json: byte %zu: ", offset);
    CHECKF(strstr(e.msg, want) != NULL, "%.40s: message '%s' lacks '%s'", s, e.msg, want);
    CHECKF(!frag || strstr(e.msg, frag) != NULL, "%.40s: message '%s' lacks '%s'", s, e.msg, frag);
    sc_json_free(d);
}
static void parse_bad(const char *s, sc_status code, size_t offset, const char *frag) {
    parse_bad_n(s, strlen(s), code, offset, frag);
}

static void test_valid(void) {
    sc_json_doc *d = parse_ok(" {\"a\": [1, -2.5, 3e2, true, false, null, \"x\"], \"b\": {}, \"c\": []}\n");
    const sc_json *r = sc_json_root(d);
    CHECK(sc_json_type_of(r) == SC_JSON_OBJECT);
    CHECK(sc_json_len(r) == 3);
    CHECK(sc_json_offset(r) == 1);
    const sc_json *a = sc_json_get(r, "a");
    CHECK(sc_json_type_of(a) == SC_JSON_ARRAY && sc_json_len(a) == 7);
    CHECK(sc_json_offset(a) == 7);
    int64_t i = 0;
    double x = 0;
    CHECK(sc_json_int(sc_json_at(a, 0), &i) && i == 1);
    CHECK(sc_json_number(sc_json_at(a, 1), &x) && x == -2.5);
    CHECK(!sc_json_int(sc_json_at(a, 1), &i));
    CHECK(sc_json_int(sc_json_at(a, 2), &i) && i == 300);
    bool b = false;
    CHECK(sc_json_bool(sc_json_at(a, 3), &b) && b);
    CHECK(sc_json_bool(sc_json_at(a, 4), &b) && !b);
    CHECK(sc_json_type_of(sc_json_at(a, 5)) == SC_JSON_NULL);
    size_t n = 0;
    CHECK(strcmp(sc_json_string(sc_json_at(a, 6), &n), "x") == 0 && n == 1);
    CHECK(sc_json_at(a, 7) == NULL);
    CHECK(!sc_json_bool(sc_json_at(a, 0), &b));
    CHECK(sc_json_string(sc_json_at(a, 0), NULL) == NULL);
    CHECK(sc_json_len(sc_json_get(r, "b")) == 0 && sc_json_type_of(sc_json_get(r, "b")) == SC_JSON_OBJECT);
    CHECK(sc_json_get(sc_json_get(r, "b"), "a") == NULL);
    CHECK(sc_json_len(sc_json_get(r, "c")) == 0);
    CHECK(sc_json_get(r, "zz") == NULL);
    CHECK(sc_json_get(a, "a") == NULL);
    CHECK(strcmp(sc_json_key_at(r, 1, &n), "b") == 0 && n == 1);
    CHECK(sc_json_key_at(r, 3, &n) == NULL);
    sc_json_free(d);

    /* scalars at top level, BOM skipped */
    d = parse_ok("42");
    CHECK(sc_json_int(sc_json_root(d), &i) && i == 42);
    sc_json_free(d);
    d = parse_ok("\xEF\xBB\xBF\"s\"");
    CHECK(strcmp(sc_json_string(sc_json_root(d), NULL), "s") == 0);
    sc_json_free(d);

    /* numbers: exact int64 limits, -0, exponents */
    d = parse_ok("[9223372036854775807, -9223372036854775808, 9223372036854775808, -0, 1E+2, 1e-2, 0.5,"
                 " 1e400, 123456789012345678901234567890]");
    a = sc_json_root(d);
    CHECK(sc_json_int(sc_json_at(a, 0), &i) && i == INT64_MAX);
    CHECK(sc_json_int(sc_json_at(a, 1), &i) && i == INT64_MIN);
    CHECK(!sc_json_int(sc_json_at(a, 2), &i));
    CHECK(sc_json_int(sc_json_at(a, 3), &i) && i == 0);
    CHECK(sc_json_int(sc_json_at(a, 4), &i) && i == 100);
    CHECK(sc_json_number(sc_json_at(a, 5), &x) && x == 0.01);
    CHECK(sc_json_number(sc_json_at(a, 6), &x) && x == 0.5);
    CHECK(sc_json_number(sc_json_at(a, 7), &x) && isinf(x) && !sc_json_int(sc_json_at(a, 7), &i));
    CHECK(sc_json_number(sc_json_at(a, 8), &x) && x == 1.2345678901234568e29);
    sc_json_free(d);

    /* NULL-safety */
    sc_json_free(NULL);
    CHECK(sc_json_root(NULL) == NULL);
    CHECK(sc_json_len(NULL) == 0);
    CHECK(sc_json_get(NULL, "a") == NULL);
}

static void test_escapes(void) {
    sc_json_doc *d = parse_ok("[\"a\\\"b\\\\c\\/d\\b\\f\\n\\r\\t\", \"\\u00e9\\u4e2D\", \"\\ud83d\\ude00\","
                              " \"x\\u0000y\", \"raw \xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"]");
    const sc_json *a = sc_json_root(d);
    size_t n = 0;
    const char *s = sc_json_string(sc_json_at(a, 0), &n);
    CHECK(n == 12 && memcmp(s, "a\"b\\c/d\b\f\n\r\t", 12) == 0);
    s = sc_json_string(sc_json_at(a, 1), &n);
    CHECK(n == 5 && memcmp(s, "\xc3\xa9\xe4\xb8\xad", 5) == 0);
    s = sc_json_string(sc_json_at(a, 2), &n);
    CHECK(n == 4 && memcmp(s, "\xf0\x9f\x98\x80", 4) == 0);
    s = sc_json_string(sc_json_at(a, 3), &n);
    CHECK(n == 3 && memcmp(s, "x\0y", 4) == 0); /* embedded NUL, still NUL-terminated */
    s = sc_json_string(sc_json_at(a, 4), &n);
    CHECK(strcmp(s, "raw \xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80") == 0);
    sc_json_free(d);

    /* keys with escapes; a key with NUL is reachable via getn */
    d = parse_ok("{\"k\\u0000z\": 1, \"\\u00e9\": 2}");
    int64_t i = 0;
    CHECK(sc_json_int(sc_json_getn(sc_json_root(d), "k\0z", 3), &i) && i == 1);
    CHECK(sc_json_get(sc_json_root(d), "k") == NULL);
    CHECK(sc_json_int(sc_json_get(sc_json_root(d), "\xc3\xa9"), &i) && i == 2);
    sc_json_free(d);
}

static void test_errors(void) {
    parse_bad("", SC_ERR_FORMAT, 0, "unexpected end of input");
    parse_bad("   ", SC_ERR_FORMAT, 3, "unexpected end of input");
    parse_bad("{\"a\":1 \"b\":2}", SC_ERR_FORMAT, 7, "expected ',' or '}' in object");
    parse_bad("[1 2]", SC_ERR_FORMAT, 3, "expected ',' or ']' in array");
    parse_bad("{1:2}", SC_ERR_FORMAT, 1, "expected a string key");
    parse_bad("{\"a\" 1}", SC_ERR_FORMAT, 5, "expected ':'");
    parse_bad("{\"a\":1,}", SC_ERR_FORMAT, 7, "expected a string key"); /* trailing comma */
    parse_bad("[1,]", SC_ERR_FORMAT, 3, "expected a value");
    parse_bad("[1", SC_ERR_FORMAT, 2, "unexpected end of input in array");
    parse_bad("{\"a\":1", SC_ERR_FORMAT, 6, "unexpected end of input in object");
    parse_bad("{\"a\"", SC_ERR_FORMAT, 4, "unexpected end of input in object");
    parse_bad("{", SC_ERR_FORMAT, 1, "unexpected end of input in object");
    parse_bad("1 2", SC_ERR_FORMAT, 2, "unexpected data after");
    parse_bad("tru", SC_ERR_FORMAT, 0, "expected a value");
    parse_bad("nul", SC_ERR_FORMAT, 0, "expected a value");
    parse_bad("[truex]", SC_ERR_FORMAT, 5, "expected ',' or ']'");
    parse_bad("NaN", SC_ERR_FORMAT, 0, "expected a value");
    parse_bad("[Infinity]", SC_ERR_FORMAT, 1, "expected a value");
    parse_bad("-Infinity", SC_ERR_FORMAT, 1, "expected a digit");
    parse_bad("'a'", SC_ERR_FORMAT, 0, "expected a value");
    /* numbers */
    parse_bad("01", SC_ERR_FORMAT, 0, "leading zero");
    parse_bad("[-012]", SC_ERR_FORMAT, 1, "leading zero");
    parse_bad("+1", SC_ERR_FORMAT, 0, "expected a value");
    parse_bad("-", SC_ERR_FORMAT, 1, "expected a digit");
    parse_bad("1.", SC_ERR_FORMAT, 2, "after '.'");
    parse_bad(".5", SC_ERR_FORMAT, 0, "expected a value");
    parse_bad("1e", SC_ERR_FORMAT, 2, "exponent");
    parse_bad("1e+", SC_ERR_FORMAT, 3, "exponent");
    parse_bad("1.5x", SC_ERR_FORMAT, 3, "unexpected data after");
    parse_bad("0x10", SC_ERR_FORMAT, 1, "unexpected data after");
    /* strings */
    parse_bad("\"abc", SC_ERR_FORMAT, 0, "unterminated string");
    parse_bad("\"ab\\", SC_ERR_FORMAT, 0, "unterminated string");
    parse_bad("\"a\\nb", SC_ERR_FORMAT, 0, "unterminated string");
    parse_bad("[\"a\tb\"]", SC_ERR_FORMAT, 3, "control character");
    parse_bad("[\"a\\n\nb\"]", SC_ERR_FORMAT, 5, "control character");
    parse_bad("\"\\x\"", SC_ERR_FORMAT, 1, "invalid escape");
    parse_bad("\"\\u12\"", SC_ERR_FORMAT, 1, "4 hex digits");
    parse_bad("\"\\u12g4\"", SC_ERR_FORMAT, 1, "4 hex digits");
    parse_bad("\"ab\\ud800\"", SC_ERR_FORMAT, 3, "lone high surrogate");
    parse_bad("\"\\ud800\\u0041\"", SC_ERR_FORMAT, 1, "lone high surrogate");
    parse_bad("\"\\udc00\"", SC_ERR_FORMAT, 1, "lone low surrogate");
    parse_bad("\"\xff\"", SC_ERR_FORMAT, 1, "invalid UTF-8");
    parse_bad("\"\xc0\x80\"", SC_ERR_FORMAT, 1, "invalid UTF-8");         /* overlong NUL */
    parse_bad("\"ab\xed\xa0\x80\"", SC_ERR_FORMAT, 3, "invalid UTF-8");   /* encoded surrogate */
    parse_bad("\"\xf4\x90\x80\x80\"", SC_ERR_FORMAT, 1, "invalid UTF-8"); /* > U+10FFFF */
    parse_bad("\"\xe2\x82\"", SC_ERR_FORMAT, 1, "invalid UTF-8");         /* truncated */
    parse_bad("\"\\n\xe2\x82\"", SC_ERR_FORMAT, 3, "invalid UTF-8");      /* in the slow path */
    /* embedded NUL byte in the text (not an escape) */
    parse_bad_n("[1,\0]", 5, SC_ERR_FORMAT, 3, "expected a value");
    parse_bad_n("\"a\0\"", 4, SC_ERR_FORMAT, 2, "control character");

    /* NULL arguments */
    sc_json_doc *d = NULL;
    sc_error e;
    CHECK(sc_json_parse(NULL, 3, "x", &d, &e) == SC_ERR_INVALID_ARG);
    CHECK(sc_json_parse("1", 1, "x", NULL, &e) == SC_ERR_INVALID_ARG);
    CHECK(sc_json_parse("[", 1, "x", &d, NULL) == SC_ERR_FORMAT); /* err may be NULL */
    CHECK(sc_json_parse_file(SC_FIXTURES_DIR "/does-not-exist.json", 1 << 20, &d, &e) == SC_ERR_MISSING);
}

static void test_depth(void) {
    char buf[2 * (SC_JSON_MAX_DEPTH + 2) + 8];
    /* exactly SC_JSON_MAX_DEPTH nested arrays: fine */
    size_t n = 0;
    for (int i = 0; i < SC_JSON_MAX_DEPTH; i++) buf[n++] = '[';
    buf[n++] = '1';
    for (int i = 0; i < SC_JSON_MAX_DEPTH; i++) buf[n++] = ']';
    buf[n] = '\0';
    sc_json_doc *d = parse_ok(buf);
    sc_json_free(d);
    /* one more: refused at the offending bracket */
    n = 0;
    for (int i = 0; i < SC_JSON_MAX_DEPTH + 1; i++) buf[n++] = '[';
    for (int i = 0; i < SC_JSON_MAX_DEPTH + 1; i++) buf[n++] = ']';
    buf[n] = '\0';
    parse_bad(buf, SC_ERR_LIMIT, SC_JSON_MAX_DEPTH, "nesting");
    /* deep objects, and a hostile 100k-deep input that must not overflow the stack */
    size_t big = 100000;
    char *h = malloc(big + 1);
    for (size_t i = 0; i < big; i++) h[i] = (i % 2) ? '[' : '[';
    h[big] = '\0';
    parse_bad(h, SC_ERR_LIMIT, SC_JSON_MAX_DEPTH, "nesting");
    n = 0;
    for (int i = 0; i < SC_JSON_MAX_DEPTH + 1; i++) {
        memcpy(h + n, "{\"a\":", 5);
        n += 5;
    }
    h[n] = '\0';
    parse_bad(h, SC_ERR_LIMIT, SC_JSON_MAX_DEPTH * 5, "nesting");
    free(h);
}

static void test_huge_numbers(void) {
    /* A 4000-digit integer parses (as a double, +inf); a 5000-digit token is refused. */
    size_t n = 4000;
    char *s = malloc(6000);
    s[0] = '[';
    for (size_t i = 1; i <= n; i++) s[i] = '9';
    s[n + 1] = ']';
    s[n + 2] = '\0';
    sc_json_doc *d = parse_ok(s);
    double x = 0;
    int64_t i64 = 0;
    CHECK(sc_json_number(sc_json_at(sc_json_root(d), 0), &x) && isinf(x));
    CHECK(!sc_json_int(sc_json_at(sc_json_root(d), 0), &i64));
    sc_json_free(d);
    /* long fraction that is still an ordinary number */
    memcpy(s, "[0.", 3);
    for (size_t i = 3; i < 3000; i++) s[i] = '5';
    memcpy(s + 3000, "e-3]", 5);
    d = parse_ok(s);
    CHECK(sc_json_number(sc_json_at(sc_json_root(d), 0), &x) && fabs(x - 0.000555555) < 1e-9);
    sc_json_free(d);
    s[0] = '[';
    for (size_t i = 1; i <= 5000; i++) s[i] = '1';
    s[5001] = ']';
    s[5002] = '\0';
    parse_bad(s, SC_ERR_LIMIT, 1, "too long");
    free(s);
}

static void test_duplicates_and_big_objects(void) {
    sc_json_doc *d = parse_ok("{\"a\": 1, \"b\": 2, \"a\": 3}");
    int64_t i = 0;
    CHECK(sc_json_len(sc_json_root(d)) == 3);
    CHECK(sc_json_int(sc_json_get(sc_json_root(d), "a"), &i) && i == 3);
    CHECK(sc_json_int(sc_json_at(sc_json_root(d), 0), &i) && i == 1);
    sc_json_free(d);

    /* 50k keys with duplicates: hashed lookups, last wins */
    size_t nk = 50000;
    char *s = malloc(nk * 40 + 64);
    size_t n = 0;
    s[n++] = '{';
    for (size_t k = 0; k < nk; k++)
        n += (size_t)sprintf(s + n, "%s\"layer.%zu.weight\": %zu", k ? "," : "", k, k);
    n += (size_t)sprintf(s + n, ", \"layer.7.weight\": -7}");
    d = parse_ok(s);
    const sc_json *r = sc_json_root(d);
    CHECK(sc_json_len(r) == nk + 1);
    int ok = 1;
    char key[64];
    for (size_t k = 0; k < nk; k++) {
        snprintf(key, sizeof key, "layer.%zu.weight", k);
        int64_t want = k == 7 ? -7 : (int64_t)k;
        if (!sc_json_int(sc_json_get(r, key), &i) || i != want) ok = 0;
        size_t kl;
        const char *kk = sc_json_key_at(r, k, &kl);
        if (!kk || strcmp(kk, key) != 0 || kl != strlen(key)) ok = 0;
    }
    CHECK(ok);
    CHECK(sc_json_get(r, "layer.50000.weight") == NULL);
    CHECK(sc_json_get(r, "") == NULL);
    sc_json_free(d);
    free(s);
}

static void test_fixture_files(void) {
    sc_json_doc *d = NULL;
    sc_error e;
    sc_error_clear(&e);
    sc_status st = sc_json_parse_file(fixture_path("models/e8_step3_enc_dec0sparse_defaults/manifest.json"),
                                      64u << 20, &d, &e);
    CHECKF(st == SC_OK, "%s", e.msg);
    const sc_json *a = sc_json_get(sc_json_root(d), "encoder_sparse_layers");
    int64_t i = 0;
    CHECK(sc_json_len(a) == 2 && sc_json_int(sc_json_at(a, 1), &i) && i == 4);
    sc_json_free(d);
    st = sc_json_parse_file(fixture_path("models/e8_step3_enc_dec0sparse_defaults/manifest.json"), 10, &d, &e);
    CHECK(st == SC_ERR_LIMIT);
}

int main(void) {
    test_valid();
    test_escapes();
    test_errors();
    test_depth();
    test_huge_numbers();
    test_duplicates_and_big_objects();
    test_fixture_files();
    TEST_MAIN_END();
}
