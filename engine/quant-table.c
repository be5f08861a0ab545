/* quant-table.c - the type table: one row per ggml type id, everything
 * heft knows about a type in one place.
 *
 * A row gives the type's name, block size, bytes per block, its reference
 * kernels (quant-ref.h), the activation format its dot product consumes,
 * and what synth needs to write it. The SIMD installers (declared in
 * kernels.h) replace kernel pointers of a copy of these rows at start-
 * up (quant_init); the rows themselves never change. Types a GGUF file may
 * hold but heft has no kernels for keep only their sizes, so that any file
 * can be inspected. */
#include "quant.h"
#include "quant-lowbit.h"
#include "quant-ref.h"
#include "synth-blocks.h"

#include <string.h>
#include <strings.h>

/* The kernel fields of a type with a dequantizer and a dot product. */
#define REF(n) .to_float = qref_to_float_##n, .vec_dot = qref_vec_dot_##n

static const struct qtype rows[GGML_TYPE_COUNT] = {
	/* Element types: activations are F32 rows, synth writes them from floats. */
	[GGML_F32] = {.name = "F32", .blck = 1, .bytes = 4, .act_type = GGML_F32, REF(f32),
		      .from_float = qref_from_float_f32, .ftype = 0},
	[GGML_F16] = {.name = "F16", .blck = 1, .bytes = 2, .act_type = GGML_F32, REF(f16),
		      .from_float = qref_from_float_f16, .ftype = 1},
	[GGML_BF16] = {.name = "BF16", .blck = 1, .bytes = 2, .act_type = GGML_F32, REF(bf16),
		       .from_float = qref_from_float_bf16, .ftype = 32},

	/* Blocks of 32 with one scale, against Q8_0 activations. */
	[GGML_Q4_0] = {.name = "Q4_0", .blck = 32, .bytes = sizeof(struct block_q4_0), .act_type = GGML_Q8_0,
		       REF(q4_0), .from_float = qref_from_float_q4_0, .synth_fix = synth_fix_q4_0,
		       .fallback = GGML_F16, .ftype = 2},
	[GGML_Q5_0] = {.name = "Q5_0", .blck = 32, .bytes = sizeof(struct block_q5_0), .act_type = GGML_Q8_0,
		       REF(q5_0), .synth_fix = synth_fix_q5_0, .fallback = GGML_F16, .ftype = 8},
	[GGML_Q8_0] = {.name = "Q8_0", .blck = QK8_0, .bytes = sizeof(struct block_q8_0), .act_type = GGML_Q8_0,
		       REF(q8_0), .from_float = qref_from_float_q8_0, .synth_fix = synth_fix_q8_0,
		       .fallback = GGML_F16, .ftype = 7},
	[GGML_IQ4_NL] = {.name = "IQ4_NL", .blck = 32, .bytes = sizeof(struct block_iq4_nl), .act_type = GGML_Q8_0,
			 REF(iq4_nl), .synth_fix = synth_fix_iq4_nl, .fallback = GGML_F16, .ftype = 25},
	[GGML_MXFP4] = {.name = "MXFP4", .blck = QK_MXFP4, .bytes = sizeof(struct block_mxfp4),
			.act_type = GGML_Q8_0, REF(mxfp4), .synth_fix = synth_fix_mxfp4, .fallback = GGML_F16,
			.ftype = 38},

	/* Blocks of 32 with a scale and a min, against Q8_1 activations. */
	[GGML_Q4_1] = {.name = "Q4_1", .blck = 32, .bytes = sizeof(struct block_q4_1), .act_type = GGML_Q8_1,
		       REF(q4_1), .synth_fix = synth_fix_q4_1, .fallback = GGML_F16, .ftype = 3},
	[GGML_Q5_1] = {.name = "Q5_1", .blck = 32, .bytes = sizeof(struct block_q5_1), .act_type = GGML_Q8_1,
		       REF(q5_1), .synth_fix = synth_fix_q5_1, .fallback = GGML_F16, .ftype = 9},

	/* Super-blocks of 256, against Q8_K activations. A row of 128 (e.g.
	 * attn_k_b) falls back as llama.cpp's quantizer does. */
	[GGML_Q2_K] = {.name = "Q2_K", .blck = QK_K, .bytes = sizeof(struct block_q2_K), .act_type = GGML_Q8_K,
		       REF(q2_K), .synth_fix = synth_fix_q2_K, .fallback = GGML_IQ4_NL, .ftype = 10},
	[GGML_Q3_K] = {.name = "Q3_K", .blck = QK_K, .bytes = sizeof(struct block_q3_K), .act_type = GGML_Q8_K,
		       REF(q3_K), .synth_fix = synth_fix_q3_K, .fallback = GGML_IQ4_NL, .ftype = 11},
	[GGML_Q4_K] = {.name = "Q4_K", .blck = QK_K, .bytes = sizeof(struct block_q4_K), .act_type = GGML_Q8_K,
		       REF(q4_K), .synth_fix = synth_fix_q4_K, .fallback = GGML_Q5_0, .ftype = 14},
	[GGML_Q5_K] = {.name = "Q5_K", .blck = QK_K, .bytes = sizeof(struct block_q5_K), .act_type = GGML_Q8_K,
		       REF(q5_K), .synth_fix = synth_fix_q5_K, .fallback = GGML_Q5_1, .ftype = 16},
	[GGML_Q6_K] = {.name = "Q6_K", .blck = QK_K, .bytes = sizeof(struct block_q6_K), .act_type = GGML_Q8_K,
		       REF(q6_K), .synth_fix = synth_fix_q6_K, .fallback = GGML_Q8_0, .ftype = 18},
	[GGML_IQ4_XS] = {.name = "IQ4_XS", .blck = QK_K, .bytes = sizeof(struct block_iq4_xs),
			 .act_type = GGML_Q8_K, REF(iq4_xs), .synth_fix = synth_fix_d_first,
			 .fallback = GGML_IQ4_NL, .ftype = 30},
	[GGML_IQ2_XXS] = {.name = "IQ2_XXS", .blck = QK_K, .bytes = sizeof(struct block_iq2_xxs),
			  .act_type = GGML_Q8_K, REF(iq2_xxs), .synth_fix = synth_fix_d_first,
			  .fallback = GGML_IQ4_NL, .ftype = 19},
	[GGML_IQ2_XS] = {.name = "IQ2_XS", .blck = QK_K, .bytes = sizeof(struct block_iq2_xs),
			 .act_type = GGML_Q8_K, REF(iq2_xs), .synth_fix = synth_fix_d_first,
			 .fallback = GGML_IQ4_NL, .ftype = 20},
	[GGML_IQ2_S] = {.name = "IQ2_S", .blck = QK_K, .bytes = sizeof(struct block_iq2_s), .act_type = GGML_Q8_K,
			REF(iq2_s), .synth_fix = synth_fix_d_first, .fallback = GGML_IQ4_NL, .ftype = 28},
	[GGML_IQ3_XXS] = {.name = "IQ3_XXS", .blck = QK_K, .bytes = sizeof(struct block_iq3_xxs),
			  .act_type = GGML_Q8_K, REF(iq3_xxs), .synth_fix = synth_fix_d_first,
			  .fallback = GGML_IQ4_NL, .ftype = 23},
	[GGML_IQ3_S] = {.name = "IQ3_S", .blck = QK_K, .bytes = sizeof(struct block_iq3_s), .act_type = GGML_Q8_K,
			REF(iq3_s), .synth_fix = synth_fix_d_first, .fallback = GGML_IQ4_NL, .ftype = 26},
	[GGML_IQ1_S] = {.name = "IQ1_S", .blck = QK_K, .bytes = sizeof(struct block_iq1_s), .act_type = GGML_Q8_K,
			REF(iq1_s), .synth_fix = synth_fix_d_first, .fallback = GGML_IQ4_NL, .ftype = 24},
	[GGML_IQ1_M] = {.name = "IQ1_M", .blck = QK_K, .bytes = sizeof(struct block_iq1_m), .act_type = GGML_Q8_K,
			REF(iq1_m), .synth_fix = synth_fix_iq1_m, .fallback = GGML_IQ4_NL, .ftype = 31},
	[GGML_TQ1_0] = {.name = "TQ1_0", .blck = QK_K, .bytes = sizeof(struct block_tq1_0), .act_type = GGML_Q8_K,
			REF(tq1_0), .synth_fix = synth_fix_tq1_0, .fallback = GGML_Q4_0, .ftype = 36},
	[GGML_TQ2_0] = {.name = "TQ2_0", .blck = QK_K, .bytes = sizeof(struct block_tq2_0), .act_type = GGML_Q8_K,
			REF(tq2_0), .synth_fix = synth_fix_tq2_0, .fallback = GGML_Q4_0, .ftype = 37},

	/* Activation formats: a quantizer and a dequantizer (for tests), no dot
	 * product: they are never weights. */
	[GGML_Q8_1] = {.name = "Q8_1", .blck = QK8_0, .bytes = sizeof(struct block_q8_1), .act_type = GGML_Q8_1,
		       .to_float = qref_to_float_q8_1, .from_float = qref_from_float_q8_1, .ftype = -1},
	[GGML_Q8_K] = {.name = "Q8_K", .blck = QK_K, .bytes = sizeof(struct block_q8_K), .act_type = GGML_Q8_K,
		       .to_float = qref_to_float_q8_K, .from_float = qref_from_float_q8_K, .ftype = -1},

	/* Sizes only: no kernels. */
	[GGML_I8] = {.name = "I8", .blck = 1, .bytes = 1, .ftype = -1},
	[GGML_I16] = {.name = "I16", .blck = 1, .bytes = 2, .ftype = -1},
	[GGML_I32] = {.name = "I32", .blck = 1, .bytes = 4, .ftype = -1},
	[GGML_I64] = {.name = "I64", .blck = 1, .bytes = 8, .ftype = -1},
	[GGML_F64] = {.name = "F64", .blck = 1, .bytes = 8, .ftype = -1},
};

void quant_table_ref(struct qtype t[GGML_TYPE_COUNT])
{
	memcpy(t, rows, sizeof rows);
}

bool qtype_by_name(const char *name, uint32_t *id)
{
	for (uint32_t t = 0; t < GGML_TYPE_COUNT; t++) {
		if (rows[t].name && !strcasecmp(name, rows[t].name)) {
			*id = t;
			return true;
		}
	}
	return false;
}
