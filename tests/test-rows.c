/* test-rows.c - kernels-rows.h's SIMD attention and SwiGLU against scalar
 * code written as forward.c's attend() and silu(), bit for bit.
 *
 * For each level this CPU runs (avx2; avx512 on top of it), with that
 * level's vec_dot_f16: groups of 1 to 8 queries, head sizes with and
 * without a tail past the dot product's unroll, runs of positions around
 * the kernel's blocks of 64, and scores spread wide enough that the
 * softmax's exp meets arguments past -88 (glibc's special path) and
 * -inf (the first position). SwiGLU with ordinary, large (|n| past 126 and
 * 192), zero and tail inputs. Skipped (77) off x86 or without AVX2. */

#include "cpu.h"
#include "kernels-rows.h"
#include "kernels.h"
#include "quant.h"
#include "test.h"

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test-rng.h"

static float unif(float lo, float hi)
{
	return lo + (hi - lo) * (float)((double)(rnd() >> 11) * 0x1p-53);
}

/* attend()'s F16 path without the sink and the final division */
static void attend_ref(const struct qtype *t, const struct attn_f16 *a, float *out, float *m, float *s)
{
	float *qh = malloc((size_t)a->dk * sizeof *qh);
	uint16_t *acc = malloc((size_t)a->dv * sizeof *acc);
	if (!qh || !acc)
		abort();
	for (int j = 0; j < a->g; j++) {
		for (int d = 0; d < a->dk; d++)
			qh[d] = fp16_to_fp32(fp32_to_fp16(a->q[(size_t)j * a->dk + d]));
		memset(acc, 0, (size_t)a->dv * sizeof *acc);
		float M = -INFINITY, S = 0.0f;
		for (int p = 0; p < a->nt; p++) {
			float sc, ms = 1.0f, vs = 1.0f;
			t[GGML_F16].vec_dot(a->dk, &sc, a->k + (size_t)p * a->ldk, qh);
			sc *= a->scale;
			bool up = sc > M;
			if (up) {
				ms = expf(M - sc);
				M = sc;
			} else {
				vs = expf(sc - M);
			}
			const uint16_t *v = (const uint16_t *)(const void *)(a->v + (size_t)p * a->ldv);
			for (int d = 0; d < a->dv; d++) {
				if (up)
					acc[d] = fp32_to_fp16(fp16_to_fp32(acc[d]) * ms);
				acc[d] = fp32_to_fp16(fmaf(fp16_to_fp32(v[d]), vs, fp16_to_fp32(acc[d])));
			}
			S = fmaf(S, ms, vs);
		}
		for (int d = 0; d < a->dv; d++)
			out[(size_t)j * a->dv + d] = fp16_to_fp32(acc[d]);
		m[j] = M;
		s[j] = S;
	}
	free(qh);
	free(acc);
}

static void test_attn(const char *level, const struct qtype *t, const struct rows_kernels *k)
{
	static const int gs[] = {1, 3, 4, 8}, dks[] = {128, 40, 576, 64}, dvs[] = {128, 16, 512, 48};
	static const int nts[] = {1, 2, 63, 64, 65, 130, 300};
	static const float spreads[] = {1.0f, 30.0f}; /* scores within a few units, or ranging past 88 */
	int cases = 0, bad = 0;
	for (size_t gi = 0; gi < sizeof gs / sizeof *gs; gi++)
		for (size_t di = 0; di < sizeof dks / sizeof *dks; di++)
			for (size_t ni = 0; ni < sizeof nts / sizeof *nts; ni++)
				for (size_t si = 0; si < 2; si++) {
					int g = gs[gi], dk = dks[di], dv = dvs[di], nt = nts[ni];
					size_t ldk = (size_t)dk * 2 + 32, ldv = (size_t)dv * 2 + 16;
					float *q = malloc((size_t)g * dk * sizeof *q);
					unsigned char *kc = malloc(ldk * nt), *vc = malloc(ldv * nt);
					float *qh = malloc((size_t)g * dk * sizeof *qh);
					uint16_t *acc = malloc((size_t)g * dv * sizeof *acc);
					float *out = malloc((size_t)g * dv * sizeof *out), *ref = malloc((size_t)g * dv * sizeof *ref);
					float m[ATTN_GMAX], s[ATTN_GMAX], mr[ATTN_GMAX], sr[ATTN_GMAX];
					if (!q || !kc || !vc || !qh || !acc || !out || !ref)
						abort();
					for (int i = 0; i < g * dk; i++)
						q[i] = unif(-1.0f, 1.0f) * spreads[si];
					for (int p = 0; p < nt; p++) {
						uint16_t *kr = (uint16_t *)(void *)(kc + (size_t)p * ldk);
						uint16_t *vr = (uint16_t *)(void *)(vc + (size_t)p * ldv);
						float mag = unif(0.0f, 1.0f) < 0.1f ? 8.0f : 1.0f;
						for (int d = 0; d < dk; d++)
							kr[d] = fp32_to_fp16(unif(-mag, mag));
						for (int d = 0; d < dv; d++)
							vr[d] = fp32_to_fp16(unif(-4.0f, 4.0f));
					}
					struct attn_f16 a = {.g = g, .dk = dk, .dv = dv, .nt = nt, .q = q, .k = kc, .v = vc,
							     .ldk = ldk, .ldv = ldv, .scale = 1.0f / sqrtf((float)dk),
							     .qh = qh, .acc = acc, .out = out, .m = m, .s = s,
							     .fetch = nt % 2 == 1}; /* decode's prefetch, half the cases */
					k->attn_f16(&a);
					attend_ref(t, &a, ref, mr, sr);
					cases++;
					if (memcmp(out, ref, (size_t)g * dv * sizeof *out) || memcmp(m, mr, g * sizeof *m) ||
					    memcmp(s, sr, g * sizeof *s)) {
						if (bad++ < 5)
							fprintf(stderr, "%s: attention g %d dk %d dv %d positions %d spread %g differs\n",
								level, g, dk, dv, nt, spreads[si]);
					}
					free(q), free(kc), free(vc), free(qh), free(acc), free(out), free(ref);
				}
	CHECKF(bad == 0, "%s: %d of %d attention cases differ", level, bad, cases);
	printf("%s: attention, %d cases\n", level, cases);
}

/* forward.c's silu() at the AVX2 (avx512 false) or AVX-512 level */
static float silu_ref(float x, bool avx512)
{
	float m = 0.0f - x;
	float z = fmaf(m, 0x1.715476p+0f, 0x1.8p23f), n = z - 0x1.8p23f;
	float b = fmaf(-n, 0x1.7f7d1cp-20f, fmaf(-n, 0x1.62e4p-1f, m)), u = b * b;
	float j = fmaf(fmaf(fmaf(0x1.0e4020p-7f, b, 0x1.573e2ep-5f), u, fmaf(0x1.555e66p-3f, b, 0x1.fffdb6p-2f)), u,
		       avx512 ? fmaf(0x1.ffffecp-1f, b, 1.0f) : 0x1.ffffecp-1f * b);
	float e;
	if (avx512) {
		e = fabsf(n) > 192 ? (n > 0 ? INFINITY : 0.0f) : ldexpf(j, (int)n);
	} else if (fabsf(n) > 126) {
		e = expf(m);
	} else {
		float kk = ldexpf(1.0f, (int)n);
		e = fmaf(j, kk, kk);
	}
	return x / (1.0f + e);
}

static void test_swiglu(const char *level, const struct rows_kernels *k, bool avx512)
{
	enum { N = 4099 }; /* not a multiple of 8 or 16: the tail */
	float *x = malloc(N * sizeof *x), *y = malloc(N * sizeof *y), *ref = malloc(N * sizeof *ref);
	if (!x || !y || !ref)
		abort();
	for (int i = 0; i < N; i++) {
		float r = unif(0.0f, 1.0f);
		x[i] = r < 0.05f ? unif(-200.0f, 200.0f) : r < 0.1f ? 0.0f : unif(-12.0f, 12.0f);
		y[i] = unif(-3.0f, 3.0f);
		ref[i] = silu_ref(x[i], avx512) * y[i];
	}
	k->swiglu(x, y, N);
	int bad = 0;
	for (int i = 0; i < N; i++)
		if (memcmp(&x[i], &ref[i], sizeof *x) != 0 && bad++ < 5)
			fprintf(stderr, "%s: swiglu element %d: %a, expected %a\n", level, i, x[i], ref[i]);
	CHECKF(bad == 0, "%s: %d of %d SwiGLU elements differ", level, bad, N);
	printf("%s: swiglu, %d elements\n", level, N);
	free(x), free(y), free(ref);
}

int main(void)
{
	const struct cpu_features *cpu = cpu_features();
	static struct qtype t[GGML_TYPE_COUNT];
	struct rows_kernels k = {0};
	quant_table_ref(t);
	if (!cpu->can_avx2 || !kernels_avx2_install(t) || !kernels_rows_avx2_install(&k)) {
		printf("test-rows: skipped, no AVX2 kernels here\n");
		return 77;
	}
	test_attn("avx2", t, &k);
	test_swiglu("avx2", &k, false);
	if (cpu->can_avx512 && kernels_avx512_install(t) && kernels_rows_avx512_install(&k)) {
		test_attn("avx512", t, &k);
		test_swiglu("avx512", &k, true);
	} else {
		printf("avx512: skipped, this CPU/OS cannot run it or built without it\n");
	}
	return test_done("test-rows");
}
