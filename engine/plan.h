/* plan.h - the memory plan: from tensor sizes and a budget to what is held
 * where.
 *
 * A pure function: it reads no file and allocates nothing the caller keeps,
 * so every budget, refusal and layer-streaming choice can be tested with
 * made-up sizes (tests/test-plan.c). weights.c feeds it the model's tensors
 * and applies the result.
 *
 * The plan decides, before anything is read: RAM, stream or mmap; resident
 * bytes per class; in stream mode the expert-cache slots the budget pays
 * for and which layers' big dense matrices are read per token when even
 * the dense part does not fit (the last layers first). A budget that cannot
 * work is refused with the smallest one that would, rounded up so that the
 * figure, passed back as --mem, is accepted. */
#ifndef HEFT_PLAN_H
#define HEFT_PLAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* How the weights are held (see weights.h and docs/ARCHITECTURE.md). */
enum weights_io {
	WIO_AUTO,   /* RAM when the whole model fits the budget, else stream */
	WIO_RAM,    /* everything read into anonymous memory at load */
	WIO_STREAM, /* dense part resident, routed experts through the cache */
	WIO_MMAP,   /* map the file, let the page cache decide (llama.cpp's way; the baseline) */
	WIO_COUNT
};
/* Their names, as --io takes them and the stats report them. */
extern const char *const weights_io_names[WIO_COUNT];

/* --mem min: the smallest budget the plan can stream with. */
#define PLAN_MEM_MIN UINT64_MAX

/* Tensor classes of the plan. */
enum wclass { WC_EMBD, WC_OUTPUT, WC_ATTN, WC_NORM, WC_ROUTER, WC_SHEXP, WC_FFN, WC_OTHER, WC_COUNT };
extern const char *const wclass_names[WC_COUNT];

/* The three matrices of an expert. */
enum expert_part { EXP_GATE, EXP_UP, EXP_DOWN, EXP_NPARTS };

struct weights_plan {
	int io;                      /* enum weights_io chosen (never WIO_AUTO) */
	uint64_t budget;
	uint64_t class_bytes[WC_COUNT]; /* resident bytes per class (embd 0 when read by row) */
	uint64_t embd_file_bytes;    /* the token embedding in the file */
	uint64_t dense_bytes;        /* sum of class_bytes */
	uint64_t extra_bytes;        /* KV cache + scratch + runtime, from the caller */
	uint64_t expert_bytes;       /* all routed experts in the file */
	int n_experts;               /* routed experts over all layers */
	int n_moe_layers;
	uint64_t slot_bytes;         /* one expert's three slices, 4 KiB-aligned with slack */
	int n_slots;                 /* stream: slots the budget pays for (<= n_experts) */
	int min_slots;               /* the fewest slots streaming works with */
	uint64_t min_budget;         /* the smallest --mem that streams */
	uint64_t cold_read_per_token; /* bytes a decoded token reads when no expert hits */
	uint64_t total_bytes;        /* what the process will hold: dense + extra + cache */
	char why[256];               /* why this mode, or why it is refused */
	int n_stream_layers;         /* layers whose big dense matrices are read per token */
	uint64_t layer_stream_bytes; /* those bytes, read by every token */
	uint64_t layer_buf_bytes;    /* the two buffers they are read into */
	int batch;                   /* prompt tokens per forward call the plan allows */
	int n_ctx;                   /* KV positions the plan reserved */
};

/* What the user asked for. */
struct plan_opts {
	uint64_t mem;            /* budget in bytes; 0: default_budget; PLAN_MEM_MIN: the smallest */
	uint64_t default_budget; /* the machine's (sysinfo_default_budget); 0: unlimited */
	enum weights_io io;
	int stream_layers;       /* stream at least the last N layers' dense weights */
};

/* A resident (non-expert) tensor. */
struct plan_tensor {
	uint64_t nbytes;
	enum wclass cls;
	int layer;       /* blk.N, or -1 */
	bool rowwise;    /* the token embedding, read by row when streaming */
	bool streamed;   /* out: the plan streams it (its layer's are read per token) */
};

/* One layer's routed experts (n_expert 0: none). */
struct plan_experts {
	uint64_t nbytes[EXP_NPARTS]; /* each 3-D tensor, all experts */
	size_t slice[EXP_NPARTS];    /* one expert's share of it */
	int n_expert;
};

/* The model as the plan sees it, and the per-layer answer. */
struct plan_model {
	struct plan_tensor *t;
	int n_t;
	const struct plan_experts *x; /* per layer */
	int n_layers;
	int n_used;                   /* experts a token uses per MoE layer */
	uint64_t extra;               /* KV cache, scratch and runtime bytes */
	bool *lay_stream;             /* out, n_layers entries: the layer's dense bytes are streamed */
};

/* Make the plan p for model m under o. 0, or -1 when the budget cannot
 * work: p->why and err say why, naming the smallest budget that would. */
int plan_make(struct plan_model *m, const struct plan_opts *o, struct weights_plan *p, char *err, size_t errlen);

#endif
