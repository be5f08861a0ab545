#!/bin/sh
# tui-session.sh - sessions and failures through tmux against the fake
# engine: every turn in a 0600 session file as it happens, --resume reopens
# the last one and replays it, a session that cannot be written (no
# directory, full disk) is said in the status line while the UI stays up;
# a bad model path, an engine that is not executable or prints garbage:
# a clear message, the UI stays, nothing typed is lost. First run without a
# model: the demo model, said on screen. Exit 77 (skip) without tmux.

NAME=tui-session
. "$(dirname "$0")/tui-lib.sh"
need_tmux

sessions="$XDG_DATA_HOME/heft/sessions"

# 1. Every turn is appended as it happens, mode 0600.
start record "-e -r 300" fake.gguf
T send-keys -t h 'keep this' Enter
wait_for 'You said: keep this' 5
f=$(ls "$sessions"/*.jsonl 2>/dev/null | head -1)
[ -n "$f" ] && ok "session file created: ${f#$work/}" || fail "no session file in $sessions"
[ "$(stat -c %a "$f" 2>/dev/null)" = 600 ] && ok "session file mode 0600" || fail "mode $(stat -c %a "$f" 2>/dev/null)"
[ "$(stat -c %a "$sessions" 2>/dev/null)" = 700 ] && ok "sessions directory mode 0700" || fail "dir mode"
wait_for 'ready' 3
grep -q '"role":"user","content":"keep this"' "$f" && grep -q '"content":"You said: keep this. END"' "$f" \
	&& ok "user turn and reply recorded" || fail "turns missing: $(cat "$f")"
T send-keys -t h 'second' Enter
wait_for 'You said: second' 5
T send-keys -t h M-e C-u 'second edited' Enter
wait_for 'You said: second edited' 5
wait_for 'ready' 3
grep -q '"truncate":2' "$f" && ok "edit recorded as truncate" || fail "no truncate record"
T send-keys -t h '/quit' Enter
wait_file "$work/exit" 3

# 2. --resume: the last session, its model, replayed with the next message.
T kill-session -t h
start resume "-e -r 300" "--resume"
wait_for 'Resumed 4 turns' 3 && ok "--resume: turns restored" || fail "--resume: $(screen | grep -i resum)"
screen | grep -q 'You said: second edited' && ! screen | grep -q 'You said: second\.' \
	&& ok "--resume shows the edited conversation" || fail "--resume: wrong turns shown"
last_request load | grep -q '"model":"fake.gguf"' && ok "--resume loads the session's model" \
	|| fail "--resume load: $(last_request load)"
T send-keys -t h 'third' Enter
wait_for 'You said: third' 5
last_request chat | grep -q '"content":"keep this"},.*"content":"second edited"},.*"content":"third"}' \
	&& ok "the resumed conversation is replayed to the engine" || fail "not replayed: $(last_request chat)"
[ "$(ls "$sessions" | wc -l)" -eq 1 ] && ok "--resume appends to the same file" || fail "a second session file appeared"
grep -q '"content":"third"' "$f" && ok "new turns appended to the resumed file" || fail "third not recorded"

# 3. /save and /load. /save replaces an existing 0644 file by a private one;
# a FIFO as /load's file is refused at once.
echo old >"$work/saved.jsonl"
chmod 644 "$work/saved.jsonl"
T send-keys -t h "/save $work/saved.jsonl" Enter
wait_for 'saved 6 turns' 3 && ok "/save" || fail "/save: $(screen | tail -2 | head -1)"
[ "$(stat -c %a "$work/saved.jsonl")" = 600 ] && ok "/save over a 0644 file: 0600" \
	|| fail "/save left mode $(stat -c %a "$work/saved.jsonl")"
mkfifo "$work/fifo"
T send-keys -t h "/load $work/fifo" Enter
# (the note wraps: "...: not" / "a regular file")
wait_for 'regular file' 3 && ok "/load of a FIFO: refused" || fail "/load FIFO: $(screen)"
T send-keys -t h "/save $work/fifo" Enter
wait_for '^/save: ' 3 && [ "$(screen | grep -c 'regular file')" -eq 2 ] && [ -p "$work/fifo" ] \
	&& ok "/save to a FIFO: refused, left a FIFO" \
	|| fail "/save FIFO: $(screen | tail -2 | head -1)"
T send-keys -t h '/clear' Enter
wait_for 'conversation cleared' 3
screen | grep -q 'keep this' && fail "/clear left turns" || ok "/clear"
T send-keys -t h "/load $work/saved.jsonl" Enter
wait_for 'loaded 6 turns' 3 && screen | grep -q 'You said: third' && ok "/load" || fail "/load"
T send-keys -t h "/load $work/nonexistent" Enter
wait_for 'such file or directory' 3 && ok "/load of a missing file: a clear message" || fail "/load missing: $(screen)"

# 4. No directory for sessions: said, the UI stays, the message still goes.
start nodir "-e -r 300" fake.gguf "XDG_DATA_HOME=/dev/null/x"
T send-keys -t h 'unsaved' Enter
wait_for 'session NOT SAVED' 3 && ok "unwritable directory: status line says NOT SAVED" || fail "no NOT SAVED"
screen | tr '\n' ' ' | grep -q 'cannot create /dev/null/x/heft/sessions: Not a directory' && ok "the reason is shown" || fail "no reason shown"
wait_for 'You said: unsaved' 5 && ok "the message was still sent" || fail "message lost"
T send-keys -t h "/save $work/rescued.jsonl" Enter
wait_for 'saved 2 turns' 3 && ok "/save rescues the unsaved session" || fail "/save after failure"

# 5. A device as the session file (/dev/full): refused, said, nothing typed
# is lost (a full disk itself: tests/test-fileio).
start full "-e -r 300" "--session /dev/full fake.gguf"
T send-keys -t h 'disk is full' Enter
wait_for 'not a regular file' 3 && ok "full disk: said" || fail "full disk: $(screen | tail -2 | head -1)"
wait_for 'You said: disk is full' 5 && ok "full disk: the UI goes on" || fail "full disk: no reply"
T send-keys -t h 'still typing'
sleep 0.2
screen | tail -1 | grep -q 'still typing' && ok "full disk: typing works" || fail "full disk: typing"
[ -c /dev/full ] && ok "/dev/full left alone" || fail "/dev/full was replaced!"

# 6. First run without a model: the demo model, and the screen says so.
: >"$HEFT_DEMO_MODEL"
start demo "-r 300" ""
screen | grep -q 'demo model' && ok "no model: the demo model is announced" || fail "no demo note"
last_request load | grep -q "demo.gguf" && ok "the demo model is loaded" || fail "demo load: $(last_request load)"

# 7. A bad model path: a clear message, the UI stays, typing works.
READY='no model' start badmodel "-L -r 300" "$work/no-such-model.gguf"
wait_for 'cannot load the model:' 3 && wait_for 'No such file or directory' 1 && ok "bad model: clear message" \
	|| fail "bad model: $(screen | grep -i model | head -3)"
wait_for 'no model' 3 && ok "bad model: status says no model" || fail "bad model status"
T send-keys -t h 'still here' Enter
wait_for 'no model loaded' 3 && ok "bad model: a message gets the engine's no_model" || fail "no no_model"
: >"$HEFT_DEMO_MODEL"
T send-keys -t h "/model $HEFT_DEMO_MODEL" Enter
wait_for 'ready \| fake' 3 && ok "/model loads another model" || fail "/model: $(screen | tail -2 | head -1)"

# 8. An engine that is not executable: said, the UI stays, the line stays.
T kill-session -t h
T new-session -d -x 80 -y 24 -s h "env LANG=C.UTF-8 LC_ALL=C.UTF-8 TERM=screen '$HEFT' \
	--engine '$work/not-an-engine' fake.gguf 2>$work/heft.stderr; echo heft-exit=\$? >$work/exit; sleep 60"
wait_for 'status 127' 3 && ok "engine not executable: exit status shown" || fail "no status 127"
wait_for 'not found' 3 && ok "engine not executable: its message shown" || fail "no sh message"
T send-keys -t h 'typed while down' Enter
sleep 0.3
screen | tail -1 | grep -q 'typed while down' && ok "the line is kept while the engine is down" || fail "line lost"
screen | grep -q 'engine is not running' && ok "and the status line says why" || fail "no reason in status"

# 9. An engine that prints garbage first: reported, then it works.
start garbage "-g 20 -e -r 300" fake.gguf
screen | grep -q 'unreadable line' && ok "garbage lines reported" || fail "garbage not reported"
[ "$(screen | grep -c 'unreadable line')" -le 3 ] && ok "garbage reported at most 3 times" || fail "garbage flood on screen"
T send-keys -t h 'works?' Enter
wait_for 'You said: works\?' 5 && ok "the engine works after garbage" || fail "no reply after garbage"

finish
