/* sampler.c - penalties, top-k, top-p, min-p, temperature, seeded draw. */
#include "sampler.h"

#include "util.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct cand {
	float logit;
	int id;
};

struct sampler {
	int n_vocab;
	struct sampler_params p;
	uint64_t seed;
	uint64_t rng[4];
	struct cand *cand; /* n_vocab */
	float *prob;       /* n_vocab */
	int32_t *count;    /* per token, occurrences in the window */
	int *ring;         /* last repeat_last_n tokens */
	int ring_cap, ring_len, ring_head;
};

struct sampler_params sampler_params_default(void)
{
	return (struct sampler_params){
		.temp = 0.8f, .top_k = 40, .top_p = 0.95f, .min_p = 0.05f,
		.repeat_penalty = 1.0f, .repeat_last_n = 64, .seed = -1,
	};
}

/* ---- xoshiro256**, seeded by splitmix64 ---- */

static uint64_t rng_next(uint64_t s[4])
{
	uint64_t r = rotl64(s[1] * 5, 7) * 9;
	xoshiro256_advance(s);
	return r;
}

/* Uniform in [0, 1) with 53 random bits. */
static double rng_uniform(uint64_t s[4])
{
	return (double)(rng_next(s) >> 11) * 0x1.0p-53;
}

static void reseed(struct sampler *s)
{
	uint64_t x = s->seed;
	for (int i = 0; i < 4; i++)
		s->rng[i] = splitmix64(&x);
}

static uint64_t clock_seed(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	uint64_t x = (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
	x ^= (uint64_t)getpid() << 32;
	return splitmix64(&x);
}

/* ---- lifetime ---- */

static void alloc_ring(struct sampler *s)
{
	int cap = s->p.repeat_last_n > 0 ? s->p.repeat_last_n : 0;
	free(s->ring);
	s->ring = cap ? xcalloc((size_t)cap, sizeof(*s->ring)) : NULL;
	s->ring_cap = cap;
	s->ring_len = s->ring_head = 0;
	memset(s->count, 0, (size_t)s->n_vocab * sizeof(*s->count));
}

struct sampler *sampler_new(int n_vocab, const struct sampler_params *p)
{
	if (n_vocab < 1)
		return NULL;
	struct sampler *s = xcalloc(1, sizeof(*s));
	s->n_vocab = n_vocab;
	s->p = p ? *p : sampler_params_default();
	s->cand = xcalloc((size_t)n_vocab, sizeof(*s->cand));
	s->prob = xcalloc((size_t)n_vocab, sizeof(*s->prob));
	s->count = xcalloc((size_t)n_vocab, sizeof(*s->count));
	alloc_ring(s);
	s->seed = s->p.seed < 0 ? clock_seed() : (uint64_t)s->p.seed;
	reseed(s);
	return s;
}

void sampler_free(struct sampler *s)
{
	if (!s)
		return;
	free(s->cand);
	free(s->prob);
	free(s->count);
	free(s->ring);
	free(s);
}

void sampler_set_params(struct sampler *s, const struct sampler_params *p)
{
	bool new_seed = p->seed != s->p.seed;
	bool new_window = p->repeat_last_n != s->p.repeat_last_n;
	s->p = *p;
	if (new_window)
		alloc_ring(s); /* a changed window starts empty: counts must match it */
	if (new_seed) {
		s->seed = p->seed < 0 ? clock_seed() : (uint64_t)p->seed;
		reseed(s);
	}
}

const struct sampler_params *sampler_get_params(const struct sampler *s)
{
	return &s->p;
}

uint64_t sampler_seed(const struct sampler *s)
{
	return s->seed;
}

void sampler_reset(struct sampler *s)
{
	memset(s->count, 0, (size_t)s->n_vocab * sizeof(*s->count));
	s->ring_len = s->ring_head = 0;
	reseed(s);
}

void sampler_accept(struct sampler *s, int token)
{
	if (token < 0 || token >= s->n_vocab || s->p.repeat_last_n == 0)
		return;
	if (s->p.repeat_last_n < 0) { /* whole history: counts only grow */
		if (s->count[token] < INT32_MAX)
			s->count[token]++;
		return;
	}
	if (s->ring_len == s->ring_cap) {
		s->count[s->ring[s->ring_head]]--;
		s->ring_len--;
	}
	s->ring[s->ring_head] = token;
	s->ring_head = (s->ring_head + 1) % s->ring_cap;
	s->ring_len++;
	s->count[token]++;
}

/* ---- the chain ---- */

static void sanitize(float *logits, int n)
{
	for (int i = 0; i < n; i++) {
		if (isnan(logits[i]))
			logits[i] = -INFINITY;
		else if (logits[i] == INFINITY)
			logits[i] = FLT_MAX;
	}
}

static void apply_penalties(struct sampler *s, float *logits)
{
	const struct sampler_params *p = &s->p;
	if (p->repeat_last_n == 0 ||
	    (p->repeat_penalty == 1.0f && p->presence_penalty == 0.0f && p->frequency_penalty == 0.0f))
		return;
	for (int i = 0; i < s->n_vocab; i++) {
		int32_t c = s->count[i];
		if (c <= 0 || logits[i] == -INFINITY)
			continue;
		float l = logits[i];
		if (p->repeat_penalty > 0.0f && p->repeat_penalty != 1.0f)
			l = l > 0.0f ? l / p->repeat_penalty : l * p->repeat_penalty;
		l -= (float)c * p->frequency_penalty + p->presence_penalty;
		logits[i] = isnan(l) ? -INFINITY : l;
	}
}

/* Candidate order: higher logit first, lower id on ties. */
static bool before(const struct cand *a, const struct cand *b)
{
	return a->logit > b->logit || (a->logit == b->logit && a->id < b->id);
}

static int cmp_cand(const void *pa, const void *pb)
{
	const struct cand *a = pa, *b = pb;
	return before(a, b) ? -1 : before(b, a) ? 1 : 0;
}

static void swap(struct cand *a, struct cand *b)
{
	struct cand t = *a;
	*a = *b;
	*b = t;
}

/* Move the k best candidates to c[0..k) (in no particular order):
 * quickselect, expected O(n). */
static void select_top(struct cand *c, int n, int k)
{
	int lo = 0, hi = n - 1;
	while (lo < hi) {
		int mid = lo + (hi - lo) / 2;
		/* median of three as the pivot, moved to hi */
		if (before(&c[mid], &c[lo]))
			swap(&c[mid], &c[lo]);
		if (before(&c[hi], &c[lo]))
			swap(&c[hi], &c[lo]);
		if (before(&c[mid], &c[hi]))
			swap(&c[mid], &c[hi]);
		struct cand pivot = c[hi];
		int store = lo;
		for (int i = lo; i < hi; i++)
			if (before(&c[i], &pivot))
				swap(&c[i], &c[store++]);
		swap(&c[store], &c[hi]);
		if (store == k - 1 || store == k)
			return;
		if (store < k)
			lo = store + 1;
		else
			hi = store - 1;
	}
}

static int argmax(const float *logits, int n)
{
	int best = 0;
	for (int i = 1; i < n; i++)
		if (logits[i] > logits[best] || (logits[best] == -INFINITY && logits[i] > -INFINITY))
			best = i;
	return best;
}

/* softmax of c[0..n).logit / temp into prob; returns the sum before
 * normalising (the max logit maps to exp(0) = 1). */
static void softmax(const struct cand *c, int n, float temp, float *prob)
{
	float max = c[0].logit;
	for (int i = 1; i < n; i++)
		if (c[i].logit > max)
			max = c[i].logit;
	double sum = 0;
	for (int i = 0; i < n; i++) {
		prob[i] = expf((c[i].logit - max) / temp);
		sum += prob[i];
	}
	for (int i = 0; i < n; i++)
		prob[i] = (float)(prob[i] / sum);
}

int sampler_sample(struct sampler *s, float *logits)
{
	const struct sampler_params *p = &s->p;
	int nv = s->n_vocab;
	sanitize(logits, nv);
	apply_penalties(s, logits);
	if (!(p->temp > 0.0f))
		return argmax(logits, nv);

	int n = 0;
	for (int i = 0; i < nv; i++)
		if (logits[i] > -INFINITY)
			s->cand[n++] = (struct cand){logits[i], i};
	if (n == 0)
		return 0;
	struct cand *c = s->cand;

	if (p->top_k > 0 && p->top_k < n) {
		select_top(c, n, p->top_k);
		n = p->top_k;
	}
	if (p->top_p < 1.0f && n > 1) {
		qsort(c, (size_t)n, sizeof(*c), cmp_cand);
		softmax(c, n, 1.0f, s->prob);
		double cum = 0;
		int keep = n;
		for (int i = 0; i < n; i++) {
			cum += s->prob[i];
			if (cum >= p->top_p) {
				keep = i + 1;
				break;
			}
		}
		n = keep;
	}
	if (p->min_p > 0.0f && n > 1) {
		float max = c[0].logit;
		for (int i = 1; i < n; i++)
			if (c[i].logit > max)
				max = c[i].logit;
		/* p_i >= min_p * p_max  <=>  logit_i >= max + log(min_p) */
		float thresh = max + logf(p->min_p);
		int m = 0;
		for (int i = 0; i < n; i++)
			if (c[i].logit >= thresh)
				c[m++] = c[i];
		n = m > 0 ? m : 1;
	}
	softmax(c, n, p->temp, s->prob);
	double u = rng_uniform(s->rng), cum = 0;
	for (int i = 0; i < n; i++) {
		cum += s->prob[i];
		if (u < cum)
			return c[i].id;
	}
	return c[n - 1].id; /* rounding left u above the last sum */
}
