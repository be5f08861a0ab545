/* app.c - the poll() loop, the layout, keys and modes of the full screen.
 * Nothing here waits: keys, engine output and signals are all handled as
 * poll() reports them, keys first, so typing stays quick while a reply
 * streams. The conversation and the engine live in chat.c. */
#include <errno.h>
#include <fcntl.h>
#include <langinfo.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "app.h"
#include "demo.h"
#include "commands.h"
#include "input.h"
#include "conv.h"
#include "pane-conv.h"
#include "pane.h"
#include "paste.h"
#include "search.h"
#include "sessfile.h"

#define REDRAW_MIN_S (1.0 / 30)	/* engine-driven redraws: at most ~30 a second */
#define TICK_MS 250
#define STATUS_S 5.0		/* a status message shows this long */

struct ui_caps ui;

/* Layout table: the conversation always stays; side panes collapse in this
 * order (last first) when the terminal is too small. Panes fed by stats
 * redraw at most every min_s seconds, whatever rate the engine sends at. */
enum { P_CONV, P_TOKENS, P_EXPERTS, P_IO, P_COUNT };
static const struct {
	int min_h;
	wint_t toggle_key;
	double min_s;
} pane_spec[P_COUNT] = {
	[P_CONV] = { 3, 0, 0 },
	[P_TOKENS] = { 4, KEY_F(2), 0.1 },
	[P_EXPERTS] = { 4, KEY_F(3), 0.25 },
	[P_IO] = { 4, KEY_F(4), 0.25 },
};

enum focus { FOCUS_INPUT, FOCUS_CONV };
enum mode { MODE_CHAT, MODE_SEARCH, MODE_EDIT };

struct app {
	const struct chat_config *cfg;
	struct chat chat;
	struct pane *panes[P_COUNT];
	struct input *in;
	char *status;			/* transient message, or NULL */
	double status_time;
	int status_h;			/* rows of the status line: long messages wrap */
	bool dirty, full, quit;		/* full: every pane and the frame */
	bool key_seen;			/* a key arrived: draw now */
	double last_draw;
	int sigpipe[2];
	int side_pct;			/* width of the side column, % */
	enum focus focus;
	enum mode mode;
	long edit_turn;
	char *saved_line;		/* the chat line put aside by search/edit */
	struct search *search;
	struct buf multi;		/* lines of a """ message so far */
	bool in_multi;
	bool esc;			/* ESC held: Alt-key or a lone Esc */
	struct paste paste;
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
	free(a->status);
	va_start(ap, fmt);
	if (vasprintf(&a->status, fmt, ap) < 0)
		a->status = NULL;
	va_end(ap);
	a->status_time = now_sec();
	a->dirty = true;
}

/* ---- chat hooks ------------------------------------------------------------------- */

static void hook_note(void *ctx, const char *text)
{
	struct app *a = ctx;
	conv_add(a->chat.conv, ROLE_NOTE, text);
	if (a->panes[P_CONV])	/* not before the panes exist */
		pane_conv_show_turn(a->panes[P_CONV], conv_count(a->chat.conv) - 1);
	a->dirty = true;
}

static void hook_status(void *ctx, const char *text)
{
	set_status(ctx, "%s", text);
}

static void hook_event(void *ctx, const struct msg *m)
{
	struct app *a = ctx;
	for (int i = P_TOKENS; i < P_COUNT; i++)
		a->panes[i]->ops->event(a->panes[i], m);
	a->dirty = true;
}

static void hook_over(void *ctx, const char *tag)
{
	struct app *a = ctx;
	(void)tag;
	a->dirty = true;
}

static const struct chat_hooks hooks = { hook_note, hook_status, hook_event, hook_over };

/* ---- modes: search and edit ------------------------------------------------------ */

/* Put the chat line aside and give the input line to another mode. */
static void enter_mode(struct app *a, enum mode m, const char *text)
{
	if (a->mode == MODE_CHAT) {
		free(a->saved_line);
		a->saved_line = input_text(a->in);
	}
	a->mode = m;
	a->focus = FOCUS_INPUT;
	input_set(a->in, text);
	input_set_history(a->in, m != MODE_SEARCH);
	a->dirty = true;
}

static void leave_mode(struct app *a)
{
	if (a->mode == MODE_CHAT)
		return;
	if (a->mode == MODE_EDIT)
		pane_conv_select(a->panes[P_CONV], -1);
	a->mode = MODE_CHAT;
	input_set(a->in, a->saved_line ? a->saved_line : "");
	input_set_history(a->in, true);
	free(a->saved_line);
	a->saved_line = NULL;
	a->dirty = true;
}

static void begin_edit(struct app *a, long turn)
{
	struct pane *c = a->panes[P_CONV];

	if (turn < 0 || conv_role(a->chat.conv, (size_t)turn) != ROLE_USER) {
		set_status(a, "no message of yours to edit");
		return;
	}
	if (chat_busy(&a->chat)) {
		set_status(a, "a reply is still streaming: Ctrl-C stops it, then edit");
		return;
	}
	pane_conv_select(c, turn);
	a->edit_turn = turn;
	enter_mode(a, MODE_EDIT, conv_text(a->chat.conv, (size_t)turn));
	set_status(a, "editing a past message: Enter regenerates from it, Up/Down pick another, "
		   "Ctrl-C cancels");
}

/* Up/Down while editing: load another of the user's turns. */
static void edit_step(struct app *a, int dir)
{
	struct pane *c = a->panes[P_CONV];
	if (pane_conv_select_step(c, dir)) {
		a->edit_turn = pane_conv_selected(c);
		input_set(a->in, conv_text(a->chat.conv, (size_t)a->edit_turn));
	}
}

static void search_step(struct app *a, int dir, bool first)
{
	size_t nth, total;

	if (!a->search) {
		set_status(a, "no search yet: / or F5 starts one");
		return;
	}
	long stop;
	bool found = pane_conv_search_next(a->panes[P_CONV], dir, first, &nth, &total, &stop);
	char cut[96] = "";
	if (stop >= 0)
		snprintf(cut, sizeof cut, "search stopped: pattern too costly at line %ld; ", stop + 1);
	if (found)
		set_status(a, "/%s/: %smatch %zu of %zu   n next  N previous  Esc back to typing",
			   search_pattern(a->search), cut, nth, total);
	else
		set_status(a, "/%s/: %sno match", search_pattern(a->search), cut);
}

static void start_search(struct app *a, const char *pattern)
{
	char err[300];

	if (!*pattern) {	/* an empty pattern repeats the last one */
		if (a->search)
			search_step(a, 1, false);
		return;
	}
	struct search *s = search_new(pattern, err, sizeof err);
	if (!s) {
		set_status(a, "search: %s", err);
		return;
	}
	pane_conv_set_search(a->panes[P_CONV], s);
	search_free(a->search);
	a->search = s;
	a->focus = FOCUS_CONV;
	search_step(a, 1, true);
}

/* ---- the input line ------------------------------------------------------------------- */

static void send_text(struct app *a, char *text)
{
	if (!chat_send(&a->chat, text))
		input_set(a->in, text);	/* refused: nothing typed is lost */
}

static void run_command(struct app *a, char *line)
{
	char *uc = NULL, *ua = NULL;

	switch (command_run(&a->chat, line, true, &uc, &ua)) {
	case CMD_QUIT:
		a->quit = true;
		break;
	case CMD_UI:
		if (!strcmp(uc, "edit"))
			begin_edit(a, chat_last_user(&a->chat));
		else if (!strcmp(uc, "search"))
			start_search(a, ua);
		break;
	default:
		break;
	}
	free(uc);
	free(ua);
	a->dirty = true;
}

/* A """ message: collect lines until one ends with """. */
static bool multi_line(struct app *a, char *line)
{
	size_t n = strlen(line);

	if (!a->in_multi) {
		if (strncmp(line, "\"\"\"", 3) != 0)
			return false;
		if (n >= 6 && !strcmp(line + n - 3, "\"\"\"")) {
			line[n - 3] = '\0';
			send_text(a, line + 3);
			return true;
		}
		a->in_multi = true;
		buf_clear(&a->multi);
		buf_puts(&a->multi, line + 3);
		set_status(a, "multi-line message: end it with \"\"\"");
		return true;
	}
	bool last = n >= 3 && !strcmp(line + n - 3, "\"\"\"");
	if (last)
		line[n - 3] = '\0';
	if (a->multi.len)
		buf_putc(&a->multi, '\n');
	buf_puts(&a->multi, line);
	if (last) {
		a->in_multi = false;
		send_text(a, a->multi.p ? a->multi.p : (char *)"");
		buf_clear(&a->multi);
	}
	return true;
}

static void submit(struct app *a, char *line)
{
	switch (a->mode) {
	case MODE_SEARCH:
		leave_mode(a);
		start_search(a, line);
		return;
	case MODE_EDIT:
		if (chat_edit(&a->chat, (size_t)a->edit_turn, line)) {
			leave_mode(a);
			pane_conv_select(a->panes[P_CONV], -1);
		} else {
			input_set(a->in, line);
		}
		return;
	case MODE_CHAT:
		break;
	}
	if (multi_line(a, line))
		return;
	if (line[0] == '/' && line[1] && line[1] != '/') {
		run_command(a, line);
		return;
	}
	if (*line)
		send_text(a, line[0] == '/' ? line + 1 : line);	/* "//x" sends "/x" */
}

static void complete(struct app *a)
{
	char hint[256];
	char *line = input_text(a->in);
	char *out = command_complete(line, hint, sizeof hint);

	if (out)
		input_set(a->in, out);
	if (hint[0])
		set_status(a, "%s", hint);
	else if (!out)
		set_status(a, "no completion");
	free(out);
	free(line);
}

static void cancel(struct app *a)
{
	if (a->in_multi) {
		a->in_multi = false;
		buf_clear(&a->multi);
		set_status(a, "multi-line message dropped");
	} else if (a->mode != MODE_CHAT) {
		leave_mode(a);
		set_status(a, "cancelled");
	} else if (chat_cancel(&a->chat)) {
		;
	} else if (!input_empty(a->in)) {
		input_clear(a->in);
	} else {
		set_status(a, "nothing to stop; /quit or F10 quits");
	}
	a->dirty = true;
}

/* ---- screen ---------------------------------------------------------------------- */

static void layout(struct app *a)
{
	int H = LINES, W = COLS;
	int area = H - 1 - a->status_h;	/* status line(s) and input line below */

	for (int i = 0; i < P_COUNT; i++) {
		if (a->panes[i]->win)
			delwin(a->panes[i]->win);
		a->panes[i]->win = NULL;
	}
	erase();
	a->full = true;
	a->dirty = true;
	if (area < 1)
		return;
	/* A side column only when the conversation keeps 40 columns. */
	int side_w = W * a->side_pct / 100;
	if (W - side_w - 1 < 40)
		side_w = 0;
	int nside = 0, side[P_COUNT];
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
	if (side_w)	/* the divider between the conversation and the side column */
		mvwvline(stdscr, 0, c->w, ui.utf8 ? ACS_VLINE : '|', area);
	for (int i = 0; i < P_COUNT; i++)
		if (a->panes[i]->win)
			a->panes[i]->ops->layout(a->panes[i]);
}

/* "loading [####      ] 40%" */
static void state_text(struct app *a, char *out, size_t n)
{
	const struct chat *c = &a->chat;
	const char *st = chat_state(c);

	if (c->load == LOAD_PENDING && !chat_busy(c) && chat_running(c) && c->progress_pct >= 0) {
		char bar[12];
		int fill = c->progress_pct / 10;
		for (int i = 0; i < 10; i++)
			bar[i] = i < fill ? '#' : ' ';
		bar[10] = '\0';
		snprintf(out, n, "%s [%s] %d%%", st, bar, c->progress_pct);
	} else if (chat_busy(c) && c->progress[0]) {
		snprintf(out, n, "%s (%s)", st, c->progress);	/* "generating (thinking 12)" */
	} else {
		snprintf(out, n, "%s", st);
	}
	if (chat_log_error(c))
		snprintf(out + strlen(out), n - strlen(out), " | session NOT SAVED");
}

static bool status_shown(const struct app *a, double now)
{
	return a->status && now - a->status_time < STATUS_S;
}

/* The left part of the status line, as wide characters (caller frees). */
static wchar_t *status_text(struct app *a, int *n)
{
	const struct chat *c = &a->chat;
	char state[96];
	struct buf b = { 0 };

	state_text(a, state, sizeof state);
	/* A message takes the model's place while it shows. */
	if (status_shown(a, now_sec()))
		buf_printf(&b, " %s | %s", state, a->status);
	else
		buf_printf(&b, " %s%s%s | %s", state, c->model_info[0] ? " | " : "", c->model_info,
			   c->last_speed);
	wchar_t *ws = xreallocarray(NULL, b.len + 1, sizeof *ws);
	mbstate_t st;
	const char *p = b.p, *end = b.p + b.len;
	memset(&st, 0, sizeof st);
	for (*n = 0; p < end; (*n)++) {
		size_t k = mbrtowc(&ws[*n], p, (size_t)(end - p), &st);
		if (k == (size_t)-1 || k == (size_t)-2 || k == 0) {
			ws[*n] = L'?';
			k = 1;
			memset(&st, 0, sizeof st);
		}
		p += k;
	}
	buf_free(&b);
	return ws;
}

static int cols(wchar_t ch)
{
	int w = wcwidth(ch);
	return w < 0 ? 1 : w;
}

/* Where the rows of s start when wrapped at w columns, breaking after a
 * space where there is one: start[0..rows], start[rows] = n. At most max
 * rows; the last one then holds what fits of the rest. */
static int wrap_rows(const wchar_t *s, int n, int w, int *start, int max)
{
	int rows = 0, i = 0;

	while (rows < max) {
		int col = 0, j = i, space = -1;
		start[rows++] = i;
		while (j < n && col + cols(s[j]) <= w) {
			if (s[j] == L' ' && j > i)
				space = j;
			col += cols(s[j++]);
		}
		if (j >= n || rows == max) {
			i = j;
			break;
		}
		i = space > i ? space + 1 : j > i ? j : j + 1;
	}
	start[rows] = i;
	return rows;
}

#define STATUS_ROWS_MAX 8

static int status_max_rows(void)
{
	int m = (LINES - 2) / 3;
	return m < 1 ? 1 : m > STATUS_ROWS_MAX ? STATUS_ROWS_MAX : m;
}

/* Rows the status line needs now: more than one for a long message. */
static int status_rows(struct app *a)
{
	int n, start[STATUS_ROWS_MAX + 1];
	wchar_t *ws = status_text(a, &n);
	int rows = wrap_rows(ws, n, COLS, start, status_max_rows());
	free(ws);
	return rows;
}

static void draw_status(struct app *a)
{
	int H = LINES, W = COLS, n, start[STATUS_ROWS_MAX + 1];
	wchar_t *ws = status_text(a, &n);
	int rows = wrap_rows(ws, n, W, start, a->status_h < status_max_rows() ? a->status_h : status_max_rows());
	int y0 = H - 1 - a->status_h;
	char right[96];

	if (a->focus == FOCUS_CONV)
		snprintf(right, sizeof right, W >= 70 ? "/ search  n N  e edit  Esc back " : "Esc back ");
	else
		snprintf(right, sizeof right, W >= 60 ? "F1 help  ^C stop  F10 quit " : "F1 help ");
	wattr_on(stdscr, A_REVERSE, NULL);
	for (int r = 0; r < a->status_h; r++)
		mvwhline(stdscr, y0 + r, 0, ' ', W);
	int last = 0;
	for (int r = 0; r < rows; r++) {
		int len = start[r + 1] - start[r];
		mvwaddnwstr(stdscr, y0 + r, 0, ws + start[r], len);
		last = 0;
		for (int k = 0; k < len; k++)
			last += cols(ws[start[r] + k]);
	}
	int rl = (int)strlen(right);
	if (last + rl + 1 < W)
		mvwaddstr(stdscr, y0 + a->status_h - 1, W - rl, right);
	wattr_off(stdscr, A_REVERSE, NULL);
	free(ws);
}

/* When the next throttled redraw is due (0: now, or nothing waits). */
static double draw(struct app *a)
{
	double now = now_sec(), next = 0;

	if (LINES < 3 || COLS < 10) {
		erase();
		mvaddnstr(0, 0, "heft: the terminal is too small", COLS);
		refresh();
		a->dirty = a->full = false;
		return 0;
	}
	int rows = status_rows(a);
	if (rows != a->status_h) {	/* a long message wraps: the panes give way */
		a->status_h = rows;
		layout(a);
	}
	if (a->full)
		wnoutrefresh(stdscr);	/* the divider */
	for (int i = 0; i < P_COUNT; i++) {
		struct pane *p = a->panes[i];
		if (!p->win || !(p->dirty || a->full))
			continue;
		if (!a->full && now - p->last_draw < pane_spec[i].min_s) {
			double due = p->last_draw + pane_spec[i].min_s;
			next = next == 0 || due < next ? due : next;
			continue;
		}
		p->focused = i == P_CONV && a->focus == FOCUS_CONV;
		p->ops->draw(p);
		wnoutrefresh(p->win);
		p->dirty = false;
		p->last_draw = now;
	}
	draw_status(a);
	static const char *const prompts[] = { "> ", "search /", "edit> " };
	const char *prompt = a->mode == MODE_CHAT && a->in_multi ? "... " : prompts[a->mode];
	input_draw(a->in, stdscr, LINES - 1, prompt);
	if (a->focus == FOCUS_CONV)
		curs_set(0);
	else
		curs_set(1);
	wnoutrefresh(stdscr);
	doupdate();
	a->dirty = next != 0;
	a->full = false;
	a->last_draw = now;
	return next;
}

static void on_resize(struct app *a)
{
	struct winsize ws;

	/* resizeterm() queues a KEY_RESIZE, which lands here again: only call
	 * it when the size really differs, or the two feed each other. */
	if (ioctl(1, TIOCGWINSZ, &ws) == 0 && ws.ws_row && ws.ws_col &&
	    (ws.ws_row != LINES || ws.ws_col != COLS))
		resizeterm(ws.ws_row, ws.ws_col);
	layout(a);
}

/* ---- keys ----------------------------------------------------------------------------- */

static void toggle_focus(struct app *a)
{
	a->focus = a->focus == FOCUS_INPUT ? FOCUS_CONV : FOCUS_INPUT;
	if (a->focus == FOCUS_CONV && pane_conv_selected(a->panes[P_CONV]) < 0)
		pane_conv_select_step(a->panes[P_CONV], -1);
	if (a->focus == FOCUS_INPUT && a->mode != MODE_EDIT)
		pane_conv_select(a->panes[P_CONV], -1);
	a->panes[P_CONV]->dirty = true;
	a->dirty = true;
}

/* Keys that mean the same wherever the focus is; true if taken. */
static bool global_key(struct app *a, int type, wint_t ch)
{
	if (type == KEY_CODE_YES) {
		if (ch == KEY_RESIZE)
			on_resize(a);
		else if (ch == KEY_F(1))
			hook_note(a, command_help(true));
		else if (ch == KEY_F(10))
			a->quit = true;
		else if (ch == KEY_F(5))
			enter_mode(a, MODE_SEARCH, "");
		else if (ch == KEY_F(6))
			toggle_focus(a);
		else if (ch == KEY_F(7))
			begin_edit(a, chat_last_user(&a->chat));
		else if (ch == KEY_F(8))
			chat_start(&a->chat);
		else if (ch == KEY_PPAGE || ch == KEY_NPAGE || ch == KEY_SR || ch == KEY_SF)
			a->panes[P_CONV]->ops->key(a->panes[P_CONV], type, ch);
		else {
			for (int i = P_TOKENS; i < P_COUNT; i++) {
				if (ch == pane_spec[i].toggle_key) {
					a->panes[i]->shown = !a->panes[i]->shown;
					layout(a);
					return true;
				}
			}
			return false;
		}
		return true;
	}
	switch (ch) {
	case 3:		/* ^C: stops a reply, never heft */
	case 7:		/* ^G */
		cancel(a);
		return true;
	case 12:	/* ^L */
		clearok(curscr, TRUE);
		a->full = true;
		return true;
	case 18:	/* ^R */
		enter_mode(a, MODE_SEARCH, "");
		return true;
	default:
		return false;
	}
}

static void conv_focus_key(struct app *a, int type, wint_t ch)
{
	struct pane *c = a->panes[P_CONV];

	if (type == KEY_CODE_YES) {
		switch (ch) {
		case KEY_UP: pane_conv_select_step(c, -1); break;
		case KEY_DOWN: pane_conv_select_step(c, 1); break;
		case KEY_HOME: pane_conv_scroll_end(c, true); break;
		case KEY_END: pane_conv_scroll_end(c, false); break;
		case KEY_ENTER: begin_edit(a, pane_conv_selected(c)); break;
		case KEY_LEFT: case KEY_RIGHT: break;
		default: c->ops->key(c, type, ch); break;
		}
		a->dirty = true;
		return;
	}
	switch (ch) {
	case 'k': pane_conv_select_step(c, -1); break;
	case 'j': pane_conv_select_step(c, 1); break;
	case 'g': pane_conv_scroll_end(c, true); break;
	case 'G': pane_conv_scroll_end(c, false); break;
	case 'e': case '\r': case '\n': begin_edit(a, pane_conv_selected(c)); break;
	case '/': enter_mode(a, MODE_SEARCH, ""); break;
	case 't':
		pane_conv_toggle_think(c);
		set_status(a, "%s", pane_conv_think_shown(c) ? "thinking shown (t folds it)"
			   : "thinking folded (t shows it)");
		break;
	case 'n': search_step(a, 1, false); break;
	case 'N': search_step(a, -1, false); break;
	case '<': case '>':
		a->side_pct += ch == '<' ? 5 : -5;
		a->side_pct = MAX(20, MIN(70, a->side_pct));
		layout(a);
		break;
	case '\t': case 'i': case 'q': case 033:
		toggle_focus(a);
		break;
	default:
		/* Typing goes to the input line. */
		toggle_focus(a);
		if (ch >= 0x20) {
			char *line = NULL;
			if (input_key(a->in, type, ch, &line) == INPUT_LINE)
				free(line);
		}
		break;
	}
	a->dirty = true;
}

static void input_focus_key(struct app *a, int type, wint_t ch)
{
	if (type == KEY_CODE_YES && a->mode == MODE_EDIT && (ch == KEY_UP || ch == KEY_DOWN)) {
		edit_step(a, ch == KEY_UP ? -1 : 1);
		return;
	}
	if (type == OK && ch == '\t' && a->mode == MODE_CHAT && input_at_end(a->in)) {
		char *line = input_text(a->in);
		bool cmd = line[0] == '/';
		free(line);
		if (cmd) {
			complete(a);
			return;
		}
	}
	char *line = NULL;
	enum input_result r = input_key(a->in, type, ch, &line);
	if (r == INPUT_LINE) {
		submit(a, line);
		free(line);
	} else if (r == INPUT_EOF) {
		set_status(a, "^D: /quit or F10 quits");
	}
}

static void handle_key(struct app *a, int type, wint_t ch)
{
	a->key_seen = true;
	a->dirty = true;
	if (a->esc) {	/* Alt-key: ESC and the key */
		a->esc = false;
		if (type == OK && (ch == 'e' || ch == 'E')) {
			begin_edit(a, chat_last_user(&a->chat));
			return;
		}
		if (type == OK && (ch == '\r' || ch == '\n')) {
			input_insert(a->in, "\n");
			return;
		}
		char *line = NULL;
		input_key(a->in, OK, 033, &line);	/* libedit's meta prefix */
	}
	if (global_key(a, type, ch))
		return;
	if (a->focus == FOCUS_CONV) {
		conv_focus_key(a, type, ch);
		return;
	}
	if (type == OK && ch == 033) {
		a->esc = true;
		return;
	}
	input_focus_key(a, type, ch);
}

static void key_cb(void *ctx, int type, wint_t ch)
{
	handle_key(ctx, type, ch);
}

/* A paste goes into the input line as text, however long (up to what the
 * line holds). */
static void paste_done(struct app *a)
{
	size_t dropped, chars = 0;
	char *text = paste_take(&a->paste, &dropped);

	for (const char *s = text; *s; s++)
		chars += ((unsigned char)*s & 0xc0) != 0x80;
	if (a->focus == FOCUS_CONV)
		toggle_focus(a);
	size_t got = *text ? input_insert(a->in, text) : 0;
	if (got < chars || dropped)
		set_status(a, "paste cut at %zu characters: %zu dropped", (size_t)INPUT_MAX,
			   chars - got + dropped);
	else if (chars > 200)
		set_status(a, "pasted %zu characters", chars);
	free(text);
	a->dirty = a->key_seen = true;
}

static void read_keys(struct app *a)
{
	wint_t ch;
	int type = OK;

	/* Bounded so a huge paste cannot starve the engine pipe. */
	for (int i = 0; i < 4096; i++) {
		if (a->paste.active) {
			paste_read(&a->paste, 0);
			if (a->paste.done)
				paste_done(a);
			if (a->paste.active)
				return;	/* the rest when poll() says so */
		}
		if ((type = wget_wch(stdscr, &ch)) == ERR)
			break;
		paste_key(&a->paste, type, ch, key_cb, a);
	}
	if (type != ERR)
		return;
	/* No more keys for now: a partial marker was typed, not pasted. */
	paste_flush(&a->paste, key_cb, a);
	/* A lone Esc leaves search and edit (Alt-x arrives as ESC x at once). */
	if (a->esc && a->mode != MODE_CHAT) {
		a->esc = false;
		leave_mode(a);
	}
}

/* ---- setup and loop ------------------------------------------------------------------ */

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
	/* Bracketed paste: pasted text arrives marked, not as typing. */
	fputs("\033[?2004h", stdout);
	fflush(stdout);
	def_prog_mode();
}

static void setup_signals(struct app *a)
{
	if (pipe(a->sigpipe) < 0)
		die_errno("pipe");
	for (int i = 0; i < 2; i++) {
		fcntl(a->sigpipe[i], F_SETFL, fcntl(a->sigpipe[i], F_GETFL) | O_NONBLOCK);
		fcntl(a->sigpipe[i], F_SETFD, FD_CLOEXEC);
	}
	sig_wfd = a->sigpipe[1];
	struct sigaction sa = { .sa_handler = on_signal };
	sigemptyset(&sa.sa_mask);
	sigaction(SIGWINCH, &sa, NULL);	/* before initscr: we own resizing */
	sigaction(SIGCHLD, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);	/* leave the terminal and the engine tidy */
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

static int poll_timeout(struct app *a, double next_draw)
{
	double now = now_sec(), wait = TICK_MS / 1000.0;

	if (a->dirty) {
		double due = MAX(a->last_draw + REDRAW_MIN_S, next_draw);
		wait = MIN(wait, due - now);
	}
	if (status_shown(a, now))
		wait = MIN(wait, a->status_time + STATUS_S - now);
	if (a->paste.active)
		wait = MIN(wait, a->paste.last + PASTE_IDLE_S - now);
	int ew = chat_timeout_ms(&a->chat);
	if (ew >= 0)
		wait = MIN(wait, ew / 1000.0);
	return wait > 0 ? (int)(wait * 1000) + 1 : 0;
}

static void loop(struct app *a)
{
	double next_draw = 0;

	while (!a->quit) {
		struct pollfd p[2 + ENGINE_POLLFDS_MAX];
		int n = 0;
		p[n++] = (struct pollfd){ .fd = 0, .events = POLLIN };
		p[n++] = (struct pollfd){ .fd = a->sigpipe[0], .events = POLLIN };
		int ne = chat_pollfds(&a->chat, p + n);
		int r = poll(p, (nfds_t)(n + ne), poll_timeout(a, next_draw));
		if (r < 0 && errno != EINTR) {
			endwin();
			die_errno("poll");
		}
		if (r > 0 && p[1].revents) {
			char drain[64];
			while (read(a->sigpipe[0], drain, sizeof drain) > 0)
				;
		}
		if (got_winch) {
			got_winch = 0;
			on_resize(a);
		}
		if (got_term)
			break;
		if (got_int) {	/* a ^C that came as a signal (e.g. ISIG left on) */
			got_int = 0;
			cancel(a);
		}
		read_keys(a);	/* keys first: typing stays quick under a flood */
		chat_io(&a->chat, p + n, r > 0 ? ne : 0);
		if (got_chld) {
			got_chld = 0;
			chat_reap(&a->chat);
		}
		double now = now_sec();
		paste_check_idle(&a->paste, now);
		if (a->paste.done)
			paste_done(a);
		if (a->status && now - a->status_time >= STATUS_S) {
			free(a->status);
			a->status = NULL;
			a->dirty = true;
		}
		if (a->dirty && (a->key_seen || a->full || now - a->last_draw >= REDRAW_MIN_S)) {
			next_draw = draw(a);
			a->key_seen = false;
		}
	}
}

static void welcome(struct app *a)
{
	if (engine_is_remote(a->chat.eng)) {
		char *s;
		xasprintf(&s, "heft is a client of the server at %s: %s%s%s. The experts and I/O panes "
			  "show what the server reports, if anything. /model lists its models; F1 or "
			  "/help lists keys and commands.", a->chat.server,
			  a->chat.model ? "the model is " : "the model is the first one it lists (-m NAME "
			  "or /model NAME picks another)", a->chat.model ? a->chat.model : "",
			  a->chat.model && !a->cfg->model ? " (the session's)" : "");
		hook_note(a, s);
		free(s);
	} else if (a->chat.demo) {
		char *s;
		xasprintf(&s, "No model given: this is the demo model %s (random weights: its answers "
			  "are noise). 230 MB under a %llu MiB budget, its experts stream from disk as a "
			  "big model's do: see the side panes. heft MODEL runs a real one; F1 lists keys.",
			  a->chat.model, (unsigned long long)((a->cfg->mem ? a->cfg->mem : DEMO_MEM) >> 20));
		hook_note(a, s);
		free(s);
	} else if (!a->chat.model) {
		char *s;
		xasprintf(&s, "No model given (heft MODEL) and no demo model%s%s. /model PATH loads "
			  "one. F1 or /help lists keys and commands.", a->cfg->demo_error && *a->cfg->demo_error ?
			  ": " : "", a->cfg->demo_error ? a->cfg->demo_error : "");
		hook_note(a, s);
		free(s);
	}
}

int app_run(const struct chat_config *cfg)
{
	struct app a = { .cfg = cfg, .side_pct = 40, .edit_turn = -1, .status_h = 1 };
	char err[256];

	setup_signals(&a);
	if (!chat_init(&a.chat, cfg, &hooks, &a, err, sizeof err)) {
		fprintf(stderr, "heft: %s\n", err);
		return 2;
	}
	init_screen();
	char *hist = history_path();
	a.in = input_new(hist, err, sizeof err);
	free(hist);
	if (!a.in) {
		endwin();
		fprintf(stderr, "heft: %s\n", err);
		chat_free(&a.chat);
		return 1;
	}
	a.panes[P_CONV] = pane_conv_new(a.chat.conv);
	a.panes[P_TOKENS] = pane_tokens_new();
	a.panes[P_EXPERTS] = pane_experts_new();
	a.panes[P_IO] = pane_io_new();
	layout(&a);
	welcome(&a);
	chat_start(&a.chat);

	loop(&a);

	chat_finish(&a.chat);
	input_free(a.in);
	for (int i = 0; i < P_COUNT; i++) {
		if (a.panes[i]->win)
			delwin(a.panes[i]->win);
		a.panes[i]->ops->free(a.panes[i]);
	}
	chat_free(&a.chat);
	search_free(a.search);
	buf_free(&a.multi);
	paste_free(&a.paste);
	free(a.saved_line);
	free(a.status);
	endwin();
	fputs("\033[?2004l", stdout);
	fflush(stdout);
	close(a.sigpipe[0]);
	close(a.sigpipe[1]);
	sig_wfd = -1;
	return 0;
}
