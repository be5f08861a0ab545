/* mutate.c - write a randomly damaged copy of a file, for robustness tests.
 *
 *   mutate SEED IN OUT
 *
 * Applies 1-8 damages chosen by SEED: flip a bit, set a byte to 0x00/0xff/
 * random, overwrite 8 bytes with a huge or small little-endian integer (hits
 * counts, lengths, dims and offsets), duplicate a slice, or truncate. The
 * damage is biased towards the first 64 KiB, where GGUF headers live. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t rng;

static uint64_t next(void)
{
	uint64_t z = (rng += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static size_t pick(size_t len)
{
	size_t head = len < 65536 ? len : 65536;
	return (next() % 4 ? next() % head : next() % len);
}

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: mutate SEED IN OUT\n");
		return 2;
	}
	rng = strtoull(argv[1], NULL, 10) * 0x2545f4914f6cdd1dull + 1;
	FILE *f = fopen(argv[2], "rb");
	if (!f) {
		perror(argv[2]);
		return 1;
	}
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	if (n <= 0) {
		fprintf(stderr, "%s: empty\n", argv[2]);
		return 1;
	}
	size_t len = (size_t)n;
	unsigned char *p = malloc(len + 64);
	if (!p || fread(p, 1, len, f) != len) {
		perror(argv[2]);
		return 1;
	}
	fclose(f);

	static const uint64_t big[] = {
		UINT64_MAX, UINT64_MAX - 7, 1ull << 63, 1ull << 62, 1ull << 32, 0xffffffffu,
		0x80000000u, 0, 1, 5, 0x7fffffffffffffffull, 65536,
	};
	int rounds = 1 + (int)(next() % 8);
	for (int r = 0; r < rounds; r++) {
		size_t at = pick(len);
		switch (next() % 7) {
		case 0:
			p[at] ^= (unsigned char)(1u << (next() % 8));
			break;
		case 1:
			p[at] = (unsigned char)(next() % 3 == 0 ? 0 : next() % 2 ? 0xff : next());
			break;
		case 2:
		case 3:
			if (at + 8 <= len) {
				uint64_t v = big[next() % (sizeof big / sizeof big[0])];
				if (next() % 3 == 0)
					v = next() >> (next() % 64);
				memcpy(p + at, &v, next() % 2 ? 8 : 4);
			}
			break;
		case 4:
			if (at + 16 <= len) {
				size_t from = pick(len), k = 1 + next() % 16;
				if (from + k <= len)
					memmove(p + at, p + from, k);
			}
			break;
		case 5:
			if (next() % 3 == 0) /* truncation ends the header early: keep it rarer */
				len = at ? at : 1;
			break;
		default:
			p[at] = (unsigned char)next();
			break;
		}
	}
	f = fopen(argv[3], "wb");
	if (!f || fwrite(p, 1, len, f) != len || fclose(f)) {
		perror(argv[3]);
		return 1;
	}
	free(p);
	return 0;
}
