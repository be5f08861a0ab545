/* cmd-synth.c - `heft-engine synth`: its command line. The settings and
 * the writer are synth.c's; each setting is a long option of the same
 * name. */
#include "commands.h"

#include "arch.h"
#include "options.h"
#include "quant.h"
#include "synth-blocks.h"
#include "synth.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f)
{
	char archs[192];
	fprintf(f,
		"usage: heft-engine synth [--like deepseek-v3|kimi-k2|glm-4.6|gpt-oss-120b|qwen3-235b]\n"
		"         [--arch %s]\n"
		"         [--embd N] [--layers N] [--heads N] [--kv-heads N] [--head-dim N] [--rope-dim N]\n"
		"         [--ff N] [--experts N] [--experts-used N] [--expert-ff N] [--vocab N] [--ctx N]\n"
		"         [--dense-lead N] [--shared-experts N] [--expert-groups G --group-used K]\n"
		"         [--expert-scale F] [--gating softmax|sigmoid] [--qk-norm] [--nextn N]\n"
		"         [--q-lora-rank N] [--kv-lora-rank N] [--v-head-dim N] [--swa N]\n"
		"         [--rope-base F] [--rope-scaling none|linear|yarn] [--rope-factor F]\n"
		"         [--rope-orig-ctx N] [--yarn-log-mul F] [--rms-eps F]\n"
		"         [--type T] [--preset UD-IQ1_S|UD-IQ1_M|UD-IQ2_XXS|MXFP4_MOE|Q4_K_M]\n"
		"         [--type-embd T] [--type-output T] [--type-attn T] [--type-dense T]\n"
		"         [--type-shexp T] [--type-experts T] [--type-experts-down T]\n"
		"         [--seed S] [--name NAME] [--vocab-from FILE.gguf] [--split N] [--dry-run] [--sparse] [-q]\n"
		"         -o FILE.gguf\n",
		arch_names(archs, sizeof archs, 0, "|"));
	/* the types synth writes, from the type table, wrapped at 80 columns */
	int col = fprintf(f, "types:");
	for (uint32_t id = 0; id < GGML_TYPE_COUNT; id++) {
		if (!synth_type_ok(id))
			continue;
		const char *name = qtype_get(id)->name;
		if (col + 1 + (int)strlen(name) > 80)
			col = fprintf(f, "\n      ");
		col += fprintf(f, " %s", name);
	}
	fputc('\n', f);
}

/* -o, -q, -h, then every setting of synth.c's as a long option whose id
 * is CMD_LONG + its index. */
static struct cmd_opt *synth_opts(void)
{
	static const struct cmd_opt own[] = {
		{"output", 'o', required_argument, 'o'},
		{"quiet", 'q', no_argument, 'q'},
		{"help", 'h', no_argument, 'h'},
	};
	size_t n = synth_n_options(), k = 0;
	struct cmd_opt *o = xcalloc(ARRAY_LEN(own) + n + 1, sizeof *o);
	for (size_t i = 0; i < ARRAY_LEN(own); i++)
		o[k++] = own[i];
	for (size_t i = 0; i < n; i++) {
		bool has_arg;
		const char *name = synth_option(i, &has_arg);
		o[k++] = (struct cmd_opt){name, 0, has_arg ? required_argument : no_argument, CMD_LONG + (int)i};
	}
	return o;
}

int cmd_synth(int argc, char **argv)
{
	struct cmd_opt *opts = synth_opts();
	struct synth *s = synth_new();
	struct cmd_parser p = {.opts = opts};
	const char *out = NULL;
	bool quiet = false;
	int c, rc = -1;
	while (rc < 0 && (c = cmd_next(&p, argc, argv)) != CMD_END) {
		if (c == 'o')
			out = p.arg;
		else if (c == 'q')
			quiet = true;
		else if (c == 'h')
			usage(stdout), rc = 0;
		else if (c >= CMD_LONG)
			rc = synth_set(s, (size_t)(c - CMD_LONG), p.arg) ? -1 : 2;
		else
			usage(stderr), rc = 2; /* CMD_BAD, reported */
	}
	cmd_parser_done(&p);
	if (rc < 0 && optind < argc) {
		warnx_("synth: unexpected argument '%s'", argv[optind]);
		usage(stderr);
		rc = 2;
	}
	if (rc < 0)
		rc = synth_run(s, out, quiet);
	synth_free(s);
	free(opts);
	return rc;
}
