/* kv.c - F16 KV cache. */
#include "kv.h"

#include "quant.h"
#include "util.h"

#include <stdlib.h>

struct kv_cache *kv_new(int n_layer, int n_ctx, int k_dim, int v_dim)
{
	struct kv_cache *kv = xcalloc(1, sizeof *kv);
	kv->n_layer = n_layer;
	kv->n_ctx = n_ctx;
	kv->k_dim = k_dim;
	kv->v_dim = v_dim;
	kv->type_k = kv->type_v = GGML_F16;
	size_t cells = (size_t)n_layer * (size_t)n_ctx;
	kv->k = xaligned_alloc(64, cells * (size_t)k_dim * sizeof(uint16_t));
	kv->v = v_dim ? xaligned_alloc(64, cells * (size_t)v_dim * sizeof(uint16_t)) : NULL;
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
	qtypes[GGML_F16].from_float(k, kv_k(kv, layer, pos), kv->k_dim);
	if (kv->v_dim)
		qtypes[GGML_F16].from_float(v, kv_v(kv, layer, pos), kv->v_dim);
}

void kv_truncate(struct kv_cache *kv, int n_pos)
{
	if (n_pos >= 0 && n_pos < kv->n_pos)
		kv->n_pos = n_pos;
}

size_t kv_bytes(const struct kv_cache *kv)
{
	return (size_t)kv->n_layer * (size_t)kv->n_ctx * (size_t)(kv->k_dim + kv->v_dim) * sizeof(uint16_t);
}

size_t kv_row_bytes_k(const struct kv_cache *kv)
{
	return (size_t)kv->k_dim * sizeof(uint16_t);
}

size_t kv_row_bytes_v(const struct kv_cache *kv)
{
	return (size_t)kv->v_dim * sizeof(uint16_t);
}

int kv_set_n_pos(struct kv_cache *kv, int n_pos)
{
	if (n_pos < 0 || n_pos > kv->n_ctx)
		return -1;
	kv->n_pos = n_pos;
	return 0;
}
