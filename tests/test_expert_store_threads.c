/* The expert store under two threads: conversion runs outside the store's
 * lock (two sessions converting different experts are inside the conversion
 * at the same moment), a session wanting an expert another is converting
 * waits and gets the published copy (one conversion, a hit), an expert being
 * converted is never evicted, a failed conversion leaves the expert not
 * resident and is reported to each session that tried, random acquire /
 * release from two threads under a small cap always sees correct weights,
 * two sessions generating at once on one model (lazy q8 / bf16, caps of
 * one byte and unbounded) give the ids and logits each gives alone, and two
 * threads advising the mapped experts of two models at once share nothing
 * unguarded (the page size is read once per store; under ThreadSanitizer,
 * `make tsan`, a lazily set global shared by every store was a race).
 *
 * The conversion hook (the q8 kernel of a copied kernels table) blocks with
 * a time limit, so a store that converted under its lock fails these checks
 * instead of hanging. CHECK runs on the main thread only. */
#include "test_util.h"

#include "core/alloc.h"
#include "model/expert_stats.h"
#include "model/expert_store.h"
#include "model/model.h"
#include "model/weights_convert.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

enum { E = 16, F = 96, D = 48, WAIT_S = 10 };
/* hook calls per conversion: one per chunk of 64 rows (wi, then wo) */
enum { CALLS_WI = (F + 63) / 64, CALLS = CALLS_WI + (D + 63) / 64 };

/* ---------------------------------------------------------- conversion hook */

static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int calls, inside;
    bool rendezvous; /* the first two callers wait for each other */
    bool met, gate;  /* gate: gated threads wait while it is closed */
    bool timed_out;
} hk = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

static _Thread_local bool gated; /* this thread stops at the gate */

static void deadline(struct timespec *t) {
    clock_gettime(CLOCK_REALTIME, t);
    t->tv_sec += WAIT_S;
}

/* Waits on hk.cv until *flag == want (hk.mu held); false after WAIT_S. */
static bool wait_for(const bool *flag, bool want) {
    struct timespec t;
    deadline(&t);
    while (*flag != want)
        if (pthread_cond_timedwait(&hk.cv, &hk.mu, &t) == ETIMEDOUT) return false;
    return true;
}

static void hook_q8(int8_t *q, float *scales, const float *w, int64_t N, int64_t K) {
    pthread_mutex_lock(&hk.mu);
    hk.calls++;
    hk.inside++;
    pthread_cond_broadcast(&hk.cv);
    if (hk.rendezvous && !hk.met) {
        if (hk.inside >= 2) {
            hk.met = true;
            pthread_cond_broadcast(&hk.cv);
        } else if (!wait_for(&hk.met, true)) {
            hk.timed_out = true;
        }
    }
    if (gated && !wait_for(&hk.gate, false)) hk.timed_out = true;
    hk.inside--;
    pthread_mutex_unlock(&hk.mu);
    sc_quantize_rows_q8_ref(q, scales, w, N, K);
}

static void hook_reset(bool rendezvous, bool gate) {
    pthread_mutex_lock(&hk.mu);
    hk.calls = hk.inside = 0;
    hk.rendezvous = rendezvous;
    hk.met = hk.timed_out = false;
    hk.gate = gate;
    pthread_mutex_unlock(&hk.mu);
}

static void gate_open(void) {
    pthread_mutex_lock(&hk.mu);
    hk.gate = false;
    pthread_cond_broadcast(&hk.cv);
    pthread_mutex_unlock(&hk.mu);
}

/* Waits until `n` threads are inside the hook; false after WAIT_S. */
static bool wait_inside(int n) {
    pthread_mutex_lock(&hk.mu);
    struct timespec t;
    deadline(&t);
    bool ok = true;
    while (ok && hk.inside < n) ok = pthread_cond_timedwait(&hk.cv, &hk.mu, &t) != ETIMEDOUT;
    pthread_mutex_unlock(&hk.mu);
    return ok;
}

static int hook_calls(void) {
    pthread_mutex_lock(&hk.mu);
    int c = hk.calls;
    pthread_mutex_unlock(&hk.mu);
    return c;
}

/* ------------------------------------------------------------------ store */

static float src[E][2][F * D];
static int32_t bad[D * F]; /* a matrix no conversion accepts */
static sc_kernels kern;

static sc_expert_store *make_store(sc_dtype to, size_t cap, int bad_expert) {
    sc_expert_store *s = NULL;
    CHECK(sc_expert_store_new(1, E, &s, NULL) == SC_OK);
    for (int e = 0; e < E; e++) {
        sc_ffn_weights w = {0};
        w.wi = (sc_tensor){.dtype = SC_DTYPE_F32, .ndim = 2, .shape = {F, D}, .data = src[e][0]};
        w.wo = (sc_tensor){.dtype = SC_DTYPE_F32, .ndim = 2, .shape = {D, F}, .data = src[e][1]};
        if (e == bad_expert) w.wo = (sc_tensor){.dtype = SC_DTYPE_I32, .ndim = 2, .shape = {D, F}, .data = bad};
        sc_expert_store_set(s, 0, e, &w);
    }
    CHECK(sc_expert_store_configure(s, to, &kern, cap, NULL) == SC_OK);
    return s;
}

/* The converted weights every acquire must see: [expert][matrix]. */
static sc_tensor want[E][2];
static void *want_owned[E][2];

static void make_want(sc_dtype to) {
    for (int e = 0; e < E; e++)
        for (int i = 0; i < 2; i++) {
            sc_free_aligned(want_owned[e][i]);
            sc_tensor t = {.dtype = SC_DTYPE_F32, .ndim = 2, .shape = {i ? D : F, i ? F : D}, .data = src[e][i]};
            CHECK(sc_weights_convert(&want[e][i], &want_owned[e][i], &t, to, sc_kernels_ref(), "want", NULL) ==
                  SC_OK);
        }
}

static bool same_tensor(const sc_tensor *a, const sc_tensor *b) {
    if (a->dtype != b->dtype || a->shape[0] != b->shape[0] || a->shape[1] != b->shape[1]) return false;
    size_t n = (size_t)a->shape[0] * (size_t)a->shape[1] * sc_dtype_size(a->dtype);
    if (memcmp(a->data, b->data, n)) return false;
    if (!a->scales != !b->scales) return false;
    return !a->scales || !memcmp(a->scales, b->scales, (size_t)a->shape[0] * sizeof(float));
}

static bool weights_ok(const sc_ffn_weights *w, int e) {
    return w && same_tensor(&w->wi, &want[e][0]) && same_tensor(&w->wo, &want[e][1]);
}

/* One thread's acquire of (0, e): result kept for the main thread. */
typedef struct job {
    sc_expert_store *s;
    int e;
    bool gated;
    sc_expert_stats st;
    const sc_ffn_weights *w;
    sc_status status;
    atomic_bool done;
} job;

static void *acquire_job(void *arg) {
    job *j = arg;
    gated = j->gated;
    j->status = sc_expert_store_acquire(j->s, 0, j->e, &j->st, &j->w, NULL);
    atomic_store(&j->done, true);
    return NULL;
}

static void job_start(job *j, pthread_t *t, sc_expert_store *s, int e, bool is_gated) {
    memset(j, 0, sizeof *j);
    j->s = s;
    j->e = e;
    j->gated = is_gated;
    atomic_init(&j->done, false);
    CHECK(sc_expert_stats_init(&j->st, 1, E, NULL) == SC_OK);
    CHECK(pthread_create(t, NULL, acquire_job, j) == 0);
}

static void pause_ms(long ms) {
    struct timespec t = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&t, NULL);
}

/* Two threads converting different experts are inside the conversion at
 * the same moment (under one lock the second would wait for the first). */
static void test_parallel_conversion(void) {
    size_t one = 0;
    sc_expert_store *s = make_store(SC_DTYPE_I8, 0, -1);
    one = sc_expert_store_expert_bytes(s, 0, 0);
    hook_reset(true, false);
    job a, b;
    pthread_t ta, tb;
    job_start(&a, &ta, s, 3, false);
    job_start(&b, &tb, s, 7, false);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    CHECKF(hk.met && !hk.timed_out, "the two conversions did not overlap");
    CHECK(a.status == SC_OK && b.status == SC_OK);
    CHECK(weights_ok(a.w, 3) && weights_ok(b.w, 7));
    CHECK(a.st.layers[0].misses == 1 && b.st.layers[0].misses == 1);
    CHECK(sc_expert_store_resident_bytes(s) == 2 * one && sc_expert_store_owned_bytes(s) == 2 * one);
    sc_expert_store_release(s, 0, 3, NULL);
    sc_expert_store_release(s, 0, 7, NULL);
    sc_expert_stats_free(&a.st);
    sc_expert_stats_free(&b.st);
    sc_expert_store_free(s);
    printf("parallel conversion: overlapped=%d\n", hk.met);
}

/* A second session wanting the expert being converted waits for it; the
 * converting expert is neither resident nor evictable meanwhile. */
static void test_same_expert(void) {
    sc_expert_store *probe = make_store(SC_DTYPE_I8, 0, -1);
    const size_t one = sc_expert_store_expert_bytes(probe, 0, 0);
    sc_expert_store_free(probe);
    sc_expert_store *s = make_store(SC_DTYPE_I8, one, -1); /* a cap of one expert */
    hook_reset(false, true);
    job a, b;
    pthread_t ta, tb;
    job_start(&a, &ta, s, 0, true);
    CHECK(wait_inside(1));
    CHECK(!sc_expert_store_is_resident(s, 0, 0));
    CHECK(sc_expert_store_resident_bytes(s) == one); /* reserved */
    job_start(&b, &tb, s, 0, false);
    /* meanwhile this thread uses other experts: each evicts the previous,
     * never the one being converted */
    sc_expert_stats st;
    CHECK(sc_expert_stats_init(&st, 1, E, NULL) == SC_OK);
    for (int e = 1; e <= 3; e++) {
        const sc_ffn_weights *w = NULL;
        CHECK(sc_expert_store_acquire(s, 0, e, &st, &w, NULL) == SC_OK);
        CHECK(weights_ok(w, e));
        sc_expert_store_release(s, 0, e, &st);
    }
    CHECK(st.layers[0].misses == 3 && st.layers[0].evictions == 3);
    CHECK(sc_expert_store_resident_bytes(s) == one);
    pause_ms(100); /* time for b to misbehave: it must still be waiting */
    CHECKF(!atomic_load(&b.done), "a session got an expert that was still being converted");
    gate_open();
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    CHECK(!hk.timed_out);
    CHECK(a.status == SC_OK && b.status == SC_OK && a.w == b.w && weights_ok(a.w, 0));
    CHECKF(hook_calls() == 4 * CALLS, "%d hook calls for 4 conversions of %d", hook_calls(), CALLS); /* 0 once, 1..3 */
    CHECK(a.st.layers[0].misses == 1 && a.st.layers[0].hits == 0);
    CHECK(b.st.layers[0].misses == 0 && b.st.layers[0].hits == 1);
    CHECK(sc_expert_store_is_resident(s, 0, 0));
    CHECK(sc_expert_store_resident_bytes(s) == one && sc_expert_store_owned_bytes(s) == one);
    sc_expert_store_release(s, 0, 0, NULL);
    sc_expert_store_release(s, 0, 0, NULL);
    CHECK(sc_expert_store_is_resident(s, 0, 0)); /* within the cap: stays */
    sc_expert_stats_free(&st);
    sc_expert_stats_free(&a.st);
    sc_expert_stats_free(&b.st);
    sc_expert_store_free(s);
}

/* A failed conversion: reported to the session that ran it and, after the
 * wait, to the one that waited and tried itself; nothing stays resident. */
static void test_failed_conversion(void) {
    sc_expert_store *s = make_store(SC_DTYPE_I8, 0, 5);
    hook_reset(false, true);
    job a, b;
    pthread_t ta, tb;
    job_start(&a, &ta, s, 5, true);
    CHECK(wait_inside(1)); /* converting wi; wo will fail */
    job_start(&b, &tb, s, 5, false);
    pause_ms(50);
    CHECK(!atomic_load(&b.done));
    gate_open();
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    CHECK(!hk.timed_out);
    CHECK(a.status == SC_ERR_UNSUPPORTED && b.status == SC_ERR_UNSUPPORTED);
    CHECK(hook_calls() == 2 * CALLS_WI); /* wi converted once by each, then freed */
    CHECK(!sc_expert_store_is_resident(s, 0, 5));
    CHECK(sc_expert_store_resident_bytes(s) == 0 && sc_expert_store_owned_bytes(s) == 0);
    CHECK(a.st.layers[0].misses == 0 && b.st.layers[0].misses == 0);
    /* the others still work */
    const sc_ffn_weights *w = NULL;
    CHECK(sc_expert_store_acquire(s, 0, 6, NULL, &w, NULL) == SC_OK && weights_ok(w, 6));
    sc_expert_store_release(s, 0, 6, NULL);
    sc_expert_stats_free(&a.st);
    sc_expert_stats_free(&b.st);
    sc_expert_store_free(s);
}

/* Random acquire / release from two threads under a cap of three experts. */
typedef struct stress {
    sc_expert_store *s;
    uint64_t seed;
    int ops, bad;
    sc_expert_stats st;
} stress;

static void *stress_thread(void *arg) {
    stress *t = arg;
    uint64_t x = t->seed;
    for (int i = 0; i < t->ops; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        int e = (int)(x % E);
        const sc_ffn_weights *w = NULL;
        if (sc_expert_store_acquire(t->s, 0, e, &t->st, &w, NULL) != SC_OK || !weights_ok(w, e)) t->bad++;
        sc_expert_store_release(t->s, 0, e, &t->st);
    }
    return NULL;
}

static void test_stress(sc_dtype to, const char *label) {
    make_want(to);
    sc_expert_store *probe = make_store(to, 0, -1);
    const size_t one = sc_expert_store_expert_bytes(probe, 0, 0);
    sc_expert_store_free(probe);
    sc_expert_store *s = make_store(to, 3 * one, -1);
    hook_reset(false, false);
    stress t[2];
    pthread_t th[2];
    for (int i = 0; i < 2; i++) {
        t[i] = (stress){.s = s, .seed = 0x9e3779b97f4a7c15ull * (uint64_t)(i + 1), .ops = 3000};
        CHECK(sc_expert_stats_init(&t[i].st, 1, E, NULL) == SC_OK);
        CHECK(pthread_create(&th[i], NULL, stress_thread, &t[i]) == 0);
    }
    uint64_t misses = 0, hits = 0, ev = 0;
    for (int i = 0; i < 2; i++) {
        pthread_join(th[i], NULL);
        CHECKF(t[i].bad == 0, "%s thread %d: %d acquires with wrong weights", label, i, t[i].bad);
        misses += t[i].st.layers[0].misses;
        hits += t[i].st.layers[0].hits;
        ev += t[i].st.layers[0].evictions;
        sc_expert_stats_free(&t[i].st);
    }
    CHECK(misses + hits == 6000);
    CHECK(misses > 0 && ev > 0 && misses - ev <= 3);
    CHECK(sc_expert_store_resident_bytes(s) <= 3 * one);
    CHECK(sc_expert_store_owned_bytes(s) == sc_expert_store_resident_bytes(s));
    CHECK(sc_expert_store_peak_bytes(s) <= 5 * one); /* cap + one pinned per thread */
    printf("stress %s: %llu misses, %llu hits, %llu evictions, peak %zu of cap %zu\n", label,
           (unsigned long long)misses, (unsigned long long)hits, (unsigned long long)ev, sc_expert_store_peak_bytes(s),
           3 * one);
    sc_expert_store_free(s);
}

/* ------------------------------------------------- two sessions, one model */

typedef struct gen {
    sc_model *m;
    int which;
    int32_t *ids;
    int64_t rows, len;
    float *logits;
    size_t n_logits;
    sc_status status;
} gen;

static void *generate_thread(void *arg) {
    gen *g = arg;
    static const int32_t ids[2][2 * 7] = {{37, 8, 1, 0, 0, 0, 0, 5, 121, 12, 7, 64, 200, 1},
                                          {9, 250, 33, 17, 4, 88, 1, 301, 2, 1, 0, 0, 0, 0}};
    static const int32_t mask[2][2 * 7] = {{1, 1, 1, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1},
                                           {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0}};
    sc_session *s = NULL;
    sc_generate_result *r = NULL;
    sc_generate_params gp = sc_generate_default_params();
    gp.max_new_tokens = 10;
    gp.record_logits = true;
    gp.eos_token_id = SC_TOKEN_NONE;
    g->status = sc_session_new(g->m, &s, NULL);
    if (!g->status) g->status = sc_generate(s, ids[g->which], mask[g->which], 2, 7, &gp, &r, NULL);
    if (!g->status) {
        const int32_t *seq = sc_generate_result_sequences(r, &g->rows, &g->len);
        g->ids = malloc((size_t)(g->rows * g->len) * sizeof *g->ids);
        memcpy(g->ids, seq, (size_t)(g->rows * g->len) * sizeof *g->ids);
        int64_t steps, drows, V;
        const float *lg = sc_generate_result_step_logits(r, &steps, &drows, &V);
        g->n_logits = (size_t)(steps * drows * V);
        g->logits = malloc(g->n_logits * sizeof *g->logits);
        memcpy(g->logits, lg, g->n_logits * sizeof *g->logits);
    }
    sc_generate_result_free(r);
    sc_session_free(s);
    return NULL;
}

static sc_model *load(const char *dir, sc_dtype dt, size_t cap) {
    sc_model_params p = sc_model_default_params();
    p.n_threads = 1;
    p.dtype = dt;
    p.max_memory = cap;
    sc_model *m = NULL;
    sc_error err;
    CHECKF(sc_model_load(dir, &p, &m, &err) == SC_OK, "%s: %s", dir, err.msg);
    return m;
}

typedef struct advise_job {
    sc_model *m;
    pthread_barrier_t *start;
} advise_job;

static void *advise_thread(void *arg) {
    advise_job *j = arg;
    int64_t counts[64];
    for (int e = 0; e < 64; e++) counts[e] = 1;
    pthread_barrier_wait(j->start);
    for (int side = 0; side < 2; side++) {
        const sc_stack_weights *st = side ? &j->m->dec : &j->m->enc;
        for (int64_t l = 0; l < st->n_blocks; l++)
            if (st->blocks[l].sparse) sc_expert_store_prefetch(j->m->experts, st->blocks[l].moe_index, counts);
    }
    return NULL;
}

/* Two models (two stores, two locks), each prefetching its mapped experts
 * on its own thread from the same moment: the first madvise of the process
 * happens on both at once. Run first, before anything else has advised. */
static void test_first_advice_two_stores(void) {
    char dir[4400];
    snprintf(dir, sizeof dir, "%s/%s", fixture_path("models"), "e8_step2_untied_heads_ne_dmodel");
    sc_model *m[2] = {load(dir, SC_DTYPE_AS_STORED, 0), load(dir, SC_DTYPE_AS_STORED, 0)};
    if (m[0] && m[1]) {
        CHECK(m[0]->cfg.num_experts <= 64);
        pthread_barrier_t start;
        pthread_barrier_init(&start, NULL, 2);
        advise_job j[2] = {{m[0], &start}, {m[1], &start}};
        pthread_t th[2];
        bool ok[2];
        for (int i = 0; i < 2; i++) ok[i] = pthread_create(&th[i], NULL, advise_thread, &j[i]) == 0;
        for (int i = 0; i < 2; i++)
            if (ok[i]) pthread_join(th[i], NULL);
        CHECK(ok[0] && ok[1]);
        pthread_barrier_destroy(&start);
        /* advice only: nothing became resident */
        CHECK(sc_model_expert_resident_bytes(m[0]) == 0 && sc_model_expert_resident_bytes(m[1]) == 0);
    }
    sc_model_free(m[0]);
    sc_model_free(m[1]);
}

static void test_two_sessions(const char *name) {
    char dir[4400];
    snprintf(dir, sizeof dir, "%s/%s", fixture_path("models"), name);
    const sc_dtype dts[] = {SC_DTYPE_I8, SC_DTYPE_BF16};
    const size_t caps[] = {0, 1};
    for (size_t d = 0; d < 2; d++) {
        /* each prompt alone, unbounded */
        gen ref[2];
        for (int i = 0; i < 2; i++) {
            ref[i] = (gen){.m = load(dir, dts[d], 0), .which = i};
            if (ref[i].m) generate_thread(&ref[i]);
            CHECK(ref[i].status == SC_OK);
            sc_model_free(ref[i].m);
        }
        for (size_t c = 0; c < 2; c++) {
            sc_model *m = load(dir, dts[d], caps[c]);
            if (!m) continue;
            gen g[2];
            pthread_t th[2];
            for (int i = 0; i < 2; i++) {
                g[i] = (gen){.m = m, .which = i};
                CHECK(pthread_create(&th[i], NULL, generate_thread, &g[i]) == 0);
            }
            for (int i = 0; i < 2; i++) {
                pthread_join(th[i], NULL);
                bool same = g[i].status == SC_OK && ref[i].status == SC_OK && g[i].rows == ref[i].rows &&
                            g[i].len == ref[i].len && g[i].n_logits == ref[i].n_logits &&
                            !memcmp(g[i].ids, ref[i].ids, (size_t)(g[i].rows * g[i].len) * sizeof *g[i].ids) &&
                            !memcmp(g[i].logits, ref[i].logits, g[i].n_logits * sizeof *g[i].logits);
                CHECKF(same, "%s %s cap %zu session %d: differs from the run alone", name,
                       sc_dtype_label(dts[d]), caps[c], i);
                free(g[i].ids);
                free(g[i].logits);
            }
            if (caps[c]) CHECK(sc_model_expert_resident_bytes(m) <= caps[c]);
            printf("%s %s cap %zu: two sessions at once match the runs alone\n", name,
                   sc_dtype_label(dts[d]), caps[c]);
            sc_model_free(m);
        }
        for (int i = 0; i < 2; i++) {
            free(ref[i].ids);
            free(ref[i].logits);
        }
    }
}

int main(void) {
    kern = *sc_kernels_ref();
    kern.quantize_rows_q8 = hook_q8;
    for (int e = 0; e < E; e++)
        for (int i = 0; i < F * D; i++) {
            src[e][0][i] = (float)((e * 131 + i * 7) % 201 - 100) * 0.01f;
            src[e][1][i] = (float)((e * 17 + i * 13) % 199 - 99) * 0.02f;
        }
    make_want(SC_DTYPE_I8);
    test_first_advice_two_stores();
    test_parallel_conversion();
    test_same_expert();
    test_failed_conversion();
    test_stress(SC_DTYPE_I8, "q8");
    test_stress(SC_DTYPE_BF16, "bf16");
    test_two_sessions("e8_step2_untied_heads_ne_dmodel");
    test_two_sessions("t5vocab_e4_step2");
    for (int e = 0; e < E; e++)
        for (int i = 0; i < 2; i++) sc_free_aligned(want_owned[e][i]);
    TEST_MAIN_END();
}
