#!/bin/sh
# tests/bench/decode.sh - in-RAM decode and prefill speed against the
# memory-bandwidth bound (issue: "Correct engine", item 6).
#
# Builds synthetic models with `heft-engine synth` (a qwen3moe in Q4_K and
# Q8_0, and a dense llama of about the same size, plus the ~2 GB dense llama
# of issue 18's peer comparison), then runs
# `heft-engine bench` on each with 1 and 2 threads, REPEAT times, and prints a
# Markdown table of the medians. Models are kept in $BENCH_DIR for reuse and
# removed with --clean.
#
#   tests/bench/decode.sh [--clean]
#   env: HEFT_ENGINE (default ./heft-engine), BENCH_DIR (default
#        /var/tmp/heft-bench), REPEAT (default 3), THREADS (default "1 2")
set -eu
engine=${HEFT_ENGINE:-./heft-engine}
dir=${BENCH_DIR:-/var/tmp/heft-bench}
repeat=${REPEAT:-3}
threads=${THREADS:-1 2}

if [ "${1:-}" = --clean ]; then
	rm -rf "$dir"
	exit 0
fi
mkdir -p "$dir"

make_model() { # name, synth args...
	name=$1
	shift
	[ -f "$dir/$name.gguf" ] || "$engine" synth -q "$@" -o "$dir/$name.gguf"
}
make_model qwen3moe-Q4_K --arch qwen3moe --embd 2048 --layers 16 --heads 32 --kv-heads 4 \
	--head-dim 128 --experts 64 --experts-used 8 --expert-ff 768 --vocab 32000 --type Q4_K
make_model qwen3moe-Q8_0 --arch qwen3moe --embd 2048 --layers 8 --heads 32 --kv-heads 4 \
	--head-dim 128 --experts 64 --experts-used 8 --expert-ff 768 --vocab 32000 --type Q8_0
make_model llama-Q4_K --arch llama --embd 4096 --layers 16 --heads 32 --kv-heads 8 \
	--ff 11008 --vocab 32000 --type Q4_K
make_model llama-Q8_0 --arch llama --embd 4096 --layers 8 --heads 32 --kv-heads 8 \
	--ff 11008 --vocab 32000 --type Q8_0
make_model llama2g-Q4_K --arch llama --embd 4096 --layers 20 --heads 32 --kv-heads 8 \
	--ff 11008 --vocab 32000 --type Q4_K

median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

echo "| model | file | threads | prefill tok/s | decode tok/s | prefill/decode | bandwidth GB/s | decode % of bound |"
echo "|---|---|---|---|---|---|---|---|"
for m in qwen3moe-Q4_K qwen3moe-Q8_0 llama-Q4_K llama-Q8_0 llama2g-Q4_K; do
	f=$dir/$m.gguf
	size=$(du -h "$f" | cut -f1)
	for t in $threads; do
		: >"$dir/runs"
		i=0
		while [ $i -lt "$repeat" ]; do
			"$engine" bench "$f" -t "$t" -p 128 -n 64 >"$dir/out" 2>&1
			pp=$(awk '/^prefill  / { print $4 }' "$dir/out")
			tg=$(awk '/^decode  / { print $4 }' "$dir/out")
			bw=$(awk '/^bandwidth  / { print $2 }' "$dir/out")
			pct=$(awk '/^bound  / { sub("%", "", $6); print $6 }' "$dir/out")
			echo "$pp $tg $bw $pct" >>"$dir/runs"
			i=$((i + 1))
		done
		pp=$(cut -d' ' -f1 "$dir/runs" | median)
		tg=$(cut -d' ' -f2 "$dir/runs" | median)
		bw=$(cut -d' ' -f3 "$dir/runs" | median)
		pct=$(cut -d' ' -f4 "$dir/runs" | median)
		ratio=$(echo "$pp $tg" | awk '{ printf "%.1f", $1 / $2 }')
		echo "| $m | $size | $t | $pp | $tg | $ratio | $bw | $pct |"
	done
done
