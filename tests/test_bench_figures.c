/* What `switchc bench` counts (sc_model_decode_bytes, sc_model_encoder_flops)
 * and how its timings fail (src/cli/bench_figures.c, built into this test):
 * the weight bytes of a decode step count every
 * expert at the size it computes in, converted or not yet (a bf16 file
 * loaded as f32 reads what the f32 file reads, and the reverse), and a
 * failing measurement always says why (an encoder batch nothing can hold is
 * an out-of-memory error with a message, never an unset one). Also the
 * decode-pattern read bandwidth: whole-row slices for odd sizes and thread
 * counts, 0 for a buffer under one row per thread. */
#include "cli/bench_figures.h"
#include "kernels/peak.h"
#include "model/model.h"
#include "model/session.h"
#include "test_util.h"
#include "fixture_model.h"

/* A request nothing can satisfy must come back as NULL under ASan too. */
const char *__asan_default_options(void);
const char *__asan_default_options(void) { return "allocator_may_return_null=1"; }

/* Makes expert 0 of every sparse layer resident (converted where the
 * compute dtype differs), as a decode that routed there would. */
static void use_expert0(sc_model *m) {
    for (int64_t l = 0; l < m->dec.n_blocks; l++) {
        const sc_block_weights *b = &m->dec.blocks[l];
        if (!b->sparse) continue;
        const sc_ffn_weights *w = NULL;
        CHECK(sc_expert_store_acquire(m->experts, b->moe_index, 0, NULL, &w, NULL) == SC_OK);
        sc_expert_store_release(m->experts, b->moe_index, 0, NULL);
    }
}

static void test_decode_bytes_converted(void) {
    /* the _bf16 case holds the f32 case's weights rounded to bf16 */
    const char *f32 = "e8_step2_untied_heads_ne_dmodel", *bf16 = "e8_step2_untied_heads_ne_dmodel_bf16";
    sc_model *a = fixture_model_load(f32, SC_DTYPE_AS_STORED), *b = fixture_model_load(bf16, SC_DTYPE_F32);
    sc_model *c = fixture_model_load(bf16, SC_DTYPE_AS_STORED), *d = fixture_model_load(f32, SC_DTYPE_BF16);
    if (!a || !b || !c || !d) goto out;
    const double f32_bytes = sc_model_decode_bytes(a), bf16_bytes = sc_model_decode_bytes(c);
    CHECKF(f32_bytes > 1.9 * bf16_bytes && f32_bytes < 2.1 * bf16_bytes, "%g vs %g", f32_bytes, bf16_bytes);
    /* converted at load (dense) and on first use (experts): before and after that use */
    CHECKF(sc_model_decode_bytes(b) == f32_bytes, "bf16 file as f32: %g, the f32 file: %g", sc_model_decode_bytes(b),
           f32_bytes);
    CHECKF(sc_model_decode_bytes(d) == bf16_bytes, "f32 file as bf16: %g, the bf16 file: %g", sc_model_decode_bytes(d),
           bf16_bytes);
    use_expert0(b);
    use_expert0(d);
    CHECK(sc_model_decode_bytes(b) == f32_bytes);
    CHECK(sc_model_decode_bytes(d) == bf16_bytes);
    /* and the flop count does not depend on the dtype */
    CHECK(sc_model_encoder_flops(a, 128, 128) == sc_model_encoder_flops(d, 128, 128));
out:
    sc_model_free(a);
    sc_model_free(b);
    sc_model_free(c);
    sc_model_free(d);
}

static void test_failures_say_why(void) {
    sc_model *m = fixture_model_load("e4_untied_eos_early", SC_DTYPE_AS_STORED);
    sc_session *s = NULL;
    if (!m || sc_session_new(m, &s, NULL)) {
        CHECK(0);
        sc_model_free(m);
        return;
    }
    sc_error err;
    double tok = -1, secs = -1, ms = -1;
    /* 2^40 x 128 ids: 512 TiB, more than any address space */
    memset(&err, 0x7f, sizeof err);
    err.msg[sizeof err.msg - 1] = 0;
    sc_status st = bench_encoder(s, (int64_t)1 << 40, 128, 1, &tok, &secs, &err);
    CHECKF(st == SC_ERR_NOMEM && err.code == SC_ERR_NOMEM && strstr(err.msg, "out of memory"), "%d: %s", (int)st,
           err.msg);
    /* a batch whose size overflows is refused with a message too */
    memset(&err, 0x7f, sizeof err);
    err.msg[sizeof err.msg - 1] = 0;
    st = bench_encoder(s, INT64_MAX / 2, 128, 1, &tok, &secs, &err);
    CHECKF(st != SC_OK && err.code == st && strstr(err.msg, "out of range"), "%d: %s", (int)st, err.msg);
    CHECK(tok == -1 && secs == -1);
    /* the measurements themselves run on the fixture model */
    CHECK(bench_encoder(s, 2, 9, 1, &tok, &secs, &err) == SC_OK && tok > 0 && secs > 0);
    CHECK(bench_decode(s, 1, &ms, &err) == SC_OK && ms > 0);
    sc_session_free(s);
    sc_model_free(m);
}

static void test_rows_bandwidth(void) {
    /* whole rows of 768 floats per thread; odd sizes and thread counts */
    CHECK(sc_read_bw_measure_rows(3 * 768 * 4 + 100, 3, 1) > 0);
    CHECK(sc_read_bw_measure_rows(5 * 768 * 4, 2, 1) > 0);
    CHECK(sc_read_bw_measure_rows((size_t)1 << 20, 1, 1) > 0);
    CHECK(sc_read_bw_measure_rows(768 * 4, 2, 1) == 0); /* under a row per thread */
    CHECK(sc_read_bw_measure_rows(0, 1, 1) == 0);
}

int main(void) {
    test_decode_bytes_converted();
    test_failures_say_why();
    test_rows_bandwidth();
    TEST_MAIN_END();
}
