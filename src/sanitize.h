/* sanitize.h - make untrusted text safe to show on a terminal.
 *
 * Model output, names and strings read from files, an engine's or a
 * server's messages: any of them can hold escape sequences that would move
 * the cursor, retitle the window or worse. Such text goes through here
 * before it reaches a terminal (curses or a plain stream): control characters
 * become visible notations (ESC is "^[", DEL "^?", C1 controls "<9B>",
 * bidirectional overrides "<U+202E>"), invalid UTF-8 becomes U+FFFD, and
 * nothing below 0x20 survives except the layout characters the mode keeps. */
#ifndef HEFT_SANITIZE_H
#define HEFT_SANITIZE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "util.h"

enum san_mode {
	SAN_TEXT,	/* keep '\n' and '\t' for the wrapper to lay out */
	SAN_INLINE,	/* one line: '\n' -> "\n", '\t' -> "\t" as two glyphs */
};

/* Append the display form of s[0, n) to out. utf8: the terminal can show
 * UTF-8; when false every non-ASCII character becomes '?'. */
void sanitize_append(struct buf *out, const char *s, size_t n, enum san_mode mode,
		     bool utf8);

/* The same for a message (SAN_TEXT), whatever the locale: every printable
 * character is kept, since a message is not laid out by width. */
void sanitize_msg(struct buf *out, const char *s, size_t n);

/* Write a stream of pieces (model output cut anywhere, even inside a
 * character) to fp; with escape, C0 controls but '\n' and '\t', DEL and C1
 * controls are shown as "^X" and every other byte passes, so a character
 * split over two calls still arrives whole. Without escape: as it is (the
 * output is not a terminal). */
void sanitize_write(FILE *fp, const char *s, size_t n, bool escape);

#endif
