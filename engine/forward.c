/* forward.c - the forward pass of every architecture, batched.
 *
 * Reads top to bottom like the math:
 *   x = token_embd[tokens]
 *   for each layer:
 *       x += attn_output(attention(rope(q), rope(k), v))   q,k,v from attn_norm(x)
 *            (deepseek2: latent attention, the cache holding the latent)
 *       x += ffn(ffn_norm(x))        dense SwiGLU, or router + top-k experts
 *                                    (+ shared experts)
 *   logits = output(output_norm(x))
 * Per-architecture differences are data in struct hparams / struct layer
 * (optional biases, norms, sinks, sliding window, gating), not branches on
 * the architecture.
 * Rows of every buffer are tokens of the batch. Small per-row operations
 * (norms, rope, residuals) run on the calling thread; matrix products and
 * attention are spread over the thread pool. */
#include "forward.h"

#include "kernels-rows.h"
#include "matmul.h"
#include "quant.h"
#include "rtrace.h"
#include "util.h"

#include <math.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#if defined(__aarch64__) && defined(__ARM_NEON)
#define HEFT_NEON_F16 1
#include <arm_neon.h>
#endif
#ifdef HEFT_X86
#include "cpu.h"
#include <immintrin.h>
#endif

#define ACT_SLOTS 3

/* Quantized copies of one activation matrix, one per activation format
 * asked for: q, k and v (or gate and up) may have different weight types,
 * but each format is made once per product. */
struct acts {
	struct threadpool *tp;
	const float *x;
	int64_t n, cols;
	int used;
	uint32_t fmt[ACT_SLOTS];
	void *buf[ACT_SLOTS];
};

struct forward {
	const struct model *m;
	struct threadpool *tp;
	struct kv_cache *kv;
	int max_batch, n_ctx;
	char err[256];

	/* [max_batch][...] rows */
	float *x;        /* residual stream, n_embd */
	float *xb;       /* normed input of a block, n_embd */
	float *q, *k, *v;
	float *attn;     /* attention output before attn_output, n_head * head_dim_v (MLA: latent) */
	int att_dk, att_dv; /* per-head dims the attention kernel sees (MLA: latent + rope, latent) */
	size_t att_kh, att_vh; /* bytes of one head's K (V) in a cache row, in the cache's types */
	bool mla;
	/* MLA: q LoRA rows, absorbed queries [n_head][kv_lora + n_rot], decompressed output */
	float *qlora, *qa, *attn2;
	void *head_act;         /* per-head quantized activations */
	struct wmat *head_w;    /* per-head views of attn_k_b / attn_v_b */
	struct mm_task *head_tasks;
	float *hb, *hb2; /* FFN hidden, n_ff (MoE: [max_batch * n_expert_used][n_ff_exp]) */
	float *out;      /* a block's output before the residual, n_embd (MoE: per expert row) */
	float *moe;      /* MoE: the weighted sum of a token's experts, n_embd */
	float *logits;   /* n_vocab */
	float *rope_cs;  /* [max_batch][n_rot / 2] cos, sin pairs */
	void *act_buf[ACT_SLOTS];

	/* attention, per thread: a query and an F16 accumulator */
	float *att_scratch;
	size_t att_stride;

	/* MoE routing of one batch */
	float *router;     /* [max_batch][n_expert] */
	float *selp, *gscore; /* one token's selection scores [n_expert], group scores */
	int *gkeep;           /* the groups kept */
	int *sel;          /* [max_batch][n_expert_used] expert ids */
	float *sel_w;      /* their weights */
	int *count, *first; /* per expert: rows routed to it, first row in grouped order */
	int *rows;         /* grouped order: token * n_expert_used + slot */
	int *where;        /* the inverse: each token * n_expert_used + slot's place in rows */
	int *used;         /* experts with count > 0 */
	int n_used;
	bool one_input;    /* decode: every expert reads the token's one input row */
	struct expert_view *views; /* [n_expert], by expert id */
	struct mm_task *tasks;

	/* prefetch: the next layer's router on this layer's hidden state, for
	 * the first PREFETCH_ROWS tokens of the batch */
	float *pf_x, *pf_router, *pf_w;
	int *pf_sel, *pf_list;

	float *logits_all; /* [max_batch][n_vocab], made on the first all_logits call */
	unsigned char *seen; /* [n_layer][n_expert]: routed to by a prompt chunk */
	struct forward_prefill_stats pst;
	bool prompt;       /* forward_prompt_mode: count even 1-token chunks as prompt */
	double t_compute;  /* seconds in forward_eval, waits for reads included */
	forward_stop_fn stop; /* forward_set_stop */
	void *stop_ud;
	bool stopped;
};

#define PREFETCH_ROWS 4

/* ---- small row operations ---------------------------------------------- */

/* A prompt chunk's row-wise work (norms, residual adds, SwiGLU, activation
 * quantization, rope) split over the pool as contiguous row ranges: every
 * row is computed exactly as alone, so the bits do not depend on the split.
 * Decode (a row or few) stays on the calling thread: a barrier would cost
 * more than the work. */
#define PAR_ROWS_MIN 4

typedef void (*rows_fn)(void *ctx, int64_t r0, int64_t r1);

struct rows_job {
	rows_fn fn;
	void *ctx;
	int64_t n;
};

static void rows_worker(void *arg, int ith, int nth)
{
	const struct rows_job *job = arg;
	long lo, hi;
	threadpool_range((long)job->n, ith, nth, &lo, &hi);
	if (lo < hi)
		job->fn(job->ctx, lo, hi);
}

/* The pool for a step over the rows of n tokens, or NULL: on this thread. */
static struct threadpool *row_pool(const struct forward *f, int64_t n)
{
	return n >= PAR_ROWS_MIN ? f->tp : NULL;
}

static void par_rows(struct threadpool *tp, int64_t n, rows_fn fn, void *ctx)
{
	if (!tp || n < 2 || threadpool_size(tp) < 2) {
		fn(ctx, 0, n);
		return;
	}
	struct rows_job job = {fn, ctx, n};
	threadpool_run(tp, rows_worker, &job);
}

/* ggml's rms_norm: mean of squares accumulated in double. */
static void rmsnorm(float *o, const float *x, const float *w, int n, float eps)
{
	double ss = 0.0;
	for (int i = 0; i < n; i++)
		ss += (double)(x[i] * x[i]);
	float scale = 1.0f / sqrtf((float)(ss / n) + eps);
	for (int i = 0; i < n; i++)
		o[i] = x[i] * scale * w[i];
}

struct rows_op {
	float *o;
	const float *x, *w;
	int dim;
	float eps;
};

static void rmsnorm_range(void *ctx, int64_t r0, int64_t r1)
{
	const struct rows_op *op = ctx;
	for (int64_t j = r0; j < r1; j++)
		rmsnorm(op->o + (size_t)j * op->dim, op->x + (size_t)j * op->dim, op->w, op->dim, op->eps);
}

static void rmsnorm_rows(struct threadpool *tp, float *o, const float *x, const struct wmat *w, int n_rows, int dim,
			 float eps)
{
	struct rows_op op = {o, x, w->data, dim, eps};
	par_rows(tp, n_rows, rmsnorm_range, &op);
}

static void add_range(void *ctx, int64_t r0, int64_t r1)
{
	const struct rows_op *op = ctx;
	for (size_t i = (size_t)r0 * op->dim; i < (size_t)r1 * op->dim; i++)
		op->o[i] += op->x[i];
}

/* x += y, row by row */
static void add_rows(struct threadpool *tp, float *x, const float *y, int n_rows, int dim)
{
	struct rows_op op = {x, y, NULL, dim, 0.0f};
	par_rows(tp, n_rows, add_range, &op);
}

static void add_bias(float *y, const struct wmat *b, int n_rows, int dim)
{
	if (!b->data)
		return;
	const float *bv = b->data;
	for (int j = 0; j < n_rows; j++)
		for (int i = 0; i < dim; i++)
			y[(size_t)j * dim + i] += bv[i];
}

/* SiLU as llama.cpp's CPU backend computes it (issue 18): its SwiGLU runs
 * 16 (AVX-512) or 8 (AVX2) lanes through a vectorized exp - a Cody-Waite
 * reduction to n = round(x / ln 2) and a degree-5 polynomial in the
 * remainder b - whose last bit differs from libm's expf, and those bits
 * flip the 8-bit rounding of the down projection's input. The two ISAs
 * round the final scaling differently: AVX-512 scales 1 + p(b) by 2^n
 * (vscalefps), AVX2 computes k + k p(b) with k = 2^n. Without SIMD, libm. */
enum silu_kind { SILU_LIBM, SILU_AVX2, SILU_AVX512 };
static enum silu_kind silu_kind;

/* The SIMD forms of attend() and swiglu() for the level in use, bit for
 * bit the same (kernels-rows.h); empty without SIMD or off x86. */
static struct rows_kernels rowk;

static float ggml_exp_poly(float x, float *n, float *b)
{
	float z = fmaf(x, 0x1.715476p+0f, 0x1.8p23f);
	*n = z - 0x1.8p23f;
	*b = fmaf(-*n, 0x1.7f7d1cp-20f, fmaf(-*n, 0x1.62e4p-1f, x));
	float u = *b * *b;
	return fmaf(fmaf(fmaf(0x1.0e4020p-7f, *b, 0x1.573e2ep-5f), u, fmaf(0x1.555e66p-3f, *b, 0x1.fffdb6p-2f)), u,
		    silu_kind == SILU_AVX512 ? fmaf(0x1.ffffecp-1f, *b, 1.0f) : 0x1.ffffecp-1f * *b);
}

static float exp_as_ggml(float x)
{
	float n, b, j = ggml_exp_poly(x, &n, &b);
	if (silu_kind == SILU_AVX512) {
		if (fabsf(n) > 192)
			return n > 0 ? INFINITY : 0.0f;
		return ldexpf(j, (int)n);
	}
	if (fabsf(n) > 126) /* ggml's AVX2 range path: rare enough for libm */
		return expf(x);
	float k = ldexpf(1.0f, (int)n);
	return fmaf(j, k, k);
}

static float silu(float x)
{
	if (silu_kind == SILU_LIBM)
		return x / (1.0f + expf(-x));
	return x / (1.0f + exp_as_ggml(0.0f - x));
}

static void softmax(float *x, int n)
{
	float mx = x[0];
	for (int i = 1; i < n; i++)
		mx = x[i] > mx ? x[i] : mx;
	float sum = 0.0f;
	for (int i = 0; i < n; i++) {
		x[i] = expf(x[i] - mx);
		sum += x[i];
	}
	for (int i = 0; i < n; i++)
		x[i] /= sum;
}

/* ---- activations ---------------------------------------------------------- */

static void acts_init(struct forward *f, struct acts *a, const float *x, int64_t n, int64_t cols)
{
	a->tp = row_pool(f, n);
	a->x = x;
	a->n = n;
	a->cols = cols;
	a->used = 0;
	memcpy(a->buf, f->act_buf, sizeof a->buf);
}

struct quant_op {
	uint32_t wtype;
	int64_t cols;
	const float *x;
	void *xq;
};

static void quant_range(void *ctx, int64_t r0, int64_t r1)
{
	const struct quant_op *op = ctx;
	size_t rb = quant_act_row_bytes(op->wtype, op->cols);
	mm_quantize(op->wtype, op->cols, op->x + r0 * op->cols, op->cols, r1 - r0, (char *)op->xq + (size_t)r0 * rb);
}

/* x quantized for weights of type wtype (F32 activations: x itself). */
static const void *acts_for(struct acts *a, uint32_t wtype)
{
	uint32_t fmt = qtypes[wtype].act_type;
	if (fmt == GGML_F32)
		return a->x;
	for (int i = 0; i < a->used; i++)
		if (a->fmt[i] == fmt)
			return a->buf[i];
	if (a->used == ACT_SLOTS)
		abort(); /* a block asked for more formats than it has products */
	struct quant_op op = {wtype, a->cols, a->x, a->buf[a->used]};
	par_rows(a->tp, a->n, quant_range, &op);
	a->fmt[a->used] = fmt;
	return a->buf[a->used++];
}

static struct mm_task task(const struct wmat *w, const void *xq, int64_t n, float *y)
{
	return (struct mm_task){.w = w, .xq = xq, .n = n, .y = y, .ldy = w->rows};
}

/* ---- rope ------------------------------------------------------------------ */

/* YaRN's correction range (ggml_rope_yarn_corr_dims): pairs below low
 * keep their original frequency, pairs above high are interpolated. */
static float yarn_corr_dim(int n_dims, int n_ctx_orig, float n_rot, float base)
{
	return n_dims * logf(n_ctx_orig / (n_rot * 2 * (float)M_PI)) / (2 * logf(base));
}

/* cos/sin of theta_i = (pos / scale) * base^(-2i/n_rot) / rope_freqs[i]
 * for every token of the batch, shared by all layers and heads; with YaRN
 * the low pairs are blended back towards the unscaled angle, and cos/sin
 * carry the magnitude rope_mscale (llama.cpp's rope_yarn). */
static void rope_table(struct forward *f, int n, int p)
{
	const struct hparams *hp = &f->m->hp;
	int half = hp->n_rot / 2;
	float low = 0.0f, high = 0.0f, ext = hp->yarn_ext_factor;
	if (ext != 0.0f) {
		low = MAX(0.0f, floorf(yarn_corr_dim(hp->n_rot, hp->n_ctx_orig, hp->yarn_beta_fast, hp->rope_base)));
		high = MIN((float)(hp->n_rot - 1),
			   ceilf(yarn_corr_dim(hp->n_rot, hp->n_ctx_orig, hp->yarn_beta_slow, hp->rope_base)));
	}
	/* in float, the angle stepped by multiplication, as ggml_rope_cache_init
	 * does: last-bit differences here flip F16 roundings of q and k */
	float theta_scale = powf(hp->rope_base, -2.0f / hp->n_rot), freq_scale = 1.0f / hp->rope_scale;
	float mscale = hp->rope_mscale / (ext != 0.0f ? 1.0f + 0.1f * logf(1.0f / freq_scale) : 1.0f);
	for (int j = 0; j < n; j++) {
		float theta_p = (float)(p + j);
		for (int i = 0; i < half; i++) {
			float ff = f->m->rope_freqs ? f->m->rope_freqs[i] : 1.0f;
			float extrap = theta_p / ff, theta = freq_scale * extrap, ms = mscale;
			if (ext != 0.0f) {
				float y = (i - low) / MAX(0.001f, high - low);
				float mix = (1.0f - MIN(1.0f, MAX(0.0f, y))) * ext;
				theta = fmaf(theta, 1 - mix, extrap * mix); /* contracted, as ggml's */
				ms *= fmaf(0.1f, logf(1.0f / freq_scale), 1.0f);
			}
			f->rope_cs[((size_t)j * half + i) * 2] = cosf(theta) * ms;
			f->rope_cs[((size_t)j * half + i) * 2 + 1] = sinf(theta) * ms;
			theta_p *= theta_scale;
		}
	}
}

/* Rotate n_rot dims starting at off of each head (heads head_stride floats
 * apart) of each row. NORM pairs adjacent dims (Llama's converter permutes
 * q/k weights for this); NEOX pairs dim i with i + n_rot/2. */
struct rope_op {
	const struct forward *f;
	float *x;
	int n_heads, head_stride, off0;
};

static void rope_range(void *ctx, int64_t j0, int64_t j1)
{
	const struct rope_op *op = ctx;
	const struct hparams *hp = &op->f->m->hp;
	float *x = op->x;
	int n_heads = op->n_heads, head_stride = op->head_stride, off0 = op->off0;
	int half = hp->n_rot / 2;
	int stride = hp->rope == ROPE_NORM ? 2 : 1, off = hp->rope == ROPE_NORM ? 1 : half;
	for (int64_t j = j0; j < j1; j++) {
		const float *cs = op->f->rope_cs + (size_t)j * half * 2;
		for (int h = 0; h < n_heads; h++) {
			float *v = x + ((size_t)j * n_heads + h) * head_stride + off0;
			for (int i = 0; i < half; i++) {
				float c = cs[2 * i], s = cs[2 * i + 1];
				float a = v[i * stride], b = v[i * stride + off];
				/* ggml's C++ build contracts the first product */
				v[i * stride] = fmaf(a, c, -(b * s));
				v[i * stride + off] = fmaf(a, s, b * c);
			}
		}
	}
}

static void rope(const struct forward *f, float *x, int n, int n_heads, int head_stride, int off0)
{
	struct rope_op op = {f, x, n_heads, head_stride, off0};
	par_rows(row_pool(f, n), n, rope_range, &op);
}

/* ---- attention ------------------------------------------------------------- */

struct attn_job {
	struct forward *f;
	int layer, n, p;
	atomic_int next; /* the first work unit nobody has claimed */
};

static bool windowed(const struct hparams *hp, int layer)
{
	return hp->n_swa > 0 && hp->swa_pattern > 0 && layer % hp->swa_pattern < hp->swa_pattern - 1;
}

/* The F16 running sums of attend(): acc = f16(acc * s) and
 * acc = f16(v * s + acc), rounded to nearest even like the scalar
 * fp32_to_fp16. F16C converts 8 lanes at once with the same rounding and
 * the FMA rounds once, as fmaf does, so both paths give the same bits.
 * AArch64 does the same with FCVTL/FCVTN (baseline, rounding by FPCR:
 * nearest even) around an FMLA in float: the same bits again, where the
 * FP16 arithmetic instructions would round the scale to F16 first. */
static bool use_f16c;

static void f16_scale_ref(int n, uint16_t *acc, float s)
{
	for (int d = 0; d < n; d++)
		acc[d] = fp32_to_fp16(fp16_to_fp32(acc[d]) * s);
}

static void f16_axpy_ref(int n, uint16_t *acc, const uint16_t *v, float s)
{
	for (int d = 0; d < n; d++)
		acc[d] = fp32_to_fp16(fmaf(fp16_to_fp32(v[d]), s, fp16_to_fp32(acc[d])));
}

#ifdef HEFT_X86
#define F16_ROUND (_MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)

__attribute__((target("avx2,fma,f16c")))
static void f16_scale_f16c(int n, uint16_t *acc, float s)
{
	__m256 vs = _mm256_set1_ps(s);
	int d = 0;
	for (; d + 8 <= n; d += 8) {
		__m256 a = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(acc + d)));
		_mm_storeu_si128((__m128i *)(acc + d), _mm256_cvtps_ph(_mm256_mul_ps(a, vs), F16_ROUND));
	}
	f16_scale_ref(n - d, acc + d, s);
}

__attribute__((target("avx2,fma,f16c")))
static void f16_axpy_f16c(int n, uint16_t *acc, const uint16_t *v, float s)
{
	__m256 vs = _mm256_set1_ps(s);
	int d = 0;
	for (; d + 8 <= n; d += 8) {
		__m256 a = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(acc + d)));
		__m256 x = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(v + d)));
		_mm_storeu_si128((__m128i *)(acc + d), _mm256_cvtps_ph(_mm256_fmadd_ps(x, vs, a), F16_ROUND));
	}
	f16_axpy_ref(n - d, acc + d, v + d, s);
}
#endif

#ifdef HEFT_NEON_F16
static void f16_scale_neon(int n, uint16_t *acc, float s)
{
	int d = 0;
	for (; d + 4 <= n; d += 4) {
		float32x4_t a = vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(acc + d)));
		vst1_u16(acc + d, vreinterpret_u16_f16(vcvt_f16_f32(vmulq_n_f32(a, s))));
	}
	f16_scale_ref(n - d, acc + d, s);
}

static void f16_axpy_neon(int n, uint16_t *acc, const uint16_t *v, float s)
{
	int d = 0;
	for (; d + 4 <= n; d += 4) {
		float32x4_t a = vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(acc + d)));
		float32x4_t x = vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(v + d)));
		vst1_u16(acc + d, vreinterpret_u16_f16(vcvt_f16_f32(vfmaq_n_f32(a, x, s))));
	}
	f16_axpy_ref(n - d, acc + d, v + d, s);
}
#endif

static void f16_scale(int n, uint16_t *acc, float s)
{
#ifdef HEFT_X86
	if (use_f16c) {
		f16_scale_f16c(n, acc, s);
		return;
	}
#elif defined(HEFT_NEON_F16)
	if (use_f16c) {
		f16_scale_neon(n, acc, s);
		return;
	}
#endif
	f16_scale_ref(n, acc, s);
}

static void f16_axpy(int n, uint16_t *acc, const uint16_t *v, float s)
{
#ifdef HEFT_X86
	if (use_f16c) {
		f16_axpy_f16c(n, acc, v, s);
		return;
	}
#elif defined(HEFT_NEON_F16)
	if (use_f16c) {
		f16_axpy_neon(n, acc, v, s);
		return;
	}
#endif
	f16_axpy_ref(n, acc, v, s);
}

/* One (token, head): softmax(q k^T * kq_scale) v over positions 0..pos (a
 * sliding-window layer: the last n_swa), with the head's sink logit, if
 * any, in the denominator only. MLA: K rows are latent + rope key, V the
 * latent part of the same rows.
 *
 * The arithmetic is that of llama.cpp's CPU flash attention, which made the
 * reference: the query rounded to F16, an online softmax whose running sum
 * of V rows is kept in F16 (rescaled when the maximum grows), the sink
 * folded in at the end. Matching it bit for bit matters more than it
 * seems: in quantized models a last-bit difference here flips 8-bit
 * activation roundings downstream and, near a router tie, an expert. */
static void attend_end(const struct layer *l, int h, int dv, float *out, float M, float S);

static void attend(struct forward *f, float *scratch, int layer, int i, int h, int pos)
{
	const struct hparams *hp = &f->m->hp;
	const struct layer *l = &f->m->layers[layer];
	const struct kv_cache *kv = f->kv;
	int dk = f->att_dk, dv = f->att_dv, kvh = h / (hp->n_head / hp->n_head_kv);
	uint32_t tk = kv->type_k, tv = f->mla ? kv->type_k : kv->type_v;
	float *qh = scratch;
	uint16_t *acc = (uint16_t *)(scratch + dk);
	float *acc32 = scratch + dk, *vrow = scratch + dk + dv;
	void *qk = tk == GGML_F16 ? (void *)qh : (void *)(scratch + dk + 2 * dv);
	const float *q = (f->mla ? f->qa : f->q) + ((size_t)i * hp->n_head + h) * dk;
	float *out = f->attn + ((size_t)i * hp->n_head + h) * dv;
	vec_dot_fn kdot = qtypes[tk].vec_dot;
	size_t koff = (size_t)kvh * f->att_kh, voff = f->mla ? 0 : (size_t)kvh * f->att_vh;
	int t0 = windowed(hp, layer) ? MAX(0, pos - hp->n_swa + 1) : 0;

	/* The query in the keys' dot-product format: F16 (rounded floats), or
	 * Q8_0 blocks for Q8_0 keys. An F16 V sums in F16 as the reference
	 * does; a Q8_0 V is dequantized row by row and sums in F32. */
	if (tk == GGML_F16)
		for (int d = 0; d < dk; d++)
			qh[d] = fp16_to_fp32(fp32_to_fp16(q[d]));
	else
		qtypes[GGML_Q8_0].from_float(q, qk, dk);
	if (tv == GGML_F16)
		memset(acc, 0, (size_t)dv * sizeof *acc);
	else
		memset(acc32, 0, (size_t)dv * sizeof *acc32);
	float M = -INFINITY, S = 0.0f;
	for (int t = t0; t <= pos; t++) {
		float s, ms = 1.0f, vs = 1.0f;
		kdot(dk, &s, kv_k(kv, layer, t) + koff, qk);
		s *= hp->kq_scale;
		bool rescale = s > M;
		if (rescale) { /* new maximum: rescale what was summed */
			ms = expf(M - s);
			M = s;
		} else {
			vs = expf(s - M);
		}
		const unsigned char *v = (f->mla ? kv_k(kv, layer, t) : kv_v(kv, layer, t)) + voff;
		if (tv == GGML_F16) {
			if (rescale)
				f16_scale(dv, acc, ms);
			f16_axpy(dv, acc, (const uint16_t *)(const void *)v, vs);
		} else {
			qtypes[tv].to_float(v, vrow, dv);
			for (int d = 0; d < dv; d++)
				acc32[d] = fmaf(vrow[d], vs, rescale ? acc32[d] * ms : acc32[d]);
		}
		S = fmaf(S, ms, vs); /* contracted in ggml's C++ build */
	}
	for (int d = 0; d < dv; d++)
		out[d] = tv == GGML_F16 ? fp16_to_fp32(acc[d]) : acc32[d];
	attend_end(l, h, dv, out, M, S);
}

/* The end of one (token, head): the sink logit, if any, folded into the
 * sum and the output divided by it. */
static void attend_end(const struct layer *l, int h, int dv, float *out, float M, float S)
{
	if (l->attn_sinks.data) {
		float sink = ((const float *)l->attn_sinks.data)[h], ms = 1.0f, vs = 1.0f;
		if (sink > M) {
			ms = expf(M - sink);
			for (int d = 0; d < dv; d++)
				out[d] *= ms;
		} else {
			vs = expf(sink - M);
		}
		S = fmaf(S, ms, vs); /* contracted in ggml's C++ build */
	}
	float inv = S == 0.0f ? 0.0f : 1.0f / S;
	for (int d = 0; d < dv; d++)
		out[d] *= inv;
}

/* attend() for heads h0 .. h0 + g - 1 of token i, which read the same KV
 * head, through rowk.attn_f16: each F16 K and V row is converted once for
 * the g queries. The same arithmetic as attend()'s F16 path. one: the
 * step's only token (decode), whose K and V rows are not in cache. */
static void attend_group(struct forward *f, float *scratch, int layer, int i, int h0, int g, int pos, bool one)
{
	const struct hparams *hp = &f->m->hp;
	const struct kv_cache *kv = f->kv;
	int dk = f->att_dk, dv = f->att_dv, kvh = h0 / (hp->n_head / hp->n_head_kv);
	int t0 = windowed(hp, layer) ? MAX(0, pos - hp->n_swa + 1) : 0;
	float M[ATTN_GMAX], S[ATTN_GMAX], *out = f->attn + ((size_t)i * hp->n_head + h0) * dv;
	struct attn_f16 a = {
		.g = g, .dk = dk, .dv = dv, .nt = pos - t0 + 1,
		.q = (f->mla ? f->qa : f->q) + ((size_t)i * hp->n_head + h0) * dk,
		.k = kv_k(kv, layer, t0) + (size_t)kvh * f->att_kh,
		.v = f->mla ? kv_k(kv, layer, t0) : kv_v(kv, layer, t0) + (size_t)kvh * f->att_vh,
		.ldk = kv->row_k, .ldv = f->mla ? kv->row_k : kv->row_v, .scale = hp->kq_scale,
		.qh = scratch, .acc = (uint16_t *)(scratch + (size_t)g * dk), .out = out, .m = M, .s = S,
		.fetch = one,
	};
	rowk.attn_f16(&a);
	for (int j = 0; j < g; j++)
		attend_end(&f->m->layers[layer], h0 + j, dv, out + (size_t)j * dv, M[j], S[j]);
}

static bool group_ok(const struct forward *f)
{
	const struct kv_cache *kv = f->kv;
	return rowk.attn_f16 && kv->type_k == GGML_F16 && (f->mla || kv->type_v == GGML_F16) && f->att_dv % 16 == 0;
}

/* Work units claimed one at a time as threads get free: later tokens see
 * more positions, so contiguous ranges would load the last thread most, and
 * a thread the machine delays leaves its units to the others. A unit is a
 * (token, head) pair, or with the SIMD kernel (token, up to ATTN_GMAX heads
 * of one KV head), fewer heads when that leaves too few units for the
 * pool. A unit's arithmetic does not depend on the thread that runs it. */
static void attn_worker(void *arg, int ith, int nth)
{
	struct attn_job *job = arg;
	struct forward *f = job->f;
	int n_head = f->m->hp.n_head, n_kv = f->m->hp.n_head_kv, per_kv = n_head / n_kv;
	float *scratch = f->att_scratch + (size_t)ith * f->att_stride;
	if (!group_ok(f)) {
		for (int idx; (idx = atomic_fetch_add_explicit(&job->next, 1, memory_order_relaxed)) < job->n * n_head;) {
			int i = idx / n_head, h = idx % n_head;
			attend(f, scratch, job->layer, i, h, job->p + i);
		}
		return;
	}
	int gmax = MIN(ATTN_GMAX, per_kv);
	while (gmax > 1 && job->n * n_kv * ((per_kv + gmax - 1) / gmax) < 2 * nth)
		gmax /= 2;
	int chunks = (per_kv + gmax - 1) / gmax, units = job->n * n_kv * chunks;
	for (int idx; (idx = atomic_fetch_add_explicit(&job->next, 1, memory_order_relaxed)) < units;) {
		int i = idx / (n_kv * chunks), r = idx % (n_kv * chunks);
		int h0 = r / chunks * per_kv + r % chunks * gmax;
		attend_group(f, scratch, job->layer, i, h0, MIN(gmax, per_kv - r % chunks * gmax), job->p + i,
			     job->n == 1);
	}
}

/* Attention of n tokens from position p of a layer, over the pool. */
static void run_attention(struct forward *f, int layer, int n, int p)
{
	struct attn_job job = {.f = f, .layer = layer, .n = n, .p = p};
	atomic_init(&job.next, 0);
	threadpool_run_claims(f->tp, attn_worker, &job);
}

static void attention_block(struct forward *f, int il, int n, int p)
{
	const struct model *m = f->m;
	const struct hparams *hp = &m->hp;
	const struct layer *l = &m->layers[il];
	struct acts a;

	rmsnorm_rows(row_pool(f, n), f->xb, f->x, &l->attn_norm, n, hp->n_embd, hp->rms_eps);
	acts_init(f, &a, f->xb, n, hp->n_embd);
	struct mm_task qkv[3] = {
		task(&l->wq, acts_for(&a, l->wq.type), n, f->q),
		task(&l->wk, acts_for(&a, l->wk.type), n, f->k),
		task(&l->wv, acts_for(&a, l->wv.type), n, f->v),
	};
	mm_run(f->tp, qkv, 3);
	add_bias(f->q, &l->bq, n, (int)l->wq.rows);
	add_bias(f->k, &l->bk, n, (int)l->wk.rows);
	add_bias(f->v, &l->bv, n, (int)l->wv.rows);

	if (l->q_norm.data) /* qwen3, GLM-4.5: RMS norm of each head's q and k before rope */
		rmsnorm_rows(row_pool(f, n), f->q, f->q, &l->q_norm, n * hp->n_head, hp->head_dim_k, hp->rms_eps);
	if (l->k_norm.data)
		rmsnorm_rows(row_pool(f, n), f->k, f->k, &l->k_norm, n * hp->n_head_kv, hp->head_dim_k, hp->rms_eps);
	rope(f, f->q, n, hp->n_head, hp->head_dim_k, 0);
	rope(f, f->k, n, hp->n_head_kv, hp->head_dim_k, 0);
	for (int i = 0; i < n; i++)
		kv_store(f->kv, il, p + i, f->k + (size_t)i * f->kv->k_dim, f->v + (size_t)i * f->kv->v_dim);

	run_attention(f, il, n, p);

	acts_init(f, &a, f->attn, n, l->wo.cols);
	struct mm_task o = task(&l->wo, acts_for(&a, l->wo.type), n, f->out);
	mm_run(f->tp, &o, 1);
	add_bias(f->out, &l->bo, n, hp->n_embd);
	add_rows(row_pool(f, n), f->x, f->out, n, hp->n_embd);
}

/* Per-head products y[j][h] = W_h x[j][h] for MLA's absorbed matrices:
 * W is n_head stacked blocks of `rows` rows (a 3-D tensor), x row j head h
 * at x + j * ldx + h * xh, y at y + j * ldy + h * yh. */
static void per_head(struct forward *f, const struct wmat *w, int64_t rows, const float *x, int64_t ldx, int xh,
		     float *y, int64_t ldy, int yh, int n)
{
	int n_head = f->m->hp.n_head;
	for (int h = 0; h < n_head; h++) {
		struct wmat *v = &f->head_w[h];
		*v = *w;
		v->rows = rows;
		v->data = (const char *)w->data + (size_t)h * (size_t)rows * w->row_bytes;
		char *xq = (char *)f->head_act + (size_t)h * (size_t)n * mm_act_bytes(v);
		mm_quantize(v->type, v->cols, x + (size_t)h * xh, ldx, n, xq);
		f->head_tasks[h] = (struct mm_task){.w = v, .xq = xq, .n = n, .y = y + (size_t)h * yh, .ldy = ldy};
	}
	mm_run(f->tp, f->head_tasks, n_head);
}

/* deepseek2's multi-head latent attention in the absorbed form: the cache
 * holds, per position, the normed latent c (kv_lora_rank) and the rotated
 * shared key k_pe; each head scores [W_kb q_nope, q_pe] against [c, k_pe],
 * averages c, and W_vb decompresses the result. */
static void attention_mla(struct forward *f, int il, int n, int p)
{
	const struct hparams *hp = &f->m->hp;
	const struct layer *l = &f->m->layers[il];
	int r = hp->kv_lora_rank, kr = r + hp->n_rot, dk = hp->head_dim_k_mla, nope = dk - hp->n_rot;
	int nh = hp->n_head, dv = hp->head_dim_v_mla;
	struct acts a;

	rmsnorm_rows(row_pool(f, n), f->xb, f->x, &l->attn_norm, n, hp->n_embd, hp->rms_eps);
	acts_init(f, &a, f->xb, n, hp->n_embd);
	const struct wmat *wq = l->wq_a.data ? &l->wq_a : &l->wq;
	struct mm_task t[2] = {
		task(wq, acts_for(&a, wq->type), n, l->wq_a.data ? f->qlora : f->q),
		task(&l->wkv_a_mqa, acts_for(&a, l->wkv_a_mqa.type), n, f->k),
	};
	mm_run(f->tp, t, 2);
	if (l->wq_a.data) {
		rmsnorm_rows(row_pool(f, n), f->qlora, f->qlora, &l->q_a_norm, n, hp->q_lora_rank, hp->rms_eps);
		acts_init(f, &a, f->qlora, n, hp->q_lora_rank);
		struct mm_task qb = task(&l->wq_b, acts_for(&a, l->wq_b.type), n, f->q);
		mm_run(f->tp, &qb, 1);
	}
	for (int j = 0; j < n; j++) {
		float *c = f->k + (size_t)j * kr;
		rmsnorm(c, c, l->kv_a_norm.data, r, hp->rms_eps);
	}
	rope(f, f->q, n, nh, dk, nope);
	rope(f, f->k, n, 1, kr, r);
	for (int i = 0; i < n; i++)
		kv_store(f->kv, il, p + i, f->k + (size_t)i * kr, NULL);

	/* absorbed queries: [W_kb,h q_nope,h | q_pe,h] */
	per_head(f, &l->wk_b, r, f->q, (int64_t)nh * dk, dk, f->qa, (int64_t)nh * kr, kr, n);
	for (int j = 0; j < n; j++)
		for (int h = 0; h < nh; h++)
			memcpy(f->qa + ((size_t)j * nh + h) * kr + r, f->q + ((size_t)j * nh + h) * dk + nope,
			       (size_t)hp->n_rot * sizeof(float));

	run_attention(f, il, n, p);

	per_head(f, &l->wv_b, dv, f->attn, (int64_t)nh * r, r, f->attn2, (int64_t)nh * dv, dv, n);
	acts_init(f, &a, f->attn2, n, l->wo.cols);
	struct mm_task o = task(&l->wo, acts_for(&a, l->wo.type), n, f->out);
	mm_run(f->tp, &o, 1);
	add_rows(row_pool(f, n), f->x, f->out, n, hp->n_embd);
}

/* ---- feed-forward ------------------------------------------------------------ */

/* hb = silu(hb) * hb2, the SwiGLU of every row. */
static void swiglu(float *hb, const float *hb2, size_t n)
{
	if (rowk.swiglu) {
		rowk.swiglu(hb, hb2, n);
		return;
	}
	for (size_t i = 0; i < n; i++)
		hb[i] = silu(hb[i]) * hb2[i];
}

static void swiglu_range(void *ctx, int64_t r0, int64_t r1)
{
	const struct rows_op *op = ctx;
	swiglu(op->o + (size_t)r0 * op->dim, op->x + (size_t)r0 * op->dim, (size_t)(r1 - r0) * op->dim);
}

/* gpt-oss: gate clamped above at 7, up to [-7, 7], x * sigmoid(1.702 x) * (up + 1). */
static void swiglu_oai(float *hb, const float *hb2, size_t n)
{
	const float alpha = 1.702f, limit = 7.0f;
	for (size_t i = 0; i < n; i++) {
		float x = MIN(hb[i], limit), y = MAX(-limit, MIN(hb2[i], limit));
		hb[i] = x / (1.0f + expf(alpha * -x)) * (y + 1.0f);
	}
}

/* out = down(silu(gate x) * up x) for the rows of xb. */
static void ffn_dense(struct forward *f, const struct wmat *gate, const struct wmat *up, const struct wmat *down,
		      int n)
{
	struct acts a;
	acts_init(f, &a, f->xb, n, f->m->hp.n_embd);
	struct mm_task gate_up[2] = {
		task(gate, acts_for(&a, gate->type), n, f->hb),
		task(up, acts_for(&a, up->type), n, f->hb2),
	};
	mm_run(f->tp, gate_up, 2);
	struct rows_op op = {f->hb, f->hb2, NULL, (int)gate->rows, 0.0f};
	par_rows(row_pool(f, n), n, swiglu_range, &op);
	acts_init(f, &a, f->hb, n, down->cols);
	struct mm_task t = task(down, acts_for(&a, down->type), n, f->out);
	mm_run(f->tp, &t, 1);
}

/* Top k of score[0..ne) by repeated max (k is small); ties go to the lower id. */
static void top_k(const float *score, int ne, int k, int *sel)
{
	for (int s = 0; s < k; s++) {
		int best = -1;
		for (int e = 0; e < ne; e++) {
			bool taken = false;
			for (int t = 0; t < s; t++)
				taken |= sel[t] == e;
			if (!taken && (best < 0 || score[e] > score[best]))
				best = e;
		}
		sel[s] = best;
	}
}

/* DeepSeek V3's group limit: keep the n_group_used groups whose two best
 * selection scores sum highest, mask the other groups' experts out. */
static void limit_groups(struct forward *f, float *selp)
{
	const struct hparams *hp = &f->m->hp;
	int ng = hp->n_expert_groups, per = hp->n_expert / ng;
	for (int g = 0; g < ng; g++) {
		float b1 = -INFINITY, b2 = -INFINITY;
		for (int e = g * per; e < (g + 1) * per; e++) {
			if (selp[e] > b1) {
				b2 = b1;
				b1 = selp[e];
			} else if (selp[e] > b2) {
				b2 = selp[e];
			}
		}
		f->gscore[g] = b1 + b2;
	}
	int *keep = f->gkeep;
	top_k(f->gscore, ng, hp->n_group_used, keep);
	for (int g = 0; g < ng; g++) {
		bool kept = false;
		for (int t = 0; t < hp->n_group_used; t++)
			kept |= keep[t] == g;
		for (int e = g * per; e < (g + 1) * per && !kept; e++)
			selp[e] = -INFINITY;
	}
}

/* Router (llama.cpp's build_moe_ffn): logits (+ bias) -> probabilities
 * (softmax, sigmoid, or the logits themselves); selection by probability +
 * exp_probs_b, group-limited if the model has groups; weights are the
 * unbiased probabilities of the selected experts, softmaxed (gpt-oss),
 * renormalised and scaled as the model asks. */
static void route_row(struct forward *f, const struct layer *l, float *probs, int *sel, float *w)
{
	const struct hparams *hp = &f->m->hp;
	int ne = hp->n_expert, k = hp->n_expert_used;
	const float *rb = l->ffn_gate_inp_b.data, *pb = l->exp_probs_b.data;
	for (int e = 0; e < ne && rb; e++)
		probs[e] += rb[e];
	if (hp->gating == GATING_SOFTMAX)
		softmax(probs, ne);
	else if (hp->gating == GATING_SIGMOID)
		for (int e = 0; e < ne; e++)
			probs[e] = 1.0f / (1.0f + expf(-probs[e]));
	for (int e = 0; e < ne; e++)
		f->selp[e] = probs[e] + (pb ? pb[e] : 0.0f);
	if (hp->n_expert_groups > 1)
		limit_groups(f, f->selp);
	top_k(f->selp, ne, k, sel);
	for (int s = 0; s < k; s++)
		w[s] = probs[sel[s]];
	if (hp->gating == GATING_SOFTMAX_WEIGHT)
		softmax(w, k);
	if (hp->norm_topk) {
		float sum = 0.0f;
		for (int s = 0; s < k; s++)
			sum += w[s];
		sum = MAX(sum, 6.103515625e-5f); /* llama.cpp's clamp: smallest normal F16 */
		for (int s = 0; s < k; s++)
			w[s] /= sum;
	}
	for (int s = 0; s < k && hp->expert_weights_scale != 1.0f; s++)
		w[s] *= hp->expert_weights_scale;
}

static void route(struct forward *f, const struct layer *l, int n)
{
	int ne = f->m->hp.n_expert, k = f->m->hp.n_expert_used;
	for (int j = 0; j < n; j++)
		route_row(f, l, f->router + (size_t)j * ne, f->sel + (size_t)j * k, f->sel_w + (size_t)j * k);
}

/* Add row e of a per-expert bias (rows = experts) to cnt rows of y. */
static void add_expert_bias(float *y, const struct wmat *b, int e, int cnt, int dim)
{
	if (!b->data)
		return;
	const float *bv = (const float *)b->data + (size_t)e * dim;
	for (int j = 0; j < cnt; j++)
		for (int i = 0; i < dim; i++)
			y[(size_t)j * dim + i] += bv[i];
}

/* Group the batch's (token, slot) rows by expert: each expert's rows are
 * contiguous, so each expert's weights are read once per batch (expert-major). */
static int group_by_expert(struct forward *f, int n)
{
	int ne = f->m->hp.n_expert, k = f->m->hp.n_expert_used, n_used = 0;
	memset(f->count, 0, (size_t)ne * sizeof *f->count);
	for (int r = 0; r < n * k; r++)
		f->count[f->sel[r]]++;
	for (int e = 0, at = 0; e < ne; e++) {
		f->first[e] = at;
		at += f->count[e];
		if (f->count[e])
			f->used[n_used++] = e;
	}
	int *fill = f->first + ne; /* second half of first[]: running fill positions */
	memcpy(fill, f->first, (size_t)ne * sizeof *fill);
	for (int r = 0; r < n * k; r++) {
		f->where[r] = fill[f->sel[r]]++;
		f->rows[f->where[r]] = r;
	}
	return n_used;
}

/* Guess the experts layer il + 1 will use: its norm and router applied to
 * the residual stream as it is now (before layer il's experts are added),
 * for the first few tokens. The guess only starts reads the disk has time
 * for; a wrong one costs nothing but idle bandwidth. */
static void prefetch_next(struct forward *f, int il, int n)
{
	const struct hparams *hp = &f->m->hp;
	struct weights *w = f->m->w;
	int nl = il + 1;
	if (nl >= hp->n_layer || !f->m->layers[nl].moe || !weights_prefetch_enabled(w))
		return;
	const struct layer *l = &f->m->layers[nl];
	int rows = MIN(n, PREFETCH_ROWS), ne = hp->n_expert, k = hp->n_expert_used, d = hp->n_embd;
	const float *x = f->x + (size_t)(n - rows) * d; /* the last tokens: decode's one */
	rmsnorm_rows(row_pool(f, rows), f->pf_x, x, &l->ffn_norm, rows, d, hp->rms_eps);
	struct acts a;
	acts_init(f, &a, f->pf_x, rows, d);
	/* act_buf[2] is free until the down projection */
	a.buf[0] = f->act_buf[ACT_SLOTS - 1];
	struct mm_task t = task(&l->ffn_gate_inp, acts_for(&a, l->ffn_gate_inp.type), rows, f->pf_router);
	mm_run(f->tp, &t, 1);
	int n_list = 0;
	for (int j = 0; j < rows; j++) {
		route_row(f, l, f->pf_router + (size_t)j * ne, f->pf_sel + (size_t)j * k, f->pf_w + (size_t)j * k);
		for (int s = 0; s < k; s++) {
			int e = f->pf_sel[j * k + s], seen = 0;
			for (int i = 0; i < n_list && !seen; i++)
				seen = f->pf_list[i] == e;
			if (!seen)
				f->pf_list[n_list++] = e;
		}
	}
	if (f->m->trace)
		rtrace_guess(f->m->trace, nl, f->pf_list, n_list);
	weights_prefetch(w, nl, f->pf_list, n_list);
}

/* Where expert e's down input goes: its rows of hb itself for an f32 down
 * product, else its rows of the last activation slot. */
static char *down_input(struct forward *f, const struct wmat *down, int e)
{
	if (qtypes[down->type].act_type == GGML_F32)
		return (char *)(f->hb + (size_t)f->first[e] * f->m->hp.n_ff_exp);
	return (char *)f->act_buf[ACT_SLOTS - 1] + (size_t)f->first[e] * mm_act_bytes(down);
}

/* Expert e's gate and up outputs -> its down product's input: biases,
 * activation, quantization. */
static void expert_act_rows(struct forward *f, const struct layer *l, int e, int lo, int hi)
{
	const struct hparams *hp = &f->m->hp;
	const struct wmat *down = &f->views[e].m[EXP_DOWN];
	int ff = hp->n_ff_exp, cnt = hi - lo;
	float *g = f->hb + (size_t)(f->first[e] + lo) * ff, *u = f->hb2 + (size_t)(f->first[e] + lo) * ff;
	if (l->ffn_gate_exps_b.data) {
		add_expert_bias(g, &l->ffn_gate_exps_b, e, cnt, ff);
		add_expert_bias(u, &l->ffn_up_exps_b, e, cnt, ff);
	}
	if (hp->act == ACT_SWIGLU_OAI)
		swiglu_oai(g, u, (size_t)cnt * ff);
	else
		swiglu(g, u, (size_t)cnt * ff);
	if (qtypes[down->type].act_type != GGML_F32)
		mm_quantize(down->type, ff, g, ff, cnt, down_input(f, down, e) + (size_t)lo * mm_act_bytes(down));
}

static void expert_act(struct forward *f, const struct layer *l, int e)
{
	expert_act_rows(f, l, e, 0, f->count[e]);
}

static struct mm_task gate_task(struct forward *f, int e, int part, const char *x)
{
	const struct wmat *w = &f->views[e].m[part];
	float *y = part == EXP_GATE ? f->hb : f->hb2;
	int at = f->first[e];
	const char *xe = f->one_input ? x : x + at * mm_act_bytes(w);
	struct mm_task t = task(w, xe, f->count[e], y + (size_t)at * f->m->hp.n_ff_exp);
	t.expert = true;
	return t;
}

static struct mm_task down_task(struct forward *f, int e)
{
	const struct wmat *w = &f->views[e].m[EXP_DOWN];
	struct mm_task t = task(w, down_input(f, w, e), f->count[e], f->out + (size_t)f->first[e] * f->m->hp.n_embd);
	t.expert = true;
	return t;
}

/* Decode: whole experts per thread, gate to down in one pool step. An
 * expert's matrices are small (a few hundred KB), so splitting each of them
 * over the threads cost three barriers a layer and a single-threaded
 * activation in between; here each thread runs its experts' products
 * through the same kernel calls, row by row, so every output has the same
 * bits whoever computes it. Threads claim the experts one at a time as they
 * get free: a thread the machine delays (another process on its core) or
 * that reads slower leaves its share to the others instead of holding the
 * step's barrier. The last expert is shared by rows, so no thread waits
 * idle while another runs it alone. */
struct expert_job {
	struct forward *f;
	const struct layer *l;
	const int *list;
	int nb;
	const char *xg, *xu;
	atomic_int next; /* the first expert of list nobody has claimed */
	/* The last expert, list[nb - 1], split by rows between whoever is free:
	 * units of TAIL_ROWS rows, gate's then up's (gu of them) then down's
	 * (dn). The thread that finishes the last gate/up unit writes the
	 * activation; down units wait for it. */
	int gu, dn;
	atomic_int tail_next, tail_gu_done, tail_dn_done, tail_ready;
};

/* Rows of the last expert's claims: a few tens of KB of weights. */
#define TAIL_ROWS 128

static void expert_whole(struct expert_job *job, int e)
{
	struct forward *f = job->f;
	struct mm_task g = gate_task(f, e, EXP_GATE, job->xg), u = gate_task(f, e, EXP_UP, job->xu);
	mm_task_here(&g);
	mm_task_here(&u);
	expert_act(f, job->l, e);
	struct mm_task dn = down_task(f, e);
	mm_task_here(&dn);
	if (job->l->ffn_down_exps_b.data)
		add_expert_bias(f->out + (size_t)f->first[e] * f->m->hp.n_embd, &job->l->ffn_down_exps_b, e, 1,
				f->m->hp.n_embd);
}

/* Claim units of the last expert until none is left. Every gate/up unit is
 * claimed before any down unit, and a claimed unit's thread runs it
 * without waiting, so a down unit's wait for the activation ends. */
static void expert_tail(struct expert_job *job)
{
	struct forward *f = job->f;
	int e = job->list[job->nb - 1], ff = f->m->hp.n_ff_exp, d = f->m->hp.n_embd;
	for (int u; (u = atomic_fetch_add_explicit(&job->tail_next, 1, memory_order_relaxed)) < job->gu + job->dn;) {
		if (u < job->gu) {
			int per = job->gu / 2, part = u < per ? EXP_GATE : EXP_UP; /* gate's units, then up's */
			int r0 = (u % per) * TAIL_ROWS, r1 = MIN(r0 + TAIL_ROWS, ff);
			struct mm_task t = gate_task(f, e, part, part == EXP_GATE ? job->xg : job->xu);
			mm_task_rows(&t, r0, r1);
			if (atomic_fetch_add_explicit(&job->tail_gu_done, 1, memory_order_acq_rel) == job->gu - 1) {
				expert_act(f, job->l, e);
				atomic_store_explicit(&job->tail_ready, 1, memory_order_release);
			}
			continue;
		}
		for (unsigned spin = 1; !atomic_load_explicit(&job->tail_ready, memory_order_acquire); spin++)
			if (spin % 4096)
				cpu_relax();
			else
				sched_yield();
		int r0 = (u - job->gu) * TAIL_ROWS, r1 = MIN(r0 + TAIL_ROWS, d);
		struct mm_task t = down_task(f, e);
		mm_task_rows(&t, r0, r1);
		if (atomic_fetch_add_explicit(&job->tail_dn_done, 1, memory_order_acq_rel) == job->dn - 1 &&
		    job->l->ffn_down_exps_b.data)
			add_expert_bias(f->out + (size_t)f->first[e] * d, &job->l->ffn_down_exps_b, e, 1, d);
	}
}

static void expert_worker(void *arg, int ith, int nth)
{
	struct expert_job *job = arg;
	(void)ith;
	(void)nth;
	for (int i; (i = atomic_fetch_add_explicit(&job->next, 1, memory_order_relaxed)) < job->nb - 1;)
		expert_whole(job, job->list[i]);
	expert_tail(job);
}

/* Whole experts per thread (the last one split by rows) pays for one row
 * per expert (decode). */
static bool experts_per_thread(const struct forward *f, const int *list, int nb)
{
	if (nb < 1)
		return false;
	for (int i = 0; i < nb; i++)
		if (f->count[list[i]] != 1)
			return false;
	return true;
}

/* The activations of a group of experts (prefill) for rows [r0, r1) of
 * the group's rows taken expert after expert, so a split over the threads
 * balances rows, not experts. */
struct glu_job {
	struct forward *f;
	const struct layer *l;
	const int *list;
	int nb;
};

static void glu_range(void *ctx, int64_t r0, int64_t r1)
{
	const struct glu_job *job = ctx;
	int64_t base = 0;
	for (int i = 0; i < job->nb && base < r1; i++) {
		int e = job->list[i], cnt = job->f->count[e];
		int64_t lo = MAX(r0 - base, 0), hi = MIN(r1 - base, cnt);
		base += cnt;
		if (lo < hi)
			expert_act_rows(job->f, job->l, e, (int)lo, (int)hi);
	}
}

/* Gate, up, activation and down of the experts in list[0..nb), whose rows
 * are contiguous in grouped order; inputs already quantized (xg, xu). */
static void run_experts(struct forward *f, const struct layer *l, const int *list, int nb, const char *xg,
			const char *xu)
{
	if (experts_per_thread(f, list, nb)) {
		int ff = f->m->hp.n_ff_exp, d = f->m->hp.n_embd;
		struct expert_job job = {.f = f, .l = l, .list = list, .nb = nb, .xg = xg, .xu = xu,
					 .gu = 2 * ((ff + TAIL_ROWS - 1) / TAIL_ROWS), .dn = (d + TAIL_ROWS - 1) / TAIL_ROWS};
		atomic_init(&job.next, 0);
		atomic_init(&job.tail_next, 0);
		atomic_init(&job.tail_gu_done, 0);
		atomic_init(&job.tail_dn_done, 0);
		atomic_init(&job.tail_ready, 0);
		threadpool_run_claims(f->tp, expert_worker, &job);
		return;
	}
	for (int i = 0; i < nb; i++) {
		f->tasks[2 * i] = gate_task(f, list[i], EXP_GATE, xg);
		f->tasks[2 * i + 1] = gate_task(f, list[i], EXP_UP, xu);
	}
	mm_run(f->tp, f->tasks, 2 * nb);
	struct glu_job job = {f, l, list, nb};
	int64_t rows = 0;
	for (int i = 0; i < nb; i++)
		rows += f->count[list[i]];
	/* a prompt chunk's; one token's experts stay on this thread */
	par_rows(rows > f->m->hp.n_expert_used ? f->tp : NULL, rows, glu_range, &job);
	for (int i = 0; i < nb; i++) {
		f->tasks[i] = down_task(f, list[i]);
	}
	mm_run(f->tp, f->tasks, nb);
	int d = f->m->hp.n_embd;
	for (int i = 0; i < nb && l->ffn_down_exps_b.data; i++) {
		int e = list[i];
		add_expert_bias(f->out + (size_t)f->first[e] * d, &l->ffn_down_exps_b, e, f->count[e], d);
	}
}

/* The experts of one layer in waves: as many as the cache can pin at once;
 * inside a wave, those whose bytes are here run together, then each of the
 * others as it arrives. The arithmetic of an expert does not depend on its
 * wave (matmul.c), so a small cache gives the same bits as all of RAM. */
static int run_waves(struct forward *f, int il, const char *xg, const char *xu, int n)
{
	const struct layer *l = &f->m->layers[il];
	struct weights *w = f->m->w;
	int *rem = f->used, n_rem = f->n_used;
	bool prefetched = false;
	while (n_rem > 0) {
		int k = weights_experts_acquire(w, il, rem, n_rem, f->count);
		if (k < 0)
			return -1;
		if (!prefetched) { /* this layer's reads are queued: guess the next one's */
			prefetch_next(f, il, n);
			prefetched = true;
		}
		for (int done = 0; done < k;) {
			int nb = 0;
			for (int i = done; i < k; i++) {
				int r = weights_expert_view(w, il, rem[i], false, &f->views[rem[i]]);
				if (r < 0)
					return -1;
				if (r) {
					int t = rem[done + nb];
					rem[done + nb++] = rem[i];
					rem[i] = t;
				}
			}
			if (!nb) {
				if (weights_expert_view(w, il, rem[done], true, &f->views[rem[done]]) < 0)
					return -1;
				nb = 1;
			}
			run_experts(f, l, rem + done, nb, xg, xu);
			for (int i = 0; i < nb; i++)
				weights_expert_unpin(w, il, rem[done + i]);
			done += nb;
		}
		rem += k;
		n_rem -= k;
	}
	return 0;
}

/* Grouped rows [g0, g1) of out: their token's row of xb. ctx: the forward. */
static void gather_range(void *ctx, int64_t g0, int64_t g1)
{
	struct forward *f = ctx;
	int d = f->m->hp.n_embd, k = f->m->hp.n_expert_used;
	for (int64_t g = g0; g < g1; g++)
		memcpy(f->out + (size_t)g * d, f->xb + (size_t)(f->rows[g] / k) * d, (size_t)d * sizeof(float));
}

/* Tokens [t0, t1) of moe: the weighted sum of their experts' outputs, slot
 * by slot. ctx: the forward. */
static void combine_range(void *ctx, int64_t t0, int64_t t1)
{
	struct forward *f = ctx;
	int d = f->m->hp.n_embd, k = f->m->hp.n_expert_used;
	memset(f->moe + (size_t)t0 * d, 0, (size_t)(t1 - t0) * d * sizeof *f->moe);
	for (int64_t t = t0; t < t1; t++)
		for (int s = 0; s < k; s++) {
			int r = (int)t * k + s;
			float *y = f->moe + (size_t)t * d, wt = f->sel_w[r];
			const float *o = f->out + (size_t)f->where[r] * d;
			for (int i = 0; i < d; i++)
				y[i] += wt * o[i];
		}
}

static int ffn_moe(struct forward *f, int il, int n)
{
	const struct hparams *hp = &f->m->hp;
	const struct layer *l = &f->m->layers[il];
	int k = hp->n_expert_used, d = hp->n_embd;
	struct acts a;

	acts_init(f, &a, f->xb, n, d);
	struct mm_task r = task(&l->ffn_gate_inp, acts_for(&a, l->ffn_gate_inp.type), n, f->router);
	mm_run(f->tp, &r, 1);
	route(f, l, n);
	if (f->m->trace)
		rtrace_route(f->m->trace, il, f->sel, n, k);
	f->n_used = group_by_expert(f, n);
	if (n > 1 || f->prompt) /* a prompt chunk: which experts did the prompt need at all? */
		for (int i = 0; i < f->n_used; i++) {
			unsigned char *b = &f->seen[(size_t)il * hp->n_expert + f->used[i]];
			if (!*b) {
				*b = 1;
				for (int p = 0; p < EXP_NPARTS; p++)
					f->pst.experts_needed_bytes += weights_expert_bytes(f->m->w, il, (enum expert_part)p);
			}
		}
	/* Biggest groups first: they have the most work to overlap with the
	 * reads of the rest. */
	for (int i = 1; i < f->n_used; i++)
		for (int j = i; j > 0 && f->count[f->used[j]] > f->count[f->used[j - 1]]; j--) {
			int t = f->used[j];
			f->used[j] = f->used[j - 1];
			f->used[j - 1] = t;
		}

	/* Gather each row's input in grouped order (into out, free until the
	 * down projection); quantize it once for gate and up. One token's rows
	 * are all its input: quantized once, read by every expert. */
	f->one_input = n == 1;
	if (f->one_input) {
		acts_init(f, &a, f->xb, 1, d);
	} else {
		par_rows(row_pool(f, n), (int64_t)n * k, gather_range, f);
		acts_init(f, &a, f->out, (int64_t)n * k, d);
		a.tp = row_pool(f, n); /* n tokens, n * k rows */
	}
	const char *xg = acts_for(&a, weights_expert_type(f->m->w, il, EXP_GATE));
	const char *xu = acts_for(&a, weights_expert_type(f->m->w, il, EXP_UP));
	if (run_waves(f, il, xg, xu, n) < 0) {
		weights_experts_unpin_all(f->m->w, il);
		snprintf(f->err, sizeof f->err, "%s", weights_error(f->m->w));
		return -1;
	}

	/* x += (sum over the token's experts of weight * output [+ shared
	 * experts]), in llama.cpp's order: the experts' sum slot by slot, the
	 * shared experts added to it, the residual last. Another order rounds
	 * the residual stream differently in the last bit, and that flips 8-bit
	 * activation roundings downstream (issue 18). */
	par_rows(row_pool(f, n), n, combine_range, f);
	if (l->ffn_gate_shexp.data) { /* shared experts: an ordinary resident FFN */
		ffn_dense(f, &l->ffn_gate_shexp, &l->ffn_up_shexp, &l->ffn_down_shexp, n);
		add_rows(row_pool(f, n), f->moe, f->out, n, d);
	}
	add_rows(row_pool(f, n), f->x, f->moe, n, d);
	return 0;
}

static int ffn_block(struct forward *f, int il, int n)
{
	const struct hparams *hp = &f->m->hp;
	const struct layer *l = &f->m->layers[il];
	rmsnorm_rows(row_pool(f, n), f->xb, f->x, &l->ffn_norm, n, hp->n_embd, hp->rms_eps);
	if (l->moe)
		return ffn_moe(f, il, n);
	ffn_dense(f, &l->ffn_gate, &l->ffn_up, &l->ffn_down, n);
	add_rows(row_pool(f, n), f->x, f->out, n, hp->n_embd);
	return 0;
}

/* ---- the whole model -------------------------------------------------------- */

static int embed(struct forward *f, const int32_t *tokens, int n)
{
	for (int j = 0; j < n; j++)
		if (weights_row_f32(f->m->w, &f->m->token_embd, tokens[j], f->x + (size_t)j * f->m->hp.n_embd) < 0) {
			snprintf(f->err, sizeof f->err, "%s", weights_error(f->m->w));
			return -1;
		}
	return 0;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static const float *eval(struct forward *f, const int32_t *tokens, int n, bool all_logits)
{
	const struct model *m = f->m;
	const struct hparams *hp = &m->hp;
	int p = f->kv->n_pos;
	if (n < 1 || n > f->max_batch || p + n > f->n_ctx) {
		snprintf(f->err, sizeof f->err, "%d tokens at position %d do not fit (batch %d, context %d)", n, p,
			 f->max_batch, f->n_ctx);
		return NULL;
	}
	for (int j = 0; j < n; j++)
		if (tokens[j] < 0 || tokens[j] >= hp->n_vocab) {
			snprintf(f->err, sizeof f->err, "token id %d is outside the vocabulary (0..%d)", tokens[j],
				 hp->n_vocab - 1);
			return NULL;
		}

	if (m->trace)
		rtrace_call(m->trace, n, n > 1 || f->prompt);
	if (embed(f, tokens, n) < 0)
		return NULL;
	rope_table(f, n, p);
	for (int il = 0; il < hp->n_layer; il++) {
		if (il > 0 && f->stop && f->stop(f->stop_ud)) {
			snprintf(f->err, sizeof f->err, "cancelled at layer %d of %d", il, hp->n_layer);
			kv_truncate(f->kv, p);
			if (m->trace) /* not kept: evaluated again, it is traced again */
				rtrace_drop(m->trace);
			f->stopped = true;
			return NULL;
		}
		if (weights_layer_begin(m->w, il) < 0) {
			snprintf(f->err, sizeof f->err, "%s", weights_error(m->w));
			kv_truncate(f->kv, p);
			return NULL;
		}
		if (f->mla)
			attention_mla(f, il, n, p);
		else
			attention_block(f, il, n, p);
		int rc = ffn_block(f, il, n);
		weights_layer_end(m->w, il);
		if (rc < 0) {
			kv_truncate(f->kv, p);
			return NULL;
		}
	}
	f->kv->n_pos = p + n;

	/* Logits only where asked: the output head is the largest matrix. */
	int first = all_logits ? 0 : n - 1, rows = n - first;
	float *logits = f->logits;
	if (rows > 1) {
		if (!f->logits_all) /* once, for eval's all-positions runs; never per token */
			f->logits_all = xaligned_alloc(64, (size_t)f->max_batch * hp->n_vocab * sizeof(float));
		logits = f->logits_all;
	}
	const float *x = f->x + (size_t)first * hp->n_embd;
	rmsnorm_rows(row_pool(f, rows), f->xb, x, &m->output_norm, rows, hp->n_embd, hp->rms_eps);
	struct acts a;
	acts_init(f, &a, f->xb, rows, hp->n_embd);
	struct mm_task out = task(&m->output, acts_for(&a, m->output.type), rows, logits);
	mm_run(f->tp, &out, 1);
	return logits;
}

const float *forward_eval(struct forward *f, const int32_t *tokens, int n, bool all_logits)
{
	double t0 = now_s();
	struct weights_stats st0, st1;
	bool prompt = n > 1 || f->prompt;
	if (prompt)
		weights_get_stats(f->m->w, &st0);
	f->stopped = false;
	const float *r = eval(f, tokens, n, all_logits);
	f->t_compute += now_s() - t0;
	if (prompt) {
		weights_get_stats(f->m->w, &st1);
		f->pst.bytes_read += st1.bytes_read - st0.bytes_read;
		f->pst.tokens += r ? n : 0;
		f->pst.seconds += now_s() - t0;
	}
	return r;
}

void forward_set_stop(struct forward *f, forward_stop_fn fn, void *ud)
{
	f->stop = fn;
	f->stop_ud = ud;
}

bool forward_stopped(const struct forward *f)
{
	return f->stopped;
}

void forward_prompt_mode(struct forward *f, bool on)
{
	f->prompt = on;
}

void forward_prefill_stats(const struct forward *f, struct forward_prefill_stats *st)
{
	*st = f->pst;
}

double forward_seconds(const struct forward *f)
{
	return f->t_compute;
}


/* Bytes of a quantized activation row of cols elements in any format
 * (Q8_K, the largest, is 292 bytes per 256 floats). */
static size_t act_row_max(int64_t cols)
{
	return (size_t)cols * 5 / 4 + 512;
}

/* Every buffer of the forward pass, sized once: by forward_new to allocate
 * them (f set) and by forward_mem_bytes for the memory plan (f NULL), so
 * the plan counts exactly what is allocated. */
struct sizing {
	struct forward *f;
	uint64_t bytes;
};

static void *alloc_or_count(struct sizing *z, size_t n)
{
	n = n ? n : 1;
	z->bytes += (n + 63) / 64 * 64;
	return z->f ? xaligned_alloc(64, n) : NULL;
}

static void *zalloc_or_count(struct sizing *z, size_t count, size_t size)
{
	void *p = alloc_or_count(z, count * size);
	if (p)
		memset(p, 0, count * size);
	return p;
}

static float *alloc_or_count_f32(struct sizing *z, size_t n)
{
	return alloc_or_count(z, n * sizeof(float));
}

static void size_buffers(struct sizing *z, const struct model *m, int n_ctx, int max_batch, int n_threads)
{
	const struct hparams *hp = &m->hp;
	struct forward dummy = {0}, *f = z->f ? z->f : &dummy;
	int kd = hp->n_head_kv * hp->head_dim_k, vd = hp->n_head_kv * hp->head_dim_v;
	f->att_dk = hp->head_dim_k;
	f->att_dv = hp->head_dim_v;
	f->mla = hp->kv_lora_rank > 0;
	if (f->mla) { /* the cache holds latent + rope key; V is read from the same rows */
		kd = hp->kv_lora_rank + hp->n_rot;
		vd = 0;
		f->att_dk = kd;
		f->att_dv = hp->kv_lora_rank;
	}
	uint32_t tk = m->kv_type_k, tv = m->kv_type_v; /* checked at load (model.c) */
	if (z->f)
		f->kv = kv_new(hp->n_layer, n_ctx, kd, vd, tk, tv);
	z->bytes += kv_bytes_for(hp->n_layer, n_ctx, kd, vd, tk, tv);
	f->att_kh = (size_t)qtype_row_bytes(tk, (uint64_t)f->att_dk);
	f->att_vh = (size_t)qtype_row_bytes(tv, (uint64_t)f->att_dv);

	size_t B = (size_t)max_batch, k = (size_t)MAX(hp->n_expert_used, 1);
	size_t ff = (size_t)MAX((size_t)hp->n_ff, k * (size_t)hp->n_ff_exp);
	ff = MAX(ff, (size_t)hp->n_ff_exp * (size_t)hp->n_expert_shared);
	size_t qd = (size_t)hp->n_head * (size_t)MAX(hp->head_dim_k, hp->head_dim_k_mla);
	size_t od = (size_t)hp->n_head * (size_t)MAX(hp->head_dim_v, hp->head_dim_v_mla);
	size_t wide = MAX(MAX((size_t)hp->n_embd, od), MAX(ff, (size_t)hp->q_lora_rank));
	f->x = alloc_or_count_f32(z, B * hp->n_embd);
	f->xb = alloc_or_count_f32(z, B * hp->n_embd);
	f->q = alloc_or_count_f32(z, B * qd);
	f->k = alloc_or_count_f32(z, B * kd);
	f->v = alloc_or_count_f32(z, B * MAX(vd, 1));
	f->attn = alloc_or_count_f32(z, B * hp->n_head * f->att_dv);
	f->hb = alloc_or_count_f32(z, B * ff);
	f->hb2 = alloc_or_count_f32(z, B * ff);
	f->out = alloc_or_count_f32(z, B * k * hp->n_embd);
	f->logits = alloc_or_count_f32(z, hp->n_vocab); /* more rows only when asked (forward_eval) */
	f->rope_cs = alloc_or_count_f32(z, B * hp->n_rot);
	for (int i = 0; i < ACT_SLOTS; i++)
		f->act_buf[i] = alloc_or_count(z, B * k * act_row_max((int64_t)wide));
	/* attend()'s scratch: the query (dk floats), the running sum (dv
	 * floats: F16 or F32), a dequantized V row (dv) and the query in Q8_0;
	 * attend_group()'s: ATTN_GMAX queries and F16 sums */
	size_t one = (size_t)f->att_dk + 2 * (size_t)f->att_dv + (f->att_kh + 3) / 4;
	size_t group = ATTN_GMAX * ((size_t)f->att_dk + (size_t)f->att_dv);
	f->att_stride = (MAX(one, group) + 15) & ~(size_t)15;
	f->att_scratch = alloc_or_count_f32(z, f->att_stride * (size_t)n_threads);
	if (f->mla) {
		f->qlora = alloc_or_count_f32(z, B * (size_t)MAX(hp->q_lora_rank, 1));
		f->qa = alloc_or_count_f32(z, B * hp->n_head * (size_t)f->att_dk);
		f->attn2 = alloc_or_count_f32(z, B * od);
		/* per_head copies rows even for float activations: 4 bytes a column
		 * bounds every activation format */
		size_t cols = (size_t)MAX(hp->kv_lora_rank, hp->head_dim_k_mla);
		f->head_act = alloc_or_count(z, B * hp->n_head * (4 * cols + 64));
		f->head_w = zalloc_or_count(z, (size_t)hp->n_head, sizeof *f->head_w);
		f->head_tasks = zalloc_or_count(z, (size_t)hp->n_head, sizeof *f->head_tasks);
	}
	if (hp->n_expert) {
		size_t ne = (size_t)hp->n_expert;
		f->router = alloc_or_count_f32(z, B * ne);
		f->moe = alloc_or_count_f32(z, B * hp->n_embd);
		f->selp = alloc_or_count_f32(z, ne);
		f->gscore = alloc_or_count_f32(z, ne);
		f->gkeep = zalloc_or_count(z, ne, sizeof *f->gkeep);
		f->sel = zalloc_or_count(z, B * k, sizeof *f->sel);
		f->sel_w = alloc_or_count_f32(z, B * k);
		f->count = zalloc_or_count(z, ne, sizeof *f->count);
		f->first = zalloc_or_count(z, 2 * ne, sizeof *f->first);
		f->rows = zalloc_or_count(z, B * k, sizeof *f->rows);
		f->where = zalloc_or_count(z, B * k, sizeof *f->where);
		f->used = zalloc_or_count(z, ne, sizeof *f->used);
		f->views = zalloc_or_count(z, ne, sizeof *f->views);
		f->tasks = zalloc_or_count(z, 2 * ne, sizeof *f->tasks);
		f->pf_x = alloc_or_count_f32(z, PREFETCH_ROWS * (size_t)hp->n_embd);
		f->pf_router = alloc_or_count_f32(z, PREFETCH_ROWS * ne);
		f->pf_sel = zalloc_or_count(z, PREFETCH_ROWS * k, sizeof *f->pf_sel);
		f->pf_w = alloc_or_count_f32(z, PREFETCH_ROWS * k);
		f->pf_list = zalloc_or_count(z, ne, sizeof *f->pf_list);
		f->seen = zalloc_or_count(z, (size_t)hp->n_layer * ne, 1);
	}
}

static int default_ctx(const struct model *m, int n_ctx)
{
	return n_ctx > 0 ? n_ctx : m->hp.n_ctx_train > 0 ? m->hp.n_ctx_train : 4096;
}

uint64_t forward_mem_bytes(const struct model *m, int n_ctx, int max_batch, int n_threads)
{
	struct sizing z = {0};
	n_ctx = default_ctx(m, n_ctx);
	size_buffers(&z, m, n_ctx, max_batch > 0 ? MIN(max_batch, n_ctx) : 1, MAX(n_threads, 1));
	return z.bytes;
}

struct forward *forward_new(const struct model *m, struct threadpool *tp, int n_ctx, int max_batch)
{
	struct forward *f = xcalloc(1, sizeof *f);
	f->m = m;
	f->tp = tp;
	f->n_ctx = default_ctx(m, n_ctx);
	f->max_batch = max_batch > 0 ? MIN(max_batch, f->n_ctx) : 1;
#ifdef HEFT_X86
	/* Same switch as the kernels: HEFT_SIMD=none keeps the plain C path. */
	use_f16c = cpu_features()->can_avx2 && strcmp(quant_init(), "none") != 0;
	silu_kind = !use_f16c ? SILU_LIBM : strcmp(quant_init(), "avx2") == 0 ? SILU_AVX2 : SILU_AVX512;
	struct rows_kernels rk = {0}; /* built aside: another forward may be running */
	if (use_f16c && kernels_rows_avx2_install(&rk) && silu_kind == SILU_AVX512)
		kernels_rows_avx512_install(&rk);
	rowk = rk;
#elif defined(HEFT_NEON_F16)
	/* The NEON kernels round as the AVX-512 ones (issue 20): so does SiLU. */
	use_f16c = strcmp(quant_init(), "none") != 0;
	silu_kind = use_f16c ? SILU_AVX512 : SILU_LIBM;
#endif
	struct sizing z = {.f = f};
	size_buffers(&z, m, f->n_ctx, f->max_batch, threadpool_size(tp));
	return f;
}

void forward_free(struct forward *f)
{
	if (!f)
		return;
	kv_free(f->kv);
	void *bufs[] = {f->x, f->xb, f->q, f->k, f->v, f->attn, f->hb, f->hb2, f->out, f->logits, f->rope_cs,
			f->att_scratch, f->router, f->moe, f->sel, f->sel_w, f->count, f->first, f->rows, f->where, f->used,
			f->views, f->tasks, f->selp, f->gscore, f->gkeep, f->qlora, f->qa, f->attn2, f->head_act,
			f->head_w, f->head_tasks, f->pf_x, f->pf_router, f->pf_sel, f->pf_w, f->pf_list, f->seen,
			f->logits_all};
	for (size_t i = 0; i < ARRAY_LEN(bufs); i++)
		free(bufs[i]);
	for (int i = 0; i < ACT_SLOTS; i++)
		free(f->act_buf[i]);
	free(f);
}

const char *forward_error(const struct forward *f)
{
	return f->err;
}

int forward_n_ctx(const struct forward *f)
{
	return f->n_ctx;
}

int forward_max_batch(const struct forward *f)
{
	return f->max_batch;
}

int forward_n_pos(const struct forward *f)
{
	return f->kv->n_pos;
}

void forward_truncate(struct forward *f, int n_pos)
{
	kv_truncate(f->kv, n_pos);
}

struct kv_cache *forward_kv(const struct forward *f)
{
	return f->kv;
}
