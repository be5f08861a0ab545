/* kv.c - the KV cache, F16 or Q8_0. */
#include "kv.h"

#include "quant.h"
#include "util.h"

#include <stdlib.h>

#include <string.h>

bool kv_type_ok(uint32_t type, int head)
{
	if (type == GGML_F16)
		return true;
	return type == GGML_Q8_0 && head > 0 && head % QK8_0 == 0;
}

int kv_type_parse(const char *name, uint32_t *type)
{
	uint32_t t;
	if (!qtype_by_name(name, &t) || (t != GGML_F16 && t != GGML_Q8_0))
		return -1;
	*type = t;
	return 0;
}

static size_t row_bytes(uint32_t type, int dim)
{
	return (size_t)qtype_row_bytes(type, (uint64_t)dim);
}

uint64_t kv_bytes_for(int n_layer, int n_ctx, int k_dim, int v_dim, uint32_t type_k, uint32_t type_v)
{
	return (uint64_t)n_layer * (uint64_t)n_ctx * (row_bytes(type_k, k_dim) + (v_dim ? row_bytes(type_v, v_dim) : 0));
}

struct kv_cache *kv_new(int n_layer, int n_ctx, int k_dim, int v_dim, uint32_t type_k, uint32_t type_v)
{
	struct kv_cache *kv = xcalloc(1, sizeof *kv);
	kv->n_layer = n_layer;
	kv->n_ctx = n_ctx;
	kv->k_dim = k_dim;
	kv->v_dim = v_dim;
	kv->type_k = type_k;
	kv->type_v = v_dim ? type_v : type_k;
	kv->row_k = row_bytes(type_k, k_dim);
	kv->row_v = v_dim ? row_bytes(type_v, v_dim) : 0;
	size_t cells = (size_t)n_layer * (size_t)n_ctx;
	kv->k = xaligned_alloc(64, cells * kv->row_k);
	kv->v = v_dim ? xaligned_alloc(64, cells * kv->row_v) : NULL;
	return kv;
}

void kv_free(struct kv_cache *kv)
{
	if (!kv)
		return;
	free(kv->k);
	free(kv->v);
	free(kv);
}

void kv_store(struct kv_cache *kv, int layer, int pos, const float *k, const float *v)
{
	qtypes[kv->type_k].from_float(k, kv_k(kv, layer, pos), kv->k_dim);
	if (kv->v_dim)
		qtypes[kv->type_v].from_float(v, kv_v(kv, layer, pos), kv->v_dim);
}

void kv_truncate(struct kv_cache *kv, int n_pos)
{
	if (n_pos >= 0 && n_pos < kv->n_pos)
		kv->n_pos = n_pos;
}

size_t kv_bytes(const struct kv_cache *kv)
{
	return (size_t)kv->n_layer * (size_t)kv->n_ctx * (kv->row_k + kv->row_v);
}

size_t kv_row_bytes_k(const struct kv_cache *kv)
{
	return kv->row_k;
}

size_t kv_row_bytes_v(const struct kv_cache *kv)
{
	return kv->row_v;
}

int kv_set_n_pos(struct kv_cache *kv, int n_pos)
{
	if (n_pos < 0 || n_pos > kv->n_ctx)
		return -1;
	kv->n_pos = n_pos;
	return 0;
}
