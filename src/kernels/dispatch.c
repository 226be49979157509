/* Kernel tables and their selection by CPU features. Each table's matmul
 * dispatches on the weight dtype; a dtype a table has no fast kernel for
 * goes to the reference. Tables also dispatch on M (bench/README.md has
 * the measurements behind each cut):
 *  - "amx": BF16 weights use the tiles above EXACT_BF16_MAX_M rows and keep
 *    decode (M <= 4, up to 4 beams) on the fp32-exact row kernel (so do its
 *    matmul_n and ffn_relu: they take only the calls matmul would run on
 *    the tiles, and give its results bit for bit); I8
 *    weights use the tiles from M = 2 on: the AMX and VNNI kernels give
 *    bit-identical results, AMX was faster for M >= 2 and as fast at M = 1
 *    with W from memory, but VNNI was faster at M = 1 with W in L2.
 *  - "avx512-bf16": BF16 weights as "amx" does at M <= 4; above, vdpbf16ps
 *    in dot form up to PACKED_BF16_MIN_M rows, packed tiles from there.
 *  - every table with VNNI: I8 weights in dot form below PACKED_I8_MIN_M
 *    rows (W read in place; packing W per call costs more than it saves
 *    for a handful of rows), packed tiles from there, except for
 *    FEWROWS_I8_MIN_M to 48 rows (an expert's share of a batch), where
 *    y^T tiles read W in place; all bit-identical. */
#include "kernels/cpu/cpu_kernels.h"
#include "kernels/cpu_features.h"
#include "kernels/kernels.h"

#include <stdbool.h>
#include <string.h>

/* Up to this many x rows BF16 weights stay on the fp32-exact kernel in the
 * bf16-compute tables (kernels.h), and the AMX table runs I8 weights on the
 * VNNI kernel. */
#define EXACT_BF16_MAX_M SC_EXACT_BF16_MAX_M
#define AMX_I8_MIN_M 1
/* From this many rows on, the packed vdpbf16ps / vpdpbusd tiles. */
#define PACKED_BF16_MIN_M 16
#define PACKED_I8_MIN_M 9
#define FEWROWS_I8_MIN_M 16

static const sc_kernels ref_table = {
    .name = "ref",
    .matmul = sc_matmul_ref,
    .quantize_rows_q8 = sc_quantize_rows_q8_ref,
    .matmul_impl = {[SC_DTYPE_F32] = "ref scalar", [SC_DTYPE_BF16] = "ref scalar",
                    [SC_DTYPE_F16] = "ref scalar", [SC_DTYPE_I8] = "ref scalar (x in fp32)"},
};

static const sc_kernels ref_bf16_table = {
    .name = "ref-bf16",
    .matmul = sc_matmul_bf16x_ref,
    .quantize_rows_q8 = sc_quantize_rows_q8_ref,
    .matmul_impl = {[SC_DTYPE_F32] = "ref scalar",
                    [SC_DTYPE_BF16] = "ref-bf16 scalar (x rounded to bf16) for M > 4; M <= 4: ref scalar",
                    [SC_DTYPE_F16] = "ref scalar", [SC_DTYPE_I8] = "ref scalar (x in fp32)"},
};

const sc_kernels *sc_kernels_ref(void) { return &ref_table; }

void sc_matmul_n(const sc_kernels *t, float *const *ys, const float *x, const sc_tensor *const *Ws, int n, int64_t M,
                 sc_pool *pool) {
    if (t->matmul_n && t->matmul_n(ys, x, Ws, n, M, pool)) return;
    for (int p = 0; p < n; p++) t->matmul(ys[p], x, Ws[p], M, pool);
}

#if SC_HAVE_X86_KERNELS
static void matmul_avx512(float *y, const float *x, const sc_tensor *W, int64_t M, sc_pool *pool) {
    if (W->dtype == SC_DTYPE_F32 || W->dtype == SC_DTYPE_BF16 || W->dtype == SC_DTYPE_F16)
        sc_matmul_f32_avx512(y, x, W, M, pool);
    else sc_matmul_ref(y, x, W, M, pool);
}

static void matmul_avx512_vnni(float *y, const float *x, const sc_tensor *W, int64_t M, sc_pool *pool) {
    /* sc_matmul_q8_fewrows hands M > 48 (and K % 4 != 0) to the packed kernel */
    if (W->dtype == SC_DTYPE_I8 && M >= FEWROWS_I8_MIN_M) sc_matmul_q8_fewrows(y, x, W, M, pool);
    else if (W->dtype == SC_DTYPE_I8 && M >= PACKED_I8_MIN_M) sc_matmul_q8_packed(y, x, W, M, pool);
    else if (W->dtype == SC_DTYPE_I8) sc_matmul_q8_vnni(y, x, W, M, pool);
    else matmul_avx512(y, x, W, M, pool);
}

static void matmul_avx512_bf16(float *y, const float *x, const sc_tensor *W, int64_t M, sc_pool *pool) {
    if (W->dtype == SC_DTYPE_BF16 && M >= PACKED_BF16_MIN_M) sc_matmul_bf16_packed(y, x, W, M, pool);
    else if (W->dtype == SC_DTYPE_BF16 && M > EXACT_BF16_MAX_M) sc_matmul_bf16_dot(y, x, W, M, pool);
    else matmul_avx512_vnni(y, x, W, M, pool);
}

/* Several weights on x as one call where matmul_amx would run each on the tiles. */
static bool matmul_n_amx(float *const *ys, const float *x, const sc_tensor *const *Ws, int n, int64_t M,
                         sc_pool *pool) {
    const sc_dtype dt = n > 0 ? Ws[0]->dtype : SC_DTYPE_F32;
    if (!((dt == SC_DTYPE_BF16 && M > EXACT_BF16_MAX_M) || (dt == SC_DTYPE_I8 && M > AMX_I8_MIN_M))) return false;
    return sc_matmul_parts_amx(ys, x, Ws, n, M, pool);
}

/* The fused relu FF where matmul_amx would run both products on the tiles. */
static bool ffn_relu_amx(float *y, const float *x, const sc_tensor *Wi, const sc_tensor *Wo, int64_t M, void *h,
                         size_t h_bytes, sc_pool *pool) {
    return M > EXACT_BF16_MAX_M && sc_ffn_relu_bf16_amx(y, x, Wi, Wo, M, h, h_bytes, pool);
}

static void matmul_amx(float *y, const float *x, const sc_tensor *W, int64_t M, sc_pool *pool) {
    if (W->dtype == SC_DTYPE_BF16 && M > EXACT_BF16_MAX_M) sc_matmul_bf16_amx(y, x, W, M, pool);
    else if (W->dtype == SC_DTYPE_I8 && M > AMX_I8_MIN_M) sc_matmul_q8_amx(y, x, W, M, pool);
    else matmul_avx512_vnni(y, x, W, M, pool);
}

#define FP32_IMPL "avx512 fp32 (decode: row streaming; F32 W and 16-192 rows: W in place; else 14x32 tile, packed W)"
#define VNNI_IMPL                                                                                      \
    "avx512-vnni int8 (x quantized per row, vpdpbusd; M < 9: dot form; 16-48 rows: W in place, y^T tiles; " \
    "else 14x32 tile, packed W)"
static const sc_kernels avx512_table = {
    .name = "avx512",
    .matmul = matmul_avx512,
    .quantize_rows_q8 = sc_quantize_rows_q8_ref,
    .matmul_impl = {[SC_DTYPE_F32] = FP32_IMPL, [SC_DTYPE_BF16] = FP32_IMPL " bf16 widened exactly",
                    [SC_DTYPE_F16] = FP32_IMPL " f16 widened exactly", [SC_DTYPE_I8] = "ref scalar (x in fp32)"},
};
static const sc_kernels avx512_vnni_table = {
    .name = "avx512-vnni",
    .matmul = matmul_avx512_vnni,
    .quantize_rows_q8 = sc_quantize_rows_q8_ref,
    .matmul_impl = {[SC_DTYPE_F32] = FP32_IMPL, [SC_DTYPE_BF16] = FP32_IMPL " bf16 widened exactly",
                    [SC_DTYPE_F16] = FP32_IMPL " f16 widened exactly", [SC_DTYPE_I8] = VNNI_IMPL},
};
static const sc_kernels avx512_bf16_table = {
    .name = "avx512-bf16",
    .matmul = matmul_avx512_bf16,
    .quantize_rows_q8 = sc_quantize_rows_q8_ref,
    .matmul_impl = {[SC_DTYPE_F32] = FP32_IMPL,
                    [SC_DTYPE_BF16] = "avx512-bf16 vdpbf16ps (x rounded to bf16) for M > 4: 14x32 tile, packed W from "
                                      "M = 16, dot form below; M <= 4: avx512 fp32, bf16 widened exactly",
                    [SC_DTYPE_F16] = FP32_IMPL " f16 widened exactly", [SC_DTYPE_I8] = VNNI_IMPL},
};
static const sc_kernels amx_table = {
    .name = "amx",
    .matmul = matmul_amx,
    .matmul_n = matmul_n_amx,
    .ffn_relu = ffn_relu_amx,
    .quantize_rows_q8 = sc_quantize_rows_q8_ref,
    .matmul_impl = {[SC_DTYPE_F32] = FP32_IMPL,
                    [SC_DTYPE_BF16] = "amx tdpbf16ps (x rounded to bf16) for M > 4, relu FF blocks fused, q/k/v "
                                      "in one call; M <= 4: avx512 fp32, bf16 widened exactly",
                    [SC_DTYPE_F16] = FP32_IMPL " f16 widened exactly",
                    [SC_DTYPE_I8] = "amx tdpbssd int8 (x quantized per row) for M > 1, q/k/v in one call; M = 1: "
                                    "avx512-vnni vpdpbusd (same results)"},
};

static bool has_amx(const sc_cpu_features *f) {
    return sc_cpu_has_avx512(f) && f->avx512_vnni && f->avx512_bf16 && f->amx_tile && f->amx_bf16 &&
           f->amx_int8;
}
#endif

static const char *const names[] = {"ref", "ref-bf16",
#if SC_HAVE_X86_KERNELS
                                    "avx512", "avx512-vnni", "avx512-bf16", "amx",
#endif
                                    NULL};

const char *const *sc_kernels_names(void) { return names; }

const sc_kernels *sc_kernels_select(const char *name) {
    if (!name) return NULL;
    if (!strcmp(name, "best")) return sc_kernels_best();
    if (!strcmp(name, "exact")) return sc_kernels_exact();
    if (!strcmp(name, "ref")) return &ref_table;
    if (!strcmp(name, "ref-bf16")) return &ref_bf16_table;
#if SC_HAVE_X86_KERNELS
    const sc_cpu_features *f = sc_cpu_features_get();
    if (!sc_cpu_has_avx512(f)) return NULL;
    if (!strcmp(name, "avx512")) return &avx512_table;
    if (!strcmp(name, "avx512-vnni")) return f->avx512_vnni ? &avx512_vnni_table : NULL;
    if (!strcmp(name, "avx512-bf16")) return f->avx512_vnni && f->avx512_bf16 ? &avx512_bf16_table : NULL;
    if (!strcmp(name, "amx")) return has_amx(f) ? &amx_table : NULL;
#endif
    return NULL;
}

const sc_kernels *sc_kernels_exact(void) {
#if SC_HAVE_X86_KERNELS
    const sc_cpu_features *f = sc_cpu_features_get();
    if (sc_cpu_has_avx512(f)) return f->avx512_vnni ? &avx512_vnni_table : &avx512_table;
#endif
    return &ref_table;
}

/* Where AMX is missing (or hidden) but AVX512-BF16 and VNNI are there:
 * "avx512-bf16", bf16 compute for M > 4 like "amx". */
const sc_kernels *sc_kernels_best(void) {
#if SC_HAVE_X86_KERNELS
    const sc_cpu_features *f = sc_cpu_features_get();
    if (has_amx(f)) return &amx_table;
    if (sc_cpu_has_avx512(f) && f->avx512_vnni && f->avx512_bf16 && f->fast_bf16_dot) return &avx512_bf16_table;
#endif
    return sc_kernels_exact();
}
