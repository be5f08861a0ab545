#!/bin/sh
# kernels-ab.sh - a revision's single-row x86 kernels (vec_dot) against the
# built tree's: bit for bit, and GB/s in cache in one process (a tool, not a
# test; deterministic enough on a loaded machine, where wall-clock decode
# A/B is not).
#
#   tests/bench/kernels-ab.sh [REV [COLS]]     (default main, 4096)
#
# Run from a built tree (make). Exits 1 if any product differs.
set -eu
rev=${1:-main}
cols=${2:-4096}
cd "$(dirname "$0")/../.."
tmp=$(mktemp -d "${TMPDIR:-/tmp}/heft-kab.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM
for f in kernels-avx2.c kernels-avx512.c kernels-x86.h kernels-bytes.h; do
	git show "$rev:engine/$f" >"$tmp/$f" 2>/dev/null || : # kernels-bytes.h is newer than some revisions
done
I="-I$tmp -I. -Iengine -Isrc -DHAVE_CONFIG_H"
cc=${CC:-cc}
$cc -O2 -mavx2 -mfma -mf16c $I -Dkernels_avx2_install=old_avx2_install -Dkernels_avxvnni_install=old_avxvnni_install -c "$tmp/kernels-avx2.c" -o "$tmp/old2.o"
$cc -O2 -mavx512f -mavx512bw -mavx512vl -mavx512dq -mavx512vnni -mfma -mf16c $I \
	-Dkernels_avx512_install=old_avx512_install -c "$tmp/kernels-avx512.c" -o "$tmp/old512.o"
$cc -O2 -Iengine -Isrc -I. -DHAVE_CONFIG_H -c tests/bench/kernels-ab.c -o "$tmp/ab.o"
$cc -o "$tmp/kernels-ab" "$tmp/ab.o" "$tmp/old2.o" "$tmp/old512.o" libheft-engine.a libheft-kernels-avx512.a \
	libheft-kernels-avx2.a libheft-kernels-dotprod.a libheft-kernels-neon.a libheft-common.a \
	-lpcre2-8 -ljansson -luring -lm -lpthread
"$tmp/kernels-ab" "$cols"
