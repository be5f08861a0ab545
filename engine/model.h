/* model.h - a loaded model: architecture, hyperparameters, weights.
 *
 * model_load reads the <arch>.* keys with the defaults llama.cpp's
 * converters rely on, finds every tensor the architecture needs, checks
 * shapes and types against the hyperparameters, and reads the resident
 * weights. A model whose metadata contradicts its tensors is refused with a
 * message naming the key or tensor. */
#ifndef HEFT_MODEL_H
#define HEFT_MODEL_H

#include <stdbool.h>
#include <stdint.h>

#include "gguf.h"
#include "weights.h"

enum arch { ARCH_LLAMA, ARCH_QWEN3, ARCH_QWEN3MOE };

/* Rotation pairs: NORM rotates (x[2i], x[2i+1]); NEOX (x[i], x[i + n_rot/2]). */
enum rope_kind { ROPE_NORM, ROPE_NEOX };

struct hparams {
	int n_vocab, n_embd, n_layer, n_ctx_train;
	int n_head, n_head_kv, head_dim_k, head_dim_v;
	int n_ff;                 /* dense FFN */
	int n_expert, n_expert_used, n_ff_exp; /* MoE; n_expert 0 = dense */
	bool norm_topk;           /* renormalise the top-k router weights */
	float rms_eps;
	int n_rot;                /* rotated dims per head (rope.dimension_count) */
	float rope_base;
	float rope_scale;         /* linear scaling: positions divided by this (1 = none) */
	enum rope_kind rope;
};

struct layer {
	struct wmat attn_norm, wq, wk, wv, wo;
	struct wmat bq, bk, bv, bo; /* optional biases (llama); data NULL if absent */
	struct wmat q_norm, k_norm; /* qwen3: per-head RMS norm weights */
	struct wmat ffn_norm;
	struct wmat ffn_gate, ffn_up, ffn_down; /* dense */
	struct wmat ffn_gate_inp;               /* MoE router; experts via weights_experts_get */
};

struct model {
	enum arch arch;
	const char *arch_name;
	char *path;
	struct gguf *g;
	struct hparams hp;
	struct weights *w;
	struct wmat token_embd, output_norm, output; /* output = token_embd when tied */
	float *rope_freqs; /* optional per-pair frequency divisors (n_rot/2), or NULL */
	struct layer *layers;
};

/* Load a model; NULL with a one-line message in err on failure. */
struct model *model_load(const char *path, char *err, size_t errlen);
void model_free(struct model *m);

/* Bytes of weights one token reads: dense part + n_expert_used experts per
 * MoE layer + output head (embedding rows are negligible). */
uint64_t model_bytes_per_token(const struct model *m);

#endif
