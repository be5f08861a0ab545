/* kernels-avx512.c - AVX-512 (F, BW, VL, DQ, VNNI) rows of the type table.
 *
 * Compiled with -mavx512f -mavx512bw -mavx512vl -mavx512dq -mavx512vnni
 * -mfma -mf16c; quant.c calls kernels_avx512_install() only after the AVX2
 * installer and only when cpu_features()->can_avx512. Rows not set here
 * keep their AVX2 kernels.
 *
 * Same integer algebra as the reference: exact int32 sums per scale group,
 * one float multiply-add per block. VNNI supplies vpdpbusd (u8 x s8 sums of
 * four, no saturation) for the single-scale blocks and vpdpwssd (the int16
 * scale multiply fused with the accumulation) for the K-quants. */

#include "kernels.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__) && \
	defined(__AVX512DQ__) && defined(__AVX512VNNI__) && defined(__FMA__) && defined(__F16C__)
#include <immintrin.h>

#include "kernels-x86.h"

static inline __m512i ld512(const uint8_t *p)
{
	return _mm512_loadu_si512((const void *)p);
}

/* 32 bytes from each of two addresses, one register. */
static inline __m512i ld2x256(const uint8_t *p0, const uint8_t *p1)
{
	return _mm512_inserti64x4(_mm512_castsi256_si512(ld256(p0)), ld256(p1), 1);
}

/* d0 in the low 8 lanes, d1 in the high 8. */
static inline __m512 two_scales(float d0, float d1)
{
	return _mm512_insertf32x8(_mm512_set1_ps(d0), _mm256_set1_ps(d1), 1);
}

/* 128-bit lane k of v: the extract's lane must be a constant expression
 * (clang insists even where the loop is unrolled). */
static inline __m128 lane128(__m512 v, int k)
{
	switch (k & 3) {
	case 0: return _mm512_extractf32x4_ps(v, 0);
	case 1: return _mm512_extractf32x4_ps(v, 1);
	case 2: return _mm512_extractf32x4_ps(v, 2);
	default: return _mm512_extractf32x4_ps(v, 3);
	}
}

/* Signed x signed int8 to int32 sums of 4: |w| as the unsigned operand, a
 * with w's sign (|a| <= 127, so no overflow). */
static inline __m256i dot_ss256(__m256i w, __m256i a)
{
	return _mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm256_sign_epi8(w, w), _mm256_sign_epi8(a, w));
}

/* ---- Q8_0 and Q4_0 ---- */

/* The single-row Q8_0/Q4_0 products go one block per 256-bit vpdpbusd:
 * pairing blocks in 512 bits costs two inserts and an extract per pair,
 * more than it saves (in cache: 1.4x / 1.2x faster this way). Same chain. */
static void vec_dot_q8_0(int64_t n, float *s, const void *vw, const void *va)
{
	const uint8_t *w = vw, *a = va;
	const size_t WB = sizeof(struct block_q8_0);
	__m256 acc = _mm256_setzero_ps();
	for (int64_t i = 0; i < n / 32; i++, w += WB, a += A80) {
		prefetch_ahead(w, WB);
		__m256i p = dot_ss256(ld256(w + 2), ld256(a + A80_QS));
		acc = _mm256_fmadd_ps(_mm256_set1_ps(h2f(w) * h2f(a)), _mm256_cvtepi32_ps(p), acc);
	}
	*s = hsum_ps(acc);
}

/* Q4_0: unsigned nibbles into vpdpbusd, minus 8 * sum(a) (also a vpdpbusd).
 * Blocks b0, b1 -> [b0 lo | b0 hi | b1 lo | b1 hi] in element order. */
static inline __m512i q4_0_pair(const uint8_t *w0, const uint8_t *w1)
{
	__m256i v = _mm256_set_m128i(ld128(w1 + 2), ld128(w0 + 2));
	__m512i x = _mm512_inserti64x4(_mm512_castsi256_si512(v), _mm256_srli_epi16(v, 4), 1);
	x = _mm512_and_si512(x, _mm512_set1_epi8(15));
	return _mm512_shuffle_i64x2(x, x, _MM_SHUFFLE(3, 1, 2, 0));
}

static void vec_dot_q4_0(int64_t n, float *s, const void *vw, const void *va)
{
	const uint8_t *w = vw, *a = va;
	const size_t WB = sizeof(struct block_q4_0);
	const __m256i m4 = _mm256_set1_epi8(15), eight = _mm256_set1_epi8(8);
	__m256 acc = _mm256_setzero_ps();
	for (int64_t i = 0; i < n / 32; i++, w += WB, a += A80) {
		prefetch_ahead(w, WB);
		__m128i v = ld128(w + 2);
		__m256i q = _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(v, 4), v), m4);
		__m256i av = ld256(a + A80_QS);
		__m256i p = _mm256_sub_epi32(_mm256_dpbusd_epi32(_mm256_setzero_si256(), q, av),
					     _mm256_dpbusd_epi32(_mm256_setzero_si256(), eight, av));
		acc = _mm256_fmadd_ps(_mm256_set1_ps(h2f(w) * h2f(a)), _mm256_cvtepi32_ps(p), acc);
	}
	*s = hsum_ps(acc);
}

/* ---- K-quants: Q8_K activations ---- */

/* 8 int16 group scales (both halves of every lane) -> for pair k, scale of
 * group 2k in the low 256 bits and of 2k+1 in the high 256 bits. */
static inline __m512i pair_scales(__m512i sc, int k)
{
	__m512i lo = _mm512_set1_epi16((short)(0x0100 + 0x0202 * (2 * k)));
	__m512i hi = _mm512_set1_epi16((short)(0x0100 + 0x0202 * (2 * k + 1)));
	return _mm512_shuffle_epi8(sc, _mm512_mask_blend_epi64(0xf0, lo, hi));
}

/* 128 bytes of nibbles (4 x 32, element 64c + r at qs[32c + r%32], low
 * nibble for r < 32) as 4 registers of 64 elements in order; qh, if not
 * NULL, supplies the 5th bit (bit 2c + r/32 of qh[r%32]). */
static inline void k4_unpack(const uint8_t *qs, const uint8_t *qh, __m512i q[4])
{
	const __m512i m4 = _mm512_set1_epi8(15);
	for (int h = 0; h < 2; h++) {
		__m512i x = ld512(qs + 64 * h);
		__m512i lo = _mm512_and_si512(x, m4);
		__m512i hi = _mm512_and_si512(_mm512_srli_epi16(x, 4), m4);
		q[2 * h] = _mm512_shuffle_i64x2(lo, hi, _MM_SHUFFLE(1, 0, 1, 0));
		q[2 * h + 1] = _mm512_shuffle_i64x2(lo, hi, _MM_SHUFFLE(3, 2, 3, 2));
	}
	if (qh) { /* [qh | qh >> 1], shifted by 2 per c: bit 0 of each byte is the 5th bit */
		__m256i h = ld256(qh);
		__m512i hb = _mm512_inserti64x4(_mm512_castsi256_si512(h), _mm256_srli_epi16(h, 1), 1);
		const __m512i sixteen = _mm512_set1_epi8(16);
		for (int c = 0; c < 4; c++) {
			q[c] = _mm512_or_si512(q[c], _mm512_and_si512(_mm512_slli_epi16(hb, 4), sixteen));
			hb = _mm512_srli_epi16(hb, 2);
		}
	}
}

/* 16 int32 lanes covering two 32-element chunks to ggml's 8 (kernels-x86.h):
 * lane l of each 256-bit half holds elements 4l..4l+3 of its chunk. */
static inline __m256i fold8(__m512i v)
{
	return _mm256_add_epi32(_mm512_castsi512_si256(v), _mm512_extracti64x4_epi64(v, 1));
}

/* Q6_K: 16 groups of 16 - one 128-bit lane of a maddubs result is one
 * group, so the int16 scales are spread one per lane with vpermw. */
static void vec_dot_q6_K(int64_t n, float *s, const void *vw, const void *va)
{
	const uint8_t *w = vw, *a = va;
	const __m512i m4 = _mm512_set1_epi8(15), m30 = _mm512_set1_epi8(0x30);
	const __m512i lane_idx = _mm512_set_epi64(0x0003000300030003, 0x0003000300030003,
						  0x0002000200020002, 0x0002000200020002,
						  0x0001000100010001, 0x0001000100010001, 0, 0);
	__m256 acc = _mm256_setzero_ps();
	for (int64_t i = 0; i < n / QK_K; i++, w += sizeof(struct block_q6_K), a += AK) {
		prefetch_ahead(w, sizeof(struct block_q6_K));
		float d = ldf(a + OFF(block_q8_K, d)) * h2f(w + OFF(block_q6_K, d));
		__m256i sc16 = _mm256_cvtepi8_epi16(ld128(w + OFF(block_q6_K, scales)));
		__m256i corr = _mm256_madd_epi16(sc16, ld256(a + AK_BS));
		__m512i sc = _mm512_zextsi256_si512(sc16);
		__m512i sum0 = _mm512_setzero_si512(), sum1 = _mm512_setzero_si512();
		for (int h = 0; h < 2; h++) {
			__m512i l = ld512(w + OFF(block_q6_K, ql) + 64 * h);
			__m256i qh = ld256(w + OFF(block_q6_K, qh) + 32 * h);
			__m512i hv = _mm512_inserti64x4(_mm512_castsi256_si512(qh), _mm256_srli_epi16(qh, 2), 1);
			__m512i q01 = _mm512_or_si512(_mm512_and_si512(l, m4),
						      _mm512_and_si512(_mm512_slli_epi16(hv, 4), m30));
			__m512i q23 = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(l, 4), m4),
						      _mm512_and_si512(hv, m30));
			const uint8_t *aq = a + AK_QS + 128 * h;
			__m512i p01 = _mm512_maddubs_epi16(q01, ld512(aq));
			__m512i p23 = _mm512_maddubs_epi16(q23, ld512(aq + 64));
			__m512i s01 = _mm512_permutexvar_epi16(
				_mm512_add_epi16(lane_idx, _mm512_set1_epi16((short)(8 * h))), sc);
			__m512i s23 = _mm512_permutexvar_epi16(
				_mm512_add_epi16(lane_idx, _mm512_set1_epi16((short)(8 * h + 4))), sc);
			sum0 = _mm512_dpwssd_epi32(sum0, p01, s01);
			sum1 = _mm512_dpwssd_epi32(sum1, p23, s23);
		}
		__m512i sumi = _mm512_add_epi32(sum0, sum1);
		sumi = _mm512_sub_epi32(sumi, _mm512_zextsi256_si512(_mm256_slli_epi32(corr, 5)));
		acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(fold8(sumi)), acc);
	}
	*s = hsum_ps(acc);
}

/* IQ4_XS: 64 bytes of nibbles hold groups 4k..4k+3; two vpermt2q put each
 * pair of groups in element order. */
static void vec_dot_iq4_xs(int64_t n, float *s, const void *vw, const void *va)
{
	const uint8_t *w = vw, *a = va;
	const __m512i m4 = _mm512_set1_epi8(15);
	const __m512i lut = _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)(const void *)kvalues_iq4nl));
	const __m512i ia = _mm512_setr_epi64(0, 1, 8, 9, 2, 3, 10, 11);
	const __m512i ib = _mm512_setr_epi64(4, 5, 12, 13, 6, 7, 14, 15);
	__m256 acc = _mm256_setzero_ps();
	for (int64_t i = 0; i < n / QK_K; i++, w += sizeof(struct block_iq4_xs), a += AK) {
		prefetch_ahead(w, sizeof(struct block_iq4_xs));
		float d = ldf(a + OFF(block_q8_K, d)) * h2f(w + OFF(block_iq4_xs, d));
		uint16_t sh;
		uint32_t sl;
		memcpy(&sh, w + OFF(block_iq4_xs, scales_h), 2);
		memcpy(&sl, w + OFF(block_iq4_xs, scales_l), 4);
		int16_t ls[8];
		for (int g = 0; g < 8; g++)
			ls[g] = (int16_t)((int)((sl >> 4 * g & 15) | (sh >> 2 * g & 3u) << 4) - 32);
		__m512i sc = _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)(const void *)ls));
		__m512i sum0 = _mm512_setzero_si512(), sum1 = _mm512_setzero_si512();
		for (int k = 0; k < 2; k++) {
			__m512i x = ld512(w + OFF(block_iq4_xs, qs) + 64 * k);
			__m512i lo = _mm512_and_si512(x, m4);
			__m512i hi = _mm512_and_si512(_mm512_srli_epi16(x, 4), m4);
			__m512i g01 = _mm512_shuffle_epi8(lut, _mm512_permutex2var_epi64(lo, ia, hi));
			__m512i g23 = _mm512_shuffle_epi8(lut, _mm512_permutex2var_epi64(lo, ib, hi));
			__m512i a01 = ld512(a + AK_QS + 128 * k), a23 = ld512(a + AK_QS + 128 * k + 64);
			__m512i s01 = _mm512_mask_sub_epi8(a01, _mm512_movepi8_mask(g01), _mm512_setzero_si512(), a01);
			__m512i s23 = _mm512_mask_sub_epi8(a23, _mm512_movepi8_mask(g23), _mm512_setzero_si512(), a23);
			__m512i p01 = _mm512_maddubs_epi16(_mm512_abs_epi8(g01), s01);
			__m512i p23 = _mm512_maddubs_epi16(_mm512_abs_epi8(g23), s23);
			sum0 = _mm512_dpwssd_epi32(sum0, p01, pair_scales(sc, 2 * k));
			sum1 = _mm512_dpwssd_epi32(sum1, p23, pair_scales(sc, 2 * k + 1));
		}
		acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(fold8(_mm512_add_epi32(sum0, sum1))), acc);
	}
	*s = hsum_ps(acc);
}

/* ---- float types: 64 elements per iteration, masked tail ---- */

static inline __m512 load16_f32(const uint8_t *p)
{
	return _mm512_loadu_ps((const void *)p);
}

static inline __m512 load16_f16(const uint8_t *p)
{
	return _mm512_cvtph_ps(ld256(p));
}

static inline __m512 load16_bf16(const uint8_t *p)
{
	return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(ld256(p)), 16));
}

static inline __m512 mload_f32(const uint8_t *p, __mmask16 m)
{
	return _mm512_maskz_loadu_ps(m, (const void *)p);
}

static inline __m512 mload_f16(const uint8_t *p, __mmask16 m)
{
	return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, (const void *)p));
}

static inline __m512 mload_bf16(const uint8_t *p, __mmask16 m)
{
	__m256i v = _mm256_maskz_loadu_epi16(m, (const void *)p);
	return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(v), 16));
}

#define FLOAT_DOT(name, ES, LOAD16, MLOAD)                                               \
	static void vec_dot_##name(int64_t n, float *s, const void *vw, const void *va)  \
	{                                                                                 \
		const uint8_t *w = vw;                                                    \
		const float *x = va;                                                      \
		__m512 c0 = _mm512_setzero_ps(), c1 = c0, c2 = c0, c3 = c0;               \
		int64_t i = 0;                                                            \
		for (; i + 64 <= n; i += 64) {                                            \
			prefetch_ahead(w + ES * i, ES * 64);                              \
			c0 = _mm512_fmadd_ps(LOAD16(w + ES * i), _mm512_loadu_ps(x + i), c0); \
			c1 = _mm512_fmadd_ps(LOAD16(w + ES * (i + 16)), _mm512_loadu_ps(x + i + 16), c1); \
			c2 = _mm512_fmadd_ps(LOAD16(w + ES * (i + 32)), _mm512_loadu_ps(x + i + 32), c2); \
			c3 = _mm512_fmadd_ps(LOAD16(w + ES * (i + 48)), _mm512_loadu_ps(x + i + 48), c3); \
		}                                                                         \
		for (; i + 16 <= n; i += 16)                                              \
			c0 = _mm512_fmadd_ps(LOAD16(w + ES * i), _mm512_loadu_ps(x + i), c0); \
		if (i < n) {                                                              \
			__mmask16 m = (__mmask16)((1u << (n - i)) - 1);                   \
			c1 = _mm512_fmadd_ps(MLOAD(w + ES * i, m), _mm512_maskz_loadu_ps(m, x + i), c1); \
		}                                                                         \
		*s = _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(c0, c1), _mm512_add_ps(c2, c3))); \
	}

FLOAT_DOT(f32, 4, load16_f32, mload_f32)
FLOAT_DOT(bf16, 2, load16_bf16, mload_bf16)

/* F16 as ggml_vec_dot_f16 built for AVX-512 without its FP16 extension
 * (llama.cpp's flash attention scores K.q with it): 4 accumulators over 64
 * elements, reduced (c0 + c2) + (c1 + c3), the tail in double. */
static void vec_dot_f16(int64_t n, float *s, const void *vw, const void *va)
{
	const uint8_t *w = vw;
	const float *x = va;
	__m512 c[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
	int64_t i = 0;
	for (; i + 64 <= n; i += 64) {
		prefetch_ahead(w + 2 * i, 128);
		for (int j = 0; j < 4; j++)
			c[j] = _mm512_fmadd_ps(load16_f16(w + 2 * (i + 16 * j)), _mm512_loadu_ps(x + i + 16 * j), c[j]);
	}
	double sum = _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(c[0], c[2]), _mm512_add_ps(c[1], c[3])));
	for (; i < n; i++)
		sum += (double)(h2f(w + 2 * i) * x[i]);
	*s = (float)sum;
}

/* ---- multi-row products (gemm) ----------------------------------------------
 *
 * Register-blocked tiles of RM weight rows x RN activation rows; the tile
 * functions are always inlined with constant RM, RN so every array below
 * lives in registers. The driver covers any nw x na with edge tiles. */

#define AI static inline __attribute__((always_inline))
#define UNROLL _Pragma("GCC unroll 16")

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
					TILE_CASES(TILE, RMAX)                                    \
				}                                                                 \
			}                                                                         \
		}                                                                                 \
	}

#define TCASE(TILE, M, N)                                                          \
	case M * 16 + N:                                                           \
		if (M <= RM_MAX_ && N <= RN_MAX_)                                  \
			TILE(n, yt, ldy, wt, ldw, at, lda, (M <= RM_MAX_ ? M : 1), (N <= RN_MAX_ ? N : 1)); \
		break;
#define TCASES_N(TILE, M)                                                          \
	TCASE(TILE, M, 1) TCASE(TILE, M, 2) TCASE(TILE, M, 3) TCASE(TILE, M, 4)    \
	TCASE(TILE, M, 5) TCASE(TILE, M, 6) TCASE(TILE, M, 7) TCASE(TILE, M, 8)
#define TILE_CASES(TILE, RMAX) TCASES_N(TILE, 1) TCASES_N(TILE, 2) TCASES_N(TILE, 3) TCASES_N(TILE, 4)

/* -- Q8_0-activation types: two blocks per register, vpdpbusd on unsigned x
 * signed bytes. Signed weights (Q8_0, IQ4_NL) meet a ^ 0x80 = a + 128, the
 * excess 128 * sum(w) starts the accumulator negated; unsigned weights
 * (Q4_0 nibbles, Q5_0) meet a directly and the offset * sum(a) is
 * subtracted the same way. An odd last block rides alone with a zero scale
 * in the upper half. */
enum { KQ8_0, KQ4_0, KQ5_0, KIQ4_NL, KIQ4_NL_DENSE }; /* the last: IQ4_NL in one chain (llamafile) */

AI __m512i nib_pair(const uint8_t *w0, const uint8_t *w1)
{
	return q4_0_pair(w0, w1);
}

AI __m512i q80_unpack(const uint8_t *w, size_t WB, const int kind, const bool two)
{
	const uint8_t *w1 = two ? w + WB : w;
	switch (kind) {
	case KQ8_0:
		return two ? ld2x256(w + 2, w + WB + 2) : _mm512_zextsi256_si512(ld256(w + 2));
	case KQ4_0:
		return nib_pair(w, w1);
	case KQ5_0: {
		__m512i q = nib_pair(w + 4, w1 + 4); /* qs after d and qh */
		uint32_t h0, h1;
		memcpy(&h0, w + 2, 4);
		memcpy(&h1, w1 + 2, 4);
		__mmask64 m = (__mmask64)h0 | (__mmask64)h1 << 32;
		return _mm512_mask_add_epi8(q, m, q, _mm512_set1_epi8(16));
	}
	default: {
		const __m512i lut = _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)(const void *)kvalues_iq4nl));
		return _mm512_shuffle_epi8(lut, nib_pair(w, w1));
	}
	}
}

AI void q80_step(__m512 acc[4][8], const uint8_t *w, size_t ldw, const uint8_t *a, size_t lda, int64_t b,
		 const int RM, const int RN, const int kind, const size_t WB, const bool two)
{
	const __m512i zero = _mm512_setzero_si512();
	const bool wsigned = kind == KQ8_0 || kind == KIQ4_NL || kind == KIQ4_NL_DENSE;
	__m512i wv[4], wi[4];
	__m512 dw[4];
	UNROLL for (int i = 0; i < RM; i++) {
		const uint8_t *wb = w + (size_t)i * ldw + (size_t)b * WB;
		wv[i] = q80_unpack(wb, WB, kind, two);
		dw[i] = two_scales(h2f(wb), two ? h2f(wb + WB) : 0.0f);
		if (wsigned)
			wi[i] = _mm512_sub_epi32(zero, _mm512_dpbusd_epi32(zero, _mm512_set1_epi8((char)0x80), wv[i]));
	}
	UNROLL for (int j = 0; j < RN; j++) {
		const uint8_t *ab = a + (size_t)j * lda + (size_t)b * A80;
		__m512i av = two ? ld2x256(ab + A80_QS, ab + A80 + A80_QS) : _mm512_zextsi256_si512(ld256(ab + A80_QS));
		__m512 da = two_scales(h2f(ab), two ? h2f(ab + A80) : 0.0f);
		__m512i ai = zero;
		if (wsigned)
			av = _mm512_xor_si512(av, _mm512_set1_epi8((char)0x80));
		else
			ai = _mm512_sub_epi32(zero, _mm512_dpbusd_epi32(zero, _mm512_set1_epi8(kind == KQ5_0 ? 16 : 8), av));
		UNROLL for (int i = 0; i < RM; i++) {
			__m512i p = wsigned ? _mm512_dpbusd_epi32(wi[i], av, wv[i]) : _mm512_dpbusd_epi32(ai, wv[i], av);
			__m512 ds = _mm512_mul_ps(dw[i], da);
			if (kind == KIQ4_NL) { /* ggml's vec_dot: even and odd blocks in two chains */
				acc[i][j] = _mm512_fmadd_ps(ds, _mm512_cvtepi32_ps(p), acc[i][j]);
			} else { /* one chain in the low half: block 0's lanes, then block 1's */
				__m512 f = _mm512_cvtepi32_ps(p);
				__m256 c = _mm512_castps512_ps256(acc[i][j]);
				c = _mm256_fmadd_ps(_mm512_castps512_ps256(ds), _mm512_castps512_ps256(f), c);
				if (two)
					c = _mm256_fmadd_ps(_mm512_extractf32x8_ps(ds, 1), _mm512_extractf32x8_ps(f, 1), c);
				acc[i][j] = _mm512_zextps256_ps512(c);
			}
		}
	}
}

AI void q80_tile(int64_t n, float *y, size_t ldy, const uint8_t *w, size_t ldw, const uint8_t *a, size_t lda,
		 const int RM, const int RN, const int kind, const size_t WB)
{
	__m512 acc[4][8];
	UNROLL for (int i = 0; i < RM; i++)
		UNROLL for (int j = 0; j < RN; j++)
			acc[i][j] = _mm512_setzero_ps();
	const int64_t nb = n / 32;
	int64_t b = 0;
	for (; b + 2 <= nb; b += 2)
		q80_step(acc, w, ldw, a, lda, b, RM, RN, kind, WB, true);
	if (b < nb)
		q80_step(acc, w, ldw, a, lda, b, RM, RN, kind, WB, false);
	UNROLL for (int i = 0; i < RM; i++)
		UNROLL for (int j = 0; j < RN; j++)
			y[(size_t)j * ldy + i] = kind == KIQ4_NL ? _mm512_reduce_add_ps(acc[i][j])
							       : hsum_ps(_mm512_castps512_ps256(acc[i][j]));
}

#define RM_MAX_ 4
#define RN_MAX_ 4
#define TILE_Q8_0(n, y, ldy, w, ldw, a, lda, M, N) q80_tile(n, y, ldy, w, ldw, a, lda, M, N, KQ8_0, sizeof(struct block_q8_0))
#define TILE_Q4_0(n, y, ldy, w, ldw, a, lda, M, N) q80_tile(n, y, ldy, w, ldw, a, lda, M, N, KQ4_0, sizeof(struct block_q4_0))
#define TILE_Q5_0(n, y, ldy, w, ldw, a, lda, M, N) q80_tile(n, y, ldy, w, ldw, a, lda, M, N, KQ5_0, sizeof(struct block_q5_0))
#define TILE_IQ4_NL(n, y, ldy, w, ldw, a, lda, M, N) q80_tile(n, y, ldy, w, ldw, a, lda, M, N, KIQ4_NL, sizeof(struct block_iq4_nl))
#define TILE_IQ4_NL_DENSE(n, y, ldy, w, ldw, a, lda, M, N) \
	q80_tile(n, y, ldy, w, ldw, a, lda, M, N, KIQ4_NL_DENSE, sizeof(struct block_iq4_nl))
GEMM_DRIVER(q8_0, 4, 4, TILE_Q8_0)
GEMM_DRIVER(q4_0, 4, 4, TILE_Q4_0)
GEMM_DRIVER(q5_0, 4, 4, TILE_Q5_0)
GEMM_DRIVER(iq4_nl, 4, 4, TILE_IQ4_NL)
GEMM_DRIVER(iq4_nl_dense, 4, 4, TILE_IQ4_NL_DENSE)
#undef RM_MAX_
#undef RN_MAX_

/* -- K-quants: one weight row against up to 8 activation rows; the unpacked
 * quants and spread scales of a weight block stay in registers while the
 * activation rows' blocks stream from L1. */
#define RM_MAX_ 1
#define RN_MAX_ 8

/* Two activation rows share each float register: row 2p's 8 lanes of
 * ggml's chain in the low half, row 2p+1's in the high half, and the Q4_K
 * mins of rows 4r..4r+3 in one register, four lanes each. Every lane sees
 * the same multiply-adds as in dot_k4 (the products of the scales are the
 * same IEEE products, the integer sums exact), so the outputs are bitwise
 * vec_dot's; the fold, convert, scale and multiply-add run once per pair
 * (the mins once per quad) instead of once per row. Rows past RN repeat
 * the last one: their lanes are computed and dropped. */
static inline __m512i fold8x2(__m512i v0, __m512i v1)
{
	return _mm512_add_epi32(_mm512_shuffle_i64x2(v0, v1, _MM_SHUFFLE(1, 0, 1, 0)),
				_mm512_shuffle_i64x2(v0, v1, _MM_SHUFFLE(3, 2, 3, 2)));
}

/* The 8 int32 lanes of rows r0 | r1 and r2 | r3 to each row's 4 pair sums
 * (_mm_hadd_epi32 of its halves, as k4_mins_acc): row k in lanes 4k..4k+3. */
static inline __m512i hadd4x4(__m512i m01, __m512i m23)
{
	const __m512i ev = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
	const __m512i od = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
	return _mm512_add_epi32(_mm512_permutex2var_epi32(m01, ev, m23), _mm512_permutex2var_epi32(m01, od, m23));
}

/* The tile's integer sums with one vpdpbusd per 64 products, where
 * vpmaddubsw + vpdpwssd took two multiply uops (port 0 alone at 512 bits).
 * Chunk c's vpdpbusd leaves 16 exact sums of four: lane d < 8 group d of
 * sub-block 2c, lane 8 + d group d of 2c + 1, |x| <= 4 * 31 * 128 < 2^15.
 * Chunks 2k and 2k + 1 share a dword as words, 2k's low and 2k + 1's high
 * (a merging byte shuffle, another port), and one vpdpwssd applies four
 * scales - s[4k] x_2k + s[4k + 2] x_2k+1 in lane d < 8 - the same lanes,
 * the same int32s as four scale products did. */
static inline __m512i zero512(void)
{
	/* a fresh xor-zeroed register (eliminated at rename), not a copy of a
	 * shared zero: a vpdpbusd overwrites its accumulator */
	__m512i z;
	__asm__ volatile("vpxord %0, %0, %0" : "=v"(z));
	return z;
}

static inline __m512i chunk_pair(__m512i q0, __m512i q1, const uint8_t *aq)
{
	/* bytes 4l, 4l + 1 of each 128-bit lane to 4l + 2, 4l + 3 */
	const __m512i up = _mm512_broadcast_i32x4(_mm_setr_epi32(0x01000000, 0x05040000, 0x09080000, 0x0d0c0000));
	__m512i x0 = _mm512_dpbusd_epi32(zero512(), q0, ld512(aq));
	__m512i x1 = _mm512_dpbusd_epi32(zero512(), q1, ld512(aq + 64));
	return _mm512_mask_shuffle_epi8(x0, 0xccccccccccccccccull, x1, up);
}

/* The scales chunk_pair's lanes meet for chunks 2k, 2k + 1: (s[4k], s[4k + 2])
 * in the low 256 bits, (s[4k + 1], s[4k + 3]) in the high (sc: the 8 group
 * scales as words in every 128-bit lane). */
static inline __m512i quad_scales(__m512i sc, int k)
{
	int b = 8 * k;
	__m512i lo = _mm512_set1_epi32(b | (b + 1) << 8 | (b + 4) << 16 | (b + 5) << 24);
	__m512i hi = _mm512_set1_epi32((b + 2) | (b + 3) << 8 | (b + 6) << 16 | (b + 7) << 24);
	return _mm512_shuffle_epi8(sc, _mm512_mask_blend_epi64(0xf0, lo, hi));
}

AI void k4_tile(int64_t n, float *y, size_t ldy, const uint8_t *w, size_t ldw, const uint8_t *a, size_t lda,
		const int RM, const int RN, const size_t WB, const size_t off_qh, const size_t off_qs, const bool five,
		const __m512i *gg)
{
	const int NP = (RN + 1) / 2, NQ = (RN + 3) / 4;
	__m512 acc[2][4];  /* weight row m, pair p: rows 2p | 2p + 1 */
	__m512 accm[2][2]; /* Q4_K, quad r: rows 4r .. 4r + 3, 4 lanes each */
	float accm5[2][8]; /* Q5_K: ggml's scalar */
	UNROLL for (int m = 0; m < RM; m++) {
		UNROLL for (int p = 0; p < NP; p++)
			acc[m][p] = _mm512_setzero_ps();
		UNROLL for (int r = 0; r < NQ; r++)
			accm[m][r] = _mm512_setzero_ps();
		UNROLL for (int j = 0; j < RN; j++)
			accm5[m][j] = 0.0f;
	}
	for (int64_t b = 0; b < n / QK_K; b++, w += WB) {
		__m512 dw[2];
		float dmw[2];
		__m128i scm[2];
		__m512i q[2][4], ps[2][2];
		UNROLL for (int m = 0; m < RM; m++) {
			const uint8_t *wm = w + (size_t)m * ldw;
			dw[m] = _mm512_set1_ps(h2f(wm + OFF(block_q4_K, d)));
			dmw[m] = h2f(wm + OFF(block_q4_K, dmin));
			scm[m] = k4_scales_v(wm + OFF(block_q4_K, scales));
			__m512i sc = _mm512_broadcast_i32x4(_mm_cvtepu8_epi16(scm[m]));
			k4_unpack(wm + off_qs, five ? wm + off_qh : NULL, q[m]);
			UNROLL for (int k = 0; k < 2; k++)
				ps[m][k] = quad_scales(sc, k);
		}
		__m512 ad2[4];
		__m512i msum2[2][4];
		float adj[8];
		UNROLL for (int p = 0; p < NP; p++) {
			__m512i v[2][2];
			float ad[2];
			const uint8_t *ab[2];
			UNROLL for (int h = 0; h < 2; h++) {
				int j = 2 * p + h < RN ? 2 * p + h : RN - 1;
				ab[h] = a + (size_t)j * lda + (size_t)b * AK;
				ad[h] = ldf(ab[h] + OFF(block_q8_K, d));
				adj[2 * p + h] = ad[h];
				const uint8_t *aq = ab[h] + AK_QS;
				UNROLL for (int m = 0; m < RM; m++)
					v[m][h] = _mm512_dpwssd_epi32(_mm512_madd_epi16(chunk_pair(q[m][0], q[m][1], aq), ps[m][0]),
								      chunk_pair(q[m][2], q[m][3], aq + 128), ps[m][1]);
			}
			ad2[p] = two_scales(ad[0], ad[1]);
			UNROLL for (int m = 0; m < RM; m++) {
				if (five || !gg) {
					__m512i mn2 = _mm512_broadcast_i64x4(_mm256_cvtepu8_epi16(_mm_unpackhi_epi8(scm[m], scm[m])));
					msum2[m][p] = _mm512_madd_epi16(mn2, ld2x256(ab[0] + AK_BS, ab[1] + AK_BS));
				}
				acc[m][p] = _mm512_fmadd_ps(_mm512_mul_ps(dw[m], ad2[p]), _mm512_cvtepi32_ps(fold8x2(v[m][0], v[m][1])), acc[m][p]);
			}
		}
		UNROLL for (int m = 0; m < RM; m++) {
			if (five) {
				UNROLL for (int j = 0; j < RN; j++) {
					__m512i mm = msum2[m][j / 2];
					__m256i m8 = j % 2 ? _mm512_extracti64x4_epi64(mm, 1) : _mm512_castsi512_si256(mm);
					accm5[m][j] = k5_mins_acc(accm5[m][j], adj[j] * dmw[m], m8);
				}
				continue;
			}
			/* row 4r + k's 4 lanes: mn[2l] G[2l] + mn[2l + 1] G[2l + 1], one vpmaddwd */
			__m512i mw = _mm512_broadcast_i32x4(_mm_cvtepu8_epi16(_mm_srli_si128(scm[m], 8)));
			UNROLL for (int r = 0; r < NQ; r++) {
				__m512 ad01 = ad2[2 * r], ad23 = 2 * r + 1 < NP ? ad2[2 * r + 1] : ad01;
				__m512 ad4 = _mm512_shuffle_f32x4(ad01, ad23, _MM_SHUFFLE(2, 0, 2, 0));
				__m512i mm;
				if (gg) {
					mm = _mm512_madd_epi16(_mm512_load_si512((const void *)&gg[2 * b + r]), mw);
				} else {
					__m512i m01 = msum2[m][2 * r], m23 = 2 * r + 1 < NP ? msum2[m][2 * r + 1] : m01;
					mm = hadd4x4(m01, m23);
				}
				accm[m][r] = _mm512_fmadd_ps(_mm512_mul_ps(_mm512_set1_ps(dmw[m]), ad4), _mm512_cvtepi32_ps(mm), accm[m][r]);
			}
		}
	}
	UNROLL for (int m = 0; m < RM; m++)
		UNROLL for (int j = 0; j < RN; j++) {
			__m256 s = j % 2 ? _mm512_extractf32x8_ps(acc[m][j / 2], 1) : _mm512_castps512_ps256(acc[m][j / 2]);
			float mn;
			if (five)
				mn = accm5[m][j];
			else
				mn = hsum4_ps(lane128(accm[m][j / 4], j % 4));
			y[(size_t)j * ldy + m] = hsum_ps(s) - mn;
		}
}

#define TILE_Q4_K(n, y, ldy, w, ldw, a, lda, M, N) \
	k4_tile(n, y, ldy, w, ldw, a, lda, M, N, sizeof(struct block_q4_K), 0, OFF(block_q4_K, qs), false, gg)
#define TILE_Q5_K(n, y, ldy, w, ldw, a, lda, M, N) \
	k4_tile(n, y, ldy, w, ldw, a, lda, M, N, sizeof(struct block_q5_K), OFF(block_q5_K, qh), OFF(block_q5_K, qs), true, NULL)

/* Rows too long for the stack's sums: the mins from the bsums in the tile. */
#define TILE_Q4_K_MINS(n, y, ldy, w, ldw, a, lda, M, N) \
	k4_tile(n, y, ldy, w, ldw, a, lda, M, N, sizeof(struct block_q4_K), 0, OFF(block_q4_K, qs), false, NULL)
GEMM_DRIVER(q4_K_mins, 1, 8, TILE_Q4_K_MINS)

/* Q4_K's mins need, per activation row and block, the sums of its bsums by
 * group, G[g] = bsum[2g] + bsum[2g + 1] (|G| <= 4064: int16). Packed as
 * ggml's 4 lanes want them - lane l holds G[2l] | G[2l + 1] << 16 - one
 * vpmaddwd with the weight block's mins gives the lanes its vpmaddwd and
 * vphaddd gave, exactly. Rows 4r .. 4r + 3 of a block share a register,
 * made once per activation block for all the weight rows of a call. */
#define K4_GG_BLOCKS 64 /* rows up to 16384 columns; longer ones run in column strips */

static void k4_gg(__m512i *gg, const uint8_t *a, size_t lda, int na, int64_t nb)
{
	for (int64_t b = 0; b < nb; b++)
		for (int r = 0; r < 2; r++) {
			__m128i g[4];
			for (int k = 0; k < 4; k++) {
				int j = 4 * r + k < na ? 4 * r + k : na - 1;
				const uint8_t *bs = a + (size_t)j * lda + (size_t)b * AK + AK_BS;
				g[k] = k4_gsums(bs);
			}
			__m256i lo = _mm256_set_m128i(g[1], g[0]), hi = _mm256_set_m128i(g[3], g[2]);
			gg[2 * b + r] = _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
		}
}

AI void q6k_tile(int64_t n, float *y, size_t ldy, const uint8_t *w, size_t ldw, const uint8_t *a, size_t lda,
		 const int RM, const int RN)
{
	(void)ldw;
	(void)RM;
	const __m512i m4 = _mm512_set1_epi8(15), m30 = _mm512_set1_epi8(0x30);
	const __m512i lane_idx = _mm512_set_epi64(0x0003000300030003, 0x0003000300030003,
						  0x0002000200020002, 0x0002000200020002,
						  0x0001000100010001, 0x0001000100010001, 0, 0);
	const int NP = (RN + 1) / 2;
	__m512 acc[4]; /* pair p: rows 2p | 2p + 1, as in k4_tile */
	UNROLL for (int p = 0; p < NP; p++)
		acc[p] = _mm512_setzero_ps();
	for (int64_t b = 0; b < n / QK_K; b++, w += sizeof(struct block_q6_K)) {
		float dw = h2f(w + OFF(block_q6_K, d));
		__m256i sc16 = _mm256_cvtepi8_epi16(ld128(w + OFF(block_q6_K, scales)));
		__m512i sc = _mm512_zextsi256_si512(sc16), sc2 = _mm512_broadcast_i64x4(sc16);
		__m512i q[4], s[4];
		UNROLL for (int h = 0; h < 2; h++) {
			__m512i l = ld512(w + OFF(block_q6_K, ql) + 64 * h);
			__m256i qh = ld256(w + OFF(block_q6_K, qh) + 32 * h);
			__m512i hv = _mm512_inserti64x4(_mm512_castsi256_si512(qh), _mm256_srli_epi16(qh, 2), 1);
			q[2 * h] = _mm512_or_si512(_mm512_and_si512(l, m4), _mm512_and_si512(_mm512_slli_epi16(hv, 4), m30));
			q[2 * h + 1] = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(l, 4), m4), _mm512_and_si512(hv, m30));
			s[2 * h] = _mm512_permutexvar_epi16(_mm512_add_epi16(lane_idx, _mm512_set1_epi16((short)(8 * h))), sc);
			s[2 * h + 1] = _mm512_permutexvar_epi16(_mm512_add_epi16(lane_idx, _mm512_set1_epi16((short)(8 * h + 4))), sc);
		}
		UNROLL for (int p = 0; p < NP; p++) {
			__m512i v[2];
			float ad[2];
			const uint8_t *ab[2];
			UNROLL for (int h = 0; h < 2; h++) {
				int j = 2 * p + h < RN ? 2 * p + h : RN - 1;
				ab[h] = a + (size_t)j * lda + (size_t)b * AK;
				ad[h] = ldf(ab[h] + OFF(block_q8_K, d));
				const uint8_t *aq = ab[h] + AK_QS;
				__m512i x = _mm512_madd_epi16(_mm512_maddubs_epi16(q[0], ld512(aq)), s[0]);
				UNROLL for (int c = 1; c < 4; c++)
					x = _mm512_dpwssd_epi32(x, _mm512_maddubs_epi16(q[c], ld512(aq + 64 * c)), s[c]);
				v[h] = x;
			}
			/* the 32 * sum(a) correction is exact integer work: after the fold */
			__m512i corr = _mm512_madd_epi16(sc2, ld2x256(ab[0] + AK_BS, ab[1] + AK_BS));
			__m512i sumi = _mm512_sub_epi32(fold8x2(v[0], v[1]), _mm512_slli_epi32(corr, 5));
			acc[p] = _mm512_fmadd_ps(_mm512_mul_ps(_mm512_set1_ps(dw), two_scales(ad[0], ad[1])), _mm512_cvtepi32_ps(sumi), acc[p]);
		}
	}
	UNROLL for (int j = 0; j < RN; j++)
		y[(size_t)j * ldy] = hsum_ps(j % 2 ? _mm512_extractf32x8_ps(acc[j / 2], 1) : _mm512_castps512_ps256(acc[j / 2]));
}
#define TILE_Q6_K(n, y, ldy, w, ldw, a, lda, M, N) q6k_tile(n, y, ldy, w, ldw, a, lda, M, N)

/* IQ4_XS: signed code-book values; |g| and the sign masks once per weight
 * block, the activations negated under the masks per row. */
AI void iq4xs_tile(int64_t n, float *y, size_t ldy, const uint8_t *w, size_t ldw, const uint8_t *a, size_t lda,
		   const int RM, const int RN)
{
	(void)ldw;
	(void)RM;
	const __m512i m4 = _mm512_set1_epi8(15);
	const __m512i lut = _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)(const void *)kvalues_iq4nl));
	const __m512i ia = _mm512_setr_epi64(0, 1, 8, 9, 2, 3, 10, 11);
	const __m512i ib = _mm512_setr_epi64(4, 5, 12, 13, 6, 7, 14, 15);
	__m256 acc[8];
	UNROLL for (int j = 0; j < RN; j++)
		acc[j] = _mm256_setzero_ps();
	for (int64_t b = 0; b < n / QK_K; b++, w += sizeof(struct block_iq4_xs)) {
		float dw = h2f(w + OFF(block_iq4_xs, d));
		uint16_t sh;
		uint32_t sl;
		memcpy(&sh, w + OFF(block_iq4_xs, scales_h), 2);
		memcpy(&sl, w + OFF(block_iq4_xs, scales_l), 4);
		int16_t ls[8];
		for (int g = 0; g < 8; g++)
			ls[g] = (int16_t)((int)((sl >> 4 * g & 15) | (sh >> 2 * g & 3u) << 4) - 32);
		__m512i sc = _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)(const void *)ls));
		__m512i g[4], ps[4];
		__mmask64 neg[4];
		UNROLL for (int k = 0; k < 2; k++) {
			__m512i x = ld512(w + OFF(block_iq4_xs, qs) + 64 * k);
			__m512i lo = _mm512_and_si512(x, m4);
			__m512i hi = _mm512_and_si512(_mm512_srli_epi16(x, 4), m4);
			g[2 * k] = _mm512_shuffle_epi8(lut, _mm512_permutex2var_epi64(lo, ia, hi));
			g[2 * k + 1] = _mm512_shuffle_epi8(lut, _mm512_permutex2var_epi64(lo, ib, hi));
		}
		UNROLL for (int c = 0; c < 4; c++) {
			neg[c] = _mm512_movepi8_mask(g[c]);
			g[c] = _mm512_abs_epi8(g[c]);
			ps[c] = pair_scales(sc, c);
		}
		UNROLL for (int j = 0; j < RN; j++) {
			const uint8_t *ab = a + (size_t)j * lda + (size_t)b * AK;
			float ad = ldf(ab + OFF(block_q8_K, d));
			__m512i s01[2] = {_mm512_setzero_si512(), _mm512_setzero_si512()};
			UNROLL for (int c = 0; c < 4; c++) {
				__m512i av = ld512(ab + AK_QS + 64 * c);
				av = _mm512_mask_sub_epi8(av, neg[c], _mm512_setzero_si512(), av);
				s01[c & 1] = _mm512_dpwssd_epi32(s01[c & 1], _mm512_maddubs_epi16(g[c], av), ps[c]);
			}
			acc[j] = _mm256_fmadd_ps(_mm256_set1_ps(dw * ad), _mm256_cvtepi32_ps(fold8(_mm512_add_epi32(s01[0], s01[1]))), acc[j]);
		}
	}
	UNROLL for (int j = 0; j < RN; j++)
		y[(size_t)j * ldy] = hsum_ps(acc[j]);
}
#define TILE_IQ4_XS(n, y, ldy, w, ldw, a, lda, M, N) iq4xs_tile(n, y, ldy, w, ldw, a, lda, M, N)

/* Q4_K: the driver's activation tiles get their k4_gg first. Rows of more
 * than 16 blocks go two weight rows at a time: at 11008 columns the 8
 * activation rows are ~100 KB, past L1, and one weight row per pass over
 * them read ~1.1 byte of L2 per multiply-add; two rows per pass halve that
 * (prefill-mm 4096x11008: 80 -> 86 GMAC/s). At 4096 columns they fit in L1
 * and the 2 x 8 tile's register pressure makes it slower (88.7 -> 86.4);
 * 2 x 4 at 11008 columns was slower too (76). */
#define K4_LONG_NB 16

#define K4_CASE(M, N) \
	case M * 16 + N: TILE_Q4_K(n, yt, ldy, wt, ldw, at, lda, M, N); break;
#define K4_CASES(M) K4_CASE(M, 1) K4_CASE(M, 2) K4_CASE(M, 3) K4_CASE(M, 4) \
	K4_CASE(M, 5) K4_CASE(M, 6) K4_CASE(M, 7) K4_CASE(M, 8)

static void gemm_q4_K(const struct qtype *t, int64_t n, float *y, size_t ldy, const void *vw, size_t ldw, int nw,
		      const void *va, size_t lda, int na)
{
	(void)t;
	const uint8_t *w = vw, *a = va;
	const int64_t nb = n / QK_K;
	if (nb > K4_GG_BLOCKS) {
		gemm_q4_K_mins(t, n, y, ldy, vw, ldw, nw, va, lda, na);
		return;
	}
	const int rmax = nb > K4_LONG_NB ? 2 : 1;
	__m512i gg[2 * K4_GG_BLOCKS];
	for (int j = 0; j < na; j += 8) {
		int rn = na - j < 8 ? na - j : 8;
		const uint8_t *at = a + (size_t)j * lda;
		k4_gg(gg, at, lda, rn, nb);
		for (int i = 0; i < nw; i += rmax) {
			int rm = nw - i < rmax ? nw - i : rmax;
			float *yt = y + (size_t)j * ldy + i;
			const uint8_t *wt = w + (size_t)i * ldw;
			switch (rm * 16 + rn) {
				K4_CASES(1)
				K4_CASES(2)
			}
		}
	}
}
GEMM_DRIVER(q5_K, 1, 8, TILE_Q5_K)
GEMM_DRIVER(q6_K, 1, 8, TILE_Q6_K)
GEMM_DRIVER(iq4_xs, 1, 8, TILE_IQ4_XS)
#undef RM_MAX_
#undef RN_MAX_

/* -- float types: 2 weight rows x 4 activation rows, 16 elements a step,
 * masked tail; a weight vector is converted once for four activations. */
#define RM_MAX_ 2
#define RN_MAX_ 4
#define FLOAT_TILE(name, ES, LOAD16, MLOAD)                                                          \
	AI void name##_tile(int64_t n, float *y, size_t ldy, const uint8_t *w, size_t ldw, const uint8_t *a, \
			    size_t lda, const int RM, const int RN)                                   \
	{                                                                                             \
		__m512 acc[2][4];                                                                     \
		UNROLL for (int i = 0; i < RM; i++)                                                          \
			UNROLL for (int j = 0; j < RN; j++)                                                  \
				acc[i][j] = _mm512_setzero_ps();                                      \
		int64_t k = 0;                                                                        \
		for (; k + 16 <= n; k += 16) {                                                        \
			__m512 wv[2];                                                                 \
			UNROLL for (int i = 0; i < RM; i++)                                                  \
				wv[i] = LOAD16(w + (size_t)i * ldw + ES * k);                         \
			UNROLL for (int j = 0; j < RN; j++) {                                                \
				__m512 av = _mm512_loadu_ps((const float *)(const void *)(a + (size_t)j * lda) + k); \
				UNROLL for (int i = 0; i < RM; i++)                                          \
					acc[i][j] = _mm512_fmadd_ps(wv[i], av, acc[i][j]);            \
			}                                                                             \
		}                                                                                     \
		if (k < n) {                                                                          \
			__mmask16 m = (__mmask16)((1u << (n - k)) - 1);                               \
			__m512 wv[2];                                                                 \
			UNROLL for (int i = 0; i < RM; i++)                                                  \
				wv[i] = MLOAD(w + (size_t)i * ldw + ES * k, m);                       \
			UNROLL for (int j = 0; j < RN; j++) {                                                \
				__m512 av = _mm512_maskz_loadu_ps(m, (const float *)(const void *)(a + (size_t)j * lda) + k); \
				UNROLL for (int i = 0; i < RM; i++)                                          \
					acc[i][j] = _mm512_fmadd_ps(wv[i], av, acc[i][j]);            \
			}                                                                             \
		}                                                                                     \
		UNROLL for (int i = 0; i < RM; i++)                                                          \
			UNROLL for (int j = 0; j < RN; j++)                                                  \
				y[(size_t)j * ldy + i] = _mm512_reduce_add_ps(acc[i][j]);             \
	}
FLOAT_TILE(f32, 4, load16_f32, mload_f32)
FLOAT_TILE(f16, 2, load16_f16, mload_f16)
FLOAT_TILE(bf16, 2, load16_bf16, mload_bf16)
GEMM_DRIVER(f32, 2, 4, f32_tile)
GEMM_DRIVER(f16, 2, 4, f16_tile)
GEMM_DRIVER(bf16, 2, 4, bf16_tile)
#undef RM_MAX_
#undef RN_MAX_

bool kernels_avx512_install(struct qtype *t)
{
	t[GGML_F32].vec_dot = vec_dot_f32;
	t[GGML_F16].vec_dot = vec_dot_f16;
	t[GGML_BF16].vec_dot = vec_dot_bf16;
	t[GGML_Q8_0].vec_dot = vec_dot_q8_0;
	t[GGML_Q4_0].vec_dot = vec_dot_q4_0;
	t[GGML_Q4_K].vec_dot = vec_dot_q4_K;
	t[GGML_Q5_K].vec_dot = vec_dot_q5_K;
	t[GGML_Q6_K].vec_dot = vec_dot_q6_K;
	t[GGML_IQ4_XS].vec_dot = vec_dot_iq4_xs;
	t[GGML_F32].gemm = gemm_f32;
	t[GGML_F16].gemm = gemm_f16;
	t[GGML_BF16].gemm = gemm_bf16;
	t[GGML_Q8_0].gemm = gemm_q8_0;
	t[GGML_Q4_0].gemm = gemm_q4_0;
	t[GGML_Q5_0].gemm = gemm_q5_0;
	t[GGML_IQ4_NL].gemm = gemm_iq4_nl;
	t[GGML_IQ4_NL].gemm_dense = gemm_iq4_nl_dense;
	t[GGML_Q4_K].gemm = gemm_q4_K;
	t[GGML_Q5_K].gemm = gemm_q5_K;
	t[GGML_Q6_K].gemm = gemm_q6_K;
	t[GGML_IQ4_XS].gemm = gemm_iq4_xs;
	return true;
}

#else /* built without the ISA */

bool kernels_avx512_install(struct qtype *t)
{
	(void)t;
	return false;
}

#endif
