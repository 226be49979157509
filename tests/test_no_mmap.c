/* Weights read into memory (sc_model_params.no_mmap, sc_checkpoint_open_read,
 * sc_file_load) instead of mapped: every fixture checkpoint gives the same
 * tensors both ways in every format it has, progress counts every byte, a
 * converted source is never given back (its pages would read as zeros), a
 * model gives bitwise the same logits, and the loader's errors are clean. */
#include "ckpt_test_util.h"
#include "core/mapfile.h"
#include "model/session.h"

#include <sys/stat.h>

typedef struct progress_log {
    size_t calls, last, total;
    bool monotonic;
} progress_log;

static void log_progress(void *ctx, size_t done, size_t total) {
    progress_log *p = ctx;
    if (p->calls++ && done <= p->last) p->monotonic = false;
    p->last = done;
    p->total = total;
}

static bool same_entry(const sc_tensor_entry *a, const sc_tensor_entry *b) {
    if (!b || a->view.dtype != b->view.dtype || a->view.ndim != b->view.ndim || a->nbytes != b->nbytes) return false;
    for (int i = 0; i < a->view.ndim; i++)
        if (a->view.shape[i] != b->view.shape[i]) return false;
    return a->nbytes == 0 || memcmp(a->view.data, b->view.data, a->nbytes) == 0;
}

/* The case's checkpoint in format f, mapped and read, entry by entry. */
static void check_format(const char *name, int f) {
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/models/%s", SC_FIXTURES_DIR, name);
    sc_checkpoint *mapped = NULL, *read = NULL;
    sc_error err;
    if (sc_checkpoint_open(dir, f, &mapped, &err) == SC_ERR_MISSING) return;
    CHECKF(mapped, "%s format %d: %s", name, f, err.msg);
    progress_log pg = {.monotonic = true};
    /* 3 readers: the larger files (1 MiB chunks) are shared out */
    const sc_checkpoint_read how = {.into_memory = true, .threads = 3, .progress = log_progress, .progress_ctx = &pg};
    CHECKF(sc_checkpoint_open_read(dir, f, &how, &read, &err) == SC_OK, "%s format %d: %s", name, f, err.msg);
    if (!mapped || !read) goto out;
    CHECK(sc_checkpoint_count(read) == sc_checkpoint_count(mapped));
    size_t bad = 0, biggest = 0;
    for (size_t i = 0; i < sc_checkpoint_count(mapped); i++) {
        const sc_tensor_entry *a = sc_checkpoint_at(mapped, i);
        if (!same_entry(a, sc_checkpoint_find(read, a->name))) bad++;
        if (a->nbytes > sc_checkpoint_at(mapped, biggest)->nbytes) biggest = i;
    }
    CHECKF(bad == 0, "%s format %d: %zu tensors differ when read into memory", name, f, bad);
    /* progress: at least one call per file, increasing, ending at the total */
    CHECKF(pg.calls >= 1 && pg.monotonic && pg.last == pg.total && pg.total == sc_checkpoint_file_bytes(read),
           "%s format %d: progress %zu calls, last %zu of %zu, files %zu", name, f, pg.calls, pg.last, pg.total,
           sc_checkpoint_file_bytes(read));
    /* Giving back the pages of a converted source must leave read memory
     * alone: anonymous pages given back read as zeros, not as the file. */
    const sc_tensor_entry *big = sc_checkpoint_at(read, biggest);
    const sc_tensor_entry *big_ref = sc_checkpoint_find(mapped, big->name);
    sc_checkpoint_drop_pages(read, big->view.data, big->nbytes);
    sc_checkpoint_drop_pages(mapped, big_ref->view.data, big_ref->nbytes);
    CHECKF(same_entry(big_ref, big), "%s format %d: %s changed after drop_pages (%zu bytes)", name, f, big->name,
           big->nbytes);
out:
    sc_checkpoint_close(mapped);
    sc_checkpoint_close(read);
}

/* A whole model both ways: bitwise the same encoder output and logits. With
 * q8 the dense matrices are converted at load and their sources given back
 * (the tied case's embedding lookup then reads the source again). */
static void check_model(const char *name, sc_dtype dtype) {
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/models/%s", SC_FIXTURES_DIR, name);
    sc_model *m[2] = {0};
    sc_session *s[2] = {0};
    float *logits[2] = {0};
    sc_error err;
    const int64_t B = 2, S = 5, T = 4;
    int32_t ids[10] = {5, 9, 17, 3, 1, 8, 8, 2, 1, 0}, mask[10] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 0};
    int32_t dec[8] = {0, 11, 12, 13, 0, 21, 22, 23};
    for (int k = 0; k < 2; k++) {
        sc_model_params p = sc_model_default_params();
        p.n_threads = 1;
        p.dtype = dtype;
        p.no_mmap = k == 1;
        CHECKF(sc_model_load(dir, &p, &m[k], &err) == SC_OK, "%s: %s", name, err.msg);
        if (!m[k] || sc_session_new(m[k], &s[k], &err)) goto out;
        const int64_t V = sc_model_vocab_size(m[k]);
        logits[k] = malloc(sizeof(float) * (size_t)(B * T * V));
        CHECK(logits[k] && sc_session_encode(s[k], ids, mask, B, S, &err) == SC_OK &&
              sc_session_decode(s[k], dec, T, logits[k], NULL, &err) == SC_OK);
    }
    if (logits[0] && logits[1]) {
        int64_t D = 0;
        const float *h0 = sc_session_encoder_output(s[0], NULL, NULL), *h1 = sc_session_encoder_output(s[1], NULL, &D);
        const size_t n = (size_t)(B * T * sc_model_vocab_size(m[0]));
        CHECKF(h0 && h1 && !memcmp(h0, h1, sizeof(float) * (size_t)(B * S * sc_model_d_model(m[0]))),
               "%s: encoder output differs with no_mmap", name);
        CHECKF(!memcmp(logits[0], logits[1], sizeof(float) * n), "%s %s: logits differ with no_mmap", name,
               sc_dtype_name(dtype));
    }
out:
    for (int k = 0; k < 2; k++) {
        free(logits[k]);
        sc_session_free(s[k]);
        sc_model_free(m[k]);
    }
}

static void check_load_errors(void) {
    sc_mapped_file f = {.size = 7};
    sc_error err;
    const char *dir = tmp_case_dir("no_mmap_errors");
    char path[4300];
    snprintf(path, sizeof path, "%s/absent.safetensors", dir);
    CHECK_FAIL(sc_file_load(path, 2, NULL, &f, &err), SC_ERR_MISSING, err, "absent.safetensors");
    CHECK(f.size == 7 && !f.data && !f.path); /* untouched */
    CHECK_FAIL(sc_file_load(dir, 1, NULL, &f, &err), SC_ERR_IO, err, "not a regular file");
    CHECK(sc_file_load(NULL, 1, NULL, &f, &err) == SC_ERR_INVALID_ARG);
    snprintf(path, sizeof path, "%s/empty.bin", dir);
    write_whole(path, "", 0);
    CHECK(sc_file_load(path, 2, NULL, &f, &err) == SC_OK && f.size == 0 && !f.data && f.in_memory);
    sc_file_unmap(&f);
    CHECK(!f.path && !f.in_memory);
    /* a model directory whose weights cannot be read fails as the map does */
    char bad[4300];
    snprintf(bad, sizeof bad, "%s/model.safetensors", dir);
    write_whole(bad, "\x08\0\0\0\0\0\0\0{}", 10); /* header runs past the end */
    sc_checkpoint *ck = NULL;
    const sc_checkpoint_read how = {.into_memory = true};
    sc_status st = sc_checkpoint_open_read(dir, -1, &how, &ck, &err);
    CHECKF(st == SC_ERR_FORMAT && !ck && strstr(err.msg, "model.safetensors"), "%s: %s", sc_status_name(st), err.msg);
}

int main(void) {
    const char *cases[] = {"e4_step1_tied_bias_overflow", "e4_step1_tied_bias_overflow_fp16",
                           "e8_step2_untied_heads_ne_dmodel_bf16", "e8_step3_enc_dec0sparse_defaults_sharded",
                           "t5vocab_e4_step2"};
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++)
        for (int f = 0; f < 4; f++) check_format(cases[c], f);
    check_model("e4_step1_tied_bias_overflow", SC_DTYPE_AS_STORED);
    check_model("e4_step1_tied_bias_overflow", SC_DTYPE_I8);
    check_model("e8_step2_untied_heads_ne_dmodel_bf16", SC_DTYPE_F32);
    check_load_errors();
    TEST_MAIN_END();
}
