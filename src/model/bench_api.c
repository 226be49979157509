/* The public figures of `switchc bench` (switchc.h, "benchmark figures"):
 * what a loaded model computes on and how much work a token is (encoder
 * matmul flops, weight bytes a decode step reads), and this machine's
 * measured peaks (kernels/peak.h) to divide achieved rates by. Leaves out
 * the timing loops themselves: a client times sc_session_encode and
 * sc_session_decode_step on its own clock. */
#include "kernels/peak.h"
#include "model/expert_store.h"
#include "model/model.h"
#include "model/weights_convert.h"
#include "switchc.h"

#include <string.h>

const char *sc_model_kernel_table(const sc_model *m) { return m ? m->kern->name : NULL; }

sc_dtype sc_model_matrix_dtype(const sc_model *m) {
    if (!m) return SC_DTYPE_COUNT;
    return m->enc.n_blocks > 0 ? m->enc.blocks[0].self.q.dtype : m->lm_head.dtype;
}

sc_dtype sc_model_compute_dtype(const sc_model *m) {
    if (!m) return SC_DTYPE_COUNT;
    return m->params.dtype == SC_DTYPE_AS_STORED ? sc_model_matrix_dtype(m) : m->params.dtype;
}

const char *sc_model_compute_peak(const sc_model *m) {
    return m ? sc_peak_name(sc_peak_of_table(m->kern, sc_model_matrix_dtype(m))) : NULL;
}

double sc_peak_ops(const char *kind, int threads) {
    for (int k = 0; kind && k < SC_PEAK_COUNT; k++)
        if (!strcmp(kind, sc_peak_name((sc_peak_kind)k))) return sc_peak_measure((sc_peak_kind)k, threads);
    return 0;
}

double sc_read_bandwidth(size_t bytes, int threads, int passes) {
    return sc_read_bw_measure_rows(bytes, threads, passes);
}

static size_t mat_bytes(const sc_tensor *t) {
    if (!t->data) return 0;
    size_t n = (size_t)t->shape[0] * (size_t)sc_tensor_cols(t);
    return n * sc_dtype_size(t->dtype) + (t->scales ? (size_t)t->shape[0] * sizeof(float) : 0);
}
static double mat_params(const sc_tensor *t) {
    return t->data ? (double)t->shape[0] * (double)sc_tensor_cols(t) : 0.0;
}

double sc_model_encoder_flops(const sc_model *m, double tokens, double S) {
    if (!m) return 0;
    double per_tok = 0;
    for (int64_t i = 0; i < m->enc.n_blocks; i++) {
        const sc_block_weights *b = &m->enc.blocks[i];
        per_tok += mat_params(&b->self.q) + mat_params(&b->self.k) + mat_params(&b->self.v) + mat_params(&b->self.o);
        per_tok += 2.0 * S * (double)(m->cfg.num_heads * m->cfg.d_kv);
        if (b->sparse) {
            /* shapes only: the same whether or not the expert is converted */
            const sc_ffn_weights *e = sc_expert_store_get(m->experts, b->moe_index, 0);
            per_tok += mat_params(&e->wi) + mat_params(&e->wi1) + mat_params(&e->wo) +
                       (double)(m->cfg.num_experts * m->cfg.d_model);
        } else {
            per_tok += mat_params(&b->ff.wi) + mat_params(&b->ff.wi1) + mat_params(&b->ff.wo);
        }
    }
    return 2.0 * tokens * per_tok;
}

double sc_model_decode_bytes(const sc_model *m) {
    if (!m) return 0;
    double b = (double)mat_bytes(&m->lm_head);
    for (int64_t i = 0; i < m->dec.n_blocks; i++) {
        const sc_block_weights *k = &m->dec.blocks[i];
        b += (double)(mat_bytes(&k->self.q) + mat_bytes(&k->self.k) + mat_bytes(&k->self.v) + mat_bytes(&k->self.o) +
                      mat_bytes(&k->cross.q) + mat_bytes(&k->cross.o));
        /* An expert's views are as stored until it is first used, and the
         * converted copy after; the store's own count is the converted size
         * either way (with a compute dtype), which is what the decode reads. */
        if (k->sparse) b += (double)sc_expert_store_expert_bytes(m->experts, k->moe_index, 0);
        else b += (double)(mat_bytes(&k->ff.wi) + mat_bytes(&k->ff.wi1) + mat_bytes(&k->ff.wo));
    }
    return b;
}
