/* threadpool.h - a fixed pool of compute threads, created once per model.
 *
 * The forward pass is a sequence of steps (a matrix product, attention,
 * ...). Each step runs fn(arg, ith, nth) on every thread at once - the
 * caller is thread 0 - and returns when all have finished: one barrier per
 * step. Workers spin briefly between steps (a decode step is tens of
 * microseconds) and then sleep, so an idle engine does not burn cores.
 * Nothing is allocated per step. */
#ifndef HEFT_THREADPOOL_H
#define HEFT_THREADPOOL_H

struct threadpool;

typedef void (*threadpool_fn)(void *arg, int ith, int nth);

/* n_threads <= 0 picks threadpool_default_threads(). */
struct threadpool *threadpool_new(int n_threads);
void threadpool_free(struct threadpool *tp);

int threadpool_size(const struct threadpool *tp);

/* Run fn on all threads and wait for all of them. Not reentrant: fn must not
 * call threadpool_run on the same pool. */
void threadpool_run(struct threadpool *tp, threadpool_fn fn, void *arg);

/* The same for a step whose work the threads claim as they come (an atomic
 * counter in arg), so that any one thread - the caller too - may end up
 * doing all of it: the caller waits only for the workers that started the
 * step before it ran out of work, not for one that had not yet come back
 * to the pool (on a busy machine, a worker the kernel has not scheduled
 * held every step for up to a time slice). fn may then run on fewer than
 * nth threads, or on the caller alone; ith stays distinct among those that
 * run it. */
void threadpool_run_claims(struct threadpool *tp, threadpool_fn fn, void *arg);

/* Split [0, n) into nth near-equal contiguous ranges; range of thread ith. */
static inline void threadpool_range(long n, int ith, int nth, long *lo, long *hi)
{
	*lo = n * ith / nth;
	*hi = n * (ith + 1) / nth;
}

/* Physical cores available to us (cpu.h), at least 1. */
int threadpool_default_threads(void);

#endif
