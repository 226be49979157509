/* A persistent thread pool for splitting one operation into tasks.
 *
 * sc_pool_run(pool, fn, ctx, n) calls fn(ctx, t, n) once for every t in
 * 0..n-1, spread over the pool's threads; the calling thread takes tasks
 * too, and the call returns when every task has finished. Threads are
 * created once by sc_pool_create and reused: a decode step runs thousands of
 * small ops per second, so waking a worker must cost microseconds, not a
 * pthread_create. Idle workers spin briefly, then sleep on a condition
 * variable.
 *
 * A NULL pool runs every task serially on the calling thread. One pool runs
 * one operation at a time: sc_pool_run must not be called concurrently on
 * the same pool, nor from inside a task. Task order is unspecified.
 *
 * The pool also owns one scratch buffer for the operation it runs (packed
 * activations of a matmul, say), so hot paths need no malloc per call. */
#ifndef SC_CORE_POOL_H
#define SC_CORE_POOL_H

#include <stddef.h>

typedef struct sc_pool sc_pool;

/* Creates a pool of n_threads threads in all, the caller included (so
 * n_threads - 1 workers are started). n_threads <= 0 means: the environment
 * variable SWITCHC_THREADS if set to a positive integer, else the number of
 * physical cores this process may run on. Returns NULL if out of memory or
 * threads cannot be created. */
sc_pool *sc_pool_create(int n_threads);
/* Stops and joins the workers. NULL is a no-op. */
void sc_pool_free(sc_pool *pool);
/* Threads in the pool, the caller included; 1 for NULL. */
int sc_pool_size(const sc_pool *pool);
/* Runs fn(ctx, task, n_tasks) for task = 0..n_tasks-1; returns when all are done. */
void sc_pool_run(sc_pool *pool, void (*fn)(void *ctx, int task, int n_tasks), void *ctx, int n_tasks);

/* A 64-byte aligned buffer of at least `bytes` bytes, owned by the pool:
 * it grows as needed (contents are not kept when it does) and is freed with
 * the pool. Valid until the next sc_pool_scratch call or sc_pool_free; the
 * operation that runs on the pool owns it, so call it from the thread that
 * calls sc_pool_run, not from inside tasks. NULL if the pool is NULL or out
 * of memory (the old buffer is then kept for a later, smaller request). */
void *sc_pool_scratch(sc_pool *pool, size_t bytes);

/* Task `task`'s own pool for code that runs inside a task and takes a pool
 * itself (a whole matmul per task, say): a pool of one thread (no workers)
 * with its own scratch, owned by `pool`. Run sc_pool_size(pool) tasks and
 * let task t use lane t; no two tasks of a run then share a lane. NULL for
 * a NULL or one-thread pool, or when the lanes could not be made (callers
 * then pass NULL on: serial, with per-call scratch). */
sc_pool *sc_pool_lane(sc_pool *pool, int task);

/* The thread count sc_pool_create(0) would use. */
int sc_pool_default_threads(void);

#endif
