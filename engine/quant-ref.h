/* quant-ref.h - the reference (plain C) kernels the type table points to.
 *
 * Defined in quant.c (float types, the classic and K-quants, IQ4) and
 * quant-lowbit.c (IQ1..IQ3, TQ, MXFP4); used only by the table
 * (quant-table.c). Everyone else reaches them through a row: qtype_get(),
 * or quant_table_ref() for the reference table itself. */
#ifndef HEFT_QUANT_REF_H
#define HEFT_QUANT_REF_H

#include <stdint.h>

/* A weight type's dequantizer and dot product. */
#define QREF_KERNELS(name)                                                     \
	void qref_to_float_##name(const void *src, float *dst, int64_t n);     \
	void qref_vec_dot_##name(int64_t n, float *s, const void *w, const void *a);

/* Define a weight type's two kernels in the file that declares them (quant.c,
 * quant-lowbit.c): each such file has its own static dequant() and
 * dot_<act>() over its block descriptions layout_<name>. */
#define QREF_DEFINE(name, act)                                                 \
	void qref_to_float_##name(const void *w, float *y, int64_t n)         \
	{                                                                       \
		dequant(&layout_##name, w, y, n);                               \
	}                                                                       \
	void qref_vec_dot_##name(int64_t n, float *s, const void *w, const void *a) \
	{                                                                       \
		dot_##act(&layout_##name, n, s, w, a);                          \
	}

/* A type's quantizer (activation formats, element types, Q4_0 for synth). */
#define QREF_FROM_FLOAT(name) void qref_from_float_##name(const float *src, void *dst, int64_t n);

QREF_KERNELS(f32)
QREF_KERNELS(f16)
QREF_KERNELS(bf16)
QREF_KERNELS(q4_0)
QREF_KERNELS(q4_1)
QREF_KERNELS(q5_0)
QREF_KERNELS(q5_1)
QREF_KERNELS(q8_0)
QREF_KERNELS(q2_K)
QREF_KERNELS(q3_K)
QREF_KERNELS(q4_K)
QREF_KERNELS(q5_K)
QREF_KERNELS(q6_K)
QREF_KERNELS(iq4_nl)
QREF_KERNELS(iq4_xs)
QREF_KERNELS(iq1_s)
QREF_KERNELS(iq1_m)
QREF_KERNELS(iq2_xxs)
QREF_KERNELS(iq2_xs)
QREF_KERNELS(iq2_s)
QREF_KERNELS(iq3_xxs)
QREF_KERNELS(iq3_s)
QREF_KERNELS(tq1_0)
QREF_KERNELS(tq2_0)
QREF_KERNELS(mxfp4)

/* Activation formats: a dequantizer (for tests) and a quantizer, no dot. */
void qref_to_float_q8_1(const void *src, float *dst, int64_t n);
void qref_to_float_q8_K(const void *src, float *dst, int64_t n);

QREF_FROM_FLOAT(f32)
QREF_FROM_FLOAT(f16)
QREF_FROM_FLOAT(bf16)
QREF_FROM_FLOAT(q4_0)
QREF_FROM_FLOAT(q8_0)
QREF_FROM_FLOAT(q8_1)
QREF_FROM_FLOAT(q8_K)

#endif
