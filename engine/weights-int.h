/* weights-int.h - the weight store's insides, shared by its files only.
 *
 *   weights.c       the tensor registry, the plan applied, loading,
 *                   resident matrices, stats;
 *   expert-cache.c  the slots routed experts are read into (which slot
 *                   gives way: cache-policy.c);
 *   layer-stream.c  the two buffers streamed layers' dense bytes pass
 *                   through;
 *   hotlist.c       the warm cache: the experts used, kept across runs.
 *
 * Everything else includes weights.h. */
#ifndef HEFT_WEIGHTS_INT_H
#define HEFT_WEIGHTS_INT_H

#include "cache-policy.h"
#include "iosched.h"
#include "weights.h"

/* A resident tensor (its plan-side facts in w->pt, same index). */
struct wentry {
	const struct gguf_tensor *t;
	uint64_t off;     /* in the arena; UINT64_MAX when not resident */
	struct wmat *dst; /* the model's view of it (weights_bind) */
};

/* One layer's routed experts. */
struct wexperts {
	const struct gguf_tensor *t[EXP_NPARTS];
	uint64_t off[EXP_NPARTS]; /* in the arena (ram mode) */
	size_t slice[EXP_NPARTS];
	int n_expert;
	int first; /* index of expert 0 in the flat per-expert tables */
};

enum slot_state { SLOT_FREE, SLOT_LOADING, SLOT_READY };

/* One expert's three slices, each the 4 KiB-aligned superset of its range.
 * Its layer (-1: free), last use and count are the policy's (w->pol). */
struct slot {
	int expert;
	enum slot_state state;
	int pins;
	bool prefetched; /* read ahead and not used yet */
	bool fresh;      /* arrived since the last heat-map look */
	bool warm;       /* read at load from the hot list of an earlier run */
	unsigned char *buf;
	struct io_req req[EXP_NPARTS];
};

/* A buffer a streamed layer's dense matrices are read into. */
enum lbuf_state { LB_FREE, LB_LOADING, LB_READY };
struct lbuf {
	int layer;
	enum lbuf_state state;
	unsigned char *buf;
	struct io_req *req; /* one per streamed tensor of the layer */
	int n_req;
};

struct weights {
	const struct gguf *g;
	struct wentry *ent;
	struct plan_tensor *pt; /* per entry: class, layer, read by row, streamed */
	int n_ent, cap_ent;
	struct wexperts *exps; /* per layer; n_expert 0 = none */
	int n_layers;
	unsigned char *arena;
	uint64_t arena_bytes;
	struct weights_plan plan;
	bool planned;
	bool prefetch, warm;
	enum cache_policy policy;

	/* mmap mode */
	void **maps;
	size_t *map_len;

	/* stream mode */
	struct iosched *io;
	int *file_id; /* per GGUF part */
	unsigned char *cache;
	uint64_t cache_bytes;
	struct slot *slots;
	int n_slots;
	struct cpol pol;
	int *where; /* flat [layer's first + expert] -> slot, -1 */
	struct expert_layer_stats *ls; /* per layer */
	double io_wait_s;
	char err[512];

	/* layer streaming */
	bool *lay_stream; /* per layer: streamed */
	int lay_max_tensors;
	struct lbuf lb[2];
	unsigned char *lb_arena;
	uint64_t lb_arena_bytes;
	uint64_t layer_bytes_read;

	/* the warm cache */
	uint32_t *uses;        /* flat like where[]: this run's lookups */
	uint32_t *uses_prev;   /* from the hot list read at load (halved: aging) */
	char *hot_path;        /* where the hot list lives; NULL: not kept */
	uint64_t warm_total;   /* bytes asked for at load */
	uint64_t warm_evicted; /* of those, arrived and since replaced */
};

/* weights.c */
void *weights_anon(uint64_t n, const char *what, char *err, size_t errlen);
struct wmat weights_mat_of(const struct gguf_tensor *t, const void *data, int64_t rows);
const unsigned char *weights_file_bytes(const struct weights *w, const struct gguf_tensor *t);

/* expert-cache.c: set up the slots the plan pays for; stop their reads
 * (before the scheduler goes); free them. */
int xcache_start(struct weights *w, char *err, size_t errlen);
void xcache_stop(struct weights *w);
void xcache_free(struct weights *w);
/* Read expert of layer into slot s (which must be free), at prio. */
void xcache_read(struct weights *w, struct slot *s, int layer, int expert, enum io_prio prio, uint32_t freq);
/* The layer whose expert slot i holds; -1: free. */
int xcache_slot_layer(const struct weights *w, int i);

/* layer-stream.c: the same for the two layer buffers. */
int lstream_start(struct weights *w, char *err, size_t errlen);
void lstream_stop(struct weights *w);
void lstream_free(struct weights *w);

/* hotlist.c: read the hot list and start warming the cache (with warm);
 * write it back; free it. */
void hot_init(struct weights *w, bool warm);
void hot_save(struct weights *w);
void hot_free(struct weights *w);

#endif
