/* cache-policy.c - the expert cache's replacement policies (see
 * cache-policy.h). */
#include "cache-policy.h"

#include "util.h"

#include <stdlib.h>

const char *const cache_policy_names[CACHE_NPOLICIES] = {"layer-lru", "lru", "lfu", "freq"};

void cpol_init(struct cpol *c, enum cache_policy policy, int n_slots, int n_layers, const bool *moe, int n_keys)
{
	c->n_keys = n_keys;
	c->hist = policy == CACHE_FREQ ? xcalloc((size_t)MAX(n_keys, 1), sizeof *c->hist) : NULL;
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
}

void cpol_free(struct cpol *c)
{
	free(c->slot);
	free(c->quota);
	free(c->occ);
	free(c->hist);
	c->hist = NULL;
	c->slot = NULL;
	c->quota = c->occ = NULL;
}

/* A slot's value to keep: lower goes first. */
static bool less_valuable(const struct cpol *c, const struct cpol_slot *a, const struct cpol_slot *b)
{
	if (c->offline)
		return a->next_use > b->next_use;
	if ((c->policy == CACHE_LFU || c->policy == CACHE_FREQ) && a->freq != b->freq)
		return a->freq < b->freq;
	return a->last_use < b->last_use;
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
		if (c->policy == CACHE_LAYER_LRU || c->policy == CACHE_LFU)
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

void cpol_touch(struct cpol *c, int i)
{
	struct cpol_slot *s = &c->slot[i];
	s->last_use = ++c->tick;
	s->freq++;
	if (c->hist && s->key >= 0 && s->key < c->n_keys)
		s->freq = ++c->hist[s->key];
	/* Aging: halve every count now and then, so yesterday's favourites
	 * do not hold the cache forever. */
	if ((c->policy == CACHE_LFU || c->policy == CACHE_FREQ) && c->tick % age_period(c) == 0) {
		for (int k = 0; k < c->n_slots; k++)
			c->slot[k].freq >>= 1;
		for (int k = 0; c->hist && k < c->n_keys; k++)
			c->hist[k] >>= 1;
	}
}

void cpol_make_offline(struct cpol *c)
{
	c->offline = true;
}

void cpol_set_next(struct cpol *c, int i, uint64_t next_use)
{
	c->slot[i].next_use = next_use;
}
