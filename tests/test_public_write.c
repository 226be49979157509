/* The public checkpoint writers (switchc.h, "writing checkpoints") through
 * the public header only: sc_init_checkpoint writes a model that loads, the
 * same seed gives the same bytes, progress ends at its total;
 * sc_output_dir_check and the writers refuse an output that holds a
 * checkpoint unless forced or converted in place, and a path that is not a
 * directory; sc_convert to bf16 loads and counts what it read and copied;
 * bad arguments. The commands' outputs are covered by test_convert and
 * test_data_safety. */
#include "switchc.h"
#include "test_util.h"

#define CONFIG SC_FIXTURES_DIR "/models/e8_step2_untied_heads_ne_dmodel/config.json"

static char dir_a[512], dir_b[512], dir_c[512], not_dir[512];

typedef struct progress {
    int calls;
    size_t last_done, last_total;
} progress;

static void on_progress(void *ctx, size_t done, size_t total) {
    progress *p = ctx;
    p->calls++;
    p->last_done = done;
    p->last_total = total;
}

static bool loads(const char *dir) {
    sc_model_params mp = sc_model_default_params();
    mp.n_threads = 1;
    sc_model *m = NULL;
    sc_error err;
    bool ok = sc_model_load(dir, &mp, &m, &err) == SC_OK;
    if (!ok) fprintf(stderr, "%s: %s\n", dir, err.msg);
    sc_model_free(m);
    return ok;
}

static void test_init(void) {
    sc_write_params p = sc_write_default_params();
    CHECK(p.dtype == SC_DTYPE_F32 && p.shard_bytes == 5000000000u && !p.force && p.embed_std < 0 &&
          !p.tokenizer_dir && !p.progress);
    p.seed = 3;
    progress pr = {0};
    p.progress = on_progress;
    p.progress_ctx = &pr;
    sc_write_result r;
    sc_error err;
    CHECKF(sc_init_checkpoint(CONFIG, dir_a, &p, &r, &err) == SC_OK, "%s", err.msg);
    CHECK(r.tensors > 0 && r.shards == 1 && r.output_bytes > 0);
    CHECK(pr.calls > 0 && pr.last_done == pr.last_total && pr.last_total > 0);
    CHECK(loads(dir_a));
    /* the same seed, the same files */
    p.progress = NULL;
    CHECK(sc_init_checkpoint(CONFIG, dir_b, &p, NULL, &err) == SC_OK);
    char a[1024], b[1024];
    snprintf(a, sizeof a, "%s/model.safetensors", dir_a);
    snprintf(b, sizeof b, "%s/model.safetensors", dir_b);
    CHECK(sc_test_files_equal(a, b));
    /* dir_b holds a checkpoint now: refused, then replaced with force */
    p.seed = 4;
    CHECK(sc_init_checkpoint(CONFIG, dir_b, &p, NULL, &err) == SC_ERR_INVALID_ARG &&
          strstr(err.msg, "already holds a checkpoint") && strstr(err.msg, dir_b));
    CHECK(sc_test_files_equal(a, b));
    p.force = true;
    CHECK(sc_init_checkpoint(CONFIG, dir_b, &p, NULL, &err) == SC_OK);
    CHECK(!sc_test_files_equal(a, b));
    /* a tokenizer directory without a tokenizer is refused before any work */
    p.tokenizer_dir = SC_TMP_DIR;
    CHECK(sc_init_checkpoint(CONFIG, dir_c, &p, NULL, &err) == SC_ERR_MISSING && strstr(err.msg, SC_TMP_DIR));
}

static void test_output_check(void) {
    sc_error err;
    CHECK(sc_output_dir_check(dir_c, NULL, false, &err) == SC_OK); /* does not exist yet */
    CHECK(sc_output_dir_check(not_dir, NULL, true, &err) == SC_ERR_INVALID_ARG &&
          strstr(err.msg, "not a directory"));
    CHECK(sc_output_dir_check(dir_a, NULL, false, &err) == SC_ERR_INVALID_ARG &&
          strstr(err.msg, "model.safetensors"));
    CHECK(sc_output_dir_check(dir_a, NULL, true, &err) == SC_OK);
    CHECK(sc_output_dir_check(dir_a, dir_a, false, &err) == SC_OK); /* in place */
    CHECK(sc_output_dir_check(dir_a, dir_b, false, &err) == SC_ERR_INVALID_ARG);
    CHECK(sc_output_dir_check(NULL, NULL, false, &err) == SC_ERR_INVALID_ARG);
}

static void test_convert(void) {
    sc_write_params p = sc_write_default_params();
    p.dtype = SC_DTYPE_BF16;
    sc_write_result r;
    sc_error err;
    CHECKF(sc_convert(dir_a, dir_c, &p, &r, &err) == SC_OK, "%s", err.msg);
    char path[1024];
    snprintf(path, sizeof path, "%s/model.safetensors", dir_a);
    FILE *f = fopen(path, "rb");
    long in_bytes = -1;
    if (f && fseek(f, 0, SEEK_END) == 0) in_bytes = ftell(f);
    if (f) fclose(f);
    CHECK(r.input_bytes == (size_t)in_bytes && r.output_bytes < r.input_bytes && r.output_bytes > r.input_bytes / 3);
    CHECK(r.files_copied == 2); /* config.json and generation_config.json */
    CHECK(loads(dir_c));
    /* in place, without force: the input is its own output */
    p.dtype = SC_DTYPE_I8;
    CHECKF(sc_convert(dir_c, dir_c, &p, &r, &err) == SC_OK, "%s", err.msg);
    CHECK(loads(dir_c));
    /* refused: another checkpoint, a dtype no matrix is computed in, NULL */
    CHECK(sc_convert(dir_a, dir_b, &p, NULL, &err) == SC_ERR_INVALID_ARG && strstr(err.msg, "already holds"));
    p.dtype = SC_DTYPE_I64;
    CHECK(sc_convert(dir_a, dir_c, &p, NULL, &err) == SC_ERR_INVALID_ARG && strstr(err.msg, "dtype"));
    CHECK(sc_init_checkpoint(CONFIG, dir_c, &p, NULL, &err) == SC_ERR_INVALID_ARG);
    CHECK(sc_convert(NULL, dir_c, NULL, NULL, &err) == SC_ERR_INVALID_ARG);
    CHECK(sc_init_checkpoint(CONFIG, NULL, NULL, NULL, &err) == SC_ERR_INVALID_ARG);
    /* a directory with no checkpoint */
    CHECK(sc_convert(SC_TMP_DIR, dir_c, NULL, NULL, &err) != SC_OK && err.msg[0]);
}

int main(void) {
    snprintf(dir_a, sizeof dir_a, "%s/public_write_a", SC_TMP_DIR);
    snprintf(dir_b, sizeof dir_b, "%s/public_write_b", SC_TMP_DIR);
    snprintf(dir_c, sizeof dir_c, "%s/public_write_c", SC_TMP_DIR);
    snprintf(not_dir, sizeof not_dir, "%s/public_write_file", SC_TMP_DIR);
    char cmd[3000];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s' && rm -rf '%s' '%s' '%s' && echo x > '%s'", SC_TMP_DIR, dir_a, dir_b,
             dir_c, not_dir);
    CHECK(system(cmd) == 0);
    test_init();
    test_output_check();
    test_convert();
    TEST_MAIN_END();
}
