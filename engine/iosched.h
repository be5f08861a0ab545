/* iosched.h - the I/O scheduler: reads byte ranges of model files straight
 * into caller-owned, 4 KiB-aligned buffers (expert-cache slots), with many
 * reads in flight, demand reads ahead of prefetches.
 *
 * Files are read with O_DIRECT (F_NOCACHE on macOS) so streamed experts do
 * not fill the page cache; a file where O_DIRECT is refused or returns other
 * bytes than a buffered read falls back to buffered pread followed by
 * posix_fadvise(POSIX_FADV_DONTNEED) on the range read.
 *
 * Backends: io_uring (built with HAVE_LIBURING) or a pool of pread threads.
 * Both keep up to queue_depth reads in flight; a request larger than
 * chunk_bytes is split so one expert read uses several of them.
 *
 * A request reads the 4 KiB-aligned superset of [off, off + len) into dst and
 * points req->data at byte off inside it: no bounce copy. Size buffers with
 * iosched_span() or iosched_span_max().
 *
 * Scheduling: a demand request is dispatched before every queued prefetch,
 * and prefetches are dispatched only while no demand request is pending
 * (the disk is "idle" for the model), at most prefetch_depth of their chunks
 * at a time. Waiting on a prefetch promotes it to a demand request.
 *
 * Ownership: requests and buffers belong to the caller and must stay alive
 * and untouched until the request reaches a final state (done, error or
 * cancelled). Zero-initialize a request before its first use; after that it
 * can be refilled and submitted again once final. The scheduler allocates
 * nothing per request (its table of reads in flight is made at start-up).
 *
 * Errors: a failed read, or a short one (the file was truncated or replaced
 * under us) ends the request in IO_ERROR with err (EIO for short reads) --
 * never IO_DONE with wrong bytes; iosched_strerror() says where, the caller
 * adds which tensor, layer and expert.
 *
 * Test hooks (read once by iosched_new; for tests and fault drills only):
 *   HEFT_FAULT_READ=N   the Nth read (1-based, counted over the scheduler's
 *                       lifetime, one per chunk) fails with EIO;
 *   HEFT_FAULT_SHORT=N  the Nth read comes back short, as if the file ended
 *                       inside it (the request fails with EIO);
 *   HEFT_FAULT_VERIFY=1 iosched_add_file's O_DIRECT check sees different
 *                       bytes, so the file falls back to buffered reads.
 * Run-time choices: HEFT_IO=uring|threads picks the backend when the options
 * say IOSCHED_AUTO; HEFT_IO_DIRECT=0 forces buffered reads. */
#ifndef HEFT_IOSCHED_H
#define HEFT_IOSCHED_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Alignment of file offsets, lengths and buffers for every read. */
#define IOSCHED_ALIGN 4096u

enum iosched_backend { IOSCHED_AUTO, IOSCHED_URING, IOSCHED_THREADS };

struct iosched_opts {
	enum iosched_backend backend; /* AUTO: $HEFT_IO, else uring if built in */
	int queue_depth;              /* reads in flight (threads: pool size); 0: 16 */
	int prefetch_depth;           /* prefetch reads in flight at most; 0: queue_depth/2 */
	size_t chunk_bytes;           /* split requests into reads of this size; 0: 1 MiB */
	int spin_us;                  /* iosched_wait spins this long before sleeping; 0: 30, <0: none */
	bool buffered;                /* never use O_DIRECT */
};

enum io_prio { IO_DEMAND = 0, IO_PREFETCH = 1 };

enum io_state {
	IO_IDLE = 0,  /* never submitted (zero-initialized) */
	IO_QUEUED,    /* submitted, no read issued yet: can be cancelled */
	IO_INFLIGHT,  /* some reads issued */
	IO_DONE,      /* data valid at req->data */
	IO_ERROR,     /* req->err says why; buffer contents undefined */
	IO_CANCELLED, /* cancelled before any read was issued; buffer untouched */
};

struct io_req {
	/* Set by the caller before iosched_submit(). */
	int file;          /* id from iosched_add_file() */
	uint64_t off;      /* file offset of the wanted bytes */
	size_t len;        /* number of wanted bytes (> 0) */
	void *dst;         /* IOSCHED_ALIGN-aligned, >= iosched_span() aligned_len bytes */
	enum io_prio prio; /* a wait or iosched_promote() sets IO_DEMAND */
	uint64_t tag;      /* the caller's: e.g. layer << 32 | expert */

	/* Results, valid once the state is final. */
	_Atomic int state; /* enum io_state; read with iosched_state() */
	void *data;        /* dst + (off - aligned_off) */
	int err;           /* errno when IO_ERROR (EIO for a short read) */
	uint64_t err_off;  /* file offset of the failed read */
	uint64_t err_got;  /* bytes that arrived at err_off */
	bool err_short;    /* the file ended early (truncated or replaced?) */
	uint64_t seq;      /* completion order (1, 2, ...) over the scheduler */

	/* Private to the scheduler. */
	struct io_req *next_, *prev_;
	uint64_t aoff_;
	size_t alen_, cursor_;
	int inflight_;
	bool queued_;
};

struct iosched_file_info {
	const char *path;
	bool direct;      /* O_DIRECT / F_NOCACHE; else buffered + DONTNEED */
	const char *note; /* why buffered ("" when direct) */
};

struct iosched_stats {
	uint64_t requests;   /* submitted */
	uint64_t demand;     /* of which demand (at submission) */
	uint64_t prefetch;   /* of which prefetch */
	uint64_t promoted;   /* prefetches turned demand by a wait */
	uint64_t cancelled;
	uint64_t done;
	uint64_t errors;
	uint64_t reads;      /* chunk reads issued to the kernel */
	uint64_t bytes_read; /* bytes read from files (aligned supersets) */
	uint64_t bytes_wanted; /* bytes asked for by completed requests */
	double io_wait_s;    /* time callers spent blocked in iosched_wait */
	double busy_s;       /* time with at least one read in flight */
	int queued;          /* requests queued now */
	int inflight;        /* reads in flight now */
};

struct iosched;

/* Create the scheduler and its threads (NULL opts: defaults). Never NULL:
 * when io_uring is unavailable it falls back to threads and says why in
 * iosched_note(). */
struct iosched *iosched_new(const struct iosched_opts *opts);
/* Cancels queued requests, waits for reads in flight, joins the threads. */
void iosched_free(struct iosched *s);

/* "io_uring" or "threads", and why the backend is not the one asked for
 * ("" when it is). */
const char *iosched_backend_name(const struct iosched *s);
const char *iosched_note(const struct iosched *s);

/* Register a file: fd is an open, readable descriptor (dup'ed: the caller
 * may close its own), path is reopened with O_DIRECT. Returns the file id
 * (>= 0), or -1 with a message in err. Call before submitting reads. */
int iosched_add_file(struct iosched *s, int fd, const char *path, char *err, size_t errlen);
int iosched_file_info(const struct iosched *s, int file, struct iosched_file_info *info);

/* The aligned superset of [off, off + len). */
static inline void iosched_span(uint64_t off, size_t len, uint64_t *aligned_off, size_t *aligned_len)
{
	uint64_t a = off & ~(uint64_t)(IOSCHED_ALIGN - 1);
	uint64_t e = (off + len + IOSCHED_ALIGN - 1) & ~(uint64_t)(IOSCHED_ALIGN - 1);
	*aligned_off = a;
	*aligned_len = (size_t)(e - a);
}
/* Buffer bytes enough for len bytes at any offset. */
static inline size_t iosched_span_max(size_t len)
{
	return ((len + IOSCHED_ALIGN - 1) & ~(size_t)(IOSCHED_ALIGN - 1)) + IOSCHED_ALIGN;
}

/* Queue a request (its caller fields set, not in flight). Returns 0, or -1
 * with errno (EINVAL: bad file/alignment/length, EBUSY: already pending),
 * in which case a request that was not pending is in IO_ERROR. */
int iosched_submit(struct iosched *s, struct io_req *req);
/* Queue n requests under one lock; returns how many were queued (errors as
 * iosched_submit, the failing ones left in IO_ERROR). */
int iosched_submit_batch(struct iosched *s, struct io_req *const *reqs, int n);

/* Wait until req is final: 0 when done, -1 with errno = req->err on error
 * (ECANCELED when cancelled, EINVAL when never submitted). A queued
 * prefetch is promoted to demand first. */
int iosched_wait(struct iosched *s, struct io_req *req);
/* Make a pending prefetch a demand request (no-op otherwise). */
void iosched_promote(struct iosched *s, struct io_req *req);
/* Cancel a request no read has been issued for: 0 when it is now
 * IO_CANCELLED, -1 (EBUSY) when reads are in flight or it is final -- then
 * wait for it before reusing its buffer. */
int iosched_cancel(struct iosched *s, struct io_req *req);

static inline enum io_state iosched_state(const struct io_req *req)
{
	return (enum io_state)atomic_load_explicit(&req->state, memory_order_acquire);
}

/* True when no demand request is pending: prefetch would use idle time. */
bool iosched_idle(struct iosched *s);

/* Describe a failed request ("model.gguf: read at 123456: Input/output
 * error"); the caller prefixes tensor, layer and expert. Returns buf. */
char *iosched_strerror(const struct iosched *s, const struct io_req *req, char *buf, size_t len);

void iosched_stats(struct iosched *s, struct iosched_stats *st);

/* Test hook: while paused no new read is issued (requests queue up), so
 * tests can build a backlog and check the dispatch order exactly. */
void iosched_pause(struct iosched *s, bool paused);

#endif
