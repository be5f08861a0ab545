/* gguf-write.h - streaming writer for GGUF v3 files.
 *
 * Metadata and tensor infos are collected in memory (they are small: even a
 * 150k-token vocabulary is a few MB); tensor data is then streamed tensor by
 * tensor, in any number of pieces, through a fixed-size buffer, so a file of
 * any size is written with a few MB of RAM.
 *
 *	w = gguf_writer_new();
 *	gguf_writer_kv_str(w, "general.architecture", "llama");
 *	gguf_writer_add_tensor(w, "token_embd.weight", GGML_F16, 2, ne);
 *	gguf_writer_begin(w, path);          header, metadata, tensor infos
 *	gguf_writer_data(w, p, n); ...       the data of tensor 0, 1, ... in order
 *	gguf_writer_finish(w);               checks every byte arrived, closes
 *	gguf_writer_free(w);
 *
 * Functions returning int return 0, or -1 with errno set (EINVAL for a
 * misuse such as more data than the tensors hold). */
#ifndef HEFT_GGUF_WRITE_H
#define HEFT_GGUF_WRITE_H

#include "gguf.h"

#include <stddef.h>
#include <stdint.h>

struct gguf_writer;

struct gguf_writer *gguf_writer_new(void);
/* Closes the file if still open (an unfinished file is left as is). */
void gguf_writer_free(struct gguf_writer *w);

/* Tensor data alignment (power of two; default 32). Anything but 32 also
 * writes general.alignment. Call before adding tensors. */
int gguf_writer_set_alignment(struct gguf_writer *w, uint32_t alignment);

/* Metadata, in the order given. Keys must be unique (not checked). */
void gguf_writer_kv_u8(struct gguf_writer *w, const char *key, uint8_t v);
void gguf_writer_kv_i8(struct gguf_writer *w, const char *key, int8_t v);
void gguf_writer_kv_u16(struct gguf_writer *w, const char *key, uint16_t v);
void gguf_writer_kv_i16(struct gguf_writer *w, const char *key, int16_t v);
void gguf_writer_kv_u32(struct gguf_writer *w, const char *key, uint32_t v);
void gguf_writer_kv_i32(struct gguf_writer *w, const char *key, int32_t v);
void gguf_writer_kv_u64(struct gguf_writer *w, const char *key, uint64_t v);
void gguf_writer_kv_i64(struct gguf_writer *w, const char *key, int64_t v);
void gguf_writer_kv_f32(struct gguf_writer *w, const char *key, float v);
void gguf_writer_kv_f64(struct gguf_writer *w, const char *key, double v);
void gguf_writer_kv_bool(struct gguf_writer *w, const char *key, bool v);
void gguf_writer_kv_str(struct gguf_writer *w, const char *key, const char *v);
void gguf_writer_kv_strn(struct gguf_writer *w, const char *key, const char *v, size_t len);
/* Array of n numbers or bools of element type etype, packed little-endian
 * in data (bool as one byte each). */
void gguf_writer_kv_arr(struct gguf_writer *w, const char *key, enum gguf_vtype etype,
			const void *data, uint64_t n);
/* Array of n strings; lens may be NULL (then strlen of each). */
void gguf_writer_kv_arr_str(struct gguf_writer *w, const char *key, const char *const *v,
			    const size_t *lens, uint64_t n);
/* Any value as the reader returns it, nested arrays included: copies
 * metadata from one file to another. */
void gguf_writer_kv_value(struct gguf_writer *w, const char *key, const struct gguf_value *v);

/* Declare a tensor (before begin); returns its index or -1 (EINVAL: bad
 * type, dims, or a row that is not a multiple of the type's block size). */
int gguf_writer_add_tensor(struct gguf_writer *w, const char *name, uint32_t type, uint32_t n_dims,
			   const uint64_t *ne);
/* Bytes of tensor i's data. */
uint64_t gguf_writer_tensor_bytes(const struct gguf_writer *w, int i);
size_t gguf_writer_n_tensors(const struct gguf_writer *w);

/* Create path (truncating) and write header, metadata and tensor infos. */
int gguf_writer_begin(struct gguf_writer *w, const char *path);
/* Append n bytes of tensor data; pieces may span tensors. Padding between
 * tensors is inserted automatically. */
int gguf_writer_data(struct gguf_writer *w, const void *p, size_t n);
/* Flush, check that all tensor data was written, close. */
int gguf_writer_finish(struct gguf_writer *w);
/* Instead of writing any tensor data: flush the header and extend the file
 * to its full size, leaving the data section a hole (sparse file: reads as
 * zeros, takes no disk space). For memory plans of models larger than the
 * disk; not for timing. */
int gguf_writer_finish_sparse(struct gguf_writer *w);
/* Total bytes the file will have (valid after all tensors are added). */
uint64_t gguf_writer_file_size(const struct gguf_writer *w);

#endif
