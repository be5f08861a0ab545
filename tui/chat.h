/* chat.h - one conversation with one engine: what the full-screen UI and the
 * plain mode share. It owns the engine child, the conversation (a
 * conversation pane, drawn or not), the sampler options and the session
 * file, turns the user's actions into requests and the engine's events into
 * turns, and tells the UI through a few hooks. It never blocks. */
#ifndef HEFT_CHAT_H
#define HEFT_CHAT_H

#include <stdbool.h>
#include <stdint.h>

#include "engine.h"
#include "pane.h"
#include "protocol.h"

/* config.h gives the real one in the autotools build. */
#ifndef PACKAGE_VERSION
#define PACKAGE_VERSION "0.1.0"
#endif

#define CHAT_MAX_OPTS 32

/* What the command line asked for. */
struct chat_config {
	const char *engine_cmd;	/* run with /bin/sh -c, or a server's URL; NULL:
				 * the resumed session's server, else engine_default */
	const char *engine_default;	/* heft-engine serve */
	const char *api_key;	/* for a server; never shown or recorded */
	const char *api;	/* "openai", "ollama", NULL: detect */
	double stall_s;		/* a silent server is given up after; 0: default */
	const char *ca_file;	/* HEFT_CA_BUNDLE: certificates to trust, or NULL */
	const char *model;	/* NULL: the resumed session's, else demo_model */
	const char *demo_model;	/* the demo model, if one was found */
	const char *demo_error;	/* else why not */
	uint64_t mem;		/* RAM budget for load; 0 = engine default */
	int64_t ctx, threads;	/* for load; 0 = engine default */
	enum msg_load_io io;	/* for load: how to hold the weights */
	enum msg_load_policy cache_policy;
	bool no_prefetch;
	const char *chat_template;
	const char *opt_name[CHAT_MAX_OPTS], *opt_value[CHAT_MAX_OPTS];
	int n_opts;		/* sampler flags, as /set would take them */
	const char *system;	/* system prompt */
	bool resume;		/* reopen the last session */
	const char *session;	/* session file to use (NULL: a new one) */
	bool no_session;	/* record nothing (heft -p without --session) */
	bool plain;
	const char *prompt;	/* -p */
};

struct chat_hooks {
	/* A message from heft to the user (an error, help, a notice). */
	void (*note)(void *ctx, const char *text);
	/* A short-lived one-line status. */
	void (*status)(void *ctx, const char *text);
	/* Every event of the live request (and stats, loaded, progress),
	 * after the chat handled it: the panes, or plain mode's printing. */
	void (*event)(void *ctx, const struct msg *m);
	/* The reply being generated ended; tag is NULL (complete) or why
	 * not ("stopped", "failed", "interrupted: engine exited"). */
	void (*over)(void *ctx, const char *tag);
};

enum chat_load { LOAD_NONE, LOAD_PENDING, LOAD_OK, LOAD_FAILED };

struct sess_log;

struct chat {
	const struct chat_config *cfg;
	struct engine *eng;
	struct conv *conv;	/* the conversation (owned) */
	char *model;		/* to load (owned); NULL: none (a server: its first) */
	char *server;		/* a server's URL as recorded (no user:password), or NULL */
	bool demo;		/* model is the demo model */
	struct msg_options opts;	/* flags and /set: resent after a restart */
	struct sess_log *log;	/* NULL: not recording */
	int64_t next_id, active_id;	/* active_id -1: nothing generating */
	long reply;		/* conversation index of the reply being streamed */
	size_t reply_turns;	/* turns sent with it */
	size_t engine_turns;	/* turns the engine holds (for truncate) */
	int edited_turn;	/* >= 0: the request regenerates from this turn */
	enum chat_load load;
	char model_info[128];	/* "qwen3moe" */
	char ctx_info[64];	/* "4096", or positions in use: "182 of 2048" */
	char last_speed[192];	/* the last reply's counts and speed */
	char progress[64];	/* "load 2/4" */
	int progress_pct;	/* -1: unknown */
	bool stats_wanted;	/* /stats: show the next stats event as a note */
	bool log_error_told;
	double cancel_at;	/* when a cancel was sent and not yet answered, or 0 */
	unsigned errors;	/* engine errors and deaths, for heft -p's status */
	const struct chat_hooks *h;
	void *ctx;
};

/* Set up (no engine yet): options, the system prompt, the resumed
 * session. False with a message in err for bad option values. */
bool chat_init(struct chat *c, const struct chat_config *cfg, const struct chat_hooks *h, void *ctx,
	       char *err, size_t errlen);
void chat_free(struct chat *c);

void chat_start(struct chat *c);	/* start (or restart) the engine */
bool chat_running(const struct chat *c);
bool chat_busy(const struct chat *c);	/* a reply is being generated */

/* poll() slots (up to ENGINE_POLLFDS_MAX), the longest poll() may wait
 * (-1: no limit), and the I/O they allow (call chat_io every turn of the
 * loop, even when poll() timed out); reap after SIGCHLD. */
int chat_pollfds(struct chat *c, struct pollfd *p);
int chat_timeout_ms(struct chat *c);
void chat_io(struct chat *c, const struct pollfd *p, int n);
void chat_reap(struct chat *c);

/* User actions. Each returns false, with the reason told through the
 * status hook, when it cannot be done now (the caller keeps the text). */
bool chat_send(struct chat *c, const char *text);
bool chat_edit(struct chat *c, size_t turn, const char *text);	/* conv index */
bool chat_regen(struct chat *c);
bool chat_cancel(struct chat *c);
bool chat_set(struct chat *c, const char *name, const char *value);
/* Set the system prompt ("" removes it); the current one or NULL. */
bool chat_system(struct chat *c, const char *text);
const char *chat_system_prompt(const struct chat *c);
void chat_clear(struct chat *c);
void chat_model(struct chat *c, const char *path);
/* A server's models, as a note; false for a local engine (nothing to list). */
bool chat_list_models(struct chat *c);
bool chat_save(struct chat *c, const char *path);
bool chat_load_file(struct chat *c, const char *path);
void chat_stats(struct chat *c);
/* Quitting: a reply cut short is still recorded; the engine is stopped. */
void chat_finish(struct chat *c);

/* One word for the status line: "ready", "generating", "loading". */
const char *chat_state(const struct chat *c);
/* Why the session is not (all) on disk, or NULL. */
const char *chat_log_error(const struct chat *c);
const char *chat_log_path(const struct chat *c);
/* The conversation index of the last user turn, or -1. */
long chat_last_user(const struct chat *c);

#endif
