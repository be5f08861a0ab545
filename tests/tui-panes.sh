#!/bin/sh
# tui-panes.sh - the experts and I/O panes show the same over HTTP as over
# the pipe. One deterministic generation (--temp 0, one thread, a fresh
# cache directory: no hot list) on the demo model streaming under 44 MiB,
# first with heft running heft-engine serve over the pipe, then as the
# client of heft-engine serve --http; the two panes are captured once
# their numbers have settled and compared with the timing figures masked
# (read rate, its sparkline, I/O-wait share, RSS): the per-layer hit rates
# and the budget must be equal.
# Exit 77 (skip) without tmux or heft-engine.

NAME=tui-panes
. "$(dirname "$0")/tui-lib.sh"
need_tmux
ENGINE=$top_builddir/heft-engine
[ -x "$ENGINE" ] || { echo "$NAME: no heft-engine, skipping"; exit 77; }

env -u HEFT_DEMO_MODEL XDG_CACHE_HOME="$work/cache" HEFT_ENGINE="$ENGINE" \
	"$HEFT" --engine /bin/false -p x >/dev/null 2>&1
model=$work/cache/heft/demo-stream.gguf
[ -s "$model" ] || { echo "$NAME: the demo model was not made"; exit 1; }

spid=""
stop_server() { [ -n "$spid" ] && kill "$spid" 2>/dev/null; cleanup; }
trap stop_server EXIT

PROMPT='tell me about the sea'
ARGS="--temp 0 -n 40"

# run LABEL "HEFT ARGS" [ENV]: a heft in an 80x24 session, one turn, then
# the right-hand column (experts and I/O panes) once it stops changing.
run() {
	T kill-session -t h >/dev/null 2>&1
	T new-session -d -x 80 -y 24 -s h \
		"env LANG=C.UTF-8 LC_ALL=C.UTF-8 TERM=screen $3 '$HEFT' $2 2>>$work/heft.stderr; sleep 60"
	T set-option -t h status off >/dev/null
	wait_for 'ready \| ' 20 || fail "$1: heft did not become ready: $(screen | tail -2)"
	T send-keys -t h "$PROMPT" Enter
	wait_for 'generating' 10
	wait_for 'ready \| .*[0-9]+ tok' 30 || fail "$1: no answer: $(screen | tail -3)"
	# The last stats (pipe) or progress line (HTTP) come with or just
	# after the end of the reply: wait until two captures agree.
	_prev="" _i=0
	while [ $_i -lt 20 ]; do
		sleep 0.5
		_cur=$(panes)
		[ "$_cur" = "$_prev" ] && break
		_prev=$_cur _i=$((_i + 1))
	done
	panes >"$work/$1.raw"
	mask <"$work/$1.raw" >"$work/$1.panes"
}

# The column right of the conversation, from the experts pane's title to
# the status line (not included).
panes() {
	screen | sed -n '1,22p' | LC_ALL=C.UTF-8 sed 's/^[^│]*│//' | sed -n '/^ experts/,$p' | sed 's/[[:space:]]*$//'
}

# Timing figures out: the read rate, the sparkline under it, the I/O-wait
# share and the RSS (not the budget).
mask() {
	sed -e 's/^read  *[0-9.]* MB\/s$/read # MB\/s/' \
	    -e '/^read # MB\/s$/{n;s/.*/~sparkline~/;}' \
	    -e 's/^io wait  *[0-9]*%$/io wait #%/' \
	    -e 's/^rss [0-9.]* [KMGT]*i*B/rss #/'
}

# Without prefetching: a prefetched expert is a hit or a miss depending on
# whether its read is done when the layer needs it, so with it the hit
# counts vary by a few from run to run over either transport.
run pipe "--engine '$ENGINE serve' --mem 44M --threads 1 --no-prefetch $ARGS '$model'" "XDG_CACHE_HOME=$work/pipe-cache"

mkdir -p "$work/http-cache"
XDG_CACHE_HOME="$work/http-cache" "$ENGINE" serve --http 127.0.0.1:0 --mem 44M --threads 1 --no-prefetch "$model" \
	2>"$work/serve.err" &
spid=$!
SP=$(server_port "$work/serve.err")
[ -n "$SP" ] || { fail "serve --http did not start: $(cat "$work/serve.err")"; finish; }
run http "--engine http://127.0.0.1:$SP $ARGS"

echo "over the pipe:"; cat "$work/pipe.raw"
echo "over HTTP:"; cat "$work/http.raw"
grep -Eq '^L[0-9]+ .* [0-9]+%$' "$work/pipe.panes" && ok "pipe: per-layer hit rates" \
	|| fail "pipe: no per-layer hit rates"
grep -Eq '^rss # / [0-9.]+ MiB$' "$work/pipe.panes" && ok "pipe: RSS against the budget" \
	|| fail "pipe: no RSS against the budget"
if cmp -s "$work/pipe.panes" "$work/http.panes"; then
	ok "the experts and I/O panes over HTTP are those over the pipe (timing figures masked)"
else
	fail "the panes differ over HTTP: $(diff "$work/pipe.panes" "$work/http.panes")"
fi
finish
