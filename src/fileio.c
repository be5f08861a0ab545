/* fileio.c - regular files only, opened without blocking; atomic writes
 * through an unpredictable temporary name. */
#include "fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"

const char *fio_strerror(int err)
{
	return err == FIO_ENOTREG ? "not a regular file" : strerror(err);
}


static void close_keep_errno(int fd)
{
	int e = errno;
	close(fd);
	errno = e;
}

/* fd is a regular file: clear O_NONBLOCK and keep it; otherwise close it. */
static int keep_regular(int fd)
{
	struct stat st;
	int fl;

	if (fstat(fd, &st) < 0) {
		close_keep_errno(fd);
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		errno = FIO_ENOTREG;
		return -1;
	}
	if ((fl = fcntl(fd, F_GETFL)) < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0) {
		close_keep_errno(fd);
		return -1;
	}
	return fd;
}

int fio_open_read(const char *path)
{
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	return fd < 0 ? -1 : keep_regular(fd);
}

FILE *fio_fopen_read(const char *path)
{
	int fd = fio_open_read(path);
	if (fd < 0)
		return NULL;
	FILE *fp = fdopen(fd, "r");
	if (!fp)
		close_keep_errno(fd);
	return fp;
}

/* An existing target that is not a regular file is refused before any
 * open: opening a FIFO for writing without a reader fails with a confusing
 * ENXIO, and a device must not even be touched. */
static int target_ok(const char *path)
{
	struct stat st;

	if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
		errno = FIO_ENOTREG;
		return -1;
	}
	return 0;
}

int fio_open_write(const char *path, int flags, mode_t mode)
{
	if (target_ok(path) < 0)
		return -1;
	bool trunc = flags & O_TRUNC;
	int fd = open(path, (flags & ~O_TRUNC) | O_NONBLOCK | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC, mode);
	if (fd < 0 || keep_regular(fd) < 0)
		return -1;
	if (trunc && ftruncate(fd, 0) < 0) {
		close_keep_errno(fd);
		return -1;
	}
	return fd;
}

char *fio_tmp_name(const char *path)
{
	uint64_t r;
	char *s;

	if (getrandom(&r, sizeof r, 0) != (ssize_t)sizeof r)
		return NULL;
	xasprintf(&s, "%s.tmp-%016llx", path, (unsigned long long)r);
	return s;
}

static void fio_free(struct fio_out *o)
{
	free(o->path);
	free(o->tmp);
	o->path = o->tmp = NULL;
	o->fd = -1;
	o->fp = NULL;
}

int fio_begin(struct fio_out *o, const char *path)
{
	memset(o, 0, sizeof *o);
	o->fd = -1;
	if (target_ok(path) < 0)
		return -1;
	for (int tries = 0; tries < 16; tries++) {
		free(o->tmp);
		if (!(o->tmp = fio_tmp_name(path)))
			break;
		o->fd = open(o->tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC, 0600);
		if (o->fd >= 0 || errno != EEXIST)
			break;
	}
	if (o->fd < 0) {
		int e = errno;
		fio_free(o);
		errno = e;
		return -1;
	}
	o->path = xstrdup(path);
	return 0;
}

FILE *fio_stream(struct fio_out *o)
{
	if (!o->fp)
		o->fp = fdopen(o->fd, "w");
	return o->fp;
}

int fio_write(struct fio_out *o, const void *p, size_t n)
{
	if (o->fp)
		return fwrite(p, 1, n, o->fp) == n ? 0 : -1;
	return write_full(o->fd, p, n) < 0 ? -1 : 0;
}

void fio_abort(struct fio_out *o)
{
	if (o->fp)
		fclose(o->fp);
	else if (o->fd >= 0)
		close(o->fd);
	if (o->tmp)
		unlink(o->tmp);
	fio_free(o);
}

/* Make the rename itself durable. Some file systems cannot fsync a
 * directory (EINVAL); the data is safe there anyway. */
static int sync_dir(const char *path)
{
	const char *slash = strrchr(path, '/');
	char *dir = slash ? xstrndup(path, slash == path ? 1 : (size_t)(slash - path)) : xstrdup(".");
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), rc = 0;
	free(dir);
	if (fd < 0)
		return -1;
	if (fsync(fd) < 0 && errno != EINVAL)
		rc = -1;
	close_keep_errno(fd);
	return rc;
}

int fio_commit(struct fio_out *o)
{
	bool ok = true;
	int e = 0;

	errno = 0;
	if (o->fp && (fflush(o->fp) != 0 || ferror(o->fp))) {
		ok = false;
		e = errno ? errno : EIO;
	}
	if (ok && fsync(o->fd) < 0) {
		ok = false;
		e = errno;
	}
	int rc = o->fp ? fclose(o->fp) : close(o->fd);
	o->fp = NULL;
	o->fd = -1;
	if (ok && rc != 0) {
		ok = false;
		e = errno;
	}
	/* the target may have become a device since fio_begin */
	if (ok && target_ok(o->path) < 0) {
		ok = false;
		e = errno;
	}
	if (ok && rename(o->tmp, o->path) < 0) {
		ok = false;
		e = errno;
	}
	if (!ok) {
		fio_abort(o);
		errno = e;
		return -1;
	}
	rc = sync_dir(o->path);
	e = errno;
	fio_free(o);
	errno = e;
	return rc;
}

int fio_write_file(const char *path, const void *p, size_t n)
{
	struct fio_out o;

	if (fio_begin(&o, path) < 0)
		return -1;
	if (fio_write(&o, p, n) < 0) {
		int e = errno;
		fio_abort(&o);
		errno = e;
		return -1;
	}
	return fio_commit(&o);
}
