/* demo.c - find or make the demo model (see demo.h). */
#include <errno.h>
#include <fcntl.h>
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
#include "util.h"

#define DEMO_FILE "demo.gguf"

extern char **environ;

/* The shape: small enough to make in a blink and to run anywhere, big
 * enough that every pane has something to show (8 experts, 2 per token,
 * 4 layers). The same recipe as the demo.gguf the build makes. */
static const char *const synth_args[] = {
	"synth", "-q", "--arch", "qwen3moe", "--embd", "256", "--layers", "4", "--heads", "4",
	"--kv-heads", "2", "--ff", "512", "--experts", "8", "--experts-used", "2",
	"--expert-ff", "256", "--ctx", "2048", "--type", "Q4_K", "--name", "heft-demo",
};

static char *existing(char *path)
{
	if (path && access(path, R_OK) == 0)
		return path;
	free(path);
	return NULL;
}

/* Run engine_bin synth ... -o tmp, then move tmp to path. */
static bool generate(const char *engine_bin, const char *path, char *err, size_t errlen)
{
	enum { NA = sizeof synth_args / sizeof *synth_args };
	char *tmp;
	const char *argv[NA + 4];
	int status;
	pid_t pid;

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
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	int e = posix_spawnp(&pid, engine_bin, &fa, NULL, (char *const *)argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (e) {
		snprintf(err, errlen, "cannot run %s synth: %s", engine_bin, strerror(e));
		free(tmp);
		return false;
	}
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	bool ok = WIFEXITED(status) && WEXITSTATUS(status) == 0 && rename(tmp, path) == 0;
	if (!ok) {
		snprintf(err, errlen, "%s synth could not make the demo model", engine_bin);
		unlink(tmp);
	}
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
	if (access(p, R_OK) != 0 && !(mkdir_p(dir, 0700) == 0 && generate(engine_bin, p, err, errlen))) {
		if (!err[0])
			snprintf(err, errlen, "cannot create %s: %s", dir, strerror(errno));
		free(p);
		p = NULL;
	}
	free(dir);
	return p;
}
