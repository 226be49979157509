/* torch .bin: the zip reader and restricted unpickler on the fixture, on
 * hand-built archives (non-contiguous and misaligned tensors, tied storages)
 * and on malformed input, each opened from its own temp dir as
 * pytorch_model.bin so the message must name the file. */
#include "ckpt_test_util.h"
#include "core/error.h"
#include "io/torchbin.h"
#include "io/zip.h"

static const char *FIX = "models/e4_step1_tied_bias_overflow/pytorch_model.bin";

/* ------------------------------------------------------- a tiny zip writer */

typedef struct zent {
    const char *name;
    const void *data;
    size_t size;
    unsigned method;
} zent;

/* Stored entries; `pad` bytes of extra field in the first local header
 * shift all later data (to produce misaligned tensors). */
static buf make_zip(const zent *e, int n, size_t pad) {
    buf z = {0}, cd = {0};
    for (int i = 0; i < n; i++) {
        size_t off = z.n, nl = strlen(e[i].name);
        buf_le(&z, 0x04034b50, 4);
        buf_le(&z, 20, 2);
        buf_le(&z, 0, 2);
        buf_le(&z, e[i].method, 2);
        buf_le(&z, 0, 4); /* time, date */
        buf_le(&z, 0, 4); /* crc: not checked */
        buf_le(&z, e[i].size, 4);
        buf_le(&z, e[i].size, 4);
        buf_le(&z, nl, 2);
        size_t xp = i == 0 ? pad : 0;
        buf_le(&z, xp ? xp + 4 : 0, 2);
        buf_str(&z, e[i].name);
        if (xp) {
            buf_le(&z, 0x4246, 2);
            buf_le(&z, xp, 2);
            for (size_t k = 0; k < xp; k++) buf_u8(&z, 0);
        }
        buf_put(&z, e[i].data, e[i].size);
        buf_le(&cd, 0x02014b50, 4);
        buf_le(&cd, 20, 2);
        buf_le(&cd, 20, 2);
        buf_le(&cd, 0, 2);
        buf_le(&cd, e[i].method, 2);
        buf_le(&cd, 0, 4);
        buf_le(&cd, 0, 4);
        buf_le(&cd, e[i].size, 4);
        buf_le(&cd, e[i].size, 4);
        buf_le(&cd, nl, 2);
        buf_le(&cd, 0, 2);
        buf_le(&cd, 0, 2);
        buf_le(&cd, 0, 2);
        buf_le(&cd, 0, 2);
        buf_le(&cd, 0, 4);
        buf_le(&cd, off, 4);
        buf_str(&cd, e[i].name);
    }
    size_t cd_off = z.n;
    buf_put(&z, cd.p, cd.n);
    buf_le(&z, 0x06054b50, 4);
    buf_le(&z, 0, 4);
    buf_le(&z, (uint64_t)n, 2);
    buf_le(&z, (uint64_t)n, 2);
    buf_le(&z, cd.n, 4);
    buf_le(&z, cd_off, 4);
    buf_le(&z, 0, 2);
    buf_free(&cd);
    return z;
}

/* ------------------------------------------------------ pickle building */

static void pk_str(buf *p, const char *s) {
    buf_u8(p, 'X');
    buf_le(p, strlen(s), 4);
    buf_str(p, s);
}
static void pk_int(buf *p, long v) {
    buf_u8(p, 'J');
    buf_le(p, (uint64_t)v, 4);
}

/* key: _rebuild_tensor_v2(storage(key, numel), offset, size, stride, False, OrderedDict()) */
static void pk_tensor(buf *p, const char *name, const char *storage_type, const char *skey,
                      long numel, long offset, int nd, const long *size, const long *stride) {
    pk_str(p, name);
    buf_str(p, "ctorch._utils\n_rebuild_tensor_v2\n(");
    buf_str(p, "(");
    pk_str(p, "storage");
    buf_str(p, "ctorch\n");
    buf_str(p, storage_type);
    buf_str(p, "\n");
    pk_str(p, skey);
    pk_str(p, "cpu");
    pk_int(p, numel);
    buf_str(p, "tQ");
    pk_int(p, offset);
    buf_u8(p, '(');
    for (int i = 0; i < nd; i++) pk_int(p, size[i]);
    buf_u8(p, 't');
    buf_u8(p, '(');
    for (int i = 0; i < nd; i++) pk_int(p, stride[i]);
    buf_u8(p, 't');
    buf_u8(p, 0x89);
    buf_str(p, "ccollections\nOrderedDict\n)R");
    buf_str(p, "tR");
}

static void pk_begin(buf *p) { buf_str(p, "\x80\x02}("); }
static void pk_end(buf *p) { buf_str(p, "u."); }

/* An archive with data.pkl = pickle and storage "0" = 24 floats 0..23. */
static buf make_bin(const buf *pickle, size_t pad) {
    static float st[24];
    for (int i = 0; i < 24; i++) st[i] = (float)i;
    zent e[] = {{"archive/data.pkl", pickle->p, pickle->n, 0},
                {"archive/data/0", st, sizeof st, 0},
                {"archive/version", "3\n", 2, 0}};
    return make_zip(e, 3, pad);
}

static sc_status open_bin(const char *name, const buf *b, sc_error *err) {
    return open_case(name, "pytorch_model.bin", b->p, b->n, err);
}

static void check_fixture(void) {
    buf f = read_whole(fixture_path(FIX));
    sc_zip z;
    sc_error err;
    CHECK(sc_zip_open(f.p, f.n, "fix.bin", &z, &err) == SC_OK);
    CHECK(z.n == 97);
    const sc_zip_entry *v = sc_zip_find(&z, "pytorch_model/version", 21);
    CHECK(v && v->size == 2 && memcmp(f.p + v->data_offset, "3\n", 2) == 0);
    CHECK(sc_zip_find(&z, "pytorch_model/versio", 20) == NULL);
    sc_zip_close(&z);
    sc_zip_close(NULL);

    sc_tensor_list *l = NULL;
    sc_status st = sc_torchbin_parse(f.p, f.n, "fix.bin", &l, &err);
    CHECKF(st == SC_OK, "%s", err.msg);
    CHECK(sc_tensor_list_count(l) == 98);
    const sc_tensor_entry *a = sc_tensor_list_find(l, "shared.weight");
    const sc_tensor_entry *b = sc_tensor_list_find(l, "encoder.embed_tokens.weight");
    /* tied aliases share the storage: same bytes in place, zero copy */
    CHECK(a && b && a->view.data == b->view.data && a->nbytes == 256 * 32 * 4);
    CHECK(a && (const uint8_t *)a->view.data == f.p + a->file_offset);
    sc_tensor_list_free(l);
    buf_free(&f);
}

static void check_synthetic(void) {
    sc_tensor_list *l = NULL;
    sc_error err;
    /* contiguous 2x3 at offset 2; its transpose view (non-contiguous); a
     * stride-0 broadcast row; a scalar; an empty tensor */
    buf p = {0};
    pk_begin(&p);
    long s23[] = {2, 3}, st23[] = {3, 1}, s32[] = {3, 2}, st32[] = {1, 3}, s0[] = {2, 3}, st0[] = {0, 1};
    long e0[] = {0, 4}, est[] = {4, 1};
    pk_tensor(&p, "a", "FloatStorage", "0", 24, 2, 2, s23, st23);
    pk_tensor(&p, "t", "FloatStorage", "0", 24, 2, 2, s32, st32);
    pk_tensor(&p, "b", "FloatStorage", "0", 24, 5, 2, s0, st0);
    pk_tensor(&p, "s", "FloatStorage", "0", 24, 23, 0, NULL, NULL);
    pk_tensor(&p, "e", "FloatStorage", "0", 24, 24, 2, e0, est);
    pk_end(&p);
    int misaligned_seen = 0;
    for (size_t pad = 0; pad < 4; pad++) { /* shifts of 0, 5, 6, 7 bytes */
        buf z = make_bin(&p, pad);
        sc_status st = sc_torchbin_parse(z.p, z.n, "syn.bin", &l, &err);
        CHECKF(st == SC_OK, "%s", err.msg);
        const sc_tensor_entry *a = sc_tensor_list_find(l, "a"), *t = sc_tensor_list_find(l, "t"),
                              *b = sc_tensor_list_find(l, "b"), *s = sc_tensor_list_find(l, "s"),
                              *e = sc_tensor_list_find(l, "e");
        CHECK(a && t && b && s && e);
        if (a && t && b && s && e) {
            const float *fa = a->view.data, *ft = t->view.data, *fb = b->view.data;
            CHECK(fa[0] == 2 && fa[5] == 7 && a->nbytes == 24);
            bool aligned = (uintptr_t)(z.p + a->file_offset) % 4 == 0;
            CHECK(aligned == ((const uint8_t *)fa == z.p + a->file_offset)); /* view iff aligned */
            misaligned_seen += !aligned;
            /* t = a^T: t[i][j] = a[j][i] */
            CHECK(ft[0] == 2 && ft[1] == 5 && ft[2] == 3 && ft[3] == 6 && ft[5] == 7);
            CHECK(fb[0] == 5 && fb[2] == 7 && fb[3] == 5 && fb[5] == 7);
            CHECK(((const float *)s->view.data)[0] == 23 && s->view.ndim == 0 && s->nbytes == 4);
            CHECK(e->nbytes == 0 && e->view.shape[1] == 4);
            for (size_t i = 0; i < sc_tensor_list_count(l); i++)
                CHECK((uintptr_t)sc_tensor_list_at(l, i)->view.data % 4 == 0);
        }
        sc_tensor_list_free(l);
        l = NULL;
        buf_free(&z);
    }
    CHECK(misaligned_seen >= 1 && misaligned_seen < 4);
    buf_free(&p);
}

/* Builds a .bin whose pickle is `pk` (raw bytes) and expects `want`. */
static void bad_pickle(const char *name, const void *pk, size_t n, sc_status want, const char *msg) {
    buf p = {0};
    buf_put(&p, pk, n);
    buf z = make_bin(&p, 0);
    sc_error err;
    sc_status st = open_bin(name, &z, &err);
    CHECKF(st == want && strstr(err.msg, "pytorch_model.bin") && (!msg || strstr(err.msg, msg)),
           "%s: got %s (%s)", name, sc_status_name(st), err.msg);
    buf_free(&z);
    buf_free(&p);
}

static void bad_tensor(const char *name, const char *stype, long numel, long offset, int nd,
                       const long *size, const long *stride, sc_status want, const char *msg) {
    buf p = {0};
    pk_begin(&p);
    pk_tensor(&p, "w", stype, "0", numel, offset, nd, size, stride);
    pk_end(&p);
    bad_pickle(name, p.p, p.n, want, msg);
    buf_free(&p);
}

#define PK(name, lit, want, msg) bad_pickle(name, lit, sizeof(lit) - 1, want, msg)

static void check_bad_pickles(void) {
    PK("pk_os_system", "\x80\x02}(X\1\0\0\0acos\nsystem\nX\2\0\0\0ls\x85Ru.", SC_ERR_UNSUPPORTED,
       "forbidden global 'os system'");
    PK("pk_builtins_eval", "\x80\x02" "cbuiltins\neval\n.", SC_ERR_UNSUPPORTED,
       "forbidden global 'builtins eval'");
    PK("pk_stack_global", "\x80\x04\x8c\x05posix\x8c\x06system\x93.", SC_ERR_UNSUPPORTED,
       "forbidden global 'posix system'");
    PK("pk_unknown_op", "\x80\x02}(I1\n.", SC_ERR_UNSUPPORTED, "opcode 0x49");
    PK("pk_unknown_op_ff", "\x80\x02}\xff.", SC_ERR_UNSUPPORTED, "data.pkl byte 3");
    PK("pk_proto9", "\x80\x09}.", SC_ERR_UNSUPPORTED, "protocol");
    PK("pk_no_stop", "\x80\x02}", SC_ERR_FORMAT, "STOP");
    PK("pk_empty", "", SC_ERR_FORMAT, "STOP");
    PK("pk_underflow", "\x80\x02s.", SC_ERR_FORMAT, "underflow");
    PK("pk_memo_unset", "\x80\x02h\x05.", SC_ERR_FORMAT, "memo");
    PK("pk_memo_huge", "\x80\x02}r\xff\xff\xff\x7f.", SC_ERR_LIMIT, "memo");
    PK("pk_no_mark", "\x80\x02}u.", SC_ERR_FORMAT, "MARK");
    PK("pk_odd_setitems", "\x80\x02}(K\1u.", SC_ERR_FORMAT, "odd");
    PK("pk_string_past_end", "\x80\x02X\xff\xff\0\0ab.", SC_ERR_FORMAT, "string");
    PK("pk_not_dict", "\x80\x02]." , SC_ERR_FORMAT, "dict");
    PK("pk_value_not_tensor", "\x80\x02}(X\1\0\0\0aK\1u.", SC_ERR_UNSUPPORTED, "'a'");
    PK("pk_key_not_string", "\x80\x02}(K\1K\1u.", SC_ERR_FORMAT, "key");
    PK("pk_reduce_storage", "\x80\x02" "ctorch\nFloatStorage\n)R.", SC_ERR_UNSUPPORTED, "REDUCE");
    PK("pk_odict_args", "\x80\x02" "ccollections\nOrderedDict\n]\x85R.", SC_ERR_UNSUPPORTED, "OrderedDict");
    PK("pk_global_unterminated", "\x80\x02" "ctorch", SC_ERR_FORMAT, "GLOBAL");
    PK("pk_persid_bad", "\x80\x02K\1Q.", SC_ERR_FORMAT, "persistent id");
    PK("pk_build_list", "\x80\x02]}b.", SC_ERR_UNSUPPORTED, "BUILD");
    PK("pk_long1_9", "\x80\x02\x8a\x09\0\0\0\0\0\0\0\0\0.", SC_ERR_UNSUPPORTED, "integer");
    /* thousands of nested MARKs */
    buf deep = {0};
    buf_str(&deep, "\x80\x02");
    for (int i = 0; i < 10000; i++) buf_u8(&deep, '(');
    bad_pickle("pk_deep_marks", deep.p, deep.n, SC_ERR_LIMIT, "MARK");
    buf_free(&deep);

    long s23[] = {2, 3}, st23[] = {3, 1}, big[] = {1L << 20, 1L << 20}, st0[] = {0, 0};
    bad_tensor("pk_offset_past_entry", "FloatStorage", 24, 20, 2, s23, st23, SC_ERR_FORMAT, "past the end");
    bad_tensor("pk_stride_past_entry", "FloatStorage", 24, 0, 2, s23, (long[]){100, 1}, SC_ERR_FORMAT, "past the end");
    bad_tensor("pk_numel_mismatch", "FloatStorage", 25, 0, 2, s23, st23, SC_ERR_FORMAT, "do not match");
    bad_tensor("pk_dtype_mismatch", "DoubleStorage", 24, 0, 2, s23, st23, SC_ERR_FORMAT, "do not match");
    bad_tensor("pk_negative_size", "FloatStorage", 24, 0, 2, (long[]){-2, 3}, st23, SC_ERR_FORMAT, "non-negative");
    bad_tensor("pk_negative_offset", "FloatStorage", 24, -1, 2, s23, st23, SC_ERR_FORMAT, "offset");
    bad_tensor("pk_broadcast_huge", "FloatStorage", 24, 0, 2, big, st0, SC_ERR_LIMIT, "larger");
    bad_tensor("pk_five_dims", "FloatStorage", 24, 0, 5, (long[]){1, 1, 1, 1, 1}, (long[]){1, 1, 1, 1, 1},
               SC_ERR_UNSUPPORTED, "dimensions");
    bad_tensor("pk_bad_storage_type", "SparseStorage", 24, 0, 2, s23, st23, SC_ERR_UNSUPPORTED,
               "forbidden global 'torch SparseStorage'");
}

static void check_bad_zips(void) {
    buf f = read_whole(fixture_path(FIX));
    buf b = {0};
    sc_error err;
    sc_status st;
    /* EOCD cut off */
    buf_put(&b, f.p, f.n - 10);
    st = open_bin("zip_truncated", &b, &err);
    CHECK_FAIL(st, SC_ERR_FORMAT, err, "pytorch_model.bin");
    buf_free(&b);
    /* cut inside the central directory: the EOCD survives but points past the end */
    size_t keep = 4096;
    buf_put(&b, f.p, keep);
    buf_put(&b, f.p + f.n - 98, 98); /* zip64 EOCD + locator + EOCD */
    st = open_bin("zip_cd_outside", &b, &err);
    CHECK_FAIL(st, SC_ERR_FORMAT, err, "pytorch_model.bin");
    buf_free(&b);
    /* corrupt the first central entry's signature (the zip64 record gives the offset) */
    buf_put(&b, f.p, f.n);
    size_t z64 = f.n - 98;
    CHECK(memcmp(b.p + z64, "PK\6\6", 4) == 0);
    size_t cd = 0;
    for (int i = 7; i >= 0; i--) cd = (cd << 8) | b.p[z64 + 48 + (size_t)i];
    CHECK(memcmp(b.p + cd, "PK\1\2", 4) == 0);
    b.p[cd + 2] = 9;
    st = open_bin("zip_bad_central", &b, &err);
    CHECK_FAIL(st, SC_ERR_FORMAT, err, "pytorch_model.bin");
    b.p[cd + 2] = 1;
    /* entry count larger than the directory can hold */
    b.p[z64 + 24] = b.p[z64 + 32] = 0xff;
    b.p[z64 + 25] = b.p[z64 + 33] = 0xff;
    st = open_bin("zip_bad_count", &b, &err);
    CHECK_FAIL(st, SC_ERR_FORMAT, err, "pytorch_model.bin");
    buf_free(&b);
    buf_free(&f);

    /* compressed entry, named in the message */
    float d[24] = {0};
    zent e[] = {{"archive/data.pkl", "\x80\x02}.", 4, 0}, {"archive/data/0", d, sizeof d, 8}};
    b = make_zip(e, 2, 0);
    st = open_bin("zip_deflated", &b, &err);
    CHECK_FAIL(st, SC_ERR_UNSUPPORTED, err, "pytorch_model.bin");
    CHECK(strstr(err.msg, "archive/data/0") != NULL);
    buf_free(&b);
    /* local header disagreeing with the central directory */
    e[1].method = 0;
    b = make_zip(e, 2, 0);
    size_t loc = 30 + strlen("archive/data.pkl") + 4;
    CHECK(memcmp(b.p + loc, "PK\3\4", 4) == 0);
    b.p[loc + 30] = 'X';
    st = open_bin("zip_local_mismatch", &b, &err);
    CHECK_FAIL(st, SC_ERR_FORMAT, err, "pytorch_model.bin");
    buf_free(&b);
    /* no data.pkl */
    zent nopk[] = {{"archive/data/0", d, sizeof d, 0}};
    b = make_zip(nopk, 1, 0);
    st = open_bin("zip_no_pickle", &b, &err);
    CHECK_FAIL(st, SC_ERR_FORMAT, err, "data.pkl");
    buf_free(&b);
    /* duplicate entry names */
    zent dup[] = {{"archive/data.pkl", "\x80\x02}.", 4, 0}, {"archive/data.pkl", "\x80\x02}.", 4, 0}};
    b = make_zip(dup, 2, 0);
    st = open_bin("zip_duplicate", &b, &err);
    CHECK_FAIL(st, SC_ERR_FORMAT, err, "twice");
    buf_free(&b);
    /* big-endian archive */
    zent be[] = {{"archive/data.pkl", "\x80\x02}.", 4, 0}, {"archive/byteorder", "big", 3, 0}};
    b = make_zip(be, 2, 0);
    st = open_bin("zip_big_endian", &b, &err);
    CHECK_FAIL(st, SC_ERR_UNSUPPORTED, err, "byteorder");
    buf_free(&b);
    zent le[] = {{"archive/data.pkl", "\x80\x02}.", 4, 0}, {"archive/byteorder", "little", 6, 0}};
    b = make_zip(le, 2, 0);
    sc_tensor_list *l = NULL;
    st = sc_torchbin_parse(b.p, b.n, "le.bin", &l, &err);
    CHECKF(st == SC_OK && sc_tensor_list_count(l) == 0, "%s", err.msg);
    sc_tensor_list_free(l);
    buf_free(&b);
    /* not a zip at all */
    st = open_bin("zip_garbage", &(buf){(uint8_t *)"hello world, this is not a zip file", 35, 0}, &err);
    CHECK_FAIL(st, SC_ERR_FORMAT, err, "pytorch_model.bin");
}

int main(void) {
    check_fixture();
    check_synthetic();
    check_bad_pickles();
    check_bad_zips();
    TEST_MAIN_END();
}
