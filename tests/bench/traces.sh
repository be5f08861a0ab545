#!/bin/sh
# traces.sh - routing traces to judge expert-cache policies on, and their
# table: every policy's decode hit rate next to Belady's MIN (issue 19).
#
#   tests/bench/traces.sh [OUTDIR]
#
# Traces (routing does not depend on the budget: each is recorded once):
#   skew   heft's synthetic qwen3moe router (8 layers, 128 experts, 8 used):
#          a 512-token prompt of random ids, then 256 decoded tokens;
#   conv   the same model in a chat of six turns (prefill between them);
#   bench  the bench model of tests/bench/stream.sh (24 layers, 128
#          experts, 8 used, 15.5 GiB): 512 prompt tokens, 64 decoded, in
#          stream mode under --mem 4G (skipped when the model is missing);
#   real   tests/bench/realtrace.py: the bench model's shape, routed with
#          the per-layer popularity and token-to-token reuse published for
#          real MoE routers (its comment and RESULTS.md say which figures).
# Each is replayed by `heft-engine cachesim` at three cache sizes: for
# skew and conv 10, 25 and 50% of the experts; for bench and real the
# slots that --mem 2G, 4G and 8G pay for. Prints a Markdown table of the
# decode hit rates (best online policy in bold) and their ratios, with
# each A0 (the most used experts, told by the whole trace: the ceiling of
# a policy that learns popularity; a0 inside lrfu's quotas, a0-quota
# inside layer-lru's, a0-pool in one pool; "best a0" the best of them)
# and each MIN (min-lrfu: inside lrfu's own quotas; min-quota:
# layer-lru's; min: one pool). lrfu-admit is lrfu admitting a miss only
# when its counts beat the victim's (cachesim only: it serves the rest
# without a slot), judged against min-lrfu-bypass (MIN in lrfu's quotas
# that may bypass too). HELDOUT=1 adds the held-out traces (skew2: skew's
# model with another prompt; realtrace.py seeds 2 and 3, the latter with
# reuse 0.35).
#
# Environment: HEFT_ENGINE, HEFT_BENCH_DIR (default /var/tmp/heft-bench).
set -u
here=$(cd "$(dirname "$0")" && pwd)
engine=${HEFT_ENGINE:-$here/../../heft-engine}
dir=${HEFT_BENCH_DIR:-/var/tmp/heft-bench}
out=${1:-traces}
mkdir -p "$out" || exit 2
command -v python3 >/dev/null 2>&1 || { echo "traces.sh: needs python3"; exit 2; }

small=$out/skew.gguf
[ -f "$small" ] || "$engine" synth -q --arch qwen3moe --embd 512 --layers 8 --heads 8 --kv-heads 2 --head-dim 64 \
	--ff 512 --experts 128 --experts-used 8 --expert-ff 64 --vocab 2048 --type Q4_0 -o "$small" || exit 1
prompt() { python3 -c 'import random, sys; random.seed(int(sys.argv[1]))
print(",".join(str(random.randrange(2, 2048)) for _ in range(512)))' "$1"; }
"$engine" run "$small" --tokens "$(prompt 1)" -n 256 --io ram --trace-routing "$out/skew.trace" >/dev/null 2>"$out/err" ||
	{ cat "$out/err"; exit 1; }
if [ -n "${HELDOUT:-}" ]; then
	"$engine" run "$small" --tokens "$(prompt 2)" -n 256 --io ram --trace-routing "$out/skew2.trace" >/dev/null \
		2>"$out/err" || { cat "$out/err"; exit 1; }
fi
printf '%s\n' "Tell me about the history of the bicycle, from the first designs to today." \
	"What changed when pneumatic tyres arrived? Explain the engineering in detail." \
	"Now compare that with the history of the motorcycle." \
	"Write a short poem about riding downhill in the rain." \
	"Summarise our whole conversation in five bullet points." \
	"Thank you. One last question: which of these inventions mattered most, and why?" |
	"$engine" chat "$small" -n 96 --seed 1 --io ram --trace-routing "$out/conv.trace" >/dev/null 2>"$out/err" ||
	{ cat "$out/err"; exit 1; }
python3 "$here/realtrace.py" -o "$out/real.trace" || exit 1
if [ -n "${HELDOUT:-}" ]; then
	python3 "$here/realtrace.py" --seed 2 -o "$out/real2.trace" || exit 1
	python3 "$here/realtrace.py" --seed 3 --reuse 0.35 -o "$out/real3.trace" || exit 1
fi
big=$dir/qwen3moe-16g.gguf
if [ -f "$big" ] && [ ! -f "$out/bench.trace" ]; then
	"$engine" bench "$big" -p 512 -n 64 -t 2 --mem 4G --no-warm --trace-routing "$out/bench.trace" >/dev/null \
		2>"$out/err" || { cat "$out/err"; exit 1; }
fi

echo "| trace | cache | lru | lfu | freq | layer-lru | lrfu (default) | lrfu-admit | a0 | a0-quota | a0-pool | min-lrfu-bypass | min-lrfu | min-quota | min | lrfu/min-lrfu | lrfu-admit/min-lrfu-bypass | a0/min-lrfu | best a0/min-lrfu | lrfu/a0 | lrfu/layer-lru |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
row() { # trace label cachesim-args...
	t=$1 label=$2
	shift 2
	"$engine" cachesim "$out/$t.trace" "$@" --json | python3 -c '
import json, sys
o = json.load(sys.stdin)
p = {q["name"]: q["decode_hit_rate"] for q in o["policies"]}
names = ["lru", "lfu", "freq", "layer-lru", "lrfu", "lrfu-admit", "a0", "a0-quota", "a0-pool", "min-lrfu-bypass",
         "min-lrfu", "min-quota", "min"]
online = names[:5]  # lrfu-admit bypasses: not in the race
best = max(p[n] for n in online)
cells = [("**%.1f%%**" if n in online and p[n] == best else "%.1f%%") % (100 * p[n]) for n in names]
r = lambda a, b: a / b if b else 0
a0 = max(p["a0"], p["a0-quota"], p["a0-pool"])
print("| %s | %s (%d slots) | %s | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f |" % (sys.argv[1], sys.argv[2], o["slots"],
      " | ".join(cells), r(p["lrfu"], p["min-lrfu"]), r(p["lrfu-admit"], p["min-lrfu-bypass"]),
      r(p["a0"], p["min-lrfu"]), r(a0, p["min-lrfu"]), r(p["lrfu"], p["a0"]), r(p["lrfu"], p["layer-lru"])))
' "$t" "$label"
}
for t in skew conv skew2; do
	[ -f "$out/$t.trace" ] || continue
	for pct in 10 25 50; do
		row $t "$pct% of experts" --slots $((8 * 128 * pct / 100))
	done
done
for t in bench real real2 real3; do
	[ -f "$out/$t.trace" ] || continue
	for mem in 2G 4G 8G; do
		row $t "--mem $mem" --mem $mem
	done
done
