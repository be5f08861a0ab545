/* conv.h - the conversation: turns the user and the model wrote, plus notes
 * from heft itself (help, errors), which are never sent to the engine.
 *
 * The model of the conversation, apart from any screen: chat appends to it
 * and builds requests from it (in the full screen and the plain mode alike),
 * the session file is read into one and written from one, and the
 * conversation pane draws it.
 * Text is stored raw (sanitized only when shown). One watcher (the pane) is
 * told of every change, to keep what it derived from the turns in step. */
#ifndef HEFT_CONV_H
#define HEFT_CONV_H

#include <stdbool.h>
#include <stddef.h>

#include "role.h"

struct conv;

enum conv_change {
	CONV_INSERT,	/* turn i is new (those after it moved up one) */
	CONV_REMOVE,	/* turn i is gone (those after it moved down one) */
	CONV_TRUNCATE,	/* turns from i on are gone */
	CONV_CHANGE,	/* turn i's text was replaced or its tag changed */
	CONV_APPEND,	/* text was appended to turn i */
};
typedef void conv_watch_fn(void *arg, enum conv_change what, size_t i);

struct conv *conv_new(void);
void conv_free(struct conv *c);
/* fn (NULL: none) is called after each change. */
void conv_watch(struct conv *c, conv_watch_fn *fn, void *arg);

void conv_add(struct conv *c, enum role role, const char *text);
/* Append a copy of turn i of from (role, text, tag). */
void conv_add_copy(struct conv *c, const struct conv *from, size_t i);
/* Insert before turn i (i == count appends). */
void conv_insert(struct conv *c, size_t i, enum role role, const char *text);
/* Append to turn i (the reply being streamed). */
void conv_append_to(struct conv *c, size_t i, const char *text, size_t n);
void conv_set_text(struct conv *c, size_t i, const char *text);
/* Tag turn i, e.g. "stopped", shown after its text ("" removes it). */
void conv_mark(struct conv *c, size_t i, const char *tag);
void conv_remove(struct conv *c, size_t i);
/* Keep turns [0, n). */
void conv_truncate(struct conv *c, size_t n);
void conv_clear(struct conv *c);

size_t conv_count(const struct conv *c);
/* Turn i's role, raw text and its length, tag ("" for none); valid until
 * the next change. */
enum role conv_role(const struct conv *c, size_t i);
const char *conv_text(const struct conv *c, size_t i);
size_t conv_len(const struct conv *c, size_t i);
const char *conv_tag(const struct conv *c, size_t i);

/* The user turn nearest before (dir < 0) or after from (-1 or count: from
 * an end); -1 when there is none that way. Those are the turns to edit. */
long conv_user_turn(const struct conv *c, long from, int dir);

#endif
