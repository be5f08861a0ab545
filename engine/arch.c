/* arch.c - the architecture rows, and looking them up.
 *
 * Every fact that tells one architecture from another lives in its row
 * below; the loader, synth and the weights registry read nothing else. */
#include "arch.h"

#include "util.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>

/* The registry class of each role: the same in every architecture. */
static const enum wclass role_class[T_COUNT] = {
	[T_TOKEN_EMBD] = WC_EMBD,      [T_OUTPUT_NORM] = WC_NORM,   [T_OUTPUT] = WC_OUTPUT,
	[T_ROPE_FREQS] = WC_OTHER,     [T_ATTN_NORM] = WC_NORM,     [T_ATTN_Q] = WC_ATTN,
	[T_ATTN_K] = WC_ATTN,          [T_ATTN_V] = WC_ATTN,        [T_ATTN_OUT] = WC_ATTN,
	[T_ATTN_Q_BIAS] = WC_ATTN,     [T_ATTN_K_BIAS] = WC_ATTN,   [T_ATTN_V_BIAS] = WC_ATTN,
	[T_ATTN_OUT_BIAS] = WC_ATTN,   [T_ATTN_Q_NORM] = WC_NORM,   [T_ATTN_K_NORM] = WC_NORM,
	[T_ATTN_SINKS] = WC_ATTN,      [T_MLA_Q_A] = WC_ATTN,       [T_MLA_Q_A_NORM] = WC_NORM,
	[T_MLA_Q_B] = WC_ATTN,         [T_MLA_KV_A_MQA] = WC_ATTN,  [T_MLA_KV_A_NORM] = WC_NORM,
	[T_MLA_K_B] = WC_ATTN,         [T_MLA_V_B] = WC_ATTN,       [T_FFN_NORM] = WC_NORM,
	[T_FFN_GATE] = WC_FFN,         [T_FFN_UP] = WC_FFN,         [T_FFN_DOWN] = WC_FFN,
	[T_ROUTER] = WC_ROUTER,        [T_ROUTER_B] = WC_ROUTER,    [T_EXP_PROBS_B] = WC_ROUTER,
	[T_GATE_EXPS] = WC_FFN,        [T_UP_EXPS] = WC_FFN,        [T_DOWN_EXPS] = WC_FFN,
	[T_GATE_EXPS_B] = WC_FFN,      [T_UP_EXPS_B] = WC_FFN,      [T_DOWN_EXPS_B] = WC_FFN,
	[T_GATE_SHEXP] = WC_SHEXP,     [T_UP_SHEXP] = WC_SHEXP,     [T_DOWN_SHEXP] = WC_SHEXP,
	[T_NEXTN_EH_PROJ] = WC_OTHER,  [T_NEXTN_ENORM] = WC_NORM,   [T_NEXTN_HNORM] = WC_NORM,
	[T_NEXTN_SHARED_HEAD_NORM] = WC_NORM,
};

/* Tensor groups most rows share, as llama.cpp's converters name them. The
 * output head is optional (tied embeddings); rope_freqs only some llamas. */
#define GLOBALS                                                                                         \
	[T_TOKEN_EMBD] = {"token_embd.weight", TP_REQUIRED},                                            \
	[T_OUTPUT_NORM] = {"output_norm.weight", TP_REQUIRED}, [T_OUTPUT] = {"output.weight", TP_WRITTEN}, \
	[T_ROPE_FREQS] = {"rope_freqs.weight", TP_ACCEPTED},                                            \
	[T_ATTN_NORM] = {"blk.%d.attn_norm.weight", TP_REQUIRED}
#define GQA                                                                                             \
	[T_ATTN_Q] = {"blk.%d.attn_q.weight", TP_REQUIRED}, [T_ATTN_K] = {"blk.%d.attn_k.weight", TP_REQUIRED}, \
	[T_ATTN_V] = {"blk.%d.attn_v.weight", TP_REQUIRED},                                             \
	[T_ATTN_OUT] = {"blk.%d.attn_output.weight", TP_REQUIRED}
#define BIASES(qkv, out)                                                                                \
	[T_ATTN_Q_BIAS] = {"blk.%d.attn_q.bias", qkv}, [T_ATTN_K_BIAS] = {"blk.%d.attn_k.bias", qkv},   \
	[T_ATTN_V_BIAS] = {"blk.%d.attn_v.bias", qkv}, [T_ATTN_OUT_BIAS] = {"blk.%d.attn_output.bias", out}
#define QK_NORM(p) \
	[T_ATTN_Q_NORM] = {"blk.%d.attn_q_norm.weight", p}, [T_ATTN_K_NORM] = {"blk.%d.attn_k_norm.weight", p}
#define FFN_NORM [T_FFN_NORM] = {"blk.%d.ffn_norm.weight", TP_REQUIRED}
/* glm4moe and gpt-oss name the pre-FFN norm post_attention_norm */
#define POST_ATTN_NORM [T_FFN_NORM] = {"blk.%d.post_attention_norm.weight", TP_REQUIRED}
#define DENSE_FFN                                                                                       \
	[T_FFN_GATE] = {"blk.%d.ffn_gate.weight", TP_REQUIRED}, [T_FFN_UP] = {"blk.%d.ffn_up.weight", TP_REQUIRED}, \
	[T_FFN_DOWN] = {"blk.%d.ffn_down.weight", TP_REQUIRED}
#define EXPERTS(router_bias, probs_bias, exps_bias)                                                     \
	[T_ROUTER] = {"blk.%d.ffn_gate_inp.weight", TP_REQUIRED},                                       \
	[T_ROUTER_B] = {"blk.%d.ffn_gate_inp.bias", router_bias},                                       \
	[T_EXP_PROBS_B] = {"blk.%d.exp_probs_b.bias", probs_bias},                                      \
	[T_GATE_EXPS] = {"blk.%d.ffn_gate_exps.weight", TP_REQUIRED},                                   \
	[T_UP_EXPS] = {"blk.%d.ffn_up_exps.weight", TP_REQUIRED},                                       \
	[T_DOWN_EXPS] = {"blk.%d.ffn_down_exps.weight", TP_REQUIRED},                                   \
	[T_GATE_EXPS_B] = {"blk.%d.ffn_gate_exps.bias", exps_bias},                                     \
	[T_UP_EXPS_B] = {"blk.%d.ffn_up_exps.bias", exps_bias},                                         \
	[T_DOWN_EXPS_B] = {"blk.%d.ffn_down_exps.bias", exps_bias},                                     \
	[T_GATE_SHEXP] = {"blk.%d.ffn_gate_shexp.weight", TP_REQUIRED},                                 \
	[T_UP_SHEXP] = {"blk.%d.ffn_up_shexp.weight", TP_REQUIRED},                                     \
	[T_DOWN_SHEXP] = {"blk.%d.ffn_down_shexp.weight", TP_REQUIRED}
#define MLA                                                                                             \
	[T_ATTN_Q] = {"blk.%d.attn_q.weight", TP_REQUIRED},                                             \
	[T_ATTN_OUT] = {"blk.%d.attn_output.weight", TP_REQUIRED},                                      \
	[T_MLA_Q_A] = {"blk.%d.attn_q_a.weight", TP_REQUIRED},                                          \
	[T_MLA_Q_A_NORM] = {"blk.%d.attn_q_a_norm.weight", TP_REQUIRED},                                \
	[T_MLA_Q_B] = {"blk.%d.attn_q_b.weight", TP_REQUIRED},                                          \
	[T_MLA_KV_A_MQA] = {"blk.%d.attn_kv_a_mqa.weight", TP_REQUIRED},                                \
	[T_MLA_KV_A_NORM] = {"blk.%d.attn_kv_a_norm.weight", TP_REQUIRED},                              \
	[T_MLA_K_B] = {"blk.%d.attn_k_b.weight", TP_REQUIRED},                                          \
	[T_MLA_V_B] = {"blk.%d.attn_v_b.weight", TP_REQUIRED}
#define NEXTN                                                                                           \
	[T_NEXTN_EH_PROJ] = {"blk.%d.nextn.eh_proj.weight", TP_ACCEPTED},                               \
	[T_NEXTN_ENORM] = {"blk.%d.nextn.enorm.weight", TP_ACCEPTED},                                   \
	[T_NEXTN_HNORM] = {"blk.%d.nextn.hnorm.weight", TP_ACCEPTED},                                   \
	[T_NEXTN_SHARED_HEAD_NORM] = {"blk.%d.nextn.shared_head_norm.weight", TP_ACCEPTED}

/* Synth's defaults are small models that load in a blink; the per-arch
 * defaults of the loader are llama.cpp's. The first row with a GGUF name is
 * the one that loads it (mixtral files are llama files). */
static const struct arch builtin[] = {
	{.name = "llama", .gguf_name = "llama", .flags = AF_EXPERT_FF_IS_FF, .rope = ROPE_NORM,
	 .norm_topk = true, .tokenizer_pre = "gpt-2",
	 .synth = {.layers = 2, .rope_part = 1, .ff = 768, .expert_ff = 256, .expert_scale = 1, .rope_base = 1e4},
	 .t = {GLOBALS, GQA, BIASES(TP_ACCEPTED, TP_ACCEPTED), FFN_NORM, DENSE_FFN,
	       EXPERTS(TP_ACCEPTED, TP_ACCEPTED, TP_ACCEPTED)}},
	{.name = "qwen3", .gguf_name = "qwen3", .rope = ROPE_NEOX, .tokenizer_pre = "qwen2",
	 .synth = {.layers = 2, .rope_part = 1, .ff = 768, .expert_ff = 256, .expert_scale = 1, .rope_base = 1e6},
	 .t = {GLOBALS, GQA, QK_NORM(TP_REQUIRED), FFN_NORM, DENSE_FFN,
	       EXPERTS(TP_ACCEPTED, TP_ACCEPTED, TP_ACCEPTED)}},
	{.name = "qwen3moe", .gguf_name = "qwen3moe", .flags = AF_MOE, .rope = ROPE_NEOX, .norm_topk = true,
	 .tokenizer_pre = "qwen2",
	 .synth = {.layers = 2, .rope_part = 1, .ff = 768, .experts = 8, .expert_ff = 256, .expert_scale = 1,
		   .rope_base = 1e6},
	 .t = {GLOBALS, GQA, QK_NORM(TP_REQUIRED), FFN_NORM, DENSE_FFN,
	       EXPERTS(TP_ACCEPTED, TP_ACCEPTED, TP_ACCEPTED)}},
	{.name = "glm4moe", .gguf_name = "glm4moe", .flags = AF_MOE | AF_MOE_EXTRAS | AF_NEXTN, .rope = ROPE_NEOX,
	 .gating = GATING_SIGMOID, .tokenizer_pre = "gpt-2",
	 .synth = {.layers = 3, .rope_part = 2, .ff = 512, .experts = 8, .expert_ff = 128, .shared = 1,
		   .sigmoid = true, .expert_scale = 2.5, .rope_base = 1e6},
	 /* q/k norm: GLM-4.5 some, GLM-4.6 all */
	 .t = {GLOBALS, GQA, BIASES(TP_WRITTEN, TP_ACCEPTED), QK_NORM(TP_ACCEPTED), POST_ATTN_NORM, DENSE_FFN,
	       EXPERTS(TP_ACCEPTED, TP_REQUIRED, TP_ACCEPTED), NEXTN}},
	{.name = "gpt-oss", .gguf_name = "gpt-oss", .flags = AF_MOE | AF_SWA | AF_NO_DENSE_FFN | AF_ROUTER_FIXED,
	 .rope = ROPE_NEOX, .gating = GATING_SOFTMAX_WEIGHT, .act = ACT_SWIGLU_OAI,
	 .swa_pattern = 2, /* llama.cpp: even layers windowed, odd layers full */
	 .tokenizer_pre = "gpt-2",
	 .synth = {.layers = 2, .rope_part = 1, .ff = 768, .experts = 8, .expert_ff = 256, .swa = 128,
		   .yarn = true, .expert_scale = 1, .rope_base = 1e6},
	 .t = {GLOBALS, GQA, BIASES(TP_WRITTEN, TP_WRITTEN), [T_ATTN_SINKS] = {"blk.%d.attn_sinks.weight", TP_REQUIRED},
	       POST_ATTN_NORM, DENSE_FFN, EXPERTS(TP_REQUIRED, TP_ACCEPTED, TP_REQUIRED)}},
	{.name = "deepseek2", .gguf_name = "deepseek2", .flags = AF_MOE | AF_MLA | AF_MOE_EXTRAS | AF_YARN_LOG_MUL,
	 .rope = ROPE_NORM, .tokenizer_pre = "gpt-2",
	 /* a third of the key dims rotate (V3: 64 of 192) */
	 .synth = {.layers = 3, .head_dim = 96, .rope_part = 3, .q_lora = 96, .kv_lora = 64, .ff = 512,
		   .experts = 8, .expert_ff = 128, .shared = 1, .sigmoid = true, .yarn = true, .expert_scale = 2.5,
		   .rope_base = 1e6, .yarn_log_mul = 0.1},
	 .t = {GLOBALS, MLA, FFN_NORM, DENSE_FFN, EXPERTS(TP_ACCEPTED, TP_ACCEPTED, TP_ACCEPTED)}},
	/* Mixtral's converter writes llama files whose experts use feed_forward_length */
	{.name = "mixtral", .gguf_name = "llama", .flags = AF_MOE | AF_EXPERT_FF_IS_FF, .rope = ROPE_NORM,
	 .norm_topk = true, .tokenizer_pre = "gpt-2",
	 .synth = {.layers = 2, .rope_part = 1, .ff = 512, .experts = 4, .expert_scale = 1, .rope_base = 1e4,
		   .model_name = "heft synthetic mixtral"},
	 .t = {GLOBALS, GQA, BIASES(TP_ACCEPTED, TP_ACCEPTED), FFN_NORM, DENSE_FFN,
	       EXPERTS(TP_ACCEPTED, TP_ACCEPTED, TP_ACCEPTED)}},
};

/* Dimensions up to 2^20, head and expert counts up to 2^16, layers up to
 * 2^14, positions up to 2^28: a million-wide embedding or a 268M-token
 * context is no model anyone ships, and 2^20 * 2^16 * 2^20 still fits. */
#define DIM (1 << 20)
#define COUNT (1 << 16)
#define LAYERS (1 << 14)
#define POSITIONS (1 << 28)

static const struct hkey hkeys[] = {
	{"vocab_size", HK_INT, 1, 1 << 27, false},
	{"context_length", HK_INT, 0, POSITIONS, false},
	{"embedding_length", HK_INT, 1, DIM, false},
	{"block_count", HK_INT, 1, LAYERS, false},
	{"nextn_predict_layers", HK_INT, 0, LAYERS, false},
	{"feed_forward_length", HK_INT, 0, DIM, false},
	{"expert_feed_forward_length", HK_INT, 0, DIM, false},
	{"expert_count", HK_INT, 0, COUNT, false},
	{"expert_used_count", HK_INT, 0, COUNT, false},
	{"expert_shared_count", HK_INT, 0, COUNT, false},
	{"expert_group_count", HK_INT, 0, COUNT, false},
	{"expert_group_used_count", HK_INT, 0, COUNT, false},
	{"expert_gating_func", HK_INT, 0, 3, false},
	{"expert_weights_scale", HK_FLOAT, 0, 1e6, true},
	{"leading_dense_block_count", HK_INT, 0, LAYERS, false},
	{"attention.head_count", HK_INT, 1, COUNT, false},
	{"attention.head_count_kv", HK_INT, 1, COUNT, false},
	{"attention.key_length", HK_INT, 1, DIM, false},
	{"attention.value_length", HK_INT, 1, DIM, false},
	{"attention.key_length_mla", HK_INT, 0, DIM, false},
	{"attention.value_length_mla", HK_INT, 0, DIM, false},
	{"attention.q_lora_rank", HK_INT, 0, DIM, false},
	{"attention.kv_lora_rank", HK_INT, 0, DIM, false}, /* glm4moe files carry 0 */
	{"attention.sliding_window", HK_INT, 1, POSITIONS, false},
	{"attention.layer_norm_rms_epsilon", HK_FLOAT, 0, 1, true},
	{"rope.dimension_count", HK_INT, 1, DIM, false},
	{"rope.freq_base", HK_FLOAT, 0, 1e12, true},
	{"rope.scaling.factor", HK_FLOAT, 0, 1e6, false}, /* 0: none */
	{"rope.scale_linear", HK_FLOAT, 0, 1e6, false},
	{"rope.scaling.attn_factor", HK_FLOAT, 0, 1e3, true},
	{"rope.scaling.original_context_length", HK_INT, 1, POSITIONS, false},
	{"rope.scaling.yarn_beta_fast", HK_FLOAT, 0, 1e4, true},
	{"rope.scaling.yarn_beta_slow", HK_FLOAT, 0, 1e4, true},
	{"rope.scaling.yarn_log_multiplier", HK_FLOAT, 0, 100, false},
};

const struct hkey *arch_hkey_at(size_t i)
{
	return i < ARRAY_LEN(hkeys) ? &hkeys[i] : NULL;
}

const struct hkey *arch_hkey(const char *suffix)
{
	for (size_t i = 0; i < ARRAY_LEN(hkeys); i++)
		if (!strcmp(hkeys[i].suffix, suffix))
			return &hkeys[i];
	return NULL;
}

#define MAX_REGISTERED 8
static const struct arch *registered[MAX_REGISTERED];
static int n_registered;

void arch_register(const struct arch *a)
{
	if (n_registered == MAX_REGISTERED)
		die("arch_register: more than %d added architectures", MAX_REGISTERED);
	registered[n_registered++] = a;
}

static const struct arch *nth(size_t i)
{
	if (i < ARRAY_LEN(builtin))
		return &builtin[i];
	i -= ARRAY_LEN(builtin);
	return i < (size_t)n_registered ? registered[i] : NULL;
}

const struct arch *arch_find(const char *name)
{
	const struct arch *a;
	for (size_t i = 0; (a = nth(i)); i++)
		if (!strcmp(a->name, name))
			return a;
	return NULL;
}

const struct arch *arch_find_gguf(const char *gguf_name)
{
	const struct arch *a;
	for (size_t i = 0; gguf_name && (a = nth(i)); i++)
		if (!strcmp(a->gguf_name, gguf_name))
			return a;
	return NULL;
}

const char *arch_names(char *buf, size_t len, unsigned with, const char *sep)
{
	const struct arch *a;
	size_t k = 0;
	buf[0] = '\0';
	for (size_t i = 0; (a = nth(i)); i++) {
		if ((a->flags & with) != with)
			continue;
		int n = snprintf(buf + k, len - k, "%s%s", k ? sep : "", a->name);
		if (n < 0 || (size_t)n >= len - k)
			break;
		k += (size_t)n;
	}
	return buf;
}

const char *arch_gguf_names(char *buf, size_t len)
{
	const struct arch *a;
	size_t k = 0;
	buf[0] = '\0';
	for (size_t i = 0; (a = nth(i)); i++) {
		if (arch_find_gguf(a->gguf_name) != a) /* an alias: loads as an earlier row */
			continue;
		int n = snprintf(buf + k, len - k, "%s%s", k ? ", " : "", a->gguf_name);
		if (n < 0 || (size_t)n >= len - k)
			break;
		k += (size_t)n;
	}
	return buf;
}

const char *arch_tensor_name(const struct arch *a, enum trole r, int il, char *buf, size_t len)
{
	const char *pat = a->t[r].name;
	/* the pattern is the row's, never the file's */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
	if (strstr(pat, "%d"))
		snprintf(buf, len, pat, il);
	else
		snprintf(buf, len, "%s", pat);
#pragma GCC diagnostic pop
	return buf;
}

/* Does name fit pattern, "%d" standing for a layer number (in *num,
 * saturated at INT_MAX; -1 when the pattern has none)? */
static bool match(const char *pat, const char *name, int *num)
{
	*num = -1;
	while (*pat) {
		if (pat[0] == '%' && pat[1] == 'd') {
			if (*name < '0' || *name > '9')
				return false;
			long long v = 0;
			for (; *name >= '0' && *name <= '9'; name++)
				v = MIN(v * 10 + (*name - '0'), (long long)INT_MAX);
			*num = (int)v;
			pat += 2;
		} else if (*pat++ != *name++) {
			return false;
		}
	}
	return *name == '\0';
}

int arch_tensor_role_at(const struct arch *a, const char *name, int *layer)
{
	for (int r = 0; a && r < T_COUNT; r++)
		if (a->t[r].name && match(a->t[r].name, name, layer))
			return r;
	*layer = -1;
	return -1;
}

int arch_tensor_role(const struct arch *a, const char *name)
{
	int layer;
	return arch_tensor_role_at(a, name, &layer);
}

enum wclass arch_tensor_class(const struct arch *a, const char *name)
{
	int r = arch_tensor_role(a, name);
	return r < 0 ? WC_OTHER : role_class[r];
}
