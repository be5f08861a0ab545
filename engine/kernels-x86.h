/* kernels-x86.h - byte-level helpers shared by the x86 kernel files.
 *
 * Included by kernels-avx2.c, kernels-avx512.c and kernels-lowbit-avx2.c
 * inside their ISA guards, so each file compiles these with its own target
 * flags (they need AVX2 and F16C at least). Everything is static inline:
 * no symbol crosses files built for different ISAs. Loads go through memcpy
 * or unaligned intrinsics because GGUF blocks are not aligned. */
#ifndef HEFT_KERNELS_X86_H
#define HEFT_KERNELS_X86_H

#include "quant.h"

#include <immintrin.h>
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

static inline float h2f(const uint8_t *p)
{
	uint16_t h;
	memcpy(&h, p, 2);
	return _cvtsh_ss(h);
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

static inline __m128i ld128(const uint8_t *p)
{
	return _mm_loadu_si128((const __m128i *)(const void *)p);
}

static inline __m256i ld256(const uint8_t *p)
{
	return _mm256_loadu_si256((const __m256i *)(const void *)p);
}

static inline float hsum_ps(__m256 v)
{
	__m128 x = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
	x = _mm_add_ps(x, _mm_movehl_ps(x, x));
	x = _mm_add_ss(x, _mm_movehdup_ps(x));
	return _mm_cvtss_f32(x);
}

#endif
