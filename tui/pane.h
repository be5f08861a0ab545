/* pane.h - one rectangle of the screen, with the same few callbacks for all.
 *
 * In the spirit of htop's panels: the app lays panes out by data (a table of
 * minimum sizes and collapse order), hands each the events it may care
 * about and the keys nobody else took, and asks it to draw into its own
 * window. A pane knows nothing about the others or about the engine. */
#ifndef HEFT_PANE_H
#define HEFT_PANE_H

#include <stdbool.h>
#include <wchar.h>

#include <curses.h>

#include "protocol.h"

/* What the terminal can do, decided once at startup. */
struct ui_caps {
	bool color;	/* has_colors() and NO_COLOR unset */
	bool utf8;	/* the locale's codeset is UTF-8 */
};
extern struct ui_caps ui;

/* Colour pairs (only used when ui.color). */
enum { PAIR_TITLE = 1, PAIR_USER, PAIR_MODEL, PAIR_NOTE, PAIR_CODE, PAIR_WARN, PAIR_BAR };

struct pane;
struct pane_ops {
	const char *name;
	/* The window was (re)made h x w: drop anything cached for the old size. */
	void (*layout)(struct pane *p);
	/* Draw everything into p->win (the app refreshes). */
	void (*draw)(struct pane *p);
	/* A key the app and the input line did not take; true if used. */
	bool (*key)(struct pane *p, int type, wint_t ch);
	/* An event from the engine (already filtered to the live request). */
	void (*event)(struct pane *p, const struct msg *m);
	void (*free)(struct pane *p);
};

struct pane {
	const struct pane_ops *ops;
	void *priv;
	WINDOW *win;		/* NULL while collapsed or hidden */
	int h, w;
	bool shown;		/* the user wants it (toggle) */
	bool focused;		/* keys go to it (the title shows it) */
	bool dirty;		/* needs a redraw */
	double last_draw;	/* now_sec() of the last draw (throttling) */
};

/* A pane drawing priv with ops, shown (priv is the pane's own). */
struct pane *pane_new(const struct pane_ops *ops, void *priv);
/* For panes with nothing to do there: take no key, cache nothing per size,
 * own nothing but priv (freed with the pane). */
bool pane_key_none(struct pane *p, int type, wint_t ch);
void pane_layout_none(struct pane *p);
void pane_free_priv(struct pane *p);

/* Helpers every pane uses. */
void pane_title(struct pane *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Draw n cells of a bar filled to frac (0..1) at the cursor. */
void pane_bar(WINDOW *w, int n, double frac);

/* The panes. */
struct conv;
struct pane *pane_conv_new(struct conv *conv);	/* pane-conv.h */
struct pane *pane_tokens_new(void);
struct pane *pane_experts_new(void);
struct pane *pane_io_new(void);

#endif
