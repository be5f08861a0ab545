#!/bin/sh
# mem-minimum.sh - the smallest --mem a refusal names works when passed
# back: for every MoE fixture, a too-small budget is refused with "needs at
# least X", and --mem X (and the "smallest --mem" inspect prints) plans.
# Skips (77) without the shared fixtures.
set -u
: "${HEFT_ENGINE:?}"
FIX=${HEFT_FIXTURES:-/nonexistent}
[ -d "$FIX/models" ] || { echo "SKIP: no fixtures at $FIX"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0 n=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

# "24.9 MiB" -> "24.9MiB", the way --mem takes it
figure() { sed -n "s/.*$1  *\([0-9.]*\) \([KMGT]*i*B\).*/\1\2/p" "$tmp/out" | head -1; }

for f in "$FIX"/models/*.gguf; do
	"$HEFT_ENGINE" inspect "$f" --mem 64K --io stream >"$tmp/out" 2>&1
	min=$(figure "needs at least")
	[ -n "$min" ] || continue # not a MoE model, or refused for another reason
	n=$((n + 1))
	"$HEFT_ENGINE" inspect "$f" --mem "$min" --io stream >"$tmp/out" 2>&1
	grep -q "refused" "$tmp/out" && fail "$f: --mem $min, the minimum it named, is refused: $(grep refused "$tmp/out")"
	"$HEFT_ENGINE" inspect "$f" --mem min --io stream >"$tmp/out" 2>&1
	small=$(figure "smallest --mem")
	[ -n "$small" ] || { fail "$f: no smallest --mem in inspect --mem min"; continue; }
	"$HEFT_ENGINE" inspect "$f" --mem "$small" --io stream >"$tmp/out" 2>&1
	grep -q "refused" "$tmp/out" && fail "$f: --mem $small, inspect's smallest --mem, is refused"
done
[ $n -gt 0 ] || fail "no MoE fixture was refused at --mem 64K"
echo "mem-minimum: $n models, $fails failures"
[ $fails -eq 0 ]
