/* cmd-serve.c - `heft-engine serve`: its command line; the protocol loop
 * is serve.c's. */
#include "commands.h"

#include "options.h"
#include "serve.h"
#include "session.h"
#include "template.h"
#include "util.h"

#include <stdio.h>

static const char serve_usage[] =
	"usage: heft-engine serve [MODEL] [-t N] [--ctx N] [--keep N] [-n N] [--chat-template NAME]\n"
	"                         [--stats-interval MS] [loading flags] [sampler flags]\n"
	"Reads heft-protocol(5) requests on stdin, writes events on stdout.\n"
	"  -t, --threads N        compute threads (default: one per core)\n"
	"  -n, --n-predict N      most tokens per reply (default -1: no limit)\n"
	"  -c, --ctx N            context length (default: the model's, at most 4096)\n"
	"  --keep N               when the context is full, keep the turns that begin in the first N\n"
	"                         tokens (-1, the default: the system prompt; 0: nothing)\n"
	"  --chat-template NAME   use this template instead of the model's\n"
	"  --stats-interval MS    stats events during a generation (default 250; 0: on request only)\n";

enum { O_KEEP = CMD_LONG, O_STATS_INTERVAL, O_TEMPLATE };

static const struct cmd_opt serve_opts[] = {
	{"help", 'h', no_argument, 'h'},
	{"n-predict", 'n', required_argument, 'n'},
	{"keep", 0, required_argument, O_KEEP},
	{"stats-interval", 0, required_argument, O_STATS_INTERVAL},
	{"chat-template", 0, required_argument, O_TEMPLATE},
	{NULL, 0, 0, 0},
};

/* One of serve's own options: 0 to go on, else the exit status (-1: --help). */
static int serve_opt(struct cmd_parser *p, int c, struct serve_opts *o)
{
	int64_t x;
	switch (c) {
	case 'h':
		fputs(serve_usage, stdout);
		fputs(cmd_loading_usage, stdout);
		cmd_sampler_usage(stdout);
		return -1;
	case 'n':
		if (!cmd_num(p, -1, INT32_MAX, &o->base.n_predict))
			return 2;
		o->base.present |= MSG_OPT_BIT(OPT_N_PREDICT);
		return 0;
	case O_KEEP:
		if (!cmd_num(p, -1, INT32_MAX, &x))
			return 2;
		o->n_keep = session_keep_flag((int)x);
		return 0;
	case O_STATS_INTERVAL:
		if (!cmd_num(p, 0, 3600 * 1000, &x))
			return 2;
		o->stats_every = (double)x / 1000;
		return 0;
	case O_TEMPLATE:
		if (template_by_name(p->arg) == TMPL_UNKNOWN) {
			warnx_("serve: unknown chat template '%s' (known: %s)", p->arg, template_names());
			return 2;
		}
		o->tmpl_override = p->arg;
		return 0;
	}
	return 2; /* CMD_BAD, reported */
}

int cmd_serve(int argc, char **argv)
{
	struct serve_opts o = {.sp = sampler_params_default(), .stats_every = 0.25};
	struct cmd_parser p = {.opts = serve_opts, .usage = serve_usage, .mo = &o.mo, .sp = &o.sp};
	int c, rc;
	bool bad;
	while ((c = cmd_next(&p, argc, argv)) != CMD_END)
		if ((rc = serve_opt(&p, c, &o)) != 0) {
			cmd_parser_done(&p);
			return rc < 0 ? 0 : rc;
		}
	const char *model = cmd_operand(&p, argc, argv, &bad);
	return bad ? 2 : serve_run(&o, model);
}
