/* linereader.c - bounded, non-blocking line splitting for pipes.
 *
 * A peer that prints garbage without newlines must cost us neither unbounded
 * memory nor a stall: as soon as the unterminated tail grows past the limit
 * it is thrown away, reported once, and bytes are dropped until the next
 * '\n', after which normal lines flow again. */
#include "linereader.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LR_READ_CHUNK ((size_t)64 << 10)

/* An idle reader gives back a buffer a burst made big. */
#define LR_KEEP_CAP ((size_t)1 << 20)

void lr_init(struct linereader *lr, size_t max)
{
	memset(lr, 0, sizeof *lr);
	lr->max = max ? max : LR_DEFAULT_MAX;
}

void lr_free(struct linereader *lr)
{
	buf_free(&lr->in);
	memset(lr, 0, sizeof *lr);
}

/* Drop everything buffered (consumed or not). */
static void drop_all(struct linereader *lr)
{
	if (lr->in.cap > LR_KEEP_CAP)
		buf_free(&lr->in);
	else
		buf_clear(&lr->in);
	lr->off = lr->scanned = 0;
}

/* Move the unconsumed bytes to the front so the buffer does not creep. */
static void compact(struct linereader *lr)
{
	size_t avail = lr->in.len - lr->off;

	if (avail == 0) {
		drop_all(lr);
		return;
	}
	if (lr->off == 0)
		return;
	memmove(lr->in.p, lr->in.p + lr->off, avail);
	lr->in.len = avail;
	lr->in.p[avail] = '\0';
	lr->off = 0;
}

void lr_feed(struct linereader *lr, const void *data, size_t n)
{
	const char *p = data;

	/* While discarding (and with nothing from lr_read still to sift), skip
	 * bytes here so they are never buffered. */
	if (lr->discarding && n && lr->off == lr->in.len) {
		const char *nl = memchr(p, '\n', n);
		if (!nl)
			return;
		lr->discarding = false;
		n -= (size_t)(nl + 1 - p);
		p = nl + 1;
	}
	if (n)
		buf_append(&lr->in, p, n);
}

ssize_t lr_read(struct linereader *lr, int fd)
{
	buf_reserve(&lr->in, LR_READ_CHUNK);
	ssize_t n = read(fd, lr->in.p + lr->in.len, LR_READ_CHUNK);
	if (n > 0) {
		lr->in.len += (size_t)n;
		lr->in.p[lr->in.len] = '\0';
	} else if (n == 0) {
		lr->eof = true;
	}
	return n;
}

void lr_eof(struct linereader *lr)
{
	lr->eof = true;
}

/* Hand out in.p[off, off + n) as a line and consume it plus skip bytes. */
static enum lr_status take(struct linereader *lr, size_t n, size_t skip, const char **line,
			   size_t *len)
{
	char *start = lr->in.p + lr->off;

	lr->off += n + skip;
	lr->scanned = 0;
	if (n && start[n - 1] == '\r')
		n--;
	if (n > lr->max) {
		lr->n_too_long++;
		return LR_TOO_LONG;
	}
	start[n] = '\0';
	*line = start;
	*len = n;
	return LR_LINE;
}

enum lr_status lr_next(struct linereader *lr, const char **line, size_t *len)
{
	if (!lr->in.p)	/* nothing buffered yet (or after a drop) */
		return lr->eof ? LR_EOF : LR_AGAIN;
	if (lr->discarding) {
		char *start = lr->in.p + lr->off;
		char *nl = memchr(start, '\n', lr->in.len - lr->off);
		if (!nl) {
			drop_all(lr);
			return lr->eof ? LR_EOF : LR_AGAIN;
		}
		lr->off += (size_t)(nl + 1 - start);
		lr->discarding = false;
		lr->scanned = 0;
	}

	char *start = lr->in.p + lr->off;
	size_t avail = lr->in.len - lr->off;
	/* Resume the search where the last call stopped: a long line arriving
	 * in tiny pieces must not be rescanned from its start every time. */
	char *nl = avail ? memchr(start + lr->scanned, '\n', avail - lr->scanned) : NULL;
	if (nl)
		return take(lr, (size_t)(nl - start), 1, line, len);
	lr->scanned = avail;

	/* max + 1: the last byte may be the '\r' of a "\r\n" still to come. */
	if (avail > lr->max + 1) {
		drop_all(lr);
		lr->discarding = !lr->eof;
		lr->n_too_long++;
		return LR_TOO_LONG;
	}
	if (lr->eof) {
		if (avail)
			return take(lr, avail, 0, line, len);
		drop_all(lr);
		return LR_EOF;
	}
	compact(lr);
	return LR_AGAIN;
}
