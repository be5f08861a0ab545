/* kernels-lowbit-avx512.c - the very-low-bit dot products built for
 * AVX-512 (VL + VNNI): the AVX2 kernels compiled again with the AVX-512
 * flags, where the unscaled int8 dot products (TQ1_0, TQ2_0, MXFP4) fuse
 * into vpdpbusd and the rest gains EVEX encodings. A wider rewrite did not
 * pay: the grid types are bound by their table lookups, not by vector width. */
#define LOWBIT_AVX512 1
#include "kernels-lowbit-avx2.c"
