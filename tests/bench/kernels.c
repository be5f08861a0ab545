/* kernels.c - weight-streaming speed of every vec_dot path (a tool, not a test).
 *
 *   tests/bench/kernels [-t THREADS] [-m MB] [-n COLS] [-b BATCH] [TYPE...]
 *
 * For each type and each path this CPU runs (reference, avx2, avx512; on
 * AArch64 reference, neon, dotprod) a
 * matrix of about MB megabytes (default 64, well above the caches) of random
 * weights is multiplied by one activation row, quantized once, as a decode
 * step would; rows are split evenly between THREADS threads (default 1).
 * Prints GB/s of weight bytes, best of several passes.
 *
 * With -b BATCH > 1 (prefill), the matrix (default 16 MB) meets BATCH
 * activation rows through each path's multi-row kernel (qtype_gemm), tiled
 * as engine/matmul.c does (16 weight rows x 8 activation rows per call);
 * prints G multiply-adds per second, and in the last column the best path
 * again with its single-row vec_dot looped over the batch (quant_gemm_rows),
 * i.e. what prefill cost before the multi-row kernels. With one activation
 * row the last column is the best path's vec_dot_rows (decode's form in
 * engine/matmul.c: 16 rows a call). */

#include "cpu.h"
#include "kernels.h"
#include "quant.h"
#include "../xorshift.h"

#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const uint32_t types[] = {
	GGML_F32, GGML_F16, GGML_BF16, GGML_Q8_0, GGML_Q4_0, GGML_Q4_1, GGML_Q5_0, GGML_Q5_1,
	GGML_Q2_K, GGML_Q3_K, GGML_Q4_K, GGML_Q5_K, GGML_Q6_K, GGML_IQ4_NL, GGML_IQ4_XS,
};

#ifdef __aarch64__
#define NPATHS 3
#else
#define NPATHS 4
#endif

struct job {
	const struct qtype *q;
	const uint8_t *w;
	const void *act;
	float *out;
	int64_t n, r0, r1;
	size_t row_bytes;
	int batch;       /* activation rows; > 1: multi-row kernel */
	size_t act_bytes; /* stride of activation rows */
	int64_t rows;    /* ldy of out */
	bool by_rows;    /* batch through quant_gemm_rows instead of q->gemm */
};

static void *run_rows(void *arg)
{
	struct job *j = arg;
	if (j->batch <= 1 && j->by_rows) { /* vec_dot_rows, 16 rows a call as matmul.c's tiles */
		for (int64_t r = j->r0; r < j->r1; r += 16)
			qtype_vec_dot_rows(j->q, j->n, &j->out[r], j->w + (size_t)r * j->row_bytes, j->row_bytes,
					   j->r1 - r < 16 ? j->r1 - r : 16, j->act);
		return NULL;
	}
	if (j->batch <= 1) {
		for (int64_t r = j->r0; r < j->r1; r++)
			j->q->vec_dot(j->n, &j->out[r], j->w + (size_t)r * j->row_bytes, j->act);
		return NULL;
	}
	for (int64_t rt = j->r0; rt < j->r1; rt += 16) {
		int nw = (int)(j->r1 - rt < 16 ? j->r1 - rt : 16);
		for (int b = 0; b < j->batch; b += 8) {
			int na = j->batch - b < 8 ? j->batch - b : 8;
			float *y = j->out + (size_t)b * (size_t)j->rows + (size_t)rt;
			const uint8_t *w = j->w + (size_t)rt * j->row_bytes;
			const uint8_t *a = (const uint8_t *)j->act + (size_t)b * j->act_bytes;
			if (j->by_rows)
				quant_gemm_rows(j->q, j->n, y, (size_t)j->rows, w, j->row_bytes, nw, a, j->act_bytes, na);
			else
				qtype_gemm(j->q, j->n, y, (size_t)j->rows, w, j->row_bytes, nw, a, j->act_bytes, na);
		}
	}
	return NULL;
}

/* One thread: its CPU time, so a loaded machine's other processes do not
 * count (they still share caches and cores); more threads: wall time. */
static clockid_t clock_id = CLOCK_MONOTONIC;

static double now(void)
{
	struct timespec ts;
	clock_gettime(clock_id, &ts);
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static uint64_t rng = 88172645463325252ull;

static uint8_t rbyte(void)
{
	return (uint8_t)(xorshift(&rng) >> 24);
}

/* Random bytes, then sane f16 scales where the reference table's kernels
 * would read them: for the benchmark any finite numbers do, but NaN/inf
 * patterns in float types could slow a path down. */
static void fill(uint32_t id, const struct qtype *q, uint8_t *w, size_t bytes)
{
	for (size_t i = 0; i < bytes; i++)
		w[i] = rbyte();
	size_t nb = bytes / q->bytes;
	for (size_t i = 0; i < nb; i++) {
		uint8_t *b = w + i * q->bytes;
		uint16_t h = fp32_to_fp16(0.01f);
		switch (id) {
		case GGML_F32: {
			float v = (float)(rbyte() - 128) / 128;
			memcpy(b, &v, 4);
			break;
		}
		case GGML_F16:
		case GGML_BF16:
			b[1] &= 0x3f; /* exponent well below inf/nan */
			break;
		case GGML_Q2_K:
			memcpy(b + 80, &h, 2);
			memcpy(b + 82, &h, 2);
			break;
		case GGML_Q3_K:
			memcpy(b + 108, &h, 2);
			break;
		case GGML_Q6_K:
			memcpy(b + 208, &h, 2);
			break;
		case GGML_Q4_1:
		case GGML_Q5_1:
		case GGML_Q4_K:
		case GGML_Q5_K:
			memcpy(b, &h, 2);
			memcpy(b + 2, &h, 2);
			break;
		default:
			memcpy(b, &h, 2);
			break;
		}
	}
}

int main(int argc, char **argv)
{
	int threads = 1;
	double mb = 0;
	int64_t n = 4096;
	int batch = 1;
	int argi = 1;
	for (; argi < argc; argi++) {
		if (!strcmp(argv[argi], "-t") && argi + 1 < argc)
			threads = atoi(argv[++argi]);
		else if (!strcmp(argv[argi], "-m") && argi + 1 < argc)
			mb = atof(argv[++argi]);
		else if (!strcmp(argv[argi], "-n") && argi + 1 < argc)
			n = atoll(argv[++argi]);
		else if (!strcmp(argv[argi], "-b") && argi + 1 < argc)
			batch = atoi(argv[++argi]);
		else if (argv[argi][0] == '-') {
			fprintf(stderr, "usage: %s [-t THREADS] [-m MB] [-n COLS] [-b BATCH] [TYPE...]\n", argv[0]);
			return 2;
		} else
			break;
	}
	if (mb == 0)
		mb = batch > 1 ? 16 : 64;
	if (threads < 1 || threads > 256 || mb <= 0 || n < QK_K || n % QK_K || batch < 1 || batch > 4096) {
		fprintf(stderr, "kernels: bad -t, -m, -n or -b (n must be a multiple of 256)\n");
		return 2;
	}
	const struct cpu_features *cpu = cpu_features();
	printf("cpu: %s\n", cpu_describe());
	if (batch > 1)
		printf("%.0f MB of weights, rows of %lld, %d thread(s), batch of %d; GMAC/s, best of passes\n",
		       mb, (long long)n, threads, batch);
	else
		printf("%.0f MB of weights, rows of %lld, %d thread(s); GB/s of weight bytes, best of passes\n",
		       mb, (long long)n, threads);

	struct {
		const char *name;
		bool usable;
		struct qtype t[GGML_TYPE_COUNT];
#ifdef __aarch64__
	} paths[NPATHS] = {{"reference", true, {{0}}}, {"neon", false, {{0}}}, {"dotprod", false, {{0}}}};
	for (int p = 0; p < NPATHS; p++)
		quant_table_ref(paths[p].t);
	paths[1].usable = cpu->can_neon && kernels_neon_install(paths[1].t);
	paths[2].usable = cpu->can_dotprod && kernels_neon_install(paths[2].t) &&
			  kernels_dotprod_install(paths[2].t);
#else
	} paths[NPATHS] = {{"reference", true, {{0}}}, {"avx2", false, {{0}}}, {"avx512", false, {{0}}},
			   {"avxvnni", false, {{0}}}};
	for (int p = 0; p < NPATHS; p++)
		quant_table_ref(paths[p].t);
	paths[1].usable = cpu->can_avx2 && kernels_avx2_install(paths[1].t);
	paths[2].usable = cpu->can_avx512 && kernels_avx2_install(paths[2].t) &&
			  kernels_avx512_install(paths[2].t);
	/* the avx2 level on a CPU with AVX-VNNI (the engine's default there) */
	paths[3].usable = cpu->can_avx2 && cpu->avx_vnni && kernels_avx2_install(paths[3].t) &&
			  kernels_avxvnni_install(paths[3].t);
#endif
	if (threads == 1)
		clock_id = CLOCK_THREAD_CPUTIME_ID;

	printf("%-8s", "type");
	for (int p = 0; p < NPATHS; p++)
		printf(" %10s", paths[p].name);
	printf(" %10s", batch > 1 ? "best/rows" : "best rows");
	printf("\n");
	int best_path = paths[2].usable ? 2 : paths[1].usable ? 1 : 0;

	float *x = malloc((size_t)n * sizeof(float));
	size_t act_stride = (size_t)n * 4 + 64;
	void *act = malloc(act_stride * (size_t)batch);
	if (!x || !act)
		return 1;
	for (int64_t i = 0; i < n; i++)
		x[i] = sinf((float)i * 0.37f) * 2;

	for (size_t ti = 0; ti < sizeof types / sizeof types[0]; ti++) {
		uint32_t id = types[ti];
		const struct qtype *R = &paths[0].t[id];
		if (argi < argc) {
			bool want = false;
			for (int k = argi; k < argc; k++)
				want |= !strcasecmp(argv[k], R->name);
			if (!want)
				continue;
		}
		size_t row_bytes = (size_t)(n / R->blck) * R->bytes;
		int64_t rows = (int64_t)(mb * 1e6 / (double)row_bytes);
		if (rows < threads)
			rows = threads;
		size_t bytes = row_bytes * (size_t)rows;
		uint8_t *w = malloc(bytes);
		float *out = malloc((size_t)rows * (size_t)batch * sizeof(float));
		if (!w || !out)
			return 1;
		fill(id, R, w, bytes);
		printf("%-8s", R->name);
		fflush(stdout);
		for (int pc = 0; pc < NPATHS + 1; pc++) {
			int p = pc < NPATHS ? pc : best_path;
			bool by_rows = pc == NPATHS;
			if (!paths[p].usable) {
				printf(" %10s", "-");
				continue;
			}
			const struct qtype *Q = &paths[p].t[id];
			size_t ab = (size_t)qtype_row_bytes(Q->act_type, (uint64_t)n);
			for (int b = 0; b < batch; b++) {
				for (int64_t i = 0; i < n; i++)
					x[i] = sinf((float)(i + 7 * b) * 0.37f) * 2;
				paths[p].t[R->act_type].from_float(x, (uint8_t *)act + (size_t)b * ab, n);
			}
			double best = 1e30;
			int passes = p == 0 || by_rows ? 2 : 6;
			for (int pass = 0; pass < passes; pass++) {
				struct job jobs[256];
				pthread_t tid[256];
				double t0 = now();
				for (int k = 0; k < threads; k++) {
					jobs[k] = (struct job){Q, w, act, out, n, rows * k / threads,
							       rows * (k + 1) / threads, row_bytes, batch, ab, rows, by_rows};
					if (k > 0)
						pthread_create(&tid[k], NULL, run_rows, &jobs[k]);
				}
				run_rows(&jobs[0]);
				for (int k = 1; k < threads; k++)
					pthread_join(tid[k], NULL);
				double dt = now() - t0;
				if (dt < best)
					best = dt;
			}
			if (batch > 1)
				printf(" %10.2f", (double)rows * (double)n * batch / best / 1e9);
			else
				printf(" %10.2f", (double)bytes / best / 1e9);
			fflush(stdout);
		}
		printf("\n");
		free(w);
		free(out);
	}
	free(x);
	free(act);
	return 0;
}
