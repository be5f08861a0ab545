/* kernels-neon.h - helpers shared by the AArch64 kernel files.
 *
 * Included by kernels-neon.c and kernels-lowbit-neon.c inside their guards,
 * so each build (baseline NEON, +dotprod) compiles these with its own
 * flags. Everything is static inline: no symbol crosses the builds. */
#ifndef HEFT_KERNELS_NEON_H
#define HEFT_KERNELS_NEON_H

#include "kernels-bytes.h"

#include <arm_neon.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* f16 to float through the FCVT instruction (exact). */
static inline float h2f(const uint8_t *p)
{
	__fp16 h;
	memcpy(&h, p, 2);
	return (float)h;
}

static inline int8x16_t lds8(const uint8_t *p)
{
	return vld1q_s8((const int8_t *)(const void *)p);
}

/* acc + four int32 sums of products of 16 int8 pairs, lane k summing bytes
 * 4k..4k+3: what SDOT gives, and what an x86 kernel's int32 lane holds
 * (maddubs + madd, or vpdpbusd), so a block's lanes can be converted to
 * float and summed in the x86 kernels' order (see struct f8). Exact:
 * widening to int16 before any addition, so even -128 * -128 cannot
 * overflow. */
static inline int32x4_t dot16(int32x4_t acc, int8x16_t w, int8x16_t a)
{
#ifdef __ARM_FEATURE_DOTPROD
	return vdotq_s32(acc, w, a);
#else
	int32x4_t lo = vpaddlq_s16(vmull_s8(vget_low_s8(w), vget_low_s8(a)));
	int32x4_t hi = vpaddlq_s16(vmull_high_s8(w, a));
	return vaddq_s32(acc, vpaddq_s32(lo, hi));
#endif
}

/* ---- the x86 kernels' float order (issue 20) ----
 * The fixtures' references come from llama.cpp's AVX-512 build, and the
 * x86 kernels round as ggml's do (issue 18): per block the int32 sums of 8
 * lanes (lane l: elements 4l..4l+3 of every 32), one FMA by the block scale
 * into 8 float lanes, and at the end ggml's horizontal sum. The NEON
 * kernels keep the same 8 lanes in two registers (x86 lanes 0..3 in lo,
 * 4..7 in hi) and give the x86 kernels' bits; summing in NEON's own order
 * moved deepseek2-IQ1_S and -IQ2_XXS out of tolerance. */
struct f8 {
	float32x4_t lo, hi;
};

static inline struct f8 f8_zero(void)
{
	return (struct f8){vdupq_n_f32(0), vdupq_n_f32(0)};
}

/* acc + d * (float)(lo, hi), fused as _mm256_fmadd_ps. */
static inline struct f8 f8_fma(struct f8 acc, float d, int32x4_t lo, int32x4_t hi)
{
	acc.lo = vfmaq_n_f32(acc.lo, vcvtq_f32_s32(lo), d);
	acc.hi = vfmaq_n_f32(acc.hi, vcvtq_f32_s32(hi), d);
	return acc;
}

/* acc - d * (float)(lo, hi), fused as _mm256_fnmadd_ps. */
static inline struct f8 f8_fms(struct f8 acc, float d, int32x4_t lo, int32x4_t hi)
{
	acc.lo = vfmsq_n_f32(acc.lo, vcvtq_f32_s32(lo), d);
	acc.hi = vfmsq_n_f32(acc.hi, vcvtq_f32_s32(hi), d);
	return acc;
}

static inline struct f8 f8_add(struct f8 a, struct f8 b)
{
	return (struct f8){vaddq_f32(a.lo, b.lo), vaddq_f32(a.hi, b.hi)};
}

/* (x0 + x2) + (x1 + x3): the x86 sum of 4 lanes (not FADDP's pairs). */
static inline float hsum4(float32x4_t x)
{
	float32x2_t t = vadd_f32(vget_low_f32(x), vget_high_f32(x));
	return vget_lane_f32(t, 0) + vget_lane_f32(t, 1);
}

/* hsum_ps of kernels-x86.h: the two halves added, then hsum4. */
static inline float f8_hsum(struct f8 a)
{
	return hsum4(vaddq_f32(a.lo, a.hi));
}

/* _mm512_reduce_add_ps of 16 lanes q[0..3]: halves, then quarters. */
static inline float f16_hsum(const float32x4_t q[4])
{
	return hsum4(vaddq_f32(vaddq_f32(q[0], q[2]), vaddq_f32(q[1], q[3])));
}

/* The 8 int32 lanes of _mm256_madd_epi16(x, y) for 16 int16 x and y: lane
 * l is x[2l] y[2l] + x[2l+1] y[2l+1]; the scale-times-bsum corrections and
 * mins of the K-quants land in the float lanes this way on x86. */
static inline void madd16(int16x8_t x0, int16x8_t x1, int16x8_t y0, int16x8_t y1, int32x4_t *lo, int32x4_t *hi)
{
	*lo = vpaddq_s32(vmull_s16(vget_low_s16(x0), vget_low_s16(y0)), vmull_high_s16(x0, y0));
	*hi = vpaddq_s32(vmull_s16(vget_low_s16(x1), vget_low_s16(y1)), vmull_high_s16(x1, y1));
}

/* 32 bits (little-endian) to 32 bytes, 0xff where the bit is set: bits
 * 0..15 in *lo, 16..31 in *hi. */
static inline void bits32(const uint8_t *p, uint8x16_t *lo, uint8x16_t *hi)
{
	static const uint8_t sel[16] = {1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128};
	static const uint8_t idx_lo[16] = {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1};
	uint32_t x;
	memcpy(&x, p, 4);
	uint8x16_t v = vreinterpretq_u8_u32(vdupq_n_u32(x));
	uint8x16_t m = vld1q_u8(sel), il = vld1q_u8(idx_lo);
	*lo = vtstq_u8(vqtbl1q_u8(v, il), m);
	*hi = vtstq_u8(vqtbl1q_u8(v, vaddq_u8(il, vdupq_n_u8(2))), m);
}

/* 8 int16 at any address (activation rows need not be aligned). */
static inline int16x8_t lds16(const uint8_t *p)
{
	return vreinterpretq_s16_u8(vld1q_u8(p));
}

/* madd16 of 16 int8 group scales (or mins) with a Q8_K block's bsums. */
static inline void scale_bsums(int8x16_t s, const uint8_t *bsums, int32x4_t *lo, int32x4_t *hi)
{
	madd16(vmovl_s8(vget_low_s8(s)), vmovl_high_s8(s), lds16(bsums), lds16(bsums + 16), lo, hi);
}

#endif
