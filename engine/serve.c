/* serve.c - heft-protocol(5) on stdin and stdout: the JSON Lines
 * transport of the service (service.h), for `heft-engine serve`
 * (cmd-serve.c parses its command line; --http hands over to http.c).
 *
 * The model's thread reads request lines with poll(): when idle it waits
 * for them; during a generation the service calls back between two tokens
 * and between two layers of a prompt batch, and the lines read then are
 * handed in (a cancel stops a long batch within a layer).
 * Events come back through the service's callback and go through a queue
 * to a writer thread, so a front end that reads slowly (a congested ssh
 * link) never stalls the generation, and one that went away (EPIPE) ends
 * the engine cleanly instead of killing it. */
#include "serve.h"

#include "linereader.h"
#include "protocol.h"
#include "service.h"
#include "util.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* The front end is this far behind: periodic stats are skipped. */
#define OUT_BEHIND ((size_t)16 << 20)
/* At exit, how long a front end that stopped reading may hold us up. */
#define OUT_DRAIN_S 5
/* Input read per look during a generation: enough for any request line,
 * bounded so a flood cannot starve the token loop. */
#define READS_PER_LOOK 16

/* ---- the event queue and its writer thread ---------------------------------------- */

/* Heap-allocated: a writer stuck on a front end that stopped reading is
 * left running at exit, and must not be left pointing into a dead stack. */
struct outq {
	pthread_mutex_t mu;
	pthread_cond_t cv; /* writer: work or closing; closer: writer finished */
	struct buf pend;   /* encoded lines not yet taken by the writer */
	bool closing, finished;
	atomic_bool dead;  /* a write failed: nobody reads us any more */
	pthread_t th;
};

static void *writer_main(void *arg)
{
	struct outq *q = arg;
	struct buf mine = {0};
	pthread_mutex_lock(&q->mu);
	for (;;) {
		while (!q->pend.len && !q->closing)
			pthread_cond_wait(&q->cv, &q->mu);
		if (!q->pend.len)
			break;
		struct buf t = q->pend;
		q->pend = mine;
		mine = t;
		pthread_mutex_unlock(&q->mu);
		if (!atomic_load(&q->dead) && write_full(STDOUT_FILENO, mine.p, mine.len) < 0) {
			if (errno != EPIPE)
				warn_errno("serve: writing events");
			atomic_store(&q->dead, true);
		}
		buf_clear(&mine);
		pthread_mutex_lock(&q->mu);
	}
	q->finished = true;
	pthread_cond_broadcast(&q->cv);
	pthread_mutex_unlock(&q->mu);
	buf_free(&mine);
	return NULL;
}

static struct outq *outq_new(void)
{
	struct outq *q = xcalloc(1, sizeof *q);
	pthread_mutex_init(&q->mu, NULL);
	pthread_cond_init(&q->cv, NULL);
	atomic_init(&q->dead, false);
	if (pthread_create(&q->th, NULL, writer_main, q) != 0)
		die("serve: cannot start the writer thread");
	return q;
}

static void outq_put(struct outq *q, const struct buf *line, bool droppable)
{
	pthread_mutex_lock(&q->mu);
	if (!atomic_load(&q->dead) && !(droppable && q->pend.len > OUT_BEHIND)) {
		buf_append(&q->pend, line->p, line->len);
		pthread_cond_signal(&q->cv);
	}
	pthread_mutex_unlock(&q->mu);
}

/* Flush what is queued, waiting at most OUT_DRAIN_S for a slow reader. A
 * writer still blocked after that is left behind, with q: exit ends it. */
static void outq_close(struct outq *q)
{
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += OUT_DRAIN_S;
	pthread_mutex_lock(&q->mu);
	q->closing = true;
	pthread_cond_signal(&q->cv);
	while (!q->finished && pthread_cond_timedwait(&q->cv, &q->mu, &until) != ETIMEDOUT)
		;
	bool finished = q->finished;
	pthread_mutex_unlock(&q->mu);
	if (!finished) {
		warnx_("serve: the front end stopped reading; %zu bytes of events dropped", q->pend.len);
		return;
	}
	pthread_join(q->th, NULL);
	buf_free(&q->pend);
	pthread_cond_destroy(&q->cv);
	pthread_mutex_destroy(&q->mu);
	free(q);
}


/* ---- the transport ------------------------------------------------------------------ */

struct jsonl {
	struct service *sv;
	struct linereader lr;
	bool in_eof;
	struct outq *out;
	struct buf enc;
};

static void emit(const struct msg *m, bool droppable, void *ud)
{
	struct jsonl *t = ud;
	if (!m)
		return;
	buf_clear(&t->enc);
	if (!msg_encode(m, &t->enc)) {
		warnx_("serve: cannot encode a %s event", msg_type_name(m->type));
		return;
	}
	outq_put(t->out, &t->enc, droppable);
}

static void send_error(struct jsonl *t, const struct msg_err *err)
{
	struct msg e;
	msg_error_event(&e, err);
	emit(&e, false, t);
	msg_free(&e);
}

static void send_hello(struct jsonl *t)
{
	struct msg m = {.type = MSG_HELLO};
	m.hello.protocol = PROTO_VERSION;
	m.hello.program = "heft-engine";
	m.hello.version = PACKAGE_VERSION;
	emit(&m, false, t);
}

static void handle_line(struct jsonl *t, const char *line, size_t len)
{
	struct msg m;
	struct msg_err err;
	if (!msg_decode(&m, line, len, MSG_REQUEST, &err)) {
		send_error(t, &err);
		return;
	}
	service_handle(t->sv, &m);
	msg_free(&m);
}

/* Handle every complete line buffered (stopping after quit). */
static void take_lines(struct jsonl *t)
{
	const char *line;
	size_t len;
	enum lr_status st;
	while (!service_quitting(t->sv, NULL) && (st = lr_next(&t->lr, &line, &len)) != LR_AGAIN && st != LR_EOF) {
		if (st == LR_TOO_LONG) {
			struct msg_err err;
			msg_err_set(&err, MSG_E_TOO_LONG, "a line over %zu bytes was dropped", PROTO_LINE_MAX);
			send_error(t, &err);
		} else {
			handle_line(t, line, len);
		}
	}
}

static void input_ended(struct jsonl *t)
{
	lr_eof(&t->lr);
	t->in_eof = true;
}

/* Read what stdin has, waiting up to timeout_ms (-1: until something comes),
 * and handle the lines it completes. */
static void pump(struct jsonl *t, int timeout_ms)
{
	for (int k = 0; k < READS_PER_LOOK && !t->in_eof; k++) {
		struct pollfd p = {.fd = STDIN_FILENO, .events = POLLIN};
		int r = poll(&p, 1, k ? 0 : timeout_ms);
		if (r < 0 && errno != EINTR) {
			warn_errno("serve: poll");
			input_ended(t);
		}
		if (r <= 0)
			break;
		ssize_t n = lr_read(&t->lr, STDIN_FILENO);
		if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN)) {
			if (n < 0)
				warn_errno("serve: reading requests");
			input_ended(t);
		}
		if (timeout_ms != 0)
			break; /* idle: handle what came before reading on */
	}
	take_lines(t);
}

/* Between two tokens, prompt batches or layers of a batch: requests, and whether anyone
 * still listens. */
static void look(void *ud)
{
	struct jsonl *t = ud;
	pump(t, 0);
	if (atomic_load(&t->out->dead) && !service_quitting(t->sv, NULL))
		service_quit(t->sv);
}

int serve_run(const struct serve_opts *o, const char *model)
{
	if (o->http)
		return http_run(o, model);
	struct jsonl t = {0};
	int code;
	/* A front end that goes away must end us through EPIPE, cleanly. */
	signal(SIGPIPE, SIG_IGN);
	lr_init(&t.lr, PROTO_LINE_MAX);
	t.out = outq_new();
	t.sv = service_new(o, emit, look, &t);
	send_hello(&t);
	if (model)
		service_load(t.sv, model);
	/* pump takes every line the input held before it reports the end */
	while (!service_quitting(t.sv, NULL) && !t.in_eof && !atomic_load(&t.out->dead))
		pump(&t, -1);
	outq_close(t.out);
	service_quitting(t.sv, &code);
	service_free(t.sv);
	lr_free(&t.lr);
	buf_free(&t.enc);
	return code;
}
