/* think.h - a reply's thinking and its answer, apart.
 *
 * A reasoning model's reply is "<think>R</think>A": local models write it
 * so, and heft's HTTP engine writes a server's reasoning_content (or
 * ollama's thinking) the same way, so the conversation, the session file
 * and the panes hold both kinds alike. Only a <think> at the start of the
 * reply (after white space) opens a thinking part. */
#ifndef HEFT_THINK_H
#define HEFT_THINK_H

#include <stdbool.h>
#include <stddef.h>

#define THINK_OPEN "<think>"
#define THINK_CLOSE "</think>"

struct think {
	bool has;	/* the reply begins with <think> */
	bool maybe;	/* not yet known: the text so far could still become "<think>" */
	bool closed;	/* </think> came */
	size_t rb, re;	/* the reasoning: [rb, re), white space trimmed */
	size_t ab;	/* where the answer begins (n while still thinking) */
};

/* Split s[0, n) (a reply, whole or still streaming). Without a thinking
 * part the answer is all of it: ab = 0. */
void think_split(const char *s, size_t n, struct think *t);

/* Whitespace-separated words in s[b, e), for "thought for 120 words". */
size_t think_words(const char *s, size_t b, size_t e);

#endif
