/* pane-conv.c - the conversation pane draws the conversation (conv.h):
 * wrapped, scrollable, turns marked, code blocks kept verbatim (hard-broken
 * at the edge, never re-flowed), search matches highlighted, a selected turn
 * shown reversed. It changes nothing in the conversation.
 *
 * Rendering is cached per turn for one width. A reply being streamed only
 * grows, so only its last logical line is laid out again when tokens
 * arrive: the cost of a token does not grow with the length of the reply. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conv.h"
#include "pane-conv.h"
#include "sanitize.h"
#include "search.h"
#include "think.h"

struct rline {
	wchar_t *s;
	int n;
	attr_t attr;
	short pair;
	bool header;		/* the turn's "> you" line: not searched */
};

/* How one turn of the conversation looks at one width: its rendered lines,
 * cached for one width and text length. */
struct view {
	struct rline *lines;
	size_t nlines, cap;
	int cached_w;		/* 0: render from scratch */
	size_t cached_len;
	/* Where the last logical line starts, to continue from there. */
	size_t tail_off, tail_line;
	bool tail_code;
	int phase;		/* 0: no thinking, 1: thinking, 2: thought, answering */
	bool shown_think;	/* laid out with the thinking shown */
};

/* A search pass over every line gives up after this long (seconds). */
#define SEARCH_BUDGET_S 0.1

struct cpane {
	struct pane *p;
	struct conv *conv;	/* borrowed */
	struct view *t;		/* one per turn, in step with conv */
	size_t n, cap;
	int scroll;		/* lines above the bottom; 0 follows the reply */
	long follow_first;	/* first line shown while following */
	size_t last_total;	/* lines at the last draw (keeps a scrolled view still) */
	long sel;		/* selected turn or -1 */
	struct search *search;	/* borrowed */
	long stop_line;		/* where it was stopped as too costly, or -1 */
	long m_line;		/* the current match: line index, columns */
	int m_b, m_e;
	bool want_line;		/* scroll so that line `goto_line` shows */
	bool want_top;		/* ... at the top of the pane */
	bool show_think;	/* replies' thinking shown, not folded */
	long goto_line;
};

static void drop_from(struct view *t, size_t from)
{
	for (size_t i = from; i < t->nlines; i++)
		free(t->lines[i].s);
	if (from < t->nlines)
		t->nlines = from;
}

static void push_line(struct view *t, const wchar_t *s, int n, attr_t attr, short pair)
{
	if (t->nlines == t->cap) {
		t->cap = t->cap ? t->cap * 2 : 16;
		t->lines = xreallocarray(t->lines, t->cap, sizeof *t->lines);
	}
	struct rline *l = &t->lines[t->nlines++];
	l->s = xmalloc(((size_t)n + 1) * sizeof(wchar_t));
	if (n)
		wmemcpy(l->s, s, (size_t)n);
	l->s[n] = 0;
	l->n = n;
	l->attr = attr;
	l->pair = pair;
	l->header = false;
}

static int cw(wchar_t c)
{
	int w = wcwidth(c);
	return w < 0 ? 1 : w;
}

/* Lay out one logical line (no '\n') at width w: prose breaks at spaces,
 * code breaks exactly at the edge so it stays verbatim. */
static void wrap(struct view *t, const wchar_t *s, int n, int w, bool code, attr_t attr, short pair)
{
	int start = 0;

	if (n == 0) {
		push_line(t, s, 0, attr, pair);
		return;
	}
	while (start < n) {
		int col = 0, i = start, last_space = -1;
		while (i < n && col + cw(s[i]) <= w) {
			if (s[i] == L' ')
				last_space = i;
			col += cw(s[i]);
			i++;
		}
		if (i >= n) {
			push_line(t, s + start, n - start, attr, pair);
			break;
		}
		if (i == start)	/* a glyph wider than the pane */
			i++;
		if (!code && last_space > start) {
			push_line(t, s + start, last_space - start, attr, pair);
			start = last_space + 1;
		} else {
			push_line(t, s + start, i - start, attr, pair);
			start = i;
		}
	}
}

/* Decode one sanitized line to wide characters, tabs expanded. */
static int widen(const char *p, const char *le, wchar_t **ws, size_t *cap)
{
	mbstate_t st;
	int n = 0;

	memset(&st, 0, sizeof st);
	while (p < le) {
		wchar_t c;
		size_t k = mbrtowc(&c, p, (size_t)(le - p), &st);
		if (k == (size_t)-1 || k == (size_t)-2 || k == 0) {
			c = L'?';
			k = 1;
			memset(&st, 0, sizeof st);
		}
		p += k;
		int reps = c == L'\t' ? 8 - n % 8 : 1;
		if ((size_t)(n + reps) >= *cap) {
			*cap = *cap * 2 + (size_t)reps;
			*ws = xreallocarray(*ws, *cap, sizeof **ws);
		}
		for (int r = 0; r < reps; r++)
			(*ws)[n++] = c == L'\t' ? L' ' : c;
	}
	return n;
}

/* Lay out the raw text from t->tail_off to len, continuing at
 * t->tail_line, prose in attr. last: the turn ends here (its tag and a
 * blank line follow). */
static void lay_out(struct view *t, const char *raw, size_t len, const char *tag, int w, attr_t attr,
		    bool last)
{
	struct buf san = { 0 };
	size_t off = t->tail_off;
	bool code = t->tail_code;

	if (len > off)
		sanitize_append(&san, raw + off, len - off, SAN_TEXT, ui.utf8);
	if (last && tag[0])
		buf_printf(&san, "%s[%s]", san.len && san.p[san.len - 1] != '\n' ? " " : "", tag);
	size_t cap = 256;
	wchar_t *ws = xmalloc(cap * sizeof *ws);
	const char *p = san.p ? san.p : "", *end = p + san.len;
	for (;;) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		if (!nl) {	/* the last logical line: where a stream continues */
			t->tail_off = off;
			t->tail_line = t->nlines;
			t->tail_code = code;
		}
		const char *le = nl ? nl : end;
		int n = widen(p, le, &ws, &cap);
		bool fence = n >= 3 && wcsncmp(ws, L"```", 3) == 0;
		if (fence) {
			wrap(t, ws, n, w, true, A_DIM, PAIR_CODE);
			code = !code;
		} else {
			wrap(t, ws, n, w, code, attr, code ? PAIR_CODE : 0);
		}
		if (!nl)
			break;
		p = nl + 1;
		/* The sanitizer keeps '\n' one for one: find the raw one too. */
		const char *rn = memchr(raw + off, '\n', len - off);
		off = rn ? (size_t)(rn - raw) + 1 : len;
	}
	free(ws);
	buf_free(&san);
	if (last)
		push_line(t, L"", 0, A_NORMAL, 0);	/* a blank line between turns */
}

/* A reply's thinking folded to one line: how long it is, how to see it. */
static void fold_line(struct view *t, const char *raw, const struct think *th, const char *tag, int w)
{
	char line[160];
	size_t words = think_words(raw, th->rb, th->re);

	snprintf(line, sizeof line, "%s %s %zu word%s (t in F6 %s)%s%s%s", ui.utf8 ? "\u25b8" : ">",
		 th->closed ? "thought" : "thinking:", words, words == 1 ? "" : "s",
		 th->closed ? "shows it" : "shows it as it comes", tag[0] ? " [" : "", tag, tag[0] ? "]" : "");
	wchar_t ws[160];
	int n = (int)mbstowcs(ws, line, ARRAY_LEN(ws) - 1);
	if (n < 0)
		n = 0;
	wrap(t, ws, n, w, false, A_DIM, PAIR_NOTE);
}

/* A turn's text after its header: a reply's thinking (think.h) folded
 * to one line or, shown, dim above the answer. Sets where a stream goes
 * on (lay_out's tail) to the part that grows. */
static void lay_out_turn(struct cpane *c, struct view *t, size_t i, int w)
{
	const char *raw = conv_text(c->conv, i), *tag = conv_tag(c->conv, i);
	size_t len = conv_len(c->conv, i);
	struct think th;

	think_split(raw, len, &th);
	t->phase = conv_role(c->conv, i) != ROLE_ASSISTANT || !th.has ? 0 : th.closed ? 2 : 1;
	t->shown_think = c->show_think;
	if (!t->phase) {
		lay_out(t, raw, len, tag, w, A_NORMAL, true);
		return;
	}
	if (!c->show_think) {
		fold_line(t, raw, &th, t->phase == 1 ? tag : "", w);
	} else {
		t->tail_off = th.rb;
		lay_out(t, raw, t->phase == 1 ? len : th.re, t->phase == 1 ? tag : "", w, A_DIM,
			t->phase == 1);
		if (t->phase == 1)
			return;
		push_line(t, L"", 0, A_NORMAL, 0);
	}
	if (t->phase == 1) {
		push_line(t, L"", 0, A_NORMAL, 0);
		return;
	}
	t->tail_off = th.ab;
	t->tail_line = t->nlines;
	t->tail_code = false;
	lay_out(t, raw, len, tag, w, A_NORMAL, true);
}

static void render(struct cpane *c, size_t i, int w)
{
	static const short pairs[] = { PAIR_NOTE, PAIR_USER, PAIR_MODEL, PAIR_NOTE };
	static const wchar_t *const hdrs[] = { L"# system", L"> you", L"< model", L"* heft" };
	struct view *t = &c->t[i];
	size_t len = conv_len(c->conv, i);
	const char *tag = conv_tag(c->conv, i);

	if (t->cached_w == w && t->cached_len == len && t->shown_think == c->show_think)
		return;
	/* Text was appended: lay out only its last logical line again, unless
	 * the thinking part changed how the turn looks (a folded thinking's
	 * line counts words; its end brings the answer). */
	if (t->cached_w == w && len > t->cached_len && !tag[0] && t->shown_think == c->show_think
	    && (t->phase == 0 || t->phase == 2 || c->show_think)) {
		struct think th;
		think_split(conv_text(c->conv, i), len, &th);
		int phase = conv_role(c->conv, i) != ROLE_ASSISTANT || !th.has ? 0 : th.closed ? 2 : 1;
		if (phase == t->phase) {
			drop_from(t, t->tail_line);
			t->cached_len = len;
			lay_out(t, conv_text(c->conv, i), len, tag, w, phase == 1 ? A_DIM : A_NORMAL, true);
			return;
		}
	}
	enum role r = conv_role(c->conv, i);
	drop_from(t, 0);
	push_line(t, hdrs[r], (int)wcslen(hdrs[r]), A_BOLD, pairs[r]);
	t->lines[0].header = true;
	t->tail_off = 0;
	t->tail_line = 1;
	t->tail_code = false;
	t->cached_w = w;
	t->cached_len = len;
	lay_out_turn(c, t, i, w);
}

static size_t render_all(struct cpane *c, int w)
{
	size_t total = 0;
	for (size_t i = 0; i < c->n; i++) {
		render(c, i, w);
		total += c->t[i].nlines;
	}
	return total;
}

/* Screen column of character k of a line. */
static int col_at(const struct rline *l, int k)
{
	int x = 0;
	for (int i = 0; i < k && i < l->n; i++)
		x += cw(l->s[i]);
	return x;
}

static void draw_matches(struct pane *p, struct cpane *c, const struct rline *l, int row, long idx)
{
	int from = 0, b, e;

	while (from < l->n && search_line(c->search, l->s, l->n, from, &b, &e)) {
		bool cur = idx == c->m_line && b == c->m_b;
		attr_t a = cur ? A_REVERSE | A_BOLD : A_REVERSE;
		wattr_on(p->win, a, NULL);
		if (cur && ui.color)
			wcolor_set(p->win, PAIR_WARN, NULL);
		mvwaddnwstr(p->win, row, col_at(l, b), l->s + b, e - b);
		wcolor_set(p->win, 0, NULL);
		wattr_off(p->win, a, NULL);
		from = e;
	}
	if (search_stopped(c->search) && c->stop_line < 0)
		c->stop_line = idx;
}

static void conv_draw(struct pane *p)
{
	struct cpane *c = p->priv;
	int body = p->h - 1, w = p->w;

	werase(p->win);
	size_t total = render_all(c, w);
	/* A scrolled view stays where it is while the reply grows below. */
	if (c->scroll && total > c->last_total)
		c->scroll += (int)(total - c->last_total);
	c->last_total = total;
	int maxscroll = (int)total > body ? (int)total - body : 0;
	if (c->want_line) {
		long first = c->goto_line - (c->want_top ? 0 : body / 3);
		c->scroll = (int)((long)total - body - first);
		c->want_line = c->want_top = false;
		/* It shows while following: the jump below must not pass its start. */
		long bottom = (long)total > body ? (long)total - body : 0;
		if (c->scroll <= 0) {
			if (c->follow_first < bottom || c->follow_first >= (long)total)
				c->follow_first = (long)total > body ? bottom + body / 3 : 0;
			if (c->follow_first > first)
				c->follow_first = first > bottom ? first : bottom;
		}
	}
	if (c->scroll > maxscroll)
		c->scroll = maxscroll;
	if (c->scroll < 0)
		c->scroll = 0;
	pane_title(p, "%sconversation%s%s", p->focused ? "[" : "", p->focused ? "]" : "",
		   c->sel >= 0 ? "  e: edit  Up/Down: turns" : c->scroll ? "  (scrolled: PgDn)" : "");
	long first = (long)total - body - c->scroll, idx = 0;
	int row = 1;
	if (first < 0)
		first = 0;
	if (!c->scroll) {
		/* Following a reply: when it reaches the bottom, jump a third of
		 * the pane at once rather than a line per frame. A pane that is
		 * not full width cannot be scrolled by the terminal, so every
		 * shift rewrites it all: over ssh, that is most of the bytes. */
		long f = c->follow_first;
		if (f < first || f >= (long)total)
			f = (long)total > body ? (long)total - body + body / 3 : 0;
		if (f > first && (long)total - f < body / 2)
			f = first;	/* the pane shrank or the text was cut */
		first = c->follow_first = f;
	}
	for (size_t i = 0; i < c->n && row <= body; i++) {
		struct view *t = &c->t[i];
		if (idx + (long)t->nlines <= first) {
			idx += (long)t->nlines;
			continue;
		}
		for (size_t j = 0; j < t->nlines && row <= body; j++, idx++) {
			if (idx < first)
				continue;
			struct rline *l = &t->lines[j];
			attr_t a = l->attr | (l->header && (long)i == c->sel ? A_REVERSE : 0);
			wattr_on(p->win, a, NULL);
			if (ui.color && l->pair)
				wcolor_set(p->win, l->pair, NULL);
			mvwaddnwstr(p->win, row, 0, l->s, l->n);
			if (l->header && (long)i == c->sel)
				waddstr(p->win, " (selected)");
			wcolor_set(p->win, 0, NULL);
			wattr_off(p->win, a, NULL);
			if (c->search && !l->header)
				draw_matches(p, c, l, row, idx);
			row++;
		}
	}
}

static bool conv_key(struct pane *p, int type, wint_t ch)
{
	int page = p->h > 3 ? p->h - 2 : 1;

	if (type != KEY_CODE_YES)
		return false;
	switch (ch) {
	case KEY_PPAGE: pane_conv_scroll(p, page); break;
	case KEY_NPAGE: pane_conv_scroll(p, -page); break;
	case KEY_SR: pane_conv_scroll(p, 1); break;
	case KEY_SF: pane_conv_scroll(p, -1); break;
	default: return false;
	}
	return true;
}

void pane_conv_scroll(struct pane *p, int lines)
{
	struct cpane *c = p->priv;
	c->scroll += lines;
	if (c->scroll < 0)
		c->scroll = 0;	/* the draw clamps the other end */
	p->dirty = true;
}

void pane_conv_scroll_end(struct pane *p, bool top)
{
	struct cpane *c = p->priv;
	c->scroll = top ? 1 << 30 : 0;
	p->dirty = true;
}

static void conv_event(struct pane *p, const struct msg *m)
{
	(void)p;
	(void)m;	/* the app appends tokens: it knows which turn they belong to */
}

static void view_free(struct view *t)
{
	drop_from(t, 0);
	free(t->lines);
}

static void view_insert(struct cpane *c, size_t i)
{
	if (c->n == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 16;
		c->t = xreallocarray(c->t, c->cap, sizeof *c->t);
	}
	memmove(&c->t[i + 1], &c->t[i], (c->n - i) * sizeof *c->t);
	c->n++;
	memset(&c->t[i], 0, sizeof c->t[i]);
	if (c->sel >= (long)i)
		c->sel++;
	c->scroll = 0;
}

static void view_remove(struct cpane *c, size_t i)
{
	view_free(&c->t[i]);
	memmove(&c->t[i], &c->t[i + 1], (c->n - i - 1) * sizeof *c->t);
	c->n--;
	if (c->sel == (long)i)
		c->sel = -1;
	else if (c->sel > (long)i)
		c->sel--;
	c->m_line = -1;
}

/* The conversation changed: keep one view per turn, at the same index. */
static void watch(void *arg, enum conv_change what, size_t i)
{
	struct cpane *c = arg;

	switch (what) {
	case CONV_INSERT:
		view_insert(c, i);
		break;
	case CONV_REMOVE:
		view_remove(c, i);
		break;
	case CONV_TRUNCATE:
		while (c->n > i)
			view_free(&c->t[--c->n]);
		if (c->sel >= (long)c->n)
			c->sel = -1;
		c->m_line = -1;
		c->scroll = 0;
		break;
	case CONV_CHANGE:
		c->t[i].cached_w = 0;
		break;
	case CONV_APPEND:
		break;
	}
	c->p->dirty = true;
}

static void conv_free_pane(struct pane *p)
{
	struct cpane *c = p->priv;
	conv_watch(c->conv, NULL, NULL);
	while (c->n)
		view_free(&c->t[--c->n]);
	free(c->t);
	free(c);
	free(p);
}

/* ---- selection ------------------------------------------------------------------ */

/* Index of turn i's first line (all turns rendered at the pane's width). */
static long line_of_turn(struct cpane *c, int w, size_t i)
{
	long idx = 0;
	render_all(c, w);
	for (size_t k = 0; k < i && k < c->n; k++)
		idx += (long)c->t[k].nlines;
	return idx;
}

void pane_conv_select(struct pane *p, long i)
{
	struct cpane *c = p->priv;
	c->sel = i >= 0 && (size_t)i < c->n ? i : -1;
	if (c->sel >= 0 && p->w > 0) {
		c->goto_line = line_of_turn(c, p->w, (size_t)c->sel);
		c->want_line = true;
	}
	p->dirty = true;
}

void pane_conv_show_turn(struct pane *p, size_t i)
{
	struct cpane *c = p->priv;
	if (i < c->n && p->w > 0) {
		c->goto_line = line_of_turn(c, p->w, i);
		c->want_line = c->want_top = true;
		p->dirty = true;
	}
}

long pane_conv_selected(const struct pane *p)
{
	return ((const struct cpane *)p->priv)->sel;
}

bool pane_conv_select_step(struct pane *p, int dir)
{
	struct cpane *c = p->priv;
	long i = conv_user_turn(c->conv, c->sel >= 0 ? c->sel : (long)c->n, dir);

	if (i >= 0)
		pane_conv_select(p, i);
	return i >= 0;
}

/* ---- search ---------------------------------------------------------------------- */

void pane_conv_set_search(struct pane *p, struct search *s)
{
	struct cpane *c = p->priv;
	c->search = s;
	c->m_line = -1;
	c->stop_line = -1;
	p->dirty = true;
}

struct pos {
	long line;
	int b;
};

static bool before(struct pos a, struct pos b)
{
	return a.line < b.line || (a.line == b.line && a.b < b.b);
}

bool pane_conv_search_next(struct pane *p, int dir, bool first, size_t *nth, size_t *total,
			   long *stopped_at)
{
	struct cpane *c = p->priv;
	int w = p->w > 0 ? p->w : 80, body = p->h > 1 ? p->h - 1 : 1;

	*nth = *total = 0;
	*stopped_at = -1;
	if (!c->search)
		return false;
	long nlines = (long)render_all(c, w);
	/* Where we are: the current match, or the top of the view. */
	struct pos cur = { c->m_line, c->m_b };
	if (first || c->m_line < 0) {
		long top = nlines - body - c->scroll;
		cur.line = top < 0 ? 0 : top;
		cur.b = -1;
		dir = 1;
	}
	/* One pass over every line: count the matches, and keep the first one
	 * after cur (forward), the last one before it (backward), and the
	 * extremes to wrap around to. */
	struct pos found = { -1, 0 }, wrap = { -1, 0 }, hit;
	int found_e = 0, wrap_e = 0;
	size_t k = 0, found_k = 0, wrap_k = 0;
	long idx = 0;
	double t0 = now_sec();
	for (size_t i = 0; i < c->n && !search_stopped(c->search); i++) {
		for (size_t j = 0; j < c->t[i].nlines; j++, idx++) {
			struct rline *l = &c->t[i].lines[j];
			int from = 0, b, e;
			/* Each line is bounded by PCRE2's limits; the whole pass by
			 * time, so a costly pattern over a long conversation cannot
			 * hold the keyboard either. */
			if ((idx & 63) == 63 && now_sec() - t0 > SEARCH_BUDGET_S)
				search_stop(c->search);
			if (search_stopped(c->search)) {
				if (c->stop_line < 0)
					c->stop_line = idx;
				break;
			}
			while (!l->header && from < l->n && search_line(c->search, l->s, l->n, from, &b, &e)) {
				hit = (struct pos){ idx, b };
				k++;
				bool after = first ? !before(hit, cur) : before(cur, hit);
				if (dir > 0 && after && found.line < 0)
					found = hit, found_e = e, found_k = k;
				if (dir < 0 && before(hit, cur))
					found = hit, found_e = e, found_k = k;
				if ((dir > 0 && wrap.line < 0) || dir < 0)
					wrap = hit, wrap_e = e, wrap_k = k;
				from = e;
			}
		}
	}
	*total = k;
	*stopped_at = search_stopped(c->search) ? c->stop_line : -1;
	if (!k)
		return false;
	if (found.line < 0)
		found = wrap, found_e = wrap_e, found_k = wrap_k;
	c->m_line = found.line;
	c->m_b = found.b;
	c->m_e = found_e;
	*nth = found_k;
	long top = nlines - body - c->scroll;
	if (found.line < top || found.line >= top + body) {
		c->goto_line = found.line;
		c->want_line = true;
	}
	p->dirty = true;
	return true;
}

void pane_conv_toggle_think(struct pane *p)
{
	struct cpane *c = p->priv;
	c->show_think = !c->show_think;
	c->m_line = -1;	/* the lines moved */
	p->dirty = true;
}

bool pane_conv_think_shown(const struct pane *p)
{
	return ((const struct cpane *)p->priv)->show_think;
}

static const struct pane_ops conv_ops = {
	.name = "conversation",
	.layout = pane_layout_none,	/* the cache is keyed by width already */
	.draw = conv_draw,
	.key = conv_key,
	.event = conv_event,
	.free = conv_free_pane,
};

struct pane *pane_conv_new(struct conv *conv)
{
	struct cpane *c = xcalloc(1, sizeof *c);
	struct pane *p = pane_new(&conv_ops, c);

	c->p = p;
	c->conv = conv;
	c->sel = -1;
	c->m_line = -1;
	c->stop_line = -1;
	for (size_t i = 0; i < conv_count(conv); i++)
		view_insert(c, i);
	conv_watch(conv, watch, c);
	return p;
}
