/* The sc_tokenizer struct, shared by tokenizer.c (spiece.model, T5 layer)
 * and tokenizer_json.c (tokenizer.json and tokenizer_config.json). */
#ifndef SC_TOKENIZER_INTERNAL_H
#define SC_TOKENIZER_INTERNAL_H

#include "tokenizer/sp_model.h"

struct sc_tokenizer {
    sp_model sp;
    int32_t sp_size;   /* SentencePiece pieces */
    int32_t extra_ids; /* sentinels <extra_id_0..extra_ids-1> */
    int32_t vocab;     /* sp_size + extra_ids */
    int32_t pad_id, eos_id, unk_id;
    char *extra_blob;  /* "<extra_id_N>" NUL-terminated, N = 0.. */
    uint32_t *extra_off; /* [extra_ids + 1] */
};

/* Reads tokenizer.json (HF Unigram model) into t->sp. */
sc_status sc_tokenizer_load_json_(sc_tokenizer *t, const char *path, sc_error *err);
/* Reads extra_ids from tokenizer_config.json when present. */
sc_status sc_tokenizer_read_config_(sc_tokenizer *t, const char *path, sc_error *err);

#endif
