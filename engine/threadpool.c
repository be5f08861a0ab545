/* threadpool.c - fixed pthread pool with one barrier per step. */
#include "threadpool.h"

#include "cpu.h"
#include "util.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

/* How long to poll (for the next step, or for the other threads to finish
 * one) before sleeping: about 50-100 us. The gap between two steps is a few
 * microseconds, so polling covers it on an idle machine; on a busy one a
 * thread that is not running will not come back within that time, and
 * spinning longer would only steal its core (measured: 30x slower decode
 * with a 5 ms spin while another process used one of two cores). */
#define SPIN_ITERS 4000

/* A step's word: its generation in the high 32 bits, STEP_CLOSED once the
 * caller has finished a claimed step, and in the low bits the workers that
 * joined it. A worker joins by incrementing the count, which it can only do
 * while the step is current and open; the caller waits for the workers that
 * joined, never for one that did not. */
#define STEP_CLOSED 0x80000000u
#define STEP_JOINED 0x7fffffffu

struct threadpool {
	int nth;
	pthread_t *threads;

	/* The current step. Workers start it when the generation changes. */
	threadpool_fn fn;
	void *arg;
	unsigned gen;           /* the caller's: the last step's generation */
	_Atomic uint64_t step;
	atomic_int done;        /* workers that joined the step and finished it */
	atomic_int quit;

	/* Sleeping on either side, when spinning took too long. */
	pthread_mutex_t mu;
	pthread_cond_t wake; /* workers wait for a new generation */
	pthread_cond_t fin;  /* the caller waits for done */
	atomic_int sleepers;
	atomic_int caller_sleeping;
};

struct worker_arg {
	struct threadpool *tp;
	int ith;
};

static unsigned step_gen(uint64_t s)
{
	return (unsigned)(s >> 32);
}

static unsigned wait_new_gen(struct threadpool *tp, unsigned seen)
{
	for (int i = 0; i < SPIN_ITERS; i++) {
		unsigned g = step_gen(atomic_load_explicit(&tp->step, memory_order_acquire));
		if (g != seen || atomic_load(&tp->quit))
			return g;
		cpu_relax();
	}
	pthread_mutex_lock(&tp->mu);
	atomic_fetch_add(&tp->sleepers, 1);
	unsigned g;
	while ((g = step_gen(atomic_load(&tp->step))) == seen && !atomic_load(&tp->quit))
		pthread_cond_wait(&tp->wake, &tp->mu);
	atomic_fetch_sub(&tp->sleepers, 1);
	pthread_mutex_unlock(&tp->mu);
	return g;
}

/* Join step generation g if it is still current and open. */
static bool join_step(struct threadpool *tp, unsigned g)
{
	uint64_t s = atomic_load_explicit(&tp->step, memory_order_acquire);
	while (step_gen(s) == g && !(s & STEP_CLOSED))
		if (atomic_compare_exchange_weak_explicit(&tp->step, &s, s + 1, memory_order_acq_rel,
							  memory_order_acquire))
			return true;
	return false;
}

static void *worker_main(void *p)
{
	struct worker_arg *wa = p;
	struct threadpool *tp = wa->tp;
	int ith = wa->ith;
	free(wa);
	unsigned seen = 0;
	for (;;) {
		seen = wait_new_gen(tp, seen);
		if (atomic_load(&tp->quit))
			break;
		if (!join_step(tp, seen))
			continue; /* finished without us, or already the next one */
		tp->fn(tp->arg, ith, tp->nth);
		atomic_fetch_add(&tp->done, 1);
		if (atomic_load(&tp->caller_sleeping)) {
			pthread_mutex_lock(&tp->mu);
			pthread_cond_signal(&tp->fin);
			pthread_mutex_unlock(&tp->mu);
		}
	}
	return NULL;
}

int threadpool_default_threads(void)
{
	int n = cpu_physical_cores();
	return n > 0 ? n : 1;
}

struct threadpool *threadpool_new(int n_threads)
{
	struct threadpool *tp = xcalloc(1, sizeof *tp);
	tp->nth = n_threads > 0 ? n_threads : threadpool_default_threads();
	pthread_mutex_init(&tp->mu, NULL);
	pthread_cond_init(&tp->wake, NULL);
	pthread_cond_init(&tp->fin, NULL);
	tp->threads = xcalloc((size_t)tp->nth, sizeof *tp->threads);
	for (int i = 1; i < tp->nth; i++) {
		struct worker_arg *wa = xmalloc(sizeof *wa);
		wa->tp = tp;
		wa->ith = i;
		int rc = pthread_create(&tp->threads[i], NULL, worker_main, wa);
		if (rc) {
			errno = rc;
			die_errno("pthread_create");
		}
	}
	return tp;
}

void threadpool_free(struct threadpool *tp)
{
	if (!tp)
		return;
	pthread_mutex_lock(&tp->mu);
	atomic_store(&tp->quit, 1);
	pthread_cond_broadcast(&tp->wake);
	pthread_mutex_unlock(&tp->mu);
	for (int i = 1; i < tp->nth; i++)
		pthread_join(tp->threads[i], NULL);
	pthread_mutex_destroy(&tp->mu);
	pthread_cond_destroy(&tp->wake);
	pthread_cond_destroy(&tp->fin);
	free(tp->threads);
	free(tp);
}

int threadpool_size(const struct threadpool *tp)
{
	return tp->nth;
}

/* Publish a step and run the caller's part of it. */
static void start_step(struct threadpool *tp, threadpool_fn fn, void *arg)
{
	tp->fn = fn;
	tp->arg = arg;
	atomic_store_explicit(&tp->done, 0, memory_order_relaxed);
	/* An exchange, not a store, pairs with the sleepers count: the load
	 * of sleepers below must not pass it (wait_done says why). */
	atomic_exchange(&tp->step, (uint64_t)++tp->gen << 32);
	if (atomic_load(&tp->sleepers)) {
		pthread_mutex_lock(&tp->mu);
		pthread_cond_broadcast(&tp->wake);
		pthread_mutex_unlock(&tp->mu);
	}
	fn(arg, 0, tp->nth);
}

static void wait_done(struct threadpool *tp, int n)
{
	for (int i = 0; i < SPIN_ITERS; i++) {
		if (atomic_load_explicit(&tp->done, memory_order_acquire) == n)
			return;
		cpu_relax();
	}
	pthread_mutex_lock(&tp->mu);
	/* An exchange, not a store: the load of done below must not pass it,
	 * or the last worker may read caller_sleeping 0 while we read its
	 * done not yet counted, and nobody signals. seq_cst promises that for
	 * a store too, but qemu-user running AArch64 code on x86 lets a
	 * store-release pass a later load-acquire (seen: every thread asleep,
	 * the count complete, caller_sleeping 1); a read-modify-write is a
	 * full barrier there and everywhere. */
	atomic_exchange(&tp->caller_sleeping, 1);
	while (atomic_load(&tp->done) != n)
		pthread_cond_wait(&tp->fin, &tp->mu);
	atomic_store(&tp->caller_sleeping, 0);
	pthread_mutex_unlock(&tp->mu);
}

void threadpool_run(struct threadpool *tp, threadpool_fn fn, void *arg)
{
	if (tp->nth == 1) {
		fn(arg, 0, 1);
		return;
	}
	start_step(tp, fn, arg);
	wait_done(tp, tp->nth - 1); /* never closed: every worker joins */
}

void threadpool_run_claims(struct threadpool *tp, threadpool_fn fn, void *arg)
{
	if (tp->nth == 1) {
		fn(arg, 0, 1);
		return;
	}
	start_step(tp, fn, arg);
	uint64_t s = atomic_fetch_or(&tp->step, STEP_CLOSED);
	wait_done(tp, (int)(s & STEP_JOINED));
}
