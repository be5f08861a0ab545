#!/bin/sh
# http-jobs.sh - jobs of `heft-engine serve --http` that outlive their
# connection: a retried identical request (what the SDKs do after a
# timeout) joins the job already running instead of starting again, whole
# or streamed; a detached stream keeps running when its client goes, and
# GET /v1/jobs/ID replays it from ?from=N or after Last-Event-ID (the SSE
# id: fields, consecutive from 0); DELETE /v1/jobs/ID cancels; ollama's
# NDJSON lines of a detached job name it; progress lines while queued.
#
# A slowed engine (HEFT_SERVE_SLOW_MS) makes generations last long enough.
# Every server started is killed on exit; every wait is bounded
# (tests/http-lib.sh). Environment: HEFT_ENGINE.
NAME=http-jobs NEEDS="python3 curl"
. "$(dirname "$0")/http-lib.sh"

c() { curl -s -m 30 "$@"; }

# sse FILE: the stream's events as a JSON list of [id or None, data], [DONE] as "DONE"
sse() {
	python3 - "$1" >"$tmp/sse.json" <<'EOF'
import json, sys
out = []
for block in open(sys.argv[1], encoding="utf-8").read().split("\n\n"):
    eid, data = None, None
    for line in block.split("\n"):
        if line.startswith("id: "):
            eid = int(line[4:])
        elif line.startswith("data: "):
            d = line[6:]
            data = "DONE" if d == "[DONE]" else json.loads(d)
    if data is not None:
        out.append([eid, data])
print(json.dumps(out))
EOF
}
metric() { curl -s -m 5 "$base/metrics" | sed -n "s/^heft_$1 //p"; }
wait_metric() { # NAME VALUE TENTHS
	for _ in $(seq "$3"); do
		[ "$(metric "$1")" = "$2" ] && return 0
		sleep 0.1
	done
	return 1
}
# the text of a stream's events, in order
text_of() {
	python3 -c 'import json,sys; ev=json.load(open(sys.argv[1])); print("".join((e[1]["choices"][0]["delta"].get("content") or "") for e in ev if e[1] != "DONE" and e[1].get("choices")))' "$1"
}

# ---- a retried request joins its job ------------------------------------------------------
# As an SDK does after its timeout: the first try gives up (curl -m), the
# same bytes come again at once. Slowed so that the job outlives the try.
serve slow 25 --sse-ping 1 "$tmp/chat.gguf"

whole='{"messages":[{"role":"user","content":"Count to forty."}],"max_tokens":60,"temperature":0}'
curl -s -m 0.8 "$base/v1/chat/completions" -d "$whole" >/dev/null
c -D "$tmp/w.h" "$base/v1/chat/completions" -d "$whole" >"$tmp/w"
check "retried whole request" "j['choices'][0]['finish_reason'] == 'length' and j['usage']['completion_tokens'] == 60 and j['id'] == 'chatcmpl-1'" "$tmp/w"
[ "$(metric requests_attached_total)" = 1 ] || fail "attached: $(metric requests_attached_total), not 1"
[ "$(metric requests_total)" = 1 ] || fail "the retry ran again: requests_total $(metric requests_total)"
[ "$(metric requests_cancelled_total)" = 0 ] || fail "the first try's job was cancelled"

stream='{"messages":[{"role":"user","content":"Count to fifty."}],"max_tokens":60,"temperature":0,"stream":true}'
curl -s -N -m 0.8 "$base/v1/chat/completions" -d "$stream" >"$tmp/s0"
c -N "$base/v1/chat/completions" -d "$stream" >"$tmp/s1"
sse "$tmp/s1"
check "retried stream: the whole stream from event 0" "j[-1][1] == 'DONE' and [e[0] for e in j] == list(range(len(j))) and j[0][1]['choices'][0]['delta']['role'] == 'assistant' and j[-2][1]['choices'][0]['finish_reason'] == 'length'" "$tmp/sse.json"
[ "$(metric requests_attached_total)" = 2 ] || fail "stream attached: $(metric requests_attached_total), not 2"
[ "$(metric requests_total)" = 2 ] || fail "the stream retry ran again: requests_total $(metric requests_total)"
# a request that differs is not a retry
c "$base/v1/chat/completions" -d "$(echo "$whole" | sed 's/forty/thirty/')" >/dev/null
[ "$(metric requests_attached_total)" = 2 ] || fail "another request was attached"

# ---- a detached stream: the client goes, the job runs on, a client comes back ---------------
det='{"messages":[{"role":"user","content":"Tell a story."}],"max_tokens":80,"temperature":0,"stream":true}'
curl -s -N -m 1 -D "$tmp/d.h" -H "X-Heft-Detach: 1" "$base/v1/chat/completions" -d "$det" >"$tmp/d0"
job=$(sed -n 's/^[Xx]-[Hh]eft-[Jj]ob: \([A-Za-z0-9-]*\).*/\1/p' "$tmp/d.h")
[ -n "$job" ] || fail "no X-Heft-Job header: $(cat "$tmp/d.h")"
sleep 1
[ "$(metric requests_processing)" = 1 ] || fail "a detached job stopped when its client went"
c "$base/v1/jobs" >"$tmp/list"
check "job list" "any(e['id'] == '$job' and e['detached'] and e['state'] in ('prefill', 'generating') for e in j['data'])" "$tmp/list"
c -N "$base/v1/jobs/$job" >"$tmp/d1"
sse "$tmp/d1"
cp "$tmp/sse.json" "$tmp/d1.json"
check "re-attached stream" "j[-1][1] == 'DONE' and [e[0] for e in j] == list(range(len(j))) and all(e[1]['id'] == '$job' for e in j[:-1]) and j[-2][1]['choices'][0]['finish_reason'] == 'length'" "$tmp/sse.json"
# what the first client saw is the start of the same events
sse "$tmp/d0"
python3 - "$tmp/sse.json" "$tmp/d1.json" <<'EOF' || fail "the replay differs from what the first client got"
import json, sys
a, b = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
sys.exit(0 if len(a) > 0 and b[:len(a)] == a else 1)
EOF
# replays from an event: ?from=N and Last-Event-ID
c -N "$base/v1/jobs/$job?from=5" >"$tmp/d2"
sse "$tmp/d2"
check "from=5" "[e[0] for e in j] == list(range(5, 5 + len(j))) and j[-1][1] == 'DONE'" "$tmp/sse.json"
c -N -H "Last-Event-ID: 7" "$base/v1/jobs/$job" >"$tmp/d3"
sse "$tmp/d3"
check "Last-Event-ID: 7" "j[0][0] == 8 and j[-1][1] == 'DONE'" "$tmp/sse.json"
code=$(c -o "$tmp/e" -w '%{http_code}' "$base/v1/jobs/$job?from=x")
[ "$code" = 400 ] || fail "from=x: $code"
code=$(c -o "$tmp/e" -w '%{http_code}' "$base/v1/jobs/chatcmpl-999999")
[ "$code" = 404 ] || fail "an unknown job: $code"
check "unknown job shape" "j['error']['type'] == 'not_found_error'" "$tmp/e"

# ---- DELETE cancels a detached job ------------------------------------------------------------
# (greedy, and the prompt known above to run its 80 tokens without an end
# of text: sampled, the tiny model sometimes ended within the first second)
big='{"messages":[{"role":"user","content":"Tell a story."}],"max_tokens":1000,"temperature":0,"stream":true,"heft":{"detach":true}}'
curl -s -N -m 1 -D "$tmp/x.h" "$base/v1/chat/completions" -d "$big" >/dev/null
job=$(sed -n 's/^[Xx]-[Hh]eft-[Jj]ob: \([A-Za-z0-9-]*\).*/\1/p' "$tmp/x.h")
[ "$(metric requests_processing)" = 1 ] || fail "the detached job (body field) is not running"
c -X DELETE "$base/v1/jobs/$job" >"$tmp/del"
check "DELETE" "j['id'] == '$job' and j['status'] == 'cancelled'" "$tmp/del"
wait_metric requests_processing 0 10 || fail "still generating 1 s after DELETE"
c -N "$base/v1/jobs/$job" >"$tmp/x1"
sse "$tmp/x1"
check "a cancelled job's stream ends with an error" "'error' in j[-1][1]" "$tmp/sse.json"
code=$(c -o /dev/null -w '%{http_code}' -X DELETE "$base/v1/jobs/$job")
[ "$code" = 200 ] || fail "DELETE of an ended job: $code"
[ "$(c -X DELETE "$base/v1/jobs/$job" | python3 -c 'import json,sys; print(json.load(sys.stdin)["status"])')" = finished ] ||
	fail "DELETE of an ended job does not say finished"

# ---- ollama: the lines of a detached job name it; progress lines while it waits --------------
c -N "$base/api/chat" -d '{"messages":[{"role":"user","content":"Hi"}],"options":{"num_predict":5},"heft":{"detach":true}}' >"$tmp/o"
check "ollama detached lines" "all(json.loads(l)['heft_job'].startswith('cmpl-') for l in text.splitlines()) and json.loads(text.splitlines()[-1])['done']" "$tmp/o"
code=$(c -o "$tmp/e" -w '%{http_code}' "$base/v1/chat/completions" -d '{"messages":[{"role":"user","content":"x"}],"heft":{"detach":"yes"}}')
[ "$code" = 400 ] || fail "heft.detach not a boolean: $code"

[ "$fails" -eq 0 ] || exit 1
echo "http-jobs: all checks passed"
