/* synth-blocks.c - random valid blocks of every weight type (see the header). */
#include "synth-blocks.h"

#include "quant-lowbit.h"
#include "quant.h"
#include "util.h"

#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/* ---- random numbers: splitmix64 seeds xoshiro256+ ---- */

void synth_rng_seed(struct synth_rng *r, uint64_t seed, const char *name)
{
	uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a of the name */
	for (const unsigned char *p = (const unsigned char *)name; *p; p++)
		h = (h ^ *p) * 0x100000001b3ull;
	uint64_t x = seed ^ h;
	for (int i = 0; i < 4; i++)
		r->s[i] = splitmix64(&x);
}

uint64_t synth_rng_next(struct synth_rng *r)
{
	uint64_t result = r->s[0] + r->s[3];
	xoshiro256_advance(r->s);
	return result;
}

/* Two uniform floats per call: the generator is the hot loop of float-typed
 * models, so each 64-bit output is used twice. */
static void fill_uniform(struct synth_rng *r, float *x, size_t n, float centre, float half_width)
{
	const float k = half_width / (float)(1u << 23);
	size_t i = 0;
	for (; i + 1 < n; i += 2) {
		uint64_t v = synth_rng_next(r);
		x[i] = centre + ((float)(int32_t)((uint32_t)v >> 8) - (float)(1u << 23)) * k;
		x[i + 1] = centre + ((float)(int32_t)(uint32_t)(v >> 40) - (float)(1u << 23)) * k;
	}
	if (i < n)
		x[i] = centre + ((float)(int32_t)(synth_rng_next(r) >> 40) - (float)(1u << 23)) * k;
}

static void fill_bytes(struct synth_rng *r, uint8_t *p, size_t n)
{
	size_t i = 0;
	for (; i + 8 <= n; i += 8) {
		uint64_t v = synth_rng_next(r);
		memcpy(p + i, &v, 8);
	}
	if (i < n) {
		uint64_t v = synth_rng_next(r);
		memcpy(p + i, &v, n - i);
	}
}

/* ---- per-type fix-ups of a block of random bytes ----
 * Each sets the block scale from d (the unit of the type's values) and
 * redraws the fields where not every bit pattern is valid or centred. The
 * type table's rows point to them (synth_fix). */

static void put16(uint8_t *p, uint16_t v)
{
	memcpy(p, &v, 2);
}

static void put_d(uint8_t *p, float d)
{
	put16(p, fp32_to_fp16(d));
}

#define AT(b, type, field) ((b) + offsetof(struct type, field))

/* Types whose code book is not symmetric (q - 8 runs -8..7; IQ4_NL's table
 * leans negative) would put a common offset into every weight of a row;
 * a random sign per block, as ggml's own quantizer produces, cancels it. */
static float random_sign(struct synth_rng *r, float d)
{
	return (synth_rng_next(r) >> 63) ? -d : d;
}

void synth_fix_q4_0(uint8_t *b, struct synth_rng *r, float d)
{
	put_d(AT(b, block_q4_0, d), random_sign(r, d));
}

void synth_fix_q5_0(uint8_t *b, struct synth_rng *r, float d)
{
	put_d(AT(b, block_q5_0, d), random_sign(r, d));
}

void synth_fix_q8_0(uint8_t *b, struct synth_rng *r, float d)
{
	(void)r;
	put_d(b, d); /* d is the first field of block_q8_0 */
}

void synth_fix_iq4_nl(uint8_t *b, struct synth_rng *r, float d)
{
	put_d(AT(b, block_iq4_nl, d), random_sign(r, d));
}

/* w = d*q + m: m = -d * mid centres q on its middle value */
void synth_fix_q4_1(uint8_t *b, struct synth_rng *r, float d)
{
	(void)r;
	put_d(AT(b, block_q4_1, d), d);
	put_d(AT(b, block_q4_1, m), -7.5f * d);
}

void synth_fix_q5_1(uint8_t *b, struct synth_rng *r, float d)
{
	(void)r;
	put_d(AT(b, block_q5_1, d), d);
	put_d(AT(b, block_q5_1, m), -15.5f * d);
}

/* K-quants with minimums, w = d*sc*q - dmin*mn: mn = sc and dmin = d times
 * the middle q centre every group on 0. */
void synth_fix_q2_K(uint8_t *b, struct synth_rng *r, float d)
{
	(void)r;
	uint8_t *sc = AT(b, block_q2_K, scales);
	for (int j = 0; j < 16; j++) {
		uint8_t s = (uint8_t)(8 | (sc[j] & 7)); /* 8..15: no dead groups */
		sc[j] = (uint8_t)(s | s << 4);
	}
	put_d(AT(b, block_q2_K, d), d);
	put_d(AT(b, block_q2_K, dmin), 1.5f * d);
}

static void pack_scales_k4(uint8_t s[12], const uint8_t sc[8], const uint8_t m[8])
{
	for (int j = 0; j < 4; j++) {
		s[j] = (uint8_t)(sc[j] | (sc[j + 4] >> 4) << 6);
		s[j + 4] = (uint8_t)(m[j] | (m[j + 4] >> 4) << 6);
		s[j + 8] = (uint8_t)((sc[j + 4] & 15) | (m[j + 4] & 15) << 4);
	}
}

/* Q4_K and Q5_K: 6-bit sc = mn drawn in 16..31 from the random scale bytes. */
static void fix_k45(uint8_t *b, float d, float mid)
{
	uint8_t *s = b + offsetof(struct block_q4_K, scales); /* same place in Q5_K */
	uint8_t sc[8];
	for (int j = 0; j < 8; j++)
		sc[j] = (uint8_t)(16 + (s[j] & 15));
	pack_scales_k4(s, sc, sc);
	put_d(b + offsetof(struct block_q4_K, d), d);
	put_d(b + offsetof(struct block_q4_K, dmin), mid * d);
}

void synth_fix_q4_K(uint8_t *b, struct synth_rng *r, float d)
{
	(void)r;
	fix_k45(b, d, 7.5f);
}

void synth_fix_q5_K(uint8_t *b, struct synth_rng *r, float d)
{
	(void)r;
	fix_k45(b, d, 15.5f);
}

/* Signed sub-scales (Q3_K, Q6_K, IQ4_XS) are centred as they come. */
void synth_fix_q3_K(uint8_t *b, struct synth_rng *r, float d)
{
	(void)r;
	put_d(AT(b, block_q3_K, d), d);
}

void synth_fix_q6_K(uint8_t *b, struct synth_rng *r, float d)
{
	(void)r;
	put_d(AT(b, block_q6_K, d), d);
}

/* IQ4_XS and IQ2/IQ3/IQ1_S: d first; grid indices, sign codes and 4-bit
 * scales are valid as any bits. */
void synth_fix_d_first(uint8_t *b, struct synth_rng *r, float d)
{
	(void)r;
	put_d(b, d);
}

/* IQ1_M keeps its f16 d in the top nibbles of its four scale words. */
void synth_fix_iq1_m(uint8_t *b, struct synth_rng *r, float d)
{
	(void)r;
	uint16_t h = fp32_to_fp16(d);
	uint8_t *s = AT(b, block_iq1_m, scales);
	for (int k = 0; k < 4; k++) {
		uint16_t w = (uint16_t)(s[2 * k] | s[2 * k + 1] << 8);
		w = (uint16_t)((w & 0x0fff) | ((h >> (4 * k)) & 15) << 12);
		s[2 * k] = (uint8_t)w;
		s[2 * k + 1] = (uint8_t)(w >> 8);
	}
}

/* TQ1_0 packs base-3 numbers v as ceil(v * 256 / 243): only values below
 * 243 (5 trits) or 81 * 3 (4 trits, shifted) are ever written. */
static uint8_t tq1_byte(unsigned v)
{
	return (uint8_t)((v * 256 + 242) / 243);
}

/* A number in 0..n-1 from 16 random bits (a multiply, not a division). */
static unsigned below(uint64_t bits16, unsigned n)
{
	return (unsigned)(((bits16 & 0xffff) * n) >> 16);
}

void synth_fix_tq1_0(uint8_t *b, struct synth_rng *r, float d)
{
	uint8_t *qs = AT(b, block_tq1_0, qs), *qh = AT(b, block_tq1_0, qh);
	for (size_t j = 0; j < sizeof(((struct block_tq1_0 *)0)->qs); j += 4) {
		uint64_t v = synth_rng_next(r);
		for (int k = 0; k < 4; k++)
			qs[j + k] = tq1_byte(below(v >> (16 * k), 243));
	}
	uint64_t v = synth_rng_next(r);
	for (int k = 0; k < 4; k++)
		qh[k] = tq1_byte(below(v >> (16 * k), 81) * 3);
	put_d(AT(b, block_tq1_0, d), d);
}

/* TQ2_0: 2-bit values 0..2 (q - 1 in -1..1); 3 is never written. */
void synth_fix_tq2_0(uint8_t *b, struct synth_rng *r, float d)
{
	static uint8_t byte_of[81]; /* four base-3 digits as four 2-bit fields */
	if (!byte_of[80])
		for (unsigned t = 0; t < 81; t++)
			byte_of[t] = (uint8_t)(t % 3 | (t / 3 % 3) << 2 | (t / 9 % 3) << 4 | (t / 27) << 6);
	uint8_t *qs = AT(b, block_tq2_0, qs);
	for (size_t j = 0; j < sizeof(((struct block_tq2_0 *)0)->qs); j += 4) {
		uint64_t v = synth_rng_next(r);
		for (int k = 0; k < 4; k++)
			qs[j + k] = byte_of[below(v >> (16 * k), 81)];
	}
	put_d(AT(b, block_tq2_0, d), d);
}

/* MXFP4's scale is a power of two. Rounding d the same way in every block
 * would miss the intended spread by up to sqrt(2); instead each block takes
 * the power below or above d with the odds that make the mean square right
 * (real tensors mix exponents from block to block too). */
void synth_fix_mxfp4(uint8_t *b, struct synth_rng *r, float d)
{
	static float last_d = -1, lo, p_hi; /* d is the same for a whole tensor */
	if (d != last_d) {
		float x = log2f(d > 0 ? d : 1.0f);
		lo = floorf(x);
		p_hi = (exp2f(2 * (x - lo)) - 1) / 3; /* p 4^(lo+1) + (1-p) 4^lo = 4^x */
		last_d = d;
	}
	float u = (float)(synth_rng_next(r) >> 40) / (float)(1u << 24);
	int e = 128 + (int)lo + (u < p_hi);
	b[offsetof(struct block_mxfp4, e)] = (uint8_t)(e < 2 ? 2 : e > 254 ? 254 : e);
}

/* Element types (F32, F16, BF16) are written from random floats, the
 * others block by block through their fix-up. */
bool synth_type_ok(uint32_t type)
{
	const struct qtype *t = qtype_get(type);
	return qtype_supported(type) && (t->synth_fix || t->blck == 1);
}

static void fill_blocks(uint32_t type, synth_fix_fn fix, struct synth_rng *r, uint8_t *dst, uint64_t nblocks, float d)
{
	size_t bytes = qtype_get(type)->bytes;
	fill_bytes(r, dst, (size_t)nblocks * bytes);
	for (uint64_t i = 0; i < nblocks; i++)
		fix(dst + i * bytes, r, d);
}

/* Standard deviation of the values of unit-scale blocks, measured once per
 * type with its reference dequantizer (a fixed seed: the same every run). */
#define CAL_ELEMS 16384
static float unit_std(uint32_t type, synth_fix_fn fix)
{
	static float cache[GGML_TYPE_COUNT];
	if (cache[type] > 0)
		return cache[type];
	const struct qtype *q = qtype_get(type);
	uint64_t nb = CAL_ELEMS / q->blck;
	uint8_t *blocks = xmalloc((size_t)nb * q->bytes);
	float *x = xmalloc(CAL_ELEMS * sizeof(float));
	struct synth_rng r;
	synth_rng_seed(&r, 0x5eed, q->name);
	fill_blocks(type, fix, &r, blocks, nb, 1.0f);
	q->to_float(blocks, x, CAL_ELEMS);
	double s = 0, s2 = 0;
	for (size_t i = 0; i < CAL_ELEMS; i++) {
		s += x[i];
		s2 += (double)x[i] * x[i];
	}
	double mean = s / CAL_ELEMS, var = s2 / CAL_ELEMS - mean * mean;
	cache[type] = var > 0 ? (float)sqrt(var) : 1.0f;
	free(blocks);
	free(x);
	return cache[type];
}

void synth_fill(uint32_t type, struct synth_rng *r, void *dst, float *f, uint64_t n, float centre, float std)
{
	const struct qtype *t = qtype_get(type);
	if (!t->synth_fix) {
		/* uniform on [-a, a] has std a/sqrt(3) */
		fill_uniform(r, f, (size_t)n, centre, std * sqrtf(3.0f));
		t->from_float(f, dst, (int64_t)n);
		return;
	}
	fill_blocks(type, t->synth_fix, r, dst, n / t->blck, std / unit_std(type, t->synth_fix));
}
