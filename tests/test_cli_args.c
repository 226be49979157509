/* The subcommands' option parsing, pinned down through the binary: the
 * exact stderr and the exit status of option errors in every command, and
 * the rules some commands have of their own: which name a range error gives
 * (-t as typed or always "-t"), a missing --shard-size told twice, a value
 * that starts with '-', a lone "-" or "--", where tokenize's options stop,
 * detokenize's negative ids, inspect's positional against -m, the first
 * error winning over a later --help. Then the rules every command shares:
 * "--opt=value" for every kind of value (and refused for flags and short
 * names), "--" ending the options in every kind of positional handling,
 * the nearest name suggested for an unknown option, integers and numbers
 * refused alike whatever the junk and with the range that is accepted (the
 * bounds themselves pass), and --help on stdout with exit 0 everywhere.
 * Nothing here loads a real model but tokenize/detokenize's tokenizer. */
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
    {"encode -m " NX " --threads 0 x", 2, "switchc encode: -t takes an integer in [1, 256], not '0'\n", 0, NULL},
    {"encode -m " NX " --pool max x", 2, "switchc encode: --pool takes mean, first or none\n", 0, NULL},
    {"encode -m " NX " --pool", 2, "switchc encode: --pool needs a value\n", 0, NULL},
    {"encode", 2, "switchc encode: needs -m DIR (see --help)\n", 0, NULL},
    {"encode -m " NX, 1, "switchc encode: " NX, PREFIX, NULL}, /* no TEXT: stdin lines */
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

    {"inspect " NX "-a -m " NX "-b", 1, "switchc inspect: " NX "-b", PREFIX, NULL},
    {"inspect -m a b", 2, "switchc inspect: more than one model directory\n", 0, NULL},
    {"inspect -", 2, "switchc inspect: unknown option '-'\n", USAGE, NULL},

    {"tokenize -m '" MODEL "' hello --bogus", 0, "", 0, "ids: 21820 1636 12247 302 1\n"},
    {"tokenize -m '" MODEL "' -- --no-eos", 0, "", 0, "ids: 1636 29 32 18 15 32 7 1\n"},
    {"tokenize -m '" MODEL "' - x", 0, "", 0, "ids: 3 18 3 226 1\n"},
    {"tokenize --bogus", 2, "switchc tokenize: unknown option '--bogus'\n", USAGE, NULL},
    {"tokenize --model", 2, "switchc tokenize: --model needs a value\n", 0, NULL},
    {"tokenize -m '" MODEL "' --jsonl x", 2, "switchc tokenize: give TEXT arguments or --jsonl (not both)\n", 0, NULL},

    {"detokenize -m '" MODEL "' --", 2, "switchc detokenize: no ID given\n", USAGE, NULL},
    {"detokenize -m '" MODEL "'", 2, "switchc detokenize: no ID given\n", USAGE, NULL},
    {"detokenize -m '" MODEL "' x", 2, "switchc detokenize: 'x' is not an id\n", USAGE, NULL},
    {"detokenize -m '" MODEL "' ' 37'", 2, "switchc detokenize: ' 37' is not an id\n", USAGE, NULL},
    {"detokenize -m '" MODEL "' 0x25", 2, "switchc detokenize: '0x25' is not an id\n", USAGE, NULL},
    {"detokenize --model", 2, "switchc detokenize: --model needs a value\n", 0, NULL},
    {"detokenize -m '" MODEL "' --skip-special 37 1", 0, "", 0, "The\n"},
    {"detokenize -m '" MODEL "' -5", 1, "switchc detokenize: tokenizer: piece id is out of range", PREFIX, NULL},

    {"generate -m x --threads 0 hi", 2,
     "switchc generate: --threads takes an integer in [1, 256], not '0'\n", 0, NULL},
    {"generate -m x -t 0 hi", 2, "switchc generate: -t takes an integer in [1, 256], not '0'\n", 0, NULL},
    {"generate -m x --max-new-tokens 0 hi", 2,
     "switchc generate: --max-new-tokens takes an integer in [1, 1048575], not '0'\n", 0, NULL},
    {"generate -m x --max-new-tokens=1048576 hi", 2,
     "switchc generate: --max-new-tokens takes an integer in [1, 1048575], not '1048576'\n", 0, NULL},
    {"generate -m x --early-stopping maybe hi", 2,
     "switchc generate: --early-stopping takes true, false or never\n", 0, NULL},
    {"generate -m x --drop-policy all hi", 2, "switchc generate: --drop-policy takes hf4, zero or none\n", 0, NULL},
    {"generate -m x --max-memory", 2, "switchc generate: --max-memory needs a value\n", 0, NULL},
    {"generate -m x --max-memory lots hi", 2, "switchc generate: --max-memory takes a size like 12G, 512M\n", 0, NULL},
    {"generate -m " NX " --max-memory 0 hi", 1, "switchc generate: " NX, PREFIX, NULL},
    {"generate -m x --dtype x8 hi", 2, "switchc generate: --dtype takes f32, bf16, f16 or q8, not 'x8'\n", 0, NULL},
    {"generate -m x --jsonl hi", 2, "switchc generate: give PROMPT arguments or --jsonl, not both\n", 0, NULL},
    {"generate hi", 2, "switchc generate: -m DIR is required (see --help)\n", 0, NULL},
    {"generate -m --json hi", 1, "switchc generate: '--json' is not a file or directory here", PREFIX, NULL},
    {"generate -m x hi --help", 0, "", 0, "usage: switchc generate -m DIR"},
    {"generate -m x --bogus --help", 2, "switchc generate: unknown option '--bogus' (see --help)\n", 0, NULL},

    /* --opt=value, every kind of value */
    {"inspect " NX "-a --model=" NX "-b", 1, "switchc inspect: " NX "-b", PREFIX, NULL}, /* string */
    {"encode -m " NX " --threads=0 x", 2, "switchc encode: -t takes an integer in [1, 256], not '0'\n", 0, NULL},
    {"encode -m " NX " --threads=256 x", 1, "switchc encode: " NX, PREFIX, NULL},              /* int */
    {"generate -m x --top-p=1.5 hi", 2, "switchc generate: --top-p takes a number in [0, 1], not '1.5'\n", 0, NULL},
    {"generate -m " NX " --top-p=1 hi", 1, "switchc generate: " NX, PREFIX, NULL},             /* double */
    {"encode -m " NX " --pool=max x", 2, "switchc encode: --pool takes mean, first or none\n", 0, NULL},
    {"encode -m " NX " --pool=first x", 1, "switchc encode: " NX, PREFIX, NULL},               /* choice */
    {"verify x --format=gguf", 2, "switchc verify: --format takes 'safetensors' or 'bin', not 'gguf'\n", 0, NULL},
    {"convert --shard-size=lots", 2, "switchc convert: --shard-size takes a size like 5G, 500M\n", 0, NULL},
    {"convert --shard-size=", 2, "switchc convert: --shard-size takes a size like 5G, 500M\n", 0, NULL},
    {"generate -m " NX " --max-memory=1G hi", 1, "switchc generate: " NX, PREFIX, NULL},       /* callback */
    {"generate -m x --seed= hi", 2,
     "switchc generate: --seed takes an integer in [0, 9223372036854775807], not ''\n", 0, NULL},
    {"generate -m " NX " --model=--json hi", 1, "switchc generate: '--json'", PREFIX, NULL},
    {"tokenize --model='" MODEL "' --no-eos hi", 0, "", 0, "ids: 7102\n"},
    /* ... but not for flags, nor short names */
    {"generate -m x --json=1 hi", 2, "switchc generate: --json takes no value ('--json=1')\n", 0, NULL},
    {"tokenize -m x --no-eos= hi", 2, "switchc tokenize: --no-eos takes no value ('--no-eos=')\n", 0, NULL},
    {"convert --help=1", 2, "switchc convert: --help takes no value ('--help=1')\n", 0, NULL},
    {"generate -m x -t=4 hi", 2,
     "switchc generate: '-t=4': a short option takes its value as the next argument: '-t 4' or '--threads=4'\n", 0,
     NULL},
    {"detokenize -m=x 1", 2,
     "switchc detokenize: '-m=x': a short option takes its value as the next argument: '-m x' or '--model=x'\n", 0,
     NULL},
    {"generate -m " NX " -- -t=4", 1, "switchc generate: " NX, PREFIX, NULL},

    /* "--" ends the options in every command */
    {"encode -m " NX " -- -x --json", 1, "switchc encode: " NX, PREFIX, NULL}, /* each a TEXT */
    {"generate -m " NX " -- --help", 1, "switchc generate: " NX, PREFIX, NULL},
    {"verify -- -x", 1, "switchc verify: -x/", PREFIX, NULL}, /* the CASE_DIR */
    {"verify -- a b", 2, "switchc verify: more than one CASE_DIR\n", 0, NULL},
    {"inspect -m a -- b", 2, "switchc inspect: more than one model directory\n", 0, NULL},
    {"info -- x", 2, "switchc info: unknown argument 'x' (see --help)\n", 0, NULL},
    {"convert -- --json", 2, "switchc convert: unknown argument '--json' (see --help)\n", 0, NULL},
    {"info --", 0, "", 0, NULL},
    {"detokenize -m '" MODEL "' -- --skip-special", 2, "switchc detokenize: '--skip-special' is not an id\n", USAGE,
     NULL},
    {"detokenize -m '" MODEL "' --skip-special -- 37 1", 0, "", 0, "The\n"},
    {"tokenize -m '" MODEL "' -- --help", 0, "", 0, "ids: 1636 15061 1\n"},

    /* the nearest known name */
    {"generate -m x --max_new_tokens 3 hi", 2,
     "switchc generate: unknown option '--max_new_tokens'; did you mean '--max-new-tokens'?\n", 0, NULL},
    {"generate -m x --max_new_tokens=3 hi", 2,
     "switchc generate: unknown option '--max_new_tokens=3'; did you mean '--max-new-tokens'?\n", 0, NULL},
    {"generate -m x --temprature 2 hi", 2,
     "switchc generate: unknown option '--temprature'; did you mean '--temperature'?\n", 0, NULL},
    {"generate -m x --jsno hi", 2, "switchc generate: unknown option '--jsno'; did you mean '--json'?\n", 0, NULL},
    {"generate -m x -threads 2 hi", 2, "switchc generate: unknown option '-threads'; did you mean '--threads'?\n", 0,
     NULL},
    {"generate -m x --max 9 hi", 2,
     "switchc generate: unknown option '--max'; did you mean '--max-memory', '--max-new-tokens' or "
     "'--max-length'?\n",
     0, NULL},
    {"generate -m x --hlep", 2, "switchc generate: unknown option '--hlep'; did you mean '--help'?\n", 0, NULL},
    {"encode -x", 2, "switchc encode: unknown option '-x' (see --help)\n", 0, NULL}, /* not -m nor -t */
    {"encode --t 2 x", 2, "switchc encode: unknown option '--t'; did you mean '-t'?\n", 0, NULL},
    {"tokenize --no_eos", 2, "switchc tokenize: unknown option '--no_eos'; did you mean '--no-eos'?\n", USAGE, NULL},
    {"convert --dtpye f32", 2, "switchc convert: unknown argument '--dtpye'; did you mean '--dtype'?\n", 0, NULL},
    {"detokenize -m x --skip_special 1", 2,
     "switchc detokenize: unknown option '--skip_special'; did you mean '--skip-special'?\n", 0, NULL},
    {"info --jsn", 2, "switchc info: unknown option '--jsn'\n", 0, NULL}, /* info has no options */

    /* numbers: junk refused alike, the range stated is the one accepted */
    {"encode -m x -t 1e3 y", 2, "switchc encode: -t takes an integer in [1, 256], not '1e3'\n", 0, NULL},
    {"encode -m x -t ' 5' y", 2, "switchc encode: -t takes an integer in [1, 256], not ' 5'\n", 0, NULL},
    {"encode -m x -t '5 ' y", 2, "switchc encode: -t takes an integer in [1, 256], not '5 '\n", 0, NULL},
    {"encode -m x -t 0x10 y", 2, "switchc encode: -t takes an integer in [1, 256], not '0x10'\n", 0, NULL},
    {"encode -m x -t 1025 y", 2, "switchc encode: -t takes an integer in [1, 256], not '1025'\n", 0, NULL},
    {"encode -m " NX " -t 1 y", 1, "switchc encode: " NX, PREFIX, NULL},
    {"encode -m " NX " -t +8 y", 1, "switchc encode: " NX, PREFIX, NULL},
    {"bench -m x -t 99999999999999999999", 2,
     "switchc bench: -t takes an integer in [1, 64], not '99999999999999999999'\n", 0, NULL},
    {"generate -m x --temperature 0 hi", 2,
     "switchc generate: --temperature takes a number in [1e-06, 1e+06], not '0'\n", 0, NULL},
    {"generate -m " NX " --temperature 1e-06 hi", 1, "switchc generate: " NX, PREFIX, NULL},
    {"generate -m x --top-p ' 0.5' hi", 2, "switchc generate: --top-p takes a number in [0, 1], not ' 0.5'\n", 0, NULL},
    {"generate -m x --top-p 0x1p-1 hi", 2, "switchc generate: --top-p takes a number in [0, 1], not '0x1p-1'\n", 0,
     NULL},
    {"generate -m x --length-penalty inf hi", 2,
     "switchc generate: --length-penalty takes a number in [-1e+06, 1e+06], not 'inf'\n", 0, NULL},
    {"bench -m x --tolerance 1000.5", 2, "switchc bench: --tolerance takes a number in [0, 1000], not '1000.5'\n", 0,
     NULL},
};

/* Every command: --help and -h print the usage on stdout and exit 0. */
static const char *const commands[] = {"generate", "encode", "inspect",  "verify",   "convert",
                                       "init",     "bench",  "info",     "tokenize", "detokenize"};

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
    for (size_t k = 0; k < sizeof commands / sizeof commands[0]; k++)
        for (int h = 0; h < 2; h++) {
            char args[128], want_out[128];
            snprintf(args, sizeof args, "%s %s", commands[k], h ? "-h" : "--help");
            snprintf(want_out, sizeof want_out, "usage: switchc %s", commands[k]);
            int rc = run(args, out, err, sizeof out);
            CHECKF(rc == 0 && !strncmp(out, want_out, strlen(want_out)) && !err[0], "'%s': exit %d, stdout '%.60s'",
                   args, rc, out);
        }
    printf("%zu command lines\n", n);
    TEST_MAIN_END();
}
