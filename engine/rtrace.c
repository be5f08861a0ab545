/* rtrace.c - routing traces written and read back (see rtrace.h). */
#include "rtrace.h"

#include "fileio.h"
#include "gguf.h"
#include "plan.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define RT_BUF (1u << 20)
#define RT_ROOM 64 /* the most one record field or number takes */

struct rtrace {
	int fd;
	char *path;
	char *buf;
	size_t len, cap;
	size_t call_at; /* where the current call's records start in buf */
	int err;        /* the first write error's errno */
};

/* Write buf[0, n) and keep the rest, moved to the front. */
static void flush(struct rtrace *t, size_t n)
{
	if (n && !t->err && write_full(t->fd, t->buf, n) < 0)
		t->err = errno ? errno : EIO;
	memmove(t->buf, t->buf + n, t->len - n);
	t->len -= n;
	t->call_at -= n;
}

/* Room for RT_ROOM more bytes. Only what came before the current call
 * goes to the file: the call stays in memory until the next one begins,
 * so that a cancelled one can be taken back (rtrace_drop); a call that
 * fills half the buffer gets a larger one. */
static char *room(struct rtrace *t)
{
	if (t->len + RT_ROOM > t->cap) {
		flush(t, t->call_at);
		if (t->len + RT_ROOM > t->cap / 2) {
			t->cap *= 2;
			t->buf = xrealloc(t->buf, t->cap);
		}
	}
	return t->buf + t->len;
}

static void put_str(struct rtrace *t, const char *s)
{
	for (; *s; s++) {
		room(t);
		t->buf[t->len++] = *s;
	}
}

/* " N": snprintf per number would be the slow part of a long prompt. */
static void put_num(struct rtrace *t, int v)
{
	char *p = room(t), tmp[12];
	int n = 0;
	unsigned u = v < 0 ? (unsigned)-(int64_t)v : (unsigned)v;
	do
		tmp[n++] = (char)('0' + u % 10);
	while ((u /= 10));
	*p++ = ' ';
	if (v < 0)
		*p++ = '-';
	while (n)
		*p++ = tmp[--n];
	t->len = (size_t)(p - t->buf);
}

static void put_line_end(struct rtrace *t)
{
	room(t);
	t->buf[t->len++] = '\n';
}

static void header(struct rtrace *t, const struct rtrace_model *rm, const struct model_part_id *ids)
{
	char line[256];
	put_str(t, "heft-routing-trace 1\nmodel ");
	put_str(t, rm->path);
	put_line_end(t);
	for (size_t i = 0; i < rm->g->n_parts; i++) {
		snprintf(line, sizeof line, "part %zu %" PRIu64 " %" PRIu64 " %016" PRIx64 " %016" PRIx64 "\n", i,
			 ids[i].file_size, ids[i].meta_bytes, ids[i].meta_hash, ids[i].data_hash);
		put_str(t, line);
	}
	snprintf(line, sizeof line, "shape %d %d %d\nmoe", rm->n_layer, rm->n_expert, rm->n_expert_used);
	put_str(t, line);
	for (int l = 0; l < rm->n_layer; l++)
		if (rm->moe[l])
			put_num(t, l);
	put_line_end(t);
	const struct weights_plan *p = rm->plan;
	uint64_t cache = (uint64_t)p->n_slots * p->slot_bytes;
	snprintf(line, sizeof line, "plan %s %" PRIu64 " %" PRIu64 " %d %s\n", weights_io_names[p->io], p->slot_bytes,
		 p->total_bytes > cache ? p->total_bytes - cache : 0, p->io == WIO_STREAM ? p->n_slots : 0, rm->policy);
	put_str(t, line);
}

struct rtrace *rtrace_open(const char *path, const struct rtrace_model *rm, char *err, size_t errlen)
{
	struct model_part_id *ids = xcalloc(rm->g->n_parts ? rm->g->n_parts : 1, sizeof *ids);
	if (model_identity(rm->g, ids, err, errlen) < 0) {
		free(ids);
		return NULL;
	}
	/* In place, like a log: written as the run goes, kept if it dies. */
	int fd = fio_open_write(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0) {
		snprintf(err, errlen, "--trace-routing %s: %s", path, fio_strerror(errno));
		free(ids);
		return NULL;
	}
	struct rtrace *t = xcalloc(1, sizeof *t);
	t->fd = fd;
	t->path = xstrdup(path);
	t->buf = xmalloc(RT_BUF);
	t->cap = RT_BUF;
	header(t, rm, ids);
	t->call_at = t->len;
	free(ids);
	return t;
}

int rtrace_close(struct rtrace *t, char *err, size_t errlen)
{
	if (!t)
		return 0;
	t->call_at = t->len;
	flush(t, t->len);
	if (close(t->fd) < 0 && !t->err)
		t->err = errno;
	int rc = 0;
	if (t->err) {
		snprintf(err, errlen, "--trace-routing %s: %s", t->path, fio_strerror(t->err));
		rc = -1;
	}
	free(t->buf);
	free(t->path);
	free(t);
	return rc;
}

void rtrace_call(struct rtrace *t, int n, bool prompt)
{
	t->call_at = t->len;
	put_str(t, prompt ? "c p" : "c d");
	put_num(t, n);
	put_line_end(t);
}

static void record(struct rtrace *t, const char *tag, int layer, const int *ids, int n)
{
	put_str(t, tag);
	put_num(t, layer);
	for (int i = 0; i < n; i++)
		put_num(t, ids[i]);
	put_line_end(t);
}

void rtrace_route(struct rtrace *t, int layer, const int *sel, int n, int k)
{
	record(t, "r", layer, sel, n * k);
}

void rtrace_guess(struct rtrace *t, int layer, const int *experts, int n)
{
	record(t, "n", layer, experts, n);
}

void rtrace_drop(struct rtrace *t)
{
	t->len = t->call_at;
}

/* ---- reading ------------------------------------------------------------ */

struct reader {
	struct rtrace_data *d;
	int line;
	char *err;
	size_t errlen;
};

static int bad(struct reader *r, const char *what)
{
	snprintf(r->err, r->errlen, "line %d: %s", r->line, what);
	return -1;
}

/* The next space-separated number of *s, in [lo, hi]. */
static bool next_num(char **s, int64_t lo, int64_t hi, int64_t *v)
{
	char *p = *s, *end;
	while (*p == ' ')
		p++;
	if (*p < '0' || *p > '9')
		if (*p != '-')
			return false;
	errno = 0;
	long long x = strtoll(p, &end, 10);
	if (end == p || errno || x < lo || x > hi)
		return false;
	*s = end;
	*v = x;
	return true;
}

static bool at_end(const char *s)
{
	while (*s == ' ' || *s == '\r')
		s++;
	return !*s;
}

static int read_shape(struct reader *r, char *s)
{
	struct rtrace_data *d = r->d;
	int64_t a, b, c;
	if (d->n_layer || !next_num(&s, 1, 1 << 16, &a) || !next_num(&s, 1, 1 << 16, &b) ||
	    !next_num(&s, 1, b, &c) || !at_end(s))
		return bad(r, "want 'shape LAYERS EXPERTS USED' once");
	d->n_layer = (int)a;
	d->n_expert = (int)b;
	d->n_used = (int)c;
	d->moe_index = xmalloc((size_t)a * sizeof *d->moe_index);
	for (int l = 0; l < d->n_layer; l++)
		d->moe_index[l] = -1;
	return 0;
}

static int read_moe(struct reader *r, char *s)
{
	struct rtrace_data *d = r->d;
	if (!d->n_layer || d->moe)
		return bad(r, "want one 'moe' line after 'shape'");
	d->moe = xmalloc((size_t)d->n_layer * sizeof *d->moe);
	int64_t l;
	while (!at_end(s)) {
		if (!next_num(&s, 0, d->n_layer - 1, &l) || d->moe_index[l] >= 0)
			return bad(r, "a MoE layer that is not a layer, or twice");
		d->moe_index[l] = d->n_moe;
		d->moe[d->n_moe++] = (int)l;
	}
	return d->n_moe ? 0 : bad(r, "no MoE layer");
}

static int read_call(struct reader *r, char *s, int *cap)
{
	struct rtrace_data *d = r->d;
	int64_t n;
	bool prompt = *s == 'p';
	if (!d->moe)
		return bad(r, "a call before 'shape' and 'moe'");
	if ((*s != 'p' && *s != 'd') || s[1] != ' ')
		return bad(r, "want 'c p|d TOKENS'");
	s++;
	if (!next_num(&s, 1, 1 << 20, &n) || !at_end(s))
		return bad(r, "want 'c p|d TOKENS'");
	if (d->n_calls == *cap) {
		*cap = *cap ? 2 * *cap : 64;
		d->calls = xreallocarray(d->calls, (size_t)*cap, sizeof *d->calls);
	}
	struct rtrace_call *c = &d->calls[d->n_calls++];
	c->prompt = prompt;
	c->n = (int)n;
	size_t per = (size_t)n * (size_t)d->n_used;
	c->sel = xmalloc((size_t)d->n_moe * per * sizeof *c->sel);
	for (size_t i = 0; i < (size_t)d->n_moe * per; i++)
		c->sel[i] = -1;
	c->n_guess = xcalloc((size_t)d->n_moe, sizeof *c->n_guess);
	c->guess = NULL; /* with the first guess: most calls of a --no-prefetch run have none */
	return 0;
}

/* An 'r' or 'n' line of the current call. */
static int read_layer(struct reader *r, char *s, bool guess)
{
	struct rtrace_data *d = r->d;
	int64_t l, e;
	if (!d->n_calls)
		return bad(r, "a layer record before any call");
	struct rtrace_call *c = &d->calls[d->n_calls - 1];
	if (!next_num(&s, 0, d->n_layer - 1, &l) || d->moe_index[l] < 0)
		return bad(r, "not a MoE layer");
	int mi = d->moe_index[l];
	int want = guess ? d->n_expert : c->n * d->n_used, got = 0;
	if (guess && !c->guess)
		c->guess = xmalloc((size_t)d->n_moe * (size_t)d->n_expert * sizeof *c->guess);
	int *dst = guess ? c->guess + (size_t)mi * d->n_expert : c->sel + (size_t)mi * want;
	while (!at_end(s)) {
		if (got == want || !next_num(&s, 0, d->n_expert - 1, &e))
			return bad(r, "an expert id out of range, or too many");
		dst[got++] = (int)e;
	}
	if (guess)
		c->n_guess[mi] = got;
	else if (got != want)
		return bad(r, "fewer expert ids than the call's tokens times USED");
	return 0;
}

static int read_plan(struct reader *r, char *s)
{
	struct rtrace_data *d = r->d;
	unsigned long long slot, fixed;
	int slots;
	if (sscanf(s, "%15s %llu %llu %d %31s", d->io, &slot, &fixed, &slots, d->policy) != 5 || slots < 0)
		return bad(r, "want 'plan IO SLOT FIXED SLOTS POLICY'");
	d->slot_bytes = slot;
	d->fixed_bytes = fixed;
	d->n_slots = slots;
	return 0;
}

static int read_part(struct reader *r, char *s)
{
	struct rtrace_data *d = r->d;
	unsigned long long size, meta, hash, data;
	int i;
	if (sscanf(s, "%d %llu %llu %llx %llx", &i, &size, &meta, &hash, &data) != 5 || i != d->n_parts)
		return bad(r, "want 'part I SIZE META HASH DATA', I counting from 0");
	d->parts = xreallocarray(d->parts, (size_t)d->n_parts + 1, sizeof *d->parts);
	d->parts[d->n_parts++] = (struct model_part_id){size, meta, hash, data};
	return 0;
}

static int read_line(struct reader *r, char *s, int *cap)
{
	size_t kw = strcspn(s, " ");
	char *rest = s[kw] ? s + kw + 1 : s + kw;
	if (!*s || *s == '#')
		return 0;
#define IS(w) (kw == strlen(w) && !strncmp(s, w, kw))
	if (IS("r"))
		return read_layer(r, rest, false);
	if (IS("n"))
		return read_layer(r, rest, true);
	if (IS("c"))
		return read_call(r, rest, cap);
	if (IS("shape"))
		return read_shape(r, rest);
	if (IS("moe"))
		return read_moe(r, rest);
	if (IS("plan"))
		return read_plan(r, rest);
	if (IS("part"))
		return read_part(r, rest);
	if (IS("model")) {
		free(r->d->model);
		r->d->model = xstrdup(rest);
		return 0;
	}
#undef IS
	return bad(r, "not a trace record");
}

struct rtrace_data *rtrace_read(const char *path, char *err, size_t errlen)
{
	size_t len;
	char *text = read_file(path, &len, (size_t)1 << 34);
	if (!text) {
		snprintf(err, errlen, "%s: %s", path, fio_strerror(errno));
		return NULL;
	}
	struct rtrace_data *d = xcalloc(1, sizeof *d);
	d->model = xstrdup("");
	struct reader r = {d, 1, err, errlen};
	int cap = 0, rc = 0;
	char *s = text, *nl = strchr(s, '\n');
	if (nl)
		*nl = '\0';
	if (strcmp(s, "heft-routing-trace 1")) {
		rc = bad(&r, "not a heft routing trace (version 1)");
		nl = NULL;
	}
	while (rc == 0 && nl) {
		s = nl + 1;
		r.line++;
		if ((nl = strchr(s, '\n')))
			*nl = '\0';
		rc = read_line(&r, s, &cap);
	}
	if (rc == 0 && !d->moe)
		rc = bad(&r, "no 'shape' and 'moe' lines");
	free(text);
	if (rc < 0) {
		char msg[300];
		snprintf(msg, sizeof msg, "%s", err);
		snprintf(err, errlen, "%s: %s", path, msg);
		rtrace_data_free(d);
		return NULL;
	}
	return d;
}

void rtrace_data_free(struct rtrace_data *d)
{
	if (!d)
		return;
	for (int i = 0; i < d->n_calls; i++) {
		free(d->calls[i].sel);
		free(d->calls[i].n_guess);
		free(d->calls[i].guess);
	}
	free(d->calls);
	free(d->moe);
	free(d->moe_index);
	free(d->parts);
	free(d->model);
	free(d);
}
