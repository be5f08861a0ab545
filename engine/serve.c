/* serve.c - heft-protocol(5) on stdin and stdout, for `heft-engine serve`
 * (cmd-serve.c parses its command line).
 *
 * One thread runs the model. It reads requests with poll(): when idle it
 * waits for them; during a generation it looks between two tokens (and
 * between two prompt batches) from the session's callbacks, so cancel and
 * stats take effect while tokens stream, and any other request is answered
 * "busy". Events go through a queue to a writer thread, so a front end that
 * reads slowly (a congested ssh link) never stalls the generation, and one
 * that went away (EPIPE) ends the engine cleanly instead of killing it.
 *
 * The conversation lives in the session: "chat" with "messages" keeps the
 * turns that match and replaces the rest, "chat" with "text" appends one,
 * "truncate" drops turns; the session keeps the KV cache of whatever token
 * prefix still matches. When the conversation outgrows the context the
 * session drops its oldest turns (--keep says what stays); the done event's
 * message and the stats say so. "complete" runs raw text without
 * disturbing the conversation's turns. "save" writes the turns as JSON and
 * the KV cache next to them (kvstate.h), so that "restore" in a later
 * engine evaluates nothing again. */
#include "serve.h"

#include "gguf.h"
#include "kvstate.h"
#include "linereader.h"
#include "model.h"
#include "protocol.h"
#include "sampler.h"
#include "session.h"
#include "sysinfo.h"
#include "template.h"
#include "tokenizer.h"
#include "fileio.h"
#include "util.h"
#include "weights.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* The front end is this far behind: periodic stats are skipped. */
#define OUT_BEHIND ((size_t)16 << 20)
/* At exit, how long a front end that stopped reading may hold us up. */
#define OUT_DRAIN_S 5
/* Largest session file restore reads. */
#define SESSION_FILE_MAX ((size_t)256 << 20)
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

/* ---- state ------------------------------------------------------------------------ */

/* The request being generated. */
struct gen {
	bool on;
	int64_t id;
	int n_tok;
	double t0, t_first;   /* request start; when the prompt was done (0: not yet) */
	double io0, io_last;  /* weights io_wait_s at the start and at the last token */
	double last_stats;
};

/* Counters at the previous stats event, for rates. */
struct rate_mark {
	double t;
	uint64_t bytes_read, os_read_bytes;
};

struct serve {
	/* from the command line */
	struct model_opts mopts;
	const char *tmpl_override;
	double stats_every;
	int n_keep; /* session_config.n_keep */
	/* the model */
	struct model *m;
	struct tokenizer *tok;
	struct session *s;
	char *tmpl_name;              /* the load request's chat_template, owned */
	enum tmpl_family family;      /* TMPL_UNKNOWN: no chat template */
	char tmpl_err[2048];          /* whole: it may list every template name */
	/* options: command line, then "set" */
	struct sampler_params sp;
	struct msg_options base;
	/* the generation and the last one's numbers */
	struct gen gen;
	struct session_stats last;
	double last_io_wait_s;
	bool have_last;
	struct rate_mark mark;
	/* input and output */
	struct linereader lr;
	bool in_eof, quit;
	int exit_code;
	struct outq *out;
	struct buf enc, piece;
};

/* ---- sending -------------------------------------------------------------------------- */

static void send_msg(struct serve *sv, const struct msg *m, bool droppable)
{
	buf_clear(&sv->enc);
	if (!msg_encode(m, &sv->enc)) {
		warnx_("serve: cannot encode a %s event", msg_type_name(m->type));
		return;
	}
	outq_put(sv->out, &sv->enc, droppable);
}

static void send_error(struct serve *sv, enum msg_errcode code, bool has_id, int64_t id, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

static void send_error(struct serve *sv, enum msg_errcode code, bool has_id, int64_t id, const char *fmt, ...)
{
	struct msg m;
	char *text;
	va_list ap;
	va_start(ap, fmt);
	if (vasprintf(&text, fmt, ap) < 0)
		text = NULL;
	va_end(ap);
	/* the whole message, however long: a fixed buffer cut template lists */
	msg_error_event_text(&m, code, text ? text : "out of memory formatting an error");
	m.error.has_id = has_id;
	m.error.id = id;
	send_msg(sv, &m, false);
	msg_free(&m);
	free(text);
}

static void send_hello(struct serve *sv)
{
	struct msg m = {.type = MSG_HELLO};
	m.hello.protocol = PROTO_VERSION;
	m.hello.program = "heft-engine";
	m.hello.version = PACKAGE_VERSION;
	send_msg(sv, &m, false);
}

static void send_progress(struct serve *sv, const char *what, int64_t done, int64_t total)
{
	struct msg m = {.type = MSG_PROGRESS};
	m.progress.what = (char *)what;
	m.progress.done = done;
	m.progress.total = total;
	send_msg(sv, &m, true);
}

/* ---- stats ------------------------------------------------------------------------------- */

static double na_u64(uint64_t v)
{
	return v == SYSINFO_NA ? NAN : (double)v;
}

static double io_wait_s(struct serve *sv)
{
	struct weights_stats ws;
	weights_get_stats(sv->m->w, &ws);
	return ws.io_wait_s;
}

/* The weight store's counters and its per-layer arrays. */
static void add_weights_stats(struct msg_numbers *n, const struct weights_stats *ws)
{
	static const struct {
		const char *key;
		size_t off;
	} layer_fields[] = {
		{"layer_hits", offsetof(struct expert_layer_stats, hits)},
		{"layer_misses", offsetof(struct expert_layer_stats, misses)},
		{"layer_prefetch_hits", offsetof(struct expert_layer_stats, prefetch_hits)},
		{"layer_bytes_read", offsetof(struct expert_layer_stats, bytes_read)},
	};
	msg_numbers_add(n, "budget", (double)ws->mem_budget);
	msg_numbers_add(n, "resident_bytes", (double)ws->resident_bytes);
	msg_numbers_add(n, "cache_bytes", (double)ws->cache_bytes);
	msg_numbers_add(n, "cache_slots", ws->n_slots);
	msg_numbers_add(n, "cache_slots_used", ws->slots_used);
	msg_numbers_add(n, "cache_hits", (double)ws->hits);
	msg_numbers_add(n, "cache_misses", (double)ws->misses);
	msg_numbers_add(n, "prefetch_issued", (double)ws->prefetch_issued);
	msg_numbers_add(n, "prefetch_useful", (double)ws->prefetch_hits);
	msg_numbers_add(n, "prefetch_wasted", (double)ws->prefetch_wasted);
	msg_numbers_add(n, "read_bytes", (double)ws->bytes_read);
	msg_numbers_add(n, "io_wait_total_ms", ws->io_wait_s * 1000);
	if (!ws->layer || ws->n_layers <= 0)
		return;
	double *v = xcalloc((size_t)ws->n_layers, sizeof *v);
	for (size_t f = 0; f < ARRAY_LEN(layer_fields); f++) {
		for (int l = 0; l < ws->n_layers; l++)
			v[l] = (double)*(const uint64_t *)((const char *)&ws->layer[l] + layer_fields[f].off);
		msg_numbers_add_array(n, layer_fields[f].key, v, (size_t)ws->n_layers);
	}
	for (int l = 0; l < ws->n_layers; l++)
		v[l] = ws->layer[l].resident;
	msg_numbers_add_array(n, "layer_resident", v, (size_t)ws->n_layers);
	free(v);
}

/* Process memory and I/O as the OS counts them; rates against the
 * previous stats event (null on the first). */
static void add_os_stats(struct serve *sv, struct msg_numbers *n, const struct weights_stats *ws)
{
	struct sysinfo_proc_mem pm;
	struct sysinfo_proc_io pio;
	struct sysinfo_faults pf;
	if (!sysinfo_proc_mem(&pm))
		pm = (struct sysinfo_proc_mem){SYSINFO_NA, SYSINFO_NA, SYSINFO_NA, SYSINFO_NA, SYSINFO_NA};
	if (!sysinfo_proc_io(&pio))
		pio.read_bytes = pio.rchar = SYSINFO_NA;
	msg_numbers_add(n, "rss", na_u64(pm.rss));
	msg_numbers_add(n, "rss_peak", na_u64(pm.rss_peak));
	msg_numbers_add(n, "rss_anon", na_u64(pm.rss_anon));
	msg_numbers_add(n, "rss_file", na_u64(pm.rss_file));
	msg_numbers_add(n, "os_read_bytes", na_u64(pio.read_bytes));
	msg_numbers_add(n, "os_rchar", na_u64(pio.rchar));
	if (sysinfo_faults(&pf))
		msg_numbers_add(n, "major_faults", (double)pf.major);

	double now = now_sec(), dt = now - sv->mark.t;
	uint64_t wb = ws ? ws->bytes_read : 0;
	bool ok = sv->mark.t > 0 && dt > 0;
	msg_numbers_add(n, "read_mb_s", ok && ws ? (double)(wb - sv->mark.bytes_read) / dt / 1e6 : NAN);
	msg_numbers_add(n, "os_read_mb_s", ok && pio.read_bytes != SYSINFO_NA && sv->mark.os_read_bytes != SYSINFO_NA
						   ? (double)(pio.read_bytes - sv->mark.os_read_bytes) / dt / 1e6
						   : NAN);
	sv->mark = (struct rate_mark){now, wb, pio.read_bytes};
}

/* The running request's counts and speeds so far, or the last one's. */
static void add_gen_stats(struct serve *sv, struct msg_numbers *n, const struct weights_stats *ws)
{
	const struct session_stats *st = session_stats(sv->s);
	double t_prompt, t_gen, io_wait;
	if (sv->gen.on) {
		double now = now_sec();
		t_prompt = (sv->gen.t_first > 0 ? sv->gen.t_first : now) - sv->gen.t0;
		t_gen = sv->gen.t_first > 0 ? now - sv->gen.t_first : 0;
		io_wait = ws->io_wait_s - sv->gen.io0;
	} else if (sv->have_last) {
		st = &sv->last;
		t_prompt = st->t_prompt;
		t_gen = st->t_gen;
		io_wait = sv->last_io_wait_s;
	} else {
		return;
	}
	msg_numbers_add(n, "generating", sv->gen.on);
	msg_numbers_add(n, "n_prompt", st->n_prompt);
	msg_numbers_add(n, "n_reused", st->n_reused);
	msg_numbers_add(n, "n_evaluated", st->n_evaluated);
	msg_numbers_add(n, "n_gen", st->n_generated);
	msg_numbers_add(n, "n_dropped_turns", st->n_dropped_turns);
	msg_numbers_add(n, "n_dropped_tokens", st->n_dropped_tokens);
	msg_numbers_add(n, "n_reevaluated", st->n_reevaluated);
	msg_numbers_add(n, "prompt_tok_s", t_prompt > 0 ? st->n_evaluated / t_prompt : NAN);
	msg_numbers_add(n, "gen_tok_s", t_gen > 0 && st->n_generated > 0 ? st->n_generated / t_gen : NAN);
	msg_numbers_add(n, "prompt_ms", t_prompt * 1000);
	msg_numbers_add(n, "gen_ms", t_gen * 1000);
	/* the request's wall time: waiting for the disk, and the rest */
	msg_numbers_add(n, "io_wait_ms", io_wait * 1000);
	msg_numbers_add(n, "compute_ms", MAX(0.0, (t_prompt + t_gen - io_wait) * 1000));
}

static void send_stats(struct serve *sv, bool periodic)
{
	struct msg m = {.type = MSG_STATS};
	struct msg_numbers *n = &m.stats.stats;
	struct weights_stats ws;
	if (sv->m) {
		weights_get_stats(sv->m->w, &ws);
		msg_numbers_add(n, "n_pos", session_n_pos(sv->s));
		msg_numbers_add(n, "n_ctx", session_n_ctx(sv->s));
		msg_numbers_add(n, "n_turns", (double)session_n_turns(sv->s));
		msg_numbers_add(n, "n_turns_in_context", (double)session_n_live(sv->s));
		add_gen_stats(sv, n, &ws);
		add_weights_stats(n, &ws);
	}
	add_os_stats(sv, n, sv->m ? &ws : NULL);
	send_msg(sv, &m, periodic);
	msg_numbers_free(n);
	sv->gen.last_stats = now_sec();
}

/* ---- input ------------------------------------------------------------------------------- */

static void handle_line(struct serve *sv, const char *line, size_t len);

/* Handle every complete line buffered (stopping after quit). */
static void take_lines(struct serve *sv)
{
	const char *line;
	size_t len;
	enum lr_status st;
	while (!sv->quit && (st = lr_next(&sv->lr, &line, &len)) != LR_AGAIN && st != LR_EOF) {
		if (st == LR_TOO_LONG)
			send_error(sv, MSG_E_TOO_LONG, false, 0, "a line over %zu bytes was dropped", PROTO_LINE_MAX);
		else
			handle_line(sv, line, len);
	}
}

static void input_ended(struct serve *sv)
{
	lr_eof(&sv->lr);
	sv->in_eof = true;
}

/* Read what stdin has, waiting up to timeout_ms (-1: until something comes),
 * and handle the lines it completes. */
static void pump(struct serve *sv, int timeout_ms)
{
	for (int k = 0; k < READS_PER_LOOK && !sv->in_eof; k++) {
		struct pollfd p = {.fd = STDIN_FILENO, .events = POLLIN};
		int r = poll(&p, 1, k ? 0 : timeout_ms);
		if (r < 0 && errno != EINTR) {
			warn_errno("serve: poll");
			input_ended(sv);
		}
		if (r <= 0)
			break;
		ssize_t n = lr_read(&sv->lr, STDIN_FILENO);
		if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN)) {
			if (n < 0)
				warn_errno("serve: reading requests");
			input_ended(sv);
		}
		if (timeout_ms != 0)
			break; /* idle: handle what came before reading on */
	}
	take_lines(sv);
}

/* Between two tokens or prompt batches: requests, periodic stats, and
 * whether anyone still listens. */
static void look_around(struct serve *sv)
{
	pump(sv, 0);
	if (atomic_load(&sv->out->dead) && !sv->quit) {
		sv->quit = true;
		session_cancel(sv->s);
	}
	if (sv->stats_every > 0 && now_sec() - sv->gen.last_stats >= sv->stats_every)
		send_stats(sv, true);
}

/* ---- generation ------------------------------------------------------------------------- */

static int on_token(int32_t id, const char *piece, size_t len, double t_s, void *ud)
{
	struct serve *sv = ud;
	struct gen *g = &sv->gen;
	double io = io_wait_s(sv);
	if (g->n_tok++ == 0)
		g->t_first = now_sec() - t_s;
	/* The protocol's strings hold no NUL; a NUL byte the model produced
	 * is shown as U+FFFD. */
	buf_clear(&sv->piece);
	for (size_t i = 0; i < len; i++) {
		if (piece[i])
			buf_putc(&sv->piece, piece[i]);
		else
			buf_puts(&sv->piece, "\xEF\xBF\xBD");
	}
	struct msg m = {.type = MSG_TOKEN};
	m.token.id = g->id;
	m.token.tok = id;
	m.token.text = sv->piece.p ? sv->piece.p : "";
	m.token.t_ms = t_s * 1000;
	m.token.has_io_wait = true;
	m.token.io_wait_ms = MAX(0.0, io - g->io_last) * 1000;
	g->io_last = io;
	send_msg(sv, &m, false);
	look_around(sv);
	return 0;
}

static int on_prefill(int done, int total, void *ud)
{
	struct serve *sv = ud;
	sv->gen.io_last = io_wait_s(sv); /* the first token's wait starts here */
	if (total > session_max_batch(sv->s))
		send_progress(sv, "prefill", done, total);
	look_around(sv);
	return 0;
}

/* Options given in o override those in *dst (stop strings are copied). */
static void options_merge(struct msg_options *dst, const struct msg_options *o)
{
	for (int i = 0; i < OPT_COUNT; i++) {
		if (!(o->present & MSG_OPT_BIT(i)))
			continue;
		switch ((enum msg_opt)i) {
		case OPT_TEMP: dst->temp = o->temp; break;
		case OPT_TOP_K: dst->top_k = o->top_k; break;
		case OPT_TOP_P: dst->top_p = o->top_p; break;
		case OPT_MIN_P: dst->min_p = o->min_p; break;
		case OPT_REPEAT_PENALTY: dst->repeat_penalty = o->repeat_penalty; break;
		case OPT_REPEAT_LAST_N: dst->repeat_last_n = o->repeat_last_n; break;
		case OPT_SEED: dst->seed = o->seed; break;
		case OPT_N_PREDICT: dst->n_predict = o->n_predict; break;
		case OPT_STOP:
			msg_options_free(dst);
			dst->stop = xcalloc(o->n_stop + 1, sizeof *dst->stop);
			for (size_t k = 0; k < o->n_stop; k++)
				dst->stop[k] = xstrdup(o->stop[k]);
			dst->n_stop = o->n_stop;
			break;
		case OPT_COUNT: break;
		}
		dst->present |= MSG_OPT_BIT(i);
	}
}

/* The sampler parameters of the options given. */
static void options_to_sampler(const struct msg_options *o, struct sampler_params *sp)
{
	unsigned p = o->present;
	if (p & MSG_OPT_BIT(OPT_TEMP)) sp->temp = (float)o->temp;
	if (p & MSG_OPT_BIT(OPT_TOP_K)) sp->top_k = (int)o->top_k;
	if (p & MSG_OPT_BIT(OPT_TOP_P)) sp->top_p = (float)o->top_p;
	if (p & MSG_OPT_BIT(OPT_MIN_P)) sp->min_p = (float)o->min_p;
	if (p & MSG_OPT_BIT(OPT_REPEAT_PENALTY)) sp->repeat_penalty = (float)o->repeat_penalty;
	if (p & MSG_OPT_BIT(OPT_REPEAT_LAST_N)) sp->repeat_last_n = (int)o->repeat_last_n;
	if (p & MSG_OPT_BIT(OPT_SEED)) sp->seed = o->seed;
}

static enum msg_reason done_reason(enum session_reason r)
{
	switch (r) {
	case SESSION_EOS: return DONE_EOS;
	case SESSION_LENGTH: return DONE_LENGTH;
	case SESSION_STOP: return DONE_STOP;
	case SESSION_CANCEL: return DONE_CANCEL;
	case SESSION_CTX_FULL: return DONE_CTX_FULL;
	case SESSION_ERROR: break;
	}
	return DONE_ERROR;
}

static void send_done(struct serve *sv, int64_t id, enum session_reason r)
{
	const struct session_stats *st = &sv->last;
	struct msg m = {.type = MSG_DONE};
	struct msg_done *d = &m.done;
	d->id = id;
	d->reason = done_reason(r);
	d->n_prompt = st->n_evaluated;
	d->n_cached = st->n_reused;
	d->n_gen = st->n_generated;
	d->prompt_tok_s = st->t_prompt > 0 ? st->n_evaluated / st->t_prompt : 0;
	d->gen_tok_s = st->t_gen > 0 ? st->n_generated / st->t_gen : 0;
	d->has_ms = true;
	d->prompt_ms = st->t_prompt * 1000;
	d->gen_ms = st->t_gen * 1000;
	d->has_pos = true;
	d->n_pos = session_n_pos(sv->s);
	d->n_ctx = session_n_ctx(sv->s);
	if (r == SESSION_ERROR || r == SESSION_CTX_FULL)
		d->message = (char *)session_error(sv->s);
	else if (*session_notice(sv->s))
		d->message = (char *)session_notice(sv->s);
	send_msg(sv, &m, false);
}

/* Generate the reply to the conversation as the session holds it, with
 * the "set" options and then the request's; stream it; end with done.
 * Returns the session's reason. */
static enum session_reason generate(struct serve *sv, int64_t id, const struct msg_options *req)
{
	struct msg_options o = {.n_predict = -1};
	options_merge(&o, &sv->base);
	options_merge(&o, req);
	struct sampler_params sp = sv->sp;
	options_to_sampler(&o, &sp);
	sampler_set_params(session_sampler(sv->s), &sp);
	const char **stops = xcalloc(o.n_stop + 1, sizeof *stops);
	for (size_t i = 0; i < o.n_stop; i++)
		stops[i] = o.stop[i];
	struct session_gen_opts go = {
		/* the session always samples at least one token */
		.max_tokens = o.n_predict == 0 ? 1 : (int)o.n_predict,
		.stops = stops,
		.on_token = on_token,
		.on_prefill = on_prefill,
		.ud = sv,
	};
	double io0 = io_wait_s(sv);
	sv->gen = (struct gen){.on = true, .id = id, .t0 = now_sec(), .io0 = io0, .io_last = io0};
	sv->gen.last_stats = sv->gen.t0;
	enum session_reason r = session_generate(sv->s, &go);
	sv->gen.on = false;
	sv->last = *session_stats(sv->s);
	sv->last_io_wait_s = io_wait_s(sv) - io0;
	sv->have_last = true;
	free(stops);
	msg_options_free(&o);
	/* the final numbers, before done; always when turns were dropped */
	if (sv->stats_every > 0 || sv->last.n_dropped_turns > 0)
		send_stats(sv, false);
	if (r == SESSION_ERROR)
		send_error(sv, session_error_in_forward(sv->s) ? MSG_E_IO : MSG_E_INTERNAL, true, id, "%s",
			   session_error(sv->s));
	send_done(sv, id, r);
	return r;
}

/* ---- requests ---------------------------------------------------------------------------- */

static bool need_model(struct serve *sv, const char *what, bool has_id, int64_t id)
{
	if (sv->m)
		return true;
	send_error(sv, MSG_E_NO_MODEL, has_id, id, "%s: no model is loaded (send a load request)", what);
	return false;
}

static bool role_ok(const char *role)
{
	return !strcmp(role, "system") || !strcmp(role, "user") || !strcmp(role, "assistant");
}

/* "messages": keep the session's turns that match the front end's, replace
 * the rest. False (error sent) for a role the session does not know. */
static bool sync_turns(struct serve *sv, const struct msg_chat *c)
{
	for (size_t i = 0; i < c->n_messages; i++)
		if (!role_ok(c->messages[i].role)) {
			send_error(sv, MSG_E_BAD_MESSAGE, true, c->id,
				   "chat: messages[%zu]: role \"%.40s\" is not system, user or assistant", i,
				   c->messages[i].role);
			return false;
		}
	size_t k = 0, n = session_n_turns(sv->s);
	while (k < n && k < c->n_messages) {
		const struct session_turn *t = session_turn(sv->s, k);
		if (strcmp(t->role, c->messages[k].role) || strcmp(t->text, c->messages[k].content))
			break;
		k++;
	}
	session_truncate(sv->s, k);
	for (size_t i = k; i < c->n_messages; i++)
		session_add_turn(sv->s, c->messages[i].role, c->messages[i].content);
	return true;
}

static void do_chat(struct serve *sv, const struct msg_chat *c)
{
	if (!need_model(sv, "chat", true, c->id))
		return;
	if (sv->family == TMPL_UNKNOWN) {
		send_error(sv, MSG_E_UNSUPPORTED, true, c->id,
			   "chat: %s; use complete, or load the model with a chat_template", sv->tmpl_err);
		return;
	}
	size_t before = session_n_turns(sv->s);
	if (c->text)
		session_add_turn(sv->s, "user", c->text);
	else if (!sync_turns(sv, c))
		return;
	enum session_reason r = generate(sv, c->id, &c->options);
	/* A prompt refused before any token: "text" leaves no trace. */
	if (c->text && sv->last.n_generated == 0 && (r == SESSION_ERROR || r == SESSION_CTX_FULL))
		session_truncate(sv->s, before);
}

/* Copies of the turns, to put back after a raw completion. */
struct turns {
	char **role, **text;
	bool *dropped;
	size_t n;
};

static struct turns turns_save(const struct session *s)
{
	struct turns t = {.n = session_n_turns(s)};
	t.role = xcalloc(t.n + 1, sizeof *t.role);
	t.text = xcalloc(t.n + 1, sizeof *t.text);
	t.dropped = xcalloc(t.n + 1, sizeof *t.dropped);
	for (size_t i = 0; i < t.n; i++) {
		t.role[i] = xstrdup(session_turn(s, i)->role);
		t.text[i] = xstrdup(session_turn(s, i)->text);
		t.dropped[i] = session_turn(s, i)->dropped;
	}
	return t;
}

static void turns_free(struct turns *t)
{
	for (size_t i = 0; i < t->n; i++) {
		free(t->role[i]);
		free(t->text[i]);
	}
	free(t->role);
	free(t->text);
	free(t->dropped);
	*t = (struct turns){0};
}

/* Make t the session's turns, and free t. */
static void turns_restore(struct session *s, struct turns *t)
{
	session_truncate(s, 0);
	for (size_t i = 0; i < t->n; i++) {
		session_add_turn(s, t->role[i], t->text[i]);
		session_set_dropped(s, i, t->dropped[i]);
	}
	turns_free(t);
}

static void do_complete(struct serve *sv, const struct msg_complete *c)
{
	if (!need_model(sv, "complete", true, c->id))
		return;
	struct turns saved = turns_save(sv->s);
	enum tmpl_family f = session_family(sv->s);
	session_set_family(sv->s, TMPL_UNKNOWN);
	session_truncate(sv->s, 0);
	session_add_turn(sv->s, "user", c->prompt);
	generate(sv, c->id, &c->options);
	session_set_family(sv->s, f);
	turns_restore(sv->s, &saved);
}

static void unload(struct serve *sv)
{
	session_free(sv->s);
	tokenizer_free(sv->tok);
	model_free(sv->m);
	sv->s = NULL;
	sv->tok = NULL;
	sv->m = NULL;
	sv->have_last = false;
}

static void model_opts_from(struct model_opts *mo, const struct msg_load *l)
{
	static const enum weights_io ios[LOAD_IO_COUNT] = {
		[LOAD_IO_AUTO] = WIO_AUTO, [LOAD_IO_RAM] = WIO_RAM,
		[LOAD_IO_STREAM] = WIO_STREAM, [LOAD_IO_MMAP] = WIO_MMAP,
	};
	static const enum cache_policy pols[LOAD_POLICY_COUNT] = {
		[LOAD_POLICY_LAYER_LRU] = CACHE_LAYER_LRU, [LOAD_POLICY_LRU] = CACHE_LRU,
		[LOAD_POLICY_LFU] = CACHE_LFU,
	};
	if (l->mem)
		mo->mem = l->mem;
	if (l->ctx)
		mo->n_ctx = (int)l->ctx;
	if (l->threads)
		mo->threads = (int)l->threads;
	if (l->io > LOAD_IO_DEFAULT && l->io < LOAD_IO_COUNT)
		mo->io = ios[l->io];
	if (l->cache_policy > LOAD_POLICY_DEFAULT && l->cache_policy < LOAD_POLICY_COUNT)
		mo->policy = pols[l->cache_policy];
	if (l->no_prefetch)
		mo->no_prefetch = true;
}

static int64_t count_params(const struct gguf *g)
{
	uint64_t n = 0;
	for (size_t i = 0; i < g->n_tensors; i++)
		n += g->tensors[i].nelem;
	return (int64_t)MIN(n, (uint64_t)INT64_MAX);
}

static void send_loaded(struct serve *sv)
{
	const struct model *m = sv->m;
	struct weights_stats ws;
	weights_get_stats(m->w, &ws);
	struct msg e = {.type = MSG_LOADED};
	struct msg_loaded *l = &e.loaded;
	l->model = m->path;
	l->arch = (char *)m->arch_name;
	l->n_params = count_params(m->g);
	l->n_ctx = session_n_ctx(sv->s);
	l->n_layer = m->hp.n_layer;
	l->n_expert = m->hp.n_expert;
	l->n_expert_used = m->hp.n_expert_used;
	l->n_vocab = m->hp.n_vocab;
	l->mode = (char *)ws.mode;
	l->cache_policy = ws.policy && *ws.policy ? (char *)ws.policy : NULL;
	l->chat_template = sv->family != TMPL_UNKNOWN ? (char *)template_name(sv->family) : NULL;
	uint64_t file_bytes = 0;
	for (size_t i = 0; i < m->g->n_tensors; i++)
		file_bytes += m->g->tensors[i].nbytes;
	struct msg_numbers *p = &l->plan;
	msg_numbers_add(p, "budget", (double)ws.mem_budget);
	msg_numbers_add(p, "resident", (double)ws.resident_bytes);
	msg_numbers_add(p, "cache", (double)ws.cache_bytes);
	msg_numbers_add(p, "cache_slots", ws.n_slots);
	msg_numbers_add(p, "cache_slot_bytes", (double)ws.slot_bytes);
	msg_numbers_add(p, "experts_total", ws.n_experts_total);
	msg_numbers_add(p, "model_bytes", (double)file_bytes);
	send_msg(sv, &e, false);
	msg_numbers_free(p);
}

/* Load path, replacing the model. A file that is not a readable GGUF is
 * refused before the current model is let go; the conversation's turns
 * carry over to the new model. */
static void do_load(struct serve *sv, const char *path, const struct msg_load *req)
{
	struct model_opts mo = sv->mopts;
	const char *tmpl = sv->tmpl_override;
	if (req) {
		model_opts_from(&mo, req);
		if (req->chat_template) {
			if (template_by_name(req->chat_template) == TMPL_UNKNOWN) {
				send_error(sv, MSG_E_BAD_MESSAGE, false, 0,
					   "load: field \"chat_template\": unknown template \"%.60s\" (known: %s)",
					   req->chat_template, template_names());
				return;
			}
			free(sv->tmpl_name);
			tmpl = sv->tmpl_name = xstrdup(req->chat_template);
		}
	}
	struct gguf_error ge;
	struct gguf *g = gguf_open(path, &ge);
	if (!g) {
		send_error(sv, MSG_E_LOAD, false, 0, "%s: %s", ge.path, ge.msg);
		return;
	}
	gguf_close(g);

	struct turns saved = {0};
	if (sv->s)
		saved = turns_save(sv->s);
	unload(sv);
	send_progress(sv, "load", 0, 0);
	char err[PATH_MAX + 2048], why[2048];
	mo.quiet = true;
	sv->m = model_load_opts(path, &mo, err, sizeof err);
	if (sv->m && !(sv->tok = tokenizer_load(sv->m->g, why, sizeof why)))
		snprintf(err, sizeof err, "%s: %s", path, why);
	struct session_config cfg = {.sp = sv->sp, .n_ctx = mo.n_ctx, .threads = mo.threads, .n_keep = sv->n_keep};
	if (sv->tok) {
		sv->family = template_from_gguf(sv->m->g, tmpl, &cfg.tmpl, sv->tmpl_err, sizeof sv->tmpl_err);
		cfg.family = sv->family;
		sv->s = session_new(sv->m, sv->tok, &cfg, err, sizeof err);
	}
	if (!sv->s) {
		unload(sv);
		turns_free(&saved);
		send_error(sv, MSG_E_LOAD, false, 0, "%s", err);
		return;
	}
	if (sv->family == TMPL_UNKNOWN)
		warnx_("serve: %s: %s (chat is refused; complete works)", path, sv->tmpl_err);
	turns_restore(sv->s, &saved);
	send_loaded(sv);
}

static void do_truncate(struct serve *sv, int64_t turn)
{
	if (!need_model(sv, "truncate", false, 0))
		return;
	size_t n = session_n_turns(sv->s);
	if ((uint64_t)turn > n) {
		send_error(sv, MSG_E_NOT_FOUND, false, 0, "truncate: turn %lld: the conversation has %zu turns",
			   (long long)turn, n);
		return;
	}
	session_truncate(sv->s, (size_t)turn);
}

/* ---- save and restore: the turns as JSON, the KV cache in FILE.kv ------------------ */

#define SESSION_FORMAT "heft-session"

/* The KV state lives next to the session file. Each of the two is
 * replaced atomically, the pair is not: a state that does not go with the
 * turns only costs evaluation (its tokens are matched against the restored
 * conversation's), never wrong logits. */
static char *kv_path(const char *path)
{
	char *p;
	xasprintf(&p, "%s.kv", path);
	return p;
}

static void save_kv(struct serve *sv, const char *path)
{
	char *kp = kv_path(path), err[600];
	int n;
	const int32_t *tok = session_kv_tokens(sv->s, &n);
	/* the state holds the conversation's tokens: private, as FILE is */
	mode_t mask = umask(077);
	int rc = kvstate_save(kp, sv->m, session_forward(sv->s), tok, n, err, sizeof err);
	umask(mask);
	struct stat st;
	if (rc < 0) {
		/* an older state would belong to other turns; what is not a
		 * file of ours (a device, a FIFO) stays */
		if (lstat(kp, &st) == 0 && S_ISREG(st.st_mode))
			unlink(kp);
		send_error(sv, MSG_E_IO, false, 0, "save: %s (the turns were saved; a restore evaluates them again)",
			   err);
	}
	free(kp);
}

/* Restore what the saved KV state shares with the conversation the turns
 * render to now. A missing file (a session saved without one) is quietly
 * nothing; an unusable one is reported and ignored. */
static void restore_kv(struct serve *sv, const char *path)
{
	char *kp = kv_path(path), err[600];
	int32_t *tok = NULL;
	size_t n = 0;
	int reused = 0;
	/* unrenderable turns: the next reply reports why */
	if (session_prompt_tokens(sv->s, &tok, &n, err, sizeof err) == 0 && n > 0) {
		enum kvstate_result r =
			kvstate_load(kp, sv->m, session_forward(sv->s), tok, (int)n, &reused, err, sizeof err);
		if (r == KVSTATE_REFUSED)
			send_error(sv, MSG_E_IO, false, 0,
				   "restore: %s; the turns are restored and the next reply evaluates them", err);
		else if (r == KVSTATE_LOADED)
			session_set_kv_tokens(sv->s, tok, reused);
	}
	free(tok);
	free(kp);
}

static void do_save(struct serve *sv, const char *path)
{
	if (!need_model(sv, "save", false, 0))
		return;
	json_t *root = json_object(), *turns = json_array();
	struct buf fixed = {0};
	json_object_set_new(root, "format", json_string(SESSION_FORMAT));
	json_object_set_new(root, "version", json_integer(1));
	json_object_set_new(root, "model", json_string(sv->m->path));
	json_object_set_new(root, "n_pos", json_integer(session_n_pos(sv->s)));
	for (size_t i = 0; i < session_n_turns(sv->s); i++) {
		const struct session_turn *t = session_turn(sv->s, i);
		json_t *o = json_object();
		json_object_set_new(o, "role", json_string(t->role));
		/* a reply may hold bytes that are not UTF-8; jansson refuses those,
		 * so each such byte becomes U+FFFD and the rest is kept */
		buf_clear(&fixed);
		utf8_repair(&fixed, t->text, strlen(t->text));
		json_object_set_new(o, "content", json_stringn(fixed.p, fixed.len));
		if (t->dropped) /* out of the context when the KV state was saved */
			json_object_set_new(o, "dropped", json_true());
		json_array_append_new(turns, o);
	}
	json_object_set_new(root, "turns", turns);
	buf_free(&fixed);
	char *text = json_dumps(root, JSON_INDENT(1) | JSON_REAL_PRECISION(15));
	json_decref(root);
	struct buf out = {0};
	if (text) {
		buf_puts(&out, text);
		buf_putc(&out, '\n');
	}
	errno = ENOMEM;
	if (!text || fio_write_file(path, out.p, out.len) < 0)
		send_error(sv, MSG_E_IO, false, 0, "save: %s: %s", path, fio_strerror(errno));
	else
		save_kv(sv, path);
	buf_free(&out);
	free(text);
}

/* The turns of a session file, checked; NULL with a reason in why. */
static json_t *read_session_file(const char *path, char *why, size_t whylen)
{
	size_t len;
	char *text = read_file(path, &len, SESSION_FILE_MAX);
	if (!text) {
		snprintf(why, whylen, "%s", fio_strerror(errno));
		return NULL;
	}
	json_error_t je;
	json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
	free(text);
	if (!root) {
		snprintf(why, whylen, "not JSON: %s (line %d)", je.text, je.line);
		return NULL;
	}
	json_t *turns = json_object_get(root, "turns");
	const char *fmt = json_string_value(json_object_get(root, "format"));
	if (!fmt || strcmp(fmt, SESSION_FORMAT) || json_integer_value(json_object_get(root, "version")) != 1 ||
	    !json_is_array(turns)) {
		snprintf(why, whylen, "not a version 1 %s file", SESSION_FORMAT);
		json_decref(root);
		return NULL;
	}
	size_t i;
	json_t *t;
	json_array_foreach(turns, i, t)
	{
		const char *role = json_string_value(json_object_get(t, "role"));
		json_t *dropped = json_object_get(t, "dropped");
		if (!role || !role_ok(role) || !json_is_string(json_object_get(t, "content")) ||
		    (dropped && !json_is_boolean(dropped))) {
			snprintf(why, whylen,
				 "turn %zu: needs a role (system, user, assistant), a content string and if "
				 "\"dropped\" a boolean",
				 i);
			json_decref(root);
			return NULL;
		}
	}
	json_incref(turns);
	json_decref(root);
	return turns;
}

static void do_restore(struct serve *sv, const char *path)
{
	if (!need_model(sv, "restore", false, 0))
		return;
	char why[256];
	json_t *turns = read_session_file(path, why, sizeof why);
	if (!turns) {
		send_error(sv, MSG_E_IO, false, 0, "restore: %s: %s", path, why);
		return;
	}
	session_truncate(sv->s, 0);
	size_t i;
	json_t *t;
	json_array_foreach(turns, i, t)
	{
		session_add_turn(sv->s, json_string_value(json_object_get(t, "role")),
				 json_string_value(json_object_get(t, "content")));
		session_set_dropped(sv->s, i, json_is_true(json_object_get(t, "dropped")));
	}
	json_decref(turns);
	restore_kv(sv, path);
}

/* ---- dispatch ---------------------------------------------------------------------------- */

/* The id a request carries, for errors about it. */
static bool request_id(const struct msg *m, int64_t *id)
{
	if (m->type == MSG_CHAT)
		*id = m->chat.id;
	else if (m->type == MSG_COMPLETE)
		*id = m->complete.id;
	else
		return false;
	return true;
}

/* Requests that wait for the model to be idle. */
static void handle_idle(struct serve *sv, const struct msg *m)
{
	switch (m->type) {
	case MSG_LOAD: do_load(sv, m->load.model, &m->load); break;
	case MSG_CHAT: do_chat(sv, &m->chat); break;
	case MSG_COMPLETE: do_complete(sv, &m->complete); break;
	case MSG_TRUNCATE: do_truncate(sv, m->truncate.turn); break;
	case MSG_SET: options_merge(&sv->base, &m->set.options); break;
	case MSG_SAVE: do_save(sv, m->save.path); break;
	case MSG_RESTORE: do_restore(sv, m->restore.path); break;
	default:
		send_error(sv, MSG_E_INTERNAL, false, 0, "%s: not handled", msg_type_name(m->type));
		break;
	}
}

static void handle(struct serve *sv, const struct msg *m)
{
	struct msg_err err;
	int64_t id = 0;
	switch (m->type) {
	case MSG_HELLO:
		if (!msg_hello_check(&m->hello, &err)) {
			send_error(sv, err.code, false, 0, "%s", err.text);
			sv->quit = true;
			sv->exit_code = 1;
			if (sv->gen.on)
				session_cancel(sv->s);
		}
		break;
	case MSG_CANCEL:
		if (sv->gen.on && (!m->cancel.has_id || m->cancel.id == sv->gen.id))
			session_cancel(sv->s);
		break;
	case MSG_STATS_REQUEST:
		send_stats(sv, false);
		break;
	case MSG_QUIT:
		sv->quit = true;
		if (sv->gen.on)
			session_cancel(sv->s);
		break;
	default:
		if (sv->gen.on) {
			bool has_id = request_id(m, &id);
			send_error(sv, MSG_E_BUSY, has_id, id,
				   "%s: request %lld is still generating; cancel it or wait for its done",
				   msg_type_name(m->type), (long long)sv->gen.id);
			break;
		}
		handle_idle(sv, m);
		break;
	}
}

static void handle_line(struct serve *sv, const char *line, size_t len)
{
	struct msg m;
	struct msg_err err;
	if (!msg_decode(&m, line, len, MSG_REQUEST, &err)) {
		struct msg e;
		msg_error_event(&e, &err);
		send_msg(sv, &e, false);
		msg_free(&e);
		return;
	}
	handle(sv, &m);
	msg_free(&m);
}

/* ---- running ------------------------------------------------------------------------ */

int serve_run(const struct serve_opts *o, const char *model)
{
	struct serve sv = {.mopts = o->mo, .sp = o->sp, .base = o->base, .tmpl_override = o->tmpl_override,
			   .stats_every = o->stats_every, .n_keep = o->n_keep};
	/* A front end that goes away must end us through EPIPE, cleanly. */
	signal(SIGPIPE, SIG_IGN);
	lr_init(&sv.lr, PROTO_LINE_MAX);
	sv.out = outq_new();
	send_hello(&sv);
	if (model)
		do_load(&sv, model, NULL);
	/* pump takes every line the input held before it reports the end */
	while (!sv.quit && !sv.in_eof && !atomic_load(&sv.out->dead))
		pump(&sv, -1);
	outq_close(sv.out);
	unload(&sv);
	free(sv.tmpl_name);
	msg_options_free(&sv.base);
	lr_free(&sv.lr);
	buf_free(&sv.enc);
	buf_free(&sv.piece);
	return sv.exit_code;
}
