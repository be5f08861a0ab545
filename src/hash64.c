/* hash64.c - the hash64 of hash64.h: four independent multiply-rotate lanes
 * over 32-byte stripes (the structure of xxHash64), so it runs at memory
 * speed on a KV payload of hundreds of MB where a byte-at-a-time FNV-1a
 * would take a second. */
#include "hash64.h"

#include "util.h"

#include <string.h>

#define H1 0x9e3779b185ebca87ull
#define H2 0xc2b2ae3d27d4eb4full
#define H3 0x165667b19e3779f9ull
#define H4 0x85ebca77c2b2ae63ull
#define H5 0x27d4eb2f165667c5ull

static uint64_t hround(uint64_t acc, uint64_t w)
{
	return rotl64(acc + w * H2, 31) * H1;
}

static void stripe(struct hash64 *h, const unsigned char *p)
{
	for (int i = 0; i < 4; i++)
		h->lane[i] = hround(h->lane[i], get_le64(p + 8 * i));
}

void hash64_init(struct hash64 *h, uint64_t seed)
{
	memset(h, 0, sizeof *h);
	h->lane[0] = seed + H1 + H2;
	h->lane[1] = seed + H2;
	h->lane[2] = seed;
	h->lane[3] = seed - H1;
}

void hash64_update(struct hash64 *h, const void *data, size_t n)
{
	const unsigned char *p = data;
	if (n == 0)
		return;
	h->total += n;
	if (h->n_tail) {
		size_t take = MIN(n, sizeof h->tail - h->n_tail);
		memcpy(h->tail + h->n_tail, p, take);
		h->n_tail += (unsigned)take;
		p += take, n -= take;
		if (h->n_tail < sizeof h->tail)
			return;
		stripe(h, h->tail);
		h->n_tail = 0;
	}
	for (; n >= 32; p += 32, n -= 32)
		stripe(h, p);
	memcpy(h->tail, p, n);
	h->n_tail = (unsigned)n;
}

uint64_t hash64_final(const struct hash64 *h)
{
	const uint64_t *l = h->lane;
	uint64_t v;
	if (h->total >= 32) {
		v = rotl64(l[0], 1) + rotl64(l[1], 7) + rotl64(l[2], 12) + rotl64(l[3], 18);
		for (int i = 0; i < 4; i++)
			v = (v ^ hround(0, l[i])) * H1 + H4;
	} else {
		v = l[2] + H5; /* lane 2 is still the seed */
	}
	v += h->total;
	const unsigned char *p = h->tail;
	unsigned n = h->n_tail;
	for (; n >= 8; p += 8, n -= 8)
		v = rotl64(v ^ hround(0, get_le64(p)), 27) * H1 + H4;
	for (; n >= 4; p += 4, n -= 4)
		v = rotl64(v ^ (uint64_t)get_le32(p) * H1, 23) * H2 + H3;
	for (; n > 0; p++, n--)
		v = rotl64(v ^ *p * H5, 11) * H1;
	v ^= v >> 33;
	v *= H2;
	v ^= v >> 29;
	v *= H3;
	return v ^ (v >> 32);
}

