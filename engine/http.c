/* http.c - the HTTP transport of the service: `heft-engine serve --http
 * [HOST:]PORT`, speaking the OpenAI and ollama APIs (http-api.c) through
 * libmicrohttpd.
 *
 * The main thread loads the model and then runs queued jobs one at a time
 * (service_run_jobs); libmicrohttpd gives each connection a thread, which
 * may block. A request is answered from the start: /health says 503 while
 * the model loads, and a generation is queued at once (a bounded FIFO, 429
 * when full) with its headers sent right away when streamed, so no client
 * sees silence while it waits. A silent stream gets a ping every
 * --sse-ping seconds. Every waiting thread wakes ten times a second to
 * see whether its client is still there; a client gone has its job taken
 * out of the queue or cancelled between two tokens or two layers.
 *
 * Secure by default: loopback unless told otherwise, and no other address
 * without an API key; bodies over --max-body are refused from their
 * Content-Length, unread, or as soon as a chunked one passes it; a bounded
 * number of connections, in all and per address; a connection that has not
 * sent a request's headers within HEADER_S seconds is shut (a client that
 * trickles them holds no thread for long); no CORS header for an origin
 * --cors-origin does not name; libmicrohttpd's messages are escaped. */
#include "serve.h"

#include "hash64.h"
#include "http-api.h"
#include "http-jobs.h"
#include "http-model.h"
#include "sanitize.h"
#include "service.h"
#include "stats.h"
#include "util.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>

#define CONN_LIMIT 256
#define CONN_PER_IP 64
/* Longest a connection may take to send a request's headers. */
#define HEADER_S 10.0
/* Request line and headers together, at most. */
#define HEADER_BYTES (64 * 1024)
#define JOBS_PREFIX "/v1/jobs/"

/* A connection, watched for a client that is slow to send its headers. */
struct conn {
	int fd;
	bool busy;          /* between a request's headers and its end */
	bool shut;
	double idle_since;  /* connected, or the last request ended */
	struct conn *prev, *next;
};

struct http {
	const struct serve_opts *o;
	struct service *sv;
	struct hjobs *jobs;
	char name[256];           /* the model's name for clients */
	atomic_llong next_id;
	atomic_ullong rejected;   /* 429s */
	atomic_bool load_failed;
	long long started;
	pthread_mutex_t conns_mu;
	struct conn *conns;
	atomic_bool stopping;
};

enum route {
	R_NONE, R_HEALTH, R_MODELS, R_TAGS, R_PS, R_VERSION, R_METRICS, R_JOB, R_JOBS, R_TOKENIZE, R_DETOKENIZE, R_SHOW
};

/* One request, from its first byte to its completion. */
struct req {
	struct http *h;
	struct MHD_Connection *conn;
	struct conn *c;
	int fd;
	enum route route;
	struct buf body;
	bool answered;
	struct api_reply rp;      /* until the job takes it */
	struct msg msg;           /* the request, until the job takes it */
	struct hjob_reader rd;    /* following its job (rd.j: one) */
	char job_id[64];          /* R_JOBS: the job named */
};

/* ---- replies ---------------------------------------------------------------------------- */

/* The request's Origin when --cors-origin names it, else NULL. */
static const char *allowed_origin(const struct req *q)
{
	const char *origin = MHD_lookup_connection_value(q->conn, MHD_HEADER_KIND, "Origin");
	for (int i = 0; origin && i < q->h->o->n_cors; i++)
		if (!strcmp(origin, q->h->o->cors[i]))
			return origin;
	return NULL;
}

/* Headers every response carries; a browser sees an answer only for an
 * origin it was told. */
static void common_headers(const struct req *q, struct MHD_Response *r)
{
	const char *origin = allowed_origin(q);
	if (origin) {
		MHD_add_response_header(r, "Access-Control-Allow-Origin", origin);
		MHD_add_response_header(r, "Access-Control-Expose-Headers", "Retry-After, X-Heft-Job");
	}
	if (q->h->o->n_cors)
		MHD_add_response_header(r, "Vary", "Origin");
}

static enum MHD_Result reply(struct req *q, int status, const char *type, const char *body, size_t n,
			     const char *retry_after)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(n, (void *)body, MHD_RESPMEM_MUST_COPY);
	if (!r)
		return MHD_NO;
	if (type)
		MHD_add_response_header(r, "Content-Type", type);
	if (retry_after) {
		MHD_add_response_header(r, "Retry-After", retry_after);
		MHD_add_response_header(r, "x-should-retry", "false");
	}
	common_headers(q, r);
	enum MHD_Result ret = MHD_queue_response(q->conn, (unsigned)status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result reply_json(struct req *q, int status, json_t *o)
{
	char *s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	enum MHD_Result r = reply(q, status, "application/json", s ? s : "{}", s ? strlen(s) : 2, NULL);
	free(s);
	return r;
}

static enum MHD_Result reply_error(struct req *q, int status, const char *type, const char *msg,
				   const char *retry_after)
{
	struct buf b = {0};
	api_error_body(&b, (q->route == R_JOB && api_is_ollama(q->rp.kind)) || q->route == R_SHOW, status, type, msg);
	enum MHD_Result r = reply(q, status, "application/json", b.p, b.len, retry_after);
	buf_free(&b);
	return r;
}

/* ---- the service's side ----------------------------------------------------------------- */

/* Events of no job: the model's loading. */
static void main_emit(const struct msg *ev, bool droppable, void *ud)
{
	struct http *h = ud;
	if (ev && ev->type == MSG_ERROR) {
		warnx_("serve: %s", ev->error.message);
		atomic_store(&h->load_failed, true);
	}
}

/* ---- the client's side ------------------------------------------------------------------ */

/* The streamed body: the job's events as they come, pings and progress
 * while silent. */
static ssize_t stream_reader(void *cls, uint64_t pos, char *dst, size_t max)
{
	struct req *q = cls;
	(void)pos;
	ssize_t n = hjob_read(&q->rd, dst, max);
	if (n == 0)
		return MHD_CONTENT_READER_END_OF_STREAM;
	return n < 0 ? MHD_CONTENT_READER_END_WITH_ERROR : n;
}

/* A job not streamed: wait for its end (or its client's), then answer. */
static enum MHD_Result answer_whole(struct req *q)
{
	const char *body;
	size_t len;
	int status = hjob_whole(&q->rd, &body, &len);
	if (status < 0)
		return MHD_NO; /* req_done lets the job go */
	struct MHD_Response *r = MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, "Content-Type", "application/json");
	MHD_add_response_header(r, "X-Heft-Job", hjob_id(q->rd.j));
	common_headers(q, r);
	enum MHD_Result ret = MHD_queue_response(q->conn, (unsigned)status, r);
	MHD_destroy_response(r);
	return ret;
}

/* Follow the job j (its reference moves into q) from event from. */
static enum MHD_Result follow(struct req *q, struct hjob *j, size_t from)
{
	/* the client's wait is ours to bound: pings, and looks for its end */
	MHD_set_connection_option(q->conn, MHD_CONNECTION_OPTION_TIMEOUT, 0u);
	hjob_reader_init(&q->rd, j, q->fd, from, q->h->o->sse_ping);
	if (!hjob_streamed(j))
		return answer_whole(q);
	struct MHD_Response *r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16384, stream_reader, q, NULL);
	if (!r)
		return MHD_NO;
	bool ollama = api_is_ollama(hjob_kind(j));
	MHD_add_response_header(r, "Content-Type", ollama ? "application/x-ndjson" : "text/event-stream");
	MHD_add_response_header(r, "Cache-Control", "no-cache");
	MHD_add_response_header(r, "X-Accel-Buffering", "no");
	MHD_add_response_header(r, "X-Heft-Job", hjob_id(j));
	common_headers(q, r);
	enum MHD_Result ret = MHD_queue_response(q->conn, MHD_HTTP_OK, r);
	MHD_destroy_response(r);
	return ret;
}

/* Who sent the request and what: a retry has the same. */
static uint64_t request_key(struct req *q)
{
	static const char *const hdrs[] = {"Authorization", "X-Api-Key"};
	struct hash64 hh;
	hash64_init(&hh, 0x68656674);
	hash64_update(&hh, &q->rp.kind, sizeof q->rp.kind);
	hash64_update(&hh, q->body.p ? q->body.p : "", q->body.len + 1);
	for (size_t i = 0; i < ARRAY_LEN(hdrs); i++) {
		const char *v = MHD_lookup_connection_value(q->conn, MHD_HEADER_KIND, hdrs[i]);
		hash64_update(&hh, v ? v : "", v ? strlen(v) + 1 : 1);
	}
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(q->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	const struct sockaddr *sa = ci ? ci->client_addr : NULL;
	if (sa && sa->sa_family == AF_INET)
		hash64_update(&hh, &((const struct sockaddr_in *)sa)->sin_addr, 4);
	else if (sa && sa->sa_family == AF_INET6)
		hash64_update(&hh, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
	return hash64_final(&hh);
}

static enum MHD_Result start_job(struct req *q)
{
	struct http *h = q->h;
	char err[512];
	q->rp.model = h->name;
	q->rp.created = (long long)time(NULL);
	q->rp.t0 = now_sec();
	int64_t id = atomic_fetch_add(&h->next_id, 1);
	snprintf(q->rp.id, sizeof q->rp.id, "%s-%lld", q->rp.kind == API_OAI_CHAT ? "chatcmpl" : "cmpl",
		 (long long)id);
	if (!api_parse(&q->rp, q->body.p ? q->body.p : "", q->body.len, id, &q->msg, err, sizeof err))
		return reply_error(q, 400, "invalid_request_error", err, NULL);
	const char *d = MHD_lookup_connection_value(q->conn, MHD_HEADER_KIND, "X-Heft-Detach");
	if (d && (!strcmp(d, "1") || !strcasecmp(d, "true")))
		q->rp.detach = true;
	struct hjob *j;
	int pos;
	if (hjobs_start(h->jobs, &q->rp, &q->msg, request_key(q), q->rp.detach, &j, &pos) == HJOB_FULL) {
		atomic_fetch_add(&h->rejected, 1);
		char ra[16];
		snprintf(ra, sizeof ra, "%d", 5);
		return reply_error(q, 429, "unavailable_error", "the queue is full; retry later", ra);
	}
	return follow(q, j, 0);
}

/* GET /v1/jobs/ID: follow it again from ?from=N, or the event after
 * Last-Event-ID; DELETE: cancel it. */
static enum MHD_Result jobs_route(struct req *q, const char *method)
{
	if (!q->job_id[0])
		return reply_json(q, 200, hjobs_list(q->h->jobs));
	struct hjob *j = hjobs_get(q->h->jobs, q->job_id);
	if (!j)
		return reply_error(q, 404, "not_found_error", "no such job (it ended long ago, or never was)", NULL);
	if (!strcmp(method, "DELETE")) {
		bool was = hjob_cancel(j);
		json_t *o = json_pack("{s:s, s:s, s:s}", "id", hjob_id(j), "object", "heft.job", "status",
				      was ? "cancelled" : "finished");
		hjob_unref(j);
		return reply_json(q, 200, o);
	}
	const char *from = MHD_lookup_connection_value(q->conn, MHD_GET_ARGUMENT_KIND, "from");
	const char *last = MHD_lookup_connection_value(q->conn, MHD_HEADER_KIND, "Last-Event-ID");
	char *end = NULL;
	unsigned long long n = 0;
	errno = 0;
	if (from)
		n = strtoull(from, &end, 10);
	else if (last)
		n = strtoull(last, &end, 10) + 1;
	if ((from || last) && (!*(from ? from : last) || *end || errno)) {
		hjob_unref(j);
		return reply_error(q, 400, "invalid_request_error", "from / Last-Event-ID: not an event number", NULL);
	}
	return follow(q, j, (size_t)n);
}

/* ---- the small endpoints ---------------------------------------------------------------- */

static enum MHD_Result get_health(struct req *q)
{
	struct service_status st;
	service_status(q->h->sv, &st);
	msg_numbers_free(&st.stats);
	if (st.loaded)
		return reply_json(q, 200, json_pack("{s:s}", "status", "ok"));
	const char *why = atomic_load(&q->h->load_failed) ? "the model failed to load" : "Loading model";
	return reply_json(q, 503, json_pack("{s:{s:i, s:s, s:s}, s:s}", "error", "code", 503, "message", why,
						  "type", "unavailable_error", "status",
						  st.loading ? "loading" : "unavailable"));
}

static long long file_size(const char *path)
{
	struct stat s;
	return path && stat(path, &s) == 0 ? (long long)s.st_size : 0;
}

static enum MHD_Result get_models(struct req *q)
{
	struct service_status st;
	service_status(q->h->sv, &st);
	msg_numbers_free(&st.stats);
	const char *name = q->h->name;
	json_t *o;
	if (q->route == R_MODELS)
		o = json_pack("{s:s, s:[{s:s, s:s, s:I, s:s, s:{s:i, s:b}}]}", "object", "list", "data", "id", name,
			      "object", "model", "created", (json_int_t)q->h->started, "owned_by", "heft", "meta",
			      "n_ctx", st.n_ctx, "loaded", st.loaded);
	else if (q->route == R_TAGS || st.loaded)
		o = json_pack("{s:[{s:s, s:s, s:I, s:s, s:i}]}", "models", "name", name, "model", name, "size",
			      (json_int_t)file_size(st.loaded ? st.model : NULL), "digest", "", "context_length",
			      st.n_ctx);
	else
		o = json_pack("{s:[]}", "models");
	return reply_json(q, 200, o);
}

static void metric(struct buf *b, const char *name, const char *type, const char *help, double v)
{
	buf_printf(b, "# HELP heft_%s %s\n# TYPE heft_%s %s\nheft_%s %.17g\n", name, help, name, type, name, v);
}

/* Prometheus text: the service's counters, then every number of the
 * stats event under its own name. */
static enum MHD_Result get_metrics(struct req *q)
{
	struct service_status st;
	struct buf b = {0};
	service_status(q->h->sv, &st);
	metric(&b, "model_loaded", "gauge", "1 when the model is loaded", st.loaded);
	metric(&b, "requests_processing", "gauge", "generations running (0 or 1)", st.busy);
	metric(&b, "requests_queued", "gauge", "requests waiting in the queue", st.queued);
	metric(&b, "queue_capacity", "gauge", "most requests the queue holds (--queue)", q->h->o->queue);
	metric(&b, "requests_total", "counter", "generations finished", (double)st.requests);
	metric(&b, "requests_cancelled_total", "counter", "generations cancelled", (double)st.cancelled);
	metric(&b, "requests_rejected_total", "counter", "requests refused with 429", (double)atomic_load(&q->h->rejected));
	metric(&b, "prompt_tokens_total", "counter", "prompt tokens of finished generations", (double)st.prompt_tokens);
	metric(&b, "prompt_cached_tokens_total", "counter", "of them, reused from the KV cache", (double)st.cached_tokens);
	metric(&b, "generated_tokens_total", "counter", "tokens generated", (double)st.gen_tokens);
	int live, kept;
	uint64_t attached;
	hjobs_counts(q->h->jobs, &live, &kept, &attached);
	metric(&b, "jobs_live", "gauge", "jobs queued or running", live);
	metric(&b, "jobs_kept", "gauge", "finished jobs kept for clients coming back", kept);
	metric(&b, "requests_attached_total", "counter", "retried requests that joined their running job",
	       (double)attached);
	/* the stats event's numbers: names, kinds and meanings from stats.h */
	for (size_t i = 0; i < st.stats.n; i++) {
		const struct msg_stat *s = &st.stats.v[i];
		const struct stat_name *sn = stat_lookup(s->key);
		if (!s->is_array && s->n == 1 && isfinite(s->v[0]) && sn)
			metric(&b, sn->name, sn->kind == STAT_COUNTER ? "counter" : "gauge", sn->help, s->v[0]);
	}
	msg_numbers_free(&st.stats);
	enum MHD_Result r = reply(q, 200, "text/plain; version=0.0.4", b.p ? b.p : "", b.len, NULL);
	buf_free(&b);
	return r;
}

/* The endpoints that read the model without running it. */
static enum MHD_Result model_endpoint(struct req *q)
{
	const struct tokenizer *tok;
	const struct model *m = service_model(q->h->sv, &tok);
	if (!m || !tok)
		return reply_error(q, 503, "unavailable_error", "Loading model", NULL);
	struct service_status st;
	service_status(q->h->sv, &st);
	msg_numbers_free(&st.stats);
	struct buf out = {0};
	const char *body = q->body.p ? q->body.p : "";
	int status = q->route == R_TOKENIZE     ? http_tokenize(tok, body, q->body.len, &out)
		     : q->route == R_DETOKENIZE ? http_detokenize(tok, body, q->body.len, &out)
						: http_show(m, q->h->name, st.n_ctx, body, q->body.len, &out);
	enum MHD_Result r;
	if (status == 200)
		r = reply(q, 200, "application/json", out.p ? out.p : "{}", out.len, NULL);
	else
		r = reply_error(q, status,
				status == 404	? "not_found_error"
				: status == 400 ? "invalid_request_error"
						: "server_error",
				out.p ? out.p : "error", NULL);
	buf_free(&out);
	return r;
}

/* ---- routing ---------------------------------------------------------------------------- */

static const struct {
	const char *method, *path;
	enum route route;
	int kind;    /* R_JOB: its enum api_kind */
	bool open;   /* answered without the API key */
} routes[] = {
	{"GET", "/health", R_HEALTH, 0, true},
	{"GET", "/v1/health", R_HEALTH, 0, true},
	{"GET", "/v1/models", R_MODELS, 0, true},
	{"GET", "/models", R_MODELS, 0, true},
	{"GET", "/api/tags", R_TAGS, 0, false},
	{"GET", "/api/ps", R_PS, 0, false},
	{"GET", "/api/version", R_VERSION, 0, false},
	{"GET", "/metrics", R_METRICS, 0, false},
	{"GET", "/v1/jobs", R_JOBS, 0, false},
	{"POST", "/v1/chat/completions", R_JOB, API_OAI_CHAT, false},
	{"POST", "/chat/completions", R_JOB, API_OAI_CHAT, false},
	{"POST", "/v1/completions", R_JOB, API_OAI_COMPLETION, false},
	{"POST", "/completions", R_JOB, API_OAI_COMPLETION, false},
	{"POST", "/api/chat", R_JOB, API_OLLAMA_CHAT, false},
	{"POST", "/api/generate", R_JOB, API_OLLAMA_GENERATE, false},
	{"POST", "/tokenize", R_TOKENIZE, 0, false},
	{"POST", "/detokenize", R_DETOKENIZE, 0, false},
	{"POST", "/api/show", R_SHOW, 0, false},
};

/* a equal to b, in a time that does not tell where they differ */
static bool same_secret(const char *a, const char *b)
{
	size_t na = strlen(a), nb = strlen(b);
	unsigned char d = na != nb;
	for (size_t i = 0; i < nb; i++)
		d |= (unsigned char)(a[i < na ? i : 0] ^ b[i]);
	return na > 0 && d == 0;
}

static bool authorized(struct req *q)
{
	const char *key = q->h->o->api_key;
	if (!key)
		return true;
	const char *a = MHD_lookup_connection_value(q->conn, MHD_HEADER_KIND, "Authorization");
	const char *x = MHD_lookup_connection_value(q->conn, MHD_HEADER_KIND, "X-Api-Key");
	if (a && !strncasecmp(a, "Bearer ", 7) && same_secret(a + 7, key))
		return true;
	return x && same_secret(x, key);
}

/* A browser's preflight: answered before the key (browsers send none), and
 * with the allowing headers only for an origin --cors-origin names. */
static enum MHD_Result preflight(struct req *q)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
	if (!r)
		return MHD_NO;
	common_headers(q, r);
	if (allowed_origin(q)) {
		MHD_add_response_header(r, "Access-Control-Allow-Methods", "GET, POST, DELETE, OPTIONS");
		MHD_add_response_header(r, "Access-Control-Allow-Headers",
					"Authorization, Content-Type, X-Api-Key, X-Heft-Detach, Last-Event-ID");
		MHD_add_response_header(r, "Access-Control-Max-Age", "600");
	}
	enum MHD_Result ret = MHD_queue_response(q->conn, MHD_HTTP_NO_CONTENT, r);
	MHD_destroy_response(r);
	return ret;
}

/* The first call of a request: route, key, declared size. */
static enum MHD_Result begin(struct req *q, const char *url, const char *method)
{
	bool path_known = false;
	q->answered = true; /* unless it goes on */
	if (!strcmp(method, "OPTIONS"))
		return preflight(q);
	for (size_t i = 0; i < ARRAY_LEN(routes); i++) {
		if (strcmp(url, routes[i].path))
			continue;
		path_known = true;
		if (strcmp(method, routes[i].method))
			continue;
		q->route = routes[i].route;
		q->rp.kind = (enum api_kind)routes[i].kind;
		if (!routes[i].open && !authorized(q))
			return reply_error(q, 401, "authentication_error", "Invalid API Key", NULL);
		break;
	}
	if (q->route == R_NONE && !strncmp(url, JOBS_PREFIX, strlen(JOBS_PREFIX)) &&
	    (!strcmp(method, "GET") || !strcmp(method, "DELETE"))) {
		const char *id = url + strlen(JOBS_PREFIX);
		if (!*id || strlen(id) >= sizeof q->job_id || strchr(id, '/'))
			return reply_error(q, 404, "not_found_error", "no such job", NULL);
		snprintf(q->job_id, sizeof q->job_id, "%s", id);
		q->route = R_JOBS;
		if (!authorized(q))
			return reply_error(q, 401, "authentication_error", "Invalid API Key", NULL);
	}
	if (q->route == R_NONE)
		return path_known ? reply_error(q, 405, "invalid_request_error", "method not allowed", NULL)
				  : reply_error(q, 404, "not_found_error", "File Not Found", NULL);
	const char *cl = MHD_lookup_connection_value(q->conn, MHD_HEADER_KIND, "Content-Length");
	if (cl && strtoull(cl, NULL, 10) > q->h->o->max_body)
		return reply_error(q, 413, "invalid_request_error", "the request body is larger than --max-body", NULL);
	q->answered = false;
	return MHD_YES;
}

/* A body without Content-Length (chunked) grew past --max-body. This
 * libmicrohttpd takes no answer before the whole body is in, so the 413
 * goes out on the socket itself (this connection's thread is the only one
 * using it), then the connection ends: a little more input is read first,
 * for at most DRAIN_S, so that the client gets the answer instead of a
 * reset, but not the rest of the body. */
#define DRAIN_S 1.0
#define DRAIN_BYTES (4 << 20)
static void refuse_unread(struct req *q)
{
	struct buf b = {0}, head = {0};
	api_error_body(&b, q->route == R_JOB && api_is_ollama(q->rp.kind), 413, "invalid_request_error",
		       "the request body is larger than --max-body");
	buf_printf(&head,
		   "HTTP/1.1 413 Content Too Large\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
		   "Connection: close\r\n\r\n",
		   b.len);
	buf_append(&head, b.p, b.len);
	size_t off = 0;
	while (q->fd >= 0 && off < head.len) {
		ssize_t n = send(q->fd, head.p + off, head.len - off, MSG_NOSIGNAL);
		if (n <= 0)
			break;
		off += (size_t)n;
	}
	buf_free(&b);
	buf_free(&head);
	if (q->fd < 0)
		return;
	shutdown(q->fd, SHUT_WR);
	char sink[16384];
	size_t drained = 0;
	double end = now_sec() + DRAIN_S;
	while (drained < DRAIN_BYTES && now_sec() < end) {
		struct pollfd p = {.fd = q->fd, .events = POLLIN};
		if (poll(&p, 1, 100) <= 0)
			continue;
		ssize_t n = recv(q->fd, sink, sizeof sink, MSG_DONTWAIT);
		if (n <= 0)
			break;
		drained += (size_t)n;
	}
}

/* ---- connections ------------------------------------------------------------------------ */

static void conn_busy(struct http *h, struct conn *c, bool busy)
{
	if (!c)
		return;
	pthread_mutex_lock(&h->conns_mu);
	c->busy = busy;
	c->idle_since = now_sec();
	pthread_mutex_unlock(&h->conns_mu);
}

static void conn_notify(void *cls, struct MHD_Connection *connection, void **socket_context,
			enum MHD_ConnectionNotificationCode toe)
{
	struct http *h = cls;
	struct conn *c = *socket_context;
	pthread_mutex_lock(&h->conns_mu);
	if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
		const union MHD_ConnectionInfo *ci =
			MHD_get_connection_info(connection, MHD_CONNECTION_INFO_CONNECTION_FD);
		c = xcalloc(1, sizeof *c);
		c->fd = ci ? ci->connect_fd : -1;
		c->idle_since = now_sec();
		c->next = h->conns;
		if (h->conns)
			h->conns->prev = c;
		h->conns = c;
		*socket_context = c;
	} else if (c) { /* closed: its socket is not yet, so no other has its fd */
		if (c->prev)
			c->prev->next = c->next;
		else
			h->conns = c->next;
		if (c->next)
			c->next->prev = c->prev;
		free(c);
		*socket_context = NULL;
	}
	pthread_mutex_unlock(&h->conns_mu);
}

/* Once a second: shut the connections that have been HEADER_S seconds
 * without a request under way (headers trickled, or an idle keep-alive);
 * their threads see the end and go. */
static void *reaper_main(void *arg)
{
	struct http *h = arg;
	while (!atomic_load(&h->stopping)) {
		nanosleep(&(struct timespec){0, 250 * 1000000L}, NULL);
		double now = now_sec();
		pthread_mutex_lock(&h->conns_mu);
		for (struct conn *c = h->conns; c; c = c->next)
			if (!c->busy && !c->shut && c->fd >= 0 && now - c->idle_since > HEADER_S) {
				shutdown(c->fd, SHUT_RDWR);
				c->shut = true;
			}
		pthread_mutex_unlock(&h->conns_mu);
	}
	return NULL;
}

/* libmicrohttpd's messages may quote what a client sent: escaped, on one line. */
__attribute__((format(printf, 2, 0))) static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	char raw[1024];
	int n = vsnprintf(raw, sizeof raw, fmt, ap);
	if (n < 0)
		return;
	size_t len = strlen(raw);
	while (len && (raw[len - 1] == '\n' || raw[len - 1] == '\r'))
		len--;
	struct buf b = {0};
	sanitize_append(&b, raw, len, SAN_INLINE, true);
	warnx_("serve: http: %.*s", (int)b.len, b.p ? b.p : "");
	buf_free(&b);
}

static enum MHD_Result answer(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
			      const char *version, const char *upload, size_t *upload_size, void **con_cls)
{
	struct http *h = cls;
	struct req *q = *con_cls;
	if (!q) {
		q = xcalloc(1, sizeof *q);
		q->h = h;
		q->conn = conn;
		const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
		q->fd = ci ? ci->connect_fd : -1;
		ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
		q->c = ci ? ci->socket_context : NULL;
		conn_busy(h, q->c, true);
		*con_cls = q;
		enum MHD_Result r = begin(q, url, method);
		return r;
	}
	if (q->answered) { /* by begin: the body is not read */
		*upload_size = 0;
		return MHD_YES;
	}
	if (*upload_size) {
		if (q->body.len + *upload_size > h->o->max_body) {
			*upload_size = 0;
			q->answered = true;
			refuse_unread(q);
			return MHD_NO; /* the connection closes */
		}
		buf_append(&q->body, upload, *upload_size);
		*upload_size = 0;
		return MHD_YES;
	}
	switch (q->route) {
	case R_HEALTH: return get_health(q);
	case R_MODELS:
	case R_TAGS:
	case R_PS: return get_models(q);
	case R_VERSION: return reply_json(q, 200, json_pack("{s:s}", "version", PACKAGE_VERSION));
	case R_METRICS: return get_metrics(q);
	case R_JOB: return start_job(q);
	case R_JOBS: return jobs_route(q, method);
	case R_TOKENIZE:
	case R_DETOKENIZE:
	case R_SHOW: return model_endpoint(q);
	case R_NONE: break;
	}
	return MHD_NO;
}

/* The connection is done with q: a job nobody follows any more is
 * cancelled (after a grace for a retry), unless detached. */
static void req_done(void *cls, struct MHD_Connection *conn, void **con_cls, enum MHD_RequestTerminationCode why)
{
	struct req *q = *con_cls;
	(void)cls;
	(void)conn;
	(void)why;
	if (!q)
		return;
	hjob_reader_done(&q->rd);
	conn_busy(q->h, q->c, false);
	msg_free(&q->msg);
	api_reply_free(&q->rp);
	buf_free(&q->body);
	free(q);
	*con_cls = NULL;
}

/* ---- running ---------------------------------------------------------------------------- */

/* A signal ends the engine: the thread that waits for it says so. */
static void *signal_main(void *arg)
{
	struct http *h = arg;
	sigset_t set;
	int sig;
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigwait(&set, &sig);
	service_quit(h->sv);
	return NULL;
}

static bool is_loopback(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return (ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr) >> 24) == 127;
	if (sa->sa_family == AF_INET6) {
		const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
		return IN6_IS_ADDR_LOOPBACK(a) ||
		       (IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127);
	}
	return false;
}

/* [HOST:]PORT (HOST may be [v6]) into an address; NULL after reporting. */
static struct addrinfo *resolve(const char *spec)
{
	char host[256] = "127.0.0.1";
	const char *port = spec, *colon = strrchr(spec, ':');
	if (colon) {
		size_t n = (size_t)(colon - spec);
		if (n >= 2 && spec[0] == '[' && spec[n - 1] == ']') {
			spec++;
			n -= 2;
		}
		if (n == 0 || n >= sizeof host) {
			warnx_("serve: --http %s: expected [HOST:]PORT", spec);
			return NULL;
		}
		memcpy(host, spec, n);
		host[n] = 0;
		port = colon + 1;
	}
	char *end;
	long p = strtol(port, &end, 10);
	if (!*port || *end || p < 0 || p > 65535) {
		warnx_("serve: --http: port \"%s\" is not a number from 0 to 65535", port);
		return NULL;
	}
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE}, *ai;
	int rc = getaddrinfo(host, port, &hints, &ai);
	if (rc != 0) {
		warnx_("serve: --http: %s: %s", host, gai_strerror(rc));
		return NULL;
	}
	return ai;
}

static void model_name(struct http *h, const char *path)
{
	const char *base = path ? strrchr(path, '/') : NULL;
	base = base ? base + 1 : path ? path : "none";
	snprintf(h->name, sizeof h->name, "%s", base);
	char *dot = strrchr(h->name, '.');
	if (dot && !strcmp(dot, ".gguf"))
		*dot = 0;
}

int http_run(const struct serve_opts *o, const char *model)
{
	struct http h = {.o = o, .started = (long long)time(NULL)};
	atomic_init(&h.next_id, 1);
	struct addrinfo *ai = resolve(o->http);
	if (!ai)
		return 2;
	if (!is_loopback(ai->ai_addr) && !o->api_key) {
		warnx_("serve: --http %s is not a loopback address: give --api-key or --api-key-file", o->http);
		freeaddrinfo(ai);
		return 2;
	}
	if (!model) {
		warnx_("serve: --http needs a MODEL");
		freeaddrinfo(ai);
		return 2;
	}
	model_name(&h, model);
	signal(SIGPIPE, SIG_IGN);
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, NULL); /* every thread from here on */
	h.sv = service_new(o, main_emit, NULL, &h);
	h.jobs = hjobs_new(h.sv, o->queue);
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_ERROR_LOG;
	if (ai->ai_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	pthread_mutex_init(&h.conns_mu, NULL);
	struct MHD_Daemon *d = MHD_start_daemon(
		flags, 0, NULL, NULL, answer, &h, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, &h, MHD_OPTION_SOCK_ADDR,
		ai->ai_addr, MHD_OPTION_CONNECTION_LIMIT,
		(unsigned)CONN_LIMIT, MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)CONN_PER_IP,
		MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)HEADER_BYTES, MHD_OPTION_CONNECTION_TIMEOUT, 30u,
		MHD_OPTION_NOTIFY_COMPLETED, req_done, &h, MHD_OPTION_NOTIFY_CONNECTION, conn_notify, &h,
		MHD_OPTION_END);
	freeaddrinfo(ai);
	if (!d) {
		warnx_("serve: cannot listen on %s: %s", o->http, strerror(errno));
		hjobs_free(h.jobs);
		service_free(h.sv);
		pthread_mutex_destroy(&h.conns_mu);
		return 1;
	}
	const union MHD_DaemonInfo *di = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
	/* scripts read the port from here (--http 0 picks a free one) */
	fprintf(stderr, "heft-engine: listening on port %u\n", di ? di->port : 0);
	pthread_t sig, reaper;
	pthread_create(&sig, NULL, signal_main, &h);
	pthread_detach(sig);
	pthread_create(&reaper, NULL, reaper_main, &h);
	service_load(h.sv, model);
	int code = atomic_load(&h.load_failed) ? 1 : 0;
	if (code)
		service_quit(h.sv); /* the jobs queued meanwhile end with an error */
	service_run_jobs(h.sv);
	service_quit(h.sv);
	atomic_store(&h.stopping, true);
	pthread_join(reaper, NULL);
	MHD_stop_daemon(d);
	hjobs_free(h.jobs);
	service_free(h.sv);
	pthread_mutex_destroy(&h.conns_mu);
	return code;
}
