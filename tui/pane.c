/* pane.c - helpers shared by the panes. */
#include <stdarg.h>
#include <stdio.h>

#include "pane.h"

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
