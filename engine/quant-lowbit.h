/* quant-lowbit.h - the very-low-bit weight types: IQ1_S, IQ1_M, IQ2_XXS,
 * IQ2_XS, IQ2_S, IQ3_XXS, IQ3_S, TQ1_0, TQ2_0 and MXFP4.
 *
 * Block layouts bit-exact with ggml (multi-byte fields little-endian,
 * blocks unaligned inside a row: read fields at offsetof() positions), their
 * code books (the reference kernels are in quant-lowbit.c, their rows in
 * quant-table.c, the SIMD installers declared in kernels.h). The
 * 256-element types take Q8_K activations, MXFP4 takes
 * Q8_0, like ggml, so quant_act_row() serves them unchanged.
 *
 * All of them reduce to w = d * sc[g] * q[e] with small integers q and sc
 * (IQ2/IQ3 grids hold 8..62 in steps, IQ1 grids -1/0/1 plus a delta of
 * +-1/8, folded into q = 8*grid +- 1 and d / 8), which is what makes an
 * exact integer dot product against int8 activations possible. */
#ifndef HEFT_QUANT_LOWBIT_H
#define HEFT_QUANT_LOWBIT_H

#include "quant.h"

#include <stdint.h>

#define QK_MXFP4 32

struct block_iq1_s { /* 50 bytes; 8 groups of 32, each 4 sub-groups of 8 */
	uint16_t d;
	uint8_t qs[QK_K / 8];  /* low 8 bits of each sub-group's iq1s_grid index */
	uint16_t qh[QK_K / 32]; /* per group: 3 index bits per sub-group at 3l,
				   scale s at bits 12-14 (sc = 2s + 1), delta sign at bit 15 */
};
struct block_iq1_m { /* 56 bytes; scale groups of 16, delta per sub-group of 8 */
	uint8_t qs[QK_K / 8];  /* low 8 bits of the grid index */
	uint8_t qh[QK_K / 16]; /* per pair of sub-groups: 3 index bits + delta sign, one per nibble */
	uint8_t scales[QK_K / 32]; /* 4 uint16: 3-bit scales at 3k (4 per word), the f16 d in the top nibbles */
};
struct block_iq2_xxs { /* 66 bytes; groups of 32 */
	uint16_t d;
	uint16_t qs[QK_K / 8]; /* per group 8 bytes: 4 iq2xxs_grid indices, then a u32 of
				  4 7-bit sign codes and the 4-bit scale at 28 (sc = 2s + 1, d/8) */
};
struct block_iq2_xs { /* 74 bytes; groups of 16 */
	uint16_t d;
	uint16_t qs[QK_K / 8]; /* per sub-group of 8: 9-bit iq2xs_grid index, 7-bit sign code */
	uint8_t scales[QK_K / 32]; /* 4-bit s per 16, low nibble first (sc = 2s + 1, d/8) */
};
struct block_iq2_s { /* 82 bytes; groups of 16 */
	uint16_t d;
	uint8_t qs[QK_K / 8];    /* low 8 bits of the iq2s_grid index per sub-group of 8 */
	uint8_t signs[QK_K / 8]; /* one sign bit per element */
	uint8_t qh[QK_K / 32];   /* 2 high index bits per sub-group, at 2l */
	uint8_t scales[QK_K / 32];
};
struct block_iq3_xxs { /* 98 bytes; groups of 32 */
	uint16_t d;
	uint8_t qs[QK_K / 4];  /* iq3xxs_grid index per 4 elements */
	uint8_t sas[QK_K / 8]; /* per group a u32: 4 7-bit sign codes, scale at 28 (sc = 2s + 1, d/4) */
};
struct block_iq3_s { /* 110 bytes; groups of 32 */
	uint16_t d;
	uint8_t qs[QK_K / 4];    /* low 8 bits of the iq3s_grid index per 4 elements */
	uint8_t qh[QK_K / 32];   /* the 9th index bit, one byte per group */
	uint8_t signs[QK_K / 8]; /* one sign bit per element */
	uint8_t scales[QK_K / 64]; /* 4-bit s per group, low nibble first (sc = 2s + 1) */
};
struct block_tq1_0 { /* 54 bytes: 5 trits per byte (q = byte * 3^n mod 256, trit = q*3 >> 8) */
	uint8_t qs[(QK_K - 4 * QK_K / 64) / 5]; /* elements 0..239 */
	uint8_t qh[QK_K / 64];                   /* elements 240..255, 4 trits per byte */
	uint16_t d;
};
struct block_tq2_0 { /* 66 bytes: w = d * (q - 1), 2 bits as in Q2_K */
	uint8_t qs[QK_K / 4];
	uint16_t d;
};
struct block_mxfp4 { /* 17 bytes: w = 2^(e-128) * kvalues_mxfp4[q], nibbles as Q4_0 */
	uint8_t e; /* E8M0 */
	uint8_t qs[QK_MXFP4 / 2];
};

_Static_assert(sizeof(struct block_iq1_s) == 50, "IQ1_S block");
_Static_assert(sizeof(struct block_iq1_m) == 56, "IQ1_M block");
_Static_assert(sizeof(struct block_iq2_xxs) == 66, "IQ2_XXS block");
_Static_assert(sizeof(struct block_iq2_xs) == 74, "IQ2_XS block");
_Static_assert(sizeof(struct block_iq2_s) == 82, "IQ2_S block");
_Static_assert(sizeof(struct block_iq3_xxs) == 98, "IQ3_XXS block");
_Static_assert(sizeof(struct block_iq3_s) == 110, "IQ3_S block");
_Static_assert(sizeof(struct block_tq1_0) == 54, "TQ1_0 block");
_Static_assert(sizeof(struct block_tq2_0) == 66, "TQ2_0 block");
_Static_assert(sizeof(struct block_mxfp4) == 17, "MXFP4 block");

/* Code books (quant-grids.c). Grid entries are little-endian byte vectors:
 * byte j of entry k is element j of the sub-group (unsigned magnitudes for
 * IQ2/IQ3, int8 -1/0/1 for IQ1). */
extern const uint64_t iq2xxs_grid[256];
extern const uint64_t iq2xs_grid[512];
extern const uint64_t iq2s_grid[1024];
extern const uint32_t iq3xxs_grid[256];
extern const uint32_t iq3s_grid[512];
extern const uint64_t iq1s_grid[2048];
/* A 7-bit sign code to 8 sign bits (the 8th makes the count of minus
 * signs even), and the same as bytes: 0xff where the element is negated. */
extern const uint8_t ksigns_iq2xs[128];
extern const uint64_t ksigns64[128];
/* E2M1 values, doubled (the E8M0 scale is halved to match). */
extern const int8_t kvalues_mxfp4[16];

/* E8M0 exponent byte to 2^(e-128), the halved scale (e = 0, 1 subnormal). */
static inline float e8m0_half(uint8_t e)
{
	return f32_from_bits(e < 2 ? 0x00200000u << e : (uint32_t)(e - 1) << 23);
}

/* IQ1_M stores its f16 super-block scale in the top nibbles of the four
 * scale words. */
static inline uint16_t iq1m_d(const uint8_t *scales)
{
	uint16_t s[4];
	for (int k = 0; k < 4; k++)
		s[k] = (uint16_t)(scales[2 * k] | scales[2 * k + 1] << 8);
	return (uint16_t)((s[0] >> 12) | ((s[1] >> 8) & 0xf0) | ((s[2] >> 4) & 0xf00) | (s[3] & 0xf000));
}

#endif
