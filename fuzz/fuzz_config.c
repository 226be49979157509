/* libFuzzer target: JSON parse, then config.json and generation_config.json
 * interpretation. An accepted config must satisfy the documented bounds. */
#include "io/config.h"
#include "io/json.h"

#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    sc_json_doc *doc = NULL;
    sc_error err;
    if (sc_json_parse((const char *)data, size, "config.json", &doc, &err) != SC_OK) return 0;
    sc_config c;
    if (sc_config_from_json(sc_json_root(doc), "config.json", &c, &err) == SC_OK) {
        if (c.d_model < 1 || c.d_model > SC_CONFIG_MAX_DIM || c.num_layers < 1 || c.num_experts < 1 ||
            c.num_heads < 1 || c.d_kv < 1 || c.vocab_size < 1 || c.d_ff < 1 || c.encoder_sparse_step < 0 ||
            c.decoder_sparse_step < 0 || c.num_decoder_layers < 0)
            abort();
        for (int64_t i = 0; i < 4; i++) {
            sc_config_block_is_sparse(&c, false, i);
            sc_config_block_is_sparse(&c, true, i);
        }
        sc_generation_config g;
        if (sc_generation_config_from_json(sc_json_root(doc), "generation_config.json", &c, &g, &err) == SC_OK &&
            (g.num_beams < 1 || g.max_length < 0))
            abort();
    }
    sc_json_free(doc);
    return 0;
}
