/* paths.c - XDG base directories and mkdir -p. */
#include "paths.h"

#include "util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

char *xdg_heft_dir(const char *var, const char *home_rel)
{
	const char *base = getenv(var), *home = getenv("HOME");
	char *dir;
	if (base && *base == '/')
		xasprintf(&dir, "%s/heft", base);
	else if (home && *home)
		xasprintf(&dir, "%s/%s/heft", home, home_rel);
	else
		return NULL;
	return dir;
}

char *heft_cache_dir(void)
{
	return xdg_heft_dir("XDG_CACHE_HOME", ".cache");
}

int mkdir_p(const char *dir, mode_t mode)
{
	char *d = xstrdup(dir);
	int rc = 0;
	for (char *s = d + 1; *s && rc == 0; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(d, mode) < 0 && errno != EEXIST)
			rc = -1;
		*s = '/';
	}
	if (rc == 0 && mkdir(d, mode) < 0 && errno != EEXIST)
		rc = -1;
	struct stat st;
	if (rc == 0 && stat(d, &st) < 0) {
		rc = -1;
	} else if (rc == 0 && !S_ISDIR(st.st_mode)) { /* mkdir's EEXIST: a file there */
		errno = ENOTDIR;
		rc = -1;
	}
	int e = errno;
	free(d);
	errno = e;
	return rc;
}
