#!/bin/sh
# tui-http.sh - heft as the client of a server (heft --engine URL), against
# tests/http-fake-server.py speaking llama-server's SSE and ollama's NDJSON.
# heft -p: the reply and exit 0, or a clear one-line error and non-zero, for
# every fault (refused, 401, 404, 429 twice, 500, an error chunk, a dropped
# connection, a stall, garbage, a 10 MB line); 429 with Retry-After is
# retried once. Then through tmux: two turns carrying the conversation, an
# edit and /regen resending from the edited turn, Ctrl-C closing the
# transfer, a failure shown in the pane with the conversation kept and the
# next message reconnecting, typing while a server stalls, and the API key
# never on screen, in the session file or in the history; a key shows on
# screen within tui-perf.sh's bound while a stream arrives at 100 tokens/s.
# Exit 77 (skip) without python3; the tmux half is skipped without tmux.

NAME=tui-http
. "$(dirname "$0")/tui-lib.sh"
command -v python3 >/dev/null 2>&1 || { echo "$NAME: python3 not found, skipping"; exit 77; }

SERVER="$top_srcdir/tests/http-fake-server.py"
pids=""
serve() {	# serve NAME [--ollama]: a server; its port in $work/NAME.port
	python3 "$SERVER" --port-file "$work/$1.port" --log "$work/$1.log" $2 &
	pids="$pids $!"
	wait_file "$work/$1.port" 10 || { echo "$NAME: the test server did not start"; exit 1; }
}
stop_servers() { for p in $pids; do kill "$p" 2>/dev/null; done; cleanup; }
trap stop_servers EXIT
serve oa
serve ol --ollama
OA="http://127.0.0.1:$(cat "$work/oa.port")"
OL="http://127.0.0.1:$(cat "$work/ol.port")"

# run LABEL ARGS...: heft -p under a timeout; output in $out, $err, $rc.
run() {
	_l=$1; shift
	timeout 30 "$HEFT" "$@" >"$work/out" 2>"$work/err"
	rc=$?
	out=$(cat "$work/out")
	err=$(cat "$work/err")
	[ $rc -eq 124 ] && fail "$_l: heft -p hung"
}

# expect_ok LABEL REGEX ARGS...: exit 0 and the reply on stdout.
expect_ok() {
	_l=$1 _re=$2; shift 2
	run "$_l" "$@"
	[ $rc -eq 0 ] && echo "$out" | grep -Eq -- "$_re" && ok "$_l: $out" \
		|| fail "$_l: rc $rc, out '$out', err '$err'"
}
# expect_fail LABEL REGEX ARGS...: non-zero, and one line on stderr says why.
expect_fail() {
	_l=$1 _re=$2; shift 2
	run "$_l" "$@"
	_n=$(grep -Ec -- "$_re" "$work/err")
	[ $rc -ne 0 ] && [ $rc -ne 124 ] && [ "$_n" -eq 1 ] && ok "$_l: $(grep -E -- "$_re" "$work/err")" \
		|| fail "$_l: rc $rc, err '$err'"
}

expect_ok "SSE, the first listed model" '^Hello from basic: 1 turns, last: say hi$' --engine "$OA" -p "say hi"
grep -q '"path": "/api/version"' "$work/oa.log" && grep -q '"path": "/v1/models"' "$work/oa.log" \
	&& ok "dialect probed (/api/version), model listed (/v1/models)" || fail "no probe: $(cat "$work/oa.log")"
expect_ok "reasoning kept out of the answer" '^Hello' --engine "$OA" -m basic -p "x"
echo "$out" | grep -q Thinking && fail "reasoning_content leaked into the answer" || ok "no reasoning in the answer"
expect_ok "ollama NDJSON, detected" '^Hi from ollama: 1 turns$' --engine "$OL" -p "hello"
tail -1 "$work/ol.log" | grep -q '"path": "/api/chat".*"model": "olla:latest"' && ok "ollama: /api/chat with its first model" \
	|| fail "ollama request: $(tail -1 "$work/ol.log")"
expect_ok "--api ollama forced, /v1 in the URL" '^Hi from ollama' --engine "$OL/v1/" --api ollama -m olla -p "hello"
expect_ok "sampler options reach the server" '^Hello' --engine "$OA" -m basic --temp 0.5 -n 7 -p "x"
tail -1 "$work/oa.log" | grep -q '"temperature": 0.5.*"max_tokens": 7' && ok "temperature and max_tokens sent" \
	|| fail "options: $(tail -1 "$work/oa.log")"
export HEFT_API_KEY=sekrit
expect_ok "API key from HEFT_API_KEY" '^Hello from auth' --engine "$OA" -m auth -p "x"
unset HEFT_API_KEY
expect_ok "API key from --api-key" '^Hello from auth' --engine "$OA" --api-key sekrit -m auth -p "x"
expect_ok "429 with Retry-After: shown, retried once" '^Hello after waiting$' --engine "$OA" -m busy -p "x"
grep -q 'busy (HTTP 429.*trying again in 1 s' "$work/err" && ok "429: the wait was shown" || fail "429: $err"

expect_fail "refused" 'cannot reach the server at http://127.0.0.1:1.*(refused|connect)' --engine http://127.0.0.1:1 -p "x"
expect_fail "401" 'HTTP 401 .*Invalid API Key.*API key' --engine "$OA" -m auth -p "x"
expect_fail "404 model" 'HTTP 404 .*model .missing. not found' --engine "$OA" -m missing -p "x"
expect_fail "429 twice" 'HTTP 429 .*wait 1 s' --engine "$OA" -m busyalways -p "x"
expect_fail "500" 'HTTP 500 .*internal kaboom' --engine "$OA" -m fail500 -p "x"
expect_fail "error chunk" 'the slot died' --engine "$OA" -m errchunk -p "x"
[ "$out" = "partial " ] && ok "error chunk: the text before it printed" || fail "error chunk: out '$out'"
expect_fail "dropped mid-answer" 'stopped mid-answer' --engine "$OA" -m drop -p "x"
t0=$(date +%s)
export HEFT_HTTP_STALL=2
expect_fail "stalled server" 'sent nothing for 2 s' --engine "$OA" -m stall -p "x"
unset HEFT_HTTP_STALL
[ $(( $(date +%s) - t0 )) -le 6 ] && ok "stall detected in time" || fail "stall took $(( $(date +%s) - t0 )) s"
expect_fail "garbage" 'not a JSON object: "<html>' --engine "$OA" -m garbage -p "x"
expect_fail "10 MB line" 'line over [0-9]+ bytes' --engine "$OA" -m huge -p "x"
expect_fail "OpenAI forced on ollama" 'lists no model' --engine "$OL" --api openai -p "x"
run "a reply that is all thinking" --engine "$OA" -m thinkonly --session "$work/think.jsonl" -p "x"
[ $rc -eq 0 ] && [ -z "$out" ] && grep -q '"content":"<think>\\nThinking about it.\\n</think>\\n"' "$work/think.jsonl" \
	&& ok "a reply that is all thinking: nothing printed, its thinking closed in the session" \
	|| fail "thinking only: rc $rc, out '$out', $(cat "$work/think.jsonl")"

# Sessions name the server and its model, never a key; --resume reconnects.
PORT_OA=$(cat "$work/oa.port")
expect_ok "recorded session, the server's first model" '^Hello from basic: 1 turns' \
	--engine "http://user:pw@127.0.0.1:$PORT_OA" --session "$work/r.jsonl" -p "first"
grep -q "\"model\":\"basic\",\"engine\":\"http://127.0.0.1:$PORT_OA\"" "$work/r.jsonl" \
	&& ok "the session records the URL and the model" || fail "session: $(cat "$work/r.jsonl")"
grep -q 'pw' "$work/r.jsonl" && fail "the URL's password was written to the session" || ok "no password in the session"
expect_ok "--session FILE without --engine: its server, its model" '^Hello from basic: 3 turns, last: second$' \
	--session "$work/r.jsonl" -p "second"
echo "$err" | grep -q "replays them to the server at http://127.0.0.1:$PORT_OA" \
	&& ok "the resumed server is named" || fail "resume note: $err"
HEFT_API_KEY=sekrit expect_ok "a session on a server with a key" '^Hello from auth: 1 turns' --engine "$OA" -m auth --resume -p "one"
grep -rl sekrit "$work/data" && fail "the key was written to a session" || ok "the key is not in the session"
HEFT_API_KEY=sekrit expect_ok "--resume reconnects to the last session's server and model" \
	'^Hello from auth: 3 turns, last: two$' --resume -p "two"
tail -1 "$work/oa.log" | grep -q '"auth": "Bearer sekrit"' && ok "--resume: HEFT_API_KEY sent" || fail "resume: no key sent"
expect_fail "--resume on a server, without the key" 'HTTP 401' --resume -p "three"
# TLS: https:// to a plain HTTP server, and to one with a self-signed
# certificate (made here), fail with a clear line; HEFT_CA_BUNDLE trusts it.
expect_fail "https:// to a plain HTTP server" 'cannot reach the server at https://.*TLS handshake failed: is it an HTTPS server' \
	--engine "https://127.0.0.1:$PORT_OA" -p "x"
if command -v openssl >/dev/null 2>&1 && openssl req -x509 -newkey rsa:2048 -nodes -keyout "$work/key.pem" \
	-out "$work/cert.pem" -days 2 -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 >/dev/null 2>&1; then
	python3 "$SERVER" --port-file "$work/tls.port" --tls "$work/cert.pem" "$work/key.pem" &
	pids="$pids $!"
	wait_file "$work/tls.port" 10 || fail "the TLS test server did not start"
	TLS="https://127.0.0.1:$(cat "$work/tls.port")"
	expect_fail "self-signed certificate" "cannot reach the server at $TLS: .*certificate.*not trusted: HEFT_CA_BUNDLE" \
		--engine "$TLS" -p "x"
	HEFT_CA_BUNDLE="$work/cert.pem" expect_ok "HEFT_CA_BUNDLE trusts it" '^Hello from basic' --engine "$TLS" -p "x"
else
	echo "$NAME: no openssl, the self-signed certificate case skipped"
fi
run "--api-key without a server" --api-key k -p x
[ $rc -eq 2 ] && ok "--api-key needs --engine URL" || fail "--api-key alone: rc $rc"

# ---- the full screen -------------------------------------------------------------------
if ! command -v tmux >/dev/null 2>&1; then
	echo "$NAME: tmux not found, skipping the full-screen half"
	finish
fi
need_tmux
start_http() {	# start_http "HEFT ARGS" [ENV...]
	T kill-session -t h >/dev/null 2>&1
	T new-session -d -x 100 -y 30 -s h \
		"env LANG=C.UTF-8 LC_ALL=C.UTF-8 TERM=screen $2 '$HEFT' $1 2>>$work/heft.stderr; \
		 echo heft-exit=\$? >$work/exit; sleep 60"
	T set-option -t h status off >/dev/null
	wait_for 'ready \| ' 10 || fail "heft did not become ready: $(screen | tail -2)"
}
ask() {	# ask TEXT REGEX: send, wait for the answer
	T send-keys -t h "$1" Enter
	wait_for "$2" 5 || fail "no answer to '$1': $(screen | tail -4)"
	wait_for 'ready \| ' 3
}
: >"$work/oa.log"
start_http "--engine $OA -m auth --session $work/s.jsonl" "HEFT_API_KEY=sekrit HEFT_HTTP_STALL=3"
screen | grep -q "client of the server at $OA" && ok "the welcome names the server" || fail "welcome: $(screen | head -4)"
ask alpha 'Hello from auth: 1 turns, last: alpha'
ask beta 'Hello from auth: 3 turns, last: beta'
ok "two turns, each request with the conversation so far"
T send-keys -t h M-e Up
wait_for '^edit> alpha' 3 || fail "edit: $(screen | tail -1)"
T send-keys -t h C-u 'ALPHA two' Enter
wait_for 'Hello from auth: 1 turns, last: ALPHA two' 5 && ok "edit and regenerate resends from the edited turn" \
	|| fail "edit: $(screen | tail -5)"
wait_for 'ready \| ' 3
screen | grep -q 'last: beta' && fail "the turns after the edited one are still shown" || ok "later turns dropped"
T send-keys -t h '/regen' Enter
sleep 0.5
wait_for 'ready \| ' 3
[ "$(screen | grep -c 'Hello from auth')" -eq 1 ] && tail -1 "$work/oa.log" | grep -q '"messages": \[{"role": "user", "content": "ALPHA two"}\]' \
	&& ok "/regen resends up to the last message" || fail "/regen: $(tail -1 "$work/oa.log")"
T send-keys -t h '/model slow' Enter
sleep 0.3
wait_for 'ready \| ' 3 || fail "/model slow: $(screen | tail -2)"
T send-keys -t h 'count' Enter
wait_for 'tok3 ' 5 || fail "slow: no tokens"
T send-keys -t h C-c
wait_for 'reply stopped' 3 && ok "Ctrl-C closes the transfer: reply stopped" || fail "Ctrl-C: $(screen | tail -3)"
n1=$(screen | grep -o 'tok[0-9]*' | tail -1); sleep 0.5; n2=$(screen | grep -o 'tok[0-9]*' | tail -1)
[ "$n1" = "$n2" ] && ok "no token after the cancel" || fail "tokens after Ctrl-C: $n1 then $n2"
T send-keys -t h '/model fail500' Enter
sleep 0.3
wait_for 'ready \| ' 3
T send-keys -t h 'boom' Enter
wait_for 'internal kaboom' 5 && screen | grep -q 'HTTP 500 from' && ok "a 500 shown in the conversation pane" || fail "500: $(screen | tail -6)"
wait_for 'ready \| ' 3
screen | grep -q 'ALPHA two' && ok "the conversation is kept after the failure" || fail "conversation lost"
T send-keys -t h '/model auth' Enter
sleep 0.3
wait_for 'ready \| ' 3
ask 'again' 'Hello from auth: [0-9]+ turns, last: again' && ok "the next message reconnects"
T send-keys -t h '/model stall' Enter
sleep 0.3
wait_for 'ready \| ' 3
T send-keys -t h 'wait' Enter
wait_for 'waiting' 5
T send-keys -t h 'typing while it stalls'
wait_for '^> typing while it stalls' 2 && ok "typing stays live while the server stalls" || fail "typing: $(screen | tail -1)"
wait_for 'sent nothing for 3' 8 && ok "the stall is reported in the pane" || fail "stall: $(screen | tail -5)"
screen | grep -q '^> typing while it stalls' && ok "the typed line is kept" || fail "typed line lost: $(screen | tail -1)"

# Typing latency while a remote stream arrives at 100 tokens/s: the bound
# and the measure of tui-perf.sh (median of 8 keys, less tmux's own cost
# measured on cat).
T send-keys -t h C-u '/model fast' Enter
sleep 0.3
wait_for 'ready \| ' 3
T send-keys -t h 'stream fast' Enter
wait_for 'tok20 ' 5 || fail "fast: no tokens"
T new-session -d -x 80 -y 24 -s cat cat
own=999
for try in 1 2; do
	b0=$(latency_median cat)
	median=$(latency_median h)
	b1=$(latency_median cat)
	base=$(( b0 < b1 ? b0 : b1 ))
	own=$(( median - base ))
	[ "$own" -lt 50 ] && break
	sleep 1
done
screen | grep -q 'generating' || fail "latency: the remote reply was not streaming any more"
[ "$own" -lt 50 ] && ok "keypress on screen while streaming at 100 tok/s: $own ms of heft's own ($median ms measured, tmux's $base ms)" \
	|| fail "keypress took $own ms of heft's own ($median ms measured, tmux's $base ms) at 100 tok/s"
T kill-session -t cat
T send-keys -t h C-c
wait_for 'ready \| ' 3
T send-keys -t h C-u '/model' Enter
wait_for "Models on $OA \(/v1/models\): basic," 5 && screen | grep -q '^slow\. /model NAME switches' \
	&& ok "/model lists the server's models" || fail "/model list: $(screen)"
T send-keys -t h C-u '/quit' Enter
wait_file "$work/exit" 5 || fail "heft did not quit"
screen | grep -q sekrit && fail "the API key is on the screen" || ok "the key is not on the screen"
grep -rl sekrit "$work/s.jsonl" "$work/state" "$work/data" 2>/dev/null && fail "the API key was written to a file" \
	|| ok "the key is in no session or history file"
grep -q '"auth": "Bearer sekrit"' "$work/oa.log" && ok "the key was sent to the server" || fail "key not sent"
[ -s "$work/s.jsonl" ] && grep -q 'ALPHA two' "$work/s.jsonl" && ok "the session was recorded" || fail "no session"

# A TLS failure in the full screen: said in the pane, the UI and the typed
# line kept.
start_http "--engine https://127.0.0.1:$PORT_OA"
T send-keys -t h 'over tls' Enter
wait_for 'handshake' 5 && screen | grep -q 'HTTPS' && ok "TLS failure shown in the conversation pane" || fail "TLS: $(screen | head -10)"
wait_for 'ready \| ' 3 && screen | grep -q '^over tls' && ok "the UI and the conversation kept after a TLS failure" \
	|| fail "TLS: $(screen | tail -5)"
T send-keys -t h 'still typing'
wait_for '^> still typing' 2 && ok "typing after the TLS failure" || fail "typing: $(screen | tail -1)"
T send-keys -t h C-u '/quit' Enter

# Reasoning apart from the answer: a server's reasoning_content (SSE), ollama's
# thinking (NDJSON) and a local model's <think> fold alike under their reply;
# t in the conversation (F6) shows them, again folds them.
fold='(thought|thinking:) [0-9]+ words? \(t in F6'
: >"$work/oa.log"
start_http "--engine $OA -m basic --session $work/t.jsonl"
ask 'why' 'Hello from basic: 1 turns'
screen | grep -Eq "thought 3 words \(t in F6 shows it\)" && ok "reasoning_content folded under its answer" \
	|| fail "reasoning fold: $(screen | head -12)"
screen | grep -q 'Thinking about it' && fail "folded reasoning shown" || ok "the reasoning's text hidden while folded"
screen | grep -q '(not available from this server)' && ok "experts pane: not available from this server" \
	|| fail "experts pane: $(screen | cut -c60- | sed -n 9,13p)"
T send-keys -t h F6 t
wait_for '^Thinking about it\.' 3 && ok "t shows the reasoning" || fail "t: $(screen | head -12)"
screen | grep -Eq "$fold" && fail "the fold line stays when shown" || ok "shown: no fold line"
T send-keys -t h t
wait_for "$fold" 3 && ! screen | grep -q '^Thinking about it' && ok "t folds it again" || fail "t again: $(screen | head -12)"
T send-keys -t h Escape
ask 'more' 'Hello from basic: 3 turns, last: more'
tail -1 "$work/oa.log" | grep -q '"role": "assistant", "content": "Hello from basic: 1 turns, last: why"' \
	&& ok "the reasoning is not sent back to the server" || fail "resent: $(tail -1 "$work/oa.log")"
grep -q '<think>' "$work/t.jsonl" && ok "the session keeps the reasoning" || fail "session: $(cat "$work/t.jsonl")"
T send-keys -t h '/quit' Enter
start_http "--engine $OL"
ask 'hi' 'Hi from ollama: 1 turns'
screen | grep -Eq "thought 1 word \(t in F6" && ok "ollama's thinking folded" || fail "ollama fold: $(screen | head -12)"
T send-keys -t h '/quit' Enter
T kill-session -t h >/dev/null 2>&1
T new-session -d -x 100 -y 30 -s h "env LANG=C.UTF-8 LC_ALL=C.UTF-8 TERM=screen '$HEFT' --engine \
	'$FAKE -r 200 -t \"<think>\\nlocal plan, two steps\\n</think>\\n\\nThe local answer.\"' $work/m.gguf; sleep 60"
T set-option -t h status off >/dev/null
wait_for 'ready \| ' 10 || fail "local: not ready: $(screen | tail -2)"
ask 'go' 'The local answer'
screen | grep -Eq "thought 4 words \(t in F6" && ! screen | grep -q 'local plan' && ok "a local model's <think> folds the same way" \
	|| fail "local fold: $(screen | head -12)"
T send-keys -t h F6 t
wait_for '^local plan, two steps' 3 && ok "... and t shows it" || fail "local t: $(screen | head -12)"
expect_ok "-p: a local model's thinking is not printed" '^The local answer\.$' \
	--engine "$FAKE -r 0 -t '<think>\nlocal plan\n</think>\n\nThe local answer.'" -p x "$work/m.gguf"

# The real server: heft-engine serve --http on the demo model (sparse, its
# experts streaming under 44 MiB), heft as its client through tmux: two
# turns, the first edited and regenerated, Ctrl-C, and the experts and I/O
# panes filled from the server's progress lines.
# Its cache directory is the test's own: no KV state or hot list from
# an earlier run shortens the prefill the Ctrl-C scenario interrupts.
ENGINE=$top_builddir/heft-engine
T send-keys -t h '/quit' Enter
if [ -x "$ENGINE" ] && env -u HEFT_DEMO_MODEL XDG_CACHE_HOME="$work/cache" HEFT_ENGINE="$ENGINE" \
	"$HEFT" --engine /bin/false -p x >/dev/null 2>&1; [ -s "$work/cache/heft/demo-stream.gguf" ]; then
	XDG_CACHE_HOME="$work/cache" "$ENGINE" serve --http 127.0.0.1:0 --mem 44M "$work/cache/heft/demo-stream.gguf" 2>"$work/serve.err" &
	pids="$pids $!"
	SP=$(server_port "$work/serve.err")
	[ -n "$SP" ] || fail "serve --http did not start: $(cat "$work/serve.err")"
	start_http "--engine http://127.0.0.1:$SP -n 300 --temp 0.8"
	done_re='[0-9]+ tok [0-9.]+/s'
	T send-keys -t h 'first' Enter
	wait_for 'generating' 10
	wait_for "ready \\| .*$done_re" 30 && ok "serve --http: the first turn answered" || fail "serve 1: $(screen | tail -3)"
	T send-keys -t h 'second' Enter
	wait_for 'generating' 10
	wait_for "ready \\| .*$done_re" 30
	[ "$(screen | grep -c '^< model')" -ge 2 ] || [ "$(screen | grep -c '^> you')" -ge 2 ] \
		&& ok "serve --http: two turns" || fail "serve 2: $(screen | head -20)"
	T send-keys -t h M-e Up
	wait_for '^edit> first' 3 || fail "serve edit: $(screen | tail -1)"
	T send-keys -t h C-u 'FIRST again' Enter
	wait_for 'generating' 10
	wait_for "ready \\| .*$done_re" 30
	screen | grep -q '^FIRST again' && ! screen | grep -q '^second' && ok "serve --http: the first turn edited and regenerated" \
		|| fail "serve edit: $(screen | head -20)"
	# A prompt long enough (1,750 tokens) for the server's progress lines:
	# its prefill, hit rate and read rate fill the panes.
	long=$(printf 'the sea and the ships and the stars %.0s' $(seq 50))
	T send-keys -t h '/clear' Enter
	T send-keys -t h "tell me of $long" Enter
	wait_for 'prefill [0-9]+/[0-9]+' 10 && ok "serve --http: prefill progress in the status line" \
		|| fail "serve --http: no prefill progress: $(screen | tail -2)"
	wait_for 'L0 .* [0-9]+%' 10 && ok "serve --http: experts pane: $(screen | grep -Eo 'L0 .* [0-9]+%' | tr -s ' ')" \
		|| fail "serve --http: experts pane empty: $(screen | cut -c60- | sed -n 9,14p)"
	wait_for 'read +[0-9.]+ MB/s' 10 && ok "serve --http: I/O pane: $(screen | grep -Eo 'read +[0-9.]+ MB/s' | tr -s ' ')" \
		|| fail "serve --http: I/O pane empty: $(screen | cut -c60- | tail -10)"
	wait_for "ready \\| .*$done_re" 30
	# Ctrl-C while the server is busy with another long prompt's prefill.
	T send-keys -t h '/clear' Enter
	T send-keys -t h "sing of $long" Enter
	wait_for 'prefill [0-9]+/[0-9]+' 10
	T send-keys -t h C-c
	wait_for 'reply stopped' 5 && ok "serve --http: Ctrl-C stopped the reply" || fail "serve Ctrl-C: $(screen | tail -3)"
	wait_for 'ready \| ' 5 || fail "serve: not ready after Ctrl-C"
	T send-keys -t h '/quit' Enter
else
	echo "$NAME: no heft-engine or no demo model: the serve --http scenario skipped"
fi
finish
