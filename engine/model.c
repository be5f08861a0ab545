/* model.c - loading a model: hyperparameters and tensors as its architecture row names them, validated. */
#include "model.h"

#include "cpu.h"
#include "forward-mem.h"
#include "kv.h"
#include "quant.h"
#include "rtrace.h"
#include "util.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Load-time state: the model being built, and where the first error went. */
struct loader {
	struct model *m;
	char *err;
	size_t errlen;
	bool failed;
	/* Matrices to fill in once the weights are read. */
	struct bind {
		int handle;
		struct wmat *dst;
	} *binds;
	int n_binds, cap_binds;
};

__attribute__((format(printf, 2, 3))) static void fail(struct loader *L, const char *fmt, ...)
{
	if (L->failed)
		return; /* keep the first error: later ones usually follow from it */
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(L->err, L->errlen, fmt, ap);
	va_end(ap);
	L->failed = true;
}

/* "<arch>.<suffix>"; a few rotating buffers so one message can name two keys. */
static const char *akey(struct loader *L, const char *suffix)
{
	static _Thread_local char keys[4][256];
	static _Thread_local int next;
	char *key = keys[next++ % 4];
	snprintf(key, sizeof keys[0], "%s.%s", L->m->arch_name, suffix);
	return key;
}

/* An integer hyperparameter. Some converters write per-layer arrays (e.g.
 * head counts); those are accepted when all layers agree. */
static int64_t get_int(struct loader *L, const char *suffix, int64_t def, bool required)
{
	if (!arch_hkey(suffix))
		die("model.c: key %s has no range in arch.c's hkeys[]", suffix);
	const char *key = akey(L, suffix);
	const struct gguf_value *v = gguf_get(L->m->g, key);
	if (!v) {
		if (required)
			fail(L, "missing metadata key %s", key);
		return def;
	}
	uint64_t u;
	if (gguf_get_u64(L->m->g, key, &u)) {
		if (u > INT32_MAX) {
			fail(L, "%s = %llu is out of range", key, (unsigned long long)u);
			return def;
		}
		return (int64_t)u;
	}
	if (v->type == GGUF_ARRAY && (v->arr.type == GGUF_UINT32 || v->arr.type == GGUF_INT32) && v->arr.n > 0) {
		const uint32_t *a = v->arr.data;
		for (uint64_t i = 1; i < v->arr.n; i++)
			if (a[i] != a[0]) {
				fail(L, "%s: per-layer values differ; not supported", key);
				return def;
			}
		if (a[0] > INT32_MAX)
			fail(L, "%s = %u is out of range", key, a[0]);
		return a[0];
	}
	fail(L, "metadata key %s has type %s, expected an integer", key, gguf_vtype_name(v->type));
	return def;
}

static double get_float(struct loader *L, const char *suffix, double def, bool required)
{
	if (!arch_hkey(suffix))
		die("model.c: key %s has no range in arch.c's hkeys[]", suffix);
	const char *key = akey(L, suffix);
	double d;
	if (gguf_get_f64(L->m->g, key, &d))
		return d;
	if (gguf_get(L->m->g, key))
		fail(L, "metadata key %s is not a number", key);
	else if (required)
		fail(L, "missing metadata key %s", key);
	return def;
}

/* Element i of an integer value (a scalar, or a per-layer array); false
 * if it is not an integer. */
static bool int_elem(const struct gguf_value *v, uint64_t i, int64_t *out, bool *too_big)
{
	enum gguf_vtype t = v->type == GGUF_ARRAY ? v->arr.type : v->type;
	const void *a = v->type == GGUF_ARRAY ? v->arr.data : NULL;
	uint64_t u;
	*too_big = false;
	switch (t) {
	case GGUF_UINT8: u = a ? ((const uint8_t *)a)[i] : v->u64; break;
	case GGUF_UINT16: u = a ? ((const uint16_t *)a)[i] : v->u64; break;
	case GGUF_UINT32: u = a ? ((const uint32_t *)a)[i] : v->u64; break;
	case GGUF_UINT64: u = a ? ((const uint64_t *)a)[i] : v->u64; break;
	case GGUF_INT8: *out = a ? ((const int8_t *)a)[i] : v->i64; return true;
	case GGUF_INT16: *out = a ? ((const int16_t *)a)[i] : v->i64; return true;
	case GGUF_INT32: *out = a ? ((const int32_t *)a)[i] : v->i64; return true;
	case GGUF_INT64: *out = a ? ((const int64_t *)a)[i] : v->i64; return true;
	default: return false;
	}
	*too_big = u > INT64_MAX;
	*out = *too_big ? INT64_MAX : (int64_t)u;
	return true;
}

static void check_int_key(struct loader *L, const struct hkey *k, const char *key, const struct gguf_value *v)
{
	uint64_t n = v->type == GGUF_ARRAY ? v->arr.n : 1;
	int64_t x;
	bool too_big;
	if (v->type == GGUF_ARRAY && n == 0) {
		fail(L, "%s is an empty array, expected an integer", key);
		return;
	}
	for (uint64_t i = 0; i < n; i++) {
		if (!int_elem(v, i, &x, &too_big)) {
			fail(L, "%s has type %s, expected an integer", key,
			     gguf_vtype_name(v->type == GGUF_ARRAY ? v->arr.type : v->type));
			return;
		}
		if (too_big || x < (int64_t)k->min || x > (int64_t)k->max) {
			char at[32] = "";
			if (v->type == GGUF_ARRAY)
				snprintf(at, sizeof at, "[%llu]", (unsigned long long)i);
			/* only a UINT64 exceeds INT64_MAX */
			uint64_t u = v->type == GGUF_ARRAY ? ((const uint64_t *)v->arr.data)[i] : v->u64;
			char val[32];
			if (too_big)
				snprintf(val, sizeof val, "%llu", (unsigned long long)u);
			else
				snprintf(val, sizeof val, "%lld", (long long)x);
			fail(L, "%s%s = %s: must be in %lld..%lld", key, at, val, (long long)k->min, (long long)k->max);
			return;
		}
	}
}

static void check_float_key(struct loader *L, const struct hkey *k, const char *key, const struct gguf_value *v)
{
	double d;
	if (v->type == GGUF_FLOAT32 || v->type == GGUF_FLOAT64) {
		d = v->f64;
	} else {
		int64_t x;
		bool too_big;
		if (v->type == GGUF_ARRAY || !int_elem(v, 0, &x, &too_big)) {
			fail(L, "%s has type %s, expected a number", key, gguf_vtype_name(v->type));
			return;
		}
		d = too_big ? (double)v->u64 : (double)x;
	}
	if (!isfinite(d) || d < k->min || d > k->max || (k->min_open && d == k->min))
		fail(L, "%s = %g: must be a number in %s%g, %g]", key, d, k->min_open ? "(" : "[", k->min, k->max);
}

/* Every hyperparameter in the file against its range, before any is used. */
static void check_keys(struct loader *L)
{
	const struct hkey *k;
	for (size_t i = 0; (k = arch_hkey_at(i)) && !L->failed; i++) {
		const char *key = akey(L, k->suffix);
		const struct gguf_value *v = gguf_get(L->m->g, key);
		if (!v)
			continue;
		if (k->type == HK_INT)
			check_int_key(L, k, key, v);
		else
			check_float_key(L, k, key, v);
	}
}

/* The first tensor with role r in any layer, or NULL. */
static const struct gguf_tensor *first_of_role(struct loader *L, enum trole r)
{
	const struct gguf *g = L->m->g;
	if (!arch_tensor_present(L->m->arch, r))
		return NULL;
	for (size_t i = 0; i < g->n_tensors; i++)
		if (arch_tensor_role(L->m->arch, g->tensors[i].name) == (int)r)
			return &g->tensors[i];
	return NULL;
}

/* Layers the file has tensors for: one past the highest N in "blk.N.". */
static int64_t blocks_in_file(const struct gguf *g)
{
	int64_t n = 0;
	for (size_t i = 0; i < g->n_tensors; i++) {
		const char *p = g->tensors[i].name;
		if (strncmp(p, "blk.", 4))
			continue;
		int64_t il = 0;
		for (p += 4; *p >= '0' && *p <= '9' && il <= LLONG_MAX / 10 - 10; p++)
			il = il * 10 + (*p - '0');
		if (*p == '.')
			n = MAX(n, il + 1);
	}
	return n;
}

/* A key that sizes a tensor dimension against that dimension, where the
 * key and the tensor are both present (absent ones are reported later). */
static void check_dim(struct loader *L, const char *suffix, const struct gguf_tensor *t, int dim)
{
	int64_t v = get_int(L, suffix, -1, false);
	if (L->failed || v < 0 || !t || (uint64_t)v == t->ne[dim])
		return;
	fail(L, "%s = %lld: tensor %s has %llu", akey(L, suffix), (long long)v, t->name,
	     (unsigned long long)t->ne[dim]);
}

/* The keys that size allocations against what the tensors' shapes say. */
static void check_shapes(struct loader *L)
{
	struct model *m = L->m;
	int64_t blocks = get_int(L, "block_count", -1, false), have = blocks_in_file(m->g);
	if (!L->failed && blocks > have)
		fail(L, "%s = %lld: the file has tensors for %lld blocks", akey(L, "block_count"), (long long)blocks,
		     (long long)have);
	const struct gguf_tensor *embd = gguf_find_tensor(m->g, m->arch->t[T_TOKEN_EMBD].name);
	check_dim(L, "embedding_length", embd, 0);
	check_dim(L, "vocab_size", embd, 1);
	if (get_int(L, "expert_count", 0, false) > 0)
		check_dim(L, "expert_count", first_of_role(L, T_GATE_EXPS), 2);
	if (arch_has(m->arch, AF_MLA)) {
		check_dim(L, "attention.kv_lora_rank", first_of_role(L, T_MLA_KV_A_NORM), 0);
		if (get_int(L, "attention.q_lora_rank", 0, false) > 0)
			check_dim(L, "attention.q_lora_rank", first_of_role(L, T_MLA_Q_A_NORM), 0);
	}
}

/* Keys some converters write whose effect heft does not implement: refuse
 * rather than compute something else. */
static void refuse_keys(struct loader *L)
{
	static const char *const keys[] = {
		"rope.dimension_sections", "attention.temperature_scale", "attention.temperature_length",
		"rope.scaling.yarn_ext_factor", "rope.scaling.yarn_attn_factor", "attention.logit_softcapping",
		"final_logit_softcapping",
	};
	for (size_t i = 0; i < ARRAY_LEN(keys); i++)
		if (gguf_get(L->m->g, akey(L, keys[i])))
			fail(L, "metadata key %s is not supported", akey(L, keys[i]));
	if (!arch_has(L->m->arch, AF_SWA) && gguf_get(L->m->g, akey(L, "attention.sliding_window")))
		fail(L, "metadata key %s is not supported for %s", akey(L, "attention.sliding_window"), L->m->arch_name);
}

static float yarn_get_mscale(float scale, float mscale)
{
	return scale <= 1.0f ? 1.0f : 0.1f * mscale * logf(scale) + 1.0f;
}

/* rope.scaling.*: none, linear (positions / factor) or YaRN. The YaRN
 * magnitude and the deepseek2 score scale follow llama.cpp's context setup
 * (llama-context.cpp, the [TAG_DEEPSEEK2_YARN_LOG_MUL_FIX] logic). */
static void read_rope_scaling(struct loader *L, struct hparams *hp)
{
	hp->rope_scale = 1.0f;
	hp->rope_mscale = 1.0f;
	hp->yarn_ext_factor = 0.0f;
	const char *type = gguf_get_str(L->m->g, akey(L, "rope.scaling.type"));
	double factor = get_float(L, "rope.scaling.factor", 0.0, false);
	if (factor == 0.0) /* older converters */
		factor = get_float(L, "rope.scale_linear", 0.0, false);
	if (type && strcmp(type, "none") && strcmp(type, "linear") && strcmp(type, "yarn")) {
		fail(L, "%s = '%s' is not supported (only none, linear and yarn)", akey(L, "rope.scaling.type"), type);
		return;
	}
	float rope_attn_factor = (float)get_float(L, "rope.scaling.attn_factor", 1.0, false);
	hp->rope_mscale = rope_attn_factor; /* llama.cpp applies it with any scaling */
	if (type && !strcmp(type, "none"))
		return;
	if (factor != 0.0) {
		if (!(factor > 0.0) || !isfinite(factor))
			fail(L, "rope scaling factor %g is invalid", factor);
		else
			hp->rope_scale = (float)factor;
	}
	float attn_factor = rope_attn_factor, fac = hp->rope_scale;
	float log_mul = (float)get_float(L, "rope.scaling.yarn_log_multiplier", 0.0, false);
	if (type && !strcmp(type, "yarn")) {
		hp->yarn_ext_factor = 1.0f;
		hp->n_ctx_orig = (int)get_int(L, "rope.scaling.original_context_length", hp->n_ctx_train, false);
		hp->yarn_beta_fast = (float)get_float(L, "rope.scaling.yarn_beta_fast", 32.0, false);
		hp->yarn_beta_slow = (float)get_float(L, "rope.scaling.yarn_beta_slow", 1.0, false);
		if (hp->n_ctx_orig <= 0)
			fail(L, "missing metadata key %s", akey(L, "rope.scaling.original_context_length"));
		if (log_mul != 0.0f) {
			float mscale = 1.0f;
			if (arch_has(L->m->arch, AF_YARN_LOG_MUL) && log_mul != 1.0f)
				mscale = log_mul;
			attn_factor = yarn_get_mscale(fac, mscale) / yarn_get_mscale(fac, log_mul);
		} else {
			attn_factor = yarn_get_mscale(fac, 1.0f);
		}
		/* cancels the magnitude rope_yarn multiplies in */
		attn_factor *= 1.0f / (1.0f + 0.1f * logf(fac));
		attn_factor *= rope_attn_factor;
		hp->rope_mscale = attn_factor * (1.0f + 0.1f * logf(fac));
	} else {
		hp->rope_mscale = attn_factor;
	}
	if (arch_has(L->m->arch, AF_MLA) && hp->head_dim_k_mla > 0) {
		/* llama.cpp pre-scales the scores with the YaRN mscale of all dims
		 * (converters write yarn_log_multiplier = 0.1 * mscale_all_dim) */
		float org = attn_factor * (1.0f + 0.1f * logf(fac));
		float ms = org * (1.0f + log_mul * logf(fac));
		hp->kq_scale = ms * ms / sqrtf((float)hp->head_dim_k_mla);
	}
}

/* expert_gating_func: 1 softmax, 2 sigmoid, 3 softmax over the selected. */
static enum gating read_gating(struct loader *L, enum gating def)
{
	int64_t g = get_int(L, "expert_gating_func", 0, false);
	switch (g) {
	case 0: return def;
	case 1: return GATING_SOFTMAX;
	case 2: return GATING_SIGMOID;
	case 3: return GATING_SOFTMAX_WEIGHT;
	default:
		fail(L, "%s = %lld is not supported (1 softmax, 2 sigmoid, 3 softmax over the selected)",
		     akey(L, "expert_gating_func"), (long long)g);
		return def;
	}
}

static void read_moe(struct loader *L, struct hparams *hp)
{
	struct model *m = L->m;
	bool norm = m->arch->norm_topk; /* llama.cpp's per-arch defaults */
	gguf_get_bool(m->g, akey(L, "expert_weights_norm"), &norm);
	hp->norm_topk = norm;
	hp->expert_weights_scale = (float)get_float(L, "expert_weights_scale", 1.0, false);
	if (!(hp->expert_weights_scale > 0.0f) || !isfinite(hp->expert_weights_scale))
		fail(L, "%s = %g must be positive", akey(L, "expert_weights_scale"), hp->expert_weights_scale);
	hp->n_layer_dense_lead = (int)get_int(L, "leading_dense_block_count", 0, false);
	hp->n_expert_shared = (int)get_int(L, "expert_shared_count", 0, false);
	hp->n_expert_groups = (int)get_int(L, "expert_group_count", 0, false);
	hp->n_group_used = (int)get_int(L, "expert_group_used_count", 0, false);
	hp->gating = arch_has(m->arch, AF_MOE_EXTRAS) ? read_gating(L, m->arch->gating) : m->arch->gating;
	hp->act = m->arch->act;
	if (arch_has(m->arch, AF_ROUTER_FIXED)) { /* llama.cpp ignores the keys (gpt-oss) */
		hp->norm_topk = m->arch->norm_topk;
		hp->expert_weights_scale = 1.0f;
	}
	if (hp->n_layer_dense_lead < 0 || hp->n_layer_dense_lead > hp->n_layer)
		fail(L, "%s = %d is out of range (block_count %d)", akey(L, "leading_dense_block_count"),
		     hp->n_layer_dense_lead, hp->n_layer);
	if (hp->n_expert_groups > 1) {
		int per = hp->n_expert / hp->n_expert_groups;
		if (hp->n_expert % hp->n_expert_groups || per < 2)
			fail(L, "%s = %d does not split %s = %d into groups of at least 2", akey(L, "expert_group_count"),
			     hp->n_expert_groups, akey(L, "expert_count"), hp->n_expert);
		else if (hp->n_group_used < 1 || hp->n_group_used > hp->n_expert_groups ||
			 hp->n_group_used * per < hp->n_expert_used)
			fail(L, "%s = %d must be in 1..%d and keep at least %s experts", akey(L, "expert_group_used_count"),
			     hp->n_group_used, hp->n_expert_groups, akey(L, "expert_used_count"));
	}
	if (hp->n_expert_shared < 0)
		fail(L, "%s = %d is invalid", akey(L, "expert_shared_count"), hp->n_expert_shared);
}

/* deepseek2's multi-head latent attention, stored in the absorbed layout. */
static void read_mla(struct loader *L, struct hparams *hp)
{
	hp->q_lora_rank = (int)get_int(L, "attention.q_lora_rank", 0, false);
	hp->kv_lora_rank = (int)get_int(L, "attention.kv_lora_rank", 0, true);
	hp->head_dim_k_mla = (int)get_int(L, "attention.key_length_mla", 0, false);
	hp->head_dim_v_mla = (int)get_int(L, "attention.value_length_mla", 0, false);
	if (L->failed)
		return;
	if (hp->head_dim_k_mla <= 0 || hp->head_dim_v_mla <= 0) {
		fail(L, "missing metadata key %s: the attn_kv_b layout of older converters is not supported "
		     "(reconvert with attn_k_b/attn_v_b)", akey(L, "attention.key_length_mla"));
		return;
	}
	if (hp->kv_lora_rank <= 0 || hp->q_lora_rank < 0)
		fail(L, "%s = %d must be positive", akey(L, "attention.kv_lora_rank"), hp->kv_lora_rank);
	else if (hp->n_rot >= hp->head_dim_k_mla)
		fail(L, "%s = %d leaves no non-rotary dims in %s = %d", akey(L, "rope.dimension_count"), hp->n_rot,
		     akey(L, "attention.key_length_mla"), hp->head_dim_k_mla);
	else if (hp->head_dim_k != hp->kv_lora_rank + hp->n_rot || hp->head_dim_v != hp->kv_lora_rank)
		fail(L, "%s = %d and %s = %d contradict %s = %d and %s = %d (absorbed MLA layout)",
		     akey(L, "attention.key_length"), hp->head_dim_k, akey(L, "attention.value_length"), hp->head_dim_v,
		     akey(L, "attention.kv_lora_rank"), hp->kv_lora_rank, akey(L, "rope.dimension_count"), hp->n_rot);
	else if (hp->n_head_kv != 1)
		fail(L, "%s = %d: the absorbed MLA layout has one KV head", akey(L, "attention.head_count_kv"),
		     hp->n_head_kv);
	hp->kq_scale = 1.0f / sqrtf((float)hp->head_dim_k_mla);
}

static void read_hparams(struct loader *L)
{
	struct model *m = L->m;
	struct hparams *hp = &m->hp;
	check_keys(L);
	check_shapes(L);
	if (L->failed)
		return;
	hp->n_embd = (int)get_int(L, "embedding_length", 0, true);
	hp->n_layer = (int)get_int(L, "block_count", 0, true);
	hp->n_ctx_train = (int)get_int(L, "context_length", 0, false);
	hp->n_head = (int)get_int(L, "attention.head_count", 0, true);
	hp->n_head_kv = (int)get_int(L, "attention.head_count_kv", hp->n_head, false);
	hp->n_layer_nextn = (int)get_int(L, "nextn_predict_layers", 0, false);
	if (L->failed)
		return;
	if (hp->n_embd <= 0 || hp->n_layer <= 0 || hp->n_head <= 0 || hp->n_head_kv <= 0) {
		fail(L, "%s: embedding_length, block_count and head counts must be positive", m->arch_name);
		return;
	}
	if (hp->n_layer_nextn < 0 || hp->n_layer_nextn >= hp->n_layer) {
		fail(L, "%s = %d must be below %s = %d", akey(L, "nextn_predict_layers"), hp->n_layer_nextn,
		     akey(L, "block_count"), hp->n_layer);
		return;
	}
	hp->n_layer -= hp->n_layer_nextn; /* the MTP layers are never evaluated (nor loaded) */
	if (hp->n_head % hp->n_head_kv) {
		fail(L, "%s = %d is not a multiple of %s = %d", akey(L, "attention.head_count"), hp->n_head,
		     akey(L, "attention.head_count_kv"), hp->n_head_kv);
		return;
	}
	refuse_keys(L);
	hp->head_dim_k = (int)get_int(L, "attention.key_length", hp->n_embd / hp->n_head, false);
	hp->head_dim_v = (int)get_int(L, "attention.value_length", hp->head_dim_k, false);
	hp->n_ff = (int)get_int(L, "feed_forward_length", 0, false);
	hp->n_expert = (int)get_int(L, "expert_count", 0, false);
	hp->n_expert_used = (int)get_int(L, "expert_used_count", 0, false);
	if (hp->n_expert == 0) /* dense: llama.cpp ignores the key, and so does the plan */
		hp->n_expert_used = 0;
	hp->n_ff_exp = (int)get_int(L, "expert_feed_forward_length", 0, false);
	hp->rms_eps = (float)get_float(L, "attention.layer_norm_rms_epsilon", 0.0, true);
	hp->n_rot = (int)get_int(L, "rope.dimension_count", hp->head_dim_k, false);
	hp->rope_base = (float)get_float(L, "rope.freq_base", 10000.0, false);
	hp->kq_scale = 1.0f / sqrtf((float)MAX(hp->head_dim_k, 1));
	if (arch_has(m->arch, AF_MLA))
		read_mla(L, hp);
	read_rope_scaling(L, hp);
	read_moe(L, hp);
	hp->rope = m->arch->rope;
	if (arch_has(m->arch, AF_SWA)) {
		hp->n_swa = (int)get_int(L, "attention.sliding_window", 0, true);
		hp->swa_pattern = m->arch->swa_pattern;
		if (!L->failed && hp->n_swa <= 0)
			fail(L, "%s = %d must be positive", akey(L, "attention.sliding_window"), hp->n_swa);
	}
	if (L->failed)
		return;

	if (hp->head_dim_k <= 0 || hp->head_dim_v <= 0)
		fail(L, "%s = %d: more heads than %s = %d has dimensions", akey(L, "attention.head_count"), hp->n_head,
		     akey(L, "embedding_length"), hp->n_embd);
	else if (hp->n_rot > hp->head_dim_k || hp->n_rot % 2)
		fail(L, "%s = %d: must be even and at most the key head dimension %d", akey(L, "rope.dimension_count"),
		     hp->n_rot, hp->head_dim_k);
	if (!(hp->rms_eps > 0.0f) || !(hp->rope_base > 0.0f))
		fail(L, "%s: rms epsilon and rope.freq_base must be positive", m->arch_name);
	if (arch_has(m->arch, AF_MOE) && hp->n_expert == 0)
		fail(L, "missing metadata key %s (%s needs experts)", akey(L, "expert_count"), m->arch_name);
	if (hp->n_expert > 0) {
		if (hp->n_expert_used <= 0 || hp->n_expert_used > hp->n_expert)
			fail(L, "%s = %d must be in 1..%s (%d)", akey(L, "expert_used_count"), hp->n_expert_used,
			     akey(L, "expert_count"), hp->n_expert);
		/* llama.cpp: Mixtral's experts use feed_forward_length; qwen3moe
		 * falls back to n_ff / n_expert_used when the key is absent. */
		if (arch_has(m->arch, AF_EXPERT_FF_IS_FF) && hp->n_ff_exp == 0)
			hp->n_ff_exp = hp->n_ff;
		if (hp->n_ff_exp == 0 && hp->n_expert_used > 0)
			hp->n_ff_exp = hp->n_ff / hp->n_expert_used;
		if (hp->n_ff_exp <= 0)
			fail(L, "missing metadata key %s", akey(L, "expert_feed_forward_length"));
		if (hp->n_layer_dense_lead > 0 && hp->n_ff <= 0)
			fail(L, "missing metadata key %s (leading dense blocks)", akey(L, "feed_forward_length"));
	} else if (hp->n_ff <= 0) {
		fail(L, "missing metadata key %s", akey(L, "feed_forward_length"));
	}
}

static void fmt_shape(char *b, size_t n, const uint64_t *ne, int nd)
{
	int k = snprintf(b, n, "[");
	for (int i = 0; i < nd; i++)
		k += snprintf(b + k, n - (size_t)MIN((size_t)k, n), "%s%llu", i ? ", " : "", (unsigned long long)ne[i]);
	snprintf(b + MIN((size_t)k, n - 1), n - MIN((size_t)k, n - 1), "]");
}

/* Find a tensor and check its shape and type. ne2 = 0 means 2-D, ne1 = 0
 * means 1-D. why names the hyperparameters the shape came from. */
static const struct gguf_tensor *find(struct loader *L, const char *name, bool required, int64_t ne0,
				      int64_t ne1, int64_t ne2, const char *why)
{
	if (L->failed)
		return NULL;
	const struct gguf_tensor *t = gguf_find_tensor(L->m->g, name);
	if (!t) {
		if (required)
			fail(L, "missing tensor %s", name);
		return NULL;
	}
	uint64_t want[3] = {(uint64_t)ne0, (uint64_t)(ne1 ? ne1 : 1), (uint64_t)(ne2 ? ne2 : 1)};
	int nd = ne2 ? 3 : ne1 ? 2 : 1;
	if (t->ne[0] != want[0] || t->ne[1] != want[1] || t->ne[2] != want[2] || t->ne[3] != 1) {
		char got[96], exp[96];
		fmt_shape(got, sizeof got, t->ne, (int)t->n_dims);
		fmt_shape(exp, sizeof exp, want, nd);
		fail(L, "tensor %s has shape %s, expected %s from %s", name, got, exp, why);
		return NULL;
	}
	const struct qtype *q = qtype_get(t->type);
	if (!qtype_supported(t->type) || quant_act_row_bytes(t->type, (int64_t)t->ne[0]) == 0) {
		fail(L, "tensor %s: type %s is not supported", name, q ? q->name : "(unknown)");
		return NULL;
	}
	if (nd == 1 && t->type != GGML_F32) {
		fail(L, "tensor %s: type %s is not supported for a vector (expected F32)", name, q->name);
		return NULL;
	}
	return t;
}

static void bind(struct loader *L, const struct gguf_tensor *t, struct wmat *dst)
{
	if (!t)
		return;
	if (L->n_binds == L->cap_binds) {
		L->cap_binds = L->cap_binds ? 2 * L->cap_binds : 64;
		L->binds = xreallocarray(L->binds, (size_t)L->cap_binds, sizeof *L->binds);
	}
	L->binds[L->n_binds].handle = weights_add(L->m->w, t);
	L->binds[L->n_binds].dst = dst;
	L->n_binds++;
}

/* Look up role r of layer il (if the architecture has it), check its shape
 * and register it to be bound to dst once the weights are read. Required
 * when the row says so or the caller knows better (also_required); the
 * caller only asks when the hyperparameters call for the tensor. ne2 > 0:
 * per-head matrices, one resident matrix of ne1 * ne2 rows. */
static void register_matrix(struct loader *L, struct wmat *dst, enum trole r, int il, bool also_required,
			    int64_t ne0, int64_t ne1, int64_t ne2, const char *why)
{
	const struct arch *a = L->m->arch;
	if (!arch_tensor_present(a, r))
		return;
	char name[128];
	bool required = a->t[r].presence == TP_REQUIRED || also_required;
	bind(L, find(L, arch_tensor_name(a, r, il, name, sizeof name), required, ne0, ne1, ne2, why), dst);
}

static void register_attn_mla(struct loader *L, int il)
{
	const struct hparams *hp = &L->m->hp;
	struct layer *l = &L->m->layers[il];
	int64_t d = hp->n_embd, qd = (int64_t)hp->n_head * hp->head_dim_k_mla;
	int64_t nope = hp->head_dim_k_mla - hp->n_rot, r = hp->kv_lora_rank;
	const char *why = "attention.q_lora_rank, kv_lora_rank, key/value_length_mla and head_count";
	if (hp->q_lora_rank > 0) {
		register_matrix(L, &l->wq_a, T_MLA_Q_A, il, true, d, hp->q_lora_rank, 0, why);
		register_matrix(L, &l->q_a_norm, T_MLA_Q_A_NORM, il, true, hp->q_lora_rank, 0, 0, why);
		register_matrix(L, &l->wq_b, T_MLA_Q_B, il, true, hp->q_lora_rank, qd, 0, why);
	} else {
		register_matrix(L, &l->wq, T_ATTN_Q, il, true, d, qd, 0, why);
	}
	register_matrix(L, &l->wkv_a_mqa, T_MLA_KV_A_MQA, il, true, d, r + hp->n_rot, 0, why);
	register_matrix(L, &l->kv_a_norm, T_MLA_KV_A_NORM, il, true, r, 0, 0, why);
	register_matrix(L, &l->wk_b, T_MLA_K_B, il, true, nope, r, hp->n_head, why);
	register_matrix(L, &l->wv_b, T_MLA_V_B, il, true, r, hp->head_dim_v_mla, hp->n_head, why);
	register_matrix(L, &l->wo, T_ATTN_OUT, il, true, (int64_t)hp->n_head * hp->head_dim_v_mla, d, 0, why);
}

static void register_attn(struct loader *L, int il)
{
	struct model *m = L->m;
	const struct hparams *hp = &m->hp;
	struct layer *l = &m->layers[il];
	int64_t d = hp->n_embd, qd = (int64_t)hp->n_head * hp->head_dim_k;
	int64_t kd = (int64_t)hp->n_head_kv * hp->head_dim_k, vd = (int64_t)hp->n_head_kv * hp->head_dim_v;
	int64_t od = (int64_t)hp->n_head * hp->head_dim_v;
	const char *heads = "embedding_length, attention.head_count(_kv) and key/value_length";

	register_matrix(L, &l->wq, T_ATTN_Q, il, true, d, qd, 0, heads);
	register_matrix(L, &l->wk, T_ATTN_K, il, true, d, kd, 0, heads);
	register_matrix(L, &l->wv, T_ATTN_V, il, true, d, vd, 0, heads);
	register_matrix(L, &l->wo, T_ATTN_OUT, il, true, od, d, 0, heads);
	register_matrix(L, &l->bq, T_ATTN_Q_BIAS, il, false, qd, 0, 0, heads);
	register_matrix(L, &l->bk, T_ATTN_K_BIAS, il, false, kd, 0, 0, heads);
	register_matrix(L, &l->bv, T_ATTN_V_BIAS, il, false, vd, 0, 0, heads);
	register_matrix(L, &l->bo, T_ATTN_OUT_BIAS, il, false, d, 0, 0, heads);
	if (arch_tensor_present(m->arch, T_ATTN_Q_NORM)) { /* per-head q/k RMS norm; k's goes with q's */
		char qn[128];
		bool has_q = gguf_find_tensor(m->g, arch_tensor_name(m->arch, T_ATTN_Q_NORM, il, qn, sizeof qn)) != NULL;
		register_matrix(L, &l->q_norm, T_ATTN_Q_NORM, il, false, hp->head_dim_k, 0, 0, "attention.key_length");
		register_matrix(L, &l->k_norm, T_ATTN_K_NORM, il, has_q, hp->head_dim_k, 0, 0, "attention.key_length");
	}
	register_matrix(L, &l->attn_sinks, T_ATTN_SINKS, il, false, hp->n_head, 0, 0, "attention.head_count");
}

static void register_ffn_moe(struct loader *L, int il)
{
	struct model *m = L->m;
	const struct hparams *hp = &m->hp;
	struct layer *l = &m->layers[il];
	int64_t d = hp->n_embd, ff = hp->n_ff_exp, ne = hp->n_expert;
	l->moe = true;
	register_matrix(L, &l->ffn_gate_inp, T_ROUTER, il, true, d, ne, 0, "expert_count");
	register_matrix(L, &l->ffn_gate_inp_b, T_ROUTER_B, il, false, ne, 0, 0, "expert_count");
	register_matrix(L, &l->exp_probs_b, T_EXP_PROBS_B, il, false, ne, 0, 0, "expert_count");
	const char *why = "expert_count and expert_feed_forward_length";
	register_matrix(L, &l->ffn_gate_exps_b, T_GATE_EXPS_B, il, false, ff, ne, 0, why);
	register_matrix(L, &l->ffn_up_exps_b, T_UP_EXPS_B, il, false, ff, ne, 0, why);
	register_matrix(L, &l->ffn_down_exps_b, T_DOWN_EXPS_B, il, false, d, ne, 0, why);
	const struct gguf_tensor *t[EXP_NPARTS];
	static const enum trole roles[EXP_NPARTS] = {T_GATE_EXPS, T_UP_EXPS, T_DOWN_EXPS};
	for (int p = 0; p < EXP_NPARTS; p++) {
		char name[128];
		arch_tensor_name(m->arch, roles[p], il, name, sizeof name);
		bool down = p == EXP_DOWN;
		t[p] = find(L, name, true, down ? ff : d, down ? d : ff, ne, why);
		if (t[p] && t[p]->nbytes % (uint64_t)ne)
			fail(L, "tensor %s: %llu bytes do not split into %d experts", name,
			     (unsigned long long)t[p]->nbytes, hp->n_expert);
	}
	if (hp->n_expert_shared > 0) {
		int64_t fs = ff * hp->n_expert_shared;
		const char *w = "expert_feed_forward_length and expert_shared_count";
		register_matrix(L, &l->ffn_gate_shexp, T_GATE_SHEXP, il, true, d, fs, 0, w);
		register_matrix(L, &l->ffn_up_shexp, T_UP_SHEXP, il, true, d, fs, 0, w);
		register_matrix(L, &l->ffn_down_shexp, T_DOWN_SHEXP, il, true, fs, d, 0, w);
	}
	if (!L->failed)
		weights_add_experts(m->w, il, t[EXP_GATE], t[EXP_UP], t[EXP_DOWN]);
}

static void register_layer(struct loader *L, int il)
{
	struct model *m = L->m;
	const struct hparams *hp = &m->hp;
	struct layer *l = &m->layers[il];
	int64_t d = hp->n_embd;

	register_matrix(L, &l->attn_norm, T_ATTN_NORM, il, true, d, 0, 0, "embedding_length");
	if (arch_has(m->arch, AF_MLA))
		register_attn_mla(L, il);
	else
		register_attn(L, il);
	register_matrix(L, &l->ffn_norm, T_FFN_NORM, il, true, d, 0, 0, "embedding_length");
	if (hp->n_expert == 0 || il < hp->n_layer_dense_lead) {
		register_matrix(L, &l->ffn_gate, T_FFN_GATE, il, true, d, hp->n_ff, 0, "feed_forward_length");
		register_matrix(L, &l->ffn_up, T_FFN_UP, il, true, d, hp->n_ff, 0, "feed_forward_length");
		register_matrix(L, &l->ffn_down, T_FFN_DOWN, il, true, hp->n_ff, d, 0, "feed_forward_length");
		return;
	}
	register_ffn_moe(L, il);
}

static int64_t vocab_size(struct loader *L)
{
	uint64_t n;
	if (gguf_get_u64(L->m->g, akey(L, "vocab_size"), &n))
		return n <= INT32_MAX ? (int64_t)n : -1;
	const struct gguf_value *toks = gguf_get_arr(L->m->g, "tokenizer.ggml.tokens", GGUF_STRING);
	if (toks)
		return toks->arr.n <= INT32_MAX ? (int64_t)toks->arr.n : -1;
	const struct gguf_tensor *t = gguf_find_tensor(L->m->g, L->m->arch->t[T_TOKEN_EMBD].name);
	return t ? (int64_t)t->ne[1] : -1;
}

static void load_rope_freqs(struct loader *L)
{
	struct model *m = L->m;
	int64_t n = m->hp.n_rot / 2;
	if (!arch_tensor_present(m->arch, T_ROPE_FREQS))
		return;
	/* Llama 3 style frequency factors: theta_i is divided by rope_freqs[i]. */
	const struct gguf_tensor *t = find(L, m->arch->t[T_ROPE_FREQS].name, false, n, 0, 0, "rope.dimension_count");
	if (!t)
		return;
	m->rope_freqs = xmalloc((size_t)n * sizeof(float));
	if (gguf_read_tensor(m->g, t, 0, m->rope_freqs, (size_t)n * sizeof(float)) < 0)
		fail(L, "reading tensor %s: %s", t->name, strerror(errno));
}

static void register_tensors(struct loader *L)
{
	struct model *m = L->m;
	struct hparams *hp = &m->hp;
	int64_t nv = vocab_size(L);
	if (nv <= 0) {
		fail(L, "cannot tell the vocabulary size (%s)", akey(L, "vocab_size"));
		return;
	}
	hp->n_vocab = (int)nv;
	register_matrix(L, &m->token_embd, T_TOKEN_EMBD, -1, true, hp->n_embd, nv, 0, "embedding_length and vocab_size");
	register_matrix(L, &m->output_norm, T_OUTPUT_NORM, -1, true, hp->n_embd, 0, 0, "embedding_length");
	register_matrix(L, &m->output, T_OUTPUT, -1, false, hp->n_embd, nv, 0, "embedding_length and vocab_size");
	load_rope_freqs(L);
	m->layers = xcalloc((size_t)hp->n_layer, sizeof *m->layers);
	for (int il = 0; il < hp->n_layer && !L->failed; il++)
		register_layer(L, il);
}

static bool detect_arch(struct loader *L)
{
	const char *a = gguf_get_str(L->m->g, "general.architecture");
	if (!a) {
		fail(L, "missing metadata key general.architecture");
		return false;
	}
	L->m->arch = arch_find_gguf(a);
	if (L->m->arch) {
		L->m->arch_name = L->m->arch->gguf_name;
		return true;
	}
	char names[256];
	fail(L, "architecture '%s' is not supported (supported: %s)", a, arch_gguf_names(names, sizeof names));
	return false;
}

/* --trace-routing: the trace's header is told the model's shape here, so
 * rtrace.c needs nothing of model.h. */
static int open_trace(struct model *m, const struct model_opts *o, char *err, size_t errlen)
{
	bool *moe = xcalloc((size_t)m->hp.n_layer, sizeof *moe);
	for (int l = 0; l < m->hp.n_layer; l++)
		moe[l] = m->layers[l].moe;
	struct rtrace_model rm = {
		.path = m->path, .g = m->g, .n_layer = m->hp.n_layer, .n_expert = m->hp.n_expert,
		.n_expert_used = m->hp.n_expert_used, .moe = moe, .plan = weights_get_plan(m->w),
		.policy = cache_policy_names[o->policy],
	};
	m->trace = rtrace_open(o->trace_routing, &rm, err, errlen);
	free(moe);
	return m->trace ? 0 : -1;
}

struct model *model_load(const char *path, char *err, size_t errlen)
{
	return model_load_opts(path, NULL, err, errlen);
}

/* Everything but the weights and the forward pass's buffers: the binary,
 * the tokenizer's tables, thread stacks, heap slack. */
static uint64_t runtime_bytes(const struct model *m, int threads)
{
	return ((uint64_t)16 << 20) + (uint64_t)m->hp.n_vocab * 96 + (uint64_t)MAX(threads, 1) * (256u << 10);
}

/* The KV cache's element types from --cache-type-k/-v: Q8_0 only where
 * every head is whole 32-element blocks (MLA: the latent and the rope key). */
static int kv_types(struct model *m, const struct model_opts *o, char *err, size_t errlen)
{
	const struct hparams *hp = &m->hp;
	m->kv_type_k = o->cache_type_k == GGML_Q8_0 ? GGML_Q8_0 : GGML_F16;
	m->kv_type_v = o->cache_type_v == GGML_Q8_0 ? GGML_Q8_0 : GGML_F16;
	if (hp->kv_lora_rank > 0) { /* one row holds both: V is its latent part */
		if (m->kv_type_k != m->kv_type_v) {
			snprintf(err, errlen, "--cache-type-k and --cache-type-v must agree for %s (V is read from the K rows)",
				 m->arch_name);
			return -1;
		}
		if (!kv_type_ok(m->kv_type_k, hp->kv_lora_rank) || !kv_type_ok(m->kv_type_k, hp->n_rot)) {
			snprintf(err, errlen, "--cache-type-k q8_0: latent %d + rope %d is not whole 32-element blocks",
				 hp->kv_lora_rank, hp->n_rot);
			return -1;
		}
		return 0;
	}
	if (!kv_type_ok(m->kv_type_k, hp->head_dim_k)) {
		snprintf(err, errlen, "--cache-type-k q8_0: head dimension %d is not a multiple of 32", hp->head_dim_k);
		return -1;
	}
	if (!kv_type_ok(m->kv_type_v, hp->head_dim_v)) {
		snprintf(err, errlen, "--cache-type-v q8_0: head dimension %d is not a multiple of 32", hp->head_dim_v);
		return -1;
	}
	return 0;
}

/* The plan, and the prompt chunk it allows: -b if given, else the largest
 * power of two up to 2048 whose activations take at most a quarter of what
 * the budget leaves after the dense weights (a bigger chunk amortizes one
 * pass over the experts over more tokens; the rest of the budget caches
 * experts for decoding). */
static int plan(struct model *m, const struct model_opts *o, char *err, size_t errlen)
{
	int n_ctx = o->n_ctx > 0 ? o->n_ctx : MIN(m->hp.n_ctx_train > 0 ? m->hp.n_ctx_train : 4096, 4096);
	int threads = o->threads > 0 ? o->threads : cpu_physical_cores();
	uint64_t base = forward_mem_bytes(m, n_ctx, 1, threads) + runtime_bytes(m, threads);
	bool fixed = o->max_batch > 0 || o->mem == MODEL_MEM_MIN;
	struct weights_opts wo = {o->mem, o->io, o->stream_layers, o->policy, o->no_prefetch, o->no_warm};
	for (int b = o->max_batch > 0 ? o->max_batch : o->mem == MODEL_MEM_MIN ? 512 : 2048;; b /= 2) {
		uint64_t chunk = forward_mem_bytes(m, n_ctx, b, threads) + runtime_bytes(m, threads) - base;
		if (weights_plan(m->w, &wo, m->hp.n_expert_used, base + chunk, err, errlen) == 0) {
			const struct weights_plan *p = weights_get_plan(m->w);
			uint64_t room = p->budget > p->dense_bytes + base ? p->budget - p->dense_bytes - base : 0;
			if (fixed || b == 1 || p->io != WIO_STREAM || chunk <= room / 4) {
				weights_set_batch(m->w, b, n_ctx);
				return 0;
			}
		} else if (fixed || b == 1) {
			return -1;
		}
	}
}

static void print_plan(const struct model *m)
{
	const struct weights_plan *p = weights_get_plan(m->w);
	char b[6][32];
	fmt_bytes(b[0], sizeof b[0], p->budget);
	fmt_bytes(b[1], sizeof b[1], p->dense_bytes);
	fmt_bytes(b[2], sizeof b[2], p->extra_bytes);
	if (p->io == WIO_STREAM) {
		fmt_bytes(b[3], sizeof b[3], p->slot_bytes);
		fmt_bytes(b[4], sizeof b[4], p->cold_read_per_token);
		fmt_bytes(b[5], sizeof b[5], p->total_bytes);
		warnx_("memory plan: stream experts (%s), budget %s: %s resident + %s KV/scratch/runtime + "
		       "%d cache slots of %s (%.0f%% of %d experts) = %s; a token reads up to %s",
		       p->why, b[0], b[1], b[2], p->n_slots, b[3], 100.0 * p->n_slots / MAX(p->n_experts, 1),
		       p->n_experts, b[5], b[4]);
	} else {
		fmt_bytes(b[3], sizeof b[3], p->total_bytes);
		warnx_("memory plan: %s (%s), budget %s: %s of weights + %s KV/scratch/runtime",
		       p->io == WIO_MMAP ? "mmap" : "all in RAM", p->why, b[0], b[1], b[2]);
	}
}

struct model *model_load_opts(const char *path, const struct model_opts *o, char *err, size_t errlen)
{
	static const struct model_opts def = {.quiet = true};
	if (!o)
		o = &def;
	struct gguf_error ge;
	struct gguf *g = gguf_open(path, &ge);
	if (!g) {
		snprintf(err, errlen, "%s: %s (at byte %llu)", ge.path, ge.msg, (unsigned long long)ge.offset);
		return NULL;
	}
	struct model *m = xcalloc(1, sizeof *m);
	m->g = g;
	m->path = xstrdup(path);
	m->w = weights_new(g);
	struct loader L = {.m = m, .err = err, .errlen = errlen};
	if (detect_arch(&L))
		read_hparams(&L);
	if (!L.failed)
		register_tensors(&L);
	if (!L.failed) {
		/* With a separate output head the embedding table is only ever
		 * read one row per token: streaming need not hold it. */
		for (int i = 0; i < L.n_binds; i++)
			if (L.binds[i].dst == &m->token_embd && gguf_find_tensor(g, m->arch->t[T_OUTPUT].name))
				weights_set_rowwise(m->w, L.binds[i].handle);
		if (kv_types(m, o, err, errlen) < 0 || plan(m, o, err, errlen) < 0)
			L.failed = true;
	}
	if (!L.failed && !o->quiet)
		print_plan(m);
	if (!L.failed && !o->plan_only && o->trace_routing && open_trace(m, o, err, errlen) < 0)
		L.failed = true;
	if (!L.failed && !o->plan_only && weights_load(m->w, err, errlen) < 0)
		L.failed = true;
	if (!L.failed && !o->plan_only) {
		for (int i = 0; i < L.n_binds; i++)
			weights_bind(m->w, L.binds[i].handle, L.binds[i].dst);
		if (!m->output.data) /* tied embeddings */
			m->output = m->token_embd;
	}
	free(L.binds);
	if (L.failed) {
		/* Prefix the file name unless the message already starts with it. */
		if (strncmp(err, path, strlen(path))) {
			char *msg = xstrdup(err);
			snprintf(err, errlen, "%s: %s", path, msg);
			free(msg);
		}
		model_free(m);
		return NULL;
	}
	return m;
}

void model_free(struct model *m)
{
	if (!m)
		return;
	char err[512];
	if (rtrace_close(m->trace, err, sizeof err) < 0)
		warnx_("%s", err);
	weights_free(m->w);
	gguf_close(m->g);
	free(m->rope_freqs);
	free(m->layers);
	free(m->path);
	free(m);
}

static uint64_t mat_bytes(const struct wmat *w)
{
	return w->name ? (uint64_t)w->rows * w->row_bytes : 0; /* streamed layers have no data between tokens */
}

uint64_t model_bytes_per_token(const struct model *m)
{
	uint64_t b = mat_bytes(&m->output) + mat_bytes(&m->output_norm);
	for (int il = 0; il < m->hp.n_layer; il++) {
		const struct layer *l = &m->layers[il];
		const struct wmat *dense[] = {
			&l->attn_norm,      &l->wq,		&l->wk,		    &l->wv,	       &l->wo,
			&l->bq,		    &l->bk,		&l->bv,		    &l->bo,	       &l->q_norm,
			&l->k_norm,	    &l->ffn_norm,	&l->ffn_gate,	    &l->ffn_up,	       &l->ffn_down,
			&l->ffn_gate_inp,   &l->ffn_gate_inp_b, &l->exp_probs_b,    &l->ffn_gate_shexp, &l->ffn_up_shexp,
			&l->ffn_down_shexp, &l->attn_sinks,	&l->wq_a,	    &l->q_a_norm,      &l->wq_b,
			&l->wkv_a_mqa,	    &l->kv_a_norm,	&l->wk_b,	    &l->wv_b,
		};
		for (size_t i = 0; i < ARRAY_LEN(dense); i++)
			b += mat_bytes(dense[i]);
		if (l->moe)
			for (int p = 0; p < EXP_NPARTS; p++)
				b += (uint64_t)m->hp.n_expert_used * weights_expert_bytes(m->w, il, (enum expert_part)p);
	}
	return b;
}
