/* hash64.h - a fast 64-bit hash of bytes fed in pieces.
 *
 * The same value for any split of the same bytes. Not cryptographic: it
 * catches accidents (another file, a flipped bit, a torn write), not an
 * adversary. Used for the KV state files' checksums and for naming files
 * cached per model. */
#ifndef HEFT_HASH64_H
#define HEFT_HASH64_H

#include <stddef.h>
#include <stdint.h>

struct hash64 {
	uint64_t lane[4];
	uint64_t total;
	unsigned char tail[32];
	unsigned n_tail;
};

void hash64_init(struct hash64 *h, uint64_t seed);
void hash64_update(struct hash64 *h, const void *data, size_t n);
uint64_t hash64_final(const struct hash64 *h);

#endif
