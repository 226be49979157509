/* Every command that takes -m resolves a Hugging Face repo id from the local
 * cache the same way, with --revision: the shipped model is laid out as a
 * cache entry (main and a branch pointing at different commits) and each
 * command's answer through ORG/NAME must equal its answer through the
 * directory itself; an unknown name fails with exit 1 and says where it
 * looked, for every command. */
#include "hf_cache_test_util.h"

/* paths are built from the build directory: truncation cannot happen in practice */
#pragma GCC diagnostic ignored "-Wformat-truncation"

#define MODEL SC_FIXTURES_DIR "/../../models/switch-tiny-t5vocab"
#define HASH_MAIN "1111111111111111111111111111111111111111"
#define HASH_DEV "2222222222222222222222222222222222222222"

static char hub[2048], env[2200], out[1 << 16], want[1 << 16];

/* Runs `switchc ARGS` with the cache in the environment; stdout into buf. */
static int run(const char *args, char *buf, size_t cap) {
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "%s '%s' %s 2>&1", env, SC_SWITCHC_BIN, args);
    return sc_test_run(cmd, buf, cap);
}

/* The command gives the same output through the repo id as through the
 * directory (-m is the first argument of each). */
static void same_as_dir(const char *what, const char *cmd_name, const char *rest) {
    char a[4096], b[4096];
    snprintf(a, sizeof a, "%s -m '%s' %s", cmd_name, MODEL, rest);
    snprintf(b, sizeof b, "%s -m acme/tiny %s", cmd_name, rest);
    int ra = run(a, want, sizeof want), rb = run(b, out, sizeof out);
    CHECKF(ra == 0 && rb == 0 && !strcmp(want, out), "%s: dir rc %d, repo id rc %d\n--- dir:\n%s\n--- id:\n%s", what,
           ra, rb, want, out);
}

int main(void) {
    char root[2048], cmd[8192];
    snprintf(root, sizeof root, "%s/hf_cache_cli", SC_TMP_DIR);
    snprintf(hub, sizeof hub, "%s/hub", root);
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s'", root, hub);
    hf_sh(cmd);
    snprintf(env, sizeof env, "env -u HUGGINGFACE_HUB_CACHE -u HF_HOME HF_HUB_CACHE='%s'", hub);
    const char *const files[] = {"config.json", "generation_config.json", "model.safetensors", "spiece.model",
                                 "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json", NULL};
    hf_fake_snapshot(hub, "models--acme--tiny", HASH_MAIN, "main", MODEL, files);
    /* dev: the same files but a generation config asking for 2 new tokens */
    hf_fake_snapshot(hub, "models--acme--tiny", HASH_DEV, "dev", MODEL, files);
    snprintf(cmd, sizeof cmd,
             "cd '%s/models--acme--tiny/snapshots/%s' && rm generation_config.json && "
             "printf '{\"decoder_start_token_id\": 0, \"eos_token_id\": 1, \"pad_token_id\": 0, "
             "\"max_new_tokens\": 2}' > generation_config.json",
             hub, HASH_DEV);
    hf_sh(cmd);

    same_as_dir("generate", "generate", "--max-new-tokens 4 --json 'A <extra_id_0> walks'");
    same_as_dir("tokenize", "tokenize", "'Hello <extra_id_0> world'");
    same_as_dir("detokenize", "detokenize", "8774 32099 296 1");
    same_as_dir("encode", "encode", "--pool first 'Hello world'");

    /* --revision picks another snapshot: dev's generation config stops at 2
     * new tokens (start token + 2 ids) where main's default runs to 20 */
    CHECK(run("generate -m acme/tiny --revision dev --ids 'A <extra_id_0> walks'", out, sizeof out) == 0);
    int n_ids = 0;
    for (char *p = strtok(out, " \n"); p; p = strtok(NULL, " \n")) n_ids++;
    CHECKF(n_ids == 3, "--revision dev: %d ids", n_ids);
    CHECK(run("generate -m acme/tiny --revision " HASH_DEV " --ids 'A <extra_id_0> walks'", out, sizeof out) == 0);

    /* convert reads through the cache, and the result loads */
    snprintf(cmd, sizeof cmd, "convert -m acme/tiny --revision=dev -o '%s/converted' --dtype f32", root);
    CHECK(run(cmd, out, sizeof out) == 0);
    snprintf(cmd, sizeof cmd, "inspect -m '%s/converted' --json", root);
    CHECK(run(cmd, out, sizeof out) == 0 && strstr(out, "\"ready_to_generate\":true"));

    /* bench and verify resolve too: a name that is not there fails, for
     * every command, with the places looked at */
    static const char *const cmds[] = {"generate -m acme/none hi", "tokenize -m acme/none hi",
                                       "detokenize -m acme/none 1", "encode -m acme/none hi",
                                       "inspect -m acme/none", "bench -m acme/none",
                                       "convert -m acme/none -o /nonexistent/x --dtype f32",
                                       "verify . -m acme/none", NULL};
    for (int i = 0; cmds[i]; i++) {
        int rc = run(cmds[i], out, sizeof out);
        CHECKF(rc == 1 && strstr(out, "models--acme--none") && strstr(out, "does not download"),
               "%s: rc %d: %s", cmds[i], rc, out);
    }
    CHECK(run("generate -m acme/tiny --revision nobranch hi", out, sizeof out) == 1 && strstr(out, "nobranch"));
    TEST_MAIN_END();
}
