/* Hostile inputs for every parser, one case per entry of docs/errors.md:
 * each case builds its input, runs the parser, and checks the status and a
 * substring of the message. The same substring is quoted in the catalogue,
 * and this test reads docs/errors.md to check that every case is listed
 * there with that exact substring, so the two cannot drift apart.
 * Resource-limit cases must fail fast (no huge allocation, no deep stack). */
#include "ckpt_test_util.h"
#include "core/error.h"
#include "core/mapfile.h"
#include "io/config.h"
#include "io/json.h"
#include "io/safetensors.h"
#include "io/torchbin.h"
#include "io/zip.h"

#include <sys/wait.h>
#include <time.h>

typedef struct hcase {
    const char *id;
    sc_status want;
    const char *needle; /* quoted verbatim in docs/errors.md */
    sc_status (*run)(sc_error *err);
    const char *what;   /* the catalogue's description */
} hcase;

/* ------------------------------------------------------------------ json */

static sc_status json_text(const char *s, size_t n, sc_error *err) {
    sc_json_doc *d = NULL;
    sc_status st = sc_json_parse(s, n, "h.json", &d, err);
    sc_json_free(d);
    return st;
}
#define JSON_CASE(fn, lit) \
    static sc_status fn(sc_error *err) { return json_text(lit, sizeof(lit) - 1, err); }
JSON_CASE(j_empty, "")
JSON_CASE(j_trunc, "{\"a\":")
JSON_CASE(j_trailing, "{} x")
JSON_CASE(j_bad_utf8, "\"\xff\"")
JSON_CASE(j_surrogate, "\"\\ud800\"")
JSON_CASE(j_ctrl, "\"a\tb\"")
JSON_CASE(j_leading_zero, "01")
JSON_CASE(j_trailing_comma, "[1,]")
JSON_CASE(j_nan, "NaN")
JSON_CASE(j_unterminated, "\"abc")
JSON_CASE(j_bad_escape, "\"\\q\"")
JSON_CASE(j_short_escape, "\"\\u12\"")
static sc_status j_deep(sc_error *err) {
    size_t n = 100000;
    char *s = malloc(n);
    memset(s, '[', n);
    sc_status st = json_text(s, n, err);
    free(s);
    return st;
}

/* ---------------------------------------------------------------- config */

static sc_status config_text(const char *s, sc_error *err) {
    sc_json_doc *d = NULL;
    sc_status st = sc_json_parse(s, strlen(s), "config.json", &d, err);
    if (st) return st;
    sc_config c;
    st = sc_config_from_json(sc_json_root(d), "config.json", &c, err);
    sc_json_free(d);
    return st;
}
#define CFG_CASE(fn, lit) \
    static sc_status fn(sc_error *err) { return config_text(lit, err); }
CFG_CASE(c_array, "[1]")
CFG_CASE(c_string_dim, "{\"d_model\": \"768\"}")
CFG_CASE(c_huge_dim, "{\"d_model\": 1000000000000}")
CFG_CASE(c_zero_heads, "{\"num_heads\": 0}")
CFG_CASE(c_fraction, "{\"d_ff\": 1.5}")
CFG_CASE(c_router_dtype, "{\"router_dtype\": \"float64\"}")
CFG_CASE(c_act, "{\"dense_act_fn\": \"swish\"}")
CFG_CASE(c_products, "{\"d_model\": 1048576, \"d_ff\": 1048576, \"num_experts\": 1048576, "
                     "\"num_layers\": 1048576}")
CFG_CASE(c_bool, "{\"router_bias\": \"yes\"}")
CFG_CASE(c_eps, "{\"layer_norm_epsilon\": 5}")
static sc_status g_beams(sc_error *err) {
    sc_json_doc *d = NULL;
    const char *s = "{\"num_beams\": \"four\"}";
    sc_status st = sc_json_parse(s, strlen(s), "generation_config.json", &d, err);
    if (st) return st;
    sc_config c;
    sc_config_defaults(&c);
    sc_generation_config g;
    st = sc_generation_config_from_json(sc_json_root(d), "generation_config.json", &c, &g, err);
    sc_json_free(d);
    return st;
}
static sc_status c_big_file(sc_error *err) {
    const char *dir = tmp_case_dir("hostile_big_config");
    char path[4300];
    snprintf(path, sizeof path, "%s/config.json", dir);
    FILE *f = fopen(path, "wb");
    if (!f) return SC_ERR_IO;
    fseek(f, (long)(17 << 20), SEEK_SET); /* sparse 17 MiB file */
    fputc(' ', f);
    fclose(f);
    sc_config c;
    return sc_config_load(path, &c, err);
}

/* ----------------------------------------------------------- safetensors */

static sc_status st_bytes(const void *d, size_t n, sc_error *err) {
    sc_tensor_list *l = NULL;
    sc_status st = sc_safetensors_parse(d, n, "h.safetensors", &l, err);
    sc_tensor_list_free(l);
    return st;
}
/* header length hl, header text, then `data` zero bytes */
static sc_status st_hdr(uint64_t hl, const char *hdr, size_t data, sc_error *err) {
    buf b = {0};
    buf_le(&b, hl, 8);
    buf_str(&b, hdr);
    for (size_t i = 0; i < data; i++) buf_u8(&b, 0);
    sc_status st = st_bytes(b.p, b.n, err);
    buf_free(&b);
    return st;
}
static sc_status st_json(const char *hdr, size_t data, sc_error *err) {
    return st_hdr(strlen(hdr), hdr, data, err);
}
static sc_status s_short(sc_error *err) { return st_bytes("\1\0\0\0\0", 5, err); }
static sc_status s_len62(sc_error *err) { return st_hdr((uint64_t)1 << 62, "{}", 0, err); }
static sc_status s_len_tera(sc_error *err) { return st_hdr(1000000000000ull, "{}", 0, err); }
static sc_status s_len_past(sc_error *err) { return st_hdr(64, "{}", 0, err); }
static sc_status s_not_obj(sc_error *err) { return st_json("[]", 0, err); }
static sc_status s_bad_json(sc_error *err) { return st_json("{\"a\":{", 0, err); }
static sc_status s_dtype(sc_error *err) {
    return st_json("{\"a\":{\"dtype\":\"Q7\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, err);
}
static sc_status s_neg_dim(sc_error *err) {
    return st_json("{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 4, err);
}
static sc_status s_shape62(sc_error *err) {
    return st_json("{\"a\":{\"dtype\":\"F32\",\"shape\":[4611686018427387904,4],\"data_offsets\":[0,16]}}",
                   16, err);
}
static sc_status s_numel_mismatch(sc_error *err) {
    return st_json("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4]}}", 8, err);
}
static sc_status s_past_data(sc_error *err) {
    return st_json("{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 8, err);
}
static sc_status s_reversed(sc_error *err) {
    return st_json("{\"a\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[8,4]}}", 8, err);
}
static sc_status s_overlap(sc_error *err) {
    return st_json("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                   "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
                   12, err);
}
static sc_status s_meta(sc_error *err) { return st_json("{\"__metadata__\":{\"k\":1}}", 0, err); }
static sc_status s_nul_name(sc_error *err) {
    return st_json("{\"a\\u0000b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, err);
}
static sc_status s_record(sc_error *err) { return st_json("{\"a\":[1,2]}", 0, err); }
static sc_status s_rank(sc_error *err) {
    return st_json("{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,4]}}", 4,
                   err);
}

/* ------------------------------------------------------------ shard index */

static sc_status index_case(const char *name, const char *json, const char *shard_file,
                            sc_error *err) {
    const char *dir = tmp_case_dir(name);
    char path[4300];
    snprintf(path, sizeof path, "%s/model.safetensors.index.json", dir);
    write_whole(path, json, strlen(json));
    if (shard_file) {
        snprintf(path, sizeof path, "%s/%s", dir, shard_file);
        const char *h = "{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}";
        buf b = {0};
        buf_le(&b, strlen(h), 8);
        buf_str(&b, h);
        buf_le(&b, 0, 4);
        write_whole(path, b.p, b.n);
        buf_free(&b);
    }
    sc_checkpoint *ck = NULL;
    sc_status st = sc_checkpoint_open(dir, -1, &ck, err);
    sc_checkpoint_close(ck);
    return st;
}
static sc_status i_no_map(sc_error *err) { return index_case("hi_nomap", "{\"metadata\":{}}", NULL, err); }
static sc_status i_traversal(sc_error *err) {
    return index_case("hi_trav", "{\"weight_map\":{\"x\":\"../../etc/passwd\"}}", NULL, err);
}
static sc_status i_missing_shard(sc_error *err) {
    return index_case("hi_miss", "{\"weight_map\":{\"x\":\"s1.safetensors\"}}", NULL, err);
}
static sc_status i_not_string(sc_error *err) {
    return index_case("hi_num", "{\"weight_map\":{\"x\":7}}", NULL, err);
}
static sc_status i_wrong_shard(sc_error *err) {
    return index_case("hi_wrong", "{\"weight_map\":{\"x\":\"s1.safetensors\",\"y\":\"s1.safetensors\"}}",
                      "s1.safetensors", err);
}
static sc_status i_not_json(sc_error *err) { return index_case("hi_json", "weights!", NULL, err); }
static sc_status i_absolute(sc_error *err) {
    return index_case("hi_abs", "{\"weight_map\":{\"x\":\"/tmp/s.safetensors\"}}", NULL, err);
}

/* -------------------------------------------------------------------- zip */

/* A stored zip of the given entries, central directory and EOCD. */
static void zip_build(buf *z, const char *const *names, const buf *datas, int n, int method,
                      int flags) {
    uint64_t offs[16];
    for (int i = 0; i < n; i++) {
        offs[i] = z->n;
        buf_le(z, 0x04034b50, 4);
        buf_le(z, 20, 2);
        buf_le(z, (uint64_t)flags, 2);
        buf_le(z, (uint64_t)method, 2);
        buf_le(z, 0, 4); /* time, date */
        buf_le(z, 0, 4); /* crc */
        buf_le(z, datas[i].n, 4);
        buf_le(z, datas[i].n, 4);
        buf_le(z, strlen(names[i]), 2);
        buf_le(z, 0, 2);
        buf_str(z, names[i]);
        buf_put(z, datas[i].p, datas[i].n);
    }
    uint64_t cd = z->n;
    for (int i = 0; i < n; i++) {
        buf_le(z, 0x02014b50, 4);
        buf_le(z, 20, 2);
        buf_le(z, 20, 2);
        buf_le(z, (uint64_t)flags, 2);
        buf_le(z, (uint64_t)method, 2);
        buf_le(z, 0, 4);
        buf_le(z, 0, 4);
        buf_le(z, datas[i].n, 4);
        buf_le(z, datas[i].n, 4);
        buf_le(z, strlen(names[i]), 2);
        buf_le(z, 0, 2);
        buf_le(z, 0, 2);
        buf_le(z, 0, 2);
        buf_le(z, 0, 2);
        buf_le(z, 0, 4);
        buf_le(z, offs[i], 4);
        buf_str(z, names[i]);
    }
    uint64_t cd_size = z->n - cd;
    buf_le(z, 0x06054b50, 4);
    buf_le(z, 0, 4);
    buf_le(z, (uint64_t)n, 2);
    buf_le(z, (uint64_t)n, 2);
    buf_le(z, cd_size, 4);
    buf_le(z, cd, 4);
    buf_le(z, 0, 2);
}
static sc_status zip_bytes(const buf *z, sc_error *err) {
    sc_zip zz;
    sc_status st = sc_zip_open(z->p, z->n, "h.bin", &zz, err);
    sc_zip_close(&zz);
    return st;
}
static sc_status zip_one(int method, int flags, sc_error *err) {
    buf z = {0}, d = {0};
    buf_str(&d, "hello");
    const char *names[] = {"a/data.pkl"};
    zip_build(&z, names, &d, 1, method, flags);
    sc_status st = zip_bytes(&z, err);
    buf_free(&z);
    buf_free(&d);
    return st;
}
static sc_status z_short(sc_error *err) {
    buf z = {0};
    buf_str(&z, "PK");
    sc_status st = zip_bytes(&z, err);
    buf_free(&z);
    return st;
}
static sc_status z_no_eocd(sc_error *err) {
    buf z = {0};
    for (int i = 0; i < 100; i++) buf_u8(&z, 'x');
    sc_status st = zip_bytes(&z, err);
    buf_free(&z);
    return st;
}
static sc_status z_deflate(sc_error *err) { return zip_one(8, 0, err); }
static sc_status z_encrypted(sc_error *err) { return zip_one(0, 1, err); }
/* EOCD claiming 65000 entries in a 46-byte directory */
static sc_status z_many16(sc_error *err) {
    buf z = {0}, d = {0};
    const char *names[] = {"a"};
    zip_build(&z, names, &d, 1, 0, 0);
    z.p[z.n - 22 + 8] = 0xe8, z.p[z.n - 22 + 9] = 0xfd;   /* entries on disk */
    z.p[z.n - 22 + 10] = 0xe8, z.p[z.n - 22 + 11] = 0xfd; /* total entries */
    sc_status st = zip_bytes(&z, err);
    buf_free(&z);
    return st;
}
/* zip64 end record claiming 10^9 entries */
static sc_status z_many64(sc_error *err) {
    buf z = {0};
    buf_le(&z, 0x06064b50, 4);
    buf_le(&z, 44, 8);
    buf_le(&z, 45, 2);
    buf_le(&z, 45, 2);
    buf_le(&z, 0, 4);
    buf_le(&z, 0, 4);
    buf_le(&z, 1000000000, 8);
    buf_le(&z, 1000000000, 8);
    buf_le(&z, 0, 8); /* cd size */
    buf_le(&z, 0, 8); /* cd offset */
    buf_le(&z, 0x07064b50, 4);
    buf_le(&z, 0, 4);
    buf_le(&z, 0, 8);
    buf_le(&z, 1, 4);
    buf_le(&z, 0x06054b50, 4);
    buf_le(&z, 0, 4);
    buf_le(&z, 0xffff, 2);
    buf_le(&z, 0xffff, 2);
    buf_le(&z, 0xffffffff, 4);
    buf_le(&z, 0xffffffff, 4);
    buf_le(&z, 0, 2);
    sc_status st = zip_bytes(&z, err);
    buf_free(&z);
    return st;
}
static sc_status z_cd_outside(sc_error *err) {
    buf z = {0}, d = {0};
    const char *names[] = {"a"};
    zip_build(&z, names, &d, 1, 0, 0);
    z.p[z.n - 22 + 16] = 0xff, z.p[z.n - 22 + 17] = 0xff; /* cd offset */
    sc_status st = zip_bytes(&z, err);
    buf_free(&z);
    return st;
}
static sc_status z_local_bad(sc_error *err) {
    buf z = {0}, d = {0};
    buf_str(&d, "hello");
    const char *names[] = {"a/data.pkl"};
    zip_build(&z, names, &d, 1, 0, 0);
    z.p[0] = 'X'; /* local header signature */
    sc_status st = zip_bytes(&z, err);
    buf_free(&z);
    buf_free(&d);
    return st;
}
static sc_status z_zip64_locator(sc_error *err) {
    buf z = {0};
    buf_le(&z, 0x07064b50, 4);
    buf_le(&z, 0, 4);
    buf_le(&z, 12345, 8); /* points nowhere */
    buf_le(&z, 1, 4);
    buf_le(&z, 0x06054b50, 4);
    for (int i = 0; i < 18; i++) buf_u8(&z, 0);
    sc_status st = zip_bytes(&z, err);
    buf_free(&z);
    return st;
}

/* ------------------------------------------------------------- torch .bin */

/* A zip "a/data.pkl" = pkl (+ "a/data/0" = 16 zero bytes), parsed as .bin */
static sc_status pickle_case(const buf *pkl, sc_error *err) {
    buf z = {0}, d[2] = {{0}, {0}};
    buf_put(&d[0], pkl->p, pkl->n);
    for (int i = 0; i < 16; i++) buf_u8(&d[1], 0);
    const char *names[] = {"a/data.pkl", "a/data/0"};
    zip_build(&z, names, d, 2, 0, 0);
    sc_tensor_list *l = NULL;
    sc_status st = sc_torchbin_parse(z.p, z.n, "h.bin", &l, err);
    sc_tensor_list_free(l);
    buf_free(&z);
    buf_free(&d[0]);
    buf_free(&d[1]);
    return st;
}
static sc_status pickle_lit(const char *s, size_t n, sc_error *err) {
    buf p = {0};
    buf_put(&p, s, n);
    sc_status st = pickle_case(&p, err);
    buf_free(&p);
    return st;
}
#define PKL_CASE(fn, lit) \
    static sc_status fn(sc_error *err) { return pickle_lit(lit, sizeof(lit) - 1, err); }
PKL_CASE(p_global, "\x80\x02" "cos\nsystem\n" "X\x02\0\0\0ls\x85R.")
PKL_CASE(p_opcode, "\x80\x02}\xff.")
PKL_CASE(p_no_stop, "\x80\x02}")
PKL_CASE(p_underflow, "\x80\x02s.")
PKL_CASE(p_memo, "\x80\x02h\x05.")
PKL_CASE(p_not_dict, "\x80\x02K\x05.")
PKL_CASE(p_proto, "\x80\x09}.")
PKL_CASE(p_str_len, "\x80\x02X\xff\xff\xff\x7f")
/* {"w": _rebuild_tensor_v2(storage of 2^62 floats, 0, (2^62,), (1,), False, OrderedDict())} */
#define LIT(b, s) buf_put(b, s, sizeof(s) - 1)
static sc_status p_huge_storage(sc_error *err) {
    buf p = {0};
    LIT(&p, "\x80\x02}X\x01\0\0\0w");
    LIT(&p, "ctorch._utils\n_rebuild_tensor_v2\n(");
    LIT(&p, "(X\x07\0\0\0storagectorch\nFloatStorage\nX\x01\0\0\0" "0X\x03\0\0\0cpu");
    LIT(&p, "\x8a\x08");
    buf_le(&p, (uint64_t)1 << 62, 8);
    LIT(&p, "tQK");
    buf_u8(&p, 0);
    LIT(&p, "(\x8a\x08");
    buf_le(&p, (uint64_t)1 << 62, 8);
    LIT(&p, "t(K\x01t\x89" "ccollections\nOrderedDict\n)Rt" "Rs.");
    sc_status st = pickle_case(&p, err);
    buf_free(&p);
    return st;
}
static sc_status t_empty(sc_error *err) {
    sc_tensor_list *l = NULL;
    sc_status st = sc_torchbin_parse((const uint8_t *)"", 0, "h.bin", &l, err);
    sc_tensor_list_free(l);
    return st;
}
static sc_status t_no_pkl(sc_error *err) {
    buf z = {0}, d = {0};
    buf_str(&d, "x");
    const char *names[] = {"a/other"};
    zip_build(&z, names, &d, 1, 0, 0);
    sc_tensor_list *l = NULL;
    sc_status st = sc_torchbin_parse(z.p, z.n, "h.bin", &l, err);
    sc_tensor_list_free(l);
    buf_free(&z);
    buf_free(&d);
    return st;
}
static sc_status t_legacy(sc_error *err) {
    /* legacy (pre-1.6) torch.save: a bare pickle, not a zip */
    sc_tensor_list *l = NULL;
    const char *s = "\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19.";
    sc_status st = sc_torchbin_parse((const uint8_t *)s, strlen(s), "h.bin", &l, err);
    sc_tensor_list_free(l);
    return st;
}

/* ---------------------------------------------------------- model binding */

#define MCASE "e8_step2_untied_heads_ne_dmodel"
/* A model dir holding the fixture's weights and a config.json with one key
 * replaced (or the whole config when cfg_all is set). */
static sc_status model_case(const char *name, const char *key, const char *value,
                            sc_error *err) {
    const char *dir = tmp_case_dir(name);
    char src[4300], dst[4300];
    snprintf(src, sizeof src, "%s/models/" MCASE "/model.safetensors", SC_FIXTURES_DIR);
    snprintf(dst, sizeof dst, "%s/model.safetensors", dir);
    buf w = read_whole(src);
    write_whole(dst, w.p, w.n);
    buf_free(&w);
    snprintf(src, sizeof src, "%s/models/" MCASE "/config.json", SC_FIXTURES_DIR);
    snprintf(dst, sizeof dst, "%s/config.json", dir);
    buf c = read_whole(src);
    buf_u8(&c, 0);
    char pat[128];
    snprintf(pat, sizeof pat, "\"%s\": ", key);
    char *at = strstr((char *)c.p, pat);
    if (at) {
        char *v = at + strlen(pat), *end = v;
        while (*end && *end != ',' && *end != '\n') end++;
        buf o = {0};
        buf_put(&o, c.p, (size_t)(v - (char *)c.p));
        buf_str(&o, value);
        buf_str(&o, end);
        write_whole(dst, o.p, o.n);
        buf_free(&o);
    }
    buf_free(&c);
    sc_model *m = NULL;
    sc_model_params p = sc_model_default_params();
    p.n_threads = 1;
    sc_status st = sc_model_load(dir, &p, &m, err);
    sc_model_free(m);
    return st;
}
static sc_status m_more_experts(sc_error *err) { return model_case("hm_experts", "num_experts", "9", err); }
static sc_status m_dff(sc_error *err) { return model_case("hm_dff", "d_ff", "41", err); }
static sc_status m_untied(sc_error *err) { return model_case("hm_tied", "num_decoder_layers", "7", err); }
static sc_status m_layers(sc_error *err) {
    return model_case("hm_layers", "num_layers", "1048576", err);
}
static sc_status m_no_dir(sc_error *err) {
    sc_model *m = NULL;
    return sc_model_load(SC_TMP_DIR "/hostile-no-such-dir", NULL, &m, err);
}

/* -------------------------------------------------------------------- cli */

static sc_status cli_run(const char *args, int want_rc, sc_error *err) {
    char cmd[4400];
    snprintf(cmd, sizeof cmd, "'%s' %s 2>&1", SC_SWITCHC_BIN, args);
    FILE *p = popen(cmd, "r");
    if (!p) return sc_fail(err, SC_ERR_IO, SC_NO_OFFSET, "popen failed");
    char out[8192];
    size_t n = fread(out, 1, sizeof out - 1, p);
    out[n] = '\0';
    int rc = pclose(p);
    rc = WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
    /* the first "error: " line if any (inspect reports on stdout), else the first line */
    char *line = strstr(out, "error: ");
    line = line ? line + 7 : out;
    char *nl = strchr(line, '\n');
    if (nl) *nl = '\0';
    /* exit code 2 (usage) maps to INVALID_ARG, 1 to FORMAT, for the table */
    sc_status st = rc == want_rc ? (rc == 2 ? SC_ERR_INVALID_ARG : SC_ERR_FORMAT) : SC_OK;
    if (err) {
        err->code = st;
        snprintf(err->msg, sizeof err->msg, "%.500s", line);
    }
    return st;
}
/* Tokenizer files: `file` (spiece.model or tokenizer.json) with the given
 * bytes in a fresh directory, loaded with sc_tokenizer_load. */
static sc_status tok_case(const char *name, const char *file, const void *d, size_t n, sc_error *err) {
    const char *dir = tmp_case_dir(name);
    char path[4300];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    write_whole(path, d, n);
    sc_tokenizer *t = NULL;
    sc_status st = sc_tokenizer_load(dir, &t, err);
    sc_tokenizer_free(t);
    return st;
}
static sc_status sp_prefix(const char *name, size_t n, sc_error *err) {
    buf b = read_whole(fixture_path("tokenizer/spiece.model"));
    sc_status st = tok_case(name, "spiece.model", b.p, n < b.n ? n : b.n, err);
    buf_free(&b);
    return st;
}
static sc_status sp_empty(sc_error *err) { return tok_case("hs_empty", "spiece.model", "", 0, err); }
static sc_status sp_cut(sc_error *err) { return sp_prefix("hs_cut", 999, err); }
static sc_status sp_biglen(sc_error *err) {
    return tok_case("hs_biglen", "spiece.model", "\x0a\xff\xff\xff\xff\x0f", 6, err);
}
static sc_status sp_varint(sc_error *err) {
    return tok_case("hs_varint", "spiece.model", "\x0a\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 12, err);
}
static sc_status tj_bpe(sc_error *err) {
    static const char j[] = "{\"model\":{\"type\":\"BPE\",\"vocab\":{}}}";
    return tok_case("hs_bpe", "tokenizer.json", j, sizeof j - 1, err);
}
static sc_status tj_cut(sc_error *err) {
    static const char j[] = "{\"model\":{\"type\":\"Unigram\",\"vocab\":[[\"a\",1.0]]";
    return tok_case("hs_tjcut", "tokenizer.json", j, sizeof j - 1, err);
}
static sc_status tk_decode(sc_error *err) {
    sc_tokenizer *t = NULL;
    sc_status st = sc_tokenizer_load(fixture_path("tokenizer/spiece.model"), &t, err);
    if (st) return st;
    int32_t ids[2] = {37, 32100};
    char out[64];
    size_t len;
    st = sc_tokenizer_decode(t, ids, 2, 0, out, sizeof out, &len, err);
    sc_tokenizer_free(t);
    return st;
}
static sc_status k_gen_beams(sc_error *err) { return cli_run("generate -m x --num-beams 0 hi", 2, err); }
static sc_status k_gen_top_p(sc_error *err) { return cli_run("generate -m x --top-p 1.5 hi", 2, err); }

static sc_status k_unknown_cmd(sc_error *err) { return cli_run("frobnicate", 2, err); }
static sc_status k_inspect_nodir(sc_error *err) { return cli_run("inspect", 2, err); }
static sc_status k_inspect_m(sc_error *err) { return cli_run("inspect -m", 2, err); }
static sc_status k_inspect_fmt(sc_error *err) { return cli_run("inspect -m x --format gguf", 2, err); }
static sc_status k_inspect_opt(sc_error *err) { return cli_run("inspect -m x --fast", 2, err); }
static sc_status k_inspect_two(sc_error *err) { return cli_run("inspect a b", 2, err); }
static sc_status k_verify_opt(sc_error *err) { return cli_run("verify x --bogus", 2, err); }
static sc_status k_inspect_missing(sc_error *err) {
    return cli_run("inspect -m " SC_TMP_DIR "/hostile-no-such-dir", 1, err);
}

/* --------------------------------- Git LFS pointers, cut weights, cache names */

static const char lfs_pointer[] = "version https://git-lfs.github.com/spec/v1\n"
                                  "oid sha256:4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393\n"
                                  "size 2407466624\n";
static sc_status l_weights(sc_error *err) {
    const char *dir = tmp_case_dir("hl_weights");
    char path[4300];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    write_whole(path, lfs_pointer, sizeof lfs_pointer - 1);
    sc_checkpoint *ck = NULL;
    sc_status st = sc_checkpoint_open(dir, -1, &ck, err);
    sc_checkpoint_close(ck);
    return st;
}
static sc_status l_spiece(sc_error *err) {
    return tok_case("hl_spiece", "spiece.model", lfs_pointer, sizeof lfs_pointer - 1, err);
}
/* The fixture's weights cut to their first half: the header promises more
 * bytes than the file has. */
static sc_status l_cut(sc_error *err) {
    const char *dir = tmp_case_dir("hl_cut");
    char path[4300];
    buf w = read_whole(fixture_path("models/" MCASE "/model.safetensors"));
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    write_whole(path, w.p, w.n / 2);
    buf_free(&w);
    sc_checkpoint *ck = NULL;
    sc_status st = sc_checkpoint_open(dir, -1, &ck, err);
    sc_checkpoint_close(ck);
    return st;
}
static sc_status l_cache_name(sc_error *err) {
    char buf_[4200];
    size_t len;
    setenv("HF_HUB_CACHE", tmp_case_dir("hl_empty_cache"), 1);
    sc_status st = sc_model_path_resolve("acme/no-such-model", NULL, buf_, sizeof buf_, &len, err);
    unsetenv("HF_HUB_CACHE");
    return st;
}
static sc_status l_cache_hostile(sc_error *err) {
    char buf_[4200];
    size_t len;
    return sc_model_path_resolve("acme/..", NULL, buf_, sizeof buf_, &len, err);
}

/* ------------------------------------------------------------------ table */

static const hcase cases[] = {
    {"J01", SC_ERR_FORMAT, "h.json: byte 0: unexpected end of input", j_empty, "empty JSON input"},
    {"J02", SC_ERR_FORMAT, "byte 5: unexpected end of input", j_trunc, "object truncated after a key: `{\"a\":`"},
    {"J03", SC_ERR_FORMAT, "unexpected data after the JSON value", j_trailing, "garbage after the value: `{} x`"},
    {"J04", SC_ERR_LIMIT, "nesting deeper than the limit", j_deep, "100,000 nested `[` (stack exhaustion attempt); refused at depth 128"},
    {"J05", SC_ERR_FORMAT, "invalid UTF-8 in string", j_bad_utf8, "byte 0xFF inside a string"},
    {"J06", SC_ERR_FORMAT, "lone high surrogate", j_surrogate, "`\"\\ud800\"`: unpaired UTF-16 surrogate escape"},
    {"J07", SC_ERR_FORMAT, "control character in string", j_ctrl, "raw TAB inside a string"},
    {"J08", SC_ERR_FORMAT, "number with a leading zero", j_leading_zero, "`01`"},
    {"J09", SC_ERR_FORMAT, "h.json: byte 3: expected a value", j_trailing_comma, "trailing comma `[1,]`"},
    {"J10", SC_ERR_FORMAT, "h.json: byte 0: expected a value", j_nan, "`NaN` literal"},
    {"J11", SC_ERR_FORMAT, "unterminated string", j_unterminated, "string without closing quote"},
    {"J12", SC_ERR_FORMAT, "invalid escape in string", j_bad_escape, "`\"\\q\"`: unknown escape"},
    {"J13", SC_ERR_FORMAT, "invalid \\u escape", j_short_escape, "`\"\\u12\"`: short unicode escape"},
    {"C01", SC_ERR_FORMAT, "expected a JSON object at the top level", c_array, "config.json is an array"},
    {"C02", SC_ERR_FORMAT, "key 'd_model': expected an integer, got a string", c_string_dim, "`\"d_model\": \"768\"`"},
    {"C03", SC_ERR_LIMIT, "key 'd_model': 1000000000000 is outside [1, 1048576]", c_huge_dim, "`d_model` 10^12 (absurd size)"},
    {"C04", SC_ERR_FORMAT, "key 'num_heads': 0 is outside [1, 1048576]", c_zero_heads, "`num_heads` 0"},
    {"C05", SC_ERR_FORMAT, "key 'd_ff': expected an integer, got 1.5", c_fraction, "`d_ff` 1.5"},
    {"C06", SC_ERR_FORMAT, "key 'router_dtype': must be \"float32\", \"float16\" or \"bfloat16\"", c_router_dtype, "`router_dtype` \"float64\""},
    {"C07", SC_ERR_UNSUPPORTED, "unsupported activation \"swish\"", c_act, "`dense_act_fn` \"swish\""},
    {"C08", SC_ERR_LIMIT, "key 'num_experts': sizes (d_model 1048576, d_ff 1048576, num_experts 1048576", c_products, "every size at its per-key limit: the parameter count overflows"},
    {"C09", SC_ERR_FORMAT, "key 'router_bias': expected a boolean, got a string", c_bool, "`router_bias` \"yes\""},
    {"C10", SC_ERR_FORMAT, "key 'layer_norm_epsilon': 5 is outside [0, 1]", c_eps, "`layer_norm_epsilon` 5"},
    {"C11", SC_ERR_LIMIT, "config.json: file is 17825793 bytes, more than the 16777216 allowed", c_big_file, "a 17 MiB config.json (read size limit)"},
    {"G01", SC_ERR_FORMAT, "generation_config.json: byte 14: key 'num_beams': expected an integer, got a string", g_beams, "generation_config.json `num_beams` \"four\""},
    {"S01", SC_ERR_FORMAT, "h.safetensors: 5 bytes, too short for the 8-byte header length", s_short, "a 5-byte file"},
    {"S02", SC_ERR_LIMIT, "h.safetensors: header length 4611686018427387904 exceeds the 100000000-byte limit", s_len62, "header length 2^62 (refused before any allocation)"},
    {"S03", SC_ERR_LIMIT, "header length 1000000000000 exceeds the 100000000-byte limit", s_len_tera, "header length 10^12, room for ~10^10 tensor records (refused before parsing)"},
    {"S04", SC_ERR_FORMAT, "header length 64 runs past the end of the 10-byte file", s_len_past, "header length larger than the file"},
    {"S05", SC_ERR_FORMAT, "h.safetensors: header is not a JSON object", s_not_obj, "header `[]`"},
    {"S06", SC_ERR_FORMAT, "h.safetensors header: byte 6: unexpected end of input in object", s_bad_json, "truncated header JSON"},
    {"S07", SC_ERR_FORMAT, "tensor 'a': unknown dtype 'Q7'", s_dtype, "dtype \"Q7\""},
    {"S08", SC_ERR_FORMAT, "tensor 'a': shape[0] is not a non-negative integer", s_neg_dim, "shape [-1]"},
    {"S09", SC_ERR_FORMAT, "tensor 'a': shape and dtype F32 need a different byte count than data_offsets [0, 16]", s_shape62, "shape [2^62, 4] F32: 2^64 elements overflow; refused before any allocation"},
    {"S10", SC_ERR_FORMAT, "need a different byte count than data_offsets [0, 4]", s_numel_mismatch, "shape [2] F32 with 4 data bytes"},
    {"S11", SC_ERR_FORMAT, "tensor 'a': data_offsets end 16 is past the 8 data bytes", s_past_data, "data_offsets beyond the end of the file"},
    {"S12", SC_ERR_FORMAT, "data_offsets must be [begin, end] with 0 <= begin <= end", s_reversed, "data_offsets [8, 4]"},
    {"S13", SC_ERR_FORMAT, "tensors 'a' and 'b' overlap (data_offsets [0, 8] and [4, 12])", s_overlap, "two tensors sharing bytes"},
    {"S14", SC_ERR_FORMAT, "__metadata__ must map strings to strings", s_meta, "`__metadata__` with a number value"},
    {"S15", SC_ERR_FORMAT, "a tensor name contains a NUL byte", s_nul_name, "tensor name `a\\u0000b`"},
    {"S16", SC_ERR_FORMAT, "tensor 'a': record is not an object", s_record, "tensor record `[1,2]`"},
    {"S17", SC_ERR_UNSUPPORTED, "tensor 'a': 9 dimensions (at most 4 supported)", s_rank, "a 9-dimensional tensor"},
    {"I01", SC_ERR_FORMAT, "model.safetensors.index.json: no 'weight_map' object", i_no_map, "shard index without `weight_map`"},
    {"I02", SC_ERR_FORMAT, "weight_map['x'] is not a plain file name in the same directory", i_traversal, "shard `../../etc/passwd` (path traversal)"},
    {"I03", SC_ERR_MISSING, "shard 's1.safetensors' does not exist", i_missing_shard, "index names a shard file that is absent"},
    {"I04", SC_ERR_FORMAT, "index.json: weight_map['x'] is not a plain file name", i_not_string, "shard name is a number"},
    {"I05", SC_ERR_MISSING, "tensor 'y' is not in shard 's1.safetensors'", i_wrong_shard, "index lists a tensor its shard lacks"},
    {"I06", SC_ERR_FORMAT, "model.safetensors.index.json: byte 0: expected a value", i_not_json, "index is not JSON"},
    {"I07", SC_ERR_FORMAT, "weight_map['x'] is not a plain file name in the same", i_absolute, "absolute shard path `/tmp/s.safetensors`"},
    {"Z01", SC_ERR_FORMAT, "h.bin: 2 bytes is too short for a zip archive", z_short, "2-byte .bin"},
    {"Z02", SC_ERR_FORMAT, "not a zip archive (no end-of-central-directory record)", z_no_eocd, "100 bytes without an EOCD record"},
    {"Z03", SC_ERR_UNSUPPORTED, "zip entry 'a/data.pkl' is compressed (method 8); only stored entries are supported", z_deflate, "deflated entry"},
    {"Z04", SC_ERR_UNSUPPORTED, "zip entry 'a/data.pkl' is encrypted", z_encrypted, "encrypted entry"},
    {"Z05", SC_ERR_FORMAT, "65000 zip entries cannot fit a 47-byte central directory", z_many16, "EOCD claiming 65,000 entries (refused before allocating them)"},
    {"Z06", SC_ERR_FORMAT, "1000000000 zip entries cannot fit a 0-byte central directory", z_many64, "zip64 EOCD claiming 10^9 entries (refused before allocating them)"},
    {"Z07", SC_ERR_FORMAT, "central directory (offset 65535, 47 bytes) lies outside the file", z_cd_outside, "central directory offset past the end"},
    {"Z08", SC_ERR_FORMAT, "zip entry 'a/data.pkl': no local header at offset 0", z_local_bad, "central entry pointing to a corrupt local header"},
    {"Z09", SC_ERR_FORMAT, "zip64 locator points to no zip64 end-of-directory record", z_zip64_locator, "zip64 locator pointing nowhere"},
    {"T01", SC_ERR_FORMAT, "h.bin: empty file", t_empty, "empty pytorch_model.bin"},
    {"T02", SC_ERR_FORMAT, "no '<archive>/data.pkl' entry: not a torch zip checkpoint", t_no_pkl, "zip without data.pkl"},
    {"T03", SC_ERR_FORMAT, "h.bin: 15 bytes is too short for a zip archive", t_legacy, "legacy (pre-1.6, non-zip) torch.save file"},
    {"T04", SC_ERR_UNSUPPORTED, "forbidden global 'os system'", p_global, "pickle calling `os.system` (code execution attempt)"},
    {"T05", SC_ERR_UNSUPPORTED, "pickle opcode 0xff ('?') is not allowed", p_opcode, "unknown pickle opcode"},
    {"T06", SC_ERR_FORMAT, "pickle ends without STOP", p_no_stop, "pickle truncated before STOP"},
    {"T07", SC_ERR_FORMAT, "h.bin: data.pkl byte 2: pickle stack underflow", p_underflow, "SETITEM on an empty stack"},
    {"T08", SC_ERR_FORMAT, "memo entry 5 was never stored", p_memo, "BINGET of an unset memo slot"},
    {"T09", SC_ERR_FORMAT, "the pickle is not a dict of tensors", p_not_dict, "pickle whose result is an int"},
    {"T10", SC_ERR_UNSUPPORTED, "h.bin: data.pkl byte 0: pickle protocol 9", p_proto, "pickle protocol 9"},
    {"T11", SC_ERR_FORMAT, "string of 2147483647 bytes runs past the pickle", p_str_len, "BINUNICODE claiming 2^31-1 bytes"},
    {"T12", SC_ERR_FORMAT, "storage '0': 4611686018427387904 elements of F32 do not match its 16-byte entry", p_huge_storage, "storage claiming 2^62 float elements (refused before any allocation)"},
    {"B01", SC_ERR_SHAPE, "'encoder.block.1.layer.1.mlp.router.classifier.weight' is F32 [8, 48], expected a float tensor [9, 48]", m_more_experts, "config `num_experts` 9 for an 8-expert checkpoint"},
    {"B02", SC_ERR_SHAPE, "'encoder.block.0.layer.1.mlp.wi.weight' is F32 [40, 48], expected a float tensor [41, 48]", m_dff, "config `d_ff` 41 for a d_ff 40 checkpoint"},
    {"B03", SC_ERR_MISSING, "checkpoint has no tensor 'decoder.block.6.layer.0.layer_norm.weight'", m_untied, "config `num_decoder_layers` 7 for a 6-layer checkpoint"},
    {"B04", SC_ERR_MISSING, "config.json expects at least 14680132 tensors", m_layers, "config `num_layers` 2^20 (each size legal, product absurd): refused before sizing anything by it"},
    {"B05", SC_ERR_MISSING, "hostile-no-such-dir: no such model directory", m_no_dir, "model directory that does not exist"},
    {"K01", SC_ERR_INVALID_ARG, "switchc: unknown command 'frobnicate'", k_unknown_cmd, "`switchc frobnicate`"},
    {"K02", SC_ERR_INVALID_ARG, "switchc inspect: no model directory (-m DIR)", k_inspect_nodir, "`switchc inspect`"},
    {"K03", SC_ERR_INVALID_ARG, "switchc inspect: -m needs a value", k_inspect_m, "`switchc inspect -m`"},
    {"K04", SC_ERR_INVALID_ARG, "switchc inspect: --format takes 'safetensors' or 'bin'", k_inspect_fmt, "`switchc inspect -m x --format gguf`"},
    {"K05", SC_ERR_INVALID_ARG, "switchc inspect: unknown option '--fast'", k_inspect_opt, "`switchc inspect -m x --fast`"},
    {"K06", SC_ERR_INVALID_ARG, "switchc inspect: more than one model directory", k_inspect_two, "`switchc inspect a b`"},
    {"K07", SC_ERR_INVALID_ARG, "switchc verify: unknown option '--bogus'", k_verify_opt, "`switchc verify x --bogus`"},
    {"K08", SC_ERR_FORMAT, "hostile-no-such-dir: no such file or directory", k_inspect_missing, "`switchc inspect -m` a missing directory (exit 1, said before any report: -m is resolved first)"},
    {"N01", SC_ERR_FORMAT, "spiece.model: the model has no pieces", sp_empty, "empty spiece.model"},
    {"N02", SC_ERR_FORMAT, "field 1 length 8 runs past the end of its message", sp_cut, "spiece.model cut inside a piece"},
    {"N03", SC_ERR_FORMAT, "field 1 length 4294967295 runs past the end of its message", sp_biglen, "spiece.model claiming a 4 GiB field"},
    {"N04", SC_ERR_FORMAT, "spiece.model: truncated length", sp_varint, "spiece.model with an overlong varint"},
    {"N05", SC_ERR_UNSUPPORTED, "tokenizer.json: model.type is not \"Unigram\"", tj_bpe, "tokenizer.json of a BPE model"},
    {"N06", SC_ERR_FORMAT, "unexpected end of input in object", tj_cut, "truncated tokenizer.json"},
    {"N07", SC_ERR_INVALID_ARG, "piece id is out of range", tk_decode, "decode of id 32100"},
    {"L01", SC_ERR_FORMAT, "model.safetensors is a Git LFS pointer, not the weights: install git-lfs", l_weights, "model.safetensors is a Git LFS pointer (a clone made without git-lfs)"},
    {"L02", SC_ERR_FORMAT, "spiece.model is a Git LFS pointer, not the tokenizer", l_spiece, "spiece.model is a Git LFS pointer"},
    {"L03", SC_ERR_FORMAT, "(the file is truncated, or its header is wrong)", l_cut, "model.safetensors cut to half its size"},
    {"L04", SC_ERR_MISSING, "switchc does not download models", l_cache_name, "`-m ORG/NAME` that is neither a path nor in the Hugging Face cache"},
    {"L05", SC_ERR_INVALID_ARG, "not a Hugging Face repo id", l_cache_hostile, "`-m acme/..`"},
    {"K09", SC_ERR_INVALID_ARG, "switchc generate: --num-beams takes an integer in [1, 256], not '0'", k_gen_beams, "`switchc generate --num-beams 0`"},
    {"K10", SC_ERR_INVALID_ARG, "switchc generate: --top-p takes a number in [0, 1], not '1.5'", k_gen_top_p, "`switchc generate --top-p 1.5`"},
};

/* The catalogue row for `id` (a line starting "| ID |"), or NULL. */
static const char *doc_row(const char *doc, const char *id, size_t *len) {
    char key[16];
    snprintf(key, sizeof key, "| %s |", id);
    const char *p = strstr(doc, key);
    if (!p) return NULL;
    const char *e = strchr(p, '\n');
    *len = e ? (size_t)(e - p) : strlen(p);
    return p;
}

int main(int argc, char **argv) {
    (void)open_case;
    bool dump = argc > 1 && !strcmp(argv[1], "--dump"); /* prints id, status, message */
    mkdir(SC_TMP_DIR, 0777);
    char doc_path[4096];
    snprintf(doc_path, sizeof doc_path, "%s/../../docs/errors.md", SC_FIXTURES_DIR);
    char *doc = NULL;
    size_t doc_len = 0;
    CHECKF(sc_file_read(doc_path, 1 << 20, &doc, &doc_len, NULL) == SC_OK, "cannot read %s", doc_path);
    size_t n = sizeof cases / sizeof cases[0];
    CHECK(n >= 40);
    for (size_t i = 0; i < n; i++) {
        const hcase *c = &cases[i];
        sc_error err;
        memset(&err, 0, sizeof err);
        sc_status st = c->run(&err);
        if (dump) printf("%s\t%s\t%s\t%s\t%s\n", c->id, sc_status_name(st), c->needle, c->what, err.msg);
        CHECKF(st == c->want, "%s: status %s, want %s (%s)", c->id, sc_status_name(st),
               sc_status_name(c->want), err.msg);
        CHECKF(strstr(err.msg, c->needle) != NULL, "%s: message '%s' lacks '%s'", c->id, err.msg,
               c->needle);
        if (doc) {
            size_t rl = 0;
            const char *row = doc_row(doc, c->id, &rl);
            CHECKF(row != NULL, "%s is not in docs/errors.md", c->id);
            if (row) {
                /* the needle, in backticks, with '|' written as '\|' in the table */
                char q[600];
                snprintf(q, sizeof q, "`%s`", c->needle);
                bool found = false;
                for (size_t k = 0; k + strlen(q) <= rl && !found; k++)
                    found = !memcmp(row + k, q, strlen(q));
                CHECKF(found, "%s: docs/errors.md row does not quote %s", c->id, q);
                char st_name[40];
                snprintf(st_name, sizeof st_name, "| %s |", sc_status_name(c->want));
                found = false;
                for (size_t k = 0; k + strlen(st_name) <= rl && !found; k++)
                    found = !memcmp(row + k, st_name, strlen(st_name));
                CHECKF(found, "%s: docs/errors.md row lacks status %s", c->id, st_name);
            }
        }
    }
    free(doc);
    TEST_MAIN_END();
}
