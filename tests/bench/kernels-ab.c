/* kernels-ab.c - one revision's single-row x86 kernels against this tree's,
 * bit for bit and in speed (a tool, not a test; tests/bench/kernels-ab.sh
 * builds it).
 *
 * The old revision's kernels-avx2.c / kernels-avx512.c are compiled with
 * their installers renamed old_avx2_install / old_avx512_install. For each
 * type: 3000 rows of random blocks (f16 scales kept in a sane range) against
 * random activations, quantized as the engine does; every result of the old
 * vec_dot must equal the new one's bits. Then both loop over an L2-resident
 * matrix, interleaved, best of 40 passes: GB/s of weight bytes and new/old.
 * The very-low-bit kernels (kernels-lowbit-avx2.c, compiled twice) too.
 *
 *   kernels-ab COLS [MEM_MIB [THREADS]]
 *
 * With MEM_MIB the matrix is that big instead (make it several times the
 * last-level cache: decode reads its weights from RAM, where software
 * prefetch matters and L2 speed says nothing), THREADS threads (default 1)
 * split its rows as the engine's decode does, best of 5 passes.
 * Exits 1 if any product differs. */

#include "kernels.h"
#include "quant.h"
#include "../xorshift.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

bool old_avx2_install(struct qtype *t);
bool old_avx512_install(struct qtype *t);
bool old_lowbit_avx2_install(struct qtype *t);
bool old_lowbit_avx512_install(struct qtype *t);

static size_t mem_bytes; /* 0: the L2-resident matrix */
static int n_threads = 1;

static uint64_t st = 88172645463325252ull;

static uint64_t rnd(void)
{
	return xorshift(&st);
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Random bytes, then each block's f16 scale(s) set to 2^-7..2^-5. */
static void fill(uint8_t *w, size_t bytes, const struct qtype *q, int t)
{
	size_t i = 0;
	for (; i + 8 <= bytes; i += 8) {
		uint64_t r = rnd();
		memcpy(w + i, &r, 8);
	}
	for (; i < bytes; i++)
		w[i] = (uint8_t)rnd();
	for (size_t b = 0; b < bytes; b += q->bytes) {
		uint16_t h1 = (uint16_t)(0x2000 + rnd() % 0x1000), h2 = (uint16_t)(0x2000 + rnd() % 0x1000);
		if (t == GGML_Q6_K || t == GGML_Q3_K) {
			memcpy(w + b + q->bytes - 2, &h1, 2);
		} else if (t == GGML_Q2_K) {
			memcpy(w + b + q->bytes - 4, &h1, 2);
			memcpy(w + b + q->bytes - 2, &h2, 2);
		} else {
			memcpy(w + b, &h1, 2);
			if (t == GGML_Q4_K || t == GGML_Q5_K)
				memcpy(w + b + 2, &h2, 2);
		}
	}
}

/* One pass of q->vec_dot over rows [r0, r1) of the matrix. */
struct pass {
	const struct qtype *q;
	const uint8_t *w, *a;
	size_t rb;
	int64_t n;
	int r0, r1;
	float sink;
};

static void *pass_rows(void *arg)
{
	struct pass *p = arg;
	float y, sum = 0;
	for (int r = p->r0; r < p->r1; r++) {
		p->q->vec_dot(p->n, &y, p->w + (size_t)r * p->rb, p->a);
		sum += y;
	}
	p->sink = sum;
	return NULL;
}

/* Seconds for one pass over rows rows, split in n_threads contiguous ranges. */
static double timed_pass(const struct qtype *q, const uint8_t *w, const uint8_t *a, size_t rb, int64_t n, int rows)
{
	struct pass p[16];
	pthread_t th[16];
	int nt = n_threads;
	double t0 = now();
	for (int k = 0; k < nt; k++) {
		p[k] = (struct pass){.q = q, .w = w, .a = a, .rb = rb, .n = n, .r0 = (int)((int64_t)rows * k / nt),
				     .r1 = (int)((int64_t)rows * (k + 1) / nt)};
		if (k > 0 && pthread_create(&th[k], NULL, pass_rows, &p[k]))
			abort();
	}
	pass_rows(&p[0]);
	for (int k = 1; k < nt; k++)
		pthread_join(th[k], NULL);
	return now() - t0;
}

static int run(const char *path, struct qtype *o, struct qtype *nw, int64_t n)
{
	static const int types[] = {GGML_Q4_K, GGML_Q5_K, GGML_Q6_K, GGML_Q8_0, GGML_Q4_0, GGML_IQ4_XS, GGML_Q2_K,
				    GGML_Q3_K, GGML_F16, GGML_IQ2_XXS, GGML_IQ3_XXS, GGML_IQ1_S, GGML_MXFP4};
	size_t cap = mem_bytes ? mem_bytes : 1 << 20;
	uint8_t *w = malloc(cap), *a = malloc(1 << 20);
	float *x = malloc((size_t)n * sizeof *x);
	if (!w || !a || !x)
		abort();
	int bad = 0;
	for (size_t ti = 0; ti < sizeof types / sizeof *types; ti++) {
		int t = types[ti];
		if (!o[t].vec_dot || !nw[t].vec_dot || n % o[t].blck)
			continue;
		size_t rb = (size_t)n / o[t].blck * o[t].bytes;
		long diff = 0;
		for (int it = 0; it < 3000; it++) {
			fill(w, rb, &o[t], t);
			for (int64_t i = 0; i < n; i++)
				x[i] = (float)((double)(int64_t)rnd() / 9.2e18 * (it % 7 + 1));
			if (t == GGML_F16)
				memcpy(a, x, (size_t)n * sizeof *x);
			else
				quant_act_row((uint32_t)t, x, a, n);
			float y0, y1;
			o[t].vec_dot(n, &y0, w, a);
			nw[t].vec_dot(n, &y1, w, a);
			if (memcmp(&y0, &y1, sizeof y0) && diff++ < 3)
				printf("%s %s: %.9g (old) vs %.9g (new)\n", path, o[t].name, y0, y1);
		}
		int rows = (int)(cap / rb);
		fill(w, rb * (size_t)rows, &o[t], t);
		double best[2] = {1e9, 1e9};
		for (int rep = 0; rep < (mem_bytes ? 5 : 40); rep++)
			for (int k = 0; k < 2; k++) {
				double dt = timed_pass(k ? &nw[t] : &o[t], w, a, rb, n, rows);
				if (dt < best[k])
					best[k] = dt;
			}
		printf("| %s | %s | %lld | %ld | %.2f | %.2f | %.3f |\n", path, o[t].name, (long long)n, diff,
		       (double)(rb * (size_t)rows) / best[0] / 1e9, (double)(rb * (size_t)rows) / best[1] / 1e9,
		       best[0] / best[1]);
		bad += diff != 0;
	}
	free(w);
	free(a);
	free(x);
	return bad;
}

int main(int argc, char **argv)
{
	int64_t n = argc > 1 ? atoll(argv[1]) : 4096;
	mem_bytes = argc > 2 ? (size_t)atoll(argv[2]) << 20 : 0;
	n_threads = argc > 3 ? atoi(argv[3]) : 1;
	if (n <= 0 || n_threads < 1 || n_threads > 16) {
		fprintf(stderr, "usage: kernels-ab COLS [MEM_MIB [THREADS (1..16)]]\n");
		return 2;
	}
	quant_init();
	printf("matrix %s, %d thread%s\n", mem_bytes ? "from RAM" : "in L2", n_threads, n_threads > 1 ? "s" : "");
	printf("| path | type | cols | differ (of 3000) | old GB/s | new GB/s | new/old |\n|---|---|---|---|---|---|---|\n");
	static struct qtype o[GGML_TYPE_COUNT], nw[GGML_TYPE_COUNT];
	int bad = 0;
	quant_table_ref(o);
	quant_table_ref(nw);
	if (old_avx2_install(o) && old_lowbit_avx2_install(o) && kernels_avx2_install(nw) &&
	    kernels_lowbit_avx2_install(nw))
		bad += run("avx2", o, nw, n);
	quant_table_ref(o);
	quant_table_ref(nw);
	if (old_avx2_install(o) && old_avx512_install(o) && old_lowbit_avx2_install(o) &&
	    old_lowbit_avx512_install(o) && kernels_avx2_install(nw) && kernels_avx512_install(nw) &&
	    kernels_lowbit_avx2_install(nw) && kernels_lowbit_avx512_install(nw))
		bad += run("avx512", o, nw, n);
	return bad != 0;
}
