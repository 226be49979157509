/* switchc: the command-line front end. This folder is the only place that
 * prints to the terminal or exits. */
#include "commands.h"
#include "switchc.h"

#include <stdio.h>
#include <string.h>

typedef struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} command;

static const command commands[] = {
    {"generate", cmd_generate, "generate text (greedy, beam search, sampling) for prompts"},
    {"score", cmd_score, "score (input, target) text pairs: HF's loss, cross-entropy, perplexity"},
    {"train", cmd_train, "fine-tune or pretrain a checkpoint (AdamW or Adafactor), HF-loadable output"},
    {"encode", cmd_encode, "print encoder embeddings of texts (mean/first/none pooling)"},
    {"inspect", cmd_inspect, "describe a model directory: format, config, sparse blocks, parameters, problems"},
    {"verify", cmd_verify, "check the engine against a reference case (manifest + arrays)"},
    {"convert", cmd_convert, "rewrite a checkpoint as safetensors in f32, bf16, f16 or q8"},
    {"init", cmd_init, "write a randomly initialised model for a config.json"},
    {"bench", cmd_bench, "measure load time, encoder and decoder speed, memory"},
    {"info", cmd_info, "show the build, the CPU features and the kernels selected"},
    {"tokenize", cmd_tokenize, "text -> token ids and pieces (T5 tokenizer)"},
    {"detokenize", cmd_detokenize, "token ids -> text (T5 tokenizer)"},
};

static void usage(FILE *f) {
    fprintf(f, "switchc %s - Switch Transformers inference and training\n\nusage: switchc <command> [options]\n\ncommands:\n",
            SWITCHC_VERSION);
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-12s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\nRun 'switchc <command> --help' for a command's options.\n");
}

int main(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return SC_EXIT_USAGE;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return SC_EXIT_OK;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("switchc %s\n", SWITCHC_VERSION);
        return SC_EXIT_OK;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(argv[1], commands[i].name)) return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "switchc: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return SC_EXIT_USAGE;
}
