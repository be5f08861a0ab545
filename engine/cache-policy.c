/* cache-policy.c - the expert cache's replacement policies (see
 * cache-policy.h). */
#include "cache-policy.h"

#include "cache-policies.h"
#include "util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* The names are src/cache-policies.h's, shared with the protocol and the
 * front end; each lands on its own constant, and every constant has one. */
const char *const cache_policy_names[CACHE_NPOLICIES] = {
#define POLICY_NAME(id, name) [CACHE_##id] = name,
	CACHE_POLICIES(POLICY_NAME)
#undef POLICY_NAME
};
#define POLICY_ONE(id, name) +1
_Static_assert(0 CACHE_POLICIES(POLICY_ONE) == CACHE_NPOLICIES, "a policy without a name (src/cache-policies.h)");
#undef POLICY_ONE

/* lrfu's state. Clocks are per layer (the layer's uses so far), so that
 * the cyclic layer order does not make one layer's experts look older
 * than another's. */
struct lrfu {
	double *crf;       /* per expert (key): decayed use count at crf_at */
	uint64_t *crf_at;
	uint64_t *clock;   /* per layer */
	bool *moe;         /* per layer: it has experts, and so a quota */
	int n_moe;
	int depth;         /* stack distances tracked per layer */
	int *stack;        /* [layer][depth]: keys, the most recent first; -1 */
	double *gain;      /* [layer][depth]: uses at each stack distance, decayed */
	int floor;         /* the fewest slots a MoE layer keeps */
	uint64_t period;   /* uses between two deals; 0: too few slots to deal */
	/* Per layer, two shadow caches of its quota's size, tags only: one
	 * LRU (the recency stack's top), one by the counts. Inside the
	 * layer, the real cache follows whichever caught more recent uses. */
	int *shadow;       /* [layer][n_slots]: the counts' shadow's keys */
	int *n_shadow;
	double *score;     /* [layer][2]: decayed shadow hits, LRU then counts */
	bool *recency;     /* per layer: LRU inside it now */
	uint64_t *visit;   /* per layer: its clock when its current visit began */
	uint64_t *n_visit; /* per layer: its visits so far */
	uint64_t *last_tick; /* per layer: the cache's tick at its last use */
	struct irm *irm;   /* per layer: does the order say more than popularity? */
	/* Per expert, a decayed count like crf's of the uses that are no
	 * repeat of the layer's previous decoded token: its popularity, which
	 * a repeat says nothing of. It rules inside a layer whose router
	 * repeats itself (irm.repeat) once the layer's quota holds three
	 * tokens' experts (lrfu_shadow sets pop). */
	double *pcrf;
	uint64_t *pcrf_at;
	bool *pop;         /* per layer: pcrf rules inside it now */
	int n_slots;
};

/* Per layer, a test of the independent reference model: a decoded token
 * shares as many experts with the previous token as with one IRM_BACK
 * tokens back when the router draws from a steady popularity (then the
 * counts are what an online policy can learn, and the LRU shadow only
 * wins by luck: A0, RESULTS.md), many more when it repeats itself. */
#define IRM_MAX 32  /* a visit with more experts is a prompt chunk's */
#define IRM_BACK 8
/* The router repeats the previous token's experts: the near overlap at
 * least twice the far one, and by IRM_REPEAT_Z times the spread the two
 * would show by chance (sqrt(near + far), as for counts), so that a layer
 * drawing independently does not pass (irm.py's IRM twins of RESULTS.md's
 * traces: z at most 4.0 on one shuffled twin, 3.1 on the others; the
 * realtrace.py traces 2.4-12.8, most of the time above 5). */
#define IRM_REPEAT_RATIO 2.0
#define IRM_REPEAT_Z 5.0
struct irm {
	int cur[IRM_MAX], n_cur;
	bool cur_ok;                    /* every use so far of one token */
	int ring[IRM_BACK][IRM_MAX], n_ring[IRM_BACK];
	uint64_t n_done;                /* decoded visits seen */
	double near, far;               /* decayed overlaps with 1 and IRM_BACK back */
	bool steady;                    /* IRM: counts, whatever the shadows say */
	bool repeat;                    /* it repeats the previous token's experts */
};

/* Uses after which a use counts half: 64 decoded tokens of 8 experts. */
#define LRFU_HALF_LIFE 512.0
/* How fast the shadows forget their hits: per use of the layer, so that
 * the last ~256 uses (32 tokens) decide. */
#define LRFU_SHADOW_KEEP (1.0 - 1.0 / 256)

static struct lrfu *lrfu_new(int n_slots, int n_layers, const bool *moe, int n_moe, int n_keys)
{
	struct lrfu *r = xcalloc(1, sizeof *r);
	int share = n_slots / MAX(n_moe, 1);
	r->moe = xcalloc((size_t)MAX(n_layers, 1), sizeof *r->moe);
	memcpy(r->moe, moe, (size_t)n_layers * sizeof *moe);
	r->n_moe = n_moe;
	r->crf = xcalloc((size_t)MAX(n_keys, 1), sizeof *r->crf);
	r->crf_at = xcalloc((size_t)MAX(n_keys, 1), sizeof *r->crf_at);
	r->clock = xcalloc((size_t)MAX(n_layers, 1), sizeof *r->clock);
	r->depth = MIN(MAX(4 * share, 16), 512);
	r->stack = xmalloc((size_t)MAX(n_layers, 1) * (size_t)r->depth * sizeof *r->stack);
	memset(r->stack, 0xff, (size_t)MAX(n_layers, 1) * (size_t)r->depth * sizeof *r->stack);
	r->gain = xcalloc((size_t)MAX(n_layers, 1) * (size_t)r->depth, sizeof *r->gain);
	r->floor = MAX(1, share / 4);
	r->period = n_moe && share >= 1 ? (uint64_t)MAX(n_slots, 64) : 0;
	r->n_slots = n_slots;
	r->shadow = xmalloc((size_t)MAX(n_layers, 1) * (size_t)MAX(n_slots, 1) * sizeof *r->shadow);
	r->n_shadow = xcalloc((size_t)MAX(n_layers, 1), sizeof *r->n_shadow);
	r->score = xcalloc((size_t)MAX(n_layers, 1) * 2, sizeof *r->score);
	r->recency = xcalloc((size_t)MAX(n_layers, 1), sizeof *r->recency);
	r->visit = xcalloc((size_t)MAX(n_layers, 1), sizeof *r->visit);
	r->n_visit = xcalloc((size_t)MAX(n_layers, 1), sizeof *r->n_visit);
	r->last_tick = xcalloc((size_t)MAX(n_layers, 1), sizeof *r->last_tick);
	r->irm = xcalloc((size_t)MAX(n_layers, 1), sizeof *r->irm);
	r->pcrf = xcalloc((size_t)MAX(n_keys, 1), sizeof *r->pcrf);
	r->pcrf_at = xcalloc((size_t)MAX(n_keys, 1), sizeof *r->pcrf_at);
	r->pop = xcalloc((size_t)MAX(n_layers, 1), sizeof *r->pop);
	return r;
}

static void lrfu_free(struct lrfu *r)
{
	if (!r)
		return;
	free(r->crf);
	free(r->crf_at);
	free(r->clock);
	free(r->moe);
	free(r->stack);
	free(r->gain);
	free(r->shadow);
	free(r->n_shadow);
	free(r->score);
	free(r->recency);
	free(r->visit);
	free(r->n_visit);
	free(r->last_tick);
	free(r->irm);
	free(r->pcrf);
	free(r->pcrf_at);
	free(r->pop);
	free(r);
}

void cpol_init(struct cpol *c, enum cache_policy policy, int n_slots, int n_layers, const bool *moe, int n_keys)
{
	c->n_keys = n_keys;
	c->hist = policy == CACHE_FREQ ? xcalloc((size_t)MAX(n_keys, 1), sizeof *c->hist) : NULL;
	c->lr = NULL;
	c->policy = policy;
	c->n_slots = n_slots;
	c->n_layers = n_layers;
	c->tick = 0;
	c->offline = false;
	c->slot = xcalloc((size_t)MAX(n_slots, 1), sizeof *c->slot);
	for (int i = 0; i < n_slots; i++)
		c->slot[i].layer = -1;
	c->quota = xcalloc((size_t)MAX(n_layers, 1), sizeof *c->quota);
	c->occ = xcalloc((size_t)MAX(n_layers, 1), sizeof *c->occ);
	int n_moe = 0;
	for (int l = 0; l < n_layers; l++)
		n_moe += moe[l];
	for (int l = 0, k = 0; l < n_layers; l++)
		if (moe[l]) {
			c->quota[l] = n_slots / n_moe + (k < n_slots % n_moe);
			k++;
		}
	if (policy == CACHE_LRFU)
		c->lr = lrfu_new(n_slots, n_layers, moe, n_moe, n_keys);
}

void cpol_free(struct cpol *c)
{
	free(c->slot);
	free(c->quota);
	free(c->occ);
	free(c->hist);
	lrfu_free(c->lr);
	c->hist = NULL;
	c->lr = NULL;
	c->slot = NULL;
	c->quota = c->occ = NULL;
}

/* An expert's popularity by lrfu's count of its uses that repeated no
 * expert of the previous token (log2, plus when over the half-life). */
static double lrfu_pop(const struct lrfu *r, int key)
{
	return r->pcrf[key] > 0 ? log2(r->pcrf[key]) + (double)r->pcrf_at[key] / LRFU_HALF_LIFE : -HUGE_VAL;
}

/* A slot's value to keep: lower goes first. */
static bool less_valuable(const struct cpol *c, const struct cpol_slot *a, const struct cpol_slot *b)
{
	if (c->offline)
		return a->next_use > b->next_use;
	if (c->lr && a->layer == b->layer && c->lr->pop[a->layer]) {
		double va = lrfu_pop(c->lr, a->key), vb = lrfu_pop(c->lr, b->key);
		return va != vb ? va < vb : a->last_use < b->last_use;
	}
	/* A repeating layer without room for pop, its LRU shadow leading:
	 * recency by the layer's visits (a token's experts come together),
	 * and of one visit's experts the less popular go first. Each expert of
	 * the previous token comes again with the same chance (realtrace.py's
	 * generator exactly); what sets them apart is the popularity. */
	if (c->lr && a->layer == b->layer && c->lr->recency[a->layer] && c->lr->irm[a->layer].repeat) {
		if (a->visit != b->visit)
			return a->visit < b->visit;
		double va = lrfu_pop(c->lr, a->key), vb = lrfu_pop(c->lr, b->key);
		return va != vb ? va < vb : a->last_use < b->last_use;
	}
	if (c->lr && a->layer == b->layer && c->lr->recency[a->layer])
		return a->last_use < b->last_use;
	if (c->lr) /* the decayed counts now: crf less the layer's clock over the half-life */
		return a->crf - (double)c->lr->clock[a->layer] / LRFU_HALF_LIFE <
		       b->crf - (double)c->lr->clock[b->layer] / LRFU_HALF_LIFE;
	if ((c->policy == CACHE_LFU || c->policy == CACHE_FREQ) && a->freq != b->freq)
		return a->freq < b->freq;
	return a->last_use < b->last_use;
}

static bool has_quotas(const struct cpol *c)
{
	return c->policy == CACHE_LAYER_LRU || c->policy == CACHE_LFU || c->policy == CACHE_LRFU;
}

bool cpol_over_quota(const struct cpol *c, int i)
{
	const struct cpol_slot *s = &c->slot[i];
	return has_quotas(c) && s->layer >= 0 && c->occ[s->layer] > c->quota[s->layer];
}

int cpol_victim(const struct cpol *c, int layer, bool (*busy)(const void *ctx, int slot), const void *ctx)
{
	int best = -1, best_tier = 4;
	for (int i = 0; i < c->n_slots; i++) {
		const struct cpol_slot *s = &c->slot[i];
		if (s->layer < 0)
			return i;
		if (busy(ctx, i))
			continue;
		int tier = 2;
		if (has_quotas(c))
			tier = c->occ[s->layer] > c->quota[s->layer] ? 0 : s->layer == layer ? 1 : 2;
		if (tier < best_tier || (tier == best_tier && less_valuable(c, s, &c->slot[best]))) {
			best = i;
			best_tier = tier;
		}
	}
	return best;
}

void cpol_fill(struct cpol *c, int i, int layer, int key, uint32_t freq)
{
	if (c->hist && key >= 0 && key < c->n_keys)
		freq = MAX(freq, c->hist[key]);
	c->slot[i].layer = layer;
	c->slot[i].key = key;
	c->slot[i].last_use = 0;
	c->slot[i].freq = freq;
	c->slot[i].next_use = UINT64_MAX;
	c->slot[i].visit = 0;
	c->slot[i].crf = -HUGE_VAL;
	if (c->lr && key >= 0 && key < c->n_keys && c->lr->crf[key] > 0)
		c->slot[i].crf = log2(c->lr->crf[key]) + (double)c->lr->crf_at[key] / LRFU_HALF_LIFE;
	c->occ[layer]++;
}

void cpol_empty(struct cpol *c, int i)
{
	if (c->slot[i].layer >= 0)
		c->occ[c->slot[i].layer]--;
	c->slot[i].layer = -1;
}

/* Uses between two halvings. freq keeps counts longer than lfu: they
 * stand for the router's lasting preferences, not the slot's luck (32
 * slot-fulls: cachesim on the skewed synthetic traces, RESULTS.md). */
static uint64_t age_period(const struct cpol *c)
{
	return (uint64_t)c->n_slots * (c->policy == CACHE_FREQ ? 32 : 8) + 64;
}

/* A decoded token's experts in a layer: the most any layer's last
 * IRM_BACK decoded tokens used (0 before decoding). */
static int token_experts(const struct lrfu *r, int n_layers)
{
	int k = 0;
	for (int l = 0; l < n_layers; l++)
		for (int j = 0; j < IRM_BACK; j++)
			k = MAX(k, r->irm[l].n_ring[j]);
	return k;
}

/* A layer pins a token's experts while its visit lasts, whatever its
 * quota: one dealt fewer takes the difference from the other layers at
 * every visit, which its stack distances do not see. So where even
 * shares are below a token's experts (once decoding has shown how many a
 * token uses) a deal must promise more (RESULTS.md, round seven: the
 * realtrace.py traces at 2G took deals promising 1.10-1.16 times even
 * shares' hits and lost by them; bench at 2G takes deals promising
 * 1.8-2.2 and gains). */
#define LRFU_DEAL_GAIN 1.1
#define LRFU_DEAL_GAIN_SMALL 1.2

/* Deal the slots out again: each MoE layer its floor, then one slot at a
 * time to the layer whose next slot caught the most recent uses. Then the
 * counts fade, so that the next deal follows the router as it is then. */
static void lrfu_deal(struct cpol *c)
{
	struct lrfu *r = c->lr;
	int n_moe = r->n_moe, k_tok = token_experts(r, c->n_layers), share = c->n_slots / MAX(n_moe, 1);
	int left = c->n_slots - r->floor * n_moe;
	for (int l = 0; l < c->n_layers; l++)
		c->quota[l] = r->moe[l] ? r->floor : 0;
	while (left > 0) {
		int best = -1, bk = 1;
		double bg = -1;
		for (int l = 0; l < c->n_layers; l++) {
			if (!r->moe[l])
				continue;
			/* Lookahead: the best gain per slot over the next k slots, as
			 * a layer's hits come in steps (the previous token's 8). */
			const double *g = r->gain + (size_t)l * r->depth;
			double sum = 0, best_avg = 0;
			int kk = 1;
			for (int k = 1; k <= left && c->quota[l] + k - 1 < r->depth; k++) {
				sum += g[c->quota[l] + k - 1];
				if (sum / k > best_avg) {
					best_avg = sum / k;
					kk = k;
				}
			}
			/* ties: the layer with fewer slots, so that no use at all deals evenly */
			if (best_avg > bg || (best_avg == bg && c->quota[l] < c->quota[best])) {
				best = l;
				bg = best_avg;
				bk = kk;
			}
		}
		c->quota[best] += bk;
		left -= bk;
	}
	/* Keep even shares unless the deal promises clearly more hits: on a
	 * router whose layers behave alike, the deal only follows noise. */
	double dealt = 0, even = 0;
	for (int l = 0, k = 0; l < c->n_layers; l++) {
		if (!r->moe[l])
			continue;
		int q_even = c->n_slots / n_moe + (k++ < c->n_slots % n_moe);
		for (int d = 0; d < r->depth; d++) {
			double g = r->gain[(size_t)l * r->depth + d];
			dealt += d < c->quota[l] ? g : 0;
			even += d < q_even ? g : 0;
		}
	}
	if (dealt < even * (share < k_tok ? LRFU_DEAL_GAIN_SMALL : LRFU_DEAL_GAIN))
		for (int l = 0, k = 0; l < c->n_layers; l++)
			if (r->moe[l])
				c->quota[l] = c->n_slots / n_moe + (k++ < c->n_slots % n_moe);
	for (size_t k = 0; k < (size_t)c->n_layers * (size_t)r->depth; k++)
		r->gain[k] *= 0.9;
}

/* Feed a use of key (at depth d of the layer's recency stack, before this
 * use) to the layer's two shadow caches of the layer's quota, and let the
 * layer follow the one that hits more. A router that repeats the last
 * token's experts rewards recency; one that draws from a steady
 * popularity rewards the counts (cachesim: RESULTS.md). */
static void lrfu_shadow(struct cpol *c, int layer, int key, int d, uint64_t now)
{
	struct lrfu *r = c->lr;
	int q = MIN(c->quota[layer], r->n_slots), *sh = r->shadow + (size_t)layer * r->n_slots;
	int *n = &r->n_shadow[layer], hit = -1, worst = -1;
	double *score = r->score + 2 * (size_t)layer, wv = HUGE_VAL;
	const int *st = r->stack + (size_t)layer * r->depth;
	score[0] *= LRFU_SHADOW_KEEP;
	score[1] *= LRFU_SHADOW_KEEP;
	score[0] += d < q && st[d] == key;
	/* a layer's visit (its uses without another layer's between) pins
	 * its experts in the real cache: the shadow keeps them too */
	if (c->tick != r->last_tick[layer] + 1) {
		r->visit[layer] = now;
		r->n_visit[layer]++;
	}
	r->last_tick[layer] = c->tick;
	for (int i = 0; i < *n; i++) {
		if (sh[i] == key)
			hit = i;
		double v = log2(r->crf[sh[i]]) + (double)r->crf_at[sh[i]] / LRFU_HALF_LIFE;
		if (r->crf_at[sh[i]] < r->visit[layer] && v < wv) {
			wv = v;
			worst = i;
		}
	}
	if (hit >= 0)
		score[1] += 1;
	else if (*n < q)
		sh[(*n)++] = key;
	else if (worst >= 0)
		sh[worst] = key;
	if (*n > q) /* the quota shrank: the shadow with it */
		*n = q;
	r->recency[layer] = !r->irm[layer].steady && score[0] > score[1];
	/* A repeating router with room for three tokens' experts: the current
	 * token's are pinned while the layer's visit lasts, and what the next
	 * token will use of the rest is foretold by popularity, not by
	 * recency (realtrace.py's generator exactly). With two tokens' room
	 * this lost a little on a hand-made router (RESULTS.md, round six). */
	const struct irm *m = &r->irm[layer];
	r->pop[layer] = m->repeat && m->n_done > 0 && q >= 3 * m->n_ring[(m->n_done - 1) % IRM_BACK];
}

static int overlap(const int *a, int na, const int *b, int nb)
{
	int k = 0;
	for (int i = 0; i < na; i++)
		for (int j = 0; j < nb; j++)
			k += a[i] == b[j];
	return k;
}

/* A layer's visit ended: a decoded token's (one row an expert, few
 * experts) is compared with the tokens before it. Overlaps fade over
 * ~64 tokens; the verdict needs 16 tokens, and a near overlap 1.25 times
 * the far one to call the router repetitive. */
static void irm_visit_end(struct irm *m)
{
	if (m->cur_ok && m->n_cur > 0) {
		int at = (int)(m->n_done % IRM_BACK), prev = (int)((m->n_done + IRM_BACK - 1) % IRM_BACK);
		if (m->n_done >= IRM_BACK) { /* ring[at] holds the token IRM_BACK back */
			m->near = m->near * (1 - 1.0 / 64) + overlap(m->cur, m->n_cur, m->ring[prev], m->n_ring[prev]);
			m->far = m->far * (1 - 1.0 / 64) + overlap(m->cur, m->n_cur, m->ring[at], m->n_ring[at]);
		}
		memcpy(m->ring[at], m->cur, (size_t)m->n_cur * sizeof *m->cur);
		m->n_ring[at] = m->n_cur;
		m->n_done++;
		m->steady = m->n_done >= IRM_BACK + 16 && m->near <= 1.25 * m->far;
		m->repeat = m->n_done >= IRM_BACK + 16 && m->near >= IRM_REPEAT_RATIO * m->far &&
			    m->near - m->far >= IRM_REPEAT_Z * sqrt(m->near + m->far);
	}
	m->n_cur = 0;
	m->cur_ok = true;
}

static void irm_use(struct cpol *c, int layer, int key, int n)
{
	struct irm *m = &c->lr->irm[layer];
	if (c->tick != c->lr->last_tick[layer] + 1)
		irm_visit_end(m);
	if (n > 1 || m->n_cur == IRM_MAX)
		m->cur_ok = false;
	else
		m->cur[m->n_cur++] = key;
}

/* lrfu's bookkeeping of a use of key in layer: its count, and its place
 * in the layer's recency stack (how many slots the layer needed for this
 * use to hit). */
static double lrfu_use(struct cpol *c, int layer, int key, int n)
{
	struct lrfu *r = c->lr;
	uint64_t now = ++r->clock[layer];
	/* a prompt chunk's many tokens say the expert is popular, but not as
	 * loudly as that many decoded tokens would (cachesim: sqrt beats n and 1) */
	double w = sqrt(n < 1 ? 1 : n);
	r->crf[key] = r->crf[key] * exp2(-(double)(now - r->crf_at[key]) / LRFU_HALF_LIFE) + w;
	r->crf_at[key] = now;
	int *st = r->stack + (size_t)layer * r->depth, d = 0;
	while (d < r->depth - 1 && st[d] != key && st[d] >= 0)
		d++;
	if (st[d] == key)
		r->gain[(size_t)layer * r->depth + d] += 1;
	irm_use(c, layer, key, n); /* before lrfu_shadow moves last_tick */
	/* the popularity: a use repeating the previous decoded token's counts
	 * nothing, a prompt chunk's every row (as many uses as tokens: its
	 * rows are tokens like decoded ones; sqrt as in crf lost 0.4-0.6
	 * points on real*, 4G and 8G, RESULTS.md round six) */
	const struct irm *m = &r->irm[layer];
	double pw = n < 1 ? 1 : n;
	if (m->cur_ok && n <= 1 && m->n_done > 0) {
		int prev = (int)((m->n_done - 1) % IRM_BACK);
		for (int i = 0; i < m->n_ring[prev]; i++)
			if (m->ring[prev][i] == key)
				pw = 0;
	}
	r->pcrf[key] = r->pcrf[key] * exp2(-(double)(now - r->pcrf_at[key]) / LRFU_HALF_LIFE) + pw;
	r->pcrf_at[key] = now;
	lrfu_shadow(c, layer, key, d, now);
	memmove(st + 1, st, (size_t)d * sizeof *st);
	st[0] = key;
	if (r->period && c->tick % r->period == 0)
		lrfu_deal(c);
	return log2(r->crf[key]) + (double)now / LRFU_HALF_LIFE;
}

void cpol_touch(struct cpol *c, int i, int n)
{
	struct cpol_slot *s = &c->slot[i];
	s->last_use = ++c->tick;
	s->freq++;
	if (c->hist && s->key >= 0 && s->key < c->n_keys)
		s->freq = ++c->hist[s->key];
	if (c->lr && s->key >= 0 && s->key < c->n_keys) {
		s->crf = lrfu_use(c, s->layer, s->key, n);
		s->visit = c->lr->n_visit[s->layer];
	}
	/* Aging: halve every count now and then, so yesterday's favourites
	 * do not hold the cache forever. */
	if ((c->policy == CACHE_LFU || c->policy == CACHE_FREQ) && c->tick % age_period(c) == 0) {
		for (int k = 0; k < c->n_slots; k++)
			c->slot[k].freq >>= 1;
		for (int k = 0; c->hist && k < c->n_keys; k++)
			c->hist[k] >>= 1;
	}
}

bool cpol_steady(const struct cpol *c, int layer)
{
	return c->lr && layer >= 0 && layer < c->n_layers && c->lr->irm[layer].steady;
}

bool cpol_repeats(const struct cpol *c, int layer)
{
	return c->lr && layer >= 0 && layer < c->n_layers && c->lr->irm[layer].repeat;
}

void cpol_make_offline(struct cpol *c)
{
	c->offline = true;
}

void cpol_set_next(struct cpol *c, int i, uint64_t next_use)
{
	c->slot[i].next_use = next_use;
}

void cpol_pass(struct cpol *c, int layer, int key, int n)
{
	++c->tick;
	if (c->lr && key >= 0 && key < c->n_keys)
		lrfu_use(c, layer, key, n);
}

bool cpol_admit(const struct cpol *c, int victim, int layer, int key, int n)
{
	const struct cpol_slot *s = &c->slot[victim];
	if (!c->lr || s->layer < 0 || cpol_over_quota(c, victim) || key < 0 || key >= c->n_keys)
		return true;
	const struct lrfu *r = c->lr;
	/* A0's rule, where A0 is the optimum: on a layer drawing from a steady
	 * popularity (admitting on every layer loses 11 points on real 4G,
	 * whose router repeats the last token's experts) */
	if (!r->irm[layer].steady)
		return true;
	/* both decayed to now; the newcomer's with this use counted */
	double in = r->crf[key] * exp2(-(double)(r->clock[layer] - r->crf_at[key]) / LRFU_HALF_LIFE);
	in += sqrt(n < 1 ? 1 : n);
	return log2(in) > s->crf - (double)r->clock[s->layer] / LRFU_HALF_LIFE;
}
