/* Expert store with experts on demand and a bounded LRU cache; see
 * expert_store.h. Conversion runs outside the mutex: the unit is marked
 * `converting` (pinned, its bytes reserved, not on the LRU list so eviction
 * never sees it), converted unlocked into buffers only this session knows,
 * then published under the lock; sessions wanting the same unit wait on the
 * condition variable. Leaves out: reading experts with pread into owned
 * buffers (mapped files are used in place), and conversion ahead of use on
 * another thread. */
#define _GNU_SOURCE
#include "model/expert_store.h"
#include "core/alloc.h"
#include "core/checked.h"
#include "core/error.h"
#include "model/expert_stats.h"
#include "model/model.h"
#include "model/weights_convert.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define NONE ((int64_t)-1)

typedef struct unit {
    sc_ffn_weights src;   /* as registered (usually views into a mapped file) */
    sc_ffn_weights w;     /* compute views: src, or the converted copies */
    void *owned[3];       /* converted buffers (wi, wi1, wo) while resident */
    size_t bytes;         /* cost while resident */
    int64_t prev, next;   /* LRU list links (indices), NONE at the ends */
    int pins;
    bool resident, convert, mapped, forever;
    bool converting;      /* a session is converting it now (outside the lock) */
} unit;

struct sc_expert_store {
    int64_t n_layers, n_experts;
    unit *u;                 /* [n_layers * n_experts] */
    sc_dtype to;             /* compute dtype, SC_DTYPE_AS_STORED = as registered */
    const sc_kernels *k;
    size_t max_bytes;        /* 0 = unbounded */
    size_t resident, peak, owned;
    uintptr_t page;          /* the system page size, read once at creation (0: unknown) */
    int64_t head, tail;      /* LRU: head most recent */
    sc_owned_list eager;     /* sc_expert_store_convert's buffers (never evicted) */
    pthread_mutex_t mu;
    pthread_cond_t converted; /* broadcast when a conversion ends (published or failed) */
};

sc_status sc_expert_store_new(int64_t n_layers, int64_t n_experts, sc_expert_store **out,
                              sc_error *err) {
    size_t n;
    if (n_layers < 0 || n_experts < 0 || !sc_mul_size((size_t)n_layers, (size_t)n_experts, &n))
        return sc_fail(err, SC_ERR_LIMIT, SC_NO_OFFSET, "expert store: %lld x %lld experts is too many",
                       (long long)n_layers, (long long)n_experts);
    sc_expert_store *s = calloc(1, sizeof *s);
    unit *u = n ? calloc(n, sizeof *u) : NULL;
    if (!s || (n && !u)) {
        free(s);
        free(u);
        return sc_fail(err, SC_ERR_NOMEM, SC_NO_OFFSET, "expert store: out of memory");
    }
    s->n_layers = n_layers;
    s->n_experts = n_experts;
    s->u = u;
    s->to = SC_DTYPE_AS_STORED;
    s->head = s->tail = NONE;
    /* Read here, before any session can share the store: advise() runs with
     * and without the lock on several threads, so it only reads it. */
    const long page = sysconf(_SC_PAGESIZE);
    s->page = page > 0 && !(page & (page - 1)) ? (uintptr_t)page : 0;
    for (size_t i = 0; i < n; i++) u[i].prev = u[i].next = NONE;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->converted, NULL);
    *out = s;
    return SC_OK;
}

static void free_converted(sc_expert_store *s, unit *x) {
    bool had = false;
    for (int i = 0; i < 3; i++) {
        had |= x->owned[i] != NULL;
        sc_free_aligned(x->owned[i]);
        x->owned[i] = NULL;
    }
    if (had) s->owned -= x->bytes;
    x->w = x->src;
}

void sc_expert_store_free(sc_expert_store *s) {
    if (!s) return;
    size_t n = (size_t)(s->n_layers * s->n_experts);
    for (size_t i = 0; i < n; i++) free_converted(s, &s->u[i]);
    sc_owned_list_free(&s->eager);
    pthread_cond_destroy(&s->converted);
    pthread_mutex_destroy(&s->mu);
    free(s->u);
    free(s);
}

void sc_expert_store_set(sc_expert_store *s, int64_t layer, int64_t e, const sc_ffn_weights *w) {
    unit *x = &s->u[layer * s->n_experts + e];
    x->src = x->w = *w;
}

const sc_ffn_weights *sc_expert_store_get(const sc_expert_store *s, int64_t layer, int64_t e) {
    return &s->u[layer * s->n_experts + e].w;
}

/* ------------------------------------------------------------- byte sizes */

static size_t view_bytes(const sc_tensor *t) {
    if (!t->data) return 0;
    size_t n = (size_t)t->shape[0] * (size_t)sc_tensor_cols(t) * sc_dtype_size(t->dtype);
    if (t->scales) n += (size_t)t->shape[0] * sizeof(float);
    return n;
}

static const sc_tensor *mats(const sc_ffn_weights *w, int i) {
    return i == 0 ? &w->wi : i == 1 ? &w->wi1 : &w->wo;
}

static bool needs_convert(const unit *x, sc_dtype to) {
    if (to == SC_DTYPE_AS_STORED) return false;
    for (int i = 0; i < 3; i++)
        if (mats(&x->src, i)->data && mats(&x->src, i)->dtype != to) return true;
    return false;
}

static size_t unit_bytes(const unit *x, sc_dtype to) {
    size_t total = 0;
    for (int i = 0; i < 3; i++) {
        const sc_tensor *t = mats(&x->src, i);
        size_t b = view_bytes(t);
        if (x->convert && t->data && t->dtype != to) sc_weights_converted_bytes(t->shape[0], t->shape[1], to, &b);
        total += b;
    }
    return total;
}

/* --------------------------------------------------- which views are mapped */

typedef struct range {
    uintptr_t lo, hi;
} range;

/* File-backed mappings of this process (Linux: /proc/self/maps lines with
 * an inode). Elsewhere none, so nothing is ever madvise'd there. */
static range *file_mappings(size_t *n_out) {
    *n_out = 0;
#ifdef __linux__
    FILE *f = fopen("/proc/self/maps", "r");
    if (!f) return NULL;
    range *r = NULL;
    size_t n = 0, cap = 0;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        unsigned long lo, hi, inode;
        char perms[8];
        unsigned long long off;
        unsigned dmaj, dmin;
        if (sscanf(line, "%lx-%lx %7s %llx %x:%x %lu", &lo, &hi, perms, &off, &dmaj, &dmin, &inode) != 7 ||
            inode == 0)
            continue;
        if (n == cap) {
            size_t nc = cap ? 2 * cap : 64;
            range *nr = realloc(r, nc * sizeof *nr);
            if (!nr) break;
            r = nr;
            cap = nc;
        }
        r[n++] = (range){lo, hi};
    }
    fclose(f);
    *n_out = n;
    return r;
#else
    return NULL;
#endif
}

static bool in_ranges(const range *r, size_t n, const void *p, size_t len) {
    uintptr_t a = (uintptr_t)p;
    for (size_t i = 0; i < n; i++)
        if (a >= r[i].lo && a + len <= r[i].hi) return true;
    return false;
}

sc_status sc_expert_store_configure(sc_expert_store *s, sc_dtype to, const sc_kernels *k,
                                    size_t max_bytes, sc_error *err) {
    if (to != SC_DTYPE_AS_STORED && !sc_weights_dtype_ok(to))
        return sc_fail(err, SC_ERR_INVALID_ARG, SC_NO_OFFSET, "expert store: dtype %d is not a compute dtype", (int)to);
    size_t nr = 0;
    range *r = file_mappings(&nr);
    s->to = to;
    s->k = k;
    s->max_bytes = max_bytes;
    size_t n = (size_t)(s->n_layers * s->n_experts);
    for (size_t i = 0; i < n; i++) {
        unit *x = &s->u[i];
        if (x->forever) continue;
        x->convert = needs_convert(x, to);
        x->bytes = unit_bytes(x, to);
        x->mapped = nr > 0;
        for (int j = 0; j < 3; j++) {
            const sc_tensor *t = mats(&x->src, j);
            if (t->data && !in_ranges(r, nr, t->data, view_bytes(t) - (t->scales ? (size_t)t->shape[0] * 4 : 0)))
                x->mapped = false;
        }
    }
    free(r);
    return SC_OK;
}

/* --------------------------------------------------------------- madvise */

/* madvise on the pages of [p, p + len). MADV_DONTNEED takes only the whole
 * pages inside: pages shared with other tensors at the ends are left alone.
 * MADV_WILLNEED takes every page the range touches, the partial ones at the
 * ends included: tensors in a checkpoint are rarely page aligned, and a
 * first touch of a page not read ahead makes the kernel read a whole
 * read-around window centred on it (half of it neighbouring experts). */
static void advise(uintptr_t page, const void *p, size_t len, int advice) {
    if (!page || !p) return;
    const uintptr_t mask = ~(page - 1), a = (uintptr_t)p;
    uintptr_t lo = (a + page - 1) & mask, hi = (a + len) & mask;
    if (advice == MADV_WILLNEED) {
        lo = a & mask;
        hi = (a + len + page - 1) & mask;
    }
    if (hi > lo) madvise((void *)lo, hi - lo, advice);
}

static void advise_unit(const sc_expert_store *s, const unit *x, int advice) {
    if (!x->mapped) return;
    for (int i = 0; i < 3; i++) {
        const sc_tensor *t = mats(&x->src, i);
        if (t->data) {
            const size_t len = (size_t)t->shape[0] * (size_t)sc_tensor_cols(t) * sc_dtype_size(t->dtype);
            advise(s->page, t->data, len, advice);
        }
    }
}

/* ------------------------------------------------------------------- LRU */

static void lru_unlink(sc_expert_store *s, int64_t i) {
    unit *x = &s->u[i];
    if (x->prev != NONE) s->u[x->prev].next = x->next;
    else s->head = x->next;
    if (x->next != NONE) s->u[x->next].prev = x->prev;
    else s->tail = x->prev;
    x->prev = x->next = NONE;
}

static void lru_push_front(sc_expert_store *s, int64_t i) {
    unit *x = &s->u[i];
    x->prev = NONE;
    x->next = s->head;
    if (s->head != NONE) s->u[s->head].prev = i;
    s->head = i;
    if (s->tail == NONE) s->tail = i;
}

static void evict(sc_expert_store *s, int64_t i, sc_expert_stats *st) {
    unit *x = &s->u[i];
    lru_unlink(s, i);
    x->resident = false;
    s->resident -= x->bytes;
    if (x->convert) free_converted(s, x);
    else advise_unit(s, x, MADV_DONTNEED);
    if (st && i / s->n_experts < st->n_layers) st->layers[i / s->n_experts].evictions++;
}

/* Evicts unpinned experts from the LRU end until `need` more bytes fit. */
static void make_room(sc_expert_store *s, size_t need, sc_expert_stats *st) {
    if (!s->max_bytes) return;
    int64_t i = s->tail;
    while (i != NONE && s->resident + need > s->max_bytes) {
        int64_t prev = s->u[i].prev;
        if (!s->u[i].pins) evict(s, i, st);
        i = prev;
    }
}

/* Converts x's source views into w / owned[3]. Reads only what is fixed
 * after configure (x->src, s->to, s->k), so it runs without the lock; on
 * error nothing is left allocated. */
static sc_status convert_views(const sc_expert_store *s, const unit *x, int64_t layer, int64_t e,
                               sc_ffn_weights *w, void *owned[3], sc_error *err) {
    *w = x->src;
    for (int i = 0; i < 3; i++) owned[i] = NULL;
    for (int i = 0; i < 3; i++) {
        sc_tensor *t = i == 0 ? &w->wi : i == 1 ? &w->wi1 : &w->wo;
        if (!t->data) continue;
        char name[96];
        snprintf(name, sizeof name, "sparse layer %lld expert %lld matrix %d", (long long)layer, (long long)e, i);
        sc_tensor conv;
        sc_status st = sc_weights_convert(&conv, &owned[i], t, s->to, s->k, name, err);
        if (st) {
            for (int j = 0; j < i; j++) {
                sc_free_aligned(owned[j]);
                owned[j] = NULL;
            }
            return st;
        }
        *t = conv;
    }
    /* The source pages are not read again until the next conversion. */
    advise_unit(s, x, MADV_DONTNEED);
    return SC_OK;
}

/* Marks unit i resident (its bytes already counted in s->resident). */
static void make_resident(sc_expert_store *s, int64_t i, sc_expert_layer_stats *ls) {
    unit *x = &s->u[i];
    x->resident = true;
    lru_push_front(s, i);
    if (ls) {
        ls->misses++;
        ls->bytes_read += x->bytes;
    }
}

sc_status sc_expert_store_acquire(sc_expert_store *s, int64_t layer, int64_t e, sc_expert_stats *stats,
                                  const sc_ffn_weights **out, sc_error *err) {
    const int64_t i = layer * s->n_experts + e;
    unit *x = &s->u[i];
    sc_expert_layer_stats *ls = stats && layer < stats->n_layers ? &stats->layers[layer] : NULL;
    pthread_mutex_lock(&s->mu);
    /* Another session is converting this unit: wait for it to publish (a
     * hit for this session) or fail (then this session tries itself). */
    while (x->converting) pthread_cond_wait(&s->converted, &s->mu);
    if (x->forever) {
        if (ls) ls->hits++;
    } else if (x->resident) {
        lru_unlink(s, i);
        lru_push_front(s, i);
        if (ls) ls->hits++;
    } else {
        make_room(s, x->bytes, stats);
        /* Reserve the bytes now, so that sessions converting other units at
         * the same time see them and the bound holds. */
        s->resident += x->bytes;
        if (s->resident > s->peak) s->peak = s->resident;
        if (x->convert) {
            x->converting = true;
            x->pins++;
            pthread_mutex_unlock(&s->mu);
            sc_ffn_weights w;
            void *owned[3];
            sc_status st = convert_views(s, x, layer, e, &w, owned, err);
            pthread_mutex_lock(&s->mu);
            x->converting = false;
            x->pins--;
            if (st) {
                s->resident -= x->bytes;
                pthread_cond_broadcast(&s->converted);
                pthread_mutex_unlock(&s->mu);
                return st;
            }
            for (int j = 0; j < 3; j++) x->owned[j] = owned[j];
            x->w = w;
            s->owned += x->bytes;
            pthread_cond_broadcast(&s->converted);
        }
        make_resident(s, i, ls);
    }
    x->pins++;
    *out = &x->w;
    pthread_mutex_unlock(&s->mu);
    return SC_OK;
}

void sc_expert_store_release(sc_expert_store *s, int64_t layer, int64_t e, sc_expert_stats *stats) {
    unit *x = &s->u[layer * s->n_experts + e];
    pthread_mutex_lock(&s->mu);
    if (x->pins > 0) x->pins--;
    if (s->max_bytes && s->resident > s->max_bytes) make_room(s, 0, stats);
    pthread_mutex_unlock(&s->mu);
}

void sc_expert_store_prefetch(sc_expert_store *s, int64_t layer, const int64_t *counts) {
    pthread_mutex_lock(&s->mu);
    for (int64_t e = 0; e < s->n_experts; e++) {
        unit *x = &s->u[layer * s->n_experts + e];
        if (counts[e] > 0 && !x->resident && !x->converting && !x->forever) advise_unit(s, x, MADV_WILLNEED);
    }
    pthread_mutex_unlock(&s->mu);
}

sc_status sc_expert_store_convert(sc_expert_store *s, int64_t layer, int64_t e, sc_dtype to,
                                  const sc_kernels *k, sc_error *err) {
    unit *x = &s->u[layer * s->n_experts + e];
    if (x->resident) return sc_fail(err, SC_ERR_INVALID_ARG, SC_NO_OFFSET, "expert store: convert a resident expert");
    sc_ffn_weights w = x->src;
    for (int i = 0; i < 3; i++) {
        sc_tensor *t = i == 0 ? &w.wi : i == 1 ? &w.wi1 : &w.wo;
        if (!t->data) continue;
        char name[96];
        snprintf(name, sizeof name, "sparse layer %lld expert %lld matrix %d", (long long)layer, (long long)e, i);
        void *owned;
        sc_tensor conv;
        sc_status st = sc_weights_convert(&conv, &owned, t, to, k, name, err);
        if (st) return st;
        size_t bytes = 0;
        if (owned) sc_weights_converted_bytes(conv.shape[0], conv.shape[1], to, &bytes);
        if ((st = sc_owned_push(&s->eager, owned, bytes, err))) return st;
        *t = conv;
    }
    x->src = x->w = w;
    x->forever = true;
    return SC_OK;
}

size_t sc_expert_store_owned_bytes(const sc_expert_store *s) {
    if (!s) return 0;
    pthread_mutex_lock((pthread_mutex_t *)&s->mu);
    size_t r = s->owned + s->eager.bytes;
    pthread_mutex_unlock((pthread_mutex_t *)&s->mu);
    return r;
}

size_t sc_expert_store_resident_bytes(const sc_expert_store *s) {
    if (!s) return 0;
    pthread_mutex_lock((pthread_mutex_t *)&s->mu);
    size_t r = s->resident;
    pthread_mutex_unlock((pthread_mutex_t *)&s->mu);
    return r;
}

size_t sc_expert_store_peak_bytes(const sc_expert_store *s) {
    if (!s) return 0;
    pthread_mutex_lock((pthread_mutex_t *)&s->mu);
    size_t r = s->peak;
    pthread_mutex_unlock((pthread_mutex_t *)&s->mu);
    return r;
}

size_t sc_expert_store_expert_bytes(const sc_expert_store *s, int64_t layer, int64_t e) {
    return s->u[layer * s->n_experts + e].bytes;
}

bool sc_expert_store_is_resident(const sc_expert_store *s, int64_t layer, int64_t e) {
    pthread_mutex_lock((pthread_mutex_t *)&s->mu);
    bool r = s->u[layer * s->n_experts + e].resident;
    pthread_mutex_unlock((pthread_mutex_t *)&s->mu);
    return r;
}
