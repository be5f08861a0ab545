/* chat-cmd.c - `heft-engine chat`: a line-based conversation on stdin and
 * stdout with the model's chat template.
 *
 * Each input line is a user turn; the reply is streamed to stdout, then a
 * speed line goes to stderr. A few lines are commands: /regen, /edit N
 * TEXT, /clear, /bye (and /help). SIGINT during a reply cancels it and the
 * chat goes on; a second SIGINT, or one while waiting for input, exits.
 * When the conversation outgrows the context the session drops its oldest
 * turns (--keep says what stays) and a line on stderr says so. */
#include "commands-eval.h"

#include "model.h"
#include "sampler.h"
#include "session.h"
#include "template.h"
#include "tokenizer.h"
#include "util.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char chat_usage[] =
	"usage: heft-engine chat MODEL [--system TEXT] [--chat-template NAME] [-n N] [--ctx N] [--keep N] [-t N]\n"
	"                        [--temp T] [--top-k K] [--top-p P] [--min-p P] [--repeat-penalty R]\n"
	"                        [--repeat-last-n N] [--presence-penalty P] [--frequency-penalty P]\n"
	"                        [--seed S] [--stop TEXT] [loading flags]\n";

static const char chat_help[] = "commands:\n"
				"  /regen         generate the last reply again\n"
				"  /edit N TEXT   replace your N-th message (1 = first) and continue from there\n"
				"  /clear         forget the conversation (the system prompt stays)\n"
				"  /bye           quit (so does end of input)\n";

void write_untrusted(FILE *fp, const char *s, size_t n, bool escape)
{
	if (!escape) {
		fwrite(s, 1, n, fp);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == 0xC2 && i + 1 < n && (unsigned char)s[i + 1] >= 0x80 && (unsigned char)s[i + 1] <= 0x9F) {
			/* C1 control: 0x9B is CSI on many terminals; show its 7-bit form */
			fprintf(fp, "^[%c", (unsigned char)s[++i] - 0x40);
		} else if ((c < 0x20 && c != '\n' && c != '\t') || c == 0x7F) {
			fputc('^', fp);
			fputc(c == 0x7F ? '?' : c + 0x40, fp);
		} else {
			fputc(c, fp);
		}
	}
}

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
	write_untrusted(stdout, p, n, c->tty);
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

int cmd_chat(int argc, char **argv)
{
	struct chat c = {.g = {.max_tokens = -1}};
	struct session_config cfg = {.sp = sampler_params_default()};
	const char *model = NULL, *tmpl = NULL, *stop = NULL;
	struct model_opts mo = {0};
	int keep = -1;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		int64_t x, lo = 0, hi = INT32_MAX;
		int *dst = NULL;
		int sf = parse_sampler_flag(argc, argv, &i, &cfg.sp);
		if (!sf)
			sf = parse_model_flag(argc, argv, &i, &mo);
		if (sf < 0)
			return 2;
		if (sf > 0)
			continue;
		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			fputs(chat_usage, stdout);
			fputs("loading flags:\n", stdout);
			fputs(model_flags_usage, stdout);
			fputs(chat_help, stdout);
			return 0;
		} else if (!strcmp(a, "--system") && v) {
			c.system = v;
		} else if (!strcmp(a, "--chat-template") && v) {
			tmpl = v;
		} else if (!strcmp(a, "--stop") && v) {
			stop = v;
		} else if (!strcmp(a, "-n") || !strcmp(a, "--n-predict")) {
			dst = &c.g.max_tokens, lo = -1;
		} else if (!strcmp(a, "-c") || !strcmp(a, "--ctx")) {
			dst = &cfg.n_ctx, lo = 1;
		} else if (!strcmp(a, "--keep")) {
			dst = &keep, lo = -1;
		} else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) {
			dst = &cfg.threads, lo = 1, hi = 1024;
		} else if (a[0] != '-' && !model) {
			model = a;
			continue;
		} else {
			warnx_("chat: unknown option or missing value '%s'", a);
			fputs(chat_usage, stderr);
			return 2;
		}
		if (dst && (!v || !parse_i64(v, lo, hi, &x))) {
			warnx_("chat: %s needs a number in %lld..%lld", a, (long long)lo, (long long)hi);
			return 2;
		}
		if (dst)
			*dst = (int)x;
		i++;
	}
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
	mo.n_ctx = cfg.n_ctx;
	mo.threads = cfg.threads;
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
