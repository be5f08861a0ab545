/* test-kvstate.c - a KV cache saved to disk and restored (kvstate.h).
 *
 * On real GGUF models (tests/data: dense llama, Mixtral-style MoE, qwen3moe;
 * and the deepseek2 fixture for the MLA latent, skipped with a message when
 * ../shared/fixtures is absent):
 *   - round trip: a state evaluated in chunks, saved and restored into a
 *     fresh context, holds the same bytes, and the logits that follow are
 *     bitwise those of the original context evaluating the same tokens in
 *     the same chunks; the longest common prefix is reused, at most
 *     n_prompt - 1 tokens, at most the context's size;
 *   - refusals, each with a one-line reason and the target cache untouched:
 *     another model (another file; the same file with one metadata value
 *     changed), another KV layout, truncation at many offsets, a flipped
 *     byte at many offsets, another format version, trailing bytes, not a
 *     file; an absent file is reported as absent.
 * Environment: HEFT_TESTDATA (default tests/data), HEFT_FIXTURES (default
 * ../shared/fixtures). */
#include "forward.h"
#include "hash64.h"
#include "kv.h"
#include "kvstate.h"
#include "model.h"
#include "quant.h"
#include "test.h"
#include "threadpool.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define N_CTX 64
#define CHUNK 8
#define N_SAVED 20

static struct threadpool *tp;
static char tmpdir[256];

static char *path_in(const char *dir, const char *name)
{
	char *p;
	xasprintf(&p, "%s/%s", dir, name);
	return p;
}

static struct model *load_model_kv(const char *path, uint32_t kv_type)
{
	char err[1024];
	struct model_opts o = {.io = WIO_RAM, .quiet = true, .cache_type_k = kv_type, .cache_type_v = kv_type};
	struct model *m = model_load_opts(path, &o, err, sizeof err);
	CHECKF(m != NULL, "%s", err);
	return m;
}

static struct model *load_model(const char *path)
{
	return load_model_kv(path, 0);
}

static void make_tokens(int32_t *t, int n, int n_vocab, uint64_t seed)
{
	for (int i = 0; i < n; i++)
		t[i] = (int32_t)(splitmix64(&seed) % (uint64_t)n_vocab);
}

/* Evaluate tok[0, n) after the cached positions in chunks of CHUNK. */
static const float *eval_chunks(struct forward *f, const int32_t *tok, int n)
{
	const float *out = NULL;
	for (int p = 0; p < n; p += CHUNK) {
		out = forward_eval(f, tok + p, MIN(CHUNK, n - p), false);
		CHECKF(out != NULL, "%s", forward_error(f));
		if (!out)
			return NULL;
	}
	return out;
}

static bool kv_prefix_equal(const struct kv_cache *a, const struct kv_cache *b, int n)
{
	for (int l = 0; l < a->n_layer; l++) {
		if (memcmp(kv_k(a, l, 0), kv_k(b, l, 0), (size_t)n * kv_row_bytes_k(a)))
			return false;
		if (a->v_dim && memcmp(kv_v(a, l, 0), kv_v(b, l, 0), (size_t)n * kv_row_bytes_v(a)))
			return false;
	}
	return true;
}

/* Same logits from a and b for the same tokens (all rows), bitwise. */
static void same_logits(struct forward *a, struct forward *b, const int32_t *tok, int n, int n_vocab,
			const char *what)
{
	const float *la = forward_eval(a, tok, n, true);
	size_t bytes = (size_t)n * (size_t)n_vocab * sizeof(float);
	float *copy = la ? xmalloc(bytes) : NULL;
	if (la)
		memcpy(copy, la, bytes);
	const float *lb = forward_eval(b, tok, n, true);
	CHECKF(la && lb && !memcmp(copy, lb, bytes), "%s: logits after restore differ", what);
	free(copy);
}

/* ---- a Q8_0 cache ------------------------------------------------------------------ */

static void round_trip(const char *name, struct model *m);

/* --cache-type-k/-v q8_0: 34 bytes per 32 elements instead of 64, logits
 * near the F16 cache's (the same model, the same tokens), and a saved
 * state round-trips bitwise like an F16 one. */
static void q8_cache(const char *name, const char *path)
{
	struct model *f16 = load_model(path), *q8 = load_model_kv(path, GGML_Q8_0);
	if (!f16 || !q8) {
		model_free(f16);
		model_free(q8);
		return;
	}
	int V = f16->hp.n_vocab, n = 24;
	int32_t tok[24];
	make_tokens(tok, n, V, 7);
	struct forward *a = forward_new(f16, tp, N_CTX, CHUNK), *b = forward_new(q8, tp, N_CTX, CHUNK);
	const struct kv_cache *ka = forward_kv(a), *kb = forward_kv(b);
	CHECKF(kb->type_k == GGML_Q8_0 && kv_bytes(kb) * 64 == kv_bytes(ka) * 34, "%s: q8_0 cache %zu bytes, f16 %zu",
	       name, kv_bytes(kb), kv_bytes(ka));
	const float *la = eval_chunks(a, tok, n);
	float *ref = la ? memcpy(xmalloc((size_t)V * sizeof *ref), la, (size_t)V * sizeof *ref) : NULL;
	const float *lb = eval_chunks(b, tok, n);
	if (ref && lb) {
		double num = 0, den = 0;
		for (int i = 0; i < V; i++) {
			num += ((double)lb[i] - ref[i]) * ((double)lb[i] - ref[i]);
			den += (double)ref[i] * ref[i];
		}
		/* Measured 2e-4 (llama), 3.5e-4 (qwen3moe), 2.4e-3 (deepseek2: its
		 * tiny random router flips an expert) here; a wrong row, block or
		 * scale gives NMSE near 1. */
		CHECKF(den > 0 && num / den < 1e-2, "%s: q8_0 cache NMSE %.3g against f16", name, num / den);
		CHECKF(num > 0, "%s: q8_0 cache gave the f16 cache's logits bit for bit (not in use?)", name);
		printf("  %s: q8_0 cache of %zu bytes (f16: %zu), logits NMSE %.2e against f16\n", name, kv_bytes(kb),
		       kv_bytes(ka), num / den);
	} else {
		CHECK(0);
	}
	free(ref);
	forward_free(a);
	forward_free(b);
	model_free(f16);
	char label[128];
	snprintf(label, sizeof label, "%s (q8_0 cache)", name);
	round_trip(label, q8);
	model_free(q8);
}

/* ---- round trip ------------------------------------------------------------------ */

static void round_trip(const char *name, struct model *m)
{
	int V = m->hp.n_vocab;
	int32_t tok[N_SAVED + 8], other[N_SAVED + 8];
	make_tokens(tok, N_SAVED + 8, V, 42);
	char err[1024], *file = path_in(tmpdir, "state");
	int reused = -1;

	struct forward *a = forward_new(m, tp, N_CTX, CHUNK);
	eval_chunks(a, tok, N_SAVED);
	CHECKF(kvstate_save(file, m, a, tok, N_SAVED, err, sizeof err) == 0, "%s: save: %s", name, err);

	/* A longer prompt: all N_SAVED tokens reused, bytes identical, and the
	 * next chunk's logits are bitwise the original context's. */
	struct forward *b = forward_new(m, tp, N_CTX, CHUNK);
	enum kvstate_result r = kvstate_load(file, m, b, tok, N_SAVED + 8, &reused, err, sizeof err);
	CHECKF(r == KVSTATE_LOADED && reused == N_SAVED, "%s: load: %d reused %d: %s", name, r, reused, err);
	CHECK(forward_n_pos(b) == N_SAVED);
	CHECKF(kv_prefix_equal(forward_kv(a), forward_kv(b), N_SAVED), "%s: restored rows differ", name);
	same_logits(a, b, tok + N_SAVED, 8, V, name);
	same_logits(a, b, tok + 3, 1, V, name); /* a decode step after it */

	/* The same prompt: one token is left to evaluate. */
	forward_truncate(a, N_SAVED - 1);
	r = kvstate_load(file, m, b, tok, N_SAVED, &reused, err, sizeof err);
	CHECKF(r == KVSTATE_LOADED && reused == N_SAVED - 1, "%s: same prompt: reused %d", name, reused);
	CHECK(forward_n_pos(b) == N_SAVED - 1);
	same_logits(a, b, tok + N_SAVED - 1, 1, V, name);

	/* A prompt that departs at position 11 reuses 11. */
	memcpy(other, tok, sizeof other);
	other[11] = (other[11] + 1) % V;
	r = kvstate_load(file, m, b, other, N_SAVED + 8, &reused, err, sizeof err);
	CHECKF(r == KVSTATE_LOADED && reused == 11 && forward_n_pos(b) == 11, "%s: diverging prompt: reused %d",
	       name, reused);
	forward_truncate(a, 11);
	same_logits(a, b, other + 11, CHUNK, V, name);

	/* Nothing in common: valid, nothing reused. */
	other[0] = (tok[0] + 1) % V;
	r = kvstate_load(file, m, b, other, N_SAVED, &reused, err, sizeof err);
	CHECK(r == KVSTATE_LOADED && reused == 0 && forward_n_pos(b) == 0);

	/* No prompt: everything the context holds. */
	r = kvstate_load(file, m, b, NULL, 0, &reused, err, sizeof err);
	CHECK(r == KVSTATE_LOADED && reused == N_SAVED && forward_n_pos(b) == N_SAVED);
	struct forward *small = forward_new(m, tp, 12, CHUNK);
	r = kvstate_load(file, m, small, NULL, 0, &reused, err, sizeof err);
	CHECKF(r == KVSTATE_LOADED && reused == 12 && forward_n_pos(small) == 12, "%s: small context: %d", name,
	       reused);
	CHECK(kv_prefix_equal(forward_kv(a), forward_kv(small), 11));

	/* An empty state is a valid state. */
	CHECK(kvstate_save(file, m, a, tok, 0, err, sizeof err) == 0);
	r = kvstate_load(file, m, b, tok, N_SAVED, &reused, err, sizeof err);
	CHECK(r == KVSTATE_LOADED && reused == 0);
	forward_free(small);
	forward_free(b);
	forward_free(a);
	free(file);
	printf("  %s: round trip ok (%s)\n", name, m->hp.kv_lora_rank ? "MLA latent" : "per-head K/V");
}

/* ---- refusals -------------------------------------------------------------------- */

static unsigned char *slurp(const char *path, size_t *n)
{
	char *p = read_file(path, n, (size_t)1 << 30);
	CHECKF(p != NULL, "%s: %s", path, strerror(errno));
	return (unsigned char *)p;
}

static void spit(const char *path, const void *p, size_t n)
{
	FILE *fp = fopen(path, "wb");
	CHECKF(fp && fwrite(p, 1, n, fp) == n && fclose(fp) == 0, "%s: %s", path, strerror(errno));
}

/* A context with 5 evaluated positions whose bytes a refused load must not touch. */
struct victim {
	struct forward *f;
	unsigned char *k, *v;
	size_t kb, vb;
};

static void victim_init(struct victim *vi, struct model *m)
{
	int32_t tok[5];
	make_tokens(tok, 5, m->hp.n_vocab, 7);
	vi->f = forward_new(m, tp, N_CTX, CHUNK);
	eval_chunks(vi->f, tok, 5);
	const struct kv_cache *kv = forward_kv(vi->f);
	vi->kb = (size_t)kv->n_layer * kv->n_ctx * kv_row_bytes_k(kv);
	vi->vb = (size_t)kv->n_layer * kv->n_ctx * kv_row_bytes_v(kv);
	vi->k = xmalloc(vi->kb);
	vi->v = xmalloc(vi->vb + 1);
	memcpy(vi->k, kv->k, vi->kb);
	if (vi->vb)
		memcpy(vi->v, kv->v, vi->vb);
}

static int n_refused;

/* Load must be refused with a one-line message containing want, and leave
 * the victim as it was. */
static void expect_refused(struct model *m, struct victim *vi, const char *file, const char *want, const char *what)
{
	char err[1024] = "";
	int reused = -1;
	int32_t prompt[N_SAVED + 8];
	make_tokens(prompt, N_SAVED + 8, m->hp.n_vocab, 42);
	enum kvstate_result r = kvstate_load(file, m, vi->f, prompt, N_SAVED + 8, &reused, err, sizeof err);
	const struct kv_cache *kv = forward_kv(vi->f);
	CHECKF(r == KVSTATE_REFUSED, "%s: not refused (%d)", what, r);
	CHECKF(reused == 0, "%s: reused %d", what, reused);
	CHECKF(err[0] && !strchr(err, '\n'), "%s: message '%s'", what, err);
	CHECKF(!want || strstr(err, want), "%s: message '%s' does not say '%s'", what, err, want);
	CHECKF(forward_n_pos(vi->f) == 5 && !memcmp(kv->k, vi->k, vi->kb) && (!vi->vb || !memcmp(kv->v, vi->v, vi->vb)),
	       "%s: the cache changed", what);
	if (getenv("TEST_KVSTATE_VERBOSE"))
		printf("    %s -> %s\n", what, err);
	n_refused++;
}

/* Offsets to damage: every byte of the first 160 (header and the start of
 * the payload), ~100 spread over the payload, and the last 12 (the tail of
 * the last layer and the payload hash). */
static int damage_offsets(size_t size, size_t *off, int cap)
{
	int n = 0;
	for (size_t i = 0; i < size && i < 160 && n < cap; i++)
		off[n++] = i;
	for (size_t i = 160; i < size && n < cap; i += MAX(size / 100, 1))
		off[n++] = i;
	for (size_t i = size > 12 ? size - 12 : 0; i < size && n < cap; i++)
		off[n++] = i;
	return n;
}

static void truncations_and_flips(struct model *m, struct victim *vi, const char *good)
{
	size_t size, off[300];
	unsigned char *b = slurp(good, &size);
	char *bad = path_in(tmpdir, "bad"), what[64];
	int n = damage_offsets(size, off, 300), before = n_refused;
	for (int i = 0; i < n; i++) {
		spit(bad, b, off[i]);
		snprintf(what, sizeof what, "truncated to %zu of %zu", off[i], size);
		expect_refused(m, vi, bad, NULL, what);
	}
	for (int i = 0; i < n; i++) {
		unsigned char mask = (unsigned char)(i % 2 ? 0x01 : 0x80);
		b[off[i]] ^= mask;
		spit(bad, b, size);
		b[off[i]] ^= mask;
		snprintf(what, sizeof what, "byte %zu flipped (0x%02x)", off[i], mask);
		expect_refused(m, vi, bad, NULL, what);
	}
	printf("  %d truncated and corrupted copies refused\n", n_refused - before);

	b[8] = KVSTATE_VERSION + 1; /* version, little-endian u32 at byte 8 */
	spit(bad, b, size);
	expect_refused(m, vi, bad, "format version 3", "the next version");
	b[8] = 1;
	spit(bad, b, size);
	expect_refused(m, vi, bad, "format version 1", "version 1 (no weights hash)");
	b[8] = KVSTATE_VERSION;
	unsigned char *longer = xmalloc(size + 1);
	memcpy(longer, b, size);
	longer[size] = 0;
	spit(bad, longer, size + 1);
	expect_refused(m, vi, bad, "wrong size", "a trailing byte");
	spit(bad, b, size - 1);
	expect_refused(m, vi, bad, "truncated", "one byte short");
	spit(bad, "GGUF\3\0\0\0 and then some bytes", 26);
	expect_refused(m, vi, bad, "not a heft prompt cache", "a GGUF file");
	expect_refused(m, vi, tmpdir, "not a regular file", "a directory");
	free(longer);
	free(bad);
	free(b);
}

/* The model file with one byte of a float metadata value changed: same size,
 * same tensors, another model. */
static char *mutated_copy(const char *model_path)
{
	size_t size;
	unsigned char *b = slurp(model_path, &size);
	static const char key[] = "attention.layer_norm_rms_epsilon";
	unsigned char *hit = b ? memmem(b, size, key, sizeof key - 1) : NULL;
	CHECKF(hit != NULL, "%s: no %s key", model_path, key);
	char *out = NULL;
	if (hit) {
		hit[sizeof key - 1 + 4] ^= 1; /* the value's low mantissa byte, after its u32 type */
		out = path_in(tmpdir, "mutated.gguf");
		spit(out, b, size);
	}
	free(b);
	return out;
}

static void refusals(const char *data, struct model *m)
{
	char err[1024], *good = path_in(tmpdir, "good"), *other = path_in(tmpdir, "other");
	int32_t tok[N_SAVED + 8];
	make_tokens(tok, N_SAVED + 8, m->hp.n_vocab, 42);
	struct forward *f = forward_new(m, tp, N_CTX, CHUNK);
	eval_chunks(f, tok, N_SAVED);
	CHECKF(kvstate_save(good, m, f, tok, N_SAVED, err, sizeof err) == 0, "save: %s", err);
	struct victim vi;
	victim_init(&vi, m);

	int reused;
	char *absent = path_in(tmpdir, "absent");
	CHECK(kvstate_load(absent, m, vi.f, tok, 8, &reused, err, sizeof err) == KVSTATE_ABSENT && reused == 0);
	CHECK(forward_n_pos(vi.f) == 5);

	/* Another model with the same KV layout (Mixtral is llama with experts). */
	char *mix_path = path_in(data, "mixtral-Q8_0.gguf");
	struct model *mix = load_model(mix_path);
	if (mix) {
		struct forward *g = forward_new(mix, tp, N_CTX, CHUNK);
		eval_chunks(g, tok, N_SAVED);
		CHECKF(kvstate_save(other, mix, g, tok, N_SAVED, err, sizeof err) == 0, "save: %s", err);
		expect_refused(m, &vi, other, "another model", "a Mixtral state in llama");
		forward_free(g);
		model_free(mix);
	}
	char *mut_path = mutated_copy(m->path);
	struct model *mut = mut_path ? load_model(mut_path) : NULL;
	if (mut) {
		CHECKF(kvstate_save(other, mut, f, tok, N_SAVED, err, sizeof err) == 0, "save: %s", err);
		expect_refused(m, &vi, other, "another model", "one metadata value changed");
		model_free(mut);
	}
	/* The same metadata, other weights: the identity hashes a sample of
	 * every tensor's data (here the first byte of the last tensor). */
	size_t size;
	unsigned char *b = slurp(m->path, &size);
	const struct gguf_tensor *last = &m->g->tensors[m->g->n_tensors - 1];
	b[last->offset] ^= 1;
	char *copy = path_in(tmpdir, "data-changed.gguf");
	spit(copy, b, size);
	free(b);
	struct model *dc = load_model(copy);
	if (dc) {
		CHECKF(kvstate_save(other, dc, f, tok, N_SAVED, err, sizeof err) == 0, "save: %s", err);
		expect_refused(m, &vi, other, "the same metadata, other weights", "one weight byte changed");
		model_free(dc);
	}

	/* Another KV layout: a cache with other row sizes, one with fewer
	 * layers, one of another element type (Q8_0 instead of F16). */
	const struct kv_cache *real = forward_kv(f);
	struct kv_cache *odd[3] = {
		kv_new(real->n_layer, N_CTX, real->k_dim / 2, real->v_dim / 2, real->type_k, real->type_v),
		kv_new(real->n_layer - 1, N_CTX, real->k_dim, real->v_dim, real->type_k, real->type_v),
		kv_new(real->n_layer, N_CTX, real->k_dim, real->v_dim, GGML_Q8_0, GGML_Q8_0)};
	static const char *const why[3] = {"other row sizes", "fewer layers", "Q8_0 elements"};
	for (int i = 0; i < 3; i++) {
		memset(odd[i]->k, 0, (size_t)odd[i]->n_layer * N_CTX * kv_row_bytes_k(odd[i]));
		if (odd[i]->v_dim)
			memset(odd[i]->v, 0, (size_t)odd[i]->n_layer * N_CTX * kv_row_bytes_v(odd[i]));
		kv_set_n_pos(odd[i], 4);
		CHECKF(kvstate_save_kv(other, m, odd[i], tok, 4, err, sizeof err) == 0, "save: %s", err);
		expect_refused(m, &vi, other, "another KV layout", why[i]);
		kv_free(odd[i]);
	}

	truncations_and_flips(m, &vi, good);

	/* Saving: positions the cache does not hold, a directory that does not
	 * exist; the previous file stays and no temporary is left behind. */
	CHECK(kvstate_save(good, m, f, tok, N_SAVED + 1, err, sizeof err) < 0);
	char *nodir = path_in(tmpdir, "no/such/dir");
	CHECK(kvstate_save(nodir, m, f, tok, 4, err, sizeof err) < 0 && strstr(err, "no/such/dir"));
	CHECK(kvstate_load(good, m, vi.f, tok, N_SAVED + 8, &reused, err, sizeof err) == KVSTATE_LOADED &&
	      reused == N_SAVED);
	DIR *d = opendir(tmpdir);
	for (struct dirent *e; d && (e = readdir(d));)
		CHECKF(!strstr(e->d_name, ".tmp"), "temporary %s left behind", e->d_name);
	if (d)
		closedir(d);

	printf("  %d refusals ok\n", n_refused);
	forward_free(vi.f);
	free(vi.k);
	free(vi.v);
	forward_free(f);
	free(nodir);
	free(copy);
	free(mut_path);
	free(mix_path);
	free(absent);
	free(other);
	free(good);
}

/* ---- the hash ---------------------------------------------------------------------- */

static void hash_pieces(void)
{
	unsigned char buf[300];
	uint64_t seed = 1;
	for (size_t i = 0; i < sizeof buf; i++)
		buf[i] = (unsigned char)splitmix64(&seed);
	for (size_t n = 0; n <= sizeof buf; n += n < 70 ? 1 : 23) {
		struct hash64 one, parts;
		hash64_init(&one, 5);
		hash64_update(&one, buf, n);
		hash64_init(&parts, 5);
		for (size_t i = 0; i < n;) {
			size_t r = (size_t)(splitmix64(&seed) % 40), k = MIN(n - i, r);
			hash64_update(&parts, buf + i, k);
			i += k;
		}
		CHECKF(hash64_final(&one) == hash64_final(&parts), "hash of %zu bytes depends on the split", n);
		if (n > 0) {
			uint64_t h0 = hash64_final(&one);
			buf[n / 2] ^= 4;
			hash64_init(&one, 5);
			hash64_update(&one, buf, n);
			buf[n / 2] ^= 4;
			CHECKF(hash64_final(&one) != h0, "a flipped bit in %zu bytes is not seen", n);
			hash64_init(&one, 6);
			hash64_update(&one, buf, n);
			CHECKF(hash64_final(&one) != h0, "the seed does not matter (%zu bytes)", n);
		}
	}
}

int main(void)
{
	const char *data = getenv("HEFT_TESTDATA");
	const char *fixtures = getenv("HEFT_FIXTURES");
	if (!data)
		data = "tests/data";
	if (!fixtures)
		fixtures = "../shared/fixtures";
	char *probe = path_in(data, "llama-Q4_0.gguf");
	if (access(probe, R_OK) != 0) {
		printf("test-kvstate: no %s (set HEFT_TESTDATA); skipping\n", probe);
		free(probe);
		return 77;
	}
	free(probe);
	snprintf(tmpdir, sizeof tmpdir, "%s/heft-kvstate.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (!mkdtemp(tmpdir)) {
		perror(tmpdir);
		return 99;
	}
	tp = threadpool_new(2);
	hash_pieces();

	static const char *const local[] = {"llama-Q4_0", "mixtral-Q8_0", "qwen3moe-Q4_K_M"};
	struct model *llama = NULL;
	for (size_t i = 0; i < ARRAY_LEN(local); i++) {
		char *name, *p;
		xasprintf(&name, "%s.gguf", local[i]);
		p = path_in(data, name);
		struct model *m = load_model(p);
		if (m)
			round_trip(local[i], m);
		if (i == 0)
			llama = m;
		else
			model_free(m);
		free(p);
		free(name);
	}
	char *ds = path_in(fixtures, "models/deepseek2-Q4_K_M.gguf");
	if (access(ds, R_OK) == 0) {
		struct model *m = load_model(ds);
		if (m)
			round_trip("deepseek2-Q4_K_M", m);
		model_free(m);
	} else {
		printf("  no %s (set HEFT_FIXTURES): the MLA latent is not tested\n", ds);
	}
	/* the Q8_0 cache: per-head K/V, and the MLA latent when the fixtures are there */
	static const char *const q8[] = {"llama-Q4_0", "qwen3moe-Q4_K_M"};
	for (size_t i = 0; i < ARRAY_LEN(q8); i++) {
		char *name, *p;
		xasprintf(&name, "%s.gguf", q8[i]);
		p = path_in(data, name);
		q8_cache(q8[i], p);
		free(p);
		free(name);
	}
	if (access(ds, R_OK) == 0)
		q8_cache("deepseek2-Q4_K_M", ds);
	free(ds);
	if (llama)
		refusals(data, llama);
	model_free(llama);
	threadpool_free(tp);

	char *cmd;
	xasprintf(&cmd, "rm -rf '%s'", tmpdir);
	if (system(cmd) != 0)
		fprintf(stderr, "test-kvstate: could not remove %s\n", tmpdir);
	free(cmd);
	return test_done("test-kvstate");
}
