/* Core utilities: checked arithmetic, dtype conversions, errors. */
#include "core/checked.h"
#include "core/dtype.h"
#include "core/error.h"
#include "test_util.h"

#include <stdint.h>

int main(void) {
    size_t r;
    CHECK(sc_mul_size(3, 5, &r) && r == 15);
    CHECK(!sc_mul_size(SIZE_MAX / 2, 3, &r));
    CHECK(!sc_add_size(SIZE_MAX, 1, &r));
    int64_t dims_ok[3] = {2, 3, 4}, dims_neg[2] = {2, -1}, dims_big[3] = {1LL << 40, 1LL << 40, 4};
    CHECK(sc_numel(dims_ok, 3, &r) && r == 24);
    CHECK(!sc_numel(dims_neg, 2, &r));
    CHECK(!sc_numel(dims_big, 3, &r));

    /* bf16: truncation with round-to-nearest-even, exact values round trip */
    CHECK(sc_bf16_to_f32(sc_f32_to_bf16(1.0f)) == 1.0f);
    CHECK(sc_bf16_to_f32(sc_f32_to_bf16(-3.5f)) == -3.5f);
    CHECK(sc_f32_to_bf16(1.00390625f) == 0x3f80); /* halfway, even stays */
    /* f16 */
    CHECK(sc_f16_to_f32(0x3c00) == 1.0f);
    CHECK(sc_f16_to_f32(0xc000) == -2.0f);
    CHECK(sc_f16_to_f32(0x7bff) == 65504.0f);
    CHECK(sc_f16_to_f32(0x0001) == 5.9604644775390625e-08f);
    CHECK(sc_f32_to_f16(65504.0f) == 0x7bff);
    CHECK(sc_f32_to_f16(1e6f) == 0x7c00);
    CHECK(sc_f32_to_f16(5.9604644775390625e-08f) == 0x0001);
    int f16_ok = 1;
    for (uint32_t h = 0; h < 0x7c00; h++)
        if (sc_f32_to_f16(sc_f16_to_f32((uint16_t)h)) != h) f16_ok = 0;
    CHECK(f16_ok);

    sc_dtype t;
    CHECK(sc_dtype_parse("BF16", 4, &t) && t == SC_DTYPE_BF16);
    CHECK(!sc_dtype_parse("F8", 2, &t));
    CHECK(sc_dtype_size(SC_DTYPE_F32) == 4);

    sc_error e;
    sc_error_clear(&e);
    CHECK(sc_fail(&e, SC_ERR_FORMAT, 12, "file %s bad", "x.json") == SC_ERR_FORMAT);
    CHECK(e.code == SC_ERR_FORMAT && e.offset == 12 && strcmp(e.msg, "file x.json bad") == 0);
    CHECK(sc_fail(NULL, SC_ERR_IO, 0, "nothing") == SC_ERR_IO);
    TEST_MAIN_END();
}
