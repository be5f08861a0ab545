/* arch.h - one descriptor row per model architecture.
 *
 * A row holds what differs between architectures as data: the GGUF name,
 * the defaults of the hyperparameters converters may leave out, rope kind,
 * gating, feature flags, and the tensor list (name pattern and presence per
 * role; a role's class is the same in every architecture). The loader
 * (model.c), the synthetic writer (synth.c) and the weights registry
 * (weights.c) all read the rows, so adding an architecture is one row here,
 * plus code in forward.c only where its math is new. Rows can also be
 * registered at run time (tests add made-up variants that way). */
#ifndef HEFT_ARCH_H
#define HEFT_ARCH_H

#include <stdbool.h>
#include <stdint.h>

#include "plan.h" /* enum wclass */

/* Rotation pairs: NORM rotates (x[2i], x[2i+1]); NEOX (x[i], x[i + n_rot/2]). */
enum rope_kind { ROPE_NORM, ROPE_NEOX };

/* Router scores: softmax over all experts, sigmoid of each, or the raw
 * logits with a softmax over the selected ones only (gpt-oss). */
enum gating { GATING_SOFTMAX, GATING_SIGMOID, GATING_SOFTMAX_WEIGHT };

/* Expert activation: silu(gate) * up, or gpt-oss's clamped variant. */
enum ffn_act { ACT_SILU, ACT_SWIGLU_OAI };

/* What a tensor is for. Per-layer roles have a "%d" in their names. */
enum trole {
	T_TOKEN_EMBD, T_OUTPUT_NORM, T_OUTPUT, T_ROPE_FREQS,
	T_ATTN_NORM, T_ATTN_Q, T_ATTN_K, T_ATTN_V, T_ATTN_OUT,
	T_ATTN_Q_BIAS, T_ATTN_K_BIAS, T_ATTN_V_BIAS, T_ATTN_OUT_BIAS, /* biases */
	T_ATTN_Q_NORM, T_ATTN_K_NORM, T_ATTN_SINKS,
	/* multi-head latent attention */
	T_MLA_Q_A, T_MLA_Q_A_NORM, T_MLA_Q_B, T_MLA_KV_A_MQA, T_MLA_KV_A_NORM, T_MLA_K_B, T_MLA_V_B,
	T_FFN_NORM, T_FFN_GATE, T_FFN_UP, T_FFN_DOWN,
	T_ROUTER, T_ROUTER_B, T_EXP_PROBS_B,
	T_GATE_EXPS, T_UP_EXPS, T_DOWN_EXPS, T_GATE_EXPS_B, T_UP_EXPS_B, T_DOWN_EXPS_B, /* routed experts: keep together */
	T_GATE_SHEXP, T_UP_SHEXP, T_DOWN_SHEXP,
	/* next-token-prediction layers: carried in the file, never evaluated */
	T_NEXTN_EH_PROJ, T_NEXTN_ENORM, T_NEXTN_HNORM, T_NEXTN_SHARED_HEAD_NORM,
	T_COUNT
};

/* How a role's tensor appears in an architecture's files. */
enum tpresence {
	TP_NONE,     /* not part of the architecture: never looked up, never written */
	TP_REQUIRED, /* the loader refuses a file without it (when the hyperparameters call for it) */
	TP_WRITTEN,  /* optional for the loader; the converters (and synth) write it */
	TP_ACCEPTED, /* optional for the loader; synth leaves it out (or writes it on request) */
};

struct arch_tensor {
	const char *name; /* printf pattern; "%d" is the layer */
	enum tpresence presence;
};

enum arch_flag {
	AF_MOE = 1 << 0,             /* routed experts are required */
	AF_MLA = 1 << 1,             /* multi-head latent attention (absorbed layout) */
	AF_SWA = 1 << 2,             /* sliding-window attention (attention.sliding_window) */
	AF_MOE_EXTRAS = 1 << 3,      /* leading dense layers, shared experts, groups, scale, gating key */
	AF_NEXTN = 1 << 4,           /* next-token-prediction layers (nextn_predict_layers) */
	AF_EXPERT_FF_IS_FF = 1 << 5, /* Mixtral: the expert width is feed_forward_length */
	AF_NO_DENSE_FFN = 1 << 6,    /* feed_forward_length is the expert width (gpt-oss) */
	AF_ROUTER_FIXED = 1 << 7,    /* llama.cpp ignores expert_weights_norm/scale/gating_func */
	AF_YARN_LOG_MUL = 1 << 8,    /* YaRN's mscale is rope.scaling.yarn_log_multiplier (deepseek2) */
};

/* What `heft-engine synth` fills in when no flag or --like says otherwise. */
struct arch_synth {
	int layers, head_dim;  /* head_dim 0: embd / heads */
	int rope_part;         /* 1 of rope_part key dims rotates (1: all) */
	int q_lora, kv_lora;
	int ff, experts;
	int expert_ff;         /* 0: the --ff value */
	int shared, swa;
	bool sigmoid, yarn;
	double expert_scale, rope_base, yarn_log_mul; /* yarn_log_mul 0: not written */
	const char *model_name; /* general.name; NULL: "heft synthetic" */
};

struct arch {
	const char *name;      /* --arch name */
	const char *gguf_name; /* general.architecture; rows sharing one load as the first */
	unsigned flags;        /* enum arch_flag */
	enum rope_kind rope;
	enum gating gating;    /* default (AF_MOE_EXTRAS: expert_gating_func overrides) */
	enum ffn_act act;
	bool norm_topk;        /* default of expert_weights_norm */
	int swa_pattern;       /* AF_SWA: layer il is windowed if il % pattern < pattern - 1 */
	const char *tokenizer_pre; /* synth's tokenizer.ggml.pre */
	struct arch_synth synth;
	struct arch_tensor t[T_COUNT];
};

/* A hyperparameter the loader reads, "<arch>.<suffix>", and the range a
 * value must lie in before anything is allocated or computed from it. The
 * bounds are far beyond any real model and small enough that products of
 * a few of them fit an int64_t; model.c checks each key present in a file
 * against its row (and the keys against the tensors' shapes) in one pass
 * before reading them, and reads no key that has no row. */
enum hkey_type { HK_INT, HK_FLOAT };

struct hkey {
	const char *suffix;
	enum hkey_type type;
	double min, max; /* inclusive; floats must also be finite */
	bool min_open;   /* the minimum itself is refused (epsilons, bases) */
};

/* The row of "<arch>.<suffix>", or NULL; arch_hkey_at(i) for i = 0.. until NULL. */
const struct hkey *arch_hkey(const char *suffix);
const struct hkey *arch_hkey_at(size_t i);

/* The row whose --arch name (arch_find) or general.architecture
 * (arch_find_gguf) is name; NULL if none. Registered rows come after the
 * built-in ones. */
const struct arch *arch_find(const char *name);
const struct arch *arch_find_gguf(const char *gguf_name);
/* Add a row (not copied; it must outlive its use). */
void arch_register(const struct arch *a);
/* The loadable architectures' GGUF names, ", "-separated. */
const char *arch_gguf_names(char *buf, size_t len);
/* The --arch names of the rows having every flag in with (0: all rows),
 * sep between them (for usage texts and messages). */
const char *arch_names(char *buf, size_t len, unsigned with, const char *sep);

static inline bool arch_has(const struct arch *a, enum arch_flag f)
{
	return (a->flags & f) != 0;
}

static inline bool arch_tensor_present(const struct arch *a, enum trole r)
{
	return a->t[r].presence != TP_NONE;
}

/* The name of role r in layer il (il ignored by global roles). */
const char *arch_tensor_name(const struct arch *a, enum trole r, int il, char *buf, size_t len);
/* The role a tensor name has in a, or -1. */
int arch_tensor_role(const struct arch *a, const char *name);
/* The same, with the layer in *layer (-1 for a global role or none). */
int arch_tensor_role_at(const struct arch *a, const char *name, int *layer);

/* A routed-expert tensor: one slice per expert along its last dimension. */
static inline bool arch_role_is_expert(int r)
{
	return r >= T_GATE_EXPS && r <= T_DOWN_EXPS_B;
}
/* The registry class of a tensor (WC_OTHER if a is NULL or the name no role's). */
enum wclass arch_tensor_class(const struct arch *a, const char *name);

#endif
