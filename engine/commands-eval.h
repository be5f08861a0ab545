/* commands-eval.h - heft-engine subcommands that run the forward pass
 * (eval.c). Same conventions as commands.h: argv[0] is the subcommand;
 * exit status 0 success, 1 runtime error, 2 bad input. */
#ifndef HEFT_COMMANDS_EVAL_H
#define HEFT_COMMANDS_EVAL_H

/* eval MODEL --tokens 1,2,3 [--greedy N] [--out FILE] [-t N] [--ctx N]:
 * logits of every position in one batch, then N greedy tokens, written in
 * the fixtures' .ref format. */
int cmd_eval(int argc, char **argv);
/* run MODEL --tokens 1,2,3 [-n N] [-t N] [--ctx N]: greedy generation,
 * prints the generated ids. */
int cmd_run(int argc, char **argv);
/* bench MODEL [-t N] [-p N] [-n N]: prefill and decode speed against the
 * memory-bandwidth bound measured on this machine. */
int cmd_bench(int argc, char **argv);

#endif
