/* test-iosched.c - the I/O scheduler against a file of known bytes: random
 * unaligned ranges, many in flight, demand before prefetch, cancel, injected
 * read faults, a file truncated under it; every backend, O_DIRECT and the
 * buffered fallback, on a disk directory and on tmpfs (/dev/shm). */

#include "iosched.h"
#include "test.h"
#include "util.h"
#include "xorshift.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define FILE_SIZE ((64ull << 20) + 1234) /* the end is not block-aligned */
#define MAX_LEN (8u << 20)
#define NBUF 12

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

static uint64_t rnd(void)
{
	return xorshift(&rng_state);
}

static uint64_t word_at(uint64_t w)
{
	uint64_t x = (w + 1) * 0x9E3779B97F4A7C15ull;
	x ^= x >> 31;
	return x * 0xBF58476D1CE4E5B9ull;
}

static void fill_pattern(uint8_t *p, uint64_t off, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		uint64_t o = off + i;
		p[i] = (uint8_t)(word_at(o >> 3) >> ((o & 7) * 8));
	}
}

/* Index of the first wrong byte, or len when all match. */
static size_t check_pattern(const uint8_t *p, uint64_t off, size_t len)
{
	uint8_t want[4096];
	for (size_t i = 0; i < len; i += sizeof want) {
		size_t n = MIN(sizeof want, len - i);
		fill_pattern(want, off + i, n);
		if (memcmp(p + i, want, n))
			for (size_t j = 0; j < n; j++)
				if (p[i + j] != want[j])
					return i + j;
	}
	return len;
}

static bool write_pattern_file(const char *path, uint64_t size)
{
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0)
		return false;
	uint8_t *b = xmalloc(1u << 20);
	bool ok = true;
	for (uint64_t off = 0; off < size && ok; off += 1u << 20) {
		size_t n = (size_t)MIN((uint64_t)(1u << 20), size - off);
		fill_pattern(b, off, n);
		ok = write_full(fd, b, n) == (int64_t)n;
	}
	free(b);
	ok = ok && fsync(fd) == 0;
	close(fd);
	return ok;
}

struct env {
	const char *dir;
	char path[512];
	enum iosched_backend backend;
	bool buffered;
	const char *what;
};

static struct iosched *open_sched(const struct env *e, const struct iosched_opts *base, const char *path,
				  int *file)
{
	struct iosched_opts o = base ? *base : (struct iosched_opts){0};
	o.backend = e->backend;
	o.buffered = e->buffered;
	struct iosched *s = iosched_new(&o);
	int fd = open(path, O_RDONLY);
	CHECKF(fd >= 0, "%s: %s", path, strerror(errno));
	char err[256] = "";
	*file = iosched_add_file(s, fd, path, err, sizeof err);
	CHECKF(*file >= 0, "%s", err);
	close(fd);
	return s;
}

/* log-uniform 1 KiB .. 8 MiB, at any offset; sometimes up to the file end */
static void random_range(uint64_t size, uint64_t *off, size_t *len)
{
	size_t l = (size_t)1024 << (rnd() % 14);
	l += (size_t)(rnd() % l);
	l = MIN(l, (size_t)MAX_LEN);
	if (rnd() % 8 == 0) {
		*off = size - l;
	} else {
		*off = rnd() % (size - l);
	}
	*len = l;
}

static void test_random(const struct env *e)
{
	int fid;
	struct iosched_opts o = {.queue_depth = 8, .chunk_bytes = 512u << 10};
	struct iosched *s = open_sched(e, &o, e->path, &fid);
	static struct io_req reqs[NBUF];
	static uint8_t *bufs[NBUF];
	size_t bufsz = iosched_span_max(MAX_LEN);
	int bad = 0, nreq = 0;

	for (int i = 0; i < NBUF; i++) {
		bufs[i] = xaligned_alloc(IOSCHED_ALIGN, bufsz);
		memset(&reqs[i], 0, sizeof reqs[i]);
	}
	for (int i = 0; i < 160 + NBUF; i++) {
		struct io_req *r = &reqs[i % NBUF];
		if (i >= NBUF) {
			CHECKF(iosched_wait(s, r) == 0, "%s: %s", e->what, strerror(errno));
			uint64_t aoff;
			size_t alen;
			iosched_span(r->off, r->len, &aoff, &alen);
			CHECK(alen <= bufsz);
			CHECK(r->data == (uint8_t *)r->dst + (r->off - aoff));
			size_t at = check_pattern(r->data, r->off, r->len);
			if (at != r->len && bad++ < 3)
				fprintf(stderr, "%s: wrong byte at %" PRIu64 " (read %" PRIu64 "+%zu)\n", e->what,
					r->off + at, r->off, r->len);
		}
		if (i >= 160)
			continue;
		r->file = fid;
		random_range(FILE_SIZE, &r->off, &r->len);
		r->dst = bufs[i % NBUF];
		r->prio = rnd() % 3 ? IO_DEMAND : IO_PREFETCH;
		r->tag = (uint64_t)i;
		CHECK(iosched_submit(s, r) == 0);
		nreq++;
	}
	CHECKF(bad == 0, "%s: %d reads with wrong data", e->what, bad);

	struct iosched_stats st;
	iosched_stats(s, &st);
	CHECK(st.requests == (uint64_t)nreq);
	CHECK(st.done == (uint64_t)nreq);
	CHECK(st.errors == 0);
	CHECK(st.bytes_read >= st.bytes_wanted);
	CHECK(st.queued == 0 && st.inflight == 0);
	printf("  %s: %d reads, %.1f MiB, io_wait %.3f s, busy %.3f s\n", e->what, nreq,
	       (double)st.bytes_read / (1 << 20), st.io_wait_s, st.busy_s);
	iosched_free(s);
	for (int i = 0; i < NBUF; i++)
		free(bufs[i]);
}

/* Paused, the backlog is exact: 24 prefetches queued, then 6 demands. No
 * prefetch may be issued until every demand is done. */
static void test_priority_exact(const struct env *e)
{
	int fid;
	struct iosched_opts o = {.queue_depth = 4, .prefetch_depth = 2};
	struct iosched *s = open_sched(e, &o, e->path, &fid);
	enum { NP = 24, ND = 6, LEN = 256 << 10 };
	static struct io_req r[NP + ND];
	uint8_t *buf = xaligned_alloc(IOSCHED_ALIGN, (size_t)(NP + ND) * iosched_span_max(LEN));

	iosched_pause(s, true);
	for (int i = 0; i < NP + ND; i++) {
		r[i] = (struct io_req){.file = fid, .off = (uint64_t)i * 3 * LEN + 100, .len = LEN,
				       .dst = buf + (size_t)i * iosched_span_max(LEN),
				       .prio = i < NP ? IO_PREFETCH : IO_DEMAND};
		CHECK(iosched_submit(s, &r[i]) == 0);
	}
	CHECK(!iosched_idle(s));
	struct iosched_stats st;
	iosched_stats(s, &st);
	CHECK(st.inflight == 0 && st.queued == NP + ND);
	iosched_pause(s, false);

	uint64_t max_demand = 0, min_prefetch = UINT64_MAX;
	for (int i = NP; i < NP + ND; i++) { /* demands first: no promotion */
		CHECK(iosched_wait(s, &r[i]) == 0);
		max_demand = MAX(max_demand, r[i].seq);
	}
	CHECK(iosched_idle(s));
	for (int i = 0; i < NP; i++) {
		CHECK(iosched_wait(s, &r[i]) == 0);
		CHECK(check_pattern(r[i].data, r[i].off, r[i].len) == r[i].len);
		min_prefetch = MIN(min_prefetch, r[i].seq);
	}
	CHECKF(max_demand < min_prefetch, "%s: demand done at %" PRIu64 ", first prefetch at %" PRIu64,
	       e->what, max_demand, min_prefetch);

	/* Promotion: of two queued prefetches the promoted one goes first
	 * (waiting on r[1] first, so the wait does not promote r[0] too). */
	iosched_stats(s, &st);
	uint64_t promoted = st.promoted;
	iosched_pause(s, true);
	r[0].prio = r[1].prio = IO_PREFETCH;
	CHECK(iosched_submit(s, &r[0]) == 0);
	CHECK(iosched_submit(s, &r[1]) == 0);
	CHECK(iosched_idle(s));
	iosched_promote(s, &r[1]);
	CHECK(r[1].prio == IO_DEMAND && !iosched_idle(s));
	iosched_pause(s, false);
	CHECK(iosched_wait(s, &r[1]) == 0);
	CHECK(iosched_wait(s, &r[0]) == 0);
	CHECKF(r[1].seq < r[0].seq, "%s: promoted %" PRIu64 ", other %" PRIu64, e->what, r[1].seq, r[0].seq);
	iosched_stats(s, &st);
	CHECK(st.promoted - promoted >= 1);
	iosched_free(s);
	free(buf);
}

/* Live: demands submitted behind a running prefetch backlog overtake it.
 * Whatever the timing, a prefetch can only finish before the last demand if
 * it finished before the demands were queued (at most `done` below) or was
 * already in flight (at most prefetch_depth). */
static void test_priority_live(const struct env *e)
{
	int fid;
	struct iosched_opts o = {.queue_depth = 4, .prefetch_depth = 2};
	struct iosched *s = open_sched(e, &o, e->path, &fid);
	enum { NP = 48, ND = 4, LEN = 1 << 20 };
	static struct io_req r[NP + ND];
	uint8_t *buf = xaligned_alloc(IOSCHED_ALIGN, (size_t)(NP + ND) * iosched_span_max(LEN));
	struct io_req *batch[NP];

	for (int i = 0; i < NP + ND; i++) {
		r[i] = (struct io_req){.file = fid, .off = (uint64_t)i * LEN + 7, .len = LEN,
				       .dst = buf + (size_t)i * iosched_span_max(LEN),
				       .prio = i < NP ? IO_PREFETCH : IO_DEMAND};
		if (i < NP)
			batch[i] = &r[i];
	}
	CHECK(iosched_submit_batch(s, batch, NP) == NP);
	CHECK(iosched_submit_batch(s, (struct io_req *[]){&r[NP], &r[NP + 1], &r[NP + 2], &r[NP + 3]}, ND) == ND);
	struct iosched_stats st;
	iosched_stats(s, &st);
	uint64_t done_then = st.done;

	uint64_t last_demand = 0;
	for (int i = NP; i < NP + ND; i++) {
		CHECK(iosched_wait(s, &r[i]) == 0);
		last_demand = MAX(last_demand, r[i].seq);
	}
	int before = 0;
	for (int i = 0; i < NP; i++) {
		CHECK(iosched_wait(s, &r[i]) == 0);
		CHECK(check_pattern(r[i].data, r[i].off, r[i].len) == r[i].len);
		before += r[i].seq < last_demand;
	}
	CHECKF((uint64_t)before <= done_then + 2, "%s: %d prefetches beat the demands (%" PRIu64
	       " were done, 2 in flight)", e->what, before, done_then);
	printf("  %s: %d of %d prefetches finished before the demands\n", e->what, before, NP);
	iosched_free(s);
	free(buf);
}

static void test_cancel(const struct env *e)
{
	int fid;
	struct iosched *s = open_sched(e, NULL, e->path, &fid);
	enum { N = 20, LEN = 100000 };
	static struct io_req r[N];
	size_t slot = iosched_span_max(LEN);
	uint8_t *buf = xaligned_alloc(IOSCHED_ALIGN, N * slot);
	memset(buf, 0xAA, N * slot);

	iosched_pause(s, true);
	for (int i = 0; i < N; i++) {
		r[i] = (struct io_req){.file = fid, .off = (uint64_t)i * 1000003, .len = LEN,
				       .dst = buf + (size_t)i * slot, .prio = IO_PREFETCH};
		CHECK(iosched_submit(s, &r[i]) == 0);
	}
	CHECK(iosched_submit(s, &r[0]) == -1 && errno == EBUSY); /* already pending */
	for (int i = 0; i < N; i += 2)
		CHECK(iosched_cancel(s, &r[i]) == 0);
	iosched_pause(s, false);
	for (int i = 0; i < N; i++) {
		int rc = iosched_wait(s, &r[i]);
		if (i % 2) {
			CHECK(rc == 0 && iosched_state(&r[i]) == IO_DONE);
			CHECK(check_pattern(r[i].data, r[i].off, r[i].len) == LEN);
		} else {
			CHECK(rc == -1 && errno == ECANCELED && iosched_state(&r[i]) == IO_CANCELLED);
			const uint8_t *p = r[i].dst;
			bool untouched = true;
			for (size_t j = 0; j < slot; j++)
				untouched &= p[j] == 0xAA;
			CHECK(untouched);
		}
	}
	CHECK(iosched_cancel(s, &r[1]) == -1 && errno == EBUSY); /* done: too late */
	struct iosched_stats st;
	iosched_stats(s, &st);
	CHECK(st.cancelled == N / 2 && st.done == N / 2);

	/* A cancelled request can be submitted again. */
	CHECK(iosched_submit(s, &r[0]) == 0 && iosched_wait(s, &r[0]) == 0);
	CHECK(check_pattern(r[0].data, r[0].off, LEN) == LEN);

	/* Freeing with requests still queued cancels them. */
	iosched_pause(s, true);
	CHECK(iosched_submit(s, &r[2]) == 0);
	iosched_free(s);
	CHECK(iosched_state(&r[2]) == IO_CANCELLED);
	free(buf);
}

static void test_invalid(const struct env *e)
{
	int fid;
	struct iosched *s = open_sched(e, NULL, e->path, &fid);
	uint8_t *buf = xaligned_alloc(IOSCHED_ALIGN, 1 << 16);
	struct io_req r = {.file = fid, .off = 5, .len = 100, .dst = buf + 8};
	char msg[256];

	CHECK(iosched_wait(s, &r) == -1 && errno == EINVAL); /* never submitted */
	CHECK(iosched_submit(s, &r) == -1 && errno == EINVAL && iosched_state(&r) == IO_ERROR);
	CHECK(strstr(iosched_strerror(s, &r, msg, sizeof msg), "invalid"));
	r.dst = buf;
	r.file = 7;
	CHECK(iosched_submit(s, &r) == -1 && errno == EINVAL);
	r.file = fid;
	r.len = 0;
	CHECK(iosched_submit(s, &r) == -1 && errno == EINVAL);
	r.len = 100;
	r.off = UINT64_MAX - 10;
	CHECK(iosched_submit(s, &r) == -1 && errno == EINVAL);
	r.off = 5;
	CHECK(iosched_submit(s, &r) == 0 && iosched_wait(s, &r) == 0);
	CHECK(check_pattern(r.data, 5, 100) == 100);
	iosched_free(s);
	free(buf);
}

/* HEFT_FAULT_READ / HEFT_FAULT_SHORT: the Nth read fails; the request that
 * owns it ends in error and the others are unaffected. */
static void test_fault(const struct env *e, const char *var, bool want_short)
{
	char what[128];
	snprintf(what, sizeof what, "%s %s", e->what, var);
	struct iosched_opts o = {.chunk_bytes = 256u << 10};
	setenv(var, "5", 1);
	int fid;
	struct iosched *s = open_sched(e, &o, e->path, &fid);
	unsetenv(var);
	enum { LEN = 1 << 20 };
	uint8_t *buf = xaligned_alloc(IOSCHED_ALIGN, iosched_span_max(LEN));
	char msg[300];

	/* Reads 1-4: request 0 (four chunks); read 5: the first of request 1. */
	for (int i = 0; i < 4; i++) {
		struct io_req r = {.file = fid, .off = (uint64_t)i * LEN * 3 + 4096 * (uint64_t)i,
				   .len = LEN, .dst = buf};
		CHECK(iosched_submit(s, &r) == 0);
		int rc = iosched_wait(s, &r);
		if (i == 1) {
			CHECKF(rc == -1 && errno == EIO, "%s: rc %d", what, rc);
			CHECK(iosched_state(&r) == IO_ERROR && r.err == EIO);
			CHECK(r.err_short == want_short);
			iosched_strerror(s, &r, msg, sizeof msg);
			CHECKF(strstr(msg, e->path) && strstr(msg, want_short ? "short read" : "Input/output"),
			       "%s", msg);
		} else {
			CHECKF(rc == 0, "%s: read %d: %s", what, i, strerror(errno));
			CHECK(check_pattern(r.data, r.off, r.len) == LEN);
		}
	}
	struct iosched_stats st;
	iosched_stats(s, &st);
	CHECK(st.errors == 1 && st.done == 3);
	iosched_free(s);
	free(buf);
}

/* A file truncated during a run: reads past the new end fail (EIO, short),
 * reads before it still succeed, including the partial last block. */
static void test_truncate(const struct env *e)
{
	char path[600];
	snprintf(path, sizeof path, "%s/heft-iosched-trunc-%d", e->dir, (int)getpid());
	uint64_t size = 8u << 20, cut = (4u << 20) + 100;
	CHECK(write_pattern_file(path, size));
	int fid;
	struct iosched *s = open_sched(e, NULL, path, &fid);
	uint8_t *buf = xaligned_alloc(IOSCHED_ALIGN, iosched_span_max(1 << 20));
	char msg[300];

	struct io_req r = {.file = fid, .off = size - (1 << 20) + 3, .len = (1 << 20) - 3, .dst = buf};
	CHECK(iosched_submit(s, &r) == 0 && iosched_wait(s, &r) == 0);
	CHECK(check_pattern(r.data, r.off, r.len) == r.len);

	CHECK(truncate(path, (off_t)cut) == 0);
	struct {
		uint64_t off;
		size_t len;
		bool ok;
	} cases[] = {
		{cut - 100, 100, true},          /* the partial last block */
		{cut - 5000, 5000, true},
		{cut - 100, 101, false},         /* one byte past the end */
		{cut - 4096, 1 << 20, false},
		{5u << 20, 4096, false},         /* wholly past the end */
		{size - 10, 10, false},
		{12345, 1 << 20, true},
	};
	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		memset(buf, 0x55, 4096);
		r = (struct io_req){.file = fid, .off = cases[i].off, .len = cases[i].len, .dst = buf};
		CHECK(iosched_submit(s, &r) == 0);
		int rc = iosched_wait(s, &r);
		if (cases[i].ok) {
			CHECKF(rc == 0, "%s: case %zu: %s", e->what, i, strerror(errno));
			CHECK(rc || check_pattern(r.data, r.off, r.len) == r.len);
		} else {
			CHECKF(rc == -1 && errno == EIO && r.err_short, "%s: case %zu: rc %d", e->what, i, rc);
			iosched_strerror(s, &r, msg, sizeof msg);
			CHECKF(strstr(msg, "truncated"), "%s", msg);
		}
	}
	iosched_free(s);
	unlink(path);
	free(buf);
}

static void check_mode(const struct env *e, bool expect_direct_possible)
{
	int fid;
	struct iosched *s = open_sched(e, NULL, e->path, &fid);
	struct iosched_file_info fi;
	CHECK(iosched_file_info(s, fid, &fi) == 0);
	CHECK(!strcmp(fi.path, e->path));
	if (e->buffered)
		CHECK(!fi.direct && *fi.note);
	printf("  %s: %s%s%s\n", e->what, fi.direct ? "O_DIRECT" : "buffered", *fi.note ? ": " : "", fi.note);
	if (!e->buffered && !fi.direct && expect_direct_possible)
		printf("  (O_DIRECT not available here)\n");
	iosched_free(s);

	/* A direct read that disagrees with a buffered one means buffered
	 * (when O_DIRECT was possible at all: qemu-user, for one, reports no
	 * direct I/O alignment). */
	if (!e->buffered && fi.direct) {
		setenv("HEFT_FAULT_VERIFY", "1", 1);
		s = open_sched(e, NULL, e->path, &fid);
		unsetenv("HEFT_FAULT_VERIFY");
		CHECK(iosched_file_info(s, fid, &fi) == 0);
		CHECKF(!fi.direct && (strstr(fi.note, "differs") || strstr(fi.note, "refused")), "%s", fi.note);
		iosched_free(s);
	}
}

static void run_env(struct env *e, bool full)
{
	check_mode(e, true);
	test_random(e);
	test_truncate(e);
	if (!full)
		return;
	test_priority_exact(e);
	test_priority_live(e);
	test_cancel(e);
	test_invalid(e);
	test_fault(e, "HEFT_FAULT_READ", false);
	test_fault(e, "HEFT_FAULT_SHORT", true);
}

static const char *disk_dir(void)
{
	const char *t = getenv("TMPDIR");
	return t && *t ? t : "/var/tmp";
}

int main(void)
{
	const char *dirs[2] = {disk_dir(), NULL};
	struct stat st;
	if (stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) && access("/dev/shm", W_OK) == 0)
		dirs[1] = "/dev/shm";
	unsetenv("HEFT_IO");
	unsetenv("HEFT_IO_DIRECT");
	unsetenv("HEFT_FAULT_READ");
	unsetenv("HEFT_FAULT_SHORT");
	unsetenv("HEFT_FAULT_VERIFY");

	/* io_uring: skip its runs (with a note) where the sandbox refuses it. */
	bool have_uring = false;
	{
		struct iosched *s = iosched_new(&(struct iosched_opts){.backend = IOSCHED_URING});
		have_uring = !strcmp(iosched_backend_name(s), "io_uring");
		if (!have_uring)
			printf("io_uring runs skipped: %s\n", iosched_note(s));
		iosched_free(s);
	}

	int ran = 0;
	for (int d = 0; d < 2 && dirs[d]; d++) {
		struct env base = {.dir = dirs[d]};
		snprintf(base.path, sizeof base.path, "%s/heft-iosched-%d", dirs[d], (int)getpid());
		if (!write_pattern_file(base.path, FILE_SIZE)) {
			printf("%s: cannot write a test file (%s); skipped\n", dirs[d], strerror(errno));
			unlink(base.path);
			continue;
		}
		for (int b = 0; b < 2; b++) {
			if (b == 1 && !have_uring)
				continue;
			for (int m = 0; m < 2; m++) {
				struct env e = base;
				char what[160];
				e.backend = b ? IOSCHED_URING : IOSCHED_THREADS;
				e.buffered = m == 1;
				snprintf(what, sizeof what, "%s %s %s", dirs[d], b ? "io_uring" : "threads",
					 m ? "buffered" : "direct");
				e.what = what;
				printf("%s\n", what);
				/* The ordering/fault tests do not depend on the file system. */
				run_env(&e, d == 0 || m == 1);
				ran++;
			}
		}
		unlink(base.path);
	}
	if (!ran) {
		printf("test-iosched: no writable directory; skipped\n");
		return 77;
	}

	/* HEFT_IO picks the backend when the options leave it open. */
	setenv("HEFT_IO", "threads", 1);
	struct iosched *s = iosched_new(NULL);
	CHECK(!strcmp(iosched_backend_name(s), "threads"));
	iosched_free(s);
	unsetenv("HEFT_IO");
	return test_done("test-iosched");
}
