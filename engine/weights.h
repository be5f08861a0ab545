/* weights.h - the weight store: where every tensor's bytes live.
 *
 * The forward pass never touches the GGUF file or assumes one mapping: it
 * asks this module for a matrix (a resident tensor) or for experts (slices
 * of ffn_{gate,up,down}_exps). Three ways to hold them (enum weights_io):
 *
 *   ram     everything read at load into one anonymous, 64-byte-aligned
 *           arena (never a file mapping: expert traffic must not evict the
 *           dense weights, docs/ARCHITECTURE.md "Facts the streaming code
 *           is built on");
 *   stream  the dense part in that arena, routed experts in a cache of
 *           fixed-size slots filled by O_DIRECT reads through iosched.c;
 *           token embeddings read row by row when the output head is a
 *           separate tensor;
 *   mmap    the files mapped, the page cache deciding (llama.cpp's way),
 *           kept as the baseline every streaming number is compared with.
 *
 * The plan (weights_plan, made by plan.c) is made from the budget before
 * anything is read: resident bytes per class, KV cache and scratch (given
 * by the caller), the number of cache slots, the bytes a token reads when
 * nothing hits.
 *
 * Experts are used in waves: weights_experts_acquire pins as many of a
 * layer's wanted experts as the cache can hold at once (reads start for the
 * missing ones), the forward pass computes each as its bytes arrive
 * (weights_expert_view) and unpins it; a layer that needs more experts than
 * there are slots (a long prompt on a small budget) takes several waves.
 * One thread drives the store; I/O completes on iosched's threads. The
 * store's files are listed in weights-int.h. */
#ifndef HEFT_WEIGHTS_H
#define HEFT_WEIGHTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cache-policy.h"
#include "gguf.h"
#include "plan.h"

/* A weight matrix: rows of cols elements of type; row r at data + r*row_bytes. */
struct wmat {
	const void *data;
	uint32_t type;
	int64_t cols, rows;
	size_t row_bytes;
	const char *name; /* the tensor's name, for messages */
};

/* One expert of one layer: its three matrices. */
struct expert_view {
	struct wmat m[EXP_NPARTS];
};

struct weights;

struct weights *weights_new(const struct gguf *g);
void weights_free(struct weights *w);

/* Declare a resident tensor, before weights_load. Returns a handle. */
int weights_add(struct weights *w, const struct gguf_tensor *t);
/* Declare layer's expert tensors (3-D: cols x rows x n_expert), before
 * weights_load. */
void weights_add_experts(struct weights *w, int layer, const struct gguf_tensor *gate,
			 const struct gguf_tensor *up, const struct gguf_tensor *down);

/* Allocate and read what the plan made resident (weights_plan first). 0,
 * or -1 with a message in err. */
int weights_load(struct weights *w, char *err, size_t errlen);

/* A resident tensor as a matrix (1-D tensors: one row). */
struct wmat weights_mat(const struct weights *w, int handle);
/* *dst = weights_mat(w, handle), and remember dst: a tensor of a streamed
 * layer has data only between weights_layer_begin and _end. */
void weights_bind(struct weights *w, int handle, struct wmat *dst);

/* Before computing layer: make its dense matrices readable (a no-op unless
 * the plan streams that layer: then wait for its bytes and point the bound
 * matrices at them) and start reading the next streamed layer. 0, or -1 on
 * a read error (weights_error). */
int weights_layer_begin(struct weights *w, int layer);
/* After it: its buffer may take another layer. */
void weights_layer_end(struct weights *w, int layer);

/* The tensor type of part p of layer's experts. */
uint32_t weights_expert_type(const struct weights *w, int layer, enum expert_part p);
/* Bytes of one expert's slice of part p of layer's experts. */
size_t weights_expert_bytes(const struct weights *w, int layer, enum expert_part p);

/* Declare the token embedding (a resident tensor otherwise): in stream
 * mode it is read row by row when it is not also the output head. */
void weights_set_rowwise(struct weights *w, int handle);

/* How to hold the weights: the plan's options and the expert cache's. */
struct weights_opts {
	uint64_t mem; /* budget in bytes; 0: sysinfo_default_budget(); PLAN_MEM_MIN */
	enum weights_io io;
	int stream_layers; /* stream at least the last N layers' dense weights */
	enum cache_policy policy;
	bool no_prefetch;
	bool no_warm; /* do not fill the cache from the last run's hot list */
};

/* Make the plan for o (NULL: defaults) given the experts a token uses per
 * layer and extra bytes of KV cache, scratch and runtime. 0, or -1 when the
 * budget cannot work (err says why, with the minimum). */
int weights_plan(struct weights *w, const struct weights_opts *o, int n_used, uint64_t extra, char *err,
		 size_t errlen);
const struct weights_plan *weights_get_plan(const struct weights *w);
/* Record the chunk size and context the plan was made for. */
void weights_set_batch(struct weights *w, int batch, int n_ctx);

/* Pin as many of the n experts in want[] as the cache can hold at once,
 * starting reads for those not resident. want[] is reordered: the k pinned
 * ones first (resident ones before those being read). Returns k >= 1, or -1
 * on an I/O failure (weights_error). Every pinned expert must be unpinned.
 * rows[e], when not NULL, is how many of the call's tokens expert e serves
 * (the cache policy may weigh a prompt chunk's uses by it). */
int weights_experts_acquire(struct weights *w, int layer, int *want, int n, const int *rows);
/* The bytes of a pinned expert: 1 with v filled, 0 when they have not
 * arrived and !block, -1 when its read failed (weights_error names tensor,
 * layer and expert; the expert is unpinned). */
int weights_expert_view(struct weights *w, int layer, int expert, bool block, struct expert_view *v);
void weights_expert_unpin(struct weights *w, int layer, int expert);
/* Unpin everything of a layer (after an error). */
void weights_experts_unpin_all(struct weights *w, int layer);
/* The experts layer will probably need next: read them while the disk is
 * idle (stream mode; a no-op otherwise or with --no-prefetch). Cancels
 * prefetches for other layers that have not started. */
void weights_prefetch(struct weights *w, int layer, const int *experts, int n);
bool weights_prefetch_enabled(const struct weights *w);
const char *weights_error(const struct weights *w);

/* Dequantize row `row` of matrix m into dst (m->cols floats); m may be the
 * row-wise token embedding (no data in memory), then the row is read from
 * the file. 0, or -1 on a read error (weights_error). */
int weights_row_f32(struct weights *w, const struct wmat *m, int64_t row, float *dst);

/* Bytes held resident. */
uint64_t weights_resident_bytes(const struct weights *w);

/* Expert-cache counters of one MoE layer since load. */
struct expert_layer_stats {
	uint64_t hits;            /* lookups found resident (or already loading) */
	uint64_t misses;          /* lookups that had to read */
	uint64_t prefetch_issued; /* prefetch reads started for this layer */
	uint64_t prefetch_hits;   /* prefetched experts used before eviction */
	uint64_t prefetch_wasted; /* prefetched experts evicted or cancelled unused */
	uint64_t bytes_read;      /* bytes read from disk for this layer */
	int resident;             /* slots holding this layer's experts now */
};

/* The weight store's view of itself, for --stats-json, the protocol's stats
 * event and the TUI's panes. */
struct weights_stats {
	const char *mode;          /* "ram", "stream" or "mmap" */
	const char *policy;        /* cache policy name ("" outside stream mode) */
	uint64_t mem_budget;       /* bytes the plan was made for */
	uint64_t resident_bytes;   /* dense weights held in RAM */
	uint64_t cache_bytes;      /* expert-cache arena */
	uint64_t slot_bytes;       /* one slot */
	int n_slots, slots_used;
	int n_experts_total;       /* routed experts over all layers */
	uint64_t hits, misses, prefetch_issued, prefetch_hits, prefetch_wasted;
	uint64_t bytes_read;       /* expert bytes read since load (stream mode) */
	double io_wait_s;          /* time the forward pass waited for reads */
	uint64_t warm_bytes;       /* of warm_total, arrived (the load bar) */
	uint64_t warm_total;       /* bytes of hot experts read at load (0: no hot list, --no-warm) */
	uint64_t layer_bytes_read; /* dense bytes of streamed layers read (in bytes_read too) */
	int n_stream_layers;
	int n_layers;              /* entries of layer (all layers; dense ones stay 0) */
	const struct expert_layer_stats *layer; /* owned by w; valid until weights_free */
};
void weights_get_stats(struct weights *w, struct weights_stats *st);

/* Per-expert state of one layer for a heat map: out[e] (n_expert bytes) =
 * EXPSTATE_* bits. Returns n_expert (0 for a dense layer). */
enum { EXPSTATE_RESIDENT = 1, EXPSTATE_LOADING = 2, EXPSTATE_HOT = 4, EXPSTATE_NEW = 8 };
int weights_expert_map(struct weights *w, int layer, unsigned char *out, int cap);

#endif
