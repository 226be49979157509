/* libFuzzer target: the Hugging Face cache resolver's untrusted inputs. The
 * input is split at NUL bytes into a repo id, a revision and the contents of
 * a refs file. The id and revision go through their checks and through
 * sc_model_path_resolve against a private cache directory (which holds one
 * repo, o/n, with one snapshot); the third part is written as that repo's
 * refs/r and resolved as revision "r". Nothing outside the temporary
 * directory is written. */
#include "io/hf_cache.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[256];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char p[512];
    if (!dir[0]) {
        const char *t = getenv("TMPDIR");
        snprintf(dir, sizeof dir, "%s/sc_fuzz_hf_XXXXXX", t ? t : "/tmp");
        if (!mkdtemp(dir)) abort();
        const char *sub[] = {"/models--o--n", "/models--o--n/refs", "/models--o--n/snapshots",
                             "/models--o--n/snapshots/0123456789abcdef0123456789abcdef01234567"};
        for (int i = 0; i < 4; i++) {
            snprintf(p, sizeof p, "%s%s", dir, sub[i]);
            if (mkdir(p, 0700) != 0) abort();
        }
        setenv("HF_HUB_CACHE", dir, 1);
    }
    /* three NUL-terminated parts (missing ones are empty) */
    char *copy = malloc(size + 3);
    if (!copy) return 0;
    memcpy(copy, data, size);
    copy[size] = copy[size + 1] = copy[size + 2] = '\0';
    const char *name = copy;
    const char *rev = name + strlen(name) + 1;
    const char *ref = rev + (rev <= copy + size ? strlen(rev) + 1 : 0);
    size_t ref_len = ref <= copy + size ? (size_t)(copy + size - ref) : 0;

    sc_error err;
    char out[1024], hash[41];
    size_t len;
    sc_hf_check_repo_id(name, &err);
    sc_hf_check_revision(rev, &err);
    sc_hf_parse_ref("refs/r", ref, ref_len, hash, &err);
    sc_hf_is_commit_hash(rev);
    /* Names that exist on this machine come back as they are; only a valid
     * repo id reaches the (private) cache. */
    sc_model_path_resolve(name, rev, out, sizeof out, &len, &err);

    snprintf(p, sizeof p, "%s/models--o--n/refs/r", dir);
    FILE *f = fopen(p, "wb");
    if (f) {
        if (ref_len) fwrite(ref, 1, ref_len, f);
        fclose(f);
        sc_model_path_resolve("o/n", "r", out, sizeof out, &len, &err);
    }
    free(copy);
    return 0;
}
