/* test-stream.c - the streaming weight store under stress and faults.
 *
 * On the MoE model of tests/data (a copy in a temporary file, so it can be
 * truncated):
 *   - the smallest cache (--mem min) gives logits bitwise equal to RAM,
 *     token after token, and allocates nothing per token after warm-up
 *     (malloc and friends are wrapped at link time and counted), and
 *     prompt chunks after the first allocate nothing either;
 *   - an injected EIO (HEFT_FAULT_READ=N) and an injected short read
 *     (HEFT_FAULT_SHORT=N) end the evaluation with an error that names the
 *     tensor, layer and expert; the KV cache is left as it was, and the
 *     next evaluation gives the right logits;
 *   - the model file truncated under a running model: an error, never
 *     numbers; once the file is whole again, evaluation goes on and
 *     matches RAM;
 *   - every cache policy, and prefetch on and off, give the same bits;
 *   - so do the portable fallbacks (docs/porting.md): the thread-pool reader
 *     instead of io_uring, buffered reads that drop the page cache behind
 *     them instead of O_DIRECT, plain pages instead of huge ones. */
#include "forward.h"
#include "iosched.h"
#include "model.h"
#include "quant.h"
#include "test.h"
#include "threadpool.h"
#include "util.h"
#include "weights-int.h"
#include "weights.h"

#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- counting allocations (linked with -Wl,--wrap=...) ---------------------- */

static atomic_long n_allocs;
void *__real_malloc(size_t n);
void *__real_calloc(size_t a, size_t b);
void *__real_realloc(void *p, size_t n);
int __real_posix_memalign(void **p, size_t a, size_t n);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t a, size_t b);
void *__wrap_realloc(void *p, size_t n);
int __wrap_posix_memalign(void **p, size_t a, size_t n);

void *__wrap_malloc(size_t n)
{
	atomic_fetch_add(&n_allocs, 1);
	return __real_malloc(n);
}

void *__wrap_calloc(size_t a, size_t b)
{
	atomic_fetch_add(&n_allocs, 1);
	return __real_calloc(a, b);
}

void *__wrap_realloc(void *p, size_t n)
{
	atomic_fetch_add(&n_allocs, 1);
	return __real_realloc(p, n);
}

int __wrap_posix_memalign(void **p, size_t a, size_t n)
{
	atomic_fetch_add(&n_allocs, 1);
	return __real_posix_memalign(p, a, n);
}

/* ---- helpers ------------------------------------------------------------------ */

enum { N_PROMPT = 8, N_DECODE = 10 };
static const int32_t prompt[N_PROMPT] = {1, 2, 3, 4, 5, 6, 7, 8};

struct run {
	struct model *m;
	struct threadpool *tp;
	struct forward *f;
};

static bool open_run(struct run *r, const char *path, const struct model_opts *o)
{
	char err[1024];
	memset(r, 0, sizeof *r);
	if (!(r->m = model_load_opts(path, o, err, sizeof err))) {
		fprintf(stderr, "load %s: %s\n", path, err);
		return false;
	}
	r->tp = threadpool_new(2);
	r->f = forward_new(r->m, r->tp, 64, N_PROMPT);
	return true;
}

static void close_run(struct run *r)
{
	forward_free(r->f);
	threadpool_free(r->tp);
	model_free(r->m);
}

static int argmax(const float *x, int n)
{
	int b = 0;
	for (int i = 1; i < n; i++)
		if (x[i] > x[b])
			b = i;
	return b;
}

/* Prompt, then greedy decode; logits of every step into out[N_DECODE + 1][V]. */
static bool greedy_logits(struct run *r, float *out)
{
	int V = r->m->hp.n_vocab;
	const float *l = forward_eval(r->f, prompt, N_PROMPT, false);
	for (int i = 0; l && i <= N_DECODE; i++) {
		memcpy(out + (size_t)i * V, l, (size_t)V * sizeof *out);
		int32_t t = argmax(l, V);
		if (i < N_DECODE)
			l = forward_eval(r->f, &t, 1, false);
	}
	if (!l)
		fprintf(stderr, "eval: %s\n", forward_error(r->f));
	return l != NULL;
}

static bool copy_file(const char *from, const char *to)
{
	size_t n;
	char *buf = read_file(from, &n, (size_t)1 << 30);
	if (!buf)
		return false;
	FILE *fp = fopen(to, "wb");
	bool ok = fp && fwrite(buf, 1, n, fp) == n;
	ok = fp && fclose(fp) == 0 && ok;
	free(buf);
	return ok;
}

static bool mentions_expert(const char *msg)
{
	return strstr(msg, "expert") && strstr(msg, "layer") && strstr(msg, "_exps");
}

static const struct model_opts stream_min = {.mem = MODEL_MEM_MIN, .io = WIO_STREAM, .quiet = true};

/* ---- the tests --------------------------------------------------------------- */

static void test_bitwise_and_no_alloc(const char *path, const float *ref, int V)
{
	for (int pol = CACHE_LAYER_LRU; pol < CACHE_NPOLICIES; pol++)
		for (int pf = 0; pf < 2; pf++) {
			struct model_opts o = stream_min;
			o.policy = (enum cache_policy)pol;
			o.no_prefetch = pf;
			if (pol == CACHE_LRU && !pf)
				o.mem = 0; /* the default budget: everything cached after first use */
			struct run r;
			if (!open_run(&r, path, &o)) {
				CHECK(0);
				continue;
			}
			int32_t t;
			const float *l = forward_eval(r.f, prompt, N_PROMPT, false);
			CHECK(l && !memcmp(l, ref, (size_t)V * sizeof *l));
			/* warm-up: two steps; then nothing may be allocated */
			for (int i = 0; l && i < 2; i++) {
				t = argmax(l, V);
				l = forward_eval(r.f, &t, 1, false);
				CHECK(l && !memcmp(l, ref + (size_t)(i + 1) * V, (size_t)V * sizeof *l));
			}
			long before = atomic_load(&n_allocs);
			for (int i = 2; l && i < N_DECODE; i++) {
				t = argmax(l, V);
				l = forward_eval(r.f, &t, 1, false);
				CHECKF(l && !memcmp(l, ref + (size_t)(i + 1) * V, (size_t)V * sizeof *l),
				       "policy %d prefetch %d: step %d differs from RAM", pol, !pf, i);
			}
			long allocs = atomic_load(&n_allocs) - before;
			CHECKF(allocs == 0, "policy %d prefetch %d: %ld allocations in %d decode steps", pol, !pf, allocs,
			       N_DECODE - 2);
			struct weights_stats st;
			weights_get_stats(r.m->w, &st);
			CHECK(!strcmp(st.mode, "stream"));
			if (o.mem == MODEL_MEM_MIN)
				CHECKF(st.misses > st.hits, "min cache: %llu hits, %llu misses",
				       (unsigned long long)st.hits, (unsigned long long)st.misses);
			CHECK(st.bytes_read > 0);
			close_run(&r);
		}
}

/* Prefill in chunks: after a warm-up chunk, the next chunks (full and
 * partial) allocate nothing, in RAM and streaming from the smallest cache,
 * and the two give the same bits. */
static void test_chunks_no_alloc(const char *path)
{
	static const int32_t chunk[N_PROMPT] = {9, 10, 11, 12, 13, 14, 15, 16};
	struct model_opts ram = {.io = WIO_RAM, .quiet = true};
	const struct model_opts *modes[2] = {&ram, &stream_min};
	float *first = NULL;
	for (int k = 0; k < 2; k++) {
		struct run r;
		if (!open_run(&r, path, modes[k])) {
			CHECK(0);
			continue;
		}
		int V = r.m->hp.n_vocab;
		const float *l = forward_eval(r.f, prompt, N_PROMPT, false);
		CHECK(l != NULL);
		long before = atomic_load(&n_allocs);
		for (int c = 0; l && c < 3; c++)
			l = forward_eval(r.f, chunk, c == 2 ? 5 : N_PROMPT, false);
		long allocs = atomic_load(&n_allocs) - before;
		CHECKF(l && allocs == 0, "%s: %ld allocations in 3 prompt chunks after warm-up",
		       k ? "stream" : "ram", allocs);
		if (l && !k)
			first = memcpy(xmalloc((size_t)V * sizeof *first), l, (size_t)V * sizeof *first);
		else if (l && first)
			CHECKF(!memcmp(l, first, (size_t)V * sizeof *l), "chunked prefill: stream differs from RAM");
		close_run(&r);
	}
	free(first);
}

/* An injected fault on the Nth read: the evaluation that meets it fails
 * with a message naming the expert; redoing it gives RAM's logits. */
static void test_injected(const char *path, const float *ref, int V, const char *var)
{
	setenv(var, "7", 1);
	struct run r;
	bool ok = open_run(&r, path, &stream_min);
	unsetenv(var);
	if (!ok) {
		CHECK(0);
		return;
	}
	const float *l = NULL;
	int failures = 0, pos = 0;
	/* Retry until it goes through: the fault hits once. */
	for (int tries = 0; tries < 3 && !l; tries++) {
		l = forward_eval(r.f, prompt, N_PROMPT, false);
		if (!l) {
			failures++;
			CHECKF(mentions_expert(forward_error(r.f)), "%s: message '%s'", var, forward_error(r.f));
			CHECK(forward_n_pos(r.f) == pos); /* nothing half-written into the KV cache */
		}
	}
	CHECKF(failures == 1, "%s: %d failures", var, failures);
	CHECK(l && !memcmp(l, ref, (size_t)V * sizeof *l));
	if (failures)
		fprintf(stderr, "  %s: \"%s\"\n", var, forward_error(r.f));
	close_run(&r);
}

static void test_truncated(const char *path, const float *ref, int V)
{
	size_t n;
	char *orig = read_file(path, &n, (size_t)1 << 30);
	struct run r;
	if (!orig || !open_run(&r, path, &stream_min)) {
		CHECK(0);
		free(orig);
		return;
	}
	const float *l = forward_eval(r.f, prompt, N_PROMPT, false);
	CHECK(l && !memcmp(l, ref, (size_t)V * sizeof *l));
	int32_t t = argmax(ref, V);
	/* Cut the file where the first expert tensor starts: every read of an
	 * expert not in the cache now comes back short. */
	uint64_t cut = UINT64_MAX;
	for (size_t i = 0; i < r.m->g->n_tensors; i++)
		if (strstr(r.m->g->tensors[i].name, "_exps") && r.m->g->tensors[i].offset < cut)
			cut = r.m->g->tensors[i].offset;
	CHECK(cut != UINT64_MAX && truncate(path, (off_t)cut) == 0);
	int errors = 0;
	for (int i = 0; i < 4; i++) {
		l = forward_eval(r.f, &t, 1, false);
		if (!l) {
			errors++;
			CHECKF(mentions_expert(forward_error(r.f)), "truncated: '%s'", forward_error(r.f));
			CHECK(forward_n_pos(r.f) == N_PROMPT);
		}
	}
	CHECKF(errors > 0, "a truncated file gave logits %d times", 4 - errors);
	if (errors)
		fprintf(stderr, "  truncated: \"%s\"\n", forward_error(r.f));
	/* The file is whole again: the same model goes on, right. */
	FILE *fp = fopen(path, "wb");
	CHECK(fp && fwrite(orig, 1, n, fp) == n && fclose(fp) == 0);
	l = forward_eval(r.f, &t, 1, false);
	CHECKF(l && !memcmp(l, ref + V, (size_t)V * sizeof *l), "after repair: %s", l ? "differs" : forward_error(r.f));
	close_run(&r);
	free(orig);
}

/* The portable fallbacks, forced through their environment hooks: the same
 * bits as RAM, and the scheduler really took the fallback paths. */
static void test_fallbacks(const char *path, const float *ref, int V)
{
	setenv("HEFT_IO", "threads", 1);
	setenv("HEFT_IO_DIRECT", "0", 1);
	setenv("HEFT_HUGEPAGES", "0", 1);
	struct run r;
	float *got = xmalloc((size_t)(N_DECODE + 1) * V * sizeof *got);
	if (open_run(&r, path, &stream_min)) {
		struct iosched_file_info fi;
		const char *be = iosched_backend_name(r.m->w->io);
		CHECKF(!strcmp(be, "threads"), "HEFT_IO=threads: backend %s", be);
		CHECK(iosched_file_info(r.m->w->io, r.m->w->file_id[0], &fi) == 0 && !fi.direct);
		CHECKF(greedy_logits(&r, got) && !memcmp(got, ref, (size_t)(N_DECODE + 1) * V * sizeof *got),
		       "fallbacks: logits differ from RAM");
		struct weights_stats st;
		weights_get_stats(r.m->w, &st);
		CHECK(st.misses > 0 && st.bytes_read > 0);
		close_run(&r);
	} else {
		CHECK(0);
	}
	free(got);
	unsetenv("HEFT_IO");
	unsetenv("HEFT_IO_DIRECT");
	unsetenv("HEFT_HUGEPAGES");
}

int main(void)
{
	const char *dir = getenv("HEFT_TESTDATA");
	char src[4096], path[4096];
	snprintf(src, sizeof src, "%s/qwen3moe-Q4_K_M.gguf", dir ? dir : "tests/data");
	if (access(src, R_OK) != 0) {
		printf("test-stream: %s not found (set HEFT_TESTDATA); skipping\n", src);
		return 77;
	}
	quant_init();
	const char *tmpdir = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	snprintf(path, sizeof path, "%s/heft-test-stream-%ld.gguf", tmpdir, (long)getpid());
	if (!copy_file(src, path)) {
		fprintf(stderr, "test-stream: cannot copy %s to %s\n", src, path);
		return 1;
	}

	struct model_opts ram = {.io = WIO_RAM, .quiet = true};
	struct run r;
	if (!open_run(&r, path, &ram)) {
		unlink(path);
		return 1;
	}
	int V = r.m->hp.n_vocab;
	float *ref = xmalloc((size_t)(N_DECODE + 1) * V * sizeof *ref);
	CHECK(greedy_logits(&r, ref));
	close_run(&r);

	test_bitwise_and_no_alloc(path, ref, V);
	test_chunks_no_alloc(path);
	test_injected(path, ref, V, "HEFT_FAULT_READ");
	test_injected(path, ref, V, "HEFT_FAULT_SHORT");
	test_truncated(path, ref, V);
	test_fallbacks(path, ref, V);

	/* mmap: the same bits */
	struct model_opts mm = {.io = WIO_MMAP, .quiet = true};
	float *got = xmalloc((size_t)(N_DECODE + 1) * V * sizeof *got);
	if (open_run(&r, path, &mm)) {
		CHECK(greedy_logits(&r, got) && !memcmp(got, ref, (size_t)(N_DECODE + 1) * V * sizeof *got));
		close_run(&r);
	}
	free(got);
	free(ref);
	unlink(path);
	return test_done("test-stream");
}
