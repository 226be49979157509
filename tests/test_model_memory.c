/* A model over tensors in memory (sc_checkpoint_from_list +
 * sc_model_load_checkpoint), the way a trainer evaluates and generates with
 * its parameters without writing them out: built from fp32 copies of a
 * fixture's tensors, it gives bit for bit the logits of the model loaded
 * from the directory; its matrices are the caller's memory (a changed
 * weight shows in the next model built over it, with no copy made). */
#include "core/dtype.h"
#include "io/checkpoint.h"
#include "io/tensor_list.h"
#include "model/model.h"
#include "test_util.h"

#define CASE SC_FIXTURES_DIR "/models/e8_step2_untied_heads_ne_dmodel"

static const int32_t ids[2 * 5] = {5, 17, 33, 9, 1, 44, 8, 19, 3, 1};
static const int32_t labels[2 * 4] = {7, 12, 30, 1, 25, 4, 1, -100};

static size_t numel(const sc_tensor *t) {
    size_t n = 1;
    for (int d = 0; d < t->ndim; d++) n *= (size_t)t->shape[d];
    return n;
}

static float *logits_of(sc_model *m) {
    sc_session *s;
    sc_error err;
    float *out = NULL;
    if (sc_session_new(m, &s, &err)) return NULL;
    sc_forward_result *r = NULL;
    if (sc_session_forward(s, ids, NULL, 2, 5, labels, 4, NULL, &r, &err) == SC_OK) {
        int64_t B, T, V;
        const float *lg = sc_forward_result_logits(r, &B, &T, &V);
        size_t n = (size_t)(B * T * V);
        out = malloc(n * sizeof *out);
        if (out) memcpy(out, lg, n * sizeof *out);
    }
    sc_forward_result_free(r);
    sc_session_free(s);
    return out;
}

/* fp32 copies of every tensor of the fixture, in buffers the test owns */
typedef struct copies {
    size_t n;
    char **names;
    float **data;
    sc_tensor *views;
} copies;

static sc_model *model_over(const copies *c, sc_error *err) {
    sc_tensor_list *l = sc_tensor_list_new();
    const char *file = l ? sc_tensor_list_file(l, "(memory)") : NULL;
    if (!file) return NULL;
    for (size_t i = 0; i < c->n; i++) {
        size_t bytes = numel(&c->views[i]) * sizeof(float);
        if (sc_tensor_list_add(l, c->names[i], strlen(c->names[i]), &c->views[i], bytes, file, 0, err))
            return NULL;
    }
    sc_checkpoint *ck;
    if (sc_tensor_list_index(l, err) || sc_checkpoint_from_list(l, &ck, err)) return NULL;
    sc_model_params p = sc_model_default_params();
    p.kernels = "exact";
    p.n_threads = 1;
    sc_model *m = NULL;
    if (sc_model_load_checkpoint(CASE, ck, &p, &m, err)) return NULL;
    return m;
}

int main(void) {
    sc_error err;
    sc_model_params p = sc_model_default_params();
    p.kernels = "exact";
    p.n_threads = 1;
    sc_model *ref = NULL;
    CHECKF(sc_model_load(CASE, &p, &ref, &err) == SC_OK, "%s", err.msg);
    float *want = ref ? logits_of(ref) : NULL;
    CHECK(want != NULL);
    const size_t n_logits = 2 * 4 * (size_t)(ref ? sc_model_vocab_size(ref) : 0);

    sc_checkpoint *ck = NULL;
    CHECKF(sc_checkpoint_open(CASE, -1, &ck, &err) == SC_OK, "%s", err.msg);
    copies c = {0};
    c.n = ck ? sc_checkpoint_count(ck) : 0;
    c.names = calloc(c.n + 1, sizeof *c.names);
    c.data = calloc(c.n + 1, sizeof *c.data);
    c.views = calloc(c.n + 1, sizeof *c.views);
    for (size_t i = 0; i < c.n; i++) {
        const sc_tensor_entry *e = sc_checkpoint_at(ck, i);
        size_t count = numel(&e->view);
        c.names[i] = strdup(e->name);
        c.data[i] = malloc(count * sizeof(float) + 1);
        sc_convert_to_f32(c.data[i], e->view.data, e->view.dtype, count);
        c.views[i] = e->view;
        c.views[i].dtype = SC_DTYPE_F32;
        c.views[i].data = c.data[i];
    }
    sc_checkpoint_close(ck);

    sc_model *mem = model_over(&c, &err);
    CHECKF(mem != NULL, "%s", err.msg);
    float *got = mem ? logits_of(mem) : NULL;
    CHECK(got && want && memcmp(got, want, n_logits * sizeof(float)) == 0);
    sc_model_free(mem);
    free(got);

    /* the matrices are used in place: zero one expert-free dense matrix and
     * the next model over the same memory sees it */
    for (size_t i = 0; i < c.n; i++)
        if (strcmp(c.names[i], "decoder.block.0.layer.0.SelfAttention.o.weight") == 0)
            memset(c.data[i], 0, numel(&c.views[i]) * sizeof(float));
    mem = model_over(&c, &err);
    got = mem ? logits_of(mem) : NULL;
    CHECK(got && want && memcmp(got, want, n_logits * sizeof(float)) != 0);
    sc_model_free(mem);
    free(got);

    /* a missing tensor is named */
    free(c.names[0]);
    c.names[0] = strdup("not.a.weight");
    CHECK(model_over(&c, &err) == NULL && strstr(err.msg, "checkpoint has no tensor") != NULL);

    for (size_t i = 0; i < c.n; i++) {
        free(c.names[i]);
        free(c.data[i]);
    }
    free(c.names);
    free(c.data);
    free(c.views);
    free(want);
    sc_model_free(ref);
    TEST_MAIN_END();
}
