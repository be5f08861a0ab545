#!/bin/sh
# tui-edit.sh - editing through tmux against tests/fake-engine in echo mode
# (it answers "You said: <last message>. END" and keeps the conversation and
# a fake KV cache like the real engine): edit a past turn and regenerate
# (truncate sent, prefix reused, status line counts), search with PCRE2,
# tab completion, /regen, multi-line messages and bracketed paste.
# Exit 77 (skip) without tmux.

NAME=tui-edit
. "$(dirname "$0")/tui-lib.sh"
need_tmux

ask() {	# ask TEXT: send it and wait for the echo
	T send-keys -t h "$1" Enter
	wait_for "You said: $1\\. END" 5 || fail "no reply to '$1'"
	wait_for 'ready' 3
}

# 1. Edit a past turn: Alt-e loads the last message, Up the one before.
start edit "-e -r 300" fake.gguf
ask alpha
ask beta
ask gamma
T send-keys -t h M-e
wait_for '^edit> gamma' 3 && ok "Alt-e loads the last message into the editor" || fail "Alt-e: $(screen | tail -1)"
T send-keys -t h Up
wait_for '^edit> beta' 3 && ok "Up picks the message before" || fail "Up in edit: $(screen | tail -1)"
screen | grep -q '> you (selected)' && ok "the turn being edited is marked" || fail "no selection mark"
: >"$work/requests.log"
T send-keys -t h C-u 'BETA two' Enter
wait_for 'You said: BETA two\. END' 5 && ok "the edited turn regenerated" || fail "no reply to the edit"
screen | grep -q 'gamma' && fail "turns after the edited one still shown" || ok "later turns dropped"
grep -q '"type":"truncate","turn":2}' "$work/requests.log" && ok "truncate to turn 2 sent" \
	|| fail "no truncate: $(head -1 "$work/requests.log")"
chat=$(last_request chat)
echo "$chat" | grep -q '"content":"BETA two"}\]}$' && ! echo "$chat" | grep -q gamma \
	&& ok "chat ends with the edited turn" || fail "chat request: $chat"
st=$(screen | grep 'regenerated:')
ev=$(echo "$st" | sed -n 's/.*regenerated: \([0-9]*\) tokens re-evaluated, \([0-9]*\) reused (from turn 2).*/\1 \2/p')
if [ -n "$ev" ] && [ "${ev#* }" -gt 0 ] && [ "${ev% *}" -gt 0 ]; then
	ok "status line: ${ev% *} tokens re-evaluated, ${ev#* } reused"
else
	fail "status line does not count re-evaluated tokens: $st"
fi
# The same from the conversation pane: F6 focuses it, Up picks, e edits.
T send-keys -t h F6
wait_for '\[conversation\]' 3 && ok "F6 focuses the conversation" || fail "F6: no focus"
T send-keys -t h Up Up e
wait_for '^edit> alpha' 3 && ok "Up Up e in the conversation edits the first message" || fail "conv edit: $(screen | tail -1)"
T send-keys -t h C-c
wait_for '^> *$' 3 && ok "Ctrl-C cancels the edit" || fail "Ctrl-C in edit: $(screen | tail -1)"

# 2. /regen answers the last message again, without the old answer.
: >"$work/requests.log"
T send-keys -t h '/regen' Enter
wait_for 'ready' 3
sleep 0.3
grep -q '"type":"truncate","turn":3}' "$work/requests.log" && ok "/regen truncates the last answer" \
	|| fail "/regen: $(head -1 "$work/requests.log")"
last_request chat | grep -q '"content":"BETA two"}\]}$' && ok "/regen resends up to the last message" \
	|| fail "/regen chat: $(last_request chat)"
[ "$(screen | grep -c 'You said: BETA two')" -eq 1 ] && ok "/regen replaced the answer" || fail "/regen: two answers"

# 3. Search: PCRE2, n/N, highlighting, bad patterns.
T send-keys -t h F5
wait_for '^search /' 3 && ok "F5 opens the search prompt" || fail "F5: $(screen | tail -1)"
T send-keys -t h 'said: [a-z]+' Enter
wait_for 'match 1 of 2' 3 && ok "search finds 2 matches" || fail "search: $(screen | grep -i match)"
T capture-pane -p -e -t h | grep -q "$(printf '\033')\[[0-9;]*7m[^ ]*said: alpha" && ok "match highlighted" \
	|| fail "no highlight on the match"
T send-keys -t h n
wait_for 'match 2 of 2' 3 && ok "n goes to the next match" || fail "n: $(screen | grep -i match)"
T send-keys -t h n
wait_for 'match 1 of 2' 3 && ok "n wraps around" || fail "n wrap"
T send-keys -t h N
wait_for 'match 2 of 2' 3 && ok "N goes back" || fail "N"
T send-keys -t h '/' 'SAID' Enter
wait_for 'SAID/: no match' 3 && ok "a capital letter makes the search case-sensitive" || fail "smart case"
T send-keys -t h '/' 'foo(' Enter
wait_for 'search: regex error at offset 4: missing closing parenthesis' 3 && ok "invalid regex: PCRE2 message and offset" \
	|| fail "invalid regex: $(screen | tail -2 | head -1)"
T send-keys -t h C-r
wait_for '^search /' 3 && ok "Ctrl-R opens the search prompt" || fail "Ctrl-R"
T send-keys -t h C-c
wait_for '^> *$' 3 || fail "Ctrl-C did not leave the search prompt"

# 4. Tab completion of commands and /set names.
T send-keys -t h '/se' Tab
wait_for 'search  set' 3 && ok "Tab lists /search /set" || fail "Tab hint: $(screen | tail -2 | head -1)"
T send-keys -t h 't' Tab 'repeat_l' Tab
wait_for '^> /set repeat_last_n *$' 3 && ok "Tab completes /set and option names" || fail "Tab: $(screen | tail -1)"
T send-keys -t h '32' Enter
sleep 0.2
last_request set | grep -q '"repeat_last_n":32' && ok "completed /set sent" || fail "/set: $(last_request set)"

# 5. Multi-line messages: Alt-Enter, and ollama's """.
: >"$work/requests.log"
T send-keys -t h 'line one' M-Enter 'line two' Enter
wait_for 'ready' 3; sleep 0.2
last_request chat | grep -q '"content":"line one\\nline two"}' && ok "Alt-Enter: one message, two lines" \
	|| fail "Alt-Enter: $(last_request chat | tail -c 80)"
T send-keys -t h '"""first' Enter 'second' Enter 'third"""' Enter
wait_for 'ready' 3; sleep 0.2
last_request chat | grep -q '"content":"first\\nsecond\\nthird"}' && ok '""" message over three lines' \
	|| fail "\"\"\": $(last_request chat | tail -c 80)"

# 6. A paste is text, never typing: newlines and a /quit in it run nothing.
printf 'pasted one\n/quit\npasted three\n' >"$work/paste"
T load-buffer -b p "$work/paste"
: >"$work/requests.log"
T paste-buffer -p -b p -t h
sleep 0.5
[ -e "$work/exit" ] && fail "a pasted /quit quit heft" || ok "a pasted /quit did not run"
grep -q '"type":"chat"' "$work/requests.log" && fail "a pasted newline sent a message" || ok "pasted newlines sent nothing"
screen | tail -1 | grep -q 'pasted one' && ok "the paste is in the input line" || fail "paste: $(screen | tail -1)"
T send-keys -t h Enter
wait_for 'ready' 3; sleep 0.2
last_request chat | grep -q '"content":"pasted one\\n/quit\\npasted three\\n"}' && ok "Enter sends the paste as one message" \
	|| fail "paste sent: $(last_request chat | tail -c 80)"

finish
