/* Checkpoint directories: every fixture case opens in every format it has,
 * and all formats give the same tensors (names, dtype, shape, bytes), modulo
 * the aliases only torch .bin files store; the sharded case equals its
 * unsharded twin; bad directories and bad shard indexes fail cleanly. */
#include "ckpt_test_util.h"
#include "core/error.h"
#include "io/json.h"

#include <dirent.h>

static bool tied_embeddings(const char *case_dir) {
    char path[4300];
    snprintf(path, sizeof path, "%s/config.json", case_dir);
    sc_json_doc *doc = NULL;
    bool tied = true; /* HF default */
    if (sc_json_parse_file(path, 1 << 20, &doc, NULL) == SC_OK) {
        const sc_json *t = sc_json_get(sc_json_root(doc), "tie_word_embeddings");
        if (t) sc_json_bool(t, &tied);
    }
    sc_json_free(doc);
    return tied;
}

static bool same_tensor(const sc_tensor_entry *a, const sc_tensor_entry *b) {
    if (a->view.dtype != b->view.dtype || a->view.ndim != b->view.ndim || a->nbytes != b->nbytes)
        return false;
    for (int i = 0; i < a->view.ndim; i++)
        if (a->view.shape[i] != b->view.shape[i]) return false;
    return a->nbytes == 0 || memcmp(a->view.data, b->view.data, a->nbytes) == 0;
}

/* Every entry of `ref` is in `other` and identical; every entry of `other`
 * is in `ref` unless it is an allowed alias of shared.weight. */
static void compare(const sc_checkpoint *ref, const sc_checkpoint *other, bool tied,
                    const char *what) {
    size_t bad = 0;
    for (size_t i = 0; i < sc_checkpoint_count(ref); i++) {
        const sc_tensor_entry *a = sc_checkpoint_at(ref, i);
        const sc_tensor_entry *b = sc_checkpoint_find(other, a->name);
        if (!b || !same_tensor(a, b)) {
            if (bad++ < 3) fprintf(stderr, "%s: tensor %s differs or is missing\n", what, a->name);
        }
    }
    CHECKF(bad == 0, "%s: %zu tensors differ", what, bad);
    const sc_tensor_entry *shared = sc_checkpoint_find(ref, "shared.weight");
    CHECK(shared != NULL);
    size_t extra = 0, bad_alias = 0;
    for (size_t i = 0; i < sc_checkpoint_count(other); i++) {
        const sc_tensor_entry *b = sc_checkpoint_at(other, i);
        if (sc_checkpoint_find(ref, b->name)) continue;
        bool alias = strcmp(b->name, "encoder.embed_tokens.weight") == 0 ||
                     strcmp(b->name, "decoder.embed_tokens.weight") == 0 ||
                     (tied && strcmp(b->name, "lm_head.weight") == 0);
        if (!alias) {
            if (extra++ < 3) fprintf(stderr, "%s: unexpected tensor %s\n", what, b->name);
        } else if (!shared || !same_tensor(b, shared)) {
            bad_alias++;
        }
    }
    CHECKF(extra == 0, "%s: %zu unexpected tensors", what, extra);
    CHECKF(bad_alias == 0, "%s: %zu aliases differ from shared.weight", what, bad_alias);
}

static void check_case(const char *name) {
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/models/%s", SC_FIXTURES_DIR, name);
    sc_checkpoint *ck[4] = {0};
    sc_error err;
    int n_open = 0;
    for (int f = 0; f < 4; f++) {
        sc_status st = sc_checkpoint_open(dir, f, &ck[f], &err);
        if (st == SC_ERR_MISSING) continue;
        CHECKF(st == SC_OK, "%s format %d: %s", name, f, err.msg);
        if (st) continue;
        n_open++;
        CHECK(sc_checkpoint_format(ck[f]) == (sc_ckpt_format)f);
        CHECK(sc_checkpoint_count(ck[f]) > 10);
        CHECK(sc_checkpoint_file_bytes(ck[f]) > 0);
        /* every entry is findable, has a plausible view, and is aligned */
        size_t bad = 0;
        for (size_t i = 0; i < sc_checkpoint_count(ck[f]); i++) {
            const sc_tensor_entry *e = sc_checkpoint_at(ck[f], i);
            if (sc_checkpoint_find(ck[f], e->name) != e || !e->file || !e->view.data ||
                (uintptr_t)e->view.data % sc_dtype_size(e->view.dtype) != 0)
                bad++;
        }
        CHECKF(bad == 0, "%s format %d: %zu bad entries", name, f, bad);
        CHECK(sc_checkpoint_find(ck[f], "no.such.tensor") == NULL);
    }
    CHECKF(n_open >= 1, "%s: no format opened", name);
    /* automatic detection picks the first present format */
    sc_checkpoint *autock = NULL;
    CHECK(sc_checkpoint_open(dir, -1, &autock, &err) == SC_OK);
    for (int f = 0; f < 4 && autock; f++)
        if (ck[f]) {
            CHECK(sc_checkpoint_format(autock) == (sc_ckpt_format)f);
            break;
        }
    sc_checkpoint_close(autock);
    bool tied = tied_embeddings(dir);
    const sc_checkpoint *ref = ck[0] ? ck[0] : ck[1];
    for (int f = 1; f < 4 && ref; f++) {
        if (!ck[f] || ck[f] == ref) continue;
        char what[300];
        snprintf(what, sizeof what, "%s: %s vs %s", name, sc_checkpoint_format_name(SC_FORMAT_SAFETENSORS),
                 sc_checkpoint_format_name((sc_ckpt_format)f));
        compare(ref, ck[f], tied, what);
    }
    /* half-precision cases keep their dtype */
    sc_dtype want = strstr(name, "_fp16") ? SC_DTYPE_F16 : strstr(name, "_bf16") ? SC_DTYPE_BF16 : SC_DTYPE_F32;
    for (int f = 0; f < 4; f++) {
        size_t wrong = 0;
        for (size_t i = 0; i < sc_checkpoint_count(ck[f]); i++)
            if (sc_checkpoint_at(ck[f], i)->view.dtype != want) wrong++;
        CHECKF(wrong == 0, "%s format %d: %zu tensors not %s", name, f, wrong, sc_dtype_name(want));
    }
    for (int f = 0; f < 4; f++) sc_checkpoint_close(ck[f]);
}

static void check_sharded_equals_unsharded(void) {
    char a[4200], b[4200];
    snprintf(a, sizeof a, "%s/models/e8_step3_enc_dec0sparse_defaults", SC_FIXTURES_DIR);
    snprintf(b, sizeof b, "%s/models/e8_step3_enc_dec0sparse_defaults_sharded", SC_FIXTURES_DIR);
    sc_checkpoint *ca = NULL, *cb = NULL;
    sc_error err;
    CHECK(sc_checkpoint_open(a, SC_FORMAT_SAFETENSORS, &ca, &err) == SC_OK);
    CHECKF(sc_checkpoint_open(b, -1, &cb, &err) == SC_OK, "%s", err.msg);
    if (ca && cb) {
        CHECK(sc_checkpoint_format(cb) == SC_FORMAT_SAFETENSORS_SHARDED);
        CHECK(sc_checkpoint_count(ca) == sc_checkpoint_count(cb));
        compare(ca, cb, false, "sharded vs unsharded");
    }
    sc_checkpoint_close(ca);
    sc_checkpoint_close(cb);
}

/* Copies the sharded fixture into a temp dir with a rewritten index. */
static sc_status open_bad_index(const char *name, const char *from, const char *to, sc_error *err) {
    const char *src = "models/e8_step3_enc_dec0sparse_defaults_sharded";
    const char *dir = tmp_case_dir(name);
    char dst[4300];
    static const char *shards[] = {"model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"};
    for (int i = 0; i < 2; i++) {
        char rel[512];
        snprintf(rel, sizeof rel, "%s/%s", src, shards[i]);
        buf b = read_whole(fixture_path(rel));
        snprintf(dst, sizeof dst, "%s/%s", dir, shards[i]);
        write_whole(dst, b.p, b.n);
        buf_free(&b);
    }
    char rel[512];
    snprintf(rel, sizeof rel, "%s/model.safetensors.index.json", src);
    buf idx = read_whole(fixture_path(rel));
    buf_u8(&idx, 0);
    char *hit = strstr((char *)idx.p, from);
    buf out = {0};
    if (hit) {
        buf_put(&out, idx.p, (size_t)(hit - (char *)idx.p));
        buf_str(&out, to);
        buf_str(&out, hit + strlen(from));
    }
    snprintf(dst, sizeof dst, "%s/model.safetensors.index.json", dir);
    write_whole(dst, out.p, out.n);
    buf_free(&idx);
    buf_free(&out);
    sc_checkpoint *ck = NULL;
    memset(err, 0, sizeof *err);
    sc_status st = sc_checkpoint_open(dir, -1, &ck, err);
    sc_checkpoint_close(ck);
    return st;
}

static void check_bad_dirs(void) {
    sc_error err;
    sc_checkpoint *ck = NULL;
    char missing[4200];
    snprintf(missing, sizeof missing, "%s/no-such-dir", SC_TMP_DIR);
    sc_status st = sc_checkpoint_open(missing, -1, &ck, &err);
    CHECK_FAIL(st, SC_ERR_MISSING, err, "no-such-dir");
    CHECK(ck == NULL);
    const char *empty = tmp_case_dir("ckpt_no_weights");
    st = sc_checkpoint_open(empty, -1, &ck, &err);
    CHECK_FAIL(st, SC_ERR_MISSING, err, "ckpt_no_weights");
    CHECK(strstr(err.msg, "model.safetensors") && strstr(err.msg, "pytorch_model.bin"));
    /* asking for a format that is not there */
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/models/e8_step3_enc_dec0sparse_defaults_sharded", SC_FIXTURES_DIR);
    st = sc_checkpoint_open(dir, SC_FORMAT_TORCH_BIN, &ck, &err);
    CHECK_FAIL(st, SC_ERR_MISSING, err, "pytorch_model.bin");
    st = sc_checkpoint_open(dir, 7, &ck, &err);
    CHECK(st == SC_ERR_INVALID_ARG);
    st = sc_checkpoint_open(NULL, -1, &ck, &err);
    CHECK(st == SC_ERR_INVALID_ARG);
    sc_checkpoint_close(NULL);
    /* empty weight files */
    st = open_case("ckpt_empty_st", "model.safetensors", "", 0, &err);
    CHECK_FAIL(st, SC_ERR_FORMAT, err, "model.safetensors");
    st = open_case("ckpt_empty_bin", "pytorch_model.bin", "", 0, &err);
    CHECK_FAIL(st, SC_ERR_FORMAT, err, "pytorch_model.bin");

    /* shard indexes */
    st = open_bad_index("ckpt_idx_sane", "\"metadata\"", "\"metadata\"", &err);
    CHECKF(st == SC_OK, "%s", err.msg);
    st = open_bad_index("ckpt_idx_missing", "model-00002-of-00002.safetensors\"",
                        "model-00003-of-00002.safetensors\"", &err);
    CHECK_FAIL(st, SC_ERR_MISSING, err, "model-00003-of-00002.safetensors");
    CHECK(strstr(err.msg, "model.safetensors.index.json") != NULL);
    st = open_bad_index("ckpt_idx_dotdot", "\"model-00002-of-00002.safetensors\"", "\"../x\"", &err);
    CHECK_FAIL(st, SC_ERR_FORMAT, err, "model.safetensors.index.json");
    CHECK(strstr(err.msg, "plain file name") != NULL);
    st = open_bad_index("ckpt_idx_slash", "\"model-00002-of-00002.safetensors\"",
                        "\"sub/model-00002-of-00002.safetensors\"", &err);
    CHECK_FAIL(st, SC_ERR_FORMAT, err, "model.safetensors.index.json");
    st = open_bad_index("ckpt_idx_ghost", "\"decoder.block.0.layer.0.SelfAttention.k.weight\"",
                        "\"decoder.block.0.layer.0.SelfAttention.k.ghost\"", &err);
    CHECK_FAIL(st, SC_ERR_MISSING, err, "model.safetensors.index.json");
    CHECK(strstr(err.msg, "k.ghost") != NULL);
    /* a tensor listed under the wrong shard */
    st = open_bad_index("ckpt_idx_wrong_shard",
                        "\"decoder.block.0.layer.0.SelfAttention.k.weight\": \"model-00002-of-00002.safetensors\"",
                        "\"decoder.block.0.layer.0.SelfAttention.k.weight\": \"model-00001-of-00002.safetensors\"",
                        &err);
    CHECK_FAIL(st, SC_ERR_MISSING, err, "model-00001-of-00002.safetensors");
    st = open_bad_index("ckpt_idx_no_map", "\"weight_map\"", "\"weight_mop\"", &err);
    CHECK_FAIL(st, SC_ERR_FORMAT, err, "model.safetensors.index.json");
    st = open_bad_index("ckpt_idx_bad_json", "{", "[", &err);
    CHECK_FAIL(st, SC_ERR_FORMAT, err, "model.safetensors.index.json");
}

/* A sharded .bin made from the fixture: one shard plus an index listing
 * every tensor of it; must equal the unsharded file. */
static void check_sharded_bin(void) {
    const char *src = "models/e4_step1_tied_bias_overflow";
    char from[4200];
    snprintf(from, sizeof from, "%s/%s", SC_FIXTURES_DIR, src);
    sc_checkpoint *ref = NULL, *ck = NULL;
    sc_error err;
    CHECK(sc_checkpoint_open(from, SC_FORMAT_TORCH_BIN, &ref, &err) == SC_OK);
    if (!ref) return;
    const char *dir = tmp_case_dir("ckpt_sharded_bin");
    char path[4300];
    buf b = read_whole(fixture_path("models/e4_step1_tied_bias_overflow/pytorch_model.bin"));
    snprintf(path, sizeof path, "%s/pytorch_model-00001-of-00001.bin", dir);
    write_whole(path, b.p, b.n);
    buf_free(&b);
    buf idx = {0};
    buf_str(&idx, "{\"metadata\": {\"total_size\": 1}, \"weight_map\": {");
    for (size_t i = 0; i < sc_checkpoint_count(ref); i++) {
        buf_str(&idx, i ? ", \"" : "\"");
        buf_str(&idx, sc_checkpoint_at(ref, i)->name);
        buf_str(&idx, "\": \"pytorch_model-00001-of-00001.bin\"");
    }
    buf_str(&idx, "}}");
    snprintf(path, sizeof path, "%s/pytorch_model.bin.index.json", dir);
    write_whole(path, idx.p, idx.n);
    buf_free(&idx);
    sc_status st = sc_checkpoint_open(dir, -1, &ck, &err);
    CHECKF(st == SC_OK, "%s", err.msg);
    if (ck) {
        CHECK(sc_checkpoint_format(ck) == SC_FORMAT_TORCH_BIN_SHARDED);
        CHECK(sc_checkpoint_count(ck) == sc_checkpoint_count(ref));
        compare(ref, ck, true, "sharded .bin vs .bin");
    }
    sc_checkpoint_close(ck);
    sc_checkpoint_close(ref);
}

int main(void) {
    char models[4200];
    snprintf(models, sizeof models, "%s/models", SC_FIXTURES_DIR);
    DIR *d = opendir(models);
    CHECK(d != NULL);
    int cases = 0;
    struct dirent *de;
    while (d && (de = readdir(d))) {
        if (de->d_name[0] == '.') continue;
        check_case(de->d_name);
        cases++;
    }
    if (d) closedir(d);
    CHECK(cases >= 8);
    check_sharded_equals_unsharded();
    check_sharded_bin();
    check_bad_dirs();
    TEST_MAIN_END();
}
