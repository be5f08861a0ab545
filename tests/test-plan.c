/* test-plan.c - the memory plan from made-up tensor sizes, no files:
 * budgets, refusals, the named minimum (a figure that works when passed
 * back as --mem) and which layers' dense weights are streamed. */
#include "iosched.h"
#include "plan.h"
#include "test.h"
#include "util.h"

#include <stdio.h>
#include <string.h>

#define MAX_T 128
#define MAX_L 8
#define ATTN_BYTES 40000u /* four of these per layer: streamable (>= 16 KiB) */
#define SLICE 12288u      /* one expert's share of each of its three tensors */

struct fake {
	struct plan_tensor t[MAX_T];
	struct plan_experts x[MAX_L];
	bool lay[MAX_L];
	struct plan_model m;
	uint64_t dense;   /* resident bytes as the arena holds them */
	uint64_t experts; /* all routed experts */
};

static uint64_t a64(uint64_t n)
{
	return (n + 63) / 64 * 64;
}

static void add(struct fake *f, uint64_t nbytes, enum wclass cls, int layer)
{
	f->t[f->m.n_t++] = (struct plan_tensor){.nbytes = nbytes, .cls = cls, .layer = layer};
	f->dense += a64(nbytes);
}

/* n_layers layers of attention (4 x ATTN_BYTES), norms and a router; with
 * n_expert > 0 each has that many routed experts, 2 used per token. */
static void fake_model(struct fake *f, int n_layers, int n_expert, uint64_t extra)
{
	memset(f, 0, sizeof *f);
	f->m.t = f->t;
	f->m.x = f->x;
	f->m.lay_stream = f->lay;
	f->m.n_layers = n_layers;
	f->m.n_used = 2;
	f->m.extra = extra;
	add(f, 1u << 20, WC_EMBD, -1);
	add(f, 1u << 20, WC_OUTPUT, -1);
	add(f, 256, WC_NORM, -1);
	for (int l = 0; l < n_layers; l++) {
		for (int k = 0; k < 4; k++)
			add(f, ATTN_BYTES, WC_ATTN, l);
		add(f, 256, WC_NORM, l);
		add(f, 4096, WC_ROUTER, l);
		f->x[l].n_expert = n_expert;
		for (int p = 0; p < EXP_NPARTS; p++) {
			f->x[l].slice[p] = SLICE;
			f->x[l].nbytes[p] = (uint64_t)SLICE * (uint64_t)n_expert;
			f->experts += f->x[l].nbytes[p];
		}
	}
}

static int plan(struct fake *f, uint64_t mem, enum weights_io io, int stream_layers, struct weights_plan *p,
		char *err, size_t errlen)
{
	struct plan_opts o = {.mem = mem, .io = io, .stream_layers = stream_layers};
	err[0] = 0;
	return plan_make(&f->m, &o, p, err, errlen);
}

/* The figure after "needs" (or "needs at least"), as --mem would take it:
 * "24.9 MiB" without its space. */
static bool needed(const char *err, uint64_t *out)
{
	const char *s = strstr(err, "needs ");
	if (!s)
		return false;
	s += strlen("needs ");
	if (!strncmp(s, "at least ", 9))
		s += 9;
	char num[32], unit[8], fig[48];
	if (sscanf(s, "%31[0-9.] %7[A-Za-z]", num, unit) != 2)
		return false;
	snprintf(fig, sizeof fig, "%s%s", num, unit);
	return parse_size(fig, out);
}

static const uint64_t slot = 3 * ((SLICE + 4095) / 4096 * 4096 + 4096);

static void test_ram(void)
{
	struct fake f;
	struct weights_plan p;
	char err[256];
	fake_model(&f, 4, 8, 1000);
	uint64_t total = f.dense + f.experts + 1000;
	CHECK(plan(&f, 0, WIO_AUTO, 0, &p, err, sizeof err) == 0); /* no budget at all */
	CHECK(p.io == WIO_RAM && p.total_bytes == total && p.dense_bytes == f.dense);
	CHECK(p.n_experts == 32 && p.n_moe_layers == 4 && p.expert_bytes == f.experts);
	CHECK(p.slot_bytes == slot);
	CHECK(p.cold_read_per_token == 4 * 2 * 3 * (uint64_t)SLICE);
	CHECK(plan(&f, total, WIO_AUTO, 0, &p, err, sizeof err) == 0 && p.io == WIO_RAM);
	CHECK(strcmp(p.why, "the whole model fits the budget") == 0);
	/* --io ram over budget: refused, with what it needs */
	uint64_t need = 0;
	CHECK(plan(&f, total - 1, WIO_RAM, 0, &p, err, sizeof err) == -1);
	CHECKF(needed(err, &need) && need >= total, "%s", err);
	CHECK(strcmp(err, p.why) == 0);
	CHECK(plan(&f, need, WIO_RAM, 0, &p, err, sizeof err) == 0);
	/* mmap: the page cache decides */
	CHECK(plan(&f, 1, WIO_MMAP, 0, &p, err, sizeof err) == 0 && p.io == WIO_MMAP);
	CHECK(strstr(p.why, "page cache") != NULL);
}

static void test_dense(void)
{
	struct fake f;
	struct weights_plan p;
	char err[256];
	fake_model(&f, 3, 0, 0);
	CHECK(plan(&f, 1 << 20, WIO_AUTO, 0, &p, err, sizeof err) == -1);
	CHECKF(strstr(err, "this dense model needs") != NULL, "%s", err);
	CHECK(plan(&f, 1 << 20, WIO_STREAM, 0, &p, err, sizeof err) == -1);
	CHECKF(strstr(err, "no routed experts") != NULL, "%s", err);
	CHECK(plan(&f, PLAN_MEM_MIN, WIO_AUTO, 0, &p, err, sizeof err) == 0);
	CHECK(p.io == WIO_RAM && p.budget == f.dense && p.min_slots == 0);
}

static void test_stream(void)
{
	struct fake f;
	struct weights_plan p;
	char err[256];
	fake_model(&f, 4, 8, 5000);
	uint64_t fixed = f.dense + 5000;
	/* the budget pays for 10 slots and a bit */
	CHECK(plan(&f, fixed + 10 * slot + 100, WIO_AUTO, 0, &p, err, sizeof err) == 0);
	CHECK(p.io == WIO_STREAM && p.n_slots == 10 && p.min_slots == 2 && p.n_stream_layers == 0);
	CHECK(p.total_bytes == fixed + 10 * slot && p.dense_bytes == f.dense);
	/* never more slots than experts */
	CHECK(plan(&f, fixed + 100 * slot, WIO_STREAM, 0, &p, err, sizeof err) == 0 && p.n_slots == 32);
	/* the row-wise embedding leaves the resident part */
	f.t[0].rowwise = true;
	CHECK(plan(&f, fixed + 10 * slot, WIO_STREAM, 0, &p, err, sizeof err) == 0);
	CHECK(p.class_bytes[WC_EMBD] == 0 && p.embd_file_bytes == 1u << 20);
	CHECK(p.dense_bytes == f.dense - (1u << 20));
	CHECK(plan(&f, 0, WIO_RAM, 0, &p, err, sizeof err) == 0 && p.class_bytes[WC_EMBD] == 1u << 20);
}

/* The smallest budget: named, accepted, and one byte less is not. */
static void test_minimum(void)
{
	struct fake f;
	struct weights_plan p;
	char err[256];
	fake_model(&f, 4, 8, 7777);
	CHECK(plan(&f, PLAN_MEM_MIN, WIO_AUTO, 0, &p, err, sizeof err) == 0);
	CHECK(p.io == WIO_STREAM && p.budget == p.min_budget && p.n_slots == p.min_slots);
	uint64_t min = p.min_budget;
	CHECK(plan(&f, min, WIO_AUTO, 0, &p, err, sizeof err) == 0 && p.io == WIO_STREAM);
	CHECK(plan(&f, min - 1, WIO_AUTO, 0, &p, err, sizeof err) == -1);
	CHECKF(strstr(err, "2 expert slots") != NULL, "%s", err);
}

/* Whatever figure a refusal names, passed back as --mem, works: over many
 * sizes, about half of which a round-to-nearest figure would undercut. */
static void test_figure_works(void)
{
	struct fake f;
	struct weights_plan p;
	char err[256];
	int tried = 0, bad = 0;
	for (uint64_t extra = 1; extra < (64u << 20); extra = extra * 3 / 2 + 4099) {
		for (int sl = 0; sl <= 1; sl++) {
			/* too little for anything; or, with one layer, enough with its
			 * dense part resident but not for --stream-layers 1's buffers */
			fake_model(&f, sl ? 1 : 4, 8, extra);
			uint64_t need, mem = sl ? f.dense + extra + 2 * slot + ATTN_BYTES : 1u << 20;
			if (plan(&f, mem, WIO_STREAM, sl, &p, err, sizeof err) == 0)
				continue;
			tried++;
			if (!needed(err, &need)) {
				CHECKF(0, "no figure in: %s", err);
				continue;
			}
			if (plan(&f, need, WIO_STREAM, sl, &p, err, sizeof err) != 0) {
				if (!bad++)
					fprintf(stderr, "the named minimum is refused: %s\n", err);
			}
		}
	}
	CHECKF(tried >= 40 && bad == 0, "%d of %d named minimums refused when passed back", bad, tried);
}

/* Too little even for the dense part: the last layers' big matrices are
 * read per token, as few layers as the budget allows. */
static void test_layers(void)
{
	struct fake f;
	struct weights_plan p;
	char err[256];
	fake_model(&f, 6, 8, 0);
	uint64_t L = 4 * iosched_span_max(ATTN_BYTES); /* a layer's streamable span */
	uint64_t need0 = f.dense + 2 * slot;
	CHECK(plan(&f, PLAN_MEM_MIN, WIO_STREAM, 0, &p, err, sizeof err) == 0);
	CHECK(p.min_budget == need0 + 2 * L - 6 * L); /* all layers streamed */
	/* one byte short of keeping everything: k layers with need0 + 2L - kL
	 * <= budget, i.e. 3 */
	CHECK(plan(&f, need0 - 1, WIO_STREAM, 0, &p, err, sizeof err) == 0);
	CHECK(p.n_stream_layers == 3);
	for (int l = 0; l < 6; l++)
		CHECKF(f.lay[l] == (l >= 3), "layer %d streamed: %d", l, f.lay[l]);
	for (int i = 0; i < f.m.n_t; i++)
		CHECKF(f.t[i].streamed == (f.t[i].layer >= 3 && f.t[i].cls == WC_ATTN), "tensor %d", i);
	CHECK(p.layer_buf_bytes == 2 * L);
	CHECK(p.layer_stream_bytes == 3 * 4 * (uint64_t)ATTN_BYTES);
	CHECK(p.dense_bytes == f.dense - 3 * 4 * a64(ATTN_BYTES));
	CHECK(p.cold_read_per_token == 6 * 2 * 3 * (uint64_t)SLICE + p.layer_stream_bytes);
	CHECK(strstr(p.why, "read per token") != NULL);
	/* --stream-layers: at least that many, even when all would fit */
	CHECK(plan(&f, need0 + 100 * slot, WIO_STREAM, 2, &p, err, sizeof err) == 0);
	CHECK(p.n_stream_layers == 2 && f.lay[5] && f.lay[4] && !f.lay[3]);
	/* and a plan made again forgets the last one's choices */
	CHECK(plan(&f, need0 + 100 * slot, WIO_STREAM, 0, &p, err, sizeof err) == 0);
	CHECK(p.n_stream_layers == 0 && !f.lay[5] && !f.t[f.m.n_t - 3].streamed);
}

int main(void)
{
	test_ram();
	test_dense();
	test_stream();
	test_minimum();
	test_figure_works();
	test_layers();
	return test_done("test-plan");
}
