/* options.h - the one option parser of heft-engine's subcommands: getopt_long
 * over a command's own options plus the groups of options commands share,
 * each group defined once (options.c): the loading flags (--mem, --io, -c,
 * -t, ...) into a model_opts, the sampler flags (--temp, --top-k, ...) into
 * sampler_params.
 *
 *	struct cmd_parser p = {.opts = own, .usage = usage, .mo = &mo};
 *	while ((c = cmd_next(&p, argc, argv)) != CMD_END)
 *		switch (c) { case CMD_BAD: return 2; case 'x': ... }
 *	model = cmd_operand(&p, argc, argv, &bad);
 *
 * Every failure is reported (the command's name first) before CMD_BAD or
 * false comes back; the caller only exits with status 2. */
#ifndef HEFT_OPTIONS_H
#define HEFT_OPTIONS_H

#include "model.h"
#include "sampler.h"

#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

/* One of a command's own options: id comes back from cmd_next. Ids are
 * the short letter, or CMD_LONG and up for long-only options. */
struct cmd_opt {
	const char *name;  /* long name, without "--" */
	int short_name;    /* 0: none; a command's own short letter hides a shared one */
	int has_arg;       /* no_argument or required_argument */
	int id;
};

enum {
	CMD_END = -1,   /* no more options */
	CMD_BAD = -2,   /* a bad option or value, reported: exit status 2 */
	CMD_LONG = 256, /* first id of long-only options */
};

/* Which shared groups besides the loading flags (mo) and sampler flags (sp). */
enum { CMD_BATCH = 1 /* -b, --batch-size into mo->max_batch */ };

struct cmd_parser {
	/* set by the command */
	const struct cmd_opt *opts;  /* its own, ending with {NULL} */
	const char *usage;           /* printed to stderr after an unknown option */
	struct model_opts *mo;       /* accept the loading flags */
	struct sampler_params *sp;   /* accept the sampler flags */
	unsigned groups;             /* CMD_BATCH */
	/* set by cmd_next for each own option */
	const char *arg;             /* its value */
	char flag[64];               /* as messages name it: "--ctx", "-c" */
	int n_shared;                /* shared options seen so far */
	/* private */
	const char *cmd;             /* argv[0] */
	struct option *longopts;
	size_t n_longopts;
	char *shorts;
};

/* The next of the command's own options (its id), CMD_END or CMD_BAD.
 * Shared options are stored on the way. The first call starts getopt over;
 * none follows CMD_END or CMD_BAD. */
int cmd_next(struct cmd_parser *p, int argc, char **argv);
/* The value of the option just returned as a number in lo..hi. */
bool cmd_num(struct cmd_parser *p, int64_t lo, int64_t hi, int64_t *out);
bool cmd_int(struct cmd_parser *p, int lo, int hi, int *out);
/* After CMD_END: the one operand (MODEL), NULL when there is none; more
 * than one is reported (*bad set). Frees the parser's tables. */
const char *cmd_operand(struct cmd_parser *p, int argc, char **argv, bool *bad);

/* Free the parser's tables when leaving before cmd_operand (--help, a
 * bad value); harmless twice. */
void cmd_parser_done(struct cmd_parser *p);

/* The loading flags' lines for --help. */
extern const char cmd_loading_usage[];
/* The sampler flags and their ranges, for --help. */
void cmd_sampler_usage(FILE *f);

#endif
