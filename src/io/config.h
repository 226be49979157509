/* SwitchTransformersConfig (config.json) and GenerationConfig
 * (generation_config.json), with Hugging Face's defaults for absent keys. */
#ifndef SC_IO_CONFIG_H
#define SC_IO_CONFIG_H

#include "switchc.h"

struct sc_json;

typedef enum sc_act { SC_ACT_RELU = 0, SC_ACT_GELU_NEW, SC_ACT_GELU } sc_act;

/* Upper bound for every size read from config.json (dims, layer and expert
 * counts); larger values give SC_ERR_LIMIT, zero/negative SC_ERR_FORMAT. */
#define SC_CONFIG_MAX_DIM ((int64_t)1 << 20)

typedef struct sc_config {
    int64_t vocab_size;                  /* 32128 */
    int64_t d_model;                     /* 768 */
    int64_t d_kv;                        /* 64 */
    int64_t d_ff;                        /* 2048 */
    int64_t expert_capacity;             /* 64 */
    int64_t num_layers;                  /* 12: encoder blocks */
    int64_t num_sparse_encoder_layers;   /* 3 */
    int64_t num_decoder_layers;          /* = num_layers when absent */
    int64_t num_sparse_decoder_layers;   /* 3 */
    int64_t num_heads;                   /* 12 */
    int64_t num_experts;                 /* 8 */
    int64_t encoder_sparse_step;         /* derived as HF does, or read from the file */
    int64_t decoder_sparse_step;
    bool router_bias;                    /* false */
    double router_jitter_noise;          /* 0.01 */
    sc_dtype router_dtype;               /* float32 ("float32"|"bfloat16"|"float16") */
    bool router_ignore_padding_tokens;   /* false */
    int64_t relative_attention_num_buckets; /* 32 */
    int64_t relative_attention_max_distance; /* 128 */
    double dropout_rate;                 /* 0.1 */
    double layer_norm_epsilon;           /* 1e-6 */
    double router_z_loss_coef;           /* 0.001 */
    double router_aux_loss_coef;         /* 0.001 */
    double initializer_factor;           /* 1.0 */
    sc_act act;                          /* dense_act_fn: relu */
    bool gated;                          /* feed_forward_proj "gated-*" */
    bool tie_word_embeddings;            /* true */
    bool is_encoder_decoder;             /* true */
    bool use_cache;                      /* true */
    bool add_router_probs;               /* false */
    int64_t pad_token_id;                /* 0 */
    int64_t eos_token_id;                /* 1 */
    int64_t decoder_start_token_id;      /* 0 */
    /* Token ids above are -1 when the file says null (HF None). */
    sc_dtype torch_dtype;                /* storage hint: float32 (others ignored) */
} sc_config;

/* Generation defaults: generation_config.json, else HF's GenerationConfig
 * defaults (max_length 20, greedy). -1 = unset. */
typedef struct sc_generation_config {
    int64_t max_length;          /* 20 */
    int64_t max_new_tokens;      /* -1 */
    int64_t min_length;          /* 0 */
    int64_t min_new_tokens;      /* -1 */
    int64_t num_beams;           /* 1 */
    int64_t num_return_sequences;/* 1 */
    double length_penalty;       /* 1.0 */
    bool early_stopping;         /* false */
    bool early_stopping_never;   /* early_stopping was "never" (early_stopping is then false) */
    bool do_sample;              /* false */
    double temperature;          /* 1.0 */
    int64_t top_k;               /* 50 */
    double top_p;                /* 1.0 */
    double repetition_penalty;   /* 1.0 */
    int64_t no_repeat_ngram_size;/* 0 */
    int64_t pad_token_id;        /* from config */
    int64_t eos_token_id;        /* from config */
    int64_t decoder_start_token_id; /* from config */
    /* eos_token_id may be a list in the file: the first id is used.
     * Absent, null or empty ids fall back to the model config's. */
} sc_generation_config;

/* HF defaults (SwitchTransformersConfig()). */
void sc_config_defaults(sc_config *c);
/* Parses a config.json document; validates sizes (positive, bounded so
 * that products fit in size_t). `source` names the file in messages. */
sc_status sc_config_from_json(const struct sc_json *root, const char *source, sc_config *out,
                              sc_error *err);
sc_status sc_config_load(const char *path, sc_config *out, sc_error *err);

/* Whether block i of the encoder (decoder == false) or decoder is sparse:
 * HF's rule `i % step == 1 or step == 1`. */
bool sc_config_block_is_sparse(const sc_config *c, bool decoder, int64_t i);

void sc_generation_config_defaults(const sc_config *c, sc_generation_config *g);
/* Reads a parsed generation_config.json over the defaults. */
sc_status sc_generation_config_from_json(const struct sc_json *root, const char *source,
                                         const sc_config *c, sc_generation_config *out,
                                         sc_error *err);
/* Loads generation_config.json over the defaults; a missing file is fine
 * (returns SC_OK with defaults) only when path does not exist. */
sc_status sc_generation_config_load(const char *path, const sc_config *c,
                                    sc_generation_config *out, sc_error *err);

#endif
