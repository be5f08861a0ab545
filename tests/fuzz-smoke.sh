#!/bin/sh
# fuzz-smoke.sh - a short libFuzzer run on the GGUF reader (tests/fuzz-gguf.c).
# Builds the target with clang -fsanitize=fuzzer,address,undefined from the
# sources, seeds it with the smallest shared fixtures (whole, and cut to their
# header so the fuzzer spends its time on the parser) and runs it for
# ${FUZZ_SECONDS:-60} seconds. Fails on any crash, leak or sanitizer report;
# skips (77) when clang or libFuzzer is missing.
#   FUZZ_SECONDS  run time (default 60)
#   FUZZ_KEEP     set to keep the temporary directory (corpus, crash files)
#   CLANG         compiler (default clang)
set -u
src=${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
fixtures=${HEFT_FIXTURES:-$src/../shared/fixtures}
secs=${FUZZ_SECONDS:-60}
cc=${CLANG:-clang}

command -v "$cc" >/dev/null 2>&1 || { echo "SKIP: $cc not found (install clang for the fuzz smoke test)"; exit 77; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/fuzz-smoke.XXXXXX") || exit 1
[ -n "${FUZZ_KEEP:-}" ] || trap 'rm -rf "$tmp"' EXIT INT TERM

printf 'int LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n) { (void)d; (void)n; return 0; }\n' >"$tmp/probe.c"
if ! "$cc" -fsanitize=fuzzer,address,undefined "$tmp/probe.c" -o "$tmp/probe" >/dev/null 2>&1; then
	echo "SKIP: $cc cannot build with -fsanitize=fuzzer (libFuzzer missing)"
	exit 77
fi

config=
[ -n "${top_builddir:-}" ] && [ -f "$top_builddir/config.h" ] && config="-include $top_builddir/config.h"
# The type table pulls in CPU detection, synth's block fix-ups and the
# per-ISA kernel files, which need their own flags (on other hosts they
# build as empty stubs).
isa2= isa512=
case $(uname -m) in
x86_64|i?86)
	isa2="-mavx2 -mfma -mf16c"
	isa512="-mavx512f -mavx512bw -mavx512vl -mavx512dq -mavx512vnni -mfma -mf16c" ;;
esac
cflags="-std=c17 -D_GNU_SOURCE $config -g -O1 -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined -I$src/src -I$src/engine"
# shellcheck disable=SC2086
if ! { "$cc" $cflags $isa2 -c "$src/engine/kernels-avx2.c" -o "$tmp/k2.o" &&
	"$cc" $cflags $isa2 -c "$src/engine/kernels-lowbit-avx2.c" -o "$tmp/kl2.o" &&
	"$cc" $cflags $isa512 -c "$src/engine/kernels-avx512.c" -o "$tmp/k512.o" &&
	"$cc" $cflags $isa512 -c "$src/engine/kernels-lowbit-avx512.c" -o "$tmp/kl512.o" &&
	"$cc" $cflags -fsanitize=fuzzer "$tmp/k2.o" "$tmp/kl2.o" "$tmp/k512.o" "$tmp/kl512.o" \
	"$src/engine/kernels-neon.c" "$src/engine/kernels-lowbit-neon.c" \
	"$src/engine/kernels-dotprod.c" "$src/engine/kernels-lowbit-dotprod.c" \
	"$src/engine/gguf.c" "$src/engine/quant.c" "$src/engine/quant-table.c" "$src/engine/synth-blocks.c" \
	"$src/engine/quant-lowbit.c" "$src/engine/quant-grids.c" \
	"$src/engine/cpu.c" "$src/src/util.c" "$src/src/fileio.c" "$src/src/sanitize.c" "$src/tests/fuzz-gguf.c" \
	-lm -lpthread -o "$tmp/fuzz-gguf"; } 2>"$tmp/build.log"; then
	cat "$tmp/build.log"
	echo "FAIL: could not build the fuzz target"
	exit 1
fi

# Seeds: the smallest model fixtures and a vocab file, whole and header-only.
mkdir -p "$tmp/corpus"
n=0
if [ -d "$fixtures/models" ]; then
	# fixture names have no spaces; ls -S is the portable way to sort by size
	# shellcheck disable=SC2012
	for f in $(ls -S "$fixtures"/models/*.gguf 2>/dev/null | tail -n 3); do
		b=$(basename "$f" .gguf)
		cp "$f" "$tmp/corpus/$b"
		head -c 16384 "$f" >"$tmp/corpus/$b.hdr"
		n=$((n + 1))
	done
fi
for f in "${HEFT_TESTDATA:-$src/tests/data}"/*.gguf; do
	[ -f "$f" ] || continue
	head -c 16384 "$f" >"$tmp/corpus/$(basename "$f" .gguf).hdr"
	n=$((n + 1))
done
[ "$n" -gt 0 ] || printf 'GGUF\003\000\000\000' >"$tmp/corpus/min"

max_len=0
for f in "$tmp"/corpus/*; do
	s=$(wc -c <"$f")
	[ "$s" -gt "$max_len" ] && max_len=$s
done
max_len=$((max_len + 4096))
set -- "$tmp"/corpus/*
echo "fuzz-smoke: $secs s on $# seeds (max_len $max_len)"
cd "$tmp" || exit 1
"$tmp/fuzz-gguf" -max_total_time="$secs" -max_len="$max_len" -timeout=20 -rss_limit_mb=2048 \
	-print_final_stats=1 -artifact_prefix="$tmp/" "$tmp/corpus" >"$tmp/fuzz.log" 2>&1
st=$?
grep '^stat::\|^Done' "$tmp/fuzz.log"
if [ $st -ne 0 ] || ls "$tmp"/crash-* "$tmp"/leak-* "$tmp"/timeout-* "$tmp"/oom-* >/dev/null 2>&1; then
	# the sanitizer's report, from its first line on
	sed -n '/ERROR: \|runtime error\|deadly signal\|ALARM/,$p' "$tmp/fuzz.log" | head -n 80
	echo "FAIL: the fuzzer found a problem (status $st); rerun with FUZZ_KEEP=1 to keep $tmp"
	for a in "$tmp"/crash-* "$tmp"/leak-* "$tmp"/timeout-* "$tmp"/oom-*; do
		[ -f "$a" ] && [ -n "${FUZZ_KEEP:-}" ] && echo "artifact: $a"
	done
	exit 1
fi
echo "fuzz-smoke: ok"
exit 0
