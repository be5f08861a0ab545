/* kvdisk.c - a size-bounded directory of KV states keyed by their tokens
 * (kvdisk.h). Only the model's thread uses it.
 *
 * The token lists are small (4 bytes a position) and read anew for each
 * lookup: the directory is the index, so two engines, or one restarted,
 * agree on it. A state refused by kvstate_load (another layout, a torn
 * file) is removed. */
#include "kvdisk.h"

#include "fileio.h"
#include "gguf.h"
#include "hash64.h"
#include "kvstate.h"
#include "model-id.h"
#include "model.h"
#include "paths.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

/* Shorter conversations are cheaper to evaluate than to keep. */
#define MIN_TOKENS 16

struct kvdisk {
	char *root; /* the size bound covers every model's states under it */
	char *dir;  /* this model's */
	uint64_t max_bytes;
};

struct kvdisk *kvdisk_open(const char *dir, uint64_t max_bytes, const struct model *m, char *err, size_t errlen)
{
	char *root = dir ? xstrdup(dir) : NULL;
	if (!root) {
		char *c = heft_cache_dir();
		if (!c) {
			snprintf(err, errlen, "no cache directory: set XDG_CACHE_HOME or HOME, or give --kv-cache-dir");
			return NULL;
		}
		xasprintf(&root, "%s/kv", c);
		free(c);
	}
	struct model_part_id *ids = xcalloc(m->g->n_parts, sizeof *ids);
	char why[512];
	if (model_identity(m->g, ids, why, sizeof why) < 0) {
		snprintf(err, errlen, "%s: %s", m->path, why);
		free(ids);
		free(root);
		return NULL;
	}
	struct hash64 h;
	hash64_init(&h, 0x6b76);
	hash64_update(&h, ids, m->g->n_parts * sizeof *ids);
	free(ids);
	struct kvdisk *d = xcalloc(1, sizeof *d);
	d->root = root;
	d->max_bytes = max_bytes;
	xasprintf(&d->dir, "%s/%016llx", root, (unsigned long long)hash64_final(&h));
	if (mkdir_p(d->dir, 0700) < 0) {
		snprintf(err, errlen, "%s: %s", d->dir, fio_strerror(errno));
		kvdisk_free(d);
		return NULL;
	}
	return d;
}

void kvdisk_free(struct kvdisk *d)
{
	if (!d)
		return;
	free(d->root);
	free(d->dir);
	free(d);
}

static bool ends_with(const char *s, const char *tail)
{
	size_t n = strlen(s), k = strlen(tail);
	return n > k && !strcmp(s + n - k, tail);
}

/* NAME.tok's tokens; NULL. */
static int32_t *read_tokens(const char *path, int *n)
{
	size_t len;
	char *p = read_file(path, &len, (size_t)64 << 20);
	if (!p)
		return NULL;
	if (len % sizeof(int32_t)) {
		free(p);
		return NULL;
	}
	*n = (int)(len / sizeof(int32_t));
	return (int32_t *)(void *)p;
}

static int common_prefix(const int32_t *a, int na, const int32_t *b, int nb)
{
	int k = 0;
	while (k < na && k < nb && a[k] == b[k])
		k++;
	return k;
}

/* NAME.kv and NAME.tok go. */
static void remove_state(const char *dir, const char *tokname)
{
	char *tp, *kp;
	xasprintf(&tp, "%s/%s", dir, tokname);
	xasprintf(&kp, "%.*s.kv", (int)(strlen(tp) - 4), tp);
	unlink(kp);
	unlink(tp);
	free(tp);
	free(kp);
}

int kvdisk_restore(struct kvdisk *d, const struct model *m, struct forward *f, const int32_t *tok, int n, int have)
{
	DIR *dp = opendir(d->dir);
	if (!dp)
		return 0;
	char *best = NULL;
	int best_n = have;
	struct dirent *e;
	while ((e = readdir(dp)) != NULL) {
		if (!ends_with(e->d_name, ".tok"))
			continue;
		char *tp;
		int nt = 0;
		xasprintf(&tp, "%s/%s", d->dir, e->d_name);
		int32_t *t = read_tokens(tp, &nt);
		free(tp);
		/* at least one prompt token stays to evaluate (kvstate_load) */
		int k = t ? MIN(common_prefix(t, nt, tok, n), n - 1) : 0;
		free(t);
		if (k > best_n) {
			best_n = k;
			free(best);
			best = xstrdup(e->d_name);
		}
	}
	closedir(dp);
	if (!best)
		return 0;
	char *kp, err[600];
	xasprintf(&kp, "%s/%.*s.kv", d->dir, (int)(strlen(best) - 4), best);
	int reused = 0;
	enum kvstate_result r = kvstate_load(kp, m, f, tok, n, &reused, err, sizeof err);
	if (r == KVSTATE_REFUSED) {
		warnx_("serve: kv cache: %s (removed)", err);
		remove_state(d->dir, best);
		reused = 0;
	} else if (r == KVSTATE_LOADED) {
		utimes(kp, NULL); /* used: the last to go */
	} else {
		reused = 0;
	}
	free(kp);
	free(best);
	return reused > have ? reused : 0;
}

struct entry {
	char *kv;
	time_t mtime;
	uint64_t bytes;
};

static int by_age(const void *a, const void *b)
{
	const struct entry *x = a, *y = b;
	return x->mtime < y->mtime ? -1 : x->mtime > y->mtime;
}

/* The oldest states go until the root holds at most max_bytes. */
static void bound(struct kvdisk *d)
{
	struct entry *v = NULL;
	size_t nv = 0, cap = 0;
	uint64_t total = 0;
	DIR *root = opendir(d->root);
	struct dirent *e;
	while (root && (e = readdir(root)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		char *sub;
		xasprintf(&sub, "%s/%s", d->root, e->d_name);
		DIR *dp = opendir(sub);
		struct dirent *f;
		while (dp && (f = readdir(dp)) != NULL) {
			struct stat st;
			char *p;
			if (!ends_with(f->d_name, ".kv") && !ends_with(f->d_name, ".tok"))
				continue;
			xasprintf(&p, "%s/%s", sub, f->d_name);
			if (stat(p, &st) < 0 || !S_ISREG(st.st_mode)) {
				free(p);
				continue;
			}
			total += (uint64_t)st.st_size;
			if (!ends_with(f->d_name, ".kv")) {
				free(p);
				continue;
			}
			if (nv == cap) {
				cap = cap ? 2 * cap : 32;
				v = xrealloc(v, cap * sizeof *v);
			}
			v[nv++] = (struct entry){p, st.st_mtime, (uint64_t)st.st_size};
		}
		if (dp)
			closedir(dp);
		free(sub);
	}
	if (root)
		closedir(root);
	qsort(v, nv, sizeof *v, by_age);
	for (size_t i = 0; i < nv; i++) {
		if (total > d->max_bytes) {
			char *tp;
			xasprintf(&tp, "%.*s.tok", (int)(strlen(v[i].kv) - 3), v[i].kv);
			struct stat st;
			if (stat(tp, &st) == 0)
				total -= MIN(total, (uint64_t)st.st_size);
			unlink(tp);
			unlink(v[i].kv);
			total -= MIN(total, v[i].bytes);
			free(tp);
		}
		free(v[i].kv);
	}
	free(v);
}

/* States whose tokens tok[0, n) extends: the new one replaces them. */
static void drop_prefixes(struct kvdisk *d, const int32_t *tok, int n, const char *keep)
{
	DIR *dp = opendir(d->dir);
	struct dirent *e;
	while (dp && (e = readdir(dp)) != NULL) {
		if (!ends_with(e->d_name, ".tok") || !strcmp(e->d_name, keep))
			continue;
		char *tp;
		int nt = 0;
		xasprintf(&tp, "%s/%s", d->dir, e->d_name);
		int32_t *t = read_tokens(tp, &nt);
		free(tp);
		if (t && nt <= n && common_prefix(t, nt, tok, n) == nt)
			remove_state(d->dir, e->d_name);
		free(t);
	}
	if (dp)
		closedir(dp);
}

void kvdisk_store(struct kvdisk *d, const struct model *m, const struct forward *f, const int32_t *tok, int n)
{
	if (n < MIN_TOKENS || d->max_bytes == 0)
		return;
	struct hash64 h;
	hash64_init(&h, 0x746f6b);
	hash64_update(&h, tok, (size_t)n * sizeof *tok);
	char name[64], err[600] = "", *kp, *tp;
	snprintf(name, sizeof name, "%016llx.tok", (unsigned long long)hash64_final(&h));
	xasprintf(&tp, "%s/%s", d->dir, name);
	xasprintf(&kp, "%s/%.16s.kv", d->dir, name);
	struct stat st;
	mode_t mask = umask(077); /* the conversation's tokens: private */
	if (stat(kp, &st) == 0 && stat(tp, &st) == 0) { /* kept already */
		utimes(kp, NULL);
	} else if (kvstate_save(kp, m, f, tok, n, err, sizeof err) < 0 ||
		   (fio_write_file(tp, tok, (size_t)n * sizeof *tok) < 0 &&
		    snprintf(err, sizeof err, "%s: %s", tp, fio_strerror(errno)) > 0)) {
		warnx_("serve: kv cache: %s", err);
		unlink(kp);
		unlink(tp);
	} else {
		drop_prefixes(d, tok, n, name);
	}
	umask(mask);
	free(kp);
	free(tp);
	bound(d);
}
