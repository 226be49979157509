/* Span filling with the model card's example: prompt and output ids from
 * the T5 tokenizer fixture ("model_card_expected_output"); markers the
 * output has no span for are kept and counted; ids beyond the tokenizer
 * neither fail nor end a span. */
#include "test_util.h"
#include "switchc.h"

int main(void) {
    sc_tokenizer *t;
    sc_error err;
    CHECK(sc_tokenizer_load(fixture_path("tokenizer/spiece.model"), &t, &err) == SC_OK);
    const char *prompt = "A <extra_id_0> walks into a bar a orders a <extra_id_1> with <extra_id_2> pinch of <extra_id_3>.";
    const int32_t ids[] = {0, 32099, 388, 32098, 6061, 32097, 3, 9, 32096, 3136, 32095, 3, 5, 1};
    char buf[256];
    size_t len, missing = 99;
    CHECK(sc_fill_spans(t, prompt, ids, sizeof ids / sizeof ids[0], buf, sizeof buf, &len, &missing, &err) == SC_OK);
    CHECK(missing == 0);
    CHECKF(!strcmp(buf, "A man walks into a bar a orders a beer with a pinch of salt."), "got '%s'", buf);
    CHECK(len == strlen(buf));
    /* too small: says how much is needed */
    char small[8];
    CHECK(sc_fill_spans(t, prompt, ids, sizeof ids / sizeof ids[0], small, sizeof small, &len, NULL, &err) ==
          SC_ERR_BUFFER_TOO_SMALL);
    CHECK(len == strlen("A man walks into a bar a orders a beer with a pinch of salt."));
    /* a sentinel the output never produced keeps its marker and is counted;
     * text that only looks like a sentinel is kept as text */
    CHECK(sc_fill_spans(t, "x <extra_id_7> y <extra_idz> <extra_id_01> <extra_id_0>", ids, 3, buf, sizeof buf, &len,
                        &missing, &err) == SC_OK);
    CHECKF(!strcmp(buf, "x <extra_id_7> y <extra_idz> <extra_id_01> man"), "got '%s'", buf);
    CHECK(missing == 1);
    /* a sentinel followed at once by the next is an empty span, not a missing one */
    const int32_t empty[] = {0, 32099, 32098, 6061, 1};
    CHECK(sc_fill_spans(t, "a<extra_id_0>b<extra_id_1>c", empty, 5, buf, sizeof buf, &len, &missing, &err) == SC_OK);
    CHECKF(!strcmp(buf, "abbeerc"), "got '%s'", buf);
    CHECK(missing == 0);
    /* ids beyond the tokenizer's 32100 (the model has 32128 rows) give no
     * text and do not end the span */
    const int32_t odd[] = {0, 32099, 388, 32110, 32098, 32127, 6061, 1};
    CHECK(sc_fill_spans(t, "A <extra_id_0>, <extra_id_1>.", odd, 8, buf, sizeof buf, &len, &missing, &err) == SC_OK);
    CHECKF(!strcmp(buf, "A man, beer."), "got '%s'", buf);
    sc_tokenizer_free(t);
    TEST_MAIN_END();
}
