/* The project's random generator: xoshiro256** seeded through splitmix64,
 * one independent stream per (seed, stream) pair. Sampling in generation,
 * dropout masks, router jitter, data order and span masks all draw from it,
 * so a seed reproduces a run on every machine (never from libc's rand). */
#ifndef SC_CORE_RNG_H
#define SC_CORE_RNG_H

#include <stdint.h>

typedef struct sc_rng {
    uint64_t s[4];
} sc_rng;

void sc_rng_seed(sc_rng *r, uint64_t seed, uint64_t stream);
uint64_t sc_rng_next(sc_rng *r);
/* Uniform double in [0, 1) with 53 random bits. */
double sc_rng_uniform(sc_rng *r);

#endif
