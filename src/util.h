/* util.h - small utilities shared by heft and heft-engine. */
#ifndef HEFT_UTIL_H
#define HEFT_UTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* One turn of a spin-wait: tells the core (and an SMT sibling) we wait. */
static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield");
#endif
}

/* Name used as the prefix of every diagnostic ("heft-engine: ..."). */
extern const char *heft_progname;

/* Print "progname: message" to stderr (and ": strerror(errno)" for the
 * _errno variants). die*() exit with status 1. */
void warnx_(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void warn_errno(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
_Noreturn void die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
_Noreturn void die_errno(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Allocation that never returns NULL (dies on exhaustion). */
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
void *xreallocarray(void *p, size_t n, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
int xasprintf(char **out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Aligned allocation (alignment: power of two, >= sizeof(void *)). Free with free(). */
void *xaligned_alloc(size_t alignment, size_t n);

/* Overflow-checked arithmetic: return false on overflow. */
static inline bool mul_u64(uint64_t a, uint64_t b, uint64_t *out)
{
	return !__builtin_mul_overflow(a, b, out);
}
static inline bool add_u64(uint64_t a, uint64_t b, uint64_t *out)
{
	return !__builtin_add_overflow(a, b, out);
}

/* splitmix64: seeds generators (each call advances *x); rotl64 and
 * xoshiro256_advance: what the generators of the sampler and synth are
 * built on. */
static inline uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* n rounded up to a multiple of a (a > 0). */
static inline uint64_t round_up_u64(uint64_t n, uint64_t a)
{
	return (n + a - 1) / a * a;
}

static inline uint64_t rotl64(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

/* The state transition the xoshiro256 generators share; each variant
 * reads its output from the state before it (sampler: "**", synth: "+"). */
static inline void xoshiro256_advance(uint64_t s[4])
{
	uint64_t t = s[1] << 17;
	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl64(s[3], 45);
}

/* Little-endian loads and stores, for file formats. */
static inline uint64_t get_le64(const unsigned char *p)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	uint64_t v; /* one load: the byte loop below is not always fused into one */
	memcpy(&v, p, 8);
	return v;
#else
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
#endif
}

static inline uint32_t get_le32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline void put_le64(unsigned char *p, uint64_t v)
{
	for (int i = 0; i < 8; i++, v >>= 8)
		p[i] = (unsigned char)v;
}

static inline void put_le32(unsigned char *p, uint32_t v)
{
	for (int i = 0; i < 4; i++, v >>= 8)
		p[i] = (unsigned char)v;
}

/* Growable byte buffer. Always NUL-terminated after any append. */
struct buf {
	char *p;
	size_t len, cap;
};
void buf_reserve(struct buf *b, size_t extra);
void buf_append(struct buf *b, const void *data, size_t n);
void buf_puts(struct buf *b, const char *s);
void buf_putc(struct buf *b, char c);
void buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void buf_vprintf(struct buf *b, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
void buf_clear(struct buf *b);
void buf_free(struct buf *b);

/* Monotonic time in seconds. */
double now_sec(void);

/* Parse "123", "6G", "512M", "4.5GiB", "100k" (binary units) into bytes.
 * Returns false (and leaves *out alone) on a malformed or overflowing size. */
bool parse_size(const char *s, uint64_t *out);
/* Parse a whole decimal integer in [lo, hi]; false on garbage/out of range. */
bool parse_i64(const char *s, int64_t lo, int64_t hi, int64_t *out);
bool parse_f64(const char *s, double *out);

/* Human-readable byte count: "812 B", "3.40 MiB", "14.3 GiB". Returns buf. */
char *fmt_bytes(char *buf, size_t n, uint64_t bytes);
/* The same rounded up at its last digit, for a minimum the user may copy:
 * parse_size of the figure (without the space) gives at least bytes. */
char *fmt_bytes_up(char *buf, size_t n, uint64_t bytes);

/* Read a whole (small) file; NULL with errno set on failure. */
char *read_file(const char *path, size_t *len, size_t max);

/* pread()/pwrite() that loop over short transfers and EINTR. Return bytes
 * transferred (short only at EOF for read) or -1 with errno set. */
int64_t pread_full(int fd, void *buf, size_t n, uint64_t off);
int64_t write_full(int fd, const void *buf, size_t n);

/* UTF-8: length of the valid sequence starting at s (1..4), or 0 if the bytes
 * at s (n available) do not start a valid, complete sequence. */
size_t utf8_seq_len(const unsigned char *s, size_t n);
bool utf8_valid(const char *s, size_t n);
/* Append s[0, n) to out as valid UTF-8: each byte that does not start a
 * valid sequence becomes U+FFFD, everything else is kept as it is. The one
 * repair for text that must be UTF-8 (JSON files, the protocol). */
void utf8_repair(struct buf *out, const char *s, size_t n);

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))

#endif
