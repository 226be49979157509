/* sc_attention (pooled, vectorized) against sc_attention_ref (the scalar
 * reference) on odd shapes: Tq 1..130, Tk 1..257, H 1..12, Dh 1..100, with
 * and without causal masking, key masks, relative bias and a query offset
 * (decode through a cache, or queries in the middle of the keys). The
 * AVX-512 query-block kernel (Tq >= 8) packs keys in 32-key strips, values
 * and queries in 16-feature rows and runs 16-row blocks, so the sweep puts
 * Tq and Tk on both sides of multiples of 8, 16 and 32 and Dh off multiples
 * of 16. Serial and with a 2-thread pool, with 1 and several scratch rows.
 * Guard values after ctx and after the scratch rows the call was given must
 * stay untouched. A row with no live key (every key it may see is masked)
 * must be exactly zero.
 *
 * Tolerance: |fast - ref| <= 1e-5 * (|ref| + sum_j p_j |v[j,d]|) + 1e-7,
 * i.e. 1e-5 relative to the size of the terms summed (summation order). */
#include "core/pool.h"
#include "model/attention.h"
#include "test_util.h"

#include <math.h>
#include <stdint.h>

#define GUARD 32
static const float GUARD_VAL = -4242.5f;

static uint32_t rng = 777u;
static float frand(void) {
    rng = rng * 1664525u + 1013904223u;
    return (float)((rng >> 8) & 0xffffff) / 8388608.0f - 1.0f;
}
static uint32_t urand(uint32_t n) {
    rng = rng * 1664525u + 1013904223u;
    return (rng >> 8) % n;
}

static int guards_ok(const float *p, int64_t n) {
    for (int64_t i = 0; i < n; i++)
        if (p[i] != GUARD_VAL) return 0;
    return 1;
}

enum { MASK_NONE, MASK_RANDOM, MASK_ALL, MASK_PREFIX };

typedef struct {
    int64_t Tq, Tk, H, Dh;
    int causal, masked, bias; /* masked: MASK_* */
    int64_t q_pos0;           /* -1: Tk - Tq if causal (decode), else 0 */
} attn_case;

/* One case; returns 1 if every check passed (so a failing sweep stops early). */
static int check(attn_case c, sc_pool *pool) {
    const int64_t Tq = c.Tq, Tk = c.Tk, H = c.H, Dh = c.Dh;
    const int64_t I = H * Dh, R = 32; /* bias buckets */
    float *q = malloc(sizeof(float) * (size_t)(Tq * I)), *k = malloc(sizeof(float) * (size_t)(Tk * I));
    float *v = malloc(sizeof(float) * (size_t)(Tk * I)), *table = malloc(sizeof(float) * (size_t)(R * H));
    float *ref = malloc(sizeof(float) * (size_t)(Tq * I + GUARD));
    float *out = malloc(sizeof(float) * (size_t)(Tq * I + GUARD));
    const int64_t rows = 3;
    const int64_t slot = sc_attention_task_floats(Tq, Tk, Dh);
    float *scratch = malloc(sizeof(float) * (size_t)(rows * slot + GUARD));
    int32_t *mask = malloc(sizeof(int32_t) * (size_t)Tk);
    int64_t q_pos0 = c.q_pos0 >= 0 ? c.q_pos0 : c.causal && Tk > Tq ? Tk - Tq : 0;
    const int64_t nb = 2 * Tk + 2 * Tq + q_pos0 + 1;
    int32_t *buckets = malloc(sizeof(int32_t) * (size_t)nb);
    for (int64_t i = 0; i < Tq * I; i++) q[i] = 2.0f * frand();
    for (int64_t i = 0; i < Tk * I; i++) k[i] = 2.0f * frand(), v[i] = frand();
    for (int64_t i = 0; i < R * H; i++) table[i] = 3.0f * frand();
    for (int64_t j = 0; j < Tk; j++) {
        if (c.masked == MASK_ALL) mask[j] = 0; /* the output must be all zeros */
        else if (c.masked == MASK_PREFIX) mask[j] = j >= Tk / 3; /* causal rows before Tk/3 see no key */
        else mask[j] = urand(4) != 0;
    }
    for (int64_t i = 0; i < nb; i++) buckets[i] = (int32_t)urand((uint32_t)R);
    sc_attn_args a = {.q = q, .k = k, .v = v, .Tq = Tq, .Tk = Tk, .H = H, .Dh = Dh};
    a.causal = c.causal;
    a.q_pos0 = q_pos0;
    if (c.masked != MASK_NONE) a.key_mask = mask;
    if (c.bias) {
        a.bias_table = table;
        a.bucket_of = buckets;
        a.bucket_off = Tq + a.q_pos0; /* j - qpos + off in [0, nb) */
    }
    for (int64_t i = 0; i < Tq * I + GUARD; i++) ref[i] = out[i] = GUARD_VAL;
    a.ctx = ref;
    a.scratch = scratch;
    sc_attention_ref(&a);

    int ok = 1;
    for (int variant = 0; variant < 3; variant++) {
        for (int64_t i = 0; i < rows * slot + GUARD; i++) scratch[i] = GUARD_VAL;
        for (int64_t i = 0; i < Tq * I + GUARD; i++) out[i] = GUARD_VAL;
        a.ctx = out;
        a.pool = variant == 0 ? NULL : pool;
        a.scratch_rows = variant == 2 ? rows : variant; /* 0 (= 1), 1 with a pool, 3 with a pool */
        int64_t given = (a.scratch_rows > 1 ? a.scratch_rows : 1) * slot;
        sc_attention(&a);
        double worst = 0;
        int64_t dead_rows_bad = 0;
        for (int64_t i = 0; i < Tq && ok; i++) {
            /* keys row i may see: before its causal end and not masked */
            int64_t live = 0, kend = c.causal && q_pos0 + i + 1 < Tk ? q_pos0 + i + 1 : Tk;
            for (int64_t j = 0; j < kend; j++) live += !a.key_mask || a.key_mask[j];
            for (int64_t h = 0; h < H; h++)
                for (int64_t d = 0; d < Dh; d++) {
                    float r = ref[i * I + h * Dh + d], f = out[i * I + h * Dh + d];
                    double mag = 0; /* sum_j |v[j,d]| bounds sum_j p_j |v[j,d]| */
                    for (int64_t j = 0; j < Tk; j++) mag += fabs(v[j * I + h * Dh + d]);
                    double err = fabs((double)f - (double)r), tol = 1e-5 * (fabs(r) + mag / (double)Tk + 1.0) + 1e-7;
                    if (!(err <= tol) && err / tol > worst) worst = err / tol;
                    if (live == 0 && (f != 0.0f || r != 0.0f)) dead_rows_bad++;
                }
        }
        CHECKF(worst == 0 && dead_rows_bad == 0,
               "Tq=%lld Tk=%lld H=%lld Dh=%lld causal=%d masked=%d bias=%d q_pos0=%lld variant=%d: err/tol %.3g, "
               "%lld nonzero outputs in rows without live keys",
               (long long)Tq, (long long)Tk, (long long)H, (long long)Dh, c.causal, c.masked, c.bias,
               (long long)q_pos0, variant, worst, (long long)dead_rows_bad);
        CHECKF(guards_ok(out + Tq * I, GUARD), "ctx guard, variant %d", variant);
        CHECKF(guards_ok(scratch + given, rows * slot + GUARD - given), "scratch guard, variant %d", variant);
        ok = ok && worst == 0 && dead_rows_bad == 0;
    }
    CHECK(guards_ok(ref + Tq * I, GUARD));
    free(q); free(k); free(v); free(table); free(ref); free(out); free(scratch); free(mask); free(buckets);
    return ok;
}

static int check_case(int64_t Tq, int64_t Tk, int64_t H, int64_t Dh, int causal, int masked, int bias,
                      sc_pool *pool) {
    return check((attn_case){Tq, Tk, H, Dh, causal, masked, bias, -1}, pool);
}

int main(void) {
    sc_pool *pool = sc_pool_create(2);
    CHECK(pool != NULL);
    CHECK(sc_attention_scratch_rows(NULL) == 1);
    CHECK(sc_attention_scratch_rows(pool) == 2);
    const int64_t Tqs[] = {1, 2, 7, 16, 33}, Tks[] = {1, 3, 17, 64, 130, 257}, Hs[] = {1, 3, 12},
                  Dhs[] = {1, 5, 16, 17, 33, 64};
    int failed = 0;
    for (size_t a = 0; a < 5 && !failed; a++)
        for (size_t b = 0; b < 6 && !failed; b++)
            for (size_t c = 0; c < 3 && !failed; c++)
                for (size_t d = 0; d < 6 && !failed; d++) {
                    /* keep the sweep short: big Tq x Tk only with small H x Dh */
                    if (Tqs[a] * Tks[b] * Hs[c] * Dhs[d] > 400000) continue;
                    int variant = (int)((a + b + c + d) % 4);
                    int causal = variant & 1, bias = (variant >> 1) & 1, masked = !causal && (d % 2);
                    if (Tqs[a] > Tks[b] && causal) causal = 0; /* queries past the keys: not a real case */
                    failed = !check_case(Tqs[a], Tks[b], Hs[c], Dhs[d], causal, masked, bias, pool);
                }
    /* every flag combination on one mid shape, every key masked, Dh over 64 */
    for (int f = 0; f < 8; f++) check_case(9, 40, 4, 24, f & 1, (f >> 1) & 1, (f >> 2) & 1, pool);
    check_case(5, 20, 2, 8, 0, MASK_ALL, 1, pool);
    check_case(6, 50, 2, 100, 1, 0, 1, pool);
    check_case(33, 257, 12, 64, 0, 1, 1, pool);
    check_case(1, 257, 12, 64, 1, 0, 1, pool);

    /* The query-block kernel's edges: Tq around the 8-row minimum and the
     * 16-row blocks (short last blocks), Tk around the 32-key strips, Dh 64
     * (the models), 24 and 80 (a 16-feature remainder), 1. Each shape as
     * encoder self-attention (bias, random key mask), cross-attention (no
     * bias, key mask, Tq != Tk) and causal self-attention. */
    const int64_t bq[] = {8, 9, 15, 16, 17, 31, 47, 128}, bk[] = {1, 2, 31, 32, 33, 100, 128, 129},
                  bd[] = {64, 24, 80, 1};
    failed = 0;
    for (size_t a = 0; a < 8 && !failed; a++)
        for (size_t b = 0; b < 8 && !failed; b++) {
            const int64_t Dh = bd[(a + b) % 4], H = Dh == 1 ? 5 : 3;
            failed = !check((attn_case){bq[a], bk[b], H, Dh, 0, MASK_RANDOM, 1, -1}, pool) ||
                     !check((attn_case){bq[a], bk[b], H, Dh, 0, MASK_RANDOM, 0, -1}, pool) ||
                     (bq[a] <= bk[b] && !check((attn_case){bq[a], bk[b], H, Dh, 1, MASK_NONE, 1, -1}, pool));
        }
    /* causal with queries in the middle of the keys (q_pos0 > 0 and keys
     * past the last query), with and without bias and a key mask */
    check((attn_case){16, 64, 2, 64, 1, MASK_NONE, 1, 20}, pool);
    check((attn_case){17, 100, 3, 24, 1, MASK_RANDOM, 1, 33}, pool);
    check((attn_case){40, 45, 2, 80, 1, MASK_NONE, 0, 5}, pool);
    check((attn_case){9, 9, 1, 64, 1, MASK_NONE, 1, 0}, pool);
    /* rows with no live key give zeros: every key masked (blocks and rows),
     * and causal rows that see only a masked prefix */
    check((attn_case){16, 33, 2, 64, 0, MASK_ALL, 1, -1}, pool);
    check((attn_case){12, 128, 2, 24, 0, MASK_ALL, 0, -1}, pool);
    check((attn_case){48, 48, 2, 64, 1, MASK_PREFIX, 1, 0}, pool);
    check((attn_case){20, 70, 3, 80, 1, MASK_PREFIX, 1, 0}, pool);
    check((attn_case){4, 30, 2, 64, 1, MASK_PREFIX, 1, 0}, pool);
    /* the encoder shape of the base models, Tk = 1 with Tq >= 8 */
    check((attn_case){128, 128, 12, 64, 0, MASK_RANDOM, 1, -1}, pool);
    check((attn_case){8, 1, 4, 64, 0, MASK_NONE, 1, -1}, pool);
    sc_pool_free(pool);
    TEST_MAIN_END();
}
