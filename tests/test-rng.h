/* test-rng.h - the unit tests' reproducible random stream (splitmix64).
 * A test that wants its own stream defines TEST_RNG_SEED before including
 * this; each test program has one stream, so a failure replays exactly. */
#ifndef HEFT_TEST_RNG_H
#define HEFT_TEST_RNG_H

#include <stdint.h>

#ifndef TEST_RNG_SEED
#define TEST_RNG_SEED 0x9e3779b97f4a7c15ull
#endif

static uint64_t rng_state = TEST_RNG_SEED;

static uint64_t rnd(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

#endif
