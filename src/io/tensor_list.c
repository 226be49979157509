/* sc_tensor_list: entries in file order, names in a chunked arena (stable
 * pointers while entries are appended), owned tensor copies, and an
 * open-addressing hash index (linear probing, load <= 1/2, names hashed with
 * the keyed SipHash of core/hash.h so a crafted header cannot make it
 * quadratic) built once by sc_tensor_list_index.
 * It leaves out deletion and re-indexing: lists are built once, then read. */
#include "io/tensor_list.h"
#include "core/alloc.h"
#include "core/checked.h"
#include "core/error.h"
#include "core/hash.h"

#include <stdlib.h>
#include <string.h>

#define ARENA_BLOCK 65536

typedef struct name_block {
    struct name_block *next;
    size_t used, cap;
    char data[];
} name_block;

struct sc_tensor_list {
    sc_tensor_entry *entries;
    size_t n, cap;
    name_block *names;
    void **owned;          /* aligned buffers */
    size_t n_owned, cap_owned;
    char **files;
    size_t n_files, cap_files;
    uint32_t *index;       /* slot -> entry index + 1, 0 = empty */
    size_t index_mask;
    size_t index_probes;   /* slots visited by the last sc_tensor_list_index */
};

static bool grow(void **arr, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap) return true;
    size_t nc = *cap ? *cap : 16;
    while (nc < need) {
        if (!sc_mul_size(nc, 2, &nc)) return false;
    }
    size_t bytes;
    if (!sc_mul_size(nc, elem, &bytes)) return false;
    void *p = realloc(*arr, bytes);
    if (!p) return false;
    *arr = p;
    *cap = nc;
    return true;
}

sc_tensor_list *sc_tensor_list_new(void) { return calloc(1, sizeof(sc_tensor_list)); }

void sc_tensor_list_free(sc_tensor_list *l) {
    if (!l) return;
    for (name_block *b = l->names; b;) {
        name_block *nx = b->next;
        free(b);
        b = nx;
    }
    for (size_t i = 0; i < l->n_owned; i++) sc_free_aligned(l->owned[i]);
    for (size_t i = 0; i < l->n_files; i++) free(l->files[i]);
    free(l->owned);
    free(l->files);
    free(l->entries);
    free(l->index);
    free(l);
}

static char *arena_str(sc_tensor_list *l, const char *s, size_t n) {
    size_t need;
    if (!sc_add_size(n, 1, &need)) return NULL;
    name_block *b = l->names;
    if (!b || b->cap - b->used < need) {
        size_t cap = need > ARENA_BLOCK ? need : ARENA_BLOCK;
        size_t bytes;
        if (!sc_add_size(sizeof(name_block), cap, &bytes)) return NULL;
        b = malloc(bytes);
        if (!b) return NULL;
        b->next = l->names;
        b->used = 0;
        b->cap = cap;
        l->names = b;
    }
    char *p = b->data + b->used;
    memcpy(p, s, n);
    p[n] = '\0';
    b->used += need;
    return p;
}

const char *sc_tensor_list_file(sc_tensor_list *l, const char *path) {
    if (!grow((void **)&l->files, &l->cap_files, l->n_files + 1, sizeof(char *))) return NULL;
    char *c = strdup(path ? path : "");
    if (!c) return NULL;
    l->files[l->n_files++] = c;
    return c;
}

sc_status sc_tensor_list_add(sc_tensor_list *l, const char *name, size_t name_len,
                             const sc_tensor *view, size_t nbytes, const char *file,
                             size_t file_offset, sc_error *err) {
    /* The index stores entry numbers in 32 bits. */
    if (l->n >= UINT32_MAX - 1)
        return sc_fail(err, SC_ERR_LIMIT, SC_NO_OFFSET, "%s: too many tensors", file);
    /* Lookups take C strings, so a name with a NUL inside could never be found. */
    if (memchr(name, 0, name_len))
        return sc_fail(err, SC_ERR_FORMAT, file_offset, "%s: a tensor name contains a NUL byte",
                       file);
    if (!grow((void **)&l->entries, &l->cap, l->n + 1, sizeof(sc_tensor_entry)))
        return sc_fail(err, SC_ERR_NOMEM, SC_NO_OFFSET, "%s: out of memory", file);
    char *nm = arena_str(l, name, name_len);
    if (!nm) return sc_fail(err, SC_ERR_NOMEM, SC_NO_OFFSET, "%s: out of memory", file);
    sc_tensor_entry *e = &l->entries[l->n++];
    e->name = nm;
    e->view = *view;
    /* An empty tensor's pointer is never read, but it should still honour
     * the "aligned, non-NULL" promise of sc_tensor. */
    static _Alignas(64) const unsigned char empty[64];
    if (nbytes == 0) e->view.data = empty;
    e->nbytes = nbytes;
    e->file = file;
    e->file_offset = file_offset;
    return SC_OK;
}

void *sc_tensor_list_own(sc_tensor_list *l, size_t size) {
    if (!grow((void **)&l->owned, &l->cap_owned, l->n_owned + 1, sizeof(void *))) return NULL;
    void *p = sc_alloc_aligned(size);
    if (p) l->owned[l->n_owned++] = p;
    return p;
}

static uint64_t hash_name(const char *s) { return sc_hash_bytes(s, strlen(s)); }

sc_status sc_tensor_list_index(sc_tensor_list *l, sc_error *err) {
    free(l->index);
    l->index = NULL;
    l->index_probes = 0;
    /* At least two slots per entry keeps linear probing short. */
    size_t slots = 16;
    while (slots < l->n || slots - l->n < l->n) {
        if (!sc_mul_size(slots, 2, &slots))
            return sc_fail(err, SC_ERR_LIMIT, SC_NO_OFFSET, "tensor index: too many tensors");
    }
    l->index = calloc(slots, sizeof(uint32_t));
    if (!l->index) return sc_fail(err, SC_ERR_NOMEM, SC_NO_OFFSET, "tensor index: out of memory");
    l->index_mask = slots - 1;
    size_t probes = 0;
    for (size_t i = 0; i < l->n; i++) {
        size_t s = (size_t)hash_name(l->entries[i].name) & l->index_mask;
        probes++;
        while (l->index[s]) {
            const sc_tensor_entry *o = &l->entries[l->index[s] - 1];
            if (strcmp(o->name, l->entries[i].name) == 0) {
                const sc_tensor_entry *e = &l->entries[i];
                sc_status st = sc_fail(err, SC_ERR_FORMAT, e->file_offset,
                                       "%s: tensor '%s' appears twice (also in %s)", e->file,
                                       e->name, o->file);
                free(l->index);
                l->index = NULL;
                return st;
            }
            s = (s + 1) & l->index_mask;
            probes++;
        }
        l->index[s] = (uint32_t)(i + 1);
    }
    l->index_probes = probes;
    return SC_OK;
}

size_t sc_tensor_list_index_probes(const sc_tensor_list *l) { return l ? l->index_probes : 0; }

size_t sc_tensor_list_count(const sc_tensor_list *l) { return l ? l->n : 0; }

const sc_tensor_entry *sc_tensor_list_at(const sc_tensor_list *l, size_t i) {
    return l && i < l->n ? &l->entries[i] : NULL;
}

const sc_tensor_entry *sc_tensor_list_find(const sc_tensor_list *l, const char *name) {
    if (!l || !name || !l->index) return NULL;
    size_t s = (size_t)hash_name(name) & l->index_mask;
    while (l->index[s]) {
        const sc_tensor_entry *e = &l->entries[l->index[s] - 1];
        if (strcmp(e->name, name) == 0) return e;
        s = (s + 1) & l->index_mask;
    }
    return NULL;
}
