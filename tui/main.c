/* main.c - heft: the terminal front end of heft-engine. */
#include <getopt.h>
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app.h"
#include "util.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: heft [options] [MODEL]\n"
		"  -m, --model MODEL   model file to load (same as the MODEL operand)\n"
		"  --engine CMD        engine command, run with /bin/sh -c\n"
		"                      (default: \"$HEFT_ENGINE serve\" or \"heft-engine serve\")\n"
		"  --mem SIZE          RAM budget for the engine, e.g. 8G\n"
		"  --plain, -p PROMPT  not implemented yet\n"
		"  -h, --help          this text\n"
		"  -V, --version       print the version\n"
		"See heft(1).\n");
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "model", required_argument, NULL, 'm' },
		{ "engine", required_argument, NULL, 'E' },
		{ "mem", required_argument, NULL, 'M' },
		{ "plain", no_argument, NULL, 'P' },
		{ "prompt", required_argument, NULL, 'p' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ 0, 0, 0, 0 },
	};
	struct app_config cfg = { 0 };
	char *engine_default = NULL;
	int c;

	heft_progname = "heft";
	setlocale(LC_ALL, "");
	while ((c = getopt_long(argc, argv, "m:p:hV", longopts, NULL)) != -1) {
		switch (c) {
		case 'm': cfg.model = optarg; break;
		case 'E': cfg.engine_cmd = optarg; break;
		case 'M':
			if (!parse_size(optarg, &cfg.mem)) {
				warnx_("--mem: not a size: %s", optarg);
				return 2;
			}
			break;
		case 'P':
		case 'p':
			warnx_("--plain and -p are not implemented yet");
			return 2;
		case 'h': usage(stdout); return 0;
		case 'V': printf("heft %s\n", PACKAGE_VERSION); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind < argc)
		cfg.model = argv[optind++];
	if (optind < argc) {
		usage(stderr);
		return 2;
	}
	if (cfg.model && !*cfg.model) {
		warnx_("empty model path");
		return 2;
	}
	const char *term = getenv("TERM");
	if (!isatty(0) || !isatty(1) || !term || !strcmp(term, "dumb")) {
		warnx_("not a capable terminal (TERM=%s); the --plain mode is not implemented yet",
		       term ? term : "");
		return 1;
	}
	if (!cfg.engine_cmd) {
		const char *e = getenv("HEFT_ENGINE");
		if (e && *e) {
			/* quote the path for sh -c */
			struct buf b = { 0 };
			buf_putc(&b, '\'');
			for (; *e; e++)
				*e == '\'' ? buf_puts(&b, "'\\''") : buf_putc(&b, *e);
			buf_puts(&b, "' serve");
			engine_default = b.p;
			cfg.engine_cmd = engine_default;
		} else {
			cfg.engine_cmd = "heft-engine serve";
		}
	}
	int rc = app_run(&cfg);
	free(engine_default);
	return rc;
}
