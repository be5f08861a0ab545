/* test-synth-blocks.c - synth's random blocks: every weight type, values
 * with the standard deviation asked for and centred on 0, ternary types
 * strictly ternary, the same bytes for the same seed and name. */
#include "quant-lowbit.h"
#include "quant.h"
#include "synth-blocks.h"
#include "test.h"

#include <math.h>
#include <string.h>

#define N 65536 /* a multiple of every block size */

static struct qtype ref[GGML_TYPE_COUNT];

static void check_type(uint32_t t, float want)
{
	const struct qtype *q = &ref[t];
	size_t bytes = (size_t)qtype_row_bytes(t, N);
	uint8_t *a = malloc(bytes), *b = malloc(bytes);
	float *f = malloc(N * sizeof(float)), *x = malloc(N * sizeof(float));
	struct synth_rng r;
	synth_rng_seed(&r, 7, "blk.0.ffn_up_exps.weight");
	synth_fill(t, &r, a, f, N, 0.0f, want);
	synth_rng_seed(&r, 7, "blk.0.ffn_up_exps.weight");
	synth_fill(t, &r, b, f, N, 0.0f, want);
	CHECKF(!memcmp(a, b, bytes), "%s: same seed, different bytes", q->name);
	synth_rng_seed(&r, 8, "blk.0.ffn_up_exps.weight");
	synth_fill(t, &r, b, f, N, 0.0f, want);
	CHECKF(memcmp(a, b, bytes), "%s: another seed, same bytes", q->name);

	q->to_float(a, x, N);
	double s = 0, s2 = 0;
	int bad = 0;
	for (size_t i = 0; i < N; i++) {
		bad += !isfinite(x[i]);
		s += x[i];
		s2 += (double)x[i] * x[i];
	}
	double mean = s / N, sd = sqrt(s2 / N - mean * mean);
	CHECKF(!bad, "%s: %d values not finite", q->name, bad);
	CHECKF(fabs(sd / want - 1) < 0.08, "%s: std %g, wanted %g", q->name, sd, (double)want);
	CHECKF(fabs(mean) < 0.05 * want, "%s: mean %g (std %g)", q->name, mean, (double)want);

	/* TQ1_0 / TQ2_0: every weight is -d, 0 or d */
	if (t == GGML_TQ1_0 || t == GGML_TQ2_0) {
		size_t off = t == GGML_TQ1_0 ? offsetof(struct block_tq1_0, d) : offsetof(struct block_tq2_0, d);
		int off_grid = 0;
		for (size_t blk = 0; blk < N / QK_K; blk++) {
			uint16_t h;
			memcpy(&h, a + blk * q->bytes + off, 2);
			float d = fp16_to_fp32(h);
			for (int e = 0; e < QK_K; e++) {
				float v = x[blk * QK_K + e] / d;
				off_grid += v != -1.0f && v != 0.0f && v != 1.0f;
			}
		}
		CHECKF(!off_grid, "%s: %d weights are not ternary", q->name, off_grid);
	}
	free(a);
	free(b);
	free(f);
	free(x);
}

int main(void)
{
	quant_table_ref(ref);
	int n = 0;
	for (uint32_t t = 0; t < GGML_TYPE_COUNT; t++) {
		if (!ref[t].vec_dot) /* not a weight type */
			continue;
		CHECKF(synth_type_ok(t), "%s: synth cannot write it", ref[t].name);
		if (!synth_type_ok(t))
			continue;
		check_type(t, 0.02f);
		check_type(t, 3.0f);
		n++;
	}
	CHECKF(n == 25, "%d weight types, expected 25", n);
	CHECK(!synth_type_ok(GGML_Q8_K)); /* activation formats are not weights */
	CHECK(!synth_type_ok(GGML_Q8_1));
	return test_done("test-synth-blocks");
}
