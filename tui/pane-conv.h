/* pane-conv.h - the conversation: turns the user and the model wrote, plus
 * notes from heft itself (help, errors), which are never sent to the engine.
 * The pane owns the turns; the app appends to them and reads them back to
 * build chat requests (the plain mode uses the same object without ever
 * drawing it). Text is stored raw and sanitized only when drawn. */
#ifndef HEFT_PANE_CONV_H
#define HEFT_PANE_CONV_H

#include "pane.h"
#include "role.h"

struct search;

void conv_add(struct pane *p, enum role role, const char *text);
/* Insert before turn i (i == count appends). */
void conv_insert(struct pane *p, size_t i, enum role role, const char *text);
/* Append to turn i (the reply being streamed). */
void conv_append_to(struct pane *p, size_t i, const char *text, size_t n);
void conv_set_text(struct pane *p, size_t i, const char *text);
/* Tag turn i, e.g. "stopped", shown after its text ("" removes it). */
void conv_mark(struct pane *p, size_t i, const char *tag);
const char *conv_tag(const struct pane *p, size_t i);
void conv_remove(struct pane *p, size_t i);
/* Keep turns [0, n). */
void conv_truncate(struct pane *p, size_t n);
void conv_clear(struct pane *p);
size_t conv_count(const struct pane *p);
/* Turn i's role and raw text (valid until the next change). */
enum role conv_role(const struct pane *p, size_t i);
const char *conv_text(const struct pane *p, size_t i);

/* Selecting a past turn (to edit it): -1 = none. step moves to the previous
 * (dir < 0) or next user turn and scrolls it into view; false when there is
 * none that way. */
void conv_select(struct pane *p, long i);
long conv_selected(const struct pane *p);
bool conv_select_step(struct pane *p, int dir);

/* Search: the pane borrows s (NULL ends the search). next moves to the
 * next (dir > 0, towards the end) or previous match, wrapping around, and
 * scrolls to it; first = true starts from the top of the view. Returns
 * false when nothing matches; *nth and *total count the matches. */
void conv_set_search(struct pane *p, struct search *s);
bool conv_search_next(struct pane *p, int dir, bool first, size_t *nth, size_t *total);

/* Scroll so that turn i starts at the top (a long note is read from its
 * start); a turn that fits below the others changes nothing. */
void conv_show_turn(struct pane *p, size_t i);

/* Scrolling from outside (PgUp on the input line). */
void conv_scroll(struct pane *p, int lines);	/* > 0: back in time */
void conv_scroll_end(struct pane *p, bool top);

#endif
