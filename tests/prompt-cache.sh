#!/bin/sh
# prompt-cache.sh - `heft-engine run --prompt-cache FILE` end to end.
# With token ids on a small MoE model (tests/data), and with text on the
# end-to-end fixture (a real tokenizer; skipped without ../shared/fixtures):
#   - the first run evaluates the whole prompt and saves the state;
#   - the same prompt again evaluates 1 token and prints the same output;
#   - a prompt that extends the cached one evaluates only the extension;
#     extended by the first run's own output, the greedy continuation is
#     the first run's;
#   - a corrupt, truncated or foreign cache file (also one from a model with
#     the same metadata but other weights) is refused with a message,
#     the whole prompt is evaluated and the run succeeds with the same output;
#   - a cache that cannot be written is reported and the run fails.
# Environment: HEFT_ENGINE, HEFT_TESTDATA, HEFT_FIXTURES, top_srcdir, top_builddir.
set -u
engine=${HEFT_ENGINE:-${top_builddir:-.}/heft-engine}
data=${HEFT_TESTDATA:-${top_srcdir:-.}/tests/data}
fixtures=${HEFT_FIXTURES:-${top_srcdir:-.}/../shared/fixtures}
moe=$data/qwen3moe-Q4_K_M.gguf
other=$data/llama-Q4_0.gguf
text_model=$fixtures/models/qwen3moe-gpt2vocab-Q4_0.gguf

if [ ! -x "$engine" ]; then
	echo "prompt-cache: $engine is not built" >&2
	exit 99
fi
if [ ! -f "$moe" ] || [ ! -f "$other" ]; then
	echo "prompt-cache: no $moe or $other (set HEFT_TESTDATA); skipping"
	exit 77
fi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/heft-pc.XXXXXX") || exit 99
trap 'rm -rf "$tmp"' EXIT INT TERM
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

# run NAME ARGS...: stdout in $tmp/NAME.out, stderr in $tmp/NAME.err, status in $rc.
run() {
	name=$1
	shift
	"$engine" run "$@" >"$tmp/$name.out" 2>"$tmp/$name.err"
	rc=$?
}
# The number of tokens a run evaluated, from its stats line on stderr.
prefilled() { sed -n 's/^prefill \([0-9][0-9]*\) tokens.*/\1/p' "$tmp/$1.err"; }
expect_prefill() { # NAME N
	got=$(prefilled "$1")
	[ "$got" = "$2" ] || fail "$1: evaluated '$got' prompt tokens, expected $2: $(cat "$tmp/$1.err")"
}
expect_ok() { [ "$rc" -eq 0 ] || fail "$1: exit status $rc: $(cat "$tmp/$1.err")"; }
same_out() { cmp -s "$tmp/$1.out" "$tmp/$2.out" || fail "$2: output '$(cat "$tmp/$2.out")' differs from $1's '$(cat "$tmp/$1.out")'"; }
expect_msg() { # NAME TEXT: one line of stderr names the prompt cache and says TEXT
	grep "prompt cache" "$tmp/$1.err" | grep -q -- "$2" || fail "$1: no message '$2': $(cat "$tmp/$1.err")"
}

# ---- token ids on the MoE model --------------------------------------------------
ids=$(awk 'BEGIN { s = 7; for (i = 0; i < 48; i++) { s = (s * 75 + 74) % 65537;
	printf "%s%d", i ? "," : "", s % 500 } }')
cache=$tmp/ids.cache
run first "$moe" --tokens "$ids" -n 8 --prompt-cache "$cache"
expect_ok first
expect_prefill first 48
[ -s "$cache" ] || fail "first: no cache file written"
[ "$(wc -w <"$tmp/first.out")" -eq 8 ] || fail "first: output '$(cat "$tmp/first.out")'"

run again "$moe" --tokens "$ids" -n 8 --prompt-cache "$cache"
expect_ok again
expect_prefill again 1
expect_msg again "47 of 48 prompt tokens reused"
same_out first again

# Extended by the first run's own first three tokens: the cache holds them,
# so one token is evaluated and the continuation is the first run's.
gen=$(tr ' ' ',' <"$tmp/first.out")
g3=$(echo "$gen" | cut -d, -f1-3)
rest=$(cut -d' ' -f4-8 <"$tmp/first.out")
run extend-own "$moe" --tokens "$ids,$g3" -n 5 --prompt-cache "$cache"
expect_ok extend-own
expect_prefill extend-own 1
[ "$(cat "$tmp/extend-own.out")" = "$rest" ] ||
	fail "extend-own: continuation '$(cat "$tmp/extend-own.out")', the first run went on with '$rest'"

# Extended by tokens the cache does not hold: the 48 shared ones are reused.
run first2 "$moe" --tokens "$ids" -n 8 --prompt-cache "$cache"
g0=$(cut -d' ' -f1 <"$tmp/first2.out")
new=$(((g0 + 1) % 500)),11,12,13
run plain "$moe" --tokens "$ids,$new" -n 8
run extend "$moe" --tokens "$ids,$new" -n 8 --prompt-cache "$cache"
expect_ok extend
expect_prefill extend 4
expect_msg extend "48 of 52 prompt tokens reused"
same_out plain extend

# Unusable files: refused with a reason, the prompt evaluated, the run fine.
run first3 "$moe" --tokens "$ids" -n 8 --prompt-cache "$cache"
size=$(wc -c <"$cache")
cp "$cache" "$tmp/good.cache"
printf '\377' | dd of="$cache" bs=1 seek=$((size / 2)) conv=notrunc 2>/dev/null
run corrupt "$moe" --tokens "$ids" -n 8 --prompt-cache "$cache"
expect_ok corrupt
expect_msg corrupt "checksum"
expect_prefill corrupt 48
same_out first corrupt
# ... and the run wrote a good state over it
run after-corrupt "$moe" --tokens "$ids" -n 8 --prompt-cache "$cache"
expect_prefill after-corrupt 1

head -c $((size - 100)) "$tmp/good.cache" >"$cache"
run truncated "$moe" --tokens "$ids" -n 8 --prompt-cache "$cache"
expect_ok truncated
expect_msg truncated "truncated"
expect_prefill truncated 48
same_out first truncated

cp "$tmp/good.cache" "$cache"
run foreign "$other" --tokens "$ids" -n 8 --prompt-cache "$cache"
expect_ok foreign
expect_msg foreign "another model"
expect_prefill foreign 48

# The same metadata, other weights (two synth models that differ only in
# their seed): refused in one line, the prompt evaluated.
synth() { "$engine" synth -q --arch qwen3moe --embd 64 --layers 2 --heads 2 --kv-heads 1 --ff 128 \
	--experts 4 --experts-used 2 --expert-ff 64 --ctx 256 --seed "$1" -o "$2" 2>"$tmp/synth.err" ||
	fail "synth --seed $1: $(cat "$tmp/synth.err")"; }
synth 1 "$tmp/seed1.gguf"
synth 2 "$tmp/seed2.gguf"
cache=$tmp/seed.cache
run seed1 "$tmp/seed1.gguf" --tokens "$ids" -n 4 --prompt-cache "$cache"
expect_ok seed1
run seed1-again "$tmp/seed1.gguf" --tokens "$ids" -n 4 --prompt-cache "$cache"
expect_prefill seed1-again 1
run seed2 "$tmp/seed2.gguf" --tokens "$ids" -n 4 --prompt-cache "$cache"
expect_ok seed2
expect_msg seed2 "the same metadata, other weights"
expect_prefill seed2 48
[ "$(grep -c "prompt cache" "$tmp/seed2.err")" -eq 1 ] || fail "seed2: not one line: $(cat "$tmp/seed2.err")"
cache=$tmp/ids.cache

run unwritable "$moe" --tokens "$ids" -n 8 --prompt-cache "$tmp/no/such/dir/cache"
[ "$rc" -ne 0 ] || fail "unwritable: exit status 0"
grep -q "prompt cache not saved" "$tmp/unwritable.err" || fail "unwritable: no message: $(cat "$tmp/unwritable.err")"
same_out first unwritable

# ---- text through the session (a real tokenizer) ------------------------------------
if [ -f "$text_model" ]; then
	prompt="Once upon a time, in a land far away, there lived a king who had three daughters."
	cache=$tmp/text.cache
	run t-first "$text_model" -p "$prompt" -n 12 --temp 0 --prompt-cache "$cache"
	expect_ok t-first
	n=$(prefilled t-first)
	[ "${n:-0}" -gt 2 ] || fail "t-first: evaluated '$n' prompt tokens"
	run t-again "$text_model" -p "$prompt" -n 12 --temp 0 --prompt-cache "$cache"
	expect_ok t-again
	expect_prefill t-again 1
	same_out t-first t-again
	run t-plain "$text_model" -p "$prompt The youngest" -n 12 --temp 0
	run t-extend "$text_model" -p "$prompt The youngest" -n 12 --temp 0 --prompt-cache "$cache"
	expect_ok t-extend
	total=$(prefilled t-plain)
	got=$(prefilled t-extend)
	[ "${got:-999}" -lt $((total - n + 2)) ] ||
		fail "t-extend: evaluated '$got' of $total tokens; $n were cached"
	same_out t-plain t-extend
else
	echo "prompt-cache: no $text_model (set HEFT_FIXTURES): text prompts not tested"
fi

if [ "$fails" -ne 0 ]; then
	echo "prompt-cache: $fails failure(s)"
	exit 1
fi
echo "prompt-cache: ok"
exit 0
