#!/bin/sh
# stream-bitwise.sh - streamed experts give the same bits as experts in RAM.
#
# For every MoE fixture (qwen3moe, mixtral, deepseek2, glm4moe, gpt-oss in
# $HEFT_FIXTURES/refs, else the copy in tests/data): evaluate the ref's
# tokens and 8 greedy steps with every expert in RAM, then streamed through
# the smallest cache the plan allows (--mem min: nearly every expert a
# miss, layers computed in several waves), then the same on the portable
# fallbacks (HEFT_IO=threads, HEFT_IO_DIRECT=0, HEFT_HUGEPAGES=0: the
# thread-pool reader, buffered reads dropping the page cache, plain pages),
# then through --io mmap, and compare the .ref outputs byte for byte. Each
# model is also run in prompt chunks of 7 tokens (-b 7), in RAM and
# streamed. Any difference fails.
# Environment: HEFT_ENGINE, HEFT_FIXTURES, HEFT_TESTDATA,
# HEFT_STREAM_FAMILIES (default "qwen3moe mixtral deepseek2 glm4moe gpt-oss").

fixtures=${HEFT_FIXTURES:-${top_srcdir:-.}/../shared/fixtures}
engine=${HEFT_ENGINE:-${top_builddir:-.}/heft-engine}
testdata=${HEFT_TESTDATA:-${top_srcdir:-.}/tests/data}
families=${HEFT_STREAM_FAMILIES:-qwen3moe mixtral deepseek2 glm4moe gpt-oss}

if [ -d "$fixtures/refs" ]; then
	refdir=$fixtures/refs
	modeldir=$fixtures/models
else
	echo "stream-bitwise: no fixtures at $fixtures; using the small copy in $testdata"
	refdir=$testdata
	modeldir=$testdata
fi
[ -x "$engine" ] || { echo "stream-bitwise: $engine is not built" >&2; exit 99; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/heft-stream.XXXXXX") || exit 99
trap 'rm -rf "$tmp"' EXIT INT TERM

ref_ids() { sed -n "s/^$2 [0-9]* *//p" "$1" | head -n 1 | tr ' ' ','; }

n_pass=0
n_fail=0
for fam in $families; do
	for ref in "$refdir/$fam"-*.ref; do
		[ -f "$ref" ] || continue
		name=$(basename "$ref" .ref)
		model=$modeldir/$name.gguf
		[ -f "$model" ] || continue
		toks=$(ref_ids "$ref" tokens)
		[ -n "$toks" ] || continue
		run() { # OUT ARGS...
			out=$1
			shift
			"$engine" eval "$model" --tokens "$toks" --greedy 8 --out "$tmp/$out" "$@" 2>"$tmp/err" ||
				{ echo "  $name $*: eval failed: $(tail -n 1 "$tmp/err")"; return 1; }
		}
		ok=yes
		run ram --io ram || ok=no
		run stream --io stream --mem min || ok=no
		(export HEFT_IO=threads HEFT_IO_DIRECT=0 HEFT_HUGEPAGES=0; run portable --io stream --mem min) || ok=no
		run mmap --io mmap || ok=no
		run ram7 --io ram -b 7 || ok=no
		run stream7 --io stream --mem min -b 7 || ok=no
		if [ $ok = yes ]; then
			for v in stream portable mmap; do
				cmp -s "$tmp/ram" "$tmp/$v" || { echo "  $name: --io $v differs from --io ram"; ok=no; }
			done
			cmp -s "$tmp/ram7" "$tmp/stream7" || { echo "  $name -b 7: stream differs from ram"; ok=no; }
		fi
		if [ $ok = yes ]; then
			n_pass=$((n_pass + 1))
			echo "ok   $name"
		else
			n_fail=$((n_fail + 1))
			echo "FAIL $name"
		fi
	done
done
echo "stream-bitwise: $n_pass identical, $n_fail differ"
[ $((n_pass + n_fail)) -gt 0 ] || { echo "stream-bitwise: no MoE fixture found"; exit 77; }
[ $n_fail -eq 0 ]
