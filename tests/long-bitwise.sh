#!/bin/sh
# long-bitwise.sh - two heft-engine binaries give the same bytes on long
# prompts: `eval --out` of a 300-token prompt, in chunks of 100 and in one,
# on one fixture model per architecture (and any models named after the
# binaries). eval-bitwise.sh's prompts are 32 tokens; attention blocks its
# positions by 64 and sliding windows need more, so this covers what those
# miss:
#
#   tests/long-bitwise.sh OLD-ENGINE NEW-ENGINE [MODEL...]
#
# Environment: HEFT_FIXTURES (default ../shared/fixtures), LEN (prompt
# tokens, 300). Exit 0 when every output is equal, 1 otherwise.
set -u
old=${1:?usage: long-bitwise.sh OLD-ENGINE NEW-ENGINE [MODEL...]}
new=${2:?usage: long-bitwise.sh OLD-ENGINE NEW-ENGINE [MODEL...]}
shift 2
fixtures=${HEFT_FIXTURES:-$(dirname "$0")/../../shared/fixtures}
LEN=${LEN:-300}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/heft-long.XXXXXX") || exit 2
trap 'rm -rf "$tmp"' EXIT INT TERM

# a fixed pseudo-random prompt of ids below 256 (every fixture vocab is larger)
tokens=$(awk -v n="$LEN" 'BEGIN { x = 7; for (i = 0; i < n; i++) { x = (x * 1103 + 12345) % 65536;
	printf "%s%d", i ? "," : "", 1 + x % 255 } }')

same=0 differ=0
models=
for m in llama-F16 llama-Q4_K_M qwen3moe-Q4_K_M deepseek2-F16 glm4moe-Q4_K_M gpt-oss-MXFP4_MOE mixtral-Q4_K_S; do
	[ -f "$fixtures/models/$m.gguf" ] && models="$models $fixtures/models/$m.gguf"
done
for model in $models "$@"; do
	for batch in 100 512; do
		for side in old new; do
			eval "bin=\$$side"
			"$bin" eval "$model" --tokens "$tokens" --greedy 4 -b "$batch" --ctx 1024 \
				--out "$tmp/$side" 2>"$tmp/$side.err" || echo "failed: $(tail -n 1 "$tmp/$side.err")" >"$tmp/$side"
		done
		if grep -q '^failed: ' "$tmp/new" 2>/dev/null; then
			differ=$((differ + 1))
			echo "FAILED: $(basename "$model") -b $batch: $(sed 's/^failed: //' "$tmp/new")"
		elif cmp -s "$tmp/old" "$tmp/new"; then
			same=$((same + 1))
		else
			differ=$((differ + 1))
			echo "DIFFER: $(basename "$model") -b $batch"
		fi
	done
done
echo "long-bitwise: $same equal, $differ differ"
[ "$differ" = 0 ]
