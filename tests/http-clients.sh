#!/bin/sh
# http-clients.sh - real clients against `heft-engine serve --http`: the
# openai npm package (models.list, chat whole and streamed with the same
# text at temperature 0, exactly one usage chunk with include_usage, a
# 401 for a wrong key, an aborted stream that cancels its job) and Node's
# fetch with undici's header and body timeouts cut to 15 s, which still
# completes a stream whose first token comes after 40 s because its
# headers go out at once and pings follow every 10 s at most.
#
# The packages are pinned in tests/node/package-lock.json; `npm ci` there
# installs them (.ci/run does). Without node or them, the test skips.
# Environment: HEFT_ENGINE, top_srcdir.
set -u
: "${HEFT_ENGINE:?}"
node_dir="${top_srcdir:-.}/tests/node"
if ! command -v node >/dev/null 2>&1; then
	echo "http-clients: node is not installed; skipping"
	exit 77
fi
if [ ! -d "$node_dir/node_modules/openai" ] || [ ! -d "$node_dir/node_modules/undici" ]; then
	echo "http-clients: the npm packages are missing (run npm ci in tests/node); skipping"
	exit 77
fi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/heft-http-clients.XXXXXX") || exit 99
pids=""
cleanup() {
	for p in $pids; do kill "$p" 2>/dev/null; done
	for p in $pids; do wait "$p" 2>/dev/null; done
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

if ! "$HEFT_ENGINE" synth -q --arch qwen3moe --embd 256 --layers 4 --heads 4 --kv-heads 2 --ff 512 \
	--experts 8 --experts-used 2 --expert-ff 256 --ctx 2048 -o "$tmp/chat.gguf" 2>"$tmp/err"; then
	cat "$tmp/err"
	exit 99
fi
key=node-test-key

# start NAME ARGS...: a server on a free port, loaded; its address in $base
start() {
	name=$1
	shift
	"$@" 2>"$tmp/$name.err" &
	pids="$pids $!"
	port=""
	for _ in $(seq 100); do
		port=$(sed -n 's/.*listening on port \([0-9]*\).*/\1/p' "$tmp/$name.err" 2>/dev/null)
		[ -n "$port" ] && break
		sleep 0.1
	done
	base="http://127.0.0.1:$port"
	for _ in $(seq 100); do
		[ -n "$port" ] && [ "$(curl -s -o /dev/null -w '%{http_code}' "$base/health")" = 200 ] && return 0
		sleep 0.1
	done
	cat "$tmp/$name.err"
	echo "http-clients: $name did not start"
	exit 99
}

fails=0
# A slightly slowed engine (20 ms a token) so that a stream lasts long enough to abort.
start sdk env HEFT_SERVE_SLOW_MS=20 "$HEFT_ENGINE" serve --http 127.0.0.1:0 --api-key "$key" -c 1024 \
	"$tmp/chat.gguf"
timeout 120 node "$node_dir/clients.js" sdk "$base" "$key" chat || fails=$((fails + 1))

# The slow case: one 41 s pause before the first token.
start slow env HEFT_SERVE_SLOW_MS=41000 "$HEFT_ENGINE" serve --http 127.0.0.1:0 --api-key "$key" \
	"$tmp/chat.gguf"
timeout 120 node "$node_dir/clients.js" slow "$base" "$key" || fails=$((fails + 1))

[ "$fails" -eq 0 ] || exit 1
echo "http-clients: all checks passed"
