/* think.c - find a reply's thinking part (think.h). */
#include <string.h>

#include "think.h"

static bool space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* The first occurrence of the NUL-terminated pat in s[0, n), or NULL. */
static const char *find(const char *s, size_t n, const char *pat)
{
	size_t k = strlen(pat);
	for (size_t i = 0; i + k <= n; i++)
		if (s[i] == pat[0] && !memcmp(s + i, pat, k))
			return s + i;
	return NULL;
}

void think_split(const char *s, size_t n, struct think *t)
{
	size_t i = 0, k = strlen(THINK_OPEN);

	memset(t, 0, sizeof *t);
	while (i < n && space(s[i]))
		i++;
	if (n - i < k) {
		t->maybe = !memcmp(s + i, THINK_OPEN, n - i);
		t->ab = t->maybe ? n : 0;
		t->rb = t->re = t->ab;
		return;
	}
	if (memcmp(s + i, THINK_OPEN, k))
		return;
	t->has = true;
	t->rb = i + k;
	const char *close = find(s + t->rb, n - t->rb, THINK_CLOSE);
	t->closed = close != NULL;
	t->re = close ? (size_t)(close - s) : n;
	t->ab = close ? t->re + strlen(THINK_CLOSE) : n;
	while (t->ab < n && space(s[t->ab]))
		t->ab++;
	while (t->rb < t->re && space(s[t->rb]))
		t->rb++;
	while (t->re > t->rb && space(s[t->re - 1]))
		t->re--;
}

size_t think_words(const char *s, size_t b, size_t e)
{
	size_t n = 0;
	for (size_t i = b; i < e; i++)
		n += !space(s[i]) && (i == b || space(s[i - 1]));
	return n;
}
