/* synth.c - `heft-engine synth`: write a synthetic GGUF model.
 *
 * The file has the tensor names, shapes and metadata keys llama.cpp's
 * converters write for the family, and random weights scaled so that a
 * forward pass stays O(1) and ends in logits with a spread of a few units.
 * Data is generated and written tensor by tensor in chunks, so the size of
 * the model is bounded by the disk, not by RAM. Each tensor's values depend
 * only on the seed and the tensor's name: the same seed gives the same bytes
 * whether or not the model is split. */
#include "commands.h"
#include "gguf-write.h"
#include "gguf.h"
#include "quant.h"
#include "util.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Elements generated per chunk: 4 MB of floats. */
#define CHUNK_ELEMS (1u << 20)
/* Largest row length and vocabulary accepted. */
#define ROW_MAX ((int64_t)1 << 20)
#define VOCAB_MAX ((int64_t)1 << 22)

enum arch { ARCH_LLAMA, ARCH_QWEN3, ARCH_QWEN3MOE, ARCH_MIXTRAL };

static const char *const arch_names[] = {"llama", "qwen3", "qwen3moe", "mixtral"};

struct synth {
	enum arch arch;
	const char *gguf_arch; /* general.architecture: Mixtral is "llama" */
	int64_t embd, layers, heads, kv_heads, head_dim, ff;
	int64_t experts, experts_used, expert_ff;
	int64_t vocab, ctx, split;
	double rope_base;
	uint32_t type;
	uint64_t seed;
	const char *vocab_from;
	const char *out;
	const char *name;
	bool quiet;
};

/* One tensor to write: its shape, type and how to fill it. */
struct tspec {
	char name[64];
	uint32_t type, n_dims;
	uint64_t ne[GGUF_MAX_DIMS];
	bool norm;   /* values near 1 (norm weights) instead of centred on 0 */
	float std;   /* standard deviation of the values */
	uint32_t part;
};

struct plan {
	struct tspec *t;
	size_t n, cap;
};

/* ---- random numbers: splitmix64 seeds xoshiro256+ ---- */

struct rng {
	uint64_t s[4];
};

static void rng_seed(struct rng *r, uint64_t seed, const char *name)
{
	uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a of the name */
	for (const unsigned char *p = (const unsigned char *)name; *p; p++)
		h = (h ^ *p) * 0x100000001b3ull;
	uint64_t x = seed ^ h;
	for (int i = 0; i < 4; i++)
		r->s[i] = splitmix64(&x);
}

static inline uint64_t rng_next(struct rng *r)
{
	uint64_t *s = r->s;
	uint64_t result = s[0] + s[3];
	uint64_t t = s[1] << 17;
	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl64(s[3], 45);
	return result;
}

/* Two uniform floats in [-1, 1) per call: the generator is the hot loop of
 * float-typed models, so each 64-bit output is used twice. */
static void fill_uniform(struct rng *r, float *x, size_t n, float centre, float half_width)
{
	const float k = half_width / (float)(1u << 23);
	size_t i = 0;
	for (; i + 1 < n; i += 2) {
		uint64_t v = rng_next(r);
		x[i] = centre + ((float)(int32_t)((uint32_t)v >> 8) - (float)(1u << 23)) * k;
		x[i + 1] = centre + ((float)(int32_t)(uint32_t)(v >> 40) - (float)(1u << 23)) * k;
	}
	if (i < n)
		x[i] = centre + ((float)(int32_t)(rng_next(r) >> 40) - (float)(1u << 23)) * k;
}

/* ---- Q4_K blocks made directly from random bits ----
 * w = d*sc*q - dmin*m with q uniform in 0..15, sc uniform in 16..31, m = sc
 * and dmin = 7.5 d: every group is centred on 0 with std about d*23.9*4.6.
 * No quantization search: the values need only be valid and well scaled. */

static void pack_scales_k4(uint8_t s[12], const uint8_t sc[8], const uint8_t m[8])
{
	for (int j = 0; j < 4; j++) {
		s[j] = (uint8_t)(sc[j] | (sc[j + 4] >> 4) << 6);
		s[j + 4] = (uint8_t)(m[j] | (m[j + 4] >> 4) << 6);
		s[j + 8] = (uint8_t)((sc[j + 4] & 15) | (m[j + 4] & 15) << 4);
	}
}

static void fill_q4_K(struct rng *r, uint8_t *dst, size_t nblocks, float std)
{
	float d = std / (23.9f * 4.61f);
	uint16_t hd = fp32_to_fp16(d), hdmin = fp32_to_fp16(7.5f * d);
	for (size_t b = 0; b < nblocks; b++, dst += sizeof(struct block_q4_K)) {
		uint8_t sc[8], m[8];
		uint64_t v = rng_next(r);
		for (int j = 0; j < 8; j++)
			sc[j] = m[j] = (uint8_t)(16 + ((v >> (4 * j)) & 15));
		memcpy(dst + offsetof(struct block_q4_K, d), &hd, 2);
		memcpy(dst + offsetof(struct block_q4_K, dmin), &hdmin, 2);
		pack_scales_k4(dst + offsetof(struct block_q4_K, scales), sc, m);
		uint8_t *qs = dst + offsetof(struct block_q4_K, qs);
		for (int j = 0; j < 128; j += 8) {
			v = rng_next(r);
			memcpy(qs + j, &v, 8);
		}
	}
}

/* ---- the tensor plan ---- */

/* The type a weight of row length ne0 gets: the requested one if its block
 * fits the row, else the nearest that does (as llama.cpp's quantizer falls
 * back for rows that are not a multiple of 256). */
static uint32_t fit_type(uint32_t want, uint64_t ne0)
{
	static const uint32_t chain[] = {GGML_Q8_0, GGML_F16};
	if (ne0 % qtype_get(want)->blck == 0)
		return want;
	for (size_t i = 0; i < ARRAY_LEN(chain); i++)
		if (ne0 % qtype_get(chain[i])->blck == 0)
			return chain[i];
	return GGML_F32;
}

static void add(struct plan *p, uint32_t type, bool norm, double std, uint32_t n_dims,
		uint64_t ne0, uint64_t ne1, uint64_t ne2, const char *fmt, ...)
	__attribute__((format(printf, 9, 10)));

static void add(struct plan *p, uint32_t type, bool norm, double std, uint32_t n_dims,
		uint64_t ne0, uint64_t ne1, uint64_t ne2, const char *fmt, ...)
{
	if (p->n == p->cap) {
		p->cap = p->cap ? 2 * p->cap : 64;
		p->t = xreallocarray(p->t, p->cap, sizeof(*p->t));
	}
	struct tspec *t = &p->t[p->n++];
	memset(t, 0, sizeof(*t));
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(t->name, sizeof(t->name), fmt, ap);
	va_end(ap);
	t->type = norm ? GGML_F32 : fit_type(type, ne0);
	t->norm = norm;
	t->std = (float)std;
	t->n_dims = n_dims;
	t->ne[0] = ne0;
	t->ne[1] = ne1;
	t->ne[2] = ne2;
	t->ne[3] = 1;
}

#define NORM(p, n, ...) add(p, GGML_F32, true, 0.1, 1, n, 1, 1, __VA_ARGS__)

static void plan_layer(const struct synth *s, struct plan *p, int64_t l)
{
	uint64_t E = (uint64_t)s->embd, q = (uint64_t)(s->heads * s->head_dim);
	uint64_t kv = (uint64_t)(s->kv_heads * s->head_dim);
	uint32_t ty = s->type;
	NORM(p, E, "blk.%" PRId64 ".attn_norm.weight", l);
	add(p, ty, false, 1 / sqrt((double)E), 2, E, q, 1, "blk.%" PRId64 ".attn_q.weight", l);
	add(p, ty, false, 1 / sqrt((double)E), 2, E, kv, 1, "blk.%" PRId64 ".attn_k.weight", l);
	add(p, ty, false, 1 / sqrt((double)E), 2, E, kv, 1, "blk.%" PRId64 ".attn_v.weight", l);
	add(p, ty, false, 1 / sqrt((double)q), 2, q, E, 1, "blk.%" PRId64 ".attn_output.weight", l);
	if (s->arch == ARCH_QWEN3 || s->arch == ARCH_QWEN3MOE) {
		NORM(p, (uint64_t)s->head_dim, "blk.%" PRId64 ".attn_q_norm.weight", l);
		NORM(p, (uint64_t)s->head_dim, "blk.%" PRId64 ".attn_k_norm.weight", l);
	}
	NORM(p, E, "blk.%" PRId64 ".ffn_norm.weight", l);
	if (s->experts == 0) {
		uint64_t F = (uint64_t)s->ff;
		add(p, ty, false, 1 / sqrt((double)E), 2, E, F, 1, "blk.%" PRId64 ".ffn_gate.weight", l);
		add(p, ty, false, 1 / sqrt((double)E), 2, E, F, 1, "blk.%" PRId64 ".ffn_up.weight", l);
		add(p, ty, false, 1 / sqrt((double)F), 2, F, E, 1, "blk.%" PRId64 ".ffn_down.weight", l);
		return;
	}
	uint64_t X = (uint64_t)s->experts, F = (uint64_t)s->expert_ff;
	/* the router stays F32, as converters leave it; a wider spread than the
	 * other weights makes the top-k choice decisive */
	add(p, GGML_F32, false, 2 / sqrt((double)E), 2, E, X, 1, "blk.%" PRId64 ".ffn_gate_inp.weight", l);
	add(p, ty, false, 1 / sqrt((double)E), 3, E, F, X, "blk.%" PRId64 ".ffn_gate_exps.weight", l);
	add(p, ty, false, 1 / sqrt((double)E), 3, E, F, X, "blk.%" PRId64 ".ffn_up_exps.weight", l);
	add(p, ty, false, 1 / sqrt((double)F), 3, F, E, X, "blk.%" PRId64 ".ffn_down_exps.weight", l);
}

static void plan_model(const struct synth *s, struct plan *p)
{
	uint64_t E = (uint64_t)s->embd, V = (uint64_t)s->vocab;
	add(p, s->type, false, 1.0, 2, E, V, 1, "token_embd.weight");
	for (int64_t l = 0; l < s->layers; l++)
		plan_layer(s, p, l);
	NORM(p, E, "output_norm.weight");
	add(p, s->type, false, 2 / sqrt((double)E), 2, E, V, 1, "output.weight");
}

/* Spread tensors over the parts by bytes, every part getting at least one
 * tensor, in file order (as gguf-split does). */
static void plan_split(struct plan *p, uint32_t n_parts)
{
	uint64_t total = 0, cum = 0;
	for (size_t i = 0; i < p->n; i++)
		total += qtype_row_bytes(p->t[i].type, p->t[i].ne[0]) * p->t[i].ne[1] * p->t[i].ne[2];
	int64_t prev = -1;
	for (size_t i = 0; i < p->n; i++) {
		int64_t k = total ? (int64_t)((double)cum / (double)total * n_parts) : 0;
		int64_t lo = (int64_t)n_parts - (int64_t)(p->n - i);
		k = MAX(k, lo);
		k = MIN(k, prev + 1);
		k = MIN(k, (int64_t)n_parts - 1);
		p->t[i].part = (uint32_t)k;
		prev = k;
		cum += qtype_row_bytes(p->t[i].type, p->t[i].ne[0]) * p->t[i].ne[1] * p->t[i].ne[2];
	}
}

/* ---- metadata ---- */

/* GPT-2's byte-to-unicode map: printable bytes stand for themselves, the
 * rest are moved to U+0100 and up, so every byte is a visible token. */
static size_t byte_token(unsigned b, char out[4])
{
	unsigned cp = b;
	if (!((b >= 33 && b <= 126) || (b >= 161 && b <= 172) || b >= 174)) {
		unsigned n = 0;
		for (unsigned c = 0; c < b; c++)
			if (!((c >= 33 && c <= 126) || (c >= 161 && c <= 172) || c >= 174))
				n++;
		cp = 256 + n;
	}
	if (cp < 0x80) {
		out[0] = (char)cp;
		return 1;
	}
	out[0] = (char)(0xc0 | cp >> 6);
	out[1] = (char)(0x80 | (cp & 0x3f));
	return 2;
}

static const char *const specials[] = {"<|endoftext|>", "<|im_start|>", "<|im_end|>"};

static const char chatml_template[] =
	"{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + "
	"message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}"
	"{{ '<|im_start|>assistant\\n' }}{% endif %}";

/* A byte-level BPE vocabulary without merges: ids 0..255 are the bytes,
 * then ChatML's control tokens, then unused padding up to --vocab. Any text
 * tokenizes (one token per byte) and chat templates work. Too small a
 * --vocab gets "no_vocab", as llama.cpp's own synthetic models do. */
static void write_min_vocab(const struct synth *s, struct gguf_writer *w)
{
	size_t n = (size_t)s->vocab, nspec = ARRAY_LEN(specials);
	if (n < 256 + nspec) {
		gguf_writer_kv_str(w, "tokenizer.ggml.model", "no_vocab");
		return;
	}
	char **tok = xcalloc(n, sizeof(*tok));
	int32_t *type = xcalloc(n, sizeof(*type));
	for (size_t i = 0; i < n; i++) {
		char b[32];
		size_t len;
		if (i < 256) {
			len = byte_token((unsigned)i, b);
			type[i] = 1; /* NORMAL */
		} else if (i < 256 + nspec) {
			len = (size_t)snprintf(b, sizeof b, "%s", specials[i - 256]);
			type[i] = 3; /* CONTROL */
		} else {
			len = (size_t)snprintf(b, sizeof b, "[PAD%zu]", i);
			type[i] = 5; /* UNUSED */
		}
		tok[i] = xstrndup(b, len);
	}
	bool qwen = s->arch == ARCH_QWEN3 || s->arch == ARCH_QWEN3MOE;
	gguf_writer_kv_str(w, "tokenizer.ggml.model", "gpt2");
	gguf_writer_kv_str(w, "tokenizer.ggml.pre", qwen ? "qwen2" : "gpt-2");
	gguf_writer_kv_arr_str(w, "tokenizer.ggml.tokens", (const char *const *)tok, NULL, n);
	gguf_writer_kv_arr(w, "tokenizer.ggml.token_type", GGUF_INT32, type, n);
	gguf_writer_kv_arr_str(w, "tokenizer.ggml.merges", NULL, NULL, 0);
	gguf_writer_kv_u32(w, "tokenizer.ggml.bos_token_id", 256);
	gguf_writer_kv_u32(w, "tokenizer.ggml.eos_token_id", 258);
	gguf_writer_kv_u32(w, "tokenizer.ggml.padding_token_id", 256);
	gguf_writer_kv_bool(w, "tokenizer.ggml.add_bos_token", false);
	gguf_writer_kv_str(w, "tokenizer.chat_template", chatml_template);
	for (size_t i = 0; i < n; i++)
		free(tok[i]);
	free(tok);
	free(type);
}

/* Copy every tokenizer.* key of a vocabulary GGUF. */
static int copy_vocab(const struct gguf *v, struct gguf_writer *w)
{
	for (size_t i = 0; i < v->n_kv; i++)
		if (!strncmp(v->kv[i].key, "tokenizer.", 10))
			gguf_writer_kv_value(w, v->kv[i].key, &v->kv[i].val);
	return 0;
}

static uint32_t file_type(uint32_t type)
{
	switch (type) {
	case GGML_F32: return 0;
	case GGML_F16: return 1;
	case GGML_Q4_0: return 2;
	case GGML_Q8_0: return 7;
	default: return 14; /* Q4_K: MOSTLY_Q4_K_S */
	}
}

static void write_metadata(const struct synth *s, struct gguf_writer *w, const struct gguf *vocab)
{
	char key[128];
	const char *a = s->gguf_arch;
#define K(suffix) (snprintf(key, sizeof key, "%s." suffix, a), key)
	gguf_writer_kv_str(w, "general.architecture", a);
	gguf_writer_kv_str(w, "general.name", s->name);
	gguf_writer_kv_u32(w, K("vocab_size"), (uint32_t)s->vocab);
	gguf_writer_kv_u32(w, K("context_length"), (uint32_t)s->ctx);
	gguf_writer_kv_u32(w, K("embedding_length"), (uint32_t)s->embd);
	gguf_writer_kv_u32(w, K("block_count"), (uint32_t)s->layers);
	/* Mixtral's converter calls the expert width feed_forward_length */
	gguf_writer_kv_u32(w, K("feed_forward_length"),
			   (uint32_t)(s->arch == ARCH_MIXTRAL ? s->expert_ff : s->ff));
	if (s->experts) {
		if (s->arch == ARCH_QWEN3MOE)
			gguf_writer_kv_u32(w, K("expert_feed_forward_length"), (uint32_t)s->expert_ff);
		gguf_writer_kv_u32(w, K("expert_count"), (uint32_t)s->experts);
		gguf_writer_kv_u32(w, K("expert_used_count"), (uint32_t)s->experts_used);
	}
	gguf_writer_kv_u32(w, K("attention.head_count"), (uint32_t)s->heads);
	gguf_writer_kv_u32(w, K("attention.head_count_kv"), (uint32_t)s->kv_heads);
	gguf_writer_kv_u32(w, K("attention.key_length"), (uint32_t)s->head_dim);
	gguf_writer_kv_u32(w, K("attention.value_length"), (uint32_t)s->head_dim);
	gguf_writer_kv_f32(w, K("attention.layer_norm_rms_epsilon"), 1e-6f);
	gguf_writer_kv_u32(w, K("rope.dimension_count"), (uint32_t)s->head_dim);
	gguf_writer_kv_f32(w, K("rope.freq_base"), (float)s->rope_base);
#undef K
	if (vocab)
		copy_vocab(vocab, w);
	else
		write_min_vocab(s, w);
	gguf_writer_kv_u32(w, "general.quantization_version", 2);
	gguf_writer_kv_u32(w, "general.file_type", file_type(s->type));
}

/* ---- tensor data ---- */

/* Chunk buffers, and progress on a terminal (a 30 GB write takes minutes). */
struct scratch {
	float *f;
	uint8_t *q;
	bool tty;
	uint64_t done, total;
	double start, last;
};

static void progress(struct scratch *sc, uint64_t n)
{
	sc->done += n;
	if (!sc->tty)
		return;
	double now = now_sec();
	if (now - sc->last < 0.5 && sc->done < sc->total)
		return;
	sc->last = now;
	char b1[32], b2[32];
	fprintf(stderr, "\r%s: %s of %s (%.0f%%), %.0f MB/s   ", heft_progname,
		fmt_bytes(b1, sizeof b1, sc->done), fmt_bytes(b2, sizeof b2, sc->total),
		sc->total ? 100.0 * (double)sc->done / (double)sc->total : 100.0,
		(double)sc->done / 1e6 / MAX(now - sc->start, 1e-3));
}

static int write_tensor(const struct tspec *t, uint64_t seed, struct gguf_writer *w, struct scratch *sc)
{
	struct rng r;
	rng_seed(&r, seed, t->name);
	const struct qtype *q = qtype_get(t->type);
	uint64_t rows = t->ne[1] * t->ne[2] * t->ne[3], ne0 = t->ne[0];
	uint64_t row_bytes = qtype_row_bytes(t->type, ne0);
	/* whole rows per chunk so that blocks never straddle chunks */
	uint64_t chunk_rows = MAX((uint64_t)1, CHUNK_ELEMS / ne0);
	for (uint64_t r0 = 0; r0 < rows; r0 += chunk_rows) {
		uint64_t nr = MIN(chunk_rows, rows - r0);
		uint64_t nel = nr * ne0;
		const void *out;
		if (t->type == GGML_Q4_K) {
			fill_q4_K(&r, sc->q, nel / QK_K, t->std);
			out = sc->q;
		} else {
			/* uniform on [-a, a] has std a/sqrt(3) */
			fill_uniform(&r, sc->f, nel, t->norm ? 1.0f : 0.0f, t->std * sqrtf(3.0f));
			if (t->type == GGML_F32) {
				out = sc->f;
			} else {
				q->from_float(sc->f, sc->q, (int64_t)nel);
				out = sc->q;
			}
		}
		if (gguf_writer_data(w, out, nr * row_bytes) < 0)
			return -1;
		progress(sc, nr * row_bytes);
	}
	return 0;
}

static char *part_path(const char *out, uint32_t k, uint32_t n)
{
	size_t len = strlen(out);
	if (len > 5 && !strcmp(out + len - 5, ".gguf"))
		len -= 5;
	char *p;
	xasprintf(&p, "%.*s-%05u-of-%05u.gguf", (int)len, out, k + 1, n);
	return p;
}

/* Write one file: part k of n (n = 1: no split keys). */
static int write_part(const struct synth *s, const struct plan *p, uint32_t k, uint32_t n,
		      const struct gguf *vocab, struct scratch *sc, uint64_t *bytes)
{
	char *path = n > 1 ? part_path(s->out, k, n) : xstrdup(s->out);
	struct gguf_writer *w = gguf_writer_new();
	if (n > 1) {
		gguf_writer_kv_u16(w, "split.no", (uint16_t)k);
		gguf_writer_kv_u16(w, "split.count", (uint16_t)n);
		gguf_writer_kv_i32(w, "split.tensors.count", (int32_t)p->n);
	}
	if (k == 0)
		write_metadata(s, w, vocab);
	for (size_t i = 0; i < p->n; i++)
		if (p->t[i].part == k && gguf_writer_add_tensor(w, p->t[i].name, p->t[i].type,
								p->t[i].n_dims, p->t[i].ne) < 0)
			die("%s: cannot add tensor %s: %s", path, p->t[i].name, strerror(errno));
	int rc = gguf_writer_begin(w, path);
	for (size_t i = 0; rc == 0 && i < p->n; i++)
		if (p->t[i].part == k)
			rc = write_tensor(&p->t[i], s->seed, w, sc);
	if (rc == 0)
		rc = gguf_writer_finish(w);
	if (rc < 0)
		warn_errno("%s", path);
	else
		*bytes += gguf_writer_file_size(w);
	if (rc == 0 && !s->quiet) /* on a terminal, over the progress line */
		fprintf(stderr, "%s%s: wrote %s\n", sc->tty ? "\r\033[K" : "", heft_progname, path);
	gguf_writer_free(w);
	free(path);
	return rc;
}

/* ---- options ---- */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: heft-engine synth [--arch llama|qwen3|qwen3moe|mixtral] [--embd N] [--layers N]\n"
		"         [--heads N] [--kv-heads N] [--head-dim N] [--ff N] [--experts N]\n"
		"         [--experts-used N] [--expert-ff N] [--vocab N] [--ctx N] [--rope-base F]\n"
		"         [--type F32|F16|Q8_0|Q4_0|Q4_K] [--seed S] [--name NAME]\n"
		"         [--vocab-from FILE.gguf] [--split N] [-q] -o FILE.gguf\n");
}

static void defaults(struct synth *s)
{
	bool moe = s->arch == ARCH_QWEN3MOE || s->arch == ARCH_MIXTRAL;
	s->gguf_arch = s->arch == ARCH_MIXTRAL ? "llama" : arch_names[s->arch];
	if (s->embd < 0) s->embd = 256;
	if (s->layers < 0) s->layers = 2;
	if (s->heads < 0) s->heads = 4;
	if (s->kv_heads < 0) s->kv_heads = s->heads >= 2 ? s->heads / 2 : 1;
	if (s->head_dim < 0) s->head_dim = s->heads ? s->embd / s->heads : 0;
	if (s->ff < 0) s->ff = s->arch == ARCH_MIXTRAL ? 512 : 768;
	if (s->experts < 0) s->experts = !moe ? 0 : s->arch == ARCH_MIXTRAL ? 4 : 8;
	if (s->experts_used < 0) s->experts_used = s->experts ? 2 : 0;
	if (s->expert_ff < 0) s->expert_ff = s->arch == ARCH_MIXTRAL ? s->ff : 256;
	if (s->vocab < 0) s->vocab = 512;
	if (s->ctx < 0) s->ctx = 4096;
	if (s->rope_base <= 0) s->rope_base = s->arch == ARCH_LLAMA || s->arch == ARCH_MIXTRAL ? 1e4 : 1e6;
	if (!s->name) s->name = s->arch == ARCH_MIXTRAL ? "heft synthetic mixtral" : "heft synthetic";
}

static const char *check(const struct synth *s)
{
	bool moe = s->arch == ARCH_QWEN3MOE || s->arch == ARCH_MIXTRAL;
	if (!s->out)
		return "-o FILE is required";
	if (s->embd < 1 || s->layers < 1 || s->heads < 1 || s->kv_heads < 1 || s->head_dim < 1 ||
	    s->ff < 1 || s->vocab < 1 || s->ctx < 1)
		return "sizes must be positive";
	/* bounds that keep the writer's memory at a few MB (a row is generated
	 * whole) while staying far above any real model's */
	if (s->embd > ROW_MAX || s->ff > ROW_MAX || s->expert_ff > ROW_MAX ||
	    s->heads * s->head_dim > ROW_MAX || s->layers > 65536 || s->experts > 65536 ||
	    s->vocab > VOCAB_MAX || s->ctx > UINT32_MAX)
		return "a size is out of range (rows up to 1048576 elements, vocab up to 4194304)";
	if (s->heads % s->kv_heads)
		return "--heads must be a multiple of --kv-heads";
	if (moe && (s->experts < 1 || s->experts_used < 1 || s->experts_used > s->experts ||
		    s->expert_ff < 1))
		return "a MoE model needs --experts >= --experts-used >= 1 and --expert-ff >= 1";
	if (!moe && s->experts > 0)
		return "--experts needs --arch qwen3moe or mixtral";
	if (s->split < 1 || s->split > 9999)
		return "--split must be in 1..9999";
	return NULL;
}

static bool parse_type(const char *s, uint32_t *out)
{
	static const uint32_t ok[] = {GGML_F32, GGML_F16, GGML_Q8_0, GGML_Q4_0, GGML_Q4_K};
	for (size_t i = 0; i < ARRAY_LEN(ok); i++)
		if (!strcasecmp(s, qtype_get(ok[i])->name)) {
			*out = ok[i];
			return true;
		}
	return false;
}

/* In the order of longopts[], which names an option by O_x - O_ARCH. */
enum { O_ARCH = 256, O_EMBD, O_LAYERS, O_HEADS, O_KVH, O_HD, O_FF, O_EXP, O_EXPU, O_EXPFF,
       O_VOCAB, O_CTX, O_ROPE, O_TYPE, O_SEED, O_VFROM, O_SPLIT, O_NAME };

static const struct option longopts[] = {
	{"arch", required_argument, NULL, O_ARCH},
	{"embd", required_argument, NULL, O_EMBD},
	{"layers", required_argument, NULL, O_LAYERS},
	{"heads", required_argument, NULL, O_HEADS},
	{"kv-heads", required_argument, NULL, O_KVH},
	{"head-dim", required_argument, NULL, O_HD},
	{"ff", required_argument, NULL, O_FF},
	{"experts", required_argument, NULL, O_EXP},
	{"experts-used", required_argument, NULL, O_EXPU},
	{"expert-ff", required_argument, NULL, O_EXPFF},
	{"vocab", required_argument, NULL, O_VOCAB},
	{"ctx", required_argument, NULL, O_CTX},
	{"rope-base", required_argument, NULL, O_ROPE},
	{"type", required_argument, NULL, O_TYPE},
	{"seed", required_argument, NULL, O_SEED},
	{"vocab-from", required_argument, NULL, O_VFROM},
	{"split", required_argument, NULL, O_SPLIT},
	{"name", required_argument, NULL, O_NAME},
	{"output", required_argument, NULL, 'o'},
	{"quiet", no_argument, NULL, 'q'},
	{"help", no_argument, NULL, 'h'},
	{NULL, 0, NULL, 0},
};

/* Returns 0, or 2 after printing what was wrong. */
static int parse_args(int argc, char **argv, struct synth *s)
{
	int64_t *ints[] = {&s->embd, &s->layers, &s->heads, &s->kv_heads,
			   &s->head_dim, &s->ff, &s->experts, &s->experts_used, &s->expert_ff,
			   &s->vocab, &s->ctx};
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "o:qh", longopts, NULL)) != -1) {
		int64_t v;
		switch (c) {
		case O_ARCH: {
			size_t i;
			for (i = 0; i < ARRAY_LEN(arch_names) && strcmp(optarg, arch_names[i]); i++)
				;
			if (i == ARRAY_LEN(arch_names))
				goto bad;
			s->arch = (enum arch)i;
			break;
		}
		case O_EMBD: case O_LAYERS: case O_HEADS: case O_KVH: case O_HD: case O_FF:
		case O_EXP: case O_EXPU: case O_EXPFF: case O_VOCAB: case O_CTX:
			if (!parse_i64(optarg, 0, (int64_t)1 << 30, &v))
				goto bad;
			*ints[c - O_EMBD] = v;
			break;
		case O_ROPE:
			if (!parse_f64(optarg, &s->rope_base) || !(s->rope_base > 0))
				goto bad;
			break;
		case O_TYPE:
			if (!parse_type(optarg, &s->type))
				goto bad;
			break;
		case O_SEED:
			if (!parse_i64(optarg, 0, INT64_MAX, &v))
				goto bad;
			s->seed = (uint64_t)v;
			break;
		case O_SPLIT:
			if (!parse_i64(optarg, 1, 9999, &v))
				goto bad;
			s->split = v;
			break;
		case O_VFROM: s->vocab_from = optarg; break;
		case O_NAME: s->name = optarg; break;
		case 'o': s->out = optarg; break;
		case 'q': s->quiet = true; break;
		case 'h': usage(stdout); return -1;
		default: usage(stderr); return 2;
		}
		continue;
bad:
		warnx_("synth: bad value '%s' for --%s", optarg, longopts[c - O_ARCH].name);
		return 2;
	}
	if (optind < argc) {
		warnx_("synth: unexpected argument '%s'", argv[optind]);
		usage(stderr);
		return 2;
	}
	return 0;
}

/* Vocabulary size from the token list of a --vocab-from file. */
static int vocab_size_of(const struct gguf *v, const char *path, int64_t *out)
{
	const struct gguf_value *t = gguf_get_arr(v, "tokenizer.ggml.tokens", GGUF_STRING);
	if (!t || t->arr.n == 0 || t->arr.n > (uint64_t)VOCAB_MAX) {
		warnx_("%s: no tokenizer.ggml.tokens array of strings", path);
		return -1;
	}
	*out = (int64_t)t->arr.n;
	return 0;
}

int cmd_synth(int argc, char **argv)
{
	struct synth s = {.embd = -1, .layers = -1, .heads = -1, .kv_heads = -1, .head_dim = -1,
			  .ff = -1, .experts = -1, .experts_used = -1, .expert_ff = -1, .vocab = -1,
			  .ctx = -1, .split = 1, .type = GGML_F16, .seed = 1};
	int rc = parse_args(argc, argv, &s);
	if (rc)
		return rc < 0 ? 0 : rc;
	if (s.arch == ARCH_MIXTRAL && s.expert_ff < 0 && s.ff >= 0)
		s.expert_ff = s.ff;
	defaults(&s);
	const char *why = check(&s);
	if (why) {
		warnx_("synth: %s", why);
		return 2;
	}

	struct gguf *vocab = NULL;
	if (s.vocab_from) {
		struct gguf_error err;
		vocab = gguf_open(s.vocab_from, &err);
		if (!vocab) {
			gguf_error_print(&err);
			return 2;
		}
		if (vocab_size_of(vocab, s.vocab_from, &s.vocab) < 0) {
			gguf_close(vocab);
			return 2;
		}
	}

	struct plan p = {0};
	plan_model(&s, &p);
	for (size_t i = 0; i < p.n; i++) { /* Q4_K is made from bits; the rest from floats */
		uint32_t t = p.t[i].type;
		if (t != GGML_Q4_K && t != GGML_F32 && !qtype_get(t)->from_float) {
			warnx_("synth: no quantizer for %s", qtype_get(t)->name);
			rc = 1;
			goto out;
		}
	}
	if ((size_t)s.split > p.n) {
		warnx_("synth: --split %" PRId64 " is more than the %zu tensors", s.split, p.n);
		rc = 2;
		goto out;
	}
	plan_split(&p, (uint32_t)s.split);

	/* a chunk is whole rows: at least one, however long */
	size_t max_elems = CHUNK_ELEMS;
	for (size_t i = 0; i < p.n; i++)
		max_elems = MAX(max_elems, (size_t)p.t[i].ne[0]);
	struct scratch sc = {.f = xreallocarray(NULL, max_elems, sizeof(float)),
			     .q = xreallocarray(NULL, max_elems, sizeof(float))};
	double t0 = now_sec();
	uint64_t bytes = 0;
	sc.tty = !s.quiet && isatty(2);
	sc.start = sc.last = t0;
	for (size_t i = 0; i < p.n; i++)
		sc.total += qtype_row_bytes(p.t[i].type, p.t[i].ne[0]) * p.t[i].ne[1] * p.t[i].ne[2];
	for (uint32_t k = 0; rc == 0 && k < (uint32_t)s.split; k++)
		if (write_part(&s, &p, k, (uint32_t)s.split, vocab, &sc, &bytes) < 0)
			rc = 1;
	double dt = now_sec() - t0;
	if (rc == 0 && !s.quiet) {
		char b[32];
		fprintf(stderr, "%s: %zu tensors, %s in %.1f s (%.0f MB/s)\n", heft_progname, p.n,
			fmt_bytes(b, sizeof b, bytes), dt, (double)bytes / 1e6 / (dt > 0 ? dt : 1e-9));
	}
	free(sc.f);
	free(sc.q);
out:
	free(p.t);
	gguf_close(vocab);
	return rc;
}
