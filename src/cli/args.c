#include "cli/args.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "io/checkpoint.h"

const char *arg_value(int argc, char **argv, int *i, const char *cmd) {
    if (*i + 1 >= argc) {
        fprintf(stderr, "switchc %s: %s needs a value\n", cmd, argv[*i]);
        return NULL;
    }
    return argv[++*i];
}

bool arg_int(const char *cmd, const char *opt, const char *s, int64_t lo, int64_t hi, int64_t *out) {
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

bool arg_double(const char *cmd, const char *opt, const char *s, double lo, double hi, double *out) {
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

bool arg_format(const char *cmd, const char *s, int *out) {
    if (!strcmp(s, "safetensors")) *out = SC_FORMAT_SAFETENSORS;
    else if (!strcmp(s, "bin")) *out = SC_FORMAT_TORCH_BIN;
    else {
        fprintf(stderr, "switchc %s: --format takes 'safetensors' or 'bin', not '%s'\n", cmd, s);
        return false;
    }
    return true;
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
