#!/bin/sh
# peer.sh - heft against llama.cpp on models that fit in RAM, in one run
# (issue 18): 512-token prefill and decode speed of `heft-engine bench` and
# of llama.cpp, same models, same threads, same depths, both SIMD paths and
# both of llama.cpp's weight layouts. Prints one Markdown table.
#
#   tests/bench/peer.sh [--big] [MODEL...]
#
# Models default to the two of tests/bench/decode.sh ($BENCH_DIR: a 2.8 GB
# qwen3moe and the 2.1 GB dense llama2g, both Q4_K: the issue's ~2 GB dense
# model); --big adds the issue's
# 16.7 GB qwen3moe ($BIG).
#
# Each round runs, per model, heft with its best kernels, llama.cpp's
# AVX-512 build repacked (its default) and plain (--no-repack), heft with
# HEFT_SIMD=avx2, llama.cpp's AVX2-only build repacked and plain; the next
# round runs the same list backwards, so drift on a shared machine falls on
# both programs alike. The table holds the medians over the rounds.
#
# Like with like: llama.cpp is measured by llama-batched-bench, which does
# what heft-engine bench does: a prompt of P tokens from an empty cache
# (prefill speed, depth 0), then N tokens decoded one by one after it (decode
# speed at depths P..P+N-1). (llama-bench would decode at depth 0 unless
# given -d, and cannot turn repacking off at the pinned commit: its
# -ot to CPU still picks the repacking buffer type.) Both read the weights
# into memory before timing (heft: --io ram with a budget of the file's
# size + 1 GiB, what auto picks for a model that fits its default budget,
# which the 16.7 GB one does not here; llama.cpp: --load-mode none), so no
# page fault lands in a timed pass. Warm-up: heft leaves the first decoded token out of the decode
# time, llama-batched-bench decodes 16 tokens before it times anything.
#
# Environment: HEFT_ENGINE (./heft-engine), LLAMA_SRC (/work/llama.cpp,
# for the record only), LLAMA_BUILD ($LLAMA_SRC/build: the native AVX-512
# build), LLAMA_LIB ($LLAMA_SRC/build-noamx/bin: a libggml-cpu without AMX,
# put first on LD_LIBRARY_PATH for the AVX-512 build; empty: none),
# LLAMA_BUILD_AVX2 ($LLAMA_SRC/build-avx2), all three made by
# tests/bench/llama-peer.sh (see its header); BENCH_DIR
# (/var/tmp/heft-bench), BIG (/var/tmp/heft-bench-cachesim/qwen3moe-16g.gguf),
# ROUNDS (2), P (512), N (32), THREADS (2), HEFT_FLAGS (more flags for
# heft-engine bench), KEEP (a directory to keep every
# run's output in).
set -u
here=$(cd "$(dirname "$0")" && pwd)
engine=${HEFT_ENGINE:-./heft-engine}
src=${LLAMA_SRC:-/work/llama.cpp}
lbuild=${LLAMA_BUILD:-$src/build}
llib=${LLAMA_LIB-$src/build-noamx/bin}
lbuild2=${LLAMA_BUILD_AVX2:-$src/build-avx2}
dir=${BENCH_DIR:-/var/tmp/heft-bench}
ROUNDS=${ROUNDS:-2}
P=${P:-512}
N=${N:-32}
THREADS=${THREADS:-2}

big=0
[ "${1:-}" = --big ] && { big=1; shift; }
[ $# -gt 0 ] || set -- "$dir/qwen3moe-Q4_K.gguf" "$dir/llama2g-Q4_K.gguf"
[ $big = 1 ] && set -- "$@" "${BIG:-/var/tmp/heft-bench-cachesim/qwen3moe-16g.gguf}"
for m in "$@"; do
	[ -f "$m" ] || { echo "peer.sh: no model $m (tests/bench/decode.sh makes the default ones)" >&2; exit 2; }
done
[ -x "$engine" ] || { echo "peer.sh: no heft-engine at $engine (HEFT_ENGINE)" >&2; exit 2; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/heft-peer.XXXXXX") || exit 2
trap 'rm -rf "$tmp"' EXIT
trap 'exit 1' INT TERM

# The sides, in round order. A llama.cpp side whose build is missing is
# left out with a note rather than failing the whole run.
sides="heft"
[ -x "$lbuild/bin/llama-batched-bench" ] && sides="$sides l512r l512p"
sides="$sides heft2"
[ -x "$lbuild2/bin/llama-batched-bench" ] && sides="$sides l2r l2p"
reversed=$(echo "$sides" | tr ' ' '\n' | awk '{ l[NR] = $0 } END { for (i = NR; i > 0; i--) printf "%s ", l[i] }')

# run SIDE MODEL: appends "prefill decode [bound% bound-tok/s]" to
# $tmp/SIDE.MODEL-INDEX, or returns 1 with the failure on stderr
run() {
	side=$1
	model=$2
	out=$tmp/out
	case $side in
	heft | heft2)
		simd=${HEFT_SIMD:-}
		[ "$side" = heft2 ] && simd=avx2
		# in RAM whatever the default budget says (75 % of what is free
		# would stream the 16.7 GB model's experts here)
		mem=$(($(wc -c <"$model") / 1048576 + 1024))M
		# shellcheck disable=SC2086 # HEFT_FLAGS is a list of flags
		HEFT_SIMD=$simd "$engine" bench "$model" -t "$THREADS" -p "$P" -n "$N" --io ram --mem "$mem" \
			${HEFT_FLAGS:-} --stats-json "$tmp/json" >"$out" 2>&1 || { echo "peer.sh: heft-engine bench $model failed: $(tail -n 1 "$out")" >&2; return 1; }
		# kernels and the bound come from the text report; speeds from the stats
		awk '/^model / { k = $0; sub(/.*kernels /, "", k); sub(/,.*/, "", k); print k }' "$out" >"$tmp/kernels.$side"
		python3 -c '
import json, sys
j = json.load(open(sys.argv[1]))
print(j["prefill_tok_s"], j["decode_tok_s"], end=" ")' "$tmp/json" || return 1
		awk '/^bound / { sub("%", "", $6); print $6, $2 }' "$out"
		;;
	l*)
		case $side in
		l512*) bin=$lbuild/bin lib=$llib ;;
		*) bin=$lbuild2/bin lib="" ;;
		esac
		case $side in
		*p) plain=-nr ;;
		*) plain="" ;;
		esac
		# shellcheck disable=SC2086 # $plain is an optional flag
		LD_LIBRARY_PATH=$lib${lib:+:}${LD_LIBRARY_PATH:-} "$bin/llama-batched-bench" -m "$model" \
			-t "$THREADS" -tb "$THREADS" -c $((P + N + 16)) -npp "$P" -ntg "$N" -npl 1 -lm none $plain \
			--output-format jsonl >"$out" 2>"$out.err" || { echo "peer.sh: llama-batched-bench $side $model failed: $(tail -n 1 "$out.err")" >&2; return 1; }
		python3 -c '
import json, sys
for line in open(sys.argv[1]):
    if line.startswith("{"):
        j = json.loads(line)
        print(j["speed_pp"], j["speed_tg"])
        break
else:
    sys.exit("no result line")' "$out" || return 1
		;;
	esac
}

load() { uptime | sed 's/.*load average: //'; }
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print "nan"; else print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

load_start=$(load)
# the tree the engine was built from, before a rebuild or rebase mid-run
hcommit=$(git -C "$here" describe --always --dirty 2>/dev/null || echo unknown)
r=1
while [ "$r" -le "$ROUNDS" ]; do
	order=$sides
	[ $((r % 2)) = 0 ] && order=$reversed
	i=0
	for m in "$@"; do
		i=$((i + 1))
		for s in $order; do
			line=$(run "$s" "$m") || exit 1
			echo "$line" >>"$tmp/$s.$i"
			echo "peer.sh: round $r/$ROUNDS $(basename "$m") $s: $line" >&2
			[ -n "${KEEP:-}" ] && mkdir -p "$KEEP" && cp "$tmp/out" "$KEEP/$r.$i.$s.out"
		done
	done
	r=$((r + 1))
done
load_end=$(load)

col() { # side model-index field
	if [ -f "$tmp/$1.$2" ]; then cut -d' ' -f"$3" "$tmp/$1.$2" | median; else echo nan; fi
}
best() { awk -v a="$1" -v b="$2" 'BEGIN { if (b == "nan" || a + 0 >= b + 0) print a; else print b }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "nan" || b == "nan" || b + 0 == 0) print "–"; else printf "%.2f", a / b }'; }
fmt() { awk -v a="$1" 'BEGIN { if (a == "nan") print "–"; else printf "%.1f", a }'; }

cpu=$(awk -F': *' '/^model name/ { print $2; exit }' /proc/cpuinfo)
# the version of whichever build there is (a CPU without AVX-512 has only the AVX2 one)
lver=$lbuild/bin/llama-batched-bench
[ -x "$lver" ] || { lver=$lbuild2/bin/llama-batched-bench; llib=""; }
lcommit=$(LD_LIBRARY_PATH=$llib${llib:+:}${LD_LIBRARY_PATH:-} "$lver" --version 2>&1 |
	awk '/^version:/ { print $2, $3 }')
echo "heft-engine bench against llama.cpp's llama-batched-bench, $THREADS threads, prompt $P tokens"
echo "then $N decoded (both: prefill at depth 0, decode at depths $P..$((P + N - 1))), medians of $ROUNDS"
echo "interleaved rounds. CPU: $cpu. llama.cpp: ${lcommit:-unknown} (AVX-512 build $lbuild with"
echo "${llib:-its own libggml-cpu}; AVX2 build $lbuild2). heft: $hcommit. Load average (1, 5, 15 min)"
echo "at start $load_start, at end $load_end."
echo
echo "| model | SIMD | prefill tok/s: heft | llama.cpp repacked | llama.cpp plain | heft / best | decode tok/s: heft | llama.cpp repacked | llama.cpp plain | heft / best | heft % of bound (bound tok/s) |"
echo "|---|---|---|---|---|---|---|---|---|---|---|"
row() { # model-index name heft-side repacked-side plain-side
	simd=$(cat "$tmp/kernels.$3" 2>/dev/null || echo "?")
	hp=$(col "$3" "$1" 1) rp=$(col "$4" "$1" 1) pp=$(col "$5" "$1" 1)
	hd=$(col "$3" "$1" 2) rd=$(col "$4" "$1" 2) pd=$(col "$5" "$1" 2)
	pct=$(col "$3" "$1" 3) bound=$(col "$3" "$1" 4)
	echo "| $2 | $simd | $(fmt "$hp") | $(fmt "$rp") | $(fmt "$pp") | $(ratio "$hp" "$(best "$rp" "$pp")") |" \
		"$(fmt "$hd") | $(fmt "$rd") | $(fmt "$pd") | $(ratio "$hd" "$(best "$rd" "$pd")") | $(fmt "$pct") % ($bound) |"
}
i=0
for m in "$@"; do
	i=$((i + 1))
	name="$(basename "$m" .gguf) ($(du -h "$m" | cut -f1))"
	row $i "$name" heft l512r l512p
	row $i "$name" heft2 l2r l2p
done
[ -x "$lbuild/bin/llama-batched-bench" ] || echo "(no $lbuild/bin/llama-batched-bench: tests/bench/llama-peer.sh builds it)"
[ -x "$lbuild2/bin/llama-batched-bench" ] || echo "(no $lbuild2/bin/llama-batched-bench: NATIVE=OFF AVX2=ON AVX512=OFF LLAMA_BUILD=$lbuild2 tests/bench/llama-peer.sh)"
