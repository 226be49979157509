/* The expert store: each expert of each sparse layer is its own unit with
 * its own weight views. The MoE layer asks the store for an expert's weights
 * right before using them, so that experts on demand, conversion per expert
 * and a bounded cache are changes to the store, never to the layer. */
#ifndef SC_MODEL_EXPERT_STORE_H
#define SC_MODEL_EXPERT_STORE_H

#include "switchc.h"

struct sc_ffn_weights;
typedef struct sc_expert_store sc_expert_store;

/* A store for n_layers sparse layers of n_experts experts each. */
sc_status sc_expert_store_new(int64_t n_layers, int64_t n_experts, sc_expert_store **out,
                              sc_error *err);
void sc_expert_store_free(sc_expert_store *s);

/* Registers the weights of expert e of sparse layer l (views copied). */
void sc_expert_store_set(sc_expert_store *s, int64_t layer, int64_t e,
                         const struct sc_ffn_weights *w);

/* Converts expert e of sparse layer l to compute dtype `to` (see
 * model/weights_convert.h); the store owns the converted buffers, one unit
 * per expert, so a lazy store can do this on first use. A no-op for views
 * already in `to`. */
struct sc_kernels;
sc_status sc_expert_store_convert(sc_expert_store *s, int64_t layer, int64_t e, sc_dtype to,
                                  const struct sc_kernels *k, sc_error *err);
/* Bytes of converted expert weights the store owns. */
size_t sc_expert_store_owned_bytes(const sc_expert_store *s);

/* The weights of expert e of sparse layer l, ready to compute with. */
const struct sc_ffn_weights *sc_expert_store_get(const sc_expert_store *s, int64_t layer, int64_t e);

#endif
