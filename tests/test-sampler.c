/* test-sampler.c - the sampler's filters, penalties, seeding and
 * distribution. */
#include "sampler.h"
#include "test.h"
#include "util.h"

#include <math.h>
#include <string.h>

static struct sampler_params plain(float temp, int64_t seed)
{
	struct sampler_params p = sampler_params_default();
	p.temp = temp;
	p.top_k = 0;
	p.top_p = 1.0f;
	p.min_p = 0.0f;
	p.seed = seed;
	return p;
}

static int draw(struct sampler *s, const float *logits, int n)
{
	float tmp[64];
	memcpy(tmp, logits, (size_t)n * sizeof(*tmp));
	return sampler_sample(s, tmp);
}

static void test_greedy(void)
{
	float l[6] = {0.5f, 2.0f, -1.0f, 2.0f, 1.9f, 0.0f};
	struct sampler_params p = plain(0.0f, 1);
	struct sampler *s = sampler_new(6, &p);
	for (int i = 0; i < 20; i++)
		CHECK(draw(s, l, 6) == 1); /* tie 1/3: lowest id */
	p.temp = -1.0f;
	sampler_set_params(s, &p);
	CHECK(draw(s, l, 6) == 1);
	sampler_free(s);
	CHECK(sampler_new(0, &p) == NULL);
}

static void test_top_k(void)
{
	enum { N = 1000 };
	static float l[N];
	for (int i = 0; i < N; i++)
		l[i] = (float)((i * 7919) % N) / 100.0f; /* a permutation of 0..9.99 */
	struct sampler_params p = plain(5.0f, 42); /* hot: spreads the draws */
	p.top_k = 5;
	struct sampler *s = sampler_new(N, &p);
	static float tmp[N];
	int seen[N] = {0}, distinct = 0;
	for (int d = 0; d < 5000; d++) {
		memcpy(tmp, l, sizeof(l));
		int t = sampler_sample(s, tmp);
		CHECK(t >= 0 && t < N);
		CHECKF(l[t] >= 9.95f - 1e-4f, "token %d logit %g outside the top 5", t, l[t]);
		if (!seen[t]++)
			distinct++;
	}
	CHECK(distinct == 5);
	/* k = 1 is greedy */
	p.top_k = 1;
	sampler_set_params(s, &p);
	memcpy(tmp, l, sizeof(l));
	int t = sampler_sample(s, tmp);
	CHECK(l[t] > 9.98f);
	sampler_free(s);
}

static void test_top_p_min_p(void)
{
	/* probabilities 0.5, 0.25, 0.125, 0.0625, 0.0625 */
	float l[5];
	const double pr[5] = {0.5, 0.25, 0.125, 0.0625, 0.0625};
	for (int i = 0; i < 5; i++)
		l[i] = (float)log(pr[i]);
	struct sampler_params p = plain(1.0f, 7);
	p.top_p = 0.7f; /* 0.5 < 0.7 <= 0.75: keeps {0, 1} */
	struct sampler *s = sampler_new(5, &p);
	int seen[5] = {0};
	for (int d = 0; d < 2000; d++)
		seen[draw(s, l, 5)]++;
	CHECK(seen[0] > 0 && seen[1] > 0);
	CHECK(seen[2] == 0 && seen[3] == 0 && seen[4] == 0);
	/* renormalised: 2/3 vs 1/3 */
	CHECKF(fabs(seen[0] / 2000.0 - 2.0 / 3) < 0.05, "top-p share %d", seen[0]);

	p.top_p = 0.3f; /* the first token alone */
	sampler_set_params(s, &p);
	for (int d = 0; d < 200; d++)
		CHECK(draw(s, l, 5) == 0);

	p.top_p = 1.0f;
	p.min_p = 0.2f; /* p >= 0.1: {0, 1, 2} */
	sampler_set_params(s, &p);
	memset(seen, 0, sizeof(seen));
	for (int d = 0; d < 4000; d++)
		seen[draw(s, l, 5)]++;
	CHECK(seen[0] && seen[1] && seen[2]);
	CHECK(seen[3] == 0 && seen[4] == 0);

	p.min_p = 0.6f; /* only token 0 (0.25/0.5 < 0.6) */
	sampler_set_params(s, &p);
	for (int d = 0; d < 200; d++)
		CHECK(draw(s, l, 5) == 0);
	sampler_free(s);
}

static void test_seed(void)
{
	float l[8] = {1, 2, 3, 4, 4, 3, 2, 1};
	struct sampler_params p = plain(1.0f, 1234);
	struct sampler *a = sampler_new(8, &p), *b = sampler_new(8, &p);
	p.seed = 1235;
	struct sampler *c = sampler_new(8, &p);
	int seq_a[64], same_c = 0;
	for (int i = 0; i < 64; i++) {
		seq_a[i] = draw(a, l, 8);
		CHECK(seq_a[i] == draw(b, l, 8));
		same_c += seq_a[i] == draw(c, l, 8);
	}
	CHECKF(same_c < 40, "different seeds agreed on %d of 64", same_c);
	sampler_reset(a);
	for (int i = 0; i < 64; i++)
		CHECK(draw(a, l, 8) == seq_a[i]);
	CHECK(sampler_seed(a) == 1234);
	sampler_free(a);
	sampler_free(b);
	sampler_free(c);
	/* seed -1 draws a seed */
	p.seed = -1;
	struct sampler *r = sampler_new(8, &p);
	int t = draw(r, l, 8);
	CHECK(t >= 0 && t < 8);
	sampler_free(r);
}

/* Frequencies over 10,000 draws against softmax(logits / T): Pearson's
 * chi-square with 7 degrees of freedom; 24.32 is the 0.999 quantile. */
static void test_distribution(void)
{
	const float l[8] = {0.0f, 0.5f, 1.0f, 1.5f, -0.5f, 2.0f, 0.25f, -1.0f};
	const float temps[3] = {1.0f, 0.7f, 1.5f};
	for (int ti = 0; ti < 3; ti++) {
		float T = temps[ti];
		struct sampler_params p = plain(T, 2024 + ti);
		struct sampler *s = sampler_new(8, &p);
		int cnt[8] = {0};
		const int draws = 10000;
		for (int d = 0; d < draws; d++)
			cnt[draw(s, l, 8)]++;
		double z = 0, expect[8];
		for (int i = 0; i < 8; i++)
			z += exp(l[i] / T);
		double chi2 = 0;
		for (int i = 0; i < 8; i++) {
			expect[i] = draws * exp(l[i] / T) / z;
			chi2 += (cnt[i] - expect[i]) * (cnt[i] - expect[i]) / expect[i];
			CHECKF(fabs(cnt[i] - expect[i]) < 5 * sqrt(expect[i]) + 5,
			       "T=%g token %d: %d vs %.1f", T, i, cnt[i], expect[i]);
		}
		CHECKF(chi2 < 24.32, "T=%g chi-square %.2f", T, chi2);
		sampler_free(s);
	}
}

static void test_penalties(void)
{
	struct sampler_params p = plain(0.0f, 1);
	p.repeat_penalty = 2.0f;
	p.repeat_last_n = 3;
	struct sampler *s = sampler_new(4, &p);
	float l[4] = {4.0f, -1.0f, 3.0f, 1.0f};
	sampler_accept(s, 0);
	sampler_accept(s, 1);
	sampler_sample(s, l);
	CHECK(l[0] == 2.0f);  /* positive: divided */
	CHECK(l[1] == -2.0f); /* negative: multiplied */
	CHECK(l[2] == 3.0f && l[3] == 1.0f);

	/* greedy now picks 2 (3.0 > 2.0) */
	float l2[4] = {4.0f, -1.0f, 3.0f, 1.0f};
	CHECK(sampler_sample(s, l2) == 2);

	/* the window is 3: after three more tokens 0 is forgotten */
	sampler_accept(s, 3);
	sampler_accept(s, 3);
	sampler_accept(s, 3);
	float l3[4] = {4.0f, -1.0f, 3.0f, 1.0f};
	sampler_sample(s, l3);
	CHECK(l3[0] == 4.0f && l3[1] == -1.0f);
	CHECK(l3[3] == 0.5f); /* penalised once, not three times */

	/* presence and frequency: l -= count * freq + presence */
	p.repeat_penalty = 1.0f;
	p.presence_penalty = 0.5f;
	p.frequency_penalty = 0.25f;
	p.repeat_last_n = 8;
	sampler_set_params(s, &p); /* a new window starts empty */
	sampler_accept(s, 2);
	sampler_accept(s, 2);
	sampler_accept(s, 1);
	float l4[4] = {4.0f, -1.0f, 3.0f, 1.0f};
	sampler_sample(s, l4);
	CHECK(l4[0] == 4.0f);
	CHECK(l4[2] == 3.0f - 0.5f - 0.5f);
	CHECK(l4[1] == -1.0f - 0.25f - 0.5f);
	CHECK(l4[3] == 1.0f);

	/* penalties change the sampled probabilities: token 0 vs 1 equal logits,
	 * 0 penalised by 2 => p0/p1 = e^(1-2) */
	struct sampler_params q = plain(1.0f, 99);
	q.repeat_penalty = 2.0f;
	q.repeat_last_n = 4;
	struct sampler *t = sampler_new(2, &q);
	sampler_accept(t, 0);
	float base[2] = {2.0f, 2.0f};
	int c0 = 0;
	for (int d = 0; d < 10000; d++)
		c0 += draw(t, base, 2) == 0;
	double want = 10000 * exp(1.0) / (exp(1.0) + exp(2.0));
	CHECKF(fabs(c0 - want) < 5 * sqrt(want), "penalised share %d vs %.0f", c0, want);
	sampler_free(t);

	sampler_accept(s, -5);  /* out of range: ignored */
	sampler_accept(s, 400);
	sampler_free(s);
}

static void test_nan_inf(void)
{
	struct sampler_params p = plain(1.0f, 5);
	struct sampler *s = sampler_new(4, &p);
	for (int d = 0; d < 500; d++) {
		float l[4] = {NAN, 1.0f, NAN, 0.5f};
		int t = sampler_sample(s, l);
		CHECK(t == 1 || t == 3);
	}
	float all_nan[4] = {NAN, NAN, NAN, NAN};
	int t = sampler_sample(s, all_nan);
	CHECK(t >= 0 && t < 4);
	float all_ninf[4] = {-INFINITY, -INFINITY, -INFINITY, -INFINITY};
	t = sampler_sample(s, all_ninf);
	CHECK(t >= 0 && t < 4);
	float pinf[4] = {0.0f, INFINITY, NAN, 3.0f};
	CHECK(sampler_sample(s, pinf) == 1);
	/* greedy with NaN */
	p.temp = 0.0f;
	sampler_set_params(s, &p);
	float g[4] = {NAN, -2.0f, NAN, -3.0f};
	CHECK(sampler_sample(s, g) == 1);
	float gn[4] = {NAN, NAN, NAN, NAN};
	t = sampler_sample(s, gn);
	CHECK(t >= 0 && t < 4);
	/* all filters together with NaN */
	p = sampler_params_default();
	p.seed = 3;
	sampler_set_params(s, &p);
	for (int d = 0; d < 200; d++) {
		float l[4] = {NAN, 1.0f, -INFINITY, 0.9f};
		t = sampler_sample(s, l);
		CHECK(t == 1 || t == 3);
	}
	sampler_free(s);
}

/* A vocabulary of 150k with default settings: runs, stays in range. */
static void test_large_vocab(void)
{
	enum { N = 151936 };
	float *l = xmalloc(N * sizeof(*l));
	struct sampler_params p = sampler_params_default();
	p.seed = 11;
	struct sampler *s = sampler_new(N, &p);
	uint64_t x = 1;
	for (int d = 0; d < 20; d++) {
		for (int i = 0; i < N; i++) {
			x = x * 6364136223846793005ULL + 1442695040888963407ULL;
			l[i] = (float)((x >> 40) & 0xffff) / 4096.0f;
		}
		int t = sampler_sample(s, l);
		CHECK(t >= 0 && t < N);
		sampler_accept(s, t);
	}
	sampler_free(s);
	free(l);
}

int main(void)
{
	test_greedy();
	test_top_k();
	test_top_p_min_p();
	test_seed();
	test_distribution();
	test_penalties();
	test_nan_inf();
	test_large_vocab();
	return test_done("test-sampler");
}
