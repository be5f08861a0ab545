/* test-sysinfo.c - platform facts: parsers on canned text, then live
 * checks against this machine (skipped where a counter is unavailable). */
#include "sysinfo.h"
#include "test.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#define MiB (UINT64_C(1) << 20)
#define NA SYSINFO_NA

static void test_parse_field(void)
{
	const char *status = "Name:\ttest\nVmHWM:\t   2048 kB\nVmRSS:\t    1024 kB\n"
			     "RssAnon:\t     512 kB\nVmRSSx:\t1 kB\n";
	uint64_t v = 0;
	CHECK(sysinfo_parse_field(status, "VmRSS", &v) && v == 1024 * 1024);
	CHECK(sysinfo_parse_field(status, "VmHWM", &v) && v == 2048 * 1024);
	CHECK(sysinfo_parse_field(status, "RssAnon", &v) && v == 512 * 1024);
	CHECK(!sysinfo_parse_field(status, "RssFile", &v));
	CHECK(!sysinfo_parse_field(status, "Name", &v)); /* not a number */
	CHECK(!sysinfo_parse_field(status, "Vm", &v));   /* prefix only */

	const char *io = "rchar: 6976\nwchar: 0\nsyscr: 10\nread_bytes: 4096\n";
	CHECK(sysinfo_parse_field(io, "rchar", &v) && v == 6976);
	CHECK(sysinfo_parse_field(io, "read_bytes", &v) && v == 4096);

	const char *stat = "cache 100\ninactive_file 8192\ntotal_inactive_file 4096\n";
	CHECK(sysinfo_parse_field(stat, "inactive_file", &v) && v == 8192);
	CHECK(sysinfo_parse_field(stat, "total_inactive_file", &v) && v == 4096);

	const char *events = "low 0\nhigh 0\nmax 12\noom 1\noom_kill 1\noom_group_kill 0\n";
	CHECK(sysinfo_parse_field(events, "oom_kill", &v) && v == 1);
	CHECK(sysinfo_parse_field(events, "oom", &v) && v == 1);
	CHECK(!sysinfo_parse_field("x: 99999999999999999999999\n", "x", &v)); /* overflow */
	CHECK(!sysinfo_parse_field("x: -5\n", "x", &v));
	CHECK(!sysinfo_parse_field("", "x", &v));
}

static void test_parse_cgroup(void)
{
	char path[256];
	CHECK(sysinfo_parse_proc_cgroup("0::/user.slice/x\n", path, sizeof path) == 2 &&
	      strcmp(path, "/user.slice/x") == 0);
	CHECK(sysinfo_parse_proc_cgroup("0::/\n", path, sizeof path) == 2 && strcmp(path, "/") == 0);
	CHECK(sysinfo_parse_proc_cgroup("0::/a:b\n", path, sizeof path) == 2 &&
	      strcmp(path, "/a:b") == 0);
	/* v1 memory line wins over the v2 line of a hybrid host */
	const char *hybrid = "9:name=systemd:/\n8:pids:/\n4:memory:/docker/abc\n"
			     "2:cpu,cpuacct:/\n0::/\n";
	CHECK(sysinfo_parse_proc_cgroup(hybrid, path, sizeof path) == 1 &&
	      strcmp(path, "/docker/abc") == 0);
	CHECK(sysinfo_parse_proc_cgroup("5:cpu,memory:/x\n", path, sizeof path) == 1 &&
	      strcmp(path, "/x") == 0);
	CHECK(sysinfo_parse_proc_cgroup("5:memoryx:/x\n", path, sizeof path) == 0);
	CHECK(sysinfo_parse_proc_cgroup("2:cpu:/\n", path, sizeof path) == 0);
	CHECK(sysinfo_parse_proc_cgroup("", path, sizeof path) == 0);
	CHECK(sysinfo_parse_proc_cgroup("garbage", path, sizeof path) == 0);
	CHECK(sysinfo_parse_proc_cgroup("0::/long/path\n", path, 4) == -1);
	/* no trailing newline */
	CHECK(sysinfo_parse_proc_cgroup("4:memory:/y", path, sizeof path) == 1 &&
	      strcmp(path, "/y") == 0);

	uint64_t v = 0;
	CHECK(sysinfo_parse_cgroup_limit("max\n", &v) && v == NA);
	CHECK(sysinfo_parse_cgroup_limit("9223372036854771712\n", &v) && v == NA);
	CHECK(sysinfo_parse_cgroup_limit("9223372036854710272\n", &v) && v == NA); /* 64K pages */
	CHECK(sysinfo_parse_cgroup_limit("4509715660\n", &v) && v == 4509715660u);
	CHECK(sysinfo_parse_cgroup_limit("0\n", &v) && v == 0);
	CHECK(!sysinfo_parse_cgroup_limit("maxi\n", &v));
	CHECK(!sysinfo_parse_cgroup_limit("\n", &v));
	CHECK(!sysinfo_parse_cgroup_limit("-1\n", &v));
}

static void test_parse_disk_and_mounts(void)
{
	struct sysinfo_disk_stats s;
	const char *line = "  107073    28591  7295762   129718    28231    18414 73638312   322346"
			   "        0    55604   479785    10964       27 71082168    27700      491"
			   "       20\n";
	CHECK(sysinfo_parse_disk_stat(line, &s));
	CHECK(s.reads == 107073 && s.read_bytes == UINT64_C(7295762) * 512 && s.read_ms == 129718);
	CHECK(s.writes == 28231 && s.write_bytes == UINT64_C(73638312) * 512);
	CHECK(s.in_flight == 0 && s.busy_ms == 55604);
	CHECK(sysinfo_parse_disk_stat("1 2 3 4 5 6 7 8 9 10 11\n", &s) && s.busy_ms == 10);
	CHECK(!sysinfo_parse_disk_stat("1 2 3\n", &s));

	struct sysinfo_mountinfo m;
	char l1[] = "35 31 0:32 / /sys/fs/cgroup/memory rw,relatime shared:9 - cgroup cgroup "
		    "rw,memory";
	CHECK(sysinfo_parse_mountinfo_line(l1, &m));
	CHECK(m.major == 0 && m.minor == 32 && strcmp(m.root, "/") == 0);
	CHECK(strcmp(m.mountpoint, "/sys/fs/cgroup/memory") == 0);
	CHECK(strcmp(m.fstype, "cgroup") == 0 && strcmp(m.superopts, "rw,memory") == 0);
	char l2[] = "41 31 0:38 /docker/abc /sys/fs/cgroup rw - cgroup2 cgroup2 rw,nsdelegate";
	CHECK(sysinfo_parse_mountinfo_line(l2, &m) && strcmp(m.root, "/docker/abc") == 0 &&
	      strcmp(m.fstype, "cgroup2") == 0);
	char l3[] = "50 23 254:0 / /mnt/my\\040disk rw,relatime - ext4 /dev/vda rw";
	CHECK(sysinfo_parse_mountinfo_line(l3, &m) && strcmp(m.mountpoint, "/mnt/my disk") == 0 &&
	      m.major == 254 && strcmp(m.source, "/dev/vda") == 0);
	char l4[] = "50 23 254:0 / /mnt rw";
	CHECK(!sysinfo_parse_mountinfo_line(l4, &m));
}

static void test_memory(void)
{
	struct sysinfo_proc_mem a, b, c;
	if (!sysinfo_proc_mem(&a)) {
		fprintf(stderr, "test-sysinfo: process RSS unavailable here, skipping RSS checks\n");
		return;
	}
	CHECK(a.rss > 0);
	CHECK(a.rss_peak == NA || a.rss_peak >= a.rss);

	size_t len = 64 * MiB;
	unsigned char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(p != MAP_FAILED);
	if (p == MAP_FAILED)
		return;
	memset(p, 0x5a, len);
	CHECK(sysinfo_proc_mem(&b));
	CHECKF(b.rss >= a.rss + 48 * MiB, "rss %llu -> %llu", (unsigned long long)a.rss,
	       (unsigned long long)b.rss);
	CHECK(b.rss_peak == NA || b.rss_peak >= b.rss);
	if (a.rss_anon != NA)
		CHECK(b.rss_anon >= a.rss_anon + 48 * MiB);
	CHECK(munmap(p, len) == 0);
	CHECK(sysinfo_proc_mem(&c));
	CHECKF(c.rss + 48 * MiB <= b.rss, "rss %llu after munmap (was %llu)",
	       (unsigned long long)c.rss, (unsigned long long)b.rss);
	/* the kernel's per-CPU RSS counters are approximate: allow some slack */
	CHECKF(c.rss_peak == NA || c.rss_peak + 4 * MiB >= b.rss, "peak %llu < rss %llu",
	       (unsigned long long)c.rss_peak, (unsigned long long)b.rss);

	struct sysinfo_faults f;
	CHECK(sysinfo_faults(&f) && f.minor != NA && f.minor > 0);

	struct sysinfo_sys_mem sm;
	bool have = sysinfo_sys_mem(&sm);
#ifdef __linux__
	CHECK(have);
	CHECK(sm.available != NA && sm.available > 0 && sm.available <= sm.total);
	CHECK(sm.free <= sm.total);
#endif
	uint64_t budget = sysinfo_default_budget();
	if (have && sm.available != NA) {
		struct sysinfo_sys_mem now;
		CHECK(sysinfo_sys_mem(&now));
		CHECKF(budget > 0 && budget <= now.available + 64 * MiB, "budget %llu, available %llu",
		       (unsigned long long)budget, (unsigned long long)now.available);
		CHECK(budget % MiB == 0);
	}
	printf("rss %.1f MiB (peak %.1f), available %.1f MiB, default budget %.1f MiB\n",
	       c.rss / 1048576.0, c.rss_peak == NA ? -1.0 : c.rss_peak / 1048576.0,
	       have ? sm.available / 1048576.0 : -1.0, budget / 1048576.0);
}

static void test_cgroup(void)
{
	struct sysinfo_cgroup g;
	bool ok = sysinfo_cgroup_memory(&g);
	CHECKF(ok, "cgroup query failed (dir '%s')", sysinfo_cgroup_dir());
	if (!ok)
		return;
	if (g.version == SYSINFO_CGROUP_NONE) {
		CHECK(!g.limited && g.limit == NA);
		printf("cgroup: none\n");
		return;
	}
	CHECK(g.version == SYSINFO_CGROUP_V1 || g.version == SYSINFO_CGROUP_V2);
	CHECK(sysinfo_cgroup_dir()[0] == '/');
	CHECK(g.limited == (g.limit != NA));
	if (g.limited && g.usage != NA)
		CHECK(g.headroom != NA && g.headroom <= g.limit);
	if (!g.limited)
		CHECK(g.headroom == NA);
	printf("cgroup: v%d %s limit %s%.1f MiB usage %.1f MiB peak %.1f MiB oom_kills %lld\n",
	       (int)g.version, sysinfo_cgroup_dir(), g.limited ? "" : "none/",
	       g.limited ? g.limit / 1048576.0 : 0.0, g.usage == NA ? -1.0 : g.usage / 1048576.0,
	       g.peak == NA ? -1.0 : g.peak / 1048576.0,
	       g.oom_kills == NA ? -1LL : (long long)g.oom_kills);
}

/* Write a file of n bytes in dir; return its fd (read-write) or -1. */
static int make_file(const char *dir, size_t n, char *path, size_t cap)
{
	snprintf(path, cap, "%s/test-sysinfo.XXXXXX", dir);
	int fd = mkstemp(path);
	if (fd < 0)
		return -1;
	unlink(path);
	static unsigned char chunk[1 << 16];
	memset(chunk, 0x3c, sizeof chunk);
	for (size_t off = 0; off < n; off += sizeof chunk)
		if (write(fd, chunk, sizeof chunk) != (ssize_t)sizeof chunk) {
			close(fd);
			return -1;
		}
	return fd;
}

/* Read the whole file from the disk: O_DIRECT if the fs allows it, else
 * a buffered read after dropping it from the cache. Returns bytes read. */
static uint64_t read_from_disk(int fd, const char *procpath, size_t n)
{
	uint64_t total = 0;
	size_t bs = 1 << 20;
	void *buf = NULL;
	if (posix_memalign(&buf, 4096, bs) != 0)
		return 0;
	int dfd = open(procpath, O_RDONLY | O_DIRECT);
	int rfd = dfd;
	if (dfd < 0 || pread(dfd, buf, 4096, 0) != 4096) {
		if (dfd >= 0)
			close(dfd);
		dfd = -1;
		rfd = fd;
	}
	CHECK(sysinfo_drop_file_cache(fd));
	for (size_t off = 0; off < n; off += bs) {
		ssize_t r = pread(rfd, buf, bs, (off_t)off);
		if (r <= 0)
			break;
		total += (uint64_t)r;
	}
	if (dfd >= 0)
		close(dfd);
	free(buf);
	return total;
}

static void test_io(void)
{
	const char *dirs[4] = {getenv("TMPDIR"), "/tmp", "/var/tmp", "."};
	struct sysinfo_disk disk;
	const char *dir = NULL;
	for (int i = 0; i < 4 && !dir; i++)
		if (dirs[i] && sysinfo_disk_open(dirs[i], &disk))
			dir = dirs[i];
	/* procfs has no block device: a clean "unavailable" */
	struct sysinfo_disk none;
	CHECK(!sysinfo_disk_open("/proc/self/status", &none) && errno == ENODEV);
	CHECK(none.stat_path[0] == '\0');
	if (!dir) {
		fprintf(stderr, "test-sysinfo: no directory on a block device, skipping disk checks\n");
		memset(&disk, 0, sizeof disk);
	}

	char path[4096];
	size_t n = 16 * MiB;
	const char *fdir = dir ? dir : (getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	int fd = make_file(fdir, n, path, sizeof path);
	CHECKF(fd >= 0, "%s: cannot create a test file: %s", fdir, strerror(errno));
	if (fd < 0)
		return;
	char procpath[64];
	snprintf(procpath, sizeof procpath, "/proc/self/fd/%d", fd);

	struct sysinfo_proc_io io0, io1;
	struct sysinfo_disk_stats d0, d1;
	bool have_io = sysinfo_proc_io(&io0);
	bool have_disk = dir && disk.stat_path[0] && sysinfo_disk_read(&disk, &d0);
	(void)fsync(fd);
	uint64_t got = read_from_disk(fd, procpath, n);
	CHECK(got == n);
	if (have_io) {
		CHECK(sysinfo_proc_io(&io1));
		if (io0.rchar != NA)
			CHECK(io1.rchar >= io0.rchar + n);
		if (io0.read_bytes != NA)
			CHECKF(io1.read_bytes >= io0.read_bytes + n / 2, "read_bytes %llu -> %llu",
			       (unsigned long long)io0.read_bytes, (unsigned long long)io1.read_bytes);
	} else {
		fprintf(stderr, "test-sysinfo: /proc/self/io unavailable, skipping\n");
	}
	if (have_disk) {
		CHECK(sysinfo_disk_read(&disk, &d1));
		CHECK(d1.reads >= d0.reads && d1.writes >= d0.writes && d1.busy_ms >= d0.busy_ms);
		CHECKF(d1.read_bytes >= d0.read_bytes + n / 2, "%s read_bytes %llu -> %llu", disk.name,
		       (unsigned long long)d0.read_bytes, (unsigned long long)d1.read_bytes);
		printf("disk %s (%u:%u) for %s: +%.1f MiB read\n", disk.name, disk.major, disk.minor,
		       dir, (d1.read_bytes - d0.read_bytes) / 1048576.0);
	}
	close(fd);
}

/* The small platform calls and their fallbacks. */
static void test_platform_calls(void)
{
	/* huge pages: HEFT_HUGEPAGES=0 must take the plain-page path */
	size_t n = 4 << 20;
	void *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(p != MAP_FAILED);
	if (p != MAP_FAILED) {
		setenv("HEFT_HUGEPAGES", "0", 1);
		CHECK(!sysinfo_huge_pages(p, n));
		unsetenv("HEFT_HUGEPAGES");
		bool advised = sysinfo_huge_pages(p, n);
		printf("  huge pages: %s\n", advised ? "advised" : "not available here");
		memset(p, 1, n); /* either way the memory works */
		munmap(p, n);
	}

	/* the executable's path names this test */
	char exe[4096];
	if (sysinfo_exe_path(exe, sizeof exe)) {
		const char *base = strrchr(exe, '/');
		CHECKF(exe[0] == '/' && base && !strcmp(base, "/test-sysinfo"), "exe path %s", exe);
		CHECK(!sysinfo_exe_path(exe, 2)); /* does not fit */
	} else {
		printf("  executable path: not available here\n");
	}

	/* dropping a range: no error on a plain file where the call exists */
	char tmpl[] = "/tmp/heft-sysinfo-XXXXXX";
	int fd = mkstemp(tmpl);
	CHECK(fd >= 0);
	if (fd >= 0) {
		unlink(tmpl);
		CHECK(write(fd, tmpl, sizeof tmpl) == (ssize_t)sizeof tmpl);
#ifdef POSIX_FADV_DONTNEED
		CHECK(sysinfo_drop_range(fd, 0, sizeof tmpl));
#endif
		close(fd);
	}

	/* a peer that closes its end is seen gone; a live one is not */
	int sv[2];
	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	CHECK(!sysinfo_peer_gone(sv[0]));
	close(sv[1]);
	CHECK(sysinfo_peer_gone(sv[0]));
	close(sv[0]);
	CHECK(!sysinfo_peer_gone(-1));
}

int main(void)
{
	test_platform_calls();
	test_parse_field();
	test_parse_cgroup();
	test_parse_disk_and_mounts();
	test_memory();
	test_cgroup();
#ifdef __linux__
	test_io();
#endif
	return test_done("test-sysinfo");
}
