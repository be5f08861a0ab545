/* stream-parse.c - SSE and NDJSON chat streams into events (stream-parse.h).
 *
 * The line splitting (and its cap) is linereader's; this file knows the
 * two framings and the JSON shapes of OpenAI chat chunks (with llama-server's
 * reasoning_content and timings) and of ollama's /api/chat lines. */
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stream-parse.h"

#define SP_DEFAULT_MAX ((size_t)1 << 20)
#define EXCERPT 40

void sp_init(struct stream_parser *sp, enum sp_format fmt, size_t max_line)
{
	memset(sp, 0, sizeof *sp);
	sp->fmt = fmt;
	lr_init(&sp->lr, max_line ? max_line : SP_DEFAULT_MAX);
}

void sp_free(struct stream_parser *sp)
{
	lr_free(&sp->lr);
	buf_free(&sp->data);
}

static void emit(sp_fn fn, void *ctx, enum sp_kind kind, const char *text)
{
	struct sp_event ev = { .kind = kind, .text = text ? text : "", .len = text ? strlen(text) : 0,
			       .n_prompt = -1, .n_gen = -1, .n_cached = -1,
			       .prompt_ms = NAN, .gen_ms = NAN };
	fn(ctx, &ev);
}

static void fail(struct stream_parser *sp, sp_fn fn, void *ctx, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void fail(struct stream_parser *sp, sp_fn fn, void *ctx, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	if (sp->failed)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	sp->failed = true;
	emit(fn, ctx, SP_ERROR, msg);
}

/* The start of untrusted bytes, safe to quote in one line of a message. */
static void excerpt(const char *s, size_t len, char *out, size_t cap)
{
	size_t n = len < EXCERPT ? len : EXCERPT, k = 0;
	while (n > 0 && n < len && ((unsigned char)s[n] & 0xC0) == 0x80)
		n--;	/* do not cut a UTF-8 sequence */
	for (size_t i = 0; i < n && k + 4 < cap; i++) {
		unsigned char ch = (unsigned char)s[i];
		out[k++] = ch < 0x20 || ch == 0x7f ? '?' : (char)ch;
	}
	if (n < len && k + 4 < cap) {
		memcpy(out + k, "...", 3);
		k += 3;
	}
	out[k] = '\0';
}

static const char *str_of(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);
	return json_is_string(v) ? json_string_value(v) : NULL;
}

static int64_t int_of(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);
	return json_is_number(v) ? (int64_t)json_number_value(v) : -1;
}

static double real_of(json_t *o, const char *key, double scale)
{
	json_t *v = json_object_get(o, key);
	return json_is_number(v) ? json_number_value(v) * scale : NAN;
}

/* "error": {"message": ...} or "error": "..." */
static const char *error_text(json_t *o)
{
	json_t *e = json_object_get(o, "error");
	if (json_is_string(e))
		return json_string_value(e);
	if (json_is_object(e)) {
		const char *m = str_of(e, "message");
		return m ? m : "the server reported an error without a message";
	}
	return NULL;
}

static void text_event(sp_fn fn, void *ctx, enum sp_kind kind, const char *s)
{
	if (s && *s)
		emit(fn, ctx, kind, s);
}

static void openai_chunk(struct stream_parser *sp, json_t *o, sp_fn fn, void *ctx)
{
	json_t *choices = json_object_get(o, "choices");
	json_t *c0 = json_is_array(choices) ? json_array_get(choices, 0) : NULL;
	if (json_is_object(c0)) {
		json_t *d = json_object_get(c0, "delta");
		if (!json_is_object(d))
			d = json_object_get(c0, "message");	/* an unstreamed answer */
		if (json_is_object(d)) {
			const char *r = str_of(d, "reasoning_content");
			text_event(fn, ctx, SP_REASONING, r ? r : str_of(d, "reasoning"));
			text_event(fn, ctx, SP_CONTENT, str_of(d, "content"));
		}
		const char *fr = str_of(c0, "finish_reason");
		if (fr)
			emit(fn, ctx, SP_FINISH, fr);
	}
	json_t *u = json_object_get(o, "usage"), *t = json_object_get(o, "timings");
	if (json_is_object(u) || json_is_object(t)) {
		struct sp_event ev = { .kind = SP_USAGE, .text = "", .n_prompt = -1, .n_gen = -1,
				       .n_cached = -1, .prompt_ms = NAN, .gen_ms = NAN };
		if (json_is_object(u)) {
			ev.n_prompt = int_of(u, "prompt_tokens");
			ev.n_gen = int_of(u, "completion_tokens");
			json_t *det = json_object_get(u, "prompt_tokens_details");
			if (json_is_object(det))
				ev.n_cached = int_of(det, "cached_tokens");
		}
		if (json_is_object(t)) {	/* llama-server's own, more precise */
			if (int_of(t, "prompt_n") >= 0)
				ev.n_prompt = int_of(t, "prompt_n");
			if (int_of(t, "predicted_n") >= 0)
				ev.n_gen = int_of(t, "predicted_n");
			if (int_of(t, "cache_n") >= 0)
				ev.n_cached = int_of(t, "cache_n");
			ev.prompt_ms = real_of(t, "prompt_ms", 1);
			ev.gen_ms = real_of(t, "predicted_ms", 1);
		}
		fn(ctx, &ev);
	}
	(void)sp;
}

static void ollama_line(struct stream_parser *sp, json_t *o, sp_fn fn, void *ctx)
{
	json_t *m = json_object_get(o, "message"), *pg = json_object_get(o, "heft_progress");
	if (json_is_object(pg)) {
		char *t = json_dumps(pg, JSON_COMPACT);
		if (t)
			emit(fn, ctx, SP_PROGRESS, t);
		free(t);
	}
	if (json_is_object(m)) {
		const char *r = str_of(m, "thinking");
		text_event(fn, ctx, SP_REASONING, r ? r : str_of(m, "reasoning"));
		text_event(fn, ctx, SP_CONTENT, str_of(m, "content"));
	} else {	/* /api/generate */
		text_event(fn, ctx, SP_REASONING, str_of(o, "thinking"));
		text_event(fn, ctx, SP_CONTENT, str_of(o, "response"));
	}
	if (json_is_true(json_object_get(o, "done"))) {
		const char *fr = str_of(o, "done_reason");
		if (fr)
			emit(fn, ctx, SP_FINISH, fr);
		struct sp_event ev = { .kind = SP_USAGE, .text = "", .n_cached = -1 };
		ev.n_prompt = int_of(o, "prompt_eval_count");
		ev.n_gen = int_of(o, "eval_count");
		ev.prompt_ms = real_of(o, "prompt_eval_duration", 1e-6);	/* ns */
		ev.gen_ms = real_of(o, "eval_duration", 1e-6);
		fn(ctx, &ev);
		sp->done = true;
		emit(fn, ctx, SP_DONE, NULL);
	}
}

/* One JSON text: an SSE event's data or an NDJSON line. */
static void object(struct stream_parser *sp, const char *s, size_t len, sp_fn fn, void *ctx)
{
	json_error_t jerr;
	char ex[64];

	json_t *o = json_loadb(s, len, 0, &jerr);
	if (!json_is_object(o)) {
		excerpt(s, len, ex, sizeof ex);
		fail(sp, fn, ctx, "the server sent data that is not a JSON object: \"%s\"", ex);
		json_decref(o);
		return;
	}
	const char *err = error_text(o);
	if (err) {
		fail(sp, fn, ctx, "the server reported an error: %s", err);
	} else {
		sp->events++;
		if (sp->fmt == SP_NDJSON)
			ollama_line(sp, o, fn, ctx);
		else
			openai_chunk(sp, o, fn, ctx);
	}
	json_decref(o);
}

static void dispatch(struct stream_parser *sp, sp_fn fn, void *ctx)
{
	if (!sp->has_data)
		return;
	sp->has_data = false;
	const char *d = sp->data.p ? sp->data.p : "";
	size_t n = sp->data.len;
	if (n == 6 && !memcmp(d, "[DONE]", 6)) {
		sp->done = true;
		emit(fn, ctx, SP_DONE, NULL);
	} else {
		object(sp, d, n, fn, ctx);
	}
	buf_clear(&sp->data);
}

static bool field(const char *line, size_t len, const char *name, const char **val, size_t *vlen)
{
	size_t k = strlen(name);
	if (len < k + 1 || memcmp(line, name, k) || line[k] != ':')
		return false;
	*val = line + k + 1;
	*vlen = len - k - 1;
	if (*vlen && **val == ' ')
		(*val)++, (*vlen)--;
	return true;
}

static void sse_line(struct stream_parser *sp, const char *line, size_t len, sp_fn fn, void *ctx)
{
	const char *v;
	size_t vl;
	char ex[64];

	if (len == 0) {
		dispatch(sp, fn, ctx);
	} else if (len > 15 && !memcmp(line, ": heft.progress", 15)) {
		/* heft's progress, where standard clients skip it (a comment) */
		struct buf t = { 0 };
		buf_append(&t, line + 15, len - 15);
		emit(fn, ctx, SP_PROGRESS, t.p);
		buf_free(&t);
	} else if (line[0] == ':') {
		;	/* a comment: the server's keep-alive ping */
	} else if (field(line, len, "data", &v, &vl)) {
		if (sp->has_data)
			buf_putc(&sp->data, '\n');
		buf_append(&sp->data, v, vl);
		sp->has_data = true;
		if (sp->data.len > sp->lr.max)
			fail(sp, fn, ctx, "the server sent an event over %zu bytes", sp->lr.max);
	} else if (field(line, len, "event", &v, &vl) || field(line, len, "id", &v, &vl) ||
		   field(line, len, "retry", &v, &vl)) {
		;	/* the data says all heft needs */
	} else if (line[0] == '{') {
		/* An answer sent as JSON although a stream was asked for: an
		 * error body, or a server that does not stream. */
		object(sp, line, len, fn, ctx);
	} else {
		excerpt(line, len, ex, sizeof ex);
		fail(sp, fn, ctx, "the server sent a line that is not an event stream: \"%s\"", ex);
	}
}

static void drain(struct stream_parser *sp, sp_fn fn, void *ctx)
{
	const char *line;
	size_t len;
	enum lr_status st;

	while (!sp->failed && (st = lr_next(&sp->lr, &line, &len)) != LR_AGAIN && st != LR_EOF) {
		if (st == LR_TOO_LONG) {
			fail(sp, fn, ctx, "the server sent a line over %zu bytes", sp->lr.max);
		} else if (sp->fmt == SP_SSE) {
			sse_line(sp, line, len, fn, ctx);
		} else if (len > 0) {
			object(sp, line, len, fn, ctx);
		}
	}
}

void sp_feed(struct stream_parser *sp, const void *data, size_t n, sp_fn fn, void *ctx)
{
	if (sp->failed)
		return;
	lr_feed(&sp->lr, data, n);
	drain(sp, fn, ctx);
}

void sp_end(struct stream_parser *sp, sp_fn fn, void *ctx)
{
	if (sp->failed)
		return;
	lr_eof(&sp->lr);
	drain(sp, fn, ctx);
	if (!sp->failed && sp->fmt == SP_SSE)
		dispatch(sp, fn, ctx);	/* an event without its blank line */
}

char *sp_error_message(const char *body, size_t len)
{
	json_error_t jerr;
	json_t *o = json_loadb(body, len, 0, &jerr);
	const char *m = json_is_object(o) ? error_text(o) : NULL;
	if (!m && json_is_object(o))
		m = str_of(o, "message");
	char *out = m ? xstrdup(m) : NULL;
	json_decref(o);
	return out;
}
