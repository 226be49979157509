/* The teacher-forced forward pass with labels (HF
 * SwitchTransformersForConditionalGeneration.forward(input_ids,
 * attention_mask, labels, output_router_logits=True)): logits, the LM loss
 * and the router z-loss and load-balancing loss of each stack. */
#ifndef SC_MODEL_FORWARD_H
#define SC_MODEL_FORWARD_H

#include "model/session.h"

typedef struct sc_losses {
    double loss;          /* lm + z_coef*(enc_z+dec_z) + aux_coef*(enc_aux+dec_aux) */
    double loss_lm;       /* cross-entropy over labels != -100 */
    double enc_z, enc_aux, dec_z, dec_aux;
} sc_losses;

/* HF _shift_right: [start, labels[:-1]] per row, with -100 replaced by pad. */
void sc_shift_right(int32_t *dec_in, const int32_t *labels, int64_t B, int64_t T, int32_t start,
                    int32_t pad);

/* Runs encoder + decoder over ids[B,S] (mask may be NULL) and labels[B,T].
 * logits[B,T,V] may be NULL. Intermediates go to the session's trace. */
sc_status sc_forward_labels(sc_session *s, const int32_t *ids, const int32_t *mask, int64_t B,
                            int64_t S, const int32_t *labels, int64_t T, float *logits,
                            sc_losses *out, sc_error *err);

/* sc_forward_labels with the decoder input given: dec_in[B,T] (NULL =
 * shift_right(labels)); labels may then be NULL (loss_lm and loss are NaN). */
sc_status sc_forward_run(sc_session *s, const int32_t *ids, const int32_t *mask, int64_t B, int64_t S,
                         const int32_t *labels, const int32_t *dec_in, int64_t T, float *logits,
                         sc_losses *out, sc_error *err);

/* Router losses of one stack from its sparse layers' router logits and HF
 * expert indices, concatenated along the sequence: logits[B, P, E] and
 * expert[B, P] where P = layers * positions. */
double sc_router_z_loss(const float *logits, int64_t B, int64_t P, int64_t E);
double sc_router_aux_loss(const float *logits, const int32_t *expert, int64_t B, int64_t P, int64_t E);

#endif
