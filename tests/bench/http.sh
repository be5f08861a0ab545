#!/bin/sh
# http.sh - what HTTP costs (issue 16): decode tokens per second as a
# client receives them through `serve --http` streaming (SSE) against the
# same generation over the JSON Lines pipe of `serve`, and the time to the
# first byte of the response headers while the engine is busy generating
# for another client (a queued stream's headers, and /health).
#
#   tests/bench/http.sh [ENGINE]
#
# Rounds of pipe, http, http, pipe (drift on a shared machine falls on both
# alike); the rate is the client's: tokens received after the first over
# the time from the first to the last, so the transport's delays count.
# The ratio is given of the medians and of the pairs within a round. CPU
# time per token (each thread's, from /proc/PID/task/*/schedstat, which a
# loaded machine does not inflate the way it does wall time) is split into
# the THREADS busiest threads (compute) and the rest (the transport: the
# pipe's writer thread; libmicrohttpd's connection thread).
# Prints Markdown rows. Environment: ROUNDS (default 3), N (tokens per
# generation, 256), THREADS (2), MODEL (default: a synthetic MoE made here).
set -u
. "$(dirname "$0")/../serve-port.sh"
engine=${1:-./heft-engine}
ROUNDS=${ROUNDS:-3}
N=${N:-256}
THREADS=${THREADS:-2}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/heft-bench-http.XXXXXX") || exit 2
pid=""
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$tmp"' EXIT
trap 'exit 1' INT TERM
export XDG_CACHE_HOME="$tmp/xdg"

model=${MODEL:-}
if [ -z "$model" ]; then
	model="$tmp/m.gguf"
	"$engine" synth -q --arch qwen3moe --embd 512 --layers 8 --heads 8 --kv-heads 4 --ff 1024 \
		--experts 16 --experts-used 2 --expert-ff 512 --ctx 4096 -o "$model" || exit 2
fi

"$engine" serve --http 127.0.0.1:0 -t "$THREADS" --kv-cache-size 0 "$model" 2>"$tmp/srv.err" &
pid=$!
port=$(server_port "$tmp/srv.err" 300) || { cat "$tmp/srv.err"; exit 2; }

python3 - "$engine" "$model" "$port" "$ROUNDS" "$N" "$THREADS" "$pid" <<'EOF'
import http.client, json, os, socket, statistics, subprocess, sys, time
engine, model, port, rounds, n, threads = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), sys.argv[6]
http_pid = int(sys.argv[7])

def cpu_threads(pid):
    """Each thread's CPU seconds so far (schedstat: nanoseconds, where
    /proc/PID/stat counts ticks): what a transport costs, whatever else
    the machine runs."""
    out = {}
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            out[tid] = int(open("/proc/%d/task/%s/schedstat" % (pid, tid)).read().split()[0]) / 1e9
        except OSError:
            pass
    return out

def cpu_split(before, after):
    """(compute, transport) CPU seconds between two cpu_threads: the
    THREADS busiest threads compute (the model's thread and its pool), the
    others carry the events (the pipe's writer; libmicrohttpd's threads)."""
    d = sorted((after[t] - before.get(t, 0.0) for t in after), reverse=True)
    k = int(threads)
    return sum(d[:k]), sum(d[k:])
# a prompt whose greedy reply on the default model runs to the limit
prompt = "Hello there"

def wait_health():
    for _ in range(600):
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            c.request("GET", "/health")
            if c.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.1)
    sys.exit("the server did not come up")

def rate(times, n_gen):
    """Tokens after the first over the time from the first piece to the last."""
    return (n_gen - 1) / (times[-1] - times[0]) if n_gen > 1 and len(times) > 1 and times[-1] > times[0] else float("nan")

# one engine on the pipe for every round, as the HTTP one serves them all
pipe_engine = subprocess.Popen([engine, "serve", "-t", threads, model], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, bufsize=1)
for line in pipe_engine.stdout:
    if json.loads(line)["type"] == "loaded":
        break
pipe_id = 0

def pipe_run():
    global pipe_id
    pipe_id += 1
    # the whole conversation, as an HTTP client sends it
    req = {"type": "chat", "id": pipe_id, "messages": [{"role": "user", "content": prompt}],
           "options": {"n_predict": n, "temp": 0}}
    pipe_engine.stdin.write(json.dumps(req) + "\n")
    pipe_engine.stdin.flush()
    times, n_gen = [], 0
    for line in pipe_engine.stdout:
        e = json.loads(line)
        if e["type"] == "token":
            times.append(time.monotonic())
        elif e["type"] == "done":
            n_gen = e["n_gen"]
            break
    return rate(times, n_gen), n_gen

def http_run(c=None):
    """c: a connection kept open by the caller (so its thread is still
    there to be counted), or None"""
    body = json.dumps({"messages": [{"role": "user", "content": prompt}], "max_tokens": n, "temperature": 0,
                       "stream": True})
    mine = c is None
    c = c or http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    c.request("POST", "/v1/chat/completions", body, {"Content-Type": "application/json"})
    r = c.getresponse()
    times, n_gen = [], 0
    while True:
        line = r.fp.readline()
        if not line:
            break
        if line.startswith(b"data: {"):
            ch = json.loads(line[6:])
            d = ch["choices"][0].get("delta", {}) if ch.get("choices") else {}
            if d.get("content") or d.get("reasoning_content"):
                times.append(time.monotonic())
            if "timings" in ch:
                n_gen = ch["timings"]["predicted_n"]
        elif line.startswith(b"data: [DONE]"):
            break
    if mine:
        c.close()
    return rate(times, n_gen), n_gen

wait_health()
pipe_run()  # warm both up
http_run()
pipe, web = [], []
cpu = {"pipe": [0.0, 0.0, 0], "http": [0.0, 0.0, 0]} # compute s, transport s, tokens
for _ in range(rounds):
    for side in ("pipe", "http", "http", "pipe"):
        pid = pipe_engine.pid if side == "pipe" else http_pid
        conn = None
        if side == "http":
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
            conn.connect()
            time.sleep(0.05) # its thread is there before the count starts
        c0 = cpu_threads(pid)
        t, k = pipe_run() if side == "pipe" else http_run(conn)
        comp, trans = cpu_split(c0, cpu_threads(pid))
        if conn:
            conn.close()
        cpu[side][0] += comp
        cpu[side][1] += trans
        cpu[side][2] += k
        (pipe if side == "pipe" else web).append(t)
        print("%s: %.1f tok/s (%d tokens)" % (side, t, k), file=sys.stderr)
# pairs of one round, side by side: drift on a shared machine falls on both
ratios = [h / p for p, h in zip(pipe, web)]
mp, mh = statistics.median(pipe), statistics.median(web)
cp, ch = (1000 * cpu[s][0] / max(1, cpu[s][2]) for s in ("pipe", "http"))
tp, th = (1e6 * cpu[s][1] / max(1, cpu[s][2]) for s in ("pipe", "http"))
pipe_engine.stdin.close()
pipe_engine.wait()
print("| decode as the client receives it, %d tokens, %s threads, %d rounds | pipe %.1f tok/s | HTTP SSE %.1f tok/s | "
      "%.3fx (paired ratios: median %.3f, min %.3f) |"
      % (n, threads, rounds, mp, mh, mh / mp, statistics.median(ratios), min(ratios)))
print("| compute threads' CPU per generated token (prompt included) | pipe %.3f ms | HTTP SSE %.3f ms | %.3fx |"
      % (cp, ch, cp / ch))
print("| transport threads' CPU per generated token | pipe writer %.1f us | libmicrohttpd threads %.1f us | |"
      % (tp, th))

# time to the first header byte while another client's generation runs
def first_byte(req):
    s = socket.create_connection(("127.0.0.1", port))
    t0 = time.monotonic()
    s.sendall(req)
    s.recv(1)
    t = time.monotonic() - t0
    s.close()
    return t

import threading
body = json.dumps({"messages": [{"role": "user", "content": "Once upon a time"}], "max_tokens": 100000,
                   "temperature": 0, "stream": True})
def long_run():
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    c.request("POST", "/v1/chat/completions", body, {"Content-Type": "application/json"})
    r = c.getresponse()
    while r.fp.readline():
        pass
busy = threading.Thread(target=long_run, daemon=True)
busy.start()
time.sleep(1.0)
q = json.dumps({"messages": [{"role": "user", "content": "Queued."}], "max_tokens": 4, "stream": True}).encode()
queued = ("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"
          % len(q)).encode() + q
health = b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n"
def generating():
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    c.request("GET", "/metrics")
    return b"heft_requests_processing 1\n" in c.getresponse().read()
if not generating():
    sys.exit("the engine is not busy: no measure")
tq = [first_byte(queued) for _ in range(20)]
th = [first_byte(health) for _ in range(20)]
if not generating():
    sys.exit("the engine stopped generating during the measure")
print("| first header byte while busy (20 tries) | queued stream: median %.2f ms, max %.2f ms | /health: median %.2f ms, max %.2f ms |"
      % (1000 * statistics.median(tq), 1000 * max(tq), 1000 * statistics.median(th), 1000 * max(th)))
EOF
