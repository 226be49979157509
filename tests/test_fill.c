/* Span filling with the model card's example: prompt and output ids from
 * the T5 tokenizer fixture ("model_card_expected_output"). */
#include "test_util.h"
#include "switchc.h"

int main(void) {
    sc_tokenizer *t;
    sc_error err;
    CHECK(sc_tokenizer_load(fixture_path("tokenizer/spiece.model"), &t, &err) == SC_OK);
    const char *prompt = "A <extra_id_0> walks into a bar a orders a <extra_id_1> with <extra_id_2> pinch of <extra_id_3>.";
    const int32_t ids[] = {0, 32099, 388, 32098, 6061, 32097, 3, 9, 32096, 3136, 32095, 3, 5, 1};
    char buf[256];
    size_t len;
    CHECK(sc_fill_spans(t, prompt, ids, sizeof ids / sizeof ids[0], buf, sizeof buf, &len, &err) == SC_OK);
    CHECKF(!strcmp(buf, "A man walks into a bar a orders a beer with a pinch of salt."), "got '%s'", buf);
    CHECK(len == strlen(buf));
    /* too small: says how much is needed */
    char small[8];
    CHECK(sc_fill_spans(t, prompt, ids, sizeof ids / sizeof ids[0], small, sizeof small, &len, &err) ==
          SC_ERR_BUFFER_TOO_SMALL);
    CHECK(len == strlen("A man walks into a bar a orders a beer with a pinch of salt."));
    /* a sentinel the output never produced is left empty; text that only
     * looks like a sentinel is kept */
    CHECK(sc_fill_spans(t, "x <extra_id_7> y <extra_idz>", ids, 3, buf, sizeof buf, &len, &err) == SC_OK);
    CHECKF(!strcmp(buf, "x  y <extra_idz>"), "got '%s'", buf);
    sc_tokenizer_free(t);
    TEST_MAIN_END();
}
