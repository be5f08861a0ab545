/* kv.h - the attention KV cache: per layer, per position, F16.
 *
 * Keys and values are rounded to F16 when stored, as llama.cpp does, so
 * logits match it. n_pos is the number of positions filled; truncating to a
 * shorter prefix (editing a conversation) only moves n_pos - the prefix's
 * entries stay valid. */
#ifndef HEFT_KV_H
#define HEFT_KV_H

#include <stddef.h>
#include <stdint.h>

struct kv_cache {
	int n_layer, n_ctx;
	int k_dim, v_dim; /* floats per position: n_head_kv * head_dim; v_dim 0 = no V
			   * (MLA: K rows hold the latent + rope key, V is read from them) */
	int n_pos;
	uint32_t type_k, type_v; /* element types (ggml ids): GGML_F16 */
	uint16_t *k, *v; /* [layer][pos][dim] */
};

struct kv_cache *kv_new(int n_layer, int n_ctx, int k_dim, int v_dim);
void kv_free(struct kv_cache *kv);

static inline uint16_t *kv_k(const struct kv_cache *kv, int layer, int pos)
{
	return kv->k + ((size_t)layer * (size_t)kv->n_ctx + (size_t)pos) * (size_t)kv->k_dim;
}

static inline uint16_t *kv_v(const struct kv_cache *kv, int layer, int pos)
{
	return kv->v + ((size_t)layer * (size_t)kv->n_ctx + (size_t)pos) * (size_t)kv->v_dim;
}

/* Store one position's keys and values (floats, rounded to F16; v unused
 * when v_dim is 0). */
void kv_store(struct kv_cache *kv, int layer, int pos, const float *k, const float *v);

/* Forget positions >= n_pos (n_pos <= current). */
void kv_truncate(struct kv_cache *kv, int n_pos);

size_t kv_bytes(const struct kv_cache *kv);

/* Bytes of one position's K (V) row: a layer's positions [0, n) are
 * n * kv_row_bytes_k(kv) contiguous bytes at kv_k(kv, layer, 0), which is
 * how a saved state (kvstate.h) copies a prefix out and back in. */
size_t kv_row_bytes_k(const struct kv_cache *kv);
size_t kv_row_bytes_v(const struct kv_cache *kv);

/* Declare positions [0, n_pos) filled, after their rows were written in
 * place (restoring a saved state); 0 <= n_pos <= n_ctx. Returns 0, or -1
 * if n_pos is out of range (nothing changed). */
int kv_set_n_pos(struct kv_cache *kv, int n_pos);

#endif
