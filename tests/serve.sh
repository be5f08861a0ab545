#!/bin/sh
# serve.sh - `heft-engine serve` driven through its pipes by a script, as
# heft drives it: hello, loading (and a bad path), chat turns streaming
# tokens, prefix reuse on the second turn, truncate and regenerate,
# "messages" as the front end sends them, stop strings, cancel before and
# during a generation, busy, stats on request and on a timer, complete,
# save and restore, malformed lines, quit, end of input, a front end that
# goes away (EPIPE), a version mismatch.
#
# The model is made by `heft-engine synth` (a small qwen3moe with its
# byte-level vocabulary and a ChatML template: every byte is a token);
# tests/data's models have no tokenizer, and one of them checks that serve
# says so. Greedy generation is deterministic, which the checks rely on:
# a regenerated reply must equal the first one.
# Environment: HEFT_ENGINE, HEFT_TESTDATA.
set -u
: "${HEFT_ENGINE:?}"
if ! command -v python3 >/dev/null 2>&1; then
	echo "serve: python3 is needed to drive the engine; skipping"
	exit 77
fi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/heft-serve.XXXXXX") || exit 99
trap 'rm -rf "$tmp"' EXIT INT TERM

if ! "$HEFT_ENGINE" synth -q --arch qwen3moe --embd 256 --layers 4 --heads 4 --kv-heads 2 --ff 512 \
	--experts 8 --experts-used 2 --expert-ff 256 --ctx 2048 -o "$tmp/chat.gguf" 2>"$tmp/err"; then
	echo "FAIL: synth: $(head -n 1 "$tmp/err")"
	exit 1
fi

python3 - "$HEFT_ENGINE" "$tmp" "${HEFT_TESTDATA:-}" <<'EOF'
import json, os, select, stat, subprocess, sys, time

engine, tmp, testdata = sys.argv[1:4]
model = os.path.join(tmp, "chat.gguf")
fails = 0


def fail(msg):
    global fails
    fails += 1
    print("FAIL: " + msg)


def check(cond, msg):
    if cond:
        print("ok: " + msg)
    else:
        fail(msg)
    return cond


class Engine:
    def __init__(self, *args):
        self.log = open(os.path.join(tmp, "stderr"), "ab")
        self.p = subprocess.Popen([engine, "serve", *args], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, stderr=self.log)
        self.buf = b""

    def send(self, *msgs):
        """Requests (dicts) or raw lines (bytes), in one write."""
        data = b"".join((m if isinstance(m, bytes) else json.dumps(m).encode()) + b"\n" for m in msgs)
        self.p.stdin.write(data)
        self.p.stdin.flush()

    def event(self, timeout=20):
        """The next event; every line must be UTF-8 JSON (json.loads checks)."""
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            r, _, _ = select.select([self.p.stdout], [], [], max(0, left))
            if not r:
                raise TimeoutError("no event for %gs" % timeout)
            chunk = os.read(self.p.stdout.fileno(), 1 << 16)
            if not chunk:
                raise EOFError("the engine closed its output")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def until(self, pred, timeout=20):
        """Events up to and including the first that pred accepts."""
        evs = []
        while True:
            ev = self.event(timeout)
            evs.append(ev)
            if pred(ev):
                return evs

    def done(self, rid):
        return self.until(lambda e: e["type"] == "done" and e["id"] == rid)

    def stats(self):
        self.send({"type": "stats"})
        return self.until(lambda e: e["type"] == "stats")[-1]["stats"]

    def wait(self, timeout=10):
        try:
            return self.p.wait(timeout)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()
            return "hung"


def chat(e, rid, text=None, messages=None, **opts):
    """Run one chat; returns (reply text, token events, done event, all events)."""
    req = {"type": "chat", "id": rid, "options": dict(temp=0, **opts)}
    if messages is not None:
        req["messages"] = messages
    else:
        req["text"] = text
    e.send(req)
    evs = e.done(rid)
    toks = [x for x in evs if x["type"] == "token"]
    return "".join(t["text"] for t in toks), toks, evs[-1], evs


def errors(evs):
    return [x for x in evs if x["type"] == "error"]


# ---- a real-format model without a tokenizer ------------------------------------------
bare = os.path.join(testdata, "qwen3-Q4_K_M.gguf") if testdata else ""
if os.path.exists(bare):
    e = Engine(bare)
    evs = e.until(lambda x: x["type"] in ("loaded", "error"))
    check(evs[0]["type"] == "hello", "hello is the first event")
    check(evs[-1]["type"] == "error" and evs[-1]["code"] == "load" and "tokenizer" in evs[-1]["message"],
          "a model without a tokenizer: load error naming it (%s)" % evs[-1].get("message"))
    e.send({"type": "chat", "id": 4, "text": "hi"})
    ev = e.event()
    check(ev["type"] == "error" and ev["code"] == "no_model" and ev.get("id") == 4, "chat without a model: no_model")
    e.p.stdin.close()
    check(e.wait() == 0, "end of input: exit 0")

# ---- the conversation ---------------------------------------------------------------------
e = Engine(model, "-t", "1", "--ctx", "2048", "--stats-interval", "20")
hello = e.event()
check(hello == {"type": "hello", "protocol": 1, "program": "heft-engine", "version": hello.get("version")},
      "hello first: " + json.dumps(hello))
loaded = e.until(lambda x: x["type"] in ("loaded", "error"))[-1]
check(loaded["type"] == "loaded" and loaded["arch"] == "qwen3moe" and loaded["n_layer"] == 4 and
      loaded["n_expert"] == 8 and loaded["n_expert_used"] == 2 and loaded["n_ctx"] == 2048 and
      loaded.get("chat_template") == "chatml" and isinstance(loaded.get("mode"), str) and
      loaded["n_params"] > 0 and "budget" in loaded["plan"] and loaded["plan"]["resident"] > 0,
      "loaded: model facts and plan")
e.send({"type": "hello", "protocol": 1, "program": "serve.sh"})

e.send({"type": "load", "model": os.path.join(tmp, "missing.gguf")})
ev = e.event()
check(ev["type"] == "error" and ev["code"] == "load" and "missing.gguf" in ev["message"], "load a bad path: load error")
st = e.stats()
check(st.get("n_ctx") == 2048, "the model stays loaded after a failed load")

r1, toks, d1, evs = chat(e, 1, "Hello there", n_predict=24)
check(toks and all(t["id"] == 1 and t["t_ms"] >= 0 and "io_wait_ms" in t and isinstance(t["tok"], int)
                   for t in toks), "turn 1: %d token events with id, tok, t_ms, io_wait_ms" % len(toks))
check(len(toks) == d1["n_gen"] and d1["reason"] in ("eos", "length"),
      "turn 1: done %s after %d tokens, one event per token" % (d1["reason"], d1["n_gen"]))
check(d1["n_prompt"] > 0 and d1.get("n_cached", 0) == 0 and d1["n_pos"] > 0, "turn 1: the prompt is evaluated")
check(not errors(evs), "turn 1: no error")

r2, _, d2, _ = chat(e, 2, "And then?", n_predict=16)
check(d2.get("n_cached", 0) >= d1["n_prompt"] and d2["n_prompt"] < d1["n_prompt"] + d1["n_gen"] + 16,
      "turn 2 reuses turn 1: %d reused, %d evaluated" % (d2.get("n_cached", 0), d2["n_prompt"]))

# truncate to turn 2 (user 1, reply 1 stay) and ask the same: the same reply, from the cache
e.send({"type": "truncate", "turn": 2})
r3, _, d3, evs = chat(e, 3, "And then?", n_predict=16)
check(not errors(evs) and r3 == r2, "truncate + regenerate: the same reply")
check(d3.get("n_cached", 0) >= d2.get("n_cached", 0) and d3["n_prompt"] <= 1,
      "truncate + regenerate: %d reused, %d evaluated" % (d3.get("n_cached", 0), d3["n_prompt"]))
e.send({"type": "truncate", "turn": 2})
_, _, d4, _ = chat(e, 4, "Something else entirely", n_predict=4)
check(d4.get("n_cached", 0) >= d1["n_prompt"], "edit turn 2: turn 1 reused (%d)" % d4.get("n_cached", 0))
e.send({"type": "truncate", "turn": 99})
ev = e.event()
check(ev["type"] == "error" and ev["code"] == "not_found", "truncate past the end: not_found")

# set: options for the requests that follow; a request's own win
e.send({"type": "set", "options": {"n_predict": 3}})
_, _, d, _ = chat(e, 40, "Short?")
_, _, d2, _ = chat(e, 41, "Shorter?", n_predict=2)
check(d["n_gen"] <= 3 and d2["n_gen"] <= 2, "set n_predict 3: %d tokens; the request's 2: %d" % (d["n_gen"], d2["n_gen"]))
e.send({"type": "set", "options": {"n_predict": -1}}, {"type": "truncate", "turn": 4})

# the front end's way: the whole conversation every time
conv = [{"role": "user", "content": "Hello there"}, {"role": "assistant", "content": r1},
        {"role": "user", "content": "And then?"}]
r5, _, d5, _ = chat(e, 5, messages=conv, n_predict=16)
check(r5 == r2 and d5.get("n_cached", 0) >= d1["n_prompt"],
      "messages: turns synced, same reply, %d reused" % d5.get("n_cached", 0))
if check(len(r5) >= 4, "a reply long enough to cut (%d characters)" % len(r5)):
    stop = r5[len(r5) // 2:len(r5) // 2 + 2]
    r6, toks, d6, _ = chat(e, 6, messages=conv, n_predict=16, stop=[stop])
    check(d6["reason"] == "stop" and r6 == r5[:r5.index(stop)],
          "stop %r: reply cut before it (%s)" % (stop, d6["reason"]))
check(e.stats()["n_turns"] == 4, "the conversation has 4 turns")

# cancel sent with the request: honoured before the first token or right after it
e.send({"type": "chat", "id": 7, "text": "Go on", "options": {"n_predict": 200}}, {"type": "cancel", "id": 7})
d7 = e.done(7)[-1]
check(d7["reason"] == "cancel" and d7["n_gen"] <= 1, "cancel in the same write: cancel, %d tokens" % d7["n_gen"])

# busy: requests that arrive during a generation, except cancel and stats
e.send({"type": "chat", "id": 8, "text": "Once more", "options": {"n_predict": 8, "temp": 0}},
       {"type": "chat", "id": 9, "text": "x"}, {"type": "set", "options": {"temp": 1}},
       {"type": "truncate", "turn": 0}, {"type": "stats"})
evs = e.done(8)
busy = [x for x in errors(evs) if x["code"] == "busy"]
check(len(busy) == 3 and busy[0].get("id") == 9, "busy: 3 requests refused during a generation")
check(any(x["type"] == "stats" and x["stats"].get("generating") == 1 for x in evs),
      "stats on request during a generation")
check(e.stats()["n_turns"] > 0, "the refused truncate did nothing")

# a prompt whose greedy reply is long, for cancel, stats and quit while tokens stream
L = 600
long_prompt = None
for p in ("Tell me a story.", "Hello there", "abc", "Why?", "Count to a thousand."):
    e.send({"type": "truncate", "turn": 0})
    _, toks, d, evs = chat(e, 10, p, n_predict=L)
    if d["reason"] == "length":
        long_prompt = p
        n_stats = sum(1 for x in evs[evs.index(toks[0]):] if x["type"] == "stats")
        check(n_stats >= 1, "stats every 20 ms during %d tokens in %.0f ms: %d events"
              % (L, d["gen_ms"], n_stats))
        st = [x for x in evs if x["type"] == "stats"][-1]["stats"]
        keys = ("rss", "rss_peak", "prompt_tok_s", "gen_tok_s", "n_reused", "n_evaluated", "cache_hits",
                "cache_misses", "read_bytes", "os_read_bytes", "io_wait_ms", "budget", "resident_bytes")
        check(all(k in st for k in keys) and st["rss"] > 0 and st["rss_peak"] >= st["rss"],
              "stats carry " + ", ".join(keys))
        if "layer_hits" in st:
            check(len(st["layer_hits"]) == 4 and len(st["layer_misses"]) == 4, "per-layer arrays, one per layer")
        break
if check(long_prompt is not None, "a prompt with a %d-token greedy reply" % L):
    e.send({"type": "truncate", "turn": 0})
    e.send({"type": "chat", "id": 11, "text": long_prompt, "options": {"temp": 0, "n_predict": L}})
    e.until(lambda x: x["type"] == "token" and x["id"] == 11)
    e.send({"type": "cancel"})
    d = e.done(11)[-1]
    check(d["reason"] == "cancel" and 0 < d["n_gen"] < L, "cancel while streaming: stopped after %d tokens" % d["n_gen"])

# complete: raw text; the conversation's turns stay
n_turns = e.stats()["n_turns"]
e.send({"type": "complete", "id": 12, "prompt": "Once upon a time", "n_predict": 8})
evs = e.done(12)
check(not errors(evs) and len([x for x in evs if x["type"] == "token"]) == evs[-1]["n_gen"],
      "complete: %d tokens" % evs[-1]["n_gen"])
check(e.stats()["n_turns"] == n_turns, "complete leaves the conversation alone")

# save and restore the turns
path = os.path.join(tmp, "session.json")
e.send({"type": "save", "path": path}, {"type": "truncate", "turn": 0})
check(e.stats()["n_turns"] == 0, "save, then truncate to nothing")
check(os.path.exists(path) and stat.S_IMODE(os.stat(path).st_mode) == 0o600, "save: a file of mode 0600")
e.send({"type": "restore", "path": path})
check(e.stats()["n_turns"] == n_turns, "restore: %d turns back" % n_turns)
with open(os.path.join(tmp, "bad.json"), "w") as f:
    f.write('{"format":"something else"}')
for req in ({"type": "restore", "path": os.path.join(tmp, "bad.json")},
            {"type": "restore", "path": os.path.join(tmp, "none.json")},
            {"type": "save", "path": os.path.join(tmp, "no", "dir.json")}):
    e.send(req)
    ev = e.event()
    check(ev["type"] == "error" and ev["code"] == "io", "%s %s: io error" % (req["type"], os.path.basename(req["path"])))

# malformed lines: one error each, nothing else, the engine stays up
bad = [b"garbage", b'{"type":"chat","id":1,"text":"trunc', b'\xff\xfe{"type":"stats"}',
       b'{"type":"chat","id":3,"text":"\xc3\x28"}', b"", b'{"type":"stats"}\x00', b'{"type":"nope"}',
       b'{"type":"token","id":1}', b"[1,2]", b'{"type":"chat","id":"x","text":"a"}', b"{}",
       b'{"type":"chat","id":7}', b'{"type":"load","model":"m","io":"floppy"}', b'{"type":"stats"} x']
e.send(*bad)
evs = [e.event() for _ in bad]
codes = [x.get("code") for x in evs]
check(all(x["type"] == "error" for x in evs), "malformed lines: one error each (%s)" % ", ".join(map(str, codes)))
check(any(x.get("id") == 7 and x.get("code") == "bad_message" for x in evs), "an error names the request's id")
e.p.stdin.write(b"x" * (10 << 20) + b"\n")
e.p.stdin.flush()
ev = e.event()
check(ev["type"] == "error" and ev["code"] == "too_long", "a 10 MB line: too_long")
e.send(b'{"type":"stats","future":[1,{"x":null}]}')
ev = e.event()
check(ev["type"] == "stats", "unknown members are ignored")

# quit during a generation: done with cancel, exit 0
e.send({"type": "chat", "id": 13, "text": long_prompt or "Hello", "options": {"n_predict": L}})
e.until(lambda x: x["type"] == "token")
e.send({"type": "quit"})
d = e.done(13)[-1]
check(d["reason"] in ("cancel", "eos") and e.wait() == 0, "quit while generating: %s, exit 0" % d["reason"])

# end of input: what was asked is finished, then exit 0
e = Engine(model, "-t", "1")
e.send({"type": "chat", "id": 1, "text": "Hello there", "options": {"temp": 0, "n_predict": 24}})
e.p.stdin.close()
d = e.done(1)[-1]
check(d["n_gen"] == d1["n_gen"] and e.wait() == 0, "end of input: the request finishes, exit 0")

# the front end goes away: EPIPE ends the engine cleanly
e = Engine(model, "-t", "1")
e.send({"type": "chat", "id": 1, "text": long_prompt or "Hello", "options": {"temp": 0, "n_predict": L}})
e.until(lambda x: x["type"] == "token")
e.p.stdout.close()
rc = e.wait()
check(rc == 0, "front end gone mid-generation: exit %s" % rc)
e.p.stdin.close()

# a read of the weights fails mid-conversation (the file shrinks under a
# streaming engine): an io error and done "error", the engine and the
# conversation stay
shrunk = os.path.join(tmp, "stream.gguf")
with open(model, "rb") as src, open(shrunk, "wb") as dst:
    dst.write(src.read())
e = Engine(shrunk, "-t", "1", "--io", "stream", "--mem", "min", "--stats-interval", "0")
loaded = e.until(lambda x: x["type"] in ("loaded", "error"))[-1]
if loaded.get("mode") != "stream":
    print("skip: no stream mode (loaded: %s); the read-failure case needs it" % loaded.get("mode", loaded.get("message")))
else:
    _, _, d, _ = chat(e, 1, "Hello there", n_predict=4)
    n_turns = e.stats()["n_turns"]
    os.truncate(shrunk, 1 << 20)
    _, _, d, evs = chat(e, 2, "And then?", n_predict=4)
    err = errors(evs)
    check(len(err) == 1 and err[0]["code"] == "io" and err[0].get("id") == 2 and d["reason"] == "error",
          "a failed read: io error, done error (%s)" % (err[0]["message"][:60] if err else "no error"))
    check(e.stats()["n_turns"] == n_turns, "a failed read leaves the conversation as it was")
e.p.stdin.close()
check(e.wait() == 0, "the engine is still up after the failed read and exits 0")

# a small context: a prompt that does not fit is refused and leaves no turn
e = Engine(model, "-t", "1", "--ctx", "48", "--stats-interval", "0")
e.until(lambda x: x["type"] == "loaded")
_, _, d, evs = chat(e, 1, "x" * 60)
check(d["reason"] == "ctx_full" and d["n_gen"] == 0 and "context" in d.get("message", "") and not errors(evs),
      "a prompt over the context: done ctx_full (%s)" % d.get("message"))
check(e.stats()["n_turns"] == 0, "the refused prompt left no turn")
_, toks, d, _ = chat(e, 2, "Hi")
check(d["reason"] == "eos" or (d["reason"] == "ctx_full" and d["n_pos"] == 48 and len(toks) == d["n_gen"]),
      "a reply that reaches the end of the context: %s at %d of %d" % (d["reason"], d["n_pos"], d["n_ctx"]))
e.p.stdin.close()
e.wait()

# another protocol version is refused
e = Engine()
e.event()
e.send({"type": "hello", "protocol": 99})
ev = e.event()
check(ev["type"] == "error" and ev["code"] == "version" and e.wait() == 1, "protocol 99: version error, exit 1")

print("%d failed" % fails)
sys.exit(1 if fails else 0)
EOF
