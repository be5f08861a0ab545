/* cmd-eval.c - `heft-engine eval`: logits of every prompt position in one
 * batch, then a greedy continuation, written in the fixtures' .ref format
 * (or, for a text prompt, the end-to-end layout). */
#include "commands.h"

#include "fileio.h"
#include "forward.h"
#include "job.h"
#include "kvstate.h"
#include "model.h"
#include "quant.h"
#include "report.h"
#include "sampler.h"
#include "session.h"
#include "threadpool.h"
#include "tokenizer.h"
#include "util.h"
#include "weights.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char eval_usage[] =
	"usage: heft-engine eval MODEL (--tokens ID,ID,... | -p TEXT | -f FILE) [--greedy N] [--out FILE]\n"
	"                        [-t N] [--ctx N] [-b N] [loading flags]\n";

/* Greedy continuation: n tokens, one at a time through the KV cache, from
 * the logits of the last evaluated position. */
static int greedy(struct forward *f, const float *last, int n_vocab, int n, int32_t *out, float *margin)
{
	for (int i = 0; i < n; i++) {
		out[i] = job_argmax(last, n_vocab, margin ? &margin[i] : NULL);
		if (i + 1 == n)
			break;
		last = forward_eval(f, &out[i], 1, false);
		if (!last) {
			warnx_("%s", forward_error(f));
			return -1;
		}
	}
	return 0;
}

static void write_ids(FILE *fp, const char *key, const int32_t *t, int n)
{
	fprintf(fp, "%s %d", key, n);
	for (int i = 0; i < n; i++)
		fprintf(fp, " %d", t[i]);
	fputc('\n', fp);
}

/* Bytes < 0x20 and '%' as %XX, the refs' escaping of text. */
static void write_escaped(FILE *fp, const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];
		if (c < 0x20 || c == '%')
			fprintf(fp, "%%%02X", c);
		else
			fputc(c, fp);
	}
}

/* The fixtures' .ref format (docs/ARCHITECTURE.md, "Tests"). With a
 * text prompt (j->t set) the end-to-end layout: prompt and greedy_text
 * lines, and no logits rows. */
static int write_ref(const char *path, const struct job *j, const int32_t *g, const float *margin, int ng,
		     const float *logits)
{
	const struct model *m = j->m;
	const int32_t *tok = j->tok;
	int n = j->t ? 0 : j->n_tok;
	struct fio_out out;
	FILE *fp = !path ? stdout : fio_begin(&out, path) == 0 ? fio_stream(&out) : NULL;
	if (!fp) {
		warn_errno("%s", path ? path : "stdout");
		if (path && out.fd >= 0)
			fio_abort(&out);
		return -1;
	}
	const char *base = strrchr(m->path, '/');
	fprintf(fp, "# logits computed by heft-engine in one batch; greedy = argmax continuation\n");
	fprintf(fp, "model %s\n", base ? base + 1 : m->path);
	if (j->t) {
		fprintf(fp, "# prompt text was tokenized with add_special=true parse_special=true (escaped like "
			    "greedy_text)\nprompt ");
		write_escaped(fp, j->prompt, j->prompt_len);
		fputc('\n', fp);
	}
	write_ids(fp, "tokens", tok, j->n_tok);
	write_ids(fp, "greedy", g, ng);
	fprintf(fp, "greedy_margin %d", ng);
	for (int i = 0; i < ng; i++)
		fprintf(fp, " %.4f", margin[i]);
	fputc('\n', fp);
	if (j->t) {
		fprintf(fp, "# greedy text (escaped with %%XX for bytes < 0x20 and %%)\ngreedy_text ");
		for (int i = 0; i < ng; i++) {
			size_t l;
			const char *piece = token_piece(j->t, g[i], true, &l);
			write_escaped(fp, piece, l);
		}
		fputc('\n', fp);
	}
	fprintf(fp, "logits %d %d\n", n, m->hp.n_vocab);
	for (int r = 0; r < n; r++) {
		const float *row = logits + (size_t)r * m->hp.n_vocab;
		for (int i = 0; i < m->hp.n_vocab; i++)
			fprintf(fp, i ? " %.8g" : "%.8g", row[i]);
		fputc('\n', fp);
	}
	if (!path && (fflush(fp) != 0 || ferror(fp))) {
		warn_errno("stdout");
		return -1;
	}
	if (path && fio_commit(&out) < 0) {
		warn_errno("%s", path);
		return -1;
	}
	return 0;
}

int cmd_eval(int argc, char **argv)
{
	struct job_opts o = {.text_p = true};
	int rc = job_parse(argc, argv, &o, eval_usage);
	if (rc >= 0)
		return rc;
	if (!o.tokens_arg && !o.prompt && !o.prompt_file) {
		fputs(eval_usage, stderr);
		return 2;
	}
	struct job s;
	if ((rc = job_open(&s, &o, (int)o.greedy)) != 0) {
		job_close(&s);
		return rc;
	}
	/* A text prompt writes the end-to-end layout: only the last row is kept. */
	int V = s.m->hp.n_vocab, ng = (int)o.greedy, rows = s.t ? 1 : s.n_tok;
	float *logits = xmalloc((size_t)rows * (size_t)V * sizeof *logits);
	int32_t *g = xcalloc((size_t)ng + 1, sizeof *g);
	float *margin = xcalloc((size_t)ng + 1, sizeof *margin);
	const float *out = job_eval_chunks(s.f, s.tok, s.n_tok, s.t ? NULL : logits, V);
	rc = 1;
	if (out) {
		if (s.t)
			memcpy(logits, out, (size_t)V * sizeof *logits);
		if (greedy(s.f, logits + (size_t)(rows - 1) * V, V, ng, g, margin) == 0 &&
		    write_ref(o.out, &s, g, margin, ng, logits) == 0)
			rc = 0;
	}
	free(logits);
	free(g);
	free(margin);
	job_close(&s);
	return rc;
}
