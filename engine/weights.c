/* weights.c - the tensor registry: what the model declared, the plan
 * applied to it, loading, resident matrices and the store's stats. The
 * expert cache, layer streaming and the hot list live in their own files
 * (weights-int.h). */
#include "weights-int.h"

#include "arch.h"
#include "quant.h"
#include "sysinfo.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define ARENA_ALIGN 64

struct weights *weights_new(const struct gguf *g)
{
	struct weights *w = xcalloc(1, sizeof *w);
	w->g = g;
	w->plan.io = WIO_RAM;
	return w;
}

void weights_free(struct weights *w)
{
	if (!w)
		return;
	if (w->io) { /* reads may still land in the slots: stop them first */
		hot_save(w);
		xcache_stop(w);
		lstream_stop(w);
		iosched_free(w->io);
	}
	if (w->arena)
		munmap(w->arena, w->arena_bytes);
	xcache_free(w);
	lstream_free(w);
	hot_free(w);
	for (size_t i = 0; w->maps && i < w->g->n_parts; i++)
		if (w->maps[i])
			munmap(w->maps[i], w->map_len[i]);
	free(w->maps);
	free(w->map_len);
	free(w->file_id);
	free(w->ls);
	free(w->ent);
	free(w->pt);
	free(w->exps);
	free(w);
}

/* A tensor's class is its role's in the file's architecture row. */
static enum wclass classify(const struct weights *w, const char *name)
{
	return arch_tensor_class(arch_find_gguf(gguf_arch(w->g)), name);
}

int weights_add(struct weights *w, const struct gguf_tensor *t)
{
	if (w->n_ent == w->cap_ent) {
		w->cap_ent = w->cap_ent ? 2 * w->cap_ent : 64;
		w->ent = xreallocarray(w->ent, (size_t)w->cap_ent, sizeof *w->ent);
		w->pt = xreallocarray(w->pt, (size_t)w->cap_ent, sizeof *w->pt);
	}
	struct wentry *e = &w->ent[w->n_ent];
	e->t = t;
	e->off = UINT64_MAX;
	e->dst = NULL;
	struct plan_tensor *pt = &w->pt[w->n_ent];
	memset(pt, 0, sizeof *pt);
	pt->nbytes = t->nbytes;
	pt->cls = classify(w, t->name);
	pt->layer = -1;
	int l, n = 0;
	if (sscanf(t->name, "blk.%d.%n", &l, &n) == 1 && n > 0)
		pt->layer = l;
	return w->n_ent++;
}

void weights_bind(struct weights *w, int handle, struct wmat *dst)
{
	w->ent[handle].dst = dst;
	*dst = weights_mat(w, handle);
}

void weights_set_rowwise(struct weights *w, int handle)
{
	w->pt[handle].rowwise = true;
}

void weights_add_experts(struct weights *w, int layer, const struct gguf_tensor *gate,
			 const struct gguf_tensor *up, const struct gguf_tensor *down)
{
	if (layer >= w->n_layers) {
		w->exps = xreallocarray(w->exps, (size_t)layer + 1, sizeof *w->exps);
		memset(w->exps + w->n_layers, 0, (size_t)(layer + 1 - w->n_layers) * sizeof *w->exps);
		w->n_layers = layer + 1;
	}
	struct wexperts *e = &w->exps[layer];
	const struct gguf_tensor *ts[EXP_NPARTS] = {gate, up, down};
	e->n_expert = (int)gate->ne[2];
	for (int p = 0; p < EXP_NPARTS; p++) {
		e->t[p] = ts[p];
		e->slice[p] = (size_t)(ts[p]->nbytes / ts[p]->ne[2]);
	}
}

/* ---- the plan ---------------------------------------------------------------- */

int weights_plan(struct weights *w, const struct weights_opts *o, int n_used, uint64_t extra, char *err,
		 size_t errlen)
{
	static const struct weights_opts def;
	if (!o)
		o = &def;
	w->planned = true;
	w->policy = o->policy;
	w->prefetch = !o->no_prefetch;
	w->warm = !o->no_warm;
	struct plan_opts po = {.mem = o->mem, .io = o->io, .stream_layers = o->stream_layers};
	if (!o->mem)
		po.default_budget = sysinfo_default_budget();
	struct plan_experts *x = xcalloc((size_t)MAX(w->n_layers, 1), sizeof *x);
	for (int l = 0, first = 0; l < w->n_layers; l++) {
		struct wexperts *e = &w->exps[l];
		if (!e->n_expert)
			continue;
		e->first = first;
		first += e->n_expert;
		x[l].n_expert = e->n_expert;
		for (int q = 0; q < EXP_NPARTS; q++) {
			x[l].nbytes[q] = e->t[q]->nbytes;
			x[l].slice[q] = e->slice[q];
		}
	}
	free(w->lay_stream);
	w->lay_stream = xcalloc((size_t)MAX(w->n_layers, 1), sizeof *w->lay_stream);
	struct plan_model m = {.t = w->pt, .n_t = w->n_ent, .x = x, .n_layers = w->n_layers, .n_used = n_used,
			       .extra = extra, .lay_stream = w->lay_stream};
	int rc = plan_make(&m, &po, &w->plan, err, errlen);
	free(x);
	return rc;
}

const struct weights_plan *weights_get_plan(const struct weights *w)
{
	return &w->plan;
}

void weights_set_batch(struct weights *w, int batch, int n_ctx)
{
	w->plan.batch = batch;
	w->plan.n_ctx = n_ctx;
}

/* ---- loading ----------------------------------------------------------------- */

static bool rowwise_now(const struct weights *w, int i)
{
	return (w->pt[i].rowwise || w->pt[i].streamed) && w->plan.io == WIO_STREAM;
}

static int read_into(struct weights *w, const struct gguf_tensor *t, void *dst, char *err, size_t errlen)
{
	if (gguf_read_tensor(w->g, t, 0, dst, (size_t)t->nbytes) < 0) {
		snprintf(err, errlen, "reading tensor %s: %s", t->name, strerror(errno));
		return -1;
	}
	/* Our copy is the one we keep: the page cache's is dead weight under a
	 * memory limit. */
	sysinfo_drop_range(w->g->parts[t->part].fd, t->offset, t->nbytes);
	return 0;
}

void *weights_anon(uint64_t n, const char *what, char *err, size_t errlen)
{
	void *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		char b[32];
		snprintf(err, errlen, "cannot allocate %s for %s: %s", fmt_bytes(b, sizeof b, n), what, strerror(errno));
		return NULL;
	}
	/* Weights and cache slots are read across gigabytes: 2 MiB pages mean
	 * far fewer TLB misses (and faults when they are first touched). */
	sysinfo_huge_pages(p, n);
	return p;
}

static int load_mmap(struct weights *w, char *err, size_t errlen)
{
	size_t np = w->g->n_parts;
	w->maps = xcalloc(np, sizeof *w->maps);
	w->map_len = xcalloc(np, sizeof *w->map_len);
	for (size_t i = 0; i < np; i++) {
		const struct gguf_part *part = &w->g->parts[i];
		void *p = mmap(NULL, part->file_size, PROT_READ, MAP_SHARED, part->fd, 0);
		if (p == MAP_FAILED) {
			snprintf(err, errlen, "%s: mmap: %s", part->path, strerror(errno));
			return -1;
		}
		w->maps[i] = p;
		w->map_len[i] = part->file_size;
	}
	return 0;
}

static int start_stream(struct weights *w, char *err, size_t errlen)
{
	w->io = iosched_new(NULL);
	w->file_id = xcalloc(w->g->n_parts, sizeof *w->file_id);
	for (size_t i = 0; i < w->g->n_parts; i++) {
		const struct gguf_part *part = &w->g->parts[i];
		char e2[256];
		if ((w->file_id[i] = iosched_add_file(w->io, part->fd, part->path, e2, sizeof e2)) < 0) {
			snprintf(err, errlen, "%s", e2);
			return -1;
		}
	}
	if (xcache_start(w, err, errlen) < 0 || lstream_start(w, err, errlen) < 0)
		return -1;
	hot_init(w, w->warm);
	return 0;
}

int weights_load(struct weights *w, char *err, size_t errlen)
{
	if (!w->planned && weights_plan(w, NULL, 1, 0, err, errlen) < 0)
		return -1;
	w->ls = xcalloc((size_t)MAX(w->n_layers, 1), sizeof *w->ls);
	if (w->plan.io == WIO_MMAP)
		return load_mmap(w, err, errlen);
	bool stream = w->plan.io == WIO_STREAM;
	uint64_t n = 0;
	for (int i = 0; i < w->n_ent; i++)
		if (!rowwise_now(w, i)) {
			w->ent[i].off = n;
			n += round_up_u64(w->ent[i].t->nbytes, ARENA_ALIGN);
		}
	for (int l = 0; l < w->n_layers && !stream; l++)
		for (int q = 0; q < EXP_NPARTS && w->exps[l].n_expert; q++) {
			w->exps[l].off[q] = n;
			n += round_up_u64(w->exps[l].t[q]->nbytes, ARENA_ALIGN);
		}
	w->arena_bytes = n;
	if (n && !(w->arena = weights_anon(n, "weights", err, errlen)))
		return -1;
	for (int i = 0; i < w->n_ent; i++)
		if (w->ent[i].off != UINT64_MAX && read_into(w, w->ent[i].t, w->arena + w->ent[i].off, err, errlen) < 0)
			return -1;
	for (int l = 0; l < w->n_layers && !stream; l++)
		for (int q = 0; q < EXP_NPARTS && w->exps[l].n_expert; q++)
			if (read_into(w, w->exps[l].t[q], w->arena + w->exps[l].off[q], err, errlen) < 0)
				return -1;
	return stream ? start_stream(w, err, errlen) : 0;
}

/* ---- resident matrices ----------------------------------------------------- */

struct wmat weights_mat_of(const struct gguf_tensor *t, const void *data, int64_t rows)
{
	struct wmat m;
	m.data = data;
	m.type = t->type;
	m.cols = (int64_t)t->ne[0];
	m.rows = rows;
	m.row_bytes = (size_t)qtype_row_bytes(t->type, t->ne[0]);
	m.name = t->name;
	return m;
}

const unsigned char *weights_file_bytes(const struct weights *w, const struct gguf_tensor *t)
{
	return (const unsigned char *)w->maps[t->part] + t->offset;
}

struct wmat weights_mat(const struct weights *w, int handle)
{
	const struct wentry *e = &w->ent[handle];
	const void *data = NULL;
	if (w->maps)
		data = weights_file_bytes(w, e->t);
	else if (e->off != UINT64_MAX)
		data = w->arena + e->off;
	return weights_mat_of(e->t, data, (int64_t)(e->t->nelem / e->t->ne[0]));
}

int weights_row_f32(struct weights *w, const struct wmat *m, int64_t row, float *dst)
{
	const struct qtype *q = &qtypes[m->type];
	if (m->data) {
		q->to_float((const char *)m->data + (size_t)row * m->row_bytes, dst, m->cols);
		return 0;
	}
	/* The row-wise embedding: one small read per token. dst has room for
	 * m->cols floats, more than a quantized row needs. */
	const struct gguf_tensor *t = gguf_find_tensor(w->g, m->name);
	if (!t || m->row_bytes > (size_t)m->cols * sizeof *dst ||
	    gguf_read_tensor(w->g, t, (uint64_t)row * m->row_bytes, dst, m->row_bytes) < 0) {
		snprintf(w->err, sizeof w->err, "reading row %lld of %s: %s", (long long)row, m->name,
			 t ? strerror(errno) : "no such tensor");
		return -1;
	}
	/* Dequantize in place from the back: copy the row out first. */
	unsigned char tmp[4096];
	unsigned char *src = m->row_bytes <= sizeof tmp ? tmp : xmalloc(m->row_bytes);
	memcpy(src, dst, m->row_bytes);
	q->to_float((const char *)src, dst, m->cols);
	if (src != tmp)
		free(src);
	return 0;
}

uint32_t weights_expert_type(const struct weights *w, int layer, enum expert_part p)
{
	return w->exps[layer].t[p]->type;
}

size_t weights_expert_bytes(const struct weights *w, int layer, enum expert_part p)
{
	return w->exps[layer].slice[p];
}

uint64_t weights_resident_bytes(const struct weights *w)
{
	return w->arena_bytes;
}

const char *weights_error(const struct weights *w)
{
	return w->err;
}

bool weights_prefetch_enabled(const struct weights *w)
{
	return w->io && w->prefetch;
}

/* ---- stats ------------------------------------------------------------------ */

void weights_get_stats(struct weights *w, struct weights_stats *st)
{
	memset(st, 0, sizeof *st);
	const struct weights_plan *p = &w->plan;
	st->mode = weights_io_names[p->io];
	st->policy = w->io ? cache_policy_names[w->policy] : "";
	st->mem_budget = p->budget;
	st->resident_bytes = p->io == WIO_MMAP ? p->dense_bytes : w->arena_bytes;
	st->cache_bytes = w->cache_bytes;
	st->slot_bytes = w->io ? p->slot_bytes : 0;
	st->n_slots = w->n_slots;
	st->n_experts_total = p->n_experts;
	st->n_layers = w->n_layers;
	st->layer = w->ls;
	for (int i = 0; i < w->n_slots; i++)
		st->slots_used += xcache_slot_layer(w, i) >= 0;
	for (int l = 0; l < w->n_layers && w->ls; l++) {
		const struct expert_layer_stats *ls = &w->ls[l];
		st->hits += ls->hits;
		st->misses += ls->misses;
		st->prefetch_issued += ls->prefetch_issued;
		st->prefetch_hits += ls->prefetch_hits;
		st->prefetch_wasted += ls->prefetch_wasted;
		st->bytes_read += ls->bytes_read;
	}
	st->io_wait_s = w->io_wait_s;
	st->layer_bytes_read = w->layer_bytes_read;
	st->warm_total = w->warm_total;
	st->warm_bytes = w->warm_evicted;
	for (int i = 0; i < w->n_slots; i++) {
		const struct slot *sl = &w->slots[i];
		for (int q = 0; sl->warm && q < EXP_NPARTS; q++)
			if (iosched_state(&sl->req[q]) == IO_DONE)
				st->warm_bytes += sl->req[q].len;
	}
	st->bytes_read += w->layer_bytes_read;
	st->n_stream_layers = p->n_stream_layers;
}
