/* paths.h - where heft keeps its files (the XDG base directories) and
 * making them.
 *
 * Engine and front end ask here, so both pick the same directory for the
 * same environment. */
#ifndef HEFT_PATHS_H
#define HEFT_PATHS_H

#include <sys/types.h>

/* heft's directory under the XDG base directory named by var (e.g.
 * "XDG_CACHE_HOME"): $var/heft when $var is an absolute path, else
 * $HOME/home_rel/heft (the spec: a relative value is ignored). NULL when
 * neither is usable. Caller frees. */
char *xdg_heft_dir(const char *var, const char *home_rel);

/* $XDG_CACHE_HOME/heft or ~/.cache/heft (NULL: no HOME either). */
char *heft_cache_dir(void);

/* mkdir -p: create dir and its missing parents with mode. 0, or -1 with
 * errno set (from the level that failed; ENOTDIR when dir itself is there
 * but not a directory). */
int mkdir_p(const char *dir, mode_t mode);

#endif
