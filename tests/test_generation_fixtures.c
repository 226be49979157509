/* sc_generate on every fixture checkpoint against what HF transformers
 * 4.41.2 generated: greedy ids (exact) and every step's logits, num_beams=4
 * ids (exact) and sequences_scores (1e-4), with max_new_tokens=20 over the
 * checkpoint's generation defaults, as the fixtures were made. Also, on the
 * real model: sampling with top_k=1 is greedy, a prompt alone gives its row
 * of the batch, and num_return_sequences=4 starts with the beam-4 best.
 * Runs the "exact" kernels (fp32 compute), which the 1e-4 bounds assume. */
#include "fixture_arrays.h"

#include <dirent.h>

static sc_generate_result *run(sc_session *s, const char *dir, const arr *ids, const arr *mask,
                               int64_t rows_from, int64_t nrows, int64_t beams, int64_t nrs,
                               bool sample, bool record) {
    sc_generate_params p;
    sc_error err;
    CHECKF(sc_generate_params_from_dir(dir, &p, &err) == SC_OK, "%s", err.msg);
    p.max_new_tokens = 20;
    p.num_beams = beams;
    p.num_return_sequences = nrs;
    p.record_logits = record;
    if (sample) {
        p.do_sample = true;
        p.top_k = 1;
        p.seed = 99;
    }
    int64_t S = ids->shape[1];
    const int32_t *id = (const int32_t *)ids->data + rows_from * S;
    const int32_t *mk = (const int32_t *)mask->data + rows_from * S;
    sc_generate_result *r = NULL;
    sc_status st = sc_generate(s, id, mk, nrows, S, &p, &r, &err);
    CHECKF(st == SC_OK, "%s: generate: %s", dir, err.msg);
    return st == SC_OK ? r : NULL;
}

static bool ids_equal(const sc_generate_result *r, const int32_t *want, int64_t rows, int64_t len,
                      int64_t stride_rows) {
    int64_t gr, gl;
    const int32_t *got = sc_generate_result_sequences(r, &gr, &gl);
    if (!got || gl != len || gr != rows * stride_rows) return false;
    for (int64_t b = 0; b < rows; b++)
        if (memcmp(got + b * stride_rows * len, want + b * len, (size_t)len * sizeof(int32_t)))
            return false;
    return true;
}

static void run_case(const char *dir) {
    char *mpath = sc_path_join(dir, "manifest.json");
    sc_json_doc *doc = NULL;
    sc_error err;
    sc_status st = sc_json_parse_file(mpath, (size_t)1 << 26, &doc, &err);
    free(mpath);
    CHECKF(st == SC_OK, "%s", err.msg);
    if (st) return;
    const sc_json *arrays = sc_json_get(sc_json_root(doc), "arrays");
    arr ids, mask, greedy, beam, scores, steps;
    bool ok = load_array(dir, arrays, "input_ids", &ids) &&
              load_array(dir, arrays, "attention_mask", &mask) &&
              load_array(dir, arrays, "generate_greedy", &greedy) &&
              load_array(dir, arrays, "generate_beam4", &beam) &&
              load_array(dir, arrays, "generate_beam4_scores", &scores) &&
              load_array(dir, arrays, "generate_greedy_step_logits", &steps);
    CHECKF(ok, "%s: manifest arrays", dir);
    sc_model *m = NULL;
    sc_session *s = NULL;
    sc_model_params mp = sc_model_default_params();
    mp.kernels = "exact"; /* fp32 compute: the 1e-4 comparisons with HF's fp32 run assume it */
    if (ok) {
        st = sc_model_load(dir, &mp, &m, &err);
        if (!st) st = sc_session_new(m, &s, &err);
        CHECKF(st == SC_OK, "%s: %s", dir, err.msg);
        ok = st == SC_OK;
    }
    if (ok) {
        const int64_t B = ids.shape[0], T = greedy.shape[1];
        /* greedy + step logits */
        sc_generate_result *r = run(s, dir, &ids, &mask, 0, B, 1, 1, false, true);
        if (r) {
            CHECKF(ids_equal(r, greedy.data, B, T, 1), "%s: greedy ids", dir);
            int64_t ns, dr, V;
            const float *lg = sc_generate_result_step_logits(r, &ns, &dr, &V);
            int64_t keep = steps.shape[0]; /* the large-vocab case keeps 4 steps */
            CHECKF(lg && ns >= keep && dr == B && V == steps.shape[2], "%s: step logits shape", dir);
            double worst = 0;
            const float *want = steps.data;
            for (size_t i = 0; lg && ns >= keep && i < steps.n; i++) {
                double d = fabs((double)lg[i] - want[i]) / (1e-4 + 1e-4 * fabs(want[i]));
                if (d > worst) worst = d;
            }
            CHECKF(worst <= 1.0, "%s: step logits off by %.3g tolerances", dir, worst);
            sc_generate_result_free(r);
        }
        /* beam 4 */
        r = run(s, dir, &ids, &mask, 0, B, 4, 1, false, false);
        if (r) {
            CHECKF(ids_equal(r, beam.data, B, beam.shape[1], 1), "%s: beam ids", dir);
            int64_t n;
            const float *sc = sc_generate_result_scores(r, &n);
            const float *want = scores.data;
            bool close = sc && n == B;
            for (int64_t b = 0; close && b < B; b++)
                close &= fabs((double)sc[b] - want[b]) <= 1e-4 * (1 + fabs(want[b]));
            CHECKF(close, "%s: beam scores", dir);
            sc_generate_result_free(r);
        }
        /* sampling with top_k = 1 keeps only the argmax: greedy */
        r = run(s, dir, &ids, &mask, 0, B, 1, 1, true, false);
        if (r) CHECKF(ids_equal(r, greedy.data, B, T, 1), "%s: top_k=1 sampling is not greedy", dir);
        sc_generate_result_free(r);
        /* the last prompt alone (same padded row) gives its batch row; the
         * width is its own length */
        r = run(s, dir, &ids, &mask, B - 1, 1, 1, 1, false, false);
        if (r) {
            int64_t rows, len;
            const int32_t *got = sc_generate_result_sequences(r, &rows, &len);
            const int32_t *want = (const int32_t *)greedy.data + (B - 1) * T;
            bool same = rows == 1 && len <= T;
            for (int64_t i = 0; same && i < T; i++) same &= (i < len ? got[i] : 0) == want[i];
            CHECKF(same, "%s: prompt alone differs from its batch row", dir);
        }
        sc_generate_result_free(r);
        /* four returned beams per prompt: the first is the beam-4 result */
        r = run(s, dir, &ids, &mask, 0, B, 4, 4, false, false);
        if (r) {
            int64_t rows, len;
            const int32_t *got = sc_generate_result_sequences(r, &rows, &len);
            const float *sc = sc_generate_result_scores(r, NULL);
            const int32_t *want = beam.data;
            int64_t W = beam.shape[1];
            bool same = rows == 4 * B && len >= W;
            for (int64_t b = 0; same && b < B; b++) {
                for (int64_t i = 0; i < len; i++) same &= got[b * 4 * len + i] == (i < W ? want[b * W + i] : 0);
                for (int64_t j = 1; j < 4; j++) same &= sc[b * 4 + j] <= sc[b * 4 + j - 1];
            }
            CHECKF(same, "%s: num_return_sequences=4", dir);
        }
        sc_generate_result_free(r);
    }
    sc_session_free(s);
    sc_model_free(m);
    free(ids.data);
    free(mask.data);
    free(greedy.data);
    free(beam.data);
    free(scores.data);
    free(steps.data);
    sc_json_free(doc);
}

int main(void) {
    char root[4096];
    snprintf(root, sizeof root, "%s", fixture_path("models"));
    DIR *d = opendir(root);
    CHECK(d != NULL);
    if (!d) TEST_MAIN_END();
    struct dirent *e;
    int cases = 0;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char dir[4096 + 256];
        snprintf(dir, sizeof dir, "%s/%s", root, e->d_name);
        if (!fixture_is_inference_case(dir)) continue;
        cases++;
        run_case(dir);
    }
    closedir(d);
    CHECK(cases == 8);
    TEST_MAIN_END();
}
