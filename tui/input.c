/* input.c - libedit driven from curses keys.
 *
 * How it fits together:
 *  - el_init_fd() with fout/ferr on /dev/null: libedit's own redisplay goes
 *    nowhere, while fdin/fdout stay the terminal so libedit believes it can
 *    edit (it checks isatty(fdout) and reads termios from fdin).
 *  - EL_GETCFN reads from a small queue filled from curses keys. Curses
 *    decodes function keys into KEY_*; we re-encode them as the ANSI
 *    sequences libedit binds by default (it binds both ESC [ and ESC O
 *    forms of the arrows, Home, End and Delete), so .editrc bindings and
 *    vi/emacs maps work unchanged.
 *  - EL_UNBUFFERED: el_wgets() returns after every key with the line so
 *    far; Enter shows up as a trailing '\n' (ed-newline appends one).
 *  - libedit switches the tty to its own raw mode when it prepares a
 *    line; curses' terminal modes are put back (reset_prog_mode) after
 *    every call, so the two never fight.
 *  - libedit reads its own terminal description with tgetent(), and
 *    libtinfo's tgetent() may repoint the global cur_term at it; curses'
 *    TERMINAL is put back after every libedit call, with its tty modes.
 *  - A lone ESC is held until the next key arrives: libedit would read on
 *    to see whether an escape sequence follows, and our queue must never
 *    run dry inside a sequence (an empty queue reads as end of input). */
#include <errno.h>
#include <fcntl.h>
#include <histedit.h>
#include <term.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fileio.h"
#include "input.h"
#include "pane.h"
#include "sanitize.h"
#include "util.h"

#define QMAX 64
#define HISTORY_LINE_MAX 65536	/* longer lines (pastes) stay out of the history */

struct input {
	EditLine *el;
	HistoryW *hist;
	FILE *devnull;
	char *histfile;
	wchar_t q[QMAX];	/* keys for libedit to read */
	int qhead, qlen;
	bool esc_pending;
	int hscroll;		/* first column of the line shown */
	bool history;		/* lines entered go to the history */
	TERMINAL *curses_term;
};

/* Undo what a libedit call did to curses' world (see the top). */
static void back_to_curses(struct input *in)
{
	if (cur_term != in->curses_term)
		set_curterm(in->curses_term);
	reset_prog_mode();
}

static int getc_fn(EditLine *el, wchar_t *c)
{
	struct input *in;

	el_get(el, EL_CLIENTDATA, &in);
	if (!in->qlen)
		return 0;	/* never block: "end of input" for this key */
	*c = in->q[in->qhead];
	in->qhead = (in->qhead + 1) % QMAX;
	in->qlen--;
	return 1;
}

static void qpush(struct input *in, const wchar_t *s)
{
	for (; *s && in->qlen < QMAX; s++) {
		in->q[(in->qhead + in->qlen) % QMAX] = *s;
		in->qlen++;
	}
}

static const wchar_t *prompt_fn(EditLine *el)
{
	(void)el;
	return L"";
}

static void reset_line(struct input *in)
{
	/* Leaving and re-entering unbuffered mode is libedit's way to start
	 * a fresh line (read_finish, then read_prepare and ch_reset). */
	el_set(in->el, EL_UNBUFFERED, 0);
	el_set(in->el, EL_UNBUFFERED, 1);
	back_to_curses(in);
	in->hscroll = 0;
	in->esc_pending = false;	/* a new line starts without a meta prefix */
}

/* The history file is replaced whole (src/fileio), never truncated in
 * place: another heft starting meanwhile reads the old or the new file,
 * not a half-written one. A failure keeps the old file. */
static void save_history(struct input *in)
{
	struct fio_out o;
	HistEventW ev;
	if (fio_begin(&o, in->histfile) < 0)
		return;
	FILE *fp = fio_stream(&o);
	if (!fp || history_w(in->hist, &ev, H_SAVE_FP, fp) < 0) {
		fio_abort(&o);
		return;
	}
	fio_commit(&o);
}

struct input *input_new(const char *histfile, char *err, size_t errlen)
{
	struct input *in = xcalloc(1, sizeof *in);
	HistEventW ev;

	in->devnull = fopen("/dev/null", "w");
	if (!in->devnull) {
		snprintf(err, errlen, "/dev/null: %s", strerror(errno));
		free(in);
		return NULL;
	}
	in->curses_term = cur_term;
	in->el = el_init_fd("heft", stdin, in->devnull, in->devnull, 0, 1, fileno(in->devnull));
	if (!in->el) {
		snprintf(err, errlen, "libedit: el_init failed");
		fclose(in->devnull);
		free(in);
		return NULL;
	}
	in->history = true;
	in->hist = history_winit();
	history_w(in->hist, &ev, H_SETSIZE, 1000);
	history_w(in->hist, &ev, H_SETUNIQUE, 1);
	if (histfile) {
		in->histfile = xstrdup(histfile);
		history_w(in->hist, &ev, H_LOAD, histfile);
	}
	el_set(in->el, EL_CLIENTDATA, in);
	el_set(in->el, EL_SIGNAL, 0);
	el_set(in->el, EL_EDITOR, "emacs");
	el_wset(in->el, EL_PROMPT, prompt_fn);
	el_wset(in->el, EL_GETCFN, getc_fn);
	el_wset(in->el, EL_HIST, history_w, in->hist);
	el_source(in->el, NULL);	/* ~/.editrc (or $EDITRC) */
	el_set(in->el, EL_UNBUFFERED, 1);
	back_to_curses(in);
	return in;
}

void input_free(struct input *in)
{
	if (!in)
		return;
	if (in->histfile)
		save_history(in);
	el_set(in->el, EL_UNBUFFERED, 0);
	el_end(in->el);
	back_to_curses(in);
	history_wend(in->hist);
	fclose(in->devnull);
	free(in->histfile);
	free(in);
}

static const wchar_t *key_seq(wint_t k)
{
	switch (k) {
	case KEY_UP: return L"\033[A";
	case KEY_DOWN: return L"\033[B";
	case KEY_RIGHT: return L"\033[C";
	case KEY_LEFT: return L"\033[D";
	case KEY_HOME: return L"\033[H";
	case KEY_END: return L"\033[F";
	case KEY_DC: return L"\033[3~";
	case KEY_BACKSPACE: return L"\177";
	case KEY_ENTER: return L"\r";
	default: return NULL;
	}
}

static char *line_utf8(const LineInfoW *li, size_t n)
{
	struct buf b = { 0 };
	char mb[MB_LEN_MAX];
	mbstate_t st;

	memset(&st, 0, sizeof st);
	for (size_t i = 0; i < n; i++) {
		size_t k = wcrtomb(mb, li->buffer[i], &st);
		if (k == (size_t)-1) {
			buf_putc(&b, '?');
			memset(&st, 0, sizeof st);
		} else {
			buf_append(&b, mb, k);
		}
	}
	buf_putc(&b, '\0');
	b.len--;
	return b.p;
}

enum input_result input_key(struct input *in, int type, wint_t ch, char **line)
{
	wchar_t one[3] = { 0 };

	if (type == KEY_CODE_YES) {
		const wchar_t *s = key_seq(ch);
		if (!s)
			return INPUT_NONE;
		if (in->esc_pending) {
			in->esc_pending = false;
			qpush(in, L"\033");
		}
		qpush(in, s);
	} else {
		if (ch == 033 && !in->esc_pending) {
			in->esc_pending = true;
			return INPUT_NONE;
		}
		/* Curses runs with nonl(): Enter arrives as '\r', which libedit
		 * binds to ed-newline like '\n'. */
		int k = 0;
		if (in->esc_pending)
			one[k++] = 033;
		in->esc_pending = false;
		one[k] = (wchar_t)ch;
		qpush(in, one);
	}

	enum input_result res = INPUT_NONE;
	while (in->qlen && res == INPUT_NONE) {
		int n = 0;
		el_wgets(in->el, &n);
		back_to_curses(in);
		const LineInfoW *li = el_wline(in->el);
		size_t len = (size_t)(li->lastchar - li->buffer);
		/* Unbuffered el_wgets() reports a count only when a command
		 * ended the line (ed-newline appends the '\n'); a newline
		 * already in the buffer (pasted, ^V^J) is just text. */
		if (n > 0 && len && li->lastchar[-1] == L'\n') {
			*line = line_utf8(li, len - 1);
			if (len > 1 && len <= HISTORY_LINE_MAX && in->history) {
				HistEventW ev;
				wchar_t *w = xmalloc(len * sizeof *w);
				wmemcpy(w, li->buffer, len - 1);
				w[len - 1] = 0;
				history_w(in->hist, &ev, H_ENTER, w);
				free(w);
				if (in->histfile)
					save_history(in);
			}
			reset_line(in);
			res = INPUT_LINE;
		} else if (len == 1 && li->buffer[0] == 4 && ch == 4) {
			/* ^D on an empty line: libedit's unbuffered EOF. */
			reset_line(in);
			res = INPUT_EOF;
		}
	}
	in->qlen = 0;	/* whatever libedit did not read belonged to this key */
	return res;
}

/* UTF-8 (or the locale's encoding) to wide characters; bytes that do not
 * decode become '?', so nothing given back to the user is dropped. */
static wchar_t *widen(const char *text, size_t *count)
{
	size_t n = strlen(text), k = 0;
	wchar_t *w = xcalloc(n + 1, sizeof *w);
	mbstate_t st;

	memset(&st, 0, sizeof st);
	while (n) {
		size_t r = mbrtowc(&w[k], text, n, &st);
		if (r == (size_t)-1 || r == (size_t)-2 || r == 0) {
			w[k] = L'?';
			r = 1;
			memset(&st, 0, sizeof st);
		}
		text += r;
		n -= r;
		k++;
	}
	w[k] = 0;
	*count = k;
	return w;
}

size_t input_insert(struct input *in, const char *text)
{
	const LineInfoW *li = el_wline(in->el);
	size_t have = (size_t)(li->lastchar - li->buffer), n;
	wchar_t *w = widen(text, &n);

	if (have >= INPUT_MAX)
		n = 0;
	else if (n > INPUT_MAX - have)
		n = INPUT_MAX - have;
	w[n] = 0;
	if (n && el_winsertstr(in->el, w) < 0)
		n = 0;
	back_to_curses(in);
	free(w);
	return n;
}

void input_set(struct input *in, const char *text)
{
	reset_line(in);
	input_insert(in, text);
}

char *input_text(struct input *in)
{
	const LineInfoW *li = el_wline(in->el);
	return line_utf8(li, (size_t)(li->lastchar - li->buffer));
}

bool input_at_end(struct input *in)
{
	const LineInfoW *li = el_wline(in->el);
	return li->cursor == li->lastchar;
}

void input_set_history(struct input *in, bool on)
{
	in->history = on;
}

void input_clear(struct input *in)
{
	reset_line(in);
}

bool input_empty(struct input *in)
{
	const LineInfoW *li = el_wline(in->el);
	return li->lastchar == li->buffer;
}

/* Display width of a character of the line being edited: controls the
 * user typed (^V ESC) are shown as ^X, never sent raw. */
static int shown_width(wchar_t c)
{
	if (c < 0x20 || c == 0x7f)
		return 2;
	int w = wcwidth(c);
	return w < 0 ? 2 : w;
}

void input_draw(struct input *in, WINDOW *w, int y, const char *prompt)
{
	const LineInfoW *li = el_wline(in->el);
	int maxx = getmaxx(w), plen = (int)strlen(prompt);
	int avail = maxx - plen - 1;
	size_t len = (size_t)(li->lastchar - li->buffer);
	size_t cur = (size_t)(li->cursor - li->buffer);

	if (avail < 1)
		avail = 1;
	/* Columns up to the cursor, to keep it inside the window. */
	int curcol = 0;
	for (size_t i = 0; i < cur; i++)
		curcol += shown_width(li->buffer[i]);
	if (curcol < in->hscroll)
		in->hscroll = curcol;
	if (curcol - in->hscroll >= avail)
		in->hscroll = curcol - avail + 1;

	wmove(w, y, 0);
	wclrtoeol(w);
	wattr_on(w, A_BOLD, NULL);
	waddnstr(w, prompt, maxx);
	wattr_off(w, A_BOLD, NULL);
	int col = 0, x = plen;
	for (size_t i = 0; i < len && x < maxx; i++) {
		wchar_t c = li->buffer[i];
		int cw = shown_width(c);
		if (col >= in->hscroll && x + cw <= maxx) {
			if (c == L'\n') {
				/* a line break inside a multi-line message */
				wattr_on(w, A_DIM | A_REVERSE, NULL);
				if (ui.utf8)
					mvwaddwstr(w, y, x, L"\u21b5 ");
				else
					mvwaddstr(w, y, x, "^J");
				wattr_off(w, A_DIM | A_REVERSE, NULL);
			} else if (c < 0x20 || c == 0x7f || wcwidth(c) < 0) {
				char vis[4] = { '^', c == 0x7f ? '?' : (char)((c & 0x1f) + 0x40), 0 };
				if (wcwidth(c) < 0 && c >= 0x20)
					vis[1] = '?';
				wattr_on(w, A_REVERSE, NULL);
				mvwaddstr(w, y, x, vis);
				wattr_off(w, A_REVERSE, NULL);
			} else {
				wchar_t s[2] = { c, 0 };
				mvwaddwstr(w, y, x, s);
			}
			x += cw;
		}
		col += cw;
	}
	int cx = plen + curcol - in->hscroll;
	wmove(w, y, cx < maxx ? cx : maxx - 1);
}
