/* A small, strict JSON reader (RFC 8259) producing a read-only tree.
 * Used for config.json, generation_config.json, safetensors headers, shard
 * indexes, tokenizer.json and manifests, by the engine and its clients (part
 * of the utility library: it includes no engine header). Limits (depth,
 * size) are enforced so hostile input cannot exhaust the stack or memory.
 * Strict: UTF-8 is validated, lone \uD800-\uDFFF surrogates are rejected
 * (never replaced by U+FFFD), number tokens over 4096 bytes are refused
 * (SC_ERR_LIMIT), a leading BOM is skipped. Errors read
 * "<source>: byte N: <what>" with err->offset = N. */
#ifndef SC_UTIL_JSON_H
#define SC_UTIL_JSON_H

#include "switchc.h"

#include <stdio.h>

typedef enum sc_json_type {
    SC_JSON_NULL,
    SC_JSON_BOOL,
    SC_JSON_NUMBER,
    SC_JSON_STRING,
    SC_JSON_ARRAY,
    SC_JSON_OBJECT
} sc_json_type;

typedef struct sc_json sc_json;   /* one value; owned by its document */
typedef struct sc_json_doc sc_json_doc;

/* Containers nested deeper than this are refused (SC_ERR_LIMIT). */
#define SC_JSON_MAX_DEPTH 128

/* Parses text[0..len) (need not be NUL-terminated). `source` names the input
 * in error messages (a file path). Errors carry the byte offset. */
sc_status sc_json_parse(const char *text, size_t len, const char *source, sc_json_doc **out,
                        sc_error *err);
/* Reading a file is left to the caller: the engine's io/json.h adds
 * sc_json_parse_file, which refuses Git LFS pointers like every file the
 * engine reads. */
void sc_json_free(sc_json_doc *doc);

const sc_json *sc_json_root(const sc_json_doc *doc);

/* A statistic for tests: the hash slots visited while building this
 * document's object indexes (objects over 8 members), at least one per
 * member. A member's insert visits as many slots as a later lookup of it,
 * so total / members is the average lookup cost; it stays a small constant
 * on any key set because keys are hashed with a per-process secret key.
 * 0 for NULL. */
size_t sc_json_index_probes(const sc_json_doc *doc);

sc_json_type sc_json_type_of(const sc_json *v);
size_t sc_json_offset(const sc_json *v);       /* byte offset of the value in the input */

/* Arrays and objects: element count (0 for other types). */
size_t sc_json_len(const sc_json *v);
/* i-th element of an array or i-th value of an object (NULL if out of range). */
const sc_json *sc_json_at(const sc_json *v, size_t i);
/* i-th key of an object (NUL-terminated, decoded), NULL if out of range. */
const char *sc_json_key_at(const sc_json *v, size_t i, size_t *key_len);
/* Value for key in an object (last one wins on duplicates), NULL if absent
 * or v is not an object. */
const sc_json *sc_json_get(const sc_json *v, const char *key);
/* Same, for a key given by pointer and length (may contain NUL). */
const sc_json *sc_json_getn(const sc_json *v, const char *key, size_t key_len);

/* Typed accessors: return false (and leave *out alone) on a type mismatch. */
bool sc_json_bool(const sc_json *v, bool *out);
bool sc_json_number(const sc_json *v, double *out);
/* Integer: the number must be integral and within int64 range. */
bool sc_json_int(const sc_json *v, int64_t *out);
/* String: decoded UTF-8 (escapes resolved, may contain NUL), NUL-terminated. */
const char *sc_json_string(const sc_json *v, size_t *len);

/* Writes s[0..n) to f as a JSON string literal: quotes, the escapes \" \\ \n
 * \r \t, and \u00XX for the other control characters and DEL; every other
 * byte as is (the caller passes UTF-8). */
void sc_json_write_string(FILE *f, const char *s, size_t n);

#endif
