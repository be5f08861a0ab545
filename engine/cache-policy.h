/* cache-policy.h - which expert-cache slot gives way: the policies alone.
 *
 * No I/O and no buffers: the slots' layers, last uses, use counts and the
 * per-layer quotas, so that the expert cache (expert-cache.c) and a cache
 * simulator make their choices with the same code.
 *
 *   layer-lru  per-layer quotas (a cyclic layer-by-layer access pattern
 *              defeats a global LRU once the cache is smaller than a
 *              token's working set), LRU inside a layer (the default
 *              until lrfu beat it on every trace of RESULTS.md);
 *   lru        one global LRU;
 *   lfu        per-layer quotas, least frequently used, counts halved now
 *              and then so that yesterday's favourites fade;
 *   freq       one pool, least frequently used by every expert's count
 *              since load, kept while it is out of the cache too (an
 *              expert read again comes back with its history, where lfu
 *              starts it at nothing), halved now and then. No quotas:
 *              counts are not fooled by the cyclic layer order as
 *              recency is, and a layer whose router repeats itself more
 *              earns more slots (cachesim: RESULTS.md);
 *   lrfu       (the default) per-layer quotas that follow each layer's reuse: every
 *              slot-full of uses, the slots are dealt out again to the
 *              layers whose next slots would have caught the most hits
 *              (each layer's recent uses by LRU stack distance:
 *              utility-based cache partitioning), kept only when that
 *              promises clearly more hits than even shares (more
 *              still where even shares are below a token's experts:
 *              a visit pins its token's experts whatever the quota).
 *              Inside
 *              a layer, the least valuable by a use count that decays
 *              with the layer's own uses (half after 64 tokens' worth)
 *              and is kept while the expert is out of the cache, a
 *              prompt chunk's use weighing the square root of its
 *              tokens (LRFU: recency and frequency in one number).
 *              Each layer also runs two shadow caches of its quota (tags
 *              only): LRU and these counts; inside the layer the real
 *              cache follows the one with more recent hits (a router
 *              repeating the last token's experts wants recency, one
 *              drawing from a steady popularity wants the counts), unless
 *              the layer's decoded tokens share no more experts with the
 *              previous token than with one 8 back: then the router draws
 *              from a steady popularity, and the counts rule. When they
 *              share clearly more (twice, and far beyond chance), the
 *              router repeats itself: once the layer's quota holds three
 *              tokens' experts, it keeps the most popular by a count that
 *              leaves out the uses repeating the previous token; with
 *              less room, while its LRU shadow leads, it keeps the
 *              experts of its latest visits, and of one visit's the
 *              most popular by that count.
 *
 * Offline (the cache simulator only, cmd-cachesim.c): Belady's MIN, which
 * gives way the slot whose next use lies farthest ahead, told by
 * cpol_set_next; with layer-lru's or lrfu's quota tiers, or with lru's
 * none (the true bound). The simulator also runs A0 through the same
 * hook: the value is then the expert's use count over the whole trace,
 * and a use it serves without a slot (not admitted) goes to cpol_pass. */
#ifndef HEFT_CACHE_POLICY_H
#define HEFT_CACHE_POLICY_H

#include <stdbool.h>
#include <stdint.h>

/* The first is the default (options are zero-initialised). */
enum cache_policy {
	CACHE_LRFU,      /* recency-weighted counts or LRU as each layer's shadows say,
			    quotas following each layer's reuse (default) */
	CACHE_LAYER_LRU, /* per-layer quotas, LRU inside a layer */
	CACHE_LRU,       /* one global LRU (falls off a cliff on cyclic access) */
	CACHE_LFU,       /* per-layer quotas, least frequently used with aging */
	CACHE_FREQ,      /* one pool, use counts kept across evictions, with aging */
	CACHE_NPOLICIES
};
extern const char *const cache_policy_names[CACHE_NPOLICIES];

/* What the policy knows of one slot. */
struct cpol_slot {
	int layer;         /* whose expert it holds; -1: free */
	int key;           /* which expert: its index over all layers */
	uint64_t last_use; /* 0: never used (inserted cold) */
	uint32_t freq;
	double crf;        /* lrfu: log2 of the decayed use count + last use / half-life */
	uint64_t next_use; /* offline: when it is used next (UINT64_MAX: never) */
	uint64_t visit;    /* lrfu: which of its layer's visits used it last (0: none) */
};

struct cpol {
	enum cache_policy policy;
	int n_slots, n_layers;
	struct cpol_slot *slot;
	int *quota, *occ; /* per layer: slots it may keep, slots it holds */
	uint32_t *hist;   /* freq: per expert (key), uses since load, aged */
	struct lrfu *lr;  /* lrfu's own state (cache-policy.c) */
	int n_keys;
	uint64_t tick;
	bool offline; /* MIN: next_use decides inside each tier */
};

/* Set up for n_slots slots over n_layers layers, moe[l] true for a layer
 * with experts (quotas share the slots among those), n_keys experts over
 * all layers. */
void cpol_init(struct cpol *c, enum cache_policy policy, int n_slots, int n_layers, const bool *moe, int n_keys);
void cpol_free(struct cpol *c);

/* The slot to (re)use for an expert of layer, or -1 when every slot is
 * busy(ctx, i) (pinned or being read). Free slots first; then, with
 * per-layer quotas, a slot of a layer holding more than its quota, then
 * one of this layer, then any; the least valuable by the policy inside
 * each tier. */
int cpol_victim(const struct cpol *c, int layer, bool (*busy)(const void *ctx, int slot), const void *ctx);

/* Slot i now holds expert key of layer, with a use count of freq (never
 * used yet; freq keeps its history if that is more). */
void cpol_fill(struct cpol *c, int i, int layer, int key, uint32_t freq);
/* Slot i is free. */
void cpol_empty(struct cpol *c, int i);
/* Slot i is used now, by n tokens (a prompt chunk's rows for that expert;
 * lrfu weighs them, the others count one use). */
void cpol_touch(struct cpol *c, int i, int n);
/* lrfu: the layer's decoded tokens look drawn from a steady popularity
 * (its counts rule, whatever the shadows say). */
bool cpol_steady(const struct cpol *c, int layer);
/* lrfu: the layer's decoded tokens repeat the previous token's experts
 * (with three tokens' worth of slots, popularity without the repeats rules). */
bool cpol_repeats(const struct cpol *c, int layer);
/* Make c Belady's MIN (keeping its policy's tiers): slots are then valued
 * by the next use each cpol_set_next gives. */
void cpol_make_offline(struct cpol *c);
void cpol_set_next(struct cpol *c, int i, uint64_t next_use);
/* Offline: a use of expert key of layer served without a slot (read, used
 * and dropped), so that the bookkeeping that follows the uses (lrfu's
 * deals of the quotas) sees every use. */
void cpol_pass(struct cpol *c, int layer, int key, int n);
/* lrfu with admission (cachesim's lrfu-admit only: the engine has no
 * slot-less place to compute an expert from): whether a missed expert key
 * of layer, used now by n tokens, is worth more than the slot victim that
 * would give way, by lrfu's decayed counts. A free slot, one over its
 * layer's quota, and a layer not judged steady (cpol_steady) always admit. */
bool cpol_admit(const struct cpol *c, int victim, int layer, int key, int n);
/* Slot i belongs to a layer holding more than its quota (never, without
 * quotas): giving it way restores the scheme. */
bool cpol_over_quota(const struct cpol *c, int i);

#endif
