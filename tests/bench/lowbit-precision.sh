#!/bin/sh
# lowbit-precision.sh - issue 18's precision table: on models made here
# (the shared fixtures' shapes at other seeds, quantized by llama.cpp),
# heft's NMSE to llama.cpp's plain CPU path next to llama.cpp's own spread
# between its plain and repacked paths.
#
#   LLAMA_BIN=/work/llama.cpp/build/bin tests/bench/lowbit-precision.sh
#
# Per family and seed: `heft-engine synth` writes an F16 model,
# uniform-imatrix.py an importance matrix of ones (llama-quantize wants one
# for the IQ1/IQ2/IQ3_XXS types), llama-quantize each type; then 32 tokens
# (fixed by the seed) are evaluated in one batch plus 8 greedy steps by
# llama-logits (llama-peer.sh builds it) without (-nr) and with weight
# repacking, and by heft-engine eval; tests/refcmp gives the NMSEs. Prints
# a Markdown table: per row the mean over seeds, the bound
# 1.5 x max(spread, 3e-4) and whether heft is within it.
#
# Environment: LLAMA_BIN (required: llama-quantize, llama-logits),
# HEFT_ENGINE (./heft-engine), REFCMP (./tests/refcmp), DIR (work files,
# /var/tmp/heft-precision; models are kept, logits recomputed), SEEDS
# ("101 102 103"), FAMILIES ("deepseek2 glm4moe gpt-oss"), TYPES
# ("IQ2_XXS IQ3_XXS IQ1_S Q4_K_M"; gpt-oss also MXFP4_MOE), THREADS (2),
# LLAMA_LIBDIR (put first on LD_LIBRARY_PATH for llama-logits: on a CPU
# with AMX or AVX512-FP16, the libggml-cpu of llama-peer.sh's NO_AMX=1, the
# AVX-512 of AMD's EPYC: the AMX buffer type crashes the repacked path where
# the kernel does not grant AMX, and with FP16 ggml sums F16 vectors in F16).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
bin=${LLAMA_BIN:?set LLAMA_BIN to llama-peer.sh\'s output directory}
engine=${HEFT_ENGINE:-./heft-engine}
refcmp=${REFCMP:-./tests/refcmp}
dir=${DIR:-/var/tmp/heft-precision}
seeds=${SEEDS:-101 102 103}
families=${FAMILIES:-deepseek2 glm4moe gpt-oss}
types=${TYPES:-IQ2_XXS IQ3_XXS IQ1_S Q4_K_M}
threads=${THREADS:-2}
mkdir -p "$dir"
[ -n "${LLAMA_LIBDIR:-}" ] && export LD_LIBRARY_PATH="$LLAMA_LIBDIR${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"

# The shared fixtures' shapes (docs: ../shared/fixtures/README.md).
shape() {
	case $1 in
	deepseek2) echo "--arch deepseek2 --embd 256 --layers 3 --dense-lead 1 --heads 4 --head-dim 96
		--rope-dim 32 --q-lora-rank 96 --kv-lora-rank 64 --v-head-dim 64 --ff 512 --experts 8
		--experts-used 2 --expert-ff 128 --shared-experts 1 --expert-groups 4 --group-used 2
		--expert-scale 2.5 --gating sigmoid --rope-scaling yarn --rope-factor 4 --rope-orig-ctx 32
		--yarn-log-mul 0.1 --rope-base 1e6 --vocab 512 --ctx 256" ;;
	glm4moe) echo "--arch glm4moe --embd 256 --layers 3 --dense-lead 1 --heads 4 --kv-heads 2
		--head-dim 64 --rope-dim 32 --ff 512 --experts 8 --experts-used 2 --expert-ff 128
		--shared-experts 1 --expert-scale 2.5 --gating sigmoid --rope-base 1e6 --vocab 512 --ctx 256" ;;
	gpt-oss) echo "--arch gpt-oss --embd 256 --layers 2 --heads 4 --kv-heads 2 --head-dim 64
		--experts 8 --experts-used 2 --expert-ff 256 --swa 16 --rope-base 1e6 --rope-scaling yarn
		--rope-factor 4 --rope-orig-ctx 32 --vocab 512 --ctx 256" ;;
	esac
}

# NMSE of OUT against REF (refcmp's "nmse X" field)
nmse() {
	"$refcmp" --tol 1 "$1" "$2" 2>&1 | sed -n 's/.* nmse \([0-9.e+-]*\) .*/\1/p' | head -1
}

echo "| family | type | seed | heft to llama.cpp plain | llama.cpp plain to repacked | bound | |"
echo "|---|---|---|---|---|---|---|"
for fam in $families; do
	t_all=$types
	[ "$fam" = gpt-oss ] && t_all="$types MXFP4_MOE"
	for seed in $seeds; do
		f16=$dir/$fam-s$seed-F16.gguf
		# shellcheck disable=SC2046 # shape is a list of options
		[ -s "$f16" ] || "$engine" synth $(shape "$fam") --type F16 --seed "$seed" -q -o "$f16"
		[ -s "$dir/$fam-s$seed.imatrix" ] || python3 "$here/uniform-imatrix.py" "$f16" "$dir/$fam-s$seed.imatrix"
		toks=$(awk -v s="$seed" 'BEGIN { srand(s); for (i = 0; i < 32; i++) printf "%d ", int(rand() * 512) }')
		for t in $t_all; do
			m=$dir/$fam-s$seed-$t.gguf
			[ -s "$m" ] || nice "$bin/llama-quantize" --imatrix "$dir/$fam-s$seed.imatrix" "$f16" "$m" "$t" \
				"$threads" >"$m.log" 2>&1 || { echo "quantize $m failed: see $m.log" >&2; continue; }
			# shellcheck disable=SC2086 # toks is a list
			"$bin/llama-logits" -nr -t "$threads" "$m" $toks >"$m.plain.ref"
			# shellcheck disable=SC2086
			"$bin/llama-logits" -t "$threads" "$m" $toks >"$m.repack.ref"
			# shellcheck disable=SC2086 # word splitting drops the trailing space
			"$engine" eval "$m" --tokens "$(echo $toks | tr ' ' ,)" --greedy 8 -t "$threads" \
				--out "$m.heft.ref" >/dev/null 2>&1
			h=$(nmse "$m.plain.ref" "$m.heft.ref")
			s=$(nmse "$m.plain.ref" "$m.repack.ref")
			awk -v f="$fam" -v t="$t" -v sd="$seed" -v h="$h" -v s="$s" 'BEGIN {
				b = 1.5 * (s > 3e-4 ? s : 3e-4)
				printf "| %s | %s | %s | %.3g | %.3g | %.3g | %s |\n", f, t, sd, h, s, b, (h <= b ? "ok" : "OVER")
			}'
		done
	done
done
