/* test-fileio.c - reads refuse what is not a regular file without blocking;
 * writes leave devices, FIFOs and symlink targets alone, are 0600 and keep
 * the old file when they fail. */
#include "fileio.h"
#include "util.h"
#include "test.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

static char dir[] = "/tmp/test-fileio.XXXXXX";

static char *at(const char *name)
{
	static char p[4][256];
	static int k;
	k = (k + 1) % 4;
	snprintf(p[k], sizeof p[k], "%s/%s", dir, name);
	return p[k];
}

static void on_alarm(int sig)
{
	(void)sig;
	static const char m[] = "test-fileio: blocked on a FIFO\n";
	ssize_t r = write(2, m, sizeof m - 1);
	(void)r;
	_exit(1);
}

static bool has_content(const char *path, const char *want)
{
	size_t n;
	char *s = read_file(path, &n, 1 << 20);
	bool ok = s && n == strlen(want) && memcmp(s, want, n) == 0;
	free(s);
	return ok;
}

/* Files in dir other than the ones a test made: a temporary left behind. */
static int n_entries(void)
{
	DIR *d = opendir(dir);
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d)))
		n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
	closedir(d);
	return n;
}

static void put(const char *path, const char *s, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
	CHECK(fd >= 0 && write_full(fd, s, strlen(s)) == (int64_t)strlen(s));
	close(fd);
	chmod(path, mode);
}

static void test_read(void)
{
	CHECK(mkfifo(at("fifo"), 0600) == 0);
	alarm(10);
	errno = 0;
	CHECK(fio_open_read(at("fifo")) < 0 && errno == FIO_ENOTREG);
	CHECK(fio_fopen_read(at("fifo")) == NULL && errno == FIO_ENOTREG);
	CHECK(read_file(at("fifo"), NULL, 100) == NULL && errno == FIO_ENOTREG);
	alarm(0);
	CHECK(strcmp(fio_strerror(FIO_ENOTREG), "not a regular file") == 0);
	CHECK(fio_open_read("/dev/null") < 0 && errno == FIO_ENOTREG);
	CHECK(fio_open_read(dir) < 0 && errno == FIO_ENOTREG);
	CHECK(fio_open_read(at("missing")) < 0 && errno == ENOENT);

	put(at("plain"), "hello", 0644);
	int fd = fio_open_read(at("plain"));
	CHECK(fd >= 0);
	if (fd >= 0) {
		char b[8];
		CHECK(read(fd, b, sizeof b) == 5); /* blocking again, reads fine */
		CHECK((fcntl(fd, F_GETFL) & O_NONBLOCK) == 0);
		CHECK((fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0);
		close(fd);
	}
	unlink(at("plain"));
}

static void test_special_targets(void)
{
	/* a FIFO target: refused, still a FIFO, nothing created beside it */
	int before = n_entries();
	alarm(10);
	CHECK(fio_write_file(at("fifo"), "x", 1) < 0 && errno == FIO_ENOTREG);
	CHECK(fio_open_write(at("fifo"), O_WRONLY | O_CREAT | O_TRUNC, 0600) < 0 && errno == FIO_ENOTREG);
	alarm(0);
	struct stat st;
	CHECK(lstat(at("fifo"), &st) == 0 && S_ISFIFO(st.st_mode));
	CHECK(n_entries() == before);

	/* a device node of our own (needs CAP_MKNOD; a FIFO covers the rest) */
	if (mknod(at("null"), S_IFCHR | 0600, makedev(1, 3)) == 0) {
		CHECK(fio_write_file(at("null"), "x", 1) < 0 && errno == FIO_ENOTREG);
		CHECK(lstat(at("null"), &st) == 0 && S_ISCHR(st.st_mode));
		unlink(at("null"));
	}
	CHECK(fio_write_file(dir, "x", 1) < 0 && errno == FIO_ENOTREG);
	/* a symlink to a FIFO is refused too: what it names is not a file */
	CHECK(symlink(at("fifo"), at("link")) == 0);
	CHECK(fio_write_file(at("link"), "x", 1) < 0 && errno == FIO_ENOTREG);
	CHECK(lstat(at("link"), &st) == 0 && S_ISLNK(st.st_mode));
	unlink(at("link"));
}

static void test_mode_and_content(void)
{
	put(at("old"), "old content\n", 0644);
	CHECK(fio_write_file(at("old"), "new\n", 4) == 0);
	struct stat st;
	CHECK(stat(at("old"), &st) == 0 && (st.st_mode & 07777) == 0600);
	CHECK(has_content(at("old"), "new\n"));

	/* streamed, through stdio */
	struct fio_out o;
	CHECK(fio_begin(&o, at("stream")) == 0);
	FILE *fp = fio_stream(&o);
	CHECK(fp != NULL);
	for (int i = 0; i < 1000; i++)
		fprintf(fp, "%d\n", i);
	CHECK(!has_content(at("stream"), "0\n")); /* nothing visible before commit */
	CHECK(fio_commit(&o) == 0);
	size_t n;
	char *s = read_file(at("stream"), &n, 1 << 20);
	CHECK(s && strncmp(s, "0\n1\n2\n", 6) == 0 && strstr(s, "\n999\n"));
	free(s);

	/* abort leaves the old file and no temporary */
	int before = n_entries();
	CHECK(fio_begin(&o, at("old")) == 0);
	CHECK(fio_write(&o, "half", 4) == 0);
	fio_abort(&o);
	CHECK(has_content(at("old"), "new\n"));
	CHECK(n_entries() == before);
	unlink(at("stream"));
	unlink(at("old"));
}

/* The temporary name cannot be guessed: two writes use two names, and a
 * symlink planted at the old scheme's names is never written through. */
static void test_planted_symlink(void)
{
	put(at("secret"), "keep me", 0600);
	char name[64];
	snprintf(name, sizeof name, "target.tmp%ld", (long)getpid());
	CHECK(symlink(at("secret"), at(name)) == 0);
	CHECK(symlink(at("secret"), at("target.tmp")) == 0);
	struct fio_out a, b;
	CHECK(fio_begin(&a, at("target")) == 0);
	CHECK(fio_begin(&b, at("target")) == 0);
	CHECK(a.tmp && b.tmp && strcmp(a.tmp, b.tmp) != 0);
	fio_abort(&b);
	/* a symlink planted at the exact name chosen: O_EXCL|O_NOFOLLOW refuses */
	char *tmp = xstrdup(a.tmp);
	fio_abort(&a);
	CHECK(symlink(at("secret"), tmp) == 0);
	errno = 0;
	int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0600);
	CHECK(fd < 0 && errno == EEXIST);
	unlink(tmp);
	free(tmp);
	CHECK(fio_write_file(at("target"), "data", 4) == 0);
	CHECK(has_content(at("secret"), "keep me"));
	CHECK(has_content(at("target"), "data"));
	unlink(at(name));
	unlink(at("target.tmp"));
	unlink(at("target"));
	unlink(at("secret"));

	/* in-place writes refuse a symlink rather than write through it */
	put(at("secret"), "keep me", 0600);
	CHECK(symlink(at("secret"), at("big")) == 0);
	CHECK(fio_open_write(at("big"), O_WRONLY | O_CREAT | O_TRUNC, 0644) < 0);
	CHECK(has_content(at("secret"), "keep me"));
	unlink(at("big"));
	unlink(at("secret"));
}

/* A write that fails midway (file size limit: EFBIG, as a full disk gives
 * ENOSPC) leaves the old file as it was and no temporary behind. */
static void test_failed_write(void)
{
	put(at("precious"), "the old, good file\n", 0644);
	int before = n_entries();
	struct rlimit old, lim;
	getrlimit(RLIMIT_FSIZE, &old);
	lim = old;
	lim.rlim_cur = 4096;
	signal(SIGXFSZ, SIG_IGN);
	CHECK(setrlimit(RLIMIT_FSIZE, &lim) == 0);
	char *big = xmalloc(100000);
	memset(big, 'z', 100000);
	errno = 0;
	CHECK(fio_write_file(at("precious"), big, 100000) < 0 && errno == EFBIG);

	struct fio_out o;
	CHECK(fio_begin(&o, at("precious")) == 0);
	FILE *fp = fio_stream(&o);
	fwrite(big, 1, 100000, fp); /* stdio may buffer the failure */
	CHECK(fio_commit(&o) < 0);
	setrlimit(RLIMIT_FSIZE, &old);
	signal(SIGXFSZ, SIG_DFL);
	free(big);
	CHECK(has_content(at("precious"), "the old, good file\n"));
	struct stat st;
	CHECK(stat(at("precious"), &st) == 0 && (st.st_mode & 07777) == 0644);
	CHECK(n_entries() == before);
	unlink(at("precious"));
}

static void test_open_write(void)
{
	put(at("log"), "line 1\n", 0600);
	int fd = fio_open_write(at("log"), O_WRONLY | O_CREAT | O_APPEND, 0600);
	CHECK(fd >= 0 && write_full(fd, "line 2\n", 7) == 7);
	close(fd);
	CHECK(has_content(at("log"), "line 1\nline 2\n"));
	fd = fio_open_write(at("log"), O_WRONLY | O_CREAT | O_TRUNC, 0600);
	CHECK(fd >= 0 && (fcntl(fd, F_GETFL) & O_NONBLOCK) == 0);
	close(fd);
	CHECK(has_content(at("log"), ""));
	unlink(at("log"));
}

int main(void)
{
	signal(SIGALRM, on_alarm);
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	test_read();
	test_special_targets();
	test_mode_and_content();
	test_planted_symlink();
	test_failed_write();
	test_open_write();
	unlink(at("fifo"));
	CHECK(n_entries() == 0);
	rmdir(dir);
	return test_done("test-fileio");
}
