/* paste.c - bracketed paste (see paste.h). */
#include <curses.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "paste.h"

static const wchar_t begin_mark[] = L"\033[200~";
static const char end_mark[] = "\033[201~";

void paste_key(struct paste *p, int type, wint_t ch, paste_key_fn fn, void *ctx)
{
	if (type == OK && (wchar_t)ch == begin_mark[p->mark_pos]) {
		if (!begin_mark[++p->mark_pos]) {
			p->mark_pos = 0;
			p->active = true;
			p->done = false;
			p->dropped = 0;
			buf_clear(&p->text);
			p->last = now_sec();
		}
		return;
	}
	if (p->mark_pos) {	/* not a marker after all: release what was held */
		paste_flush(p, fn, ctx);
		paste_key(p, type, ch, fn, ctx);
		return;
	}
	fn(ctx, type, ch);
}

void paste_flush(struct paste *p, paste_key_fn fn, void *ctx)
{
	int held = p->mark_pos;

	p->mark_pos = 0;
	for (int i = 0; i < held; i++)
		fn(ctx, OK, (wint_t)begin_mark[i]);
}

/* Give bytes that followed a paste back to curses, as keys. */
static void unread(const char *s, size_t n)
{
	wchar_t w[256];
	size_t k = 0;
	mbstate_t st;

	memset(&st, 0, sizeof st);
	while (n && k < ARRAY_LEN(w)) {
		size_t r = mbrtowc(&w[k], s, n, &st);
		if (r == (size_t)-1 || r == (size_t)-2 || r == 0) {
			w[k] = (unsigned char)*s;
			r = 1;
			memset(&st, 0, sizeof st);
		}
		s += r, n -= r, k++;
	}
	while (k--)	/* the last pushed is the first read */
		unget_wch(w[k]);
}

static void add(struct paste *p, const char *s, size_t n)
{
	if (p->text.len + n <= PASTE_MAX) {
		buf_append(&p->text, s, n);
		return;
	}
	for (size_t i = 0; i < n; i++)
		p->dropped += ((unsigned char)s[i] & 0xc0) != 0x80;
}

/* When the begin marker was recognised, curses had read nothing ahead of
 * it (past "ESC [ 2 0" the marker is no key's prefix, and the last '~' is
 * read on its own), so reading the terminal directly takes no byte out of
 * order. */
void paste_read(struct paste *p, int fd)
{
	char buf[65536];

	for (int rounds = 0; rounds < 64 && p->active; rounds++) {
		struct pollfd pf = { .fd = fd, .events = POLLIN };
		if (poll(&pf, 1, 0) <= 0)
			return;
		ssize_t n = read(fd, buf, sizeof buf);
		if (n <= 0)
			return;
		p->last = now_sec();
		for (ssize_t i = 0; i < n; i++) {
			if (buf[i] == end_mark[p->mark_pos]) {
				if (end_mark[++p->mark_pos])
					continue;
				p->mark_pos = 0;
				p->active = false;
				p->done = true;
				unread(buf + i + 1, (size_t)(n - i - 1));
				return;
			}
			if (p->mark_pos) {	/* held marker bytes were text */
				add(p, end_mark, (size_t)p->mark_pos);
				p->mark_pos = 0;
				i--;	/* and this byte may start a marker */
				continue;
			}
			add(p, buf + i, 1);
		}
	}
}

void paste_check_idle(struct paste *p, double now)
{
	if (p->active && now - p->last >= PASTE_IDLE_S) {
		if (p->mark_pos)
			add(p, end_mark, (size_t)p->mark_pos);
		p->mark_pos = 0;
		p->active = false;
		p->done = true;
	}
}

char *paste_take(struct paste *p, size_t *dropped)
{
	struct buf *t = &p->text;
	size_t k = 0;

	/* Terminals send a newline in a paste as CR (or CR LF). */
	for (size_t i = 0; i < t->len; i++) {
		if (t->p[i] == '\r' && i + 1 < t->len && t->p[i + 1] == '\n')
			continue;
		t->p[k++] = t->p[i] == '\r' ? '\n' : t->p[i];
	}
	char *s = xstrndup(t->p ? t->p : "", k);
	buf_free(t);
	*dropped = p->dropped;
	p->dropped = 0;
	p->done = false;
	return s;
}

void paste_free(struct paste *p)
{
	buf_free(&p->text);
}
