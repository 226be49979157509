/* See args.h. */
#include "cli/args.h"
#include "cli/commands.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "io/checkpoint.h"

/* The value after option argv[*i] (advancing *i); prints an error and
 * returns NULL when it is missing. */
static const char *arg_value(int argc, char **argv, int *i, const char *cmd) {
    if (*i + 1 >= argc) {
        fprintf(stderr, "switchc %s: %s needs a value\n", cmd, argv[*i]);
        return NULL;
    }
    return argv[++*i];
}

static bool arg_int(const char *cmd, const char *opt, const char *s, int64_t lo, int64_t hi, int64_t *out) {
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) {
        fprintf(stderr, "switchc %s: %s takes an integer in [%lld, %lld], not '%s'\n", cmd, opt,
                (long long)lo, (long long)hi, s);
        return false;
    }
    *out = v;
    return true;
}

static bool arg_double(const char *cmd, const char *opt, const char *s, double lo, double hi, double *out) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !isfinite(v) || v < lo || v > hi) {
        fprintf(stderr, "switchc %s: %s takes a number in [%g, %g], not '%s'\n", cmd, opt, lo, hi, s);
        return false;
    }
    *out = v;
    return true;
}

/* --format safetensors|bin -> a checkpoint format for sc_model_params.format. */
static bool arg_format(const char *cmd, const char *s, int *out) {
    if (!strcmp(s, "safetensors")) *out = SC_FORMAT_SAFETENSORS;
    else if (!strcmp(s, "bin")) *out = SC_FORMAT_TORCH_BIN;
    else {
        fprintf(stderr, "switchc %s: --format takes 'safetensors' or 'bin', not '%s'\n", cmd, s);
        return false;
    }
    return true;
}

static bool arg_choice(const char *cmd, const char *opt, const char *s, const char *const *choices, int *out) {
    for (int k = 0; choices[k]; k++)
        if (!strcmp(s, choices[k])) {
            *out = k;
            return true;
        }
    fprintf(stderr, "switchc %s: %s takes ", cmd, opt);
    for (int k = 0; choices[k]; k++)
        fprintf(stderr, "%s%s", k == 0 ? "" : choices[k + 1] ? ", " : " or ", choices[k]);
    fputc('\n', stderr);
    return false;
}

static const args_opt *find_opt(const args_opt *o, const char *a) {
    for (; o && (o->shrt || o->lng); o++)
        if ((o->shrt && !strcmp(a, o->shrt)) || (o->lng && !strcmp(a, o->lng))) return o;
    return NULL;
}

/* Option argv[*i] (matching o) and its value, if it takes one, into field. */
static bool take_opt(const args_spec *s, const args_opt *o, int argc, char **argv, int *i, void *field) {
    const char *name = o->label ? o->label : argv[*i];
    if (o->kind == ARGS_FLAG) {
        *(bool *)field = true;
        return true;
    }
    const char *v = arg_value(argc, argv, i, s->cmd);
    if (o->kind == ARGS_CALL) return o->call(s->cmd, v, field) && v;
    if (!v) return false;
    switch (o->kind) {
    case ARGS_STRING: *(const char **)field = v; return true;
    case ARGS_INT: return arg_int(s->cmd, name, v, o->ilo, o->ihi, field);
    case ARGS_DOUBLE: return arg_double(s->cmd, name, v, o->dlo, o->dhi, field);
    case ARGS_FORMAT: return arg_format(s->cmd, v, field);
    case ARGS_CHOICE: return arg_choice(s->cmd, name, v, o->choices, field);
    default: return false;
    }
}

static bool is_unknown(const args_spec *s, const char *a) {
    if (s->pos == ARGS_POS_NONE) return true;
    switch (s->dash) {
    case ARGS_DASHED: return a[0] == '-';
    case ARGS_DASHED_NOT_LONE: return a[0] == '-' && a[1];
    default: return false; /* ARGS_DASH_POSITIONAL */
    }
}

static void say_unknown(const args_spec *s, const char *a) {
    bool see_help = s->unknown == ARGS_SAY_OPTION_SEE_HELP || s->unknown == ARGS_SAY_ARGUMENT;
    fprintf(stderr, "switchc %s: unknown %s '%s'%s\n", s->cmd, s->unknown == ARGS_SAY_ARGUMENT ? "argument" : "option",
            a, see_help ? " (see --help)" : "");
    if (s->unknown == ARGS_SAY_OPTION_USAGE) s->usage(stderr);
}

int args_parse(const args_spec *s, int argc, char **argv, void *opts) {
    char *base = opts;
    if (s->pos == ARGS_POS_REST) *(int *)(base + s->pos_off) = argc;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            s->usage(stdout);
            return SC_EXIT_OK;
        }
        const args_opt *o = find_opt(s->opts, a);
        if (o) {
            if (!take_opt(s, o, argc, argv, &i, base + o->off)) return SC_EXIT_USAGE;
            continue;
        }
        if (s->pos == ARGS_POS_REST && !strcmp(a, "--")) {
            *(int *)(base + s->pos_off) = i + 1;
            return ARGS_GO;
        }
        if (is_unknown(s, a)) {
            say_unknown(s, a);
            return SC_EXIT_USAGE;
        }
        if (s->pos == ARGS_POS_REST) {
            *(int *)(base + s->pos_off) = i;
            return ARGS_GO;
        }
        if (s->pos == ARGS_POS_CALL) {
            int rc = s->pos_call(opts, a);
            if (rc != ARGS_GO) return rc;
            continue;
        }
        const char **one = (const char **)(base + s->pos_off); /* ARGS_POS_ONE */
        if (*one) {
            fprintf(stderr, "switchc %s: %s\n", s->cmd, s->pos_extra);
            return SC_EXIT_USAGE;
        }
        *one = a;
    }
    return ARGS_GO;
}

void json_write_string(FILE *f, const char *s, size_t n) {
    fputc('"', f);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        switch (c) {
        case '"': fputs("\\\"", f); break;
        case '\\': fputs("\\\\", f); break;
        case '\n': fputs("\\n", f); break;
        case '\r': fputs("\\r", f); break;
        case '\t': fputs("\\t", f); break;
        default:
            if (c < 0x20 || c == 0x7f) fprintf(f, "\\u%04x", c);
            else fputc(c, f);
        }
    }
    fputc('"', f);
}
