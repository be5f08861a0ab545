/* kernels-lowbit-dotprod.c - the very-low-bit NEON dot products built
 * again with +dotprod, where every 16-byte int8 dot product is one SDOT. */
#define KERNELS_DOTPROD 1
#include "kernels-lowbit-neon.c"
