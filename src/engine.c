/* engine.c - pick an engine by its target and dispatch to it (engine.h). */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "engine-int.h"
#include "util.h"

bool engine_is_url(const char *target)
{
	return target && (!strncasecmp(target, "http://", 7) || !strncasecmp(target, "https://", 8));
}

char *engine_url_public(const char *target)
{
	if (!engine_is_url(target))
		return xstrdup(target);
	const char *host = strstr(target, "://") + 3;
	size_t auth = strcspn(host, "/?#");
	const char *at = NULL;
	/* The last '@' before the path ends the userinfo. */
	for (size_t i = 0; i < auth; i++)
		if (host[i] == '@')
			at = host + i;
	if (!at)
		return xstrdup(target);
	char *out;
	xasprintf(&out, "%.*s%s", (int)(host - target), target, at + 1);
	return out;
}

struct engine *engine_new(const char *target, const struct engine_http_opts *http)
{
	static const struct engine_http_opts none;

	if (engine_is_url(target))
		return engine_http_new(target, http ? http : &none);
	return engine_pipe_new(target);
}

void engine_free(struct engine *e)
{
	if (!e)
		return;
	e->ops->free(e);
	free(e->target);
	free(e->last_err);
	free(e->notice);
	free(e);
}

const char *engine_target(const struct engine *e)
{
	return e->target;
}

bool engine_is_remote(const struct engine *e)
{
	return engine_is_url(e->target);
}

bool engine_start(struct engine *e, char *err, size_t errlen)
{
	free(e->last_err);
	e->last_err = NULL;
	e->garbage = 0;
	e->last_was_garbage = false;
	e->started = true;
	return e->ops->start(e, err, errlen);
}

bool engine_running(const struct engine *e)
{
	return e->ops->running(e);
}

bool engine_started(const struct engine *e)
{
	return e->started;
}

void engine_send(struct engine *e, const struct msg *m)
{
	e->ops->send(e, m);
}

int engine_pollfds(struct engine *e, struct pollfd *p)
{
	return e->ops->pollfds(e, p);
}

int engine_timeout_ms(struct engine *e)
{
	return e->notice ? 0 : e->ops->timeout_ms(e);
}

void engine_io(struct engine *e, const struct pollfd *p, int n, engine_event_fn fn, void *ctx)
{
	e->ops->io(e, p, n, fn, ctx);
}

bool engine_eof(const struct engine *e)
{
	return e->ops->eof(e);
}

bool engine_reap(struct engine *e)
{
	return e->ops->reap(e);
}

void engine_exit_reason(const struct engine *e, char *out, size_t n)
{
	e->ops->exit_reason(e, out, n);
}

const char *engine_last_error(const struct engine *e)
{
	return e->last_err;
}

bool engine_last_was_garbage(const struct engine *e)
{
	return e->last_was_garbage;
}

unsigned long engine_garbage(const struct engine *e)
{
	return e->garbage;
}

char *engine_take_notice(struct engine *e)
{
	char *s = e->notice;
	e->notice = NULL;
	return s;
}

void engine_notice(struct engine *e, const char *text)
{
	char *s;
	if (e->notice) {
		xasprintf(&s, "%s\n%s", e->notice, text);
		free(e->notice);
	} else {
		s = xstrdup(text);
	}
	e->notice = s;
}

bool engine_list_models(struct engine *e)
{
	return e->ops->list_models && e->ops->list_models(e);
}

void engine_stop(struct engine *e)
{
	e->ops->stop(e);
}

void engine_terminate(struct engine *e)
{
	e->ops->terminate(e);
}

void engine_kill(struct engine *e)
{
	e->ops->kill(e);
}
