/* A bound on resident expert memory changes what is resident, never the
 * results: greedy generation with max_memory unbounded vs a cap holding at
 * most one or two experts gives bit-identical ids and step logits, as
 * stored and with lazy conversion to bf16 and q8, on fixture models and on
 * a small random model written by `switchc init` (16 experts). Also: giving
 * back a checkpoint tensor's pages leaves its data readable (read back from
 * the file), lowers the file-backed resident set on Linux, and never touches
 * memory outside the checkpoint's mappings. */
#include "test_util.h"

#include "io/checkpoint.h"
#include "model/model.h"

#include <stdlib.h>
#include <sys/stat.h>

typedef struct run_out {
    int32_t *ids;
    int64_t rows, len;
    float *logits;
    size_t n_logits;
    size_t peak;
} run_out;

static bool run(const char *dir, sc_dtype dt, size_t cap, run_out *o) {
    memset(o, 0, sizeof *o);
    sc_model_params p = sc_model_default_params();
    p.n_threads = 1;
    p.dtype = dt;
    p.max_memory = cap;
    sc_model *m = NULL;
    sc_session *s = NULL;
    sc_generate_result *r = NULL;
    sc_error err;
    bool ok = sc_model_load(dir, &p, &m, &err) == SC_OK && sc_session_new(m, &s, &err) == SC_OK;
    CHECKF(ok, "%s: %s", dir, err.msg);
    int32_t ids[2 * 7] = {37, 8, 1, 0, 0, 0, 0, 5, 121, 12, 7, 64, 200, 1};
    int32_t mask[2 * 7] = {1, 1, 1, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1};
    sc_generate_params gp = sc_generate_default_params();
    gp.max_new_tokens = 12;
    gp.record_logits = true;
    gp.eos_token_id = SC_TOKEN_NONE;
    if (ok) ok = sc_generate(s, ids, mask, 2, 7, &gp, &r, &err) == SC_OK;
    CHECKF(ok, "%s: %s", dir, err.msg);
    if (ok) {
        const int32_t *seq = sc_generate_result_sequences(r, &o->rows, &o->len);
        o->ids = malloc((size_t)(o->rows * o->len) * sizeof *o->ids);
        memcpy(o->ids, seq, (size_t)(o->rows * o->len) * sizeof *o->ids);
        int64_t steps, drows, V;
        const float *lg = sc_generate_result_step_logits(r, &steps, &drows, &V);
        o->n_logits = (size_t)(steps * drows * V);
        o->logits = malloc(o->n_logits * sizeof *o->logits);
        memcpy(o->logits, lg, o->n_logits * sizeof *o->logits);
        o->peak = sc_model_expert_peak_bytes(m);
        if (cap) CHECK(sc_model_expert_resident_bytes(m) <= cap);
    }
    sc_generate_result_free(r);
    sc_session_free(s);
    sc_model_free(m);
    return ok;
}

static void compare(const char *dir) {
    const sc_dtype dts[] = {SC_DTYPE_AS_STORED, SC_DTYPE_BF16, SC_DTYPE_I8};
    const char *names[] = {"as-stored", "bf16", "q8"};
    for (size_t d = 0; d < 3; d++) {
        run_out ref, cap;
        if (!run(dir, dts[d], 0, &ref)) continue;
        /* expert bytes of this model/dtype: peak of the unbounded run over
         * the experts it touched is at least one expert; caps of 1 byte
         * (every expert evicted after use) and ~2 experts */
        sc_model_params p = sc_model_default_params();
        p.dtype = dts[d];
        sc_model *m = NULL;
        size_t one = 0;
        if (sc_model_load(dir, &p, &m, NULL) == SC_OK) one = sc_expert_store_expert_bytes(m->experts, 0, 0);
        sc_model_free(m);
        const size_t caps[] = {1, 2 * one + 1};
        for (size_t c = 0; c < 2; c++) {
            if (!run(dir, dts[d], caps[c], &cap)) continue;
            bool same = cap.rows == ref.rows && cap.len == ref.len && cap.n_logits == ref.n_logits &&
                        !memcmp(cap.ids, ref.ids, (size_t)(ref.rows * ref.len) * sizeof *ref.ids) &&
                        !memcmp(cap.logits, ref.logits, ref.n_logits * sizeof *ref.logits);
            CHECKF(same, "%s %s cap %zu: output differs from the unbounded run", dir, names[d], caps[c]);
            CHECKF(cap.peak <= ref.peak, "%s %s: peak %zu > unbounded %zu", dir, names[d], cap.peak, ref.peak);
            printf("%s %-9s cap %8zu: identical (peak %zu B, unbounded %zu B)\n", dir, names[d], caps[c], cap.peak,
                   ref.peak);
            free(cap.ids);
            free(cap.logits);
        }
        free(ref.ids);
        free(ref.logits);
    }
}

static const char *small_config =
    "{\"d_ff\": 96, \"d_kv\": 16, \"d_model\": 64, \"decoder_sparse_step\": 2, \"encoder_sparse_step\": 2,"
    " \"decoder_start_token_id\": 0, \"dense_act_fn\": \"relu\", \"eos_token_id\": 1, \"expert_capacity\": 4,"
    " \"initializer_factor\": 1.0, \"is_encoder_decoder\": true, \"layer_norm_epsilon\": 1e-06,"
    " \"model_type\": \"switch_transformers\", \"num_decoder_layers\": 4, \"num_experts\": 16, \"num_heads\": 4,"
    " \"num_layers\": 4, \"num_sparse_decoder_layers\": 2, \"num_sparse_encoder_layers\": 2, \"pad_token_id\": 0,"
    " \"relative_attention_max_distance\": 128, \"relative_attention_num_buckets\": 32, \"router_bias\": false,"
    " \"router_dtype\": \"float32\", \"tie_word_embeddings\": true, \"vocab_size\": 1024}\n";

/* RssFile of this process in kB (Linux), -1 elsewhere. */
static long rss_file_kb(void) {
    long kb = -1;
#ifdef __linux__
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "RssFile: %ld kB", &kb) == 1) break;
    if (f) fclose(f);
#endif
    return kb;
}

static void test_drop_pages(void) {
    char dir[4400];
    snprintf(dir, sizeof dir, "%s/t5vocab_e4_step2", fixture_path("models"));
    sc_checkpoint *ck = NULL;
    CHECK(sc_checkpoint_open(dir, -1, &ck, NULL) == SC_OK);
    if (!ck) return;
    const sc_tensor_entry *big = NULL;
    for (size_t i = 0; i < sc_checkpoint_count(ck); i++)
        if (!big || sc_checkpoint_at(ck, i)->nbytes > big->nbytes) big = sc_checkpoint_at(ck, i);
    CHECK(big && big->nbytes >= (1u << 20));
    const unsigned char *d = big->view.data;
    unsigned char *copy = malloc(big->nbytes);
    memcpy(copy, d, big->nbytes); /* every page now resident */
    long before = rss_file_kb();
    sc_checkpoint_drop_pages(ck, d, big->nbytes);
    long after = rss_file_kb();
    if (before >= 0) CHECKF(before - after >= (long)(big->nbytes / 2048), "RssFile %ld kB -> %ld kB", before, after);
    CHECK(!memcmp(copy, d, big->nbytes)); /* read back from the file */
    unsigned char heap[8192];
    memset(heap, 7, sizeof heap);
    sc_checkpoint_drop_pages(ck, heap, sizeof heap); /* not the checkpoint's: left alone */
    CHECK(heap[0] == 7 && heap[4096] == 7 && heap[sizeof heap - 1] == 7);
    sc_checkpoint_drop_pages(ck, d + big->nbytes - 16, (size_t)1 << 40); /* past the end: ignored */
    sc_checkpoint_drop_pages(NULL, d, 16);
    CHECK(!memcmp(copy, d, big->nbytes));
    printf("drop pages: %s, %zu bytes, RssFile %ld kB -> %ld kB\n", big->name, big->nbytes, before, after);
    free(copy);
    sc_checkpoint_close(ck);
}

int main(void) {
    test_drop_pages();
    const char *cases[] = {"e8_step2_untied_heads_ne_dmodel", "e4_step1_tied_bias_overflow_fp16",
                           "e8_step3_enc_dec0sparse_defaults_sharded", "t5vocab_e4_step2"};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char dir[4400];
        snprintf(dir, sizeof dir, "%s/%s", fixture_path("models"), cases[i]);
        compare(dir);
    }
    /* a small random model with 16 experts, sharded */
    mkdir(SC_TMP_DIR, 0755);
    char cfg[4096], out[4096], cmd[16384];
    snprintf(cfg, sizeof cfg, "%s/memcap_config.json", SC_TMP_DIR);
    snprintf(out, sizeof out, "%s/memcap_model", SC_TMP_DIR);
    FILE *f = fopen(cfg, "w");
    CHECK(f != NULL);
    if (f) {
        fputs(small_config, f);
        fclose(f);
    }
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && '%s' init --config '%s' -o '%s' --seed 3 --shard-size 200K >/dev/null",
             out, SC_SWITCHC_BIN, cfg, out);
    int rc = system(cmd);
    CHECKF(rc == 0, "switchc init failed (%d)", rc);
    if (rc == 0) compare(out);
    TEST_MAIN_END();
}
