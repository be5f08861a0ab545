/* paste.h - bracketed paste: tell pasted text from typing.
 *
 * A terminal in bracketed-paste mode (ESC [ ? 2004 h) wraps what is pasted
 * in ESC [ 200 ~ ... ESC [ 201 ~. Keys go through paste_key(), which holds
 * back the start of a marker and hands everything else on; once a paste
 * begins, its body is read straight from the terminal in big reads
 * (paste_read) until the end marker, and then taken as one text. So a
 * pasted newline never sends a message and a pasted "/quit" never runs,
 * and a megabyte arrives in a fraction of a second (curses reads one byte
 * per system call). */
#ifndef HEFT_PASTE_H
#define HEFT_PASTE_H

#include <stdbool.h>
#include <stddef.h>
#include <wchar.h>

#include "util.h"

#define PASTE_MAX ((size_t)4 << 20)	/* bytes kept of one paste */
#define PASTE_IDLE_S 1.0	/* a paste whose end marker never came ends anyway */

typedef void (*paste_key_fn)(void *ctx, int type, wint_t ch);

struct paste {
	int mark_pos;		/* characters of a marker matched so far */
	bool active;		/* inside a paste: call paste_read */
	bool done;		/* a paste is complete: paste_take it */
	struct buf text;
	size_t dropped;		/* characters beyond PASTE_MAX */
	double last;		/* now_sec() of the last byte */
};

/* One key as curses gave it: a marker's characters are held, other keys
 * go to fn. After the begin marker, active is set: stop reading keys. */
void paste_key(struct paste *p, int type, wint_t ch, paste_key_fn fn, void *ctx);
/* The keys ran out: held characters were typed, not a marker. */
void paste_flush(struct paste *p, paste_key_fn fn, void *ctx);
/* Read the paste's body from fd (non-blocking: only what is there). Bytes
 * after the end marker are given back to curses. */
void paste_read(struct paste *p, int fd);
/* End a paste whose end marker did not come in PASTE_IDLE_S. */
void paste_check_idle(struct paste *p, double now);
/* The pasted text, newlines as '\n' (caller frees); clears done. */
char *paste_take(struct paste *p, size_t *dropped);
void paste_free(struct paste *p);

#endif
