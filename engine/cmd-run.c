/* cmd-run.c - `heft-engine run`: complete a text prompt, streamed, with
 * the sampler; or greedy token ids after token ids. --prompt-cache keeps
 * the KV cache between runs. */
#include "commands.h"

#include "forward.h"
#include "job.h"
#include "kvstate.h"
#include "model.h"
#include "quant.h"
#include "report.h"
#include "sampler.h"
#include "sanitize.h"
#include "session.h"
#include "threadpool.h"
#include "tokenizer.h"
#include "util.h"
#include "weights.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char run_usage[] =
	"usage: heft-engine run MODEL (-p TEXT | -f FILE | --tokens ID,ID,...) [-n N] [-t N] [--ctx N]\n"
	"                       [sampler flags] [--stop TEXT] [-b N] [--stats-json FILE] [--prompt-cache FILE]\n"
	"                       [loading flags]\n";

static int print_piece(const char *p, size_t n, void *ud)
{
	sanitize_write(stdout, p, n, *(bool *)ud);
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
static int run_text(const struct job_opts *o)
{
	struct job j = {0};
	int rc = 2;
	if (!(j.m = job_load(o)) || (rc = job_text_prompt(&j, o)) != 0) {
		job_close(&j);
		return rc;
	}
	int n = o->n_set ? (int)o->n_predict : -1;
	struct session_config cfg = {
		.family = TMPL_UNKNOWN,
		.sp = o->sp,
		.n_ctx = (int)o->mo.n_ctx,
		.threads = (int)o->mo.threads,
	};
	/* Default: what this run needs, within the model's training context
	 * (a longer prompt is refused as context full; --ctx lifts that). */
	int train = j.m->hp.n_ctx_train > 0 ? j.m->hp.n_ctx_train : 4096;
	if (!o->mo.n_ctx && n >= 0)
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
	struct job_opts o = {.n_predict = 16, .text_p = true, .sampling = true, .sp = sampler_params_default()};
	int rc = job_parse(argc, argv, &o, run_usage);
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
	const float *last = job_eval_chunks(s.f, s.tok + reused, s.n_tok - reused, NULL, s.m->hp.n_vocab);
	double t1 = now_sec();
	rc = 1;
	for (int i = 0; last && i < n; i++) {
		g[i] = job_argmax(last, s.m->hp.n_vocab, NULL);
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
