/* weights.c - resident tensors and per-expert addressing. */
#include "weights.h"

#include "quant.h"
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define ARENA_ALIGN 64

struct wentry {
	const struct gguf_tensor *t;
	uint64_t off; /* in the arena */
};

struct wexperts {
	const struct gguf_tensor *t[EXP_NPARTS];
	uint64_t off[EXP_NPARTS];
	size_t slice[EXP_NPARTS];
	int n_expert;
};

struct weights {
	const struct gguf *g;
	struct wentry *ent;
	int n_ent, cap_ent;
	struct wexperts *exps; /* per layer; n_expert 0 = none */
	int n_layers;
	unsigned char *arena;
	uint64_t arena_bytes;
};

struct weights *weights_new(const struct gguf *g)
{
	struct weights *w = xcalloc(1, sizeof *w);
	w->g = g;
	return w;
}

void weights_free(struct weights *w)
{
	if (!w)
		return;
	if (w->arena)
		munmap(w->arena, w->arena_bytes);
	free(w->ent);
	free(w->exps);
	free(w);
}

static uint64_t reserve(struct weights *w, uint64_t n)
{
	uint64_t off = w->arena_bytes;
	w->arena_bytes += (n + ARENA_ALIGN - 1) / ARENA_ALIGN * ARENA_ALIGN;
	return off;
}

int weights_add(struct weights *w, const struct gguf_tensor *t)
{
	if (w->n_ent == w->cap_ent) {
		w->cap_ent = w->cap_ent ? 2 * w->cap_ent : 64;
		w->ent = xreallocarray(w->ent, (size_t)w->cap_ent, sizeof *w->ent);
	}
	w->ent[w->n_ent].t = t;
	w->ent[w->n_ent].off = reserve(w, t->nbytes);
	return w->n_ent++;
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
		e->off[p] = reserve(w, ts[p]->nbytes);
	}
}

static int read_into(struct weights *w, const struct gguf_tensor *t, uint64_t off, char *err, size_t errlen)
{
	if (gguf_read_tensor(w->g, t, 0, w->arena + off, (size_t)t->nbytes) < 0) {
		snprintf(err, errlen, "reading tensor %s: %s", t->name, strerror(errno));
		return -1;
	}
	return 0;
}

int weights_load(struct weights *w, char *err, size_t errlen)
{
	if (w->arena_bytes == 0)
		return 0;
	/* Anonymous memory, not a file mapping: expert traffic must not be
	 * able to evict the dense weights (DESIGN.md section 7). */
	void *p = mmap(NULL, w->arena_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		char b[32];
		snprintf(err, errlen, "cannot allocate %s for weights: %s",
			 fmt_bytes(b, sizeof b, w->arena_bytes), strerror(errno));
		return -1;
	}
	w->arena = p;
	for (int i = 0; i < w->n_ent; i++)
		if (read_into(w, w->ent[i].t, w->ent[i].off, err, errlen) < 0)
			return -1;
	for (int l = 0; l < w->n_layers; l++)
		for (int q = 0; q < EXP_NPARTS && w->exps[l].n_expert; q++)
			if (read_into(w, w->exps[l].t[q], w->exps[l].off[q], err, errlen) < 0)
				return -1;
	return 0;
}

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

struct wmat weights_mat(const struct weights *w, int handle)
{
	const struct wentry *e = &w->ent[handle];
	return mat_of(e->t, w->arena + e->off, (int64_t)(e->t->nelem / e->t->ne[0]));
}

size_t weights_expert_bytes(const struct weights *w, int layer, enum expert_part p)
{
	return w->exps[layer].slice[p];
}

const void *weights_expert(struct weights *w, int layer, int expert, enum expert_part p)
{
	const struct wexperts *e = &w->exps[layer];
	return w->arena + e->off[p] + (uint64_t)expert * e->slice[p];
}

int weights_experts_get(struct weights *w, int layer, int n, const int *experts, struct expert_view *out)
{
	const struct wexperts *e = &w->exps[layer];
	for (int i = 0; i < n; i++)
		for (int p = 0; p < EXP_NPARTS; p++)
			out[i].m[p] = mat_of(e->t[p], weights_expert(w, layer, experts[i], (enum expert_part)p),
					     (int64_t)e->t[p]->ne[1]);
	return 0;
}

void weights_experts_release(struct weights *w, int layer, int n, const int *experts)
{
	/* Everything is resident: nothing to unpin yet. */
	(void)w, (void)layer, (void)n, (void)experts;
}

void weights_row_f32(const struct wmat *m, int64_t row, float *dst)
{
	qtypes[m->type].to_float((const char *)m->data + (size_t)row * m->row_bytes, dst, m->cols);
}

uint64_t weights_resident_bytes(const struct weights *w)
{
	return w->arena_bytes;
}

void weights_get_stats(struct weights *w, struct weights_stats *st)
{
	memset(st, 0, sizeof *st);
	st->mode = "ram";
	st->policy = "";
	st->resident_bytes = w->arena_bytes;
	st->n_layers = w->n_layers;
}

int weights_expert_map(struct weights *w, int layer, unsigned char *out, int cap)
{
	if (layer < 0 || layer >= w->n_layers || !w->exps[layer].n_expert)
		return 0;
	int n = w->exps[layer].n_expert;
	for (int e = 0; e < n && e < cap; e++)
		out[e] = EXPSTATE_RESIDENT;
	return n;
}
