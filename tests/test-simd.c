/* test-simd.c - every SIMD row of the type table against the reference.
 *
 * For each path this CPU can run (avx2, avx512 on x86; neon, dotprod on
 * AArch64; the others are skipped with a note) and for every type with kernels: random weight blocks with
 * ordinary, extreme, subnormal and zero f16 scales and whole zero blocks,
 * rows of one to many blocks at odd addresses, and activations of ordinary,
 * huge, tiny (subnormal scale) and zero blocks. The activation quantizers
 * must match the reference byte for byte (also with inf and NaN inputs);
 * dot products must match within 1e-5 of sum |w*a| (the integer parts are
 * exact, only the order of float additions differs); dequantizers must be
 * bit-exact. Finally the table quant_init() chose must be the one HEFT_SIMD
 * and the CPU call for, row for row. */

#include "cpu.h"
#include "kernels.h"
#include "quant.h"
#include "quant-lowbit.h"
#include "test.h"

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TEST_RNG_SEED 0x243f6a8885a308d3ull
#include "test-rng.h"

static double unif(void) /* [0, 1) */
{
	return (double)(rnd() >> 11) * 0x1p-53;
}

static float gauss(void)
{
	double u = unif() + 1e-300, v = unif();
	return (float)(sqrt(-2 * log(u)) * cos(6.283185307179586 * v));
}

/* The weight types and the offsets of their f16 scale fields. */
static const struct wtype {
	uint32_t id;
	size_t f16[2];
	int nf16;
} wtypes[] = {
	{GGML_F32, {0, 0}, 0},
	{GGML_F16, {0, 0}, 0},
	{GGML_BF16, {0, 0}, 0},
	{GGML_Q8_0, {offsetof(struct block_q8_0, d), 0}, 1},
	{GGML_Q4_0, {offsetof(struct block_q4_0, d), 0}, 1},
	{GGML_Q4_1, {offsetof(struct block_q4_1, d), offsetof(struct block_q4_1, m)}, 2},
	{GGML_Q5_0, {offsetof(struct block_q5_0, d), 0}, 1},
	{GGML_Q5_1, {offsetof(struct block_q5_1, d), offsetof(struct block_q5_1, m)}, 2},
	{GGML_Q2_K, {offsetof(struct block_q2_K, d), offsetof(struct block_q2_K, dmin)}, 2},
	{GGML_Q3_K, {offsetof(struct block_q3_K, d), 0}, 1},
	{GGML_Q4_K, {offsetof(struct block_q4_K, d), offsetof(struct block_q4_K, dmin)}, 2},
	{GGML_Q5_K, {offsetof(struct block_q5_K, d), offsetof(struct block_q5_K, dmin)}, 2},
	{GGML_Q6_K, {offsetof(struct block_q6_K, d), 0}, 1},
	{GGML_IQ4_NL, {offsetof(struct block_iq4_nl, d), 0}, 1},
	{GGML_IQ4_XS, {offsetof(struct block_iq4_xs, d), 0}, 1},
};
#define NWTYPES (sizeof wtypes / sizeof wtypes[0])

/* A finite f16 scale of the given kind. */
static uint16_t f16_scale(int kind)
{
	uint16_t sign = (uint16_t)(rnd() & 1) << 15;
	switch (kind) {
	case 0: /* ordinary: 2^-14 .. 2^2 */
		return (uint16_t)(sign | (1 + rnd() % 17) << 10 | (rnd() & 0x3ff));
	case 1: /* extreme: up to 65504 */
		return (uint16_t)(sign | (27 + rnd() % 4) << 10 | (rnd() & 0x3ff));
	case 2: /* subnormal */
		return (uint16_t)(sign | (1 + rnd() % 0x3ff));
	default:
		return sign; /* +-0 */
	}
}

static void st16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

/* Random weights: random bytes (every bit pattern of a K-quant's packed
 * scales and quants is valid), then f16 scales of a random kind; float
 * types get finite values of wide range. Some blocks are all zero. */
static void random_weights(const struct wtype *wt, const struct qtype *q, uint8_t *w, int64_t n)
{
	int64_t nb = n / q->blck;
	for (int64_t i = 0; i < nb; i++) {
		uint8_t *b = w + i * q->bytes;
		if (wt->nf16 == 0) {
			float v = gauss() * powf(10.0f, (float)(rnd() % 9) - 4);
			if (wt->id == GGML_F32)
				memcpy(b, &v, 4);
			else if (wt->id == GGML_F16)
				st16(b, fp32_to_fp16(fminf(fmaxf(v, -60000), 60000)));
			else
				st16(b, fp32_to_bf16(v));
			if (rnd() % 16 == 0)
				memset(b, 0, q->bytes);
			continue;
		}
		for (uint32_t k = 0; k < q->bytes; k++)
			b[k] = (uint8_t)rnd();
		int kind = (int)(rnd() % 10);
		kind = kind < 6 ? 0 : kind - 6; /* 60% ordinary, 10% each other kind */
		for (int f = 0; f < wt->nf16; f++)
			st16(b + wt->f16[f], f16_scale(f ? (int)(rnd() % 4 ? 0 : rnd() % 4) : kind));
		if (rnd() % 12 == 0)
			memset(b, 0, q->bytes);
	}
}

/* Activations in blocks of 32: ordinary, huge, tiny (subnormal floats, so a
 * Q8 scale underflows), zero, or a single spike. */
static void random_acts(float *x, int64_t n, int specials)
{
	for (int64_t i = 0; i < n; i += 32) {
		int kind = (int)(rnd() % 8);
		float scale = powf(10.0f, (float)(rnd() % 7) - 3);
		for (int64_t j = i; j < i + 32 && j < n; j++) {
			switch (kind) {
			case 0: x[j] = gauss() * 3e3f; break;
			case 1: x[j] = gauss() * 1e-39f; break;
			case 2: x[j] = 0; break;
			case 3: x[j] = j == i + 5 ? 7.5f : gauss() * 1e-3f; break;
			default: x[j] = gauss() * scale; break;
			}
		}
		if (specials && rnd() % 4 == 0) {
			static const float sp[] = {INFINITY, -INFINITY, NAN, -NAN, 1e38f, -3e38f};
			x[i + (int64_t)(rnd() % 32) % (n - i)] = sp[rnd() % 6];
		}
	}
}

struct path {
	const char *name;
	bool (*install)(struct qtype *t);
	struct qtype table[GGML_TYPE_COUNT];
	bool ok;
};

struct tally {
	long dots, quants, deq, worst_ulps;
	double worst_rel;
};

static uint8_t *wbuf, *abuf_ref, *abuf_simd;
static float *xbuf, *deq_w, *deq_a, *ybuf_ref, *ybuf_simd;
#define MAXN (QK_K * 17)

static int64_t row_lengths(const struct qtype *q, int64_t *ns)
{
	if (q->blck == 1) {
		static const int64_t fl[] = {1, 7, 8, 9, 31, 32, 33, 100, 257, 1000, 4096};
		memcpy(ns, fl, sizeof fl);
		return (int64_t)(sizeof fl / sizeof fl[0]);
	}
	static const int64_t bl[] = {1, 2, 3, 4, 5, 7, 16, 17};
	for (size_t i = 0; i < sizeof bl / sizeof bl[0]; i++)
		ns[i] = bl[i] * q->blck;
	return (int64_t)(sizeof bl / sizeof bl[0]);
}

static bool same_float(float a, float b)
{
	uint32_t x, y;
	memcpy(&x, &a, 4);
	memcpy(&y, &b, 4);
	return x == y || (isnan(a) && isnan(b));
}

static void test_type(const struct wtype *wt, const struct qtype *ref, const struct qtype *simd,
		      const char *path, struct tally *t)
{
	const struct qtype *R = &ref[wt->id], *S = &simd[wt->id];
	if (!R->vec_dot || !S->vec_dot) {
		CHECKF(0, "%s/%s: no kernels", path, R->name);
		return;
	}
	const struct qtype *RA = &ref[R->act_type], *SA = &simd[R->act_type];
	int64_t ns[16];
	int64_t nlen = row_lengths(R, ns);
	for (int64_t li = 0; li < nlen; li++) {
		int64_t n = ns[li];
		for (int rep = 0; rep < 24; rep++) {
			/* Odd addresses for the quantized rows; floats stay aligned. */
			uint8_t *w = wbuf + (wt->nf16 ? 1 + rep % 3 : 0);
			random_weights(wt, R, w, n);
			random_acts(xbuf, n, 0);
			size_t abytes = (size_t)(n / RA->blck * RA->bytes);
			uint8_t *ar = abuf_ref + (R->act_type == GGML_F32 ? 0 : 1 + rep % 3);
			uint8_t *as = abuf_simd + (R->act_type == GGML_F32 ? 0 : 1 + rep % 5);
			RA->from_float(xbuf, ar, n);
			SA->from_float(xbuf, as, n);
			t->quants++;
			CHECKF(memcmp(ar, as, abytes) == 0, "%s/%s: activation quantizer %s differs (n=%lld)",
			       path, R->name, RA->name, (long long)n);

			float sr = 0, ss = 0;
			R->vec_dot(n, &sr, w, ar);
			S->vec_dot(n, &ss, w, ar);
			/* Magnitude: sum |w*a| of the dequantized rows, in double. */
			R->to_float(w, deq_w, n);
			RA->to_float(ar, deq_a, n);
			double mag = 0;
			for (int64_t j = 0; j < n; j++)
				mag += fabs((double)deq_w[j] * deq_a[j]);
			double tol = 1e-5 * mag;
			if (wt->nf16 == 0) /* float accumulation over n terms */
				tol += 1.2e-7 * (double)(n / 32 + 8) * mag;
			double err = fabs((double)sr - (double)ss);
			t->dots++;
			if (mag > 0 && err / mag > t->worst_rel)
				t->worst_rel = err / mag;
			CHECKF(isfinite(sr) && isfinite(ss) && err <= tol,
			       "%s/%s n=%lld: ref %.9g simd %.9g (|err| %.3g, sum|wa| %.3g)", path, R->name,
			       (long long)n, sr, ss, err, mag);

			/* Dequantizer: bit-exact. */
			S->to_float(w, ybuf_simd, n);
			int bad = 0;
			for (int64_t j = 0; j < n; j++)
				bad += !same_float(deq_w[j], ybuf_simd[j]);
			t->deq++;
			CHECKF(bad == 0, "%s/%s: to_float differs in %d of %lld", path, R->name, bad,
			       (long long)n);
		}
	}
}

/* Quantizers alone, with inf and NaN among the inputs, and the float
 * formats' from_float over awkward values. */
static void test_quantizers(const struct qtype *ref, const struct qtype *simd, const char *path,
			    struct tally *t)
{
	static const uint32_t ids[] = {GGML_Q8_0, GGML_Q8_1, GGML_Q8_K, GGML_F16, GGML_BF16};
	for (size_t k = 0; k < sizeof ids / sizeof ids[0]; k++) {
		const struct qtype *R = &ref[ids[k]], *S = &simd[ids[k]];
		bool fl = R->blck == 1;
		for (int rep = 0; rep < 200; rep++) {
			int64_t n = R->blck * (1 + (int64_t)(rnd() % (fl ? 300 : 9)));
			random_acts(xbuf, n, !fl);
			if (fl) { /* rounding ties, overflow, subnormal halves */
				for (int64_t j = 0; j < n; j += 3) {
					uint32_t bits = (uint32_t)rnd();
					float v;
					memcpy(&v, &bits, 4);
					if (isnan(v))
						v = 65520.0f;
					xbuf[j] = rnd() % 2 ? v : ldexpf(gauss(), -(int)(rnd() % 30));
				}
			}
			size_t bytes = (size_t)(n / R->blck * R->bytes);
			R->from_float(xbuf, abuf_ref, n);
			S->from_float(xbuf, abuf_simd, n);
			t->quants++;
			CHECKF(memcmp(abuf_ref, abuf_simd, bytes) == 0, "%s/%s: from_float differs (n=%lld)",
			       path, R->name, (long long)n);
			R->to_float(abuf_ref, ybuf_ref, n);
			S->to_float(abuf_ref, ybuf_simd, n);
			int bad = 0;
			for (int64_t j = 0; j < n; j++)
				bad += !same_float(ybuf_ref[j], ybuf_simd[j]);
			t->deq++;
			CHECKF(bad == 0, "%s/%s: to_float differs in %d of %lld", path, R->name, bad,
			       (long long)n);
		}
	}
	/* Every f16 and bf16 bit pattern through to_float. */
	uint16_t *all = malloc(65536 * 2);
	float *yr = malloc(65536 * 4), *ys = malloc(65536 * 4);
	if (!all || !yr || !ys)
		abort();
	for (uint32_t i = 0; i < 65536; i++)
		all[i] = (uint16_t)i;
	for (int k = 0; k < 2; k++) {
		uint32_t id = k ? GGML_BF16 : GGML_F16;
		ref[id].to_float(all, yr, 65536);
		simd[id].to_float(all, ys, 65536);
		int bad = 0;
		for (uint32_t i = 0; i < 65536; i++)
			bad += !same_float(yr[i], ys[i]);
		t->deq++;
		CHECKF(bad == 0, "%s/%s: to_float of all bit patterns differs in %d", path, ref[id].name,
		       bad);
	}
	free(all);
	free(yr);
	free(ys);
}

/* The active table must be what HEFT_SIMD and the CPU select. */
static void test_active(struct path *paths, int npaths, const struct qtype *ref)
{
	const char *level = quant_init();
	const char *env = getenv("HEFT_SIMD");
	int max = npaths; /* index of the last wanted path, 0 = none */
	if (env && !strcmp(env, "none"))
		max = 0;
	else if (env && (!strcmp(env, "avx2") || !strcmp(env, "neon")))
		max = 1;
	int want = 0;
	for (int i = 1; i <= max && i <= npaths; i++)
		if (paths[i - 1].ok)
			want = i;
	const char *want_name = want ? paths[want - 1].name : "none";
	const struct qtype *wt = want ? paths[want - 1].table : ref;
	printf("active table: HEFT_SIMD=%s, quant_init() chose %s, expected %s\n", env ? env : "(unset)",
	       level, want_name);
	CHECKF(strcmp(level, want_name) == 0, "quant_init chose %s, expected %s", level, want_name);
	int diff = 0;
	for (int id = 0; id < GGML_TYPE_COUNT; id++) {
		const struct qtype *q = qtype_get((uint32_t)id);
		if (!q)
			continue;
		diff += q->vec_dot != wt[id].vec_dot || q->to_float != wt[id].to_float ||
			q->from_float != wt[id].from_float;
	}
	CHECKF(diff == 0, "%d rows of the active table differ from the %s table", diff, want_name);
}

/* A path is the main kernel file plus the low-bit one built with the same flags. */
#ifndef __aarch64__
static bool install_avx2(struct qtype *t)
{
	return kernels_avx2_install(t) && kernels_lowbit_avx2_install(t);
}

static bool install_avx512(struct qtype *t)
{
	return kernels_avx512_install(t) && kernels_lowbit_avx512_install(t);
}

#else
static bool install_neon(struct qtype *t)
{
	return kernels_neon_install(t) && kernels_lowbit_neon_install(t);
}

static bool install_dotprod(struct qtype *t)
{
	return kernels_dotprod_install(t) && kernels_lowbit_dotprod_install(t);
}
#endif

int main(void)
{
	const struct cpu_features *cpu = cpu_features();
	printf("cpu: %s\n", cpu_describe());
	struct qtype ref[GGML_TYPE_COUNT];
	quant_table_ref(ref);

#ifdef __aarch64__
	static struct path paths[] = {
		{"neon", install_neon, {{0}}, false},
		{"dotprod", install_dotprod, {{0}}, false},
	};
	bool can[] = {cpu->can_neon, cpu->can_dotprod};
#else
	static struct path paths[] = {
		{"avx2", install_avx2, {{0}}, false},
		{"avx512", install_avx512, {{0}}, false},
	};
	bool can[] = {cpu->can_avx2, cpu->can_avx512};
#endif
	int npaths = (int)(sizeof paths / sizeof paths[0]);
	for (int p = 0; p < npaths; p++) {
		quant_table_ref(paths[p].table);
		if (!can[p]) {
			printf("%s: skipped, this CPU/OS cannot run it\n", paths[p].name);
			continue;
		}
		bool ok = true;
		for (int q = 0; q <= p && ok; q++) /* avx512 rows sit on top of avx2, dotprod on neon */
			ok = paths[q].install(paths[p].table);
		if (!ok) {
			printf("%s: skipped, built without it\n", paths[p].name);
			continue;
		}
		paths[p].ok = true;
	}

	wbuf = malloc(MAXN * 4 + 64);
	abuf_ref = malloc(MAXN * 4 + 64);
	abuf_simd = malloc(MAXN * 4 + 64);
	xbuf = malloc(MAXN * 4);
	deq_w = malloc(MAXN * 4);
	deq_a = malloc(MAXN * 4);
	ybuf_ref = malloc(MAXN * 4);
	ybuf_simd = malloc(MAXN * 4);
	if (!wbuf || !abuf_ref || !abuf_simd || !xbuf || !deq_w || !deq_a || !ybuf_ref || !ybuf_simd)
		abort();

	int tested = 0;
	for (int p = 0; p < npaths; p++) {
		if (!paths[p].ok)
			continue;
		tested++;
		printf("%s:\n", paths[p].name);
		for (size_t i = 0; i < NWTYPES; i++) {
			struct tally t = {0};
			int before = test_failures;
			/* Whose dot product this path's row carries. */
			const char *own = "reference";
			for (int q = 0; q <= p; q++)
				if (paths[p].table[wtypes[i].id].vec_dot == paths[q].table[wtypes[i].id].vec_dot &&
				    paths[q].table[wtypes[i].id].vec_dot != ref[wtypes[i].id].vec_dot) {
					own = paths[q].name;
					break;
				}
			test_type(&wtypes[i], ref, paths[p].table, paths[p].name, &t);
			printf("  %-7s %-9s %5ld dots (worst rel err %.2e), %5ld quantizations, %5ld "
			       "dequantizations%s\n",
			       ref[wtypes[i].id].name, own, t.dots, t.worst_rel,
			       t.quants, t.deq, test_failures > before ? "  FAILED" : "");
		}
		struct tally t = {0};
		int before = test_failures;
		test_quantizers(ref, paths[p].table, paths[p].name, &t);
		printf("  quantizers Q8_0/Q8_1/Q8_K/F16/BF16: %ld exact comparisons, %ld dequantizations%s\n",
		       t.quants, t.deq, test_failures > before ? "  FAILED" : "");
	}
	test_active(paths, npaths, ref);

	free(wbuf);
	free(abuf_ref);
	free(abuf_simd);
	free(xbuf);
	free(deq_w);
	free(deq_a);
	free(ybuf_ref);
	free(ybuf_simd);
	if (!tested && !test_failures) {
		printf("test-simd: no SIMD path on this CPU; only the active table was checked\n");
		return 77;
	}
	return test_done("test-simd");
}
