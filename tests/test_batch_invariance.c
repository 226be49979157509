/* Batch invariance through the public API: with f32 weights a prompt's
 * encoder output, its decoder logits at every greedy step and its greedy
 * ids are the same bits whether it is encoded alone or inside a batch of
 * 2, 3, 7 or 9 prompts of other lengths (at the first, a middle or the
 * last row; padded on the right when others are longer), for the default
 * kernel table, "exact" and "ref", on 1 and 2 threads (and the logits of
 * the prompt alone are the same on 1 and 2 threads). Prompts are shorter and longer than the attention's
 * query-block cut (8), so alone and batched runs take different attention
 * kernels and different matmul paths (decode rows, tiles, W in place).
 * Also sc_generate's greedy output, and sc_attention itself: a query row
 * computed in a block of rows (Tq >= 8) or alone (Tq = 1), with right
 * padding masked or not there, gives the same bits. docs/batching.md says what is and is
 * not invariant. */
#include "model/attention.h"
#include "switchc.h"
#include "test_util.h"

#include <stdint.h>

#define STEPS 6

static uint32_t rng = 777u;
static int32_t rand_id(int32_t V) {
    rng = rng * 1664525u + 1013904223u;
    return (int32_t)(3 + (rng >> 8) % (uint32_t)(V - 3)); /* clear of pad / eos / unk */
}

/* What one prompt produced: its encoder rows, its logits per greedy step
 * and the greedy ids. */
typedef struct {
    float *enc;    /* [len, D] */
    float *logits; /* [STEPS, V] */
    int32_t ids[STEPS];
} outcome;

/* Encodes B prompts (lens[b] tokens of ids[b * S ..], right padded to S)
 * and decodes STEPS greedy steps; fills *o for row `row`. */
static int run_batch(sc_session *s, const int32_t *ids, const int32_t *mask, int64_t B, int64_t S, int64_t row,
                     int64_t len, outcome *o) {
    const sc_model *m = sc_session_model(s);
    const int64_t D = sc_model_d_model(m), V = sc_model_vocab_size(m);
    sc_error err;
    if (sc_session_encode(s, ids, mask, B, S, &err) != SC_OK) {
        fprintf(stderr, "encode: %s\n", err.msg);
        return 0;
    }
    int64_t rb, rs;
    const float *enc = sc_session_encoder_output(s, &rb, &rs);
    memcpy(o->enc, enc + row * S * D, sizeof(float) * (size_t)(len * D));
    int32_t *tok = malloc(sizeof(int32_t) * (size_t)B);
    float *lg = malloc(sizeof(float) * (size_t)(B * V));
    int ok = tok && lg;
    for (int64_t b = 0; ok && b < B; b++) tok[b] = sc_model_decoder_start_id(m);
    for (int t = 0; ok && t < STEPS; t++) {
        if (sc_session_decode_step(s, tok, lg, &err) != SC_OK) {
            fprintf(stderr, "decode: %s\n", err.msg);
            ok = 0;
            break;
        }
        memcpy(o->logits + t * V, lg + row * V, sizeof(float) * (size_t)V);
        for (int64_t b = 0; b < B; b++) { /* each row goes on with its own greedy token */
            int64_t best = 0;
            for (int64_t v = 1; v < V; v++)
                if (lg[b * V + v] > lg[b * V + best]) best = v;
            tok[b] = (int32_t)best;
        }
        o->ids[t] = tok[row];
    }
    free(tok);
    free(lg);
    return ok;
}

/* Greedy sc_generate of the batch; out receives row `row` (max_len ids,
 * pad after its end). Returns the length of the result or -1. */
static int64_t generate_row(sc_session *s, const int32_t *ids, const int32_t *mask, int64_t B, int64_t S,
                            int64_t row, int32_t *out, int64_t max_len) {
    sc_generate_params gp = sc_generate_default_params();
    gp.max_new_tokens = max_len - 1;
    sc_generate_result *r;
    sc_error err;
    if (sc_generate(s, ids, mask, B, S, &gp, &r, &err) != SC_OK) {
        fprintf(stderr, "generate: %s\n", err.msg);
        return -1;
    }
    int64_t rows, len;
    const int32_t *seq = sc_generate_result_sequences(r, &rows, &len);
    for (int64_t t = 0; t < max_len; t++) out[t] = t < len ? seq[row * len + t] : sc_model_pad_id(sc_session_model(s));
    sc_generate_result_free(r);
    return len;
}

static int same_bits(const float *a, const float *b, size_t n, const char *what, const char *where) {
    if (!memcmp(a, b, n * sizeof(float))) return 1;
    size_t i = 0;
    while (a[i] == b[i] && i + 1 < n) i++;
    float md = 0.0f;
    for (size_t k = 0; k < n; k++) md = fmaxf(md, fabsf(a[k] - b[k]));
    fprintf(stderr, "%s: %s differs at %zu (%.9g vs %.9g), max |diff| %g\n", where, what, i, a[i], b[i], md);
    return 0;
}

/* keep[pi]: the logits of prompt pi alone on 1 thread (NULL: not yet),
 * which the run on 2 threads must match too. */
static void check_model(const char *name, const char *kernels, int threads, float **keep) {
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/models/%s", SC_FIXTURES_DIR, name);
    rng = 777u; /* the same prompts on every thread count */
    sc_model_params p = sc_model_default_params();
    p.n_threads = threads;
    p.kernels = kernels;
    sc_model *m = NULL;
    sc_session *s = NULL;
    sc_error err;
    if (sc_model_load(dir, &p, &m, &err) != SC_OK || sc_session_new(m, &s, &err) != SC_OK) {
        CHECKF(0, "%s: %s", name, err.msg);
        sc_model_free(m);
        return;
    }
    const int64_t D = sc_model_d_model(m), V = sc_model_vocab_size(m);
    const int32_t pad = sc_model_pad_id(m);
    enum { MAXB = 9, MAXS = 21 };
    int32_t ids[MAXB * MAXS], mask[MAXB * MAXS];
    outcome alone = {malloc(sizeof(float) * MAXS * (size_t)D), malloc(sizeof(float) * STEPS * (size_t)V), {0}};
    outcome got = {malloc(sizeof(float) * MAXS * (size_t)D), malloc(sizeof(float) * STEPS * (size_t)V), {0}};
    int32_t gen_alone[STEPS + 1], gen_got[STEPS + 1];
    int ok = alone.enc && alone.logits && got.enc && got.logits;
    /* P: 5 tokens (alone below the attention block cut) and 12 (above it) */
    static const int64_t plens[] = {5, 12};
    static const int64_t batches[] = {2, 3, 7, 9};
    int cases = 0;
    for (size_t pi = 0; ok && pi < sizeof plens / sizeof *plens; pi++) {
        const int64_t len = plens[pi];
        int32_t P[MAXS];
        for (int64_t t = 0; t < len; t++) P[t] = rand_id((int32_t)(V < 300 ? V : 300));
        P[len - 1] = sc_model_eos_id(m);
        for (int64_t t = 0; t < len; t++) {
            ids[t] = P[t];
            mask[t] = 1;
        }
        ok &= run_batch(s, ids, mask, 1, len, 0, len, &alone);
        ok &= generate_row(s, ids, mask, 1, len, 0, gen_alone, STEPS + 1) > 0;
        if (!keep[pi]) {
            keep[pi] = malloc(sizeof(float) * STEPS * (size_t)V);
            if (keep[pi]) memcpy(keep[pi], alone.logits, sizeof(float) * STEPS * (size_t)V);
        } else {
            char where[256];
            snprintf(where, sizeof where, "%s kernels %s: P of %lld tokens alone, threads %d vs 1", name,
                     kernels ? kernels : "default", (long long)len, threads);
            ok &= same_bits(keep[pi], alone.logits, (size_t)(STEPS * V), "greedy-step logits", where);
        }
        for (size_t bi = 0; ok && bi < sizeof batches / sizeof *batches; bi++) {
            const int64_t B = batches[bi];
            for (int at = 0; ok && at < 3; at++) {
                const int64_t row = at == 0 ? 0 : at == 1 ? B / 2 : B - 1;
                /* other prompts 1..20 tokens; the longest sets S */
                int64_t lens[MAXB], S = len;
                for (int64_t b = 0; b < B; b++) {
                    lens[b] = b == row ? len : 1 + rand_id(1000) % 20;
                    if (lens[b] > S) S = lens[b];
                }
                for (int64_t b = 0; b < B; b++)
                    for (int64_t t = 0; t < S; t++) {
                        const int real = t < lens[b];
                        ids[b * S + t] = !real ? pad : b == row ? P[t] : rand_id((int32_t)(V < 300 ? V : 300));
                        mask[b * S + t] = real;
                    }
                char where[256];
                snprintf(where, sizeof where, "%s kernels %s threads %d: P of %lld tokens at row %lld of %lld (S %lld)",
                         name, kernels ? kernels : "default", threads, (long long)len, (long long)row, (long long)B,
                         (long long)S);
                ok &= run_batch(s, ids, mask, B, S, row, len, &got);
                ok &= same_bits(alone.enc, got.enc, (size_t)(len * D), "encoder output", where);
                ok &= same_bits(alone.logits, got.logits, (size_t)(STEPS * V), "greedy-step logits", where);
                if (memcmp(alone.ids, got.ids, sizeof alone.ids)) {
                    fprintf(stderr, "%s: greedy ids differ\n", where);
                    ok = 0;
                }
                ok &= generate_row(s, ids, mask, B, S, row, gen_got, STEPS + 1) > 0;
                if (memcmp(gen_alone, gen_got, sizeof gen_got)) {
                    fprintf(stderr, "%s: sc_generate ids differ\n", where);
                    ok = 0;
                }
                cases++;
            }
        }
    }
    CHECKF(ok, "%s kernels %s threads %d: batched outputs differ from the prompt alone", name,
           kernels ? kernels : "default", threads);
    printf("%-36s kernels %-7s threads %d: %d batches, %s\n", name, kernels ? kernels : "default", threads, cases,
           ok ? "bitwise equal" : "DIFFERENT");
    free(alone.enc);
    free(alone.logits);
    free(got.enc);
    free(got.logits);
    sc_session_free(s);
    sc_model_free(m);
}

static float frand(void) {
    rng = rng * 1664525u + 1013904223u;
    return (float)((rng >> 8) & 0xffffff) / 8388608.0f - 1.0f;
}

/* sc_attention on Tq rows at once (block kernel) and on each row alone
 * (row kernel), causal or not, with and without the relative bias, with
 * Tk real keys or Tk plus padded keys masked: every row bitwise equal. */
static void test_attention_rows(void) {
    enum { TQ = 13, TK = 13, PADK = 7, H = 3, DH = 20, I = H * DH, OFF = 64 };
    float *q = malloc(sizeof(float) * TQ * I), *k = malloc(sizeof(float) * (TK + PADK) * I);
    float *v = malloc(sizeof(float) * (TK + PADK) * I), *ctx = malloc(sizeof(float) * TQ * I);
    float *one = malloc(sizeof(float) * I), bias[32 * H];
    int32_t buckets[2 * OFF + 1], kmask[TK + PADK];
    for (int64_t i = 0; i < TQ * I; i++) q[i] = frand();
    for (int64_t i = 0; i < (TK + PADK) * I; i++) {
        k[i] = frand();
        v[i] = frand();
    }
    for (int i = 0; i < 32 * H; i++) bias[i] = frand();
    for (int r = 0; r <= 2 * OFF; r++) buckets[r] = sc_relative_bucket(r - OFF, true, 32, 128);
    for (int j = 0; j < TK + PADK; j++) kmask[j] = j < TK && j != 4; /* one masked key, then the padding */
    int ok = 1;
    for (int variant = 0; variant < 6; variant++) {
        const bool causal = variant & 1, with_bias = variant & 2, padded = variant >= 4;
        const int64_t tk = padded && !causal ? TK + PADK : TK;
        const int64_t need = sc_attention_task_floats(TQ, tk, DH);
        float *scratch = malloc(sizeof(float) * (size_t)need);
        sc_attn_args a = {.q = q, .k = k, .v = v, .ctx = ctx, .Tq = TQ, .Tk = tk, .H = H, .Dh = DH,
                          .key_mask = causal ? NULL : kmask, .bias_table = with_bias ? bias : NULL,
                          .bucket_of = buckets, .bucket_off = OFF, .causal = causal, .scratch = scratch,
                          .scratch_rows = 1};
        sc_attention(&a);
        for (int64_t i = 0; i < TQ; i++) {
            sc_attn_args r = a;
            r.q = q + i * I;
            r.ctx = one;
            r.Tq = 1;
            r.q_pos0 = i;
            r.Tk = padded && !causal ? TK : tk; /* alone: no padding */
            sc_attention(&r);
            if (memcmp(one, ctx + i * I, sizeof(float) * I)) {
                fprintf(stderr, "attention variant %d: row %lld alone differs from its block\n", variant, (long long)i);
                ok = 0;
            }
        }
        free(scratch);
    }
    CHECKF(ok, "attention rows alone vs in a block");
    printf("attention: rows alone vs in blocks of %d (causal, bias, padded keys): %s\n", TQ,
           ok ? "bitwise equal" : "DIFFERENT");
    free(q); free(k); free(v); free(ctx); free(one);
}

int main(void) {
    test_attention_rows();
    static const char *const models[] = {
        "e8_step2_untied_heads_ne_dmodel", /* capacity 2: tokens dropped; untied head */
        "e4_step1_tied_bias_overflow",     /* every layer sparse, tied head */
        "e8_step3_enc_dec0sparse_defaults",
        "t5vocab_e4_step2", /* 32128-word head */
    };
    static const char *const tables[] = {NULL, "exact", "ref"};
    for (size_t i = 0; i < sizeof models / sizeof *models; i++)
        for (size_t t = 0; t < sizeof tables / sizeof *tables; t++) {
            float *keep[2] = {NULL, NULL};
            for (int threads = 1; threads <= 2; threads++) check_model(models[i], tables[t], threads, keep);
            free(keep[0]);
            free(keep[1]);
        }
    TEST_MAIN_END();
}
