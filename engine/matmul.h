/* matmul.h - y = W x for a batch of activation rows, on the thread pool.
 *
 * Activations are quantized once per product into the format the weight
 * type's dot product consumes (quant_act_row). Weight rows are split across
 * threads; each thread multiplies every weight row it owns with all n
 * activation rows, so each weight byte is read from memory once per batch -
 * decode is bound by that read, prefill amortizes it over the batch. Decode
 * (n == 1) runs the type's single-row vec_dot; a batch runs its multi-row
 * kernel (qtype_gemm) on tiles of weight rows x activation rows.
 *
 * Several products that share no outputs (q, k and v; the gate and up of
 * every selected expert) run as one step with one barrier: mm_run takes a
 * list of tasks and spreads their rows over the threads together. */
#ifndef HEFT_MATMUL_H
#define HEFT_MATMUL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "threadpool.h"
#include "weights.h"

struct mm_task {
	const struct wmat *w;
	const void *xq;  /* n activation rows quantized for w (mm_quantize), row stride mm_act_bytes(w) */
	int64_t n;
	float *y;        /* y[j * ldy + r] = dot(w row r, activation j) */
	int64_t ldy;
	bool expert;     /* an expert's matrix: the type's vec_dot/gemm, never its _dense kernels */
};

/* Bytes of one quantized activation row for w. */
size_t mm_act_bytes(const struct wmat *w);
/* Quantize n rows of x (row stride ldx floats) for weight type wtype. */
void mm_quantize(uint32_t wtype, int64_t cols, const float *x, int64_t ldx, int64_t n, void *xq);

/* Run all tasks; returns when every output is written. */
void mm_run(struct threadpool *tp, const struct mm_task *tasks, int n_tasks);

/* Every row of one task on the calling thread, e.g. inside a pool step that
 * hands whole tasks to threads. Bitwise the same output as mm_run: rows are
 * tiled per task, whoever computes them. */
void mm_task_here(const struct mm_task *t);

/* Rows [r0, r1) of a one-activation-row task (n == 1) on the calling
 * thread: the same bits per row as mm_task_here. */
void mm_task_rows(const struct mm_task *t, int64_t r0, int64_t r1);

/* Convenience: y[n][w->rows] = W x[n][w->cols], xq scratch of n * mm_act_bytes(w). */
void matmul(struct threadpool *tp, const struct wmat *w, const float *x, int64_t n, float *y, void *xq);

#endif
