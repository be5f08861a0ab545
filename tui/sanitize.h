/* sanitize.h - make untrusted model output safe to show on a terminal.
 *
 * The engine relays whatever the model produced; a model can emit escape
 * sequences that would move the cursor, retitle the window or worse. Text
 * goes through here before any of it reaches curses: control characters
 * become visible notations (ESC is "^[", DEL "^?", C1 controls "<9B>",
 * bidirectional overrides "<U+202E>"), invalid UTF-8 becomes U+FFFD, and
 * nothing below 0x20 survives except the layout characters the mode keeps. */
#ifndef HEFT_SANITIZE_H
#define HEFT_SANITIZE_H

#include <stdbool.h>
#include <stddef.h>

#include "util.h"

enum san_mode {
	SAN_TEXT,	/* keep '\n' and '\t' for the wrapper to lay out */
	SAN_INLINE,	/* one line: '\n' -> "\n", '\t' -> "\t" as two glyphs */
};

/* Append the display form of s[0, n) to out. utf8: the terminal can show
 * UTF-8; when false every non-ASCII character becomes '?'. */
void sanitize_append(struct buf *out, const char *s, size_t n, enum san_mode mode,
		     bool utf8);

#endif
