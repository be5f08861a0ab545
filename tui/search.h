/* search.h - a PCRE2 regex matched against the conversation's screen lines.
 *
 * Lines are wide-character strings (what the conversation pane draws), so
 * matches come back as character columns. The pattern is UTF-8 with
 * Unicode properties; it is case-insensitive unless it has a capital letter
 * ("smart case", as in less -i and vim). A match never spans two screen
 * lines. */
#ifndef HEFT_SEARCH_H
#define HEFT_SEARCH_H

#include <stdbool.h>
#include <stddef.h>
#include <wchar.h>

struct search;

/* NULL with PCRE2's message and the offset in err when pattern is invalid. */
struct search *search_new(const char *pattern, char *err, size_t errlen);
void search_free(struct search *s);
const char *search_pattern(const struct search *s);

/* First match in line[0, n) starting at or after column from: true with
 * [*b, *e) set. Empty matches are skipped. A line that costs a match more
 * than PCRE2's limits allow stops the search: this and every later call
 * then return false at once. */
bool search_line(struct search *s, const wchar_t *line, int n, int from, int *b, int *e);

/* The pattern proved too costly (or the caller gave up on it): no more
 * matches will be looked for. */
bool search_stopped(const struct search *s);
void search_stop(struct search *s);

#endif
