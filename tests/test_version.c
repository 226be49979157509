/* The version a program is compiled with (the SWITCHC_VERSION_* macros of
 * switchc.h) and the one the library reports at run time (sc_version,
 * sc_version_number) agree, and the number packs major, minor and patch as
 * documented. Whether the shared library exports them is the install test's
 * job (tests/install.cmake). */
#include "switchc.h"
#include "test_util.h"

#include <stdio.h>
#include <string.h>

int main(void) {
    char want[64];
    snprintf(want, sizeof want, "%d.%d.%d", SWITCHC_VERSION_MAJOR, SWITCHC_VERSION_MINOR, SWITCHC_VERSION_PATCH);
    CHECKF(strcmp(want, SWITCHC_VERSION) == 0, "macros say %s, SWITCHC_VERSION %s", want, SWITCHC_VERSION);
    const char *v = sc_version();
    CHECK(v != NULL);
    CHECKF(v && strcmp(v, SWITCHC_VERSION) == 0, "sc_version() = %s", v ? v : "(null)");
    int n = sc_version_number();
    CHECKF(n == SWITCHC_VERSION_MAJOR * 10000 + SWITCHC_VERSION_MINOR * 100 + SWITCHC_VERSION_PATCH,
           "sc_version_number() = %d", n);
    CHECKF(n / 10000 == SWITCHC_VERSION_MAJOR && n / 100 % 100 == SWITCHC_VERSION_MINOR &&
               n % 100 == SWITCHC_VERSION_PATCH,
           "sc_version_number() = %d does not unpack to %s", n, SWITCHC_VERSION);
    TEST_MAIN_END();
}
