/* The expert store: LRU order, pinning, byte accounting, eviction under a
 * tiny cap (on heap views, which must never be madvise'd), lazy conversion,
 * and the per-session expert stats of a teacher-forced fixture forward
 * against the manifest's routing_stats. */
#include "test_util.h"

#include "core/alloc.h"
#include "io/json.h"
#include "model/expert_stats.h"
#include "model/expert_store.h"
#include "model/forward.h"
#include "model/model.h"

#include <stdlib.h>

enum { E = 4, F = 8, D = 4 };

static float bufs[E][2][F * D];

static sc_expert_store *make_store(sc_dtype to, size_t cap) {
    sc_expert_store *s = NULL;
    CHECK(sc_expert_store_new(1, E, &s, NULL) == SC_OK);
    for (int e = 0; e < E; e++) {
        for (int i = 0; i < F * D; i++) bufs[e][0][i] = bufs[e][1][i] = (float)(e * 100 + i);
        sc_ffn_weights w = {0};
        w.wi = (sc_tensor){.dtype = SC_DTYPE_F32, .ndim = 2, .shape = {F, D}, .data = bufs[e][0]};
        w.wo = (sc_tensor){.dtype = SC_DTYPE_F32, .ndim = 2, .shape = {D, F}, .data = bufs[e][1]};
        sc_expert_store_set(s, 0, e, &w);
    }
    CHECK(sc_expert_store_configure(s, to, sc_kernels_ref(), cap, NULL) == SC_OK);
    return s;
}

static void use(sc_expert_store *s, int e, sc_expert_stats *st) {
    const sc_ffn_weights *w = NULL;
    CHECK(sc_expert_store_acquire(s, 0, e, st, &w, NULL) == SC_OK);
    CHECK(w != NULL);
    sc_expert_store_release(s, 0, e, st);
}

static void test_lru(void) {
    const size_t B = 2 * F * D * sizeof(float);
    sc_expert_store *s = make_store(SC_DTYPE_AS_STORED, 2 * B);
    sc_expert_stats st;
    CHECK(sc_expert_stats_init(&st, 1, E, NULL) == SC_OK);
    CHECK(sc_expert_store_expert_bytes(s, 0, 0) == B);
    use(s, 0, &st);
    use(s, 1, &st);
    CHECK(sc_expert_store_resident_bytes(s) == 2 * B);
    use(s, 2, &st); /* evicts 0, the least recently used */
    CHECK(!sc_expert_store_is_resident(s, 0, 0) && sc_expert_store_is_resident(s, 0, 1) &&
          sc_expert_store_is_resident(s, 0, 2));
    use(s, 1, &st); /* hit: 1 becomes most recent */
    use(s, 3, &st); /* evicts 2 */
    CHECK(sc_expert_store_is_resident(s, 0, 1) && !sc_expert_store_is_resident(s, 0, 2) &&
          sc_expert_store_is_resident(s, 0, 3));
    CHECK(sc_expert_store_resident_bytes(s) == 2 * B);
    CHECK(st.layers[0].hits == 1 && st.layers[0].misses == 4 && st.layers[0].evictions == 2);
    CHECK(st.layers[0].bytes_read == 4 * B);
    /* heap views are never madvise'd: the data survives eviction */
    CHECK(bufs[0][0][5] == 5.0f && bufs[2][1][7] == 207.0f);

    /* pinning: three experts in use at once exceed the cap, nothing pinned is evicted */
    const sc_ffn_weights *w[3];
    for (int e = 0; e < 3; e++) CHECK(sc_expert_store_acquire(s, 0, e, &st, &w[e], NULL) == SC_OK);
    CHECK(sc_expert_store_resident_bytes(s) == 3 * B);
    for (int e = 0; e < 3; e++) CHECK(sc_expert_store_is_resident(s, 0, e));
    CHECK(!sc_expert_store_is_resident(s, 0, 3));
    CHECK(sc_expert_store_peak_bytes(s) == 3 * B);
    for (int e = 0; e < 3; e++) sc_expert_store_release(s, 0, e, &st);
    CHECK(sc_expert_store_resident_bytes(s) <= 2 * B);
    sc_expert_stats_free(&st);
    sc_expert_store_free(s);

    /* unbounded: everything touched stays */
    s = make_store(SC_DTYPE_AS_STORED, 0);
    for (int e = 0; e < E; e++) use(s, e, NULL);
    CHECK(sc_expert_store_resident_bytes(s) == E * B);
    sc_expert_store_free(s);
}

static void test_lazy_convert(void) {
    size_t b1;
    sc_weights_converted_bytes(F, D, SC_DTYPE_BF16, &b1);
    sc_expert_store *s = make_store(SC_DTYPE_BF16, 2 * b1);
    CHECK(sc_expert_store_expert_bytes(s, 0, 0) == 2 * b1);
    CHECK(sc_expert_store_owned_bytes(s) == 0); /* nothing converted at load */
    const sc_ffn_weights *w = NULL;
    CHECK(sc_expert_store_acquire(s, 0, 1, NULL, &w, NULL) == SC_OK);
    CHECK(w && w->wi.dtype == SC_DTYPE_BF16 && w->wo.dtype == SC_DTYPE_BF16);
    CHECK(sc_expert_store_owned_bytes(s) == 2 * b1);
    sc_expert_store_release(s, 0, 1, NULL);
    use(s, 2, NULL); /* cap of one expert: 1 is freed */
    CHECK(sc_expert_store_owned_bytes(s) == 2 * b1);
    CHECK(!sc_expert_store_is_resident(s, 0, 1));
    CHECK(sc_expert_store_get(s, 0, 1)->wi.dtype == SC_DTYPE_F32);
    sc_expert_store_free(s);
}

static int32_t *read_i32(const char *dir, const char *name, size_t n) {
    char p[4096];
    snprintf(p, sizeof p, "%s/arrays/%s.bin", dir, name);
    FILE *f = fopen(p, "rb");
    int32_t *a = malloc(n * sizeof *a);
    size_t got = f && a ? fread(a, sizeof *a, n, f) : 0;
    if (f) fclose(f);
    CHECKF(got == n, "%s: %zu of %zu values", p, got, n);
    return a;
}

static int64_t shape_of(const sc_json *arrays, const char *name, int dim) {
    for (size_t i = 0; i < sc_json_len(arrays); i++) {
        const sc_json *a = sc_json_at(arrays, i);
        const char *n = sc_json_string(sc_json_get(a, "name"), NULL);
        int64_t v;
        if (n && !strcmp(n, name) && sc_json_int(sc_json_at(sc_json_get(a, "shape"), (size_t)dim), &v)) return v;
    }
    return -1;
}

/* Tokens per expert sum to the tokens seen, histograms and drops equal HF's. */
static void test_fixture_stats(const char *name, size_t max_memory) {
    char dir[4096], mpath[4200];
    snprintf(dir, sizeof dir, "%s", fixture_path("models"));
    snprintf(dir + strlen(dir), sizeof dir - strlen(dir), "/%s", name);
    snprintf(mpath, sizeof mpath, "%s/manifest.json", dir);
    sc_json_doc *doc = NULL;
    sc_error err;
    CHECK(sc_json_parse_file(mpath, 64u << 20, &doc, &err) == SC_OK);
    if (!doc) return;
    const sc_json *root = sc_json_root(doc), *arrays = sc_json_get(root, "arrays");
    const int64_t B = shape_of(arrays, "input_ids", 0), S = shape_of(arrays, "input_ids", 1),
                  T = shape_of(arrays, "labels", 1);
    CHECK(B > 0 && S > 0 && T > 0);
    int32_t *ids = read_i32(dir, "input_ids", (size_t)(B * S)), *mask = read_i32(dir, "attention_mask", (size_t)(B * S)),
            *labels = read_i32(dir, "labels", (size_t)(B * T));
    sc_model_params p = sc_model_default_params();
    p.n_threads = 1;
    p.max_memory = max_memory;
    sc_model *m = NULL;
    sc_session *s = NULL;
    CHECK(sc_model_load(dir, &p, &m, &err) == SC_OK);
    if (m) CHECK(sc_session_new(m, &s, &err) == SC_OK);
    sc_losses loss;
    if (s) CHECK(sc_forward_labels(s, ids, mask, B, S, labels, T, NULL, &loss, &err) == SC_OK);
    const sc_json *rs = sc_json_get(root, "routing_stats");
    CHECK(s && sc_session_expert_stats_count(s) == (int64_t)sc_json_len(rs));
    for (int64_t i = 0; s && i < sc_session_expert_stats_count(s); i++) {
        sc_expert_layer_stats ls;
        CHECK(sc_session_expert_stats(s, i, &ls, &err) == SC_OK);
        char lname[64];
        snprintf(lname, sizeof lname, "%s.block.%lld", ls.decoder ? "decoder" : "encoder", (long long)ls.block);
        const sc_json *want = NULL;
        for (size_t j = 0; j < sc_json_len(rs); j++) {
            const char *ln = sc_json_string(sc_json_get(sc_json_at(rs, j), "layer"), NULL);
            if (ln && !strcmp(ln, lname)) want = sc_json_at(rs, j);
        }
        CHECKF(want != NULL, "%s: no routing_stats for %s", name, lname);
        if (!want) continue;
        uint64_t sum = 0;
        const sc_json *hist = sc_json_get(want, "top1_histogram_all_positions");
        for (int64_t e = 0; e < ls.n_experts; e++) {
            int64_t h = -1;
            sc_json_int(sc_json_at(hist, (size_t)e), &h);
            CHECKF((int64_t)ls.tokens_per_expert[e] == h, "%s %s expert %lld: %llu tokens, HF %lld", name, lname,
                   (long long)e, (unsigned long long)ls.tokens_per_expert[e], (long long)h);
            sum += ls.tokens_per_expert[e];
        }
        const int64_t positions = ls.decoder ? B * T : B * S;
        CHECK(sum == ls.tokens && ls.tokens == (uint64_t)positions);
        int64_t dropped = -1;
        sc_json_int(sc_json_get(want, "dropped_tokens_all_positions"), &dropped);
        CHECKF((int64_t)ls.dropped == dropped, "%s %s: %llu dropped, HF %lld", name, lname,
               (unsigned long long)ls.dropped, (long long)dropped);
        CHECK(ls.misses > 0 && ls.bytes_read > 0);
        if (max_memory) CHECK(ls.evictions > 0 || i == sc_session_expert_stats_count(s) - 1);
    }
    if (s) {
        sc_session_expert_stats_reset(s);
        sc_expert_layer_stats ls;
        CHECK(sc_session_expert_stats(s, 0, &ls, NULL) == SC_OK && ls.tokens == 0 && ls.tokens_per_expert[0] == 0);
        CHECK(sc_session_expert_stats(s, 99, &ls, NULL) == SC_ERR_INVALID_ARG);
    }
    if (m && max_memory) CHECK(sc_model_expert_resident_bytes(m) <= max_memory);
    sc_session_free(s);
    sc_model_free(m);
    free(ids);
    free(mask);
    free(labels);
    sc_json_free(doc);
}

int main(void) {
    test_lru();
    test_lazy_convert();
    const char *cases[] = {"e8_step2_untied_heads_ne_dmodel", "e4_step1_tied_bias_overflow",
                           "e8_step3_enc_dec0sparse_defaults_sharded", "t5vocab_e4_step2"};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        test_fixture_stats(cases[i], 0);
        test_fixture_stats(cases[i], 1); /* a cap below one expert: every use evicts the last */
    }
    TEST_MAIN_END();
}
