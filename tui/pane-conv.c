/* pane-conv.c - the conversation pane: wrapped, scrollable, turns marked,
 * code blocks kept verbatim (hard-broken at the edge, never re-flowed). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pane-conv.h"
#include "sanitize.h"

struct rline {
	wchar_t *s;
	int n;
	attr_t attr;
	short pair;
};

struct turn {
	enum role role;
	struct buf text;
	char tag[32];
	/* Rendered lines, cached for one width and text length. */
	struct rline *lines;
	size_t nlines, cap;
	int cached_w;
	size_t cached_len;
};

struct conv {
	struct turn *t;
	size_t n, cap;
	int scroll;		/* lines above the bottom; 0 follows the reply */
};

const char *role_name(enum role r)
{
	static const char *const names[] = { "system", "user", "assistant", "note" };
	return names[r];
}

static void drop_lines(struct turn *t)
{
	for (size_t i = 0; i < t->nlines; i++)
		free(t->lines[i].s);
	t->nlines = 0;
	t->cached_w = 0;
}

static void push_line(struct turn *t, const wchar_t *s, int n, attr_t attr, short pair)
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
}

static int cw(wchar_t c)
{
	int w = wcwidth(c);
	return w < 0 ? 1 : w;
}

/* Lay out one logical line (no '\n') at width w: prose breaks at spaces,
 * code breaks exactly at the edge so it stays verbatim. */
static void wrap(struct turn *t, const wchar_t *s, int n, int w, bool code, attr_t attr, short pair)
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

static void render(struct turn *t, int w)
{
	if (t->cached_w == w && t->cached_len == t->text.len)
		return;
	drop_lines(t);
	t->cached_w = w;
	t->cached_len = t->text.len;

	static const short pairs[] = { PAIR_NOTE, PAIR_USER, PAIR_MODEL, PAIR_NOTE };
	static const wchar_t *const hdrs[] = { L"# system", L"> you", L"< model", L"* heft" };
	const wchar_t *hdr = hdrs[t->role];
	push_line(t, hdr, (int)wcslen(hdr), A_BOLD, pairs[t->role]);

	struct buf san = { 0 };
	if (t->text.len)
		sanitize_append(&san, t->text.p, t->text.len, SAN_TEXT, ui.utf8);
	if (t->tag[0]) {
		buf_printf(&san, "%s[%s]", san.len && san.p[san.len - 1] != '\n' ? " " : "", t->tag);
	}
	/* Decode to wide characters line by line, expanding tabs. */
	size_t cap = 256;
	wchar_t *ws = xmalloc(cap * sizeof *ws);
	bool code = false;
	const char *p = san.p ? san.p : "", *end = p + san.len;
	mbstate_t st;
	do {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *le = nl ? nl : end;
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
			if ((size_t)(n + reps) >= cap) {
				cap = cap * 2 + (size_t)reps;
				ws = xreallocarray(ws, cap, sizeof *ws);
			}
			for (int r = 0; r < reps; r++)
				ws[n++] = c == L'\t' ? L' ' : c;
		}
		bool fence = n >= 3 && wcsncmp(ws, L"```", 3) == 0;
		if (fence) {
			wrap(t, ws, n, w, true, A_DIM, PAIR_CODE);
			code = !code;
		} else if (code) {
			wrap(t, ws, n, w, true, A_NORMAL, PAIR_CODE);
		} else {
			wrap(t, ws, n, w, false, A_NORMAL, 0);
		}
		if (!nl)
			break;
		p = nl + 1;
	} while (true);
	free(ws);
	buf_free(&san);
	push_line(t, L"", 0, A_NORMAL, 0);	/* a blank line between turns */
}

static void conv_draw(struct pane *p)
{
	struct conv *c = p->priv;
	int body = p->h - 1, w = p->w;

	werase(p->win);
	size_t total = 0;
	for (size_t i = 0; i < c->n; i++) {
		render(&c->t[i], w);
		total += c->t[i].nlines;
	}
	int maxscroll = (int)total > body ? (int)total - body : 0;
	if (c->scroll > maxscroll)
		c->scroll = maxscroll;
	pane_title(p, "conversation%s", c->scroll ? "  (scrolled: PgDn)" : "");
	/* Line index of the first row shown. */
	long first = (long)total - body - c->scroll;
	long idx = 0;
	int row = 1;
	if (first < 0) {
		first = 0;
	}
	for (size_t i = 0; i < c->n && row <= body; i++) {
		struct turn *t = &c->t[i];
		if (idx + (long)t->nlines <= first) {
			idx += (long)t->nlines;
			continue;
		}
		for (size_t j = 0; j < t->nlines && row <= body; j++, idx++) {
			if (idx < first)
				continue;
			struct rline *l = &t->lines[j];
			wattr_on(p->win, l->attr, NULL);
			if (ui.color && l->pair)
				wcolor_set(p->win, l->pair, NULL);
			mvwaddnwstr(p->win, row++, 0, l->s, l->n);
			wcolor_set(p->win, 0, NULL);
			wattr_off(p->win, l->attr, NULL);
		}
	}
}

static bool conv_key(struct pane *p, int type, wint_t ch)
{
	struct conv *c = p->priv;
	int page = p->h > 3 ? p->h - 2 : 1;

	if (type != KEY_CODE_YES)
		return false;
	switch (ch) {
	case KEY_PPAGE: c->scroll += page; break;
	case KEY_NPAGE: c->scroll = c->scroll > page ? c->scroll - page : 0; break;
	case KEY_SR: c->scroll++; break;
	case KEY_SF: if (c->scroll) c->scroll--; break;
	default: return false;
	}
	p->dirty = true;
	return true;
}

static void conv_layout(struct pane *p)
{
	(void)p;	/* the cache is keyed by width already */
}

static void conv_event(struct pane *p, const struct msg *m)
{
	(void)p;
	(void)m;	/* the app appends tokens: it knows which turn they belong to */
}

static void turn_free(struct turn *t)
{
	drop_lines(t);
	free(t->lines);
	buf_free(&t->text);
}

void conv_clear(struct pane *p)
{
	struct conv *c = p->priv;
	for (size_t i = 0; i < c->n; i++)
		turn_free(&c->t[i]);
	c->n = 0;
	c->scroll = 0;
	p->dirty = true;
}

static void conv_free(struct pane *p)
{
	struct conv *c = p->priv;
	conv_clear(p);
	free(c->t);
	free(c);
	free(p);
}

void conv_add(struct pane *p, enum role role, const char *text)
{
	struct conv *c = p->priv;
	if (c->n == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 16;
		c->t = xreallocarray(c->t, c->cap, sizeof *c->t);
	}
	struct turn *t = &c->t[c->n++];
	memset(t, 0, sizeof *t);
	t->role = role;
	buf_puts(&t->text, text);
	c->scroll = 0;
	p->dirty = true;
}

void conv_append(struct pane *p, const char *text, size_t n)
{
	struct conv *c = p->priv;
	if (!c->n)
		return;
	buf_append(&c->t[c->n - 1].text, text, n);
	p->dirty = true;
}

void conv_mark_last(struct pane *p, const char *tag)
{
	struct conv *c = p->priv;
	if (!c->n)
		return;
	struct turn *t = &c->t[c->n - 1];
	snprintf(t->tag, sizeof t->tag, "%s", tag);
	t->cached_w = 0;
	p->dirty = true;
}

size_t conv_count(const struct pane *p)
{
	return ((const struct conv *)p->priv)->n;
}

enum role conv_role(const struct pane *p, size_t i)
{
	return ((const struct conv *)p->priv)->t[i].role;
}

const char *conv_text(const struct pane *p, size_t i)
{
	const struct turn *t = &((const struct conv *)p->priv)->t[i];
	return t->text.p ? t->text.p : "";
}

static const struct pane_ops conv_ops = {
	.name = "conversation",
	.layout = conv_layout,
	.draw = conv_draw,
	.key = conv_key,
	.event = conv_event,
	.free = conv_free,
};

struct pane *pane_conv_new(void)
{
	struct pane *p = xcalloc(1, sizeof *p);
	p->ops = &conv_ops;
	p->priv = xcalloc(1, sizeof(struct conv));
	p->shown = true;
	return p;
}
