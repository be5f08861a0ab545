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

/* acc + four int32 sums of products of 16 int8 pairs. With dotprod, lane k
 * sums bytes 4k..4k+3 (SDOT); without, a pairing of the same 16 bytes, so
 * only the sum of the lanes is defined. Exact: widening to int16 before any
 * addition, so even -128 * -128 cannot overflow. */
static inline int32x4_t dot16(int32x4_t acc, int8x16_t w, int8x16_t a)
{
#ifdef __ARM_FEATURE_DOTPROD
	return vdotq_s32(acc, w, a);
#else
	acc = vpadalq_s16(acc, vmull_s8(vget_low_s8(w), vget_low_s8(a)));
	return vpadalq_s16(acc, vmull_high_s8(w, a));
#endif
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

/* sum over the 16 groups of s[g] * bsums[g] (s signed, |s| <= 64). */
static inline int32_t scales16(int8x16_t s, const uint8_t *bsums)
{
	int16x8_t s0 = vmovl_s8(vget_low_s8(s)), s1 = vmovl_high_s8(s);
	int16x8_t b0 = lds16(bsums), b1 = lds16(bsums + 16);
	int32x4_t r = vmull_s16(vget_low_s16(s0), vget_low_s16(b0));
	r = vmlal_high_s16(r, s0, b0);
	r = vmlal_s16(r, vget_low_s16(s1), vget_low_s16(b1));
	r = vmlal_high_s16(r, s1, b1);
	return vaddvq_s32(r);
}

/* The same for 16 unsigned 4-bit mins. */
static inline int32_t mins16(uint8x16_t m, const uint8_t *bsums)
{
	return scales16(vreinterpretq_s8_u8(m), bsums);
}

#endif
