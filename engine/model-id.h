/* model-id.h - a model file's identity, without reading all its tensor data.
 *
 * Each part's size, the bytes before its tensor data (header, metadata,
 * tensor infos), their hash, and a hash of a sample of every tensor's data
 * (a few KiB each, read with pread: cheap even for hundreds of GB, and two
 * models with the same metadata but other weights differ): a key for
 * anything kept per model across runs (the KV state files, the expert
 * cache's hot list). */
#ifndef HEFT_MODEL_ID_H
#define HEFT_MODEL_ID_H

#include <stddef.h>
#include <stdint.h>

struct gguf;

struct model_part_id {
	uint64_t file_size, meta_bytes, meta_hash, data_hash;
};

/* Fill ids[0, g->n_parts). 0, or -1 with err set (a read error). */
int model_identity(const struct gguf *g, struct model_part_id *ids, char *err, size_t errlen);

#endif
