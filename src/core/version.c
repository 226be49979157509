/* The library's version at run time. The numbers come from the header this
 * file is compiled with, so the library reports the release it was built
 * from; a program compares them with the SWITCHC_VERSION_* macros it saw.
 * Build details (CPU features, kernels) are the CLI's `info`, not here. */
#include "switchc.h"

const char *sc_version(void) { return SWITCHC_VERSION; }

int sc_version_number(void) {
    return SWITCHC_VERSION_MAJOR * 10000 + SWITCHC_VERSION_MINOR * 100 + SWITCHC_VERSION_PATCH;
}
