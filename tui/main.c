/* main.c - heft: the terminal front end of heft-engine. The command line,
 * which engine and model to use, and full screen or plain. */
#include <getopt.h>
#include <limits.h>
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app.h"
#include "demo.h"
#include "engine.h"
#include "plain.h"
#include "sysinfo.h"
#include "util.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: heft [options] [MODEL]\n"
		"  -m, --model MODEL      model to load (same as the MODEL operand); without one\n"
		"                         the last session's model (--resume) or a demo model\n"
		"  --engine CMD           engine command, run with /bin/sh -c (default:\n"
		"                         heft-engine serve, next to heft or in PATH)\n"
		"  --engine URL           a server instead (http:// or https://): llama-server,\n"
		"                         ollama, vLLM, SGLang, exo, heft; -m NAME picks its model\n"
		"                         (default: the first it lists)\n"
		"  --api openai|ollama    the server's API (default: detected)\n"
		"  --api-key KEY          the server's API key (better: HEFT_API_KEY)\n"
		"  --mem SIZE             RAM budget for the engine, e.g. 8G\n"
		"  --ctx N, --threads N   context length, compute threads\n"
		"  --io auto|ram|stream|mmap  how the engine holds the weights\n"
		"  --cache-policy lrfu|layer-lru|lru|lfu|freq  --no-prefetch\n"
		"                         expert cache options; see heft-engine(1)\n"
		"  --chat-template NAME   the prompt format instead of the model's own template\n"
		"  --temp X  --top-k N  --top-p X  --min-p X  --repeat-penalty X\n"
		"  --repeat-last-n N  --seed N  -n, --n-predict N  --stop TEXT (repeatable)\n"
		"                         sampler options, as /set takes them\n"
		"  --system TEXT          system prompt\n"
		"  --resume               reopen the last session and go on with it (on the\n"
		"                         server it was on, unless --engine says otherwise)\n"
		"  --session FILE         record the session in FILE (reopened if it exists)\n"
		"  --plain                line mode: a prompt and plain streamed text\n"
		"  -p, --prompt TEXT      answer TEXT, print the reply and exit\n"
		"  -h, --help             this text\n"
		"  -V, --version          print the version\n"
		"See heft(1).\n");
}

/* 'path' quoted for sh -c. */
static char *sh_quote(const char *s)
{
	struct buf b = { 0 };
	buf_putc(&b, '\'');
	for (; *s; s++)
		*s == '\'' ? buf_puts(&b, "'\\''") : buf_putc(&b, *s);
	buf_putc(&b, '\'');
	return b.p;
}

/* The directory heft runs from, or NULL. */
static char *exe_dir(void)
{
	char path[PATH_MAX];
	if (!sysinfo_exe_path(path, sizeof path))
		return NULL;
	char *slash = strrchr(path, '/');
	if (!slash)
		return NULL;
	*slash = '\0';
	return xstrdup(path);
}

/* The engine executable: $HEFT_ENGINE, else heft-engine next to heft, else
 * "heft-engine" (looked up in PATH). Caller frees. */
static char *engine_bin(const char *dir)
{
	const char *path = getenv("HEFT_ENGINE");
	char *p;

	if (path && *path)
		return xstrdup(path);
	if (dir) {
		xasprintf(&p, "%s/heft-engine", dir);
		if (access(p, X_OK) == 0)
			return p;
		free(p);
	}
	return xstrdup("heft-engine");
}

static char *default_engine(const char *bin)
{
	const char *cmd = getenv("HEFT_ENGINE_CMD");
	char *q, *out;

	if (cmd && *cmd)
		return xstrdup(cmd);
	q = strchr(bin, '/') ? sh_quote(bin) : xstrdup(bin);
	xasprintf(&out, "%s serve", q);
	free(q);
	return out;
}

/* Index of arg in names[1, n) (a load request's choices: 0 is "not
 * given"), or -1 after saying which there are. */
static int choice(const char *opt, const char *arg, const char *const *names, int n)
{
	for (int i = 1; i < n; i++)
		if (names[i] && !strcmp(names[i], arg))
			return i;
	struct buf list = { 0 };
	for (int i = 1; i < n; i++)
		buf_printf(&list, "%s%s", i > 1 ? ", " : "", names[i]);
	warnx_("%s: not one of %s: %s", opt, list.p, arg);
	buf_free(&list);
	return -1;
}

enum {
	O_ENGINE = 256, O_MEM, O_CTX, O_THREADS, O_SYSTEM, O_RESUME, O_SESSION, O_PLAIN,
	O_IO, O_CACHE_POLICY, O_NO_PREFETCH, O_CHAT_TEMPLATE, O_API, O_API_KEY,
	O_SAMPLER = 512, /* + enum msg_opt: the protocol's options, as flags */
};

static const struct option own_longopts[] = {
	{ "model", required_argument, NULL, 'm' },
	{ "engine", required_argument, NULL, O_ENGINE },
	{ "api", required_argument, NULL, O_API },
	{ "api-key", required_argument, NULL, O_API_KEY },
	{ "mem", required_argument, NULL, O_MEM },
	{ "ctx", required_argument, NULL, O_CTX },
	{ "threads", required_argument, NULL, O_THREADS },
	{ "io", required_argument, NULL, O_IO },
	{ "cache-policy", required_argument, NULL, O_CACHE_POLICY },
	{ "no-prefetch", no_argument, NULL, O_NO_PREFETCH },
	{ "chat-template", required_argument, NULL, O_CHAT_TEMPLATE },
	{ "system", required_argument, NULL, O_SYSTEM },
	{ "resume", no_argument, NULL, O_RESUME },
	{ "session", required_argument, NULL, O_SESSION },
	{ "plain", no_argument, NULL, O_PLAIN },
	{ "prompt", required_argument, NULL, 'p' },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
};

/* heft's own options, then each of the protocol's sampler options as a
 * flag ("top_k" is --top-k), as /set takes them (checked by chat_init). */
static const struct option *longopts(void)
{
	static struct option all[ARRAY_LEN(own_longopts) + OPT_COUNT + 1];
	static char names[OPT_COUNT][32];
	size_t n = 0;

	for (size_t i = 0; i < ARRAY_LEN(own_longopts); i++)
		all[n++] = own_longopts[i];
	for (int o = 0; o < OPT_COUNT; o++) {
		snprintf(names[o], sizeof names[o], "%s", msg_option_name((enum msg_opt)o));
		for (char *p = names[o]; *p; p++)
			if (*p == '_')
				*p = '-';
		all[n++] = (struct option){ names[o], required_argument, NULL, O_SAMPLER + o };
	}
	all[n] = (struct option){ 0, 0, 0, 0 };
	return all;
}

/* The protocol's name of a sampler flag's option, NULL for the others. */
static const char *sampler_name(int c)
{
	if (c == 'n')
		return msg_option_name(OPT_N_PREDICT);
	if (c >= O_SAMPLER && c < O_SAMPLER + OPT_COUNT)
		return msg_option_name((enum msg_opt)(c - O_SAMPLER));
	return NULL;
}

static bool int_arg(const char *opt, const char *s, int64_t hi, int64_t *out)
{
	if (parse_i64(s, 0, hi, out))
		return true;
	warnx_("%s: not a whole number from 0 to %lld: %s", opt, (long long)hi, s);
	return false;
}

int main(int argc, char **argv)
{
	struct chat_config cfg = { 0 };
	char *engine = NULL, *demo = NULL;
	int c;

	const struct option *opts = longopts();

	heft_progname = "heft";
	setlocale(LC_ALL, "");
	while ((c = getopt_long(argc, argv, "m:p:n:hV", opts, NULL)) != -1) {
		const char *sn = sampler_name(c);
		if (sn) {
			if (cfg.n_opts == CHAT_MAX_OPTS) {
				warnx_("too many sampler options");
				return 2;
			}
			cfg.opt_name[cfg.n_opts] = sn;
			cfg.opt_value[cfg.n_opts++] = optarg;
			continue;
		}
		switch (c) {
		case 'm': cfg.model = optarg; break;
		case O_ENGINE: cfg.engine_cmd = optarg; break;
		case O_API:
			if (strcmp(optarg, "openai") && strcmp(optarg, "ollama")) {
				warnx_("--api: not one of openai, ollama: %s", optarg);
				return 2;
			}
			cfg.api = optarg;
			break;
		case O_API_KEY: cfg.api_key = optarg; break;
		case O_MEM:
			if (!parse_size(optarg, &cfg.mem)) {
				warnx_("--mem: not a size: %s", optarg);
				return 2;
			}
			break;
		case O_CTX:
			if (!int_arg("--ctx", optarg, INT32_MAX, &cfg.ctx))
				return 2;
			break;
		case O_THREADS:
			if (!int_arg("--threads", optarg, 4096, &cfg.threads))
				return 2;
			break;
		case O_IO: {
			int k = choice("--io", optarg, msg_load_io_names, LOAD_IO_COUNT);
			if (k < 0)
				return 2;
			cfg.io = (enum msg_load_io)k;
			break;
		}
		case O_CACHE_POLICY: {
			int k = choice("--cache-policy", optarg, msg_load_policy_names, LOAD_POLICY_COUNT);
			if (k < 0)
				return 2;
			cfg.cache_policy = (enum msg_load_policy)k;
			break;
		}
		case O_NO_PREFETCH: cfg.no_prefetch = true; break;
		case O_CHAT_TEMPLATE: cfg.chat_template = optarg; break;
		case O_SYSTEM: cfg.system = optarg; break;
		case O_RESUME: cfg.resume = true; break;
		case O_SESSION: cfg.session = optarg; break;
		case O_PLAIN: cfg.plain = true; break;
		case 'p': cfg.prompt = optarg; break;
		case 'h': usage(stdout); return 0;
		case 'V': printf("heft %s\n", PACKAGE_VERSION); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind < argc) {
		if (cfg.model) {
			warnx_("two models given: %s and %s", cfg.model, argv[optind]);
			return 2;
		}
		cfg.model = argv[optind++];
	}
	if (optind < argc) {
		usage(stderr);
		return 2;
	}
	if (cfg.model && !*cfg.model) {
		warnx_("empty model path");
		return 2;
	}
	bool remote = engine_is_url(cfg.engine_cmd);
	/* --resume without --engine may reconnect to the session's server. */
	if (remote || (cfg.resume && !cfg.engine_cmd)) {
		const char *key = getenv("HEFT_API_KEY"), *stall = getenv("HEFT_HTTP_STALL");
		if (!cfg.api_key && key && *key)
			cfg.api_key = key;
		if (stall && *stall)
			cfg.stall_s = atof(stall);
		cfg.ca_file = getenv("HEFT_CA_BUNDLE");
	}
	if (!remote && (cfg.api || cfg.api_key) && !(cfg.resume && !cfg.engine_cmd)) {
		warnx_("--api and --api-key are for a server: --engine http://HOST:PORT");
		return 2;
	}
	char *dir = exe_dir(), *bin = engine_bin(dir), demo_err[256] = "";
	cfg.engine_default = engine = default_engine(bin);
	if (!cfg.model && !cfg.resume && !remote) {
		cfg.demo_model = demo = demo_model(dir, bin, demo_err, sizeof demo_err);
		cfg.demo_error = demo_err;
	}
	free(dir);
	free(bin);
	/* heft -p is for scripts: it records no session unless asked to. */
	cfg.no_session = cfg.prompt && !cfg.session && !cfg.resume;
	const char *term = getenv("TERM");
	if (!isatty(0) || !isatty(1) || !term || !*term || !strcmp(term, "dumb"))
		cfg.plain = true;
	int rc = cfg.plain || cfg.prompt ? plain_run(&cfg) : app_run(&cfg);
	free(engine);
	free(demo);
	return rc;
}
