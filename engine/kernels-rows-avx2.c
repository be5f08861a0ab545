/* kernels-rows-avx2.c - the attention of queries sharing a KV head over an
 * F16 cache, and SwiGLU, in AVX2 (8 lanes) or, built again as
 * kernels-rows-avx512.c, AVX-512 (16 lanes); bit for bit forward.c's scalar
 * attend() and silu() for the same level (kernels-rows.h).
 *
 * Why the bits stay: every step is one IEEE operation per element, done in
 * the scalar code's order - F16 conversions, one multiply or fused
 * multiply-add per running-sum update, the dot products reduced exactly as
 * that ISA's vec_dot_f16. What changes is the loop order: a block of
 * positions is scored for all the group's queries while its K rows sit in
 * L1, then each V row is converted once for all queries, the F16 running
 * sums held in registers across the block (rounded to F16 after each step,
 * as the stores did). The softmax's exp is glibc's expf, vectorized: the
 * same double-precision reduction, table and polynomial, with the same fused
 * operations its FMA build uses; the install checks it against the libm
 * expf on a sweep and keeps the scalar calls if any bit differs (another
 * libm). */

#include "kernels-rows.h"

#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#ifdef KERNELS_ROWS_AVX512
#define INSTALL kernels_rows_avx512_install
#if defined(__AVX512F__) && defined(__FMA__) && defined(__F16C__)
#define ROWS_ISA 1
#endif
#else
#define INSTALL kernels_rows_avx2_install
#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
#define ROWS_ISA 1
#endif
#endif

#ifdef ROWS_ISA
#include <immintrin.h>

#define AI static inline __attribute__((always_inline))
#define UNROLL _Pragma("GCC unroll 16")

/* ---- expf, as glibc computes it -----------------------------------------------
 *
 * x = (k + r) ln2 / 32 with k an integer, 2^(k/32) from a table of 2^(i/32)
 * (with k's high bits added to the exponent) and 2^(r/32) from a cubic. */

#define EXP_N 32
static uint64_t exp_tab[EXP_N];
static bool exp_vector;

static const double exp_invln2n = 0x1.71547652b82fep+0 * EXP_N, exp_shift = 0x1.8p+52;
static const double exp_c0 = 0x1.c6af84b912394p-5 / (EXP_N * EXP_N * EXP_N),
		    exp_c1 = 0x1.ebfce50fac4f3p-3 / (EXP_N * EXP_N), exp_c2 = 0x1.62e42ff0c52d6p-1 / EXP_N;

static __m128 expf4(__m128 x)
{
	__m256d xd = _mm256_cvtps_pd(x), inv = _mm256_set1_pd(exp_invln2n);
	__m256d kd = _mm256_fmadd_pd(inv, xd, _mm256_set1_pd(exp_shift));
	__m256i ki = _mm256_castpd_si256(kd);
	kd = _mm256_sub_pd(kd, _mm256_set1_pd(exp_shift));
	__m256d r = _mm256_fmsub_pd(inv, xd, kd);
	__m256i t = _mm256_i64gather_epi64((const long long *)(const void *)exp_tab,
					   _mm256_and_si256(ki, _mm256_set1_epi64x(EXP_N - 1)), 8);
	__m256d s = _mm256_castsi256_pd(_mm256_add_epi64(t, _mm256_slli_epi64(ki, 47)));
	__m256d z = _mm256_fmadd_pd(r, _mm256_set1_pd(exp_c0), _mm256_set1_pd(exp_c1));
	__m256d r2 = _mm256_mul_pd(r, r);
	__m256d y = _mm256_fmadd_pd(r, _mm256_set1_pd(exp_c2), _mm256_set1_pd(1.0));
	y = _mm256_fmadd_pd(z, r2, y);
	return _mm256_cvtpd_ps(_mm256_mul_pd(y, s));
}

/* Lanes glibc sends down its special-case path (|x| >= 88, inf, NaN). */
static int exp_special(__m128 x)
{
	__m128i top = _mm_and_si128(_mm_srli_epi32(_mm_castps_si128(x), 20), _mm_set1_epi32(0x7ff));
	return _mm_movemask_ps(_mm_castsi128_ps(_mm_cmpgt_epi32(top, _mm_set1_epi32(0x42a))));
}

/* y[i] = expf(x[i]), n a multiple of 4 */
static void exp_block(const float *x, float *y, int n)
{
	if (!exp_vector) {
		for (int i = 0; i < n; i++)
			y[i] = expf(x[i]);
		return;
	}
	for (int i = 0; i < n; i += 4) {
		__m128 v = _mm_loadu_ps(x + i);
		_mm_storeu_ps(y + i, expf4(v));
		int sp = exp_special(v);
		for (int l = 0; sp; l++, sp >>= 1)
			if (sp & 1)
				y[i + l] = expf(x[i + l]);
	}
}

/* The table is 2^(i/32) rounded to double (minus i in the exponent, added
 * back from k); long double's 64 bits make the rounding right, and the
 * sweep below proves it against this libm. */
static void exp_init(void)
{
	for (int i = 0; i < EXP_N; i++) {
		double d = (double)exp2l((long double)i / EXP_N);
		uint64_t u;
		memcpy(&u, &d, sizeof u);
		exp_tab[i] = u - ((uint64_t)i << 47);
	}
	bool same = true;
	for (int i = 0; i < 1 << 16; i += 4) {
		float x[4], y[4];
		for (int l = 0; l < 4; l++) { /* every table slot, both signs, up to |x| = 88 */
			int j = i + l;
			x[l] = (j & 1 ? -1.0f : 1.0f) * (float)(j >> 1) * (88.0f / (1 << 15));
		}
		_mm_storeu_ps(y, expf4(_mm_loadu_ps(x)));
		for (int l = 0; l < 4; l++) {
			float r = expf(x[l]);
			if (!exp_special(_mm_set1_ps(x[l])) && memcmp(&y[l], &r, sizeof r) != 0)
				same = false;
		}
	}
	exp_vector = same;
}

/* ---- vectors of the build's width -------------------------------------------- */

#define F16_RNE (_MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)

#ifdef KERNELS_ROWS_AVX512
#define VW 16
#define DOT_G 4 /* queries per pass over K: 16 accumulators + 4 K vectors */
typedef __m512 vf;
AI vf ld_f16(const uint16_t *p) { return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(const void *)p)); }
AI void st_f16(uint16_t *p, vf x) { _mm256_storeu_si256((__m256i *)(void *)p, _mm512_cvtps_ph(x, F16_RNE)); }
AI vf rnd_f16(vf x) { return _mm512_cvtph_ps(_mm512_cvtps_ph(x, F16_RNE)); }
#define vset1 _mm512_set1_ps
#define vmul _mm512_mul_ps
#define vfma _mm512_fmadd_ps
#else
#define VW 8
#define DOT_G 2 /* 8 accumulators + 4 K vectors of 16 registers */
typedef __m256 vf;
AI vf ld_f16(const uint16_t *p) { return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)p)); }
AI void st_f16(uint16_t *p, vf x) { _mm_storeu_si128((__m128i *)(void *)p, _mm256_cvtps_ph(x, F16_RNE)); }
AI vf rnd_f16(vf x) { return _mm256_cvtph_ps(_mm256_cvtps_ph(x, F16_RNE)); }
#define vset1 _mm256_set1_ps
#define vmul _mm256_mul_ps
#define vfma _mm256_fmadd_ps
#endif

#ifdef KERNELS_ROWS_AVX512
#define vload _mm512_loadu_ps
#define vstore _mm512_storeu_ps
#else
#define vload _mm256_loadu_ps
#define vstore _mm256_storeu_ps
#endif

static float h2f(const uint16_t *p)
{
	return _cvtsh_ss(*p);
}

/* ---- attention -------------------------------------------------------------- */

#define BLOCK 64 /* positions per pass: 64 K rows of 128 F16 are 16 KiB */

/* out[j] = K_t . q_j for DOT_G queries q + j * ldq, reduced exactly as the
 * ISA's vec_dot_f16 (kernels-avx2.c, kernels-avx512.c). */
#ifdef KERNELS_ROWS_AVX512
/* _mm512_reduce_add_ps of r0 .. r3 (GCC's: high 256 bits plus low, high
 * 128 of that plus low, lanes 2, 3 plus 0, 1, then lane 1 plus 0), the
 * four side by side: the same additions of the same values. */
AI __m128 reduce4(__m512 r0, __m512 r1, __m512 r2, __m512 r3)
{
	__m512 t01 = _mm512_add_ps(_mm512_shuffle_f32x4(r0, r1, 0xee), _mm512_shuffle_f32x4(r0, r1, 0x44));
	__m512 t23 = _mm512_add_ps(_mm512_shuffle_f32x4(r2, r3, 0xee), _mm512_shuffle_f32x4(r2, r3, 0x44));
	__m512 t = _mm512_add_ps(_mm512_shuffle_f32x4(t01, t23, 0xdd), _mm512_shuffle_f32x4(t01, t23, 0x88));
	t = _mm512_add_ps(t, _mm512_permute_ps(t, 0x4e));
	t = _mm512_add_ps(t, _mm512_permute_ps(t, 0xb1));
	return _mm512_castps512_ps128(_mm512_maskz_compress_ps(0x1111, t));
}

AI void dot_g(int n, const uint16_t *k, const float *q, size_t ldq, float *out)
{
	__m512 c[DOT_G][4];
	UNROLL for (int j = 0; j < DOT_G; j++)
		UNROLL for (int a = 0; a < 4; a++)
			c[j][a] = _mm512_setzero_ps();
	int i = 0;
	for (; i + 64 <= n; i += 64)
		UNROLL for (int a = 0; a < 4; a++) {
			__m512 kv = ld_f16(k + i + 16 * a);
			UNROLL for (int j = 0; j < DOT_G; j++)
				c[j][a] = _mm512_fmadd_ps(kv, _mm512_loadu_ps(q + j * ldq + i + 16 * a), c[j][a]);
		}
	__m512 r[DOT_G];
	UNROLL for (int j = 0; j < DOT_G; j++)
		r[j] = _mm512_add_ps(_mm512_add_ps(c[j][0], c[j][2]), _mm512_add_ps(c[j][1], c[j][3]));
	if (i == n) { /* no tail: the four reductions at once, in their order */
		_mm_storeu_ps(out, reduce4(r[0], r[1], r[2], r[3]));
		return;
	}
	UNROLL for (int j = 0; j < DOT_G; j++) {
		double sum = _mm512_reduce_add_ps(r[j]);
		for (int t = i; t < n; t++)
			sum += (double)(h2f(k + t) * q[j * ldq + t]);
		out[j] = (float)sum;
	}
}
#else
AI void dot_g(int n, const uint16_t *k, const float *q, size_t ldq, float *out)
{
	__m256 c[DOT_G][4];
	UNROLL for (int j = 0; j < DOT_G; j++)
		UNROLL for (int a = 0; a < 4; a++)
			c[j][a] = _mm256_setzero_ps();
	int i = 0;
	for (; i + 32 <= n; i += 32)
		UNROLL for (int a = 0; a < 4; a++) {
			__m256 kv = ld_f16(k + i + 8 * a);
			UNROLL for (int j = 0; j < DOT_G; j++)
				c[j][a] = _mm256_fmadd_ps(kv, _mm256_loadu_ps(q + j * ldq + i + 8 * a), c[j][a]);
		}
	__m256 r[DOT_G];
	UNROLL for (int j = 0; j < DOT_G; j++)
		r[j] = _mm256_add_ps(_mm256_add_ps(c[j][0], c[j][2]), _mm256_add_ps(c[j][1], c[j][3]));
	if (i == n) { /* no tail: both reductions at once, in their order */
		__m256 t = _mm256_add_ps(_mm256_permute2f128_ps(r[0], r[1], 0x20), _mm256_permute2f128_ps(r[0], r[1], 0x31));
		t = _mm256_hadd_ps(t, t);
		t = _mm256_hadd_ps(t, t);
		out[0] = _mm256_cvtss_f32(t);
		out[1] = _mm_cvtss_f32(_mm256_extractf128_ps(t, 1));
		return;
	}
	UNROLL for (int j = 0; j < DOT_G; j++) {
		__m128 t = _mm_add_ps(_mm256_castps256_ps128(r[j]), _mm256_extractf128_ps(r[j], 1));
		t = _mm_hadd_ps(t, t);
		double sum = _mm_cvtss_f32(_mm_hadd_ps(t, t));
		for (int e = i; e < n; e++)
			sum += (double)(h2f(k + e) * q[j * ldq + e]);
		out[j] = (float)sum;
	}
}
#endif

/* Positions ahead whose K row is fetched while one is scored. */
#define K_AHEAD 6

AI void prefetch_row(const unsigned char *p, int bytes)
{
	for (uintptr_t l = (uintptr_t)p & ~(uintptr_t)63; l < (uintptr_t)p + (size_t)bytes; l += 64)
		_mm_prefetch((const char *)l, _MM_HINT_T0);
}

/* sc[j][t] = (K_t . q_j) * scale for the block's nb positions; a group
 * whose size is not a multiple of DOT_G repeats its last query.
 *
 * The first pass fetches K rows K_AHEAD positions on and the block's V
 * rows (the accumulate reads them next): a head's rows are a KV row apart
 * (kilobytes), a stride the hardware prefetchers do not follow, and
 * between two tokens' steps the weights stream through every cache - each
 * row read waited on memory, most of decode's attention time. (A
 * prompt's tokens read the rows its earlier tokens just read: no fetch.)
 * left: positions from the block's start to the end. */
static void scores(const struct attn_f16 *a, const unsigned char *k, const unsigned char *v, int nb, int left,
		   float sc[][BLOCK])
{
	for (int j0 = 0; j0 < a->g; j0 += DOT_G) {
		const float *q = a->q + (size_t)j0 * a->dk;
		size_t ldq = j0 + DOT_G <= a->g ? (size_t)a->dk : 0;
		float d[DOT_G];
		for (int t = 0; t < nb; t++) {
			if (j0 == 0 && a->fetch) {
				if (t + K_AHEAD < left)
					prefetch_row(k + (size_t)(t + K_AHEAD) * a->ldk, 2 * a->dk);
				prefetch_row(v + (size_t)t * a->ldv, 2 * a->dv);
			}
			if (ldq)
				dot_g(a->dk, (const uint16_t *)(const void *)(k + t * a->ldk), q, ldq, d);
			else /* the last queries one by one (ldq 0: DOT_G copies of one) */
				for (int j = j0; j < a->g; j++) {
					float one[DOT_G];
					dot_g(a->dk, (const uint16_t *)(const void *)(k + t * a->ldk),
					      a->q + (size_t)j * a->dk, 0, one);
					d[j - j0] = one[0];
				}
			for (int j = j0; j < a->g && j < j0 + DOT_G; j++)
				sc[j][t] = d[j - j0] * a->scale;
		}
	}
}

/* The online softmax's scalar steps: per position, a new maximum rescales
 * what was summed by ms = exp(M - s), otherwise the row weighs
 * vs = exp(s - M); S = S ms + vs. The G queries' chains interleaved (each
 * compare and FMA waits on the one before), the exps of the block in one
 * vector pass. */
AI void softmax_g(float sc[][BLOCK], int nb, float *m, float *s, float ms[][BLOCK], float vs[][BLOCK],
		  const int G)
{
	float arg[ATTN_GMAX][BLOCK], e[ATTN_GMAX][BLOCK], M[ATTN_GMAX], S[ATTN_GMAX];
	UNROLL for (int j = 0; j < G; j++) {
		M[j] = m[j];
		S[j] = s[j];
	}
	for (int t = 0; t < nb; t++)
		UNROLL for (int j = 0; j < G; j++) {
			bool up = sc[j][t] > M[j];
			arg[j][t] = up ? M[j] - sc[j][t] : sc[j][t] - M[j];
			ms[j][t] = up; /* 1: rescaled here (set below) */
			M[j] = up ? sc[j][t] : M[j];
		}
	int n4 = (nb + 3) / 4 * 4;
	UNROLL for (int j = 0; j < G; j++) {
		for (int t = nb; t < n4; t++)
			arg[j][t] = 0.0f;
		exp_block(arg[j], e[j], n4);
	}
	for (int t = 0; t < nb; t++)
		UNROLL for (int j = 0; j < G; j++) {
			bool up = ms[j][t] != 0.0f;
			ms[j][t] = up ? e[j][t] : 1.0f;
			vs[j][t] = up ? 1.0f : e[j][t];
			S[j] = __builtin_fmaf(S[j], ms[j][t], vs[j][t]);
		}
	UNROLL for (int j = 0; j < G; j++) {
		m[j] = M[j];
		s[j] = S[j];
	}
}

static void softmax(const struct attn_f16 *a, float sc[][BLOCK], int nb, float ms[][BLOCK], float vs[][BLOCK])
{
	switch (a->g) {
	case 1: softmax_g(sc, nb, a->m, a->s, ms, vs, 1); break;
	case 2: softmax_g(sc, nb, a->m, a->s, ms, vs, 2); break;
	case 3: softmax_g(sc, nb, a->m, a->s, ms, vs, 3); break;
	case 4: softmax_g(sc, nb, a->m, a->s, ms, vs, 4); break;
	case 5: softmax_g(sc, nb, a->m, a->s, ms, vs, 5); break;
	case 6: softmax_g(sc, nb, a->m, a->s, ms, vs, 6); break;
	case 7: softmax_g(sc, nb, a->m, a->s, ms, vs, 7); break;
	default: softmax_g(sc, nb, a->m, a->s, ms, vs, 8); break;
	}
}

/* acc_j = f16(acc_j ms_j,t) when rescaled, then f16(V_t vs_j,t + acc_j),
 * for the block's positions in order, C chunks of VW dimensions at a time:
 * each sum is a chain of FMA and two conversions per position, so G x C
 * chains in flight hide its latency. */
AI void accumulate_gc(const struct attn_f16 *a, const unsigned char *v, int nb, float ms[][BLOCK],
		      float vs[][BLOCK], const bool *up, int d, const int G, const int C)
{
	vf acc[ATTN_GMAX][8];
	UNROLL for (int j = 0; j < G; j++)
		UNROLL for (int c = 0; c < C; c++)
			acc[j][c] = ld_f16(a->acc + (size_t)j * a->dv + d + c * VW);
	for (int t = 0; t < nb; t++) {
		const uint16_t *vt = (const uint16_t *)(const void *)(v + t * a->ldv) + d;
		vf x[8];
		UNROLL for (int c = 0; c < C; c++)
			x[c] = ld_f16(vt + c * VW);
		if (up[t]) /* a query's maximum grew: times 1 leaves an F16 value as it is */
			UNROLL for (int j = 0; j < G; j++)
				if (ms[j][t] != 1.0f)
					UNROLL for (int c = 0; c < C; c++)
						acc[j][c] = rnd_f16(vmul(acc[j][c], vset1(ms[j][t])));
		UNROLL for (int j = 0; j < G; j++) {
			vf w = vset1(vs[j][t]);
			UNROLL for (int c = 0; c < C; c++)
				acc[j][c] = rnd_f16(vfma(x[c], w, acc[j][c]));
		}
	}
	UNROLL for (int j = 0; j < G; j++)
		UNROLL for (int c = 0; c < C; c++)
			st_f16(a->acc + (size_t)j * a->dv + d + c * VW, acc[j][c]);
}

/* About 8 chains (G x C), C dividing what is left of dv. */
AI void accumulate_g(const struct attn_f16 *a, const unsigned char *v, int nb, float ms[][BLOCK],
		     float vs[][BLOCK], const bool *up, const int G)
{
	const int C = G >= 8 ? 1 : 8 / G;
	int d = 0;
	for (; d + C * VW <= a->dv; d += C * VW)
		accumulate_gc(a, v, nb, ms, vs, up, d, G, C);
	for (; d < a->dv; d += VW)
		accumulate_gc(a, v, nb, ms, vs, up, d, G, 1);
}

static void accumulate(const struct attn_f16 *a, const unsigned char *v, int nb, float ms[][BLOCK],
		       float vs[][BLOCK])
{
	bool up[BLOCK];
	for (int t = 0; t < nb; t++) {
		up[t] = false;
		for (int j = 0; j < a->g; j++)
			up[t] |= ms[j][t] != 1.0f;
	}
	switch (a->g) {
	case 1: accumulate_g(a, v, nb, ms, vs, up, 1); break;
	case 2: accumulate_g(a, v, nb, ms, vs, up, 2); break;
	case 3: accumulate_g(a, v, nb, ms, vs, up, 3); break;
	case 4: accumulate_g(a, v, nb, ms, vs, up, 4); break;
	case 5: accumulate_g(a, v, nb, ms, vs, up, 5); break;
	case 6: accumulate_g(a, v, nb, ms, vs, up, 6); break;
	case 7: accumulate_g(a, v, nb, ms, vs, up, 7); break;
	default: accumulate_g(a, v, nb, ms, vs, up, 8); break;
	}
}

/* y = x rounded to F16 (F16C rounds to nearest even, as fp32_to_fp16) */
static void round_f16(const float *x, float *y, int n)
{
	int i = 0;
	for (; i + VW <= n; i += VW)
		vstore(y + i, rnd_f16(vload(x + i)));
	for (; i < n; i++)
		y[i] = _cvtsh_ss(_cvtss_sh(x[i], F16_RNE));
}

static void attn_f16(const struct attn_f16 *in)
{
	struct attn_f16 b = *in, *a = &b;
	float sc[ATTN_GMAX][BLOCK], ms[ATTN_GMAX][BLOCK], vs[ATTN_GMAX][BLOCK];
	round_f16(in->q, a->qh, a->g * a->dk);
	a->q = a->qh;
	memset(a->acc, 0, (size_t)a->g * a->dv * sizeof *a->acc);
	for (int j = 0; j < a->g; j++) {
		a->m[j] = -INFINITY;
		a->s[j] = 0.0f;
	}
	for (int t0 = 0; t0 < a->nt; t0 += BLOCK) {
		int nb = a->nt - t0 < BLOCK ? a->nt - t0 : BLOCK;
		if (t0 == 0 && a->fetch)
			for (int t = 0; t < K_AHEAD && t < a->nt; t++)
				prefetch_row(a->k + (size_t)t * a->ldk, 2 * a->dk);
		scores(a, a->k + (size_t)t0 * a->ldk, a->v + (size_t)t0 * a->ldv, nb, a->nt - t0, sc);
		softmax(a, sc, nb, ms, vs);
		accumulate(a, a->v + (size_t)t0 * a->ldv, nb, ms, vs);
	}
	int n = a->g * a->dv, i = 0;
	for (; i < n; i += VW)
		vstore(a->out + i, ld_f16(a->acc + i));
}

/* ---- SwiGLU ------------------------------------------------------------------ */

/* silu(x) y with forward.c's exp_as_ggml: n = round(x / ln 2), the
 * remainder b, a degree-5 polynomial p(b); AVX-512 scales 1 + p(b) by 2^n
 * (vscalefps; ldexpf in the scalar code), AVX2 computes k + k p(b) with
 * k = 2^n and leaves |n| > 126 to libm's expf. */
AI vf swiglu_vec(vf x, vf y)
{
#ifdef KERNELS_ROWS_AVX512
	vf m = _mm512_sub_ps(_mm512_setzero_ps(), x);
	vf n = _mm512_sub_ps(vfma(m, vset1(0x1.715476p+0f), vset1(0x1.8p23f)), vset1(0x1.8p23f));
	vf b = _mm512_fnmadd_ps(n, vset1(0x1.7f7d1cp-20f), _mm512_fnmadd_ps(n, vset1(0x1.62e4p-1f), m));
	vf u = vmul(b, b);
	vf j = vfma(vfma(vfma(vset1(0x1.0e4020p-7f), b, vset1(0x1.573e2ep-5f)), u,
			 vfma(vset1(0x1.555e66p-3f), b, vset1(0x1.fffdb6p-2f))),
		    u, vfma(vset1(0x1.ffffecp-1f), b, vset1(1.0f)));
	vf e = _mm512_scalef_ps(j, n);
	__mmask16 big = _mm512_cmp_ps_mask(_mm512_abs_ps(n), vset1(192.0f), _CMP_GT_OQ);
	__mmask16 pos = _mm512_cmp_ps_mask(n, _mm512_setzero_ps(), _CMP_GT_OQ);
	e = _mm512_mask_blend_ps(big, e, _mm512_mask_blend_ps(pos, _mm512_setzero_ps(), vset1(INFINITY)));
	return vmul(_mm512_div_ps(x, _mm512_add_ps(vset1(1.0f), e)), y);
#else
	vf m = _mm256_sub_ps(_mm256_setzero_ps(), x);
	vf n = _mm256_sub_ps(vfma(m, vset1(0x1.715476p+0f), vset1(0x1.8p23f)), vset1(0x1.8p23f));
	vf b = _mm256_fnmadd_ps(n, vset1(0x1.7f7d1cp-20f), _mm256_fnmadd_ps(n, vset1(0x1.62e4p-1f), m));
	vf u = vmul(b, b);
	vf j = vfma(vfma(vfma(vset1(0x1.0e4020p-7f), b, vset1(0x1.573e2ep-5f)), u,
			 vfma(vset1(0x1.555e66p-3f), b, vset1(0x1.fffdb6p-2f))),
		    u, vmul(vset1(0x1.ffffecp-1f), b));
	vf k = _mm256_castsi256_ps(
		_mm256_slli_epi32(_mm256_add_epi32(_mm256_cvttps_epi32(n), _mm256_set1_epi32(127)), 23));
	vf e = vfma(j, k, k);
	vf big = _mm256_cmp_ps(_mm256_andnot_ps(vset1(-0.0f), n), vset1(126.0f), _CMP_GT_OQ);
	int mask = _mm256_movemask_ps(big);
	if (mask) { /* ggml's range path: libm, as forward.c */
		float ev[VW], mv[VW];
		_mm256_storeu_ps(ev, e);
		_mm256_storeu_ps(mv, m);
		for (int l = 0; l < VW; l++)
			if (mask >> l & 1)
				ev[l] = expf(mv[l]);
		e = _mm256_loadu_ps(ev);
	}
	return vmul(_mm256_div_ps(x, _mm256_add_ps(vset1(1.0f), e)), y);
#endif
}

static void swiglu(float *hb, const float *hb2, size_t n)
{
	size_t i = 0;
	for (; i + VW <= n; i += VW)
		vstore(hb + i, swiglu_vec(vload(hb + i), vload(hb2 + i)));
	if (i < n) { /* the tail padded: lanes are independent */
		float x[VW] = {0}, y[VW] = {0};
		memcpy(x, hb + i, (n - i) * sizeof *x);
		memcpy(y, hb2 + i, (n - i) * sizeof *y);
		vstore(x, swiglu_vec(vload(x), vload(y)));
		memcpy(hb + i, x, (n - i) * sizeof *x);
	}
}

bool INSTALL(struct rows_kernels *k)
{
	/* Once, whoever comes first: nothing keeps two threads from installing at
	 * a time, and a plain flag would let one read a table the other writes. */
	static pthread_once_t exp_once = PTHREAD_ONCE_INIT;
	pthread_once(&exp_once, exp_init);
	k->attn_f16 = attn_f16;
	k->swiglu = swiglu;
	return true;
}

#else /* built without the ISA */

bool INSTALL(struct rows_kernels *k)
{
	(void)k;
	return false;
}

#endif
