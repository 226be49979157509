/* Shared by test_convert.c and test_dtype_paths.c: runs a model (any
 * weights dtype) on a fixture case's inputs through the library and compares
 * with the recorded Hugging Face arrays: logits cosine, expert choices per
 * token (the traced *.expert_index), greedy agreement. */
#ifndef SC_TESTS_DTYPE_CHECK_H
#define SC_TESTS_DTYPE_CHECK_H

#include "io/json.h"
#include "model/forward.h"
#include "test_util.h"

#include <math.h>
#include <string.h>

typedef struct dc_arr {
    void *data;
    size_t bytes;
    int64_t shape[4];
    int ndim;
} dc_arr;

static bool dc_load(const char *case_dir, const char *name, dc_arr *out) {
    char path[4096];
    snprintf(path, sizeof path, "%s/manifest.json", case_dir);
    sc_json_doc *doc = NULL;
    if (sc_json_parse_file(path, 64u << 20, &doc, NULL)) return false;
    const sc_json *arrays = sc_json_get(sc_json_root(doc), "arrays");
    bool ok = false;
    for (size_t i = 0; arrays && i < sc_json_len(arrays); i++) {
        const sc_json *a = sc_json_at(arrays, i);
        size_t n;
        const char *nm = sc_json_string(sc_json_get(a, "name"), &n);
        if (!nm || strlen(name) != n || memcmp(nm, name, n)) continue;
        const char *file = sc_json_string(sc_json_get(a, "file"), &n);
        const sc_json *shape = sc_json_get(a, "shape");
        out->ndim = (int)sc_json_len(shape);
        for (int d = 0; d < out->ndim && d < 4; d++) sc_json_int(sc_json_at(shape, (size_t)d), &out->shape[d]);
        snprintf(path, sizeof path, "%s/%.*s", case_dir, (int)n, file);
        FILE *f = fopen(path, "rb");
        if (!f) break;
        fseek(f, 0, SEEK_END);
        out->bytes = (size_t)ftell(f);
        fseek(f, 0, SEEK_SET);
        out->data = malloc(out->bytes ? out->bytes : 1);
        ok = out->data && fread(out->data, 1, out->bytes, f) == out->bytes;
        fclose(f);
        break;
    }
    sc_json_free(doc);
    return ok;
}

typedef struct dc_trace {
    char names[16][96];
    int32_t *idx[16];
    size_t n_elems[16];
    int n;
} dc_trace;

static void dc_trace_fn(void *ctx, const char *name, sc_dtype dtype, const void *data, int ndim,
                        const int64_t *shape) {
    dc_trace *t = ctx;
    size_t len = strlen(name);
    if (len < 13 || strcmp(name + len - 13, ".expert_index") || dtype != SC_DTYPE_I32 || t->n >= 16) return;
    size_t n = 1;
    for (int d = 0; d < ndim; d++) n *= (size_t)shape[d];
    snprintf(t->names[t->n], sizeof t->names[0], "%s", name);
    t->idx[t->n] = malloc(n * sizeof(int32_t));
    if (!t->idx[t->n]) return;
    memcpy(t->idx[t->n], data, n * sizeof(int32_t));
    t->n_elems[t->n++] = n;
}

typedef struct dc_result {
    double cosine;       /* cosine of all logits (flattened) vs HF's */
    double cosine_min_row; /* the worst row's */
    double expert_agree; /* fraction of (layer, token) expert choices equal to HF's */
    double greedy_agree; /* fraction of greedy tokens equal to HF's (20 new tokens) */
    bool finite;
} dc_result;

/* Runs the model loaded from model_dir with params p on case_dir's inputs. */
static bool dc_run(const char *model_dir, const char *case_dir, const sc_model_params *p, dc_result *r) {
    memset(r, 0, sizeof *r);
    dc_arr ids = {0}, mask = {0}, labels = {0}, logits = {0}, greedy = {0};
    sc_model *m = NULL;
    sc_session *s = NULL;
    sc_error err;
    bool ok = dc_load(case_dir, "input_ids", &ids) && dc_load(case_dir, "attention_mask", &mask) &&
              dc_load(case_dir, "labels", &labels) && dc_load(case_dir, "logits", &logits) &&
              dc_load(case_dir, "generate_greedy", &greedy);
    if (ok && sc_model_load(model_dir, p, &m, &err)) {
        fprintf(stderr, "load %s: %s\n", model_dir, err.msg);
        ok = false;
    }
    if (ok && sc_session_new(m, &s, &err)) ok = false;
    const int64_t B = ids.shape[0], S = ids.shape[1], T = labels.shape[1], V = logits.shape[2];
    float *ours = ok ? malloc((size_t)(B * T * V) * sizeof(float)) : NULL;
    dc_trace tr = {0};
    sc_losses L;
    if (ok && ours) {
        sc_session_set_trace(s, dc_trace_fn, &tr);
        sc_status st = sc_forward_labels(s, ids.data, mask.data, B, S, labels.data, T, ours, &L, &err);
        sc_session_set_trace(s, NULL, NULL);
        if (st) {
            fprintf(stderr, "forward: %s\n", err.msg);
            ok = false;
        }
    }
    if (ok && ours) {
        const float *hf = logits.data;
        r->cosine_min_row = 1.0;
        r->finite = true;
        double gdot = 0, gna = 0, gnb = 0;
        for (int64_t row = 0; row < B * T; row++) {
            double dot = 0, na = 0, nb = 0;
            for (int64_t v = 0; v < V; v++) {
                double a = ours[row * V + v], b = hf[row * V + v];
                if (!isfinite(a)) r->finite = false;
                dot += a * b;
                na += a * a;
                nb += b * b;
            }
            double c = dot / (sqrt(na) * sqrt(nb) + 1e-30);
            if (c < r->cosine_min_row) r->cosine_min_row = c;
            gdot += dot;
            gna += na;
            gnb += nb;
        }
        r->cosine = gdot / (sqrt(gna) * sqrt(gnb) + 1e-30);
        size_t same = 0, total = 0;
        for (int i = 0; i < tr.n; i++) {
            dc_arr hf_idx = {0};
            if (!dc_load(case_dir, tr.names[i], &hf_idx)) continue;
            size_t n = hf_idx.bytes / 4 < tr.n_elems[i] ? hf_idx.bytes / 4 : tr.n_elems[i];
            /* real tokens only: encoder positions with mask 1, decoder positions with a label */
            bool dec = !strncmp(tr.names[i], "decoder", 7);
            const int32_t *keep = dec ? labels.data : mask.data;
            size_t nk = dec ? labels.bytes / 4 : mask.bytes / 4;
            for (size_t k = 0; k < n; k++) {
                if (k < nk && (dec ? keep[k] == -100 : keep[k] == 0)) continue;
                same += ((int32_t *)hf_idx.data)[k] == tr.idx[i][k];
                total++;
            }
            free(hf_idx.data);
        }
        r->expert_agree = total ? (double)same / (double)total : 0.0;
        /* greedy, 20 new tokens, as the fixture */
        sc_generate_params gp = sc_generate_default_params();
        gp.max_new_tokens = greedy.shape[1] - 1;
        sc_generate_result *res = NULL;
        if (!sc_generate(s, ids.data, mask.data, B, S, &gp, &res, &err)) {
            int64_t rows, len;
            const int32_t *seq = sc_generate_result_sequences(res, &rows, &len);
            size_t agree = 0, cnt = 0;
            for (int64_t b = 0; b < B && b < rows; b++)
                for (int64_t t = 1; t < greedy.shape[1]; t++) {
                    int32_t a = t < len ? seq[b * len + t] : 0;
                    agree += a == ((int32_t *)greedy.data)[b * greedy.shape[1] + t];
                    cnt++;
                }
            r->greedy_agree = cnt ? (double)agree / (double)cnt : 0.0;
        }
        sc_generate_result_free(res);
    }
    for (int i = 0; i < tr.n; i++) free(tr.idx[i]);
    free(ours);
    sc_session_free(s);
    sc_model_free(m);
    free(ids.data);
    free(mask.data);
    free(labels.data);
    free(logits.data);
    free(greedy.data);
    return ok;
}

#endif
