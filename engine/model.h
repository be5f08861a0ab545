/* model.h - a loaded model: architecture, hyperparameters, weights.
 *
 * model_load reads the <arch>.* keys with the defaults llama.cpp's
 * converters rely on (per architecture: its row in arch.h), finds every
 * tensor the architecture needs under the row's names, checks
 * shapes and types against the hyperparameters, and reads the resident
 * weights. A model whose metadata contradicts its tensors is refused with a
 * message naming the key or tensor. */
#ifndef HEFT_MODEL_H
#define HEFT_MODEL_H

#include <stdbool.h>
#include <stdint.h>

#include "arch.h"
#include "gguf.h"
#include "weights.h"

struct hparams {
	int n_vocab, n_embd, n_ctx_train;
	int n_layer;              /* layers evaluated: block_count - nextn_predict_layers */
	int n_head, n_head_kv, head_dim_k, head_dim_v;
	int n_ff;                 /* dense FFN */
	int n_expert, n_expert_used, n_ff_exp; /* MoE; n_expert 0 = dense */
	bool norm_topk;           /* renormalise the top-k router weights */
	float expert_weights_scale; /* routed weights multiplied by this (1 = none) */
	enum gating gating;
	enum ffn_act act;
	int n_layer_dense_lead;   /* leading layers with a dense FFN in a MoE model */
	int n_expert_shared;      /* shared experts (one FFN of n_ff_exp * this) */
	int n_expert_groups, n_group_used; /* group-limited top-k; 0 = no groups */
	int n_layer_nextn;        /* next-token-prediction layers after n_layer (not evaluated) */
	int n_swa, swa_pattern;   /* sliding window; layer il is windowed if il % pattern < pattern - 1 */
	float kq_scale;           /* attention score scale */
	float rms_eps;
	int n_rot;                /* rotated dims per head (rope.dimension_count) */
	float rope_base;
	float rope_scale;         /* linear scaling: positions divided by this (1 = none) */
	enum rope_kind rope;
	/* YaRN (llama.cpp's rope_yarn): ext_factor 0 = off; rope_mscale is the
	 * magnitude cos/sin carry (1 unless YaRN or rope.scaling.attn_factor) */
	float yarn_ext_factor, yarn_beta_fast, yarn_beta_slow, rope_mscale;
	int n_ctx_orig;
	/* multi-head latent attention (deepseek2): mla when kv_lora_rank > 0 */
	int q_lora_rank, kv_lora_rank;
	int head_dim_k_mla, head_dim_v_mla; /* per head after decompression */
};

struct layer {
	struct wmat attn_norm, wq, wk, wv, wo;
	struct wmat bq, bk, bv, bo; /* optional biases (llama); data NULL if absent */
	struct wmat q_norm, k_norm; /* qwen3: per-head RMS norm weights */
	struct wmat ffn_norm;
	struct wmat ffn_gate, ffn_up, ffn_down; /* dense */
	struct wmat ffn_gate_inp;               /* MoE router; experts via weights_experts_get */
	struct wmat ffn_gate_inp_b, exp_probs_b; /* router bias; selection-only bias */
	struct wmat ffn_gate_exps_b, ffn_up_exps_b, ffn_down_exps_b; /* per-expert biases (rows = experts) */
	struct wmat ffn_gate_shexp, ffn_up_shexp, ffn_down_shexp; /* shared experts */
	struct wmat attn_sinks;                 /* per-head sink logits (gpt-oss) */
	/* MLA: q via a LoRA (wq_a, q_a_norm, wq_b) or wq; compressed kv */
	struct wmat wq_a, q_a_norm, wq_b, wkv_a_mqa, kv_a_norm, wk_b, wv_b;
	bool moe;                               /* routed experts in this layer */
};

struct model {
	const struct arch *arch; /* its row in the architecture table */
	const char *arch_name;   /* general.architecture */
	char *path;
	struct gguf *g;
	struct hparams hp;
	struct weights *w;
	struct wmat token_embd, output_norm, output; /* output = token_embd when tied */
	struct rtrace *trace; /* --trace-routing: the forward pass records its routing here */
	float *rope_freqs; /* optional per-pair frequency divisors (n_rot/2), or NULL */
	struct layer *layers;
	uint32_t kv_type_k, kv_type_v; /* the KV cache's element types (GGML_F16 or GGML_Q8_0) */
};

/* Load a model; NULL with a one-line message in err on failure. */
/* --mem min: the smallest budget the plan can stream with. */
#define MODEL_MEM_MIN PLAN_MEM_MIN

struct model_opts {
	uint64_t mem;              /* budget in bytes; 0: sysinfo_default_budget(); MODEL_MEM_MIN */
	enum weights_io io;
	enum cache_policy policy;
	bool no_prefetch;
	bool no_warm;              /* do not fill the cache from the last run's hot list */
	int n_ctx;                 /* KV positions the plan reserves; 0: min(train, 4096) */
	int max_batch;             /* tokens per forward call the plan reserves; 0: 512 */
	int threads;               /* 0: one per core */
	bool quiet;                /* do not print the plan line on stderr */
	bool plan_only;            /* make the plan, read no weights (inspect --mem) */
	int stream_layers;         /* stream at least the last N layers' dense weights (benchmarks) */
	uint32_t cache_type_k;     /* KV cache element types: GGML_Q8_0, or 0 for F16 */
	uint32_t cache_type_v;
	const char *trace_routing; /* write a routing trace there (rtrace.h) */
};

/* Load with default options (everything the budget allows). */
struct model *model_load(const char *path, char *err, size_t errlen);
/* Load under a memory plan; o NULL = defaults. */
struct model *model_load_opts(const char *path, const struct model_opts *o, char *err, size_t errlen);

void model_free(struct model *m);

/* Bytes of weights one token reads: dense part + n_expert_used experts per
 * MoE layer + output head (embedding rows are negligible). */
uint64_t model_bytes_per_token(const struct model *m);

#endif
