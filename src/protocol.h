/* protocol.h - the heft <-> heft-engine wire protocol (see heft-protocol(5)).
 *
 * One JSON object per '\n'-terminated line, UTF-8. The front end sends
 * requests, the engine answers with events; both open with "hello".
 * A message is a tagged union: msg_decode() fills one from a line,
 * msg_encode() turns one into a line. Decoded strings are owned by the
 * message and released by msg_free(). A message built by hand for encoding
 * may point at borrowed strings as long as msg_free() is not called on it. */
#ifndef HEFT_PROTOCOL_H
#define HEFT_PROTOCOL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cache-policies.h"
#include "util.h"

/* Major protocol version; peers with a different one refuse each other. */
#define PROTO_VERSION 1

/* Longest line either side accepts, excluding the '\n'. Large enough for a
 * whole conversation with a 1 MB paste escaped six-fold, small enough that a
 * runaway peer cannot make the other side buffer without bound. */
#define PROTO_LINE_MAX ((size_t)8 << 20)

/* Request ids are integers that survive a round trip through a double, so
 * scripts in any language can echo them back. */
#define MSG_ID_MAX ((INT64_C(1) << 53) - 1)

enum msg_type {
	MSG_NONE = 0,
	MSG_HELLO,		/* both directions */
	/* requests: front end -> engine */
	MSG_LOAD,
	MSG_CHAT,
	MSG_COMPLETE,
	MSG_CANCEL,
	MSG_TRUNCATE,
	MSG_SET,
	MSG_STATS_REQUEST,	/* "stats" as a request */
	MSG_SAVE,
	MSG_RESTORE,
	MSG_QUIT,
	/* events: engine -> front end */
	MSG_LOADED,
	MSG_PROGRESS,
	MSG_TOKEN,
	MSG_STATS,		/* "stats" as an event */
	MSG_DONE,
	MSG_ERROR,
	MSG_TYPE_COUNT
};

/* Which side's messages a line is expected to hold: "stats" is both a
 * request and an event, and a message sent the wrong way is an error. */
enum msg_dir {
	MSG_REQUEST = 1,	/* the engine decodes requests */
	MSG_EVENT = 2,		/* the front end decodes events */
};

/* Error codes carried by error events (wire names in msg_errcode_name()). */
enum msg_errcode {
	MSG_E_PARSE,		/* "parse": not JSON, truncated, bad UTF-8, NUL */
	MSG_E_TOO_LONG,		/* "too_long": line over the limit */
	MSG_E_BAD_MESSAGE,	/* "bad_message": not an object, bad field */
	MSG_E_UNKNOWN_TYPE,	/* "unknown_type" */
	MSG_E_VERSION,		/* "version": protocol major mismatch */
	MSG_E_NO_MODEL,		/* "no_model": request needs a loaded model */
	MSG_E_LOAD,		/* "load": the model could not be loaded */
	MSG_E_BUSY,		/* "busy": a generation is already running */
	MSG_E_NOT_FOUND,	/* "not_found": no such request id or turn */
	MSG_E_IO,		/* "io": save/restore or model read failed */
	MSG_E_UNSUPPORTED,	/* "unsupported": valid but not implemented */
	MSG_E_INTERNAL,		/* "internal": anything else */
	MSG_E_COUNT
};

/* A decode (or other protocol) failure, ready to become an error event. */
struct msg_err {
	enum msg_errcode code;
	bool has_id;		/* the failing request's id, when it was readable */
	int64_t id;
	char text[256];
};

/* Sampler options, shared by "set", "chat" and "complete". Only options
 * whose bit is in `present` were given; the others keep the engine's value. */
enum msg_opt {
	OPT_TEMP,
	OPT_TOP_K,
	OPT_TOP_P,
	OPT_MIN_P,
	OPT_REPEAT_PENALTY,
	OPT_REPEAT_LAST_N,
	OPT_SEED,
	OPT_N_PREDICT,
	OPT_STOP,
	OPT_PRESENCE_PENALTY,
	OPT_FREQUENCY_PENALTY,
	OPT_COUNT
};
#define MSG_OPT_BIT(o) (1u << (o))
#define MSG_STOP_MAX 16		/* stop strings per request */

struct msg_options {
	unsigned present;		/* MSG_OPT_BIT(OPT_*) of the options given */
	double temp;			/* [0, 100]; 0 = greedy */
	int64_t top_k;			/* [0, 2^31-1]; 0 = off */
	double top_p;			/* [0, 1]; 1 = off */
	double min_p;			/* [0, 1]; 0 = off */
	double repeat_penalty;		/* [0, 100]; 1 = off */
	int64_t repeat_last_n;		/* [0, 2^31-1] */
	int64_t seed;			/* [0, 2^53-1] */
	int64_t n_predict;		/* [-1, 2^31-1]; -1 = until EOS/context */
	double presence_penalty;	/* [-2, 2]; 0 = off */
	double frequency_penalty;	/* [-2, 2]; 0 = off */
	char **stop;			/* owned, n_stop <= MSG_STOP_MAX */
	size_t n_stop;
};

/* A free-form object of named numbers or arrays of numbers: the memory plan
 * of "loaded" and the body of "stats". NaN stands for "not available" (null
 * on the wire), never for a made-up value. */
struct msg_stat {
	char *key;
	double *v;		/* n values; a scalar has n == 1, is_array false */
	size_t n;
	bool is_array;
};
struct msg_numbers {
	struct msg_stat *v;
	size_t n;
};

struct msg_hello {
	int64_t protocol;	/* PROTO_VERSION of the sender */
	char *program;		/* "heft" or "heft-engine" */
	char *version;		/* package version, e.g. "0.1.0" */
};

/* How the engine holds the weights ("io" of load; heft-engine(1) --io). */
enum msg_load_io {
	LOAD_IO_DEFAULT = 0,	/* not given */
	LOAD_IO_AUTO,
	LOAD_IO_RAM,
	LOAD_IO_STREAM,
	LOAD_IO_MMAP,
	LOAD_IO_COUNT
};

/* Expert-cache replacement ("cache_policy" of load; --cache-policy). */
enum msg_load_policy {
	LOAD_POLICY_DEFAULT = 0,	/* not given: the engine's default */
#define LOAD_POLICY(id, name) LOAD_POLICY_##id,
	CACHE_POLICIES(LOAD_POLICY)	/* LOAD_POLICY_LRFU, ... */
#undef LOAD_POLICY
	LOAD_POLICY_COUNT
};

struct msg_load {
	char *model;		/* path of the model (first split file) */
	uint64_t mem;		/* RAM budget in bytes; 0 = engine default */
	int64_t ctx;		/* context length; 0 = model/engine default */
	int64_t threads;	/* compute threads; 0 = engine default */
	enum msg_load_io io;
	enum msg_load_policy cache_policy;
	bool no_prefetch;
	char *chat_template;	/* a template name; NULL = the model's own */
};

struct msg_turn {
	char *role;		/* "system", "user", "assistant" */
	char *content;
};

struct msg_chat {
	int64_t id;
	/* Exactly one of: the whole conversation (the engine keeps the KV of
	 * the common prefix) or one user turn appended to the current one. */
	struct msg_turn *messages;
	size_t n_messages;
	char *text;
	struct msg_options options;
};

struct msg_complete {
	int64_t id;
	char *prompt;		/* raw text, no chat template */
	struct msg_options options;	/* "n_predict" at top level lands here */
};

struct msg_cancel {
	bool has_id;		/* without an id: cancel whatever runs */
	int64_t id;
};

struct msg_truncate {
	int64_t turn;		/* keep turns [0, turn) and their KV */
};

struct msg_set {
	struct msg_options options;
};

struct msg_path {
	char *path;		/* save / restore */
};

struct msg_loaded {
	char *model;
	char *arch;		/* GGUF general.architecture */
	int64_t n_params;
	int64_t n_ctx;
	/* Optional model shape (0 = not sent): the expert pane's grid. */
	int64_t n_layer, n_expert, n_expert_used, n_vocab;
	struct msg_numbers plan;	/* memory plan, byte counts etc. */
	/* Optional (NULL = not sent): how the weights are held ("ram",
	 * "stream", "mmap"), the cache policy, the chat template in use. */
	char *mode;
	char *cache_policy;
	char *chat_template;
};

struct msg_progress {
	char *what;		/* "load", "prefill", ... */
	int64_t done;
	int64_t total;		/* 0 = unknown */
};

struct msg_token {
	int64_t id;		/* request id */
	int64_t tok;		/* token id */
	char *text;		/* piece; always valid UTF-8 (maybe empty) */
	double t_ms;		/* time spent on this token */
	bool has_io_wait;
	double io_wait_ms;	/* part of t_ms spent waiting for the disk */
};

struct msg_stats {
	struct msg_numbers stats;
};

/* A reason a decoder does not know (from a newer engine) reads as
 * DONE_ERROR: the request is over either way. */
enum msg_reason {
	DONE_EOS,
	DONE_LENGTH,
	DONE_STOP,
	DONE_CANCEL,
	DONE_ERROR,
	DONE_CTX_FULL,		/* the context has no room left */
	DONE_REASON_COUNT
};

struct msg_done {
	int64_t id;
	enum msg_reason reason;
	int64_t n_prompt;	/* prompt tokens evaluated */
	int64_t n_cached;	/* prompt tokens reused from the KV cache */
	int64_t n_gen;		/* tokens generated */
	double prompt_tok_s, gen_tok_s;
	/* Optional members, sent when their has_ flag is set. */
	bool has_ms;
	double prompt_ms, gen_ms;	/* wall time of the prompt and of the reply */
	bool has_pos;
	int64_t n_pos, n_ctx;		/* context positions in use after it, of n_ctx */
	char *message;			/* why it ended (error, ctx_full); NULL = none */
};

struct msg_error {
	enum msg_errcode code;
	char *message;
	bool has_id;
	int64_t id;
};

struct msg {
	enum msg_type type;
	union {
		struct msg_hello hello;
		struct msg_load load;
		struct msg_chat chat;
		struct msg_complete complete;
		struct msg_cancel cancel;
		struct msg_truncate truncate;
		struct msg_set set;
		struct msg_path save;	/* MSG_SAVE and MSG_RESTORE */
		struct msg_path restore;
		struct msg_loaded loaded;
		struct msg_progress progress;
		struct msg_token token;
		struct msg_stats stats;
		struct msg_done done;
		struct msg_error error;
	};
};

/* Wire names: "hello", "stats", ...; "?" for out-of-range values. */
const char *msg_type_name(enum msg_type t);
const char *msg_errcode_name(enum msg_errcode c);
const char *msg_reason_name(enum msg_reason r);
/* The load request's choices by their wire names (NULL at *_DEFAULT, which
 * is never sent): what a front end's --io and --cache-policy take. */
extern const char *const msg_load_io_names[LOAD_IO_COUNT];
extern const char *const msg_load_policy_names[LOAD_POLICY_COUNT];

/* Parse one line (without its '\n'; a trailing '\r' is tolerated) sent in
 * direction dir. On success fills *m (free with msg_free) and returns true;
 * on failure leaves *m as MSG_NONE, fills *err and returns false. Never
 * reads past line + len; the line need not be NUL-terminated. */
bool msg_decode(struct msg *m, const char *line, size_t len, enum msg_dir dir,
		struct msg_err *err);

/* Append m as one line, '\n' included, to out. Invalid UTF-8 in strings is
 * replaced by U+FFFD and non-finite numbers by 0 (or null where the field
 * allows "not available"). Returns false, leaving out unchanged, when the
 * line would exceed PROTO_LINE_MAX or m is not a valid message. */
bool msg_encode(const struct msg *m, struct buf *out);

/* Release everything m owns and reset it to MSG_NONE. */
void msg_free(struct msg *m);

/* Fill *err (code, printf-style text, no id). */
void msg_err_set(struct msg_err *err, enum msg_errcode code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Turn a failure into an error event (m must be empty or freed). */
void msg_error_event(struct msg *m, const struct msg_err *err);
/* An error event with the whole of text (msg_err's text has a fixed size;
 * this one has none), made valid UTF-8 without controls; no id. */
void msg_error_event_text(struct msg *m, enum msg_errcode code, const char *text);

/* Check a peer's hello: false with MSG_E_VERSION in *err when its major
 * protocol version differs from ours. */
bool msg_hello_check(const struct msg_hello *h, struct msg_err *err);

/* Sampler options by name, for "/set temp 0.7" and tab completion. */
const char *msg_option_name(enum msg_opt o);
bool msg_option_lookup(const char *name, enum msg_opt *o);
/* A numeric option's kind and range (false for "stop"): the command line's
 * sampler flags are these options too (engine/options.c). */
bool msg_option_range(enum msg_opt o, bool *is_int, double *lo, double *hi);
/* Parse value (text) into option `name`; "stop" appends one stop string.
 * On failure returns false with a message in err[errlen]. */
bool msg_options_set(struct msg_options *opts, const char *name, const char *value,
		     char *err, size_t errlen);
void msg_options_free(struct msg_options *opts);

/* Named numbers (plan, stats). get returns NULL when the key is absent. */
const struct msg_stat *msg_numbers_get(const struct msg_numbers *s, const char *key);
/* A scalar's value, or dflt when absent, an array, or NaN. */
double msg_numbers_scalar(const struct msg_numbers *s, const char *key, double dflt);
void msg_numbers_add(struct msg_numbers *s, const char *key, double v);
void msg_numbers_add_array(struct msg_numbers *s, const char *key, const double *v, size_t n);
/* Adds copies of all of src's numbers, in order, after dst's. */
void msg_numbers_append(struct msg_numbers *dst, const struct msg_numbers *src);
void msg_numbers_free(struct msg_numbers *s);

/* s as a jansson string (jansson refuses invalid UTF-8): each byte that
 * does not start a valid UTF-8 sequence becomes U+FFFD, NULL becomes "".
 * For whatever else writes JSON from untrusted text (the session file). */
struct json_t;
struct json_t *msg_json_str(const char *s);

#endif
