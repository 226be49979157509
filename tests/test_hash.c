/* The keyed hash (core/hash.h) and the three tables built on it: SipHash
 * against published vectors, SWITCHC_HASH_SEED (checked in child processes,
 * since the key is read once per process), and probe counts of the JSON
 * object index, the tensor list index and the SentencePiece piece map on
 * 50,000 keys crafted to collide in FNV-1a (the hash these tables used to
 * have) and on random keys. Work is measured by counting probes, never by
 * timing. */
#include "core/hash.h"
#include "core/error.h"
#include "core/tensor.h"
#include "io/json.h"
#include "io/safetensors.h"
#include "io/tensor_list.h"
#include "tokenizer/sp_model.h"
#include "test_util.h"

#include <stdint.h>
#include <unistd.h>

#define N_KEYS 50000
/* Average probes per key allowed; linear probing at load <= 1/2 with a
 * good hash averages under 2.5. The FNV-1a tables took about N/2 on the
 * colliding set. */
#define MAX_AVG_PROBES 4.0
/* The crafted keys agree in this many low bits of FNV-1a: 2^17 is the slot
 * count the tables pick for 50,000 keys, so under the old hash every key
 * started in the same slot. */
#define COLLIDE_BITS 17

/* ------------------------------------------------------- key sets */

typedef struct keyset {
    char **s;
    size_t n;
} keyset;

static void keyset_free(keyset *k) {
    for (size_t i = 0; i < k->n; i++) free(k->s[i]);
    free(k->s);
    k->s = NULL;
    k->n = 0;
}

static void keyset_push(keyset *k, size_t cap, const char *s) {
    if (k->n >= cap) return;
    k->s[k->n] = strdup(s);
    if (k->s[k->n]) k->n++;
}

static const char ALPHA[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-";
#define FNV_OFFSET 1469598103934665603ull
#define FNV_PRIME 1099511628211ull

static uint64_t fnv1a(const char *s) {
    uint64_t h = FNV_OFFSET;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * FNV_PRIME;
    return h;
}

/* Keys whose FNV-1a hashes agree in the low COLLIDE_BITS bits, by meet in
 * the middle: the low k bits of FNV-1a's state after a byte depend only on
 * the low k bits of the state before it and on the byte, and one step is
 * invertible (xor, then multiply by an odd number). A key is prefix + 2
 * chars + 2 chars: walk the last two chars backwards from the target for
 * all 64^2 pairs, then forwards from each prefix over the first two, and
 * join where the states meet. */
static keyset colliding_keys(size_t n, uint64_t target) {
    const uint64_t mask = (1ull << COLLIDE_BITS) - 1;
    uint64_t inv = FNV_PRIME; /* Newton's iteration for the inverse mod 2^64 */
    for (int i = 0; i < 6; i++) inv *= 2 - FNV_PRIME * inv;
    keyset k = {calloc(n, sizeof(char *)), 0};
    int32_t *head = malloc(((size_t)mask + 1) * sizeof *head);
    int32_t next[64 * 64];
    if (!k.s || !head) {
        free(head);
        return k;
    }
    memset(head, 0xff, ((size_t)mask + 1) * sizeof *head);
    for (int p = 0; p < 64 * 64; p++) {
        uint64_t s = ((target * inv) ^ (unsigned char)ALPHA[p % 64]) & mask; /* before char 4 */
        s = ((s * inv) ^ (unsigned char)ALPHA[p / 64]) & mask;              /* before char 3 */
        next[p] = head[s];
        head[s] = p;
    }
    char buf[32];
    for (unsigned pre = 0; k.n < n; pre++) {
        int len = snprintf(buf, sizeof buf, "w%u.", pre);
        uint64_t h0 = fnv1a(buf);
        for (int a = 0; a < 64 && k.n < n; a++) {
            uint64_t h1 = (h0 ^ (unsigned char)ALPHA[a]) * FNV_PRIME;
            for (int b = 0; b < 64 && k.n < n; b++) {
                uint64_t h2 = ((h1 ^ (unsigned char)ALPHA[b]) * FNV_PRIME) & mask;
                for (int p = head[h2]; p >= 0 && k.n < n; p = next[p]) {
                    buf[len] = ALPHA[a];
                    buf[len + 1] = ALPHA[b];
                    buf[len + 2] = ALPHA[p / 64];
                    buf[len + 3] = ALPHA[p % 64];
                    buf[len + 4] = '\0';
                    keyset_push(&k, n, buf);
                }
            }
        }
    }
    free(head);
    return k;
}

static uint64_t rng_next(uint64_t *s) {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* Distinct random keys: a serial number keeps them distinct. */
static keyset random_keys(size_t n, uint64_t seed) {
    keyset k = {calloc(n, sizeof(char *)), 0};
    if (!k.s) return k;
    char buf[48];
    for (size_t i = 0; i < n; i++) {
        int len = snprintf(buf, sizeof buf, "r%zu.", i);
        for (int j = 0; j < 12; j++) buf[len + j] = ALPHA[rng_next(&seed) % 64];
        buf[len + 12] = '\0';
        keyset_push(&k, n, buf);
    }
    return k;
}

/* The probe count an FNV-1a linear-probing table of `slots` slots needs to
 * insert the first n keys: what the tables cost before the keyed hash. */
static size_t fnv_table_probes(const keyset *k, size_t n, size_t slots) {
    uint8_t *used = calloc(slots, 1);
    if (!used) return 0;
    size_t probes = 0;
    for (size_t i = 0; i < n; i++) {
        size_t s = (size_t)fnv1a(k->s[i]) & (slots - 1);
        for (probes++; used[s]; probes++) s = (s + 1) & (slots - 1);
        used[s] = 1;
    }
    free(used);
    return probes;
}

/* ------------------------------------------------------- SipHash */

static void test_vectors(void) {
    uint8_t key[16], msg[64], zero[16] = {0};
    for (int i = 0; i < 16; i++) key[i] = (uint8_t)i;
    for (int i = 0; i < 64; i++) msg[i] = (uint8_t)i;
    /* SipHash-2-4, key 00..0f, message 00 01 02 .. of each length: the
     * reference implementation's vectors (the 15-byte one is the paper's
     * worked example). */
    static const struct {
        size_t len;
        uint64_t h;
    } v24[] = {{0, 0x726fdb47dd0e0e31ull},  {1, 0x74f839c593dc67fdull},  {7, 0xab0200f58b01d137ull},
               {8, 0x93f5f5799a932462ull},  {15, 0xa129ca6149be45e5ull}, {16, 0x3f2acc7f57c29bdbull},
               {63, 0x958a324ceb064572ull}};
    for (size_t i = 0; i < sizeof v24 / sizeof v24[0]; i++) {
        uint64_t h = sc_siphash(key, 2, 4, msg, v24[i].len);
        CHECKF(h == v24[i].h, "siphash-2-4 len %zu: %016llx", v24[i].len, (unsigned long long)h);
    }
    /* SipHash-1-3 (what the tables use), all-zero key, the same messages. */
    static const struct {
        size_t len;
        uint64_t h;
    } v13[] = {{0, 0xd1fba762150c532cull},  {1, 0x68a914128e01e473ull},  {2, 0x010bac45c41e3669ull},
               {7, 0x2f098ab0c751325aull},  {8, 0xead411e67ebe2eeaull},  {15, 0xf30eb725bb91c9eaull},
               {16, 0x8972188433a5c5b7ull}, {31, 0x169739443111d49bull}, {32, 0x31ef8061c910629bull}};
    for (size_t i = 0; i < sizeof v13 / sizeof v13[0]; i++) {
        uint64_t h = sc_siphash(zero, 1, 3, msg, v13[i].len);
        CHECKF(h == v13[i].h, "siphash-1-3 len %zu: %016llx", v13[i].len, (unsigned long long)h);
    }
    CHECK(sc_siphash(zero, 1, 3, "siphash", 7) == 0x8264ceeccb16bcbeull);
    CHECK(sc_siphash(zero, 1, 3, NULL, 0) == 0xd1fba762150c532cull);
    /* The process key is in use: not the zero key, and stable in a process. */
    CHECK(sc_hash_bytes(msg, 8) == sc_hash_bytes(msg, 8));
    CHECK(sc_hash_bytes(msg, 8) != sc_hash_bytes(msg, 7));
    CHECK(sc_hash_bytes(NULL, 0) == sc_hash_bytes(msg, 0));
}

/* ------------------------------------------------------- the seed */

static char self_path[4096];

/* Runs this test program as a child with SWITCHC_HASH_SEED set to `seed`
 * (unset when NULL); the child prints its hash of a fixed string and its key
 * source. Returns false if the child failed. */
static bool child_hash(const char *seed, char *out, size_t cap) {
    char cmd[8192];
    if (seed)
        snprintf(cmd, sizeof cmd, "SWITCHC_HASH_SEED='%s' %s'%s' --print-hash", seed, SC_TEST_EMULATOR, self_path);
    else
        snprintf(cmd, sizeof cmd, "env -u SWITCHC_HASH_SEED %s'%s' --print-hash", SC_TEST_EMULATOR, self_path);
    int rc = sc_test_run(cmd, out, cap);
    CHECKF(rc == 0, "%s: exit %d", cmd, rc);
    return rc == 0;
}

static int print_hash(void) {
    printf("%016llx src=%d\n", (unsigned long long)sc_hash_bytes("switchc", 7),
           (int)sc_hash_key_source_used());
    return 0;
}

static void test_seed(void) {
    char a[128], b[128], c[128];
    /* The same seed, twice, in decimal and hex: the same hash. */
    if (child_hash("12345", a, sizeof a) && child_hash("12345", b, sizeof b) &&
        child_hash("0x3039", c, sizeof c)) {
        CHECKF(strcmp(a, b) == 0, "seed 12345 gave '%s' then '%s'", a, b);
        CHECKF(strcmp(a, c) == 0, "seeds 12345 and 0x3039 gave '%s' and '%s'", a, c);
        CHECKF(strstr(a, "src=1") != NULL, "seed 12345: key source in '%s'", a);
    }
    /* Different seeds: different hashes. */
    if (child_hash("12345", a, sizeof a) && child_hash("12346", b, sizeof b))
        CHECKF(strcmp(a, b) != 0, "seeds 12345 and 12346 both gave '%s'", a);
    if (child_hash("0", a, sizeof a) && child_hash("0XFFFFFFFFFFFFFFFF", b, sizeof b) &&
        child_hash("18446744073709551615", c, sizeof c)) {
        CHECKF(strcmp(a, b) != 0, "seeds 0 and 2^64-1 both gave '%s'", a);
        CHECKF(strcmp(b, c) == 0, "2^64-1 in hex and decimal gave '%s' and '%s'", b, c);
        CHECKF(strstr(a, "src=1") != NULL, "seed 0: key source in '%s'", a);
    }
    /* No seed: a key from the OS, so two runs differ (but for a 2^-64
     * chance). */
    if (child_hash(NULL, a, sizeof a) && child_hash(NULL, b, sizeof b)) {
        CHECKF(strcmp(a, b) != 0, "two unseeded runs both gave '%s'", a);
        CHECKF(strstr(a, "src=2") != NULL, "unseeded: key source in '%s'", a);
    }
    /* Malformed seeds are ignored (the OS key is used). */
    static const char *bad[] = {"", "12x", "-1", "+1", " 1", "0x", "0x1g", "1.5",
                                "18446744073709551616", "0x10000000000000000"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (child_hash(bad[i], a, sizeof a))
            CHECKF(strstr(a, "src=2") != NULL, "seed '%s': key source in '%s'", bad[i], a);
    }
}

/* ------------------------------------------------------- the tables */

static void check_probes(const char *what, size_t probes, size_t n) {
    double avg = n ? (double)probes / (double)n : 0;
    CHECKF(probes >= n && avg < MAX_AVG_PROBES, "%s: %zu probes for %zu keys (%.2f per key)", what, probes,
           n, avg);
}

/* A JSON object {"key0": 0, "key1": 1, ...} plus, when dups, each of the
 * first 5 keys again with value -1 (last wins). */
static void json_table(const char *what, const keyset *k, bool dups) {
    size_t cap = 64, len = 0;
    for (size_t i = 0; i < k->n; i++) cap += strlen(k->s[i]) + 32;
    char *text = malloc(cap);
    if (!text) {
        CHECK(text != NULL);
        return;
    }
    text[len++] = '{';
    for (size_t i = 0; i < k->n; i++)
        len += (size_t)snprintf(text + len, cap - len, "%s\"%s\": %zu", i ? ", " : "", k->s[i], i);
    for (size_t i = 0; dups && i < 5; i++)
        len += (size_t)snprintf(text + len, cap - len, ", \"%s\": -1", k->s[i]);
    text[len++] = '}';
    sc_json_doc *doc = NULL;
    sc_error err;
    sc_error_clear(&err);
    CHECKF(sc_json_parse(text, len, "big.json", &doc, &err) == SC_OK, "%s: %s", what, err.msg);
    free(text);
    if (!doc) return;
    const sc_json *root = sc_json_root(doc);
    size_t members = k->n + (dups ? 5 : 0);
    CHECK(sc_json_len(root) == members);
    check_probes(what, sc_json_index_probes(doc), members);
    size_t wrong = 0;
    for (size_t i = 0; i < k->n; i++) {
        int64_t v = -2;
        if (!sc_json_int(sc_json_get(root, k->s[i]), &v) || v != (dups && i < 5 ? -1 : (int64_t)i)) wrong++;
    }
    CHECKF(wrong == 0, "%s: %zu keys looked up wrong", what, wrong);
    CHECK(sc_json_get(root, "absent") == NULL);
    sc_json_free(doc);
}

static void tensor_list_table(const char *what, const keyset *k) {
    sc_tensor_list *l = sc_tensor_list_new();
    const char *file = l ? sc_tensor_list_file(l, "t.safetensors") : NULL;
    CHECK(file != NULL);
    if (!file) {
        sc_tensor_list_free(l);
        return;
    }
    sc_tensor view = {.dtype = SC_DTYPE_F32, .ndim = 1, .shape = {0}};
    sc_error err;
    sc_status st = SC_OK;
    for (size_t i = 0; i < k->n && !st; i++)
        st = sc_tensor_list_add(l, k->s[i], strlen(k->s[i]), &view, 0, file, i, &err);
    CHECKF(st == SC_OK, "%s: add: %s", what, err.msg);
    CHECK(sc_tensor_list_index_probes(l) == 0); /* not indexed yet */
    st = sc_tensor_list_index(l, &err);
    CHECKF(st == SC_OK, "%s: index: %s", what, err.msg);
    check_probes(what, sc_tensor_list_index_probes(l), k->n);
    size_t wrong = 0;
    for (size_t i = 0; i < k->n; i++)
        if (sc_tensor_list_find(l, k->s[i]) != sc_tensor_list_at(l, i)) wrong++;
    CHECKF(wrong == 0, "%s: %zu names looked up wrong", what, wrong);
    CHECK(sc_tensor_list_find(l, "absent") == NULL);
    /* A duplicate name is still an error naming the tensor. */
    st = sc_tensor_list_add(l, k->s[7], strlen(k->s[7]), &view, 0, file, 123, &err);
    CHECK(st == SC_OK);
    st = sc_tensor_list_index(l, &err);
    CHECKF(st == SC_ERR_FORMAT && strstr(err.msg, "appears twice") && strstr(err.msg, k->s[7]),
           "%s: duplicate: status %d, '%s'", what, (int)st, err.msg);
    CHECK(sc_tensor_list_index_probes(l) == 0);
    sc_tensor_list_free(l);
}

/* The same names as a safetensors file of empty tensors: the header goes
 * through the JSON reader and the tensor list, as a hostile file would. */
static void safetensors_table(const char *what, const keyset *k) {
    size_t cap = 64, len = 8;
    for (size_t i = 0; i < k->n; i++) cap += strlen(k->s[i]) + 64;
    char *buf = malloc(cap);
    if (!buf) {
        CHECK(buf != NULL);
        return;
    }
    buf[len++] = '{';
    for (size_t i = 0; i < k->n; i++)
        len += (size_t)snprintf(buf + len, cap - len,
                                "%s\"%s\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]}",
                                i ? "," : "", k->s[i]);
    buf[len++] = '}';
    uint64_t hl = len - 8;
    for (int i = 0; i < 8; i++) buf[i] = (char)(hl >> (8 * i));
    sc_tensor_list *l = NULL;
    sc_error err;
    sc_error_clear(&err);
    sc_status st = sc_safetensors_parse((const uint8_t *)buf, len, "big.safetensors", &l, &err);
    CHECKF(st == SC_OK, "%s: %s", what, err.msg);
    if (l) {
        CHECK(sc_tensor_list_count(l) == k->n);
        check_probes(what, sc_tensor_list_index_probes(l), k->n);
        CHECK(sc_tensor_list_find(l, k->s[k->n / 2]) != NULL);
    }
    sc_tensor_list_free(l);
    free(buf);
}

/* A unigram model: <unk> then the keys as normal pieces, built directly
 * through sp_model_build (the ModelProto reader fills the same fields). */
static bool sp_fill(sp_model *m, const keyset *k, const char *extra) {
    size_t n = k->n + 1 + (extra ? 1 : 0), blob = 6;
    for (size_t i = 0; i < k->n; i++) blob += strlen(k->s[i]) + 1;
    if (extra) blob += strlen(extra) + 1;
    memset(m, 0, sizeof *m);
    m->n_pieces = n;
    m->model_type = 1;
    m->add_dummy_prefix = m->remove_extra_ws = m->escape_ws = true;
    m->blob = malloc(blob);
    m->off = malloc(n * sizeof *m->off);
    m->len = malloc(n * sizeof *m->len);
    m->score = malloc(n * sizeof *m->score);
    m->type = malloc(n);
    if (!m->blob || !m->off || !m->len || !m->score || !m->type) return false;
    size_t pos = 0;
    for (size_t i = 0; i < n; i++) {
        const char *s = i == 0 ? "<unk>" : i <= k->n ? k->s[i - 1] : extra;
        size_t sl = strlen(s);
        memcpy(m->blob + pos, s, sl + 1);
        m->off[i] = (uint32_t)pos;
        m->len[i] = (uint32_t)sl;
        m->score[i] = -(float)i;
        m->type[i] = i == 0 ? SP_UNKNOWN : SP_NORMAL;
        pos += sl + 1;
    }
    m->blob_len = pos;
    return true;
}

static void sp_table(const char *what, const keyset *k) {
    sp_model m;
    sc_error err;
    sc_error_clear(&err);
    bool filled = sp_fill(&m, k, NULL);
    CHECK(filled);
    sc_status st = filled ? sp_model_build(&m, "big.model", &err) : SC_ERR_NOMEM;
    CHECKF(st == SC_OK, "%s: %s", what, err.msg);
    if (st == SC_OK) {
        check_probes(what, m.hash_probes, k->n + 1);
        size_t wrong = 0;
        for (size_t i = 0; i < k->n; i++)
            if (sp_piece_to_id(&m, k->s[i], strlen(k->s[i])) != (int32_t)(i + 1)) wrong++;
        CHECKF(wrong == 0, "%s: %zu pieces looked up wrong", what, wrong);
        CHECK(sp_piece_to_id(&m, "<unk>", 5) == 0);
        CHECK(sp_piece_to_id(&m, "absent", 6) == -1);
    }
    sp_model_free(&m);
    /* A piece defined twice is still refused, naming the second one. */
    filled = sp_fill(&m, k, k->s[3]);
    sc_error_clear(&err);
    st = filled ? sp_model_build(&m, "dup.model", &err) : SC_ERR_NOMEM;
    char want[64];
    snprintf(want, sizeof want, "piece %zu (", k->n + 1);
    CHECKF(st == SC_ERR_FORMAT && strstr(err.msg, "already defined") && strstr(err.msg, want),
           "%s: duplicate piece: status %d, '%s'", what, (int)st, err.msg);
    sp_model_free(&m);
}

static void test_tables(void) {
    keyset coll = colliding_keys(N_KEYS, 0x5eedull);
    keyset rnd = random_keys(N_KEYS, 0x9e3779b97f4a7c15ull);
    CHECK(coll.n == N_KEYS && rnd.n == N_KEYS);
    if (coll.n != N_KEYS || rnd.n != N_KEYS) goto done;
    /* The crafted set is what it claims: every key agrees in the low bits of
     * FNV-1a, and an FNV-1a table would do quadratic work on it (checked on
     * the first 2,000 keys to keep this test quick), while random keys cost
     * the FNV table as little as any. */
    size_t bad = 0;
    const uint64_t mask = (1ull << COLLIDE_BITS) - 1;
    for (size_t i = 0; i < coll.n; i++)
        if ((fnv1a(coll.s[i]) & mask) != (0x5eedull & mask)) bad++;
    CHECKF(bad == 0, "%zu crafted keys miss the FNV-1a target", bad);
    size_t old = fnv_table_probes(&coll, 2000, 4096);
    CHECKF(old >= (size_t)2000 * 1999 / 2, "FNV-1a table: only %zu probes for 2000 crafted keys", old);
    check_probes("FNV-1a table, random keys", fnv_table_probes(&rnd, 2000, 4096), 2000);

    json_table("json, crafted keys", &coll, false);
    json_table("json, random keys", &rnd, false);
    json_table("json, crafted keys and duplicates", &coll, true);
    tensor_list_table("tensor list, crafted names", &coll);
    tensor_list_table("tensor list, random names", &rnd);
    safetensors_table("safetensors, crafted names", &coll);
    sp_table("piece map, crafted pieces", &coll);
    sp_table("piece map, random pieces", &rnd);
done:
    keyset_free(&coll);
    keyset_free(&rnd);
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "--print-hash") == 0) return print_hash();
    ssize_t n = readlink("/proc/self/exe", self_path, sizeof self_path - 1);
    if (n > 0) self_path[n] = '\0';
    else snprintf(self_path, sizeof self_path, "%s", argv[0]);
    test_vectors();
    test_seed();
    test_tables();
    TEST_MAIN_END();
}
