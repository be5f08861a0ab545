#!/bin/sh
# stream.sh - expert streaming against the mmap baseline, under a memory cgroup.
#
#   tests/bench/stream.sh [MODEL]
#
# MODEL defaults to $HEFT_BENCH_DIR/qwen3moe-16g.gguf (made with
# `heft-engine synth` when missing: qwen3moe, 24 layers, 128 experts of
# ff 1536, 8 used, Q4_K, 15.4 GiB). Needs root (cgroups, dropping caches).
#
# Every run: drop the page cache, then `heft-engine bench MODEL -p P -n N
# --mem B --stats-json` inside a fresh memory cgroup limited to B + 5%
# (tests/bench/cgroup-run), so the budget is held or the run is killed.
# Rows, in this order (A/B interleaved, then reversed):
#   stream B0 t2, mmap B0 t2, mmap B0 t2, stream B0 t2, stream B0 t1,
#   stream at each of BUDGETS, stream B0 t2 with --no-prefetch.
# Before and after them, the disk's ceiling for the engine's requests:
# tests/bench/diskread at the scheduler's chunk size (1 MiB) and queue
# depth (16), O_DIRECT, random offsets in MODEL.
# Prints a Markdown table; raw JSON lines go to $OUT (default
# stream-results.jsonl in the current directory).
#
# Environment: HEFT_ENGINE, HEFT_BENCH_DIR (default /var/tmp/heft-bench),
# B0 (default 4G), BUDGETS (default "2G 4G 8G"), P (prompt tokens, 16),
# N (decoded tokens, 64), N_MMAP (decoded tokens for mmap rows, 16),
# THREADS (2), OUT.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/bench-lib.sh"
engine=${HEFT_ENGINE:-$here/../../heft-engine}
diskread=${DISKREAD:-$(dirname "$engine")/tests/bench/diskread}
dir=${HEFT_BENCH_DIR:-/var/tmp/heft-bench}
B0=${B0:-4G}
BUDGETS=${BUDGETS:-2G 4G 8G}
P=${P:-16}
N=${N:-64}
N_MMAP=${N_MMAP:-16}
THREADS=${THREADS:-2}
OUT=${OUT:-stream-results.jsonl}
model=${1:-$dir/qwen3moe-16g.gguf}

[ "$(id -u)" -eq 0 ] || { echo "stream.sh: needs root (cgroups, dropping caches)"; exit 77; }
[ -x "$engine" ] || { echo "stream.sh: $engine is not built"; exit 2; }
if [ ! -f "$model" ]; then
	mkdir -p "$dir" || exit 2
	echo "stream.sh: making $model (15.4 GiB) ..." >&2
	"$engine" synth --arch qwen3moe --embd 2048 --layers 24 --heads 32 --kv-heads 4 --head-dim 128 \
		--experts 128 --experts-used 8 --expert-ff 1536 --vocab 32000 --type Q4_K -o "$model" || exit 1
fi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/heft-bench.XXXXXX") || exit 2
trap 'rm -rf "$tmp"' EXIT INT TERM
: >"$OUT"

# The engine's requests: one slice of an expert tensor (CEIL_BLOCK KiB,
# default 1728 = one Q4_K 2048 x 1536 slice), split in 1 MiB reads, 16 in
# flight, through the same scheduler backend (io_uring when built in).
CEIL_BLOCK=${CEIL_BLOCK:-1728}
ceiling() { # label
	if [ -x "$diskread" ]; then
		"$here/dropcaches" >/dev/null 2>&1
		"$diskread" "$model" -b "$CEIL_BLOCK" --chunk 1024 -q 16 -s 5 --backend all 2>/dev/null |
			awk -v l="$1" '$1 == "io_uring" || $1 == "threads" { if ($4 > best) best = $4 }
				END { if (best) printf "{\"row\":\"disk ceiling %s\",\"gib_s\":%s}\n", l, best }' >>"$OUT"
	fi
}

row() { # label io budget threads n [extra flags]
	label=$1 io=$2 mem=$3 t=$4 n=$5
	shift 5
	"$here/dropcaches" >/dev/null 2>&1
	"$here/cgroup-run" --report "$tmp/cg.json" "$(limit_of "$mem")" -- \
		"$engine" bench "$model" -p "$P" -n "$n" -t "$t" --io "$io" --mem "$mem" --stats-json "$tmp/st.json" "$@" \
		>"$tmp/out" 2>"$tmp/err"
	rc=$?
	record "$label" "$rc" "$tmp/st.json" "$tmp/cg.json" >>"$OUT"
	echo "stream.sh: $label: exit $rc $(grep -E '^decode' "$tmp/out")" >&2
}

ceiling before
row "stream $B0 t$THREADS" stream "$B0" "$THREADS" "$N"
row "mmap $B0 t$THREADS" mmap "$B0" "$THREADS" "$N_MMAP"
row "mmap $B0 t$THREADS (again)" mmap "$B0" "$THREADS" "$N_MMAP"
row "stream $B0 t$THREADS (again)" stream "$B0" "$THREADS" "$N"
other=$((3 - THREADS))
[ "$other" -ge 1 ] && row "stream $B0 t$other" stream "$B0" "$other" "$N"
for b in $BUDGETS; do
	row "stream $b t$THREADS" stream "$b" "$THREADS" "$N"
done
row "stream $B0 t$THREADS no prefetch" stream "$B0" "$THREADS" "$N" --no-prefetch
ceiling after

python3 - "$OUT" <<'EOF'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
ceil = [r["gib_s"] for r in rows if r["row"].startswith("disk ceiling")]
c = max(ceil) * 1024**3 / 1e6 if ceil else 0
print("disk ceiling (expert-slice O_DIRECT reads at random offsets, 1 MiB requests, QD 16, best backend): "
      + ", ".join("%.2f GiB/s" % x for x in ceil))
print()
print("| run | decode tok/s | p50 / p95 ms | prefill tok/s | hit rate | cached | prefetch used | disk MB/s (OS) | of ceiling | I/O wait | peak RSS | cgroup peak | OOM |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
for r in rows:
    if r["row"].startswith("disk ceiling"):
        continue
    if "decode_tok_s" not in r:
        print("| %s | failed (exit %d) | | | | | | | | | | | %s |" % (r["row"], r["exit"], "yes" if r["cgroup"].get("oom_kills") else "no"))
        continue
    t = r["prefill_s"] + r["decode_s"]
    mbs = r.get("run_os_read_bytes", 0) / t / 1e6 if t else 0
    cached = r["cache_slots"] / r["experts_total"] if r.get("cache_slots") else 1.0
    print("| %s | %.3f | %.0f / %.0f | %.2f | %s | %s | %s | %.0f | %s | %.0f%% | %.0f MiB | %s | %s |" % (
        r["row"], r["decode_tok_s"], r["decode_p50_ms"], r["decode_p95_ms"], r["prefill_tok_s"],
        "%.1f%%" % (100 * r["cache_hit_rate"]) if r["io"] == "stream" else "-",
        "%.0f%%" % (100 * cached) if r["io"] == "stream" else "-",
        "%.0f%%" % (100 * r["prefetch_accuracy"]) if r["prefetch_issued"] else "-",
        mbs, "%.0f%%" % (100 * mbs / c) if c else "-",
        100 * r["io_wait_total_ms"] / 1000 / t if t else 0, r.get("rss_peak", 0) / 2**20,
        "%.0f MiB" % (r["cgroup"].get("peak", 0) / 2**20) if r["cgroup"].get("peak") else "-",
        "yes" if r["cgroup"].get("oom_kills") or r["exit"] == 137 else "no"))
EOF
