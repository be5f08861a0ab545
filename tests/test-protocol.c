/* test-protocol.c - round trips and hostile input for the protocol codec and
 * the line reader. Every malformed line must come back as an error with a
 * message, never a crash (run it under ASan/UBSan). */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "linereader.h"
#include "protocol.h"
#include "test.h"
#include "util.h"
#include "xorshift.h"

/* ---- helpers ---------------------------------------------------------------------- */

static bool streq(const char *a, const char *b)
{
	if (!a || !b)
		return a == b;
	return strcmp(a, b) == 0;
}

/* Doubles on the wire carry 15 significant digits. */
static bool near(double a, double b)
{
	if (isnan(a) || isnan(b))
		return isnan(a) && isnan(b);
	return fabs(a - b) <= 1e-14 * fmax(1.0, fmax(fabs(a), fabs(b)));
}

static bool options_equal(const struct msg_options *a, const struct msg_options *b)
{
	if (a->present != b->present || a->n_stop != b->n_stop)
		return false;
	for (size_t i = 0; i < a->n_stop; i++)
		if (!streq(a->stop[i], b->stop[i]))
			return false;
	unsigned p = a->present;
#define OPT_EQ(bit, cmp) (!(p & MSG_OPT_BIT(bit)) || (cmp))
	return OPT_EQ(OPT_TEMP, near(a->temp, b->temp)) &&
	       OPT_EQ(OPT_TOP_K, a->top_k == b->top_k) &&
	       OPT_EQ(OPT_TOP_P, near(a->top_p, b->top_p)) &&
	       OPT_EQ(OPT_MIN_P, near(a->min_p, b->min_p)) &&
	       OPT_EQ(OPT_REPEAT_PENALTY, near(a->repeat_penalty, b->repeat_penalty)) &&
	       OPT_EQ(OPT_REPEAT_LAST_N, a->repeat_last_n == b->repeat_last_n) &&
	       OPT_EQ(OPT_SEED, a->seed == b->seed) &&
	       OPT_EQ(OPT_N_PREDICT, a->n_predict == b->n_predict);
#undef OPT_EQ
}

static bool numbers_equal(const struct msg_numbers *a, const struct msg_numbers *b)
{
	if (a->n != b->n)
		return false;
	for (size_t i = 0; i < a->n; i++) {
		const struct msg_stat *x = &a->v[i], *y = msg_numbers_get(b, x->key);
		if (!y || x->n != y->n || x->is_array != y->is_array)
			return false;
		for (size_t k = 0; k < x->n; k++)
			if (!near(x->v[k], y->v[k]))
				return false;
	}
	return true;
}

static bool msg_equal(const struct msg *a, const struct msg *b)
{
	if (a->type != b->type)
		return false;
	switch (a->type) {
	case MSG_HELLO:
		return a->hello.protocol == b->hello.protocol &&
		       streq(a->hello.program, b->hello.program) &&
		       streq(a->hello.version, b->hello.version);
	case MSG_LOAD:
		return streq(a->load.model, b->load.model) && a->load.mem == b->load.mem &&
		       a->load.ctx == b->load.ctx && a->load.threads == b->load.threads &&
		       a->load.io == b->load.io && a->load.cache_policy == b->load.cache_policy &&
		       a->load.no_prefetch == b->load.no_prefetch &&
		       streq(a->load.chat_template, b->load.chat_template);
	case MSG_CHAT:
		if (a->chat.id != b->chat.id || a->chat.n_messages != b->chat.n_messages ||
		    !streq(a->chat.text, b->chat.text))
			return false;
		for (size_t i = 0; i < a->chat.n_messages; i++)
			if (!streq(a->chat.messages[i].role, b->chat.messages[i].role) ||
			    !streq(a->chat.messages[i].content, b->chat.messages[i].content))
				return false;
		return options_equal(&a->chat.options, &b->chat.options);
	case MSG_COMPLETE:
		return a->complete.id == b->complete.id &&
		       streq(a->complete.prompt, b->complete.prompt) &&
		       options_equal(&a->complete.options, &b->complete.options);
	case MSG_CANCEL:
		return a->cancel.has_id == b->cancel.has_id &&
		       (!a->cancel.has_id || a->cancel.id == b->cancel.id);
	case MSG_TRUNCATE:
		return a->truncate.turn == b->truncate.turn;
	case MSG_SET:
		return options_equal(&a->set.options, &b->set.options);
	case MSG_SAVE:
	case MSG_RESTORE:
		return streq(a->save.path, b->save.path);
	case MSG_LOADED:
		return streq(a->loaded.model, b->loaded.model) &&
		       streq(a->loaded.arch, b->loaded.arch) &&
		       a->loaded.n_params == b->loaded.n_params &&
		       a->loaded.n_ctx == b->loaded.n_ctx &&
		       a->loaded.n_layer == b->loaded.n_layer &&
		       a->loaded.n_expert == b->loaded.n_expert &&
		       a->loaded.n_expert_used == b->loaded.n_expert_used &&
		       a->loaded.n_vocab == b->loaded.n_vocab &&
		       numbers_equal(&a->loaded.plan, &b->loaded.plan) &&
		       streq(a->loaded.mode, b->loaded.mode) &&
		       streq(a->loaded.cache_policy, b->loaded.cache_policy) &&
		       streq(a->loaded.chat_template, b->loaded.chat_template);
	case MSG_PROGRESS:
		return streq(a->progress.what, b->progress.what) &&
		       a->progress.done == b->progress.done &&
		       a->progress.total == b->progress.total;
	case MSG_TOKEN:
		return a->token.id == b->token.id && a->token.tok == b->token.tok &&
		       streq(a->token.text, b->token.text) && near(a->token.t_ms, b->token.t_ms) &&
		       a->token.has_io_wait == b->token.has_io_wait &&
		       (!a->token.has_io_wait || near(a->token.io_wait_ms, b->token.io_wait_ms));
	case MSG_STATS:
		return numbers_equal(&a->stats.stats, &b->stats.stats);
	case MSG_DONE:
		return a->done.id == b->done.id && a->done.reason == b->done.reason &&
		       a->done.n_prompt == b->done.n_prompt &&
		       a->done.n_cached == b->done.n_cached && a->done.n_gen == b->done.n_gen &&
		       near(a->done.prompt_tok_s, b->done.prompt_tok_s) &&
		       near(a->done.gen_tok_s, b->done.gen_tok_s) &&
		       a->done.has_ms == b->done.has_ms &&
		       (!a->done.has_ms || (near(a->done.prompt_ms, b->done.prompt_ms) &&
					    near(a->done.gen_ms, b->done.gen_ms))) &&
		       a->done.has_pos == b->done.has_pos &&
		       (!a->done.has_pos ||
			(a->done.n_pos == b->done.n_pos && a->done.n_ctx == b->done.n_ctx)) &&
		       streq(a->done.message, b->done.message);
	case MSG_ERROR:
		return a->error.code == b->error.code && streq(a->error.message, b->error.message) &&
		       a->error.has_id == b->error.has_id &&
		       (!a->error.has_id || a->error.id == b->error.id);
	default:
		return true;
	}
}

static enum msg_dir dir_of(enum msg_type t)
{
	return t >= MSG_LOADED ? MSG_EVENT : MSG_REQUEST;
}

/* Encode m, check it is exactly one line, decode it and compare. The
 * encoded line (without '\n') is left in *line for further abuse. */
static void round_trip(const struct msg *m, struct buf *line)
{
	struct msg back;
	struct msg_err err;

	buf_clear(line);
	CHECKF(msg_encode(m, line), "encode %s", msg_type_name(m->type));
	CHECKF(line->len > 0 && line->p[line->len - 1] == '\n', "%s: no newline",
	       msg_type_name(m->type));
	line->p[--line->len] = '\0';
	CHECKF(!memchr(line->p, '\n', line->len), "%s: embedded newline", line->p);
	CHECKF(utf8_valid(line->p, line->len), "%s: invalid UTF-8 on the wire", line->p);
	bool ok = msg_decode(&back, line->p, line->len, dir_of(m->type), &err);
	CHECKF(ok, "decode %s: %s", line->p, err.text);
	if (ok)
		CHECKF(msg_equal(m, &back), "round trip differs: %s", line->p);
	msg_free(&back);
}

/* Decode must fail, with a message and the given code (-1: any code). */
static void expect_fail_n(const char *line, size_t len, enum msg_dir dir, int code)
{
	struct msg m;
	struct msg_err err;

	bool ok = msg_decode(&m, line, len, dir, &err);
	CHECKF(!ok, "accepted: %.*s", (int)MIN(len, 200), line);
	if (ok) {
		msg_free(&m);
		return;
	}
	CHECKF(m.type == MSG_NONE, "type left set on failure");
	CHECKF(err.text[0] != '\0', "no error text for %.*s", (int)MIN(len, 200), line);
	CHECKF(utf8_valid(err.text, strlen(err.text)), "error text not UTF-8: %s", err.text);
	for (const char *c = err.text; *c; c++)
		CHECKF((unsigned char)*c >= 0x20 && *c != 0x7f, "control in error: %s", err.text);
	if (code >= 0)
		CHECKF((int)err.code == code, "%.*s: code %s, want %s (%s)", (int)MIN(len, 200),
		       line, msg_errcode_name(err.code), msg_errcode_name((enum msg_errcode)code),
		       err.text);
}

static void expect_fail(const char *line, enum msg_dir dir, int code)
{
	expect_fail_n(line, strlen(line), dir, code);
}

static void expect_ok(const char *line, enum msg_dir dir, enum msg_type type, struct msg *m)
{
	struct msg_err err;

	bool ok = msg_decode(m, line, strlen(line), dir, &err);
	CHECKF(ok, "rejected %s: %s", line, err.text);
	CHECKF(!ok || m->type == type, "%s: decoded as %s", line, msg_type_name(m->type));
}

/* ---- building sample messages ------------------------------------------------------ */

static void sample_options(struct msg_options *o)
{
	char e[128];

	CHECK(msg_options_set(o, "temp", "0.7", e, sizeof e));
	CHECK(msg_options_set(o, "top_k", "40", e, sizeof e));
	CHECK(msg_options_set(o, "top_p", "0.95", e, sizeof e));
	CHECK(msg_options_set(o, "min_p", "0.05", e, sizeof e));
	CHECK(msg_options_set(o, "repeat_penalty", "1.1", e, sizeof e));
	CHECK(msg_options_set(o, "repeat_last_n", "64", e, sizeof e));
	CHECK(msg_options_set(o, "seed", "9007199254740991", e, sizeof e));
	CHECK(msg_options_set(o, "n_predict", "-1", e, sizeof e));
	CHECK(msg_options_set(o, "stop", "</s>", e, sizeof e));
	CHECK(msg_options_set(o, "stop", "\nUser:", e, sizeof e));
}

/* Fill one message of type t (strings owned, so msg_free applies). */
static void sample(struct msg *m, enum msg_type t, int variant)
{
	memset(m, 0, sizeof *m);
	m->type = t;
	switch (t) {
	case MSG_HELLO:
		m->hello.protocol = PROTO_VERSION;
		if (variant == 0) {
			m->hello.program = xstrdup("heft-engine");
			m->hello.version = xstrdup("0.1.0");
		}
		break;
	case MSG_LOAD:
		m->load.model = xstrdup("/models/Qwen3-30B-A3B-Q4_K_M.gguf");
		if (variant == 0) {
			m->load.mem = (uint64_t)8 << 30;
			m->load.ctx = 8192;
			m->load.threads = 16;
			m->load.io = LOAD_IO_STREAM;
			m->load.cache_policy = LOAD_POLICY_LFU;
			m->load.no_prefetch = true;
			m->load.chat_template = xstrdup("chatml");
		}
		break;
	case MSG_CHAT:
		m->chat.id = variant ? MSG_ID_MAX : 7;
		if (variant == 0) {
			m->chat.n_messages = 3;
			m->chat.messages = xcalloc(3, sizeof *m->chat.messages);
			m->chat.messages[0].role = xstrdup("system");
			m->chat.messages[0].content = xstrdup("Be brief.");
			m->chat.messages[1].role = xstrdup("user");
			m->chat.messages[1].content = xstrdup("Héllo, \"wörld\"\n\ttab \x1b[31m ✓ 😀");
			m->chat.messages[2].role = xstrdup("assistant");
			m->chat.messages[2].content = xstrdup("");
			sample_options(&m->chat.options);
		} else {
			m->chat.text = xstrdup("just text");
		}
		break;
	case MSG_COMPLETE:
		m->complete.id = 3;
		m->complete.prompt = xstrdup("Once upon a time");
		if (variant == 0) {
			m->complete.options.present = MSG_OPT_BIT(OPT_N_PREDICT);
			m->complete.options.n_predict = 128;
		}
		break;
	case MSG_CANCEL:
		m->cancel.has_id = variant == 0;
		m->cancel.id = variant == 0 ? 42 : 0;
		break;
	case MSG_TRUNCATE:
		m->truncate.turn = variant ? 0 : 4;
		break;
	case MSG_SET:
		if (variant == 0)
			sample_options(&m->set.options);
		break;
	case MSG_SAVE:
	case MSG_RESTORE:
		m->save.path = xstrdup("/tmp/session with spaces.heft");
		break;
	case MSG_LOADED:
		m->loaded.model = xstrdup("m.gguf");
		m->loaded.arch = xstrdup("qwen3moe");
		m->loaded.n_params = 30532122624;
		m->loaded.n_ctx = 40960;
		if (variant == 0) {
			double hit[3] = { 0.5, NAN, 1 };
			m->loaded.n_layer = 48;
			m->loaded.n_expert = 128;
			m->loaded.n_expert_used = 8;
			m->loaded.n_vocab = 151936;
			msg_numbers_add(&m->loaded.plan, "budget", 8589934592.0);
			msg_numbers_add(&m->loaded.plan, "resident", 1234567890.0);
			msg_numbers_add(&m->loaded.plan, "share", 0.125);
			msg_numbers_add(&m->loaded.plan, "unknown", NAN);
			msg_numbers_add_array(&m->loaded.plan, "per_layer", hit, 3);
			msg_numbers_add_array(&m->loaded.plan, "empty", NULL, 0);
			m->loaded.mode = xstrdup("stream");
			m->loaded.cache_policy = xstrdup("layer-lru");
			m->loaded.chat_template = xstrdup("qwen3");
		}
		break;
	case MSG_PROGRESS:
		m->progress.what = xstrdup("load");
		m->progress.done = 1 << 20;
		m->progress.total = variant ? 0 : (int64_t)1 << 34;
		break;
	case MSG_TOKEN:
		m->token.id = 7;
		m->token.tok = 151643;
		m->token.text = xstrdup(variant ? "" : " wörld\n");
		m->token.t_ms = 41.25;
		m->token.has_io_wait = variant == 0;
		m->token.io_wait_ms = variant == 0 ? 12.5 : 0;
		break;
	case MSG_STATS:
		msg_numbers_add(&m->stats.stats, "gen_tok_s", 3.75);
		msg_numbers_add(&m->stats.stats, "cache_hits", 123456);
		msg_numbers_add(&m->stats.stats, "rss", 7.5e9);
		if (variant == 0) {
			double v[4] = { 1, 2.5, -3, 1e-3 };
			msg_numbers_add_array(&m->stats.stats, "layer_hit_rate", v, 4);
		}
		break;
	case MSG_DONE:
		m->done.id = 7;
		m->done.reason = (enum msg_reason)(variant % DONE_REASON_COUNT);
		m->done.n_prompt = 120;
		m->done.n_cached = variant ? 0 : 100;
		m->done.n_gen = 256;
		m->done.prompt_tok_s = 14.3;
		m->done.gen_tok_s = 2.19;
		if (variant % 2 == 0) {
			m->done.has_ms = true;
			m->done.prompt_ms = 8391.5;
			m->done.gen_ms = 116894.25;
			m->done.has_pos = true;
			m->done.n_pos = 476;
			m->done.n_ctx = 4096;
			m->done.message = xstrdup("context full: all 4096 positions in use");
		}
		break;
	case MSG_ERROR:
		m->error.code = (enum msg_errcode)(variant % MSG_E_COUNT);
		m->error.message = xstrdup("model.gguf: No such file or directory");
		m->error.has_id = variant % 2 == 0;
		m->error.id = variant % 2 == 0 ? 9 : 0;
		break;
	default:
		break;
	}
}

/* ---- tests ------------------------------------------------------------------------- */

/* Every type, a few shapes each; every prefix of every line must fail. */
static void test_round_trips(void)
{
	struct buf line = { 0 };

	for (int t = MSG_NONE + 1; t < MSG_TYPE_COUNT; t++) {
		int variants = t == MSG_ERROR ? MSG_E_COUNT : t == MSG_DONE ? DONE_REASON_COUNT : 2;
		for (int v = 0; v < variants; v++) {
			struct msg m;
			sample(&m, (enum msg_type)t, v);
			round_trip(&m, &line);
			for (size_t cut = 0; cut < line.len; cut++)
				expect_fail_n(line.p, cut, dir_of((enum msg_type)t), -1);
			msg_free(&m);
			CHECK(m.type == MSG_NONE);
		}
	}
	buf_free(&line);
}

static void test_names(void)
{
	CHECK(streq(msg_type_name(MSG_HELLO), "hello"));
	CHECK(streq(msg_type_name(MSG_STATS_REQUEST), "stats"));
	CHECK(streq(msg_type_name(MSG_STATS), "stats"));
	CHECK(streq(msg_type_name(MSG_ERROR), "error"));
	CHECK(streq(msg_type_name(MSG_NONE), "?"));
	CHECK(streq(msg_type_name((enum msg_type)999), "?"));
	CHECK(streq(msg_errcode_name(MSG_E_TOO_LONG), "too_long"));
	CHECK(streq(msg_reason_name(DONE_CANCEL), "cancel"));
	CHECK(streq(msg_reason_name(DONE_CTX_FULL), "ctx_full"));
	for (int t = MSG_NONE + 1; t < MSG_TYPE_COUNT; t++)
		CHECK(strcmp(msg_type_name((enum msg_type)t), "?") != 0);
}

static void test_decode_requests(void)
{
	struct msg m;

	expect_ok("{\"type\":\"hello\",\"protocol\":1}", MSG_REQUEST, MSG_HELLO, &m);
	CHECK(m.hello.protocol == 1 && !m.hello.program);
	msg_free(&m);

	/* Extra fields are ignored, also nested ones; CR before LF tolerated. */
	expect_ok("{\"future\":[1,{\"x\":null}],\"type\":\"load\",\"model\":\"a b\","
		  "\"mem\":\"6G\",\"later\":true}\r",
		  MSG_REQUEST, MSG_LOAD, &m);
	CHECK(m.load.mem == (uint64_t)6 << 30 && streq(m.load.model, "a b"));
	msg_free(&m);

	/* null stands for "not given" in optional fields. */
	expect_ok("{\"type\":\"load\",\"model\":\"x\",\"ctx\":null}", MSG_REQUEST, MSG_LOAD, &m);
	CHECK(m.load.ctx == 0 && m.load.io == LOAD_IO_DEFAULT && !m.load.chat_template);
	CHECK(m.load.cache_policy == LOAD_POLICY_DEFAULT && !m.load.no_prefetch);
	msg_free(&m);
	expect_ok("{\"type\":\"load\",\"model\":\"x\",\"io\":\"mmap\",\"cache_policy\":\"layer-lru\","
		  "\"no_prefetch\":false}",
		  MSG_REQUEST, MSG_LOAD, &m);
	CHECK(m.load.io == LOAD_IO_MMAP && m.load.cache_policy == LOAD_POLICY_LAYER_LRU);
	CHECK(!m.load.no_prefetch);
	msg_free(&m);
	/* every policy the engine has, the default lrfu and freq too */
	expect_ok("{\"type\":\"load\",\"model\":\"x\",\"cache_policy\":\"lrfu\"}", MSG_REQUEST, MSG_LOAD, &m);
	CHECK(m.load.cache_policy == LOAD_POLICY_LRFU);
	msg_free(&m);
	expect_ok("{\"type\":\"load\",\"model\":\"x\",\"cache_policy\":\"freq\"}", MSG_REQUEST, MSG_LOAD, &m);
	CHECK(m.load.cache_policy == LOAD_POLICY_FREQ);
	msg_free(&m);

	expect_ok("  {\"type\" : \"stats\"}  ", MSG_REQUEST, MSG_STATS_REQUEST, &m);
	msg_free(&m);
	expect_ok("{\"type\":\"quit\"}", MSG_REQUEST, MSG_QUIT, &m);
	msg_free(&m);
	expect_ok("{\"type\":\"cancel\"}", MSG_REQUEST, MSG_CANCEL, &m);
	CHECK(!m.cancel.has_id);
	msg_free(&m);

	/* The n_predict shorthand of complete, and its precedence. */
	expect_ok("{\"type\":\"complete\",\"id\":1,\"prompt\":\"p\",\"n_predict\":5}", MSG_REQUEST,
		  MSG_COMPLETE, &m);
	CHECK(m.complete.options.present == MSG_OPT_BIT(OPT_N_PREDICT));
	CHECK(m.complete.options.n_predict == 5);
	msg_free(&m);
	expect_ok("{\"type\":\"complete\",\"id\":1,\"prompt\":\"p\",\"n_predict\":5,"
		  "\"options\":{\"n_predict\":9}}",
		  MSG_REQUEST, MSG_COMPLETE, &m);
	CHECK(m.complete.options.n_predict == 9);
	msg_free(&m);

	/* stop as one string; unknown options ignored; integers accepted as reals. */
	expect_ok("{\"type\":\"set\",\"options\":{\"stop\":\"END\",\"temp\":1,\"mirostat\":2}}",
		  MSG_REQUEST, MSG_SET, &m);
	CHECK(m.set.options.n_stop == 1 && streq(m.set.options.stop[0], "END"));
	CHECK(m.set.options.temp == 1.0);
	CHECK(m.set.options.present == (MSG_OPT_BIT(OPT_STOP) | MSG_OPT_BIT(OPT_TEMP)));
	msg_free(&m);

	expect_ok("{\"type\":\"chat\",\"id\":0,\"text\":\"\\u00e9\\ud83d\\ude00\"}", MSG_REQUEST,
		  MSG_CHAT, &m);
	CHECK(streq(m.chat.text, "é😀"));
	msg_free(&m);
}

static void test_decode_events(void)
{
	struct msg m;

	/* Free-form numbers: non-numeric entries are skipped, null is NaN. */
	expect_ok("{\"type\":\"stats\",\"stats\":{\"a\":1,\"b\":null,\"c\":\"text\",\"d\":[1,null],"
		  "\"e\":{\"x\":1},\"f\":[1,\"x\"],\"g\":true}}",
		  MSG_EVENT, MSG_STATS, &m);
	CHECK(m.stats.stats.n == 3);
	CHECK(msg_numbers_scalar(&m.stats.stats, "a", -1) == 1);
	CHECK(msg_numbers_scalar(&m.stats.stats, "b", -1) == -1);
	CHECK(isnan(msg_numbers_get(&m.stats.stats, "b")->v[0]));
	const struct msg_stat *d = msg_numbers_get(&m.stats.stats, "d");
	CHECK(d && d->is_array && d->n == 2 && d->v[0] == 1 && isnan(d->v[1]));
	CHECK(!msg_numbers_get(&m.stats.stats, "c") && !msg_numbers_get(&m.stats.stats, "f"));
	msg_free(&m);

	/* A reason from a newer engine still ends the request. */
	expect_ok("{\"type\":\"done\",\"id\":1,\"reason\":\"bored\",\"n_prompt\":1,\"n_gen\":1,"
		  "\"prompt_tok_s\":1,\"gen_tok_s\":1}",
		  MSG_EVENT, MSG_DONE, &m);
	CHECK(m.done.reason == DONE_ERROR && !m.done.has_ms && !m.done.has_pos && !m.done.message);
	msg_free(&m);
	expect_ok("{\"type\":\"done\",\"id\":1,\"reason\":\"ctx_full\",\"n_prompt\":1,\"n_gen\":1,"
		  "\"prompt_tok_s\":1,\"gen_tok_s\":1}",
		  MSG_EVENT, MSG_DONE, &m);
	CHECK(m.done.reason == DONE_CTX_FULL);
	msg_free(&m);

	/* An error code from a newer engine is still an error. */
	expect_ok("{\"type\":\"error\",\"code\":\"quota\",\"message\":\"m\"}", MSG_EVENT,
		  MSG_ERROR, &m);
	CHECK(m.error.code == MSG_E_INTERNAL && !m.error.has_id);
	msg_free(&m);

	expect_ok("{\"type\":\"hello\",\"protocol\":2,\"program\":\"heft-engine\"}", MSG_EVENT,
		  MSG_HELLO, &m);
	struct msg_err err;
	CHECK(!msg_hello_check(&m.hello, &err) && err.code == MSG_E_VERSION);
	CHECK(strstr(err.text, "protocol 2") != NULL);
	msg_free(&m);
	expect_ok("{\"type\":\"hello\",\"protocol\":1}", MSG_EVENT, MSG_HELLO, &m);
	CHECK(msg_hello_check(&m.hello, &err));
	msg_free(&m);
}

static void test_malformed(void)
{
	static const struct {
		const char *line;
		enum msg_dir dir;
		int code;
	} bad[] = {
		{ "", MSG_REQUEST, MSG_E_PARSE },
		{ "\r", MSG_REQUEST, MSG_E_PARSE },
		{ "   ", MSG_REQUEST, MSG_E_PARSE },
		{ "garbage", MSG_REQUEST, MSG_E_PARSE },
		{ "{", MSG_REQUEST, MSG_E_PARSE },
		{ "}", MSG_REQUEST, MSG_E_PARSE },
		{ "{\"type\":\"quit\"", MSG_REQUEST, MSG_E_PARSE },
		{ "{\"type\":\"quit\"}}", MSG_REQUEST, MSG_E_PARSE },
		{ "{\"type\":\"quit\"} {\"type\":\"quit\"}", MSG_REQUEST, MSG_E_PARSE },
		{ "{'type':'quit'}", MSG_REQUEST, MSG_E_PARSE },
		{ "{\"type\":\"quit\",}", MSG_REQUEST, MSG_E_PARSE },
		{ "{\"type\":\"quit\",\"type\":\"stats\"}", MSG_REQUEST, MSG_E_PARSE },
		{ "[]", MSG_REQUEST, MSG_E_BAD_MESSAGE },
		{ "[{\"type\":\"quit\"}]", MSG_REQUEST, MSG_E_BAD_MESSAGE },
		{ "\"quit\"", MSG_REQUEST, MSG_E_BAD_MESSAGE },
		{ "42", MSG_REQUEST, MSG_E_BAD_MESSAGE },
		{ "-1.5e3", MSG_REQUEST, MSG_E_BAD_MESSAGE },
		{ "null", MSG_REQUEST, MSG_E_BAD_MESSAGE },
		{ "true", MSG_REQUEST, MSG_E_BAD_MESSAGE },
		{ "{}", MSG_REQUEST, MSG_E_BAD_MESSAGE },
		{ "{\"type\":null}", MSG_REQUEST, MSG_E_BAD_MESSAGE },
		{ "{\"type\":1}", MSG_REQUEST, MSG_E_BAD_MESSAGE },
		{ "{\"type\":[\"quit\"]}", MSG_REQUEST, MSG_E_BAD_MESSAGE },
		{ "{\"type\":\"frobnicate\"}", MSG_REQUEST, MSG_E_UNKNOWN_TYPE },
		{ "{\"type\":\"QUIT\"}", MSG_REQUEST, MSG_E_UNKNOWN_TYPE },
		{ "{\"type\":\"\"}", MSG_REQUEST, MSG_E_UNKNOWN_TYPE },
		/* wrong direction */
		{ "{\"type\":\"token\",\"id\":1,\"tok\":1,\"text\":\"a\",\"t_ms\":1}", MSG_REQUEST,
		  MSG_E_UNKNOWN_TYPE },
		{ "{\"type\":\"quit\"}", MSG_EVENT, MSG_E_UNKNOWN_TYPE },
		{ "{\"type\":\"stats\"}", MSG_EVENT, MSG_E_BAD_MESSAGE },
		/* missing and ill-typed fields */
		{ "{\"type\":\"hello\"}", MSG_REQUEST, MSG_E_BAD_MESSAGE },
		{ "{\"type\":\"hello\",\"protocol\":\"1\"}", MSG_REQUEST, MSG_E_BAD_MESSAGE },
		{ "{\"type\":\"hello\",\"protocol\":1.0}", MSG_REQUEST, MSG_E_BAD_MESSAGE },
		{ "{\"type\":\"hello\",\"protocol\":1,\"program\":7}", MSG_REQUEST, MSG_E_BAD_MESSAGE },
		{ "{\"type\":\"load\"}", MSG_REQUEST, MSG_E_BAD_MESSAGE },
		{ "{\"type\":\"load\",\"model\":\"\"}", MSG_REQUEST, MSG_E_BAD_MESSAGE },
		{ "{\"type\":\"load\",\"model\":{}}", MSG_REQUEST, MSG_E_BAD_MESSAGE },
		{ "{\"type\":\"load\",\"model\":\"m\",\"mem\":\"lots\"}", MSG_REQUEST, MSG_E_BAD_MESSAGE },
		{ "{\"type\":\"load\",\"model\":\"m\",\"mem\":-1}", MSG_REQUEST, MSG_E_BAD_MESSAGE },
		{ "{\"type\":\"load\",\"model\":\"m\",\"threads\":100000}", MSG_REQUEST,
		  MSG_E_BAD_MESSAGE },
		{ "{\"type\":\"load\",\"model\":\"m\",\"ctx\":4294967296}", MSG_REQUEST,
		  MSG_E_BAD_MESSAGE },
		{ "{\"type\":\"chat\",\"text\":\"hi\"}", MSG_REQUEST, MSG_E_BAD_MESSAGE },
		{ "{\"type\":\"chat\",\"id\":1}", MSG_REQUEST, MSG_E_BAD_MESSAGE },
		{ "{\"type\":\"chat\",\"id\":-1,\"text\":\"hi\"}", MSG_REQUEST, MSG_E_BAD_MESSAGE },
		{ "{\"type\":\"chat\",\"id\":9007199254740992,\"text\":\"hi\"}", MSG_REQUEST,
		  MSG_E_BAD_MESSAGE },
		{ "{\"type\":\"chat\",\"id\":\"1\",\"text\":\"hi\"}", MSG_REQUEST, MSG_E_BAD_MESSAGE },
		{ "{\"type\":\"chat\",\"id\":1,\"text\":\"hi\",\"messages\":[{\"role\":\"user\","
		  "\"content\":\"x\"}]}",
		  MSG_REQUEST, MSG_E_BAD_MESSAGE },
		{ "{\"type\":\"chat\",\"id\":1,\"messages\":[]}", MSG_REQUEST, MSG_E_BAD_MESSAGE },
		{ "{\"type\":\"chat\",\"id\":1,\"messages\":{}}", MSG_REQUEST, MSG_E_BAD_MESSAGE },
		{ "{\"type\":\"chat\",\"id\":1,\"messages\":[\"hi\"]}", MSG_REQUEST, MSG_E_BAD_MESSAGE },
		{ "{\"type\":\"chat\",\"id\":1,\"messages\":[{\"role\":\"user\"}]}", MSG_REQUEST,
		  MSG_E_BAD_MESSAGE },
		{ "{\"type\":\"chat\",\"id\":1,\"messages\":[{\"role\":\"user\",\"content\":\"a\"},"
		  "{\"role\":5,\"content\":\"b\"}]}",
		  MSG_REQUEST, MSG_E_BAD_MESSAGE },
		{ "{\"type\":\"chat\",\"id\":1,\"text\":\"hi\",\"options\":[]}", MSG_REQUEST,
		  MSG_E_BAD_MESSAGE },
		{ "{\"type\":\"chat\",\"id\":1,\"text\":\"hi\",\"options\":{\"temp\":\"hot\"}}",
		  MSG_REQUEST, MSG_E_BAD_MESSAGE },
		{ "{\"type\":\"complete\",\"id\":1}", MSG_REQUEST, MSG_E_BAD_MESSAGE },
		{ "{\"type\":\"complete\",\"id\":1,\"prompt\":\"p\",\"n_predict\":-2}", MSG_REQUEST,
		  MSG_E_BAD_MESSAGE },
		{ "{\"type\":\"cancel\",\"id\":true}", MSG_REQUEST, MSG_E_BAD_MESSAGE },
		{ "{\"type\":\"truncate\"}", MSG_REQUEST, MSG_E_BAD_MESSAGE },
		{ "{\"type\":\"truncate\",\"turn\":-1}", MSG_REQUEST, MSG_E_BAD_MESSAGE },
		{ "{\"type\":\"truncate\",\"turn\":1.5}", MSG_REQUEST, MSG_E_BAD_MESSAGE },
		{ "{\"type\":\"set\"}", MSG_REQUEST, MSG_E_BAD_MESSAGE },
		{ "{\"type\":\"set\",\"options\":{\"temp\":-0.1}}", MSG_REQUEST, MSG_E_BAD_MESSAGE },
		{ "{\"type\":\"set\",\"options\":{\"temp\":1e308}}", MSG_REQUEST, MSG_E_BAD_MESSAGE },
		{ "{\"type\":\"set\",\"options\":{\"top_p\":1.5}}", MSG_REQUEST, MSG_E_BAD_MESSAGE },
		{ "{\"type\":\"set\",\"options\":{\"top_k\":2.5}}", MSG_REQUEST, MSG_E_BAD_MESSAGE },
		{ "{\"type\":\"set\",\"options\":{\"seed\":-1}}", MSG_REQUEST, MSG_E_BAD_MESSAGE },
		{ "{\"type\":\"set\",\"options\":{\"stop\":[\"a\",1]}}", MSG_REQUEST, MSG_E_BAD_MESSAGE },
		{ "{\"type\":\"set\",\"options\":{\"stop\":[\"\"]}}", MSG_REQUEST, MSG_E_BAD_MESSAGE },
		{ "{\"type\":\"set\",\"options\":{\"stop\":[\"1\",\"2\",\"3\",\"4\",\"5\",\"6\",\"7\","
		  "\"8\",\"9\",\"10\",\"11\",\"12\",\"13\",\"14\",\"15\",\"16\",\"17\"]}}",
		  MSG_REQUEST, MSG_E_BAD_MESSAGE },
		{ "{\"type\":\"save\"}", MSG_REQUEST, MSG_E_BAD_MESSAGE },
		{ "{\"type\":\"restore\",\"path\":[]}", MSG_REQUEST, MSG_E_BAD_MESSAGE },
		/* huge numbers: beyond jansson's integers and doubles, or our ranges */
		{ "{\"type\":\"truncate\",\"turn\":99999999999999999999999}", MSG_REQUEST, MSG_E_PARSE },
		{ "{\"type\":\"truncate\",\"turn\":1e999}", MSG_REQUEST, MSG_E_PARSE },
		{ "{\"type\":\"truncate\",\"turn\":9223372036854775807}", MSG_REQUEST,
		  MSG_E_BAD_MESSAGE },
		{ "{\"type\":\"token\",\"id\":1,\"tok\":1,\"text\":\"a\",\"t_ms\":1e300}", MSG_EVENT,
		  MSG_E_BAD_MESSAGE },
		{ "{\"type\":\"token\",\"id\":1,\"tok\":-5,\"text\":\"a\",\"t_ms\":1}", MSG_EVENT,
		  MSG_E_BAD_MESSAGE },
		{ "{\"type\":\"token\",\"id\":1,\"tok\":5,\"t_ms\":1}", MSG_EVENT, MSG_E_BAD_MESSAGE },
		{ "{\"type\":\"token\",\"id\":1,\"tok\":5,\"text\":\"a\",\"t_ms\":1,\"io_wait_ms\":-1}",
		  MSG_EVENT, MSG_E_BAD_MESSAGE },
		{ "{\"type\":\"loaded\",\"model\":\"m\",\"arch\":\"a\",\"n_params\":1,\"n_ctx\":1}",
		  MSG_EVENT, MSG_E_BAD_MESSAGE },
		{ "{\"type\":\"loaded\",\"model\":\"m\",\"arch\":\"a\",\"n_params\":1,\"n_ctx\":1,"
		  "\"plan\":[]}",
		  MSG_EVENT, MSG_E_BAD_MESSAGE },
		{ "{\"type\":\"progress\",\"what\":\"load\",\"done\":1}", MSG_EVENT, MSG_E_BAD_MESSAGE },
		{ "{\"type\":\"stats\",\"stats\":5}", MSG_EVENT, MSG_E_BAD_MESSAGE },
		{ "{\"type\":\"done\",\"id\":1,\"reason\":\"\",\"n_prompt\":1,\"n_gen\":1,"
		  "\"prompt_tok_s\":1,\"gen_tok_s\":1}",
		  MSG_EVENT, MSG_E_BAD_MESSAGE },
		{ "{\"type\":\"done\",\"id\":1,\"reason\":\"eos\",\"n_prompt\":1,\"n_gen\":1,"
		  "\"prompt_tok_s\":1,\"gen_tok_s\":1,\"prompt_ms\":5}",
		  MSG_EVENT, MSG_E_BAD_MESSAGE },
		{ "{\"type\":\"done\",\"id\":1,\"reason\":\"eos\",\"n_prompt\":1,\"n_gen\":1,"
		  "\"prompt_tok_s\":1,\"gen_tok_s\":1,\"n_ctx\":5}",
		  MSG_EVENT, MSG_E_BAD_MESSAGE },
		{ "{\"type\":\"load\",\"model\":\"m\",\"io\":\"floppy\"}", MSG_REQUEST,
		  MSG_E_BAD_MESSAGE },
		{ "{\"type\":\"load\",\"model\":\"m\",\"cache_policy\":1}", MSG_REQUEST,
		  MSG_E_BAD_MESSAGE },
		{ "{\"type\":\"load\",\"model\":\"m\",\"no_prefetch\":\"yes\"}", MSG_REQUEST,
		  MSG_E_BAD_MESSAGE },
		{ "{\"type\":\"load\",\"model\":\"m\",\"chat_template\":\"\"}", MSG_REQUEST,
		  MSG_E_BAD_MESSAGE },
		{ "{\"type\":\"done\",\"id\":1,\"reason\":\"eos\",\"n_prompt\":1,\"n_gen\":1,"
		  "\"prompt_tok_s\":-1,\"gen_tok_s\":1}",
		  MSG_EVENT, MSG_E_BAD_MESSAGE },
		{ "{\"type\":\"error\",\"message\":\"m\"}", MSG_EVENT, MSG_E_BAD_MESSAGE },
		{ "{\"type\":\"error\",\"code\":\"io\"}", MSG_EVENT, MSG_E_BAD_MESSAGE },
		/* strings jansson must refuse: NUL escape, lone surrogates, raw controls */
		{ "{\"type\":\"chat\",\"id\":1,\"text\":\"a\\u0000b\"}", MSG_REQUEST, MSG_E_PARSE },
		{ "{\"type\":\"chat\",\"id\":1,\"text\":\"\\ud800\"}", MSG_REQUEST, MSG_E_PARSE },
		{ "{\"type\":\"chat\",\"id\":1,\"text\":\"\\udc00x\"}", MSG_REQUEST, MSG_E_PARSE },
		{ "{\"type\":\"chat\",\"id\":1,\"text\":\"tab\there\"}", MSG_REQUEST, MSG_E_PARSE },
		{ "{\"type\":\"chat\",\"id\":1,\"text\":\"bad \\x escape\"}", MSG_REQUEST, MSG_E_PARSE },
		/* invalid UTF-8: stray continuation, overlong, surrogate, truncated, > U+10FFFF */
		{ "{\"type\":\"chat\",\"id\":1,\"text\":\"\x80\"}", MSG_REQUEST, MSG_E_PARSE },
		{ "{\"type\":\"chat\",\"id\":1,\"text\":\"\xc0\xaf\"}", MSG_REQUEST, MSG_E_PARSE },
		{ "{\"type\":\"chat\",\"id\":1,\"text\":\"\xed\xa0\x80\"}", MSG_REQUEST, MSG_E_PARSE },
		{ "{\"type\":\"chat\",\"id\":1,\"text\":\"\xe2\x82\"}", MSG_REQUEST, MSG_E_PARSE },
		{ "{\"type\":\"chat\",\"id\":1,\"text\":\"\xf4\x90\x80\x80\"}", MSG_REQUEST, MSG_E_PARSE },
		{ "\xff\xfe{}", MSG_REQUEST, MSG_E_PARSE },
		{ "\xef\xbb\xbf{\"type\":\"quit\"}", MSG_REQUEST, MSG_E_PARSE },	/* BOM */
	};

	for (size_t i = 0; i < ARRAY_LEN(bad); i++)
		expect_fail(bad[i].line, bad[i].dir, bad[i].code);

	/* NUL bytes inside a line, reported with their offset. */
	static const char nul[] = "{\"type\":\"chat\",\"id\":1,\"text\":\"a\0b\"}";
	struct msg m;
	struct msg_err err;
	expect_fail_n(nul, sizeof nul - 1, MSG_REQUEST, MSG_E_PARSE);
	CHECK(!msg_decode(&m, nul, sizeof nul - 1, MSG_REQUEST, &err));
	CHECKF(strstr(err.text, "NUL") && strstr(err.text, "31"), "%s", err.text);
	expect_fail_n("\0", 1, MSG_REQUEST, MSG_E_PARSE);
	expect_fail_n("{\"type\":\"quit\"}\0", 16, MSG_REQUEST, MSG_E_PARSE);

	/* A line over the limit is refused by decode too, without parsing it. */
	size_t big = PROTO_LINE_MAX + 1;
	char *huge = xmalloc(big);
	memset(huge, ' ', big);
	huge[0] = '{';
	huge[big - 1] = '}';
	expect_fail_n(huge, big, MSG_REQUEST, MSG_E_TOO_LONG);
	free(huge);

	/* Deep nesting stops at jansson's depth limit instead of the stack. */
	struct buf deep = { 0 };
	buf_puts(&deep, "{\"type\":\"quit\",\"x\":");
	for (int i = 0; i < 100000; i++)
		buf_putc(&deep, '[');
	expect_fail_n(deep.p, deep.len, MSG_REQUEST, MSG_E_PARSE);
	buf_free(&deep);
}

/* A failed request's id is kept so the error event can name it. */
static void test_error_event(void)
{
	struct msg m, ev;
	struct msg_err err;
	struct buf line = { 0 };

	CHECK(!msg_decode(&m, "{\"type\":\"chat\",\"id\":12,\"text\":5}", 32, MSG_REQUEST, &err));
	CHECK(err.code == MSG_E_BAD_MESSAGE && err.has_id && err.id == 12);
	CHECKF(strstr(err.text, "chat") && strstr(err.text, "text"), "%s", err.text);
	msg_error_event(&ev, &err);
	CHECK(ev.type == MSG_ERROR && ev.error.has_id && ev.error.id == 12);
	round_trip(&ev, &line);
	CHECKF(strstr(line.p, "\"code\":\"bad_message\""), "%s", line.p);
	msg_free(&ev);

	/* Error text quoting hostile input still encodes as valid UTF-8. */
	static const char euros[] = "{\"type\":\"\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac"
				    "\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac"
				    "\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac"
				    "\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac"
				    "\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\"}";
	CHECK(!msg_decode(&m, euros, sizeof euros - 1, MSG_REQUEST, &err));
	CHECK(err.code == MSG_E_UNKNOWN_TYPE && !err.has_id);
	msg_error_event(&ev, &err);
	buf_clear(&line);
	CHECK(msg_encode(&ev, &line) && utf8_valid(line.p, line.len));
	msg_free(&ev);

	msg_err_set(&err, MSG_E_NO_MODEL, "load a model first (%s)", "chat");
	msg_error_event(&ev, &err);
	CHECK(ev.error.code == MSG_E_NO_MODEL && !ev.error.has_id);
	CHECK(streq(ev.error.message, "load a model first (chat)"));
	msg_free(&ev);
	buf_free(&line);
}

static void test_encode_hygiene(void)
{
	struct buf line = { 0 };
	struct msg m, back;
	struct msg_err err;

	/* Invalid UTF-8 in a token piece becomes U+FFFD, never raw bytes. */
	memset(&m, 0, sizeof m);
	m.type = MSG_TOKEN;
	m.token.id = 1;
	m.token.tok = 2;
	m.token.text = "a\xe2\x82" "b\xff\xc0\xaf\xed\xa0\x80\xf0\x9f\x98\x80";
	m.token.t_ms = NAN;	/* JSON has no NaN: goes out as 0 */
	CHECK(msg_encode(&m, &line));
	CHECK(utf8_valid(line.p, line.len));
	CHECK(msg_decode(&back, line.p, line.len - 1, MSG_EVENT, &err));
	CHECKF(streq(back.token.text, "a\xef\xbf\xbd\xef\xbf\xbd" "b\xef\xbf\xbd\xef\xbf\xbd"
				      "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"
				      "\xf0\x9f\x98\x80"),
	       "%s", back.token.text);
	CHECK(back.token.t_ms == 0);
	msg_free(&back);

	/* Control characters and newlines are escaped: still one line. */
	buf_clear(&line);
	m.token.text = "\n\r\x1b[2J\x07\x7f\"\\";
	m.token.t_ms = 1;
	CHECK(msg_encode(&m, &line));
	CHECK(memchr(line.p, '\n', line.len) == line.p + line.len - 1);
	CHECK(!memchr(line.p, '\x1b', line.len) && !memchr(line.p, '\r', line.len));
	CHECK(msg_decode(&back, line.p, line.len - 1, MSG_EVENT, &err));
	CHECK(streq(back.token.text, m.token.text));
	msg_free(&back);

	/* Readable reals: 0.7 is sent as 0.7. */
	buf_clear(&line);
	memset(&m, 0, sizeof m);
	m.type = MSG_SET;
	m.set.options.present = MSG_OPT_BIT(OPT_TEMP);
	m.set.options.temp = 0.7;
	CHECK(msg_encode(&m, &line));
	CHECKF(streq(line.p, "{\"type\":\"set\",\"options\":{\"temp\":0.7}}\n"), "%s", line.p);

	/* A message too big for the peer is refused and out is untouched. */
	buf_clear(&line);
	buf_puts(&line, "keep");
	memset(&m, 0, sizeof m);
	m.type = MSG_CHAT;
	m.chat.text = xmalloc(PROTO_LINE_MAX / 2 + 1);
	memset(m.chat.text, '\x01', PROTO_LINE_MAX / 2);	/* escaped 6-fold */
	m.chat.text[PROTO_LINE_MAX / 2] = '\0';
	CHECK(!msg_encode(&m, &line));
	CHECK(line.len == 4 && streq(line.p, "keep"));
	free(m.chat.text);

	m.type = MSG_NONE;
	CHECK(!msg_encode(&m, &line));
	m.type = MSG_TYPE_COUNT;
	CHECK(!msg_encode(&m, &line));
	CHECK(line.len == 4);
	buf_free(&line);
}

static void test_options_set(void)
{
	struct msg_options o = { 0 };
	char e[128];
	enum msg_opt id;

	CHECK(msg_option_lookup("top_p", &id) && id == OPT_TOP_P);
	CHECK(!msg_option_lookup("tmep", &id));
	for (int i = 0; i < OPT_COUNT; i++) {
		CHECK(msg_option_lookup(msg_option_name((enum msg_opt)i), &id) && (int)id == i);
	}
	CHECK(!msg_options_set(&o, "tmep", "1", e, sizeof e) && strstr(e, "tmep"));
	CHECK(!msg_options_set(&o, "temp", "hot", e, sizeof e));
	CHECK(!msg_options_set(&o, "temp", "-1", e, sizeof e));
	CHECK(!msg_options_set(&o, "temp", "nan", e, sizeof e));
	CHECK(!msg_options_set(&o, "top_k", "1.5", e, sizeof e));
	CHECK(!msg_options_set(&o, "top_k", "99999999999", e, sizeof e));
	CHECK(!msg_options_set(&o, "stop", "", e, sizeof e));
	CHECK(o.present == 0);
	CHECK(msg_options_set(&o, "temp", "0", e, sizeof e) && o.temp == 0);
	CHECK(o.present == MSG_OPT_BIT(OPT_TEMP));
	for (int i = 0; i < MSG_STOP_MAX; i++)
		CHECK(msg_options_set(&o, "stop", "x", e, sizeof e));
	CHECK(!msg_options_set(&o, "stop", "x", e, sizeof e));
	msg_options_free(&o);
	CHECK(o.n_stop == 0 && !o.stop);
}

/* ---- line reader ----------------------------------------------------------------------- */

static uint64_t rng_state = 0x9e3779b97f4a7c15u;

static uint64_t rnd(void)
{
	return xorshift(&rng_state);
}

/* Feed data in pieces of 1..maxchunk bytes, draining after each; record
 * what came out as "L<len>:<line>" or "TOO_LONG" entries in *out. */
static void feed_chunks(struct linereader *lr, const char *data, size_t n, size_t maxchunk,
			struct buf *out)
{
	size_t i = 0;

	for (;;) {
		const char *line;
		size_t len;
		enum lr_status st;
		while ((st = lr_next(lr, &line, &len)) == LR_LINE || st == LR_TOO_LONG) {
			if (st == LR_TOO_LONG) {
				buf_puts(out, "TOO_LONG|");
				continue;
			}
			CHECK(line[len] == '\0');
			buf_printf(out, "L%zu:", len);
			buf_append(out, line, len);
			buf_putc(out, '|');
		}
		if (st == LR_EOF)
			return;
		/* Memory stays bounded by the limit plus one chunk. */
		CHECKF(lr->in.len - lr->off <= lr->max + 1 + maxchunk, "buffered %zu",
		       lr->in.len - lr->off);
		if (i == n) {
			lr_eof(lr);
			continue;
		}
		size_t c = 1 + (size_t)(rnd() % maxchunk);
		if (c > n - i)
			c = n - i;
		lr_feed(lr, data + i, c);
		i += c;
	}
}

static void test_linereader_basic(void)
{
	static const char in[] = "one\ntwo\r\n\n\r\nthree\rx\nlast";
	static const char want[] = "L3:one|L3:two|L0:|L0:|L7:three\rx|L4:last|";

	for (size_t chunk = 1; chunk <= sizeof in; chunk++) {
		struct linereader lr;
		struct buf out = { 0 };
		lr_init(&lr, 64);
		feed_chunks(&lr, in, sizeof in - 1, chunk, &out);
		CHECKF(streq(out.p, want), "chunk %zu: %s", chunk, out.p);
		buf_free(&out);
		lr_free(&lr);
	}

	/* Exactly at the limit passes, one over fails, with and without CR. */
	struct linereader lr;
	struct buf out = { 0 };
	lr_init(&lr, 4);
	feed_chunks(&lr, "abcd\nabcd\r\nabcde\nabcde\r\nok\nabcdefgh", 35, 3, &out);
	CHECKF(streq(out.p, "L4:abcd|L4:abcd|TOO_LONG|TOO_LONG|L2:ok|TOO_LONG|"), "%s", out.p);
	CHECK(lr.n_too_long == 3);
	buf_free(&out);
	lr_free(&lr);

	/* Nothing buffered: AGAIN, then EOF once the input ended. */
	const char *line;
	size_t len;
	lr_init(&lr, 0);
	CHECK(lr.max == LR_DEFAULT_MAX);
	CHECK(lr_next(&lr, &line, &len) == LR_AGAIN);
	lr_eof(&lr);
	CHECK(lr_next(&lr, &line, &len) == LR_EOF);
	CHECK(lr_next(&lr, &line, &len) == LR_EOF);
	lr_free(&lr);

	/* NUL bytes pass through the reader; the decoder refuses them. */
	lr_init(&lr, 0);
	lr_feed(&lr, "a\0b\n", 4);
	CHECK(lr_next(&lr, &line, &len) == LR_LINE && len == 3 && line[1] == '\0');
	lr_free(&lr);
}

/* 10 MB of garbage without a newline, in random pieces, between two good
 * requests: one too_long report, both requests decoded, memory bounded. */
static void test_linereader_huge(void)
{
	const size_t huge = (size_t)10 << 20;
	const char *good = "{\"type\":\"chat\",\"id\":5,\"text\":\"after\"}\n";
	struct buf data = { 0 };

	buf_puts(&data, "{\"type\":\"stats\"}\r\n");
	buf_puts(&data, "{\"type\":\"chat\",\"id\":4,\"text\":\"");
	buf_reserve(&data, huge);
	memset(data.p + data.len, 'x', huge);
	data.len += huge;
	buf_puts(&data, "\"}\n");
	buf_puts(&data, good);

	for (int round = 0; round < 3; round++) {
		struct linereader lr;
		struct buf out = { 0 };
		size_t maxchunk = round == 0 ? 7 : round == 1 ? 65536 : huge * 2;
		lr_init(&lr, PROTO_LINE_MAX);
		feed_chunks(&lr, data.p, data.len, maxchunk, &out);
		CHECKF(strstr(out.p, "|TOO_LONG|L") != NULL, "round %d", round);
		CHECK(lr.n_too_long == 1);

		/* Decode what came out: stats, then the request after the flood. */
		const char *first = out.p + strlen("L16:");
		struct msg m;
		struct msg_err err;
		CHECK(msg_decode(&m, first, 16, MSG_REQUEST, &err) && m.type == MSG_STATS_REQUEST);
		msg_free(&m);
		const char *last = strstr(out.p, "TOO_LONG|L");
		CHECK(last != NULL);
		if (last) {
			last += strlen("TOO_LONG|L");
			size_t len = strtoul(last, (char **)&last, 10);
			last++;
			CHECK(msg_decode(&m, last, len, MSG_REQUEST, &err));
			CHECK(m.type == MSG_CHAT && m.chat.id == 5 && streq(m.chat.text, "after"));
			msg_free(&m);
		}
		buf_free(&out);
		lr_free(&lr);
	}
	buf_free(&data);
}

/* The reader on a real non-blocking pipe, as the poll loop uses it. */
static void test_linereader_fd(void)
{
	int fds[2];
	struct linereader lr;
	const char *line;
	size_t len;

	CHECK(pipe(fds) == 0);
	lr_init(&lr, 16);
	CHECK(write(fds[1], "hello\nworld", 11) == 11);
	CHECK(lr_read(&lr, fds[0]) == 11);
	CHECK(lr_next(&lr, &line, &len) == LR_LINE && streq(line, "hello"));
	CHECK(lr_next(&lr, &line, &len) == LR_AGAIN);
	/* 40 bytes without a newline: over the limit of 16, one report. */
	CHECK(write(fds[1], "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", 40) == 40);
	CHECK(lr_read(&lr, fds[0]) == 40);
	CHECK(lr_next(&lr, &line, &len) == LR_TOO_LONG);
	CHECK(lr_next(&lr, &line, &len) == LR_AGAIN);
	CHECK(write(fds[1], "yyy\nok\npartial", 14) == 14);
	close(fds[1]);
	CHECK(lr_read(&lr, fds[0]) == 14);
	CHECK(lr_next(&lr, &line, &len) == LR_LINE && streq(line, "ok"));
	CHECK(lr_next(&lr, &line, &len) == LR_AGAIN);
	CHECK(lr_read(&lr, fds[0]) == 0);
	CHECK(lr_next(&lr, &line, &len) == LR_LINE && streq(line, "partial"));
	CHECK(lr_next(&lr, &line, &len) == LR_EOF);
	close(fds[0]);
	lr_free(&lr);
}

/* Random byte damage to valid lines: decode may succeed or fail, but a
 * success must re-encode and a failure must explain itself. */
static void test_mutations(void)
{
	struct buf line = { 0 }, again = { 0 };

	for (int t = MSG_NONE + 1; t < MSG_TYPE_COUNT; t++) {
		struct msg m;
		sample(&m, (enum msg_type)t, 0);
		buf_clear(&line);
		CHECK(msg_encode(&m, &line));
		msg_free(&m);
		char *copy = xmalloc(line.len);
		for (int iter = 0; iter < 2000; iter++) {
			memcpy(copy, line.p, line.len);
			int edits = 1 + (int)(rnd() % 4);
			for (int e = 0; e < edits; e++) {
				size_t at = (size_t)(rnd() % line.len);
				static const char pick[] = "{}[]\":,0123456789-.eE\\ntruefalsenull\x80\xff";
				copy[at] = rnd() % 2 ? (char)rnd() : pick[rnd() % (sizeof pick - 1)];
			}
			struct msg_err err;
			enum msg_dir dir = rnd() % 2 ? MSG_REQUEST : MSG_EVENT;
			if (msg_decode(&m, copy, line.len - 1, dir, &err)) {
				buf_clear(&again);
				CHECK(msg_encode(&m, &again));
				msg_free(&m);
			} else {
				CHECK(err.text[0] != '\0' && (unsigned)err.code < MSG_E_COUNT);
			}
		}
		free(copy);
	}
	buf_free(&line);
	buf_free(&again);
}

int main(void)
{
	heft_progname = "test-protocol";
	test_names();
	test_round_trips();
	test_decode_requests();
	test_decode_events();
	test_malformed();
	test_error_event();
	test_encode_hygiene();
	test_options_set();
	test_linereader_basic();
	test_linereader_huge();
	test_linereader_fd();
	test_mutations();
	return test_done("test-protocol");
}
