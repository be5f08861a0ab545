#!/bin/sh
# cache-ab.sh - two expert-cache policies in the engine, in one run: decode
# speed, hit rates and the bytes each decoded token reads (issue 19).
#
#   tests/bench/cache-ab.sh [MODEL [OLD-POLICY [NEW-POLICY]]]
#
# Runs `heft-engine bench MODEL -p P -n N --mem MEM --no-warm --cache-policy
# X --stats-json` in rounds of old, new, new, old (drift on a shared machine
# falls on both alike), each after dropping the page cache
# (tests/bench/dropcaches) and inside a memory cgroup of CGROUP
# (tests/bench/cgroup-run; root). Prints a Markdown row per run, then each
# policy's median decode tok/s and the ratio new/old. --no-warm: the hot
# list learnt by one run would otherwise warm the next.
#
# Defaults: the bench model of tests/bench/stream.sh under
# /var/tmp/heft-bench-cachesim, layer-lru against lrfu.
# Environment: HEFT_ENGINE, HEFT_ENGINE_OLD (runs OLD-POLICY: one policy
# before and after a change, e.g. `HEFT_ENGINE_OLD=/tmp/heft-engine-base
# tests/bench/cache-ab.sh MODEL lrfu lrfu`), ROUNDS (1), P (512), N (64),
# MEM (4G), CGROUP (4.2G; empty: no cgroup), THREADS (2).
set -u
here=$(cd "$(dirname "$0")" && pwd)
engine=${HEFT_ENGINE:-$here/../../heft-engine}
model=${1:-/var/tmp/heft-bench-cachesim/qwen3moe-16g.gguf}
old=${2:-layer-lru}
new=${3:-lrfu}
engine_old=${HEFT_ENGINE_OLD:-$engine}
label_old=$old label_new=$new
[ -n "${HEFT_ENGINE_OLD:-}" ] && label_old="$old (old engine)"
ROUNDS=${ROUNDS:-1}
P=${P:-512}
N=${N:-64}
MEM=${MEM:-4G}
CGROUP=${CGROUP-4.2G}
THREADS=${THREADS:-2}
[ -f "$model" ] || { echo "cache-ab.sh: no model $model" >&2; exit 2; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/heft-cache-ab.XXXXXX") || exit 2
trap 'rm -rf "$tmp"' EXIT INT TERM

run() { # label engine policy
	label=$1 eng=$2 pol=$3
	"$here/dropcaches" >/dev/null 2>&1
	set -- "$eng" bench "$model" -t "$THREADS" -p "$P" -n "$N" --mem "$MEM" --no-warm --cache-policy "$pol" \
		--stats-json "$tmp/json"
	if [ -n "$CGROUP" ]; then
		"$here/cgroup-run" --report "$tmp/cg" "$CGROUP" -- "$@" >/dev/null 2>"$tmp/err"
	else
		echo '{}' >"$tmp/cg"
		"$@" >/dev/null 2>"$tmp/err"
	fi || { echo "cache-ab.sh: $pol failed: $(tail -n 1 "$tmp/err")" >&2; return 1; }
	python3 - "$tmp/json" "$tmp/cg" "$N" "$label" >"$tmp/row" <<'EOF' || return 1
import json, sys
j = json.load(open(sys.argv[1]))
cg = json.load(open(sys.argv[2]))
n = j.get("decode_tokens") or int(sys.argv[3])
mib = (j["read_bytes"] - j["prefill_bytes_read"]) / n / 2**20
peak = cg.get("peak")
print("| %s | %.2f | %.0f / %.0f | %.2f | %.1f %% | %.1f %% | %.0f | %.1f s | %s | %s |" % (
    sys.argv[4], j["decode_tok_s"], j["decode_p50_ms"], j["decode_p95_ms"], j["prefill_tok_s"],
    100 * j["cache_hit_rate"], 100 * j["hit_rate_last16"], mib, j["io_wait_total_ms"] / 1000,
    "%.0f MiB" % (peak / 2**20) if isinstance(peak, (int, float)) else "-", cg.get("oom_kills", "-")))
EOF
	cat "$tmp/row"
	cat "$tmp/row" >>"$tmp/rows"
}

echo "| policy | decode tok/s | p50 / p95 ms | prefill tok/s | hit rate (all) | hit rate last 16 | decode MiB read per token | I/O wait | cgroup peak | OOM kills |"
echo "|---|---|---|---|---|---|---|---|---|---|"
: >"$tmp/rows"
i=0
while [ $i -lt "$ROUNDS" ]; do
	run "$label_old" "$engine_old" "$old" && run "$label_new" "$engine" "$new" &&
		run "$label_new" "$engine" "$new" && run "$label_old" "$engine_old" "$old" || exit 1
	i=$((i + 1))
done
python3 - "$tmp/rows" "$label_old" "$label_new" <<'EOF'
import statistics, sys
tok = {}
for line in open(sys.argv[1]):
    f = [c.strip() for c in line.strip().strip("|").split("|")]
    tok.setdefault(f[0], []).append(float(f[1]))
o, n = statistics.median(tok[sys.argv[2]]), statistics.median(tok[sys.argv[3]])
print("\nmedian decode tok/s: %s %.2f, %s %.2f, %s/%s %.2f" % (sys.argv[2], o, sys.argv[3], n, sys.argv[3], sys.argv[2], n / o))
EOF
