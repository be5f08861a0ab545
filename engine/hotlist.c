/* hotlist.c - the warm cache.
 *
 * When the engine exits, the experts each layer used (with counts, last
 * run's halved and added: old favourites fade) go to a hot list in heft's
 * cache directory (src/paths.h), named by a hash of the model's header and
 * metadata (model-id.h). The next load fills the cache with each layer's
 * hottest, up to its quota, as low-priority reads in file order: one long
 * sequential pass that any demand read overtakes. */
#include "weights-int.h"

#include "fileio.h"
#include "hash64.h"
#include "model-id.h"
#include "paths.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char *hot_list_path(const char *key)
{
	char *dir = heft_cache_dir(), *p;
	if (!dir)
		return NULL;
	xasprintf(&p, "%s/hot-%s.txt", dir, key);
	free(dir);
	return p;
}

/* Read the hot list into uses_prev; a list that does not fit this model is
 * ignored (it only ever makes a load faster). */
static void hot_list_read(struct weights *w)
{
	FILE *fp = fio_fopen_read(w->hot_path);
	if (!fp)
		return;
	char line[128];
	int n_layers = -1, bad = 0;
	if (!fgets(line, sizeof line, fp) || strcmp(line, "heft-hot 1\n") ||
	    !fgets(line, sizeof line, fp) || sscanf(line, "layers %d", &n_layers) != 1 || n_layers != w->n_layers)
		bad = 1;
	while (!bad && fgets(line, sizeof line, fp)) {
		int l, e;
		unsigned long c;
		if (sscanf(line, "%d %d %lu", &l, &e, &c) != 3 || l < 0 || l >= w->n_layers || e < 0 ||
		    e >= w->exps[l].n_expert)
			bad = 1;
		else
			w->uses_prev[w->exps[l].first + e] = (uint32_t)MIN(c / 2, UINT32_MAX / 2);
	}
	fclose(fp);
	if (bad) {
		warnx_("%s: not a hot list of this model; ignored", w->hot_path);
		memset(w->uses_prev, 0, (size_t)w->plan.n_experts * sizeof *w->uses_prev);
	}
}

struct warm_pick {
	uint64_t off;
	int layer, expert;
	uint32_t count;
};

static int by_count(const void *a, const void *b)
{
	const struct warm_pick *x = a, *y = b;
	return x->count != y->count ? (x->count < y->count ? 1 : -1) : x->expert - y->expert;
}

static int by_offset(const void *a, const void *b)
{
	const struct warm_pick *x = a, *y = b;
	return x->off < y->off ? -1 : x->off > y->off;
}

static void warm_start(struct weights *w)
{
	struct warm_pick *pick = xcalloc((size_t)w->plan.n_experts, sizeof *pick), *lay;
	int n = 0;
	for (int l = 0; l < w->n_layers; l++) {
		const struct wexperts *e = &w->exps[l];
		if (!e->n_expert)
			continue;
		lay = pick + n;
		int m = 0;
		for (int x = 0; x < e->n_expert; x++)
			if (w->uses_prev[e->first + x])
				lay[m++] = (struct warm_pick){e->t[EXP_GATE]->offset + (uint64_t)x * e->slice[EXP_GATE], l, x,
							      w->uses_prev[e->first + x]};
		qsort(lay, (size_t)m, sizeof *lay, by_count);
		n += MIN(m, w->pol.quota[l]);
	}
	qsort(pick, (size_t)n, sizeof *pick, by_offset);
	for (int i = 0; i < n && i < w->n_slots; i++) {
		struct slot *s = &w->slots[i];
		xcache_read(w, s, pick[i].layer, pick[i].expert, IO_PREFETCH, pick[i].count);
		s->warm = true;
		for (int p = 0; p < EXP_NPARTS; p++)
			w->warm_total += s->req[p].len;
	}
	/* the counters are for use, not for warming */
	for (int l = 0; l < w->n_layers; l++)
		w->ls[l].bytes_read = 0;
	free(pick);
}

void hot_init(struct weights *w, bool warm)
{
	struct model_part_id *ids = xcalloc(w->g->n_parts, sizeof *ids);
	char err[256];
	if (model_identity(w->g, ids, err, sizeof err) == 0) {
		struct hash64 h;
		hash64_init(&h, 0x68656674686f7421ull);
		hash64_update(&h, ids, w->g->n_parts * sizeof *ids);
		char key[32];
		snprintf(key, sizeof key, "%016llx", (unsigned long long)hash64_final(&h));
		w->hot_path = hot_list_path(key);
	}
	free(ids);
	w->uses = xcalloc((size_t)w->plan.n_experts, sizeof *w->uses);
	w->uses_prev = xcalloc((size_t)w->plan.n_experts, sizeof *w->uses_prev);
	if (w->hot_path)
		hot_list_read(w);
	if (warm && w->hot_path)
		warm_start(w);
}

/* Write the hot list (atomically: a crash leaves the old one), readable
 * by its owner only: it says which parts of which model were used. */
void hot_save(struct weights *w)
{
	uint64_t any = 0;
	for (int i = 0; w->uses && i < w->plan.n_experts; i++)
		any |= w->uses[i];
	if (!w->hot_path || !any)
		return;
	char *dir = xstrdup(w->hot_path);
	*strrchr(dir, '/') = '\0';
	int made = mkdir_p(dir, 0700);
	free(dir);
	if (made < 0)
		return;
	struct fio_out o;
	if (fio_begin(&o, w->hot_path) < 0)
		return;
	FILE *fp = fio_stream(&o);
	if (!fp) {
		fio_abort(&o);
		return;
	}
	fprintf(fp, "heft-hot 1\nlayers %d\n", w->n_layers);
	for (int l = 0; l < w->n_layers; l++)
		for (int x = 0; x < w->exps[l].n_expert; x++) {
			uint64_t c = (uint64_t)w->uses[w->exps[l].first + x] + w->uses_prev[w->exps[l].first + x];
			if (c)
				fprintf(fp, "%d %d %llu\n", l, x, (unsigned long long)MIN(c, UINT32_MAX));
		}
	(void)fio_commit(&o); /* a hot list only speeds a load up */
}

void hot_free(struct weights *w)
{
	free(w->uses);
	free(w->uses_prev);
	free(w->hot_path);
}
