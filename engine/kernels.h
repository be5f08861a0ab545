/* kernels.h - SIMD rows of the type table, one installer per instruction set.
 *
 * kernels-avx2.c is compiled with -mavx2 -mfma -mf16c, kernels-avx512.c with
 * the AVX-512 flags, kernels-dotprod.c with +dotprod: nothing else in the
 * program may contain those instructions, and an installer may only be
 * called once cpu_features() says the ISA is usable (can_avx2, can_avx512,
 * can_neon, can_dotprod). An installer overwrites the
 * to_float / from_float / vec_dot / gemm / vec_dot_rows pointers of the rows
 * it accelerates (a row whose gemm it does not replace keeps the previous
 * one, at worst quant_gemm_rows looping over the new vec_dot; a vec_dot_rows
 * must have its row's vec_dot's bits, and quant.c drops one that a higher
 * level's new vec_dot left behind) and
 * leaves the others alone, so installing AVX2 then AVX-512 gives the best of
 * both. This header holds declarations only: an inline function compiled
 * with different -m flags in two files would break the one-definition rule.
 * Installers return false (and change nothing) when the file was built
 * without its ISA (a compiler lacking the flags, or another target).
 * t is the whole table, GGML_TYPE_COUNT rows. Only quant_init calls them;
 * the header names struct qtype without including quant.h, so the type
 * table does not include its own installers back. */
#ifndef HEFT_KERNELS_H
#define HEFT_KERNELS_H

#include <stdbool.h>

struct qtype;

bool kernels_avx2_install(struct qtype *t);
bool kernels_avx512_install(struct qtype *t);
/* On top of kernels_avx2_install when cpu_features()->avx_vnni: the
 * multi-row tiles with fused integer multiply-adds (bitwise the same). */
bool kernels_avxvnni_install(struct qtype *t);
/* The very-low-bit types' rows (quant-lowbit.h), installed after the
 * same ISA's kernels_*_install. */
bool kernels_lowbit_avx2_install(struct qtype *t);
bool kernels_lowbit_avx512_install(struct qtype *t);
/* AArch64: kernels-neon.c (baseline Advanced SIMD) and the same file built
 * with +dotprod (kernels-dotprod.c), installed on top of the NEON rows. */
bool kernels_neon_install(struct qtype *t);
bool kernels_dotprod_install(struct qtype *t);
bool kernels_lowbit_neon_install(struct qtype *t);
bool kernels_lowbit_dotprod_install(struct qtype *t);

#endif
