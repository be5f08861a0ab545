#!/bin/sh
# serve-history.sh - a long history costs linear work and never deafens
# serve: after "restore" of a session file with 100,000 turns (far more
# than the context holds), a chat drops the oldest turns and answers
# within a second plus its generation; a cancel, stats or quit sent with
# such a chat is honoured while the turns are being dropped, not after.
# Dropping used to render every prefix of the conversation: minutes at
# 100,000 turns, deaf to every request meanwhile.
#
# The model is a tiny synthetic qwen3moe with a byte-level vocabulary and a
# ChatML template. Every wait is bounded. Environment: HEFT_ENGINE,
# HEFT_TIME_SCALE (the time bounds are multiplied by it: 10 in a sanitizer
# build, whose instrumented code runs several times slower).
set -u
: "${HEFT_ENGINE:?}"
if ! command -v python3 >/dev/null 2>&1; then
	echo "serve-history: python3 is needed to drive the engine; skipping"
	exit 77
fi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/heft-history.XXXXXX") || exit 99
trap 'rm -rf "$tmp"' EXIT INT TERM

if ! "$HEFT_ENGINE" synth -q --arch qwen3moe --embd 64 --layers 2 --heads 2 --kv-heads 1 --ff 128 \
	--experts 4 --experts-used 2 --expert-ff 64 --ctx 2048 -o "$tmp/tiny.gguf" 2>"$tmp/err"; then
	echo "FAIL: synth: $(head -n 1 "$tmp/err")"
	exit 1
fi

PYTHONPATH="$(dirname "$0")" PYTHONDONTWRITEBYTECODE=1 python3 - "$HEFT_ENGINE" "$tmp" <<'PY'
import json, os, subprocess, sys, time

import serve_lib
from serve_lib import check, finish

SCALE = float(os.environ.get("HEFT_TIME_SCALE") or 1)

engine, tmp = sys.argv[1:3]
model = os.path.join(tmp, "tiny.gguf")
N = 100000


class Engine(serve_lib.Engine):
    def __init__(self):
        super().__init__(engine, model, "-t", "1", "--ctx", "512", "--stats-interval", "0",
                         stderr=os.path.join(tmp, "stderr"))

    def restore(self, path):
        self.send({"type": "restore", "path": path}, {"type": "stats"})
        evs = self.within(lambda e: e["type"] in ("stats", "error"), 60)
        return evs and evs[-1]["type"] == "stats" and evs[-1]["stats"]["n_turns"] == N


turns = []
for i in range(N // 2):
    turns.append({"role": "user", "content": "Question number %d, about something." % i})
    turns.append({"role": "assistant", "content": "Answer number %d, briefly." % i})
session = os.path.join(tmp, "long.json")
with open(session, "w") as f:
    json.dump({"format": "heft-session", "version": 1, "model": model, "n_pos": 0, "turns": turns}, f)


def chat(rid):
    return {"type": "chat", "id": rid, "text": "And now?", "options": {"temp": 0, "n_predict": 4}}


# the chat: answered, the oldest turns dropped, within a second plus the generation
e = Engine()
check(e.within(lambda x: x["type"] in ("loaded", "error"), 30)[-1]["type"] == "loaded", "the model loads")
if check(e.restore(session), "restore of %d turns" % N):
    t0 = time.monotonic()
    e.send(chat(1))
    evs = e.within(lambda x: x["type"] == "done", 120)
    dt = time.monotonic() - t0
    if check(evs is not None, "the chat after %d turns is answered" % N):
        d = evs[-1]
        check(d["reason"] == "length" and "dropped" in d.get("message", ""),
              "done: %s, %s" % (d["reason"], d.get("message")))
        check(dt < SCALE * 1.0 + d["gen_ms"] / 1000,
              "answered in %.2f s (generation %.0f ms, prompt %.0f ms)" % (dt, d["gen_ms"], d["prompt_ms"]))
    # again with the turns it dropped back: the same work, the same bound
    e.send({"type": "truncate", "turn": N}, chat(2))
    evs = e.within(lambda x: x["type"] == "done", 120)
    check(evs is not None and evs[-1]["reason"] == "length", "a second chat from the whole history")
check(e.close() == 0, "end of input: exit 0")

# cancel and stats in the same write as the chat: honoured during the drop
e = Engine()
e.within(lambda x: x["type"] in ("loaded", "error"), 30)
if e.restore(session):
    t0 = time.monotonic()
    e.send(chat(3), {"type": "stats"}, {"type": "cancel", "id": 3})
    evs = e.within(lambda x: x["type"] == "done", 120)
    dt = time.monotonic() - t0
    if check(evs is not None, "cancel during the drop: a done event"):
        st = [x for x in evs if x["type"] == "stats"]
        check(st and st[0]["stats"].get("generating") == 1, "stats answered while the turns are dropped")
        check(evs[-1]["reason"] == "cancel" and evs[-1]["n_gen"] == 0,
              "cancelled before any token (%s, %d tokens)" % (evs[-1]["reason"], evs[-1]["n_gen"]))
        check(dt < SCALE * 1.0, "cancel honoured in %.2f s" % dt)
        st = e.within(lambda x: x["type"] == "stats", 10) if e.send({"type": "stats"}) is None else None
        check(st is not None and st[-1]["stats"]["n_turns"] == N + 1 and
              st[-1]["stats"]["n_turns_in_context"] == N + 1,
              "a cancelled drop drops nothing (%s of %s in context)" %
              (st and st[-1]["stats"].get("n_turns_in_context"), st and st[-1]["stats"].get("n_turns")))
check(e.close() == 0, "exit 0")

# quit during the drop: the engine ends at once
e = Engine()
e.within(lambda x: x["type"] in ("loaded", "error"), 30)
if e.restore(session):
    t0 = time.monotonic()
    e.send(chat(4), {"type": "quit"})
    try:
        rc = e.p.wait(10)
    except subprocess.TimeoutExpired:
        rc = "hung"
    dt = time.monotonic() - t0
    check(rc == 0 and dt < SCALE * 2.0, "quit during the drop: exit %s in %.2f s" % (rc, dt))
e.close()
finish()
PY
