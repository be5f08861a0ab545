/* model.c - architecture detection, hyperparameters, tensor validation. */
#include "model.h"

#include "quant.h"
#include "util.h"

#include <errno.h>
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

static void read_rope_scaling(struct loader *L, struct hparams *hp)
{
	hp->rope_scale = 1.0f;
	const char *type = gguf_get_str(L->m->g, akey(L, "rope.scaling.type"));
	double factor = get_float(L, "rope.scaling.factor", 0.0, false);
	if (factor == 0.0) /* older converters */
		factor = get_float(L, "rope.scale_linear", 0.0, false);
	if (type && strcmp(type, "none") && strcmp(type, "linear")) {
		fail(L, "%s = '%s' is not supported (only none and linear)", akey(L, "rope.scaling.type"), type);
		return;
	}
	if (type && !strcmp(type, "none"))
		return;
	if (factor != 0.0) {
		if (!(factor > 0.0) || !isfinite(factor))
			fail(L, "rope scaling factor %g is invalid", factor);
		else
			hp->rope_scale = (float)factor;
	}
}

static void read_hparams(struct loader *L)
{
	struct model *m = L->m;
	struct hparams *hp = &m->hp;
	hp->n_embd = (int)get_int(L, "embedding_length", 0, true);
	hp->n_layer = (int)get_int(L, "block_count", 0, true);
	hp->n_ctx_train = (int)get_int(L, "context_length", 0, false);
	hp->n_head = (int)get_int(L, "attention.head_count", 0, true);
	hp->n_head_kv = (int)get_int(L, "attention.head_count_kv", hp->n_head, false);
	if (L->failed)
		return;
	if (hp->n_embd <= 0 || hp->n_layer <= 0 || hp->n_head <= 0 || hp->n_head_kv <= 0) {
		fail(L, "%s: embedding_length, block_count and head counts must be positive", m->arch_name);
		return;
	}
	if (hp->n_head % hp->n_head_kv) {
		fail(L, "%s = %d is not a multiple of %s = %d", akey(L, "attention.head_count"), hp->n_head,
		     akey(L, "attention.head_count_kv"), hp->n_head_kv);
		return;
	}
	hp->head_dim_k = (int)get_int(L, "attention.key_length", hp->n_embd / hp->n_head, false);
	hp->head_dim_v = (int)get_int(L, "attention.value_length", hp->head_dim_k, false);
	hp->n_ff = (int)get_int(L, "feed_forward_length", 0, false);
	hp->n_expert = (int)get_int(L, "expert_count", 0, false);
	hp->n_expert_used = (int)get_int(L, "expert_used_count", 0, false);
	hp->n_ff_exp = (int)get_int(L, "expert_feed_forward_length", 0, false);
	hp->rms_eps = (float)get_float(L, "attention.layer_norm_rms_epsilon", 0.0, true);
	hp->n_rot = (int)get_int(L, "rope.dimension_count", hp->head_dim_k, false);
	hp->rope_base = (float)get_float(L, "rope.freq_base", 10000.0, false);
	read_rope_scaling(L, hp);
	bool norm = true; /* llama (Mixtral) and qwen3moe both renormalise the top-k weights */
	gguf_get_bool(m->g, akey(L, "expert_weights_norm"), &norm);
	hp->norm_topk = norm;
	hp->rope = m->arch == ARCH_LLAMA ? ROPE_NORM : ROPE_NEOX;
	if (L->failed)
		return;

	if (hp->head_dim_k <= 0 || hp->head_dim_v <= 0 || hp->n_rot <= 0 || hp->n_rot > hp->head_dim_k || hp->n_rot % 2)
		fail(L, "%s: head dimensions (key %d, value %d, rotary %d) are inconsistent", m->arch_name,
		     hp->head_dim_k, hp->head_dim_v, hp->n_rot);
	if (!(hp->rms_eps > 0.0f) || !(hp->rope_base > 0.0f))
		fail(L, "%s: rms epsilon and rope.freq_base must be positive", m->arch_name);
	if (m->arch == ARCH_QWEN3MOE && hp->n_expert == 0)
		fail(L, "missing metadata key %s (qwen3moe needs experts)", akey(L, "expert_count"));
	if (hp->n_expert > 0) {
		if (hp->n_expert_used <= 0 || hp->n_expert_used > hp->n_expert)
			fail(L, "%s = %d must be in 1..%s (%d)", akey(L, "expert_used_count"), hp->n_expert_used,
			     akey(L, "expert_count"), hp->n_expert);
		/* llama.cpp: Mixtral's experts use feed_forward_length; qwen3moe
		 * falls back to n_ff / n_expert_used when the key is absent. */
		if (m->arch == ARCH_LLAMA && hp->n_ff_exp == 0)
			hp->n_ff_exp = hp->n_ff;
		if (hp->n_ff_exp == 0 && hp->n_expert_used > 0)
			hp->n_ff_exp = hp->n_ff / hp->n_expert_used;
		if (hp->n_ff_exp <= 0)
			fail(L, "missing metadata key %s", akey(L, "expert_feed_forward_length"));
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

/* Find, check and declare a resident matrix. */
static void need(struct loader *L, struct wmat *dst, bool required, int64_t ne0, int64_t ne1, const char *why,
		 const char *fmt, ...) __attribute__((format(printf, 7, 8)));
static void need(struct loader *L, struct wmat *dst, bool required, int64_t ne0, int64_t ne1, const char *why,
		 const char *fmt, ...)
{
	char name[128];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(name, sizeof name, fmt, ap);
	va_end(ap);
	bind(L, find(L, name, required, ne0, ne1, 0, why), dst);
}

static void need_layer(struct loader *L, int il)
{
	struct model *m = L->m;
	const struct hparams *hp = &m->hp;
	struct layer *l = &m->layers[il];
	int64_t d = hp->n_embd, qd = (int64_t)hp->n_head * hp->head_dim_k;
	int64_t kd = (int64_t)hp->n_head_kv * hp->head_dim_k, vd = (int64_t)hp->n_head_kv * hp->head_dim_v;
	int64_t od = (int64_t)hp->n_head * hp->head_dim_v;
	const char *heads = "embedding_length, attention.head_count(_kv) and key/value_length";

	need(L, &l->attn_norm, true, d, 0, "embedding_length", "blk.%d.attn_norm.weight", il);
	need(L, &l->wq, true, d, qd, heads, "blk.%d.attn_q.weight", il);
	need(L, &l->wk, true, d, kd, heads, "blk.%d.attn_k.weight", il);
	need(L, &l->wv, true, d, vd, heads, "blk.%d.attn_v.weight", il);
	need(L, &l->wo, true, od, d, heads, "blk.%d.attn_output.weight", il);
	if (m->arch == ARCH_LLAMA) { /* some llama-architecture models carry biases */
		need(L, &l->bq, false, qd, 0, heads, "blk.%d.attn_q.bias", il);
		need(L, &l->bk, false, kd, 0, heads, "blk.%d.attn_k.bias", il);
		need(L, &l->bv, false, vd, 0, heads, "blk.%d.attn_v.bias", il);
		need(L, &l->bo, false, d, 0, heads, "blk.%d.attn_output.bias", il);
	} else {
		need(L, &l->q_norm, true, hp->head_dim_k, 0, "attention.key_length", "blk.%d.attn_q_norm.weight", il);
		need(L, &l->k_norm, true, hp->head_dim_k, 0, "attention.key_length", "blk.%d.attn_k_norm.weight", il);
	}
	need(L, &l->ffn_norm, true, d, 0, "embedding_length", "blk.%d.ffn_norm.weight", il);
	if (hp->n_expert == 0) {
		need(L, &l->ffn_gate, true, d, hp->n_ff, "feed_forward_length", "blk.%d.ffn_gate.weight", il);
		need(L, &l->ffn_up, true, d, hp->n_ff, "feed_forward_length", "blk.%d.ffn_up.weight", il);
		need(L, &l->ffn_down, true, hp->n_ff, d, "feed_forward_length", "blk.%d.ffn_down.weight", il);
		return;
	}
	need(L, &l->ffn_gate_inp, true, d, hp->n_expert, "expert_count", "blk.%d.ffn_gate_inp.weight", il);
	const char *why = "expert_count and expert_feed_forward_length";
	const struct gguf_tensor *t[EXP_NPARTS];
	const char *names[EXP_NPARTS] = {"gate", "up", "down"};
	for (int p = 0; p < EXP_NPARTS; p++) {
		char name[128];
		snprintf(name, sizeof name, "blk.%d.ffn_%s_exps.weight", il, names[p]);
		bool down = p == EXP_DOWN;
		t[p] = find(L, name, true, down ? hp->n_ff_exp : d, down ? d : hp->n_ff_exp, hp->n_expert, why);
		if (t[p] && t[p]->nbytes % (uint64_t)hp->n_expert)
			fail(L, "tensor %s: %llu bytes do not split into %d experts", name,
			     (unsigned long long)t[p]->nbytes, hp->n_expert);
	}
	if (!L->failed)
		weights_add_experts(m->w, il, t[EXP_GATE], t[EXP_UP], t[EXP_DOWN]);
}

static int64_t vocab_size(struct loader *L)
{
	uint64_t n;
	if (gguf_get_u64(L->m->g, akey(L, "vocab_size"), &n))
		return n <= INT32_MAX ? (int64_t)n : -1;
	const struct gguf_value *toks = gguf_get_arr(L->m->g, "tokenizer.ggml.tokens", GGUF_STRING);
	if (toks)
		return toks->arr.n <= INT32_MAX ? (int64_t)toks->arr.n : -1;
	const struct gguf_tensor *t = gguf_find_tensor(L->m->g, "token_embd.weight");
	return t ? (int64_t)t->ne[1] : -1;
}

static void load_rope_freqs(struct loader *L)
{
	struct model *m = L->m;
	int64_t n = m->hp.n_rot / 2;
	/* Llama 3 style frequency factors: theta_i is divided by rope_freqs[i]. */
	const struct gguf_tensor *t = find(L, "rope_freqs.weight", false, n, 0, 0, "rope.dimension_count");
	if (!t)
		return;
	m->rope_freqs = xmalloc((size_t)n * sizeof(float));
	if (gguf_read_tensor(m->g, t, 0, m->rope_freqs, (size_t)n * sizeof(float)) < 0)
		fail(L, "reading tensor %s: %s", t->name, strerror(errno));
}

static void need_tensors(struct loader *L)
{
	struct model *m = L->m;
	struct hparams *hp = &m->hp;
	int64_t nv = vocab_size(L);
	if (nv <= 0) {
		fail(L, "cannot tell the vocabulary size (%s)", akey(L, "vocab_size"));
		return;
	}
	hp->n_vocab = (int)nv;
	need(L, &m->token_embd, true, hp->n_embd, nv, "embedding_length and vocab_size", "token_embd.weight");
	need(L, &m->output_norm, true, hp->n_embd, 0, "embedding_length", "output_norm.weight");
	need(L, &m->output, false, hp->n_embd, nv, "embedding_length and vocab_size", "output.weight");
	load_rope_freqs(L);
	m->layers = xcalloc((size_t)hp->n_layer, sizeof *m->layers);
	for (int il = 0; il < hp->n_layer && !L->failed; il++)
		need_layer(L, il);
}

static bool detect_arch(struct loader *L)
{
	static const struct {
		const char *name;
		enum arch arch;
	} archs[] = {{"llama", ARCH_LLAMA}, {"qwen3", ARCH_QWEN3}, {"qwen3moe", ARCH_QWEN3MOE}};
	const char *a = gguf_get_str(L->m->g, "general.architecture");
	if (!a) {
		fail(L, "missing metadata key general.architecture");
		return false;
	}
	for (size_t i = 0; i < ARRAY_LEN(archs); i++)
		if (!strcmp(a, archs[i].name)) {
			L->m->arch = archs[i].arch;
			L->m->arch_name = archs[i].name;
			return true;
		}
	fail(L, "architecture '%s' is not supported (supported: llama, qwen3, qwen3moe)", a);
	return false;
}

struct model *model_load(const char *path, char *err, size_t errlen)
{
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
		need_tensors(&L);
	if (!L.failed && weights_load(m->w, err, errlen) < 0)
		L.failed = true;
	if (!L.failed) {
		for (int i = 0; i < L.n_binds; i++)
			*L.binds[i].dst = weights_mat(m->w, L.binds[i].handle);
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
	weights_free(m->w);
	gguf_close(m->g);
	free(m->rope_freqs);
	free(m->layers);
	free(m->path);
	free(m);
}

static uint64_t mat_bytes(const struct wmat *w)
{
	return w->data ? (uint64_t)w->rows * w->row_bytes : 0;
}

uint64_t model_bytes_per_token(const struct model *m)
{
	uint64_t b = mat_bytes(&m->output) + mat_bytes(&m->output_norm);
	for (int il = 0; il < m->hp.n_layer; il++) {
		const struct layer *l = &m->layers[il];
		const struct wmat *dense[] = {&l->attn_norm, &l->wq, &l->wk, &l->wv, &l->wo, &l->bq, &l->bk,
					      &l->bv, &l->bo, &l->q_norm, &l->k_norm, &l->ffn_norm,
					      &l->ffn_gate, &l->ffn_up, &l->ffn_down, &l->ffn_gate_inp};
		for (size_t i = 0; i < ARRAY_LEN(dense); i++)
			b += mat_bytes(dense[i]);
		if (m->hp.n_expert)
			for (int p = 0; p < EXP_NPARTS; p++)
				b += (uint64_t)m->hp.n_expert_used * weights_expert_bytes(m->w, il, (enum expert_part)p);
	}
	return b;
}
