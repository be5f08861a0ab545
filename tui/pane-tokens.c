/* pane-tokens.c - the raw token stream: id, latency, text, newest last.
 * Tokens that waited on the disk are marked '*' and drawn bold. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pane.h"
#include "sanitize.h"

#define RING 512

struct tok {
	int64_t tok;
	double t_ms, io_ms;
	char text[64];		/* sanitized, one line */
};

struct tokens {
	struct tok ring[RING];
	size_t n;		/* total seen since the last clear */
	size_t base;		/* the first token shown */
	double sum_ms;
};

static void tokens_event(struct pane *p, const struct msg *m)
{
	struct tokens *t = p->priv;

	if (m->type != MSG_TOKEN)
		return;
	struct tok *k = &t->ring[t->n % RING];
	k->tok = m->token.tok;
	k->t_ms = m->token.t_ms;
	k->io_ms = m->token.has_io_wait ? m->token.io_wait_ms : NAN;
	struct buf b = { 0 };
	sanitize_append(&b, m->token.text, strlen(m->token.text), SAN_INLINE, ui.utf8);
	/* Cut on a character boundary so the copy stays valid UTF-8. */
	size_t len = b.len;
	if (len > sizeof k->text - 1) {
		len = sizeof k->text - 1;
		while (len && ((unsigned char)b.p[len] & 0xc0) == 0x80)
			len--;
	}
	memcpy(k->text, b.p ? b.p : "", len);
	k->text[len] = '\0';
	buf_free(&b);
	t->n++;
	t->sum_ms += m->token.t_ms;
	p->dirty = true;
}

static void tokens_draw(struct pane *p)
{
	struct tokens *t = p->priv;
	int body = p->h - 1;

	werase(p->win);
	if (t->n)
		pane_title(p, "tokens  %zu  avg %.1f ms", t->n, t->sum_ms / (double)t->n);
	else
		pane_title(p, "tokens");
	if (!t->n) {
		mvwaddnstr(p->win, 1, 1, "(none yet)", p->w - 1);
		return;
	}
	/* Newest last, jumping a third of the pane when it is full rather
	 * than shifting every line for every token (see pane-conv.c). */
	if (t->base > t->n || t->n - t->base > (size_t)body || t->n - t->base > RING)
		t->base = t->n > (size_t)body ? t->n - (size_t)body + (size_t)body / 3 : 0;
	if (t->n - t->base > RING)
		t->base = t->n - RING;
	size_t shown = t->n - t->base;
	for (size_t i = 0; i < shown; i++) {
		const struct tok *k = &t->ring[(t->base + i) % RING];
		bool disk = !isnan(k->io_ms) && k->io_ms > 0;
		char line[160], id[24] = "     -";	/* a server sends text, not ids */
		if (k->tok >= 0)
			snprintf(id, sizeof id, "%6lld", (long long)k->tok);
		snprintf(line, sizeof line, "%s %7.1fms%c \"%s\"", id, k->t_ms, disk ? '*' : ' ', k->text);
		if (disk)
			wattr_on(p->win, A_BOLD, NULL);
		if (disk && ui.color)
			wcolor_set(p->win, PAIR_WARN, NULL);
		mvwaddnstr(p->win, 1 + (int)i, 0, line, p->w);
		wcolor_set(p->win, 0, NULL);
		wattr_off(p->win, A_BOLD, NULL);
	}
}

static const struct pane_ops tokens_ops = {
	.name = "tokens",
	.layout = pane_layout_none,
	.draw = tokens_draw,
	.key = pane_key_none,
	.event = tokens_event,
	.free = pane_free_priv,
};

struct pane *pane_tokens_new(void)
{
	return pane_new(&tokens_ops, xcalloc(1, sizeof(struct tokens)));
}
