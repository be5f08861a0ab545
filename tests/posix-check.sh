#!/bin/sh
# posix-check.sh - everything outside the platform files compiles with
# strict POSIX.1-2008 feature macros: -D_XOPEN_SOURCE=700 (which is
# _POSIX_C_SOURCE=200809L plus the XSI option that X/Open Curses, wcwidth
# and M_PI need) and no _GNU_SOURCE (the build itself defines it), so a
# GNU- or Linux-only call added anywhere else fails here, naming the file;
# and the Linux-only calls of issue 20, even under #ifdef, are found by
# name outside them (comments aside). The platform files, where
# such calls belong behind their portable fallbacks (docs/porting.md):
platform="src/sysinfo.c engine/iosched.c engine/cpu.c"
# Besides that, only what tests/posix2024.h lets through (memmem,
# vasprintf, MAP_ANONYMOUS, NSIG: on every target, mostly POSIX.1-2024).
# Environment: top_srcdir, top_builddir (for config.h), CC.

srcdir=${top_srcdir:-.}
builddir=${top_builddir:-.}
cc=${CC:-cc}
if [ ! -f "$builddir/config.h" ]; then
	echo "posix-check: no $builddir/config.h (configure first)" >&2
	exit 99
fi
# Only the libraries' include paths: ncursesw's flags define _DEFAULT_SOURCE.
pc=$(pkg-config --cflags-only-I ncursesw libedit jansson libpcre2-8 2>/dev/null)

tmp=$(mktemp -d "${TMPDIR:-/tmp}/heft-posix.XXXXXX") || exit 99
trap 'rm -rf "$tmp"' EXIT INT TERM

checked=0
failed=0
for f in "$srcdir"/src/*.c "$srcdir"/engine/*.c "$srcdir"/tui/*.c; do
	rel=${f#"$srcdir"/}
	skip=no
	for p in $platform; do [ "$p" = "$rel" ] && skip=yes; done
	[ $skip = yes ] && continue
	# shellcheck disable=SC2086 # pc is a flag list
	if ! $cc -std=c11 -fsyntax-only -U_GNU_SOURCE -D_XOPEN_SOURCE=700 \
		-include "$builddir/config.h" -include "$srcdir/tests/posix2024.h" \
		-I"$srcdir/src" -I"$srcdir/engine" -I"$srcdir/tui" $pc \
		-Werror=implicit-function-declaration -Werror=implicit-int \
		"$f" 2>"$tmp/err"; then
		echo "posix-check: $rel uses something outside POSIX.1-2008:"
		grep -E 'error' "$tmp/err" | head -n 5 | sed 's/^/  /'
		failed=$((failed + 1))
	fi
	checked=$((checked + 1))
done

# An #ifdef keeps a Linux-only call out of the compile above but not out of
# the file: the calls issue 20 lists (and their macros) must appear only in
# the platform files, wherever guarded. Comments do not count.
linux_only='\bO_DIRECT\b|io_uring_|liburing|posix_fadvise|madvise|MADV_|"/proc/|"/sys/|getauxval|AT_HWCAP|sched_[gs]etaffinity|pthread_barrier|POLLRDHUP|F_NOCACHE|F_RDADVISE|fallocate|FALLOC_FL_|pipe2'
used=0
for f in "$srcdir"/src/*.[ch] "$srcdir"/engine/*.[ch] "$srcdir"/tui/*.[ch]; do
	rel=${f#"$srcdir"/}
	skip=no
	for p in $platform; do [ "$p" = "$rel" ] && skip=yes; done
	[ $skip = yes ] && continue
	hits=$(sed -e 's|/\*.*\*/||g' -e 's|//.*||' -e 's|^[[:space:]]*/\*.*||' -e 's|^[[:space:]]*\*.*||' "$f" | grep -nE "$linux_only")
	if [ -n "$hits" ]; then
		echo "posix-check: $rel uses a Linux-only call outside the platform files:"
		echo "$hits" | head -n 5 | sed 's/^/  /'
		used=$((used + 1))
	fi
done
echo "posix-check: $checked files outside the platform files ($platform), $failed not strict POSIX, $used with a Linux-only call"
[ $failed -eq 0 ] && [ $used -eq 0 ]
