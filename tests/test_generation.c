/* Generation (greedy, sampling, beam search) against a toy decoder whose
 * logits are a hash of (prompt, decoder ids so far, token). Expectations are
 * derived independently of the library: greedy by a plain per-prompt loop,
 * beam search by exhaustive enumeration of every sequence (with enough beams
 * that HF's beam search cannot prune, it must return the best-scoring
 * sequences), sampling by comparing token frequencies with the softmax of
 * the filtered scores. */
#include "generation/generate.h"
#include "test_util.h"

#include <stdint.h>

/* ------------------------------------------------------------ toy model */

typedef struct toy {
    int64_t vocab, rows, cap, maxlen;
    int32_t eos;
    float eos_bias;
    uint32_t salt;
    int32_t *hist;   /* [cap, maxlen] ids fed so far */
    int64_t *hlen;   /* [cap] */
    int32_t *prompt; /* [cap] */
    int64_t steps, selects;
    bool bad;        /* a call broke the contract */
} toy;

static float toy_logit(const toy *t, int32_t prompt, const int32_t *seq, int64_t len, int32_t v) {
    uint64_t h = 1469598103934665603ULL ^ ((uint64_t)t->salt << 20) ^ (uint64_t)(prompt + 1);
    for (int64_t i = 0; i < len; i++) h = (h ^ (uint64_t)(seq[i] + 3)) * 1099511628211ULL;
    h = (h ^ (uint64_t)(v + 7919)) * 1099511628211ULL;
    h ^= h >> 29;
    h *= 0xbf58476d1ce4e5b9ULL;
    h ^= h >> 32;
    float x = 4.0f * (float)((double)(h >> 40) / (double)(1ULL << 24)) - 2.0f;
    if (v == t->eos) x += t->eos_bias;
    return x;
}

static void toy_init(toy *t, int64_t vocab, int64_t B, int64_t cap, int64_t maxlen, int32_t eos,
                     float eos_bias, uint32_t salt) {
    memset(t, 0, sizeof *t);
    t->vocab = vocab;
    t->rows = B;
    t->cap = cap;
    t->maxlen = maxlen;
    t->eos = eos;
    t->eos_bias = eos_bias;
    t->salt = salt;
    t->hist = calloc((size_t)(cap * maxlen), sizeof(int32_t));
    t->hlen = calloc((size_t)cap, sizeof(int64_t));
    t->prompt = calloc((size_t)cap, sizeof(int32_t));
    for (int64_t r = 0; r < B; r++) t->prompt[r] = (int32_t)r;
}

static void toy_free(toy *t) {
    free(t->hist);
    free(t->hlen);
    free(t->prompt);
}

static sc_status toy_step(void *ctx, const int32_t *tokens, int64_t rows, float *logits,
                          sc_error *err) {
    toy *t = ctx;
    if (rows != t->rows) t->bad = true;
    for (int64_t r = 0; r < rows; r++) {
        if (t->hlen[r] >= t->maxlen || tokens[r] < 0 || tokens[r] >= t->vocab) {
            t->bad = true;
            return SC_ERR_INVALID_ARG;
        }
        int32_t *h = t->hist + r * t->maxlen;
        h[t->hlen[r]++] = tokens[r];
        for (int64_t v = 0; v < t->vocab; v++)
            logits[r * t->vocab + v] = toy_logit(t, t->prompt[r], h, t->hlen[r], (int32_t)v);
    }
    t->steps++;
    return SC_OK;
}

static sc_status toy_select(void *ctx, const int32_t *src, int64_t n, sc_error *err) {
    toy *t = ctx;
    if (n > t->cap) {
        t->bad = true;
        return SC_ERR_INVALID_ARG;
    }
    int32_t *hist = malloc((size_t)(n * t->maxlen) * sizeof(int32_t));
    int64_t *hlen = malloc((size_t)n * sizeof(int64_t));
    int32_t *prompt = malloc((size_t)n * sizeof(int32_t));
    for (int64_t r = 0; r < n; r++) {
        if (src[r] < 0 || src[r] >= t->rows) t->bad = true;
        memcpy(hist + r * t->maxlen, t->hist + src[r] * t->maxlen, (size_t)t->maxlen * sizeof(int32_t));
        hlen[r] = t->hlen[src[r]];
        prompt[r] = t->prompt[src[r]];
    }
    memcpy(t->hist, hist, (size_t)(n * t->maxlen) * sizeof(int32_t));
    memcpy(t->hlen, hlen, (size_t)n * sizeof(int64_t));
    memcpy(t->prompt, prompt, (size_t)n * sizeof(int32_t));
    free(hist);
    free(hlen);
    free(prompt);
    t->rows = n;
    t->selects++;
    return SC_OK;
}

static sc_decoder toy_decoder(toy *t) {
    sc_decoder d = {t, t->vocab, toy_step, toy_select};
    return d;
}

static sc_generate_params base_params(void) {
    sc_generate_params p = sc_generate_default_params();
    p.pad_token_id = 0;
    p.eos_token_id = 1;
    p.decoder_start_token_id = 0;
    return p;
}

/* ------------------------------------------- reference processors (double) */

/* log_softmax of the toy row for (prompt, seq) then HF's processors, as
 * plainly as possible: for the exhaustive beam search and score checks. */
static void ref_scores(const toy *t, int32_t prompt, const int32_t *seq, int64_t len,
                       const sc_generate_params *p, bool logsoftmax, double *out) {
    int64_t V = t->vocab;
    double mx = -INFINITY, sum = 0;
    for (int64_t v = 0; v < V; v++) {
        out[v] = toy_logit(t, prompt, seq, len, (int32_t)v);
        if (out[v] > mx) mx = out[v];
    }
    if (logsoftmax) {
        for (int64_t v = 0; v < V; v++) sum += exp(out[v] - mx);
        for (int64_t v = 0; v < V; v++) out[v] = out[v] - mx - log(sum);
    }
    if (p->repetition_penalty != 1.0) {
        bool seen[64] = {0};
        for (int64_t i = 0; i < len; i++) seen[seq[i]] = true;
        for (int64_t v = 0; v < V; v++)
            if (seen[v]) out[v] = out[v] < 0 ? out[v] * p->repetition_penalty : out[v] / p->repetition_penalty;
    }
    int64_t n = p->no_repeat_ngram_size;
    if (n > 0 && len >= n - 1) {
        /* an n-gram (seq[j..j+n-1]) whose first n-1 tokens equal the last n-1 */
        for (int64_t j = 0; j + n <= len; j++) {
            bool same = true;
            for (int64_t m = 0; m < n - 1; m++) same &= seq[j + m] == seq[len - (n - 1) + m];
            if (same) out[seq[j + n - 1]] = -INFINITY;
        }
    }
    int64_t min_len = p->min_new_tokens >= 0 ? p->min_new_tokens + 1 : p->min_length;
    if (len < min_len) out[t->eos] = -INFINITY;
}

/* ----------------------------------------------------------- greedy */

typedef struct stream_log {
    int64_t n;
    int64_t row[512], step[512];
    int32_t tok[512];
    int64_t stop_after; /* stop when n reaches this (0 = never) */
} stream_log;

static int on_token(void *user, int64_t row, int64_t step, int32_t token) {
    stream_log *s = user;
    if (s->n < 512) {
        s->row[s->n] = row;
        s->step[s->n] = step;
        s->tok[s->n] = token;
    }
    s->n++;
    return s->stop_after && s->n >= s->stop_after;
}

static void test_greedy(float eos_bias, int64_t max_new, double rep, int64_t ngram, int64_t min_new) {
    const int64_t B = 4, V = 7;
    toy t;
    toy_init(&t, V, B, B, 64, 1, eos_bias, 11);
    sc_decoder d = toy_decoder(&t);
    sc_generate_params p = base_params();
    p.max_new_tokens = max_new;
    p.repetition_penalty = rep;
    p.no_repeat_ngram_size = ngram;
    p.min_new_tokens = min_new;
    p.record_logits = true;
    stream_log log = {0};
    p.on_token = on_token;
    p.user = &log;
    sc_generate_result *res = NULL;
    sc_error err;
    CHECKF(sc_generate_decoder(&d, B, &p, &res, &err) == SC_OK, "%s", err.msg);
    CHECK(!t.bad);
    if (!res) {
        toy_free(&t);
        return;
    }
    int64_t rows, len;
    const int32_t *seq = sc_generate_result_sequences(res, &rows, &len);
    CHECK(rows == B);
    CHECK(sc_generate_result_scores(res, NULL) == NULL);

    /* reference: each prompt alone, argmax of the processed scores */
    int32_t ref[4][64];
    int64_t reflen[4], longest = 0;
    double sc[64];
    for (int64_t b = 0; b < B; b++) {
        int64_t n = 1;
        ref[b][0] = 0;
        while (n < max_new + 1) {
            ref_scores(&t, (int32_t)b, ref[b], n, &p, false, sc);
            int64_t best = 0;
            for (int64_t v = 1; v < V; v++)
                if (sc[v] > sc[best]) best = v;
            ref[b][n++] = (int32_t)best;
            if (best == 1) break;
        }
        reflen[b] = n;
        if (n > longest) longest = n;
    }
    CHECKF(len == longest, "len %lld, expected %lld", (long long)len, (long long)longest);
    bool same = len == longest;
    for (int64_t b = 0; b < B && same; b++)
        for (int64_t i = 0; i < len; i++) same &= seq[b * len + i] == (i < reflen[b] ? ref[b][i] : 0);
    CHECKF(same, "greedy ids differ from the per-prompt reference (eos_bias %g)", eos_bias);
    if (min_new > 0)
        for (int64_t b = 0; b < B; b++) CHECK(reflen[b] > min_new + 1 || reflen[b] == max_new + 1);

    /* step logits: row b at step s = the toy's logits after the ids fed,
     * which are the output ids, finished rows being fed pad */
    int64_t steps, drows, vocab;
    const float *sl = sc_generate_result_step_logits(res, &steps, &drows, &vocab);
    CHECK(sl && steps == len - 1 && drows == B && vocab == V);
    bool lg = sl != NULL;
    for (int64_t s = 0; sl && s < steps; s++)
        for (int64_t b = 0; b < B; b++)
            for (int64_t v = 0; v < V; v++)
                lg &= sl[(s * B + b) * V + v] == toy_logit(&t, (int32_t)b, seq + b * len, s + 1, (int32_t)v);
    CHECK(lg);

    /* streaming: one call per running row per step, in row order */
    int64_t k = 0;
    bool ok = true;
    for (int64_t s = 0; s < len - 1; s++)
        for (int64_t b = 0; b < B; b++) {
            if (s + 1 >= reflen[b]) continue; /* row finished before this step */
            ok &= k < log.n && log.row[k] == b && log.step[k] == s && log.tok[k] == seq[b * len + s + 1];
            k++;
        }
    CHECK(ok && k == log.n);
    sc_generate_result_free(res);
    toy_free(&t);
}

static void test_greedy_lengths(void) {
    /* HF default max_length 20 counts the start token; no eos: 20 ids */
    toy t;
    toy_init(&t, 5, 2, 2, 64, 1, -100.0f, 3);
    sc_decoder d = toy_decoder(&t);
    sc_generate_params p = base_params();
    sc_generate_result *res = NULL;
    CHECK(sc_generate_decoder(&d, 2, &p, &res, NULL) == SC_OK);
    int64_t rows, len;
    const int32_t *seq = sc_generate_result_sequences(res, &rows, &len);
    CHECK(rows == 2 && len == 20 && seq[0] == 0 && seq[20] == 0);
    CHECK(sc_generate_result_step_logits(res, NULL, NULL, NULL) == NULL);
    sc_generate_result_free(res);
    toy_free(&t);

    /* max_length 1: HF still makes one step */
    toy_init(&t, 5, 1, 1, 64, 1, -100.0f, 3);
    d = toy_decoder(&t);
    p.max_length = 1;
    res = NULL;
    CHECK(sc_generate_decoder(&d, 1, &p, &res, NULL) == SC_OK);
    sc_generate_result_sequences(res, &rows, &len);
    CHECK(len == 2);
    sc_generate_result_free(res);
    toy_free(&t);

    /* the callback can stop generation */
    toy_init(&t, 5, 2, 2, 64, 1, -100.0f, 3);
    d = toy_decoder(&t);
    p = base_params();
    stream_log log = {0};
    log.stop_after = 5; /* stops during step 2 (2 rows per step) */
    p.on_token = on_token;
    p.user = &log;
    res = NULL;
    CHECK(sc_generate_decoder(&d, 2, &p, &res, NULL) == SC_OK);
    sc_generate_result_sequences(res, &rows, &len);
    CHECK(len == 4 && sc_generate_result_stopped(res) && log.n == 6);
    sc_generate_result_free(res);
    toy_free(&t);
}

/* ------------------------------------------------------- beam, exhaustive */

typedef struct fin {
    double score;
    int32_t ids[16]; /* start + generated (incl. eos) */
    int64_t n;
} fin;

typedef struct enum_ctx {
    const toy *t;
    const sc_generate_params *p;
    int32_t prompt;
    int64_t L;
    fin *out;
    int64_t count, cap;
} enum_ctx;

/* Every sequence the search may end with: those ending in eos, and those
 * reaching max length; score = sum of processed log-probs / len^lp, len =
 * generated tokens (eos included). */
static void enumerate(enum_ctx *e, int32_t *seq, int64_t n, double sum) {
    int64_t V = e->t->vocab;
    double sc[64];
    ref_scores(e->t, e->prompt, seq, n, e->p, true, sc);
    for (int64_t v = 0; v < V; v++) {
        if (sc[v] == -INFINITY) continue;
        double s = sum + sc[v];
        seq[n] = (int32_t)v;
        if (v == e->t->eos || n + 1 == e->L) {
            if (e->count < e->cap) {
                fin *f = &e->out[e->count++];
                f->score = s / pow((double)n, e->p->length_penalty);
                memcpy(f->ids, seq, (size_t)(n + 1) * sizeof(int32_t));
                f->n = n + 1;
            }
        } else {
            enumerate(e, seq, n + 1, s);
        }
    }
}

static int fin_desc(const void *a, const void *b) {
    const fin *x = a, *y = b;
    return (x->score < y->score) - (x->score > y->score);
}

static void test_beam_exhaustive(int64_t V, int64_t T, double lp, int64_t nrs, int64_t ngram,
                                 int64_t min_new, double rep, sc_early_stopping es) {
    const int64_t B = 2;
    int64_t nb = V; /* enough beams to keep every candidate: V * (V-1)^(T-1) */
    for (int64_t i = 1; i < T; i++) nb *= V - 1;
    toy t;
    toy_init(&t, V, B, B * nb, T + 2, 1, 0.0f, 7 + (uint32_t)V);
    sc_decoder d = toy_decoder(&t);
    sc_generate_params p = base_params();
    p.num_beams = nb;
    p.num_return_sequences = nrs;
    p.max_new_tokens = T;
    p.length_penalty = lp;
    p.early_stopping = es;
    p.no_repeat_ngram_size = ngram;
    p.min_new_tokens = min_new;
    p.repetition_penalty = rep;
    sc_generate_result *res = NULL;
    sc_error err;
    CHECKF(sc_generate_decoder(&d, B, &p, &res, &err) == SC_OK, "%s", err.msg);
    CHECK(!t.bad);
    if (!res) {
        toy_free(&t);
        return;
    }
    int64_t rows, len, nsc;
    const int32_t *seq = sc_generate_result_sequences(res, &rows, &len);
    const float *scores = sc_generate_result_scores(res, &nsc);
    CHECK(rows == B * nrs && nsc == rows);

    static fin all[4096];
    int64_t longest = 0;
    fin expect[2][8];
    for (int64_t b = 0; b < B; b++) {
        enum_ctx e = {&t, &p, (int32_t)b, T + 1, all, 0, 4096};
        int32_t s[16] = {0};
        enumerate(&e, s, 1, 0.0);
        qsort(all, (size_t)e.count, sizeof *all, fin_desc);
        for (int64_t j = 0; j < nrs; j++) {
            expect[b][j] = all[j];
            /* the output row holds the hypothesis, then one eos if it fits */
            int64_t hyp = all[j].ids[all[j].n - 1] == 1 ? all[j].n - 1 : all[j].n;
            if (hyp > longest) longest = hyp;
        }
        CHECKF(e.count > nrs && all[nrs - 1].score > all[nrs].score + 1e-6, "ambiguous test");
    }
    int64_t width = longest + 1 < T + 1 ? longest + 1 : T + 1;
    CHECKF(len == width, "len %lld expected %lld", (long long)len, (long long)width);
    for (int64_t b = 0; b < B; b++)
        for (int64_t j = 0; j < nrs; j++) {
            const fin *f = &expect[b][j];
            const int32_t *row = seq + (b * nrs + j) * len;
            bool same = len == width;
            for (int64_t i = 0; same && i < len; i++) same &= row[i] == (i < f->n ? f->ids[i] : 0);
            double got = scores[b * nrs + j];
            CHECKF(same && fabs(got - f->score) <= 1e-4 * (1 + fabs(f->score)),
                   "V=%lld T=%lld lp=%g prompt %lld rank %lld: score %.6f expected %.6f", (long long)V,
                   (long long)T, lp, (long long)b, (long long)j, got, f->score);
        }
    sc_generate_result_free(res);
    toy_free(&t);
}

/* Beam search with few beams: each prompt of a batch gives what it gives
 * alone (prompts finishing at different steps, HF's padding of finished
 * prompts), and every returned score is the recomputed length-penalised sum
 * of log-probs of its ids. */
static void test_beam_batch(int64_t nb, double lp, sc_early_stopping es, float eos_bias, int64_t nrs) {
    const int64_t B = 3, V = 9, T = 10;
    sc_generate_params p = base_params();
    p.num_beams = nb;
    p.num_return_sequences = nrs;
    p.max_new_tokens = T;
    p.length_penalty = lp;
    p.early_stopping = es;
    toy t;
    toy_init(&t, V, B, B * nb, T + 2, 1, eos_bias, 5);
    sc_decoder d = toy_decoder(&t);
    sc_generate_result *all = NULL;
    CHECK(sc_generate_decoder(&d, B, &p, &all, NULL) == SC_OK);
    CHECK(!t.bad);
    toy_free(&t);
    if (!all) return;
    int64_t rows, len;
    const int32_t *seq = sc_generate_result_sequences(all, &rows, &len);
    const float *scores = sc_generate_result_scores(all, NULL);
    int64_t longest = 0;
    bool some_eos = false;
    for (int64_t b = 0; b < B; b++) {
        /* prompt b alone: the toy's prompt id is its row, so salt by b */
        toy one;
        toy_init(&one, V, 1, nb, T + 2, 1, eos_bias, 5);
        one.prompt[0] = (int32_t)b;
        sc_decoder d1 = toy_decoder(&one);
        sc_generate_result *r1 = NULL;
        CHECK(sc_generate_decoder(&d1, 1, &p, &r1, NULL) == SC_OK);
        int64_t rows1, len1;
        const int32_t *s1 = sc_generate_result_sequences(r1, &rows1, &len1);
        const float *sc1 = sc_generate_result_scores(r1, NULL);
        for (int64_t j = 0; j < nrs; j++) {
            const int32_t *row = seq + (b * nrs + j) * len, *row1 = s1 + j * len1;
            bool same = len1 <= len && scores[b * nrs + j] == sc1[j];
            for (int64_t i = 0; same && i < len; i++) same &= row[i] == (i < len1 ? row1[i] : 0);
            CHECKF(same, "nb %lld prompt %lld rank %lld differs in a batch", (long long)nb,
                   (long long)b, (long long)j);
            /* recompute the score from the ids */
            int64_t n = 1;
            double sum = 0, sc[64];
            while (n < len) {
                ref_scores(&one, (int32_t)b, row, n, &p, true, sc);
                sum += sc[row[n]];
                n++;
                if (row[n - 1] == 1) {
                    some_eos = true;
                    break;
                }
            }
            double want = sum / pow((double)(n - 1), lp);
            CHECKF(fabs(want - scores[b * nrs + j]) <= 1e-4 * (1 + fabs(want)),
                   "score %.6f recomputed %.6f", scores[b * nrs + j], want);
            if (j > 0) CHECK(scores[b * nrs + j] <= scores[b * nrs + j - 1]);
            if (n > longest) longest = n;
        }
        sc_generate_result_free(r1);
        toy_free(&one);
    }
    if (eos_bias > 0) CHECK(some_eos);
    (void)longest;
    sc_generate_result_free(all);
}


/* A literal, unoptimised transcription of HF's _beam_search +
 * BeamSearchScorer + BeamHypotheses for one prompt (lists, full sorts,
 * doubles), to compare the library's version with on small beams where the
 * exhaustive argument does not apply. */
typedef struct rhyp {
    double score;
    int32_t ids[32];
    int64_t n;
} rhyp;

typedef struct rbeam {
    int32_t ids[32];
    double score;
} rbeam;

typedef struct rcand {
    double s;
    int64_t flat;
} rcand;

static int rcand_desc(const void *a, const void *b) {
    const rcand *x = a, *y = b;
    if (x->s != y->s) return x->s < y->s ? 1 : -1;
    return (x->flat > y->flat) - (x->flat < y->flat);
}

static void rhyp_add(rhyp *h, int64_t *count, double *worst, int64_t nb, const int32_t *ids,
                     int64_t n, double sum, int64_t glen, double lp) {
    double score = sum / pow((double)glen, lp);
    if (!(*count < nb || score > *worst)) return;
    h[*count].score = score;
    memcpy(h[*count].ids, ids, (size_t)n * sizeof(int32_t));
    h[*count].n = n;
    (*count)++;
    if (*count > nb) {
        int64_t lo = 0;
        for (int64_t i = 1; i < *count; i++)
            if (h[i].score < h[lo].score) lo = i;
        memmove(h + lo, h + lo + 1, (size_t)(*count - lo - 1) * sizeof *h);
        (*count)--;
        *worst = h[0].score;
        for (int64_t i = 1; i < *count; i++)
            if (h[i].score < *worst) *worst = h[i].score;
    } else if (score < *worst) {
        *worst = score;
    }
}

/* returns the nrs best (ids with the eos appended when it ended on one) */
static int64_t ref_beam(const toy *t, int32_t prompt, const sc_generate_params *p, int64_t nb,
                        int64_t L, rhyp *best) {
    int64_t V = t->vocab, cur = 1, count = 0;
    static rbeam beams[16], next[16];
    static rhyp hyps[17];
    static rcand cand[16 * 64];
    double worst = 1e9, sc[64], lp = p->length_penalty;
    bool done = false;
    for (int64_t i = 0; i < nb; i++) {
        beams[i].ids[0] = 0;
        beams[i].score = i == 0 ? 0 : -1e9;
    }
    for (;;) {
        for (int64_t i = 0; i < nb; i++) {
            ref_scores(t, prompt, beams[i].ids, cur, p, true, sc);
            for (int64_t v = 0; v < V; v++) {
                cand[i * V + v].s = beams[i].score + sc[v];
                cand[i * V + v].flat = i * V + v;
            }
        }
        qsort(cand, (size_t)(nb * V), sizeof *cand, rcand_desc);
        int64_t k = 0;
        for (int64_t rank = 0; rank < 2 * nb && k < nb; rank++) {
            int64_t i = cand[rank].flat / V, v = cand[rank].flat % V;
            if (v == t->eos) {
                if (rank >= nb) continue;
                rhyp_add(hyps, &count, &worst, nb, beams[i].ids, cur, cand[rank].s, cur, lp);
            } else {
                memcpy(next[k].ids, beams[i].ids, (size_t)cur * sizeof(int32_t));
                next[k].ids[cur] = (int32_t)v;
                next[k].score = cand[rank].s;
                k++;
            }
        }
        if (count >= nb) {
            double bound;
            if (p->early_stopping == SC_EARLY_STOP_TRUE) bound = -INFINITY;
            else if (p->early_stopping == SC_EARLY_STOP_NEVER && lp > 0) bound = cand[0].s / pow((double)(L - 1), lp);
            else bound = cand[0].s / pow((double)cur, lp);
            done = worst >= bound;
        }
        memcpy(beams, next, sizeof next);
        cur++;
        if (done || cur >= L) break;
    }
    if (!done)
        for (int64_t i = 0; i < nb; i++)
            rhyp_add(hyps, &count, &worst, nb, beams[i].ids, cur, beams[i].score, cur - 1, lp);
    for (int64_t j = 0; j < p->num_return_sequences; j++) {
        int64_t b = 0;
        for (int64_t i = 1; i < count; i++)
            if (hyps[i].score >= hyps[b].score) b = i;
        best[j] = hyps[b];
        if (best[j].n < L) best[j].ids[best[j].n++] = t->eos; /* padded later if no room */
        memmove(hyps + b, hyps + b + 1, (size_t)(count - b - 1) * sizeof *hyps);
        count--;
    }
    return p->num_return_sequences;
}

static void test_beam_vs_reference(int64_t V, int64_t nb, int64_t T, double lp, sc_early_stopping es,
                                   float eos_bias, int64_t nrs, uint32_t salt) {
    sc_generate_params p = base_params();
    p.num_beams = nb;
    p.num_return_sequences = nrs;
    p.max_new_tokens = T;
    p.length_penalty = lp;
    p.early_stopping = es;
    toy t;
    toy_init(&t, V, 1, nb, T + 2, 1, eos_bias, salt);
    t.prompt[0] = 0;
    sc_decoder d = toy_decoder(&t);
    sc_generate_result *res = NULL;
    CHECK(sc_generate_decoder(&d, 1, &p, &res, NULL) == SC_OK);
    rhyp best[16];
    ref_beam(&t, 0, &p, nb, T + 1, best);
    int64_t rows, len, width = 0;
    const int32_t *seq = sc_generate_result_sequences(res, &rows, &len);
    const float *scores = sc_generate_result_scores(res, NULL);
    for (int64_t j = 0; j < nrs; j++) {
        /* hypothesis length + 1 for the eos, capped at max_length */
        int64_t w = best[j].ids[best[j].n - 1] == 1 ? best[j].n : best[j].n + 1;
        if (w > T + 1) w = T + 1;
        if (w > width) width = w;
    }
    bool same = len == width;
    for (int64_t j = 0; same && j < nrs; j++) {
        for (int64_t i = 0; i < len; i++) same &= seq[j * len + i] == (i < best[j].n ? best[j].ids[i] : 0);
        same &= fabs(scores[j] - best[j].score) <= 1e-4 * (1 + fabs(best[j].score));
    }
    CHECKF(same, "V %lld nb %lld lp %g es %d bias %g salt %u: differs from the reference",
           (long long)V, (long long)nb, lp, (int)es, eos_bias, salt);
    sc_generate_result_free(res);
    toy_free(&t);
}

/* ------------------------------------------------------------- sampling */

static void test_sampling(double temperature, int64_t top_k, double top_p) {
    const int64_t V = 6, N = 20000;
    toy t;
    toy_init(&t, V, 1, N, 4, 1, 0.0f, 21);
    sc_decoder d = toy_decoder(&t);
    sc_generate_params p = base_params();
    p.do_sample = true;
    p.num_return_sequences = N;
    p.max_new_tokens = 1;
    p.temperature = temperature;
    p.top_k = top_k;
    p.top_p = top_p;
    p.seed = 1234;
    sc_generate_result *res = NULL;
    sc_error err;
    CHECKF(sc_generate_decoder(&d, 1, &p, &res, &err) == SC_OK, "%s", err.msg);
    toy_free(&t);
    if (!res) return;
    int64_t rows, len;
    const int32_t *seq = sc_generate_result_sequences(res, &rows, &len);
    CHECK(rows == N && len == 2);
    double cnt[6] = {0};
    for (int64_t r = 0; r < rows; r++) cnt[seq[r * len + 1]]++;

    /* expected distribution, by the documented HF rules, in double */
    toy t2;
    toy_init(&t2, V, 1, 1, 4, 1, 0.0f, 21);
    int32_t start = 0;
    double x[6], prob[6], mx = -INFINITY, sum = 0;
    for (int64_t v = 0; v < V; v++) x[v] = toy_logit(&t2, 0, &start, 1, (int32_t)v) / temperature;
    toy_free(&t2);
    int64_t order[6]; /* ascending */
    for (int64_t v = 0; v < V; v++) order[v] = v;
    for (int64_t i = 0; i < V; i++)
        for (int64_t j = i + 1; j < V; j++)
            if (x[order[j]] < x[order[i]]) {
                int64_t s = order[i];
                order[i] = order[j];
                order[j] = s;
            }
    bool keep[6];
    for (int64_t v = 0; v < V; v++) keep[v] = true;
    if (top_k > 0)
        for (int64_t i = 0; i < V - top_k; i++) keep[order[i]] = false;
    if (top_p < 1.0) {
        for (int64_t v = 0; v < V; v++) mx = keep[v] && x[v] > mx ? x[v] : mx;
        for (int64_t v = 0; v < V; v++) sum += keep[v] ? exp(x[v] - mx) : 0;
        double cum = 0;
        for (int64_t i = 0; i < V - 1; i++) {
            int64_t v = order[i];
            cum += keep[v] ? exp(x[v] - mx) / sum : 0;
            if (cum <= 1 - top_p) keep[v] = false;
        }
    }
    mx = -INFINITY;
    sum = 0;
    for (int64_t v = 0; v < V; v++) mx = keep[v] && x[v] > mx ? x[v] : mx;
    for (int64_t v = 0; v < V; v++) sum += keep[v] ? exp(x[v] - mx) : 0;
    for (int64_t v = 0; v < V; v++) prob[v] = keep[v] ? exp(x[v] - mx) / sum : 0;
    for (int64_t v = 0; v < V; v++) {
        double f = cnt[v] / (double)N, sd = sqrt(prob[v] * (1 - prob[v]) / (double)N);
        CHECKF(prob[v] == 0 ? cnt[v] == 0 : fabs(f - prob[v]) <= 5 * sd + 1e-9,
               "T=%g k=%lld p=%g token %lld: frequency %.4f, probability %.4f", temperature,
               (long long)top_k, top_p, (long long)v, f, prob[v]);
    }
    sc_generate_result_free(res);
}

static void test_sampling_seed(void) {
    const int64_t V = 11, B = 3;
    sc_generate_params p = base_params();
    p.do_sample = true;
    p.top_k = 0;
    p.max_new_tokens = 12;
    p.num_return_sequences = 2;
    int32_t out[3][2 * 3 * 13];
    int64_t lens[3];
    uint64_t seeds[3] = {7, 7, 8};
    for (int i = 0; i < 3; i++) {
        toy t;
        toy_init(&t, V, B, B * 2, 16, 1, 0.5f, 9);
        sc_decoder d = toy_decoder(&t);
        p.seed = seeds[i];
        sc_generate_result *res = NULL;
        CHECK(sc_generate_decoder(&d, B, &p, &res, NULL) == SC_OK);
        int64_t rows, len;
        const int32_t *seq = sc_generate_result_sequences(res, &rows, &len);
        CHECK(rows == B * 2 && !t.bad);
        lens[i] = len;
        memcpy(out[i], seq, (size_t)(rows * len) * sizeof(int32_t));
        for (int64_t r = 0; r < rows; r++) {
            /* a finished row is padded after its eos */
            bool ended = false, ok = true;
            for (int64_t c = 1; c < len; c++) {
                if (ended) ok &= seq[r * len + c] == 0;
                if (seq[r * len + c] == 1) ended = true;
            }
            CHECK(ok);
        }
        sc_generate_result_free(res);
        toy_free(&t);
    }
    CHECK(lens[0] == lens[1] && memcmp(out[0], out[1], (size_t)(B * 2 * lens[0]) * sizeof(int32_t)) == 0);
    CHECK(lens[0] != lens[2] || memcmp(out[0], out[2], (size_t)(B * 2 * lens[0]) * sizeof(int32_t)) != 0);
}

/* prompt_keys: a prompt's samples depend on its key, not on its row in the
 * batch. Prompt 1 of a batch of three (keys 10, 11, 12) equals the same
 * prompt run alone with key 11, and differs when run alone with key 1. */
static void test_sampling_keys(void) {
    const int64_t V = 13, nrs = 2;
    sc_generate_params p = base_params();
    p.do_sample = true;
    p.top_k = 0;
    p.max_new_tokens = 10;
    p.num_return_sequences = nrs;
    p.seed = 99;
    const uint64_t keys3[3] = {10, 11, 12}, key11[1] = {11}, key1[1] = {1};
    int32_t rows_b1[2][11], alone[2][2][11];
    int64_t len_b = 0, len_a[2] = {0, 0};
    {
        toy t;
        toy_init(&t, V, 3, 3 * nrs, 16, 1, -1.0f, 4);
        sc_decoder d = toy_decoder(&t);
        p.prompt_keys = keys3;
        sc_generate_result *res = NULL;
        CHECK(sc_generate_decoder(&d, 3, &p, &res, NULL) == SC_OK && !t.bad);
        int64_t rows;
        const int32_t *seq = sc_generate_result_sequences(res, &rows, &len_b);
        CHECK(rows == 3 * nrs && len_b <= 11);
        for (int64_t j = 0; j < nrs; j++) memcpy(rows_b1[j], seq + (nrs + j) * len_b, (size_t)len_b * sizeof(int32_t));
        sc_generate_result_free(res);
        toy_free(&t);
    }
    for (int k = 0; k < 2; k++) {
        toy t;
        toy_init(&t, V, 1, nrs, 16, 1, -1.0f, 4);
        t.prompt[0] = 1; /* the same prompt as row 1 above */
        sc_decoder d = toy_decoder(&t);
        p.prompt_keys = k == 0 ? key11 : key1;
        sc_generate_result *res = NULL;
        CHECK(sc_generate_decoder(&d, 1, &p, &res, NULL) == SC_OK && !t.bad);
        int64_t rows;
        const int32_t *seq = sc_generate_result_sequences(res, &rows, &len_a[k]);
        CHECK(rows == nrs && len_a[k] <= 11);
        for (int64_t j = 0; j < nrs; j++) memcpy(alone[k][j], seq + j * len_a[k], (size_t)len_a[k] * sizeof(int32_t));
        sc_generate_result_free(res);
        toy_free(&t);
    }
    /* rows of a batch are padded to the longest; compare up to the eos */
    for (int64_t j = 0; j < nrs; j++) {
        bool same = true;
        for (int64_t c = 0; c < len_a[0]; c++) same &= alone[0][j][c] == rows_b1[j][c];
        for (int64_t c = len_a[0]; c < len_b; c++) same &= rows_b1[j][c] == 0;
        CHECKF(same, "sequence %lld of the keyed prompt differs alone and in a batch", (long long)j);
    }
    bool differs = len_a[1] != len_a[0];
    for (int64_t j = 0; j < nrs && !differs; j++)
        differs = memcmp(alone[0][j], alone[1][j], (size_t)len_a[0] * sizeof(int32_t)) != 0;
    CHECK(differs);
}

/* ------------------------------------------------------------ processors */

static void test_processors(void) {
    float s[6] = {1.0f, -1.0f, 2.0f, -2.0f, 0.5f, 3.0f}, tmp[8];
    int32_t seq[4] = {0, 1, 1, 3}; /* 1 twice: penalised once */
    sc_proc_repetition(s, seq, 4, 2.0f, tmp);
    CHECK(s[0] == 0.5f && s[1] == -2.0f && s[2] == 2.0f && s[3] == -4.0f && s[4] == 0.5f);

    float g[6] = {0, 0, 0, 0, 0, 0};
    int32_t a[6] = {0, 2, 3, 2, 3, 2}; /* bigram (2,3) then (2,?) */
    sc_proc_no_repeat_ngram(g, 6, a, 6, 2); /* prefix 2 -> bans 3 */
    CHECK(isinf(g[3]) && !isinf(g[2]) && !isinf(g[0]));
    float g1[6] = {0};
    sc_proc_no_repeat_ngram(g1, 6, a, 6, 1); /* bans every seen token */
    CHECK(isinf(g1[0]) && isinf(g1[2]) && isinf(g1[3]) && !isinf(g1[1]) && !isinf(g1[4]));
    float g3[6] = {0};
    sc_proc_no_repeat_ngram(g3, 6, a, 6, 3); /* prefix (3,2): earlier (3,2,3) bans 3 */
    CHECK(isinf(g3[3]) && !isinf(g3[2]));
    float g4[6] = {0};
    sc_proc_no_repeat_ngram(g4, 6, a, 2, 4); /* too short */
    CHECK(!isinf(g4[0]) && !isinf(g4[2]));

    float k[7] = {1, 5, 3, 5, 2, 3, 0};
    sc_proc_top_k(k, 7, 3, 1, tmp); /* 3rd largest is 3: both 3s stay */
    CHECK(k[1] == 5 && k[3] == 5 && k[2] == 3 && k[5] == 3 && isinf(k[0]) && isinf(k[4]) && isinf(k[6]));
    float k2[3] = {1, 2, 3};
    sc_proc_top_k(k2, 3, 10, 1, tmp);
    CHECK(k2[0] == 1);

    /* top-p 0.5 on probabilities ~ (0.09, 0.24, 0.67): keeps the top one */
    float tp[3] = {0, 1, 2};
    sc_score_index si[3];
    sc_proc_top_p(tp, 3, 0.5, 1, si);
    CHECK(isinf(tp[0]) && isinf(tp[1]) && tp[2] == 2);
    float tp2[3] = {0, 1, 2};
    sc_proc_top_p(tp2, 3, 0.8, 1, si); /* 1 - 0.8 = 0.2 >= 0.09 only */
    CHECK(isinf(tp2[0]) && tp2[1] == 1 && tp2[2] == 2);
    float tp3[3] = {0, 1, 2};
    sc_proc_top_p(tp3, 3, 0.0, 2, si); /* min_keep 2 */
    CHECK(isinf(tp3[0]) && tp3[1] == 1);

    float ls[4] = {1, 2, 3, 4};
    sc_log_softmax(ls, ls, 4);
    double z = 0;
    for (int i = 0; i < 4; i++) z += exp(ls[i]);
    CHECK(fabs(z - 1) < 1e-6 && ls[3] > ls[2]);

    float am[5] = {1, 3, 3, 2, 0};
    CHECK(sc_argmax(am, 5) == 1);
    am[3] = NAN;
    CHECK(sc_argmax(am, 5) == 3);

    sc_rng r1, r2;
    sc_rng_seed(&r1, 5, 0);
    sc_rng_seed(&r2, 5, 1);
    CHECK(sc_rng_next(&r1) != sc_rng_next(&r2));
    double u = sc_rng_uniform(&r1);
    CHECK(u >= 0 && u < 1);
    float none[3] = {-INFINITY, -INFINITY, -INFINITY};
    CHECK(sc_sample_softmax(none, 3, &r1) == -1);
    float one[3] = {-INFINITY, 0, -INFINITY};
    CHECK(sc_sample_softmax(one, 3, &r1) == 1);
}

static void test_errors(void) {
    toy t;
    toy_init(&t, 5, 2, 8, 32, 1, 0, 1);
    sc_decoder d = toy_decoder(&t);
    sc_generate_result *res = NULL;
    sc_error err;
    sc_generate_params p = base_params();
    CHECK(sc_generate_decoder(&d, 0, &p, &res, &err) == SC_ERR_INVALID_ARG);
    CHECK(sc_generate_decoder(NULL, 2, &p, &res, &err) == SC_ERR_INVALID_ARG);
    CHECK(sc_generate_decoder(&d, 2, NULL, &res, &err) == SC_ERR_INVALID_ARG);
    CHECK(sc_generate_decoder(&d, 2, &p, NULL, &err) == SC_ERR_INVALID_ARG);
    p.pad_token_id = SC_TOKEN_FROM_MODEL;
    CHECK(sc_generate_decoder(&d, 2, &p, &res, &err) == SC_ERR_INVALID_ARG);
    p = base_params();
    p.decoder_start_token_id = 5;
    CHECK(sc_generate_decoder(&d, 2, &p, &res, &err) == SC_ERR_INVALID_ARG);
    p = base_params();
    p.max_new_tokens = 0;
    CHECK(sc_generate_decoder(&d, 2, &p, &res, &err) == SC_ERR_INVALID_ARG);
    p = base_params();
    p.max_length = 1LL << 40;
    CHECK(sc_generate_decoder(&d, 2, &p, &res, &err) == SC_ERR_LIMIT);
    p = base_params();
    p.num_beams = 2;
    p.do_sample = true;
    CHECK(sc_generate_decoder(&d, 2, &p, &res, &err) == SC_ERR_UNSUPPORTED);
    p = base_params();
    p.num_return_sequences = 2; /* greedy */
    CHECK(sc_generate_decoder(&d, 2, &p, &res, &err) == SC_ERR_INVALID_ARG);
    p.num_beams = 2;
    p.num_return_sequences = 3;
    CHECK(sc_generate_decoder(&d, 2, &p, &res, &err) == SC_ERR_INVALID_ARG);
    p = base_params();
    p.do_sample = true;
    p.temperature = 0;
    CHECK(sc_generate_decoder(&d, 2, &p, &res, &err) == SC_ERR_INVALID_ARG);
    p.temperature = 1;
    p.top_p = 1.5;
    CHECK(sc_generate_decoder(&d, 2, &p, &res, &err) == SC_ERR_INVALID_ARG);
    p = base_params();
    p.repetition_penalty = 0;
    CHECK(sc_generate_decoder(&d, 2, &p, &res, &err) == SC_ERR_INVALID_ARG);
    p = base_params();
    p.num_beams = 2;
    p.max_length = 1;
    CHECK(sc_generate_decoder(&d, 2, &p, &res, &err) == SC_ERR_INVALID_ARG);
    CHECK(res == NULL);
    CHECK(t.steps == 0);

    /* a decoder failure comes back as is, nothing leaks */
    p = base_params();
    p.num_beams = 3;
    t.maxlen = 3; /* the toy refuses the third step */
    CHECK(sc_generate_decoder(&d, 2, &p, &res, &err) == SC_ERR_INVALID_ARG && res == NULL);
    toy_free(&t);

    sc_generate_result_free(NULL);
    CHECK(sc_generate_result_sequences(NULL, NULL, NULL) == NULL);
    CHECK(!sc_generate_result_stopped(NULL));
    sc_generate_params dp = sc_generate_default_params();
    CHECK(dp.max_length == 20 && dp.top_k == 50 && dp.num_beams == 1 && dp.length_penalty == 1.0 &&
          dp.pad_token_id == SC_TOKEN_FROM_MODEL && dp.max_new_tokens == -1);
}

int main(void) {
    test_processors();
    test_errors();
    test_greedy(0.0f, 12, 1.0, 0, -1);
    test_greedy(1.5f, 12, 1.0, 0, -1); /* rows finish at different steps */
    test_greedy(1.5f, 12, 1.3, 2, 3);  /* repetition penalty, no-repeat bigrams, min_new_tokens */
    test_greedy(-50.0f, 9, 1.0, 1, -1);
    test_greedy_lengths();

    for (int es = 0; es < 3; es += 2) { /* heuristic with lp 0 is exact too */
        test_beam_exhaustive(4, 3, 0.0, 3, 0, -1, 1.0, (sc_early_stopping)es);
        test_beam_exhaustive(3, 5, 0.0, 2, 0, -1, 1.0, (sc_early_stopping)es);
    }
    test_beam_exhaustive(4, 3, 1.0, 3, 0, -1, 1.0, SC_EARLY_STOP_NEVER);
    test_beam_exhaustive(3, 5, 1.0, 1, 0, -1, 1.0, SC_EARLY_STOP_NEVER);
    test_beam_exhaustive(3, 5, 2.0, 2, 0, -1, 1.0, SC_EARLY_STOP_NEVER);
    test_beam_exhaustive(3, 5, -0.5, 2, 0, -1, 1.0, SC_EARLY_STOP_NEVER);
    test_beam_exhaustive(4, 3, 1.0, 2, 2, 1, 1.5, SC_EARLY_STOP_NEVER);
    test_beam_exhaustive(3, 5, 0.7, 2, 3, 2, 1.2, SC_EARLY_STOP_NEVER);

    for (int es = 0; es < 3; es++)
        for (int nb = 2; nb <= 4; nb++) {
            test_beam_batch(nb, 1.0, (sc_early_stopping)es, 1.0f, 1);
            test_beam_batch(nb, 0.6, (sc_early_stopping)es, 2.0f, nb);
        }

    for (uint32_t salt = 0; salt < 12; salt++)
        for (int es = 0; es < 3; es++) {
            test_beam_vs_reference(6, 2, 9, 1.0, (sc_early_stopping)es, 1.0f, 1, salt);
            test_beam_vs_reference(7, 3, 12, 0.6, (sc_early_stopping)es, 1.5f, 2, salt);
            test_beam_vs_reference(5, 4, 8, -0.5, (sc_early_stopping)es, 0.5f, 3, salt);
            test_beam_vs_reference(9, 5, 10, 2.0, (sc_early_stopping)es, 2.5f, 5, salt);
        }

    test_sampling(1.0, 0, 1.0);
    test_sampling(0.7, 0, 1.0);
    test_sampling(1.0, 3, 1.0);
    test_sampling(1.3, 0, 0.6);
    test_sampling(1.0, 4, 0.8);
    test_sampling_seed();
    test_sampling_keys();
    TEST_MAIN_END();
}
