/* commands.c - slash commands (see commands.h): one table of them, from which
 * the help and the completion are made. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "commands.h"

/* What follows the command's name: the completion offers files for ARG_FILE
 * and option names for ARG_OPTION. */
enum arg { ARG_NONE, ARG_TEXT, ARG_FILE, ARG_OPTION };

struct cmd {
	const char *names[4];	/* its name, then aliases; NULL-terminated */
	enum arg arg;
	const char *args;	/* shown after the name in help and usage */
	bool needs_arg;		/* without one: a usage note */
	/* NULL: a command of the full-screen UI, which the app runs. */
	enum cmd_result (*run)(struct chat *c, char *args, bool fullscreen);
	const char *help;
};

static enum cmd_result run_help(struct chat *, char *, bool);
static enum cmd_result run_quit(struct chat *, char *, bool);
static enum cmd_result run_clear(struct chat *, char *, bool);
static enum cmd_result run_system(struct chat *, char *, bool);
static enum cmd_result run_set(struct chat *, char *, bool);
static enum cmd_result run_show(struct chat *, char *, bool);
static enum cmd_result run_stats(struct chat *, char *, bool);
static enum cmd_result run_save(struct chat *, char *, bool);
static enum cmd_result run_load(struct chat *, char *, bool);
static enum cmd_result run_model(struct chat *, char *, bool);
static enum cmd_result run_regen(struct chat *, char *, bool);
static enum cmd_result run_restart(struct chat *, char *, bool);

static const struct cmd cmds[] = {
	{ { "help", "?" }, ARG_NONE, "", false, run_help, "this text" },
	{ { "quit", "exit", "bye" }, ARG_NONE, "", false, run_quit, "leave heft" },
	{ { "clear" }, ARG_NONE, "", false, run_clear, "forget the conversation" },
	{ { "system" }, ARG_TEXT, "[TEXT|-]", false, run_system, "show, set, remove it" },
	{ { "set" }, ARG_OPTION, "NAME VALUE", false, run_set, "an option (names below)" },
	{ { "show" }, ARG_NONE, "", false, run_show, "the model and options" },
	{ { "stats" }, ARG_NONE, "", false, run_stats, "the engine's counters" },
	{ { "save" }, ARG_FILE, "FILE", true, run_save, "save the conversation" },
	{ { "load" }, ARG_FILE, "FILE", true, run_load, "load a conversation" },
	{ { "model" }, ARG_FILE, "[PATH|NAME]", false, run_model, "load another model" },
	{ { "regen" }, ARG_NONE, "", false, run_regen, "answer the last message again" },
	{ { "restart" }, ARG_NONE, "", false, run_restart, "restart the engine" },
	{ { "edit" }, ARG_NONE, "", false, NULL, "edit your last message" },
	{ { "search" }, ARG_TEXT, "TEXT", false, NULL, "search the conversation" },
};

/* Lines short enough for the conversation pane of an 80-column screen. */
static const char help_keys[] =
	"Keys\n"
	"  Enter send   Alt-Enter new line\n"
	"  Ctrl-C stop the reply (or clear the line)\n"
	"  PgUp PgDn scroll   F6 focus the conversation\n"
	"  F5 or Ctrl-R search, then n N next, previous\n"
	"  Alt-e or F7 edit your last message:\n"
	"    Up Down pick another, Enter regenerates\n"
	"  F2 F3 F4 show or hide tokens, experts, I/O\n"
	"  F8 restart the engine   F10 quit   F1 help\n"
	"  Tab complete a command   Ctrl-L redraw\n"
	"  line editing: libedit keys, ~/.editrc\n"
	"In the conversation (F6)\n"
	"  Up Down pick a message   e edit it\n"
	"  / search   n N matches   Home End\n"
	"  t show or fold the replies' thinking\n"
	"  < > side panes wider, narrower\n"
	"  Esc or i back to typing\n";

#define HELP_WIDTH 46

/* "/name /alias ARGS", as help and usage notes show a command. */
static void put_synopsis(struct buf *b, const struct cmd *cmd)
{
	for (size_t i = 0; i < ARRAY_LEN(cmd->names) && cmd->names[i]; i++)
		buf_printf(b, "%s/%s", i ? " " : "", cmd->names[i]);
	if (*cmd->args)
		buf_printf(b, " %s", cmd->args);
}

/* The names /set takes, wrapped at HELP_WIDTH after indent. */
static void put_option_names(struct buf *b, const char *indent)
{
	size_t col = strlen(indent);

	buf_puts(b, indent);
	for (int i = 0; i < OPT_COUNT; i++) {
		const char *name = msg_option_name((enum msg_opt)i);
		if (i && col + 1 + strlen(name) > HELP_WIDTH) {
			buf_printf(b, "\n%s", indent);
			col = strlen(indent);
		} else if (i) {
			buf_putc(b, ' ');
			col++;
		}
		buf_puts(b, name);
		col += strlen(name);
	}
	buf_putc(b, '\n');
}

const char *command_help(bool fullscreen)
{
	static struct buf text;

	buf_clear(&text);
	if (fullscreen)
		buf_puts(&text, help_keys);
	buf_puts(&text, "Commands\n");
	for (size_t i = 0; i < ARRAY_LEN(cmds); i++) {
		const struct cmd *cmd = &cmds[i];
		if (!cmd->run && !fullscreen)
			continue;
		struct buf syn = { 0 };
		put_synopsis(&syn, cmd);
		buf_printf(&text, "  %-18s %s\n", syn.p, cmd->help);
		buf_free(&syn);
		if (cmd->arg == ARG_OPTION)
			put_option_names(&text, "    ");
	}
	buf_puts(&text, "  \"\"\" starts and ends a multi-line message\n"
			"  // sends a line that starts with /");
	return text.p;
}

static bool has_name(const struct cmd *cmd, const char *name)
{
	for (size_t i = 0; i < ARRAY_LEN(cmd->names) && cmd->names[i]; i++)
		if (!strcmp(cmd->names[i], name))
			return true;
	return false;
}

static const struct cmd *lookup(const char *name)
{
	for (size_t i = 0; i < ARRAY_LEN(cmds); i++)
		if (has_name(&cmds[i], name))
			return &cmds[i];
	return NULL;
}

static void note(struct chat *c, const char *text)
{
	c->h->note(c->ctx, text);
}

static enum cmd_result run_help(struct chat *c, char *args, bool fullscreen)
{
	(void)args;
	note(c, command_help(fullscreen));
	return CMD_OK;
}

static enum cmd_result run_quit(struct chat *c, char *args, bool fullscreen)
{
	(void)c, (void)args, (void)fullscreen;
	return CMD_QUIT;
}

static enum cmd_result run_clear(struct chat *c, char *args, bool fullscreen)
{
	(void)args, (void)fullscreen;
	chat_clear(c);
	return CMD_OK;
}

static enum cmd_result run_system(struct chat *c, char *args, bool fullscreen)
{
	(void)fullscreen;
	if (!*args) {
		const char *s = chat_system_prompt(c);
		char *t;
		xasprintf(&t, "system prompt: %s", s ? s : "(none; /system TEXT sets one)");
		note(c, t);
		free(t);
	} else {
		chat_system(c, strcmp(args, "-") ? args : "");
	}
	return CMD_OK;
}

static void put_options(struct buf *b, const struct msg_options *o)
{
	for (int i = 0; i < OPT_COUNT; i++) {
		if (!(o->present & MSG_OPT_BIT(i)))
			continue;
		buf_printf(b, " %s=", msg_option_name((enum msg_opt)i));
		switch (i) {
		case OPT_TEMP: buf_printf(b, "%g", o->temp); break;
		case OPT_TOP_K: buf_printf(b, "%lld", (long long)o->top_k); break;
		case OPT_TOP_P: buf_printf(b, "%g", o->top_p); break;
		case OPT_MIN_P: buf_printf(b, "%g", o->min_p); break;
		case OPT_REPEAT_PENALTY: buf_printf(b, "%g", o->repeat_penalty); break;
		case OPT_REPEAT_LAST_N: buf_printf(b, "%lld", (long long)o->repeat_last_n); break;
		case OPT_SEED: buf_printf(b, "%lld", (long long)o->seed); break;
		case OPT_N_PREDICT: buf_printf(b, "%lld", (long long)o->n_predict); break;
		case OPT_PRESENCE_PENALTY: buf_printf(b, "%g", o->presence_penalty); break;
		case OPT_FREQUENCY_PENALTY: buf_printf(b, "%g", o->frequency_penalty); break;
		case OPT_STOP:
			for (size_t k = 0; k < o->n_stop; k++)
				buf_printf(b, "%s\"%s\"", k ? "," : "", o->stop[k]);
			break;
		}
	}
}

static enum cmd_result run_show(struct chat *c, char *args, bool fullscreen)
{
	struct buf b = { 0 };

	(void)args, (void)fullscreen;
	buf_printf(&b, "model: %s%s%s%s\n", c->model ? c->model : "(none)",
		   c->model_info[0] ? " (" : "", c->model_info, c->model_info[0] ? ")" : "");
	if (c->ctx_info[0])
		buf_printf(&b, "context: %s tokens\n", c->ctx_info);
	buf_printf(&b, "engine: %s (%s)\n", c->server ? c->server : engine_target(c->eng), chat_state(c));
	buf_puts(&b, "options:");
	if (!c->opts.present)
		buf_puts(&b, " the engine's defaults");
	put_options(&b, &c->opts);
	const char *sys = chat_system_prompt(c);
	buf_printf(&b, "\nsystem prompt: %s", sys ? sys : "(none)");
	const char *path = chat_log_path(c), *err = chat_log_error(c);
	buf_printf(&b, "\nsession: %s%s%s", path ? path : c->log ? "(created with the first turn)" : "not recorded",
		   err ? ", NOT SAVED: " : "", err ? err : "");
	note(c, b.p);
	buf_free(&b);
	return CMD_OK;
}

static enum cmd_result run_set(struct chat *c, char *args, bool fullscreen)
{
	char *name = args + strspn(args, " \t");
	char *value = name + strcspn(name, " \t");

	(void)fullscreen;
	if (*value)
		*value++ = '\0';
	value += strspn(value, " \t");
	if (!strcmp(name, "system")) {	/* ollama's "/set system TEXT" */
		chat_system(c, value);
	} else if (!*name || !*value) {
		struct buf b = { 0 };
		buf_puts(&b, "usage: /set NAME VALUE, e.g. /set temp 0.7 (names:");
		for (int i = 0; i < OPT_COUNT; i++)
			buf_printf(&b, " %s", msg_option_name((enum msg_opt)i));
		buf_puts(&b, "); /show lists them");
		note(c, b.p);
		buf_free(&b);
	} else {
		chat_set(c, name, value);
	}
	return CMD_OK;
}

static enum cmd_result run_stats(struct chat *c, char *args, bool fullscreen)
{
	(void)args, (void)fullscreen;
	chat_stats(c);
	return CMD_OK;
}

static enum cmd_result run_save(struct chat *c, char *args, bool fullscreen)
{
	(void)fullscreen;
	chat_save(c, args);
	return CMD_OK;
}

static enum cmd_result run_load(struct chat *c, char *args, bool fullscreen)
{
	(void)fullscreen;
	chat_load_file(c, args);
	return CMD_OK;
}

static enum cmd_result run_model(struct chat *c, char *args, bool fullscreen)
{
	(void)fullscreen;
	if (!*args) {
		/* A server's models have names to list; a local one's are files. */
		if (!chat_list_models(c))
			note(c, "usage: /model PATH (a GGUF file)");
		return CMD_OK;
	}
	chat_model(c, args);
	return CMD_OK;
}

static enum cmd_result run_regen(struct chat *c, char *args, bool fullscreen)
{
	(void)args, (void)fullscreen;
	chat_regen(c);
	return CMD_OK;
}

static enum cmd_result run_restart(struct chat *c, char *args, bool fullscreen)
{
	(void)args, (void)fullscreen;
	chat_start(c);
	return CMD_OK;
}

enum cmd_result command_run(struct chat *c, const char *line, bool fullscreen,
			    char **ui_cmd, char **ui_arg)
{
	char *copy = xstrdup(line + 1);
	char *args = copy + strcspn(copy, " \t");
	enum cmd_result res = CMD_OK;

	if (*args)
		*args++ = '\0';
	args += strspn(args, " \t");
	for (size_t n = strlen(args); n && (args[n - 1] == ' ' || args[n - 1] == '\t'); n--)
		args[n - 1] = '\0';
	const struct cmd *cmd = lookup(copy);

	if (!cmd || (!cmd->run && !fullscreen)) {
		char s[160];
		snprintf(s, sizeof s, "unknown command /%.60s (/help lists them)", copy);
		note(c, s);
		res = CMD_UNKNOWN;
	} else if (!cmd->run) {
		*ui_cmd = xstrdup(cmd->names[0]);
		*ui_arg = xstrdup(args);
		res = CMD_UI;
	} else if (cmd->needs_arg && !*args) {
		struct buf b = { 0 };
		buf_puts(&b, "usage: ");
		put_synopsis(&b, cmd);
		note(c, b.p);
		buf_free(&b);
	} else {
		res = cmd->run(c, args, fullscreen);
	}
	free(copy);
	return res;
}

/* ---- completion ------------------------------------------------------------------ */

struct cands {
	char **v;
	size_t n, cap;
};

static void cand_add(struct cands *k, const char *s, bool dir)
{
	if (k->n == k->cap) {
		k->cap = k->cap ? k->cap * 2 : 16;
		k->v = xreallocarray(k->v, k->cap, sizeof *k->v);
	}
	xasprintf(&k->v[k->n++], "%s%s", s, dir ? "/" : "");
}

static void cands_free(struct cands *k)
{
	for (size_t i = 0; i < k->n; i++)
		free(k->v[i]);
	free(k->v);
}

/* The command's names (aliases too) that start with word. */
static void cand_names(struct cands *k, const struct cmd *cmd, const char *word)
{
	for (size_t i = 0; i < ARRAY_LEN(cmd->names) && cmd->names[i]; i++)
		if (!strncmp(cmd->names[i], word, strlen(word)))
			cand_add(k, cmd->names[i], false);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void files(struct cands *k, const char *word)
{
	const char *slash = strrchr(word, '/');
	char *dir = slash ? xstrndup(word, (size_t)(slash - word) + 1) : xstrdup("./");
	const char *base = slash ? slash + 1 : word;
	DIR *d = opendir(dir);

	if (d) {
		struct dirent *e;
		while ((e = readdir(d)) && k->n < 1000) {
			if (strncmp(e->d_name, base, strlen(base)) || !strcmp(e->d_name, ".") ||
			    !strcmp(e->d_name, "..") || (e->d_name[0] == '.' && base[0] != '.'))
				continue;
			char *full;
			struct stat st;
			xasprintf(&full, "%s%s", dir, e->d_name);
			bool isdir = stat(full, &st) == 0 && S_ISDIR(st.st_mode);
			free(full);
			char *shown;
			xasprintf(&shown, "%.*s%s", slash ? (int)(slash - word) + 1 : 0, word, e->d_name);
			cand_add(k, shown, isdir);
			free(shown);
		}
		closedir(d);
	}
	free(dir);
}

char *command_complete(const char *line, char *hint, size_t hintlen)
{
	struct cands k = { 0 };
	const char *sp = strchr(line, ' ');
	const char *word;

	hint[0] = '\0';
	if (line[0] != '/')
		return NULL;
	if (!sp) {
		word = line + 1;
		for (size_t i = 0; i < ARRAY_LEN(cmds); i++)
			cand_names(&k, &cmds[i], word);
	} else {
		char *name = xstrndup(line + 1, (size_t)(sp - line - 1));
		const struct cmd *cmd = lookup(name);
		free(name);
		word = sp + 1;
		if (cmd && cmd->arg == ARG_OPTION && !strchr(word, ' ')) {
			for (int i = 0; i < OPT_COUNT; i++)
				if (!strncmp(msg_option_name((enum msg_opt)i), word, strlen(word)))
					cand_add(&k, msg_option_name((enum msg_opt)i), false);
			if (!strncmp("system", word, strlen(word)))
				cand_add(&k, "system", false);
		} else if (cmd && cmd->arg == ARG_FILE) {
			files(&k, word);
		}
	}
	char *out = NULL;
	if (k.n) {
		qsort(k.v, k.n, sizeof *k.v, cmp_str);
		size_t common = strlen(k.v[0]);
		for (size_t i = 1; i < k.n; i++) {
			size_t j = 0;
			while (j < common && k.v[i][j] == k.v[0][j])
				j++;
			common = j;
		}
		size_t wl = strlen(word);
		bool done = k.n == 1 && k.v[0][common - (common > 0)] != '/';
		if (common > wl || done) {
			size_t pre = (size_t)(word - line);
			out = xmalloc(pre + common + 2);
			memcpy(out, line, pre);
			memcpy(out + pre, k.v[0], common);
			out[pre + common] = '\0';
			if (done)
				strcat(out, " ");
		}
		if (k.n > 1) {
			size_t used = 0;
			for (size_t i = 0; i < k.n && used + 1 < hintlen; i++) {
				int w = snprintf(hint + used, hintlen - used, "%s%s", i ? "  " : "", k.v[i]);
				if (w < 0 || (size_t)w >= hintlen - used)
					break;
				used += (size_t)w;
			}
		}
	}
	cands_free(&k);
	if (out && !strcmp(out, line)) {
		free(out);
		out = NULL;
	}
	return out;
}
