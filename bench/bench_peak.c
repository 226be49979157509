/* Register-bound peaks of one core and memory read bandwidth, as JSON:
 * fp32 FMA (vfmadd231ps), AVX512-BF16 dot (vdpbf16ps, 64 flop each),
 * VNNI int8 dot (vpdpbusd, 128 op each), AMX bf16 and int8 tiles, and read
 * bandwidth of a 256 MiB buffer with 1 and 2 threads (and of L3- and
 * L2-sized buffers). Instructions the CPU lacks report null. The peak and
 * bandwidth loops are the library's (src/kernels/peak.h). */
#include "kernels/cpu_features.h"

#include <stdio.h>

#include "peak_loops.h"

int main(void) {
    const sc_cpu_features *f = sc_cpu_features_get();
    char feat[256];
    sc_cpu_features_string(f, feat, sizeof feat);
    double fp32 = peak_core(SC_PEAK_FP32_FMA), bf16 = peak_core(SC_PEAK_BF16_DOT), vnni = peak_core(SC_PEAK_INT8_VNNI);
    double amx_bf16 = peak_core(SC_PEAK_AMX_BF16), amx_int8 = peak_core(SC_PEAK_AMX_INT8);
    /* DRAM: 256 MiB, far over the L3. L3: 16 MiB (one 768x3072 fp32 matrix
     * is 9 MiB). L2: 512 KiB per thread. The first pass of each warms it. */
    const size_t dram = (size_t)256 << 20, l3 = (size_t)16 << 20, l2 = (size_t)512 << 10;
    double bw1 = sc_read_bw_measure(dram, 1, 4), bw2 = sc_read_bw_measure(dram, 2, 4);
    double l3_1 = sc_read_bw_measure(l3, 1, 10), l3_2 = sc_read_bw_measure(l3, 2, 10);
    double l2_1 = sc_read_bw_measure(l2, 1, 10), l2_2 = sc_read_bw_measure(2 * l2, 2, 10);
    if (!(bw1 > 0)) return 1;
    printf("{\"features\": \"%s\", \"fp32_fma_gflops_per_core\": %.1f, ", feat, fp32 / 1e9);
    if (bf16 > 0) printf("\"avx512_bf16_gflops_per_core\": %.1f, ", bf16 / 1e9);
    else printf("\"avx512_bf16_gflops_per_core\": null, ");
    if (vnni > 0) printf("\"vnni_int8_gops_per_core\": %.1f, ", vnni / 1e9);
    else printf("\"vnni_int8_gops_per_core\": null, ");
    if (amx_bf16 > 0) printf("\"amx_bf16_gflops_per_core\": %.1f, ", amx_bf16 / 1e9);
    else printf("\"amx_bf16_gflops_per_core\": null, ");
    if (amx_int8 > 0) printf("\"amx_int8_gops_per_core\": %.1f, ", amx_int8 / 1e9);
    else printf("\"amx_int8_gops_per_core\": null, ");
    printf("\"read_gbs_1thread\": %.2f, \"read_gbs_2threads\": %.2f, \"l3_read_gbs_1thread\": %.2f, "
           "\"l3_read_gbs_2threads\": %.2f, \"l2_read_gbs_1thread\": %.2f, \"l2_read_gbs_2threads\": %.2f}\n",
           bw1 / 1e9, bw2 / 1e9, l3_1 / 1e9, l3_2 / 1e9, l2_1 / 1e9, l2_2 / 1e9);
    return 0;
}
