#!/bin/sh
# tui-tmux.sh - drive heft through tmux against tests/fake-engine.
# Scenarios: chat a turn (streamed text, token pane), escape sequences in
# model output neutralised, a slash command reaching the engine, Ctrl-C
# stopping a reply (not heft), resize to 40x12 and back, NO_COLOR, the
# engine killed -> reason shown, conversation kept, /restart replays it.
# Exit 77 (skip) without tmux.

top_builddir=${top_builddir:-$(cd "$(dirname "$0")/.." && pwd)}
HEFT=${HEFT:-$top_builddir/heft}
FAKE=${FAKE_ENGINE:-$top_builddir/tests/fake-engine}

command -v tmux >/dev/null 2>&1 || { echo "tui-tmux: tmux not found, skipping"; exit 77; }
[ -x "$HEFT" ] || { echo "tui-tmux: $HEFT not built"; exit 1; }
[ -x "$FAKE" ] || { echo "tui-tmux: $FAKE not built"; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/heft-tui.XXXXXX") || exit 1
sock="heft-test-$$"
T() { tmux -L "$sock" "$@"; }
cleanup() {
	T kill-server >/dev/null 2>&1
	rm -f "${TMUX_TMPDIR:-/tmp}/tmux-$(id -u)/$sock"
	rm -rf "$work"
}
trap cleanup EXIT INT TERM
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
ok() { echo "ok: $*"; }

screen() { T capture-pane -p -t h; }

# A placeholder session keeps the server up while test sessions come and go
# (killing the last session makes the server exit, racing the next start).
T -f /dev/null new-session -d -s keep 'sleep 3600' || { echo "tui-tmux: cannot start tmux"; exit 1; }

# wait_for REGEX [SECONDS]: poll the screen until grep -E matches.
wait_for() {
	i=0; n=$(( ${2:-5} * 10 ))
	while [ $i -lt $n ]; do
		screen | grep -Eq -- "$1" && return 0
		sleep 0.1; i=$((i + 1))
	done
	return 1
}

# start NAME ENGINE_ARGS [ENV...]: a fresh heft in an 80x24 tmux session.
start() {
	T kill-session -t h >/dev/null 2>&1
	envs=""
	[ $# -gt 2 ] && envs="$3"
	T new-session -d -x 80 -y 24 -s h \
		"env LANG=C.UTF-8 LC_ALL=C.UTF-8 TERM=screen XDG_STATE_HOME=$work/state $envs \
		 '$HEFT' --engine '$FAKE $2 -p $work/engine.pid -l $work/requests.log' fake.gguf \
		 2>$work/heft.stderr; echo heft-exit=\$? >$work/exit; sleep 60"
	T set-option -t h status off >/dev/null
	wait_for 'ready' 5 || fail "$1: heft did not become ready"
}

# 1. A turn streams into the conversation, the token pane fills.
start chat "-r 200"
T send-keys -t h 'Why is the sky blue?' Enter
wait_for 'END' 5 && ok "reply streamed into the conversation" || fail "reply did not stream"
screen | grep -q 'Why is the sky blue?' && ok "user turn shown" || fail "user turn missing"
screen | grep -Eq 'tokens +[0-9]+ +avg' && ok "token pane fills" || fail "token pane empty"
screen | grep -q 'not available' && ok "experts/io say not available without stats" \
	|| fail "no 'not available' without stats"
grep -q '"type":"load","model":"fake.gguf"' "$work/requests.log" && ok "MODEL sent in a load request" \
	|| fail "no load request"

# 2. Escape sequences from the model are shown, not executed.
screen | grep -Fq '^[[31mred^[[0m' && ok "ESC shown as ^[" || fail "ESC not shown as ^["
title=$(T display-message -p -t h '#{pane_title}')
[ "$title" != pwned ] && ok "title-change sequence not executed" || fail "terminal title was changed"
T capture-pane -p -e -t h | grep -q "$(printf '\033')\[31mred" && fail "raw escape reached the terminal" \
	|| ok "no raw escape on the screen"

# 3. Slash commands.
T send-keys -t h '/set temp 0.7' Enter
sleep 0.3
grep -q '"type":"set","options":{"temp":0.7}' "$work/requests.log" && ok "/set temp 0.7 sent" \
	|| fail "/set not sent: $(tail -1 "$work/requests.log")"
T send-keys -t h '/help' Enter
wait_for 'Commands:' 3 && ok "/help shown" || fail "/help not shown"

# 4. Resize to 40x12 and back: side panes collapse, conversation and input stay.
T resize-window -t h -x 40 -y 12
sleep 0.5
s=$(screen)
echo "$s" | grep -q 'conversation' && ok "40x12: conversation stays" || fail "40x12: no conversation"
echo "$s" | grep -q 'tokens' && fail "40x12: side panes did not collapse" || ok "40x12: side panes collapsed"
echo "$s" | tail -1 | grep -q '^>' && ok "40x12: input line stays" || fail "40x12: no input line"
T send-keys -t h 'typed at 40' ; sleep 0.2
screen | tail -1 | grep -q 'typed at 40' && ok "40x12: typing works" || fail "40x12: typing lost"
T send-keys -t h C-c
T resize-window -t h -x 80 -y 24
sleep 0.5
screen | grep -q 'tokens' && ok "80x24: panes back" || fail "80x24: panes not back"

# 5. Ctrl-C stops the reply, not heft.
start cancel "-r 5"
T send-keys -t h 'count slowly' Enter
wait_for 'generating' 3 || fail "cancel: generation did not start"
sleep 0.5
T send-keys -t h C-c
wait_for '\[stopped\]' 3 && ok "Ctrl-C stopped the reply" || fail "Ctrl-C did not stop the reply"
wait_for 'ready' 3 && ok "heft still running after Ctrl-C" || fail "heft gone after Ctrl-C"
[ -e "$work/exit" ] && fail "heft exited on Ctrl-C"

# 6. Typing while tokens stream.
T send-keys -t h 'second question' Enter
wait_for 'generating' 3
T send-keys -t h 'abc'
sleep 0.2
screen | tail -1 | grep -q '> abc' && ok "typing works while streaming" || fail "typing blocked while streaming"
T send-keys -t h C-c C-c
wait_for 'ready' 3

# 7. Kill the engine: reason shown, conversation kept, /restart replays it.
kill -9 "$(cat "$work/engine.pid")"
wait_for 'killed by signal 9' 3 && ok "engine death reported with reason" || fail "engine death not reported"
screen | grep -q 'count slowly' && ok "conversation kept after engine death" || fail "conversation lost"
T send-keys -t h 'lost?' Enter
sleep 0.3
screen | tail -1 | grep -q 'lost?' && ok "line kept when the engine is down" || fail "line lost while engine down"
T send-keys -t h C-u '/restart' Enter
wait_for 'engine started' 3 && ok "/restart" || fail "/restart did not start the engine"
: >"$work/requests.log"
T send-keys -t h 'after restart' Enter
wait_for 'generating' 3 || fail "no reply after restart"
T send-keys -t h C-c
wait_for 'ready' 3
grep '"type":"chat"' "$work/requests.log" | grep -q 'count slowly' && ok "conversation replayed to the new engine" \
	|| fail "conversation not replayed"

# 8. Stats panes draw from stats events.
start stats "-r 200 -s"
T send-keys -t h 'stats please' Enter
wait_for 'END' 5
screen | grep -q 'L0 ' && ok "experts pane drew layers from stats" || fail "experts pane empty with stats"
screen | grep -q 'read .* MB/s' && ok "I/O pane drew from stats" || fail "I/O pane empty with stats"

# 9. Colour, and NO_COLOR.
T capture-pane -p -e -t h | grep -Eq "$(printf '\033')\[[0-9;]*(3[0-7]|4[0-7])m" \
	&& ok "colour used by default" || fail "no colour by default"
start nocolor "-r 200" NO_COLOR=1
T send-keys -t h 'hi' Enter
wait_for 'END' 5
T capture-pane -p -e -t h | grep -Eq "$(printf '\033')\[[0-9;]*(3[0-7]|4[0-7]|38|48)[;m]" \
	&& fail "NO_COLOR: colour codes on screen" || ok "NO_COLOR: no colour"

# 10. /quit exits cleanly and leaves history.
T send-keys -t h '/quit' Enter
i=0; while [ ! -e "$work/exit" ] && [ $i -lt 30 ]; do sleep 0.1; i=$((i + 1)); done
grep -q 'heft-exit=0' "$work/exit" 2>/dev/null && ok "/quit exits 0" || fail "/quit: $(cat "$work/exit" 2>/dev/null)"
grep -q 'hi' "$work/state/heft/history" 2>/dev/null && ok "history saved" || fail "history not saved"
[ -s "$work/heft.stderr" ] && { echo "heft stderr:"; cat "$work/heft.stderr"; }

[ $failures -eq 0 ] && echo "tui-tmux: all scenarios passed" || echo "tui-tmux: $failures failure(s)"
[ $failures -eq 0 ]
