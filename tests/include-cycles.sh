#!/bin/sh
# include-cycles.sh - no include cycle among engine/'s modules (issue 21:
# a module's header may be read without the modules above it). First
# checks that scripts/include-cycles does see a cycle, a made-up one, so
# that a silent script cannot pass the real check.
set -u
: "${top_srcdir:=.}"
script=$top_srcdir/scripts/include-cycles
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0

mkdir "$tmp/made-up"
printf '#include "b.h"\n' >"$tmp/made-up/a.h"
printf '#include "a.h"\n' >"$tmp/made-up/b.c"
: >"$tmp/made-up/b.h"
if sh "$script" "$tmp/made-up" >"$tmp/out" 2>&1 || ! grep -q "a -> b -> a\|b -> a -> b" "$tmp/out"; then
	echo "FAIL: include-cycles missed a -> b -> a:"; cat "$tmp/out"
	fails=$((fails + 1))
fi

if ! sh "$script" "$top_srcdir/engine" >"$tmp/out" 2>&1; then
	echo "FAIL: include cycles among engine/ modules:"; cat "$tmp/out"
	fails=$((fails + 1))
fi
[ "$fails" -eq 0 ] && echo "ok: no include cycle in engine/"
exit $((fails > 0))
