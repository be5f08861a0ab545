/* model-id.c - a model's identity: each part's size, a hash of what
 * precedes its tensor data and one of a sample of that data. */
#include "model-id.h"

#include "gguf.h"
#include "hash64.h"
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define IO_CHUNK ((size_t)1 << 20)
#define SEED_META 0x6d657461u /* "meta" */
#define SEED_DATA 0x64617461u /* "data": a sample of the weights */
/* Of each tensor's data, the identity reads windows this big at its start,
 * middle and end (all of a smaller tensor): three pages per tensor, a
 * fraction of a second for the largest models, enough that two models
 * with the same metadata but other weights (another seed, a fine-tune)
 * are told apart. */
#define SAMPLE_BYTES ((uint64_t)1024)

/* Hash the window [off, off + n) of tensor t's data. */
static int hash_window(const struct gguf *g, const struct gguf_tensor *t, uint64_t off, uint64_t n,
		       unsigned char *buf, struct hash64 *h, char *err, size_t errlen)
{
	const struct gguf_part *p = &g->parts[t->part];
	int64_t got = pread_full(p->fd, buf, (size_t)n, t->offset + off);
	if (got != (int64_t)n) {
		snprintf(err, errlen, "%s: reading tensor %s: %s", p->path, t->name,
			 got < 0 ? strerror(errno) : "short read");
		return -1;
	}
	hash64_update(h, buf, (size_t)n);
	return 0;
}

/* The hash of a sample of the weights of part i: SAMPLE_BYTES at the start,
 * the middle and the end of each of its tensors, in file order. */
static int data_hash(const struct gguf *g, size_t part, unsigned char *buf, uint64_t *out, char *err,
		     size_t errlen)
{
	struct hash64 h;
	hash64_init(&h, SEED_DATA);
	for (size_t i = 0; i < g->n_tensors; i++) {
		const struct gguf_tensor *t = &g->tensors[i];
		if (t->part != part)
			continue;
		uint64_t n = t->nbytes;
		int rc = 0;
		if (n <= 3 * SAMPLE_BYTES)
			rc = hash_window(g, t, 0, n, buf, &h, err, errlen);
		else
			for (uint64_t k = 0; k < 3 && rc == 0; k++)
				rc = hash_window(g, t, (n - SAMPLE_BYTES) / 2 * k, SAMPLE_BYTES, buf, &h, err, errlen);
		if (rc < 0)
			return -1;
	}
	*out = hash64_final(&h);
	return 0;
}

int model_identity(const struct gguf *g, struct model_part_id *ids, char *err, size_t errlen)
{
	unsigned char *buf = xmalloc(IO_CHUNK);
	int rc = 0;
	for (size_t i = 0; i < g->n_parts && rc == 0; i++) {
		const struct gguf_part *p = &g->parts[i];
		struct hash64 h;
		hash64_init(&h, SEED_META);
		for (uint64_t off = 0; off < p->data_offset;) {
			size_t want = (size_t)MIN((uint64_t)IO_CHUNK, p->data_offset - off);
			int64_t got = pread_full(p->fd, buf, want, off);
			if (got != (int64_t)want) {
				snprintf(err, errlen, "%s: reading its metadata: %s", p->path,
					 got < 0 ? strerror(errno) : "short read");
				rc = -1;
				break;
			}
			hash64_update(&h, buf, want);
			off += want;
		}
		ids[i] = (struct model_part_id){p->file_size, p->data_offset, hash64_final(&h), 0};
		if (rc == 0)
			rc = data_hash(g, i, buf, &ids[i].data_hash, err, errlen);
	}
	free(buf);
	return rc;
}

