/* The model argument of a command (-m): a directory, or a Hugging Face repo
 * id found in the local cache. Every command that loads a model calls this
 * right after parsing its arguments. */
#ifndef SC_CLI_MODEL_H
#define SC_CLI_MODEL_H

#include <stdbool.h>

/* Resolves *model with sc_model_path_resolve (revision may be NULL: "main").
 * On success *model points at the directory to load: the argument itself
 * when it is an existing path, else a string that lives until the process
 * exits (a command resolves one model; the string is freed at exit). On
 * failure prints "switchc CMD: <why>" to stderr, leaves *model alone and
 * returns false: the command then exits with status 1. */
bool cli_model_resolve(const char *cmd, const char **model, const char *revision);

#endif
