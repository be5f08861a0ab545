/* commands.c - slash commands (see commands.h). */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "commands.h"
#include "pane-conv.h"

enum arg { ARG_NONE, ARG_TEXT, ARG_FILE, ARG_OPTION };

static const struct cmd {
	const char *name;
	enum arg arg;
	bool ui;	/* full-screen only: the app runs it */
} cmds[] = {
	{ "help", ARG_NONE, false }, { "?", ARG_NONE, false },
	{ "system", ARG_TEXT, false }, { "set", ARG_OPTION, false },
	{ "show", ARG_NONE, false }, { "clear", ARG_NONE, false },
	{ "save", ARG_FILE, false }, { "load", ARG_FILE, false },
	{ "stats", ARG_NONE, false }, { "model", ARG_FILE, false },
	{ "regen", ARG_NONE, false }, { "restart", ARG_NONE, false },
	{ "edit", ARG_NONE, true }, { "search", ARG_TEXT, true },
	{ "quit", ARG_NONE, false }, { "exit", ARG_NONE, false }, { "bye", ARG_NONE, false },
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
	"  < > side panes wider, narrower\n"
	"  Esc or i back to typing\n";

static const char help_cmds[] =
	"Commands\n"
	"  /help /?   /quit /exit /bye   /clear\n"
	"  /system [TEXT|-] show, set, remove it\n"
	"  /set NAME VALUE   names: temp top_k top_p\n"
	"    min_p repeat_penalty repeat_last_n seed\n"
	"    n_predict stop\n"
	"  /show the model and options\n"
	"  /stats the engine's counters\n"
	"  /save FILE   /load FILE   a conversation\n"
	"  /model PATH load another model\n"
	"  /regen answer the last message again\n"
	"  /restart the engine\n"
	"  \"\"\" starts and ends a multi-line message\n"
	"  // sends a line that starts with /";

const char *command_help(bool fullscreen)
{
	static char text[sizeof help_keys + sizeof help_cmds];
	snprintf(text, sizeof text, "%s%s", fullscreen ? help_keys : "", help_cmds);
	return text;
}

static const struct cmd *lookup(const char *name)
{
	for (size_t i = 0; i < ARRAY_LEN(cmds); i++)
		if (!strcmp(cmds[i].name, name))
			return &cmds[i];
	return NULL;
}

static void show(struct chat *c)
{
	struct buf b = { 0 };
	const struct msg_options *o = &c->opts;

	buf_printf(&b, "model: %s%s%s%s\n", c->model ? c->model : "(none)",
		   c->model_info[0] ? " (" : "", c->model_info, c->model_info[0] ? ")" : "");
	if (c->ctx_info[0])
		buf_printf(&b, "context: %s tokens\n", c->ctx_info);
	buf_printf(&b, "engine: %s (%s)\n", c->eng.cmd, chat_state(c));
	buf_puts(&b, "options:");
	if (!o->present)
		buf_puts(&b, " the engine's defaults");
	for (int i = 0; i < OPT_COUNT; i++) {
		if (!(o->present & MSG_OPT_BIT(i)))
			continue;
		buf_printf(&b, " %s=", msg_option_name((enum msg_opt)i));
		switch (i) {
		case OPT_TEMP: buf_printf(&b, "%g", o->temp); break;
		case OPT_TOP_K: buf_printf(&b, "%lld", (long long)o->top_k); break;
		case OPT_TOP_P: buf_printf(&b, "%g", o->top_p); break;
		case OPT_MIN_P: buf_printf(&b, "%g", o->min_p); break;
		case OPT_REPEAT_PENALTY: buf_printf(&b, "%g", o->repeat_penalty); break;
		case OPT_REPEAT_LAST_N: buf_printf(&b, "%lld", (long long)o->repeat_last_n); break;
		case OPT_SEED: buf_printf(&b, "%lld", (long long)o->seed); break;
		case OPT_N_PREDICT: buf_printf(&b, "%lld", (long long)o->n_predict); break;
		case OPT_STOP:
			for (size_t k = 0; k < o->n_stop; k++)
				buf_printf(&b, "%s\"%s\"", k ? "," : "", o->stop[k]);
			break;
		}
	}
	const char *sys = chat_system_prompt(c);
	buf_printf(&b, "\nsystem prompt: %s", sys ? sys : "(none)");
	const char *path = chat_log_path(c), *err = chat_log_error(c);
	buf_printf(&b, "\nsession: %s%s%s", path ? path : c->log ? "(created with the first turn)" : "not recorded",
		   err ? ", NOT SAVED: " : "", err ? err : "");
	c->h->note(c->ctx, b.p);
	buf_free(&b);
}

static void set(struct chat *c, char *args)
{
	char *name = args + strspn(args, " \t");
	char *value = name + strcspn(name, " \t");

	if (*value)
		*value++ = '\0';
	value += strspn(value, " \t");
	if (!strcmp(name, "system")) {	/* ollama's "/set system TEXT" */
		chat_system(c, value);
		return;
	}
	if (!*name || !*value) {
		c->h->note(c->ctx, "usage: /set NAME VALUE, e.g. /set temp 0.7 (names: temp top_k top_p "
			   "min_p repeat_penalty repeat_last_n seed n_predict stop); /show lists them");
		return;
	}
	chat_set(c, name, value);
}

static void need_arg(struct chat *c, const char *usage)
{
	char s[128];
	snprintf(s, sizeof s, "usage: %s", usage);
	c->h->note(c->ctx, s);
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
	const char *name = cmd ? cmd->name : "";

	if (!cmd || (cmd->ui && !fullscreen)) {
		char s[160];
		snprintf(s, sizeof s, "unknown command /%.60s (/help lists them)", copy);
		c->h->note(c->ctx, s);
		res = CMD_UNKNOWN;
	} else if (cmd->ui) {
		*ui_cmd = xstrdup(name);
		*ui_arg = xstrdup(args);
		res = CMD_UI;
	} else if (!strcmp(name, "help") || !strcmp(name, "?")) {
		c->h->note(c->ctx, command_help(fullscreen));
	} else if (!strcmp(name, "quit") || !strcmp(name, "exit") || !strcmp(name, "bye")) {
		res = CMD_QUIT;
	} else if (!strcmp(name, "clear")) {
		chat_clear(c);
	} else if (!strcmp(name, "set")) {
		set(c, args);
	} else if (!strcmp(name, "show")) {
		show(c);
	} else if (!strcmp(name, "system")) {
		if (!*args) {
			const char *s = chat_system_prompt(c);
			char *t;
			xasprintf(&t, "system prompt: %s", s ? s : "(none; /system TEXT sets one)");
			c->h->note(c->ctx, t);
			free(t);
		} else {
			chat_system(c, strcmp(args, "-") ? args : "");
		}
	} else if (!strcmp(name, "stats")) {
		chat_stats(c);
	} else if (!strcmp(name, "save")) {
		*args ? (void)chat_save(c, args) : need_arg(c, "/save FILE");
	} else if (!strcmp(name, "load")) {
		*args ? (void)chat_load_file(c, args) : need_arg(c, "/load FILE");
	} else if (!strcmp(name, "model")) {
		*args ? chat_model(c, args) : need_arg(c, "/model PATH");
	} else if (!strcmp(name, "regen")) {
		chat_regen(c);
	} else if (!strcmp(name, "restart")) {
		chat_start(c);
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
			if (!strncmp(cmds[i].name, word, strlen(word)))
				cand_add(&k, cmds[i].name, false);
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
