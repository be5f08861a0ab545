/* http-jobs.c - jobs that outlive their connection (http-jobs.h): the
 * reply's events kept and numbered, readers that come and go, the
 * progress a slow generation shows its readers, and the finished jobs kept
 * for a while.
 *
 * One lock (js->mu) guards every job: the model's thread takes it once
 * per event, a reader once per write; there are a handful of them. Lock
 * order: js->mu, then the service's. */
#include "http-jobs.h"
#include "sysinfo.h"

#include "util.h"

#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Longest a waiting reader sleeps before it looks at its client again. */
#define WAKE_S 0.1
/* How long a job nobody follows waits for a retry of its request before
 * it is cancelled: the SDKs retry after 0.375 to 0.5 s. */
#define GRACE_S 0.6
/* Finished jobs kept: at most this many, this many bytes of replies, and
 * this long. */
#define KEEP_MAX 32
#define KEEP_BYTES ((size_t)64 << 20)
#define KEEP_S 900.0
/* Seconds between two progress lines of one reader. */
#define PROGRESS_EVERY 1.0

struct event {
	char *p;
	size_t n;
};

/* What a generation has done so far, for its progress lines. */
struct progress {
	unsigned seq;               /* bumped on news */
	bool started;               /* it left the queue */
	double t_start;
	int64_t pre_done, pre_total, pre_done0;
	double t_pre0;
	int64_t n_tok;
	double t_tok0, t_tok;
	double hits0, misses0, read0; /* the weight store's counters at the start */
};

struct hjob {
	struct hjobs *js;
	int refs;
	struct service_job sj;
	struct api_reply rp;
	uint64_t key;
	bool detach, withdrawn;
	struct event *ev;
	size_t n_ev, cap_ev, bytes;
	struct buf tmp;
	bool over;
	int status;
	int readers;
	double t_end;
	struct progress pg;
	struct hjob *next;
};

struct hjobs {
	pthread_mutex_t mu;
	pthread_cond_t cv; /* any job's news */
	struct service *sv;
	int qmax;
	struct hjob *head;
	uint64_t attached;
};

/* ---- the log ------------------------------------------------------------------------- */

static void add_event(struct hjob *j, const char *p, size_t n, bool numbered)
{
	if (j->n_ev == j->cap_ev) {
		j->cap_ev = j->cap_ev ? 2 * j->cap_ev : 64;
		j->ev = xrealloc(j->ev, j->cap_ev * sizeof *j->ev);
	}
	struct buf b = {0};
	if (numbered) /* SSE: Last-Event-ID names it when the client comes back */
		buf_printf(&b, "id: %zu\n", j->n_ev);
	buf_append(&b, p, n);
	j->ev[j->n_ev++] = (struct event){b.p, b.len};
	j->bytes += b.len;
}

/* The bytes api_event wrote, cut into events: SSE events end with a
 * blank line, NDJSON ones with a newline. */
static void split_events(struct hjob *j)
{
	bool sse = !api_is_ollama(j->rp.kind);
	const char *sep = sse ? "\n\n" : "\n";
	size_t seplen = strlen(sep), at = 0;
	char *p = j->tmp.p;
	while (at < j->tmp.len) {
		char *e = strstr(p + at, sep);
		if (!e)
			break;
		size_t end = (size_t)(e - p) + seplen;
		add_event(j, p + at, end - at, sse);
		at = end;
	}
	if (at == j->tmp.len)
		buf_clear(&j->tmp);
	else if (at > 0) {
		memmove(j->tmp.p, j->tmp.p + at, j->tmp.len - at + 1);
		j->tmp.len -= at;
	}
}

static double stat_of(const struct msg_numbers *n, const char *key)
{
	for (size_t i = 0; i < n->n; i++)
		if (!n->v[i].is_array && !strcmp(n->v[i].key, key))
			return n->v[i].v[0];
	return NAN;
}

/* The weight store's counters now (refreshed by the service each second). */
static void store_counters(struct service *sv, double *hits, double *misses, double *read)
{
	struct service_status st;
	service_status(sv, &st);
	*hits = stat_of(&st.stats, "cache_hits");
	*misses = stat_of(&st.stats, "cache_misses");
	*read = stat_of(&st.stats, "read_bytes");
	msg_numbers_free(&st.stats);
}

static void note_progress(struct hjob *j, const struct msg *ev)
{
	struct progress *pg = &j->pg;
	double now = now_sec();
	if (!pg->started) {
		pg->started = true;
		pg->t_start = now;
		store_counters(j->js->sv, &pg->hits0, &pg->misses0, &pg->read0);
	}
	if (ev->type == MSG_PROGRESS && ev->progress.what && !strcmp(ev->progress.what, "prefill")) {
		if (pg->pre_total == 0) {
			pg->pre_done0 = ev->progress.done;
			pg->t_pre0 = now;
		}
		pg->pre_done = ev->progress.done;
		pg->pre_total = ev->progress.total;
	} else if (ev->type == MSG_TOKEN) {
		if (pg->n_tok++ == 0)
			pg->t_tok0 = now;
		pg->t_tok = now;
		if (pg->pre_total)
			pg->pre_done = pg->pre_total;
	}
	pg->seq++;
}

static void prune(struct hjobs *js);
static void unref_locked(struct hjob *j);

static json_t *progress_json(struct hjob *j);

/* The job is over: its last bytes (a stream's carry the progress as it
 * ended). js->mu held. */
static void end_job(struct hjob *j)
{
	if (j->over)
		return;
	j->over = true;
	if (j->rp.stream)
		j->rp.progress = progress_json(j);
	j->status = api_finish(&j->rp, &j->tmp);
	if (j->rp.stream) {
		split_events(j);
		if (j->tmp.len) /* never: api_finish ends its events */
			add_event(j, j->tmp.p, j->tmp.len, false);
	} else {
		add_event(j, j->tmp.p ? j->tmp.p : "", j->tmp.len, false);
	}
	buf_free(&j->tmp);
	j->t_end = now_sec();
	j->pg.seq++;
}

/* Events of the job, on the model's thread. */
static void job_emit(const struct msg *ev, bool droppable, void *ud)
{
	struct hjob *j = ud;
	struct hjobs *js = j->js;
	(void)droppable;
	pthread_mutex_lock(&js->mu);
	if (ev) {
		if (ev->type == MSG_PROGRESS || ev->type == MSG_TOKEN || !j->pg.started)
			note_progress(j, ev);
		api_event(&j->rp, ev, &j->tmp);
		split_events(j);
	} else {
		end_job(j);
		unref_locked(j); /* the service's */
		prune(js);
	}
	pthread_mutex_unlock(&js->mu);
	/* after the unlock: a reader woken while the lock is still held would
	 * only go back to sleep on it, a second switch per token */
	pthread_cond_broadcast(&js->cv);
}

/* ---- the registry ---------------------------------------------------------------------- */

struct hjobs *hjobs_new(struct service *sv, int qmax)
{
	struct hjobs *js = xcalloc(1, sizeof *js);
	pthread_mutex_init(&js->mu, NULL);
	pthread_cond_init(&js->cv, NULL);
	js->sv = sv;
	js->qmax = qmax;
	return js;
}

static void job_free(struct hjob *j)
{
	for (size_t i = 0; i < j->n_ev; i++)
		free(j->ev[i].p);
	free(j->ev);
	buf_free(&j->tmp);
	api_reply_free(&j->rp);
	msg_free(&j->sj.req);
	free(j);
}

static void unref_locked(struct hjob *j)
{
	if (--j->refs == 0)
		job_free(j);
}

/* Take j off the list (js->mu held); its reference goes. */
static void unlist(struct hjobs *js, struct hjob *j)
{
	for (struct hjob **pp = &js->head; *pp; pp = &(*pp)->next)
		if (*pp == j) {
			*pp = j->next;
			unref_locked(j);
			return;
		}
}

/* Finished jobs beyond the bounds go, oldest first. */
static void prune(struct hjobs *js)
{
	for (;;) {
		int kept = 0;
		size_t bytes = 0;
		struct hjob *oldest = NULL;
		double now = now_sec();
		for (struct hjob *j = js->head; j; j = j->next) {
			if (!j->over)
				continue;
			if (now - j->t_end > KEEP_S) {
				oldest = j;
				kept = KEEP_MAX + 1;
				break;
			}
			kept++;
			bytes += j->bytes;
			if (!oldest || j->t_end < oldest->t_end)
				oldest = j;
		}
		if (!oldest || (kept <= KEEP_MAX && bytes <= KEEP_BYTES))
			return;
		unlist(js, oldest);
	}
}

void hjobs_free(struct hjobs *js)
{
	if (!js)
		return;
	pthread_mutex_lock(&js->mu);
	while (js->head)
		unlist(js, js->head);
	pthread_mutex_unlock(&js->mu);
	pthread_cond_destroy(&js->cv);
	pthread_mutex_destroy(&js->mu);
	free(js);
}

enum hjob_start hjobs_start(struct hjobs *js, struct api_reply *rp, struct msg *req, uint64_t key, bool detach,
			    struct hjob **out, int *pos)
{
	pthread_mutex_lock(&js->mu);
	prune(js);
	for (struct hjob *j = js->head; j; j = j->next) {
		/* a retry: the same bytes from the same client, still running */
		if (j->key != key || j->over || j->withdrawn || j->rp.kind != rp->kind)
			continue;
		j->refs++;
		j->detach |= detach;
		js->attached++;
		*out = j;
		*pos = service_position(js->sv, &j->sj);
		pthread_cond_broadcast(&js->cv); /* a grace being waited out ends */
		pthread_mutex_unlock(&js->mu);
		return HJOB_ATTACHED;
	}
	struct hjob *j = xcalloc(1, sizeof *j);
	j->js = js;
	j->rp = *rp;
	j->sj.req = *req;
	j->sj.emit = job_emit;
	j->sj.ud = j;
	j->key = key;
	j->detach = detach;
	*pos = service_submit(js->sv, &j->sj, js->qmax);
	if (*pos < 0) {
		pthread_mutex_unlock(&js->mu);
		free(j);
		return HJOB_FULL;
	}
	*rp = (struct api_reply){0};
	*req = (struct msg){0};
	j->refs = 3; /* the list, the service, the caller */
	j->next = js->head;
	js->head = j;
	*out = j;
	pthread_mutex_unlock(&js->mu);
	return HJOB_NEW;
}

struct hjob *hjobs_get(struct hjobs *js, const char *id)
{
	pthread_mutex_lock(&js->mu);
	prune(js);
	struct hjob *j = js->head;
	while (j && strcmp(j->rp.id, id))
		j = j->next;
	if (j)
		j->refs++;
	pthread_mutex_unlock(&js->mu);
	return j;
}

static const char *job_state(struct hjob *j, int pos)
{
	return j->over ? (j->withdrawn ? "cancelled" : "done") : pos >= 0 ? "queued" : j->pg.n_tok > 0 ? "generating"
											      : "prefill";
}

json_t *hjobs_list(struct hjobs *js)
{
	json_t *a = json_array();
	pthread_mutex_lock(&js->mu);
	prune(js);
	for (struct hjob *j = js->head; j; j = j->next) {
		int pos = j->over ? -1 : service_position(js->sv, &j->sj);
		json_t *o = json_pack("{s:s, s:s, s:s, s:b, s:b, s:I}", "id", j->rp.id, "object", "heft.job", "state",
				      job_state(j, pos), "detached", j->detach, "stream", j->rp.stream, "events",
				      (json_int_t)j->n_ev);
		if (pos >= 0)
			json_object_set_new(o, "queue_position", json_integer(pos));
		if (j->over && !j->rp.stream)
			json_object_set_new(o, "status", json_integer(j->status));
		json_array_append_new(a, o);
	}
	pthread_mutex_unlock(&js->mu);
	return json_pack("{s:s, s:o}", "object", "list", "data", a);
}

void hjobs_counts(struct hjobs *js, int *live, int *kept, uint64_t *attached)
{
	*live = *kept = 0;
	pthread_mutex_lock(&js->mu);
	for (struct hjob *j = js->head; j; j = j->next)
		++*(j->over ? kept : live);
	*attached = js->attached;
	pthread_mutex_unlock(&js->mu);
}

const char *hjob_id(const struct hjob *j)
{
	return j->rp.id;
}

enum api_kind hjob_kind(const struct hjob *j)
{
	return j->rp.kind;
}

bool hjob_streamed(const struct hjob *j)
{
	return j->rp.stream;
}

bool hjob_detached(const struct hjob *j)
{
	return j->detach;
}

/* js->mu held; it is let go while the service is asked. */
static bool cancel_locked(struct hjob *j)
{
	struct hjobs *js = j->js;
	if (j->over || j->withdrawn)
		return !j->over;
	j->withdrawn = true;
	if (service_withdraw(js->sv, &j->sj)) { /* never ran: no event comes */
		end_job(j);
		unref_locked(j); /* the service's */
		pthread_cond_broadcast(&js->cv);
	}
	return true;
}

bool hjob_cancel(struct hjob *j)
{
	struct hjobs *js = j->js;
	pthread_mutex_lock(&js->mu);
	bool r = cancel_locked(j);
	pthread_mutex_unlock(&js->mu);
	return r;
}

void hjob_unref(struct hjob *j)
{
	struct hjobs *js = j->js;
	pthread_mutex_lock(&js->mu);
	unref_locked(j);
	pthread_mutex_unlock(&js->mu);
}

static const char *job_state(struct hjob *j, int pos);

/* ---- readers --------------------------------------------------------------------------- */

void hjob_reader_init(struct hjob_reader *r, struct hjob *j, int fd, size_t from, double ping)
{
	*r = (struct hjob_reader){.j = j, .fd = fd, .next = from, .ping = ping};
	r->last_write = r->last_progress = now_sec();
	pthread_mutex_lock(&j->js->mu);
	j->readers++;
	r->progress_seen = j->pg.seq;
	pthread_mutex_unlock(&j->js->mu);
}

/* At most once a WAKE_S: a reader wakes for every token, and the look is a
 * system call made under js->mu. */
static bool client_gone(struct hjob_reader *r)
{
	double now = now_sec();
	if (now - r->last_look < WAKE_S)
		return false;
	r->last_look = now;
	return sysinfo_peer_gone(r->fd);
}

/* Wait (js->mu held) for news, WAKE_S, or s seconds if fewer (so a ping
 * is not late by up to WAKE_S). */
static void wait_news(struct hjobs *js, double s)
{
	struct timespec t;
	s = MAX(0.01, MIN(s, WAKE_S));
	clock_gettime(CLOCK_REALTIME, &t);
	long ns = t.tv_nsec + (long)(s * 1e9);
	t.tv_sec += ns / 1000000000L;
	t.tv_nsec = ns % 1000000000L;
	pthread_cond_timedwait(&js->cv, &js->mu, &t);
}

/* The job's progress as one object (js->mu held). */
static json_t *progress_json(struct hjob *j)
{
	const struct progress *pg = &j->pg;
	double now = now_sec();
	int pos = j->over ? -1 : service_position(j->js->sv, &j->sj);
	const char *state = job_state(j, pos);
	json_t *o = json_pack("{s:s, s:s, s:s, s:f}", "object", "heft.progress", "job", j->rp.id, "state", state,
			      "elapsed_s", now - j->sj.t_queued);
	if (pos >= 0)
		json_object_set_new(o, "queue_position", json_integer(pos));
	if (pg->pre_total > 0) {
		json_t *p = json_pack("{s:I, s:I}", "done", (json_int_t)pg->pre_done, "total", (json_int_t)pg->pre_total);
		double dt = now - pg->t_pre0, rate = dt > 0 ? (double)(pg->pre_done - pg->pre_done0) / dt : 0;
		if (pg->pre_done >= pg->pre_total)
			json_object_set_new(p, "eta_s", json_real(0));
		else if (rate > 0)
			json_object_set_new(p, "eta_s", json_real((double)(pg->pre_total - pg->pre_done) / rate));
		json_object_set_new(o, "prefill", p);
	}
	if (pg->started) {
		json_object_set_new(o, "tokens", json_integer(pg->n_tok));
		if (pg->n_tok > 1 && pg->t_tok > pg->t_tok0)
			json_object_set_new(o, "tokens_per_min",
					    json_real((double)(pg->n_tok - 1) / (pg->t_tok - pg->t_tok0) * 60));
		double hits, misses, read;
		store_counters(j->js->sv, &hits, &misses, &read);
		double h = hits - pg->hits0, m = misses - pg->misses0;
		if (isfinite(h) && isfinite(m) && h + m > 0)
			json_object_set_new(o, "cache_hit_rate", json_real(h / (h + m)));
		double dt = now - pg->t_start;
		if (isfinite(read - pg->read0) && dt > 0)
			json_object_set_new(o, "disk_mb_s", json_real((read - pg->read0) / dt / 1e6));
	}
	/* the server's numbers as its stats event has them, for a client's panes */
	struct service_status st;
	service_status(j->js->sv, &st);
	json_t *stats = api_progress_stats(&st.stats);
	if (stats)
		json_object_set_new(o, "stats", stats);
	msg_numbers_free(&st.stats);
	return o;
}

/* Something of this reader's own to write: progress when there is news
 * (at most once a PROGRESS_EVERY), or a ping after ping seconds of
 * silence, which carries the progress too. js->mu held. */
static bool own_lines(struct hjob_reader *r)
{
	struct hjob *j = r->j;
	double now = now_sec();
	bool news = r->progress_seen != j->pg.seq && now - r->last_progress >= PROGRESS_EVERY;
	bool silent = r->ping > 0 && now - r->last_write >= r->ping;
	if (!news && !silent)
		return false;
	r->progress_seen = j->pg.seq;
	r->last_progress = now;
	json_t *p = progress_json(j);
	api_progress(&j->rp, p, &r->own);
	json_decref(p);
	return true;
}

ssize_t hjob_read(struct hjob_reader *r, char *dst, size_t max)
{
	struct hjob *j = r->j;
	struct hjobs *js = j->js;
	ssize_t n = 0;
	pthread_mutex_lock(&js->mu);
	for (;;) {
		if (r->own_off < r->own.len) {
			size_t k = MIN(max, r->own.len - r->own_off);
			memcpy(dst, r->own.p + r->own_off, k);
			r->own_off += k;
			if (r->own_off == r->own.len) {
				buf_clear(&r->own);
				r->own_off = 0;
			}
			n = (ssize_t)k;
			break;
		}
		if (r->next < j->n_ev) {
			/* every event that fits: a reader that fell behind catches up
			 * in one write, not one per token */
			size_t k = 0;
			while (r->next < j->n_ev && k < max) {
				const struct event *e = &j->ev[r->next];
				size_t c = MIN(max - k, e->n - r->off);
				memcpy(dst + k, e->p + r->off, c);
				k += c;
				r->off += c;
				if (r->off < e->n)
					break;
				r->next++;
				r->off = 0;
			}
			n = (ssize_t)k;
			break;
		}
		if (j->over)
			break;
		if (client_gone(r)) {
			n = -1;
			break;
		}
		if (!own_lines(r))
			wait_news(js, r->ping > 0 ? r->ping - (now_sec() - r->last_write) : WAKE_S);
	}
	if (n > 0)
		r->last_write = now_sec();
	pthread_mutex_unlock(&js->mu);
	return n;
}

int hjob_whole(struct hjob_reader *r, const char **body, size_t *len)
{
	struct hjob *j = r->j;
	struct hjobs *js = j->js;
	pthread_mutex_lock(&js->mu);
	while (!j->over) {
		if (client_gone(r)) {
			pthread_mutex_unlock(&js->mu);
			return -1;
		}
		wait_news(js, WAKE_S);
	}
	/* the one event of a reply not streamed; it stays while r holds j */
	*body = j->n_ev ? j->ev[0].p : "";
	*len = j->n_ev ? j->ev[0].n : 0;
	int status = j->status;
	pthread_mutex_unlock(&js->mu);
	return status;
}

void hjob_reader_done(struct hjob_reader *r)
{
	struct hjob *j = r->j;
	if (!j)
		return;
	struct hjobs *js = j->js;
	pthread_mutex_lock(&js->mu);
	if (--j->readers == 0 && !j->detach && !j->over) {
		/* a retry of the request may come for it: wait a little */
		double until = now_sec() + GRACE_S;
		while (j->readers == 0 && !j->over && !j->detach && now_sec() < until) {
			struct timespec t;
			clock_gettime(CLOCK_REALTIME, &t);
			long ns = t.tv_nsec + 50000000L;
			t.tv_sec += ns / 1000000000L;
			t.tv_nsec = ns % 1000000000L;
			pthread_cond_timedwait(&js->cv, &js->mu, &t);
		}
		if (j->readers == 0 && !j->detach)
			cancel_locked(j);
	}
	unref_locked(j);
	pthread_mutex_unlock(&js->mu);
	buf_free(&r->own);
	r->j = NULL;
}
