/* util.c - small utilities shared by heft and heft-engine. */

#include "util.h"
#include "fileio.h"
#include "sanitize.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

const char *heft_progname = "heft";

/* A diagnostic quotes names read from files (an architecture, a tensor, a
 * key) and paths: it goes through the terminal sanitizer like any other
 * untrusted text. */
__attribute__((format(printf, 2, 0)))
static void vwarn_(int err, const char *fmt, va_list ap)
{
	static _Thread_local bool busy;
	struct buf raw = {0}, out = {0};

	if (busy) { /* out of memory while saying so: our own words, plainly */
		fprintf(stderr, "%s: ", heft_progname);
		vfprintf(stderr, fmt, ap);
		fputc('\n', stderr);
		return;
	}
	busy = true;
	buf_vprintf(&raw, fmt, ap);
	if (err)
		buf_printf(&raw, ": %s", fio_strerror(err));
	sanitize_msg(&out, raw.p, raw.len);
	fprintf(stderr, "%s: %s\n", heft_progname, out.p);
	buf_free(&raw);
	buf_free(&out);
	busy = false;
}

void warnx_(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vwarn_(0, fmt, ap);
	va_end(ap);
}

void warn_errno(const char *fmt, ...)
{
	int err = errno;
	va_list ap;
	va_start(ap, fmt);
	vwarn_(err, fmt, ap);
	va_end(ap);
}

void die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vwarn_(0, fmt, ap);
	va_end(ap);
	exit(1);
}

void die_errno(const char *fmt, ...)
{
	int err = errno;
	va_list ap;
	va_start(ap, fmt);
	vwarn_(err, fmt, ap);
	va_end(ap);
	exit(1);
}

void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p)
		die("out of memory allocating %zu bytes", n);
	return p;
}

void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);
	if (!p)
		die("out of memory allocating %zu x %zu bytes", n, size);
	return p;
}

void *xrealloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (!p)
		die("out of memory allocating %zu bytes", n);
	return p;
}

void *xreallocarray(void *p, size_t n, size_t size)
{
	size_t total;
	if (__builtin_mul_overflow(n, size, &total))
		die("allocation overflow (%zu x %zu)", n, size);
	return xrealloc(p, total);
}

char *xstrdup(const char *s)
{
	return xstrndup(s, strlen(s));
}

char *xstrndup(const char *s, size_t n)
{
	char *p = xmalloc(n + 1);
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

int xasprintf(char **out, const char *fmt, ...)
{
	struct buf b = {0};
	va_list ap;
	va_start(ap, fmt);
	buf_vprintf(&b, fmt, ap);
	va_end(ap);
	*out = b.p;
	return (int)b.len;
}

void *xaligned_alloc(size_t alignment, size_t n)
{
	void *p = NULL;
	int err = posix_memalign(&p, alignment, n ? n : alignment);
	if (err || !p)
		die("out of memory allocating %zu bytes (aligned %zu)", n, alignment);
	return p;
}

void buf_reserve(struct buf *b, size_t extra)
{
	size_t need;
	if (__builtin_add_overflow(b->len, extra + 1, &need))
		die("buffer overflow");
	if (need <= b->cap)
		return;
	size_t cap = b->cap ? b->cap : 64;
	while (cap < need)
		cap = cap > SIZE_MAX / 2 ? need : cap * 2;
	b->p = xrealloc(b->p, cap);
	b->cap = cap;
	b->p[b->len] = '\0'; /* a buffer that holds memory is always a C string, even one reserved and not yet written */
}

void buf_append(struct buf *b, const void *data, size_t n)
{
	buf_reserve(b, n);
	if (n)
		memcpy(b->p + b->len, data, n);
	b->len += n;
	b->p[b->len] = '\0';
}

void buf_puts(struct buf *b, const char *s)
{
	buf_append(b, s, strlen(s));
}

void buf_putc(struct buf *b, char c)
{
	buf_append(b, &c, 1);
}

void buf_vprintf(struct buf *b, const char *fmt, va_list ap)
{
	va_list ap2;
	va_copy(ap2, ap);
	int n = vsnprintf(NULL, 0, fmt, ap2);
	va_end(ap2);
	if (n < 0)
		return;
	buf_reserve(b, (size_t)n);
	vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
	b->len += (size_t)n;
}

void buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	buf_vprintf(b, fmt, ap);
	va_end(ap);
}

void buf_clear(struct buf *b)
{
	b->len = 0;
	if (b->p)
		b->p[0] = '\0';
}

void buf_free(struct buf *b)
{
	free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
}

double now_sec(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

bool parse_size(const char *s, uint64_t *out)
{
	if (!s || !*s)
		return false;
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || end == s || !(v >= 0) || !isfinite(v))
		return false;
	double mult = 1;
	switch (*end) {
	case 'k': case 'K': mult = 1024.0; end++; break;
	case 'm': case 'M': mult = 1024.0 * 1024; end++; break;
	case 'g': case 'G': mult = 1024.0 * 1024 * 1024; end++; break;
	case 't': case 'T': mult = 1024.0 * 1024 * 1024 * 1024; end++; break;
	case 'b': case 'B': case '\0': break;
	default: return false;
	}
	if (mult > 1) {
		if (end[0] == 'i' && (end[1] == 'B' || end[1] == 'b'))
			end += 2;
		else if (end[0] == 'B' || end[0] == 'b')
			end++;
	} else if (*end == 'b' || *end == 'B') {
		end++;
	}
	if (*end)
		return false;
	double bytes = v * mult;
	if (bytes >= 18446744073709551615.0)
		return false;
	*out = (uint64_t)bytes;
	return true;
}

bool parse_i64(const char *s, int64_t lo, int64_t hi, int64_t *out)
{
	if (!s || !*s)
		return false;
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (errno || *end || end == s || v < lo || v > hi)
		return false;
	*out = v;
	return true;
}

bool parse_f64(const char *s, double *out)
{
	if (!s || !*s)
		return false;
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || *end || end == s || !isfinite(v))
		return false;
	*out = v;
	return true;
}

static const char *const byte_unit[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};

/* The unit fmt_bytes picks for bytes (index into byte_unit) and its digits
 * after the point. */
static size_t bytes_unit(uint64_t bytes, int *decimals)
{
	double v = (double)bytes;
	size_t u = 0;
	while (v >= 1024.0 && u + 1 < ARRAY_LEN(byte_unit)) {
		v /= 1024.0;
		u++;
	}
	*decimals = v < 10 ? 2 : v < 100 ? 1 : 0;
	return u;
}

char *fmt_bytes(char *buf, size_t n, uint64_t bytes)
{
	int d;
	size_t u = bytes_unit(bytes, &d);
	if (u == 0)
		snprintf(buf, n, "%llu B", (unsigned long long)bytes);
	else
		snprintf(buf, n, "%.*f %s", d, (double)bytes / (double)(1ull << (10 * u)), byte_unit[u]);
	return buf;
}

char *fmt_bytes_up(char *buf, size_t n, uint64_t bytes)
{
	int d;
	size_t u = bytes_unit(bytes, &d);
	if (u == 0) {
		snprintf(buf, n, "%llu B", (unsigned long long)bytes);
		return buf;
	}
	/* in integers: the shown figure in units of its last digit, rounded up */
	unsigned p10 = d == 2 ? 100 : d == 1 ? 10 : 1;
	unsigned __int128 scale = (unsigned __int128)1 << (10 * u);
	unsigned __int128 q = ((unsigned __int128)bytes * p10 + scale - 1) / scale;
	unsigned long long whole = (unsigned long long)(q / p10), frac = (unsigned long long)(q % p10);
	if (d)
		snprintf(buf, n, "%llu.%0*llu %s", whole, d, frac, byte_unit[u]);
	else
		snprintf(buf, n, "%llu %s", whole, byte_unit[u]);
	return buf;
}

char *read_file(const char *path, size_t *len, size_t max)
{
	int fd = fio_open_read(path);
	if (fd < 0)
		return NULL;
	struct buf b = {0};
	char tmp[65536];
	for (;;) {
		ssize_t r = read(fd, tmp, sizeof tmp);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			int e = errno;
			close(fd);
			buf_free(&b);
			errno = e;
			return NULL;
		}
		if (r == 0)
			break;
		if (b.len + (size_t)r > max) {
			close(fd);
			buf_free(&b);
			errno = EFBIG;
			return NULL;
		}
		buf_append(&b, tmp, (size_t)r);
	}
	close(fd);
	if (!b.p)
		buf_append(&b, "", 0);
	if (len)
		*len = b.len;
	return b.p;
}

int64_t pread_full(int fd, void *buf, size_t n, uint64_t off)
{
	size_t done = 0;
	while (done < n) {
		ssize_t r = pread(fd, (char *)buf + done, n - done, (off_t)(off + done));
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (r == 0)
			break;
		done += (size_t)r;
	}
	return (int64_t)done;
}

int64_t write_full(int fd, const void *buf, size_t n)
{
	size_t done = 0;
	while (done < n) {
		ssize_t r = write(fd, (const char *)buf + done, n - done);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		done += (size_t)r;
	}
	return (int64_t)done;
}

size_t utf8_seq_len(const unsigned char *s, size_t n)
{
	if (n == 0)
		return 0;
	unsigned c = s[0];
	if (c < 0x80)
		return 1;
	size_t len;
	unsigned min;
	if ((c & 0xE0) == 0xC0) {
		len = 2;
		min = 0x80;
		c &= 0x1F;
	} else if ((c & 0xF0) == 0xE0) {
		len = 3;
		min = 0x800;
		c &= 0x0F;
	} else if ((c & 0xF8) == 0xF0) {
		len = 4;
		min = 0x10000;
		c &= 0x07;
	} else {
		return 0;
	}
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xC0) != 0x80)
			return 0;
		c = (c << 6) | (s[i] & 0x3F);
	}
	if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
		return 0;
	return len;
}

bool utf8_valid(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;
	while (i < n) {
		size_t l = utf8_seq_len(p + i, n - i);
		if (!l)
			return false;
		i += l;
	}
	return true;
}

void utf8_repair(struct buf *out, const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;

	buf_reserve(out, n);
	for (size_t i = 0; i < n;) {
		size_t l = utf8_seq_len(p + i, n - i);
		if (l) {
			buf_append(out, s + i, l);
			i += l;
		} else {
			buf_append(out, "\xEF\xBF\xBD", 3);
			i++;
		}
	}
	if (!out->p)
		buf_append(out, "", 0);
}
