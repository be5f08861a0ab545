/* job.c - what eval, run and bench share: their options, and a model with
 * its prompt and forward state (job.h); writing untrusted output. */
#include "job.h"

#include "forward.h"
#include "options.h"
#include "threadpool.h"
#include "tokenizer.h"
#include "util.h"
#include "weights.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
	O_TOKENS = CMD_LONG, O_STATS_JSON, O_GREEDY, O_N_PROMPT, O_STOP, O_PROMPT_CACHE,
};

/* The options of all three, each with the commands that take it; -p is
 * the prompt text for eval and run (with -f), bench's prompt length
 * otherwise, and --n-prompt is that length for all three. */
enum { FOR_TEXT = 1, FOR_BENCH = 2, FOR_SAMPLING = 4, FOR_ALL = 7 };
static const struct job_option {
	struct cmd_opt opt;
	unsigned takers;
} job_options[] = {
	{{"help", 'h', no_argument, 'h'}, FOR_ALL},
	{{"tokens", 0, required_argument, O_TOKENS}, FOR_ALL},
	{{"prompt", 'p', required_argument, 'p'}, FOR_TEXT | FOR_SAMPLING},
	{{"file", 'f', required_argument, 'f'}, FOR_TEXT | FOR_SAMPLING},
	{{"stats-json", 0, required_argument, O_STATS_JSON}, FOR_ALL},
	{{"out", 'o', required_argument, 'o'}, FOR_ALL},
	{{"greedy", 0, required_argument, O_GREEDY}, FOR_ALL},
	{{"n-predict", 'n', required_argument, 'n'}, FOR_ALL},
	{{"n-prompt", 0, required_argument, O_N_PROMPT}, FOR_TEXT | FOR_SAMPLING},
	{{"n-prompt", 'p', required_argument, O_N_PROMPT}, FOR_BENCH},
	{{"stop", 0, required_argument, O_STOP}, FOR_SAMPLING},
	{{"prompt-cache", 0, required_argument, O_PROMPT_CACHE}, FOR_SAMPLING},
};

/* The option table of one kind of job, ending with {NULL}. */
static const struct cmd_opt *job_opts_for(unsigned taker, struct cmd_opt out[ARRAY_LEN(job_options) + 1])
{
	size_t n = 0;
	for (size_t i = 0; i < ARRAY_LEN(job_options); i++)
		if (job_options[i].takers & taker)
			out[n++] = job_options[i].opt;
	out[n] = (struct cmd_opt){NULL, 0, 0, 0};
	return out;
}

/* One option of o's: 0 to go on, else the exit status (-1: --help). */
static int job_opt(struct cmd_parser *p, int c, struct job_opts *o, const char *usage)
{
	switch (c) {
	case 'h':
		fputs(usage, stdout);
		fputs("loading flags:\n", stdout);
		fputs(cmd_loading_usage, stdout);
		if (o->sampling)
			cmd_sampler_usage(stdout);
		return -1;
	case O_TOKENS: o->tokens_arg = p->arg; return 0;
	case 'p': o->prompt = p->arg; return 0;
	case 'f': o->prompt_file = p->arg; return 0;
	case O_STATS_JSON: o->stats_json = p->arg; return 0;
	case 'o': o->out = p->arg; return 0;
	case O_STOP: o->stop = p->arg; return 0;
	case O_PROMPT_CACHE: o->prompt_cache = p->arg; return 0;
	case O_GREEDY: return cmd_num(p, 0, INT32_MAX, &o->greedy) ? 0 : 2;
	case O_N_PROMPT: return cmd_num(p, 1, INT32_MAX, &o->n_prompt) ? 0 : 2;
	case 'n': o->n_set = true; return cmd_num(p, -1, INT32_MAX, &o->n_predict) ? 0 : 2;
	}
	return 2;
}

int job_parse(int argc, char **argv, struct job_opts *o, const char *usage)
{
	struct cmd_opt opts[ARRAY_LEN(job_options) + 1];
	struct cmd_parser p = {
		.opts = job_opts_for(o->sampling ? FOR_SAMPLING : o->text_p ? FOR_TEXT : FOR_BENCH, opts),
		.usage = usage,
		.mo = &o->mo,
		.sp = o->sampling ? &o->sp : NULL,
		.groups = CMD_BATCH,
	};
	int c, rc;
	while ((c = cmd_next(&p, argc, argv)) != CMD_END) {
		if (c == CMD_BAD)
			return 2;
		if ((rc = job_opt(&p, c, o, usage)) != 0) {
			cmd_parser_done(&p);
			return rc < 0 ? 0 : rc;
		}
	}
	bool bad;
	o->model = cmd_operand(&p, argc, argv, &bad);
	if (bad)
		return 2;
	if (!o->model) {
		fputs(usage, stderr);
		return 2;
	}
	if (!!o->tokens_arg + !!o->prompt + !!o->prompt_file > 1) {
		warnx_("%s: give one of --tokens, -p and -f", argv[0]);
		return 2;
	}
	return -1;
}

/* "1,2,3" or "1 2 3" into a new array. */
static int32_t *parse_tokens(const char *s, int *n_out)
{
	int cap = 16, n = 0;
	int32_t *t = xmalloc((size_t)cap * sizeof *t);
	while (*s) {
		while (*s == ',' || *s == ' ')
			s++;
		if (!*s)
			break;
		char *end;
		errno = 0;
		long long v = strtoll(s, &end, 10);
		if (end == s || errno || v < 0 || v > INT32_MAX || (*end && *end != ',' && *end != ' ')) {
			warnx_("bad token id list at '%.20s'", s);
			free(t);
			return NULL;
		}
		if (n == cap)
			t = xreallocarray(t, (size_t)(cap *= 2), sizeof *t);
		t[n++] = (int32_t)v;
		s = end;
	}
	if (n == 0) {
		warnx_("--tokens: no token ids");
		free(t);
		return NULL;
	}
	*n_out = n;
	return t;
}

struct model *job_load(const struct job_opts *o)
{
	char err[1024];
	struct model *m = model_load_opts(o->model, &o->mo, err, sizeof err);
	if (!m)
		warnx_("%s", err);
	return m;
}

static int check_vocab(const struct model *m, const int32_t *t, int n)
{
	for (int i = 0; i < n; i++)
		if (t[i] >= m->hp.n_vocab) {
			warnx_("token id %d at index %d is outside the vocabulary (size %d)", t[i], i, m->hp.n_vocab);
			return -1;
		}
	return 0;
}

int job_argmax(const float *x, int n, float *margin)
{
	int best = 0, second = -1;
	for (int i = 1; i < n; i++) {
		if (x[i] > x[best]) {
			second = best;
			best = i;
		} else if (second < 0 || x[i] > x[second]) {
			second = i;
		}
	}
	if (margin)
		*margin = second >= 0 ? x[best] - x[second] : 0.0f;
	return best;
}

static struct tokenizer *load_tokenizer(const struct model *m)
{
	char err[512];
	struct tokenizer *t = tokenizer_load(m->g, err, sizeof err);
	if (!t)
		warnx_("%s: %s", m->path, err);
	return t;
}

/* -p TEXT or -f FILE: the text and its tokens, with the model's BOS rule
 * and special tokens parsed, as llama.cpp's tools tokenize a prompt. */
int job_text_prompt(struct job *s, const struct job_opts *o)
{
	if (o->prompt) {
		s->prompt = xstrdup(o->prompt);
		s->prompt_len = strlen(o->prompt);
	} else if (!(s->prompt = read_file(o->prompt_file, &s->prompt_len, (size_t)1 << 30))) {
		warn_errno("%s", o->prompt_file);
		return 2;
	}
	if (!(s->t = load_tokenizer(s->m)))
		return 2;
	int32_t *ids;
	size_t n;
	if (tokenize(s->t, s->prompt, s->prompt_len, true, true, &ids, &n) < 0) {
		warnx_("tokenization failed");
		return 1;
	}
	if (n == 0 || n > INT32_MAX) {
		warnx_("the prompt gives %zu tokens", n);
		free(ids);
		return 2;
	}
	s->tok = ids;
	s->n_tok = (int)n;
	return 0;
}

/* Evaluate n tokens in chunks of at most the forward's batch. With all
 * (n rows of V floats) every position's logits are kept; returns the last
 * position's logits, NULL on error (reported). */
const float *job_eval_chunks(struct forward *f, const int32_t *tok, int n, float *all, int V)
{
	int b = forward_max_batch(f);
	const float *out = NULL;
	forward_prompt_mode(f, true);
	for (int i = 0; i < n; i += b) {
		int c = MIN(b, n - i);
		if (!(out = forward_eval(f, tok + i, c, all != NULL))) {
			warnx_("%s", forward_error(f));
			forward_prompt_mode(f, false);
			return NULL;
		}
		if (all)
			memcpy(all + (size_t)i * V, out, (size_t)c * V * sizeof *all);
	}
	forward_prompt_mode(f, false);
	return all ? all + (size_t)(n - 1) * V : out;
}

/* Load, check the prompt, make the pool and the forward state. */
int job_open(struct job *s, const struct job_opts *o, int n_extra)
{
	memset(s, 0, sizeof *s);
	if (o->tokens_arg && !(s->tok = parse_tokens(o->tokens_arg, &s->n_tok)))
		return 2;
	if (!(s->m = job_load(o)))
		return 2;
	int rc;
	if ((o->prompt || o->prompt_file) && (rc = job_text_prompt(s, o)) != 0)
		return rc;
	if (s->tok && check_vocab(s->m, s->tok, s->n_tok) < 0)
		return 2;
	int ctx = o->mo.n_ctx ? (int)o->mo.n_ctx : s->n_tok + n_extra;
	if (s->n_tok + n_extra > ctx) {
		warnx_("%d tokens do not fit in --ctx %d", s->n_tok + n_extra, ctx);
		return 2;
	}
	int train = s->m->hp.n_ctx_train > 0 ? s->m->hp.n_ctx_train : 4096;
	if (s->t && !o->mo.n_ctx && ctx > train) { /* e.g. a whole book as the prompt */
		warnx_("context full: %d tokens (the prompt is %d) exceed the model's context of %d; "
		       "--ctx N to go further",
		       ctx, s->n_tok, train);
		return 2;
	}
	s->tp = threadpool_new((int)o->mo.threads);
	int plan_b = weights_get_plan(s->m->w)->batch;
	s->f = forward_new(s->m, s->tp, ctx, o->mo.max_batch ? (int)o->mo.max_batch : MAX(MIN(s->n_tok, plan_b), 1));
	return 0;
}

void job_close(struct job *s)
{
	forward_free(s->f);
	threadpool_free(s->tp);
	tokenizer_free(s->t);
	model_free(s->m);
	free(s->tok);
	free(s->prompt);
}
