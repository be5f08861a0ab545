/* commands-eval.h - heft-engine subcommands that run the forward pass
 * (eval.c). Same conventions as commands.h: argv[0] is the subcommand;
 * exit status 0 success, 1 runtime error, 2 bad input. */
#ifndef HEFT_COMMANDS_EVAL_H
#define HEFT_COMMANDS_EVAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

struct sampler_params;

/* eval MODEL --tokens 1,2,3 [--greedy N] [--out FILE] [-t N] [--ctx N]:
 * logits of every position in one batch, then N greedy tokens, written in
 * the fixtures' .ref format. With -p TEXT (or -f FILE) instead of --tokens
 * the text goes through the model's tokenizer and the end-to-end layout is
 * written (prompt, greedy_text, no logits rows). */
int cmd_eval(int argc, char **argv);
/* run MODEL --tokens 1,2,3 [-n N] [-t N] [--ctx N]: greedy generation,
 * prints the generated ids. run MODEL -p TEXT [sampler flags]: raw text
 * completion streamed to stdout. */
int cmd_run(int argc, char **argv);
/* chat MODEL [--system TEXT] [--chat-template NAME] [sampler flags]:
 * line-based chat on stdin/stdout (chat-cmd.c). */
int cmd_chat(int argc, char **argv);
/* bench MODEL [-t N] [-p N] [-n N]: prefill and decode speed against the
 * memory-bandwidth bound measured on this machine. */
int cmd_bench(int argc, char **argv);
/* serve [MODEL] [-t N] [--ctx N] [loading and sampler flags]: requests on
 * stdin, events on stdout, as heft-protocol(5) says (serve.c). */
int cmd_serve(int argc, char **argv);

/* If argv[*i] is a sampler flag (--temp, --top-k, --top-p, --min-p,
 * --repeat-penalty, --repeat-last-n, --presence-penalty,
 * --frequency-penalty, --seed), store its value in p and step *i over it:
 * returns 1; 0 if it is not one; -1 for a bad value (reported). */
int parse_sampler_flag(int argc, char **argv, int *i, struct sampler_params *p);

/* Write model output. escape (stdout is a terminal): control characters
 * other than newline and tab are shown as ^X (ESC as ^[, DEL as ^?, the C1
 * controls U+0080..U+009F as ^[ and their 7-bit form), so untrusted text
 * cannot send escape sequences to the terminal. */
void write_untrusted(FILE *fp, const char *s, size_t n, bool escape);

#endif
