/* switchc info: the build and the machine. */
#include "cli/commands.h"
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
    return SC_EXIT_OK;
}
