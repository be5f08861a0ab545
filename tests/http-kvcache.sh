#!/bin/sh
# http-kvcache.sh - prompt reuse across requests of `heft-engine serve
# --http`: a conversation sent again with one more user turn reuses the
# live KV cache (usage.prompt_tokens_details.cached_tokens >= the first
# request's prompt tokens); after another conversation, and after a
# restart of the engine, the same holds through the states kept on disk
# (--kv-cache-dir), with the same reply as evaluating it all; the
# directory stays within --kv-cache-size; --kv-cache-size 0 keeps nothing.
#
# Every server started is killed on exit; every wait is bounded
# (tests/http-lib.sh). Environment: HEFT_ENGINE.
NAME=http-kvcache NEEDS="python3 curl"
. "$(dirname "$0")/http-lib.sh"

# start ARGS...: a server on the chat model, ready; base set
start() {
	serve srv 0 "$@" "$tmp/chat.gguf"
}
stop() {
	stop_server
}

# ask NAME MESSAGES-JSON: the reply in $tmp/NAME
ask() {
	curl -s -m 60 "$base/v1/chat/completions" \
		-d "{\"messages\":$2,\"max_tokens\":8,\"temperature\":0}" >"$tmp/$1"
}
# follow_up FILE MESSAGES-JSON TEXT: the messages, the reply in FILE, one more user turn
follow_up() {
	python3 - "$1" "$2" "$3" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
m = json.loads(sys.argv[2])
m.append({"role": "assistant", "content": r["choices"][0]["message"]["content"]})
m.append({"role": "user", "content": sys.argv[3]})
print(json.dumps(m))
EOF
}
# usage FILE KEY: the reply's usage number (cached: the cached tokens)
usage() {
	python3 -c 'import json,sys; u=json.load(open(sys.argv[1]))["usage"]; print(u["prompt_tokens_details"]["cached_tokens"] if sys.argv[2] == "cached" else u[sys.argv[2]])' "$1" "$2"
}
content() {
	python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["choices"][0]["message"]["content"])' "$1"
}

A='[{"role":"system","content":"You answer questions about the sea."},{"role":"user","content":"Why is the sea salty? Tell me in detail."}]'
B='[{"role":"system","content":"You answer questions about mountains."},{"role":"user","content":"How do mountains form? Tell me in detail."}]'

# the reference: A and its follow-up evaluated from nothing (no disk cache)
start --kv-cache-size 0
ask a0 "$A"
A2=$(follow_up "$tmp/a0" "$A" "And the Dead Sea?")
stop
start --kv-cache-size 0
ask ref "$A2"
[ "$(usage "$tmp/ref" cached)" = 0 ] || fail "a fresh engine reused $(usage "$tmp/ref" cached) tokens"
stop
[ -z "$(ls -A "$XDG_CACHE_HOME" 2>/dev/null)" ] || fail "--kv-cache-size 0 wrote $(ls -R "$XDG_CACHE_HOME")"

# the live KV cache: A, then A with one more turn
start --kv-cache-dir "$tmp/kv"
ask a1 "$A"
pa=$(usage "$tmp/a1" prompt_tokens)
ask a2 "$A2"
[ "$(usage "$tmp/a2" cached)" -ge "$pa" ] || fail "live: cached $(usage "$tmp/a2" cached) < $pa"
# another conversation in between: A comes back from the disk
ask b1 "$B"
ask a3 "$A2"
[ "$(usage "$tmp/a3" cached)" -ge "$pa" ] || fail "after B: cached $(usage "$tmp/a3" cached) < $pa"
[ "$(content "$tmp/a3")" = "$(content "$tmp/ref")" ] || fail "the reply from a restored state differs"
ls "$tmp"/kv/*/*.kv >/dev/null 2>&1 || fail "no state in --kv-cache-dir"
stop

# a new engine: the same from the disk
start --kv-cache-dir "$tmp/kv"
ask a4 "$A2"
[ "$(usage "$tmp/a4" cached)" -ge "$pa" ] || fail "after a restart: cached $(usage "$tmp/a4" cached) < $pa"
[ "$(content "$tmp/a4")" = "$(content "$tmp/ref")" ] || fail "the reply after a restart differs"
stop

# the size bound: a state is larger than 1 byte, so at most one stays... none
start --kv-cache-dir "$tmp/kv2" --kv-cache-size 1
ask s1 "$A"
ask s2 "$B"
n=$(find "$tmp/kv2" -type f | wc -l)
[ "$n" -eq 0 ] || fail "--kv-cache-size 1 keeps $n files"
stop
# the default directory is under XDG_CACHE_HOME
start
ask d1 "$A"
ls "$XDG_CACHE_HOME"/heft/kv/*/*.kv >/dev/null 2>&1 || fail "nothing under \$XDG_CACHE_HOME/heft/kv"
stop

[ "$fails" -eq 0 ] || exit 1
echo "http-kvcache: all checks passed"
