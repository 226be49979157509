/* Thread pool: every task runs exactly once, for n_tasks below, equal to and
 * above the thread count; many tiny runs in a row (the decode pattern); runs
 * after the workers fell asleep; the NULL pool; SWITCHC_THREADS; the pool's
 * scratch buffer (aligned, grows, kept for smaller requests, tasks can fill
 * disjoint parts of it). */
#include "core/pool.h"
#include "test_util.h"

#include <stdatomic.h>
#include <stdint.h>
#include <unistd.h>

typedef struct {
    _Atomic int hits[1024];
    _Atomic int calls;
    int n_expected;
    _Atomic int bad_n;
} count_ctx;

static void count_task(void *vctx, int task, int n_tasks) {
    count_ctx *c = vctx;
    if (n_tasks != c->n_expected || task < 0 || task >= n_tasks) atomic_fetch_add(&c->bad_n, 1);
    else atomic_fetch_add(&c->hits[task], 1);
    atomic_fetch_add(&c->calls, 1);
}

/* Each call has its own counters: the lane test runs it from several tasks at once. */
static int run_and_check(sc_pool *pool, int n) {
    count_ctx *c = calloc(1, sizeof *c);
    if (!c) return 0;
    c->n_expected = n;
    sc_pool_run(pool, count_task, c, n);
    int ok = !atomic_load(&c->bad_n) && atomic_load(&c->calls) == (n > 0 ? n : 0);
    for (int i = 0; i < n && ok; i++) ok = atomic_load(&c->hits[i]) == 1;
    free(c);
    return ok;
}

/* a task that takes a while, so several threads really overlap */
static void slow_task(void *vctx, int task, int n_tasks) {
    volatile double *sums = vctx;
    double s = 0;
    for (int i = 0; i < 200000; i++) s += (double)i * 1e-9;
    sums[task] = s;
}

typedef struct {
    unsigned char *buf;
    size_t bytes;
} fill_ctx;

static void fill_task(void *vctx, int task, int n_tasks) {
    fill_ctx *c = vctx;
    size_t lo = c->bytes * (size_t)task / (size_t)n_tasks, hi = c->bytes * (size_t)(task + 1) / (size_t)n_tasks;
    for (size_t i = lo; i < hi; i++) c->buf[i] = (unsigned char)(i * 7 + 3);
}

static void test_scratch(void) {
    CHECK(sc_pool_scratch(NULL, 100) == NULL);
    sc_pool *pool = sc_pool_create(2);
    CHECK(pool != NULL);
    if (!pool) return;
    unsigned char *a = sc_pool_scratch(pool, 0);
    CHECK(a != NULL && ((uintptr_t)a & 63) == 0);
    a = sc_pool_scratch(pool, 1000);
    CHECK(a != NULL && ((uintptr_t)a & 63) == 0);
    if (a) memset(a, 1, 1000);
    CHECK(sc_pool_scratch(pool, 10) == a && sc_pool_scratch(pool, 1000) == a); /* no shrinking */
    size_t sizes[] = {4096, 4097, 100000, 1 << 22};
    int ok = 1;
    for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++) {
        fill_ctx c = {sc_pool_scratch(pool, sizes[s]), sizes[s]};
        ok &= c.buf != NULL && ((uintptr_t)c.buf & 63) == 0;
        if (!c.buf) continue;
        sc_pool_run(pool, fill_task, &c, 5);
        for (size_t i = 0; i < c.bytes; i++) ok &= c.buf[i] == (unsigned char)(i * 7 + 3);
    }
    CHECK(ok);
    CHECK(sc_pool_scratch(pool, (size_t)-1) == NULL); /* impossible size: NULL, old buffer kept */
    unsigned char *b = sc_pool_scratch(pool, 4096);
    CHECK(b != NULL);
    if (b) b[4095] = 1;
    sc_pool_free(pool);
}

/* Lanes: one single-threaded pool per task of a run, each with its own
 * scratch; none for NULL or one-thread pools. */
typedef struct {
    sc_pool *pool;
    void *scratch[3];
    _Atomic int ok;
} lane_ctx;

static void lane_task(void *vctx, int task, int n_tasks) {
    lane_ctx *c = vctx;
    sc_pool *lane = sc_pool_lane(c->pool, task);
    int ok = lane && sc_pool_size(lane) == 1 && n_tasks == 3;
    /* a task may run pool code on its lane (inline: one thread) */
    if (ok) ok = run_and_check(lane, 5);
    c->scratch[task] = ok ? sc_pool_scratch(lane, 4096) : NULL;
    if (!c->scratch[task]) ok = 0;
    else memset(c->scratch[task], task, 4096);
    if (!ok) atomic_store(&c->ok, 0);
}

static void test_lanes(void) {
    CHECK(sc_pool_lane(NULL, 0) == NULL);
    sc_pool *one = sc_pool_create(1);
    CHECK(one && sc_pool_lane(one, 0) == NULL);
    sc_pool_free(one);
    sc_pool *p = sc_pool_create(3);
    CHECK(p != NULL);
    if (!p) return;
    CHECK(sc_pool_lane(p, -1) == NULL && sc_pool_lane(p, 3) == NULL);
    CHECK(sc_pool_lane(p, 0) != sc_pool_lane(p, 1) && sc_pool_lane(p, 1) != sc_pool_lane(p, 2));
    lane_ctx c = {.pool = p};
    atomic_init(&c.ok, 1);
    sc_pool_run(p, lane_task, &c, 3);
    CHECK(atomic_load(&c.ok));
    int distinct = c.scratch[0] != c.scratch[1] && c.scratch[1] != c.scratch[2] && c.scratch[0] != c.scratch[2];
    CHECK(distinct);
    for (int t = 0; t < 3 && distinct; t++) CHECK(c.scratch[t] && ((unsigned char *)c.scratch[t])[4095] == t);
    sc_pool_free(p);
}

int main(void) {
    /* NULL pool: serial */
    CHECK(sc_pool_size(NULL) == 1);
    CHECK(run_and_check(NULL, 5));
    CHECK(run_and_check(NULL, 0));
    sc_pool_free(NULL);

    for (int threads = 1; threads <= 4; threads++) {
        sc_pool *pool = sc_pool_create(threads);
        CHECK(pool != NULL);
        if (!pool) continue;
        CHECK(sc_pool_size(pool) == threads);
        int ok = 1;
        int sizes[] = {0, 1, 2, 3, 4, 5, 7, 64, 1000};
        for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) ok &= run_and_check(pool, sizes[i]);
        CHECKF(ok, "threads=%d", threads);
        /* many tiny runs in a row */
        ok = 1;
        for (int r = 0; r < 20000; r++) ok &= run_and_check(pool, 1 + r % 5);
        CHECKF(ok, "tiny runs, threads=%d", threads);
        /* runs with real work overlap */
        double sums[16];
        sc_pool_run(pool, slow_task, sums, 16);
        ok = 1;
        for (int i = 0; i < 16; i++) ok &= sums[i] == sums[0] && sums[0] > 0;
        CHECK(ok);
        /* workers fall asleep, then a run must still wake them (or finish without them) */
        usleep(200000);
        CHECK(run_and_check(pool, 8));
        usleep(200000);
        CHECK(run_and_check(pool, 1));
        sc_pool_free(pool);
    }

    test_scratch();
    test_lanes();

    /* default size and the environment override */
    CHECK(sc_pool_default_threads() >= 1);
    setenv("SWITCHC_THREADS", "3", 1);
    CHECK(sc_pool_default_threads() == 3);
    sc_pool *p3 = sc_pool_create(0);
    CHECK(p3 && sc_pool_size(p3) == 3);
    CHECK(run_and_check(p3, 10));
    sc_pool_free(p3);
    setenv("SWITCHC_THREADS", "zero", 1);
    CHECK(sc_pool_default_threads() >= 1);
    unsetenv("SWITCHC_THREADS");
    TEST_MAIN_END();
}
