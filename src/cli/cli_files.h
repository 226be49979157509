/* File chores shared by the commands: checking an output directory; a
 * size option ("5G"); progress; reading line-oriented input; whether an
 * output path is one of a model's files. Every function that fails says
 * why on stderr as "switchc CMD: ...". */
#ifndef SC_CLI_CLI_FILES_H
#define SC_CLI_CLI_FILES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* Before any work: sc_output_dir_check with the error printed. */
bool cli_output_check(const char *cmd, const char *out, const char *in_place, bool force);
/* "5G", "500M", "1024K", "12345" (bytes); false if malformed. */
bool cli_parse_size(const char *s, size_t *out);
/* --shard-size for the option table (args.h ARGS_CALL): a size into the
 * size_t field; a bad or missing value is reported as one. */
bool cli_shard_size_arg(const char *cmd, const char *v, void *field);
/* Progress callback (sc_write_params.progress, sc_model_params.progress): a line on
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
/* Whether a and b (links followed) are the same existing file. */
bool cli_same_file(const char *a, const char *b);

#endif
