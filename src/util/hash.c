/* SipHash (Aumasson and Bernstein, "SipHash: a fast short-input PRF", 2012)
 * with configurable round counts, and the process-wide key behind
 * sc_hash_bytes. SipHash-1-3 is used for tables: its output is unpredictable
 * without the key, which is all a hash table needs, at about half the cost
 * of the 2-4 variant meant for message authentication.
 * Left out: a 128-bit output variant and streaming input. */
#if !defined(_GNU_SOURCE)
#define _GNU_SOURCE /* getrandom, O_CLOEXEC */
#endif
#include "util/hash.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#if defined(__linux__) && defined(__has_include)
#if __has_include(<sys/random.h>)
#include <sys/random.h>
#define SC_HAVE_GETRANDOM 1
#endif
#endif

/* ------------------------------------------------------------ SipHash */

static inline uint64_t rotl64(uint64_t x, int b) { return (x << b) | (x >> (64 - b)); }

static inline uint64_t load_le64(const unsigned char *p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

#define SIP_ROUND(v0, v1, v2, v3)                                                                  \
    do {                                                                                           \
        v0 += v1;                                                                                  \
        v1 = rotl64(v1, 13);                                                                       \
        v1 ^= v0;                                                                                  \
        v0 = rotl64(v0, 32);                                                                       \
        v2 += v3;                                                                                  \
        v3 = rotl64(v3, 16);                                                                       \
        v3 ^= v2;                                                                                  \
        v0 += v3;                                                                                  \
        v3 = rotl64(v3, 21);                                                                       \
        v3 ^= v0;                                                                                  \
        v2 += v1;                                                                                  \
        v1 = rotl64(v1, 17);                                                                       \
        v1 ^= v2;                                                                                  \
        v2 = rotl64(v2, 32);                                                                       \
    } while (0)

/* Always inlined so the round counts are constants in sc_hash_bytes. */
static inline __attribute__((always_inline)) uint64_t sip(uint64_t k0, uint64_t k1, int c, int d,
                                                          const unsigned char *p, size_t n) {
    /* The initial constants spell "somepseudorandomlygeneratedbytes". */
    uint64_t v0 = k0 ^ 0x736f6d6570736575ull;
    uint64_t v1 = k1 ^ 0x646f72616e646f6dull;
    uint64_t v2 = k0 ^ 0x6c7967656e657261ull;
    uint64_t v3 = k1 ^ 0x7465646279746573ull;
    size_t whole = n & ~(size_t)7;
    for (size_t i = 0; i < whole; i += 8) {
        uint64_t m = load_le64(p + i);
        v3 ^= m;
        for (int r = 0; r < c; r++) SIP_ROUND(v0, v1, v2, v3);
        v0 ^= m;
    }
    /* The last word: the leftover bytes, little-endian, with the length's
     * low byte on top. */
    uint64_t m = (uint64_t)(n & 0xff) << 56;
    for (size_t i = n - whole; i-- > 0;) m |= (uint64_t)p[whole + i] << (8 * i);
    v3 ^= m;
    for (int r = 0; r < c; r++) SIP_ROUND(v0, v1, v2, v3);
    v0 ^= m;
    v2 ^= 0xff;
    for (int r = 0; r < d; r++) SIP_ROUND(v0, v1, v2, v3);
    return v0 ^ v1 ^ v2 ^ v3;
}

uint64_t sc_siphash(const uint8_t key[16], int c_rounds, int d_rounds, const void *p, size_t n) {
    return sip(load_le64(key), load_le64(key + 8), c_rounds, d_rounds, p, n);
}

/* ---------------------------------------------------------- the key */

static pthread_once_t key_once = PTHREAD_ONCE_INIT;
static uint64_t key0, key1;
static sc_hash_key_source key_src;

/* Strict: decimal, or 0x/0X and hex digits; the whole string; <= 2^64-1. */
static bool parse_seed(const char *s, uint64_t *out) {
    uint64_t v = 0;
    unsigned base = 10;
    if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
        base = 16;
        s += 2;
    }
    if (!*s) return false;
    for (; *s; s++) {
        unsigned dgt;
        if (*s >= '0' && *s <= '9') dgt = (unsigned)(*s - '0');
        else if (base == 16 && *s >= 'a' && *s <= 'f') dgt = (unsigned)(*s - 'a' + 10);
        else if (base == 16 && *s >= 'A' && *s <= 'F') dgt = (unsigned)(*s - 'A' + 10);
        else return false;
        if (__builtin_mul_overflow(v, (uint64_t)base, &v) || __builtin_add_overflow(v, dgt, &v))
            return false;
    }
    *out = v;
    return true;
}

static uint64_t splitmix64(uint64_t *state) {
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static void key_from_seed(uint64_t seed) {
    key0 = splitmix64(&seed);
    key1 = splitmix64(&seed);
}

/* Fills buf with n random bytes from the OS; false if none could be had. */
static bool os_random(unsigned char *buf, size_t n) {
    size_t got = 0;
#ifdef SC_HAVE_GETRANDOM
    /* GRND_NONBLOCK: early in boot, before the pool is ready, fall through to
     * /dev/urandom rather than block a model load. */
    while (got < n) {
        ssize_t r = getrandom(buf + got, n - got, GRND_NONBLOCK);
        if (r > 0) got += (size_t)r;
        else if (r < 0 && errno == EINTR) continue;
        else break;
    }
    if (got == n) return true;
    got = 0;
#endif
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return false;
    while (got < n) {
        ssize_t r = read(fd, buf + got, n - got);
        if (r > 0) got += (size_t)r;
        else if (r < 0 && errno == EINTR) continue;
        else break;
    }
    close(fd);
    return got == n;
}

static void key_init(void) {
    int saved_errno = errno; /* callers should not see our failed opens */
    const char *env = getenv("SWITCHC_HASH_SEED");
    uint64_t seed;
    if (env && parse_seed(env, &seed)) {
        key_from_seed(seed);
        key_src = SC_HASH_KEY_ENV;
        errno = saved_errno;
        return;
    }
#ifdef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
    if (!env) {
        key_from_seed(0);
        key_src = SC_HASH_KEY_FUZZ;
        errno = saved_errno;
        return;
    }
#endif
    unsigned char buf[16];
    if (os_random(buf, sizeof buf)) {
        key0 = load_le64(buf);
        key1 = load_le64(buf + 8);
        key_src = SC_HASH_KEY_OS;
    } else {
        /* No entropy source: mix what differs between runs (clock, pid,
         * where ASLR put the stack and this code) through SipHash under a
         * fixed key, so the bits are at least spread over the whole key. */
        struct {
            struct timespec rt, mono;
            pid_t pid;
            const void *stack, *code;
        } mix;
        memset(&mix, 0, sizeof mix);
        clock_gettime(CLOCK_REALTIME, &mix.rt);
        clock_gettime(CLOCK_MONOTONIC, &mix.mono);
        mix.pid = getpid();
        mix.stack = (const void *)&mix;
        mix.code = (const void *)(uintptr_t)&key_init;
        static const uint8_t fixed[16] = {0x73, 0x77, 0x69, 0x74, 0x63, 0x68, 0x63, 0x2d,
                                          0x66, 0x61, 0x6c, 0x6c, 0x62, 0x61, 0x63, 0x6b};
        uint64_t seed = sc_siphash(fixed, 2, 4, &mix, sizeof mix);
        key_from_seed(seed ^ (uint64_t)time(NULL));
        key1 ^= sc_siphash(fixed, 2, 4, &mix.mono, sizeof mix.mono);
        key_src = SC_HASH_KEY_FALLBACK;
    }
    errno = saved_errno;
}

static inline void key_ready(void) { pthread_once(&key_once, key_init); }

uint64_t sc_hash_bytes(const void *p, size_t n) {
    key_ready();
    return sip(key0, key1, 1, 3, p, n);
}

sc_hash_key_source sc_hash_key_source_used(void) {
    key_ready();
    return key_src;
}
