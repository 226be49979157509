/* The public "benchmark figures" of switchc.h through the public header
 * only: the kernel table and dtypes a loaded model reports (a bf16 file
 * loaded as is and converted to f32, an f32 file converted to q8), the
 * instruction its matmuls run on, and the peaks' edge cases (an unknown
 * instruction, a buffer under one row per thread). The byte and flop
 * counts themselves are checked by test_bench_figures; nothing here is
 * timed. */
#include "switchc.h"
#include "test_util.h"
#include "fixture_model.h"

static bool known_peak(const char *k) {
    static const char *const names[] = {"fp32-fma", "bf16-dot", "int8-vnni", "amx-bf16", "amx-int8"};
    for (size_t i = 0; k && i < sizeof names / sizeof *names; i++)
        if (!strcmp(k, names[i])) return true;
    return false;
}

static void test_model_figures(void) {
    const char *bf16 = "e8_step2_untied_heads_ne_dmodel_bf16", *f32 = "e8_step2_untied_heads_ne_dmodel";
    sc_model *as_stored = fixture_model_load(bf16, SC_DTYPE_COUNT);
    sc_model *to_f32 = fixture_model_load(bf16, SC_DTYPE_F32), *to_q8 = fixture_model_load(f32, SC_DTYPE_I8);
    if (!as_stored || !to_f32 || !to_q8) goto out;
    CHECK(sc_model_matrix_dtype(as_stored) == SC_DTYPE_BF16 && sc_model_compute_dtype(as_stored) == SC_DTYPE_BF16);
    CHECK(sc_model_matrix_dtype(to_f32) == SC_DTYPE_F32 && sc_model_compute_dtype(to_f32) == SC_DTYPE_F32);
    CHECK(sc_model_compute_dtype(to_q8) == SC_DTYPE_I8);
    CHECK(!strcmp(sc_dtype_label(sc_model_compute_dtype(to_q8)), "q8"));
    /* the default table is "best", under its own name */
    CHECK(sc_model_kernel_table(as_stored) && !strcmp(sc_model_kernel_table(as_stored), sc_kernel_table_best()));
    CHECK(sc_kernel_table_matmul(sc_model_kernel_table(to_q8), sc_model_matrix_dtype(to_q8)) != NULL);
    CHECK(known_peak(sc_model_compute_peak(as_stored)) && known_peak(sc_model_compute_peak(to_q8)));
    /* fp32 weights on any table run on fp32 FMAs */
    CHECK(!strcmp(sc_model_compute_peak(to_f32), "fp32-fma"));
    /* a bf16 file converted to f32 streams the f32 bytes: twice the bf16 ones (norms aside) */
    double b16 = sc_model_decode_bytes(as_stored), b32 = sc_model_decode_bytes(to_f32);
    CHECKF(b32 > 1.9 * b16 && b32 < 2.1 * b16, "%g vs %g", b32, b16);
    CHECK(sc_model_encoder_flops(as_stored, 16, 16) == sc_model_encoder_flops(to_f32, 16, 16));
    CHECK(sc_model_encoder_flops(as_stored, 32, 16) > sc_model_encoder_flops(as_stored, 16, 16));
out:
    sc_model_free(as_stored);
    sc_model_free(to_f32);
    sc_model_free(to_q8);
}

static void test_null_and_edges(void) {
    CHECK(sc_model_kernel_table(NULL) == NULL && sc_model_compute_peak(NULL) == NULL);
    CHECK(sc_model_matrix_dtype(NULL) == SC_DTYPE_COUNT && sc_model_compute_dtype(NULL) == SC_DTYPE_COUNT);
    CHECK(sc_model_encoder_flops(NULL, 1, 1) == 0 && sc_model_decode_bytes(NULL) == 0);
    CHECK(sc_peak_ops("no-such-instruction", 1) == 0 && sc_peak_ops(NULL, 1) == 0);
    CHECK(sc_read_bandwidth(0, 1, 1) == 0);
    CHECK(sc_read_bandwidth(768 * 4, 2, 1) == 0); /* under a row per thread */
    CHECK(sc_read_bandwidth((size_t)1 << 20, 1, 1) > 0);
}

int main(void) {
    test_model_figures();
    test_null_and_edges();
    TEST_MAIN_END();
}
