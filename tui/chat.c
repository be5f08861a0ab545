/* chat.c - the conversation and the engine behind it (see chat.h).
 *
 * Every chat request carries the whole conversation: the engine keeps the
 * KV cache of the prefix it already has, and a restarted engine gets the
 * history replayed for free. Editing a past turn also sends a truncate, so
 * the engine drops what follows before it sees the new text. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "chat.h"
#include "conv.h"
#include "demo.h"
#include "sessfile.h"

#define GARBAGE_MAX 200	/* unreadable lines in a row before giving up */

/* Format, then hand the text to one of the front end's hooks (note or status). */
static void say(struct chat *c, void (*hook)(void *, const char *), const char *fmt, va_list ap)
{
	char *s;
	if (vasprintf(&s, fmt, ap) < 0)
		return;
	hook(c->ctx, s);
	free(s);
}

static void note(struct chat *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note(struct chat *c, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	say(c, c->h->note, fmt, ap);
	va_end(ap);
}

static void status(struct chat *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void status(struct chat *c, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	say(c, c->h->status, fmt, ap);
	va_end(ap);
}

/* ---- the session file ---------------------------------------------------------- */

/* Say once that the session is not being saved, and once that it is again. */
static void check_log(struct chat *c)
{
	const char *e = c->log ? sess_log_error(c->log) : NULL;
	const char *n = c->log ? sess_log_notice(c->log) : NULL;
	if (n) {
		note(c, "%s", n);
		sess_log_notice_clear(c->log);
	}
	if (e && !c->log_error_told) {
		note(c, "The session is not being saved: %s. Nothing is lost: the conversation "
		     "stays here, heft tries again with every turn, and /save FILE writes it "
		     "elsewhere.", e);
		status(c, "session not saved: %s", e);
		c->log_error_told = true;
	} else if (!e && c->log_error_told) {
		status(c, "session saved again to %s", sess_log_path(c->log));
		c->log_error_told = false;
	}
}

/* Turns that go to the engine: not heft's notes, not failed empty replies. */
static bool is_sent(const struct chat *c, size_t i)
{
	enum role r = conv_role(c->conv, i);
	return r != ROLE_NOTE && !(r == ROLE_ASSISTANT && !*conv_text(c->conv, i) && (long)i != c->reply);
}

static size_t engine_index(const struct chat *c, size_t conv_i)
{
	size_t k = 0;
	for (size_t i = 0; i < conv_i && i < conv_count(c->conv); i++)
		k += is_sent(c, i);
	return k;
}

static void log_turn(struct chat *c, size_t i)
{
	if (c->log) {
		sess_log_turn(c->log, role_name(conv_role(c->conv, i)), conv_text(c->conv, i),
			      conv_tag(c->conv, i));
		check_log(c);
	}
}

static void log_truncate(struct chat *c, size_t keep)
{
	if (c->log) {
		sess_log_truncate(c->log, keep);
		check_log(c);
	}
}

/* The conversation changed other than at its end: write it again. */
static void log_rewrite(struct chat *c)
{
	if (!c->log)
		return;
	sess_log_clear(c->log);
	for (size_t i = 0; i < conv_count(c->conv); i++)
		if (is_sent(c, i))
			sess_log_turn(c->log, role_name(conv_role(c->conv, i)), conv_text(c->conv, i),
				      conv_tag(c->conv, i));
	check_log(c);
}

/* ---- engine -------------------------------------------------------------------------- */

static void send_load(struct chat *c)
{
	struct stat st;
	/* A FIFO or a device where the model should be (a resumed session's
	 * path, say) would hold an engine that opens it before checking:
	 * refused here, with the path named, whatever the engine does. */
	if (!c->server && stat(c->model, &st) == 0 && !S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode)) {
		c->load = LOAD_FAILED;
		c->progress[0] = '\0';
		note(c, "cannot load the model: %s: not a regular file. /model PATH tries another one.",
		     c->model);
		return;
	}
	struct msg l = { .type = MSG_LOAD };
	l.load.model = c->model;
	/* The demo streams its experts under its own budget (demo.h). */
	l.load.mem = c->cfg->mem || !c->demo ? c->cfg->mem : DEMO_MEM;
	l.load.ctx = c->cfg->ctx;
	l.load.threads = c->cfg->threads;
	l.load.io = c->cfg->io;
	l.load.cache_policy = c->cfg->cache_policy;
	l.load.no_prefetch = c->cfg->no_prefetch;
	l.load.chat_template = (char *)c->cfg->chat_template;
	engine_send(c->eng, &l);
	c->load = LOAD_PENDING;
	snprintf(c->progress, sizeof c->progress, "loading");
	c->progress_pct = -1;
	c->model_info[0] = '\0';
}

void chat_start(struct chat *c)
{
	char err[256];
	bool restart = engine_started(c->eng);

	if (chat_busy(c)) {
		conv_mark(c->conv, (size_t)c->reply, "interrupted: engine restarted");
		c->active_id = -1;
		c->reply = -1;
	}
	if (engine_running(c->eng))
		engine_kill(c->eng);
	c->engine_turns = 0;
	c->cancel_at = 0;
	c->load = LOAD_NONE;
	c->model_info[0] = '\0';
	if (!engine_start(c->eng, err, sizeof err)) {
		note(c, "cannot start the engine: %s", err);
		c->errors++;
		return;
	}
	struct msg m = { .type = MSG_HELLO };
	m.hello.protocol = PROTO_VERSION;
	m.hello.program = "heft";
	m.hello.version = PACKAGE_VERSION;
	engine_send(c->eng, &m);
	if (c->model)
		send_load(c);
	if (c->opts.present) {
		struct msg s = { .type = MSG_SET };
		s.set.options = c->opts;
		engine_send(c->eng, &s);
	}
	if (restart)
		status(c, "engine started again: %s", engine_is_remote(c->eng) ? "reconnecting" : engine_target(c->eng));
}

bool chat_running(const struct chat *c)
{
	return engine_running(c->eng);
}

bool chat_busy(const struct chat *c)
{
	return c->active_id >= 0;
}

int chat_pollfds(struct chat *c, struct pollfd *p)
{
	return engine_pollfds(c->eng, p);
}

int chat_timeout_ms(struct chat *c)
{
	return engine_timeout_ms(c->eng);
}

/* The engine answered after a cancel: say what came of it. */
static void cancel_result(struct chat *c, const char *result)
{
	if (c->cancel_at <= 0)
		return;
	status(c, "%s (%.1f s after Ctrl-C)", result, now_sec() - c->cancel_at);
	c->cancel_at = 0;
}

/* The reply ended (done, error, engine gone): tag it, record it. */
static void finish(struct chat *c, const char *tag)
{
	if (!chat_busy(c))
		return;
	size_t r = (size_t)c->reply;
	if (tag)
		conv_mark(c->conv, r, tag);
	bool said = *conv_text(c->conv, r) != '\0';
	if (said)
		log_turn(c, r);
	c->engine_turns = c->reply_turns + said;
	c->active_id = -1;
	c->reply = -1;
	c->edited_turn = -1;
	if (c->load != LOAD_PENDING)
		c->progress[0] = '\0';	/* the reply's prefill or thinking */
	c->h->over(c->ctx, tag);
	cancel_result(c, tag && !strcmp(tag, "stopped") ? "reply stopped"
			 : "the reply ended before it could be stopped");
}

static void on_done(struct chat *c, const struct msg_done *d)
{
	/* Short enough for an 80-column status line after "ready | arch | ". */
	snprintf(c->last_speed, sizeof c->last_speed, "%lld tok %.1f/s (%s), prompt %lld new + %lld reused",
		 (long long)d->n_gen, d->gen_tok_s, msg_reason_name(d->reason), (long long)d->n_prompt,
		 (long long)d->n_cached);
	if (d->has_pos)
		snprintf(c->ctx_info, sizeof c->ctx_info, "%lld of %lld", (long long)d->n_pos,
			 (long long)d->n_ctx);
	if (c->edited_turn >= 0)
		status(c, "regenerated: %lld tokens re-evaluated, %lld reused (from turn %d)",
		       (long long)d->n_prompt, (long long)d->n_cached, c->edited_turn);
	const char *tag = NULL;
	switch (d->reason) {
	case DONE_CANCEL:
		tag = "stopped";
		break;
	case DONE_ERROR:
		c->errors++;
		tag = "failed";
		if (d->message)
			note(c, "the reply failed: %s", d->message);
		break;
	case DONE_CTX_FULL:
		tag = "context full";
		note(c, "The context is full%s%s%s: /clear, or edit an earlier message, to go on.",
		     d->message ? " (" : "", d->message ? d->message : "", d->message ? ")" : "");
		break;
	default:
		break;
	}
	finish(c, tag);
}

static void stats_note(struct chat *c, const struct msg_numbers *s)
{
	struct buf b = { 0 };

	buf_puts(&b, "stats:");
	for (size_t i = 0; i < s->n; i++) {
		const struct msg_stat *st = &s->v[i];
		if (st->is_array)
			buf_printf(&b, "  %s [%zu values]", st->key, st->n);
		else if (isnan(st->v[0]))
			buf_printf(&b, "  %s n/a", st->key);
		else
			buf_printf(&b, "  %s %.6g", st->key, st->v[0]);
	}
	if (!s->n)
		buf_puts(&b, " none (this engine reports no counters)");
	note(c, "%s", b.p);
	buf_free(&b);
}

static void on_error(struct chat *c, const struct msg_error *e)
{
	if (engine_last_was_garbage(c->eng)) {
		/* A few are worth showing; a flood is a broken engine. */
		if (engine_garbage(c->eng) <= 3)
			note(c, "engine sent an unreadable line (%s): %s", msg_errcode_name(e->code), e->message);
		if (engine_garbage(c->eng) == GARBAGE_MAX) {
			note(c, "the engine keeps sending lines that are not heft-protocol(5); "
			     "stopping it (/restart tries again)");
			engine_stop(c->eng);
			engine_terminate(c->eng);
		}
		return;
	}
	c->errors++;
	if (e->code == MSG_E_LOAD || (e->code == MSG_E_IO && c->load == LOAD_PENDING)) {
		c->load = LOAD_FAILED;
		c->progress[0] = '\0';
		cancel_result(c, "the model load ended (failed)");
		note(c, "cannot load the model: %s. /model PATH tries another one.", e->message);
	} else if (engine_is_remote(c->eng)) {
		note(c, "%s. Your next message tries again.", e->message);
	} else {
		note(c, "engine error (%s): %s", msg_errcode_name(e->code), e->message);
	}
	/* A refused request gets no done. */
	if (e->has_id && e->id == c->active_id)
		finish(c, "failed");
}

static void on_event(void *ctx, const struct msg *m)
{
	struct chat *c = ctx;
	struct msg_err err;

	switch (m->type) {
	case MSG_HELLO:
		if (!msg_hello_check(&m->hello, &err)) {
			note(c, "engine refused: %s", err.text);
			engine_stop(c->eng);
		}
		return;
	case MSG_PROGRESS:
		if (m->progress.total > 0) {
			snprintf(c->progress, sizeof c->progress, "%s %lld/%lld", m->progress.what,
				 (long long)m->progress.done, (long long)m->progress.total);
			c->progress_pct = (int)(100 * m->progress.done / m->progress.total);
		} else {
			snprintf(c->progress, sizeof c->progress, "%s %lld", m->progress.what,
				 (long long)m->progress.done);
			c->progress_pct = -1;
		}
		break;
	case MSG_LOADED:
		cancel_result(c, "the engine cannot stop a load: the model is loaded");
		if (c->server && (!c->model || strcmp(c->model, m->loaded.model))) {
			/* The server's first model: recorded, so --resume asks for it. */
			free(c->model);
			c->model = xstrdup(m->loaded.model);
			if (c->log) {
				sess_log_model(c->log, c->model, c->server);
				check_log(c);
			}
		}
		c->load = LOAD_OK;
		c->progress[0] = '\0';
		snprintf(c->model_info, sizeof c->model_info, "%.60s", m->loaded.arch);
		snprintf(c->ctx_info, sizeof c->ctx_info, "%lld", (long long)m->loaded.n_ctx);
		break;
	case MSG_TOKEN:
		if (m->token.id != c->active_id)
			return;	/* late tokens of a request we gave up on */
		conv_append_to(c->conv, (size_t)c->reply, m->token.text, strlen(m->token.text));
		break;
	case MSG_STATS:
		if (c->stats_wanted) {
			c->stats_wanted = false;
			stats_note(c, &m->stats.stats);
		}
		break;
	case MSG_DONE:
		if (m->done.id != c->active_id)
			return;
		c->h->event(c->ctx, m);	/* before finish: the UI sees done first */
		on_done(c, &m->done);
		return;
	case MSG_ERROR:
		on_error(c, &m->error);
		return;
	default:
		return;
	}
	c->h->event(c->ctx, m);
}

void chat_reap(struct chat *c)
{
	char why[160];

	if (!engine_reap(c->eng))
		return;
	engine_exit_reason(c->eng, why, sizeof why);
	c->errors++;
	finish(c, "interrupted: engine exited");
	c->load = LOAD_NONE;
	c->progress[0] = '\0';
	c->model_info[0] = '\0';
	c->engine_turns = 0;
	const char *how = c->cfg->plain || c->cfg->prompt ? "/restart" : "/restart (or F8)";
	const char *last = engine_last_error(c->eng);
	if (last && *last)
		note(c, "The engine %s; its last message: %s. The conversation is kept: %s starts "
		     "the engine again and your next message replays the conversation.",
		     why, last, how);
	else
		note(c, "The engine %s. The conversation is kept: %s starts the engine again and "
		     "your next message replays the conversation.", why, how);
	status(c, "engine %s", why);
}

void chat_io(struct chat *c, const struct pollfd *p, int n)
{
	engine_io(c->eng, p, n, on_event, c);
	char *notice = engine_take_notice(c->eng);
	if (notice) {
		note(c, "%s", notice);
		free(notice);
	}
	if (engine_eof(c->eng))
		chat_reap(c);
}

/* ---- requests ----------------------------------------------------------------------- */

static bool can_send(struct chat *c)
{
	if (chat_busy(c)) {
		status(c, "a reply is still streaming: Ctrl-C stops it");
		return false;
	}
	if (!engine_running(c->eng)) {
		status(c, "the engine is not running: /restart or F8 starts it");
		return false;
	}
	return true;
}

static void request(struct chat *c)
{
	size_t n = conv_count(c->conv), k = 0;
	struct msg_turn *turns = xcalloc(n ? n : 1, sizeof *turns);

	for (size_t i = 0; i < n; i++) {
		if (!is_sent(c, i))
			continue;
		turns[k].role = (char *)role_name(conv_role(c->conv, i));
		turns[k].content = (char *)conv_text(c->conv, i);
		k++;
	}
	/* Counters sampled as the reply starts: the engine's rates (disk
	 * MB/s) then cover a reply shorter than its stats period too. */
	if (!c->server) {
		struct msg s = { .type = MSG_STATS_REQUEST };
		engine_send(c->eng, &s);
	}
	struct msg m = { .type = MSG_CHAT };
	m.chat.id = ++c->next_id;
	m.chat.messages = turns;
	m.chat.n_messages = k;
	engine_send(c->eng, &m);
	free(turns);
	c->reply_turns = k;
	conv_add(c->conv, ROLE_ASSISTANT, "");
	c->reply = (long)conv_count(c->conv) - 1;
	c->active_id = m.chat.id;
}

/* Drop the engine's turns from k on (conversation and KV cache). */
static void send_truncate(struct chat *c, size_t k)
{
	if (c->engine_turns > k) {
		struct msg t = { .type = MSG_TRUNCATE };
		t.truncate.turn = (int64_t)k;
		engine_send(c->eng, &t);
		c->engine_turns = k;
	}
}

bool chat_send(struct chat *c, const char *text)
{
	if (!can_send(c))
		return false;
	c->edited_turn = -1;
	conv_add(c->conv, ROLE_USER, text);
	log_turn(c, conv_count(c->conv) - 1);
	request(c);
	return true;
}

bool chat_edit(struct chat *c, size_t turn, const char *text)
{
	if (turn >= conv_count(c->conv) || conv_role(c->conv, turn) != ROLE_USER) {
		status(c, "that turn is gone; nothing was sent");
		return false;
	}
	if (!can_send(c))
		return false;
	size_t k = engine_index(c, turn);
	send_truncate(c, k);
	conv_truncate(c->conv, turn);
	log_truncate(c, k);
	conv_add(c->conv, ROLE_USER, text);
	log_turn(c, turn);
	c->edited_turn = (int)k;
	request(c);
	return true;
}

bool chat_regen(struct chat *c)
{
	long last = -1;

	if (!can_send(c))
		return false;
	for (size_t i = 0; i < conv_count(c->conv); i++)
		if (is_sent(c, i))
			last = (long)i;
	if (last < 0) {
		status(c, "nothing to regenerate");
		return false;
	}
	size_t k = engine_index(c, (size_t)last);
	if (conv_role(c->conv, (size_t)last) == ROLE_ASSISTANT) {
		send_truncate(c, k);
		conv_truncate(c->conv, (size_t)last);
		log_truncate(c, k);
	} else {
		k++;	/* the last turn is the user's: answer it again */
	}
	c->edited_turn = (int)k;
	request(c);
	return true;
}

bool chat_cancel(struct chat *c)
{
	const char *what = chat_busy(c) ? "the reply" : c->load == LOAD_PENDING ? "the model load" : NULL;

	if (!what || !engine_running(c->eng))
		return false;
	double now = now_sec();
	if (c->cancel_at > 0 && now - c->cancel_at >= 1) {
		status(c, "the engine has not stopped %s in %.0f s: /restart stops it for good", what,
		       now - c->cancel_at);
		return true;
	}
	/* Without an id: whatever the engine is doing for us, also what it
	 * does before a reply's first token (dropping old turns). */
	struct msg m = { .type = MSG_CANCEL };
	engine_send(c->eng, &m);
	if (c->cancel_at <= 0)
		c->cancel_at = now;
	status(c, "stopping %s", what);
	return true;
}


bool chat_set(struct chat *c, const char *name, const char *value)
{
	char err[200];
	struct msg_options one = { 0 };

	if (!msg_options_set(&one, name, value, err, sizeof err)) {
		note(c, "/set: %s", err);
		msg_options_free(&one);
		return false;
	}
	/* Remember it for restarts, and send just this option now. */
	msg_options_set(&c->opts, name, value, err, sizeof err);
	struct msg m = { .type = MSG_SET };
	m.set.options = one;
	engine_send(c->eng, &m);
	msg_options_free(&one);
	status(c, "set %s %s", name, value);
	return true;
}

bool chat_system(struct chat *c, const char *text)
{
	size_t first = 0, n = conv_count(c->conv);

	if (chat_busy(c)) {
		status(c, "a reply is still streaming: Ctrl-C stops it");
		return false;
	}
	while (first < n && conv_role(c->conv, first) == ROLE_NOTE)
		first++;
	bool have = first < n && conv_role(c->conv, first) == ROLE_SYSTEM;
	if (have && *text)
		conv_set_text(c->conv, first, text);
	else if (have)
		conv_remove(c->conv, first);
	else if (*text)
		conv_insert(c->conv, 0, ROLE_SYSTEM, text);
	else
		return true;
	log_rewrite(c);
	status(c, *text ? "system prompt set (the whole conversation is evaluated again)"
		  : "system prompt removed");
	return true;
}

const char *chat_system_prompt(const struct chat *c)
{
	for (size_t i = 0; i < conv_count(c->conv); i++) {
		enum role r = conv_role(c->conv, i);
		if (r == ROLE_SYSTEM)
			return conv_text(c->conv, i);
		if (r != ROLE_NOTE)
			break;
	}
	return NULL;
}

void chat_clear(struct chat *c)
{
	if (chat_busy(c))
		chat_cancel(c);
	finish(c, "stopped");
	conv_clear(c->conv);
	if (c->log) {
		sess_log_clear(c->log);
		check_log(c);
	}
	status(c, "conversation cleared");
}

void chat_model(struct chat *c, const char *path)
{
	free(c->model);
	c->model = xstrdup(path);
	c->demo = false;
	if (c->log) {
		sess_log_model(c->log, path, c->server);
		check_log(c);
	}
	if (chat_busy(c))
		chat_cancel(c);
	if (engine_running(c->eng))
		send_load(c);
	else
		chat_start(c);
}

bool chat_list_models(struct chat *c)
{
	if (!c->server)
		return false;
	if (!engine_running(c->eng))
		status(c, "the engine is not running: /restart or F8 starts it");
	else if (engine_list_models(c->eng))
		status(c, "asking %s for its models", c->server);
	return true;
}

bool chat_save(struct chat *c, const char *path)
{
	struct sess_conv sc = { .turns = conv_new() };
	char err[300];

	for (size_t i = 0; i < conv_count(c->conv); i++)
		if (is_sent(c, i) && (long)i != c->reply)
			conv_add_copy(sc.turns, c->conv, i);
	sc.model = c->model ? xstrdup(c->model) : NULL;
	sc.engine = c->server ? xstrdup(c->server) : NULL;
	bool ok = sess_write(path, &sc, err, sizeof err);
	if (ok)
		status(c, "saved %zu turns to %s", conv_count(sc.turns), path);
	else
		note(c, "/save: %s", err);
	sess_conv_free(&sc);
	return ok;
}

static void add_turns(struct chat *c, const struct sess_conv *sc)
{
	for (size_t i = 0; i < conv_count(sc->turns); i++)
		conv_add_copy(c->conv, sc->turns, i);
}

bool chat_load_file(struct chat *c, const char *path)
{
	struct sess_conv sc;
	char err[300];

	if (chat_busy(c)) {
		status(c, "a reply is still streaming: Ctrl-C stops it");
		return false;
	}
	if (!sess_read(path, &sc, err, sizeof err)) {
		note(c, "/load: %s", err);
		return false;
	}
	conv_clear(c->conv);
	add_turns(c, &sc);
	log_rewrite(c);
	note(c, "loaded %zu turns from %s%s", conv_count(sc.turns), path,
	     sc.bad_lines ? " (some unreadable lines were skipped)" : "");
	sess_conv_free(&sc);
	return true;
}

void chat_stats(struct chat *c)
{
	if (!engine_running(c->eng)) {
		status(c, "the engine is not running: /restart or F8 starts it");
		return;
	}
	struct msg m = { .type = MSG_STATS_REQUEST };
	engine_send(c->eng, &m);
	c->stats_wanted = true;
}

/* ---- setup ------------------------------------------------------------------------------ */

static bool regular_nonempty(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0;
}

/* The engine: the command line's, else the resumed session's server,
 * else heft-engine serve. */
static void make_engine(struct chat *c, const char *resumed)
{
	const struct chat_config *cfg = c->cfg;
	const char *target = cfg->engine_cmd ? cfg->engine_cmd : resumed ? resumed : cfg->engine_default;
	struct engine_http_opts ho = { .api_key = cfg->api_key, .api = cfg->api, .stall_s = cfg->stall_s,
				       .ca_file = cfg->ca_file };

	c->eng = engine_new(target, &ho);
	c->server = engine_is_url(target) ? engine_url_public(target) : NULL;
}

static void open_session(struct chat *c)
{
	const struct chat_config *cfg = c->cfg;
	char err[300];
	char *dir = sess_dir(), *last = NULL;
	const char *path = cfg->session;

	if (cfg->resume && !path) {
		if (dir)
			last = sess_last(dir, err, sizeof err);
		else
			snprintf(err, sizeof err, "neither XDG_DATA_HOME nor HOME is set");
		if (!last)
			note(c, "Nothing to resume: %s. Starting a new session.", err);
		path = last;
	}
	struct stat st;
	if (path && stat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
		/* A FIFO would block the first write, a device take the turns. */
		note(c, "%s: not a regular file; the session is not being saved (/save FILE keeps "
		     "it).", path);
		make_engine(c, NULL);
		free(last);
		free(dir);
		return;
	}
	char *resumed = NULL;
	if (path && regular_nonempty(path)) {
		struct sess_conv sc;
		if (sess_read(path, &sc, err, sizeof err)) {
			add_turns(c, &sc);
			resumed = sc.engine ? xstrdup(sc.engine) : NULL;
			/* A model name means nothing to the other kind of engine. */
			bool remote = cfg->engine_cmd ? engine_is_url(cfg->engine_cmd) : resumed != NULL;
			if (!c->model && sc.model && remote == (sc.engine != NULL))
				c->model = xstrdup(sc.model);
			note(c, "Resumed %zu turns from %s%s; your next message replays them to the %s%s.",
			     conv_count(sc.turns), path, sc.bad_lines ? " (some unreadable lines were skipped)" : "",
			     !cfg->engine_cmd && resumed ? "server at " : "engine",
			     !cfg->engine_cmd && resumed ? resumed : "");
			sess_conv_free(&sc);
		} else {
			note(c, "Cannot resume: %s. Its turns are not shown; new ones are appended.", err);
		}
	}
	make_engine(c, resumed);
	free(resumed);
	c->log = sess_log_new(path, dir, c->model, c->server);
	free(last);
	free(dir);
}

bool chat_init(struct chat *c, const struct chat_config *cfg, const struct chat_hooks *h, void *ctx,
	       char *err, size_t errlen)
{
	memset(c, 0, sizeof *c);
	c->cfg = cfg;
	c->h = h;
	c->ctx = ctx;
	c->active_id = -1;
	c->reply = -1;
	c->edited_turn = -1;
	c->progress_pct = -1;
	for (int i = 0; i < cfg->n_opts; i++) {
		if (!msg_options_set(&c->opts, cfg->opt_name[i], cfg->opt_value[i], err, errlen)) {
			msg_options_free(&c->opts);
			return false;
		}
	}
	c->conv = conv_new();
	c->model = cfg->model ? xstrdup(cfg->model) : NULL;
	if (!cfg->no_session)
		open_session(c);
	else
		make_engine(c, NULL);
	if (!c->model && cfg->demo_model) {
		c->model = xstrdup(cfg->demo_model);
		c->demo = true;
	}
	if (cfg->system)
		chat_system(c, cfg->system);
	return true;
}

void chat_finish(struct chat *c)
{
	finish(c, "interrupted: heft quit");
	engine_kill(c->eng);
}

void chat_free(struct chat *c)
{
	engine_free(c->eng);
	c->eng = NULL;
	conv_free(c->conv);
	sess_log_free(c->log);
	msg_options_free(&c->opts);
	free(c->model);
	free(c->server);
}

const char *chat_state(const struct chat *c)
{
	if (!engine_running(c->eng))
		return "engine stopped";
	if (chat_busy(c))
		return "generating";
	if (c->load == LOAD_PENDING)
		return "loading";
	if (c->load == LOAD_FAILED)
		return "no model";
	return "ready";
}

const char *chat_log_error(const struct chat *c)
{
	return c->log ? sess_log_error(c->log) : NULL;
}

const char *chat_log_path(const struct chat *c)
{
	return c->log ? sess_log_path(c->log) : NULL;
}

long chat_last_user(const struct chat *c)
{
	for (size_t i = conv_count(c->conv); i-- > 0;)
		if (conv_role(c->conv, i) == ROLE_USER)
			return (long)i;
	return -1;
}
