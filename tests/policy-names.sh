#!/bin/sh
# policy-names.sh - the expert cache's policies have one list of names
# (src/cache-policies.h): the engine's --cache-policy and the front end's
# take the same names in the same order; every help text and man page that
# spells the list out spells that one; a load request naming each policy
# loads with that policy (the protocol's number reaches the engine's).
#
# The names are read from the programs' own refusals of a bad name, which
# they build from their tables, so the test follows the list when it grows.
# Environment: HEFT_ENGINE; HEFT (default: the heft beside it).
set -u
: "${HEFT_ENGINE:?}"
HEFT=${HEFT:-$(dirname "$HEFT_ENGINE")/heft}
man=$(cd "$(dirname "$0")/../man" && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/heft-policy-names.XXXXXX") || exit 99
trap 'rm -rf "$tmp"' EXIT
trap 'exit 1' INT TERM
status=0
fail() { echo "policy-names: $*"; status=1; }
# has FILE TEXT: FILE holds TEXT as it stands (no pattern)
has() { grep -qF -- "$2" "$1" || fail "$1 does not spell the list: $2"; }

# "... not one of a, b, c" -> "a b c"
listed() { sed -n 's/.*not one of \([^:]*\).*/\1/p' | head -n 1 | sed 's/, / /g'; }
engine=$("$HEFT_ENGINE" run --cache-policy bogus-policy /dev/null 2>&1 | listed)
front=$("$HEFT" --cache-policy bogus-policy 2>&1 | listed)
[ -n "$engine" ] || { echo "policy-names: the engine named no policies"; exit 1; }
[ "$engine" = "$front" ] || fail "the engine takes '$engine', the front end '$front'"
set -- $engine
first=$1
bars=$(echo "$engine" | tr ' ' '|')                       # lrfu|layer-lru|...
mdoc=$(echo "$engine" | sed 's/-/\\-/g; s/ / | /g')       # lrfu | layer\-lru | ...
prose=$(echo "$engine" | sed 's/ /, /g; s/\(.*\), /\1 or /') # lrfu, ..., lfu or freq

"$HEFT_ENGINE" run --help >"$tmp/engine-help" 2>&1
"$HEFT" --help >"$tmp/heft-help" 2>&1
"$HEFT_ENGINE" cachesim --help >"$tmp/cachesim-help" 2>&1
"$HEFT_ENGINE" cachesim /dev/null --policy bogus-policy >"$tmp/cachesim-err" 2>&1
has "$tmp/engine-help" "--cache-policy $bars"
has "$tmp/engine-help" "(default $first)"
has "$tmp/heft-help" "--cache-policy $bars"
has "$tmp/cachesim-help" "--policy P      $prose"
[ "$(listed <"$tmp/cachesim-err")" = "$engine" ] || fail "cachesim --policy refuses with: $(cat "$tmp/cachesim-err")"
has "$man/heft-engine.1" ".It Fl \\-cache\\-policy Cm $mdoc"
has "$man/heft.1" "Fl \\-cache\\-policy Cm $mdoc ,"
# heft-engine(1) says what each one does, the first as the default
for p in $engine; do
	grep -qx ".Cm $(echo "$p" | sed 's/-/\\\\-/g')\( :\)*" "$man/heft-engine.1" ||
		fail "heft-engine.1 does not describe $p"
done
# heft-protocol(5): cache_policy's .Dq list, then its default
sed -n '/^\.It Ic cache_policy$/,/^\.It /p' "$man/heft-protocol.5" >"$tmp/proto"
[ "$(sed -n 's/^\.Dq \([^ ]*\).*/\1/p' "$tmp/proto" | tr '\n' ' ')" = "$engine $first " ] ||
	fail "heft-protocol.5's cache_policy does not list '$engine' then the default $first"

# Each name through the protocol: the loaded event names the policy in use.
if ! "$HEFT_ENGINE" synth -q --arch qwen3moe --embd 64 --layers 2 --heads 2 --kv-heads 1 --ff 128 \
	--experts 4 --experts-used 2 --expert-ff 64 --ctx 256 -o "$tmp/m.gguf" 2>"$tmp/err"; then
	cat "$tmp/err"
	exit 99
fi
for p in $engine; do
	printf '{"type":"load","model":"%s","io":"stream","cache_policy":"%s"}\n' "$tmp/m.gguf" "$p"
done >"$tmp/requests"
echo '{"type":"quit"}' >>"$tmp/requests"
timeout 60 "$HEFT_ENGINE" serve <"$tmp/requests" >"$tmp/events" 2>"$tmp/err" || { cat "$tmp/err"; exit 1; }
got=$(sed -n 's/^{"type":"loaded".*"cache_policy":"\([^"]*\)".*/\1/p' "$tmp/events" | tr '\n' ' ')
[ "$got" = "$engine " ] || fail "loads asked for '$engine', were given '$got'"

[ $status = 0 ] && echo "policy-names: $# policies, one list: $engine"
exit $status
