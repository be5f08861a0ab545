/* session.c - turns, prefix reuse in the KV cache, the generation loop. */
#include "session.h"

#include "forward.h"
#include "model.h"
#include "threadpool.h"
#include "tokenizer.h"
#include "util.h"
#include "weights.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct session {
	const struct model *m;
	const struct tokenizer *t;
	struct session_config cfg;
	struct threadpool *tp;
	struct forward *f;
	struct sampler *smp;
	int n_vocab;

	struct session_turn *turns;
	size_t n_turns, cap_turns;

	int32_t *kv_tok; /* the tokens in the KV cache, in order */
	int n_kv, cap_kv;

	float *logits;   /* the sampler's copy of one row */
	struct buf prompt, reply;
	atomic_int cancel;
	const struct session_gen_opts *gen_o; /* while generating: its cancel flag and on_layer */
	struct session_stats st;
	char err[2048];  /* room for a whole message: a template error lists every name */
	bool err_forward; /* err came from the forward pass */
	char notice[256];
};

static const char *const reason_names[] = {
	[SESSION_EOS] = "eos",       [SESSION_LENGTH] = "length",        [SESSION_STOP] = "stop",
	[SESSION_CANCEL] = "cancel", [SESSION_CTX_FULL] = "context-full", [SESSION_ERROR] = "error",
};

/* What the steps of a generation (prompt, fitting, evaluation, each token)
 * return when nothing ends it: not a reason a generation ends with, so
 * apart from session.h's enum, and never returned by session_generate. */
enum { SESSION_GO_ON = -1 };

const char *session_reason_name(enum session_reason r)
{
	return (unsigned)r < ARRAY_LEN(reason_names) ? reason_names[r] : "?";
}

static bool stop_forward(void *ud);

struct session *session_new(const struct model *m, const struct tokenizer *t, const struct session_config *cfg,
			    char *err, size_t errlen)
{
	if (tokenizer_n_vocab(t) > (size_t)m->hp.n_vocab) {
		snprintf(err, errlen, "the tokenizer has %zu tokens, the model's output only %d", tokenizer_n_vocab(t),
			 m->hp.n_vocab);
		return NULL;
	}
	if (cfg->n_ctx < 0 || cfg->max_batch < 0) {
		snprintf(err, errlen, "bad context size %d or batch %d", cfg->n_ctx, cfg->max_batch);
		return NULL;
	}
	struct session *s = xcalloc(1, sizeof *s);
	s->m = m;
	s->t = t;
	s->cfg = *cfg;
	s->n_vocab = m->hp.n_vocab;
	/* A model's training context can be 128k or more: its KV cache would
	 * not fit in most machines, so the default stays modest. */
	int n_ctx = cfg->n_ctx;
	if (n_ctx == 0)
		n_ctx = m->hp.n_ctx_train > 0 ? MIN(m->hp.n_ctx_train, 4096) : 4096;
	s->cfg.n_ctx = n_ctx;
	/* The memory plan reserved activations for its prompt chunk: a bigger
	 * one would exceed --mem. */
	int plan_b = m->w ? weights_get_plan(m->w)->batch : 0;
	s->cfg.max_batch = MIN(cfg->max_batch ? cfg->max_batch : plan_b > 0 ? plan_b : 512, n_ctx);
	s->tp = threadpool_new(cfg->threads);
	s->f = forward_new(m, s->tp, n_ctx, s->cfg.max_batch);
	s->smp = sampler_new(s->n_vocab, &cfg->sp);
	s->logits = xmalloc((size_t)s->n_vocab * sizeof *s->logits);
	atomic_init(&s->cancel, 0);
	forward_set_stop(s->f, stop_forward, s);
	return s;
}

void session_free(struct session *s)
{
	if (!s)
		return;
	session_truncate(s, 0);
	free(s->turns);
	free(s->kv_tok);
	free(s->logits);
	buf_free(&s->prompt);
	buf_free(&s->reply);
	sampler_free(s->smp);
	forward_free(s->f);
	threadpool_free(s->tp);
	free(s);
}

int session_add_turn(struct session *s, const char *role, const char *text)
{
	if (strcmp(role, "system") && strcmp(role, "user") && strcmp(role, "assistant"))
		return -1;
	if (s->n_turns == s->cap_turns) {
		s->cap_turns = s->cap_turns ? 2 * s->cap_turns : 8;
		s->turns = xreallocarray(s->turns, s->cap_turns, sizeof *s->turns);
	}
	s->turns[s->n_turns++] = (struct session_turn){xstrdup(role), xstrdup(text), -1, -1, false};
	return 0;
}

void session_truncate(struct session *s, size_t k)
{
	while (s->n_turns > k) {
		struct session_turn *u = &s->turns[--s->n_turns];
		free(u->role);
		free(u->text);
	}
	/* Nothing live after the dropped turns: the KV cache past the kept
	 * start is of no use any more, so they cost nothing to bring back
	 * (and are dropped again if they still do not fit). */
	if (s->n_turns > 0 && s->turns[s->n_turns - 1].dropped)
		for (size_t i = 0; i < s->n_turns; i++)
			s->turns[i].dropped = false;
}

int session_set_dropped(struct session *s, size_t i, bool dropped)
{
	if (i >= s->n_turns)
		return -1;
	s->turns[i].dropped = dropped;
	return 0;
}

size_t session_n_live(const struct session *s)
{
	size_t n = 0;
	for (size_t i = 0; i < s->n_turns; i++)
		n += !s->turns[i].dropped;
	return n;
}

void session_clear(struct session *s)
{
	session_truncate(s, 0);
	forward_truncate(s->f, 0);
	s->n_kv = 0;
}

size_t session_n_turns(const struct session *s)
{
	return s->n_turns;
}

const struct session_turn *session_turn(const struct session *s, size_t i)
{
	return i < s->n_turns ? &s->turns[i] : NULL;
}

void session_cancel(struct session *s)
{
	atomic_store(&s->cancel, 1);
}

const struct session_stats *session_stats(const struct session *s)
{
	return &s->st;
}

const char *session_error(const struct session *s)
{
	return s->err;
}

const char *session_notice(const struct session *s)
{
	return s->notice;
}

bool session_error_in_forward(const struct session *s)
{
	return s->err_forward;
}

int session_n_ctx(const struct session *s)
{
	return s->cfg.n_ctx;
}

void session_set_family(struct session *s, enum tmpl_family f)
{
	s->cfg.family = f;
}

enum tmpl_family session_family(const struct session *s)
{
	return s->cfg.family;
}

int session_max_batch(const struct session *s)
{
	return s->cfg.max_batch;
}

int session_n_pos(const struct session *s)
{
	return forward_n_pos(s->f);
}

struct sampler *session_sampler(struct session *s)
{
	return s->smp;
}

struct forward *session_forward(struct session *s)
{
	return s->f;
}

const int32_t *session_kv_tokens(const struct session *s, int *n)
{
	*n = s->n_kv;
	return s->kv_tok;
}

static void kv_push(struct session *s, int32_t id);

int session_set_kv_tokens(struct session *s, const int32_t *tok, int n)
{
	if (n < 0 || n > forward_n_pos(s->f))
		return -1;
	forward_truncate(s->f, n);
	s->n_kv = 0;
	for (int i = 0; i < n; i++) {
		kv_push(s, tok[i]);
		sampler_accept(s->smp, tok[i]);
	}
	return 0;
}

/* ---- rendering ------------------------------------------------------------------ */

/* The turns as text, those dropped from the context left out: the
 * template's rendering, or in raw mode the texts one after the other. If
 * ends is not NULL, ends[i] (one per turn) is where turn i's text ends in
 * the new text: never before the turn before's (a dropped turn ends where
 * it would have begun). */
static int render_turns(const struct session *s, struct buf *out, size_t *ends, char *err, size_t errlen)
{
	size_t start = out->len;
	if (s->cfg.family == TMPL_UNKNOWN) {
		for (size_t i = 0; i < s->n_turns; i++) {
			if (!s->turns[i].dropped)
				buf_puts(out, s->turns[i].text);
			if (ends)
				ends[i] = out->len - start;
		}
		return 0;
	}
	struct chat_msg *msgs = xcalloc(s->n_turns + 1, sizeof *msgs);
	size_t *live_ends = ends ? xcalloc(s->n_turns + 1, sizeof *live_ends) : NULL;
	size_t k = 0;
	for (size_t i = 0; i < s->n_turns; i++)
		if (!s->turns[i].dropped)
			msgs[k++] = (struct chat_msg){s->turns[i].role, s->turns[i].text};
	int rc = template_render_ends(s->cfg.family, msgs, k, true, &s->cfg.tmpl, out, live_ends, err, errlen);
	for (size_t i = 0, j = 0, prev = 0; ends && i < s->n_turns; i++) {
		if (!s->turns[i].dropped) {
			prev = MAX(prev, live_ends[j]); /* MAX evaluates twice */
			j++;
		}
		ends[i] = prev;
	}
	free(live_ends);
	free(msgs);
	return rc;
}

int session_render(const struct session *s, struct buf *out, char *err, size_t errlen)
{
	return render_turns(s, out, NULL, err, errlen);
}

/* Token range of each turn, from where each turn's text ends in the
 * prompt (one rendering: linear in the conversation) against the bytes the
 * prompt tokens stand for. A BOS the tokenizer added is not in the text;
 * SentencePiece's added leading space is one byte more; a boundary inside
 * a token counts that token for the earlier turn. Good enough to show
 * which KV positions a turn holds. */
static void locate_turns(struct session *s, const int32_t *tok, int n)
{
	struct buf b = {0};
	size_t *ends = xcalloc(s->n_turns + 1, sizeof *ends);
	char e[8];
	bool ok = render_turns(s, &b, ends, e, sizeof e) == 0;
	int i = 0;
	size_t bytes = 0, skip = 0;
	if (n > 0 && tok[0] == tokenizer_bos(s->t) && tokenizer_add_bos(s->t))
		i = 1;
	if (tokenizer_model(s->t) == TOKENIZER_SPM)
		skip = 1;
	int begin = i;
	for (size_t k = 0; k < s->n_turns; k++) {
		if (s->turns[k].dropped || !ok) {
			s->turns[k].tok_begin = s->turns[k].tok_end = -1;
			continue;
		}
		while (i < n && bytes < ends[k] + skip) {
			size_t l;
			token_piece(s->t, tok[i++], true, &l);
			bytes += l;
		}
		s->turns[k].tok_begin = begin;
		s->turns[k].tok_end = i;
		begin = i;
	}
	free(ends);
	buf_free(&b);
}

/* ---- evaluation ----------------------------------------------------------------- */

static void kv_push(struct session *s, int32_t id)
{
	if (s->n_kv == s->cap_kv) {
		s->cap_kv = s->cap_kv ? 2 * s->cap_kv : 256;
		s->kv_tok = xreallocarray(s->kv_tok, (size_t)s->cap_kv, sizeof *s->kv_tok);
	}
	s->kv_tok[s->n_kv++] = id;
}

static bool cancelled(struct session *s)
{
	const atomic_bool *too = s->gen_o ? s->gen_o->cancel : NULL;
	return atomic_load_explicit(&s->cancel, memory_order_relaxed) != 0 ||
	       (too && atomic_load_explicit(too, memory_order_relaxed));
}

/* forward.c asks between layers; the generation's on_layer looks at its
 * input first, so a cancel that came during a long batch is seen here. */
static bool stop_forward(void *ud)
{
	struct session *s = ud;
	if (s->gen_o && s->gen_o->on_layer)
		s->gen_o->on_layer(s->gen_o->ud);
	return cancelled(s);
}

/* Tokens of tok[0, n) the KV cache already holds. */
static int cached_prefix(const struct session *s, const int32_t *tok, int n)
{
	int common = 0, lim = MIN(MIN(s->n_kv, n), forward_n_pos(s->f));
	while (common < lim && s->kv_tok[common] == tok[common])
		common++;
	return common;
}

/* Bring the KV cache to the prompt: keep the common prefix, evaluate the
 * rest in batches. Leaves the last position's logits in s->logits. */
static int eval_prompt(struct session *s, const int32_t *tok, int n, const struct session_gen_opts *o)
{
	int common = cached_prefix(s, tok, n);
	if (common == n) /* nothing new: evaluate the last token again for its logits */
		common = n - 1;
	forward_truncate(s->f, common);
	s->n_kv = common;
	s->st.n_prompt = n;
	s->st.n_reused = common;
	const float *out = NULL;
	for (int p = common; p < n; p += s->cfg.max_batch) {
		if (cancelled(s))
			return SESSION_CANCEL;
		int nb = MIN(s->cfg.max_batch, n - p);
		if (!(out = forward_eval(s->f, tok + p, nb, false))) {
			forward_truncate(s->f, s->n_kv); /* the batch is not kept */
			if (forward_stopped(s->f))
				return SESSION_CANCEL;
			snprintf(s->err, sizeof s->err, "%s", forward_error(s->f));
			s->err_forward = true;
			return SESSION_ERROR;
		}
		for (int i = 0; i < nb; i++) {
			kv_push(s, tok[p + i]);
			sampler_accept(s->smp, tok[p + i]);
		}
		s->st.n_evaluated += nb;
		if (o->on_prefill && o->on_prefill(s->st.n_evaluated, n - common, o->ud) != 0)
			return SESSION_CANCEL;
	}
	memcpy(s->logits, out, (size_t)s->n_vocab * sizeof *s->logits);
	return SESSION_GO_ON;
}

/* ---- stop strings --------------------------------------------------------------- */

struct stops {
	const char *const *lists[2];
	size_t maxlen;
};

#define FOR_STOP(st, var)                                                                 \
	for (int l_ = 0; l_ < 2; l_++)                                                    \
		for (const char *const *p_ = (st)->lists[l_]; p_ && *p_; p_++)            \
			for (const char *var = *p_; var; var = NULL)

/* The earliest stop string in text[from, len), or -1. */
static long find_stop(const struct stops *st, const char *text, size_t len, size_t from)
{
	long best = -1;
	FOR_STOP(st, stop)
	{
		size_t sl = strlen(stop);
		const char *hit = sl ? memmem(text + from, len - from, stop, sl) : NULL;
		if (hit && (best < 0 || hit - text < best))
			best = hit - text;
	}
	return best;
}

/* Bytes at the end of text[from, len) that could begin a stop string. */
static size_t stop_holdback(const struct stops *st, const char *text, size_t len, size_t from)
{
	size_t hold = 0;
	FOR_STOP(st, stop)
	{
		size_t sl = strlen(stop);
		for (size_t k = MIN(sl - (sl > 0), len - from); k > hold; k--)
			if (!memcmp(text + len - k, stop, k)) {
				hold = k;
				break;
			}
	}
	return hold;
}

static bool is_stop_token(const struct stops *st, const struct tokenizer *t, int32_t id)
{
	enum token_type ty = tokenizer_token_type(t, id);
	if (ty != TOKEN_TYPE_CONTROL && ty != TOKEN_TYPE_USER_DEFINED)
		return false;
	size_t l;
	const char *p = token_piece(t, id, true, &l);
	FOR_STOP(st, stop)
	if (strlen(stop) == l && !memcmp(stop, p, l))
		return true;
	return false;
}

/* ---- generation ----------------------------------------------------------------- */

struct gen {
	struct session *s;
	const struct session_gen_opts *o;
	struct stops stops;
	struct detok_stream ds;
	size_t emitted;  /* bytes of the reply passed to on_piece */
	size_t reported; /* of them, bytes passed to on_token */
	bool stop_asked; /* a callback returned nonzero */
	double t_mark;   /* when the last token was reported */
	int gen_begin;   /* KV position of the reply's first token */
};

/* Pass the reply up to `upto` to on_piece. */
static void emit(struct gen *g, size_t upto)
{
	if (upto > g->emitted && g->o->on_piece &&
	    g->o->on_piece(g->s->reply.p + g->emitted, upto - g->emitted, g->o->ud) != 0)
		g->stop_asked = true;
	if (upto > g->emitted)
		g->emitted = upto;
}

/* The reply ends: what the detokenizer and the stop check held is final. */
static void release_all(struct gen *g)
{
	detok_stream_flush(&g->ds, &g->s->reply);
	emit(g, g->s->reply.len);
}

/* Tell on_token about token id and the text it released. */
static void report(struct gen *g, int32_t id)
{
	struct session *s = g->s;
	if (g->o->on_token) {
		const char *p = s->reply.p ? s->reply.p + g->reported : "";
		if (g->o->on_token(id, p, g->emitted - g->reported, now_sec() - g->t_mark, g->o->ud) != 0)
			g->stop_asked = true;
	}
	g->reported = g->emitted;
	g->t_mark = now_sec();
}

/* Add token id to the reply and pass on what became final. Returns the
 * reason the reply ends with this token, or SESSION_GO_ON. */
static int take_token(struct gen *g, int32_t id, size_t *scanned)
{
	struct session *s = g->s;
	if (tokenizer_is_eog(s->t, id)) {
		release_all(g);
		return SESSION_EOS;
	}
	if (is_stop_token(&g->stops, s->t, id)) {
		release_all(g);
		return SESSION_STOP;
	}
	detok_stream_push(&g->ds, id, &s->reply);
	size_t from = *scanned >= g->stops.maxlen ? *scanned - g->stops.maxlen + 1 : 0;
	long at = find_stop(&g->stops, s->reply.p, s->reply.len, from);
	if (at >= 0) {
		emit(g, (size_t)at);
		s->reply.len = (size_t)at;
		s->reply.p[at] = 0;
		return SESSION_STOP;
	}
	*scanned = s->reply.len;
	if (g->o->max_tokens > 0 && s->st.n_generated >= g->o->max_tokens) {
		release_all(g);
		return SESSION_LENGTH;
	}
	if (forward_n_pos(s->f) >= s->cfg.n_ctx) {
		snprintf(s->err, sizeof s->err, "context full: all %d positions in use", s->cfg.n_ctx);
		release_all(g);
		return SESSION_CTX_FULL;
	}
	emit(g, s->reply.len - stop_holdback(&g->stops, s->reply.p, s->reply.len, g->emitted));
	return SESSION_GO_ON;
}

static enum session_reason gen_loop(struct gen *g)
{
	struct session *s = g->s;
	size_t scanned = 0; /* reply bytes already searched for stops */
	g->t_mark = now_sec();
	for (;;) {
		if (cancelled(s))
			return SESSION_CANCEL;
		int32_t id = sampler_sample(s->smp, s->logits);
		sampler_accept(s->smp, id);
		s->st.n_generated++;
		int r = take_token(g, id, &scanned);
		report(g, id);
		if (r != SESSION_GO_ON)
			return (enum session_reason)r;
		if (g->stop_asked || cancelled(s))
			return SESSION_CANCEL;
		const float *out = forward_eval(s->f, &id, 1, false);
		if (!out && forward_stopped(s->f)) {
			forward_truncate(s->f, s->n_kv);
			return SESSION_CANCEL;
		}
		if (!out) {
			snprintf(s->err, sizeof s->err, "%s", forward_error(s->f));
			s->err_forward = true;
			forward_truncate(s->f, s->n_kv); /* keep the cache and kv_tok in step */
			return SESSION_ERROR;
		}
		kv_push(s, id);
		memcpy(s->logits, out, (size_t)s->n_vocab * sizeof *s->logits);
	}
}

static int prompt_tokens(const struct session *s, struct buf *text, int32_t **tok, size_t *n, char *err,
			 size_t errlen)
{
	buf_clear(text);
	*tok = NULL;
	*n = 0;
	if (session_render(s, text, err, errlen) < 0)
		return -1;
	if (tokenize(s->t, text->p ? text->p : "", text->len, true, true, tok, n) < 0) {
		snprintf(err, errlen, "tokenization failed");
		return -1;
	}
	return 0;
}

int session_prompt_tokens(const struct session *s, int32_t **tok, size_t *n, char *err, size_t errlen)
{
	struct buf text = {0};
	int rc = prompt_tokens(s, &text, tok, n, err, errlen);
	buf_free(&text);
	return rc;
}

/* The prompt's tokens in *tok (replacing what it held): SESSION_GO_ON, or
 * SESSION_ERROR. */
static int prepare(struct session *s, int32_t **tok, size_t *n)
{
	free(*tok);
	if (prompt_tokens(s, &s->prompt, tok, n, s->err, sizeof s->err) < 0)
		return SESSION_ERROR;
	if (*n == 0) {
		snprintf(s->err, sizeof s->err, "empty prompt");
		return SESSION_ERROR;
	}
	for (size_t i = 0; i < *n; i++)
		if ((*tok)[i] < 0 || (*tok)[i] >= s->n_vocab) {
			snprintf(s->err, sizeof s->err, "token id %d is outside the model's vocabulary", (*tok)[i]);
			return SESSION_ERROR;
		}
	return SESSION_GO_ON;
}

/* ---- context full: dropping the oldest turns ------------------------------------ */

/* Where dropping stands: the turns before `next` are dropped or kept (or
 * were when it got there: the kept start does not move), so each step of
 * a drop goes on from there and a drop is linear in the turns. */
struct dropper {
	size_t last_user;   /* never dropped, nor what follows it */
	size_t lead_system; /* the leading system turns */
	size_t next;        /* the first turn not yet known dropped or kept */
};

static struct dropper dropper_init(const struct session *s)
{
	struct dropper d = {.last_user = s->n_turns - 1};
	while (d.last_user > 0 && strcmp(s->turns[d.last_user].role, "user"))
		d.last_user--;
	while (d.lead_system < s->n_turns && !strcmp(s->turns[d.lead_system].role, "system"))
		d.lead_system++;
	return d;
}

/* Whether turn k is in the start that is never dropped (turn positions
 * from locate_turns on the current prompt). */
static bool kept(const struct session *s, const struct dropper *d, size_t k)
{
	if (s->cfg.n_keep == SESSION_KEEP_SYSTEM)
		return k < d->lead_system;
	if (s->cfg.n_keep < 0)
		return false;
	/* turn 0 begins after a BOS the tokenizer added: it counts from 0 */
	return k == 0 || (s->turns[k].tok_begin >= 0 && s->turns[k].tok_begin < s->cfg.n_keep);
}

/* The oldest turns that can go together: the first live turn after the kept
 * start, and the turns up to the next live user turn (its replies). Never
 * the last user turn or what follows it. Returns the end (exclusive) and
 * sets *from, or returns 0 when nothing can be dropped. */
static size_t next_unit(const struct session *s, struct dropper *d, size_t *from)
{
	size_t a = d->next;
	while (a < d->last_user && (s->turns[a].dropped || kept(s, d, a)))
		a++;
	d->next = a;
	if (a >= d->last_user)
		return 0;
	size_t b = a + 1;
	while (b < d->last_user && (s->turns[b].dropped || strcmp(s->turns[b].role, "user")))
		b++;
	*from = a;
	return b;
}

/* Room a reply needs: what it may generate, at most a quarter of the
 * context (an unlimited reply gets a quarter; one that needs more stops at
 * the end of the context, and the next request drops turns). */
static int reply_room(const struct session *s, int max_tokens)
{
	int q = MAX(s->cfg.n_ctx / 4, 1);
	return max_tokens > 0 ? MIN(max_tokens, q) : q;
}

/* Flag turns [a, b) dropped; *est loses their tokens. Returns how many
 * were not dropped before. */
static int drop_unit(struct session *s, size_t a, size_t b, int *est)
{
	int k = 0;
	for (size_t i = a; i < b; i++) {
		struct session_turn *u = &s->turns[i];
		if (u->dropped)
			continue;
		if (u->tok_end > u->tok_begin)
			*est -= u->tok_end - u->tok_begin;
		u->dropped = true;
		k++;
	}
	return k;
}

/* Between two steps of work before the prefill: the caller may look at
 * its input (on_prefill with 0 of 0) and cancel. */
static bool go_on(struct session *s, const struct session_gen_opts *o)
{
	if (o->on_prefill && o->on_prefill(0, 0, o->ud) != 0)
		session_cancel(s);
	return !cancelled(s);
}

#define DROP_FAILED (-1)
#define DROP_CANCELLED (-2)

/* Drop whole turns, oldest first, until the prompt (*tok, *n, rendered
 * again) is at most target tokens or nothing more can go. Each round
 * drops by the turns' token counts, then renders once to be exact: the
 * work is linear in the conversation, whatever its length. Returns the
 * turns dropped, DROP_FAILED if the prompt could not be rendered (s->err)
 * or DROP_CANCELLED. */
static int drop_oldest(struct session *s, int target, int32_t **tok, size_t *n, const struct session_gen_opts *o)
{
	int dropped = 0;
	size_t a, b;
	struct dropper d = dropper_init(s);
	if (!go_on(s, o))
		return DROP_CANCELLED;
	locate_turns(s, *tok, (int)*n);
	while (*n > (size_t)target && (b = next_unit(s, &d, &a)) > 0) {
		int est = (int)*n;
		do
			dropped += drop_unit(s, a, b, &est);
		while (est > target && (b = next_unit(s, &d, &a)) > 0);
		if (!go_on(s, o))
			return DROP_CANCELLED;
		if (prepare(s, tok, n) != SESSION_GO_ON)
			return DROP_FAILED;
		locate_turns(s, *tok, (int)*n);
		if (!go_on(s, o))
			return DROP_CANCELLED;
	}
	return dropped;
}

/* Make the prompt fit: drop the oldest turns until it takes at most half
 * the context (see session.h); if it cannot fit, nothing is dropped.
 * *tok and *n are the prompt, replaced when turns are dropped. *n_new:
 * prompt tokens of the whole conversation that were not in the KV cache,
 * for counting re-evaluations. */
static int fit_context(struct session *s, int room, int32_t **tok, size_t *n, int *n_new,
		       const struct session_gen_opts *o)
{
	int n_ctx = s->cfg.n_ctx, n0 = (int)*n;
	*n_new = n0 - cached_prefix(s, *tok, n0);
	if ((size_t)n_ctx >= *n + (size_t)room)
		return SESSION_GO_ON;
	bool *was = xcalloc(s->n_turns + 1, sizeof *was);
	for (size_t i = 0; i < s->n_turns; i++)
		was[i] = s->turns[i].dropped;
	int dropped = drop_oldest(s, n_ctx / 2, tok, n, o);
	int r = dropped == DROP_CANCELLED ? SESSION_CANCEL : dropped < 0 ? SESSION_ERROR : SESSION_GO_ON;
	if (r == SESSION_GO_ON && *n >= (size_t)n_ctx) {
		if (dropped)
			snprintf(s->err, sizeof s->err,
				 "context full: the prompt is %zu tokens even without its %d oldest turns, the "
				 "context %d (raise --ctx or shorten the last message)",
				 *n, dropped, n_ctx);
		else
			snprintf(s->err, sizeof s->err,
				 "context full: the prompt is %zu tokens and the context %d (raise --ctx or "
				 "shorten it)",
				 *n, n_ctx);
		r = SESSION_CTX_FULL;
	}
	if (r != SESSION_GO_ON) { /* as it was: nothing dropped */
		for (size_t i = 0; i < s->n_turns; i++)
			s->turns[i].dropped = was[i];
		dropped = 0;
	}
	free(was);
	s->st.n_dropped_turns = dropped;
	s->st.n_dropped_tokens = dropped ? n0 - (int)*n : 0;
	return r;
}

enum session_reason session_generate(struct session *s, const struct session_gen_opts *o)
{
	static const struct session_gen_opts none = {0};
	struct gen g = {.s = s, .o = o ? o : &none};
	s->gen_o = g.o;
	memset(&s->st, 0, sizeof s->st);
	s->err[0] = 0;
	s->notice[0] = 0;
	s->err_forward = false;
	buf_clear(&s->reply);
	g.stops.lists[0] = s->cfg.family != TMPL_UNKNOWN ? template_stops(s->cfg.family) : NULL;
	g.stops.lists[1] = g.o->stops;
	FOR_STOP(&g.stops, stop)
	g.stops.maxlen = MAX(g.stops.maxlen, strlen(stop));

	int32_t *tok = NULL;
	size_t n = 0;
	int n_new = 0;
	double t0 = now_sec();
	int r = prepare(s, &tok, &n);
	if (r == SESSION_GO_ON)
		r = fit_context(s, reply_room(s, g.o->max_tokens), &tok, &n, &n_new, g.o);
	if (r == SESSION_GO_ON) {
		locate_turns(s, tok, (int)n);
		r = eval_prompt(s, tok, (int)n, g.o);
	}
	free(tok);
	if (s->st.n_dropped_turns > 0) {
		s->st.n_reevaluated = MAX(0, s->st.n_evaluated - n_new);
		snprintf(s->notice, sizeof s->notice,
			 "context full: dropped the %d oldest turn%s (%d tokens); %d tokens re-evaluated",
			 s->st.n_dropped_turns, s->st.n_dropped_turns == 1 ? "" : "s", s->st.n_dropped_tokens,
			 s->st.n_reevaluated);
	}
	double t1 = now_sec();
	s->st.t_prompt = t1 - t0;
	if (r == SESSION_GO_ON) {
		g.gen_begin = s->n_kv;
		detok_stream_init(&g.ds, s->t, 0);
		r = gen_loop(&g);
		if ((r == SESSION_CANCEL || r == SESSION_ERROR) && s->reply.p) {
			s->reply.len = g.emitted; /* drop what the caller was not shown */
			s->reply.p[g.emitted] = 0;
		}
	}
	s->st.t_gen = now_sec() - t1;
	if (s->st.n_generated > 0) {
		session_add_turn(s, "assistant", s->reply.p ? s->reply.p : "");
		s->turns[s->n_turns - 1].tok_begin = g.gen_begin;
		s->turns[s->n_turns - 1].tok_end = s->n_kv;
	}
	atomic_store(&s->cancel, 0);
	s->gen_o = NULL;
	return (enum session_reason)r;
}
