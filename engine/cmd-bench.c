/* cmd-bench.c - `heft-engine bench`: prefill and decode speed of a fixed
 * random prompt, against the memory-bandwidth bound measured here (or,
 * streaming, the disk's numbers). */
#include "commands.h"

#include "forward.h"
#include "job.h"
#include "kernels-bytes.h"
#include "kvstate.h"
#include "model.h"
#include "quant.h"
#include "report.h"
#include "sampler.h"
#include "session.h"
#include "threadpool.h"
#include "tokenizer.h"
#include "util.h"
#include "weights.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char bench_usage[] =
	"usage: heft-engine bench MODEL [-t N] [-p N] [-n N] [-b N] [--stats-json FILE] [loading flags]\n";

struct bw_job {
	const uint64_t *buf;
	size_t n; /* words */
	uint64_t sums[256];
};

/* Reads the thread's share of the buffer one word per 64-byte line (the
 * memory bus moves whole lines: every byte is read), four lines per step,
 * prefetching PREFETCH_AHEAD bytes ahead as the decode kernels do
 * (kernels-bytes.h). So few instructions per line let the core keep many
 * lines in flight: this reads the machine's real rate, a bound the kernels
 * cannot beat. Summing every 8-byte word without prefetch measured 22-24
 * GB/s where this reads 32 (2 threads), and 16-byte loads of every byte
 * stayed 5-15 % below it: decode came out above 100 % of such a bound
 * (issue 18). */
static void bw_worker(void *arg, int ith, int nth)
{
	struct bw_job *j = arg;
	long lo, hi;
	threadpool_range((long)(j->n / 32), ith, nth, &lo, &hi);
	uint64_t a = 0, b = 0, c = 0, d = 0;
	for (const uint64_t *p = j->buf + lo * 32, *e = j->buf + hi * 32; p < e; p += 32) {
		prefetch_ahead(p, 256);
		a += p[0];
		b += p[8];
		c += p[16];
		d += p[24];
	}
	j->sums[ith % 256] = a + b + c + d;
}

/* Read bandwidth of this machine with the pool's threads: best of a few
 * passes summing a buffer far larger than the caches. Bytes/s. */
static double measure_bandwidth(struct threadpool *tp)
{
	size_t bytes = (size_t)512 << 20;
	struct bw_job j = {.n = bytes / sizeof(uint64_t)};
	uint64_t *buf = xaligned_alloc(64, bytes);
	for (size_t i = 0; i < j.n; i++) /* touch every page, and defeat zero-page tricks */
		buf[i] = i;
	j.buf = buf;
	double best = 0.0;
	for (int pass = 0; pass < 5; pass++) {
		double t0 = now_sec();
		threadpool_run(tp, bw_worker, &j);
		double dt = now_sec() - t0;
		if (bytes / dt > best)
			best = bytes / dt;
	}
	uint64_t sink = 0;
	for (int i = 0; i < threadpool_size(tp) && i < 256; i++)
		sink += j.sums[i];
	if (sink == 42) /* keep the sums alive */
		fputc(' ', stderr);
	free(buf);
	return best;
}

/* Hit rate between two snapshots (NULL out: just skip). */
static void hit_window(const struct weights_stats *a, const struct weights_stats *b, double *out)
{
	uint64_t h = b->hits - a->hits, n = h + b->misses - a->misses;
	if (out)
		*out = n ? (double)h / (double)n : 0.0;
}

int cmd_bench(int argc, char **argv)
{
	struct job_opts o = {.n_prompt = 128, .n_predict = 64};
	int rc = job_parse(argc, argv, &o, bench_usage);
	if (rc >= 0)
		return rc;
	struct model *m = job_load(&o);
	if (!m)
		return 2;
	int np = (int)o.n_prompt, nd = MAX((int)o.n_predict, 2);
	int32_t *tok = xmalloc((size_t)(np + nd) * sizeof *tok);
	uint32_t seed = 12345; /* fixed prompt: runs are comparable */
	for (int i = 0; i < np + nd; i++) {
		seed = seed * 1664525u + 1013904223u;
		tok[i] = (int32_t)((seed >> 8) % (uint32_t)m->hp.n_vocab);
	}
	struct threadpool *tp = threadpool_new((int)o.mo.threads);
	int b = (int)MIN(o.mo.max_batch ? o.mo.max_batch : weights_get_plan(m->w)->batch, np);
	struct forward *f = forward_new(m, tp, np + nd, b);
	double *lat = xcalloc((size_t)nd, sizeof *lat);
	struct run_report rep = {.command = "bench", .threads = threadpool_size(tp), .batch = b};
	report_begin(&rep, m);

	double t0 = now_sec();
	const float *last = job_eval_chunks(f, tok, np, NULL, m->hp.n_vocab);
	double t1 = now_sec();
	double t_dec = 0.0;
	/* cache hits of the first and the last 16 decoded tokens: a warm
	 * start shows in the first, a cache's steady state in the last */
	struct weights_stats s0 = {0}, s1 = {0};
	int w16 = MIN(16, nd / 2);
	/* In RAM the bound is the machine's read bandwidth, measured before
	 * and after the decode: a shared machine's bandwidth moves between
	 * runs, and the faster of the two (the higher bound) is the honest
	 * one to hold the decode to. */
	weights_get_stats(m->w, &s1);
	bool in_ram = strcmp(s1.mode, "stream") != 0;
	double bw_before = in_ram && last ? measure_bandwidth(tp) : 0.0;
	for (int i = 0; i < nd && last; i++) {
		double ts = now_sec();
		if (i == 0 || i == w16 || i == nd - w16) {
			weights_get_stats(m->w, &s1);
			if (i == w16 || (i == nd - w16 && i != w16))
				hit_window(&s0, &s1, i == w16 ? &rep.hit_rate_first : NULL);
			s0 = s1;
		}
		if (!(last = forward_eval(f, &tok[np + i], 1, false)))
			warnx_("%s", forward_error(f));
		if (i > 0) { /* the first decode step warms caches and wakes threads */
			lat[i - 1] = (now_sec() - ts) * 1e3;
			t_dec += now_sec() - ts;
		}
	}
	rc = 1;
	if (last) {
		struct weights_stats st;
		weights_get_stats(m->w, &st);
		if (w16 > 0)
			hit_window(&s0, &st, &rep.hit_rate_last);
		uint64_t bpt = model_bytes_per_token(m);
		double pp = np / (t1 - t0), tg = (nd - 1) / t_dec;
		rep.prefill_tokens = np;
		rep.prefill_s = t1 - t0;
		struct forward_prefill_stats ps;
		forward_prefill_stats(f, &ps);
		rep.prefill_bytes_read = ps.bytes_read;
		rep.prefill_experts_needed_bytes = ps.experts_needed_bytes;
		rep.decode_tokens = nd - 1;
		rep.decode_s = t_dec;
		report_percentiles(lat, nd - 1, &rep.decode_p50_ms, &rep.decode_p95_ms);
		char b1[32], b2[32];
		printf("model        %s (%s, %d threads, kernels %s, io %s)\n", m->path, m->arch_name,
		       threadpool_size(tp), quant_init(), st.mode);
		printf("prefill      %d tokens  %.2f tok/s (chunks of %d)\n", np, pp, b);
		printf("decode       %d tokens  %.2f tok/s (median %.1f ms, p95 %.1f ms)\n", nd - 1, tg,
		       rep.decode_p50_ms, rep.decode_p95_ms);
		printf("bytes/token  %s (dense + %d used experts per layer + output head)\n",
		       fmt_bytes(b1, sizeof b1, bpt), m->hp.n_expert_used);
		if (!in_ram) {
			uint64_t acc = st.hits + st.misses;
			printf("cache        %d slots of %s, hit rate %.1f%%, prefetch %llu issued %.1f%% used\n",
			       st.n_slots, fmt_bytes(b2, sizeof b2, st.slot_bytes),
			       acc ? 100.0 * st.hits / acc : 0.0, (unsigned long long)st.prefetch_issued,
			       st.prefetch_issued ? 100.0 * st.prefetch_hits / st.prefetch_issued : 0.0);
			printf("disk         %s read, %.1f MB/s, I/O wait %.1f s of %.1f s\n",
			       fmt_bytes(b1, sizeof b1, st.bytes_read - rep.bytes_read0),
			       (st.bytes_read - rep.bytes_read0) / (t_dec + t1 - t0) / 1e6, st.io_wait_s,
			       t_dec + t1 - t0);
		} else {
			double bw_after = measure_bandwidth(tp), bw = MAX(bw_before, bw_after), bound = bw / (double)bpt;
			printf("bandwidth    %.2f GB/s measured (%d threads; before and after the decode %.2f, %.2f)\n",
			       bw / 1e9, threadpool_size(tp), bw_before / 1e9, bw_after / 1e9);
			printf("bound        %.2f tok/s; decode at %.1f%% of the bound\n", bound, 100.0 * tg / bound);
		}
		printf("prefill/decode per-token speedup %.2fx\n", pp / tg);
		rc = o.stats_json && report_write_json(o.stats_json, &rep, m) < 0 ? 1 : 0;
	}
	free(lat);
	forward_free(f);
	threadpool_free(tp);
	model_free(m);
	free(tok);
	return rc;
}
