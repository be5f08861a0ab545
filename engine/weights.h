/* weights.h - the weight store: where every tensor's bytes live.
 *
 * The forward pass never touches the GGUF file or assumes one mapping: it
 * asks this module for a matrix (a resident tensor) or for experts (slices
 * of ffn_{gate,up,down}_exps). Today everything is resident, read with
 * pread into one anonymous, 64-byte-aligned arena. The streaming issue
 * replaces the expert path with a cache of slots filled by O_DIRECT reads;
 * that is why experts are requested several at a time (the reads of a
 * whole layer can be issued together) and released after use. */
#ifndef HEFT_WEIGHTS_H
#define HEFT_WEIGHTS_H

#include <stddef.h>
#include <stdint.h>

#include "gguf.h"

/* A weight matrix: rows of cols elements of type; row r at data + r*row_bytes. */
struct wmat {
	const void *data;
	uint32_t type;
	int64_t cols, rows;
	size_t row_bytes;
	const char *name; /* the tensor's name, for messages */
};

enum expert_part { EXP_GATE, EXP_UP, EXP_DOWN, EXP_NPARTS };

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

/* Allocate and read everything declared. 0, or -1 with a message in err. */
int weights_load(struct weights *w, char *err, size_t errlen);

/* A resident tensor as a matrix (1-D tensors: one row). */
struct wmat weights_mat(const struct weights *w, int handle);

/* Bytes of one expert's slice of part p of layer's experts. */
size_t weights_expert_bytes(const struct weights *w, int layer, enum expert_part p);

/* That expert's slice of ffn_<part>_exps: tensor bytes / n_expert at
 * offset expert * slice. Valid until weights_experts_release. */
const void *weights_expert(struct weights *w, int layer, int expert, enum expert_part p);

/* Ask for n experts of a layer at once; out[i] describes experts[i].
 * 0 on success, -1 on an I/O failure (later: streamed experts). */
int weights_experts_get(struct weights *w, int layer, int n, const int *experts, struct expert_view *out);
/* Done with the experts returned by the last weights_experts_get of this layer. */
void weights_experts_release(struct weights *w, int layer, int n, const int *experts);

/* Dequantize row `row` of a resident matrix into dst (m->cols floats);
 * used for token embeddings, which may later be read row by row. */
void weights_row_f32(const struct wmat *m, int64_t row, float *dst);

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
	int n_layers;              /* entries of layer (all layers; dense ones stay 0) */
	const struct expert_layer_stats *layer; /* owned by w; valid until weights_free */
};
void weights_get_stats(struct weights *w, struct weights_stats *st);

/* Per-expert state of one layer for a heat map: out[e] (n_expert bytes) =
 * EXPSTATE_* bits. Returns n_expert (0 for a dense layer). */
enum { EXPSTATE_RESIDENT = 1, EXPSTATE_LOADING = 2, EXPSTATE_HOT = 4, EXPSTATE_NEW = 8 };
int weights_expert_map(struct weights *w, int layer, unsigned char *out, int cap);

#endif
