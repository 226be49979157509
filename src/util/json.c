/* Strict RFC 8259 JSON reader producing a read-only tree in one arena.
 *
 * Choices (documented here because callers depend on them):
 *  - Input must be UTF-8. Raw bytes in strings are validated (no overlong
 *    forms, no UTF-8-encoded surrogates, nothing above U+10FFFF); control
 *    characters below 0x20 must be escaped.
 *  - \uXXXX escapes: a high surrogate must be followed by a low surrogate
 *    escape; a lone surrogate (either half) is an error, never U+FFFD.
 *    \u0000 is accepted: decoded strings carry their length and may hold NUL.
 *  - Numbers follow the RFC grammar exactly (no leading zeros, no '+', no
 *    NaN/Infinity, digits required around '.' and after 'e') and are
 *    converted with strtod on a bounded copy. A token longer than
 *    JSON_MAX_NUMBER_LEN bytes is refused as SC_ERR_LIMIT (real files never
 *    have one; it keeps strtod's cost bounded). Magnitudes beyond double
 *    range become +-inf (as Python's json does); integer tokens that fit
 *    int64 are also kept exactly so sc_json_int does not lose precision.
 *  - A leading UTF-8 byte order mark is skipped.
 *  - Objects keep every member in order (sc_json_len counts duplicates);
 *    sc_json_get returns the last member with a given key. Objects with more
 *    than a few members get an open-addressing hash index (linear probing,
 *    load <= 1/2) built at parse time, so lookups are O(1) on safetensors
 *    headers with many keys. Keys are hashed with the library's keyed
 *    SipHash (util/hash.h): crafted colliding keys cannot make a parse
 *    quadratic.
 *  - Nesting deeper than SC_JSON_MAX_DEPTH is refused (SC_ERR_LIMIT).
 * Not supported: comments, trailing commas, single quotes, other encodings. */
#include "util/json.h"
#include "util/checked.h"
#include "util/error.h"
#include "util/hash.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define JSON_MAX_NUMBER_LEN 4096
/* Objects up to this many members are searched linearly (from the end). */
#define JSON_LINEAR_MAX 8

typedef struct json_key {
    const char *s; /* NUL-terminated, decoded */
    size_t len;
    uint64_t hash;  /* sc_hash_bytes of the key; 0 in objects without an index */
} json_key;

typedef struct json_index {
    json_key *keys;   /* one per member */
    uint32_t *slots;  /* member index + 1, 0 = empty; NULL for small objects */
    size_t mask;      /* slot count - 1 */
} json_index;

struct sc_json {
    uint8_t type;
    bool b;           /* SC_JSON_BOOL value */
    bool is_int;      /* SC_JSON_NUMBER: `i` holds the exact integer */
    size_t offset;
    union {
        struct {
            double d;
            int64_t i;
        } num;
        struct {
            const char *s;
            size_t len;
        } str;
        struct {
            sc_json *items;     /* array elements / object values */
            json_index *index;  /* objects only */
            size_t n;
        } box;
    } u;
};

typedef struct arena_chunk {
    struct arena_chunk *next;
    size_t cap, used;
    max_align_t data[]; /* aligned payload */
} arena_chunk;

struct sc_json_doc {
    arena_chunk *chunks;
    size_t next_chunk;
    size_t index_probes; /* slots visited while building object indexes */
    sc_json root;
};

/* ------------------------------------------------------------------ arena */

static void *arena_alloc(sc_json_doc *d, size_t size) {
    size = (size + 15) & ~(size_t)15;
    if (size == 0) size = 16;
    arena_chunk *c = d->chunks;
    if (!c || c->cap - c->used < size) {
        size_t cap = d->next_chunk;
        if (cap < size) cap = size;
        size_t total;
        if (!sc_add_size(sizeof(arena_chunk), cap, &total)) return NULL;
        c = malloc(total);
        if (!c) return NULL;
        c->cap = cap;
        c->used = 0;
        c->next = d->chunks;
        d->chunks = c;
        if (d->next_chunk < ((size_t)1 << 24)) d->next_chunk *= 2;
    }
    void *p = (char *)c->data + c->used;
    c->used += size;
    return p;
}

/* ----------------------------------------------------------------- parser */

typedef struct parser {
    const unsigned char *p, *start, *end;
    const char *source;
    sc_json_doc *doc;
    sc_error *err;
    /* Scratch stacks for children of open containers; copied into the
     * arena when a container closes. */
    sc_json *vals;
    size_t nvals, capvals;
    json_key *keys;
    size_t nkeys, capkeys;
    char *buf; /* string decoding scratch */
    size_t capbuf;
} parser;

static size_t off(const parser *ps, const unsigned char *at) { return (size_t)(at - ps->start); }

static sc_status fail_at(parser *ps, const unsigned char *at, sc_status code, const char *what) {
    return sc_fail(ps->err, code, off(ps, at), "%s: byte %zu: %s", ps->source, off(ps, at), what);
}

static sc_status nomem(parser *ps) {
    return sc_fail(ps->err, SC_ERR_NOMEM, off(ps, ps->p), "%s: byte %zu: out of memory",
                   ps->source, off(ps, ps->p));
}

static void skip_ws(parser *ps) {
    const unsigned char *p = ps->p, *e = ps->end;
    while (p < e && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t')) p++;
    ps->p = p;
}

static bool grow(void **arr, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap) return true;
    size_t nc = *cap ? *cap : 64;
    while (nc < need) {
        if (!sc_mul_size(nc, 2, &nc)) return false;
    }
    size_t bytes;
    if (!sc_mul_size(nc, elem, &bytes)) return false;
    void *n = realloc(*arr, bytes);
    if (!n) return false;
    *arr = n;
    *cap = nc;
    return true;
}

static int hex_val(unsigned char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static bool read_hex4(const unsigned char *p, const unsigned char *e, unsigned *out) {
    if (e - p < 4) return false;
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        int h = hex_val(p[i]);
        if (h < 0) return false;
        v = (v << 4) | (unsigned)h;
    }
    *out = v;
    return true;
}

static size_t put_utf8(char *o, unsigned cp) {
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xC0 | (cp >> 6));
        o[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | (cp >> 12));
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | (cp >> 18));
    o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Length of the valid UTF-8 sequence at p (multi-byte lead), 0 if invalid. */
static size_t utf8_seq(const unsigned char *p, const unsigned char *e) {
    unsigned char c = p[0];
    size_t avail = (size_t)(e - p);
    if (c >= 0xC2 && c <= 0xDF) {
        return (avail >= 2 && (p[1] & 0xC0) == 0x80) ? 2 : 0;
    }
    if (c >= 0xE0 && c <= 0xEF) {
        if (avail < 3 || (p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80) return 0;
        if (c == 0xE0 && p[1] < 0xA0) return 0;  /* overlong */
        if (c == 0xED && p[1] >= 0xA0) return 0; /* surrogate */
        return 3;
    }
    if (c >= 0xF0 && c <= 0xF4) {
        if (avail < 4 || (p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80 || (p[3] & 0xC0) != 0x80)
            return 0;
        if (c == 0xF0 && p[1] < 0x90) return 0;  /* overlong */
        if (c == 0xF4 && p[1] >= 0x90) return 0; /* above U+10FFFF */
        return 4;
    }
    return 0;
}

/* Parses a string at ps->p (which points at the opening quote); the decoded
 * copy goes into the arena. */
static sc_status parse_string(parser *ps, const char **out, size_t *out_len) {
    const unsigned char *p = ps->p + 1, *e = ps->end;
    /* Fast path: scan for the closing quote; if no escapes, copy directly. */
    const unsigned char *q = p;
    bool escapes = false;
    while (q < e) {
        unsigned char c = *q;
        if (c == '"') break;
        if (c == '\\') {
            escapes = true;
            break;
        }
        if (c < 0x20) return fail_at(ps, q, SC_ERR_FORMAT, "control character in string (must be escaped)");
        if (c < 0x80) {
            q++;
        } else {
            size_t n = utf8_seq(q, e);
            if (!n) return fail_at(ps, q, SC_ERR_FORMAT, "invalid UTF-8 in string");
            q += n;
        }
    }
    if (q >= e) return fail_at(ps, ps->p, SC_ERR_FORMAT, "unterminated string");
    if (!escapes) {
        size_t n = (size_t)(q - p);
        char *s = arena_alloc(ps->doc, n + 1);
        if (!s) return nomem(ps);
        memcpy(s, p, n);
        s[n] = '\0';
        *out = s;
        *out_len = n;
        ps->p = q + 1;
        return SC_OK;
    }
    /* Slow path: decode into scratch. Decoded output is never longer than
     * the input bytes consumed, so size the scratch to what remains. */
    size_t o = (size_t)(q - p);
    if (!grow((void **)&ps->buf, &ps->capbuf, o + 64, 1)) return nomem(ps);
    memcpy(ps->buf, p, o);
    while (true) {
        if (q >= e) return fail_at(ps, ps->p, SC_ERR_FORMAT, "unterminated string");
        if (!grow((void **)&ps->buf, &ps->capbuf, o + 8, 1)) return nomem(ps);
        unsigned char c = *q;
        if (c == '"') break;
        if (c == '\\') {
            if (e - q < 2) return fail_at(ps, ps->p, SC_ERR_FORMAT, "unterminated string");
            unsigned char x = q[1];
            char simple = 0;
            switch (x) {
            case '"': simple = '"'; break;
            case '\\': simple = '\\'; break;
            case '/': simple = '/'; break;
            case 'b': simple = '\b'; break;
            case 'f': simple = '\f'; break;
            case 'n': simple = '\n'; break;
            case 'r': simple = '\r'; break;
            case 't': simple = '\t'; break;
            case 'u': break;
            default: return fail_at(ps, q, SC_ERR_FORMAT, "invalid escape in string");
            }
            if (simple) {
                ps->buf[o++] = simple;
                q += 2;
                continue;
            }
            unsigned cp;
            if (!read_hex4(q + 2, e, &cp))
                return fail_at(ps, q, SC_ERR_FORMAT, "invalid \\u escape (need 4 hex digits)");
            if (cp >= 0xDC00 && cp <= 0xDFFF)
                return fail_at(ps, q, SC_ERR_FORMAT, "lone low surrogate in \\u escape");
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                unsigned lo;
                if (e - q < 12 || q[6] != '\\' || q[7] != 'u' || !read_hex4(q + 8, e, &lo) ||
                    lo < 0xDC00 || lo > 0xDFFF)
                    return fail_at(ps, q, SC_ERR_FORMAT, "lone high surrogate in \\u escape");
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                q += 12;
            } else {
                q += 6;
            }
            o += put_utf8(ps->buf + o, cp);
            continue;
        }
        if (c < 0x20) return fail_at(ps, q, SC_ERR_FORMAT, "control character in string (must be escaped)");
        if (c < 0x80) {
            ps->buf[o++] = (char)c;
            q++;
        } else {
            size_t n = utf8_seq(q, e);
            if (!n) return fail_at(ps, q, SC_ERR_FORMAT, "invalid UTF-8 in string");
            memcpy(ps->buf + o, q, n);
            o += n;
            q += n;
        }
    }
    char *s = arena_alloc(ps->doc, o + 1);
    if (!s) return nomem(ps);
    memcpy(s, ps->buf, o);
    s[o] = '\0';
    *out = s;
    *out_len = o;
    ps->p = q + 1;
    return SC_OK;
}

static bool is_digit(unsigned char c) { return c >= '0' && c <= '9'; }

static sc_status parse_number(parser *ps, sc_json *v) {
    const unsigned char *s = ps->p, *p = s, *e = ps->end;
    bool neg = false, integral = true;
    if (p < e && *p == '-') {
        neg = true;
        p++;
    }
    if (p >= e || !is_digit(*p)) return fail_at(ps, p, SC_ERR_FORMAT, "expected a digit in number");
    const unsigned char *digits = p;
    if (*p == '0') {
        p++;
        if (p < e && is_digit(*p)) return fail_at(ps, s, SC_ERR_FORMAT, "number with a leading zero");
    } else {
        while (p < e && is_digit(*p)) p++;
    }
    const unsigned char *digits_end = p;
    if (p < e && *p == '.') {
        integral = false;
        p++;
        if (p >= e || !is_digit(*p)) return fail_at(ps, p, SC_ERR_FORMAT, "expected a digit after '.' in number");
        while (p < e && is_digit(*p)) p++;
    }
    if (p < e && (*p == 'e' || *p == 'E')) {
        integral = false;
        p++;
        if (p < e && (*p == '+' || *p == '-')) p++;
        if (p >= e || !is_digit(*p)) return fail_at(ps, p, SC_ERR_FORMAT, "expected a digit in exponent");
        while (p < e && is_digit(*p)) p++;
    }
    size_t n = (size_t)(p - s);
    if (n > JSON_MAX_NUMBER_LEN) return fail_at(ps, s, SC_ERR_LIMIT, "number token too long");
    v->type = SC_JSON_NUMBER;
    v->is_int = false;
    size_t ndig = (size_t)(digits_end - digits);
    if (integral && ndig <= 19) {
        uint64_t m = 0;
        for (const unsigned char *t = digits; t < digits_end; t++) m = m * 10 + (uint64_t)(*t - '0');
        if (!neg && m <= (uint64_t)INT64_MAX) {
            v->is_int = true;
            v->u.num.i = (int64_t)m;
        } else if (neg && m <= (uint64_t)INT64_MAX + 1) {
            v->is_int = true;
            v->u.num.i = m == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)m;
        }
        if (ndig <= 15) {
            /* Below 2^53 the conversion is exact: no need for strtod. */
            v->u.num.d = neg ? -(double)m : (double)m;
            ps->p = p;
            return SC_OK;
        }
    }
    char local[64];
    char *copy = local;
    if (n >= sizeof local) {
        copy = malloc(n + 1);
        if (!copy) return nomem(ps);
    }
    memcpy(copy, s, n);
    copy[n] = '\0';
    char *endp = NULL;
    double d = strtod(copy, &endp);
    bool whole = endp == copy + n;
    if (copy != local) free(copy);
    /* Cannot happen for a token that matched the grammar, but never trust a
     * library function with a different grammar (locales). */
    if (!whole) return fail_at(ps, s, SC_ERR_FORMAT, "malformed number");
    v->u.num.d = d;
    ps->p = p;
    return SC_OK;
}

static sc_status parse_value(parser *ps, sc_json *v, int depth);

static sc_status build_index(parser *ps, sc_json *obj, json_key *keys, size_t n) {
    json_index *ix = arena_alloc(ps->doc, sizeof *ix);
    if (!ix) return nomem(ps);
    ix->keys = keys;
    ix->slots = NULL;
    ix->mask = 0;
    obj->u.box.index = ix;
    if (n <= JSON_LINEAR_MAX) return SC_OK;
    /* Slots hold member index + 1 in 32 bits. */
    if (n >= UINT32_MAX / 4) return fail_at(ps, ps->p, SC_ERR_LIMIT, "object has too many members");
    /* At least two slots per member: linear probing stays short (about 2.5
     * slots per insert at worst) when the hash spreads keys evenly. */
    size_t cap = 16, bytes;
    while (cap < n || cap - n < n) {
        if (!sc_mul_size(cap, 2, &cap)) return nomem(ps);
    }
    if (!sc_mul_size(cap, sizeof(uint32_t), &bytes)) return nomem(ps);
    uint32_t *slots = arena_alloc(ps->doc, bytes);
    if (!slots) return nomem(ps);
    memset(slots, 0, bytes);
    size_t mask = cap - 1, probes = 0;
    for (size_t i = 0; i < n; i++) {
        keys[i].hash = sc_hash_bytes(keys[i].s, keys[i].len);
        size_t h = (size_t)keys[i].hash & mask;
        while (true) {
            probes++;
            uint32_t s = slots[h];
            if (s == 0) {
                slots[h] = (uint32_t)(i + 1);
                break;
            }
            const json_key *k = &keys[s - 1];
            if (k->hash == keys[i].hash && k->len == keys[i].len &&
                memcmp(k->s, keys[i].s, k->len) == 0) {
                slots[h] = (uint32_t)(i + 1); /* duplicate: last wins */
                break;
            }
            h = (h + 1) & mask;
        }
    }
    ps->doc->index_probes += probes;
    ix->slots = slots;
    ix->mask = mask;
    return SC_OK;
}

/* Moves the top n scratch values (and keys, for objects) into the arena. */
static sc_status close_container(parser *ps, sc_json *v, size_t base_v, size_t base_k, bool object) {
    size_t n = ps->nvals - base_v;
    v->u.box.n = n;
    v->u.box.items = NULL;
    v->u.box.index = NULL;
    if (n) {
        size_t bytes;
        if (!sc_mul_size(n, sizeof(sc_json), &bytes)) return nomem(ps);
        sc_json *items = arena_alloc(ps->doc, bytes);
        if (!items) return nomem(ps);
        memcpy(items, ps->vals + base_v, bytes);
        v->u.box.items = items;
    }
    ps->nvals = base_v;
    if (object) {
        json_key *keys = NULL;
        if (n) {
            size_t bytes;
            if (!sc_mul_size(n, sizeof(json_key), &bytes)) return nomem(ps);
            keys = arena_alloc(ps->doc, bytes);
            if (!keys) return nomem(ps);
            memcpy(keys, ps->keys + base_k, bytes);
        }
        ps->nkeys = base_k;
        return build_index(ps, v, keys, n);
    }
    return SC_OK;
}

static sc_status parse_array(parser *ps, sc_json *v, int depth) {
    v->type = SC_JSON_ARRAY;
    size_t base = ps->nvals;
    ps->p++; /* '[' */
    skip_ws(ps);
    if (ps->p < ps->end && *ps->p == ']') {
        ps->p++;
        return close_container(ps, v, base, 0, false);
    }
    while (true) {
        sc_json item;
        sc_status st = parse_value(ps, &item, depth + 1);
        if (st) return st;
        if (!grow((void **)&ps->vals, &ps->capvals, ps->nvals + 1, sizeof(sc_json))) return nomem(ps);
        ps->vals[ps->nvals++] = item;
        skip_ws(ps);
        if (ps->p >= ps->end) return fail_at(ps, ps->p, SC_ERR_FORMAT, "unexpected end of input in array");
        if (*ps->p == ',') {
            ps->p++;
            continue;
        }
        if (*ps->p == ']') {
            ps->p++;
            return close_container(ps, v, base, 0, false);
        }
        return fail_at(ps, ps->p, SC_ERR_FORMAT, "expected ',' or ']' in array");
    }
}

static sc_status parse_object(parser *ps, sc_json *v, int depth) {
    v->type = SC_JSON_OBJECT;
    size_t base_v = ps->nvals, base_k = ps->nkeys;
    ps->p++; /* '{' */
    skip_ws(ps);
    if (ps->p < ps->end && *ps->p == '}') {
        ps->p++;
        return close_container(ps, v, base_v, base_k, true);
    }
    while (true) {
        skip_ws(ps);
        if (ps->p >= ps->end) return fail_at(ps, ps->p, SC_ERR_FORMAT, "unexpected end of input in object");
        if (*ps->p != '"') return fail_at(ps, ps->p, SC_ERR_FORMAT, "expected a string key in object");
        json_key k;
        sc_status st = parse_string(ps, &k.s, &k.len);
        if (st) return st;
        k.hash = 0; /* set by build_index, only for objects that get an index */
        skip_ws(ps);
        if (ps->p >= ps->end) return fail_at(ps, ps->p, SC_ERR_FORMAT, "unexpected end of input in object");
        if (*ps->p != ':') return fail_at(ps, ps->p, SC_ERR_FORMAT, "expected ':' after key in object");
        ps->p++;
        sc_json item;
        st = parse_value(ps, &item, depth + 1);
        if (st) return st;
        if (!grow((void **)&ps->vals, &ps->capvals, ps->nvals + 1, sizeof(sc_json)) ||
            !grow((void **)&ps->keys, &ps->capkeys, ps->nkeys + 1, sizeof(json_key)))
            return nomem(ps);
        ps->vals[ps->nvals++] = item;
        ps->keys[ps->nkeys++] = k;
        skip_ws(ps);
        if (ps->p >= ps->end) return fail_at(ps, ps->p, SC_ERR_FORMAT, "unexpected end of input in object");
        if (*ps->p == ',') {
            ps->p++;
            continue;
        }
        if (*ps->p == '}') {
            ps->p++;
            return close_container(ps, v, base_v, base_k, true);
        }
        return fail_at(ps, ps->p, SC_ERR_FORMAT, "expected ',' or '}' in object");
    }
}

static bool match_lit(parser *ps, const char *lit, size_t n) {
    if ((size_t)(ps->end - ps->p) < n || memcmp(ps->p, lit, n) != 0) return false;
    ps->p += n;
    return true;
}

static sc_status parse_value(parser *ps, sc_json *v, int depth) {
    skip_ws(ps);
    memset(v, 0, sizeof *v);
    v->offset = off(ps, ps->p);
    if (ps->p >= ps->end) return fail_at(ps, ps->p, SC_ERR_FORMAT, "unexpected end of input, expected a value");
    if ((*ps->p == '{' || *ps->p == '[') && depth > SC_JSON_MAX_DEPTH)
        return fail_at(ps, ps->p, SC_ERR_LIMIT, "nesting deeper than the limit");
    switch (*ps->p) {
    case '{': return parse_object(ps, v, depth);
    case '[': return parse_array(ps, v, depth);
    case '"':
        v->type = SC_JSON_STRING;
        return parse_string(ps, &v->u.str.s, &v->u.str.len);
    case 't':
        if (!match_lit(ps, "true", 4)) break;
        v->type = SC_JSON_BOOL;
        v->b = true;
        return SC_OK;
    case 'f':
        if (!match_lit(ps, "false", 5)) break;
        v->type = SC_JSON_BOOL;
        v->b = false;
        return SC_OK;
    case 'n':
        if (!match_lit(ps, "null", 4)) break;
        v->type = SC_JSON_NULL;
        return SC_OK;
    default:
        if (*ps->p == '-' || is_digit(*ps->p)) return parse_number(ps, v);
        break;
    }
    return fail_at(ps, ps->p, SC_ERR_FORMAT, "expected a value");
}

sc_status sc_json_parse(const char *text, size_t len, const char *source, sc_json_doc **out,
                        sc_error *err) {
    if (!out || (!text && len)) return sc_fail(err, SC_ERR_INVALID_ARG, SC_NO_OFFSET, "json: NULL argument");
    static const unsigned char empty[1] = {0};
    sc_json_doc *doc = calloc(1, sizeof *doc);
    if (!doc) return sc_fail(err, SC_ERR_NOMEM, SC_NO_OFFSET, "%s: out of memory", source ? source : "<json>");
    /* Chunks scale with the input so a 10 MB file is a handful of mallocs. */
    doc->next_chunk = 4096;
    while (doc->next_chunk < len / 4 && doc->next_chunk < ((size_t)1 << 24)) doc->next_chunk *= 2;
    parser ps = {0};
    ps.start = text ? (const unsigned char *)text : empty;
    ps.p = ps.start;
    ps.end = ps.start + len;
    ps.source = source ? source : "<json>";
    ps.doc = doc;
    ps.err = err;
    if (len >= 3 && ps.p[0] == 0xEF && ps.p[1] == 0xBB && ps.p[2] == 0xBF) ps.p += 3;
    sc_status st = parse_value(&ps, &doc->root, 1);
    if (!st) {
        skip_ws(&ps);
        if (ps.p != ps.end) st = fail_at(&ps, ps.p, SC_ERR_FORMAT, "unexpected data after the JSON value");
    }
    free(ps.vals);
    free(ps.keys);
    free(ps.buf);
    if (st) {
        sc_json_free(doc);
        return st;
    }
    *out = doc;
    return SC_OK;
}

void sc_json_free(sc_json_doc *doc) {
    if (!doc) return;
    arena_chunk *c = doc->chunks;
    while (c) {
        arena_chunk *n = c->next;
        free(c);
        c = n;
    }
    free(doc);
}

/* -------------------------------------------------------------- accessors */

const sc_json *sc_json_root(const sc_json_doc *doc) { return doc ? &doc->root : NULL; }

size_t sc_json_index_probes(const sc_json_doc *doc) { return doc ? doc->index_probes : 0; }

sc_json_type sc_json_type_of(const sc_json *v) { return v ? (sc_json_type)v->type : SC_JSON_NULL; }

size_t sc_json_offset(const sc_json *v) { return v ? v->offset : SC_NO_OFFSET; }

size_t sc_json_len(const sc_json *v) {
    if (!v || (v->type != SC_JSON_ARRAY && v->type != SC_JSON_OBJECT)) return 0;
    return v->u.box.n;
}

const sc_json *sc_json_at(const sc_json *v, size_t i) {
    if (!v || (v->type != SC_JSON_ARRAY && v->type != SC_JSON_OBJECT) || i >= v->u.box.n) return NULL;
    return &v->u.box.items[i];
}

const char *sc_json_key_at(const sc_json *v, size_t i, size_t *key_len) {
    if (!v || v->type != SC_JSON_OBJECT || i >= v->u.box.n) return NULL;
    const json_key *k = &v->u.box.index->keys[i];
    if (key_len) *key_len = k->len;
    return k->s;
}

const sc_json *sc_json_getn(const sc_json *v, const char *key, size_t key_len) {
    if (!v || v->type != SC_JSON_OBJECT || !key || v->u.box.n == 0) return NULL;
    const json_index *ix = v->u.box.index;
    size_t n = v->u.box.n;
    if (!ix->slots) {
        for (size_t i = n; i-- > 0;) {
            const json_key *k = &ix->keys[i];
            if (k->len == key_len && memcmp(k->s, key, key_len) == 0) return &v->u.box.items[i];
        }
        return NULL;
    }
    uint64_t h = sc_hash_bytes(key, key_len);
    size_t s = (size_t)h & ix->mask;
    while (ix->slots[s]) {
        size_t i = ix->slots[s] - 1;
        const json_key *k = &ix->keys[i];
        if (k->hash == h && k->len == key_len && memcmp(k->s, key, key_len) == 0) return &v->u.box.items[i];
        s = (s + 1) & ix->mask;
    }
    return NULL;
}

const sc_json *sc_json_get(const sc_json *v, const char *key) {
    if (!key) return NULL;
    return sc_json_getn(v, key, strlen(key));
}

bool sc_json_bool(const sc_json *v, bool *out) {
    if (!v || v->type != SC_JSON_BOOL) return false;
    if (out) *out = v->b;
    return true;
}

bool sc_json_number(const sc_json *v, double *out) {
    if (!v || v->type != SC_JSON_NUMBER) return false;
    if (out) *out = v->u.num.d;
    return true;
}

bool sc_json_int(const sc_json *v, int64_t *out) {
    if (!v || v->type != SC_JSON_NUMBER) return false;
    if (v->is_int) {
        if (out) *out = v->u.num.i;
        return true;
    }
    double d = v->u.num.d;
    /* 2^63 is exactly representable; the range check also rejects inf/NaN. */
    if (!(d >= -9223372036854775808.0 && d < 9223372036854775808.0)) return false;
    int64_t i = (int64_t)d;
    if ((double)i != d) return false;
    if (out) *out = i;
    return true;
}

const char *sc_json_string(const sc_json *v, size_t *len) {
    if (!v || v->type != SC_JSON_STRING) return NULL;
    if (len) *len = v->u.str.len;
    return v->u.str.s;
}

/* ----------------------------------------------------------------- writer */

void sc_json_write_string(FILE *f, const char *s, size_t n) {
    fputc('"', f);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        switch (c) {
        case '"': fputs("\\\"", f); break;
        case '\\': fputs("\\\\", f); break;
        case '\n': fputs("\\n", f); break;
        case '\r': fputs("\\r", f); break;
        case '\t': fputs("\\t", f); break;
        default:
            if (c < 0x20 || c == 0x7f) fprintf(f, "\\u%04x", c);
            else fputc(c, f);
        }
    }
    fputc('"', f);
}
