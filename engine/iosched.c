/* iosched.c - O_DIRECT reads into caller buffers, many in flight, demand
 * before prefetch. See iosched.h for the contract.
 *
 * One mutex guards the queues, the chunk table and the counters. A request
 * is cut into chunks when it is dispatched, not when it is submitted, so a
 * demand request that arrives behind a long prefetch gets the next free
 * read slot rather than waiting for the whole prefetch. The chunk table
 * (queue_depth entries) is allocated once; requests are linked intrusively,
 * so nothing is allocated per request.
 *
 * Backends only differ in who issues a chunk and who completes it:
 *  - threads: queue_depth workers, each takes a chunk under the lock and
 *    preads it outside the lock;
 *  - io_uring: whoever changes the queues (a submitter, or the reaper thread
 *    after completions) prepares SQEs and submits under the lock; one reaper
 *    thread waits for CQEs. The SQ side is only touched under the lock and
 *    the CQ side only by the reaper, so the ring needs no other locking. */

#include "iosched.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#ifdef HAVE_LIBURING
#include <liburing.h>
#endif

#define MAX_FILES 64
#define DEFAULT_QD 16
#define DEFAULT_CHUNK (1u << 20)
#define MAX_CHUNK (64u << 20)
#define DEFAULT_SPIN_US 30
#define VERIFY_BYTES (64u << 10)
#define MAX_RETRIES 8

enum fault { FAULT_NONE, FAULT_EIO, FAULT_SHORT };

struct file {
	int fd;     /* what reads use: O_DIRECT/F_NOCACHE when direct */
	int fd_buf; /* our dup of the caller's buffered descriptor */
	bool direct;
	char *path;
	char note[128];
};

/* One read in flight: a piece of a request. */
struct chunk {
	struct io_req *req;
	const struct file *f;
	char *buf;
	uint64_t foff;
	size_t len, done;
	size_t need; /* bytes that must arrive; the rest is alignment slack */
	enum fault fault;
	int retries;
	bool prefetch;
	int next_free;
};

struct queue {
	struct io_req *head, *tail;
};

struct iosched {
	enum iosched_backend backend;
	char note[200];
	int qd, prefetch_depth, spin_us;
	size_t chunk_bytes;
	bool force_buffered, fault_verify;
	uint64_t fault_eio, fault_short; /* 1-based read numbers, 0: off */

	pthread_mutex_t mu;
	pthread_cond_t work_cv; /* threads backend: work for the workers */
	pthread_cond_t done_cv; /* a request finished (or the last read did) */
	int waiters;
	bool paused, stopping;

	struct queue q[2]; /* by enum io_prio */
	int nqueued;
	int demand_pending; /* demand requests not final */
	struct chunk *chunks;
	int free_head;
	int inflight, prefetch_inflight;
	double busy_since;
	uint64_t nreads, seq;

	struct file files[MAX_FILES];
	int nfiles;

	struct iosched_stats st;
	_Atomic uint64_t io_wait_ns;

	pthread_t *threads;
	int nthreads;
#ifdef HAVE_LIBURING
	struct io_uring ring;
#endif
};

static bool is_final(int st)
{
	return st == IO_DONE || st == IO_ERROR || st == IO_CANCELLED;
}

static void set_state(struct io_req *r, enum io_state st)
{
	atomic_store_explicit(&r->state, (int)st, memory_order_release);
}

static uint64_t env_u64(const char *name)
{
	const char *v = getenv(name);
	int64_t n;
	if (!v || !*v || !parse_i64(v, 0, INT64_MAX, &n))
		return 0;
	return (uint64_t)n;
}

/* pread until len bytes, end of file or an error (returned as errno).
 * O_DIRECT progress that is not block-aligned can only be end of file, and
 * reading on from there would fail with EINVAL, so it stops there. */
static int read_span(int fd, bool direct, char *buf, size_t len, uint64_t off, size_t *done)
{
	while (*done < len) {
		ssize_t n = pread(fd, buf + *done, len - *done, (off_t)(off + *done));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return errno;
		}
		if (n == 0)
			break;
		*done += (size_t)n;
		if (direct && (*done & (IOSCHED_ALIGN - 1)))
			break;
	}
	return 0;
}

/* Buffered reads would leave streamed experts in the page cache, where they
 * push out what the rest of the system (and our resident weights) need. */
static void drop_cache(int fd, uint64_t off, size_t len)
{
#ifdef POSIX_FADV_DONTNEED
	(void)posix_fadvise(fd, (off_t)off, (off_t)len, POSIX_FADV_DONTNEED);
#else
	(void)fd, (void)off, (void)len;
#endif
}

/* ---- queues (all under s->mu) --------------------------------------------- */

static void enqueue_locked(struct iosched *s, struct io_req *r)
{
	struct queue *q = &s->q[r->prio];
	r->next_ = NULL;
	r->prev_ = q->tail;
	if (q->tail)
		q->tail->next_ = r;
	else
		q->head = r;
	q->tail = r;
	r->queued_ = true;
	s->nqueued++;
}

static void unlink_locked(struct iosched *s, struct io_req *r)
{
	struct queue *q = &s->q[r->prio];
	if (r->prev_)
		r->prev_->next_ = r->next_;
	else
		q->head = r->next_;
	if (r->next_)
		r->next_->prev_ = r->prev_;
	else
		q->tail = r->prev_;
	r->next_ = r->prev_ = NULL;
	r->queued_ = false;
	s->nqueued--;
}

/* The request the next read comes from: demand first; prefetch only while
 * no demand is pending, because prefetch that competes with demand reads
 * costs more than it saves on a saturated disk. */
static struct io_req *next_req_locked(struct iosched *s)
{
	if (s->paused || s->free_head < 0)
		return NULL;
	if (s->q[IO_DEMAND].head)
		return s->q[IO_DEMAND].head;
	if (s->demand_pending == 0 && s->prefetch_inflight < s->prefetch_depth)
		return s->q[IO_PREFETCH].head;
	return NULL;
}

static struct chunk *take_chunk_locked(struct iosched *s)
{
	struct io_req *r = next_req_locked(s);
	if (!r)
		return NULL;
	struct chunk *c = &s->chunks[s->free_head];
	s->free_head = c->next_free;

	c->req = r;
	c->f = &s->files[r->file];
	c->foff = r->aoff_ + r->cursor_;
	c->buf = (char *)r->dst + r->cursor_;
	c->len = MIN(s->chunk_bytes, r->alen_ - r->cursor_);
	c->done = 0;
	c->retries = 0;
	uint64_t want_end = r->off + r->len;
	c->need = want_end >= c->foff + c->len ? c->len : (size_t)(want_end - c->foff);
	c->prefetch = r->prio == IO_PREFETCH;
	s->nreads++;
	c->fault = s->nreads == s->fault_eio ? FAULT_EIO
		 : s->nreads == s->fault_short ? FAULT_SHORT
					       : FAULT_NONE;

	r->cursor_ += c->len;
	r->inflight_++;
	if (r->cursor_ == r->alen_)
		unlink_locked(s, r);
	if (atomic_load_explicit(&r->state, memory_order_relaxed) == IO_QUEUED)
		set_state(r, IO_INFLIGHT);

	if (s->inflight++ == 0)
		s->busy_since = now_sec();
	if (c->prefetch)
		s->prefetch_inflight++;
	s->st.reads++;
	return c;
}

static void wake_waiters_locked(struct iosched *s)
{
	if (s->waiters)
		pthread_cond_broadcast(&s->done_cv);
}

static void dispatch_locked(struct iosched *s);

static void complete_req_locked(struct iosched *s, struct io_req *r)
{
	r->data = (char *)r->dst + (r->off - r->aoff_);
	r->seq = ++s->seq;
	if (r->err) {
		s->st.errors++;
	} else {
		s->st.done++;
		s->st.bytes_wanted += r->len;
	}
	bool unblocks_prefetch = r->prio == IO_DEMAND && --s->demand_pending == 0;
	/* Last touch of r: the caller may reuse it as soon as it sees this. */
	set_state(r, r->err ? IO_ERROR : IO_DONE);
	wake_waiters_locked(s);
	if (unblocks_prefetch)
		dispatch_locked(s);
}

/* A chunk's read is over (err: errno or 0). Decide whether the bytes the
 * caller wants all arrived; never let a short read pass as data. */
static void finish_chunk_locked(struct iosched *s, struct chunk *c, int err)
{
	struct io_req *r = c->req;
	bool short_read = false;

	if (c->fault == FAULT_EIO) {
		err = EIO;
	} else if (c->fault == FAULT_SHORT && !err) {
		c->done = MIN(c->done, (c->need / 2) & ~(size_t)(IOSCHED_ALIGN - 1));
	}
	if (!err && c->done < c->need) {
		err = EIO;
		short_read = true;
	}
	s->st.bytes_read += c->done;
	if (err && !r->err) {
		r->err = err;
		r->err_off = c->foff;
		r->err_got = c->done;
		r->err_short = short_read;
		if (r->queued_) { /* no point reading the rest */
			unlink_locked(s, r);
			r->cursor_ = r->alen_;
		}
	}
	r->inflight_--;

	c->req = NULL;
	c->next_free = s->free_head;
	s->free_head = (int)(c - s->chunks);
	if (c->prefetch)
		s->prefetch_inflight--;
	if (--s->inflight == 0) {
		s->st.busy_s += now_sec() - s->busy_since;
		if (s->stopping)
			wake_waiters_locked(s);
	}
	if (r->inflight_ == 0 && r->cursor_ == r->alen_)
		complete_req_locked(s, r);
}

/* ---- threads backend ----------------------------------------------------- */

static void *worker_main(void *arg)
{
	struct iosched *s = arg;
	pthread_mutex_lock(&s->mu);
	for (;;) {
		struct chunk *c = take_chunk_locked(s);
		if (!c) {
			if (s->stopping)
				break;
			pthread_cond_wait(&s->work_cv, &s->mu);
			continue;
		}
		pthread_mutex_unlock(&s->mu);
		int err = read_span(c->f->fd, c->f->direct, c->buf, c->len, c->foff, &c->done);
		if (!c->f->direct)
			drop_cache(c->f->fd, c->foff, c->len);
		pthread_mutex_lock(&s->mu);
		finish_chunk_locked(s, c, err);
	}
	pthread_mutex_unlock(&s->mu);
	return NULL;
}

/* ---- io_uring backend ---------------------------------------------------- */

#ifdef HAVE_LIBURING
static void uring_prep_locked(struct iosched *s, struct chunk *c)
{
	/* Never NULL: at most queue_depth reads are in flight, the SQ has at
	 * least that many entries and every batch is submitted at once. */
	struct io_uring_sqe *sqe = io_uring_get_sqe(&s->ring);
	if (!sqe)
		die("iosched: io_uring submission queue full");
	io_uring_prep_read(sqe, c->f->fd, c->buf + c->done, (unsigned)(c->len - c->done),
			   c->foff + c->done);
	io_uring_sqe_set_data(sqe, c);
}

static void uring_submit_locked(struct iosched *s)
{
	/* Prepared SQEs must reach the kernel: the chunks they describe are
	 * already counted in flight and only a CQE can finish them. */
	for (int tries = 0;; tries++) {
		int n = io_uring_submit(&s->ring);
		if (n >= 0)
			return;
		if ((n != -EAGAIN && n != -EINTR && n != -EBUSY) || tries > 1000)
			die("iosched: io_uring_submit: %s", strerror(-n));
		struct timespec ts = {0, 100000};
		nanosleep(&ts, NULL);
	}
}

static void uring_dispatch_locked(struct iosched *s)
{
	struct chunk *c;
	int n = 0;
	while ((c = take_chunk_locked(s))) {
		uring_prep_locked(s, c);
		n++;
	}
	if (n)
		uring_submit_locked(s);
}

/* Returns true when the chunk was queued again for its remaining bytes. */
static bool uring_complete_locked(struct iosched *s, struct chunk *c, int res)
{
	if ((res == -EAGAIN || res == -EINTR) && c->retries++ < MAX_RETRIES) {
		uring_prep_locked(s, c);
		return true;
	}
	if (res < 0) {
		finish_chunk_locked(s, c, -res);
		return false;
	}
	c->done += (size_t)res;
	bool aligned = !c->f->direct || !(c->done & (IOSCHED_ALIGN - 1));
	if (res > 0 && c->done < c->len && aligned) {
		uring_prep_locked(s, c);
		return true;
	}
	if (!c->f->direct)
		drop_cache(c->f->fd, c->foff, c->len);
	finish_chunk_locked(s, c, 0);
	return false;
}

static void *reaper_main(void *arg)
{
	struct iosched *s = arg;
	for (;;) {
		struct io_uring_cqe *cqe;
		int e = io_uring_wait_cqe(&s->ring, &cqe);
		if (e == -EINTR || e == -EAGAIN)
			continue;
		if (e < 0)
			die("iosched: io_uring_wait_cqe: %s", strerror(-e));

		bool stop = false, resubmit = false;
		unsigned head, n = 0;
		pthread_mutex_lock(&s->mu);
		io_uring_for_each_cqe(&s->ring, head, cqe) {
			struct chunk *c = io_uring_cqe_get_data(cqe);
			n++;
			if (!c)
				stop = true; /* the NOP iosched_free sends */
			else if (uring_complete_locked(s, c, cqe->res))
				resubmit = true;
		}
		io_uring_cq_advance(&s->ring, n);
		if (resubmit)
			uring_submit_locked(s);
		uring_dispatch_locked(s);
		pthread_mutex_unlock(&s->mu);
		if (stop)
			return NULL;
	}
}

/* Some sandboxes refuse io_uring (seccomp, io_uring_disabled), at setup or
 * only at the first submission: probe with a NOP before relying on it. */
static int uring_init(struct iosched *s)
{
	int e = io_uring_queue_init((unsigned)s->qd, &s->ring, 0);
	if (e < 0)
		return -e;
	struct io_uring_sqe *sqe = io_uring_get_sqe(&s->ring);
	struct io_uring_cqe *cqe;
	io_uring_prep_nop(sqe);
	e = io_uring_submit_and_wait(&s->ring, 1);
	if (e >= 0)
		e = io_uring_wait_cqe(&s->ring, &cqe);
	if (e >= 0) {
		e = cqe->res;
		io_uring_cqe_seen(&s->ring, cqe);
	}
	if (e < 0) {
		io_uring_queue_exit(&s->ring);
		return -e;
	}
	return 0;
}
#endif

/* Issue what can be issued now, or tell the workers there is work. */
static void dispatch_locked(struct iosched *s)
{
#ifdef HAVE_LIBURING
	if (s->backend == IOSCHED_URING) {
		uring_dispatch_locked(s);
		return;
	}
#endif
	if (next_req_locked(s))
		pthread_cond_broadcast(&s->work_cv);
}

/* ---- set-up -------------------------------------------------------------- */

static enum iosched_backend pick_backend(struct iosched *s, enum iosched_backend b)
{
	const char *env = getenv("HEFT_IO");
	if (b == IOSCHED_AUTO && env && *env) {
		if (!strcmp(env, "uring") || !strcmp(env, "io_uring"))
			b = IOSCHED_URING;
		else if (!strcmp(env, "threads"))
			b = IOSCHED_THREADS;
		else
			snprintf(s->note, sizeof s->note, "HEFT_IO=%s not understood (uring, threads)", env);
	}
#ifdef HAVE_LIBURING
	if (b == IOSCHED_AUTO)
		b = IOSCHED_URING;
	if (b == IOSCHED_URING) {
		int e = uring_init(s);
		if (!e)
			return IOSCHED_URING;
		snprintf(s->note, sizeof s->note, "io_uring unavailable (%s); using threads", strerror(e));
	}
#else
	if (b == IOSCHED_URING)
		snprintf(s->note, sizeof s->note, "built without liburing; using threads");
#endif
	return IOSCHED_THREADS;
}

static void start_threads(struct iosched *s, int n, void *(*fn)(void *))
{
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	/* Workers only read; small stacks keep them out of the memory budget. */
	pthread_attr_setstacksize(&attr, 256u << 10);
	s->threads = xcalloc((size_t)n, sizeof *s->threads);
	for (int i = 0; i < n; i++) {
		int e = pthread_create(&s->threads[i], &attr, fn, s);
		if (e)
			die("iosched: pthread_create: %s", strerror(e));
	}
	s->nthreads = n;
	pthread_attr_destroy(&attr);
}

struct iosched *iosched_new(const struct iosched_opts *opts)
{
	struct iosched_opts o = {0};
	if (opts)
		o = *opts;
	struct iosched *s = xcalloc(1, sizeof *s);

	s->qd = o.queue_depth > 0 ? MIN(o.queue_depth, 1024) : DEFAULT_QD;
	s->prefetch_depth = o.prefetch_depth > 0 ? MIN(o.prefetch_depth, s->qd) : MAX(1, s->qd / 2);
	size_t cb = o.chunk_bytes ? o.chunk_bytes : DEFAULT_CHUNK;
	cb = (cb + IOSCHED_ALIGN - 1) & ~(size_t)(IOSCHED_ALIGN - 1);
	s->chunk_bytes = MIN(cb, (size_t)MAX_CHUNK);
	s->spin_us = o.spin_us ? (o.spin_us < 0 ? 0 : o.spin_us) : DEFAULT_SPIN_US;
	const char *d = getenv("HEFT_IO_DIRECT");
	s->force_buffered = o.buffered || (d && !strcmp(d, "0"));
	s->fault_eio = env_u64("HEFT_FAULT_READ");
	s->fault_short = env_u64("HEFT_FAULT_SHORT");
	s->fault_verify = env_u64("HEFT_FAULT_VERIFY") != 0;

	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->work_cv, NULL);
	pthread_cond_init(&s->done_cv, NULL);
	s->chunks = xcalloc((size_t)s->qd, sizeof *s->chunks);
	for (int i = 0; i < s->qd; i++)
		s->chunks[i].next_free = i + 1 < s->qd ? i + 1 : -1;
	s->free_head = 0;

	s->backend = pick_backend(s, o.backend);
#ifdef HAVE_LIBURING
	if (s->backend == IOSCHED_URING) {
		start_threads(s, 1, reaper_main);
		return s;
	}
#endif
	start_threads(s, s->qd, worker_main);
	return s;
}

/* Cancel what has not started; a partly issued request has to finish, so
 * it is dispatched even when paused. */
static void cancel_queued_locked(struct iosched *s)
{
	for (int p = 0; p < 2; p++) {
		struct io_req *r = s->q[p].head;
		while (r) {
			struct io_req *next = r->next_;
			if (r->cursor_ == 0) {
				unlink_locked(s, r);
				if (r->prio == IO_DEMAND)
					s->demand_pending--;
				s->st.cancelled++;
				set_state(r, IO_CANCELLED);
			}
			r = next;
		}
	}
	s->paused = false;
}

void iosched_free(struct iosched *s)
{
	if (!s)
		return;
	pthread_mutex_lock(&s->mu);
	s->stopping = true;
	cancel_queued_locked(s);
	dispatch_locked(s);
	while (s->inflight > 0 || s->nqueued > 0) {
		s->waiters++;
		pthread_cond_wait(&s->done_cv, &s->mu);
		s->waiters--;
	}
	wake_waiters_locked(s);
#ifdef HAVE_LIBURING
	if (s->backend == IOSCHED_URING) {
		struct io_uring_sqe *sqe = io_uring_get_sqe(&s->ring);
		io_uring_prep_nop(sqe);
		io_uring_sqe_set_data(sqe, NULL);
		uring_submit_locked(s);
	}
#endif
	pthread_cond_broadcast(&s->work_cv);
	pthread_mutex_unlock(&s->mu);

	for (int i = 0; i < s->nthreads; i++)
		pthread_join(s->threads[i], NULL);
	free(s->threads);
#ifdef HAVE_LIBURING
	if (s->backend == IOSCHED_URING)
		io_uring_queue_exit(&s->ring);
#endif
	for (int i = 0; i < s->nfiles; i++) {
		struct file *f = &s->files[i];
		if (f->fd != f->fd_buf)
			close(f->fd);
		close(f->fd_buf);
		free(f->path);
	}
	pthread_cond_destroy(&s->done_cv);
	pthread_cond_destroy(&s->work_cv);
	pthread_mutex_destroy(&s->mu);
	free(s->chunks);
	free(s);
}

const char *iosched_backend_name(const struct iosched *s)
{
	return s->backend == IOSCHED_URING ? "io_uring" : "threads";
}

const char *iosched_note(const struct iosched *s)
{
	return s->note;
}

/* ---- files ----------------------------------------------------------------- */

/* Direct I/O is only used where it demonstrably returns the file's bytes
 * (a FUSE file system has been seen returning garbage): compare aligned
 * blocks at the start, middle and end read both ways. */
static bool verify_direct(struct iosched *s, int fd_direct, int fd_buf, uint64_t size,
			  char *note, size_t notelen)
{
	char *a = xaligned_alloc(IOSCHED_ALIGN, VERIFY_BYTES);
	char *b = xaligned_alloc(IOSCHED_ALIGN, VERIFY_BYTES);
	uint64_t last = size ? (size - 1) & ~(uint64_t)(IOSCHED_ALIGN - 1) : 0;
	uint64_t offs[3] = {0, (size / 2) & ~(uint64_t)(IOSCHED_ALIGN - 1), last};
	bool ok = true;

	for (int i = 0; i < 3 && ok && size; i++) {
		size_t want = (size_t)MIN((uint64_t)VERIFY_BYTES, size - offs[i]);
		size_t got_d = 0, got_b = 0;
		int e = read_span(fd_direct, true, a, VERIFY_BYTES, offs[i], &got_d);
		if (e) {
			snprintf(note, notelen, "O_DIRECT read failed (%s)", strerror(e));
			ok = false;
			break;
		}
		e = read_span(fd_buf, false, b, want, offs[i], &got_b);
		if (e) {
			snprintf(note, notelen, "read failed (%s)", strerror(e));
			ok = false;
			break;
		}
		if (s->fault_verify)
			b[0] ^= 1;
		if (got_d < want || got_b != want || memcmp(a, b, want)) {
			snprintf(note, notelen, "O_DIRECT read differs from buffered read at offset %" PRIu64,
				 offs[i]);
			ok = false;
		}
		drop_cache(fd_buf, offs[i], want);
	}
	free(a);
	free(b);
	return ok;
}

#if defined(O_DIRECT) || defined(F_NOCACHE)
/* Open path for uncached reads; -1 (and a note) when this system or file
 * system will not do it. The reopened file must be the caller's file. */
static int open_direct(const char *path, const struct stat *want, char *note, size_t notelen)
{
#ifdef O_DIRECT
	/* O_NONBLOCK until the identity check: a FIFO swapped in must not block */
	int fd = open(path, O_RDONLY | O_DIRECT | O_NONBLOCK | O_CLOEXEC);
#else
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (fd >= 0 && fcntl(fd, F_NOCACHE, 1) < 0) {
		snprintf(note, notelen, "F_NOCACHE refused (%s)", strerror(errno));
		close(fd);
		return -1;
	}
#endif
	if (fd < 0) {
		snprintf(note, notelen, "O_DIRECT refused (%s)", strerror(errno));
		return -1;
	}
	struct stat st;
	if (fstat(fd, &st) < 0 || st.st_dev != want->st_dev || st.st_ino != want->st_ino ||
	    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) < 0) {
		snprintf(note, notelen, "path no longer names the open file");
		close(fd);
		return -1;
	}
#if defined(STATX_DIOALIGN) && defined(O_DIRECT)
	/* Reads are aligned to IOSCHED_ALIGN; a device that needs more (or a
	 * file system that says it cannot do direct I/O) gets buffered reads. */
	struct statx sx;
	if (statx(fd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &sx) == 0 && (sx.stx_mask & STATX_DIOALIGN)) {
		if (!sx.stx_dio_offset_align || sx.stx_dio_offset_align > IOSCHED_ALIGN ||
		    sx.stx_dio_mem_align > IOSCHED_ALIGN) {
			snprintf(note, notelen, "O_DIRECT alignment %u/%u not supported",
				 sx.stx_dio_offset_align, sx.stx_dio_mem_align);
			close(fd);
			return -1;
		}
	}
#endif
	return fd;
}
#else
static int open_direct(const char *path, const struct stat *want, char *note, size_t notelen)
{
	(void)path, (void)want;
	snprintf(note, notelen, "no direct I/O on this system");
	return -1;
}
#endif

int iosched_add_file(struct iosched *s, int fd, const char *path, char *err, size_t errlen)
{
	struct stat st;
	if (fstat(fd, &st) < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	int fd_buf = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	if (fd_buf < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	struct file f = {.fd = fd_buf, .fd_buf = fd_buf, .path = xstrdup(path)};
	if (s->force_buffered) {
		snprintf(f.note, sizeof f.note, "buffered reads requested");
	} else {
		int fd_d = open_direct(path, &st, f.note, sizeof f.note);
		if (fd_d >= 0 && verify_direct(s, fd_d, fd_buf, (uint64_t)st.st_size, f.note, sizeof f.note)) {
			f.fd = fd_d;
			f.direct = true;
		} else if (fd_d >= 0) {
			close(fd_d);
		}
	}

	pthread_mutex_lock(&s->mu);
	int id = s->nfiles < MAX_FILES ? s->nfiles++ : -1;
	if (id >= 0)
		s->files[id] = f;
	pthread_mutex_unlock(&s->mu);
	if (id < 0) {
		snprintf(err, errlen, "%s: too many files (at most %d)", path, MAX_FILES);
		if (f.fd != f.fd_buf)
			close(f.fd);
		close(f.fd_buf);
		free(f.path);
	}
	return id;
}

int iosched_file_info(const struct iosched *s, int file, struct iosched_file_info *info)
{
	if (file < 0 || file >= s->nfiles)
		return -1;
	const struct file *f = &s->files[file];
	info->path = f->path;
	info->direct = f->direct;
	info->note = f->direct ? "" : f->note;
	return 0;
}

/* ---- requests -------------------------------------------------------------- */

static int check_req_locked(const struct iosched *s, const struct io_req *r)
{
	uint64_t end;
	if (r->file < 0 || r->file >= s->nfiles || r->len == 0 || !r->dst ||
	    ((uintptr_t)r->dst & (IOSCHED_ALIGN - 1)) || !add_u64(r->off, r->len, &end) ||
	    end > UINT64_MAX - IOSCHED_ALIGN || (r->prio != IO_DEMAND && r->prio != IO_PREFETCH))
		return EINVAL;
	return s->stopping ? ESHUTDOWN : 0;
}

static int submit_locked(struct iosched *s, struct io_req *r)
{
	int st = atomic_load_explicit(&r->state, memory_order_relaxed);
	if (st == IO_QUEUED || st == IO_INFLIGHT)
		return EBUSY;
	r->err = 0;
	r->err_off = r->err_got = 0;
	r->err_short = false;
	r->data = NULL;
	r->seq = 0;
	r->aoff_ = 0;
	r->alen_ = 0;
	int e = check_req_locked(s, r);
	if (e) {
		r->err = e;
		s->st.errors++;
		set_state(r, IO_ERROR);
		return e;
	}
	iosched_span(r->off, r->len, &r->aoff_, &r->alen_);
	r->cursor_ = 0;
	r->inflight_ = 0;
	enqueue_locked(s, r);
	s->st.requests++;
	if (r->prio == IO_DEMAND) {
		s->st.demand++;
		s->demand_pending++;
	} else {
		s->st.prefetch++;
	}
	set_state(r, IO_QUEUED);
	return 0;
}

int iosched_submit(struct iosched *s, struct io_req *req)
{
	return iosched_submit_batch(s, &req, 1) == 1 ? 0 : -1;
}

int iosched_submit_batch(struct iosched *s, struct io_req *const *reqs, int n)
{
	int ok = 0, err = 0;
	pthread_mutex_lock(&s->mu);
	for (int i = 0; i < n; i++) {
		int e = submit_locked(s, reqs[i]);
		if (e)
			err = e;
		else
			ok++;
	}
	dispatch_locked(s);
	pthread_mutex_unlock(&s->mu);
	if (err)
		errno = err;
	return ok;
}

void iosched_promote(struct iosched *s, struct io_req *r)
{
	pthread_mutex_lock(&s->mu);
	int st = atomic_load_explicit(&r->state, memory_order_relaxed);
	if (r->prio == IO_PREFETCH && (st == IO_QUEUED || st == IO_INFLIGHT)) {
		bool queued = r->queued_;
		if (queued)
			unlink_locked(s, r);
		r->prio = IO_DEMAND;
		if (queued)
			enqueue_locked(s, r);
		s->demand_pending++;
		s->st.promoted++;
		dispatch_locked(s);
	}
	pthread_mutex_unlock(&s->mu);
}

int iosched_cancel(struct iosched *s, struct io_req *r)
{
	int ret = -1;
	pthread_mutex_lock(&s->mu);
	if (atomic_load_explicit(&r->state, memory_order_relaxed) == IO_QUEUED && r->cursor_ == 0) {
		unlink_locked(s, r);
		bool unblocks = r->prio == IO_DEMAND && --s->demand_pending == 0;
		s->st.cancelled++;
		set_state(r, IO_CANCELLED);
		wake_waiters_locked(s);
		if (unblocks)
			dispatch_locked(s);
		ret = 0;
	}
	pthread_mutex_unlock(&s->mu);
	if (ret)
		errno = EBUSY;
	return ret;
}

static int result(const struct io_req *r)
{
	switch (iosched_state(r)) {
	case IO_DONE:
		return 0;
	case IO_CANCELLED:
		errno = ECANCELED;
		return -1;
	case IO_ERROR:
		errno = r->err;
		return -1;
	default:
		errno = EINVAL;
		return -1;
	}
}

/* A short spin catches reads about to land without a sleep/wake round trip;
 * beyond that the waiting thread sleeps so compute threads keep the core
 * (sched_yield loops starved them in a peer's engine). */
static bool spin_until_final(const struct io_req *r, int spin_us)
{
	if (spin_us <= 0)
		return false;
	double deadline = now_sec() + spin_us * 1e-6;
	for (;;) {
		for (int i = 0; i < 64; i++) {
			if (is_final(iosched_state(r)))
				return true;
			cpu_relax();
		}
		if (now_sec() > deadline)
			return false;
	}
}

int iosched_wait(struct iosched *s, struct io_req *r)
{
	int st = iosched_state(r);
	if (st == IO_IDLE || is_final(st))
		return result(r);

	double t0 = now_sec();
	iosched_promote(s, r); /* compute needs it now */
	if (!spin_until_final(r, s->spin_us)) {
		pthread_mutex_lock(&s->mu);
		s->waiters++;
		while (!is_final(iosched_state(r)))
			pthread_cond_wait(&s->done_cv, &s->mu);
		s->waiters--;
		pthread_mutex_unlock(&s->mu);
	}
	atomic_fetch_add_explicit(&s->io_wait_ns, (uint64_t)((now_sec() - t0) * 1e9),
				  memory_order_relaxed);
	return result(r);
}

bool iosched_idle(struct iosched *s)
{
	pthread_mutex_lock(&s->mu);
	bool idle = s->demand_pending == 0;
	pthread_mutex_unlock(&s->mu);
	return idle;
}

char *iosched_strerror(const struct iosched *s, const struct io_req *r, char *buf, size_t len)
{
	const char *path = r->file >= 0 && r->file < s->nfiles ? s->files[r->file].path : "?";
	switch (iosched_state(r)) {
	case IO_CANCELLED:
		snprintf(buf, len, "%s: read cancelled", path);
		break;
	case IO_ERROR:
		if (r->err_short)
			snprintf(buf, len,
				 "%s: short read at offset %" PRIu64 ": the file ends at %" PRIu64
				 " but the data runs to %" PRIu64 " (file truncated or replaced?)",
				 path, r->err_off, r->err_off + r->err_got, r->off + r->len);
		else if (!r->alen_)
			snprintf(buf, len, "%s: invalid read request (%s)", path, strerror(r->err));
		else
			snprintf(buf, len, "%s: read at offset %" PRIu64 ": %s", path, r->err_off,
				 strerror(r->err));
		break;
	default:
		snprintf(buf, len, "%s: no error", path);
		break;
	}
	return buf;
}

void iosched_stats(struct iosched *s, struct iosched_stats *st)
{
	pthread_mutex_lock(&s->mu);
	*st = s->st;
	if (s->inflight)
		st->busy_s += now_sec() - s->busy_since;
	st->queued = s->nqueued;
	st->inflight = s->inflight;
	pthread_mutex_unlock(&s->mu);
	st->io_wait_s = (double)atomic_load_explicit(&s->io_wait_ns, memory_order_relaxed) * 1e-9;
}

void iosched_pause(struct iosched *s, bool paused)
{
	pthread_mutex_lock(&s->mu);
	s->paused = paused && !s->stopping;
	if (!s->paused)
		dispatch_locked(s);
	pthread_mutex_unlock(&s->mu);
}
