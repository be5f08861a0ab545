/* search.c - PCRE2 over wide-character screen lines (see search.h).
 *
 * Every match runs under PCRE2's match, depth and heap limits: a pattern
 * such as (a+)+$ backtracks exponentially on a line of a's, and without a
 * bound one line costs seconds of the UI's only thread. A line that reaches
 * a limit stops the search for good (search_stopped). */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <limits.h>
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wctype.h>

#include "search.h"
#include "util.h"

/* Per line of at most a screen's width: far above what a sane pattern
 * needs there (a few hundred), a fraction of a millisecond when reached. */
#define MATCH_LIMIT 100000
#define DEPTH_LIMIT 10000
#define HEAP_LIMIT_KB 4096

struct search {
	pcre2_code *re;
	pcre2_match_data *md;
	pcre2_match_context *mc;
	bool stopped;
	char *pattern;
	/* The last line converted to UTF-8, and each character's byte offset
	 * (one more entry for the end), reused between calls. */
	struct buf u8;
	size_t *off;
	size_t off_cap;
};

static bool has_upper(const char *p)
{
	wchar_t c;
	mbstate_t st;
	memset(&st, 0, sizeof st);
	for (size_t n = strlen(p), k; n; p += k, n -= k) {
		k = mbrtowc(&c, p, n, &st);
		if (k == (size_t)-1 || k == (size_t)-2 || k == 0)
			return false;
		if (p[0] == '\\' && n > 1) {	/* \S, \W, \D are not letters */
			k = 2;
			continue;
		}
		if (iswupper((wint_t)c))
			return true;
	}
	return false;
}

struct search *search_new(const char *pattern, char *err, size_t errlen)
{
	int ec;
	PCRE2_SIZE eo;
	uint32_t flags = PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF;

	if (!*pattern) {
		snprintf(err, errlen, "empty pattern");
		return NULL;
	}
	if (!has_upper(pattern))
		flags |= PCRE2_CASELESS;
	pcre2_code *re = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED, flags, &ec, &eo, NULL);
	if (!re) {
		PCRE2_UCHAR msg[256];
		pcre2_get_error_message(ec, msg, sizeof msg);
		snprintf(err, errlen, "regex error at offset %zu: %s", (size_t)eo, (char *)msg);
		return NULL;
	}
	pcre2_jit_compile(re, PCRE2_JIT_COMPLETE);	/* a speed-up when available */
	struct search *s = xcalloc(1, sizeof *s);
	s->re = re;
	s->md = pcre2_match_data_create_from_pattern(re, NULL);
	s->mc = pcre2_match_context_create(NULL);
	if (!s->md || !s->mc)
		die("out of memory for a search");
	pcre2_set_match_limit(s->mc, MATCH_LIMIT);
	pcre2_set_depth_limit(s->mc, DEPTH_LIMIT);
	pcre2_set_heap_limit(s->mc, HEAP_LIMIT_KB);
	s->pattern = xstrdup(pattern);
	return s;
}

void search_free(struct search *s)
{
	if (!s)
		return;
	pcre2_match_data_free(s->md);
	pcre2_match_context_free(s->mc);
	pcre2_code_free(s->re);
	buf_free(&s->u8);
	free(s->off);
	free(s->pattern);
	free(s);
}

const char *search_pattern(const struct search *s)
{
	return s->pattern;
}

bool search_stopped(const struct search *s)
{
	return s->stopped;
}

void search_stop(struct search *s)
{
	s->stopped = true;
}

static void to_utf8(struct search *s, const wchar_t *line, int n)
{
	char mb[MB_LEN_MAX];

	if ((size_t)n + 1 > s->off_cap) {
		s->off_cap = (size_t)n + 1;
		s->off = xreallocarray(s->off, s->off_cap, sizeof *s->off);
	}
	buf_clear(&s->u8);
	for (int i = 0; i < n; i++) {
		s->off[i] = s->u8.len;
		/* Plain UTF-8 whatever the locale: the pattern is UTF-8 too. */
		uint32_t c = (uint32_t)line[i];
		size_t k;
		if (c < 0x80) {
			mb[0] = (char)c, k = 1;
		} else if (c < 0x800) {
			mb[0] = (char)(0xc0 | c >> 6), mb[1] = (char)(0x80 | (c & 0x3f)), k = 2;
		} else if (c < 0x10000) {
			mb[0] = (char)(0xe0 | c >> 12), mb[1] = (char)(0x80 | (c >> 6 & 0x3f));
			mb[2] = (char)(0x80 | (c & 0x3f)), k = 3;
		} else {
			mb[0] = (char)(0xf0 | c >> 18), mb[1] = (char)(0x80 | (c >> 12 & 0x3f));
			mb[2] = (char)(0x80 | (c >> 6 & 0x3f)), mb[3] = (char)(0x80 | (c & 0x3f)), k = 4;
		}
		buf_append(&s->u8, mb, k);
	}
	s->off[n] = s->u8.len;
}

/* Character index of byte offset o (o is always a character boundary). */
static int col_of(const struct search *s, int n, size_t o)
{
	int lo = 0, hi = n;
	while (lo < hi) {
		int mid = (lo + hi) / 2;
		if (s->off[mid] < o)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

bool search_line(struct search *s, const wchar_t *line, int n, int from, int *b, int *e)
{
	if (from > n || s->stopped)
		return false;
	to_utf8(s, line, n);
	size_t start = s->off[from < 0 ? 0 : from];
	while (start <= s->u8.len) {
		int rc = pcre2_match(s->re, (PCRE2_SPTR)(s->u8.p ? s->u8.p : ""), s->u8.len, start, 0,
				     s->md, s->mc);
		if (rc == PCRE2_ERROR_MATCHLIMIT || rc == PCRE2_ERROR_DEPTHLIMIT ||
		    rc == PCRE2_ERROR_HEAPLIMIT || rc == PCRE2_ERROR_NOMEMORY)
			s->stopped = true;
		if (rc < 0)
			return false;
		PCRE2_SIZE *ov = pcre2_get_ovector_pointer(s->md);
		if (ov[1] > ov[0]) {
			*b = col_of(s, n, ov[0]);
			*e = col_of(s, n, ov[1]);
			return true;
		}
		/* An empty match: try again one character further on. */
		int c = col_of(s, n, ov[0]);
		if (c >= n)
			return false;
		start = s->off[c + 1];
	}
	return false;
}
