/* cpu.h - what this CPU and OS can run, probed once at run time.
 *
 * One binary runs everywhere: kernels for an instruction set are only
 * installed when CPUID says the CPU has it and XGETBV says the OS saves the
 * register state it needs (x86), or when the kernel's HWCAP lists it
 * (AArch64 Linux: getauxval(AT_HWCAP)). */
#ifndef HEFT_CPU_H
#define HEFT_CPU_H

#include <stdbool.h>

struct cpu_features {
	bool sse42, avx, avx2, fma, f16c, bmi2;
	bool avx512f, avx512bw, avx512vl, avx512dq, avx512vnni, avx512bf16;
	bool avx_vnni;
	bool amx_tile, amx_int8, amx_bf16; /* reported only; heft does not use AMX */
	bool os_ymm; /* XCR0 has SSE and AVX state */
	bool os_zmm; /* XCR0 has opmask, ZMM_Hi256 and Hi16_ZMM state */
	bool os_amx; /* XCR0 has XTILECFG and XTILEDATA (permission still needs arch_prctl) */
	/* Usable now: CPU flags and OS state together. */
	bool can_avx2;   /* avx2 + fma + f16c + YMM state */
	bool can_avx512; /* can_avx2 + avx512 f/bw/vl/dq/vnni + ZMM state */
	/* AArch64 (HWCAP_ASIMD, HWCAP_ASIMDDP, HWCAP_ASIMDHP). */
	bool neon, dotprod, fp16;
	bool can_neon;    /* Advanced SIMD */
	bool can_dotprod; /* can_neon + SDOT/UDOT */
	char vendor[13];
	char brand[49];
};

/* The probed features (probed on first call; thread-safe). */
const struct cpu_features *cpu_features(void);

/* Physical cores available to this process: distinct (package, core)
 * pairs of the CPUs in our affinity mask, from sysfs; falls back to the
 * online CPU count. At least 1. */
int cpu_physical_cores(void);

/* One line: brand, core count and the flags that matter to heft. */
const char *cpu_describe(void);

#endif
