/* ggml-kernels.c - heft's dot products against ggml's CPU ones, bit for
 * bit (issue 18). For each type: random rows quantized by ggml, random
 * activations; ggml's from_float + vec_dot (its plain, non-repacked path)
 * against heft's activation quantizer with its vec_dot (decode) and its
 * multi-row kernel (prefill). Prints per type how many of the products
 * differ and the largest relative difference. Built by llama-peer.sh next
 * to llama-logits, against the ggml it builds and heft's libraries:
 *
 *	ggml-kernels        (HEFT_SIMD picks heft's kernels)
 *
 * heft's side is ggml-kernels-heft.c: quant.h and ggml.h both name an enum
 * ggml_type. */
#include "ggml-cpu.h"
#include "ggml.h"
#include "../xorshift.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ggml-kernels-heft.c */
const char *heft_init(void);
size_t heft_act_bytes(unsigned t, long n);
unsigned heft_act_type(unsigned t);
void heft_quantize_act(unsigned t, const float *x, void *a, long n);
void heft_vec_dot(unsigned t, long n, float *s, const void *w, const void *a);
void heft_gemm(unsigned t, long n, float *y, size_t ldy, const void *w, size_t ldw, int nw, const void *a,
	       size_t lda, int na);

#define ROWS 64
#define COLS 1024
#define BATCH 5

static uint64_t rng = 88172645463325252u;

static float frand(void)
{
	return (float)((double)(xorshift(&rng) >> 11) / 9007199254740992.0) * 2 - 1;
}

static void one(enum ggml_type t)
{
	static float w[ROWS * COLS], x[BATCH * COLS], imat[COLS];
	for (int i = 0; i < ROWS * COLS; i++)
		w[i] = frand() * (1 + (i % 97 == 0) * 4);
	for (int i = 0; i < BATCH * COLS; i++)
		x[i] = frand() * (i % 13 == 0 ? 3 : 1);
	for (int i = 0; i < COLS; i++)
		imat[i] = 1;
	size_t rb = ggml_row_size(t, COLS);
	char *wq = malloc(rb * ROWS);
	ggml_quantize_chunk(t, w, wq, 0, ROWS, COLS, ggml_quantize_requires_imatrix(t) ? imat : NULL);

	const struct ggml_type_traits_cpu *tc = ggml_get_type_traits_cpu(t);
	enum ggml_type vt = tc->vec_dot_type;
	size_t ab = ggml_row_size(vt, COLS);
	char *ag = malloc(ab * BATCH), *ah = malloc(ggml_row_size(GGML_TYPE_F32, COLS) * BATCH);
	float yg[BATCH][ROWS], yh[BATCH][ROWS], yv[BATCH][ROWS], yx[BATCH][ROWS];
	if (!heft_act_bytes(t, COLS)) {
		printf("%-8s heft has no kernels\n", ggml_type_name(t));
		return;
	}
	size_t hb = heft_act_bytes(t, COLS);
	for (int j = 0; j < BATCH; j++) {
		if (vt == GGML_TYPE_F32)
			memcpy(ag + j * ab, x + j * COLS, ab);
		else
			ggml_get_type_traits_cpu(vt)->from_float(x + j * COLS, ag + j * ab, COLS);
		heft_quantize_act(t, x + j * COLS, ah + j * hb, COLS);
	}
	int act_same = vt == GGML_TYPE_F32 || (unsigned)vt != heft_act_type(t) ? -1 : !memcmp(ag, ah, ab * BATCH);
	for (int j = 0; j < BATCH; j++)
		for (int r = 0; r < ROWS; r++) {
			tc->vec_dot(COLS, &yg[j][r], 0, wq + r * rb, 0, ag + j * ab, 0, 1);
			heft_vec_dot(t, COLS, &yv[j][r], wq + r * rb, ah + j * hb);
			if (ab == hb) /* heft's kernel on ggml's activations */
				heft_vec_dot(t, COLS, &yx[j][r], wq + r * rb, ag + j * ab);
		}
	heft_gemm(t, COLS, &yh[0][0], ROWS, wq, rb, ROWS, ah, hb, BATCH);
	int dv = 0, dg = 0, dx = 0;
	double mv = 0, mg = 0;
	for (int j = 0; j < BATCH; j++)
		for (int r = 0; r < ROWS; r++) {
			double s = fabs(yg[j][r]) + 1e-30;
			dv += yv[j][r] != yg[j][r];
			dx += ab == hb && yx[j][r] != yg[j][r];
			dg += yh[j][r] != yg[j][r];
			mv = fmax(mv, fabs(yv[j][r] - yg[j][r]) / s);
			mg = fmax(mg, fabs(yh[j][r] - yg[j][r]) / s);
		}
	printf("%-8s act %-4s vec_dot %3d/%d differ (max rel %.1e), on ggml's acts %3d;  gemm %3d differ (max rel "
	       "%.1e)\n",
	       ggml_type_name(t), act_same < 0 ? "n/a" : act_same ? "same" : "DIFF", dv, BATCH * ROWS, mv, dx, dg, mg);
	free(wq);
	free(ag);
	free(ah);
}

int main(int argc, char **argv)
{
	static const enum ggml_type types[] = {
		GGML_TYPE_F32, GGML_TYPE_F16, GGML_TYPE_Q4_0, GGML_TYPE_Q5_0, GGML_TYPE_Q8_0, GGML_TYPE_IQ4_NL,
		GGML_TYPE_MXFP4, GGML_TYPE_Q2_K, GGML_TYPE_Q3_K, GGML_TYPE_Q4_K, GGML_TYPE_Q5_K, GGML_TYPE_Q6_K,
		GGML_TYPE_IQ4_XS, GGML_TYPE_IQ2_XXS, GGML_TYPE_IQ2_XS, GGML_TYPE_IQ2_S, GGML_TYPE_IQ3_XXS,
		GGML_TYPE_IQ3_S, GGML_TYPE_IQ1_S, GGML_TYPE_IQ1_M, GGML_TYPE_TQ1_0, GGML_TYPE_TQ2_0,
	};
	(void)argc;
	(void)argv;
	printf("heft kernels: %s\n", heft_init());
	ggml_cpu_init();
	for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
		one(types[i]);
	return 0;
}
