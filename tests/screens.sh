#!/bin/sh
# screens.sh - regenerate docs/screens.md: text captures of heft's screens
# (tmux capture-pane), driven like the tests. Uses the fake engine for the
# scripted screens and the real heft-engine serve with the demo model for
# one screen when it works.
#   usage: tests/screens.sh [OUTPUT]     (default: $top_srcdir/docs/screens.md)
# Needs the built heft and tests/fake-engine (top_builddir, default: the
# directory above this script).

NAME=screens
. "$(dirname "$0")/tui-lib.sh"
need_tmux
out=${1:-$top_srcdir/docs/screens.md}
ENGINE=${HEFT_ENGINE:-$top_builddir/heft-engine}

# shot TITLE TEXT: append a capture of the screen under a heading.
shot() {
	{
		printf '\n## %s\n\n%s\n\n```text\n' "$1" "$2"
		screen | sed 's/[[:space:]]*$//'
		printf '```\n'
	} >>"$work/md"
}

size() { T resize-window -t h -x "$1" -y "$2"; sleep 0.4; }

cat >"$work/md" <<'EOF'
# heft: screens

Text captures of the terminal front end (`tmux capture-pane`), made by
`tests/screens.sh`; run it again after changing the UI. Colours and reverse
video do not show in text: search matches, the selected turn and the bars
are highlighted on a real screen. Unless said otherwise the engine is the
test engine (`tests/fake-engine`), whose model and numbers are made up and
labelled "fake"; its default reply carries escape sequences to show that
they are displayed, not executed.
EOF

# The whole screen, all panes fed by stats.
start main "-r 200 -s" "fake.gguf"
size 100 30
T send-keys -t h 'Why is the sky blue?' Enter
wait_for 'END' 5
wait_for 'ready' 3
sleep 0.5
shot "The full screen (100x30)" "A turn with the model: the conversation (with the model's escape sequences \
shown as \`^[\`), the token stream (\`*\` marks tokens that waited on the disk), the expert \
cache's per-layer hit rates, and I/O and memory. The status line shows the reply's speed and \
how many prompt tokens were evaluated or reused."

# Search.
T send-keys -t h F5
sleep 0.2
T send-keys -t h 'long line|red' Enter
wait_for 'match 1 of' 3
shot "Search" "F5 (or Ctrl-R, or / in the conversation) searches the conversation with a PCRE2 \
regex; n and N move between matches, which are highlighted."
T send-keys -t h '/' 'foo(' Enter
wait_for 'regex error' 3
shot "An invalid regex" "PCRE2's own message and the offset of the error."
T send-keys -t h Escape

# Editing a past turn, with the echo engine.
start edit "-e -r 200" "fake.gguf"
size 100 30
for q in 'What is a mixture of experts?' 'How big is the KV cache?' 'And the expert cache?'; do
	T send-keys -t h "$q" Enter
	wait_for "You said: $(echo "$q" | sed 's/?/\\?/')" 5
	wait_for 'ready' 3
done
T send-keys -t h M-e Up
wait_for '^edit> How big' 3
shot "Editing a past turn" "Alt-e (or F7) loads your last message into the line editor; Up and \
Down pick another. The turn being edited is marked."
T send-keys -t h C-u 'How big is the KV cache at 8k context?' Enter
wait_for 'regenerated:' 5
shot "After the edit" "Enter truncates the conversation to that turn and regenerates from it; \
the status line says how many prompt tokens the engine evaluated again and how many it \
reused from its KV cache."

# A narrow terminal, and help.
size 40 12
T send-keys -t h C-l
sleep 0.3
shot "40x12" "The side panes collapse; the conversation, the status line and the input stay."
size 100 30
T send-keys -t h '/help' Enter
wait_for 'answer the last message again' 3
sleep 0.3
shot "/help" "Keys and commands (F1 shows the same)."

# The engine killed.
start killed "-e -r 5" "fake.gguf"
size 80 24
T send-keys -t h 'Count to a hundred, slowly.' Enter
wait_for 'generating' 3
sleep 0.6
kill -9 "$(cat "$work/engine.pid")"
wait_for 'was killed' 3
shot "The engine died" "The reason is shown, the conversation and the input line are kept; \
/restart or F8 starts the engine again and the next message replays the conversation."

# Plain mode.
T kill-session -t h
T new-session -d -x 80 -y 12 -s h "env LANG=C.UTF-8 LC_ALL=C.UTF-8 TERM=dumb '$HEFT' \
	--engine '$FAKE -e -r 100' fake.gguf; sleep 60"
wait_for 'plain mode' 3
T send-keys -t h 'Hello in plain mode' Enter
wait_for 'You said' 3
wait_for '^> *$' 3
shot "Plain mode" "With TERM=dumb, --plain, or output that is not a terminal: a libedit \
prompt and the reply streamed as sanitized text."

# The real engine with the demo model, when it can serve.
if [ -x "$ENGINE" ] && printf '{"type":"hello","protocol":1}\n' | timeout 10 "$ENGINE" serve 2>/dev/null |
	grep -q '"type":"hello"'; then
	T kill-session -t h
	T new-session -d -x 100 -y 30 -s h "env -u HEFT_DEMO_MODEL LANG=C.UTF-8 LC_ALL=C.UTF-8 TERM=screen \
		HEFT_ENGINE='$ENGINE' XDG_CACHE_HOME='$work/cache' '$HEFT' -n 60; sleep 60"
	wait_for 'ready \| ' 20
	T send-keys -t h 'Tell me about the sea.' Enter
	wait_for '60 tok' 20
	sleep 0.6
	shot "The real engine, first run" "heft with no model: heft-engine serve runs the demo model \
(made by heft-engine synth on first run: random weights, so the reply is noise, sanitized). \
Its 230 MB of experts (holes in a sparse file: 3 MB on disk) run under a 44 MiB budget, so they \
stream from disk as a big model's do: the experts pane shows each layer's hit rate, the I/O pane \
the read rate and RSS against the budget, from the first answer."
	# The same model behind heft-engine serve --http, heft as its client.
	XDG_CACHE_HOME="$work/cache" "$ENGINE" serve --http 127.0.0.1:0 --mem 44M \
		"$work/cache/heft/demo-stream.gguf" 2>"$work/serve.err" &
	spid=$!
	SP=$(server_port "$work/serve.err")
	if [ -n "$SP" ]; then
		T kill-session -t h
		T new-session -d -x 100 -y 30 -s h "env LANG=C.UTF-8 LC_ALL=C.UTF-8 TERM=screen \
			'$HEFT' --engine http://127.0.0.1:$SP -n 60; sleep 60"
		wait_for 'ready \| ' 20
		T send-keys -t h 'Tell me about the sea.' Enter
		wait_for '60 tok' 20
		sleep 0.6
		shot "A heft server over HTTP" "heft --engine http://127.0.0.1:PORT, the client of \
heft-engine serve --http running the demo model: the server's progress lines carry its stats \
(per-layer hits and misses, read rate, I/O wait, RSS and budget), so the experts and I/O panes \
are drawn as over the pipe. The tokens pane has what the server streamed: chunks of text, not \
token ids."
	fi
	kill "$spid" 2>/dev/null
fi

cp "$work/md" "$out" && echo "wrote $out"
finish
