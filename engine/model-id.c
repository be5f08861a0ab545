/* model-id.c - a model's identity: each part's size and a hash of what
 * precedes its tensor data. */
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
		ids[i] = (struct model_part_id){p->file_size, p->data_offset, hash64_final(&h)};
	}
	free(buf);
	return rc;
}

