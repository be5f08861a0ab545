/* threadpool.c - fixed pthread pool with one barrier per step. */
#include "threadpool.h"

#include "cpu.h"
#include "util.h"

#include <errno.h>
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

struct threadpool {
	int nth;
	pthread_t *threads;

	/* The current step. Workers start it when gen changes. */
	threadpool_fn fn;
	void *arg;
	atomic_uint gen;
	atomic_int pending; /* workers still running this step */
	atomic_int quit;

	/* Sleeping on either side, when spinning took too long. */
	pthread_mutex_t mu;
	pthread_cond_t wake; /* workers wait for a new gen */
	pthread_cond_t done; /* the caller waits for pending == 0 */
	atomic_int sleepers;
	atomic_int caller_sleeping;
};

struct worker_arg {
	struct threadpool *tp;
	int ith;
};

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield");
#endif
}

static unsigned wait_new_gen(struct threadpool *tp, unsigned seen)
{
	for (int i = 0; i < SPIN_ITERS; i++) {
		unsigned g = atomic_load_explicit(&tp->gen, memory_order_acquire);
		if (g != seen || atomic_load(&tp->quit))
			return g;
		cpu_relax();
	}
	pthread_mutex_lock(&tp->mu);
	atomic_fetch_add(&tp->sleepers, 1);
	unsigned g;
	while ((g = atomic_load(&tp->gen)) == seen && !atomic_load(&tp->quit))
		pthread_cond_wait(&tp->wake, &tp->mu);
	atomic_fetch_sub(&tp->sleepers, 1);
	pthread_mutex_unlock(&tp->mu);
	return g;
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
		tp->fn(tp->arg, ith, tp->nth);
		if (atomic_fetch_sub(&tp->pending, 1) == 1 &&
		    atomic_load(&tp->caller_sleeping)) {
			pthread_mutex_lock(&tp->mu);
			pthread_cond_signal(&tp->done);
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
	pthread_cond_init(&tp->done, NULL);
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
	pthread_cond_destroy(&tp->done);
	free(tp->threads);
	free(tp);
}

int threadpool_size(const struct threadpool *tp)
{
	return tp->nth;
}

void threadpool_run(struct threadpool *tp, threadpool_fn fn, void *arg)
{
	if (tp->nth == 1) {
		fn(arg, 0, 1);
		return;
	}
	tp->fn = fn;
	tp->arg = arg;
	atomic_store(&tp->pending, tp->nth - 1);
	atomic_fetch_add(&tp->gen, 1); /* seq_cst: pairs with the sleepers count */
	if (atomic_load(&tp->sleepers)) {
		pthread_mutex_lock(&tp->mu);
		pthread_cond_broadcast(&tp->wake);
		pthread_mutex_unlock(&tp->mu);
	}
	fn(arg, 0, tp->nth);
	for (int i = 0; i < SPIN_ITERS; i++) {
		if (atomic_load_explicit(&tp->pending, memory_order_acquire) == 0)
			return;
		cpu_relax();
	}
	pthread_mutex_lock(&tp->mu);
	/* An exchange, not a store: the load of pending below must not pass
	 * it, or the last worker may read caller_sleeping 0 while we read its
	 * pending still 1, and nobody signals. seq_cst promises that for a
	 * store too, but qemu-user running AArch64 code on x86 lets a store-
	 * release pass a later load-acquire (seen: every thread asleep,
	 * pending 0, caller_sleeping 1); a read-modify-write is a full
	 * barrier there and everywhere. */
	atomic_exchange(&tp->caller_sleeping, 1);
	while (atomic_load(&tp->pending) != 0)
		pthread_cond_wait(&tp->done, &tp->mu);
	atomic_store(&tp->caller_sleeping, 0);
	pthread_mutex_unlock(&tp->mu);
}
