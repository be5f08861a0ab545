/* conv.c - the conversation's turns (see conv.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conv.h"
#include "util.h"

struct turn {
	enum role role;
	struct buf text;
	char tag[32];
};

struct conv {
	struct turn *t;
	size_t n, cap;
	conv_watch_fn *watch;
	void *watch_arg;
};

static void changed(struct conv *c, enum conv_change what, size_t i)
{
	if (c->watch)
		c->watch(c->watch_arg, what, i);
}

struct conv *conv_new(void)
{
	return xcalloc(1, sizeof(struct conv));
}

void conv_free(struct conv *c)
{
	if (!c)
		return;
	c->watch = NULL;
	conv_clear(c);
	free(c->t);
	free(c);
}

void conv_watch(struct conv *c, conv_watch_fn *fn, void *arg)
{
	c->watch = fn;
	c->watch_arg = arg;
}

void conv_insert(struct conv *c, size_t i, enum role role, const char *text)
{
	if (i > c->n)
		i = c->n;
	if (c->n == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 16;
		c->t = xreallocarray(c->t, c->cap, sizeof *c->t);
	}
	memmove(&c->t[i + 1], &c->t[i], (c->n - i) * sizeof *c->t);
	c->n++;
	struct turn *t = &c->t[i];
	memset(t, 0, sizeof *t);
	t->role = role;
	buf_puts(&t->text, text);
	changed(c, CONV_INSERT, i);
}

void conv_add(struct conv *c, enum role role, const char *text)
{
	conv_insert(c, c->n, role, text);
}

void conv_add_copy(struct conv *c, const struct conv *from, size_t i)
{
	conv_add(c, conv_role(from, i), conv_text(from, i));
	if (from->t[i].tag[0])
		conv_mark(c, c->n - 1, from->t[i].tag);
}

void conv_append_to(struct conv *c, size_t i, const char *text, size_t n)
{
	if (i >= c->n || !n)
		return;
	buf_append(&c->t[i].text, text, n);
	changed(c, CONV_APPEND, i);
}

void conv_set_text(struct conv *c, size_t i, const char *text)
{
	if (i >= c->n)
		return;
	buf_clear(&c->t[i].text);
	buf_puts(&c->t[i].text, text);
	changed(c, CONV_CHANGE, i);
}

void conv_mark(struct conv *c, size_t i, const char *tag)
{
	if (i >= c->n)
		return;
	snprintf(c->t[i].tag, sizeof c->t[i].tag, "%s", tag);
	changed(c, CONV_CHANGE, i);
}

void conv_remove(struct conv *c, size_t i)
{
	if (i >= c->n)
		return;
	buf_free(&c->t[i].text);
	memmove(&c->t[i], &c->t[i + 1], (c->n - i - 1) * sizeof *c->t);
	c->n--;
	changed(c, CONV_REMOVE, i);
}

void conv_truncate(struct conv *c, size_t n)
{
	while (c->n > n)
		buf_free(&c->t[--c->n].text);
	changed(c, CONV_TRUNCATE, n);
}

void conv_clear(struct conv *c)
{
	conv_truncate(c, 0);
}

size_t conv_count(const struct conv *c)
{
	return c->n;
}

enum role conv_role(const struct conv *c, size_t i)
{
	return c->t[i].role;
}

const char *conv_text(const struct conv *c, size_t i)
{
	return c->t[i].text.p ? c->t[i].text.p : "";
}

size_t conv_len(const struct conv *c, size_t i)
{
	return c->t[i].text.len;
}

const char *conv_tag(const struct conv *c, size_t i)
{
	return i < c->n ? c->t[i].tag : "";
}

long conv_user_turn(const struct conv *c, long from, int dir)
{
	int step = dir > 0 ? 1 : -1;

	for (long i = from + step; i >= 0 && i < (long)c->n; i += step)
		if (c->t[i].role == ROLE_USER)
			return i;
	return -1;
}
