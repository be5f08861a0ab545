/* main.c - heft-engine: subcommand dispatch. */
#include "commands.h"
#include "quant.h"
#include "util.h"

#include <stdio.h>
#include <string.h>

static const struct {
	const char *name;
	int (*fn)(int, char **);
	const char *summary;
} commands[] = {
	{"inspect", cmd_inspect, "show a model's architecture, tensors and memory split"},
	{"synth", cmd_synth, "write a synthetic GGUF model with random weights"},
	{"tokenize", cmd_tokenize, "text to token ids with the model's tokenizer"},
	{"eval", cmd_eval, "evaluate a prompt (text or token ids) in one batch; write the fixtures' .ref format"},
	{"run", cmd_run, "complete a text prompt (or token ids)"},
	{"chat", cmd_chat, "line-based chat with the model's chat template"},
	{"bench", cmd_bench, "prefill and decode speed against the memory-bandwidth bound"},
	{"serve", cmd_serve, "speak heft-protocol(5) on stdin and stdout (run by heft)"},
	{"cachesim", cmd_cachesim, "replay a routing trace through the cache policies and Belady's MIN"},
};

static void usage(FILE *f)
{
	fprintf(f, "usage: heft-engine COMMAND [ARGS...]\n\ncommands:\n");
	for (size_t i = 0; i < ARRAY_LEN(commands); i++)
		fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
	fprintf(f, "\n'heft-engine COMMAND --help' describes a command; see heft-engine(1).\n");
}

int main(int argc, char **argv)
{
	heft_progname = "heft-engine";
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		usage(stdout);
		return 0;
	}
	if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V")) {
		printf("heft-engine %s (kernels: %s)\n", PACKAGE_VERSION, quant_init());
		return 0;
	}
	for (size_t i = 0; i < ARRAY_LEN(commands); i++)
		if (!strcmp(argv[1], commands[i].name))
			return commands[i].fn(argc - 1, argv + 1);
	warnx_("unknown command '%s'", argv[1]);
	usage(stderr);
	return 2;
}
