/* ggml-kernels-heft.c - heft's side of ggml-kernels.c, in its own
 * translation unit: heft's quant.h and ggml.h both name an enum ggml_type.
 * Type ids are the same numbers on both sides (GGUF's). */
#include "quant.h"

#include <string.h>

const char *heft_init(void)
{
	return quant_init();
}

/* Bytes of a row of n activations for weight type t (0: unsupported). */
size_t heft_act_bytes(unsigned t, long n)
{
	const struct qtype *q = qtype_get(t);
	return q && q->vec_dot ? qtype_row_bytes(q->act_type, (uint64_t)n) : 0;
}

unsigned heft_act_type(unsigned t)
{
	return qtype_get(t)->act_type;
}

void heft_quantize_act(unsigned t, const float *x, void *a, long n)
{
	const struct qtype *q = qtype_get(t);
	if (q->act_type == GGML_F32)
		memcpy(a, x, (size_t)n * sizeof *x);
	else
		qtypes[q->act_type].from_float(x, a, n);
}

void heft_vec_dot(unsigned t, long n, float *s, const void *w, const void *a)
{
	qtype_get(t)->vec_dot(n, s, w, a);
}

void heft_gemm(unsigned t, long n, float *y, size_t ldy, const void *w, size_t ldw, int nw, const void *a,
	       size_t lda, int na)
{
	qtype_gemm(qtype_get(t), n, y, ldy, w, ldw, nw, a, lda, na);
}
