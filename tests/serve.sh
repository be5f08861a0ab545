#!/bin/sh
# serve.sh - `heft-engine serve` driven through its pipes by a script, as
# heft drives it: hello, loading (and a bad path), chat turns streaming
# tokens, prefix reuse on the second turn, truncate and regenerate,
# "messages" as the front end sends them, stop strings, cancel before and
# during a generation, busy, stats on request and on a timer, complete,
# save and restore, malformed lines, quit, end of input, a front end that
# goes away (EPIPE), a version mismatch; a conversation that outgrows the
# context (the oldest turns dropped, the system prompt kept); save and
# restore with the KV state in a restarted engine (nothing evaluated
# again, the same reply), and a state file that is truncated or from
# another model (refused, the turns restored).
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
if ! "$HEFT_ENGINE" synth -q --arch qwen3moe --embd 256 --layers 4 --heads 4 --kv-heads 2 --ff 512 \
	--experts 8 --experts-used 2 --expert-ff 256 --ctx 1024 -o "$tmp/other.gguf" 2>"$tmp/err"; then
	echo "FAIL: synth: $(head -n 1 "$tmp/err")"
	exit 1
fi

PYTHONPATH="$(dirname "$0")" PYTHONDONTWRITEBYTECODE=1 python3 - "$HEFT_ENGINE" "$tmp" "${HEFT_TESTDATA:-}" <<'EOF'
import json, os, stat, subprocess, sys

import serve_lib
from serve_lib import check, fail, finish

engine, tmp, testdata = sys.argv[1:4]
model = os.path.join(tmp, "chat.gguf")


def Engine(*args):
    return serve_lib.Engine(engine, *args, stderr=os.path.join(tmp, "stderr"))


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

# An unknown template: the error lists every known name, none cut off (the
# list as the command line prints it, which no fixed buffer cuts).
cli = subprocess.run([engine, "chat", model, "--chat-template", "no-such"], stdin=subprocess.DEVNULL,
                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE).stderr.decode()
known = cli[cli.find("(known: ") + 8:cli.rfind(")")] if "(known: " in cli else ""
e.send({"type": "load", "model": model, "chat_template": "no-such"})
ev = e.event()
check(known.count(",") > 4 and ev["type"] == "error" and ev["message"].endswith("(known: %s)" % known),
      "an unknown template: the whole list of names arrives (%d bytes)" % len(ev.get("message", "")))

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

# the conversation outgrows the context: the oldest whole turns are
# dropped, the system prompt stays (--keep -1) and is reused, done says so
# and a stats event follows with the counts, all turns stay in the session.
# (The random model's replies are not all UTF-8: the text sent back for a
# reply tokenizes differently from what was generated, so a turn reuses
# the previous prompt, not all of the previous reply.)
ctx = 256
e = Engine(model, "-t", "1", "--ctx", str(ctx), "--keep", "-1", "--stats-interval", "0")
e.until(lambda x: x["type"] == "loaded")
conv = [{"role": "system", "content": "Be brief."}]
drop = None
for i in range(30):
    conv.append({"role": "user", "content": "Question number %d, please?" % i})
    text, _, d, evs = chat(e, 100 + i, messages=conv, n_predict=8)
    conv.append({"role": "assistant", "content": text})
    if errors(evs) or d["reason"] not in ("eos", "length"):
        fail("context: turn %d: %s %s" % (i, d["reason"], errors(evs)))
        break
    if "dropped" in d.get("message", ""):
        drop = (d, evs)
        break
    before = d
if check(drop is not None, "the context filled up: %s" % (drop and drop[0].get("message"))):
    d, evs = drop
    st = [x for x in evs if x["type"] == "stats"]
    st = st[-1]["stats"] if st else {}
    check(st.get("n_dropped_turns", 0) >= 2 and st["n_dropped_turns"] % 2 == 0 and st.get("n_dropped_tokens", 0) > 0,
          "stats before done: %s turns (%s tokens) dropped, %s re-evaluated" %
          (st.get("n_dropped_turns"), st.get("n_dropped_tokens"), st.get("n_reevaluated")))
    check(0 <= st.get("n_reevaluated", -1) <= d["n_prompt"], "n_reevaluated within the tokens evaluated")
    check(st.get("n_turns") == len(conv) and st.get("n_turns_in_context") == st["n_turns"] - st["n_dropped_turns"],
          "every turn stays, %s of %s in the context" % (st.get("n_turns_in_context"), st.get("n_turns")))
    check(d["n_cached"] > 0 and d["n_pos"] <= ctx // 2 + 8,
          "the system prompt reused (%d), the context down to %d of %d" % (d["n_cached"], d["n_pos"], ctx))
    conv.append({"role": "user", "content": "And the next one?"})
    text, _, d2, evs = chat(e, 200, messages=conv, n_predict=8)
    conv.append({"role": "assistant", "content": text})
    check("message" not in d2 and d2["n_cached"] >= d["n_cached"] + d["n_prompt"],
          "the next turn: nothing dropped, %d reused" % d2["n_cached"])
    # the dropped turns and the KV state survive a restart
    path = os.path.join(tmp, "full.json")
    e.send({"type": "save", "path": path})
    live = e.stats()["n_turns_in_context"]
    e.p.stdin.close()
    e.wait()
    e = Engine(model, "-t", "1", "--ctx", str(ctx), "--stats-interval", "0")
    e.until(lambda x: x["type"] == "loaded")
    e.send({"type": "restore", "path": path})
    st = e.stats()
    prompt2 = d2["n_cached"] + d2["n_prompt"]
    check(st["n_turns"] == len(conv) and st["n_turns_in_context"] == live and st["n_pos"] >= prompt2,
          "restored: %d turns, %d in the context, %d positions" % (st["n_turns"], st["n_turns_in_context"], st["n_pos"]))
    conv.append({"role": "user", "content": "And after a restart?"})
    text, _, d3, evs = chat(e, 201, messages=conv, n_predict=8)
    conv.append({"role": "assistant", "content": text})
    check(not errors(evs) and "message" not in d3 and d3["n_cached"] >= prompt2,
          "after the restart: nothing dropped or evaluated again (%d reused)" % d3["n_cached"])
    # a raw completion in between leaves the turns as they were, dropped ones included
    live = e.stats()["n_turns_in_context"]
    e.send({"type": "complete", "id": 202, "prompt": "Once upon a time", "n_predict": 4})
    e.done(202)
    st = e.stats()
    check(st["n_turns"] == len(conv) and st["n_turns_in_context"] == live,
          "complete: the dropped turns stay dropped (%d of %d in the context)" % (st["n_turns_in_context"], st["n_turns"]))
e.p.stdin.close()
e.wait()
e = Engine(model, "--keep", "x")
check(e.wait() == 2, "--keep x: usage error")

# save and restore with the KV state: a restarted engine evaluates only the
# new turn, and replies as the first engine does
e = Engine(model, "-t", "1", "--stats-interval", "0")
e.until(lambda x: x["type"] == "loaded")
for i, q in enumerate(("Hello there", "Tell me more.", "Why is that?", "And then?")):
    _, _, d, _ = chat(e, 300 + i, q, n_predict=24)
prompt4 = d["n_cached"] + d["n_prompt"]
path = os.path.join(tmp, "long.json")
e.send({"type": "save", "path": path})
n_pos = e.stats()["n_pos"]
ra, _, da, _ = chat(e, 310, "One more thing?", n_predict=24)
e.p.stdin.close()
e.wait()
check(os.path.exists(path + ".kv") and stat.S_IMODE(os.stat(path + ".kv").st_mode) == 0o600,
      "save: the KV state next to the turns, mode 0600")
e = Engine(model, "-t", "1", "--stats-interval", "0")
e.until(lambda x: x["type"] == "loaded")
e.send({"type": "restore", "path": path})
st = e.stats()
check(st["n_turns"] == 8 and prompt4 <= st["n_pos"] <= n_pos,
      "restore: 8 turns, %d of %d positions" % (st["n_pos"], n_pos))
rb, _, db, evs = chat(e, 310, "One more thing?", n_predict=24)
check(not errors(evs) and db["n_cached"] == da["n_cached"] and db["n_cached"] >= prompt4 and
      db["n_prompt"] == da["n_prompt"],
      "after restore: %d reused, %d evaluated (the engine that saved: %d, %d)" %
      (db["n_cached"], db["n_prompt"], da["n_cached"], da["n_prompt"]))
check(rb == ra, "after restore: the same reply as the engine that saved")
e.p.stdin.close()
e.wait()

# a state file that is truncated, or from another model: an io error naming
# the reason, the turns restored all the same and evaluated
with open(path + ".kv", "rb") as f:
    blob = f.read()
for what, args, data in (("truncated", [model], blob[:len(blob) // 2]), ("another model", [tmp + "/other.gguf"], blob)):
    with open(path + ".kv", "wb") as f:
        f.write(data)
    e = Engine(*args, "-t", "1", "--stats-interval", "0")
    e.until(lambda x: x["type"] == "loaded")
    e.send({"type": "restore", "path": path})
    ev = e.event()
    check(ev["type"] == "error" and ev["code"] == "io" and what in ev["message"] and "restored" in ev["message"],
          "restore, state %s: io error (%s)" % (what, ev.get("message")))
    st = e.stats()
    check(st["n_turns"] == 8 and st["n_pos"] == 0, "restore, state %s: 8 turns, no position restored" % what)
    _, _, d, evs = chat(e, 1, "One more thing?", n_predict=4)
    check(not errors(evs) and d.get("n_cached", 0) == 0 and d["n_prompt"] > n_pos,
          "restore, state %s: the next reply evaluates all %d tokens" % (what, d["n_prompt"]))
    e.p.stdin.close()
    e.wait()
os.unlink(path + ".kv")
e = Engine(model, "-t", "1", "--stats-interval", "0")
e.until(lambda x: x["type"] == "loaded")
e.send({"type": "restore", "path": path})
check(e.stats()["n_turns"] == 8, "restore without a state file: the turns, no error")
e.p.stdin.close()
e.wait()

# another protocol version is refused
e = Engine()
e.event()
e.send({"type": "hello", "protocol": 99})
ev = e.event()
check(ev["type"] == "error" and ev["code"] == "version" and e.wait() == 1, "protocol 99: version error, exit 1")

finish()
EOF
