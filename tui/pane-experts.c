/* pane-experts.c - the expert cache: per-layer hit-rate bars, from the
 * engine's stats events (layer_hits, layer_misses), over the pipe or, from
 * a heft server, its progress lines (engine-http.c makes them the same
 * events). Until an engine sends them the pane says "not available"; it
 * never invents a number, and a layer the engine reports as null is shown
 * as n/a, not as zero. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "pane.h"

struct experts {
	double *hits, *misses;
	size_t n;
	bool have;
	int64_t n_expert;
	bool server;		/* the engine is a server (heft --engine URL) */
};

static void experts_event(struct pane *p, const struct msg *m)
{
	struct experts *e = p->priv;

	if (m->type == MSG_LOADED) {
		e->n_expert = m->loaded.n_expert;
		e->server = msg_numbers_scalar(&m->loaded.plan, "server", 0) > 0;
		p->dirty = true;
		return;
	}
	if (m->type != MSG_STATS)
		return;
	const struct msg_stat *h = msg_numbers_get(&m->stats.stats, "layer_hits");
	const struct msg_stat *x = msg_numbers_get(&m->stats.stats, "layer_misses");
	if (!h || !x || !h->is_array || !x->is_array)
		return;	/* keep what we had: not every stats event carries layers */
	size_t n = MIN(h->n, x->n);
	e->hits = xreallocarray(e->hits, n ? n : 1, sizeof(double));
	e->misses = xreallocarray(e->misses, n ? n : 1, sizeof(double));
	for (size_t i = 0; i < n; i++) {
		e->hits[i] = h->v[i];
		e->misses[i] = x->v[i];
	}
	e->n = n;
	e->have = true;
	p->dirty = true;
}

static void experts_draw(struct pane *p)
{
	struct experts *e = p->priv;

	werase(p->win);
	pane_title(p, "experts");
	if (!e->have) {
		mvwaddnstr(p->win, 1, 1, "not available", p->w - 1);
		if (p->h > 2)
			mvwaddnstr(p->win, 2, 1, e->server ? "(not available from this server)"
				   : "(the engine sent no cache stats)", p->w - 1);
		return;
	}
	int rows = p->h - 1;
	/* Two columns of layers when they do not fit in one. */
	int cols = (int)e->n > rows && p->w >= 40 ? 2 : 1;
	int colw = p->w / cols;
	for (size_t i = 0; i < e->n; i++) {
		int r = 1 + (int)i % rows, c = (int)i / rows;
		if (c >= cols)
			break;
		double h = e->hits[i], x = e->misses[i];
		wmove(p->win, r, c * colw);
		wprintw(p->win, "L%-3zu", i);
		if (isnan(h) || isnan(x) || h + x <= 0) {
			waddstr(p->win, " n/a");
			continue;
		}
		double rate = h / (h + x);
		int barw = colw - 11;
		if (barw > 2)
			pane_bar(p->win, barw, rate);
		wprintw(p->win, " %3.0f%%", rate * 100);
	}
}

static void experts_free(struct pane *p)
{
	struct experts *e = p->priv;
	free(e->hits);
	free(e->misses);
	free(e);
	free(p);
}

static const struct pane_ops experts_ops = {
	.name = "experts",
	.layout = pane_layout_none,
	.draw = experts_draw,
	.key = pane_key_none,
	.event = experts_event,
	.free = experts_free,
};

struct pane *pane_experts_new(void)
{
	struct experts *e = xcalloc(1, sizeof *e);
	return pane_new(&experts_ops, e);
}
