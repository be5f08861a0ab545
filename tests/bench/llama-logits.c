/* llama-logits.c - the peer's logits (and, on request, its intermediate
 * tensors) in the fixtures' .ref format, so that heft and llama.cpp are
 * compared by the same tools (tests/refcmp). Built by llama-peer.sh against
 * the libllama it builds; not part of heft's build.
 *
 *	llama-logits [-nr] [-t THREADS] [-g GREEDY] [-d DUMPDIR] MODEL T0 T1 ...
 *
 * Evaluates the tokens in one batch from position 0 (logits at every
 * position), then GREEDY argmax steps one token at a time, and prints the
 * .ref file on stdout. -nr loads the weights without repacking (llama.cpp's
 * --no-repack: its plain CPU path). -d writes every F32 tensor of the
 * batch's graph as DUMPDIR/NAME.f32 (raw floats, contiguous rows; a tensor
 * name that repeats gets .1, .2, ...) and its shape as DUMPDIR/NAME.shape:
 * the intermediate results to compare heft's with. */
#include "ggml-backend.h"
#include "ggml.h"
#include "llama.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct dump {
	const char *dir;
	int seq; /* tensors written so far */
	int on;
};

static void quiet(enum ggml_log_level level, const char *text, void *ud)
{
	(void)ud;
	if (level >= GGML_LOG_LEVEL_ERROR)
		fputs(text, stderr);
}

/* The eval callback: asked first whether a tensor is wanted, then called
 * with its data computed. */
static bool on_tensor(struct ggml_tensor *t, bool ask, void *ud)
{
	struct dump *d = ud;
	if (!d->on || t->type != GGML_TYPE_F32)
		return false;
	if (ask)
		return true;
	char path[4096];
	size_t n = (size_t)ggml_nelements(t);
	float *buf = malloc(n * sizeof *buf);
	if (!buf)
		return false;
	if (ggml_is_contiguous(t)) {
		ggml_backend_tensor_get(t, buf, 0, n * sizeof *buf);
	} else { /* a view: copy row by row */
		size_t at = 0;
		for (int64_t i3 = 0; i3 < t->ne[3]; i3++)
			for (int64_t i2 = 0; i2 < t->ne[2]; i2++)
				for (int64_t i1 = 0; i1 < t->ne[1]; i1++) {
					size_t off = (size_t)(i1 * t->nb[1] + i2 * t->nb[2] + i3 * t->nb[3]);
					for (int64_t i0 = 0; i0 < t->ne[0]; i0++)
						ggml_backend_tensor_get(t, buf + at++, off + (size_t)(i0 * t->nb[0]),
									4);
				}
	}
	snprintf(path, sizeof path, "%s/%04d-%s.f32", d->dir, d->seq, t->name);
	FILE *f = fopen(path, "wb");
	if (f) {
		fwrite(buf, sizeof *buf, n, f);
		fclose(f);
	}
	snprintf(path, sizeof path, "%s/%04d-%s.shape", d->dir, d->seq, t->name);
	f = fopen(path, "w");
	if (f) {
		fprintf(f, "%lld %lld %lld %lld %s\n", (long long)t->ne[0], (long long)t->ne[1],
			(long long)t->ne[2], (long long)t->ne[3], ggml_op_desc(t));
		fclose(f);
	}
	d->seq++;
	free(buf);
	return true;
}

static bool no_progress(float p, void *ud)
{
	(void)p;
	(void)ud;
	return true;
}

static int argmax(const float *x, int n)
{
	int b = 0;
	for (int i = 1; i < n; i++)
		if (x[i] > x[b])
			b = i;
	return b;
}

static float margin(const float *x, int n)
{
	int b = argmax(x, n);
	float second = -INFINITY;
	for (int i = 0; i < n; i++)
		if (i != b && x[i] > second)
			second = x[i];
	return x[b] - second;
}

static void usage(void)
{
	fprintf(stderr, "usage: llama-logits [-nr] [-t THREADS] [-g GREEDY] [-d DUMPDIR] MODEL T0 T1 ...\n");
	exit(2);
}

int main(int argc, char **argv)
{
	int threads = 2, greedy = 8, repack = 1, i = 1;
	struct dump dump = {0};
	for (; i < argc && argv[i][0] == '-'; i++) {
		if (!strcmp(argv[i], "-nr"))
			repack = 0;
		else if (!strcmp(argv[i], "-t") && i + 1 < argc)
			threads = atoi(argv[++i]);
		else if (!strcmp(argv[i], "-g") && i + 1 < argc)
			greedy = atoi(argv[++i]);
		else if (!strcmp(argv[i], "-d") && i + 1 < argc)
			dump.dir = argv[++i];
		else
			usage();
	}
	if (argc - i < 2)
		usage();
	const char *path = argv[i++];
	int n = argc - i;
	llama_log_set(quiet, NULL);
	llama_backend_init();

	struct llama_model_params mp = llama_model_default_params();
	mp.use_extra_bufts = repack;
	mp.n_gpu_layers = 0;
	mp.progress_callback = no_progress; /* not the loader's dots on stderr */
	struct llama_model *model = llama_model_load_from_file(path, mp);
	if (!model) {
		fprintf(stderr, "llama-logits: cannot load %s\n", path);
		return 1;
	}
	struct llama_context_params cp = llama_context_default_params();
	cp.n_ctx = (uint32_t)(n + greedy + 16);
	cp.n_batch = cp.n_ubatch = (uint32_t)n;
	cp.n_threads = cp.n_threads_batch = threads;
	cp.cb_eval = on_tensor;
	cp.cb_eval_user_data = &dump;
	struct llama_context *ctx = llama_init_from_model(model, cp);
	if (!ctx) {
		fprintf(stderr, "llama-logits: cannot create a context\n");
		return 1;
	}
	int nv = llama_vocab_n_tokens(llama_model_get_vocab(model));

	struct llama_batch b = llama_batch_init(n, 0, 1);
	for (int j = 0; j < n; j++) {
		b.token[j] = atoi(argv[i + j]);
		b.pos[j] = j;
		b.n_seq_id[j] = 1;
		b.seq_id[j][0] = 0;
		b.logits[j] = 1;
	}
	b.n_tokens = n;
	dump.on = dump.dir != NULL;
	if (llama_decode(ctx, b)) {
		fprintf(stderr, "llama-logits: decode failed\n");
		return 1;
	}
	dump.on = 0;
	float *all = malloc((size_t)n * (size_t)nv * sizeof *all);
	for (int j = 0; j < n; j++)
		memcpy(all + (size_t)j * nv, llama_get_logits_ith(ctx, j), (size_t)nv * sizeof *all);

	int *g = malloc((size_t)(greedy + 1) * sizeof *g);
	float *gm = malloc((size_t)(greedy + 1) * sizeof *gm);
	const float *last = all + (size_t)(n - 1) * nv;
	for (int s = 0; s < greedy; s++) {
		g[s] = argmax(last, nv);
		gm[s] = margin(last, nv);
		if (s + 1 == greedy)
			break;
		struct llama_batch one = llama_batch_init(1, 0, 1);
		one.token[0] = g[s];
		one.pos[0] = n + s;
		one.n_seq_id[0] = 1;
		one.seq_id[0][0] = 0;
		one.logits[0] = 1;
		one.n_tokens = 1;
		if (llama_decode(ctx, one)) {
			fprintf(stderr, "llama-logits: decode failed at greedy step %d\n", s);
			return 1;
		}
		llama_batch_free(one);
		last = llama_get_logits_ith(ctx, 0);
	}

	printf("# llama.cpp %s, %s, %d threads\n", repack ? "repacked weights" : "plain (no repack)",
	       llama_print_system_info(), threads);
	const char *base = strrchr(path, '/');
	printf("model %s\n", base ? base + 1 : path);
	printf("tokens %d", n);
	for (int j = 0; j < n; j++)
		printf(" %d", b.token[j]);
	printf("\ngreedy %d", greedy);
	for (int s = 0; s < greedy; s++)
		printf(" %d", g[s]);
	printf("\ngreedy_margin %d", greedy);
	for (int s = 0; s < greedy; s++)
		printf(" %.6g", gm[s]);
	printf("\nlogits %d %d\n", n, nv);
	for (int j = 0; j < n; j++)
		for (int v = 0; v < nv; v++)
			printf("%.9g%c", all[(size_t)j * nv + v], v + 1 == nv ? '\n' : ' ');
	llama_batch_free(b);
	free(all);
	free(g);
	free(gm);
	llama_free(ctx);
	llama_model_free(model);
	llama_backend_free();
	return 0;
}
