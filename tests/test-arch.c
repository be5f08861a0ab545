/* test-arch.c - an architecture is one row: a made-up variant added here,
 * and nowhere else, is written by synth, loaded and evaluated.
 *
 * The variant is qwen3moe with Hugging Face style tensor names and its own
 * GGUF name. synth writes it; the test copies the file's bytes under
 * qwen3moe's names (a plain rename of tensors and keys) and checks that the
 * two load to the same registry classes and give bitwise the same logits,
 * so the variant's names were honoured by the writer, the loader and the
 * weights registry alike. */
#include "arch.h"
#include "commands.h"
#include "forward.h"
#include "gguf-write.h"
#include "gguf.h"
#include "model.h"
#include "test.h"
#include "threadpool.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define VARIANT "qwen3moe-hf"

static const struct {
	enum trole role;
	const char *name;
} renames[] = {
	{T_TOKEN_EMBD, "embed_tokens.weight"},
	{T_OUTPUT_NORM, "final_norm.weight"},
	{T_OUTPUT, "lm_head.weight"},
	{T_ATTN_NORM, "blk.%d.input_layernorm.weight"},
	{T_ATTN_Q, "blk.%d.self_attn.q_proj.weight"},
	{T_ATTN_K, "blk.%d.self_attn.k_proj.weight"},
	{T_ATTN_V, "blk.%d.self_attn.v_proj.weight"},
	{T_ATTN_OUT, "blk.%d.self_attn.o_proj.weight"},
	{T_ATTN_Q_NORM, "blk.%d.self_attn.q_layernorm.weight"},
	{T_ATTN_K_NORM, "blk.%d.self_attn.k_layernorm.weight"},
	{T_FFN_NORM, "blk.%d.post_attention_layernorm.weight"},
	{T_FFN_GATE, "blk.%d.mlp.gate_proj.weight"},
	{T_FFN_UP, "blk.%d.mlp.up_proj.weight"},
	{T_FFN_DOWN, "blk.%d.mlp.down_proj.weight"},
	{T_ROUTER, "blk.%d.mlp.router.weight"},
	{T_GATE_EXPS, "blk.%d.mlp.experts.gate_proj.weight"},
	{T_UP_EXPS, "blk.%d.mlp.experts.up_proj.weight"},
	{T_DOWN_EXPS, "blk.%d.mlp.experts.down_proj.weight"},
};

static struct arch variant;

static void register_variant(void)
{
	variant = *arch_find("qwen3moe");
	variant.name = VARIANT;
	variant.gguf_name = VARIANT;
	for (size_t i = 0; i < ARRAY_LEN(renames); i++)
		variant.t[renames[i].role].name = renames[i].name;
	arch_register(&variant);
}

static int synth(const char *out)
{
	char *argv[] = {"synth", "--arch", VARIANT, "--type", "Q8_0", "--layers", "3", "--seed", "7", "-q",
			"-o", (char *)out, NULL};
	return cmd_synth((int)ARRAY_LEN(argv) - 1, argv);
}

/* The layer number in a tensor name, or -1. */
/* Copy src to dst with qwen3moe's key prefix and tensor names; data bytes
 * unchanged. */
static int rename_to_base(const char *src, const char *dst)
{
	struct gguf_error ge;
	struct gguf *g = gguf_open(src, &ge);
	if (!g) {
		gguf_error_print(&ge);
		return -1;
	}
	const struct arch *base = arch_find("qwen3moe");
	struct gguf_writer *w = gguf_writer_new();
	size_t plen = strlen(VARIANT);
	for (size_t i = 0; i < g->n_kv; i++) {
		const char *k = g->kv[i].key;
		char key[256];
		if (!strcmp(k, "general.architecture")) {
			gguf_writer_kv_str(w, k, base->gguf_name);
			continue;
		}
		if (!strncmp(k, VARIANT ".", plen + 1))
			snprintf(key, sizeof key, "%s.%s", base->gguf_name, k + plen + 1);
		else
			snprintf(key, sizeof key, "%s", k);
		gguf_writer_kv_value(w, key, &g->kv[i].val);
	}
	int rc = 0;
	for (size_t i = 0; i < g->n_tensors; i++) {
		const struct gguf_tensor *t = &g->tensors[i];
		int il;
		int r = arch_tensor_role_at(&variant, t->name, &il);
		CHECKF(r >= 0, "%s: no role in the variant row", t->name);
		CHECKF(arch_tensor_role(base, t->name) < 0, "%s: synth wrote a qwen3moe name", t->name);
		char name[128];
		arch_tensor_name(base, r < 0 ? T_ATTN_Q : (enum trole)r, il, name, sizeof name);
		if (gguf_writer_add_tensor(w, name, t->type, t->n_dims, t->ne) < 0)
			rc = -1;
	}
	if (rc == 0)
		rc = gguf_writer_begin(w, dst);
	for (size_t i = 0; rc == 0 && i < g->n_tensors; i++) {
		const struct gguf_tensor *t = &g->tensors[i];
		void *buf = xmalloc(t->nbytes);
		rc = gguf_read_tensor(g, t, 0, buf, t->nbytes) < 0 ? -1 : gguf_writer_data(w, buf, t->nbytes);
		free(buf);
	}
	if (rc == 0)
		rc = gguf_writer_finish(w);
	gguf_writer_free(w);
	gguf_close(g);
	return rc;
}

enum { N_PROMPT = 6, N_DECODE = 4 };

/* Logits after the prompt and after each greedy step, into out. */
static struct model *eval(const char *path, float *out, int n_vocab)
{
	char err[1024];
	struct model *m = model_load(path, err, sizeof err);
	if (!m) {
		fprintf(stderr, "load %s: %s\n", path, err);
		return NULL;
	}
	CHECK(m->hp.n_vocab == n_vocab);
	struct threadpool *tp = threadpool_new(2);
	struct forward *f = forward_new(m, tp, 64, N_PROMPT);
	int32_t prompt[N_PROMPT] = {72, 101, 102, 116, 33, 10};
	const float *l = forward_eval(f, prompt, N_PROMPT, false);
	for (int i = 0; l && i <= N_DECODE; i++) {
		memcpy(out + (size_t)i * n_vocab, l, (size_t)n_vocab * sizeof *out);
		int32_t best = 0;
		for (int v = 1; v < n_vocab; v++)
			if (l[v] > l[best])
				best = v;
		if (i < N_DECODE)
			l = forward_eval(f, &best, 1, false);
	}
	CHECK(l != NULL);
	forward_free(f);
	threadpool_free(tp);
	return m;
}

int main(void)
{
	heft_progname = "test-arch";
	register_variant();
	CHECK(arch_find(VARIANT) == &variant && arch_find_gguf(VARIANT) == &variant);
	CHECK(arch_find_gguf("llama") == arch_find("llama")); /* mixtral is an alias, not the loader's row */
	char names[256];
	CHECK(strstr(arch_gguf_names(names, sizeof names), VARIANT) != NULL);
	/* synth's usage and messages list the rows: an added MoE row is among
	 * the MoE ones, llama (dense) is not */
	arch_names(names, sizeof names, AF_MOE, "|");
	CHECK(strstr(names, VARIANT) != NULL && strstr(names, "qwen3moe|") != NULL);
	CHECK(strncmp(names, "llama|", 6) != 0 && strstr(names, "|llama|") == NULL);
	int il;
	const struct arch *q3 = arch_find("qwen3moe");
	CHECK(arch_tensor_role_at(q3, "blk.12.ffn_up_exps.weight", &il) == T_UP_EXPS && il == 12);
	CHECK(arch_role_is_expert(T_UP_EXPS) && !arch_role_is_expert(T_UP_SHEXP) && !arch_role_is_expert(-1));
	CHECK(arch_tensor_role_at(q3, "output_norm.weight", &il) == T_OUTPUT_NORM && il == -1);
	CHECK(arch_tensor_role_at(q3, "blk.1.ffn_up_exps.weight.x", &il) < 0 && il == -1);

	char dir[] = "/tmp/heft-test-arch-XXXXXX";
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	char *vpath, *bpath;
	xasprintf(&vpath, "%s/variant.gguf", dir);
	xasprintf(&bpath, "%s/base.gguf", dir);
	CHECK(synth(vpath) == 0);
	CHECK(rename_to_base(vpath, bpath) == 0);

	enum { V = 512 }; /* synth's default vocabulary */
	float *lv = xcalloc((size_t)(N_DECODE + 1) * V, sizeof *lv), *lb = xcalloc((size_t)(N_DECODE + 1) * V, sizeof *lb);
	struct model *mv = test_failures ? NULL : eval(vpath, lv, V);
	struct model *mb = mv ? eval(bpath, lb, V) : NULL;
	CHECK(mv && mb);
	if (mv && mb) {
		CHECK(mv->arch == &variant && mb->arch == arch_find("qwen3moe"));
		CHECK(memcmp(lv, lb, (size_t)(N_DECODE + 1) * V * sizeof *lv) == 0);
		float spread = 0;
		for (int v = 0; v < V; v++)
			spread = MAX(spread, lv[v] - lv[0] > 0 ? lv[v] - lv[0] : lv[0] - lv[v]);
		CHECKF(spread > 0.01f, "logits are flat (%g): the comparison proves nothing", spread);
		const struct weights_plan *pv = weights_get_plan(mv->w), *pb = weights_get_plan(mb->w);
		for (int c = 0; c < WC_COUNT; c++)
			CHECKF(pv->class_bytes[c] == pb->class_bytes[c], "class %s: %llu vs %llu bytes", wclass_names[c],
			       (unsigned long long)pv->class_bytes[c], (unsigned long long)pb->class_bytes[c]);
		CHECK(pv->class_bytes[WC_ROUTER] > 0 && pv->class_bytes[WC_NORM] > 0);
	}
	model_free(mv);
	model_free(mb);
	unlink(vpath);
	unlink(bpath);
	rmdir(dir);
	free(vpath);
	free(bpath);
	free(lv);
	free(lb);
	return test_done("test-arch");
}
