/* Loads a Hugging Face fast-tokenizer file (tokenizer.json) whose model is
 * Unigram, for directories without spiece.model, and reads extra_ids from
 * tokenizer_config.json. tokenizer.json is mapped onto SentencePiece's
 * model: vocab [[piece, score], ...] -> pieces, model.unk_id -> the unknown
 * piece, special added tokens inside the vocab -> control pieces, the
 * Precompiled normalizer's precompiled_charsmap (base64) -> the charsmap,
 * Metaspace add_prefix_space / prepend_scheme -> add_dummy_prefix. Extra
 * whitespace is always collapsed and escaped (what T5's converted
 * normalizer/pre-tokenizer sequence does). Added tokens beyond the vocab named
 * <extra_id_N> give extra_ids. Other normalizers or pre-tokenizers are not
 * interpreted. */
#include "core/error.h"
#include "io/json.h"
#include "tokenizer/sp_model.h"
#include "tokenizer/tokenizer_internal.h"

#include <stdlib.h>
#include <string.h>

#define TOKENIZER_JSON_MAX (256u << 20)

static int b64val(unsigned char c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

/* Standard base64 with optional '=' padding; false on any other byte. */
static bool b64_decode(const char *s, size_t n, unsigned char **out, size_t *out_n) {
    unsigned char *o = malloc(n / 4 * 3 + 3);
    if (!o) return false;
    size_t w = 0;
    uint32_t acc = 0;
    int bits = 0;
    size_t i = 0;
    for (; i < n && s[i] != '='; i++) {
        int v = b64val((unsigned char)s[i]);
        if (v < 0) {
            free(o);
            return false;
        }
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            o[w++] = (unsigned char)(acc >> bits);
        }
    }
    for (; i < n; i++)
        if (s[i] != '=') {
            free(o);
            return false;
        }
    *out = o;
    *out_n = w;
    return true;
}

/* Finds the first normalizer of a given type in a (possibly Sequence)
 * normalizer / pre-tokenizer. */
static const sc_json *find_typed(const sc_json *v, const char *type, const char *list_key) {
    if (!v || sc_json_type_of(v) != SC_JSON_OBJECT) return NULL;
    const char *ty = sc_json_string(sc_json_get(v, "type"), NULL);
    if (ty && !strcmp(ty, type)) return v;
    const sc_json *seq = sc_json_get(v, list_key);
    for (size_t i = 0; i < sc_json_len(seq); i++) {
        const sc_json *r = find_typed(sc_json_at(seq, i), type, list_key);
        if (r) return r;
    }
    return NULL;
}

sc_status sc_tokenizer_load_json_(sc_tokenizer *t, const char *path, sc_error *err) {
    sc_json_doc *doc = NULL;
    sc_status st = sc_json_parse_file(path, TOKENIZER_JSON_MAX, &doc, err);
    if (st) return st;
    sp_model *m = &t->sp;
    m->model_type = 1;
    m->add_dummy_prefix = m->remove_extra_ws = m->escape_ws = true;
    const sc_json *root = sc_json_root(doc);
    const sc_json *model = sc_json_get(root, "model");
    const char *mt = sc_json_string(sc_json_get(model, "type"), NULL);
    if (!mt || strcmp(mt, "Unigram")) {
        st = sc_fail(err, SC_ERR_UNSUPPORTED, model ? sc_json_offset(model) : SC_NO_OFFSET,
                     "%s: model.type is not \"Unigram\"", path);
        goto done;
    }
    const sc_json *vocab = sc_json_get(model, "vocab");
    if (!vocab || sc_json_type_of(vocab) != SC_JSON_ARRAY || sc_json_len(vocab) == 0) {
        st = sc_fail(err, SC_ERR_FORMAT, model ? sc_json_offset(model) : SC_NO_OFFSET,
                     "%s: model.vocab is missing or empty", path);
        goto done;
    }
    int64_t unk = -1;
    const sc_json *uj = sc_json_get(model, "unk_id");
    if (uj && sc_json_type_of(uj) != SC_JSON_NULL && !sc_json_int(uj, &unk)) {
        st = sc_fail(err, SC_ERR_FORMAT, sc_json_offset(uj), "%s: model.unk_id is not an integer", path);
        goto done;
    }
    if (sc_json_bool(sc_json_get(model, "byte_fallback"), &m->byte_fallback) && m->byte_fallback) {
        st = sc_fail(err, SC_ERR_UNSUPPORTED, sc_json_offset(model),
                     "%s: byte_fallback Unigram models are not supported from tokenizer.json", path);
        goto done;
    }
    size_t n = sc_json_len(vocab);
    if (n > (1u << 24)) {
        st = sc_fail(err, SC_ERR_LIMIT, sc_json_offset(vocab), "%s: %zu vocab entries is too many", path, n);
        goto done;
    }
    if (unk < -1 || unk >= (int64_t)n) {
        st = sc_fail(err, SC_ERR_FORMAT, sc_json_offset(uj), "%s: model.unk_id %lld is out of range",
                     path, (long long)unk);
        goto done;
    }
    size_t blob = 0;
    for (size_t i = 0; i < n; i++) {
        const sc_json *e = sc_json_at(vocab, i);
        size_t pl = 0;
        const char *p = sc_json_string(sc_json_at(e, 0), &pl);
        double sc;
        if (sc_json_type_of(e) != SC_JSON_ARRAY || sc_json_len(e) != 2 || !p || pl == 0 ||
            !sc_json_number(sc_json_at(e, 1), &sc)) {
            st = sc_fail(err, SC_ERR_FORMAT, sc_json_offset(e),
                         "%s: model.vocab[%zu] is not a [non-empty piece, score] pair", path, i);
            goto done;
        }
        blob += pl + 1;
    }
    m->n_pieces = n;
    m->blob = malloc(blob);
    m->blob_len = blob;
    m->off = malloc(n * sizeof *m->off);
    m->len = malloc(n * sizeof *m->len);
    m->score = malloc(n * sizeof *m->score);
    m->type = malloc(n);
    if (!m->blob || !m->off || !m->len || !m->score || !m->type) {
        st = sc_fail(err, SC_ERR_NOMEM, SC_NO_OFFSET, "%s: out of memory", path);
        goto done;
    }
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        const sc_json *e = sc_json_at(vocab, i);
        size_t pl;
        const char *p = sc_json_string(sc_json_at(e, 0), &pl);
        double sc = 0;
        sc_json_number(sc_json_at(e, 1), &sc);
        memcpy(m->blob + o, p, pl);
        m->blob[o + pl] = 0;
        m->off[i] = (uint32_t)o;
        m->len[i] = (uint32_t)pl;
        m->score[i] = (float)sc;
        m->type[i] = (int64_t)i == unk ? SP_UNKNOWN : SP_NORMAL;
        o += pl + 1;
    }
    /* added tokens: special ones inside the vocab are control pieces */
    const sc_json *added = sc_json_get(root, "added_tokens");
    int32_t extra = 0;
    for (size_t i = 0; i < sc_json_len(added); i++) {
        const sc_json *a = sc_json_at(added, i);
        int64_t id;
        bool special = false;
        size_t cl;
        const char *content = sc_json_string(sc_json_get(a, "content"), &cl);
        if (!sc_json_int(sc_json_get(a, "id"), &id) || !content) {
            st = sc_fail(err, SC_ERR_FORMAT, sc_json_offset(a),
                         "%s: added_tokens[%zu] lacks an integer id or a content string", path, i);
            goto done;
        }
        sc_json_bool(sc_json_get(a, "special"), &special);
        if (id >= 0 && id < (int64_t)n) {
            if (special && id != unk) m->type[id] = SP_CONTROL;
        } else if (cl > 10 && !memcmp(content, "<extra_id_", 10)) {
            extra++;
        }
    }
    if (extra) t->extra_ids = extra;
    const sc_json *pre = find_typed(sc_json_get(root, "normalizer"), "Precompiled", "normalizers");
    if (pre) {
        size_t sl;
        const sc_json *cj = sc_json_get(pre, "precompiled_charsmap");
        const char *s = sc_json_string(cj, &sl);
        if (s && sl) {
            unsigned char *bin;
            size_t bn;
            if (!b64_decode(s, sl, &bin, &bn)) {
                st = sc_fail(err, SC_ERR_FORMAT, sc_json_offset(cj),
                             "%s: precompiled_charsmap is not valid base64", path);
                goto done;
            }
            st = sp_model_set_charsmap(m, bin, bn, path, sc_json_offset(cj), err);
            free(bin);
            if (st) goto done;
        }
    }
    const sc_json *ms = find_typed(sc_json_get(root, "pre_tokenizer"), "Metaspace", "pretokenizers");
    if (ms) {
        bool b;
        if (sc_json_bool(sc_json_get(ms, "add_prefix_space"), &b)) m->add_dummy_prefix = b;
        const char *ps = sc_json_string(sc_json_get(ms, "prepend_scheme"), NULL);
        if (ps) m->add_dummy_prefix = strcmp(ps, "never") != 0;
    }
    st = sp_model_build(m, path, err);
done:
    sc_json_free(doc);
    return st;
}

sc_status sc_tokenizer_read_config_(sc_tokenizer *t, const char *path, sc_error *err) {
    sc_json_doc *doc = NULL;
    sc_status st = sc_json_parse_file(path, 64u << 20, &doc, err);
    if (st) return st;
    const sc_json *e = sc_json_get(sc_json_root(doc), "extra_ids");
    int64_t v;
    if (e) {
        if (!sc_json_int(e, &v) || v < 0 || v > 100000)
            st = sc_fail(err, SC_ERR_FORMAT, sc_json_offset(e), "%s: extra_ids is not an integer in [0, 100000]", path);
        else
            t->extra_ids = (int32_t)v;
    }
    sc_json_free(doc);
    return st;
}
