/* Contexts: one thread pool shared by every session of the models loaded
 * with the context (switchc.h, sc_context).
 *
 * A pool runs one operation at a time, and its scratch buffer belongs to the
 * operation that sized it, so a session takes the pool for a whole unit of
 * work (an encoder pass, a decoder step, a teacher-forced forward) with
 * sc_context_acquire and gives it back with sc_context_release. Sessions on
 * other threads wait meanwhile; with every core already busy in the pool,
 * running their work side by side would not finish it sooner.
 *
 * The context is reference-counted: the caller's handle and every model
 * loaded with it hold a reference, so a caller may free its handle while
 * models still use the pool. */
#ifndef SC_CORE_CONTEXT_H
#define SC_CORE_CONTEXT_H

#include "switchc.h"
#include "core/pool.h"

/* Adds a reference (a model keeping the context); returns c. */
sc_context *sc_context_ref(sc_context *c);
/* Takes the pool for one unit of work (blocks while another thread holds
 * it); the pool may be NULL (single-threaded work with per-call scratch). */
sc_pool *sc_context_acquire(sc_context *c);
void sc_context_release(sc_context *c);

#endif
