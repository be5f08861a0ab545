#!/bin/sh
# tui-engine.sh - heft with the real "heft-engine serve" (not the fake):
# the first run makes and loads the demo model (several times its budget,
# sparse), a turn streams, the token, experts and I/O panes fill from real
# events within that first answer, editing a past turn reuses the KV
# cache (the engine's own n_cached), the engine killed and restarted with
# F8 gets the conversation replayed, a model without a tokenizer
# (tests/data/qwen3-Q4_K_M.gguf) is refused with a clear message, and
# heft -p with --temp 0 is deterministic. Skips (77) without tmux or when
# this heft-engine has no serve command yet.

NAME=tui-engine
. "$(dirname "$0")/tui-lib.sh"
need_tmux

ENGINE=${HEFT_ENGINE:-$top_builddir/heft-engine}
[ -x "$ENGINE" ] || { echo "$NAME: $ENGINE not built"; exit 1; }
if ! printf '{"type":"hello","protocol":1}\n' | timeout 10 "$ENGINE" serve 2>/dev/null | grep -q '"type":"hello"'; then
	echo "$NAME: $ENGINE has no working serve command yet, skipping"
	exit 77
fi
unset HEFT_DEMO_MODEL HEFT_ENGINE_CMD
export HEFT_ENGINE="$ENGINE" XDG_CACHE_HOME="$work/cache"

# real LABEL HEFT-ARGS: heft with the real engine in an 80x24 session.
real() {
	T kill-session -t h >/dev/null 2>&1
	rm -f "$work/exit"
	# (the tmux server's environment is from before the exports above)
	T new-session -d -x 80 -y 24 -s h "env -u HEFT_DEMO_MODEL -u HEFT_ENGINE_CMD LANG=C.UTF-8 \
		LC_ALL=C.UTF-8 TERM=screen HEFT_ENGINE='$ENGINE' XDG_CACHE_HOME='$work/cache' \
		'$HEFT' $2 2>$work/heft.stderr; echo heft-exit=\$? >$work/exit; sleep 60"
	T set-option -t h status off >/dev/null
}

# 1. First run: no model, the demo model is made, announced and loaded.
real first "-n 40 --temp 0"
wait_for 'ready \| qwen3moe' 20 && ok "first run: the demo model loads" || fail "first run: $(screen | tail -2)"
screen | grep -q 'this is the demo model' && ok "first run: the screen says it is the demo model" \
	|| fail "first run: no demo note"
demo="$work/cache/heft/demo-stream.gguf"
[ -s "$demo" ] && ok "demo model made in \$XDG_CACHE_HOME/heft" || fail "no $demo"
# Several times the budget it runs under (44 MiB), its experts holes.
size=$(stat -c %s "$demo" 2>/dev/null || echo 0)
[ "$size" -gt $((4 * 44 * 1048576)) ] && ok "demo model: $((size / 1048576)) MiB, over 4 times its budget" \
	|| fail "demo model: $size bytes, not several times the budget"
disk=$(( $(stat -c %b "$demo") * $(stat -c %B "$demo") ))
if [ "$disk" -lt $((size / 20)) ]; then
	ok "demo model: $((disk / 1024)) KiB on disk (sparse)"
else
	echo "$NAME: note: the file system here keeps no holes ($((disk / 1048576)) MiB on disk)"
fi
screen | grep -q '44 MiB budget' && ok "the welcome says the demo streams under its budget" || fail "welcome: no budget"

# 2. A turn streams; the panes fill from the engine's events.
T send-keys -t h 'Tell me a story.' Enter
wait_for '40 tok [0-9.]+/s \(length\)' 10 && ok "a 40-token reply streamed (n_predict from --n-predict)" \
	|| fail "no reply: $(screen | tail -2 | head -1)"
# (fewer events than tokens: a token ending inside a UTF-8 character is
# sent with the one that completes it)
n=$(screen | head -1 | sed -n 's/.*tokens  *\([0-9]*\)  *avg.*/\1/p')
[ -n "$n" ] && [ "$n" -gt 0 ] && [ "$n" -le 40 ] && ok "token pane: $n token events" || fail "token pane: $(screen | head -1)"
wait_for 'rss .* / ' 5 && ok "I/O pane: RSS against the budget" || fail "I/O pane: no rss line"
# Every pane alive within the first answer: the demo streams its experts.
wait_for 'L[0-9]+ .* [0-9]+%' 5 && ok "experts pane: hit rates per layer: $(screen | grep -Eo 'L0 .* [0-9]+%' | tr -s ' ')" \
	|| { T send-keys -t h '/stats' Enter; sleep 1; fail "experts pane: no numbers: $(screen | cut -c48-)"; }
wait_for 'read +[0-9.]+ MB/s' 3 && ok "I/O pane: $(screen | grep -Eo 'read +[0-9.]+ MB/s' | tr -s ' ')" \
	|| fail "I/O pane: no read rate: $(screen | tail -8)"
screen | grep -Eq 'rss [0-9.]+ [KM]iB / 44.0 MiB' && ok "I/O pane: RSS against the demo's 44 MiB budget" \
	|| fail "I/O pane: $(screen | grep rss)"

# 3. Editing a past turn: the engine re-evaluates from there only.
T send-keys -t h 'Second question.' Enter
wait_for 'prompt [0-9]+ new \+ [1-9][0-9]* reused' 10 && ok "second turn reuses the cached prefix" \
	|| fail "second turn: $(screen | tail -2 | head -1)"
T send-keys -t h M-e C-u 'Another second question.' Enter
wait_for 'regenerated: [0-9]+ tokens re-evaluated, [1-9][0-9]* reused' 10 \
	&& ok "edit: $(screen | grep -o 'regenerated: [0-9]* tokens re-evaluated, [0-9]* reused')" \
	|| fail "edit: $(screen | tail -2 | head -1)"
screen | grep -q 'Second question' && fail "edit: the old turn is still shown" || ok "edit: the old turn is gone"

# 4. Kill the engine: reason, F8, the conversation replayed.
wait_for 'ready' 10
# This heft's engine, not another test's heft-engine serve (make check
# -j): the one with this test's cache directory in its environment.
pid=""
for p in $(pgrep -f "$ENGINE serve"); do
	tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | grep -qx "XDG_CACHE_HOME=$work/cache" && { pid=$p; break; }
done
[ -d /proc/self ] || pid=$(pgrep -f "$ENGINE serve" | head -1)
if [ -n "$pid" ]; then
	kill -9 "$pid"
	wait_for 'was killed by signal 9' 5 && ok "engine killed: reason shown" || fail "engine death not shown"
	T send-keys -t h F8
	wait_for 'ready \| ' 20
	T send-keys -t h 'After the restart.' Enter
	wait_for 'prompt [0-9]+ new \+ 0 reused' 10 && ok "after F8 the whole conversation is evaluated again" \
		|| fail "after F8: $(screen | tail -2 | head -1)"
	# (a page up: the restart's note and the new turn fill the screen)
	T send-keys -t h PPage
	wait_for 'Another second question' 3 && ok "conversation kept" || fail "conversation lost: $(screen)"
	T send-keys -t h NPage
else
	fail "cannot find the engine's pid"
fi

# 5. A model without a tokenizer: a clear message, the UI stays.
if [ -n "$HEFT_TESTDATA" ] && [ -f "$HEFT_TESTDATA/qwen3-Q4_K_M.gguf" ]; then
	real novocab "$HEFT_TESTDATA/qwen3-Q4_K_M.gguf"
	wait_for 'cannot load the model' 20 && ok "no-tokenizer model: refused with a message" \
		|| fail "no-tokenizer model: $(screen | tail -3)"
	wait_for 'no model' 3 && ok "no-tokenizer model: the UI stays up" || fail "status: $(screen | tail -2 | head -1)"
else
	echo "$NAME: HEFT_TESTDATA not set, skipping the no-tokenizer model"
fi

# 6. heft -p: greedy answers are the same twice. (The demo's experts read
# as zeros: greedy, it ends at once after some prompts, such as "Hello".)
"$HEFT" -p 'Tell me a story.' -n 16 --temp 0 "$demo" >"$work/a" 2>"$work/err"; rc1=$?
"$HEFT" -p 'Tell me a story.' -n 16 --temp 0 "$demo" >"$work/b" 2>>"$work/err"; rc2=$?
[ $rc1 -eq 0 ] && [ $rc2 -eq 0 ] && [ -s "$work/a" ] && ok "-p with the real engine" || fail "-p: $rc1 $rc2 $(cat "$work/err")"
cmp -s "$work/a" "$work/b" && ok "-p --temp 0: the same answer twice" || fail "-p --temp 0 differs"
if LC_ALL=C grep -q "$(printf '\033')" "$work/a"; then fail "-p: raw ESC in the output"; else ok "-p: no raw ESC"; fi

finish
