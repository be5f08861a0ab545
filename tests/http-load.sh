#!/bin/sh
# http-load.sh - `heft-engine serve --http` when clients go away and when
# they come in crowds: a client that closes while queued, during the
# prompt's prefill or during decode leaves the engine idle within a second
# (per /metrics) and the next request is served; 200 streams aborted at
# random points leak nothing (the engine's RSS and open descriptors back
# to where they were, within 5 %); 50 concurrent clients against --queue 8:
# the accepted ones complete, every other gets 429 with Retry-After, and a
# request afterwards is served. Every client asks something of its own: an
# identical request from the same address is an SDK's retry, which joins
# the job already running (tests/http-jobs.sh) instead of queueing.
#
# A slowed engine (HEFT_SERVE_SLOW_MS) stretches generations so that these
# moments can be hit. Every server is killed on exit; every wait is bounded
# (tests/http-lib.sh). Environment: HEFT_ENGINE.
NAME=http-load NEEDS=python3
. "$(dirname "$0")/http-lib.sh"

# many thin layers (tens of ms each): a long prefill batch of seconds,
# so a cancel between two of them is seen at once
if ! "$HEFT_ENGINE" synth -q --arch qwen3moe --embd 64 --layers 128 --heads 4 --kv-heads 2 --ff 128 \
	--experts 8 --experts-used 2 --expert-ff 64 --ctx 2048 -o "$tmp/deep.gguf" 2>"$tmp/err"; then
	cat "$tmp/err"
	exit 99
fi

# start NAME SLOW_MS MODEL [ARGS]: a server on the model, with a disk KV
# cache of its own (one server's prompts are not another's)
start() {
	name=$1 slow=$2 model=$3
	shift 3
	serve "$name" "$slow" --queue 8 -c 2048 --kv-cache-dir "$tmp/kv-$name" "$@" "$tmp/$model.gguf"
}

# the plan's batch: the long prompt is one batch of seconds, and a client
# that closes during it is seen between two layers. No disk KV cache: what
# the next request reuses is the live KV the cancel left.
start cancel 300 deep --kv-cache-size 0
cancel_port=$port
start fresh 0 deep --kv-cache-size 0
fresh_port=$port
start crowd 100 chat
python3 - "$cancel_port" "$port" "$pid" "$fresh_port" <<'PYEOF'
import json, os, random, socket, sys, threading, time, urllib.error, urllib.request

cancel_port, crowd_port, crowd_pid, fresh_port = (int(a) for a in sys.argv[1:5])
fails = 0

def fail(what):
    global fails
    print("FAIL:", what)
    fails += 1

def metric(port, name):
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    for line in text.splitlines():
        if line.startswith(f"heft_{name} "):
            return float(line.split()[1])
    return None

def wait_metric(port, name, value, seconds):
    end = time.time() + seconds
    while True:
        if metric(port, name) == value:
            return True
        if time.time() > end:
            return False
        time.sleep(0.05)

def chat_body(content, max_tokens, stream):
    return json.dumps({"messages": [{"role": "user", "content": content}], "max_tokens": max_tokens,
                       "temperature": 0, "stream": stream}).encode()

def open_stream(port, body):
    """a socket whose request is sent and whose response headers are read; (sock, first bytes after them)"""
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
              b"Content-Length: %d\r\n\r\n" % len(body) + body)
    got = b""
    while b"\r\n\r\n" not in got:
        piece = s.recv(4096)
        if not piece:
            break
        got += piece
    head, _, rest = got.partition(b"\r\n\r\n")
    return s, head, rest

def post(port, body):
    req = urllib.request.Request(f"http://127.0.0.1:{port}/v1/chat/completions", data=body,
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, dict(r.headers), r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read().decode()

story = chat_body("Tell a long story.", 400, True)

# ---- closing while queued, during decode, during prefill --------------------------------
p = cancel_port
a, head, _ = open_stream(p, story)
if not head.startswith(b"HTTP/1.1 200") or not wait_metric(p, "requests_processing", 1, 5):
    fail(f"the first stream does not run: {head[:100]}")
b, head, _ = open_stream(p, chat_body("Tell another long story.", 400, True))
if not head.startswith(b"HTTP/1.1 200") or not wait_metric(p, "requests_queued", 1, 5):
    fail(f"the second stream is not queued with its headers sent: {head[:100]}")
b.close()
if not wait_metric(p, "requests_queued", 0, 1):
    fail("a queued request whose client closed is still queued 1 s later")
a.settimeout(10)
seen = b""
while seen.count(b'"content":"') < 3:
    piece = a.recv(4096)
    if not piece:
        break
    seen += piece
if seen.count(b'"content":"') < 3:
    fail("the running stream brought no tokens")
a.close()
if not wait_metric(p, "requests_processing", 0, 1):
    fail("the engine still decodes 1 s after its client closed")
# what a fresh engine answers to the long prompt: the cancelled prefill
# must leave nothing behind that changes it
long_text = "hello world " * 50 # ~600 tokens, one batch of the plan's 2048
status, _, fresh = post(fresh_port, chat_body(long_text, 8, False))
if status != 200:
    fail(f"the long prompt on a fresh engine: {status} {fresh[:200]}")
long_prompt = chat_body(long_text, 50, True)
c, head, rest = open_stream(p, long_prompt)
if not wait_metric(p, "requests_processing", 1, 5):
    fail("the long prompt does not run")
time.sleep(0.5)
c.setblocking(False)
try:
    rest += c.recv(65536)
except BlockingIOError:
    pass
if b'"content":"' in rest:
    fail("the long prompt's prefill was over before the client closed (the test is too fast)")
c.close()
t_close = time.time()
if not wait_metric(p, "requests_processing", 0, 1):
    fail("the engine still prefills 1 s after its client closed")
print(f"prefill cancel: idle {time.time() - t_close:.2f} s after the close")
if metric(p, "requests_cancelled_total") != 2:
    fail(f"cancelled total {metric(p, 'requests_cancelled_total')}, not 2 (decode, prefill)")
status, _, again = post(p, chat_body(long_text, 8, False))
if status != 200:
    fail(f"a request after the cancels: {status}")
elif json.loads(again)["choices"][0]["message"] != json.loads(fresh)["choices"][0]["message"]:
    fail(f"after the cancelled prefill the long prompt gives {again[:300]}, a fresh engine {fresh[:300]}")

# ---- 200 streams aborted at random points: nothing leaks ---------------------------------
def usage(pid):
    rss = 0
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            rss = int(line.split()[1])
    return rss, len(os.listdir(f"/proc/{pid}/fd"))

def abort_some(n, seed):
    rnd = random.Random(seed)
    for _ in range(n):
        try:
            s, _, _ = open_stream(crowd_port, chat_body("Tell a story.", 20, True))
            s.settimeout(rnd.uniform(0, 0.8))
            try:
                while s.recv(4096):
                    pass
            except OSError:
                pass
            s.close()
        except OSError as e:
            fail(f"an aborted stream: {e}")

SCALE = float(os.environ.get("HEFT_TIME_SCALE") or 1)
SANITIZED = os.environ.get("HEFT_SANITIZERS") == "1"

def settle():
    if not (wait_metric(crowd_port, "requests_processing", 0, 5 * SCALE) and
            wait_metric(crowd_port, "requests_queued", 0, 5 * SCALE)):
        fail("the engine did not go idle after the aborted streams")
    time.sleep(0.5)

def run_aborts(total, seed):
    threads = [threading.Thread(target=abort_some, args=(total // 8, seed + i)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    settle()

run_aborts(40, 1) # warm up: the allocator's arenas, the threads' stacks
rss0, fd0 = usage(crowd_pid)
run_aborts(200, 100)
rss1, fd1 = usage(crowd_pid)
# (AddressSanitizer keeps freed memory in quarantine: RSS says nothing of
# leaks there, LeakSanitizer does; descriptors still count)
if (not SANITIZED and abs(rss1 - rss0) > rss0 * 0.05) or abs(fd1 - fd0) > max(1, fd0 * 0.05):
    fail(f"200 aborted streams: RSS {rss0} -> {rss1} kB, descriptors {fd0} -> {fd1}")
print(f"aborts: RSS {rss0} -> {rss1} kB, descriptors {fd0} -> {fd1}")

# ---- 50 at once against --queue 8 ----------------------------------------------------------
results = []
go = threading.Barrier(50)
def one(i):
    go.wait()
    results.append(post(crowd_port, chat_body(f"Hi, I am client {i}", 6, False)))
threads = [threading.Thread(target=one, args=(i,)) for i in range(50)]
for t in threads:
    t.start()
for t in threads:
    t.join(120)
ok = [r for r in results if r[0] == 200]
busy = [r for r in results if r[0] == 429]
if len(results) != 50 or len(ok) + len(busy) != 50:
    fail(f"50 clients: {sorted(r[0] for r in results)}")
if not 9 <= len(ok) <= 20:
    fail(f"50 clients against --queue 8: {len(ok)} accepted")
for status, headers, body in ok:
    j = json.loads(body)
    if j["choices"][0]["finish_reason"] not in ("stop", "length") or j["usage"]["completion_tokens"] < 1:
        fail(f"an accepted request did not complete: {body[:200]}")
for status, headers, body in busy:
    h = {k.lower(): v for k, v in headers.items()}
    if not h.get("retry-after") or json.loads(body)["error"]["code"] != 429:
        fail(f"a 429 without Retry-After or its error: {headers} {body[:200]}")
print(f"crowd: {len(ok)} served, {len(busy)} refused")
settle()
status, _, _ = post(crowd_port, chat_body("Hi", 2, False))
if status != 200:
    fail(f"a request after the crowd: {status}")
sys.exit(1 if fails else 0)
PYEOF
rc=$?
[ "$rc" -eq 0 ] && echo "http-load: all checks passed"
exit "$rc"
