/* kv.h - the attention KV cache: per layer, per position, F16 or Q8_0.
 *
 * Keys and values are rounded to F16 when stored, as llama.cpp does, so
 * logits match it; --cache-type-k/--cache-type-v q8_0 store them in Q8_0
 * blocks instead (32 elements in 34 bytes: 0.53x the memory), every head's
 * dimensions a whole number of blocks. n_pos is the number of positions filled; truncating to a
 * shorter prefix (editing a conversation) only moves n_pos - the prefix's
 * entries stay valid. */
#ifndef HEFT_KV_H
#define HEFT_KV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct kv_cache {
	int n_layer, n_ctx;
	int k_dim, v_dim; /* floats per position: n_head_kv * head_dim; v_dim 0 = no V
			   * (MLA: K rows hold the latent + rope key, V is read from them) */
	int n_pos;
	uint32_t type_k, type_v; /* element types (ggml ids): GGML_F16 or GGML_Q8_0 */
	size_t row_k, row_v;     /* bytes of one position's K (V) row */
	unsigned char *k, *v;    /* [layer][pos][row] */
};

/* type_k/type_v: GGML_F16 or GGML_Q8_0 (kv_type_ok). */
struct kv_cache *kv_new(int n_layer, int n_ctx, int k_dim, int v_dim, uint32_t type_k, uint32_t type_v);
void kv_free(struct kv_cache *kv);

/* Whether heads of `head` elements can be stored as `type` (F16 always;
 * Q8_0 when a head is whole blocks). */
bool kv_type_ok(uint32_t type, int head);
/* Bytes a cache of this geometry takes (what kv_new allocates). */
uint64_t kv_bytes_for(int n_layer, int n_ctx, int k_dim, int v_dim, uint32_t type_k, uint32_t type_v);
/* "f16" / "q8_0" (any case) -> type id; 0 and *type set, or -1 for another name. */
int kv_type_parse(const char *name, uint32_t *type);

static inline unsigned char *kv_k(const struct kv_cache *kv, int layer, int pos)
{
	return kv->k + ((size_t)layer * (size_t)kv->n_ctx + (size_t)pos) * kv->row_k;
}

static inline unsigned char *kv_v(const struct kv_cache *kv, int layer, int pos)
{
	return kv->v + ((size_t)layer * (size_t)kv->n_ctx + (size_t)pos) * kv->row_v;
}

/* Store one position's keys and values (floats, rounded to the cache's
 * types; v unused when v_dim is 0). */
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
