/* Runs `switchc verify` on every fixture case, in every weight format the
 * case ships, and requires every listed array to PASS (no FAIL, no SKIP).
 * The expected arrays were recorded from Hugging Face transformers. */
#include "test_util.h"

#include <dirent.h>
#include <sys/stat.h>
#include <sys/wait.h>

static int file_exists(const char *dir, const char *name) {
    char p[8192];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    struct stat st;
    return stat(p, &st) == 0;
}

static void verify(const char *dir, const char *format) {
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "'%s' verify '%s' %s%s 2>&1", SC_SWITCHC_BIN, dir, format ? "--format " : "",
             format ? format : "");
    FILE *f = popen(cmd, "r");
    CHECK(f != NULL);
    if (!f) return;
    char line[1024];
    int pass = 0, bad = 0;
    while (fgets(line, sizeof line, f)) {
        if (strstr(line, " PASS")) pass++;
        if (strstr(line, " FAIL") || strstr(line, " SKIP")) {
            bad++;
            fprintf(stderr, "%s [%s]: %s", dir, format ? format : "auto", line);
        }
        if (!strncmp(line, "switchc", 7)) fprintf(stderr, "%s", line);
    }
    int rc = pclose(f);
    CHECKF(WIFEXITED(rc) && WEXITSTATUS(rc) == 0, "verify %s (%s) exit %d", dir, format ? format : "auto", rc);
    CHECKF(pass > 10 && bad == 0, "verify %s (%s): %d passed, %d failed or skipped", dir, format ? format : "auto",
           pass, bad);
    printf("%s [%s]: %d arrays passed\n", dir, format ? format : "auto", pass);
}

int main(void) {
    const char *root = fixture_path("models");
    char rootbuf[4096];
    snprintf(rootbuf, sizeof rootbuf, "%s", root);
    DIR *d = opendir(rootbuf);
    CHECK(d != NULL);
    if (!d) TEST_MAIN_END();
    struct dirent *e;
    int cases = 0;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char dir[4400];
        snprintf(dir, sizeof dir, "%s/%s", rootbuf, e->d_name);
        if (!file_exists(dir, "manifest.json")) continue;
        cases++;
        verify(dir, NULL);
        if (file_exists(dir, "pytorch_model.bin")) verify(dir, "bin");
    }
    closedir(d);
    CHECK(cases == 8);
    TEST_MAIN_END();
}
