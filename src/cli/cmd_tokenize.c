/* switchc tokenize / detokenize: text -> ids and pieces, ids -> text, with
 * the T5 tokenizer of a model directory. tokenize takes its text from the
 * arguments, else from stdin one line at a time (plain lines, or {"text":
 * ...} lines with --jsonl), answering each line as it arrives so it can sit
 * at the end of a pipe. Left out: reading ids for detokenize from stdin. */
#define _GNU_SOURCE
#include "args.h"
#include "cli_files.h"
#include "cli_model.h"
#include "commands.h"
#include "util/json.h"
#include "switchc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void tokenize_usage(FILE *f) {
    fprintf(f,
            "usage: switchc tokenize -m DIR [--no-eos] [--jsonl] [--] [TEXT...]\n\n"
            "Encodes TEXT (the arguments joined by spaces) with the T5 tokenizer in DIR\n"
            "(spiece.model or tokenizer.json, or the file itself) and prints the ids\n"
            "(</s> appended unless --no-eos) and the pieces. Options end at the first TEXT\n"
            "word or at \"--\". Without TEXT, reads standard input one line at a time and\n"
            "answers each line as it comes: one line of ids per line (an empty line gets an\n"
            "empty line).\n\n"
            "  -m, --model DIR  model directory or tokenizer file, or a Hugging Face repo id\n"
            "                   ORG/NAME in the local cache (--revision REF: branch, tag, commit)\n"
            "  --no-eos         do not append </s>\n"
            "  --jsonl          read {\"text\": ...} lines on stdin, write\n"
            "                   {\"ids\": [...], \"pieces\": [...]} lines (one piece per id)\n"
            "  -h, --help       this help\n\n"
            "Options taking a value accept --opt VALUE and --opt=VALUE.\n"
            "Exit status: 0 ok, 1 failure, 2 bad usage.\n");
}

static void detokenize_usage(FILE *f) {
    fprintf(f,
            "usage: switchc detokenize -m DIR [--skip-special] [--no-cleanup] [--] ID...\n\n"
            "Decodes token ids to text as Hugging Face's T5Tokenizer.decode does.\n\n"
            "  -m, --model DIR   model directory or tokenizer file, or a Hugging Face repo id\n"
            "                    ORG/NAME in the local cache (--revision REF: branch, tag, commit)\n"
            "  --skip-special    drop </s>, <pad>, <unk> and the sentinels\n"
            "  --no-cleanup      clean_up_tokenization_spaces=False\n"
            "  -h, --help        this help\n\nExit status: 0 ok, 1 failure, 2 bad usage.\n");
}

typedef struct tok_out {
    char *buf;
    size_t cap;
    sc_token_piece *pieces;
    size_t pcap;
} tok_out;

/* The pieces of text and their ids; with eos, </s> appended as encode()
 * appends it, as a piece of its own (offset UINT32_MAX: not in buf), so the
 * ids and the pieces always pair up one to one. */
static sc_status run_tokenize(const sc_tokenizer *t, const char *text, size_t len, bool eos,
                              tok_out *o, size_t *n, sc_error *err) {
    for (;;) {
        size_t need = 0;
        sc_status st = sc_tokenizer_tokenize(t, text, len, o->buf, o->cap, &need, o->pieces, o->pcap, n, err);
        if (st != SC_ERR_BUFFER_TOO_SMALL) {
            if (!st && eos && sc_tokenizer_eos_id(t) >= 0) {
                if (*n == 0 || o->pieces[*n - 1].id != sc_tokenizer_eos_id(t)) {
                    if (*n + 1 > o->pcap) {
                        sc_token_piece *p = realloc(o->pieces, (*n + 1) * sizeof *p);
                        if (!p) return SC_ERR_NOMEM;
                        o->pieces = p;
                        o->pcap = *n + 1;
                    }
                    o->pieces[*n].id = sc_tokenizer_eos_id(t);
                    o->pieces[*n].offset = UINT32_MAX;
                    o->pieces[*n].len = 0;
                    (*n)++;
                }
            }
            return st;
        }
        if (need > o->cap) {
            char *b = realloc(o->buf, need);
            if (!b) return SC_ERR_NOMEM;
            o->buf = b;
            o->cap = need;
        }
        if (*n > o->pcap) {
            sc_token_piece *p = realloc(o->pieces, *n * sizeof *p);
            if (!p) return SC_ERR_NOMEM;
            o->pieces = p;
            o->pcap = *n;
        }
    }
}

/* Piece i as a JSON string: its text, or the token's own piece ("</s>"). */
static void write_piece(const sc_tokenizer *t, const tok_out *o, size_t i) {
    const sc_token_piece *p = &o->pieces[i];
    if (p->offset == UINT32_MAX) {
        size_t pl;
        const char *s = sc_tokenizer_piece(t, p->id, &pl);
        sc_json_write_string(stdout, s ? s : "", s ? pl : 0);
    } else {
        sc_json_write_string(stdout, o->buf + p->offset, p->len);
    }
}

typedef struct tokenize_opts {
    const char *model, *revision;
    bool no_eos, jsonl;
    int first_text; /* argv[first_text..argc) is the TEXT */
} tokenize_opts;

#define AT(field) .off = offsetof(tokenize_opts, field)
static const args_opt tokenize_options[] = {
    {"-m", "--model", ARGS_STRING, AT(model)},
    {NULL, "--revision", ARGS_STRING, AT(revision)},
    {NULL, "--no-eos", ARGS_FLAG, AT(no_eos)},
    {NULL, "--jsonl", ARGS_FLAG, AT(jsonl)},
    {0},
};
#undef AT
/* options stop at the first TEXT word (or "--"): the rest is text */
static const args_spec tokenize_args = {
    .cmd = "tokenize", .usage = tokenize_usage, .opts = tokenize_options, .unknown = ARGS_SAY_OPTION_USAGE,
    .pos = ARGS_POS_REST, .dash = ARGS_DASHED_NOT_LONE, .pos_off = offsetof(tokenize_opts, first_text),
};

/* The TEXT arguments: an "ids:" line and a "pieces:" line. */
static int tokenize_args_text(const sc_tokenizer *t, int argc, char **argv, int first, bool eos, tok_out *o) {
    size_t len = 0;
    for (int i = first; i < argc; i++) len += strlen(argv[i]) + 1;
    char *text = malloc(len + 1);
    if (!text) return SC_EXIT_FAIL;
    size_t at = 0;
    for (int i = first; i < argc; i++) {
        if (i > first) text[at++] = ' ';
        size_t l = strlen(argv[i]);
        memcpy(text + at, argv[i], l);
        at += l;
    }
    sc_error err;
    size_t n;
    int rc = SC_EXIT_OK;
    if (run_tokenize(t, text, at, eos, o, &n, &err)) {
        fprintf(stderr, "switchc tokenize: %s\n", err.msg);
        rc = SC_EXIT_FAIL;
    } else {
        printf("ids:");
        for (size_t i = 0; i < n; i++) printf(" %d", o->pieces[i].id);
        printf("\npieces:");
        for (size_t i = 0; i < n; i++) {
            fputc(' ', stdout);
            write_piece(t, o, i);
        }
        printf("\n");
    }
    free(text);
    return rc;
}

/* Standard input, one answer line per input line, each written and flushed
 * before the next line is read (so a caller may wait for it). A line's end
 * ("\n" or "\r\n") is not part of its text; an empty line gets an empty
 * line. The first bad line stops with its number (exit 1). */
typedef struct tok_lines {
    const sc_tokenizer *t;
    bool jsonl, eos;
    tok_out *o;
} tok_lines;

static bool tokenize_line(void *ctx, size_t lineno, const char *line, size_t len) {
    const tok_lines *c = ctx;
    if (len == 0) {
        fputc('\n', stdout);
        return fflush(stdout) == 0;
    }
    sc_error err;
    const char *text = line;
    size_t tl = len, n;
    sc_json_doc *doc = NULL;
    if (c->jsonl) {
        if (sc_json_parse(line, len, "<stdin>", &doc, &err)) {
            fprintf(stderr, "switchc tokenize: line %zu: %s\n", lineno, err.msg);
            return false;
        }
        text = sc_json_string(sc_json_get(sc_json_root(doc), "text"), &tl);
        if (!text) {
            fprintf(stderr, "switchc tokenize: line %zu: no \"text\" string\n", lineno);
            sc_json_free(doc);
            return false;
        }
    }
    sc_status st = run_tokenize(c->t, text, tl, c->eos, c->o, &n, &err);
    sc_json_free(doc);
    if (st) {
        fprintf(stderr, "switchc tokenize: line %zu: %s\n", lineno, err.msg);
        return false;
    }
    if (c->jsonl) {
        printf("{\"ids\": [");
        for (size_t i = 0; i < n; i++) printf(i ? ", %d" : "%d", c->o->pieces[i].id);
        printf("], \"pieces\": [");
        for (size_t i = 0; i < n; i++) {
            if (i) printf(", ");
            write_piece(c->t, c->o, i);
        }
        printf("]}\n");
    } else {
        for (size_t i = 0; i < n; i++) printf(i ? " %d" : "%d", c->o->pieces[i].id);
        fputc('\n', stdout);
    }
    return fflush(stdout) == 0;
}

static int tokenize_stdin(const sc_tokenizer *t, bool jsonl, bool eos, tok_out *o) {
    cli_stdin_notice("tokenize", jsonl ? "{\"text\": ...} objects" : "text");
    tok_lines c = {.t = t, .jsonl = jsonl, .eos = eos, .o = o};
    return cli_each_line("tokenize", stdin, "<stdin>", tokenize_line, &c) ? SC_EXIT_OK : SC_EXIT_FAIL;
}

int cmd_tokenize(int argc, char **argv) {
    tokenize_opts opt = {0};
    int rc = args_parse(&tokenize_args, argc, argv, &opt);
    if (rc != ARGS_GO) return rc;
    if (!opt.model) {
        fprintf(stderr, "switchc tokenize: -m DIR is required\n");
        tokenize_usage(stderr);
        return SC_EXIT_USAGE;
    }
    if (opt.jsonl && opt.first_text < argc) {
        fprintf(stderr, "switchc tokenize: give TEXT arguments or --jsonl (not both)\n");
        return SC_EXIT_USAGE;
    }
    if (!cli_model_resolve("tokenize", &opt.model, opt.revision)) return SC_EXIT_FAIL;
    sc_error err;
    sc_tokenizer *t;
    if (sc_tokenizer_load(opt.model, &t, &err)) {
        fprintf(stderr, "switchc tokenize: %s\n", err.msg);
        return SC_EXIT_FAIL;
    }
    tok_out o = {0};
    if (opt.first_text < argc) rc = tokenize_args_text(t, argc, argv, opt.first_text, !opt.no_eos, &o);
    else rc = tokenize_stdin(t, opt.jsonl, !opt.no_eos, &o);
    free(o.buf);
    free(o.pieces);
    sc_tokenizer_free(t);
    if (fflush(stdout)) rc = SC_EXIT_FAIL;
    return rc;
}

typedef struct detokenize_opts {
    const char *model, *revision;
    bool skip_special, no_cleanup;
    int32_t *ids; /* argc slots */
    size_t n;
} detokenize_opts;

static int add_id(void *vo, const char *arg) {
    detokenize_opts *o = vo;
    int64_t v;
    if (!args_int_value(arg, INT32_MIN, INT32_MAX, &v)) {
        fprintf(stderr, "switchc detokenize: '%s' is not an id\n", arg);
        detokenize_usage(stderr);
        return SC_EXIT_USAGE;
    }
    o->ids[o->n++] = (int32_t)v;
    return ARGS_GO;
}

#define AT(field) .off = offsetof(detokenize_opts, field)
static const args_opt detokenize_options[] = {
    {"-m", "--model", ARGS_STRING, AT(model)},
    {NULL, "--revision", ARGS_STRING, AT(revision)},
    {NULL, "--skip-special", ARGS_FLAG, AT(skip_special)},
    {NULL, "--no-cleanup", ARGS_FLAG, AT(no_cleanup)},
    {0},
};
#undef AT
/* every other argument is an ID, "-5" too; "--x" is an unknown option */
static const args_spec detokenize_args = {
    .cmd = "detokenize", .usage = detokenize_usage, .opts = detokenize_options, .pos = ARGS_POS_CALL,
    .dash = ARGS_DASH_POSITIONAL, .pos_call = add_id,
};

int cmd_detokenize(int argc, char **argv) {
    detokenize_opts opt = {.ids = malloc(((size_t)argc + 1) * sizeof *opt.ids)};
    if (!opt.ids) return SC_EXIT_FAIL;
    int rc = args_parse(&detokenize_args, argc, argv, &opt);
    if (rc != ARGS_GO) {
        free(opt.ids);
        return rc;
    }
    const unsigned flags =
        (opt.skip_special ? SC_DECODE_SKIP_SPECIAL : 0u) | (opt.no_cleanup ? SC_DECODE_NO_CLEANUP : 0u);
    if (!opt.model) {
        fprintf(stderr, "switchc detokenize: -m DIR is required\n");
        detokenize_usage(stderr);
        free(opt.ids);
        return SC_EXIT_USAGE;
    }
    if (opt.n == 0) { /* an empty decode would print an empty line and look like success */
        fprintf(stderr, "switchc detokenize: no ID given\n");
        detokenize_usage(stderr);
        free(opt.ids);
        return SC_EXIT_USAGE;
    }
    if (!cli_model_resolve("detokenize", &opt.model, opt.revision)) {
        free(opt.ids);
        return SC_EXIT_FAIL;
    }
    sc_error err;
    sc_tokenizer *t;
    if (sc_tokenizer_load(opt.model, &t, &err)) {
        fprintf(stderr, "switchc detokenize: %s\n", err.msg);
        free(opt.ids);
        return SC_EXIT_FAIL;
    }
    size_t len = 0;
    rc = SC_EXIT_OK;
    sc_status st = sc_tokenizer_decode(t, opt.ids, opt.n, flags, NULL, 0, &len, &err);
    char *buf = NULL;
    if (st == SC_ERR_BUFFER_TOO_SMALL) {
        buf = malloc(len + 1);
        st = buf ? sc_tokenizer_decode(t, opt.ids, opt.n, flags, buf, len + 1, &len, &err) : SC_ERR_NOMEM;
    }
    if (st) {
        fprintf(stderr, "switchc detokenize: %s\n", err.msg);
        rc = SC_EXIT_FAIL;
    } else {
        fwrite(buf ? buf : "", 1, len, stdout);
        fputc('\n', stdout);
    }
    free(buf);
    free(opt.ids);
    sc_tokenizer_free(t);
    return rc;
}
