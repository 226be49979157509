/* sc_model_load on broken model directories built at test time from a
 * fixture: each must fail with a non-zero status and a message naming the
 * file and the tensor or key (leaks are caught when run under ASan).
 * Includes a tiny safetensors writer to drop or alter one tensor, and
 * truncated copies of the weight files (which, mapped, would raise SIGBUS
 * if any tensor's range were trusted past the end). */
#include "core/mapfile.h"
#include "io/safetensors.h"
#include "io/tensor_list.h"
#include "test_util.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define CASE "e8_step2_untied_heads_ne_dmodel"
#define Q0 "encoder.block.0.layer.0.SelfAttention.q.weight"

static char tmp_root[2048];

static void mkdir_p(const char *path) {
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; *p; p++)
        if (*p == '/') {
            *p = '\0';
            mkdir(buf, 0755);
            *p = '/';
        }
    mkdir(buf, 0755);
}

static void write_file(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    CHECKF(f != NULL, "cannot write %s", path);
    if (!f) return;
    CHECK(fwrite(data, 1, n, f) == n);
    fclose(f);
}

/* A fresh empty model directory under the test tmp dir. */
static const char *new_dir(const char *name) {
    static char dir[4096];
    snprintf(dir, sizeof dir, "%s/%s", tmp_root, name);
    mkdir_p(dir);
    char p[4200];
    const char *files[] = {"config.json", "generation_config.json", "model.safetensors",
                           "pytorch_model.bin"};
    for (int i = 0; i < 4; i++) {
        snprintf(p, sizeof p, "%s/%s", dir, files[i]);
        unlink(p);
    }
    return dir;
}

/* Copies the fixture's `file` into dir, keeping only its first `keep` bytes
 * (all of it when keep is larger). */
static void copy_truncated(const char *dir, const char *file, size_t keep) {
    char src[4200], dst[4200];
    snprintf(src, sizeof src, "%s/models/%s/%s", SC_FIXTURES_DIR, CASE, file);
    snprintf(dst, sizeof dst, "%s/%s", dir, file);
    char *buf = NULL;
    size_t n = 0;
    CHECK(sc_file_read(src, (size_t)1 << 30, &buf, &n, NULL) == SC_OK);
    if (buf) write_file(dst, buf, keep < n ? keep : n);
    free(buf);
}

/* Copies the fixture's `file` into dir whole. */
static void copy_fixture(const char *dir, const char *file) { copy_truncated(dir, file, SIZE_MAX); }

typedef enum { EDIT_DROP, EDIT_SHAPE, EDIT_DTYPE } edit_kind;

/* Rewrites the fixture's model.safetensors into dir, applying one edit to
 * the tensor `victim`: drop it, transpose its shape, or relabel it I32. */
static void write_edited_safetensors(const char *dir, const char *victim, edit_kind kind) {
    char src[4200], dst[4200];
    snprintf(src, sizeof src, "%s/models/%s/model.safetensors", SC_FIXTURES_DIR, CASE);
    snprintf(dst, sizeof dst, "%s/model.safetensors", dir);
    sc_mapped_file mf;
    sc_tensor_list *l = NULL;
    CHECK(sc_file_map(src, &mf, NULL) == SC_OK);
    CHECK(sc_safetensors_parse(mf.data, mf.size, src, &l, NULL) == SC_OK);
    if (!l) return;
    size_t cap = 1 << 20, hn = 0, off = 0;
    char *hdr = malloc(cap);
    hn += (size_t)snprintf(hdr + hn, cap - hn, "{");
    for (size_t i = 0; i < sc_tensor_list_count(l); i++) {
        const sc_tensor_entry *e = sc_tensor_list_at(l, i);
        bool is_victim = !strcmp(e->name, victim);
        if (is_victim && kind == EDIT_DROP) continue;
        int64_t s0 = e->view.shape[0], s1 = e->view.ndim > 1 ? e->view.shape[1] : 0;
        const char *dt = sc_dtype_name(e->view.dtype);
        if (is_victim && kind == EDIT_SHAPE) {
            int64_t t = s0;
            s0 = s1;
            s1 = t;
        }
        if (is_victim && kind == EDIT_DTYPE) dt = "I32";
        char shape[64];
        if (e->view.ndim > 1) snprintf(shape, sizeof shape, "[%lld,%lld]", (long long)s0, (long long)s1);
        else snprintf(shape, sizeof shape, "[%lld]", (long long)s0);
        hn += (size_t)snprintf(hdr + hn, cap - hn,
                               "%s\"%s\":{\"dtype\":\"%s\",\"shape\":%s,\"data_offsets\":[%zu,%zu]}",
                               hn > 1 ? "," : "", e->name, dt, shape, off, off + e->nbytes);
        off += e->nbytes;
    }
    hn += (size_t)snprintf(hdr + hn, cap - hn, "}");
    while (hn % 8) hdr[hn++] = ' ';
    FILE *f = fopen(dst, "wb");
    CHECK(f != NULL);
    if (f) {
        uint8_t len[8];
        for (int i = 0; i < 8; i++) len[i] = (uint8_t)((uint64_t)hn >> (8 * i));
        fwrite(len, 1, 8, f);
        fwrite(hdr, 1, hn, f);
        for (size_t i = 0; i < sc_tensor_list_count(l); i++) {
            const sc_tensor_entry *e = sc_tensor_list_at(l, i);
            if (kind == EDIT_DROP && !strcmp(e->name, victim)) continue;
            fwrite(e->view.data, 1, e->nbytes, f);
        }
        fclose(f);
    }
    free(hdr);
    sc_tensor_list_free(l);
    sc_file_unmap(&mf);
}

/* Loads dir (the files mapped, or read into memory with no_mmap); expects
 * failure with `code` and every needle in the message. */
static void expect_fail_as(const char *what, const char *dir, bool no_mmap, sc_status code, const char *n1,
                           const char *n2) {
    sc_model *m = NULL;
    sc_error err;
    sc_model_params p = sc_model_default_params();
    p.n_threads = 1;
    p.no_mmap = no_mmap;
    sc_status st = sc_model_load(dir, &p, &m, &err);
    CHECKF(st == code, "%s: status %s, want %s (%s)", what, sc_status_name(st), sc_status_name(code),
           st ? err.msg : "");
    CHECK(m == NULL);
    if (st) {
        CHECKF(!n1 || strstr(err.msg, n1), "%s: message '%s' lacks '%s'", what, err.msg, n1);
        CHECKF(!n2 || strstr(err.msg, n2), "%s: message '%s' lacks '%s'", what, err.msg, n2);
    }
    sc_model_free(m);
    printf("%-28s %s\n", what, st ? err.msg : "(loaded)");
}

/* expect_fail_as with the files mapped. */
static void expect_fail(const char *what, const char *dir, sc_status code, const char *n1, const char *n2) {
    expect_fail_as(what, dir, false, code, n1, n2);
}

/* expect_fail_as with the files read into memory (no_mmap). */
static void expect_fail_no_mmap(const char *what, const char *dir, sc_status code, const char *n1,
                                const char *n2) {
    expect_fail_as(what, dir, true, code, n1, n2);
}

/* A fresh model directory `name` with the fixture's config.json and its
 * weight `file` cut to its first `keep` bytes. */
static const char *new_cut_dir(const char *name, const char *file, size_t keep) {
    const char *d = new_dir(name);
    copy_fixture(d, "config.json");
    copy_truncated(d, file, keep);
    return d;
}

static void write_config_with(const char *dir, const char *key, const char *value) {
    char src[4200], dst[4200];
    snprintf(src, sizeof src, "%s/models/%s/config.json", SC_FIXTURES_DIR, CASE);
    snprintf(dst, sizeof dst, "%s/config.json", dir);
    char *buf = NULL;
    size_t n = 0;
    CHECK(sc_file_read(src, 1 << 20, &buf, &n, NULL) == SC_OK);
    if (!buf) return;
    /* replace the value of `"key": <number>` */
    char pat[128];
    snprintf(pat, sizeof pat, "\"%s\": ", key);
    char *at = strstr(buf, pat);
    CHECKF(at != NULL, "config has no %s", key);
    if (at) {
        char *v = at + strlen(pat), *end = v;
        while (*end && *end != ',' && *end != '\n') end++;
        FILE *f = fopen(dst, "wb");
        if (f) {
            fwrite(buf, 1, (size_t)(v - buf), f);
            fputs(value, f);
            fputs(end, f);
            fclose(f);
        }
    }
    free(buf);
}

int main(void) {
    snprintf(tmp_root, sizeof tmp_root, "%s/model_load_errors", SC_TMP_DIR);
    mkdir_p(tmp_root);
    const char *d;
    char buf[4200];

    /* the public format enum: automatic by default, and each value loads
     * only the weights it names */
    {
        sc_model_params p = sc_model_default_params();
        CHECK(p.format == SC_FORMAT_AUTO);
        const char *fx = SC_FIXTURES_DIR "/models/e4_step1_tied_bias_overflow";
        sc_model *m = NULL;
        sc_error err;
        p.format = SC_FORMAT_TORCH_BIN;
        CHECKF(sc_model_load(fx, &p, &m, &err) == SC_OK, "bin: %s", err.msg);
        sc_model_free(m);
        m = NULL;
        p.format = SC_FORMAT_SAFETENSORS_SHARDED;
        CHECK(sc_model_load(fx, &p, &m, &err) != SC_OK && m == NULL);
    }

    /* control: a full copy loads */
    d = new_dir("ok");
    copy_fixture(d, "config.json");
    copy_fixture(d, "model.safetensors");
    {
        sc_model *m = NULL;
        sc_error err;
        CHECKF(sc_model_load(d, NULL, &m, &err) == SC_OK, "control: %s", err.msg);
        sc_model_free(m);
    }
    /* and the rewriter itself is faithful */
    d = new_dir("rewritten");
    copy_fixture(d, "config.json");
    write_edited_safetensors(d, "(none)", EDIT_DROP);
    {
        sc_model *m = NULL;
        sc_error err;
        CHECKF(sc_model_load(d, NULL, &m, &err) == SC_OK, "rewritten: %s", err.msg);
        sc_model_free(m);
    }

    snprintf(buf, sizeof buf, "%s/does-not-exist", tmp_root);
    expect_fail("missing directory", buf, SC_ERR_MISSING, "does-not-exist", "no such model directory");

    d = new_dir("no_config");
    copy_fixture(d, "model.safetensors");
    expect_fail("missing config.json", d, SC_ERR_MISSING, "config.json", NULL);

    d = new_dir("no_weights");
    copy_fixture(d, "config.json");
    expect_fail("missing weights", d, SC_ERR_MISSING, "no_weights", "model.safetensors");

    d = new_dir("drop_tensor");
    copy_fixture(d, "config.json");
    write_edited_safetensors(d, Q0, EDIT_DROP);
    expect_fail("missing tensor", d, SC_ERR_MISSING, "drop_tensor", "'" Q0 "'");

    d = new_dir("drop_expert");
    copy_fixture(d, "config.json");
    write_edited_safetensors(d, "decoder.block.4.layer.2.mlp.experts.expert_7.wo.weight", EDIT_DROP);
    expect_fail("missing expert tensor", d, SC_ERR_MISSING, "drop_expert",
                "decoder.block.4.layer.2.mlp.experts.expert_7.wo.weight");

    d = new_dir("wrong_shape");
    copy_fixture(d, "config.json");
    write_edited_safetensors(d, Q0, EDIT_SHAPE);
    expect_fail("wrong shape", d, SC_ERR_SHAPE, "wrong_shape/model.safetensors",
                "'" Q0 "' is F32 [48, 36], expected a float tensor [36, 48]");

    d = new_dir("wrong_dtype");
    copy_fixture(d, "config.json");
    write_edited_safetensors(d, Q0, EDIT_DTYPE);
    expect_fail("wrong dtype I32", d, SC_ERR_SHAPE, "wrong_dtype/model.safetensors",
                "'" Q0 "' is I32 [36, 48]");

    d = new_dir("absurd_d_model");
    copy_fixture(d, "model.safetensors");
    write_config_with(d, "d_model", "1000000000000");
    expect_fail("absurd d_model", d, SC_ERR_LIMIT, "config.json", "d_model");

    d = new_dir("negative_heads");
    copy_fixture(d, "model.safetensors");
    write_config_with(d, "num_heads", "-3");
    expect_fail("negative num_heads", d, SC_ERR_FORMAT, "config.json", "num_heads");

    d = new_dir("overflow_experts");
    copy_fixture(d, "model.safetensors");
    write_config_with(d, "d_ff", "1048576");
    {
        /* every product at the per-key limit: refused by the product check */
        char p[4200];
        snprintf(p, sizeof p, "%s/config.json", d);
        const char *cfg = "{\"d_model\": 1048576, \"d_ff\": 1048576, \"num_experts\": 1048576,"
                          " \"num_layers\": 1048576, \"vocab_size\": 1048576}";
        write_file(p, cfg, strlen(cfg));
    }
    expect_fail("overflowing sizes", d, SC_ERR_LIMIT, "config.json", "num_experts");

    /* Sizes each within limits whose product is absurd for the weights
     * present: must fail fast without an absurd allocation. */
    d = new_dir("many_experts");
    copy_fixture(d, "model.safetensors");
    {
        char p[4200];
        snprintf(p, sizeof p, "%s/config.json", d);
        const char *cfg = "{\"d_model\": 1, \"d_ff\": 1, \"d_kv\": 1, \"num_heads\": 1,"
                          " \"num_experts\": 1048576, \"num_layers\": 1048576,"
                          " \"num_decoder_layers\": 1048576, \"num_sparse_encoder_layers\": 1048576,"
                          " \"num_sparse_decoder_layers\": 1048576, \"vocab_size\": 8}";
        write_file(p, cfg, strlen(cfg));
    }
    expect_fail("2^20 layers x 2^20 experts", d, SC_ERR_MISSING, "many_experts", "num_experts");

    d = new_dir("bad_json");
    copy_fixture(d, "model.safetensors");
    snprintf(buf, sizeof buf, "%s/config.json", d);
    write_file(buf, "{\"d_model\": 48,", 15);
    expect_fail("truncated config.json", d, SC_ERR_FORMAT, "config.json", "byte 15");

    d = new_dir("bad_generation_config");
    copy_fixture(d, "config.json");
    copy_fixture(d, "model.safetensors");
    snprintf(buf, sizeof buf, "%s/generation_config.json", d);
    write_file(buf, "{\"num_beams\": \"four\"}", 21);
    expect_fail("bad generation_config", d, SC_ERR_FORMAT, "generation_config.json", "num_beams");

    d = new_dir("truncated_weights");
    copy_fixture(d, "config.json");
    snprintf(buf, sizeof buf, "%s/model.safetensors", d);
    write_file(buf, "\x10\0\0\0\0\0\0\0{}", 10);
    expect_fail("truncated safetensors", d, SC_ERR_FORMAT, "model.safetensors", "header length 16");

    /* Weight files cut short (a download or copy that stopped): refused at
     * load, naming the file and a tensor whose data is gone. */
    size_t st_size = sc_file_size(fixture_path("models/" CASE "/model.safetensors"));
    size_t bin_size = sc_file_size(fixture_path("models/" CASE "/pytorch_model.bin"));
    CHECK(st_size > 4096 && bin_size > 4096);
    d = new_cut_dir("cut_safetensors", "model.safetensors", st_size / 2);
    expect_fail("safetensors cut in half", d, SC_ERR_FORMAT, "cut_safetensors/model.safetensors",
                "truncated");
    expect_fail_no_mmap("... read with no_mmap", d, SC_ERR_FORMAT, "cut_safetensors/model.safetensors",
                        "data_offsets end");
    d = new_cut_dir("cut_safetensors_1", "model.safetensors", st_size - 1);
    /* only the last tensor (in data order) loses a byte */
    expect_fail("safetensors short by 1 byte", d, SC_ERR_FORMAT, "cut_safetensors_1/model.safetensors",
                "tensor 'shared.weight'");

    d = new_cut_dir("cut_bin", "pytorch_model.bin", bin_size / 2);
    expect_fail("pytorch_model.bin cut in half", d, SC_ERR_FORMAT, "cut_bin/pytorch_model.bin",
                "is cut short at byte");
    expect_fail("pytorch_model.bin cut in half", d, SC_ERR_FORMAT, "lies past the end", "' (storage '");
    expect_fail_no_mmap("... read with no_mmap", d, SC_ERR_FORMAT, "cut_bin/pytorch_model.bin", "tensor '");
    /* cut after the last tensor's data, inside the zip directory */
    d = new_cut_dir("cut_bin_dir", "pytorch_model.bin", bin_size - 30);
    expect_fail("pytorch_model.bin short by 30", d, SC_ERR_FORMAT, "cut_bin_dir/pytorch_model.bin",
                "every tensor's data is there");
    /* cut inside data.pkl, the first entry: nothing to name */
    d = new_cut_dir("cut_bin_pickle", "pytorch_model.bin", 200);
    expect_fail("pytorch_model.bin cut at 200", d, SC_ERR_FORMAT, "cut_bin_pickle/pytorch_model.bin",
                "not a zip archive");

    TEST_MAIN_END();
}
