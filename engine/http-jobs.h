/* http-jobs.h - the generations of the HTTP transport as jobs that
 * outlive their connection (http-jobs.c).
 *
 * A job keeps the bytes of its reply as numbered events (SSE events, which
 * carry their number in an id: field, or NDJSON lines; a reply not
 * streamed is one event, written when it ends), so any number of readers
 * may follow it from any event: the client that asked, an SDK's retry of
 * the same request (same body, same key and address, while the job runs),
 * or a client coming back to a detached job (GET /v1/jobs/ID?from=N).
 * A job whose last reader goes is cancelled after a short grace (in which
 * a retry may still attach), unless it is detached. Finished jobs stay a
 * while, bounded in count and bytes. Readers also get pings and progress
 * lines of their own, which are not events of the job. */
#ifndef HEFT_HTTP_JOBS_H
#define HEFT_HTTP_JOBS_H

#include "http-api.h"
#include "service.h"

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct hjobs;
struct hjob;

struct hjobs *hjobs_new(struct service *sv, int qmax);
/* Once the service ran its last job (every job is over). */
void hjobs_free(struct hjobs *js);

enum hjob_start {
	HJOB_NEW,      /* queued: *rp and *req moved into the job */
	HJOB_ATTACHED, /* the same request runs already: *rp and *req untouched */
	HJOB_FULL,     /* the queue is full: *rp and *req untouched */
};
/* A job for a parsed request; *out referenced (hjob_unref) unless FULL.
 * key: the request's bytes and who sent them, hashed. *pos: the queue
 * position. */
enum hjob_start hjobs_start(struct hjobs *js, struct api_reply *rp, struct msg *req, uint64_t key, bool detach,
			    struct hjob **out, int *pos);
/* The job named id, referenced; NULL. */
struct hjob *hjobs_get(struct hjobs *js, const char *id);
/* GET /v1/jobs: every job kept, newest first, as a JSON list object. */
struct json_t;
struct json_t *hjobs_list(struct hjobs *js);
/* Counts for /metrics. */
void hjobs_counts(struct hjobs *js, int *live, int *kept, uint64_t *attached);

const char *hjob_id(const struct hjob *j);
enum api_kind hjob_kind(const struct hjob *j);
bool hjob_streamed(const struct hjob *j);
bool hjob_detached(const struct hjob *j);
/* Stop it: out of the queue, or cancelled where it runs. False: it had
 * ended already. */
bool hjob_cancel(struct hjob *j);
void hjob_unref(struct hjob *j);

/* One client following a job. */
struct hjob_reader {
	struct hjob *j;
	int fd;              /* the client's socket, watched for its end */
	size_t next, off;    /* the event and the byte in it read next */
	struct buf own;      /* this reader's pings and progress lines */
	size_t own_off;
	double ping, last_write, last_progress;
	double last_look;    /* when the client was last looked at */
	unsigned progress_seen;
};
/* Follow j (the reference moves in) from event from. */
void hjob_reader_init(struct hjob_reader *r, struct hjob *j, int fd, size_t from, double ping);
/* Stream bytes into dst: their count, or 0 at the end of the reply, or -1
 * when the client is gone. Blocks until there is something. */
ssize_t hjob_read(struct hjob_reader *r, char *dst, size_t max);
/* A reply not streamed: wait for it; its HTTP status and body, or -1 when
 * the client went first. The body stays valid while r is. */
int hjob_whole(struct hjob_reader *r, const char **body, size_t *len);
/* The reader is gone (a job nobody follows is cancelled after a grace,
 * unless detached). */
void hjob_reader_done(struct hjob_reader *r);

#endif
