/* http-api.c - the OpenAI and ollama wire formats (http-api.h), as their
 * clients parse them: llama-server's SSE chunks (the first delta carries
 * the role, finish_reason stop/length, usage in a choices:[] chunk only
 * with stream_options.include_usage, data: [DONE]) and ollama's NDJSON
 * lines (the last with done:true). A reply that opens with <think> has its
 * thinking in reasoning_content / thinking, never in content. */
#include "http-api.h"

#include "stats.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define THINK_OPEN "<think>"
#define THINK_CLOSE "</think>"

bool api_is_ollama(enum api_kind k)
{
	return k == API_OLLAMA_CHAT || k == API_OLLAMA_GENERATE;
}

/* ---- requests ------------------------------------------------------------------------ */

/* Field key of o, a number, as option opt (its range checked there). */
static bool opt_num(json_t *o, const char *key, const char *opt, struct msg_options *mo, char *err, size_t errlen)
{
	json_t *v = json_object_get(o, key);
	char s[64], why[200];
	if (!v || json_is_null(v))
		return true;
	if (json_is_integer(v))
		snprintf(s, sizeof s, "%lld", (long long)json_integer_value(v));
	else if (json_is_real(v))
		snprintf(s, sizeof s, "%.17g", json_real_value(v));
	else {
		snprintf(err, errlen, "\"%s\" must be a number", key);
		return false;
	}
	if (!msg_options_set(mo, opt, s, why, sizeof why)) {
		snprintf(err, errlen, "\"%s\": %s", key, why);
		return false;
	}
	return true;
}

static bool opt_stop(json_t *o, struct msg_options *mo, char *err, size_t errlen)
{
	json_t *v = json_object_get(o, "stop"), *e;
	char why[200];
	size_t i;
	if (!v || json_is_null(v))
		return true;
	if (json_is_string(v))
		return msg_options_set(mo, "stop", json_string_value(v), why, sizeof why) ||
		       (snprintf(err, errlen, "\"stop\": %s", why), false);
	if (!json_is_array(v)) {
		snprintf(err, errlen, "\"stop\" must be a string or an array of strings");
		return false;
	}
	json_array_foreach(v, i, e)
	{
		if (!json_is_string(e)) {
			snprintf(err, errlen, "\"stop\"[%zu] must be a string", i);
			return false;
		}
		if (!msg_options_set(mo, "stop", json_string_value(e), why, sizeof why)) {
			snprintf(err, errlen, "\"stop\": %s", why);
			return false;
		}
	}
	return true;
}

/* The sampler fields: OpenAI's names at the top level (llama-server's
 * where OpenAI has none), ollama's in "options". */
static bool parse_options(json_t *o, bool ollama, struct msg_options *mo, char *err, size_t errlen)
{
	static const struct {
		const char *key, *opt;
	} oai[] = {
		{"temperature", "temp"}, {"top_p", "top_p"}, {"top_k", "top_k"}, {"min_p", "min_p"},
		{"seed", "seed"}, {"repeat_penalty", "repeat_penalty"}, {"repeat_last_n", "repeat_last_n"},
		{"n_predict", "n_predict"}, {"max_tokens", "n_predict"}, {"max_completion_tokens", "n_predict"},
		{"presence_penalty", "presence_penalty"}, {"frequency_penalty", "frequency_penalty"},
	}, oll[] = {
		{"temperature", "temp"}, {"top_p", "top_p"}, {"top_k", "top_k"}, {"min_p", "min_p"},
		{"seed", "seed"}, {"repeat_penalty", "repeat_penalty"}, {"repeat_last_n", "repeat_last_n"},
		{"num_predict", "n_predict"}, {"presence_penalty", "presence_penalty"},
		{"frequency_penalty", "frequency_penalty"},
	};
	if (ollama) {
		o = json_object_get(o, "options");
		if (!o || json_is_null(o))
			return true;
		if (!json_is_object(o)) {
			snprintf(err, errlen, "\"options\" must be an object");
			return false;
		}
	}
	size_t n = ollama ? ARRAY_LEN(oll) : ARRAY_LEN(oai);
	for (size_t i = 0; i < n; i++)
		if (!opt_num(o, ollama ? oll[i].key : oai[i].key, ollama ? oll[i].opt : oai[i].opt, mo, err, errlen))
			return false;
	return opt_stop(o, mo, err, errlen);
}

/* A message's content: a string, null, or OpenAI's array of parts (the
 * text parts joined). NULL with err set when it is none of these. */
static char *content_text(json_t *c, size_t k, char *err, size_t errlen)
{
	if (!c || json_is_null(c))
		return xstrdup("");
	if (json_is_string(c))
		return xstrdup(json_string_value(c));
	if (json_is_array(c)) {
		struct buf b = {0};
		size_t i;
		json_t *part;
		json_array_foreach(c, i, part)
		{
			const char *type = json_string_value(json_object_get(part, "type"));
			const char *text = json_string_value(json_object_get(part, "text"));
			if (!type || strcmp(type, "text") || !text) {
				snprintf(err, errlen, "messages[%zu].content[%zu]: only text parts are supported", k, i);
				buf_free(&b);
				return NULL;
			}
			buf_puts(&b, text);
		}
		buf_putc(&b, 0);
		return b.p;
	}
	snprintf(err, errlen, "messages[%zu].content must be a string or an array of parts", k);
	return NULL;
}

/* heft's chat templates know three roles. A tool's result becomes a user
 * turn and an assistant's tool calls part of its text, both in the Hermes
 * form (<tool_response>, <tool_call>) that Qwen's and many other templates
 * use, so that an agent's conversation keeps its meaning for the model. */
static char *tool_text(const char *role, json_t *m, char *text, size_t k, char *err, size_t errlen)
{
	struct buf b = {0};
	if (!strcmp(role, "tool")) {
		buf_printf(&b, "<tool_response>\n%s\n</tool_response>", text);
		free(text);
		return b.p;
	}
	json_t *calls = json_object_get(m, "tool_calls"), *call;
	size_t i;
	if (!calls || json_is_null(calls))
		return text;
	if (!json_is_array(calls)) {
		snprintf(err, errlen, "messages[%zu].tool_calls must be an array", k);
		free(text);
		return NULL;
	}
	buf_puts(&b, text);
	free(text);
	json_array_foreach(calls, i, call)
	{
		json_t *fn = json_object_get(call, "function");
		const char *name = json_string_value(json_object_get(fn, "name"));
		json_t *args = json_object_get(fn, "arguments");
		if (!name || !(json_is_string(args) || json_is_object(args))) {
			snprintf(err, errlen, "messages[%zu].tool_calls[%zu] needs function.name and .arguments", k, i);
			buf_free(&b);
			return NULL;
		}
		/* arguments come as a JSON text (OpenAI) or an object (ollama) */
		json_t *parsed = json_is_string(args) ? json_loads(json_string_value(args), 0, NULL) : json_incref(args);
		json_t *o = json_pack("{s:s, s:o}", "name", name, "arguments", parsed ? parsed : json_incref(args));
		char *js = json_dumps(o, JSON_COMPACT);
		json_decref(o);
		buf_printf(&b, "%s<tool_call>\n%s\n</tool_call>", b.len ? "\n" : "", js ? js : "{}");
		free(js);
	}
	buf_putc(&b, 0);
	return b.p;
}

static bool parse_messages(json_t *msgs, struct msg_chat *c, char *err, size_t errlen)
{
	if (!json_is_array(msgs) || json_array_size(msgs) == 0) {
		snprintf(err, errlen, "\"messages\" must be a non-empty array");
		return false;
	}
	size_t i;
	json_t *m;
	c->messages = xcalloc(json_array_size(msgs), sizeof *c->messages);
	json_array_foreach(msgs, i, m)
	{
		const char *role = json_string_value(json_object_get(m, "role"));
		if (!json_is_object(m) || !role) {
			snprintf(err, errlen, "messages[%zu] must be an object with a string \"role\"", i);
			return false;
		}
		if (!strcmp(role, "developer"))
			role = "system";
		if (strcmp(role, "system") && strcmp(role, "user") && strcmp(role, "assistant") && strcmp(role, "tool")) {
			snprintf(err, errlen,
				 "messages[%zu]: role \"%.40s\" is not supported (system, user, assistant, tool)", i, role);
			return false;
		}
		char *text = content_text(json_object_get(m, "content"), i, err, errlen);
		if (text)
			text = tool_text(role, m, text, i, err, errlen);
		if (!text)
			return false;
		c->messages[c->n_messages].role = xstrdup(!strcmp(role, "tool") ? "user" : role);
		c->messages[c->n_messages++].content = text;
	}
	return true;
}

static bool parse_body(struct api_reply *rp, json_t *o, int64_t id, struct msg *req, char *err, size_t errlen)
{
	bool ollama = api_is_ollama(rp->kind);
	json_t *v = json_object_get(o, "stream");
	rp->stream = ollama;
	if (v && !json_is_null(v)) {
		if (!json_is_boolean(v)) {
			snprintf(err, errlen, "\"stream\" must be a boolean");
			return false;
		}
		rp->stream = json_is_true(v);
	}
	v = json_object_get(o, "n");
	if (v && !json_is_null(v) && (!json_is_integer(v) || json_integer_value(v) != 1)) {
		snprintf(err, errlen, "\"n\": only one choice is supported");
		return false;
	}
	v = json_object_get(json_object_get(o, "stream_options"), "include_usage");
	rp->include_usage = v && json_is_true(v);
	v = json_object_get(o, "heft");
	if (v && !json_is_null(v)) {
		json_t *d = json_object_get(v, "detach");
		if (!json_is_object(v) || (d && !json_is_boolean(d))) {
			snprintf(err, errlen, "\"heft\" must be an object, its \"detach\" a boolean");
			return false;
		}
		rp->detach |= json_is_true(d);
	}

	struct msg_options *mo;
	if (rp->kind == API_OAI_CHAT || rp->kind == API_OLLAMA_CHAT) {
		req->type = MSG_CHAT;
		req->chat.id = id;
		mo = &req->chat.options;
		if (!parse_messages(json_object_get(o, "messages"), &req->chat, err, errlen))
			return false;
	} else {
		const char *prompt = json_string_value(json_object_get(o, "prompt"));
		if (!prompt) {
			snprintf(err, errlen, "\"prompt\" must be a string");
			return false;
		}
		const char *system = json_string_value(json_object_get(o, "system"));
		if (rp->kind == API_OLLAMA_GENERATE && !json_is_true(json_object_get(o, "raw"))) {
			/* ollama's generate applies the chat template */
			req->type = MSG_CHAT;
			req->chat.id = id;
			mo = &req->chat.options;
			req->chat.messages = xcalloc(2, sizeof *req->chat.messages);
			if (system) {
				req->chat.messages[0].role = xstrdup("system");
				req->chat.messages[req->chat.n_messages++].content = xstrdup(system);
			}
			req->chat.messages[req->chat.n_messages].role = xstrdup("user");
			req->chat.messages[req->chat.n_messages++].content = xstrdup(prompt);
		} else {
			req->type = MSG_COMPLETE;
			req->complete.id = id;
			req->complete.prompt = xstrdup(prompt);
			mo = &req->complete.options;
		}
	}
	return parse_options(o, ollama, mo, err, errlen);
}

/* Requests nest a few levels (messages, parts, options, tool schemas);
 * deeper is refused before the parser recurses into it. */
#define MAX_DEPTH 64

/* How deep the arrays and objects of a JSON text nest (strings skipped). */
static int json_depth(const char *s, size_t n)
{
	int depth = 0, max = 0;
	bool in_str = false;
	for (size_t i = 0; i < n; i++) {
		char ch = s[i];
		if (in_str) {
			if (ch == '\\')
				i++;
			else if (ch == '"')
				in_str = false;
		} else if (ch == '"') {
			in_str = true;
		} else if (ch == '[' || ch == '{') {
			depth++;
			max = MAX(max, depth);
		} else if (ch == ']' || ch == '}') {
			depth--;
		}
	}
	return max;
}

bool api_parse(struct api_reply *rp, const char *body, size_t len, int64_t id, struct msg *req, char *err,
	       size_t errlen)
{
	json_error_t je;
	*req = (struct msg){0};
	rp->status = 200;
	if (json_depth(body, len) > MAX_DEPTH) {
		snprintf(err, errlen, "the body nests arrays and objects deeper than %d levels", MAX_DEPTH);
		return false;
	}
	/* jansson refuses invalid UTF-8 and nesting deeper than its limit */
	json_t *o = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
	if (!o) {
		snprintf(err, errlen, "the body is not valid JSON: %s (line %d, column %d)", je.text, je.line,
			 je.column);
		return false;
	}
	bool ok = json_is_object(o);
	if (!ok)
		snprintf(err, errlen, "the body must be a JSON object");
	ok = ok && parse_body(rp, o, id, req, err, errlen);
	json_decref(o);
	if (!ok)
		msg_free(req);
	rp->status = 200;
	return ok;
}

/* ---- replies ------------------------------------------------------------------------- */

static void put_json(struct api_reply *rp, json_t *o, struct buf *out)
{
	char *s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	if (!s)
		return;
	if (api_is_ollama(rp->kind)) {
		buf_puts(out, s);
		buf_putc(out, '\n');
	} else {
		buf_puts(out, "data: ");
		buf_puts(out, s);
		buf_puts(out, "\n\n");
	}
	free(s);
}

static void created_at(char *s, size_t n)
{
	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	size_t k = strftime(s, n, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(s + k, n - k, ".%09ldZ", ts.tv_nsec);
}

/* The frame every chunk of an OpenAI stream shares; choices to fill. */
static json_t *oai_chunk(struct api_reply *rp, json_t **choice)
{
	bool chat = rp->kind == API_OAI_CHAT;
	json_t *o = json_pack("{s:s, s:s, s:I, s:s}", "id", rp->id, "object",
			      chat ? "chat.completion.chunk" : "text_completion", "created", (json_int_t)rp->created,
			      "model", rp->model);
	json_t *choices = json_array();
	if (choice) {
		*choice = json_pack("{s:i, s:n}", "index", 0, "finish_reason");
		json_array_append_new(choices, *choice);
	}
	json_object_set_new(o, "choices", choices);
	return o;
}

static json_t *ollama_line(struct api_reply *rp)
{
	char t[48];
	created_at(t, sizeof t);
	json_t *o = json_pack("{s:s, s:s}", "model", rp->model, "created_at", t);
	if (rp->detach) /* OpenAI chunks carry it as their id */
		json_object_set_new(o, "heft_job", json_string(rp->id));
	return o;
}

/* Text of the reply (reasoning: the thinking), as it comes. */
static void put_text(struct api_reply *rp, const char *s, size_t n, bool reasoning, struct buf *out)
{
	if (!n)
		return;
	if (!rp->stream) {
		buf_append(reasoning ? &rp->reasoning : &rp->content, s, n);
		return;
	}
	json_t *text = json_stringn(s, n), *o, *choice;
	if (!text)
		return; /* the session's pieces are UTF-8; never reached */
	switch (rp->kind) {
	case API_OAI_CHAT:
		o = oai_chunk(rp, &choice);
		json_object_set_new(choice, "delta",
				    json_pack("{s:o}", reasoning ? "reasoning_content" : "content", text));
		break;
	case API_OAI_COMPLETION:
		o = oai_chunk(rp, &choice);
		json_object_set_new(choice, "text", text);
		json_object_set_new(choice, "logprobs", json_null());
		break;
	case API_OLLAMA_CHAT:
		o = ollama_line(rp);
		json_t *msg = json_pack("{s:s, s:s}", "role", "assistant", "content", "");
		json_object_set_new(msg, reasoning ? "thinking" : "content", text);
		json_object_set_new(o, "message", msg);
		json_object_set_new(o, "done", json_false());
		break;
	default:
		o = ollama_line(rp);
		json_object_set_new(o, "response", json_string(""));
		json_object_set_new(o, reasoning ? "thinking" : "response", text);
		json_object_set_new(o, "done", json_false());
		break;
	}
	put_json(rp, o, out);
}

/* How many of s's last n bytes may begin tag. */
static size_t tag_prefix(const char *s, size_t n, const char *tag)
{
	size_t t = strlen(tag);
	for (size_t k = MIN(n, t - 1); k > 0; k--)
		if (!memcmp(s + n - k, tag, k))
			return k;
	return 0;
}

/* Route text through the think state; final: nothing more comes. */
static void feed(struct api_reply *rp, const char *s, size_t n, bool final, struct buf *out)
{
	buf_append(&rp->pend, s, n);
	for (;;) {
		char *p = rp->pend.p;
		size_t len = rp->pend.len, used;
		if (rp->think == THINK_START) {
			size_t t = strlen(THINK_OPEN);
			if (len >= t && !memcmp(p, THINK_OPEN, t)) {
				rp->think = THINK_IN;
				used = t;
			} else if (!final && len < t && !memcmp(p, THINK_OPEN, len)) {
				return;
			} else {
				rp->think = THINK_OUT;
				continue;
			}
		} else if (rp->think == THINK_IN) {
			char *end = memmem(p, len, THINK_CLOSE, strlen(THINK_CLOSE));
			if (end) {
				put_text(rp, p, (size_t)(end - p), true, out);
				used = (size_t)(end - p) + strlen(THINK_CLOSE);
				rp->think = THINK_AFTER;
			} else {
				used = final ? len : len - tag_prefix(p, len, THINK_CLOSE);
				put_text(rp, p, used, true, out);
				if (!final || !used) {
					memmove(p, p + used, len - used);
					rp->pend.len = len - used;
					return;
				}
			}
		} else if (rp->think == THINK_AFTER) {
			for (used = 0; used < len && p[used] == '\n'; used++)
				;
			if (used < len)
				rp->think = THINK_OUT;
		} else {
			put_text(rp, p, len, false, out);
			used = len;
		}
		memmove(p, p + used, len - used);
		rp->pend.len = len - used;
		if (!rp->pend.len)
			return;
	}
}

static const char *finish_reason(enum msg_reason r)
{
	return r == DONE_LENGTH || r == DONE_CTX_FULL ? "length" : "stop";
}

static json_t *usage(const struct msg_done *d)
{
	return json_pack("{s:I, s:I, s:I, s:{s:I}}", "prompt_tokens", (json_int_t)(d->n_prompt + d->n_cached),
			 "completion_tokens", (json_int_t)d->n_gen, "total_tokens",
			 (json_int_t)(d->n_prompt + d->n_cached + d->n_gen), "prompt_tokens_details", "cached_tokens",
			 (json_int_t)d->n_cached);
}

/* llama-server's timings. */
static json_t *timings(const struct msg_done *d)
{
	return json_pack("{s:I, s:I, s:f, s:f, s:f, s:I, s:f, s:f, s:f}", "cache_n", (json_int_t)d->n_cached,
			 "prompt_n", (json_int_t)d->n_prompt, "prompt_ms", d->prompt_ms, "prompt_per_token_ms",
			 d->n_prompt ? d->prompt_ms / (double)d->n_prompt : 0.0, "prompt_per_second",
			 d->prompt_tok_s, "predicted_n", (json_int_t)d->n_gen, "predicted_ms", d->gen_ms,
			 "predicted_per_token_ms", d->n_gen ? d->gen_ms / (double)d->n_gen : 0.0,
			 "predicted_per_second", d->gen_tok_s);
}

static void ollama_counts(json_t *o, const struct api_reply *rp)
{
	const struct msg_done *d = &rp->done;
	json_object_set_new(o, "done", json_true());
	json_object_set_new(o, "done_reason", json_string(finish_reason(d->reason)));
	json_object_set_new(o, "total_duration", json_integer((json_int_t)((now_sec() - rp->t0) * 1e9)));
	json_object_set_new(o, "load_duration", json_integer(0));
	json_object_set_new(o, "prompt_eval_count", json_integer(d->n_prompt + d->n_cached));
	json_object_set_new(o, "prompt_eval_duration", json_integer((json_int_t)(d->prompt_ms * 1e6)));
	json_object_set_new(o, "eval_count", json_integer(d->n_gen));
	json_object_set_new(o, "eval_duration", json_integer((json_int_t)(d->gen_ms * 1e6)));
}

/* An error body; n_prompt and n_ctx go with exceed_context_size_error. */
static void error_body(struct buf *out, bool ollama, int status, const char *type, const char *message,
		       int64_t n_prompt, int64_t n_ctx)
{
	json_t *m = json_string(message);
	if (!m) /* never from a client: their text is checked UTF-8 */
		m = json_string("error");
	json_t *o = ollama ? json_pack("{s:o}", "error", m)
			   : json_pack("{s:{s:i, s:o, s:s}}", "error", "code", status, "message", m, "type", type);
	if (!ollama && type && !strcmp(type, "exceed_context_size_error")) {
		json_t *e = json_object_get(o, "error");
		json_object_set_new(e, "n_prompt_tokens", json_integer(n_prompt));
		json_object_set_new(e, "n_ctx", json_integer(n_ctx));
	}
	char *s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	buf_puts(out, s ? s : "{}");
	free(s);
}

void api_error_body(struct buf *out, bool ollama, int status, const char *type, const char *message)
{
	error_body(out, ollama, status, type, message, -1, -1);
}

static void fail(struct api_reply *rp, int status, const char *type, const char *message, struct buf *out)
{
	if (rp->failed)
		return;
	rp->failed = true;
	rp->status = status;
	rp->err_type = type;
	free(rp->err_msg);
	rp->err_msg = xstrdup(message ? message : "error");
	if (!rp->stream)
		return;
	struct buf b = {0};
	error_body(&b, api_is_ollama(rp->kind), status, type, rp->err_msg, rp->err_n_prompt, rp->err_n_ctx);
	if (!api_is_ollama(rp->kind))
		buf_puts(out, "data: ");
	buf_append(out, b.p, b.len);
	buf_puts(out, api_is_ollama(rp->kind) ? "\n" : "\n\n");
	buf_free(&b);
}

static void on_error(struct api_reply *rp, const struct msg_error *e, struct buf *out)
{
	switch (e->code) {
	case MSG_E_NO_MODEL:
	case MSG_E_BUSY: fail(rp, 503, "unavailable_error", e->message, out); break;
	case MSG_E_BAD_MESSAGE:
	case MSG_E_NOT_FOUND: fail(rp, 400, "invalid_request_error", e->message, out); break;
	case MSG_E_UNSUPPORTED: fail(rp, 501, "not_supported_error", e->message, out); break;
	default: fail(rp, 500, "server_error", e->message, out); break;
	}
}

static void on_done(struct api_reply *rp, const struct msg_done *d, struct buf *out)
{
	rp->have_done = true;
	rp->done = *d;
	rp->done.message = NULL;
	if (d->reason == DONE_CTX_FULL && d->n_gen == 0) {
		/* the prompt's size is only in the session's message */
		const char *p = d->message ? strstr(d->message, "the prompt is ") : NULL;
		rp->err_n_prompt = p ? strtoll(p + strlen("the prompt is "), NULL, 10) : 0;
		rp->err_n_ctx = d->has_pos ? d->n_ctx : 0;
		fail(rp, 400, "exceed_context_size_error",
		     d->message ? d->message : "the request exceeds the available context size", out);
		return;
	}
	if (d->reason == DONE_ERROR || d->reason == DONE_CANCEL)
		fail(rp, 500, "server_error", d->reason == DONE_CANCEL ? "cancelled" : "generation failed", out);
}

void api_event(struct api_reply *rp, const struct msg *ev, struct buf *out)
{
	switch (ev->type) {
	case MSG_TOKEN:
		if (rp->failed)
			break;
		if (rp->stream && rp->kind == API_OAI_CHAT && !rp->role_sent) {
			json_t *choice, *o = oai_chunk(rp, &choice);
			json_object_set_new(choice, "delta", json_pack("{s:s, s:n}", "role", "assistant", "content"));
			put_json(rp, o, out);
		}
		rp->role_sent = true;
		feed(rp, ev->token.text, strlen(ev->token.text), false, out);
		break;
	case MSG_ERROR: on_error(rp, &ev->error, out); break;
	case MSG_DONE:
		if (!rp->failed)
			on_done(rp, &ev->done, out);
		break;
	default: break;
	}
}

/* The progress as the job ended, as a comment line of the event that
 * follows: no event of its own, so the events' ids stay those of the
 * data, and every SSE parser skips it. */
static void last_progress(struct api_reply *rp, struct buf *out)
{
	char *s = rp->progress ? json_dumps(rp->progress, JSON_COMPACT) : NULL;
	if (!s)
		return;
	buf_puts(out, ": heft.progress ");
	buf_puts(out, s);
	buf_putc(out, '\n');
	free(s);
}

/* The last chunks of a stream. */
static void finish_stream(struct api_reply *rp, struct buf *out)
{
	json_t *o, *choice;
	const struct msg_done *d = &rp->done;
	switch (rp->kind) {
	case API_OAI_CHAT:
	case API_OAI_COMPLETION:
		if (rp->kind == API_OAI_CHAT && !rp->role_sent) {
			o = oai_chunk(rp, &choice);
			json_object_set_new(choice, "delta", json_pack("{s:s, s:n}", "role", "assistant", "content"));
			put_json(rp, o, out);
		}
		o = oai_chunk(rp, &choice);
		if (rp->kind == API_OAI_CHAT)
			json_object_set_new(choice, "delta", json_object());
		else
			json_object_set_new(choice, "text", json_string(""));
		json_object_set_new(choice, "finish_reason", json_string(finish_reason(d->reason)));
		json_object_set_new(o, "timings", timings(d));
		last_progress(rp, out);
		put_json(rp, o, out);
		if (rp->include_usage) {
			o = oai_chunk(rp, NULL);
			json_object_set_new(o, "usage", usage(d));
			put_json(rp, o, out);
		}
		buf_puts(out, "data: [DONE]\n\n");
		break;
	case API_OLLAMA_CHAT:
		o = ollama_line(rp);
		json_object_set_new(o, "message", json_pack("{s:s, s:s}", "role", "assistant", "content", ""));
		ollama_counts(o, rp);
		if (rp->progress)
			json_object_set(o, "heft_progress", rp->progress);
		put_json(rp, o, out);
		break;
	case API_OLLAMA_GENERATE:
		o = ollama_line(rp);
		json_object_set_new(o, "response", json_string(""));
		ollama_counts(o, rp);
		if (rp->progress)
			json_object_set(o, "heft_progress", rp->progress);
		put_json(rp, o, out);
		break;
	}
}

static json_t *text_or_empty(const struct buf *b)
{
	json_t *s = json_stringn(b->p ? b->p : "", b->len);
	return s ? s : json_string("");
}

/* The whole reply, not streamed. */
static json_t *whole(struct api_reply *rp)
{
	const struct msg_done *d = &rp->done;
	json_t *o, *msg;
	switch (rp->kind) {
	case API_OAI_CHAT:
		msg = json_pack("{s:s, s:o}", "role", "assistant", "content", text_or_empty(&rp->content));
		if (rp->reasoning.len)
			json_object_set_new(msg, "reasoning_content", text_or_empty(&rp->reasoning));
		o = json_pack("{s:s, s:s, s:I, s:s, s:[{s:i, s:o, s:s}], s:o, s:o}", "id", rp->id, "object",
			      "chat.completion", "created", (json_int_t)rp->created, "model", rp->model, "choices",
			      "index", 0, "message", msg, "finish_reason", finish_reason(d->reason), "usage",
			      usage(d), "timings", timings(d));
		return o;
	case API_OAI_COMPLETION:
		return json_pack("{s:s, s:s, s:I, s:s, s:[{s:i, s:o, s:n, s:s}], s:o, s:o}", "id", rp->id, "object",
				 "text_completion", "created", (json_int_t)rp->created, "model", rp->model, "choices",
				 "index", 0, "text", text_or_empty(&rp->content), "logprobs", "finish_reason",
				 finish_reason(d->reason), "usage", usage(d), "timings", timings(d));
	case API_OLLAMA_CHAT:
		o = ollama_line(rp);
		msg = json_pack("{s:s, s:o}", "role", "assistant", "content", text_or_empty(&rp->content));
		if (rp->reasoning.len)
			json_object_set_new(msg, "thinking", text_or_empty(&rp->reasoning));
		json_object_set_new(o, "message", msg);
		ollama_counts(o, rp);
		return o;
	case API_OLLAMA_GENERATE:
		o = ollama_line(rp);
		json_object_set_new(o, "response", text_or_empty(&rp->content));
		if (rp->reasoning.len)
			json_object_set_new(o, "thinking", text_or_empty(&rp->reasoning));
		ollama_counts(o, rp);
		return o;
	}
	return json_object();
}

int api_finish(struct api_reply *rp, struct buf *out)
{
	if (!rp->failed)
		feed(rp, "", 0, true, out);
	if (!rp->failed && !rp->have_done)
		fail(rp, 500, "server_error", "the request ended without an answer", out);
	if (rp->stream) {
		if (!rp->failed)
			finish_stream(rp, out);
		return 200;
	}
	if (rp->failed) {
		error_body(out, api_is_ollama(rp->kind), rp->status, rp->err_type, rp->err_msg, rp->err_n_prompt,
			   rp->err_n_ctx);
		return rp->status;
	}
	json_t *o = whole(rp);
	char *s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	buf_puts(out, s ? s : "{}");
	free(s);
	return 200;
}

void api_reply_free(struct api_reply *rp)
{
	buf_free(&rp->pend);
	buf_free(&rp->content);
	buf_free(&rp->reasoning);
	free(rp->err_msg);
	rp->err_msg = NULL;
	json_decref(rp->progress);
	rp->progress = NULL;
}

/* An NDJSON line ollama clients take as an empty piece of the reply. */
static json_t *ollama_empty(struct api_reply *rp)
{
	json_t *o = ollama_line(rp);
	if (rp->kind == API_OLLAMA_CHAT)
		json_object_set_new(o, "message", json_pack("{s:s, s:s}", "role", "assistant", "content", ""));
	else
		json_object_set_new(o, "response", json_string(""));
	json_object_set_new(o, "done", json_false());
	return o;
}

void api_progress(struct api_reply *rp, json_t *progress, struct buf *out)
{
	if (api_is_ollama(rp->kind)) {
		json_t *o = ollama_empty(rp);
		json_object_set(o, "heft_progress", progress);
		put_json(rp, o, out);
		return;
	}
	char *s = json_dumps(progress, JSON_COMPACT);
	if (!s)
		return;
	buf_puts(out, ": heft.progress ");
	buf_puts(out, s);
	buf_puts(out, "\n\n");
	free(s);
}

json_t *api_progress_stats(const struct msg_numbers *all)
{
	struct msg m = {.type = MSG_STATS};
	struct buf line = {0};
	json_t *o = NULL;

	for (size_t i = 0; i < all->n; i++) {
		const struct msg_stat *s = &all->v[i];
		if (!stat_in_progress(s->key))
			continue;
		if (s->is_array)
			msg_numbers_add_array(&m.stats.stats, s->key, s->v, s->n);
		else
			msg_numbers_add(&m.stats.stats, s->key, s->v[0]);
	}
	/* The protocol's own encoding, so a client decodes it as a stats
	 * event (null: not available) and fills its panes the one way. */
	if (m.stats.stats.n && msg_encode(&m, &line)) {
		json_t *ev = json_loadb(line.p, line.len, 0, NULL);
		o = json_incref(json_object_get(ev, "stats"));
		json_decref(ev);
	}
	buf_free(&line);
	msg_numbers_free(&m.stats.stats);
	return o;
}

void api_ping(struct api_reply *rp, struct buf *out)
{
	if (!api_is_ollama(rp->kind)) {
		buf_puts(out, ": ping\n\n");
		return;
	}
	put_json(rp, ollama_empty(rp), out);
}
