/* forward.h - the forward pass of llama (dense and Mixtral-style MoE),
 * qwen3, qwen3moe, glm4moe, gpt-oss and deepseek2 (MLA).
 *
 * One code path evaluates a batch of n tokens at positions p..p+n-1, where
 * p is the number of positions already in the KV cache: a prompt is one
 * batch (or a few chunks), a generated token is a batch of one. All scratch
 * memory is allocated by forward_new for max_batch tokens; evaluation
 * allocates nothing. */
#ifndef HEFT_FORWARD_H
#define HEFT_FORWARD_H

#include <stdbool.h>
#include <stdint.h>

#include "forward-mem.h" /* forward_mem_bytes */
#include "kv.h"
#include "model.h"
#include "threadpool.h"

struct forward;

/* n_ctx: KV cache positions (0 = the model's context_length, or 4096).
 * max_batch: most tokens per forward_eval call. */
struct forward *forward_new(const struct model *m, struct threadpool *tp, int n_ctx, int max_batch);
void forward_free(struct forward *f);

/* Seconds spent in forward_eval (waiting for expert reads included; the
 * weight store's stats say how much of it was waiting). */
double forward_seconds(const struct forward *f);

/* While on, every forward_eval is a prompt chunk for the stats below
 * (otherwise only those of more than one token are). */
void forward_prompt_mode(struct forward *f, bool on);
/* What prompt chunks cost since forward_new. */
struct forward_prefill_stats {
	int tokens;                    /* evaluated in chunks */
	double seconds;
	uint64_t bytes_read;           /* expert bytes read during those chunks */
	uint64_t experts_needed_bytes; /* bytes of the distinct experts they routed to */
};
void forward_prefill_stats(const struct forward *f, struct forward_prefill_stats *st);

/* Evaluate n tokens (1 <= n <= max_batch, ids < n_vocab) after the cached
 * positions. Returns the logits (n_vocab floats per row): every token's row
 * if all_logits, else only the last token's. NULL if the tokens do not fit
 * (message via forward_error). The pointer is valid until the next call. */
const float *forward_eval(struct forward *f, const int32_t *tokens, int n, bool all_logits);

const char *forward_error(const struct forward *f);

/* Asked before each layer after the first: true abandons the batch, so a
 * cancel need not wait for a whole prompt batch. forward_eval then returns
 * NULL with the KV cache as before the call and forward_stopped true. It
 * runs on the model's thread once per layer: keep it to an atomic load. */
typedef bool (*forward_stop_fn)(void *ud);
void forward_set_stop(struct forward *f, forward_stop_fn fn, void *ud);
/* The last forward_eval was abandoned by the stop callback. */
bool forward_stopped(const struct forward *f);

int forward_n_ctx(const struct forward *f);
int forward_max_batch(const struct forward *f);
/* Positions in the KV cache; truncate to keep only the first n_pos. */
int forward_n_pos(const struct forward *f);
void forward_truncate(struct forward *f, int n_pos);
/* The KV cache, for saving and restoring a conversation's state (kvstate.h). */
struct kv_cache *forward_kv(const struct forward *f);

#endif
