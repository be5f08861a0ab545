/* gguf-write.c - streaming GGUF v3 writer (see gguf-write.h). */
#include "gguf-write.h"

#include "quant.h"
#include "fileio.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Data goes out in writes of this size: large enough for the disk to stream,
 * small enough to keep the writer's memory at a few MB. */
#define OUT_BUF (4u << 20)

struct wtensor {
	char *name;
	uint32_t type, n_dims;
	uint64_t ne[GGUF_MAX_DIMS];
	uint64_t nbytes;
	uint64_t offset; /* relative to the data section */
};

struct gguf_writer {
	struct buf kv; /* serialized metadata */
	uint64_t n_kv;
	struct wtensor *t;
	size_t n_t, cap_t;
	uint32_t alignment;
	uint64_t data_size; /* data section, every tensor padded */

	int fd;
	uint8_t *out;
	size_t out_len;
	size_t cur;          /* tensor being written */
	uint64_t cur_done;   /* its bytes so far */
	bool begun;
};

/* GGUF is little-endian; so is every machine we build for, but say so once. */
_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "GGUF writer assumes little-endian");

struct gguf_writer *gguf_writer_new(void)
{
	struct gguf_writer *w = xcalloc(1, sizeof(*w));
	w->alignment = GGUF_DEFAULT_ALIGNMENT;
	w->fd = -1;
	return w;
}

void gguf_writer_free(struct gguf_writer *w)
{
	if (!w)
		return;
	if (w->fd >= 0)
		close(w->fd);
	for (size_t i = 0; i < w->n_t; i++)
		free(w->t[i].name);
	free(w->t);
	free(w->out);
	buf_free(&w->kv);
	free(w);
}

/* ---- metadata ---- */

static void put_u32(struct buf *b, uint32_t v) { buf_append(b, &v, 4); }
static void put_u64(struct buf *b, uint64_t v) { buf_append(b, &v, 8); }

static void put_str(struct buf *b, const char *s, size_t n)
{
	put_u64(b, n);
	buf_append(b, s, n);
}

static void put_key(struct gguf_writer *w, const char *key, enum gguf_vtype type)
{
	put_str(&w->kv, key, strlen(key));
	put_u32(&w->kv, type);
	w->n_kv++;
}

/* Bytes of one scalar element of a numeric/bool type; 0 for STRING/ARRAY. */
static size_t scalar_size(enum gguf_vtype t)
{
	switch (t) {
	case GGUF_UINT8: case GGUF_INT8: case GGUF_BOOL: return 1;
	case GGUF_UINT16: case GGUF_INT16: return 2;
	case GGUF_UINT32: case GGUF_INT32: case GGUF_FLOAT32: return 4;
	case GGUF_UINT64: case GGUF_INT64: case GGUF_FLOAT64: return 8;
	default: return 0;
	}
}

static void kv_scalar(struct gguf_writer *w, const char *key, enum gguf_vtype t, const void *v)
{
	put_key(w, key, t);
	buf_append(&w->kv, v, scalar_size(t));
}

#define KV_SCALAR(suffix, ctype, vtype)                                                  \
	void gguf_writer_kv_##suffix(struct gguf_writer *w, const char *key, ctype v)     \
	{                                                                                 \
		kv_scalar(w, key, vtype, &v);                                             \
	}
KV_SCALAR(u8, uint8_t, GGUF_UINT8)
KV_SCALAR(i8, int8_t, GGUF_INT8)
KV_SCALAR(u16, uint16_t, GGUF_UINT16)
KV_SCALAR(i16, int16_t, GGUF_INT16)
KV_SCALAR(u32, uint32_t, GGUF_UINT32)
KV_SCALAR(i32, int32_t, GGUF_INT32)
KV_SCALAR(u64, uint64_t, GGUF_UINT64)
KV_SCALAR(i64, int64_t, GGUF_INT64)
KV_SCALAR(f32, float, GGUF_FLOAT32)
KV_SCALAR(f64, double, GGUF_FLOAT64)

void gguf_writer_kv_bool(struct gguf_writer *w, const char *key, bool v)
{
	uint8_t b = v;
	kv_scalar(w, key, GGUF_BOOL, &b);
}

void gguf_writer_kv_strn(struct gguf_writer *w, const char *key, const char *v, size_t len)
{
	put_key(w, key, GGUF_STRING);
	put_str(&w->kv, v, len);
}

void gguf_writer_kv_str(struct gguf_writer *w, const char *key, const char *v)
{
	gguf_writer_kv_strn(w, key, v, strlen(v));
}

void gguf_writer_kv_arr(struct gguf_writer *w, const char *key, enum gguf_vtype etype,
			const void *data, uint64_t n)
{
	put_key(w, key, GGUF_ARRAY);
	put_u32(&w->kv, etype);
	put_u64(&w->kv, n);
	buf_append(&w->kv, data, scalar_size(etype) * n);
}

void gguf_writer_kv_arr_str(struct gguf_writer *w, const char *key, const char *const *v,
			    const size_t *lens, uint64_t n)
{
	put_key(w, key, GGUF_ARRAY);
	put_u32(&w->kv, GGUF_STRING);
	put_u64(&w->kv, n);
	for (uint64_t i = 0; i < n; i++)
		put_str(&w->kv, v[i], lens ? lens[i] : strlen(v[i]));
}

/* The body of a value (everything after its type tag), recursively. The
 * reader hands scalars back widened, so they are narrowed to the type's
 * width here; array elements are already packed at their own width. */
static void put_value(struct buf *b, const struct gguf_value *v)
{
	switch (v->type) {
	case GGUF_STRING:
		put_str(b, v->str.ptr, v->str.len);
		return;
	case GGUF_ARRAY:
		put_u32(b, v->arr.type);
		put_u64(b, v->arr.n);
		if (v->arr.type == GGUF_STRING) {
			const struct gguf_str *s = v->arr.data;
			for (uint64_t i = 0; i < v->arr.n; i++)
				put_str(b, s[i].ptr, s[i].len);
		} else if (v->arr.type == GGUF_ARRAY) {
			const struct gguf_value *e = v->arr.data;
			for (uint64_t i = 0; i < v->arr.n; i++)
				put_value(b, &e[i]);
		} else {
			buf_append(b, v->arr.data, scalar_size(v->arr.type) * v->arr.n);
		}
		return;
	case GGUF_FLOAT32: {
		float f = (float)v->f64;
		buf_append(b, &f, 4);
		return;
	}
	case GGUF_FLOAT64:
		buf_append(b, &v->f64, 8);
		return;
	case GGUF_BOOL: {
		uint8_t x = v->b;
		buf_append(b, &x, 1);
		return;
	}
	case GGUF_INT8: case GGUF_INT16: case GGUF_INT32: case GGUF_INT64:
		buf_append(b, &v->i64, scalar_size(v->type)); /* little-endian: low bytes first */
		return;
	default:
		buf_append(b, &v->u64, scalar_size(v->type));
		return;
	}
}

void gguf_writer_kv_value(struct gguf_writer *w, const char *key, const struct gguf_value *v)
{
	put_key(w, key, v->type);
	put_value(&w->kv, v);
}

/* ---- tensors ---- */

static uint64_t align_up(uint64_t x, uint32_t a)
{
	return (x + a - 1) & ~(uint64_t)(a - 1);
}

int gguf_writer_set_alignment(struct gguf_writer *w, uint32_t alignment)
{
	if (w->n_t || alignment == 0 || (alignment & (alignment - 1))) {
		errno = EINVAL;
		return -1;
	}
	w->alignment = alignment;
	if (alignment != GGUF_DEFAULT_ALIGNMENT)
		gguf_writer_kv_u32(w, "general.alignment", alignment);
	return 0;
}

int gguf_writer_add_tensor(struct gguf_writer *w, const char *name, uint32_t type, uint32_t n_dims,
			   const uint64_t *ne)
{
	const struct qtype *q = qtype_get(type);
	if (w->begun || !q || n_dims < 1 || n_dims > GGUF_MAX_DIMS || ne[0] % q->blck) {
		errno = EINVAL;
		return -1;
	}
	struct wtensor t = {.name = xstrdup(name), .type = type, .n_dims = n_dims};
	uint64_t rows = 1;
	for (uint32_t d = 0; d < GGUF_MAX_DIMS; d++) {
		t.ne[d] = d < n_dims ? ne[d] : 1;
		if (d > 0 && !mul_u64(rows, t.ne[d], &rows))
			goto overflow;
	}
	if (!mul_u64(rows, qtype_row_bytes(type, t.ne[0]), &t.nbytes))
		goto overflow;
	t.offset = w->data_size;
	w->data_size = align_up(t.offset + t.nbytes, w->alignment);
	if (w->n_t == w->cap_t) {
		w->cap_t = w->cap_t ? 2 * w->cap_t : 64;
		w->t = xreallocarray(w->t, w->cap_t, sizeof(*w->t));
	}
	w->t[w->n_t] = t;
	return (int)w->n_t++;
overflow:
	free(t.name);
	errno = EOVERFLOW;
	return -1;
}

uint64_t gguf_writer_tensor_bytes(const struct gguf_writer *w, int i)
{
	return w->t[i].nbytes;
}

size_t gguf_writer_n_tensors(const struct gguf_writer *w)
{
	return w->n_t;
}

static void put_tensor_infos(const struct gguf_writer *w, struct buf *b)
{
	for (size_t i = 0; i < w->n_t; i++) {
		const struct wtensor *t = &w->t[i];
		put_str(b, t->name, strlen(t->name));
		put_u32(b, t->n_dims);
		for (uint32_t d = 0; d < t->n_dims; d++)
			put_u64(b, t->ne[d]);
		put_u32(b, t->type);
		put_u64(b, t->offset);
	}
}

static uint64_t header_size(const struct gguf_writer *w)
{
	uint64_t n = 4 + 4 + 8 + 8 + w->kv.len;
	for (size_t i = 0; i < w->n_t; i++)
		n += 8 + strlen(w->t[i].name) + 4 + 8 * w->t[i].n_dims + 4 + 8;
	return align_up(n, w->alignment);
}

uint64_t gguf_writer_file_size(const struct gguf_writer *w)
{
	return header_size(w) + w->data_size;
}

/* ---- streaming ---- */

static int flush_out(struct gguf_writer *w)
{
	if (w->out_len && write_full(w->fd, w->out, w->out_len) < 0)
		return -1;
	w->out_len = 0;
	return 0;
}

static int out_bytes(struct gguf_writer *w, const void *p, size_t n)
{
	const uint8_t *s = p;
	while (n) {
		size_t k = MIN(n, OUT_BUF - w->out_len);
		memcpy(w->out + w->out_len, s, k);
		w->out_len += k;
		s += k;
		n -= k;
		if (w->out_len == OUT_BUF && flush_out(w) < 0)
			return -1;
	}
	return 0;
}

static int out_zeros(struct gguf_writer *w, size_t n)
{
	static const uint8_t zero[64];
	while (n) {
		size_t k = MIN(n, sizeof zero);
		if (out_bytes(w, zero, k) < 0)
			return -1;
		n -= k;
	}
	return 0;
}

int gguf_writer_begin(struct gguf_writer *w, const char *path)
{
	if (w->begun) {
		errno = EINVAL;
		return -1;
	}
	/* in place, not atomic: a model can be too big to write twice; but
	 * never into a device, a FIFO or through a symlink */
	w->fd = fio_open_write(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (w->fd < 0)
		return -1;
	w->begun = true;
	w->out = xmalloc(OUT_BUF);
	struct buf h = {0};
	buf_append(&h, "GGUF", 4);
	put_u32(&h, 3);
	put_u64(&h, w->n_t);
	put_u64(&h, w->n_kv);
	buf_append(&h, w->kv.p, w->kv.len);
	put_tensor_infos(w, &h);
	int rc = out_bytes(w, h.p, h.len);
	if (rc == 0)
		rc = out_zeros(w, align_up(h.len, w->alignment) - h.len);
	buf_free(&h);
	/* skip tensors without data (ne with a zero) */
	while (w->cur < w->n_t && w->t[w->cur].nbytes == 0)
		w->cur++;
	return rc;
}

/* After the last byte of tensor cur: pad to the next tensor's offset. */
static int next_tensor(struct gguf_writer *w)
{
	const struct wtensor *t = &w->t[w->cur];
	if (out_zeros(w, align_up(t->nbytes, w->alignment) - t->nbytes) < 0)
		return -1;
	w->cur_done = 0;
	do
		w->cur++;
	while (w->cur < w->n_t && w->t[w->cur].nbytes == 0);
	return 0;
}

int gguf_writer_data(struct gguf_writer *w, const void *p, size_t n)
{
	const uint8_t *s = p;
	if (!w->begun) {
		errno = EINVAL;
		return -1;
	}
	while (n) {
		if (w->cur >= w->n_t) {
			errno = EINVAL; /* more data than the tensors hold */
			return -1;
		}
		const struct wtensor *t = &w->t[w->cur];
		size_t k = (size_t)MIN((uint64_t)n, t->nbytes - w->cur_done);
		if (out_bytes(w, s, k) < 0)
			return -1;
		s += k;
		n -= k;
		w->cur_done += k;
		if (w->cur_done == t->nbytes && next_tensor(w) < 0)
			return -1;
	}
	return 0;
}

int gguf_writer_finish(struct gguf_writer *w)
{
	if (!w->begun || w->fd < 0 || w->cur < w->n_t) {
		errno = EINVAL; /* tensor data missing */
		return -1;
	}
	int rc = flush_out(w);
	if (close(w->fd) < 0)
		rc = -1;
	w->fd = -1;
	return rc;
}

int gguf_writer_finish_sparse(struct gguf_writer *w)
{
	if (!w->begun || w->fd < 0 || w->cur_done != 0) {
		errno = EINVAL; /* data was written, or never begun */
		return -1;
	}
	for (size_t i = 0; i < w->cur; i++)
		if (w->t[i].nbytes) {
			errno = EINVAL;
			return -1;
		}
	int rc = flush_out(w);
	/* The data section becomes a hole: the file has its full size, but
	 * only the header takes disk space. */
	if (rc == 0 && ftruncate(w->fd, (off_t)gguf_writer_file_size(w)) < 0)
		rc = -1;
	if (close(w->fd) < 0)
		rc = -1;
	w->fd = -1;
	return rc;
}
