/* Runs `switchc verify` on every fixture case, in every weight format the
 * case ships, and requires every listed array to PASS (no FAIL, no SKIP),
 * every output line in the documented format (other programs parse it).
 * The expected arrays were recorded from Hugging Face transformers. Then
 * the two ways verify must fail: an array of the right element count and
 * the wrong shape (a copy of a case whose manifest reshapes the logits),
 * and a bf16 compute path that cannot load (--bf16-kernels naming no
 * table): its arrays FAIL with the load's message, never SKIP. */
#include "fixture_arrays.h"
#include "test_util.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* A number as %.3e prints it (or inf / nan); advances *p. */
static int skip_number(const char **p) {
    char *end;
    errno = 0;
    (void)strtod(*p, &end);
    if (end == *p) return 0;
    *p = end;
    return 1;
}

/* Whether `line` is one of verify's stdout lines:
 *   <name> max_abs=<x> max_rel=<y> PASS|FAIL[ (<why>)]
 *   <name> SKIP <reason>
 *   verify: <n> passed, <n> failed, <n> skipped */
static int line_ok(const char *line) {
    int a, b, c, n = 0;
    if (sscanf(line, "verify: %d passed, %d failed, %d skipped\n%n", &a, &b, &c, &n) == 3 && n &&
        line[n] == 0)
        return 1;
    const char *p = line;
    while (*p && !isspace((unsigned char)*p)) p++;
    if (p == line || *p != ' ') return 0;
    p++;
    if (!strncmp(p, "SKIP ", 5)) return p[5] && p[5] != '\n' && p[strlen(p) - 1] == '\n';
    if (strncmp(p, "max_abs=", 8)) return 0;
    p += 8;
    if (!skip_number(&p) || strncmp(p, " max_rel=", 9)) return 0;
    p += 9;
    if (!skip_number(&p)) return 0;
    if (strncmp(p, " PASS", 5) && strncmp(p, " FAIL", 5)) return 0;
    p += 5;
    if (!strcmp(p, "\n")) return 1;
    return !strncmp(p, " (", 2) && p[strlen(p) - 1] == '\n' && p[strlen(p) - 2] == ')';
}

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
    int malformed = 0;
    while (fgets(line, sizeof line, f)) {
        if (!line_ok(line)) {
            malformed++;
            fprintf(stderr, "%s [%s]: not in verify's format: %s", dir, format ? format : "auto", line);
        }
        if (strstr(line, " PASS")) pass++;
        if (strstr(line, " FAIL") || strstr(line, " SKIP")) {
            bad++;
            fprintf(stderr, "%s [%s]: %s", dir, format ? format : "auto", line);
        }
        if (!strncmp(line, "switchc", 7)) fprintf(stderr, "%s", line);
    }
    int rc = pclose(f);
    CHECKF(WIFEXITED(rc) && WEXITSTATUS(rc) == 0, "verify %s (%s) exit %d", dir, format ? format : "auto", rc);
    CHECKF(malformed == 0, "verify %s (%s): %d lines not in the format", dir, format ? format : "auto", malformed);
    CHECKF(pass > 10 && bad == 0, "verify %s (%s): %d passed, %d failed or skipped", dir, format ? format : "auto",
           pass, bad);
    printf("%s [%s]: %d arrays passed\n", dir, format ? format : "auto", pass);
}

/* The output lines of `switchc verify ARGS` (stdout and stderr) into buf;
 * returns the exit status. */
static int run_verify(const char *args, char *buf, size_t cap) {
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "'%s' verify %s 2>&1", SC_SWITCHC_BIN, args);
    return sc_test_run(cmd, buf, cap);
}

/* The line of buf that starts with "<name> ", or NULL; copied into line. */
static const char *find_line(const char *buf, const char *name, char *line, size_t cap) {
    size_t n = strlen(name);
    for (const char *p = buf; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
        if (!strncmp(p, name, n) && p[n] == ' ') {
            const char *e = strchr(p, '\n');
            size_t len = e ? (size_t)(e - p) : strlen(p);
            if (len >= cap) len = cap - 1;
            memcpy(line, p, len);
            line[len] = 0;
            return line;
        }
    }
    return NULL;
}

/* Counts lines of buf containing `what`. */
static int count_lines(const char *buf, const char *what) {
    int n = 0;
    for (const char *p = buf; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
        const char *e = strchr(p, '\n');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        const char *hit = strstr(p, what);
        if (hit && (size_t)(hit - p) < len) n++;
    }
    return n;
}

/* A copy of case `name` under SC_TMP_DIR whose manifest gives "logits" the
 * shape [B*T, V] in place of [B, T, V] (same element count, same data);
 * its arrays/ is a link to the fixture's. Returns the case dir or NULL. */
static const char *reshaped_case(const char *name, char *dir, size_t cap) {
    char src[4400], path[9300];
    snprintf(src, sizeof src, "%s/models/%s", SC_FIXTURES_DIR, name);
    snprintf(path, sizeof path, "%s/manifest.json", src);
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    static char text[1 << 20];
    size_t len = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[len] = 0;
    /* "name": "logits" ... "shape": [ B, T, V ] */
    char *entry = strstr(text, "\"name\": \"logits\"");
    char *sh = entry ? strstr(entry, "\"shape\": [") : NULL;
    char *close = sh ? strchr(sh, ']') : NULL;
    if (!close) return NULL;
    char *p = sh + strlen("\"shape\": [");
    long long d[3];
    for (int i = 0; i < 3; i++) {
        d[i] = strtoll(p, &p, 10);
        while (*p == ',' || isspace((unsigned char)*p)) p++;
    }
    if (p != close) return NULL;
    mkdir(SC_TMP_DIR, 0755);
    snprintf(dir, cap, "%s/verify_reshaped_%s", SC_TMP_DIR, name);
    mkdir(dir, 0755);
    snprintf(path, sizeof path, "%s/arrays", dir);
    unlink(path);
    char target[4500];
    snprintf(target, sizeof target, "%s/arrays", src);
    if (symlink(target, path)) return NULL;
    snprintf(path, sizeof path, "%s/manifest.json", dir);
    f = fopen(path, "wb");
    if (!f) return NULL;
    fwrite(text, 1, (size_t)(sh - text), f);
    fprintf(f, "\"shape\": [%lld, %lld", d[0] * d[1], d[2]);
    fputs(close, f);
    fclose(f);
    return dir;
}

static void test_wrong_shape_fails(void) {
    const char *name = "e4_untied_eos_early";
    char dir[4600];
    CHECK(reshaped_case(name, dir, sizeof dir) != NULL);
    char args[9400], line[1024];
    static char out[1 << 20];
    snprintf(args, sizeof args, "'%s' -m '%s'", dir, fixture_path("models/e4_untied_eos_early"));
    int rc = run_verify(args, out, sizeof out);
    CHECKF(rc == 1, "reshaped logits: exit %d", rc);
    const char *l = find_line(out, "logits", line, sizeof line);
    CHECKF(l && !strcmp(l, "logits max_abs=inf max_rel=inf FAIL (shape [3,7,384], expected [21,384])"),
           "reshaped logits line: %s", l ? l : "(none)");
    /* the rest of the case still passes: only the reshaped array failed */
    CHECKF(count_lines(out, " FAIL") == 1 && count_lines(out, " SKIP") == 0, "%s", out);
    CHECKF(strstr(out, "verify: ") && strstr(out, " passed, 1 failed, 0 skipped"), "%s", out);
}

static void test_bf16_load_error_fails(void) {
    const char *dir = fixture_path("models/e8_step2_untied_heads_ne_dmodel_bf16");
    char args[4400], line[1024];
    static char out[1 << 20];
    snprintf(args, sizeof args, "'%s' --bf16-kernels no-such-table", dir);
    int rc = run_verify(args, out, sizeof out);
    CHECKF(rc == 1, "bf16 path that cannot load: exit %d", rc);
    CHECKF(count_lines(out, " SKIP") == 0, "a load error read as SKIP:\n%s", out);
    int bf16 = count_lines(out, "bf16_compute.");
    CHECKF(bf16 >= 2 && count_lines(out, " FAIL (bf16 compute path: kernels 'no-such-table'") == bf16,
           "bf16_compute.* lines must FAIL with the load's message:\n%s", out);
    const char *l = find_line(out, "bf16_compute.logits", line, sizeof line);
    CHECKF(l && line_ok(strcat(line, "\n")), "bf16_compute.logits line: %s", l ? l : "(none)");
    /* the fp32 arrays are still compared and pass */
    CHECKF(count_lines(out, " PASS") > 10, "%s", out);
    int p = -1, fl = -1, sk = -1;
    const char *sum = strstr(out, "verify: ");
    CHECK(sum && sscanf(sum, "verify: %d passed, %d failed, %d skipped", &p, &fl, &sk) == 3 && fl == bf16 &&
          sk == 0);
}

int main(void) {
    test_wrong_shape_fails();
    test_bf16_load_error_fails();
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
        if (!fixture_is_inference_case(dir)) continue;
        cases++;
        verify(dir, NULL);
        if (file_exists(dir, "pytorch_model.bin")) verify(dir, "bin");
    }
    closedir(d);
    CHECK(cases == 8);
    /* the training cases: every gradient, gradient part, parameter after the
     * recorded optimizer steps and loss around them (tests/fixtures/README-training.md) */
    static const char *const train_cases[] = {"train_e4_step1_untied_nodrop", "train_e4_step2_bias_overflow",
                                              "train_e4_step2_jitter_stats"};
    for (size_t i = 0; i < sizeof train_cases / sizeof *train_cases; i++) {
        char dir[4400];
        snprintf(dir, sizeof dir, "%s/%s", rootbuf, train_cases[i]);
        verify(dir, NULL);
    }
    TEST_MAIN_END();
}
