/* Greedy search, multinomial sampling and beam search over an sc_decoder,
 * reproducing HF transformers 4.41.2 `generate()` for encoder-decoder models
 * (GenerationMixin._greedy_search / _sample / _beam_search, BeamSearchScorer,
 * BeamHypotheses), plus the result object.
 *
 * Dimension letters: B prompts, R rows fed to the decoder (B, B*nrs or
 * B*num_beams), L max_length (decoder ids incl. the start token), V vocab.
 * Everything is allocated before the first step; the token loop only
 * computes. Left out: beam sampling, group/constrained beam search,
 * several eos ids, HF processors other than those in logits_process.c. */
#include "generation/generate.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/checked.h"
#include "core/error.h"

struct sc_generate_result {
    int32_t *seq;       /* [rows, len] */
    int64_t rows, len;
    float *scores;      /* [rows] beam only */
    float *step_logits; /* [steps, drows, vocab] when recorded */
    int64_t steps, drows, vocab;
    bool stopped;
};

/* A generous bound on decoder lengths: every buffer is sized from it. */
#define SC_GEN_MAX_LENGTH (1LL << 20)

sc_generate_params sc_generate_default_params(void) {
    sc_generate_params p;
    memset(&p, 0, sizeof p);
    p.max_length = 20;
    p.max_new_tokens = -1;
    p.min_length = 0;
    p.min_new_tokens = -1;
    p.num_beams = 1;
    p.num_return_sequences = 1;
    p.length_penalty = 1.0;
    p.early_stopping = SC_EARLY_STOP_HEURISTIC;
    p.do_sample = false;
    p.temperature = 1.0;
    p.top_k = 50;
    p.top_p = 1.0;
    p.repetition_penalty = 1.0;
    p.no_repeat_ngram_size = 0;
    p.seed = 0;
    p.prompt_keys = NULL;
    p.pad_token_id = SC_TOKEN_FROM_MODEL;
    p.eos_token_id = SC_TOKEN_FROM_MODEL;
    p.decoder_start_token_id = SC_TOKEN_FROM_MODEL;
    p.record_logits = false;
    p.on_token = NULL;
    p.user = NULL;
    return p;
}

void sc_generate_result_free(sc_generate_result *r) {
    if (!r) return;
    free(r->seq);
    free(r->scores);
    free(r->step_logits);
    free(r);
}

const int32_t *sc_generate_result_sequences(const sc_generate_result *r, int64_t *rows,
                                            int64_t *len) {
    if (rows) *rows = r ? r->rows : 0;
    if (len) *len = r ? r->len : 0;
    return r ? r->seq : NULL;
}

const float *sc_generate_result_scores(const sc_generate_result *r, int64_t *rows) {
    if (rows) *rows = (r && r->scores) ? r->rows : 0;
    return r ? r->scores : NULL;
}

const float *sc_generate_result_step_logits(const sc_generate_result *r, int64_t *steps,
                                            int64_t *drows, int64_t *vocab) {
    bool has = r && r->step_logits;
    if (steps) *steps = has ? r->steps : 0;
    if (drows) *drows = has ? r->drows : 0;
    if (vocab) *vocab = has ? r->vocab : 0;
    return has ? r->step_logits : NULL;
}

bool sc_generate_result_stopped(const sc_generate_result *r) { return r && r->stopped; }

/* ------------------------------------------------------------------ plan */

/* Resolved settings and every buffer of one run. */
typedef struct gen {
    const sc_decoder *dec;
    const sc_generate_params *p;
    int64_t B, R, L, V, nb, nrs;
    int64_t min_len;    /* eos banned while cur_len < min_len */
    int32_t pad, eos, start;
    int64_t cur_len;    /* decoder ids so far, incl. the start token */
    int64_t steps;      /* decoder calls made */
    int64_t max_steps;

    int32_t *seq;       /* [R, L] */
    int32_t *seq2;      /* [R, L] beam reorder target */
    int32_t *tok;       /* [R] tokens fed at the next step */
    int32_t *src;       /* [R] row selection */
    float *logits;      /* [R, V] */
    float *rep_tmp;     /* [L] */
    float *step_logits; /* [max_steps, R, V] or NULL */
    bool *unfinished;   /* [R] greedy / sampling */

    /* sampling */
    float *topk_tmp;        /* [V] */
    sc_score_index *topp;   /* [V] */
    sc_rng *rng;            /* [R] */

    /* beam search */
    float *beam_scores;     /* [R] running sum of log-probs */
    float *next_scores;     /* [R] */
    float *cand_score;      /* [2 nb] */
    int64_t *cand_idx;      /* [2 nb] flat index into [nb, V] */
    bool *done;             /* [B] */
    /* finished hypotheses: per prompt nb+1 slots of L tokens; `list` holds
     * slot numbers in HF's list order (append at the end, delete in place) */
    int32_t *hyp_tok;       /* [B, nb+1, L] */
    int64_t *hyp_len;       /* [B, nb+1] */
    double *hyp_score;      /* [B, nb+1] */
    int64_t *hyp_list;      /* [B, nb+1] */
    int64_t *hyp_count;     /* [B] */
    double *worst;          /* [B] */
} gen;

static void gen_free(gen *g) {
    free(g->seq);
    free(g->seq2);
    free(g->tok);
    free(g->src);
    free(g->logits);
    free(g->rep_tmp);
    free(g->step_logits);
    free(g->unfinished);
    free(g->topk_tmp);
    free(g->topp);
    free(g->rng);
    free(g->beam_scores);
    free(g->next_scores);
    free(g->cand_score);
    free(g->cand_idx);
    free(g->done);
    free(g->hyp_tok);
    free(g->hyp_len);
    free(g->hyp_score);
    free(g->hyp_list);
    free(g->hyp_count);
    free(g->worst);
}

/* malloc of a*b*c elements of size es, overflow-checked; *ok cleared on
 * failure (so a run of allocations can be checked once). */
static void *alloc3(int64_t a, int64_t b, int64_t c, size_t es, bool *ok) {
    size_t n;
    if (!*ok) return NULL;
    if (a < 0 || b < 0 || c < 0 || !sc_mul3_size((size_t)a, (size_t)b, (size_t)c, &n) ||
        !sc_mul_size(n, es, &n)) {
        *ok = false;
        return NULL;
    }
    void *p = calloc(n ? n : 1, 1);
    if (!p) *ok = false;
    return p;
}

static sc_status check_params(const sc_decoder *dec, int64_t B, const sc_generate_params *p,
                              sc_error *err) {
    if (!dec || !dec->step || !dec->select_rows || !p)
        return sc_fail(err, SC_ERR_INVALID_ARG, SC_NO_OFFSET, "generate: NULL decoder or params");
    if (B < 1) return sc_fail(err, SC_ERR_INVALID_ARG, SC_NO_OFFSET, "generate: batch %lld < 1", (long long)B);
    int64_t V = dec->vocab;
    if (V < 2 || V > INT32_MAX)
        return sc_fail(err, SC_ERR_INVALID_ARG, SC_NO_OFFSET, "generate: vocab size %lld", (long long)V);
    if (p->pad_token_id < 0 || p->pad_token_id >= V)
        return sc_fail(err, SC_ERR_INVALID_ARG, SC_NO_OFFSET,
                       "generate: pad_token_id %d not in [0, %lld)", p->pad_token_id, (long long)V);
    if (p->decoder_start_token_id < 0 || p->decoder_start_token_id >= V)
        return sc_fail(err, SC_ERR_INVALID_ARG, SC_NO_OFFSET,
                       "generate: decoder_start_token_id %d not in [0, %lld)",
                       p->decoder_start_token_id, (long long)V);
    if (p->eos_token_id != SC_TOKEN_NONE && (p->eos_token_id < 0 || p->eos_token_id >= V))
        return sc_fail(err, SC_ERR_INVALID_ARG, SC_NO_OFFSET,
                       "generate: eos_token_id %d not in [0, %lld)", p->eos_token_id, (long long)V);
    if (p->max_new_tokens == 0 || p->max_new_tokens < -1)
        return sc_fail(err, SC_ERR_INVALID_ARG, SC_NO_OFFSET,
                       "generate: max_new_tokens must be > 0 (or -1 = unset)");
    if (p->max_new_tokens < 0 && p->max_length < 1)
        return sc_fail(err, SC_ERR_INVALID_ARG, SC_NO_OFFSET, "generate: max_length must be > 0");
    if (p->max_new_tokens >= SC_GEN_MAX_LENGTH ||
        (p->max_new_tokens < 0 && p->max_length > SC_GEN_MAX_LENGTH))
        return sc_fail(err, SC_ERR_LIMIT, SC_NO_OFFSET, "generate: length over %lld",
                       (long long)SC_GEN_MAX_LENGTH);
    if (p->num_beams < 1 || p->num_beams > 4096)
        return sc_fail(err, SC_ERR_INVALID_ARG, SC_NO_OFFSET, "generate: num_beams %lld",
                       (long long)p->num_beams);
    if (p->num_return_sequences < 1 || p->num_return_sequences > (1 << 20))
        return sc_fail(err, SC_ERR_INVALID_ARG, SC_NO_OFFSET, "generate: num_return_sequences %lld",
                       (long long)p->num_return_sequences);
    if (p->num_beams > 1 && p->do_sample)
        return sc_fail(err, SC_ERR_UNSUPPORTED, SC_NO_OFFSET,
                       "generate: beam sampling (do_sample with num_beams > 1) is not supported");
    if (p->num_beams == 1 && !p->do_sample && p->num_return_sequences != 1)
        return sc_fail(err, SC_ERR_INVALID_ARG, SC_NO_OFFSET,
                       "generate: greedy search returns one sequence per prompt");
    if (p->num_beams > 1 && p->num_return_sequences > p->num_beams)
        return sc_fail(err, SC_ERR_INVALID_ARG, SC_NO_OFFSET,
                       "generate: num_return_sequences %lld > num_beams %lld",
                       (long long)p->num_return_sequences, (long long)p->num_beams);
    if (p->num_beams > 1 && 2 * p->num_beams > p->num_beams * V)
        return sc_fail(err, SC_ERR_INVALID_ARG, SC_NO_OFFSET, "generate: vocab too small for beams");
    if (!(p->repetition_penalty > 0) || !isfinite(p->repetition_penalty))
        return sc_fail(err, SC_ERR_INVALID_ARG, SC_NO_OFFSET,
                       "generate: repetition_penalty must be a positive number");
    if (!isfinite(p->length_penalty))
        return sc_fail(err, SC_ERR_INVALID_ARG, SC_NO_OFFSET, "generate: length_penalty not finite");
    if ((unsigned)p->early_stopping > SC_EARLY_STOP_NEVER)
        return sc_fail(err, SC_ERR_INVALID_ARG, SC_NO_OFFSET, "generate: early_stopping %d",
                       (int)p->early_stopping);
    if (p->do_sample) {
        if (!(p->temperature > 0) || !isfinite(p->temperature))
            return sc_fail(err, SC_ERR_INVALID_ARG, SC_NO_OFFSET,
                           "generate: temperature must be strictly positive");
        if (p->top_k < 0)
            return sc_fail(err, SC_ERR_INVALID_ARG, SC_NO_OFFSET, "generate: top_k must be >= 0");
        if (!(p->top_p >= 0 && p->top_p <= 1))
            return sc_fail(err, SC_ERR_INVALID_ARG, SC_NO_OFFSET, "generate: top_p not in [0, 1]");
    }
    return SC_OK;
}

static sc_status gen_plan(gen *g, const sc_decoder *dec, int64_t B, const sc_generate_params *p,
                          sc_error *err) {
    memset(g, 0, sizeof *g);
    g->dec = dec;
    g->p = p;
    g->B = B;
    g->V = dec->vocab;
    g->nb = p->num_beams;
    g->nrs = p->num_return_sequences;
    g->pad = p->pad_token_id;
    g->eos = p->eos_token_id;
    g->start = p->decoder_start_token_id;
    /* HF _prepare_generated_length: max_new_tokens wins (+ the decoder prompt,
     * i.e. the start token); a plain max_length counts the start token. */
    g->L = p->max_new_tokens > 0 ? p->max_new_tokens + 1 : p->max_length;
    g->min_len = p->min_new_tokens >= 0 ? p->min_new_tokens + 1 : p->min_length;
    if (g->nb > 1 && g->L < 2)
        return sc_fail(err, SC_ERR_INVALID_ARG, SC_NO_OFFSET,
                       "generate: beam search needs max_length >= 2");
    /* HF always runs at least one step, even when max_length <= 1. */
    if (g->L < 2) g->L = 2;
    g->max_steps = g->L - 1;
    int64_t mult = g->nb > 1 ? g->nb : g->nrs;
    if (__builtin_mul_overflow(B, mult, &g->R) || g->R > INT32_MAX)
        return sc_fail(err, SC_ERR_LIMIT, SC_NO_OFFSET, "generate: %lld rows", (long long)B);

    bool ok = true;
    int64_t R = g->R, L = g->L, V = g->V, nb = g->nb;
    g->seq = alloc3(R, L, 1, sizeof(int32_t), &ok);
    g->tok = alloc3(R, 1, 1, sizeof(int32_t), &ok);
    g->src = alloc3(R, 1, 1, sizeof(int32_t), &ok);
    g->logits = alloc3(R, V, 1, sizeof(float), &ok);
    g->rep_tmp = alloc3(L, 1, 1, sizeof(float), &ok);
    if (p->record_logits) g->step_logits = alloc3(g->max_steps, R, V, sizeof(float), &ok);
    if (nb == 1) {
        g->unfinished = alloc3(R, 1, 1, sizeof(bool), &ok);
        if (p->do_sample) {
            g->topk_tmp = alloc3(V, 1, 1, sizeof(float), &ok);
            g->topp = alloc3(V, 1, 1, sizeof(sc_score_index), &ok);
            g->rng = alloc3(R, 1, 1, sizeof(sc_rng), &ok);
        }
    } else {
        g->seq2 = alloc3(R, L, 1, sizeof(int32_t), &ok);
        g->beam_scores = alloc3(R, 1, 1, sizeof(float), &ok);
        g->next_scores = alloc3(R, 1, 1, sizeof(float), &ok);
        g->cand_score = alloc3(2 * nb, 1, 1, sizeof(float), &ok);
        g->cand_idx = alloc3(2 * nb, 1, 1, sizeof(int64_t), &ok);
        g->done = alloc3(B, 1, 1, sizeof(bool), &ok);
        g->hyp_tok = alloc3(B, nb + 1, L, sizeof(int32_t), &ok);
        g->hyp_len = alloc3(B, nb + 1, 1, sizeof(int64_t), &ok);
        g->hyp_score = alloc3(B, nb + 1, 1, sizeof(double), &ok);
        g->hyp_list = alloc3(B, nb + 1, 1, sizeof(int64_t), &ok);
        g->hyp_count = alloc3(B, 1, 1, sizeof(int64_t), &ok);
        g->worst = alloc3(B, 1, 1, sizeof(double), &ok);
    }
    if (!ok)
        return sc_fail(err, SC_ERR_NOMEM, SC_NO_OFFSET,
                       "generate: cannot allocate buffers for %lld rows x %lld tokens x vocab %lld",
                       (long long)R, (long long)L, (long long)V);
    return SC_OK;
}

/* HF processors shared by every strategy, in HF's order. */
static void process_row(gen *g, float *scores, const int32_t *seq) {
    const sc_generate_params *p = g->p;
    if (p->repetition_penalty != 1.0)
        sc_proc_repetition(scores, seq, g->cur_len, (float)p->repetition_penalty, g->rep_tmp);
    if (p->no_repeat_ngram_size > 0)
        sc_proc_no_repeat_ngram(scores, g->V, seq, g->cur_len, p->no_repeat_ngram_size);
    /* MinLength / MinNewTokensLength: both reduce to cur_len < min_len */
    if (g->eos >= 0 && g->cur_len < g->min_len) scores[g->eos] = -INFINITY;
}

static sc_status decode(gen *g, sc_error *err) {
    sc_status st = g->dec->step(g->dec->ctx, g->tok, g->R, g->logits, err);
    if (st != SC_OK) return st;
    if (g->step_logits)
        memcpy(g->step_logits + (size_t)g->steps * (size_t)g->R * (size_t)g->V, g->logits,
               (size_t)g->R * (size_t)g->V * sizeof(float));
    g->steps++;
    return SC_OK;
}

static sc_status expand(gen *g, sc_error *err) {
    if (g->R == g->B) return SC_OK;
    int64_t mult = g->R / g->B;
    for (int64_t r = 0; r < g->R; r++) g->src[r] = (int32_t)(r / mult);
    return g->dec->select_rows(g->dec->ctx, g->src, g->R, err);
}

/* ------------------------------------------------------ greedy / sampling */

static sc_status run_greedy(gen *g, bool *stopped, sc_error *err) {
    const sc_generate_params *p = g->p;
    int64_t R = g->R, L = g->L, V = g->V;
    for (int64_t r = 0; r < R; r++) {
        g->seq[r * L] = g->start;
        g->tok[r] = g->start;
        g->unfinished[r] = true;
        if (g->rng) {
            /* keyed by the prompt, not by its place in this batch; with
             * keys 0..B-1 this is stream r, as before keys existed */
            uint64_t b = (uint64_t)(r / g->nrs), j = (uint64_t)(r % g->nrs);
            uint64_t key = p->prompt_keys ? p->prompt_keys[b] : b;
            sc_rng_seed(&g->rng[r], p->seed, key * (uint64_t)g->nrs + j);
        }
    }
    g->cur_len = 1;
    for (;;) {
        sc_status st = decode(g, err);
        if (st != SC_OK) return st;
        for (int64_t r = 0; r < R; r++) {
            int32_t next;
            if (!g->unfinished[r]) {
                /* HF computes a token and replaces it by pad */
                next = g->pad;
            } else {
                float *s = g->logits + r * V;
                process_row(g, s, g->seq + r * L);
                if (p->do_sample) {
                    if (p->temperature != 1.0) {
                        float t = (float)p->temperature;
                        for (int64_t i = 0; i < V; i++) s[i] = s[i] / t;
                    }
                    if (p->top_k != 0) sc_proc_top_k(s, V, p->top_k, 1, g->topk_tmp);
                    if (p->top_p < 1.0) sc_proc_top_p(s, V, p->top_p, 1, g->topp);
                    int64_t t = sc_sample_softmax(s, V, &g->rng[r]);
                    if (t < 0)
                        return sc_fail(err, SC_ERR_INVALID_ARG, SC_NO_OFFSET,
                                       "generate: row %lld step %lld: no token has a finite score",
                                       (long long)r, (long long)(g->cur_len - 1));
                    next = (int32_t)t;
                } else {
                    next = (int32_t)sc_argmax(s, V);
                }
            }
            g->seq[r * L + g->cur_len] = next;
            g->tok[r] = next;
        }
        int64_t step = g->cur_len - 1;
        g->cur_len++;
        bool stop = false;
        for (int64_t r = 0; r < R; r++) {
            if (!g->unfinished[r]) continue;
            if (p->on_token && p->on_token(p->user, r, step, g->tok[r]) != 0) stop = true;
            if (g->eos >= 0 && g->tok[r] == g->eos) g->unfinished[r] = false;
        }
        bool any = false;
        for (int64_t r = 0; r < R; r++) any |= g->unfinished[r];
        if (!any || g->cur_len >= L) return SC_OK;
        if (stop) {
            *stopped = true;
            return SC_OK;
        }
    }
}

/* ------------------------------------------------------------ beam search */

/* BeamHypotheses.add: score = sum_logprobs / generated_len ** length_penalty */
static void hyp_add(gen *g, int64_t b, const int32_t *tokens, int64_t len, double sum_logprobs,
                    int64_t generated_len) {
    int64_t nb = g->nb, slots = nb + 1;
    double score = sum_logprobs / pow((double)generated_len, g->p->length_penalty);
    int64_t *list = g->hyp_list + b * slots;
    int64_t *count = &g->hyp_count[b];
    if (!(*count < nb || score > g->worst[b])) return;
    /* a free slot: one not in the list (there are nb+1 slots, <= nb used) */
    int64_t slot = 0;
    for (;; slot++) {
        bool used = false;
        for (int64_t i = 0; i < *count; i++) used |= list[i] == slot;
        if (!used) break;
    }
    memcpy(g->hyp_tok + (b * slots + slot) * g->L, tokens, (size_t)len * sizeof(int32_t));
    g->hyp_len[b * slots + slot] = len;
    g->hyp_score[b * slots + slot] = score;
    list[(*count)++] = slot;
    if (*count > nb) {
        /* HF sorts (score, list position) and deletes the smallest; the new
         * worst is the second smallest */
        int64_t lo = 0, lo2 = -1;
        for (int64_t i = 1; i < *count; i++)
            if (g->hyp_score[b * slots + list[i]] < g->hyp_score[b * slots + list[lo]]) lo = i;
        for (int64_t i = 0; i < *count; i++) {
            if (i == lo) continue;
            if (lo2 < 0 ||
                g->hyp_score[b * slots + list[i]] < g->hyp_score[b * slots + list[lo2]])
                lo2 = i;
        }
        g->worst[b] = g->hyp_score[b * slots + list[lo2]];
        memmove(list + lo, list + lo + 1, (size_t)(*count - lo - 1) * sizeof *list);
        (*count)--;
    } else if (score < g->worst[b]) {
        g->worst[b] = score;
    }
}

/* BeamHypotheses.is_done; cur_len as HF's process() passes it (the ids so
 * far + 1), decoder prompt length 1. */
static bool hyp_is_done(gen *g, int64_t b, double best_sum_logprobs, int64_t cur_len) {
    if (g->hyp_count[b] < g->nb) return false;
    double lp = g->p->length_penalty, best;
    switch (g->p->early_stopping) {
    case SC_EARLY_STOP_TRUE: return true;
    case SC_EARLY_STOP_NEVER:
        if (lp > 0.0) {
            best = best_sum_logprobs / pow((double)(g->L - 1), lp);
            break;
        }
        /* fall through */
    default: best = best_sum_logprobs / pow((double)(cur_len - 1), lp); break;
    }
    return g->worst[b] >= best;
}

/* torch.topk(k, sorted=True) over x[n]; equal scores keep the lower index
 * first. A NaN is never selected. */
static void top_k_desc(const float *x, int64_t n, int64_t k, float *score, int64_t *idx) {
    int64_t c = 0;
    for (int64_t i = 0; i < n; i++) {
        float v = x[i];
        if (c == k && !(v > score[k - 1])) continue;
        if (isnan(v)) continue;
        int64_t pos = c < k ? c : k - 1;
        while (pos > 0 && score[pos - 1] < v) {
            score[pos] = score[pos - 1];
            idx[pos] = idx[pos - 1];
            pos--;
        }
        score[pos] = v;
        idx[pos] = i;
        if (c < k) c++;
    }
    for (; c < k; c++) { /* fewer than k comparable scores: fill like -inf */
        score[c] = -INFINITY;
        idx[c] = 0;
    }
}

static sc_status run_beam(gen *g, sc_error *err) {
    int64_t B = g->B, R = g->R, L = g->L, V = g->V, nb = g->nb, k = 2 * nb;
    for (int64_t r = 0; r < R; r++) {
        g->seq[r * L] = g->start;
        g->tok[r] = g->start;
        /* only the first beam of each prompt is live at step 0 */
        g->beam_scores[r] = (r % nb) == 0 ? 0.0f : -1e9f;
    }
    for (int64_t b = 0; b < B; b++) {
        g->done[b] = false;
        g->hyp_count[b] = 0;
        g->worst[b] = 1e9;
    }
    g->cur_len = 1;
    for (;;) {
        sc_status st = decode(g, err);
        if (st != SC_OK) return st;
        for (int64_t b = 0; b < B; b++) {
            if (g->done[b]) {
                /* HF pads a finished prompt: score 0, pad token, row 0 */
                for (int64_t j = 0; j < nb; j++) {
                    g->next_scores[b * nb + j] = 0.0f;
                    g->tok[b * nb + j] = g->pad;
                    g->src[b * nb + j] = 0;
                }
                continue;
            }
            float *blk = g->logits + b * nb * V; /* [nb, V] */
            for (int64_t j = 0; j < nb; j++) {
                int64_t r = b * nb + j;
                float *s = blk + j * V;
                sc_log_softmax(s, s, V);
                process_row(g, s, g->seq + r * L);
                float bs = g->beam_scores[r];
                for (int64_t i = 0; i < V; i++) s[i] = s[i] + bs;
            }
            top_k_desc(blk, nb * V, k, g->cand_score, g->cand_idx);
            /* BeamSearchScorer.process */
            int64_t beam = 0;
            for (int64_t rank = 0; rank < k && beam < nb; rank++) {
                int32_t t = (int32_t)(g->cand_idx[rank] % V);
                int64_t from = b * nb + g->cand_idx[rank] / V;
                if (g->eos >= 0 && t == g->eos) {
                    if (rank >= nb) continue;
                    /* the hypothesis excludes the eos; its length for the
                     * penalty counts it (cur_len + 1 - prompt length 1) */
                    hyp_add(g, b, g->seq + from * L, g->cur_len, (double)g->cand_score[rank],
                            g->cur_len);
                } else {
                    g->next_scores[b * nb + beam] = g->cand_score[rank];
                    g->tok[b * nb + beam] = t;
                    g->src[b * nb + beam] = (int32_t)from;
                    beam++;
                }
            }
            if (beam < nb)
                return sc_fail(err, SC_ERR_INVALID_ARG, SC_NO_OFFSET,
                               "generate: prompt %lld: too few non-eos candidates", (long long)b);
            if (hyp_is_done(g, b, (double)g->cand_score[0], g->cur_len + 1)) g->done[b] = true;
        }
        /* input_ids = cat(input_ids[beam_idx], next tokens) */
        for (int64_t r = 0; r < R; r++) {
            memcpy(g->seq2 + r * L, g->seq + (int64_t)g->src[r] * L,
                   (size_t)g->cur_len * sizeof(int32_t));
            g->seq2[r * L + g->cur_len] = g->tok[r];
            g->beam_scores[r] = g->next_scores[r];
        }
        int32_t *t = g->seq;
        g->seq = g->seq2;
        g->seq2 = t;
        g->cur_len++;
        bool all_done = true;
        for (int64_t b = 0; b < B; b++) all_done &= g->done[b];
        if (all_done || g->cur_len >= L) return SC_OK;
        bool identity = true;
        for (int64_t r = 0; r < R; r++) identity &= g->src[r] == r;
        if (!identity) {
            st = g->dec->select_rows(g->dec->ctx, g->src, R, err);
            if (st != SC_OK) return st;
        }
    }
}

/* BeamSearchScorer.finalize: returns the result's ids and scores. */
static sc_status beam_finalize(gen *g, sc_generate_result *res, sc_error *err) {
    int64_t B = g->B, L = g->L, nb = g->nb, nrs = g->nrs, slots = nb + 1;
    for (int64_t b = 0; b < B; b++) {
        if (g->done[b]) continue;
        for (int64_t j = 0; j < nb; j++) {
            int64_t r = b * nb + j;
            hyp_add(g, b, g->seq + r * L, g->cur_len, (double)g->beam_scores[r], g->cur_len - 1);
        }
    }
    /* best hypotheses: HF sorts ascending (stable) and pops from the end, so
     * among equal scores the one later in the list wins. The chosen slot
     * numbers go to g->src (R >= B * nrs entries). */
    int64_t maxlen = 0, minlen = INT64_MAX;
    for (int64_t b = 0; b < B; b++) {
        int64_t *list = g->hyp_list + b * slots;
        for (int64_t j = 0; j < nrs; j++) {
            int64_t best = -1;
            for (int64_t i = 0; i < g->hyp_count[b]; i++)
                if (best < 0 || g->hyp_score[b * slots + list[i]] >= g->hyp_score[b * slots + list[best]])
                    best = i;
            if (best < 0)
                return sc_fail(err, SC_ERR_INVALID_ARG, SC_NO_OFFSET,
                               "generate: prompt %lld has no hypothesis", (long long)b);
            int64_t slot = list[best];
            memmove(list + best, list + best + 1, (size_t)(g->hyp_count[b] - best - 1) * sizeof *list);
            g->hyp_count[b]--;
            g->src[b * nrs + j] = (int32_t)slot;
            int64_t len = g->hyp_len[b * slots + slot];
            if (len > maxlen) maxlen = len;
            if (len < minlen) minlen = len;
        }
    }
    int64_t width = maxlen + 1 < L ? maxlen + 1 : L;
    int64_t rows = B * nrs;
    bool ok = true;
    res->seq = alloc3(rows, width, 1, sizeof(int32_t), &ok);
    res->scores = alloc3(rows, 1, 1, sizeof(float), &ok);
    if (!ok) return sc_fail(err, SC_ERR_NOMEM, SC_NO_OFFSET, "generate: result");
    res->rows = rows;
    res->len = width;
    for (int64_t b = 0; b < B; b++) {
        for (int64_t j = 0; j < nrs; j++) {
            int64_t i = b * nrs + j, slot = g->src[i];
            int64_t len = g->hyp_len[b * slots + slot];
            int32_t *row = res->seq + i * width;
            for (int64_t c = 0; c < width; c++) row[c] = g->pad;
            memcpy(row, g->hyp_tok + (b * slots + slot) * L, (size_t)len * sizeof(int32_t));
            /* only the first eos is inserted, when it fits */
            if (len < width) row[len] = g->eos >= 0 ? g->eos : g->pad;
            res->scores[i] = (float)g->hyp_score[b * slots + slot];
        }
    }
    (void)minlen;
    return SC_OK;
}

sc_status sc_generate_decoder(const sc_decoder *dec, int64_t B, const sc_generate_params *p,
                              sc_generate_result **out, sc_error *err) {
    if (!out) return sc_fail(err, SC_ERR_INVALID_ARG, SC_NO_OFFSET, "generate: NULL out");
    sc_status st = check_params(dec, B, p, err);
    if (st != SC_OK) return st;
    gen g;
    st = gen_plan(&g, dec, B, p, err);
    sc_generate_result *res = NULL;
    if (st == SC_OK) {
        res = calloc(1, sizeof *res);
        if (!res) st = sc_fail(err, SC_ERR_NOMEM, SC_NO_OFFSET, "generate: result");
    }
    if (st == SC_OK) st = expand(&g, err);
    if (st == SC_OK) {
        if (g.nb > 1) {
            st = run_beam(&g, err);
            if (st == SC_OK) st = beam_finalize(&g, res, err);
        } else {
            st = run_greedy(&g, &res->stopped, err);
            if (st == SC_OK) {
                /* rows advance together: every row has cur_len ids */
                bool ok = true;
                res->seq = alloc3(g.R, g.cur_len, 1, sizeof(int32_t), &ok);
                if (!ok) {
                    st = sc_fail(err, SC_ERR_NOMEM, SC_NO_OFFSET, "generate: result");
                } else {
                    for (int64_t r = 0; r < g.R; r++)
                        memcpy(res->seq + r * g.cur_len, g.seq + r * g.L,
                               (size_t)g.cur_len * sizeof(int32_t));
                    res->rows = g.R;
                    res->len = g.cur_len;
                }
            }
        }
    }
    if (st == SC_OK && g.step_logits) {
        res->step_logits = g.step_logits; /* ownership moves to the result */
        g.step_logits = NULL;
        res->steps = g.steps;
        res->drows = g.R;
        res->vocab = g.V;
    }
    gen_free(&g);
    if (st != SC_OK) {
        sc_generate_result_free(res);
        return st;
    }
    *out = res;
    return SC_OK;
}
