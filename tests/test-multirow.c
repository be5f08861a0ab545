/* test-multirow.c - the multi-row kernels (gemm) against the single-row path.
 *
 * For the reference table and every SIMD path this CPU runs, and every type
 * with kernels: random weight rows and activation rows (quantized once, as
 * matmul does), tiles of nw x na = 1..9 x 1..9 and rows of several lengths
 * (one block, odd and even block counts, and for the float types lengths
 * that are not a multiple of the vector width), weight rows at odd
 * addresses and strides, outputs written with a row stride into a buffer
 * whose untouched cells must stay as they were. Each output of a quantized
 * type must equal the same table's vec_dot on that pair bit for bit: the
 * tiles keep vec_dot's (ggml's) order of float operations per output, which
 * is what keeps prefill's logits llama.cpp's (issue 18). The float types
 * may sum in another order: within 1e-5 of sum |w*a|. Decode's form,
 * several weight rows against one activation row (qtype_vec_dot_rows), must
 * equal vec_dot bit for bit for every type. */

#include "cpu.h"
#include "kernels.h"
#include "quant.h"
#include "test.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test-rng.h"

static float gauss(void)
{
	double u = ((double)(rnd() >> 11) + 1) * 0x1p-53, v = (double)(rnd() >> 11) * 0x1p-53;
	return (float)(sqrt(-2 * log(u)) * cos(6.283185307179586 * v));
}

static const uint32_t types[] = {
	GGML_F32, GGML_F16, GGML_BF16, GGML_Q8_0, GGML_Q4_0, GGML_Q4_1, GGML_Q5_0, GGML_Q5_1, GGML_Q2_K,
	GGML_Q3_K, GGML_Q4_K, GGML_Q5_K, GGML_Q6_K, GGML_IQ4_NL, GGML_IQ4_XS,
};

/* Random weight row: quantize gaussian floats with a per-row scale through
 * the reference from_float where the type has one; otherwise random bytes
 * with sane f16 block scales (every bit pattern of the packed quants and
 * K-quant scales is valid). Some blocks are zero. */
static void random_row(uint32_t id, const struct qtype *ref, uint8_t *w, int64_t n)
{
	const struct qtype *q = &ref[id];
	int64_t nb = n / q->blck;
	float scale = powf(10.0f, (float)(rnd() % 5) - 2);
	if (q->blck == 1) {
		for (int64_t i = 0; i < n; i++) {
			float v = gauss() * scale;
			if (id == GGML_F32)
				memcpy(w + 4 * i, &v, 4);
			else {
				uint16_t h = id == GGML_F16 ? fp32_to_fp16(v) : fp32_to_bf16(v);
				memcpy(w + 2 * i, &h, 2);
			}
		}
		return;
	}
	for (int64_t i = 0; i < (int64_t)(nb * q->bytes); i++)
		w[i] = (uint8_t)rnd();
	for (int64_t b = 0; b < nb; b++) {
		uint8_t *p = w + b * q->bytes;
		uint16_t d = fp32_to_fp16(scale * (0.5f + (float)(rnd() % 100) / 100) * (rnd() & 1 ? 1 : -1));
		uint16_t m = fp32_to_fp16(scale * (float)(rnd() % 100) / 100);
		switch (id) {
		case GGML_Q2_K: memcpy(p + 80, &d, 2); memcpy(p + 82, &m, 2); break;
		case GGML_Q3_K: memcpy(p + 108, &d, 2); break;
		case GGML_Q4_K: case GGML_Q5_K: memcpy(p, &d, 2); memcpy(p + 2, &m, 2); break;
		case GGML_Q6_K: memcpy(p + 208, &d, 2); break;
		case GGML_Q4_1: case GGML_Q5_1: memcpy(p, &d, 2); memcpy(p + 2, &m, 2); break;
		default: memcpy(p, &d, 2); break; /* Q8_0, Q4_0, Q5_0, IQ4_NL, IQ4_XS: d first */
		}
		if (rnd() % 16 == 0)
			memset(p, 0, q->bytes);
	}
}

/* sum |w * a| of one pair, from the reference dequantizers. */
static double abs_dot(const struct qtype *ref, uint32_t id, const uint8_t *w, const uint8_t *a, int64_t n,
		      float *fw, float *fa)
{
	ref[id].to_float(w, fw, n);
	uint32_t at = ref[id].act_type;
	if (at == GGML_F32)
		memcpy(fa, a, (size_t)n * 4);
	else
		ref[at].to_float(a, fa, n);
	double s = 0;
	for (int64_t i = 0; i < n; i++)
		s += fabs((double)fw[i] * fa[i]);
	return s;
}

#define MAXN 16640 /* 65 K-blocks: the long-row tiles (> 16 blocks) and the mins from bsums (> 64) */
#define MAXR 9

static int check_path(const char *path, const struct qtype *t, const struct qtype *ref)
{
	int fails0 = test_failures;
	static _Alignas(64) uint8_t wbuf[MAXR * (MAXN * 4 + 64) + 64], abuf[MAXR * (MAXN * 4 + 64) + 64];
	static float fw[MAXN], fa[MAXN], xin[MAXN], y[MAXR * 16], yref[MAXR * 16];
	static double mag[MAXR][MAXR];
	for (size_t ti = 0; ti < sizeof types / sizeof types[0]; ti++) {
		uint32_t id = types[ti];
		const struct qtype *q = &t[id];
		if (!q->vec_dot || !ref[id].to_float)
			continue;
		int64_t lens_k[] = {256, 512, 768, 1024, 4608, 16640};
		int64_t lens_32[] = {32, 64, 96, 160, 256, 1024};
		int64_t lens_f[] = {1, 7, 16, 33, 64, 100, 256, 1000};
		int64_t *lens;
		int nlens;
		if (q->blck == 256) {
			lens = lens_k;
			nlens = 6;
		} else if (q->blck == 32) {
			lens = lens_32;
			nlens = 6;
		} else {
			lens = lens_f;
			nlens = 8;
		}
		int worst_bad = 0;
		for (int li = 0; li < nlens; li++) {
			int64_t n = lens[li];
			size_t wrow = (size_t)(n / q->blck * q->bytes);
			size_t arow = (size_t)qtype_row_bytes(q->act_type, (uint64_t)n);
			size_t ldw = wrow + (size_t)(rnd() % 3) * 7;  /* odd strides and addresses */
			size_t lda = arow + (size_t)(rnd() % 2) * 4; /* 4-aligned for F32 activations */
			uint8_t *w = wbuf + 1 + rnd() % 3;
			uint8_t *a = abuf + 4 * (rnd() % 2);
			for (int r = 0; r < MAXR; r++) {
				random_row(id, ref, w + r * ldw, n);
				float s = powf(10.0f, (float)(rnd() % 5) - 2);
				for (int64_t k = 0; k < n; k++)
					xin[k] = gauss() * s;
				if (rnd() % 8 == 0)
					memset(xin, 0, (size_t)n * 4);
				if (q->act_type == GGML_F32)
					memcpy(a + r * lda, xin, (size_t)n * 4);
				else
					t[q->act_type].from_float(xin, a + r * lda, n);
			}
			for (int i = 0; i < MAXR; i++)
				for (int j = 0; j < MAXR; j++) {
					q->vec_dot(n, &yref[j * 16 + i], w + i * ldw, a + j * lda);
					mag[i][j] = abs_dot(ref, id, w + i * ldw, a + j * lda, n, fw, fa);
				}
			for (int nw = 1; nw <= MAXR; nw++)
				for (int na = 1; na <= MAXR; na++) {
					/* a sub-tile at an offset, into y with row stride 16 */
					int i0 = (int)(rnd() % (unsigned)(MAXR - nw + 1)), j0 = (int)(rnd() % (unsigned)(MAXR - na + 1));
					for (int k = 0; k < MAXR * 16; k++)
						y[k] = -12345.0f;
					qtype_gemm(q, n, y + j0 * 16 + i0, 16, w + (size_t)i0 * ldw, ldw, nw,
						   a + (size_t)j0 * lda, lda, na);
					for (int j = 0; j < MAXR; j++)
						for (int i = 0; i < 16; i++) {
							float got = y[j * 16 + i];
							bool in = i >= i0 && i < i0 + nw && j >= j0 && j < j0 + na && i < MAXR;
							if (!in) {
								if (got != -12345.0f && worst_bad++ < 5)
									CHECKF(0, "%s %s n=%lld %dx%d: wrote outside the tile at %d,%d",
									       path, q->name, (long long)n, nw, na, i, j);
								continue;
							}
							double want = yref[j * 16 + i];
							double tol = 1e-5 * mag[i][j] + 1e-30;
							if (q->act_type != GGML_F32) {
								if (memcmp(&got, &yref[j * 16 + i], sizeof got) != 0 && worst_bad++ < 5)
									CHECKF(0, "%s %s n=%lld tile %dx%d pair %d,%d: gemm %a vec_dot %a (not bitwise)",
									       path, q->name, (long long)n, nw, na, i, j, got, want);
								continue;
							}
							if (!(fabs(got - want) <= tol) && worst_bad++ < 5)
								CHECKF(0, "%s %s n=%lld tile %dx%d pair %d,%d: gemm %.9g vec_dot %.9g (tol %.3g)",
								       path, q->name, (long long)n, nw, na, i, j, got, want, tol);
						}
				}
			/* Decode's rows (qtype_vec_dot_rows): every count of rows at an
			 * offset against one activation row, vec_dot's bits for every
			 * type (the float types too), nothing written outside. */
			for (int nw = 1; nw <= MAXR; nw++) {
				int i0 = (int)(rnd() % (unsigned)(MAXR - nw + 1)), j = (int)(rnd() % MAXR);
				for (int k = 0; k < 16; k++)
					y[k] = -12345.0f;
				qtype_vec_dot_rows(q, n, y + i0, w + (size_t)i0 * ldw, ldw, nw, a + (size_t)j * lda);
				for (int i = 0; i < 16; i++) {
					bool in = i >= i0 && i < i0 + nw;
					if (!in ? y[i] != -12345.0f : memcmp(&y[i], &yref[j * 16 + i], sizeof y[i]) != 0)
						if (worst_bad++ < 5)
							CHECKF(0, "%s %s n=%lld rows %d at %d, act %d: row %d %a vec_dot %a (%s)",
							       path, q->name, (long long)n, nw, i0, j, i, y[i],
							       in ? yref[j * 16 + i] : 0.0f, in ? "not bitwise" : "outside");
				}
			}
		}
		printf("  %-7s %-8s %s%s\n", path, q->name, q->gemm && q->gemm != quant_gemm_rows ? "tiled" : "rows",
		       q->vec_dot_rows ? ", dot rows" : "");
	}
	return test_failures == fails0;
}

int main(void)
{
	static struct qtype ref[GGML_TYPE_COUNT], t[GGML_TYPE_COUNT];
	quant_table_ref(ref);
	check_path("ref", ref, ref);
	const struct cpu_features *cpu = cpu_features();
	if (cpu->can_avx2) {
		quant_table_ref(t);
		if (kernels_avx2_install(t))
			check_path("avx2", t, ref);
		else
			printf("  avx2: not built\n");
		if (cpu->avx_vnni && kernels_avxvnni_install(t))
			check_path("avxvnni", t, ref);
		else
			printf("  avxvnni: CPU lacks it or not built, skipped\n");
		if (cpu->can_avx512) {
			if (kernels_avx512_install(t))
				check_path("avx512", t, ref);
			else
				printf("  avx512: not built\n");
		} else {
			printf("  avx512: CPU lacks it, skipped\n");
		}
	} else {
		printf("  avx2: CPU lacks it, skipped\n");
	}
	if (cpu->can_neon) {
		quant_table_ref(t);
		if (kernels_neon_install(t))
			check_path("neon", t, ref);
		else
			printf("  neon: not built\n");
		if (cpu->can_dotprod) {
			if (kernels_dotprod_install(t))
				check_path("dotprod", t, ref);
			else
				printf("  dotprod: not built\n");
		} else {
			printf("  dotprod: CPU lacks it, skipped\n");
		}
	}
	/* The active table goes through the same entry point. */
	quant_init();
	check_path("active", qtypes, ref);
	return test_done("test-multirow");
}
