/* Aligned allocation (64 bytes: one cache line, one AVX-512 register). */
#ifndef SC_CORE_ALLOC_H
#define SC_CORE_ALLOC_H

#include <stddef.h>

#define SC_ALIGN 64

/* Returns NULL on failure or when size is 0. Free with sc_free_aligned. */
void *sc_alloc_aligned(size_t size);
/* Zero-filled variant; n*size is overflow-checked. */
void *sc_calloc_aligned(size_t n, size_t size);
void sc_free_aligned(void *p);

#endif
