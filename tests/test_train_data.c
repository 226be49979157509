/* Training data: JSON-lines pairs and text documents, tokenization and HF
 * truncation, padded batches with -100 labels and shifted decoder inputs,
 * the seeded shuffle per epoch, saving/restoring the position, span
 * corruption of documents, and every error naming the file and line. */
#include "test_util.h"

#include "train/data.h"

#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

static sc_tokenizer *tok;

static void write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "wb");
    fputs(text, f);
    fclose(f);
}

static void tmp(char *buf, size_t cap, const char *name) {
    snprintf(buf, cap, "%s/data_%d_%s", SC_TMP_DIR, (int)getpid(), name);
}

/* HF tokenizer(text, max_length=max, truncation=True).input_ids */
static size_t hf_encode(const char *text, int64_t max, int32_t *ids) {
    size_t n = 0;
    sc_error err;
    sc_tokenizer_encode(tok, text, strlen(text), false, ids, 4096, &n, &err);
    if (max > 0 && n + 1 > (size_t)max) n = (size_t)max - 1;
    if (!(n > 0 && ids[n - 1] == 1)) ids[n++] = 1;
    return n;
}

static const char *PAIRS[5][2] = {
    {"translate English to German: The house is wonderful.", "Das Haus ist wunderbar."},
    {"summarize: studies have shown that owning a dog is good for you", "dogs are good"},
    {"a", "b"},
    {"question: what is the capital of France? context: Paris is the capital.", "Paris"},
    {"The \\\"quoted\\\" text with a unicode \\u00e9 and a tab\\t.", "ok </s>"},
};
static const char *PAIRS_DECODED_4[2] = {"The \"quoted\" text with a unicode \xc3\xa9 and a tab\t.", "ok </s>"};

static char *jsonl(void) {
    static char buf[4096];
    size_t n = 0;
    for (int i = 0; i < 5; i++) {
        n += (size_t)snprintf(buf + n, sizeof buf - n, "{\"input\": \"%s\", \"target\": \"%s\", \"id\": %d}\n",
                              PAIRS[i][0], PAIRS[i][1], i);
        if (i == 1) n += (size_t)snprintf(buf + n, sizeof buf - n, "\r\n   \n"); /* blank lines */
    }
    return buf;
}

static void test_seq2seq(void) {
    char path[1024];
    tmp(path, sizeof path, "pairs.jsonl");
    write_file(path, jsonl());
    sc_data_params p = sc_data_default_params();
    p.shuffle = false;
    p.batch_size = 3;
    p.max_source_len = 8;
    p.max_target_len = 0;
    sc_data *d = NULL;
    sc_error err;
    CHECKF(sc_data_open(path, tok, &p, &d, &err) == SC_OK, "%s", err.msg);
    if (!d) return;
    CHECK(sc_data_count(d) == 5 && sc_data_skipped(d) == 2 && sc_data_batches_per_epoch(d) == 2);
    /* tokens = HF's, with truncation of the source to 8 (eos kept last) */
    for (int i = 0; i < 5; i++) {
        int32_t want[4096];
        const char *in = i == 4 ? PAIRS_DECODED_4[0] : PAIRS[i][0];
        const char *tg = i == 4 ? PAIRS_DECODED_4[1] : PAIRS[i][1];
        size_t nw = hf_encode(in, 8, want);
        int64_t n;
        const int32_t *got = sc_data_source(d, i, &n);
        CHECKF(got && n == (int64_t)nw && memcmp(got, want, nw * 4) == 0, "source %d: %lld tokens vs %zu", i,
               (long long)n, nw);
        CHECK(n <= 8 && got[n - 1] == 1);
        nw = hf_encode(tg, 0, want);
        got = sc_data_target(d, i, &n);
        CHECKF(got && n == (int64_t)nw && memcmp(got, want, nw * 4) == 0, "target %d", i);
    }
    /* "ok </s>" already ends with </s>: no second one (HF _add_eos_if_not_present) */
    int64_t n4;
    const int32_t *t4 = sc_data_target(d, 4, &n4);
    CHECK(n4 >= 2 && t4[n4 - 1] == 1 && t4[n4 - 2] != 1);
    CHECK(sc_data_source(d, 5, NULL) == NULL);

    /* batch 1: examples 0, 1, 2 padded to the longest */
    sc_data_batch b;
    memset(&b, 0, sizeof b);
    CHECK(sc_data_next(d, &b, &err) == SC_OK);
    CHECK(b.B == 3 && b.S == 8 && b.example[0] == 0 && b.example[2] == 2);
    int64_t lt[3];
    int64_t T = 0;
    for (int r = 0; r < 3; r++) {
        sc_data_target(d, r, &lt[r]);
        if (lt[r] > T) T = lt[r];
    }
    CHECK(b.T == T);
    int64_t ls2;
    const int32_t *s2 = sc_data_source(d, 2, &ls2);
    for (int64_t s = 0; s < b.S; s++) {
        CHECK(b.input_ids[2 * b.S + s] == (s < ls2 ? s2[s] : 0));
        CHECK(b.attention_mask[2 * b.S + s] == (s < ls2));
    }
    for (int r = 0; r < 3; r++) {
        const int32_t *tg = sc_data_target(d, r, NULL);
        for (int64_t t = 0; t < b.T; t++) CHECK(b.labels[r * b.T + t] == (t < lt[r] ? tg[t] : -100));
        CHECK(b.decoder_input_ids[r * b.T] == 0);
        for (int64_t t = 1; t < b.T; t++)
            CHECK(b.decoder_input_ids[r * b.T + t] == (t - 1 < lt[r] ? tg[t - 1] : 0));
    }
    /* batch 2: the short last one; then epoch 1 starts over */
    CHECK(sc_data_next(d, &b, &err) == SC_OK && b.B == 2 && b.example[1] == 4);
    sc_data_pos pos = sc_data_tell(d);
    CHECK(pos.epoch == 0 && pos.index == 5);
    CHECK(sc_data_next(d, &b, &err) == SC_OK && b.B == 3 && b.example[0] == 0);
    pos = sc_data_tell(d);
    CHECK(pos.epoch == 1 && pos.index == 3);
    sc_data_batch_free(&b);
    sc_data_batch_free(&b); /* twice is fine */
    sc_data_free(d);

    /* drop_last leaves out the short batch */
    p.drop_last = true;
    CHECK(sc_data_open(path, tok, &p, &d, &err) == SC_OK);
    CHECK(sc_data_batches_per_epoch(d) == 1);
    CHECK(sc_data_next(d, &b, &err) == SC_OK && sc_data_next(d, &b, &err) == SC_OK);
    CHECK(b.B == 3 && sc_data_tell(d).epoch == 1);
    sc_data_batch_free(&b);
    sc_data_free(d);
    p.batch_size = 6;
    CHECK(sc_data_open(path, tok, &p, &d, &err) == SC_ERR_INVALID_ARG && strstr(err.msg, "drop_last"));
    unlink(path);
}

static void expect_error(const char *text, sc_status code, const char *want) {
    char path[1024];
    tmp(path, sizeof path, "bad.jsonl");
    write_file(path, text);
    sc_data_params p = sc_data_default_params();
    sc_data *d = NULL;
    sc_error err;
    memset(&err, 0, sizeof err);
    sc_status st = sc_data_open(path, tok, &p, &d, &err);
    CHECKF(st == code && !d, "%s: got %s (%s)", want, sc_status_name(st), err.msg);
    CHECKF(strstr(err.msg, path) && strstr(err.msg, want), "'%s' lacks the file or '%s'", err.msg, want);
    sc_data_free(d);
    unlink(path);
}

static void test_errors(void) {
    const char *ok = "{\"input\": \"x\", \"target\": \"y\"}\n";
    char buf[512];
    snprintf(buf, sizeof buf, "%s%s{\"input\": \"x\", \"target\": }\n", ok, ok);
    expect_error(buf, SC_ERR_FORMAT, ":3: byte ");
    snprintf(buf, sizeof buf, "%s{\"input\": \"x\"}\n", ok);
    expect_error(buf, SC_ERR_FORMAT, ":2: no \"target\" member");
    snprintf(buf, sizeof buf, "%s\n%s{\"input\": 5, \"target\": \"y\"}\n", ok, ok);
    expect_error(buf, SC_ERR_FORMAT, ":4: \"input\" is not a string");
    expect_error("[1, 2]\n", SC_ERR_FORMAT, ":1: the line is not a JSON object");
    expect_error("{\"input\": \"x\", \"target\": \"y\"} trailing\n", SC_ERR_FORMAT, ":1: byte");
    expect_error("\n  \n", SC_ERR_MISSING, "no usable example");
    /* a missing file */
    sc_data *d = NULL;
    sc_error err;
    sc_data_params p = sc_data_default_params();
    char path[1024];
    tmp(path, sizeof path, "absent.jsonl");
    CHECK(sc_data_open(path, tok, &p, &d, &err) != SC_OK && strstr(err.msg, "absent.jsonl"));
    p.batch_size = 0;
    CHECK(sc_data_open_buffer(ok, strlen(ok), "mem", tok, &p, &d, &err) == SC_ERR_INVALID_ARG);
    p = sc_data_default_params();
    p.kind = SC_DATA_TEXT;
    p.max_source_len = 3;
    CHECK(sc_data_open_buffer("some text here\n", 15, "mem", tok, &p, &d, &err) == SC_ERR_INVALID_ARG);
    /* seek outside the data */
    p = sc_data_default_params();
    CHECK(sc_data_open_buffer(ok, strlen(ok), "mem", tok, &p, &d, &err) == SC_OK);
    CHECK(sc_data_seek(d, (sc_data_pos){0, 2}, &err) == SC_ERR_INVALID_ARG);
    CHECK(sc_data_seek(d, (sc_data_pos){-1, 0}, &err) == SC_ERR_INVALID_ARG);
    CHECK(sc_data_seek(d, (sc_data_pos){3, 1}, &err) == SC_OK);
    sc_data_free(d);
}

/* 23 numbered pairs */
static char *many_pairs(void) {
    static char buf[8192];
    size_t n = 0;
    for (int i = 0; i < 23; i++)
        n += (size_t)snprintf(buf + n, sizeof buf - n, "{\"input\": \"example number %d\", \"target\": \"t%d\"}\n",
                              i, i);
    return buf;
}

/* The example order of `epochs` epochs (batch 4). */
static void order_of(uint64_t seed, int epochs, int64_t *out) {
    sc_data_params p = sc_data_default_params();
    p.batch_size = 4;
    p.seed = seed;
    sc_data *d = NULL;
    sc_error err;
    const char *text = many_pairs();
    CHECK(sc_data_open_buffer(text, strlen(text), "mem", tok, &p, &d, &err) == SC_OK);
    sc_data_batch b;
    memset(&b, 0, sizeof b);
    int64_t k = 0;
    for (int i = 0; i < epochs * 6; i++) {
        CHECK(sc_data_next(d, &b, &err) == SC_OK);
        for (int64_t r = 0; r < b.B; r++) out[k++] = b.example[r];
    }
    CHECK(k == 23 * epochs);
    sc_data_batch_free(&b);
    sc_data_free(d);
}

static void test_shuffle_and_resume(void) {
    int64_t a[69], b[69], c[69];
    order_of(42, 3, a);
    order_of(42, 3, b);
    order_of(7, 3, c);
    CHECK(memcmp(a, b, sizeof a) == 0);
    CHECK(memcmp(a, c, sizeof a) != 0);
    /* each epoch is a permutation, and the epochs differ */
    for (int e = 0; e < 3; e++) {
        bool seen[23] = {false};
        for (int i = 0; i < 23; i++) seen[a[e * 23 + i]] = true;
        bool all = true;
        for (int i = 0; i < 23; i++) all = all && seen[i];
        CHECK(all);
    }
    CHECK(memcmp(a, a + 23, 23 * sizeof(int64_t)) != 0);
    bool identity = true;
    for (int i = 0; i < 23; i++) identity = identity && a[i] == i;
    CHECK(!identity);

    /* resume: a second reader restored to the first one's position gives the
     * same batches from there on, across an epoch boundary */
    sc_data_params p = sc_data_default_params();
    p.batch_size = 4;
    const char *text = many_pairs();
    sc_data *d1 = NULL, *d2 = NULL;
    sc_error err;
    CHECK(sc_data_open_buffer(text, strlen(text), "mem", tok, &p, &d1, &err) == SC_OK);
    CHECK(sc_data_open_buffer(text, strlen(text), "mem", tok, &p, &d2, &err) == SC_OK);
    sc_data_batch x, y;
    memset(&x, 0, sizeof x);
    memset(&y, 0, sizeof y);
    for (int i = 0; i < 5; i++) CHECK(sc_data_next(d1, &x, &err) == SC_OK);
    sc_data_pos pos = sc_data_tell(d1);
    CHECK(pos.epoch == 0 && pos.index == 20);
    CHECK(sc_data_seek(d2, pos, &err) == SC_OK);
    for (int i = 0; i < 4; i++) {
        CHECK(sc_data_next(d1, &x, &err) == SC_OK && sc_data_next(d2, &y, &err) == SC_OK);
        CHECK(x.B == y.B && x.S == y.S && x.T == y.T);
        CHECK(memcmp(x.example, y.example, (size_t)x.B * 8) == 0);
        CHECK(memcmp(x.input_ids, y.input_ids, (size_t)(x.B * x.S) * 4) == 0);
        CHECK(memcmp(x.labels, y.labels, (size_t)(x.B * x.T) * 4) == 0);
    }
    CHECK(sc_data_tell(d2).epoch == 1);
    sc_data_batch_free(&x);
    sc_data_batch_free(&y);
    sc_data_free(d1);
    sc_data_free(d2);
}

static const char *DOCS = "The quick brown fox jumps over the lazy dog and runs into the forest.\n"
                          "\n"
                          "Switch Transformers route every token to one expert, which keeps the cost of a "
                          "forward pass constant while the number of parameters grows with the number of "
                          "experts in each layer.\n"
                          "Hi\r\n"
                          "A third document, short but long enough to corrupt.\n";

static void test_text(void) {
    sc_data_params p = sc_data_default_params();
    p.kind = SC_DATA_TEXT;
    p.max_source_len = 16;
    p.batch_size = 2;
    p.shuffle = false;
    sc_data *d = NULL, *d2 = NULL;
    sc_error err;
    CHECKF(sc_data_open_buffer(DOCS, strlen(DOCS), "docs.txt", tok, &p, &d, &err) == SC_OK, "%s", err.msg);
    if (!d) return;
    /* "Hi" is 1 token (no </s> is added to documents): skipped with the blank line */
    CHECK(sc_data_count(d) == 3 && sc_data_skipped(d) == 2);
    /* the long document is cut so that its corrupted inputs fit 16 */
    int64_t n1;
    const int32_t *doc1 = sc_data_source(d, 1, &n1);
    int32_t full[512];
    size_t nf = 0;
    const char *line2 = "Switch Transformers route every token to one expert, which keeps the cost of a forward pass "
                        "constant while the number of parameters grows with the number of experts in each layer.";
    sc_tokenizer_encode(tok, line2, strlen(line2), false, full, 512, &nf, &err);
    CHECK(nf > 20 && n1 < (int64_t)nf && memcmp(doc1, full, (size_t)n1 * 4) == 0);
    CHECKF(n1 == 17, "kept %lld tokens", (long long)n1); /* 17 - 3 noise + 1 span + 1 eos = 16 */

    sc_data_batch b;
    memset(&b, 0, sizeof b);
    CHECK(sc_data_next(d, &b, &err) == SC_OK);
    CHECK(b.B == 2 && b.S <= 16);
    int32_t x0 = sc_tokenizer_sentinel_id(tok, 0);
    for (int64_t r = 0; r < b.B; r++) {
        int64_t n;
        const int32_t *src = sc_data_source(d, b.example[r], &n);
        /* inputs + labels put back together give the document */
        const int32_t *in = b.input_ids + r * b.S, *lab = b.labels + r * b.T;
        int32_t back[64];
        int64_t k = 0;
        bool has_sentinel = false;
        for (int64_t s = 0; s < b.S && b.attention_mask[r * b.S + s] && in[s] != 1; s++) {
            if (in[s] > 32000) {
                has_sentinel = true;
                int64_t j = 0;
                while (j < b.T && lab[j] != in[s]) j++;
                for (j++; j < b.T && lab[j] != 1 && lab[j] != -100 && lab[j] <= 32000; j++) back[k++] = lab[j];
            } else {
                back[k++] = in[s];
            }
        }
        CHECK(has_sentinel && lab[0] == x0);
        CHECKF(k == n && memcmp(back, src, (size_t)n * 4) == 0, "row %lld does not reassemble", (long long)r);
    }
    /* the same epoch of a second reader has the same masks; the next epoch
     * of the same example has another */
    CHECK(sc_data_open_buffer(DOCS, strlen(DOCS), "docs.txt", tok, &p, &d2, &err) == SC_OK);
    sc_data_batch c;
    memset(&c, 0, sizeof c);
    CHECK(sc_data_next(d2, &c, &err) == SC_OK);
    CHECK(c.S == b.S && memcmp(c.input_ids, b.input_ids, (size_t)(b.B * b.S) * 4) == 0);
    sc_data_free(d2);
    /* with one noise span (short rows) the span is always last, as in T5;
     * the long document at 64 tokens has several, placed anew each epoch */
    p.max_source_len = 64;
    CHECK(sc_data_open_buffer(DOCS, strlen(DOCS), "docs.txt", tok, &p, &d2, &err) == SC_OK);
    sc_data_batch e0;
    memset(&e0, 0, sizeof e0);
    CHECK(sc_data_next(d2, &e0, &err) == SC_OK && e0.example[1] == 1);
    CHECK(sc_data_seek(d2, (sc_data_pos){1, 0}, &err) == SC_OK && sc_data_next(d2, &c, &err) == SC_OK);
    CHECK(c.example[1] == 1);
    CHECK(memcmp(c.input_ids + c.S, e0.input_ids + e0.S, (size_t)(c.S < e0.S ? c.S : e0.S) * 4) != 0);
    sc_data_batch_free(&e0);
    sc_data_batch_free(&b);
    sc_data_batch_free(&c);
    sc_data_free(d);
    sc_data_free(d2);
}

int main(void) {
    mkdir(SC_TMP_DIR, 0777);
    sc_error err;
    if (sc_tokenizer_load(fixture_path("tokenizer/spiece.model"), &tok, &err) != SC_OK) {
        fprintf(stderr, "tokenizer: %s\n", err.msg);
        return 1;
    }
    test_seq2seq();
    test_errors();
    test_shuffle_and_resume();
    test_text();
    sc_tokenizer_free(tok);
    TEST_MAIN_END();
}
