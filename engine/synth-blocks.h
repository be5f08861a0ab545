/* synth-blocks.h - random but valid tensor data of every weight type, for
 * `heft-engine synth`.
 *
 * Quantized rows are not made by quantizing floats (the search behind the
 * low-bit types costs minutes per GB): each block is filled with random
 * bits in the fields where every bit pattern is valid (grid indices, signs,
 * sub-block scales, nibbles), the fields with constraints are drawn inside
 * them (ternary digits, K-quant minimums that centre each group), and the
 * block scale is set so that the dequantized values have the standard
 * deviation asked for. That scale comes from dequantizing a sample of unit-
 * scale blocks with the type's own reference dequantizer once per type, so
 * it is right by construction for every layout.
 *
 * Values depend only on the generator's state: a tensor seeded from its
 * name gets the same bytes in any file. Not thread-safe (per-type caches). */
#ifndef HEFT_SYNTH_BLOCKS_H
#define HEFT_SYNTH_BLOCKS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* xoshiro256+ seeded through splitmix64 from a seed and a name. */
struct synth_rng {
	uint64_t s[4];
};

void synth_rng_seed(struct synth_rng *r, uint64_t seed, const char *name);
uint64_t synth_rng_next(struct synth_rng *r);

/* The per-type fix-ups of random blocks, for the type table's rows
 * (synth_fix in quant.h; synth_fix_d_first serves the types whose block
 * opens with the f16 scale and takes any other bits: IQ4_XS, IQ2, IQ3,
 * IQ1_S). */
#define SYNTH_FIX(name) void synth_fix_##name(uint8_t *b, struct synth_rng *r, float d);
SYNTH_FIX(q4_0)
SYNTH_FIX(q4_1)
SYNTH_FIX(q5_0)
SYNTH_FIX(q5_1)
SYNTH_FIX(q8_0)
SYNTH_FIX(q2_K)
SYNTH_FIX(q3_K)
SYNTH_FIX(q4_K)
SYNTH_FIX(q5_K)
SYNTH_FIX(q6_K)
SYNTH_FIX(iq4_nl)
SYNTH_FIX(d_first)
SYNTH_FIX(iq1_m)
SYNTH_FIX(tq1_0)
SYNTH_FIX(tq2_0)
SYNTH_FIX(mxfp4)
#undef SYNTH_FIX

/* True if synth can write tensors of this type (every type with kernels). */
bool synth_type_ok(uint32_t type);

/* Fill dst with n elements (a multiple of the type's block size) of the
 * type: centred on centre with standard deviation std. Float types take
 * any centre; quantized ones are always centred on 0 (norm weights are
 * F32). f is scratch room for n floats, used by the float types. */
void synth_fill(uint32_t type, struct synth_rng *r, void *dst, float *f, uint64_t n, float centre, float std);

#endif
