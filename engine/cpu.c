/* cpu.c - run-time CPU feature detection (CPUID and XGETBV on x86, HWCAP
 * on AArch64) and core count. */

#include "cpu.h"

#include <pthread.h>
#include <sched.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#define HEFT_X86 1
#endif

static struct cpu_features feat;
static pthread_once_t feat_once = PTHREAD_ONCE_INIT;

#ifdef HEFT_X86
static void cpuid(unsigned leaf, unsigned sub, unsigned r[4])
{
	__cpuid_count(leaf, sub, r[0], r[1], r[2], r[3]);
}

/* XGETBV is only legal when CPUID.1:ECX.OSXSAVE is set; the caller checks.
 * Spelled as bytes so no -mxsave is needed. */
static uint64_t xgetbv0(void)
{
	uint32_t lo, hi;
	__asm__ volatile(".byte 0x0f, 0x01, 0xd0" : "=a"(lo), "=d"(hi) : "c"(0));
	return (uint64_t)hi << 32 | lo;
}

static void probe(void)
{
	unsigned r[4];
	cpuid(0, 0, r);
	unsigned max_leaf = r[0];
	memcpy(feat.vendor, &r[1], 4);
	memcpy(feat.vendor + 4, &r[3], 4);
	memcpy(feat.vendor + 8, &r[2], 4);
	feat.vendor[12] = 0;

	bool osxsave = false;
	if (max_leaf >= 1) {
		cpuid(1, 0, r);
		feat.sse42 = r[2] >> 20 & 1;
		feat.fma = r[2] >> 12 & 1;
		osxsave = r[2] >> 27 & 1;
		feat.avx = r[2] >> 28 & 1;
		feat.f16c = r[2] >> 29 & 1;
	}
	if (max_leaf >= 7) {
		cpuid(7, 0, r);
		unsigned sub_max = r[0];
		feat.avx2 = r[1] >> 5 & 1;
		feat.bmi2 = r[1] >> 8 & 1;
		feat.avx512f = r[1] >> 16 & 1;
		feat.avx512dq = r[1] >> 17 & 1;
		feat.avx512bw = r[1] >> 30 & 1;
		feat.avx512vl = r[1] >> 31 & 1;
		feat.avx512vnni = r[2] >> 11 & 1;
		feat.amx_bf16 = r[3] >> 22 & 1;
		feat.amx_tile = r[3] >> 24 & 1;
		feat.amx_int8 = r[3] >> 25 & 1;
		if (sub_max >= 1) {
			cpuid(7, 1, r);
			feat.avx_vnni = r[0] >> 4 & 1;
			feat.avx512bf16 = r[0] >> 5 & 1;
		}
	}
	if (osxsave) {
		uint64_t xcr0 = xgetbv0();
		feat.os_ymm = (xcr0 & 0x6) == 0x6;          /* SSE, AVX */
		feat.os_zmm = (xcr0 & 0xe6) == 0xe6;        /* + opmask, ZMM_Hi256, Hi16_ZMM */
		feat.os_amx = (xcr0 & 0x60000) == 0x60000;  /* XTILECFG, XTILEDATA */
	}
	feat.can_avx2 = feat.os_ymm && feat.avx && feat.avx2 && feat.fma && feat.f16c;
	feat.can_avx512 = feat.can_avx2 && feat.os_zmm && feat.avx512f && feat.avx512bw &&
			  feat.avx512vl && feat.avx512dq && feat.avx512vnni;

	cpuid(0x80000000u, 0, r);
	if (r[0] >= 0x80000004u) {
		for (unsigned i = 0; i < 3; i++) {
			cpuid(0x80000002u + i, 0, r);
			memcpy(feat.brand + 16 * i, r, 16);
		}
		feat.brand[48] = 0;
	}
	/* Trim the padding some vendors put around the brand string. */
	char *b = feat.brand;
	while (*b == ' ')
		b++;
	memmove(feat.brand, b, strlen(b) + 1);
	for (size_t n = strlen(feat.brand); n && feat.brand[n - 1] == ' '; n--)
		feat.brand[n - 1] = 0;
}
#elif defined(__aarch64__) && defined(__linux__)
#include <sys/auxv.h>

/* The kernel's view, which also covers what it lets user space use. Bit
 * numbers from the Linux arm64 uapi hwcap.h, spelled here so an old libc's
 * headers are enough. */
static void probe(void)
{
	unsigned long hw = getauxval(AT_HWCAP);
	strcpy(feat.vendor, "AArch64");
	feat.neon = hw >> 1 & 1;     /* HWCAP_ASIMD */
	feat.fp16 = hw >> 10 & 1;    /* HWCAP_ASIMDHP */
	feat.dotprod = hw >> 20 & 1; /* HWCAP_ASIMDDP */
	feat.can_neon = feat.neon;
	feat.can_dotprod = feat.neon && feat.dotprod;
}
#elif defined(__aarch64__)
/* AArch64 without Linux's HWCAP (macOS: every Apple core has dotprod, but
 * sysctl hw.optional.arm.FEAT_DotProd is the place to ask): baseline only. */
static void probe(void)
{
	strcpy(feat.vendor, "AArch64");
	feat.neon = feat.can_neon = true;
}
#else
static void probe(void)
{
	strcpy(feat.vendor, "unknown");
}
#endif

const struct cpu_features *cpu_features(void)
{
	pthread_once(&feat_once, probe);
	return &feat;
}

/* Reads one small integer from a sysfs file; -1 if absent. */
static long read_long(const char *path)
{
	FILE *f = fopen(path, "r");
	long v = -1;
	if (!f)
		return -1;
	if (fscanf(f, "%ld", &v) != 1)
		v = -1;
	fclose(f);
	return v;
}

int cpu_physical_cores(void)
{
	long online = sysconf(_SC_NPROCESSORS_ONLN);
	if (online < 1)
		online = 1;
#ifdef __linux__
	cpu_set_t set;
	bool have_set = sched_getaffinity(0, sizeof set, &set) == 0;
	enum { MAXC = 4096 };
	static long keys[MAXC];
	int nkeys = 0, ncpus = 0;
	for (int c = 0; c < MAXC && c < CPU_SETSIZE; c++) {
		if (have_set && !CPU_ISSET(c, &set))
			continue;
		char path[128];
		snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu%d/topology/core_id", c);
		long core = read_long(path);
		if (core < 0)
			continue;
		snprintf(path, sizeof path,
			 "/sys/devices/system/cpu/cpu%d/topology/physical_package_id", c);
		long pkg = read_long(path);
		long key = (pkg < 0 ? 0 : pkg) << 20 | core;
		ncpus++;
		int k;
		for (k = 0; k < nkeys && keys[k] != key; k++)
			;
		if (k == nkeys && nkeys < MAXC)
			keys[nkeys++] = key;
	}
	if (nkeys > 0)
		return nkeys;
	if (have_set && CPU_COUNT(&set) > 0)
		return CPU_COUNT(&set);
#endif
	return (int)online;
}

static char describe_buf[512];
static pthread_once_t describe_once = PTHREAD_ONCE_INIT;

static void describe(void)
{
	const struct cpu_features *f = cpu_features();
	static const struct {
		const char *name;
		size_t off;
	} flags[] = {
#define F(x) {#x, offsetof(struct cpu_features, x)}
		F(avx2), F(fma), F(f16c), F(avx512f), F(avx512bw), F(avx512vl), F(avx512dq),
		F(avx512vnni), F(avx512bf16), F(avx_vnni), F(amx_tile), F(amx_int8), F(amx_bf16),
		F(neon), F(dotprod), F(fp16),
#undef F
	};
	char *b = describe_buf;
	size_t cap = sizeof describe_buf, n;
	snprintf(b, cap, "%s, %d cores:", f->brand[0] ? f->brand : f->vendor, cpu_physical_cores());
	for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++) {
		if (!*(const bool *)((const char *)f + flags[i].off))
			continue;
		n = strlen(b);
		snprintf(b + n, cap - n, " %s", flags[i].name);
	}
	n = strlen(b);
	if (f->avx && !f->os_ymm)
		snprintf(b + n, cap - n, " (OS does not save ymm state)");
	else if (f->avx512f && !f->os_zmm)
		snprintf(b + n, cap - n, " (OS does not save zmm state)");
}

/* Built once: the flags cannot change, and a changing core count would
 * only confuse a log. */
const char *cpu_describe(void)
{
	pthread_once(&describe_once, describe);
	return describe_buf;
}
