/* pane-conv.h - the conversation: turns the user and the model wrote, plus
 * notes from heft itself (help, errors), which are never sent to the engine.
 * The pane owns the turns; the app appends to them and reads them back to
 * build chat requests. Text is stored raw and sanitized only when drawn. */
#ifndef HEFT_PANE_CONV_H
#define HEFT_PANE_CONV_H

#include "pane.h"

enum role { ROLE_SYSTEM, ROLE_USER, ROLE_ASSISTANT, ROLE_NOTE };

void conv_add(struct pane *p, enum role role, const char *text);
/* Append to the last turn (the reply being streamed). */
void conv_append(struct pane *p, const char *text, size_t n);
/* Tag the last turn, e.g. "stopped", shown after its text. */
void conv_mark_last(struct pane *p, const char *tag);
void conv_clear(struct pane *p);
size_t conv_count(const struct pane *p);
/* Turn i's role and raw text (valid until the next change). */
enum role conv_role(const struct pane *p, size_t i);
const char *conv_text(const struct pane *p, size_t i);
const char *role_name(enum role r);

#endif
