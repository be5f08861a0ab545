/* prefill-mm.c - one thread's prefill matrix products, as the engine runs
 * them (a tool, not a test).
 *
 *   tests/bench/prefill-mm [-b BATCH] [-r REPEATS] [TYPE [ROWSxCOLS...]]
 *
 * For each shape (default: a 4096-wide llama's q, k, gate and down, Q4_K)
 * random weights meet BATCH (default 512) quantized activation rows through
 * engine/matmul.c's mm_task_here on the calling thread, with the kernels the
 * engine selects (HEFT_SIMD applies). Prints G multiply-adds per second of
 * thread CPU time, the best of REPEATS (default 3), next to the same tiles in
 * the order matmul.c ran them before activation passes (all rows past each
 * weight tile), measured alternately so machine drift falls on both. */

#include "matmul.h"
#include "quant.h"
#include "../xorshift.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double cpu_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* matmul.c's batch loop without passes: 16 weight rows x 8 activation rows. */
static void all_rows(const struct mm_task *t)
{
	const struct wmat *w = t->w;
	const struct qtype *q = qtype_get(w->type);
	size_t ab = mm_act_bytes(w);
	for (int64_t rt = 0; rt < w->rows; rt += 16) {
		int nw = (int)(w->rows - rt < 16 ? w->rows - rt : 16);
		for (int64_t j = 0; j < t->n; j += 8)
			qtype_gemm(q, w->cols, t->y + j * t->ldy + rt, (size_t)t->ldy,
				   (const char *)w->data + (size_t)rt * w->row_bytes, w->row_bytes, nw,
				   (const char *)t->xq + (size_t)j * ab, ab, (int)(t->n - j < 8 ? t->n - j : 8));
	}
}

static uint64_t rng = 88172645463325252ull;

static uint8_t rbyte(void)
{
	return (uint8_t)(xorshift(&rng) >> 24);
}

static int shape(uint32_t type, int64_t rows, int64_t cols, int batch, int repeats)
{
	const struct qtype *q = qtype_get(type);
	size_t rb = (size_t)qtype_row_bytes(type, (uint64_t)cols);
	if (!rb) {
		fprintf(stderr, "prefill-mm: %lld columns are not whole %s blocks\n", (long long)cols, q->name);
		return 1;
	}
	uint8_t *w = malloc(rb * (size_t)rows);
	float *x = malloc((size_t)cols * (size_t)batch * sizeof(float));
	void *xq = malloc(quant_act_row_bytes(type, cols) * (size_t)batch);
	float *y = malloc((size_t)rows * (size_t)batch * sizeof(float));
	if (!w || !x || !xq || !y) {
		fprintf(stderr, "prefill-mm: out of memory for %lldx%lld\n", (long long)rows, (long long)cols);
		return 1;
	}
	/* random quants; every block's leading f16 (d) a sane 0.01 */
	for (size_t i = 0; i < rb * (size_t)rows; i++)
		w[i] = rbyte();
	uint16_t h = fp32_to_fp16(0.01f);
	for (size_t i = 0; i + q->bytes <= rb * (size_t)rows; i += q->bytes) {
		memcpy(w + i, &h, 2);
		if (type == GGML_Q4_K || type == GGML_Q5_K)
			memcpy(w + i + 2, &h, 2);
		if (type == GGML_Q6_K)
			memcpy(w + i + q->bytes - 2, &h, 2);
	}
	for (size_t i = 0; i < (size_t)cols * (size_t)batch; i++)
		x[i] = sinf((float)i * 0.37f) * 2;
	mm_quantize(type, cols, x, cols, batch, xq);
	struct wmat m = {.data = w, .type = type, .cols = cols, .rows = rows, .row_bytes = rb, .name = "bench"};
	struct mm_task t = {.w = &m, .xq = xq, .n = batch, .y = y, .ldy = rows};
	double best[2] = {1e30, 1e30};
	for (int r = 0; r < repeats; r++)
		for (int k = 0; k < 2; k++) {
			int v = r % 2 ? 1 - k : k;
			double t0 = cpu_now();
			if (v)
				all_rows(&t);
			else
				mm_task_here(&t);
			double dt = cpu_now() - t0;
			if (dt < best[v])
				best[v] = dt;
		}
	double macs = (double)rows * (double)cols * batch;
	printf("%-7s %6lldx%-6lld %9.2f %9.2f %7.3f\n", q->name, (long long)rows, (long long)cols, macs / best[0] / 1e9,
	       macs / best[1] / 1e9, best[1] / best[0]);
	free(w);
	free(x);
	free(xq);
	free(y);
	return 0;
}

int main(int argc, char **argv)
{
	int batch = 512, repeats = 3, argi = 1;
	for (; argi < argc && argv[argi][0] == '-'; argi++) {
		if (!strcmp(argv[argi], "-b") && argi + 1 < argc)
			batch = atoi(argv[++argi]);
		else if (!strcmp(argv[argi], "-r") && argi + 1 < argc)
			repeats = atoi(argv[++argi]);
		else {
			fprintf(stderr, "usage: %s [-b BATCH] [-r REPEATS] [TYPE [ROWSxCOLS...]]\n", argv[0]);
			return 2;
		}
	}
	uint32_t type = GGML_Q4_K;
	if (argi < argc && !qtype_by_name(argv[argi++], &type)) {
		fprintf(stderr, "prefill-mm: unknown type %s\n", argv[argi - 1]);
		return 2;
	}
	if (batch < 2 || repeats < 1) {
		fprintf(stderr, "prefill-mm: -b must be at least 2, -r at least 1\n");
		return 2;
	}
	printf("batch %d, 1 thread; GMAC/s of thread CPU time, best of %d\n", batch, repeats);
	printf("%-7s %13s %9s %9s %7s\n", "type", "rows x cols", "matmul", "unpassed", "ratio");
	static const int64_t dflt[][2] = {{4096, 4096}, {1024, 4096}, {11008, 4096}, {4096, 11008}};
	int rc = 0;
	if (argi >= argc)
		for (size_t i = 0; i < sizeof dflt / sizeof dflt[0]; i++)
			rc |= shape(type, dflt[i][0], dflt[i][1], batch, repeats);
	for (; argi < argc; argi++) {
		long long r, c;
		if (sscanf(argv[argi], "%lldx%lld", &r, &c) != 2 || r < 1 || c < 1) {
			fprintf(stderr, "prefill-mm: bad shape %s (ROWSxCOLS)\n", argv[argi]);
			return 2;
		}
		rc |= shape(type, r, c, batch, repeats);
	}
	return rc;
}
