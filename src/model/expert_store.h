/* The expert store: each expert of each sparse layer is its own unit with
 * its own weight views and residency state. The MoE layer asks the store for
 * an expert's weights right before using them (acquire) and gives them back
 * right after (release), so experts on demand, conversion per expert and a
 * bounded cache are changes to the store, never to the layer.
 *
 * Residency: an expert is resident once acquired and until evicted. A
 * resident expert costs its bytes: the converted copy when the compute dtype
 * differs from the file's (converted lazily, on first use), else the size of
 * its mapped views (pages faulted in on first touch). With a byte limit the
 * least recently used unpinned experts are evicted: a converted copy is
 * freed, a mapped view's pages are dropped with madvise(MADV_DONTNEED) (the
 * file stays mapped; the next touch faults them back in). A pinned expert
 * (acquired, not yet released, by any session) is never evicted, so the
 * limit can be exceeded by what sessions use at the same moment.
 *
 * Thread safety: the store is shared by every session of a model; its
 * mutable state is behind one mutex, held only for bookkeeping. Conversion
 * runs outside it, so sessions converting different experts proceed at
 * once; a session wanting an expert another session is converting waits for
 * it (and counts a hit). A failed conversion leaves the expert not resident
 * and is reported to the session that ran it; a waiting session then tries
 * itself. An expert being converted is never evicted. */
#ifndef SC_MODEL_EXPERT_STORE_H
#define SC_MODEL_EXPERT_STORE_H

#include "switchc.h"

struct sc_ffn_weights;
struct sc_kernels;
struct sc_expert_stats;
typedef struct sc_expert_store sc_expert_store;

/* A store for n_layers sparse layers of n_experts experts each. */
sc_status sc_expert_store_new(int64_t n_layers, int64_t n_experts, sc_expert_store **out,
                              sc_error *err);
void sc_expert_store_free(sc_expert_store *s);

/* Registers the weights of expert e of sparse layer l (views copied). */
void sc_expert_store_set(sc_expert_store *s, int64_t layer, int64_t e,
                         const struct sc_ffn_weights *w);

/* After every expert is registered: experts compute in dtype `to`
 * (SC_DTYPE_AS_STORED: as registered), converted with k on first use;
 * resident expert bytes are bounded by max_bytes (0 = unbounded). Finds which
 * views lie in file mappings (only those are ever madvise'd). */
sc_status sc_expert_store_configure(sc_expert_store *s, sc_dtype to, const struct sc_kernels *k,
                                    size_t max_bytes, sc_error *err);

/* Converts expert e of sparse layer l to `to` now and keeps it resident
 * forever (eager conversion, no eviction). A no-op for views already in `to`. */
sc_status sc_expert_store_convert(sc_expert_store *s, int64_t layer, int64_t e, sc_dtype to,
                                  const struct sc_kernels *k, sc_error *err);

/* The weights of expert e of sparse layer l, pinned: resident (converted if
 * needed) until sc_expert_store_release. stats (may be NULL) counts the hit
 * or miss, bytes made resident and evictions under sparse layer `layer`. */
sc_status sc_expert_store_acquire(sc_expert_store *s, int64_t layer, int64_t e,
                                  struct sc_expert_stats *stats, const struct sc_ffn_weights **out,
                                  sc_error *err);
/* Unpins; evicts least recently used experts while over the limit. */
void sc_expert_store_release(sc_expert_store *s, int64_t layer, int64_t e,
                             struct sc_expert_stats *stats);

/* Hints that the experts with counts[e] > 0 of sparse layer `layer` are
 * about to be used: madvise(MADV_WILLNEED) on the mapped ranges of those not
 * resident, so the reads overlap. */
void sc_expert_store_prefetch(sc_expert_store *s, int64_t layer, const int64_t *counts);

/* Views as registered, or the converted ones while resident converted; for
 * shapes and sizes only (no residency, no pin). */
const struct sc_ffn_weights *sc_expert_store_get(const sc_expert_store *s, int64_t layer, int64_t e);

/* Bytes of converted expert weights the store owns now. */
size_t sc_expert_store_owned_bytes(const sc_expert_store *s);
/* Bytes of resident experts now, and the most ever. */
size_t sc_expert_store_resident_bytes(const sc_expert_store *s);
size_t sc_expert_store_peak_bytes(const sc_expert_store *s);
/* Bytes expert (layer, e) costs when resident (in the compute dtype). */
size_t sc_expert_store_expert_bytes(const sc_expert_store *s, int64_t layer, int64_t e);
/* Whether expert (layer, e) is resident; test hook. */
bool sc_expert_store_is_resident(const sc_expert_store *s, int64_t layer, int64_t e);

#endif
