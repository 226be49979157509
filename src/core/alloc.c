#include "core/alloc.h"
#include "core/checked.h"

#include <stdlib.h>
#include <string.h>

void *sc_alloc_aligned(size_t size) {
    if (size == 0) return NULL;
    size_t rounded;
    if (!sc_add_size(size, SC_ALIGN - 1, &rounded)) return NULL;
    rounded &= ~(size_t)(SC_ALIGN - 1);
    return aligned_alloc(SC_ALIGN, rounded);
}

void *sc_calloc_aligned(size_t n, size_t size) {
    size_t total;
    if (!sc_mul_size(n, size, &total)) return NULL;
    void *p = sc_alloc_aligned(total);
    if (p) memset(p, 0, total);
    return p;
}

void sc_free_aligned(void *p) { free(p); }
