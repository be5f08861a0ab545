/* cmd-serve.c - `heft-engine serve`: its command line; the protocol loop
 * is serve.c's. */
#include "commands.h"

#include "options.h"
#include "serve.h"
#include "session.h"
#include "template.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char serve_usage[] =
	"usage: heft-engine serve [MODEL] [-t N] [--ctx N] [--keep N] [-n N] [--chat-template NAME]\n"
	"                         [--stats-interval MS] [--http [HOST:]PORT [HTTP flags]] [loading flags]\n"
	"                         [sampler flags]\n"
	"Reads heft-protocol(5) requests on stdin, writes events on stdout; with --http, serves the\n"
	"OpenAI and ollama APIs over HTTP instead.\n"
	"  -t, --threads N        compute threads (default: one per core)\n"
	"  -n, --n-predict N      most tokens per reply (default -1: no limit; with --http 2048)\n"
	"  -c, --ctx N            context length (default: the model's, at most 4096)\n"
	"  -b, --batch-size N     prompt tokens per forward pass (default: the memory plan's); a\n"
	"                         cancel is seen between two of its layers\n"
	"  --keep N               when the context is full, keep the turns that begin in the first N\n"
	"                         tokens (-1, the default: the system prompt; 0: nothing)\n"
	"  --chat-template NAME   use this template instead of the model's\n"
	"  --stats-interval MS    stats events during a generation (default 250; 0: on request only)\n"
	"HTTP flags:\n"
	"  --http [HOST:]PORT     listen there (HOST defaults to 127.0.0.1; PORT 0: any free port,\n"
	"                         said on stderr)\n"
	"  --api-key KEY          require it (Authorization: Bearer KEY or X-Api-Key: KEY); needed\n"
	"                         for any address that is not loopback\n"
	"  --api-key-file FILE    the same, read from FILE's first line\n"
	"  --queue N              requests waiting at most (default 8; more are answered 429)\n"
	"  --sse-ping SECONDS     ping a silent stream this often (default 10; 0: never)\n"
	"  --max-body BYTES       largest request body (default 8 MiB; larger: 413)\n"
	"  --kv-cache-dir DIR     keep recent conversations' KV states there (default\n"
	"                         $XDG_CACHE_HOME/heft/kv)\n"
	"  --kv-cache-size SIZE   at most this much of them (default 2G; 0: none)\n"
	"  --cors-origin ORIGIN   let a web page from ORIGIN (scheme://host[:port]) call the API; may\n"
	"                         be repeated (default: no CORS headers at all)\n";

enum { O_KEEP = CMD_LONG, O_STATS_INTERVAL, O_TEMPLATE, O_HTTP, O_API_KEY, O_API_KEY_FILE, O_QUEUE, O_SSE_PING,
       O_MAX_BODY, O_KV_CACHE_DIR, O_KV_CACHE_SIZE, O_CORS };

static const struct cmd_opt serve_opts[] = {
	{"help", 'h', no_argument, 'h'},
	{"n-predict", 'n', required_argument, 'n'},
	{"keep", 0, required_argument, O_KEEP},
	{"stats-interval", 0, required_argument, O_STATS_INTERVAL},
	{"chat-template", 0, required_argument, O_TEMPLATE},
	{"http", 0, required_argument, O_HTTP},
	{"api-key", 0, required_argument, O_API_KEY},
	{"api-key-file", 0, required_argument, O_API_KEY_FILE},
	{"queue", 0, required_argument, O_QUEUE},
	{"sse-ping", 0, required_argument, O_SSE_PING},
	{"max-body", 0, required_argument, O_MAX_BODY},
	{"kv-cache-dir", 0, required_argument, O_KV_CACHE_DIR},
	{"kv-cache-size", 0, required_argument, O_KV_CACHE_SIZE},
	{"cors-origin", 0, required_argument, O_CORS},
	{NULL, 0, 0, 0},
};

/* --api-key-file: the key is the file's first line. */
static bool read_key(const char *path, struct serve_opts *o)
{
	static char key[512];
	size_t len;
	char *text = read_file(path, &len, 1 << 16);
	if (!text) {
		warn_errno("serve: --api-key-file %s", path);
		return false;
	}
	size_t n = strcspn(text, "\r\n");
	if (n == 0 || n >= sizeof key) {
		warnx_("serve: --api-key-file %s: the first line must hold the key (1 to %zu bytes)", path,
		       sizeof key - 1);
		free(text);
		return false;
	}
	memcpy(key, text, n);
	key[n] = 0;
	free(text);
	o->api_key = key;
	return true;
}

/* One of serve's own options: 0 to go on, else the exit status (-1: --help). */
static int serve_opt(struct cmd_parser *p, int c, struct serve_opts *o)
{
	int64_t x;
	switch (c) {
	case 'h':
		fputs(serve_usage, stdout);
		fputs(cmd_loading_usage, stdout);
		cmd_sampler_usage(stdout);
		return -1;
	case 'n':
		if (!cmd_num(p, -1, INT32_MAX, &o->base.n_predict))
			return 2;
		o->base.present |= MSG_OPT_BIT(OPT_N_PREDICT);
		return 0;
	case O_KEEP:
		if (!cmd_num(p, -1, INT32_MAX, &x))
			return 2;
		o->n_keep = session_keep_flag((int)x);
		return 0;
	case O_STATS_INTERVAL:
		if (!cmd_num(p, 0, 3600 * 1000, &x))
			return 2;
		o->stats_every = (double)x / 1000;
		return 0;
	case O_TEMPLATE:
		if (template_by_name(p->arg) == TMPL_UNKNOWN) {
			warnx_("serve: unknown chat template '%s' (known: %s)", p->arg, template_names());
			return 2;
		}
		o->tmpl_override = p->arg;
		return 0;
	case O_HTTP: o->http = p->arg; return 0;
	case O_API_KEY: o->api_key = p->arg; return 0;
	case O_API_KEY_FILE: return read_key(p->arg, o) ? 0 : 2;
	case O_QUEUE:
		if (!cmd_num(p, 0, 100000, &x))
			return 2;
		o->queue = (int)x;
		return 0;
	case O_SSE_PING:
		if (!cmd_num(p, 0, 3600, &x))
			return 2;
		o->sse_ping = (double)x;
		return 0;
	case O_MAX_BODY:
		if (!cmd_num(p, 1, INT32_MAX, &x))
			return 2;
		o->max_body = (size_t)x;
		return 0;
	case O_KV_CACHE_DIR: o->kv_cache_dir = p->arg; return 0;
	case O_KV_CACHE_SIZE:
		if (!parse_size(p->arg, &o->kv_cache_size)) {
			warnx_("serve: --kv-cache-size %s: expected a size such as 2G or 0", p->arg);
			return 2;
		}
		return 0;
	case O_CORS:
		if (o->n_cors == (int)ARRAY_LEN(o->cors)) {
			warnx_("serve: --cors-origin: at most %zu origins", ARRAY_LEN(o->cors));
			return 2;
		}
		if (!*p->arg || strchr(p->arg, '*') || strpbrk(p->arg, " \t\r\n,")) {
			warnx_("serve: --cors-origin: \"%s\" is not one origin (scheme://host[:port])", p->arg);
			return 2;
		}
		o->cors[o->n_cors++] = p->arg;
		return 0;
	}
	return 2; /* CMD_BAD, reported */
}

int cmd_serve(int argc, char **argv)
{
	struct serve_opts o = {.sp = sampler_params_default(), .stats_every = 0.25, .queue = 8, .sse_ping = 10,
			       .max_body = (size_t)8 << 20, .kv_cache_size = UINT64_MAX /* default: see below */};
	struct cmd_parser p = {.opts = serve_opts, .usage = serve_usage, .mo = &o.mo, .sp = &o.sp, .groups = CMD_BATCH};
	int c, rc;
	bool bad;
	while ((c = cmd_next(&p, argc, argv)) != CMD_END)
		if ((rc = serve_opt(&p, c, &o)) != 0) {
			cmd_parser_done(&p);
			return rc < 0 ? 0 : rc;
		}
	const char *model = cmd_operand(&p, argc, argv, &bad);
	/* over HTTP, where every request brings its whole conversation, recent
	 * ones are kept on disk; heft's own front end saves its sessions */
	if (o.kv_cache_size == UINT64_MAX)
		o.kv_cache_size = o.http ? (uint64_t)2 << 30 : 0;
	/* over HTTP a reply has an end unless the client asks otherwise */
	if (o.http && !(o.base.present & MSG_OPT_BIT(OPT_N_PREDICT))) {
		o.base.n_predict = 2048;
		o.base.present |= MSG_OPT_BIT(OPT_N_PREDICT);
	}
	return bad ? 2 : serve_run(&o, model);
}
