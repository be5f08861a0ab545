/* synth.c - a synthetic GGUF model, written as `heft-engine synth` asks
 * (cmd-synth.c parses its command line).
 *
 * The file has the tensor names, shapes and metadata keys llama.cpp's
 * converters write for the family (engine/model.c's loader is the contract),
 * and random weights scaled so that a forward pass stays O(1) and ends in
 * logits with a spread of a few units. Data is generated and written tensor
 * by tensor in chunks, so the size of the model is bounded by the disk, not
 * by RAM. Each tensor's values depend only on the seed and the tensor's
 * name: the same seed gives the same bytes whether or not the model is
 * split. --like fills the shapes of a real model, --preset the per-class
 * types of a popular download; explicit flags override both. --sparse
 * writes the header only and leaves the data as a hole: a 130 GB model on
 * a 50 GB disk, for `inspect --mem` plans (its weights read as zeros and
 * its reads never touch the disk, so it is not for timing). */
#include "arch.h"
#include "synth.h"

#include "gguf-write.h"
#include "gguf.h"
#include "quant.h"
#include "synth-blocks.h"
#include "util.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

/* Elements generated per chunk: 4 MB of floats. */
#define CHUNK_ELEMS (1u << 20)
/* Largest row length and vocabulary accepted. */
#define ROW_MAX ((int64_t)1 << 20)
#define VOCAB_MAX ((int64_t)1 << 22)
#define TYPE_UNSET UINT32_MAX

/* Tensor classes that get their own type (--type-CLASS). Norms, biases,
 * routers and sinks are always F32, as converters leave them. */
enum tclass { C_EMBD, C_OUTPUT, C_ATTN, C_DENSE, C_SHEXP, C_EXPERTS, C_EXPERTS_DOWN, C_COUNT, C_F32 = C_COUNT };

static const char *const class_names[] = {"embd", "output", "attn", "dense", "shexp", "experts", "experts-down"};
static const char *const class_desc[] = {"token-embedding", "output-head", "attention", "dense-FFN",
					 "shared-expert", "routed-expert", "routed-expert down"};

enum rope_scaling { RS_UNSET = -1, RS_NONE, RS_LINEAR, RS_YARN };

/* Integers are -1 and doubles NAN until set by a flag, --like or the
 * defaults, in that order of precedence. */
struct synth {
	const struct arch *arch; /* NULL until set */
	int64_t embd, layers, heads, kv_heads, head_dim, rope_dim, v_head_dim, ff;
	int64_t experts, experts_used, expert_ff, shared, dense_lead, groups, group_used;
	int64_t q_lora, kv_lora, nextn, swa, vocab, ctx, rope_orig_ctx, split;
	int64_t qk_norm, sigmoid; /* booleans, -1 unset */
	double rope_base, rope_factor, yarn_log_mul, expert_scale, rms_eps;
	int rope_scaling; /* enum rope_scaling */
	uint32_t type;             /* default of every class */
	uint32_t types[C_COUNT];   /* TYPE_UNSET: --preset's, else type */
	bool explicit_type[C_COUNT];
	uint64_t seed;
	const char *like, *preset, *vocab_from, *out, *name;
	bool quiet, dry_run, sparse;
};

#define OFF(f) offsetof(struct synth, f)
#define I64(s, off) (*(int64_t *)((char *)(s) + (off)))
#define F64(s, off) (*(double *)((char *)(s) + (off)))

/* ---- --like: the shapes of real models ---- */

/* Fields left 0 are not part of the preset (the defaults fill them). */
struct like {
	const char *name;
	const char *arch;
	int64_t embd, layers, heads, kv_heads, head_dim, rope_dim, v_head_dim, ff;
	int64_t experts, experts_used, expert_ff, shared, dense_lead, groups, group_used;
	int64_t q_lora, kv_lora, nextn, swa, vocab, ctx, rope_orig_ctx, qk_norm;
	double rope_base, rope_factor, yarn_log_mul, expert_scale, rms_eps;
	int rope_scaling;
};

/* From the models' config.json as llama.cpp converts them: DeepSeek V3/R1
 * and Kimi K2 (MLA: q/kv LoRA, 128 + 64 rotary dims per head, value 128),
 * GLM-4.6 (92 layers + 1 next-token-prediction layer, partial rotary 0.5,
 * q/k norm), gpt-oss-120b, Qwen3-235B-A22B. */
static const struct like likes[] = {
	{.name = "deepseek-v3", .arch = "deepseek2", .embd = 7168, .layers = 61, .heads = 128,
	 .head_dim = 192, .rope_dim = 64, .v_head_dim = 128, .q_lora = 1536, .kv_lora = 512, .ff = 18432,
	 .experts = 256, .experts_used = 8, .expert_ff = 2048, .shared = 1, .dense_lead = 3, .groups = 8,
	 .group_used = 4, .expert_scale = 2.5, .vocab = 129280, .ctx = 163840, .rope_base = 10000,
	 .rope_scaling = RS_YARN, .rope_factor = 40, .rope_orig_ctx = 4096, .yarn_log_mul = 0.1, .rms_eps = 1e-6},
	{.name = "kimi-k2", .arch = "deepseek2", .embd = 7168, .layers = 61, .heads = 64,
	 .head_dim = 192, .rope_dim = 64, .v_head_dim = 128, .q_lora = 1536, .kv_lora = 512, .ff = 18432,
	 .experts = 384, .experts_used = 8, .expert_ff = 2048, .shared = 1, .dense_lead = 1, .groups = 1,
	 .group_used = 1, .expert_scale = 2.827, .vocab = 163840, .ctx = 131072, .rope_base = 50000,
	 .rope_scaling = RS_YARN, .rope_factor = 32, .rope_orig_ctx = 4096, .yarn_log_mul = 0.1, .rms_eps = 1e-6},
	{.name = "glm-4.6", .arch = "glm4moe", .embd = 5120, .layers = 92, .nextn = 1, .heads = 96,
	 .kv_heads = 8, .head_dim = 128, .rope_dim = 64, .ff = 12288, .experts = 160, .experts_used = 8,
	 .expert_ff = 1536, .shared = 1, .dense_lead = 3, .groups = 1, .group_used = 1, .expert_scale = 2.5,
	 .qk_norm = 1, .vocab = 151552, .ctx = 202752, .rope_base = 1e6, .rms_eps = 1e-5},
	{.name = "gpt-oss-120b", .arch = "gpt-oss", .embd = 2880, .layers = 36, .heads = 64, .kv_heads = 8,
	 .head_dim = 64, .experts = 128, .experts_used = 4, .expert_ff = 2880, .swa = 128, .vocab = 201088,
	 .ctx = 131072, .rope_base = 150000, .rope_scaling = RS_YARN, .rope_factor = 32, .rope_orig_ctx = 4096,
	 .rms_eps = 1e-5},
	{.name = "qwen3-235b", .arch = "qwen3moe", .embd = 4096, .layers = 94, .heads = 64, .kv_heads = 4,
	 .head_dim = 128, .ff = 12288, .experts = 128, .experts_used = 8, .expert_ff = 1536, .vocab = 151936,
	 .ctx = 40960, .rope_base = 1e6, .rms_eps = 1e-6},
};

static const size_t like_ints[][2] = {
	{offsetof(struct like, embd), OFF(embd)},
	{offsetof(struct like, layers), OFF(layers)},
	{offsetof(struct like, heads), OFF(heads)},
	{offsetof(struct like, kv_heads), OFF(kv_heads)},
	{offsetof(struct like, head_dim), OFF(head_dim)},
	{offsetof(struct like, rope_dim), OFF(rope_dim)},
	{offsetof(struct like, v_head_dim), OFF(v_head_dim)},
	{offsetof(struct like, ff), OFF(ff)},
	{offsetof(struct like, experts), OFF(experts)},
	{offsetof(struct like, experts_used), OFF(experts_used)},
	{offsetof(struct like, expert_ff), OFF(expert_ff)},
	{offsetof(struct like, shared), OFF(shared)},
	{offsetof(struct like, dense_lead), OFF(dense_lead)},
	{offsetof(struct like, groups), OFF(groups)},
	{offsetof(struct like, group_used), OFF(group_used)},
	{offsetof(struct like, q_lora), OFF(q_lora)},
	{offsetof(struct like, kv_lora), OFF(kv_lora)},
	{offsetof(struct like, nextn), OFF(nextn)},
	{offsetof(struct like, swa), OFF(swa)},
	{offsetof(struct like, vocab), OFF(vocab)},
	{offsetof(struct like, ctx), OFF(ctx)},
	{offsetof(struct like, rope_orig_ctx), OFF(rope_orig_ctx)},
	{offsetof(struct like, qk_norm), OFF(qk_norm)},
};

static const size_t like_doubles[][2] = {
	{offsetof(struct like, rope_base), OFF(rope_base)},
	{offsetof(struct like, rope_factor), OFF(rope_factor)},
	{offsetof(struct like, yarn_log_mul), OFF(yarn_log_mul)},
	{offsetof(struct like, expert_scale), OFF(expert_scale)},
	{offsetof(struct like, rms_eps), OFF(rms_eps)},
};

static const char *apply_like(struct synth *s)
{
	const struct like *L = NULL;
	for (size_t i = 0; i < ARRAY_LEN(likes); i++)
		if (!strcasecmp(s->like, likes[i].name))
			L = &likes[i];
	if (!L)
		return "unknown --like (deepseek-v3, kimi-k2, glm-4.6, gpt-oss-120b, qwen3-235b)";
	if (s->arch && strcmp(s->arch->name, L->arch)) {
		static char msg[128];
		snprintf(msg, sizeof msg, "--like %s is a %s model: --arch %s contradicts it", L->name, L->arch,
			 s->arch->name);
		return msg;
	}
	s->arch = arch_find(L->arch);
	bool lead_given = s->dense_lead >= 0;
	for (size_t i = 0; i < ARRAY_LEN(like_ints); i++) {
		int64_t v = *(const int64_t *)((const char *)L + like_ints[i][0]);
		if (v && I64(s, like_ints[i][1]) < 0)
			I64(s, like_ints[i][1]) = v;
	}
	for (size_t i = 0; i < ARRAY_LEN(like_doubles); i++) {
		double v = *(const double *)((const char *)L + like_doubles[i][0]);
		if (v != 0.0 && isnan(F64(s, like_doubles[i][1])))
			F64(s, like_doubles[i][1]) = v;
	}
	if (s->rope_scaling == RS_UNSET && L->rope_scaling)
		s->rope_scaling = L->rope_scaling;
	/* a cut-down --layers keeps at least one MoE layer */
	if (!lead_given && s->dense_lead >= s->layers)
		s->dense_lead = s->layers - 1;
	return NULL;
}

/* ---- --preset: per-class types of popular downloads ---- */

/* embd, output, attn, dense, shexp, experts, experts-down. The UD rows
 * follow Unsloth's dynamic quants of DeepSeek R1 (the same recipe names
 * their Kimi K2 and GLM-4.6 files): routed experts at 1.5-2 bits, down_proj
 * in IQ2_XXS for IQ1_M and IQ2_XXS (the IQ1_S file keeps only a few layers'
 * down_proj there, so IQ1_S here), attention and the leading dense layers
 * at 4 bits, shared experts and the output head at 6. MXFP4_MOE is
 * llama.cpp's preset for gpt-oss; Q4_K_M approximates llama.cpp's mix (its
 * Q6_K for half the ffn_down tensors averages to Q5_K). */
static const struct {
	const char *name;
	uint32_t t[C_COUNT];
} presets[] = {
	{"UD-IQ1_S", {GGML_Q4_K, GGML_Q6_K, GGML_Q4_K, GGML_Q4_K, GGML_Q6_K, GGML_IQ1_S, GGML_IQ1_S}},
	{"UD-IQ1_M", {GGML_Q4_K, GGML_Q6_K, GGML_Q4_K, GGML_Q4_K, GGML_Q6_K, GGML_IQ1_M, GGML_IQ2_XXS}},
	{"UD-IQ2_XXS", {GGML_Q4_K, GGML_Q6_K, GGML_Q4_K, GGML_Q4_K, GGML_Q6_K, GGML_IQ2_XXS, GGML_IQ2_XXS}},
	{"MXFP4_MOE", {GGML_Q8_0, GGML_Q8_0, GGML_Q8_0, GGML_Q8_0, GGML_Q8_0, GGML_MXFP4, GGML_MXFP4}},
	{"Q4_K_M", {GGML_Q4_K, GGML_Q6_K, GGML_Q4_K, GGML_Q4_K, GGML_Q4_K, GGML_Q4_K, GGML_Q5_K}},
};

static const char *apply_types(struct synth *s)
{
	if (s->preset) {
		size_t i;
		for (i = 0; i < ARRAY_LEN(presets) && strcasecmp(s->preset, presets[i].name); i++)
			;
		if (i == ARRAY_LEN(presets))
			return "unknown --preset (UD-IQ1_S, UD-IQ1_M, UD-IQ2_XXS, MXFP4_MOE, Q4_K_M)";
		for (int c = 0; c < C_COUNT; c++)
			if (s->types[c] == TYPE_UNSET)
				s->types[c] = presets[i].t[c];
	}
	/* experts-down follows experts unless set, then everything follows --type */
	if (s->types[C_EXPERTS_DOWN] == TYPE_UNSET)
		s->types[C_EXPERTS_DOWN] = s->types[C_EXPERTS];
	for (int c = 0; c < C_COUNT; c++)
		if (s->types[c] == TYPE_UNSET)
			s->types[c] = s->type;
	return NULL;
}

/* ---- the tensor plan ---- */

/* One tensor to write: its shape, type and how to fill it. */
struct tspec {
	char name[64];
	uint32_t type, n_dims;
	uint64_t ne[GGUF_MAX_DIMS];
	uint8_t cls;
	uint8_t role; /* enum trole */
	float centre; /* 1 for norm weights, else 0 */
	float std;    /* standard deviation of the values */
	uint32_t part;
};

struct plan {
	struct tspec *t;
	size_t n, cap;
	const struct synth *s;
};

/* The type a weight of row length ne0 gets: the one asked for if its block
 * fits the row, else its row's fallback, llama.cpp's quantizer's choice
 * (e.g. attn_k_b rows of 128 turn Q4_K into Q5_0 and the IQ types into
 * IQ4_NL), else F16. */
static uint32_t fit_type(uint32_t want, uint64_t ne0)
{
	const struct qtype *t = qtype_get(want);
	if (ne0 % t->blck == 0)
		return want;
	return ne0 % qtype_get(t->fallback)->blck == 0 ? t->fallback : GGML_F16;
}

/* Add role r of layer l (-1: a global tensor), named as the row names it. */
static void add(struct plan *p, int cls, double centre, double std, uint32_t n_dims, uint64_t ne0, uint64_t ne1,
		uint64_t ne2, enum trole r, int64_t l)
{
	if (p->n == p->cap) {
		p->cap = p->cap ? 2 * p->cap : 64;
		p->t = xreallocarray(p->t, p->cap, sizeof(*p->t));
	}
	struct tspec *t = &p->t[p->n++];
	memset(t, 0, sizeof(*t));
	arch_tensor_name(p->s->arch, r, (int)l, t->name, sizeof t->name);
	t->role = (uint8_t)r;
	t->cls = (uint8_t)cls;
	t->type = cls == C_F32 ? GGML_F32 : fit_type(p->s->types[cls], ne0);
	t->centre = (float)centre;
	t->std = (float)std;
	t->n_dims = n_dims;
	t->ne[0] = ne0;
	t->ne[1] = ne1;
	t->ne[2] = ne2;
	t->ne[3] = 1;
}

/* A matrix [in, out] of class c, scaled to keep activations O(1). */
#define MAT(p, c, in, out, r) add(p, c, 0, 1 / sqrt((double)(in)), 2, in, out, 1, r, l)
#define EXPS(p, c, in, out, n, r) add(p, c, 0, 1 / sqrt((double)(in)), 3, in, out, n, r, l)
#define NORM(p, n, r) add(p, C_F32, 1, 0.1, 1, n, 1, 1, r, l)
#define BIAS(p, n, r) add(p, C_F32, 0, 0.1, 1, n, 1, 1, r, l)

static bool is_moe(const struct synth *s)
{
	return s->experts > 0;
}

/* Whether converters write role r for this architecture (when the
 * hyperparameters call for it). */
static bool writes(const struct synth *s, enum trole r)
{
	enum tpresence pr = s->arch->t[r].presence;
	return pr == TP_REQUIRED || pr == TP_WRITTEN;
}

/* q, k, v and output projections of the GQA families. */
static void plan_attn(const struct synth *s, struct plan *p, int64_t l)
{
	uint64_t E = (uint64_t)s->embd, q = (uint64_t)(s->heads * s->head_dim);
	uint64_t kv = (uint64_t)(s->kv_heads * s->head_dim);
	MAT(p, C_ATTN, E, q, T_ATTN_Q);
	MAT(p, C_ATTN, E, kv, T_ATTN_K);
	MAT(p, C_ATTN, E, kv, T_ATTN_V);
	MAT(p, C_ATTN, q, E, T_ATTN_OUT);
	if (writes(s, T_ATTN_Q_BIAS))
		BIAS(p, q, T_ATTN_Q_BIAS);
	if (writes(s, T_ATTN_K_BIAS))
		BIAS(p, kv, T_ATTN_K_BIAS);
	if (writes(s, T_ATTN_V_BIAS))
		BIAS(p, kv, T_ATTN_V_BIAS);
	if (writes(s, T_ATTN_OUT_BIAS))
		BIAS(p, E, T_ATTN_OUT_BIAS);
	if (writes(s, T_ATTN_SINKS))
		add(p, C_F32, 0, 1.0, 1, (uint64_t)s->heads, 1, 1, T_ATTN_SINKS, l);
	if (writes(s, T_ATTN_Q_NORM) || (arch_tensor_present(s->arch, T_ATTN_Q_NORM) && s->qk_norm > 0)) {
		NORM(p, (uint64_t)s->head_dim, T_ATTN_Q_NORM);
		NORM(p, (uint64_t)s->head_dim, T_ATTN_K_NORM);
	}
}

/* Multi-head latent attention in the absorbed layout current converters
 * write: per-head attn_k_b (nope x kv_lora) and attn_v_b. */
static void plan_mla(const struct synth *s, struct plan *p, int64_t l)
{
	uint64_t E = (uint64_t)s->embd, H = (uint64_t)s->heads, hd = (uint64_t)s->head_dim;
	uint64_t rope = (uint64_t)s->rope_dim, nope = hd - rope, r = (uint64_t)s->kv_lora;
	uint64_t vd = (uint64_t)s->v_head_dim, qr = (uint64_t)s->q_lora;
	if (qr) {
		MAT(p, C_ATTN, E, qr, T_MLA_Q_A);
		NORM(p, qr, T_MLA_Q_A_NORM);
		MAT(p, C_ATTN, qr, H * hd, T_MLA_Q_B);
	} else {
		MAT(p, C_ATTN, E, H * hd, T_ATTN_Q);
	}
	MAT(p, C_ATTN, E, r + rope, T_MLA_KV_A_MQA);
	NORM(p, r, T_MLA_KV_A_NORM);
	EXPS(p, C_ATTN, nope, r, H, T_MLA_K_B);
	EXPS(p, C_ATTN, r, vd, H, T_MLA_V_B);
	MAT(p, C_ATTN, H * vd, E, T_ATTN_OUT);
}

static void plan_ffn(const struct synth *s, struct plan *p, int64_t l)
{
	uint64_t E = (uint64_t)s->embd;
	if (!is_moe(s) || l < s->dense_lead) {
		uint64_t F = (uint64_t)s->ff;
		MAT(p, C_DENSE, E, F, T_FFN_GATE);
		MAT(p, C_DENSE, E, F, T_FFN_UP);
		MAT(p, C_DENSE, F, E, T_FFN_DOWN);
		return;
	}
	uint64_t X = (uint64_t)s->experts, F = (uint64_t)s->expert_ff;
	/* the router stays F32; a wider spread than the other weights makes
	 * the top-k choice decisive */
	add(p, C_F32, 0, 2 / sqrt((double)E), 2, E, X, 1, T_ROUTER, l);
	if (writes(s, T_ROUTER_B))
		BIAS(p, X, T_ROUTER_B);
	if (s->sigmoid > 0 && arch_tensor_present(s->arch, T_EXP_PROBS_B)) /* selection-only bias of sigmoid routers */
		add(p, C_F32, 0, 0.05, 1, X, 1, 1, T_EXP_PROBS_B, l);
	EXPS(p, C_EXPERTS, E, F, X, T_GATE_EXPS);
	EXPS(p, C_EXPERTS, E, F, X, T_UP_EXPS);
	EXPS(p, C_EXPERTS_DOWN, F, E, X, T_DOWN_EXPS);
	if (writes(s, T_GATE_EXPS_B)) {
		add(p, C_F32, 0, 0.1, 2, F, X, 1, T_GATE_EXPS_B, l);
		add(p, C_F32, 0, 0.1, 2, F, X, 1, T_UP_EXPS_B, l);
		add(p, C_F32, 0, 0.1, 2, E, X, 1, T_DOWN_EXPS_B, l);
	}
	if (s->shared > 0) {
		uint64_t S = F * (uint64_t)s->shared;
		MAT(p, C_SHEXP, E, S, T_GATE_SHEXP);
		MAT(p, C_SHEXP, E, S, T_UP_SHEXP);
		MAT(p, C_SHEXP, S, E, T_DOWN_SHEXP);
	}
}

static void plan_layer(const struct synth *s, struct plan *p, int64_t l)
{
	uint64_t E = (uint64_t)s->embd;
	NORM(p, E, T_ATTN_NORM);
	if (arch_has(s->arch, AF_MLA))
		plan_mla(s, p, l);
	else
		plan_attn(s, p, l);
	NORM(p, E, T_FFN_NORM);
	plan_ffn(s, p, l);
	if (l >= s->layers) { /* GLM's next-token-prediction layer: carried, never run */
		MAT(p, C_DENSE, 2 * E, E, T_NEXTN_EH_PROJ);
		NORM(p, E, T_NEXTN_ENORM);
		NORM(p, E, T_NEXTN_HNORM);
		NORM(p, E, T_NEXTN_SHARED_HEAD_NORM);
	}
}

static void plan_model(const struct synth *s, struct plan *p)
{
	uint64_t E = (uint64_t)s->embd, V = (uint64_t)s->vocab;
	int64_t l = -1;
	p->s = s;
	add(p, C_EMBD, 0, 1.0, 2, E, V, 1, T_TOKEN_EMBD, l);
	for (l = 0; l < s->layers + s->nextn; l++)
		plan_layer(s, p, l);
	l = -1;
	NORM(p, E, T_OUTPUT_NORM);
	add(p, C_OUTPUT, 0, 2 / sqrt((double)E), 2, E, V, 1, T_OUTPUT, l);
}

static uint64_t tensor_bytes(const struct tspec *t)
{
	return qtype_row_bytes(t->type, t->ne[0]) * t->ne[1] * t->ne[2];
}

/* Spread tensors over the parts by bytes, every part getting at least one
 * tensor, in file order (as gguf-split does). */
static void plan_split(struct plan *p, uint32_t n_parts)
{
	uint64_t total = 0, cum = 0;
	for (size_t i = 0; i < p->n; i++)
		total += tensor_bytes(&p->t[i]);
	int64_t prev = -1;
	for (size_t i = 0; i < p->n; i++) {
		int64_t k = total ? (int64_t)((double)cum / (double)total * n_parts) : 0;
		int64_t lo = (int64_t)n_parts - (int64_t)(p->n - i);
		k = MAX(k, lo);
		k = MIN(k, prev + 1);
		k = MIN(k, (int64_t)n_parts - 1);
		p->t[i].part = (uint32_t)k;
		prev = k;
		cum += tensor_bytes(&p->t[i]);
	}
}

/* ---- metadata ---- */

/* GPT-2's byte-to-unicode map: printable bytes stand for themselves, the
 * rest are moved to U+0100 and up, so every byte is a visible token. */
static size_t byte_token(unsigned b, char out[4])
{
	unsigned cp = b;
	if (!((b >= 33 && b <= 126) || (b >= 161 && b <= 172) || b >= 174)) {
		unsigned n = 0;
		for (unsigned c = 0; c < b; c++)
			if (!((c >= 33 && c <= 126) || (c >= 161 && c <= 172) || c >= 174))
				n++;
		cp = 256 + n;
	}
	if (cp < 0x80) {
		out[0] = (char)cp;
		return 1;
	}
	out[0] = (char)(0xc0 | cp >> 6);
	out[1] = (char)(0x80 | (cp & 0x3f));
	return 2;
}

static const char *const specials[] = {"<|endoftext|>", "<|im_start|>", "<|im_end|>"};

static const char chatml_template[] =
	"{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + "
	"message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}"
	"{{ '<|im_start|>assistant\\n' }}{% endif %}";

/* A byte-level BPE vocabulary without merges: ids 0..255 are the bytes,
 * then ChatML's control tokens, then unused padding up to --vocab. Any text
 * tokenizes (one token per byte) and chat templates work. Too small a
 * --vocab gets "no_vocab", as llama.cpp's own synthetic models do. */
static void write_min_vocab(const struct synth *s, struct gguf_writer *w)
{
	size_t n = (size_t)s->vocab, nspec = ARRAY_LEN(specials);
	if (n < 256 + nspec) {
		gguf_writer_kv_str(w, "tokenizer.ggml.model", "no_vocab");
		return;
	}
	char **tok = xcalloc(n, sizeof(*tok));
	int32_t *type = xcalloc(n, sizeof(*type));
	for (size_t i = 0; i < n; i++) {
		char b[32];
		size_t len;
		if (i < 256) {
			len = byte_token((unsigned)i, b);
			type[i] = 1; /* NORMAL */
		} else if (i < 256 + nspec) {
			len = (size_t)snprintf(b, sizeof b, "%s", specials[i - 256]);
			type[i] = 3; /* CONTROL */
		} else {
			len = (size_t)snprintf(b, sizeof b, "[PAD%zu]", i);
			type[i] = 5; /* UNUSED */
		}
		tok[i] = xstrndup(b, len);
	}
	gguf_writer_kv_str(w, "tokenizer.ggml.model", "gpt2");
	gguf_writer_kv_str(w, "tokenizer.ggml.pre", s->arch->tokenizer_pre);
	gguf_writer_kv_arr_str(w, "tokenizer.ggml.tokens", (const char *const *)tok, NULL, n);
	gguf_writer_kv_arr(w, "tokenizer.ggml.token_type", GGUF_INT32, type, n);
	gguf_writer_kv_arr_str(w, "tokenizer.ggml.merges", NULL, NULL, 0);
	gguf_writer_kv_u32(w, "tokenizer.ggml.bos_token_id", 256);
	gguf_writer_kv_u32(w, "tokenizer.ggml.eos_token_id", 258);
	gguf_writer_kv_u32(w, "tokenizer.ggml.padding_token_id", 256);
	gguf_writer_kv_bool(w, "tokenizer.ggml.add_bos_token", false);
	gguf_writer_kv_str(w, "tokenizer.chat_template", chatml_template);
	for (size_t i = 0; i < n; i++)
		free(tok[i]);
	free(tok);
	free(type);
}

/* Copy every tokenizer.* key of a vocabulary GGUF. */
static void copy_vocab(const struct gguf *v, struct gguf_writer *w)
{
	for (size_t i = 0; i < v->n_kv; i++)
		if (!strncmp(v->kv[i].key, "tokenizer.", 10))
			gguf_writer_kv_value(w, v->kv[i].key, &v->kv[i].val);
}

/* llama.cpp's file type (LLAMA_FTYPE_MOSTLY_*) named after the bulk type. */
static uint32_t file_type(uint32_t type)
{
	int ft = qtype_get(type)->ftype;
	return ft >= 0 ? (uint32_t)ft : 1;
}

static void write_rope_scaling(const struct synth *s, struct gguf_writer *w, char *key, size_t kn)
{
	const char *a = s->arch->gguf_name;
#define K(suffix) (snprintf(key, kn, "%s." suffix, a), key)
	if (s->rope_scaling == RS_NONE)
		return;
	gguf_writer_kv_str(w, K("rope.scaling.type"), s->rope_scaling == RS_YARN ? "yarn" : "linear");
	gguf_writer_kv_f32(w, K("rope.scaling.factor"), (float)s->rope_factor);
	if (s->rope_scaling == RS_YARN) {
		gguf_writer_kv_u32(w, K("rope.scaling.original_context_length"), (uint32_t)s->rope_orig_ctx);
		if (!isnan(s->yarn_log_mul))
			gguf_writer_kv_f32(w, K("rope.scaling.yarn_log_multiplier"), (float)s->yarn_log_mul);
	}
#undef K
}

/* The MoE keys of deepseek2 and glm4moe (as their converters write them). */
static void write_moe_extras(const struct synth *s, struct gguf_writer *w, char *key, size_t kn)
{
	const char *a = s->arch->gguf_name;
#define K(suffix) (snprintf(key, kn, "%s." suffix, a), key)
	gguf_writer_kv_u32(w, K("leading_dense_block_count"), (uint32_t)s->dense_lead);
	gguf_writer_kv_u32(w, K("expert_shared_count"), (uint32_t)s->shared);
	gguf_writer_kv_f32(w, K("expert_weights_scale"), (float)s->expert_scale);
	gguf_writer_kv_bool(w, K("expert_weights_norm"), true);
	gguf_writer_kv_u32(w, K("expert_gating_func"), s->sigmoid > 0 ? 2 : 1);
	gguf_writer_kv_u32(w, K("expert_group_count"), (uint32_t)s->groups);
	gguf_writer_kv_u32(w, K("expert_group_used_count"), (uint32_t)s->group_used);
	if (arch_has(s->arch, AF_NEXTN))
		gguf_writer_kv_u32(w, K("nextn_predict_layers"), (uint32_t)s->nextn);
#undef K
}

static void write_metadata(const struct synth *s, struct gguf_writer *w, const struct gguf *vocab)
{
	char key[128];
	const char *a = s->arch->gguf_name;
	bool mla = arch_has(s->arch, AF_MLA);
#define K(suffix) (snprintf(key, sizeof key, "%s." suffix, a), key)
	gguf_writer_kv_str(w, "general.architecture", a);
	gguf_writer_kv_str(w, "general.name", s->name);
	gguf_writer_kv_u32(w, K("vocab_size"), (uint32_t)s->vocab);
	gguf_writer_kv_u32(w, K("context_length"), (uint32_t)s->ctx);
	gguf_writer_kv_u32(w, K("embedding_length"), (uint32_t)s->embd);
	gguf_writer_kv_u32(w, K("block_count"), (uint32_t)(s->layers + s->nextn));
	/* Mixtral's converter calls the expert width feed_forward_length, and
	 * gpt-oss's intermediate_size is its expert width */
	bool ff_is_exp = is_moe(s) && (arch_has(s->arch, AF_EXPERT_FF_IS_FF) || arch_has(s->arch, AF_NO_DENSE_FFN));
	gguf_writer_kv_u32(w, K("feed_forward_length"), (uint32_t)(ff_is_exp ? s->expert_ff : s->ff));
	if (is_moe(s)) {
		if (!arch_has(s->arch, AF_EXPERT_FF_IS_FF))
			gguf_writer_kv_u32(w, K("expert_feed_forward_length"), (uint32_t)s->expert_ff);
		gguf_writer_kv_u32(w, K("expert_count"), (uint32_t)s->experts);
		gguf_writer_kv_u32(w, K("expert_used_count"), (uint32_t)s->experts_used);
	}
	if (arch_has(s->arch, AF_MOE_EXTRAS))
		write_moe_extras(s, w, key, sizeof key);
	gguf_writer_kv_u32(w, K("attention.head_count"), (uint32_t)s->heads);
	/* MLA is stored as one latent KV head of kv_lora + rope dims */
	gguf_writer_kv_u32(w, K("attention.head_count_kv"), (uint32_t)(mla ? 1 : s->kv_heads));
	gguf_writer_kv_u32(w, K("attention.key_length"), (uint32_t)(mla ? s->kv_lora + s->rope_dim : s->head_dim));
	gguf_writer_kv_u32(w, K("attention.value_length"), (uint32_t)(mla ? s->kv_lora : s->head_dim));
	if (mla) {
		if (s->q_lora > 0)
			gguf_writer_kv_u32(w, K("attention.q_lora_rank"), (uint32_t)s->q_lora);
		gguf_writer_kv_u32(w, K("attention.kv_lora_rank"), (uint32_t)s->kv_lora);
		gguf_writer_kv_u32(w, K("attention.key_length_mla"), (uint32_t)s->head_dim);
		gguf_writer_kv_u32(w, K("attention.value_length_mla"), (uint32_t)s->v_head_dim);
	}
	if (arch_has(s->arch, AF_SWA))
		gguf_writer_kv_u32(w, K("attention.sliding_window"), (uint32_t)s->swa);
	gguf_writer_kv_f32(w, K("attention.layer_norm_rms_epsilon"), (float)s->rms_eps);
	gguf_writer_kv_u32(w, K("rope.dimension_count"), (uint32_t)s->rope_dim);
	gguf_writer_kv_f32(w, K("rope.freq_base"), (float)s->rope_base);
	write_rope_scaling(s, w, key, sizeof key);
#undef K
	if (vocab)
		copy_vocab(vocab, w);
	else
		write_min_vocab(s, w);
	gguf_writer_kv_u32(w, "general.quantization_version", 2);
	gguf_writer_kv_u32(w, "general.file_type", file_type(s->types[is_moe(s) ? C_EXPERTS : C_DENSE]));
}

/* ---- tensor data ---- */

/* Chunk buffers, and progress on a terminal (a 30 GB write takes minutes). */
struct scratch {
	float *f;
	uint8_t *q;
	bool tty;
	uint64_t done, total;
	double start, last;
};

static void progress(struct scratch *sc, uint64_t n)
{
	sc->done += n;
	if (!sc->tty)
		return;
	double now = now_sec();
	if (now - sc->last < 0.5 && sc->done < sc->total)
		return;
	sc->last = now;
	char b1[32], b2[32];
	fprintf(stderr, "\r%s: %s of %s (%.0f%%), %.0f MB/s   ", heft_progname,
		fmt_bytes(b1, sizeof b1, sc->done), fmt_bytes(b2, sizeof b2, sc->total),
		sc->total ? 100.0 * (double)sc->done / (double)sc->total : 100.0,
		(double)sc->done / 1e6 / MAX(now - sc->start, 1e-3));
}

static int write_tensor(const struct tspec *t, uint64_t seed, struct gguf_writer *w, struct scratch *sc)
{
	struct synth_rng r;
	synth_rng_seed(&r, seed, t->name);
	uint64_t rows = t->ne[1] * t->ne[2] * t->ne[3], ne0 = t->ne[0];
	uint64_t row_bytes = qtype_row_bytes(t->type, ne0);
	/* whole rows per chunk so that blocks never straddle chunks */
	uint64_t chunk_rows = MAX((uint64_t)1, CHUNK_ELEMS / ne0);
	for (uint64_t r0 = 0; r0 < rows; r0 += chunk_rows) {
		uint64_t nr = MIN(chunk_rows, rows - r0);
		synth_fill(t->type, &r, sc->q, sc->f, nr * ne0, t->centre, t->std);
		if (gguf_writer_data(w, sc->q, nr * row_bytes) < 0)
			return -1;
		progress(sc, nr * row_bytes);
	}
	return 0;
}

static char *part_path(const char *out, uint32_t k, uint32_t n)
{
	size_t len = strlen(out);
	if (len > 5 && !strcmp(out + len - 5, ".gguf"))
		len -= 5;
	char *p;
	xasprintf(&p, "%.*s-%05u-of-%05u.gguf", (int)len, out, k + 1, n);
	return p;
}

/* Write one file: part k of n (n = 1: no split keys). */
static int write_part(const struct synth *s, const struct plan *p, uint32_t k, uint32_t n,
		      const struct gguf *vocab, struct scratch *sc, uint64_t *bytes)
{
	char *path = n > 1 ? part_path(s->out, k, n) : xstrdup(s->out);
	struct gguf_writer *w = gguf_writer_new();
	if (n > 1) {
		gguf_writer_kv_u16(w, "split.no", (uint16_t)k);
		gguf_writer_kv_u16(w, "split.count", (uint16_t)n);
		gguf_writer_kv_i32(w, "split.tensors.count", (int32_t)p->n);
	}
	if (k == 0)
		write_metadata(s, w, vocab);
	for (size_t i = 0; i < p->n; i++)
		if (p->t[i].part == k && gguf_writer_add_tensor(w, p->t[i].name, p->t[i].type,
								p->t[i].n_dims, p->t[i].ne) < 0)
			die("%s: cannot add tensor %s: %s", path, p->t[i].name, strerror(errno));
	int rc = gguf_writer_begin(w, path);
	for (size_t i = 0; rc == 0 && !s->sparse && i < p->n; i++)
		if (p->t[i].part == k)
			rc = write_tensor(&p->t[i], s->seed, w, sc);
	if (rc == 0)
		rc = s->sparse ? gguf_writer_finish_sparse(w) : gguf_writer_finish(w);
	if (rc < 0)
		warn_errno("%s", path);
	else
		*bytes += gguf_writer_file_size(w);
	if (rc == 0 && !s->quiet) /* on a terminal, over the progress line */
		fprintf(stderr, "%s%s: wrote %s%s\n", sc->tty ? "\r\033[K" : "", heft_progname, path,
			s->sparse ? " (sparse: tensor data is a hole)" : "");
	gguf_writer_free(w);
	free(path);
	return rc;
}

/* --dry-run: what the file would hold, by class and by type. */
static void print_plan(const struct synth *s, const struct plan *p)
{
	uint64_t by_class[C_COUNT + 1] = {0}, by_type[GGML_TYPE_COUNT] = {0}, total = 0, experts = 0;
	for (size_t i = 0; i < p->n; i++) {
		uint64_t b = tensor_bytes(&p->t[i]);
		by_class[p->t[i].cls] += b;
		by_type[p->t[i].type] += b;
		total += b;
		if (p->t[i].role >= T_GATE_EXPS && p->t[i].role <= T_DOWN_EXPS_B)
			experts += b;
	}
	char b1[32], b2[32], b3[32];
	printf("%s, %" PRId64 " layers: %zu tensors, %s of data (%" PRIu64 " bytes)\n",
	       s->arch->name, s->layers + s->nextn, p->n, fmt_bytes(b1, sizeof b1, total), total);
	printf("  dense %s, experts %s\n", fmt_bytes(b2, sizeof b2, total - experts),
	       fmt_bytes(b3, sizeof b3, experts));
	for (int c = 0; c <= C_COUNT; c++)
		if (by_class[c])
			printf("  %-12s %-8s %s\n", c == C_COUNT ? "F32 vectors" : class_names[c],
			       qtype_get(c == C_COUNT ? GGML_F32 : s->types[c])->name, fmt_bytes(b1, sizeof b1, by_class[c]));
	for (uint32_t t = 0; t < GGML_TYPE_COUNT; t++)
		if (by_type[t])
			printf("  type %-8s %s\n", qtype_get(t)->name, fmt_bytes(b1, sizeof b1, by_type[t]));
}

/* ---- options ---- */

enum okind { OK_INT, OK_F64, OK_TYPE, OK_SPECIAL };

/* Every long option; the index in this table is getopt's val - 256. */
static const struct opt {
	const char *name;
	enum okind kind;
	size_t off;
} opts[] = {
	{"embd", OK_INT, OFF(embd)},
	{"layers", OK_INT, OFF(layers)},
	{"heads", OK_INT, OFF(heads)},
	{"kv-heads", OK_INT, OFF(kv_heads)},
	{"head-dim", OK_INT, OFF(head_dim)},
	{"rope-dim", OK_INT, OFF(rope_dim)},
	{"v-head-dim", OK_INT, OFF(v_head_dim)},
	{"ff", OK_INT, OFF(ff)},
	{"experts", OK_INT, OFF(experts)},
	{"experts-used", OK_INT, OFF(experts_used)},
	{"expert-ff", OK_INT, OFF(expert_ff)},
	{"shared-experts", OK_INT, OFF(shared)},
	{"dense-lead", OK_INT, OFF(dense_lead)},
	{"expert-groups", OK_INT, OFF(groups)},
	{"group-used", OK_INT, OFF(group_used)},
	{"q-lora-rank", OK_INT, OFF(q_lora)},
	{"kv-lora-rank", OK_INT, OFF(kv_lora)},
	{"nextn", OK_INT, OFF(nextn)},
	{"swa", OK_INT, OFF(swa)},
	{"vocab", OK_INT, OFF(vocab)},
	{"ctx", OK_INT, OFF(ctx)},
	{"rope-orig-ctx", OK_INT, OFF(rope_orig_ctx)},
	{"split", OK_INT, OFF(split)},
	{"rope-base", OK_F64, OFF(rope_base)},
	{"rope-factor", OK_F64, OFF(rope_factor)},
	{"yarn-log-mul", OK_F64, OFF(yarn_log_mul)},
	{"expert-scale", OK_F64, OFF(expert_scale)},
	{"rms-eps", OK_F64, OFF(rms_eps)},
	{"type", OK_TYPE, OFF(type)},
	{"type-embd", OK_TYPE, OFF(types[C_EMBD])},
	{"type-output", OK_TYPE, OFF(types[C_OUTPUT])},
	{"type-attn", OK_TYPE, OFF(types[C_ATTN])},
	{"type-dense", OK_TYPE, OFF(types[C_DENSE])},
	{"type-shexp", OK_TYPE, OFF(types[C_SHEXP])},
	{"type-experts", OK_TYPE, OFF(types[C_EXPERTS])},
	{"type-experts-down", OK_TYPE, OFF(types[C_EXPERTS_DOWN])},
	{"arch", OK_SPECIAL, 0},
	{"like", OK_SPECIAL, 0},
	{"preset", OK_SPECIAL, 0},
	{"gating", OK_SPECIAL, 0},
	{"rope-scaling", OK_SPECIAL, 0},
	{"qk-norm", OK_SPECIAL, 0},
	{"seed", OK_SPECIAL, 0},
	{"vocab-from", OK_SPECIAL, 0},
	{"name", OK_SPECIAL, 0},
	{"dry-run", OK_SPECIAL, 0},
	{"sparse", OK_SPECIAL, 0},
};

static bool parse_type(const char *s, uint32_t *out)
{
	return qtype_by_name(s, out) && synth_type_ok(*out);
}

static int index_of(const char *const *names, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(s, names[i]))
			return (int)i;
	return -1;
}

/* The options without a field of their own. */
static bool parse_special(struct synth *s, const char *name, const char *v)
{
	static const char *const scalings[] = {"none", "linear", "yarn"};
	static const char *const gatings[] = {"softmax", "sigmoid"};
	int64_t n;
	if (!strcmp(name, "arch"))
		return (s->arch = arch_find(v)) != NULL;
	if (!strcmp(name, "gating"))
		return (s->sigmoid = index_of(gatings, 2, v)) >= 0;
	if (!strcmp(name, "rope-scaling"))
		return (s->rope_scaling = index_of(scalings, 3, v)) >= 0;
	if (!strcmp(name, "seed")) {
		if (!parse_i64(v, 0, INT64_MAX, &n))
			return false;
		s->seed = (uint64_t)n;
	} else if (!strcmp(name, "qk-norm")) {
		s->qk_norm = 1;
	} else if (!strcmp(name, "dry-run")) {
		s->dry_run = true;
	} else if (!strcmp(name, "sparse")) {
		s->sparse = true;
	} else {
		const char **dst = !strcmp(name, "like") ? &s->like : !strcmp(name, "preset") ? &s->preset
				 : !strcmp(name, "vocab-from") ? &s->vocab_from : &s->name;
		*dst = v;
	}
	return true;
}

size_t synth_n_options(void)
{
	return ARRAY_LEN(opts);
}

const char *synth_option(size_t i, bool *has_arg)
{
	*has_arg = strcmp(opts[i].name, "qk-norm") && strcmp(opts[i].name, "dry-run") && strcmp(opts[i].name, "sparse");
	return opts[i].name;
}

bool synth_set(struct synth *s, size_t i, const char *v)
{
	const struct opt *o = &opts[i];
	int64_t n;
	double d;
	bool ok;
	switch (o->kind) {
	case OK_INT:
		ok = parse_i64(v, 0, (int64_t)1 << 30, &n);
		if (ok)
			I64(s, o->off) = n;
		break;
	case OK_F64:
		ok = parse_f64(v, &d) && d >= 0 && isfinite(d);
		if (ok)
			F64(s, o->off) = d;
		break;
	case OK_TYPE:
		ok = parse_type(v, (uint32_t *)((char *)s + o->off));
		break;
	default:
		ok = parse_special(s, o->name, v);
		break;
	}
	if (!ok)
		warnx_("synth: bad value '%s' for --%s%s", v, o->name,
		       o->kind == OK_TYPE ? " (the types are listed by --help)" : "");
	return ok;
}

#define DEF(field, value)                       \
	do {                                    \
		if (s->field < 0)               \
			s->field = (value);     \
	} while (0)
#define DEFF(field, value)                      \
	do {                                    \
		if (isnan(s->field))            \
			s->field = (value);     \
	} while (0)

static void defaults(struct synth *s)
{
	const struct arch_synth *d = &s->arch->synth;
	bool mla = arch_has(s->arch, AF_MLA), extras = arch_has(s->arch, AF_MOE_EXTRAS);
	DEF(embd, 256);
	DEF(layers, d->layers);
	DEF(heads, 4);
	DEF(kv_heads, mla ? 1 : s->heads >= 2 ? s->heads / 2 : 1);
	DEF(head_dim, d->head_dim ? d->head_dim : s->heads ? s->embd / s->heads : 0);
	DEF(rope_dim, d->rope_part > 1 ? MAX(2, s->head_dim / d->rope_part / 2 * 2) : s->head_dim);
	DEF(v_head_dim, mla ? s->head_dim - s->rope_dim : 0);
	DEF(q_lora, d->q_lora);
	DEF(kv_lora, d->kv_lora);
	DEF(ff, d->ff);
	DEF(experts, d->experts);
	DEF(experts_used, s->experts ? 2 : 0);
	DEF(expert_ff, d->expert_ff ? d->expert_ff : s->ff);
	DEF(shared, d->shared);
	DEF(dense_lead, extras && s->layers > 1 ? 1 : 0);
	DEF(groups, extras ? 1 : 0);
	DEF(group_used, s->groups);
	DEF(nextn, 0);
	DEF(swa, d->swa);
	DEF(sigmoid, d->sigmoid ? 1 : 0);
	DEF(qk_norm, 0);
	DEF(vocab, 512);
	DEF(ctx, 4096);
	DEFF(expert_scale, d->expert_scale);
	DEFF(rms_eps, 1e-6);
	DEFF(rope_base, d->rope_base);
	if (s->rope_scaling == RS_UNSET)
		s->rope_scaling = d->yarn ? RS_YARN : RS_NONE;
	DEFF(rope_factor, 4.0);
	DEF(rope_orig_ctx, MAX(1, (int64_t)(s->ctx / s->rope_factor)));
	if (d->yarn_log_mul != 0.0)
		DEFF(yarn_log_mul, d->yarn_log_mul);
	if (!s->name)
		s->name = d->model_name ? d->model_name : "heft synthetic";
}

/* Flags given for an architecture that has no such thing. */
static const char *check_arch_flags(const struct synth *s, const struct synth *given)
{
	const struct arch *a = s->arch;
	bool mla = arch_has(a, AF_MLA), extras = arch_has(a, AF_MOE_EXTRAS);
	if (!mla && (given->q_lora >= 0 || given->kv_lora >= 0 || given->v_head_dim >= 0))
		return "--q-lora-rank, --kv-lora-rank and --v-head-dim need --arch deepseek2";
	if (!extras && (given->dense_lead >= 0 || given->shared >= 0 || given->groups >= 0 ||
			    given->group_used >= 0 || !isnan(given->expert_scale) || given->sigmoid >= 0))
		return "--dense-lead, --shared-experts, --expert-groups, --group-used, --expert-scale and "
		       "--gating need --arch deepseek2 or glm4moe";
	if (!arch_has(a, AF_NEXTN) && given->nextn >= 0)
		return "--nextn needs --arch glm4moe (deepseek2 converters drop the MTP layers)";
	if (a->t[T_ATTN_Q_NORM].presence != TP_ACCEPTED && given->qk_norm > 0)
		return "--qk-norm needs --arch glm4moe (qwen3 always has it, the others never)";
	if (a->t[T_EXP_PROBS_B].presence == TP_REQUIRED && given->sigmoid == 0) {
		static char msg[128];
		snprintf(msg, sizeof msg, "%s routes with sigmoid scores (--gating softmax is not a %s model)", a->name,
			 a->name);
		return msg;
	}
	if (!arch_has(a, AF_SWA) && given->swa >= 0)
		return "--swa needs --arch gpt-oss";
	if (arch_has(a, AF_NO_DENSE_FFN) && given->ff >= 0)
		return "--ff does not apply to gpt-oss (no dense FFN; --expert-ff sets the experts)";
	if (mla && given->kv_heads >= 0 && given->kv_heads != 1)
		return "--kv-heads does not apply to deepseek2 (MLA stores one latent KV head)";
	return NULL;
}

static const char *check_moe(const struct synth *s)
{
	bool moe_arch = arch_has(s->arch, AF_MOE);
	if (moe_arch && (s->experts < 1 || s->experts_used < 1 || s->experts_used > s->experts ||
			 s->expert_ff < 1))
		return "a MoE model needs --experts >= --experts-used >= 1 and --expert-ff >= 1";
	if (!moe_arch && s->experts > 0) {
		static char msg[256];
		char names[192];
		snprintf(msg, sizeof msg, "--experts needs a MoE architecture (%s)",
			 arch_names(names, sizeof names, AF_MOE, ", "));
		return msg;
	}
	if (s->dense_lead >= s->layers && s->dense_lead > 0)
		return "--dense-lead must be below --layers (it would leave no MoE layer)";
	if (s->groups > 1) {
		if (s->experts % s->groups || s->experts / s->groups < 2)
			return "--expert-groups must split --experts into groups of at least 2";
		if (s->group_used < 1 || s->group_used > s->groups ||
		    s->group_used * (s->experts / s->groups) < s->experts_used)
			return "--group-used must be in 1..--expert-groups and keep at least --experts-used experts";
	} else if (s->groups == 1 && s->group_used != 1) {
		return "--group-used needs --expert-groups above 1";
	}
	if (s->nextn > 16)
		return "--nextn is out of range (0..16)";
	if (!(s->expert_scale > 0))
		return "--expert-scale must be positive";
	return NULL;
}

static const char *check_attn(const struct synth *s, const struct synth *given)
{
	if (arch_has(s->arch, AF_MLA)) {
		if (s->kv_lora < 1)
			return "--kv-lora-rank must be positive";
		if (s->rope_dim >= s->head_dim)
			return "deepseek2 needs --rope-dim below --head-dim (MLA keeps non-rotary dims)";
		if (s->v_head_dim < 1)
			return "--v-head-dim must be positive";
		if (s->q_lora > ROW_MAX || s->kv_lora > ROW_MAX || s->heads * s->v_head_dim > ROW_MAX)
			return "a size is out of range (rows up to 1048576 elements)";
	} else if (s->heads % s->kv_heads) {
		return "--heads must be a multiple of --kv-heads";
	}
	if (s->rope_dim < 2 || s->rope_dim > s->head_dim || s->rope_dim % 2)
		return "--rope-dim must be even and in 2..--head-dim";
	if (s->rope_scaling == RS_NONE && (!isnan(given->rope_factor) || given->rope_orig_ctx >= 0 ||
					   !isnan(given->yarn_log_mul)))
		return "--rope-factor, --rope-orig-ctx and --yarn-log-mul need --rope-scaling linear or yarn";
	if (s->rope_scaling == RS_LINEAR && (given->rope_orig_ctx >= 0 || !isnan(given->yarn_log_mul)))
		return "--rope-orig-ctx and --yarn-log-mul need --rope-scaling yarn";
	if (s->rope_scaling != RS_NONE && !(s->rope_factor > 0))
		return "--rope-factor must be positive";
	if (s->rope_scaling == RS_YARN && s->rope_orig_ctx < 1)
		return "--rope-orig-ctx must be positive";
	if (arch_has(s->arch, AF_SWA) && s->swa < 1)
		return "gpt-oss needs a sliding window (--swa N, N >= 1)";
	if (!(s->rms_eps > 0) || !(s->rope_base > 0))
		return "--rms-eps and --rope-base must be positive";
	return NULL;
}

static const char *check(const struct synth *s, const struct synth *given)
{
	if (!s->out && !s->dry_run)
		return "-o FILE is required";
	const char *why = check_arch_flags(s, given);
	if (why)
		return why;
	if (s->embd < 1 || s->layers < 1 || s->heads < 1 || s->kv_heads < 1 || s->head_dim < 1 ||
	    s->ff < 1 || s->vocab < 1 || s->ctx < 1)
		return "sizes must be positive";
	/* bounds that keep the writer's memory at a few MB (a row is generated
	 * whole) while staying far above any real model's */
	if (s->embd > ROW_MAX || s->ff > ROW_MAX || s->expert_ff * MAX(s->shared, 1) > ROW_MAX ||
	    s->heads * s->head_dim > ROW_MAX || s->layers > 65536 || s->experts > 65536 ||
	    s->vocab > VOCAB_MAX || s->ctx > UINT32_MAX)
		return "a size is out of range (rows up to 1048576 elements, vocab up to 4194304)";
	if ((why = check_moe(s)) || (why = check_attn(s, given)))
		return why;
	if (s->split < 1 || s->split > 9999)
		return "--split must be in 1..9999";
	return NULL;
}

/* A --type-CLASS for a class the model has no tensor of says the command
 * line is not what was meant. */
static const char *check_classes(const struct synth *s, const struct plan *p)
{
	static char msg[128];
	for (int c = 0; c < C_COUNT; c++) {
		if (!s->explicit_type[c])
			continue;
		size_t i;
		for (i = 0; i < p->n && p->t[i].cls != c; i++)
			;
		if (i == p->n) {
			snprintf(msg, sizeof msg, "--type-%s: this %s model has no %s tensors", class_names[c],
				 s->arch->name, class_desc[c]);
			return msg;
		}
	}
	return NULL;
}

/* Vocabulary size from the token list of a --vocab-from file. */
static int vocab_size_of(const struct gguf *v, const char *path, int64_t *out)
{
	const struct gguf_value *t = gguf_get_arr(v, "tokenizer.ggml.tokens", GGUF_STRING);
	if (!t || t->arr.n == 0 || t->arr.n > (uint64_t)VOCAB_MAX) {
		warnx_("%s: no tokenizer.ggml.tokens array of strings", path);
		return -1;
	}
	*out = (int64_t)t->arr.n;
	return 0;
}

static int write_model(const struct synth *s, struct plan *p, const struct gguf *vocab)
{
	if ((size_t)s->split > p->n) {
		warnx_("synth: --split %" PRId64 " is more than the %zu tensors", s->split, p->n);
		return 2;
	}
	plan_split(p, (uint32_t)s->split);
	/* a chunk is whole rows: at least one, however long */
	size_t max_elems = CHUNK_ELEMS;
	for (size_t i = 0; i < p->n; i++)
		max_elems = MAX(max_elems, (size_t)p->t[i].ne[0]);
	struct scratch sc = {.f = xreallocarray(NULL, max_elems, sizeof(float)),
			     .q = xreallocarray(NULL, max_elems, sizeof(float))};
	double t0 = now_sec();
	uint64_t bytes = 0;
	int rc = 0;
	sc.tty = !s->quiet && isatty(2);
	sc.start = sc.last = t0;
	for (size_t i = 0; i < p->n; i++)
		sc.total += tensor_bytes(&p->t[i]);
	for (uint32_t k = 0; rc == 0 && k < (uint32_t)s->split; k++)
		if (write_part(s, p, k, (uint32_t)s->split, vocab, &sc, &bytes) < 0)
			rc = 1;
	double dt = now_sec() - t0;
	if (rc == 0 && !s->quiet) {
		char b[32];
		if (s->sparse)
			fprintf(stderr, "%s: %zu tensors, %s apparent size, header only\n", heft_progname, p->n,
				fmt_bytes(b, sizeof b, bytes));
		else
			fprintf(stderr, "%s: %zu tensors, %s in %.1f s (%.0f MB/s)\n", heft_progname, p->n,
				fmt_bytes(b, sizeof b, bytes), dt, (double)bytes / 1e6 / (dt > 0 ? dt : 1e-9));
	}
	free(sc.f);
	free(sc.q);
	return rc;
}

struct synth *synth_new(void)
{
	struct synth *s = xmalloc(sizeof *s);
	*s = (struct synth){.arch = NULL, .embd = -1, .layers = -1, .heads = -1, .kv_heads = -1, .head_dim = -1,
			  .rope_dim = -1, .v_head_dim = -1, .ff = -1, .experts = -1, .experts_used = -1,
			  .expert_ff = -1, .shared = -1, .dense_lead = -1, .groups = -1, .group_used = -1,
			  .q_lora = -1, .kv_lora = -1, .nextn = -1, .swa = -1, .vocab = -1, .ctx = -1,
			  .rope_orig_ctx = -1, .split = 1, .qk_norm = -1, .sigmoid = -1, .rope_base = NAN,
			  .rope_factor = NAN, .yarn_log_mul = NAN, .expert_scale = NAN, .rms_eps = NAN,
			  .rope_scaling = RS_UNSET, .type = GGML_F16, .seed = 1};
	for (int c = 0; c < C_COUNT; c++)
		s->types[c] = TYPE_UNSET;
	return s;
}

void synth_free(struct synth *s)
{
	free(s);
}

int synth_run(const struct synth *sp, const char *out, bool quiet)
{
	struct synth s = *sp; /* filled in by --like and the defaults */
	int rc = 0;
	s.out = out;
	s.quiet = quiet;
	for (int t = 0; t < C_COUNT; t++)
		s.explicit_type[t] = s.types[t] != TYPE_UNSET;
	const struct synth given = s;
	const char *why = NULL;
	if (s.like)
		why = apply_like(&s);
	if (!why && !s.arch)
		s.arch = arch_find("llama");
	if (!why && s.arch->synth.expert_ff == 0 && s.expert_ff < 0 && s.ff >= 0)
		s.expert_ff = s.ff;
	if (!why) {
		defaults(&s);
		why = apply_types(&s);
	}
	if (!why)
		why = check(&s, &given);
	if (why) {
		warnx_("synth: %s", why);
		return 2;
	}

	struct gguf *vocab = NULL;
	if (s.vocab_from) {
		struct gguf_error err;
		vocab = gguf_open(s.vocab_from, &err);
		if (!vocab) {
			gguf_error_print(&err);
			return 2;
		}
		if (vocab_size_of(vocab, s.vocab_from, &s.vocab) < 0) {
			gguf_close(vocab);
			return 2;
		}
	}

	struct plan p = {0};
	plan_model(&s, &p);
	if ((why = check_classes(&s, &p))) {
		warnx_("synth: %s", why);
		rc = 2;
	} else if (s.dry_run) {
		print_plan(&s, &p);
	} else {
		rc = write_model(&s, &p, vocab);
	}
	free(p.t);
	gguf_close(vocab);
	return rc;
}
