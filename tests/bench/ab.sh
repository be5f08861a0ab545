#!/bin/sh
# ab.sh - two heft-engine binaries on the same model, in one run: did a
# change make decode or prefill faster or slower?
#
#   tests/bench/ab.sh OLD-ENGINE NEW-ENGINE MODEL [bench flags...]
#
# Runs `heft-engine bench MODEL --stats-json` in rounds of old, new, new,
# old (so drift on a shared machine falls on both sides alike), ROUNDS
# times, and prints the medians of prefill and decode tok/s for each binary
# and their ratio new/old, as one Markdown row.
# Environment: ROUNDS (default 3), P (prompt tokens, 64), N (decoded, 32),
# THREADS (2); CGROUP=LIMIT runs each bench inside tests/bench/cgroup-run
# LIMIT (root), COLD=1 drops the page cache before each run
# (tests/bench/dropcaches), LABEL names the row.
set -u
old=${1:?usage: ab.sh OLD-ENGINE NEW-ENGINE MODEL [bench flags...]}
new=${2:?usage: ab.sh OLD-ENGINE NEW-ENGINE MODEL [bench flags...]}
model=${3:?usage: ab.sh OLD-ENGINE NEW-ENGINE MODEL [bench flags...]}
shift 3
here=$(cd "$(dirname "$0")" && pwd)
ROUNDS=${ROUNDS:-3}
P=${P:-64}
N=${N:-32}
THREADS=${THREADS:-2}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/heft-ab.XXXXXX") || exit 2
trap 'rm -rf "$tmp"' EXIT INT TERM

run() { # side binary
	[ "${COLD:-0}" = 1 ] && "$here/dropcaches" >/dev/null 2>&1
	set -- "$1" "$2" bench "$model" -t "$THREADS" -p "$P" -n "$N" --stats-json "$tmp/json" $flags
	side=$1
	shift
	if [ -n "${CGROUP:-}" ]; then
		"$here/cgroup-run" "$CGROUP" -- "$@" >/dev/null 2>"$tmp/err"
	else
		"$@" >/dev/null 2>"$tmp/err"
	fi || { echo "ab.sh: $side failed: $(tail -n 1 "$tmp/err")" >&2; return 1; }
	# prefill and decode tok/s from the stats object
	python3 -c '
import json, sys
j = json.load(open(sys.argv[1]))
def get(*names):
    for n in names:
        if n in j: return j[n]
    return float("nan")
print(get("prefill_tok_s", "prefill_tokens_per_s"), get("decode_tok_s", "decode_tokens_per_s"))
' "$tmp/json" >>"$tmp/$side"
}
flags="$*"
: >"$tmp/old"
: >"$tmp/new"
i=0
while [ $i -lt "$ROUNDS" ]; do
	run old "$old" && run new "$new" && run new "$new" && run old "$old" || exit 1
	i=$((i + 1))
done
median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
po=$(cut -d' ' -f1 "$tmp/old" | median)
pn=$(cut -d' ' -f1 "$tmp/new" | median)
do_=$(cut -d' ' -f2 "$tmp/old" | median)
dn=$(cut -d' ' -f2 "$tmp/new" | median)
echo "| ${LABEL:-$(basename "$model")} $flags | $po | $pn | $(echo "$pn $po" | awk '{printf "%.3f", $1 / $2}') | $do_ | $dn | $(echo "$dn $do_" | awk '{printf "%.3f", $1 / $2}') |"
