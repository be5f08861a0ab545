#!/bin/sh
# hparams-mutated.sh - hostile hyperparameters: every number-valued metadata
# key the engine may read (<arch>.*, tokenizer.ggml.*, general.*) of one
# model per architecture family, set in turn to 0, -1, 2^31-1, 2^32-1, the
# type's largest value, inf and NaN, through `heft-engine eval`. Each must
# end in exit 0, or exit 2 with one error line naming the file (and, for an
# <arch>.* key set to anything but 0, saying "KEY = VALUE") - never a crash, another exit
# status, a hang, or (in a sanitizer build) a sanitizer report.
# Fixtures are used when present, else synth makes the family's model.
set -u
: "${HEFT_ENGINE:?}" "${top_builddir:?}"
MK="$top_builddir/tests/mutate-key"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/heft-hparams.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
fx=${HEFT_FIXTURES:-/nonexistent}/models

model() { # family fixture -> path of a model of that family
	if [ -f "$fx/$2.gguf" ]; then
		echo "$fx/$2.gguf"
	elif "$HEFT_ENGINE" synth -q --arch "$1" --embd 64 --vocab 300 -o "$tmp/$1.gguf" 2>"$tmp/err"; then
		echo "$tmp/$1.gguf"
	else
		echo "synth --arch $1 failed: $(head -1 "$tmp/err")" >&2
	fi
}

fails=0 runs=0 ok=0 refused=0
bad() {
	echo "FAIL: $1 $2 = $3: $4"
	head -5 "$tmp/err" | sed 's/^/  /'
	fails=$((fails + 1))
}

for fam in llama:llama-Q4_0 qwen3:qwen3-Q4_K_M qwen3moe:qwen3moe-Q4_K_M mixtral:mixtral-Q8_0 \
	deepseek2:deepseek2-IQ1_S glm4moe:glm4moe-IQ2_XS gpt-oss:gpt-oss-TQ1_0; do
	src=$(model "${fam%%:*}" "${fam#*:}")
	[ -n "$src" ] || { fails=$((fails + 1)); continue; }
	"$HEFT_ENGINE" eval "$src" --tokens 1,2 -t 1 --ctx 64 >/dev/null 2>"$tmp/err" ||
		{ bad "$src" "(unchanged)" "-" "the model itself does not evaluate"; continue; }
	arch=$("$MK" list "$src" | awk '{ print $1 }' | sed -n 's/\.block_count$//p')
	"$MK" list "$src" | grep -v '^quantize\.' >"$tmp/keys"
	while read -r key type; do
		for val in 0 -1 i31 u32 huge inf nan; do
			"$MK" set "$src" "$tmp/m.gguf" "$key" "$val" 2>"$tmp/err"
			case $? in
			0) ;;
			3) continue ;; # inf, nan: not for integers
			*) bad "$src" "$key" "$val" "mutate-key failed"; continue ;;
			esac
			runs=$((runs + 1))
			timeout 30 "$HEFT_ENGINE" eval "$tmp/m.gguf" --tokens 1,2 -t 1 --ctx 64 >/dev/null 2>"$tmp/err"
			st=$?
			if grep -q 'runtime error\|Sanitizer\|sanitizer' "$tmp/err"; then
				bad "$src" "$key" "$val" "sanitizer report"
				continue
			fi
			grep -v '^heft-engine: memory plan: ' "$tmp/err" >"$tmp/msg"
			case $st in
			0) ok=$((ok + 1)) ;;
			2)
				refused=$((refused + 1))
				if [ "$(wc -l <"$tmp/msg")" -ne 1 ] || ! grep -qF "$tmp/m.gguf" "$tmp/msg"; then
					bad "$src" "$key" "$val" "exit 2 without one line naming the file"
				elif [ "$val" != 0 ] && [ "${key#"$arch".}" != "$key" ] && ! grep -qF -e "$key = " -e "$key[" "$tmp/msg"; then
					bad "$src" "$key" "$val" "exit 2 without 'KEY = VALUE'"
				fi
				;;
			*) bad "$src" "$key" "$val" "exit status $st" ;;
			esac
		done
	done <"$tmp/keys"
done
echo "hyperparameter mutations: $runs runs, $ok accepted, $refused refused cleanly, $fails bad"
[ $runs -gt 0 ] && [ $fails -eq 0 ]
