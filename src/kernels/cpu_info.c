/* The public view of CPU detection and of the kernel tables (switchc.h,
 * "machine, kernels"): thin wrappers over cpu_features.h and kernels.h, so
 * that clients see names and strings, never the tables themselves. Leaves
 * out the peak measurements (peak_api.c). */
#include "core/pool.h"
#include "kernels/cpu_features.h"
#include "kernels/kernels.h"
#include "switchc.h"

#include <string.h>

void sc_cpu_feature_names(char *buf, size_t cap) {
    if (!buf || !cap) return;
    char all[512]; /* every name the detector knows, with room to spare */
    sc_cpu_features_string(sc_cpu_features_get(), all, sizeof all);
    size_t n = strlen(all);
    if (n >= cap) { /* keep whole names only: the last space that fits ends the list */
        n = 0;
        for (size_t i = 0; i < cap - 1; i++)
            if (all[i] == ' ' && all[i + 1] != ' ') n = i;
    }
    memcpy(buf, all, n);
    buf[n] = '\0';
}

int sc_default_threads(void) { return sc_pool_default_threads(); }

const char *const *sc_kernel_tables(void) { return sc_kernels_names(); }

bool sc_kernel_table_supported(const char *name) { return name && sc_kernels_select(name) != NULL; }

const char *sc_kernel_table_best(void) { return sc_kernels_best()->name; }

const char *sc_kernel_table_exact(void) { return sc_kernels_exact()->name; }

const char *sc_kernel_table_matmul(const char *name, sc_dtype t) {
    const sc_kernels *k = name ? sc_kernels_select(name) : NULL;
    if (!k || (unsigned)t >= SC_DTYPE_COUNT) return NULL;
    return k->matmul_impl[t];
}
