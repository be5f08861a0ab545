#!/bin/sh
# http-abuse.sh - `heft-engine serve --http` against hostile clients: a
# 100 MB body refused with 413 without being read (with Content-Length and
# chunked), JSON nested 10,000 deep and invalid UTF-8 refused with 400,
# a 100 KB header refused, 200 connections that trickle their headers a
# byte a second (from another loopback address) while a normal request
# completes within 5 s, those connections shut within the header deadline,
# CORS headers only for an origin --cors-origin names (preflight too), and
# no control character from a client in the engine's log.
#
# Every server started is killed on exit; every wait is bounded
# (tests/http-lib.sh). Environment: HEFT_ENGINE.
NAME=http-abuse NEEDS="python3 curl"
. "$(dirname "$0")/http-lib.sh"
serve server 0 --max-body 1000000 --cors-origin http://good.example "$tmp/chat.gguf"

python3 - "$port" "$tmp" <<'PYEOF'
import json, socket, subprocess, sys, threading, time

port, tmp = int(sys.argv[1]), sys.argv[2]
base = f"http://127.0.0.1:{port}"
fails = 0

def fail(what):
    global fails
    print("FAIL:", what)
    fails += 1

def curl(*args, body=None):
    """status, headers (lowercased text), body text, bytes uploaded"""
    cmd = ["curl", "-s", "-m", "30", "-D", f"{tmp}/h", "-o", f"{tmp}/b", "-w", "%{http_code} %{size_upload}", *args]
    out = subprocess.run(cmd, capture_output=True, text=True).stdout.split()
    return (int(out[0]), open(f"{tmp}/h", errors="replace").read().lower(),
            open(f"{tmp}/b", errors="replace").read(), int(float(out[1])))

def error_type(text):
    try:
        return json.loads(text)["error"]["type"]
    except (ValueError, KeyError, TypeError):
        return None

chat = f"{base}/v1/chat/completions"
with open(f"{tmp}/big", "wb") as f:
    f.truncate(100 << 20)

# 100 MB, declared: refused from the Content-Length
t = time.time()
code, _, body, up = curl("--data-binary", f"@{tmp}/big", chat)
if code != 413 or error_type(body) != "invalid_request_error":
    fail(f"100 MB body: {code} {body[:200]}")
if up > 10 << 20 or time.time() - t > 5:
    fail(f"100 MB body: {up} bytes sent in {time.time() - t:.1f} s before the 413")
# 100 MB, chunked: refused once past --max-body
t = time.time()
code, _, body, up = curl("-H", "Transfer-Encoding: chunked", "--data-binary", f"@{tmp}/big", chat)
if code != 413 or error_type(body) != "invalid_request_error":
    fail(f"100 MB chunked body: {code} {body[:200]}")
if up > 20 << 20 or time.time() - t > 5:
    fail(f"100 MB chunked body: {up} bytes sent in {time.time() - t:.1f} s before the 413")

# nesting 10,000 deep, invalid UTF-8
with open(f"{tmp}/deep", "w") as f:
    f.write('{"messages":' + "[" * 10000 + "]" * 10000 + "}")
code, _, body, _ = curl("--data-binary", f"@{tmp}/deep", chat)
if code != 400 or error_type(body) != "invalid_request_error":
    fail(f"nesting 10000: {code} {body[:200]}")
with open(f"{tmp}/utf8", "wb") as f:
    f.write(b'{"messages":[{"role":"user","content":"a\xc3\x28\xff"}]}')
code, _, body, _ = curl("--data-binary", f"@{tmp}/utf8", chat)
if code != 400 or error_type(body) != "invalid_request_error":
    fail(f"invalid UTF-8: {code} {body[:200]}")

# a header of 100 KB
code, _, _, _ = curl("-H", "X-Big: " + "x" * 100000, f"{base}/health")
if code not in (413, 431):
    fail(f"a 100 KB header: {code}")

# CORS: nothing for an origin not named, preflight included
for origin, allowed in (("http://evil.example", False), ("http://good.example", True)):
    code, head, _, _ = curl("-X", "OPTIONS", "-H", f"Origin: {origin}", "-H", "Access-Control-Request-Method: POST",
                            "-H", "Access-Control-Request-Headers: authorization, content-type", chat)
    got = f"access-control-allow-origin: {origin}" in head
    if code not in (200, 204) or got != allowed or (not allowed and "access-control-allow-origin" in head):
        fail(f"preflight from {origin}: {code} {head!r}")
    if allowed and "authorization" not in head.split("access-control-allow-headers:")[1].split("\n")[0]:
        fail(f"preflight from {origin}: Authorization not allowed: {head!r}")
    code, head, _, _ = curl("-H", f"Origin: {origin}", f"{base}/health")
    if code != 200 or ("access-control-allow-origin" in head) != allowed:
        fail(f"GET from {origin}: {code} {head!r}")

# A request line and a header with escape sequences, for the log.
s = socket.create_connection(("127.0.0.1", port))
s.sendall(b"GET /\x1b[2J\x07 HTTP/1.1\r\nHost: x\r\nX-Evil: \x1b]0;owned\x07\r\nContent-Length: 99999999999999999999\r\n\r\n")
s.settimeout(5)
try:
    s.recv(1000)
except OSError:
    pass
s.close()

# 200 connections trickling headers a byte a second, from 127.0.0.2; a
# normal request from 127.0.0.1 still completes within 5 s.
slow = []
for _ in range(200):
    c = socket.socket()
    try:
        c.bind(("127.0.0.2", 0))
        c.connect(("127.0.0.1", port))
        c.setblocking(False)
        slow.append(c)
    except OSError:
        c.close()
if len(slow) < 200:
    fail(f"only {len(slow)} of 200 slow connections could connect")
line = b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 100
closed = set()
def trickle(i):
    for c in slow:
        if c in closed:
            continue
        try:
            c.send(line[i:i + 1])
            if c.recv(100, socket.MSG_PEEK) == b"":
                closed.add(c)
        except BlockingIOError:
            pass
        except OSError:
            closed.add(c)
start = time.time()
served = None
for i in range(14):
    trickle(i)
    if i == 2:
        t = time.time()
        r = subprocess.run(["curl", "-s", "-m", "5", "-o", "/dev/null", "-w", "%{http_code}", chat, "-d",
                            '{"messages":[{"role":"user","content":"Hi"}],"max_tokens":4}'],
                           capture_output=True, text=True)
        served = (r.stdout, time.time() - t)
    time.sleep(max(0, start + i + 1 - time.time()))
if not served or served[0] != "200" or served[1] > 5:
    fail(f"a normal request among 200 slow ones: {served}")
if len(closed) != len(slow):
    fail(f"{len(slow) - len(closed)} of {len(slow)} connections still trickle headers after 14 s")
for c in slow:
    c.close()
code, _, _, _ = curl(f"{base}/health")
if code != 200:
    fail(f"health after the abuse: {code}")
sys.exit(1 if fails else 0)
PYEOF
rc=$?
# the log: no control character but the line ends
if LC_ALL=C grep -q "$(printf '[\001-\011\013-\037\177]')" "$tmp/server.err"; then
	echo "FAIL: a control character reached the log:"
	cat -v "$tmp/server.err"
	rc=1
fi
stop_server
[ "$rc" -eq 0 ] && echo "http-abuse: all checks passed"
exit "$rc"
