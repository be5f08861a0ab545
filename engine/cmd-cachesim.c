/* cmd-cachesim.c - heft-engine cachesim: a routing trace (rtrace.h)
 * replayed through the expert cache's policies and through Belady's MIN,
 * to say how far each policy is from the offline optimum.
 *
 * The online policies run the engine's own code (cache-policy.c) in the
 * order weights_experts_acquire calls it: per layer visit, the experts the
 * forward pass asks for (the call's distinct choices, the most used first),
 * hits pinned first, then misses in order while a slot that is not pinned
 * can be had, in waves when a prompt chunk needs more slots than there
 * are. With --no-prefetch and --no-warm on the traced run, the replay's
 * hits are the engine's (tests/cachesim.sh checks it). MIN replays the same
 * visits through the same tiers, with the next use as the value: with
 * layer-lru's per-layer quotas ("min-quota", the yardstick for the quota
 * policies), with lrfu's quotas as they move ("min-lrfu": the deals follow
 * the uses, not the cache, so they are lrfu's own), and without (the true
 * bound, "min").
 *
 * And A0 (Aho, Denning & Ullman, "Principles of Optimal Page Replacement",
 * JACM 1971): when every token draws its experts independently from a
 * fixed popularity, the best online policy keeps the most probable ones.
 * Told each expert's decode uses over the whole trace, "a0" (lrfu's
 * quotas), "a0-quota" (layer-lru's) and "a0-pool" (one pool) keep the
 * most used, and admit a missed
 * expert only when it is used more than the least used resident of its
 * tier (a slot over its layer's quota always gives way): the ceiling of
 * any policy that learns only popularity.
 *
 * "lrfu-admit" is lrfu with A0's admission learned online (TinyLFU-like):
 * on a layer judged steady, a missed expert takes a slot only when its
 * decayed count beats the would-be victim's, else it is served without
 * one. The engine cannot do that (a computed expert lives in a slot; there
 * is no scratch one), so it is a row here, not a policy. A policy that
 * bypasses is judged against MIN that may bypass too: "min-lrfu-bypass"
 * and "min-bypass" keep the victim when the missed expert's next use lies
 * no sooner than the victim's (Belady with bypass).
 *
 * --prior TRACE starts the online policies warm, as the engine starts
 * without --no-warm after a run like TRACE: its hot list (each expert's
 * layer visits, halved as hotlist.c reads them) fills each layer's quota
 * with its hottest experts before the replay. */
#include "cache-policy.h"
#include "commands.h"
#include "fileio.h"
#include "options.h"
#include "rtrace.h"
#include "util.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One layer visit: the experts the forward pass asks the cache for. */
struct visit {
	int call, mi; /* the trace's call, the MoE layer's index */
	int at, n;    /* its items in the flat items[] */
	bool decode;
};

struct item {
	int e, n; /* the expert, the tokens routed to it */
	uint64_t next; /* the visit that uses (layer, e) next; UINT64_MAX: none */
};

struct replay {
	const struct rtrace_data *d;
	struct visit *v;
	struct item *items;
	uint32_t *uses; /* [n_moe * n_expert]: decode uses over the whole trace */
	uint32_t *prior; /* [n_moe * n_expert]: --prior's hot list, or NULL */
	int n_visits, n_items;
	bool has_guess;
};

/* One policy's run. */
struct result {
	const char *name;
	bool is_default;
	uint64_t *hits, *misses; /* [n_moe][2]: prompt, decode */
	uint64_t guessed[2];     /* misses the prefetcher's guess named */
	bool *steady;            /* [n_moe], lrfu: the layer's router looked steady at the end */
	bool *repeats;           /* [n_moe], lrfu: it looked repeating at the end */
};

/* The cache as the simulator holds it: the policy's state plus what the
 * engine keeps beside it (expert-cache.c's where[] and pins). */
enum mode { ONLINE, BELADY, A0 };

struct sim {
	struct cpol pol;
	int *where;    /* [n_moe * n_expert] -> slot, -1 */
	int *key;      /* slot -> mi * n_expert + e, -1 */
	int *pins;
	enum mode mode;
	bool bypass; /* a miss may be served without a slot: MIN's and lrfu's admission */
	const uint32_t *uses; /* the replay's */
	FILE *log;            /* --uses: every decoded use, hit or not, or NULL */
};

/* --uses: a decoded use of expert e by visit v (of layer), a hit or not,
 * and the layer's quota then. */
static void log_use(const struct sim *s, const struct result *res, const struct visit *v, int layer, int e, bool hit)
{
	if (s->log && v->decode)
		fprintf(s->log, "%s %d %d %d %d %d\n", res->name, v->call, v->mi, e, hit, s->pol.quota[layer]);
}

/* The distinct experts of a call's layer, in the order the forward pass
 * gives them to the cache (forward.c's group_by_expert and ffn_moe): by
 * id, then the most used first, stable. */
static int visit_order(const struct rtrace_data *d, const int *sel, int n_tok, int *count, struct item *out)
{
	memset(count, 0, (size_t)d->n_expert * sizeof *count);
	for (int r = 0; r < n_tok * d->n_used; r++)
		count[sel[r]]++;
	int n = 0;
	for (int e = 0; e < d->n_expert; e++)
		if (count[e])
			out[n++] = (struct item){.e = e, .n = count[e]};
	for (int i = 1; i < n; i++)
		for (int j = i; j > 0 && count[out[j].e] > count[out[j - 1].e]; j--) {
			struct item t = out[j];
			out[j] = out[j - 1];
			out[j - 1] = t;
		}
	return n;
}

static void replay_build(struct replay *rp, const struct rtrace_data *d)
{
	memset(rp, 0, sizeof *rp);
	rp->d = d;
	size_t cap_v = (size_t)d->n_calls * (size_t)d->n_moe, cap_i = 0;
	for (int c = 0; c < d->n_calls; c++)
		cap_i += (size_t)d->n_moe * (size_t)MIN(d->calls[c].n * d->n_used, d->n_expert);
	rp->v = xcalloc(MAX(cap_v, 1), sizeof *rp->v);
	rp->items = xcalloc(MAX(cap_i, 1), sizeof *rp->items);
	int *count = xmalloc((size_t)d->n_expert * sizeof *count);
	for (int c = 0; c < d->n_calls; c++) {
		const struct rtrace_call *call = &d->calls[c];
		size_t per = (size_t)call->n * (size_t)d->n_used;
		for (int mi = 0; mi < d->n_moe; mi++) {
			rp->has_guess |= call->n_guess[mi] > 0;
			const int *sel = call->sel + (size_t)mi * per;
			if (sel[0] < 0) /* the call stopped before this layer */
				continue;
			struct visit *v = &rp->v[rp->n_visits++];
			*v = (struct visit){c, mi, rp->n_items, 0, !call->prompt};
			v->n = visit_order(d, sel, call->n, count, rp->items + rp->n_items);
			rp->n_items += v->n;
		}
	}
	free(count);
	/* Next uses, from the end. */
	uint64_t *last = xmalloc((size_t)d->n_moe * (size_t)d->n_expert * sizeof *last);
	for (size_t i = 0; i < (size_t)d->n_moe * (size_t)d->n_expert; i++)
		last[i] = UINT64_MAX;
	for (int vi = rp->n_visits - 1; vi >= 0; vi--) {
		const struct visit *v = &rp->v[vi];
		for (int j = 0; j < v->n; j++) {
			struct item *it = &rp->items[v->at + j];
			uint64_t *l = &last[(size_t)v->mi * d->n_expert + it->e];
			it->next = *l;
			*l = (uint64_t)vi;
		}
	}
	free(last);
	rp->uses = xcalloc((size_t)d->n_moe * (size_t)d->n_expert, sizeof *rp->uses);
	for (int vi = 0; vi < rp->n_visits; vi++)
		for (int j = 0; rp->v[vi].decode && j < rp->v[vi].n; j++)
			rp->uses[(size_t)rp->v[vi].mi * d->n_expert + rp->items[rp->v[vi].at + j].e]++;
}

static void replay_free(struct replay *rp)
{
	free(rp->v);
	free(rp->items);
	free(rp->uses);
	free(rp->prior);
}

static bool pinned(const void *ctx, int i)
{
	return ((const struct sim *)ctx)->pins[i] > 0;
}

static bool guessed(const struct rtrace_data *d, const struct visit *v, int e)
{
	const struct rtrace_call *c = &d->calls[v->call];
	if (!c->guess)
		return false;
	const int *g = c->guess + (size_t)v->mi * d->n_expert;
	for (int i = 0; i < c->n_guess[v->mi]; i++)
		if (g[i] == e)
			return true;
	return false;
}

/* A0's value through MIN's hook: the fewer uses, the sooner it goes. */
static uint64_t a0_value(const struct sim *s, int key)
{
	return UINT64_MAX - 1 - s->uses[key];
}

static void use(struct sim *s, int si, const struct item *it)
{
	cpol_touch(&s->pol, si, it->n);
	if (s->mode == BELADY)
		cpol_set_next(&s->pol, si, it->next);
	else if (s->mode == A0)
		cpol_set_next(&s->pol, si, a0_value(s, s->key[si]));
}

/* The victim is kept and the missed expert served without a slot: A0
 * when it is used no more often than the victim; MIN that may bypass when
 * its next use lies no sooner than the victim's (Belady with bypass: the
 * yardstick of a policy that bypasses); lrfu-admit when its counts say so. */
static bool bypass(const struct sim *s, int si, int layer, int key, const struct item *it)
{
	if (s->key[si] < 0 || cpol_over_quota(&s->pol, si))
		return false;
	if (s->mode == A0)
		return s->uses[s->key[si]] >= s->uses[key];
	if (!s->bypass)
		return false;
	if (s->mode == BELADY)
		return s->pol.slot[si].next_use <= it->next;
	return !cpol_admit(&s->pol, si, layer, key, it->n);
}

/* weights_experts_acquire's bookkeeping, step for step: the k items of
 * want[] pinned, want[] reordered as the engine reorders it. */
static int acquire(struct sim *s, const struct replay *rp, const struct visit *v, struct item *want, int n,
		   struct result *res)
{
	const struct rtrace_data *d = rp->d;
	int layer = d->moe[v->mi], k = 0, ph = v->decode;
	int *where = s->where + (size_t)v->mi * d->n_expert;
	for (int i = 0; i < n; i++) {
		int si = where[want[i].e];
		if (si < 0)
			continue;
		s->pins[si]++;
		use(s, si, &want[i]);
		res->hits[v->mi * 2 + ph]++;
		log_use(s, res, v, layer, want[i].e, true);
		struct item t = want[k];
		want[k] = want[i];
		want[i] = t;
		k++;
	}
	for (int i = k; i < n; i++) {
		int si = cpol_victim(&s->pol, layer, pinned, s), key = v->mi * d->n_expert + want[i].e;
		if (si < 0)
			break;
		if (bypass(s, si, layer, key, &want[i])) {
			cpol_pass(&s->pol, layer, key, want[i].n);
		} else {
			if (s->key[si] >= 0)
				s->where[s->key[si]] = -1;
			cpol_empty(&s->pol, si);
			s->key[si] = key;
			cpol_fill(&s->pol, si, layer, key, 0);
			where[want[i].e] = si;
			s->pins[si] = 1;
			use(s, si, &want[i]);
		}
		res->misses[v->mi * 2 + ph]++;
		log_use(s, res, v, layer, want[i].e, false);
		res->guessed[ph] += guessed(d, v, want[i].e);
		struct item t = want[k];
		want[k] = want[i];
		want[i] = t;
		k++;
	}
	return k;
}

/* Insertion sort of m expert ids: by count c (most first, ties by id) when
 * c is given, else by id. */
static void sort_experts(int *order, int m, const uint32_t *c)
{
	for (int i = 1; i < m; i++)
		for (int j = i; j > 0; j--) {
			int x = order[j], y = order[j - 1];
			if (c ? c[x] <= c[y] : x >= y)
				break;
			order[j] = y;
			order[j - 1] = x;
		}
}

/* hotlist.c's warm start: each MoE layer's hottest experts of the prior,
 * up to its quota, filled in file order (layer, then expert), their use
 * count the prior's (lfu and freq start from it; lrfu keeps its own). */
static void warm_start(struct sim *s, const struct replay *rp)
{
	const struct rtrace_data *d = rp->d;
	int n = 0, *order = xmalloc((size_t)d->n_expert * sizeof *order);
	for (int mi = 0; mi < d->n_moe; mi++) {
		const uint32_t *c = rp->prior + (size_t)mi * d->n_expert;
		int layer = d->moe[mi], m = 0;
		for (int e = 0; e < d->n_expert; e++)
			if (c[e])
				order[m++] = e;
		sort_experts(order, m, c); /* the most used first, then by id */
		m = MIN(m, s->pol.quota[layer]);
		sort_experts(order, m, NULL); /* file order */
		for (int i = 0; i < m && n < s->pol.n_slots; i++, n++) {
			s->key[n] = mi * d->n_expert + order[i];
			s->where[s->key[n]] = n;
			cpol_fill(&s->pol, n, layer, s->key[n], c[order[i]]);
		}
	}
	free(order);
}

/* Replay every visit through policy (or MIN or A0 in its tiers) on n_slots
 * slots. */
static void run(const struct replay *rp, enum cache_policy policy, enum mode mode, bool may_bypass, int n_slots,
		FILE *log, struct result *res)
{
	const struct rtrace_data *d = rp->d;
	bool *moe = xcalloc((size_t)d->n_layer, sizeof *moe);
	for (int mi = 0; mi < d->n_moe; mi++)
		moe[d->moe[mi]] = true;
	struct sim s = {.mode = mode, .bypass = may_bypass, .uses = rp->uses, .log = log};
	cpol_init(&s.pol, policy, n_slots, d->n_layer, moe, d->n_moe * d->n_expert);
	free(moe);
	if (mode != ONLINE)
		cpol_make_offline(&s.pol);
	size_t nk = (size_t)d->n_moe * (size_t)d->n_expert;
	s.where = xmalloc(nk * sizeof *s.where);
	for (size_t i = 0; i < nk; i++)
		s.where[i] = -1;
	s.key = xmalloc((size_t)n_slots * sizeof *s.key);
	for (int i = 0; i < n_slots; i++)
		s.key[i] = -1;
	s.pins = xcalloc((size_t)n_slots, sizeof *s.pins);
	if (rp->prior && mode == ONLINE)
		warm_start(&s, rp);
	res->hits = xcalloc((size_t)d->n_moe * 2, sizeof *res->hits);
	res->misses = xcalloc((size_t)d->n_moe * 2, sizeof *res->misses);
	struct item *want = xmalloc((size_t)MAX(d->n_expert, 1) * sizeof *want);
	for (int vi = 0; vi < rp->n_visits; vi++) {
		const struct visit *v = &rp->v[vi];
		memcpy(want, rp->items + v->at, (size_t)v->n * sizeof *want);
		for (struct item *rem = want, *end = want + v->n; rem < end;) { /* the waves */
			int k = acquire(&s, rp, v, rem, (int)(end - rem), res);
			for (int i = 0, si; i < k; i++)
				if ((si = s.where[(size_t)v->mi * d->n_expert + rem[i].e]) >= 0) /* not passed */
					s.pins[si] = 0;
			rem += k;
		}
	}
	free(want);
	if (policy == CACHE_LRFU && mode == ONLINE && !may_bypass) {
		res->steady = xcalloc((size_t)d->n_moe, sizeof *res->steady);
		res->repeats = xcalloc((size_t)d->n_moe, sizeof *res->repeats);
		for (int mi = 0; mi < d->n_moe; mi++) {
			res->steady[mi] = cpol_steady(&s.pol, d->moe[mi]);
			res->repeats[mi] = cpol_repeats(&s.pol, d->moe[mi]);
		}
	}
	free(s.where);
	free(s.key);
	free(s.pins);
	cpol_free(&s.pol);
}

static double rate(uint64_t h, uint64_t m)
{
	return h + m ? (double)h / (double)(h + m) : 0.0;
}

/* Hits and misses of res over layer mi (-1: all) in phase ph (-1: both). */
static void sum(const struct rtrace_data *d, const struct result *res, int mi, int ph, uint64_t *h, uint64_t *m)
{
	*h = *m = 0;
	for (int l = 0; l < d->n_moe; l++)
		for (int p = 0; p < 2; p++)
			if ((mi < 0 || l == mi) && (ph < 0 || p == ph)) {
				*h += res->hits[l * 2 + p];
				*m += res->misses[l * 2 + p];
			}
}

static double res_rate(const struct rtrace_data *d, const struct result *res, int mi, int ph)
{
	uint64_t h, m;
	sum(d, res, mi, ph, &h, &m);
	return rate(h, m);
}

static double ratio(double a, double b)
{
	return b > 0 ? a / b : 0.0;
}

static void print_json(const struct rtrace_data *d, const struct replay *rp, const struct result *r, int nr,
		       int n_slots, const char *path)
{
	const struct result *mq = &r[nr - 2], *mn = &r[nr - 1];
	json_t *o = json_object();
	json_object_set_new(o, "trace", json_string(path));
	json_object_set_new(o, "model", json_string(d->model));
	json_object_set_new(o, "slots", json_integer(n_slots));
	uint64_t h, m;
	sum(d, mn, -1, 1, &h, &m);
	json_object_set_new(o, "decode_lookups", json_integer((json_int_t)(h + m)));
	sum(d, mn, -1, -1, &h, &m);
	json_object_set_new(o, "lookups", json_integer((json_int_t)(h + m)));
	json_t *a = json_array();
	for (int i = 0; i < nr; i++) {
		json_t *p = json_object();
		json_object_set_new(p, "name", json_string(r[i].name));
		if (r[i].is_default)
			json_object_set_new(p, "default", json_true());
		double dr = res_rate(d, &r[i], -1, 1), ar = res_rate(d, &r[i], -1, -1);
		json_object_set_new(p, "decode_hit_rate", json_real(dr));
		json_object_set_new(p, "hit_rate", json_real(ar));
		sum(d, &r[i], -1, -1, &h, &m);
		json_object_set_new(p, "hits", json_integer((json_int_t)h));
		json_object_set_new(p, "misses", json_integer((json_int_t)m));
		json_object_set_new(p, "decode_ratio_to_min_quota", json_real(ratio(dr, res_rate(d, mq, -1, 1))));
		json_object_set_new(p, "decode_ratio_to_min", json_real(ratio(dr, res_rate(d, mn, -1, 1))));
		json_t *ly = json_array();
		for (int mi = 0; mi < d->n_moe; mi++) {
			json_t *e = json_object();
			json_object_set_new(e, "layer", json_integer(d->moe[mi]));
			sum(d, &r[i], mi, -1, &h, &m);
			json_object_set_new(e, "hits", json_integer((json_int_t)h));
			json_object_set_new(e, "misses", json_integer((json_int_t)m));
			json_object_set_new(e, "decode_hit_rate", json_real(res_rate(d, &r[i], mi, 1)));
			if (r[i].steady)
				json_object_set_new(e, "steady", json_boolean(r[i].steady[mi]));
			if (r[i].repeats)
				json_object_set_new(e, "repeats", json_boolean(r[i].repeats[mi]));
			json_array_append_new(ly, e);
		}
		json_object_set_new(p, "layers", ly);
		json_array_append_new(a, p);
	}
	json_object_set_new(o, "policies", a);
	if (rp->has_guess) {
		sum(d, mn, -1, 1, &h, &m);
		json_object_set_new(o, "prefetch_share", json_real(ratio((double)mn->guessed[1], (double)m)));
	}
	char *s = json_dumps(o, JSON_COMPACT);
	printf("%s\n", s);
	free(s);
	json_decref(o);
}

static void print_text(const struct rtrace_data *d, const struct replay *rp, const struct result *r, int nr,
		       int n_slots, const char *path)
{
	int prompt_calls = 0, prompt_tok = 0;
	for (int c = 0; c < d->n_calls; c++)
		if (d->calls[c].prompt) {
			prompt_calls++;
			prompt_tok += d->calls[c].n;
		}
	printf("trace %s: %d MoE layers of %d experts, %d used; %d prompt chunks (%d tokens), %d decoded tokens\n",
	       path, d->n_moe, d->n_expert, d->n_used, prompt_calls, prompt_tok, d->n_calls - prompt_calls);
	printf("%d slots (%.1f%% of %d experts)\n\n", n_slots, 100.0 * n_slots / ((double)d->n_moe * d->n_expert),
	       d->n_moe * d->n_expert);
	const struct result *mq = &r[nr - 2], *mn = &r[nr - 1];
	printf("%-18s %8s %8s %10s %8s\n", "policy", "decode", "all", "/min-quota", "/min");
	for (int i = 0; i < nr; i++) {
		double dr = res_rate(d, &r[i], -1, 1);
		printf("%-16s%s %7.2f%% %7.2f%% %10.3f %8.3f\n", r[i].name, r[i].is_default ? " *" : "  ", 100 * dr,
		       100 * res_rate(d, &r[i], -1, -1), ratio(dr, res_rate(d, mq, -1, 1)),
		       ratio(dr, res_rate(d, mn, -1, 1)));
	}
	printf("(hit rates of the expert lookups; * the default; min-quota: MIN inside layer-lru's quotas, min-lrfu: "
	       "inside lrfu's; a0: the most used experts, told by the whole trace, inside lrfu's quotas, a0-quota "
	       "inside layer-lru's, a0-pool in one pool; lrfu-admit: lrfu admitting by its counts, a0 and "
	       "*-bypass serve a miss without a slot)\n");
	if (rp->has_guess) {
		uint64_t h, m;
		sum(d, mn, -1, 1, &h, &m);
		printf("prefetch: the trace's guesses name %.1f%% of MIN's decode misses (what a prefetcher that "
		       "is always in time would hide)\n",
		       100 * ratio((double)mn->guessed[1], (double)m));
	}
	printf("\ndecode hit rate per layer:\n%-6s", "layer");
	for (int i = 0; i < nr; i++)
		printf(" %10s", r[i].name);
	printf("\n");
	for (int mi = 0; mi < d->n_moe; mi++) {
		printf("%-6d", d->moe[mi]);
		for (int i = 0; i < nr; i++)
			printf(" %9.2f%%", 100 * res_rate(d, &r[i], mi, 1));
		printf("\n");
	}
}

static const char usage_text[] =
	"usage: heft-engine cachesim TRACE [--slots N | --mem SIZE] [--policy P ...] [--json]\n"
	"  replays a routing trace (run, bench or serve --trace-routing FILE) through the\n"
	"  expert cache's policies, through A0 (the most used experts, told by the whole\n"
	"  trace: the ceiling of a policy that learns popularity) and Belady's MIN (also\n"
	"  one that may bypass: the yardstick of lrfu-admit, lrfu admitting by its counts)\n"
	"  --slots N       cache slots (default: the traced run's)\n"
	"  --mem SIZE      the slots the budget pays for, by the traced run's plan (its slot\n"
	"                  size and the bytes it holds besides the cache)\n"
	"  --policy P      lrfu, layer-lru, lru, lfu or freq (repeatable; default: all)\n"
	"  --prior TRACE   start the policies warm, from the hot list a run like TRACE left\n"
	"  --json          one JSON object on stdout\n"
	"  --uses FILE     every decoded use to FILE, a line each: the policy or yardstick,\n"
	"                  the call, the MoE layer's index, the expert, 1 for a hit, the\n"
	"                  layer's quota then\n";

static int slots_of(const struct rtrace_data *d, int64_t slots, uint64_t mem)
{
	int most = d->n_moe * d->n_expert;
	if (slots > 0)
		return (int)MIN(slots, most);
	if (mem) {
		if (!d->slot_bytes) {
			warnx_("cachesim: --mem needs a trace with a plan line; give --slots");
			return -1;
		}
		uint64_t n = mem > d->fixed_bytes ? (mem - d->fixed_bytes) / d->slot_bytes : 0;
		return (int)MAX(MIN(n, (uint64_t)most), (uint64_t)d->n_used);
	}
	if (d->n_slots > 0)
		return MIN(d->n_slots, most);
	warnx_("cachesim: the traced run did not stream experts; give --slots or --mem");
	return -1;
}

/* The hot list a run of path would leave (hotlist.c: each expert once per
 * layer visit), as the next run reads it (halved); NULL on a trace that
 * does not fit d. */
static uint32_t *prior_of(const char *path, const struct rtrace_data *d)
{
	char err[512];
	struct rtrace_data *p = rtrace_read(path, err, sizeof err);
	if (!p) {
		warnx_("cachesim: --prior: %s", err);
		return NULL;
	}
	uint32_t *c = NULL;
	if (p->n_moe != d->n_moe || p->n_expert != d->n_expert || memcmp(p->moe, d->moe, (size_t)d->n_moe * sizeof *d->moe))
		warnx_("cachesim: --prior: %s routes other layers or experts than the trace", path);
	else {
		struct replay rp;
		replay_build(&rp, p);
		c = xcalloc((size_t)d->n_moe * (size_t)d->n_expert, sizeof *c);
		for (int vi = 0; vi < rp.n_visits; vi++)
			for (int j = 0; j < rp.v[vi].n; j++)
				c[(size_t)rp.v[vi].mi * d->n_expert + rp.items[rp.v[vi].at + j].e]++;
		for (size_t i = 0; i < (size_t)d->n_moe * (size_t)d->n_expert; i++)
			c[i] /= 2;
		replay_free(&rp);
	}
	rtrace_data_free(p);
	return c;
}

/* What every replay is measured against, in this order after the policies:
 * A0 and MIN, each in lrfu's quotas, layer-lru's and one pool. */
static const struct {
	const char *name;
	enum cache_policy tiers;
	enum mode mode;
	bool bypass;
} yardsticks[] = {
	{"a0", CACHE_LRFU, A0, true},
	{"a0-quota", CACHE_LAYER_LRU, A0, true},
	{"a0-pool", CACHE_LRU, A0, true},
	{"min-lrfu-bypass", CACHE_LRFU, BELADY, true},
	{"min-bypass", CACHE_LRU, BELADY, true},
	{"min-lrfu", CACHE_LRFU, BELADY, false},
	{"min-quota", CACHE_LAYER_LRU, BELADY, false},
	{"min", CACHE_LRU, BELADY, false},
};

enum { O_SLOTS = CMD_LONG, O_MEM, O_POLICY, O_PRIOR, O_JSON, O_USES };

static const struct cmd_opt cachesim_opts[] = {
	{"help", 'h', no_argument, 'h'},
	{"slots", 0, required_argument, O_SLOTS},
	{"mem", 0, required_argument, O_MEM},
	{"policy", 0, required_argument, O_POLICY},
	{"prior", 0, required_argument, O_PRIOR},
	{"json", 0, no_argument, O_JSON},
	{"uses", 0, required_argument, O_USES},
	{NULL, 0, 0, 0},
};

int cmd_cachesim(int argc, char **argv)
{
	int64_t slots = 0;
	uint64_t mem = 0;
	bool json = false, want[CACHE_NPOLICIES] = {false}, any = false, bad;
	const char *prior = NULL, *uses = NULL;
	struct cmd_parser op = {.opts = cachesim_opts, .usage = usage_text};
	int c, k;
	while ((c = cmd_next(&op, argc, argv)) != CMD_END) {
		switch (c) {
		case 'h': cmd_parser_done(&op); fputs(usage_text, stdout); return 0;
		case O_SLOTS:
			if (!cmd_num(&op, 1, 1 << 30, &slots)) {
				cmd_parser_done(&op);
				return 2;
			}
			break;
		case O_MEM:
			if (!parse_size(op.arg, &mem) || !mem) {
				warnx_("cachesim: --mem: '%s' is not a size (e.g. 4G)", op.arg);
				cmd_parser_done(&op);
				return 2;
			}
			break;
		case O_POLICY:
			for (k = 0; k < CACHE_NPOLICIES && strcmp(op.arg, cache_policy_names[k]); k++)
				;
			if (k == CACHE_NPOLICIES) {
				warnx_("cachesim: --policy: '%s' is not one of lrfu, layer-lru, lru, lfu, freq", op.arg);
				cmd_parser_done(&op);
				return 2;
			}
			want[k] = any = true;
			break;
		case O_PRIOR: prior = op.arg; break;
		case O_JSON: json = true; break;
		case O_USES: uses = op.arg; break;
		default: return 2; /* CMD_BAD, reported */
		}
	}
	const char *path = cmd_operand(&op, argc, argv, &bad);
	if (bad || !path) {
		if (!bad)
			fputs(usage_text, stderr);
		return 2;
	}
	char err[512];
	struct rtrace_data *d = rtrace_read(path, err, sizeof err);
	if (!d) {
		warnx_("cachesim: %s", err);
		return 2;
	}
	int n_slots = slots_of(d, slots, mem);
	if (n_slots < 1) {
		rtrace_data_free(d);
		return 2;
	}
	struct replay rp;
	replay_build(&rp, d);
	if (prior && !(rp.prior = prior_of(prior, d))) {
		replay_free(&rp);
		rtrace_data_free(d);
		return 2;
	}
	/* --uses: written whole or not at all (fileio.h), as eval's --out */
	struct fio_out uout = {.fd = -1};
	FILE *log = NULL;
	if (uses && !(log = fio_begin(&uout, uses) == 0 ? fio_stream(&uout) : NULL)) {
		warnx_("cachesim: --uses: %s: %s", uses, fio_strerror(errno));
		if (uout.fd >= 0)
			fio_abort(&uout);
		replay_free(&rp);
		rtrace_data_free(d);
		return 2;
	}
	struct result r[CACHE_NPOLICIES + 1 + ARRAY_LEN(yardsticks)];
	int nr = 0;
	for (int p = 0; p < CACHE_NPOLICIES; p++)
		if (!any || want[p]) {
			r[nr] = (struct result){.name = cache_policy_names[p], .is_default = p == 0};
			run(&rp, (enum cache_policy)p, ONLINE, false, n_slots, log, &r[nr++]);
		}
	if (!any || want[CACHE_LRFU]) {
		r[nr] = (struct result){.name = "lrfu-admit"};
		run(&rp, CACHE_LRFU, ONLINE, true, n_slots, log, &r[nr++]);
	}
	for (size_t y = 0; y < ARRAY_LEN(yardsticks); y++) {
		r[nr] = (struct result){.name = yardsticks[y].name};
		run(&rp, yardsticks[y].tiers, yardsticks[y].mode, yardsticks[y].bypass, n_slots, log, &r[nr++]);
	}
	if (json)
		print_json(d, &rp, r, nr, n_slots, path);
	else
		print_text(d, &rp, r, nr, n_slots, path);
	for (int i = 0; i < nr; i++) {
		free(r[i].hits);
		free(r[i].misses);
		free(r[i].steady);
		free(r[i].repeats);
	}
	replay_free(&rp);
	rtrace_data_free(d);
	if (log && fio_commit(&uout) < 0) { /* checks the stream's errors too */
		warnx_("cachesim: --uses: %s: %s", uses, fio_strerror(errno));
		return 1;
	}
	return 0;
}
