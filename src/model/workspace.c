#include "model/workspace.h"
#include "core/alloc.h"
#include "core/checked.h"

void *sc_ws_get(sc_workspace *ws, int i, size_t bytes) {
    if (bytes == 0) bytes = 1;
    if (ws->cap[i] >= bytes) return ws->slot[i];
    size_t grown = ws->cap[i] + ws->cap[i] / 2;
    if (grown < bytes) grown = bytes;
    void *p = sc_alloc_aligned(grown);
    if (!p) return NULL;
    sc_free_aligned(ws->slot[i]);
    ws->slot[i] = p;
    ws->cap[i] = grown;
    return p;
}

void *sc_ws_array(sc_workspace *ws, int i, size_t n, size_t elem_size) {
    size_t bytes;
    if (!sc_mul_size(n, elem_size, &bytes)) return NULL;
    return sc_ws_get(ws, i, bytes);
}

void sc_ws_free(sc_workspace *ws) {
    for (int i = 0; i < SC_WS_COUNT; i++) {
        sc_free_aligned(ws->slot[i]);
        ws->slot[i] = NULL;
        ws->cap[i] = 0;
    }
}
