/* libFuzzer target: config.json and generation_config.json readers on any
 * JSON document, then the derived sparse-block rule over every block. */
#include "io/config.h"
#include "io/json.h"

#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    sc_json_doc *doc = NULL;
    sc_error err;
    if (sc_json_parse((const char *)data, size, "config.json", &doc, &err) != SC_OK) return 0;
    sc_config c;
    if (sc_config_from_json(sc_json_root(doc), "config.json", &c, &err) == SC_OK) {
        for (int64_t i = 0; i < c.num_layers && i < 4096; i++) sc_config_block_is_sparse(&c, false, i);
        for (int64_t i = 0; i < c.num_decoder_layers && i < 4096; i++) sc_config_block_is_sparse(&c, true, i);
    } else {
        sc_config_defaults(&c);
    }
    sc_generation_config g;
    sc_generation_config_from_json(sc_json_root(doc), "generation_config.json", &c, &g, &err);
    sc_json_free(doc);
    return 0;
}
