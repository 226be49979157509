/* Tokenizer against Hugging Face T5Tokenizer (transformers 4.41.2, legacy)
 * outputs: every case of t5_tokenizer_cases.jsonl must encode to exactly
 * `ids` and `pieces` and decode to `decoded`, `decoded_skip`,
 * `decoded_no_cleanup`; every case of t5_decode_cases.jsonl must decode the
 * same. Also: out-of-range ids, small buffers, batches, hostile models. */
#include "switchc.h"
#include "io/json.h"
#include "tokenizer/tokenizer_internal.h"
#include "test_util.h"

#include <stdlib.h>
#include <string.h>

static sc_tokenizer *tok;

static bool ids_equal(const sc_json *arr, const int32_t *ids, size_t n) {
    if (sc_json_len(arr) != n) return false;
    for (size_t i = 0; i < n; i++) {
        int64_t v;
        if (!sc_json_int(sc_json_at(arr, i), &v) || v != ids[i]) return false;
    }
    return true;
}

static size_t json_ids(const sc_json *arr, int32_t *ids, size_t cap) {
    size_t n = sc_json_len(arr);
    for (size_t i = 0; i < n && i < cap; i++) {
        int64_t v = 0;
        sc_json_int(sc_json_at(arr, i), &v);
        ids[i] = (int32_t)v;
    }
    return n;
}

static int check_decode(const char *label, const int32_t *ids, size_t n, const sc_json *c) {
    static const struct { const char *key; unsigned flags; } kinds[] = {
        {"decoded", 0}, {"decoded_skip", SC_DECODE_SKIP_SPECIAL}, {"decoded_no_cleanup", SC_DECODE_NO_CLEANUP}};
    int bad = 0;
    for (int k = 0; k < 3; k++) {
        size_t el;
        const char *exp = sc_json_string(sc_json_get(c, kinds[k].key), &el);
        char buf[8192];
        size_t len = 0;
        sc_error e;
        sc_status st = sc_tokenizer_decode(tok, ids, n, kinds[k].flags, buf, sizeof buf, &len, &e);
        bool ok = st == SC_OK && exp && len == el && !memcmp(buf, exp, el);
        CHECKF(ok, "%s %s: got \"%s\" (%s) want \"%s\"", label, kinds[k].key, st ? e.msg : buf,
               sc_status_name(st), exp ? exp : "?");
        bad += !ok;
    }
    return bad;
}

static void test_cases(void) {
    sc_json_doc *doc;
    char *text;
    size_t tl;
    sc_error e;
    const char *path = fixture_path("tokenizer/t5_tokenizer_cases.jsonl");
    FILE *f = fopen(path, "rb");
    CHECK(f != NULL);
    if (!f) return;
    char *line = NULL;
    size_t cap = 0;
    ssize_t ln;
    int n_cases = 0, n_ok = 0;
    while ((ln = getline(&line, &cap, f)) > 0) {
        if (sc_json_parse(line, (size_t)ln, path, &doc, &e)) {
            CHECKF(0, "%s", e.msg);
            continue;
        }
        const sc_json *c = sc_json_root(doc);
        text = (char *)sc_json_string(sc_json_get(c, "text"), &tl);
        n_cases++;
        int32_t ids[4096];
        size_t n = 0;
        sc_status st = sc_tokenizer_encode(tok, text, tl, true, ids, 4096, &n, &e);
        bool ok = st == SC_OK && ids_equal(sc_json_get(c, "ids"), ids, n);
        CHECKF(ok, "case %d ids differ for text \"%s\"", n_cases, text);
        if (!ok) {
            fprintf(stderr, "  got:");
            for (size_t i = 0; i < n; i++) fprintf(stderr, " %d", ids[i]);
            fprintf(stderr, "\n");
        }
        /* pieces */
        char pbuf[65536];
        size_t plen, np;
        static sc_token_piece tp[4096];
        st = sc_tokenizer_tokenize(tok, text, tl, pbuf, sizeof pbuf, &plen, tp, 4096, &np, &e);
        const sc_json *pj = sc_json_get(c, "pieces");
        bool pok = st == SC_OK && np == sc_json_len(pj);
        for (size_t i = 0; pok && i < np; i++) {
            size_t el;
            const char *exp = sc_json_string(sc_json_at(pj, i), &el);
            if (!exp || tp[i].len != el || memcmp(pbuf + tp[i].offset, exp, el)) pok = false;
            if (i < n && tp[i].id != ids[i]) pok = false;
        }
        CHECKF(pok, "case %d pieces differ for text \"%s\"", n_cases, text);
        int32_t eids[4096];
        size_t en = json_ids(sc_json_get(c, "ids"), eids, 4096);
        char label[64];
        snprintf(label, sizeof label, "case %d", n_cases);
        int bad = check_decode(label, eids, en, c);
        n_ok += ok && pok && !bad;
        sc_json_free(doc);
    }
    free(line);
    fclose(f);
    printf("t5_tokenizer_cases: %d/%d cases fully agree\n", n_ok, n_cases);
    CHECK(n_cases == 352);
}

static void test_decode_cases(void) {
    sc_json_doc *doc;
    sc_error e;
    const char *path = fixture_path("tokenizer/t5_decode_cases.jsonl");
    FILE *f = fopen(path, "rb");
    CHECK(f != NULL);
    if (!f) return;
    char *line = NULL;
    size_t cap = 0;
    ssize_t ln;
    int n_cases = 0, n_ok = 0;
    while ((ln = getline(&line, &cap, f)) > 0) {
        if (sc_json_parse(line, (size_t)ln, path, &doc, &e)) {
            CHECKF(0, "%s", e.msg);
            continue;
        }
        const sc_json *c = sc_json_root(doc);
        n_cases++;
        int32_t ids[4096];
        size_t n = json_ids(sc_json_get(c, "ids"), ids, 4096);
        const sc_json *toks = sc_json_get(c, "tokens");
        bool tok_ok = sc_json_len(toks) == n;
        for (size_t i = 0; tok_ok && i < n; i++) {
            size_t el, gl;
            const char *exp = sc_json_string(sc_json_at(toks, i), &el);
            const char *got = sc_tokenizer_piece(tok, ids[i], &gl);
            tok_ok = exp && got && el == gl && !memcmp(exp, got, el);
        }
        CHECKF(tok_ok, "decode case %s: tokens differ", sc_json_string(sc_json_get(c, "name"), NULL));
        int bad = check_decode(sc_json_string(sc_json_get(c, "name"), NULL), ids, n, c);
        n_ok += !bad && tok_ok;
        sc_json_free(doc);
    }
    free(line);
    fclose(f);
    printf("t5_decode_cases: %d/%d cases fully agree\n", n_ok, n_cases);
}

static void test_api(void) {
    sc_error e;
    CHECK(sc_tokenizer_vocab_size(tok) == 32100);
    CHECK(sc_tokenizer_sp_size(tok) == 32000);
    CHECK(sc_tokenizer_pad_id(tok) == 0 && sc_tokenizer_eos_id(tok) == 1 && sc_tokenizer_unk_id(tok) == 2);
    CHECK(sc_tokenizer_sentinel_id(tok, 0) == 32099 && sc_tokenizer_sentinel_id(tok, 99) == 32000);
    CHECK(sc_tokenizer_sentinel_id(tok, 100) == -1);
    CHECK(sc_tokenizer_piece_id(tok, "<extra_id_0>", 12) == 32099);
    CHECK(sc_tokenizer_piece_id(tok, "\xE2\x96\x81Hello", 8) == 8774);
    CHECK(sc_tokenizer_piece_id(tok, "no such piece!", 14) == 2);
    CHECK(sc_tokenizer_piece(tok, 32100, NULL) == NULL);
    /* ids beyond the tokenizer (model embedding rows 32100..32127) */
    int32_t bad[] = {37, 32100};
    char buf[64];
    size_t len;
    CHECK(sc_tokenizer_decode(tok, bad, 2, 0, buf, sizeof buf, &len, &e) == SC_ERR_INVALID_ARG);
    CHECK(strstr(e.msg, "out of range") != NULL);
    int32_t neg[] = {-1};
    CHECK(sc_tokenizer_decode(tok, neg, 1, 0, buf, sizeof buf, &len, &e) == SC_ERR_INVALID_ARG);
    /* buffers too small report the size needed */
    int32_t ids[2];
    size_t n;
    CHECK(sc_tokenizer_encode(tok, "Hello world", 11, true, ids, 2, &n, &e) == SC_ERR_BUFFER_TOO_SMALL);
    CHECK(n == 3);
    int32_t hw[] = {8774, 296, 1};
    CHECK(sc_tokenizer_decode(tok, hw, 3, 0, buf, 4, &len, &e) == SC_ERR_BUFFER_TOO_SMALL);
    CHECK(len == 15);
    CHECK(sc_tokenizer_decode(tok, hw, 3, 0, buf, 16, &len, &e) == SC_OK && !strcmp(buf, "Hello world</s>"));
    CHECK(sc_tokenizer_decode(tok, NULL, 0, 0, buf, 1, &len, &e) == SC_OK && len == 0 && buf[0] == 0);
    /* invalid UTF-8 never crashes; each bad byte is one U+FFFD */
    CHECK(sc_tokenizer_encode(tok, "a\xff\xfe" "b\xc3", 5, true, NULL, 0, &n, &e) == SC_ERR_BUFFER_TOO_SMALL);
    /* batch: padding and truncation as HF */
    const char *texts[] = {"Hello world", "A", "The quick brown fox jumps over the lazy dog"};
    sc_token_batch b;
    sc_batch_params p = sc_batch_default_params();
    CHECK(sc_tokenizer_encode_batch(tok, texts, NULL, 3, &p, &b, &e) == SC_OK);
    CHECK(b.B == 3 && b.lengths[0] == 3 && b.ids[2] == 1 && b.mask[b.S - 1] == 0);
    CHECK(b.ids[(size_t)b.S * 2 + (size_t)b.lengths[2] - 1] == 1);
    sc_token_batch_free(&b);
    p.max_length = 4;
    p.pad_to_max = true;
    CHECK(sc_tokenizer_encode_batch(tok, texts, NULL, 3, &p, &b, &e) == SC_OK);
    CHECK(b.S == 4 && b.lengths[2] == 4 && b.ids[2 * 4 + 3] == 1 && b.mask[1 * 4 + 2] == 0);
    sc_token_batch_free(&b);
    sc_token_batch_free(NULL);
    sc_tokenizer_free(NULL);
}

static void test_hostile(void) {
    sc_error e;
    sc_tokenizer *t = NULL;
    CHECK(sc_tokenizer_load(SC_FIXTURES_DIR "/does-not-exist", &t, &e) != SC_OK);
    /* truncated copies of spiece.model must fail cleanly */
    FILE *f = fopen(fixture_path("tokenizer/spiece.model"), "rb");
    if (!f) return;
    static unsigned char data[1 << 20];
    size_t n = fread(data, 1, sizeof data, f);
    fclose(f);
    char path[4096];
    snprintf(path, sizeof path, "%s/trunc.model", SC_TMP_DIR);
    int fails = 0;
    size_t cuts[] = {0, 1, 2, 5, 100, 1000, n / 2, n - 1};
    (void)!system("mkdir -p " SC_TMP_DIR);
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        FILE *w = fopen(path, "wb");
        if (!w) break;
        fwrite(data, 1, cuts[i], w);
        fclose(w);
        t = NULL;
        sc_status st = sc_tokenizer_load(path, &t, &e);
        if (st != SC_OK) fails++;
        sc_tokenizer_free(t);
    }
    CHECK(fails >= 6); /* a cut at a message boundary may still be a valid (smaller) model */
}

static void b64(FILE *f, const unsigned char *p, size_t n) {
    static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0) | (i + 2 < n ? p[i + 2] : 0);
        fputc(a[v >> 18], f);
        fputc(a[(v >> 12) & 63], f);
        fputc(i + 1 < n ? a[(v >> 6) & 63] : '=', f);
        fputc(i + 2 < n ? a[v & 63] : '=', f);
    }
}

/* Writes the fixture model as an HF tokenizer.json (Unigram) and checks
 * that it tokenizes like spiece.model. */
static void test_tokenizer_json(void) {
    (void)!system("mkdir -p " SC_TMP_DIR "/tjson");
    const char *path = SC_TMP_DIR "/tjson/tokenizer.json";
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    if (!f) return;
    const sp_model *m = &tok->sp;
    fprintf(f, "{\"version\": \"1.0\", \"added_tokens\": [");
    fprintf(f, "{\"id\": 0, \"content\": \"<pad>\", \"special\": true}, {\"id\": 1, \"content\": \"</s>\", \"special\": true}, {\"id\": 2, \"content\": \"<unk>\", \"special\": true}");
    for (int i = 0; i < 100; i++) fprintf(f, ", {\"id\": %d, \"content\": \"<extra_id_%d>\", \"special\": true}", 32099 - i, i);
    fprintf(f, "], \"normalizer\": {\"type\": \"Sequence\", \"normalizers\": [{\"type\": \"Precompiled\", \"precompiled_charsmap\": \"");
    size_t cn = 4 + m->n_darts * 4 + m->norm_len;
    unsigned char *cm = malloc(cn);
    uint32_t ts = (uint32_t)(m->n_darts * 4);
    memcpy(cm, &ts, 4);
    memcpy(cm + 4, m->darts, ts);
    memcpy(cm + 4 + ts, m->norm_str, m->norm_len);
    b64(f, cm, cn);
    free(cm);
    fprintf(f, "\"}]}, \"pre_tokenizer\": {\"type\": \"Sequence\", \"pretokenizers\": [{\"type\": \"WhitespaceSplit\"}, {\"type\": \"Metaspace\", \"replacement\": \"\\u2581\", \"add_prefix_space\": true}]}, ");
    fprintf(f, "\"model\": {\"type\": \"Unigram\", \"unk_id\": 2, \"vocab\": [");
    for (size_t i = 0; i < m->n_pieces; i++) {
        fprintf(f, "%s[\"", i ? ", " : "");
        const char *p = m->blob + m->off[i];
        for (size_t k = 0; k < m->len[i]; k++) {
            unsigned char c = (unsigned char)p[k];
            if (c == '"' || c == '\\') fprintf(f, "\\%c", c);
            else if (c < 0x20) fprintf(f, "\\u%04x", c);
            else fputc(c, f);
        }
        fprintf(f, "\", %.9g]", (double)m->score[i]);
    }
    fprintf(f, "]}}");
    fclose(f);
    sc_tokenizer *tj = NULL;
    sc_error e;
    sc_status st = sc_tokenizer_load(SC_TMP_DIR "/tjson", &tj, &e);
    CHECKF(st == SC_OK, "%s", e.msg);
    if (st) return;
    CHECK(sc_tokenizer_vocab_size(tj) == 32100);
    static const char *texts[] = {"Hello world", "  ＡＢＣ ﬁne  <extra_id_3> x</s>", "naïve café 你好", "a\xff\xfe" "b"};
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        int32_t a[256], b[256];
        size_t na = 0, nb = 0;
        sc_tokenizer_encode(tok, texts[i], strlen(texts[i]), true, a, 256, &na, &e);
        sc_tokenizer_encode(tj, texts[i], strlen(texts[i]), true, b, 256, &nb, &e);
        CHECKF(na == nb && !memcmp(a, b, na * sizeof *a), "tokenizer.json differs on \"%s\"", texts[i]);
    }
    sc_tokenizer_free(tj);
}

/* SC_DECODE_SKIP_UNKNOWN: ids the model has rows for but the tokenizer has
 * no piece for (32100..32127 in the Switch checkpoints) decode as if absent,
 * as HF's fast tokenizer renders them; negative ids stay an error. */
static void test_decode_skip_unknown(void) {
    sc_error e;
    char buf[128], want[128];
    size_t len, wlen;
    const int32_t plain[] = {8774, 296};
    const int32_t odd[] = {32110, 8774, 32127, 296, 32100};
    CHECK(sc_tokenizer_decode(tok, plain, 2, 0, want, sizeof want, &wlen, &e) == SC_OK);
    CHECK(sc_tokenizer_decode(tok, odd, 5, 0, buf, sizeof buf, &len, &e) == SC_ERR_INVALID_ARG);
    CHECK(strstr(e.msg, "ids[0] = 32110") != NULL);
    sc_status st = sc_tokenizer_decode(tok, odd, 5, SC_DECODE_SKIP_UNKNOWN, buf, sizeof buf, &len, &e);
    CHECKF(st == SC_OK && len == wlen && !strcmp(buf, want), "got '%s' want '%s'", st ? e.msg : buf, want);
    /* an unknown id between a sentinel and text splits nothing */
    const int32_t with_sentinel[] = {32099, 32120, 8774, 32099, 296};
    const int32_t without[] = {32099, 8774, 32099, 296};
    CHECK(sc_tokenizer_decode(tok, without, 4, 0, want, sizeof want, &wlen, &e) == SC_OK);
    st = sc_tokenizer_decode(tok, with_sentinel, 5, SC_DECODE_SKIP_UNKNOWN, buf, sizeof buf, &len, &e);
    CHECKF(st == SC_OK && !strcmp(buf, want), "got '%s' want '%s'", st ? e.msg : buf, want);
    /* with the other flags, and alone (empty text) */
    st = sc_tokenizer_decode(tok, odd, 1, SC_DECODE_SKIP_UNKNOWN | SC_DECODE_SKIP_SPECIAL, buf, sizeof buf, &len, &e);
    CHECK(st == SC_OK && len == 0 && buf[0] == 0);
    const int32_t neg[] = {8774, -3};
    CHECK(sc_tokenizer_decode(tok, neg, 2, SC_DECODE_SKIP_UNKNOWN, buf, sizeof buf, &len, &e) == SC_ERR_INVALID_ARG);
}

int main(void) {
    sc_error e;
    sc_status st = sc_tokenizer_load(fixture_path("tokenizer"), &tok, &e);
    CHECKF(st == SC_OK, "%s", e.msg);
    if (st) TEST_MAIN_END();
    test_cases();
    test_decode_cases();
    test_api();
    test_decode_skip_unknown();
    test_hostile();
    test_tokenizer_json();
    sc_tokenizer_free(tok);
    TEST_MAIN_END();
}
