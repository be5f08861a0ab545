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

# every weight type (one small file each); rows too short for a block fall
# back as llama.cpp's quantizer does
types="F32 F16 BF16 Q4_0 Q4_1 Q5_0 Q5_1 Q8_0 Q2_K Q3_K Q4_K Q5_K Q6_K IQ4_NL IQ4_XS
	IQ1_S IQ1_M IQ2_XXS IQ2_XS IQ2_S IQ3_XXS IQ3_S TQ1_0 TQ2_0 MXFP4"
for t in $types; do
	synth "$tmp/t.gguf" --arch qwen3moe --embd 256 --ff 256 --expert-ff 256 --experts 4 --layers 1 \
		--vocab 300 --type "$t" || continue
	expect_tensor "$tmp/t.gguf" blk.0.ffn_down_exps.weight "$t 256 x 256 x 4"
	expect_tensor "$tmp/t.gguf" blk.0.attn_norm.weight "F32 256"
done
synth "$tmp/fallback.gguf" --arch llama $small --type Q4_K --type-output IQ1_S --type-embd TQ2_0 && {
	expect_tensor "$tmp/fallback.gguf" blk.0.attn_q.weight "Q5_0 64 x 64"
	expect_tensor "$tmp/fallback.gguf" output.weight "IQ4_NL 64 x 300"
	expect_tensor "$tmp/fallback.gguf" token_embd.weight "Q4_0 64 x 300"
}

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

# ---- the giants' architectures: tiny models with low-bit per-class types ----

# logits of 4 tokens: all finite, with a spread (a broken scale gives 0 or inf)
runs() { # file
	"$HEFT_ENGINE" eval "$1" --tokens 1,2,3,4 --out "$tmp/r.ref" 2>"$tmp/err" ||
		{ fail "eval $(basename "$1"): $(tail -1 "$tmp/err")"; return; }
	awk '/^logits/ { on = 1; next }
		on { for (i = 1; i <= NF; i++) { n++; if ($i !~ /^-?[0-9.]+(e[-+]?[0-9]+)?$/) bad++; s += $i; s2 += $i * $i } }
		END { if (n == 0 || bad) exit 1; m = s / n; sd = sqrt(s2 / n - m * m); exit !(sd > 0.3 && sd < 30) }' \
		"$tmp/r.ref" || fail "$(basename "$1"): logits not finite or without spread"
	"$HEFT_ENGINE" run "$1" --tokens 1,2,3 -n 4 >/dev/null 2>"$tmp/err" ||
		fail "run $(basename "$1"): $(tail -1 "$tmp/err")"
}

mix="--type-experts IQ1_S --type-experts-down IQ2_XXS --type-attn Q4_K --type-shexp Q6_K --type-dense IQ3_S
	--type-embd Q4_K --type-output Q6_K"
# shellcheck disable=SC2086
synth "$tmp/ds.gguf" --arch deepseek2 --embd 256 --layers 3 --dense-lead 1 --heads 4 --head-dim 96 --rope-dim 32 \
	--q-lora-rank 96 --kv-lora-rank 64 --v-head-dim 64 --ff 512 --experts 8 --experts-used 2 --expert-ff 256 \
	--shared-experts 1 --expert-groups 4 --group-used 2 --vocab 300 $mix && {
	f="$tmp/ds.gguf"
	expect_tensor "$f" blk.0.ffn_gate.weight "IQ3_S 256 x 512"
	expect_tensor "$f" blk.1.attn_q_a.weight "Q4_K 256 x 96"
	expect_tensor "$f" blk.1.attn_q_b.weight "Q5_0 96 x 384"
	expect_tensor "$f" blk.1.attn_kv_a_mqa.weight "Q4_K 256 x 96"
	expect_tensor "$f" blk.1.attn_k_b.weight "Q5_0 64 x 64 x 4"
	expect_tensor "$f" blk.1.attn_v_b.weight "Q5_0 64 x 64 x 4"
	expect_tensor "$f" blk.1.attn_output.weight "Q4_K 256 x 256"
	expect_tensor "$f" blk.2.ffn_gate_exps.weight "IQ1_S 256 x 256 x 8"
	expect_tensor "$f" blk.2.ffn_down_exps.weight "IQ2_XXS 256 x 256 x 8"
	expect_tensor "$f" blk.2.ffn_up_shexp.weight "Q6_K 256 x 256"
	expect_tensor "$f" blk.2.exp_probs_b.bias "F32 8"
	expect_tensor "$f" output.weight "Q6_K 256 x 300"
	[ "$(count_tensors "$f")" = 52 ] || fail "deepseek2: tensor count '$(count_tensors "$f")'"
	for kv in "attention.head_count_kv 1" "attention.key_length 96" "attention.value_length 64" \
		"attention.key_length_mla 96" "attention.value_length_mla 64" "attention.q_lora_rank 96" \
		"leading_dense_block_count 1" "expert_group_count 4" "expert_gating_func 2"; do
		# shellcheck disable=SC2086
		set -- $kv
		[ "$(field "$f" "$1")" = "$2" ] || fail "deepseek2: $1 = '$(field "$f" "$1")', expected $2"
	done
	[ "$(field "$f" rope.scaling.type)" = '"yarn"' ] || fail "deepseek2: rope.scaling.type is not yarn"
	case $(field "$f" experts) in
	*"(8 experts x 2 layers), one expert = 41.5 KiB") ;; # 2 x 256*256 IQ1_S (12800 B) + IQ2_XXS (16896 B)
	*) fail "deepseek2: experts line '$(field "$f" experts)'" ;;
	esac
	runs "$f"
}
synth "$tmp/dsq.gguf" --arch deepseek2 --q-lora-rank 0 --gating softmax --layers 2 --vocab 300 --type Q8_0 && {
	expect_tensor "$tmp/dsq.gguf" blk.1.attn_q.weight "Q8_0 256 x 384"
	[ -z "$(tensor "$tmp/dsq.gguf" blk.1.exp_probs_b.bias)" ] || fail "deepseek2 softmax: exp_probs_b written"
	runs "$tmp/dsq.gguf"
}

# glm4moe: biases, partial rotary, q/k norm, a next-token-prediction layer
# counted in block_count that the engine skips
synth "$tmp/glm.gguf" --arch glm4moe --embd 256 --layers 2 --nextn 1 --qk-norm --heads 4 --kv-heads 2 \
	--vocab 300 --type-experts IQ2_XS --type-experts-down IQ3_XXS --type-attn IQ4_XS --type-dense Q3_K \
	--type-shexp Q5_K && {
	f="$tmp/glm.gguf"
	expect_tensor "$f" blk.0.attn_q.bias "F32 256"
	expect_tensor "$f" blk.0.attn_k.bias "F32 128"
	expect_tensor "$f" blk.0.attn_k_norm.weight "F32 64"
	expect_tensor "$f" blk.0.ffn_up.weight "Q3_K 256 x 512"
	expect_tensor "$f" blk.1.attn_q.weight "IQ4_XS 256 x 256"
	expect_tensor "$f" blk.1.post_attention_norm.weight "F32 256"
	expect_tensor "$f" blk.1.ffn_gate_exps.weight "IQ2_XS 256 x 128 x 8"
	expect_tensor "$f" blk.1.ffn_down_exps.weight "IQ4_NL 128 x 256 x 8"
	expect_tensor "$f" blk.1.ffn_gate_shexp.weight "Q5_K 256 x 128"
	expect_tensor "$f" blk.1.ffn_down_shexp.weight "Q5_1 128 x 256"
	expect_tensor "$f" blk.2.nextn.eh_proj.weight "Q3_K 512 x 256"
	expect_tensor "$f" blk.2.ffn_up_exps.weight "IQ2_XS 256 x 128 x 8"
	[ "$(field "$f" block_count)" = 3 ] || fail "glm4moe: block_count"
	[ "$(field "$f" nextn_predict_layers)" = 1 ] || fail "glm4moe: nextn_predict_layers"
	[ "$(field "$f" rope.dimension_count)" = 32 ] || fail "glm4moe: partial rotary"
	runs "$f"
}

# gpt-oss: sinks, sliding window, biases everywhere, MXFP4 experts
synth "$tmp/oss.gguf" --arch gpt-oss --embd 256 --layers 2 --swa 2 --vocab 300 --type-experts MXFP4 \
	--type Q8_0 --type-output TQ1_0 && {
	f="$tmp/oss.gguf"
	expect_tensor "$f" blk.0.attn_sinks.weight "F32 4"
	expect_tensor "$f" blk.0.attn_output.bias "F32 256"
	expect_tensor "$f" blk.1.ffn_gate_inp.bias "F32 8"
	expect_tensor "$f" blk.1.ffn_down_exps.weight "MXFP4 256 x 256 x 8"
	expect_tensor "$f" blk.1.ffn_down_exps.bias "F32 256 x 8"
	expect_tensor "$f" output.weight "TQ1_0 256 x 300"
	[ "$(field "$f" attention.sliding_window)" = 2 ] || fail "gpt-oss: sliding_window"
	runs "$f"
}

# --like fills real shapes (checked without writing them: 61 layers, 3 of
# them dense) and --preset the per-class types
out=$("$HEFT_ENGINE" synth --like deepseek-v3 --preset UD-IQ1_S --dry-run 2>&1)
case $out in
"deepseek2, 61 layers: 1086 tensors"*) ;; # 3 x 13 dense + 58 x 18 MoE + 3
*) fail "--like deepseek-v3 --dry-run: '$(echo "$out" | head -1)'" ;;
esac
echo "$out" | grep -q "experts  *IQ1_S" || fail "--preset UD-IQ1_S: experts not IQ1_S"
synth "$tmp/like.gguf" --like glm-4.6 --layers 2 --embd 256 --heads 4 --kv-heads 2 --head-dim 64 --rope-dim 32 \
	--experts 8 --ff 512 --expert-ff 256 --vocab 300 --preset UD-IQ1_M && {
	f="$tmp/like.gguf"
	[ "$(field "$f" block_count)" = 3 ] || fail "--like glm-4.6: block_count (2 + nextn)"
	[ "$(field "$f" leading_dense_block_count)" = 1 ] || fail "--like glm-4.6 --layers 2: dense lead not capped"
	expect_tensor "$f" blk.1.ffn_up_exps.weight "IQ1_M 256 x 256 x 8"
	expect_tensor "$f" blk.1.attn_k_norm.weight "F32 64"
	runs "$f"
}

# bad usage exits 2 with one line that says what is wrong
x="-o $tmp/x.gguf"
while IFS='|' read -r args want; do
	# shellcheck disable=SC2086
	"$HEFT_ENGINE" synth $args >/dev/null 2>"$tmp/err"
	rc=$?
	[ $rc -eq 2 ] || fail "synth $args: exit $rc, expected 2"
	{ [ "$(wc -l <"$tmp/err")" -eq 1 ] && grep -q -- "$want" "$tmp/err"; } ||
		fail "synth $args: message '$(head -1 "$tmp/err")' does not say '$want'"
done <<END
--arch nosuch $x|--arch
--type Q8_K $x|--type
--arch llama|-o FILE
--heads 3 --kv-heads 2 $x|--kv-heads
--arch qwen3moe --experts 2 --experts-used 3 $x|--experts-used
--arch deepseek2 --kv-heads 2 $x|--kv-heads
--arch llama --dense-lead 1 $x|--dense-lead
--arch deepseek2 --layers 3 --dense-lead 3 $x|--dense-lead
--arch deepseek2 --expert-groups 3 $x|--expert-groups
--arch deepseek2 --expert-groups 4 --group-used 1 --experts-used 3 $x|--group-used
--arch deepseek2 --head-dim 96 --rope-dim 96 $x|--rope-dim
--arch glm4moe --gating softmax $x|sigmoid
--arch qwen3 --nextn 1 $x|--nextn
--arch gpt-oss --swa 0 $x|--swa
--arch gpt-oss --ff 100 $x|--ff
--arch llama --type-experts IQ1_S $x|--type-experts
--arch llama --rope-factor 4 $x|--rope-scaling
--like nosuch $x|--like
--like glm-4.6 --arch llama $x|--arch llama
--preset nosuch $x|--preset
END

[ $fails -eq 0 ] || { echo "$fails failure(s)"; exit 1; }
echo "all synth checks passed"
exit 0
