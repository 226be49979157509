/* Sparse FF layer; see moe.h. The tokens routed to each expert are grouped
 * with a counting sort and each used expert runs once, as one GEMM over its
 * tokens; idle experts cost nothing. */
#include "model/moe.h"
#include "core/error.h"
#include "core/pool.h"
#include "model/ops.h"

#include <math.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

void sc_ffn_forward(const sc_model *m, const sc_ffn_weights *w, const float *x, int64_t N,
                    float *out, float *h, float *h1, sc_pool *pool) {
    const int64_t F = w->wi.shape[0];
    /* the table's fused block where it has one (bit-identical to the three ops) */
    if (!w->wi1.data && m->cfg.act == SC_ACT_RELU && m->kern->ffn_relu &&
        m->kern->ffn_relu(out, x, &w->wi, &w->wo, N, h, (size_t)(N * F) * sizeof(float), pool))
        return;
    m->kern->matmul(h, x, &w->wi, N, pool);
    sc_activate(h, N * F, m->cfg.act, pool);
    if (w->wi1.data) {
        m->kern->matmul(h1, x, &w->wi1, N, pool);
        for (int64_t i = 0; i < N * F; i++) h[i] *= h1[i];
    }
    m->kern->matmul(out, h, &w->wo, N, pool);
}

void sc_route_top1(const float *logits, int64_t rows, int64_t T, int64_t E, int64_t capacity,
                   sc_drop_policy policy, int32_t *expert_hf, int32_t *kept, int32_t *top1,
                   float *prob_max, int64_t *counts) {
    for (int64_t r = 0; r < rows; r++) {
        for (int64_t t = 0; t < T; t++) {
            const int64_t n = r * T + t;
            const float *l = logits + n * E;
            /* softmax in fp32, argmax over the probabilities (first on ties) */
            float mx = -INFINITY;
            for (int64_t e = 0; e < E; e++) mx = l[e] > mx ? l[e] : mx;
            float sum = 0.0f;
            for (int64_t e = 0; e < E; e++) sum += expf(l[e] - mx);
            int64_t best = 0;
            float bestp = -1.0f;
            for (int64_t e = 0; e < E; e++) {
                float p = expf(l[e] - mx) / sum;
                if (p > bestp) {
                    bestp = p;
                    best = e;
                }
            }
            top1[n] = (int32_t)best;
            prob_max[n] = bestp;
        }
        /* Capacity: the group is one row of one forward call; a token's rank is
         * the number of earlier-or-equal positions of the row that chose its
         * expert (HF's cumsum over the one-hot). */
        memset(counts, 0, (size_t)E * sizeof *counts);
        for (int64_t t = 0; t < T; t++) {
            const int64_t n = r * T + t;
            const int64_t rank = ++counts[top1[n]];
            kept[n] = policy == SC_DROP_NONE || rank <= capacity;
            expert_hf[n] = kept[n] ? top1[n] : 0;
        }
    }
}

/* Experts run in parallel only from this many used experts per thread on
 * (fewer leave threads idle while the largest expert finishes). */
#define EXPERTS_PER_THREAD 4

/* The grouped GEMMs of one sparse layer: expert e's tokens are
 * order[start[e] .. start[e + 1]); slot s (one per thread when parallel)
 * owns slot_rows rows of gather / yexp / h / h1. */
typedef struct {
    const sc_model *m;
    const sc_block_weights *b;
    const float *x, *pmax;
    float *out;
    const int32_t *order, *start, *sched;
    int64_t n_sched, D, F, slot_rows;
    float *gather, *yexp, *h, *h1;
    sc_expert_stats *stats;
    sc_pool *pool;        /* parallel: the run's pool, whose lanes the tasks use */
    _Atomic int64_t next; /* parallel: next index of sched to run */
    _Atomic int failed;   /* parallel: the first failure's st / err below */
    sc_status st;
    sc_error err;
} expert_job;

/* Gathers expert e's tokens, runs its FF (its GEMMs split over `pool`) and
 * writes prob * y to their rows of out. */
static sc_status run_expert(const expert_job *j, int64_t e, int64_t slot, sc_pool *pool, sc_error *err) {
    const int64_t D = j->D, n0 = j->start[e], ne = j->start[e + 1] - n0;
    float *gather = j->gather + slot * j->slot_rows * D, *yexp = j->yexp + slot * j->slot_rows * D;
    float *h = j->h + slot * j->slot_rows * j->F, *h1 = j->h1 ? j->h1 + slot * j->slot_rows * j->F : NULL;
    for (int64_t i = 0; i < ne; i++)
        memcpy(gather + i * D, j->x + (int64_t)j->order[n0 + i] * D, (size_t)D * sizeof(float));
    const sc_ffn_weights *w;
    sc_status st = sc_expert_store_acquire(j->m->experts, j->b->moe_index, e, j->stats, &w, err);
    if (st) return st;
    sc_ffn_forward(j->m, w, gather, ne, yexp, h, h1, pool);
    sc_expert_store_release(j->m->experts, j->b->moe_index, e, j->stats);
    for (int64_t i = 0; i < ne; i++) {
        const int64_t n = j->order[n0 + i];
        float *o = j->out + n * D;
        const float *y = yexp + i * D;
        for (int64_t d = 0; d < D; d++) o[d] = j->pmax[n] * y[d];
    }
    return SC_OK;
}

/* Task t of the expert-parallel run: claims experts in schedule order and
 * runs each on lane t (slot t) until none are left or one has failed. */
static void expert_task(void *ctx, int task, int n_tasks) {
    (void)n_tasks;
    expert_job *j = ctx;
    sc_pool *lane = sc_pool_lane(j->pool, task);
    for (;;) {
        int64_t i = atomic_fetch_add(&j->next, 1);
        if (i >= j->n_sched || atomic_load(&j->failed)) return;
        sc_error err;
        sc_status st = run_expert(j, j->sched[i], task, lane, &err);
        if (st) {
            int expect = 0;
            if (atomic_compare_exchange_strong(&j->failed, &expect, 1)) {
                j->st = st;
                j->err = err;
            }
            return;
        }
    }
}

/* Keys are count << 32 | expert: more tokens first, then the lower expert. */
static int by_count_then_expert(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    if ((x >> 32) != (y >> 32)) return (x >> 32) < (y >> 32) ? 1 : -1;
    return (x < y) ? -1 : (x > y);
}

/* sched[0..n) = the used experts, most tokens first. keys[n] is scratch
 * (the layer's counts, no longer needed). */
static void sort_by_count(int32_t *sched, int64_t n, const int32_t *start, int64_t *keys) {
    for (int64_t i = 0; i < n; i++) keys[i] = (int64_t)(start[sched[i] + 1] - start[sched[i]]) << 32 | sched[i];
    qsort(keys, (size_t)n, sizeof *keys, by_count_then_expert);
    for (int64_t i = 0; i < n; i++) sched[i] = (int32_t)(keys[i] & INT32_MAX);
}

sc_status sc_moe_forward(const sc_model *m, const sc_block_weights *b, const float *x,
                         int64_t rows, int64_t T, sc_drop_policy policy, float *out,
                         sc_workspace *ws, sc_pool *pool, const sc_route_info *info,
                         sc_expert_stats *stats, sc_error *err) {
    const sc_config *c = &m->cfg;
    const int64_t N = rows * T, E = c->num_experts, D = c->d_model, F = c->d_ff;
    float *logits = sc_ws_array(ws, SC_WS_LOGITS, (size_t)N * (size_t)E, sizeof(float));
    int32_t *route = sc_ws_array(ws, SC_WS_ROUTE, (size_t)N * 3, sizeof(int32_t));
    float *pmax = sc_ws_array(ws, SC_WS_PMAX, (size_t)N, sizeof(float));
    int64_t *counts = sc_ws_array(ws, SC_WS_COUNTS, (size_t)E, sizeof(int64_t));
    int32_t *order = sc_ws_array(ws, SC_WS_ORDER, (size_t)(N + 2 * E + 1), sizeof(int32_t));
    if (!logits || !route || !pmax || !counts || !order)
        return sc_fail(err, SC_ERR_NOMEM, SC_NO_OFFSET, "moe: out of memory for %lld tokens", (long long)N);
    int32_t *expert_hf = route, *kept = route + N, *top1 = route + 2 * N;

    /* Router: fp32 input, fp32 classifier (HF casts to router_dtype = float32);
     * the table's F32 path is fp32 on every table. */
    sc_tensor rw = {.dtype = SC_DTYPE_F32, .ndim = 2, .shape = {E, D}, .data = b->router_w};
    m->kern->matmul(logits, x, &rw, N, pool);
    if (b->router_b)
        for (int64_t n = 0; n < N; n++)
            for (int64_t e = 0; e < E; e++) logits[n * E + e] += b->router_b[e];
    sc_route_top1(logits, rows, T, E, c->expert_capacity, policy, expert_hf, kept, top1, pmax, counts);

    /* Dispatch: counting sort of the kept tokens by expert. */
    int32_t *start = order + N; /* [E + 1] */
    memset(start, 0, (size_t)(E + 1) * sizeof *start);
    for (int64_t n = 0; n < N; n++)
        if (kept[n]) start[top1[n] + 1]++;
    for (int64_t e = 0; e < E; e++) start[e + 1] += start[e];
    for (int64_t n = 0; n < N; n++)
        if (kept[n]) order[start[top1[n]]++] = (int32_t)n;
    for (int64_t e = E; e > 0; e--) start[e] = start[e - 1];
    start[0] = 0;

    /* Experts on demand: hint the kernel to read the chosen experts' pages
     * while the dropped tokens are handled and the first GEMM starts. */
    for (int64_t e = 0; e < E; e++) counts[e] = start[e + 1] - start[e];
    sc_expert_store_prefetch(m->experts, b->moe_index, counts);
    if (stats && b->moe_index < stats->n_layers) {
        sc_expert_layer_stats *ls = &stats->layers[b->moe_index];
        uint64_t *per = stats->counts + b->moe_index * stats->n_experts;
        ls->tokens += (uint64_t)N;
        for (int64_t n = 0; n < N; n++) {
            per[top1[n]]++;
            ls->dropped += !kept[n];
        }
    }

    /* Dropped tokens first (HF 4.x keeps prob * x; "zero" keeps 0). */
    for (int64_t n = 0; n < N; n++) {
        if (kept[n]) continue;
        float *o = out + n * D;
        if (policy == SC_DROP_ZERO) {
            memset(o, 0, (size_t)D * sizeof *o);
        } else {
            for (int64_t d = 0; d < D; d++) o[d] = pmax[n] * x[n * D + d];
        }
    }
    /* Grouped GEMM per used expert, then combine scaled by the router prob.
     * Expert-parallel when there are enough experts to share: each thread
     * runs whole experts (largest first) on its own lane, so two experts'
     * weights stream at once and no thread waits through the small serial
     * steps of another's (gather, activation, combine). Every expert costs
     * about the same (its weights' bytes), so with a count of experts that
     * is not a multiple of the threads, the odd ones at the end would run
     * alone while the other threads wait (2 threads, bf16, a 1x128 input
     * with odd counts: 2.1-2.5 ms of a 66 ms pass): those, the smallest,
     * run afterwards one at a time, each GEMM split over the pool, as every
     * expert does when there are few. Either way every expert's GEMMs see
     * the same rows, so the results are the same. */
    int32_t *sched = order + N + E + 1; /* [E]: used experts, most tokens first */
    int64_t used = 0, most = 0;
    for (int64_t e = 0; e < E; e++)
        if (counts[e]) {
            sched[used++] = (int32_t)e;
            most = counts[e] > most ? counts[e] : most;
        }
    const int threads = sc_pool_size(pool);
    const bool parallel = threads > 1 && used >= EXPERTS_PER_THREAD * threads && sc_pool_lane(pool, 0);
    const int64_t slots = parallel ? threads : 1, slot_rows = parallel ? most : N;
    expert_job j = {.m = m, .b = b, .x = x, .out = out, .pmax = pmax, .order = order, .start = start,
                    .sched = sched, .n_sched = used, .stats = stats, .pool = pool, .D = D, .F = F, .slot_rows = slot_rows};
    const size_t srows = (size_t)(slots * slot_rows);
    j.gather = sc_ws_array(ws, SC_WS_GATHER, srows * (size_t)D, sizeof(float));
    j.yexp = sc_ws_array(ws, SC_WS_EXPOUT, srows * (size_t)D, sizeof(float));
    j.h = sc_ws_array(ws, SC_WS_FF, srows * (size_t)F, sizeof(float));
    j.h1 = c->gated ? sc_ws_array(ws, SC_WS_FF1, srows * (size_t)F, sizeof(float)) : NULL;
    if (!j.gather || !j.yexp || !j.h || (c->gated && !j.h1))
        return sc_fail(err, SC_ERR_NOMEM, SC_NO_OFFSET, "moe: out of memory for %lld tokens", (long long)N);
    if (parallel) {
        /* largest first: a greedy order that keeps the threads' shares even */
        sort_by_count(sched, used, start, counts);
        j.n_sched = used - used % threads;
        atomic_init(&j.next, 0);
        atomic_init(&j.failed, 0);
        sc_pool_run(pool, expert_task, &j, threads);
        if (atomic_load(&j.failed)) {
            if (err) *err = j.err;
            return j.st;
        }
    }
    for (int64_t i = parallel ? j.n_sched : 0; i < used; i++) {
        sc_status st = run_expert(&j, sched[i], 0, pool, err);
        if (st) return st;
    }
    if (info) {
        if (info->logits) memcpy(info->logits, logits, (size_t)(N * E) * sizeof(float));
        if (info->expert) memcpy(info->expert, expert_hf, (size_t)N * sizeof(int32_t));
        if (info->kept) memcpy(info->kept, kept, (size_t)N * sizeof(int32_t));
        if (info->prob_max) memcpy(info->prob_max, pmax, (size_t)N * sizeof(float));
    }
    return SC_OK;
}
