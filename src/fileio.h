/* fileio.h - the one way heft opens a file to read and writes a file.
 *
 * Reading: regular files only. The path is opened with O_NONBLOCK so a FIFO
 * cannot block the open, then checked with fstat on the descriptor itself
 * (no window between check and use); anything else (a directory too) is
 * refused with FIO_ENOTREG ("not a regular file").
 *
 * Writing: a target that exists and is not a regular file (a device, a FIFO,
 * a directory) is refused (FIO_ENOTREG) and left alone. Data goes to a temporary file in
 * the target's directory whose name has a random suffix, created with
 * O_CREAT|O_EXCL|O_NOFOLLOW and mode 0600 (a planted file or symlink is never
 * followed); it is fsync'ed, renamed over the target, and the directory is
 * fsync'ed. On any failure the temporary file is removed and the old target
 * is intact. */
#ifndef HEFT_FILEIO_H
#define HEFT_FILEIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/types.h>

/* errno value for "exists but is not a regular file" (outside the system's
 * range); fio_strerror() names it, strerror() does not. */
#define FIO_ENOTREG 0x4e52

/* strerror() that also knows FIO_ENOTREG. */
const char *fio_strerror(int err);

/* A regular file opened read-only (O_CLOEXEC, blocking); -1 with errno set. */
int fio_open_read(const char *path);
/* The same as a stdio stream ("r"); NULL with errno set. */
FILE *fio_fopen_read(const char *path);

/* Open a regular file for writing in place (not atomic: for files too big
 * to copy, such as a synthesized model, and for logs opened to append).
 * flags: O_WRONLY or O_RDWR, with O_CREAT, O_TRUNC, O_APPEND as wanted;
 * O_NOFOLLOW and O_CLOEXEC are always added. A non-regular target is
 * refused without being opened for long (a FIFO never blocks, O_TRUNC
 * applies only once the descriptor is known to be a regular file). */
int fio_open_write(const char *path, int flags, mode_t mode);

/* A name beside path that cannot be predicted ("PATH.tmp-<random hex>"),
 * for a temporary the caller creates with O_EXCL; NULL with errno set. */
char *fio_tmp_name(const char *path);

/* Atomic replacement of a file, streamed. */
struct fio_out {
	char *path, *tmp;
	int fd;
	FILE *fp;	/* set by fio_stream() */
};

/* Start writing path (see above); -1 with errno set and nothing created. */
int fio_begin(struct fio_out *o, const char *path);
/* A stdio stream on the temporary file (owned by o); NULL with errno set. */
FILE *fio_stream(struct fio_out *o);
/* Append n bytes; -1 with errno set (the caller then calls fio_abort). */
int fio_write(struct fio_out *o, const void *p, size_t n);
/* Flush, fsync, rename over the target, fsync the directory. Frees o
 * whatever happens; on failure -1 with errno set, the temporary file gone
 * and the old target intact. */
int fio_commit(struct fio_out *o);
/* Remove the temporary file and free o (idempotent). */
void fio_abort(struct fio_out *o);

/* The whole of p[0, n) as the new content of path, atomically. */
int fio_write_file(const char *path, const void *p, size_t n);

#endif
