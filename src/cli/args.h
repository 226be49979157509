/* Checked parsing of CLI option values: the whole string must be a number in
 * range, else a message names the option and the bad value. */
#ifndef SC_CLI_ARGS_H
#define SC_CLI_ARGS_H

#include <stdbool.h>
#include <stdint.h>

/* The value after option argv[*i] (advancing *i); prints an error and
 * returns NULL when it is missing. */
const char *arg_value(int argc, char **argv, int *i, const char *cmd);
bool arg_int(const char *cmd, const char *opt, const char *s, int64_t lo, int64_t hi, int64_t *out);
bool arg_double(const char *cmd, const char *opt, const char *s, double lo, double hi, double *out);
/* --format safetensors|bin -> a checkpoint format for sc_model_params.format. */
bool arg_format(const char *cmd, const char *s, int *out);
/* Writes a JSON string literal (quotes and escapes) of s[0..n) to f. */
#include <stdio.h>
void json_write_string(FILE *f, const char *s, size_t n);

#endif
