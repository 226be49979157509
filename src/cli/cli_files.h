/* File chores shared by the commands: for `convert` and `init`, checking
 * the output directory before any work and staging side files (config,
 * tokenizer) next to the weights (io/staged_dir.h: nothing in the output
 * directory is written in place); a size option ("5G"); progress; and
 * reading line-oriented input. Every function that
 * fails says why on stderr as "switchc CMD: ...". */
#ifndef SC_CLI_CLI_FILES_H
#define SC_CLI_CLI_FILES_H

#include "io/staged_dir.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* Before any work: false (with a message naming the path and why) when
 * `out` exists but is not a directory (links followed), cannot be examined,
 * or already holds a checkpoint (sc_model_dir_has_checkpoint) while `force`
 * is false. A checkpoint in the directory `in_place` (the input of convert;
 * may be NULL) is allowed: the new files replace it through the staging. */
bool cli_output_check(const char *cmd, const char *out, const char *in_place, bool force);
/* sc_staged_dir_open with the error printed; NULL on failure. */
sc_staged_dir *cli_stage(const char *cmd, const char *out);
/* Copies dir_in/name into the staging directory; returns 1 copied, 0 absent
 * (no such file), -1 error. */
int cli_copy_file(const char *cmd, const char *dir_in, sc_staged_dir *out, const char *name);
/* Writes text as `name` in the staging directory. */
bool cli_write_text(const char *cmd, sc_staged_dir *out, const char *name, const char *text, size_t len);
/* "5G", "500M", "1024K", "12345" (bytes); false if malformed. */
bool cli_parse_size(const char *s, size_t *out);
/* --shard-size for the option table (args.h ARGS_CALL): a size into the
 * size_t field; a bad or missing value is reported as one. */
bool cli_shard_size_arg(const char *cmd, const char *v, void *field);
/* Progress callback (sc_model_write, sc_model_params.progress): a line on
 * stderr when it is a TTY; ctx is the verb shown ("reading"), NULL "writing". */
void cli_progress(void *ctx, size_t done, size_t total);

/* Line-oriented input (tokenize, encode and score read one answer per
 * line): calls fn(ctx, lineno, line, len) for each line of f, lineno from
 * 1, without its "\n" or "\r\n", until fn returns false. Returns true when
 * every line was taken and f ended without a read error (said on stderr as
 * "switchc CMD: SRC: read error after line N: why"; a terminal's hang-up ends
 * the input like Ctrl-D). */
bool cli_each_line(const char *cmd, FILE *f, const char *src,
                   bool (*fn)(void *ctx, size_t lineno, const char *line, size_t len), void *ctx);
/* With no text argument: when stdin is a terminal, says on stderr that CMD
 * reads WHAT from it, one per line. */
void cli_stdin_notice(const char *cmd, const char *what);

/* Whether `path` (links followed) is one of the files directly in `dir`
 * (links followed): an output aimed at what the run reads. False when path
 * does not exist. */
bool cli_is_file_of(const char *path, const char *dir);

#endif
