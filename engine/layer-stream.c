/* layer-stream.c - streamed layers: when even the dense part does not fit,
 * the big matrices of some layers (attention, shared experts, dense FFN)
 * are read for every token into one of two buffers; while one layer
 * computes, the next one's bytes arrive. The plan (plan.c) chose the
 * layers. */
#include "weights-int.h"

#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>

int lstream_start(struct weights *w, char *err, size_t errlen)
{
	const struct weights_plan *p = &w->plan;
	if (!p->n_stream_layers)
		return 0;
	w->lb_arena_bytes = p->layer_buf_bytes;
	if (!(w->lb_arena = weights_anon(w->lb_arena_bytes, "layer buffers", err, errlen)))
		return -1;
	for (uint64_t off = 0; off < w->lb_arena_bytes; off += 4096)
		w->lb_arena[off] = 0;
	int *cnt = xcalloc((size_t)w->n_layers, sizeof *cnt);
	for (int i = 0; i < w->n_ent; i++)
		if (w->pt[i].streamed)
			w->lay_max_tensors = MAX(w->lay_max_tensors, ++cnt[w->pt[i].layer]);
	free(cnt);
	for (int b = 0; b < 2; b++) {
		w->lb[b].layer = -1;
		w->lb[b].state = LB_FREE;
		w->lb[b].buf = w->lb_arena + (uint64_t)b * (w->lb_arena_bytes / 2);
		w->lb[b].req = xcalloc((size_t)w->lay_max_tensors, sizeof *w->lb[b].req);
	}
	return 0;
}

void lstream_stop(struct weights *w)
{
	for (int b = 0; b < 2; b++)
		for (int i = 0; i < w->lb[b].n_req; i++)
			if (iosched_cancel(w->io, &w->lb[b].req[i]) < 0)
				iosched_wait(w->io, &w->lb[b].req[i]);
}

void lstream_free(struct weights *w)
{
	if (w->lb_arena)
		munmap(w->lb_arena, w->lb_arena_bytes);
	for (int i = 0; i < 2; i++)
		free(w->lb[i].req);
	free(w->lay_stream);
}

static struct lbuf *lbuf_of(struct weights *w, int layer)
{
	for (int b = 0; b < 2; b++)
		if (w->lb[b].state != LB_FREE && w->lb[b].layer == layer)
			return &w->lb[b];
	return NULL;
}

/* Start reading layer's streamed tensors into a free buffer (NULL: none free). */
static struct lbuf *lbuf_start(struct weights *w, int layer, enum io_prio prio)
{
	struct lbuf *b = w->lb[0].state == LB_FREE ? &w->lb[0] : w->lb[1].state == LB_FREE ? &w->lb[1] : NULL;
	if (!b)
		return NULL;
	struct io_req *rq[64];
	size_t at = 0;
	int n = 0;
	b->layer = layer;
	b->state = LB_LOADING;
	b->n_req = 0;
	for (int i = 0; i < w->n_ent; i++) {
		const struct wentry *e = &w->ent[i];
		const struct plan_tensor *pt = &w->pt[i];
		if (!pt->streamed || pt->layer != layer)
			continue;
		struct io_req *r = &b->req[b->n_req++];
		r->file = w->file_id[e->t->part];
		r->off = e->t->offset;
		r->len = (size_t)e->t->nbytes;
		r->dst = b->buf + at;
		r->prio = prio;
		r->tag = (uint64_t)layer << 32 | 0xffffffffu;
		at += iosched_span_max(r->len);
		w->layer_bytes_read += r->len;
		rq[n++] = r;
		if (n == 64) {
			iosched_submit_batch(w->io, rq, n);
			n = 0;
		}
	}
	if (n)
		iosched_submit_batch(w->io, rq, n);
	return b;
}

/* The next layer after `layer` (cyclically: the next token starts over)
 * whose dense bytes are streamed and not in a buffer yet. */
static int next_streamed(struct weights *w, int layer)
{
	for (int k = 1; k <= w->n_layers; k++) {
		int l = (layer + k) % w->n_layers;
		if (w->lay_stream[l])
			return lbuf_of(w, l) ? -1 : l;
	}
	return -1;
}

static void lbuf_patch(struct weights *w, struct lbuf *b, bool on)
{
	int k = 0;
	for (int i = 0; i < w->n_ent; i++) {
		const struct wentry *e = &w->ent[i];
		const struct plan_tensor *pt = &w->pt[i];
		if (!pt->streamed || pt->layer != b->layer)
			continue;
		if (e->dst)
			e->dst->data = on ? b->req[k].data : NULL;
		k++;
	}
}

static void lbuf_drop(struct weights *w, struct lbuf *b)
{
	for (int i = 0; i < b->n_req; i++) {
		enum io_state st = iosched_state(&b->req[i]);
		if ((st == IO_QUEUED || st == IO_INFLIGHT) && iosched_cancel(w->io, &b->req[i]) == 0)
			w->layer_bytes_read -= b->req[i].len;
		else
			iosched_wait(w->io, &b->req[i]);
	}
	lbuf_patch(w, b, false);
	b->state = LB_FREE;
	b->layer = -1;
}

int weights_layer_begin(struct weights *w, int layer)
{
	if (!w->io || !w->plan.n_stream_layers || !w->lay_stream[layer])
		return 0;
	struct lbuf *b = lbuf_of(w, layer);
	if (!b && !(b = lbuf_start(w, layer, IO_DEMAND))) {
		/* both buffers hold layers read ahead in another order: start over */
		lbuf_drop(w, &w->lb[0]);
		lbuf_drop(w, &w->lb[1]);
		b = lbuf_start(w, layer, IO_DEMAND);
	}
	if (b->state == LB_LOADING) {
		double t0 = now_sec();
		for (int i = 0; i < b->n_req; i++) {
			iosched_wait(w->io, &b->req[i]);
			if (iosched_state(&b->req[i]) != IO_DONE) {
				char why[300];
				iosched_strerror(w->io, &b->req[i], why, sizeof why);
				int k = 0;
				const char *name = "?";
				for (int j = 0; j < w->n_ent; j++)
					if (w->pt[j].streamed && w->pt[j].layer == layer && k++ == i)
						name = w->ent[j].t->name;
				snprintf(w->err, sizeof w->err, "reading layer %d's %s: %s", layer, name, why);
				w->io_wait_s += now_sec() - t0;
				lbuf_drop(w, b);
				return -1;
			}
		}
		w->io_wait_s += now_sec() - t0;
		b->state = LB_READY;
	}
	lbuf_patch(w, b, true);
	int next = next_streamed(w, layer);
	if (next >= 0) /* certain to be needed: ahead of guesses, behind this layer's demand */
		lbuf_start(w, next, IO_PREFETCH);
	return 0;
}

void weights_layer_end(struct weights *w, int layer)
{
	if (!w->io || !w->plan.n_stream_layers || !w->lay_stream[layer])
		return;
	struct lbuf *b = lbuf_of(w, layer);
	if (!b)
		return;
	lbuf_patch(w, b, false);
	b->state = LB_FREE;
	b->layer = -1;
	int next = next_streamed(w, layer);
	if (next >= 0)
		lbuf_start(w, next, IO_PREFETCH);
}

