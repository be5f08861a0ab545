/* engine.h - "an engine" as the front end sees it: something that takes
 * heft-protocol(5) requests and answers with its events, driven from the
 * caller's one poll() loop.
 *
 * Two implementations share this interface: a child process spoken to over
 * JSON Lines pipes (engine-pipe.c; the target is a shell command) and an
 * HTTP client of an OpenAI-compatible or ollama server (engine-http.c; the
 * target is an http:// or https:// URL). Neither ever blocks: requests
 * queue, poll() says when to do I/O, engine_io() does it and hands the
 * events over. The conversation, panes, input, sessions and search see
 * only requests and events, never which implementation they have. */
#ifndef HEFT_ENGINE_H
#define HEFT_ENGINE_H

#include <poll.h>
#include <stdbool.h>
#include <stddef.h>

#include "protocol.h"

/* The most pollfds engine_pollfds() fills. */
#define ENGINE_POLLFDS_MAX 6

/* What an HTTP engine needs beyond its URL (ignored by the pipe). */
struct engine_http_opts {
	const char *api_key;	/* sent as a bearer token, never shown or written */
	const char *api;	/* "openai", "ollama", or NULL: detect */
	double stall_s;		/* a transfer silent this long is closed; 0: default */
	const char *ca_file;	/* CA certificates to trust (PEM), NULL: the system's */
};

struct engine;

typedef void (*engine_event_fn)(void *ctx, const struct msg *m);

/* An engine for target: a URL starting with http:// or https:// is a
 * server, anything else a command for /bin/sh -c. Nothing starts yet. */
struct engine *engine_new(const char *target, const struct engine_http_opts *http);
void engine_free(struct engine *e);

/* True when the target is a URL: an HTTP engine. */
bool engine_is_url(const char *target);

/* The URL without a "user:password@" part, as it may be shown or
 * recorded in a session; anything else copied. Caller frees. */
char *engine_url_public(const char *target);

/* The target as given (a command or a URL). */
const char *engine_target(const struct engine *e);
/* Is this an HTTP engine? Only for wording (what "restart" means). */
bool engine_is_remote(const struct engine *e);

/* Start (or, after it ended, start again); false with a message in err
 * when that failed at once. Later failures arrive as events. */
bool engine_start(struct engine *e, char *err, size_t errlen);
bool engine_running(const struct engine *e);
/* Started at least once. */
bool engine_started(const struct engine *e);

/* Queue one request. */
void engine_send(struct engine *e, const struct msg *m);

/* poll() slots (up to ENGINE_POLLFDS_MAX), and the longest the caller may
 * sleep before engine_io must run even without any fd ready (-1: no limit). */
int engine_pollfds(struct engine *e, struct pollfd *p);
int engine_timeout_ms(struct engine *e);
/* Do the I/O poll() allowed (call it every turn of the loop, with the
 * revents filled in; n may be 0) and hand decoded events to fn. */
void engine_io(struct engine *e, const struct pollfd *p, int n, engine_event_fn fn, void *ctx);

/* True once the engine's event stream has ended (its stdout closed): the
 * caller should reap it. */
bool engine_eof(const struct engine *e);

/* Reap the engine if it has ended; true once, when it just was. */
bool engine_reap(struct engine *e);
/* "exited with status 3", "was killed by signal 9 (Killed)". */
void engine_exit_reason(const struct engine *e, char *out, size_t n);
/* Its last diagnostic (a child's last stderr line, sanitized), or NULL. */
const char *engine_last_error(const struct engine *e);

/* The event just handed over was made up from a line that did not decode,
 * and how many such lines came in a row. */
bool engine_last_was_garbage(const struct engine *e);
unsigned long engine_garbage(const struct engine *e);

/* A message for the user that is not an event (an HTTP engine's "server
 * busy, retrying in 2 s"); the caller frees it. NULL when none. */
char *engine_take_notice(struct engine *e);

/* Ask a server for the models it has: the list arrives as a notice
 * (engine_take_notice). False, doing nothing, for an engine without such a
 * list (a local one: its models are files). */
bool engine_list_models(struct engine *e);

/* Ask it to stop (a quit request), without waiting. */
void engine_stop(struct engine *e);
/* Make it end now (a child gets SIGTERM); engine_reap reports it later. */
void engine_terminate(struct engine *e);
/* Stop for good, waiting a little if it must: used at exit and restart. */
void engine_kill(struct engine *e);

#endif
