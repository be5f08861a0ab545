/* forward-mem.h - what the forward pass will allocate, asked before it
 * exists.
 *
 * The loader (model.c) plans memory before any forward pass is made, and
 * the plan must count exactly what forward_new allocates, so the figure
 * comes from forward.c's own sizing. This header is that one question
 * alone: the loader includes it instead of forward.h, which includes the
 * model it is loading (no include cycle between the two). */
#ifndef HEFT_FORWARD_MEM_H
#define HEFT_FORWARD_MEM_H

#include <stdint.h>

struct model;

/* Bytes forward_new(m, tp, n_ctx, max_batch) allocates with n_threads
 * threads: KV cache and scratch, for the memory plan. */
uint64_t forward_mem_bytes(const struct model *m, int n_ctx, int max_batch, int n_threads);

#endif
