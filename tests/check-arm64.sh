#!/bin/sh
# check-arm64.sh - cross-build heft for AArch64 Linux and run its tests
# under qemu-user: the unit tests, the SIMD-vs-reference tests on each path
# (neon on a Cortex-A53 model, which lacks dotprod; dotprod on qemu's "max"
# CPU) and the parity suite on the fixtures with the kernels the CPU picks,
# plus --mem min streaming bitwise equal to in-RAM, and the eval output of
# every fixture on both paths byte for byte equal to the native x86 engine's.
#
#   tests/check-arm64.sh [STEP...]     steps: build unit simd parity x86 (default: all)
#
# The build is a copy of the source tree (tracked files, as they are in the
# work tree) configured with --host=aarch64-linux-gnu in $HEFT_ARM64_DIR
# (default build-arm64 next to the sources): the source directory itself
# may be configured for the native build, which a VPATH build refuses.
# Needs gcc-aarch64-linux-gnu, qemu-user and the arm64 -dev packages
# (multiarch; see docs/porting.md). Exit 77 (skip) when they are missing,
# saying which; 1 when a test fails. Environment: HEFT_FIXTURES,
# HEFT_ARM64_DIR, HEFT_ARM64_JOBS (make -j, default 2), HEFT_PARITY_FAMILIES,
# HEFT_X86_ENGINE (the native engine the x86 step compares with; default
# heft-engine in the source tree, the step is skipped without one).
set -u

src=$(cd "$(dirname "$0")/.." && pwd)
dir=${HEFT_ARM64_DIR:-$src/build-arm64}
host=aarch64-linux-gnu
# The arm64 libraries the -dev:arm64 packages pulled in (libc6:arm64, with
# /lib/ld-linux-aarch64.so.1) must come with their own loader: under
# /usr/$host sits libc6-arm64-cross's glibc, and a loader of one build with
# the libc of another hangs in the first pthread_create.
sysroot=/usr/$host
[ -e /lib/ld-linux-aarch64.so.1 ] && sysroot=/
jobs=${HEFT_ARM64_JOBS:-2}
steps=${*:-build unit simd parity x86}

say() { echo "check-arm64: $*"; }

HEFT_FIXTURES=${HEFT_FIXTURES:-$src/../shared/fixtures}
export HEFT_FIXTURES

missing=""
command -v $host-gcc >/dev/null 2>&1 || missing="$missing gcc-$host"
command -v qemu-aarch64 >/dev/null 2>&1 || missing="$missing qemu-user"
command -v autoreconf >/dev/null 2>&1 || missing="$missing autoconf automake"
pc=/usr/lib/$host/pkgconfig
for m in ncursesw libpcre2-8 libedit jansson libmicrohttpd libcurl; do
	[ -f "$pc/$m.pc" ] || missing="$missing $m(arm64)"
done
if [ -n "$missing" ]; then
	say "cannot cross-build for AArch64: missing$missing"
	say "install: dpkg --add-architecture arm64 && apt-get update && apt-get install gcc-$host qemu-user" \
		"libncurses-dev:arm64 libpcre2-dev:arm64 libedit-dev:arm64 libjansson-dev:arm64 liburing-dev:arm64" \
		"libmicrohttpd-dev:arm64 libcurl4-openssl-dev:arm64"
	exit 77
fi

# qemu-user runs one AArch64 program; the CPU model decides what HWCAP says.
mkdir -p "$dir" || exit 99
qemu_wrapper() { # NAME CPU: a script that runs its arguments on that CPU
	cat >"$dir/$1" <<EOF
#!/bin/sh
exec qemu-aarch64 -L $sysroot -cpu \${HEFT_QEMU_CPU:-$2} "\$@"
EOF
	chmod +x "$dir/$1"
}
qemu_wrapper qemu-max max
qemu_wrapper qemu-a53 cortex-a53
# The ARM programs the shell tests and test-session start, through qemu.
for prog in heft-engine tests/refcmp; do
	cat >"$dir/${prog#tests/}" <<EOF
#!/bin/sh
exec "$dir/qemu-max" "$dir/src/$prog" "\$@"
EOF
	chmod +x "$dir/${prog#tests/}"
done

# Copy the tracked files whose content changed (cp -p keeps timestamps, so
# make rebuilds only what changed); the generated autotools files come from
# autoreconf in the copy.
copy_tree() {
	mkdir -p "$dir/src"
	if [ -d "$src/.git" ] || [ -f "$src/.git" ]; then
		(cd "$src" && git ls-files --cached --others --exclude-standard) >"$dir/files"
	else
		(cd "$src" && find . -path ./build-arm64 -prune -o -type f -print) >"$dir/files"
	fi
	while IFS= read -r f; do
		[ -f "$src/$f" ] || continue
		if ! cmp -s "$src/$f" "$dir/src/$f"; then
			mkdir -p "$dir/src/$(dirname "$f")"
			cp -p "$src/$f" "$dir/src/$f" || return 1
		fi
	done <"$dir/files"
}

build() {
	t0=$(date +%s)
	copy_tree || { say "copying the tree failed"; return 1; }
	cd "$dir/src" || return 1
	if [ ! -x configure ] || [ configure.ac -nt configure ] || [ Makefile.am -nt Makefile.in ]; then
		autoreconf -fi >"$dir/autoreconf.log" 2>&1 || { cat "$dir/autoreconf.log"; return 1; }
	fi
	if [ ! -f Makefile ] || [ configure -nt config.status ]; then
		PKG_CONFIG_LIBDIR=$pc:/usr/share/pkgconfig PKG_CONFIG=pkg-config \
			./configure --host=$host >"$dir/configure.log" 2>&1 ||
			{ tail -n 30 "$dir/configure.log"; return 1; }
	fi
	# The binaries and every check program (make check's, without running them).
	make -j"$jobs" all >"$dir/make.log" 2>&1 &&
		make -j"$jobs" check TESTS= >>"$dir/make.log" 2>&1 ||
		{ grep -E 'error|warning' "$dir/make.log" | head -n 30; tail -n 20 "$dir/make.log"; return 1; }
	if grep -q 'warning:' "$dir/make.log"; then
		grep 'warning:' "$dir/make.log" | head -n 20
		say "the AArch64 build has warnings"
		return 1
	fi
	say "build: $(file -b heft-engine | cut -d, -f1-2) in $(($(date +%s) - t0)) s"
	cd "$src" || return 1
}

# The C unit tests (not the shell tests: they run the native programs, or a
# terminal), through the automake harness with qemu as the log compiler.
unit() {
	cd "$dir/src" || return 1
	list=$(sed -n 's/^TESTS += //p; s/^	\(tests\/[^ ]*\).*\\$/\1/p' Makefile.am | tr ' ' '\n' |
		grep -E '^tests/test-[a-z0-9-]+$' | grep -v -e test-sanitize -e test-simd | tr '\n' ' ')
	t0=$(date +%s)
	make check TESTS="$list" LOG_COMPILER="$dir/qemu-max" \
		TESTS_ENVIRONMENT="HEFT_ENGINE=$dir/heft-engine; export HEFT_ENGINE;" >"$dir/unit.log" 2>&1
	rc=$?
	grep -E '^(PASS|FAIL|SKIP|ERROR|XFAIL|XPASS):' "$dir/unit.log"
	say "unit tests under qemu (max): $(grep -c '^PASS:' "$dir/unit.log") passed," \
		"$(grep -c -E '^(FAIL|ERROR|XPASS):' "$dir/unit.log") failed in $(($(date +%s) - t0)) s"
	cd "$src" || return 1
	return $rc
}

# test-simd: every path against the reference, and the table quant_init()
# picks on each CPU model and HEFT_SIMD level.
simd() {
	rc=0
	for run in "a53 auto" "max auto" "max neon" "max none"; do
		set -- $run
		lvl=$2
		[ "$lvl" = auto ] && lvl=
		out=$(HEFT_SIMD=$lvl "$dir/qemu-$1" "$dir/src/tests/test-simd" 2>&1)
		st=$?
		echo "$out" | grep -E 'FAIL|active table|^(neon|dotprod)|skipped' | sed "s/^/  [$run] /"
		if [ $st -ne 0 ] && [ $st -ne 77 ]; then
			echo "$out" | tail -n 20
			rc=1
		fi
		say "test-simd on $1, HEFT_SIMD=${lvl:-auto}: exit $st"
	done
	return $rc
}

# The parity suite on both paths: dotprod (qemu's max CPU) and neon (a
# Cortex-A53), with parity.sh's own known deviations: the NEON kernels sum
# floats in the x86 kernels' order, so the AArch64 engine gives the x86
# engine's bytes (the x86 step checks it) and deviates where it does.
parity() {
	rc=0
	for cpu in max a53; do
		t0=$(date +%s)
		cat >"$dir/heft-engine-$cpu" <<EOF
#!/bin/sh
exec "$dir/qemu-$cpu" "$dir/src/heft-engine" "\$@"
EOF
		chmod +x "$dir/heft-engine-$cpu"
		HEFT_ENGINE="$dir/heft-engine-$cpu" REFCMP="$dir/refcmp" HEFT_PARITY_OUT="$dir/parity-$cpu.md" \
			top_srcdir="$src" sh "$src/tests/parity.sh" >"$dir/parity-$cpu.log" 2>&1 || rc=1
		grep -E '^Kernels|FAIL|known deviation' "$dir/parity-$cpu.log"
		say "parity under qemu ($cpu): $([ $rc = 0 ] && echo passed || echo FAILED) in" \
			"$(($(date +%s) - t0)) s (table: $dir/parity-$cpu.md)"
	done
	t0=$(date +%s)
	HEFT_ENGINE="$dir/heft-engine" top_srcdir="$src" sh "$src/tests/stream-bitwise.sh" >"$dir/stream.log" 2>&1
	st=$?
	tail -n 2 "$dir/stream.log"
	[ $st -eq 0 ] || [ $st -eq 77 ] || rc=1
	say "stream-bitwise (--mem min against in-RAM) under qemu: exit $st in $(($(date +%s) - t0)) s"
	return $rc
}

# The eval output (logits, greedy tokens) of every fixture with a token
# sequence, on both CPU models, against the native x86 engine: byte for
# byte, as the NEON kernels round as the x86 ones (kernels-neon.h). Only
# when that engine runs here with its AVX-512 kernels (an x86 host that
# built the tree natively).
x86() {
	x86eng=${HEFT_X86_ENGINE:-$src/heft-engine}
	if ! [ -x "$x86eng" ] || ! file -b "$x86eng" | grep -q x86-64 || ! "$x86eng" --version >/dev/null 2>&1; then
		say "x86 step skipped: no native engine at $x86eng (build the tree natively, or set HEFT_X86_ENGINE)"
		return 0
	fi
	# F32/F16/BF16 and SiLU follow the AVX-512 kernels (AVX2 sums them otherwise)
	if ! "$x86eng" --version 2>/dev/null | grep -q 'kernels: avx512'; then
		say "x86 step skipped: the NEON kernels round as the AVX-512 ones; $x86eng runs $("$x86eng" --version 2>&1 | head -n 1)"
		return 0
	fi
	t0=$(date +%s)
	rc=0 same=0 differ=0
	for ref in "$HEFT_FIXTURES"/refs/*.ref; do
		[ -f "$ref" ] || continue
		name=$(basename "$ref" .ref)
		model=$HEFT_FIXTURES/models/$(sed -n 's/^model //p' "$ref" | head -n 1)
		tokens=$(sed -n 's/^tokens [0-9]* *//p' "$ref" | head -n 1 | tr ' ' ',')
		greedy=$(sed -n 's/^greedy \([0-9]*\).*/\1/p' "$ref" | head -n 1)
		[ -f "$model" ] && [ -n "$tokens" ] || continue
		"$x86eng" eval "$model" --tokens "$tokens" --greedy "${greedy:-0}" --out "$dir/x86.out" 2>/dev/null ||
			{ say "x86 engine failed on $name"; rc=1; continue; }
		for cpu in max a53; do
			"$dir/qemu-$cpu" "$dir/src/heft-engine" eval "$model" --tokens "$tokens" --greedy "${greedy:-0}" \
				--out "$dir/arm.out" 2>/dev/null
			if cmp -s "$dir/x86.out" "$dir/arm.out"; then
				same=$((same + 1))
			else
				say "DIFFER: $name ($cpu)"
				differ=$((differ + 1))
				rc=1
			fi
		done
	done
	[ $((same + differ)) -gt 0 ] || { say "x86 step: no fixtures in $HEFT_FIXTURES"; return 0; }
	say "eval bytes against $x86eng: $same equal, $differ differ (fixtures x CPU models) in $(($(date +%s) - t0)) s"
	return $rc
}

status=0
for step in $steps; do
	case $step in
	build | unit | simd | parity | x86) $step || status=1 ;;
	*) say "unknown step $step (build unit simd parity x86)"; exit 99 ;;
	esac
	if [ $status -ne 0 ] && [ "$step" = build ]; then
		say "build failed"
		exit 1
	fi
done
[ $status -eq 0 ] && say "all passed" || say "FAILED"
exit $status
