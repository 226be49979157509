/* Kernel table selection. */
#include "kernels/kernels.h"

static const sc_kernels ref_table = {
    .name = "ref",
    .matmul = sc_matmul_ref,
};

const sc_kernels *sc_kernels_ref(void) { return &ref_table; }

const sc_kernels *sc_kernels_best(void) { return &ref_table; }
