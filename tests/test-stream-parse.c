/* test-stream-parse.c - the SSE / NDJSON chat-stream parser: the same
 * events whatever the read boundaries, content and reasoning apart, pings
 * and end markers, error chunks, garbage and an over-long line refused. */
#include <math.h>
#include <string.h>

#include "stream-parse.h"
#include "test.h"

/* Everything the parser said, flattened to one comparable string. */
struct log {
	struct buf content, reasoning, other;
	int64_t n_prompt, n_gen;
	double gen_ms;
	int errors, dones;
};

static void on_ev(void *ctx, const struct sp_event *ev)
{
	struct log *l = ctx;
	CHECK(ev->text && strlen(ev->text) == ev->len);
	switch (ev->kind) {
	case SP_CONTENT: buf_append(&l->content, ev->text, ev->len); break;
	case SP_REASONING: buf_append(&l->reasoning, ev->text, ev->len); break;
	case SP_FINISH: buf_printf(&l->other, "finish=%s;", ev->text); break;
	case SP_USAGE:
		if (ev->n_prompt >= 0)
			l->n_prompt = ev->n_prompt;
		if (ev->n_gen >= 0)
			l->n_gen = ev->n_gen;
		if (!isnan(ev->gen_ms))
			l->gen_ms = ev->gen_ms;
		buf_puts(&l->other, "usage;");
		break;
	case SP_DONE: l->dones++; buf_puts(&l->other, "done;"); break;
	case SP_ERROR: l->errors++; buf_printf(&l->other, "error=%s;", ev->text); break;
	case SP_PROGRESS: buf_printf(&l->other, "progress=%s;", ev->text); break;
	}
}

static void log_free(struct log *l)
{
	buf_free(&l->content);
	buf_free(&l->reasoning);
	buf_free(&l->other);
}

static const char *s(const struct buf *b)
{
	return b->p ? b->p : "";
}

/* Parse in at most three reads, cut at a and b. */
static void parse3(struct log *l, enum sp_format f, const char *in, size_t a, size_t b, size_t cap)
{
	struct stream_parser sp;
	size_t n = strlen(in);
	memset(l, 0, sizeof *l);
	l->n_prompt = l->n_gen = -1;
	l->gen_ms = NAN;
	sp_init(&sp, f, cap);
	sp_feed(&sp, in, a, on_ev, l);
	sp_feed(&sp, in + a, b - a, on_ev, l);
	sp_feed(&sp, in + b, n - b, on_ev, l);
	sp_end(&sp, on_ev, l);
	sp_free(&sp);
}

/* The events of one read must be those of every split into three reads. */
static void same_split_any_way(enum sp_format f, const char *in)
{
	struct log whole, part;
	size_t n = strlen(in);

	parse3(&whole, f, in, n, n, 0);
	for (size_t a = 0; a <= n; a += 1 + n / 64)
		for (size_t b = a; b <= n; b += 1 + n / 16) {
			parse3(&part, f, in, a, b, 0);
			CHECKF(!strcmp(s(&whole.content), s(&part.content)) &&
			       !strcmp(s(&whole.reasoning), s(&part.reasoning)) &&
			       !strcmp(s(&whole.other), s(&part.other)),
			       "split at %zu,%zu: content \"%s\" vs \"%s\", other \"%s\" vs \"%s\"", a, b,
			       s(&whole.content), s(&part.content), s(&whole.other), s(&part.other));
			log_free(&part);
		}
	log_free(&whole);
}

static const char llama_sse[] =
	": ping\n\n"
	"data: {\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":null}}]}\n\n"
	"data: {\"choices\":[{\"delta\":{\"reasoning_content\":\"Let me think.\"}}]}\r\n\r\n"
	": still here\n"
	"data: {\"choices\":[{\"delta\":{\"content\":\"Hel\"}}]}\n\n"
	"data: {\"choices\":[{\"delta\":{\"content\":\"lo \\u00e9\\n\"}}]}\n\n"
	"event: message\nid: 7\n"
	"data: {\"choices\":[{\"delta\":{},\"finish_reason\":\"stop\"}],"
	"\"timings\":{\"prompt_n\":12,\"prompt_ms\":30.5,\"predicted_n\":3,\"predicted_ms\":45.0}}\n\n"
	"data: [DONE]\n\n";

static const char ollama_nd[] =
	"{\"model\":\"m\",\"message\":{\"role\":\"assistant\",\"content\":\"\",\"thinking\":\"hmm\"},\"done\":false}\n"
	"{\"model\":\"m\",\"message\":{\"role\":\"assistant\",\"content\":\"Hi\"},\"done\":false}\n"
	"{\"model\":\"m\",\"message\":{\"role\":\"assistant\",\"content\":\" there\"},\"done\":false}\n"
	"{\"model\":\"m\",\"message\":{\"role\":\"assistant\",\"content\":\"\"},\"done\":true,"
	"\"done_reason\":\"length\",\"prompt_eval_count\":5,\"eval_count\":2,\"eval_duration\":2000000}\n";

int main(void)
{
	struct log l;

	/* llama-server's stream: pings, reasoning apart, CRLF, timings. */
	parse3(&l, SP_SSE, llama_sse, sizeof llama_sse - 1, sizeof llama_sse - 1, 0);
	CHECK(!strcmp(s(&l.content), "Hello \xc3\xa9\n"));
	CHECK(!strcmp(s(&l.reasoning), "Let me think."));
	CHECKF(!strcmp(s(&l.other), "finish=stop;usage;done;"), "%s", s(&l.other));
	CHECK(l.n_prompt == 12 && l.n_gen == 3 && l.gen_ms == 45.0);
	log_free(&l);
	same_split_any_way(SP_SSE, llama_sse);

	/* heft's progress: an SSE comment other clients skip, an NDJSON
	 * line's heft_progress; plain pings stay silent. */
	static const char heft_sse[] =
		": ping\n\n"
		": heft.progress {\"state\":\"queued\",\"queue_position\":1}\n\n"
		"data: {\"choices\":[{\"delta\":{\"content\":\"x\"}}]}\n\n"
		"data: [DONE]\n\n";
	parse3(&l, SP_SSE, heft_sse, sizeof heft_sse - 1, sizeof heft_sse - 1, 0);
	CHECKF(!strcmp(s(&l.other), "progress= {\"state\":\"queued\",\"queue_position\":1};done;"), "%s",
	       s(&l.other));
	CHECK(!strcmp(s(&l.content), "x"));
	log_free(&l);
	same_split_any_way(SP_SSE, heft_sse);
	static const char heft_nd[] =
		"{\"message\":{\"role\":\"assistant\",\"content\":\"\"},\"done\":false,"
		"\"heft_progress\":{\"state\":\"prefill\",\"disk_mb_s\":12.5}}\n"
		"{\"message\":{\"role\":\"assistant\",\"content\":\"y\"},\"done\":true}\n";
	parse3(&l, SP_NDJSON, heft_nd, sizeof heft_nd - 1, sizeof heft_nd - 1, 0);
	CHECKF(!strcmp(s(&l.other), "progress={\"state\":\"prefill\",\"disk_mb_s\":12.5};usage;done;"), "%s",
	       s(&l.other));
	CHECK(!strcmp(s(&l.content), "y"));
	log_free(&l);

	/* ollama's NDJSON: thinking apart, done_reason, durations in ns. */
	parse3(&l, SP_NDJSON, ollama_nd, 10, 100, 0);
	CHECK(!strcmp(s(&l.content), "Hi there"));
	CHECK(!strcmp(s(&l.reasoning), "hmm"));
	CHECKF(!strcmp(s(&l.other), "finish=length;usage;done;"), "%s", s(&l.other));
	CHECK(l.n_prompt == 5 && l.n_gen == 2 && l.gen_ms == 2.0);
	log_free(&l);
	same_split_any_way(SP_NDJSON, ollama_nd);

	/* OpenAI usage chunk and ollama-style "reasoning" in a delta. */
	parse3(&l, SP_SSE, "data: {\"choices\":[{\"delta\":{\"reasoning\":\"r\",\"content\":\"c\"}}]}\n\n"
	       "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":4}}\n\ndata: [DONE]\n\n",
	       5, 60, 0);
	CHECK(!strcmp(s(&l.content), "c") && !strcmp(s(&l.reasoning), "r"));
	CHECK(l.n_prompt == 9 && l.n_gen == 4 && l.dones == 1 && !l.errors);
	log_free(&l);

	/* An error chunk mid-stream: what came before stays, one error, the
	 * rest ignored. */
	parse3(&l, SP_SSE, "data: {\"choices\":[{\"delta\":{\"content\":\"par\"}}]}\n\n"
	       "data: {\"error\":{\"code\":500,\"message\":\"out of memory\",\"type\":\"server_error\"}}\n\n"
	       "data: {\"choices\":[{\"delta\":{\"content\":\"tial\"}}]}\n\n", 3, 70, 0);
	CHECK(!strcmp(s(&l.content), "par"));
	CHECKF(l.errors == 1 && strstr(s(&l.other), "out of memory"), "%s", s(&l.other));
	log_free(&l);
	parse3(&l, SP_NDJSON, "{\"error\":\"model 'x' not found\"}\n", 4, 8, 0);
	CHECK(l.errors == 1 && strstr(s(&l.other), "model 'x' not found"));
	log_free(&l);

	/* Garbage: not JSON, not SSE; control bytes never quoted raw. */
	parse3(&l, SP_SSE, "data: {\"choices\":[{\"delta\":{\"content\":\"ok\"}}]}\n\ndata: <html>\x1b[2J\n\n", 0, 0, 0);
	CHECK(!strcmp(s(&l.content), "ok") && l.errors == 1 && !strchr(s(&l.other), 0x1b));
	CHECKF(strstr(s(&l.other), "not a JSON object"), "%s", s(&l.other));
	log_free(&l);
	parse3(&l, SP_SSE, "HTTP/1.1 200 OK\nwhatever\n", 3, 9, 0);
	CHECK(l.errors == 1 && strstr(s(&l.other), "not an event stream"));
	log_free(&l);
	parse3(&l, SP_NDJSON, "{\"message\":{\"content\":\"a\"}}\n[1,2]\n", 3, 9, 0);
	CHECK(!strcmp(s(&l.content), "a") && l.errors == 1);
	log_free(&l);

	/* A 10 MB line is refused with one error and never held whole. */
	{
		size_t big = (size_t)10 << 20;
		char *line = xmalloc(big + 16);
		memcpy(line, "data: \"", 7);
		memset(line + 7, 'x', big);
		strcpy(line + 7 + big, "\"\n\n");
		struct stream_parser sp;
		memset(&l, 0, sizeof l);
		sp_init(&sp, SP_SSE, 0);
		for (size_t off = 0, n = strlen(line); off < n; off += 65536)
			sp_feed(&sp, line + off, n - off < 65536 ? n - off : 65536, on_ev, &l);
		CHECK(sp.lr.in.cap < ((size_t)2 << 20));	/* bounded memory */
		sp_end(&sp, on_ev, &l);
		CHECKF(l.errors == 1 && strstr(s(&l.other), "over"), "%s", s(&l.other));
		sp_free(&sp);
		log_free(&l);
		free(line);
	}
	/* Multi-line data joins with a newline (SSE); the end without a blank
	 * line still counts. */
	parse3(&l, SP_SSE, "data: {\"choices\":[{\"delta\":\ndata: {\"content\":\"j\"}}]}", 4, 20, 0);
	CHECK(!strcmp(s(&l.content), "j") && !l.errors);
	log_free(&l);

	const char *body = "{\"error\":{\"message\":\"Invalid API Key\",\"type\":\"authentication_error\"}}";
	char *m = sp_error_message(body, strlen(body));
	CHECK(m && !strcmp(m, "Invalid API Key"));
	free(m);
	m = sp_error_message("not json", 8);
	CHECK(!m);
	return test_done("test-stream-parse");
}
