/* kvstate.c - save and restore a KV cache prefix (format: docs/prompt-cache.md).
 *
 * File = header, header hash, payload (token ids, then each layer's K rows
 * and V rows of positions [0, n_tokens)), payload hash. Numbers are
 * little-endian. The header hash comes before the identity and layout are
 * trusted, so a flipped bit there reads as "corrupt", not as "another
 * model"; the payload hash is checked over the whole file before a single
 * row reaches the cache, so a refused file changes nothing. */
#include "kvstate.h"

#include "forward.h"
#include "gguf.h"
#include "hash64.h"
#include "kv.h"
#include "model-id.h"
#include "model.h"
#include "quant.h"
#include "fileio.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char magic[8] = {'H', 'E', 'F', 'T', 'K', 'V', 0x1a, '\n'};

#define MAX_PARTS 4096u
#define IO_CHUNK ((size_t)1 << 20)
#define SEED_HEADER 0x68656164u /* "head" */
#define SEED_PAYLOAD 0x6b766b76u

/* ---- header --------------------------------------------------------------------- */

enum kv_kind { KIND_HEADS = 0, KIND_MLA = 1 };

/* What the rows mean. For per-head K/V: heads = n_head_kv, dims = head_dim_k
 * and head_dim_v. For MLA one latent row serves all heads: heads = 1, dims =
 * kv_lora_rank and n_rot (K row = latent + rope key, no V rows). */
struct layout {
	uint32_t kind, n_layer, heads, dim_a, dim_b, k_dim, v_dim, type_k, type_v;
};
#define LAYOUT_FIELDS 9

struct header {
	uint32_t version, n_parts;
	struct model_part_id *parts;
	struct layout lay;
	uint32_t n_ctx;    /* of the context that saved it: informative only (a
			    * position's row does not depend on the capacity) */
	uint32_t n_tokens;
};

static size_t header_bytes(uint32_t n_parts)
{
	return 16 + 32 * (size_t)n_parts + 4 * (LAYOUT_FIELDS + 3) + 8;
}

static struct layout layout_of(const struct model *m, const struct kv_cache *kv)
{
	const struct hparams *hp = &m->hp;
	bool mla = hp->kv_lora_rank > 0;
	return (struct layout){
		.kind = mla ? KIND_MLA : KIND_HEADS,
		.n_layer = (uint32_t)kv->n_layer,
		.heads = mla ? 1u : (uint32_t)hp->n_head_kv,
		.dim_a = (uint32_t)(mla ? hp->kv_lora_rank : hp->head_dim_k),
		.dim_b = (uint32_t)(mla ? hp->n_rot : hp->head_dim_v),
		.k_dim = (uint32_t)kv->k_dim,
		.v_dim = (uint32_t)kv->v_dim,
		.type_k = kv->type_k,
		.type_v = kv->type_v,
	};
}

static const char *type_name(uint32_t t)
{
	const struct qtype *q = qtype_get(t);
	return q ? q->name : "type?";
}

static void layout_str(const struct layout *l, char *out, size_t n)
{
	if (l->kind == KIND_MLA)
		snprintf(out, n, "MLA latent, %" PRIu32 " layers x (%" PRIu32 " + %" PRIu32 " rope) %s", l->n_layer,
			 l->dim_a, l->dim_b, type_name(l->type_k));
	else
		snprintf(out, n,
			 "K/V, %" PRIu32 " layers x %" PRIu32 " heads x %" PRIu32 "/%" PRIu32 " dims %s/%s (rows %" PRIu32
			 "/%" PRIu32 ")",
			 l->n_layer, l->heads, l->dim_a, l->dim_b, type_name(l->type_k), type_name(l->type_v), l->k_dim,
			 l->v_dim);
}

/* Header bytes, its hash included; returns the malloc'd buffer. */
static unsigned char *header_encode(const struct header *h, size_t *len)
{
	*len = header_bytes(h->n_parts);
	unsigned char *b = xcalloc(1, *len), *p = b;
	memcpy(p, magic, 8);
	put_le32(p + 8, h->version);
	put_le32(p + 12, h->n_parts);
	p += 16;
	for (uint32_t i = 0; i < h->n_parts; i++, p += 32) {
		put_le64(p, h->parts[i].file_size);
		put_le64(p + 8, h->parts[i].meta_bytes);
		put_le64(p + 16, h->parts[i].meta_hash);
		put_le64(p + 24, h->parts[i].data_hash);
	}
	const uint32_t *lf = &h->lay.kind;
	for (int i = 0; i < LAYOUT_FIELDS; i++, p += 4)
		put_le32(p, lf[i]);
	put_le32(p, h->n_ctx);
	put_le32(p + 4, h->n_tokens);
	put_le32(p + 8, 0); /* reserved */
	p += 12;
	struct hash64 hh;
	hash64_init(&hh, SEED_HEADER);
	hash64_update(&hh, b, (size_t)(p - b));
	put_le64(p, hash64_final(&hh));
	return b;
}

/* Fields after the first 16 bytes (magic, version, n_parts already read). */
static void header_decode(struct header *h, const unsigned char *b)
{
	const unsigned char *p = b + 16;
	for (uint32_t i = 0; i < h->n_parts; i++, p += 32)
		h->parts[i] = (struct model_part_id){get_le64(p), get_le64(p + 8), get_le64(p + 16), get_le64(p + 24)};
	uint32_t *lf = &h->lay.kind;
	for (int i = 0; i < LAYOUT_FIELDS; i++, p += 4)
		lf[i] = get_le32(p);
	h->n_ctx = get_le32(p);
	h->n_tokens = get_le32(p + 4);
}

static bool host_little_endian(void)
{
	const uint16_t one = 1;
	unsigned char c;
	memcpy(&c, &one, 1);
	return c == 1;
}

/* ---- save ----------------------------------------------------------------------- */

/* Write and hash n bytes. */
static int put(int fd, struct hash64 *h, const void *p, size_t n)
{
	if (h)
		hash64_update(h, p, n);
	return write_full(fd, p, n) == (int64_t)n ? 0 : -1;
}

static int write_body(int fd, const struct header *hd, const struct kv_cache *kv, const int32_t *tokens)
{
	size_t hlen;
	unsigned char *hb = header_encode(hd, &hlen);
	int rc = put(fd, NULL, hb, hlen);
	free(hb);
	struct hash64 h;
	hash64_init(&h, SEED_PAYLOAD);
	size_t n = hd->n_tokens;
	if (rc == 0)
		rc = put(fd, &h, tokens, n * sizeof *tokens);
	for (int l = 0; l < kv->n_layer && rc == 0; l++) {
		rc = put(fd, &h, kv_k(kv, l, 0), n * kv_row_bytes_k(kv));
		if (rc == 0 && kv->v_dim)
			rc = put(fd, &h, kv_v(kv, l, 0), n * kv_row_bytes_v(kv));
	}
	unsigned char tail[8];
	put_le64(tail, hash64_final(&h));
	if (rc == 0)
		rc = put(fd, NULL, tail, sizeof tail);
	return rc;
}

int kvstate_save_kv(const char *path, const struct model *m, const struct kv_cache *kv, const int32_t *tokens,
		    int n, char *err, size_t errlen)
{
	if (!host_little_endian()) {
		snprintf(err, errlen, "%s: prompt caches are written on little-endian hosts only", path);
		return -1;
	}
	if (n < 0 || n > kv->n_pos || (n > 0 && !tokens)) {
		snprintf(err, errlen, "%s: cannot save %d positions of a cache holding %d", path, n, kv->n_pos);
		return -1;
	}
	for (int i = 0; i < n; i++)
		if (tokens[i] < 0 || tokens[i] >= m->hp.n_vocab) {
			snprintf(err, errlen, "%s: token id %d at %d is outside the vocabulary", path, tokens[i], i);
			return -1;
		}
	struct header hd = {.version = KVSTATE_VERSION,
			    .n_parts = (uint32_t)m->g->n_parts,
			    .lay = layout_of(m, kv),
			    .n_ctx = (uint32_t)kv->n_ctx,
			    .n_tokens = (uint32_t)n};
	hd.parts = xcalloc(m->g->n_parts, sizeof *hd.parts);
	int rc = model_identity(m->g, hd.parts, err, errlen);
	struct fio_out o;
	if (rc == 0 && fio_begin(&o, path) < 0) {
		snprintf(err, errlen, "%s: %s", path, fio_strerror(errno));
		rc = -1;
	} else if (rc == 0) {
		if (write_body(o.fd, &hd, kv, tokens) < 0) {
			snprintf(err, errlen, "%s: %s", path, fio_strerror(errno));
			fio_abort(&o);
			rc = -1;
		} else if (fio_commit(&o) < 0) {
			snprintf(err, errlen, "%s: %s", path, fio_strerror(errno));
			rc = -1;
		}
	}
	free(hd.parts);
	return rc;
}

int kvstate_save(const char *path, const struct model *m, const struct forward *f, const int32_t *tokens, int n,
		 char *err, size_t errlen)
{
	return kvstate_save_kv(path, m, forward_kv(f), tokens, n, err, errlen);
}

/* ---- load ----------------------------------------------------------------------- */

struct loader {
	const char *path;
	int fd;
	uint64_t size;
	struct header h;
	size_t hlen;
	int32_t *tok;
	char *err;
	size_t errlen;
};

static enum kvstate_result refuse(struct loader *L, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static enum kvstate_result refuse(struct loader *L, const char *fmt, ...)
{
	int k = snprintf(L->err, L->errlen, "%s: ", L->path);
	va_list ap;
	va_start(ap, fmt);
	if (k >= 0 && (size_t)k < L->errlen)
		vsnprintf(L->err + k, L->errlen - (size_t)k, fmt, ap);
	va_end(ap);
	return KVSTATE_REFUSED;
}

static enum kvstate_result read_exact(struct loader *L, void *dst, size_t n, uint64_t off)
{
	int64_t got = pread_full(L->fd, dst, n, off);
	if (got < 0)
		return refuse(L, "read: %s", strerror(errno));
	if ((size_t)got != n)
		return refuse(L, "truncated while reading (at byte %" PRIu64 ")", off + (uint64_t)got);
	return KVSTATE_LOADED;
}

/* Magic, version, header hash. */
static enum kvstate_result check_header(struct loader *L)
{
	unsigned char first[16];
	if (L->size < sizeof first)
		return refuse(L, "truncated (%" PRIu64 " bytes): not a prompt cache", L->size);
	if (read_exact(L, first, sizeof first, 0) != KVSTATE_LOADED)
		return KVSTATE_REFUSED;
	if (memcmp(first, magic, sizeof magic))
		return refuse(L, "not a heft prompt cache (bad magic)");
	L->h.version = get_le32(first + 8);
	if (L->h.version != KVSTATE_VERSION)
		return refuse(L, "format version %" PRIu32 "; this engine reads version %d", L->h.version,
			      KVSTATE_VERSION);
	L->h.n_parts = get_le32(first + 12);
	if (L->h.n_parts == 0 || L->h.n_parts > MAX_PARTS)
		return refuse(L, "corrupt header (%" PRIu32 " model parts)", L->h.n_parts);
	L->hlen = header_bytes(L->h.n_parts);
	if (L->size < L->hlen)
		return refuse(L, "truncated (%" PRIu64 " bytes, the header alone is %zu)", L->size, L->hlen);
	unsigned char *b = xmalloc(L->hlen);
	enum kvstate_result r = read_exact(L, b, L->hlen, 0);
	if (r == KVSTATE_LOADED) {
		struct hash64 hh;
		hash64_init(&hh, SEED_HEADER);
		hash64_update(&hh, b, L->hlen - 8);
		if (hash64_final(&hh) != get_le64(b + L->hlen - 8)) {
			r = refuse(L, "corrupt header (checksum mismatch)");
		} else {
			L->h.parts = xcalloc(L->h.n_parts, sizeof *L->h.parts);
			header_decode(&L->h, b);
		}
	}
	free(b);
	return r;
}

static enum kvstate_result check_model(struct loader *L, const struct model *m)
{
	const struct gguf *g = m->g;
	if (L->h.n_parts != g->n_parts)
		return refuse(L, "saved from another model (%" PRIu32 " file parts; this model has %zu)", L->h.n_parts,
			      g->n_parts);
	struct model_part_id *ids = xcalloc(g->n_parts, sizeof *ids);
	char e[512];
	enum kvstate_result r = KVSTATE_LOADED;
	if (model_identity(g, ids, e, sizeof e) < 0)
		r = refuse(L, "%s", e);
	for (size_t i = 0; i < g->n_parts && r == KVSTATE_LOADED; i++) {
		const struct model_part_id *a = &L->h.parts[i], *b = &ids[i];
		if (a->file_size != b->file_size || a->meta_bytes != b->meta_bytes || a->meta_hash != b->meta_hash)
			r = refuse(L,
				   "saved from another model (part %zu: %" PRIu64 " bytes, metadata hash %016" PRIx64
				   "; %s: %" PRIu64 " bytes, %016" PRIx64 ")",
				   i + 1, a->file_size, a->meta_hash, g->parts[i].path, b->file_size, b->meta_hash);
		else if (a->data_hash != b->data_hash)
			r = refuse(L,
				   "saved from another model: the same metadata, other weights (part %zu: weights "
				   "hash %016" PRIx64 "; %s: %016" PRIx64 ")",
				   i + 1, a->data_hash, g->parts[i].path, b->data_hash);
	}
	free(ids);
	return r;
}

static enum kvstate_result check_layout(struct loader *L, const struct model *m, const struct kv_cache *kv)
{
	struct layout want = layout_of(m, kv);
	if (!memcmp(&want, &L->h.lay, sizeof want))
		return KVSTATE_LOADED;
	char a[160], b[160];
	layout_str(&L->h.lay, a, sizeof a);
	layout_str(&want, b, sizeof b);
	return refuse(L, "another KV layout (saved: %s; this context: %s)", a, b);
}

/* The whole size the header implies; the file must be exactly that. */
static enum kvstate_result check_size(struct loader *L)
{
	const struct layout *l = &L->h.lay;
	uint64_t n = L->h.n_tokens, row, kvb, want;
	uint64_t rk = qtype_row_bytes(l->type_k, l->k_dim), rv = qtype_row_bytes(l->type_v, l->v_dim);
	if ((l->type_k != GGML_F16 && l->type_k != GGML_Q8_0) || (l->type_v != GGML_F16 && l->type_v != GGML_Q8_0) ||
	    (l->k_dim && !rk) || (l->v_dim && !rv))
		return refuse(L, "corrupt header (KV element types %" PRIu32 "/%" PRIu32 ")", l->type_k, l->type_v);
	row = rk + rv;
	if (n > L->h.n_ctx)
		return refuse(L, "corrupt header (%" PRIu64 " tokens in a context of %" PRIu32 ")", n, L->h.n_ctx);
	if (!mul_u64(n * row, l->n_layer, &kvb) || !add_u64(kvb, L->hlen + 4 * n + 8, &want))
		return refuse(L, "corrupt header (sizes overflow)");
	if (L->size < want)
		return refuse(L, "truncated (%" PRIu64 " of %" PRIu64 " bytes)", L->size, want);
	if (L->size > want)
		return refuse(L, "wrong size (%" PRIu64 " bytes, the header says %" PRIu64 ")", L->size, want);
	return KVSTATE_LOADED;
}

/* Pass 1: hash the whole payload against the stored hash, keep the tokens. */
static enum kvstate_result check_payload(struct loader *L, int n_vocab)
{
	uint64_t off = L->hlen, end = L->size - 8, tok_end = off + 4 * (uint64_t)L->h.n_tokens;
	unsigned char *buf = xmalloc(IO_CHUNK);
	L->tok = xmalloc(((size_t)L->h.n_tokens + 1) * sizeof *L->tok);
	struct hash64 h;
	hash64_init(&h, SEED_PAYLOAD);
	enum kvstate_result r = KVSTATE_LOADED;
	while (off < end && r == KVSTATE_LOADED) {
		size_t want = (size_t)MIN((uint64_t)IO_CHUNK, end - off);
		if ((r = read_exact(L, buf, want, off)) != KVSTATE_LOADED)
			break;
		hash64_update(&h, buf, want);
		if (off < tok_end)
			memcpy((char *)L->tok + (off - L->hlen), buf, (size_t)MIN((uint64_t)want, tok_end - off));
		off += want;
	}
	unsigned char tail[8];
	if (r == KVSTATE_LOADED && (r = read_exact(L, tail, 8, end)) == KVSTATE_LOADED &&
	    hash64_final(&h) != get_le64(tail))
		r = refuse(L, "corrupt (payload checksum mismatch)");
	for (uint32_t i = 0; i < L->h.n_tokens && r == KVSTATE_LOADED; i++)
		if (L->tok[i] < 0 || L->tok[i] >= n_vocab)
			r = refuse(L, "corrupt (token id %" PRId32 " at %" PRIu32 " is outside the vocabulary)",
				   L->tok[i], i);
	free(buf);
	return r;
}

/* Pass 2: positions [0, n) of every layer, straight into the cache. */
static enum kvstate_result restore_rows(struct loader *L, struct kv_cache *kv, int n)
{
	uint64_t N = L->h.n_tokens, kb = kv_row_bytes_k(kv), vb = kv_row_bytes_v(kv);
	uint64_t off = L->hlen + 4 * N;
	for (int l = 0; l < kv->n_layer; l++) {
		if (read_exact(L, kv_k(kv, l, 0), (size_t)n * kb, off) != KVSTATE_LOADED ||
		    (vb && read_exact(L, kv_v(kv, l, 0), (size_t)n * vb, off + N * kb) != KVSTATE_LOADED)) {
			kv_truncate(kv, 0); /* rows of the old state are overwritten */
			return KVSTATE_REFUSED;
		}
		off += N * (kb + vb);
	}
	kv_set_n_pos(kv, n);
	return KVSTATE_LOADED;
}

static enum kvstate_result load(struct loader *L, const struct model *m, struct kv_cache *kv, const int32_t *prompt,
				int n_prompt, int *n_reused)
{
	struct stat st;
	if (fstat(L->fd, &st) < 0)
		return refuse(L, "%s", strerror(errno));
	if (!S_ISREG(st.st_mode))
		return refuse(L, "not a regular file");
	L->size = (uint64_t)st.st_size;
	enum kvstate_result r;
	if ((r = check_header(L)) != KVSTATE_LOADED || (r = check_model(L, m)) != KVSTATE_LOADED ||
	    (r = check_layout(L, m, kv)) != KVSTATE_LOADED || (r = check_size(L)) != KVSTATE_LOADED ||
	    (r = check_payload(L, m->hp.n_vocab)) != KVSTATE_LOADED)
		return r;
	int n = (int)MIN((uint32_t)kv->n_ctx, L->h.n_tokens);
	if (prompt) {
		int common = 0, lim = MIN(n, n_prompt - 1);
		while (common < lim && L->tok[common] == prompt[common])
			common++;
		n = common;
	}
	if ((r = restore_rows(L, kv, n)) == KVSTATE_LOADED)
		*n_reused = n;
	return r;
}

enum kvstate_result kvstate_load_kv(const char *path, const struct model *m, struct kv_cache *kv,
				    const int32_t *prompt, int n_prompt, int *n_reused, char *err, size_t errlen)
{
	struct loader L = {.path = path, .err = err, .errlen = errlen};
	*n_reused = 0;
	if (errlen)
		err[0] = 0;
	if (!host_little_endian())
		return refuse(&L, "prompt caches are read on little-endian hosts only");
	if ((L.fd = fio_open_read(path)) < 0) {
		int e = errno;
		refuse(&L, "%s", fio_strerror(e));
		return e == ENOENT ? KVSTATE_ABSENT : KVSTATE_REFUSED;
	}
	enum kvstate_result r = load(&L, m, kv, prompt, n_prompt, n_reused);
	close(L.fd);
	free(L.h.parts);
	free(L.tok);
	return r;
}

enum kvstate_result kvstate_load(const char *path, const struct model *m, struct forward *f, const int32_t *prompt,
				 int n_prompt, int *n_reused, char *err, size_t errlen)
{
	return kvstate_load_kv(path, m, forward_kv(f), prompt, n_prompt, n_reused, err, errlen);
}
