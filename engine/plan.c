/* plan.c - the memory plan (see plan.h): sizes and a budget in, a plan out. */
#include "plan.h"

#include "iosched.h"
#include "util.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Every resident tensor starts on a 64-byte boundary of the arena. */
#define ARENA_ALIGN 64
/* Smaller tensors of a streamed layer stay resident. */
#define STREAM_MIN_TENSOR (16u << 10)

const char *const weights_io_names[WIO_COUNT] = {"auto", "ram", "stream", "mmap"};

const char *const wclass_names[WC_COUNT] = {"token embeddings", "output head", "attention", "norms",
					    "routers", "shared experts", "dense FFN", "other"};

static bool streamable(const struct plan_tensor *t)
{
	return t->layer >= 0 && t->nbytes >= STREAM_MIN_TENSOR &&
	       (t->cls == WC_ATTN || t->cls == WC_SHEXP || t->cls == WC_FFN || t->cls == WC_OTHER);
}

static int refuse(struct weights_plan *p, char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int refuse(struct weights_plan *p, char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(p->why, sizeof p->why, fmt, ap);
	va_end(ap);
	snprintf(err, errlen, "%s", p->why);
	return -1;
}

/* The experts: slot size, counts, what a token reads when nothing hits. */
static void plan_experts(const struct plan_model *m, struct weights_plan *p)
{
	for (int l = 0; l < m->n_layers; l++) {
		const struct plan_experts *e = &m->x[l];
		if (!e->n_expert)
			continue;
		uint64_t one = 0, span = 0;
		for (int q = 0; q < EXP_NPARTS; q++) {
			one += e->slice[q];
			span += iosched_span_max(e->slice[q]);
			p->expert_bytes += e->nbytes[q];
		}
		p->slot_bytes = MAX(p->slot_bytes, span);
		p->n_experts += e->n_expert;
		p->n_moe_layers++;
		p->cold_read_per_token += one * (uint64_t)MAX(m->n_used, 1);
	}
}

/* Everything in RAM (or mapped): refused only when RAM is over budget. */
static int plan_whole(struct weights_plan *p, const struct plan_opts *o, enum weights_io io, uint64_t ram_total,
		      char *err, size_t errlen)
{
	char b1[32], b2[32];
	p->total_bytes = ram_total;
	if (io == WIO_MMAP) {
		snprintf(p->why, sizeof p->why, "--io mmap: the page cache decides; no budget is enforced");
		return 0;
	}
	if (p->budget && ram_total > p->budget) {
		fmt_bytes(b1, sizeof b1, p->budget);
		fmt_bytes_up(b2, sizeof b2, ram_total);
		if (p->n_experts)
			return refuse(p, err, errlen, "the whole model needs %s in RAM, more than --mem %s; "
				      "stream its experts (--io stream or auto) or raise --mem", b2, b1);
		return refuse(p, err, errlen, "this dense model needs %s, more than --mem %s", b2, b1);
	}
	snprintf(p->why, sizeof p->why, "%s", o->io == WIO_RAM ? "--io ram" : "the whole model fits the budget");
	return 0;
}

/* Per layer, the bytes of its streamable matrices (spans: what a read of
 * them takes); the biggest. */
static uint64_t layer_bytes(const struct plan_model *m, uint64_t *lay)
{
	uint64_t most = 0;
	for (int i = 0; i < m->n_t; i++)
		if (streamable(&m->t[i]) && m->t[i].layer < m->n_layers)
			lay[m->t[i].layer] += iosched_span_max(m->t[i].nbytes);
	for (int l = 0; l < m->n_layers; l++)
		most = MAX(most, lay[l]);
	return most;
}

/* Dense bytes are used by every token: keep as many layers' resident as
 * the budget allows, streaming the last ones first (at least
 * --stream-layers of them). The two layer buffers are as big as the
 * biggest streamed layer: leading dense blocks, often the biggest, stream
 * last. Returns the budget this needs. */
static uint64_t choose_layers(struct plan_model *m, const struct plan_opts *o, struct weights_plan *p,
			      const uint64_t *lay, uint64_t need, uint64_t *sbuf)
{
	for (int l = m->n_layers - 1; l >= 0 && (need > p->budget || p->n_stream_layers < o->stream_layers); l--) {
		if (!lay[l])
			continue;
		if (lay[l] > *sbuf) {
			need += 2 * (lay[l] - *sbuf);
			*sbuf = lay[l];
		}
		m->lay_stream[l] = true;
		p->n_stream_layers++;
		need -= MIN(lay[l], need);
	}
	return need;
}

/* Routed experts through the cache, the dense part resident unless even
 * that does not fit. */
static int plan_stream(struct plan_model *m, const struct plan_opts *o, struct weights_plan *p, uint64_t embd,
		       bool embd_rowwise, char *err, size_t errlen)
{
	char b1[32], b2[32];
	uint64_t extra = m->extra;
	if (!embd_rowwise)
		p->class_bytes[WC_EMBD] += embd;
	p->dense_bytes += embd_rowwise ? 0 : embd;
	if (!p->n_experts)
		return refuse(p, err, errlen, "--io stream: the model has no routed experts to stream");

	uint64_t *lay = xcalloc((size_t)MAX(m->n_layers, 1), sizeof *lay);
	uint64_t lbuf = layer_bytes(m, lay);
	/* the budget with no layer streamed, and with all of them */
	uint64_t need0 = p->dense_bytes + extra + (uint64_t)p->min_slots * p->slot_bytes;
	uint64_t need_all = need0 + 2 * lbuf;
	for (int l = 0; l < m->n_layers; l++)
		need_all -= MIN(lay[l], need_all); /* spans bound the bytes */
	p->min_budget = MIN(need0, need_all);
	if (o->mem == PLAN_MEM_MIN)
		p->budget = p->min_budget;
	fmt_bytes(b1, sizeof b1, p->budget);
	if (p->budget < p->min_budget) {
		free(lay);
		fmt_bytes_up(b2, sizeof b2, p->min_budget);
		return refuse(p, err, errlen,
			      "--mem %s is too small: streaming needs at least %s (norms, routers, output head, "
			      "two layers' dense weights, KV cache and scratch, %d expert slots)",
			      b1, b2, p->min_slots);
	}
	uint64_t sbuf = 0, need = choose_layers(m, o, p, lay, need0, &sbuf);
	free(lay);
	if (need > p->budget) { /* --stream-layers beyond what the budget needs: its buffers did not fit */
		fmt_bytes_up(b2, sizeof b2, need);
		return refuse(p, err, errlen, "--mem %s is too small: streaming needs %s", b1, b2);
	}
	for (int i = 0; i < m->n_t; i++) {
		struct plan_tensor *t = &m->t[i];
		if (streamable(t) && m->lay_stream[t->layer]) {
			t->streamed = true;
			uint64_t b = round_up_u64(t->nbytes, ARENA_ALIGN);
			p->class_bytes[t->cls] -= MIN(b, p->class_bytes[t->cls]);
			p->dense_bytes -= MIN(b, p->dense_bytes);
			p->layer_stream_bytes += t->nbytes;
		}
	}
	p->layer_buf_bytes = p->n_stream_layers ? 2 * sbuf : 0;
	p->cold_read_per_token += p->layer_stream_bytes;
	uint64_t fixed = p->dense_bytes + p->layer_buf_bytes + extra;
	uint64_t n = p->budget > fixed ? (p->budget - fixed) / p->slot_bytes : 0;
	p->n_slots = (int)MAX(MIN(n, (uint64_t)p->n_experts), (uint64_t)p->min_slots); /* rounding: spans vs bytes */
	p->total_bytes = fixed + (uint64_t)p->n_slots * p->slot_bytes;
	snprintf(p->why, sizeof p->why, "%s%s", o->io == WIO_STREAM ? "--io stream" : "the model does not fit the budget",
		 p->n_stream_layers ? "; the dense weights do not fit either: some layers' are read per token" : "");
	return 0;
}

int plan_make(struct plan_model *m, const struct plan_opts *o, struct weights_plan *p, char *err, size_t errlen)
{
	memset(p, 0, sizeof *p);
	for (int i = 0; i < m->n_t; i++)
		m->t[i].streamed = false;
	for (int l = 0; l < m->n_layers; l++)
		m->lay_stream[l] = false;
	p->extra_bytes = m->extra;
	p->budget = o->mem == PLAN_MEM_MIN ? 0 : o->mem ? o->mem : o->default_budget;
	plan_experts(m, p);

	/* Streaming keeps everything but the experts resident, and the token
	 * embedding too unless it is read by row. */
	uint64_t embd = 0;
	bool embd_rowwise = false;
	for (int i = 0; i < m->n_t; i++) {
		const struct plan_tensor *t = &m->t[i];
		if (t->rowwise) {
			embd_rowwise = true;
			embd += round_up_u64(t->nbytes, ARENA_ALIGN);
			p->embd_file_bytes += t->nbytes;
		} else {
			p->class_bytes[t->cls] += round_up_u64(t->nbytes, ARENA_ALIGN);
		}
	}
	uint64_t dense = 0;
	for (int c = 0; c < WC_COUNT; c++)
		dense += p->class_bytes[c];
	uint64_t ram_total = dense + embd + m->extra + p->expert_bytes;
	p->min_slots = p->n_experts ? MAX(m->n_used, 1) : 0;
	p->min_budget = dense + m->extra + (uint64_t)p->min_slots * p->slot_bytes;
	enum weights_io io = o->io;
	if (o->mem == PLAN_MEM_MIN) { /* the smallest budget that streams */
		if (io == WIO_AUTO)
			io = p->n_experts ? WIO_STREAM : WIO_RAM;
		p->budget = io == WIO_STREAM ? p->min_budget : ram_total;
	}
	if (io == WIO_AUTO)
		io = !p->budget || ram_total <= p->budget || !p->n_experts ? WIO_RAM : WIO_STREAM;
	p->io = (int)io;
	p->dense_bytes = dense;
	if (io == WIO_STREAM)
		return plan_stream(m, o, p, embd, embd_rowwise, err, errlen);
	p->class_bytes[WC_EMBD] += embd;
	p->dense_bytes += embd;
	return plan_whole(p, o, io, ram_total, err, errlen);
}
