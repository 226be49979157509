/* Internal SentencePiece model: the pieces of a ModelProto (or of a
 * tokenizer.json Unigram model), its normalizer (precompiled charsmap) and the
 * unigram segmenter. Reproduces SentencePiece 0.1.97's behaviour for unigram
 * models; BPE/WORD/CHAR models are refused. Immutable after sp_model_build(),
 * so every function taking a const sp_model* is safe to call from many
 * threads at once. */
#ifndef SC_TOKENIZER_SP_MODEL_H
#define SC_TOKENIZER_SP_MODEL_H

#include "switchc.h"

/* SentencePiece piece types (sentencepiece_model.proto). */
enum {
    SP_NORMAL = 1,
    SP_UNKNOWN = 2,
    SP_CONTROL = 3,
    SP_USER_DEFINED = 4,
    SP_UNUSED = 5,
    SP_BYTE = 6
};

/* A byte trie with sorted edge lists (the root has a direct table). Values
 * are piece ids, -1 where no piece ends. */
typedef struct sp_trie {
    int32_t *value;   /* [n_nodes] */
    uint32_t *first;  /* [n_nodes] first edge */
    uint16_t *count;  /* [n_nodes] number of edges */
    uint8_t *label;   /* [n_edges] */
    uint32_t *child;  /* [n_edges] */
    uint32_t root[256]; /* child of the root per byte; 0 = none */
    size_t n_nodes, n_edges;
} sp_trie;

/* Growable byte buffer used by the normalizer and the decoders. */
typedef struct sp_buf {
    char *p;
    size_t n, cap;
} sp_buf;

typedef struct sp_model {
    /* pieces */
    size_t n_pieces;
    char *blob;        /* every piece, NUL-terminated, back to back */
    size_t blob_len;
    uint32_t *off;     /* [n_pieces] offset of the piece in blob */
    uint32_t *len;     /* [n_pieces] byte length */
    float *score;      /* [n_pieces] */
    uint8_t *type;     /* [n_pieces] SP_* */
    /* trainer spec */
    int model_type;    /* 1 = unigram */
    bool byte_fallback;
    bool ws_suffix;    /* treat_whitespace_as_suffix */
    char *unk_surface; /* NUL-terminated; default " \xE2\x81\x87 " */
    /* normalizer spec */
    bool add_dummy_prefix, remove_extra_ws, escape_ws;
    uint32_t *darts;   /* [n_darts] double-array units of the charsmap (NULL: identity) */
    size_t n_darts;
    char *norm_str;    /* replacement strings, NUL-delimited */
    size_t norm_len;
    /* derived by sp_model_build */
    int32_t unk_id;
    float min_score, max_score;
    sp_trie pieces;    /* normal, user-defined and unused pieces */
    sp_trie user;      /* user-defined pieces only (normalizer prefix matcher) */
    bool has_user;
    int32_t *hash;     /* [hash_cap] open addressing piece -> id, -1 empty; keyed
                        * SipHash (core/hash.h), linear probing, load <= 1/2 */
    size_t hash_cap;
    size_t hash_probes; /* slots visited building `hash` (a statistic for tests) */
    int32_t byte_id[256]; /* id of <0xXX>, -1 if absent */
} sp_model;

/* Parses a serialized ModelProto (spiece.model) into m (zeroed by the
 * caller) and builds it. `path` names the file in messages. */
sc_status sp_model_parse(const unsigned char *data, size_t size, const char *path, sp_model *m,
                         sc_error *err);

/* Decodes a precompiled charsmap blob (uint32 trie size, darts units,
 * replacement strings) into m->darts / m->norm_str. */
sc_status sp_model_set_charsmap(sp_model *m, const unsigned char *blob, size_t size,
                                const char *path, size_t file_off, sc_error *err);

/* Validates the pieces and builds the tries and the piece map. */
sc_status sp_model_build(sp_model *m, const char *path, sc_error *err);
void sp_model_free(sp_model *m);

/* Id of a piece (any type), or -1. */
int32_t sp_piece_to_id(const sp_model *m, const char *s, size_t n);

/* SentencePiece's Normalizer::Normalize: in -> out (out->n reset to 0). */
sc_status sp_normalize(const sp_model *m, const char *in, size_t n, sp_buf *out);

/* One encoded piece: its id and its surface in the normalized string. */
typedef struct sp_piece_ref {
    int32_t id;
    uint32_t off, len;
} sp_piece_ref;

/* Unigram Viterbi (SentencePiece's EncodeOptimized) over a normalized
 * string plus the processor's post-processing (consecutive unknowns merged,
 * byte fallback). *out is a malloc'd array of *n_out pieces (NULL when 0). */
sc_status sp_encode_normalized(const sp_model *m, const char *norm, size_t n, sp_piece_ref **out,
                               size_t *n_out);

/* DecodePieces for a list of piece strings with their ids (the id of a
 * string that is not a piece is the unk id). Appends to out. */
sc_status sp_decode_pieces(const sp_model *m, const char *const *pieces, const size_t *lens,
                           const int32_t *ids, size_t n, sp_buf *out);

sc_status sp_buf_append(sp_buf *b, const void *p, size_t n);
void sp_buf_free(sp_buf *b);

/* Length of the UTF-8 sequence starting with byte c (SentencePiece's
 * OneCharLen: by the high nibble, never 0). */
static inline size_t sp_one_char_len(unsigned char c) {
    static const unsigned char t[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
    return t[c >> 4];
}

/* SentencePiece's DecodeUTF8: code point and length; an invalid sequence
 * gives 0xFFFD with length 1. */
uint32_t sp_decode_utf8(const unsigned char *s, size_t n, size_t *mblen);

#endif
