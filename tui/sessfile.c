/* sessfile.c - append-only session files (see sessfile.h). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "conv.h"
#include "engine.h"
#include "sessfile.h"
#include "fileio.h"
#include "paths.h"
#include "protocol.h"
#include "util.h"

#define SESS_FILE_MAX ((size_t)512 << 20)

char *sess_dir(void)
{
	char *heft = xdg_heft_dir("XDG_DATA_HOME", ".local/share"), *dir;

	if (!heft)
		return NULL;
	xasprintf(&dir, "%s/sessions", heft);
	free(heft);
	return dir;
}

/* mkdir -p with new levels 0700, the failure in err. */
static bool make_dirs(const char *dir, char *err, size_t errlen)
{
	if (mkdir_p(dir, 0700) == 0)
		return true;
	snprintf(err, errlen, "cannot create %s: %s", dir, strerror(errno));
	return false;
}

char *history_path(void)
{
	char *dir = xdg_heft_dir("XDG_STATE_HOME", ".local/state"), *path, err[256];

	if (!dir)
		return NULL;
	if (!make_dirs(dir, err, sizeof err)) {
		free(dir);
		return NULL;	/* no history is not worth stopping for */
	}
	xasprintf(&path, "%s/history", dir);
	free(dir);
	return path;
}

char *sess_last(const char *dir, char *err, size_t errlen)
{
	DIR *d = opendir(dir);
	char *best = NULL;
	struct timespec best_t = { 0, 0 };

	if (!d) {
		snprintf(err, errlen, "no saved sessions (%s: %s)", dir, strerror(errno));
		return NULL;
	}
	struct dirent *e;
	while ((e = readdir(d))) {
		size_t n = strlen(e->d_name);
		if (n < 7 || strcmp(e->d_name + n - 6, ".jsonl") != 0)
			continue;
		char *path;
		struct stat st;
		xasprintf(&path, "%s/%s", dir, e->d_name);
		if (stat(path, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0 &&
		    (!best || st.st_mtim.tv_sec > best_t.tv_sec ||
		     (st.st_mtim.tv_sec == best_t.tv_sec && st.st_mtim.tv_nsec > best_t.tv_nsec) ||
		     (st.st_mtim.tv_sec == best_t.tv_sec && st.st_mtim.tv_nsec == best_t.tv_nsec &&
		      strcmp(path, best) > 0))) {
			free(best);
			best = path;
			best_t = st.st_mtim;
		} else {
			free(path);
		}
	}
	closedir(d);
	if (!best)
		snprintf(err, errlen, "no saved sessions in %s", dir);
	return best;
}

/* ---- conversations in memory ------------------------------------------------ */

void sess_conv_free(struct sess_conv *c)
{
	conv_free(c->turns);
	free(c->model);
	free(c->engine);
	memset(c, 0, sizeof *c);
}

/* A model record (or the header): the model and the server it is on,
 * which a record without "engine" clears. Only a URL is taken as a
 * server: a session file never names a command to run. */
static void set_model(struct sess_conv *c, json_t *o)
{
	json_t *model = json_object_get(o, "model"), *eng = json_object_get(o, "engine");

	if (json_is_string(model)) {
		free(c->model);
		c->model = xstrdup(json_string_value(model));
	}
	free(c->engine);
	c->engine = json_is_string(eng) && engine_is_url(json_string_value(eng))
		    ? xstrdup(json_string_value(eng)) : NULL;
}

/* Apply one record; false when it is not one we know. */
static bool apply(struct sess_conv *c, json_t *o)
{
	json_t *role = json_object_get(o, "role"), *content = json_object_get(o, "content");
	json_t *tr = json_object_get(o, "truncate"), *model = json_object_get(o, "model");

	if (json_is_string(role) && json_is_string(content)) {
		int r = role_lookup(json_string_value(role));
		if (r < 0)
			return false;
		json_t *tag = json_object_get(o, "tag");
		conv_add(c->turns, (enum role)r, json_string_value(content));
		if (json_is_string(tag))
			conv_mark(c->turns, conv_count(c->turns) - 1, json_string_value(tag));
		return true;
	}
	if (json_is_integer(tr) && json_integer_value(tr) >= 0) {
		conv_truncate(c->turns, (size_t)json_integer_value(tr));
		return true;
	}
	if (json_is_true(json_object_get(o, "clear"))) {
		conv_clear(c->turns);
		return true;
	}
	if (json_is_string(model)) {
		set_model(c, o);
		return true;
	}
	if (!json_is_string(json_object_get(o, "heft")))
		return false;
	set_model(c, o);	/* the header */
	return true;
}

bool sess_read(const char *path, struct sess_conv *c, char *err, size_t errlen)
{
	size_t len;
	char *data = read_file(path, &len, SESS_FILE_MAX);

	memset(c, 0, sizeof *c);
	c->turns = conv_new();
	if (!data) {
		conv_free(c->turns);
		snprintf(err, errlen, "%s: %s", path, fio_strerror(errno));
		return false;
	}
	size_t good = 0;
	for (char *p = data, *end = data + len; p < end;) {
		char *nl = memchr(p, '\n', (size_t)(end - p));
		char *le = nl ? nl : end;
		if (le > p) {
			json_error_t je;
			json_t *o = json_loadb(p, (size_t)(le - p), JSON_REJECT_DUPLICATES, &je);
			if (o && json_is_object(o) && apply(c, o))
				good++;
			else
				c->bad_lines++;
			json_decref(o);
		}
		p = le + 1;
	}
	free(data);
	if (!good) {
		snprintf(err, errlen, "%s: not a heft session (%zu unreadable lines)", path, c->bad_lines);
		sess_conv_free(c);
		return false;
	}
	return true;
}

/* ---- encoding ------------------------------------------------------------------ */

/* Append o as one line to out; consumes o. */
static void put_record(struct buf *out, json_t *o)
{
	char *s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	if (!s)
		return;
	buf_puts(out, s);
	buf_putc(out, '\n');
	free(s);
}

static void put_turn(struct buf *out, const char *role, const char *content, const char *tag)
{
	json_t *o = json_object();
	json_object_set_new(o, "role", msg_json_str(role));
	json_object_set_new(o, "content", msg_json_str(content));
	if (tag && *tag)
		json_object_set_new(o, "tag", msg_json_str(tag));
	put_record(out, o);
}

static void put_model(json_t *o, const char *model, const char *engine)
{
	if (model)
		json_object_set_new(o, "model", msg_json_str(model));
	if (engine)
		json_object_set_new(o, "engine", msg_json_str(engine));
}

static void put_header(struct buf *out, const char *model, const char *engine)
{
	json_t *o = json_object();
	json_object_set_new(o, "heft", json_string("session"));
	json_object_set_new(o, "version", json_integer(1));
	put_model(o, model, engine);
	put_record(out, o);
}

bool sess_write(const char *path, const struct sess_conv *c, char *err, size_t errlen)
{
	struct buf b = { 0 };

	put_header(&b, c->model, c->engine);
	for (size_t i = 0; i < conv_count(c->turns); i++)
		put_turn(&b, role_name(conv_role(c->turns, i)), conv_text(c->turns, i), conv_tag(c->turns, i));
	/* atomic: a full disk or a crash keeps the old file whole */
	bool ok = fio_write_file(path, b.p, b.len) == 0;
	if (!ok)
		snprintf(err, errlen, "%s: %s", path, fio_strerror(errno));
	buf_free(&b);
	return ok;
}

/* ---- the log ---------------------------------------------------------------------- */

struct sess_log {
	char *path, *dir, *model, *engine;
	int fd;
	off_t good;		/* end of the last complete record on disk */
	struct buf pending;	/* records not on disk yet */
	bool failed;		/* the last write failed: cut back before the next */
	char err[256];
	char notice[1024];	/* what recovery did, for the user; "" once told */
};

struct sess_log *sess_log_new(const char *path, const char *dir, const char *model,
			      const char *engine)
{
	struct sess_log *l = xcalloc(1, sizeof *l);
	l->path = path ? xstrdup(path) : NULL;
	l->dir = dir ? xstrdup(dir) : NULL;
	l->model = model ? xstrdup(model) : NULL;
	l->engine = engine ? xstrdup(engine) : NULL;
	l->fd = -1;
	return l;
}

void sess_log_free(struct sess_log *l)
{
	if (!l)
		return;
	if (l->fd >= 0)
		close(l->fd);
	buf_free(&l->pending);
	free(l->path);
	free(l->dir);
	free(l->model);
	free(l->engine);
	free(l);
}

static bool fail(struct sess_log *l, const char *what, int e)
{
	snprintf(l->err, sizeof l->err, "%s: %s", what, fio_strerror(e));
	return false;
}

/* ---- recovery ------------------------------------------------------------------ */

/* Whether line is one record sess_read would take; *header: it is the
 * header. */
static bool record_ok(const char *line, size_t n, bool *header)
{
	json_error_t je;
	json_t *o = json_loadb(line, n, JSON_REJECT_DUPLICATES, &je);
	struct sess_conv scratch = { .turns = conv_new() };
	bool ok = o && json_is_object(o) && apply(&scratch, o);

	*header = ok && json_is_string(json_object_get(o, "heft"));
	json_decref(o);
	sess_conv_free(&scratch);
	return ok;
}

/* The records of data[0, len) that can be read, after a header (the file's
 * own, or a new one naming model), each on a complete line. Returns how
 * many lines were dropped: a cut last line, a broken header, any line that
 * does not parse. A last line that only lacks its '\n' is kept, finished. */
static size_t clean_copy(const char *data, size_t len, const struct sess_log *l, struct buf *out)
{
	size_t dropped = 0;
	bool first = true;

	for (const char *p = data, *end = data + len; p < end;) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *le = nl ? nl : end;
		bool header;
		if (le > p && record_ok(p, (size_t)(le - p), &header) && header == first) {
			buf_append(out, p, (size_t)(le - p));
			buf_putc(out, '\n');
			first = false;
		} else if (le > p) {
			if (first && !header) {	/* no header yet: one for the rest */
				put_header(out, l->model, l->engine);
				first = false;
				continue;	/* the line again, as a record */
			}
			dropped++;
		}
		p = le + 1;
	}
	if (first)
		put_header(out, l->model, l->engine);
	return dropped;
}

/* A name beside path for the set-aside file that names nothing yet:
 * PATH.broken-1, -2, ... as a hard link to path's file, so the original
 * stays whole under it. NULL with errno set. */
static char *set_aside(const char *path)
{
	for (int n = 1; n < 1000; n++) {
		char *aside;
		xasprintf(&aside, "%s.broken-%d", path, n);
		if (link(path, aside) == 0)
			return aside;
		int e = errno;
		free(aside);
		if (e != EEXIST) {
			errno = e;
			return NULL;
		}
	}
	errno = EEXIST;
	return NULL;
}

/* Before appending to an existing file: what cannot be read back (a line
 * a crash or a full disk cut, a broken header, garbage) would glue the next
 * record to it or make the file unresumable. Such a file is kept whole as
 * PATH.broken-N and PATH goes on with what could be read. False with
 * l->err set when path cannot be used at all. */
static bool check_existing(struct sess_log *l)
{
	int fd = open(l->path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return errno == ENOENT ? true : fail(l, l->path, errno);
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		snprintf(l->err, sizeof l->err, "%s: not a regular file", l->path);
		return false;
	}
	size_t len = (size_t)st.st_size;
	if (len == 0 || len > SESS_FILE_MAX) {
		close(fd);
		return true;	/* empty: a header comes; huge: leave it be */
	}
	char *data = xmalloc(len);
	ssize_t got = pread(fd, data, len, 0);
	close(fd);
	if (got != (ssize_t)len) {
		free(data);
		return fail(l, l->path, got < 0 ? errno : EIO);
	}
	struct buf clean = { 0 };
	size_t dropped = clean_copy(data, len, l, &clean);
	bool same = clean.len == len && !memcmp(clean.p, data, len);
	bool finish_line = !same && clean.len == len + 1 && !memcmp(clean.p, data, len);
	bool ok = true;
	if (finish_line) {
		buf_clear(&clean);
		buf_putc(&clean, '\n');	/* only a '\n' was missing */
		buf_append(&clean, l->pending.p, l->pending.len);
		buf_free(&l->pending);
		l->pending = clean;
		clean = (struct buf){ 0 };
	} else if (!same) {
		char *aside = set_aside(l->path);
		if (!aside || fio_write_file(l->path, clean.p, clean.len) < 0) {
			int e = errno;
			if (aside)
				unlink(aside);
			ok = fail(l, l->path, e);
		} else {
			snprintf(l->notice, sizeof l->notice,
				 "The session file %s had %zu unreadable line%s (%s); it is kept whole as %s, "
				 "and the session goes on in %s with what could be read.",
				 l->path, dropped, dropped == 1 ? "" : "s",
				 data[len - 1] != '\n' ? "its last line was cut" : "a broken header or record",
				 aside, l->path);
		}
		free(aside);
	}
	buf_free(&clean);
	free(data);
	return ok;
}

static bool open_log(struct sess_log *l)
{
	struct buf head = { 0 };

	if (!l->path) {
		if (!l->dir) {
			snprintf(l->err, sizeof l->err, "no directory for sessions (HOME is not set)");
			return false;
		}
		if (!make_dirs(l->dir, l->err, sizeof l->err))
			return false;
		char stamp[32];
		time_t t = time(NULL);
		strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", localtime(&t));
		xasprintf(&l->path, "%s/%s-%ld.jsonl", l->dir, stamp, (long)getpid());
	}
	if (!check_existing(l))
		return false;
	l->fd = fio_open_write(l->path, O_WRONLY | O_CREAT | O_APPEND, 0600);
	if (l->fd < 0)
		return fail(l, l->path, errno);
	struct stat st;
	if (fstat(l->fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(l->fd);
		l->fd = -1;
		snprintf(l->err, sizeof l->err, "%s: not a regular file", l->path);
		return false;
	}
	if (st.st_mode & 077)
		fchmod(l->fd, 0600);	/* conversations are private */
	l->good = st.st_size;
	if (l->good == 0)
		put_header(&head, l->model, l->engine);
	if (head.len) {
		/* The header goes before whatever is pending. */
		buf_append(&head, l->pending.p, l->pending.len);
		buf_free(&l->pending);
		l->pending = head;
	}
	return true;
}

const char *sess_log_notice(struct sess_log *l)
{
	return l->notice[0] ? l->notice : NULL;
}

void sess_log_notice_clear(struct sess_log *l)
{
	l->notice[0] = '\0';
}

bool sess_log_flush(struct sess_log *l)
{
	if (!l->pending.len)
		return true;
	if (l->fd < 0 && !open_log(l))
		return false;
	if (l->failed)
		(void)!ftruncate(l->fd, l->good);	/* drop a half-written line */
	if (write_full(l->fd, l->pending.p, l->pending.len) != (int64_t)l->pending.len) {
		int e = errno;
		l->failed = true;
		(void)!ftruncate(l->fd, l->good);
		return fail(l, l->path, e);
	}
	l->good += (off_t)l->pending.len;
	buf_clear(&l->pending);
	l->failed = false;
	l->err[0] = '\0';
	return true;
}

bool sess_log_turn(struct sess_log *l, const char *role, const char *content, const char *tag)
{
	put_turn(&l->pending, role, content, tag);
	return sess_log_flush(l);
}

bool sess_log_truncate(struct sess_log *l, size_t keep)
{
	json_t *o = json_object();
	json_object_set_new(o, "truncate", json_integer((json_int_t)keep));
	put_record(&l->pending, o);
	return sess_log_flush(l);
}

bool sess_log_clear(struct sess_log *l)
{
	json_t *o = json_object();
	json_object_set_new(o, "clear", json_true());
	put_record(&l->pending, o);
	return sess_log_flush(l);
}

bool sess_log_model(struct sess_log *l, const char *model, const char *engine)
{
	free(l->model);
	l->model = xstrdup(model);
	free(l->engine);
	l->engine = engine ? xstrdup(engine) : NULL;
	if (l->fd < 0 && !l->pending.len)
		return true;	/* the header will name it */
	json_t *o = json_object();
	put_model(o, model, engine);
	put_record(&l->pending, o);
	return sess_log_flush(l);
}

const char *sess_log_error(const struct sess_log *l)
{
	return l->pending.len && l->err[0] ? l->err : NULL;
}

const char *sess_log_path(const struct sess_log *l)
{
	return l->path;
}
