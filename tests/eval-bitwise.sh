#!/bin/sh
# eval-bitwise.sh - two heft-engine binaries give the same bytes: `eval --out`
# on every fixture model with a reference (its tokens and greedy count), and
# `synth` of every architecture and preset at a fixed seed. Used to prove a
# refactor changes no behaviour:
#
#   tests/eval-bitwise.sh OLD-ENGINE NEW-ENGINE
#
# (OLD-ENGINE: a binary built from the commit before the change.)
# Environment: HEFT_FIXTURES (default ../shared/fixtures), HEFT_BITWISE_ARGS
# (extra eval options). Exit 0 when every output is equal, 1 otherwise.
set -u
old=${1:?usage: eval-bitwise.sh OLD-ENGINE NEW-ENGINE}
new=${2:?usage: eval-bitwise.sh OLD-ENGINE NEW-ENGINE}
fixtures=${HEFT_FIXTURES:-$(dirname "$0")/../../shared/fixtures}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/heft-bitwise.XXXXXX") || exit 2
trap 'rm -rf "$tmp"' EXIT INT TERM

same=0 differ=0
check() { # name
	if cmp -s "$tmp/old" "$tmp/new"; then
		same=$((same + 1))
	else
		differ=$((differ + 1))
		echo "DIFFER: $1"
	fi
}

for ref in "$fixtures"/refs/*.ref; do
	[ -f "$ref" ] || continue
	name=$(basename "$ref" .ref)
	model=$fixtures/models/$(sed -n 's/^model //p' "$ref" | head -n 1)
	[ -f "$model" ] || continue
	tokens=$(sed -n 's/^tokens [0-9]* *//p' "$ref" | head -n 1 | tr ' ' ',')
	greedy=$(sed -n 's/^greedy \([0-9]*\).*/\1/p' "$ref" | head -n 1)
	if [ -n "$tokens" ]; then
		set -- --tokens "$tokens" --greedy "${greedy:-0}"
	else # end-to-end refs: the text prompt
		prompt=$(sed -n 's/^prompt //p' "$ref" | head -n 1)
		set -- -p "$prompt" --greedy "${greedy:-8}"
	fi
	for side in old new; do
		eval "bin=\$$side"
		# shellcheck disable=SC2086
		"$bin" eval "$model" "$@" ${HEFT_BITWISE_ARGS:-} --out "$tmp/$side" 2>"$tmp/$side.err" ||
			cp "$tmp/$side.err" "$tmp/$side"
	done
	check "eval $name"
done

base="--embd 64 --layers 2 --heads 4 --vocab 300 --seed 7"
small="$base --kv-heads 2 --ff 128"
moe="--experts 6 --experts-used 2 --expert-ff 96"
while read -r label args; do
	for side in old new; do
		eval "bin=\$$side"
		# shellcheck disable=SC2086
		if ! "$bin" synth -q $args -o "$tmp/$side" 2>"$tmp/$side.err"; then
			echo "FAILED: synth $label ($side): $(head -n 1 "$tmp/$side.err")"
			differ=$((differ + 1))
			continue 2
		fi
	done
	check "synth $label"
done <<EOF
llama --arch llama $small
qwen3 --arch qwen3 $small --head-dim 32
qwen3moe --arch qwen3moe $small $moe --type Q4_K
mixtral --arch mixtral $small $moe --type Q8_0
deepseek2 --arch deepseek2 $base --ff 128 $moe --dense-lead 1 --shared-experts 1 --q-lora-rank 32 --kv-lora-rank 16 --head-dim 32 --rope-dim 16 --v-head-dim 32
glm4moe --arch glm4moe $small $moe --dense-lead 1 --shared-experts 1 --nextn 1 --head-dim 32 --rope-dim 16
gpt-oss --arch gpt-oss $base --kv-heads 2 $moe --head-dim 16 --swa 8 --type MXFP4
ds-v3-IQ1_S --like deepseek-v3 --preset UD-IQ1_S --layers 2 --embd 256 --vocab 300 --experts 16 --seed 3
kimi-IQ2_XXS --like kimi-k2 --preset UD-IQ2_XXS --layers 2 --embd 256 --vocab 300 --experts 8 --seed 3
glm46-Q4_K_M --like glm-4.6 --preset Q4_K_M --layers 2 --embd 256 --vocab 300 --experts 8 --seed 3
gptoss-MXFP4 --like gpt-oss-120b --preset MXFP4_MOE --layers 2 --embd 256 --vocab 300 --experts 8 --seed 3
qwen3-235b --like qwen3-235b --type IQ4_XS --layers 2 --embd 256 --vocab 300 --experts 8 --seed 3
EOF

echo "eval-bitwise: $same equal, $differ differ"
[ $differ -eq 0 ] && [ $same -gt 0 ]
