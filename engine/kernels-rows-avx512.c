/* kernels-rows-avx512.c - kernels-rows-avx2.c built again with the AVX-512
 * flags: 16 lanes, and the AVX-512 builds' reductions and SiLU (vscalefps),
 * which forward.c's scalar code follows at that level (kernels-rows.h). */
#define KERNELS_ROWS_AVX512 1
#include "kernels-rows-avx2.c"
