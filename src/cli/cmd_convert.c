/* switchc convert: a checkpoint directory (any format the loader reads) to
 * safetensors with matrices in f32, bf16, f16 or q8 (docs/q8-format.md),
 * streaming tensor by tensor; copies config (q8: adds a "quantization"
 * entry), generation config and tokenizer files. Every output file is
 * staged and renamed into place only after all were written
 * (io/staged_dir.h), so OUT may be IN (the input is only ever read, from
 * its mapping; the new files replace it after all were written) and links
 * in OUT are replaced, never written through. Leaves out: writing .bin
 * checkpoints. */
#include "cli/args.h"
#include "cli/cli_files.h"
#include "cli/cli_model.h"
#include "cli/commands.h"
#include "core/error.h"
#include "core/mapfile.h"
#include "io/checkpoint.h"
#include "io/config.h"
#include "model/model_write.h"
#include "model/weights_convert.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

static void usage(FILE *f) {
    fprintf(f, "usage: switchc convert -m IN -o OUT --dtype f32|bf16|f16|q8 [--shard-size 5G] [--force]\n"
               "                       [--json]\n\n"
               "Writes OUT/model.safetensors (or shards + model.safetensors.index.json when larger\n"
               "than --shard-size) with the matrices in DTYPE and norms/router/relative bias in F32;\n"
               "copies config.json, generation_config.json and the tokenizer files.\n"
               "Files are written to OUT/.tmp-XXXXXX and moved into OUT only when all are complete:\n"
               "a failure leaves OUT as it was. OUT may be IN (the checkpoint is converted in place);\n"
               "safetensors weights of another layout in OUT (model.safetensors against shards +\n"
               "index) are removed, so OUT loads what was written.\n"
               "IN may be a Hugging Face repo id ORG/NAME found in the local cache (docs/models.md);\n"
               "--revision REF picks its branch, tag or commit (default: main).\n"
               "  --force  replace a checkpoint OUT already holds (other than IN); without it, refused\n"
               "  --json   print a summary object on stdout\n"
               "Exit status: 0 ok, 1 failure (OUT refused included), 2 bad usage.\n");
}

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

static const char *const side_files[] = {"generation_config.json", "spiece.model", "tokenizer.json",
                                         "tokenizer_config.json", "special_tokens_map.json",
                                         "added_tokens.json", NULL};

static bool write_config(const char *in, sc_staged_dir *out, sc_dtype t) {
    char *path = sc_path_join(in, "config.json");
    char *text = NULL;
    size_t len = 0;
    sc_error err;
    const bool have_path = path != NULL;
    bool ok = have_path && !sc_file_read(path, 16u << 20, &text, &len, &err);
    free(path);
    if (!ok) {
        fprintf(stderr, "switchc convert: %s\n", have_path ? err.msg : "out of memory");
        return false;
    }
    const char *brace = strchr(text, '{');
    if (t == SC_DTYPE_I8 && brace && !strstr(text, "\"quantization\"")) {
        static const char q[] = "\n  \"quantization\": {\"method\": \"switchc-q8\", \"bits\": 8, "
                                "\"scheme\": \"symmetric per output row\", \"scale_suffix\": \".scale\", "
                                "\"scale_dtype\": \"F32\"},";
        size_t head = (size_t)(brace - text) + 1;
        char *outtext = malloc(len + sizeof q);
        ok = outtext != NULL;
        if (ok) {
            memcpy(outtext, text, head);
            memcpy(outtext + head, q, sizeof q - 1);
            memcpy(outtext + head + sizeof q - 1, text + head, len - head);
            ok = cli_write_text("convert", out, "config.json", outtext, len + sizeof q - 1);
        }
        free(outtext);
    } else {
        ok = cli_write_text("convert", out, "config.json", text, len);
    }
    free(text);
    return ok;
}

typedef struct convert_opts {
    const char *in, *revision, *out, *dtype;
    size_t shard;
    bool json, force;
} convert_opts;

#define AT(field) .off = offsetof(convert_opts, field)
static const args_opt convert_options[] = {
    {"-m", "--model", ARGS_STRING, AT(in)},
    {NULL, "--revision", ARGS_STRING, AT(revision)},
    {"-o", "--output", ARGS_STRING, AT(out)},
    {NULL, "--dtype", ARGS_STRING, AT(dtype)},
    {NULL, "--shard-size", ARGS_CALL, AT(shard), .call = cli_shard_size_arg},
    {NULL, "--json", ARGS_FLAG, AT(json)},
    {NULL, "--force", ARGS_FLAG, AT(force)},
    {0},
};
#undef AT
static const args_spec convert_args = {
    .cmd = "convert", .usage = usage, .opts = convert_options, .unknown = ARGS_SAY_ARGUMENT, .pos = ARGS_POS_NONE};

int cmd_convert(int argc, char **argv) {
    convert_opts opt = {.shard = 5000000000u};
    int rc = args_parse(&convert_args, argc, argv, &opt);
    if (rc != ARGS_GO) return rc;
    sc_dtype t;
    if (!opt.in || !opt.out || !opt.dtype || !sc_weights_dtype_parse(opt.dtype, &t)) {
        fprintf(stderr, "switchc convert: needs -m IN, -o OUT and --dtype f32|bf16|f16|q8\n");
        return SC_EXIT_USAGE;
    }
    if (!cli_model_resolve("convert", &opt.in, opt.revision)) return SC_EXIT_FAIL;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    sc_error err;
    sc_config cfg;
    sc_checkpoint *ck = NULL;
    char *cfg_path = sc_path_join(opt.in, "config.json");
    if (!cfg_path || sc_config_load(cfg_path, &cfg, &err) || sc_checkpoint_open(opt.in, -1, &ck, &err)) {
        fprintf(stderr, "switchc convert: %s\n", err.msg);
        free(cfg_path);
        return SC_EXIT_FAIL;
    }
    free(cfg_path);
    sc_staged_dir *stage = NULL;
    if (!cli_output_check("convert", opt.out, opt.in, opt.force) || !(stage = cli_stage("convert", opt.out))) {
        sc_checkpoint_close(ck);
        return SC_EXIT_FAIL;
    }
    src_ctx sctx = {.ck = ck};
    sc_write_opts o = {.dtype = t, .shard_bytes = opt.shard, .rows = src_rows, .ctx = &sctx, .progress = cli_progress,
                       .kern = sc_kernels_ref()};
    sc_write_summary sum;
    sc_status st = sc_model_write(stage, &cfg, &o, &sum, &err);
    size_t in_bytes = sc_checkpoint_file_bytes(ck);
    sc_checkpoint_close(ck);
    if (st) {
        fprintf(stderr, "switchc convert: %s\n", err.msg);
        sc_staged_dir_abort(stage);
        return SC_EXIT_FAIL;
    }
    bool ok = write_config(opt.in, stage, t);
    int copied = 0;
    for (int i = 0; ok && side_files[i]; i++) {
        int r = cli_copy_file("convert", opt.in, stage, side_files[i]);
        if (r < 0) ok = false;
        copied += r > 0;
    }
    if (!ok) {
        sc_staged_dir_abort(stage);
        return SC_EXIT_FAIL;
    }
    /* config.json last: a directory with the new config has every other new file */
    const char *side[sizeof side_files / sizeof side_files[0] + 1];
    size_t ns = 0;
    for (int i = 0; side_files[i]; i++) side[ns++] = side_files[i];
    side[ns++] = "config.json";
    side[ns] = NULL;
    if (sc_model_write_commit(stage, &sum, side, &err)) {
        fprintf(stderr, "switchc convert: %s\n", err.msg);
        return SC_EXIT_FAIL;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    if (opt.json)
        printf("{\"dtype\": \"%s\", \"tensors\": %zu, \"shards\": %zu, \"input_bytes\": %zu, "
               "\"output_bytes\": %zu, \"files_copied\": %d, \"seconds\": %.3f}\n",
               sc_weights_dtype_label(t), sum.n_tensors, sum.n_shards, in_bytes, sum.file_bytes, copied + 1, secs);
    else
        fprintf(stderr, "switchc convert: %zu tensors, %zu shard(s), %.1f MB -> %.1f MB (%s) in %.1fs\n",
                sum.n_tensors, sum.n_shards, (double)in_bytes / 1e6, (double)sum.file_bytes / 1e6,
                sc_weights_dtype_label(t), secs);
    return SC_EXIT_OK;
}
