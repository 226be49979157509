/* cli_model_resolve: the CLI side of sc_model_path_resolve, which holds the
 * rules (see switchc.h); this only sizes the buffer and says what failed. */
#include "cli_model.h"
#include "switchc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Resolved paths, freed at exit (at most a few per process). */
static char *resolved[4];
static int n_resolved;

static void free_resolved(void) {
    for (int i = 0; i < n_resolved; i++) free(resolved[i]);
    n_resolved = 0;
}

bool cli_model_resolve(const char *cmd, const char **model, const char *revision) {
    sc_error err;
    size_t len = 0;
    char small[512];
    sc_status st = sc_model_path_resolve(*model, revision, small, sizeof small, &len, &err);
    char *buf = NULL;
    if (st == SC_ERR_BUFFER_TOO_SMALL) { /* a cache path longer than usual */
        buf = malloc(len + 1);
        st = buf ? sc_model_path_resolve(*model, revision, buf, len + 1, &len, &err) : SC_ERR_NOMEM;
        if (!buf) snprintf(err.msg, sizeof err.msg, "out of memory");
    }
    if (st) {
        fprintf(stderr, "switchc %s: %s\n", cmd, err.msg);
        free(buf);
        return false;
    }
    const char *path = buf ? buf : small;
    if (strcmp(path, *model) != 0) {
        if (!buf && !(buf = strdup(small))) {
            fprintf(stderr, "switchc %s: out of memory\n", cmd);
            return false;
        }
        if (n_resolved == (int)(sizeof resolved / sizeof resolved[0])) {
            fprintf(stderr, "switchc %s: too many model names\n", cmd);
            free(buf);
            return false;
        }
        if (n_resolved == 0) atexit(free_resolved);
        resolved[n_resolved++] = buf;
        *model = buf;
    } else {
        free(buf);
    }
    return true;
}
