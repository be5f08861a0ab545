/* quant.c - the reference (plain C) kernels of the classic, K and IQ4
 * types, and the active type table: the rows of quant-table.c with the
 * best SIMD kernels this CPU runs installed over them. */

#include "quant.h"
#include "cpu.h"
#include "kernels.h"
#include "quant-ref.h"

#include <math.h>
#include <stddef.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct qtype qtypes[GGML_TYPE_COUNT];

/* ---- reference kernels -----------------------------------------------------
 *
 * Every quantized weight block is first decoded to integers,
 *
 *	w[e] = d * sc[g] * q[e] - dmin * mn[g],   g = e / group,
 *
 * and the dot products then work like ggml's: int8 weights times int8
 * activations summed in int32 per group, times the integer group scale,
 * times the float block scales. One decoder per type is the only place a
 * layout is spelled out; dequantization and the dot products are shared. */

const int8_t kvalues_iq4nl[16] = {
	-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113,
};

struct iblock {
	float d, dmin;
	int8_t q[QK_K];
	int16_t sc[QK_K / 16];
	int16_t mn[QK_K / 16];
};

typedef void (*decode_fn)(const uint8_t *b, struct iblock *o);

struct layout {
	uint32_t blck, bytes;
	uint32_t group; /* elements sharing one sc[] and mn[] */
	decode_fn decode;
};

/* Little-endian field loads and stores that do not care about alignment. */
static inline uint16_t ld16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static inline void st16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static inline float ldf16(const uint8_t *p)
{
	return fp16_to_fp32(ld16(p));
}

static inline float ldf32(const uint8_t *p)
{
	float f;
	memcpy(&f, p, 4);
	return f;
}

#define FIELD(b, type, field) ((b) + offsetof(struct type, field))

/* 32 elements from 16 bytes: element j in the low nibble of qs[j], j+16 high. */
static void nibbles32(const uint8_t *qs, uint8_t *q)
{
	for (int j = 0; j < 16; j++) {
		q[j] = qs[j] & 15;
		q[j + 16] = qs[j] >> 4;
	}
}

/* Bit j of a 32-bit little-endian mask stored as bytes. */
static inline int bit(const uint8_t *m, int j)
{
	return (m[j >> 3] >> (j & 7)) & 1;
}

static void one_group(struct iblock *o, float d, float m)
{
	o->d = d;
	o->dmin = -m; /* w = d*q + m */
	o->sc[0] = 1;
	o->mn[0] = m != 0;
}

static void decode_q4_0(const uint8_t *b, struct iblock *o)
{
	uint8_t q[32];
	nibbles32(FIELD(b, block_q4_0, qs), q);
	for (int j = 0; j < 32; j++)
		o->q[j] = (int8_t)(q[j] - 8);
	one_group(o, ldf16(FIELD(b, block_q4_0, d)), 0);
}

static void decode_q4_1(const uint8_t *b, struct iblock *o)
{
	uint8_t q[32];
	nibbles32(FIELD(b, block_q4_1, qs), q);
	for (int j = 0; j < 32; j++)
		o->q[j] = (int8_t)q[j];
	one_group(o, ldf16(FIELD(b, block_q4_1, d)), ldf16(FIELD(b, block_q4_1, m)));
}

static void decode_q5_0(const uint8_t *b, struct iblock *o)
{
	uint8_t q[32];
	const uint8_t *qh = FIELD(b, block_q5_0, qh);
	nibbles32(FIELD(b, block_q5_0, qs), q);
	for (int j = 0; j < 32; j++)
		o->q[j] = (int8_t)((q[j] | bit(qh, j) << 4) - 16);
	one_group(o, ldf16(FIELD(b, block_q5_0, d)), 0);
}

static void decode_q5_1(const uint8_t *b, struct iblock *o)
{
	uint8_t q[32];
	const uint8_t *qh = FIELD(b, block_q5_1, qh);
	nibbles32(FIELD(b, block_q5_1, qs), q);
	for (int j = 0; j < 32; j++)
		o->q[j] = (int8_t)(q[j] | bit(qh, j) << 4);
	one_group(o, ldf16(FIELD(b, block_q5_1, d)), ldf16(FIELD(b, block_q5_1, m)));
}

static void decode_q8_0(const uint8_t *b, struct iblock *o)
{
	memcpy(o->q, FIELD(b, block_q8_0, qs), 32);
	one_group(o, ldf16(FIELD(b, block_q8_0, d)), 0);
}

static void decode_q8_1(const uint8_t *b, struct iblock *o)
{
	memcpy(o->q, FIELD(b, block_q8_1, qs), 32);
	one_group(o, ldf16(FIELD(b, block_q8_1, d)), 0);
}

static void decode_q8_K(const uint8_t *b, struct iblock *o)
{
	memcpy(o->q, FIELD(b, block_q8_K, qs), QK_K);
	o->d = ldf32(FIELD(b, block_q8_K, d));
	o->dmin = 0;
	for (int g = 0; g < QK_K / 16; g++) {
		o->sc[g] = 1;
		o->mn[g] = 0;
	}
}

static void decode_iq4_nl(const uint8_t *b, struct iblock *o)
{
	uint8_t q[32];
	nibbles32(FIELD(b, block_iq4_nl, qs), q);
	for (int j = 0; j < 32; j++)
		o->q[j] = kvalues_iq4nl[q[j]];
	one_group(o, ldf16(FIELD(b, block_iq4_nl, d)), 0);
}

/* Q2_K and Q3_K: 2-bit fields, four per byte; element 128h + 32s + l sits
 * at bits 2s of qs[32h + l]. */
static inline int crumb(const uint8_t *qs, int e)
{
	int h = e >> 7, s = (e >> 5) & 3, l = e & 31;
	return (qs[32 * h + l] >> (2 * s)) & 3;
}

static void decode_q2_K(const uint8_t *b, struct iblock *o)
{
	const uint8_t *qs = FIELD(b, block_q2_K, qs);
	const uint8_t *scales = FIELD(b, block_q2_K, scales);
	for (int e = 0; e < QK_K; e++)
		o->q[e] = (int8_t)crumb(qs, e);
	for (int g = 0; g < 16; g++) {
		o->sc[g] = scales[g] & 15;
		o->mn[g] = scales[g] >> 4;
	}
	o->d = ldf16(FIELD(b, block_q2_K, d));
	o->dmin = ldf16(FIELD(b, block_q2_K, dmin));
}

static void decode_q3_K(const uint8_t *b, struct iblock *o)
{
	const uint8_t *qs = FIELD(b, block_q3_K, qs);
	const uint8_t *hmask = FIELD(b, block_q3_K, hmask);
	const uint8_t *scales = FIELD(b, block_q3_K, scales);
	for (int e = 0; e < QK_K; e++) {
		int h = e >> 7, s = (e >> 5) & 3, l = e & 31;
		int hi = (hmask[l] >> (4 * h + s)) & 1;
		o->q[e] = (int8_t)(crumb(qs, e) - (hi ? 0 : 4));
	}
	for (int g = 0; g < 16; g++) {
		int lo = (g < 8 ? scales[g] : scales[g - 8] >> 4) & 15;
		int hi = (scales[8 + g % 4] >> (2 * (g / 4))) & 3;
		o->sc[g] = (int16_t)((lo | hi << 4) - 32);
		o->mn[g] = 0;
	}
	o->d = ldf16(FIELD(b, block_q3_K, d));
	o->dmin = 0;
}

/* Q4_K and Q5_K pack 8 6-bit scales and 8 6-bit mins into 12 bytes: groups
 * 0..3 in the low 6 bits of bytes 0..3 (scales) and 4..7 (mins); groups
 * 4..7 as nibbles of bytes 8..11 with their top 2 bits in the spare bits 6-7
 * of bytes 0..7. */
static void scales_k4(const uint8_t *p, struct iblock *o)
{
	for (int g = 0; g < 8; g++) {
		if (g < 4) {
			o->sc[g] = p[g] & 63;
			o->mn[g] = p[g + 4] & 63;
		} else {
			o->sc[g] = (int16_t)((p[g + 4] & 15) | (p[g - 4] >> 6) << 4);
			o->mn[g] = (int16_t)((p[g + 4] >> 4) | (p[g] >> 6) << 4);
		}
	}
}

/* 4-bit fields of Q4_K/Q5_K: element 64c + r in qs[32c + r%32], low nibble
 * for r < 32. */
static inline int nibble_k(const uint8_t *qs, int e)
{
	int c = e >> 6, r = e & 63;
	uint8_t v = qs[32 * c + (r & 31)];
	return r < 32 ? v & 15 : v >> 4;
}

static void decode_q4_K(const uint8_t *b, struct iblock *o)
{
	const uint8_t *qs = FIELD(b, block_q4_K, qs);
	for (int e = 0; e < QK_K; e++)
		o->q[e] = (int8_t)nibble_k(qs, e);
	scales_k4(FIELD(b, block_q4_K, scales), o);
	o->d = ldf16(FIELD(b, block_q4_K, d));
	o->dmin = ldf16(FIELD(b, block_q4_K, dmin));
}

static void decode_q5_K(const uint8_t *b, struct iblock *o)
{
	const uint8_t *qs = FIELD(b, block_q5_K, qs);
	const uint8_t *qh = FIELD(b, block_q5_K, qh);
	for (int e = 0; e < QK_K; e++) {
		int c = e >> 6, r = e & 63;
		int hi = (qh[r & 31] >> (2 * c + (r >> 5))) & 1;
		o->q[e] = (int8_t)(nibble_k(qs, e) | hi << 4);
	}
	scales_k4(FIELD(b, block_q5_K, scales), o);
	o->d = ldf16(FIELD(b, block_q5_K, d));
	o->dmin = ldf16(FIELD(b, block_q5_K, dmin));
}

static void decode_q6_K(const uint8_t *b, struct iblock *o)
{
	const uint8_t *ql = FIELD(b, block_q6_K, ql);
	const uint8_t *qh = FIELD(b, block_q6_K, qh);
	const uint8_t *scales = FIELD(b, block_q6_K, scales);
	for (int e = 0; e < QK_K; e++) {
		int h = e >> 7, s = (e >> 5) & 3, l = e & 31;
		uint8_t v = ql[64 * h + 32 * (s & 1) + l];
		int lo = s < 2 ? v & 15 : v >> 4;
		int hi = (qh[32 * h + l] >> (2 * s)) & 3;
		o->q[e] = (int8_t)((lo | hi << 4) - 32);
	}
	for (int g = 0; g < 16; g++) {
		o->sc[g] = (int8_t)scales[g];
		o->mn[g] = 0;
	}
	o->d = ldf16(FIELD(b, block_q6_K, d));
	o->dmin = 0;
}

static void decode_iq4_xs(const uint8_t *b, struct iblock *o)
{
	const uint8_t *qs = FIELD(b, block_iq4_xs, qs);
	const uint8_t *sl = FIELD(b, block_iq4_xs, scales_l);
	unsigned sh = ld16(FIELD(b, block_iq4_xs, scales_h));
	for (int g = 0; g < 8; g++) {
		uint8_t q[32];
		nibbles32(qs + 16 * g, q);
		for (int j = 0; j < 32; j++)
			o->q[32 * g + j] = kvalues_iq4nl[q[j]];
		int ls = ((sl[g / 2] >> (4 * (g % 2))) & 15) | ((sh >> (2 * g)) & 3) << 4;
		o->sc[g] = (int16_t)(ls - 32);
		o->mn[g] = 0;
	}
	o->d = ldf16(FIELD(b, block_iq4_xs, d));
	o->dmin = 0;
}

#define LAYOUT(name, blck, group)                                              \
	static const struct layout layout_##name = {                          \
		blck, sizeof(struct block_##name), group, decode_##name}

LAYOUT(q4_0, 32, 32);
LAYOUT(q4_1, 32, 32);
LAYOUT(q5_0, 32, 32);
LAYOUT(q5_1, 32, 32);
LAYOUT(q8_0, 32, 32);
LAYOUT(q8_1, 32, 32);
LAYOUT(q8_K, QK_K, 16);
LAYOUT(q2_K, QK_K, 16);
LAYOUT(q3_K, QK_K, 16);
LAYOUT(q4_K, QK_K, 32);
LAYOUT(q5_K, QK_K, 32);
LAYOUT(q6_K, QK_K, 16);
LAYOUT(iq4_nl, 32, 32);
LAYOUT(iq4_xs, QK_K, 32);

static void dequant(const struct layout *L, const void *src, float *y, int64_t n)
{
	const uint8_t *b = src;
	struct iblock ib;
	for (int64_t i = 0; i < n / L->blck; i++, b += L->bytes, y += L->blck) {
		L->decode(b, &ib);
		for (uint32_t e = 0; e < L->blck; e++) {
			uint32_t g = e / L->group;
			y[e] = ib.d * ib.sc[g] * ib.q[e] - ib.dmin * ib.mn[g];
		}
	}
}

static int32_t isum(const int8_t *w, const int8_t *a, int n)
{
	int32_t s = 0;
	for (int j = 0; j < n; j++)
		s += w[j] * a[j];
	return s;
}

/* Types of one 32-element group per block, against Q8_0 activations. */
static void dot_q8_0(const struct layout *L, int64_t n, float *s, const void *w, const void *a)
{
	const uint8_t *wb = w, *ab = a;
	struct iblock ib;
	float sum = 0;
	for (int64_t i = 0; i < n / 32; i++, wb += L->bytes, ab += sizeof(struct block_q8_0)) {
		L->decode(wb, &ib);
		const int8_t *aq = (const int8_t *)FIELD(ab, block_q8_0, qs);
		sum += ib.d * ldf16(FIELD(ab, block_q8_0, d)) * (float)(ib.sc[0] * isum(ib.q, aq, 32));
	}
	*s = sum;
}

/* Types with a min (w = d*q + m), against Q8_1 activations: the min term is
 * m * sum(a) = m * s, no per-element work. */
static void dot_q8_1(const struct layout *L, int64_t n, float *s, const void *w, const void *a)
{
	const uint8_t *wb = w, *ab = a;
	struct iblock ib;
	float sum = 0;
	for (int64_t i = 0; i < n / 32; i++, wb += L->bytes, ab += sizeof(struct block_q8_1)) {
		L->decode(wb, &ib);
		const int8_t *aq = (const int8_t *)FIELD(ab, block_q8_1, qs);
		float ad = ldf16(FIELD(ab, block_q8_1, d));
		float as = ldf16(FIELD(ab, block_q8_1, s));
		sum += ib.d * ad * (float)(ib.sc[0] * isum(ib.q, aq, 32)) - ib.dmin * ib.mn[0] * as;
	}
	*s = sum;
}

/* Super-blocks of 256 with integer group scales and mins, against Q8_K
 * activations; the mins use the activation's per-16 sums (bsums). */
static void dot_q8_K(const struct layout *L, int64_t n, float *s, const void *w, const void *a)
{
	const uint8_t *wb = w, *ab = a;
	struct iblock ib;
	int G = (int)L->group;
	float sum = 0;
	for (int64_t i = 0; i < n / QK_K; i++, wb += L->bytes, ab += sizeof(struct block_q8_K)) {
		L->decode(wb, &ib);
		const int8_t *aq = (const int8_t *)FIELD(ab, block_q8_K, qs);
		const uint8_t *bs = FIELD(ab, block_q8_K, bsums);
		int32_t qsum = 0, msum = 0;
		for (int g = 0; g < QK_K / G; g++) {
			qsum += ib.sc[g] * isum(ib.q + g * G, aq + g * G, G);
			for (int k = g * G / 16; k < (g + 1) * G / 16; k++)
				msum += ib.mn[g] * (int16_t)ld16(bs + 2 * k);
		}
		float ad = ldf32(FIELD(ab, block_q8_K, d));
		sum += ad * ib.d * (float)qsum - ad * ib.dmin * (float)msum;
	}
	*s = sum;
}

/* ---- float types: F32 activations ---- */

void qref_to_float_f32(const void *src, float *y, int64_t n)
{
	memcpy(y, src, (size_t)n * 4);
}

void qref_from_float_f32(const float *x, void *dst, int64_t n)
{
	memcpy(dst, x, (size_t)n * 4);
}

/* The 16-bit float types: little-endian halves converted one by one. */
#define HALF_CONVERSIONS(name, to_f32, from_f32)                               \
	void qref_to_float_##name(const void *src, float *y, int64_t n)        \
	{                                                                       \
		const uint8_t *p = src;                                         \
		for (int64_t i = 0; i < n; i++)                                 \
			y[i] = to_f32(ld16(p + 2 * i));                         \
	}                                                                       \
	void qref_from_float_##name(const float *x, void *dst, int64_t n)      \
	{                                                                       \
		uint8_t *p = dst;                                               \
		for (int64_t i = 0; i < n; i++)                                 \
			st16(p + 2 * i, from_f32(x[i]));                        \
	}

HALF_CONVERSIONS(f16, fp16_to_fp32, fp32_to_fp16)
HALF_CONVERSIONS(bf16, bf16_to_fp32, fp32_to_bf16)

/* Dot products of float rows accumulate in double: the reference should be
 * the most exact answer, SIMD paths are compared to it with a tolerance. */
#define FLOAT_DOT(name, load)                                                  \
	void qref_vec_dot_##name(int64_t n, float *s, const void *w, const void *a) \
	{                                                                       \
		const uint8_t *p = w, *x = a;                                   \
		double sum = 0;                                                 \
		for (int64_t i = 0; i < n; i++)                                 \
			sum += (double)load * ldf32(x + 4 * i);                 \
		*s = (float)sum;                                                \
	}

FLOAT_DOT(f32, ldf32(p + 4 * i))
FLOAT_DOT(f16, fp16_to_fp32(ld16(p + 2 * i)))
FLOAT_DOT(bf16, bf16_to_fp32(ld16(p + 2 * i)))

/* ---- quantizers ----
 * Round to nearest, ties to even (what SIMD conversions do), clamped; NaN
 * becomes 0. */
static inline int round_clamp(float v, int lo, int hi)
{
	if (!(v > lo))
		return v != v ? 0 : lo;
	if (v >= hi)
		return hi;
	return (int)nearbyintf(v);
}

static float absmax(const float *x, int n)
{
	float m = 0;
	for (int j = 0; j < n; j++)
		m = fmaxf(m, fabsf(x[j]));
	return m;
}

/* Symmetric 8-bit as ggml's x86 quantizers: the multiplier is 127/amax
 * itself, not 1/(amax/127) - the two differ in the last bit for some amax,
 * and one flipped rounding of an activation is the quantization noise of a
 * whole product (issue 18). Returns the multiplier, fills q, and sum(q) in
 * *qsum. Q8_0/Q8_1 store d = amax/127, Q8_K d = 1/multiplier. */
static float quant8(const float *x, int8_t *q, int n, int *qsum)
{
	float amax = absmax(x, n);
	float id = amax ? 127 / amax : 0;
	int sum = 0;
	for (int j = 0; j < n; j++) {
		q[j] = (int8_t)round_clamp(x[j] * id, -127, 127);
		sum += q[j];
	}
	*qsum = sum;
	return id;
}

void qref_from_float_q8_0(const float *x, void *dst, int64_t n)
{
	uint8_t *b = dst;
	for (int64_t i = 0; i < n / 32; i++, x += 32, b += sizeof(struct block_q8_0)) {
		int qsum;
		float d = absmax(x, 32) / 127;
		quant8(x, (int8_t *)FIELD(b, block_q8_0, qs), 32, &qsum);
		st16(FIELD(b, block_q8_0, d), fp32_to_fp16(d));
	}
}

void qref_from_float_q8_1(const float *x, void *dst, int64_t n)
{
	uint8_t *b = dst;
	for (int64_t i = 0; i < n / 32; i++, x += 32, b += sizeof(struct block_q8_1)) {
		int qsum;
		float d = absmax(x, 32) / 127;
		quant8(x, (int8_t *)FIELD(b, block_q8_1, qs), 32, &qsum);
		st16(FIELD(b, block_q8_1, d), fp32_to_fp16(d));
		st16(FIELD(b, block_q8_1, s), fp32_to_fp16(d * (float)qsum));
	}
}

void qref_from_float_q8_K(const float *x, void *dst, int64_t n)
{
	uint8_t *b = dst;
	for (int64_t i = 0; i < n / QK_K; i++, x += QK_K, b += sizeof(struct block_q8_K)) {
		int8_t *q = (int8_t *)FIELD(b, block_q8_K, qs);
		int qsum;
		float id = quant8(x, q, QK_K, &qsum), d = id ? 1 / id : 0;
		memcpy(FIELD(b, block_q8_K, d), &d, 4);
		for (int k = 0; k < QK_K / 16; k++) {
			int16_t bsum = 0;
			for (int j = 0; j < 16; j++)
				bsum = (int16_t)(bsum + q[16 * k + j]);
			st16(FIELD(b, block_q8_K, bsums) + 2 * k, (uint16_t)bsum);
		}
	}
}

/* Q4_0 for the synthetic model writer, in ggml's convention: the element of
 * largest magnitude maps to -8 exactly, so d = max / -8 and the opposite end
 * clamps to 7. */
void qref_from_float_q4_0(const float *x, void *dst, int64_t n)
{
	uint8_t *b = dst;
	for (int64_t i = 0; i < n / 32; i++, x += 32, b += sizeof(struct block_q4_0)) {
		float amax = 0, max = 0;
		for (int j = 0; j < 32; j++) {
			if (fabsf(x[j]) > amax) {
				amax = fabsf(x[j]);
				max = x[j];
			}
		}
		float d = max / -8;
		float id = d ? 1 / d : 0;
		uint8_t *qs = FIELD(b, block_q4_0, qs);
		for (int j = 0; j < 16; j++) {
			int lo = round_clamp(x[j] * id + 8, 0, 15);
			int hi = round_clamp(x[j + 16] * id + 8, 0, 15);
			qs[j] = (uint8_t)(lo | hi << 4);
		}
		st16(FIELD(b, block_q4_0, d), fp32_to_fp16(d));
	}
}

/* ---- the kernels the table rows point to (quant-table.c) ---- */

QREF_DEFINE(q4_0, q8_0)
QREF_DEFINE(q5_0, q8_0)
QREF_DEFINE(q8_0, q8_0)
QREF_DEFINE(iq4_nl, q8_0)
QREF_DEFINE(q4_1, q8_1)
QREF_DEFINE(q5_1, q8_1)
QREF_DEFINE(q2_K, q8_K)
QREF_DEFINE(q3_K, q8_K)
QREF_DEFINE(q4_K, q8_K)
QREF_DEFINE(q5_K, q8_K)
QREF_DEFINE(q6_K, q8_K)
QREF_DEFINE(iq4_xs, q8_K)

/* Activation formats: dequantizers for tests, no dot product of their own. */
void qref_to_float_q8_1(const void *w, float *y, int64_t n)
{
	dequant(&layout_q8_1, w, y, n);
}

void qref_to_float_q8_K(const void *w, float *y, int64_t n)
{
	dequant(&layout_q8_K, w, y, n);
}

void quant_gemm_rows(const struct qtype *t, int64_t n, float *y, size_t ldy, const void *w, size_t ldw, int nw,
		     const void *a, size_t lda, int na)
{
	for (int j = 0; j < na; j++)
		for (int i = 0; i < nw; i++)
			t->vec_dot(n, &y[(size_t)j * ldy + (size_t)i], (const char *)w + (size_t)i * ldw,
				   (const char *)a + (size_t)j * lda);
}

/* A vec_dot_rows must give its table row's vec_dot's bits: where a higher
 * level replaced vec_dot but not the rows kernel (lower: the table before
 * it), the rows fall back to the new vec_dot row by row. */
static void rows_follow(struct qtype *t, const struct qtype *lower)
{
	for (int i = 0; i < GGML_TYPE_COUNT; i++)
		if (t[i].vec_dot != lower[i].vec_dot && t[i].vec_dot_rows == lower[i].vec_dot_rows)
			t[i].vec_dot_rows = NULL;
}

static const char *simd_level = "none";
static pthread_once_t init_once = PTHREAD_ONCE_INIT;

/* HEFT_SIMD caps the level: none; avx2 or neon (level 1); avx512 or dotprod
 * (level 2); or auto (the default: the best this CPU and OS can run). Each
 * installer overwrites only the rows it accelerates, so avx512 sits on top
 * of avx2 and dotprod on top of neon, both on top of the reference. */
static void init_table(void)
{
	quant_table_ref(qtypes);
	const struct cpu_features *cpu = cpu_features();
	const char *want = getenv("HEFT_SIMD");
	int cap = 2; /* 0 none, 1 avx2/neon, 2 avx512/dotprod */
	if (want && *want && strcmp(want, "auto") != 0) {
		if (!strcmp(want, "none"))
			cap = 0;
		else if (!strcmp(want, "avx2") || !strcmp(want, "neon"))
			cap = 1;
		else if (strcmp(want, "avx512") != 0 && strcmp(want, "dotprod") != 0)
			fprintf(stderr,
				"heft: HEFT_SIMD=%s: expected none, avx2, avx512, neon, dotprod or auto; using auto\n",
				want);
	}
	if (cap >= 1 && cpu->can_avx2 && kernels_avx2_install(qtypes)) {
		kernels_lowbit_avx2_install(qtypes);
		if (cpu->avx_vnni && !getenv("HEFT_NO_AVXVNNI"))
			kernels_avxvnni_install(qtypes);
		simd_level = "avx2";
		static struct qtype lower[GGML_TYPE_COUNT];
		memcpy(lower, qtypes, sizeof lower);
		if (cap >= 2 && cpu->can_avx512 && kernels_avx512_install(qtypes)) {
			kernels_lowbit_avx512_install(qtypes);
			rows_follow(qtypes, lower);
			simd_level = "avx512";
		}
	}
	if (cap >= 1 && cpu->can_neon && kernels_neon_install(qtypes)) {
		kernels_lowbit_neon_install(qtypes);
		simd_level = "neon";
		if (cap >= 2 && cpu->can_dotprod && kernels_dotprod_install(qtypes)) {
			kernels_lowbit_dotprod_install(qtypes);
			simd_level = "dotprod";
		}
	}
}

const char *quant_init(void)
{
	pthread_once(&init_once, init_table);
	return simd_level;
}

const struct qtype *qtype_get(uint32_t id)
{
	quant_init();
	if (id >= GGML_TYPE_COUNT || qtypes[id].blck == 0)
		return NULL;
	return &qtypes[id];
}

size_t quant_act_row_bytes(uint32_t wtype, int64_t n)
{
	const struct qtype *t = qtype_get(wtype);
	if (!t || !t->vec_dot || n < 0)
		return 0;
	return (size_t)qtype_row_bytes(t->act_type, (uint64_t)n);
}

void quant_act_row(uint32_t wtype, const float *x, void *dst, int64_t n)
{
	const struct qtype *t = qtype_get(wtype);
	if (t && t->vec_dot) /* callers check qtype_supported() at load time */
		qtypes[t->act_type].from_float(x, dst, n);
}
