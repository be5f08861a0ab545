/* xorshift.h - the cheap reproducible stream of the bench tools and the
 * older tests: Marsaglia's xorshift64 (shifts 13, 7, 17). Each caller keeps
 * its own state and seed (never 0), so the data a measurement or a test was
 * made with stays the same. New unit tests take test-rng.h's splitmix64. */
#ifndef HEFT_XORSHIFT_H
#define HEFT_XORSHIFT_H

#include <stdint.h>

static inline uint64_t xorshift(uint64_t *s)
{
	uint64_t x = *s;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *s = x;
}

#endif
