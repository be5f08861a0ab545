/* engine.h - the heft-engine child process, spoken to over two pipes.
 *
 * The engine runs as "/bin/sh -c CMD", so CMD may be anything that relays
 * stdin and stdout (ssh, a wrapper script, a fake for tests). Every fd is
 * non-blocking: requests queue in memory and leave when the pipe takes
 * them, events are read when poll() says so. Nothing here blocks. */
#ifndef HEFT_ENGINE_H
#define HEFT_ENGINE_H

#include <poll.h>
#include <stdbool.h>
#include <sys/types.h>

#include "linereader.h"
#include "protocol.h"
#include "util.h"

struct engine {
	char *cmd;
	pid_t pid;		/* 0: not running (or reaped) */
	int to_fd, from_fd, err_fd;	/* -1 when closed */
	struct buf out;		/* encoded requests not yet written */
	size_t out_off;
	struct linereader lr, lr_err;
	char *last_err;		/* the engine's last stderr line, sanitized, or NULL */
	bool exited;		/* reaped; status holds the wait status */
	int status;
	bool got_hello;
	unsigned long garbage;	/* undecodable lines in a row */
	bool last_was_garbage;	/* the event just handed over was made up
				 * by us from a line that did not decode */
};

void engine_init(struct engine *e, const char *cmd);
void engine_free(struct engine *e);

/* Start CMD; false with a message in err when fork/pipe failed (an engine
 * that cannot be exec'd starts fine and exits 127: that shows up later). */
bool engine_start(struct engine *e, char *err, size_t errlen);
bool engine_running(const struct engine *e);

/* Queue one request. */
void engine_send(struct engine *e, const struct msg *m);

/* poll() slots: fills up to 3 pollfds, returns how many. */
int engine_pollfds(struct engine *e, struct pollfd *p);
/* Do the I/O poll() allowed (write queued requests, read events and
 * stderr). Decoded events (and error events made from undecodable lines)
 * are handed to fn. */
void engine_io(struct engine *e, const struct pollfd *p, int n,
	       void (*fn)(void *ctx, const struct msg *m), void *ctx);

/* Reap the child if it has exited (after SIGCHLD or EOF on its stdout).
 * Returns true once, when it has just been reaped. */
bool engine_reap(struct engine *e);

/* "exited with status 3", "killed by signal 9 (Killed)". */
void engine_exit_reason(const struct engine *e, char *out, size_t n);

/* Ask it to stop (quit request, then close its stdin), without waiting. */
void engine_stop(struct engine *e);
/* Kill and reap for good: used at program exit. */
void engine_kill(struct engine *e);

#endif
