/* kernels-neon.c - AArch64 NEON rows of the type table.
 *
 * Built twice: as itself with the baseline ARMv8-A flags (every AArch64 CPU
 * has Advanced SIMD), and by kernels-dotprod.c with +dotprod, where the
 * int8 dot product of 16 bytes becomes one SDOT. Only the installer of each
 * build is visible (kernels_neon_install, kernels_dotprod_install); quant.c
 * calls them when cpu_features() says so. On other targets both installers
 * return false.
 *
 * The integer algebra is the reference's (quant.c): int8 weights times
 * int8 activations summed exactly in int32 per scale group, times the
 * integer group scale, then once per block into float accumulators. The
 * float additions follow the x86 kernels (kernels-avx2.c, and
 * kernels-avx512.c where its order differs): same lanes, same chains, same
 * horizontal sums, so a product gives the x86 bits (kernels-neon.h, struct
 * f8); the fixtures' references were computed in that order. Blocks inside a row are not
 * aligned: every load is a byte load (vld1q_u8), which AArch64 allows at any
 * address. */

#include "kernels.h"
#include "quant.h"

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#ifdef KERNELS_DOTPROD
#define INSTALL kernels_dotprod_install
#else
#define INSTALL kernels_neon_install
#endif

#if defined(__aarch64__) && defined(__ARM_NEON) && (!defined(KERNELS_DOTPROD) || defined(__ARM_FEATURE_DOTPROD))
#include <arm_neon.h>

#include "kernels-neon.h"

/* ---- Q8_0 activations: Q8_0, Q4_0, Q5_0, IQ4_NL ----
 * UNPACK(w, lo, hi) gives the 32 signed weights of the block at w in
 * element order, 16 in lo and 16 in hi. */

/* One block's 8 int32 lanes: elements 0..15 in *lo, 16..31 in *hi. */
static inline void q80_lanes(int8x16_t l, int8x16_t h, const uint8_t *aq, int32x4_t *lo, int32x4_t *hi)
{
	*lo = dot16(vdupq_n_s32(0), l, lds8(aq));
	*hi = dot16(vdupq_n_s32(0), h, lds8(aq + 16));
}

/* As the x86 kernels: Q8_0, Q4_0, Q5_0 in one chain of blocks; IQ4_NL's
 * vec_dot in two, even and odd blocks (TWO), its dense products in one. */
#define DOT_Q80(name, type, UNPACK, TWO)                                                 \
	static void vec_dot_##name(int64_t n, float *s, const void *vw, const void *va)  \
	{                                                                                 \
		const uint8_t *w = vw, *a = va;                                           \
		struct f8 acc[2] = {f8_zero(), f8_zero()};                                \
		for (int64_t i = 0; i < n / 32; i++, w += sizeof(struct type), a += A80) { \
			prefetch_ahead(w, sizeof(struct type));                           \
			int8x16_t l, h;                                                   \
			int32x4_t lo, hi;                                                 \
			UNPACK(w, l, h);                                                  \
			q80_lanes(l, h, a + A80_QS, &lo, &hi);                            \
			int c = TWO ? (int)(i & 1) : 0;                                   \
			acc[c] = f8_fma(acc[c], h2f(w + OFF(type, d)) * h2f(a), lo, hi);  \
		}                                                                         \
		*s = f8_hsum(f8_add(acc[0], acc[1]));                                     \
	}

#define UNPACK_Q8_0(w, lo, hi)                                     \
	do {                                                       \
		lo = lds8((w) + OFF(block_q8_0, qs));              \
		hi = lds8((w) + OFF(block_q8_0, qs) + 16);         \
	} while (0)

#define UNPACK_Q4_0(w, lo, hi)                                                     \
	do {                                                                       \
		uint8x16_t b_ = vld1q_u8((w) + OFF(block_q4_0, qs));               \
		lo = vsubq_s8(vreinterpretq_s8_u8(vandq_u8(b_, vdupq_n_u8(15))), vdupq_n_s8(8)); \
		hi = vsubq_s8(vreinterpretq_s8_u8(vshrq_n_u8(b_, 4)), vdupq_n_s8(8)); \
	} while (0)

/* q - 16 with the 5th bit from qh: (q | 16*hi) - 16 == q | (hi ? 0 : 0xf0). */
#define UNPACK_Q5_0(w, lo, hi)                                                     \
	do {                                                                       \
		uint8x16_t b_ = vld1q_u8((w) + OFF(block_q5_0, qs)), h0_, h1_;     \
		bits32((w) + OFF(block_q5_0, qh), &h0_, &h1_);                     \
		lo = vreinterpretq_s8_u8(vorrq_u8(vandq_u8(b_, vdupq_n_u8(15)),    \
						  vbicq_u8(vdupq_n_u8(0xf0), h0_))); \
		hi = vreinterpretq_s8_u8(vorrq_u8(vshrq_n_u8(b_, 4), vbicq_u8(vdupq_n_u8(0xf0), h1_))); \
	} while (0)

#define UNPACK_IQ4_NL(w, lo, hi)                                                   \
	do {                                                                       \
		uint8x16_t b_ = vld1q_u8((w) + OFF(block_iq4_nl, qs));             \
		int8x16_t t_ = vld1q_s8(kvalues_iq4nl);                            \
		lo = vqtbl1q_s8(t_, vandq_u8(b_, vdupq_n_u8(15)));                 \
		hi = vqtbl1q_s8(t_, vshrq_n_u8(b_, 4));                            \
	} while (0)

DOT_Q80(q8_0, block_q8_0, UNPACK_Q8_0, 0)
DOT_Q80(q4_0, block_q4_0, UNPACK_Q4_0, 0)
DOT_Q80(q5_0, block_q5_0, UNPACK_Q5_0, 0)
DOT_Q80(iq4_nl, block_iq4_nl, UNPACK_IQ4_NL, 1)
DOT_Q80(iq4_nl_dense, block_iq4_nl, UNPACK_IQ4_NL, 0) /* llamafile's sgemm: one chain */

/* ---- Q8_1 activations: Q4_1, Q5_1 (w = d*q + m; the m term is m * a.s) ---- */

/* Even and odd blocks in two chains, the m terms in a scalar (kernels-avx2.c). */
#define DOT_Q81(name, type, UNPACK)                                                      \
	static void vec_dot_##name(int64_t n, float *s, const void *vw, const void *va)  \
	{                                                                                 \
		const uint8_t *w = vw, *a = va;                                           \
		struct f8 acc[2] = {f8_zero(), f8_zero()};                                \
		float msum = 0;                                                           \
		for (int64_t i = 0; i < n / 32; i++, w += sizeof(struct type), a += A81) { \
			prefetch_ahead(w, sizeof(struct type));                           \
			int8x16_t l, h;                                                   \
			int32x4_t lo, hi;                                                 \
			UNPACK(w, l, h);                                                  \
			q80_lanes(l, h, a + OFF(block_q8_1, qs), &lo, &hi);               \
			float d = h2f(w + OFF(type, d)) * h2f(a + OFF(block_q8_1, d));    \
			msum += h2f(w + OFF(type, m)) * h2f(a + OFF(block_q8_1, s));      \
			acc[i & 1] = f8_fma(acc[i & 1], d, lo, hi);                       \
		}                                                                         \
		*s = f8_hsum(f8_add(acc[0], acc[1])) + msum;                              \
	}

#define UNPACK_Q4_1(w, lo, hi)                                                     \
	do {                                                                       \
		uint8x16_t b_ = vld1q_u8((w) + OFF(block_q4_1, qs));               \
		lo = vreinterpretq_s8_u8(vandq_u8(b_, vdupq_n_u8(15)));            \
		hi = vreinterpretq_s8_u8(vshrq_n_u8(b_, 4));                       \
	} while (0)

#define UNPACK_Q5_1(w, lo, hi)                                                     \
	do {                                                                       \
		uint8x16_t b_ = vld1q_u8((w) + OFF(block_q5_1, qs)), h0_, h1_;     \
		bits32((w) + OFF(block_q5_1, qh), &h0_, &h1_);                     \
		lo = vreinterpretq_s8_u8(vorrq_u8(vandq_u8(b_, vdupq_n_u8(15)),    \
						  vandq_u8(h0_, vdupq_n_u8(16)))); \
		hi = vreinterpretq_s8_u8(vorrq_u8(vshrq_n_u8(b_, 4), vandq_u8(h1_, vdupq_n_u8(16)))); \
	} while (0)

DOT_Q81(q4_1, block_q4_1, UNPACK_Q4_1)
DOT_Q81(q5_1, block_q5_1, UNPACK_Q5_1)

/* ---- Q8_K activations: the K-quants and IQ4_XS ----
 * For the 16-element group types a 16-byte dot is one group, the low or the
 * high half of a 32-element chunk: its four int32 lanes times the group's
 * scale go to lo or hi. */

static void vec_dot_q2_K(int64_t n, float *s, const void *vw, const void *va)
{
	const uint8_t *w = vw, *a = va;
	struct f8 acc = f8_zero();
	for (int64_t i = 0; i < n / QK_K; i++, w += sizeof(struct block_q2_K), a += AK) {
		prefetch_ahead(w, sizeof(struct block_q2_K));
		float ad = ldf(a + AK_D);
		float d = ad * h2f(w + OFF(block_q2_K, d)), dmin = ad * h2f(w + OFF(block_q2_K, dmin));
		const uint8_t *sc = w + OFF(block_q2_K, scales);
		int32x4_t mlo, mhi, lo = vdupq_n_s32(0), hi = vdupq_n_s32(0);
		scale_bsums(vreinterpretq_s8_u8(vshrq_n_u8(vld1q_u8(sc), 4)), a + AK_BS, &mlo, &mhi);
		for (int h = 0; h < 2; h++) {
			const uint8_t *qs = w + OFF(block_q2_K, qs) + 32 * h, *aq = a + AK_QS + 128 * h;
			uint8x16_t q0 = vld1q_u8(qs), q1 = vld1q_u8(qs + 16);
			for (int k = 0; k < 4; k++) {
				int8x16_t w0 = vreinterpretq_s8_u8(vandq_u8(q0, vdupq_n_u8(3)));
				int8x16_t w1 = vreinterpretq_s8_u8(vandq_u8(q1, vdupq_n_u8(3)));
				q0 = vshrq_n_u8(q0, 2);
				q1 = vshrq_n_u8(q1, 2);
				const uint8_t *g = sc + 8 * h + 2 * k;
				lo = vmlaq_n_s32(lo, dot16(vdupq_n_s32(0), w0, lds8(aq + 32 * k)), g[0] & 15);
				hi = vmlaq_n_s32(hi, dot16(vdupq_n_s32(0), w1, lds8(aq + 32 * k + 16)), g[1] & 15);
			}
		}
		acc = f8_fms(acc, dmin, mlo, mhi); /* the mins first, as ggml */
		acc = f8_fma(acc, d, lo, hi);
	}
	*s = f8_hsum(acc);
}

/* Q3_K: 6-bit signed scales; q = crumb | 4*hbit in 0..7 is unsigned and the
 * -4 offset becomes -4 * sum(sc * bsum). */
static void q3_K_scales(const uint8_t *p, int8_t sc[16])
{
	uint64_t lo, l0, l1, h0, h1;
	uint32_t hi;
	memcpy(&lo, p, 8);
	memcpy(&hi, p + 8, 4);
	l0 = lo & 0x0f0f0f0f0f0f0f0full;
	l1 = lo >> 4 & 0x0f0f0f0f0f0f0f0full;
	h0 = (uint64_t)(hi & 0x03030303u) | (uint64_t)(hi >> 2 & 0x03030303u) << 32;
	h1 = (uint64_t)(hi >> 4 & 0x03030303u) | (uint64_t)(hi >> 6 & 0x03030303u) << 32;
	uint64_t v[2] = {l0 | h0 << 4, l1 | h1 << 4};
	memcpy(sc, v, 16);
	for (int g = 0; g < 16; g++)
		sc[g] = (int8_t)(sc[g] - 32);
}

static void vec_dot_q3_K(int64_t n, float *s, const void *vw, const void *va)
{
	const uint8_t *w = vw, *a = va;
	struct f8 acc = f8_zero();
	for (int64_t i = 0; i < n / QK_K; i++, w += sizeof(struct block_q3_K), a += AK) {
		prefetch_ahead(w, sizeof(struct block_q3_K));
		int8_t sc[16];
		q3_K_scales(w + OFF(block_q3_K, scales), sc);
		int32x4_t clo, chi, lo = vdupq_n_s32(0), hi = vdupq_n_s32(0);
		scale_bsums(vld1q_s8(sc), a + AK_BS, &clo, &chi);
		uint8x16_t hm0 = vld1q_u8(w + OFF(block_q3_K, hmask)), hm1 = vld1q_u8(w + OFF(block_q3_K, hmask) + 16);
		for (int h = 0; h < 2; h++) {
			const uint8_t *qs = w + OFF(block_q3_K, qs) + 32 * h, *aq = a + AK_QS + 128 * h;
			uint8x16_t q0 = vld1q_u8(qs), q1 = vld1q_u8(qs + 16);
			for (int k = 0; k < 4; k++) {
				uint8x16_t bit = vdupq_n_u8((uint8_t)(1 << (4 * h + k)));
				uint8x16_t b0 = vandq_u8(vtstq_u8(hm0, bit), vdupq_n_u8(4));
				uint8x16_t b1 = vandq_u8(vtstq_u8(hm1, bit), vdupq_n_u8(4));
				int8x16_t w0 = vreinterpretq_s8_u8(vorrq_u8(vandq_u8(q0, vdupq_n_u8(3)), b0));
				int8x16_t w1 = vreinterpretq_s8_u8(vorrq_u8(vandq_u8(q1, vdupq_n_u8(3)), b1));
				q0 = vshrq_n_u8(q0, 2);
				q1 = vshrq_n_u8(q1, 2);
				int g = 8 * h + 2 * k;
				lo = vmlaq_n_s32(lo, dot16(vdupq_n_s32(0), w0, lds8(aq + 32 * k)), sc[g]);
				hi = vmlaq_n_s32(hi, dot16(vdupq_n_s32(0), w1, lds8(aq + 32 * k + 16)), sc[g + 1]);
			}
		}
		lo = vsubq_s32(lo, vshlq_n_s32(clo, 2));
		hi = vsubq_s32(hi, vshlq_n_s32(chi, 2));
		acc = f8_fma(acc, ldf(a + AK_D) * h2f(w + OFF(block_q3_K, d)), lo, hi);
	}
	*s = f8_hsum(acc);
}

/* Q4_K/Q5_K: 8 6-bit scales (bytes 0..7) and mins (bytes 8..15). */
static void k4_scales(const uint8_t *p, uint8_t scm[16])
{
	uint32_t k0, k1, k2;
	memcpy(&k0, p, 4);
	memcpy(&k1, p + 4, 4);
	memcpy(&k2, p + 8, 4);
	uint32_t v[4] = {k0 & 0x3f3f3f3fu, (k2 & 0x0f0f0f0fu) | (k0 >> 6 & 0x03030303u) << 4,
			 k1 & 0x3f3f3f3fu, (k2 >> 4 & 0x0f0f0f0fu) | (k1 >> 6 & 0x03030303u) << 4};
	memcpy(scm, v, 16);
}

/* The sums of a Q4_K/Q5_K block against one activation block: sc . (q . a)
 * in 8 lanes (*lo, *hi) and the mins mn[g] * (bsum[2g] + bsum[2g+1]), lane
 * g, in *mlo (g < 4) and *mhi. FIVE adds the 5th bits from qh. */
static inline void k4_block(const uint8_t *qs, const uint8_t *qh, const uint8_t *scm, const uint8_t *a,
			    int32x4_t *lo, int32x4_t *hi, int32x4_t *mlo, int32x4_t *mhi, const int five)
{
	uint8x16_t h0 = vdupq_n_u8(0), h1 = vdupq_n_u8(0);
	if (five) {
		h0 = vld1q_u8(qh);
		h1 = vld1q_u8(qh + 16);
	}
	const uint8_t *aq = a + AK_QS;
	int32x4_t sl = vdupq_n_s32(0), sh = vdupq_n_s32(0);
	for (int c = 0; c < 4; c++) {
		uint8x16_t b0 = vld1q_u8(qs + 32 * c), b1 = vld1q_u8(qs + 32 * c + 16);
		uint8x16_t l0 = vandq_u8(b0, vdupq_n_u8(15)), l1 = vandq_u8(b1, vdupq_n_u8(15));
		uint8x16_t u0 = vshrq_n_u8(b0, 4), u1 = vshrq_n_u8(b1, 4);
		if (five) {
			uint8x16_t m = vdupq_n_u8((uint8_t)(1 << 2 * c)), m2 = vdupq_n_u8((uint8_t)(2 << 2 * c));
			uint8x16_t sixteen = vdupq_n_u8(16);
			l0 = vorrq_u8(l0, vandq_u8(vtstq_u8(h0, m), sixteen));
			l1 = vorrq_u8(l1, vandq_u8(vtstq_u8(h1, m), sixteen));
			u0 = vorrq_u8(u0, vandq_u8(vtstq_u8(h0, m2), sixteen));
			u1 = vorrq_u8(u1, vandq_u8(vtstq_u8(h1, m2), sixteen));
		}
		const uint8_t *ac = aq + 64 * c;
		sl = vmlaq_n_s32(sl, dot16(vdupq_n_s32(0), vreinterpretq_s8_u8(l0), lds8(ac)), scm[2 * c]);
		sh = vmlaq_n_s32(sh, dot16(vdupq_n_s32(0), vreinterpretq_s8_u8(l1), lds8(ac + 16)), scm[2 * c]);
		sl = vmlaq_n_s32(sl, dot16(vdupq_n_s32(0), vreinterpretq_s8_u8(u0), lds8(ac + 32)), scm[2 * c + 1]);
		sh = vmlaq_n_s32(sh, dot16(vdupq_n_s32(0), vreinterpretq_s8_u8(u1), lds8(ac + 48)), scm[2 * c + 1]);
	}
	*lo = sl;
	*hi = sh;
	int16x8_t bs = vpaddq_s16(lds16(a + AK_BS), lds16(a + AK_BS + 16));
	int16x8_t mn = vreinterpretq_s16_u16(vmovl_u8(vld1_u8(scm + 8)));
	*mlo = vmull_s16(vget_low_s16(mn), vget_low_s16(bs));
	*mhi = vmull_high_s16(mn, bs);
}

/* The mins as ggml sums them (kernels-x86.h): Q4_K pairs of groups in 4
 * lanes, accumulated by dmin; Q5_K all groups in one integer, into a scalar
 * with a fused multiply-add. */
static inline float32x4_t k4_mins_acc(float32x4_t accm, float dmin, int32x4_t mlo, int32x4_t mhi)
{
	return vfmaq_n_f32(accm, vcvtq_f32_s32(vpaddq_s32(mlo, mhi)), dmin);
}

static inline float k5_mins_acc(float accm, float dmin, int32x4_t mlo, int32x4_t mhi)
{
	return fmaf(dmin, (float)vaddvq_s32(vaddq_s32(mlo, mhi)), accm);
}

/* One activation row's accumulators of a Q4_K/Q5_K product. */
struct k4_acc {
	struct f8 acc;
	float32x4_t accm; /* Q4_K: 4 lanes of mins; Q5_K: the scalar in lane 0 */
};

static inline void k4_step(struct k4_acc *r, const uint8_t *w, const uint8_t *scm, const uint8_t *a, float dw,
			   float dmw, size_t oqs, const int five)
{
	int32x4_t lo, hi, mlo, mhi;
	k4_block(w + oqs, w + OFF(block_q5_K, qh), scm, a, &lo, &hi, &mlo, &mhi, five);
	float ad = ldf(a + AK_D);
	r->acc = f8_fma(r->acc, ad * dw, lo, hi);
	if (five)
		r->accm = vsetq_lane_f32(k5_mins_acc(vgetq_lane_f32(r->accm, 0), ad * dmw, mlo, mhi), r->accm, 0);
	else
		r->accm = k4_mins_acc(r->accm, ad * dmw, mlo, mhi);
}

static inline float k4_result(const struct k4_acc *r, const int five)
{
	return f8_hsum(r->acc) - (five ? vgetq_lane_f32(r->accm, 0) : hsum4(r->accm));
}

#define DOT_K4(name, type, FIVE)                                                         \
	static void vec_dot_##name(int64_t n, float *s, const void *vw, const void *va)  \
	{                                                                                 \
		const uint8_t *w = vw, *a = va;                                           \
		struct k4_acc r = {f8_zero(), vdupq_n_f32(0)};                            \
		for (int64_t i = 0; i < n / QK_K; i++, w += sizeof(struct type), a += AK) { \
			prefetch_ahead(w, sizeof(struct type));                           \
			uint8_t scm[16];                                                  \
			k4_scales(w + OFF(type, scales), scm);                            \
			k4_step(&r, w, scm, a, h2f(w + OFF(type, d)), h2f(w + OFF(type, dmin)), \
				OFF(type, qs), FIVE);                                     \
		}                                                                         \
		*s = k4_result(&r, FIVE);                                                 \
	}

DOT_K4(q4_K, block_q4_K, 0)
DOT_K4(q5_K, block_q5_K, 1)

/* Q6_K: q = lo4 | hi2 << 4 in 0..63, unsigned; the -32 offset becomes
 * -32 * sum(sc * bsum), lane by lane as on x86. One block against one
 * activation block, into 8 lanes. */
/* Quants l = 16 half .. 16 half + 15 of the 4 32-element chunks of a half
 * block (ql, qh at that half), unsigned 0..63. */
static inline void q6_unpack(const uint8_t *ql, const uint8_t *qh, int half, uint8x16_t q[4])
{
	const uint8x16_t m4 = vdupq_n_u8(15), m30 = vdupq_n_u8(0x30);
	uint8x16_t l0 = vld1q_u8(ql + 16 * half), l1 = vld1q_u8(ql + 32 + 16 * half);
	uint8x16_t hb = vld1q_u8(qh + 16 * half);
	q[0] = vorrq_u8(vandq_u8(l0, m4), vandq_u8(vshlq_n_u8(hb, 4), m30));
	q[1] = vorrq_u8(vandq_u8(l1, m4), vandq_u8(vshlq_n_u8(hb, 2), m30));
	q[2] = vorrq_u8(vshrq_n_u8(l0, 4), vandq_u8(hb, m30));
	q[3] = vorrq_u8(vshrq_n_u8(l1, 4), vandq_u8(vshrq_n_u8(hb, 2), m30));
}

static inline void q6_K_block(const uint8_t *w, const uint8_t *a, int32x4_t *lo, int32x4_t *hi)
{
	const int8_t *sc = (const int8_t *)(w + OFF(block_q6_K, scales));
	int32x4_t s[2] = {vdupq_n_s32(0), vdupq_n_s32(0)};
	for (int h = 0; h < 2; h++) {
		const uint8_t *ql = w + OFF(block_q6_K, ql) + 64 * h, *qh = w + OFF(block_q6_K, qh) + 32 * h;
		const uint8_t *aq = a + AK_QS + 128 * h;
		for (int half = 0; half < 2; half++) { /* l in 0..15 (lo), then 16..31 (hi) */
			uint8x16_t q[4];
			q6_unpack(ql, qh, half, q);
			for (int k = 0; k < 4; k++) {
				int32x4_t p = dot16(vdupq_n_s32(0), vreinterpretq_s8_u8(q[k]),
						    lds8(aq + 32 * k + 16 * half));
				s[half] = vmlaq_n_s32(s[half], p, sc[8 * h + 2 * k + half]);
			}
		}
	}
	int32x4_t clo, chi;
	scale_bsums(vld1q_s8(sc), a + AK_BS, &clo, &chi);
	*lo = vsubq_s32(s[0], vshlq_n_s32(clo, 5));
	*hi = vsubq_s32(s[1], vshlq_n_s32(chi, 5));
}

static void vec_dot_q6_K(int64_t n, float *s, const void *vw, const void *va)
{
	const uint8_t *w = vw, *a = va;
	struct f8 acc = f8_zero();
	for (int64_t i = 0; i < n / QK_K; i++, w += sizeof(struct block_q6_K), a += AK) {
		prefetch_ahead(w, sizeof(struct block_q6_K));
		int32x4_t lo, hi;
		q6_K_block(w, a, &lo, &hi);
		acc = f8_fma(acc, ldf(a + AK_D) * h2f(w + OFF(block_q6_K, d)), lo, hi);
	}
	*s = f8_hsum(acc);
}

/* IQ4_XS: 8 groups of 32, each laid out like an IQ4_NL block; 6-bit scales
 * biased by 32. */
static inline void iq4_xs_block(const uint8_t *w, const uint8_t *a, int8x16_t lut, int32x4_t *lo, int32x4_t *hi)
{
	uint16_t sh = ldu16(w + OFF(block_iq4_xs, scales_h));
	const uint8_t *sl = w + OFF(block_iq4_xs, scales_l);
	const uint8_t *qs = w + OFF(block_iq4_xs, qs), *aq = a + AK_QS;
	int32x4_t sumlo = vdupq_n_s32(0), sumhi = vdupq_n_s32(0);
	for (int g = 0; g < 8; g++) {
		uint8x16_t b = vld1q_u8(qs + 16 * g);
		int8x16_t l = vqtbl1q_s8(lut, vandq_u8(b, vdupq_n_u8(15)));
		int8x16_t h = vqtbl1q_s8(lut, vshrq_n_u8(b, 4));
		int ls = (int)((sl[g / 2] >> 4 * (g % 2) & 15) | (sh >> 2 * g & 3u) << 4) - 32;
		sumlo = vmlaq_n_s32(sumlo, dot16(vdupq_n_s32(0), l, lds8(aq + 32 * g)), ls);
		sumhi = vmlaq_n_s32(sumhi, dot16(vdupq_n_s32(0), h, lds8(aq + 32 * g + 16)), ls);
	}
	*lo = sumlo;
	*hi = sumhi;
}

static void vec_dot_iq4_xs(int64_t n, float *s, const void *vw, const void *va)
{
	const uint8_t *w = vw, *a = va;
	const int8x16_t lut = vld1q_s8(kvalues_iq4nl);
	struct f8 acc = f8_zero();
	for (int64_t i = 0; i < n / QK_K; i++, w += sizeof(struct block_iq4_xs), a += AK) {
		prefetch_ahead(w, sizeof(struct block_iq4_xs));
		int32x4_t lo, hi;
		iq4_xs_block(w, a, lut, &lo, &hi);
		acc = f8_fma(acc, ldf(a + AK_D) * h2f(w + OFF(block_iq4_xs, d)), lo, hi);
	}
	*s = f8_hsum(acc);
}

/* ---- float types (F32 activations, any n) ---- */

static inline float32x4_t load4_f32(const uint8_t *p)
{
	return vld1q_f32((const float *)(const void *)p);
}

static inline float32x4_t load4_f16(const uint8_t *p)
{
	return vcvt_f32_f16(vreinterpret_f16_u8(vld1_u8(p)));
}

static inline float32x4_t load4_bf16(const uint8_t *p)
{
	return vreinterpretq_f32_u32(vshll_n_u16(vreinterpret_u16_u8(vld1_u8(p)), 16));
}

static inline float ld_bf16(const uint8_t *p)
{
	return bf16_to_fp32(ldu16(p));
}

/* As kernels-avx512.c: 4 accumulators of 16 lanes over 64 elements, then
 * 16 at a time into the first, the last < 16 (zero-padded, as its masked
 * loads) into the second; the sum (c0 + c1) + (c2 + c3), reduced as
 * _mm512_reduce_add_ps. A 16-lane accumulator is 4 registers. */
#define FLOAT_DOT(name, ES, LOAD4, LOAD1)                                                \
	static void vec_dot_##name(int64_t n, float *s, const void *vw, const void *va)  \
	{                                                                                 \
		const uint8_t *w = vw;                                                    \
		const float *x = va;                                                      \
		float32x4_t c[4][4];                                                      \
		for (int j = 0; j < 4; j++)                                               \
			for (int q = 0; q < 4; q++)                                       \
				c[j][q] = vdupq_n_f32(0);                                 \
		int64_t i = 0;                                                            \
		for (; i + 64 <= n; i += 64) {                                            \
			prefetch_ahead(w + ES * i, ES * 64);                              \
			for (int j = 0; j < 4; j++)                                       \
				for (int q = 0; q < 4; q++) {                             \
					int64_t e = i + 16 * j + 4 * q;                   \
					c[j][q] = vfmaq_f32(c[j][q], LOAD4(w + ES * e), vld1q_f32(x + e)); \
				}                                                         \
		}                                                                         \
		for (; i + 16 <= n; i += 16)                                              \
			for (int q = 0; q < 4; q++)                                       \
				c[0][q] = vfmaq_f32(c[0][q], LOAD4(w + ES * (i + 4 * q)), vld1q_f32(x + i + 4 * q)); \
		if (i < n) {                                                              \
			float wt[16] = {0}, xt[16] = {0};                                 \
			for (int64_t e = i; e < n; e++) {                                 \
				wt[e - i] = LOAD1(w + ES * e);                            \
				xt[e - i] = x[e];                                         \
			}                                                                 \
			for (int q = 0; q < 4; q++)                                       \
				c[1][q] = vfmaq_f32(c[1][q], vld1q_f32(wt + 4 * q), vld1q_f32(xt + 4 * q)); \
		}                                                                         \
		float32x4_t r[4];                                                         \
		for (int q = 0; q < 4; q++)                                               \
			r[q] = vaddq_f32(vaddq_f32(c[0][q], c[1][q]), vaddq_f32(c[2][q], c[3][q])); \
		*s = f16_hsum(r);                                                         \
	}

FLOAT_DOT(f32, 4, load4_f32, ldf)
FLOAT_DOT(bf16, 2, load4_bf16, ld_bf16)

/* F16 as ggml_vec_dot_f16 built for AVX-512 (kernels-avx512.c; llama.cpp's
 * flash attention scores K.q with it): 4 accumulators over 64 elements,
 * reduced (c0 + c2) + (c1 + c3), the tail in double. */
static void vec_dot_f16(int64_t n, float *s, const void *vw, const void *va)
{
	const uint8_t *w = vw;
	const float *x = va;
	float32x4_t c[4][4];
	for (int j = 0; j < 4; j++)
		for (int q = 0; q < 4; q++)
			c[j][q] = vdupq_n_f32(0);
	int64_t i = 0;
	for (; i + 64 <= n; i += 64) {
		prefetch_ahead(w + 2 * i, 128);
		for (int j = 0; j < 4; j++)
			for (int q = 0; q < 4; q++) {
				int64_t e = i + 16 * j + 4 * q;
				c[j][q] = vfmaq_f32(c[j][q], load4_f16(w + 2 * e), vld1q_f32(x + e));
			}
	}
	float32x4_t r[4];
	for (int q = 0; q < 4; q++)
		r[q] = vaddq_f32(vaddq_f32(c[0][q], c[2][q]), vaddq_f32(c[1][q], c[3][q]));
	double sum = f16_hsum(r);
	for (; i < n; i++)
		sum += (double)(h2f(w + 2 * i) * x[i]);
	*s = (float)sum;
}

/* Exact conversions, so bit-equal to the reference (NaNs stay NaNs). */
static void to_float_f16(const void *src, float *y, int64_t n)
{
	const uint8_t *p = src;
	int64_t i = 0;
	for (; i + 4 <= n; i += 4)
		vst1q_f32(y + i, load4_f16(p + 2 * i));
	for (; i < n; i++)
		y[i] = h2f(p + 2 * i);
}

static void to_float_bf16(const void *src, float *y, int64_t n)
{
	const uint8_t *p = src;
	int64_t i = 0;
	for (; i + 4 <= n; i += 4)
		vst1q_f32(y + i, load4_bf16(p + 2 * i));
	for (; i < n; i++)
		y[i] = ld_bf16(p + 2 * i);
}

/* ---- multi-row products (gemm) ----
 * Tiles of RM weight rows x RN activation rows (constants after inlining):
 * a weight block is unpacked once per tile and met by every activation row
 * of it, an activation block loaded once and met by every weight row. */

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

/* Types against Q8_0 activations: RM weight rows x RN activation rows, in
 * the chains of their vec_dot (TWO: even and odd blocks apart, 2 x 2
 * tiles; one chain: 2 x 4). */
#define Q80_TILE(name, type, UNPACK, TWO)                                                                \
	AI void name##_tile(int64_t n, float *y, size_t ldy, const uint8_t *w, size_t ldw, const uint8_t *a, \
			    size_t lda, const int RM, const int RN)                                      \
	{                                                                                                \
		struct f8 acc[2][4][2];                                                                  \
		UNROLL for (int i = 0; i < RM; i++)                                                      \
			UNROLL for (int j = 0; j < RN; j++)                                              \
				acc[i][j][0] = acc[i][j][1] = f8_zero();                                 \
		for (int64_t b = 0; b < n / 32; b++) {                                                   \
			int8x16_t lo[2], hi[2];                                                          \
			float dw[2];                                                                     \
			const int c = TWO ? (int)(b & 1) : 0;                                            \
			UNROLL for (int i = 0; i < RM; i++) {                                            \
				const uint8_t *wb = w + (size_t)i * ldw + (size_t)b * sizeof(struct type); \
				UNPACK(wb, lo[i], hi[i]);                                                \
				dw[i] = h2f(wb + OFF(type, d));                                          \
			}                                                                                \
			UNROLL for (int j = 0; j < RN; j++) {                                            \
				const uint8_t *ab = a + (size_t)j * lda + (size_t)b * A80;               \
				int8x16_t a0 = lds8(ab + A80_QS), a1 = lds8(ab + A80_QS + 16);           \
				float da = h2f(ab);                                                      \
				UNROLL for (int i = 0; i < RM; i++) {                                    \
					int32x4_t pl = dot16(vdupq_n_s32(0), lo[i], a0);                 \
					int32x4_t ph = dot16(vdupq_n_s32(0), hi[i], a1);                 \
					acc[i][j][c] = f8_fma(acc[i][j][c], dw[i] * da, pl, ph);         \
				}                                                                        \
			}                                                                                \
		}                                                                                        \
		UNROLL for (int i = 0; i < RM; i++)                                                      \
			UNROLL for (int j = 0; j < RN; j++)                                              \
				y[(size_t)j * ldy + i] = f8_hsum(f8_add(acc[i][j][0], acc[i][j][1]));    \
	}
Q80_TILE(q8_0, block_q8_0, UNPACK_Q8_0, 0)
Q80_TILE(q4_0, block_q4_0, UNPACK_Q4_0, 0)
Q80_TILE(q5_0, block_q5_0, UNPACK_Q5_0, 0)
Q80_TILE(iq4_nl, block_iq4_nl, UNPACK_IQ4_NL, 1)
Q80_TILE(iq4_nl_dense, block_iq4_nl, UNPACK_IQ4_NL, 0)
GEMM_DRIVER(q8_0, 2, 4, q8_0_tile)
GEMM_DRIVER(q4_0, 2, 4, q4_0_tile)
GEMM_DRIVER(q5_0, 2, 4, q5_0_tile)
GEMM_DRIVER(iq4_nl, 2, 2, iq4_nl_tile)
GEMM_DRIVER(iq4_nl_dense, 2, 4, iq4_nl_dense_tile)

/* K-quants: one weight row against up to 4 activation rows; the weight
 * block's scales are decoded once per block. */
AI void k4_tile(int64_t n, float *y, size_t ldy, const uint8_t *w, size_t ldw, const uint8_t *a, size_t lda,
		const int RM, const int RN, const int five)
{
	(void)ldw;
	(void)RM;
	const size_t WB = five ? sizeof(struct block_q5_K) : sizeof(struct block_q4_K);
	const size_t oqs = five ? OFF(block_q5_K, qs) : OFF(block_q4_K, qs);
	struct k4_acc r[4];
	UNROLL for (int j = 0; j < RN; j++)
		r[j] = (struct k4_acc){f8_zero(), vdupq_n_f32(0)};
	for (int64_t b = 0; b < n / QK_K; b++, w += WB) {
		uint8_t scm[16];
		k4_scales(w + OFF(block_q4_K, scales), scm);
		float dw = h2f(w + OFF(block_q4_K, d)), dmw = h2f(w + OFF(block_q4_K, dmin));
		UNROLL for (int j = 0; j < RN; j++)
			k4_step(&r[j], w, scm, a + (size_t)j * lda + (size_t)b * AK, dw, dmw, oqs, five);
	}
	UNROLL for (int j = 0; j < RN; j++)
		y[(size_t)j * ldy] = k4_result(&r[j], five);
}
#define TILE_Q4_K(n, y, ldy, w, ldw, a, lda, M, N) k4_tile(n, y, ldy, w, ldw, a, lda, M, N, 0)
#define TILE_Q5_K(n, y, ldy, w, ldw, a, lda, M, N) k4_tile(n, y, ldy, w, ldw, a, lda, M, N, 1)
GEMM_DRIVER(q4_K, 1, 4, TILE_Q4_K)
GEMM_DRIVER(q5_K, 1, 4, TILE_Q5_K)

/* Q2_K, Q6_K, IQ4_XS: one weight row against up to 4 activation rows; each
 * 16 or 32 weights unpacked once per block meet every row, whose 8 int32
 * lanes and float chain are its vec_dot's (same bits). */
AI void q2k_tile(int64_t n, float *y, size_t ldy, const uint8_t *w, size_t ldw, const uint8_t *a, size_t lda,
		 const int RM, const int RN)
{
	(void)ldw;
	(void)RM;
	struct f8 acc[4];
	UNROLL for (int j = 0; j < RN; j++)
		acc[j] = f8_zero();
	for (int64_t b = 0; b < n / QK_K; b++, w += sizeof(struct block_q2_K)) {
		const uint8_t *sc = w + OFF(block_q2_K, scales);
		float dw = h2f(w + OFF(block_q2_K, d)), dmw = h2f(w + OFF(block_q2_K, dmin));
		int32x4_t lo[4], hi[4];
		UNROLL for (int j = 0; j < RN; j++)
			lo[j] = hi[j] = vdupq_n_s32(0);
		for (int h = 0; h < 2; h++) {
			const uint8_t *qs = w + OFF(block_q2_K, qs) + 32 * h;
			uint8x16_t q0 = vld1q_u8(qs), q1 = vld1q_u8(qs + 16);
			for (int k = 0; k < 4; k++) {
				int8x16_t w0 = vreinterpretq_s8_u8(vandq_u8(q0, vdupq_n_u8(3)));
				int8x16_t w1 = vreinterpretq_s8_u8(vandq_u8(q1, vdupq_n_u8(3)));
				q0 = vshrq_n_u8(q0, 2);
				q1 = vshrq_n_u8(q1, 2);
				const uint8_t *g = sc + 8 * h + 2 * k;
				UNROLL for (int j = 0; j < RN; j++) {
					const uint8_t *aq = a + (size_t)j * lda + (size_t)b * AK + AK_QS + 128 * h + 32 * k;
					lo[j] = vmlaq_n_s32(lo[j], dot16(vdupq_n_s32(0), w0, lds8(aq)), g[0] & 15);
					hi[j] = vmlaq_n_s32(hi[j], dot16(vdupq_n_s32(0), w1, lds8(aq + 16)), g[1] & 15);
				}
			}
		}
		int8x16_t mn = vreinterpretq_s8_u8(vshrq_n_u8(vld1q_u8(sc), 4));
		UNROLL for (int j = 0; j < RN; j++) {
			const uint8_t *ab = a + (size_t)j * lda + (size_t)b * AK;
			float ad = ldf(ab + AK_D);
			int32x4_t mlo, mhi;
			scale_bsums(mn, ab + AK_BS, &mlo, &mhi);
			acc[j] = f8_fms(acc[j], ad * dmw, mlo, mhi);
			acc[j] = f8_fma(acc[j], ad * dw, lo[j], hi[j]);
		}
	}
	UNROLL for (int j = 0; j < RN; j++)
		y[(size_t)j * ldy] = f8_hsum(acc[j]);
}

AI void q6k_tile(int64_t n, float *y, size_t ldy, const uint8_t *w, size_t ldw, const uint8_t *a, size_t lda,
		 const int RM, const int RN)
{
	(void)ldw;
	(void)RM;
	struct f8 acc[4];
	UNROLL for (int j = 0; j < RN; j++)
		acc[j] = f8_zero();
	for (int64_t b = 0; b < n / QK_K; b++, w += sizeof(struct block_q6_K)) {
		const int8_t *sc = (const int8_t *)(w + OFF(block_q6_K, scales));
		int32x4_t s[4][2];
		UNROLL for (int j = 0; j < RN; j++)
			s[j][0] = s[j][1] = vdupq_n_s32(0);
		for (int h = 0; h < 2; h++) {
			const uint8_t *ql = w + OFF(block_q6_K, ql) + 64 * h, *qh = w + OFF(block_q6_K, qh) + 32 * h;
			for (int half = 0; half < 2; half++) {
				uint8x16_t q[4];
				q6_unpack(ql, qh, half, q);
				for (int k = 0; k < 4; k++) {
					int32_t g = sc[8 * h + 2 * k + half];
					UNROLL for (int j = 0; j < RN; j++) {
						const uint8_t *aq = a + (size_t)j * lda + (size_t)b * AK + AK_QS + 128 * h;
						int32x4_t p = dot16(vdupq_n_s32(0), vreinterpretq_s8_u8(q[k]),
								    lds8(aq + 32 * k + 16 * half));
						s[j][half] = vmlaq_n_s32(s[j][half], p, g);
					}
				}
			}
		}
		float dw = h2f(w + OFF(block_q6_K, d));
		UNROLL for (int j = 0; j < RN; j++) {
			const uint8_t *ab = a + (size_t)j * lda + (size_t)b * AK;
			int32x4_t clo, chi;
			scale_bsums(vld1q_s8(sc), ab + AK_BS, &clo, &chi);
			acc[j] = f8_fma(acc[j], ldf(ab + AK_D) * dw, vsubq_s32(s[j][0], vshlq_n_s32(clo, 5)),
					vsubq_s32(s[j][1], vshlq_n_s32(chi, 5)));
		}
	}
	UNROLL for (int j = 0; j < RN; j++)
		y[(size_t)j * ldy] = f8_hsum(acc[j]);
}

AI void iq4xs_tile(int64_t n, float *y, size_t ldy, const uint8_t *w, size_t ldw, const uint8_t *a, size_t lda,
		   const int RM, const int RN)
{
	(void)ldw;
	(void)RM;
	const int8x16_t lut = vld1q_s8(kvalues_iq4nl);
	struct f8 acc[4];
	UNROLL for (int j = 0; j < RN; j++)
		acc[j] = f8_zero();
	for (int64_t b = 0; b < n / QK_K; b++, w += sizeof(struct block_iq4_xs)) {
		uint16_t sh = ldu16(w + OFF(block_iq4_xs, scales_h));
		const uint8_t *sl = w + OFF(block_iq4_xs, scales_l), *qs = w + OFF(block_iq4_xs, qs);
		int32x4_t lo[4], hi[4];
		UNROLL for (int j = 0; j < RN; j++)
			lo[j] = hi[j] = vdupq_n_s32(0);
		for (int g = 0; g < 8; g++) {
			uint8x16_t x = vld1q_u8(qs + 16 * g);
			int8x16_t l = vqtbl1q_s8(lut, vandq_u8(x, vdupq_n_u8(15)));
			int8x16_t h = vqtbl1q_s8(lut, vshrq_n_u8(x, 4));
			int ls = (int)((sl[g / 2] >> 4 * (g % 2) & 15) | (sh >> 2 * g & 3u) << 4) - 32;
			UNROLL for (int j = 0; j < RN; j++) {
				const uint8_t *aq = a + (size_t)j * lda + (size_t)b * AK + AK_QS + 32 * g;
				lo[j] = vmlaq_n_s32(lo[j], dot16(vdupq_n_s32(0), l, lds8(aq)), ls);
				hi[j] = vmlaq_n_s32(hi[j], dot16(vdupq_n_s32(0), h, lds8(aq + 16)), ls);
			}
		}
		float dw = h2f(w + OFF(block_iq4_xs, d));
		UNROLL for (int j = 0; j < RN; j++)
			acc[j] = f8_fma(acc[j], ldf(a + (size_t)j * lda + (size_t)b * AK + AK_D) * dw, lo[j], hi[j]);
	}
	UNROLL for (int j = 0; j < RN; j++)
		y[(size_t)j * ldy] = f8_hsum(acc[j]);
}
#define TILE_Q2_K(n, y, ldy, w, ldw, a, lda, M, N) q2k_tile(n, y, ldy, w, ldw, a, lda, M, N)
#define TILE_Q6_K(n, y, ldy, w, ldw, a, lda, M, N) q6k_tile(n, y, ldy, w, ldw, a, lda, M, N)
#define TILE_IQ4_XS(n, y, ldy, w, ldw, a, lda, M, N) iq4xs_tile(n, y, ldy, w, ldw, a, lda, M, N)
GEMM_DRIVER(q2_K, 1, 4, TILE_Q2_K)
GEMM_DRIVER(q6_K, 1, 4, TILE_Q6_K)
GEMM_DRIVER(iq4_xs, 1, 4, TILE_IQ4_XS)

/* Float types as kernels-avx512.c's tiles: one accumulator of 16 lanes (4
 * registers) per pair of rows, 16 elements a step, the zero-padded tail,
 * _mm512_reduce_add_ps; 2 x 2 tiles. */
#define FLOAT_TILE(name, ES, LOAD4, LOAD1)                                                          \
	AI void name##_tile(int64_t n, float *y, size_t ldy, const uint8_t *w, size_t ldw, const uint8_t *a, \
			    size_t lda, const int RM, const int RN)                                  \
	{                                                                                            \
		float32x4_t acc[2][4][4];                                                            \
		UNROLL for (int i = 0; i < RM; i++)                                                  \
			UNROLL for (int j = 0; j < RN; j++)                                          \
				UNROLL for (int q = 0; q < 4; q++)                                   \
					acc[i][j][q] = vdupq_n_f32(0);                               \
		int64_t k = 0;                                                                       \
		for (; k + 16 <= n; k += 16) {                                                       \
			UNROLL for (int q = 0; q < 4; q++) {                                         \
				float32x4_t wv[2];                                                   \
				UNROLL for (int i = 0; i < RM; i++)                                  \
					wv[i] = LOAD4(w + (size_t)i * ldw + ES * (k + 4 * q));       \
				UNROLL for (int j = 0; j < RN; j++) {                                \
					const float *x = (const float *)(const void *)(a + (size_t)j * lda); \
					float32x4_t av = vld1q_f32(x + k + 4 * q);                   \
					UNROLL for (int i = 0; i < RM; i++)                          \
						acc[i][j][q] = vfmaq_f32(acc[i][j][q], wv[i], av);   \
				}                                                                    \
			}                                                                            \
		}                                                                                    \
		if (k < n) {                                                                         \
			UNROLL for (int i = 0; i < RM; i++)                                          \
				UNROLL for (int j = 0; j < RN; j++) {                                \
					const float *x = (const float *)(const void *)(a + (size_t)j * lda); \
					float wt[16] = {0}, xt[16] = {0};                            \
					for (int64_t e = k; e < n; e++) {                            \
						wt[e - k] = LOAD1(w + (size_t)i * ldw + ES * e);     \
						xt[e - k] = x[e];                                    \
					}                                                            \
					UNROLL for (int q = 0; q < 4; q++)                           \
						acc[i][j][q] = vfmaq_f32(acc[i][j][q], vld1q_f32(wt + 4 * q), \
									 vld1q_f32(xt + 4 * q));     \
				}                                                                    \
		}                                                                                    \
		UNROLL for (int i = 0; i < RM; i++)                                                  \
			UNROLL for (int j = 0; j < RN; j++)                                          \
				y[(size_t)j * ldy + i] = f16_hsum(acc[i][j]);                        \
	}
FLOAT_TILE(f32, 4, load4_f32, ldf)
FLOAT_TILE(f16, 2, load4_f16, h2f)
FLOAT_TILE(bf16, 2, load4_bf16, ld_bf16)
GEMM_DRIVER(f32, 2, 2, f32_tile)
GEMM_DRIVER(f16, 2, 2, f16_tile)
GEMM_DRIVER(bf16, 2, 2, bf16_tile)

bool INSTALL(struct qtype *t)
{
	t[GGML_F32].vec_dot = vec_dot_f32;
	t[GGML_F16].vec_dot = vec_dot_f16;
	t[GGML_F16].to_float = to_float_f16;
	t[GGML_BF16].vec_dot = vec_dot_bf16;
	t[GGML_BF16].to_float = to_float_bf16;
	t[GGML_Q8_0].vec_dot = vec_dot_q8_0;
	t[GGML_Q4_0].vec_dot = vec_dot_q4_0;
	t[GGML_Q5_0].vec_dot = vec_dot_q5_0;
	t[GGML_IQ4_NL].vec_dot = vec_dot_iq4_nl;
	t[GGML_IQ4_NL].vec_dot_dense = vec_dot_iq4_nl_dense;
	t[GGML_Q4_1].vec_dot = vec_dot_q4_1;
	t[GGML_Q5_1].vec_dot = vec_dot_q5_1;
	t[GGML_Q2_K].vec_dot = vec_dot_q2_K;
	t[GGML_Q3_K].vec_dot = vec_dot_q3_K;
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
	t[GGML_Q2_K].gemm = gemm_q2_K;
	t[GGML_Q6_K].gemm = gemm_q6_K;
	t[GGML_IQ4_XS].gemm = gemm_iq4_xs;
	return true;
}

#else /* not AArch64, or built without dotprod */


bool INSTALL(struct qtype *t)
{
	(void)t;
	return false;
}

#endif
