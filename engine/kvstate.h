/* kvstate.h - a conversation's KV cache on disk (run --prompt-cache).
 *
 * A state file holds the model's identity (model-id.h: each part's size, a
 * hash of its header, metadata and tensor infos and one of a sample of its
 * tensor data), the KV cache's layout, the token ids evaluated and the KV
 * rows of positions [0, n_tokens) of every layer, each section checksummed (format in
 * docs/prompt-cache.md). It is written to a temporary file, synced and
 * renamed, so a crash leaves the old state or the new one, never half.
 *
 * Loading validates everything first: a file from another model, another
 * KV layout, of another format version, truncated or corrupt is refused
 * with a one-line reason and the KV cache is left exactly as it was. Only
 * then is the longest common token prefix with the new prompt copied in
 * (n_pos = its length), leaving at least one prompt token to evaluate so
 * that there are logits to sample from. */
#ifndef HEFT_KVSTATE_H
#define HEFT_KVSTATE_H

#include <stddef.h>
#include <stdint.h>

struct forward;
struct gguf;
struct kv_cache;
struct model;

#define KVSTATE_VERSION 2

enum kvstate_result {
	KVSTATE_REFUSED = -1, /* unusable (reason in err); nothing changed */
	KVSTATE_LOADED = 0,   /* valid; *n_reused positions restored (may be 0) */
	KVSTATE_ABSENT = 1,   /* no such file (the first run): nothing to do */
};

/* Save positions [0, n) of the forward state's KV cache, which hold the
 * tokens tokens[0, n) (0 <= n <= forward_n_pos). 0, or -1 with err set
 * (the previous file, if any, is untouched). */
int kvstate_save(const char *path, const struct model *m, const struct forward *f, const int32_t *tokens, int n,
		 char *err, size_t errlen);

/* Restore the longest prefix the file shares with prompt[0, n_prompt),
 * at most n_prompt - 1 tokens (prompt NULL: every saved token that fits
 * the context). */
enum kvstate_result kvstate_load(const char *path, const struct model *m, struct forward *f, const int32_t *prompt,
				 int n_prompt, int *n_reused, char *err, size_t errlen);

/* The same on a bare KV cache (the layout saved is the cache's own). */
int kvstate_save_kv(const char *path, const struct model *m, const struct kv_cache *kv, const int32_t *tokens,
		    int n, char *err, size_t errlen);
enum kvstate_result kvstate_load_kv(const char *path, const struct model *m, struct kv_cache *kv,
				    const int32_t *prompt, int n_prompt, int *n_reused, char *err, size_t errlen);

#endif
