/* service.h - the engine as a service, whatever carries it: heft-protocol
 * requests (struct msg) in, events (struct msg) out through a callback; one
 * model, one generation at a time (service.c). The transports: JSON Lines
 * on stdin/stdout (serve.c) and HTTP (http.c).
 *
 * A transport either hands requests straight in (service_handle, from the
 * thread that runs the model) or queues jobs from any thread
 * (service_submit) for service_run_jobs to take one by one. No handler
 * writes anywhere itself: every event goes to the emit callback of the
 * request's transport. */
#ifndef HEFT_SERVICE_H
#define HEFT_SERVICE_H

#include "model.h"
#include "protocol.h"
#include "sampler.h"

#include <stdatomic.h>
#include <stdbool.h>

struct service;

/* What the command line of `serve` sets (cmd-serve.c; the transports
 * read their part); requests change it later. */
struct serve_opts {
	struct model_opts mo;
	struct sampler_params sp;
	struct msg_options base;   /* request defaults ("n_predict"), owned by the service */
	const char *tmpl_override; /* a template name template_by_name knows */
	double stats_every;        /* seconds between stats events; 0: on request */
	int n_keep;                /* session_config.n_keep */
	/* --http: the HTTP transport (http.c) instead of stdin and stdout */
	const char *http;          /* [HOST:]PORT */
	const char *api_key;       /* NULL: none (loopback only) */
	int queue;                 /* requests waiting at most */
	double sse_ping;           /* seconds of silence before a ping; 0: none */
	size_t max_body;           /* bytes */
	/* the KV states of recent conversations on disk (kvdisk.h) */
	const char *kv_cache_dir;  /* NULL: $XDG_CACHE_HOME/heft/kv */
	uint64_t kv_cache_size;    /* bytes; 0: none */
	const char *cors[16];      /* --cors-origin: origins a browser may call from */
	int n_cors;
};

/* One event; droppable ones (periodic stats, progress) may be skipped by a
 * transport that is behind. ev == NULL: the request is over, no event of
 * it follows. */
typedef void (*service_emit_fn)(const struct msg *ev, bool droppable, void *ud);
/* Called between two tokens or prompt batches of a generation, on the
 * model's thread: the transport may hand in requests (cancel, stats, quit
 * are served; the others are answered "busy"). */
typedef void (*service_look_fn)(void *ud);

/* A queued request. The transport owns it; it must stay alive until its
 * emit got NULL, or service_withdraw took it back. */
struct service_job {
	struct msg req;          /* MSG_CHAT or MSG_COMPLETE; the transport's */
	service_emit_fn emit;
	void *ud;
	atomic_bool cancel;      /* set by service_withdraw; seen within a layer */
	struct service_job *next;
	double t_queued;
};

struct service *service_new(const struct serve_opts *o, service_emit_fn emit, service_look_fn look, void *ud);
void service_free(struct service *sv);

/* Load a model (replacing the current one), as a "load" request without
 * options would. */
void service_load(struct service *sv, const char *path);
/* Serve one request, on the model's thread. */
void service_handle(struct service *sv, const struct msg *req);
/* Stop the running generation (the transport's peer is gone). */
void service_cancel(struct service *sv);
/* Whether a "quit" (or a failed hello) asked the engine to end; *code: the
 * exit status. */
bool service_quitting(const struct service *sv, int *code);
void service_quit(struct service *sv);

/* Queue a job: its position (0: next), or -1 when the queue holds qmax
 * jobs already or the service is quitting. Any thread. */
int service_submit(struct service *sv, struct service_job *j, int qmax);
/* The client of j is gone: take it out of the queue (true: it never ran,
 * emit is not called), or cancel it where it runs (false: emit gets NULL
 * when it ends). Any thread. */
bool service_withdraw(struct service *sv, struct service_job *j);
/* Where j waits in the queue (0: next), or -1 when it is not queued
 * (running, or over). Any thread. */
int service_position(struct service *sv, const struct service_job *j);
/* Run queued jobs until service_quit; on the model's thread. */
void service_run_jobs(struct service *sv);

/* What /metrics and /health show, read from any thread. */
struct service_status {
	bool loading, loaded, busy;
	int queued;
	char model[256];        /* path of the loaded model, "" */
	int n_ctx;
	uint64_t requests, cancelled, prompt_tokens, cached_tokens, gen_tokens;
	struct msg_numbers stats; /* the last stats event's numbers (owned by the caller) */
};
void service_status(struct service *sv, struct service_status *st);

/* The loaded model and its tokenizer (*tok), for requests that only read
 * them (tokenize, show), from any thread; NULL while none is loaded. Valid
 * until the next load or service_free: for a transport that loads once. */
struct model;
struct tokenizer;
const struct model *service_model(struct service *sv, const struct tokenizer **tok);

#endif
