/* Torch zip checkpoint reader: finds `<archive>/data.pkl`, runs it through a
 * restricted pickle machine and turns the resulting {name: tensor} dict into
 * list entries.
 *
 * The unpickler implements only what torch.save emits for a state dict
 * (protocol 2, plus the few protocol 4 opcodes a newer writer may use) and
 * the globals collections.OrderedDict, torch._utils._rebuild_tensor_v2 and
 * the legacy torch.*Storage dtype markers. Anything else (another global, an
 * unknown opcode, a call on a non-callable) is refused, so a hostile pickle
 * can do nothing but fail. Every container, the stack, the memo and the
 * total memory are bounded. Leaves out: other protocols' text opcodes,
 * sparse/quantized tensors, nested state (only a BUILD on a dict is
 * accepted, and its state is ignored, like HF's `_metadata`).
 *
 * A file cut short has lost its zip directory (torch writes it last), so the
 * zip reader can only say "not a zip archive". To name what is missing, the
 * entries are then walked again from their local headers (salvage_entries),
 * the pickle is run with storages that have no complete entry kept as
 * placeholders, and the first tensor whose data lies past the end is named.
 * Such a file is never loaded. */
#include "io/torchbin.h"
#include "core/checked.h"
#include "core/error.h"
#include "io/tensor_list.h"
#include "io/zip.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_STACK (1u << 20)
#define MAX_MARKS (1u << 12)
#define MAX_MEMO (1u << 26)
#define MAX_LINE 256

enum { V_NONE, V_BOOL, V_INT, V_FLOAT, V_STR, V_TUPLE, V_LIST, V_DICT, V_GLOBAL, V_STORAGE, V_TENSOR };
enum { G_ORDERED_DICT, G_REBUILD_TENSOR_V2, G_STORAGE };

typedef struct pseq pseq;
typedef struct pstorage pstorage;
typedef struct ptensor ptensor;

typedef struct pv {
    uint8_t kind;
    uint8_t g;       /* V_GLOBAL: G_*; with G_STORAGE, dtype in `len` */
    uint32_t len;    /* V_STR length (<= 2^32-1) */
    union {
        int64_t i;
        double f;
        const char *s;   /* points into the pickle */
        pseq *seq;       /* tuple, list, dict (key/value pairs) */
        pstorage *st;
        ptensor *t;
    } u;
} pv;

struct pseq {
    size_t n, cap;
    pv *v;
};

struct pstorage {
    sc_dtype dtype;
    const sc_zip_entry *entry; /* NULL: past the end of a cut file (salvage) */
    size_t nbytes;
    const char *key;           /* into the pickle, for messages */
    uint32_t key_len;
};

struct ptensor {
    const pstorage *st;
    size_t offset; /* elements */
    int ndim;
    int64_t size[SC_MAX_DIMS], stride[SC_MAX_DIMS];
    bool contiguous;
    size_t pos; /* pickle byte that built it, for messages */
};

typedef struct ablock {
    struct ablock *next;
    size_t used, cap;
    _Alignas(16) unsigned char data[];
} ablock;

typedef struct vm {
    const uint8_t *pk;
    size_t n, pos, op;         /* pickle bytes, read position, current opcode position */
    const char *path;
    size_t pk_file_off;        /* where data.pkl starts in the file */
    const uint8_t *file;
    const sc_zip *zip;
    const char *prefix;        /* "<archive>/" */
    size_t prefix_len;
    pv *stack;
    size_t sp, scap;
    size_t marks[MAX_MARKS];
    size_t nmarks;
    pv *memo;
    uint8_t *memo_set;
    size_t memo_cap, memo_count;
    ablock *arena;
    size_t arena_total, arena_limit;
    bool salvage;              /* the zip directory was rebuilt from a cut file */
    sc_error *err;
} vm;

/* ------------------------------------------------------------------ errors */

SC_PRINTF(3, 4)
static sc_status vfail(vm *m, sc_status code, const char *fmt, ...) {
    char msg[384];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return sc_fail(m->err, code, m->pk_file_off + m->op, "%s: data.pkl byte %zu: %s", m->path,
                   m->op, msg);
}

/* Copies up to 100 bytes of untrusted text, replacing non-printables. */
static const char *printable(char *buf, size_t cap, const char *s, size_t n) {
    size_t k = 0;
    for (size_t i = 0; i < n && k + 4 < cap && i < 100; i++)
        buf[k++] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
    if (n > 100 && k + 4 < cap) {
        memcpy(buf + k, "...", 3);
        k += 3;
    }
    buf[k] = '\0';
    return buf;
}

/* ------------------------------------------------------------------- arena */

static void *aalloc(vm *m, size_t size) {
    if (!sc_add_size(size, 15, &size)) return NULL;
    size &= ~(size_t)15;
    ablock *b = m->arena;
    if (!b || b->cap - b->used < size) {
        size_t cap = size > 65536 ? size : 65536;
        size_t total;
        if (!sc_add_size(m->arena_total, cap, &total) || total > m->arena_limit) return NULL;
        b = malloc(sizeof(ablock) + cap);
        if (!b) return NULL;
        b->next = m->arena;
        b->used = 0;
        b->cap = cap;
        m->arena = b;
        m->arena_total = total;
    }
    void *p = b->data + b->used;
    b->used += size;
    return p;
}

static sc_status oom(vm *m) {
    return vfail(m, SC_ERR_LIMIT, "the pickle needs more memory than its size justifies");
}

static pseq *new_seq(vm *m, size_t n) {
    pseq *q = aalloc(m, sizeof(pseq));
    if (!q) return NULL;
    q->n = 0;
    q->cap = n;
    q->v = NULL;
    if (n) {
        size_t bytes;
        if (!sc_mul_size(n, sizeof(pv), &bytes) || !(q->v = aalloc(m, bytes))) return NULL;
    }
    return q;
}

static bool seq_push(vm *m, pseq *q, pv v) {
    if (q->n == q->cap) {
        size_t nc = q->cap ? q->cap * 2 : 8, bytes;
        if (!sc_mul_size(nc, sizeof(pv), &bytes)) return false;
        pv *nv = aalloc(m, bytes);
        if (!nv) return false;
        if (q->n) memcpy(nv, q->v, q->n * sizeof(pv));
        q->v = nv;
        q->cap = nc;
    }
    q->v[q->n++] = v;
    return true;
}

/* ------------------------------------------------------------ stack, memo */

static sc_status push(vm *m, pv v) {
    if (m->sp == m->scap) {
        if (m->scap >= MAX_STACK) return vfail(m, SC_ERR_LIMIT, "pickle stack deeper than %u", MAX_STACK);
        size_t nc = m->scap ? m->scap * 2 : 64;
        pv *ns = realloc(m->stack, nc * sizeof(pv));
        if (!ns) return vfail(m, SC_ERR_NOMEM, "out of memory");
        m->stack = ns;
        m->scap = nc;
    }
    m->stack[m->sp++] = v;
    return SC_OK;
}

static size_t base_sp(const vm *m) { return m->nmarks ? m->marks[m->nmarks - 1] : 0; }

/* Pops one value; refuses to pop through a MARK. */
static sc_status pop(vm *m, pv *out) {
    if (m->sp <= base_sp(m)) return vfail(m, SC_ERR_FORMAT, "pickle stack underflow");
    *out = m->stack[--m->sp];
    return SC_OK;
}

static sc_status top(vm *m, pv **out) {
    if (m->sp <= base_sp(m)) return vfail(m, SC_ERR_FORMAT, "pickle stack underflow");
    *out = &m->stack[m->sp - 1];
    return SC_OK;
}

/* Items since the last MARK: [*first, sp). Removes the mark. */
static sc_status pop_mark(vm *m, size_t *first) {
    if (!m->nmarks) return vfail(m, SC_ERR_FORMAT, "no MARK on the pickle stack");
    *first = m->marks[--m->nmarks];
    return SC_OK;
}

static sc_status memo_put(vm *m, uint64_t idx) {
    /* A writer numbers memo entries consecutively, so an index can never
     * exceed the number of opcodes, hence the pickle size. */
    if (idx >= MAX_MEMO || idx > m->n) return vfail(m, SC_ERR_LIMIT, "memo index %llu too large", (unsigned long long)idx);
    pv *t = NULL;
    sc_status st = top(m, &t);
    if (st) return st;
    if (idx >= m->memo_cap) {
        size_t nc = m->memo_cap ? m->memo_cap : 64;
        while (nc <= idx) nc *= 2;
        pv *nm = realloc(m->memo, nc * sizeof(pv));
        if (!nm) return vfail(m, SC_ERR_NOMEM, "out of memory");
        m->memo = nm;
        uint8_t *ns = realloc(m->memo_set, nc);
        if (!ns) return vfail(m, SC_ERR_NOMEM, "out of memory");
        memset(ns + m->memo_cap, 0, nc - m->memo_cap);
        m->memo_set = ns;
        m->memo_cap = nc;
    }
    if (!m->memo_set[idx]) m->memo_count++;
    m->memo[idx] = *t;
    m->memo_set[idx] = 1;
    return SC_OK;
}

static sc_status memo_get(vm *m, uint64_t idx) {
    if (idx >= m->memo_cap || !m->memo_set[idx])
        return vfail(m, SC_ERR_FORMAT, "memo entry %llu was never stored", (unsigned long long)idx);
    return push(m, m->memo[idx]);
}

/* ----------------------------------------------------------------- reading */

static sc_status need(vm *m, size_t k) {
    if (m->n - m->pos < k) return vfail(m, SC_ERR_FORMAT, "pickle truncated");
    return SC_OK;
}

static uint64_t rdle(const uint8_t *p, int k) {
    uint64_t v = 0;
    for (int i = k - 1; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

static sc_status read_line(vm *m, const char **s, size_t *len) {
    const uint8_t *start = m->pk + m->pos;
    size_t room = m->n - m->pos;
    if (room > MAX_LINE) room = MAX_LINE;
    const uint8_t *nl = memchr(start, '\n', room);
    if (!nl) return vfail(m, SC_ERR_FORMAT, "GLOBAL name not terminated within %d bytes", MAX_LINE);
    *s = (const char *)start;
    *len = (size_t)(nl - start);
    m->pos += *len + 1;
    return SC_OK;
}

static bool str_is(const char *s, size_t n, const char *lit) {
    return strlen(lit) == n && memcmp(s, lit, n) == 0;
}

static sc_status resolve_global(vm *m, const char *mod, size_t ml, const char *name, size_t nl) {
    static const struct {
        const char *name;
        sc_dtype dtype;
    } storages[] = {
        {"FloatStorage", SC_DTYPE_F32},  {"HalfStorage", SC_DTYPE_F16},
        {"BFloat16Storage", SC_DTYPE_BF16}, {"DoubleStorage", SC_DTYPE_F64},
        {"LongStorage", SC_DTYPE_I64},   {"IntStorage", SC_DTYPE_I32},
        {"ShortStorage", SC_DTYPE_I16},  {"CharStorage", SC_DTYPE_I8},
        {"ByteStorage", SC_DTYPE_U8},    {"BoolStorage", SC_DTYPE_BOOL},
    };
    pv v = {.kind = V_GLOBAL};
    if (str_is(mod, ml, "collections") && str_is(name, nl, "OrderedDict")) {
        v.g = G_ORDERED_DICT;
        return push(m, v);
    }
    if (str_is(mod, ml, "torch._utils") && str_is(name, nl, "_rebuild_tensor_v2")) {
        v.g = G_REBUILD_TENSOR_V2;
        return push(m, v);
    }
    if (str_is(mod, ml, "torch")) {
        for (size_t i = 0; i < sizeof storages / sizeof storages[0]; i++) {
            if (str_is(name, nl, storages[i].name)) {
                v.g = G_STORAGE;
                v.len = (uint32_t)storages[i].dtype;
                return push(m, v);
            }
        }
    }
    char a[128], b[128];
    return vfail(m, SC_ERR_UNSUPPORTED, "forbidden global '%s %s'", printable(a, sizeof a, mod, ml),
                 printable(b, sizeof b, name, nl));
}

static bool as_int(const pv *v, int64_t *out) {
    if (v->kind == V_INT) {
        *out = v->u.i;
        return true;
    }
    if (v->kind == V_BOOL) {
        *out = v->u.i;
        return true;
    }
    return false;
}

/* ('storage', StorageType, key, location, numel) -> storage of entry data/<key>. */
static sc_status persistent_load(vm *m, pv pid) {
    if (pid.kind != V_TUPLE || pid.u.seq->n != 5)
        return vfail(m, SC_ERR_FORMAT, "persistent id is not a 5-tuple");
    pv *t = pid.u.seq->v;
    int64_t numel;
    if (t[0].kind != V_STR || !str_is(t[0].u.s, t[0].len, "storage"))
        return vfail(m, SC_ERR_UNSUPPORTED, "persistent id is not a 'storage' record");
    if (t[1].kind != V_GLOBAL || t[1].g != G_STORAGE)
        return vfail(m, SC_ERR_FORMAT, "persistent id has no storage type");
    if (t[2].kind != V_STR || t[3].kind != V_STR || !as_int(&t[4], &numel) || numel < 0)
        return vfail(m, SC_ERR_FORMAT, "persistent id fields have the wrong types");
    sc_dtype dt = (sc_dtype)t[1].len;
    char name[512];
    char kb[128];
    if (t[2].len > sizeof name - m->prefix_len - 6)
        return vfail(m, SC_ERR_LIMIT, "storage key too long");
    memcpy(name, m->prefix, m->prefix_len);
    memcpy(name + m->prefix_len, "data/", 5);
    memcpy(name + m->prefix_len + 5, t[2].u.s, t[2].len);
    size_t name_len = m->prefix_len + 5 + t[2].len;
    const sc_zip_entry *e = sc_zip_find(m->zip, name, name_len);
    if (!e && !m->salvage)
        return vfail(m, SC_ERR_FORMAT, "storage '%s' has no zip entry",
                     printable(kb, sizeof kb, t[2].u.s, t[2].len));
    size_t nbytes;
    if ((uint64_t)numel > SIZE_MAX || !sc_mul_size((size_t)numel, sc_dtype_size(dt), &nbytes) ||
        (e && nbytes != e->size))
        return vfail(m, SC_ERR_FORMAT, "storage '%s': %lld elements of %s do not match its %zu-byte entry",
                     printable(kb, sizeof kb, t[2].u.s, t[2].len), (long long)numel,
                     sc_dtype_name(dt), e ? e->size : 0);
    pstorage *s = aalloc(m, sizeof *s);
    if (!s) return oom(m);
    s->dtype = dt;
    s->entry = e;
    s->nbytes = nbytes;
    s->key = t[2].u.s;
    s->key_len = t[2].len;
    pv v = {.kind = V_STORAGE};
    v.u.st = s;
    return push(m, v);
}

static sc_status int_tuple(vm *m, const pv *v, int64_t *dims, int *ndim, const char *what) {
    if (v->kind != V_TUPLE) return vfail(m, SC_ERR_FORMAT, "tensor %s is not a tuple", what);
    if (v->u.seq->n > SC_MAX_DIMS)
        return vfail(m, SC_ERR_UNSUPPORTED, "tensor has %zu dimensions (at most %d supported)",
                     v->u.seq->n, SC_MAX_DIMS);
    for (size_t i = 0; i < v->u.seq->n; i++) {
        if (v->u.seq->v[i].kind != V_INT || v->u.seq->v[i].u.i < 0)
            return vfail(m, SC_ERR_FORMAT, "tensor %s[%zu] is not a non-negative integer", what, i);
        dims[i] = v->u.seq->v[i].u.i;
    }
    *ndim = (int)v->u.seq->n;
    return SC_OK;
}

/* _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad,
 * backward_hooks[, metadata]) */
static sc_status rebuild_tensor(vm *m, const pseq *args) {
    if (args->n != 6 && args->n != 7)
        return vfail(m, SC_ERR_FORMAT, "_rebuild_tensor_v2 takes 6 or 7 arguments, not %zu", args->n);
    const pv *a = args->v;
    if (a[0].kind != V_STORAGE) return vfail(m, SC_ERR_FORMAT, "_rebuild_tensor_v2: first argument is not a storage");
    int64_t off;
    if (a[1].kind != V_INT || (off = a[1].u.i) < 0)
        return vfail(m, SC_ERR_FORMAT, "_rebuild_tensor_v2: bad storage offset");
    if (a[4].kind != V_BOOL) return vfail(m, SC_ERR_FORMAT, "_rebuild_tensor_v2: requires_grad is not a bool");
    if (a[5].kind != V_DICT || a[5].u.seq->n != 0)
        return vfail(m, SC_ERR_UNSUPPORTED, "_rebuild_tensor_v2: backward hooks are not supported");
    if (args->n == 7 && a[6].kind != V_NONE && !(a[6].kind == V_DICT && a[6].u.seq->n == 0))
        return vfail(m, SC_ERR_UNSUPPORTED, "_rebuild_tensor_v2: tensor metadata is not supported");
    ptensor *t = aalloc(m, sizeof *t);
    if (!t) return oom(m);
    memset(t, 0, sizeof *t);
    int sn;
    sc_status st = int_tuple(m, &a[2], t->size, &t->ndim, "size");
    if (!st) st = int_tuple(m, &a[3], t->stride, &sn, "stride");
    if (st) return st;
    if (sn != t->ndim) return vfail(m, SC_ERR_FORMAT, "tensor size and stride differ in length");
    const pstorage *s = a[0].u.st;
    size_t es = sc_dtype_size(s->dtype), numel, end;
    if (!sc_numel(t->size, t->ndim, &numel)) return vfail(m, SC_ERR_LIMIT, "tensor size overflows");
    /* extent: one past the last element addressed, in elements */
    bool ok = (uint64_t)off <= SIZE_MAX;
    end = (size_t)off;
    if (ok && numel > 0) {
        for (int i = 0; i < t->ndim && ok; i++) {
            size_t step;
            ok = sc_mul_size((size_t)(t->size[i] - 1), (size_t)t->stride[i], &step) &&
                 sc_add_size(end, step, &end);
        }
        ok = ok && sc_add_size(end, 1, &end);
    }
    size_t end_bytes;
    if (!ok || !sc_mul_size(end, es, &end_bytes) || end_bytes > s->nbytes) {
        char kb[128];
        return vfail(m, SC_ERR_FORMAT,
                     "tensor (offset %lld) reaches past the end of its %zu-byte storage '%s'",
                     (long long)off, s->nbytes, printable(kb, sizeof kb, s->key, s->key_len));
    }
    /* Stride-0 (expanded) tensors could ask for a copy far larger than the
     * file; a state dict never needs more than its storage holds. */
    size_t nbytes;
    if (!sc_mul_size(numel, es, &nbytes) || nbytes > s->nbytes)
        return vfail(m, SC_ERR_LIMIT, "tensor of %zu elements is larger than its %zu-byte storage",
                     numel, s->nbytes);
    t->st = s;
    t->offset = (size_t)off;
    t->contiguous = true;
    int64_t expect = 1;
    for (int i = t->ndim - 1; i >= 0; i--) {
        if (t->size[i] != 1 && t->stride[i] != expect) t->contiguous = false;
        expect *= t->size[i]; /* cannot overflow: numel fits */
    }
    t->pos = m->op;
    pv v = {.kind = V_TENSOR};
    v.u.t = t;
    return push(m, v);
}

static sc_status reduce(vm *m) {
    pv args = {0}, fn = {0};
    sc_status st = pop(m, &args);
    if (!st) st = pop(m, &fn);
    if (st) return st;
    if (fn.kind != V_GLOBAL || fn.g == G_STORAGE)
        return vfail(m, SC_ERR_UNSUPPORTED, "REDUCE on something that is not an allowed callable");
    if (args.kind != V_TUPLE) return vfail(m, SC_ERR_FORMAT, "REDUCE arguments are not a tuple");
    if (fn.g == G_ORDERED_DICT) {
        if (args.u.seq->n != 0)
            return vfail(m, SC_ERR_UNSUPPORTED, "OrderedDict called with arguments");
        pseq *d = new_seq(m, 0);
        if (!d) return oom(m);
        pv v = {.kind = V_DICT};
        v.u.seq = d;
        return push(m, v);
    }
    return rebuild_tensor(m, args.u.seq);
}

/* Runs the pickle to STOP; *result is the value it returns. */
static sc_status run(vm *m, pv *result) {
    sc_status st = SC_OK;
    while (!st) {
        m->op = m->pos;
        if (m->pos >= m->n) return vfail(m, SC_ERR_FORMAT, "pickle ends without STOP");
        uint8_t op = m->pk[m->pos++];
        pv v = {0}, w = {0};
        pv *t = NULL;
        size_t first = 0;
        switch (op) {
        case 0x80: /* PROTO */
            if (!(st = need(m, 1)) && m->pk[m->pos++] > 5)
                st = vfail(m, SC_ERR_UNSUPPORTED, "pickle protocol %u", m->pk[m->pos - 1]);
            break;
        case 0x95: /* FRAME: a length hint only */
            if (!(st = need(m, 8))) m->pos += 8;
            break;
        case '.': /* STOP */
            if ((st = pop(m, result))) return st;
            return SC_OK;
        case '(': /* MARK */
            if (m->nmarks >= MAX_MARKS) return vfail(m, SC_ERR_LIMIT, "more than %u nested MARKs", MAX_MARKS);
            m->marks[m->nmarks++] = m->sp;
            break;
        case '0': /* POP */
            st = pop(m, &v);
            break;
        case '1': /* POP_MARK */
            if (!(st = pop_mark(m, &first))) m->sp = first;
            break;
        case 'N': v.kind = V_NONE; st = push(m, v); break;
        case 0x88: /* NEWTRUE */
        case 0x89: /* NEWFALSE */
            v.kind = V_BOOL;
            v.u.i = op == 0x88;
            st = push(m, v);
            break;
        case 'J': /* BININT */
            if (!(st = need(m, 4))) {
                v.kind = V_INT;
                v.u.i = (int32_t)(uint32_t)rdle(m->pk + m->pos, 4);
                m->pos += 4;
                st = push(m, v);
            }
            break;
        case 'K': /* BININT1 */
        case 'M': { /* BININT2 */
            int k = op == 'K' ? 1 : 2;
            if (!(st = need(m, (size_t)k))) {
                v.kind = V_INT;
                v.u.i = (int64_t)rdle(m->pk + m->pos, k);
                m->pos += (size_t)k;
                st = push(m, v);
            }
            break;
        }
        case 0x8a: { /* LONG1: little-endian two's complement, up to 8 bytes here */
            if ((st = need(m, 1))) break;
            size_t k = m->pk[m->pos++];
            if (k > 8) return vfail(m, SC_ERR_UNSUPPORTED, "integer of %zu bytes", k);
            if ((st = need(m, k))) break;
            uint64_t u = rdle(m->pk + m->pos, (int)k);
            if (k > 0 && k < 8 && (m->pk[m->pos + k - 1] & 0x80)) u |= ~(uint64_t)0 << (8 * k);
            m->pos += k;
            v.kind = V_INT;
            v.u.i = (int64_t)u;
            st = push(m, v);
            break;
        }
        case 'G': { /* BINFLOAT, big-endian */
            if ((st = need(m, 8))) break;
            uint64_t u = 0;
            for (int i = 0; i < 8; i++) u = (u << 8) | m->pk[m->pos + (size_t)i];
            m->pos += 8;
            v.kind = V_FLOAT;
            memcpy(&v.u.f, &u, 8);
            st = push(m, v);
            break;
        }
        case 'X':    /* BINUNICODE */
        case 0x8c:   /* SHORT_BINUNICODE */
        case 0x8d: { /* BINUNICODE8 */
            int k = op == 'X' ? 4 : op == 0x8c ? 1 : 8;
            if ((st = need(m, (size_t)k))) break;
            uint64_t len = rdle(m->pk + m->pos, k);
            m->pos += (size_t)k;
            if (len > UINT32_MAX || len > m->n - m->pos)
                return vfail(m, SC_ERR_FORMAT, "string of %llu bytes runs past the pickle",
                             (unsigned long long)len);
            v.kind = V_STR;
            v.len = (uint32_t)len;
            v.u.s = (const char *)m->pk + m->pos;
            m->pos += (size_t)len;
            st = push(m, v);
            break;
        }
        case '}': /* EMPTY_DICT */
        case ']': /* EMPTY_LIST */
        case ')': /* EMPTY_TUPLE */
            v.kind = op == '}' ? V_DICT : op == ']' ? V_LIST : V_TUPLE;
            if (!(v.u.seq = new_seq(m, 0))) return oom(m);
            st = push(m, v);
            break;
        case 't': /* TUPLE */
        case 0x85: /* TUPLE1 */
        case 0x86: /* TUPLE2 */
        case 0x87: { /* TUPLE3 */
            if (op == 't') {
                if ((st = pop_mark(m, &first))) break;
            } else {
                size_t k = (size_t)(op - 0x84);
                if (m->sp - base_sp(m) < k) return vfail(m, SC_ERR_FORMAT, "pickle stack underflow");
                first = m->sp - k;
            }
            size_t k = m->sp - first;
            v.kind = V_TUPLE;
            if (!(v.u.seq = new_seq(m, k))) return oom(m);
            if (k) memcpy(v.u.seq->v, m->stack + first, k * sizeof(pv));
            v.u.seq->n = k;
            m->sp = first;
            st = push(m, v);
            break;
        }
        case 'a': /* APPEND */
            if ((st = pop(m, &v)) || (st = top(m, &t))) break;
            if (t->kind != V_LIST) return vfail(m, SC_ERR_FORMAT, "APPEND to a non-list");
            if (!seq_push(m, t->u.seq, v)) return oom(m);
            break;
        case 'e': /* APPENDS */
            if ((st = pop_mark(m, &first))) break;
            if (first <= base_sp(m)) return vfail(m, SC_ERR_FORMAT, "pickle stack underflow");
            t = &m->stack[first - 1];
            if (t->kind != V_LIST) return vfail(m, SC_ERR_FORMAT, "APPENDS to a non-list");
            for (size_t i = first; i < m->sp; i++)
                if (!seq_push(m, t->u.seq, m->stack[i])) return oom(m);
            m->sp = first;
            break;
        case 's': /* SETITEM */
            if ((st = pop(m, &w)) || (st = pop(m, &v)) || (st = top(m, &t))) break;
            if (t->kind != V_DICT) return vfail(m, SC_ERR_FORMAT, "SETITEM on a non-dict");
            if (!seq_push(m, t->u.seq, v) || !seq_push(m, t->u.seq, w)) return oom(m);
            break;
        case 'u': /* SETITEMS */
            if ((st = pop_mark(m, &first))) break;
            if (first <= base_sp(m)) return vfail(m, SC_ERR_FORMAT, "pickle stack underflow");
            t = &m->stack[first - 1];
            if (t->kind != V_DICT) return vfail(m, SC_ERR_FORMAT, "SETITEMS on a non-dict");
            if ((m->sp - first) % 2) return vfail(m, SC_ERR_FORMAT, "SETITEMS with an odd number of items");
            for (size_t i = first; i < m->sp; i++)
                if (!seq_push(m, t->u.seq, m->stack[i])) return oom(m);
            m->sp = first;
            break;
        case 'q': /* BINPUT */
            if (!(st = need(m, 1))) st = memo_put(m, m->pk[m->pos++]);
            break;
        case 'r': /* LONG_BINPUT */
            if (!(st = need(m, 4))) {
                uint64_t idx = rdle(m->pk + m->pos, 4);
                m->pos += 4;
                st = memo_put(m, idx);
            }
            break;
        case 0x94: /* MEMOIZE */
            st = memo_put(m, m->memo_count);
            break;
        case 'h': /* BINGET */
            if (!(st = need(m, 1))) st = memo_get(m, m->pk[m->pos++]);
            break;
        case 'j': /* LONG_BINGET */
            if (!(st = need(m, 4))) {
                uint64_t idx = rdle(m->pk + m->pos, 4);
                m->pos += 4;
                st = memo_get(m, idx);
            }
            break;
        case 'c': { /* GLOBAL module\nname\n */
            const char *mod = NULL, *name = NULL;
            size_t ml = 0, nl = 0;
            if ((st = read_line(m, &mod, &ml)) || (st = read_line(m, &name, &nl))) break;
            st = resolve_global(m, mod, ml, name, nl);
            break;
        }
        case 0x93: /* STACK_GLOBAL */
            if ((st = pop(m, &w)) || (st = pop(m, &v))) break;
            if (v.kind != V_STR || w.kind != V_STR)
                return vfail(m, SC_ERR_FORMAT, "STACK_GLOBAL operands are not strings");
            st = resolve_global(m, v.u.s, v.len, w.u.s, w.len);
            break;
        case 'R': /* REDUCE */
            st = reduce(m);
            break;
        case 'Q': /* BINPERSID */
            if (!(st = pop(m, &v))) st = persistent_load(m, v);
            break;
        case 'b': /* BUILD: only a dict's state (HF's `_metadata`), which we ignore */
            if ((st = pop(m, &w)) || (st = top(m, &t))) break;
            if (t->kind != V_DICT || (w.kind != V_DICT && w.kind != V_NONE))
                return vfail(m, SC_ERR_UNSUPPORTED, "BUILD on something other than a dict");
            break;
        default: {
            char c = (op >= 0x20 && op < 0x7f) ? (char)op : '?';
            return vfail(m, SC_ERR_UNSUPPORTED, "pickle opcode 0x%02x ('%c') is not allowed", op, c);
        }
        }
    }
    return st;
}

/* Turns a validated tensor record into a list entry: a view into the file
 * when contiguous and aligned, otherwise a packed copy. */
static sc_status add_tensor(vm *m, sc_tensor_list *l, const char *file, const pv *key,
                            const ptensor *t) {
    const pstorage *s = t->st;
    size_t es = sc_dtype_size(s->dtype), numel = 0, nbytes;
    sc_numel(t->size, t->ndim, &numel); /* validated in rebuild_tensor */
    nbytes = numel * es;
    size_t file_off = s->entry->data_offset + t->offset * es;
    const uint8_t *src = m->file + file_off;
    sc_tensor view = {.dtype = s->dtype, .ndim = t->ndim};
    for (int i = 0; i < t->ndim; i++) view.shape[i] = t->size[i];
    view.data = src;
    if (nbytes && (!t->contiguous || !sc_tensor_aligned(src, s->dtype))) {
        uint8_t *dst = sc_tensor_list_own(l, nbytes);
        if (!dst) return sc_fail(m->err, SC_ERR_NOMEM, file_off, "%s: out of memory", m->path);
        int64_t idx[SC_MAX_DIMS] = {0};
        for (size_t k = 0; k < numel; k++) {
            size_t e = 0;
            for (int i = 0; i < t->ndim; i++) e += (size_t)idx[i] * (size_t)t->stride[i];
            memcpy(dst + k * es, src + e * es, es);
            for (int i = t->ndim - 1; i >= 0; i--) {
                if (++idx[i] < t->size[i]) break;
                idx[i] = 0;
            }
        }
        view.data = dst;
    }
    return sc_tensor_list_add(l, key->u.s, key->len, &view, nbytes, file, file_off, m->err);
}

static void vm_free(vm *m) {
    free(m->stack);
    free(m->memo);
    free(m->memo_set);
    for (ablock *b = m->arena; b;) {
        ablock *nx = b->next;
        free(b);
        b = nx;
    }
}

/* Finds "<archive>/data.pkl": exactly one directory level, as torch writes. */
static const sc_zip_entry *find_pickle(const sc_zip *z) {
    for (size_t i = 0; i < z->n; i++) {
        const sc_zip_entry *e = &z->entries[i];
        if (e->name_len > 9 && memcmp(e->name + e->name_len - 9, "/data.pkl", 9) == 0 &&
            memchr(e->name, '/', e->name_len - 9) == NULL)
            return e;
    }
    return NULL;
}

/* ------------------------------------------------------------- cut files */

#define SIG_LOCAL 0x04034b50u
#define SIG_DESCRIPTOR 0x08074b50u
#define SIG_EOCD 0x06054b50u

static uint64_t rdu(const uint8_t *p, int k) { return rdle(p, k); }

/* Whether an end-of-central-directory signature is anywhere it could be
 * (the last 22 + 65535 bytes): if so the file is not merely cut short. */
static bool has_eocd(const uint8_t *d, size_t size) {
    if (size < 22) return false;
    size_t lowest = size - 22 > 65535 ? size - 22 - 65535 : 0;
    for (size_t i = size - 22 + 1; i-- > lowest;)
        if (rdu(d + i, 4) == SIG_EOCD) return true;
    return false;
}

/* End of the data of a local entry whose sizes were deferred to a data
 * descriptor (torch's writer does this): the first descriptor signature
 * after `at` whose sizes both equal the distance from `at`, in the 32- or
 * 64-bit form. Sets *next to the byte after the descriptor. Random tensor
 * bytes that happen to match all three fields do not occur in practice. */
static bool find_descriptor(const uint8_t *d, size_t size, size_t at, size_t *len, size_t *next) {
    for (size_t q = at; q + 16 <= size; q++) {
        const uint8_t *hit = memchr(d + q, 'P', size - 16 - q + 1);
        if (!hit) return false;
        q = (size_t)(hit - d);
        if (rdu(d + q, 4) != SIG_DESCRIPTOR) continue;
        uint64_t n = q - at;
        if (rdu(d + q + 8, 4) == n && rdu(d + q + 12, 4) == n) {
            *len = (size_t)n;
            *next = q + 16;
            return true;
        }
        if (q + 24 <= size && rdu(d + q + 8, 8) == n && rdu(d + q + 16, 8) == n) {
            *len = (size_t)n;
            *next = q + 24;
            return true;
        }
    }
    return false;
}

static int cmp_zentry(const void *a, const void *b) {
    const sc_zip_entry *x = *(const sc_zip_entry *const *)a, *y = *(const sc_zip_entry *const *)b;
    size_t n = x->name_len < y->name_len ? x->name_len : y->name_len;
    int c = memcmp(x->name, y->name, n);
    return c ? c : x->name_len < y->name_len ? -1 : x->name_len > y->name_len;
}

/* Rebuilds the directory of a zip that has lost its end from the local
 * headers, keeping only entries whose data is whole (stored, sizes known).
 * False when the file does not start like a zip or nothing is found. */
static bool salvage_entries(const uint8_t *d, size_t size, sc_zip *z) {
    memset(z, 0, sizeof *z);
    size_t p = 0, cap = 0;
    while (size - p >= 30 && rdu(d + p, 4) == SIG_LOCAL) {
        unsigned flags = (unsigned)rdu(d + p + 6, 2), method = (unsigned)rdu(d + p + 8, 2);
        uint64_t csize = rdu(d + p + 18, 4);
        size_t nl = (size_t)rdu(d + p + 26, 2), xl = (size_t)rdu(d + p + 28, 2);
        if (method != 0 || size - p - 30 < nl + xl) break;
        size_t at = p + 30 + nl + xl, len, next;
        if (flags & 8) {
            if (!find_descriptor(d, size, at, &len, &next)) break;
        } else {
            if (csize == 0xFFFFFFFFu || csize > size - at) break; /* zip64 sizes are not walked */
            len = (size_t)csize;
            next = at + len;
        }
        if (z->n == cap) {
            size_t nc = cap ? cap * 2 : 64;
            sc_zip_entry *ne = realloc(z->entries, nc * sizeof *ne);
            if (!ne) break;
            z->entries = ne;
            cap = nc;
        }
        z->entries[z->n++] = (sc_zip_entry){.name = (const char *)d + p + 30, .name_len = nl,
                                            .header_offset = p, .data_offset = at, .size = len};
        p = next;
    }
    if (z->n) z->sorted = malloc(z->n * sizeof *z->sorted);
    if (!z->sorted) {
        sc_zip_close(z);
        return false;
    }
    for (size_t i = 0; i < z->n; i++) z->sorted[i] = &z->entries[i];
    qsort(z->sorted, z->n, sizeof *z->sorted, cmp_zentry);
    return true;
}

/* The verdict on a cut file whose pickle ran: the first tensor (in the
 * state dict's order) whose storage did not survive. */
static sc_status name_cut_tensor(vm *m, const pv *result, size_t size) {
    char kb[128], sb[128];
    for (size_t i = 0; i + 1 < result->u.seq->n; i += 2) {
        const pv *k = &result->u.seq->v[i], *v = &result->u.seq->v[i + 1];
        if (k->kind != V_STR || v->kind != V_TENSOR || v->u.t->st->entry) continue;
        const pstorage *s = v->u.t->st;
        return sc_fail(m->err, SC_ERR_FORMAT, size,
                       "%s: the file is cut short at byte %zu (its zip directory is gone): the data of tensor "
                       "'%s' (storage '%s') lies past the end",
                       m->path, size, printable(kb, sizeof kb, k->u.s, k->len),
                       printable(sb, sizeof sb, s->key, s->key_len));
    }
    return sc_fail(m->err, SC_ERR_FORMAT, size,
                   "%s: the file is cut short at byte %zu: its zip directory is gone, though every tensor's data "
                   "is there",
                   m->path, size);
}

sc_status sc_torchbin_parse_into(sc_tensor_list *l, const uint8_t *data, size_t size,
                                 const char *path, sc_error *err) {
    if (!l || (!data && size)) return sc_fail(err, SC_ERR_INVALID_ARG, SC_NO_OFFSET, "torchbin: NULL argument");
    if (!path) path = "<buffer>";
    if (size == 0) return sc_fail(err, SC_ERR_FORMAT, 0, "%s: empty file", path);
    sc_zip zip;
    sc_status st = sc_zip_open(data, size, path, &zip, err);
    bool salvage = false;
    if (st) {
        /* Only a file that lost its end is worth walking again; the first
         * message stands when no data.pkl survives. */
        if (st != SC_ERR_FORMAT || has_eocd(data, size) || !salvage_entries(data, size, &zip)) return st;
        if (!find_pickle(&zip)) {
            sc_zip_close(&zip);
            return st;
        }
        salvage = true;
    }
    const sc_zip_entry *pk = find_pickle(&zip);
    if (!pk) {
        sc_zip_close(&zip);
        return sc_fail(err, SC_ERR_FORMAT, SC_NO_OFFSET,
                       "%s: no '<archive>/data.pkl' entry: not a torch zip checkpoint", path);
    }
    size_t prefix_len = pk->name_len - 8; /* keeps the '/' */
    char prefix[300];
    if (prefix_len + 16 > sizeof prefix) {
        sc_zip_close(&zip);
        return sc_fail(err, SC_ERR_LIMIT, pk->header_offset, "%s: archive name too long", path);
    }
    memcpy(prefix, pk->name, prefix_len);
    memcpy(prefix + prefix_len, "byteorder", 9);
    const sc_zip_entry *bo = sc_zip_find(&zip, prefix, prefix_len + 9);
    if (bo) {
        const char *b = (const char *)data + bo->data_offset;
        if (!(bo->size >= 6 && memcmp(b, "little", 6) == 0 &&
              (bo->size == 6 || (bo->size == 7 && b[6] == '\n')))) {
            size_t at = bo->data_offset;
            sc_zip_close(&zip);
            return sc_fail(err, SC_ERR_UNSUPPORTED, at,
                           "%s: byteorder is not 'little'; big-endian checkpoints are not supported",
                           path);
        }
    }
    const char *file = sc_tensor_list_file(l, path);
    if (!file) {
        sc_zip_close(&zip);
        return sc_fail(err, SC_ERR_NOMEM, SC_NO_OFFSET, "%s: out of memory", path);
    }
    vm m = {.pk = data + pk->data_offset, .n = pk->size, .path = path,
            .pk_file_off = pk->data_offset, .file = data, .zip = &zip, .prefix = prefix,
            .prefix_len = prefix_len, .salvage = salvage, .err = err};
    /* Everything the pickle builds is proportional to its length (each opcode
     * adds at most a few values), so this bound only stops pathological input. */
    if (!sc_mul_size(pk->size, 64, &m.arena_limit) || !sc_add_size(m.arena_limit, 1 << 20, &m.arena_limit))
        m.arena_limit = SIZE_MAX;
    pv result = {0};
    st = run(&m, &result);
    if (!st && result.kind != V_DICT) {
        m.op = m.n ? m.n - 1 : 0;
        st = vfail(&m, SC_ERR_FORMAT, "the pickle is not a dict of tensors");
    }
    if (salvage) {
        st = st ? sc_fail(err, SC_ERR_FORMAT, size,
                          "%s: not a zip archive (no end-of-central-directory record): the file looks cut short "
                          "at byte %zu",
                          path, size)
                : name_cut_tensor(&m, &result, size);
        vm_free(&m);
        sc_zip_close(&zip);
        return st;
    }
    for (size_t i = 0; !st && i + 1 < result.u.seq->n; i += 2) {
        const pv *k = &result.u.seq->v[i], *v = &result.u.seq->v[i + 1];
        if (k->kind != V_STR) {
            m.op = v->kind == V_TENSOR ? v->u.t->pos : m.n - 1;
            st = vfail(&m, SC_ERR_FORMAT, "state dict key %zu is not a string", i / 2);
        } else if (v->kind != V_TENSOR) {
            char kb[128];
            m.op = m.n - 1;
            st = vfail(&m, SC_ERR_UNSUPPORTED, "state dict value for '%s' is not a tensor",
                       printable(kb, sizeof kb, k->u.s, k->len));
        } else {
            st = add_tensor(&m, l, file, k, v->u.t);
        }
    }
    vm_free(&m);
    sc_zip_close(&zip);
    return st;
}

sc_status sc_torchbin_parse(const uint8_t *data, size_t size, const char *path,
                            sc_tensor_list **out, sc_error *err) {
    if (!out) return sc_fail(err, SC_ERR_INVALID_ARG, SC_NO_OFFSET, "torchbin: NULL argument");
    sc_tensor_list *l = sc_tensor_list_new();
    if (!l) return sc_fail(err, SC_ERR_NOMEM, SC_NO_OFFSET, "%s: out of memory", path ? path : "");
    sc_status st = sc_torchbin_parse_into(l, data, size, path, err);
    if (!st) st = sc_tensor_list_index(l, err);
    if (st) {
        sc_tensor_list_free(l);
        return st;
    }
    *out = l;
    return SC_OK;
}
