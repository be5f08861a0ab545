#!/bin/sh
# llama-peer.sh - build llama.cpp, the measured peer (issue 18), CPU only,
# from a source tree fetched once, at a pinned commit; and our own
# llama-logits (tests/bench/llama-logits.c) against its libllama.
#
#   LLAMA_SRC=/work/llama.cpp tests/bench/llama-peer.sh [build]
#
# Fetches nothing: LLAMA_SRC is a git checkout of llama.cpp (or a fork
# tracking it) that holds LLAMA_COMMIT. Not part of CI; re-running it only
# rebuilds what changed. Prints the directory of the binaries: llama.cpp's
# tools, llama-logits (tests/bench/llama-logits.c) and, when heft is built,
# ggml-kernels (tests/bench/ggml-kernels.c: heft's dot products against
# ggml's, bit for bit).
#
# Environment: LLAMA_SRC (required), LLAMA_COMMIT (d32676d77: the fork
# unslothai/llama.cpp at upstream of 2026-08; CHECK=0 skips the check
# that the tree is at it), LLAMA_BUILD ($LLAMA_SRC/build), JOBS (2),
# NATIVE (ON; OFF with AVX512=OFF gives an AVX2 build for issue 18's
# HEFT_SIMD=avx2 row: NATIVE=OFF AVX2=ON AVX512=OFF LLAMA_BUILD=...),
# NO_AMX (1: build without AMX and AVX512-FP16, the AVX-512 of the issue's
# machine class (AMD EPYC has neither); e.g. NO_AMX=1
# LLAMA_BUILD=$LLAMA_SRC/build-noamx TARGETS=ggml-cpu for a libggml-cpu to put
# on LD_LIBRARY_PATH. Where the kernel does not grant AMX, llama.cpp's AMX
# buffer type crashes its
# repacked path), TARGETS (what to build; default all the tools, among
# them llama-batched-bench, which tests/bench/peer.sh runs: e.g. NATIVE=OFF
# AVX2=ON AVX512=OFF LLAMA_BUILD=$LLAMA_SRC/build-avx2
# TARGETS=llama-batched-bench for its AVX2 row).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
src=${LLAMA_SRC:?set LLAMA_SRC to a llama.cpp checkout}
commit=${LLAMA_COMMIT:-d32676d77}
build=${LLAMA_BUILD:-$src/build}
jobs=${JOBS:-2}

if [ "${CHECK:-1}" != 0 ]; then
	head=$(git -C "$src" rev-parse HEAD)
	want=$(git -C "$src" rev-parse "$commit^{commit}") || {
		echo "llama-peer.sh: $commit is not in $src" >&2
		exit 2
	}
	[ "$head" = "$want" ] || {
		echo "llama-peer.sh: $src is at $head, not $commit (git -C $src checkout $commit, or CHECK=0)" >&2
		exit 2
	}
fi

isa=""
flags=""
[ "${NO_AMX:-0}" = 1 ] && flags="-mno-amx-tile -mno-amx-int8 -mno-amx-bf16 -mno-avx512fp16"
if [ "${NATIVE:-ON}" = OFF ]; then
	isa="-DGGML_AVX=ON -DGGML_AVX2=${AVX2:-ON} -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_AVX512=${AVX512:-OFF}"
fi
# shellcheck disable=SC2086 # $isa is a list of options
nice cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE="${NATIVE:-ON}" $isa \
	-DCMAKE_C_FLAGS="$flags" -DCMAKE_CXX_FLAGS="$flags" \
	-DLLAMA_CURL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_SERVER=OFF -DGGML_CUDA=OFF \
	-DGGML_VULKAN=OFF -DGGML_METAL=OFF >"$build.cmake.log" 2>&1 || {
	echo "llama-peer.sh: cmake failed, see $build.cmake.log" >&2
	exit 1
}
# shellcheck disable=SC2086 # a list of targets
nice cmake --build "$build" -j"$jobs" --target ${TARGETS:-llama llama-quantize llama-bench llama-batched-bench \
	llama-simple llama-eval-callback} >"$build.build.log" 2>&1 || {
	echo "llama-peer.sh: build failed, see $build.build.log" >&2
	exit 1
}

bin=$build/bin
[ -z "${TARGETS:-}" ] || { echo "$bin"; exit 0; }
# our logits dumper, linked against the libllama just built
cc=${CC:-cc}
nice "$cc" -O2 -std=c11 -o "$bin/llama-logits" "$here/llama-logits.c" \
	-I"$src/include" -I"$src/ggml/include" -L"$bin" -lllama -lggml -lggml-base \
	-Wl,-rpath,"$bin" -lm || {
	echo "llama-peer.sh: llama-logits did not build" >&2
	exit 1
}
# heft's kernels against ggml's, when heft is built here (HEFT_BUILD: the
# build directory holding libheft-engine.a; default this tree's top)
top=${HEFT_BUILD:-$here/../..}
if [ -f "$top/libheft-engine.a" ]; then
	if ! nice "$cc" -O2 -std=c11 -I"$here/../../engine" -I"$here/../../src" -I"$top" -c \
		"$here/ggml-kernels-heft.c" -o "$bin/ggml-kernels-heft.o" ||
		! nice "$cc" -O2 -std=c11 -I"$src/ggml/include" -o "$bin/ggml-kernels" "$here/ggml-kernels.c" \
			"$bin/ggml-kernels-heft.o" "$top/libheft-engine.a" "$top"/libheft-kernels-*.a \
			"$top/libheft-common.a" -L"$bin" -lggml-cpu -lggml-base \
			-Wl,-rpath,"$bin" -lm -lpthread; then
		echo "llama-peer.sh: ggml-kernels did not build" >&2
		exit 1
	fi
fi
echo "$bin"
