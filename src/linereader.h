/* linereader.h - split a non-blocking byte stream into lines, in bounded memory.
 *
 * Feed it what read() returned (or let it read a fd), then take complete
 * lines out until it says LR_AGAIN. A line longer than the limit is never
 * buffered whole: it is reported once as LR_TOO_LONG and the rest of it, up
 * to the next '\n', is dropped as it arrives. Nothing here blocks; the
 * caller's poll() loop decides when to read. */
#ifndef HEFT_LINEREADER_H
#define HEFT_LINEREADER_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "util.h"

#define LR_DEFAULT_MAX ((size_t)16 << 20)

enum lr_status {
	LR_AGAIN,	/* no complete line buffered: feed or read more */
	LR_LINE,	/* *line, *len hold one line */
	LR_TOO_LONG,	/* a line over the limit was dropped (reported once) */
	LR_EOF,		/* lr_eof() was called and everything has been taken */
};

struct linereader {
	struct buf in;		/* unconsumed bytes live in in.p[off, in.len) */
	size_t off;
	size_t scanned;		/* bytes after off known to hold no '\n' */
	size_t max;		/* longest line accepted, without '\n' / "\r\n" */
	bool discarding;	/* dropping the tail of an over-long line */
	bool eof;
	unsigned long long n_too_long;	/* over-long lines seen, for diagnostics */
};

/* max: longest line in bytes; 0 means LR_DEFAULT_MAX. */
void lr_init(struct linereader *lr, size_t max);
void lr_free(struct linereader *lr);

/* Buffer n bytes. Take the lines out (lr_next until LR_AGAIN) before the
 * next feed: memory held then stays below max plus one feed's worth. */
void lr_feed(struct linereader *lr, const void *data, size_t n);

/* One read() of up to 64 KiB from fd into the reader. Returns the byte
 * count, 0 at end of file (and marks EOF), or -1 with errno (EAGAIN on an
 * empty non-blocking pipe, EINTR: just try again later). */
ssize_t lr_read(struct linereader *lr, int fd);

/* The input has ended: a last line without '\n' is returned as a line. */
void lr_eof(struct linereader *lr);

/* Take the next line. On LR_LINE, *line points to len bytes (the '\n' and a
 * '\r' before it removed) followed by a NUL; the line may itself contain NUL
 * bytes. It stays valid until the next call on lr. */
enum lr_status lr_next(struct linereader *lr, const char **line, size_t *len);

#endif
