/* test-gguf.c - the GGUF reader against files this test writes itself
 * (every value type, nested arrays, alignments, v2/v3, split models), a
 * corpus of malformed files that must each fail with a clean error, and -
 * when $HEFT_FIXTURES exists - every shared fixture plus random damage to a
 * few of them. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gguf.h"
#include "quant.h"
#include "test.h"
#include "util.h"
#include "xorshift.h"

static char tmpdir[512];

/* ---- a small GGUF writer into memory ------------------------------------ */

static void put(struct buf *b, const void *p, size_t n)
{
	buf_append(b, p, n);
}
static void put_u8(struct buf *b, uint8_t v) { put(b, &v, 1); }
static void put_u16(struct buf *b, uint16_t v) { put(b, &v, 2); }
static void put_u32(struct buf *b, uint32_t v) { put(b, &v, 4); }
static void put_u64(struct buf *b, uint64_t v) { put(b, &v, 8); }
static void put_f32(struct buf *b, float v) { put(b, &v, 4); }
static void put_f64(struct buf *b, double v) { put(b, &v, 8); }

static void put_str(struct buf *b, const char *s)
{
	put_u64(b, strlen(s));
	put(b, s, strlen(s));
}

static void put_key(struct buf *b, const char *key, enum gguf_vtype t)
{
	put_str(b, key);
	put_u32(b, t);
}

static void kv_u32(struct buf *b, const char *key, uint32_t v)
{
	put_key(b, key, GGUF_UINT32);
	put_u32(b, v);
}

static void kv_str(struct buf *b, const char *key, const char *v)
{
	put_key(b, key, GGUF_STRING);
	put_str(b, v);
}

struct tspec {
	const char *name;
	uint32_t type, n_dims;
	uint64_t ne[4];
};

/* Where interesting fields of a written image are, for patching. */
struct layout {
	size_t n_tensors_at, n_kv_at;
	size_t kv_first_at;     /* first key's length field */
	size_t tinfo_at[8];     /* each tensor info's name length */
	size_t tdims_at[8];     /* its n_dims field */
	size_t ttype_at[8];     /* its type field */
	size_t toff_at[8];      /* its offset field */
	size_t header_end, data_at;
	size_t bounds[64];      /* section boundaries, for truncation */
	int n_bounds;
};

typedef void (*kv_fn)(struct buf *b, void *ctx);

struct spec {
	uint32_t version;
	uint32_t alignment; /* 0: no general.alignment key (32) */
	size_t n_extra_kv;
	kv_fn extra_kv;
	void *ctx;
	size_t n_t;
	const struct tspec *t;
	int t_index0; /* data pattern seed for tensor i: t_index0 + i */
};

static uint64_t tensor_bytes(const struct tspec *t)
{
	uint64_t rows = 1;
	for (uint32_t d = 1; d < t->n_dims; d++)
		rows *= t->ne[d];
	return qtype_row_bytes(t->type, t->ne[0]) * rows;
}

static uint8_t pattern(int tensor, uint64_t i)
{
	return (uint8_t)(i * 31 + (uint64_t)tensor * 7 + (i >> 8));
}

static void mark(struct layout *L, size_t at)
{
	if (L->n_bounds < (int)ARRAY_LEN(L->bounds))
		L->bounds[L->n_bounds++] = at;
}

/* A complete, valid file image: the last tensor ends exactly at EOF, so
 * every truncation must be detected. */
static void build(struct buf *b, const struct spec *s, struct layout *L)
{
	uint32_t align = s->alignment ? s->alignment : 32;
	memset(L, 0, sizeof(*L));
	buf_clear(b);
	put(b, "GGUF", 4);
	put_u32(b, s->version);
	L->n_tensors_at = b->len;
	put_u64(b, s->n_t);
	L->n_kv_at = b->len;
	put_u64(b, s->n_extra_kv + (s->alignment ? 1 : 0));
	L->kv_first_at = b->len;
	mark(L, b->len);
	if (s->alignment) {
		kv_u32(b, "general.alignment", s->alignment);
		mark(L, b->len);
	}
	if (s->extra_kv)
		s->extra_kv(b, s->ctx);
	mark(L, b->len);
	uint64_t off = 0;
	for (size_t i = 0; i < s->n_t; i++) {
		const struct tspec *t = &s->t[i];
		L->tinfo_at[i] = b->len;
		put_str(b, t->name);
		L->tdims_at[i] = b->len;
		put_u32(b, t->n_dims);
		for (uint32_t d = 0; d < t->n_dims; d++)
			put_u64(b, t->ne[d]);
		L->ttype_at[i] = b->len;
		put_u32(b, t->type);
		L->toff_at[i] = b->len;
		put_u64(b, off);
		mark(L, b->len);
		off += tensor_bytes(t);
		off = (off + align - 1) / align * align;
	}
	L->header_end = b->len;
	if (s->n_t) { /* vocab-only files end at the header, as converters write them */
		while (b->len % align)
			put_u8(b, 0);
	}
	L->data_at = b->len;
	for (size_t i = 0; i < s->n_t; i++) {
		uint64_t n = tensor_bytes(&s->t[i]);
		for (uint64_t k = 0; k < n; k++)
			put_u8(b, pattern(s->t_index0 + (int)i, k));
		mark(L, b->len);
		if (i + 1 < s->n_t)
			while ((b->len - L->data_at) % align)
				put_u8(b, 0);
	}
}

static char *write_tmp(const char *name, const void *p, size_t n)
{
	char *path;
	xasprintf(&path, "%s/%s", tmpdir, name);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || write_full(fd, p, n) != (int64_t)n)
		die_errno("%s", path);
	close(fd);
	return path;
}

/* ---- every value type ---------------------------------------------------- */

static void kv_all_types(struct buf *b, void *ctx)
{
	(void)ctx;
	put_key(b, "t.u8", GGUF_UINT8), put_u8(b, 200);
	put_key(b, "t.i8", GGUF_INT8), put_u8(b, 0x80);
	put_key(b, "t.u16", GGUF_UINT16), put_u16(b, 65535);
	put_key(b, "t.i16", GGUF_INT16), put_u16(b, 0x8000);
	put_key(b, "t.u32", GGUF_UINT32), put_u32(b, 4000000000u);
	put_key(b, "t.i32", GGUF_INT32), put_u32(b, (uint32_t)-7);
	put_key(b, "t.f32", GGUF_FLOAT32), put_f32(b, 1.5f);
	put_key(b, "t.bool", GGUF_BOOL), put_u8(b, 1);
	put_key(b, "t.str", GGUF_STRING), put_str(b, "hello");
	put_key(b, "t.u64", GGUF_UINT64), put_u64(b, UINT64_MAX);
	put_key(b, "t.i64", GGUF_INT64), put_u64(b, (uint64_t)INT64_MIN);
	put_key(b, "t.f64", GGUF_FLOAT64), put_f64(b, -2.25);
	/* the empty string, and a string with a NUL inside */
	put_key(b, "t.empty", GGUF_STRING), put_str(b, "");
	put_key(b, "t.nul", GGUF_STRING), put_u64(b, 3), put(b, "a\0b", 3);
	/* numeric arrays */
	put_key(b, "a.i16", GGUF_ARRAY), put_u32(b, GGUF_INT16), put_u64(b, 3);
	put_u16(b, 1), put_u16(b, (uint16_t)-2), put_u16(b, 3);
	put_key(b, "a.f32", GGUF_ARRAY), put_u32(b, GGUF_FLOAT32), put_u64(b, 2);
	put_f32(b, 0.5f), put_f32(b, -4.0f);
	put_key(b, "a.bool", GGUF_ARRAY), put_u32(b, GGUF_BOOL), put_u64(b, 3);
	put_u8(b, 1), put_u8(b, 0), put_u8(b, 1);
	put_key(b, "a.u64", GGUF_ARRAY), put_u32(b, GGUF_UINT64), put_u64(b, 0);
	put_key(b, "a.f64", GGUF_ARRAY), put_u32(b, GGUF_FLOAT64), put_u64(b, 1), put_f64(b, 3.25);
	/* strings */
	put_key(b, "a.str", GGUF_ARRAY), put_u32(b, GGUF_STRING), put_u64(b, 3);
	put_str(b, "<s>"), put_str(b, ""), put_str(b, "\xc4\xa0the");
	/* nested: [[1,2],[],[3]] of u32, and [[["x"]]] */
	put_key(b, "a.nest", GGUF_ARRAY), put_u32(b, GGUF_ARRAY), put_u64(b, 3);
	put_u32(b, GGUF_UINT32), put_u64(b, 2), put_u32(b, 1), put_u32(b, 2);
	put_u32(b, GGUF_UINT32), put_u64(b, 0);
	put_u32(b, GGUF_UINT32), put_u64(b, 1), put_u32(b, 3);
	put_key(b, "a.nest3", GGUF_ARRAY), put_u32(b, GGUF_ARRAY), put_u64(b, 1);
	put_u32(b, GGUF_ARRAY), put_u64(b, 1);
	put_u32(b, GGUF_STRING), put_u64(b, 1), put_str(b, "x");
	kv_str(b, "general.architecture", "llama");
}
#define N_ALL_TYPES_KV 23

static void check_all_types(const struct gguf *g)
{
	uint64_t u;
	int64_t i;
	double f;
	bool bo;
	CHECK(gguf_get_u64(g, "t.u8", &u) && u == 200);
	CHECK(gguf_get_i64(g, "t.i8", &i) && i == -128);
	CHECK(!gguf_get_u64(g, "t.i8", &u)); /* negative: out of range */
	CHECK(gguf_get_u64(g, "t.u16", &u) && u == 65535);
	CHECK(gguf_get_i64(g, "t.i16", &i) && i == -32768);
	CHECK(gguf_get_u64(g, "t.u32", &u) && u == 4000000000u);
	CHECK(gguf_get_i64(g, "t.u32", &i) && i == 4000000000);
	CHECK(gguf_get_i64(g, "t.i32", &i) && i == -7);
	CHECK(gguf_get_f64(g, "t.f32", &f) && f == 1.5);
	CHECK(gguf_get_bool(g, "t.bool", &bo) && bo);
	CHECK(!gguf_get_u64(g, "t.bool", &u));
	CHECK(gguf_get_str(g, "t.str") && strcmp(gguf_get_str(g, "t.str"), "hello") == 0);
	CHECK(gguf_get_str(g, "t.u8") == NULL);
	CHECK(gguf_get_u64(g, "t.u64", &u) && u == UINT64_MAX);
	CHECK(!gguf_get_i64(g, "t.u64", &i)); /* too big for i64 */
	CHECK(gguf_get_i64(g, "t.i64", &i) && i == INT64_MIN);
	CHECK(gguf_get_f64(g, "t.f64", &f) && f == -2.25);
	CHECK(!gguf_get_f64(g, "t.str", &f));
	CHECK(gguf_get_str(g, "t.empty") && gguf_get_str(g, "t.empty")[0] == 0);
	const struct gguf_value *v = gguf_get(g, "t.nul");
	CHECK(v && v->type == GGUF_STRING && v->str.len == 3 && memcmp(v->str.ptr, "a\0b", 4) == 0);
	CHECK(gguf_get(g, "missing") == NULL && !gguf_get_u64(g, "missing", &u));

	v = gguf_get_arr(g, "a.i16", GGUF_INT16);
	CHECK(v && v->arr.n == 3 && ((const int16_t *)v->arr.data)[1] == -2);
	CHECK(gguf_get_arr(g, "a.i16", GGUF_UINT16) == NULL);
	CHECK(gguf_get_arr(g, "a.i16", GGUF_VTYPE_COUNT) == v);
	v = gguf_get_arr(g, "a.f32", GGUF_FLOAT32);
	CHECK(v && v->arr.n == 2 && ((const float *)v->arr.data)[1] == -4.0f);
	v = gguf_get_arr(g, "a.bool", GGUF_BOOL);
	CHECK(v && v->arr.n == 3 && ((const uint8_t *)v->arr.data)[0] == 1 && ((const uint8_t *)v->arr.data)[1] == 0);
	v = gguf_get_arr(g, "a.u64", GGUF_UINT64);
	CHECK(v && v->arr.n == 0);
	v = gguf_get_arr(g, "a.f64", GGUF_FLOAT64);
	CHECK(v && v->arr.n == 1 && ((const double *)v->arr.data)[0] == 3.25);
	v = gguf_get_arr(g, "a.str", GGUF_STRING);
	if (v && v->arr.n == 3) {
		const struct gguf_str *s = v->arr.data;
		CHECK(strcmp(s[0].ptr, "<s>") == 0 && s[1].len == 0 && strcmp(s[2].ptr, "\xc4\xa0the") == 0);
	} else {
		CHECK(!"a.str");
	}
	v = gguf_get_arr(g, "a.nest", GGUF_ARRAY);
	if (v && v->arr.n == 3) {
		const struct gguf_value *sub = v->arr.data;
		CHECK(sub[0].type == GGUF_ARRAY && sub[0].arr.type == GGUF_UINT32 && sub[0].arr.n == 2);
		CHECK(((const uint32_t *)sub[0].arr.data)[1] == 2);
		CHECK(sub[1].arr.n == 0);
		CHECK(sub[2].arr.n == 1 && ((const uint32_t *)sub[2].arr.data)[0] == 3);
	} else {
		CHECK(!"a.nest");
	}
	v = gguf_get_arr(g, "a.nest3", GGUF_ARRAY);
	if (v && v->arr.n == 1) {
		const struct gguf_value *l1 = v->arr.data;
		const struct gguf_value *l2 = l1->arr.data;
		CHECK(l1->arr.type == GGUF_ARRAY && l2->arr.type == GGUF_STRING && l2->arr.n == 1);
		CHECK(strcmp(((const struct gguf_str *)l2->arr.data)[0].ptr, "x") == 0);
	} else {
		CHECK(!"a.nest3");
	}
	CHECK(gguf_arch(g) && strcmp(gguf_arch(g), "llama") == 0);
	CHECK(strcmp(gguf_vtype_name(GGUF_STRING), "string") == 0);
}

static const struct tspec basic_tensors[] = {
	{ "token_embd.weight", GGML_Q4_0, 2, { 64, 3, 1, 1 } },
	{ "output_norm.weight", GGML_F32, 1, { 7, 1, 1, 1 } },
	{ "blk.0.ffn_gate_exps.weight", GGML_Q4_K, 3, { 256, 2, 4, 1 } },
	{ "blk.0.attn_q.weight", GGML_F16, 4, { 5, 2, 3, 2 } },
	{ "blk.0.x.weight", GGML_IQ1_S, 2, { 256, 1, 1, 1 } },
	{ "blk.0.y.weight", GGML_MXFP4, 2, { 32, 2, 1, 1 } },
};

/* Every tensor's shape, size, alignment and bytes as written. */
static void check_tensors(const struct gguf *g, const struct tspec *t, size_t n, int index0)
{
	CHECK(g->n_tensors == n);
	for (size_t i = 0; i < n && i < g->n_tensors; i++) {
		const struct gguf_tensor *gt = gguf_find_tensor(g, t[i].name);
		CHECKF(gt != NULL, "%s", t[i].name);
		if (!gt)
			continue;
		CHECK(gt == &g->tensors[i]);
		CHECK(gt->type == t[i].type && gt->n_dims == t[i].n_dims);
		uint64_t nelem = 1;
		for (int d = 0; d < 4; d++) {
			CHECK(gt->ne[d] == (d < (int)t[i].n_dims ? t[i].ne[d] : 1));
			nelem *= gt->ne[d];
		}
		CHECK(gt->nelem == nelem);
		CHECK(gt->nbytes == tensor_bytes(&t[i]));
		const struct gguf_part *p = &g->parts[gt->part];
		CHECK((gt->offset - p->data_offset) % g->alignment == 0);
		CHECK(p->data_offset % g->alignment == 0);
		uint8_t *buf = xmalloc(gt->nbytes);
		CHECK(gguf_read_tensor(g, gt, 0, buf, gt->nbytes) == 0);
		bool same = true;
		for (uint64_t k = 0; k < gt->nbytes; k++)
			same &= buf[k] == pattern(index0 + (int)i, k);
		CHECKF(same, "data of %s", t[i].name);
		CHECK(gguf_read_tensor(g, gt, gt->nbytes - 1, buf, 1) == 0 && buf[0] == pattern(index0 + (int)i, gt->nbytes - 1));
		errno = 0;
		CHECK(gguf_read_tensor(g, gt, gt->nbytes, buf, 1) == -1 && errno == EINVAL);
		CHECK(gguf_read_tensor(g, gt, UINT64_MAX, buf, 2) == -1);
		free(buf);
	}
	CHECK(gguf_find_tensor(g, "nope") == NULL);
}

static void test_valid(void)
{
	static const uint32_t versions[] = { 2, 3 };
	static const uint32_t aligns[] = { 0, 1, 8, 64, 4096 };
	struct buf b = { 0 };
	struct layout L;
	for (size_t vi = 0; vi < ARRAY_LEN(versions); vi++) {
		for (size_t ai = 0; ai < ARRAY_LEN(aligns); ai++) {
			struct spec s = { versions[vi], aligns[ai], N_ALL_TYPES_KV, kv_all_types, NULL,
					  ARRAY_LEN(basic_tensors), basic_tensors, 0 };
			build(&b, &s, &L);
			char *path = write_tmp("valid.gguf", b.p, b.len);
			struct gguf_error err;
			struct gguf *g = gguf_open(path, &err);
			CHECKF(g != NULL, "v%u align %u: %s at %" PRIu64, versions[vi], aligns[ai], err.msg, err.offset);
			if (g) {
				CHECK(g->version == versions[vi] && g->n_parts == 1);
				CHECK(g->alignment == (aligns[ai] ? aligns[ai] : 32));
				CHECK(g->parts[0].data_offset == L.data_at);
				CHECK(g->parts[0].file_size == b.len);
				CHECK(g->n_kv == N_ALL_TYPES_KV + (aligns[ai] ? 1 : 0));
				check_all_types(g);
				check_tensors(g, basic_tensors, ARRAY_LEN(basic_tensors), 0);
				gguf_close(g);
			}
			unlink(path);
			free(path);
		}
	}
	/* metadata only, no tensors, no padding at the end */
	struct spec s = { 3, 0, N_ALL_TYPES_KV, kv_all_types, NULL, 0, NULL, 0 };
	build(&b, &s, &L);
	char *path = write_tmp("vocab.gguf", b.p, b.len);
	struct gguf_error err;
	struct gguf *g = gguf_open(path, &err);
	CHECKF(g != NULL, "vocab-only: %s", err.msg);
	if (g) {
		CHECK(g->n_tensors == 0);
		check_all_types(g);
		gguf_close(g);
	}
	unlink(path);
	free(path);
	buf_free(&b);
}

/* ---- split models ---------------------------------------------------------- */

struct split_ctx {
	int no, count, total; /* no < 0: leave the key out */
	bool arch;
};

static void kv_split(struct buf *b, void *ctx)
{
	const struct split_ctx *c = ctx;
	if (c->no >= 0)
		put_key(b, "split.no", GGUF_UINT16), put_u16(b, (uint16_t)c->no);
	put_key(b, "split.count", GGUF_UINT16), put_u16(b, (uint16_t)c->count);
	put_key(b, "split.tensors.count", GGUF_INT32), put_u32(b, (uint32_t)c->total);
	if (c->arch)
		kv_str(b, "general.architecture", "qwen3moe");
}

static size_t split_nkv(const struct split_ctx *c)
{
	return 2 + (c->no >= 0) + c->arch;
}

/* Write a 3-part model "split-0000k-of-00003.gguf"; tamper changes one
 * part's keys. Returns part 1's path. */
static char *write_split(int tamper)
{
	static const size_t per_part[3] = { 2, 3, 1 };
	struct buf b = { 0 };
	struct layout L;
	char *first = NULL;
	size_t t0 = 0;
	for (int k = 0; k < 3; k++) {
		struct split_ctx c = { k, 3, (int)ARRAY_LEN(basic_tensors), k == 0 };
		if (tamper == 1 && k == 2)
			c.no = 1;
		if (tamper == 2 && k == 1)
			c.count = 4;
		if (tamper == 3 && k == 0)
			c.total = 7;
		if (tamper == 4 && k == 1)
			c.no = -1;
		/* part 2 has its own alignment */
		struct spec s = { 3, k == 1 ? 64 : 0, split_nkv(&c), kv_split, &c, per_part[k], basic_tensors + t0, (int)t0 };
		build(&b, &s, &L);
		char name[64];
		snprintf(name, sizeof(name), "split-%05d-of-00003.gguf", k + 1);
		if (tamper == 5 && k == 2) /* 5: part missing */
			break;
		char *path = write_tmp(name, b.p, b.len);
		if (k == 0)
			first = path;
		else
			free(path);
		t0 += per_part[k];
	}
	buf_free(&b);
	return first;
}

static void remove_split(void)
{
	for (int k = 1; k <= 3; k++) {
		char *p;
		xasprintf(&p, "%s/split-%05d-of-00003.gguf", tmpdir, k);
		unlink(p);
		free(p);
	}
}

static void test_split(void)
{
	char *first = write_split(0);
	struct gguf_error err;
	struct gguf *g = gguf_open(first, &err);
	CHECKF(g != NULL, "split: %s", err.msg);
	if (g) {
		CHECK(g->n_parts == 3);
		CHECK(gguf_arch(g) && strcmp(gguf_arch(g), "qwen3moe") == 0);
		check_tensors(g, basic_tensors, ARRAY_LEN(basic_tensors), 0);
		CHECK(gguf_find_tensor(g, basic_tensors[5].name)->part == 2);
		CHECK(gguf_find_tensor(g, basic_tensors[2].name)->part == 1);
		gguf_close(g);
	}
	/* opening by a later part's name opens the whole model */
	char *second;
	xasprintf(&second, "%s/split-00002-of-00003.gguf", tmpdir);
	g = gguf_open(second, &err);
	CHECKF(g && g->n_parts == 3 && g->n_tensors == ARRAY_LEN(basic_tensors), "split via part 2: %s", err.msg);
	gguf_close(g);
	free(second);
	free(first);

	static const struct {
		const char *msg;
	} bad[] = { { NULL }, { "split.no" }, { "split.count" }, { "split.tensors.count" }, { "split.no" }, { "cannot open" } };
	for (int tamper = 1; tamper < (int)ARRAY_LEN(bad); tamper++) {
		remove_split();
		first = write_split(tamper);
		g = gguf_open(first, &err);
		CHECKF(g == NULL, "split tamper %d opened", tamper);
		CHECKF(g || strstr(err.msg, bad[tamper].msg), "split tamper %d: %s", tamper, err.msg);
		gguf_close(g);
		free(first);
	}
	remove_split();

	/* a single file named like a split part, and split.count without the name */
	struct buf b = { 0 };
	struct layout L;
	struct split_ctx c = { 0, 2, 1, false };
	struct spec s = { 3, 0, split_nkv(&c), kv_split, &c, 1, basic_tensors, 0 };
	build(&b, &s, &L);
	char *p = write_tmp("lonely.gguf", b.p, b.len);
	g = gguf_open(p, &err);
	CHECKF(g == NULL && strstr(err.msg, "file name"), "split.count without name: %s", err.msg);
	unlink(p);
	free(p);
	s = (struct spec){ 3, 0, 0, NULL, NULL, 1, basic_tensors, 0 };
	build(&b, &s, &L);
	p = write_tmp("one-00001-of-00001.gguf", b.p, b.len);
	g = gguf_open(p, &err);
	CHECKF(g && g->n_parts == 1, "x-00001-of-00001: %s", err.msg);
	gguf_close(g);
	unlink(p);
	free(p);
	buf_free(&b);
}

/* ---- malformed files ------------------------------------------------------- */

static int n_bad_checked;

/* The image must fail to open, with a message containing want (if given)
 * and, if at != UINT64_MAX, reported at that byte. */
static void expect_bad(const char *what, const void *img, size_t n, const char *want, uint64_t at)
{
	char *path = write_tmp("bad.gguf", img, n);
	struct gguf_error err;
	memset(&err, 0, sizeof(err));
	struct gguf *g = gguf_open(path, &err);
	n_bad_checked++;
	CHECKF(g == NULL, "%s: opened", what);
	if (!g) {
		CHECKF(err.msg[0] != 0 && strchr(err.msg, '\n') == NULL, "%s: empty/multi-line message", what);
		CHECKF(strcmp(err.path, path) == 0, "%s: path %s", what, err.path);
		CHECKF(err.offset <= n, "%s: offset %" PRIu64 " past EOF %zu", what, err.offset, n);
		CHECKF(!want || strstr(err.msg, want), "%s: message '%s' lacks '%s'", what, err.msg, want);
		CHECKF(at == UINT64_MAX || err.offset == at, "%s: at %" PRIu64 ", expected %" PRIu64 " (%s)", what,
		       err.offset, at, err.msg);
		if (getenv("TEST_VERBOSE"))
			gguf_error_print(&err);
	}
	gguf_close(g);
	unlink(path);
	free(path);
}

static void patch_u32(struct buf *b, size_t at, uint32_t v) { memcpy(b->p + at, &v, 4); }
static void patch_u64(struct buf *b, size_t at, uint64_t v) { memcpy(b->p + at, &v, 8); }

/* Build the standard valid image into b. */
static void base_image(struct buf *b, struct layout *L)
{
	struct spec s = { 3, 0, N_ALL_TYPES_KV, kv_all_types, NULL, ARRAY_LEN(basic_tensors), basic_tensors, 0 };
	build(b, &s, L);
}

static void test_truncation(void)
{
	struct buf b = { 0 };
	struct layout L;
	base_image(&b, &L);
	/* every byte of the header, then the section boundaries of the data */
	for (size_t n = 0; n < L.data_at + 1; n++)
		expect_bad("truncated", b.p, n, NULL, UINT64_MAX);
	for (int i = 0; i < L.n_bounds; i++)
		if (L.bounds[i] < b.len && L.bounds[i] > 0) {
			expect_bad("truncated at boundary", b.p, L.bounds[i], NULL, UINT64_MAX);
			expect_bad("truncated before boundary", b.p, L.bounds[i] - 1, NULL, UINT64_MAX);
		}
	expect_bad("one byte short", b.p, b.len - 1, "past the end", L.toff_at[ARRAY_LEN(basic_tensors) - 1]);
	/* metadata-only file cut anywhere */
	struct spec s = { 3, 0, N_ALL_TYPES_KV, kv_all_types, NULL, 0, NULL, 0 };
	build(&b, &s, &L);
	for (size_t n = 0; n < b.len; n++)
		expect_bad("truncated vocab", b.p, n, NULL, UINT64_MAX);
	buf_free(&b);
}

/* One header field patched in the standard image. */
static void test_patched(void)
{
	struct buf b = { 0 };
	struct layout L;
	base_image(&b, &L);
	struct buf m = { 0 };
#define MUT(what, stmt, want, at)                                  \
	do {                                                       \
		buf_clear(&m);                                     \
		buf_append(&m, b.p, b.len);                        \
		{                                                  \
			struct buf *B = &m;                        \
			stmt;                                      \
		}                                                  \
		expect_bad(what, m.p, m.len, want, at);            \
	} while (0)

	MUT("bad magic", memcpy(B->p, "GGUG", 4), "magic", 0);
	MUT("version 1", patch_u32(B, 4, 1), "version 1", 4);
	MUT("version 4", patch_u32(B, 4, 4), "version 4", 4);
	MUT("version 0", patch_u32(B, 4, 0), "version", 4);
	MUT("big-endian", patch_u32(B, 4, 0x03000000), "big-endian", 4);
	MUT("huge n_tensors", patch_u64(B, L.n_tensors_at, UINT64_MAX), "cannot fit", 8);
	MUT("n_tensors 2^59", patch_u64(B, L.n_tensors_at, 1ull << 59), "cannot fit", 8);
	MUT("huge n_kv", patch_u64(B, L.n_kv_at, 1ull << 62), "metadata keys", 16);
	MUT("n_kv + 1", patch_u64(B, L.n_kv_at, N_ALL_TYPES_KV + 1), NULL, UINT64_MAX);
	MUT("n_tensors + 1", patch_u64(B, L.n_tensors_at, ARRAY_LEN(basic_tensors) + 1), NULL, UINT64_MAX);
	MUT("key length 2^63", patch_u64(B, L.kv_first_at, 1ull << 63), "string length", L.kv_first_at);
	MUT("key length 2^64-1", patch_u64(B, L.kv_first_at, UINT64_MAX), "string length", L.kv_first_at);
	MUT("key length = file", patch_u64(B, L.kv_first_at, B->len), "string length", L.kv_first_at);
	MUT("value type 13", patch_u32(B, L.kv_first_at + 8 + 4, 13), "value type", L.kv_first_at + 12);
	MUT("value type 2^31", patch_u32(B, L.kv_first_at + 8 + 4, 1u << 31), "value type", L.kv_first_at + 12);
	MUT("tensor name len 2^63", patch_u64(B, L.tinfo_at[0], 1ull << 63), "string length", L.tinfo_at[0]);
	MUT("n_dims 0", patch_u32(B, L.tdims_at[0], 0), "dimensions", L.tdims_at[0]);
	MUT("n_dims 5", patch_u32(B, L.tdims_at[0], 5), "dimensions", L.tdims_at[0]);
	MUT("n_dims 2^32-1", patch_u32(B, L.tdims_at[0], UINT32_MAX), "dimensions", L.tdims_at[0]);
	MUT("dim 0", patch_u64(B, L.tdims_at[0] + 4 + 8, 0), "is 0", L.tdims_at[0] + 12);
	MUT("dims overflow", (patch_u64(B, L.tdims_at[0] + 4, 1ull << 32), patch_u64(B, L.tdims_at[0] + 12, 1ull << 32)),
	    "overflow", L.tdims_at[0] + 12);
	MUT("dim 2^63", patch_u64(B, L.tdims_at[1] + 4, 1ull << 63), "overflow", L.tdims_at[1] + 4);
	MUT("dim 2^64-1", patch_u64(B, L.tdims_at[1] + 4, UINT64_MAX), "overflow", L.tdims_at[1] + 4);
	/* fits i64 elements, but the byte size overflows (F32: 4 bytes each) */
	MUT("bytes overflow", patch_u64(B, L.tdims_at[1] + 4, 1ull << 62), "overflows", L.ttype_at[1]);
	MUT("huge tensor", patch_u64(B, L.tdims_at[1] + 4, 1ull << 40), "past the end", L.toff_at[1]);
	MUT("row not a block multiple", patch_u64(B, L.tdims_at[0] + 4, 48), "block size", L.ttype_at[0]);
	static const uint32_t bad_types[] = { 4, 5, 31, 32, 33, 36, 37, 38, 40, 999, UINT32_MAX };
	for (size_t i = 0; i < ARRAY_LEN(bad_types); i++)
		MUT("bad type id", patch_u32(B, L.ttype_at[1], bad_types[i]), "unknown type", L.ttype_at[1]);
	MUT("offset past EOF", patch_u64(B, L.toff_at[1], 1ull << 40), "past the end", L.toff_at[1]);
	MUT("offset 2^64-32", patch_u64(B, L.toff_at[1], UINT64_MAX - 31), "past the end", L.toff_at[1]);
	MUT("misaligned offset", patch_u64(B, L.toff_at[1], 40), "not a multiple", L.toff_at[1]);
	uint64_t last_off;
	memcpy(&last_off, b.p + L.toff_at[5], 8);
	MUT("last offset + 32", patch_u64(B, L.toff_at[5], last_off + 32), "past the end", L.toff_at[5]);
	buf_free(&m);

	/* duplicate tensor names */
	static const struct tspec dup[] = {
		{ "a.weight", GGML_F32, 1, { 8, 1, 1, 1 } },
		{ "b.weight", GGML_F32, 1, { 8, 1, 1, 1 } },
		{ "a.weight", GGML_F32, 1, { 8, 1, 1, 1 } },
	};
	struct spec s = { 3, 0, 0, NULL, NULL, ARRAY_LEN(dup), dup, 0 };
	build(&b, &s, &L);
	expect_bad("duplicate tensor name", b.p, b.len, "duplicate tensor name 'a.weight'", L.tinfo_at[2]);
	buf_free(&b);
#undef MUT
}

/* Images built from scratch: hostile metadata. */
static void header(struct buf *b, uint64_t n_t, uint64_t n_kv)
{
	buf_clear(b);
	put(b, "GGUF", 4);
	put_u32(b, 3);
	put_u64(b, n_t);
	put_u64(b, n_kv);
}

static void test_hostile_metadata(void)
{
	struct buf b = { 0 };
	size_t at;

	/* nested array bomb: 7 levels of 2^40-element arrays */
	header(&b, 0, 1);
	put_key(&b, "bomb", GGUF_ARRAY);
	at = b.len;
	put_u32(&b, GGUF_ARRAY), put_u64(&b, 1ull << 40);
	expect_bad("array bomb", b.p, b.len, "array of", at + 4);
	/* a bomb one level down: the outer count is honest, the inner lies */
	header(&b, 0, 1);
	put_key(&b, "bomb2", GGUF_ARRAY);
	put_u32(&b, GGUF_ARRAY), put_u64(&b, 2);
	put_u32(&b, GGUF_UINT8), put_u64(&b, 1), put_u8(&b, 7);
	at = b.len;
	put_u32(&b, GGUF_ARRAY), put_u64(&b, 1ull << 60);
	for (int i = 0; i < 4; i++)
		put_u32(&b, GGUF_ARRAY), put_u64(&b, 1ull << 60);
	expect_bad("nested array bomb", b.p, b.len, "array of", at + 4);

	/* many small nested arrays are legitimate: memory stays proportional */
	header(&b, 0, 1);
	put_key(&b, "wide", GGUF_ARRAY);
	put_u32(&b, GGUF_ARRAY), put_u64(&b, 100000);
	for (int i = 0; i < 100000; i++)
		put_u32(&b, GGUF_INT64), put_u64(&b, 0);
	{
		char *p = write_tmp("wide.gguf", b.p, b.len);
		struct gguf_error err;
		struct gguf *g = gguf_open(p, &err);
		CHECKF(g && gguf_get_arr(g, "wide", GGUF_ARRAY)->arr.n == 100000, "wide nested array: %s", err.msg);
		gguf_close(g);
		unlink(p);
		free(p);
	}

	/* counts that look fine per level but nest deeper than the limit */
	header(&b, 0, 1);
	put_key(&b, "deep", GGUF_ARRAY);
	for (int i = 0; i < 20; i++)
		put_u32(&b, GGUF_ARRAY), put_u64(&b, 1);
	put_u32(&b, GGUF_UINT8), put_u64(&b, 0);
	expect_bad("deep nesting", b.p, b.len, "nested deeper", UINT64_MAX);

	/* 7 levels (the limit allows 8) is fine */
	header(&b, 0, 1);
	put_key(&b, "deep7", GGUF_ARRAY);
	for (int i = 0; i < 6; i++)
		put_u32(&b, GGUF_ARRAY), put_u64(&b, 1);
	put_u32(&b, GGUF_UINT8), put_u64(&b, 1), put_u8(&b, 9);
	{
		char *p = write_tmp("deep7.gguf", b.p, b.len);
		struct gguf_error err;
		struct gguf *g = gguf_open(p, &err);
		CHECKF(g != NULL, "7 nested levels: %s", err.msg);
		gguf_close(g);
		unlink(p);
		free(p);
	}

	/* an array whose count is just over what the file holds */
	header(&b, 0, 1);
	put_key(&b, "arr", GGUF_ARRAY);
	at = b.len;
	put_u32(&b, GGUF_UINT32), put_u64(&b, 3), put_u32(&b, 1), put_u32(&b, 2);
	expect_bad("array count > data", b.p, b.len, "array of 3", at + 4);
	header(&b, 0, 1);
	put_key(&b, "arr", GGUF_ARRAY);
	at = b.len;
	put_u32(&b, GGUF_STRING), put_u64(&b, UINT64_MAX / 4);
	expect_bad("string array count huge", b.p, b.len, "array of", at + 4);
	header(&b, 0, 1);
	put_key(&b, "arr", GGUF_ARRAY);
	at = b.len;
	put_u32(&b, 13), put_u64(&b, 0);
	expect_bad("bad array element type", b.p, b.len, "element type", at);
	/* array of strings with one string length 2^63 */
	header(&b, 0, 1);
	put_key(&b, "arr", GGUF_ARRAY);
	put_u32(&b, GGUF_STRING), put_u64(&b, 2), put_str(&b, "ok");
	at = b.len;
	put_u64(&b, 1ull << 63);
	expect_bad("array string 2^63", b.p, b.len, "string length", at);

	/* string value lengths */
	static const uint64_t lens[] = { 1ull << 63, UINT64_MAX, 1ull << 32, 100 };
	for (size_t i = 0; i < ARRAY_LEN(lens); i++) {
		header(&b, 0, 1);
		put_key(&b, "s", GGUF_STRING);
		at = b.len;
		put_u64(&b, lens[i]);
		put(&b, "abcdefgh", 8);
		expect_bad("string value length", b.p, b.len, "string length", at);
	}

	/* bools */
	header(&b, 0, 1);
	put_key(&b, "b", GGUF_BOOL);
	at = b.len;
	put_u8(&b, 2);
	expect_bad("bool 2", b.p, b.len, "bool", at);
	header(&b, 0, 1);
	put_key(&b, "b", GGUF_ARRAY), put_u32(&b, GGUF_BOOL), put_u64(&b, 3);
	at = b.len;
	put_u8(&b, 0), put_u8(&b, 1), put_u8(&b, 255);
	expect_bad("bool array 255", b.p, b.len, "bool", at + 2);

	/* duplicate keys, NUL in a key */
	header(&b, 0, 2);
	kv_u32(&b, "a.b", 1);
	at = b.len;
	kv_u32(&b, "a.b", 2);
	expect_bad("duplicate key", b.p, b.len, "duplicate metadata key", at);
	header(&b, 0, 1);
	at = b.len;
	put_u64(&b, 3), put(&b, "a\0b", 3), put_u32(&b, GGUF_UINT8), put_u8(&b, 0);
	expect_bad("NUL in key", b.p, b.len, "NUL", at);

	/* alignment: 0, not a power of two, wrong type */
	static const uint32_t aligns[] = { 0, 3, 48, 0x80000001u };
	for (size_t i = 0; i < ARRAY_LEN(aligns); i++) {
		header(&b, 0, 1);
		put_key(&b, "general.alignment", GGUF_UINT32);
		at = b.len;
		put_u32(&b, aligns[i]);
		expect_bad("bad alignment", b.p, b.len, "power of two", at);
	}
	header(&b, 0, 1);
	put_key(&b, "general.alignment", GGUF_UINT64);
	at = b.len;
	put_u64(&b, 32);
	expect_bad("alignment type", b.p, b.len, "expected u32", at);

	/* tiny files */
	expect_bad("empty file", "", 0, "truncated", 0);
	expect_bad("magic only", "GGUF", 4, "truncated", 4);
	expect_bad("not gguf", "\x7f" "ELF\x02\x01\x01\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 24, "magic", 0);
	buf_free(&b);

	/* unopenable paths */
	struct gguf_error err;
	CHECK(gguf_open("/nonexistent/x.gguf", &err) == NULL && strstr(err.msg, "cannot open"));
	CHECK(gguf_open(tmpdir, &err) == NULL && strstr(err.msg, "regular file"));
	CHECK(gguf_open("/nonexistent/y.gguf", NULL) == NULL);
}

/* The error line's exact format. */
static void test_error_print(void)
{
	struct gguf_error e = { "m.gguf", "tensor 'x': dimension 1 is 0", 123 };
	char *path;
	xasprintf(&path, "%s/stderr.txt", tmpdir);
	fflush(stderr);
	int saved = dup(2);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	dup2(fd, 2);
	close(fd);
	const char *prog = heft_progname;
	heft_progname = "heft-engine";
	gguf_error_print(&e);
	heft_progname = prog;
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	size_t len;
	char *out = read_file(path, &len, 4096);
	CHECKF(out && strcmp(out, "heft-engine: m.gguf: tensor 'x': dimension 1 is 0 (at byte 123)\n") == 0, "got '%s'",
	       out ? out : "(null)");
	free(out);
	unlink(path);
	free(path);
}

/* ---- shared fixtures ---------------------------------------------------------- */

/* Invariants every successfully opened model must satisfy. */
static void check_invariants(const char *name, const struct gguf *g)
{
	for (size_t i = 0; i < g->n_tensors; i++) {
		const struct gguf_tensor *t = &g->tensors[i];
		const struct gguf_part *p = &g->parts[t->part];
		const struct qtype *q = qtype_get(t->type);
		CHECKF(q && t->ne[0] % q->blck == 0, "%s: %s type %u", name, t->name, t->type);
		CHECKF(t->n_dims >= 1 && t->n_dims <= 4, "%s: %s dims", name, t->name);
		CHECKF(t->offset >= p->data_offset && t->offset + t->nbytes <= p->file_size, "%s: %s out of file", name,
		       t->name);
		CHECKF((t->offset - p->data_offset) % g->alignment == 0, "%s: %s misaligned", name, t->name);
		uint64_t rows = t->ne[1] * t->ne[2] * t->ne[3];
		CHECKF(q && t->nbytes == qtype_row_bytes(t->type, t->ne[0]) * rows, "%s: %s size", name, t->name);
		CHECKF(gguf_find_tensor(g, t->name) == t, "%s: %s lookup", name, t->name);
	}
	for (size_t i = 0; i < g->n_kv; i++)
		CHECKF(gguf_get(g, g->kv[i].key) == &g->kv[i].val, "%s: key %s lookup", name, g->kv[i].key);
}

struct family {
	char stem[64];
	size_t n_tensors;
	char from[256];
};

/* Files of one family ("llama-Q4_0", "llama-F16") share tensor names and
 * shapes whatever their quantization. */
static void check_family(struct family *fam, size_t *n_fam, const char *file, const struct gguf *g)
{
	const char *dash = strrchr(file, '-');
	size_t len = dash ? (size_t)(dash - file) : strlen(file);
	if (len >= sizeof(fam[0].stem))
		return;
	for (size_t i = 0; i < *n_fam; i++) {
		if (strlen(fam[i].stem) == len && memcmp(fam[i].stem, file, len) == 0) {
			CHECKF(fam[i].n_tensors == g->n_tensors, "%s has %zu tensors, %s has %zu", file, g->n_tensors,
			       fam[i].from, fam[i].n_tensors);
			return;
		}
	}
	if (*n_fam < 32) {
		struct family *f = &fam[(*n_fam)++];
		memcpy(f->stem, file, len);
		f->stem[len] = 0;
		f->n_tensors = g->n_tensors;
		snprintf(f->from, sizeof(f->from), "%s", file);
	}
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int test_fixture_dir(const char *dir, bool models)
{
	DIR *d = opendir(dir);
	if (!d)
		return 0;
	char *names[256];
	size_t n = 0;
	struct dirent *e;
	while ((e = readdir(d)) && n < ARRAY_LEN(names)) {
		size_t l = strlen(e->d_name);
		if (l > 5 && strcmp(e->d_name + l - 5, ".gguf") == 0)
			names[n++] = xstrdup(e->d_name);
	}
	closedir(d);
	qsort(names, n, sizeof(*names), cmp_str);
	struct family fam[32];
	size_t n_fam = 0;
	for (size_t i = 0; i < n; i++) {
		char *path;
		xasprintf(&path, "%s/%s", dir, names[i]);
		struct gguf_error err;
		double t0 = now_sec();
		struct gguf *g = gguf_open(path, &err);
		double dt = now_sec() - t0;
		CHECKF(g != NULL, "%s: %s (at byte %" PRIu64 ")", path, err.msg, err.offset);
		if (g) {
			check_invariants(names[i], g);
			CHECKF(gguf_arch(g) != NULL, "%s: no general.architecture", names[i]);
			if (models) {
				CHECKF(g->n_tensors > 0, "%s: no tensors", names[i]);
				check_family(fam, &n_fam, names[i], g);
			} else {
				CHECKF(g->n_tensors == 0, "%s: vocab file with tensors", names[i]);
				const struct gguf_value *tok = gguf_get_arr(g, "tokenizer.ggml.tokens", GGUF_STRING);
				CHECKF(tok && tok->arr.n > 1000, "%s: tokenizer.ggml.tokens", names[i]);
				if (getenv("TEST_VERBOSE"))
					printf("%s: %" PRIu64 " tokens, opened in %.2f ms\n", names[i],
					       tok ? tok->arr.n : 0, dt * 1e3);
			}
			gguf_close(g);
		}
		free(path);
		free(names[i]);
	}
	return (int)n;
}

/* ---- random damage to real files ---------------------------------------------- */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rng(void)
{
	return xorshift(&rng_state);
}

/* Damage a copy of src in place n times, restoring it after each try, so a
 * 4 MB file costs a few pwrites per mutation instead of a full copy. */
static void mutate_file(const char *src, int n, int *opened, int *refused)
{
	size_t len;
	char *orig = read_file(src, &len, 64u << 20);
	if (!orig || len < 64) {
		free(orig);
		return;
	}
	/* mostly damage the header: data bytes cannot make open fail */
	struct gguf_error err;
	struct gguf *g0 = gguf_open(src, &err);
	size_t hdr = g0 ? (size_t)MIN(g0->parts[0].data_offset, (uint64_t)len) : len;
	gguf_close(g0);
	char *path = write_tmp("mutant.gguf", orig, len);
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	static const uint64_t specials[] = { 0, 1, 0xff, 0x7fffffffffffffffull, 0x8000000000000000ull, UINT64_MAX,
					     1ull << 32, 0xffffffffull, 31, 33 };
	for (int i = 0; i < n && fd >= 0; i++) {
		size_t lo = len, hi = 0; /* range to restore */
		size_t new_len = len;
		int kind = (int)(rng() % 10);
		if (kind == 0) { /* truncate */
			new_len = (size_t)(rng() % (len + 1));
			if (ftruncate(fd, (off_t)new_len) != 0)
				break;
		} else {
			int k = 1 + (int)(rng() % 4);
			for (int j = 0; j < k; j++) {
				size_t at = (size_t)(rng() % (hdr > 8 ? hdr - 8 : 1));
				uint8_t bytes[8];
				size_t w;
				if (kind < 6) {
					bytes[0] = (uint8_t)rng();
					w = 1;
				} else {
					uint64_t v = specials[rng() % ARRAY_LEN(specials)];
					memcpy(bytes, &v, 8);
					w = kind < 8 ? 8 : 4;
				}
				if (pwrite(fd, bytes, w, (off_t)at) != (ssize_t)w)
					break;
				lo = MIN(lo, at);
				hi = MAX(hi, at + w);
			}
		}
		g0 = gguf_open(path, &err);
		if (g0) {
			(*opened)++;
			check_invariants("mutant", g0);
			gguf_close(g0);
		} else {
			(*refused)++;
			CHECKF(err.msg[0] && err.offset <= len, "mutant %d: '%s' at %" PRIu64, i, err.msg, err.offset);
		}
		if (kind == 0) {
			if (pwrite(fd, orig + new_len, len - new_len, (off_t)new_len) != (ssize_t)(len - new_len))
				break;
		} else if (hi > lo && pwrite(fd, orig + lo, hi - lo, (off_t)lo) != (ssize_t)(hi - lo)) {
			break;
		}
	}
	if (fd >= 0)
		close(fd);
	unlink(path);
	free(path);
	free(orig);
}

static void test_fixtures(void)
{
	const char *fx = getenv("HEFT_FIXTURES");
	if (!fx || !*fx)
		fx = "/work/shared/fixtures";
	struct stat st;
	if (stat(fx, &st) != 0) {
		printf("test-gguf: no fixtures at %s, fixture checks skipped\n", fx);
		return;
	}
	char *models, *vocab;
	xasprintf(&models, "%s/models", fx);
	xasprintf(&vocab, "%s/vocab", fx);
	int nm = test_fixture_dir(models, true);
	int nv = test_fixture_dir(vocab, false);
	printf("test-gguf: %d model and %d vocab fixtures opened\n", nm, nv);

	const char *victims[] = { "models/qwen3moe-Q4_K_M.gguf", "models/deepseek2-IQ1_S.gguf",
				  "vocab/ggml-vocab-llama-spm.gguf" };
	const int counts[] = { 1000, 700, 300 };
	int opened = 0, refused = 0;
	int n_mut = getenv("GGUF_MUTATIONS") ? atoi(getenv("GGUF_MUTATIONS")) : -1;
	for (size_t i = 0; i < ARRAY_LEN(victims); i++) {
		char *p;
		xasprintf(&p, "%s/%s", fx, victims[i]);
		if (access(p, R_OK) == 0)
			mutate_file(p, n_mut >= 0 ? n_mut : counts[i], &opened, &refused);
		free(p);
	}
	printf("test-gguf: mutations: %d opened, %d refused cleanly\n", opened, refused);
	free(models);
	free(vocab);
}

int main(void)
{
	heft_progname = "test-gguf";
	const char *t = getenv("TMPDIR");
	snprintf(tmpdir, sizeof(tmpdir), "%s/test-gguf.XXXXXX", t && *t ? t : "/tmp");
	if (!mkdtemp(tmpdir)) {
		perror(tmpdir);
		return 1;
	}
	test_valid();
	test_split();
	test_truncation();
	test_patched();
	test_hostile_metadata();
	test_error_print();
	printf("test-gguf: %d malformed images refused\n", n_bad_checked);
	test_fixtures();
	rmdir(tmpdir);
	return test_done("test-gguf");
}
