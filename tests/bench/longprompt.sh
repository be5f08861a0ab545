#!/bin/sh
# longprompt.sh - long prompts with a model bigger than the budget (issue 10).
#
#   tests/bench/longprompt.sh [MODEL]
#
# MODEL defaults to stream.sh's bench model ($HEFT_BENCH_DIR/qwen3moe-16g.gguf,
# 15.4 GiB qwen3moe, 128 experts, 8 used); make it with stream.sh first.
# Needs root (memory cgroups, dropping caches). Rows:
#   ram        the model in RAM (--io ram, no cgroup): prefill of P tokens
#   stream     --mem B in a cgroup of B + 5%, caches dropped: prefill of P
#              tokens cold, prefill_bytes_read against the bytes of the
#              distinct experts the prompt routed to + the resident set
#   mmap       the same cap with --io mmap (what llama.cpp does without
#              repacking), for the ratio in one run
#   cache 1/2  `run --prompt-cache`: P tokens, then the same P + 8: the second
#              must evaluate 8 and continue exactly as the first
#   warm 1/2   a 64-token decode, then a restarted engine's first 16 tokens'
#              hit rate against the first run's last 16 (the warm cache)
# Environment: HEFT_ENGINE, HEFT_BENCH_DIR, B (4G), P (512), THREADS (2), OUT.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/bench-lib.sh"
engine=${HEFT_ENGINE:-$here/../../heft-engine}
dir=${HEFT_BENCH_DIR:-/var/tmp/heft-bench}
B=${B:-4G}
P=${P:-512}
THREADS=${THREADS:-2}
OUT=${OUT:-longprompt-results.jsonl}
model=${1:-$dir/qwen3moe-16g.gguf}

[ "$(id -u)" -eq 0 ] || { echo "longprompt.sh: needs root (cgroups, dropping caches)"; exit 77; }
[ -x "$engine" ] || { echo "longprompt.sh: $engine is not built"; exit 2; }
[ -f "$model" ] || { echo "longprompt.sh: $model missing (tests/bench/stream.sh makes it)"; exit 2; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/heft-longprompt.XXXXXX") || exit 2
trap 'rm -rf "$tmp"' EXIT INT TERM
: >"$OUT"
# The warm cache and the prompt cache of this script only.
export XDG_CACHE_HOME="$tmp/xdg"

limit=$(limit_of "$B")
# P token ids spread over the vocabulary (a synthetic model's vocabulary is
# made up: ids, not text).
toks=$(awk -v n="$P" 'BEGIN { s = 12345; for (i = 0; i < n; i++) { s = (s * 1103515245 + 12345) % 2147483648;
	printf "%s%d", i ? "," : "", 100 + s % 30000 } }')
toks8="$toks,101,202,303,404,505,606,707,808"

capped() { # label command...
	label=$1
	shift
	"$here/dropcaches" >/dev/null 2>&1
	"$here/cgroup-run" --report "$tmp/cg.json" "$limit" -- "$@" --stats-json "$tmp/st.json" \
		>"$tmp/out" 2>"$tmp/err"
	rc=$?
	record "$label" "$rc" "$tmp/st.json" "$tmp/cg.json" >>"$OUT"
	echo "longprompt.sh: $label: exit $rc" >&2
	[ $rc -eq 0 ] || tail -3 "$tmp/err" >&2
}

# In RAM: no cap; the file's pages stay cached between runs, so run once to
# load them, then measure.
"$engine" bench "$model" -p "$P" -n 4 -t "$THREADS" --io ram --no-warm >/dev/null 2>&1
"$engine" bench "$model" -p "$P" -n 4 -t "$THREADS" --io ram --no-warm --stats-json "$tmp/st.json" >"$tmp/out" 2>&1
record "ram pp$P t$THREADS" $? "$tmp/st.json" "$tmp/cg.json" >>"$OUT"

capped "stream $B pp$P cold" "$engine" bench "$model" -p "$P" -n 4 -t "$THREADS" --io stream --mem "$B" --no-warm
capped "mmap $B pp$P cold" "$engine" bench "$model" -p "$P" -n 4 -t "$THREADS" --io mmap --mem "$B" --no-warm

# Prompt cache: P tokens, then P + 8 from the saved state.
pc="$tmp/prompt.kv"
capped "cache 1: $P tokens" "$engine" run "$model" --tokens "$toks" -n 16 --temp 0 -t "$THREADS" \
	--io stream --mem "$B" --no-warm --prompt-cache "$pc"
cp "$tmp/out" "$tmp/out1"
capped "cache 2: $P + 8 tokens" "$engine" run "$model" --tokens "$toks8" -n 8 --temp 0 -t "$THREADS" \
	--io stream --mem "$B" --no-warm --prompt-cache "$pc"
cp "$tmp/out" "$tmp/out2"
# Greedy continuation: the second run's prompt is the first's + 8 ids; its
# continuation must equal a plain run of that prompt.
capped "cache 3: $P + 8 tokens, no cache" "$engine" run "$model" --tokens "$toks8" -n 8 --temp 0 -t "$THREADS" \
	--io stream --mem "$B" --no-warm
cp "$tmp/out" "$tmp/out3"
if [ -s "$tmp/out2" ] && cmp -s "$tmp/out2" "$tmp/out3"; then same=yes; else same=no; fi

# Warm start: 64 decoded tokens, the engine exits (records its hot list),
# a second engine starts warm. The runs above left a hot list of their own
# (every run writes one): start from none, so that the first is cold.
rm -rf "$XDG_CACHE_HOME/heft"
capped "warm 1: cold, 64 tokens" "$engine" bench "$model" -p 16 -n 64 -t "$THREADS" --io stream --mem "$B"
capped "warm 2: restarted" "$engine" bench "$model" -p 16 -n 64 -t "$THREADS" --io stream --mem "$B"

python3 - "$OUT" "$same" <<'EOF'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
same = sys.argv[2]
def g(r, k, d=0):
    return r.get(k, d)
print("| run | exit | prefill tokens | prefill tok/s | prefill read | experts needed | resident | read ≤ needed + resident | decode tok/s | peak RSS | cgroup peak |")
print("|---|---|---|---|---|---|---|---|---|---|---|")
GiB = 2**30
for r in rows:
    pr, ne, res = g(r, "prefill_bytes_read"), g(r, "prefill_experts_needed_bytes"), g(r, "resident_bytes")
    ok = "-" if r.get("io") != "stream" else ("yes" if pr <= ne + res else "NO")
    cgp = r["cgroup"].get("peak")
    print("| %s | %d | %s | %.2f | %.2f GiB | %.2f GiB | %.2f GiB | %s | %.3f | %.0f MiB | %s |" % (
        r["row"], r["exit"], g(r, "prefill_tokens", "-"), g(r, "prefill_tok_s"), pr / GiB, ne / GiB, res / GiB, ok,
        g(r, "decode_tok_s"), g(r, "rss_peak") / 2**20, "%.0f MiB" % (cgp / 2**20) if cgp else "-"))
w = [r for r in rows if r["row"].startswith("warm")]
if len(w) == 2 and "hit_rate_last16" in w[0] and "hit_rate_first16" in w[1]:
    a, b = w[0]["hit_rate_last16"], w[1]["hit_rate_first16"]
    print()
    print("warm start: first run's last 16 tokens hit %.1f%%; restarted engine's first 16 hit %.1f%% (%.0f%% of it; warm read %.2f GiB)"
          % (100 * a, 100 * b, 100 * b / a if a else 0, w[1].get("warm_bytes", 0) / GiB))
c = [r for r in rows if r["row"].startswith("cache")]
if len(c) >= 2:
    print("prompt cache: first run evaluated %s prompt tokens, the second (8 more) %s; its greedy continuation equals an uncached run's: %s"
          % (c[0].get("prefill_tokens", "?"), c[1].get("prefill_tokens", "?"), same))
EOF
