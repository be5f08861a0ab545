/* kernels-bytes.h - plain-C byte helpers every SIMD kernel file shares:
 * offsets and sizes of the activation blocks, unaligned little-endian
 * loads, the decode prefetch (its distance also paces the bench's
 * bandwidth measure). No intrinsics here: kernels-x86.h and kernels-neon.h
 * include it and add their instruction set's helpers. Everything is static
 * inline, so each kernel file compiles it with its own flags. */
#ifndef HEFT_KERNELS_BYTES_H
#define HEFT_KERNELS_BYTES_H

#include "quant.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Byte offsets of block fields and sizes of the activation blocks. */
#define OFF(type, field) offsetof(struct type, field)
#define A80 sizeof(struct block_q8_0)
#define A80_QS OFF(block_q8_0, qs)
#define A81 sizeof(struct block_q8_1)
#define AK sizeof(struct block_q8_K)
#define AK_D OFF(block_q8_K, d)
#define AK_QS OFF(block_q8_K, qs)
#define AK_BS OFF(block_q8_K, bsums)

/* Software prefetch for the single-row products (decode, issue 18). Decode
 * reads every weight byte once, from RAM, and the hardware prefetchers of
 * the Xeon measured do not run far enough ahead to hide its latency:
 * each block of a vec_dot asks for the lines PREFETCH_AHEAD bytes further
 * on, which are the next blocks of the row, or of the next row (rows of a
 * matrix are contiguous). A hint only: no arithmetic changes, and a line
 * past the end of the mapping is not an error. The distance was tuned on
 * matrices far bigger than the caches (tests/bench/kernels-ab.sh with
 * MEM_MIB, RESULTS.md); the -D is for that tuning. */
#ifndef PREFETCH_AHEAD
#define PREFETCH_AHEAD 2048
#endif

/* Prefetch the lines of [p + PREFETCH_AHEAD, + bytes): one per 64 bytes,
 * so consecutive calls on consecutive blocks touch every line at least
 * once whatever the blocks' alignment. bytes is a constant at every call:
 * the loop unrolls. */
static inline void prefetch_ahead(const void *p, size_t bytes)
{
	for (size_t o = 0; o < bytes; o += 64)
		__builtin_prefetch((const void *)((uintptr_t)p + PREFETCH_AHEAD + o), 0, 3);
}

static inline float ldf(const uint8_t *p)
{
	float f;
	memcpy(&f, p, 4);
	return f;
}

static inline uint16_t ldu16(const uint8_t *p)
{
	uint16_t v;
	memcpy(&v, p, 2);
	return v;
}

static inline uint32_t ldu32(const uint8_t *p)
{
	uint32_t v;
	memcpy(&v, p, 4);
	return v;
}

#endif
