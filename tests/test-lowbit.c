/* test-lowbit.c - the very-low-bit types (IQ1_S ... MXFP4).
 *
 * 1. Reference: on random valid blocks, vec_dot(w, Q8(x)) must equal
 *    dot(to_float(w), x) within what quantizing the activations can move it.
 * 2. SIMD: every path this CPU runs against the reference, on random blocks
 *    with ordinary, extreme, subnormal and zero scales, zero blocks, odd
 *    addresses and awkward activations: within 1e-5 of sum |w*a| (the
 *    integer parts are exact, only float addition order differs).
 * 3. Real data: the fixture families carry one random float model in F16
 *    and in these presets; every tensor of our types, dequantized, must be
 *    as close to its F16 twin as the type can be (relative RMS bounds,
 *    measured, with a margin that a wrong grid index, sign or scale breaks).
 * HEFT_BENCH=1 also prints the dot products' throughput in weight GB/s. */

#include "cpu.h"
#include "gguf.h"
#include "kernels.h"
#include "quant-lowbit.h"
#include "quant.h"
#include "test.h"

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define TEST_RNG_SEED 0x13198a2e03707344ull
#include "test-rng.h"

static double unif(void)
{
	return (double)(rnd() >> 11) * 0x1p-53;
}

static float gauss(void)
{
	double u = unif() + 1e-300, v = unif();
	return (float)(sqrt(-2 * log(u)) * cos(6.283185307179586 * v));
}

/* The ten types; scale says where the block scale lives. */
enum scale_kind { F16_AT, IQ1M_NIBBLES, E8M0_AT };
static const struct ltype {
	uint32_t id;
	enum scale_kind kind;
	size_t off;
	double bound; /* relative RMS error against the F16 fixtures */
	const char *family, *preset;
} ltypes[] = {
	{GGML_IQ1_S, F16_AT, offsetof(struct block_iq1_s, d), 0, "deepseek2", "IQ1_S"},
	{GGML_IQ1_M, IQ1M_NIBBLES, 0, 0, "deepseek2", "IQ1_M"},
	{GGML_IQ2_XXS, F16_AT, offsetof(struct block_iq2_xxs, d), 0, "deepseek2", "IQ2_XXS"},
	{GGML_IQ2_XS, F16_AT, offsetof(struct block_iq2_xs, d), 0, "glm4moe", "IQ2_XS"},
	{GGML_IQ2_S, F16_AT, offsetof(struct block_iq2_s, d), 0, "glm4moe", "IQ2_S"},
	{GGML_IQ3_XXS, F16_AT, offsetof(struct block_iq3_xxs, d), 0, "glm4moe", "IQ3_XXS"},
	{GGML_IQ3_S, F16_AT, offsetof(struct block_iq3_s, d), 0, "glm4moe", "IQ3_S"},
	{GGML_TQ1_0, F16_AT, offsetof(struct block_tq1_0, d), 0, "gpt-oss", "TQ1_0"},
	{GGML_TQ2_0, F16_AT, offsetof(struct block_tq2_0, d), 0, "gpt-oss", "TQ2_0"},
	{GGML_MXFP4, E8M0_AT, offsetof(struct block_mxfp4, e), 0, "gpt-oss", "MXFP4_MOE"},
};
#define NLTYPES (sizeof ltypes / sizeof ltypes[0])

/* Relative RMS error bounds of part 3: the worst fixture tensor measured
 * (0.502 0.471 0.352 0.309 0.254 0.189 0.167 0.812 0.812 0.115) plus about
 * 5% (4% for TQ*): the fixtures are fixed files, so the numbers do not
 * move, and a margin this tight still catches bugs that touch only a few
 * elements per block (a TQ1_0 decoder that misreads the 16 qh elements
 * gives 0.856; IQ3_XXS with every scale one step high 0.222). */
#define BOUND_IQ1_S 0.53
#define BOUND_IQ1_M 0.50
#define BOUND_IQ2_XXS 0.37
#define BOUND_IQ2_XS 0.325
#define BOUND_IQ2_S 0.27
#define BOUND_IQ3_XXS 0.199
#define BOUND_IQ3_S 0.176
#define BOUND_TQ1_0 0.845
#define BOUND_TQ2_0 0.845
#define BOUND_MXFP4 0.121

static struct qtype ref[GGML_TYPE_COUNT];

/* A finite f16 scale: ordinary, extreme, subnormal or zero. */
static uint16_t f16_scale(int kind)
{
	uint16_t sign = (uint16_t)(rnd() & 1) << 15;
	switch (kind) {
	case 0:
		return (uint16_t)(sign | (1 + rnd() % 17) << 10 | (rnd() & 0x3ff));
	case 1:
		return (uint16_t)(sign | (27 + rnd() % 4) << 10 | (rnd() & 0x3ff));
	case 2:
		return (uint16_t)(sign | (1 + rnd() % 0x3ff));
	default:
		return sign;
	}
}

static void set_scale(const struct ltype *lt, uint8_t *b, int kind)
{
	if (lt->kind == E8M0_AT) { /* 2^(e-128): ordinary, large, subnormal, tiny */
		static const int lo[4] = {110, 135, 0, 2}, span[4] = {25, 6, 2, 20};
		b[lt->off] = (uint8_t)(lo[kind] + (int)(rnd() % (uint64_t)span[kind]));
		return;
	}
	uint16_t h = f16_scale(kind);
	if (lt->kind == F16_AT) {
		b[lt->off] = (uint8_t)h;
		b[lt->off + 1] = (uint8_t)(h >> 8);
		return;
	}
	uint8_t *sc = b + offsetof(struct block_iq1_m, scales); /* top nibble of each u16 */
	for (int k = 0; k < 4; k++)
		sc[2 * k + 1] = (uint8_t)((sc[2 * k + 1] & 0x0f) | ((h >> 4 * k) & 15) << 4);
}

/* Random bytes (every bit pattern of these layouts decodes), then a scale
 * of the wanted kind (-1: random kind); some blocks all zero. */
static void random_weights(const struct ltype *lt, uint8_t *w, int64_t n, int kind_wanted)
{
	const struct qtype *q = &ref[lt->id];
	for (int64_t i = 0; i < n / q->blck; i++) {
		uint8_t *b = w + i * q->bytes;
		for (uint32_t k = 0; k < q->bytes; k++)
			b[k] = (uint8_t)rnd();
		int kind = kind_wanted;
		if (kind < 0) {
			kind = (int)(rnd() % 10);
			kind = kind < 6 ? 0 : kind - 6;
		}
		set_scale(lt, b, kind);
		if (kind_wanted < 0 && rnd() % 12 == 0)
			memset(b, 0, q->bytes);
	}
}

/* Activations in runs of 32: ordinary, huge, tiny, zero, or one spike. */
static void random_acts(float *x, int64_t n, bool awkward)
{
	for (int64_t i = 0; i < n; i += 32) {
		int kind = awkward ? (int)(rnd() % 8) : 7;
		float scale = powf(10.0f, (float)(rnd() % 7) - 3);
		for (int64_t j = i; j < i + 32; j++) {
			switch (kind) {
			case 0: x[j] = gauss() * 3e3f; break;
			case 1: x[j] = gauss() * 1e-39f; break;
			case 2: x[j] = 0; break;
			case 3: x[j] = j == i + 5 ? 7.5f : gauss() * 1e-3f; break;
			default: x[j] = gauss() * scale; break;
			}
		}
	}
}

#define MAXN (QK_K * 17)
static uint8_t *wbuf, *abuf;
static float *xbuf, *wf, *af;

/* ---- 1. reference dot product against the dequantized row ---- */
static void test_reference(void)
{
	printf("1. reference vec_dot vs dequantized dot:\n");
	for (size_t k = 0; k < NLTYPES; k++) {
		const struct ltype *lt = &ltypes[k];
		const struct qtype *q = &ref[lt->id], *A = &ref[q->act_type];
		CHECKF(q->to_float && q->vec_dot, "%s: no reference kernels", q->name);
		if (!q->to_float || !q->vec_dot)
			continue;
		CHECK(q->act_type == (q->blck == QK_K ? GGML_Q8_K : GGML_Q8_0));
		double worst = 0;
		int fails = 0;
		for (int rep = 0; rep < 200; rep++) {
			int64_t n = q->blck * (1 + (int64_t)(rnd() % (q->blck == QK_K ? 8 : 64)));
			random_weights(lt, wbuf, n, 0);
			random_acts(xbuf, n, false);
			q->to_float(wbuf, wf, n);
			A->from_float(xbuf, abuf, n);
			double want = 0, mag = 0, qerr = 0;
			for (int64_t j = 0; j < n; j += A->blck) {
				float amax = 0;
				for (int64_t e = j; e < j + A->blck; e++)
					amax = fmaxf(amax, fabsf(xbuf[e]));
				for (int64_t e = j; e < j + A->blck; e++) {
					want += (double)wf[e] * xbuf[e];
					mag += fabs((double)wf[e] * xbuf[e]);
					qerr += fabs((double)wf[e]) * amax / 127 * 0.5;
				}
			}
			float got = 0;
			q->vec_dot(n, &got, wbuf, abuf);
			/* Half a step of the activation scale per element (Q8_0's
			 * f16 scale rounds: up to 127 * 2^-11 of a step more), plus
			 * float rounding. */
			double tol = qerr * (A->blck == QK_K ? 1.01 : 1.15) + 1e-5 * mag + 1e-30;
			double err = fabs(got - want);
			worst = fmax(worst, err / tol);
			if (!(err <= tol) && fails++ < 3)
				CHECKF(0, "%s n=%lld: vec_dot %.9g, dequantized dot %.9g (tolerance %.3g)", q->name,
				       (long long)n, got, want, tol);
		}
		printf("  %-8s act %-4s worst error %.2f of the tolerance%s\n", q->name, A->name, worst,
		       fails ? "  FAILED" : "");
	}
}

/* ---- 2. SIMD paths against the reference ---- */
#ifdef __aarch64__
static bool install_neon(struct qtype *t)
{
	return kernels_neon_install(t) && kernels_lowbit_neon_install(t);
}

static bool install_dotprod(struct qtype *t)
{
	return install_neon(t) && kernels_dotprod_install(t) && kernels_lowbit_dotprod_install(t);
}
#else
static bool install_avx2(struct qtype *t)
{
	return kernels_avx2_install(t) && kernels_lowbit_avx2_install(t);
}

static bool install_avx512(struct qtype *t)
{
	return install_avx2(t) && kernels_avx512_install(t) && kernels_lowbit_avx512_install(t);
}

#endif

struct path {
	const char *name;
	bool (*install)(struct qtype *t);
	struct qtype table[GGML_TYPE_COUNT];
	bool ok;
};

#ifdef __aarch64__
static struct path paths[] = {
	{"neon", install_neon, {{0}}, false},
	{"dotprod", install_dotprod, {{0}}, false},
};
#define PATH_CAN(cpu) {(cpu)->can_neon, (cpu)->can_dotprod}
#else
static struct path paths[] = {
	{"avx2", install_avx2, {{0}}, false},
	{"avx512", install_avx512, {{0}}, false},
};
#define PATH_CAN(cpu) {(cpu)->can_avx2, (cpu)->can_avx512}
#endif
#define NPATHS (sizeof paths / sizeof paths[0])

static void test_simd_type(const struct ltype *lt, const struct path *p)
{
	const struct qtype *R = &ref[lt->id], *S = &p->table[lt->id], *A = &ref[R->act_type];
	if (S->vec_dot == R->vec_dot) {
		CHECKF(0, "%s/%s: the path has no dot product of its own", p->name, R->name);
		return;
	}
	static const int64_t blocks[] = {1, 2, 3, 4, 5, 7, 16, 17};
	double worst = 0;
	long dots = 0;
	int fails = 0;
	for (size_t li = 0; li < sizeof blocks / sizeof blocks[0]; li++) {
		int64_t n = blocks[li] * R->blck;
		for (int rep = 0; rep < 40; rep++) {
			uint8_t *w = wbuf + 1 + rep % 3; /* rows are not aligned */
			uint8_t *a = abuf + 1 + rep % 5;
			random_weights(lt, w, n, -1);
			random_acts(xbuf, n, true);
			A->from_float(xbuf, a, n);
			float sr = 0, ss = 0;
			R->vec_dot(n, &sr, w, a);
			S->vec_dot(n, &ss, w, a);
			R->to_float(w, wf, n);
			A->to_float(a, af, n);
			double mag = 0;
			for (int64_t j = 0; j < n; j++)
				mag += fabs((double)wf[j] * af[j]);
			double err = fabs((double)sr - (double)ss);
			dots++;
			if (mag > 0)
				worst = fmax(worst, err / mag);
			if (!(isfinite(sr) && isfinite(ss) && err <= 1e-5 * mag) && fails++ < 3)
				CHECKF(0, "%s/%s n=%lld: ref %.9g simd %.9g (|err| %.3g, sum|wa| %.3g)", p->name,
				       R->name, (long long)n, sr, ss, err, mag);
		}
	}
	printf("  %-8s %5ld dots, worst |err| / sum|wa| %.2e%s\n", R->name, dots, worst,
	       fails ? "  FAILED" : "");
}

static void test_simd(void)
{
	const struct cpu_features *cpu = cpu_features();
	bool can[NPATHS] = PATH_CAN(cpu);
	printf("2. SIMD vs reference (%s):\n", cpu_describe());
	for (size_t p = 0; p < NPATHS; p++) {
		quant_table_ref(paths[p].table);
		if (!can[p]) {
			printf(" %s: skipped, this CPU/OS cannot run it\n", paths[p].name);
			continue;
		}
		if (!paths[p].install(paths[p].table)) {
			printf(" %s: skipped, built without it\n", paths[p].name);
			continue;
		}
		paths[p].ok = true;
		printf(" %s:\n", paths[p].name);
		for (size_t k = 0; k < NLTYPES; k++)
			test_simd_type(&ltypes[k], &paths[p]);
	}
	/* The active table carries the best path's rows. */
	const char *level = quant_init();
	for (size_t p = 0; p < NPATHS; p++) {
		if (strcmp(level, paths[p].name))
			continue;
		for (size_t k = 0; k < NLTYPES; k++)
			CHECKF(qtype_get(ltypes[k].id)->vec_dot == paths[p].table[ltypes[k].id].vec_dot,
			       "active %s row is not the %s one", ref[ltypes[k].id].name, level);
	}
	for (size_t k = 0; k < NLTYPES; k++)
		CHECKF(qtype_supported(ltypes[k].id), "%s: not supported by the active table",
		       ref[ltypes[k].id].name);
}

static volatile float bench_sink; /* keeps the timed calls */

/* Weight GB/s of the dot products: rows of 4096 against one activation
 * row, as a matrix-vector product streams them. */
static void bench(void)
{
	const int64_t n = 4096;
	const int rows = 1024;
	printf("throughput (weight GB/s, one thread, %d rows of %lld, data in cache):\n", rows, (long long)n);
	printf("  %-8s %9s", "type", "reference");
	for (size_t p = 0; p < NPATHS; p++)
		if (paths[p].ok)
			printf(" %9s", paths[p].name);
	printf("\n");
	for (size_t k = 0; k < NLTYPES; k++) {
		const struct ltype *lt = &ltypes[k];
		const struct qtype *R = &ref[lt->id];
		size_t rb = (size_t)(n / R->blck * R->bytes);
		uint8_t *w = malloc(rb * (size_t)rows);
		uint8_t *a = malloc((size_t)quant_act_row_bytes(lt->id, n) + 64);
		if (!w || !a)
			abort();
		random_weights(lt, w, n * rows, 0);
		random_acts(xbuf, n, false);
		ref[R->act_type].from_float(xbuf, a, n);
		printf("  %-8s", R->name);
		for (int p = -1; p < (int)NPATHS; p++) {
			if (p >= 0 && !paths[p].ok)
				continue;
			vec_dot_fn dot = p < 0 ? R->vec_dot : paths[p].table[lt->id].vec_dot;
			int reps = p < 0 ? 1 : 20;
			struct timespec t0, t1;
			clock_gettime(CLOCK_MONOTONIC, &t0);
			for (int r = 0; r < reps; r++)
				for (int i = 0; i < rows; i++) {
					float s;
					dot(n, &s, w + (size_t)i * rb, a);
					bench_sink = s;
				}
			clock_gettime(CLOCK_MONOTONIC, &t1);
			double sec = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
			printf(" %9.2f", (double)rb * rows * reps / sec / 1e9);
		}
		printf("\n");
		free(w);
		free(a);
	}
}

/* ---- 3. accuracy against the F16 fixtures ---- */
struct acc {
	int tensors;
	double err2, ref2, worst;
	uint64_t nelem;
};

static void *read_tensor(const struct gguf *g, const struct gguf_tensor *t)
{
	void *p = malloc(t->nbytes ? t->nbytes : 1);
	if (!p)
		abort();
	if (gguf_read_tensor(g, t, 0, p, t->nbytes) < 0) {
		free(p);
		return NULL;
	}
	return p;
}

/* Dequantize every tensor of our types in file q and its F16 twin in f. */
static void compare_file(const char *path, const struct gguf *q, const struct gguf *f, struct acc *st)
{
	for (size_t i = 0; i < q->n_tensors; i++) {
		const struct gguf_tensor *t = &q->tensors[i];
		size_t k;
		for (k = 0; k < NLTYPES && ltypes[k].id != t->type; k++)
			;
		if (k == NLTYPES)
			continue;
		const struct gguf_tensor *tf = gguf_find_tensor(f, t->name);
		if (!tf || tf->nelem != t->nelem || !ref[tf->type].to_float) {
			CHECKF(0, "%s: %s: no float twin of the same shape", path, t->name);
			continue;
		}
		void *qd = read_tensor(q, t), *fd = read_tensor(f, tf);
		float *yq = malloc(t->nelem * 4), *yf = malloc(t->nelem * 4);
		if (!yq || !yf)
			abort();
		if (!qd || !fd) {
			CHECKF(0, "%s: %s: read failed", path, t->name);
		} else {
			ref[t->type].to_float(qd, yq, (int64_t)t->nelem);
			ref[tf->type].to_float(fd, yf, (int64_t)t->nelem);
			double e2 = 0, r2 = 0;
			for (uint64_t j = 0; j < t->nelem; j++) {
				double d = (double)yq[j] - yf[j];
				e2 += d * d;
				r2 += (double)yf[j] * yf[j];
			}
			struct acc *a = &st[k];
			a->tensors++;
			a->err2 += e2;
			a->ref2 += r2;
			a->nelem += t->nelem;
			a->worst = fmax(a->worst, r2 > 0 ? sqrt(e2 / r2) : (e2 > 0 ? INFINITY : 0));
		}
		free(qd);
		free(fd);
		free(yq);
		free(yf);
	}
}

/* A wrong sign, grid index or scale anywhere in a decoder moves the error
 * past these (checked by planting such bugs: 21 of 21 caught). */
static double bound_of(uint32_t id)
{
	switch (id) {
	case GGML_IQ1_S: return BOUND_IQ1_S;
	case GGML_IQ1_M: return BOUND_IQ1_M;
	case GGML_IQ2_XXS: return BOUND_IQ2_XXS;
	case GGML_IQ2_XS: return BOUND_IQ2_XS;
	case GGML_IQ2_S: return BOUND_IQ2_S;
	case GGML_IQ3_XXS: return BOUND_IQ3_XXS;
	case GGML_IQ3_S: return BOUND_IQ3_S;
	case GGML_TQ1_0: return BOUND_TQ1_0;
	case GGML_TQ2_0: return BOUND_TQ2_0;
	case GGML_MXFP4: return BOUND_MXFP4;
	default: return 0;
	}
}

static int test_fixtures(void)
{
	const char *dir = getenv("HEFT_FIXTURES");
	if (!dir || !*dir)
		dir = "/work/shared/fixtures";
	struct acc st[NLTYPES];
	memset(st, 0, sizeof st);
	int files = 0;
	printf("3. accuracy against %s/models:\n", dir);
	for (size_t k = 0; k < NLTYPES; k++) {
		char path[4096], fpath[4096];
		snprintf(path, sizeof path, "%s/models/%s-%s.gguf", dir, ltypes[k].family, ltypes[k].preset);
		snprintf(fpath, sizeof fpath, "%s/models/%s-F16.gguf", dir, ltypes[k].family);
		struct gguf_error err;
		struct gguf *q = gguf_open(path, &err);
		if (!q) {
			printf("  %s: skipped (%s)\n", path, err.msg);
			continue;
		}
		struct gguf *f = gguf_open(fpath, &err);
		if (!f) {
			CHECKF(0, "%s: %s", fpath, err.msg);
			gguf_close(q);
			continue;
		}
		compare_file(path, q, f, st);
		files++;
		gguf_close(f);
		gguf_close(q);
	}
	if (!files)
		return 77;
	printf("  %-8s %7s %10s %10s %10s %8s\n", "type", "tensors", "elements", "rel RMS", "worst", "bound");
	for (size_t k = 0; k < NLTYPES; k++) {
		const struct acc *a = &st[k];
		uint32_t id = ltypes[k].id;
		if (!a->tensors) {
			CHECKF(0, "%s: no tensor of this type in the fixtures", ref[id].name);
			continue;
		}
		double rms = sqrt(a->err2 / a->ref2);
		printf("  %-8s %7d %10llu %10.5f %10.5f %8.4f%s\n", ref[id].name, a->tensors,
		       (unsigned long long)a->nelem, rms, a->worst, bound_of(id),
		       a->worst <= bound_of(id) ? "" : "  FAILED");
		CHECKF(a->worst <= bound_of(id), "%s: worst tensor error %.5f above %.4f", ref[id].name, a->worst,
		       bound_of(id));
	}
	return 0;
}

int main(void)
{
	quant_table_ref(ref);
	wbuf = malloc(MAXN * 4 + 64);
	abuf = malloc(MAXN * 4 + 64);
	xbuf = malloc(MAXN * 4);
	wf = malloc(MAXN * 4);
	af = malloc(MAXN * 4);
	if (!wbuf || !abuf || !xbuf || !wf || !af)
		abort();
	test_reference();
	test_simd();
	const char *b = getenv("HEFT_BENCH");
	if (b && *b && strcmp(b, "0"))
		bench();
	int rc = test_fixtures();
	free(wbuf);
	free(abuf);
	free(xbuf);
	free(wf);
	free(af);
	if (rc == 77 && !test_failures) {
		printf("test-lowbit: fixtures absent, part 3 skipped\n");
		return 77;
	}
	return test_done("test-lowbit");
}
