# http-lib.sh - shared by the tests/http-*.sh scripts (sourced, not run).
# Before sourcing, set NAME (used in messages and the scratch directory's
# name) and NEEDS (the commands the script runs besides the engine; a
# missing one skips the test, exit 77). Provides:
#   $tmp             a scratch directory, removed on exit; XDG_CACHE_HOME
#                    (the KV states kept on disk) points under it
#   $tmp/chat.gguf   the synthetic chat model every script talks to
#   fail TEXT        report a failure, counted in $fails
#   serve NAME SLOW_MS ARGS...
#                    `heft-engine serve --http 127.0.0.1:0 ARGS` (the model
#                    among ARGS), slowed by SLOW_MS per token and prompt
#                    batch (0: not), its stderr in $tmp/NAME.err; returns
#                    once /health says 200, with $port, $base and $pid
#                    set; exit 99 if it does not get there
#   stop_server      kill the last server started and wait for it
#   check NAME PYTHON-EXPR FILE
#                    fail NAME unless the expression holds, j being the
#                    file's JSON (None if it is not JSON), text its text
# Every server started is killed on exit; every wait is bounded.
# Environment: HEFT_ENGINE.
set -u
. "$(dirname "$0")/serve-port.sh"
: "${HEFT_ENGINE:?}"
for t in ${NEEDS:-}; do
	if ! command -v "$t" >/dev/null 2>&1; then
		echo "$NAME: $t is needed; skipping"
		exit 77
	fi
done
tmp=$(mktemp -d "${TMPDIR:-/tmp}/heft-$NAME.XXXXXX") || exit 99
pids=""
pid=""
cleanup() {
	for p in $pids; do kill "$p" 2>/dev/null; done
	for p in $pids; do wait "$p" 2>/dev/null; done
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
export XDG_CACHE_HOME="$tmp/xdg"

fails=0
fail() {
	echo "FAIL: $*"
	fails=$((fails + 1))
}

if ! "$HEFT_ENGINE" synth -q --arch qwen3moe --embd 256 --layers 4 --heads 4 --kv-heads 2 --ff 512 \
	--experts 8 --experts-used 2 --expert-ff 256 --ctx 2048 -o "$tmp/chat.gguf" 2>"$tmp/err"; then
	cat "$tmp/err"
	exit 99
fi

# http_status URL: the status code of a GET (000 when nothing answers)
http_status() {
	if command -v curl >/dev/null 2>&1; then
		curl -s -m 5 -o /dev/null -w '%{http_code}' "$1"
	else
		python3 -c "import sys, urllib.request
try:
    print(urllib.request.urlopen(sys.argv[1], timeout=5).status)
except Exception as e:
    print(getattr(e, 'code', '000'))" "$1"
	fi
}

serve() {
	name=$1 slow=$2
	shift 2
	# a restart under the same name must not read the last one's port
	rm -f "$tmp/$name.err"
	HEFT_SERVE_SLOW_MS=$slow "$HEFT_ENGINE" serve --http 127.0.0.1:0 "$@" 2>"$tmp/$name.err" &
	pid=$!
	pids="$pids $pid"
	port=$(server_port "$tmp/$name.err")
	base="http://127.0.0.1:$port"
	for _ in $(seq 100); do
		[ -n "$port" ] && [ "$(http_status "$base/health")" = 200 ] && return 0
		sleep 0.1
	done
	cat "$tmp/$name.err"
	echo "$NAME: server $name did not start"
	exit 99
}

stop_server() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	pid=""
}

# check NAME PYTHON-EXPR FILE: the expression, with j the file's JSON, holds
check() {
	if ! python3 - "$3" "$2" <<'EOF' 2>"$tmp/pyerr"; then
import json, sys
text = open(sys.argv[1], encoding="utf-8").read()
try:
    j = json.loads(text)
except ValueError:
    j = None
sys.exit(0 if eval(sys.argv[2]) else 1)
EOF
		fail "$1: not ($2): $(head -c 600 "$3") $(cat "$tmp/pyerr")"
	fi
}
