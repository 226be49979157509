/* switchc info: the build and the machine, through the public header. */
#include "args.h"
#include "commands.h"
#include "switchc.h"

#include <stdio.h>

static void usage(FILE *f) {
    fprintf(f, "usage: switchc info\n\nPrints the version, the build options and the CPU features.\n");
}

/* no options: any argument but --help is an error */
static const args_spec info_args = {.cmd = "info", .usage = usage, .unknown = ARGS_SAY_OPTION, .pos = ARGS_POS_NONE};

int cmd_info(int argc, char **argv) {
    int rc = args_parse(&info_args, argc, argv, NULL);
    if (rc != ARGS_GO) return rc;
    printf("switchc %s\n", SWITCHC_VERSION);
    char feat[256];
    sc_cpu_feature_names(feat, sizeof feat);
    printf("cpu features: %s\n", feat);
    printf("threads: %d (SWITCHC_THREADS overrides)\n", sc_default_threads());
    printf("kernel tables:");
    for (const char *const *n = sc_kernel_tables(); *n; n++)
        printf(" %s%s", *n, sc_kernel_table_supported(*n) ? "" : "(unsupported)");
    const char *best = sc_kernel_table_best();
    printf("\nselected kernels: %s (fp32-exact: %s; SWITCHC_NO_AMX=1 hides amx)\n", best, sc_kernel_table_exact());
    const struct { sc_dtype dt; const char *name; } dts[] = {
        {SC_DTYPE_F32, "F32"}, {SC_DTYPE_BF16, "BF16"}, {SC_DTYPE_F16, "F16"}, {SC_DTYPE_I8, "I8"}};
    for (size_t i = 0; i < sizeof dts / sizeof *dts; i++) {
        const char *impl = sc_kernel_table_matmul(best, dts[i].dt);
        printf("  matmul %-4s: %s\n", dts[i].name, impl ? impl : "-");
    }
    return SC_EXIT_OK;
}
