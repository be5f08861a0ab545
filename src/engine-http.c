/* engine-http.c - the engine as an HTTP server: heft-protocol(5) requests
 * turned into OpenAI chat-completions or ollama /api/chat calls, their
 * streamed answers into the protocol's events.
 *
 * libcurl's multi interface runs inside the caller's poll() loop through
 * its socket and timer callbacks: curl says which sockets to watch and
 * when to come back, engine_io() hands it what poll() saw. Name lookups run
 * in curl's resolver thread; nothing here blocks. The API is stateless, so
 * every chat request carries the conversation so far and truncate is a
 * no-op. Cancel closes the transfer: that is how a server learns of it.
 * The API key goes into one request header and nowhere else. */
#include <curl/curl.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "engine-int.h"
#include "stream-parse.h"
#include "think.h"
#include "util.h"

#define PROBE_TIMEOUT_S 15
#define CONNECT_TIMEOUT_S 15
#define STALL_DEFAULT_S 300	/* above any server's ping interval */
#define BODY_MAX ((size_t)1 << 20)	/* an error or a model list */
#define RETRY_MAX_S 60		/* a Retry-After heft waits for, once */

enum api { API_UNKNOWN, API_OPENAI, API_OLLAMA };
enum xkind { X_VERSION, X_MODELS, X_LIST, X_CHAT };
enum state { ST_IDLE, ST_PROBING, ST_READY };

struct xfer {
	CURL *h;
	enum xkind kind;
	struct curl_slist *hdrs;
	struct buf body;	/* the answer of a probe, or an error body */
	struct stream_parser sp;
	long status;
	long retry_after;	/* seconds, -1: none */
	char *fail;		/* what the parser refused, or NULL */
	char errbuf[CURL_ERROR_SIZE];
	struct http_engine *he;
};

struct http_engine {
	struct engine base;
	char *root;		/* the URL without a trailing "/" or "/v1" */
	char *shown;		/* the URL without user:password, for messages */
	bool v1;		/* the URL ended in /v1 */
	char *auth;		/* "Authorization: Bearer KEY", or NULL */
	char *ca_file;		/* certificates to trust instead of the system's, or NULL */
	enum api api;
	double stall_s;
	struct msg_numbers stats;	/* the last a heft server sent: /stats shows it */
	char *model;
	bool running;
	enum state st;
	CURLM *multi;
	struct { curl_socket_t fd; int what; } socks[ENGINE_POLLFDS_MAX];
	int nsocks;
	double timer_at;	/* < 0: curl wants no timeout call */
	struct xfer *probe, *chat;
	struct xfer *list;	/* /model's list of the server's models */
	bool want_list;		/* asked for, waiting for the dialect */
	/* the chat request: active (chat != NULL), pending a probe or a
	 * retry (pending), or none */
	bool pending;
	int64_t chat_id;
	json_t *chat_msgs;	/* the conversation to send (owned) */
	double retry_at;	/* > 0: resend then */
	bool retried;
	double t_start, t_last;
	double last_rx;		/* when the chat transfer last received a byte */
	int64_t n_tok, n_think;
	bool in_think;		/* the reasoning is open: "<think>" sent, no "</think>" yet */
	bool got_end;
	enum msg_reason reason;
	int64_t n_prompt, n_gen, n_cached;
	double prompt_ms, gen_ms;
	struct msg_options opts;
	struct msg *q;		/* events waiting for engine_io */
	size_t nq, capq;
};

#define HE(e) ((struct http_engine *)(e))

static struct msg *push(struct http_engine *he, enum msg_type t)
{
	if (he->nq == he->capq) {
		he->capq = he->capq ? 2 * he->capq : 16;
		he->q = xrealloc(he->q, he->capq * sizeof *he->q);
	}
	struct msg *m = &he->q[he->nq++];
	memset(m, 0, sizeof *m);
	m->type = t;
	return m;
}

static void push_error(struct http_engine *he, enum msg_errcode code, bool has_id, int64_t id,
		       const char *text)
{
	struct msg *m = push(he, MSG_ERROR);
	m->error.code = code;
	m->error.message = xstrdup(text);
	m->error.has_id = has_id;
	m->error.id = id;
}

static const char *api_name(enum api a)
{
	return a == API_OLLAMA ? "ollama" : "openai";
}

/* ---- curl plumbing ------------------------------------------------------------- */

static int sock_cb(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
	struct http_engine *he = userp;
	int i;

	for (i = 0; i < he->nsocks && he->socks[i].fd != fd; i++)
		;
	if (what == CURL_POLL_REMOVE) {
		if (i < he->nsocks)
			he->socks[i] = he->socks[--he->nsocks];
		return 0;
	}
	if (i == he->nsocks) {
		if (he->nsocks == ENGINE_POLLFDS_MAX)
			return 0;	/* curl's timer still drives it */
		he->nsocks++;
	}
	he->socks[i].fd = fd;
	he->socks[i].what = what;
	return 0;
}

static int timer_cb(CURLM *multi, long ms, void *userp)
{
	struct http_engine *he = userp;
	he->timer_at = ms < 0 ? -1 : now_sec() + ms / 1000.0;
	return 0;
}

static size_t header_cb(char *p, size_t size, size_t n, void *ud)
{
	struct xfer *x = ud;
	size_t len = size * n;

	x->he->last_rx = now_sec();
	if (len >= 5 && !strncmp(p, "HTTP/", 5))
		x->retry_after = -1;	/* a new response (after a 100) */
	else if (len > 12 && !strncasecmp(p, "Retry-After:", 12)) {
		char tmp[32];
		size_t k = len - 12 < sizeof tmp - 1 ? len - 12 : sizeof tmp - 1;
		memcpy(tmp, p + 12, k);
		tmp[k] = '\0';
		char *end;
		long v = strtol(tmp, &end, 10);
		/* Seconds only; an HTTP date is "it did not say when" to us. */
		x->retry_after = end != tmp && v >= 0 && strspn(end, " \t\r\n") == strlen(end) ? v : -1;
	}
	return len;
}

static void on_sp(void *ctx, const struct sp_event *ev);

static size_t write_cb(char *p, size_t size, size_t n, void *ud)
{
	struct xfer *x = ud;
	size_t len = size * n;

	x->he->last_rx = now_sec();
	if (!x->status)
		curl_easy_getinfo(x->h, CURLINFO_RESPONSE_CODE, &x->status);
	if (x->kind == X_CHAT && x->status / 100 == 2) {
		sp_feed(&x->sp, p, len, on_sp, x);
		return x->fail ? 0 : len;	/* refused: close the transfer now */
	}
	if (x->body.len + len > BODY_MAX)
		return 0;
	buf_append(&x->body, p, len);
	return len;
}

static struct xfer *xfer_new(struct http_engine *he, enum xkind kind, const char *url)
{
	struct xfer *x = xcalloc(1, sizeof *x);
	x->he = he;
	x->kind = kind;
	x->retry_after = -1;
	x->h = curl_easy_init();
	if (!x->h)
		die("curl_easy_init failed");
	curl_easy_setopt(x->h, CURLOPT_URL, url);
	curl_easy_setopt(x->h, CURLOPT_PRIVATE, x);
	curl_easy_setopt(x->h, CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(x->h, CURLOPT_WRITEDATA, x);
	curl_easy_setopt(x->h, CURLOPT_HEADERFUNCTION, header_cb);
	curl_easy_setopt(x->h, CURLOPT_HEADERDATA, x);
	curl_easy_setopt(x->h, CURLOPT_ERRORBUFFER, x->errbuf);
	curl_easy_setopt(x->h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(x->h, CURLOPT_CONNECTTIMEOUT, (long)CONNECT_TIMEOUT_S);
	curl_easy_setopt(x->h, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(x->h, CURLOPT_USERAGENT, "heft/" PACKAGE_VERSION);
	curl_easy_setopt(x->h, CURLOPT_PROTOCOLS_STR, "http,https");
	if (he->ca_file)
		curl_easy_setopt(x->h, CURLOPT_CAINFO, he->ca_file);
	if (he->auth)
		x->hdrs = curl_slist_append(x->hdrs, he->auth);
	if (kind == X_CHAT) {
		x->hdrs = curl_slist_append(x->hdrs, "Content-Type: application/json");
		x->hdrs = curl_slist_append(x->hdrs, he->api == API_OLLAMA ? "Accept: application/x-ndjson"
					    : "Accept: text/event-stream");
		sp_init(&x->sp, he->api == API_OLLAMA ? SP_NDJSON : SP_SSE, 0);
	} else {
		curl_easy_setopt(x->h, CURLOPT_TIMEOUT, (long)PROBE_TIMEOUT_S);
	}
	curl_easy_setopt(x->h, CURLOPT_HTTPHEADER, x->hdrs);
	return x;
}

static void xfer_free(struct http_engine *he, struct xfer *x)
{
	if (!x)
		return;
	/* Removing an unfinished transfer closes its connection. */
	curl_multi_remove_handle(he->multi, x->h);
	curl_easy_cleanup(x->h);
	curl_slist_free_all(x->hdrs);
	buf_free(&x->body);
	if (x->kind == X_CHAT)
		sp_free(&x->sp);
	free(x->fail);
	free(x);
}

static void xfer_go(struct http_engine *he, struct xfer *x)
{
	CURLMcode rc = curl_multi_add_handle(he->multi, x->h);
	if (rc != CURLM_OK)
		die("curl_multi_add_handle: %s", curl_multi_strerror(rc));
}

static char *url_of(const struct http_engine *he, const char *path, bool openai)
{
	char *u;
	xasprintf(&u, "%s%s%s", he->root, openai ? "/v1" : "", path);
	return u;
}

/* ---- probing: which API, which model ------------------------------------------- */

static void start_chat(struct http_engine *he);
static void chat_failed(struct http_engine *he, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Go as far as we can towards "ready": dialect, then model, then the
 * chat request that waits for them. */
static void advance(struct http_engine *he)
{
	char *u;

	if (!he->running || he->st == ST_PROBING)
		return;
	if (he->api != API_UNKNOWN && he->want_list && !he->list) {
		he->want_list = false;
		u = he->api == API_OLLAMA ? url_of(he, "/api/tags", false) : url_of(he, "/models", true);
		he->list = xfer_new(he, X_LIST, u);
		free(u);
		xfer_go(he, he->list);
	}
	if (he->api == API_UNKNOWN || !he->model) {
		bool version = he->api == API_UNKNOWN;
		u = version ? url_of(he, "/api/version", false)
		    : he->api == API_OLLAMA ? url_of(he, "/api/tags", false) : url_of(he, "/models", true);
		he->probe = xfer_new(he, version ? X_VERSION : X_MODELS, u);
		free(u);
		he->st = ST_PROBING;
		xfer_go(he, he->probe);
		return;
	}
	if (he->st != ST_READY) {
		he->st = ST_READY;
		struct msg *m = push(he, MSG_LOADED);
		m->loaded.model = xstrdup(he->model);
		m->loaded.arch = xstrdup(he->model);
		m->loaded.mode = xstrdup(api_name(he->api));
		/* The panes say "not available from this server", not "the engine's". */
		msg_numbers_add(&m->loaded.plan, "server", 1);
	}
	if (he->pending && he->retry_at <= 0)
		start_chat(he);
}

/* The reason a transfer failed, for a person. */
static void describe(const struct http_engine *he, const struct xfer *x, CURLcode res, char *out, size_t n)
{
	const char *why = x->errbuf[0] ? x->errbuf : curl_easy_strerror(res), *hint = "";

	switch (res) {
	case CURLE_SSL_CONNECT_ERROR:
		hint = " (the TLS handshake failed: is it an HTTPS server? http:// speaks plain HTTP)";
		break;
	case CURLE_PEER_FAILED_VERIFICATION:
		hint = " (its TLS certificate is not trusted: HEFT_CA_BUNDLE=FILE trusts the CA or "
		       "self-signed certificate in FILE)";
		break;
	case CURLE_SSL_CACERT_BADFILE:
		hint = " (HEFT_CA_BUNDLE: cannot read that file)";
		break;
	default:
		break;
	}
	snprintf(out, n, "cannot reach the server at %s: %s%s", he->shown, why, hint);
}

static void probe_failed(struct http_engine *he, const char *text)
{
	he->st = ST_IDLE;	/* the next request tries again */
	if (he->pending)
		chat_failed(he, "%s", text);
	else
		push_error(he, MSG_E_IO, false, 0, text);
}

static void probe_done(struct http_engine *he, struct xfer *x, CURLcode res)
{
	char msg[512];
	json_error_t jerr;

	he->probe = NULL;
	he->st = ST_IDLE;
	if (res != CURLE_OK) {
		describe(he, x, res, msg, sizeof msg);
		xfer_free(he, x);
		probe_failed(he, msg);
		return;
	}
	json_t *o = json_loadb(x->body.p ? x->body.p : "", x->body.len, 0, &jerr);
	if (x->kind == X_VERSION) {
		/* Only ollama answers /api/version with {"version": ...}. */
		he->api = x->status == 200 && json_is_string(json_object_get(o, "version")) ? API_OLLAMA
			  : API_OPENAI;
	} else if (!he->model) {
		json_t *list = json_object_get(o, he->api == API_OLLAMA ? "models" : "data");
		json_t *first = json_array_get(list, 0);
		json_t *name = json_object_get(first, he->api == API_OLLAMA ? "name" : "id");
		if (json_is_string(name) && *json_string_value(name)) {
			he->model = xstrdup(json_string_value(name));
		} else {
			char *em = sp_error_message(x->body.p ? x->body.p : "", x->body.len);
			snprintf(msg, sizeof msg, "the server at %s lists no model (%s %ld%s%s): -m NAME picks one",
				 he->shown, he->api == API_OLLAMA ? "/api/tags" : "/v1/models", x->status,
				 em ? ": " : "", em ? em : "");
			free(em);
			json_decref(o);
			xfer_free(he, x);
			probe_failed(he, msg);
			return;
		}
	}
	json_decref(o);
	xfer_free(he, x);
	advance(he);
}

/* The names a model list holds (OpenAI's data[].id, ollama's
 * models[].name), ", "-separated in out; how many. */
static size_t model_names(const struct http_engine *he, json_t *o, struct buf *out)
{
	json_t *list = json_object_get(o, he->api == API_OLLAMA ? "models" : "data"), *v;
	size_t i, n = 0;

	json_array_foreach(list, i, v) {
		json_t *name = json_object_get(v, he->api == API_OLLAMA ? "name" : "id");
		if (!json_is_string(name) || !*json_string_value(name))
			continue;
		bool cur = he->model && !strcmp(he->model, json_string_value(name));
		buf_printf(out, "%s%s%s", n++ ? ", " : "", json_string_value(name), cur ? " (in use)" : "");
	}
	return n;
}

static void list_done(struct http_engine *he, struct xfer *x, CURLcode res)
{
	char msg[512];
	struct buf names = { 0 };
	json_error_t jerr;

	he->list = NULL;
	if (res != CURLE_OK) {
		describe(he, x, res, msg, sizeof msg);
		engine_notice(&he->base, msg);
		xfer_free(he, x);
		return;
	}
	json_t *o = json_loadb(x->body.p ? x->body.p : "", x->body.len, 0, &jerr);
	size_t n = x->status / 100 == 2 ? model_names(he, o, &names) : 0;
	char *s;
	if (n)
		xasprintf(&s, "Models on %s (%s): %s. /model NAME switches.", he->shown,
			  he->api == API_OLLAMA ? "/api/tags" : "/v1/models", names.p);
	else
		xasprintf(&s, "The server at %s lists no model (%s, HTTP %ld)%s", he->shown,
			  he->api == API_OLLAMA ? "/api/tags" : "/v1/models", x->status,
			  he->model ? "" : ": -m NAME or /model NAME picks one");
	engine_notice(&he->base, s);
	free(s);
	buf_free(&names);
	json_decref(o);
	xfer_free(he, x);
}

static bool http_list_models(struct engine *e)
{
	struct http_engine *he = HE(e);

	if (!he->running || he->list)
		return he->running;
	he->want_list = true;
	advance(he);	/* lists now, or once the dialect is known */
	return true;
}

/* ---- the chat request ------------------------------------------------------------ */

static void push_text(struct http_engine *he, const char *prefix, const char *text, double now);

static void push_done(struct http_engine *he, enum msg_reason reason, const char *message)
{
	if (he->in_think)	/* a reply that was all thinking: closed, its answer empty */
		push_text(he, "\n" THINK_CLOSE "\n", "", now_sec());
	he->in_think = false;
	struct msg *m = push(he, MSG_DONE);
	struct msg_done *d = &m->done;
	double wall_ms = (now_sec() - he->t_start) * 1000;

	d->id = he->chat_id;
	d->reason = reason;
	d->n_prompt = he->n_prompt > 0 ? he->n_prompt : 0;
	d->n_cached = he->n_cached > 0 ? he->n_cached : 0;
	d->n_gen = he->n_gen >= 0 ? he->n_gen : he->n_tok + he->n_think;
	if (!isnan(he->gen_ms) && he->gen_ms > 0)
		d->gen_tok_s = d->n_gen * 1000.0 / he->gen_ms;
	else if (d->n_gen > 0 && wall_ms > 0)
		d->gen_tok_s = d->n_gen * 1000.0 / wall_ms;
	if (!isnan(he->prompt_ms) && he->prompt_ms > 0)
		d->prompt_tok_s = d->n_prompt * 1000.0 / he->prompt_ms;
	d->has_ms = !isnan(he->prompt_ms) && !isnan(he->gen_ms);
	d->prompt_ms = d->has_ms ? he->prompt_ms : 0;
	d->gen_ms = d->has_ms ? he->gen_ms : 0;
	d->message = message ? xstrdup(message) : NULL;
}

static void chat_reset(struct http_engine *he)
{
	xfer_free(he, he->chat);
	he->chat = NULL;
	he->pending = false;
	he->retry_at = 0;
	json_decref(he->chat_msgs);
	he->chat_msgs = NULL;
}

static void chat_failed(struct http_engine *he, const char *fmt, ...)
{
	char msg[768];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	push_done(he, DONE_ERROR, msg);
	chat_reset(he);
}

/* The progress object's "stats": the server's numbers under the names
 * and in the form of the pipe's stats event (heft-engine(1)), decoded as
 * one, so the panes take them the way they take a local engine's. */
static void progress_stats(struct http_engine *he, json_t *stats)
{
	json_t *ev = json_pack("{s:s, s:O}", "type", "stats", "stats", stats);
	char *line = ev ? json_dumps(ev, JSON_COMPACT) : NULL;
	struct msg_err err;
	struct msg m;

	if (line && msg_decode(&m, line, strlen(line), MSG_EVENT, &err)) {
		msg_numbers_free(&he->stats);
		msg_numbers_append(&he->stats, &m.stats.stats);
		*push(he, MSG_STATS) = m;
	}
	free(line);
	json_decref(ev);
}

/* A heft server's progress (heft-engine(1), "progress lines"): the
 * queue and the prefill for the status line and its bar, and its stats
 * for the experts and I/O panes. Only what it says: nothing made up. */
static void on_progress(struct http_engine *he, const char *text)
{
	json_error_t jerr;
	json_t *o = json_loads(text, 0, &jerr), *v;
	struct msg *m;

	if (!json_is_object(o)) {
		json_decref(o);
		return;
	}
	json_t *pre = json_object_get(o, "prefill");
	const char *state = json_string_value(json_object_get(o, "state"));
	if (state && !strcmp(state, "queued") && json_is_integer(v = json_object_get(o, "queue_position"))) {
		m = push(he, MSG_PROGRESS);
		m->progress.what = xstrdup("queued, place");
		m->progress.done = json_integer_value(v);
	} else if (json_is_object(pre) && json_integer_value(json_object_get(pre, "total")) > 0 &&
		   json_integer_value(json_object_get(pre, "done")) < json_integer_value(json_object_get(pre, "total"))) {
		m = push(he, MSG_PROGRESS);
		m->progress.what = xstrdup("prefill");
		m->progress.done = json_integer_value(json_object_get(pre, "done"));
		m->progress.total = json_integer_value(json_object_get(pre, "total"));
	}
	if (json_is_object(v = json_object_get(o, "stats")))
		progress_stats(he, v);
	json_decref(o);
}

/* One piece of the reply as a token: a server gives text, not token ids. */
static void push_text(struct http_engine *he, const char *prefix, const char *text, double now)
{
	struct msg *m = push(he, MSG_TOKEN);
	m->token.id = he->chat_id;
	m->token.tok = -1;
	xasprintf(&m->token.text, "%s%s", prefix, text);
	m->token.t_ms = (now - he->t_last) * 1000;
	he->t_last = now;
}

static void on_sp(void *ctx, const struct sp_event *ev)
{
	struct xfer *x = ctx;
	struct http_engine *he = x->he;
	double now = now_sec();
	struct msg *m;

	switch (ev->kind) {
	case SP_CONTENT:
		push_text(he, he->in_think ? "\n" THINK_CLOSE "\n\n" : "", ev->text, now);
		he->in_think = false;
		he->n_tok++;
		break;
	case SP_REASONING:
		/* Written as a local reasoning model writes it (think.h): the
		 * panes fold it under its answer, the next request leaves it out. */
		push_text(he, he->in_think ? "" : THINK_OPEN "\n", ev->text, now);
		he->in_think = true;
		he->n_think++;
		m = push(he, MSG_PROGRESS);
		m->progress.what = xstrdup("thinking");
		m->progress.done = he->n_think;
		break;
	case SP_FINISH:
		he->got_end = true;
		he->reason = !strcmp(ev->text, "length") ? DONE_LENGTH
			     : !strcmp(ev->text, "stop") ? DONE_EOS : DONE_STOP;
		break;
	case SP_USAGE:
		if (ev->n_prompt >= 0)
			he->n_prompt = ev->n_prompt;
		if (ev->n_gen >= 0)
			he->n_gen = ev->n_gen;
		if (ev->n_cached >= 0)
			he->n_cached = ev->n_cached;
		if (!isnan(ev->prompt_ms))
			he->prompt_ms = ev->prompt_ms;
		if (!isnan(ev->gen_ms))
			he->gen_ms = ev->gen_ms;
		break;
	case SP_DONE:
		he->got_end = true;
		break;
	case SP_ERROR:
		if (!x->fail)
			x->fail = xstrdup(ev->text);
		break;
	case SP_PROGRESS:
		on_progress(he, ev->text);
		break;
	}
}

static void put_opts(const struct http_engine *he, json_t *o);

static void start_chat(struct http_engine *he)
{
	char *u = he->api == API_OLLAMA ? url_of(he, "/api/chat", false)
		  : url_of(he, "/chat/completions", true);
	json_t *o = json_object();

	he->pending = false;
	he->retry_at = 0;
	/* Built now: the dialect shapes it, /model may have changed the model. */
	json_object_set_new(o, "model", json_string(he->model));
	json_object_set(o, "messages", he->chat_msgs);
	json_object_set_new(o, "stream", json_true());
	put_opts(he, o);
	char *body = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	he->chat = xfer_new(he, X_CHAT, u);
	curl_easy_setopt(he->chat->h, CURLOPT_COPYPOSTFIELDS, body);
	free(body);
	free(u);
	he->t_start = he->t_last = he->last_rx = now_sec();
	he->n_tok = he->n_think = 0;
	he->in_think = false;
	he->got_end = false;
	he->reason = DONE_EOS;
	he->n_prompt = he->n_gen = he->n_cached = -1;
	he->prompt_ms = he->gen_ms = NAN;
	xfer_go(he, he->chat);
}

static const char *status_hint(long status)
{
	switch (status) {
	case 401:
	case 403: return "the server refused the API key (--api-key or HEFT_API_KEY)";
	case 404: return "not found: is the model on this server? (-m NAME, /model NAME)";
	case 429: return "the server is busy";
	default: return status >= 500 ? "the server failed" : "the server refused the request";
	}
}

static void chat_done(struct http_engine *he, struct xfer *x, CURLcode res)
{
	char why[512];

	if (x->status / 100 == 2 && res == CURLE_OK && !x->fail)
		sp_end(&x->sp, on_sp, x);
	if (x->fail) {
		chat_failed(he, "%s%s", x->fail, he->n_tok + he->n_think ? " (the answer so far is kept)" : "");
	} else if (res != CURLE_OK && he->n_tok + he->n_think) {
		chat_failed(he, "the connection to %s broke mid-answer: %s (the answer so far is kept)",
			    he->shown, x->errbuf[0] ? x->errbuf : curl_easy_strerror(res));
	} else if (res != CURLE_OK && x->status / 100 == 2) {
		chat_failed(he, "the connection to %s broke before the answer: %s", he->shown,
			    x->errbuf[0] ? x->errbuf : curl_easy_strerror(res));
	} else if (res != CURLE_OK && !x->status) {
		describe(he, x, res, why, sizeof why);
		chat_failed(he, "%s", why);
	} else if (x->status / 100 != 2) {
		long st = x->status, ra = x->retry_after;
		char *em = sp_error_message(x->body.p ? x->body.p : "", x->body.len);
		if (st == 429 && ra >= 0 && ra <= RETRY_MAX_S && !he->retried) {
			free(he->base.notice);
			xasprintf(&he->base.notice, "The server is busy (HTTP 429%s%s): trying again in %ld s.",
				  em ? ": " : "", em ? em : "", ra);
			free(em);
			xfer_free(he, he->chat);
			he->chat = NULL;
			he->pending = true;
			he->retried = true;
			he->retry_at = now_sec() + (ra ? ra : 0.01);
			return;
		}
		if (st == 429 && ra >= 0)
			snprintf(why, sizeof why, " (it asks to wait %ld s%s)", ra,
				 he->retried ? "; heft waited once already" : "");
		else
			why[0] = '\0';
		chat_failed(he, "HTTP %ld from %s: %s%s%s%s", st, he->shown, em ? em : status_hint(st),
			    em ? ": " : "", em ? status_hint(st) : "", why);
		free(em);
	} else if (!he->got_end) {
		bool some = he->n_tok + he->n_think > 0;
		chat_failed(he, some ? "the stream from %s stopped mid-answer (no end marker); the answer so far "
			    "is kept" : "the server at %s ended the answer before it began", he->shown);
	} else {
		push_done(he, he->reason, NULL);
		chat_reset(he);
	}
}

/* ---- the engine interface ------------------------------------------------------- */

static void opts_merge(struct msg_options *to, const struct msg_options *from)
{
	char v[64];
	char err[128];

	for (int o = 0; o < OPT_COUNT; o++) {
		if (!(from->present & MSG_OPT_BIT(o)))
			continue;
		const char *name = msg_option_name((enum msg_opt)o);
		switch (o) {
		case OPT_TEMP: snprintf(v, sizeof v, "%.17g", from->temp); break;
		case OPT_TOP_K: snprintf(v, sizeof v, "%lld", (long long)from->top_k); break;
		case OPT_TOP_P: snprintf(v, sizeof v, "%.17g", from->top_p); break;
		case OPT_MIN_P: snprintf(v, sizeof v, "%.17g", from->min_p); break;
		case OPT_REPEAT_PENALTY: snprintf(v, sizeof v, "%.17g", from->repeat_penalty); break;
		case OPT_REPEAT_LAST_N: snprintf(v, sizeof v, "%lld", (long long)from->repeat_last_n); break;
		case OPT_SEED: snprintf(v, sizeof v, "%lld", (long long)from->seed); break;
		case OPT_N_PREDICT: snprintf(v, sizeof v, "%lld", (long long)from->n_predict); break;
		case OPT_STOP:
			for (size_t i = 0; i < from->n_stop; i++)
				msg_options_set(to, name, from->stop[i], err, sizeof err);
			continue;
		}
		msg_options_set(to, name, v, err, sizeof err);
	}
}

static void put_opts(const struct http_engine *he, json_t *o)
{
	const struct msg_options *op = &he->opts;
	bool ol = he->api == API_OLLAMA;
	json_t *t = ol ? json_object() : o;

#define HAS(x) (op->present & MSG_OPT_BIT(x))
	if (HAS(OPT_TEMP))
		json_object_set_new(t, "temperature", json_real(op->temp));
	if (HAS(OPT_TOP_P))
		json_object_set_new(t, "top_p", json_real(op->top_p));
	if (HAS(OPT_TOP_K))
		json_object_set_new(t, "top_k", json_integer(op->top_k));
	if (HAS(OPT_MIN_P))
		json_object_set_new(t, "min_p", json_real(op->min_p));
	if (HAS(OPT_SEED))
		json_object_set_new(t, "seed", json_integer(op->seed));
	if (HAS(OPT_N_PREDICT) && op->n_predict >= 0)
		json_object_set_new(t, ol ? "num_predict" : "max_tokens", json_integer(op->n_predict));
	if (ol && HAS(OPT_REPEAT_PENALTY))
		json_object_set_new(t, "repeat_penalty", json_real(op->repeat_penalty));
	if (ol && HAS(OPT_REPEAT_LAST_N))
		json_object_set_new(t, "repeat_last_n", json_integer(op->repeat_last_n));
	if (HAS(OPT_STOP) && op->n_stop) {
		json_t *a = json_array();
		for (size_t i = 0; i < op->n_stop; i++)
			json_array_append_new(a, json_string(op->stop[i]));
		json_object_set_new(t, "stop", a);
	}
#undef HAS
	if (ol && json_object_size(t))
		json_object_set_new(o, "options", t);
	else if (ol)
		json_decref(t);
}

static void http_chat(struct http_engine *he, const struct msg_chat *c)
{
	if (he->chat || he->pending) {
		push_error(he, MSG_E_BUSY, true, c->id, "a reply is already being generated");
		return;
	}
	json_t *msgs = json_array();
	for (size_t i = 0; i < c->n_messages; i++) {
		const char *content = c->messages[i].content;
		json_t *t = json_object();
		json_object_set_new(t, "role", json_string(c->messages[i].role));
		if (!strcmp(c->messages[i].role, "assistant")) {
			/* Past thinking is not sent back (what OpenAI, llama-server
			 * and ollama's own clients do). */
			struct think th;
			think_split(content, strlen(content), &th);
			content += th.ab;
		}
		json_object_set_new(t, "content", json_string(content));
		json_array_append_new(msgs, t);
	}
	if (c->text) {
		json_t *t = json_object();
		json_object_set_new(t, "role", json_string("user"));
		json_object_set_new(t, "content", json_string(c->text));
		json_array_append_new(msgs, t);
	}
	he->chat_msgs = msgs;
	he->chat_id = c->id;
	he->retried = false;
	he->pending = true;
	he->t_start = he->t_last = now_sec();
	he->n_tok = he->n_think = 0;
	he->n_prompt = he->n_gen = he->n_cached = -1;
	he->prompt_ms = he->gen_ms = NAN;
	advance(he);	/* sends it, or probes first */
}

static void http_cancel(struct http_engine *he)
{
	if (!he->chat && !he->pending)
		return;
	push_done(he, DONE_CANCEL, NULL);
	chat_reset(he);	/* closing the connection is the server's cancel */
}

static void http_send(struct engine *e, const struct msg *m)
{
	struct http_engine *he = HE(e);

	if (!he->running)
		return;
	switch (m->type) {
	case MSG_HELLO: {
		struct msg *h = push(he, MSG_HELLO);
		h->hello.protocol = PROTO_VERSION;
		h->hello.program = xstrdup("heft-http");
		h->hello.version = xstrdup(PACKAGE_VERSION);
		break;
	}
	case MSG_LOAD:
		/* A model of the server's, by name: the next request uses it. */
		free(he->model);
		he->model = xstrdup(m->load.model);
		if (he->st == ST_READY)
			he->st = ST_IDLE;	/* say "loaded" again */
		advance(he);
		break;
	case MSG_CHAT:
		http_chat(he, &m->chat);
		break;
	case MSG_CANCEL:
		http_cancel(he);
		break;
	case MSG_TRUNCATE:
		break;	/* stateless: the next request carries the turns it keeps */
	case MSG_SET:
		opts_merge(&he->opts, &m->set.options);
		break;
	case MSG_STATS_REQUEST:
		/* what the server's progress said last; none: not available */
		msg_numbers_append(&push(he, MSG_STATS)->stats.stats, &he->stats);
		break;
	case MSG_QUIT:
		e->ops->stop(e);
		break;
	default:
		push_error(he, MSG_E_UNSUPPORTED, false, 0, "not available from an HTTP server");
		break;
	}
}

static bool http_start(struct engine *e, char *err, size_t errlen)
{
	struct http_engine *he = HE(e);

	if (!he->multi) {
		he->multi = curl_multi_init();
		if (!he->multi) {
			snprintf(err, errlen, "curl_multi_init failed");
			return false;
		}
		curl_multi_setopt(he->multi, CURLMOPT_SOCKETFUNCTION, sock_cb);
		curl_multi_setopt(he->multi, CURLMOPT_SOCKETDATA, he);
		curl_multi_setopt(he->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
		curl_multi_setopt(he->multi, CURLMOPT_TIMERDATA, he);
	}
	he->running = true;
	he->st = ST_IDLE;
	advance(he);
	return true;
}

static bool http_running(const struct engine *e)
{
	return HE(e)->running;
}

static int http_pollfds(struct engine *e, struct pollfd *p)
{
	struct http_engine *he = HE(e);
	for (int i = 0; i < he->nsocks; i++) {
		short ev = 0;
		if (he->socks[i].what & CURL_POLL_IN)
			ev |= POLLIN;
		if (he->socks[i].what & CURL_POLL_OUT)
			ev |= POLLOUT;
		p[i] = (struct pollfd){ .fd = he->socks[i].fd, .events = ev };
	}
	return he->nsocks;
}

static int ms_until(double t, double now)
{
	return t <= now ? 0 : (int)((t - now) * 1000) + 1;
}

static int http_timeout_ms(struct engine *e)
{
	struct http_engine *he = HE(e);
	double now = now_sec();
	int ms = -1;

	if (he->nq)
		return 0;
	if (he->timer_at >= 0)
		ms = ms_until(he->timer_at, now);
	if (he->retry_at > 0) {
		int r = ms_until(he->retry_at, now);
		ms = ms < 0 || r < ms ? r : ms;
	}
	if (he->chat) {
		int r = ms_until(he->last_rx + he->stall_s, now);
		ms = ms < 0 || r < ms ? r : ms;
	}
	return ms;
}

static void finished(struct http_engine *he)
{
	CURLMsg *cm;
	int left;

	while ((cm = curl_multi_info_read(he->multi, &left))) {
		if (cm->msg != CURLMSG_DONE)
			continue;
		struct xfer *x = NULL;
		curl_easy_getinfo(cm->easy_handle, CURLINFO_PRIVATE, (char **)&x);
		CURLcode res = cm->data.result;
		if (!x)
			continue;
		if (!x->status)
			curl_easy_getinfo(x->h, CURLINFO_RESPONSE_CODE, &x->status);
		if (x == he->chat)
			chat_done(he, x, res);
		else if (x == he->probe)
			probe_done(he, x, res);
		else if (x == he->list)
			list_done(he, x, res);
	}
}

static void http_io(struct engine *e, const struct pollfd *p, int n, engine_event_fn fn, void *ctx)
{
	struct http_engine *he = HE(e);
	int running;

	for (int i = 0; i < n && he->multi; i++) {
		if (!p[i].revents)
			continue;
		int flags = 0;
		if (p[i].revents & (POLLIN | POLLHUP))
			flags |= CURL_CSELECT_IN;
		if (p[i].revents & POLLOUT)
			flags |= CURL_CSELECT_OUT;
		if (p[i].revents & (POLLERR | POLLNVAL))
			flags |= CURL_CSELECT_ERR;
		curl_multi_socket_action(he->multi, p[i].fd, flags, &running);
	}
	double now = now_sec();
	if (he->multi && he->timer_at >= 0 && he->timer_at <= now) {
		he->timer_at = -1;
		curl_multi_socket_action(he->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	}
	if (he->multi)
		finished(he);
	/* Silence (not even a ping) this long is a dead server or a dead
	 * route to it: give up rather than wait for ever. */
	if (he->chat && now_sec() - he->last_rx >= he->stall_s)
		chat_failed(he, "the server at %s sent nothing for %.0f s: the transfer is closed%s",
			    he->shown, he->stall_s, he->n_tok + he->n_think ? " (the answer so far is kept)" : "");
	if (he->retry_at > 0 && he->retry_at <= now_sec() && he->pending) {
		he->retry_at = 0;
		advance(he);
	}
	/* Hand the events over; fn may send requests, which queue more. */
	for (size_t i = 0; i < he->nq; i++) {
		struct msg m = he->q[i];
		memset(&he->q[i], 0, sizeof he->q[i]);
		fn(ctx, &m);
		msg_free(&m);
	}
	he->nq = 0;
}

static bool http_eof(const struct engine *e)
{
	return false;
}

static bool http_reap(struct engine *e)
{
	return false;
}

static void http_exit_reason(const struct engine *e, char *out, size_t n)
{
	snprintf(out, n, HE(e)->running ? "connected" : "disconnected");
}

static void http_stop(struct engine *e)
{
	struct http_engine *he = HE(e);
	chat_reset(he);
	xfer_free(he, he->probe);
	he->probe = NULL;
	xfer_free(he, he->list);
	he->list = NULL;
	he->want_list = false;
	he->st = ST_IDLE;
	he->running = false;
}

static void http_free(struct engine *e)
{
	struct http_engine *he = HE(e);
	http_stop(e);
	for (size_t i = 0; i < he->nq; i++)
		msg_free(&he->q[i]);
	free(he->q);
	if (he->multi)
		curl_multi_cleanup(he->multi);
	msg_options_free(&he->opts);
	msg_numbers_free(&he->stats);
	free(he->root);
	free(he->shown);
	free(he->auth);
	free(he->ca_file);
	free(he->model);
}

static const struct engine_ops http_ops = {
	.start = http_start,
	.running = http_running,
	.send = http_send,
	.pollfds = http_pollfds,
	.timeout_ms = http_timeout_ms,
	.io = http_io,
	.eof = http_eof,
	.reap = http_reap,
	.exit_reason = http_exit_reason,
	.list_models = http_list_models,
	.stop = http_stop,
	.terminate = http_stop,
	.kill = http_stop,
	.free = http_free,
};

struct engine *engine_http_new(const char *url, const struct engine_http_opts *o)
{
	static bool curl_ready;
	struct http_engine *he = xcalloc(1, sizeof *he);

	if (!curl_ready) {
		curl_global_init(CURL_GLOBAL_DEFAULT);
		curl_ready = true;
	}
	he->base.ops = &http_ops;
	he->base.target = xstrdup(url);
	he->shown = engine_url_public(url);
	he->root = xstrdup(url);
	size_t n = strlen(he->root);
	while (n > 0 && he->root[n - 1] == '/')
		he->root[--n] = '\0';
	if (n >= 3 && !strcmp(he->root + n - 3, "/v1")) {
		he->root[n - 3] = '\0';
		he->v1 = true;
	}
	if (o->ca_file && *o->ca_file)
		he->ca_file = xstrdup(o->ca_file);
	if (o->api_key && *o->api_key)
		xasprintf(&he->auth, "Authorization: Bearer %s", o->api_key);
	he->api = !o->api ? API_UNKNOWN : !strcmp(o->api, "ollama") ? API_OLLAMA : API_OPENAI;
	he->stall_s = o->stall_s > 0 ? o->stall_s : STALL_DEFAULT_S;
	he->timer_at = -1;
	return &he->base;
}
