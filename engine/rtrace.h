/* rtrace.h - routing traces: which experts every evaluated token chose, per
 * MoE layer, written by the forward pass (--trace-routing FILE) and read
 * back by the cache simulator (heft-engine cachesim).
 *
 * Writing costs the forward pass a few hundred bytes of formatting per
 * token and layer into a 1 MiB buffer (larger while one call needs more:
 * the current call stays in memory); the file sees one write(2) per
 * megabyte, never one per token.
 *
 * The format (text, one record a line, fields separated by one space):
 *
 *   heft-routing-trace 1
 *   model PATH                 the file evaluated (the rest of the line)
 *   part I SIZE META HASH DATA its identity (model-id.h) per part: size,
 *                              bytes before the tensor data, their hash and
 *                              the data sample's hash (hex)
 *   shape LAYERS EXPERTS USED  layers, experts per MoE layer, experts per token
 *   moe L L ...                the layers with routed experts
 *   plan IO SLOT FIXED SLOTS POLICY
 *                              the run's memory plan: IO ram|stream|mmap, the
 *                              bytes of a cache slot, the bytes held besides
 *                              the cache, the slots, the cache policy
 *   c p|d N                    a forward call of N tokens: p a prompt chunk,
 *                              d a decoded token
 *   r L E E ...                layer L's choices in that call, N * USED
 *                              expert ids, token by token, each token's in
 *                              the router's order
 *   n L E E ...                the prefetcher's guess for layer L (made on
 *                              the layer before; only when it runs)
 *
 * serve starts the file over at each load. Lines starting with '#' are
 * comments. A cancelled call leaves no record; one cut short by an error
 * may lack its last layers. Hand-made traces need only the first line, shape,
 * moe and the calls. */
#ifndef HEFT_RTRACE_H
#define HEFT_RTRACE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model-id.h"

struct gguf;
struct weights_plan;
struct rtrace;

/* What the header says about the model (the loader fills it in, so that
 * this file needs nothing of model.h). */
struct rtrace_model {
	const char *path;
	const struct gguf *g;               /* for the identity */
	int n_layer, n_expert, n_expert_used;
	const bool *moe;                    /* [n_layer]: the layer has routed experts */
	const struct weights_plan *plan;
	const char *policy;                 /* the cache policy's name */
};

/* Start a trace of a model's routing at path (created or truncated, 0600),
 * with the header. NULL with err set. */
struct rtrace *rtrace_open(const char *path, const struct rtrace_model *rm, char *err, size_t errlen);
/* Flush and close; 0, or -1 with err set (a write failed, now or before). */
int rtrace_close(struct rtrace *t, char *err, size_t errlen);

/* A forward call of n tokens begins (prompt: a prompt chunk). */
void rtrace_call(struct rtrace *t, int n, bool prompt);
/* Take back the current call's records: it was cancelled, its positions
 * are not kept (evaluated again, it is traced again). */
void rtrace_drop(struct rtrace *t);
/* Layer's choices: sel[n * k], token by token. */
void rtrace_route(struct rtrace *t, int layer, const int *sel, int n, int k);
/* The prefetcher's guess for layer. */
void rtrace_guess(struct rtrace *t, int layer, const int *experts, int n);

/* A trace read back. */
struct rtrace_call {
	bool prompt;
	int n;        /* tokens */
	int *sel;     /* [n_moe][n * n_used]; -1 where the layer was not recorded */
	int *n_guess; /* [n_moe]: the prefetcher's guesses for the layer */
	int *guess;   /* [n_moe][n_expert]; NULL when the call has none */
};

struct rtrace_data {
	char *model; /* "" when the trace names none */
	int n_parts;
	struct model_part_id *parts;
	int n_layer, n_expert, n_used;
	int n_moe;
	int *moe;       /* [n_moe]: the layer */
	int *moe_index; /* [n_layer]: index in moe[], or -1 */
	char io[16], policy[32]; /* "" when there is no plan line */
	uint64_t slot_bytes, fixed_bytes;
	int n_slots;
	struct rtrace_call *calls;
	int n_calls;
};

/* Read a trace; NULL with err set (naming the line) on a bad one. */
struct rtrace_data *rtrace_read(const char *path, char *err, size_t errlen);
void rtrace_data_free(struct rtrace_data *d);

#endif
