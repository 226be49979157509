/* The subcommands' option parser, driven by a table per command.
 *
 * A command lists its options in a static table of args_opt, each saying
 * where its value goes as an offset into the command's own options struct
 * (written `.off = offsetof(...)`), and describes its positionals in an
 * args_spec. args_parse walks argv once, in order: "-h"/"--help" prints the
 * usage on stdout (exit 0); an option of the table takes its value, either
 * written "--opt=value" (long names only) or as the next argument whatever
 * it looks like ("-m --json" names the directory "--json"), checked whole
 * (an integer or number in range, one of the words), and the last of a
 * repeated option wins; "--" ends the options (everything after it is a
 * positional); anything else is a positional or, by the spec's rules, an
 * unknown option, told with the nearest known name when one is close
 * ("did you mean '--max-new-tokens'?"). Errors print on stderr as
 * "switchc CMD: ..." and stop the parse at the first one (exit 2).
 * Left out: "-m=value" (a usage error that shows both accepted forms: a
 * short option's value is always the next argument), bundled short flags,
 * optional values, options valid only with others (commands check those
 * after parsing). */
#ifndef SC_CLI_ARGS_H
#define SC_CLI_ARGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef enum args_kind {
    ARGS_FLAG,   /* bool: set true; takes no value */
    ARGS_STRING, /* const char *: the value itself */
    ARGS_INT,    /* int64_t: an integer in [ilo, ihi] */
    ARGS_DOUBLE, /* double: a finite number in [dlo, dhi] */
    ARGS_FORMAT, /* int: the checkpoint format, "safetensors" or "bin" */
    ARGS_CHOICE, /* int: the index of the value in choices */
    ARGS_CALL,   /* anything: call() parses the value */
} args_kind;

typedef struct args_opt {
    const char *shrt, *lng; /* "-m", "--model"; either may be NULL, both end a table */
    args_kind kind;
    size_t off; /* offsetof the field in the command's options struct */
    int64_t ilo, ihi;
    double dlo, dhi;
    const char *label;          /* the name value errors give; NULL: as typed */
    const char *const *choices; /* NULL-terminated */
    /* Stores v in the field and returns true, or says why not and returns
     * false. v is NULL when the value is missing: the parser has said so
     * and fails whatever this returns (it may add a line). */
    bool (*call)(const char *cmd, const char *v, void *field);
} args_opt;

/* What the arguments the table does not match are. */
typedef enum args_pos {
    ARGS_POS_NONE, /* all unknown (after "--": "unknown argument") */
    ARGS_POS_ONE,  /* one, stored in the const char * at pos_off; when that is
                      already set (by a positional or an option sharing the
                      field) pos_extra is the error */
    ARGS_POS_CALL, /* each goes to pos_call */
    ARGS_POS_REST, /* the first one, or what follows "--", ends the options:
                      the int at pos_off gets its index (argc: none) */
    /* For ARGS_POS_ONE and ARGS_POS_CALL, "--" ends the options too: every
     * argument after it is a positional, "-x" and "--help" included. */
} args_pos;

/* With positionals, which of those arguments are unknown options. */
typedef enum args_dash {
    ARGS_DASHED,          /* any starting with '-', a lone "-" too */
    ARGS_DASHED_NOT_LONE, /* any starting with '-' but "-" (a positional) */
    ARGS_DASH_POSITIONAL, /* only "--x...": negative numbers and a lone "-"
                             are positionals */
} args_dash;

/* How an unknown argument X is told (exit 2). */
typedef enum args_say {
    ARGS_SAY_OPTION,          /* "unknown option 'X'" */
    ARGS_SAY_OPTION_USAGE,    /* "unknown option 'X'" and the usage */
    ARGS_SAY_OPTION_SEE_HELP, /* "unknown option 'X' (see --help)" */
    ARGS_SAY_ARGUMENT,        /* "unknown argument 'X' (see --help)" */
} args_say;
/* A dashed X close to a known name gets "; did you mean 'Y'?" after 'X'
 * (in place of " (see --help)"): the same name with '_' for '-' or other
 * dashes, within a few edits, or the names X begins. */

typedef struct args_spec {
    const char *cmd;         /* "generate", for "switchc generate: ..." */
    void (*usage)(FILE *f);  /* for --help, and for ARGS_SAY_OPTION_USAGE */
    const args_opt *opts;    /* NULL: none */
    args_say unknown;
    args_pos pos;
    args_dash dash;
    size_t pos_off;
    const char *pos_extra;
    /* ARGS_GO to go on, else the exit status (having said why). */
    int (*pos_call)(void *opts, const char *arg);
} args_spec;

#define ARGS_GO (-1)

/* Parses argv[1..argc) (argv[0] is the command) into the struct at opts.
 * Returns ARGS_GO when the command should run, else its exit status.
 * ARGS_INT values are decimal digits with an optional sign ("1e3", " 5",
 * "5 ", "0x10" are refused); ARGS_DOUBLE values are decimal numbers (no
 * spaces, hex, inf or nan); the error states the range accepted. */
int args_parse(const args_spec *spec, int argc, char **argv, void *opts);

/* Whether s is a decimal integer (ARGS_INT's syntax) in [lo, hi]; stores
 * it in *out when it is. Prints nothing: for commands' own positionals. */
bool args_int_value(const char *s, int64_t lo, int64_t hi, int64_t *out);

/* --dtype for the option table (ARGS_CALL): sc_dtype_from_label's names into the
 * sc_dtype field; anything else is told with the names accepted. */
bool args_dtype(const char *cmd, const char *v, void *field);

#endif
