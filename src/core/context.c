/* Contexts (see context.h): a pool, the mutex that hands it to one session
 * at a time, and a reference count. */
#include "core/context.h"
#include "core/error.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

struct sc_context {
    sc_pool *pool; /* NULL when it could not be made: everything then runs serially */
    int n_threads;
    pthread_mutex_t lock;
    _Atomic int refs;
};

sc_context_params sc_context_default_params(void) {
    sc_context_params p = {0};
    return p;
}

sc_status sc_context_new(const sc_context_params *params, sc_context **out, sc_error *err) {
    if (!out) return sc_fail(err, SC_ERR_INVALID_ARG, SC_NO_OFFSET, "sc_context_new: NULL argument");
    sc_context_params p = params ? *params : sc_context_default_params();
    if (p.n_threads < 0 || p.n_threads > 256)
        return sc_fail(err, SC_ERR_INVALID_ARG, SC_NO_OFFSET,
                       "sc_context_new: n_threads %d is outside [0, 256]", p.n_threads);
    sc_context *c = calloc(1, sizeof *c);
    if (!c || pthread_mutex_init(&c->lock, NULL) != 0) {
        free(c);
        return sc_fail(err, SC_ERR_NOMEM, SC_NO_OFFSET, "context: out of memory");
    }
    /* A 1-thread pool has no workers but owns the kernels' scratch
     * (sc_pool_scratch), so even single-threaded work allocates nothing per
     * matmul. If it cannot be made, NULL runs everything serially. */
    c->pool = sc_pool_create(p.n_threads);
    c->n_threads = sc_pool_size(c->pool);
    atomic_init(&c->refs, 1);
    *out = c;
    return SC_OK;
}

sc_context *sc_context_ref(sc_context *c) {
    if (c) atomic_fetch_add(&c->refs, 1);
    return c;
}

void sc_context_free(sc_context *c) {
    if (!c || atomic_fetch_sub(&c->refs, 1) != 1) return;
    sc_pool_free(c->pool);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

int sc_context_threads(const sc_context *c) { return c ? c->n_threads : 0; }

sc_pool *sc_context_acquire(sc_context *c) {
    pthread_mutex_lock(&c->lock);
    return c->pool;
}

void sc_context_release(sc_context *c) { pthread_mutex_unlock(&c->lock); }
