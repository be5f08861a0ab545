/* gguf.h - validated reader for GGUF v2/v3 files (llama.cpp's model format).
 *
 * The reader parses the header, metadata and tensor infos of one file or of
 * every part of a split model, and checks all of it against the real file
 * sizes before anything is used. Tensor data is never mapped or read here:
 * tensors are addressed as (part, absolute offset, size) so that the engine
 * can stream them. */
#ifndef HEFT_GGUF_H
#define HEFT_GGUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GGUF_MAX_DIMS 4
#define GGUF_DEFAULT_ALIGNMENT 32

/* Metadata value types, numbered as in the file format. */
enum gguf_vtype {
	GGUF_UINT8 = 0,
	GGUF_INT8 = 1,
	GGUF_UINT16 = 2,
	GGUF_INT16 = 3,
	GGUF_UINT32 = 4,
	GGUF_INT32 = 5,
	GGUF_FLOAT32 = 6,
	GGUF_BOOL = 7,
	GGUF_STRING = 8,
	GGUF_ARRAY = 9,
	GGUF_UINT64 = 10,
	GGUF_INT64 = 11,
	GGUF_FLOAT64 = 12,
	GGUF_VTYPE_COUNT
};

/* A string from the file: NUL-terminated copy; len excludes the NUL (the
 * bytes may themselves contain NULs and need not be valid UTF-8). */
struct gguf_str {
	const char *ptr;
	uint64_t len;
};

struct gguf_value {
	enum gguf_vtype type;
	union {
		uint64_t u64; /* UINT8/16/32/64 */
		int64_t i64;  /* INT8/16/32/64 */
		double f64;   /* FLOAT32/64 */
		bool b;
		struct gguf_str str;
		struct {
			enum gguf_vtype type; /* element type */
			uint64_t n;
			/* Elements: a packed native array of the element type for
			 * numbers (uint8_t[], int16_t[], float[], double[],
			 * bool as uint8_t[] ...), struct gguf_str[] for strings,
			 * struct gguf_value[] (each of type ARRAY) for nested arrays. */
			const void *data;
		} arr;
	};
};

struct gguf_kv {
	const char *key;
	struct gguf_value val;
};

struct gguf_tensor {
	const char *name;
	uint32_t type;   /* ggml type id, see quant.h */
	uint32_t n_dims; /* 1..GGUF_MAX_DIMS */
	uint64_t ne[GGUF_MAX_DIMS]; /* ne[0] = row length (contiguous); unused dims = 1 */
	uint64_t nelem;
	uint64_t nbytes;
	uint32_t part;   /* index into gguf.parts */
	uint64_t offset; /* absolute byte offset of the data in that part's file */
};

struct gguf_part {
	char *path;
	int fd;            /* open read-only, O_CLOEXEC */
	uint64_t file_size;
	uint64_t data_offset; /* start of the tensor data section */
	uint32_t version;
};

struct gguf {
	uint32_t version; /* of part 0 */
	uint32_t alignment;
	size_t n_parts;
	struct gguf_part *parts;
	size_t n_kv; /* metadata of part 0 (split.* keys of later parts are checked, not kept) */
	struct gguf_kv *kv;
	size_t n_tensors; /* across all parts, in file order */
	struct gguf_tensor *tensors;
	void *priv; /* lookup tables, arenas */
};

/* Where a file went wrong: message, the file, and the byte offset of the
 * offending field. */
struct gguf_error {
	char path[1024];
	char msg[512];
	uint64_t offset;
};

/* Open a model. For "name-00001-of-0000N.gguf" (or a first part carrying
 * split.count > 1) every part is opened and validated. On failure returns
 * NULL and fills *err. */
struct gguf *gguf_open(const char *path, struct gguf_error *err);
void gguf_close(struct gguf *g);

/* Print err as "PROGNAME: FILE: message (at byte N)" on one line. */
void gguf_error_print(const struct gguf_error *err);

/* Metadata lookups. The typed getters convert between integer widths
 * (checking range) and accept FLOAT32/64 for _f64; they return false if the
 * key is absent or of an incompatible type. */
const struct gguf_value *gguf_get(const struct gguf *g, const char *key);
bool gguf_get_u64(const struct gguf *g, const char *key, uint64_t *out);
bool gguf_get_i64(const struct gguf *g, const char *key, int64_t *out);
bool gguf_get_f64(const struct gguf *g, const char *key, double *out);
bool gguf_get_bool(const struct gguf *g, const char *key, bool *out);
const char *gguf_get_str(const struct gguf *g, const char *key); /* NULL if absent/not a string */
/* Array lookup: returns the value if key is an ARRAY (of element type etype,
 * unless etype is GGUF_VTYPE_COUNT = any). */
const struct gguf_value *gguf_get_arr(const struct gguf *g, const char *key, enum gguf_vtype etype);

/* "<arch>.<suffix>" helpers, arch from general.architecture. */
const char *gguf_arch(const struct gguf *g);

const struct gguf_tensor *gguf_find_tensor(const struct gguf *g, const char *name);

/* Read n bytes at byte off within tensor t (bounds-checked). Returns 0 or
 * -1 with errno set (EIO on a short read). */
int gguf_read_tensor(const struct gguf *g, const struct gguf_tensor *t, uint64_t off, void *dst, size_t n);

const char *gguf_vtype_name(enum gguf_vtype t);

#endif
