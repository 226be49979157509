/* Thread pool (see pool.h). How a run works, lock-free on the fast path:
 *
 * `word` packs (generation << 32 | next task index). The caller writes the
 * run's fn/ctx/n_tasks, zeroes `done`, then publishes a new generation with
 * index 0. Every thread (caller and workers) claims a task by a CAS that
 * bumps the index while the generation is unchanged; a CAS success on
 * (gen, i) with i < n_tasks proves the run of `gen` was still open, so the
 * fn/ctx read just before belong to that run. The caller returns when
 * `done` reaches n_tasks, so a worker that wakes late simply finds nothing
 * left and the caller never waits for a sleeping thread to wake up. Before
 * writing a new run's fields the caller sets the index to UINT32_MAX (same
 * generation), so a stale (gen, n_old) cannot be claimed against the new
 * n_tasks.
 *
 * Sleeping: a worker spins a while on `word`, then registers in `sleepers`
 * and waits on `wake`; the caller broadcasts only when someone sleeps. The
 * caller likewise spins, then waits on `finished`. Both hand-offs are the
 * store-then-load (Dekker) pattern on seq_cst atomics, re-checked under the
 * mutex, so no wake-up is lost.
 *
 * The scratch buffer (sc_pool_scratch) is plain memory of the caller's
 * thread: the op that owns the pool sizes it before sc_pool_run, and the
 * run's tasks write disjoint parts of it.
 *
 * Leaves out: nested runs, several concurrent callers, thread pinning. */
#define _GNU_SOURCE
#include "core/pool.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define cpu_relax() _mm_pause()
#elif defined(__aarch64__)
#define cpu_relax() __asm__ __volatile__("yield")
#else
#define cpu_relax() ((void)0)
#endif

/* About 50-100 us of pause instructions: longer than the gap between two ops
 * of a decode step, far shorter than a human-visible idle burn. */
#define SPIN_WORKER 20000
#define SPIN_CALLER 20000
#define MAX_THREADS 256

typedef void (*task_fn)(void *ctx, int task, int n_tasks);

struct sc_pool {
    int n_threads;
    pthread_t *threads; /* n_threads - 1 workers */
    _Atomic uint64_t word;
    _Atomic(task_fn) fn;
    _Atomic(void *) ctx;
    _Atomic int n_tasks;
    _Atomic int done;
    _Atomic int sleepers;
    _Atomic int caller_waiting;
    _Atomic int stop;
    pthread_mutex_t mu;
    pthread_cond_t wake;
    pthread_cond_t finished;
    void *scratch; /* sc_pool_scratch: 64-byte aligned, scratch_cap bytes */
    size_t scratch_cap;
    sc_pool **lanes; /* sc_pool_lane: n_threads one-thread pools, or NULL */
};

/* Claims and runs tasks of the current generation until none are left. */
static void drain(sc_pool *p) {
    for (;;) {
        uint64_t w = atomic_load(&p->word);
        task_fn fn = atomic_load_explicit(&p->fn, memory_order_relaxed);
        void *ctx = atomic_load_explicit(&p->ctx, memory_order_relaxed);
        int n = atomic_load_explicit(&p->n_tasks, memory_order_relaxed);
        uint32_t i = (uint32_t)w;
        if ((int64_t)i >= n) return;
        if (!atomic_compare_exchange_weak(&p->word, &w, w + 1)) continue;
        fn(ctx, (int)i, n);
        if (atomic_fetch_add(&p->done, 1) + 1 == n && atomic_load(&p->caller_waiting)) {
            pthread_mutex_lock(&p->mu);
            pthread_cond_signal(&p->finished);
            pthread_mutex_unlock(&p->mu);
        }
    }
}

static void *worker_main(void *arg) {
    sc_pool *p = arg;
    uint32_t seen = 0; /* generation last drained */
    for (;;) {
        int spins = 0;
        uint32_t gen;
        while ((gen = (uint32_t)(atomic_load(&p->word) >> 32)) == seen && !atomic_load(&p->stop)) {
            if (++spins < SPIN_WORKER) {
                cpu_relax();
                continue;
            }
            pthread_mutex_lock(&p->mu);
            atomic_fetch_add(&p->sleepers, 1);
            while ((uint32_t)(atomic_load(&p->word) >> 32) == seen && !atomic_load(&p->stop))
                pthread_cond_wait(&p->wake, &p->mu);
            atomic_fetch_sub(&p->sleepers, 1);
            pthread_mutex_unlock(&p->mu);
            spins = 0;
        }
        if (atomic_load(&p->stop)) return NULL;
        seen = gen;
        drain(p);
    }
}

/* Counts physical cores among the CPUs this process may use: a CPU counts
 * when it is the first listed of its hyper-thread siblings. */
int sc_pool_default_threads(void) {
    const char *env = getenv("SWITCHC_THREADS");
    if (env && *env) {
        char *end;
        long v = strtol(env, &end, 10);
        if (*end == '\0' && v > 0) return v > MAX_THREADS ? MAX_THREADS : (int)v;
    }
    int n = 0;
#ifdef __linux__
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0) {
        for (int c = 0; c < CPU_SETSIZE; c++) {
            if (!CPU_ISSET(c, &set)) continue;
            char path[128];
            snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu%d/topology/thread_siblings_list", c);
            FILE *f = fopen(path, "r");
            int first = c;
            if (f) {
                if (fscanf(f, "%d", &first) != 1) first = c;
                fclose(f);
            }
            /* the sibling that represents the core may be outside our affinity mask */
            if (first == c || !CPU_ISSET(first, &set)) n++;
        }
    }
#endif
    if (n <= 0) {
        long c = sysconf(_SC_NPROCESSORS_ONLN);
        n = c > 0 ? (int)c : 1;
    }
    return n > MAX_THREADS ? MAX_THREADS : n;
}

sc_pool *sc_pool_create(int n_threads) {
    if (n_threads <= 0) n_threads = sc_pool_default_threads();
    if (n_threads > MAX_THREADS) n_threads = MAX_THREADS;
    sc_pool *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->n_threads = 1;
    if (pthread_mutex_init(&p->mu, NULL)) goto fail_mu;
    if (pthread_cond_init(&p->wake, NULL)) goto fail_wake;
    if (pthread_cond_init(&p->finished, NULL)) goto fail_finished;
    if (n_threads > 1) {
        p->threads = calloc((size_t)n_threads - 1, sizeof *p->threads);
        if (!p->threads) goto fail_threads;
        for (int i = 0; i < n_threads - 1; i++) {
            if (pthread_create(&p->threads[i], NULL, worker_main, p)) {
                sc_pool_free(p); /* joins the ones started */
                return NULL;
            }
            p->n_threads++;
        }
        /* lanes are cheap (no threads, scratch grows on first use); without
         * them sc_pool_lane answers NULL */
        p->lanes = calloc((size_t)n_threads, sizeof *p->lanes);
        for (int i = 0; p->lanes && i < n_threads; i++)
            if (!(p->lanes[i] = sc_pool_create(1))) {
                for (int k = 0; k < i; k++) sc_pool_free(p->lanes[k]);
                free(p->lanes);
                p->lanes = NULL;
            }
    }
    return p;
fail_threads:
    pthread_cond_destroy(&p->finished);
fail_finished:
    pthread_cond_destroy(&p->wake);
fail_wake:
    pthread_mutex_destroy(&p->mu);
fail_mu:
    free(p);
    return NULL;
}

void sc_pool_free(sc_pool *p) {
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    atomic_store(&p->stop, 1);
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < p->n_threads - 1; i++) pthread_join(p->threads[i], NULL);
    free(p->threads);
    if (p->lanes)
        for (int i = 0; i < p->n_threads; i++) sc_pool_free(p->lanes[i]);
    free(p->lanes);
    pthread_cond_destroy(&p->finished);
    pthread_cond_destroy(&p->wake);
    pthread_mutex_destroy(&p->mu);
    free(p->scratch);
    free(p);
}

void *sc_pool_scratch(sc_pool *p, size_t bytes) {
    if (!p || bytes > SIZE_MAX / 2) return NULL;
    if (bytes <= p->scratch_cap && p->scratch) return p->scratch;
    /* grow by at least half again, so a slowly rising size reallocates rarely;
     * if that much is not available, try the exact size */
    size_t need = (bytes + 63) / 64 * 64, grown = p->scratch_cap + p->scratch_cap / 2;
    size_t want = need > grown ? need : (grown + 63) / 64 * 64;
    if (!want) want = need = 64;
    void *buf = aligned_alloc(64, want);
    if (!buf && want > need) buf = aligned_alloc(64, want = need);
    if (!buf) return NULL;
    free(p->scratch);
    p->scratch = buf;
    p->scratch_cap = want;
    return buf;
}

int sc_pool_size(const sc_pool *p) { return p ? p->n_threads : 1; }

sc_pool *sc_pool_lane(sc_pool *p, int task) {
    if (!p || !p->lanes || task < 0 || task >= p->n_threads) return NULL;
    return p->lanes[task];
}

void sc_pool_run(sc_pool *p, task_fn fn, void *ctx, int n_tasks) {
    if (n_tasks <= 0) return;
    if (!p || p->n_threads == 1 || n_tasks == 1) {
        for (int t = 0; t < n_tasks; t++) fn(ctx, t, n_tasks);
        return;
    }
    /* Close the finished run first: a thread that read (gen, n_old) must not
     * see the new n_tasks and claim index n_old of the old generation. */
    uint64_t gen = (atomic_load(&p->word) >> 32) + 1;
    atomic_store(&p->word, ((gen - 1) << 32) | UINT32_MAX);
    atomic_store_explicit(&p->fn, fn, memory_order_relaxed);
    atomic_store_explicit(&p->ctx, ctx, memory_order_relaxed);
    atomic_store_explicit(&p->n_tasks, n_tasks, memory_order_relaxed);
    atomic_store(&p->done, 0);
    atomic_store(&p->word, (uint64_t)(uint32_t)gen << 32); /* seq_cst: publishes the fields above */
    if (atomic_load(&p->sleepers) > 0) {
        pthread_mutex_lock(&p->mu);
        pthread_cond_broadcast(&p->wake);
        pthread_mutex_unlock(&p->mu);
    }
    drain(p);
    for (int spins = 0; atomic_load(&p->done) < n_tasks; spins++) {
        if (spins < SPIN_CALLER) {
            cpu_relax();
            continue;
        }
        pthread_mutex_lock(&p->mu);
        atomic_store(&p->caller_waiting, 1);
        while (atomic_load(&p->done) < n_tasks) pthread_cond_wait(&p->finished, &p->mu);
        atomic_store(&p->caller_waiting, 0);
        pthread_mutex_unlock(&p->mu);
    }
}
