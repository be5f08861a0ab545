/* matmul.c - batched quantized matrix products over the thread pool. */
#include "matmul.h"

#include "quant.h"

#include <stdatomic.h>
#include <string.h>

/* Weight rows per tile: a tile stays in L1/L2 while every activation row
 * streams past it. */
#define ROW_TILE 16
#define MAX_TASKS 256

size_t mm_act_bytes(const struct wmat *w)
{
	return quant_act_row_bytes(w->type, w->cols);
}

void mm_quantize(uint32_t wtype, int64_t cols, const float *x, int64_t ldx, int64_t n, void *xq)
{
	size_t rb = quant_act_row_bytes(wtype, cols);
	for (int64_t j = 0; j < n; j++)
		quant_act_row(wtype, x + j * ldx, (char *)xq + (size_t)j * rb, cols);
}

/* Rows [r0, r1) of one task. Decode (one activation row) streams the
 * weights through vec_dot_rows (vec_dot's bits, rows interleaved). A batch goes through
 * the type's multi-row kernel: a tile of ROW_TILE weight rows (L2) against
 * ACT_CHUNK activation rows at a time (L1), the kernel blocking both in
 * registers. The activation rows go in passes of about ACT_L2 bytes: a
 * prompt's rows (2.3 MiB at 4096 columns, 6 MiB at 11008) exceed L2, and
 * running all of them past every tile evicted each chunk before the next
 * tile came back to it, so the tile's first weight row waited on L3 for
 * every chunk. A pass stays in L2 across the range's tiles; the weights it
 * re-reads per pass are 1/(pass rows) of a byte per multiply-add. */
#define ACT_CHUNK 8
#define ACT_L2 (768 * 1024)

static void task_rows(const struct mm_task *t, int64_t r0, int64_t r1)
{
	const struct wmat *w = t->w;
	const struct qtype *q = &qtypes[w->type];
	size_t ab = mm_act_bytes(w);
	bool dense = !t->expert && q->vec_dot_dense;
	if (t->n == 1) {
		const char *wr = (const char *)w->data + (size_t)r0 * w->row_bytes;
		if (dense)
			for (int64_t r = r0; r < r1; r++, wr += w->row_bytes)
				q->vec_dot_dense(w->cols, &t->y[r], wr, t->xq);
		else
			qtype_vec_dot_rows(q, w->cols, &t->y[r0], wr, w->row_bytes, r1 - r0, t->xq);
		return;
	}
	gemm_fn gemm = dense ? q->gemm_dense : qtype_gemm;
	int64_t pass = (int64_t)(ACT_L2 / ab) / ACT_CHUNK * ACT_CHUNK;
	if (pass < ACT_CHUNK)
		pass = ACT_CHUNK;
	for (int64_t j0 = 0; j0 < t->n; j0 += pass) {
		int64_t j1 = t->n - j0 < pass ? t->n : j0 + pass;
		for (int64_t rt = r0; rt < r1; rt += ROW_TILE) {
			int nw = (int)(rt + ROW_TILE < r1 ? ROW_TILE : r1 - rt);
			for (int64_t j = j0; j < j1; j += ACT_CHUNK) {
				int na = (int)(j1 - j < ACT_CHUNK ? j1 - j : ACT_CHUNK);
				gemm(q, w->cols, t->y + j * t->ldy + rt, (size_t)t->ldy,
				     (const char *)w->data + (size_t)rt * w->row_bytes, w->row_bytes, nw,
				     (const char *)t->xq + (size_t)j * ab, ab, na);
			}
		}
	}
}

void mm_task_here(const struct mm_task *t)
{
	task_rows(t, 0, t->w->rows);
}

void mm_task_rows(const struct mm_task *t, int64_t r0, int64_t r1)
{
	task_rows(t, r0, r1);
}

struct mm_job {
	const struct mm_task *tasks;
	int n_tasks;
	bool decode;               /* every task one activation row: tiles claimed as threads get free */
	atomic_llong next;         /* decode: the first tile nobody has claimed */
	int64_t start[MAX_TASKS + 1]; /* prefix sums of work: tiles x activation rows */
};

/* Tiles of task i a thread boundary at work b falls after. */
static int64_t tiles_before(const struct mm_job *job, int i, int64_t b)
{
	int64_t n = job->tasks[i].n, s = job->start[i], e = job->start[i + 1];
	if (b <= s || n <= 0)
		return 0;
	return ((b < e ? b : e) - s + n - 1) / n;
}

/* Work [lo, hi) of the concatenated tiles of all tasks (work: a tile's
 * rows times its activation rows). A batch's thread takes one range, cut
 * where the work is even: a prompt's experts meet from one to hundreds of
 * rows each, and equal tile counts left one thread with the big ones. Tiles are
 * counted per task (rows [16t, 16t + 16) of that task), so which rows share
 * a kernel call never depends on the other tasks of the step: an expert's
 * output is bitwise the same whether it runs alone (streamed, as its bytes
 * arrive) or with every other expert of the layer (all in RAM). Tiles of
 * 16 floats also keep threads off each other's cache lines of y for n = 1. */
static void work_range(const struct mm_job *job, int64_t lo, int64_t hi)
{
	for (int i = 0; i < job->n_tasks && lo < hi; i++) {
		int64_t t0 = tiles_before(job, i, lo), t1 = tiles_before(job, i, hi);
		if (t0 >= t1)
			continue;
		int64_t rows = job->tasks[i].w->rows, r1 = t1 * ROW_TILE;
		task_rows(&job->tasks[i], t0 * ROW_TILE, r1 < rows ? r1 : rows);
	}
}

/* Decode's smallest claim, in tiles: 32 weight rows, tens of KB. */
#define CLAIM_MIN 2

/* The next range of tiles for a decode step: a share of what is left
 * (1 / 2nth of it, so the first claims are long streams), down to
 * CLAIM_MIN at the end. Decode is bound by memory, and two threads
 * reading it rarely finish an equal split together - on a shared machine
 * still less: whoever is ahead takes more. */
static bool claim(struct mm_job *job, int nth, int64_t *lo, int64_t *hi)
{
	int64_t total = job->start[job->n_tasks];
	long long at = atomic_load_explicit(&job->next, memory_order_relaxed);
	for (;;) {
		if (at >= total)
			return false;
		int64_t left = total - at, take = left / (2 * nth);
		take = take < CLAIM_MIN ? CLAIM_MIN : take;
		take = take > left ? left : take;
		if (atomic_compare_exchange_weak_explicit(&job->next, &at, at + take, memory_order_relaxed,
							  memory_order_relaxed)) {
			*lo = at;
			*hi = at + take;
			return true;
		}
	}
}

static void mm_worker(void *arg, int ith, int nth)
{
	struct mm_job *job = arg;
	int64_t work = job->start[job->n_tasks], lo, hi;
	if (job->decode) {
		while (claim(job, nth, &lo, &hi))
			work_range(job, lo, hi);
		return;
	}
	work_range(job, work * ith / nth, work * (ith + 1) / nth);
}

void mm_run(struct threadpool *tp, const struct mm_task *tasks, int n_tasks)
{
	while (n_tasks > 0) {
		struct mm_job job;
		job.tasks = tasks;
		job.n_tasks = n_tasks < MAX_TASKS ? n_tasks : MAX_TASKS;
		job.start[0] = 0;
		job.decode = true;
		atomic_init(&job.next, 0);
		for (int i = 0; i < job.n_tasks; i++) {
			job.start[i + 1] = job.start[i] + (tasks[i].w->rows + ROW_TILE - 1) / ROW_TILE * tasks[i].n;
			job.decode &= tasks[i].n == 1;
		}
		if (job.decode)
			threadpool_run_claims(tp, mm_worker, &job);
		else
			threadpool_run(tp, mm_worker, &job);
		tasks += job.n_tasks;
		n_tasks -= job.n_tasks;
	}
}

void matmul(struct threadpool *tp, const struct wmat *w, const float *x, int64_t n, float *y, void *xq)
{
	mm_quantize(w->type, w->cols, x, w->cols, n, xq);
	struct mm_task t = {.w = w, .xq = xq, .n = n, .y = y, .ldy = w->rows};
	mm_run(tp, &t, 1);
}
