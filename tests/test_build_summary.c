/* What configuring the project tells the user: `make` runs CMake with
 * --log-level=NOTICE (CMake's own status lines hidden, never its output
 * thrown away), and CMake prints one line per optional part, "switchc:
 * <part>: on" or "switchc: <part>: off (<how to get it>)", the SentencePiece
 * cross-check among them. Configures a scratch build of this source tree
 * (no compiling). */
#include "test_util.h"

#include <sys/stat.h>

/* The source tree: SC_FIXTURES_DIR is <source>/tests/fixtures. */
static const char *source_dir(void) {
    static char buf[4096];
    snprintf(buf, sizeof buf, "%s", SC_FIXTURES_DIR);
    char *cut = strstr(buf, "/tests/fixtures");
    if (cut) *cut = 0;
    return buf;
}

static void test_makefile_shows_configure(void) {
    char path[4200], line[1024];
    snprintf(path, sizeof path, "%s/Makefile", source_dir());
    FILE *f = fopen(path, "r");
    CHECK(f != NULL);
    if (!f) return;
    int configures = 0, hidden = 0, quiet = 0;
    while (fgets(line, sizeof line, f)) {
        if (strstr(line, "CMAKE_CONFIGURE = ") && strstr(line, "--log-level=NOTICE")) quiet++;
        if (strstr(line, "$(CMAKE_CONFIGURE) -S")) configures++;
        if (strstr(line, "cmake") && strstr(line, "/dev/null")) hidden++;
    }
    fclose(f);
    CHECKF(quiet == 1 && configures >= 2 && hidden == 0, "Makefile: %d CMAKE_CONFIGURE, %d uses, %d hidden",
           quiet, configures, hidden);
}

static void test_summary_lines(void) {
    mkdir(SC_TMP_DIR, 0755);
    char cmd[9000];
    snprintf(cmd, sizeof cmd,
             "cd '%s' && cmake --log-level=NOTICE -S '%s' -B '%s/build-summary' -DCMAKE_BUILD_TYPE=Release "
             "-DSWITCHC_NATIVE=OFF 2>&1",
             SC_TMP_DIR, source_dir(), SC_TMP_DIR);
    static char out[1 << 16];
    int rc = sc_test_run(cmd, out, sizeof out);
    CHECKF(rc == 0, "configure exit %d:\n%s", rc, out);
    /* CMake's own chatter stays hidden */
    CHECKF(!strstr(out, "The C compiler identification"), "%s", out);
    int parts = 0, bad = 0;
    for (char *l = strtok(out, "\n"); l; l = strtok(NULL, "\n")) {
        if (strncmp(l, "switchc: ", 9)) continue;
        parts++;
        const char *v = strrchr(l, ':');
        if (!(v && (!strcmp(v, ": on") || !strncmp(v, ": on (", 6) ||
                    (!strncmp(v, ": off (", 7) && l[strlen(l) - 1] == ')')))) {
            bad++;
            fprintf(stderr, "not 'on' or 'off (how)': %s\n", l);
        }
        if (strstr(l, "switchc: SentencePiece cross-check: ")) {
            parts += 100;
            CHECKF(strstr(l, ": on") || strstr(l, "off (install "), "%s", l);
        }
        if (strstr(l, "-march=native")) CHECKF(strstr(l, "off (-DSWITCHC_NATIVE=ON)") != NULL, "%s", l);
    }
    CHECKF(parts >= 104 && bad == 0, "%d summary lines (+100 if SentencePiece said), %d malformed", parts, bad);
}

int main(void) {
    test_makefile_shows_configure();
    test_summary_lines();
    TEST_MAIN_END();
}
