/* test-http-api.c - the OpenAI and ollama wire formats of http-api.c without
 * a server: thinking kept out of content (the tags split across pieces in
 * every way), usage only with include_usage, the first delta's role, errors
 * mid-stream, request bodies refused with a reason, the tool role, the
 * penalties, and a prompt over the context. */
#include "http-api.h"

#include "test.h"

#include <jansson.h>
#include <string.h>

static void token(struct api_reply *rp, const char *text, struct buf *out)
{
	struct msg m = {.type = MSG_TOKEN};
	m.token.text = (char *)text;
	api_event(rp, &m, out);
}

static void done(struct api_reply *rp, enum msg_reason r, int n_gen, struct buf *out)
{
	struct msg m = {.type = MSG_DONE};
	m.done.reason = r;
	m.done.n_prompt = 5;
	m.done.n_cached = 3;
	m.done.n_gen = n_gen;
	api_event(rp, &m, out);
}

/* The reply "<think>why</think>\n\nanswer" cut at position cut of the
 * text, not streamed: its two parts. */
static void think_split(size_t cut)
{
	const char *all = "<think>why</think>\n\nanswer";
	char a[64], b[64];
	snprintf(a, sizeof a, "%.*s", (int)cut, all);
	snprintf(b, sizeof b, "%s", all + cut);
	struct api_reply rp = {.kind = API_OAI_CHAT, .model = "m", .id = "chatcmpl-1"};
	struct buf out = {0};
	token(&rp, a, &out);
	token(&rp, b, &out);
	done(&rp, DONE_EOS, 2, &out);
	CHECK(api_finish(&rp, &out) == 200);
	json_t *o = json_loadb(out.p, out.len, 0, NULL);
	json_t *msg = json_object_get(json_array_get(json_object_get(o, "choices"), 0), "message");
	CHECKF(o && !strcmp(json_string_value(json_object_get(msg, "content")), "answer"), "cut %zu: %.*s", cut,
	       (int)out.len, out.p);
	CHECKF(o && !strcmp(json_string_value(json_object_get(msg, "reasoning_content")), "why"), "cut %zu", cut);
	json_decref(o);
	buf_free(&out);
	api_reply_free(&rp);
}

/* The data: events of an SSE body. */
static json_t *events(const struct buf *b)
{
	json_t *a = json_array();
	char *text = strndup(b->p, b->len), *save = NULL;
	for (char *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save))
		if (!strncmp(l, "data: ", 6))
			json_array_append_new(a, strcmp(l + 6, "[DONE]") ? json_loads(l + 6, 0, NULL)
								      : json_string("DONE"));
	free(text);
	return a;
}

static void stream(bool usage)
{
	struct api_reply rp = {.kind = API_OAI_CHAT, .model = "m", .id = "chatcmpl-2", .stream = true,
			       .include_usage = usage};
	struct buf out = {0};
	token(&rp, "<th", &out);
	token(&rp, "ink>hm</thi", &out);
	token(&rp, "nk>Hi", &out);
	done(&rp, DONE_LENGTH, 3, &out);
	api_finish(&rp, &out);
	json_t *ev = events(&out);
	size_t n = json_array_size(ev);
	CHECK(n == (usage ? 6u : 5u));
	json_t *d0 = json_object_get(json_array_get(json_object_get(json_array_get(ev, 0), "choices"), 0), "delta");
	CHECK(!strcmp(json_string_value(json_object_get(d0, "role")), "assistant"));
	CHECK(json_is_null(json_object_get(d0, "content")));
	json_t *d1 = json_object_get(json_array_get(json_object_get(json_array_get(ev, 1), "choices"), 0), "delta");
	CHECK(!strcmp(json_string_value(json_object_get(d1, "reasoning_content")), "hm"));
	json_t *d2 = json_object_get(json_array_get(json_object_get(json_array_get(ev, 2), "choices"), 0), "delta");
	CHECK(!strcmp(json_string_value(json_object_get(d2, "content")), "Hi"));
	json_t *fin = json_array_get(json_object_get(json_array_get(ev, 3), "choices"), 0);
	CHECK(!strcmp(json_string_value(json_object_get(fin, "finish_reason")), "length"));
	if (usage) {
		json_t *u = json_array_get(ev, 4);
		CHECK(json_array_size(json_object_get(u, "choices")) == 0);
		CHECK(json_integer_value(json_object_get(json_object_get(u, "usage"), "prompt_tokens")) == 8);
		CHECK(json_integer_value(json_object_get(
			      json_object_get(json_object_get(u, "usage"), "prompt_tokens_details"), "cached_tokens")) == 3);
	}
	CHECK(!strcmp(json_string_value(json_array_get(ev, n - 1)) ? json_string_value(json_array_get(ev, n - 1)) : "",
		      "DONE"));
	json_decref(ev);
	buf_free(&out);
	api_reply_free(&rp);
}

/* An error mid-stream is an error chunk, and the stream ends without [DONE]. */
static void stream_error(void)
{
	struct api_reply rp = {.kind = API_OAI_CHAT, .model = "m", .id = "x", .stream = true};
	struct buf out = {0};
	token(&rp, "a", &out);
	struct msg e = {.type = MSG_ERROR};
	e.error.code = MSG_E_IO;
	e.error.message = "read failed";
	api_event(&rp, &e, &out);
	done(&rp, DONE_ERROR, 1, &out);
	api_finish(&rp, &out);
	json_t *ev = events(&out);
	json_t *last = json_array_get(ev, json_array_size(ev) - 1);
	CHECK(json_is_object(last) && json_integer_value(json_object_get(json_object_get(last, "error"), "code")) == 500);
	json_decref(ev);
	buf_free(&out);
	api_reply_free(&rp);
}

static void refused(enum api_kind k, const char *body)
{
	struct api_reply rp = {.kind = k};
	struct msg req;
	char err[256] = "";
	CHECKF(!api_parse(&rp, body, strlen(body), 1, &req, err, sizeof err) && err[0], "%s accepted", body);
	api_reply_free(&rp);
}

static void ollama_generate(void)
{
	struct api_reply rp = {.kind = API_OLLAMA_GENERATE};
	struct msg req;
	char err[256];
	const char *body = "{\"prompt\":\"hi\",\"system\":\"s\",\"options\":{\"num_predict\":7,\"temperature\":0}}";
	CHECK(api_parse(&rp, body, strlen(body), 9, &req, err, sizeof err));
	CHECK(rp.stream); /* ollama streams unless told not to */
	CHECK(req.type == MSG_CHAT && req.chat.n_messages == 2 && req.chat.options.n_predict == 7);
	CHECK(req.chat.options.present & MSG_OPT_BIT(OPT_TEMP));
	msg_free(&req);
	api_reply_free(&rp);
}

/* Nesting past the limit is refused before parsing; brackets inside a
 * string are text, not nesting. */
static void nesting(void)
{
	struct buf b = {0};
	buf_puts(&b, "{\"messages\":[{\"role\":\"user\",\"content\":\"");
	for (int i = 0; i < 200; i++)
		buf_puts(&b, "[{\\\"");
	buf_puts(&b, "\"}],\"x\":");
	size_t at = b.len;
	for (int i = 0; i < 61; i++)
		buf_putc(&b, '[');
	for (int i = 0; i < 61; i++)
		buf_putc(&b, ']');
	buf_putc(&b, '}');
	buf_putc(&b, 0);
	struct api_reply rp = {.kind = API_OAI_CHAT};
	struct msg req;
	char err[256] = "";
	CHECKF(api_parse(&rp, b.p, strlen(b.p), 1, &req, err, sizeof err), "depth 63 refused: %s", err);
	msg_free(&req);
	api_reply_free(&rp);
	b.len = at;
	for (int i = 0; i < 10000; i++)
		buf_putc(&b, '[');
	buf_putc(&b, 0);
	refused(API_OAI_CHAT, b.p);
	buf_free(&b);
}

/* A tool's result and an assistant's tool call keep their content in the
 * turns heft's templates know. */
static void tool_role(void)
{
	const char *body = "{\"messages\":[{\"role\":\"user\",\"content\":\"sum?\"},"
			   "{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"id\":\"c1\",\"type\":\"function\","
			   "\"function\":{\"name\":\"add\",\"arguments\":\"{\\\"a\\\":1}\"}}]},"
			   "{\"role\":\"tool\",\"tool_call_id\":\"c1\",\"content\":\"42\"}],"
			   "\"presence_penalty\":0.5,\"frequency_penalty\":-1}";
	struct api_reply rp = {.kind = API_OAI_CHAT};
	struct msg req;
	char err[256] = "";
	CHECKF(api_parse(&rp, body, strlen(body), 1, &req, err, sizeof err), "%s", err);
	CHECK(req.chat.n_messages == 3);
	CHECK(!strcmp(req.chat.messages[1].role, "assistant"));
	CHECKF(!strcmp(req.chat.messages[1].content, "<tool_call>\n{\"name\":\"add\",\"arguments\":{\"a\":1}}\n</tool_call>"),
	       "%s", req.chat.messages[1].content);
	CHECK(!strcmp(req.chat.messages[2].role, "user"));
	CHECK(!strcmp(req.chat.messages[2].content, "<tool_response>\n42\n</tool_response>"));
	const struct msg_options *o = &req.chat.options;
	CHECK((o->present & MSG_OPT_BIT(OPT_PRESENCE_PENALTY)) && o->presence_penalty == 0.5);
	CHECK((o->present & MSG_OPT_BIT(OPT_FREQUENCY_PENALTY)) && o->frequency_penalty == -1);
	msg_free(&req);
	api_reply_free(&rp);
	refused(API_OAI_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"presence_penalty\":3}");
	refused(API_OAI_CHAT, "{\"messages\":[{\"role\":\"assistant\",\"content\":\"x\",\"tool_calls\":[{}]}]}");
	refused(API_OAI_CHAT, "{\"messages\":[{\"role\":\"robot\",\"content\":\"x\"}]}");
}

/* A prompt longer than the context: 400 exceed_context_size_error with the
 * prompt's tokens and the context's. */
static void over_context(void)
{
	struct api_reply rp = {.kind = API_OAI_CHAT, .model = "m", .id = "chatcmpl-1"};
	struct buf out = {0};
	struct msg m = {.type = MSG_DONE};
	m.done.reason = DONE_CTX_FULL;
	m.done.has_pos = true;
	m.done.n_ctx = 2048;
	m.done.message = "context full: the prompt is 7219 tokens and the context 2048 (raise --ctx or shorten it)";
	api_event(&rp, &m, &out);
	CHECK(api_finish(&rp, &out) == 400);
	json_t *o = json_loads(out.p, 0, NULL), *e = json_object_get(o, "error");
	CHECKF(e && !strcmp(json_string_value(json_object_get(e, "type")), "exceed_context_size_error"), "%s", out.p);
	CHECK(json_integer_value(json_object_get(e, "n_prompt_tokens")) == 7219);
	CHECK(json_integer_value(json_object_get(e, "n_ctx")) == 2048);
	json_decref(o);
	buf_free(&out);
	api_reply_free(&rp);
}

/* The progress as a stream ends, with only the numbers the panes draw:
 * a comment line inside the event that ends the reply (no event of its
 * own), or heft_progress in ollama's done line. */
static void last_progress(void)
{
	struct msg_numbers all = {0};
	const double hits[] = {3, 4};
	msg_numbers_add_array(&all, "layer_hits", hits, 2);
	msg_numbers_add(&all, "rss", 1e6);
	msg_numbers_add(&all, "n_turns", 2);	/* the server's conversation: not for clients */
	json_t *st = api_progress_stats(&all);
	CHECK(json_is_array(json_object_get(st, "layer_hits")) && json_integer_value(json_object_get(st, "rss")) == 1000000);
	CHECK(!json_object_get(st, "n_turns"));

	struct api_reply rp = {.kind = API_OAI_CHAT, .model = "m", .id = "x", .stream = true};
	struct buf out = {0};
	token(&rp, "a", &out);
	done(&rp, DONE_LENGTH, 1, &out);
	rp.progress = json_pack("{s:s, s:O}", "object", "heft.progress", "stats", st);
	size_t at = out.len;
	api_finish(&rp, &out);
	const char *end = out.p + at;
	CHECK(!strncmp(end, ": heft.progress {", 17));
	const char *nl = strchr(end, '\n');
	CHECK(nl && !strncmp(nl + 1, "data: {", 7) && strstr(nl, "\"finish_reason\":\"length\""));
	buf_free(&out);
	api_reply_free(&rp);

	rp = (struct api_reply){.kind = API_OLLAMA_CHAT, .model = "m", .id = "y", .stream = true};
	out = (struct buf){0};
	done(&rp, DONE_EOS, 1, &out);
	rp.progress = json_pack("{s:O}", "stats", st);
	api_finish(&rp, &out);
	json_t *o = json_loads(out.p, JSON_DISABLE_EOF_CHECK, NULL);
	CHECK(json_is_true(json_object_get(o, "done")) &&
	      json_is_array(json_object_get(json_object_get(json_object_get(o, "heft_progress"), "stats"), "layer_hits")));
	json_decref(o);
	buf_free(&out);
	api_reply_free(&rp);
	json_decref(st);
	msg_numbers_free(&all);
}

int main(void)
{
	for (size_t cut = 0; cut <= strlen("<think>why</think>\n\nanswer"); cut++)
		think_split(cut);
	stream(false);
	stream(true);
	stream_error();
	last_progress();
	refused(API_OAI_CHAT, "{\"messages\":[]}");
	refused(API_OAI_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"top_p\":7}");
	refused(API_OAI_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"stop\":[1]}");
	refused(API_OAI_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"stream\":1}");
	refused(API_OAI_COMPLETION, "{\"prompt\":5}");
	refused(API_OAI_CHAT, "{\"a\":1,\"a\":2}");
	ollama_generate();
	nesting();
	tool_role();
	over_context();
	return test_done("test-http-api");
}
