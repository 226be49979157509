/* The subcommands' option parsing, pinned down through the binary: the
 * exact stderr and the exit status of option errors in every command, and
 * the rules some commands have of their own: which name a range error gives
 * (-t as typed or always "-t"), a missing --shard-size told twice, a value
 * that starts with '-', a lone "-" or "--", where tokenize's options stop,
 * detokenize's negative ids, inspect's positional against -m, the first
 * error winning over a later --help. Nothing here loads a real model but
 * tokenize/detokenize's tokenizer. */
#include "test_util.h"

#include <stdbool.h>
#include <sys/stat.h>

#define MODEL SC_FIXTURES_DIR "/../../models/switch-tiny-t5vocab"
#define NX "/nonexistent-cli-args"

enum {
    USAGE = 1,  /* stderr goes on with the command's usage, as --help prints it */
    PREFIX = 2, /* err is only the start of stderr */
};

typedef struct cli_case {
    const char *args; /* after the binary; the first word is the command */
    int rc;
    const char *err; /* stderr exactly (see flags); NULL: not checked */
    int flags;
    const char *out; /* the start of stdout; NULL: not checked */
} cli_case;

static const cli_case cases[] = {
    {"info bogus", 2, "switchc info: unknown option 'bogus'\n", 0, NULL},
    {"info --help", 0, "", 0, "usage: switchc info\n"},

    {"verify", 2, "", USAGE, NULL},
    {"verify -m", 2, "switchc verify: -m needs a value\n", 0, NULL},
    {"verify a b", 2, "switchc verify: more than one CASE_DIR\n", 0, NULL},
    {"verify x -", 2, "switchc verify: unknown option '-'\n", USAGE, NULL},
    {"verify x --format gguf", 2, "switchc verify: --format takes 'safetensors' or 'bin', not 'gguf'\n", 0, NULL},
    {"verify x --reference --kernels ref", 2,
     "switchc verify: --reference and --kernels exclude each other\n", 0, NULL},

    {"encode --bogus x", 2, "switchc encode: unknown option '--bogus' (see --help)\n", 0, NULL},
    {"encode -m " NX " --threads 0 x", 2, "switchc encode: -t takes an integer in [1, 1024], not '0'\n", 0, NULL},
    {"encode -m " NX " --pool max x", 2, "switchc encode: --pool takes mean, first or none\n", 0, NULL},
    {"encode -m " NX " --pool", 2, "switchc encode: --pool needs a value\n", 0, NULL},
    {"encode -m " NX, 2, "switchc encode: needs -m DIR and at least one TEXT (see --help)\n", 0, NULL},
    {"encode -m " NX " -", 1, "switchc encode: " NX, PREFIX, NULL}, /* "-" is a TEXT */
    {"encode -m " NX "-a -m " NX "-b x", 1, "switchc encode: " NX "-b", PREFIX, NULL},

    {"convert --shard-size", 2,
     "switchc convert: --shard-size needs a value\n"
     "switchc convert: --shard-size takes a size like 5G, 500M\n",
     0, NULL},
    {"convert --shard-size lots", 2, "switchc convert: --shard-size takes a size like 5G, 500M\n", 0, NULL},
    {"convert x", 2, "switchc convert: unknown argument 'x' (see --help)\n", 0, NULL},
    {"convert -m a -o b", 2, "switchc convert: needs -m IN, -o OUT and --dtype f32|bf16|f16|q8\n", 0, NULL},

    {"init --seed -1", 2, "switchc init: --seed takes an integer in [0, 9223372036854775807], not '-1'\n", 0, NULL},
    {"init --embed-std nan", 2, "switchc init: --embed-std takes a number in [0, 1e+30], not 'nan'\n", 0, NULL},
    {"init --shard-size", 2,
     "switchc init: --shard-size needs a value\nswitchc init: --shard-size takes a size like 5G, 500M\n", 0, NULL},
    {"init -", 2, "switchc init: unknown argument '-' (see --help)\n", 0, NULL},

    {"bench -m x --threads 65", 2, "switchc bench: -t takes an integer in [1, 64], not '65'\n", 0, NULL},
    {"bench -m", 2, "switchc bench: -m needs a value\n", 0, NULL},

    {"inspect " NX "-a -m " NX "-b", 1, NULL, 0, "model:      " NX "-b\n"},
    {"inspect -m a b", 2, "switchc inspect: more than one model directory\n", 0, NULL},
    {"inspect -", 2, "switchc inspect: unknown option '-'\n", USAGE, NULL},

    {"tokenize -m '" MODEL "' hello --bogus", 0, "", 0, "ids: 21820 1636 12247 302 1\n"},
    {"tokenize -m '" MODEL "' -- --no-eos", 0, "", 0, "ids: 1636 29 32 18 15 32 7 1\n"},
    {"tokenize -m '" MODEL "' - x", 0, "", 0, "ids: 3 18 3 226 1\n"},
    {"tokenize --bogus", 2, "switchc tokenize: unknown option '--bogus'\n", USAGE, NULL},
    {"tokenize --model", 2, "switchc tokenize: --model needs a value\n", 0, NULL},
    {"tokenize -m '" MODEL "' --jsonl x", 2, "switchc tokenize: give TEXT arguments or --jsonl (not both)\n", 0, NULL},

    {"detokenize -m '" MODEL "' --", 2, "switchc detokenize: '--' is not an id\n", USAGE, NULL},
    {"detokenize --model", 2, "switchc detokenize: --model needs a value\n", 0, NULL},
    {"detokenize -m '" MODEL "' --skip-special 37 1", 0, "", 0, "The\n"},
    {"detokenize -m '" MODEL "' -5", 1, "switchc detokenize: tokenizer: piece id is out of range", PREFIX, NULL},

    {"generate -m x --threads 0 hi", 2,
     "switchc generate: --threads takes an integer in [1, 1024], not '0'\n", 0, NULL},
    {"generate -m x -t 0 hi", 2, "switchc generate: -t takes an integer in [1, 1024], not '0'\n", 0, NULL},
    {"generate -m x --early-stopping maybe hi", 2,
     "switchc generate: --early-stopping takes true, false or never\n", 0, NULL},
    {"generate -m x --drop-policy all hi", 2, "switchc generate: --drop-policy takes hf4, zero or none\n", 0, NULL},
    {"generate -m x --max-memory", 2, "switchc generate: --max-memory needs a value\n", 0, NULL},
    {"generate -m x --max-memory lots hi", 2, "switchc generate: --max-memory takes a size like 12G, 512M\n", 0, NULL},
    {"generate -m " NX " --max-memory 0 hi", 1, "switchc generate: " NX, PREFIX, NULL},
    {"generate -m x --dtype x8 hi", 2, "switchc generate: --dtype takes f32, bf16, f16 or q8, not 'x8'\n", 0, NULL},
    {"generate -m x --jsonl hi", 2, "switchc generate: give PROMPT arguments or --jsonl, not both\n", 0, NULL},
    {"generate hi", 2, "switchc generate: -m DIR is required (see --help)\n", 0, NULL},
    {"generate -m --json hi", 1, "switchc generate: --json: cannot open", PREFIX, NULL},
    {"generate -m x hi --help", 0, "", 0, "usage: switchc generate -m DIR"},
    {"generate -m x --bogus --help", 2, "switchc generate: unknown option '--bogus' (see --help)\n", 0, NULL},
};

/* Runs `switchc args`, stdin empty; stdout and stderr into the buffers. */
static int run(const char *args, char *out, char *err, size_t cap) {
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "'%s' %s </dev/null >'%s/cli_args.out' 2>'%s/cli_args.err'", SC_SWITCHC_BIN, args,
             SC_TMP_DIR, SC_TMP_DIR);
    int st = system(cmd);
    const char *names[2] = {"out", "err"};
    char *bufs[2] = {out, err};
    for (int k = 0; k < 2; k++) {
        snprintf(cmd, sizeof cmd, "%s/cli_args.%s", SC_TMP_DIR, names[k]);
        FILE *f = fopen(cmd, "rb");
        size_t n = f ? fread(bufs[k], 1, cap - 1, f) : 0;
        bufs[k][n] = '\0';
        if (f) fclose(f);
    }
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

int main(void) {
    mkdir(SC_TMP_DIR, 0777);
    static char out[1 << 16], err[1 << 16], usage[1 << 16], scratch[1 << 16], want[1 << 17];
    size_t n = sizeof cases / sizeof cases[0];
    for (size_t i = 0; i < n; i++) {
        const cli_case *c = &cases[i];
        int rc = run(c->args, out, err, sizeof out);
        CHECKF(rc == c->rc, "'%s': exit %d, want %d", c->args, rc, c->rc);
        if (c->err) {
            snprintf(want, sizeof want, "%s", c->err);
            if (c->flags & USAGE) {
                char help[256];
                snprintf(help, sizeof help, "%.*s --help", (int)strcspn(c->args, " "), c->args);
                CHECK(run(help, usage, scratch, sizeof usage) == 0 && strlen(usage) > 20);
                strncat(want, usage, sizeof want - strlen(want) - 1);
            }
            bool same = c->flags & PREFIX ? !strncmp(err, want, strlen(want)) : !strcmp(err, want);
            CHECKF(same, "'%s': stderr\n%s\nwant\n%s", c->args, err, want);
        }
        if (c->out) CHECKF(!strncmp(out, c->out, strlen(c->out)), "'%s': stdout\n%s\nwant\n%s", c->args, out, c->out);
    }
    printf("%zu command lines\n", n);
    TEST_MAIN_END();
}
