#!/bin/sh
# inspect-fixtures.sh - `heft-engine inspect` (plain, --tensors, --json) on
# every shared fixture model and vocabulary: exit 0, nothing on stderr, and
# tensor counts, shapes and types as the fixture README describes them.
# Skips (77) when ../shared/fixtures is absent.
set -u
: "${HEFT_ENGINE:?}"
FIX=${HEFT_FIXTURES:-/nonexistent}
if [ ! -d "$FIX/models" ]; then
	# without the shared fixtures, check the small in-tree copy
	if [ -f "${HEFT_TESTDATA:-/nonexistent}/llama-Q4_0.gguf" ]; then
		echo "note: no fixtures at $FIX; checking $HEFT_TESTDATA only"
		FIX=$(mktemp -d)
		mkdir "$FIX/models" "$FIX/vocab"
		ln -s "$HEFT_TESTDATA/llama-Q4_0.gguf" "$FIX/models/llama-Q4_0.gguf"
		cleanup_fix=$FIX
	else
		echo "SKIP: no fixtures at $FIX"
		exit 77
	fi
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp" ${cleanup_fix:+"$cleanup_fix"}' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
have_python=false
command -v python3 >/dev/null 2>&1 && have_python=true

# Every file inspects cleanly in every mode.
n=0
for f in "$FIX"/models/*.gguf "$FIX"/vocab/*.gguf; do
	[ -f "$f" ] || continue
	n=$((n + 1))
	for mode in "" --tensors --json "--json --tensors"; do
		# shellcheck disable=SC2086
		"$HEFT_ENGINE" inspect $mode "$f" >"$tmp/out" 2>"$tmp/err"
		st=$?
		[ $st -eq 0 ] || fail "inspect $mode $f: exit $st: $(head -1 "$tmp/err")"
		[ -s "$tmp/err" ] && fail "inspect $mode $f wrote to stderr: $(head -1 "$tmp/err")"
		case $mode in
		--json*)
			if $have_python && ! python3 -m json.tool "$tmp/out" >/dev/null 2>"$tmp/jerr"; then
				fail "inspect $mode $f: invalid JSON: $(head -1 "$tmp/jerr")"
			fi ;;
		esac
	done
done
echo "inspected $n files"

# tensor NAME in the --tensors listing: "type shape" (shape as "a x b x c").
tensor() { # file name
	"$HEFT_ENGINE" inspect --tensors "$1" | awk -v n="$2" '
		/^tensors$/ { t = 1; next }
		t && $1 == n { s = $3; for (i = 4; $i == "x"; i += 2) s = s " x " $(i + 1); print $2, s; exit }'
}

expect_tensor() { # file name "type shape"
	f="$FIX/models/$1"
	[ -f "$f" ] || return 0
	got=$(tensor "$f" "$2")
	[ "$got" = "$3" ] || fail "$1 $2: expected '$3', got '$got'"
}

# "label value..." from the plain output (first line whose label matches).
field() { # file label
	"$HEFT_ENGINE" inspect "$1" | awk -v l="$2" 'index($0, "  " l " ") == 1 { sub("^  " l " *", ""); print; exit }'
}

expect_field() { # file label value
	f="$FIX/models/$1"
	[ -f "$f" ] || return
	got=$(field "$f" "$2")
	[ "$got" = "$3" ] || fail "$1 $2: expected '$3', got '$got'"
}

count_tensors() {
	"$HEFT_ENGINE" inspect "$1" | awk '$1 == "tensors" && NF > 1 { sub(",", "", $2); print $2; exit }'
}

expect_count() { # file n
	f="$FIX/models/$1"
	[ -f "$f" ] || return
	got=$(count_tensors "$f")
	[ "$got" = "$2" ] || fail "$1: expected $2 tensors, got '$got'"
}

# llama: n_embd 256, vocab 512, 4 heads / 2 KV heads (head dim 64), ff 768, 2 layers.
expect_tensor llama-F16.gguf token_embd.weight "F16 256 x 512"
expect_tensor llama-Q4_0.gguf blk.0.attn_v.weight "Q4_0 256 x 128"
expect_tensor llama-F16.gguf blk.0.attn_q.weight "F16 256 x 256"
expect_tensor llama-F16.gguf blk.0.attn_k.weight "F16 256 x 128"
expect_tensor llama-F16.gguf blk.1.ffn_down.weight "F16 768 x 256"
expect_tensor llama-F16.gguf output_norm.weight "F32 256"
expect_field llama-F16.gguf architecture llama
expect_field llama-F16.gguf "block_count" 2
for q in F16 Q8_0 Q4_0 Q4_K_M Q6_K; do expect_count llama-$q.gguf 22; done
# Q4_K_M mixes Q4_K and Q6_K
f="$FIX/models/llama-Q4_K_M.gguf"
if [ -f "$f" ]; then
	"$HEFT_ENGINE" inspect "$f" >"$tmp/q"
	for t in Q4_K Q6_K; do
		awk '/^quantization$/ { q = 1; next } /^$/ { q = 0 } q { print $1 }' "$tmp/q" | grep -qx "$t" ||
			fail "llama-Q4_K_M: no $t tensors in the quantization mix"
	done
fi
# qwen3: per-head q/k norms of head dim 64
expect_tensor qwen3-F16.gguf blk.0.attn_q_norm.weight "F32 64"
expect_tensor qwen3-F16.gguf blk.1.attn_k_norm.weight "F32 64"
expect_field qwen3-F16.gguf architecture qwen3
# qwen3moe: 8 experts of ff 256, router F32
expect_tensor qwen3moe-F16.gguf blk.0.ffn_gate_exps.weight "F16 256 x 256 x 8"
expect_tensor qwen3moe-F16.gguf blk.1.ffn_down_exps.weight "F16 256 x 256 x 8"
expect_tensor qwen3moe-Q8_0.gguf blk.0.ffn_gate_inp.weight "F32 256 x 8"
expect_count qwen3moe-F16.gguf 27
f="$FIX/models/qwen3moe-F16.gguf"
if [ -f "$f" ]; then
	got=$(field "$f" experts)
	case $got in
	*"(8 experts x 2 layers), one expert = 384 KiB") ;;
	*) fail "qwen3moe-F16 experts line: '$got'" ;;
	esac
fi
# mixtral: arch llama with 4 experts of ff 512
expect_tensor mixtral-Q8_0.gguf blk.0.ffn_up_exps.weight "Q8_0 256 x 512 x 4"
expect_tensor mixtral-Q8_0.gguf blk.0.ffn_down_exps.weight "Q8_0 512 x 256 x 4"
expect_field mixtral-Q8_0.gguf architecture llama
expect_field mixtral-Q8_0.gguf expert_count 4
# the end-to-end fixtures carry real vocabularies
expect_field qwen3moe-gpt2vocab-Q4_0.gguf vocabulary "50257 tokens"
expect_field llama-spmvocab-Q4_0.gguf vocabulary "32000 tokens"
# vocab-only files: no tensors, a token list
f="$FIX/vocab/ggml-vocab-gpt-2.gguf"
if [ -f "$f" ]; then
	got=$(field "$f" vocabulary)
	[ "$got" = "50257 tokens" ] || fail "ggml-vocab-gpt-2 vocabulary: '$got'"
	got=$(count_tensors "$f")
	[ "$got" = 0 ] || fail "ggml-vocab-gpt-2: expected 0 tensors, got '$got'"
fi

# JSON carries the same facts
f="$FIX/models/qwen3moe-F16.gguf"
if $have_python && [ -f "$f" ]; then
	"$HEFT_ENGINE" inspect --json --tensors "$f" | python3 -c '
import json, sys
j = json.load(sys.stdin)
t = {x["name"]: x for x in j["tensors"]}
assert j["architecture"] == "qwen3moe", j["architecture"]
assert j["tensor_count"] == 27 == len(j["tensors"])
assert t["blk.0.ffn_gate_exps.weight"]["shape"] == [256, 256, 8]
assert j["split"]["experts"] == 8 and j["split"]["expert_layers"] == 2
assert j["hyperparameters"]["expert_used_count"] == 2
assert j["split"]["dense_bytes"] + j["split"]["expert_bytes"] == j["data_bytes"]
' || fail "qwen3moe-F16 --json facts"
fi

# usage errors exit 2
"$HEFT_ENGINE" inspect >/dev/null 2>&1
[ $? -eq 2 ] || fail "inspect without a file should exit 2"
"$HEFT_ENGINE" inspect "$tmp/does-not-exist.gguf" >/dev/null 2>&1
[ $? -eq 2 ] || fail "inspect of a missing file should exit 2"

[ $fails -eq 0 ] || { echo "$fails failure(s)"; exit 1; }
echo "all inspect checks passed"
exit 0
