/* sysinfo.c - platform facts for the memory plan and the stats panes.
 *
 * Everything is read from small procfs/sysfs files into stack buffers:
 * no heap allocation, so the stats loop may call in at any rate. A value
 * that cannot be read stays SYSINFO_NA; nothing is ever guessed. At the
 * end, the small platform calls other files use instead of naming a
 * Linux-only call themselves (docs/porting.md). */
#include "sysinfo.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <poll.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#ifdef __linux__
#include <sys/sysmacros.h>
#endif
#ifdef __APPLE__
#include <libproc.h>
#include <mach-o/dyld.h>
#include <mach/mach.h>
#include <sys/sysctl.h>
#endif

/* v1 reports "no limit" as PAGE_COUNTER_MAX pages (9223372036854771712 with
 * 4 KiB pages, other values with other page sizes): anything this large. */
#define CGROUP_UNLIMITED_MIN (UINT64_C(1) << 62)

/* ---- small helpers */

static uint64_t min_u64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

/* Read a small file whole into buf (NUL-terminated; truncated at cap - 1). */
static bool read_small(const char *path, char *buf, size_t cap)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	size_t len = 0;
	while (len + 1 < cap) {
		ssize_t n = read(fd, buf + len, cap - 1 - len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			int e = errno;
			close(fd);
			errno = e;
			return false;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	buf[len] = '\0';
	return true;
}

/* Parse an unsigned decimal at *s (after blanks); false on garbage/overflow. */
static bool parse_u64_at(const char *s, uint64_t *out, const char **end)
{
	while (*s == ' ' || *s == '\t')
		s++;
	if (!isdigit((unsigned char)*s))
		return false;
	uint64_t v = 0;
	for (; isdigit((unsigned char)*s); s++) {
		unsigned d = (unsigned)(*s - '0');
		if (v > (UINT64_MAX - d) / 10)
			return false;
		v = v * 10 + d;
	}
	*out = v;
	if (end)
		*end = s;
	return true;
}

/* Call fn on every line of a file of any length, with a fixed buffer;
 * lines longer than the buffer are skipped. fn returns false to stop. */
static bool for_each_line(const char *path, bool (*fn)(char *line, void *ctx), void *ctx)
{
	char buf[8192];
	size_t have = 0;
	bool skipping = false;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	for (;;) {
		ssize_t n = read(fd, buf + have, sizeof buf - 1 - have);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int e = errno;
			close(fd);
			errno = e;
			return false;
		}
		if (n == 0) {
			buf[have] = '\0';
			if (have && !skipping)
				fn(buf, ctx);
			break;
		}
		have += (size_t)n;
		char *start = buf, *nl;
		while ((nl = memchr(start, '\n', (size_t)(buf + have - start)))) {
			*nl = '\0';
			if (!skipping && !fn(start, ctx)) {
				close(fd);
				return true;
			}
			skipping = false;
			start = nl + 1;
		}
		size_t rest = (size_t)(buf + have - start);
		if (rest == sizeof buf - 1) { /* overlong line: drop it */
			skipping = true;
			rest = 0;
		}
		memmove(buf, start, rest);
		have = rest;
	}
	close(fd);
	return true;
}

/* ---- parsers (exposed for tests) */

bool sysinfo_parse_field(const char *text, const char *key, uint64_t *out)
{
	size_t klen = strlen(key);
	for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
		if (strncmp(p, key, klen) != 0)
			continue;
		const char *q = p + klen;
		if (*q == ':')
			q++;
		else if (*q != ' ' && *q != '\t')
			continue;
		uint64_t v;
		if (!parse_u64_at(q, &v, &q))
			return false;
		while (*q == ' ' || *q == '\t')
			q++;
		if (strncmp(q, "kB", 2) == 0) {
			if (v > UINT64_MAX / 1024)
				return false;
			v *= 1024;
		}
		*out = v;
		return true;
	}
	return false;
}

/* Is word one of the comma-separated items in [list, list + n)? */
static bool list_has(const char *list, size_t n, const char *word)
{
	size_t wl = strlen(word);
	const char *end = list + n;
	while (list < end) {
		const char *comma = memchr(list, ',', (size_t)(end - list));
		size_t il = comma ? (size_t)(comma - list) : (size_t)(end - list);
		if (il == wl && memcmp(list, word, wl) == 0)
			return true;
		list += il + 1;
	}
	return false;
}

int sysinfo_parse_proc_cgroup(const char *text, char *path, size_t cap)
{
	const char *v2 = NULL;
	size_t v2len = 0;
	for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
		const char *eol = strchr(p, '\n');
		if (!eol)
			eol = p + strlen(p);
		const char *c1 = memchr(p, ':', (size_t)(eol - p));
		if (!c1)
			continue;
		const char *c2 = memchr(c1 + 1, ':', (size_t)(eol - c1 - 1));
		if (!c2)
			continue;
		const char *cpath = c2 + 1; /* a path may itself hold ':' */
		size_t plen = (size_t)(eol - cpath);
		size_t clen = (size_t)(c2 - c1 - 1);
		if (clen == 0 && c1 - p == 1 && *p == '0') {
			v2 = cpath;
			v2len = plen;
		} else if (list_has(c1 + 1, clen, "memory")) {
			if (plen + 1 > cap)
				return -1;
			memcpy(path, cpath, plen);
			path[plen] = '\0';
			return 1;
		}
	}
	if (!v2)
		return 0;
	if (v2len + 1 > cap)
		return -1;
	memcpy(path, v2, v2len);
	path[v2len] = '\0';
	return 2;
}

bool sysinfo_parse_cgroup_limit(const char *text, uint64_t *out)
{
	while (*text == ' ' || *text == '\t')
		text++;
	if (strncmp(text, "max", 3) == 0 && (text[3] == '\0' || isspace((unsigned char)text[3]))) {
		*out = SYSINFO_NA;
		return true;
	}
	uint64_t v;
	if (!parse_u64_at(text, &v, NULL))
		return false;
	*out = v >= CGROUP_UNLIMITED_MIN ? SYSINFO_NA : v;
	return true;
}

bool sysinfo_parse_disk_stat(const char *text, struct sysinfo_disk_stats *out)
{
	uint64_t f[11];
	const char *p = text;
	for (int i = 0; i < 11; i++)
		if (!parse_u64_at(p, &f[i], &p))
			return false;
	/* fields: reads, merged, sectors, ms, writes, merged, sectors, ms,
	 * in flight, io ticks, weighted ticks; sectors are always 512 bytes */
	if (f[2] > UINT64_MAX / 512 || f[6] > UINT64_MAX / 512)
		return false;
	out->reads = f[0];
	out->read_bytes = f[2] * 512;
	out->read_ms = f[3];
	out->writes = f[4];
	out->write_bytes = f[6] * 512;
	out->in_flight = f[8];
	out->busy_ms = f[9];
	return true;
}

/* Undo mountinfo's octal escapes (\040 space, \011 tab, \012, \134) in place. */
static void unescape_octal(char *s)
{
	char *w = s;
	for (char *r = s; *r;) {
		if (r[0] == '\\' && r[1] >= '0' && r[1] <= '3' && r[2] >= '0' && r[2] <= '7' &&
		    r[3] >= '0' && r[3] <= '7') {
			*w++ = (char)((r[1] - '0') * 64 + (r[2] - '0') * 8 + (r[3] - '0'));
			r += 4;
		} else {
			*w++ = *r++;
		}
	}
	*w = '\0';
}

bool sysinfo_parse_mountinfo_line(char *line, struct sysinfo_mountinfo *out)
{
	/* id parent maj:min root mountpoint opts [optional...] - fstype source superopts */
	char *field[64];
	int n = 0;
	for (char *p = line; *p && n < 64;) {
		while (*p == ' ')
			p++;
		if (!*p)
			break;
		field[n++] = p;
		while (*p && *p != ' ')
			p++;
		if (*p)
			*p++ = '\0';
	}
	if (n < 10)
		return false;
	int dash = -1;
	for (int i = 6; i < n; i++)
		if (strcmp(field[i], "-") == 0) {
			dash = i;
			break;
		}
	if (dash < 0 || dash + 2 >= n)
		return false;
	if (sscanf(field[2], "%u:%u", &out->major, &out->minor) != 2)
		return false;
	for (int i = 3; i < n; i++)
		unescape_octal(field[i]);
	out->root = field[3];
	out->mountpoint = field[4];
	out->fstype = field[dash + 1];
	out->source = field[dash + 2];
	out->superopts = dash + 3 < n ? field[dash + 3] : "";
	return true;
}

/* ---- process and system memory */

bool sysinfo_proc_mem(struct sysinfo_proc_mem *out)
{
	out->rss = out->rss_peak = out->rss_anon = out->rss_file = out->rss_shmem = SYSINFO_NA;
#if defined(__linux__)
	char buf[8192];
	if (!read_small("/proc/self/status", buf, sizeof buf))
		return false;
	uint64_t v;
	if (sysinfo_parse_field(buf, "VmRSS", &v))
		out->rss = v;
	if (sysinfo_parse_field(buf, "VmHWM", &v))
		out->rss_peak = v;
	if (sysinfo_parse_field(buf, "RssAnon", &v))
		out->rss_anon = v;
	if (sysinfo_parse_field(buf, "RssFile", &v))
		out->rss_file = v;
	if (sysinfo_parse_field(buf, "RssShmem", &v))
		out->rss_shmem = v;
#elif defined(__APPLE__)
	mach_task_basic_info_data_t info;
	mach_msg_type_number_t count = MACH_TASK_BASIC_INFO_COUNT;
	if (task_info(mach_task_self(), MACH_TASK_BASIC_INFO, (task_info_t)&info, &count) !=
	    KERN_SUCCESS)
		return false;
	out->rss = info.resident_size;
	out->rss_peak = info.resident_size_max;
#endif
	return out->rss != SYSINFO_NA;
}

bool sysinfo_faults(struct sysinfo_faults *out)
{
	struct rusage ru;
	out->major = out->minor = SYSINFO_NA;
	if (getrusage(RUSAGE_SELF, &ru) != 0)
		return false;
	out->major = (uint64_t)ru.ru_majflt;
	out->minor = (uint64_t)ru.ru_minflt;
	return true;
}

bool sysinfo_sys_mem(struct sysinfo_sys_mem *out)
{
	out->total = out->available = out->free = out->cached = SYSINFO_NA;
#if defined(__linux__)
	char buf[8192];
	if (!read_small("/proc/meminfo", buf, sizeof buf))
		return false;
	uint64_t v;
	if (sysinfo_parse_field(buf, "MemTotal", &v))
		out->total = v;
	if (sysinfo_parse_field(buf, "MemAvailable", &v))
		out->available = v;
	if (sysinfo_parse_field(buf, "MemFree", &v))
		out->free = v;
	if (sysinfo_parse_field(buf, "Cached", &v))
		out->cached = v;
#elif defined(__APPLE__)
	uint64_t memsize;
	size_t len = sizeof memsize;
	if (sysctlbyname("hw.memsize", &memsize, &len, NULL, 0) == 0)
		out->total = memsize;
	vm_statistics64_data_t vm;
	mach_msg_type_number_t count = HOST_VM_INFO64_COUNT;
	vm_size_t page = 0;
	if (host_page_size(mach_host_self(), &page) == KERN_SUCCESS &&
	    host_statistics64(mach_host_self(), HOST_VM_INFO64, (host_info64_t)&vm, &count) ==
		    KERN_SUCCESS) {
		out->free = (uint64_t)vm.free_count * page;
		out->available =
			((uint64_t)vm.free_count + vm.inactive_count + vm.purgeable_count) * page;
		out->cached = (uint64_t)vm.external_page_count * page;
	}
#endif
	return out->total != SYSINFO_NA;
}

/* ---- cgroup */

static struct {
	pthread_once_t once;
	enum sysinfo_cgroup_version version;
	char dir[PATH_MAX];  /* our group's directory */
	size_t top;          /* length of the hierarchy's mount point in dir */
} cg = {.once = PTHREAD_ONCE_INIT};

struct mount_search {
	int version;
	bool found;
	char mountpoint[PATH_MAX];
	char root[PATH_MAX];
};

static bool find_cgroup_mount(char *line, void *ctx)
{
	struct mount_search *ms = ctx;
	struct sysinfo_mountinfo m;
	if (!sysinfo_parse_mountinfo_line(line, &m))
		return true;
	bool hit = ms->version == 2
			   ? strcmp(m.fstype, "cgroup2") == 0
			   : strcmp(m.fstype, "cgroup") == 0 &&
				     list_has(m.superopts, strlen(m.superopts), "memory");
	if (!hit || strlen(m.mountpoint) >= sizeof ms->mountpoint || strlen(m.root) >= sizeof ms->root)
		return true;
	strcpy(ms->mountpoint, m.mountpoint);
	strcpy(ms->root, m.root);
	ms->found = true;
	return false;
}

static void cgroup_resolve(void)
{
#ifdef __linux__
	char text[8192], path[PATH_MAX];
	if (!read_small("/proc/self/cgroup", text, sizeof text))
		return;
	int version = sysinfo_parse_proc_cgroup(text, path, sizeof path);
	if (version <= 0)
		return;
	struct mount_search ms = {.version = version};
	if (!for_each_line("/proc/self/mountinfo", find_cgroup_mount, &ms) || !ms.found)
		return;
	/* Outside a cgroup namespace a container may see its own group
	 * mounted as the root: strip the mount's root from the path. */
	const char *rel = path;
	size_t rl = strlen(ms.root);
	if (strcmp(ms.root, "/") != 0 && strncmp(path, ms.root, rl) == 0 &&
	    (path[rl] == '/' || path[rl] == '\0'))
		rel = path + rl;
	if (strstr(rel, "/..") || strstr(rel, " (deleted)"))
		rel = ""; /* outside our view of the hierarchy: use its root */
	while (*rel == '/')
		rel++;
	size_t top = strlen(ms.mountpoint);
	while (top > 1 && ms.mountpoint[top - 1] == '/')
		ms.mountpoint[--top] = '\0';
	int n = snprintf(cg.dir, sizeof cg.dir, "%s%s%s", ms.mountpoint, *rel ? "/" : "", rel);
	if (n < 0 || (size_t)n >= sizeof cg.dir) {
		cg.dir[0] = '\0';
		return;
	}
	size_t len = (size_t)n;
	while (len > top && cg.dir[len - 1] == '/')
		cg.dir[--len] = '\0';
	struct stat st;
	if (stat(cg.dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
		cg.dir[0] = '\0';
		return;
	}
	/* v2 with no memory controller anywhere: no memory cgroup */
	if (version == 2) {
		char ctl[PATH_MAX + 32], list[512];
		snprintf(ctl, sizeof ctl, "%s/cgroup.controllers", ms.mountpoint);
		if (!read_small(ctl, list, sizeof list) || !strstr(list, "memory")) {
			cg.dir[0] = '\0';
			return;
		}
	}
	cg.top = top;
	cg.version = (enum sysinfo_cgroup_version)version;
#endif
}

const char *sysinfo_cgroup_dir(void)
{
	pthread_once(&cg.once, cgroup_resolve);
	return cg.version ? cg.dir : "";
}

/* Read dir/name into buf; false if missing. */
static bool read_cg(const char *dir, const char *name, char *buf, size_t cap)
{
	char p[PATH_MAX + 64];
	int n = snprintf(p, sizeof p, "%s/%s", dir, name);
	return n > 0 && (size_t)n < sizeof p && read_small(p, buf, cap);
}

/* The limit set at one level, SYSINFO_NA if none. */
static uint64_t level_limit(const char *dir, int version)
{
	char buf[64];
	uint64_t lim = SYSINFO_NA, v;
	if (version == 2) {
		if (read_cg(dir, "memory.max", buf, sizeof buf) && sysinfo_parse_cgroup_limit(buf, &v))
			lim = v;
		if (read_cg(dir, "memory.high", buf, sizeof buf) && sysinfo_parse_cgroup_limit(buf, &v))
			lim = min_u64(lim, v);
	} else if (read_cg(dir, "memory.limit_in_bytes", buf, sizeof buf) &&
		   sysinfo_parse_cgroup_limit(buf, &v)) {
		lim = v;
	}
	return lim;
}

static uint64_t level_usage(const char *dir, int version)
{
	char buf[64];
	uint64_t v;
	if (read_cg(dir, version == 2 ? "memory.current" : "memory.usage_in_bytes", buf, sizeof buf) &&
	    parse_u64_at(buf, &v, NULL))
		return v;
	return SYSINFO_NA;
}

bool sysinfo_cgroup_memory(struct sysinfo_cgroup *out)
{
	memset(out, 0, sizeof *out);
	out->limit = out->usage = out->peak = out->inactive_file = out->headroom = out->oom_kills =
		SYSINFO_NA;
	pthread_once(&cg.once, cgroup_resolve);
	if (!cg.version)
		return true;
	int v = (int)cg.version;
	out->version = cg.version;
	char buf[8192];
	uint64_t x;

	out->usage = level_usage(cg.dir, v);
	if (read_cg(cg.dir, v == 2 ? "memory.peak" : "memory.max_usage_in_bytes", buf, 64) &&
	    parse_u64_at(buf, &x, NULL))
		out->peak = x;
	if (read_cg(cg.dir, v == 2 ? "memory.events" : "memory.oom_control", buf, sizeof buf) &&
	    sysinfo_parse_field(buf, "oom_kill", &x))
		out->oom_kills = x;
	if (read_cg(cg.dir, "memory.stat", buf, sizeof buf)) {
		if (sysinfo_parse_field(buf, v == 2 ? "inactive_file" : "total_inactive_file", &x))
			out->inactive_file = x;
		/* v1: ancestors above a container's view still limit us */
		if (v == 1 && sysinfo_parse_field(buf, "hierarchical_memory_limit", &x) &&
		    x < CGROUP_UNLIMITED_MIN) {
			out->limit = x;
			if (out->usage != SYSINFO_NA)
				out->headroom = x > out->usage ? x - out->usage : 0;
		}
	}
	bool any = out->usage != SYSINFO_NA || out->limit != SYSINFO_NA;

	/* walk up to the hierarchy's root: the tightest level wins */
	char dir[PATH_MAX];
	strcpy(dir, cg.dir);
	bool ours = true;
	for (size_t len = strlen(dir);; ours = false) {
		uint64_t lim = level_limit(dir, v);
		if (lim != SYSINFO_NA) {
			any = true;
			out->limit = min_u64(out->limit, lim);
			uint64_t use = ours ? out->usage : level_usage(dir, v);
			if (use != SYSINFO_NA)
				out->headroom = min_u64(out->headroom, lim > use ? lim - use : 0);
		}
		if (len <= cg.top)
			break;
		while (len > cg.top && dir[len - 1] != '/')
			len--;
		if (len > cg.top)
			len--; /* the slash */
		dir[len] = '\0';
	}
	out->limited = out->limit != SYSINFO_NA;
	if (!any)
		return false;
	return true;
}

/* ---- process I/O */

bool sysinfo_proc_io(struct sysinfo_proc_io *out)
{
	out->rchar = out->wchar = out->syscr = out->syscw = out->read_bytes = out->write_bytes =
		SYSINFO_NA;
#if defined(__linux__)
	char buf[1024];
	if (!read_small("/proc/self/io", buf, sizeof buf))
		return false;
	uint64_t v;
	if (sysinfo_parse_field(buf, "rchar", &v))
		out->rchar = v;
	if (sysinfo_parse_field(buf, "wchar", &v))
		out->wchar = v;
	if (sysinfo_parse_field(buf, "syscr", &v))
		out->syscr = v;
	if (sysinfo_parse_field(buf, "syscw", &v))
		out->syscw = v;
	if (sysinfo_parse_field(buf, "read_bytes", &v))
		out->read_bytes = v;
	if (sysinfo_parse_field(buf, "write_bytes", &v))
		out->write_bytes = v;
	return out->read_bytes != SYSINFO_NA || out->rchar != SYSINFO_NA;
#elif defined(__APPLE__)
	struct rusage_info_v2 ri;
	if (proc_pid_rusage(getpid(), RUSAGE_INFO_V2, (rusage_info_t *)&ri) != 0)
		return false;
	out->read_bytes = ri.ri_diskio_bytesread;
	out->write_bytes = ri.ri_diskio_byteswritten;
	return true;
#else
	return false;
#endif
}

/* ---- disks */

#ifdef __linux__
struct dev_search {
	unsigned major, minor;
	dev_t rdev;
	bool found;
};

static bool find_mount_source(char *line, void *ctx)
{
	struct dev_search *ds = ctx;
	struct sysinfo_mountinfo m;
	struct stat st;
	if (!sysinfo_parse_mountinfo_line(line, &m) || m.major != ds->major || m.minor != ds->minor)
		return true;
	if (strncmp(m.source, "/dev/", 5) == 0 && stat(m.source, &st) == 0 && S_ISBLK(st.st_mode)) {
		ds->rdev = st.st_rdev;
		ds->found = true;
		return false;
	}
	return true;
}

static bool disk_of_dev(unsigned maj, unsigned min, struct sysinfo_disk *out)
{
	char link[64], p[PATH_MAX], real[PATH_MAX];
	snprintf(link, sizeof link, "/sys/dev/block/%u:%u", maj, min);
	snprintf(p, sizeof p, "%s/partition", link);
	bool part = access(p, F_OK) == 0;
	/* "..": the kernel resolves the symlink first, so this is the
	 * partition's parent directory, i.e. its whole disk */
	snprintf(p, sizeof p, "%s%s", link, part ? "/.." : "");
	if (!realpath(p, real))
		return false;
	int n = snprintf(out->stat_path, sizeof out->stat_path, "%s/stat", real);
	if (n < 0 || (size_t)n >= sizeof out->stat_path || access(out->stat_path, R_OK) != 0)
		return false;
	const char *base = strrchr(real, '/');
	base = base ? base + 1 : real;
	size_t bl = strlen(base);
	if (bl >= sizeof out->name)
		bl = sizeof out->name - 1;
	memcpy(out->name, base, bl);
	out->name[bl] = '\0';
	char devbuf[32];
	memcpy(p, out->stat_path, (size_t)n - 4); /* ".../stat" -> ".../dev" */
	strcpy(p + n - 4, "dev");
	if (!read_small(p, devbuf, sizeof devbuf) ||
	    sscanf(devbuf, "%u:%u", &out->major, &out->minor) != 2) {
		out->major = maj;
		out->minor = min;
	}
	return true;
}
#endif

bool sysinfo_disk_open(const char *path, struct sysinfo_disk *out)
{
	memset(out, 0, sizeof *out);
#ifdef __linux__
	struct stat st;
	if (stat(path, &st) != 0)
		return false;
	unsigned maj = major(st.st_dev), min = minor(st.st_dev);
	if (maj != 0 && disk_of_dev(maj, min, out))
		return true;
	/* btrfs and friends: anonymous st_dev, block device named by the mount */
	struct dev_search ds = {.major = maj, .minor = min};
	if (for_each_line("/proc/self/mountinfo", find_mount_source, &ds) && ds.found &&
	    disk_of_dev(major(ds.rdev), minor(ds.rdev), out))
		return true;
	memset(out, 0, sizeof *out);
	errno = ENODEV;
	return false;
#else
	(void)path;
	errno = ENOSYS;
	return false;
#endif
}

bool sysinfo_disk_read(const struct sysinfo_disk *disk, struct sysinfo_disk_stats *out)
{
	char buf[512];
	if (!disk->stat_path[0] || !read_small(disk->stat_path, buf, sizeof buf))
		return false;
	return sysinfo_parse_disk_stat(buf, out);
}

/* ---- budget and cache */

uint64_t sysinfo_default_budget(void)
{
	struct sysinfo_sys_mem sm;
	struct sysinfo_proc_mem pm;
	struct sysinfo_cgroup cgm;
	uint64_t room = SYSINFO_NA;
	bool have_pm = sysinfo_proc_mem(&pm);
	if (sysinfo_sys_mem(&sm) && sm.available != SYSINFO_NA) {
		room = sm.available;
		if (have_pm && pm.rss_anon != SYSINFO_NA)
			room += pm.rss_anon;
	}
	if (sysinfo_cgroup_memory(&cgm) && cgm.limited) {
		uint64_t c = cgm.headroom != SYSINFO_NA ? cgm.headroom : cgm.limit;
		if (cgm.headroom != SYSINFO_NA && have_pm)
			c += pm.rss;
		room = min_u64(room, min_u64(c, cgm.limit));
	}
	if (room == SYSINFO_NA)
		return 0;
	uint64_t budget = room / 4 * 3;
	return budget & ~(uint64_t)((1u << 20) - 1);
}

bool sysinfo_drop_file_cache(int fd)
{
#if defined(__linux__) || defined(POSIX_FADV_DONTNEED)
	/* DONTNEED skips dirty pages: write them back first */
	if (fdatasync(fd) != 0 && errno != EINVAL && errno != EROFS)
		return false;
	int rc = posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
	if (rc != 0) {
		errno = rc;
		return false;
	}
	return true;
#else
	(void)fd;
	errno = ENOSYS;
	return false;
#endif
}

int sysinfo_punch_hole(int fd, int64_t off, int64_t len)
{
#if defined(__linux__) && defined(FALLOC_FL_PUNCH_HOLE)
	return fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off, (off_t)len);
#else
	(void)fd, (void)off, (void)len;
	errno = ENOTSUP;
	return -1;
#endif
}

bool sysinfo_drop_range(int fd, uint64_t off, uint64_t len)
{
#ifdef POSIX_FADV_DONTNEED
	return posix_fadvise(fd, (off_t)off, (off_t)len, POSIX_FADV_DONTNEED) == 0;
#else
	/* macOS: files read through F_NOCACHE leave no pages to drop */
	(void)fd, (void)off, (void)len;
	return false;
#endif
}

bool sysinfo_huge_pages(void *p, size_t n)
{
	/* HEFT_HUGEPAGES=0 runs the fallback (plain pages) where the advice exists */
	const char *v = getenv("HEFT_HUGEPAGES");
	if (v && !strcmp(v, "0"))
		return false;
#ifdef MADV_HUGEPAGE
	return madvise(p, n, MADV_HUGEPAGE) == 0;
#else
	(void)p, (void)n;
	return false;
#endif
}

bool sysinfo_exe_path(char *buf, size_t cap)
{
	if (cap == 0)
		return false;
#if defined(__linux__)
	ssize_t n = readlink("/proc/self/exe", buf, cap - 1);
	if (n <= 0 || (size_t)n >= cap - 1)
		return false;
	buf[n] = '\0';
	return true;
#elif defined(__APPLE__)
	uint32_t size = cap > UINT32_MAX ? UINT32_MAX : (uint32_t)cap;
	return _NSGetExecutablePath(buf, &size) == 0;
#else
	(void)buf;
	return false;
#endif
}

bool sysinfo_peer_gone(int fd)
{
	/* POLLRDHUP (Linux) also reports a peer that only shut down its writing
	 * side; elsewhere a gone peer shows as POLLHUP or POLLERR. */
#ifdef POLLRDHUP
	short rdhup = POLLRDHUP;
#else
	short rdhup = 0;
#endif
	struct pollfd p = {.fd = fd, .events = rdhup};
	return fd >= 0 && poll(&p, 1, 0) > 0 && (p.revents & (rdhup | POLLHUP | POLLERR));
}
