#!/bin/sh
# chunk-parity.sh - prompt chunk sizes do not change the results (issue 10).
#
# For one or two quantization presets of every family the engine supports
# (models in $HEFT_FIXTURES/models with refs in $HEFT_FIXTURES/refs, plus
# the 160-token qwen3moe-Q8_0-long ref, the only one longer than a chunk
# of 64): evaluate the ref's `tokens` line and 8 greedy steps with prompt
# chunks of -b 1, 7, 64 and 512, and check that
#   - each is within the fixtures' tolerance of llama.cpp's reference
#     (tests/refcmp: NMSE 1e-4 for F16/BF16, 2e-3 quantized; greedy tokens
#     up to the reference's first near-tie),
#   - each is within the same tolerance of the -b 1 run (all 8 greedy
#     tokens, up to a near-tie of that run), and
#   - with the experts streamed through the smallest cache the plan allows
#     (--io stream --mem min; a dense model, which has no experts to
#     stream: --mem min) each is byte for byte the in-RAM run with the
#     same -b.
# Presets: one low-bit and one 8-bit/K-quant per MoE family where the
# fixtures have them, one per dense family (a run takes ~0.1-0.5 s; the
# whole matrix stays under a minute on two cores). HEFT_CHUNK_MODELS
# overrides the list (file stems, e.g. "llama-Q4_0 qwen3moe-F16"), "all"
# takes every ref.
# Environment: HEFT_ENGINE, HEFT_FIXTURES, REFCMP (default tests/refcmp
# next to the engine), HEFT_CHUNK_ARGS (extra eval options, e.g. "-t 1").

fixtures=${HEFT_FIXTURES:-${top_srcdir:-.}/../shared/fixtures}
engine=${HEFT_ENGINE:-${top_builddir:-.}/heft-engine}
refcmp=${REFCMP:-$(dirname "$engine")/tests/refcmp}
[ -x "$refcmp" ] || refcmp=${top_builddir:-.}/tests/refcmp
models=${HEFT_CHUNK_MODELS:-llama-Q4_K_M qwen3-Q8_0 qwen3moe-Q4_K_M qwen3moe-Q8_0-long mixtral-Q8_0
deepseek2-Q4_K_M deepseek2-IQ1_S glm4moe-Q4_K_M glm4moe-IQ3_XXS gpt-oss-MXFP4_MOE gpt-oss-TQ2_0}

if [ ! -d "$fixtures/models" ] || [ ! -d "$fixtures/refs" ]; then
	echo "chunk-parity: no fixtures at $fixtures (set HEFT_FIXTURES); skipping"
	exit 77
fi
for tool in "$engine" "$refcmp"; do
	[ -x "$tool" ] || { echo "chunk-parity: $tool is not built" >&2; exit 99; }
done
if [ "$models" = all ]; then
	models=$(for r in "$fixtures"/refs/*.ref; do basename "$r" .ref; done | grep -v -e -gpt2vocab- -e -spmvocab-)
fi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/heft-chunk.XXXXXX") || exit 99
trap 'rm -rf "$tmp"' EXIT INT TERM

ref_ids() { sed -n "s/^$2 [0-9]* *//p" "$1" | head -n 1 | tr ' ' ','; }

n_pass=0
n_fail=0
n_runs=0
t_start=$(date +%s)
for name in $models; do
	ref=$fixtures/refs/$name.ref
	model=$fixtures/models/$(sed -n 's/^model //p' "$ref" 2>/dev/null | head -n 1)
	if [ ! -f "$ref" ] || [ ! -f "$model" ]; then
		echo "skip $name: no ref or model in $fixtures"
		continue
	fi
	toks=$(ref_ids "$ref" tokens)
	# A dense model has no experts to stream: its smallest budget is the
	# plan's own choice (all in RAM or layers read per token).
	low="--io stream --mem min"
	# shellcheck disable=SC2086 # $low is a word list
	if ! "$engine" eval "$model" --tokens 1 $low >/dev/null 2>"$tmp/err" &&
		grep -q "no routed experts" "$tmp/err"; then
		low="--mem min"
	fi
	ok=yes
	why=
	for b in 1 7 64 512; do
		for io in ram stream; do
			set -- --io ram
			# shellcheck disable=SC2086 # $low is a word list
			[ $io = stream ] && set -- $low
			# shellcheck disable=SC2086 # HEFT_CHUNK_ARGS is a word list
			if ! "$engine" eval "$model" --tokens "$toks" --greedy 8 -b $b --out "$tmp/$io$b" "$@" \
				$HEFT_CHUNK_ARGS 2>"$tmp/err"; then
				ok=no
				why="$why; -b $b --io $io: eval failed: $(tail -n 1 "$tmp/err")"
				continue
			fi
			n_runs=$((n_runs + 1))
		done
		[ -f "$tmp/ram$b" ] || continue
		if ! line=$("$refcmp" "$ref" "$tmp/ram$b"); then
			ok=no
			why="$why; -b $b vs llama.cpp: $line"
		fi
		if [ $b -ne 1 ] && [ -f "$tmp/ram1" ] && ! line=$("$refcmp" "$tmp/ram1" "$tmp/ram$b"); then
			ok=no
			why="$why; -b $b vs -b 1: $line"
		fi
		if [ -f "$tmp/stream$b" ] && ! cmp -s "$tmp/ram$b" "$tmp/stream$b"; then
			ok=no
			why="$why; -b $b: $low differs from --io ram"
		fi
	done
	if [ $ok = yes ]; then
		n_pass=$((n_pass + 1))
		echo "ok   $name: -b 1, 7, 64, 512 within tolerance; $low = --io ram"
	else
		n_fail=$((n_fail + 1))
		echo "FAIL $name$why"
	fi
	rm -f "$tmp"/ram* "$tmp"/stream*
done
echo "chunk-parity: $n_pass models pass, $n_fail fail ($n_runs runs, $(($(date +%s) - t_start)) s)"
[ $((n_pass + n_fail)) -gt 0 ] || { echo "chunk-parity: none of the models found; skipping"; exit 77; }
[ $n_fail -eq 0 ]
