/* diskread.c - the disk's ceiling for expert-sized random reads (a tool, not
 * a test).
 *
 *   tests/bench/diskread FILE [-b BLOCK_KiB[,...]] [-q QD[,...]] [-s SECONDS]
 *                        [--backend uring|threads|raw|all] [--chunk KiB]
 *                        [--buffered] [--drop-caches]
 *
 * Reads BLOCK-sized ranges at random 4 KiB-aligned offsets of FILE, QD at a
 * time, for SECONDS (default 5) per row, with O_DIRECT (--buffered: through
 * the page cache, with --drop-caches first as root to start cold). Each row
 * is run through the engine's I/O scheduler (waiting in submission order, as
 * compute does) and through a minimal path -- QD threads in a pread loop --
 * so the two can be compared: the scheduler should add nothing. --chunk sets
 * the scheduler's split size (default: the block, so both issue the same
 * requests). Prints GiB/s, IOPS and mean latency per request.
 *
 * Use a file several times larger than RAM, or O_DIRECT, or the page cache
 * answers instead of the disk. */

#include "iosched.h"
#include "util.h"
#include "../xorshift.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_LIST 16

struct run {
	const char *path;
	uint64_t size;
	size_t block, chunk;
	int qd;
	double seconds;
	bool buffered;
};

struct result {
	uint64_t reads, bytes;
	double secs, lat_sum;
};

static uint64_t random_off(uint64_t *rng, const struct run *r)
{
	uint64_t blocks = (r->size - r->block) / IOSCHED_ALIGN + 1;
	return xorshift(rng) % blocks * IOSCHED_ALIGN;
}

static void drop_caches(void)
{
	sync();
	FILE *f = fopen("/proc/sys/vm/drop_caches", "w");
	if (!f || fputs("3\n", f) < 0 || fclose(f) != 0)
		warn_errno("cannot drop caches (root needed)");
}

/* ---- the minimal path: QD threads, each one pread at a time ------------- */

struct raw_thread {
	const struct run *r;
	int fd;
	uint64_t seed;
	double deadline;
	struct result res;
};

static void *raw_main(void *arg)
{
	struct raw_thread *t = arg;
	const struct run *r = t->r;
	char *buf = xaligned_alloc(IOSCHED_ALIGN, r->block);
	uint64_t rng = t->seed;
	while (now_sec() < t->deadline) {
		uint64_t off = random_off(&rng, r);
		double t0 = now_sec();
		ssize_t n = pread(t->fd, buf, r->block, (off_t)off);
		if (n != (ssize_t)r->block)
			die("%s: pread at %llu: %s", r->path, (unsigned long long)off,
			    n < 0 ? strerror(errno) : "short read");
		t->res.lat_sum += now_sec() - t0;
		t->res.reads++;
		t->res.bytes += (uint64_t)n;
	}
	free(buf);
	return NULL;
}

static struct result run_raw(const struct run *r)
{
	int flags = O_RDONLY;
#ifdef O_DIRECT
	if (!r->buffered)
		flags |= O_DIRECT;
#endif
	int fd = open(r->path, flags);
	if (fd < 0)
		die_errno("%s", r->path);
	struct raw_thread *t = xcalloc((size_t)r->qd, sizeof *t);
	pthread_t *tid = xcalloc((size_t)r->qd, sizeof *tid);
	double t0 = now_sec();
	for (int i = 0; i < r->qd; i++) {
		t[i] = (struct raw_thread){.r = r, .fd = fd, .seed = 0x9E3779B97F4A7C15ull * (uint64_t)(i + 1),
					   .deadline = t0 + r->seconds};
		if (pthread_create(&tid[i], NULL, raw_main, &t[i]))
			die("pthread_create failed");
	}
	struct result res = {0};
	for (int i = 0; i < r->qd; i++) {
		pthread_join(tid[i], NULL);
		res.reads += t[i].res.reads;
		res.bytes += t[i].res.bytes;
		res.lat_sum += t[i].res.lat_sum;
	}
	res.secs = now_sec() - t0;
	close(fd);
	free(t);
	free(tid);
	return res;
}

/* ---- the engine's path: iosched, QD requests outstanding ---------------- */

static struct result run_sched(const struct run *r, enum iosched_backend backend, const char **name)
{
	struct iosched_opts o = {.backend = backend, .queue_depth = r->qd,
				 .chunk_bytes = r->chunk ? r->chunk : r->block, .buffered = r->buffered};
	struct iosched *s = iosched_new(&o);
	*name = iosched_backend_name(s);
	if (*iosched_note(s))
		fprintf(stderr, "diskread: %s\n", iosched_note(s));
	int fd = open(r->path, O_RDONLY);
	if (fd < 0)
		die_errno("%s", r->path);
	char err[256];
	int fid = iosched_add_file(s, fd, r->path, err, sizeof err);
	close(fd);
	if (fid < 0)
		die("%s", err);
	struct iosched_file_info fi;
	iosched_file_info(s, fid, &fi);
	if (!fi.direct && !r->buffered)
		fprintf(stderr, "diskread: %s: buffered reads (%s)\n", r->path, fi.note);

	struct io_req *req = xcalloc((size_t)r->qd, sizeof *req);
	double *started = xcalloc((size_t)r->qd, sizeof *started);
	char *bufs = xaligned_alloc(IOSCHED_ALIGN, (size_t)r->qd * r->block);
	uint64_t rng = 0x2545F4914F6CDD1Dull;
	struct result res = {0};
	double t0 = now_sec(), deadline = t0 + r->seconds;

	for (int i = 0; i < r->qd; i++) {
		req[i] = (struct io_req){.file = fid, .off = random_off(&rng, r), .len = r->block,
					 .dst = bufs + (size_t)i * r->block, .prio = IO_DEMAND};
		started[i] = now_sec();
		if (iosched_submit(s, &req[i]))
			die_errno("iosched_submit");
	}
	/* Wait in submission order, as compute consumes experts; the last
	 * round past the deadline is counted too (it was issued in time). */
	for (int i = 0, live = r->qd; live > 0; i = (i + 1) % r->qd) {
		struct io_req *q = &req[i];
		if (iosched_state(q) == IO_IDLE)
			continue;
		if (iosched_wait(s, q)) {
			iosched_strerror(s, q, err, sizeof err);
			die("%s", err);
		}
		res.lat_sum += now_sec() - started[i];
		res.reads++;
		res.bytes += q->len;
		if (now_sec() < deadline) {
			q->off = random_off(&rng, r);
			q->prio = IO_DEMAND;
			started[i] = now_sec();
			if (iosched_submit(s, q))
				die_errno("iosched_submit");
		} else {
			atomic_store(&q->state, IO_IDLE);
			live--;
		}
	}
	res.secs = now_sec() - t0;
	iosched_free(s);
	free(bufs);
	free(started);
	free(req);
	return res;
}

static void print_row(const char *mode, const struct run *r, const struct result *res)
{
	double gib = (double)res->bytes / res->secs / (1u << 30);
	printf("%-9s %9zu %4d %8.3f %9.0f %9.2f\n", mode, r->block >> 10, r->qd, gib,
	       (double)res->reads / res->secs, res->reads ? res->lat_sum / (double)res->reads * 1e3 : 0.0);
	fflush(stdout);
}

static int parse_list(const char *s, int64_t lo, int64_t hi, int64_t *out)
{
	int n = 0;
	char *copy = xstrdup(s), *save = NULL;
	for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (n == MAX_LIST || !parse_i64(tok, lo, hi, &out[n]))
			die("bad list: %s", s);
		n++;
	}
	free(copy);
	return n;
}

static void usage(void)
{
	fprintf(stderr, "usage: diskread FILE [-b BLOCK_KiB[,...]] [-q QD[,...]] [-s SECONDS]\n"
			"                [--backend uring|threads|raw|all] [--chunk KiB] [--buffered]\n"
			"                [--drop-caches]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	heft_progname = "diskread";
	struct run r = {.seconds = 5};
	int64_t blocks[MAX_LIST] = {1024}, qds[MAX_LIST] = {8};
	int nb = 1, nq = 1;
	const char *backend = "all";
	bool drop = false;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		int64_t n;
		if (!strcmp(a, "-b") && v) {
			nb = parse_list(v, 4, 1 << 20, blocks), i++;
		} else if (!strcmp(a, "-q") && v) {
			nq = parse_list(v, 1, 1024, qds), i++;
		} else if (!strcmp(a, "-s") && v) {
			if (!parse_f64(v, &r.seconds) || r.seconds <= 0)
				usage();
			i++;
		} else if (!strcmp(a, "--backend") && v) {
			backend = v, i++;
		} else if (!strcmp(a, "--chunk") && v) {
			if (!parse_i64(v, 4, 1 << 16, &n))
				usage();
			r.chunk = (size_t)n << 10, i++;
		} else if (!strcmp(a, "--buffered")) {
			r.buffered = true;
		} else if (!strcmp(a, "--drop-caches")) {
			drop = true;
		} else if (a[0] == '-' || r.path) {
			usage();
		} else {
			r.path = a;
		}
	}
	if (!r.path)
		usage();
	struct stat st;
	if (stat(r.path, &st) < 0)
		die_errno("%s", r.path);
	r.size = (uint64_t)st.st_size;

	bool do_raw = !strcmp(backend, "raw") || !strcmp(backend, "all");
	bool do_uring = !strcmp(backend, "uring") || !strcmp(backend, "all");
	bool do_threads = !strcmp(backend, "threads") || !strcmp(backend, "all");
	if (!do_raw && !do_uring && !do_threads)
		usage();

	char sz[32];
	printf("# %s, %s, %s, %.1f s per row\n", r.path, fmt_bytes(sz, sizeof sz, r.size),
	       r.buffered ? "buffered" : "O_DIRECT", r.seconds);
	printf("%-9s %9s %4s %8s %9s %9s\n", "path", "block_KiB", "qd", "GiB/s", "IOPS", "lat_ms");
	for (int b = 0; b < nb; b++) {
		for (int q = 0; q < nq; q++) {
			r.block = (size_t)blocks[b] << 10;
			r.block = (r.block + IOSCHED_ALIGN - 1) & ~(size_t)(IOSCHED_ALIGN - 1);
			r.qd = (int)qds[q];
			if (r.block > r.size)
				die("%s: smaller than one block", r.path);
			struct result res;
			const char *name;
			if (do_raw) {
				if (drop)
					drop_caches();
				res = run_raw(&r);
				print_row("raw", &r, &res);
			}
			if (do_uring) {
				if (drop)
					drop_caches();
				res = run_sched(&r, IOSCHED_URING, &name);
				print_row(!strcmp(name, "io_uring") ? "io_uring" : "(threads)", &r, &res);
			}
			if (do_threads) {
				if (drop)
					drop_caches();
				res = run_sched(&r, IOSCHED_THREADS, &name);
				print_row("threads", &r, &res);
			}
		}
	}
	return 0;
}
