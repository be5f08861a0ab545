/* pane-conv.h - the conversation pane: draws a conversation (conv.h), which
 * it borrows and watches; it keeps only what drawing needs (the turns laid
 * out for its width, the scroll position, the selected turn, the current
 * search match). */
#ifndef HEFT_PANE_CONV_H
#define HEFT_PANE_CONV_H

#include "pane.h"

struct conv;
struct search;

/* pane_conv_new(conv) is in pane.h; conv must outlive the pane. */

/* Selecting a past turn (to edit it): -1 = none. step moves to the previous
 * (dir < 0) or next user turn and scrolls it into view; false when there is
 * none that way. */
void pane_conv_select(struct pane *p, long i);
long pane_conv_selected(const struct pane *p);
bool pane_conv_select_step(struct pane *p, int dir);

/* Search: the pane borrows s (NULL ends the search). next moves to the
 * next (dir > 0, towards the end) or previous match, wrapping around, and
 * scrolls to it; first = true starts from the top of the view. Returns
 * false when nothing matches; *nth and *total count the matches. */
void pane_conv_set_search(struct pane *p, struct search *s);
/* *stopped_at: -1, or the screen line where a too costly pattern was given
 * up (the matches counted are then those before it). */
bool pane_conv_search_next(struct pane *p, int dir, bool first, size_t *nth, size_t *total,
			   long *stopped_at);

/* Scroll so that turn i starts at the top (a long note is read from its
 * start); a turn that fits below the others changes nothing. */
void pane_conv_show_turn(struct pane *p, size_t i);

/* Show or fold the thinking of every reply (think.h): folded, it is one
 * line under the reply's header, saying how long it is. */
void pane_conv_toggle_think(struct pane *p);
bool pane_conv_think_shown(const struct pane *p);

/* Scrolling from outside (PgUp on the input line). */
void pane_conv_scroll(struct pane *p, int lines);	/* > 0: back in time */
void pane_conv_scroll_end(struct pane *p, bool top);

#endif
