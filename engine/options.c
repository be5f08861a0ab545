/* options.c - the subcommands' option parser and the options they share,
 * each defined once: the loading flags and the sampler flags (the latter
 * named and bounded by the protocol's option table, so that --top-k and
 * {"top_k": ...} are one fact). */
#include "options.h"

#include "kv.h"
#include "protocol.h"
#include "util.h"
#include "weights.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the shared options ----------------------------------------------------------- */

enum shared_id {
	/* loading */
	SH_MEM = 0x1000, SH_IO, SH_POLICY, SH_NO_PREFETCH, SH_NO_WARM, SH_STREAM_LAYERS, SH_CACHE_K, SH_CACHE_V, SH_TRACE,
	SH_CTX, SH_THREADS,
	SH_BATCH,
	/* sampler: SH_SAMPLER + the row in sampler_flags */
	SH_SAMPLER = 0x2000,
};

static const struct cmd_opt loading_opts[] = {
	{"mem", 0, required_argument, SH_MEM},
	{"io", 0, required_argument, SH_IO},
	{"cache-policy", 0, required_argument, SH_POLICY},
	{"no-prefetch", 0, no_argument, SH_NO_PREFETCH},
	{"no-warm", 0, no_argument, SH_NO_WARM},
	{"stream-layers", 0, required_argument, SH_STREAM_LAYERS},
	{"cache-type-k", 0, required_argument, SH_CACHE_K},
	{"cache-type-v", 0, required_argument, SH_CACHE_V},
	{"trace-routing", 0, required_argument, SH_TRACE},
	{"ctx", 'c', required_argument, SH_CTX},
	{"threads", 't', required_argument, SH_THREADS},
	{NULL, 0, 0, 0},
};

static const struct cmd_opt batch_opts[] = {
	{"batch-size", 'b', required_argument, SH_BATCH},
	{NULL, 0, 0, 0},
};

const char cmd_loading_usage[] =
	"  --mem SIZE|min         memory budget (e.g. 6G; default: 75% of what is available;\n"
	"                         min: the smallest that streams prompt chunks of -b, 512)\n"
	"  --io auto|ram|stream|mmap\n"
	"                         how weights are held (default auto: ram if the model fits)\n"
	"  --cache-policy lrfu|layer-lru|lru|lfu|freq\n"
	"                         expert-cache replacement (default lrfu)\n"
	"  --no-prefetch          do not read the next layer's experts ahead\n"
	"  --no-warm              do not fill the expert cache with the last run's hot experts\n"
	"  --stream-layers N      with --io stream: read at least the last N layers' dense\n"
	"                         weights per token too (for benchmarks; default: as the budget needs)\n"
	"  --cache-type-k f16|q8_0, --cache-type-v f16|q8_0\n"
	"                         KV cache element types (default f16; q8_0: 0.53x the memory)\n"
	"  --trace-routing FILE   write the experts each token chooses per layer there\n"
	"                         (rtrace.h; replayed by heft-engine cachesim)\n";

/* Index of v in names[n] (the option's values in the order of their
 * enum), or -1 after saying which values there are. */
static int name_choice(const char *opt, const char *const *names, int n, const char *v)
{
	for (int k = 0; k < n; k++)
		if (!strcmp(v, names[k]))
			return k;
	struct buf list = {0};
	for (int k = 0; k < n; k++)
		buf_printf(&list, "%s%s", k ? ", " : "", names[k]);
	warnx_("%s: '%s' is not one of %s", opt, v, list.p);
	buf_free(&list);
	return -1;
}

/* --io and --cache-policy. */
static bool loading_choice(struct model_opts *o, bool io, const char *v)
{
	int k = io ? name_choice("--io", weights_io_names, WIO_COUNT, v)
		   : name_choice("--cache-policy", cache_policy_names, CACHE_NPOLICIES, v);
	if (k < 0)
		return false;
	if (io)
		o->io = (enum weights_io)k;
	else
		o->policy = (enum cache_policy)k;
	return true;
}

static bool loading_mem(struct model_opts *o, const char *v)
{
	uint64_t b;
	if (!strcmp(v, "min")) {
		o->mem = MODEL_MEM_MIN;
		return true;
	}
	if (!parse_size(v, &b) || b == 0) {
		warnx_("--mem: '%s' is not a size (e.g. 512M, 6G)", v);
		return false;
	}
	o->mem = b;
	return true;
}

/* Store a loading flag (id) with value v in o; false after reporting. */
static bool loading_flag(struct cmd_parser *p, int id, const char *v)
{
	struct model_opts *o = p->mo;
	uint32_t t;
	int64_t n;
	switch (id) {
	case SH_MEM: return loading_mem(o, v);
	case SH_IO: return loading_choice(o, true, v);
	case SH_POLICY: return loading_choice(o, false, v);
	case SH_NO_PREFETCH: o->no_prefetch = true; return true;
	case SH_NO_WARM: o->no_warm = true; return true;
	case SH_TRACE: o->trace_routing = v; return true;
	case SH_STREAM_LAYERS:
		if (!parse_i64(v, 0, 1 << 20, &n)) {
			warnx_("--stream-layers: '%s' is not a number of layers", v);
			return false;
		}
		o->stream_layers = (int)n;
		return true;
	case SH_CACHE_K:
	case SH_CACHE_V:
		if (kv_type_parse(v, &t) < 0) {
			warnx_("%s: '%s' is not one of f16, q8_0", p->flag, v);
			return false;
		}
		*(id == SH_CACHE_K ? &o->cache_type_k : &o->cache_type_v) = t;
		return true;
	case SH_CTX: return cmd_int(p, 1, INT32_MAX, &o->n_ctx);
	case SH_THREADS: return cmd_int(p, 1, 1024, &o->threads);
	case SH_BATCH: return cmd_int(p, 1, INT32_MAX, &o->max_batch);
	}
	return false;
}

/* The sampler flags. Those the protocol has take its name ("top_k" is
 * --top-k), kind and range, except that the command line also takes -1
 * where the sampler gives it a meaning (repeat_last_n: the whole history;
 * seed: from the clock, and any int64). The penalties are command line only. */
enum { SAMPLER_SEED = 8 };

static const struct sampler_flag {
	int proto;          /* enum msg_opt, or -1 */
	const char *name;   /* without a protocol row */
	bool is_int;        /* without a protocol row */
	double lo, hi;      /* without a protocol row, or lo < the protocol's */
	size_t off;
} sampler_flags[] = {
	{OPT_TEMP, NULL, 0, 0, 0, offsetof(struct sampler_params, temp)},
	{OPT_TOP_K, NULL, 0, 0, 0, offsetof(struct sampler_params, top_k)},
	{OPT_TOP_P, NULL, 0, 0, 0, offsetof(struct sampler_params, top_p)},
	{OPT_MIN_P, NULL, 0, 0, 0, offsetof(struct sampler_params, min_p)},
	{OPT_REPEAT_PENALTY, NULL, 0, 0, 0, offsetof(struct sampler_params, repeat_penalty)},
	{OPT_REPEAT_LAST_N, NULL, 0, -1, 0, offsetof(struct sampler_params, repeat_last_n)},
	{-1, "presence_penalty", false, -100, 100, offsetof(struct sampler_params, presence_penalty)},
	{-1, "frequency_penalty", false, -100, 100, offsetof(struct sampler_params, frequency_penalty)},
	[SAMPLER_SEED] = {-1, "seed", true, -1, (double)INT64_MAX, offsetof(struct sampler_params, seed)},
};

/* A row's name, kind and range, from the protocol where it has one. */
static void sampler_flag_desc(const struct sampler_flag *f, const char **name, bool *is_int, double *lo,
			      double *hi)
{
	*name = f->name, *is_int = f->is_int, *lo = f->lo, *hi = f->hi;
	if (f->proto >= 0) {
		double plo;
		*name = msg_option_name((enum msg_opt)f->proto);
		msg_option_range((enum msg_opt)f->proto, is_int, &plo, hi);
		*lo = MIN(f->lo, plo);
	}
}

static bool sampler_flag(struct cmd_parser *p, const struct sampler_flag *f, const char *v)
{
	const char *name;
	bool is_int;
	double lo, hi, d;
	int64_t n;
	sampler_flag_desc(f, &name, &is_int, &lo, &hi);
	char *field = (char *)p->sp + f->off;
	if (f->off == offsetof(struct sampler_params, seed)) { /* int64: no detour through a double */
		if (!parse_i64(v, -1, INT64_MAX, &n)) {
			warnx_("%s: --seed needs a number (-1: random)", p->cmd);
			return false;
		}
		p->sp->seed = n;
		return true;
	}
	if (!parse_f64(v, &d) || !(d >= lo && d <= hi) || (is_int && d != (double)(int64_t)d)) {
		warnx_("%s: %s needs a%s number in %.10g..%.10g", p->cmd, p->flag, is_int ? "n integer" : "", lo, hi);
		return false;
	}
	if (is_int)
		*(int *)field = (int)d;
	else
		*(float *)field = (float)d;
	return true;
}

void cmd_sampler_usage(FILE *f)
{
	fputs("sampler flags (heft-engine(1) says what they do):\n", f);
	int col = 0;
	for (size_t k = 0; k < ARRAY_LEN(sampler_flags); k++) {
		const char *name;
		bool is_int;
		double lo, hi;
		char item[80], *c;
		sampler_flag_desc(&sampler_flags[k], &name, &is_int, &lo, &hi);
		if (k == SAMPLER_SEED)
			snprintf(item, sizeof item, "-s, --seed N (-1: random)");
		else
			snprintf(item, sizeof item, "--%s %.10g..%.10g", name, lo, hi);
		for (c = item; (c = strchr(c, '_')); c++)
			*c = '-';
		if (col && col + 2 + (int)strlen(item) > 100) {
			fputc('\n', f);
			col = 0;
		}
		col += fprintf(f, "%s%s", col ? ", " : "  ", item);
	}
	fputc('\n', f);
}

/* ---- building getopt's tables ------------------------------------------------------- */

static size_t count_opts(const struct cmd_opt *o)
{
	size_t n = 0;
	while (o && o[n].name)
		n++;
	return n;
}

/* Add o's options; a short letter already taken (by the command's own
 * options, which come first) stays long-only. */
static void add_opts(struct cmd_parser *p, size_t *nl, const struct cmd_opt *o)
{
	for (; o && o->name; o++) {
		p->longopts[(*nl)++] = (struct option){o->name, o->has_arg, NULL, o->id};
		if (o->short_name && !strchr(p->shorts, o->short_name)) {
			size_t l = strlen(p->shorts);
			p->shorts[l++] = (char)o->short_name;
			if (o->has_arg == required_argument)
				p->shorts[l++] = ':';
			p->shorts[l] = 0;
		}
	}
}

/* The command's own option with short letter c, or NULL. */
static const struct cmd_opt *own_short_opt(const struct cmd_parser *p, int c)
{
	for (const struct cmd_opt *o = p->opts; o && o->name; o++)
		if (o->short_name == c)
			return o;
	return NULL;
}

/* The id of the option with short letter c: the command's own first. */
static int short_id(const struct cmd_parser *p, int c)
{
	const struct cmd_opt *own = own_short_opt(p, c);
	if (own)
		return own->id;
	const struct cmd_opt *groups[] = {p->mo ? loading_opts : NULL, p->groups & CMD_BATCH ? batch_opts : NULL};
	for (size_t g = 0; g < ARRAY_LEN(groups); g++)
		for (const struct cmd_opt *o = groups[g]; o && o->name; o++)
			if (o->short_name == c)
				return o->id;
	return c == 's' && p->sp ? SH_SAMPLER + SAMPLER_SEED : c;
}

static void build(struct cmd_parser *p, char *argv0)
{
	size_t n = count_opts(p->opts) + count_opts(loading_opts) + count_opts(batch_opts) +
		   ARRAY_LEN(sampler_flags) + 2;
	p->longopts = xcalloc(n, sizeof *p->longopts);
	p->shorts = xcalloc(3 * n + 2, 1);
	p->shorts[0] = ':'; /* a missing value is ':', not '?' */
	p->cmd = argv0;
	size_t nl = 0;
	add_opts(p, &nl, p->opts);
	if (p->mo)
		add_opts(p, &nl, loading_opts);
	if (p->groups & CMD_BATCH)
		add_opts(p, &nl, batch_opts);
	if (p->sp) {
		for (size_t k = 0; k < ARRAY_LEN(sampler_flags); k++) {
			const char *name;
			bool is_int;
			double lo, hi;
			sampler_flag_desc(&sampler_flags[k], &name, &is_int, &lo, &hi);
			char *dashed = xstrdup(name); /* the protocol's top_k is --top-k */
			for (char *c = dashed; *c; c++)
				if (*c == '_')
					*c = '-';
			p->longopts[nl++] = (struct option){dashed, required_argument, NULL, SH_SAMPLER + (int)k};
		}
		if (!strchr(p->shorts, 's'))
			strcat(p->shorts, "s:"); /* -s is --seed */
	}
	p->n_longopts = nl;
}

void cmd_parser_done(struct cmd_parser *p)
{
	if (!p->longopts)
		return;
	for (size_t i = 0; i < p->n_longopts; i++)
		if (p->longopts[i].val >= SH_SAMPLER)
			free((char *)p->longopts[i].name);
	free(p->longopts);
	free(p->shorts);
	p->longopts = NULL;
	p->shorts = NULL;
}

/* ---- parsing ------------------------------------------------------------------------ */

/* The spelling of the option getopt just returned, for messages. */
static void name_flag(struct cmd_parser *p, int c, int li)
{
	if (li >= 0)
		snprintf(p->flag, sizeof p->flag, "--%s", p->longopts[li].name);
	else
		snprintf(p->flag, sizeof p->flag, "-%c", c);
}

static int bad_option(struct cmd_parser *p, int argc, char **argv)
{
	const char *a = optind > 1 && optind - 1 < argc ? argv[optind - 1] : "?";
	warnx_("%s: unknown option or missing value '%s'", p->cmd, a);
	if (p->usage)
		fputs(p->usage, stderr);
	cmd_parser_done(p);
	return CMD_BAD;
}

int cmd_next(struct cmd_parser *p, int argc, char **argv)
{
	if (!p->longopts) {
		build(p, argv[0]);
		optind = 0; /* glibc: start over, permuting (MODEL may come anywhere) */
		opterr = 0;
	}
	for (;;) {
		int li = -1;
		int c = getopt_long(argc, argv, p->shorts, p->longopts, &li);
		if (c == -1)
			return CMD_END;
		if (c == '?' || c == ':')
			return bad_option(p, argc, argv);
		name_flag(p, c, li);
		p->arg = optarg;
		int id = li < 0 ? short_id(p, c) : c;
		if (id < SH_MEM)
			return id;
		bool ok = id >= SH_SAMPLER ? sampler_flag(p, &sampler_flags[id - SH_SAMPLER], optarg)
					   : loading_flag(p, id, optarg);
		if (!ok) {
			cmd_parser_done(p);
			return CMD_BAD;
		}
		p->n_shared++;
	}
}

bool cmd_num(struct cmd_parser *p, int64_t lo, int64_t hi, int64_t *out)
{
	if (p->arg && parse_i64(p->arg, lo, hi, out))
		return true;
	warnx_("%s: %s needs a number in %lld..%lld", p->cmd, p->flag, (long long)lo, (long long)hi);
	return false;
}

bool cmd_int(struct cmd_parser *p, int lo, int hi, int *out)
{
	int64_t v;
	if (!cmd_num(p, lo, hi, &v))
		return false;
	*out = (int)v;
	return true;
}

const char *cmd_operand(struct cmd_parser *p, int argc, char **argv, bool *bad)
{
	cmd_parser_done(p);
	*bad = false;
	if (optind >= argc)
		return NULL;
	if (optind + 1 < argc) {
		warnx_("%s: unexpected argument '%s'", p->cmd, argv[optind + 1]);
		if (p->usage)
			fputs(p->usage, stderr);
		*bad = true;
		return NULL;
	}
	return argv[optind];
}
