/* engine-int.h - what the implementations of engine.h share: the table of
 * operations each one fills and the state every engine has. Only
 * engine.c, engine-pipe.c and engine-http.c include it. */
#ifndef HEFT_ENGINE_INT_H
#define HEFT_ENGINE_INT_H

#include "engine.h"

struct engine_ops {
	bool (*start)(struct engine *e, char *err, size_t errlen);
	bool (*running)(const struct engine *e);
	void (*send)(struct engine *e, const struct msg *m);
	int (*pollfds)(struct engine *e, struct pollfd *p);
	int (*timeout_ms)(struct engine *e);
	void (*io)(struct engine *e, const struct pollfd *p, int n, engine_event_fn fn, void *ctx);
	bool (*eof)(const struct engine *e);
	bool (*reap)(struct engine *e);
	void (*exit_reason)(const struct engine *e, char *out, size_t n);
	bool (*list_models)(struct engine *e);	/* NULL: none to list */
	void (*stop)(struct engine *e);
	void (*terminate)(struct engine *e);
	void (*kill)(struct engine *e);
	void (*free)(struct engine *e);	/* the implementation's part only */
};

struct engine {
	const struct engine_ops *ops;
	char *target;		/* command or URL (owned) */
	bool started;
	char *last_err;		/* last diagnostic, sanitized, or NULL */
	char *notice;		/* pending engine_take_notice(), or NULL */
	bool last_was_garbage;
	unsigned long garbage;
};

/* Set the pending notice, after any not yet taken. */
void engine_notice(struct engine *e, const char *text);

struct engine *engine_pipe_new(const char *cmd);
struct engine *engine_http_new(const char *url, const struct engine_http_opts *o);

#endif
