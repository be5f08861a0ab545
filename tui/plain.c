/* plain.c - the line-oriented mode (see plain.h).
 *
 * The same chat object as the full screen, with hooks that print instead of
 * draw. Waiting is still a poll() over the engine's pipes and a self-pipe
 * for signals, so Ctrl-C cancels the reply being streamed (a second one
 * while cancelling quits) and an engine that dies is reported at once. */
#include <errno.h>
#include <fcntl.h>
#include <histedit.h>
#include <langinfo.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "commands.h"
#include "conv.h"
#include "plain.h"
#include "sanitize.h"
#include "sessfile.h"
#include "think.h"

struct plain {
	struct chat chat;
	bool one_shot;		/* -p */
	bool human;		/* stdin is a terminal: chatty on stderr */
	bool at_bol;		/* stdout is at the start of a line */
	size_t printed;		/* of the reply being streamed, bytes printed or skipped */
	const char *tag;	/* how the last reply ended */
	bool utf8;
	bool more;		/* inside a """ message: the prompt is "... " */
	EditLine *el;
	History *hist;
	char *histfile;
	int sigpipe[2];
};

static volatile sig_atomic_t got_int, got_chld, got_term;
static int sig_wfd = -1;

static void on_signal(int sig)
{
	int saved = errno;
	if (sig == SIGINT)
		got_int++;
	else if (sig == SIGCHLD)
		got_chld = 1;
	else
		got_term = 1;
	if (sig_wfd >= 0)
		(void)!write(sig_wfd, "", 1);
	errno = saved;
}

static void end_line(struct plain *pl)
{
	if (!pl->at_bol) {
		fputc('\n', stdout);
		fflush(stdout);
		pl->at_bol = true;
	}
}

/* Notes and statuses quote the engine's messages, which quote files:
 * untrusted text, sanitized like a token. */
static void say(const char *prefix, const char *text)
{
	struct buf b = { 0 };
	sanitize_msg(&b, text, strlen(text));
	fprintf(stderr, "%s%s\n", prefix, b.p);
	buf_free(&b);
}

static void hook_note(void *ctx, const char *text)
{
	struct plain *pl = ctx;
	end_line(pl);
	say("", text);
}

static void hook_status(void *ctx, const char *text)
{
	struct plain *pl = ctx;
	/* A person at the prompt wants to hear "set temp 0.7"; a script
	 * reading our standard error does not. */
	if (pl->human) {
		end_line(pl);
		say("heft: ", text);
	}
}

static void hook_event(void *ctx, const struct msg *m)
{
	struct plain *pl = ctx;

	struct chat *c = &pl->chat;

	if (m->type != MSG_TOKEN || c->reply < 0)
		return;
	/* The answer only: a reasoning model's thinking (think.h) is not
	 * printed, whether it came from a local model or a server. */
	const char *text = conv_text(c->conv, (size_t)c->reply);
	size_t n = conv_len(c->conv, (size_t)c->reply);
	struct think t;
	think_split(text, n, &t);
	size_t from = t.ab > pl->printed ? t.ab : pl->printed;
	pl->printed = n;
	if (from >= n)
		return;
	struct buf b = { 0 };
	sanitize_append(&b, text + from, n - from, SAN_TEXT, pl->utf8);
	if (b.len) {
		fwrite(b.p, 1, b.len, stdout);
		fflush(stdout);
		pl->at_bol = b.p[b.len - 1] == '\n';
	}
	buf_free(&b);
}

static void hook_over(void *ctx, const char *tag)
{
	struct plain *pl = ctx;
	end_line(pl);
	pl->printed = 0;
	pl->tag = tag;
	if (tag)
		fprintf(stderr, "[%s]\n", tag);
	else if (pl->human && pl->chat.last_speed[0])
		fprintf(stderr, "(%s)\n", pl->chat.last_speed);
}

static const struct chat_hooks hooks = { hook_note, hook_status, hook_event, hook_over };

/* Let poll() run until the reply is over (or, with until_idle false, just
 * take what the engine has sent so far). */
static void pump(struct plain *pl, bool until_idle)
{
	struct chat *c = &pl->chat;
	int cancels = 0;

	do {
		struct pollfd p[1 + ENGINE_POLLFDS_MAX];
		p[0] = (struct pollfd){ .fd = pl->sigpipe[0], .events = POLLIN };
		int n = chat_pollfds(c, p + 1);
		int wait = until_idle ? 1000 : 0, ew = chat_timeout_ms(c);
		if (ew >= 0 && ew < wait)
			wait = ew;
		int r = poll(p, (nfds_t)(n + 1), wait);
		if (r < 0 && errno != EINTR)
			die_errno("poll");
		if (r > 0 && p[0].revents) {
			char drain[64];
			while (read(pl->sigpipe[0], drain, sizeof drain) > 0)
				;
		}
		chat_io(c, p + 1, r > 0 ? n : 0);
		if (got_chld) {
			got_chld = 0;
			chat_reap(c);
		}
		if (got_term)
			return;
		if (got_int) {
			got_int = 0;
			if (!chat_busy(c) || ++cancels > 1) {
				got_term = 1;	/* a second ^C while stopping: leave */
				return;
			}
			chat_cancel(c);
		}
		if (!until_idle && r <= 0 && chat_timeout_ms(c) != 0)
			return;
	} while (!until_idle || chat_busy(c));
}

static void signals(struct plain *pl)
{
	if (pipe(pl->sigpipe) < 0)
		die_errno("pipe");
	for (int i = 0; i < 2; i++) {
		fcntl(pl->sigpipe[i], F_SETFL, fcntl(pl->sigpipe[i], F_GETFL) | O_NONBLOCK);
		fcntl(pl->sigpipe[i], F_SETFD, FD_CLOEXEC);
	}
	sig_wfd = pl->sigpipe[1];
	struct sigaction sa = { .sa_handler = on_signal };
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);	/* no SA_RESTART: ^C ends a read too */
	sigaction(SIGCHLD, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

static const char *prompt_fn(EditLine *el)
{
	struct plain *pl;
	el_get(el, EL_CLIENTDATA, &pl);
	return pl->more ? "... " : "> ";
}

static void editor_new(struct plain *pl)
{
	HistEvent ev;

	pl->el = el_init("heft", stdin, stderr, stderr);
	if (!pl->el)
		return;
	pl->hist = history_init();
	history(pl->hist, &ev, H_SETSIZE, 1000);
	history(pl->hist, &ev, H_SETUNIQUE, 1);
	pl->histfile = history_path();
	if (pl->histfile)
		history(pl->hist, &ev, H_LOAD, pl->histfile);
	el_set(pl->el, EL_CLIENTDATA, pl);
	el_set(pl->el, EL_EDITOR, "emacs");
	el_set(pl->el, EL_SIGNAL, 1);
	el_set(pl->el, EL_PROMPT, prompt_fn);
	el_set(pl->el, EL_HIST, history, pl->hist);
	el_source(pl->el, NULL);
}

static void editor_free(struct plain *pl)
{
	if (!pl->el)
		return;
	el_end(pl->el);
	history_end(pl->hist);
	free(pl->histfile);
}

/* One line without its newline (caller frees); NULL at the end of input. */
static char *read_line(struct plain *pl, bool more)
{
	if (pl->el) {
		for (;;) {
			int n;
			pl->more = more;
			errno = 0;
			const char *s = el_gets(pl->el, &n);
			if (!s && (errno == EINTR || got_int) && !got_term) {
				got_int = 0;	/* ^C at the prompt: a fresh line */
				fputc('\n', stderr);
				continue;
			}
			if (!s || got_term)
				return NULL;
			char *line = xstrndup(s, (size_t)n);
			line[strcspn(line, "\n")] = '\0';
			if (*line) {
				HistEvent ev;
				history(pl->hist, &ev, H_ENTER, line);
				if (pl->histfile)
					history(pl->hist, &ev, H_SAVE, pl->histfile);
			}
			return line;
		}
	}
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	do {
		errno = 0;
		n = getline(&line, &cap, stdin);
	} while (n < 0 && errno == EINTR && !got_term);
	if (n < 0) {
		free(line);
		return NULL;
	}
	if (n && line[n - 1] == '\n')
		line[--n] = '\0';
	return line;
}

/* ollama's """ ... """: a message over several lines. */
static char *read_message(struct plain *pl)
{
	char *line = read_line(pl, false);
	if (!line || strncmp(line, "\"\"\"", 3) != 0)
		return line;
	struct buf b = { 0 };
	size_t n = strlen(line);
	if (n >= 6 && !strcmp(line + n - 3, "\"\"\"")) {	/* """one line""" */
		buf_append(&b, line + 3, n - 6);
		free(line);
		return b.p ? b.p : xstrdup("");
	}
	buf_puts(&b, line + 3);
	free(line);
	while ((line = read_line(pl, true))) {
		n = strlen(line);
		bool last = n >= 3 && !strcmp(line + n - 3, "\"\"\"");
		if (b.len || n)
			buf_putc(&b, '\n');
		buf_append(&b, line, last ? n - 3 : n);
		free(line);
		if (last)
			break;
	}
	if (b.len && b.p[0] == '\n')
		memmove(b.p, b.p + 1, b.len--);
	return b.p ? b.p : xstrdup("");
}

static int one_shot(struct plain *pl)
{
	struct chat *c = &pl->chat;

	if (!chat_send(c, pl->chat.cfg->prompt))
		return 1;
	pump(pl, true);
	if (c->errors || (pl->tag && strcmp(pl->tag, "stopped") != 0))
		return 1;
	return pl->tag || got_term ? 130 : 0;	/* stopped by ^C */
}

static void interactive(struct plain *pl)
{
	struct chat *c = &pl->chat;

	if (pl->human)
		fprintf(stderr, "heft %s (plain mode): type a message, /help for commands, Ctrl-D quits\n",
			PACKAGE_VERSION);
	for (;;) {
		pump(pl, false);	/* what the engine said while we waited */
		char *line = read_message(pl);
		if (!line || got_term) {
			free(line);
			break;
		}
		if (line[0] == '/' && line[1] && line[1] != '/') {
			char *uc = NULL, *ua = NULL;
			enum cmd_result r = command_run(c, line, false, &uc, &ua);
			free(uc);
			free(ua);
			free(line);
			if (r == CMD_QUIT)
				break;
			pump(pl, false);
			continue;
		}
		if (*line && chat_send(c, line[0] == '/' ? line + 1 : line))
			pump(pl, true);
		free(line);
		if (got_term)
			break;
	}
}

int plain_run(const struct chat_config *cfg)
{
	struct plain pl = { .at_bol = true };
	char err[256];
	int rc = 0;

	pl.one_shot = cfg->prompt != NULL;
	pl.human = !pl.one_shot && isatty(0);
	pl.utf8 = strcmp(nl_langinfo(CODESET), "UTF-8") == 0;
	signals(&pl);
	if (!chat_init(&pl.chat, cfg, &hooks, &pl, err, sizeof err)) {
		say("heft: ", err);
		return 2;
	}
	if (pl.chat.demo)
		fprintf(stderr, "heft: no model given: using the demo model %s (random weights: its "
			"answers are noise)\n", pl.chat.model);
	else if (!pl.chat.model && cfg->demo_error && *cfg->demo_error)
		fprintf(stderr, "heft: no model given and no demo model: %s\n", cfg->demo_error);
	chat_start(&pl.chat);
	if (pl.one_shot) {
		rc = one_shot(&pl);
	} else {
		if (pl.human)
			editor_new(&pl);
		interactive(&pl);
		editor_free(&pl);
		rc = pl.chat.errors ? 1 : 0;
	}
	chat_finish(&pl.chat);
	chat_free(&pl.chat);
	sig_wfd = -1;
	close(pl.sigpipe[0]);
	close(pl.sigpipe[1]);
	return rc;
}
