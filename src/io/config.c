/* config.json (SwitchTransformersConfig) and generation_config.json
 * (GenerationConfig), reproducing transformers 4.41's defaults and
 * derivations:
 *  - num_decoder_layers absent or null -> num_layers.
 *  - encoder_sparse_step = num_layers // num_sparse_encoder_layers when that
 *    count is > 0, else num_layers (HF's "HACK" that yields block 1 sparse
 *    only if i % step == 1); same for the decoder. A step stored in the file
 *    overrides the derived one, as HF's kwargs do. A step of 0 means no
 *    sparse blocks (the modeling code's `if sparse_step > 0`).
 *  - Activation: dense_act_fn ("relu", "gelu_new", "gelu"), which is what
 *    the 4.41 Switch model uses. HF's Switch config does not interpret
 *    feed_forward_proj; when present we parse it T5-style ("relu",
 *    "gated-gelu" -> gated + gelu_new) into `gated` (and into `act` when
 *    dense_act_fn is absent) so the loader can refuse gated checkpoints.
 *  - Token ids may be null (HF None): stored as -1.
 * Every size is validated (positive, <= SC_CONFIG_MAX_DIM, products
 * overflow-checked) so later allocations cannot be absurd. Keys we do not
 * use (architectures, torch_dtype's siblings, ...) are ignored.
 * Not handled: bos_token_id, T5-only keys, generation strategies beyond
 * the fields of sc_generation_config. */
#include "io/config.h"
#include "core/checked.h"
#include "core/error.h"
#include "io/json.h"

#include <math.h>
#include <string.h>

/* Config files are tiny; anything bigger is not a config. */
#define CONFIG_MAX_BYTES ((size_t)16 << 20)

void sc_config_defaults(sc_config *c) {
    memset(c, 0, sizeof *c);
    c->vocab_size = 32128;
    c->d_model = 768;
    c->d_kv = 64;
    c->d_ff = 2048;
    c->expert_capacity = 64;
    c->num_layers = 12;
    c->num_sparse_encoder_layers = 3;
    c->num_decoder_layers = 12;
    c->num_sparse_decoder_layers = 3;
    c->num_heads = 12;
    c->num_experts = 8;
    c->encoder_sparse_step = 4; /* 12 // 3 */
    c->decoder_sparse_step = 4;
    c->router_bias = false;
    c->router_jitter_noise = 0.01;
    c->router_dtype = SC_DTYPE_F32;
    c->router_ignore_padding_tokens = false;
    c->relative_attention_num_buckets = 32;
    c->relative_attention_max_distance = 128;
    c->dropout_rate = 0.1;
    c->layer_norm_epsilon = 1e-6;
    c->router_z_loss_coef = 0.001;
    c->router_aux_loss_coef = 0.001;
    c->initializer_factor = 1.0;
    c->act = SC_ACT_RELU;
    c->gated = false;
    c->tie_word_embeddings = true;
    c->is_encoder_decoder = true;
    c->use_cache = true;
    c->add_router_probs = false;
    c->pad_token_id = 0;
    c->eos_token_id = 1;
    c->decoder_start_token_id = 0;
    c->torch_dtype = SC_DTYPE_F32;
}

/* ------------------------------------------------------ typed key readers */

typedef struct reader {
    const sc_json *obj;
    const char *src;
    sc_error *err;
} reader;

static const char *type_name(const sc_json *v) {
    switch (sc_json_type_of(v)) {
    case SC_JSON_NULL: return "null";
    case SC_JSON_BOOL: return "a boolean";
    case SC_JSON_NUMBER: return "a number";
    case SC_JSON_STRING: return "a string";
    case SC_JSON_ARRAY: return "an array";
    case SC_JSON_OBJECT: return "an object";
    }
    return "?";
}

static sc_status wrong_type(reader *r, const char *key, const sc_json *v, const char *want) {
    size_t o = sc_json_offset(v);
    return sc_fail(r->err, SC_ERR_FORMAT, o, "%s: byte %zu: key '%s': expected %s, got %s", r->src, o, key,
                   want, type_name(v));
}

/* Integer in [lo, hi]; absent leaves *out alone. null is accepted (and
 * leaves *out alone) only when null_ok. */
static sc_status get_int(reader *r, const char *key, int64_t lo, int64_t hi, bool null_ok, int64_t *out,
                         bool *present) {
    const sc_json *v = sc_json_get(r->obj, key);
    if (present) *present = false;
    if (!v || (null_ok && sc_json_type_of(v) == SC_JSON_NULL)) return SC_OK;
    int64_t x;
    size_t o = sc_json_offset(v);
    if (!sc_json_int(v, &x)) {
        double d;
        if (sc_json_number(v, &d)) {
            /* A number, but not an int64: fractional or out of range. */
            if (d == floor(d) || !isfinite(d))
                return sc_fail(r->err, SC_ERR_LIMIT, o, "%s: byte %zu: key '%s': %g is out of range", r->src,
                               o, key, d);
            return sc_fail(r->err, SC_ERR_FORMAT, o, "%s: byte %zu: key '%s': expected an integer, got %g",
                           r->src, o, key, d);
        }
        return wrong_type(r, key, v, "an integer");
    }
    if (x < lo || x > hi) {
        sc_status code = (x < lo && x <= 0) ? SC_ERR_FORMAT : SC_ERR_LIMIT;
        return sc_fail(r->err, code, o, "%s: byte %zu: key '%s': %lld is outside [%lld, %lld]", r->src, o, key,
                       (long long)x, (long long)lo, (long long)hi);
    }
    *out = x;
    if (present) *present = true;
    return SC_OK;
}

static sc_status get_double(reader *r, const char *key, double lo, double hi, double *out) {
    const sc_json *v = sc_json_get(r->obj, key);
    if (!v) return SC_OK;
    double d;
    if (!sc_json_number(v, &d)) return wrong_type(r, key, v, "a number");
    size_t o = sc_json_offset(v);
    if (!isfinite(d) || d < lo || d > hi)
        return sc_fail(r->err, SC_ERR_FORMAT, o, "%s: byte %zu: key '%s': %g is outside [%g, %g]", r->src, o,
                       key, d, lo, hi);
    *out = d;
    return SC_OK;
}

static sc_status get_bool(reader *r, const char *key, bool *out) {
    const sc_json *v = sc_json_get(r->obj, key);
    if (!v) return SC_OK;
    if (!sc_json_bool(v, out)) return wrong_type(r, key, v, "a boolean");
    return SC_OK;
}

/* String value or NULL when absent; *st set on a type error. */
static const char *get_string(reader *r, const char *key, const sc_json **node, sc_status *st) {
    const sc_json *v = sc_json_get(r->obj, key);
    *node = v;
    *st = SC_OK;
    if (!v) return NULL;
    const char *s = sc_json_string(v, NULL);
    if (!s) *st = wrong_type(r, key, v, "a string");
    return s;
}

/* Token id: integer >= 0, or null (-1). A list (HF allows several eos ids)
 * is accepted when list_ok: its first element is used. */
static sc_status get_token_id(reader *r, const char *key, bool list_ok, int64_t *out) {
    const sc_json *v = sc_json_get(r->obj, key);
    if (!v) return SC_OK;
    if (sc_json_type_of(v) == SC_JSON_NULL) {
        *out = -1;
        return SC_OK;
    }
    if (list_ok && sc_json_type_of(v) == SC_JSON_ARRAY) {
        if (sc_json_len(v) == 0) {
            *out = -1;
            return SC_OK;
        }
        for (size_t i = 0; i < sc_json_len(v); i++) {
            int64_t x;
            const sc_json *e = sc_json_at(v, i);
            size_t o = sc_json_offset(e);
            if (!sc_json_int(e, &x) || x < 0 || x > INT32_MAX)
                return sc_fail(r->err, SC_ERR_FORMAT, o, "%s: byte %zu: key '%s': element %zu is not a token id",
                               r->src, o, key, i);
            if (i == 0) *out = x;
        }
        return SC_OK;
    }
    return get_int(r, key, 0, INT32_MAX, false, out, NULL);
}

static bool parse_act(const char *s, sc_act *out) {
    if (strcmp(s, "relu") == 0) *out = SC_ACT_RELU;
    else if (strcmp(s, "gelu_new") == 0) *out = SC_ACT_GELU_NEW;
    else if (strcmp(s, "gelu") == 0) *out = SC_ACT_GELU;
    else return false;
    return true;
}

static bool parse_float_dtype(const char *s, sc_dtype *out) {
    if (strcmp(s, "float32") == 0) *out = SC_DTYPE_F32;
    else if (strcmp(s, "bfloat16") == 0) *out = SC_DTYPE_BF16;
    else if (strcmp(s, "float16") == 0) *out = SC_DTYPE_F16;
    else return false;
    return true;
}

#define TRY(x)                          \
    do {                                \
        sc_status st_ = (x);            \
        if (st_ != SC_OK) return st_;   \
    } while (0)

static sc_status check_products(const sc_config *c, const char *src, sc_error *err) {
    /* Parameter count of the largest pieces, in bytes of fp32: every later
     * allocation is bounded by these. */
    size_t inner, emb, expert, per_layer, layers, total;
    bool ok = sc_mul_size((size_t)c->num_heads, (size_t)c->d_kv, &inner) &&
              sc_mul3_size((size_t)c->vocab_size, (size_t)c->d_model, 4, &emb) &&
              sc_mul3_size((size_t)c->d_model, (size_t)c->d_ff, 3, &expert) &&
              sc_mul_size(expert, (size_t)c->num_experts, &per_layer) &&
              sc_add_size((size_t)c->num_layers, (size_t)c->num_decoder_layers, &layers) &&
              sc_mul3_size(per_layer, layers, 4, &total) && sc_add_size(total, emb, &total) &&
              sc_mul3_size(inner, (size_t)c->d_model, 4 * 4, &per_layer) &&
              sc_mul_size(per_layer, layers, &per_layer) && sc_add_size(total, per_layer, &total);
    if (!ok || inner > ((size_t)1 << 24))
        return sc_fail(err, SC_ERR_LIMIT, SC_NO_OFFSET,
                       "%s: key 'num_experts': sizes (d_model %lld, d_ff %lld, num_experts %lld, num_heads %lld, "
                       "d_kv %lld, layers %lld+%lld) overflow",
                       src, (long long)c->d_model, (long long)c->d_ff, (long long)c->num_experts,
                       (long long)c->num_heads, (long long)c->d_kv, (long long)c->num_layers,
                       (long long)c->num_decoder_layers);
    return SC_OK;
}

sc_status sc_config_from_json(const sc_json *root, const char *source, sc_config *out, sc_error *err) {
    const char *src = source ? source : "config.json";
    if (!out) return sc_fail(err, SC_ERR_INVALID_ARG, SC_NO_OFFSET, "%s: NULL output", src);
    if (sc_json_type_of(root) != SC_JSON_OBJECT) {
        size_t o = root ? sc_json_offset(root) : 0;
        return sc_fail(err, SC_ERR_FORMAT, o, "%s: byte %zu: expected a JSON object at the top level", src, o);
    }
    reader r = {root, src, err};
    sc_config c;
    sc_config_defaults(&c);
    const int64_t M = SC_CONFIG_MAX_DIM;

    TRY(get_int(&r, "vocab_size", 1, M, false, &c.vocab_size, NULL));
    TRY(get_int(&r, "d_model", 1, M, false, &c.d_model, NULL));
    TRY(get_int(&r, "d_kv", 1, M, false, &c.d_kv, NULL));
    TRY(get_int(&r, "d_ff", 1, M, false, &c.d_ff, NULL));
    TRY(get_int(&r, "expert_capacity", 1, INT32_MAX, false, &c.expert_capacity, NULL));
    TRY(get_int(&r, "num_layers", 1, M, false, &c.num_layers, NULL));
    TRY(get_int(&r, "num_sparse_encoder_layers", 0, M, false, &c.num_sparse_encoder_layers, NULL));
    bool has_dec = false;
    TRY(get_int(&r, "num_decoder_layers", 0, M, true, &c.num_decoder_layers, &has_dec));
    if (!has_dec) c.num_decoder_layers = c.num_layers; /* HF: default = symmetry */
    TRY(get_int(&r, "num_sparse_decoder_layers", 0, M, false, &c.num_sparse_decoder_layers, NULL));
    TRY(get_int(&r, "num_heads", 1, M, false, &c.num_heads, NULL));
    TRY(get_int(&r, "num_experts", 1, M, false, &c.num_experts, NULL));

    c.encoder_sparse_step = c.num_sparse_encoder_layers > 0 ? c.num_layers / c.num_sparse_encoder_layers
                                                            : c.num_layers;
    c.decoder_sparse_step = c.num_sparse_decoder_layers > 0
                                ? c.num_decoder_layers / c.num_sparse_decoder_layers
                                : c.num_decoder_layers;
    TRY(get_int(&r, "encoder_sparse_step", 0, M, false, &c.encoder_sparse_step, NULL));
    TRY(get_int(&r, "decoder_sparse_step", 0, M, false, &c.decoder_sparse_step, NULL));

    TRY(get_bool(&r, "router_bias", &c.router_bias));
    TRY(get_double(&r, "router_jitter_noise", 0.0, 1e6, &c.router_jitter_noise));
    const sc_json *node;
    sc_status st;
    const char *s = get_string(&r, "router_dtype", &node, &st);
    TRY(st);
    if (s && !parse_float_dtype(s, &c.router_dtype)) {
        size_t o = sc_json_offset(node);
        return sc_fail(err, SC_ERR_FORMAT, o,
                       "%s: byte %zu: key 'router_dtype': must be \"float32\", \"float16\" or \"bfloat16\", got \"%.40s\"",
                       src, o, s);
    }
    s = get_string(&r, "torch_dtype", &node, &st);
    /* torch_dtype is only a hint for the weights' storage: tolerate anything. */
    if (s && st == SC_OK) parse_float_dtype(s, &c.torch_dtype);

    TRY(get_bool(&r, "router_ignore_padding_tokens", &c.router_ignore_padding_tokens));
    TRY(get_int(&r, "relative_attention_num_buckets", 1, M, false, &c.relative_attention_num_buckets, NULL));
    TRY(get_int(&r, "relative_attention_max_distance", 1, INT32_MAX, false, &c.relative_attention_max_distance,
                NULL));
    TRY(get_double(&r, "dropout_rate", 0.0, 1.0, &c.dropout_rate));
    TRY(get_double(&r, "layer_norm_epsilon", 0.0, 1.0, &c.layer_norm_epsilon));
    TRY(get_double(&r, "router_z_loss_coef", -1e30, 1e30, &c.router_z_loss_coef));
    TRY(get_double(&r, "router_aux_loss_coef", -1e30, 1e30, &c.router_aux_loss_coef));
    TRY(get_double(&r, "initializer_factor", -1e30, 1e30, &c.initializer_factor));

    /* feed_forward_proj first (T5 style), then dense_act_fn, which is what
     * the Switch model actually reads, wins for the activation. */
    s = get_string(&r, "feed_forward_proj", &node, &st);
    TRY(st);
    if (s) {
        const char *dash = strchr(s, '-');
        const char *act = s;
        bool gated = false;
        if (dash) {
            gated = (size_t)(dash - s) == 5 && strncmp(s, "gated", 5) == 0;
            act = dash + 1;
        }
        sc_act a;
        if ((dash && !gated) || strchr(act, '-') || !parse_act(act, &a)) {
            size_t o = sc_json_offset(node);
            return sc_fail(err, SC_ERR_UNSUPPORTED, o,
                           "%s: byte %zu: key 'feed_forward_proj': unsupported \"%.40s\" (want \"relu\", "
                           "\"gelu\", \"gated-gelu\", ...)",
                           src, o, s);
        }
        if (gated && a == SC_ACT_GELU) a = SC_ACT_GELU_NEW; /* HF: "gated-gelu" means gelu_new */
        c.gated = gated;
        c.act = a;
    }
    s = get_string(&r, "dense_act_fn", &node, &st);
    TRY(st);
    if (s && !parse_act(s, &c.act)) {
        size_t o = sc_json_offset(node);
        return sc_fail(err, SC_ERR_UNSUPPORTED, o,
                       "%s: byte %zu: key 'dense_act_fn': unsupported activation \"%.40s\" (want relu, gelu_new "
                       "or gelu)",
                       src, o, s);
    }

    TRY(get_bool(&r, "tie_word_embeddings", &c.tie_word_embeddings));
    TRY(get_bool(&r, "is_encoder_decoder", &c.is_encoder_decoder));
    TRY(get_bool(&r, "use_cache", &c.use_cache));
    TRY(get_bool(&r, "add_router_probs", &c.add_router_probs));
    TRY(get_token_id(&r, "pad_token_id", false, &c.pad_token_id));
    TRY(get_token_id(&r, "eos_token_id", true, &c.eos_token_id));
    TRY(get_token_id(&r, "decoder_start_token_id", false, &c.decoder_start_token_id));

    TRY(check_products(&c, src, err));
    *out = c;
    return SC_OK;
}

sc_status sc_config_load(const char *path, sc_config *out, sc_error *err) {
    if (!path || !out) return sc_fail(err, SC_ERR_INVALID_ARG, SC_NO_OFFSET, "config: NULL argument");
    sc_json_doc *doc = NULL;
    sc_status st = sc_json_parse_file(path, CONFIG_MAX_BYTES, &doc, err);
    if (st) return st;
    st = sc_config_from_json(sc_json_root(doc), path, out, err);
    sc_json_free(doc);
    return st;
}

bool sc_config_block_is_sparse(const sc_config *c, bool decoder, int64_t i) {
    if (!c || i < 0) return false;
    int64_t step = decoder ? c->decoder_sparse_step : c->encoder_sparse_step;
    int64_t n = decoder ? c->num_decoder_layers : c->num_layers;
    if (step <= 0 || i >= n) return false;
    return i % step == 1 || step == 1;
}

/* ------------------------------------------------------ generation config */

void sc_generation_config_defaults(const sc_config *c, sc_generation_config *g) {
    memset(g, 0, sizeof *g);
    g->max_length = 20;
    g->max_new_tokens = -1;
    g->min_length = 0;
    g->min_new_tokens = -1;
    g->num_beams = 1;
    g->num_return_sequences = 1;
    g->length_penalty = 1.0;
    g->early_stopping = false;
    g->early_stopping_never = false;
    g->do_sample = false;
    g->temperature = 1.0;
    g->top_k = 50;
    g->top_p = 1.0;
    g->repetition_penalty = 1.0;
    g->no_repeat_ngram_size = 0;
    /* GenerationConfig.from_model_config copies these from the model config. */
    g->pad_token_id = c ? c->pad_token_id : 0;
    g->eos_token_id = c ? c->eos_token_id : 1;
    g->decoder_start_token_id = c ? c->decoder_start_token_id : 0;
}

sc_status sc_generation_config_from_json(const sc_json *root, const char *source, const sc_config *c,
                                         sc_generation_config *out, sc_error *err) {
    const char *src = source ? source : "generation_config.json";
    if (!out) return sc_fail(err, SC_ERR_INVALID_ARG, SC_NO_OFFSET, "%s: NULL output", src);
    if (sc_json_type_of(root) != SC_JSON_OBJECT) {
        size_t o = root ? sc_json_offset(root) : 0;
        return sc_fail(err, SC_ERR_FORMAT, o, "%s: byte %zu: expected a JSON object at the top level", src, o);
    }
    reader r = {root, src, err};
    sc_generation_config g;
    sc_generation_config_defaults(c, &g);
    const int64_t L = (int64_t)1 << 24;
    TRY(get_int(&r, "max_length", 0, L, false, &g.max_length, NULL));
    bool present;
    TRY(get_int(&r, "max_new_tokens", 0, L, true, &g.max_new_tokens, &present));
    TRY(get_int(&r, "min_length", 0, L, false, &g.min_length, NULL));
    TRY(get_int(&r, "min_new_tokens", 0, L, true, &g.min_new_tokens, &present));
    TRY(get_int(&r, "num_beams", 1, 1 << 16, false, &g.num_beams, NULL));
    TRY(get_int(&r, "num_return_sequences", 1, 1 << 16, false, &g.num_return_sequences, NULL));
    TRY(get_double(&r, "length_penalty", -1e30, 1e30, &g.length_penalty));
    const sc_json *es = sc_json_get(root, "early_stopping");
    if (es) {
        const char *s = sc_json_string(es, NULL);
        if (s && strcmp(s, "never") == 0) {
            g.early_stopping = false;
            g.early_stopping_never = true;
        } else if (!sc_json_bool(es, &g.early_stopping)) {
            return wrong_type(&r, "early_stopping", es, "a boolean or \"never\"");
        }
    }
    TRY(get_bool(&r, "do_sample", &g.do_sample));
    TRY(get_double(&r, "temperature", 0.0, 1e30, &g.temperature));
    TRY(get_int(&r, "top_k", 0, INT32_MAX, false, &g.top_k, NULL));
    TRY(get_double(&r, "top_p", 0.0, 1.0, &g.top_p));
    TRY(get_double(&r, "repetition_penalty", 0.0, 1e30, &g.repetition_penalty));
    TRY(get_int(&r, "no_repeat_ngram_size", 0, L, false, &g.no_repeat_ngram_size, NULL));
    /* null or absent ids fall back to the model config's */
    int64_t id = -1;
    TRY(get_token_id(&r, "pad_token_id", false, &id));
    if (id >= 0) g.pad_token_id = id;
    id = -1;
    TRY(get_token_id(&r, "eos_token_id", true, &id));
    if (id >= 0) g.eos_token_id = id;
    id = -1;
    TRY(get_token_id(&r, "decoder_start_token_id", false, &id));
    if (id >= 0) g.decoder_start_token_id = id;
    *out = g;
    return SC_OK;
}

sc_status sc_generation_config_load(const char *path, const sc_config *c, sc_generation_config *out,
                                    sc_error *err) {
    if (!path || !out) return sc_fail(err, SC_ERR_INVALID_ARG, SC_NO_OFFSET, "generation config: NULL argument");
    sc_json_doc *doc = NULL;
    sc_error local;
    sc_error_clear(&local);
    sc_status st = sc_json_parse_file(path, CONFIG_MAX_BYTES, &doc, &local);
    if (st == SC_ERR_MISSING) {
        sc_generation_config_defaults(c, out);
        return SC_OK;
    }
    if (st) {
        if (err) *err = local;
        return st;
    }
    st = sc_generation_config_from_json(sc_json_root(doc), path, c, out, err);
    sc_json_free(doc);
    return st;
}
