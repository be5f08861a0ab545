/* service.c - the engine behind every transport (service.h): one model,
 * its session, the requests of heft-protocol(5) and the job queue.
 *
 * Requests come from the transport (service_handle) or from the queue
 * (service_run_jobs), always on the model's thread. During a generation
 * the service looks between two tokens (and between two prompt batches)
 * from the session's callbacks, and between two layers of a batch (the
 * transport's requests through on_layer, a job's cancel flag through the
 * session): the transport's look callback may hand in
 * requests then, so cancel and stats take effect while tokens stream, and
 * any other request is answered "busy"; a queued job whose client went
 * away is cancelled there too. Every event goes to the emit callback of
 * whoever asked.
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
#include "service.h"

#include "gguf.h"
#include "kvdisk.h"
#include "kvstate.h"
#include "model.h"
#include "protocol.h"
#include "sampler.h"
#include "session.h"
#include "stats.h"
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
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Largest session file restore reads. */
#define SESSION_FILE_MAX ((size_t)256 << 20)
/* Seconds between refreshes of the numbers service_status shows. */
#define STATUS_EVERY 1.0

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

struct service {
	/* from the command line */
	struct model_opts mopts;
	const char *tmpl_override;
	double stats_every;
	int n_keep; /* session_config.n_keep */
	const char *kv_dir;
	uint64_t kv_size;
	/* the model */
	struct model *m;
	struct tokenizer *tok;
	struct session *s;
	struct kvdisk *kvd;           /* recent conversations' KV states; NULL */
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
	/* the transport, and the job running (NULL: a direct request) */
	service_emit_fn emit;
	service_look_fn look;
	void *ud;
	struct service_job *job;
	bool quit;
	int exit_code;
	struct buf piece;
	/* the queue and what service_status shows, under mu */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct service_job *qhead, *qtail;
	int queued;
	bool loading;
	char model_path[256];
	int n_ctx;
	uint64_t requests, cancelled, prompt_tokens, cached_tokens, gen_tokens;
	struct msg_numbers snap;
	double snap_t;
	bool snap_final; /* the request's final stats event made it */
	long slow_ms; /* sleep per token and prompt batch (tests) */
};


/* ---- sending -------------------------------------------------------------------------- */

static void send_msg(struct service *sv, const struct msg *m, bool droppable)
{
	if (sv->job)
		sv->job->emit(m, droppable, sv->job->ud);
	else
		sv->emit(m, droppable, sv->ud);
}

static void send_error(struct service *sv, enum msg_errcode code, bool has_id, int64_t id, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

static void send_error(struct service *sv, enum msg_errcode code, bool has_id, int64_t id, const char *fmt, ...)
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


static void send_progress(struct service *sv, const char *what, int64_t done, int64_t total)
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

static double io_wait_s(struct service *sv)
{
	struct weights_stats ws;
	weights_get_stats(sv->m->w, &ws);
	return ws.io_wait_s;
}

static void put_number(void *ud, const char *name, double v)
{
	msg_numbers_add(ud, name, v);
}

/* The weight store's counters (stats.h names them) and its per-layer
 * arrays. */
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
	stats_weights(ws, put_number, n);
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
static void add_os_stats(struct service *sv, struct msg_numbers *n, const struct weights_stats *ws)
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
static void add_gen_stats(struct service *sv, struct msg_numbers *n, const struct weights_stats *ws)
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

static void build_stats(struct service *sv, struct msg_numbers *n, bool with_os);

/* Keep n (NULL: the numbers now) for service_status. */
static void snapshot(struct service *sv, const struct msg_numbers *n)
{
	struct msg_numbers mine = {0};
	if (!n)
		build_stats(sv, &mine, true);
	pthread_mutex_lock(&sv->mu);
	msg_numbers_free(&sv->snap);
	msg_numbers_append(&sv->snap, n ? n : &mine);
	pthread_mutex_unlock(&sv->mu);
	msg_numbers_free(&mine);
	sv->snap_t = now_sec();
}

/* The numbers of a stats event (with_os: the process's too, which moves
 * the mark its rates are measured from). */
static void build_stats(struct service *sv, struct msg_numbers *n, bool with_os)
{
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
	if (with_os)
		add_os_stats(sv, n, sv->m ? &ws : NULL);
}

static void send_stats(struct service *sv, bool periodic)
{
	struct msg m = {.type = MSG_STATS};
	struct msg_numbers *n = &m.stats.stats;
	build_stats(sv, n, true);
	snapshot(sv, n);
	send_msg(sv, &m, periodic);
	msg_numbers_free(n);
	sv->gen.last_stats = now_sec();
}

/* Between two tokens or prompt batches: requests, periodic stats, a
 * client gone, and the numbers service_status shows. */
static void look_around(struct service *sv)
{
	if (sv->slow_ms > 0) /* HEFT_SERVE_SLOW_MS: tests of a slow engine */
		nanosleep(&(struct timespec){sv->slow_ms / 1000, (sv->slow_ms % 1000) * 1000000L}, NULL);
	if (sv->look)
		sv->look(sv->ud);
	if (sv->job && atomic_load(&sv->job->cancel))
		session_cancel(sv->s);
	if (sv->stats_every > 0 && now_sec() - sv->gen.last_stats >= sv->stats_every)
		send_stats(sv, true);
	else if (now_sec() - sv->snap_t >= STATUS_EVERY)
		snapshot(sv, NULL);
}

/* ---- generation ------------------------------------------------------------------------- */

/* Between two layers of a batch: the requests that came (the pipe's look:
 * a cancel or a stats request are answered there, anything else is busy).
 * A job's cancel flag the session reads itself (.cancel); not the slowdown
 * or periodic stats of look_around. */
static void on_layer(void *ud)
{
	struct service *sv = ud;
	sv->look(sv->ud);
}

static int on_token(int32_t id, const char *piece, size_t len, double t_s, void *ud)
{
	struct service *sv = ud;
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
	struct service *sv = ud;
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
		case OPT_PRESENCE_PENALTY: dst->presence_penalty = o->presence_penalty; break;
		case OPT_FREQUENCY_PENALTY: dst->frequency_penalty = o->frequency_penalty; break;
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
	if (p & MSG_OPT_BIT(OPT_PRESENCE_PENALTY)) sp->presence_penalty = (float)o->presence_penalty;
	if (p & MSG_OPT_BIT(OPT_FREQUENCY_PENALTY)) sp->frequency_penalty = (float)o->frequency_penalty;
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

static void send_done(struct service *sv, int64_t id, enum session_reason r)
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
static enum session_reason generate(struct service *sv, int64_t id, const struct msg_options *req)
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
		.cancel = sv->job ? &sv->job->cancel : NULL, /* a client gone: between layers too */
		.on_layer = sv->look ? on_layer : NULL, /* the pipe's requests: between layers too */
	};
	double io0 = io_wait_s(sv);
	sv->gen = (struct gen){.on = true, .id = id, .t0 = now_sec(), .io0 = io0, .io_last = io0};
	sv->gen.last_stats = sv->gen.t0;
	enum session_reason r = session_generate(sv->s, &go);
	sv->gen.on = false;
	sv->last = *session_stats(sv->s);
	sv->last_io_wait_s = io_wait_s(sv) - io0;
	sv->have_last = true;
	pthread_mutex_lock(&sv->mu);
	sv->requests++;
	sv->cancelled += r == SESSION_CANCEL;
	sv->prompt_tokens += (uint64_t)sv->last.n_prompt;
	sv->cached_tokens += (uint64_t)sv->last.n_reused;
	sv->gen_tokens += (uint64_t)sv->last.n_generated;
	pthread_mutex_unlock(&sv->mu);
	free(stops);
	msg_options_free(&o);
	/* the final numbers, before done; always when turns were dropped */
	if (sv->stats_every > 0 || sv->last.n_dropped_turns > 0) {
		send_stats(sv, false);
		sv->snap_final = true;
	}
	if (r == SESSION_ERROR)
		send_error(sv, session_error_in_forward(sv->s) ? MSG_E_IO : MSG_E_INTERNAL, true, id, "%s",
			   session_error(sv->s));
	send_done(sv, id, r);
	return r;
}

/* ---- requests ---------------------------------------------------------------------------- */

static bool need_model(struct service *sv, const char *what, bool has_id, int64_t id)
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
static bool sync_turns(struct service *sv, const struct msg_chat *c)
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

/* The prompt's longest prefix kept on disk, when the live KV cache shares
 * less of it (another conversation was served since, or the engine is
 * new). */
static void disk_restore(struct service *sv)
{
	int32_t *tok = NULL;
	size_t n = 0;
	int nk, have = 0;
	char err[512];
	if (!sv->kvd || session_prompt_tokens(sv->s, &tok, &n, err, sizeof err) < 0 || n == 0) {
		free(tok); /* unrenderable: the generation says why */
		return;
	}
	const int32_t *kt = session_kv_tokens(sv->s, &nk);
	while (have < nk && (size_t)have < n && kt[have] == tok[have])
		have++;
	int got = kvdisk_restore(sv->kvd, sv->m, session_forward(sv->s), tok, (int)n, have);
	if (got > 0)
		session_set_kv_tokens(sv->s, tok, got);
	free(tok);
}

static void do_chat(struct service *sv, const struct msg_chat *c)
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
	disk_restore(sv);
	enum session_reason r = generate(sv, c->id, &c->options);
	if (sv->kvd && r != SESSION_ERROR && r != SESSION_CTX_FULL) {
		int n;
		const int32_t *tok = session_kv_tokens(sv->s, &n);
		kvdisk_store(sv->kvd, sv->m, session_forward(sv->s), tok, n);
	}
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

static void do_complete(struct service *sv, const struct msg_complete *c)
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

/* What service_status says of the model: m loaded, or none. */
static void set_loading(struct service *sv, const struct model *m, bool loading)
{
	pthread_mutex_lock(&sv->mu);
	sv->loading = loading;
	snprintf(sv->model_path, sizeof sv->model_path, "%s", m ? m->path : "");
	sv->n_ctx = m ? session_n_ctx(sv->s) : 0;
	pthread_mutex_unlock(&sv->mu);
}

static void unload(struct service *sv)
{
	kvdisk_free(sv->kvd);
	sv->kvd = NULL;
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
#define POLICY(id, name) [LOAD_POLICY_##id] = CACHE_##id,
		CACHE_POLICIES(POLICY)
#undef POLICY
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

static void send_loaded(struct service *sv)
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
static void do_load(struct service *sv, const char *path, const struct msg_load *req)
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
	set_loading(sv, NULL, true);
	send_progress(sv, "load", 0, 0);
	const char *slow = getenv("HEFT_SERVE_SLOW_LOAD_MS"); /* tests of a long load */
	if (slow && atol(slow) > 0)
		nanosleep(&(struct timespec){MIN(atol(slow), 60000L) / 1000, (atol(slow) % 1000) * 1000000L}, NULL);
	char err[PATH_MAX + 2048], why[2048];
	mo.quiet = true;
	sv->m = model_load_opts(path, &mo, err, sizeof err);
	if (sv->m && !(sv->tok = tokenizer_load(sv->m->g, why, sizeof why)))
		snprintf(err, sizeof err, "%s: %s", path, why);
	struct session_config cfg = {.sp = sv->sp, .n_ctx = mo.n_ctx, .threads = mo.threads, .n_keep = sv->n_keep,
				     .max_batch = (int)mo.max_batch};
	if (sv->tok) {
		sv->family = template_from_gguf(sv->m->g, tmpl, &cfg.tmpl, sv->tmpl_err, sizeof sv->tmpl_err);
		cfg.family = sv->family;
		sv->s = session_new(sv->m, sv->tok, &cfg, err, sizeof err);
	}
	if (!sv->s) {
		unload(sv);
		set_loading(sv, NULL, false);
		turns_free(&saved);
		send_error(sv, MSG_E_LOAD, false, 0, "%s", err);
		return;
	}
	if (sv->family == TMPL_UNKNOWN)
		warnx_("serve: %s: %s (chat is refused; complete works)", path, sv->tmpl_err);
	turns_restore(sv->s, &saved);
	if (sv->kv_size > 0 && !(sv->kvd = kvdisk_open(sv->kv_dir, sv->kv_size, sv->m, err, sizeof err)))
		warnx_("serve: kv cache: %s (conversations are not kept on disk)", err);
	set_loading(sv, sv->m, false);
	send_loaded(sv);
}

static void do_truncate(struct service *sv, int64_t turn)
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

static void save_kv(struct service *sv, const char *path)
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
static void restore_kv(struct service *sv, const char *path)
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

static void do_save(struct service *sv, const char *path)
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

static void do_restore(struct service *sv, const char *path)
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
static void handle_idle(struct service *sv, const struct msg *m)
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

static void handle(struct service *sv, const struct msg *m)
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


/* ---- the service ------------------------------------------------------------------------- */

struct service *service_new(const struct serve_opts *o, service_emit_fn emit, service_look_fn look, void *ud)
{
	struct service *sv = xcalloc(1, sizeof *sv);
	sv->mopts = o->mo;
	sv->sp = o->sp;
	sv->base = o->base; /* the stop strings move in */
	sv->tmpl_override = o->tmpl_override;
	sv->stats_every = o->stats_every;
	sv->n_keep = o->n_keep;
	sv->kv_dir = o->kv_cache_dir;
	sv->kv_size = o->kv_cache_size;
	sv->emit = emit;
	sv->look = look;
	sv->ud = ud;
	const char *slow = getenv("HEFT_SERVE_SLOW_MS");
	sv->slow_ms = slow ? MAX(0, MIN(atol(slow), 60000L)) : 0;
	pthread_mutex_init(&sv->mu, NULL);
	pthread_cond_init(&sv->cv, NULL);
	return sv;
}

void service_free(struct service *sv)
{
	if (!sv)
		return;
	unload(sv);
	free(sv->tmpl_name);
	msg_options_free(&sv->base);
	msg_numbers_free(&sv->snap);
	buf_free(&sv->piece);
	pthread_cond_destroy(&sv->cv);
	pthread_mutex_destroy(&sv->mu);
	free(sv);
}

void service_load(struct service *sv, const char *path)
{
	do_load(sv, path, NULL);
}

void service_handle(struct service *sv, const struct msg *req)
{
	handle(sv, req);
}

void service_cancel(struct service *sv)
{
	if (sv->gen.on)
		session_cancel(sv->s);
}

bool service_quitting(const struct service *sv, int *code)
{
	if (code)
		*code = sv->exit_code;
	return sv->quit;
}

void service_quit(struct service *sv)
{
	pthread_mutex_lock(&sv->mu);
	sv->quit = true;
	pthread_cond_broadcast(&sv->cv);
	pthread_mutex_unlock(&sv->mu);
	service_cancel(sv);
}

int service_submit(struct service *sv, struct service_job *j, int qmax)
{
	pthread_mutex_lock(&sv->mu);
	int pos = sv->queued;
	if (pos >= qmax || sv->quit) {
		pthread_mutex_unlock(&sv->mu);
		return -1;
	}
	j->next = NULL;
	j->t_queued = now_sec();
	atomic_store(&j->cancel, false);
	if (sv->qtail)
		sv->qtail->next = j;
	else
		sv->qhead = j;
	sv->qtail = j;
	sv->queued++;
	pthread_cond_signal(&sv->cv);
	pthread_mutex_unlock(&sv->mu);
	return pos;
}

bool service_withdraw(struct service *sv, struct service_job *j)
{
	bool found = false;
	pthread_mutex_lock(&sv->mu);
	for (struct service_job **pp = &sv->qhead, *prev = NULL; *pp; prev = *pp, pp = &(*pp)->next) {
		if (*pp != j)
			continue;
		*pp = j->next;
		if (sv->qtail == j)
			sv->qtail = prev;
		sv->queued--;
		found = true;
		break;
	}
	if (!found) /* running: look_around sees it */
		atomic_store(&j->cancel, true);
	pthread_mutex_unlock(&sv->mu);
	return found;
}

int service_position(struct service *sv, const struct service_job *j)
{
	int pos = 0;
	pthread_mutex_lock(&sv->mu);
	const struct service_job *p = sv->qhead;
	while (p && p != j) {
		p = p->next;
		pos++;
	}
	pthread_mutex_unlock(&sv->mu);
	return p ? pos : -1;
}

/* The next job, waiting for one; NULL when quitting. */
static struct service_job *next_job(struct service *sv)
{
	pthread_mutex_lock(&sv->mu);
	while (!sv->qhead && !sv->quit)
		pthread_cond_wait(&sv->cv, &sv->mu);
	struct service_job *j = sv->quit ? NULL : sv->qhead;
	if (j) {
		sv->qhead = j->next;
		if (!sv->qhead)
			sv->qtail = NULL;
		sv->queued--;
		sv->job = j; /* under mu: service_status reads whether one runs */
	}
	pthread_mutex_unlock(&sv->mu);
	return j;
}

/* Quitting: the jobs still queued end with an error. */
static void drain_jobs(struct service *sv)
{
	for (;;) {
		pthread_mutex_lock(&sv->mu);
		struct service_job *j = sv->qhead;
		if (j) {
			sv->qhead = j->next;
			sv->queued--;
		} else {
			sv->qtail = NULL;
		}
		pthread_mutex_unlock(&sv->mu);
		if (!j)
			return;
		struct msg e;
		msg_error_event_text(&e, MSG_E_INTERNAL, "the engine is shutting down");
		j->emit(&e, false, j->ud);
		msg_free(&e);
		j->emit(NULL, false, j->ud);
	}
}

void service_run_jobs(struct service *sv)
{
	struct service_job *j;
	while ((j = next_job(sv)) != NULL) {
		sv->snap_final = false;
		if (!atomic_load(&j->cancel))
			handle(sv, &j->req);
		pthread_mutex_lock(&sv->mu);
		sv->job = NULL;
		pthread_mutex_unlock(&sv->mu);
		/* Not again after the final stats: its read rate would be
		 * over the moment between the two. */
		if (!sv->snap_final)
			snapshot(sv, NULL);
		j->emit(NULL, false, j->ud); /* last: j may be freed by it */
	}
	drain_jobs(sv);
}

void service_status(struct service *sv, struct service_status *st)
{
	pthread_mutex_lock(&sv->mu);
	st->loading = sv->loading;
	st->loaded = sv->model_path[0] != 0;
	st->busy = sv->job != NULL;
	st->queued = sv->queued;
	snprintf(st->model, sizeof st->model, "%s", sv->model_path);
	st->n_ctx = sv->n_ctx;
	st->requests = sv->requests;
	st->cancelled = sv->cancelled;
	st->prompt_tokens = sv->prompt_tokens;
	st->cached_tokens = sv->cached_tokens;
	st->gen_tokens = sv->gen_tokens;
	st->stats = (struct msg_numbers){0};
	msg_numbers_append(&st->stats, &sv->snap);
	pthread_mutex_unlock(&sv->mu);
}

/* Set with model_path under mu once the load is done; the HTTP transport
 * loads once, so what it reads here stays until service_free. */
const struct model *service_model(struct service *sv, const struct tokenizer **tok)
{
	pthread_mutex_lock(&sv->mu);
	bool loaded = sv->model_path[0] != 0;
	pthread_mutex_unlock(&sv->mu);
	if (tok)
		*tok = loaded ? sv->tok : NULL;
	return loaded ? sv->m : NULL;
}
