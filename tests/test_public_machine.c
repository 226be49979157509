/* The public calls for dtype names and for the machine and its kernels
 * (switchc.h: sc_dtype_from_label, sc_dtype_label, sc_cpu_feature_names,
 * sc_default_threads, sc_kernel_table*), through the public header only, as
 * the CLI's `info` uses them. Leaves out what the tables compute (the
 * kernel tests compare them with the reference). */
#include "switchc.h"
#include "test_util.h"

static void test_dtype_labels(void) {
    static const struct { const char *s; sc_dtype t; } ok[] = {
        {"f32", SC_DTYPE_F32}, {"fp32", SC_DTYPE_F32}, {"float32", SC_DTYPE_F32}, {"bf16", SC_DTYPE_BF16},
        {"bfloat16", SC_DTYPE_BF16}, {"f16", SC_DTYPE_F16}, {"fp16", SC_DTYPE_F16},
        {"float16", SC_DTYPE_F16}, {"q8", SC_DTYPE_I8}, {"int8", SC_DTYPE_I8},
    };
    for (size_t i = 0; i < sizeof ok / sizeof *ok; i++) {
        sc_dtype t = SC_DTYPE_COUNT;
        CHECKF(sc_dtype_from_label(ok[i].s, &t) && t == ok[i].t, "'%s'", ok[i].s);
    }
    static const char *const bad[] = {"F32", "BF16", "i8", "", "f32 ", "f", "q4", "as-stored"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        sc_dtype t = SC_DTYPE_BOOL;
        CHECKF(!sc_dtype_from_label(bad[i], &t) && t == SC_DTYPE_BOOL, "'%s' refused, *out untouched", bad[i]);
    }
    sc_dtype t = SC_DTYPE_BOOL;
    CHECK(!sc_dtype_from_label(NULL, &t) && t == SC_DTYPE_BOOL);
    CHECK(!sc_dtype_from_label("f32", NULL));
    /* each label reads back as its dtype */
    const sc_dtype compute[] = {SC_DTYPE_F32, SC_DTYPE_BF16, SC_DTYPE_F16, SC_DTYPE_I8};
    for (size_t i = 0; i < sizeof compute / sizeof *compute; i++) {
        sc_dtype back = SC_DTYPE_COUNT;
        CHECK(sc_dtype_from_label(sc_dtype_label(compute[i]), &back) && back == compute[i]);
    }
    CHECK(!strcmp(sc_dtype_label(SC_DTYPE_I8), "q8"));
    CHECK(!strcmp(sc_dtype_label(SC_DTYPE_COUNT), "as-stored"));
    CHECK(!strcmp(sc_dtype_label(SC_DTYPE_I64), "as-stored"));
}

static void test_cpu_features(void) {
    char full[512];
    sc_cpu_feature_names(full, sizeof full);
    CHECK(full[0] != '\0' && strlen(full) < sizeof full);
    /* a buffer too small keeps whole names (a prefix of the full list) */
    if (strchr(full, ' ')) {
        size_t first = (size_t)(strchr(full, ' ') - full);
        char small[64];
        memset(small, 'x', sizeof small);
        sc_cpu_feature_names(small, first + 2);
        CHECKF(strlen(small) == first && !strncmp(small, full, first), "'%s' vs '%s'", small, full);
    }
    char one = 'x';
    sc_cpu_feature_names(&one, 1);
    CHECK(one == '\0');
    sc_cpu_feature_names(NULL, 10); /* no-op */
    sc_cpu_feature_names(full, 0);
    CHECK(sc_default_threads() >= 1);
}

static void test_kernel_tables(void) {
    const char *const *names = sc_kernel_tables();
    CHECK(names != NULL);
    size_t n = 0;
    bool has_ref = false, has_best = false, has_exact = false;
    const char *best = sc_kernel_table_best(), *exact = sc_kernel_table_exact();
    CHECK(best && exact);
    for (; names && names[n]; n++) {
        has_ref |= !strcmp(names[n], "ref");
        has_best |= best && !strcmp(names[n], best);
        has_exact |= exact && !strcmp(names[n], exact);
        CHECKF(strcmp(names[n], "best") && strcmp(names[n], "exact"), "alias %s listed", names[n]);
    }
    CHECK(n >= 2 && has_ref && has_best && has_exact);
    /* the reference table runs everywhere and computes every weight dtype */
    CHECK(sc_kernel_table_supported("ref"));
    CHECK(sc_kernel_table_supported("best") && sc_kernel_table_supported(best));
    CHECK(sc_kernel_table_supported("exact") && sc_kernel_table_supported(exact));
    CHECK(!sc_kernel_table_supported("no-such-table") && !sc_kernel_table_supported(NULL));
    const sc_dtype dts[] = {SC_DTYPE_F32, SC_DTYPE_BF16, SC_DTYPE_F16, SC_DTYPE_I8};
    for (size_t i = 0; i < sizeof dts / sizeof *dts; i++) {
        const char *impl = sc_kernel_table_matmul("ref", dts[i]);
        CHECKF(impl && impl[0], "ref %s", sc_dtype_name(dts[i]));
        CHECKF(sc_kernel_table_matmul(best, dts[i]) != NULL, "%s %s", best, sc_dtype_name(dts[i]));
    }
    CHECK(sc_kernel_table_matmul("no-such-table", SC_DTYPE_F32) == NULL);
    CHECK(sc_kernel_table_matmul(NULL, SC_DTYPE_F32) == NULL);
    CHECK(sc_kernel_table_matmul("ref", SC_DTYPE_COUNT) == NULL);
    CHECK(sc_kernel_table_matmul("ref", (sc_dtype)-1) == NULL);
    /* a table this CPU lacks has no implementations to show */
    for (size_t i = 0; names && names[i]; i++)
        if (!sc_kernel_table_supported(names[i]))
            CHECKF(sc_kernel_table_matmul(names[i], SC_DTYPE_F32) == NULL, "%s", names[i]);
}

int main(void) {
    test_dtype_labels();
    test_cpu_features();
    test_kernel_tables();
    TEST_MAIN_END();
}
