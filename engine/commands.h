/* commands.h - heft-engine's subcommands, one per engine/cmd-NAME.c, listed
 * in main.c's table. Each takes the arguments after the subcommand name
 * (argv[0] is the subcommand) and returns the exit status: 0 success, 1
 * runtime error, 2 bad input (bad file, bad usage). Their options are
 * parsed by options.h's parser. */
#ifndef HEFT_COMMANDS_H
#define HEFT_COMMANDS_H

/* inspect [--tensors] [--json] [--mem SIZE ...] MODEL: architecture,
 * tensors, memory split and (with loading flags) the memory plan. */
int cmd_inspect(int argc, char **argv);
/* synth [--like M] [--arch A] [shape and type flags] -o FILE: a synthetic
 * GGUF model with random weights. */
int cmd_synth(int argc, char **argv);
/* tokenize MODEL (-p TEXT | -f FILE | --vectors FILE): token ids. */
int cmd_tokenize(int argc, char **argv);
/* eval MODEL (--tokens 1,2,3 | -p TEXT | -f FILE) [--greedy N] [--out FILE]:
 * logits of every position in one batch, then N greedy tokens, written in
 * the fixtures' .ref format (a text prompt: the end-to-end layout, prompt
 * and greedy_text, no logits rows). */
int cmd_eval(int argc, char **argv);
/* run MODEL --tokens 1,2,3 [-n N]: greedy generation, prints the generated
 * ids. run MODEL -p TEXT [sampler flags]: raw text completion streamed to
 * stdout. */
int cmd_run(int argc, char **argv);
/* chat MODEL [--system TEXT] [--chat-template NAME] [sampler flags]:
 * line-based chat on stdin/stdout. */
int cmd_chat(int argc, char **argv);
/* bench MODEL [-t N] [-p N] [-n N]: prefill and decode speed against the
 * memory-bandwidth bound measured on this machine. */
int cmd_bench(int argc, char **argv);
/* serve [MODEL] [flags]: requests on stdin, events on stdout, as
 * heft-protocol(5) says (cmd-serve.c; the protocol loop is serve.c). */
int cmd_serve(int argc, char **argv);
/* cachesim TRACE [--slots N | --mem SIZE] [--policy P ...] [--json]: a
 * routing trace replayed through the cache policies and Belady's MIN. */
int cmd_cachesim(int argc, char **argv);

#endif
