/* serve.h - heft-protocol(5) on stdin and stdout: requests in, events out,
 * one model at a time (serve.c). The command line is cmd-serve.c's. */
#ifndef HEFT_SERVE_H
#define HEFT_SERVE_H

#include "model.h"
#include "protocol.h"
#include "sampler.h"

/* What the command line sets; requests change it later. */
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
};

/* Serve until the input ends or "quit"; model (NULL: none) is loaded
 * first. Returns the exit status. */
int serve_run(const struct serve_opts *o, const char *model);
/* The same over HTTP (o->http set). */
int http_run(const struct serve_opts *o, const char *model);

#endif
