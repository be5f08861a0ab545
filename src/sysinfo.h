/* sysinfo.h - platform facts: process and system memory, cgroup memory
 * limits, page faults, process I/O counters and per-disk read counters;
 * and the few OS-specific calls the rest of the tree needs (dropping cached
 * pages, huge pages, the executable's path, a hung-up peer), each with a
 * fallback, so that no other file names a Linux-only call.
 *
 * Linux first (procfs, sysfs, cgroup v1 and v2); macOS where it is simple
 * (mach task_info, sysctl, proc_pid_rusage); everything else reports
 * "unavailable".
 *
 * Conventions:
 * - Every count is in bytes (or events), never in kB or pages.
 * - A field that cannot be measured is SYSINFO_NA (UINT64_MAX). Numbers are
 *   never estimated or faked; a caller prints "n/a".
 * - Functions return false when nothing at all could be measured.
 * - All queries are cheap (a few small reads of procfs/sysfs files into
 *   stack buffers, no heap allocation), so the stats loop can call them
 *   several times a second. Resolving a disk (sysinfo_disk_open) and the
 *   cgroup directory (done once, on first use) is the only costly step.
 * - Thread-safe. */
#ifndef HEFT_SYSINFO_H
#define HEFT_SYSINFO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SYSINFO_NA UINT64_MAX

/* Resident memory of this process (Linux: /proc/self/status VmRSS, VmHWM,
 * RssAnon, RssFile, RssShmem; macOS: task_info resident_size and
 * resident_size_max, no split). False if rss is unavailable. */
struct sysinfo_proc_mem {
	uint64_t rss;       /* resident now */
	uint64_t rss_peak;  /* high-water mark of rss */
	uint64_t rss_anon;  /* anonymous (heap, arenas, stacks) */
	uint64_t rss_file;  /* file-backed mappings (mmap'd model) */
	uint64_t rss_shmem; /* shared memory */
};
bool sysinfo_proc_mem(struct sysinfo_proc_mem *out);

/* Page faults of this process, all threads (getrusage). */
struct sysinfo_faults {
	uint64_t major; /* needed I/O */
	uint64_t minor;
};
bool sysinfo_faults(struct sysinfo_faults *out);

/* System memory (Linux /proc/meminfo; macOS sysctl hw.memsize and
 * host_statistics64, where available = free + inactive + purgeable pages,
 * an approximation of Linux's MemAvailable). False if total is unknown. */
struct sysinfo_sys_mem {
	uint64_t total;     /* MemTotal */
	uint64_t available; /* MemAvailable: what can be allocated without swapping */
	uint64_t free;      /* MemFree */
	uint64_t cached;    /* Cached (page cache) */
};
bool sysinfo_sys_mem(struct sysinfo_sys_mem *out);

/* The memory cgroup of this process (Linux only).
 *
 * Where: /proc/self/cgroup names our group: a v1 line whose controller list
 * holds "memory" ("4:memory:/docker/abc") wins, else the v2 line
 * ("0::/user.slice/x"); the hierarchy's mount point and root come from
 * /proc/self/mountinfo (so a container that sees its own group as the mount
 * root works). On a hybrid host the memory controller is on v1.
 * The group is resolved once, on first use; a process moved to another
 * group afterwards keeps reporting the first one.
 *
 * Limit: v2 reads memory.max and memory.high (exceeding high throttles
 * hard, so it counts as a limit); v1 reads memory.limit_in_bytes and, for
 * ancestors the container cannot see, hierarchical_memory_limit in
 * memory.stat. "max" and v1's "unlimited" (a huge number such as
 * 9223372036854771712, anything >= 2^62) mean no limit. The effective
 * limit is the minimum over our group and every ancestor up to the
 * hierarchy's root. */
enum sysinfo_cgroup_version {
	SYSINFO_CGROUP_NONE = 0, /* no memory cgroup (or not Linux) */
	SYSINFO_CGROUP_V1 = 1,
	SYSINFO_CGROUP_V2 = 2,
};
struct sysinfo_cgroup {
	enum sysinfo_cgroup_version version;
	bool limited;      /* some level has a limit */
	uint64_t limit;    /* effective limit; SYSINFO_NA when !limited */
	uint64_t usage;    /* our group's memory.current / memory.usage_in_bytes
			    * (includes its page cache) */
	uint64_t peak;     /* memory.peak (v2, Linux >= 5.19) / memory.max_usage_in_bytes (v1) */
	uint64_t inactive_file; /* reclaimable page cache within usage (memory.stat) */
	uint64_t headroom; /* min over limited levels of limit - usage (0 if over);
			    * SYSINFO_NA when !limited or usage is unreadable */
	uint64_t oom_kills; /* v2 memory.events oom_kill / v1 memory.oom_control oom_kill */
};
/* True when the answer is known: version NONE means "no memory cgroup"
 * (then limited is false). False only if /proc/self/cgroup places us in a
 * memory cgroup whose files cannot be read. */
bool sysinfo_cgroup_memory(struct sysinfo_cgroup *out);
/* The directory of our memory cgroup ("" if none). */
const char *sysinfo_cgroup_dir(void);

/* I/O of this process, all threads (Linux /proc/self/io; macOS
 * proc_pid_rusage ri_diskio_bytesread/written, rchar/wchar/syscr n/a).
 * read_bytes counts what was fetched from storage (O_DIRECT reads and page
 * cache misses); rchar counts every byte read(), pread()... returned,
 * cached or not. */
struct sysinfo_proc_io {
	uint64_t rchar, wchar;             /* bytes through read/write syscalls */
	uint64_t syscr, syscw;             /* read/write syscall count */
	uint64_t read_bytes, write_bytes;  /* bytes to/from the block layer */
};
bool sysinfo_proc_io(struct sysinfo_proc_io *out);

/* The block device holding a file, resolved once, then polled cheaply.
 * stat(path).st_dev -> /sys/dev/block/MAJ:MIN; a partition is replaced by
 * its whole disk (nvme0n1p2 -> nvme0n1, vda1 -> vda); a device-mapper, md
 * or virtio device is itself a whole disk. A file system with an anonymous
 * device (btrfs) is traced through the mount source in /proc/self/mountinfo.
 * tmpfs, overlay, NFS, FUSE: no block device, sysinfo_disk_open returns
 * false with errno ENODEV. Linux only. Counters are for the whole disk (all
 * processes). */
struct sysinfo_disk {
	unsigned major, minor; /* of the whole disk */
	char name[64];         /* "nvme0n1", "vda", "dm-0" */
	char stat_path[256];   /* its sysfs stat file */
};
struct sysinfo_disk_stats {
	uint64_t reads;       /* read requests completed */
	uint64_t read_bytes;  /* sectors read x 512 */
	uint64_t read_ms;     /* time spent on reads (sum over requests) */
	uint64_t writes;
	uint64_t write_bytes;
	uint64_t in_flight;   /* requests in flight now */
	uint64_t busy_ms;     /* time the device had I/O in flight (utilization) */
};
bool sysinfo_disk_open(const char *path, struct sysinfo_disk *out);
bool sysinfo_disk_read(const struct sysinfo_disk *disk, struct sysinfo_disk_stats *out);

/* Default --mem budget: a safe share of the memory we can get.
 *
 *   room   = MemAvailable + our RssAnon        (our own heap is not "available"
 *                                              but is ours to reuse)
 *   if our memory cgroup has a limit:
 *   room   = min(room, cgroup headroom + our RSS)
 *            (headroom = min over limited levels of limit - usage; our usage
 *            is in there, so it is added back)
 *   budget = 75% of room, rounded down to a MiB.
 *
 * Call it at start-up, before large allocations. Returns 0 if neither the
 * system's memory nor a cgroup limit is known (the caller must then insist
 * on an explicit --mem). */
uint64_t sysinfo_default_budget(void);

/* Drop a file's pages from the page cache (fdatasync, then
 * posix_fadvise(POSIX_FADV_DONTNEED) over the whole file), so that the next
 * read comes from the disk. For benchmarks; pages mapped by some process
 * stay. False with errno set where unsupported (macOS: ENOSYS). */
bool sysinfo_drop_file_cache(int fd);

/* Drop the page cache's copy of [off, off + len) of fd, which we have read
 * into memory of our own (posix_fadvise DONTNEED). False where there is no
 * such call (macOS: F_NOCACHE reads leave nothing to drop). */
bool sysinfo_drop_range(int fd, uint64_t off, uint64_t len);

/* Ask for huge pages on [p, p + n) (MADV_HUGEPAGE): big arenas read across
 * gigabytes take far fewer TLB misses. False when not advised: no such
 * call, the kernel refused, or HEFT_HUGEPAGES=0 (the test hook for the
 * plain-page fallback). Nothing depends on it but speed. */
bool sysinfo_huge_pages(void *p, size_t n);

/* The absolute path of the running executable into buf (Linux
 * /proc/self/exe, macOS _NSGetExecutablePath). False if unknown or it does
 * not fit; the caller falls back to PATH. */
bool sysinfo_exe_path(char *buf, size_t cap);

/* True if the peer of socket fd has gone away (hung up, error, or -- on
 * Linux, POLLRDHUP -- shut down its writing side). Does not block. */
bool sysinfo_peer_gone(int fd);

/* ---- Parsers, exposed for the unit tests. They take NUL-terminated text. */

/* Find the line "key: value [kB]" or "key value" (status, meminfo,
 * /proc/self/io, memory.stat, memory.events) and parse value; "kB" is
 * multiplied by 1024. False if absent or malformed. */
bool sysinfo_parse_field(const char *text, const char *key, uint64_t *out);
/* Parse /proc/self/cgroup text: copy the memory cgroup's path into path
 * (cap bytes) and return 1 (v1 "N:...memory...:/path") or 2 (v2 "0::/path"),
 * 0 if neither is present, -1 if the path is too long. */
int sysinfo_parse_proc_cgroup(const char *text, char *path, size_t cap);
/* Parse a limit file (memory.max, memory.high, memory.limit_in_bytes):
 * "max" or a value >= 2^62 -> SYSINFO_NA (no limit). */
bool sysinfo_parse_cgroup_limit(const char *text, uint64_t *out);
/* Parse a sysfs block stat line (11, 15 or 17 fields). */
bool sysinfo_parse_disk_stat(const char *text, struct sysinfo_disk_stats *out);
/* Split one /proc/self/mountinfo line in place (fields unescaped, "\040"
 * -> ' '); the pointers point into line. */
struct sysinfo_mountinfo {
	unsigned major, minor;
	const char *root, *mountpoint, *fstype, *source, *superopts;
};
bool sysinfo_parse_mountinfo_line(char *line, struct sysinfo_mountinfo *out);

/* Give bytes [off, off + len) of an open file back to the file system (a
 * hole that reads as zeros; the size stays). -1 with errno set where the
 * system or the file system cannot (the file then stays whole). */
int sysinfo_punch_hole(int fd, int64_t off, int64_t len);

#endif
