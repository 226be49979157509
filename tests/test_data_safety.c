/* Writers never damage their inputs or an existing output: the staged
 * output directory (io/staged_dir.h) on its own, then `switchc convert` and
 * `switchc init` end to end: converting a checkpoint in place (the input is
 * mapped while the output replaces it), weight files in OUT that are links
 * (to the input, or elsewhere: the target keeps its bytes), a hard link to
 * the input keeping the old bytes, refusing to replace a checkpoint without
 * --force (through a linked output directory too), a failure half way that
 * leaves OUT as it was and no staging directory, output paths that are not
 * directories, switching between one file and shards without stale weight
 * files, and `init --tokenizer` giving a model that generates. Fixtures are
 * copied first and never written. */
#include "io/staged_dir.h"
#include "model/model.h"
#include "model/model_write.h"
#include "test_util.h"

/* paths are built from the build directory: truncation cannot happen in practice */
#pragma GCC diagnostic ignored "-Wformat-truncation"

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <unistd.h>

#define CASE SC_FIXTURES_DIR "/models/e8_step2_untied_heads_ne_dmodel"
#define T5CASE SC_FIXTURES_DIR "/models/t5vocab_e4_step2"
#define TOKDIR SC_FIXTURES_DIR "/tokenizer"

static char T[4096]; /* this test's scratch directory */
static char out[65536];

static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Runs a shell command built from fmt; its stdout and stderr go to `out`. */
static int sh(const char *fmt, ...) {
    char cmd[16384];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    char full[16500];
    snprintf(full, sizeof full, "{ %s ; } 2>&1", cmd);
    return sc_test_run(full, out, sizeof out);
}

/* T/rel, in a ring of 8 buffers: up to 8 uses in one expression. */
static const char *P(const char *rel) {
    static char buf[8][4096];
    static int k;
    k = (k + 1) % 8;
    snprintf(buf[k], sizeof buf[k], "%s/%s", T, rel);
    return buf[k];
}

static bool exists(const char *p) {
    struct stat st;
    return lstat(p, &st) == 0;
}

static bool is_regular(const char *p) {
    struct stat st;
    return lstat(p, &st) == 0 && S_ISREG(st.st_mode);
}

static bool is_link(const char *p) {
    struct stat st;
    return lstat(p, &st) == 0 && S_ISLNK(st.st_mode);
}

/* Entries of dir whose name starts with prefix and ends with suffix. */
static int count_entries(const char *dir, const char *prefix, const char *suffix) {
    DIR *d = opendir(dir);
    if (!d) return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t l = strlen(e->d_name), ls = strlen(suffix);
        if (!strncmp(e->d_name, prefix, strlen(prefix)) && l >= ls && !strcmp(e->d_name + l - ls, suffix)) n++;
    }
    closedir(d);
    return n;
}

static int n_tmp(const char *dir) { return count_entries(dir, ".tmp-", ""); }

static bool loads(const char *dir) {
    sc_model_params p = sc_model_default_params();
    p.n_threads = 1;
    sc_model *m = NULL;
    sc_error err;
    sc_status st = sc_model_load(dir, &p, &m, &err);
    if (st) fprintf(stderr, "load %s: %s\n", dir, err.msg);
    bool ok = st == SC_OK && m->n_unexpected == 0;
    sc_model_free(m);
    return ok;
}

/* A copy of the fixture's config, generation config and safetensors weights. */
static bool copy_case(const char *rel) {
    return sh("rm -rf '%s' && mkdir -p '%s' && cp '%s/config.json' '%s/generation_config.json' "
              "'%s/model.safetensors' '%s/'", P(rel), P(rel), CASE, CASE, CASE, P(rel)) == 0;
}

static int convert(const char *in, const char *outdir, const char *extra) {
    return sh("'%s' convert -m '%s' -o '%s' %s", SC_SWITCHC_BIN, in, outdir, extra);
}

static void write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "wb");
    CHECKF(f != NULL, "cannot write %s", path);
    if (!f) return;
    fputs(text, f);
    fclose(f);
}

/* The first cap - 1 bytes of a small file, NUL-terminated ("" if unreadable). */
static void read_small(const char *path, char *buf, size_t cap) {
    FILE *f = fopen(path, "rb");
    size_t n = f ? fread(buf, 1, cap - 1, f) : 0;
    buf[n] = '\0';
    if (f) fclose(f);
}

/* ---- the staged directory on its own ---- */

static void staged_dir_unit(void) {
    sc_staged_dir *s = NULL;
    sc_error err;
    /* a missing nested output is created; an old file and a stale one are there before */
    CHECK(sc_staged_dir_open(P("sd/a/b"), &s, &err) == SC_OK);
    if (!s) return;
    CHECK(n_tmp(P("sd/a/b")) == 1);
    CHECK(sc_staged_dir_path(s, "../x") == NULL && sc_staged_dir_path(s, "") == NULL &&
          sc_staged_dir_path(s, "a/b") == NULL);
    write_file(P("sd/a/b/keep"), "old keep");
    write_file(P("sd/a/b/stale"), "stale");
    write_file(P("sd/a/b/target"), "target bytes");
    CHECK(symlink(P("sd/a/b/target"), P("sd/a/b/link")) == 0);
    const char *names[] = {"keep", "new", "link"};
    for (int i = 0; i < 3; i++) {
        FILE *f = sc_staged_dir_fopen(s, names[i], &err);
        CHECK(f != NULL);
        if (f) {
            fprintf(f, "new %s", names[i]);
            fclose(f);
        }
    }
    CHECK(sc_staged_dir_has(s, "keep") && !sc_staged_dir_has(s, "other"));
    /* never opened twice: O_EXCL */
    CHECK(sc_staged_dir_fopen(s, "keep", &err) == NULL && strstr(err.msg, "File exists"));
    /* nothing is in place before the commit */
    CHECK(!exists(P("sd/a/b/new")));
    sc_stage_step steps[] = {{SC_STAGE_MOVE, "new"},
                             {SC_STAGE_REMOVE, "stale"},
                             {SC_STAGE_REMOVE, "absent"},
                             {SC_STAGE_MOVE, "keep"},
                             {SC_STAGE_MOVE, "link"}};
    CHECK(sc_staged_dir_commit(s, steps, 5, &err) == SC_OK);
    char buf[64];
    read_small(P("sd/a/b/keep"), buf, sizeof buf);
    CHECK(!strcmp(buf, "new keep"));
    CHECK(exists(P("sd/a/b/new")) && !exists(P("sd/a/b/stale")));
    /* the link was replaced by a file; its target kept its bytes */
    CHECK(is_regular(P("sd/a/b/link")));
    read_small(P("sd/a/b/target"), buf, sizeof buf);
    CHECK(!strcmp(buf, "target bytes"));
    CHECK(n_tmp(P("sd/a/b")) == 0);

    /* abort: the staging and the directories the open made are gone */
    s = NULL;
    CHECK(sc_staged_dir_open(P("sd2/x/y"), &s, &err) == SC_OK);
    FILE *f = s ? sc_staged_dir_fopen(s, "half", &err) : NULL;
    CHECK(f != NULL);
    if (f) fclose(f);
    sc_staged_dir_abort(s);
    CHECK(!exists(P("sd2/x")));
    /* a failing commit step: nothing of the staging stays, earlier steps stay done */
    CHECK(sh("mkdir -p '%s'", P("sd3/adir")) == 0);
    s = NULL;
    CHECK(sc_staged_dir_open(P("sd3"), &s, &err) == SC_OK);
    if (s) {
        const char *nm[] = {"first", "adir"};
        for (int i = 0; i < 2; i++) {
            FILE *g = sc_staged_dir_fopen(s, nm[i], &err);
            if (g) fclose(g);
        }
        sc_stage_step st2[] = {{SC_STAGE_MOVE, "first"}, {SC_STAGE_MOVE, "adir"}};
        CHECK(sc_staged_dir_commit(s, st2, 2, &err) != SC_OK);
        CHECKF(strstr(err.msg, "adir") && strstr(err.msg, "1 of 2 steps done"), "%s", err.msg);
        CHECK(exists(P("sd3/first")) && n_tmp(P("sd3")) == 0);
    }
    /* outputs that cannot be directories: the path and the reason */
    write_file(P("sd_file"), "x");
    s = NULL;
    CHECK(sc_staged_dir_open(P("sd_file"), &s, &err) != SC_OK && s == NULL);
    CHECKF(strstr(err.msg, P("sd_file")) && strstr(err.msg, "not a directory"), "%s", err.msg);
    CHECK(sc_staged_dir_open(P("sd_file/sub"), &s, &err) != SC_OK && s == NULL);
    CHECKF(strstr(err.msg, "sd_file") && strstr(err.msg, strerror(ENOTDIR)), "%s", err.msg);
    sc_staged_dir_abort(NULL);

    /* what counts as a checkpoint: any entry of those names, a dangling link too */
    char found[256] = "";
    CHECK(sh("mkdir -p '%s' '%s' '%s' && touch '%s/README' '%s/model-00002-of-00003.safetensors'", P("ck_none"),
             P("ck_link"), P("ck_shard"), P("ck_none"), P("ck_shard")) == 0);
    CHECK(symlink(P("nowhere/config.json"), P("ck_link/config.json")) == 0);
    CHECK(!sc_model_dir_has_checkpoint(P("ck_none"), found, sizeof found));
    CHECK(sc_model_dir_has_checkpoint(P("ck_link"), found, sizeof found) && !strcmp(found, "config.json"));
    CHECK(sc_model_dir_has_checkpoint(P("ck_shard"), NULL, 0));
    CHECK(!sc_model_dir_has_checkpoint(P("ck_missing"), NULL, 0));
}

/* ---- convert ---- */

/* The reference: the fixture converted to bf16 into a fresh directory. */
static void reference(void) {
    CHECKF(convert(CASE, P("ref_bf16"), "--dtype bf16") == 0, "%s", out);
    CHECK(n_tmp(P("ref_bf16")) == 0);
}

/* convert -m X -o X: X/model.safetensors is mapped for reading while the
 * new one is written; the old inode (seen here through a hard link) keeps
 * every byte, the new file equals a conversion elsewhere, no bus error. */
static void in_place(void) {
    CHECK(copy_case("inplace"));
    CHECK(link(P("inplace/model.safetensors"), P("inplace_old_inode.safetensors")) == 0);
    int rc = convert(P("inplace"), P("inplace"), "--dtype bf16");
    CHECKF(rc == 0, "in-place convert: rc %d: %s", rc, out);
    CHECK(sc_test_files_equal(P("inplace/model.safetensors"), P("ref_bf16/model.safetensors")));
    CHECK(sc_test_files_equal(P("inplace_old_inode.safetensors"), CASE "/model.safetensors"));
    CHECK(sc_test_files_equal(P("inplace/config.json"), P("ref_bf16/config.json")));
    CHECK(n_tmp(P("inplace")) == 0);
    CHECK(loads(P("inplace")));
    /* the source of the bug report: through a path with a trailing slash and "." */
    CHECK(copy_case("inplace2"));
    char dot[4200];
    snprintf(dot, sizeof dot, "%s/.", P("inplace2"));
    CHECKF(convert(P("inplace2"), dot, "--dtype q8") == 0, "%s", out);
    CHECK(loads(P("inplace2")) && n_tmp(P("inplace2")) == 0);
}

/* A weight file in OUT that links to the input (or to any file): the link
 * is replaced, the target keeps its bytes. Without --force OUT is refused. */
static void linked_weights(void) {
    CHECK(copy_case("lin_in"));
    CHECK(sh("rm -rf '%s' && mkdir -p '%s' && ln -s '%s' '%s'", P("lin_out"), P("lin_out"),
             P("lin_in/model.safetensors"), P("lin_out/model.safetensors")) == 0);
    int rc = convert(P("lin_in"), P("lin_out"), "--dtype bf16");
    CHECKF(rc == 1 && strstr(out, "already holds a checkpoint") && strstr(out, "--force"), "rc %d: %s", rc,
           out);
    CHECK(is_link(P("lin_out/model.safetensors")) && n_tmp(P("lin_out")) == 0);
    rc = convert(P("lin_in"), P("lin_out"), "--dtype bf16 --force");
    CHECKF(rc == 0, "rc %d: %s", rc, out);
    CHECK(sc_test_files_equal(P("lin_in/model.safetensors"), CASE "/model.safetensors"));
    CHECK(is_regular(P("lin_out/model.safetensors")));
    CHECK(sc_test_files_equal(P("lin_out/model.safetensors"), P("ref_bf16/model.safetensors")));
    /* a link to a file elsewhere, and a linked config */
    CHECK(sh("rm -rf '%s' && mkdir -p '%s' && cp '%s/model.safetensors' '%s' && cp '%s/config.json' '%s' && "
             "ln -s '%s' '%s/model.safetensors' && ln -s '%s' '%s/config.json'",
             P("lin_out2"), P("lin_out2"), CASE, P("elsewhere.bin"), CASE, P("elsewhere.json"),
             P("elsewhere.bin"), P("lin_out2"), P("elsewhere.json"), P("lin_out2")) == 0);
    rc = convert(CASE, P("lin_out2"), "--dtype bf16 --force");
    CHECKF(rc == 0, "rc %d: %s", rc, out);
    CHECK(sc_test_files_equal(P("elsewhere.bin"), CASE "/model.safetensors"));
    CHECK(sc_test_files_equal(P("elsewhere.json"), CASE "/config.json"));
    CHECK(is_regular(P("lin_out2/model.safetensors")) && is_regular(P("lin_out2/config.json")));
    CHECK(loads(P("lin_out2")));
}

/* A failure half way through the weights (the config asks for 16 experts:
 * the checkpoint's routers have 8 rows, found after the first tensors, or
 * with small shards after two whole shards): OUT keeps its old files, no staging stays, and
 * an output directory the run created is gone again. */
static void failure_mid_write(void) {
    CHECK(copy_case("bad_in"));
    CHECK(sh("sed -i 's/\"num_experts\": 8/\"num_experts\": 16/' '%s/config.json'", P("bad_in")) == 0);
    CHECK(sh("rm -rf '%s' && cp -r '%s' '%s'", P("fail_out"), P("ref_bf16"), P("fail_out")) == 0);
    int rc = convert(P("bad_in"), P("fail_out"), "--dtype f32 --force");
    CHECKF(rc == 1 && strstr(out, "bad_in/model.safetensors") && strstr(out, "router"), "rc %d: %s", rc, out);
    CHECK(sc_test_files_equal(P("fail_out/model.safetensors"), P("ref_bf16/model.safetensors")));
    CHECK(sc_test_files_equal(P("fail_out/config.json"), P("ref_bf16/config.json")));
    CHECK(n_tmp(P("fail_out")) == 0);
    CHECK(loads(P("fail_out")));
    rc = convert(P("bad_in"), P("fail_out"), "--dtype f32 --force --shard-size 100K");
    CHECKF(rc == 1, "rc %d: %s", rc, out);
    CHECK(count_entries(P("fail_out"), "model-", ".safetensors") == 0 && n_tmp(P("fail_out")) == 0);
    CHECK(sc_test_files_equal(P("fail_out/model.safetensors"), P("ref_bf16/model.safetensors")));
    rc = convert(P("bad_in"), P("fail_new/deeper"), "--dtype f32");
    CHECKF(rc == 1, "rc %d: %s", rc, out);
    CHECK(!exists(P("fail_new")));
}

/* Output paths are checked before any work, with the path and the reason. */
static void bad_outputs(void) {
    write_file(P("plain_file"), "not a directory");
    int rc = convert(CASE, P("plain_file"), "--dtype bf16");
    CHECKF(rc == 1 && strstr(out, P("plain_file")) && strstr(out, "is not a directory"), "rc %d: %s", rc, out);
    rc = convert(CASE, P("plain_file/sub"), "--dtype bf16");
    CHECKF(rc == 1 && strstr(out, "plain_file/sub") && strstr(out, strerror(ENOTDIR)), "rc %d: %s", rc, out);
    rc = sh("'%s' init --config '%s/config.json' -o '%s'", SC_SWITCHC_BIN, CASE, P("plain_file"));
    CHECKF(rc == 1 && strstr(out, "is not a directory"), "rc %d: %s", rc, out);
    /* bad usage stays 2 */
    rc = sh("'%s' convert -m '%s' -o '%s'", SC_SWITCHC_BIN, CASE, P("usage_out"));
    CHECK(rc == 2 && !exists(P("usage_out")));
    rc = sh("'%s' init -o '%s' --frobnicate", SC_SWITCHC_BIN, P("usage_out"));
    CHECK(rc == 2 && !exists(P("usage_out")));
    CHECK(is_regular(P("plain_file")));
}

/* One file -> shards -> fewer shards -> one file: each result holds only
 * the layout just written and loads it. */
static void layouts(void) {
    CHECK(sh("rm -rf '%s' && cp -r '%s' '%s'", P("lay"), P("ref_bf16"), P("lay")) == 0);
    int rc = convert(CASE, P("lay"), "--dtype f32 --force --shard-size 200K");
    CHECKF(rc == 0, "rc %d: %s", rc, out);
    int many = count_entries(P("lay"), "model-", ".safetensors");
    CHECKF(many >= 3, "%d shards", many);
    CHECK(!exists(P("lay/model.safetensors")) && exists(P("lay/model.safetensors.index.json")));
    CHECK(loads(P("lay")));
    rc = convert(CASE, P("lay"), "--dtype f32 --force --shard-size 700K");
    CHECKF(rc == 0, "rc %d: %s", rc, out);
    int fewer = count_entries(P("lay"), "model-", ".safetensors");
    CHECKF(fewer >= 2 && fewer < many, "%d shards after %d", fewer, many);
    char name[64];
    snprintf(name, sizeof name, "-of-%05d.safetensors", fewer);
    CHECK(count_entries(P("lay"), "model-", name) == fewer);
    CHECK(loads(P("lay")) && n_tmp(P("lay")) == 0);
    rc = convert(CASE, P("lay"), "--dtype bf16 --force");
    CHECKF(rc == 0, "rc %d: %s", rc, out);
    CHECK(count_entries(P("lay"), "model-", ".safetensors") == 0);
    CHECK(!exists(P("lay/model.safetensors.index.json")));
    CHECK(sc_test_files_equal(P("lay/model.safetensors"), P("ref_bf16/model.safetensors")));
    CHECK(loads(P("lay")));
    /* in place from shards to one file: the input shards go once the file is in place */
    rc = convert(CASE, P("lay_ip"), "--dtype f32 --shard-size 300K");
    CHECKF(rc == 0, "rc %d: %s", rc, out);
    rc = convert(P("lay_ip"), P("lay_ip"), "--dtype bf16");
    CHECKF(rc == 0, "rc %d: %s", rc, out);
    CHECK(count_entries(P("lay_ip"), "model-", ".safetensors") == 0);
    CHECK(!exists(P("lay_ip/model.safetensors.index.json")));
    CHECK(sc_test_files_equal(P("lay_ip/model.safetensors"), P("ref_bf16/model.safetensors")));
}

/* ---- init ---- */

static void init_refusal(void) {
    const char *cfg = CASE "/config.json";
    CHECK(sh("rm -rf '%s' '%s' '%s' '%s'", P("ini"), P("ini_link"), P("ini_empty"), P("ini_empty_link")) == 0);
    int rc = sh("'%s' init --config '%s' -o '%s' --seed 1", SC_SWITCHC_BIN, cfg, P("ini"));
    CHECKF(rc == 0, "rc %d: %s", rc, out);
    CHECK(sh("cp '%s' '%s'", P("ini/model.safetensors"), P("ini_seed1.safetensors")) == 0);
    rc = sh("'%s' init --config '%s' -o '%s' --seed 2", SC_SWITCHC_BIN, cfg, P("ini"));
    CHECKF(rc == 1 && strstr(out, "already holds a checkpoint") && strstr(out, P("ini")), "rc %d: %s", rc, out);
    CHECK(sc_test_files_equal(P("ini/model.safetensors"), P("ini_seed1.safetensors")) &&
          n_tmp(P("ini")) == 0);
    /* through a link to the directory */
    CHECK(symlink(P("ini"), P("ini_link")) == 0);
    rc = sh("'%s' init --config '%s' -o '%s' --seed 2", SC_SWITCHC_BIN, cfg, P("ini_link"));
    CHECKF(rc == 1 && strstr(out, "already holds a checkpoint"), "rc %d: %s", rc, out);
    CHECK(sc_test_files_equal(P("ini/model.safetensors"), P("ini_seed1.safetensors")));
    /* --force replaces it */
    rc = sh("'%s' init --config '%s' -o '%s' --seed 2 --force", SC_SWITCHC_BIN, cfg, P("ini_link"));
    CHECKF(rc == 0, "rc %d: %s", rc, out);
    CHECK(!sc_test_files_equal(P("ini/model.safetensors"), P("ini_seed1.safetensors")));
    CHECK(is_link(P("ini_link")) && n_tmp(P("ini")) == 0 && loads(P("ini")));
    /* a link to an empty directory is written through to it */
    CHECK(sh("mkdir -p '%s' && ln -s '%s' '%s'", P("ini_empty"), P("ini_empty"), P("ini_empty_link")) == 0);
    rc = sh("'%s' init --config '%s' -o '%s' --seed 1", SC_SWITCHC_BIN, cfg, P("ini_empty_link"));
    CHECKF(rc == 0, "rc %d: %s", rc, out);
    CHECK(is_link(P("ini_empty_link")));
    CHECK(sc_test_files_equal(P("ini_empty/model.safetensors"), P("ini_seed1.safetensors")));
    /* a directory with only unrelated files is fine; one with a (dangling) linked config is not */
    CHECK(sh("rm -rf '%s' '%s' && mkdir -p '%s' '%s' && touch '%s/notes.txt' && "
             "ln -s /nonexistent/config.json '%s/config.json'",
             P("ini_notes"), P("ini_dangle"), P("ini_notes"), P("ini_dangle"), P("ini_notes"),
             P("ini_dangle")) == 0);
    rc = sh("'%s' init --config '%s' -o '%s'", SC_SWITCHC_BIN, cfg, P("ini_notes"));
    CHECKF(rc == 0 && is_regular(P("ini_notes/notes.txt")) && loads(P("ini_notes")), "rc %d: %s", rc, out);
    rc = sh("'%s' init --config '%s' -o '%s'", SC_SWITCHC_BIN, cfg, P("ini_dangle"));
    CHECKF(rc == 1 && strstr(out, "config.json"), "rc %d: %s", rc, out);
    CHECK(is_link(P("ini_dangle/config.json")) && !exists(P("ini_dangle/model.safetensors")));
}

static void init_tokenizer(void) {
    CHECK(sh("rm -rf '%s' '%s'", P("tok"), P("tok_none")) == 0);
    int rc = sh("'%s' init --config '%s/config.json' -o '%s' --tokenizer '%s' --seed 5", SC_SWITCHC_BIN, T5CASE,
                P("tok"), TOKDIR);
    CHECKF(rc == 0, "rc %d: %s", rc, out);
    CHECK(sc_test_files_equal(P("tok/spiece.model"), TOKDIR "/spiece.model"));
    CHECK(sc_test_files_equal(P("tok/tokenizer_config.json"), TOKDIR "/tokenizer_config.json"));
    CHECK(sc_test_files_equal(P("tok/special_tokens_map.json"), TOKDIR "/special_tokens_map.json"));
    CHECK(sc_test_files_equal(P("tok/added_tokens.json"), TOKDIR "/added_tokens.json"));
    rc = sh("'%s' generate -m '%s' --max-new-tokens 3 hi", SC_SWITCHC_BIN, P("tok"));
    CHECKF(rc == 0, "generate: rc %d: %s", rc, out);
    /* a tokenizer directory without a tokenizer: refused before anything is made */
    rc = sh("'%s' init --config '%s/config.json' -o '%s' --tokenizer '%s'", SC_SWITCHC_BIN, T5CASE,
            P("tok_none"), CASE);
    CHECKF(rc == 1 && strstr(out, "spiece.model"), "rc %d: %s", rc, out);
    CHECK(!exists(P("tok_none")));
}

int main(void) {
    snprintf(T, sizeof T, "%s/data_safety", SC_TMP_DIR);
    CHECK(sh("rm -rf '%s' && mkdir -p '%s'", T, T) == 0);
    staged_dir_unit();
    reference();
    in_place();
    linked_weights();
    failure_mid_write();
    bad_outputs();
    layouts();
    init_refusal();
    init_tokenizer();
    TEST_MAIN_END();
}
