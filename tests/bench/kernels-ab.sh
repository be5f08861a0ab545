#!/bin/sh
# kernels-ab.sh - a revision's single-row x86 kernels (vec_dot) against the
# built tree's: bit for bit, and GB/s in one process (a tool, not a test;
# deterministic enough on a loaded machine, where wall-clock decode A/B is
# not).
#
#   tests/bench/kernels-ab.sh [REV [COLS [MEM_MIB [THREADS]]]]   (default main, 4096)
#
# REV "." takes the old side from the work tree, so OLD_CFLAGS can vary a
# build constant against the built tree's (the prefetch distance:
# OLD_CFLAGS=-DPREFETCH_AHEAD=2048 tests/bench/kernels-ab.sh . 2048 2048 2).
# Without MEM_MIB the matrix sits in L2; with it, it is MEM_MIB big (make
# that several times the last-level cache: decode reads from RAM), read by
# THREADS threads (default 1). Run from a built tree (make). Exits 1 if any
# product differs.
set -eu
rev=${1:-main}
cols=${2:-4096}
mem=${3:-0}
threads=${4:-1}
cd "$(dirname "$0")/../.."
tmp=$(mktemp -d "${TMPDIR:-/tmp}/heft-kab.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM
for f in kernels-avx2.c kernels-avx512.c kernels-lowbit-avx2.c kernels-lowbit-avx512.c kernels-x86.h kernels-bytes.h; do
	if [ "$rev" = . ]; then
		cp "engine/$f" "$tmp/$f"
	else
		git show "$rev:engine/$f" >"$tmp/$f" 2>/dev/null || : # kernels-bytes.h is newer than some revisions
	fi
done
I="-I$tmp -I. -Iengine -Isrc -DHAVE_CONFIG_H ${OLD_CFLAGS:-}"
cc=${CC:-cc}
A2="-O2 -mavx2 -mfma -mf16c"
A512="-O2 -mavx512f -mavx512bw -mavx512vl -mavx512dq -mavx512vnni -mfma -mf16c"
$cc $A2 $I -Dkernels_avx2_install=old_avx2_install -Dkernels_avxvnni_install=old_avxvnni_install -c "$tmp/kernels-avx2.c" -o "$tmp/old2.o"
$cc $A512 $I -Dkernels_avx512_install=old_avx512_install -c "$tmp/kernels-avx512.c" -o "$tmp/old512.o"
$cc $A2 $I -Dkernels_lowbit_avx2_install=old_lowbit_avx2_install -c "$tmp/kernels-lowbit-avx2.c" -o "$tmp/oldlb2.o"
$cc $A512 $I -Dkernels_lowbit_avx512_install=old_lowbit_avx512_install -c "$tmp/kernels-lowbit-avx512.c" \
	-o "$tmp/oldlb512.o"
$cc -O2 -Iengine -Isrc -I. -DHAVE_CONFIG_H -c tests/bench/kernels-ab.c -o "$tmp/ab.o"
$cc -o "$tmp/kernels-ab" "$tmp/ab.o" "$tmp/old2.o" "$tmp/old512.o" "$tmp/oldlb2.o" "$tmp/oldlb512.o" \
	libheft-engine.a libheft-kernels-avx512.a libheft-kernels-avx2.a libheft-kernels-dotprod.a \
	libheft-kernels-neon.a libheft-common.a -lpcre2-8 -ljansson -luring -lm -lpthread
"$tmp/kernels-ab" "$cols" $mem $threads
