/* test-session.c - sessions: prefix reuse in the KV cache when a turn is
 * added or edited, cancellation, seeds, stop strings, context full.
 *
 * A forward pass stopped between two layers leaves the KV cache as before
 * it: the same tokens evaluated again give the bits of a pass never stopped.
 *
 * The model is made on the fly by `$HEFT_ENGINE synth` (its built-in byte
 * vocabulary has ChatML's control tokens and a ChatML template, so every
 * byte is one token and counts are easy to reason about). Without
 * HEFT_ENGINE the test is skipped (77). */
#include "test.h"

#include "forward.h"
#include "model.h"
#include "sampler.h"
#include "session.h"
#include "template.h"
#include "threadpool.h"
#include "tokenizer.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static struct model *m;
static struct tokenizer *tok;
static enum tmpl_family family;
static struct tmpl_opts topts;

static struct session *new_session_keep(int n_ctx, float temp, int64_t seed, int n_keep)
{
	struct session_config cfg = {.family = family,
				     .tmpl = topts,
				     .sp = sampler_params_default(),
				     .n_ctx = n_ctx,
				     .threads = 2,
				     .n_keep = n_keep};
	cfg.sp.temp = temp;
	cfg.sp.seed = seed;
	char err[256];
	struct session *s = session_new(m, tok, &cfg, err, sizeof err);
	if (!s) {
		fprintf(stderr, "session_new: %s\n", err);
		exit(1);
	}
	return s;
}

static struct session *new_session(int n_ctx, float temp, int64_t seed)
{
	return new_session_keep(n_ctx, temp, seed, SESSION_KEEP_SYSTEM);
}

static int ntok(const char *text)
{
	int32_t *ids;
	size_t n;
	if (tokenize(tok, text, strlen(text), false, true, &ids, &n) < 0)
		return -1;
	free(ids);
	return (int)n;
}

/* Collects the streamed pieces; can cancel after `cancel_after` calls. */
struct sink {
	struct buf text;
	int calls, cancel_after;
	struct session *s;
	int n_pos_at_cancel;
};

static int on_piece(const char *p, size_t n, void *ud)
{
	struct sink *k = ud;
	CHECK(n > 0);
	CHECK(utf8_valid(p, n));
	buf_append(&k->text, p, n);
	if (getenv("TEST_SESSION_VERBOSE"))
		fprintf(stderr, "piece %d: '%.*s'\n", k->calls, (int)n, p);
	if (++k->calls == k->cancel_after) {
		session_cancel(k->s);
		k->n_pos_at_cancel = session_n_pos(k->s);
	}
	return 0;
}

static enum session_reason gen(struct session *s, struct sink *k, int max_tokens, const char *const *stops)
{
	struct session_gen_opts o = {.max_tokens = max_tokens, .stops = stops, .on_piece = on_piece, .ud = k};
	buf_clear(&k->text);
	k->calls = 0;
	k->s = s;
	return session_generate(s, &o);
}

static const char *last_text(const struct session *s)
{
	return session_turn(s, session_n_turns(s) - 1)->text;
}

/* Two turns, then the last user turn edited: only what changed is
 * evaluated again. */
static void test_turns_and_edit(void)
{
	struct session *s = new_session(512, 0.0f, 1);
	struct sink k = {0};
	const struct session_stats *st = session_stats(s);

	CHECK(session_add_turn(s, "system", "You are terse.") == 0);
	CHECK(session_add_turn(s, "user", "Hello there") == 0);
	CHECK(session_add_turn(s, "robot", "x") < 0);
	enum session_reason r = gen(s, &k, 12, NULL);
	CHECKF(r == SESSION_EOS || r == SESSION_LENGTH, "%s", session_reason_name(r));
	CHECK(st->n_reused == 0 && st->n_evaluated == st->n_prompt);
	CHECK(st->n_prompt == ntok("<|im_start|>system\nYou are terse.<|im_end|>\n<|im_start|>user\nHello "
				   "there<|im_end|>\n<|im_start|>assistant\n"));
	CHECK(session_n_turns(s) == 3);
	CHECK(!strcmp(session_turn(s, 2)->role, "assistant"));
	CHECK(!strcmp(last_text(s), k.text.p ? k.text.p : ""));
	/* the turns' token ranges tile the prompt */
	CHECK(session_turn(s, 0)->tok_begin == 0);
	CHECK(session_turn(s, 0)->tok_end == ntok("<|im_start|>system\nYou are terse.<|im_end|>\n"));
	CHECK(session_turn(s, 1)->tok_begin == session_turn(s, 0)->tok_end);
	CHECK(session_turn(s, 1)->tok_end <= st->n_prompt);
	CHECK(session_turn(s, 2)->tok_begin == st->n_prompt);
	int prompt1 = st->n_prompt;

	/* second turn: the first prompt stays in the KV cache */
	session_add_turn(s, "user", "And now?");
	r = gen(s, &k, 8, NULL);
	CHECKF(r == SESSION_EOS || r == SESSION_LENGTH, "%s", session_reason_name(r));
	CHECKF(st->n_reused >= prompt1, "reused %d of %d, first prompt %d", st->n_reused, st->n_prompt, prompt1);
	CHECK(st->n_evaluated == st->n_prompt - st->n_reused);
	CHECK(session_n_turns(s) == 5);

	/* edit the last user turn: drop it and its reply, add the new text */
	session_truncate(s, 3);
	session_add_turn(s, "user", "Why not?");
	r = gen(s, &k, 8, NULL);
	CHECKF(r == SESSION_EOS || r == SESSION_LENGTH, "%s", session_reason_name(r));
	/* "<|im_start|>user\n" still matches; the text onwards and the
	 * generation prompt are new */
	int expect = ntok("Why not?<|im_end|>\n") + ntok("<|im_start|>assistant\n");
	CHECKF(st->n_evaluated == expect, "evaluated %d, expected %d (prompt %d, reused %d)", st->n_evaluated,
	       expect, st->n_prompt, st->n_reused);
	CHECK(st->n_reused == st->n_prompt - expect);

	/* regenerate: nothing changed, only the last prompt token is evaluated
	 * again (for its logits); greedy gives the same reply */
	char *reply = xstrdup(last_text(s));
	session_truncate(s, session_n_turns(s) - 1);
	r = gen(s, &k, 8, NULL);
	CHECK(st->n_evaluated == 1 && st->n_reused == st->n_prompt - 1);
	CHECK(!strcmp(reply, last_text(s)));
	free(reply);

	/* clear: everything is evaluated again */
	session_clear(s);
	CHECK(session_n_turns(s) == 0 && session_n_pos(s) == 0);
	session_add_turn(s, "user", "Hello there");
	gen(s, &k, 2, NULL);
	CHECK(st->n_reused == 0);
	buf_free(&k.text);
	session_free(s);
}

/* Cancel from the piece callback: no token is evaluated after it. */
static void test_cancel(void)
{
	struct session *s = new_session(512, 1.0f, 7);
	struct sink k = {.cancel_after = 2};
	session_add_turn(s, "user", "Tell me a long story.");
	enum session_reason r = gen(s, &k, 64, NULL);
	CHECKF(r == SESSION_CANCEL, "%s after %d pieces", session_reason_name(r), k.calls);
	/* a final call may flush text held back (partial UTF-8, a stop string's start) */
	CHECKF(k.calls == 2 || k.calls == 3, "%d calls", k.calls);
	CHECK(session_n_pos(s) == k.n_pos_at_cancel);
	CHECK(session_n_turns(s) == 2 && !strcmp(last_text(s), k.text.p));

	/* cancelled before it starts: nothing evaluated, no reply */
	session_truncate(s, 1);
	session_add_turn(s, "assistant", "Once");
	session_add_turn(s, "user", "Go on.");
	int pos = session_n_pos(s);
	k.cancel_after = 0;
	session_cancel(s);
	r = gen(s, &k, 64, NULL);
	CHECK(r == SESSION_CANCEL);
	CHECK(session_stats(s)->n_generated == 0 && session_stats(s)->n_evaluated == 0);
	CHECK(session_n_turns(s) == 3);
	CHECK(session_n_pos(s) <= pos);
	/* the flag does not stick */
	r = gen(s, &k, 3, NULL);
	CHECK(r != SESSION_CANCEL && session_stats(s)->n_generated > 0);
	buf_free(&k.text);
	session_free(s);
}

/* forward_set_stop: true at the k-th question (k counts down). */
static bool stop_at(void *ud)
{
	int *k = ud;
	return --*k == 0;
}

/* A batch stopped between two layers: NULL, forward_stopped, the positions
 * as before; then the same batch gives the logits of a pass never stopped,
 * after a prefix and from an empty cache alike. */
static void test_forward_stop(void)
{
	struct threadpool *tp = threadpool_new(2);
	struct forward *ref = forward_new(m, tp, 256, 64), *f = forward_new(m, tp, 256, 64);
	int32_t a[5] = {10, 20, 30, 40, 50}, b[7] = {60, 70, 80, 90, 100, 110, 120};
	size_t nv = (size_t)m->hp.n_vocab * sizeof(float);
	float *want = xmalloc(nv);
	CHECK(forward_eval(ref, a, 5, false) != NULL);
	memcpy(want, forward_eval(ref, b, 7, false), nv);

	for (int pre = 0; pre < 2; pre++) {
		forward_truncate(f, 0);
		if (pre)
			CHECK(forward_eval(f, a, 5, false) != NULL);
		int at = 1; /* before the second layer */
		forward_set_stop(f, stop_at, &at);
		CHECK(forward_eval(f, b, 7, false) == NULL);
		CHECK(forward_stopped(f));
		CHECKF(forward_n_pos(f) == (pre ? 5 : 0), "%d positions after a stopped batch", forward_n_pos(f));
		forward_set_stop(f, NULL, NULL);
		if (!pre)
			CHECK(forward_eval(f, a, 5, false) != NULL);
		const float *got = forward_eval(f, b, 7, false);
		CHECK(got && !forward_stopped(f) && forward_n_pos(f) == 12);
		CHECKF(got && !memcmp(got, want, nv), "logits differ after a stopped batch (prefix %d)", pre);
	}
	free(want);
	forward_free(f);
	forward_free(ref);
	threadpool_free(tp);
}

/* Same seed, same reply; a stop string cuts it and is never streamed. */
static void test_seed_and_stops(void)
{
	char *out[2];
	struct sink k = {0};
	for (int i = 0; i < 2; i++) {
		struct session *s = new_session(256, 0.9f, 42);
		session_add_turn(s, "user", "Pick some words.");
		enum session_reason r = gen(s, &k, 24, NULL);
		CHECK(r == SESSION_EOS || r == SESSION_LENGTH);
		CHECK(!strcmp(last_text(s), k.text.p ? k.text.p : ""));
		out[i] = xstrdup(last_text(s));
		session_free(s);
	}
	CHECKF(!strcmp(out[0], out[1]), "'%s' vs '%s'", out[0], out[1]);
	size_t len = strlen(out[0]);
	CHECKF(len >= 6, "reply too short for the stop test: '%s'", out[0]);
	if (len >= 6) {
		char stop[4];
		memcpy(stop, out[0] + len / 2, 3);
		stop[3] = 0;
		const char *stops[] = {"\x01never", stop, NULL};
		size_t at = (size_t)(strstr(out[0], stop) - out[0]);
		struct session *s = new_session(256, 0.9f, 42);
		session_add_turn(s, "user", "Pick some words.");
		enum session_reason r = gen(s, &k, 24, stops);
		CHECKF(r == SESSION_STOP, "%s", session_reason_name(r));
		CHECK(k.text.len == at && !memcmp(k.text.p ? k.text.p : "", out[0], at));
		CHECK(strlen(last_text(s)) == at);
		session_free(s);
	}
	free(out[0]);
	free(out[1]);
	buf_free(&k.text);
}

/* A prompt that does not fit is refused; a reply that reaches the end of
 * the context stops there and is kept. */
static void test_context_full(void)
{
	struct session *s = new_session(32, 0.0f, 1);
	struct sink k = {0};
	session_add_turn(s, "user", "This message is much longer than the thirty-two positions of the context.");
	enum session_reason r = gen(s, &k, 8, NULL);
	CHECK(r == SESSION_CTX_FULL);
	CHECK(strstr(session_error(s), "context full") != NULL);
	CHECK(session_stats(s)->n_generated == 0 && session_n_pos(s) == 0);
	CHECK(session_n_turns(s) == 1);

	session_truncate(s, 0);
	session_add_turn(s, "user", "Hi");
	int prompt = ntok("<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
	r = gen(s, &k, 0, NULL);
	if (r == SESSION_EOS) { /* the model ended early: nothing to check */
		fprintf(stderr, "note: the reply ended before the context\n");
	} else {
		CHECKF(r == SESSION_CTX_FULL, "%s", session_reason_name(r));
		CHECK(session_n_pos(s) == 32);
		CHECK(session_stats(s)->n_generated == 32 - prompt + 1);
		CHECK(session_n_turns(s) == 2);
	}
	buf_free(&k.text);
	session_free(s);
}

/* Tokens the conversation renders to now (with the generation prompt). */
static int rendered_tokens(const struct session *s, struct buf *text)
{
	char err[128];
	buf_clear(text);
	CHECK(session_render(s, text, err, sizeof err) == 0);
	int32_t *ids;
	size_t n;
	CHECK(session_prompt_tokens(s, &ids, &n, err, sizeof err) == 0);
	free(ids);
	CHECK((int)n == ntok(text->p ? text->p : ""));
	return (int)n;
}

/* Questions and short replies until the conversation outgrows the context
 * (DROP_CTX: dropping starts when the prompt plus 8 tokens of reply no
 * longer fit, and goes down to half; a question and its reply are about
 * 55 tokens, so some stay). Returns the turn count before the generation
 * that dropped, or 0 if none did. */
#define DROP_CTX 320
static size_t grow_until_drop(struct session *s, struct sink *k, struct buf *text, int *n_full)
{
	const struct session_stats *st = session_stats(s);
	for (int i = 0; i < 40; i++) {
		char msg[64];
		snprintf(msg, sizeof msg, "Question number %d, please?", i);
		session_add_turn(s, "user", msg);
		size_t before = session_n_turns(s);
		*n_full = rendered_tokens(s, text);
		enum session_reason r = gen(s, k, 8, NULL);
		CHECKF(r == SESSION_EOS || r == SESSION_LENGTH, "%s: %s", session_reason_name(r), session_error(s));
		if (r != SESSION_EOS && r != SESSION_LENGTH)
			return 0;
		if (getenv("TEST_SESSION_VERBOSE"))
			fprintf(stderr, "turn %zu: prompt %d (full %d), reused %d, evaluated %d, %s\n", before,
				st->n_prompt, *n_full, st->n_reused, st->n_evaluated, session_notice(s));
		if (st->n_dropped_turns > 0)
			return before;
		CHECKF(*n_full + 8 <= DROP_CTX, "no drop at %d prompt tokens", *n_full);
		CHECK(!*session_notice(s));
	}
	return 0;
}

/* The context fills up: the oldest whole turns are dropped, the system
 * prompt stays and is reused from the KV cache, the rest is evaluated
 * again and counted; the next turn reuses all that. */
static void test_context_drop(void)
{
	struct session *s = new_session(DROP_CTX, 0.0f, 1);
	struct sink k = {0};
	struct buf text = {0};
	const struct session_stats *st = session_stats(s);
	const char *sys = "<|im_start|>system\nBe brief.<|im_end|>\n";
	session_add_turn(s, "system", "Be brief.");
	int n_full;
	size_t n_turns = grow_until_drop(s, &k, &text, &n_full);
	CHECK(n_turns > 0);
	if (!n_turns)
		goto out;
	/* every turn is still there, the dropped ones flagged: a whole
	 * question with its reply each, right after the system prompt */
	CHECK(session_n_turns(s) == n_turns + 1);
	CHECK(!session_turn(s, 0)->dropped);
	size_t d = 1;
	while (session_turn(s, d)->dropped)
		d++;
	CHECKF(d - 1 == (size_t)st->n_dropped_turns && d % 2 == 1, "first live turn %zu, %d dropped", d,
	       st->n_dropped_turns);
	CHECK(!strcmp(session_turn(s, d)->role, "user"));
	CHECK(session_n_live(s) == session_n_turns(s) - (size_t)st->n_dropped_turns);
	CHECK(session_turn(s, 1)->tok_begin == -1);
	/* down to half the context; the system prompt came from the cache */
	CHECKF(st->n_prompt <= DROP_CTX / 2 && st->n_prompt + st->n_dropped_tokens == n_full,
	       "prompt %d + dropped %d vs %d before", st->n_prompt, st->n_dropped_tokens, n_full);
	CHECKF(st->n_reused >= ntok(sys), "reused %d", st->n_reused);
	CHECKF(st->n_reevaluated > 0 && st->n_reevaluated < st->n_evaluated, "re-evaluated %d of %d",
	       st->n_reevaluated, st->n_evaluated);
	CHECK(strstr(session_notice(s), "dropped") != NULL);
	rendered_tokens(s, &text);
	CHECK(!strncmp(text.p, sys, strlen(sys)));
	CHECK(!strstr(text.p, "Question number 0,"));
	CHECK(session_n_pos(s) <= st->n_prompt + st->n_generated);

	/* the next turn: nothing dropped, everything before reused */
	int prev = st->n_prompt;
	session_add_turn(s, "user", "And the next?");
	enum session_reason r = gen(s, &k, 4, NULL);
	CHECK(r == SESSION_EOS || r == SESSION_LENGTH);
	CHECKF(st->n_dropped_turns == 0 && st->n_reevaluated == 0 && st->n_reused >= prev,
	       "dropped %d, reused %d (previous prompt %d)", st->n_dropped_turns, st->n_reused, prev);
	CHECK(!*session_notice(s));

	/* the next drop goes on from the first: still one run of whole turns
	 * after the system prompt, counted once */
	n_turns = grow_until_drop(s, &k, &text, &n_full);
	CHECK(n_turns > 0);
	size_t d2 = 1;
	while (d2 < session_n_turns(s) && session_turn(s, d2)->dropped)
		d2++;
	CHECKF(d2 > d && d2 - d == (size_t)st->n_dropped_turns && d2 % 2 == 1,
	       "first live turn %zu, then %zu (%d dropped)", d, d2, st->n_dropped_turns);
	CHECK(session_n_live(s) == session_n_turns(s) - (d2 - 1));
	for (size_t i = d2; i < session_n_turns(s); i++)
		CHECK(!session_turn(s, i)->dropped);

	/* a message that cannot fit even alone: refused, nothing dropped */
	size_t live = session_n_live(s);
	int pos = session_n_pos(s);
	char big[DROP_CTX + 10];
	memset(big, 'x', sizeof big - 1);
	big[sizeof big - 1] = 0;
	session_add_turn(s, "user", big);
	r = gen(s, &k, 4, NULL);
	CHECKF(r == SESSION_CTX_FULL && strstr(session_error(s), "even without"), "%s: %s", session_reason_name(r),
	       session_error(s));
	CHECK(session_n_live(s) == live + 1 && session_n_pos(s) == pos && st->n_generated == 0);
	CHECK(st->n_dropped_turns == 0 && st->n_evaluated == 0);

	/* editing a dropped turn: every turn after it goes, the dropped ones
	 * come back; a flag can be set by hand (restoring a session) */
	session_truncate(s, 2);
	CHECK(session_n_turns(s) == 2 && session_n_live(s) == 2);
	CHECK(session_set_dropped(s, 1, true) == 0 && session_set_dropped(s, 2, true) < 0);
	rendered_tokens(s, &text);
	CHECK(!strstr(text.p, "Question number 0,"));
	CHECK(session_set_dropped(s, 1, false) == 0);
	rendered_tokens(s, &text);
	CHECK(strstr(text.p, "Question number 0,") != NULL);
out:
	buf_free(&k.text);
	buf_free(&text);
	session_free(s);
}

/* --keep: nothing (the system prompt goes too), or N tokens (every turn
 * that begins within them stays). */
static void test_context_keep(void)
{
	struct sink k = {0};
	struct buf text = {0};
	int n_full;
	struct session *s = new_session_keep(DROP_CTX, 0.0f, 1, SESSION_KEEP_NONE);
	session_add_turn(s, "system", "Be brief.");
	size_t n = grow_until_drop(s, &k, &text, &n_full);
	CHECK(n > 0);
	if (n > 0) {
		CHECK(session_turn(s, 0)->dropped);
		rendered_tokens(s, &text);
		CHECK(!strstr(text.p, "Be brief."));
	}
	session_free(s);

	int sys = ntok("<|im_start|>system\nBe brief.<|im_end|>\n");
	s = new_session_keep(DROP_CTX, 0.0f, 1, sys + 1);
	session_add_turn(s, "system", "Be brief.");
	n = grow_until_drop(s, &k, &text, &n_full);
	CHECK(n > 0);
	if (n > 0) {
		CHECK(!session_turn(s, 0)->dropped && !session_turn(s, 1)->dropped);
		CHECK(session_turn(s, 2)->dropped);
		rendered_tokens(s, &text);
		CHECK(strstr(text.p, "Question number 0,") != NULL);
		CHECK(!strstr(text.p, "Question number 1,"));
	}
	session_free(s);
	buf_free(&k.text);
	buf_free(&text);
}

int main(void)
{
	const char *engine = getenv("HEFT_ENGINE");
	if (!engine || access(engine, X_OK) != 0) {
		printf("test-session: HEFT_ENGINE not set or not executable; skipping\n");
		return 77;
	}
	char path[] = "/tmp/heft-test-session.XXXXXX";
	int fd = mkstemp(path);
	if (fd < 0) {
		perror("mkstemp");
		return 99;
	}
	close(fd);
	char *cmd;
	xasprintf(&cmd,
		  "'%s' synth -q --arch qwen3 --embd 64 --layers 2 --heads 4 --kv-heads 2 --ff 128 --vocab 300 "
		  "--seed 3 -o '%s'",
		  engine, path);
	int rc = system(cmd);
	free(cmd);
	if (rc != 0) {
		fprintf(stderr, "test-session: synth failed\n");
		unlink(path);
		return 99;
	}
	char err[512];
	m = model_load(path, err, sizeof err);
	unlink(path);
	if (!m || !(tok = tokenizer_load(m->g, err, sizeof err))) {
		fprintf(stderr, "test-session: %s\n", err);
		return 99;
	}
	family = template_from_gguf(m->g, NULL, &topts, err, sizeof err);
	if (family == TMPL_UNKNOWN) {
		fprintf(stderr, "test-session: %s\n", err);
		return 99;
	}
	test_turns_and_edit();
	test_cancel();
	test_forward_stop();
	test_seed_and_stops();
	test_context_full();
	test_context_drop();
	test_context_keep();
	tokenizer_free(tok);
	model_free(m);
	return test_done("test-session");
}
