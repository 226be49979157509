/* The layout table the library exports (sc_abi_sizeof, sc_abi_offsetof,
 * sc_abi_field) agrees with what this compiler makes of switchc.h: every
 * struct's size, every field's offset, the fields listed in declaration
 * order and each exactly once, and unknown or NULL names answered with
 * (size_t)-1 / NULL. A field added to a public struct without a row in
 * src/model/abi.c shows here as a size that the listed fields do not
 * account for. */
#include "switchc.h"
#include "test_util.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>

#define NONE ((size_t)-1)

#define SIZE(T) CHECKF(sc_abi_sizeof(#T) == sizeof(T), "%s: %zu, want %zu", #T, sc_abi_sizeof(#T), sizeof(T))
#define OFF(T, f)                                                                                  \
    CHECKF(sc_abi_offsetof(#T, #f) == offsetof(T, f), "%s.%s: %zu, want %zu", #T, #f,             \
           sc_abi_offsetof(#T, #f), offsetof(T, f))

/* The fields sc_abi_field lists for `type`: in offset order, distinct, each
 * with a known offset, and as many as `want`. Returns the end of the last
 * field (its offset plus `last_size`), to compare with the struct's size. */
static void check_listing(const char *type, size_t want, size_t last_size) {
    size_t n = 0, prev = 0;
    const char *name;
    while ((name = sc_abi_field(type, n)) != NULL) {
        size_t off = sc_abi_offsetof(type, name);
        CHECKF(off != NONE, "%s.%s is listed but has no offset", type, name);
        CHECKF(n == 0 || off > prev, "%s.%s (offset %zu) is not after the field before it (%zu)", type, name,
               off, prev);
        for (size_t j = 0; j < n; j++)
            CHECKF(strcmp(sc_abi_field(type, j), name) != 0, "%s.%s is listed twice", type, name);
        prev = off;
        n++;
    }
    CHECKF(n == want, "%s: %zu fields listed, want %zu", type, n, want);
    /* Padding after the last field is at most its alignment - 1 < 8 here. */
    size_t end = prev + last_size, size = sc_abi_sizeof(type);
    CHECKF(end <= size && size - end < 8, "%s: the last listed field ends at %zu, the struct is %zu bytes", type,
           end, size);
}

int main(void) {
    SIZE(sc_error);
    OFF(sc_error, code);
    OFF(sc_error, offset);
    OFF(sc_error, msg);
    check_listing("sc_error", 3, sizeof(((sc_error *)0)->msg));

    SIZE(sc_token_piece);
    OFF(sc_token_piece, id);
    OFF(sc_token_piece, offset);
    OFF(sc_token_piece, len);
    check_listing("sc_token_piece", 3, sizeof(uint32_t));

    SIZE(sc_token_batch);
    OFF(sc_token_batch, ids);
    OFF(sc_token_batch, mask);
    OFF(sc_token_batch, B);
    OFF(sc_token_batch, S);
    OFF(sc_token_batch, lengths);
    check_listing("sc_token_batch", 5, sizeof(int64_t *));

    SIZE(sc_batch_params);
    OFF(sc_batch_params, add_eos);
    OFF(sc_batch_params, max_length);
    OFF(sc_batch_params, pad_to_max);
    OFF(sc_batch_params, pad_left);
    check_listing("sc_batch_params", 4, sizeof(bool));

    SIZE(sc_context_params);
    OFF(sc_context_params, n_threads);
    check_listing("sc_context_params", 1, sizeof(int));

    SIZE(sc_model_params);
    OFF(sc_model_params, context);
    OFF(sc_model_params, n_threads);
    OFF(sc_model_params, drop_policy);
    OFF(sc_model_params, format);
    OFF(sc_model_params, reference_kernels);
    OFF(sc_model_params, kernels);
    OFF(sc_model_params, dtype);
    OFF(sc_model_params, max_memory);
    OFF(sc_model_params, no_mmap);
    OFF(sc_model_params, progress);
    OFF(sc_model_params, progress_ctx);
    check_listing("sc_model_params", 11, sizeof(void *));

    SIZE(sc_expert_layer_stats);
    OFF(sc_expert_layer_stats, decoder);
    OFF(sc_expert_layer_stats, block);
    OFF(sc_expert_layer_stats, n_experts);
    OFF(sc_expert_layer_stats, tokens);
    OFF(sc_expert_layer_stats, dropped);
    OFF(sc_expert_layer_stats, hits);
    OFF(sc_expert_layer_stats, misses);
    OFF(sc_expert_layer_stats, evictions);
    OFF(sc_expert_layer_stats, bytes_read);
    OFF(sc_expert_layer_stats, tokens_per_expert);
    check_listing("sc_expert_layer_stats", 10, sizeof(void *));

    SIZE(sc_forward_params);
    OFF(sc_forward_params, decoder_input_ids);
    OFF(sc_forward_params, keep_encoder_output);
    OFF(sc_forward_params, keep_router);
    check_listing("sc_forward_params", 3, sizeof(bool));

    SIZE(sc_forward_losses);
    OFF(sc_forward_losses, loss);
    OFF(sc_forward_losses, ce);
    OFF(sc_forward_losses, encoder_z_loss);
    OFF(sc_forward_losses, encoder_aux_loss);
    OFF(sc_forward_losses, decoder_z_loss);
    OFF(sc_forward_losses, decoder_aux_loss);
    OFF(sc_forward_losses, tokens);
    check_listing("sc_forward_losses", 7, sizeof(int64_t));

    SIZE(sc_router_output);
    OFF(sc_router_output, decoder);
    OFF(sc_router_output, block);
    OFF(sc_router_output, B);
    OFF(sc_router_output, len);
    OFF(sc_router_output, E);
    OFF(sc_router_output, logits);
    OFF(sc_router_output, expert_index);
    OFF(sc_router_output, kept);
    check_listing("sc_router_output", 8, sizeof(void *));

    SIZE(sc_score_pair);
    OFF(sc_score_pair, input);
    OFF(sc_score_pair, input_len);
    OFF(sc_score_pair, target);
    OFF(sc_score_pair, target_len);
    OFF(sc_score_pair, token_logprobs);
    check_listing("sc_score_pair", 5, sizeof(void *));

    SIZE(sc_generate_params);
    OFF(sc_generate_params, max_length);
    OFF(sc_generate_params, max_new_tokens);
    OFF(sc_generate_params, min_length);
    OFF(sc_generate_params, min_new_tokens);
    OFF(sc_generate_params, num_beams);
    OFF(sc_generate_params, num_return_sequences);
    OFF(sc_generate_params, length_penalty);
    OFF(sc_generate_params, early_stopping);
    OFF(sc_generate_params, do_sample);
    OFF(sc_generate_params, temperature);
    OFF(sc_generate_params, top_k);
    OFF(sc_generate_params, top_p);
    OFF(sc_generate_params, repetition_penalty);
    OFF(sc_generate_params, no_repeat_ngram_size);
    OFF(sc_generate_params, seed);
    OFF(sc_generate_params, prompt_keys);
    OFF(sc_generate_params, pad_token_id);
    OFF(sc_generate_params, eos_token_id);
    OFF(sc_generate_params, decoder_start_token_id);
    OFF(sc_generate_params, record_logits);
    OFF(sc_generate_params, on_token);
    OFF(sc_generate_params, user);
    check_listing("sc_generate_params", 22, sizeof(void *));

    SIZE(sc_status);
    SIZE(sc_dtype);
    SIZE(sc_drop_policy);
    SIZE(sc_format);
    SIZE(sc_early_stopping);
    SIZE(bool);
    SIZE(size_t);
    SIZE(sc_progress_fn);
    SIZE(sc_token_callback);

    /* Unknown names, NULL, and a field name asked of the wrong struct. */
    CHECK(sc_abi_sizeof("sc_no_such_struct") == NONE);
    CHECK(sc_abi_sizeof("") == NONE);
    CHECK(sc_abi_sizeof(NULL) == NONE);
    CHECK(sc_abi_sizeof("sc_error ") == NONE);
    CHECK(sc_abi_sizeof("sc_err") == NONE);
    CHECK(sc_abi_offsetof("sc_error", "no_such_field") == NONE);
    CHECK(sc_abi_offsetof("sc_error", NULL) == NONE);
    CHECK(sc_abi_offsetof(NULL, "code") == NONE);
    CHECK(sc_abi_offsetof("sc_error", "seed") == NONE);
    CHECK(sc_abi_offsetof("sc_no_such_struct", "code") == NONE);
    CHECK(sc_abi_field("sc_no_such_struct", 0) == NULL);
    CHECK(sc_abi_field(NULL, 0) == NULL);
    CHECK(sc_abi_field("sc_status", 0) == NULL); /* an enum has a size, not fields */
    CHECK(sc_abi_field("sc_error", 3) == NULL);
    CHECK(sc_abi_field("sc_error", (size_t)-1) == NULL);
    const char *first = sc_abi_field("sc_generate_params", 0);
    CHECK(first && strcmp(first, "max_length") == 0);

    TEST_MAIN_END();
}
