/* pane-io.c - I/O and memory from the engine's stats events: a read-rate
 * sparkline, I/O-wait share, RSS against the budget. Each line appears only
 * when the engine sent its numbers; "not available" until then. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "pane.h"

#define HIST 128

struct io {
	double mbs[HIST];	/* read_mb_s history, NaN = not sent */
	size_t n;
	double io_wait, compute, rss, budget;
	bool have;
	bool server;		/* the engine is a server (heft --engine URL) */
};

static void io_event(struct pane *p, const struct msg *m)
{
	struct io *o = p->priv;

	if (m->type == MSG_LOADED) {
		o->server = msg_numbers_scalar(&m->loaded.plan, "server", 0) > 0;
		double b = msg_numbers_scalar(&m->loaded.plan, "budget", NAN);
		if (!isnan(b))
			o->budget = b;
		return;
	}
	if (m->type != MSG_STATS)
		return;
	const struct msg_numbers *s = &m->stats.stats;
	double mbs = msg_numbers_scalar(s, "read_mb_s", NAN);
	o->io_wait = msg_numbers_scalar(s, "io_wait_ms", NAN);
	o->compute = msg_numbers_scalar(s, "compute_ms", NAN);
	o->rss = msg_numbers_scalar(s, "rss", NAN);
	double b = msg_numbers_scalar(s, "budget", NAN);
	if (!isnan(b))
		o->budget = b;
	o->mbs[o->n++ % HIST] = mbs;
	o->have = !isnan(mbs) || !isnan(o->io_wait) || !isnan(o->rss) || o->have;
	p->dirty = true;
}

static void sparkline(WINDOW *w, const struct io *o, int width)
{
	static const char *const blocks[] = { "\u2581", "\u2582", "\u2583", "\u2584",
					      "\u2585", "\u2586", "\u2587", "\u2588" };
	static const char ascii[] = "_.-:=+*#";
	size_t n = MIN(o->n, (size_t)MIN(width, HIST));
	double max = 0;

	for (size_t i = 0; i < n; i++) {
		double v = o->mbs[(o->n - n + i) % HIST];
		if (!isnan(v) && v > max)
			max = v;
	}
	for (size_t i = 0; i < n; i++) {
		double v = o->mbs[(o->n - n + i) % HIST];
		if (isnan(v)) {
			waddch(w, ' ');
			continue;
		}
		int k = max > 0 ? (int)(v / max * 7 + 0.5) : 0;
		if (ui.utf8)
			waddstr(w, blocks[k]);
		else
			waddch(w, (chtype)ascii[k]);
	}
}

static void io_draw(struct pane *p)
{
	struct io *o = p->priv;
	int r = 1;
	char b1[32], b2[32];

	werase(p->win);
	pane_title(p, "I/O & memory");
	if (!o->have) {
		mvwaddnstr(p->win, 1, 1, o->server ? "not available from this server" : "not available",
			   p->w - 1);
		return;
	}
	double last = o->n ? o->mbs[(o->n - 1) % HIST] : NAN;
	if (!isnan(last) && r < p->h) {
		mvwprintw(p->win, r++, 0, "read %7.1f MB/s", last);
		if (r < p->h) {
			wmove(p->win, r++, 0);
			sparkline(p->win, o, p->w);
		}
	}
	if (!isnan(o->io_wait) && !isnan(o->compute) && o->io_wait + o->compute > 0 && r < p->h)
		mvwprintw(p->win, r++, 0, "io wait %3.0f%%", 100 * o->io_wait / (o->io_wait + o->compute));
	if (!isnan(o->rss) && r < p->h) {
		fmt_bytes(b1, sizeof b1, (uint64_t)o->rss);
		if (o->budget > 0) {
			fmt_bytes(b2, sizeof b2, (uint64_t)o->budget);
			mvwprintw(p->win, r++, 0, "rss %s / %s", b1, b2);
			if (r < p->h) {
				wmove(p->win, r++, 0);
				pane_bar(p->win, p->w - 1, o->rss / o->budget);
			}
		} else {
			mvwprintw(p->win, r++, 0, "rss %s", b1);
		}
	}
}

static const struct pane_ops io_ops = {
	.name = "io",
	.layout = pane_layout_none,
	.draw = io_draw,
	.key = pane_key_none,
	.event = io_event,
	.free = pane_free_priv,
};

struct pane *pane_io_new(void)
{
	struct io *o = xcalloc(1, sizeof *o);
	o->budget = NAN;
	return pane_new(&io_ops, o);
}
