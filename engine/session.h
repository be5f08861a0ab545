/* session.h - a conversation with a model: turns, generation, editing.
 *
 * A session holds a list of turns (role + text), renders them with the
 * model's chat template, and keeps the KV cache in step with the tokens it
 * evaluated. Before each generation the whole conversation is rendered and
 * tokenized again; the longest common prefix with the tokens already in the
 * KV cache is kept and only the rest is evaluated. So appending a turn
 * evaluates only the new turn, and editing turn K (session_truncate, then
 * session_add_turn) re-evaluates from the first token that changed.
 *
 * Raw mode (family TMPL_UNKNOWN): no template; the prompt is the turns' text
 * concatenated, so "run" is one user turn and a generation.
 *
 * Context full: when the prompt plus room for the reply (max_tokens, at
 * most a quarter of the context; a quarter when unlimited) does not fit,
 * the oldest turns are dropped from the context, whole (a user turn with
 * the replies that follow it), never the kept start (n_keep) nor the last
 * user turn, until the prompt takes at most half the context. Dropping to
 * half rather than just enough makes the next drop, which re-evaluates
 * everything after the kept start (positions move; nothing is shifted in
 * place), many turns away. Dropped turns stay in the session (they are
 * flagged, not rendered) so turn numbers do not change; they come back
 * when every turn after them is truncated. A prompt that does not fit even
 * then is refused (SESSION_CTX_FULL, nothing evaluated or dropped, the KV
 * cache unchanged); a reply that reaches the end of the context stops with
 * SESSION_CTX_FULL and keeps what it generated (the next generation drops
 * turns).
 *
 * The model and the tokenizer are borrowed (they must outlive the session);
 * everything else is owned. One thread drives a session; only
 * session_cancel may be called from another thread or a signal handler. */
#ifndef HEFT_SESSION_H
#define HEFT_SESSION_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sampler.h"
#include "template.h"

struct model;
struct tokenizer;
struct session;

struct session_config {
	enum tmpl_family family;  /* TMPL_UNKNOWN: raw text, no template */
	struct tmpl_opts tmpl;    /* options of the template (thinking, date...) */
	struct sampler_params sp; /* sampler_params_default() if unsure */
	int n_ctx;                /* KV positions; 0: the model's, capped at 4096 */
	int threads;              /* 0: one per core */
	int max_batch;            /* tokens per forward call; 0: the memory plan's
				   * prompt chunk (-b), or 512 without one */
	int n_keep;               /* never dropped when the context is full:
				   * SESSION_KEEP_SYSTEM the leading system turns,
				   * SESSION_KEEP_NONE nothing, N > 0 every turn that
				   * begins within the prompt's first N tokens */
};

#define SESSION_KEEP_SYSTEM 0 /* the default */
#define SESSION_KEEP_NONE (-1)

/* The command line's --keep N (-1: the system prompt, as llama.cpp's -1
 * keeps the whole initial prompt; 0: nothing; N: tokens) as n_keep. */
static inline int session_keep_flag(long long n)
{
	return n < 0 ? SESSION_KEEP_SYSTEM : n == 0 ? SESSION_KEEP_NONE : (int)n;
}

/* The turn the session holds: text as given (or generated), and the KV
 * positions [tok_begin, tok_end) its rendering occupied the last time the
 * conversation was evaluated (-1, -1 before that, or when dropped). */
struct session_turn {
	char *role;
	char *text;
	int tok_begin, tok_end;
	bool dropped; /* out of the context: not rendered (see above) */
};

enum session_reason {
	SESSION_EOS,      /* the model ended its turn (EOS/EOT/EOM) */
	SESSION_LENGTH,   /* max_tokens generated */
	SESSION_STOP,     /* a stop string (template or user) was generated */
	SESSION_CANCEL,   /* session_cancel() */
	SESSION_CTX_FULL, /* the context has no room left (see above) */
	SESSION_ERROR,    /* see session_error() */
};

/* Called with each piece of the reply as it becomes known: valid UTF-8,
 * never part of a stop string. Return nonzero to cancel. */
typedef int (*session_piece_fn)(const char *piece, size_t len, void *ud);

/* Called once per generated token, after its on_piece calls, with the text
 * that token released: valid UTF-8, maybe empty (bytes held back for a
 * possible stop string or an unfinished character come with a later
 * token; an end-of-generation token releases what was held). So the pieces
 * of all tokens concatenated are the reply, and there is one call per
 * token counted in n_generated, the final EOS or stop token included.
 * t_s: seconds since the previous token was reported (the first token:
 * since the prompt was evaluated), i.e. its forward pass and sampling.
 * Return nonzero to cancel. */
typedef int (*session_token_fn)(int32_t id, const char *piece, size_t len, double t_s, void *ud);

/* Called after each batch of the prompt is evaluated: done of total tokens
 * to evaluate (the reused prefix is not counted); before that with 0 of 0
 * between the steps of making room (dropping turns: linear in the turns,
 * but a long history takes a while), so a caller can read its requests.
 * Nonzero cancels. */
typedef int (*session_prefill_fn)(int done, int total, void *ud);

struct session_gen_opts {
	int max_tokens;            /* <= 0: until EOS, a stop or the context end */
	const char *const *stops;  /* user stop strings, NULL-terminated, or NULL */
	session_piece_fn on_piece; /* each may be NULL */
	session_token_fn on_token;
	session_prefill_fn on_prefill;
	void *ud;
	/* Another thread's cancel flag for this generation (a job's), or NULL:
	 * looked at like session_cancel's, between layers of a batch too, so
	 * a prompt batch is abandoned at once and its positions not kept. */
	const atomic_bool *cancel;
	/* Called with ud between two layers of every forward pass of this
	 * generation (the pipe reads its input there, so a cancel is seen
	 * within a layer, not a batch), or NULL. It may call session_cancel
	 * and read stats; nothing else. */
	void (*on_layer)(void *ud);
};

struct session_stats {
	int n_prompt;     /* tokens of the rendered prompt */
	int n_reused;     /* of them, kept from the KV cache */
	int n_evaluated;  /* of them, evaluated (n_prompt - n_reused) */
	int n_generated;  /* tokens of the reply (a final EOS/stop token included) */
	double t_prompt;  /* seconds evaluating the prompt */
	double t_gen;     /* seconds generating */
	/* The context was full: turns this generation dropped, the prompt
	 * tokens that left with them, and of n_evaluated those evaluated
	 * before at other positions (the cost of dropping). */
	int n_dropped_turns, n_dropped_tokens, n_reevaluated;
};

/* NULL with a one-line reason in err. */
struct session *session_new(const struct model *m, const struct tokenizer *t, const struct session_config *cfg,
			    char *err, size_t errlen);
void session_free(struct session *s);

/* Append a turn ("system", "user", "assistant"). Returns 0, -1 if the role
 * is not one of these. */
int session_add_turn(struct session *s, const char *role, const char *text);

/* Keep turns [0, k); later ones are deleted. The KV cache is left as it
 * is: the next generation reuses whatever prefix still matches. Turns
 * dropped from the context come back when no live turn follows them. */
void session_truncate(struct session *s, size_t k);
/* Flag turn i as dropped from the context, or not (restoring a saved
 * conversation as it was). 0, or -1 if there is no turn i. */
int session_set_dropped(struct session *s, size_t i, bool dropped);
/* Turns not dropped from the context. */
size_t session_n_live(const struct session *s);
/* Drop every turn and empty the KV cache. */
void session_clear(struct session *s);

size_t session_n_turns(const struct session *s);
const struct session_turn *session_turn(const struct session *s, size_t i);

/* Render the conversation, evaluate what is not cached, and generate the
 * assistant's reply, appended as a new turn (also when cancelled or cut
 * short, unless nothing was generated). A reply that is cancelled or fails
 * ends with the last text passed to the callbacks: bytes held back then
 * are dropped, so the turn is exactly what the caller was shown. After a
 * failure the KV cache still matches the tokens the session knows. */
enum session_reason session_generate(struct session *s, const struct session_gen_opts *o);

/* Stop the running (or next) generation before its next token. Async-signal
 * safe; cleared when session_generate returns. */
void session_cancel(struct session *s);

const struct session_stats *session_stats(const struct session *s);
/* Why the last generation ended with SESSION_ERROR or SESSION_CTX_FULL. */
const char *session_error(const struct session *s);
/* What the last generation did to the conversation that the user should
 * know, one line ("context full: dropped the 2 oldest turns ..."), or "". */
const char *session_notice(const struct session *s);
/* Whether that SESSION_ERROR came from the forward pass (in practice a
 * failed read of the weights) rather than from rendering the prompt. */
bool session_error_in_forward(const struct session *s);
const char *session_reason_name(enum session_reason r);
int session_n_ctx(const struct session *s);
/* Switch the template, e.g. to TMPL_UNKNOWN for a raw completion and back.
 * The KV cache stays; the next generation reuses what still matches. */
void session_set_family(struct session *s, enum tmpl_family f);
enum tmpl_family session_family(const struct session *s);
/* Tokens per forward call during prefill. */
int session_max_batch(const struct session *s);
/* KV positions in use. */
int session_n_pos(const struct session *s);
struct sampler *session_sampler(struct session *s);

/* Saving and restoring the conversation's KV state (kvstate.h): the
 * forward state, and the tokens its KV cache holds (*n = its n_pos). */
struct forward;
struct forward *session_forward(struct session *s);
const int32_t *session_kv_tokens(const struct session *s, int *n);
/* After positions [0, n) of the KV cache were restored: they hold tok[0, n)
 * (later positions are dropped). The sampler takes them as history, as if
 * this session had evaluated them. 0, or -1 if n exceeds the cache. */
int session_set_kv_tokens(struct session *s, const int32_t *tok, int n);

/* The prompt the conversation renders to now (with the generation prompt),
 * appended to out; 0 or -1 (message in err). For tests and --verbose. */
struct buf;
int session_render(const struct session *s, struct buf *out, char *err, size_t errlen);
/* The same, tokenized as a generation would (*tok malloc'ed, *n tokens):
 * what a saved KV state is matched against. 0 or -1 (message in err). */
int session_prompt_tokens(const struct session *s, int32_t **tok, size_t *n, char *err, size_t errlen);

#endif
