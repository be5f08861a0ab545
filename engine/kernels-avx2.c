/* kernels-avx2.c - AVX2 + FMA + F16C rows of the type table.
 *
 * Compiled with -mavx2 -mfma -mf16c; only kernels_avx2_install() is visible
 * outside, and quant.c calls it only when cpu_features()->can_avx2.
 *
 * Every dot product follows the reference's integer algebra: int8 weights
 * times int8 activations summed exactly in int32 per scale group, times the
 * integer group scale, then once per block into a float accumulator. Only
 * the order of the float additions differs from quant.c. Offsets into the
 * ggml block layouts come from the structs in quant.h (offsetof), fields are
 * read with unaligned loads: blocks inside a row are not aligned.
 *
 * Decode streams weights once; per block the work is a few shuffles, so
 * these loops run at memory speed on one or two cores. */

#include "kernels.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
#include <immintrin.h>

#include "kernels-x86.h"

/* ---- helpers ---- */

static inline void st16(uint8_t *p, uint16_t v)
{
	memcpy(p, &v, 2);
}

static inline int hsum_epi32(__m256i v)
{
	__m128i x = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
	x = _mm_add_epi32(x, _mm_shuffle_epi32(x, 0x4e));
	x = _mm_add_epi32(x, _mm_shuffle_epi32(x, 0xb1));
	return _mm_cvtsi128_si32(x);
}

/* Signed x signed int8, 32 lanes, to 8 int32 sums of 4. maddubs wants one
 * unsigned operand: |w| and a carrying w's sign. |a| <= 127 (activations),
 * so no pair sum can saturate int16 even for w = -128. */
static inline __m256i dot_ss(__m256i w, __m256i a)
{
	__m256i p = _mm256_maddubs_epi16(_mm256_sign_epi8(w, w), _mm256_sign_epi8(a, w));
	return _mm256_madd_epi16(p, _mm256_set1_epi16(1));
}

/* Unsigned (<= 127) x signed int8 to 8 int32 sums of 4. */
static inline __m256i dot_us(__m256i w, __m256i a)
{
	return _mm256_madd_epi16(_mm256_maddubs_epi16(w, a), _mm256_set1_epi16(1));
}

/* 32 nibbles in element order: low nibbles of 16 bytes, then the high ones. */
static inline __m256i nibbles32(const uint8_t *p)
{
	__m128i x = ld128(p);
	__m256i v = _mm256_set_m128i(_mm_srli_epi16(x, 4), x);
	return _mm256_and_si256(v, _mm256_set1_epi8(15));
}

/* 32 bits (little-endian) to 32 bytes, 0xff where the bit is set. */
static inline __m256i bits32(const uint8_t *p)
{
	uint32_t x;
	memcpy(&x, p, 4);
	__m256i v = _mm256_set1_epi32((int)x);
	v = _mm256_shuffle_epi8(v, _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1,
						    2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3));
	const __m256i sel = _mm256_set1_epi64x((long long)0x8040201008040201ull);
	return _mm256_cmpeq_epi8(_mm256_and_si256(v, sel), sel);
}

static inline __m256i iq4_lut(void)
{
	const __m128i t = _mm_loadu_si128((const __m128i *)(const void *)kvalues_iq4nl);
	return _mm256_broadcastsi128_si256(t);
}

/* ---- Q8_0 activations: Q8_0, Q4_0, Q5_0, IQ4_NL ----
 * Two blocks per iteration into two accumulators. UNPACK(w) gives the 32
 * signed weights of the block at w in element order. */


/* ggml's order: Q8_0, Q4_0, Q5_0 in one chain of blocks (its vec_dot and
 * llamafile's sgemm alike); IQ4_NL in two, even and odd blocks (its vec_dot,
 * which llama.cpp's expert products use). */
#define DOT_Q80(name, type, UNPACK, TWO)                                                 \
	static void vec_dot_##name(int64_t n, float *s, const void *vw, const void *va)  \
	{                                                                                 \
		const uint8_t *w = vw, *a = va;                                           \
		const size_t WB = sizeof(struct type);                                    \
		const int64_t nb = n / 32;                                                \
		__m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();            \
		int64_t i = 0;                                                            \
		for (; i + 2 <= nb; i += 2, w += 2 * WB, a += 2 * A80) {                  \
			prefetch_ahead(w, 2 * WB);                                        \
			__m256i p0 = dot_ss(UNPACK(w), ld256(a + A80_QS));                \
			__m256i p1 = dot_ss(UNPACK(w + WB), ld256(a + A80 + A80_QS));     \
			float d0 = h2f(w + OFF(type, d)) * h2f(a);                        \
			float d1 = h2f(w + WB + OFF(type, d)) * h2f(a + A80);             \
			acc0 = _mm256_fmadd_ps(_mm256_set1_ps(d0), _mm256_cvtepi32_ps(p0), acc0); \
			if (TWO)                                                          \
				acc1 = _mm256_fmadd_ps(_mm256_set1_ps(d1), _mm256_cvtepi32_ps(p1), acc1); \
			else                                                              \
				acc0 = _mm256_fmadd_ps(_mm256_set1_ps(d1), _mm256_cvtepi32_ps(p1), acc0); \
		}                                                                         \
		if (i < nb) {                                                             \
			__m256i p0 = dot_ss(UNPACK(w), ld256(a + A80_QS));                \
			float d0 = h2f(w + OFF(type, d)) * h2f(a);                        \
			acc0 = _mm256_fmadd_ps(_mm256_set1_ps(d0), _mm256_cvtepi32_ps(p0), acc0); \
		}                                                                         \
		*s = hsum_ps(_mm256_add_ps(acc0, acc1));                                  \
	}

static inline __m256i unpack_q8_0(const uint8_t *w)
{
	return ld256(w + OFF(block_q8_0, qs));
}

static inline __m256i unpack_q4_0(const uint8_t *w)
{
	return _mm256_sub_epi8(nibbles32(w + OFF(block_q4_0, qs)), _mm256_set1_epi8(8));
}

/* q - 16 with the 5th bit from qh: (q | 16*hi) - 16 == q | (hi ? 0 : 0xf0). */
static inline __m256i unpack_q5_0(const uint8_t *w)
{
	__m256i lo = nibbles32(w + OFF(block_q5_0, qs));
	__m256i hi = bits32(w + OFF(block_q5_0, qh));
	return _mm256_or_si256(lo, _mm256_andnot_si256(hi, _mm256_set1_epi8((char)0xf0)));
}

static inline __m256i unpack_iq4_nl(const uint8_t *w)
{
	return _mm256_shuffle_epi8(iq4_lut(), nibbles32(w + OFF(block_iq4_nl, qs)));
}

DOT_Q80(q8_0, block_q8_0, unpack_q8_0, false)
DOT_Q80(q4_0, block_q4_0, unpack_q4_0, false)
DOT_Q80(q5_0, block_q5_0, unpack_q5_0, false)
DOT_Q80(iq4_nl, block_iq4_nl, unpack_iq4_nl, true)
DOT_Q80(iq4_nl_dense, block_iq4_nl, unpack_iq4_nl, false) /* llamafile's sgemm: one chain */

static void gemm_iq4_nl_dense(const struct qtype *t, int64_t n, float *y, size_t ldy, const void *w, size_t ldw,
			      int nw, const void *a, size_t lda, int na)
{
	(void)t;
	for (int j = 0; j < na; j++)
		for (int i = 0; i < nw; i++)
			vec_dot_iq4_nl_dense(n, &y[(size_t)j * ldy + i], (const char *)w + (size_t)i * ldw,
					     (const char *)a + (size_t)j * lda);
}

/* ---- Q8_1 activations: Q4_1, Q5_1 (w = d*q + m; the m term is m * a.s) ---- */


#define DOT_Q81(name, type, UNPACK)                                                      \
	static void vec_dot_##name(int64_t n, float *s, const void *vw, const void *va)  \
	{                                                                                 \
		const uint8_t *w = vw, *a = va;                                           \
		const size_t WB = sizeof(struct type);                                    \
		const int64_t nb = n / 32;                                                \
		__m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();            \
		float msum = 0;                                                           \
		for (int64_t i = 0; i < nb; i++, w += WB, a += A81) {                     \
			prefetch_ahead(w, WB);                                            \
			__m256i p = dot_us(UNPACK(w), ld256(a + OFF(block_q8_1, qs)));    \
			float d = h2f(w + OFF(type, d)) * h2f(a + OFF(block_q8_1, d));    \
			msum += h2f(w + OFF(type, m)) * h2f(a + OFF(block_q8_1, s));      \
			if (i & 1)                                                        \
				acc1 = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(p), acc1); \
			else                                                              \
				acc0 = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(p), acc0); \
		}                                                                         \
		*s = hsum_ps(_mm256_add_ps(acc0, acc1)) + msum;                           \
	}

static inline __m256i unpack_q4_1(const uint8_t *w)
{
	return nibbles32(w + OFF(block_q4_1, qs));
}

static inline __m256i unpack_q5_1(const uint8_t *w)
{
	__m256i lo = nibbles32(w + OFF(block_q5_1, qs));
	__m256i hi = bits32(w + OFF(block_q5_1, qh));
	return _mm256_or_si256(lo, _mm256_and_si256(hi, _mm256_set1_epi8(16)));
}

DOT_Q81(q4_1, block_q4_1, unpack_q4_1)
DOT_Q81(q5_1, block_q5_1, unpack_q5_1)

/* ---- Q8_K activations: the K-quants and IQ4_XS ---- */


/* For the 16-element group types (Q2_K, Q3_K, Q6_K) one 32-byte register
 * holds two groups, one per 128-bit lane. sc16 holds the 16 group scales as
 * int16; lane_scales() gives, for register s (0..3) of half h, the scale of
 * group 8h + 2s in every word of the low lane and of 8h + 2s + 1 in the high. */
static inline __m256i half_scales(__m256i sc16, int h)
{
	return h ? _mm256_permute2x128_si256(sc16, sc16, 0x11)
		 : _mm256_permute2x128_si256(sc16, sc16, 0x00);
}

static inline __m256i lane_scales(__m256i half, int s)
{
	const __m256i base = _mm256_setr_epi8(0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1,
					      2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3);
	return _mm256_shuffle_epi8(half, _mm256_add_epi8(base, _mm256_set1_epi8((char)(4 * s))));
}

static void vec_dot_q2_K(int64_t n, float *s, const void *vw, const void *va)
{
	const uint8_t *w = vw, *a = va;
	const __m256i m3 = _mm256_set1_epi8(3);
	__m256 acc = _mm256_setzero_ps();
	for (int64_t i = 0; i < n / QK_K; i++, w += sizeof(struct block_q2_K), a += AK) {
		prefetch_ahead(w, sizeof(struct block_q2_K));
		float ad = ldf(a + OFF(block_q8_K, d));
		float d = ad * h2f(w + OFF(block_q2_K, d));
		float dmin = ad * h2f(w + OFF(block_q2_K, dmin));
		__m128i sc8 = ld128(w + OFF(block_q2_K, scales));
		__m256i mn16 = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(sc8, 4), _mm_set1_epi8(15)));
		__m256i sc16 = _mm256_cvtepu8_epi16(_mm_and_si128(sc8, _mm_set1_epi8(15)));
		__m256i msum = _mm256_madd_epi16(mn16, ld256(a + AK_BS));
		__m256i sumi = _mm256_setzero_si256();
		for (int h = 0; h < 2; h++) {
			__m256i q = ld256(w + OFF(block_q2_K, qs) + 32 * h);
			__m256i sch = half_scales(sc16, h);
			const uint8_t *aq = a + AK_QS + 128 * h;
			for (int k = 0; k < 4; k++) {
				__m256i qk = _mm256_and_si256(_mm256_srli_epi16(q, 2 * k), m3);
				__m256i p = _mm256_maddubs_epi16(qk, ld256(aq + 32 * k));
				sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(p, lane_scales(sch, k)));
			}
		}
		/* the mins first, as ggml */
		acc = _mm256_fnmadd_ps(_mm256_set1_ps(dmin), _mm256_cvtepi32_ps(msum), acc);
		acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
	}
	*s = hsum_ps(acc);
}

/* Q3_K: 6-bit signed scales; q = crumb | 4*hbit in 0..7 is unsigned and the
 * -4 offset becomes -4 * sum(sc * bsum). */
static inline __m128i q3_K_scales(const uint8_t *p)
{
	uint64_t lo;
	uint32_t hi;
	memcpy(&lo, p, 8);
	memcpy(&hi, p + 8, 4);
	uint64_t l0 = lo & 0x0f0f0f0f0f0f0f0full, l1 = lo >> 4 & 0x0f0f0f0f0f0f0f0full;
	uint64_t h0 = (uint64_t)(hi & 0x03030303u) | (uint64_t)(hi >> 2 & 0x03030303u) << 32;
	uint64_t h1 = (uint64_t)(hi >> 4 & 0x03030303u) | (uint64_t)(hi >> 6 & 0x03030303u) << 32;
	__m128i v = _mm_set_epi64x((long long)(l1 | h1 << 4), (long long)(l0 | h0 << 4));
	return _mm_sub_epi8(v, _mm_set1_epi8(32));
}

static void vec_dot_q3_K(int64_t n, float *s, const void *vw, const void *va)
{
	const uint8_t *w = vw, *a = va;
	const __m256i m3 = _mm256_set1_epi8(3), m4 = _mm256_set1_epi8(4);
	__m256 acc = _mm256_setzero_ps();
	for (int64_t i = 0; i < n / QK_K; i++, w += sizeof(struct block_q3_K), a += AK) {
		prefetch_ahead(w, sizeof(struct block_q3_K));
		float d = ldf(a + OFF(block_q8_K, d)) * h2f(w + OFF(block_q3_K, d));
		__m256i sc16 = _mm256_cvtepi8_epi16(q3_K_scales(w + OFF(block_q3_K, scales)));
		__m256i corr = _mm256_madd_epi16(sc16, ld256(a + AK_BS));
		__m256i hm = ld256(w + OFF(block_q3_K, hmask));
		__m256i sumi = _mm256_setzero_si256();
		for (int h = 0; h < 2; h++) {
			__m256i q = ld256(w + OFF(block_q3_K, qs) + 32 * h);
			__m256i sch = half_scales(sc16, h);
			const uint8_t *aq = a + AK_QS + 128 * h;
			for (int k = 0; k < 4; k++) {
				__m256i bit = _mm256_set1_epi8((char)(1 << (4 * h + k)));
				__m256i hb = _mm256_cmpeq_epi8(_mm256_and_si256(hm, bit), bit);
				__m256i qk = _mm256_and_si256(_mm256_srli_epi16(q, 2 * k), m3);
				qk = _mm256_or_si256(qk, _mm256_and_si256(hb, m4));
				__m256i p = _mm256_maddubs_epi16(qk, ld256(aq + 32 * k));
				sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(p, lane_scales(sch, k)));
			}
		}
		sumi = _mm256_sub_epi32(sumi, _mm256_slli_epi32(corr, 2));
		acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
	}
	*s = hsum_ps(acc);
}

/* Decode's Q4_K rows: 4 at a time (k4_dot_rows), the rest in pairs and one
 * by vec_dot_q4_K: every row has vec_dot_q4_K's bits. 4 beat 2 in L2
 * (tests/bench/kernels, RESULTS.md "Decode, session 7"). */
#define K4_ROWS 4
static void vec_dot_rows_q4_K(int64_t n, float *s, const void *vw, size_t ldw, int64_t nw, const void *va)
{
	const uint8_t *w = vw, *a = va;
	int64_t r = 0;
	for (; r + K4_ROWS <= nw; r += K4_ROWS)
		k4_dot_rows(n, s + r, w + (size_t)r * ldw, ldw, a, K4_ROWS);
	for (; r + 2 <= nw; r += 2)
		k4_dot_rows(n, s + r, w + (size_t)r * ldw, ldw, a, 2);
	if (r < nw)
		vec_dot_q4_K(n, s + r, w + (size_t)r * ldw, a);
}

/* Q6_K: q = lo4 | hi2 << 4 in 0..63, unsigned; the -32 offset becomes
 * -32 * sum(sc * bsum). */
static void vec_dot_q6_K(int64_t n, float *s, const void *vw, const void *va)
{
	const uint8_t *w = vw, *a = va;
	const __m256i m4 = _mm256_set1_epi8(15), m30 = _mm256_set1_epi8(0x30);
	__m256 acc = _mm256_setzero_ps();
	for (int64_t i = 0; i < n / QK_K; i++, w += sizeof(struct block_q6_K), a += AK) {
		prefetch_ahead(w, sizeof(struct block_q6_K));
		float d = ldf(a + OFF(block_q8_K, d)) * h2f(w + OFF(block_q6_K, d));
		__m256i sc16 = _mm256_cvtepi8_epi16(ld128(w + OFF(block_q6_K, scales)));
		__m256i corr = _mm256_madd_epi16(sc16, ld256(a + AK_BS));
		__m256i sum0 = _mm256_setzero_si256(), sum1 = _mm256_setzero_si256();
		for (int h = 0; h < 2; h++) {
			const uint8_t *ql = w + OFF(block_q6_K, ql) + 64 * h;
			__m256i l0 = ld256(ql), l1 = ld256(ql + 32);
			__m256i qh = ld256(w + OFF(block_q6_K, qh) + 32 * h);
			__m256i q0 = _mm256_or_si256(_mm256_and_si256(l0, m4),
						     _mm256_and_si256(_mm256_slli_epi16(qh, 4), m30));
			__m256i q1 = _mm256_or_si256(_mm256_and_si256(l1, m4),
						     _mm256_and_si256(_mm256_slli_epi16(qh, 2), m30));
			__m256i q2 = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m4),
						     _mm256_and_si256(qh, m30));
			__m256i q3 = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4),
						     _mm256_and_si256(_mm256_srli_epi16(qh, 2), m30));
			__m256i sch = half_scales(sc16, h);
			const uint8_t *aq = a + AK_QS + 128 * h;
			__m256i p0 = _mm256_maddubs_epi16(q0, ld256(aq));
			__m256i p1 = _mm256_maddubs_epi16(q1, ld256(aq + 32));
			__m256i p2 = _mm256_maddubs_epi16(q2, ld256(aq + 64));
			__m256i p3 = _mm256_maddubs_epi16(q3, ld256(aq + 96));
			sum0 = _mm256_add_epi32(sum0, _mm256_madd_epi16(p0, lane_scales(sch, 0)));
			sum1 = _mm256_add_epi32(sum1, _mm256_madd_epi16(p1, lane_scales(sch, 1)));
			sum0 = _mm256_add_epi32(sum0, _mm256_madd_epi16(p2, lane_scales(sch, 2)));
			sum1 = _mm256_add_epi32(sum1, _mm256_madd_epi16(p3, lane_scales(sch, 3)));
		}
		__m256i sumi = _mm256_sub_epi32(_mm256_add_epi32(sum0, sum1), _mm256_slli_epi32(corr, 5));
		acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
	}
	*s = hsum_ps(acc);
}

/* IQ4_XS: 8 groups of 32, each laid out like a Q4_0 block; 6-bit scales
 * biased by 32. A 32-byte load holds groups 2k and 2k+1; their low nibbles
 * land in the two lanes of lo, the high nibbles in hi, and two lane
 * permutes restore element order. */
static void vec_dot_iq4_xs(int64_t n, float *s, const void *vw, const void *va)
{
	const uint8_t *w = vw, *a = va;
	const __m256i m4 = _mm256_set1_epi8(15), lut = iq4_lut();
	__m256 acc = _mm256_setzero_ps();
	for (int64_t i = 0; i < n / QK_K; i++, w += sizeof(struct block_iq4_xs), a += AK) {
		prefetch_ahead(w, sizeof(struct block_iq4_xs));
		float d = ldf(a + OFF(block_q8_K, d)) * h2f(w + OFF(block_iq4_xs, d));
		uint16_t sh;
		uint32_t sl;
		memcpy(&sh, w + OFF(block_iq4_xs, scales_h), 2);
		memcpy(&sl, w + OFF(block_iq4_xs, scales_l), 4);
		const uint8_t *qs = w + OFF(block_iq4_xs, qs), *aq = a + AK_QS;
		__m256i sum0 = _mm256_setzero_si256(), sum1 = _mm256_setzero_si256();
		for (int k = 0; k < 4; k++) {
			__m256i b = ld256(qs + 32 * k);
			__m256i lo = _mm256_and_si256(b, m4);
			__m256i hi = _mm256_and_si256(_mm256_srli_epi16(b, 4), m4);
			__m256i g0 = _mm256_shuffle_epi8(lut, _mm256_permute2x128_si256(lo, hi, 0x20));
			__m256i g1 = _mm256_shuffle_epi8(lut, _mm256_permute2x128_si256(lo, hi, 0x31));
			__m256i a0 = ld256(aq + 64 * k), a1 = ld256(aq + 64 * k + 32);
			__m256i p0 = _mm256_maddubs_epi16(_mm256_sign_epi8(g0, g0), _mm256_sign_epi8(a0, g0));
			__m256i p1 = _mm256_maddubs_epi16(_mm256_sign_epi8(g1, g1), _mm256_sign_epi8(a1, g1));
			int g = 2 * k;
			int ls0 = (int)((sl >> 4 * g & 15) | (sh >> 2 * g & 3u) << 4) - 32;
			int ls1 = (int)((sl >> (4 * g + 4) & 15) | (sh >> (2 * g + 2) & 3u) << 4) - 32;
			sum0 = _mm256_add_epi32(sum0, _mm256_madd_epi16(p0, _mm256_set1_epi16((short)ls0)));
			sum1 = _mm256_add_epi32(sum1, _mm256_madd_epi16(p1, _mm256_set1_epi16((short)ls1)));
		}
		acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(_mm256_add_epi32(sum0, sum1)), acc);
	}
	*s = hsum_ps(acc);
}

/* ---- float types (F32 activations, any n) ---- */

static inline __m256 load8_f16(const uint8_t *p)
{
	return _mm256_cvtph_ps(ld128(p));
}

static inline __m256 load8_bf16(const uint8_t *p)
{
	__m256i v = _mm256_cvtepu16_epi32(ld128(p));
	return _mm256_castsi256_ps(_mm256_slli_epi32(v, 16));
}

static inline __m256 load8_f32(const uint8_t *p)
{
	return _mm256_loadu_ps((const float *)(const void *)p);
}

static inline float ld_f16(const uint8_t *p)
{
	return h2f(p);
}

static inline float ld_bf16(const uint8_t *p)
{
	uint16_t h;
	memcpy(&h, p, 2);
	return bf16_to_fp32(h);
}

#define FLOAT_DOT(name, ES, LOAD8, LOAD1)                                                \
	static void vec_dot_##name(int64_t n, float *s, const void *vw, const void *va)  \
	{                                                                                 \
		const uint8_t *w = vw;                                                    \
		const float *x = va;                                                      \
		__m256 c0 = _mm256_setzero_ps(), c1 = c0, c2 = c0, c3 = c0;               \
		int64_t i = 0;                                                            \
		for (; i + 32 <= n; i += 32) {                                            \
			prefetch_ahead(w + ES * i, ES * 32);                              \
			c0 = _mm256_fmadd_ps(LOAD8(w + ES * i), _mm256_loadu_ps(x + i), c0); \
			c1 = _mm256_fmadd_ps(LOAD8(w + ES * (i + 8)), _mm256_loadu_ps(x + i + 8), c1); \
			c2 = _mm256_fmadd_ps(LOAD8(w + ES * (i + 16)), _mm256_loadu_ps(x + i + 16), c2); \
			c3 = _mm256_fmadd_ps(LOAD8(w + ES * (i + 24)), _mm256_loadu_ps(x + i + 24), c3); \
		}                                                                         \
		for (; i + 8 <= n; i += 8)                                                \
			c0 = _mm256_fmadd_ps(LOAD8(w + ES * i), _mm256_loadu_ps(x + i), c0); \
		float sum = hsum_ps(_mm256_add_ps(_mm256_add_ps(c0, c1), _mm256_add_ps(c2, c3))); \
		for (; i < n; i++)                                                        \
			sum += LOAD1(w + ES * i) * x[i];                                  \
		*s = sum;                                                                 \
	}

FLOAT_DOT(f32, 4, load8_f32, ldf)
FLOAT_DOT(bf16, 2, load8_bf16, ld_bf16)

/* F16 as ggml_vec_dot_f16 (llama.cpp's flash attention scores K.q with it):
 * 4 accumulators over 32 elements, reduced (c0 + c2) + (c1 + c3) and by
 * hadd, the tail in double. */
static void vec_dot_f16(int64_t n, float *s, const void *vw, const void *va)
{
	const uint8_t *w = vw;
	const float *x = va;
	__m256 c[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
	int64_t i = 0;
	for (; i + 32 <= n; i += 32) {
		prefetch_ahead(w + 2 * i, 64);
		for (int j = 0; j < 4; j++)
			c[j] = _mm256_fmadd_ps(load8_f16(w + 2 * (i + 8 * j)), _mm256_loadu_ps(x + i + 8 * j), c[j]);
	}
	__m256 r = _mm256_add_ps(_mm256_add_ps(c[0], c[2]), _mm256_add_ps(c[1], c[3]));
	__m128 t = _mm_add_ps(_mm256_castps256_ps128(r), _mm256_extractf128_ps(r, 1));
	t = _mm_hadd_ps(t, t);
	double sum = _mm_cvtss_f32(_mm_hadd_ps(t, t));
	for (; i < n; i++)
		sum += (double)(ld_f16(w + 2 * i) * x[i]);
	*s = (float)sum;
}

static void to_float_f16(const void *src, float *y, int64_t n)
{
	const uint8_t *p = src;
	int64_t i = 0;
	for (; i + 8 <= n; i += 8)
		_mm256_storeu_ps(y + i, load8_f16(p + 2 * i));
	for (; i < n; i++)
		y[i] = h2f(p + 2 * i);
}

static void to_float_bf16(const void *src, float *y, int64_t n)
{
	const uint8_t *p = src;
	int64_t i = 0;
	for (; i + 8 <= n; i += 8)
		_mm256_storeu_ps(y + i, load8_bf16(p + 2 * i));
	for (; i < n; i++)
		y[i] = ld_bf16(p + 2 * i);
}

/* Round to nearest even, as fp32_to_fp16 (NaN payloads may differ). */
static void from_float_f16(const float *x, void *dst, int64_t n)
{
	uint8_t *p = dst;
	int64_t i = 0;
	for (; i + 8 <= n; i += 8) {
		__m128i h = _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT);
		_mm_storeu_si128((__m128i *)(void *)(p + 2 * i), h);
	}
	for (; i < n; i++)
		st16(p + 2 * i, fp32_to_fp16(x[i]));
}

/* Same rounding as fp32_to_bf16: nearest even, NaN kept quiet. */
static void from_float_bf16(const float *x, void *dst, int64_t n)
{
	uint8_t *p = dst;
	int64_t i = 0;
	const __m256i lsb = _mm256_set1_epi32(1), bias = _mm256_set1_epi32(0x7fff);
	const __m256i absm = _mm256_set1_epi32(0x7fffffff), inf = _mm256_set1_epi32(0x7f800000);
	for (; i + 16 <= n; i += 16) {
		__m256i r[2];
		for (int k = 0; k < 2; k++) {
			__m256i v = _mm256_loadu_si256((const __m256i *)(const void *)(x + i + 8 * k));
			__m256i odd = _mm256_and_si256(_mm256_srli_epi32(v, 16), lsb);
			__m256i rn = _mm256_srli_epi32(_mm256_add_epi32(v, _mm256_add_epi32(bias, odd)), 16);
			__m256i qn = _mm256_or_si256(_mm256_srli_epi32(v, 16), _mm256_set1_epi32(0x40));
			__m256i nan = _mm256_cmpgt_epi32(_mm256_and_si256(v, absm), inf);
			r[k] = _mm256_blendv_epi8(rn, qn, nan);
		}
		__m256i packed = _mm256_permute4x64_epi64(_mm256_packus_epi32(r[0], r[1]), 0xd8);
		_mm256_storeu_si256((__m256i *)(void *)(p + 2 * i), packed);
	}
	for (; i < n; i++)
		st16(p + 2 * i, fp32_to_bf16(x[i]));
}

/* ---- activation quantizers, bit-exact with quant.c's ----
 * d = max|x| / 127 (NaN ignored), q = x * (127 / max|x|) rounded to nearest even,
 * clamped to +-127, NaN to 0. Fills q[0..32) and returns the 4 int32
 * vectors (in element order 8 each) through iv for sums. */
static inline float amax8(__m256 m)
{
	__m128 x = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
	x = _mm_max_ps(x, _mm_movehl_ps(x, x));
	x = _mm_max_ss(x, _mm_movehdup_ps(x));
	return _mm_cvtss_f32(x);
}

/* Max |x| over n (multiple of 8) floats; NaN lanes drop out because
 * max_ps returns its second operand when the first is NaN. */
static inline float absmax(const float *x, int n)
{
	const __m256 sign = _mm256_set1_ps(-0.0f);
	__m256 m = _mm256_setzero_ps();
	for (int j = 0; j < n; j += 8)
		m = _mm256_max_ps(_mm256_andnot_ps(sign, _mm256_loadu_ps(x + j)), m);
	return amax8(m);
}

static inline __m256i quant8(const float *x, __m256 id)
{
	__m256 v = _mm256_mul_ps(_mm256_loadu_ps(x), id);
	v = _mm256_and_ps(v, _mm256_cmp_ps(v, v, _CMP_ORD_Q));
	v = _mm256_min_ps(_mm256_max_ps(v, _mm256_set1_ps(-127.0f)), _mm256_set1_ps(127.0f));
	return _mm256_cvtps_epi32(v);
}

/* 32 int32 (4 vectors in element order) to 32 int8 at q. */
static inline void pack32(__m256i i0, __m256i i1, __m256i i2, __m256i i3, uint8_t *q)
{
	__m256i b = _mm256_packs_epi16(_mm256_packs_epi32(i0, i1), _mm256_packs_epi32(i2, i3));
	b = _mm256_permutevar8x32_epi32(b, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
	_mm256_storeu_si256((__m256i *)(void *)q, b);
}

/* ggml's multiplier 127/amax, not 1/d: see quant.c's quant8. */
static inline float mult(float amax)
{
	return amax != 0 ? 127 / amax : 0.0f;
}

static void from_float_q8_0(const float *x, void *dst, int64_t n)
{
	uint8_t *b = dst;
	for (int64_t i = 0; i < n / 32; i++, x += 32, b += sizeof(struct block_q8_0)) {
		float amax = absmax(x, 32), d = amax / 127;
		__m256 id = _mm256_set1_ps(mult(amax));
		pack32(quant8(x, id), quant8(x + 8, id), quant8(x + 16, id), quant8(x + 24, id),
		       b + OFF(block_q8_0, qs));
		st16(b + OFF(block_q8_0, d), _cvtss_sh(d, _MM_FROUND_TO_NEAREST_INT));
	}
}

static void from_float_q8_1(const float *x, void *dst, int64_t n)
{
	uint8_t *b = dst;
	for (int64_t i = 0; i < n / 32; i++, x += 32, b += sizeof(struct block_q8_1)) {
		float amax = absmax(x, 32), d = amax / 127;
		__m256 id = _mm256_set1_ps(mult(amax));
		__m256i i0 = quant8(x, id), i1 = quant8(x + 8, id);
		__m256i i2 = quant8(x + 16, id), i3 = quant8(x + 24, id);
		pack32(i0, i1, i2, i3, b + OFF(block_q8_1, qs));
		int sum = hsum_epi32(_mm256_add_epi32(_mm256_add_epi32(i0, i1), _mm256_add_epi32(i2, i3)));
		st16(b + OFF(block_q8_1, d), _cvtss_sh(d, _MM_FROUND_TO_NEAREST_INT));
		st16(b + OFF(block_q8_1, s), _cvtss_sh(d * (float)sum, _MM_FROUND_TO_NEAREST_INT));
	}
}

static void from_float_q8_K(const float *x, void *dst, int64_t n)
{
	uint8_t *b = dst;
	for (int64_t i = 0; i < n / QK_K; i++, x += QK_K, b += sizeof(struct block_q8_K)) {
		float m = mult(absmax(x, QK_K)), d = m != 0 ? 1 / m : 0.0f;
		__m256 id = _mm256_set1_ps(m);
		memcpy(b + OFF(block_q8_K, d), &d, 4);
		int16_t bsums[QK_K / 16];
		for (int k = 0; k < QK_K / 32; k++) {
			const float *xk = x + 32 * k;
			__m256i i0 = quant8(xk, id), i1 = quant8(xk + 8, id);
			__m256i i2 = quant8(xk + 16, id), i3 = quant8(xk + 24, id);
			pack32(i0, i1, i2, i3, b + OFF(block_q8_K, qs) + 32 * k);
			bsums[2 * k] = (int16_t)hsum_epi32(_mm256_add_epi32(i0, i1));
			bsums[2 * k + 1] = (int16_t)hsum_epi32(_mm256_add_epi32(i2, i3));
		}
		memcpy(b + OFF(block_q8_K, bsums), bsums, sizeof bsums);
	}
}


/* ---- multi-row products (gemm) ----
 * Register-blocked tiles of RM weight rows x RN activation rows (constant
 * after inlining; see kernels-avx512.c): a weight block is unpacked once per
 * tile and met by every activation row of it, an activation block loaded
 * once and met by every weight row. */

#define AI static inline __attribute__((always_inline))
#define UNROLL _Pragma("GCC unroll 16")

/* sum + the pairwise products of p and s (madd then add). With AVX-VNNI one
 * vpdpwssd does both: the same exact int32 sums, one multiply-port uop
 * fewer per product; the tiles are integer-bound on AVX2. Inline asm rather
 * than the intrinsic: this file is built for plain AVX2 and only the
 * VNNI tiles, installed when the CPU has it, take this branch. */
AI __m256i madd_acc(__m256i sum, __m256i p, __m256i s, const bool vnni)
{
	if (!vnni)
		return _mm256_add_epi32(sum, _mm256_madd_epi16(p, s));
	__asm__("%{vex%} vpdpwssd %2, %1, %0" : "+x"(sum) : "x"(p), "x"(s));
	return sum;
}

/* The same for u8 x s8 quads summed into int32 lanes: maddubs + madd(1) +
 * add, or one vpdpbusd. Exact only where maddubs' int16 pairs cannot
 * saturate, which every caller's operand ranges guarantee. */
AI __m256i dot_acc(__m256i sum, __m256i u, __m256i a, const bool vnni)
{
	if (!vnni)
		return _mm256_add_epi32(sum, _mm256_madd_epi16(_mm256_maddubs_epi16(u, a), _mm256_set1_epi16(1)));
	__asm__("%{vex%} vpdpbusd %2, %1, %0" : "+x"(sum) : "x"(u), "xm"(a));
	return sum;
}

#define GEMM_DRIVER(name, RMAX, RNMAX, TILE)                                                     \
	static void gemm_##name(const struct qtype *t, int64_t n, float *y, size_t ldy, const void *vw, \
				size_t ldw, int nw, const void *va, size_t lda, int na)               \
	{                                                                                         \
		(void)t;                                                                          \
		const uint8_t *w = vw, *a = va;                                                   \
		for (int i = 0; i < nw; i += RMAX) {                                              \
			int rm = nw - i < RMAX ? nw - i : RMAX;                                   \
			for (int j = 0; j < na; j += RNMAX) {                                     \
				int rn = na - j < RNMAX ? na - j : RNMAX;                         \
				float *yt = y + (size_t)j * ldy + i;                              \
				const uint8_t *wt = w + (size_t)i * ldw, *at = a + (size_t)j * lda; \
				switch (rm * 16 + rn) {                                           \
					TCASES_N(TILE, 1) TCASES_N(TILE, 2)                       \
				}                                                                 \
			}                                                                         \
		}                                                                                 \
	}
#define TCASE(TILE, M, N)                                                          \
	case M * 16 + N:                                                           \
		TILE(n, yt, ldy, wt, ldw, at, lda, M, N);                          \
		break;
#define TCASES_N(TILE, M) TCASE(TILE, M, 1) TCASE(TILE, M, 2) TCASE(TILE, M, 3) TCASE(TILE, M, 4)

/* Q8_0 (signed weights: |w| times a carrying w's sign) and Q4_0 (unsigned
 * nibbles times a, minus 8 * sum(a) per activation block). 2 x 4 tiles. */
AI void q80_tile(int64_t n, float *y, size_t ldy, const uint8_t *w, size_t ldw, const uint8_t *a, size_t lda,
		 const int RM, const int RN, const bool q4, const size_t WB, const bool vnni)
{
	const __m256i zero = _mm256_setzero_si256();
	__m256 acc[2][4];
	UNROLL for (int i = 0; i < RM; i++)
		UNROLL for (int j = 0; j < RN; j++)
			acc[i][j] = _mm256_setzero_ps();
	for (int64_t b = 0; b < n / 32; b++) {
		__m256i wv[2], wu[2];
		__m256 dw[2];
		UNROLL for (int i = 0; i < RM; i++) {
			const uint8_t *wb = w + (size_t)i * ldw + (size_t)b * WB;
			dw[i] = _mm256_set1_ps(h2f(wb));
			if (q4) {
				wu[i] = nibbles32(wb + 2);
			} else {
				wv[i] = ld256(wb + 2);
				wu[i] = _mm256_sign_epi8(wv[i], wv[i]);
			}
		}
		UNROLL for (int j = 0; j < RN; j++) {
			const uint8_t *ab = a + (size_t)j * lda + (size_t)b * A80;
			__m256i av = ld256(ab + A80_QS);
			__m256 da = _mm256_set1_ps(h2f(ab));
			__m256i c = zero;
			if (q4)
				c = dot_acc(zero, _mm256_set1_epi8(8), av, vnni);
			UNROLL for (int i = 0; i < RM; i++) {
				/* |w| <= 128 against a <= 127 in magnitude: pairs fit int16 */
				__m256i p;
				if (q4)
					p = _mm256_sub_epi32(dot_acc(zero, wu[i], av, vnni), c);
				else
					p = dot_acc(zero, wu[i], _mm256_sign_epi8(av, wv[i]), vnni);
				acc[i][j] = _mm256_fmadd_ps(_mm256_mul_ps(dw[i], da), _mm256_cvtepi32_ps(p), acc[i][j]);
			}
		}
	}
	UNROLL for (int i = 0; i < RM; i++)
		UNROLL for (int j = 0; j < RN; j++)
			y[(size_t)j * ldy + i] = hsum_ps(acc[i][j]);
}
#define TILE_Q8_0_(n, y, ldy, w, ldw, a, lda, M, N, V) \
	q80_tile(n, y, ldy, w, ldw, a, lda, M, N, false, sizeof(struct block_q8_0), V)
#define TILE_Q4_0_(n, y, ldy, w, ldw, a, lda, M, N, V) \
	q80_tile(n, y, ldy, w, ldw, a, lda, M, N, true, sizeof(struct block_q4_0), V)
#define TILE_Q8_0(n, y, ldy, w, ldw, a, lda, M, N) TILE_Q8_0_(n, y, ldy, w, ldw, a, lda, M, N, false)
#define TILE_Q4_0(n, y, ldy, w, ldw, a, lda, M, N) TILE_Q4_0_(n, y, ldy, w, ldw, a, lda, M, N, false)
#define TILE_Q8_0_VNNI(n, y, ldy, w, ldw, a, lda, M, N) TILE_Q8_0_(n, y, ldy, w, ldw, a, lda, M, N, true)
#define TILE_Q4_0_VNNI(n, y, ldy, w, ldw, a, lda, M, N) TILE_Q4_0_(n, y, ldy, w, ldw, a, lda, M, N, true)
GEMM_DRIVER(q8_0, 2, 4, TILE_Q8_0)
GEMM_DRIVER(q4_0, 2, 4, TILE_Q4_0)
GEMM_DRIVER(q8_0_vnni, 2, 4, TILE_Q8_0_VNNI)
GEMM_DRIVER(q4_0_vnni, 2, 4, TILE_Q4_0_VNNI)

/* With AVX-VNNI, a chunk's two groups (lo: 2c, hi: 2c + 1) by vpdpbusd,
 * one multiply uop per 32 products where vpmaddubsw + vpdpwssd took two:
 * 8 exact sums of four each, |x| <= 4 * 31 * 128 < 2^14. Then one vpdpwssd
 * with the word pair (s[2c], s[2c + 1]) applies both scales, if x_hi sits
 * in the high words: hi's vpdpbusd starts from 0x40800000, which keeps its
 * top byte 0x40 (|x_hi| < 2^15); a vpshufb makes that 2^16 x_hi + 2^14,
 * where lo's vpdpbusd adds x_lo. The low word, x_lo + 2^14, is positive:
 * no borrow, the high word is x_hi. Lane l gets s[2c] x_lo[l] +
 * s[2c + 1] x_hi[l] + 2^14 s[2c], the bias the row's sum starts without
 * (k4_bias). One shuffle where the pair otherwise takes two. */
AI __m256i quad_pair(__m256i lo, __m256i hi, const uint8_t *aq)
{
	const __m256i up = _mm256_setr_epi32(0x01000380, 0x05040780, 0x09080b80, 0x0d0c0f80, 0x01000380, 0x05040780,
					     0x09080b80, 0x0d0c0f80);
	__m256i xh = dot_acc(_mm256_set1_epi32(0x40800000), hi, ld256(aq + 32), true);
	return dot_acc(_mm256_shuffle_epi8(xh, up), lo, ld256(aq), true);
}

/* -2^14 (s[0] + s[2] + s[4] + s[6]) in every lane: quad_pair's bias. */
AI __m256i k4_bias(__m128i scm)
{
	__m128i s = _mm_cvtepu8_epi16(scm); /* words s[0..7]; dword c: s[2c] + s[2c + 1] << 16 */
	s = _mm_madd_epi16(s, _mm_set1_epi32(-16384 & 0xffff));
	s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(1, 0, 3, 2)));
	s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(2, 3, 0, 1)));
	return _mm256_broadcastsi128_si256(s);
}

/* Q4_K/Q5_K: one weight row (unpacked nibbles and spread scales once per
 * block) against up to 4 activation rows. */
AI void k4_tile(int64_t n, float *y, size_t ldy, const uint8_t *w, size_t ldw, const uint8_t *a, size_t lda,
		const int RM, const int RN, const size_t WB, const size_t off_qh, const size_t off_qs, const bool five,
		const bool vnni, const __m128i *gg)
{
	(void)ldw;
	(void)RM;
	const __m256i m4 = _mm256_set1_epi8(15), one = _mm256_set1_epi8(1);
	__m256 acc[4];
	__m128 accm[4]; /* Q4_K: ggml's 4 lanes of mins; Q5_K: its scalar, in lane 0 */
	UNROLL for (int j = 0; j < RN; j++) {
		acc[j] = _mm256_setzero_ps();
		accm[j] = _mm_setzero_ps();
	}
	for (int64_t b = 0; b < n / QK_K; b++, w += WB) {
		float dw = h2f(w + OFF(block_q4_K, d));
		float dmw = h2f(w + OFF(block_q4_K, dmin));
		__m128i scm = k4_scales_v(w + OFF(block_q4_K, scales));
		int32_t sct[8]; /* broadcast loads, not shuffles: the shuffle port is the busier */
		int32_t scp[4]; /* VNNI: the scales of groups 2c | 2c + 1 << 16, for quad_pair */
		if (vnni)
			_mm_storeu_si128((__m128i *)(void *)scp, _mm_cvtepu8_epi16(scm));
		else
			k4_scale_words(scm, sct);
		const uint8_t *qs = w + off_qs;
		__m256i hb = five ? ld256(w + off_qh) : _mm256_setzero_si256();
		__m256i sumi[4]; /* both halves of every chunk: the sum of ggml's two is exact either way */
		__m256i bias = vnni ? k4_bias(scm) : _mm256_setzero_si256();
		UNROLL for (int j = 0; j < RN; j++)
			sumi[j] = bias;
		UNROLL for (int c = 0; c < 4; c++) {
			__m256i qb = ld256(qs + 32 * c);
			__m256i lo = _mm256_and_si256(qb, m4);
			__m256i hi = _mm256_and_si256(_mm256_srli_epi16(qb, 4), m4);
			if (five) {
				lo = _mm256_or_si256(lo, _mm256_slli_epi16(_mm256_and_si256(hb, one), 4));
				hi = _mm256_or_si256(hi, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 1), one), 4));
				hb = _mm256_srli_epi16(hb, 2);
			}
			if (vnni) {
				__m256i s01 = _mm256_set1_epi32(scp[c]);
				UNROLL for (int j = 0; j < RN; j++) {
					const uint8_t *aq = a + (size_t)j * lda + (size_t)b * AK + AK_QS;
					sumi[j] = madd_acc(sumi[j], quad_pair(lo, hi, aq + 64 * c), s01, true);
				}
				continue;
			}
			__m256i s0 = _mm256_set1_epi32(sct[2 * c]), s1 = _mm256_set1_epi32(sct[2 * c + 1]);
			UNROLL for (int j = 0; j < RN; j++) {
				const uint8_t *aq = a + (size_t)j * lda + (size_t)b * AK + AK_QS;
				__m256i p0 = _mm256_maddubs_epi16(lo, ld256(aq + 64 * c));
				__m256i p1 = _mm256_maddubs_epi16(hi, ld256(aq + 64 * c + 32));
				sumi[j] = madd_acc(madd_acc(sumi[j], p0, s0, vnni), p1, s1, vnni);
			}
		}
		__m128i mw = _mm_cvtepu8_epi16(_mm_srli_si128(scm, 8)); /* the 8 mins as words */
		UNROLL for (int j = 0; j < RN; j++) {
			const uint8_t *ab = a + (size_t)j * lda + (size_t)b * AK;
			float ad = ldf(ab + OFF(block_q8_K, d));
			acc[j] = _mm256_fmadd_ps(_mm256_set1_ps(dw * ad), _mm256_cvtepi32_ps(sumi[j]), acc[j]);
			if (five || !gg) {
				__m256i mn16 = _mm256_cvtepu8_epi16(_mm_unpackhi_epi8(scm, scm));
				__m256i msum = _mm256_madd_epi16(mn16, ld256(ab + AK_BS));
				if (five)
					accm[j] = _mm_set_ss(k5_mins_acc(_mm_cvtss_f32(accm[j]), ad * dmw, msum));
				else
					accm[j] = k4_mins_acc(accm[j], ad * dmw, msum);
			} else { /* k4_mins_acc's 4 lanes from the bsums' group sums: one vpmaddwd */
				__m128i m = _mm_madd_epi16(_mm_loadu_si128(&gg[(size_t)b * 4 + j]), mw);
				accm[j] = _mm_fmadd_ps(_mm_set1_ps(ad * dmw), _mm_cvtepi32_ps(m), accm[j]);
			}
		}
	}
	UNROLL for (int j = 0; j < RN; j++)
		y[(size_t)j * ldy] = hsum_ps(acc[j]) - (five ? _mm_cvtss_f32(accm[j]) : hsum4_ps(accm[j]));
}
#define TILE_Q5_K_(n, y, ldy, w, ldw, a, lda, M, N, V) \
	k4_tile(n, y, ldy, w, ldw, a, lda, M, N, sizeof(struct block_q5_K), OFF(block_q5_K, qh), OFF(block_q5_K, qs), true, V, NULL)
#define TILE_Q5_K(n, y, ldy, w, ldw, a, lda, M, N) TILE_Q5_K_(n, y, ldy, w, ldw, a, lda, M, N, false)
#define TILE_Q5_K_VNNI(n, y, ldy, w, ldw, a, lda, M, N) TILE_Q5_K_(n, y, ldy, w, ldw, a, lda, M, N, true)
GEMM_DRIVER(q5_K, 1, 4, TILE_Q5_K)
GEMM_DRIVER(q5_K_vnni, 1, 4, TILE_Q5_K_VNNI)
/* Q4_K rows longer than the stack's mins sums: the mins from the bsums in the tile */
#define TILE_Q4_K_MINS(n, y, ldy, w, ldw, a, lda, M, N) \
	k4_tile(n, y, ldy, w, ldw, a, lda, M, N, sizeof(struct block_q4_K), 0, OFF(block_q4_K, qs), false, false, NULL)
#define TILE_Q4_K_MINS_VNNI(n, y, ldy, w, ldw, a, lda, M, N) \
	k4_tile(n, y, ldy, w, ldw, a, lda, M, N, sizeof(struct block_q4_K), 0, OFF(block_q4_K, qs), false, true, NULL)
GEMM_DRIVER(q4_K_mins, 1, 4, TILE_Q4_K_MINS)
GEMM_DRIVER(q4_K_mins_vnni, 1, 4, TILE_Q4_K_MINS_VNNI)

/* Q4_K's mins per activation row and block: G[g] = bsum[2g] + bsum[2g + 1]
 * as words (|G| <= 4064), lane l holding G[2l] | G[2l + 1] << 16, so that
 * one vpmaddwd with the mins gives the 4 lanes k4_mins_acc's vpmaddwd and
 * vphaddd give, the same integers. Made once per call for all its weight
 * rows (on the stack: rows up to K4_GG_BLOCKS blocks). */
#define K4_GG_BLOCKS 64

static void k4_gg(__m128i *gg, const uint8_t *a, size_t lda, int na, int64_t nb)
{
	for (int64_t b = 0; b < nb; b++)
		for (int j = 0; j < na; j++) {
			gg[b * 4 + j] = k4_gsums(a + (size_t)j * lda + (size_t)b * AK + AK_BS);
		}
}

/* Q4_K with AVX-VNNI (without it: k8_gemm below). */
static void gemm_q4_K_vnni(const struct qtype *t, int64_t n, float *y, size_t ldy, const void *vw, size_t ldw,
			   int nw, const void *va, size_t lda, int na)
{
	(void)t;
	const uint8_t *w = vw, *a = va;
	const int64_t nb = n / QK_K;
	if (nb > K4_GG_BLOCKS) {
		gemm_q4_K_mins_vnni(NULL, n, y, ldy, w, ldw, nw, a, lda, na);
		return;
	}
	__m128i gg[4 * K4_GG_BLOCKS];
	for (int j = 0; j < na; j += 4) {
		int rn = na - j < 4 ? na - j : 4;
		const uint8_t *at = a + (size_t)j * lda;
		k4_gg(gg, at, lda, rn, nb);
		for (int i = 0; i < nw; i++) {
			float *yt = y + (size_t)j * ldy + i;
			const uint8_t *wt = w + (size_t)i * ldw;
			const size_t WB = sizeof(struct block_q4_K), QS = OFF(block_q4_K, qs);
			switch (rn) {
			case 1: k4_tile(n, yt, ldy, wt, ldw, at, lda, 1, 1, WB, 0, QS, false, true, gg); break;
			case 2: k4_tile(n, yt, ldy, wt, ldw, at, lda, 1, 2, WB, 0, QS, false, true, gg); break;
			case 3: k4_tile(n, yt, ldy, wt, ldw, at, lda, 1, 3, WB, 0, QS, false, true, gg); break;
			default: k4_tile(n, yt, ldy, wt, ldw, at, lda, 1, 4, WB, 0, QS, false, true, gg); break;
			}
		}
	}
}

/* Q4_K without VNNI (Zen 3 and other AVX2-only CPUs, issue 18). The 1 x 4
 * tile spent about 6 vector uops per 32 products where the products need 3
 * (vpmaddubsw, vpmaddwd by the group scale, vpaddd); here one weight row
 * meets up to 8 activation rows, group by group: the group's nibbles and
 * scale in two registers, the 8 rows' sums in 8 more. Nibbles and scales
 * are unpacked once per 8 rows; d * ad is one vmulps per block for the 8
 * rows, the mins take two activation rows per register. Same integers per
 * lane, same float operations per output as vec_dot_q4_K. */
struct k8_pre {
	float ad[K4_GG_BLOCKS][8];   /* ad of activation row j in block b (0 past na) */
	__m256 adp[K4_GG_BLOCKS][4]; /* rows 2q, 2q + 1's ad, 4 lanes each */
	__m128i gg[K4_GG_BLOCKS][8]; /* k4_gg's sums of the bsums, row j of block b */
};

static void k8_prepare(struct k8_pre *p, const uint8_t *a, size_t lda, int na, int64_t nb, bool mins)
{
	for (int64_t b = 0; b < nb; b++) {
		for (int j = 0; j < 8; j++) {
			const uint8_t *ab = a + (size_t)j * lda + (size_t)b * AK;
			p->ad[b][j] = j < na ? ldf(ab + AK_D) : 0.0f;
			if (mins)
				p->gg[b][j] = j < na ? k4_gsums(ab + AK_BS) : _mm_setzero_si128();
		}
		if (mins)
			for (int q = 0; q < 4; q++)
				p->adp[b][q] = _mm256_setr_m128(_mm_set1_ps(p->ad[b][2 * q]), _mm_set1_ps(p->ad[b][2 * q + 1]));
	}
}

/* Broadcasts from memory: a load, where gcc's broadcast of a value it has
 * just stored takes two shuffles, and the shuffles are the busy port. */
AI __m256i bcast_d(const int32_t *p)
{
	__m256i v;
	__asm__("vpbroadcastd %1, %0" : "=x"(v) : "m"(*p));
	return v;
}

AI __m256 bcast_s(const float *p)
{
	__m256 v;
	__asm__("vbroadcastss %1, %0" : "=x"(v) : "m"(*p));
	return v;
}

/* One weight row against RN activation rows. */
AI void k8_row(int64_t nb, float *y, size_t ldy, const uint8_t *w, const uint8_t *a, size_t lda, const int RN,
	       const struct k8_pre *pre)
{
	const size_t WB = sizeof(struct block_q4_K);
	const __m256i m4 = _mm256_set1_epi8(15);
	__m256 acc[8], accm[4]; /* accm: k4_mins_acc's 4 lanes, rows 2q and 2q + 1 in the two halves */
	UNROLL for (int j = 0; j < RN; j++)
		acc[j] = _mm256_setzero_ps();
	UNROLL for (int q = 0; q < (RN + 1) / 2; q++)
		accm[q] = _mm256_setzero_ps();
	for (int64_t b = 0; b < nb; b++, w += WB) {
		__m128i scm = k4_scales_v(w + OFF(block_q4_K, scales));
		int32_t sct[8];
		k4_scale_words(scm, sct);
		float dd[8];
		_mm256_storeu_ps(dd, _mm256_mul_ps(_mm256_set1_ps(h2f(w + OFF(block_q4_K, d))), _mm256_loadu_ps(pre->ad[b])));
		const uint8_t *qs = w + OFF(block_q4_K, qs), *ab = a + (size_t)b * AK + AK_QS;
		__m256i sumi[8];
		UNROLL for (int g = 0; g < 8; g++) {
			__m256i qb = ld256(qs + 32 * (g / 2));
			__m256i q = _mm256_and_si256(g & 1 ? _mm256_srli_epi16(qb, 4) : qb, m4);
			__m256i sc = bcast_d(&sct[g]);
			UNROLL for (int j = 0; j < RN; j++) {
				__m256i p = _mm256_maddubs_epi16(q, ld256(ab + (size_t)j * lda + 32 * g));
				p = _mm256_madd_epi16(p, sc);
				sumi[j] = g ? _mm256_add_epi32(sumi[j], p) : p;
				/* the sum stays a chain in a register: unfenced, gcc makes
				 * a tree of the 8 products and spills them all */
				__asm__("" : "+x"(sumi[j]));
			}
		}
		UNROLL for (int j = 0; j < RN; j++)
			acc[j] = _mm256_fmadd_ps(bcast_s(&dd[j]), _mm256_cvtepi32_ps(sumi[j]), acc[j]);
		__m256 dmw = _mm256_set1_ps(h2f(w + OFF(block_q4_K, dmin)));
		__m256i mw = _mm256_broadcastsi128_si256(_mm_cvtepu8_epi16(_mm_srli_si128(scm, 8)));
		UNROLL for (int q = 0; q < (RN + 1) / 2; q++) {
			__m256i m = _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)(const void *)&pre->gg[b][2 * q]), mw);
			accm[q] = _mm256_fmadd_ps(_mm256_mul_ps(pre->adp[b][q], dmw), _mm256_cvtepi32_ps(m), accm[q]);
		}
	}
	UNROLL for (int j = 0; j < RN; j++) {
		__m128 m = j & 1 ? _mm256_extractf128_ps(accm[j / 2], 1) : _mm256_castps256_ps128(accm[j / 2]);
		y[(size_t)j * ldy] = hsum_ps(acc[j]) - hsum4_ps(m);
	}
}

/* Q6_K: one weight row (the 6-bit quants rebuilt once per block) against up
 * to 4 activation rows. */
AI void q6k_tile(int64_t n, float *y, size_t ldy, const uint8_t *w, size_t ldw, const uint8_t *a, size_t lda,
		 const int RM, const int RN, const bool vnni)
{
	(void)ldw;
	(void)RM;
	const __m256i m4 = _mm256_set1_epi8(15), m30 = _mm256_set1_epi8(0x30);
	__m256 acc[4];
	UNROLL for (int j = 0; j < RN; j++)
		acc[j] = _mm256_setzero_ps();
	for (int64_t b = 0; b < n / QK_K; b++, w += sizeof(struct block_q6_K)) {
		float dw = h2f(w + OFF(block_q6_K, d));
		__m256i sc16 = _mm256_cvtepi8_epi16(ld128(w + OFF(block_q6_K, scales)));
		__m256i sumi[4];
		UNROLL for (int j = 0; j < RN; j++)
			sumi[j] = _mm256_setzero_si256();
		UNROLL for (int h = 0; h < 2; h++) {
			const uint8_t *ql = w + OFF(block_q6_K, ql) + 64 * h;
			__m256i l0 = ld256(ql), l1 = ld256(ql + 32);
			__m256i qh = ld256(w + OFF(block_q6_K, qh) + 32 * h);
			__m256i q[4];
			q[0] = _mm256_or_si256(_mm256_and_si256(l0, m4), _mm256_and_si256(_mm256_slli_epi16(qh, 4), m30));
			q[1] = _mm256_or_si256(_mm256_and_si256(l1, m4), _mm256_and_si256(_mm256_slli_epi16(qh, 2), m30));
			q[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m4), _mm256_and_si256(qh, m30));
			q[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4),
					       _mm256_and_si256(_mm256_srli_epi16(qh, 2), m30));
			__m256i sch = half_scales(sc16, h);
			UNROLL for (int k = 0; k < 4; k++) {
				__m256i ls = lane_scales(sch, k);
				UNROLL for (int j = 0; j < RN; j++) {
					const uint8_t *aq = a + (size_t)j * lda + (size_t)b * AK + AK_QS + 128 * h + 32 * k;
					__m256i p = _mm256_maddubs_epi16(q[k], ld256(aq));
					sumi[j] = madd_acc(sumi[j], p, ls, vnni);
				}
			}
		}
		UNROLL for (int j = 0; j < RN; j++) {
			/* q is unsigned 0..63: the -32 offset is -32 * sum(sc * bsum) */
			const uint8_t *ab = a + (size_t)j * lda + (size_t)b * AK;
			__m256i corr = _mm256_slli_epi32(_mm256_madd_epi16(sc16, ld256(ab + AK_BS)), 5);
			float ad = ldf(ab + OFF(block_q8_K, d));
			acc[j] = _mm256_fmadd_ps(_mm256_set1_ps(dw * ad), _mm256_cvtepi32_ps(_mm256_sub_epi32(sumi[j], corr)), acc[j]);
		}
	}
	UNROLL for (int j = 0; j < RN; j++)
		y[(size_t)j * ldy] = hsum_ps(acc[j]);
}
#define TILE_Q6_K(n, y, ldy, w, ldw, a, lda, M, N) q6k_tile(n, y, ldy, w, ldw, a, lda, M, N, false)
#define TILE_Q6_K_VNNI(n, y, ldy, w, ldw, a, lda, M, N) q6k_tile(n, y, ldy, w, ldw, a, lda, M, N, true)
GEMM_DRIVER(q6_K_1x4, 1, 4, TILE_Q6_K)
GEMM_DRIVER(q6_K_vnni, 1, 4, TILE_Q6_K_VNNI)

/* Q6_K without VNNI: k8_row's shape, one weight row against up to 8
 * activation rows, a 32-byte register of quants (two groups of 16) and its
 * lane scales at a time, the 8 rows' sums in registers. The quants are
 * rebuilt from memory operands per register (loads are cheap, registers are
 * not). Same integers and float operations as vec_dot_q6_K. */
AI void q6k8_row(int64_t nb, float *y, size_t ldy, const uint8_t *w, const uint8_t *a, size_t lda, const int RN,
		 const struct k8_pre *pre)
{
	const size_t WB = sizeof(struct block_q6_K);
	const __m256i m4 = _mm256_set1_epi8(15), m30 = _mm256_set1_epi8(0x30);
	__m256 acc[8];
	UNROLL for (int j = 0; j < RN; j++)
		acc[j] = _mm256_setzero_ps();
	for (int64_t b = 0; b < nb; b++, w += WB) {
		__m256i sc16 = _mm256_cvtepi8_epi16(ld128(w + OFF(block_q6_K, scales)));
		float dd[8];
		_mm256_storeu_ps(dd, _mm256_mul_ps(_mm256_set1_ps(h2f(w + OFF(block_q6_K, d))), _mm256_loadu_ps(pre->ad[b])));
		const uint8_t *ab = a + (size_t)b * AK + AK_QS;
		__m256i sumi[8];
		UNROLL for (int h = 0; h < 2; h++) {
			const uint8_t *ql = w + OFF(block_q6_K, ql) + 64 * h, *qh = w + OFF(block_q6_K, qh) + 32 * h;
			__m256i sch = half_scales(sc16, h);
			UNROLL for (int k = 0; k < 4; k++) {
				__m256i l = ld256(ql + 32 * (k & 1));
				__m256i hb = ld256(qh);
				l = k < 2 ? l : _mm256_srli_epi16(l, 4);
				hb = k == 0 ? _mm256_slli_epi16(hb, 4) : k == 1 ? _mm256_slli_epi16(hb, 2)
					: k == 2 ? hb : _mm256_srli_epi16(hb, 2);
				__m256i q = _mm256_or_si256(_mm256_and_si256(l, m4), _mm256_and_si256(hb, m30));
				__m256i ls = lane_scales(sch, k);
				UNROLL for (int j = 0; j < RN; j++) {
					__m256i p = _mm256_maddubs_epi16(q, ld256(ab + (size_t)j * lda + 128 * h + 32 * k));
					p = _mm256_madd_epi16(p, ls);
					sumi[j] = h || k ? _mm256_add_epi32(sumi[j], p) : p;
					__asm__("" : "+x"(sumi[j])); /* a chain, not a tree: see k8_row */
				}
			}
		}
		UNROLL for (int j = 0; j < RN; j++) {
			/* q is unsigned 0..63: the -32 offset is -32 * sum(sc * bsum) */
			__m256i corr = _mm256_madd_epi16(sc16, ld256(ab + (size_t)j * lda - AK_QS + AK_BS));
			__m256i s = _mm256_sub_epi32(sumi[j], _mm256_slli_epi32(corr, 5));
			acc[j] = _mm256_fmadd_ps(bcast_s(&dd[j]), _mm256_cvtepi32_ps(s), acc[j]);
		}
	}
	UNROLL for (int j = 0; j < RN; j++)
		y[(size_t)j * ldy] = hsum_ps(acc[j]);
}

/* Q4_K (k8_row) or Q6_K (q6k8_row) prefill: every weight row against the
 * call's activation rows, 8 at a time, their sums prepared once per 8. */
AI void k8_gemm(int64_t nb, float *y, size_t ldy, const uint8_t *w, size_t ldw, int nw, const uint8_t *a, size_t lda,
		int na, const bool q6)
{
	struct k8_pre pre;
	for (int j = 0; j < na; j += 8) {
		int rn = na - j < 8 ? na - j : 8;
		const uint8_t *at = a + (size_t)j * lda;
		k8_prepare(&pre, at, lda, rn, nb, !q6);
		for (int i = 0; i < nw; i++) {
			float *yt = y + (size_t)j * ldy + i;
			const uint8_t *wt = w + (size_t)i * ldw;
#define K8_CASE(N)                                                   \
	case N:                                                      \
		if (q6)                                              \
			q6k8_row(nb, yt, ldy, wt, at, lda, N, &pre); \
		else                                                 \
			k8_row(nb, yt, ldy, wt, at, lda, N, &pre);   \
		break;
			switch (rn) {
				K8_CASE(1) K8_CASE(2) K8_CASE(3) K8_CASE(4) K8_CASE(5) K8_CASE(6) K8_CASE(7)
			default:
				K8_CASE(8)
			}
#undef K8_CASE
		}
	}
}

static void gemm_q4_K(const struct qtype *t, int64_t n, float *y, size_t ldy, const void *vw, size_t ldw, int nw,
		      const void *va, size_t lda, int na)
{
	(void)t;
	const int64_t nb = n / QK_K;
	if (nb > K4_GG_BLOCKS)
		gemm_q4_K_mins(NULL, n, y, ldy, vw, ldw, nw, va, lda, na);
	else
		k8_gemm(nb, y, ldy, vw, ldw, nw, va, lda, na, false);
}

static void gemm_q6_K(const struct qtype *t, int64_t n, float *y, size_t ldy, const void *vw, size_t ldw, int nw,
		      const void *va, size_t lda, int na)
{
	const int64_t nb = n / QK_K;
	if (nb > K4_GG_BLOCKS)
		gemm_q6_K_1x4(t, n, y, ldy, vw, ldw, nw, va, lda, na);
	else
		k8_gemm(nb, y, ldy, vw, ldw, nw, va, lda, na, true);
}

/* Float types: 2 x 4 tiles, 8 elements a step, scalar tail. */
#define FLOAT_TILE(name, ES, LOAD8, LOAD1)                                                          \
	AI void name##_tile(int64_t n, float *y, size_t ldy, const uint8_t *w, size_t ldw, const uint8_t *a, \
			    size_t lda, const int RM, const int RN)                                  \
	{                                                                                            \
		__m256 acc[2][4];                                                                    \
		UNROLL for (int i = 0; i < RM; i++)                                                  \
			UNROLL for (int j = 0; j < RN; j++)                                          \
				acc[i][j] = _mm256_setzero_ps();                                     \
		int64_t k = 0;                                                                       \
		for (; k + 8 <= n; k += 8) {                                                         \
			__m256 wv[2];                                                                \
			UNROLL for (int i = 0; i < RM; i++)                                          \
				wv[i] = LOAD8(w + (size_t)i * ldw + ES * k);                         \
			UNROLL for (int j = 0; j < RN; j++) {                                        \
				__m256 av = _mm256_loadu_ps((const float *)(const void *)(a + (size_t)j * lda) + k); \
				UNROLL for (int i = 0; i < RM; i++)                                  \
					acc[i][j] = _mm256_fmadd_ps(wv[i], av, acc[i][j]);           \
			}                                                                            \
		}                                                                                    \
		UNROLL for (int i = 0; i < RM; i++)                                                  \
			UNROLL for (int j = 0; j < RN; j++) {                                        \
				const float *x = (const float *)(const void *)(a + (size_t)j * lda);  \
				float sum = hsum_ps(acc[i][j]);                                      \
				for (int64_t e = k; e < n; e++)                                      \
					sum += LOAD1(w + (size_t)i * ldw + ES * e) * x[e];           \
				y[(size_t)j * ldy + i] = sum;                                        \
			}                                                                            \
	}
FLOAT_TILE(f32, 4, load8_f32, ldf)
FLOAT_TILE(f16, 2, load8_f16, ld_f16)
FLOAT_TILE(bf16, 2, load8_bf16, ld_bf16)
GEMM_DRIVER(f32, 2, 4, f32_tile)
GEMM_DRIVER(f16, 2, 4, f16_tile)
GEMM_DRIVER(bf16, 2, 4, bf16_tile)

bool kernels_avx2_install(struct qtype *t)
{
	t[GGML_F32].vec_dot = vec_dot_f32;
	t[GGML_F16].vec_dot = vec_dot_f16;
	t[GGML_F16].to_float = to_float_f16;
	t[GGML_F16].from_float = from_float_f16;
	t[GGML_BF16].vec_dot = vec_dot_bf16;
	t[GGML_BF16].to_float = to_float_bf16;
	t[GGML_BF16].from_float = from_float_bf16;
	t[GGML_Q8_0].vec_dot = vec_dot_q8_0;
	t[GGML_Q8_0].from_float = from_float_q8_0;
	t[GGML_Q8_1].from_float = from_float_q8_1;
	t[GGML_Q8_K].from_float = from_float_q8_K;
	t[GGML_Q4_0].vec_dot = vec_dot_q4_0;
	t[GGML_Q5_0].vec_dot = vec_dot_q5_0;
	t[GGML_IQ4_NL].vec_dot = vec_dot_iq4_nl;
	t[GGML_IQ4_NL].vec_dot_dense = vec_dot_iq4_nl_dense;
	t[GGML_IQ4_NL].gemm_dense = gemm_iq4_nl_dense;
	t[GGML_Q4_1].vec_dot = vec_dot_q4_1;
	t[GGML_Q5_1].vec_dot = vec_dot_q5_1;
	t[GGML_Q2_K].vec_dot = vec_dot_q2_K;
	t[GGML_Q3_K].vec_dot = vec_dot_q3_K;
	t[GGML_Q4_K].vec_dot = vec_dot_q4_K;
	t[GGML_Q4_K].vec_dot_rows = vec_dot_rows_q4_K;
	t[GGML_Q5_K].vec_dot = vec_dot_q5_K;
	t[GGML_Q6_K].vec_dot = vec_dot_q6_K;
	t[GGML_IQ4_XS].vec_dot = vec_dot_iq4_xs;
	t[GGML_F32].gemm = gemm_f32;
	t[GGML_F16].gemm = gemm_f16;
	t[GGML_BF16].gemm = gemm_bf16;
	t[GGML_Q8_0].gemm = gemm_q8_0;
	t[GGML_Q4_0].gemm = gemm_q4_0;
	t[GGML_Q4_K].gemm = gemm_q4_K;
	t[GGML_Q5_K].gemm = gemm_q5_K;
	t[GGML_Q6_K].gemm = gemm_q6_K;
	return true;
}

/* AVX-VNNI (Alder Lake and later without AVX-512): the same tiles with the
 * multiply-add-accumulate fused; the caller checks cpu_features()->avx_vnni. */
bool kernels_avxvnni_install(struct qtype *t)
{
	t[GGML_Q8_0].gemm = gemm_q8_0_vnni;
	t[GGML_Q4_0].gemm = gemm_q4_0_vnni;
	t[GGML_Q4_K].gemm = gemm_q4_K_vnni;
	t[GGML_Q5_K].gemm = gemm_q5_K_vnni;
	t[GGML_Q6_K].gemm = gemm_q6_K_vnni;
	return true;
}

#else /* built without the ISA */

bool kernels_avx2_install(struct qtype *t)
{
	(void)t;
	return false;
}

bool kernels_avxvnni_install(struct qtype *t)
{
	(void)t;
	return false;
}

#endif
