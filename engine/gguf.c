/* gguf.c - validated reader for GGUF v2/v3 files and split models.
 *
 * Nothing read from the file is trusted: every count, length and offset is
 * checked against the bytes the file really has left before it is used to
 * allocate or to seek, so a hostile file can cost at most a small multiple of
 * its own size in memory. Metadata and tensor names are copied into one arena
 * (vocab files carry 150k strings); lookups go through open-addressing hash
 * tables. The header is read with buffered pread, tensor data never here. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gguf.h"
#include "quant.h"
#include "fileio.h"
#include "util.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the GGUF reader assumes a little-endian host"
#endif

/* Deeper nesting than this is not used by any converter; the limit keeps the
 * recursion (and a nested-array bomb) bounded. */
#define MAX_ARRAY_DEPTH 8
#define RD_BUF_SIZE (64 * 1024)

/* ---- arena -------------------------------------------------------------- */

struct achunk {
	struct achunk *next;
	size_t cap, used;
	max_align_t data[];
};

struct arena {
	struct achunk *head;
	size_t next_cap; /* grows so small files stay small and big ones cheap */
};

/* align: 1 for string bytes (most of a vocab file), 16 for structs. */
static void *arena_alloc_align(struct arena *a, size_t n, size_t align)
{
	struct achunk *c = a->head;
	if (c) {
		size_t at = (c->used + align - 1) & ~(align - 1);
		if (at <= c->cap && c->cap - at >= n) {
			c->used = at + n;
			return (char *)c->data + at;
		}
	}
	if (a->next_cap == 0)
		a->next_cap = 16 * 1024;
	size_t cap = n > a->next_cap / 4 ? n : a->next_cap;
	struct achunk *nc = xmalloc(sizeof(*nc) + (cap ? cap : 1));
	nc->cap = cap;
	nc->used = n;
	if (cap == n && c) { /* a big one-off: keep filling the current chunk */
		nc->next = c->next;
		c->next = nc;
	} else {
		nc->next = c;
		a->head = nc;
		if (a->next_cap < 1024 * 1024)
			a->next_cap *= 2;
	}
	return nc->data;
}

static void *arena_alloc(struct arena *a, size_t n)
{
	return arena_alloc_align(a, n, 16);
}

static void arena_free(struct arena *a)
{
	struct achunk *c = a->head;
	while (c) {
		struct achunk *next = c->next;
		free(c);
		c = next;
	}
	a->head = NULL;
	a->next_cap = 0;
}

/* ---- hash table: C string -> index -------------------------------------- */

struct hslot {
	const char *key; /* NULL = empty */
	uint64_t hash;
	size_t idx;
};

struct htab {
	struct hslot *slots;
	size_t cap, n; /* cap: power of two */
};

static uint64_t hash_str(const char *s)
{
	uint64_t h = 1469598103934665603ull; /* FNV-1a */
	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211ull;
	}
	return h;
}

static void htab_grow(struct htab *t)
{
	size_t ncap = t->cap ? t->cap * 2 : 16;
	struct hslot *ns = xcalloc(ncap, sizeof(*ns));
	for (size_t i = 0; i < t->cap; i++) {
		struct hslot *s = &t->slots[i];
		if (!s->key)
			continue;
		size_t j = s->hash & (ncap - 1);
		while (ns[j].key)
			j = (j + 1) & (ncap - 1);
		ns[j] = *s;
	}
	free(t->slots);
	t->slots = ns;
	t->cap = ncap;
}

/* Insert key -> idx; returns false (and inserts nothing) if key exists. */
static bool htab_insert(struct htab *t, const char *key, size_t idx)
{
	if ((t->n + 1) * 2 > t->cap)
		htab_grow(t);
	uint64_t h = hash_str(key);
	size_t j = h & (t->cap - 1);
	for (; t->slots[j].key; j = (j + 1) & (t->cap - 1))
		if (t->slots[j].hash == h && strcmp(t->slots[j].key, key) == 0)
			return false;
	t->slots[j] = (struct hslot){ key, h, idx };
	t->n++;
	return true;
}

static bool htab_find(const struct htab *t, const char *key, size_t *idx)
{
	if (!t->cap)
		return false;
	uint64_t h = hash_str(key);
	for (size_t j = h & (t->cap - 1); t->slots[j].key; j = (j + 1) & (t->cap - 1)) {
		if (t->slots[j].hash == h && strcmp(t->slots[j].key, key) == 0) {
			*idx = t->slots[j].idx;
			return true;
		}
	}
	return false;
}

static void htab_free(struct htab *t)
{
	free(t->slots);
	*t = (struct htab){ 0 };
}

/* ---- errors ------------------------------------------------------------- */

static void set_error(struct gguf_error *err, const char *path, uint64_t off, const char *fmt, va_list ap)
	__attribute__((format(printf, 4, 0)));
static void set_error(struct gguf_error *err, const char *path, uint64_t off, const char *fmt, va_list ap)
{
	snprintf(err->path, sizeof(err->path), "%s", path);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	err->offset = off;
}

static bool errorf(struct gguf_error *err, const char *path, uint64_t off, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static bool errorf(struct gguf_error *err, const char *path, uint64_t off, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	set_error(err, path, off, fmt, ap);
	va_end(ap);
	return false;
}

/* Names in a damaged file are arbitrary bytes: print them escaped so the
 * error stays one line and sends nothing raw to a terminal. */
static void put_escaped(FILE *f, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n = strlen(s);
	for (size_t i = 0; i < n;) {
		size_t l = p[i] < 0x80 ? 1 : utf8_seq_len(p + i, n - i);
		bool c1 = l == 2 && p[i] == 0xc2 && p[i + 1] < 0xa0; /* U+0080..U+009F */
		if (l == 0 || c1 || p[i] < 0x20 || p[i] == 0x7f || p[i] == '\\') {
			fprintf(f, "\\x%02x", p[i]);
			i++;
		} else {
			fwrite(p + i, 1, l, f);
			i += l;
		}
	}
}

void gguf_error_print(const struct gguf_error *err)
{
	fprintf(stderr, "%s: ", heft_progname);
	put_escaped(stderr, err->path);
	fputs(": ", stderr);
	put_escaped(stderr, err->msg);
	fprintf(stderr, " (at byte %" PRIu64 ")\n", err->offset);
}

/* ---- buffered reader ---------------------------------------------------- */

struct rd {
	int fd;
	const char *path;
	uint64_t size; /* real file size: the limit of every check */
	uint64_t pos;  /* next byte to parse */
	uint8_t *buf;
	uint64_t boff; /* file offset of buf[0] */
	size_t blen;
	struct gguf_error *err;
};

static bool rd_fail(struct rd *r, uint64_t off, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static bool rd_fail(struct rd *r, uint64_t off, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	set_error(r->err, r->path, off, fmt, ap);
	va_end(ap);
	return false;
}

static uint64_t rd_left(const struct rd *r)
{
	return r->size - r->pos;
}

/* Copy n bytes at the parse position into dst; what names the field for the
 * truncation message. */
static bool rd_get_slow(struct rd *r, void *dst, uint64_t n, const char *what)
{
	if (n > rd_left(r))
		return rd_fail(r, r->pos, "file truncated in %s: %" PRIu64 " bytes needed, %" PRIu64 " left", what, n,
			       rd_left(r));
	uint8_t *d = dst;
	while (n) {
		if (r->pos >= r->boff && r->pos < r->boff + r->blen) {
			size_t at = (size_t)(r->pos - r->boff);
			size_t k = (size_t)MIN(n, (uint64_t)(r->blen - at));
			memcpy(d, r->buf + at, k);
			d += k;
			n -= k;
			r->pos += k;
			continue;
		}
		if (n >= RD_BUF_SIZE) { /* large blob: straight into place */
			int64_t got = pread_full(r->fd, d, (size_t)n, r->pos);
			if (got < 0 || (uint64_t)got != n)
				return rd_fail(r, r->pos, "read error: %s", got < 0 ? strerror(errno) : "short read");
			r->pos += n;
			return true;
		}
		size_t want = (size_t)MIN((uint64_t)RD_BUF_SIZE, rd_left(r));
		int64_t got = pread_full(r->fd, r->buf, want, r->pos);
		if (got < 0 || (uint64_t)got != want)
			return rd_fail(r, r->pos, "read error: %s", got < 0 ? strerror(errno) : "file shrank while reading");
		r->boff = r->pos;
		r->blen = want;
	}
	return true;
}

/* Most fields lie inside the buffer: keep that path short (vocab files are
 * hundreds of thousands of tiny strings). */
static inline bool rd_get(struct rd *r, void *dst, uint64_t n, const char *what)
{
	if (r->pos >= r->boff && n <= r->blen && r->pos - r->boff <= r->blen - n) {
		memcpy(dst, r->buf + (r->pos - r->boff), (size_t)n);
		r->pos += n;
		return true;
	}
	return rd_get_slow(r, dst, n, what);
}

static bool rd_u32(struct rd *r, uint32_t *v, const char *what)
{
	return rd_get(r, v, 4, what);
}

static bool rd_u64(struct rd *r, uint64_t *v, const char *what)
{
	return rd_get(r, v, 8, what);
}

/* A GGUF string into the arena, NUL-terminated. */
static bool rd_str(struct rd *r, struct arena *a, struct gguf_str *s, const char *what)
{
	uint64_t at = r->pos, len;
	if (!rd_u64(r, &len, what))
		return false;
	if (len > rd_left(r))
		return rd_fail(r, at, "%s: string length %" PRIu64 " exceeds the %" PRIu64 " bytes left in the file", what,
			       len, rd_left(r));
	char *p = arena_alloc_align(a, (size_t)len + 1, 1);
	if (!rd_get(r, p, len, what))
		return false;
	p[len] = '\0';
	s->ptr = p;
	s->len = len;
	return true;
}

/* Names used as C strings (keys, tensor names) must not hide a NUL. */
static bool rd_name(struct rd *r, struct arena *a, const char **out, const char *what)
{
	uint64_t at = r->pos;
	struct gguf_str s;
	if (!rd_str(r, a, &s, what))
		return false;
	if (strlen(s.ptr) != s.len)
		return rd_fail(r, at, "%s contains a NUL byte", what);
	*out = s.ptr;
	return true;
}

/* ---- metadata values ----------------------------------------------------- */

static const struct {
	const char *name;
	uint8_t size; /* encoded size of a scalar; minimum encoding for STRING/ARRAY */
} vtypes[GGUF_VTYPE_COUNT] = {
	[GGUF_UINT8] = { "u8", 1 },	 [GGUF_INT8] = { "i8", 1 },     [GGUF_UINT16] = { "u16", 2 },
	[GGUF_INT16] = { "i16", 2 },	 [GGUF_UINT32] = { "u32", 4 },  [GGUF_INT32] = { "i32", 4 },
	[GGUF_FLOAT32] = { "f32", 4 },	 [GGUF_BOOL] = { "bool", 1 },   [GGUF_STRING] = { "string", 8 },
	[GGUF_ARRAY] = { "array", 12 }, [GGUF_UINT64] = { "u64", 8 }, [GGUF_INT64] = { "i64", 8 },
	[GGUF_FLOAT64] = { "f64", 8 },
};

const char *gguf_vtype_name(enum gguf_vtype t)
{
	return (unsigned)t < GGUF_VTYPE_COUNT ? vtypes[t].name : "invalid";
}

static bool is_scalar_num(enum gguf_vtype t)
{
	return t != GGUF_STRING && t != GGUF_ARRAY;
}

/* Widen a scalar of type t from its encoded bytes. */
static void scalar_from_bytes(struct gguf_value *v, enum gguf_vtype t, const uint8_t *b)
{
	uint16_t u16;
	uint32_t u32;
	float f;
	v->type = t;
	switch (t) {
	case GGUF_UINT8: v->u64 = b[0]; break;
	case GGUF_INT8: v->i64 = (int8_t)b[0]; break;
	case GGUF_UINT16: memcpy(&u16, b, 2); v->u64 = u16; break;
	case GGUF_INT16: memcpy(&u16, b, 2); v->i64 = (int16_t)u16; break;
	case GGUF_UINT32: memcpy(&u32, b, 4); v->u64 = u32; break;
	case GGUF_INT32: memcpy(&u32, b, 4); v->i64 = (int32_t)u32; break;
	case GGUF_FLOAT32: memcpy(&f, b, 4); v->f64 = f; break;
	case GGUF_BOOL: v->b = b[0] != 0; break;
	case GGUF_UINT64: memcpy(&v->u64, b, 8); break;
	case GGUF_INT64: memcpy(&v->i64, b, 8); break;
	case GGUF_FLOAT64: memcpy(&v->f64, b, 8); break;
	default: break;
	}
}

static bool parse_value(struct rd *r, struct arena *a, enum gguf_vtype t, struct gguf_value *v, int depth);

static bool check_bools(struct rd *r, const uint8_t *p, uint64_t n, uint64_t at)
{
	for (uint64_t i = 0; i < n; i++)
		if (p[i] > 1)
			return rd_fail(r, at + i, "invalid bool value %u", p[i]);
	return true;
}

static bool parse_array(struct rd *r, struct arena *a, struct gguf_value *v, int depth)
{
	uint64_t at = r->pos, n;
	uint32_t et;
	if (!rd_u32(r, &et, "array element type"))
		return false;
	if (et >= GGUF_VTYPE_COUNT)
		return rd_fail(r, at, "invalid array element type %" PRIu32, et);
	if (et == GGUF_ARRAY && depth + 1 >= MAX_ARRAY_DEPTH)
		return rd_fail(r, at, "arrays nested deeper than %d levels", MAX_ARRAY_DEPTH);
	if (!rd_u64(r, &n, "array length"))
		return false;
	/* Every element costs at least vtypes[et].size bytes in the file, so
	 * this bounds the allocation below by a small multiple of the file. */
	uint64_t min_bytes;
	if (!mul_u64(n, vtypes[et].size, &min_bytes) || min_bytes > rd_left(r))
		return rd_fail(r, at + 4, "array of %" PRIu64 " %s elements exceeds the %" PRIu64 " bytes left in the file",
				n, vtypes[et].name, rd_left(r));
	v->type = GGUF_ARRAY;
	v->arr.type = (enum gguf_vtype)et;
	v->arr.n = n;
	if (is_scalar_num(et)) {
		void *p = arena_alloc(a, (size_t)min_bytes);
		uint64_t data_at = r->pos;
		if (!rd_get(r, p, min_bytes, "array data"))
			return false;
		if (et == GGUF_BOOL && !check_bools(r, p, n, data_at))
			return false;
		v->arr.data = p;
		return true;
	}
	if (et == GGUF_STRING) {
		struct gguf_str *s = arena_alloc(a, (size_t)n * sizeof(*s));
		for (uint64_t i = 0; i < n; i++)
			if (!rd_str(r, a, &s[i], "array string"))
				return false;
		v->arr.data = s;
		return true;
	}
	struct gguf_value *sub = arena_alloc(a, (size_t)n * sizeof(*sub));
	for (uint64_t i = 0; i < n; i++)
		if (!parse_value(r, a, GGUF_ARRAY, &sub[i], depth + 1))
			return false;
	v->arr.data = sub;
	return true;
}

static bool parse_value(struct rd *r, struct arena *a, enum gguf_vtype t, struct gguf_value *v, int depth)
{
	if (t == GGUF_STRING) {
		v->type = t;
		return rd_str(r, a, &v->str, "string value");
	}
	if (t == GGUF_ARRAY)
		return parse_array(r, a, v, depth);
	uint8_t b[8];
	uint64_t at = r->pos;
	if (!rd_get(r, b, vtypes[t].size, "metadata value"))
		return false;
	if (t == GGUF_BOOL && b[0] > 1)
		return rd_fail(r, at, "invalid bool value %u", b[0]);
	scalar_from_bytes(v, t, b);
	return true;
}

/* ---- one part (one file) -------------------------------------------------- */

/* Metadata of one file plus the places of the keys the reader itself uses,
 * so that a bad value is reported at its own byte. */
struct kvset {
	struct gguf_kv *kv;
	uint64_t *val_off; /* file offset of each value */
	size_t n;
	struct htab ht;
};

static void kvset_free(struct kvset *s)
{
	free(s->val_off);
	htab_free(&s->ht);
	*s = (struct kvset){ 0 };
}

static const struct gguf_value *kvset_get(const struct kvset *s, const char *key, uint64_t *off)
{
	size_t i;
	if (!htab_find(&s->ht, key, &i))
		return NULL;
	if (off)
		*off = s->val_off[i];
	return &s->kv[i].val;
}

static bool parse_header(struct rd *r, uint32_t *version, uint64_t *n_tensors, uint64_t *n_kv)
{
	char magic[4];
	if (!rd_get(r, magic, 4, "magic"))
		return false;
	if (memcmp(magic, "GGUF", 4) != 0)
		return rd_fail(r, 0, "not a GGUF file (bad magic)");
	if (!rd_u32(r, version, "version"))
		return false;
	if (*version == 1)
		return rd_fail(r, 4, "GGUF version 1 is not supported (only 2 and 3)");
	if ((*version & 0xffff) == 0 && (*version >> 16) != 0)
		return rd_fail(r, 4, "big-endian GGUF files are not supported");
	if (*version != 2 && *version != 3)
		return rd_fail(r, 4, "unsupported GGUF version %" PRIu32 " (only 2 and 3)", *version);
	if (!rd_u64(r, n_tensors, "tensor count") || !rd_u64(r, n_kv, "metadata count"))
		return false;
	/* Smallest encodings: a key/value is 8+0+4+1 bytes, a tensor info
	 * 8+0+4+8+4+8. Both counts drive allocations, so check them now. */
	uint64_t kv_min, t_min, min;
	if (!mul_u64(*n_kv, 13, &kv_min) || !mul_u64(*n_tensors, 32, &t_min) || !add_u64(kv_min, t_min, &min) ||
	    min > rd_left(r)) {
		/* blame the count that cannot fit on its own, else both */
		bool t_bad = !mul_u64(*n_tensors, 32, &t_min) || t_min > rd_left(r);
		return rd_fail(r, t_bad ? 8 : 16,
			       "%" PRIu64 " tensors and %" PRIu64 " metadata keys cannot fit in a file of %" PRIu64
			       " bytes (truncated or corrupt)",
			       *n_tensors, *n_kv, r->size);
	}
	return true;
}

static bool parse_kvs(struct rd *r, struct arena *a, uint64_t n, struct kvset *s)
{
	s->kv = arena_alloc(a, (size_t)n * sizeof(*s->kv));
	s->val_off = xcalloc((size_t)n ? (size_t)n : 1, sizeof(*s->val_off));
	s->n = 0;
	for (uint64_t i = 0; i < n; i++) {
		struct gguf_kv *kv = &s->kv[i];
		uint64_t key_at = r->pos, type_at;
		uint32_t t;
		if (!rd_name(r, a, &kv->key, "metadata key"))
			return false;
		type_at = r->pos;
		if (!rd_u32(r, &t, "metadata value type"))
			return false;
		if (t >= GGUF_VTYPE_COUNT)
			return rd_fail(r, type_at, "key '%s': invalid value type %" PRIu32, kv->key, t);
		s->val_off[i] = r->pos;
		if (!parse_value(r, a, (enum gguf_vtype)t, &kv->val, 0))
			return false;
		if (!htab_insert(&s->ht, kv->key, i))
			return rd_fail(r, key_at, "duplicate metadata key '%s'", kv->key);
		s->n++;
	}
	return true;
}

/* Typed reads of the keys the reader interprets itself. */
static bool kv_uint(struct rd *r, const struct kvset *s, const char *key, uint64_t max, uint64_t *out)
{
	uint64_t off;
	const struct gguf_value *v = kvset_get(s, key, &off);
	if (!v)
		return true;
	bool is_u = v->type == GGUF_UINT8 || v->type == GGUF_UINT16 || v->type == GGUF_UINT32 || v->type == GGUF_UINT64;
	bool is_i = v->type == GGUF_INT8 || v->type == GGUF_INT16 || v->type == GGUF_INT32 || v->type == GGUF_INT64;
	if (!is_u && !is_i)
		return rd_fail(r, off, "%s has type %s, expected an integer", key, gguf_vtype_name(v->type));
	if ((is_i && (v->i64 < 0 || (uint64_t)v->i64 > max)) || (is_u && v->u64 > max))
		return rd_fail(r, off, "%s is out of range", key);
	*out = is_u ? v->u64 : (uint64_t)v->i64;
	return true;
}

static bool part_alignment(struct rd *r, const struct kvset *s, uint32_t *align)
{
	uint64_t off;
	const struct gguf_value *v = kvset_get(s, "general.alignment", &off);
	*align = GGUF_DEFAULT_ALIGNMENT;
	if (!v)
		return true;
	if (v->type != GGUF_UINT32)
		return rd_fail(r, off, "general.alignment has type %s, expected u32", gguf_vtype_name(v->type));
	if (v->u64 == 0 || (v->u64 & (v->u64 - 1)))
		return rd_fail(r, off, "general.alignment %" PRIu64 " is not a power of two", v->u64);
	*align = (uint32_t)v->u64;
	return true;
}

/* Shape, type and size of one tensor info; the offset is checked later,
 * once the data section's start is known. */
static bool parse_tensor_info(struct rd *r, struct arena *a, struct gguf_tensor *t, uint64_t *off_at)
{
	if (!rd_name(r, a, &t->name, "tensor name"))
		return false;
	uint64_t at = r->pos;
	if (!rd_u32(r, &t->n_dims, "tensor dimension count"))
		return false;
	if (t->n_dims < 1 || t->n_dims > GGUF_MAX_DIMS)
		return rd_fail(r, at, "tensor '%s': %" PRIu32 " dimensions (expected 1..%d)", t->name, t->n_dims,
			       GGUF_MAX_DIMS);
	uint64_t nelem = 1;
	for (uint32_t d = 0; d < GGUF_MAX_DIMS; d++) {
		t->ne[d] = 1;
		if (d >= t->n_dims)
			continue;
		at = r->pos;
		if (!rd_u64(r, &t->ne[d], "tensor dimension"))
			return false;
		/* Empty tensors have no use in a model file; refusing them
		 * keeps every tensor addressable (nbytes > 0). */
		if (t->ne[d] == 0)
			return rd_fail(r, at, "tensor '%s': dimension %" PRIu32 " is 0", t->name, d);
		if (!mul_u64(nelem, t->ne[d], &nelem) || nelem > INT64_MAX)
			return rd_fail(r, at, "tensor '%s': element count overflows", t->name);
	}
	t->nelem = nelem;
	at = r->pos;
	if (!rd_u32(r, &t->type, "tensor type"))
		return false;
	const struct qtype *q = qtype_get(t->type);
	if (!q)
		return rd_fail(r, at, "tensor '%s': unknown type id %" PRIu32, t->name, t->type);
	if (t->ne[0] % q->blck)
		return rd_fail(r, at, "tensor '%s': row of %" PRIu64 " elements is not a multiple of the %s block size %" PRIu32,
			       t->name, t->ne[0], q->name, q->blck);
	/* nelem fits, so nelem / blck * bytes can only overflow in the bytes
	 * multiplication: check it. */
	if (!mul_u64(nelem / q->blck, q->bytes, &t->nbytes))
		return rd_fail(r, at, "tensor '%s': byte size overflows", t->name);
	*off_at = r->pos;
	return rd_u64(r, &t->offset, "tensor offset");
}

/* Part state while it is parsed. */
struct part_parse {
	struct gguf_part p;
	uint32_t alignment;
	struct kvset kvs;
	struct arena kv_arena; /* later parts: freed after the split keys are checked */
	uint64_t n_tensors;
};

static bool check_tensor_data(struct rd *r, struct gguf_tensor *t, uint64_t data_offset, uint32_t align, uint64_t off_at)
{
	uint64_t abs, end;
	if (t->offset % align)
		return rd_fail(r, off_at, "tensor '%s': offset %" PRIu64 " is not a multiple of the alignment %" PRIu32,
			       t->name, t->offset, align);
	if (!add_u64(data_offset, t->offset, &abs) || !add_u64(abs, t->nbytes, &end) || end > r->size)
		return rd_fail(r, off_at, "tensor '%s': data (%" PRIu64 " bytes at offset %" PRIu64 ") extends past the end of the file (%" PRIu64 " bytes)",
			       t->name, t->nbytes, t->offset, r->size);
	t->offset = abs;
	return true;
}

static void gguf_add_tensors(struct gguf *g, size_t n)
{
	/* n was checked against the file size in parse_header. */
	g->tensors = xreallocarray(g->tensors, g->n_tensors + n + 1, sizeof(*g->tensors));
	memset(g->tensors + g->n_tensors, 0, (n + 1) * sizeof(*g->tensors));
}

/* Parse the header, metadata and tensor infos of one file, appending its
 * tensors to g. */
static bool parse_part(struct gguf *g, struct rd *r, struct part_parse *pp, uint32_t part_idx, struct arena *names,
		       struct htab *tensor_ht)
{
	uint64_t n_kv;
	if (!parse_header(r, &pp->p.version, &pp->n_tensors, &n_kv))
		return false;
	struct arena *kva = part_idx == 0 ? names : &pp->kv_arena;
	if (!parse_kvs(r, kva, n_kv, &pp->kvs) || !part_alignment(r, &pp->kvs, &pp->alignment))
		return false;
	size_t first = g->n_tensors;
	gguf_add_tensors(g, (size_t)pp->n_tensors);
	uint64_t *off_at = xcalloc(pp->n_tensors ? (size_t)pp->n_tensors : 1, sizeof(*off_at));
	bool ok = true;
	for (size_t i = 0; ok && i < pp->n_tensors; i++) {
		struct gguf_tensor *t = &g->tensors[first + i];
		uint64_t name_at = r->pos;
		ok = parse_tensor_info(r, names, t, &off_at[i]);
		if (ok) {
			t->part = part_idx;
			g->n_tensors++;
			if (!htab_insert(tensor_ht, t->name, first + i))
				ok = rd_fail(r, name_at, "duplicate tensor name '%s'", t->name);
		}
	}
	uint64_t pad = (pp->alignment - r->pos % pp->alignment) % pp->alignment;
	if (ok && !add_u64(r->pos, pad, &pp->p.data_offset))
		ok = rd_fail(r, r->pos, "data section offset overflows");
	for (size_t i = 0; ok && i < pp->n_tensors; i++)
		ok = check_tensor_data(r, &g->tensors[first + i], pp->p.data_offset, pp->alignment, off_at[i]);
	free(off_at);
	return ok;
}

/* ---- split models ----------------------------------------------------------- */

/* "<stem>-NNNNN-of-MMMMM.gguf": the stem length and both numbers. */
static bool split_name(const char *path, size_t *stem_len, unsigned *no, unsigned *count)
{
	static const char tail[] = "-00000-of-00000.gguf";
	size_t len = strlen(path), tl = sizeof(tail) - 1;
	if (len <= tl)
		return false;
	const char *s = path + len - tl;
	unsigned a = 0, b = 0;
	for (size_t i = 0; i < tl; i++) {
		if (tail[i] == '0') {
			if (s[i] < '0' || s[i] > '9')
				return false;
			if (i < 6)
				a = a * 10 + (unsigned)(s[i] - '0');
			else
				b = b * 10 + (unsigned)(s[i] - '0');
		} else if (s[i] != tail[i]) {
			return false;
		}
	}
	if (a < 1 || b < 1 || a > b)
		return false;
	*stem_len = len - tl;
	*no = a;
	*count = b;
	return true;
}

static char *part_path(const char *path, size_t stem_len, unsigned no, unsigned count)
{
	char *p;
	xasprintf(&p, "%.*s-%05u-of-%05u.gguf", (int)stem_len, path, no, count);
	return p;
}

/* The split.* keys of part k (0-based) against what part 0 said. */
static bool check_split_keys(struct rd *r, const struct kvset *s, unsigned k, uint64_t count)
{
	uint64_t no = UINT64_MAX, cnt = UINT64_MAX, off = 0;
	if (!kv_uint(r, s, "split.no", UINT16_MAX, &no) || !kv_uint(r, s, "split.count", UINT16_MAX, &cnt))
		return false;
	if (cnt == UINT64_MAX)
		return rd_fail(r, 0, "split part %u has no split.count key", k + 1);
	if (cnt != count) {
		kvset_get(s, "split.count", &off);
		return rd_fail(r, off, "split.count is %" PRIu64 ", part 1 says %" PRIu64, cnt, count);
	}
	if (no != k) {
		kvset_get(s, "split.no", &off);
		if (no == UINT64_MAX)
			return rd_fail(r, 0, "split part %u has no split.no key", k + 1);
		return rd_fail(r, off, "split.no is %" PRIu64 ", expected %u for part %u", no, k, k + 1);
	}
	return true;
}

/* ---- open/close ---------------------------------------------------------- */

struct gguf_priv {
	struct arena arena; /* part 0's metadata, all tensor names */
	struct htab kv_ht, tensor_ht;
	uint64_t *kv_off;
};

static bool open_part(const char *path, struct rd *r, uint8_t *buf, struct gguf_error *err)
{
	*r = (struct rd){ .fd = -1, .path = path, .buf = buf, .err = err };
	r->fd = fio_open_read(path);
	if (r->fd < 0 && errno == FIO_ENOTREG)
		return errorf(err, path, 0, "not a regular file");
	if (r->fd < 0)
		return errorf(err, path, 0, "cannot open: %s", strerror(errno));
	struct stat st;
	if (fstat(r->fd, &st) < 0)
		return errorf(err, path, 0, "cannot stat: %s", strerror(errno));
	if (!S_ISREG(st.st_mode))
		return errorf(err, path, 0, "not a regular file");
	r->size = (uint64_t)st.st_size;
	return true;
}

/* Parse one part into g->parts[k]; pp receives its metadata. */
static bool load_part(struct gguf *g, const char *path, unsigned k, uint8_t *buf, struct part_parse *pp,
		      struct gguf_error *err)
{
	struct gguf_priv *priv = g->priv;
	struct rd r;
	*pp = (struct part_parse){ 0 };
	bool ok = open_part(path, &r, buf, err);
	struct gguf_part *p = &g->parts[k];
	p->path = xstrdup(path);
	p->fd = r.fd;
	g->n_parts = k + 1;
	if (!ok)
		return false;
	p->file_size = r.size;
	ok = parse_part(g, &r, pp, k, &priv->arena, &priv->tensor_ht);
	p->data_offset = pp->p.data_offset;
	p->version = pp->p.version;
	return ok;
}

static bool open_split(struct gguf *g, const char *path, struct part_parse *p0, uint8_t *buf, struct gguf_error *err)
{
	size_t stem_len;
	unsigned no, count;
	uint64_t n_split = 1, total = UINT64_MAX;
	struct rd r0 = { .path = path, .err = err };
	if (!kv_uint(&r0, &p0->kvs, "split.count", UINT16_MAX, &n_split) ||
	    !kv_uint(&r0, &p0->kvs, "split.tensors.count", INT32_MAX, &total))
		return false;
	bool named = split_name(path, &stem_len, &no, &count);
	if (n_split <= 1) {
		if (named && count > 1)
			return errorf(err, path, 0, "file name says %u parts but the file has no split.count > 1", count);
		return true;
	}
	uint64_t off = 0;
	kvset_get(&p0->kvs, "split.count", &off);
	if (!named || count != n_split)
		return errorf(err, path, off, "split.count is %" PRIu64 " but the file name does not end in -00001-of-%05" PRIu64 ".gguf",
			      n_split, n_split);
	if (!check_split_keys(&r0, &p0->kvs, 0, n_split))
		return false;
	for (unsigned k = 1; k < n_split; k++) {
		/* Grown part by part: split.count alone justifies no memory. */
		g->parts = xreallocarray(g->parts, k + 1, sizeof(*g->parts));
		char *pp_path = part_path(path, stem_len, k + 1, count);
		struct part_parse pp;
		bool ok = load_part(g, pp_path, k, buf, &pp, err);
		struct rd rk = { .path = pp_path, .err = err };
		ok = ok && check_split_keys(&rk, &pp.kvs, k, n_split);
		if (ok && pp.p.version != g->version)
			ok = errorf(err, pp_path, 4, "GGUF version %" PRIu32 " differs from part 1's %" PRIu32, pp.p.version,
				    g->version);
		kvset_free(&pp.kvs);
		arena_free(&pp.kv_arena);
		free(pp_path);
		if (!ok)
			return false;
	}
	if (total != UINT64_MAX && total != g->n_tensors)
		return errorf(err, path, 0, "split.tensors.count is %" PRIu64 " but the %" PRIu64 " parts hold %zu tensors", total,
			      n_split, g->n_tensors);
	return true;
}

struct gguf *gguf_open(const char *path, struct gguf_error *err)
{
	struct gguf_error dummy;
	if (!err)
		err = &dummy;
	*err = (struct gguf_error){ 0 };
	struct gguf *g = xcalloc(1, sizeof(*g));
	struct gguf_priv *priv = xcalloc(1, sizeof(*priv));
	g->priv = priv;
	g->parts = xcalloc(1, sizeof(*g->parts));

	/* Whatever part was named, the model starts at part 1. */
	size_t stem_len;
	unsigned no, count;
	char *first = split_name(path, &stem_len, &no, &count) ? part_path(path, stem_len, 1, count) : xstrdup(path);
	uint8_t *buf = xmalloc(RD_BUF_SIZE);
	struct part_parse p0;
	bool ok = load_part(g, first, 0, buf, &p0, err);
	g->version = p0.p.version;
	g->alignment = p0.alignment;
	ok = ok && open_split(g, first, &p0, buf, err);
	free(buf);
	free(first);
	/* Part 0's metadata becomes the model's. */
	g->kv = p0.kvs.kv;
	g->n_kv = p0.kvs.n;
	priv->kv_ht = p0.kvs.ht;
	priv->kv_off = p0.kvs.val_off;
	if (!ok) {
		gguf_close(g);
		return NULL;
	}
	return g;
}

void gguf_close(struct gguf *g)
{
	if (!g)
		return;
	for (size_t i = 0; i < g->n_parts; i++) {
		if (g->parts[i].fd >= 0)
			close(g->parts[i].fd);
		free(g->parts[i].path);
	}
	free(g->parts);
	free(g->tensors);
	struct gguf_priv *priv = g->priv;
	if (priv) {
		arena_free(&priv->arena);
		htab_free(&priv->kv_ht);
		htab_free(&priv->tensor_ht);
		free(priv->kv_off);
		free(priv);
	}
	free(g);
}

/* ---- lookups ------------------------------------------------------------- */

const struct gguf_value *gguf_get(const struct gguf *g, const char *key)
{
	const struct gguf_priv *priv = g->priv;
	size_t i;
	return htab_find(&priv->kv_ht, key, &i) ? &g->kv[i].val : NULL;
}

static bool is_unsigned(enum gguf_vtype t)
{
	return t == GGUF_UINT8 || t == GGUF_UINT16 || t == GGUF_UINT32 || t == GGUF_UINT64;
}

static bool is_signed(enum gguf_vtype t)
{
	return t == GGUF_INT8 || t == GGUF_INT16 || t == GGUF_INT32 || t == GGUF_INT64;
}

bool gguf_get_u64(const struct gguf *g, const char *key, uint64_t *out)
{
	const struct gguf_value *v = gguf_get(g, key);
	if (v && is_unsigned(v->type)) {
		*out = v->u64;
		return true;
	}
	if (v && is_signed(v->type) && v->i64 >= 0) {
		*out = (uint64_t)v->i64;
		return true;
	}
	return false;
}

bool gguf_get_i64(const struct gguf *g, const char *key, int64_t *out)
{
	const struct gguf_value *v = gguf_get(g, key);
	if (v && is_signed(v->type)) {
		*out = v->i64;
		return true;
	}
	if (v && is_unsigned(v->type) && v->u64 <= INT64_MAX) {
		*out = (int64_t)v->u64;
		return true;
	}
	return false;
}

/* Integers are accepted too: converters store some float hyperparameters
 * (e.g. rope bases) as integers. */
bool gguf_get_f64(const struct gguf *g, const char *key, double *out)
{
	const struct gguf_value *v = gguf_get(g, key);
	if (!v)
		return false;
	if (v->type == GGUF_FLOAT32 || v->type == GGUF_FLOAT64)
		*out = v->f64;
	else if (is_unsigned(v->type))
		*out = (double)v->u64;
	else if (is_signed(v->type))
		*out = (double)v->i64;
	else
		return false;
	return true;
}

bool gguf_get_bool(const struct gguf *g, const char *key, bool *out)
{
	const struct gguf_value *v = gguf_get(g, key);
	if (!v || v->type != GGUF_BOOL)
		return false;
	*out = v->b;
	return true;
}

const char *gguf_get_str(const struct gguf *g, const char *key)
{
	const struct gguf_value *v = gguf_get(g, key);
	return v && v->type == GGUF_STRING ? v->str.ptr : NULL;
}

const struct gguf_value *gguf_get_arr(const struct gguf *g, const char *key, enum gguf_vtype etype)
{
	const struct gguf_value *v = gguf_get(g, key);
	if (!v || v->type != GGUF_ARRAY)
		return NULL;
	if (etype != GGUF_VTYPE_COUNT && v->arr.type != etype)
		return NULL;
	return v;
}

const char *gguf_arch(const struct gguf *g)
{
	return gguf_get_str(g, "general.architecture");
}

const struct gguf_tensor *gguf_find_tensor(const struct gguf *g, const char *name)
{
	const struct gguf_priv *priv = g->priv;
	size_t i;
	return htab_find(&priv->tensor_ht, name, &i) ? &g->tensors[i] : NULL;
}

int gguf_read_tensor(const struct gguf *g, const struct gguf_tensor *t, uint64_t off, void *dst, size_t n)
{
	uint64_t end;
	if (t->part >= g->n_parts || !add_u64(off, n, &end) || end > t->nbytes) {
		errno = EINVAL;
		return -1;
	}
	int64_t got = pread_full(g->parts[t->part].fd, dst, n, t->offset + off);
	if (got < 0)
		return -1;
	if ((uint64_t)got != n) {
		errno = EIO;
		return -1;
	}
	return 0;
}
