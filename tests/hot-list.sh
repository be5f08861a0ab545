#!/bin/sh
# hot-list.sh - the warm cache across runs: a stream-mode run leaves its
# hot list in heft's cache directory (mode 0600, directory 0700), the next
# run reads those experts at load; a relative XDG_CACHE_HOME is ignored
# (the XDG spec), so the list goes under $HOME/.cache, where the front end
# looks too (src/paths.c).
set -u
: "${HEFT_ENGINE:?}" "${HEFT_TESTDATA:?}"
model=$HEFT_TESTDATA/qwen3moe-Q4_K_M.gguf
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

run() { # run N: one short stream-mode generation, stats in $tmp/sN.json
	"$HEFT_ENGINE" run "$model" --tokens 1,2,3 -n 4 --mem min --io stream --stats-json "$tmp/s$1.json" \
		>/dev/null 2>"$tmp/err$1" || fail "run $1: $(tail -1 "$tmp/err$1")"
}
warm_total() { sed -n 's/.*"warm_total":\([0-9]*\).*/\1/p' "$tmp/s$1.json"; }

export XDG_CACHE_HOME="$tmp/xdg" HOME="$tmp/home"
run 1
list=$(ls "$tmp"/xdg/heft/hot-*.txt 2>/dev/null | head -1)
[ -n "$list" ] || fail "no hot list under \$XDG_CACHE_HOME/heft"
[ -n "$list" ] && [ "$(stat -c %a "$list")" = 600 ] || fail "hot list mode $(stat -c %a "$list" 2>/dev/null), not 600"
[ "$(stat -c %a "$tmp/xdg/heft" 2>/dev/null)" = 700 ] || fail "cache directory not 0700"
[ "$(warm_total 1)" = 0 ] || fail "first run warmed $(warm_total 1) bytes from nothing"
run 2
[ "$(warm_total 2)" -gt 0 ] 2>/dev/null || fail "second run read no hot experts at load ($(warm_total 2))"

XDG_CACHE_HOME=relative/cache
cd "$tmp" || exit 1
run 3
ls "$tmp"/home/.cache/heft/hot-*.txt >/dev/null 2>&1 || fail "relative XDG_CACHE_HOME: no hot list under \$HOME/.cache/heft"
[ -e "$tmp/relative" ] && fail "relative XDG_CACHE_HOME was used"
echo "hot-list: $fails failures"
[ $fails -eq 0 ]
