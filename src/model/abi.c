/* The layout of the public structs as this build of the library sees it:
 * sizes and field offsets by name, for clients that mirror the structs
 * without a C compiler (the Python package's ctypes classes) to check their
 * copies against the library they load. It covers the structs such clients
 * mirror (the list in switchc.h) and the enums and scalars in them; a struct
 * a client starts to mirror gets its rows here. It leaves out the opaque
 * handles (their layout is nobody's business) and alignment, which a client
 * mirroring sizes and offsets gets right as a consequence. */
#include "switchc.h"

#include <stddef.h>

/* One row per field; a struct's rows are contiguous and in declaration
 * order, so clients can list the fields with sc_abi_field. */
typedef struct abi_field {
    const char *type;
    const char *field;
    size_t offset;
} abi_field;

typedef struct abi_type {
    const char *type;
    size_t size;
} abi_type;

#define F(T, f) {#T, #f, offsetof(T, f)}

static const abi_field fields[] = {
    F(sc_error, code), F(sc_error, offset), F(sc_error, msg),

    F(sc_token_piece, id), F(sc_token_piece, offset), F(sc_token_piece, len),

    F(sc_token_batch, ids), F(sc_token_batch, mask), F(sc_token_batch, B), F(sc_token_batch, S),
    F(sc_token_batch, lengths),

    F(sc_batch_params, add_eos), F(sc_batch_params, max_length), F(sc_batch_params, pad_to_max),
    F(sc_batch_params, pad_left),

    F(sc_context_params, n_threads),

    F(sc_model_params, context), F(sc_model_params, n_threads), F(sc_model_params, drop_policy),
    F(sc_model_params, format), F(sc_model_params, reference_kernels), F(sc_model_params, kernels),
    F(sc_model_params, dtype), F(sc_model_params, max_memory), F(sc_model_params, no_mmap),
    F(sc_model_params, progress), F(sc_model_params, progress_ctx),

    F(sc_expert_layer_stats, decoder), F(sc_expert_layer_stats, block), F(sc_expert_layer_stats, n_experts),
    F(sc_expert_layer_stats, tokens), F(sc_expert_layer_stats, dropped), F(sc_expert_layer_stats, hits),
    F(sc_expert_layer_stats, misses), F(sc_expert_layer_stats, evictions),
    F(sc_expert_layer_stats, bytes_read), F(sc_expert_layer_stats, tokens_per_expert),

    F(sc_forward_params, decoder_input_ids), F(sc_forward_params, keep_encoder_output),
    F(sc_forward_params, keep_router),

    F(sc_forward_losses, loss), F(sc_forward_losses, ce), F(sc_forward_losses, encoder_z_loss),
    F(sc_forward_losses, encoder_aux_loss), F(sc_forward_losses, decoder_z_loss),
    F(sc_forward_losses, decoder_aux_loss), F(sc_forward_losses, tokens),

    F(sc_router_output, decoder), F(sc_router_output, block), F(sc_router_output, B),
    F(sc_router_output, len), F(sc_router_output, E), F(sc_router_output, logits),
    F(sc_router_output, expert_index), F(sc_router_output, kept),

    F(sc_score_pair, input), F(sc_score_pair, input_len), F(sc_score_pair, target),
    F(sc_score_pair, target_len), F(sc_score_pair, token_logprobs),

    F(sc_generate_params, max_length), F(sc_generate_params, max_new_tokens),
    F(sc_generate_params, min_length), F(sc_generate_params, min_new_tokens),
    F(sc_generate_params, num_beams), F(sc_generate_params, num_return_sequences),
    F(sc_generate_params, length_penalty), F(sc_generate_params, early_stopping),
    F(sc_generate_params, do_sample), F(sc_generate_params, temperature), F(sc_generate_params, top_k),
    F(sc_generate_params, top_p), F(sc_generate_params, repetition_penalty),
    F(sc_generate_params, no_repeat_ngram_size), F(sc_generate_params, seed),
    F(sc_generate_params, prompt_keys), F(sc_generate_params, pad_token_id),
    F(sc_generate_params, eos_token_id), F(sc_generate_params, decoder_start_token_id),
    F(sc_generate_params, record_logits), F(sc_generate_params, on_token), F(sc_generate_params, user),
};

#undef F
#define T(t) {#t, sizeof(t)}

static const abi_type types[] = {
    T(sc_error), T(sc_token_piece), T(sc_token_batch), T(sc_batch_params), T(sc_context_params),
    T(sc_model_params), T(sc_expert_layer_stats), T(sc_forward_params), T(sc_forward_losses),
    T(sc_router_output), T(sc_score_pair), T(sc_generate_params),
    /* enums and scalars the structs hold: a client's idea of their size must match */
    T(sc_status), T(sc_dtype), T(sc_drop_policy), T(sc_format), T(sc_early_stopping), T(bool), T(size_t),
    T(sc_progress_fn), T(sc_token_callback),
};

#undef T

/* Plain byte comparison: no <string.h> needed, and NULL is "unknown". */
static int same(const char *a, const char *b) {
    if (!a || !b) return 0;
    while (*a && *a == *b) a++, b++;
    return *a == *b;
}

size_t sc_abi_sizeof(const char *type) {
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
        if (same(types[i].type, type)) return types[i].size;
    return (size_t)-1;
}

size_t sc_abi_offsetof(const char *type, const char *field) {
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
        if (same(fields[i].type, type) && same(fields[i].field, field)) return fields[i].offset;
    return (size_t)-1;
}

const char *sc_abi_field(const char *type, size_t index) {
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        if (!same(fields[i].type, type)) continue;
        if (index == 0) return fields[i].field;
        index--;
    }
    return NULL;
}
