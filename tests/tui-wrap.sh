#!/bin/sh
# tui-wrap.sh - long messages are shown whole, wrapped, never cut: the
# engine's last words before it died (a stderr line of several hundred
# characters) in the conversation pane, and a status message longer than
# the screen is wide on a status line that grows to hold it.

NAME=tui-wrap
. "$(dirname "$0")/tui-lib.sh"
need_tmux

# The screen as one line, rows joined by a space (wrapping breaks at spaces).
joined() { screen | tr '\n' ' ' | tr -s ' '; }

# 1. The engine dies after a 500-character line on stderr: every word of it
# is in the note, up to the last.
words=$(i=1; while [ $i -le 70 ]; do printf 'word%02d ' $i; i=$((i + 1)); done)
start lastword "-e -r 0 -k 2 -w \"$words\"" "m.gguf"
T send-keys -t h 'hello' Enter
wait_for 'word70' 5 && ok "the engine's long last line reaches its end" \
	|| fail "last line: $(screen)"
missing=""
for w in $words; do
	joined | grep -q -- "$w" || missing="$missing $w"
done
[ -z "$missing" ] && ok "every word of it is shown" || fail "words not shown:$missing"

# 2. A status message wider than the screen: the session cannot be written
# to a missing directory, and the whole reason shows on the status line.
sess="$work/no-such-directory/session.jsonl"
start status "-e -r 0" "--session $sess m.gguf"
T send-keys -t h 'hello' Enter
wait_for 'No such file' 5 && joined | grep -q -- "$sess: No such file or directory" \
	&& ok "a long status message is shown whole" || fail "status: $(screen | tail -4)"
wait_for '> *$' 1
screen | tail -1 | grep -q '^>' && ok "the input line stays at the bottom" || fail "input: $(screen | tail -1)"

finish
