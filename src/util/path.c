/* See path.h. */
#include "util/path.h"
#include "util/checked.h"

#include <stdlib.h>
#include <string.h>

char *sc_path_join(const char *dir, const char *name) {
    size_t a = strlen(dir), b = strlen(name), bytes;
    if (!sc_add_size(a, b, &bytes) || !sc_add_size(bytes, 2, &bytes)) return NULL;
    char *p = malloc(bytes);
    if (!p) return NULL;
    memcpy(p, dir, a);
    size_t k = a;
    if (a > 0 && dir[a - 1] != '/') p[k++] = '/';
    memcpy(p + k, name, b + 1);
    return p;
}
