/* `switchc inspect` end to end: runs the binary on every fixture model
 * (safetensors and, where present, .bin) with --json and checks its facts
 * against the case's manifest.json and parameter counts computed here from
 * config.json by formula; then "ready to generate" (a tokenizer that loads
 * and fits) beside "loadable", -m ORG/NAME through a fake Hugging Face
 * cache, usage errors and a broken directory. */
#include "hf_cache_test_util.h"
#include "io/json.h"
#include "test_util.h"

#include <dirent.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/wait.h>

static char *run_capture(const char *cmd, int *rc) {
    FILE *p = popen(cmd, "r");
    if (!p) return NULL;
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    size_t k;
    while (buf && (k = fread(buf + n, 1, cap - n - 1, p)) > 0) {
        n += k;
        if (cap - n < 2) {
            char *nb = realloc(buf, cap * 2);
            if (!nb) break;
            buf = nb;
            cap *= 2;
        }
    }
    int status = pclose(p);
    *rc = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    if (buf) buf[n] = '\0';
    return buf;
}

static int64_t get_i(const sc_json *o, const char *key) {
    int64_t v = -1;
    sc_json_int(sc_json_get(o, key), &v);
    return v;
}

static bool get_b(const sc_json *o, const char *key) {
    bool v = false;
    sc_json_bool(sc_json_get(o, key), &v);
    return v;
}

static bool same_int_list(const sc_json *a, const sc_json *b) {
    if (!a || !b || sc_json_len(a) != sc_json_len(b)) return false;
    for (size_t i = 0; i < sc_json_len(a); i++) {
        int64_t x, y;
        if (!sc_json_int(sc_json_at(a, i), &x) || !sc_json_int(sc_json_at(b, i), &y) || x != y)
            return false;
    }
    return true;
}

static bool in_list(const sc_json *l, int64_t v) {
    for (size_t i = 0; i < sc_json_len(l); i++) {
        int64_t x;
        if (sc_json_int(sc_json_at(l, i), &x) && x == v) return true;
    }
    return false;
}

/* Parameter counts from config.json by formula (not through the name table). */
static void expected_params(const sc_json *cfg, const sc_json *man, uint64_t *total,
                            uint64_t *active) {
    uint64_t D = get_i(cfg, "d_model"), H = get_i(cfg, "num_heads"), I = H * get_i(cfg, "d_kv");
    uint64_t F = get_i(cfg, "d_ff"), V = get_i(cfg, "vocab_size"), E = get_i(cfg, "num_experts");
    uint64_t R = get_i(cfg, "relative_attention_num_buckets");
    int64_t enc_layers = get_i(cfg, "num_layers"), dec_layers = get_i(cfg, "num_decoder_layers");
    const sc_json *tie = sc_json_get(cfg, "tie_word_embeddings");
    bool tied = !tie || get_b(cfg, "tie_word_embeddings");
    bool bias = get_b(cfg, "router_bias");
    const char *proj = sc_json_string(sc_json_get(cfg, "feed_forward_proj"), NULL);
    bool gated = proj && !strncmp(proj, "gated-", 6);
    uint64_t ff = (gated ? 3 : 2) * F * D;
    uint64_t attn = 4 * I * D;
    uint64_t t = V * D * (tied ? 1 : 2), a;
    a = t;
    for (int dec = 0; dec < 2; dec++) {
        int64_t n = dec ? dec_layers : enc_layers;
        const sc_json *sparse =
            sc_json_get(man, dec ? "decoder_sparse_layers" : "encoder_sparse_layers");
        uint64_t s = R * H + D; /* relative bias + final layer norm */
        uint64_t sa = s;
        for (int64_t b = 0; b < n; b++) {
            uint64_t blk = D + attn + D + (dec ? D + attn : 0);
            if (in_list(sparse, b)) {
                uint64_t router = E * D + (bias ? E : 0);
                s += blk + router + E * ff;
                sa += blk + router + ff;
            } else {
                s += blk + ff;
                sa += blk + ff;
            }
        }
        t += s;
        a += sa;
    }
    *total = t;
    *active = a;
}

static void check_case(const char *name, const char *fmt_flag, const char *want_format) {
    char dir[2048], path[2300], cmd[4096];
    snprintf(dir, sizeof dir, "%s/models/%s", SC_FIXTURES_DIR, name);
    snprintf(cmd, sizeof cmd, "'%s' inspect -m '%s' --json %s", SC_SWITCHC_BIN, dir, fmt_flag);
    int rc;
    char *out = run_capture(cmd, &rc);
    CHECKF(out && rc == 0, "%s: rc %d", cmd, rc);
    if (!out) return;
    sc_json_doc *doc = NULL, *cdoc = NULL, *mdoc = NULL;
    sc_error err;
    CHECKF(sc_json_parse(out, strlen(out), "inspect output", &doc, &err) == SC_OK, "%s: %s", name,
           err.msg);
    snprintf(path, sizeof path, "%s/config.json", dir);
    CHECK(sc_json_parse_file(path, 1 << 20, &cdoc, &err) == SC_OK);
    snprintf(path, sizeof path, "%s/manifest.json", dir);
    CHECK(sc_json_parse_file(path, 64 << 20, &mdoc, &err) == SC_OK);
    if (doc && cdoc && mdoc) {
        const sc_json *r = sc_json_root(doc), *cfg = sc_json_root(cdoc), *man = sc_json_root(mdoc);
        const char *fmt = sc_json_string(sc_json_get(r, "format"), NULL);
        CHECKF(fmt && !strcmp(fmt, want_format), "%s: format %s, want %s", name, fmt ? fmt : "?",
               want_format);
        CHECKF(get_b(r, "loadable"), "%s not loadable", name);
        CHECK(sc_json_len(sc_json_get(r, "problems")) == 0);
        /* the fixtures hold no tokenizer: the weights load, but not ready */
        CHECKF(!get_b(r, "ready_to_generate"), "%s: ready without a tokenizer", name);
        const char *why = sc_json_string(sc_json_get(r, "not_ready"), NULL);
        CHECKF(why && strstr(why, "no tokenizer"), "%s: not_ready '%s'", name, why ? why : "(null)");
        const sc_json *tk = sc_json_get(r, "tokenizer");
        CHECK(tk && sc_json_type_of(sc_json_get(tk, "file")) == SC_JSON_NULL && !get_b(tk, "loaded"));
        CHECK(get_i(r, "file_bytes") > 0);
        CHECKF(same_int_list(sc_json_get(r, "encoder_sparse_layers"),
                             sc_json_get(man, "encoder_sparse_layers")),
               "%s: encoder sparse layers differ", name);
        CHECKF(same_int_list(sc_json_get(r, "decoder_sparse_layers"),
                             sc_json_get(man, "decoder_sparse_layers")),
               "%s: decoder sparse layers differ", name);
        const sc_json *c = sc_json_get(r, "config");
        CHECK(get_i(c, "d_model") == get_i(cfg, "d_model"));
        CHECK(get_i(c, "num_experts") == get_i(cfg, "num_experts"));
        CHECK(get_i(c, "vocab_size") == get_i(cfg, "vocab_size"));
        CHECK(get_i(c, "expert_capacity") == get_i(cfg, "expert_capacity"));
        uint64_t total, active;
        expected_params(cfg, man, &total, &active);
        const sc_json *p = sc_json_get(r, "params");
        CHECKF((uint64_t)get_i(p, "total") == total, "%s: total %lld, formula %llu", name,
               (long long)get_i(p, "total"), (unsigned long long)total);
        CHECKF((uint64_t)get_i(p, "active_per_token") == active, "%s: active %lld, formula %llu",
               name, (long long)get_i(p, "active_per_token"), (unsigned long long)active);
        /* components add up to the total; bytes match the stored dtype */
        const sc_json *comps = sc_json_get(r, "components");
        int64_t psum = 0, bsum = 0;
        for (size_t i = 0; i < sc_json_len(comps); i++) {
            psum += get_i(sc_json_at(comps, i), "params");
            bsum += get_i(sc_json_at(comps, i), "bytes");
        }
        CHECK(psum == (int64_t)total);
        const sc_json *dts = sc_json_get(r, "dtypes");
        CHECK(sc_json_len(dts) == 1);
        const char *dt = sc_json_string(sc_json_at(dts, 0), NULL);
        int64_t esz = dt && !strcmp(dt, "F32") ? 4 : 2;
        CHECKF(bsum == psum * esz, "%s: bytes %lld for %lld params of %s", name, (long long)bsum,
               (long long)psum, dt ? dt : "?");
        const char *sd = sc_json_string(sc_json_get(man, "stored_dtype"), NULL);
        if (sd) CHECKF(dt && ((strstr(sd, "bfloat16") ? !strcmp(dt, "BF16")
                               : strstr(sd, "float16") ? !strcmp(dt, "F16")
                                                       : !strcmp(dt, "F32"))),
                       "%s: stored_dtype %s, inspect says %s", name, sd, dt ? dt : "?");
        const sc_json *tn = sc_json_get(r, "tensors");
        CHECK(get_i(tn, "missing") == 0 && get_i(tn, "bad") == 0 && get_i(tn, "unexpected") == 0);
        const sc_json *keys = sc_json_get(man, strstr(want_format, ".bin") ? "bin_keys" : "safetensors_keys");
        if (keys && !sc_json_get(man, "weights_from_case")) /* derived cases list no keys */
            CHECKF((size_t)(get_i(tn, "found") + get_i(tn, "aliases")) == sc_json_len(keys),
                   "%s: found %lld + aliases %lld != %zu keys", name, (long long)get_i(tn, "found"),
                   (long long)get_i(tn, "aliases"), sc_json_len(keys));
    }
    sc_json_free(doc);
    sc_json_free(cdoc);
    sc_json_free(mdoc);
    free(out);
}

/* Runs inspect --json with `env` before the command; returns the parsed
 * document (NULL if the output is not JSON). */
static sc_json_doc *inspect_json(const char *env, const char *args, int *rc) {
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "%s '%s' inspect %s --json", env, SC_SWITCHC_BIN, args);
    char *out = run_capture(cmd, rc);
    sc_json_doc *doc = NULL;
    sc_error err;
    if (!out || sc_json_parse(out, strlen(out), "inspect output", &doc, &err) != SC_OK) doc = NULL;
    CHECKF(doc != NULL, "%s: no JSON: %s", cmd, out ? out : "(nothing)");
    free(out);
    return doc;
}

static const char *get_s(const sc_json *o, const char *key) {
    const char *s = sc_json_string(sc_json_get(o, key), NULL);
    return s ? s : "(null)";
}

/* "ready to generate" beside "loadable": a model with a tokenizer that fits,
 * and one whose tokenizer is a Git LFS pointer. */
static void check_ready(void) {
    char dir[2048], cmd[16384];
    snprintf(dir, sizeof dir, "%s/../../models/switch-tiny-t5vocab", SC_FIXTURES_DIR);
    int rc;
    char args[4200];
    snprintf(args, sizeof args, "-m '%s'", dir);
    sc_json_doc *doc = inspect_json("", args, &rc);
    CHECK(rc == 0);
    if (doc) {
        const sc_json *r = sc_json_root(doc), *tk = sc_json_get(r, "tokenizer");
        CHECK(get_b(r, "loadable"));
        CHECKF(get_b(r, "ready_to_generate"), "switch-tiny-t5vocab not ready: %s", get_s(r, "not_ready"));
        CHECK(sc_json_type_of(sc_json_get(r, "not_ready")) == SC_JSON_NULL);
        CHECK(!strcmp(get_s(tk, "file"), "spiece.model") && get_b(tk, "loaded") && get_i(tk, "vocab_size") == 32100);
        CHECK(sc_json_len(sc_json_get(r, "problems")) == 0);
    }
    sc_json_free(doc);
    snprintf(cmd, sizeof cmd, "'%s' inspect -m '%s'", SC_SWITCHC_BIN, dir);
    char *out = run_capture(cmd, &rc);
    CHECKF(rc == 0 && out && strstr(out, "loadable:   yes") && strstr(out, "tokenizer:  spiece.model, 32100 ids") &&
               strstr(out, "ready to generate: yes"),
           "text output: %s", out ? out : "");
    free(out);

    /* weights that load, a tokenizer that is a Git LFS pointer: loadable
     * (exit 0), not ready, and a warning that names the pointer */
    char lfs[2048];
    snprintf(lfs, sizeof lfs, "%s/inspect_lfs_tokenizer", SC_TMP_DIR);
    snprintf(cmd, sizeof cmd,
             "rm -rf '%s' && mkdir -p '%s' && cp -L '%s/config.json' '%s/model.safetensors' '%s/' && "
             "printf 'version https://git-lfs.github.com/spec/v1\noid sha256:00\nsize 791656\n' > '%s/spiece.model'",
             lfs, lfs, dir, dir, lfs, lfs);
    hf_sh(cmd);
    snprintf(args, sizeof args, "-m '%s'", lfs);
    doc = inspect_json("", args, &rc);
    CHECK(rc == 0);
    if (doc) {
        const sc_json *r = sc_json_root(doc), *pr = sc_json_get(r, "problems");
        CHECK(get_b(r, "loadable") && !get_b(r, "ready_to_generate"));
        CHECKF(strstr(get_s(r, "not_ready"), "spiece.model is a Git LFS pointer, not the tokenizer"), "not_ready: %s",
               get_s(r, "not_ready"));
        CHECK(sc_json_len(pr) == 1 && !strcmp(get_s(sc_json_at(pr, 0), "severity"), "warning"));
        CHECK(!strcmp(get_s(sc_json_get(r, "tokenizer"), "file"), "spiece.model"));
    }
    sc_json_free(doc);
}

#define HASH_A "0123456789abcdef0123456789abcdef01234567"
#define HASH_B "89abcdef0123456789abcdef0123456789abcdef"

/* -m ORG/NAME found in a fake hub cache through HF_HUB_CACHE in the
 * command's environment, by branch and by --revision. */
static void check_cache(void) {
    char hub[2048], fix[2048], tok[2048], cmd[8192], env[4200];
    snprintf(hub, sizeof hub, "%s/inspect_hf_cache/hub", SC_TMP_DIR);
    snprintf(fix, sizeof fix, "%s/models/e4_step1_tied_bias_overflow", SC_FIXTURES_DIR);
    snprintf(tok, sizeof tok, "%s/tokenizer", SC_FIXTURES_DIR);
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s'", hub, hub);
    hf_sh(cmd);
    const char *const model_files[] = {"config.json", "model.safetensors", NULL};
    const char *const tok_files[] = {"spiece.model", NULL};
    hf_fake_snapshot(hub, "models--acme--tiny-switch", HASH_A, "main", fix, model_files);
    hf_fake_snapshot(hub, "models--acme--tiny-switch", HASH_A, NULL, tok, tok_files);
    hf_fake_snapshot(hub, "models--acme--tiny-switch", HASH_B, "dev", fix, model_files);
    snprintf(env, sizeof env, "env -u HUGGINGFACE_HUB_CACHE HF_HUB_CACHE='%s'", hub);

    int rc;
    sc_json_doc *doc = inspect_json(env, "-m acme/tiny-switch", &rc);
    CHECK(rc == 0);
    if (doc) {
        const sc_json *r = sc_json_root(doc);
        CHECK(!strcmp(get_s(r, "name"), "acme/tiny-switch"));
        CHECKF(strstr(get_s(r, "dir"), "/models--acme--tiny-switch/snapshots/" HASH_A), "dir %s", get_s(r, "dir"));
        CHECK(get_b(r, "loadable"));
        /* the T5 tokenizer's 32100 ids do not fit this model's 256 rows */
        CHECK(get_b(sc_json_get(r, "tokenizer"), "loaded") && !get_b(r, "ready_to_generate"));
        CHECKF(strstr(get_s(r, "not_ready"), "32100 ids, more than the model's 256 embedding rows"), "not_ready: %s",
               get_s(r, "not_ready"));
    }
    sc_json_free(doc);
    doc = inspect_json(env, "-m acme/tiny-switch --revision dev", &rc);
    CHECK(rc == 0);
    if (doc) {
        const sc_json *r = sc_json_root(doc);
        CHECKF(strstr(get_s(r, "dir"), "/snapshots/" HASH_B), "dir %s", get_s(r, "dir"));
        CHECK(get_b(r, "loadable") && sc_json_type_of(sc_json_get(sc_json_get(r, "tokenizer"), "file")) == SC_JSON_NULL);
    }
    sc_json_free(doc);
    /* not in the cache: exit 1, the command's name and where it looked */
    snprintf(cmd, sizeof cmd, "%s '%s' inspect -m acme/nothing 2>&1", env, SC_SWITCHC_BIN);
    char *out = run_capture(cmd, &rc);
    CHECKF(rc == 1 && out && strstr(out, "switchc inspect: ") && strstr(out, "models--acme--nothing") &&
               strstr(out, "does not download"),
           "rc %d: %s", rc, out ? out : "");
    free(out);
    snprintf(cmd, sizeof cmd, "%s '%s' inspect -m acme/tiny-switch --revision nobranch 2>&1", env, SC_SWITCHC_BIN);
    out = run_capture(cmd, &rc);
    CHECKF(rc == 1 && out && strstr(out, "refs/nobranch"), "rc %d: %s", rc, out ? out : "");
    free(out);
}

static bool exists(const char *dir, const char *file) {
    char p[4400];
    snprintf(p, sizeof p, "%s/%s", dir, file);
    struct stat st;
    return stat(p, &st) == 0;
}

int main(void) {
    char models[2048];
    snprintf(models, sizeof models, "%s/models", SC_FIXTURES_DIR);
    DIR *d = opendir(models);
    CHECK(d != NULL);
    int cases = 0;
    struct dirent *de;
    while (d && (de = readdir(d))) {
        if (de->d_name[0] == '.') continue;
        char dir[4096];
        snprintf(dir, sizeof dir, "%s/%s", models, de->d_name);
        if (exists(dir, "model.safetensors")) check_case(de->d_name, "", "safetensors");
        if (exists(dir, "model.safetensors.index.json"))
            check_case(de->d_name, "", "safetensors (sharded)");
        if (exists(dir, "pytorch_model.bin")) check_case(de->d_name, "--format bin", "pytorch .bin");
        cases++;
    }
    if (d) closedir(d);
    CHECK(cases >= 8);

    int rc;
    char cmd[4096];
    char *out;
    snprintf(cmd, sizeof cmd, "'%s' inspect 2>/dev/null", SC_SWITCHC_BIN);
    free(run_capture(cmd, &rc));
    CHECK(rc == 2);
    snprintf(cmd, sizeof cmd, "'%s' inspect -m x --bogus 2>/dev/null", SC_SWITCHC_BIN);
    free(run_capture(cmd, &rc));
    CHECK(rc == 2);
    snprintf(cmd, sizeof cmd, "'%s' inspect --help", SC_SWITCHC_BIN);
    out = run_capture(cmd, &rc);
    CHECK(rc == 0 && out && strstr(out, "active_per_token") && strstr(out, "loadable"));
    free(out);
    /* a directory that is not a model: unloadable, exit 1, still one JSON object */
    snprintf(cmd, sizeof cmd, "'%s' inspect -m '%s' --json", SC_SWITCHC_BIN, SC_FIXTURES_DIR);
    out = run_capture(cmd, &rc);
    CHECK(rc == 1);
    sc_json_doc *doc = NULL;
    CHECK(out && sc_json_parse(out, strlen(out), "out", &doc, NULL) == SC_OK);
    if (doc) {
        CHECK(!get_b(sc_json_root(doc), "loadable"));
        CHECK(sc_json_len(sc_json_get(sc_json_root(doc), "problems")) >= 1);
    }
    sc_json_free(doc);
    free(out);

    check_ready();
    check_cache();
    TEST_MAIN_END();
}
