/* File chores shared by `switchc convert` and `switchc init`: creating the
 * output directory, copying side files, a size option ("5G"), progress. */
#ifndef SC_CLI_CLI_FILES_H
#define SC_CLI_CLI_FILES_H

#include <stdbool.h>
#include <stddef.h>

/* mkdir -p; false (with a message) on failure. */
bool cli_mkdirs(const char *cmd, const char *dir);
/* Copies dir_in/name to dir_out/name; returns 1 copied, 0 absent, -1 error. */
int cli_copy_file(const char *cmd, const char *dir_in, const char *dir_out, const char *name);
/* Writes text to dir/name. */
bool cli_write_text(const char *cmd, const char *dir, const char *name, const char *text, size_t len);
/* "5G", "500M", "1024K", "12345" (bytes); false if malformed. */
bool cli_parse_size(const char *s, size_t *out);
/* --shard-size for the option table (args.h ARGS_CALL): a size into the
 * size_t field; a bad or missing value is reported as one. */
bool cli_shard_size_arg(const char *cmd, const char *v, void *field);
/* Progress callback (sc_model_write, sc_model_params.progress): a line on
 * stderr when it is a TTY; ctx is the verb shown ("reading"), NULL "writing". */
void cli_progress(void *ctx, size_t done, size_t total);

#endif
