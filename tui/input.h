/* input.h - the input line: libedit does the editing, curses the drawing.
 *
 * libedit cannot draw inside a curses screen, so it edits blind: its
 * output goes to /dev/null, its keys come from curses (wget_wch) through
 * EL_GETCFN, and EL_UNBUFFERED makes it return after every key. The line
 * is then drawn from el_wline(). This keeps libedit's key maps (emacs and
 * vi, ~/.editrc) and history; see input.c for the details. */
#ifndef HEFT_INPUT_H
#define HEFT_INPUT_H

#include <stdbool.h>
#include <wchar.h>

#include <curses.h>

struct input;

enum input_result {
	INPUT_NONE,	/* key consumed, keep going */
	INPUT_LINE,	/* Enter: *line holds the text (caller frees) */
	INPUT_EOF,	/* ^D on an empty line */
};

/* histfile: where history is loaded from and saved to (NULL: none).
 * Returns NULL with a message in err when libedit could not start. */
struct input *input_new(const char *histfile, char *err, size_t errlen);
void input_free(struct input *in);

/* Feed one key as wget_wch returned it (type OK or KEY_CODE_YES). */
enum input_result input_key(struct input *in, int type, wint_t ch, char **line);

/* The longest line the editor holds, in characters (a bigger paste is cut). */
#define INPUT_MAX ((size_t)1 << 20)

/* Replace the line being edited (e.g. to give a refused line back). */
void input_set(struct input *in, const char *text);
/* Insert text at the cursor, newlines included (a paste); returns the
 * characters inserted, fewer than given when INPUT_MAX was reached. */
size_t input_insert(struct input *in, const char *text);
/* The line being edited, UTF-8 (caller frees). */
char *input_text(struct input *in);
bool input_at_end(struct input *in);
/* Whether lines entered from now on go to the history (not search patterns). */
void input_set_history(struct input *in, bool on);
void input_clear(struct input *in);
bool input_empty(struct input *in);

/* Draw prompt and line in w's row y, scrolled so the cursor shows; leaves
 * the cursor where the user types. */
void input_draw(struct input *in, WINDOW *w, int y, const char *prompt);

#endif
