/* kvdisk.h - the KV states of recent conversations in a directory, so
 * that switching between conversations, or restarting the engine, does not
 * evaluate their prompts again (kvdisk.c).
 *
 * Each state is a prompt-cache file (kvstate.h) with the token ids it holds
 * beside it (NAME.kv, NAME.tok), under a directory per model identity
 * (model-id.h). A new prompt is matched against every state's tokens; the
 * one sharing the longest prefix is loaded when it beats what the live KV
 * cache shares. A state that a later one of the same conversation extends
 * is removed, and the oldest used go when the directory outgrows its size. */
#ifndef HEFT_KVDISK_H
#define HEFT_KVDISK_H

#include <stddef.h>
#include <stdint.h>

struct forward;
struct model;
struct kvdisk;

/* The cache for model m in dir (NULL: $XDG_CACHE_HOME/heft/kv), at most
 * max_bytes. NULL with a reason in err. */
struct kvdisk *kvdisk_open(const char *dir, uint64_t max_bytes, const struct model *m, char *err, size_t errlen);
void kvdisk_free(struct kvdisk *d);

/* Load into f the state sharing the longest prefix with tok[0, n), if it
 * shares more than have tokens: the positions restored (> have), or 0. */
int kvdisk_restore(struct kvdisk *d, const struct model *m, struct forward *f, const int32_t *tok, int n, int have);
/* Keep f's KV positions [0, n), which hold tok[0, n). */
void kvdisk_store(struct kvdisk *d, const struct model *m, const struct forward *f, const int32_t *tok, int n);

#endif
