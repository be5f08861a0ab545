/* weights.c - resident tensors, the memory plan and the expert cache. */
#include "weights.h"

#include "arch.h"
#include "iosched.h"
#include "kvstate.h"
#include "model.h"
#include "quant.h"
#include "sysinfo.h"
#include "util.h"

#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define ARENA_ALIGN 64

const char *const wclass_names[WC_COUNT] = {"token embeddings", "output head", "attention", "norms",
					    "routers", "shared experts", "dense FFN", "other"};

struct wentry {
	const struct gguf_tensor *t;
	uint64_t off; /* in the arena; UINT64_MAX when not resident */
	enum wclass cls;
	bool rowwise;
	int layer;        /* blk.N, or -1 */
	bool streamable;  /* a layer's big dense matrix: may be read per token */
	bool streamed;    /* the plan streams it (its layer is streamed) */
	struct wmat *dst; /* the model's view of it (weights_bind) */
};

/* Layer streaming: when even the dense part does not fit, the big matrices
 * of some layers (attention, shared experts, dense FFN) are read for every
 * token into one of two buffers; while one layer computes, the next one's
 * bytes arrive. */
enum lbuf_state { LB_FREE, LB_LOADING, LB_READY };
struct lbuf {
	int layer;
	enum lbuf_state state;
	unsigned char *buf;
	struct io_req *req; /* one per streamed tensor of the layer */
	int n_req;
};

#define STREAM_MIN_TENSOR (16u << 10) /* smaller ones stay resident */

struct wexperts {
	const struct gguf_tensor *t[EXP_NPARTS];
	uint64_t off[EXP_NPARTS]; /* in the arena (ram mode) */
	size_t slice[EXP_NPARTS];
	int n_expert;
	int first; /* index of expert 0 in the flat where[] table */
};

enum slot_state { SLOT_FREE, SLOT_LOADING, SLOT_READY };

/* One expert's three slices, each the 4 KiB-aligned superset of its range. */
struct slot {
	int layer, expert; /* -1 when free */
	enum slot_state state;
	int pins;
	bool prefetched;  /* read ahead and not used yet */
	bool fresh;       /* arrived since the last heat-map look */
	bool warm;        /* read at load from the hot list of an earlier run */
	uint64_t last_use;
	uint32_t freq;
	unsigned char *buf;
	struct io_req req[EXP_NPARTS];
};

struct weights {
	const struct gguf *g;
	struct wentry *ent;
	int n_ent, cap_ent;
	struct wexperts *exps; /* per layer; n_expert 0 = none */
	int n_layers;
	unsigned char *arena;
	uint64_t arena_bytes;
	struct weights_plan plan;
	bool planned;
	int policy; /* enum cache_policy */
	bool prefetch, warm;

	/* mmap mode */
	void **maps;
	size_t *map_len;

	/* stream mode */
	struct iosched *io;
	int *file_id;            /* per GGUF part */
	unsigned char *cache;
	uint64_t cache_bytes;
	struct slot *slots;
	int n_slots;
	size_t part_off[EXP_NPARTS]; /* where each slice starts in a slot */
	int *where;              /* flat [layer's first + expert] -> slot, -1 */
	int *quota, *occ;        /* per layer: slots it may keep, slots it holds */
	uint64_t tick;
	struct expert_layer_stats *ls; /* per layer */
	double io_wait_s;
	char err[512];

	/* layer streaming */
	uint64_t *lay_bytes;     /* per layer: span bytes of its streamable tensors */
	bool *lay_stream;        /* per layer: streamed */
	int lay_max_tensors;
	struct lbuf lb[2];
	unsigned char *lb_arena;
	uint64_t lb_arena_bytes;
	uint64_t layer_bytes_read;

	/* the warm cache: experts used, kept across runs */
	uint32_t *uses;          /* flat like where[]: this run's lookups */
	uint32_t *uses_prev;     /* from the hot list read at load (halved: aging) */
	char *hot_path;          /* where the hot list lives; NULL: not kept */
	uint64_t warm_total;     /* bytes asked for at load */
	uint64_t warm_evicted;   /* of those, arrived and since replaced */
};

static void warm_init(struct weights *w, bool warm);
static void hot_list_write(struct weights *w);

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

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
	if (w->io && w->uses)
		hot_list_write(w);
	if (w->io) { /* reads may still land in the slots: stop them first */
		for (int i = 0; i < w->n_slots; i++)
			for (int p = 0; p < EXP_NPARTS; p++)
				if (iosched_cancel(w->io, &w->slots[i].req[p]) < 0)
					iosched_wait(w->io, &w->slots[i].req[p]);
		for (int b = 0; b < 2; b++)
			for (int i = 0; i < w->lb[b].n_req; i++)
				if (iosched_cancel(w->io, &w->lb[b].req[i]) < 0)
					iosched_wait(w->io, &w->lb[b].req[i]);
		iosched_free(w->io);
	}
	if (w->arena)
		munmap(w->arena, w->arena_bytes);
	if (w->cache)
		munmap(w->cache, w->cache_bytes);
	if (w->lb_arena)
		munmap(w->lb_arena, w->lb_arena_bytes);
	for (int i = 0; i < 2; i++)
		free(w->lb[i].req);
	free(w->lay_bytes);
	free(w->lay_stream);
	free(w->uses);
	free(w->uses_prev);
	free(w->hot_path);
	for (size_t i = 0; w->maps && i < w->g->n_parts; i++)
		if (w->maps[i])
			munmap(w->maps[i], w->map_len[i]);
	free(w->maps);
	free(w->map_len);
	free(w->file_id);
	free(w->slots);
	free(w->where);
	free(w->quota);
	free(w->occ);
	free(w->ls);
	free(w->ent);
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
	}
	struct wentry *e = &w->ent[w->n_ent];
	e->t = t;
	e->off = UINT64_MAX;
	e->cls = classify(w, t->name);
	e->rowwise = false;
	e->layer = -1;
	e->dst = NULL;
	e->streamed = false;
	int l, n = 0;
	if (sscanf(t->name, "blk.%d.%n", &l, &n) == 1 && n > 0)
		e->layer = l;
	e->streamable = e->layer >= 0 && t->nbytes >= STREAM_MIN_TENSOR &&
			(e->cls == WC_ATTN || e->cls == WC_SHEXP || e->cls == WC_FFN || e->cls == WC_OTHER);
	return w->n_ent++;
}

void weights_bind(struct weights *w, int handle, struct wmat *dst)
{
	w->ent[handle].dst = dst;
	*dst = weights_mat(w, handle);
}

void weights_set_rowwise(struct weights *w, int handle)
{
	w->ent[handle].rowwise = true;
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

static uint64_t round_up(uint64_t n, uint64_t a)
{
	return (n + a - 1) / a * a;
}

static bool rowwise_now(const struct weights *w, const struct wentry *e)
{
	return (e->rowwise || e->streamed) && w->plan.io == WIO_STREAM;
}

static void plan_refuse(struct weights_plan *p, char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void plan_refuse(struct weights_plan *p, char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(p->why, sizeof p->why, fmt, ap);
	va_end(ap);
	snprintf(err, errlen, "%s", p->why);
}

int weights_plan(struct weights *w, const struct model_opts *o, int n_used, uint64_t extra, char *err,
		 size_t errlen)
{
	static const struct model_opts def;
	if (!o)
		o = &def;
	struct weights_plan *p = &w->plan;
	memset(p, 0, sizeof *p);
	w->planned = true;
	w->policy = (int)o->policy;
	w->prefetch = !o->no_prefetch;
	w->warm = !o->no_warm;
	p->extra_bytes = extra;
	p->budget = o->mem == MODEL_MEM_MIN ? 0 : o->mem ? o->mem : sysinfo_default_budget();
	for (int l = 0; l < w->n_layers; l++) {
		struct wexperts *e = &w->exps[l];
		if (!e->n_expert)
			continue;
		uint64_t one = 0, span = 0;
		for (int q = 0; q < EXP_NPARTS; q++) {
			one += e->slice[q];
			span += iosched_span_max(e->slice[q]);
			p->expert_bytes += e->t[q]->nbytes;
		}
		e->first = p->n_experts;
		p->slot_bytes = MAX(p->slot_bytes, span);
		p->n_experts += e->n_expert;
		p->n_moe_layers++;
		p->cold_read_per_token += one * (uint64_t)MAX(n_used, 1);
	}

	/* Streaming keeps everything but the experts resident, and the token
	 * embedding too unless it is read by row. */
	uint64_t embd = 0;
	bool embd_rowwise = false;
	for (int i = 0; i < w->n_ent; i++) {
		const struct wentry *e = &w->ent[i];
		if (e->rowwise) {
			embd_rowwise = true;
			embd += round_up(e->t->nbytes, ARENA_ALIGN);
			p->embd_file_bytes += e->t->nbytes;
		} else {
			p->class_bytes[e->cls] += round_up(e->t->nbytes, ARENA_ALIGN);
		}
	}
	uint64_t dense = 0;
	for (int c = 0; c < WC_COUNT; c++)
		dense += p->class_bytes[c];
	uint64_t ram_total = dense + embd + extra + p->expert_bytes;
	uint64_t stream_fixed = dense + extra;
	p->min_slots = p->n_experts ? MAX(n_used, 1) : 0;
	p->min_budget = stream_fixed + (uint64_t)p->min_slots * p->slot_bytes;
	char b1[32], b2[32];
	enum weights_io io = o->io;
	if (o->mem == MODEL_MEM_MIN) { /* the smallest budget that streams */
		if (io == WIO_AUTO)
			io = p->n_experts ? WIO_STREAM : WIO_RAM;
		p->budget = io == WIO_STREAM ? dense + extra + (uint64_t)p->min_slots * p->slot_bytes : ram_total;
	}
	fmt_bytes(b1, sizeof b1, p->budget);

	if (io == WIO_AUTO) {
		if (!p->budget || ram_total <= p->budget || !p->n_experts)
			io = WIO_RAM;
		else
			io = WIO_STREAM;
	}
	p->io = (int)io;
	switch (io) {
	case WIO_RAM:
	case WIO_AUTO:
		p->class_bytes[WC_EMBD] += embd;
		p->dense_bytes = dense + embd;
		p->total_bytes = ram_total;
		if (p->budget && ram_total > p->budget) {
			fmt_bytes(b2, sizeof b2, ram_total);
			if (p->n_experts)
				plan_refuse(p, err, errlen, "the whole model needs %s in RAM, more than --mem %s; "
					    "stream its experts (--io stream or auto) or raise --mem", b2, b1);
			else
				plan_refuse(p, err, errlen, "this dense model needs %s, more than --mem %s", b2, b1);
			return -1;
		}
		snprintf(p->why, sizeof p->why, "%s", o->io == WIO_RAM ? "--io ram" : "the whole model fits the budget");
		return 0;
	case WIO_MMAP:
		p->class_bytes[WC_EMBD] += embd;
		p->dense_bytes = dense + embd;
		p->total_bytes = ram_total;
		snprintf(p->why, sizeof p->why, "--io mmap: the page cache decides; no budget is enforced");
		return 0;
	case WIO_STREAM:
		break;
	}
	if (!embd_rowwise)
		p->class_bytes[WC_EMBD] += embd;
	p->dense_bytes = dense + (embd_rowwise ? 0 : embd);
	if (!p->n_experts) {
		plan_refuse(p, err, errlen, "--io stream: the model has no routed experts to stream");
		return -1;
	}
	/* Dense matrices that could be read per token, layer by layer. */
	free(w->lay_bytes);
	free(w->lay_stream);
	free(w->uses);
	free(w->uses_prev);
	free(w->hot_path);
	w->lay_bytes = xcalloc((size_t)MAX(w->n_layers, 1) + 1, sizeof *w->lay_bytes);
	w->lay_stream = xcalloc((size_t)MAX(w->n_layers, 1) + 1, sizeof *w->lay_stream);
	int n_lay = 0;
	uint64_t lbuf = 0;
	for (int i = 0; i < w->n_ent; i++) {
		struct wentry *e = &w->ent[i];
		e->streamed = false;
		if (e->streamable && e->layer < w->n_layers)
			w->lay_bytes[e->layer] += iosched_span_max(e->t->nbytes);
	}
	for (int l = 0; l < w->n_layers; l++) {
		lbuf = MAX(lbuf, w->lay_bytes[l]);
		n_lay += w->lay_bytes[l] > 0;
	}
	/* need(k): the budget with the last k layers having dense bytes streamed */
	uint64_t slots_min = (uint64_t)p->min_slots * p->slot_bytes, resident = p->dense_bytes;
	uint64_t need0 = resident + extra + slots_min, need = need0, streamed_bytes = 0;
	uint64_t need_all = need0 + 2 * lbuf;
	for (int l = 0; l < w->n_layers; l++)
		need_all -= MIN(w->lay_bytes[l], need_all); /* spans bound the bytes */
	p->min_budget = MIN(need0, need_all);
	if (o->mem == MODEL_MEM_MIN)
		p->budget = p->min_budget;
	fmt_bytes(b1, sizeof b1, p->budget);
	if (p->budget < p->min_budget) {
		fmt_bytes(b2, sizeof b2, p->min_budget);
		plan_refuse(p, err, errlen,
			    "--mem %s is too small: streaming needs at least %s (norms, routers, output head, "
			    "two layers' dense weights, KV cache and scratch, %d expert slots)",
			    b1, b2, p->min_slots);
		return -1;
	}
	/* Dense bytes are used by every token: keep as many layers' resident as
	 * the budget allows, streaming the last ones first (at least
	 * --stream-layers of them). The two layer buffers are as big as the
	 * biggest streamed layer: leading dense blocks, often the biggest,
	 * stream last. */
	uint64_t sbuf = 0;
	for (int l = w->n_layers - 1; l >= 0 && (need > p->budget || p->n_stream_layers < o->stream_layers); l--) {
		if (!w->lay_bytes[l])
			continue;
		if (w->lay_bytes[l] > sbuf) {
			need += 2 * (w->lay_bytes[l] - sbuf);
			sbuf = w->lay_bytes[l];
		}
		w->lay_stream[l] = true;
		p->n_stream_layers++;
		need -= MIN(w->lay_bytes[l], need);
		streamed_bytes += w->lay_bytes[l];
	}
	if (need > p->budget) { /* --stream-layers beyond what the budget needs: its buffers did not fit */
		fmt_bytes(b2, sizeof b2, need);
		plan_refuse(p, err, errlen, "--mem %s is too small: streaming needs %s", b1, b2);
		return -1;
	}
	for (int i = 0; i < w->n_ent; i++) {
		struct wentry *e = &w->ent[i];
		if (e->streamable && w->lay_stream[e->layer]) {
			e->streamed = true;
			uint64_t b = round_up(e->t->nbytes, ARENA_ALIGN);
			p->class_bytes[e->cls] -= MIN(b, p->class_bytes[e->cls]);
			p->dense_bytes -= MIN(b, p->dense_bytes);
			p->layer_stream_bytes += e->t->nbytes;
		}
	}
	p->layer_buf_bytes = p->n_stream_layers ? 2 * sbuf : 0;
	p->cold_read_per_token += p->layer_stream_bytes;
	stream_fixed = p->dense_bytes + p->layer_buf_bytes + extra;
	uint64_t n = p->budget > stream_fixed ? (p->budget - stream_fixed) / p->slot_bytes : 0;
	p->n_slots = (int)MIN(n, (uint64_t)p->n_experts);
	if (p->n_slots < p->min_slots) { /* rounding: spans vs bytes */
		p->n_slots = p->min_slots;
	}
	p->total_bytes = stream_fixed + (uint64_t)p->n_slots * p->slot_bytes;
	(void)n_lay;
	(void)streamed_bytes;
	snprintf(p->why, sizeof p->why, "%s%s", o->io == WIO_STREAM ? "--io stream" : "the model does not fit the budget",
		 p->n_stream_layers ? "; the dense weights do not fit either: some layers' are read per token" : "");
	return 0;
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

static int read_into(struct weights *w, const struct gguf_tensor *t, void *dst, char *err, size_t errlen)
{
	if (gguf_read_tensor(w->g, t, 0, dst, (size_t)t->nbytes) < 0) {
		snprintf(err, errlen, "reading tensor %s: %s", t->name, strerror(errno));
		return -1;
	}
#ifdef POSIX_FADV_DONTNEED
	/* Our copy is the one we keep: the page cache's is dead weight under a
	 * memory limit. */
	const struct gguf_part *part = &w->g->parts[t->part];
	posix_fadvise(part->fd, (off_t)t->offset, (off_t)t->nbytes, POSIX_FADV_DONTNEED);
#endif
	return 0;
}

static void *anon(uint64_t n, const char *what, char *err, size_t errlen)
{
	void *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		char b[32];
		snprintf(err, errlen, "cannot allocate %s for %s: %s", fmt_bytes(b, sizeof b, n), what, strerror(errno));
		return NULL;
	}
#ifdef MADV_HUGEPAGE
	/* Weights and cache slots are read across gigabytes: 2 MiB pages mean
	 * far fewer TLB misses (and faults when they are first touched). */
	madvise(p, n, MADV_HUGEPAGE);
#endif
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
	const struct weights_plan *p = &w->plan;
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
	w->cache_bytes = (uint64_t)p->n_slots * p->slot_bytes;
	if (!(w->cache = anon(w->cache_bytes, "the expert cache", err, errlen)))
		return -1;
	/* Touch the whole arena now: a direct read into pages that are not
	 * there yet faults them in one by one, on the token's critical path,
	 * and the budget is meant to be held from the start anyway. */
	for (uint64_t off = 0; off < w->cache_bytes; off += 4096)
		w->cache[off] = 0;
	w->slots = xcalloc((size_t)p->n_slots, sizeof *w->slots);
	w->n_slots = p->n_slots;
	for (int i = 0; i < w->n_slots; i++) {
		w->slots[i].layer = w->slots[i].expert = -1;
		w->slots[i].buf = w->cache + (uint64_t)i * p->slot_bytes;
	}
	w->where = xmalloc((size_t)p->n_experts * sizeof *w->where);
	for (int i = 0; i < p->n_experts; i++)
		w->where[i] = -1;
	if (p->n_stream_layers) {
		w->lb_arena_bytes = p->layer_buf_bytes;
		if (!(w->lb_arena = anon(w->lb_arena_bytes, "layer buffers", err, errlen)))
			return -1;
		for (uint64_t off = 0; off < w->lb_arena_bytes; off += 4096)
			w->lb_arena[off] = 0;
		int *cnt = xcalloc((size_t)w->n_layers, sizeof *cnt);
		for (int i = 0; i < w->n_ent; i++)
			if (w->ent[i].streamed)
				w->lay_max_tensors = MAX(w->lay_max_tensors, ++cnt[w->ent[i].layer]);
		free(cnt);
		for (int b = 0; b < 2; b++) {
			w->lb[b].layer = -1;
			w->lb[b].state = LB_FREE;
			w->lb[b].buf = w->lb_arena + (uint64_t)b * (w->lb_arena_bytes / 2);
			w->lb[b].req = xcalloc((size_t)w->lay_max_tensors, sizeof *w->lb[b].req);
		}
	}
	w->quota = xcalloc((size_t)w->n_layers, sizeof *w->quota);
	w->occ = xcalloc((size_t)w->n_layers, sizeof *w->occ);
	/* Per-layer quotas: a cyclic layer-by-layer access pattern defeats a
	 * global LRU once the cache is smaller than a token's working set. */
	for (int l = 0, k = 0; l < w->n_layers; l++)
		if (w->exps[l].n_expert) {
			w->quota[l] = p->n_slots / p->n_moe_layers + (k < p->n_slots % p->n_moe_layers);
			k++;
		}
	warm_init(w, w->warm);
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
		if (!rowwise_now(w, &w->ent[i])) {
			w->ent[i].off = n;
			n += round_up(w->ent[i].t->nbytes, ARENA_ALIGN);
		}
	for (int l = 0; l < w->n_layers && !stream; l++)
		for (int q = 0; q < EXP_NPARTS && w->exps[l].n_expert; q++) {
			w->exps[l].off[q] = n;
			n += round_up(w->exps[l].t[q]->nbytes, ARENA_ALIGN);
		}
	w->arena_bytes = n;
	if (n && !(w->arena = anon(n, "weights", err, errlen)))
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

static struct wmat mat_of(const struct gguf_tensor *t, const void *data, int64_t rows)
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

static const unsigned char *file_bytes(const struct weights *w, const struct gguf_tensor *t)
{
	return (const unsigned char *)w->maps[t->part] + t->offset;
}

struct wmat weights_mat(const struct weights *w, int handle)
{
	const struct wentry *e = &w->ent[handle];
	const void *data = NULL;
	if (w->maps)
		data = file_bytes(w, e->t);
	else if (e->off != UINT64_MAX)
		data = w->arena + e->off;
	return mat_of(e->t, data, (int64_t)(e->t->nelem / e->t->ne[0]));
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

/* ---- the expert cache ------------------------------------------------------- */

static void view_at(const struct wexperts *e, const void *const part[EXP_NPARTS], struct expert_view *v)
{
	for (int p = 0; p < EXP_NPARTS; p++)
		v->m[p] = mat_of(e->t[p], part[p], (int64_t)e->t[p]->ne[1]);
}

static int *where(struct weights *w, int layer, int expert)
{
	return &w->where[w->exps[layer].first + expert];
}

/* A slot's value to keep: lower goes first. */
static bool less_valuable(const struct weights *w, const struct slot *a, const struct slot *b)
{
	if (w->policy == CACHE_LFU && a->freq != b->freq)
		return a->freq < b->freq;
	return a->last_use < b->last_use;
}

/* The slot to (re)use for an expert of layer, or -1 when every slot is
 * pinned or being read. Free slots first; then, with per-layer quotas, a
 * slot of a layer holding more than its quota, then one of this layer,
 * then any; the least valuable by the policy inside each tier. */
static int pick_victim(struct weights *w, int layer)
{
	int best = -1, best_tier = 4;
	for (int i = 0; i < w->n_slots; i++) {
		const struct slot *s = &w->slots[i];
		if (s->state == SLOT_FREE)
			return i;
		if (s->pins || s->state == SLOT_LOADING)
			continue;
		int tier = 2;
		if (w->policy != CACHE_LRU)
			tier = w->occ[s->layer] > w->quota[s->layer] ? 0 : s->layer == layer ? 1 : 2;
		if (tier < best_tier || (tier == best_tier && less_valuable(w, s, &w->slots[best]))) {
			best = i;
			best_tier = tier;
		}
	}
	return best;
}

static void evict(struct weights *w, struct slot *s)
{
	for (int q = 0; s->warm && q < EXP_NPARTS; q++) /* arrived, then replaced: still read */
		if (iosched_state(&s->req[q]) == IO_DONE)
			w->warm_evicted += s->req[q].len;
	s->warm = false;
	if (s->layer >= 0) {
		if (s->prefetched)
			w->ls[s->layer].prefetch_wasted++;
		*where(w, s->layer, s->expert) = -1;
		w->occ[s->layer]--;
		w->ls[s->layer].resident--;
	}
	s->layer = s->expert = -1;
	s->state = SLOT_FREE;
	s->prefetched = false;
}

/* Cancel a slot's queued reads; false when some are in flight. */
static bool cancel_reads(struct weights *w, struct slot *s)
{
	bool ok = true;
	for (int p = 0; p < EXP_NPARTS; p++) {
		enum io_state st = iosched_state(&s->req[p]);
		if (st != IO_QUEUED && st != IO_INFLIGHT)
			continue;
		if (iosched_cancel(w->io, &s->req[p]) == 0) {
			if (s->layer >= 0) /* never read: not read bytes */
				w->ls[s->layer].bytes_read -= s->req[p].len;
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

static void start_read(struct weights *w, struct slot *s, int layer, int expert, enum io_prio prio)
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
	s->layer = layer;
	s->expert = expert;
	s->state = SLOT_LOADING;
	s->fresh = true;
	*where(w, layer, expert) = (int)(s - w->slots);
	w->occ[layer]++;
	w->ls[layer].resident++;
	iosched_submit_batch(w->io, rq, EXP_NPARTS);
}

static void touch(struct weights *w, struct slot *s)
{
	s->last_use = ++w->tick;
	s->freq++;
	/* LFU with aging: halve every count now and then, so yesterday's
	 * favourites do not hold the cache forever. */
	if (w->policy == CACHE_LFU && w->tick % ((uint64_t)w->n_slots * 8 + 64) == 0)
		for (int i = 0; i < w->n_slots; i++)
			w->slots[i].freq >>= 1;
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

int weights_experts_acquire(struct weights *w, int layer, int *want, int n)
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
		touch(w, s);
		ls->hits++;
		if (s->prefetched) {
			ls->prefetch_hits++;
			s->prefetched = false;
		}
		for (int p = 0; s->state == SLOT_LOADING && p < EXP_NPARTS; p++)
			iosched_promote(w->io, &s->req[p]);
		int t = want[k];
		want[k++] = want[i];
		want[i] = t;
	}
	int hits = k;
	/* Then misses, in the caller's order, while slots can be had. */
	for (int i = k; i < n; i++) {
		int si = pick_victim(w, layer);
		if (si < 0 && k == 0)
			si = reclaim_loading(w);
		if (si < 0)
			break;
		struct slot *s = &w->slots[si];
		evict(w, s);
		start_read(w, s, layer, want[i], IO_DEMAND);
		s->pins = 1;
		s->freq = 0;
		touch(w, s);
		ls->misses++;
		int t = want[k];
		want[k++] = want[i];
		want[i] = t;
	}
	(void)hits;
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

int weights_expert_view(struct weights *w, int layer, int expert, bool block, struct expert_view *v)
{
	const struct wexperts *e = &w->exps[layer];
	const void *part[EXP_NPARTS];
	if (!w->io) {
		for (int p = 0; p < EXP_NPARTS; p++)
			part[p] = w->maps ? file_bytes(w, e->t[p]) + (uint64_t)expert * e->slice[p]
					  : w->arena + e->off[p] + (uint64_t)expert * e->slice[p];
		view_at(e, part, v);
		return 1;
	}
	struct slot *s = &w->slots[*where(w, layer, expert)];
	if (s->state == SLOT_LOADING) {
		bool err = false, done = true;
		for (int p = 0; p < EXP_NPARTS; p++) {
			enum io_state st = iosched_state(&s->req[p]);
			if (st != IO_DONE && st != IO_ERROR && block) {
				double t0 = now_s();
				iosched_wait(w->io, &s->req[p]);
				w->io_wait_s += now_s() - t0;
				st = iosched_state(&s->req[p]);
			}
			err |= st == IO_ERROR || st == IO_CANCELLED;
			done &= st == IO_DONE;
		}
		if (err) {
			fail_slot(w, s, layer, expert);
			return -1;
		}
		if (!done)
			return 0;
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
		if (w->slots[i].layer == layer)
			w->slots[i].pins = 0;
}

void weights_prefetch(struct weights *w, int layer, const int *experts, int n)
{
	if (!w->io || !w->prefetch || layer < 0 || layer >= w->n_layers || !w->exps[layer].n_expert)
		return;
	/* Reads ahead for other layers that have not started are stale now. */
	for (int i = 0; i < w->n_slots; i++) {
		struct slot *s = &w->slots[i];
		if (s->prefetched && s->layer != layer && s->state == SLOT_LOADING && !s->pins && cancel_reads(w, s))
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
		start_read(w, s, layer, experts[i], IO_PREFETCH);
		s->prefetched = true;
		s->last_use = 0; /* inserted cold: the first to go if unused */
		s->freq = 0;
		w->ls[layer].prefetch_issued++;
	}
}

/* ---- the warm cache ----------------------------------------------------------
 *
 * When the engine exits, the experts each layer used (with counts, last
 * run's halved and added: old favourites fade) go to a hot list under
 * $XDG_CACHE_HOME/heft/, named by a hash of the model's header and
 * metadata. The next load fills the cache with each layer's hottest, up to
 * its quota, as low-priority reads in file order: one long sequential pass
 * that any demand read overtakes. */

static char *hot_list_path(const char *key)
{
	const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
	char dir[4096];
	if (xdg && *xdg == '/')
		snprintf(dir, sizeof dir, "%s/heft", xdg);
	else if (home && *home)
		snprintf(dir, sizeof dir, "%s/.cache/heft", home);
	else
		return NULL;
	size_t n = strlen(dir) + strlen(key) + 32;
	char *p = xmalloc(n);
	snprintf(p, n, "%s/hot-%s.txt", dir, key);
	return p;
}

/* mkdir -p of path's directory. */
static int make_dirs(const char *path)
{
	char d[4096];
	snprintf(d, sizeof d, "%s", path);
	for (char *s = d + 1; *s; s++)
		if (*s == '/') {
			*s = 0;
			if (mkdir(d, 0700) < 0 && errno != EEXIST)
				return -1;
			*s = '/';
		}
	return 0;
}

/* Read the hot list into uses_prev; a list that does not fit this model is
 * ignored (it only ever makes a load faster). */
static void hot_list_read(struct weights *w)
{
	FILE *fp = fopen(w->hot_path, "r");
	if (!fp)
		return;
	char line[128];
	int n_layers = -1, bad = 0;
	if (!fgets(line, sizeof line, fp) || strcmp(line, "heft-hot 1\n") ||
	    !fgets(line, sizeof line, fp) || sscanf(line, "layers %d", &n_layers) != 1 || n_layers != w->n_layers)
		bad = 1;
	while (!bad && fgets(line, sizeof line, fp)) {
		int l, e;
		unsigned long c;
		if (sscanf(line, "%d %d %lu", &l, &e, &c) != 3 || l < 0 || l >= w->n_layers || e < 0 ||
		    e >= w->exps[l].n_expert)
			bad = 1;
		else
			w->uses_prev[w->exps[l].first + e] = (uint32_t)MIN(c / 2, UINT32_MAX / 2);
	}
	fclose(fp);
	if (bad) {
		warnx_("%s: not a hot list of this model; ignored", w->hot_path);
		memset(w->uses_prev, 0, (size_t)w->plan.n_experts * sizeof *w->uses_prev);
	}
}

struct warm_pick {
	uint64_t off;
	int layer, expert;
	uint32_t count;
};

static int by_count(const void *a, const void *b)
{
	const struct warm_pick *x = a, *y = b;
	return x->count != y->count ? (x->count < y->count ? 1 : -1) : x->expert - y->expert;
}

static int by_offset(const void *a, const void *b)
{
	const struct warm_pick *x = a, *y = b;
	return x->off < y->off ? -1 : x->off > y->off;
}

static void warm_start(struct weights *w)
{
	struct warm_pick *pick = xcalloc((size_t)w->plan.n_experts, sizeof *pick), *lay;
	int n = 0;
	for (int l = 0; l < w->n_layers; l++) {
		const struct wexperts *e = &w->exps[l];
		if (!e->n_expert)
			continue;
		lay = pick + n;
		int m = 0;
		for (int x = 0; x < e->n_expert; x++)
			if (w->uses_prev[e->first + x])
				lay[m++] = (struct warm_pick){e->t[EXP_GATE]->offset + (uint64_t)x * e->slice[EXP_GATE], l, x,
							      w->uses_prev[e->first + x]};
		qsort(lay, (size_t)m, sizeof *lay, by_count);
		n += MIN(m, w->quota[l]);
	}
	qsort(pick, (size_t)n, sizeof *pick, by_offset);
	for (int i = 0; i < n && i < w->n_slots; i++) {
		struct slot *s = &w->slots[i];
		start_read(w, s, pick[i].layer, pick[i].expert, IO_PREFETCH);
		s->warm = true;
		s->freq = pick[i].count;
		s->last_use = 0;
		for (int p = 0; p < EXP_NPARTS; p++)
			w->warm_total += s->req[p].len;
	}
	/* the counters are for use, not for warming */
	for (int l = 0; l < w->n_layers; l++)
		w->ls[l].bytes_read = 0;
	free(pick);
}

static void warm_init(struct weights *w, bool warm)
{
	struct model_part_id *ids = xcalloc(w->g->n_parts, sizeof *ids);
	char err[256];
	if (model_identity(w->g, ids, err, sizeof err) == 0) {
		struct hash64 h;
		hash64_init(&h, 0x68656674686f7421ull);
		hash64_update(&h, ids, w->g->n_parts * sizeof *ids);
		char key[32];
		snprintf(key, sizeof key, "%016llx", (unsigned long long)hash64_final(&h));
		w->hot_path = hot_list_path(key);
	}
	free(ids);
	w->uses = xcalloc((size_t)w->plan.n_experts, sizeof *w->uses);
	w->uses_prev = xcalloc((size_t)w->plan.n_experts, sizeof *w->uses_prev);
	if (w->hot_path)
		hot_list_read(w);
	if (warm && w->hot_path)
		warm_start(w);
}

/* Write the hot list (atomically: a crash leaves the old one). */
static void hot_list_write(struct weights *w)
{
	uint64_t any = 0;
	for (int i = 0; i < w->plan.n_experts; i++)
		any |= w->uses[i];
	if (!w->hot_path || !any || make_dirs(w->hot_path) < 0)
		return;
	size_t n = strlen(w->hot_path) + 16;
	char *tmp = xmalloc(n);
	snprintf(tmp, n, "%s.%ld", w->hot_path, (long)getpid());
	FILE *fp = fopen(tmp, "w");
	bool ok = fp != NULL;
	if (fp) {
		fprintf(fp, "heft-hot 1\nlayers %d\n", w->n_layers);
		for (int l = 0; l < w->n_layers; l++)
			for (int x = 0; x < w->exps[l].n_expert; x++) {
				uint64_t c = (uint64_t)w->uses[w->exps[l].first + x] + w->uses_prev[w->exps[l].first + x];
				if (c)
					fprintf(fp, "%d %d %llu\n", l, x, (unsigned long long)MIN(c, UINT32_MAX));
			}
		ok = fflush(fp) == 0 && !ferror(fp) && fsync(fileno(fp)) == 0;
		ok = fclose(fp) == 0 && ok;
	}
	if (!ok || rename(tmp, w->hot_path) < 0)
		unlink(tmp);
	free(tmp);
}

/* ---- layer streaming -------------------------------------------------------- */

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
		if (!e->streamed || e->layer != layer)
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
		if (!e->streamed || e->layer != b->layer)
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
		double t0 = now_s();
		for (int i = 0; i < b->n_req; i++) {
			iosched_wait(w->io, &b->req[i]);
			if (iosched_state(&b->req[i]) != IO_DONE) {
				char why[300];
				iosched_strerror(w->io, &b->req[i], why, sizeof why);
				int k = 0;
				const char *name = "?";
				for (int j = 0; j < w->n_ent; j++)
					if (w->ent[j].streamed && w->ent[j].layer == layer && k++ == i)
						name = w->ent[j].t->name;
				snprintf(w->err, sizeof w->err, "reading layer %d's %s: %s", layer, name, why);
				w->io_wait_s += now_s() - t0;
				lbuf_drop(w, b);
				return -1;
			}
		}
		w->io_wait_s += now_s() - t0;
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

/* ---- stats ------------------------------------------------------------------ */

void weights_get_stats(struct weights *w, struct weights_stats *st)
{
	static const char *const pols[] = {"layer-lru", "lru", "lfu"};
	memset(st, 0, sizeof *st);
	const struct weights_plan *p = &w->plan;
	st->mode = p->io == WIO_STREAM ? "stream" : p->io == WIO_MMAP ? "mmap" : "ram";
	st->policy = w->io ? pols[w->policy] : "";
	st->mem_budget = p->budget;
	st->resident_bytes = p->io == WIO_MMAP ? p->dense_bytes : w->arena_bytes;
	st->cache_bytes = w->cache_bytes;
	st->slot_bytes = w->io ? p->slot_bytes : 0;
	st->n_slots = w->n_slots;
	st->n_experts_total = p->n_experts;
	st->n_layers = w->n_layers;
	st->layer = w->ls;
	for (int i = 0; i < w->n_slots; i++)
		st->slots_used += w->slots[i].layer >= 0;
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
		if (s->freq >= 2)
			out[e] |= EXPSTATE_HOT;
		if (s->fresh)
			out[e] |= EXPSTATE_NEW;
		s->fresh = false;
	}
	return n;
}
