/* Row-wise ops; see ops.h. */
#include "model/ops.h"
#include "core/pool.h"
#include "core/dtype.h"

#include <math.h>

/* Work below this many values runs on the calling thread: waking the pool
 * costs more than a decode step's rows. */
#define POOL_MIN_VALUES 65536

typedef struct {
    float *y;
    const float *x, *w;
    int64_t N, D;
    float eps;
    sc_act act;
} rows_job;

static void rmsnorm_rows(const rows_job *j, int64_t r0, int64_t r1) {
    const int64_t D = j->D;
    for (int64_t r = r0; r < r1; r++) {
        const float *xr = j->x + r * D;
        float *yr = j->y + r * D;
        /* HF: variance = x.pow(2).mean(-1) in fp32; x * rsqrt(variance + eps).
         * Summed in double, in 8 fixed lanes (vectorizable, and the same
         * order whatever the thread split). */
        double lane[8] = {0};
        int64_t i = 0;
        for (; i + 8 <= D; i += 8)
            for (int l = 0; l < 8; l++) lane[l] += (double)xr[i + l] * xr[i + l];
        for (; i < D; i++) lane[i % 8] += (double)xr[i] * xr[i];
        double ss = ((lane[0] + lane[4]) + (lane[1] + lane[5])) + ((lane[2] + lane[6]) + (lane[3] + lane[7]));
        float var = (float)(ss / (double)D);
        float inv = 1.0f / sqrtf(var + j->eps);
        for (i = 0; i < D; i++) yr[i] = j->w[i] * (xr[i] * inv);
    }
}

/* Task t of n gets rows [t*N/n, (t+1)*N/n). */
static void task_rows(int64_t N, int task, int n_tasks, int64_t *r0, int64_t *r1) {
    *r0 = N * task / n_tasks;
    *r1 = N * (task + 1) / n_tasks;
}

static void rmsnorm_task(void *ctx, int task, int n_tasks) {
    const rows_job *j = ctx;
    int64_t r0, r1;
    task_rows(j->N, task, n_tasks, &r0, &r1);
    rmsnorm_rows(j, r0, r1);
}

static int tasks_for(sc_pool *pool, int64_t values) {
    return values >= POOL_MIN_VALUES ? sc_pool_size(pool) : 1;
}

void sc_rmsnorm(float *y, const float *x, const float *w, int64_t N, int64_t D, float eps, sc_pool *pool) {
    rows_job j = {.y = y, .x = x, .w = w, .N = N, .D = D, .eps = eps};
    sc_pool_run(pool, rmsnorm_task, &j, tasks_for(pool, N * D));
}

static void add_task(void *ctx, int task, int n_tasks) {
    const rows_job *j = ctx;
    int64_t i0, i1;
    task_rows(j->N, task, n_tasks, &i0, &i1);
    for (int64_t i = i0; i < i1; i++) j->y[i] += j->x[i];
}

void sc_add_inplace(float *y, const float *x, int64_t n, sc_pool *pool) {
    rows_job j = {.y = y, .x = x, .N = n};
    sc_pool_run(pool, add_task, &j, tasks_for(pool, n));
}

void sc_embed_rows(float *y, const sc_tensor *table, const int32_t *ids, int64_t N) {
    const int64_t D = table->shape[1];
    const size_t esz = sc_dtype_size(table->dtype);
    for (int64_t r = 0; r < N; r++) {
        const unsigned char *row = (const unsigned char *)table->data + (size_t)ids[r] * (size_t)D * esz;
        sc_convert_to_f32(y + r * D, row, table->dtype, (size_t)D);
    }
}

static void activate_range(float *x, int64_t n, sc_act act) {
    switch (act) {
    case SC_ACT_RELU:
        for (int64_t i = 0; i < n; i++) x[i] = x[i] > 0.0f ? x[i] : 0.0f;
        break;
    case SC_ACT_GELU_NEW: /* HF NewGELUActivation (tanh approximation) */
        for (int64_t i = 0; i < n; i++) {
            float v = x[i];
            x[i] = 0.5f * v * (1.0f + tanhf(0.7978845608028654f * (v + 0.044715f * v * v * v)));
        }
        break;
    case SC_ACT_GELU: /* exact erf GELU */
        for (int64_t i = 0; i < n; i++) x[i] = 0.5f * x[i] * (1.0f + erff(x[i] * 0.7071067811865476f));
        break;
    }
}

static void activate_task(void *ctx, int task, int n_tasks) {
    const rows_job *j = ctx;
    int64_t i0, i1;
    task_rows(j->N, task, n_tasks, &i0, &i1);
    activate_range(j->y + i0, i1 - i0, j->act);
}

void sc_activate(float *x, int64_t n, sc_act act, sc_pool *pool) {
    rows_job j = {.y = x, .N = n, .act = act};
    sc_pool_run(pool, activate_task, &j, tasks_for(pool, n));
}

void sc_softmax(float *x, int64_t n) {
    float mx = -INFINITY;
    for (int64_t i = 0; i < n; i++) mx = x[i] > mx ? x[i] : mx;
    float sum = 0.0f;
    for (int64_t i = 0; i < n; i++) {
        x[i] = expf(x[i] - mx);
        sum += x[i];
    }
    float inv = 1.0f / sum;
    for (int64_t i = 0; i < n; i++) x[i] *= inv;
}
