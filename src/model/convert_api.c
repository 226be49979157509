/* The public checkpoint writers (switchc.h, "writing checkpoints"):
 * sc_convert rewrites a checkpoint (any format the loader reads) as
 * safetensors in f32, bf16, f16 or q8, streaming tensor by tensor, and
 * copies config (q8: with a "quantization" entry), generation config and
 * tokenizer files; sc_init_checkpoint writes a randomly initialised model
 * for a config.json. Both check the output directory before any work,
 * stage every file (io/staged_dir.h: nothing in OUT is written in place, so
 * OUT may be the input of a conversion) and commit through
 * sc_model_write_commit. Leaves out writing .bin checkpoints.
 *
 * Initialisation follows Hugging Face's
 * SwitchTransformersPreTrainedModel._init_weights scales (factor =
 * initializer_factor):
 *   shared, lm_head (untied), router classifier  N(0, factor)
 *   layer norms                                   factor (constant)
 *   attention q  N(0, factor*(d_model*d_kv)^-0.5), k, v N(0, factor*d_model^-0.5),
 *             o  N(0, factor*(num_heads*d_kv)^-0.5), relative bias N(0, factor*d_model^-0.5)
 *   dense wi/wi_0/wi_1 N(0, factor*d_model^-0.5), wo N(0, factor*d_ff^-0.5)
 *   experts wi/wi_0/wi_1 and wo N(0, factor*d_model^-0.5) (HF uses d_model for wo too)
 *   router bias 0 (HF leaves torch's default there).
 * Every row of every tensor has its own random stream derived from (seed,
 * tensor, row), so the writer can stream (and re-read rows for q8 scales)
 * and the files are identical for a seed. Not torch's numbers. */
#include "core/error.h"
#include "core/mapfile.h"
#include "io/checkpoint.h"
#include "io/config.h"
#include "io/staged_dir.h"
#include "model/model_write.h"
#include "model/weights_convert.h"
#include "switchc.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

sc_write_params sc_write_default_params(void) {
    return (sc_write_params){.dtype = SC_DTYPE_F32, .shard_bytes = 5000000000u, .embed_std = -1};
}

/* -------------------------------------------------- the output directory */

sc_status sc_output_dir_check(const char *out, const char *in_place, bool force, sc_error *err) {
    if (!out) return sc_fail(err, SC_ERR_INVALID_ARG, SC_NO_OFFSET, "output directory: NULL argument");
    struct stat so, si;
    if (stat(out, &so) != 0) {
        if (errno == ENOENT) return SC_OK;
        return sc_fail(err, SC_ERR_IO, SC_NO_OFFSET, "output %s: %s", out, strerror(errno));
    }
    if (!S_ISDIR(so.st_mode))
        return sc_fail(err, SC_ERR_INVALID_ARG, SC_NO_OFFSET, "output %s exists and is not a directory", out);
    if (in_place && stat(in_place, &si) == 0 && si.st_dev == so.st_dev && si.st_ino == so.st_ino) return SC_OK;
    char found[256];
    if (!force && sc_model_dir_has_checkpoint(out, found, sizeof found))
        return sc_fail(err, SC_ERR_INVALID_ARG, SC_NO_OFFSET,
                       "output %s already holds a checkpoint (%s); --force replaces it", out, found);
    return SC_OK;
}

/* What both writers refuse before any work. */
static sc_status check_args(const char *what, const char *src, const char *out, const sc_write_params *p,
                            sc_error *err) {
    if (!src || !out) return sc_fail(err, SC_ERR_INVALID_ARG, SC_NO_OFFSET, "%s: NULL argument", what);
    if (!sc_weights_dtype_ok(p->dtype))
        return sc_fail(err, SC_ERR_INVALID_ARG, SC_NO_OFFSET, "%s: dtype %s is not f32, bf16, f16 or q8", what,
                       sc_dtype_name(p->dtype));
    return SC_OK;
}

/* ------------------------------------------------------------- convert */

typedef struct src_ctx {
    const sc_checkpoint *ck;
} src_ctx;

static sc_status src_rows(void *vctx, const sc_weight_ref *ref, size_t index, int64_t r0, int64_t n, float *dst,
                          sc_error *err) {
    (void)index;
    src_ctx *c = vctx;
    char name[280];
    sc_hf_name(ref, name, sizeof name - 8);
    const sc_tensor_entry *e = sc_checkpoint_find(c->ck, name);
    if (!e) return sc_fail(err, SC_ERR_MISSING, SC_NO_OFFSET, "checkpoint has no tensor '%s'", name);
    sc_tensor v = e->view;
    int64_t rows = ref->ndim == 2 ? ref->shape[0] : 1, cols = ref->ndim == 2 ? ref->shape[1] : ref->shape[0];
    size_t numel = 1;
    for (int d = 0; d < v.ndim; d++) numel *= (size_t)v.shape[d];
    if (numel != (size_t)rows * (size_t)cols || !sc_weights_dtype_ok(v.dtype))
        return sc_fail(err, SC_ERR_SHAPE, e->file_offset, "%s: tensor '%s' has the wrong shape or dtype %s",
                       e->file, name, sc_dtype_name(v.dtype));
    v.ndim = 2;
    v.shape[0] = rows;
    v.shape[1] = cols;
    if (v.dtype == SC_DTYPE_I8) {
        strcat(name, ".scale");
        const sc_tensor_entry *s = sc_checkpoint_find(c->ck, name);
        if (!s || s->view.dtype != SC_DTYPE_F32 || s->view.shape[0] != rows)
            return sc_fail(err, SC_ERR_MISSING, e->file_offset, "%s: no F32 [%lld] scales '%s'", e->file,
                           (long long)rows, name);
        v.scales = s->view.data;
    }
    sc_weights_rows_f32(dst, &v, r0, n);
    /* After a tensor's last rows its mapped pages leave the resident set
     * (a second pass, q8 scales then data, reads them back from the page
     * cache): without this the process held every page of the input. */
    if (r0 + n == rows) {
        sc_checkpoint_drop_pages(c->ck, e->view.data, e->nbytes);
        if (v.scales) sc_checkpoint_drop_pages(c->ck, v.scales, (size_t)rows * sizeof(float));
    }
    return SC_OK;
}

static const char *const convert_side_files[] = {"generation_config.json", "spiece.model", "tokenizer.json",
                                                 "tokenizer_config.json", "special_tokens_map.json",
                                                 "added_tokens.json", NULL};

/* config.json of `in`; q8 adds the "quantization" entry readers check. */
static sc_status write_config(const char *in, sc_staged_dir *out, sc_dtype t, sc_error *err) {
    char *path = sc_path_join(in, "config.json");
    if (!path) return sc_fail(err, SC_ERR_NOMEM, SC_NO_OFFSET, "out of memory");
    char *text = NULL;
    size_t len = 0;
    sc_status st = sc_file_read(path, 16u << 20, &text, &len, err);
    free(path);
    if (st) return st;
    const char *brace = strchr(text, '{');
    if (t == SC_DTYPE_I8 && brace && !strstr(text, "\"quantization\"")) {
        static const char q[] = "\n  \"quantization\": {\"method\": \"switchc-q8\", \"bits\": 8, "
                                "\"scheme\": \"symmetric per output row\", \"scale_suffix\": \".scale\", "
                                "\"scale_dtype\": \"F32\"},";
        size_t head = (size_t)(brace - text) + 1;
        char *outtext = malloc(len + sizeof q);
        if (!outtext) st = sc_fail(err, SC_ERR_NOMEM, SC_NO_OFFSET, "out of memory");
        else {
            memcpy(outtext, text, head);
            memcpy(outtext + head, q, sizeof q - 1);
            memcpy(outtext + head + sizeof q - 1, text + head, len - head);
            st = sc_staged_dir_write(out, "config.json", outtext, len + sizeof q - 1, err);
        }
        free(outtext);
    } else {
        st = sc_staged_dir_write(out, "config.json", text, len, err);
    }
    free(text);
    return st;
}

sc_status sc_convert(const char *in, const char *out, const sc_write_params *p, sc_write_result *res,
                     sc_error *err) {
    sc_write_params dp = sc_write_default_params();
    if (!p) p = &dp;
    sc_status st = check_args("convert", in, out, p, err);
    if (st) return st;
    sc_config cfg;
    sc_checkpoint *ck = NULL;
    char *cfg_path = sc_path_join(in, "config.json");
    if (!cfg_path) return sc_fail(err, SC_ERR_NOMEM, SC_NO_OFFSET, "out of memory");
    st = sc_config_load(cfg_path, &cfg, err);
    free(cfg_path);
    if (st || (st = sc_checkpoint_open(in, SC_FORMAT_AUTO, &ck, err))) return st;
    sc_staged_dir *stage = NULL;
    if ((st = sc_output_dir_check(out, in, p->force, err)) || (st = sc_staged_dir_open(out, &stage, err))) {
        sc_checkpoint_close(ck);
        return st;
    }
    src_ctx sctx = {.ck = ck};
    sc_write_opts o = {.dtype = p->dtype, .shard_bytes = p->shard_bytes, .rows = src_rows, .ctx = &sctx,
                       .progress = p->progress, .progress_ctx = p->progress_ctx, .kern = sc_kernels_ref()};
    sc_write_summary sum;
    st = sc_model_write(stage, &cfg, &o, &sum, err);
    size_t in_bytes = sc_checkpoint_file_bytes(ck);
    sc_checkpoint_close(ck);
    if (!st) st = write_config(in, stage, p->dtype, err);
    int copied = 0;
    for (int i = 0; !st && convert_side_files[i]; i++) {
        bool c = false;
        st = sc_staged_dir_copy(stage, in, convert_side_files[i], &c, err);
        copied += c;
    }
    if (st) {
        sc_staged_dir_abort(stage);
        return st;
    }
    /* config.json last: a directory with the new config has every other new file */
    const char *side[sizeof convert_side_files / sizeof convert_side_files[0] + 1];
    size_t ns = 0;
    for (int i = 0; convert_side_files[i]; i++) side[ns++] = convert_side_files[i];
    side[ns++] = "config.json";
    side[ns] = NULL;
    if ((st = sc_model_write_commit(stage, &sum, side, err))) return st;
    if (res)
        *res = (sc_write_result){.tensors = sum.n_tensors, .shards = sum.n_shards, .input_bytes = in_bytes,
                                 .output_bytes = sum.file_bytes, .files_copied = copied + 1};
    return SC_OK;
}

/* ---------------------------------------------------------------- init */

typedef struct init_ctx {
    const sc_config *c;
    uint64_t seed;
    double embed_std; /* < 0: factor */
} init_ctx;

static uint64_t splitmix(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static double uniform01(uint64_t *s) { return ((double)(splitmix(s) >> 11) + 0.5) * (1.0 / 9007199254740992.0); }

static double init_std(const init_ctx *c, sc_weight_kind k) {
    const sc_config *g = c->c;
    double f = g->initializer_factor, D = (double)g->d_model;
    switch (k) {
    case SC_W_SHARED: return c->embed_std >= 0 ? c->embed_std : f;
    case SC_W_LM_HEAD:
    case SC_W_ROUTER_W: return f;
    case SC_W_SA_Q:
    case SC_W_CA_Q: return f / sqrt(D * (double)g->d_kv);
    case SC_W_SA_O:
    case SC_W_CA_O: return f / sqrt((double)g->num_heads * (double)g->d_kv);
    case SC_W_FF_WO: return f / sqrt((double)g->d_ff);
    default: return f / sqrt(D); /* k, v, rel bias, dense wi, every expert matrix */
    }
}

static sc_status init_rows(void *vctx, const sc_weight_ref *ref, size_t index, int64_t r0, int64_t n, float *dst,
                           sc_error *err) {
    (void)err;
    init_ctx *c = vctx;
    int64_t cols = ref->ndim == 2 ? ref->shape[1] : ref->shape[0];
    switch (ref->kind) {
    case SC_W_FINAL_LN:
    case SC_W_SA_LN:
    case SC_W_CA_LN:
    case SC_W_FF_LN:
        for (int64_t i = 0; i < n * cols; i++) dst[i] = (float)c->c->initializer_factor;
        return SC_OK;
    case SC_W_ROUTER_B:
        memset(dst, 0, (size_t)(n * cols) * sizeof(float));
        return SC_OK;
    default: break;
    }
    double std = init_std(c, ref->kind);
    for (int64_t r = 0; r < n; r++) {
        uint64_t s = c->seed * 0xD1B54A32D192ED03ull ^ ((uint64_t)index << 32) ^ (uint64_t)(r0 + r);
        splitmix(&s);
        float *row = dst + r * cols;
        for (int64_t i = 0; i < cols; i += 2) { /* Box-Muller, two normals per draw */
            double u1 = uniform01(&s), u2 = uniform01(&s);
            double rad = sqrt(-2.0 * log(u1)), th = 6.283185307179586 * u2;
            row[i] = (float)(std * rad * cos(th));
            if (i + 1 < cols) row[i + 1] = (float)(std * rad * sin(th));
        }
    }
    return SC_OK;
}

static const char *const tokenizer_files[] = {"spiece.model", "tokenizer.json", "tokenizer_config.json",
                                              "special_tokens_map.json", "added_tokens.json", NULL};

static bool tokenizer_present(const char *dir) {
    bool ok = false;
    for (int i = 0; i < 2 && !ok; i++) {
        char *p = sc_path_join(dir, tokenizer_files[i]);
        ok = sc_path_is_file(p);
        free(p);
    }
    return ok;
}

sc_status sc_init_checkpoint(const char *config_path, const char *out, const sc_write_params *p,
                             sc_write_result *res, sc_error *err) {
    sc_write_params dp = sc_write_default_params();
    if (!p) p = &dp;
    sc_status st = check_args("init", config_path, out, p, err);
    if (st) return st;
    sc_config cfg;
    char *text = NULL;
    size_t len = 0;
    if ((st = sc_config_load(config_path, &cfg, err)) ||
        (st = sc_file_read(config_path, 16u << 20, &text, &len, err)))
        return st;
    /* the tokenizer is checked before any work: a model without one cannot generate */
    if (p->tokenizer_dir && !tokenizer_present(p->tokenizer_dir)) {
        free(text);
        return sc_fail(err, SC_ERR_MISSING, SC_NO_OFFSET,
                       "--tokenizer %s: no spiece.model or tokenizer.json there", p->tokenizer_dir);
    }
    sc_staged_dir *stage = NULL;
    if ((st = sc_output_dir_check(out, NULL, p->force, err)) || (st = sc_staged_dir_open(out, &stage, err))) {
        free(text);
        return st;
    }
    st = sc_staged_dir_write(stage, "config.json", text, len, err);
    free(text);
    char gen[256];
    int gl = snprintf(gen, sizeof gen,
                      "{\n  \"decoder_start_token_id\": %lld,\n  \"eos_token_id\": %lld,\n"
                      "  \"pad_token_id\": %lld,\n  \"transformers_version\": \"4.41.2\"\n}\n",
                      (long long)cfg.decoder_start_token_id, (long long)cfg.eos_token_id,
                      (long long)cfg.pad_token_id);
    if (!st) st = sc_staged_dir_write(stage, "generation_config.json", gen, (size_t)gl, err);
    for (int i = 0; !st && p->tokenizer_dir && tokenizer_files[i]; i++) {
        bool copied;
        st = sc_staged_dir_copy(stage, p->tokenizer_dir, tokenizer_files[i], &copied, err);
    }
    init_ctx ctx = {.c = &cfg, .seed = p->seed, .embed_std = p->embed_std};
    sc_write_opts o = {.dtype = p->dtype, .shard_bytes = p->shard_bytes, .rows = init_rows, .ctx = &ctx,
                       .progress = p->progress, .progress_ctx = p->progress_ctx, .kern = sc_kernels_ref()};
    sc_write_summary sum;
    if (!st) st = sc_model_write(stage, &cfg, &o, &sum, err);
    if (st) {
        sc_staged_dir_abort(stage);
        return st;
    }
    /* weights, index, then the side files, config.json last */
    const char *side[sizeof tokenizer_files / sizeof tokenizer_files[0] + 2];
    size_t ns = 0;
    side[ns++] = "generation_config.json";
    for (int i = 0; tokenizer_files[i]; i++) side[ns++] = tokenizer_files[i];
    side[ns++] = "config.json";
    side[ns] = NULL;
    if ((st = sc_model_write_commit(stage, &sum, side, err))) return st;
    if (res)
        *res = (sc_write_result){.tensors = sum.n_tensors, .shards = sum.n_shards, .output_bytes = sum.file_bytes,
                                 .files_copied = 0};
    return SC_OK;
}
