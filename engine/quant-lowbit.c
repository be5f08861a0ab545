/* quant-lowbit.c - reference kernels of the very-low-bit types.
 *
 * As in quant.c, each type has one decoder that spells out its layout,
 * turning a block into integers, w[e] = d * sc[e / group] * q[e]; the
 * dequantizer and the dot products are shared. The decoders fold the
 * formats' fractional factors into d (IQ2: (s + 1/2) / 4 = (2s + 1) / 8;
 * IQ1: grid + -1/8 = (8 grid +- 1) / 8), so the dot product against int8
 * activations is an exact integer sum per block. */

#include "quant-lowbit.h"
#include "quant-ref.h"

#include <stddef.h>
#include <string.h>

struct lowblock {
	float d;
	int8_t q[QK_K];
	int16_t sc[QK_K / 16];
};

struct lowlayout {
	uint32_t blck, bytes;
	uint32_t group; /* elements sharing one sc[] */
	void (*decode)(const uint8_t *b, struct lowblock *o);
};

static inline uint16_t ld16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static inline uint32_t ld32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline float ldf16(const uint8_t *p)
{
	return fp16_to_fp32(ld16(p));
}

#define FIELD(b, type, field) ((b) + offsetof(struct type, field))

/* Byte j of a little-endian grid entry. */
static inline int gbyte(uint64_t g, int j)
{
	return (int)(uint8_t)(g >> (8 * j));
}

/* Eight elements from a grid entry of magnitudes and 8 sign bits. */
static void signed8(int8_t *q, uint64_t grid, unsigned signs)
{
	for (int j = 0; j < 8; j++)
		q[j] = (int8_t)((signs >> j & 1) ? -gbyte(grid, j) : gbyte(grid, j));
}

/* IQ1: grid values -1/0/1 plus a delta of +-1/8, times 8. */
static void iq1_8(int8_t *q, uint64_t grid, int neg_delta)
{
	for (int j = 0; j < 8; j++)
		q[j] = (int8_t)(8 * (int8_t)gbyte(grid, j) + (neg_delta ? -1 : 1));
}

static void decode_iq1_s(const uint8_t *b, struct lowblock *o)
{
	const uint8_t *qs = FIELD(b, block_iq1_s, qs);
	for (int g = 0; g < 8; g++) {
		unsigned qh = ld16(FIELD(b, block_iq1_s, qh) + 2 * g);
		for (int l = 0; l < 4; l++) {
			unsigned idx = qs[4 * g + l] | ((qh >> 3 * l) & 7) << 8;
			iq1_8(o->q + 32 * g + 8 * l, iq1s_grid[idx], qh >> 15);
		}
		o->sc[g] = (int16_t)(2 * ((qh >> 12) & 7) + 1);
	}
	o->d = ldf16(FIELD(b, block_iq1_s, d)) / 8;
}

static void decode_iq1_m(const uint8_t *b, struct lowblock *o)
{
	const uint8_t *qs = FIELD(b, block_iq1_m, qs);
	const uint8_t *qh = FIELD(b, block_iq1_m, qh);
	const uint8_t *scales = FIELD(b, block_iq1_m, scales);
	for (int s = 0; s < 32; s++) { /* sub-groups of 8; qh nibble s%2 of qh[s/2] */
		unsigned h = (qh[s / 2] >> (4 * (s % 2))) & 15;
		iq1_8(o->q + 8 * s, iq1s_grid[qs[s] | (h & 7) << 8], h >> 3);
	}
	for (int g = 0; g < 16; g++) { /* 3-bit scales, four per 16-bit word */
		unsigned w = ld16(scales + 2 * (g / 4));
		o->sc[g] = (int16_t)(2 * ((w >> 3 * (g % 4)) & 7) + 1);
	}
	o->d = fp16_to_fp32(iq1m_d(scales)) / 8;
}

static void decode_iq2_xxs(const uint8_t *b, struct lowblock *o)
{
	const uint8_t *qs = FIELD(b, block_iq2_xxs, qs);
	for (int g = 0; g < 8; g++) {
		uint32_t aux = ld32(qs + 8 * g + 4);
		for (int l = 0; l < 4; l++)
			signed8(o->q + 32 * g + 8 * l, iq2xxs_grid[qs[8 * g + l]],
				ksigns_iq2xs[(aux >> 7 * l) & 127]);
		o->sc[g] = (int16_t)(2 * (aux >> 28) + 1);
	}
	o->d = ldf16(FIELD(b, block_iq2_xxs, d)) / 8;
}

static void decode_iq2_xs(const uint8_t *b, struct lowblock *o)
{
	const uint8_t *qs = FIELD(b, block_iq2_xs, qs);
	const uint8_t *scales = FIELD(b, block_iq2_xs, scales);
	for (int s = 0; s < 32; s++) {
		unsigned v = ld16(qs + 2 * s);
		signed8(o->q + 8 * s, iq2xs_grid[v & 511], ksigns_iq2xs[v >> 9]);
	}
	for (int g = 0; g < 16; g++)
		o->sc[g] = (int16_t)(2 * ((scales[g / 2] >> (4 * (g % 2))) & 15) + 1);
	o->d = ldf16(FIELD(b, block_iq2_xs, d)) / 8;
}

static void decode_iq2_s(const uint8_t *b, struct lowblock *o)
{
	const uint8_t *qs = FIELD(b, block_iq2_s, qs);
	const uint8_t *signs = FIELD(b, block_iq2_s, signs);
	const uint8_t *qh = FIELD(b, block_iq2_s, qh);
	const uint8_t *scales = FIELD(b, block_iq2_s, scales);
	for (int s = 0; s < 32; s++) {
		unsigned idx = qs[s] | ((qh[s / 4] >> 2 * (s % 4)) & 3) << 8;
		signed8(o->q + 8 * s, iq2s_grid[idx], signs[s]);
	}
	for (int g = 0; g < 16; g++)
		o->sc[g] = (int16_t)(2 * ((scales[g / 2] >> (4 * (g % 2))) & 15) + 1);
	o->d = ldf16(FIELD(b, block_iq2_s, d)) / 8;
}

/* Two 4-element grid entries make a sub-group of 8. */
static inline uint64_t pair4(uint32_t lo, uint32_t hi)
{
	return (uint64_t)lo | (uint64_t)hi << 32;
}

static void decode_iq3_xxs(const uint8_t *b, struct lowblock *o)
{
	const uint8_t *qs = FIELD(b, block_iq3_xxs, qs);
	const uint8_t *sas = FIELD(b, block_iq3_xxs, sas);
	for (int g = 0; g < 8; g++) {
		uint32_t aux = ld32(sas + 4 * g);
		for (int l = 0; l < 4; l++) {
			const uint8_t *ix = qs + 8 * g + 2 * l;
			signed8(o->q + 32 * g + 8 * l, pair4(iq3xxs_grid[ix[0]], iq3xxs_grid[ix[1]]),
				ksigns_iq2xs[(aux >> 7 * l) & 127]);
		}
		o->sc[g] = (int16_t)(2 * (aux >> 28) + 1);
	}
	o->d = ldf16(FIELD(b, block_iq3_xxs, d)) / 4;
}

static void decode_iq3_s(const uint8_t *b, struct lowblock *o)
{
	const uint8_t *qs = FIELD(b, block_iq3_s, qs);
	const uint8_t *qh = FIELD(b, block_iq3_s, qh);
	const uint8_t *signs = FIELD(b, block_iq3_s, signs);
	const uint8_t *scales = FIELD(b, block_iq3_s, scales);
	for (int s = 0; s < 32; s++) {
		int k = 2 * s; /* 4-element index within the block; 9th bit in qh[k / 8] */
		unsigned i0 = qs[k] | ((qh[k / 8] >> (k % 8)) & 1) << 8;
		unsigned i1 = qs[k + 1] | ((qh[k / 8] >> (k % 8 + 1)) & 1) << 8;
		signed8(o->q + 8 * s, pair4(iq3s_grid[i0], iq3s_grid[i1]), signs[s]);
	}
	for (int g = 0; g < 8; g++)
		o->sc[g] = (int16_t)(2 * ((scales[g / 2] >> (4 * (g % 2))) & 15) + 1);
	o->d = ldf16(FIELD(b, block_iq3_s, d));
}

/* Base-3 digit n of a TQ1_0 byte: the byte is a fixed-point fraction of
 * 3^5, multiplying by 3^n (mod 256) brings digit n to the top. */
static inline int trit(uint8_t v, int n)
{
	static const uint8_t pow3[5] = {1, 3, 9, 27, 81};
	uint8_t q = (uint8_t)(v * pow3[n]);
	return (q * 3) >> 8;
}

static void decode_tq1_0(const uint8_t *b, struct lowblock *o)
{
	const uint8_t *qs = FIELD(b, block_tq1_0, qs);
	const uint8_t *qh = FIELD(b, block_tq1_0, qh);
	int8_t *q = o->q;
	for (int n = 0; n < 5; n++) /* bytes 0..31: elements 32n + m */
		for (int m = 0; m < 32; m++)
			*q++ = (int8_t)(trit(qs[m], n) - 1);
	for (int n = 0; n < 5; n++) /* bytes 32..47: elements 160 + 16n + m */
		for (int m = 0; m < 16; m++)
			*q++ = (int8_t)(trit(qs[32 + m], n) - 1);
	for (int n = 0; n < 4; n++) /* qh: elements 240 + 4n + j */
		for (int j = 0; j < 4; j++)
			*q++ = (int8_t)(trit(qh[j], n) - 1);
	o->sc[0] = 1;
	o->d = ldf16(FIELD(b, block_tq1_0, d));
}

static void decode_tq2_0(const uint8_t *b, struct lowblock *o)
{
	const uint8_t *qs = FIELD(b, block_tq2_0, qs);
	for (int e = 0; e < QK_K; e++) { /* element 128h + 32s + l at bits 2s of qs[32h + l] */
		int h = e >> 7, s = (e >> 5) & 3, l = e & 31;
		o->q[e] = (int8_t)(((qs[32 * h + l] >> 2 * s) & 3) - 1);
	}
	o->sc[0] = 1;
	o->d = ldf16(FIELD(b, block_tq2_0, d));
}

static void decode_mxfp4(const uint8_t *b, struct lowblock *o)
{
	const uint8_t *qs = FIELD(b, block_mxfp4, qs);
	for (int j = 0; j < 16; j++) {
		o->q[j] = kvalues_mxfp4[qs[j] & 15];
		o->q[j + 16] = kvalues_mxfp4[qs[j] >> 4];
	}
	o->sc[0] = 1;
	o->d = e8m0_half(b[offsetof(struct block_mxfp4, e)]);
}

#define LOWLAYOUT(name, blck, group)                                           \
	static const struct lowlayout layout_##name = {                       \
		blck, sizeof(struct block_##name), group, decode_##name}

LOWLAYOUT(iq1_s, QK_K, 32);
LOWLAYOUT(iq1_m, QK_K, 16);
LOWLAYOUT(iq2_xxs, QK_K, 32);
LOWLAYOUT(iq2_xs, QK_K, 16);
LOWLAYOUT(iq2_s, QK_K, 16);
LOWLAYOUT(iq3_xxs, QK_K, 32);
LOWLAYOUT(iq3_s, QK_K, 32);
LOWLAYOUT(tq1_0, QK_K, QK_K);
LOWLAYOUT(tq2_0, QK_K, QK_K);
LOWLAYOUT(mxfp4, QK_MXFP4, QK_MXFP4);

static void dequant(const struct lowlayout *L, const void *src, float *y, int64_t n)
{
	const uint8_t *b = src;
	struct lowblock lb;
	for (int64_t i = 0; i < n / L->blck; i++, b += L->bytes, y += L->blck) {
		L->decode(b, &lb);
		for (uint32_t e = 0; e < L->blck; e++)
			y[e] = lb.d * lb.sc[e / L->group] * lb.q[e];
	}
}

/* sum over groups of sc[g] * (q . a); exact in int32 for these ranges
 * (|q| <= 62, sc <= 31, |a| <= 127: < 2^26 per block). */
static int32_t block_isum(const struct lowlayout *L, const struct lowblock *lb, const int8_t *a)
{
	int32_t sum = 0;
	for (uint32_t g = 0; g < L->blck / L->group; g++) {
		int32_t s = 0;
		for (uint32_t j = g * L->group; j < (g + 1) * L->group; j++)
			s += lb->q[j] * a[j];
		sum += lb->sc[g] * s;
	}
	return sum;
}

static void dot_q8_K(const struct lowlayout *L, int64_t n, float *s, const void *w, const void *a)
{
	const uint8_t *wb = w, *ab = a;
	struct lowblock lb;
	float sum = 0;
	for (int64_t i = 0; i < n / QK_K; i++, wb += L->bytes, ab += sizeof(struct block_q8_K)) {
		L->decode(wb, &lb);
		float ad;
		memcpy(&ad, FIELD(ab, block_q8_K, d), 4);
		sum += ad * lb.d * (float)block_isum(L, &lb, (const int8_t *)FIELD(ab, block_q8_K, qs));
	}
	*s = sum;
}

static void dot_q8_0(const struct lowlayout *L, int64_t n, float *s, const void *w, const void *a)
{
	const uint8_t *wb = w, *ab = a;
	struct lowblock lb;
	float sum = 0;
	for (int64_t i = 0; i < n / QK8_0; i++, wb += L->bytes, ab += sizeof(struct block_q8_0)) {
		L->decode(wb, &lb);
		float ad = ldf16(FIELD(ab, block_q8_0, d));
		sum += ad * lb.d * (float)block_isum(L, &lb, (const int8_t *)FIELD(ab, block_q8_0, qs));
	}
	*s = sum;
}

/* The kernels the table rows point to (quant-table.c). */

QREF_DEFINE(iq1_s, q8_K)
QREF_DEFINE(iq1_m, q8_K)
QREF_DEFINE(iq2_xxs, q8_K)
QREF_DEFINE(iq2_xs, q8_K)
QREF_DEFINE(iq2_s, q8_K)
QREF_DEFINE(iq3_xxs, q8_K)
QREF_DEFINE(iq3_s, q8_K)
QREF_DEFINE(tq1_0, q8_K)
QREF_DEFINE(tq2_0, q8_K)
QREF_DEFINE(mxfp4, q8_0)
