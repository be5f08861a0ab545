#!/bin/sh
# http.sh - `heft-engine serve --http` driven with curl as OpenAI and
# ollama clients drive it: /health while loading and after, the models
# list, chat whole and streamed (the same text at temperature 0, the role
# in the first delta, one usage chunk with include_usage and none
# without, data: [DONE]), completions, ollama's NDJSON (every line parses,
# the last has done:true), the API key (401 without it, /health and
# /v1/models open), 413 for a body over --max-body, 400 for malformed
# JSON, invalid UTF-8 and wrong types, 429 when the queue is full, pings
# on a silent stream, a client that goes away during decode or while
# queued (the engine idle again within a second), and a non-loopback
# address refused without a key.
#
# The model is made by `heft-engine synth` (as serve.sh's). A slowed engine
# (HEFT_SERVE_SLOW_MS) makes generations last long enough to queue and
# cancel. Every server started is killed on exit; every wait is bounded.
# Environment: HEFT_ENGINE.
NAME=http NEEDS="python3 curl"
. "$(dirname "$0")/http-lib.sh"

# start NAME ARGS...: a server on a free port; its port in $port
start() {
	name=$1
	shift
	"$@" 2>"$tmp/$name.err" &
	pids="$pids $!"
	port=$(server_port "$tmp/$name.err") && return 0
	cat "$tmp/$name.err"
	echo "http: $name did not start"
	exit 99
}

# sse FILE: the data: events of a stream as a JSON array (sse.json), [DONE] last as "DONE"
sse() {
	python3 - "$1" >"$tmp/sse.json" <<'EOF'
import json, sys
out = []
for block in open(sys.argv[1], encoding="utf-8").read().split("\n\n"):
    for line in block.split("\n"):
        if line.startswith("data: "):
            d = line[6:]
            out.append("DONE" if d == "[DONE]" else json.loads(d))
print(json.dumps(out))
EOF
}

metric() { # metric NAME: its value on /metrics
	curl -s -m 5 "$base/metrics" | sed -n "s/^heft_$1 //p"
}

c() { curl -s -m 30 "$@"; }

# ---- the main server: health while loading, then the APIs -----------------------
start main "$HEFT_ENGINE" serve --http 127.0.0.1:0 -c 1024 "$tmp/chat.gguf"
base="http://127.0.0.1:$port"
# The synth model loads in a moment: look at once, then wait for 200.
code=$(c -o "$tmp/h0" -w '%{http_code}' "$base/health")
[ "$code" = 200 ] || [ "$code" = 503 ] || fail "health while starting: $code"
[ "$code" = 503 ] && check "health 503 body" "j['error']['type'] == 'unavailable_error'" "$tmp/h0"
for _ in $(seq 100); do
	code=$(c -o "$tmp/h1" -w '%{http_code}' "$base/health")
	[ "$code" = 200 ] && break
	sleep 0.1
done
[ "$code" = 200 ] || fail "health never 200: $code"

c "$base/v1/models" >"$tmp/models"
check models "j['object'] == 'list' and j['data'][0]['id'] == 'chat' and j['data'][0]['meta']['n_ctx'] == 1024 and j['data'][0]['meta']['loaded']" "$tmp/models"
c "$base/api/tags" >"$tmp/tags"
check tags "j['models'][0]['name'] == 'chat' and j['models'][0]['size'] > 0" "$tmp/tags"
c "$base/api/version" >"$tmp/version"
check version "len(j['version']) > 0" "$tmp/version"

chat='{"messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"Say hello."}],"temperature":0,"max_tokens":12'
c "$base/v1/chat/completions" -d "$chat}" >"$tmp/whole"
check "chat whole" "j['object'] == 'chat.completion' and 'cmpl' in j['id'] and j['choices'][0]['message']['role'] == 'assistant' and j['choices'][0]['finish_reason'] in ('stop', 'length') and j['usage']['completion_tokens'] <= 12 and j['usage']['prompt_tokens'] > 0 and 'timings' in j" "$tmp/whole"

c -N "$base/v1/chat/completions" -d "$chat,\"stream\":true}" >"$tmp/stream"
sse "$tmp/stream"
check "stream framing" "j[-1] == 'DONE' and j[0]['choices'][0]['delta'] == {'role': 'assistant', 'content': None} and all('role' not in e['choices'][0]['delta'] for e in j[1:-1]) and j[-2]['choices'][0]['finish_reason'] in ('stop', 'length') and len({e['id'] for e in j[:-1]}) == 1 and not any('usage' in e for e in j[:-1])" "$tmp/sse.json"
python3 - "$tmp/whole" "$tmp/sse.json" <<'EOF' || fail "stream text differs from the whole reply at temperature 0"
import json, sys
whole = json.load(open(sys.argv[1]))["choices"][0]["message"]["content"]
ev = json.load(open(sys.argv[2]))
streamed = "".join(e["choices"][0]["delta"].get("content") or "" for e in ev[:-1] if e["choices"])
sys.exit(0 if whole == streamed else 1)
EOF

c -N "$base/v1/chat/completions" -d "$chat,\"stream\":true,\"stream_options\":{\"include_usage\":true}}" >"$tmp/stream2"
sse "$tmp/stream2"
check "include_usage" "j[-1] == 'DONE' and sum(1 for e in j[:-1] if 'usage' in e) == 1 and j[-2]['choices'] == [] and j[-2]['usage']['completion_tokens'] > 0 and j[-2]['usage']['prompt_tokens_details']['cached_tokens'] > 0" "$tmp/sse.json"

c "$base/v1/completions" -d '{"prompt":"Once upon","max_tokens":5,"temperature":0}' >"$tmp/compl"
check completions "j['object'] == 'text_completion' and j['usage']['completion_tokens'] <= 5" "$tmp/compl"

c -N "$base/api/chat" -d '{"model":"chat","messages":[{"role":"user","content":"Hi"}],"options":{"num_predict":6,"temperature":0}}' >"$tmp/ochat"
check "ollama chat NDJSON" "all(json.loads(l)['model'] == 'chat' for l in text.splitlines()) and json.loads(text.splitlines()[-1])['done'] is True and all(not json.loads(l)['done'] for l in text.splitlines()[:-1]) and json.loads(text.splitlines()[-1])['eval_count'] <= 6" "$tmp/ochat"
c "$base/api/generate" -d '{"prompt":"Hi","stream":false,"options":{"num_predict":4}}' >"$tmp/ogen"
check "ollama generate whole" "j['done'] is True and isinstance(j['response'], str)" "$tmp/ogen"

# ---- the model without running it: tokenize, detokenize, show ------------------------
c "$base/tokenize" -d '{"content":"Hello world","with_pieces":true}' >"$tmp/tok"
check tokenize "len(j['tokens']) > 1 and ''.join(t['piece'] for t in j['tokens']) == 'Hello world'" "$tmp/tok"
python3 -c "import json,sys; print(json.dumps({'tokens':[t['id'] for t in json.load(open(sys.argv[1]))['tokens']]}))" \
	"$tmp/tok" >"$tmp/ids"
c "$base/detokenize" --data-binary "@$tmp/ids" >"$tmp/detok"
check detokenize "j['content'] == 'Hello world'" "$tmp/detok"
code=$(c -o "$tmp/e" -w '%{http_code}' "$base/detokenize" -d '{"tokens":[99999999]}')
[ "$code" = 400 ] || fail "detokenize of a bad id: $code"
c "$base/api/show" -d '{"model":"chat"}' >"$tmp/show"
check "api/show" "j['details']['format'] == 'gguf' and j['model_info']['general.architecture'] == 'qwen3moe' and j['model_info']['qwen3moe.context_length'] == 2048 and 'completion' in j['capabilities']" "$tmp/show"
code=$(c -o "$tmp/e" -w '%{http_code}' "$base/api/show" -d '{"model":"other"}')
[ "$code" = 404 ] || fail "api/show of another model: $code"
# a tool's result in the conversation, and the penalties
c "$base/v1/chat/completions" -d '{"messages":[{"role":"user","content":"2+2?"},{"role":"assistant","content":null,"tool_calls":[{"id":"c1","type":"function","function":{"name":"add","arguments":"{\"a\":2,\"b\":2}"}}]},{"role":"tool","tool_call_id":"c1","content":"4"}],"max_tokens":4,"presence_penalty":0.5,"frequency_penalty":0.5}' >"$tmp/tool"
check "tool role" "j['choices'][0]['message']['role'] == 'assistant' and j['usage']['prompt_tokens'] > 20" "$tmp/tool"
# a prompt over the context (-c 1024)
python3 -c "import json; print(json.dumps({'messages':[{'role':'user','content':'hello world '*200}]}))" >"$tmp/long"
code=$(c -o "$tmp/e" -w '%{http_code}' "$base/v1/chat/completions" --data-binary "@$tmp/long")
[ "$code" = 400 ] || fail "a prompt over the context: $code"
check "exceed_context_size_error" "j['error']['type'] == 'exceed_context_size_error' and j['error']['n_ctx'] == 1024 and j['error']['n_prompt_tokens'] > 1024" "$tmp/e"

# ---- refusals ---------------------------------------------------------------------
code=$(c -o "$tmp/e" -w '%{http_code}' "$base/v1/chat/completions" -d '{"messages":')
[ "$code" = 400 ] || fail "malformed JSON: $code"
check "malformed JSON body" "j['error']['type'] == 'invalid_request_error'" "$tmp/e"
printf '{"messages":[{"role":"user","content":"\377"}]}' >"$tmp/bad-utf8"
code=$(c -o "$tmp/e" -w '%{http_code}' "$base/v1/chat/completions" --data-binary "@$tmp/bad-utf8")
[ "$code" = 400 ] || fail "invalid UTF-8: $code"
for body in '{"messages":null}' '{"messages":"x"}' '{"messages":[123]}' '{"messages":[{}]}' \
	'{"messages":[{"role":123}]}' '{"messages":[{"role":"user","content":123}]}' \
	'{"messages":[{"role":"user","content":"x"}],"temperature":"hot"}' \
	'{"messages":[{"role":"user","content":"x"}],"n":2}' '[1]'; do
	code=$(c -o "$tmp/e" -w '%{http_code}' "$base/v1/chat/completions" -d "$body")
	[ "$code" = 400 ] || fail "$body: $code, not 400"
	check "$body: error shape" "j['error']['code'] == 400 and j['error']['type'] == 'invalid_request_error' and j['error']['message']" "$tmp/e"
done
# a body over --max-body: refused from its Content-Length, without reading it
head -c 9000000 /dev/zero >"$tmp/big"
code=$(c -o "$tmp/e" -w '%{http_code}' "$base/v1/chat/completions" --data-binary "@$tmp/big")
[ "$code" = 413 ] || fail "9 MB body: $code, not 413"
code=$(c -o "$tmp/e" -w '%{http_code}' "$base/nowhere")
[ "$code" = 404 ] || fail "unknown path: $code"
c "$base/health" >/dev/null || fail "the engine died on a refused request"

# ---- a long load: /health 503 until the model is there; a request waits for it ----
start loading env HEFT_SERVE_SLOW_LOAD_MS=1500 "$HEFT_ENGINE" serve --http 127.0.0.1:0 "$tmp/chat.gguf"
lb="http://127.0.0.1:$port"
code=$(c -o "$tmp/h2" -w '%{http_code}' "$lb/health")
[ "$code" = 503 ] || fail "health while loading: $code"
check "health while loading" "j['error']['code'] == 503 and j['status'] == 'loading'" "$tmp/h2"
c "$lb/v1/models" >"$tmp/models2"
check "models while loading" "j['data'][0]['meta']['loaded'] is False" "$tmp/models2"
code=$(c -o "$tmp/e" -w '%{http_code}' "$lb/v1/chat/completions" -d "$chat}")
[ "$code" = 200 ] || fail "a request sent while loading: $code"
[ "$(c -o /dev/null -w '%{http_code}' "$lb/health")" = 200 ] || fail "health after the load"

# ---- a non-loopback address without a key ------------------------------------------
if "$HEFT_ENGINE" serve --http 0.0.0.0:0 "$tmp/chat.gguf" >"$tmp/out" 2>"$tmp/err0"; then
	fail "0.0.0.0 without a key was accepted"
fi
[ "$(wc -l <"$tmp/err0")" -eq 1 ] && grep -q "api-key" "$tmp/err0" || fail "0.0.0.0 without a key: $(cat "$tmp/err0")"

# ---- a model that does not load: exit 1, no hang -----------------------------------
echo "not a model" >"$tmp/bad.gguf"
timeout 20 "$HEFT_ENGINE" serve --http 127.0.0.1:0 "$tmp/bad.gguf" >"$tmp/out" 2>"$tmp/err1"
rc=$?
[ "$rc" = 1 ] || fail "a model that does not load: exit $rc, not 1: $(cat "$tmp/err1")"

# ---- the API key --------------------------------------------------------------------
echo "s3cret-key" >"$tmp/key"
start keyed "$HEFT_ENGINE" serve --http 127.0.0.1:0 --api-key-file "$tmp/key" "$tmp/chat.gguf"
kb="http://127.0.0.1:$port"
for _ in $(seq 100); do [ "$(c -o /dev/null -w '%{http_code}' "$kb/health")" = 200 ] && break; sleep 0.1; done
[ "$(c -o /dev/null -w '%{http_code}' "$kb/v1/models")" = 200 ] || fail "/v1/models with a key set is not open"
code=$(c -o "$tmp/e" -w '%{http_code}' "$kb/v1/chat/completions" -d "$chat}")
[ "$code" = 401 ] || fail "no key: $code"
check "401 shape" "j['error']['type'] == 'authentication_error'" "$tmp/e"
code=$(c -o "$tmp/e" -w '%{http_code}' -H "Authorization: Bearer wrong-key!" "$kb/v1/chat/completions" -d "$chat}")
[ "$code" = 401 ] || fail "wrong key: $code"
[ "$(c -o /dev/null -w '%{http_code}' "$kb/metrics")" = 401 ] || fail "/metrics without the key"
code=$(c -o "$tmp/e" -w '%{http_code}' -H "Authorization: Bearer s3cret-key" "$kb/v1/chat/completions" -d "$chat}")
[ "$code" = 200 ] || fail "Bearer key: $code"
code=$(c -o "$tmp/e" -w '%{http_code}' -H "X-Api-Key: s3cret-key" "$kb/v1/chat/completions" -d "$chat}")
[ "$code" = 200 ] || fail "X-Api-Key: $code"

# ---- a slow engine: the queue, pings, clients that go away ----------------------------
start slow env HEFT_SERVE_SLOW_MS=40 "$HEFT_ENGINE" serve --http 127.0.0.1:0 --queue 1 --io stream --mem min \
	--sse-ping 1 "$tmp/chat.gguf"
base="http://127.0.0.1:$port"
for _ in $(seq 100); do [ "$(c -o /dev/null -w '%{http_code}' "$base/health")" = 200 ] && break; sleep 0.1; done
long='{"messages":[{"role":"user","content":"Tell a long story."}],"max_tokens":400,"temperature":0,"stream":true}'
# other requests than $long (an identical one would join its job)
long2=$(echo "$long" | sed 's/long story/long tale/')
long3=$(echo "$long" | sed 's/long story/long saga/')

# wait_metric NAME VALUE TENTHS: true once NAME is VALUE, within TENTHS tenths of a second
wait_metric() {
	for _ in $(seq "$3"); do
		[ "$(metric "$1")" = "$2" ] && return 0
		sleep 0.1
	done
	return 1
}

# A: streams (headers and a first chunk at once); B: queued; C: refused
curl -s -N -m 60 -D "$tmp/a.h" "$base/v1/chat/completions" -d "$long" >"$tmp/a" &
apid=$!
pids="$pids $apid"
wait_metric requests_processing 1 50 || fail "the first request is not running"
curl -s -N -m 60 -D "$tmp/b.h" "$base/v1/chat/completions" -d "$long2" >"$tmp/b" &
bpid=$!
pids="$pids $bpid"
wait_metric requests_queued 1 50 || fail "the second request is not queued"
sleep 0.3
grep -q "^HTTP/1.1 200" "$tmp/b.h" || fail "a queued stream has no headers yet"
code=$(c -o "$tmp/e" -D "$tmp/c.h" -w '%{http_code}' "$base/v1/chat/completions" -d "$long3")
[ "$code" = 429 ] || fail "a full queue answered $code"
grep -qi "^retry-after:" "$tmp/c.h" || fail "429 without Retry-After"
# B waits silently behind A: it gets pings (--sse-ping 1)
sleep 2.5
# (a ping carries the progress: an SSE comment every parser skips)
grep -q "^: " "$tmp/b" || fail "no ping on a queued stream"
sed -n 's/^: heft.progress //p' "$tmp/b" | tail -1 >"$tmp/bp"
check "progress while queued" "j['object'] == 'heft.progress' and j['state'] == 'queued' and j['queue_position'] == 0 and j['job'].startswith('chatcmpl-')" "$tmp/bp"
sed -n 's/^: heft.progress //p' "$tmp/a" | tail -1 >"$tmp/ap"
check "progress while generating" "j['state'] == 'generating' and j['tokens'] > 0 and j['tokens_per_min'] > 0 and 0 <= j['cache_hit_rate'] <= 1 and j['disk_mb_s'] >= 0 and 'queue_position' not in j" "$tmp/ap"
grep -qi "^x-heft-job: chatcmpl-" "$tmp/a.h" || fail "no X-Heft-Job header"
# B goes away while queued: out of the queue at once
kill "$bpid"
wait_metric requests_queued 0 10 || fail "a queued request whose client left is still queued"
# A goes away during decode: the engine idle within a second
grep -q '"content"' "$tmp/a" || fail "the running stream has no tokens yet: $(head -c 300 "$tmp/a")"
kill "$apid"
wait_metric requests_processing 0 10 || fail "the engine still generates 1 s after its client left"
[ "$(metric requests_cancelled_total)" = 1 ] || fail "cancelled total: $(metric requests_cancelled_total)"
# and the next request is served
code=$(c -o "$tmp/e" -w '%{http_code}' "$base/v1/chat/completions" -d '{"messages":[{"role":"user","content":"Hi"}],"max_tokens":3}')
[ "$code" = 200 ] || fail "after the cancels: $code"

[ "$fails" -eq 0 ] || exit 1
echo "http: all checks passed"
