/* switchc info: the build and the machine. */
#include "cli/commands.h"
#include "core/pool.h"
#include "kernels/cpu_features.h"
#include "kernels/kernels.h"
#include "switchc.h"

#include <stdio.h>
#include <string.h>

int cmd_info(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            printf("usage: switchc info\n\nPrints the version, the build options and the CPU features.\n");
            return SC_EXIT_OK;
        }
        fprintf(stderr, "switchc info: unknown option '%s'\n", argv[i]);
        return SC_EXIT_USAGE;
    }
    printf("switchc %s\n", SWITCHC_VERSION);
    char feat[256];
    sc_cpu_features_string(sc_cpu_features_get(), feat, sizeof feat);
    printf("cpu features: %s\n", feat);
    printf("threads: %d (SWITCHC_THREADS overrides)\n", sc_pool_default_threads());
    printf("kernel tables:");
    for (const char *const *n = sc_kernels_names(); *n; n++)
        printf(" %s%s", *n, sc_kernels_select(*n) ? "" : "(unsupported)");
    const sc_kernels *k = sc_kernels_best();
    printf("\nselected kernels: %s (fp32-exact: %s; SWITCHC_NO_AMX=1 hides amx)\n", k->name,
           sc_kernels_exact()->name);
    const struct { sc_dtype dt; const char *name; } dts[] = {
        {SC_DTYPE_F32, "F32"}, {SC_DTYPE_BF16, "BF16"}, {SC_DTYPE_F16, "F16"}, {SC_DTYPE_I8, "I8"}};
    for (size_t i = 0; i < sizeof dts / sizeof *dts; i++)
        printf("  matmul %-4s: %s\n", dts[i].name, k->matmul_impl[dts[i].dt] ? k->matmul_impl[dts[i].dt] : "-");
    return SC_EXIT_OK;
}
