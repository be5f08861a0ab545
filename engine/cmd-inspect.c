/* cmd-inspect.c - `heft-engine inspect`: what a model is and how it splits.
 *
 * The model is summarised once (struct summary) from the validated reader's
 * view; the text and JSON printers only format that summary. The memory plan
 * (--mem, a later issue) will be one more section computed from the same
 * summary: the dense/expert split below is what it needs.
 *
 * Nothing printed is trusted: strings from the file are escaped (control
 * bytes never reach the terminal; JSON gets valid UTF-8), arrays are
 * abridged, and derived numbers guard against zeros and overflow, because a
 * file that passed validation can still carry absurd values. */
#include "commands.h"
#include "options.h"
#include "arch.h"
#include "gguf.h"
#include "model.h"
#include "quant.h"
#include "util.h"
#include "weights.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct type_stat {
	uint64_t count, bytes, nelem;
};

struct summary {
	const struct gguf *g;
	const char *path;
	const char *arch; /* "" if absent */
	const struct arch *row; /* its descriptor row; NULL: not an architecture heft loads */
	const char *name; /* NULL if absent */
	uint64_t file_bytes, data_bytes, n_params;
	struct type_stat types[GGML_TYPE_COUNT];

	/* the split that matters for streaming */
	uint64_t dense_bytes, expert_bytes;
	uint64_t dense_params, expert_params;
	size_t n_expert_tensors;
	uint64_t n_expert;       /* experts per layer (largest seen) */
	uint64_t expert_layers;  /* layers with expert tensors */
	uint64_t one_expert;     /* bytes of one expert's slices in one layer (largest layer) */
	uint64_t expert_used;    /* <arch>.expert_used_count, 0 if absent */

	/* tokenizer */
	const char *tok_model, *tok_pre;
	uint64_t n_tokens, n_merges;
	bool has_tokens;
	const struct gguf_str *chat_template;
};

/* ---- summarising ---- */

/* A routed-expert tensor, by its role in the file's architecture row (an
 * architecture heft does not know has none); its layer in *layer. */
static bool expert_tensor(const struct summary *s, const char *name, int *layer)
{
	return arch_role_is_expert(arch_tensor_role_at(s->row, name, layer));
}

struct layer_bytes {
	int layer;
	uint64_t bytes;
};

static int cmp_layer(const void *a, const void *b)
{
	const struct layer_bytes *x = a, *y = b;
	return x->layer < y->layer ? -1 : x->layer > y->layer;
}

/* Experts: tensors whose last dimension runs over the experts. One expert is
 * its slice of every such tensor of a layer (gate, up, down and, in gpt-oss,
 * their biases); the largest layer sets the cache slot size. */
static void summarise_experts(struct summary *s)
{
	const struct gguf *g = s->g;
	struct layer_bytes *lb = xcalloc(s->n_expert_tensors ? s->n_expert_tensors : 1, sizeof(*lb));
	size_t n = 0;
	for (size_t i = 0; i < g->n_tensors; i++) {
		const struct gguf_tensor *t = &g->tensors[i];
		int layer;
		if (!expert_tensor(s, t->name, &layer))
			continue;
		uint64_t ne = t->n_dims >= 2 ? t->ne[t->n_dims - 1] : 1;
		s->n_expert = MAX(s->n_expert, ne);
		lb[n].layer = layer;
		lb[n].bytes = ne ? t->nbytes / ne : 0;
		n++;
	}
	qsort(lb, n, sizeof(*lb), cmp_layer);
	for (size_t i = 0; i < n;) {
		uint64_t sum = 0;
		size_t j = i;
		for (; j < n && lb[j].layer == lb[i].layer; j++)
			sum += lb[j].bytes;
		s->expert_layers++;
		s->one_expert = MAX(s->one_expert, sum);
		i = j;
	}
	free(lb);
}

static void summarise_tokenizer(struct summary *s)
{
	const struct gguf *g = s->g;
	s->tok_model = gguf_get_str(g, "tokenizer.ggml.model");
	s->tok_pre = gguf_get_str(g, "tokenizer.ggml.pre");
	const struct gguf_value *v = gguf_get_arr(g, "tokenizer.ggml.tokens", GGUF_VTYPE_COUNT);
	if (v) {
		s->has_tokens = true;
		s->n_tokens = v->arr.n;
	} else if (s->arch[0]) {
		char key[256];
		snprintf(key, sizeof key, "%s.vocab_size", s->arch);
		gguf_get_u64(g, key, &s->n_tokens);
	}
	v = gguf_get_arr(g, "tokenizer.ggml.merges", GGUF_VTYPE_COUNT);
	s->n_merges = v ? v->arr.n : 0;
	v = gguf_get(g, "tokenizer.chat_template");
	s->chat_template = v && v->type == GGUF_STRING ? &v->str : NULL;
}

static void summarise(struct summary *s, const struct gguf *g, const char *path)
{
	memset(s, 0, sizeof(*s));
	s->g = g;
	s->path = path;
	s->arch = gguf_arch(g) ? gguf_arch(g) : "";
	s->row = arch_find_gguf(s->arch);
	s->name = gguf_get_str(g, "general.name");
	for (size_t i = 0; i < g->n_parts; i++)
		s->file_bytes += g->parts[i].file_size;
	for (size_t i = 0; i < g->n_tensors; i++) {
		const struct gguf_tensor *t = &g->tensors[i];
		struct type_stat *ts = &s->types[t->type < GGML_TYPE_COUNT ? t->type : 0];
		ts->count++;
		ts->bytes += t->nbytes;
		ts->nelem += t->nelem;
		s->data_bytes += t->nbytes;
		s->n_params += t->nelem;
		int layer;
		if (expert_tensor(s, t->name, &layer)) {
			s->n_expert_tensors++;
			s->expert_bytes += t->nbytes;
			s->expert_params += t->nelem;
		} else {
			s->dense_bytes += t->nbytes;
			s->dense_params += t->nelem;
		}
	}
	summarise_experts(s);
	char key[256];
	snprintf(key, sizeof key, "%s.expert_used_count", s->arch);
	gguf_get_u64(g, key, &s->expert_used);
	summarise_tokenizer(s);
}

/* <arch>.<suffix> as an unsigned number, 0 if absent or not a number. */
static uint64_t arch_u64(const struct summary *s, const char *suffix)
{
	char key[256];
	uint64_t v = 0;
	snprintf(key, sizeof key, "%s.%s", s->arch, suffix);
	if (!gguf_get_u64(s->g, key, &v))
		v = 0;
	return v;
}

/* Derived hyperparameters: each is reported only if its inputs are there. */
struct derived {
	uint64_t head_dim, gqa;
	uint64_t kv_bytes_token; /* F16 KV cache, all layers */
	uint64_t kv_bytes_ctx;   /* at context_length */
	uint64_t active_params;  /* per token (MoE) */
};

static void derive(const struct summary *s, struct derived *d)
{
	memset(d, 0, sizeof(*d));
	uint64_t embd = arch_u64(s, "embedding_length"), heads = arch_u64(s, "attention.head_count");
	uint64_t kvh = arch_u64(s, "attention.head_count_kv"), layers = arch_u64(s, "block_count");
	uint64_t kl = arch_u64(s, "attention.key_length"), vl = arch_u64(s, "attention.value_length");
	uint64_t lora = arch_u64(s, "attention.kv_lora_rank"), ctx = arch_u64(s, "context_length");
	if (!kvh)
		kvh = heads;
	d->head_dim = kl ? kl : heads ? embd / heads : 0;
	if (!vl)
		vl = d->head_dim;
	d->gqa = kvh ? heads / kvh : 0;
	uint64_t per_layer; /* elements per token and layer */
	if (lora) /* MLA caches the compressed latent plus the rotary part of k */
		per_layer = lora + arch_u64(s, "rope.dimension_count");
	else
		per_layer = kvh * (d->head_dim + vl);
	if (!mul_u64(per_layer, layers * 2, &d->kv_bytes_token) || layers > UINT32_MAX)
		d->kv_bytes_token = 0;
	if (!mul_u64(d->kv_bytes_token, ctx, &d->kv_bytes_ctx))
		d->kv_bytes_ctx = 0;
	if (s->n_expert && s->expert_used && s->expert_used <= s->n_expert)
		d->active_params = s->dense_params +
				   (uint64_t)((double)s->expert_params * (double)s->expert_used / (double)s->n_expert);
}

/* llama.cpp's general.file_type values (llama_ftype). */
static const char *ftype_name(uint64_t ft)
{
	static const char *const names[] = {
		[0] = "ALL_F32", [1] = "MOSTLY_F16", [2] = "MOSTLY_Q4_0", [3] = "MOSTLY_Q4_1",
		[7] = "MOSTLY_Q8_0", [8] = "MOSTLY_Q5_0", [9] = "MOSTLY_Q5_1", [10] = "MOSTLY_Q2_K",
		[11] = "MOSTLY_Q3_K_S", [12] = "MOSTLY_Q3_K_M", [13] = "MOSTLY_Q3_K_L",
		[14] = "MOSTLY_Q4_K_S", [15] = "MOSTLY_Q4_K_M", [16] = "MOSTLY_Q5_K_S",
		[17] = "MOSTLY_Q5_K_M", [18] = "MOSTLY_Q6_K", [19] = "MOSTLY_IQ2_XXS",
		[20] = "MOSTLY_IQ2_XS", [21] = "MOSTLY_Q2_K_S", [22] = "MOSTLY_IQ3_XS",
		[23] = "MOSTLY_IQ3_XXS", [24] = "MOSTLY_IQ1_S", [25] = "MOSTLY_IQ4_NL",
		[26] = "MOSTLY_IQ3_S", [27] = "MOSTLY_IQ3_M", [28] = "MOSTLY_IQ2_S",
		[29] = "MOSTLY_IQ2_M", [30] = "MOSTLY_IQ4_XS", [31] = "MOSTLY_IQ1_M",
		[32] = "MOSTLY_BF16", [36] = "MOSTLY_TQ1_0", [37] = "MOSTLY_TQ2_0",
		[38] = "MOSTLY_MXFP4_MOE",
	};
	return ft < ARRAY_LEN(names) && names[ft] ? names[ft] : "unknown";
}

static const char *type_name(uint32_t t)
{
	const struct qtype *q = qtype_get(t);
	return q ? q->name : "?";
}

/* Type ids ordered by bytes, largest first. */
static size_t types_by_bytes(const struct summary *s, uint32_t out[GGML_TYPE_COUNT])
{
	size_t n = 0;
	for (uint32_t t = 0; t < GGML_TYPE_COUNT; t++)
		if (s->types[t].count)
			out[n++] = t;
	for (size_t i = 1; i < n; i++)
		for (size_t j = i; j > 0 && s->types[out[j]].bytes > s->types[out[j - 1]].bytes; j--) {
			uint32_t x = out[j];
			out[j] = out[j - 1];
			out[j - 1] = x;
		}
	return n;
}

/* ---- text output ---- */

/* A string from the file, made safe for a terminal: control bytes and
 * invalid UTF-8 become \xNN, and long strings are cut at max bytes. */
static void put_safe(FILE *f, const char *p, uint64_t len, uint64_t max)
{
	const unsigned char *s = (const unsigned char *)p;
	uint64_t n = MIN(len, max);
	for (uint64_t i = 0; i < n;) {
		size_t k = s[i] >= 0x80 ? utf8_seq_len(s + i, (size_t)(n - i)) : 1;
		/* U+0080..U+009F are controls too (U+009B is CSI): \xNN */
		if (s[i] >= 0x80 && k > 1 && !(s[i] == 0xc2 && s[i + 1] < 0xa0)) {
			fwrite(s + i, 1, k, f);
			i += k;
			continue;
		}
		if (s[i] < 0x20 || s[i] == 0x7f || s[i] >= 0x80 || s[i] == '\\')
			fprintf(f, s[i] == '\n' ? "\\n" : s[i] == '\\' ? "\\\\" : "\\x%02x", s[i]);
		else
			fputc(s[i], f);
		i++;
	}
	if (len > max)
		fprintf(f, "... (%" PRIu64 " bytes)", len);
}

static void put_scalar(FILE *f, enum gguf_vtype t, const void *p)
{
	switch (t) {
	case GGUF_UINT8: fprintf(f, "%u", *(const uint8_t *)p); break;
	case GGUF_INT8: fprintf(f, "%d", *(const int8_t *)p); break;
	case GGUF_UINT16: fprintf(f, "%u", *(const uint16_t *)p); break;
	case GGUF_INT16: fprintf(f, "%d", *(const int16_t *)p); break;
	case GGUF_UINT32: fprintf(f, "%" PRIu32, *(const uint32_t *)p); break;
	case GGUF_INT32: fprintf(f, "%" PRId32, *(const int32_t *)p); break;
	case GGUF_UINT64: fprintf(f, "%" PRIu64, *(const uint64_t *)p); break;
	case GGUF_INT64: fprintf(f, "%" PRId64, *(const int64_t *)p); break;
	case GGUF_FLOAT32: fprintf(f, "%g", (double)*(const float *)p); break;
	case GGUF_FLOAT64: fprintf(f, "%g", *(const double *)p); break;
	case GGUF_BOOL: fputs(*(const uint8_t *)p ? "true" : "false", f); break;
	default: fputs("?", f); break;
	}
}

static size_t elem_size(enum gguf_vtype t)
{
	switch (t) {
	case GGUF_UINT8: case GGUF_INT8: case GGUF_BOOL: return 1;
	case GGUF_UINT16: case GGUF_INT16: return 2;
	case GGUF_UINT32: case GGUF_INT32: case GGUF_FLOAT32: return 4;
	case GGUF_UINT64: case GGUF_INT64: case GGUF_FLOAT64: return 8;
	case GGUF_STRING: return sizeof(struct gguf_str);
	default: return sizeof(struct gguf_value);
	}
}

/* Array elements shown in text before "...". */
#define TEXT_ARRAY_MAX 8

static void put_value(FILE *f, const struct gguf_value *v, int depth)
{
	switch (v->type) {
	case GGUF_STRING:
		fputc('"', f);
		put_safe(f, v->str.ptr, v->str.len, 120);
		fputc('"', f);
		return;
	case GGUF_ARRAY: {
		uint64_t n = MIN(v->arr.n, (uint64_t)TEXT_ARRAY_MAX);
		const char *p = v->arr.data;
		fputc('[', f);
		for (uint64_t i = 0; i < n && depth < 4; i++, p += elem_size(v->arr.type)) {
			if (i)
				fputs(", ", f);
			if (v->arr.type == GGUF_STRING) {
				const struct gguf_str *s = (const struct gguf_str *)p;
				struct gguf_value sv = {.type = GGUF_STRING, .str = *s};
				put_value(f, &sv, depth + 1);
			} else if (v->arr.type == GGUF_ARRAY) {
				put_value(f, (const struct gguf_value *)p, depth + 1);
			} else {
				put_scalar(f, v->arr.type, p);
			}
		}
		if (v->arr.n > n || (depth >= 4 && v->arr.n))
			fprintf(f, "%s... %" PRIu64 " %s", n && depth < 4 ? ", " : "", v->arr.n,
				gguf_vtype_name(v->arr.type));
		fputc(']', f);
		return;
	}
	case GGUF_FLOAT32: case GGUF_FLOAT64: fprintf(f, "%g", v->f64); return;
	case GGUF_BOOL: fputs(v->b ? "true" : "false", f); return;
	case GGUF_INT8: case GGUF_INT16: case GGUF_INT32: case GGUF_INT64:
		fprintf(f, "%" PRId64, v->i64);
		return;
	default: fprintf(f, "%" PRIu64, v->u64); return;
	}
}

static void put_count(FILE *f, uint64_t n)
{
	if (n >= 1000000000)
		fprintf(f, "%.2f B", (double)n / 1e9);
	else if (n >= 1000000)
		fprintf(f, "%.2f M", (double)n / 1e6);
	else if (n >= 1000)
		fprintf(f, "%.1f K", (double)n / 1e3);
	else
		fprintf(f, "%" PRIu64, n);
}

#define LABEL "  %-26s "

static void text_general(FILE *f, const struct summary *s)
{
	const struct gguf *g = s->g;
	char b[32];
	fprintf(f, "model\n" LABEL, "file");
	put_safe(f, s->path, strlen(s->path), 4096);
	fprintf(f, "\n" LABEL "%u\n", "gguf version", g->version);
	fprintf(f, LABEL "%s", "size", fmt_bytes(b, sizeof b, s->file_bytes));
	if (g->n_parts > 1)
		fprintf(f, " in %zu parts", g->n_parts);
	fputc('\n', f);
	for (size_t i = 0; g->n_parts > 1 && i < g->n_parts; i++) {
		fprintf(f, "    part %-19zu %10s  ", i + 1, fmt_bytes(b, sizeof b, g->parts[i].file_size));
		put_safe(f, g->parts[i].path, strlen(g->parts[i].path), 4096);
		fputc('\n', f);
	}
	fprintf(f, LABEL, "architecture");
	put_safe(f, s->arch[0] ? s->arch : "(none)", strlen(s->arch[0] ? s->arch : "(none)"), 120);
	fprintf(f, "\n" LABEL, "name");
	put_safe(f, s->name ? s->name : "(none)", strlen(s->name ? s->name : "(none)"), 120);
	uint64_t ft;
	if (gguf_get_u64(g, "general.file_type", &ft))
		fprintf(f, "\n" LABEL "%s (%" PRIu64 ")", "file type", ftype_name(ft), ft);
	fprintf(f, "\n" LABEL, "parameters");
	put_count(f, s->n_params);
	fprintf(f, " (%" PRIu64 ")\n", s->n_params);
	fprintf(f, LABEL "%zu, %s of data\n", "tensors", g->n_tensors, fmt_bytes(b, sizeof b, s->data_bytes));
}

static void text_quant(FILE *f, const struct summary *s)
{
	uint32_t order[GGML_TYPE_COUNT];
	size_t n = types_by_bytes(s, order);
	if (!n)
		return;
	fprintf(f, "\nquantization\n");
	for (size_t i = 0; i < n; i++) {
		const struct type_stat *t = &s->types[order[i]];
		char b[32];
		double bpw = t->nelem ? 8.0 * (double)t->bytes / (double)t->nelem : 0;
		fprintf(f, "  %-10s %5" PRIu64 " tensors %12s %6.2f bits/weight %5.1f%%\n", type_name(order[i]),
			t->count, fmt_bytes(b, sizeof b, t->bytes), bpw,
			s->data_bytes ? 100.0 * (double)t->bytes / (double)s->data_bytes : 0.0);
	}
}

static void text_hparams(FILE *f, const struct summary *s)
{
	const struct gguf *g = s->g;
	size_t alen = strlen(s->arch);
	bool any = false;
	for (size_t i = 0; alen && i < g->n_kv; i++) {
		const char *k = g->kv[i].key;
		if (strncmp(k, s->arch, alen) || k[alen] != '.')
			continue;
		if (!any)
			fprintf(f, "\nhyperparameters\n");
		any = true;
		fputs("  ", f);
		put_safe(f, k + alen + 1, strlen(k + alen + 1), 60);
		size_t w = strlen(k + alen + 1);
		fprintf(f, "%*s ", w < 40 ? (int)(40 - w) : 0, "");
		put_value(f, &g->kv[i].val, 0);
		fputc('\n', f);
	}
	struct derived d;
	derive(s, &d);
	char b[32];
	if (d.head_dim || d.kv_bytes_token || d.active_params)
		fprintf(f, "\nderived\n");
	if (d.head_dim)
		fprintf(f, LABEL "%" PRIu64 "\n", "head dim", d.head_dim);
	if (d.gqa)
		fprintf(f, LABEL "%" PRIu64 " query heads per KV head\n", "grouped-query attention", d.gqa);
	if (d.kv_bytes_token)
		fprintf(f, LABEL "%s per token\n", "KV cache (F16)", fmt_bytes(b, sizeof b, d.kv_bytes_token));
	if (d.kv_bytes_ctx)
		fprintf(f, LABEL "%s at context_length\n", "KV cache (F16), full", fmt_bytes(b, sizeof b, d.kv_bytes_ctx));
	if (d.active_params) {
		fprintf(f, LABEL, "active parameters");
		put_count(f, d.active_params);
		fprintf(f, " per token (%" PRIu64 " of %" PRIu64 " experts)\n", s->expert_used, s->n_expert);
	}
}

static void text_tokenizer(FILE *f, const struct summary *s)
{
	fprintf(f, "\ntokenizer\n" LABEL, "model");
	if (s->tok_model)
		put_safe(f, s->tok_model, strlen(s->tok_model), 120);
	else
		fputs("(none)", f);
	if (s->tok_pre) {
		fprintf(f, "\n" LABEL, "pre-tokenizer");
		put_safe(f, s->tok_pre, strlen(s->tok_pre), 120);
	}
	fprintf(f, "\n" LABEL "%" PRIu64 "%s\n", "vocabulary", s->n_tokens,
		s->has_tokens ? " tokens" : " (vocab_size; no token list)");
	if (s->n_merges)
		fprintf(f, LABEL "%" PRIu64 "\n", "merges", s->n_merges);
	if (s->chat_template)
		fprintf(f, LABEL "yes (%" PRIu64 " bytes)\n", "chat template", s->chat_template->len);
	else
		fprintf(f, LABEL "no\n", "chat template");
}

static void text_split(FILE *f, const struct summary *s)
{
	char b1[32], b2[32], b3[32];
	fprintf(f, "\nmemory split\n");
	fprintf(f, LABEL "%s resident (%zu tensors)\n", "dense", fmt_bytes(b1, sizeof b1, s->dense_bytes),
		s->g->n_tensors - s->n_expert_tensors);
	if (!s->row && s->g->n_tensors) {
		fprintf(f, LABEL "unknown (not an architecture heft loads)\n", "experts");
		return;
	}
	if (!s->n_expert_tensors) {
		fprintf(f, LABEL "none\n", "experts");
		return;
	}
	fprintf(f, LABEL "%s streamable (%" PRIu64 " experts x %" PRIu64 " layers), one expert = %s\n",
		"experts", fmt_bytes(b2, sizeof b2, s->expert_bytes), s->n_expert, s->expert_layers,
		fmt_bytes(b3, sizeof b3, s->one_expert));
	if (s->expert_used) {
		uint64_t per_tok = 0;
		if (mul_u64(s->one_expert, s->expert_used, &per_tok) &&
		    mul_u64(per_tok, s->expert_layers, &per_tok))
			fprintf(f, LABEL "%s (%" PRIu64 " used x %" PRIu64 " layers) at 0%% cache hits\n",
				"expert reads per token", fmt_bytes(b1, sizeof b1, per_tok), s->expert_used,
				s->expert_layers);
	}
}

static void shape_str(const struct gguf_tensor *t, char *out, size_t n)
{
	size_t len = 0;
	out[0] = 0;
	for (uint32_t d = 0; d < t->n_dims && len < n; d++)
		len += (size_t)snprintf(out + len, n - len, "%s%" PRIu64, d ? " x " : "", t->ne[d]);
}

static void text_tensors(FILE *f, const struct summary *s)
{
	const struct gguf *g = s->g;
	int w = 4;
	for (size_t i = 0; i < g->n_tensors; i++)
		w = MAX(w, (int)MIN(strlen(g->tensors[i].name), (size_t)64));
	fprintf(f, "\ntensors\n  %-*s %-8s %-24s %4s %14s %12s\n", w, "name", "type", "shape", "part",
		"offset", "bytes");
	for (size_t i = 0; i < g->n_tensors; i++) {
		const struct gguf_tensor *t = &g->tensors[i];
		char shape[128];
		shape_str(t, shape, sizeof shape);
		fputs("  ", f);
		size_t nl = strlen(t->name);
		put_safe(f, t->name, nl, 64);
		fprintf(f, "%*s %-8s %-24s %4u %14" PRIu64 " %12" PRIu64 "\n", nl < (size_t)w ? w - (int)nl : 0,
			"", type_name(t->type), shape, t->part + 1, t->offset, t->nbytes);
	}
}

/* The memory plan, when asked for (--mem and friends): the model's loader
 * in plan-only mode, so it is the very plan a run would make. */
struct plan_view {
	bool asked;
	const struct model *m;   /* NULL: refused or not loadable */
	const char *err;
	struct model_opts mo;
};

static void text_plan(FILE *f, const struct plan_view *pv)
{
	if (!pv->asked)
		return;
	char b[4][32];
	fprintf(f, "\nmemory plan\n");
	if (!pv->m) {
		fprintf(f, LABEL "%s\n", "refused", pv->err);
		return;
	}
	const struct weights_plan *p = weights_get_plan(pv->m->w);
	fprintf(f, LABEL "%s\n", "budget", fmt_bytes(b[0], sizeof b[0], p->budget));
	fprintf(f, LABEL "%s (%s)\n", "mode",
		p->io == WIO_STREAM ? "stream experts" : p->io == WIO_MMAP ? "mmap" : "all in RAM", p->why);
	fprintf(f, LABEL "%s\n", "resident", fmt_bytes(b[0], sizeof b[0], p->dense_bytes));
	for (int c = 0; c < WC_COUNT; c++)
		if (p->class_bytes[c])
			fprintf(f, "    %-20s %s\n", wclass_names[c], fmt_bytes(b[0], sizeof b[0], p->class_bytes[c]));
	if (p->io == WIO_STREAM && p->embd_file_bytes)
		fprintf(f, "    %-20s read by row (%s in the file)\n", wclass_names[WC_EMBD],
			fmt_bytes(b[0], sizeof b[0], p->embd_file_bytes));
	if (p->n_stream_layers)
		fprintf(f, LABEL "%d layers' attention/shared/dense FFN read per token: %s (2 buffers, %s)\n",
			"streamed layers", p->n_stream_layers, fmt_bytes(b[0], sizeof b[0], p->layer_stream_bytes),
			fmt_bytes(b[1], sizeof b[1], p->layer_buf_bytes));
	fprintf(f, LABEL "%s (context %d, batch %d)\n", "KV, scratch, runtime",
		fmt_bytes(b[0], sizeof b[0], p->extra_bytes), p->n_ctx, p->batch);
	if (p->n_experts) {
		if (p->io == WIO_STREAM)
			fprintf(f, LABEL "%d slots x %s = %s (%.1f%% of %d experts)\n", "expert cache", p->n_slots,
				fmt_bytes(b[0], sizeof b[0], p->slot_bytes),
				fmt_bytes(b[1], sizeof b[1], (uint64_t)p->n_slots * p->slot_bytes),
				100.0 * p->n_slots / p->n_experts, p->n_experts);
		else
			fprintf(f, LABEL "all %d experts (%s)\n", "experts", p->n_experts,
				fmt_bytes(b[0], sizeof b[0], p->expert_bytes));
		fprintf(f, LABEL "%s at 0%% hits\n", "reads per token",
			fmt_bytes(b[0], sizeof b[0], p->cold_read_per_token));
		fprintf(f, LABEL "%s (%d slots)\n", "smallest --mem", fmt_bytes_up(b[0], sizeof b[0], p->min_budget),
			p->min_slots);
	}
	fprintf(f, LABEL "%s\n", "total", fmt_bytes(b[0], sizeof b[0], p->total_bytes));
}

static void print_text(FILE *f, const struct summary *s, bool tensors, const struct plan_view *pv)
{
	text_general(f, s);
	text_quant(f, s);
	text_hparams(f, s);
	text_tokenizer(f, s);
	text_split(f, s);
	text_plan(f, pv);
	if (tensors)
		text_tensors(f, s);
}

/* ---- JSON output ---- */

struct json {
	FILE *f;
	bool need_comma;
};

/* A JSON string from arbitrary bytes: valid UTF-8 passes through, control
 * characters are \u-escaped, and each byte of invalid UTF-8 becomes U+FFFD. */
static void json_str(struct json *j, const char *p, uint64_t len)
{
	const unsigned char *s = (const unsigned char *)p;
	FILE *f = j->f;
	fputc('"', f);
	for (uint64_t i = 0; i < len;) {
		unsigned c = s[i];
		if (c >= 0x80) {
			size_t k = utf8_seq_len(s + i, (size_t)MIN(len - i, (uint64_t)4));
			if (k == 2 && c == 0xc2 && s[i + 1] < 0xa0) { /* a C1 control */
				fprintf(f, "\\u%04x", s[i + 1]);
				i += k;
			} else if (k) {
				fwrite(s + i, 1, k, f);
				i += k;
			} else {
				fputs("\\ufffd", f);
				i++;
			}
			continue;
		}
		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c == '\n')
			fputs("\\n", f);
		else if (c == '\t')
			fputs("\\t", f);
		else if (c < 0x20 || c == 0x7f)
			fprintf(f, "\\u%04x", c);
		else
			fputc((int)c, f);
		i++;
	}
	fputc('"', f);
}

static void json_sep(struct json *j)
{
	if (j->need_comma)
		fputc(',', j->f);
	j->need_comma = true;
}

static void json_key(struct json *j, const char *k)
{
	json_sep(j);
	json_str(j, k, strlen(k));
	fputc(':', j->f); /* the value follows; whatever comes after it needs a comma */
}

static void json_open(struct json *j, const char *k, char c)
{
	if (k)
		json_key(j, k);
	else
		json_sep(j);
	fputc(c, j->f);
	j->need_comma = false;
}

static void json_close(struct json *j, char c)
{
	fputc(c, j->f);
	j->need_comma = true;
}

static void json_u64(struct json *j, const char *k, uint64_t v)
{
	k ? json_key(j, k) : json_sep(j);
	fprintf(j->f, "%" PRIu64, v);
}

static void json_i64(struct json *j, const char *k, int64_t v)
{
	k ? json_key(j, k) : json_sep(j);
	fprintf(j->f, "%" PRId64, v);
}

static void json_f64(struct json *j, const char *k, double v)
{
	k ? json_key(j, k) : json_sep(j);
	if (isfinite(v))
		fprintf(j->f, "%.9g", v);
	else
		fputs("null", j->f); /* JSON has no NaN or infinity */
}

static void json_bool(struct json *j, const char *k, bool v)
{
	k ? json_key(j, k) : json_sep(j);
	fputs(v ? "true" : "false", j->f);
}

static void json_string(struct json *j, const char *k, const char *v)
{
	k ? json_key(j, k) : json_sep(j);
	if (v)
		json_str(j, v, strlen(v));
	else
		fputs("null", j->f);
}

/* Arrays longer than this are summarised as {"type", "n"} (a vocabulary
 * would otherwise be megabytes of output). */
#define JSON_ARRAY_MAX 1024

static void json_value(struct json *j, const char *k, const struct gguf_value *v, int depth)
{
	switch (v->type) {
	case GGUF_STRING:
		k ? json_key(j, k) : json_sep(j);
		json_str(j, v->str.ptr, v->str.len);
		return;
	case GGUF_ARRAY:
		break;
	case GGUF_FLOAT32: case GGUF_FLOAT64: json_f64(j, k, v->f64); return;
	case GGUF_BOOL: json_bool(j, k, v->b); return;
	case GGUF_INT8: case GGUF_INT16: case GGUF_INT32: case GGUF_INT64: json_i64(j, k, v->i64); return;
	default: json_u64(j, k, v->u64); return;
	}
	if (v->arr.n > JSON_ARRAY_MAX || depth >= 8) {
		json_open(j, k, '{');
		json_string(j, "array_of", gguf_vtype_name(v->arr.type));
		json_u64(j, "n", v->arr.n);
		json_close(j, '}');
		return;
	}
	json_open(j, k, '[');
	const char *p = v->arr.data;
	for (uint64_t i = 0; i < v->arr.n; i++, p += elem_size(v->arr.type)) {
		struct gguf_value e = {.type = v->arr.type};
		switch (v->arr.type) {
		case GGUF_STRING: e.str = *(const struct gguf_str *)p; break;
		case GGUF_ARRAY: e = *(const struct gguf_value *)p; break;
		case GGUF_UINT8: e.u64 = *(const uint8_t *)p; break;
		case GGUF_INT8: e.i64 = *(const int8_t *)p; break;
		case GGUF_UINT16: e.u64 = *(const uint16_t *)p; break;
		case GGUF_INT16: e.i64 = *(const int16_t *)p; break;
		case GGUF_UINT32: e.u64 = *(const uint32_t *)p; break;
		case GGUF_INT32: e.i64 = *(const int32_t *)p; break;
		case GGUF_UINT64: e.u64 = *(const uint64_t *)p; break;
		case GGUF_INT64: e.i64 = *(const int64_t *)p; break;
		case GGUF_FLOAT32: e.f64 = *(const float *)p; break;
		case GGUF_FLOAT64: e.f64 = *(const double *)p; break;
		case GGUF_BOOL: e.b = *(const uint8_t *)p != 0; break;
		default: break;
		}
		json_value(j, NULL, &e, depth + 1);
	}
	json_close(j, ']');
}

static void json_general(struct json *j, const struct summary *s)
{
	const struct gguf *g = s->g;
	json_string(j, "file", s->path);
	json_u64(j, "gguf_version", g->version);
	json_u64(j, "file_bytes", s->file_bytes);
	json_open(j, "parts", '[');
	for (size_t i = 0; i < g->n_parts; i++) {
		json_open(j, NULL, '{');
		json_string(j, "path", g->parts[i].path);
		json_u64(j, "bytes", g->parts[i].file_size);
		json_u64(j, "data_offset", g->parts[i].data_offset);
		json_close(j, '}');
	}
	json_close(j, ']');
	json_string(j, "architecture", s->arch[0] ? s->arch : NULL);
	json_string(j, "name", s->name);
	uint64_t ft;
	if (gguf_get_u64(g, "general.file_type", &ft)) {
		json_u64(j, "file_type", ft);
		json_string(j, "file_type_name", ftype_name(ft));
	}
	json_u64(j, "alignment", g->alignment);
	json_u64(j, "parameters", s->n_params);
	json_u64(j, "tensor_count", g->n_tensors);
	json_u64(j, "data_bytes", s->data_bytes);
}

static void json_quant(struct json *j, const struct summary *s)
{
	uint32_t order[GGML_TYPE_COUNT];
	size_t n = types_by_bytes(s, order);
	json_open(j, "quantization", '[');
	for (size_t i = 0; i < n; i++) {
		json_open(j, NULL, '{');
		json_string(j, "type", type_name(order[i]));
		json_u64(j, "tensors", s->types[order[i]].count);
		json_u64(j, "bytes", s->types[order[i]].bytes);
		json_u64(j, "elements", s->types[order[i]].nelem);
		json_close(j, '}');
	}
	json_close(j, ']');
}

static void json_hparams(struct json *j, const struct summary *s)
{
	const struct gguf *g = s->g;
	size_t alen = strlen(s->arch);
	json_open(j, "hyperparameters", '{');
	for (size_t i = 0; alen && i < g->n_kv; i++) {
		const char *k = g->kv[i].key;
		if (!strncmp(k, s->arch, alen) && k[alen] == '.')
			json_value(j, k + alen + 1, &g->kv[i].val, 0);
	}
	json_close(j, '}');
	struct derived d;
	derive(s, &d);
	json_open(j, "derived", '{');
	if (d.head_dim)
		json_u64(j, "head_dim", d.head_dim);
	if (d.gqa)
		json_u64(j, "gqa", d.gqa);
	if (d.kv_bytes_token)
		json_u64(j, "kv_f16_bytes_per_token", d.kv_bytes_token);
	if (d.kv_bytes_ctx)
		json_u64(j, "kv_f16_bytes_context", d.kv_bytes_ctx);
	if (d.active_params)
		json_u64(j, "active_parameters", d.active_params);
	json_close(j, '}');
}

static void json_tokenizer(struct json *j, const struct summary *s)
{
	json_open(j, "tokenizer", '{');
	json_string(j, "model", s->tok_model);
	json_string(j, "pre", s->tok_pre);
	json_u64(j, "vocab_size", s->n_tokens);
	json_bool(j, "has_token_list", s->has_tokens);
	json_u64(j, "merges", s->n_merges);
	json_bool(j, "chat_template", s->chat_template != NULL);
	if (s->chat_template)
		json_u64(j, "chat_template_bytes", s->chat_template->len);
	json_close(j, '}');
}

/* A named number of a section; the sections below are lists of them. */
struct jnum {
	const char *key;
	uint64_t v;
	bool is_signed; /* v holds an int64_t */
};
#define JU(key, x) {key, (uint64_t)(x), false}
#define JI(key, x) {key, (uint64_t)(int64_t)(x), true}

static void json_nums(struct json *j, const struct jnum *n, size_t count)
{
	for (size_t i = 0; i < count; i++) {
		if (n[i].is_signed)
			json_i64(j, n[i].key, (int64_t)n[i].v);
		else
			json_u64(j, n[i].key, n[i].v);
	}
}

static void json_split(struct json *j, const struct summary *s)
{
	const struct jnum split[] = {
		JU("dense_bytes", s->dense_bytes),       JU("dense_tensors", s->g->n_tensors - s->n_expert_tensors),
		JU("dense_parameters", s->dense_params), JU("expert_bytes", s->expert_bytes),
		JU("expert_tensors", s->n_expert_tensors), JU("expert_parameters", s->expert_params),
		JU("experts", s->n_expert),              JU("experts_used", s->expert_used),
		JU("expert_layers", s->expert_layers),   JU("one_expert_bytes", s->one_expert),
	};
	json_open(j, "split", '{');
	json_nums(j, split, ARRAY_LEN(split));
	json_close(j, '}');
}

static void json_metadata(struct json *j, const struct summary *s)
{
	json_open(j, "metadata", '{');
	for (size_t i = 0; i < s->g->n_kv; i++)
		json_value(j, s->g->kv[i].key, &s->g->kv[i].val, 0);
	json_close(j, '}');
}

static void json_tensors(struct json *j, const struct summary *s)
{
	const struct gguf *g = s->g;
	json_open(j, "tensors", '[');
	for (size_t i = 0; i < g->n_tensors; i++) {
		const struct gguf_tensor *t = &g->tensors[i];
		json_open(j, NULL, '{');
		json_string(j, "name", t->name);
		json_string(j, "type", type_name(t->type));
		json_open(j, "shape", '[');
		for (uint32_t d = 0; d < t->n_dims; d++)
			json_u64(j, NULL, t->ne[d]);
		json_close(j, ']');
		json_u64(j, "part", t->part);
		json_u64(j, "offset", t->offset);
		json_u64(j, "bytes", t->nbytes);
		json_close(j, '}');
	}
	json_close(j, ']');
}

static void json_plan(struct json *j, const struct plan_view *pv)
{
	if (!pv->asked)
		return;
	json_open(j, "plan", '{');
	if (!pv->m) {
		json_string(j, "refused", pv->err);
		json_close(j, '}');
		return;
	}
	const struct weights_plan *p = weights_get_plan(pv->m->w);
	json_string(j, "mode", weights_io_names[p->io]);
	json_string(j, "why", p->why);
	json_u64(j, "budget", p->budget);
	json_u64(j, "resident_bytes", p->dense_bytes);
	json_open(j, "resident", '{');
	for (int c = 0; c < WC_COUNT; c++)
		json_u64(j, wclass_names[c], p->class_bytes[c]);
	json_close(j, '}');
	json_bool(j, "embeddings_by_row", p->io == WIO_STREAM && p->embd_file_bytes);
	const struct jnum rest[] = {
		JU("kv_scratch_runtime_bytes", p->extra_bytes), JI("stream_layers", p->n_stream_layers),
		JU("layer_stream_bytes", p->layer_stream_bytes), JU("layer_buf_bytes", p->layer_buf_bytes),
		JI("n_ctx", p->n_ctx),                           JI("batch", p->batch),
		JI("n_experts", p->n_experts),                   JU("expert_bytes", p->expert_bytes),
		JU("slot_bytes", p->slot_bytes),                 JI("n_slots", p->n_slots),
		JU("cold_read_per_token", p->cold_read_per_token), JU("min_budget", p->min_budget),
		JU("total_bytes", p->total_bytes),
	};
	json_nums(j, rest, ARRAY_LEN(rest));
	json_close(j, '}');
}

static void print_json(FILE *f, const struct summary *s, bool tensors, const struct plan_view *pv)
{
	struct json j = {.f = f};
	json_open(&j, NULL, '{');
	json_general(&j, s);
	json_quant(&j, s);
	json_hparams(&j, s);
	json_tokenizer(&j, s);
	json_split(&j, s);
	json_plan(&j, pv);
	json_metadata(&j, s);
	if (tensors)
		json_tensors(&j, s);
	json_close(&j, '}');
	fputc('\n', f);
}

/* ---- the command ---- */

static void usage(FILE *f)
{
	fprintf(f, "usage: heft-engine inspect [--tensors] [--json] [--mem SIZE|min [--io MODE] [--cache-policy P]\n"
		   "                           [--cache-type-k T] [--cache-type-v T] [--ctx N] [-b N] [--threads N]]\n"
		   "                           MODEL.gguf\n"
		   "  --mem and the flags after it print the memory plan a run would make:\n%s",
		cmd_loading_usage);
}

/* -t is --tensors here: the shared -t (threads) stays --threads. */
static const struct cmd_opt inspect_opts[] = {
	{"tensors", 't', no_argument, 't'},
	{"json", 'j', no_argument, 'j'},
	{"help", 'h', no_argument, 'h'},
	{NULL, 0, 0, 0},
};

int cmd_inspect(int argc, char **argv)
{
	bool tensors = false, json = false, bad = false;
	struct plan_view pv = {0};
	struct cmd_parser p = {.opts = inspect_opts, .mo = &pv.mo, .groups = CMD_BATCH};
	int c;
	while ((c = cmd_next(&p, argc, argv)) != CMD_END) {
		switch (c) {
		case 't': tensors = true; break;
		case 'j': json = true; break;
		case 'h': cmd_parser_done(&p); usage(stdout); return 0;
		default: usage(stderr); return 2; /* CMD_BAD, reported */
		}
	}
	pv.asked = p.n_shared > 0; /* a loading flag asks for the plan */
	const char *path = cmd_operand(&p, argc, argv, &bad);
	if (!path) {
		if (!bad)
			usage(stderr);
		return 2;
	}
	struct gguf_error err;
	struct gguf *g = gguf_open(path, &err);
	if (!g) {
		gguf_error_print(&err);
		return 2;
	}
	struct model *m = NULL;
	char perr[1024] = "";
	if (pv.asked) {
		pv.mo.plan_only = true;
		pv.mo.quiet = true;
		if (!(m = model_load_opts(path, &pv.mo, perr, sizeof perr)))
			pv.err = perr;
		pv.m = m;
	}
	struct summary s;
	summarise(&s, g, path);
	if (json)
		print_json(stdout, &s, tensors, &pv);
	else
		print_text(stdout, &s, tensors, &pv);
	gguf_close(g);
	model_free(m);
	if (fflush(stdout) == EOF || ferror(stdout)) {
		warn_errno("stdout");
		return 1;
	}
	return pv.asked && !m ? 1 : 0;
}
