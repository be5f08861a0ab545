/* cmd-chat.c - `heft-engine chat`: a line-based conversation on stdin and
 * stdout with the model's chat template.
 *
 * Each input line is a user turn; the reply is streamed to stdout, then a
 * speed line goes to stderr. A few lines are commands: /regen, /edit N
 * TEXT, /clear, /bye (and /help). SIGINT during a reply cancels it and the
 * chat goes on; a second SIGINT, or one while waiting for input, exits.
 * When the conversation outgrows the context the session drops its oldest
 * turns (--keep says what stays) and a line on stderr says so. */
#include "commands.h"

#include "job.h"
#include "options.h"
#include "model.h"
#include "sampler.h"
#include "session.h"
#include "template.h"
#include "sanitize.h"
#include "tokenizer.h"
#include "util.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char chat_usage[] =
	"usage: heft-engine chat MODEL [--system TEXT] [--chat-template NAME] [-n N] [--ctx N] [--keep N] [-t N]\n"
	"                        [sampler flags] [--stop TEXT] [loading flags]\n";

static const char chat_help[] = "commands:\n"
				"  /regen         generate the last reply again\n"
				"  /edit N TEXT   replace your N-th message (1 = first) and continue from there\n"
				"  /clear         forget the conversation (the system prompt stays)\n"
				"  /bye           quit (so does end of input)\n";

/* ---- SIGINT --------------------------------------------------------------------- */

static struct session *sig_session;
static volatile sig_atomic_t generating, interrupted;

static void on_sigint(int sig)
{
	(void)sig;
	if (generating && !interrupted) {
		interrupted = 1;
		session_cancel(sig_session);
		return;
	}
	(void)!write(STDERR_FILENO, "\n", 1);
	_exit(130);
}

/* ---- the conversation ----------------------------------------------------------- */

struct chat {
	struct session *s;
	const char *system;
	struct session_gen_opts g;
	bool tty;
};

static int print_reply_piece(const char *p, size_t n, void *ud)
{
	const struct chat *c = ud;
	sanitize_write(stdout, p, n, c->tty);
	fflush(stdout);
	return 0;
}

/* Generate the reply to the conversation as it stands. On a refused
 * prompt the last user turn is dropped again, so the chat can go on. */
static void reply(struct chat *c)
{
	size_t before = session_n_turns(c->s);
	interrupted = 0;
	generating = 1;
	enum session_reason r = session_generate(c->s, &c->g);
	generating = 0;
	fputc('\n', stdout);
	fflush(stdout);
	const struct session_stats *st = session_stats(c->s);
	if (r == SESSION_ERROR || (r == SESSION_CTX_FULL && st->n_generated == 0)) {
		warnx_("%s", session_error(c->s));
		if (session_n_turns(c->s) == before && before > 0 &&
		    !strcmp(session_turn(c->s, before - 1)->role, "user"))
			session_truncate(c->s, before - 1);
		return;
	}
	if (*session_notice(c->s))
		fprintf(stderr, "[%s]\n", session_notice(c->s));
	fprintf(stderr, "[%d tokens %.1f tok/s; prompt %d new + %d reused %.1f tok/s; %s; context %d/%d]\n",
		st->n_generated, st->t_gen > 0 ? st->n_generated / st->t_gen : 0.0, st->n_evaluated, st->n_reused,
		st->t_prompt > 0 ? st->n_evaluated / st->t_prompt : 0.0, session_reason_name(r),
		session_n_pos(c->s), session_n_ctx(c->s));
	if (r == SESSION_CTX_FULL)
		warnx_("%s; the next message makes room by dropping the oldest turns", session_error(c->s));
}

static void start(struct chat *c)
{
	session_clear(c->s);
	if (c->system)
		session_add_turn(c->s, "system", c->system);
}

/* Index of the n-th user turn (1-based), or -1. */
static long user_turn(const struct session *s, long n)
{
	for (size_t i = 0; i < session_n_turns(s); i++)
		if (!strcmp(session_turn(s, i)->role, "user") && --n == 0)
			return (long)i;
	return -1;
}

/* A line starting with '/': returns 1 to quit, 0 otherwise. */
static int command(struct chat *c, char *line)
{
	size_t n = session_n_turns(c->s);
	if (!strcmp(line, "/bye") || !strcmp(line, "/quit") || !strcmp(line, "/exit"))
		return 1;
	if (!strcmp(line, "/help")) {
		fputs(chat_help, stderr);
	} else if (!strcmp(line, "/clear")) {
		start(c);
		fprintf(stderr, "[conversation cleared]\n");
	} else if (!strcmp(line, "/regen")) {
		if (n > 0 && !strcmp(session_turn(c->s, n - 1)->role, "assistant"))
			session_truncate(c->s, --n);
		if (n == 0 || strcmp(session_turn(c->s, n - 1)->role, "user"))
			warnx_("/regen: no message to reply to");
		else
			reply(c);
	} else if (!strncmp(line, "/edit ", 6)) {
		char *end;
		long k = strtol(line + 6, &end, 10);
		long at = k > 0 && *end == ' ' ? user_turn(c->s, k) : -1;
		if (at < 0) {
			warnx_("/edit N TEXT: N must number one of your messages (1 = first)");
		} else {
			session_truncate(c->s, (size_t)at);
			session_add_turn(c->s, "user", end + 1);
			reply(c);
		}
	} else {
		warnx_("unknown command '%s' (/help lists them)", line);
	}
	return 0;
}

static int chat_loop(struct chat *c)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	bool prompt = c->tty && isatty(STDIN_FILENO);
	for (;;) {
		if (prompt) {
			fputs("> ", stdout);
			fflush(stdout);
		}
		if ((len = getline(&line, &cap, stdin)) < 0)
			break;
		while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
			line[--len] = 0;
		if (len == 0)
			continue;
		if (line[0] == '/') {
			if (command(c, line))
				break;
			continue;
		}
		session_add_turn(c->s, "user", line);
		reply(c);
	}
	free(line);
	return 0;
}

enum { O_SYSTEM = CMD_LONG, O_TEMPLATE, O_STOP, O_KEEP };

static const struct cmd_opt chat_opts[] = {
	{"help", 'h', no_argument, 'h'},
	{"system", 0, required_argument, O_SYSTEM},
	{"chat-template", 0, required_argument, O_TEMPLATE},
	{"stop", 0, required_argument, O_STOP},
	{"n-predict", 'n', required_argument, 'n'},
	{"keep", 0, required_argument, O_KEEP},
	{NULL, 0, 0, 0},
};

int cmd_chat(int argc, char **argv)
{
	struct chat c = {.g = {.max_tokens = -1}};
	struct session_config cfg = {.sp = sampler_params_default()};
	const char *model = NULL, *tmpl = NULL, *stop = NULL;
	struct model_opts mo = {0};
	int keep = -1, o;
	bool bad = false;
	struct cmd_parser p = {.opts = chat_opts, .usage = chat_usage, .mo = &mo, .sp = &cfg.sp};
	while (!bad && (o = cmd_next(&p, argc, argv)) != CMD_END) {
		switch (o) {
		case 'h':
			fputs(chat_usage, stdout);
			fputs("loading flags:\n", stdout);
			fputs(cmd_loading_usage, stdout);
			cmd_sampler_usage(stdout);
			fputs(chat_help, stdout);
			cmd_parser_done(&p);
			return 0;
		case O_SYSTEM: c.system = p.arg; break;
		case O_TEMPLATE: tmpl = p.arg; break;
		case O_STOP: stop = p.arg; break;
		case 'n': bad = !cmd_int(&p, -1, INT32_MAX, &c.g.max_tokens); break;
		case O_KEEP: bad = !cmd_int(&p, -1, INT32_MAX, &keep); break;
		default: return 2; /* CMD_BAD, reported */
		}
	}
	if (!bad)
		model = cmd_operand(&p, argc, argv, &bad);
	cmd_parser_done(&p);
	if (bad)
		return 2;
	if (!model) {
		fputs(chat_usage, stderr);
		return 2;
	}
	if (tmpl && template_by_name(tmpl) == TMPL_UNKNOWN) {
		warnx_("unknown chat template '%s' (known: %s)", tmpl, template_names());
		return 2;
	}
	char err[512];
	cfg.n_keep = session_keep_flag(keep);
	cfg.n_ctx = mo.n_ctx;
	cfg.threads = mo.threads;
	struct model *m = model_load_opts(model, &mo, err, sizeof err);
	if (!m) {
		warnx_("%s", err);
		return 2;
	}
	int rc = 2;
	struct tokenizer *t = tokenizer_load(m->g, err, sizeof err);
	if (!t) {
		warnx_("%s: %s", model, err);
		goto out;
	}
	if ((cfg.family = template_from_gguf(m->g, tmpl, &cfg.tmpl, err, sizeof err)) == TMPL_UNKNOWN) {
		warnx_("%s: %s", model, err);
		goto out;
	}
	if (!(c.s = session_new(m, t, &cfg, err, sizeof err))) {
		warnx_("%s", err);
		goto out;
	}
	const char *stops[2] = {stop, NULL};
	c.g.stops = stops;
	c.g.on_piece = print_reply_piece;
	c.g.ud = &c;
	c.tty = isatty(STDOUT_FILENO);
	sig_session = c.s;
	struct sigaction sa = {.sa_handler = on_sigint};
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	start(&c);
	rc = chat_loop(&c);
	signal(SIGINT, SIG_DFL);
	sig_session = NULL;
	session_free(c.s);
out:
	tokenizer_free(t);
	model_free(m);
	return rc;
}
