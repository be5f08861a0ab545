/* demo.c - find or make the demo model (see demo.h). */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "demo.h"
#include "fileio.h"
#include "paths.h"
#include "sysinfo.h"
#include "util.h"

/* A new name for a new recipe: an older demo.gguf (4 MB, held in RAM) is
 * not taken for this one. */
#define DEMO_FILE "demo-stream.gguf"
#define OLD_DEMO_FILE "demo.gguf"

extern char **environ;

/* The shape: 8 layers of 256 small experts (4 per token), 230 MB of
 * weights, against a budget of DEMO_MEM: several times the budget, so the
 * experts stream from disk as a big model's do and every pane has numbers
 * from the first answer. The experts' data is then punched out of the
 * file (a hole reads as zeros): on disk it takes the dense weights' 3 MB. */
static const char *const synth_args[] = {
	"synth", "-q", "--arch", "qwen3moe", "--embd", "256", "--layers", "8", "--heads", "4",
	"--kv-heads", "2", "--ff", "512", "--experts", "256", "--experts-used", "4",
	"--expert-ff", "256", "--ctx", "2048", "--type", "Q4_K", "--name", "heft-demo",
};

/* Run engine_bin with args (NULL-terminated after argv[0]); its standard
 * output into *out when out is not NULL, else to /dev/null. */
static bool run(const char *engine_bin, const char *const *args, struct buf *out, char *err, size_t errlen)
{
	int fd[2] = { -1, -1 }, status;
	pid_t pid;
	posix_spawn_file_actions_t fa;

	if (out && (pipe(fd) < 0 || fcntl(fd[0], F_SETFD, FD_CLOEXEC) < 0 || fcntl(fd[1], F_SETFD, FD_CLOEXEC) < 0)) {
		snprintf(err, errlen, "pipe: %s", strerror(errno));
		if (fd[0] >= 0)
			close(fd[0]), close(fd[1]);
		return false;
	}
	posix_spawn_file_actions_init(&fa);
	if (out)
		posix_spawn_file_actions_adddup2(&fa, fd[1], 1);
	else
		posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	int e = posix_spawnp(&pid, engine_bin, &fa, NULL, (char *const *)args, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (out)
		close(fd[1]);
	if (e) {
		snprintf(err, errlen, "cannot run %s %s: %s", engine_bin, args[1], strerror(e));
		if (out)
			close(fd[0]);
		return false;
	}
	if (out) {
		char b[4096];
		ssize_t n;
		while ((n = read(fd[0], b, sizeof b)) > 0 || (n < 0 && errno == EINTR))
			if (n > 0)
				buf_append(out, b, (size_t)n);
		close(fd[0]);
	}
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return true;
	snprintf(err, errlen, "%s %s could not make the demo model", engine_bin, args[1]);
	return false;
}

/* Punch the routed experts' data out of the model at path: the file keeps
 * its size and layout, the experts read as zeros (their output is zero; the
 * router, random, still spreads tokens over them, which is what the panes
 * show). Where the file system cannot, the file stays whole: only bigger. */
static void punch_experts(const char *engine_bin, const char *path)
{
	const char *args[] = { engine_bin, "inspect", "--tensors", "--json", path, NULL };
	struct buf out = { 0 };
	char err[256];
	json_error_t jerr;
	size_t i;
	json_t *t;

	if (!run(engine_bin, args, &out, err, sizeof err)) {
		buf_free(&out);
		return;
	}
	json_t *o = json_loadb(out.p ? out.p : "", out.len, 0, &jerr);
	int fd = o ? fio_open_write(path, O_RDWR, 0) : -1;
	json_array_foreach(json_object_get(o, "tensors"), i, t) {
		const char *name = json_string_value(json_object_get(t, "name"));
		json_int_t off = json_integer_value(json_object_get(t, "offset"));
		json_int_t len = json_integer_value(json_object_get(t, "bytes"));
		size_t n = name ? strlen(name) : 0;
		if (fd < 0 || n < 12 || strcmp(name + n - 12, "_exps.weight") || off <= 0 || len <= 0)
			continue;
		if (sysinfo_punch_hole(fd, off, len) < 0)
			break;	/* not on this file system: the file stays whole */
	}
	if (fd >= 0)
		close(fd);
	json_decref(o);
	buf_free(&out);
}

static char *existing(char *path)
{
	if (path && access(path, R_OK) == 0)
		return path;
	free(path);
	return NULL;
}

/* Run engine_bin synth ... -o tmp, punch its experts out, move tmp to path. */
static bool generate(const char *engine_bin, const char *path, char *err, size_t errlen)
{
	enum { NA = sizeof synth_args / sizeof *synth_args };
	const char *argv[NA + 4];
	char *tmp;

	/* unpredictable: the synth output refuses to follow a symlink, and
	 * nobody can plant a file at a name not yet drawn */
	if (!(tmp = fio_tmp_name(path))) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return false;
	}
	argv[0] = engine_bin;
	for (int i = 0; i < NA; i++)
		argv[1 + i] = synth_args[i];
	argv[NA + 1] = "-o";
	argv[NA + 2] = tmp;
	argv[NA + 3] = NULL;
	fprintf(stderr, "heft: making the demo model %s ...\n", path);
	double t0 = now_sec();
	bool ok = run(engine_bin, argv, NULL, err, errlen);
	if (ok)
		punch_experts(engine_bin, tmp);
	if (ok && rename(tmp, path) < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		ok = false;
	}
	if (!ok)
		unlink(tmp);
	else if (getenv("HEFT_DEMO_TIMING"))	/* for heft(1)'s figure */
		fprintf(stderr, "heft: the demo model took %.2f s to make\n", now_sec() - t0);
	free(tmp);
	return ok;
}

char *demo_model(const char *exe_dir, const char *engine_bin, char *err, size_t errlen)
{
	const char *env = getenv("HEFT_DEMO_MODEL");
	char *p = NULL;

	if (env) {
		if (!*env)
			snprintf(err, errlen, "HEFT_DEMO_MODEL is empty");
		return *env ? xstrdup(env) : NULL;
	}
#ifdef PKGDATADIR
	xasprintf(&p, "%s/%s", PKGDATADIR, DEMO_FILE);
	if ((p = existing(p)))
		return p;
#endif
	if (exe_dir) {
		xasprintf(&p, "%s/%s", exe_dir, DEMO_FILE);	/* a build tree */
		if ((p = existing(p)))
			return p;
		xasprintf(&p, "%s/../share/heft/%s", exe_dir, DEMO_FILE);
		if ((p = existing(p)))
			return p;
	}
	char *dir = heft_cache_dir();
	if (!dir) {
		snprintf(err, errlen, "no demo model, and nowhere to make one (HOME is not set)");
		return NULL;
	}
	xasprintf(&p, "%s/%s", dir, DEMO_FILE);
	if (access(p, R_OK) != 0) {
		if (!(mkdir_p(dir, 0700) == 0 && generate(engine_bin, p, err, errlen))) {
			if (!err[0])
				snprintf(err, errlen, "cannot create %s: %s", dir, strerror(errno));
			free(p);
			p = NULL;
		} else {
			char *old;
			xasprintf(&old, "%s/%s", dir, OLD_DEMO_FILE);	/* replaced */
			unlink(old);
			free(old);
		}
	}
	free(dir);
	return p;
}
