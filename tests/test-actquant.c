/* test-actquant.c - activations are quantized to 8 bits exactly as
 * llama.cpp's x86 CPU backend quantizes them (issue 18).
 *
 * ggml's Q8_0/Q8_1 quantizers on x86 multiply by 127/amax and round to
 * nearest even; its Q8_K quantizer (every K and IQ type's activations)
 * multiplies by iscale = -127/max (max: the element of largest magnitude,
 * signed), rounds to nearest even and stores d = 1/iscale. heft used the
 * multiplier 1/(amax/127), which differs from 127/amax in the last bit for
 * about one amax in three; then some element lands on the other side of a
 * rounding boundary, and that one unit of the 8-bit activation is noise the
 * size of the quantization error of a whole product - amplified through
 * the layers and the routers, it kept heft's low-bit logits several times
 * farther from llama.cpp's than llama.cpp's own two CPU paths are apart.
 *
 * The expected blocks are computed here from that definition; both the
 * reference table and the active (SIMD) table must produce them bit for
 * bit (Q8_K up to the common sign of d and q, which ggml flips when max is
 * positive: every product is unchanged by it). Blocks are random, and
 * built with elements on rounding boundaries where the two multipliers
 * disagree, so the test fails for the old arithmetic. */
#include "quant.h"
#include "test.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

static uint64_t rng = 0x9e3779b97f4a7c15u;

static float frand(void) /* [-1, 1) */
{
	rng = rng * 6364136223846793005u + 1442695040888963407u;
	return (float)((double)(rng >> 40) / (double)(1u << 23) - 1.0);
}

/* ggml's nearest_int: round to nearest even through the float mantissa. */
static int nearest(float v)
{
	float t = v + 12582912.f;
	int32_t i;
	memcpy(&i, &t, sizeof i);
	return (i & 0x007fffff) - 0x00400000;
}

static uint16_t f16(float x)
{
	return fp32_to_fp16(x);
}

/* A block of n floats; with `boundary`, elements placed where q = x * 127/amax
 * and q = x / (amax/127) round differently, when this amax has such points. */
static void make_block(float *x, int n, bool boundary)
{
	float scale = ldexpf(1.0f, (int)(frand() * 8));
	for (int j = 0; j < n; j++)
		x[j] = frand() * scale;
	if (!boundary)
		return;
	float amax = 0;
	for (int j = 0; j < n; j++)
		amax = fmaxf(amax, fabsf(x[j]));
	float m_new = 127 / amax, m_old = 1 / (amax / 127);
	if (m_new == m_old)
		return;
	for (int j = 0, k = 1; j < n && k < 127; j++) {
		if (fabsf(x[j]) == amax)
			continue;
		/* the float nearest to (k + 0.5) / m_new, nudged until the two disagree */
		float v = ((float)k + 0.5f) / m_new;
		for (int step = 0; step < 8 && nearest(v * m_new) == nearest(v * m_old); step++)
			v = nextafterf(v, step & 1 ? 0.0f : INFINITY);
		x[j] = v;
		k += 3;
	}
}

static int old_disagrees;

static void check_q8_0(const struct qtype *t, const char *tab, const float *x)
{
	float amax = 0;
	for (int j = 0; j < 32; j++)
		amax = fmaxf(amax, fabsf(x[j]));
	float id = amax ? 127 / amax : 0, d = amax / 127, id_old = d ? 1 / d : 0;
	struct block_q8_0 b;
	t[GGML_Q8_0].from_float(x, &b, 32);
	bool same = b.d == f16(d);
	for (int j = 0; j < 32; j++) {
		same &= b.qs[j] == nearest(x[j] * id);
		old_disagrees += nearest(x[j] * id) != nearest(x[j] * id_old);
	}
	CHECKF(same, "%s Q8_0: block with amax %.9g not quantized as ggml's x86 quantize_row_q8_0", tab, amax);
}

static void check_q8_1(const struct qtype *t, const char *tab, const float *x)
{
	float amax = 0;
	for (int j = 0; j < 32; j++)
		amax = fmaxf(amax, fabsf(x[j]));
	float id = amax ? 127 / amax : 0, d = amax / 127;
	struct block_q8_1 b;
	t[GGML_Q8_1].from_float(x, &b, 32);
	int sum = 0;
	bool same = b.d == f16(d);
	for (int j = 0; j < 32; j++) {
		same &= b.qs[j] == nearest(x[j] * id);
		sum += nearest(x[j] * id);
	}
	same &= b.s == f16(d * (float)sum);
	CHECKF(same, "%s Q8_1: block with amax %.9g not quantized as ggml's x86 quantize_row_q8_1", tab, amax);
}

static void check_q8_K(const struct qtype *t, const char *tab, const float *x)
{
	float max = 0, amax = 0;
	for (int j = 0; j < QK_K; j++)
		if (fabsf(x[j]) > amax) {
			amax = fabsf(x[j]);
			max = x[j];
		}
	float iscale = -127.f / max, d = 1 / iscale, d_old = amax / 127, id_old = 1 / d_old;
	struct block_q8_K b;
	t[GGML_Q8_K].from_float(x, &b, QK_K);
	float sign = (b.d < 0) == (d < 0) ? 1.0f : -1.0f; /* ggml's sign convention or its mirror */
	bool same = b.d * sign == d;
	for (int j = 0; j < QK_K; j++) {
		int v = nearest(iscale * x[j]);
		same &= b.qs[j] * (int)sign == (v < 127 ? v : 127);
		old_disagrees += nearest(x[j] * id_old) != nearest(fabsf(iscale) * x[j]);
	}
	for (int g = 0; g < QK_K / 16; g++) {
		int s = 0;
		for (int j = 0; j < 16; j++)
			s += b.qs[16 * g + j];
		same &= b.bsums[g] == s;
	}
	CHECKF(same, "%s Q8_K: block with amax %.9g not quantized as ggml's quantize_row_q8_K", tab, amax);
}

static void run(const struct qtype *t, const char *tab)
{
	float x[QK_K];
	for (int i = 0; i < 2000; i++) {
		make_block(x, 32, i & 1);
		check_q8_0(t, tab, x);
		check_q8_1(t, tab, x);
		make_block(x, QK_K, i & 1);
		check_q8_K(t, tab, x);
	}
	/* an all-zero block quantizes to zeros with d = 0 */
	memset(x, 0, sizeof x);
	struct block_q8_K b;
	t[GGML_Q8_K].from_float(x, &b, QK_K);
	CHECK(b.d == 0 && b.qs[0] == 0 && b.qs[QK_K - 1] == 0 && b.bsums[0] == 0);
}

int main(void)
{
	static struct qtype ref[GGML_TYPE_COUNT];
	const char *level = quant_init();
	quant_table_ref(ref);
	run(ref, "reference");
	/* the old multiplier 1/(amax/127) must have rounded some element of
	 * these blocks differently, or this test could not fail */
	CHECKF(old_disagrees > 100, "only %d elements separate the two multipliers", old_disagrees);
	if (strcmp(level, "none"))
		run(qtypes, level);
	return test_done("test-actquant");
}
