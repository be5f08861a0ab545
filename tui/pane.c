/* pane.c - what the panes share: the constructor, the do-nothing callbacks,
 * the title line and the bars. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "pane.h"

struct pane *pane_new(const struct pane_ops *ops, void *priv)
{
	struct pane *p = xcalloc(1, sizeof *p);
	p->ops = ops;
	p->priv = priv;
	p->shown = true;
	return p;
}

bool pane_key_none(struct pane *p, int type, wint_t ch)
{
	(void)p, (void)type, (void)ch;
	return false;
}

void pane_layout_none(struct pane *p)
{
	(void)p;
}

void pane_free_priv(struct pane *p)
{
	free(p->priv);
	free(p);
}

void pane_title(struct pane *p, const char *fmt, ...)
{
	char t[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(t, sizeof t, fmt, ap);
	va_end(ap);
	attr_t a = A_REVERSE | A_BOLD;
	wattr_on(p->win, a, NULL);
	if (ui.color)
		wcolor_set(p->win, PAIR_TITLE, NULL);
	mvwhline(p->win, 0, 0, ' ', p->w);
	mvwaddnstr(p->win, 0, 1, t, p->w > 1 ? p->w - 1 : 0);
	wattr_off(p->win, a, NULL);
	wcolor_set(p->win, 0, NULL);
}

void pane_bar(WINDOW *w, int n, double frac)
{
	if (frac < 0)
		frac = 0;
	if (frac > 1)
		frac = 1;
	int fill = (int)(frac * n + 0.5);
	if (ui.color)
		wcolor_set(w, PAIR_BAR, NULL);
	for (int i = 0; i < n; i++) {
		if (i < fill && ui.color)
			wattr_on(w, A_REVERSE, NULL);
		waddch(w, i < fill ? (ui.color ? ' ' : '#') : (ui.color ? ' ' : '.'));
		wattr_off(w, A_REVERSE, NULL);
	}
	wcolor_set(w, 0, NULL);
}
