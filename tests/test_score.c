/* The public teacher-forced forward and scoring against HF transformers
 * 4.41.2: on every fixture checkpoint with labels, sc_session_forward gives
 * HF's loss, its cross-entropy and the four router losses (1e-4 relative),
 * logits and encoder output (1e-4), router logits (1e-4), expert indices
 * and kept masks (exact); given decoder ids, the same logits. Then
 * sc_score_pairs: a pair's numbers are its batch-of-one forward, whatever
 * pairs it is scored with; token log-probs sum to -ce * tokens. Then
 * `switchc score` on the shipped model: each line equals the library called
 * on that pair alone, --summary is the token-weighted combination, and bad
 * lines, missing keys and an empty target behave as documented. Runs the
 * "exact" kernels (fp32 compute), which the 1e-4 bounds assume. */
#include "fixture_arrays.h"

#include <dirent.h>
#include <sys/stat.h>

#define MODEL SC_FIXTURES_DIR "/../../models/switch-tiny-t5vocab"

static float scalar(const char *dir, const sc_json *arrays, const char *name) {
    arr a;
    if (!load_array(dir, arrays, name, &a)) return NAN;
    float v = ((float *)a.data)[0];
    free(a.data);
    return v;
}

static bool close_rel(double got, double want, double rel) {
    return fabs(got - want) <= rel * fabs(want) + 1e-7;
}

/* Largest |a-b| / (1 + |b|) over n floats. */
static double worst_f(const float *a, const float *b, size_t n) {
    double w = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]) / (1.0 + fabs((double)b[i]));
        if (!(d <= w)) w = d; /* NaN counts as worst */
    }
    return w;
}

static sc_status load(const char *dir, sc_model **m, sc_session **s, sc_error *err) {
    sc_model_params mp = sc_model_default_params();
    mp.kernels = "exact";
    mp.n_threads = 1;
    sc_status st = sc_model_load(dir, &mp, m, err);
    if (!st) st = sc_session_new(*m, s, err);
    return st;
}

/* Checks one sparse layer's router outputs against the fixture's arrays. */
static void check_router(const char *dir, const sc_json *arrays, const sc_router_output *o) {
    char name[96];
    const char *stack = o->decoder ? "decoder" : "encoder";
    arr lg, ex, kept;
    snprintf(name, sizeof name, "%s.block.%lld.router_logits", stack, (long long)o->block);
    bool have = load_array(dir, arrays, name, &lg);
    snprintf(name, sizeof name, "%s.block.%lld.expert_index", stack, (long long)o->block);
    have = load_array(dir, arrays, name, &ex) && have;
    snprintf(name, sizeof name, "%s.block.%lld.kept", stack, (long long)o->block);
    have = load_array(dir, arrays, name, &kept) && have;
    CHECKF(have, "%s: arrays of %s.block.%lld", dir, stack, (long long)o->block);
    if (have) {
        size_t n = (size_t)(o->B * o->len);
        CHECKF(lg.n == n * (size_t)o->E && ex.n == n && kept.n == n, "%s: %s shape", dir, name);
        if (lg.n == n * (size_t)o->E && ex.n == n && kept.n == n) {
            double w = worst_f(o->logits, lg.data, lg.n);
            CHECKF(w < 1e-4, "%s: %s.block.%lld router logits off by %g", dir, stack, (long long)o->block, w);
            CHECKF(o->expert_index && !memcmp(o->expert_index, ex.data, n * 4),
                   "%s: %s.block.%lld expert index", dir, stack, (long long)o->block);
            CHECKF(o->kept && !memcmp(o->kept, kept.data, n * 4), "%s: %s.block.%lld kept", dir, stack,
                   (long long)o->block);
        }
    }
    free(lg.data);
    free(ex.data);
    free(kept.data);
}

/* Counts the arrays named "<stack>.block.<i>.router_logits". */
static int64_t fixture_routers(const sc_json *arrays) {
    int64_t k = 0;
    for (size_t i = 0; i < sc_json_len(arrays); i++) {
        const char *nm = sc_json_string(sc_json_get(sc_json_at(arrays, i), "name"), NULL);
        size_t n = nm ? strlen(nm) : 0;
        if (n > 14 && !strcmp(nm + n - 14, ".router_logits") && strncmp(nm, "zero_drop.", 10) &&
            strncmp(nm, "bf16_compute.", 13))
            k++;
    }
    return k;
}

static void run_case(const char *dir, int *with_labels) {
    char *mpath = sc_path_join(dir, "manifest.json");
    sc_json_doc *doc = NULL;
    sc_error err;
    sc_status st = sc_json_parse_file(mpath, (size_t)1 << 26, &doc, &err);
    free(mpath);
    CHECKF(st == SC_OK, "%s", err.msg);
    if (st) return;
    const sc_json *arrays = sc_json_get(sc_json_root(doc), "arrays");
    arr ids, mask, labels, dec_in, logits, enc;
    bool ok = load_array(dir, arrays, "input_ids", &ids) && load_array(dir, arrays, "attention_mask", &mask);
    bool has_labels = ok && load_array(dir, arrays, "labels", &labels);
    if (!has_labels) { /* a case without labels has nothing for this test */
        free(ids.data);
        free(mask.data);
        sc_json_free(doc);
        return;
    }
    (*with_labels)++;
    ok = load_array(dir, arrays, "logits", &logits) && load_array(dir, arrays, "decoder_input_ids", &dec_in) &&
         load_array(dir, arrays, "encoder_last_hidden_state", &enc);
    CHECKF(ok, "%s: manifest arrays", dir);
    sc_model *m = NULL;
    sc_session *s = NULL;
    if (ok) {
        st = load(dir, &m, &s, &err);
        CHECKF(st == SC_OK, "%s: %s", dir, err.msg);
        ok = st == SC_OK;
    }
    const int64_t B = ids.shape[0], S = ids.shape[1], T = ok ? labels.shape[1] : 0;
    sc_forward_result *r = NULL;
    if (ok) {
        sc_forward_params p = sc_forward_default_params();
        p.keep_router = true;
        p.keep_encoder_output = true;
        st = sc_session_forward(s, ids.data, mask.data, B, S, labels.data, T, &p, &r, &err);
        CHECKF(st == SC_OK, "%s: forward: %s", dir, err.msg);
    }
    if (r) {
        sc_forward_losses L = sc_forward_result_loss(r);
        struct {
            const char *name;
            double got;
        } losses[] = {{"loss", L.loss},
                      {"loss_lm_only", L.ce},
                      {"encoder_z_loss", L.encoder_z_loss},
                      {"encoder_aux_loss", L.encoder_aux_loss},
                      {"decoder_z_loss", L.decoder_z_loss},
                      {"decoder_aux_loss", L.decoder_aux_loss}};
        for (size_t i = 0; i < sizeof losses / sizeof losses[0]; i++) {
            double want = scalar(dir, arrays, losses[i].name);
            CHECKF(close_rel(losses[i].got, want, 1e-4), "%s: %s %.9g, HF %.9g", dir, losses[i].name,
                   losses[i].got, want);
        }
        int64_t tokens = 0;
        for (size_t i = 0; i < labels.n; i++) tokens += ((int32_t *)labels.data)[i] != -100;
        CHECK(L.tokens == tokens);
        int64_t rb, rt, rv, eb, es, ed;
        const float *lg = sc_forward_result_logits(r, &rb, &rt, &rv);
        CHECKF(lg && rb == B && rt == T && (size_t)(rb * rt * rv) == logits.n, "%s: logits shape", dir);
        if (lg && (size_t)(rb * rt * rv) == logits.n) {
            double w = worst_f(lg, logits.data, logits.n);
            CHECKF(w < 1e-4, "%s: logits off by %g", dir, w);
        }
        const float *eo = sc_forward_result_encoder_output(r, &eb, &es, &ed);
        CHECKF(eo && eb == B && es == S && (size_t)(eb * es * ed) == enc.n, "%s: encoder output shape", dir);
        if (eo && (size_t)(eb * es * ed) == enc.n) {
            double w = worst_f(eo, enc.data, enc.n);
            CHECKF(w < 1e-4, "%s: encoder output off by %g", dir, w);
        }
        int64_t nr = sc_forward_result_router_count(r);
        CHECKF(nr == fixture_routers(arrays), "%s: %lld sparse layers, fixture has %lld", dir, (long long)nr,
               (long long)fixture_routers(arrays));
        for (int64_t i = 0; i < nr; i++) {
            sc_router_output o;
            CHECK(sc_forward_result_router(r, i, &o, &err) == SC_OK);
            check_router(dir, arrays, &o);
        }
        sc_router_output o;
        CHECK(sc_forward_result_router(r, nr, &o, &err) == SC_ERR_INVALID_ARG);
    }
    /* decoder ids given explicitly (HF's own shift_right) give the same
     * logits; without labels there is no loss but the router losses stay */
    if (r) {
        sc_forward_params p = sc_forward_default_params();
        p.decoder_input_ids = dec_in.data;
        sc_forward_result *r2 = NULL;
        st = sc_session_forward(s, ids.data, mask.data, B, S, NULL, T, &p, &r2, &err);
        CHECKF(st == SC_OK, "%s: forward with decoder ids: %s", dir, err.msg);
        if (r2) {
            const float *a = sc_forward_result_logits(r, NULL, NULL, NULL);
            const float *b = sc_forward_result_logits(r2, NULL, NULL, NULL);
            CHECKF(!memcmp(a, b, logits.n * sizeof(float)), "%s: logits with decoder ids given", dir);
            sc_forward_losses L2 = sc_forward_result_loss(r2), L = sc_forward_result_loss(r);
            CHECK(isnan(L2.loss) && isnan(L2.ce) && L2.tokens == 0);
            CHECK(L2.decoder_z_loss == L.decoder_z_loss && L2.encoder_aux_loss == L.encoder_aux_loss);
            CHECK(sc_forward_result_encoder_output(r2, NULL, NULL, NULL) == NULL);
            CHECK(sc_forward_result_router_count(r2) == 0);
        }
        sc_forward_result_free(r2);
        /* a label outside the vocabulary is refused, and no result is made */
        int32_t *bad = malloc(labels.n * 4);
        memcpy(bad, labels.data, labels.n * 4);
        bad[0] = (int32_t)sc_model_vocab_size(m);
        sc_forward_result *r3 = (sc_forward_result *)&r3;
        st = sc_session_forward(s, ids.data, mask.data, B, S, bad, T, NULL, &r3, &err);
        CHECK(st == SC_ERR_INVALID_ARG && r3 == (sc_forward_result *)&r3);
        free(bad);
    }
    sc_forward_result_free(r);
    sc_session_free(s);
    sc_model_free(m);
    free(ids.data);
    free(mask.data);
    free(labels.data);
    free(dec_in.data);
    free(logits.data);
    free(enc.data);
    sc_json_free(doc);
}

/* sc_score_pairs on the shipped model: pair numbers do not depend on the
 * other pairs; they are the batch-of-one forward of the pair. */
static void score_library(void) {
    sc_model *m = NULL;
    sc_session *s = NULL;
    sc_error err;
    sc_status st = load(MODEL, &m, &s, &err);
    CHECKF(st == SC_OK, "%s", err.msg);
    if (st) return;
    const int32_t in0[] = {37, 1782, 19, 1}, in1[] = {8774, 296, 1}, in2[] = {32099, 5, 1};
    const int32_t tg0[] = {32099, 19, 3, 9, 1}, tg1[] = {1}, tg2[] = {-100, 6, 1};
    float lp0[5], lp2[3];
    sc_score_pair pairs[3] = {{in0, 4, tg0, 5, lp0}, {in1, 3, tg1, 1, NULL}, {in2, 3, tg2, 3, lp2}};
    sc_score all[3], one[3];
    st = sc_score_pairs(s, pairs, 3, all, &err);
    CHECKF(st == SC_OK, "%s", err.msg);
    for (int i = 2; i >= 0; i--) CHECK(sc_score_pairs(s, &pairs[i], 1, &one[i], &err) == SC_OK);
    for (int i = 0; i < 3 && !st; i++) {
        CHECKF(!memcmp(&all[i], &one[i], sizeof all[i]), "pair %d depends on its neighbours", i);
        sc_forward_result *r = NULL;
        const int32_t *in = pairs[i].input, *tg = pairs[i].target;
        CHECK(sc_session_forward(s, in, NULL, 1, pairs[i].input_len, tg, pairs[i].target_len, NULL, &r, &err) ==
              SC_OK);
        sc_forward_losses L = sc_forward_result_loss(r);
        CHECK(L.loss == all[i].loss && L.ce == all[i].ce && L.tokens == all[i].tokens);
        CHECK(L.encoder_z_loss == all[i].encoder_z_loss && L.decoder_aux_loss == all[i].decoder_aux_loss);
        CHECK(all[i].encoder_z_loss > 0 && all[i].decoder_aux_loss > 0); /* the model has sparse layers */
        sc_forward_result_free(r);
    }
    CHECK(all[0].tokens == 5 && all[1].tokens == 1 && all[2].tokens == 2);
    double sum = 0;
    for (int t = 0; t < 5; t++) sum += lp0[t];
    CHECKF(close_rel(-sum / 5, all[0].ce, 1e-5), "log-probs %g vs ce %g", -sum / 5, all[0].ce);
    CHECK(isnan(lp2[0]) && close_rel(-(lp2[1] + lp2[2]) / 2, all[2].ce, 1e-5));
    /* nothing to score: an error naming the pair; the pairs before it are filled */
    const int32_t ignored[] = {-100, -100};
    sc_score_pair bad[2] = {{in0, 4, tg0, 5, NULL}, {in1, 3, ignored, 2, NULL}};
    sc_score got[2] = {{0}};
    CHECK(sc_score_pairs(s, bad, 2, got, &err) == SC_ERR_INVALID_ARG && strstr(err.msg, "pair 1"));
    CHECK(got[0].loss == all[0].loss);
    bad[1].target_len = 0;
    CHECK(sc_score_pairs(s, &bad[1], 1, got, &err) == SC_ERR_INVALID_ARG && strstr(err.msg, "pair 0"));
    CHECK(sc_score_pairs(s, NULL, 0, NULL, &err) == SC_OK);
    sc_session_free(s);
    sc_model_free(m);
}

static void write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "wb");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

/* Output line `i` (0-based) of text, parsed; NULL when absent. */
static sc_json_doc *line_json(const char *text, int i) {
    for (; i > 0 && text; i--) {
        text = strchr(text, '\n');
        if (text) text++;
    }
    if (!text || !*text) return NULL;
    const char *end = strchr(text, '\n');
    sc_json_doc *doc = NULL;
    if (sc_json_parse(text, end ? (size_t)(end - text) : strlen(text), "output", &doc, NULL)) return NULL;
    return doc;
}

static double num(const sc_json_doc *d, const char *key) {
    double v = NAN;
    sc_json_number(sc_json_get(sc_json_root(d), key), &v);
    return v;
}

static void score_cli(void) {
    static const char *inputs[] = {"translate English to German: Hello world",
                                   "A <extra_id_0> walks into a bar", "The quick brown fox"};
    static const char *targets[] = {"Hallo Welt", "<extra_id_0> man<extra_id_1>", ""};
    mkdir(SC_TMP_DIR, 0755);
    const char *data = SC_TMP_DIR "/score_pairs.jsonl";
    char text[1024] = "";
    for (int i = 0; i < 3; i++)
        snprintf(text + strlen(text), sizeof text - strlen(text), "{\"input\": \"%s\", \"target\": \"%s\"}\n",
                 inputs[i], targets[i]);
    write_file(data, text);
    static char out[1 << 16];
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "'%s' score -m '%s' --data '%s' --summary -t 1 --kernels exact", SC_SWITCHC_BIN,
             MODEL, data);
    CHECK(sc_test_run(cmd, out, sizeof out) == 0);

    sc_model *m = NULL;
    sc_session *s = NULL;
    sc_tokenizer *tok = NULL;
    sc_error err;
    sc_status st = load(MODEL, &m, &s, &err);
    if (!st) st = sc_tokenizer_load(MODEL, &tok, &err);
    CHECKF(st == SC_OK, "%s", err.msg);
    double ce_tok = 0, zsum = 0;
    int64_t tokens = 0;
    static const char *keys[] = {"loss", "ce", "tokens", "perplexity", "encoder_z_loss", "encoder_aux_loss",
                                 "decoder_z_loss", "decoder_aux_loss"};
    for (int i = 0; i < 3 && !st; i++) {
        int32_t in[128], tg[128];
        size_t ni = 0, nt = 0;
        CHECK(sc_tokenizer_encode(tok, inputs[i], strlen(inputs[i]), true, in, 128, &ni, &err) == SC_OK);
        CHECK(sc_tokenizer_encode(tok, targets[i], strlen(targets[i]), true, tg, 128, &nt, &err) == SC_OK);
        sc_score_pair p = {in, (int64_t)ni, tg, (int64_t)nt, NULL};
        sc_score want;
        CHECK(sc_score_pairs(s, &p, 1, &want, &err) == SC_OK);
        sc_json_doc *d = line_json(out, i);
        CHECKF(d != NULL, "output line %d missing:\n%s", i, out);
        if (!d) continue;
        CHECK(sc_json_len(sc_json_root(d)) == 8);
        for (size_t k = 0; k < 8; k++) CHECKF(sc_json_get(sc_json_root(d), keys[k]), "no key %s", keys[k]);
        CHECKF(close_rel(num(d, "loss"), want.loss, 1e-6), "line %d loss %g vs %g", i, num(d, "loss"),
               want.loss);
        CHECK(close_rel(num(d, "ce"), want.ce, 1e-6));
        CHECK(num(d, "tokens") == (double)want.tokens);
        CHECK(close_rel(num(d, "perplexity"), exp(want.ce), 1e-6));
        CHECK(close_rel(num(d, "encoder_z_loss"), want.encoder_z_loss, 1e-6));
        CHECK(close_rel(num(d, "encoder_aux_loss"), want.encoder_aux_loss, 1e-6));
        CHECK(close_rel(num(d, "decoder_z_loss"), want.decoder_z_loss, 1e-6));
        CHECK(close_rel(num(d, "decoder_aux_loss"), want.decoder_aux_loss, 1e-6));
        if (i == 2) CHECK(want.tokens == 1); /* an empty target is </s> alone */
        ce_tok += want.ce * (double)want.tokens;
        tokens += want.tokens;
        zsum += want.encoder_z_loss;
        sc_json_free(d);
    }
    sc_json_doc *sum = line_json(out, 3);
    CHECKF(sum != NULL, "no summary line:\n%s", out);
    if (sum) {
        bool flag = false;
        CHECK(sc_json_bool(sc_json_get(sc_json_root(sum), "summary"), &flag) && flag);
        CHECK(num(sum, "pairs") == 3 && num(sum, "tokens") == (double)tokens);
        CHECK(close_rel(num(sum, "ce"), ce_tok / (double)tokens, 1e-6));
        CHECK(close_rel(num(sum, "perplexity"), exp(ce_tok / (double)tokens), 1e-6));
        CHECK(close_rel(num(sum, "encoder_z_loss"), zsum / 3, 1e-6));
        sc_json_free(sum);
    }
    CHECK(line_json(out, 4) == NULL);
    sc_tokenizer_free(tok);
    sc_session_free(s);
    sc_model_free(m);

    /* the same pairs on standard input give the same bytes, without summary */
    char out2[1 << 14];
    snprintf(cmd, sizeof cmd, "'%s' score -m '%s' --data - -t 1 --kernels exact < '%s'", SC_SWITCHC_BIN, MODEL,
             data);
    CHECK(sc_test_run(cmd, out2, sizeof out2) == 0);
    const char *last = strstr(out, "{\"summary\"");
    CHECK(last && strlen(out2) == (size_t)(last - out) && !strncmp(out, out2, strlen(out2)));

    /* bad lines stop the run after answering the lines before; stderr names the line */
    static const char *bad[] = {"{\"input\": \"hi\"}", "{\"input\": \"hi\", \"target\": 3}", "not json", "",
                                "[\"hi\", \"there\"]"};
    for (size_t b = 0; b < sizeof bad / sizeof bad[0]; b++) {
        const char *good = "{\"input\": \"a\", \"target\": \"b\"}";
        snprintf(text, sizeof text, "%s\n%s\n%s\n", good, bad[b], good);
        write_file(data, text);
        snprintf(cmd, sizeof cmd, "'%s' score -m '%s' --data '%s' --summary 2>&1", SC_SWITCHC_BIN, MODEL, data);
        int rc = sc_test_run(cmd, out2, sizeof out2);
        CHECKF(rc == 1, "bad line %zu: exit %d", b, rc);
        CHECKF(!strncmp(out2, "{\"loss\": ", 9) && strstr(out2, "score_pairs.jsonl:2: ") &&
                   !strstr(out2, "summary"), "bad line %zu:\n%s", b, out2);
        const char *nl = strchr(out2, '\n');
        CHECK(nl && !strstr(nl + 1, "{\"loss\""));
    }
    /* usage errors */
    snprintf(cmd, sizeof cmd, "'%s' score -m '%s' 2>/dev/null", SC_SWITCHC_BIN, MODEL);
    CHECK(sc_test_run(cmd, out2, sizeof out2) == 2);
    snprintf(cmd, sizeof cmd, "'%s' score --data x --bogus 2>/dev/null", SC_SWITCHC_BIN);
    CHECK(sc_test_run(cmd, out2, sizeof out2) == 2);
    snprintf(cmd, sizeof cmd, "'%s' score --help", SC_SWITCHC_BIN);
    CHECK(sc_test_run(cmd, out2, sizeof out2) == 0 && strstr(out2, "--summary"));
    snprintf(cmd, sizeof cmd, "'%s' score -m '%s' --data '%s/nonexistent.jsonl' 2>/dev/null", SC_SWITCHC_BIN,
             MODEL, SC_TMP_DIR);
    CHECK(sc_test_run(cmd, out2, sizeof out2) == 1);
}

int main(void) {
    const char *root = SC_FIXTURES_DIR "/models";
    DIR *d = opendir(root);
    CHECK(d != NULL);
    if (!d) TEST_MAIN_END();
    struct dirent *e;
    int with_labels = 0;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char dir[4096 + 256];
        snprintf(dir, sizeof dir, "%s/%s", root, e->d_name);
        if (fixture_is_inference_case(dir)) run_case(dir, &with_labels);
    }
    closedir(d);
    CHECK(with_labels == 8);
    score_library();
    score_cli();
    TEST_MAIN_END();
}
