/* The `switchc` subcommands. Each takes argv after the command name
 * (argv[0] is the command) and returns the process exit code:
 * 0 success, 1 failure of the work, 2 bad usage, 3 (`bench --compare`)
 * measured, but worse than the recorded run beyond the tolerance. */
#ifndef SC_CLI_COMMANDS_H
#define SC_CLI_COMMANDS_H

#define SC_EXIT_OK 0
#define SC_EXIT_FAIL 1
#define SC_EXIT_USAGE 2
#define SC_EXIT_WORSE 3

int cmd_inspect(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_detokenize(int argc, char **argv);
int cmd_encode(int argc, char **argv);
int cmd_verify(int argc, char **argv);
int cmd_generate(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_convert(int argc, char **argv);
int cmd_init(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_score(int argc, char **argv);
int cmd_train(int argc, char **argv);

#endif
