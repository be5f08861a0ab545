/* kernels-dotprod.c - the NEON rows built again with +dotprod, where every
 * 16-byte int8 dot product is one SDOT (ARMv8.2-A dotprod: Cortex-A55/A76
 * and later, Apple M1 and later, Neoverse). Installed on top of the NEON
 * rows when the kernel reports HWCAP_ASIMDDP. */
#define KERNELS_DOTPROD 1
#include "kernels-neon.c"
