/* sessfile.h - conversations on disk, written as they happen.
 *
 * A session file is JSON Lines, one record per line, only ever appended to,
 * so a crash of heft (or of the machine between two turns) loses nothing
 * that was on screen before it:
 *
 *   {"heft":"session","version":1,"model":"/m/x.gguf"}   first line
 *   {"role":"user","content":"Hi"}                         a turn
 *   {"role":"assistant","content":"Hello","tag":"stopped"}
 *   {"truncate":1}        keep the first 1 turns (an edited past turn)
 *   {"clear":true}        /clear, /load
 *   {"model":"/m/y.gguf"} /model
 *   {"model":"qwen3:8b","engine":"http://box:11434"}  a server's model
 *
 * "engine" is recorded only for a server (heft --engine URL), never for a
 * local engine command, so a session file can make --resume reconnect but
 * never run anything. It holds the URL without any user:password part; an
 * API key is never written.
 *
 * Reading replays the records in order. Before the first append to an
 * existing file, what could not be read back (a line cut by a crash, a
 * broken header, garbage) is set aside: the file is kept whole as
 * PATH.broken-N and PATH goes on with its readable records, so the next
 * record is never glued to a broken one. Files are created mode 0600 in a
 * 0700 directory. A write that fails (full disk, unwritable directory) is
 * kept in memory and retried with the next record, after cutting the file
 * back to its last complete line, so a half-written line never stays. */
#ifndef HEFT_SESSFILE_H
#define HEFT_SESSFILE_H

#include <stdbool.h>
#include <stddef.h>

struct conv;

/* A conversation read back from a file, or to write to one. */
struct sess_conv {
	struct conv *turns;	/* owned (conv.h); no notes */
	char *model;		/* the last model recorded, or NULL */
	char *engine;		/* the server it was on (a URL), or NULL: local */
	size_t bad_lines;	/* records that could not be read (skipped) */
};

/* $XDG_STATE_HOME/heft/history (or ~/.local/state/heft/history), its
 * directory created; NULL when there is nowhere to keep it. Caller frees. */
char *history_path(void);

/* $XDG_DATA_HOME/heft/sessions, or ~/.local/share/heft/sessions; NULL
 * when neither XDG_DATA_HOME nor HOME is set. Caller frees. */
char *sess_dir(void);

/* The most recently modified *.jsonl file in dir; NULL with a message in
 * err when there is none. Caller frees. */
char *sess_last(const char *dir, char *err, size_t errlen);

/* Read a session file. False with a message in err when the file cannot be
 * read or holds no session; unreadable lines are skipped and counted. */
bool sess_read(const char *path, struct sess_conv *c, char *err, size_t errlen);
void sess_conv_free(struct sess_conv *c);

/* Write a whole conversation to path (replacing it), for /save. */
bool sess_write(const char *path, const struct sess_conv *c, char *err, size_t errlen);

/* The session being recorded. */
struct sess_log;

/* path: the file to append to (it may exist: --resume, --session); NULL:
 * a new file named after the time in dir, created with the first record.
 * Nothing is touched on disk until the first record. */
struct sess_log *sess_log_new(const char *path, const char *dir, const char *model,
			      const char *engine);
void sess_log_free(struct sess_log *l);

/* Record one event. False when it could not be written yet (it is kept and
 * retried with the next record; sess_log_error says why). */
bool sess_log_turn(struct sess_log *l, const char *role, const char *content, const char *tag);
bool sess_log_truncate(struct sess_log *l, size_t keep);
bool sess_log_clear(struct sess_log *l);
/* A model (engine: its server's URL, or NULL for a local engine). */
bool sess_log_model(struct sess_log *l, const char *model, const char *engine);
/* Retry writing what is pending (e.g. after the user freed some space). */
bool sess_log_flush(struct sess_log *l);

/* NULL while everything recorded is on disk, else the reason it is not. */
const char *sess_log_error(const struct sess_log *l);
/* What was done to the file before appending (a cut or corrupt tail set
 * aside as PATH.broken-N), to tell the user once; NULL when nothing. */
const char *sess_log_notice(struct sess_log *l);
void sess_log_notice_clear(struct sess_log *l);
/* The file's path (NULL until it is known). */
const char *sess_log_path(const struct sess_log *l);

#endif
