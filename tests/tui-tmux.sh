#!/bin/sh
# tui-tmux.sh - drive heft through tmux against tests/fake-engine.
# Scenarios: chat a turn (streamed text, token pane), escape sequences in
# model output neutralised, a slash command reaching the engine, Ctrl-C
# stopping a reply (not heft), resize to 40x12 and back, NO_COLOR, the
# ASCII fallback, the engine killed -> reason shown, conversation kept,
# /restart and F8 replay it, stats panes redrawn at most 4 times a second.
# Exit 77 (skip) without tmux. See also tui-edit.sh, tui-session.sh,
# tui-plain.sh, tui-perf.sh, tui-engine.sh.

NAME=tui-tmux
. "$(dirname "$0")/tui-lib.sh"
need_tmux

# 1. A turn streams into the conversation, the token pane fills.
start chat "-r 200" fake.gguf
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
wait_for 'F5 or Ctrl-R search' 3 && ok "/help shown" || fail "/help not shown"

# 4. Resize to 40x12 and back: side panes collapse, conversation and input stay.
T resize-window -t h -x 40 -y 12
sleep 0.5
s=$(screen)
echo "$s" | grep -q 'conversation' && ok "40x12: conversation stays" || fail "40x12: no conversation"
echo "$s" | grep -Eq '│|tokens +[0-9]+ +avg' && fail "40x12: side panes did not collapse" || ok "40x12: side panes collapsed"
echo "$s" | tail -1 | grep -q '^>' && ok "40x12: input line stays" || fail "40x12: no input line"
T send-keys -t h 'typed at 40' ; sleep 0.2
screen | tail -1 | grep -q 'typed at 40' && ok "40x12: typing works" || fail "40x12: typing lost"
T send-keys -t h C-c
T resize-window -t h -x 80 -y 24
sleep 0.5
screen | grep -Eq '│ tokens +[0-9]+ +avg' && ok "80x24: panes back" || fail "80x24: panes not back"

# 5. Ctrl-C stops the reply, not heft.
start cancel "-r 5" fake.gguf
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
wait_for 'was killed by signal 9' 3 && ok "engine death reported with reason" || fail "engine death not reported"
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
# The same with the F8 key, mid-reply this time: the reply is tagged.
T send-keys -t h 'killed mid-reply' Enter
wait_for 'generating' 3
kill -9 "$(cat "$work/engine.pid")"
wait_for 'interrupted: engine exited' 3 && ok "reply cut by the engine's death is tagged" \
	|| fail "no 'interrupted' tag after the engine died mid-reply"
wait_for 'engine stopped' 3
: >"$work/requests.log"
T send-keys -t h F8
wait_for 'ready' 3 && ok "F8 restarts the engine" || fail "F8 did not restart the engine"
T send-keys -t h 'after F8' Enter
wait_for 'generating' 3
T send-keys -t h C-c
wait_for 'ready' 3
last_request chat | grep -q 'killed mid-reply' && ok "F8: conversation replayed" || fail "F8: not replayed"

# 8. Stats panes draw from stats events.
start stats "-r 200 -s" fake.gguf
T send-keys -t h 'stats please' Enter
wait_for 'END' 5
screen | grep -q 'L0 ' && ok "experts pane drew layers from stats" || fail "experts pane empty with stats"
screen | grep -q 'read .* MB/s' && ok "I/O pane drew from stats" || fail "I/O pane empty with stats"

# Stats arrive ~60 times a second here; the experts pane may change at
# most 4 times a second (and a few frames of slack for the sampling).
start throttle "-r 500 -s -n 2000" fake.gguf
T send-keys -t h 'fast stats' Enter
wait_for 'L0 ' 3
t0=$(date +%s%N)
states=$(i=0; while [ $i -lt 60 ]; do
		T capture-pane -p -t h -S 7 -E 13 | cut -c49- | tr '\n' '|'; echo
		sleep 0.033; i=$((i + 1))
	done | uniq | wc -l)
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
most=$(( ms * 4 / 1000 + 2 ))	# 4 a second, and the first and a partial one
[ "$states" -ge 3 ] && [ "$states" -le $most ] && ok "experts pane redrawn $states times in $ms ms (<= 4/s)" \
	|| fail "experts pane changed $states times in $ms ms (want 3..$most)"
T send-keys -t h C-c

# 9. Colour, and NO_COLOR.
T capture-pane -p -e -t h | grep -Eq "$(printf '\033')\[[0-9;]*(3[0-7]|4[0-7])m" \
	&& ok "colour used by default" || fail "no colour by default"
start nocolor "-r 200" fake.gguf NO_COLOR=1
T send-keys -t h 'hi' Enter
wait_for 'END' 5
T capture-pane -p -e -t h | grep -Eq "$(printf '\033')\[[0-9;]*(3[0-7]|4[0-7]|38|48)[;m]" \
	&& fail "NO_COLOR: colour codes on screen" || ok "NO_COLOR: no colour"

# ASCII fallback: a locale that is not UTF-8 gets no byte above 0x7f,
# model text included (the fake reply has none; send some).
start ascii "-r 200 -t $(printf 'caf\303\251-\342\224\200-END')" fake.gguf "LANG=C LC_ALL=C"
T send-keys -t h 'plain ascii' Enter
wait_for 'END' 5
if screen | LC_ALL=C grep -q "$(printf '[\200-\377]')"; then
	fail "ASCII locale: non-ASCII bytes on screen"
else
	ok "ASCII locale: only ASCII on screen"
fi
screen | grep -q 'caf?-?-END' && ok "ASCII locale: non-ASCII text shown as ?" || fail "ASCII locale: $(screen | grep caf)"
T send-keys -t h C-c

# 10. /quit exits cleanly and leaves history.
T send-keys -t h '/quit' Enter
i=0; while [ ! -e "$work/exit" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
grep -q 'heft-exit=0' "$work/exit" 2>/dev/null && ok "/quit exits 0" || fail "/quit: $(cat "$work/exit" 2>/dev/null)"
grep -q 'hi' "$work/state/heft/history" 2>/dev/null && ok "history saved" || fail "history not saved"
finish
