/* kernels-lowbit-avx2.c - AVX2 dot products of the very-low-bit types.
 *
 * Compiled with -mavx2 -mfma -mf16c (and included by kernels-lowbit-avx512.c
 * to be compiled again with the AVX-512 flags, where the unscaled int8 dot
 * products become VNNI instructions). Only the installer is visible.
 *
 * The integer algebra is the reference's (quant-lowbit.c): per block an
 * exact int32 sum of sc * q * a, then one float multiply-add with the block
 * scales; only the order of the float additions differs. Grid types look up
 * four or eight grid entries per 32 elements with scalar loads (gathers are
 * slow on many Intel parts) and multiply the unsigned grid bytes with the
 * activations carrying the weights' signs (maddubs). Dequantizers stay the
 * reference ones: the forward pass only needs dot products of these types. */

#include "kernels.h"
#include "quant-lowbit.h"

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#ifdef LOWBIT_AVX512
#define LOWBIT_INSTALL kernels_lowbit_avx512_install
#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__) && defined(__AVX512VNNI__) && \
	defined(__FMA__) && defined(__F16C__)
#define LOWBIT_HAVE_ISA 1
#endif
#else
#define LOWBIT_INSTALL kernels_lowbit_avx2_install
#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
#define LOWBIT_HAVE_ISA 1
#endif
#endif

#ifdef LOWBIT_HAVE_ISA
#include <immintrin.h>

#include "kernels-x86.h"

/* Unsigned (u) times signed (s) int8, 32 lanes, to 8 int32 sums of 4; the
 * callers keep u * s pair sums within int16 (u <= 12 or s small). */
static inline __m256i dot_us(__m256i u, __m256i s)
{
#ifdef LOWBIT_AVX512
	return _mm256_dpbusd_epi32(_mm256_setzero_si256(), u, s);
#else
	return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1));
#endif
}

/* Signed x signed int8 (|a| <= 127) to 8 int32 sums of 4. */
static inline __m256i dot_ss(__m256i w, __m256i a)
{
	return dot_us(_mm256_sign_epi8(w, w), _mm256_sign_epi8(a, w));
}

/* The 16 int16 bsums of a Q8_K block as 8 int32 partial sums. */
static inline __m256i bsums8(const uint8_t *a)
{
	return _mm256_madd_epi16(ld256(a + AK_BS), _mm256_set1_epi16(1));
}

/* Scales as int16 words: one for all 32 elements, or one per 16 (lanes). */
static inline __m256i scale32(int s)
{
	return _mm256_set1_epi16((short)s);
}

static inline __m256i scale16x2(int s0, int s1)
{
	return _mm256_set_m128i(_mm_set1_epi16((short)s1), _mm_set1_epi16((short)s0));
}

/* 32 sign bits (little-endian) to bytes: -1 where set, +1 where clear. */
static inline __m256i sign_bits32(uint32_t x)
{
	__m256i v = _mm256_set1_epi32((int)x);
	v = _mm256_shuffle_epi8(v, _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1,
						    2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3));
	const __m256i sel = _mm256_set1_epi64x((long long)0x8040201008040201ull);
	__m256i m = _mm256_cmpeq_epi8(_mm256_and_si256(v, sel), sel);
	return _mm256_or_si256(m, _mm256_set1_epi8(1));
}

static inline long long ks(unsigned code)
{
	return (long long)ksigns64[code];
}

/* Four 7-bit sign codes (at 7k of x) to bytes -1/+1. */
static inline __m256i sign_codes4(uint32_t x)
{
	__m256i m = _mm256_set_epi64x(ks(x >> 21 & 127), ks(x >> 14 & 127), ks(x >> 7 & 127), ks(x & 127));
	return _mm256_or_si256(m, _mm256_set1_epi8(1));
}

static inline __m256i grid64x4(const uint64_t *g, unsigned i0, unsigned i1, unsigned i2, unsigned i3)
{
	return _mm256_set_epi64x((long long)g[i3], (long long)g[i2], (long long)g[i1], (long long)g[i0]);
}

static inline __m256i grid32x8(const uint32_t *g, const unsigned i[8])
{
	return _mm256_setr_epi32((int)g[i[0]], (int)g[i[1]], (int)g[i[2]], (int)g[i[3]], (int)g[i[4]],
				 (int)g[i[5]], (int)g[i[6]], (int)g[i[7]]);
}

/* Grid magnitudes (<= 62) times activations carrying the weights' signs,
 * pair sums (<= 2 * 62 * 127) times the int16 scales, as int32. */
static inline __m256i grid_dot(__m256i grid, __m256i signs, const uint8_t *aq, __m256i sc)
{
	__m256i a = _mm256_sign_epi8(ld256(aq), signs);
	return _mm256_madd_epi16(_mm256_maddubs_epi16(grid, a), sc);
}

/* The loop every 256-block type shares: BODY(w, a, &d) returns the block's
 * int32 sums (8 lanes, each the elements ggml's AVX2 kernel sums in that
 * lane) and sets d to the weight scale. One accumulator, block after block,
 * as ggml's: two interleaved chains round differently, and llama.cpp's
 * plain CPU path is what heft's low-bit logits are held to (issue 18). */
#define DOT_QK(name, type, BODY)                                                        \
	static void vec_dot_##name(int64_t n, float *s, const void *vw, const void *va)  \
	{                                                                                 \
		const uint8_t *w = vw, *a = va;                                           \
		const size_t WB = sizeof(struct type);                                    \
		__m256 acc = _mm256_setzero_ps();                                         \
		for (int64_t i = 0; i < n / QK_K; i++, w += WB, a += AK) {                \
			prefetch_ahead(w, WB);                                            \
			float d;                                                          \
			__m256i sum = BODY(w, a, &d);                                     \
			__m256 f = _mm256_set1_ps(d * ldf(a + AK_D));                     \
			acc = _mm256_fmadd_ps(f, _mm256_cvtepi32_ps(sum), acc);           \
		}                                                                         \
		*s = hsum_ps(acc);                                                        \
	}

/* ---- IQ2_XXS: per 32 elements 4 grid indices, then a u32 of 4 sign
 * codes and the scale ---- */
static inline __m256i body_iq2_xxs(const uint8_t *w, const uint8_t *a, float *d)
{
	const uint8_t *qs = w + OFF(block_iq2_xxs, qs), *aq = a + AK_QS;
	__m256i sum = _mm256_setzero_si256();
	for (int g = 0; g < 8; g++) {
		uint32_t ix = ldu32(qs + 8 * g), sg = ldu32(qs + 8 * g + 4);
		__m256i grid = grid64x4(iq2xxs_grid, ix & 255, ix >> 8 & 255, ix >> 16 & 255, ix >> 24);
		__m256i sc = scale32((int)(2 * (sg >> 28) + 1));
		sum = _mm256_add_epi32(sum, grid_dot(grid, sign_codes4(sg), aq + 32 * g, sc));
	}
	*d = h2f(w + OFF(block_iq2_xxs, d)) * 0.125f;
	return sum;
}
DOT_QK(iq2_xxs, block_iq2_xxs, body_iq2_xxs)

/* ---- IQ2_XS: 16-bit codes, 9-bit grid index + 7-bit sign code ---- */
static inline __m256i body_iq2_xs(const uint8_t *w, const uint8_t *a, float *d)
{
	const uint8_t *qs = w + OFF(block_iq2_xs, qs), *sc = w + OFF(block_iq2_xs, scales);
	const uint8_t *aq = a + AK_QS;
	__m256i sum = _mm256_setzero_si256();
	for (int g = 0; g < 8; g++) {
		uint64_t v;
		memcpy(&v, qs + 8 * g, 8);
		unsigned c0 = v & 0xffff, c1 = v >> 16 & 0xffff, c2 = v >> 32 & 0xffff, c3 = (unsigned)(v >> 48);
		__m256i grid = grid64x4(iq2xs_grid, c0 & 511, c1 & 511, c2 & 511, c3 & 511);
		__m256i sgn = _mm256_set_epi64x(ks(c3 >> 9), ks(c2 >> 9), ks(c1 >> 9), ks(c0 >> 9));
		sgn = _mm256_or_si256(sgn, _mm256_set1_epi8(1));
		__m256i scv = scale16x2(2 * (sc[g] & 15) + 1, 2 * (sc[g] >> 4) + 1);
		sum = _mm256_add_epi32(sum, grid_dot(grid, sgn, aq + 32 * g, scv));
	}
	*d = h2f(w + OFF(block_iq2_xs, d)) * 0.125f;
	return sum;
}
DOT_QK(iq2_xs, block_iq2_xs, body_iq2_xs)

/* ---- IQ2_S: 10-bit grid index (2 bits in qh), explicit sign bits ---- */
static inline __m256i body_iq2_s(const uint8_t *w, const uint8_t *a, float *d)
{
	const uint8_t *qs = w + OFF(block_iq2_s, qs), *qh = w + OFF(block_iq2_s, qh);
	const uint8_t *signs = w + OFF(block_iq2_s, signs), *sc = w + OFF(block_iq2_s, scales);
	const uint8_t *aq = a + AK_QS;
	__m256i sum = _mm256_setzero_si256();
	for (int g = 0; g < 8; g++) {
		unsigned h = qh[g];
		const uint8_t *q = qs + 4 * g;
		__m256i grid = grid64x4(iq2s_grid, q[0] | (h & 3) << 8, q[1] | (h & 12) << 6,
					q[2] | (h & 48) << 4, q[3] | (h & 192) << 2);
		__m256i scv = scale16x2(2 * (sc[g] & 15) + 1, 2 * (sc[g] >> 4) + 1);
		sum = _mm256_add_epi32(sum, grid_dot(grid, sign_bits32(ldu32(signs + 4 * g)), aq + 32 * g, scv));
	}
	*d = h2f(w + OFF(block_iq2_s, d)) * 0.125f;
	return sum;
}
DOT_QK(iq2_s, block_iq2_s, body_iq2_s)

/* ---- IQ3_XXS: 8 indices of 4-element entries, then sign codes + scale ---- */
static inline __m256i body_iq3_xxs(const uint8_t *w, const uint8_t *a, float *d)
{
	const uint8_t *qs = w + OFF(block_iq3_xxs, qs), *sas = w + OFF(block_iq3_xxs, sas);
	const uint8_t *aq = a + AK_QS;
	__m256i sum = _mm256_setzero_si256();
	for (int g = 0; g < 8; g++) {
		const uint8_t *q = qs + 8 * g;
		const unsigned ix[8] = {q[0], q[1], q[2], q[3], q[4], q[5], q[6], q[7]};
		uint32_t sg = ldu32(sas + 4 * g);
		__m256i sc = scale32((int)(2 * (sg >> 28) + 1));
		sum = _mm256_add_epi32(sum, grid_dot(grid32x8(iq3xxs_grid, ix), sign_codes4(sg), aq + 32 * g, sc));
	}
	*d = h2f(w + OFF(block_iq3_xxs, d)) * 0.25f;
	return sum;
}
DOT_QK(iq3_xxs, block_iq3_xxs, body_iq3_xxs)

/* ---- IQ3_S: 9-bit indices (the 9th bit in qh), explicit signs ---- */
static inline __m256i body_iq3_s(const uint8_t *w, const uint8_t *a, float *d)
{
	const uint8_t *qs = w + OFF(block_iq3_s, qs), *qh = w + OFF(block_iq3_s, qh);
	const uint8_t *signs = w + OFF(block_iq3_s, signs), *sc = w + OFF(block_iq3_s, scales);
	const uint8_t *aq = a + AK_QS;
	__m256i sum = _mm256_setzero_si256();
	for (int g = 0; g < 8; g++) {
		const uint8_t *q = qs + 8 * g;
		unsigned h = qh[g], ix[8];
		for (int k = 0; k < 8; k++)
			ix[k] = q[k] | (h >> k & 1) << 8;
		__m256i scv = scale32(2 * ((sc[g / 2] >> 4 * (g % 2)) & 15) + 1);
		sum = _mm256_add_epi32(sum, grid_dot(grid32x8(iq3s_grid, ix), sign_bits32(ldu32(signs + 4 * g)),
						     aq + 32 * g, scv));
	}
	*d = h2f(w + OFF(block_iq3_s, d));
	return sum;
}
DOT_QK(iq3_s, block_iq3_s, body_iq3_s)

/* ---- IQ1_S: grid -1/0/1; the delta goes through the activation sums:
 * sum sc (grid + delta/8) a = sum sc grid a + sum sc delta (sum a) / 8.
 * As ggml sums it: the grid part in 8 lanes, the delta part in one scalar
 * (*dsum), each scaled per block, added at the end. ---- */
static inline __m256i body_iq1_s(const uint8_t *w, const uint8_t *a, int *dsum)
{
	const uint8_t *qs = w + OFF(block_iq1_s, qs), *qhp = w + OFF(block_iq1_s, qh);
	const uint8_t *aq = a + AK_QS, *bs = a + AK_BS;
	const __m256i one = _mm256_set1_epi8(1);
	__m256i sum = _mm256_setzero_si256();
	int ds = 0;
	for (int g = 0; g < 8; g++) {
		unsigned qh = ldu16(qhp + 2 * g);
		const uint8_t *q = qs + 4 * g;
		__m256i grid = grid64x4(iq1s_grid, q[0] | (qh & 7) << 8, q[1] | (qh & 0x38) << 5,
					q[2] | (qh & 0x1c0) << 2, q[3] | (qh & 0xe00) >> 1);
		int sc = (int)(2 * (qh >> 12 & 7) + 1);
		__m256i ga = _mm256_sign_epi8(ld256(aq + 32 * g), grid);
		sum = _mm256_add_epi32(sum, _mm256_madd_epi16(_mm256_maddubs_epi16(one, ga), scale32(sc)));
		int asum = (int16_t)ldu16(bs + 4 * g) + (int16_t)ldu16(bs + 4 * g + 2);
		ds += (qh & 0x8000 ? -sc : sc) * asum;
	}
	*dsum = ds;
	return sum;
}

static void vec_dot_iq1_s(int64_t n, float *s, const void *vw, const void *va)
{
	const uint8_t *w = vw, *a = va;
	__m256 acc = _mm256_setzero_ps();
	float acc1 = 0;
	for (int64_t i = 0; i < n / QK_K; i++, w += sizeof(struct block_iq1_s), a += AK) {
		prefetch_ahead(w, sizeof(struct block_iq1_s));
		int dsum;
		__m256i sum = body_iq1_s(w, a, &dsum);
		float d = ldf(a + AK_D) * h2f(w + OFF(block_iq1_s, d));
		acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sum), acc);
		acc1 = fmaf(d, (float)dsum, acc1); /* ggml's build contracts d * dsum + acc1 */
	}
	*s = hsum_ps(acc) + 0.125f * acc1;
}

/* ---- IQ1_M: a delta per 8 elements, so q = 8 grid +- 1 is built whole ---- */
static inline __m256i body_iq1_m(const uint8_t *w, const uint8_t *a, float *d)
{
	const uint8_t *qs = w + OFF(block_iq1_m, qs), *qhp = w + OFF(block_iq1_m, qh);
	const uint8_t *scp = w + OFF(block_iq1_m, scales);
	const uint8_t *aq = a + AK_QS;
	const __m256i eight = _mm256_set1_epi8(8);
	const long long pos = 0x0101010101010101ll, neg = -1;
	uint64_t scw;
	memcpy(&scw, scp, 8);
	__m256i sum = _mm256_setzero_si256();
	for (int g = 0; g < 8; g++) {
		unsigned h0 = qhp[2 * g], h1 = qhp[2 * g + 1];
		const uint8_t *q = qs + 4 * g;
		__m256i grid = grid64x4(iq1s_grid, q[0] | (h0 & 7) << 8, q[1] | (h0 & 0x70) << 4,
					q[2] | (h1 & 7) << 8, q[3] | (h1 & 0x70) << 4);
		__m256i delta = _mm256_set_epi64x(h1 & 0x80 ? neg : pos, h1 & 8 ? neg : pos,
						  h0 & 0x80 ? neg : pos, h0 & 8 ? neg : pos);
		__m256i qv = _mm256_add_epi8(_mm256_sign_epi8(eight, grid), delta);
		unsigned s6 = (unsigned)(scw >> (16 * (g / 2) + 6 * (g % 2))) & 63;
		__m256i scv = scale16x2(2 * (int)(s6 & 7) + 1, 2 * (int)(s6 >> 3) + 1);
		__m256i av = _mm256_sign_epi8(ld256(aq + 32 * g), qv);
		sum = _mm256_add_epi32(sum, _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_abs_epi8(qv), av), scv));
	}
	*d = _cvtsh_ss(iq1m_d(scp)) * 0.125f;
	return sum;
}
DOT_QK(iq1_m, block_iq1_m, body_iq1_m)

/* ---- TQ2_0: w = q - 1 with q in 0..3: sum q a - sum a ---- */
static inline __m256i body_tq2_0(const uint8_t *w, const uint8_t *a, float *d)
{
	const uint8_t *qs = w + OFF(block_tq2_0, qs), *aq = a + AK_QS;
	const __m256i m3 = _mm256_set1_epi8(3);
	__m256i sum = _mm256_setzero_si256();
	for (int h = 0; h < 2; h++) {
		__m256i x = ld256(qs + 32 * h);
		for (int s = 0; s < 4; s++) {
			__m256i q = _mm256_and_si256(_mm256_srli_epi16(x, 2 * s), m3);
			sum = _mm256_add_epi32(sum, dot_us(q, ld256(aq + 128 * h + 32 * s)));
		}
	}
	*d = h2f(w + OFF(block_tq2_0, d));
	return _mm256_sub_epi32(sum, bsums8(a));
}
DOT_QK(tq2_0, block_tq2_0, body_tq2_0)

/* ---- TQ1_0: trit n of byte v is (v 3^n mod 256) * 3 >> 8, which is the
 * number of the thresholds 86 and 171 that v 3^n mod 256 reaches. ---- */
static inline __m256i times3(__m256i q)
{
	return _mm256_add_epi8(q, _mm256_add_epi8(q, q));
}

static inline __m256i trits(__m256i q)
{
	__m256i x = _mm256_xor_si256(q, _mm256_set1_epi8((char)0x80));
	__m256i c = _mm256_add_epi8(_mm256_cmpgt_epi8(x, _mm256_set1_epi8(85 - 128)),
				    _mm256_cmpgt_epi8(x, _mm256_set1_epi8(170 - 128)));
	return _mm256_abs_epi8(c); /* 0, 1, 2 */
}

static inline __m256i body_tq1_0(const uint8_t *w, const uint8_t *a, float *d)
{
	const uint8_t *qs = w + OFF(block_tq1_0, qs), *aq = a + AK_QS;
	__m256i sum = _mm256_setzero_si256();
	/* bytes 0..31: trit n is element 32n + m */
	__m256i q = ld256(qs);
	for (int n = 0; n < 5; n++, q = times3(q))
		sum = _mm256_add_epi32(sum, dot_us(trits(q), ld256(aq + 32 * n)));
	/* bytes 32..47: trit n is element 160 + 16n + m; the lanes take n, n + 1 */
	__m256i y = _mm256_broadcastsi128_si256(ld128(qs + 32));
	q = _mm256_blend_epi32(y, times3(y), 0xf0);
	sum = _mm256_add_epi32(sum, dot_us(trits(q), ld256(aq + 160)));
	q = times3(times3(q));
	sum = _mm256_add_epi32(sum, dot_us(trits(q), ld256(aq + 192)));
	/* trit 4 of bytes 32..47 (elements 224..239) beside the qh trits:
	 * element 240 + 4n + j is trit n of qh[j] */
	__m128i h = _mm_set1_epi32((int)ldu32(w + OFF(block_tq1_0, qh)));
	__m128i h3 = _mm_add_epi8(h, _mm_add_epi8(h, h));
	__m128i h9 = _mm_add_epi8(h3, _mm_add_epi8(h3, h3));
	__m128i h27 = _mm_add_epi8(h9, _mm_add_epi8(h9, h9));
	__m128i hq = _mm_unpacklo_epi64(_mm_unpacklo_epi32(h, h3), _mm_unpacklo_epi32(h9, h27));
	q = _mm256_inserti128_si256(times3(times3(q)), hq, 1);
	sum = _mm256_add_epi32(sum, dot_us(trits(q), ld256(aq + 224)));
	*d = h2f(w + OFF(block_tq1_0, d));
	return _mm256_sub_epi32(sum, bsums8(a));
}
DOT_QK(tq1_0, block_tq1_0, body_tq1_0)

/* ---- MXFP4 against Q8_0: nibbles through the E2M1 table, as IQ4_NL ---- */

static inline __m256i mxfp4_dot(const uint8_t *w, const uint8_t *a, __m256i lut)
{
	__m128i x = ld128(w + OFF(block_mxfp4, qs));
	__m256i v = _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(x, 4), x), _mm256_set1_epi8(15));
	return dot_ss(_mm256_shuffle_epi8(lut, v), ld256(a + OFF(block_q8_0, qs)));
}

static inline float mxfp4_scale(const uint8_t *w, const uint8_t *a)
{
	return e8m0_half(w[OFF(block_mxfp4, e)]) * h2f(a + OFF(block_q8_0, d));
}

static void vec_dot_mxfp4(int64_t n, float *s, const void *vw, const void *va)
{
	const uint8_t *w = vw, *a = va;
	const size_t WB = sizeof(struct block_mxfp4);
	const __m256i lut = _mm256_broadcastsi128_si256(ld128((const uint8_t *)kvalues_mxfp4));
	__m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
	int64_t nb = n / QK_MXFP4, i = 0;
	for (; i + 2 <= nb; i += 2, w += 2 * WB, a += 2 * A80) {
		prefetch_ahead(w, 2 * WB);
		__m256i p0 = mxfp4_dot(w, a, lut), p1 = mxfp4_dot(w + WB, a + A80, lut);
		acc0 = _mm256_fmadd_ps(_mm256_set1_ps(mxfp4_scale(w, a)), _mm256_cvtepi32_ps(p0), acc0);
		acc1 = _mm256_fmadd_ps(_mm256_set1_ps(mxfp4_scale(w + WB, a + A80)), _mm256_cvtepi32_ps(p1), acc1);
	}
	if (i < nb) {
		__m256i p0 = mxfp4_dot(w, a, lut);
		acc0 = _mm256_fmadd_ps(_mm256_set1_ps(mxfp4_scale(w, a)), _mm256_cvtepi32_ps(p0), acc0);
	}
	*s = hsum_ps(_mm256_add_ps(acc0, acc1));
}

bool LOWBIT_INSTALL(struct qtype *t)
{
	t[GGML_IQ1_S].vec_dot = vec_dot_iq1_s;
	t[GGML_IQ1_M].vec_dot = vec_dot_iq1_m;
	t[GGML_IQ2_XXS].vec_dot = vec_dot_iq2_xxs;
	t[GGML_IQ2_XS].vec_dot = vec_dot_iq2_xs;
	t[GGML_IQ2_S].vec_dot = vec_dot_iq2_s;
	t[GGML_IQ3_XXS].vec_dot = vec_dot_iq3_xxs;
	t[GGML_IQ3_S].vec_dot = vec_dot_iq3_s;
	t[GGML_TQ1_0].vec_dot = vec_dot_tq1_0;
	t[GGML_TQ2_0].vec_dot = vec_dot_tq2_0;
	t[GGML_MXFP4].vec_dot = vec_dot_mxfp4;
	return true;
}

#else /* built without the ISA */

bool LOWBIT_INSTALL(struct qtype *t)
{
	(void)t;
	return false;
}

#endif
