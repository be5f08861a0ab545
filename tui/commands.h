/* commands.h - slash commands and their tab completion, shared by the
 * full-screen UI and the plain mode. The names are the union of ollama's and
 * llama-cli's where they agree (/bye, /?, /regen ...). */
#ifndef HEFT_COMMANDS_H
#define HEFT_COMMANDS_H

#include <stdbool.h>
#include <stddef.h>

#include "chat.h"

enum cmd_result {
	CMD_OK,
	CMD_QUIT,
	CMD_UNKNOWN,	/* no such command: a note says so */
	CMD_UI,		/* a command of the UI (not handled here): name in *ui */
};

/* Run line ("/set temp 0.7"). Commands that belong to the full-screen UI
 * (/edit, /search) come back as CMD_UI with their name and argument. */
enum cmd_result command_run(struct chat *c, const char *line, bool fullscreen,
			    char **ui_cmd, char **ui_arg);

/* The help text: keys and the commands of the full screen, then the commands
 * of both (made from the table of commands; valid until the next call). */
const char *command_help(bool fullscreen);

/* Complete line (the cursor at its end): the new line, or NULL when there
 * is nothing to add. When several completions remain, hint lists them. */
char *command_complete(const char *line, char *hint, size_t hintlen);

#endif
