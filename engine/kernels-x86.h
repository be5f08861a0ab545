/* kernels-x86.h - byte-level helpers shared by the x86 kernel files.
 *
 * Included by kernels-avx2.c, kernels-avx512.c and kernels-lowbit-avx2.c
 * inside their ISA guards, so each file compiles these with its own target
 * flags (they need AVX2 and F16C at least). Everything is static inline:
 * no symbol crosses files built for different ISAs. Loads go through memcpy
 * or unaligned intrinsics because GGUF blocks are not aligned. */
#ifndef HEFT_KERNELS_X86_H
#define HEFT_KERNELS_X86_H

#include "kernels-bytes.h"

#include <immintrin.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

static inline float h2f(const uint8_t *p)
{
	uint16_t h;
	memcpy(&h, p, 2);
	return _cvtsh_ss(h);
}

static inline __m128i ld128(const uint8_t *p)
{
	return _mm_loadu_si128((const __m128i *)(const void *)p);
}

static inline __m256i ld256(const uint8_t *p)
{
	return _mm256_loadu_si256((const __m256i *)(const void *)p);
}

static inline float hsum_ps(__m256 v)
{
	__m128 x = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
	x = _mm_add_ps(x, _mm_movehl_ps(x, x));
	x = _mm_add_ss(x, _mm_movehdup_ps(x));
	return _mm_cvtss_f32(x);
}

/* ---- ggml's float order for the K-quants (issue 18) ----
 * heft's low-bit logits are held to llama.cpp's plain CPU path, so a dot
 * product must round as ggml's AVX2 kernel does: per block, the integer
 * sums of its 8 int32 lanes (lane l: elements 4l..4l+3 of every 32), one
 * FMA by the block scale into 8 float lanes, hsum_ps at the end. Integer
 * sums are exact in any order; only this float structure matters. */

/* (m0 + m2) + (m1 + m3), ggml's sum of a __m128. */
static inline float hsum4_ps(__m128 x)
{
	x = _mm_add_ps(x, _mm_movehl_ps(x, x));
	x = _mm_add_ss(x, _mm_movehdup_ps(x));
	return _mm_cvtss_f32(x);
}

/* Q4_K's mins: msum8 lane g = mn[g] * (bsum[2g] + bsum[2g+1]); ggml sums
 * pairs of groups into 4 lanes, accumulated by dmin. */
static inline __m128 k4_mins_acc(__m128 accm, float dmin, __m256i msum8)
{
	__m128i m4 = _mm_hadd_epi32(_mm256_castsi256_si128(msum8), _mm256_extracti128_si256(msum8, 1));
	return _mm_fmadd_ps(_mm_set1_ps(dmin), _mm_cvtepi32_ps(m4), accm);
}

/* Q5_K's mins: ggml sums all groups to one integer, accumulated by dmin in
 * a scalar (its build contracts the multiply-add). */
static inline float k5_mins_acc(float accm, float dmin, __m256i msum8)
{
	__m128i x = _mm_add_epi32(_mm256_castsi256_si128(msum8), _mm256_extracti128_si256(msum8, 1));
	x = _mm_add_epi32(x, _mm_shuffle_epi32(x, 0x4e));
	x = _mm_add_epi32(x, _mm_shuffle_epi32(x, 0xb1));
	return fmaf(dmin, (float)_mm_cvtsi128_si32(x), accm);
}

/* Q4_K/Q5_K's 8 scales (bytes 0..7) and mins (8..15) from one 16-byte load
 * (the 12 scale bytes and 4 of qs): two pshufd where a scalar unpacking
 * needs four inserts into the vector (decode, issue 18). */
static inline __m128i k4_scales_v(const uint8_t *p)
{
	__m128i v = ld128(p);                                     /* k0 k1 k2 . */
	__m128i x = _mm_shuffle_epi32(v, _MM_SHUFFLE(2, 1, 2, 0)); /* k0 k2 k1 k2 */
	__m128i y = _mm_shuffle_epi32(v, _MM_SHUFFLE(1, 1, 0, 0)); /* k0 k0 k1 k1 */
	x = _mm_and_si128(_mm_srlv_epi32(x, _mm_setr_epi32(0, 0, 0, 4)),
			  _mm_setr_epi32(0x3f3f3f3f, 0x0f0f0f0f, 0x3f3f3f3f, 0x0f0f0f0f));
	y = _mm_and_si128(_mm_srli_epi32(y, 2), _mm_setr_epi32(0, 0x30303030, 0, 0x30303030));
	return _mm_or_si128(x, y);
}

/* Q4_K's mins are ggml's 4 lanes (k4_mins_acc) kept in the even lanes of 8:
 * lane 2j += dmin * (msum[2j] + msum[2j + 1]), a shift and an add where
 * vphaddd and an extract cost three shuffles per block. */
static inline __m256 k4_mins_acc8(__m256 accm, float dmin, __m256i msum8)
{
	__m256i m = _mm256_add_epi32(msum8, _mm256_srli_epi64(msum8, 32));
	return _mm256_fmadd_ps(_mm256_set1_ps(dmin), _mm256_cvtepi32_ps(m), accm);
}

/* The 8 group scales as doubled words, for broadcast loads. */
static inline void k4_scale_words(__m128i scm, int32_t sct[8])
{
	__m128i sc16 = _mm_cvtepu8_epi16(scm);
	_mm_storeu_si128((__m128i *)(void *)sct, _mm_unpacklo_epi16(sc16, sc16));
	_mm_storeu_si128((__m128i *)(void *)(sct + 4), _mm_unpackhi_epi16(sc16, sc16));
}

/* acc + the pairwise products of 16-bit words: vpdpwssd where the file is
 * built for AVX512-VNNI, else vpmaddwd and vpaddd. Both are exact (no
 * saturation), so the sums are the same bits either way. */
static inline __m256i dot_words(__m256i acc, __m256i a, __m256i b)
{
#if defined(__AVX512VNNI__) && defined(__AVX512VL__)
	return _mm256_dpwssd_epi32(acc, a, b);
#else
	return _mm256_add_epi32(acc, _mm256_madd_epi16(a, b));
#endif
}

/* An activation block's 16 bsums summed in pairs, G[g] = bsum[2g] +
 * bsum[2g+1], as 8 words (|G| <= 4096). */
static inline __m128i k4_gsums(const uint8_t *bs)
{
	return _mm_hadd_epi16(ld128(bs), ld128(bs + 16));
}

/* sum over groups of mn[g] * (bsum[2g] + bsum[2g+1]), as 8 int32. */
static inline __m256i k4_mins(__m128i scm, const uint8_t *bsums)
{
	__m256i mn16 = _mm256_cvtepu8_epi16(_mm_unpackhi_epi8(scm, scm));
	return _mm256_madd_epi16(mn16, ld256(bsums));
}

/* The Q4_K and Q5_K decode products of both x86 files, in 256-bit
 * registers (Intel has three vector ports for them, two for 512 bits).
 * They are bound by shuffles (one port): the 8 group scales go to the
 * stack as doubled words, and each group's is a broadcast load (no
 * shuffle) instead of a vpshufb. Same integer sums, same float order. */
static inline void vec_dot_q4_K(int64_t n, float *s, const void *vw, const void *va)
{
	const uint8_t *w = vw, *a = va;
	const __m256i m4 = _mm256_set1_epi8(15);
	__m256 acc = _mm256_setzero_ps(), accm = _mm256_setzero_ps();
	int32_t sct[8];
	for (int64_t i = 0; i < n / QK_K; i++, w += sizeof(struct block_q4_K), a += AK) {
		prefetch_ahead(w, sizeof(struct block_q4_K));
		float ad = ldf(a + OFF(block_q8_K, d));
		float d = ad * h2f(w + OFF(block_q4_K, d));
		float dmin = ad * h2f(w + OFF(block_q4_K, dmin));
		__m128i scm = k4_scales_v(w + OFF(block_q4_K, scales));
		__m256i msum = k4_mins(scm, a + AK_BS);
		k4_scale_words(scm, sct);
		const uint8_t *qs = w + OFF(block_q4_K, qs), *aq = a + AK_QS;
		__m256i sum0 = _mm256_setzero_si256(), sum1 = _mm256_setzero_si256();
		for (int c = 0; c < 4; c++) {
			__m256i qb = ld256(qs + 32 * c);
			__m256i lo = _mm256_and_si256(qb, m4);
			__m256i hi = _mm256_and_si256(_mm256_srli_epi16(qb, 4), m4);
			__m256i p0 = _mm256_maddubs_epi16(lo, ld256(aq + 64 * c));
			__m256i p1 = _mm256_maddubs_epi16(hi, ld256(aq + 64 * c + 32));
			sum0 = dot_words(sum0, p0, _mm256_set1_epi32(sct[2 * c]));
			sum1 = dot_words(sum1, p1, _mm256_set1_epi32(sct[2 * c + 1]));
		}
		acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(_mm256_add_epi32(sum0, sum1)), acc);
		accm = k4_mins_acc8(accm, dmin, msum);
	}
	__m256 even = _mm256_permutevar8x32_ps(accm, _mm256_setr_epi32(0, 2, 4, 6, 0, 2, 4, 6));
	*s = hsum_ps(acc) - hsum4_ps(_mm256_castps256_ps128(even));
}

/* R consecutive Q4_K rows (ldw bytes apart) against one activation row,
 * interleaved so that their chains overlap and the activation's loads and
 * bsums serve all of them (decode's expert and dense rows, issue 18). Each
 * row's float operations are vec_dot_q4_K's, in its order: the same bits.
 * One integer accumulator per row where vec_dot_q4_K keeps two: the sum of
 * int32 lanes is exact in any order. R is a constant at every call. */
static inline __attribute__((always_inline)) void k4_dot_rows(int64_t n, float *s, const uint8_t *w, size_t ldw,
							      const uint8_t *a, const int R)
{
	const __m256i m4 = _mm256_set1_epi8(15);
	__m256 acc[4];
	__m128 accm[4], dd[4];
	int32_t sct[4][8];
	_Pragma("GCC unroll 4")
	for (int r = 0; r < R; r++)
		acc[r] = _mm256_setzero_ps(), accm[r] = _mm_setzero_ps();
	for (int64_t i = 0; i < n / QK_K; i++, w += sizeof(struct block_q4_K), a += AK) {
		__m128 ad = _mm_set1_ps(ldf(a + OFF(block_q8_K, d)));
		__m128i gs = k4_gsums(a + AK_BS);
		const uint8_t *aq = a + AK_QS;
		/* The rows are read side by side, so a prefetch PREFETCH_AHEAD
		 * along each row would leave the lines at the start of the later
		 * rows of the next group unasked. Instead the group's steps
		 * prefetch the next R rows as one stream, R blocks' bytes a step:
		 * by the last step all of them are asked for. */
		const uint8_t *pf = w + (size_t)R * ldw + (size_t)i * (R - 1) * sizeof(struct block_q4_K);
		for (size_t o = 0; o < R * sizeof(struct block_q4_K); o += 64)
			__builtin_prefetch(pf + o, 0, 3);
		_Pragma("GCC unroll 4")
		for (int r = 0; r < R; r++) {
			const uint8_t *wr = w + (size_t)r * ldw;
			/* d, dmin (adjacent halves) times ad, lane by lane as vec_dot's scalars */
			int32_t dm;
			memcpy(&dm, wr + OFF(block_q4_K, d), 4);
			dd[r] = _mm_mul_ps(ad, _mm_cvtph_ps(_mm_cvtsi32_si128(dm)));
			__m128i scm = k4_scales_v(wr + OFF(block_q4_K, scales));
			/* ggml's 4 lanes of mins, mn[2j] G[2j] + mn[2j+1] G[2j+1] */
			__m128i mq = _mm_madd_epi16(_mm_cvtepu8_epi16(_mm_srli_si128(scm, 8)), gs);
			accm[r] = _mm_fmadd_ps(_mm_shuffle_ps(dd[r], dd[r], 0x55), _mm_cvtepi32_ps(mq), accm[r]);
			k4_scale_words(scm, sct[r]);
		}
		__m256i sum[4];
		_Pragma("GCC unroll 4")
		for (int r = 0; r < R; r++)
			sum[r] = _mm256_setzero_si256();
		_Pragma("GCC unroll 4")
		for (int c = 0; c < 4; c++) {
			__m256i a0 = ld256(aq + 64 * c), a1 = ld256(aq + 64 * c + 32);
			_Pragma("GCC unroll 4")
			for (int r = 0; r < R; r++) {
				__m256i qb = ld256(w + (size_t)r * ldw + OFF(block_q4_K, qs) + 32 * c);
				__m256i lo = _mm256_and_si256(qb, m4);
				__m256i hi = _mm256_and_si256(_mm256_srli_epi16(qb, 4), m4);
				sum[r] = dot_words(sum[r], _mm256_maddubs_epi16(lo, a0), _mm256_set1_epi32(sct[r][2 * c]));
				sum[r] = dot_words(sum[r], _mm256_maddubs_epi16(hi, a1), _mm256_set1_epi32(sct[r][2 * c + 1]));
			}
		}
		_Pragma("GCC unroll 4")
		for (int r = 0; r < R; r++)
			acc[r] = _mm256_fmadd_ps(_mm256_broadcastss_ps(dd[r]), _mm256_cvtepi32_ps(sum[r]), acc[r]);
	}
	_Pragma("GCC unroll 4")
	for (int r = 0; r < R; r++)
		s[r] = hsum_ps(acc[r]) - hsum4_ps(accm[r]);
}

static inline void vec_dot_q5_K(int64_t n, float *s, const void *vw, const void *va)
{
	const uint8_t *w = vw, *a = va;
	const __m256i m4 = _mm256_set1_epi8(15), one = _mm256_set1_epi8(1);
	__m256 acc = _mm256_setzero_ps();
	float accm = 0;
	int32_t sct[8];
	for (int64_t i = 0; i < n / QK_K; i++, w += sizeof(struct block_q5_K), a += AK) {
		prefetch_ahead(w, sizeof(struct block_q5_K));
		float ad = ldf(a + OFF(block_q8_K, d));
		float d = ad * h2f(w + OFF(block_q5_K, d));
		float dmin = ad * h2f(w + OFF(block_q5_K, dmin));
		__m128i scm = k4_scales_v(w + OFF(block_q5_K, scales));
		__m256i msum = k4_mins(scm, a + AK_BS);
		k4_scale_words(scm, sct);
		const uint8_t *qs = w + OFF(block_q5_K, qs), *aq = a + AK_QS;
		__m256i hb = ld256(w + OFF(block_q5_K, qh));
		__m256i sum0 = _mm256_setzero_si256(), sum1 = _mm256_setzero_si256();
		for (int c = 0; c < 4; c++) {
			/* bit 2c of qh is the 5th bit of group 2c, bit 2c+1 of 2c+1;
			 * hb is shifted right by 2 each round (16-bit shifts: the
			 * masked bit never crosses a byte). */
			__m256i qb = ld256(qs + 32 * c);
			__m256i lo = _mm256_and_si256(qb, m4);
			__m256i hi = _mm256_and_si256(_mm256_srli_epi16(qb, 4), m4);
			lo = _mm256_or_si256(lo, _mm256_slli_epi16(_mm256_and_si256(hb, one), 4));
			hi = _mm256_or_si256(hi, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 1), one), 4));
			hb = _mm256_srli_epi16(hb, 2);
			__m256i p0 = _mm256_maddubs_epi16(lo, ld256(aq + 64 * c));
			__m256i p1 = _mm256_maddubs_epi16(hi, ld256(aq + 64 * c + 32));
			sum0 = dot_words(sum0, p0, _mm256_set1_epi32(sct[2 * c]));
			sum1 = dot_words(sum1, p1, _mm256_set1_epi32(sct[2 * c + 1]));
		}
		acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(_mm256_add_epi32(sum0, sum1)), acc);
		accm = k5_mins_acc(accm, dmin, msum);
	}
	*s = hsum_ps(acc) - accm;
}

#endif
