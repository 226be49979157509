/* One keyed hash for every hash table in the library (JSON objects, the
 * tensor list, the SentencePiece piece index): SipHash-1-3 with a 128-bit key
 * chosen once per process, so an input crafted to collide under one key (a
 * config with thousands of keys, a safetensors header, a vocabulary) does
 * not collide in another process, and table work stays linear.
 *
 * The key is read once, on the first call that needs it (under
 * pthread_once, so any thread may make that call), from, in order:
 *  1. the environment variable SWITCHC_HASH_SEED, for reproducing a run: an
 *     unsigned 64-bit integer written either in decimal ("12345") or in hex
 *     with a 0x or 0X prefix ("0x3039"), 1 to 20 decimal or 1 to 16 hex
 *     digits, no sign, no spaces, nothing after the digits. The seed is
 *     expanded to the 128-bit key with SplitMix64, so every seed, 0 included,
 *     gives a full key. A value that does not parse is ignored (the library
 *     cannot report it); sc_hash_key_source_used() tells which source was
 *     used;
 *  2. the operating system (getrandom(2), else /dev/urandom);
 *  3. if both fail, a mix of the time, the process id and addresses: weaker,
 *     but never a crash or an error.
 * Builds for fuzzing (FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION defined) use
 * seed 0 when SWITCHC_HASH_SEED is unset, so a crash replays the same probe
 * sequences.
 *
 * Hash values are not stable across processes unless the seed is fixed:
 * never store them in files. The functions are thread-safe.
 * Left out: incremental (streaming) hashing; nothing here needs it. */
#ifndef SC_UTIL_HASH_H
#define SC_UTIL_HASH_H

#include <stddef.h>
#include <stdint.h>

/* SipHash-1-3 of p[0..n) under the process key. p may be NULL when n is 0. */
uint64_t sc_hash_bytes(const void *p, size_t n);

/* SipHash-c-d under an explicit key (16 bytes, read as two little-endian
 * 64-bit words), for tests against published vectors: sc_siphash(key, 1, 3,
 * ...) is what sc_hash_bytes computes, sc_siphash(key, 2, 4, ...) is the
 * reference SipHash-2-4. */
uint64_t sc_siphash(const uint8_t key[16], int c_rounds, int d_rounds, const void *p, size_t n);

/* Where the process key came from. */
typedef enum sc_hash_key_source {
    SC_HASH_KEY_ENV = 1,      /* SWITCHC_HASH_SEED */
    SC_HASH_KEY_OS = 2,       /* getrandom(2) or /dev/urandom */
    SC_HASH_KEY_FALLBACK = 3, /* time, pid and addresses */
    SC_HASH_KEY_FUZZ = 4      /* fuzzing build, seed 0 */
} sc_hash_key_source;

/* Initialises the key if needed and says where it came from; a malformed
 * SWITCHC_HASH_SEED gives SC_HASH_KEY_OS (or _FALLBACK). */
sc_hash_key_source sc_hash_key_source_used(void);

#endif
