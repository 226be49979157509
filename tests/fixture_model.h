/* Loading a fixture model by its case name (tests/fixtures/models/NAME)
 * with one thread and a compute dtype (SC_DTYPE_COUNT: as stored), through
 * the public header; a failure is a CHECK failure naming the case. Include
 * after test_util.h. */
#ifndef SC_TESTS_FIXTURE_MODEL_H
#define SC_TESTS_FIXTURE_MODEL_H

#include "switchc.h"

static inline sc_model *fixture_model_load(const char *name, sc_dtype dt) {
    sc_model_params p = sc_model_default_params();
    p.dtype = dt;
    p.n_threads = 1;
    sc_model *m = NULL;
    sc_error err;
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/models/%s", SC_FIXTURES_DIR, name);
    CHECKF(sc_model_load(dir, &p, &m, &err) == SC_OK, "%s: %s", name, m ? "" : err.msg);
    return m;
}

#endif
