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

/* Replace the line being edited (e.g. to give a refused line back). */
void input_set(struct input *in, const char *text);
void input_clear(struct input *in);
bool input_empty(struct input *in);

/* Draw prompt and line in w's row y, scrolled so the cursor shows; leaves
 * the cursor where the user types. */
void input_draw(struct input *in, WINDOW *w, int y, const char *prompt);

#endif
