/* eval.c - eval, run and bench: the forward pass driven by token ids, or
 * by text through the model's tokenizer (eval -p, run -p). */
#include "commands-eval.h"

#include "forward.h"
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

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct opts {
	const char *model;
	const char *tokens_arg;
	const char *prompt;  /* -p TEXT (eval, run) */
	const char *prompt_file;
	const char *out;
	const char *stop;
	const char *prompt_cache; /* run: --prompt-cache FILE */
	int64_t greedy, n_predict, n_prompt, threads, ctx;
	bool text_p;         /* -p is the prompt text, not bench's prompt length */
	bool sampling;       /* run: sampler flags and --stop */
	bool n_set;
	struct sampler_params sp;
	struct model_opts mo;
	const char *stats_json;
	int64_t batch;       /* -b: prompt tokens per forward call (0: all at once) */
};

static const char eval_usage[] =
	"usage: heft-engine eval MODEL (--tokens ID,ID,... | -p TEXT | -f FILE) [--greedy N] [--out FILE]\n"
	"                        [-t N] [--ctx N] [-b N] [loading flags]\n";
static const char run_usage[] =
	"usage: heft-engine run MODEL (-p TEXT | -f FILE | --tokens ID,ID,...) [-n N] [-t N] [--ctx N]\n"
	"                       [--temp T] [--top-k K] [--top-p P] [--min-p P] [--repeat-penalty R]\n"
	"                       [--repeat-last-n N] [--presence-penalty P] [--frequency-penalty P]\n"
	"                       [--seed S] [--stop TEXT] [-b N] [--stats-json FILE] [--prompt-cache FILE]\n"
	"                       [loading flags]\n";
static const char bench_usage[] =
	"usage: heft-engine bench MODEL [-t N] [-p N] [-n N] [-b N] [--stats-json FILE] [loading flags]\n";

int parse_sampler_flag(int argc, char **argv, int *i, struct sampler_params *p)
{
	static const struct {
		const char *name;
		int is_int;
		double lo, hi;
		size_t off;
	} flags[] = {
		{"--temp", 0, 0, 100, offsetof(struct sampler_params, temp)},
		{"--top-k", 1, 0, INT32_MAX, offsetof(struct sampler_params, top_k)},
		{"--top-p", 0, 0, 1, offsetof(struct sampler_params, top_p)},
		{"--min-p", 0, 0, 1, offsetof(struct sampler_params, min_p)},
		{"--repeat-penalty", 0, 0, 100, offsetof(struct sampler_params, repeat_penalty)},
		{"--repeat-last-n", 1, -1, INT32_MAX, offsetof(struct sampler_params, repeat_last_n)},
		{"--presence-penalty", 0, -100, 100, offsetof(struct sampler_params, presence_penalty)},
		{"--frequency-penalty", 0, -100, 100, offsetof(struct sampler_params, frequency_penalty)},
	};
	const char *a = argv[*i], *v = *i + 1 < argc ? argv[*i + 1] : NULL;
	if (!strcmp(a, "--seed") || !strcmp(a, "-s")) {
		int64_t seed;
		if (!v || !parse_i64(v, -1, INT64_MAX, &seed)) {
			warnx_("%s: --seed needs a number (-1: random)", argv[0]);
			return -1;
		}
		p->seed = seed;
		*i += 1;
		return 1;
	}
	for (size_t k = 0; k < ARRAY_LEN(flags); k++) {
		if (strcmp(a, flags[k].name))
			continue;
		double d;
		if (!v || !parse_f64(v, &d) || !(d >= flags[k].lo && d <= flags[k].hi) ||
		    (flags[k].is_int && d != (double)(int64_t)d)) {
			warnx_("%s: %s needs a%s number in %g..%g", argv[0], a, flags[k].is_int ? "n integer" : "",
			       flags[k].lo, flags[k].hi);
			return -1;
		}
		char *field = (char *)p + flags[k].off;
		if (flags[k].is_int)
			*(int *)field = (int)d;
		else
			*(float *)field = (float)d;
		*i += 1;
		return 1;
	}
	return 0;
}

/* Parse the options all three commands share; unknown ones are errors. */
static int parse_opts(int argc, char **argv, struct opts *o, const char *usage)
{
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		int64_t *num = NULL, lo = 0, hi = INT32_MAX;
		int sf = o->sampling ? parse_sampler_flag(argc, argv, &i, &o->sp) : 0;
		if (!sf)
			sf = parse_model_flag(argc, argv, &i, &o->mo);
		if (sf < 0)
			return 2;
		if (sf > 0)
			continue;
		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			fputs(usage, stdout);
			fputs("loading flags:\n", stdout);
			fputs(model_flags_usage, stdout);
			return 0;
		} else if (!strcmp(a, "--tokens") && v) {
			o->tokens_arg = v;
		} else if (o->text_p && (!strcmp(a, "-p") || !strcmp(a, "--prompt")) && v) {
			o->prompt = v;
		} else if (o->text_p && (!strcmp(a, "-f") || !strcmp(a, "--file")) && v) {
			o->prompt_file = v;
		} else if (o->sampling && !strcmp(a, "--stop") && v) {
			o->stop = v;
		} else if (o->sampling && !strcmp(a, "--prompt-cache") && v) {
			o->prompt_cache = v;
		} else if (!strcmp(a, "--stats-json") && v) {
			o->stats_json = v;
		} else if (!strcmp(a, "-b") || !strcmp(a, "--batch-size")) {
			num = &o->batch, lo = 1;
		} else if ((!strcmp(a, "--out") || !strcmp(a, "-o")) && v) {
			o->out = v;
		} else if (!strcmp(a, "--greedy")) {
			num = &o->greedy;
		} else if (!strcmp(a, "-n") || !strcmp(a, "--n-predict")) {
			num = &o->n_predict, lo = -1;
			o->n_set = true;
		} else if (!strcmp(a, "-p") || !strcmp(a, "--n-prompt")) {
			num = &o->n_prompt, lo = 1;
		} else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) {
			num = &o->threads, lo = 1, hi = 1024;
		} else if (!strcmp(a, "-c") || !strcmp(a, "--ctx")) {
			num = &o->ctx, lo = 1;
		} else if (a[0] != '-' && !o->model) {
			o->model = a;
			continue;
		} else {
			warnx_("%s: unknown option or missing value '%s'", argv[0], a);
			fputs(usage, stderr);
			return 2;
		}
		if (num && (!v || !parse_i64(v, lo, hi, num))) {
			warnx_("%s: %s needs a number in %lld..%lld", argv[0], a, (long long)lo, (long long)hi);
			return 2;
		}
		i++;
	}
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

/* A model, its prompt and the state to evaluate it (job_open). */
struct job {
	struct model *m;
	struct tokenizer *t; /* text prompts only */
	struct threadpool *tp;
	struct forward *f;
	int32_t *tok;
	int n_tok;
	char *prompt; /* text prompts only */
	size_t prompt_len;
};

static struct model *load(const struct opts *o)
{
	char err[1024];
	struct model_opts mo = o->mo;
	mo.n_ctx = (int)o->ctx;
	mo.threads = (int)o->threads;
	if (o->batch)
		mo.max_batch = (int)o->batch;
	struct model *m = model_load_opts(o->model, &mo, err, sizeof err);
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

static int argmax(const float *x, int n, float *margin)
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

/* Greedy continuation: n tokens, one at a time through the KV cache, from
 * the logits of the last evaluated position. */
static int greedy(struct forward *f, const float *last, int n_vocab, int n, int32_t *out, float *margin)
{
	for (int i = 0; i < n; i++) {
		out[i] = argmax(last, n_vocab, margin ? &margin[i] : NULL);
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

/* The fixtures' .ref format (see ../shared/fixtures/README.md). With a
 * text prompt (j->t set) the end-to-end layout: prompt and greedy_text
 * lines, and no logits rows. */
static int write_ref(const char *path, const struct job *j, const int32_t *g, const float *margin, int ng,
		     const float *logits)
{
	const struct model *m = j->m;
	const int32_t *tok = j->tok;
	int n = j->t ? 0 : j->n_tok;
	FILE *fp = path ? fopen(path, "w") : stdout;
	if (!fp) {
		warn_errno("%s", path);
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
	if (fflush(fp) != 0 || ferror(fp) || (path && fclose(fp) != 0)) {
		warn_errno("%s", path ? path : "stdout");
		return -1;
	}
	return 0;
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
static int text_prompt(struct job *s, const struct opts *o)
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
static const float *eval_chunks(struct forward *f, const int32_t *tok, int n, float *all, int V)
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
static int job_open(struct job *s, const struct opts *o, int n_extra)
{
	memset(s, 0, sizeof *s);
	if (o->tokens_arg && !(s->tok = parse_tokens(o->tokens_arg, &s->n_tok)))
		return 2;
	if (!(s->m = load(o)))
		return 2;
	int rc;
	if ((o->prompt || o->prompt_file) && (rc = text_prompt(s, o)) != 0)
		return rc;
	if (s->tok && check_vocab(s->m, s->tok, s->n_tok) < 0)
		return 2;
	int ctx = o->ctx ? (int)o->ctx : s->n_tok + n_extra;
	if (s->n_tok + n_extra > ctx) {
		warnx_("%d tokens do not fit in --ctx %d", s->n_tok + n_extra, ctx);
		return 2;
	}
	int train = s->m->hp.n_ctx_train > 0 ? s->m->hp.n_ctx_train : 4096;
	if (s->t && !o->ctx && ctx > train) { /* e.g. a whole book as the prompt */
		warnx_("context full: %d tokens (the prompt is %d) exceed the model's context of %d; "
		       "--ctx N to go further",
		       ctx, s->n_tok, train);
		return 2;
	}
	s->tp = threadpool_new((int)o->threads);
	int plan_b = weights_get_plan(s->m->w)->batch;
	s->f = forward_new(s->m, s->tp, ctx, o->batch ? (int)o->batch : MAX(MIN(s->n_tok, plan_b), 1));
	return 0;
}

static void job_close(struct job *s)
{
	forward_free(s->f);
	threadpool_free(s->tp);
	tokenizer_free(s->t);
	model_free(s->m);
	free(s->tok);
	free(s->prompt);
}

int cmd_eval(int argc, char **argv)
{
	struct opts o = {.text_p = true};
	int rc = parse_opts(argc, argv, &o, eval_usage);
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
	const float *out = eval_chunks(s.f, s.tok, s.n_tok, s.t ? NULL : logits, V);
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

static int print_piece(const char *p, size_t n, void *ud)
{
	write_untrusted(stdout, p, n, *(bool *)ud);
	fflush(stdout);
	return 0;
}

/* --prompt-cache: restore the longest prefix the file shares with the
 * prompt (at most all but its last token). No file is the first run; an
 * unusable one is reported and ignored. Returns the positions reused. */
static int cache_load(const char *path, const struct model *m, struct forward *f, const int32_t *tok, int n)
{
	char err[1024];
	int reused = 0;
	enum kvstate_result r = kvstate_load(path, m, f, tok, n, &reused, err, sizeof err);
	if (r == KVSTATE_REFUSED)
		warnx_("prompt cache %s; evaluating the whole prompt", err);
	else if (r == KVSTATE_LOADED)
		fprintf(stderr, "%s: prompt cache %s: %d of %d prompt tokens reused\n", heft_progname, path, reused, n);
	return reused;
}

/* Save what the KV cache holds: the prompt and the generated tokens that
 * were evaluated. */
static int cache_save(const char *path, const struct model *m, const struct forward *f, const int32_t *tok, int n)
{
	char err[1024];
	if (kvstate_save(path, m, f, tok, n, err, sizeof err) < 0) {
		warnx_("prompt cache not saved: %s", err);
		return -1;
	}
	return 0;
}

/* run -p TEXT: raw completion of the text, streamed. */
static int run_text(const struct opts *o)
{
	struct job j = {0};
	int rc = 2;
	if (!(j.m = load(o)) || (rc = text_prompt(&j, o)) != 0) {
		job_close(&j);
		return rc;
	}
	int n = o->n_set ? (int)o->n_predict : -1;
	struct session_config cfg = {
		.family = TMPL_UNKNOWN,
		.sp = o->sp,
		.n_ctx = (int)o->ctx,
		.threads = (int)o->threads,
	};
	/* Default: what this run needs, within the model's training context
	 * (a longer prompt is refused as context full; --ctx lifts that). */
	int train = j.m->hp.n_ctx_train > 0 ? j.m->hp.n_ctx_train : 4096;
	if (!o->ctx && n >= 0)
		cfg.n_ctx = MIN(j.n_tok + MAX(n, 1), train);
	char err[512];
	struct session *s = session_new(j.m, j.t, &cfg, err, sizeof err);
	if (!s) {
		warnx_("%s", err);
		job_close(&j);
		return 2;
	}
	if (o->prompt_cache)
		session_set_kv_tokens(s, j.tok, cache_load(o->prompt_cache, j.m, session_forward(s), j.tok, j.n_tok));
	bool tty = isatty(STDOUT_FILENO);
	const char *stops[2] = {o->stop, NULL};
	struct session_gen_opts g = {.max_tokens = n, .stops = stops, .on_piece = print_piece, .ud = &tty};
	session_add_turn(s, "user", j.prompt);
	enum session_reason r = n == 0 ? SESSION_LENGTH : session_generate(s, &g);
	fputc('\n', stdout);
	fflush(stdout);
	const struct session_stats *st = session_stats(s);
	if (st->n_evaluated > 0)
		fprintf(stderr, "prefill %d tokens %.1f tok/s, decode %d tokens %.1f tok/s, seed %llu, stop: %s\n",
			st->n_evaluated, st->t_prompt > 0 ? st->n_evaluated / st->t_prompt : 0.0, st->n_generated,
			st->t_gen > 0 ? st->n_generated / st->t_gen : 0.0,
			(unsigned long long)sampler_seed(session_sampler(s)), session_reason_name(r));
	rc = 0;
	if (r == SESSION_ERROR || r == SESSION_CTX_FULL) {
		warnx_("%s", session_error(s));
		rc = r == SESSION_CTX_FULL && st->n_generated == 0 ? 2 : 1;
	}
	int n_kv;
	const int32_t *kv_tok = session_kv_tokens(s, &n_kv);
	if (o->prompt_cache && r != SESSION_ERROR &&
	    cache_save(o->prompt_cache, j.m, session_forward(s), kv_tok, n_kv) < 0)
		rc = 1;
	session_free(s);
	job_close(&j);
	return rc;
}

int cmd_run(int argc, char **argv)
{
	struct opts o = {.n_predict = 16, .text_p = true, .sampling = true, .sp = sampler_params_default()};
	int rc = parse_opts(argc, argv, &o, run_usage);
	if (rc >= 0)
		return rc;
	if (o.prompt || o.prompt_file)
		return run_text(&o);
	if (!o.tokens_arg) {
		fputs(run_usage, stderr);
		return 2;
	}
	if (o.n_predict < 0) {
		warnx_("run --tokens: -n must be 0 or more");
		return 2;
	}
	struct job s;
	if ((rc = job_open(&s, &o, (int)o.n_predict)) != 0) {
		job_close(&s);
		return rc;
	}
	int n = (int)o.n_predict;
	/* the KV cache's tokens: the prompt, then the generated ones evaluated */
	int32_t *kv_tok = xcalloc((size_t)s.n_tok + (size_t)n + 1, sizeof *kv_tok), *g = kv_tok + s.n_tok;
	memcpy(kv_tok, s.tok, (size_t)s.n_tok * sizeof *kv_tok);
	int reused = o.prompt_cache ? cache_load(o.prompt_cache, s.m, s.f, s.tok, s.n_tok) : 0;
	double *lat = xcalloc((size_t)n + 1, sizeof *lat);
	struct run_report rep = {.command = "run", .threads = threadpool_size(s.tp), .batch = forward_max_batch(s.f)};
	report_begin(&rep, s.m);
	double t0 = now_sec();
	const float *last = eval_chunks(s.f, s.tok + reused, s.n_tok - reused, NULL, s.m->hp.n_vocab);
	double t1 = now_sec();
	rc = 1;
	for (int i = 0; last && i < n; i++) {
		g[i] = argmax(last, s.m->hp.n_vocab, NULL);
		if (i + 1 == n)
			break;
		double ts = now_sec();
		if (!(last = forward_eval(s.f, &g[i], 1, false)))
			warnx_("%s", forward_error(s.f));
		lat[i] = (now_sec() - ts) * 1e3;
	}
	if (last) {
		double t2 = now_sec();
		for (int i = 0; i < n; i++)
			printf(i ? " %d" : "%d", g[i]);
		printf("\n");
		fprintf(stderr, "prefill %d tokens %.1f tok/s, decode %d tokens %.1f tok/s\n", s.n_tok - reused,
			(s.n_tok - reused) / (t1 - t0), n, n > 1 ? (n - 1) / (t2 - t1) : 0.0);
		rep.prefill_tokens = s.n_tok - reused;
		rep.prefill_s = t1 - t0;
		struct forward_prefill_stats ps;
		forward_prefill_stats(s.f, &ps);
		rep.prefill_bytes_read = ps.bytes_read;
		rep.prefill_experts_needed_bytes = ps.experts_needed_bytes;
		rep.decode_tokens = MAX(n - 1, 0);
		rep.decode_s = t2 - t1;
		report_percentiles(lat, MAX(n - 1, 0), &rep.decode_p50_ms, &rep.decode_p95_ms);
		rc = o.stats_json && report_write_json(o.stats_json, &rep, s.m) < 0 ? 1 : 0;
		if (o.prompt_cache && cache_save(o.prompt_cache, s.m, s.f, kv_tok, forward_n_pos(s.f)) < 0)
			rc = 1;
	}
	free(lat);
	free(kv_tok);
	job_close(&s);
	return rc;
}

/* ---- bench ---------------------------------------------------------------------- */

struct bw_job {
	const uint64_t *buf;
	size_t n;
	uint64_t sums[256];
};

static void bw_worker(void *arg, int ith, int nth)
{
	struct bw_job *j = arg;
	long lo, hi;
	threadpool_range((long)j->n, ith, nth, &lo, &hi);
	/* Four independent accumulators so the loop is bound by loads, not adds. */
	uint64_t a = 0, b = 0, c = 0, d = 0;
	for (long i = lo; i + 4 <= hi; i += 4) {
		a += j->buf[i];
		b += j->buf[i + 1];
		c += j->buf[i + 2];
		d += j->buf[i + 3];
	}
	j->sums[ith % 256] = a + b + c + d;
}

/* Read bandwidth of this machine with the pool's threads: best of a few
 * passes summing a buffer far larger than the caches. Bytes/s. */
static double measure_bandwidth(struct threadpool *tp)
{
	size_t bytes = (size_t)512 << 20;
	struct bw_job j = {.n = bytes / sizeof(uint64_t)};
	uint64_t *buf = xaligned_alloc(64, bytes);
	for (size_t i = 0; i < j.n; i++) /* touch every page, and defeat zero-page tricks */
		buf[i] = i;
	j.buf = buf;
	double best = 0.0;
	for (int pass = 0; pass < 5; pass++) {
		double t0 = now_sec();
		threadpool_run(tp, bw_worker, &j);
		double dt = now_sec() - t0;
		if (bytes / dt > best)
			best = bytes / dt;
	}
	uint64_t sink = 0;
	for (int i = 0; i < threadpool_size(tp) && i < 256; i++)
		sink += j.sums[i];
	if (sink == 42) /* keep the sums alive */
		fputc(' ', stderr);
	free(buf);
	return best;
}

/* Hit rate between two snapshots (NULL out: just skip). */
static void hit_window(const struct weights_stats *a, const struct weights_stats *b, double *out)
{
	uint64_t h = b->hits - a->hits, n = h + b->misses - a->misses;
	if (out)
		*out = n ? (double)h / (double)n : 0.0;
}

int cmd_bench(int argc, char **argv)
{
	struct opts o = {.n_prompt = 128, .n_predict = 64};
	int rc = parse_opts(argc, argv, &o, bench_usage);
	if (rc >= 0)
		return rc;
	struct model *m = load(&o);
	if (!m)
		return 2;
	int np = (int)o.n_prompt, nd = MAX((int)o.n_predict, 2);
	int32_t *tok = xmalloc((size_t)(np + nd) * sizeof *tok);
	uint32_t seed = 12345; /* fixed prompt: runs are comparable */
	for (int i = 0; i < np + nd; i++) {
		seed = seed * 1664525u + 1013904223u;
		tok[i] = (int32_t)((seed >> 8) % (uint32_t)m->hp.n_vocab);
	}
	struct threadpool *tp = threadpool_new((int)o.threads);
	int b = (int)MIN(o.batch ? o.batch : weights_get_plan(m->w)->batch, np);
	struct forward *f = forward_new(m, tp, np + nd, b);
	double *lat = xcalloc((size_t)nd, sizeof *lat);
	struct run_report rep = {.command = "bench", .threads = threadpool_size(tp), .batch = b};
	report_begin(&rep, m);

	double t0 = now_sec();
	const float *last = eval_chunks(f, tok, np, NULL, m->hp.n_vocab);
	double t1 = now_sec();
	double t_dec = 0.0;
	/* cache hits of the first and the last 16 decoded tokens: a warm
	 * start shows in the first, a cache's steady state in the last */
	struct weights_stats s0 = {0}, s1 = {0};
	int w16 = MIN(16, nd / 2);
	for (int i = 0; i < nd && last; i++) {
		double ts = now_sec();
		if (i == 0 || i == w16 || i == nd - w16) {
			weights_get_stats(m->w, &s1);
			if (i == w16 || (i == nd - w16 && i != w16))
				hit_window(&s0, &s1, i == w16 ? &rep.hit_rate_first : NULL);
			s0 = s1;
		}
		if (!(last = forward_eval(f, &tok[np + i], 1, false)))
			warnx_("%s", forward_error(f));
		if (i > 0) { /* the first decode step warms caches and wakes threads */
			lat[i - 1] = (now_sec() - ts) * 1e3;
			t_dec += now_sec() - ts;
		}
	}
	rc = 1;
	if (last) {
		struct weights_stats st;
		weights_get_stats(m->w, &st);
		if (w16 > 0)
			hit_window(&s0, &st, &rep.hit_rate_last);
		uint64_t bpt = model_bytes_per_token(m);
		double pp = np / (t1 - t0), tg = (nd - 1) / t_dec;
		rep.prefill_tokens = np;
		rep.prefill_s = t1 - t0;
		struct forward_prefill_stats ps;
		forward_prefill_stats(f, &ps);
		rep.prefill_bytes_read = ps.bytes_read;
		rep.prefill_experts_needed_bytes = ps.experts_needed_bytes;
		rep.decode_tokens = nd - 1;
		rep.decode_s = t_dec;
		report_percentiles(lat, nd - 1, &rep.decode_p50_ms, &rep.decode_p95_ms);
		char b1[32], b2[32];
		printf("model        %s (%s, %d threads, kernels %s, io %s)\n", m->path, m->arch_name,
		       threadpool_size(tp), quant_init(), st.mode);
		printf("prefill      %d tokens  %.2f tok/s (chunks of %d)\n", np, pp, b);
		printf("decode       %d tokens  %.2f tok/s (median %.1f ms, p95 %.1f ms)\n", nd - 1, tg,
		       rep.decode_p50_ms, rep.decode_p95_ms);
		printf("bytes/token  %s (dense + %d used experts per layer + output head)\n",
		       fmt_bytes(b1, sizeof b1, bpt), m->hp.n_expert_used);
		if (!strcmp(st.mode, "stream")) {
			uint64_t acc = st.hits + st.misses;
			printf("cache        %d slots of %s, hit rate %.1f%%, prefetch %llu issued %.1f%% used\n",
			       st.n_slots, fmt_bytes(b2, sizeof b2, st.slot_bytes),
			       acc ? 100.0 * st.hits / acc : 0.0, (unsigned long long)st.prefetch_issued,
			       st.prefetch_issued ? 100.0 * st.prefetch_hits / st.prefetch_issued : 0.0);
			printf("disk         %s read, %.1f MB/s, I/O wait %.1f s of %.1f s\n",
			       fmt_bytes(b1, sizeof b1, st.bytes_read - rep.bytes_read0),
			       (st.bytes_read - rep.bytes_read0) / (t_dec + t1 - t0) / 1e6, st.io_wait_s,
			       t_dec + t1 - t0);
		} else {
			double bw = measure_bandwidth(tp), bound = bw / (double)bpt;
			printf("bandwidth    %.2f GB/s measured (%d threads)\n", bw / 1e9, threadpool_size(tp));
			printf("bound        %.2f tok/s; decode at %.1f%% of the bound\n", bound, 100.0 * tg / bound);
		}
		printf("prefill/decode per-token speedup %.2fx\n", pp / tg);
		rc = o.stats_json && report_write_json(o.stats_json, &rep, m) < 0 ? 1 : 0;
	}
	free(lat);
	forward_free(f);
	threadpool_free(tp);
	model_free(m);
	free(tok);
	return rc;
}
