/* kernels-lowbit-neon.c - NEON dot products of the very-low-bit types.
 *
 * Built as itself (baseline NEON) and again by kernels-lowbit-dotprod.c
 * with +dotprod, where dot16 is one SDOT. Only the installers are visible.
 *
 * The integer algebra is the reference's (quant-lowbit.c): per block exact
 * int32 sums of sc * q * a, then one float multiply-add with the block
 * scales. The float additions are kernels-lowbit-avx2.c's: per block 8
 * int32 lanes (elements 4l..4l+3 of every 32; kernels-neon.h, struct f8)
 * into 8 float lanes, one chain of blocks, so the products give the x86
 * bits (the fixtures' references were computed in that order). The grid types
 * look up their grid entries with scalar loads, two 8-byte entries (or four
 * 4-byte ones) to a register, put the weights' signs on the grid magnitudes
 * ((g ^ m) - m with m = 0 or -1) and take the signed dot product with the
 * activations. Dequantizers stay the reference ones. */

#include "kernels.h"
#include "quant-lowbit.h"

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#ifdef KERNELS_DOTPROD
#define LOWBIT_INSTALL kernels_lowbit_dotprod_install
#else
#define LOWBIT_INSTALL kernels_lowbit_neon_install
#endif

#if defined(__aarch64__) && defined(__ARM_NEON) && (!defined(KERNELS_DOTPROD) || defined(__ARM_FEATURE_DOTPROD))
#include "kernels-neon.h"

/* Two 8-byte grid entries (or sign masks) as one register. */
static inline int8x16_t pair64(uint64_t lo, uint64_t hi)
{
	return vreinterpretq_s8_u64(vcombine_u64(vcreate_u64(lo), vcreate_u64(hi)));
}

static inline int8x16_t quad32(uint32_t a, uint32_t b, uint32_t c, uint32_t d)
{
	const uint32_t v[4] = {a, b, c, d};
	return vreinterpretq_s8_u32(vld1q_u32(v));
}

/* g with its sign flipped where m is -1. */
static inline int8x16_t apply_sign(int8x16_t g, int8x16_t m)
{
	return vsubq_s8(veorq_s8(g, m), m);
}

static inline int8x16_t sign_codes2(unsigned c0, unsigned c1)
{
	return pair64(ksigns64[c0], ksigns64[c1]);
}

/* The 16 bsums of a Q8_K block in 8 lanes, lane l = bsum[2l] + bsum[2l+1],
 * as the x86 kernels subtract them. */
static inline void bsums8(const uint8_t *a, int32x4_t *lo, int32x4_t *hi)
{
	*lo = vpaddlq_s16(lds16(a + AK_BS));
	*hi = vpaddlq_s16(lds16(a + AK_BS + 16));
}

/* 16-byte dots of the two halves of a 32-element chunk, times the scale of
 * each, into the 8 lanes (lo, hi). */
#define ACC2(w0, w1, aq, s0, s1)                                                          \
	do {                                                                               \
		lo = vmlaq_n_s32(lo, dot16(vdupq_n_s32(0), w0, lds8(aq)), (int32_t)(s0));      \
		hi = vmlaq_n_s32(hi, dot16(vdupq_n_s32(0), w1, lds8((aq) + 16)), (int32_t)(s1)); \
	} while (0)

/* The loop every 256-block type shares: BODY(w, a, &lo, &hi) sets the
 * block's 8 int32 lanes and returns the weight scale. One accumulator,
 * block after block, the scale d * ad (kernels-lowbit-avx2.c's order). */
#define DOT_QK(name, type, BODY)                                                        \
	static void vec_dot_##name(int64_t n, float *s, const void *vw, const void *va)  \
	{                                                                                 \
		const uint8_t *w = vw, *a = va;                                           \
		struct f8 acc = f8_zero();                                                \
		for (int64_t i = 0; i < n / QK_K; i++, w += sizeof(struct type), a += AK) { \
			prefetch_ahead(w, sizeof(struct type));                           \
			int32x4_t lo, hi;                                                 \
			float d = BODY(w, a, &lo, &hi);                                   \
			acc = f8_fma(acc, d * ldf(a + AK_D), lo, hi);                     \
		}                                                                         \
		*s = f8_hsum(acc);                                                        \
	}

/* ---- IQ2_XXS: per 32 elements 4 grid indices, then a u32 of 4 sign codes
 * and the scale ---- */
static inline float body_iq2_xxs(const uint8_t *w, const uint8_t *a, int32x4_t *plo, int32x4_t *phi)
{
	const uint8_t *qs = w + OFF(block_iq2_xxs, qs), *aq = a + AK_QS;
	int32x4_t lo = vdupq_n_s32(0), hi = vdupq_n_s32(0);
	for (int g = 0; g < 8; g++) {
		uint32_t ix = ldu32(qs + 8 * g), sg = ldu32(qs + 8 * g + 4);
		int8x16_t w0 = apply_sign(pair64(iq2xxs_grid[ix & 255], iq2xxs_grid[ix >> 8 & 255]),
					  sign_codes2(sg & 127, sg >> 7 & 127));
		int8x16_t w1 = apply_sign(pair64(iq2xxs_grid[ix >> 16 & 255], iq2xxs_grid[ix >> 24]),
					  sign_codes2(sg >> 14 & 127, sg >> 21 & 127));
		int32_t sc = (int32_t)(2 * (sg >> 28) + 1);
		ACC2(w0, w1, aq + 32 * g, sc, sc);
	}
	*plo = lo;
	*phi = hi;
	return h2f(w + OFF(block_iq2_xxs, d)) * 0.125f;
}
DOT_QK(iq2_xxs, block_iq2_xxs, body_iq2_xxs)

/* ---- IQ2_XS: 16-bit codes, 9-bit grid index + 7-bit sign code; a scale
 * per 16 ---- */
static inline float body_iq2_xs(const uint8_t *w, const uint8_t *a, int32x4_t *plo, int32x4_t *phi)
{
	const uint8_t *qs = w + OFF(block_iq2_xs, qs), *sc = w + OFF(block_iq2_xs, scales);
	const uint8_t *aq = a + AK_QS;
	int32x4_t lo = vdupq_n_s32(0), hi = vdupq_n_s32(0);
	for (int g = 0; g < 8; g++) {
		uint64_t v;
		memcpy(&v, qs + 8 * g, 8);
		unsigned c0 = v & 0xffff, c1 = v >> 16 & 0xffff, c2 = v >> 32 & 0xffff, c3 = (unsigned)(v >> 48);
		int8x16_t w0 = apply_sign(pair64(iq2xs_grid[c0 & 511], iq2xs_grid[c1 & 511]), sign_codes2(c0 >> 9, c1 >> 9));
		int8x16_t w1 = apply_sign(pair64(iq2xs_grid[c2 & 511], iq2xs_grid[c3 & 511]), sign_codes2(c2 >> 9, c3 >> 9));
		ACC2(w0, w1, aq + 32 * g, 2 * (sc[g] & 15) + 1, 2 * (sc[g] >> 4) + 1);
	}
	*plo = lo;
	*phi = hi;
	return h2f(w + OFF(block_iq2_xs, d)) * 0.125f;
}
DOT_QK(iq2_xs, block_iq2_xs, body_iq2_xs)

/* ---- IQ2_S: 10-bit grid index (2 bits in qh), explicit sign bits ---- */
static inline float body_iq2_s(const uint8_t *w, const uint8_t *a, int32x4_t *plo, int32x4_t *phi)
{
	const uint8_t *qs = w + OFF(block_iq2_s, qs), *qh = w + OFF(block_iq2_s, qh);
	const uint8_t *signs = w + OFF(block_iq2_s, signs), *sc = w + OFF(block_iq2_s, scales);
	const uint8_t *aq = a + AK_QS;
	int32x4_t lo = vdupq_n_s32(0), hi = vdupq_n_s32(0);
	for (int g = 0; g < 8; g++) {
		unsigned h = qh[g];
		const uint8_t *q = qs + 4 * g;
		uint8x16_t m0, m1;
		bits32(signs + 4 * g, &m0, &m1);
		int8x16_t w0 = apply_sign(pair64(iq2s_grid[q[0] | (h & 3) << 8], iq2s_grid[q[1] | (h & 12) << 6]),
					  vreinterpretq_s8_u8(m0));
		int8x16_t w1 = apply_sign(pair64(iq2s_grid[q[2] | (h & 48) << 4], iq2s_grid[q[3] | (h & 192) << 2]),
					  vreinterpretq_s8_u8(m1));
		ACC2(w0, w1, aq + 32 * g, 2 * (sc[g] & 15) + 1, 2 * (sc[g] >> 4) + 1);
	}
	*plo = lo;
	*phi = hi;
	return h2f(w + OFF(block_iq2_s, d)) * 0.125f;
}
DOT_QK(iq2_s, block_iq2_s, body_iq2_s)

/* ---- IQ3_XXS: 8 indices of 4-element entries, then sign codes + scale ---- */
static inline float body_iq3_xxs(const uint8_t *w, const uint8_t *a, int32x4_t *plo, int32x4_t *phi)
{
	const uint8_t *qs = w + OFF(block_iq3_xxs, qs), *sas = w + OFF(block_iq3_xxs, sas);
	const uint8_t *aq = a + AK_QS;
	const uint32_t *G = iq3xxs_grid;
	int32x4_t lo = vdupq_n_s32(0), hi = vdupq_n_s32(0);
	for (int g = 0; g < 8; g++) {
		const uint8_t *q = qs + 8 * g;
		uint32_t sg = ldu32(sas + 4 * g);
		int8x16_t w0 = apply_sign(quad32(G[q[0]], G[q[1]], G[q[2]], G[q[3]]),
					  sign_codes2(sg & 127, sg >> 7 & 127));
		int8x16_t w1 = apply_sign(quad32(G[q[4]], G[q[5]], G[q[6]], G[q[7]]),
					  sign_codes2(sg >> 14 & 127, sg >> 21 & 127));
		int32_t sc = (int32_t)(2 * (sg >> 28) + 1);
		ACC2(w0, w1, aq + 32 * g, sc, sc);
	}
	*plo = lo;
	*phi = hi;
	return h2f(w + OFF(block_iq3_xxs, d)) * 0.25f;
}
DOT_QK(iq3_xxs, block_iq3_xxs, body_iq3_xxs)

/* ---- IQ3_S: 9-bit indices (the 9th bit in qh), explicit signs ---- */
static inline float body_iq3_s(const uint8_t *w, const uint8_t *a, int32x4_t *plo, int32x4_t *phi)
{
	const uint8_t *qs = w + OFF(block_iq3_s, qs), *qh = w + OFF(block_iq3_s, qh);
	const uint8_t *signs = w + OFF(block_iq3_s, signs), *sc = w + OFF(block_iq3_s, scales);
	const uint8_t *aq = a + AK_QS;
	const uint32_t *G = iq3s_grid;
	int32x4_t lo = vdupq_n_s32(0), hi = vdupq_n_s32(0);
	for (int g = 0; g < 8; g++) {
		const uint8_t *q = qs + 8 * g;
		unsigned h = qh[g], ix[8];
		for (int k = 0; k < 8; k++)
			ix[k] = q[k] | (h >> k & 1) << 8;
		uint8x16_t m0, m1;
		bits32(signs + 4 * g, &m0, &m1);
		int8x16_t w0 = apply_sign(quad32(G[ix[0]], G[ix[1]], G[ix[2]], G[ix[3]]), vreinterpretq_s8_u8(m0));
		int8x16_t w1 = apply_sign(quad32(G[ix[4]], G[ix[5]], G[ix[6]], G[ix[7]]), vreinterpretq_s8_u8(m1));
		int32_t s = 2 * ((sc[g / 2] >> 4 * (g % 2)) & 15) + 1;
		ACC2(w0, w1, aq + 32 * g, s, s);
	}
	*plo = lo;
	*phi = hi;
	return h2f(w + OFF(block_iq3_s, d));
}
DOT_QK(iq3_s, block_iq3_s, body_iq3_s)

/* ---- IQ1_S: grid -1/0/1; the delta goes through the activation sums:
 * sum sc (grid + delta/8) a = sum sc grid a + sum sc delta (sum a) / 8.
 * As ggml sums it (kernels-lowbit-avx2.c): the grid part in 8 lanes, the
 * delta part in one scalar with a fused multiply-add, each scaled per
 * block, added at the end. ---- */
static inline int32_t body_iq1_s(const uint8_t *w, const uint8_t *a, int32x4_t *plo, int32x4_t *phi)
{
	const uint8_t *qs = w + OFF(block_iq1_s, qs), *qhp = w + OFF(block_iq1_s, qh);
	const uint8_t *aq = a + AK_QS, *bs = a + AK_BS;
	const uint64_t *G = iq1s_grid;
	int32x4_t lo = vdupq_n_s32(0), hi = vdupq_n_s32(0);
	int32_t dsum = 0;
	for (int g = 0; g < 8; g++) {
		unsigned qh = ldu16(qhp + 2 * g);
		const uint8_t *q = qs + 4 * g;
		int8x16_t w0 = pair64(G[q[0] | (qh & 7) << 8], G[q[1] | (qh & 0x38) << 5]);
		int8x16_t w1 = pair64(G[q[2] | (qh & 0x1c0) << 2], G[q[3] | (qh & 0xe00) >> 1]);
		int32_t sc = (int32_t)(2 * (qh >> 12 & 7) + 1);
		ACC2(w0, w1, aq + 32 * g, sc, sc);
		int32_t asum = (int16_t)ldu16(bs + 4 * g) + (int16_t)ldu16(bs + 4 * g + 2);
		dsum += (qh & 0x8000 ? -sc : sc) * asum;
	}
	*plo = lo;
	*phi = hi;
	return dsum;
}

static void vec_dot_iq1_s(int64_t n, float *s, const void *vw, const void *va)
{
	const uint8_t *w = vw, *a = va;
	struct f8 acc = f8_zero();
	float acc1 = 0;
	for (int64_t i = 0; i < n / QK_K; i++, w += sizeof(struct block_iq1_s), a += AK) {
		prefetch_ahead(w, sizeof(struct block_iq1_s));
		int32x4_t lo, hi;
		int32_t dsum = body_iq1_s(w, a, &lo, &hi);
		float d = ldf(a + AK_D) * h2f(w + OFF(block_iq1_s, d));
		acc = f8_fma(acc, d, lo, hi);
		acc1 = fmaf(d, (float)dsum, acc1);
	}
	*s = f8_hsum(acc) + 0.125f * acc1;
}

/* ---- IQ1_M: a delta per 8 elements, so q = 8 grid +- 1 is built whole;
 * a scale per 16 ---- */
static inline float body_iq1_m(const uint8_t *w, const uint8_t *a, int32x4_t *plo, int32x4_t *phi)
{
	const uint8_t *qs = w + OFF(block_iq1_m, qs), *qhp = w + OFF(block_iq1_m, qh);
	const uint8_t *scp = w + OFF(block_iq1_m, scales);
	const uint8_t *aq = a + AK_QS;
	const uint64_t *G = iq1s_grid;
	const uint64_t pos = 0x0101010101010101ull, neg = ~0ull;
	uint64_t scw;
	memcpy(&scw, scp, 8);
	int32x4_t lo = vdupq_n_s32(0), hi = vdupq_n_s32(0);
	for (int g = 0; g < 8; g++) {
		unsigned h0 = qhp[2 * g], h1 = qhp[2 * g + 1];
		const uint8_t *q = qs + 4 * g;
		int8x16_t g0 = pair64(G[q[0] | (h0 & 7) << 8], G[q[1] | (h0 & 0x70) << 4]);
		int8x16_t g1 = pair64(G[q[2] | (h1 & 7) << 8], G[q[3] | (h1 & 0x70) << 4]);
		int8x16_t w0 = vaddq_s8(vshlq_n_s8(g0, 3), pair64(h0 & 8 ? neg : pos, h0 & 0x80 ? neg : pos));
		int8x16_t w1 = vaddq_s8(vshlq_n_s8(g1, 3), pair64(h1 & 8 ? neg : pos, h1 & 0x80 ? neg : pos));
		unsigned s6 = (unsigned)(scw >> (16 * (g / 2) + 6 * (g % 2))) & 63;
		ACC2(w0, w1, aq + 32 * g, 2 * (s6 & 7) + 1, 2 * (s6 >> 3) + 1);
	}
	*plo = lo;
	*phi = hi;
	return fp16_to_fp32(iq1m_d(scp)) * 0.125f;
}
DOT_QK(iq1_m, block_iq1_m, body_iq1_m)

/* ---- TQ2_0: w = q - 1 with q in 0..3: sum q a - sum a ---- */
static inline float body_tq2_0(const uint8_t *w, const uint8_t *a, int32x4_t *plo, int32x4_t *phi)
{
	const uint8_t *qs = w + OFF(block_tq2_0, qs), *aq = a + AK_QS;
	int32x4_t lo = vdupq_n_s32(0), hi = vdupq_n_s32(0), blo, bhi;
	for (int h = 0; h < 2; h++) {
		uint8x16_t x0 = vld1q_u8(qs + 32 * h), x1 = vld1q_u8(qs + 32 * h + 16);
		for (int s = 0; s < 4; s++) {
			const uint8_t *as = aq + 128 * h + 32 * s;
			lo = dot16(lo, vreinterpretq_s8_u8(vandq_u8(x0, vdupq_n_u8(3))), lds8(as));
			hi = dot16(hi, vreinterpretq_s8_u8(vandq_u8(x1, vdupq_n_u8(3))), lds8(as + 16));
			x0 = vshrq_n_u8(x0, 2);
			x1 = vshrq_n_u8(x1, 2);
		}
	}
	bsums8(a, &blo, &bhi);
	*plo = vsubq_s32(lo, blo);
	*phi = vsubq_s32(hi, bhi);
	return h2f(w + OFF(block_tq2_0, d));
}
DOT_QK(tq2_0, block_tq2_0, body_tq2_0)

/* ---- TQ1_0: trit n of byte v is (v 3^n mod 256) * 3 >> 8, which is the
 * number of the thresholds 86 and 171 that v 3^n mod 256 reaches. ---- */
static inline uint8x16_t times3(uint8x16_t q)
{
	return vaddq_u8(q, vaddq_u8(q, q));
}

static inline int8x16_t trits(uint8x16_t q)
{
	uint8x16_t c = vaddq_u8(vshrq_n_u8(vcgeq_u8(q, vdupq_n_u8(86)), 7), vshrq_n_u8(vcgeq_u8(q, vdupq_n_u8(171)), 7));
	return vreinterpretq_s8_u8(c);
}

/* The lanes as kernels-lowbit-avx2.c fills them: bytes 0..15 / 16..31 of
 * the first 32 in lo / hi; the trits of bytes 32..47 alternate, even n in
 * lo, odd n in hi; the qh trits in hi. */
static inline float body_tq1_0(const uint8_t *w, const uint8_t *a, int32x4_t *plo, int32x4_t *phi)
{
	const uint8_t *qs = w + OFF(block_tq1_0, qs), *aq = a + AK_QS;
	int32x4_t lo = vdupq_n_s32(0), hi = vdupq_n_s32(0), blo, bhi;
	/* bytes 0..31: trit n is element 32n + m */
	uint8x16_t q0 = vld1q_u8(qs), q1 = vld1q_u8(qs + 16);
	for (int n = 0; n < 5; n++, q0 = times3(q0), q1 = times3(q1)) {
		lo = dot16(lo, trits(q0), lds8(aq + 32 * n));
		hi = dot16(hi, trits(q1), lds8(aq + 32 * n + 16));
	}
	/* bytes 32..47: trit n is element 160 + 16n + m */
	uint8x16_t q2 = vld1q_u8(qs + 32);
	for (int n = 0; n < 5; n++, q2 = times3(q2)) {
		if (n % 2 == 0)
			lo = dot16(lo, trits(q2), lds8(aq + 160 + 16 * n));
		else
			hi = dot16(hi, trits(q2), lds8(aq + 160 + 16 * n));
	}
	/* qh: element 240 + 4n + j is trit n of qh[j] */
	uint8x16_t h = vreinterpretq_u8_u32(vdupq_n_u32(ldu32(w + OFF(block_tq1_0, qh))));
	static const uint8_t pow3[16] = {1, 1, 1, 1, 3, 3, 3, 3, 9, 9, 9, 9, 27, 27, 27, 27};
	hi = dot16(hi, trits(vmulq_u8(h, vld1q_u8(pow3))), lds8(aq + 240));
	bsums8(a, &blo, &bhi);
	*plo = vsubq_s32(lo, blo);
	*phi = vsubq_s32(hi, bhi);
	return h2f(w + OFF(block_tq1_0, d));
}
DOT_QK(tq1_0, block_tq1_0, body_tq1_0)

/* ---- MXFP4 against Q8_0: nibbles through the E2M1 table, as IQ4_NL ---- */
/* Even and odd blocks in two chains, as kernels-lowbit-avx2.c. */
static void vec_dot_mxfp4(int64_t n, float *s, const void *vw, const void *va)
{
	const uint8_t *w = vw, *a = va;
	const int8x16_t lut = vld1q_s8(kvalues_mxfp4);
	struct f8 acc[2] = {f8_zero(), f8_zero()};
	for (int64_t i = 0; i < n / QK_MXFP4; i++, w += sizeof(struct block_mxfp4), a += A80) {
		prefetch_ahead(w, sizeof(struct block_mxfp4));
		uint8x16_t b = vld1q_u8(w + OFF(block_mxfp4, qs));
		int8x16_t l = vqtbl1q_s8(lut, vandq_u8(b, vdupq_n_u8(15))), h = vqtbl1q_s8(lut, vshrq_n_u8(b, 4));
		int32x4_t lo = dot16(vdupq_n_s32(0), l, lds8(a + A80_QS));
		int32x4_t hi = dot16(vdupq_n_s32(0), h, lds8(a + A80_QS + 16));
		acc[i & 1] = f8_fma(acc[i & 1], e8m0_half(w[OFF(block_mxfp4, e)]) * h2f(a), lo, hi);
	}
	*s = f8_hsum(f8_add(acc[0], acc[1]));
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

#else /* not AArch64, or built without dotprod */

bool LOWBIT_INSTALL(struct qtype *t)
{
	(void)t;
	return false;
}

#endif
