/* quant.h - the tensor type table: one row per ggml type id.
 *
 * Every tensor type a GGUF file can carry has a row (quant-table.c) with
 * its name, block size and bytes per block (so any file can be inspected),
 * and - once its kernels exist - a reference dequantizer, the activation
 * format its dot product consumes, the dot product itself, and what synth
 * needs to write it. Adding a type means its enum value here, its kernels,
 * and its row. SIMD paths replace the function pointers of the active
 * table at start-up (quant_init); the reference table stays available for
 * tests. */
#ifndef HEFT_QUANT_H
#define HEFT_QUANT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* ggml type ids, as stored in GGUF tensor infos. Gaps are removed types. */
enum ggml_type {
	GGML_F32 = 0,
	GGML_F16 = 1,
	GGML_Q4_0 = 2,
	GGML_Q4_1 = 3,
	GGML_Q5_0 = 6,
	GGML_Q5_1 = 7,
	GGML_Q8_0 = 8,
	GGML_Q8_1 = 9,
	GGML_Q2_K = 10,
	GGML_Q3_K = 11,
	GGML_Q4_K = 12,
	GGML_Q5_K = 13,
	GGML_Q6_K = 14,
	GGML_Q8_K = 15,
	GGML_IQ2_XXS = 16,
	GGML_IQ2_XS = 17,
	GGML_IQ3_XXS = 18,
	GGML_IQ1_S = 19,
	GGML_IQ4_NL = 20,
	GGML_IQ3_S = 21,
	GGML_IQ2_S = 22,
	GGML_IQ4_XS = 23,
	GGML_I8 = 24,
	GGML_I16 = 25,
	GGML_I32 = 26,
	GGML_I64 = 27,
	GGML_F64 = 28,
	GGML_IQ1_M = 29,
	GGML_BF16 = 30,
	GGML_TQ1_0 = 34,
	GGML_TQ2_0 = 35,
	GGML_MXFP4 = 39,
	GGML_TYPE_COUNT = 40
};

#define QK8_0 32
#define QK_K 256

/* Activation formats the dot products consume (ggml's layouts). */
struct block_q8_0 { /* 34 bytes */
	uint16_t d; /* f16 scale */
	int8_t qs[QK8_0];
};
struct block_q8_1 { /* 36 bytes */
	uint16_t d; /* f16 scale */
	uint16_t s; /* f16: d * sum(qs) */
	int8_t qs[QK8_0];
};
struct block_q8_K { /* 292 bytes */
	float d;
	int8_t qs[QK_K];
	int16_t bsums[QK_K / 16]; /* sums of each group of 16 qs */
};

/* Weight block layouts, bit-exact with ggml (GGUF tensor data). Multi-byte
 * fields are little-endian; blocks inside a row need not be aligned, so
 * kernels read fields through memcpy/byte loads at offsetof() positions
 * rather than dereferencing these structs. */
struct block_q4_0 { /* 18 bytes: w = d * (q - 8) */
	uint16_t d;
	uint8_t qs[16]; /* element j in low nibble of qs[j], j+16 in the high nibble */
};
struct block_q4_1 { /* 20 bytes: w = d * q + m */
	uint16_t d, m;
	uint8_t qs[16];
};
struct block_q5_0 { /* 22 bytes: w = d * (q - 16), bit 4 of element j is bit j of qh */
	uint16_t d;
	uint8_t qh[4];
	uint8_t qs[16];
};
struct block_q5_1 { /* 24 bytes: w = d * q + m */
	uint16_t d, m;
	uint8_t qh[4];
	uint8_t qs[16];
};
struct block_q2_K { /* 84 bytes: 16 groups of 16, w = d*sc*q - dmin*mn */
	uint8_t scales[16]; /* sc in the low nibble, mn in the high nibble */
	uint8_t qs[64];     /* 2 bits; element 128h + 32s + l at (qs[32h + l] >> 2s) & 3 */
	uint16_t d, dmin;
};
struct block_q3_K { /* 110 bytes: 16 groups of 16, w = d * (sc - 32) * (q - 4) */
	uint8_t hmask[32]; /* bit 2 of q: element 128h + 32s + l at bit 4h + s of hmask[l] */
	uint8_t qs[64];    /* low 2 bits as in Q2_K */
	uint8_t scales[12]; /* 6-bit sc: low 4 bits in nibbles of [0..7], high 2 bits in [8..11] */
	uint16_t d;
};
struct block_q4_K { /* 144 bytes: 8 groups of 32, w = d*sc*q - dmin*mn */
	uint16_t d, dmin;
	uint8_t scales[12]; /* 8 6-bit sc and 8 6-bit mn */
	uint8_t qs[128];    /* element 64c + r: qs[32c + r%32], low nibble if r < 32 */
};
struct block_q5_K { /* 176 bytes: as Q4_K, 5th bit of element 64c + r at bit 2c + r/32 of qh[r%32] */
	uint16_t d, dmin;
	uint8_t scales[12];
	uint8_t qh[32];
	uint8_t qs[128];
};
struct block_q6_K { /* 210 bytes: 16 groups of 16, w = d * sc * (q - 32) */
	uint8_t ql[128]; /* element 128h + 32s + l: ql[64h + 32(s&1) + l], low nibble if s < 2 */
	uint8_t qh[64];  /* its high 2 bits: (qh[32h + l] >> 2s) & 3 */
	int8_t scales[16];
	uint16_t d;
};
struct block_iq4_nl { /* 18 bytes: w = d * kvalues_iq4nl[q], nibbles as Q4_0 */
	uint16_t d;
	uint8_t qs[16];
};
struct block_iq4_xs { /* 136 bytes: 8 groups of 32, w = d * (sc - 32) * kvalues_iq4nl[q] */
	uint16_t d;
	uint16_t scales_h; /* high 2 bits of sc of group g at bits 2g */
	uint8_t scales_l[4]; /* low 4 bits of sc of group g: nibble g%2 of scales_l[g/2] */
	uint8_t qs[128];     /* group g: as Q4_0 in qs[16g .. 16g+15] */
};

/* IQ4_NL / IQ4_XS code book. */
extern const int8_t kvalues_iq4nl[16];

/* Convert n floats to/from a row of this type (n a multiple of blck). */
typedef void (*to_float_fn)(const void *src, float *dst, int64_t n);
typedef void (*from_float_fn)(const float *src, void *dst, int64_t n);
/* *s = dot(weight row w of type T, activation row a in T's act_type), n elements. */
typedef void (*vec_dot_fn)(int64_t n, float *s, const void *w, const void *a);
/* s[i] = dot(weight row at w + i * ldw, activation row a), 0 <= i < nw:
 * decode's rows, several against one activation row at a time so their
 * chains overlap. Each s[i] has exactly vec_dot's bits (the same float
 * operations in the same order), so which rows share a call never matters. */
typedef void (*vec_dot_rows_fn)(int64_t n, float *s, const void *w, size_t ldw, int64_t nw, const void *a);

struct qtype;
/* Multi-row product, the prefill kernel: for 0 <= i < nw, 0 <= j < na,
 *
 *	y[j * ldy + i] = dot(weight row at w + i * ldw, activation row at a + j * lda)
 *
 * (n elements per row; ldy counts floats, ldw and lda bytes). Any nw, na >= 1.
 * Equal to vec_dot on every pair up to the order of float additions. SIMD
 * rows tile the product so that a weight block, once unpacked, meets several
 * activation rows in registers (and an activation block several weight
 * rows). t is the row the kernel belongs to: the generic quant_gemm_rows
 * loops over t->vec_dot. */
typedef void (*gemm_fn)(const struct qtype *t, int64_t n, float *y, size_t ldy, const void *w, size_t ldw,
			int nw, const void *a, size_t lda, int na);

/* synth's fix-up of a block of random bytes (synth-blocks.c): set the block
 * scale from d, the unit of the type's values, and redraw the fields where
 * not every bit pattern is valid or centred. */
struct synth_rng;
typedef void (*synth_fix_fn)(uint8_t *block, struct synth_rng *r, float d);

struct qtype {
	const char *name;
	uint32_t blck;  /* elements per block; 0 = id not in use */
	uint32_t bytes; /* bytes per block */
	uint32_t act_type; /* activation format of vec_dot (GGML_F32, GGML_Q8_0, GGML_Q8_1, GGML_Q8_K) */
	to_float_fn to_float;     /* NULL: no kernels for this type yet */
	from_float_fn from_float; /* quantize floats into this type (activation types; optional otherwise) */
	vec_dot_fn vec_dot;       /* NULL: no kernels for this type yet */
	gemm_fn gemm;             /* NULL: quant_gemm_rows (see qtype_gemm) */
	vec_dot_rows_fn vec_dot_rows; /* NULL: vec_dot row by row (see qtype_vec_dot_rows) */
	/* For a dense (non-expert) product, where llama.cpp rounds differently:
	 * its dense products go through llamafile's sgemm, its expert products
	 * through vec_dot, and for IQ4_NL the two sum blocks in a different
	 * order. NULL: vec_dot / gemm. */
	vec_dot_fn vec_dot_dense;
	gemm_fn gemm_dense;
	/* Writing the type (heft-engine synth). */
	synth_fix_fn synth_fix; /* NULL: synth writes element types (blck 1) from floats, others not at all */
	uint32_t fallback; /* llama.cpp's quantizer's choice for rows that are not whole blocks of this
			      type (if its blocks do not fit either: F16); only rows with a synth_fix */
	int ftype;         /* llama.cpp's general.file_type of a file mostly of this type; -1 none */
};

/* The generic multi-row product: every pair through t->vec_dot. */
void quant_gemm_rows(const struct qtype *t, int64_t n, float *y, size_t ldy, const void *w, size_t ldw, int nw,
		     const void *a, size_t lda, int na);

/* t->gemm, or the generic loop for rows that have only a vec_dot. */
static inline void qtype_gemm(const struct qtype *t, int64_t n, float *y, size_t ldy, const void *w, size_t ldw,
			      int nw, const void *a, size_t lda, int na)
{
	(t->gemm ? t->gemm : quant_gemm_rows)(t, n, y, ldy, w, ldw, nw, a, lda, na);
}

/* t->vec_dot_rows, or t->vec_dot row by row. */
static inline void qtype_vec_dot_rows(const struct qtype *t, int64_t n, float *s, const void *w, size_t ldw,
				      int64_t nw, const void *a)
{
	if (t->vec_dot_rows) {
		t->vec_dot_rows(n, s, w, ldw, nw, a);
		return;
	}
	for (int64_t i = 0; i < nw; i++)
		t->vec_dot(n, &s[i], (const char *)w + (size_t)i * ldw, a);
}

/* The active table (reference + the best SIMD paths the CPU has). */
extern struct qtype qtypes[GGML_TYPE_COUNT];

/* The row for a type id, or NULL for an id no GGUF file uses. Initialises
 * the table on first use (thread-safe). */
const struct qtype *qtype_get(uint32_t id);

/* True if the type has a dequantizer and a dot product. */
static inline bool qtype_supported(uint32_t id)
{
	const struct qtype *t = qtype_get(id);
	return t && t->to_float && t->vec_dot;
}

/* Bytes of a row of n elements; 0 if n is not a multiple of the block size
 * or the type is unknown. */
static inline uint64_t qtype_row_bytes(uint32_t id, uint64_t n)
{
	const struct qtype *t = qtype_get(id);
	if (!t || n % t->blck)
		return 0;
	return n / t->blck * t->bytes;
}

/* The type id of a name (case-insensitive: "q4_k" finds Q4_K) in *id;
 * false for a name no row has. */
bool qtype_by_name(const char *name, uint32_t *id);

/* Fill t[] with the reference rows (plain C kernels), as quant-table.c has them. */
void quant_table_ref(struct qtype t[GGML_TYPE_COUNT]);

/* Select kernels for this CPU: reference rows, then the SIMD paths the CPU
 * and OS support, limited by HEFT_SIMD=none|avx2|avx512|neon|dotprod if
 * set. Idempotent; returns the name of the level chosen ("none", "avx2",
 * "avx512", "neon", "dotprod"). */
const char *quant_init(void);

/* Activations for matrix products: callers quantize the input vector once
 * per product into the act_type of the weight type wtype, then call
 * qtypes[wtype].vec_dot for each weight row. Bytes of such a row of n
 * elements (0 if n does not fit the block size or wtype has no kernels): */
size_t quant_act_row_bytes(uint32_t wtype, int64_t n);
/* Quantize x[0..n) into dst (quant_act_row_bytes(wtype, n) bytes). */
void quant_act_row(uint32_t wtype, const float *x, void *dst, int64_t n);

/* A float's bits and back (memcpy: no aliasing games). */
static inline uint32_t f32_bits(float f)
{
	uint32_t x;
	memcpy(&x, &f, 4);
	return x;
}

static inline float f32_from_bits(uint32_t bits)
{
	float f;
	memcpy(&f, &bits, 4);
	return f;
}

/* IEEE half <-> float, exact (round to nearest even on the way down). */
static inline float fp16_to_fp32(uint16_t h)
{
	uint32_t sign = (uint32_t)(h & 0x8000) << 16;
	uint32_t exp = (h >> 10) & 0x1f;
	uint32_t mant = h & 0x3ff;
	uint32_t bits;
	if (exp == 0) {
		if (mant == 0) {
			bits = sign;
		} else { /* subnormal: renormalise */
			int e = -1;
			do {
				e++;
				mant <<= 1;
			} while (!(mant & 0x400));
			mant &= 0x3ff;
			bits = sign | ((uint32_t)(127 - 15 - e) << 23) | (mant << 13);
		}
	} else if (exp == 0x1f) {
		bits = sign | 0x7f800000u | (mant << 13);
	} else {
		bits = sign | ((exp + 127 - 15) << 23) | (mant << 13);
	}
	return f32_from_bits(bits);
}

static inline uint16_t fp32_to_fp16(float f)
{
	uint32_t x = f32_bits(f);
	uint32_t sign = (x >> 16) & 0x8000;
	uint32_t ax = x & 0x7fffffffu;
	if (ax >= 0x7f800000u) /* inf or nan */
		return (uint16_t)(sign | 0x7c00 | (ax > 0x7f800000u ? 0x200 : 0));
	if (ax >= 0x477ff000u) /* rounds to >= 65520: overflow to inf */
		return (uint16_t)(sign | 0x7c00);
	if (ax < 0x38800000u) { /* subnormal or zero in half */
		if (ax < 0x33000000u)
			return (uint16_t)sign;
		uint32_t e = ax >> 23;
		uint32_t m = (ax & 0x7fffff) | 0x800000;
		uint32_t shift = 126 - e; /* 14..24 */
		uint32_t half = m >> shift;
		uint32_t rem = m & ((1u << shift) - 1);
		uint32_t mid = 1u << (shift - 1);
		if (rem > mid || (rem == mid && (half & 1)))
			half++;
		return (uint16_t)(sign | half);
	}
	uint32_t e = (ax >> 23) - 127 + 15;
	uint32_t m = ax & 0x7fffff;
	uint32_t h = (e << 10) | (m >> 13);
	uint32_t rem = m & 0x1fff;
	if (rem > 0x1000 || (rem == 0x1000 && (h & 1)))
		h++;
	return (uint16_t)(sign | h);
}

static inline float bf16_to_fp32(uint16_t h)
{
	return f32_from_bits((uint32_t)h << 16);
}

static inline uint16_t fp32_to_bf16(float f)
{
	uint32_t x = f32_bits(f);
	if ((x & 0x7fffffffu) > 0x7f800000u) /* nan: keep it a quiet nan */
		return (uint16_t)((x >> 16) | 0x40);
	x += 0x7fff + ((x >> 16) & 1);
	return (uint16_t)(x >> 16);
}

#endif
