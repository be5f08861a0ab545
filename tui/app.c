/* app.c - the poll() loop, the layout, slash commands and the glue between
 * the engine's events and the panes. Nothing here waits: keys, engine
 * output and signals are all handled as poll() reports them. */
#include <errno.h>
#include <fcntl.h>
#include <langinfo.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "app.h"
#include "engine.h"
#include "input.h"
#include "pane-conv.h"
#include "pane.h"

#define REDRAW_MIN_S (1.0 / 30)	/* at most ~30 redraws a second */
#define TICK_MS 250
#define GARBAGE_MAX 200	/* unreadable lines in a row before giving up */

struct ui_caps ui;

/* Layout table: the conversation always stays; side panes collapse in
 * this order (last first) when the terminal is too small. */
enum { P_CONV, P_TOKENS, P_EXPERTS, P_IO, P_COUNT };
static const struct {
	int min_h;
	wint_t toggle_key;
} pane_spec[P_COUNT] = {
	[P_CONV] = { 3, 0 },
	[P_TOKENS] = { 4, KEY_F(2) },
	[P_EXPERTS] = { 4, KEY_F(3) },
	[P_IO] = { 4, KEY_F(4) },
};

struct app {
	const struct app_config *cfg;
	struct engine eng;
	struct pane *panes[P_COUNT];
	struct input *in;
	int64_t next_id, active_id;	/* active_id -1: nothing generating */
	double gen_start;
	char status[256];	/* transient message */
	double status_time;
	char model_info[128];
	char last_speed[128];
	char load_progress[64];
	struct msg_options opts;	/* /set values, resent after a restart */
	bool dirty, relayout, quit;
	double last_draw;
	int sigpipe[2];
};

static volatile sig_atomic_t got_winch, got_chld, got_int, got_term;
static int sig_wfd = -1;

static void on_signal(int sig)
{
	int saved = errno;
	if (sig == SIGWINCH)
		got_winch = 1;
	else if (sig == SIGCHLD)
		got_chld = 1;
	else if (sig == SIGINT)
		got_int = 1;
	else
		got_term = 1;
	if (sig_wfd >= 0)
		(void)!write(sig_wfd, "", 1);
	errno = saved;
}

static void set_status(struct app *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_status(struct app *a, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(a->status, sizeof a->status, fmt, ap);
	va_end(ap);
	a->status_time = now_sec();
	a->dirty = true;
}

static void note(struct app *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note(struct app *a, const char *fmt, ...)
{
	char *s;
	va_list ap;
	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		s = NULL;
	va_end(ap);
	if (!s)
		return;
	/* A note lands before the reply being streamed, not inside it. */
	conv_add(a->panes[P_CONV], ROLE_NOTE, s);
	free(s);
	a->dirty = true;
}

/* ---- engine ---------------------------------------------------------- */

static void send_hello_and_load(struct app *a)
{
	struct msg m = { .type = MSG_HELLO };
	m.hello.protocol = PROTO_VERSION;
	m.hello.program = "heft";
	m.hello.version = PACKAGE_VERSION;
	engine_send(&a->eng, &m);
	if (a->cfg->model) {
		struct msg l = { .type = MSG_LOAD };
		l.load.model = (char *)a->cfg->model;
		l.load.mem = a->cfg->mem;
		engine_send(&a->eng, &l);
		snprintf(a->load_progress, sizeof a->load_progress, "loading");
	}
	if (a->opts.present) {
		struct msg s = { .type = MSG_SET };
		s.set.options = a->opts;
		engine_send(&a->eng, &s);
	}
}

static void start_engine(struct app *a)
{
	char err[256];

	if (!engine_start(&a->eng, err, sizeof err)) {
		note(a, "cannot start the engine: %s", err);
		return;
	}
	send_hello_and_load(a);
	set_status(a, "engine started: %s", a->eng.cmd);
}

static void generation_over(struct app *a, const char *tag)
{
	if (a->active_id < 0)
		return;
	if (tag)
		conv_mark_last(a->panes[P_CONV], tag);
	a->active_id = -1;
	a->dirty = true;
}

static void engine_died(struct app *a)
{
	char why[160];

	engine_exit_reason(&a->eng, why, sizeof why);
	generation_over(a, "interrupted: engine exited");
	if (a->eng.last_err[0])
		note(a, "engine %s; its last message: %s. The conversation is kept: "
		     "/restart starts the engine again.", why, a->eng.last_err);
	else
		note(a, "engine %s. The conversation is kept: /restart starts the engine again.", why);
	set_status(a, "engine %s", why);
	a->model_info[0] = '\0';
}

static void dispatch(struct app *a, const struct msg *m)
{
	for (int i = 0; i < P_COUNT; i++)
		a->panes[i]->ops->event(a->panes[i], m);
}

static void on_event(void *ctx, const struct msg *m)
{
	struct app *a = ctx;
	struct msg_err err;

	switch (m->type) {
	case MSG_HELLO:
		if (!msg_hello_check(&m->hello, &err)) {
			note(a, "engine refused: %s", err.text);
			engine_stop(&a->eng);
		}
		break;
	case MSG_PROGRESS:
		if (m->progress.total > 0)
			snprintf(a->load_progress, sizeof a->load_progress, "%s %lld/%lld",
				 m->progress.what, (long long)m->progress.done, (long long)m->progress.total);
		else
			snprintf(a->load_progress, sizeof a->load_progress, "%s %lld",
				 m->progress.what, (long long)m->progress.done);
		a->dirty = true;
		break;
	case MSG_LOADED:
		a->load_progress[0] = '\0';
		snprintf(a->model_info, sizeof a->model_info, "%.60s ctx %lld",
			 m->loaded.arch, (long long)m->loaded.n_ctx);
		dispatch(a, m);
		a->dirty = true;
		break;
	case MSG_TOKEN:
		if (m->token.id != a->active_id)
			break;	/* late tokens of a request we gave up on */
		conv_append(a->panes[P_CONV], m->token.text, strlen(m->token.text));
		dispatch(a, m);
		a->dirty = true;
		break;
	case MSG_STATS:
		dispatch(a, m);
		a->dirty = true;
		break;
	case MSG_DONE:
		if (m->done.id != a->active_id)
			break;
		snprintf(a->last_speed, sizeof a->last_speed, "%lld tok, %.1f tok/s (%s)",
			 (long long)m->done.n_gen, m->done.gen_tok_s, msg_reason_name(m->done.reason));
		generation_over(a, m->done.reason == DONE_CANCEL ? "stopped" : NULL);
		dispatch(a, m);
		break;
	case MSG_ERROR:
		if (a->eng.last_was_garbage) {
			/* A few are worth showing; a flood is a broken engine. */
			if (a->eng.garbage <= 3)
				note(a, "engine sent an unreadable line (%s): %s",
				     msg_errcode_name(m->error.code), m->error.message);
			if (a->eng.garbage == GARBAGE_MAX) {
				note(a, "the engine keeps sending lines that are not heft-protocol(5); "
				     "stopping it (/restart tries again)");
				engine_stop(&a->eng);
				kill(a->eng.pid, SIGTERM);
			}
			break;
		}
		note(a, "engine error (%s): %s", msg_errcode_name(m->error.code), m->error.message);
		/* A refused request gets no done. */
		if (m->error.has_id && m->error.id == a->active_id)
			generation_over(a, "failed");
		if (m->error.code == MSG_E_LOAD)
			a->load_progress[0] = '\0';
		break;
	default:
		break;
	}
}

/* ---- commands --------------------------------------------------------- */

static const char help_text[] =
	"Type a message and press Enter to send it to the model.\n"
	"Keys: Ctrl-C stop the reply (or clear the line)   PgUp/PgDn scroll\n"
	"      F1 help   F2 tokens   F3 experts   F4 I/O   F10 or /quit quit\n"
	"      Ctrl-L redraw   line editing: libedit (emacs keys, ~/.editrc)\n"
	"Commands: /help  /quit  /clear  /set NAME VALUE (temp, top_k, top_p, min_p,\n"
	"      repeat_penalty, repeat_last_n, seed, n_predict, stop)  /stats\n"
	"      /restart (start the engine again)  /system TEXT";

static void cmd_set(struct app *a, char *args)
{
	char *name = strtok(args, " \t"), *value = strtok(NULL, "");
	char err[200];

	if (!name || !value) {
		note(a, "usage: /set NAME VALUE, e.g. /set temp 0.7");
		return;
	}
	while (*value == ' ' || *value == '\t')
		value++;
	struct msg_options one = { 0 };
	if (!msg_options_set(&one, name, value, err, sizeof err)) {
		note(a, "/set: %s", err);
		msg_options_free(&one);
		return;
	}
	/* Remember it for restarts, and send just this option now. */
	msg_options_set(&a->opts, name, value, err, sizeof err);
	struct msg m = { .type = MSG_SET };
	m.set.options = one;
	engine_send(&a->eng, &m);
	msg_options_free(&one);
	set_status(a, "set %s %s", name, value);
}

static bool command(struct app *a, char *line)
{
	char *cmd = line + 1, *args = cmd + strcspn(cmd, " \t");

	if (*args)
		*args++ = '\0';
	if (!strcmp(cmd, "help") || !strcmp(cmd, "?")) {
		note(a, "%s", help_text);
	} else if (!strcmp(cmd, "quit") || !strcmp(cmd, "exit") || !strcmp(cmd, "bye")) {
		a->quit = true;
	} else if (!strcmp(cmd, "clear")) {
		conv_clear(a->panes[P_CONV]);
		a->active_id = -1;
		set_status(a, "conversation cleared");
	} else if (!strcmp(cmd, "set")) {
		cmd_set(a, args);
	} else if (!strcmp(cmd, "stats")) {
		struct msg m = { .type = MSG_STATS_REQUEST };
		engine_send(&a->eng, &m);
	} else if (!strcmp(cmd, "restart")) {
		if (engine_running(&a->eng))
			engine_kill(&a->eng);
		start_engine(a);
	} else if (!strcmp(cmd, "system")) {
		conv_add(a->panes[P_CONV], ROLE_SYSTEM, args);
	} else {
		note(a, "unknown command /%s (try /help)", cmd);
		return false;
	}
	a->dirty = true;
	return true;
}

static void send_chat(struct app *a, const char *text)
{
	struct pane *c = a->panes[P_CONV];

	conv_add(c, ROLE_USER, text);
	/* The whole conversation goes with every request: the engine reuses
	 * the KV cache of the prefix it has, and a restarted engine gets the
	 * history replayed for free. */
	size_t n = conv_count(c), k = 0;
	struct msg_turn *turns = xcalloc(n, sizeof *turns);
	for (size_t i = 0; i < n; i++) {
		enum role r = conv_role(c, i);
		if (r == ROLE_NOTE)
			continue;
		turns[k].role = (char *)role_name(r);
		turns[k].content = (char *)conv_text(c, i);
		k++;
	}
	struct msg m = { .type = MSG_CHAT };
	m.chat.id = ++a->next_id;
	m.chat.messages = turns;
	m.chat.n_messages = k;
	engine_send(&a->eng, &m);
	free(turns);
	conv_add(c, ROLE_ASSISTANT, "");
	a->active_id = m.chat.id;
	a->gen_start = now_sec();
	a->dirty = true;
}

static void submit(struct app *a, char *line)
{
	if (line[0] == '/' && line[1] && line[1] != '/') {
		command(a, line);
		return;
	}
	if (!*line)
		return;
	const char *text = line[0] == '/' ? line + 1 : line;	/* "//x" sends "/x" */
	if (a->active_id >= 0) {
		set_status(a, "a reply is still streaming: Ctrl-C stops it");
		input_set(a->in, line);		/* nothing typed is lost */
		return;
	}
	if (!engine_running(&a->eng)) {
		set_status(a, "the engine is not running: /restart starts it");
		input_set(a->in, line);
		return;
	}
	send_chat(a, text);
}

static void cancel(struct app *a)
{
	if (a->active_id >= 0 && engine_running(&a->eng)) {
		struct msg m = { .type = MSG_CANCEL };
		m.cancel.has_id = true;
		m.cancel.id = a->active_id;
		engine_send(&a->eng, &m);
		set_status(a, "stopping the reply");
	} else if (!input_empty(a->in)) {
		input_clear(a->in);
		a->dirty = true;
	} else {
		set_status(a, "nothing to stop; /quit or F10 quits");
	}
}

/* ---- screen ------------------------------------------------------------ */

static void layout(struct app *a)
{
	int H = LINES, W = COLS;
	int area = H - 2;	/* status line and input line below */

	for (int i = 0; i < P_COUNT; i++) {
		if (a->panes[i]->win)
			delwin(a->panes[i]->win);
		a->panes[i]->win = NULL;
	}
	if (area < 1)
		return;
	/* Side column only when the conversation keeps 40 columns. */
	int side_w = W >= 72 ? W * 2 / 5 : 0;
	int nside = 0;
	int side[P_COUNT];
	for (int i = P_TOKENS; i < P_COUNT && side_w; i++)
		if (a->panes[i]->shown)
			side[nside++] = i;
	while (nside && area / nside < pane_spec[side[nside - 1]].min_h)
		nside--;	/* collapse from the end of the table */
	if (!nside)
		side_w = 0;
	struct pane *c = a->panes[P_CONV];
	c->h = area;
	c->w = side_w ? W - side_w - 1 : W;
	c->win = newwin(c->h, c->w, 0, 0);
	int y = 0;
	for (int k = 0; k < nside; k++) {
		struct pane *p = a->panes[side[k]];
		p->h = k == nside - 1 ? area - y : area / nside;
		p->w = side_w;
		p->win = newwin(p->h, p->w, y, W - side_w);
		y += p->h;
	}
	for (int i = 0; i < P_COUNT; i++)
		if (a->panes[i]->win)
			a->panes[i]->ops->layout(a->panes[i]);
	a->relayout = false;
	a->dirty = true;
	clearok(curscr, TRUE);
}

static void draw(struct app *a)
{
	int H = LINES, W = COLS;

	if (H >= 3 && a->panes[P_CONV]->win && COLS > a->panes[P_CONV]->w) {
		/* the divider between the conversation and the side column */
		mvwvline(stdscr, 0, a->panes[P_CONV]->w, ui.utf8 ? ACS_VLINE : '|', H - 2);
	}
	wnoutrefresh(stdscr);
	for (int i = 0; i < P_COUNT; i++) {
		struct pane *p = a->panes[i];
		if (!p->win)
			continue;
		p->ops->draw(p);
		wnoutrefresh(p->win);
		p->dirty = false;
	}
	/* Status line: state, model, speed or message, key hints. */
	char left[640], right[96];
	const char *state = !engine_running(&a->eng) ? "engine stopped"
			    : a->active_id >= 0 ? "generating" : a->load_progress[0] ? a->load_progress : "ready";
	const char *msg = a->status[0] && now_sec() - a->status_time < 5 ? a->status : a->last_speed;
	snprintf(left, sizeof left, " %s%s%s | %s", state, a->model_info[0] ? " | " : "",
		 a->model_info, msg);
	snprintf(right, sizeof right, W >= 60 ? "F1 help  ^C stop  F10 quit " : "F1 help ");
	wattr_on(stdscr, A_REVERSE, NULL);
	mvwhline(stdscr, H - 2, 0, ' ', W);
	mvwaddnstr(stdscr, H - 2, 0, left, W);
	int rl = (int)strlen(right);
	if ((int)strlen(left) + rl + 1 < W)
		mvwaddstr(stdscr, H - 2, W - rl, right);
	wattr_off(stdscr, A_REVERSE, NULL);
	input_draw(a->in, stdscr, H - 1, "> ");
	wnoutrefresh(stdscr);
	doupdate();
	a->dirty = false;
	a->last_draw = now_sec();
}

static void on_resize(struct app *a)
{
	struct winsize ws;

	/* resizeterm() queues a KEY_RESIZE, which lands here again: only call
	 * it when the size really differs, or the two feed each other. */
	if (ioctl(1, TIOCGWINSZ, &ws) == 0 && ws.ws_row && ws.ws_col &&
	    (ws.ws_row != LINES || ws.ws_col != COLS))
		resizeterm(ws.ws_row, ws.ws_col);
	erase();
	layout(a);
}

static void handle_key(struct app *a, int type, wint_t ch)
{
	if (type == KEY_CODE_YES) {
		if (ch == KEY_RESIZE) {
			on_resize(a);
			return;
		}
		if (ch == KEY_F(1)) {
			note(a, "%s", help_text);
			return;
		}
		if (ch == KEY_F(10)) {
			a->quit = true;
			return;
		}
		for (int i = 1; i < P_COUNT; i++) {
			if (ch == pane_spec[i].toggle_key) {
				a->panes[i]->shown = !a->panes[i]->shown;
				layout(a);
				return;
			}
		}
		for (int i = 0; i < P_COUNT; i++)
			if (a->panes[i]->win && a->panes[i]->ops->key(a->panes[i], type, ch)) {
				a->dirty = true;
				return;
			}
	} else if (ch == 3) {	/* ^C */
		cancel(a);
		return;
	} else if (ch == 12) {	/* ^L */
		clearok(curscr, TRUE);
		a->dirty = true;
		return;
	}
	char *line = NULL;
	enum input_result r = input_key(a->in, type, ch, &line);
	if (r == INPUT_LINE) {
		submit(a, line);
		free(line);
	} else if (r == INPUT_EOF) {
		set_status(a, "^D: /quit or F10 quits");
	}
	a->dirty = true;
}

static void read_keys(struct app *a)
{
	wint_t ch;
	int type;

	/* Bounded so a huge paste cannot starve the engine pipe. */
	for (int i = 0; i < 4096 && (type = wget_wch(stdscr, &ch)) != ERR; i++)
		handle_key(a, type, ch);
}

/* ---- setup and loop ------------------------------------------------------ */

static void init_screen(void)
{
	initscr();
	raw();		/* ^C arrives as a key: it stops a reply, not heft */
	noecho();
	nonl();
	keypad(stdscr, TRUE);
	nodelay(stdscr, TRUE);
	set_escdelay(25);
	const char *nc = getenv("NO_COLOR");
	ui.color = has_colors() && !(nc && *nc);
	ui.utf8 = strcmp(nl_langinfo(CODESET), "UTF-8") == 0;
	if (ui.color) {
		start_color();
		use_default_colors();
		init_pair(PAIR_TITLE, COLOR_WHITE, COLOR_BLUE);
		init_pair(PAIR_USER, COLOR_CYAN, -1);
		init_pair(PAIR_MODEL, COLOR_GREEN, -1);
		init_pair(PAIR_NOTE, COLOR_YELLOW, -1);
		init_pair(PAIR_CODE, COLOR_MAGENTA, -1);
		init_pair(PAIR_WARN, COLOR_RED, -1);
		init_pair(PAIR_BAR, COLOR_GREEN, -1);
	}
	def_prog_mode();
}

static char *history_path(void)
{
	const char *st = getenv("XDG_STATE_HOME"), *home = getenv("HOME");
	char *dir;

	if (st && *st)
		xasprintf(&dir, "%s/heft", st);
	else if (home && *home)
		xasprintf(&dir, "%s/.local/state/heft", home);
	else
		return NULL;
	/* mkdir -p for the last two levels; failure just means no history */
	char *slash = strrchr(dir, '/');
	*slash = '\0';
	mkdir(dir, 0700);
	*slash = '/';
	mkdir(dir, 0700);
	char *path;
	xasprintf(&path, "%s/history", dir);
	free(dir);
	return path;
}

int app_run(const struct app_config *cfg)
{
	struct app a = { .cfg = cfg, .active_id = -1 };
	char err[256];

	if (pipe(a.sigpipe) < 0)
		die_errno("pipe");
	for (int i = 0; i < 2; i++) {
		fcntl(a.sigpipe[i], F_SETFL, fcntl(a.sigpipe[i], F_GETFL) | O_NONBLOCK);
		fcntl(a.sigpipe[i], F_SETFD, FD_CLOEXEC);
	}
	sig_wfd = a.sigpipe[1];
	struct sigaction sa = { .sa_handler = on_signal };
	sigemptyset(&sa.sa_mask);
	sigaction(SIGWINCH, &sa, NULL);	/* before initscr: we own resizing */
	sigaction(SIGCHLD, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);	/* leave the terminal and the engine tidy */
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	init_screen();
	char *hist = history_path();
	a.in = input_new(hist, err, sizeof err);
	free(hist);
	if (!a.in) {
		endwin();
		fprintf(stderr, "heft: %s\n", err);
		return 1;
	}
	a.panes[P_CONV] = pane_conv_new();
	a.panes[P_TOKENS] = pane_tokens_new();
	a.panes[P_EXPERTS] = pane_experts_new();
	a.panes[P_IO] = pane_io_new();
	layout(&a);

	engine_init(&a.eng, cfg->engine_cmd);
	if (!cfg->model)
		note(&a, "No model given (heft MODEL): the engine's default is used, if it has one. "
		     "F1 or /help for keys.");
	start_engine(&a);

	while (!a.quit) {
		struct pollfd p[8];
		int n = 0;
		p[n++] = (struct pollfd){ .fd = 0, .events = POLLIN };
		p[n++] = (struct pollfd){ .fd = a.sigpipe[0], .events = POLLIN };
		int ne = engine_pollfds(&a.eng, p + n);
		int timeout = TICK_MS;
		if (a.dirty) {
			double wait = a.last_draw + REDRAW_MIN_S - now_sec();
			timeout = wait > 0 ? (int)(wait * 1000) + 1 : 0;
		}
		int r = poll(p, (nfds_t)(n + ne), timeout);
		if (r < 0 && errno != EINTR) {
			endwin();
			die_errno("poll");
		}
		if (r > 0 && p[1].revents) {
			char drain[64];
			while (read(a.sigpipe[0], drain, sizeof drain) > 0)
				;
		}
		if (got_winch) {
			got_winch = 0;
			on_resize(&a);
		}
		if (got_term)
			break;
		if (got_int) {	/* a ^C that came as a signal (e.g. ISIG left on) */
			got_int = 0;
			cancel(&a);
		}
		if (r > 0)
			engine_io(&a.eng, p + n, ne, on_event, &a);
		if (got_chld || (a.eng.from_fd < 0 && engine_running(&a.eng))) {
			got_chld = 0;
			if (engine_reap(&a.eng))
				engine_died(&a);
		}
		read_keys(&a);
		if (a.status[0] && now_sec() - a.status_time >= 5 && now_sec() - a.status_time < 5.5)
			a.dirty = true;
		if (a.dirty && now_sec() - a.last_draw >= REDRAW_MIN_S)
			draw(&a);
	}

	engine_kill(&a.eng);
	engine_free(&a.eng);
	input_free(a.in);
	for (int i = 0; i < P_COUNT; i++) {
		if (a.panes[i]->win)
			delwin(a.panes[i]->win);
		a.panes[i]->ops->free(a.panes[i]);
	}
	msg_options_free(&a.opts);
	endwin();
	close(a.sigpipe[0]);
	close(a.sigpipe[1]);
	sig_wfd = -1;
	return 0;
}
