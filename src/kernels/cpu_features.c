/* cpuid/xgetbv feature detection. Leaves out: cache sizes, hybrid-core
 * topology, non-x86 feature detection (other CPUs use the ref kernels). */
#define _GNU_SOURCE
#include "kernels/cpu_features.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__)
#include <cpuid.h>
#if defined(__linux__)
#include <sys/syscall.h>
#include <unistd.h>
#endif

static unsigned long long read_xcr0(void) {
    unsigned int lo, hi;
    __asm__ __volatile__("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((unsigned long long)hi << 32) | lo;
}

/* Linux keeps AMX tile data off until a process asks (kernel >= 5.16). */
static bool request_amx_permission(void) {
#if defined(__linux__)
    enum { ARCH_GET_XCOMP_PERM = 0x1022, ARCH_REQ_XCOMP_PERM = 0x1023, XFEATURE_XTILEDATA = 18 };
    if (syscall(SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) != 0) return false;
    unsigned long bitmask = 0;
    if (syscall(SYS_arch_prctl, ARCH_GET_XCOMP_PERM, &bitmask) != 0) return false;
    return (bitmask & (1ul << XFEATURE_XTILEDATA)) != 0;
#else
    return false;
#endif
}

static void detect(sc_cpu_features *f) {
    unsigned int a, b, c, d;
    memset(f, 0, sizeof *f);
    if (!__get_cpuid(1, &a, &b, &c, &d)) return;
    bool osxsave = (c >> 27) & 1, fma = (c >> 12) & 1;
    if (!osxsave) return;
    unsigned long long xcr0 = read_xcr0();
    bool os_avx = (xcr0 & 0x6) == 0x6;              /* XMM, YMM */
    bool os_avx512 = os_avx && (xcr0 & 0xe0) == 0xe0; /* opmask, ZMM_Hi256, Hi16_ZMM */
    bool os_amx = (xcr0 & 0x60000) == 0x60000;       /* XTILECFG, XTILEDATA */
    if (__get_cpuid_max(0, NULL) < 7) return;
    __cpuid_count(7, 0, a, b, c, d);
    unsigned int b7 = b, c7 = c, d7 = d;
    __cpuid_count(7, 1, a, b, c, d);
    unsigned int a71 = a;
    f->fma = os_avx && fma;
    f->avx2 = os_avx && ((b7 >> 5) & 1);
    f->avx512f = os_avx512 && ((b7 >> 16) & 1);
    f->avx512dq = f->avx512f && ((b7 >> 17) & 1);
    f->avx512bw = f->avx512f && ((b7 >> 30) & 1);
    f->avx512vl = f->avx512f && ((b7 >> 31) & 1);
    f->avx512_vnni = f->avx512f && ((c7 >> 11) & 1);
    f->avx512_fp16 = f->avx512f && ((d7 >> 23) & 1);
    f->avx512_bf16 = f->avx512f && ((a71 >> 5) & 1);
    unsigned int vb, vc, vd;
    __cpuid(0, a, vb, vc, vd);
    f->fast_bf16_dot = f->avx512_bf16 && vb == 0x68747541u && vd == 0x69746e65u && vc == 0x444d4163u; /* "AuthenticAMD" */
    bool amx_bf16 = (d7 >> 22) & 1, amx_tile = (d7 >> 24) & 1, amx_int8 = (d7 >> 25) & 1;
    const char *no_amx = getenv("SWITCHC_NO_AMX");
    bool hidden = no_amx && *no_amx && strcmp(no_amx, "0") != 0;
    if (!hidden && amx_tile && os_amx && request_amx_permission()) {
        f->amx_tile = true;
        f->amx_bf16 = amx_bf16;
        f->amx_int8 = amx_int8;
    }
}
#else
static void detect(sc_cpu_features *f) { memset(f, 0, sizeof *f); }
#endif

static sc_cpu_features features;
static pthread_once_t once = PTHREAD_ONCE_INIT;
static void detect_once(void) { detect(&features); }

const sc_cpu_features *sc_cpu_features_get(void) {
    pthread_once(&once, detect_once);
    return &features;
}

void sc_cpu_features_string(const sc_cpu_features *f, char *buf, size_t cap) {
    if (!cap) return;
    buf[0] = '\0';
    struct { bool on; const char *name; } list[] = {
        {f->avx2, "avx2"}, {f->fma, "fma"}, {f->avx512f, "avx512f"}, {f->avx512bw, "avx512bw"},
        {f->avx512vl, "avx512vl"}, {f->avx512dq, "avx512dq"}, {f->avx512_vnni, "avx512_vnni"},
        {f->avx512_bf16, "avx512_bf16"}, {f->avx512_fp16, "avx512_fp16"}, {f->amx_tile, "amx_tile"},
        {f->amx_bf16, "amx_bf16"}, {f->amx_int8, "amx_int8"},
    };
    size_t used = 0;
    for (size_t i = 0; i < sizeof list / sizeof *list; i++) {
        if (!list[i].on) continue;
        int w = snprintf(buf + used, cap - used, "%s%s", used ? " " : "", list[i].name);
        if (w < 0 || (size_t)w >= cap - used) break;
        used += (size_t)w;
    }
    if (used == 0) snprintf(buf, cap, "(none)");
}
