/* libFuzzer target: arbitrary bytes as a spiece.model (ModelProto). Loading
 * must fail cleanly or succeed; a model that loads is used to encode and
 * decode a short text. */
#include "switchc.h"
#include "tokenizer/sp_model.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    sp_model m;
    memset(&m, 0, sizeof m);
    sc_error err;
    if (sp_model_parse(data, size, "fuzz.model", &m, &err) == SC_OK) {
        static const char text[] = " Hello, wor ld\xff <x> \xe4\xb8\xad ";
        sp_buf norm = {0}, dec = {0};
        if (sp_normalize(&m, text, sizeof text - 1, &norm) == SC_OK) {
            sp_piece_ref *r = NULL;
            size_t n = 0;
            if (sp_encode_normalized(&m, norm.p, norm.n, &r, &n) == SC_OK && n) {
                const char **pp = malloc(n * sizeof *pp);
                size_t *pl = malloc(n * sizeof *pl);
                int32_t *id = malloc(n * sizeof *id);
                if (pp && pl && id) {
                    for (size_t i = 0; i < n; i++) {
                        pp[i] = norm.p + r[i].off;
                        pl[i] = r[i].len;
                        id[i] = r[i].id;
                    }
                    sp_decode_pieces(&m, pp, pl, id, n, &dec);
                }
                free(pp);
                free(pl);
                free(id);
            }
            free(r);
        }
        sp_buf_free(&norm);
        sp_buf_free(&dec);
    }
    sp_model_free(&m);
    return 0;
}
