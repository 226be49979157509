/* Contexts: one thread pool shared by every session of the models loaded
 * with it. Through the public header only:
 *  - sessions start no threads (the process's thread count, read from
 *    /proc/self/task, stays the same while 8 sessions are created);
 *  - models loaded with one context share it, and the caller may free its
 *    handle while they still use the pool (reference counting);
 *  - a model loaded without one makes its own, of n_threads threads;
 *  - 4 threads generating at once, each with its own session on one model,
 *    get exactly what one thread gets alone (the pool passes from session
 *    to session; `make tsan` runs this test under ThreadSanitizer). */
#include "switchc.h"
#include "test_util.h"

#include <dirent.h>
#include <pthread.h>

#define CASE SC_FIXTURES_DIR "/models/e8_step2_untied_heads_ne_dmodel"
#define B 2
#define S 6
#define N_THREADS 4
#define ROUNDS 3

static const int32_t ids[B * S] = {5, 17, 33, 2, 9, 1, 44, 8, 19, 27, 3, 1};

static int thread_count(void) {
    DIR *d = opendir("/proc/self/task");
    if (!d) return -1;
    int n = 0;
    for (struct dirent *e; (e = readdir(d));) n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

/* Greedy ids of the fixed batch into out[B * 12]; 0 on success. */
static int generate(const sc_model *m, int32_t *out, int64_t *len) {
    sc_session *s;
    sc_error err;
    if (sc_session_new(m, &s, &err) != SC_OK) return -1;
    sc_generate_params p = sc_generate_default_params();
    p.max_new_tokens = 11;
    p.eos_token_id = SC_TOKEN_NONE; /* every row runs the full length */
    sc_generate_result *r = NULL;
    int rc = -1;
    if (sc_generate(s, ids, NULL, B, S, &p, &r, &err) == SC_OK) {
        int64_t rows;
        const int32_t *seq = sc_generate_result_sequences(r, &rows, len);
        if (rows == B && *len == 12) {
            memcpy(out, seq, sizeof(int32_t) * B * 12);
            rc = 0;
        }
    }
    sc_generate_result_free(r);
    sc_session_free(s);
    return rc;
}

typedef struct job {
    const sc_model *m;
    const int32_t *expect;
    int mismatches, failures;
} job;

static void *worker(void *arg) {
    job *j = arg;
    for (int r = 0; r < ROUNDS; r++) {
        int32_t got[B * 12];
        int64_t len;
        if (generate(j->m, got, &len)) j->failures++;
        else if (memcmp(got, j->expect, sizeof got)) j->mismatches++;
    }
    return NULL;
}

int main(void) {
    sc_error err;
    /* parameters */
    sc_context *bad = NULL;
    sc_context_params cp = sc_context_default_params();
    cp.n_threads = -1;
    CHECK(sc_context_new(&cp, &bad, &err) == SC_ERR_INVALID_ARG && bad == NULL);
    cp.n_threads = 1000;
    CHECK(sc_context_new(&cp, &bad, &err) == SC_ERR_INVALID_ARG && bad == NULL);
    sc_context_free(NULL);

    cp.n_threads = 2;
    sc_context *ctx = NULL;
    CHECK(sc_context_new(&cp, &ctx, &err) == SC_OK);
    if (!ctx) return 1;
    CHECK(sc_context_threads(ctx) == 2);

    sc_model_params mp = sc_model_default_params();
    mp.context = ctx;
    mp.kernels = "exact";
    sc_model *m1 = NULL, *m2 = NULL;
    CHECKF(sc_model_load(CASE, &mp, &m1, &err) == SC_OK, "%s", err.msg);
    CHECKF(sc_model_load(CASE, &mp, &m2, &err) == SC_OK, "%s", err.msg);
    if (!m1 || !m2) return 1;
    CHECK(sc_model_context(m1) == ctx && sc_model_context(m2) == ctx);
    sc_context_free(ctx); /* the models keep it alive */

    /* sessions start no thread */
    const int before = thread_count();
    sc_session *ss[8] = {0};
    for (int i = 0; i < 8; i++) CHECK(sc_session_new(i % 2 ? m2 : m1, &ss[i], &err) == SC_OK);
    CHECKF(before > 0 && thread_count() == before, "threads before %d, with 8 sessions %d", before,
           thread_count());
    for (int i = 0; i < 8; i++) sc_session_free(ss[i]);

    /* one thread alone, then N_THREADS at once on one model, and on two
     * models of the same context */
    int32_t expect[B * 12];
    int64_t len = 0;
    CHECK(generate(m1, expect, &len) == 0);
    job jobs[N_THREADS];
    pthread_t th[N_THREADS];
    for (int i = 0; i < N_THREADS; i++) {
        jobs[i] = (job){.m = i % 2 && i > 1 ? m2 : m1, .expect = expect};
        CHECK(pthread_create(&th[i], NULL, worker, &jobs[i]) == 0);
    }
    for (int i = 0; i < N_THREADS; i++) {
        pthread_join(th[i], NULL);
        CHECKF(jobs[i].failures == 0 && jobs[i].mismatches == 0, "thread %d: %d failed, %d differ", i,
               jobs[i].failures, jobs[i].mismatches);
    }
    sc_model_free(m1);
    sc_model_free(m2); /* the last reference: the pool stops here */

    /* a model without a context makes its own */
    mp = sc_model_default_params();
    mp.n_threads = 1;
    sc_model *m3 = NULL;
    CHECKF(sc_model_load(CASE, &mp, &m3, &err) == SC_OK, "%s", err.msg);
    if (m3) {
        CHECK(sc_model_context(m3) != NULL && sc_context_threads(sc_model_context(m3)) == 1);
        int32_t got[B * 12];
        CHECK(generate(m3, got, &len) == 0 && memcmp(got, expect, sizeof got) == 0);
    }
    sc_model_free(m3);
    TEST_MAIN_END();
}
