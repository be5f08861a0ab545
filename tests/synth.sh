#!/bin/sh
# synth.sh - `heft-engine synth` writes models that inspect back with the
# shapes asked for: every architecture, every --type, --split, --vocab-from,
# and the same bytes for the same --seed.
set -u
: "${HEFT_ENGINE:?}"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/heft-synth.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

synth() { # out args...
	out=$1
	shift
	"$HEFT_ENGINE" synth -q "$@" -o "$out" 2>"$tmp/err" || { fail "synth $*: $(head -1 "$tmp/err")"; return 1; }
}

# "type shape" of one tensor from the --tensors listing
tensor() { # file name
	"$HEFT_ENGINE" inspect --tensors "$1" | awk -v n="$2" '
		/^tensors$/ { t = 1; next }
		t && $1 == n { s = $3; for (i = 4; $i == "x"; i += 2) s = s " x " $(i + 1); print $2, s; exit }'
}

expect_tensor() { # file name "type shape"
	got=$(tensor "$1" "$2")
	[ "$got" = "$3" ] || fail "$(basename "$1") $2: expected '$3', got '$got'"
}

count_tensors() {
	"$HEFT_ENGINE" inspect "$1" | awk '$1 == "tensors" && NF > 1 { sub(",", "", $2); print $2; exit }'
}

field() { # file label
	"$HEFT_ENGINE" inspect "$1" | awk -v l="$2" 'index($0, "  " l " ") == 1 { sub("^  " l " *", ""); print; exit }'
}

small="--embd 64 --layers 2 --heads 4 --kv-heads 2 --ff 128 --vocab 300"

# each architecture with its own tensors
synth "$tmp/llama.gguf" --arch llama $small && {
	expect_tensor "$tmp/llama.gguf" token_embd.weight "F16 64 x 300"
	expect_tensor "$tmp/llama.gguf" blk.1.attn_q.weight "F16 64 x 64"
	expect_tensor "$tmp/llama.gguf" blk.1.attn_k.weight "F16 64 x 32"
	expect_tensor "$tmp/llama.gguf" blk.0.ffn_down.weight "F16 128 x 64"
	expect_tensor "$tmp/llama.gguf" output.weight "F16 64 x 300"
	[ "$(count_tensors "$tmp/llama.gguf")" = 21 ] || fail "llama: tensor count"
	[ "$(field "$tmp/llama.gguf" architecture)" = llama ] || fail "llama: architecture"
}
synth "$tmp/qwen3.gguf" --arch qwen3 $small --head-dim 32 && {
	expect_tensor "$tmp/qwen3.gguf" blk.0.attn_q.weight "F16 64 x 128"
	expect_tensor "$tmp/qwen3.gguf" blk.0.attn_output.weight "F16 128 x 64"
	expect_tensor "$tmp/qwen3.gguf" blk.0.attn_q_norm.weight "F32 32"
	[ "$(count_tensors "$tmp/qwen3.gguf")" = 25 ] || fail "qwen3: tensor count"
}
synth "$tmp/qwen3moe.gguf" --arch qwen3moe $small --experts 6 --experts-used 2 --expert-ff 96 && {
	expect_tensor "$tmp/qwen3moe.gguf" blk.0.ffn_gate_inp.weight "F32 64 x 6"
	expect_tensor "$tmp/qwen3moe.gguf" blk.0.ffn_gate_exps.weight "F16 64 x 96 x 6"
	expect_tensor "$tmp/qwen3moe.gguf" blk.1.ffn_up_exps.weight "F16 64 x 96 x 6"
	expect_tensor "$tmp/qwen3moe.gguf" blk.1.ffn_down_exps.weight "F16 96 x 64 x 6"
	[ "$(field "$tmp/qwen3moe.gguf" expert_count)" = 6 ] || fail "qwen3moe: expert_count"
	case $(field "$tmp/qwen3moe.gguf" experts) in
	*"(6 experts x 2 layers), one expert = 36.0 KiB") ;;
	*) fail "qwen3moe: experts line '$(field "$tmp/qwen3moe.gguf" experts)'" ;;
	esac
}
synth "$tmp/mixtral.gguf" --arch mixtral $small --experts 4 && {
	[ "$(field "$tmp/mixtral.gguf" architecture)" = llama ] || fail "mixtral: architecture is not llama"
	expect_tensor "$tmp/mixtral.gguf" blk.0.ffn_gate_exps.weight "F16 64 x 128 x 4"
	[ "$(field "$tmp/mixtral.gguf" feed_forward_length)" = 128 ] || fail "mixtral: feed_forward_length"
}

# every weight type; rows too short for a block fall back to a type that fits
for t in F32 F16 Q8_0 Q4_0 Q4_K; do
	synth "$tmp/t-$t.gguf" --arch qwen3moe --embd 256 --ff 256 --expert-ff 256 --layers 1 --type $t || continue
	expect_tensor "$tmp/t-$t.gguf" blk.0.ffn_down_exps.weight "$t 256 x 256 x 8"
	expect_tensor "$tmp/t-$t.gguf" blk.0.attn_norm.weight "F32 256"
done
synth "$tmp/fallback.gguf" --arch llama $small --type Q4_K &&
	expect_tensor "$tmp/fallback.gguf" blk.0.attn_q.weight "Q8_0 64 x 64"

# split: three parts, every tensor found through the first
synth "$tmp/split.gguf" --arch qwen3moe $small --split 3 --seed 5 && {
	for k in 1 2 3; do
		[ -f "$tmp/split-0000$k-of-00003.gguf" ] || fail "split: part $k missing"
	done
	first="$tmp/split-00001-of-00003.gguf"
	[ "$(count_tensors "$first")" = 27 ] || fail "split: expected 27 tensors, got '$(count_tensors "$first")'"
	"$HEFT_ENGINE" inspect "$first" | grep -q "in 3 parts" || fail "split: not seen as 3 parts"
	expect_tensor "$first" output.weight "F16 64 x 300"
}

# determinism: same seed, same bytes; another seed, other bytes
synth "$tmp/a.gguf" --arch qwen3moe $small --type Q4_0 --seed 42 &&
	synth "$tmp/b.gguf" --arch qwen3moe $small --type Q4_0 --seed 42 &&
	synth "$tmp/c.gguf" --arch qwen3moe $small --type Q4_0 --seed 43 && {
	cmp -s "$tmp/a.gguf" "$tmp/b.gguf" || fail "same seed gave different files"
	cmp -s "$tmp/a.gguf" "$tmp/c.gguf" && fail "different seeds gave the same file"
}

# tokenizer: the built-in byte-level vocabulary, or one copied from a file
[ "$(field "$tmp/llama.gguf" vocabulary)" = "300 tokens" ] || fail "built-in vocabulary size"
[ "$(field "$tmp/llama.gguf" model)" = gpt2 ] || fail "built-in tokenizer model"
# (a real vocabulary when the fixtures are there, else our own model's)
vf="$tmp/llama.gguf"
f="${HEFT_FIXTURES:-/nonexistent}/vocab/ggml-vocab-gpt-2.gguf"
[ -f "$f" ] && vf=$f
if [ -f "$vf" ]; then
	n=$("$HEFT_ENGINE" inspect "$vf" | awk '$1 == "vocabulary" { print $2; exit }')
	synth "$tmp/vocab.gguf" --arch llama --embd 64 --heads 2 --ff 64 --layers 1 --vocab-from "$vf" && {
		[ "$(field "$tmp/vocab.gguf" vocabulary)" = "$n tokens" ] || fail "--vocab-from: vocabulary"
		expect_tensor "$tmp/vocab.gguf" token_embd.weight "F16 64 x $n"
		# the tokenizer keys are copied byte for byte: same list, same template
		for l in model merges "chat template"; do
			[ "$(field "$tmp/vocab.gguf" "$l")" = "$(field "$vf" "$l")" ] || fail "--vocab-from: $l differs"
		done
	}
else
	fail "no vocabulary file for --vocab-from"
fi

# bad usage exits 2
for args in "--arch nosuch -o $tmp/x.gguf" "--type Q5_K -o $tmp/x.gguf" "--arch llama" \
	"--heads 3 --kv-heads 2 -o $tmp/x.gguf" "--arch qwen3moe --experts 2 --experts-used 3 -o $tmp/x.gguf"; do
	# shellcheck disable=SC2086
	"$HEFT_ENGINE" synth $args >/dev/null 2>&1
	[ $? -eq 2 ] || fail "synth $args: expected exit 2"
done

[ $fails -eq 0 ] || { echo "$fails failure(s)"; exit 1; }
echo "all synth checks passed"
exit 0
