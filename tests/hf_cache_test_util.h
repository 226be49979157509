/* Builds a fake Hugging Face hub cache for tests, laid out as huggingface_hub
 * writes it: models--ORG--NAME/blobs/ holds the files, snapshots/<commit>/
 * holds relative symlinks into blobs/, refs/<branch> holds the commit. */
#ifndef SC_HF_CACHE_TEST_UTIL_H
#define SC_HF_CACHE_TEST_UTIL_H

#include "test_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static inline void hf_sh(const char *cmd) {
    if (system(cmd) != 0) {
        fprintf(stderr, "failed: %s\n", cmd);
        exit(2);
    }
}

/* hub/folder/snapshots/hash/ with each of files[] (NULL-terminated) copied
 * from src_dir into blobs/ and linked from the snapshot; refs/ref gets the
 * hash when ref is not NULL. */
static inline void hf_fake_snapshot(const char *hub, const char *folder, const char *hash, const char *ref,
                                    const char *src_dir, const char *const *files) {
    char cmd[16384];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s/%s/blobs' '%s/%s/refs' '%s/%s/snapshots/%s'", hub, folder, hub, folder,
             hub, folder, hash);
    hf_sh(cmd);
    for (int i = 0; files[i]; i++) {
        snprintf(cmd, sizeof cmd,
                 "cp '%s/%s' '%s/%s/blobs/%s-%s' && ln -sf '../../blobs/%s-%s' '%s/%s/snapshots/%s/%s'", src_dir,
                 files[i], hub, folder, hash, files[i], hash, files[i], hub, folder, hash, files[i]);
        hf_sh(cmd);
    }
    if (ref) {
        char p[4096];
        snprintf(p, sizeof p, "%s/%s/refs/%s", hub, folder, ref);
        FILE *f = fopen(p, "wb");
        if (!f) exit(2);
        fputs(hash, f); /* huggingface_hub writes no newline */
        fclose(f);
    }
}

#endif
