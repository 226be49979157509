/* sc_model_path_resolve against a fake Hugging Face hub cache built under
 * SC_TMP_DIR (snapshot files are symlinks into blobs/, as the real cache
 * has): the cache found through HF_HUB_CACHE, HF_HOME and HOME in turn,
 * the model and tokenizer loaded through the resolved path, revisions by
 * branch and by commit, existing paths winning, the not-found message, and
 * hostile names, revisions and refs files. */
#include "hf_cache_test_util.h"
#include "io/hf_cache.h"
#include "switchc.h"

#include <sys/stat.h>

#define FIX "e4_step1_tied_bias_overflow"
#define HASH_A "0123456789abcdef0123456789abcdef01234567"
#define HASH_B "89abcdef0123456789abcdef0123456789abcdef"
#define HASH_C "fedcba9876543210fedcba9876543210fedcba98"
#define HASH_D "dddddddddddddddddddddddddddddddddddddddd"

static char root[2048], hub[2300];

static void clear_env(void) {
    unsetenv("HF_HUB_CACHE");
    unsetenv("HUGGINGFACE_HUB_CACHE");
    unsetenv("HF_HOME");
    unsetenv("XDG_CACHE_HOME");
    unsetenv("HOME");
}

/* Resolves and returns a static copy of the path ("" on failure; err set). */
static const char *resolve(const char *name, const char *rev, sc_status *st, sc_error *err) {
    static char out[4096];
    size_t len = 0;
    memset(err, 0, sizeof *err);
    *st = sc_model_path_resolve(name, rev, out, sizeof out, &len, err);
    if (*st) out[0] = '\0';
    else CHECK(len == strlen(out));
    return out;
}

static bool ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && !strcmp(s + n - k, suffix);
}

static void expect(const char *what, const char *name, const char *rev, sc_status code, const char *n1,
                   const char *n2) {
    sc_status st;
    sc_error err;
    const char *p = resolve(name, rev, &st, &err);
    CHECKF(st == code, "%s: status %s, want %s (%s)", what, sc_status_name(st), sc_status_name(code),
           st ? err.msg : p);
    if (st) {
        CHECKF(!n1 || strstr(err.msg, n1), "%s: '%s' lacks '%s'", what, err.msg, n1);
        CHECKF(!n2 || strstr(err.msg, n2), "%s: '%s' lacks '%s'", what, err.msg, n2);
    }
    printf("%-30s %s\n", what, st ? err.msg : p);
}

/* The model and the tokenizer load through the resolved snapshot. */
static void expect_loads(const char *what, const char *name, const char *rev, const char *hash) {
    sc_status st;
    sc_error err;
    const char *p = resolve(name, rev, &st, &err);
    CHECKF(st == SC_OK, "%s: %s", what, err.msg);
    if (st) return;
    char want[300];
    snprintf(want, sizeof want, "/models--acme--tiny-switch/snapshots/%s", hash);
    CHECKF(ends_with(p, want), "%s: resolved to %s", what, p);
    sc_model *m = NULL;
    sc_model_params mp = sc_model_default_params();
    mp.n_threads = 1;
    CHECKF(sc_model_load(p, &mp, &m, &err) == SC_OK, "%s: model: %s", what, err.msg);
    sc_model_free(m);
    if (!strcmp(hash, HASH_A)) {
        sc_tokenizer *t = NULL;
        CHECKF(sc_tokenizer_load(p, &t, &err) == SC_OK, "%s: tokenizer: %s", what, err.msg);
        CHECK(sc_tokenizer_vocab_size(t) == 32100);
        sc_tokenizer_free(t);
    }
    printf("%-30s %s\n", what, p);
}

int main(void) {
    char fix[4096], tok[4096], cmd[20000], p[4400];
    snprintf(fix, sizeof fix, "%s/models/%s", SC_FIXTURES_DIR, FIX);
    snprintf(tok, sizeof tok, "%s/tokenizer", SC_FIXTURES_DIR);
    snprintf(root, sizeof root, "%s/hf_cache", SC_TMP_DIR);
    snprintf(hub, sizeof hub, "%s/hub", root);
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s'", root, hub);
    hf_sh(cmd);

    /* main -> A (weights + tokenizer), dev -> B (weights only); a bare name */
    const char *const model_files[] = {"config.json", "model.safetensors", NULL};
    const char *const tok_files[] = {"spiece.model", "tokenizer_config.json", NULL};
    hf_fake_snapshot(hub, "models--acme--tiny-switch", HASH_A, "main", fix, model_files);
    hf_fake_snapshot(hub, "models--acme--tiny-switch", HASH_A, NULL, tok, tok_files);
    hf_fake_snapshot(hub, "models--acme--tiny-switch", HASH_B, "dev", fix, model_files);
    hf_fake_snapshot(hub, "models--tiny-bare", HASH_A, "main", fix, model_files);
    /* a branch name with a '/' is a nested refs file, as the hub stores it */
    snprintf(cmd, sizeof cmd, "mkdir -p '%s/models--acme--tiny-switch/refs/pr' && printf '%s\\n' > "
             "'%s/models--acme--tiny-switch/refs/pr/7'", hub, HASH_B, hub);
    hf_sh(cmd);

    clear_env();
    setenv("HF_HUB_CACHE", hub, 1);
    expect_loads("HF_HUB_CACHE", "acme/tiny-switch", NULL, HASH_A);
    expect_loads("revision \"\" is main", "acme/tiny-switch", "", HASH_A);
    expect_loads("--revision dev (branch)", "acme/tiny-switch", "dev", HASH_B);
    expect_loads("--revision pr/7 (ref + newline)", "acme/tiny-switch", "pr/7", HASH_B);
    expect_loads("--revision <commit>", "acme/tiny-switch", HASH_B, HASH_B);
    {
        sc_status st;
        sc_error err;
        const char *r = resolve("tiny-bare", NULL, &st, &err);
        CHECKF(st == SC_OK && ends_with(r, "/models--tiny-bare/snapshots/" HASH_A), "bare name: %s",
               st ? err.msg : r);
    }

    clear_env();
    setenv("HF_HOME", root, 1);
    expect_loads("HF_HOME", "acme/tiny-switch", NULL, HASH_A);

    clear_env();
    snprintf(p, sizeof p, "%s/home/.cache/huggingface", root);
    snprintf(cmd, sizeof cmd, "mkdir -p '%s' && ln -sfn '%s' '%s/hub'", p, hub, p);
    hf_sh(cmd);
    snprintf(p, sizeof p, "%s/home", root);
    setenv("HOME", p, 1);
    expect_loads("HOME (cache dir a symlink)", "acme/tiny-switch", "main", HASH_A);

    /* Not found: the message says where it looked and that nothing is
     * downloaded. */
    clear_env();
    setenv("HF_HUB_CACHE", hub, 1);
    snprintf(p, sizeof p, "%s/models--acme--nothing", hub);
    expect("not in the cache", "acme/nothing", NULL, SC_ERR_MISSING, p, "does not download");
    expect("... lists both places", "acme/nothing", NULL, SC_ERR_MISSING, "./acme/nothing", "$HF_HUB_CACHE");
    snprintf(p, sizeof p, "%s/models--acme--tiny-switch/refs/nobranch", hub);
    expect("no such branch", "acme/tiny-switch", "nobranch", SC_ERR_MISSING, p, "does not download");
    snprintf(p, sizeof p, "%s/models--acme--tiny-switch/snapshots/" HASH_C, hub);
    expect("unknown commit", "acme/tiny-switch", HASH_C, SC_ERR_MISSING, p, "refs/" HASH_C);
    clear_env();
    expect("no cache at all", "acme/nothing", NULL, SC_ERR_MISSING, "HF_HUB_CACHE", "does not download");
    setenv("HF_HUB_CACHE", hub, 1);

    /* An existing path wins over the cache, returned as is. */
    char cwd[4096];
    CHECK(getcwd(cwd, sizeof cwd) != NULL);
    snprintf(cmd, sizeof cmd, "mkdir -p '%s/cwd/acme/tiny-switch'", root);
    hf_sh(cmd);
    snprintf(p, sizeof p, "%s/cwd", root);
    CHECK(chdir(p) == 0);
    {
        sc_status st;
        sc_error err;
        const char *r = resolve("acme/tiny-switch", "dev", &st, &err);
        CHECKF(st == SC_OK && !strcmp(r, "acme/tiny-switch"), "existing path: %s", st ? err.msg : r);
        r = resolve(fix, NULL, &st, &err);
        CHECKF(st == SC_OK && !strcmp(r, fix), "absolute path: %s", st ? err.msg : r);
        /* a too-small buffer says how much is needed */
        size_t len = 0;
        char small[4];
        st = sc_model_path_resolve("acme/tiny-switch", NULL, small, sizeof small, &len, &err);
        CHECK(st == SC_ERR_BUFFER_TOO_SMALL && len == strlen("acme/tiny-switch"));
        st = sc_model_path_resolve("acme/tiny-switch", NULL, NULL, 0, &len, &err);
        CHECK(st == SC_ERR_BUFFER_TOO_SMALL && len == strlen("acme/tiny-switch"));
    }
    CHECK(chdir(cwd) == 0);

    /* Hostile or malformed names and revisions never reach the cache. */
    expect("parent dir", "../acme/tiny-switch", NULL, SC_ERR_MISSING, "no such file or directory", NULL);
    expect("dot-dot inside", "acme/../../etc", NULL, SC_ERR_MISSING, "no such file or directory", NULL);
    expect("absolute, missing", "/no/such/model", NULL, SC_ERR_MISSING, "no such file or directory", NULL);
    expect("ORG/..", "acme/..", NULL, SC_ERR_INVALID_ARG, "not a Hugging Face repo id", "\"..\"");
    expect("empty part", "acme//tiny", NULL, SC_ERR_MISSING, "no such file or directory", NULL);
    expect("empty ORG", "/tiny", NULL, SC_ERR_MISSING, "no such file or directory", NULL);
    expect("trailing slash", "acme/", NULL, SC_ERR_MISSING, "no such file or directory", NULL);
    expect("double dash", "acme--x/tiny", NULL, SC_ERR_INVALID_ARG, "\"--\"", NULL);
    expect("bad character", "acme/ti ny", NULL, SC_ERR_INVALID_ARG, "character ' '", NULL);
    expect("leading dash", "-acme/tiny", NULL, SC_ERR_INVALID_ARG, "starts or ends", NULL);
    expect("empty name", "", NULL, SC_ERR_INVALID_ARG, "empty model name", NULL);
    expect("revision ..", "acme/tiny-switch", "../../../x", SC_ERR_INVALID_ARG, "'..'", NULL);
    expect("revision /abs", "acme/tiny-switch", "/etc/passwd", SC_ERR_INVALID_ARG, "empty", NULL);
    expect("revision space", "acme/tiny-switch", "a b", SC_ERR_INVALID_ARG, "0x20", NULL);

    /* Damaged refs and snapshots. */
    snprintf(p, sizeof p, "%s/models--acme--tiny-switch/refs/huge", hub);
    {
        FILE *f = fopen(p, "wb");
        CHECK(f != NULL);
        for (int i = 0; f && i < 100; i++) fputs(HASH_A "\n", f);
        if (f) fclose(f);
    }
    expect("huge refs file", "acme/tiny-switch", "huge", SC_ERR_FORMAT, "refs/huge is 4100 bytes",
           "one commit hash");
    snprintf(cmd, sizeof cmd, "printf 'not a hash' > '%s/models--acme--tiny-switch/refs/junk'", hub);
    hf_sh(cmd);
    expect("refs without a hash", "acme/tiny-switch", "junk", SC_ERR_FORMAT, "refs/junk does not hold a commit hash",
           NULL);
    snprintf(cmd, sizeof cmd, "printf '%s' > '%s/models--acme--tiny-switch/refs/gone'", HASH_C, hub);
    hf_sh(cmd);
    expect("refs to a missing snapshot", "acme/tiny-switch", "gone", SC_ERR_MISSING, "names commit " HASH_C,
           "does not exist");
    snprintf(cmd, sizeof cmd,
             "mkdir -p '%s/elsewhere' && ln -sfn '%s/elsewhere' '%s/models--acme--tiny-switch/snapshots/%s' && "
             "printf '%s' > '%s/models--acme--tiny-switch/refs/out'",
             root, root, hub, HASH_D, HASH_D, hub);
    hf_sh(cmd);
    expect("snapshot leading outside", "acme/tiny-switch", "out", SC_ERR_FORMAT, "leads outside", NULL);
    expect("... also by commit", "acme/tiny-switch", HASH_D, SC_ERR_FORMAT, "leads outside", NULL);

    /* The parsers on their own. */
    {
        char h[41];
        sc_error err;
        CHECK(sc_hf_parse_ref("r", HASH_A "\n", 41, h, &err) == SC_OK && !strcmp(h, HASH_A));
        CHECK(sc_hf_parse_ref("r", HASH_A "\r\n", 42, h, &err) == SC_OK);
        CHECK(sc_hf_parse_ref("r", HASH_A, 39, h, &err) == SC_ERR_FORMAT);
        CHECK(sc_hf_parse_ref("r", "0123456789ABCDEF0123456789abcdef01234567", 40, h, &err) == SC_ERR_FORMAT);
        CHECK(sc_hf_parse_ref("r", HASH_A " ", 41, h, &err) == SC_ERR_FORMAT);
        CHECK(sc_hf_parse_ref("r", "", 0, h, &err) == SC_ERR_FORMAT);
        CHECK(sc_hf_is_commit_hash(HASH_A) && !sc_hf_is_commit_hash("main") && !sc_hf_is_commit_hash(HASH_A "0"));
        CHECK(sc_hf_check_repo_id("google/switch-base-8", &err) == SC_OK);
        CHECK(sc_hf_check_repo_id("t5-small", &err) == SC_OK);
        CHECK(sc_hf_check_repo_id("a/b/c", &err) == SC_ERR_INVALID_ARG);
        char longid[200];
        memset(longid, 'a', sizeof longid - 1);
        longid[sizeof longid - 1] = '\0';
        CHECK(sc_hf_check_repo_id(longid, &err) == SC_ERR_INVALID_ARG);
        CHECK(sc_hf_check_revision("v1.0", &err) == SC_OK);
        CHECK(sc_hf_check_revision("refs/pr/1", &err) == SC_OK);
        CHECK(sc_hf_check_revision("a/./b", &err) == SC_ERR_INVALID_ARG);
        CHECK(sc_hf_check_revision("a\\b", &err) == SC_ERR_INVALID_ARG);
    }
    TEST_MAIN_END();
}
