/* kernels-rows.h - SIMD forms of two of forward.c's steps outside the
 * matrix products: the attention of queries sharing a KV head over an F16
 * cache, and SwiGLU. Each computes bit for bit what forward.c's scalar code
 * computes for the same instruction-set level (which is what llama.cpp
 * computes); forward.c calls them when installed and falls back otherwise.
 *
 * kernels-rows-avx2.c is built into the AVX2 kernel library and again, as
 * kernels-rows-avx512.c, into the AVX-512 one; like kernels.h's installers,
 * these fill the table only when built for their ISA and may only be called
 * once cpu_features() says it is usable (forward.c asks quant_init()). */
#ifndef HEFT_KERNELS_ROWS_H
#define HEFT_KERNELS_ROWS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Most queries one attn_f16 call takes. */
#define ATTN_GMAX 8

/* g queries against positions [0, nt) of an F16 K and V cache, as
 * forward.c's attend(): each query rounded to F16; per position t,
 * s = (K_t . q) * scale with the ISA's vec_dot_f16 reduction; the online
 * softmax - running max M, sum S, F16 running sum of the V rows, rescaled
 * when the maximum grows. Leaves the sum of V rows (not yet divided by S)
 * in out, M and S in m and s. */
struct attn_f16 {
	int g, dk, dv, nt;
	const float *q;           /* [g][dk] */
	const unsigned char *k;   /* position 0's K row of the head */
	const unsigned char *v;   /* position 0's V row of the head */
	size_t ldk, ldv;          /* bytes from one position to the next */
	float scale;
	float *qh;                /* scratch: [g][dk] floats */
	uint16_t *acc;            /* scratch: [g][dv] F16 */
	float *out;               /* [g][dv] */
	float *m, *s;             /* [g] */
	bool fetch;               /* the rows are not in cache (decode): fetch them ahead */
};

struct rows_kernels {
	/* dv a multiple of 16; NULL when not installed */
	void (*attn_f16)(const struct attn_f16 *a);
	/* hb = silu(hb) * hb2, with forward.c's silu for this ISA */
	void (*swiglu)(float *hb, const float *hb2, size_t n);
};

bool kernels_rows_avx2_install(struct rows_kernels *k);
bool kernels_rows_avx512_install(struct rows_kernels *k);

#endif
