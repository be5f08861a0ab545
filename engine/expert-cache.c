/* expert-cache.c - routed experts in stream mode: fixed-size slots filled
 * by reads through iosched, pinned in waves by the forward pass (see
 * weights.h). Which slot gives way is cache-policy.c's choice; this file
 * does the reading, pinning and counting. */
#include "weights-int.h"

#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

int xcache_slot_layer(const struct weights *w, int i)
{
	return w->pol.slot[i].layer;
}

static int slot_index(const struct weights *w, const struct slot *s)
{
	return (int)(s - w->slots);
}

static int *where(struct weights *w, int layer, int expert)
{
	return &w->where[w->exps[layer].first + expert];
}

int xcache_start(struct weights *w, char *err, size_t errlen)
{
	const struct weights_plan *p = &w->plan;
	w->cache_bytes = (uint64_t)p->n_slots * p->slot_bytes;
	if (!(w->cache = weights_anon(w->cache_bytes, "the expert cache", err, errlen)))
		return -1;
	/* Touch the whole arena now: a direct read into pages that are not
	 * there yet faults them in one by one, on the token's critical path,
	 * and the budget is meant to be held from the start anyway. */
	for (uint64_t off = 0; off < w->cache_bytes; off += 4096)
		w->cache[off] = 0;
	w->slots = xcalloc((size_t)p->n_slots, sizeof *w->slots);
	w->n_slots = p->n_slots;
	for (int i = 0; i < w->n_slots; i++) {
		w->slots[i].expert = -1;
		w->slots[i].buf = w->cache + (uint64_t)i * p->slot_bytes;
	}
	w->where = xmalloc((size_t)p->n_experts * sizeof *w->where);
	for (int i = 0; i < p->n_experts; i++)
		w->where[i] = -1;
	bool *moe = xcalloc((size_t)MAX(w->n_layers, 1), sizeof *moe);
	for (int l = 0; l < w->n_layers; l++)
		moe[l] = w->exps[l].n_expert > 0;
	cpol_init(&w->pol, w->policy, w->n_slots, w->n_layers, moe, p->n_experts);
	free(moe);
	return 0;
}

void xcache_stop(struct weights *w)
{
	for (int i = 0; i < w->n_slots; i++)
		for (int p = 0; p < EXP_NPARTS; p++)
			if (iosched_cancel(w->io, &w->slots[i].req[p]) < 0)
				iosched_wait(w->io, &w->slots[i].req[p]);
}

void xcache_free(struct weights *w)
{
	if (w->cache)
		munmap(w->cache, w->cache_bytes);
	free(w->slots);
	free(w->where);
	cpol_free(&w->pol);
}

static void view_at(const struct wexperts *e, const void *const part[EXP_NPARTS], struct expert_view *v)
{
	for (int p = 0; p < EXP_NPARTS; p++)
		v->m[p] = weights_mat_of(e->t[p], part[p], (int64_t)e->t[p]->ne[1]);
}

static bool busy(const void *ctx, int i)
{
	const struct slot *s = &((const struct weights *)ctx)->slots[i];
	return s->pins || s->state == SLOT_LOADING;
}

static int pick_victim(struct weights *w, int layer)
{
	return cpol_victim(&w->pol, layer, busy, w);
}

static void evict(struct weights *w, struct slot *s)
{
	int layer = xcache_slot_layer(w, slot_index(w, s));
	for (int q = 0; s->warm && q < EXP_NPARTS; q++) /* arrived, then replaced: still read */
		if (iosched_state(&s->req[q]) == IO_DONE)
			w->warm_evicted += s->req[q].len;
	s->warm = false;
	if (layer >= 0) {
		if (s->prefetched)
			w->ls[layer].prefetch_wasted++;
		*where(w, layer, s->expert) = -1;
		w->ls[layer].resident--;
	}
	cpol_empty(&w->pol, slot_index(w, s));
	s->expert = -1;
	s->state = SLOT_FREE;
	s->prefetched = false;
}

/* Cancel a slot's queued reads; false when some are in flight. */
static bool cancel_reads(struct weights *w, struct slot *s)
{
	int layer = xcache_slot_layer(w, slot_index(w, s));
	bool ok = true;
	for (int p = 0; p < EXP_NPARTS; p++) {
		enum io_state st = iosched_state(&s->req[p]);
		if (st != IO_QUEUED && st != IO_INFLIGHT)
			continue;
		if (iosched_cancel(w->io, &s->req[p]) == 0) {
			if (layer >= 0) /* never read: not read bytes */
				w->ls[layer].bytes_read -= s->req[p].len;
		} else {
			ok = false;
		}
	}
	return ok;
}

/* A slot no one pins, even one being read ahead: wait for its reads. */
static int reclaim_loading(struct weights *w)
{
	for (int i = 0; i < w->n_slots; i++) {
		struct slot *s = &w->slots[i];
		if (s->pins || s->state != SLOT_LOADING)
			continue;
		if (!cancel_reads(w, s))
			for (int p = 0; p < EXP_NPARTS; p++)
				iosched_wait(w->io, &s->req[p]);
		evict(w, s);
		return i;
	}
	return -1;
}

void xcache_read(struct weights *w, struct slot *s, int layer, int expert, enum io_prio prio, uint32_t freq)
{
	const struct wexperts *e = &w->exps[layer];
	struct io_req *rq[EXP_NPARTS];
	size_t at = 0;
	for (int p = 0; p < EXP_NPARTS; p++) {
		struct io_req *r = &s->req[p];
		const struct gguf_tensor *t = e->t[p];
		r->file = w->file_id[t->part];
		r->off = t->offset + (uint64_t)expert * e->slice[p];
		r->len = e->slice[p];
		r->dst = s->buf + at;
		r->prio = prio;
		r->tag = (uint64_t)layer << 32 | (uint32_t)expert;
		at += iosched_span_max(e->slice[p]);
		rq[p] = r;
		w->ls[layer].bytes_read += e->slice[p];
	}
	cpol_fill(&w->pol, slot_index(w, s), layer, e->first + expert, freq);
	s->expert = expert;
	s->state = SLOT_LOADING;
	s->fresh = true;
	*where(w, layer, expert) = slot_index(w, s);
	w->ls[layer].resident++;
	iosched_submit_batch(w->io, rq, EXP_NPARTS);
}

/* A slot whose read failed in an evaluation that gave up before looking
 * at it: it holds nothing; read it again (the file may be whole again). */
static bool drop_if_failed(struct weights *w, struct slot *s)
{
	if (s->state != SLOT_LOADING)
		return false;
	bool failed = false;
	for (int p = 0; p < EXP_NPARTS; p++) {
		enum io_state st = iosched_state(&s->req[p]);
		failed |= st == IO_ERROR || st == IO_CANCELLED;
	}
	if (!failed)
		return false;
	if (!cancel_reads(w, s))
		for (int p = 0; p < EXP_NPARTS; p++)
			iosched_wait(w->io, &s->req[p]);
	s->pins = 0;
	s->prefetched = false; /* not the prefetcher's fault */
	evict(w, s);
	return true;
}

static void swap(int *a, int *b)
{
	int t = *a;
	*a = *b;
	*b = t;
}

int weights_experts_acquire(struct weights *w, int layer, int *want, int n, const int *rows)
{
	if (!w->io)
		return n; /* everything is resident */
	int k = 0;
	struct expert_layer_stats *ls = &w->ls[layer];

	/* Hits first: pin what is resident or on its way. */
	for (int i = 0; i < n; i++) {
		int si = *where(w, layer, want[i]);
		if (si < 0 || drop_if_failed(w, &w->slots[si]))
			continue;
		struct slot *s = &w->slots[si];
		s->pins++;
		cpol_touch(&w->pol, si, rows ? rows[want[i]] : 1);
		ls->hits++;
		if (s->prefetched) {
			ls->prefetch_hits++;
			s->prefetched = false;
		}
		for (int p = 0; s->state == SLOT_LOADING && p < EXP_NPARTS; p++)
			iosched_promote(w->io, &s->req[p]);
		swap(&want[k], &want[i]);
		k++;
	}
	/* Then misses, in the caller's order, while slots can be had. */
	for (int i = k; i < n; i++) {
		int si = pick_victim(w, layer);
		if (si < 0 && k == 0)
			si = reclaim_loading(w);
		if (si < 0)
			break;
		struct slot *s = &w->slots[si];
		evict(w, s);
		xcache_read(w, s, layer, want[i], IO_DEMAND, 0);
		s->pins = 1;
		cpol_touch(&w->pol, si, rows ? rows[want[i]] : 1);
		ls->misses++;
		swap(&want[k], &want[i]);
		k++;
	}
	for (int i = 0; w->uses && i < k; i++) /* each expert is acquired once per layer visit */
		w->uses[w->exps[layer].first + want[i]]++;
	if (k == 0) {
		snprintf(w->err, sizeof w->err, "layer %d: no expert-cache slot is free (%d slots)", layer, w->n_slots);
		return -1;
	}
	return k;
}

static void fail_slot(struct weights *w, struct slot *s, int layer, int expert)
{
	const struct wexperts *e = &w->exps[layer];
	for (int p = 0; p < EXP_NPARTS; p++) {
		const struct io_req *r = &s->req[p];
		if (iosched_state(r) != IO_ERROR)
			continue;
		char why[300];
		iosched_strerror(w->io, r, why, sizeof why);
		snprintf(w->err, sizeof w->err, "reading expert %d of layer %d (%s): %s", expert, layer, e->t[p]->name,
			 why);
		break;
	}
	/* Let the other reads finish before the slot is reused. */
	if (!cancel_reads(w, s))
		for (int p = 0; p < EXP_NPARTS; p++)
			iosched_wait(w->io, &s->req[p]);
	s->pins = 0;
	evict(w, s);
}

/* Wait (with block) for a loading slot's reads: 1 arrived, 0 not yet, -1
 * failed. */
static int slot_arrived(struct weights *w, struct slot *s, int layer, int expert, bool block)
{
	bool err = false, done = true;
	for (int p = 0; p < EXP_NPARTS; p++) {
		enum io_state st = iosched_state(&s->req[p]);
		if (st != IO_DONE && st != IO_ERROR && block) {
			double t0 = now_sec();
			iosched_wait(w->io, &s->req[p]);
			w->io_wait_s += now_sec() - t0;
			st = iosched_state(&s->req[p]);
		}
		err |= st == IO_ERROR || st == IO_CANCELLED;
		done &= st == IO_DONE;
	}
	if (err) {
		fail_slot(w, s, layer, expert);
		return -1;
	}
	return done;
}

int weights_expert_view(struct weights *w, int layer, int expert, bool block, struct expert_view *v)
{
	const struct wexperts *e = &w->exps[layer];
	const void *part[EXP_NPARTS];
	if (!w->io) {
		for (int p = 0; p < EXP_NPARTS; p++)
			part[p] = w->maps ? weights_file_bytes(w, e->t[p]) + (uint64_t)expert * e->slice[p]
					  : w->arena + e->off[p] + (uint64_t)expert * e->slice[p];
		view_at(e, part, v);
		return 1;
	}
	struct slot *s = &w->slots[*where(w, layer, expert)];
	if (s->state == SLOT_LOADING) {
		int r = slot_arrived(w, s, layer, expert, block);
		if (r <= 0)
			return r;
		s->state = SLOT_READY;
	}
	for (int p = 0; p < EXP_NPARTS; p++)
		part[p] = s->req[p].data;
	view_at(e, part, v);
	return 1;
}

void weights_expert_unpin(struct weights *w, int layer, int expert)
{
	if (!w->io)
		return;
	int si = *where(w, layer, expert);
	if (si >= 0 && w->slots[si].pins > 0)
		w->slots[si].pins--;
}

void weights_experts_unpin_all(struct weights *w, int layer)
{
	for (int i = 0; w->io && i < w->n_slots; i++)
		if (xcache_slot_layer(w, i) == layer)
			w->slots[i].pins = 0;
}

void weights_prefetch(struct weights *w, int layer, const int *experts, int n)
{
	if (!w->io || !w->prefetch || layer < 0 || layer >= w->n_layers || !w->exps[layer].n_expert)
		return;
	/* Reads ahead for other layers that have not started are stale now. */
	for (int i = 0; i < w->n_slots; i++) {
		struct slot *s = &w->slots[i];
		if (s->prefetched && xcache_slot_layer(w, i) != layer && s->state == SLOT_LOADING && !s->pins &&
		    cancel_reads(w, s))
			evict(w, s);
	}
	for (int i = 0; i < n; i++) {
		if (*where(w, layer, experts[i]) >= 0)
			continue;
		int si = pick_victim(w, layer);
		if (si < 0)
			return;
		struct slot *s = &w->slots[si];
		evict(w, s);
		/* inserted cold: the first to go if unused */
		xcache_read(w, s, layer, experts[i], IO_PREFETCH, 0);
		s->prefetched = true;
		w->ls[layer].prefetch_issued++;
	}
}

int weights_expert_map(struct weights *w, int layer, unsigned char *out, int cap)
{
	if (layer < 0 || layer >= w->n_layers || !w->exps[layer].n_expert)
		return 0;
	int n = w->exps[layer].n_expert;
	for (int e = 0; e < n && e < cap; e++) {
		if (!w->io) {
			out[e] = EXPSTATE_RESIDENT;
			continue;
		}
		int si = *where(w, layer, e);
		out[e] = 0;
		if (si < 0)
			continue;
		struct slot *s = &w->slots[si];
		out[e] = s->state == SLOT_LOADING ? EXPSTATE_LOADING : EXPSTATE_RESIDENT;
		if (w->pol.slot[si].freq >= 2)
			out[e] |= EXPSTATE_HOT;
		if (s->fresh)
			out[e] |= EXPSTATE_NEW;
		s->fresh = false;
	}
	return n;
}
