#!/bin/sh
# inspect-mutated.sh - `heft-engine inspect` on damaged copies of real GGUF
# files must exit 0 (damage in tensor data or unread bytes) or 2 with exactly
# one line of error - never crash, hang or print a second line.
#   MUTATIONS (default 300 in make check; the acceptance run uses 10000)
set -u
: "${HEFT_ENGINE:?}" "${top_builddir:?}"
MUTATE="$top_builddir/tests/mutate"
n=${MUTATIONS:-300}

inputs=""
for f in "$HEFT_TESTDATA/llama-Q4_0.gguf" \
	"${HEFT_FIXTURES:-/nonexistent}/models/qwen3moe-Q4_K_M.gguf" \
	"${HEFT_FIXTURES:-/nonexistent}/models/deepseek2-IQ1_S.gguf" \
	"${HEFT_FIXTURES:-/nonexistent}/vocab/ggml-vocab-llama-spm.gguf"; do
	[ -f "$f" ] && inputs="$inputs $f"
done
[ -n "$inputs" ] || { echo "SKIP: no input files"; exit 77; }
set -- $inputs

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0 ok=0 refused=0
i=0
while [ $i -lt "$n" ]; do
	idx=$((i % $#))
	src=$(eval echo "\${$((idx + 1))}")
	"$MUTATE" "$i" "$src" "$tmp/m.gguf" || { echo "mutate failed"; exit 1; }
	timeout 20 "$HEFT_ENGINE" inspect "$tmp/m.gguf" >"$tmp/out" 2>"$tmp/err"
	st=$?
	lines=$(wc -l <"$tmp/err")
	case $st in
	0) ok=$((ok + 1)) ;;
	2)
		refused=$((refused + 1))
		if [ "$lines" -ne 1 ] || ! grep -q '^heft-engine: .*(at byte [0-9]*)$' "$tmp/err"; then
			echo "seed $i ($src): exit 2 but stderr is not one 'heft-engine: FILE: ... (at byte N)' line:"
			head -5 "$tmp/err"
			fails=$((fails + 1))
		fi
		;;
	*)
		echo "seed $i ($src): exit status $st"
		head -20 "$tmp/err"
		cp "$tmp/m.gguf" "${TMPDIR:-/tmp}/heft-crash-$i.gguf" 2>/dev/null
		fails=$((fails + 1))
		;;
	esac
	i=$((i + 1))
done
echo "inspect on $n mutated files: $ok accepted, $refused refused cleanly, $fails bad"
[ $fails -eq 0 ]
