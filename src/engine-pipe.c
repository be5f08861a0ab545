/* engine-pipe.c - the engine as a child process: heft-engine (or anything
 * that relays stdin and stdout: ssh, a wrapper, a fake for tests) run as
 * "/bin/sh -c CMD" and spoken to over two non-blocking pipes, its stderr
 * read for the last diagnostic. Requests queue in memory and leave when
 * the pipe takes them; nothing here blocks. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "engine-int.h"
#include "linereader.h"
#include "sanitize.h"
#include "util.h"

#define ENGINE_IO_BUDGET_S 0.005

struct pipe_engine {
	struct engine base;
	pid_t pid;		/* 0: not running (or reaped) */
	int to_fd, from_fd, err_fd;	/* -1 when closed */
	struct buf out;		/* encoded requests not yet written */
	size_t out_off;
	struct linereader lr, lr_err;
	bool exited;		/* reaped; status holds the wait status */
	int status;
};

#define PE(e) ((struct pipe_engine *)(e))

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

static void close_all(struct pipe_engine *e)
{
	close_fd(&e->to_fd);
	close_fd(&e->from_fd);
	close_fd(&e->err_fd);
}

static void pipe_free(struct engine *be)
{
	struct pipe_engine *e = PE(be);
	close_all(e);
	buf_free(&e->out);
	lr_free(&e->lr);
	lr_free(&e->lr_err);
}

static void set_flags(int fd)
{
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	fcntl(fd, F_SETFD, FD_CLOEXEC);
}

static bool pipe_start(struct engine *be, char *err, size_t errlen)
{
	struct pipe_engine *e = PE(be);
	int in[2], out[2], er[2];

	if (pipe(in) < 0 || pipe(out) < 0 || pipe(er) < 0) {
		snprintf(err, errlen, "pipe: %s", strerror(errno));
		return false;
	}
	pid_t pid = fork();
	if (pid < 0) {
		snprintf(err, errlen, "fork: %s", strerror(errno));
		close(in[0]), close(in[1]), close(out[0]), close(out[1]);
		close(er[0]), close(er[1]);
		return false;
	}
	if (pid == 0) {
		/* The engine gets a clean slate: default signals, its own
		 * process group so the terminal's ^C never reaches it (a
		 * cancel request does), and only the three pipes. */
		struct sigaction sa = { .sa_handler = SIG_DFL };
		sigemptyset(&sa.sa_mask);
		for (int s = 1; s < NSIG; s++)
			sigaction(s, &sa, NULL);
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		setpgid(0, 0);
		dup2(in[0], 0);
		dup2(out[1], 1);
		dup2(er[1], 2);
		for (int fd = 3; fd < 256; fd++)
			close(fd);
		/* A simple command is exec'd by the shell, so its exit status
		 * (or the signal that killed it) is ours to report. */
		char *cmd = NULL;
		if (!strpbrk(be->target, ";&|()`\n"))
			xasprintf(&cmd, "exec %s", be->target);
		execl("/bin/sh", "sh", "-c", cmd ? cmd : be->target, (char *)NULL);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	close(er[1]);
	e->pid = pid;
	e->to_fd = in[1];
	e->from_fd = out[0];
	e->err_fd = er[0];
	set_flags(e->to_fd);
	set_flags(e->from_fd);
	set_flags(e->err_fd);
	buf_clear(&e->out);
	e->out_off = 0;
	lr_free(&e->lr);
	lr_free(&e->lr_err);
	lr_init(&e->lr, PROTO_LINE_MAX);
	lr_init(&e->lr_err, 4096);
	e->exited = false;
	e->status = 0;
	return true;
}

static bool pipe_running(const struct engine *be)
{
	const struct pipe_engine *e = (const struct pipe_engine *)be;
	return e->pid > 0 && !e->exited;
}

static void pipe_send(struct engine *be, const struct msg *m)
{
	struct pipe_engine *e = PE(be);
	if (e->to_fd < 0)
		return;
	msg_encode(m, &e->out);
}

static int pipe_pollfds(struct engine *be, struct pollfd *p)
{
	struct pipe_engine *e = PE(be);
	int n = 0;

	if (e->from_fd >= 0)
		p[n++] = (struct pollfd){ .fd = e->from_fd, .events = POLLIN };
	if (e->err_fd >= 0)
		p[n++] = (struct pollfd){ .fd = e->err_fd, .events = POLLIN };
	if (e->to_fd >= 0 && e->out.len > e->out_off)
		p[n++] = (struct pollfd){ .fd = e->to_fd, .events = POLLOUT };
	return n;
}

static int pipe_timeout_ms(struct engine *be)
{
	return -1;
}

static void flush_out(struct pipe_engine *e)
{
	while (e->to_fd >= 0 && e->out.len > e->out_off) {
		ssize_t w = write(e->to_fd, e->out.p + e->out_off, e->out.len - e->out_off);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN)	/* EPIPE: it died; reaping tells why */
				close_fd(&e->to_fd);
			break;
		}
		e->out_off += (size_t)w;
	}
	if (e->out_off == e->out.len) {
		buf_clear(&e->out);
		e->out_off = 0;
	}
}

static void read_events(struct pipe_engine *e, engine_event_fn fn, void *ctx)
{
	struct engine *be = &e->base;
	/* Bounded per call, in reads and in time, so an engine streaming at
	 * full speed cannot starve the keyboard: the lines of one read are
	 * all handled, the next read waits for the next turn of the loop. */
	double deadline = now_sec() + ENGINE_IO_BUDGET_S;
	for (int rounds = 0; rounds < 16 && e->from_fd >= 0 && now_sec() < deadline; rounds++) {
		ssize_t r = lr_read(&e->lr, e->from_fd);
		if (r == 0) {
			close_fd(&e->from_fd);
		} else if (r < 0 && errno != EINTR && errno != EAGAIN) {
			lr_eof(&e->lr);
			close_fd(&e->from_fd);
		}
		const char *line;
		size_t len;
		enum lr_status st;
		while ((st = lr_next(&e->lr, &line, &len)) != LR_AGAIN && st != LR_EOF) {
			struct msg m = { 0 };
			struct msg_err err;
			be->last_was_garbage = true;
			if (st == LR_TOO_LONG) {
				msg_err_set(&err, MSG_E_TOO_LONG, "engine sent a line over %zu bytes",
					    (size_t)PROTO_LINE_MAX);
				msg_error_event(&m, &err);
			} else if (!msg_decode(&m, line, len, MSG_EVENT, &err)) {
				msg_error_event(&m, &err);
			} else {
				be->last_was_garbage = false;
			}
			be->garbage = be->last_was_garbage ? be->garbage + 1 : 0;
			fn(ctx, &m);
			msg_free(&m);
		}
		if (r <= 0)
			break;
	}
}

static void read_stderr(struct pipe_engine *e)
{
	for (;;) {
		ssize_t r = lr_read(&e->lr_err, e->err_fd);
		if (r == 0 || (r < 0 && errno != EINTR && errno != EAGAIN)) {
			lr_eof(&e->lr_err);
			close_fd(&e->err_fd);
		}
		const char *line;
		size_t len;
		enum lr_status st;
		while ((st = lr_next(&e->lr_err, &line, &len)) == LR_LINE) {
			if (len == 0)
				continue;
			struct buf b = { 0 };
			sanitize_append(&b, line, len, SAN_INLINE, true);
			free(e->base.last_err);
			e->base.last_err = b.p;	/* whole: the front end wraps it */
		}
		if (r <= 0 || e->err_fd < 0)
			break;
	}
}

static void pipe_io(struct engine *be, const struct pollfd *p, int n, engine_event_fn fn, void *ctx)
{
	struct pipe_engine *e = PE(be);
	for (int i = 0; i < n; i++) {
		if (!p[i].revents)
			continue;
		if (p[i].fd == e->to_fd)
			flush_out(e);
		else if (p[i].fd == e->from_fd)
			read_events(e, fn, ctx);
		else if (p[i].fd == e->err_fd)
			read_stderr(e);
	}
	/* Requests queued since poll() go out now if the pipe has room. */
	if (e->to_fd >= 0 && e->out.len > e->out_off)
		flush_out(e);
}

static bool pipe_eof(const struct engine *be)
{
	const struct pipe_engine *e = (const struct pipe_engine *)be;
	return e->from_fd < 0 && pipe_running(be);
}

static bool pipe_reap(struct engine *be)
{
	struct pipe_engine *e = PE(be);
	int st;

	if (e->pid <= 0 || e->exited)
		return false;
	pid_t r = waitpid(e->pid, &st, WNOHANG);
	if (r != e->pid)
		return false;
	e->exited = true;
	e->status = st;
	/* Whatever it printed before dying is still worth reading. */
	if (e->err_fd >= 0)
		read_stderr(e);
	close_fd(&e->to_fd);
	return true;
}

static void pipe_exit_reason(const struct engine *be, char *out, size_t n)
{
	const struct pipe_engine *e = (const struct pipe_engine *)be;
	if (!e->exited)
		snprintf(out, n, "running");
	else if (WIFEXITED(e->status) && WEXITSTATUS(e->status) == 127)
		snprintf(out, n, "exited with status 127 (command not found?)");
	else if (WIFEXITED(e->status) && WEXITSTATUS(e->status) > 128 &&
		 WEXITSTATUS(e->status) < 128 + NSIG)	/* a shell relaying a signal */
		snprintf(out, n, "exited with status %d (signal %d, %s?)", WEXITSTATUS(e->status),
			 WEXITSTATUS(e->status) - 128, strsignal(WEXITSTATUS(e->status) - 128));
	else if (WIFEXITED(e->status))
		snprintf(out, n, "exited with status %d", WEXITSTATUS(e->status));
	else if (WIFSIGNALED(e->status))
		snprintf(out, n, "was killed by signal %d (%s)", WTERMSIG(e->status),
			 strsignal(WTERMSIG(e->status)));
	else
		snprintf(out, n, "was stopped (status 0x%x)", (unsigned)e->status);
}

static void pipe_stop(struct engine *be)
{
	struct pipe_engine *e = PE(be);
	if (!pipe_running(be))
		return;
	struct msg q = { .type = MSG_QUIT };
	pipe_send(be, &q);
	flush_out(e);
	close_fd(&e->to_fd);
}

static void pipe_terminate(struct engine *be)
{
	struct pipe_engine *e = PE(be);
	if (pipe_running(be))
		kill(e->pid, SIGTERM);
}

static void pipe_kill(struct engine *be)
{
	struct pipe_engine *e = PE(be);
	if (e->pid <= 0 || e->exited) {
		close_all(e);
		return;
	}
	pipe_stop(be);
	/* Give it a moment to exit cleanly, then insist. */
	for (int i = 0; i < 20 && !pipe_reap(be); i++) {
		struct timespec ts = { 0, 10 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	if (!e->exited) {
		kill(-e->pid, SIGTERM);
		kill(e->pid, SIGTERM);
		waitpid(e->pid, &e->status, 0);
		e->exited = true;
	}
	close_all(e);
}

static const struct engine_ops pipe_ops = {
	.start = pipe_start,
	.running = pipe_running,
	.send = pipe_send,
	.pollfds = pipe_pollfds,
	.timeout_ms = pipe_timeout_ms,
	.io = pipe_io,
	.eof = pipe_eof,
	.reap = pipe_reap,
	.exit_reason = pipe_exit_reason,
	.stop = pipe_stop,
	.terminate = pipe_terminate,
	.kill = pipe_kill,
	.free = pipe_free,
};

struct engine *engine_pipe_new(const char *cmd)
{
	struct pipe_engine *e = xcalloc(1, sizeof *e);
	e->base.ops = &pipe_ops;
	e->base.target = xstrdup(cmd);
	e->to_fd = e->from_fd = e->err_fd = -1;
	lr_init(&e->lr, PROTO_LINE_MAX);
	lr_init(&e->lr_err, 4096);
	return &e->base;
}
