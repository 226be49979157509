/* safetensors: the buffer parser on a fixture and on synthetic files, then
 * one check per malformed input (each written as model.safetensors into its
 * own temp dir and opened as a checkpoint, so the message must name it). */
#include "ckpt_test_util.h"
#include "core/error.h"
#include "io/safetensors.h"

static const char *FIX = "models/e4_step1_tied_bias_overflow/model.safetensors";

/* 8-byte length + header + `data_len` bytes 0,1,2,... */
static buf make_st(const char *header, size_t data_len) {
    buf b = {0};
    buf_le(&b, strlen(header), 8);
    buf_str(&b, header);
    for (size_t i = 0; i < data_len; i++) buf_u8(&b, (unsigned)(i & 0xff));
    return b;
}

/* The fixture with the first occurrence of `from` in its header replaced. */
static buf mutate_header(const buf *orig, const char *from, const char *to) {
    uint64_t hl = 0;
    for (int i = 7; i >= 0; i--) hl = (hl << 8) | orig->p[i];
    buf h = {0};
    buf_put(&h, orig->p + 8, (size_t)hl);
    buf_u8(&h, 0);
    char *hit = strstr((char *)h.p, from);
    buf out = {0};
    if (!hit) {
        fprintf(stderr, "mutate_header: '%s' not found\n", from);
        buf_free(&h);
        return out;
    }
    size_t pre = (size_t)(hit - (char *)h.p);
    size_t nh = (size_t)hl - strlen(from) + strlen(to);
    buf_le(&out, nh, 8);
    buf_put(&out, h.p, pre);
    buf_str(&out, to);
    buf_put(&out, hit + strlen(from), (size_t)hl - pre - strlen(from));
    buf_put(&out, orig->p + 8 + hl, orig->n - 8 - (size_t)hl);
    buf_free(&h);
    return out;
}

static sc_status open_st(const char *name, const buf *b, sc_error *err) {
    return open_case(name, "model.safetensors", b->p, b->n, err);
}

#define BAD(name, b, want)                                      \
    do {                                                        \
        sc_error e_;                                            \
        sc_status s_ = open_st(name, &(b), &e_);                \
        CHECK_FAIL(s_, want, e_, "model.safetensors");          \
    } while (0)

static void check_good(void) {
    buf f = read_whole(fixture_path(FIX));
    CHECK(f.n > 1000);
    sc_tensor_list *l = NULL;
    sc_error err;
    sc_status st = sc_safetensors_parse(f.p, f.n, "fix.safetensors", &l, &err);
    CHECKF(st == SC_OK, "%s", err.msg);
    CHECK(sc_tensor_list_count(l) == 95);
    const sc_tensor_entry *e = sc_tensor_list_find(l, "shared.weight");
    CHECK(e && e->view.dtype == SC_DTYPE_F32 && e->view.ndim == 2 && e->view.shape[0] == 256 &&
          e->view.shape[1] == 32 && e->nbytes == 256 * 32 * 4);
    /* zero copy: the view points into the buffer at file_offset */
    CHECK(e && (const uint8_t *)e->view.data == f.p + e->file_offset);
    CHECK(e && strcmp(e->file, "fix.safetensors") == 0);
    sc_tensor_list_free(l);
    sc_tensor_list_free(NULL);

    /* misaligned data gets an aligned owned copy with the same bytes; a
     * scalar, an empty tensor and gaps are fine */
    buf s = make_st("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[1,9]},"
                    "\"s\":{\"dtype\":\"I64\",\"shape\":[],\"data_offsets\":[16,24]},"
                    "\"z\":{\"dtype\":\"BF16\",\"shape\":[0,3],\"data_offsets\":[24,24]},"
                    "\"__metadata__\":{\"k\":\"v\"}}",
                    24);
    st = sc_safetensors_parse(s.p, s.n, "syn", &l, &err);
    CHECKF(st == SC_OK, "%s", err.msg);
    e = sc_tensor_list_find(l, "a");
    CHECK(e && (uintptr_t)e->view.data % 4 == 0 && memcmp(e->view.data, "\1\2\3\4\5\6\7\10", 8) == 0);
    e = sc_tensor_list_find(l, "s");
    CHECK(e && e->view.ndim == 0 && e->nbytes == 8);
    e = sc_tensor_list_find(l, "z");
    CHECK(e && e->nbytes == 0 && e->view.dtype == SC_DTYPE_BF16);
    CHECK(sc_tensor_list_count(l) == 3);
    sc_tensor_list_free(l);
    buf_free(&s);
    buf_free(&f);
}

static void check_bad(void) {
    buf f = read_whole(fixture_path(FIX));
    buf b = {0};
    sc_error err;
    sc_status st;

    /* truncations */
    buf_put(&b, f.p, 5);
    BAD("st_trunc5", b, SC_ERR_FORMAT);
    buf_free(&b);
    buf_put(&b, f.p, 200); /* header cut */
    BAD("st_trunc_header", b, SC_ERR_FORMAT);
    buf_free(&b);
    buf_put(&b, f.p, f.n - 100); /* data cut: last tensor's end is past the data */
    BAD("st_trunc_data", b, SC_ERR_FORMAT);
    buf_free(&b);

    /* header length past EOF, and absurd */
    buf_put(&b, f.p, f.n);
    uint64_t big = (uint64_t)f.n;
    for (int i = 0; i < 8; i++) b.p[i] = (uint8_t)(big >> (8 * i));
    BAD("st_len_past_eof", b, SC_ERR_FORMAT);
    big = (uint64_t)1 << 62;
    for (int i = 0; i < 8; i++) b.p[i] = (uint8_t)(big >> (8 * i));
    BAD("st_len_huge", b, SC_ERR_LIMIT);
    buf_free(&b);

    /* header JSON and records */
    struct {
        const char *name, *from, *to;
        sc_status want;
        const char *msg;
    } cases[] = {
        {"st_bad_json", "{\"__metadata__\"", "{\"__metadata__\"}", SC_ERR_FORMAT, NULL},
        {"st_not_object", "{\"__metadata__\":{\"format\":\"pt\"},", "[{},", SC_ERR_FORMAT, NULL},
        {"st_unknown_dtype", "\"dtype\":\"F32\"", "\"dtype\":\"Q32\"", SC_ERR_FORMAT, "Q32"},
        {"st_fp8_dtype", "\"dtype\":\"F32\"", "\"dtype\":\"F8_E4M3\"", SC_ERR_UNSUPPORTED, NULL},
        {"st_dtype_number", "\"dtype\":\"F32\"", "\"dtype\":32", SC_ERR_FORMAT, NULL},
        {"st_shape_mismatch", "\"shape\":[32,32]", "\"shape\":[32,33]", SC_ERR_FORMAT, "k.weight"},
        {"st_negative_dim", "\"shape\":[32,32]", "\"shape\":[-32,-32]", SC_ERR_FORMAT, NULL},
        {"st_fraction_dim", "\"shape\":[32,32]", "\"shape\":[32.5,32]", SC_ERR_FORMAT, NULL},
        {"st_five_dims", "\"shape\":[32,32]", "\"shape\":[32,32,1,1,1]", SC_ERR_UNSUPPORTED, NULL},
        {"st_overlap", "\"data_offsets\":[4096,8192]", "\"data_offsets\":[0,4096]", SC_ERR_FORMAT, "overlap"},
        {"st_out_of_range", "\"data_offsets\":[4096,8192]", "\"data_offsets\":[4096000,4100096]", SC_ERR_FORMAT, NULL},
        {"st_reversed", "\"data_offsets\":[4096,8192]", "\"data_offsets\":[8192,4096]", SC_ERR_FORMAT, NULL},
        {"st_offsets_short", "\"data_offsets\":[4096,8192]", "\"data_offsets\":[4096]", SC_ERR_FORMAT, NULL},
        {"st_offset_overflow", "\"data_offsets\":[4096,8192]", "\"data_offsets\":[18446744073709547520,8192]", SC_ERR_FORMAT, NULL},
        {"st_metadata_nonstring", "{\"format\":\"pt\"}", "{\"format\":1}", SC_ERR_FORMAT, "__metadata__"},
        {"st_record_not_object", "{\"dtype\":\"F32\",\"shape\":[32,32],\"data_offsets\":[0,4096]}", "7", SC_ERR_FORMAT, NULL},
        {"st_duplicate", "\"decoder.block.0.layer.0.SelfAttention.o.weight\"", "\"decoder.block.0.layer.0.SelfAttention.k.weight\"", SC_ERR_FORMAT, "twice"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        b = mutate_header(&f, cases[i].from, cases[i].to);
        CHECKF(b.n > 0, "%s", cases[i].name);
        st = open_st(cases[i].name, &b, &err);
        CHECKF(st == cases[i].want && strstr(err.msg, "model.safetensors") &&
                   (!cases[i].msg || strstr(err.msg, cases[i].msg)),
               "%s: got %s (%s)", cases[i].name, sc_status_name(st), err.msg);
        buf_free(&b);
    }
    /* a sane mutation still opens (the harness itself works) */
    b = mutate_header(&f, "\"format\":\"pt\"", "\"format\":\"pt\",\"x\":\"y\"");
    st = open_st("st_sane", &b, &err);
    CHECKF(st == SC_OK, "%s", err.msg);
    buf_free(&b);

    /* buffer API argument checks */
    sc_tensor_list *l = NULL;
    CHECK(sc_safetensors_parse(NULL, 10, "x", &l, &err) == SC_ERR_INVALID_ARG);
    CHECK(sc_safetensors_parse(f.p, f.n, "x", NULL, &err) == SC_ERR_INVALID_ARG);
    CHECK(sc_safetensors_parse(f.p, 0, "x", &l, &err) == SC_ERR_FORMAT && l == NULL);
    buf_free(&f);
}

int main(void) {
    check_good();
    check_bad();
    TEST_MAIN_END();
}
