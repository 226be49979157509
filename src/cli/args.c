/* See args.h. */
#include "args.h"
#include "commands.h"
#include "switchc.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* The value after option argv[*i] (advancing *i); prints an error and
 * returns NULL when it is missing. */
static const char *arg_value(int argc, char **argv, int *i, const char *cmd) {
    if (*i + 1 >= argc) {
        fprintf(stderr, "switchc %s: %s needs a value\n", cmd, argv[*i]);
        return NULL;
    }
    return argv[++*i];
}

/* Decimal digits with an optional sign, nothing else: strtoll alone would
 * also take leading spaces, and users reading "[1, 1024]" expect " 5" and
 * "1e3" to fail the same way "5x" does. */
static bool int_syntax(const char *s) {
    if (*s == '+' || *s == '-') s++;
    if (!*s) return false;
    for (; *s; s++)
        if (*s < '0' || *s > '9') return false;
    return true;
}

bool args_int_value(const char *s, int64_t lo, int64_t hi, int64_t *out) {
    if (!int_syntax(s)) return false;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || *end || v < lo || v > hi) return false;
    *out = v;
    return true;
}

static bool arg_int(const char *cmd, const char *opt, const char *s, int64_t lo, int64_t hi, int64_t *out) {
    if (args_int_value(s, lo, hi, out)) return true;
    fprintf(stderr, "switchc %s: %s takes an integer in [%lld, %lld], not '%s'\n", cmd, opt, (long long)lo,
            (long long)hi, s);
    return false;
}

/* A decimal number: digits, sign, point and exponent only, so no spaces,
 * hex floats, "inf" or "nan" (strtod takes all of those). */
static bool double_syntax(const char *s) {
    if (!*s) return false;
    for (; *s; s++)
        if (!strchr("0123456789+-.eE", *s)) return false;
    return true;
}

/* v as %g with the fewest digits, 6 or more, that read back as v, so a
 * stated bound is exactly the bound checked ("1e-06", not
 * "9.9999999999999995e-07"; "1000", not "1e+03"). */
static void fmt_bound(char *buf, size_t cap, double v) {
    for (int prec = 6; prec <= 17; prec++) {
        snprintf(buf, cap, "%.*g", prec, v);
        if (strtod(buf, NULL) == v) return;
    }
}

static bool arg_double(const char *cmd, const char *opt, const char *s, double lo, double hi, double *out) {
    char *end = NULL;
    errno = 0;
    double v = double_syntax(s) ? strtod(s, &end) : 0;
    if (!double_syntax(s) || errno || *end || !isfinite(v) || v < lo || v > hi) {
        char l[32], h[32];
        fmt_bound(l, sizeof l, lo);
        fmt_bound(h, sizeof h, hi);
        fprintf(stderr, "switchc %s: %s takes a number in [%s, %s], not '%s'\n", cmd, opt, l, h, s);
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

static bool table_end(const args_opt *o) { return !o->shrt && !o->lng; }

/* The option named a[0..n): short or long names when the whole argument is
 * the name, long names only for "--name=value" (long_only). */
static const args_opt *find_opt(const args_opt *o, const char *a, size_t n, bool long_only) {
    for (; o && !table_end(o); o++) {
        if (o->lng && strlen(o->lng) == n && !memcmp(a, o->lng, n)) return o;
        if (!long_only && o->shrt && strlen(o->shrt) == n && !memcmp(a, o->shrt, n)) return o;
    }
    return NULL;
}

/* Option o, typed as name, and its value: inline (after '='), else the next
 * argument; stored in field. */
static bool take_opt(const args_spec *s, const args_opt *o, const char *name, const char *inline_v, int argc,
                     char **argv, int *i, void *field) {
    const char *label = o->label ? o->label : name;
    if (o->kind == ARGS_FLAG) {
        if (inline_v) {
            fprintf(stderr, "switchc %s: %s takes no value ('%s')\n", s->cmd, name, argv[*i]);
            return false;
        }
        *(bool *)field = true;
        return true;
    }
    const char *v = inline_v ? inline_v : arg_value(argc, argv, i, s->cmd);
    if (o->kind == ARGS_CALL) return o->call(s->cmd, v, field) && v;
    if (!v) return false;
    switch (o->kind) {
    case ARGS_STRING: *(const char **)field = v; return true;
    case ARGS_INT: return arg_int(s->cmd, label, v, o->ilo, o->ihi, field);
    case ARGS_DOUBLE: return arg_double(s->cmd, label, v, o->dlo, o->dhi, field);
    case ARGS_FORMAT: return arg_format(s->cmd, v, field);
    case ARGS_CHOICE: return arg_choice(s->cmd, label, v, o->choices, field);
    default: return false;
    }
}

static bool is_unknown(const args_spec *s, const char *a) {
    if (s->pos == ARGS_POS_NONE) return true;
    switch (s->dash) {
    case ARGS_DASHED: return a[0] == '-';
    case ARGS_DASHED_NOT_LONE: return a[0] == '-' && a[1];
    default: return a[0] == '-' && a[1] == '-' && a[2]; /* ARGS_DASH_POSITIONAL */
    }
}

/* Suggestions. Names are compared without their leading dashes, '_' read
 * as '-' and case ignored, so "--max_new_tokens", "-threads" and "--M" all
 * find their option. Longer inputs are not compared: no name is that long,
 * and the table below stays on the stack. */
#define SUGGEST_MAX 64

static char fold(char c) {
    if (c == '_') return '-';
    return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

static const char *undash(const char *a, size_t *n) {
    size_t k = 0;
    while (k < 2 && k < *n && a[k] == '-') k++;
    *n -= k;
    return a + k;
}

/* Edit distance of folded a[0..na) and b[0..nb), both <= SUGGEST_MAX:
 * insertions, deletions, substitutions and swaps of neighbours ("--jsno"
 * is one slip from "--json"), each costing 1 (optimal string alignment). */
static size_t edits(const char *a, size_t na, const char *b, size_t nb) {
    size_t rows[3][SUGGEST_MAX + 1]; /* lines i-2, i-1, i of the table, cycled */
    for (size_t j = 0; j <= nb; j++) rows[0][j] = j;
    for (size_t i = 1; i <= na; i++) {
        size_t *cur = rows[i % 3], *up = rows[(i + 2) % 3], *up2 = rows[(i + 1) % 3];
        cur[0] = i;
        for (size_t j = 1; j <= nb; j++) {
            size_t best = up[j - 1] + (fold(a[i - 1]) != fold(b[j - 1]));
            if (up[j] + 1 < best) best = up[j] + 1;
            if (cur[j - 1] + 1 < best) best = cur[j - 1] + 1;
            if (i > 1 && j > 1 && fold(a[i - 1]) == fold(b[j - 2]) && fold(a[i - 2]) == fold(b[j - 1]) &&
                up2[j - 2] + 1 < best)
                best = up2[j - 2] + 1;
            cur[j] = best;
        }
    }
    return rows[na % 3][nb];
}

static bool folded_prefix(const char *a, size_t na, const char *b, size_t nb) {
    if (na >= nb) return false;
    for (size_t i = 0; i < na; i++)
        if (fold(a[i]) != fold(b[i])) return false;
    return true;
}

/* Writes "; did you mean 'Y'?" (or the names that a[0..n) begins) to f;
 * returns whether it wrote anything. The nearest name within the allowed
 * edits wins (the first in the table on a tie); the allowance is a third of
 * the typed name, at least 2, but always fewer edits than either name has
 * letters (so "-x" is never "-m", nor "--max"). */
static bool suggest(FILE *f, const args_opt *opts, const char *arg, size_t n) {
    size_t tn = n;
    const char *typed = undash(arg, &tn);
    if (tn == 0 || tn > SUGGEST_MAX) return false;
    size_t allow = tn / 3 > 2 ? tn / 3 : 2;
    if (allow > tn - 1) allow = tn - 1;
    static const args_opt help[] = {{.lng = "--help"}, {0}};
    const char *best = NULL;
    size_t best_d = SIZE_MAX;
    const char *prefixed[5];
    size_t n_prefixed = 0;
    for (int t = 0; t < 2; t++)
        for (const args_opt *o = t ? help : opts; o && !table_end(o); o++)
            for (int k = 0; k < 2; k++) {
                const char *name = k ? o->shrt : o->lng;
                if (!name) continue;
                size_t cn = strlen(name);
                const char *cand = undash(name, &cn);
                if (cn > SUGGEST_MAX) continue;
                size_t d = edits(typed, tn, cand, cn);
                if (d <= allow && d < cn && d < best_d) {
                    best = name;
                    best_d = d;
                }
                if (tn >= 2 && folded_prefix(typed, tn, cand, cn) && n_prefixed < 5) prefixed[n_prefixed++] = name;
            }
    /* one slip beats a prefix ("--jsno" is --json, not --jsonl), a prefix
     * beats two ("--max" is --max-length or another --max-..., not -m) */
    if (best && (best_d <= 1 || !n_prefixed)) {
        fprintf(f, "; did you mean '%s'?", best);
        return true;
    }
    if (!n_prefixed) return false;
    fputs("; did you mean ", f);
    size_t shown = n_prefixed > 4 ? 4 : n_prefixed;
    for (size_t k = 0; k < shown; k++)
        fprintf(f, "%s'%s'", k == 0 ? "" : k + 1 < shown || n_prefixed > 4 ? ", " : " or ", prefixed[k]);
    fputs(n_prefixed > 4 ? ", ...?" : "?", f);
    return true;
}

/* Unknown argument a. After "--" (positional) it is an argument, not an
 * option, and gets no suggestion. */
static void say_unknown(const args_spec *s, const char *a, bool positional) {
    bool see_help = s->unknown == ARGS_SAY_OPTION_SEE_HELP || s->unknown == ARGS_SAY_ARGUMENT || positional;
    bool argument = s->unknown == ARGS_SAY_ARGUMENT || positional;
    fprintf(stderr, "switchc %s: unknown %s '%s'", s->cmd, argument ? "argument" : "option", a);
    if (!positional && a[0] == '-') {
        const char *eq = a[1] == '-' ? strchr(a, '=') : NULL;
        if (suggest(stderr, s->opts, a, eq ? (size_t)(eq - a) : strlen(a))) see_help = false;
    }
    fputs(see_help ? " (see --help)\n" : "\n", stderr);
    if (s->unknown == ARGS_SAY_OPTION_USAGE) s->usage(stderr);
}

/* "-m=x" where -m is an option: refused, naming the two forms that work.
 * A short option's value is always the next argument; reading "-m=x" as
 * the value "x" or "=x" would each surprise someone, and a prompt or path
 * that looks like this can follow "--". */
static bool short_with_equals(const args_spec *s, const char *a) {
    const char *eq = a[0] == '-' && a[1] != '-' ? strchr(a, '=') : NULL;
    const args_opt *o = eq ? find_opt(s->opts, a, (size_t)(eq - a), false) : NULL;
    if (!o || !o->shrt || strncmp(a, o->shrt, (size_t)(eq - a))) return false;
    fprintf(stderr, "switchc %s: '%s': a short option takes its value as the next argument: '%.*s %s'", s->cmd,
            a, (int)(eq - a), a, eq + 1);
    if (o->lng) fprintf(stderr, " or '%s=%s'", o->lng, eq + 1);
    fputc('\n', stderr);
    return true;
}

int args_parse(const args_spec *s, int argc, char **argv, void *opts) {
    char *base = opts;
    bool options = true; /* false after "--" */
    if (s->pos == ARGS_POS_REST) *(int *)(base + s->pos_off) = argc;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (options) {
            if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
                s->usage(stdout);
                return SC_EXIT_OK;
            }
            if (!strcmp(a, "--")) {
                if (s->pos == ARGS_POS_REST) {
                    *(int *)(base + s->pos_off) = i + 1;
                    return ARGS_GO;
                }
                options = false;
                continue;
            }
            const char *eq = a[0] == '-' && a[1] == '-' ? strchr(a, '=') : NULL;
            size_t n = eq ? (size_t)(eq - a) : strlen(a);
            const args_opt *o = find_opt(s->opts, a, n, eq != NULL);
            if (o) {
                if (!take_opt(s, o, eq ? o->lng : a, eq ? eq + 1 : NULL, argc, argv, &i, base + o->off))
                    return SC_EXIT_USAGE;
                continue;
            }
            if (eq && n == 6 && !strncmp(a, "--help", 6)) {
                fprintf(stderr, "switchc %s: --help takes no value ('%s')\n", s->cmd, a);
                return SC_EXIT_USAGE;
            }
            if (short_with_equals(s, a)) return SC_EXIT_USAGE;
            if (is_unknown(s, a)) {
                say_unknown(s, a, false);
                return SC_EXIT_USAGE;
            }
        } else if (s->pos == ARGS_POS_NONE) {
            say_unknown(s, a, true);
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

bool args_dtype(const char *cmd, const char *v, void *field) {
    if (!v) return false;
    if (sc_dtype_from_label(v, field)) return true;
    fprintf(stderr, "switchc %s: --dtype takes f32, bf16, f16 or q8, not '%s'\n", cmd, v);
    return false;
}
