/* Git LFS pointer files in place of checkpoint and tokenizer files (what a
 * clone without git-lfs holds): copies of fixture directories with one file
 * replaced by a pointer at a time, loaded as a model, opened as a
 * checkpoint and loaded as a tokenizer; each must fail with SC_ERR_FORMAT
 * and a message naming the file and git-lfs. Plus the detector itself on
 * near misses. */
#include "ckpt_test_util.h"
#include "core/mapfile.h"
#include "switchc.h"

#define CASE "e8_step2_untied_heads_ne_dmodel"
#define SHARDED "e8_step3_enc_dec0sparse_defaults_sharded"

static const char pointer[] = "version https://git-lfs.github.com/spec/v1\n"
                              "oid sha256:4f1c6a2b0d0e4f5f8e7c1b2a3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f6a\n"
                              "size 1205344\n";

static void copy_in(const char *dir, const char *src_dir, const char *file) {
    char src[4200], dst[4200];
    snprintf(src, sizeof src, "%s/%s", src_dir, file);
    snprintf(dst, sizeof dst, "%s/%s", dir, file);
    buf b = read_whole(src);
    CHECKF(b.n > 0, "fixture %s", src);
    write_whole(dst, b.p, b.n);
    buf_free(&b);
}

static void put_pointer(const char *dir, const char *file) {
    char p[4200];
    snprintf(p, sizeof p, "%s/%s", dir, file);
    write_whole(p, pointer, sizeof pointer - 1);
}

/* The message must name the file, say "Git LFS pointer, not <what>" and give
 * the git-lfs advice. */
static void check_msg(const char *what, sc_status st, const sc_error *err, const char *file, const char *not_what) {
    char want[200];
    snprintf(want, sizeof want, "/%s is a Git LFS pointer, not %s: install git-lfs and run `git lfs pull`", file,
             not_what);
    CHECKF(st == SC_ERR_FORMAT, "%s: status %s (%s)", what, sc_status_name(st), st ? err->msg : "");
    CHECKF(st && strstr(err->msg, want), "%s: message '%s' lacks '%s'", what, err->msg, want);
    CHECKF(st && strstr(err->msg, "1205344 bytes"), "%s: message '%s' lacks the real size", what, err->msg);
    printf("%-34s %s\n", what, st ? err->msg : "(loaded)");
}

static void expect_model_fail(const char *what, const char *dir, bool no_mmap, const char *file) {
    sc_model_params p = sc_model_default_params();
    p.n_threads = 1;
    p.no_mmap = no_mmap;
    sc_model *m = NULL;
    sc_error err = {0};
    sc_status st = sc_model_load(dir, &p, &m, &err);
    CHECK(m == NULL);
    sc_model_free(m);
    check_msg(what, st, &err, file, "the weights");
    /* the checkpoint layer alone says the same */
    sc_checkpoint *ck = NULL;
    st = sc_checkpoint_open(dir, -1, &ck, &err);
    CHECK(ck == NULL);
    sc_checkpoint_close(ck);
    check_msg(what, st, &err, file, "the weights");
}

static void expect_tokenizer_fail(const char *what, const char *dir, const char *file) {
    sc_tokenizer *t = NULL;
    sc_error err = {0};
    sc_status st = sc_tokenizer_load(dir, &t, &err);
    CHECK(t == NULL);
    sc_tokenizer_free(t);
    check_msg(what, st, &err, file, "the tokenizer");
}

int main(void) {
    char fix[4096], sharded[4096], tok[4096];
    snprintf(fix, sizeof fix, "%s/models/%s", SC_FIXTURES_DIR, CASE);
    snprintf(sharded, sizeof sharded, "%s/models/%s", SC_FIXTURES_DIR, SHARDED);
    snprintf(tok, sizeof tok, "%s/tokenizer", SC_FIXTURES_DIR);
    const char *d;

    /* control: the copy with real files loads (so the failures below come
     * from the pointers alone) */
    d = tmp_case_dir("lfs_control");
    copy_in(d, fix, "config.json");
    copy_in(d, fix, "model.safetensors");
    copy_in(d, tok, "spiece.model");
    {
        sc_model *m = NULL;
        sc_tokenizer *t = NULL;
        sc_error err;
        CHECKF(sc_model_load(d, NULL, &m, &err) == SC_OK, "control: %s", err.msg);
        CHECKF(sc_tokenizer_load(d, &t, &err) == SC_OK, "control tokenizer: %s", err.msg);
        sc_model_free(m);
        sc_tokenizer_free(t);
    }

    d = tmp_case_dir("lfs_safetensors");
    copy_in(d, fix, "config.json");
    put_pointer(d, "model.safetensors");
    expect_model_fail("model.safetensors pointer", d, false, "model.safetensors");
    expect_model_fail("model.safetensors pointer, no_mmap", d, true, "model.safetensors");

    d = tmp_case_dir("lfs_bin");
    copy_in(d, fix, "config.json");
    put_pointer(d, "pytorch_model.bin");
    expect_model_fail("pytorch_model.bin pointer", d, false, "pytorch_model.bin");

    d = tmp_case_dir("lfs_shard");
    copy_in(d, sharded, "config.json");
    copy_in(d, sharded, "model.safetensors.index.json");
    copy_in(d, sharded, "model-00001-of-00002.safetensors");
    put_pointer(d, "model-00002-of-00002.safetensors");
    expect_model_fail("second shard pointer", d, false, "model-00002-of-00002.safetensors");

    d = tmp_case_dir("lfs_index");
    copy_in(d, sharded, "config.json");
    put_pointer(d, "model.safetensors.index.json");
    copy_in(d, sharded, "model-00001-of-00002.safetensors");
    copy_in(d, sharded, "model-00002-of-00002.safetensors");
    expect_model_fail("shard index pointer", d, false, "model.safetensors.index.json");

    d = tmp_case_dir("lfs_spiece");
    put_pointer(d, "spiece.model");
    expect_tokenizer_fail("spiece.model pointer", d, "spiece.model");
    {
        /* the file itself, not only a directory */
        char p[4200];
        snprintf(p, sizeof p, "%s/spiece.model", d);
        expect_tokenizer_fail("spiece.model pointer (file)", p, "spiece.model");
    }

    d = tmp_case_dir("lfs_tokenizer_json");
    put_pointer(d, "tokenizer.json");
    expect_tokenizer_fail("tokenizer.json pointer", d, "tokenizer.json");

    /* The detector on near misses: none of these is a pointer. */
    {
        sc_error err;
        const char *other = "version https://example.com/spec/v1\nsize 3\n";
        CHECK(sc_file_check_lfs_pointer("x.bin", other, strlen(other), &err) == SC_OK);
        const char *glued = "version https://git-lfs.github.com/spec/v10\n";
        CHECK(sc_file_check_lfs_pointer("x.bin", glued, strlen(glued), &err) == SC_OK);
        CHECK(sc_file_check_lfs_pointer("x.bin", pointer, 20, &err) == SC_OK); /* cut inside line one */
        CHECK(sc_file_check_lfs_pointer("x.bin", NULL, 0, &err) == SC_OK);
        /* git-lfs never reads a blob of 1024 bytes or more as a pointer */
        char big[1024];
        memset(big, '\n', sizeof big);
        memcpy(big, pointer, sizeof pointer - 1);
        CHECK(sc_file_check_lfs_pointer("x.bin", big, sizeof big, &err) == SC_OK);
        CHECK(sc_file_check_lfs_pointer("x.bin", big, sizeof big - 1, &err) == SC_ERR_FORMAT);
        /* CRLF line ends (a checkout with autocrlf) are still a pointer; no
         * size line: no size in the message */
        const char *crlf = "version https://git-lfs.github.com/spec/v1\r\noid sha256:00\r\n";
        CHECK(sc_file_check_lfs_pointer("dir/config.json", crlf, strlen(crlf), &err) == SC_ERR_FORMAT);
        CHECKF(strstr(err.msg, "dir/config.json is a Git LFS pointer, not the file itself") &&
                   !strstr(err.msg, "bytes)"),
               "%s", err.msg);
        /* every reader refuses one: sc_file_read too */
        d = tmp_case_dir("lfs_read");
        put_pointer(d, "generation_config.json");
        char p[4200], *text = NULL;
        size_t n = 0;
        snprintf(p, sizeof p, "%s/generation_config.json", d);
        CHECK(sc_file_read(p, 1 << 20, &text, &n, &err) == SC_ERR_FORMAT && text == NULL);
        CHECKF(strstr(err.msg, "generation_config.json is a Git LFS pointer"), "%s", err.msg);
        free(text);
    }
    TEST_MAIN_END();
}
