/* http-api.h - the wire formats of the OpenAI and ollama APIs (http-api.c):
 * a request body into a heft-protocol request, the service's events into
 * the bytes of a reply (SSE chunks, NDJSON lines, or one JSON object). No
 * I/O: http.c moves the bytes. */
#ifndef HEFT_HTTP_API_H
#define HEFT_HTTP_API_H

#include "protocol.h"
#include "util.h"

#include <stdbool.h>
#include <stdint.h>

enum api_kind {
	API_OAI_CHAT,        /* POST /v1/chat/completions */
	API_OAI_COMPLETION,  /* POST /v1/completions */
	API_OLLAMA_CHAT,     /* POST /api/chat */
	API_OLLAMA_GENERATE, /* POST /api/generate */
};

/* Where the reply's text goes while the model thinks. */
enum api_think {
	THINK_START, /* nothing yet: a reply that opens with <think> thinks first */
	THINK_IN,
	THINK_AFTER, /* just after </think>: its blank lines are not the answer */
	THINK_OUT,
};

/* One reply being written. */
struct api_reply {
	enum api_kind kind;
	bool stream, include_usage;
	bool detach;          /* "heft":{"detach":true}: runs on when its client goes */
	char id[48];
	const char *model;    /* the name clients see; borrowed */
	long long created;    /* seconds since the epoch */
	enum api_think think;
	struct buf pend;      /* text held back: maybe the start of a think tag */
	bool role_sent;
	struct buf content, reasoning; /* not streamed: the whole reply */
	bool failed;          /* an error was written (streams) or is pending */
	int status;           /* not streamed: the HTTP status of the end */
	const char *err_type;
	char *err_msg;
	int64_t err_n_prompt, err_n_ctx; /* of an exceed_context_size_error */
	bool have_done;
	struct msg_done done; /* message not kept */
	double t0;            /* when the request came */
	struct json_t *progress; /* owned: the last progress, in the stream's end */
};

bool api_is_ollama(enum api_kind k);

/* The body of a request of kind k into *req (MSG_CHAT or MSG_COMPLETE,
 * msg_free after) and the reply's settings into *rp (kind set first).
 * False with a message for a 400 in err. base: options every request
 * starts from (-n's default). */
bool api_parse(struct api_reply *rp, const char *body, size_t len, int64_t id, struct msg *req, char *err,
	       size_t errlen);

/* An event of the request: stream bytes appended to out, or the reply's
 * state updated. */
void api_event(struct api_reply *rp, const struct msg *ev, struct buf *out);
/* The request is over: the stream's last bytes into out (with
 * rp->progress, if set, in its last piece: a comment line in the event
 * that says why it ended, or heft_progress in ollama's done line); or, not
 * streamed, the whole body, returning its HTTP status. */
int api_finish(struct api_reply *rp, struct buf *out);
/* Something for a silent stream: an SSE comment, or an empty NDJSON piece. */
void api_ping(struct api_reply *rp, struct buf *out);
/* A progress object (heft-engine(1)) for a stream: an SSE comment line
 * ": heft.progress {...}", which every SSE parser skips, or an NDJSON line
 * ollama clients take as an empty piece, the object under "heft_progress". */
struct json_t;
void api_progress(struct api_reply *rp, struct json_t *progress, struct buf *out);
/* Of a stats event's numbers, those the panes draw (stats.h), as the
 * stats event writes them: the progress object's "stats". NULL when none. */
struct json_t *api_progress_stats(const struct msg_numbers *all);
void api_reply_free(struct api_reply *rp);

/* An error body: {"error":{"code","message","type"}}, or ollama's
 * {"error":"..."}. */
void api_error_body(struct buf *out, bool ollama, int status, const char *type, const char *message);

#endif
