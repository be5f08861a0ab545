#!/bin/sh
# serve-cancel.sh - a cancel over heft-protocol(5)'s pipe during a long
# prompt batch is seen between two layers, not after the batch: the done
# with reason "cancel" comes well before the batch could have ended, the
# batch is not kept (the same prompt is evaluated again in full), and the
# engine answers the next request. The routing trace (--trace-routing)
# holds no record of the cancelled batch: only whole calls, the two kept.
#
# The model has many thin layers (a batch of a few seconds, each layer a
# few ms): the prompt is one batch (-b), timed once uncancelled, then sent
# again with a cancel 0.3 s later. Environment: HEFT_ENGINE.
set -u
: "${HEFT_ENGINE:?}"
if ! command -v python3 >/dev/null 2>&1; then
	echo "serve-cancel: python3 is needed to drive the engine; skipping"
	exit 77
fi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/heft-serve-cancel.XXXXXX") || exit 99
trap 'rm -rf "$tmp"' EXIT INT TERM

if ! "$HEFT_ENGINE" synth -q --arch qwen3moe --embd 64 --layers 128 --heads 4 --kv-heads 2 --ff 128 \
	--experts 8 --experts-used 2 --expert-ff 64 --ctx 4096 -o "$tmp/deep.gguf" 2>"$tmp/err"; then
	cat "$tmp/err"
	exit 99
fi

PYTHONPATH="$(dirname "$0")" PYTHONDONTWRITEBYTECODE=1 python3 - "$HEFT_ENGINE" "$tmp/deep.gguf" "$tmp/trace" <<'PYEOF'
import json, sys, time

from serve_lib import Engine, check, finish

engine, model, trace = sys.argv[1:4]
e = Engine(engine, "-t", "2", "-b", "4096", "-c", "4096", "--trace-routing", trace, model)


def done(rid):
    return e.done(rid, timeout=120)[-1]


e.until(lambda x: x["type"] == "loaded", 120)
# every byte is a token: a prompt of ~1000 tokens, one batch
words = " ".join("w%d" % (i * 7919 % 100003) for i in range(150))
prompt = "Once upon a time " + words
t0 = time.monotonic()
e.send({"type": "complete", "id": 1, "prompt": prompt, "n_predict": 1})
d1 = done(1)
full = time.monotonic() - t0
n_eval = d1.get("n_evaluated", d1.get("n_prompt"))
print("uncancelled: %.2f s for the batch (%s)" % (full, json.dumps(d1)[:200]))
check(full >= 1.0, "the batch takes %.2f s (>= 1 s, so a cancel after 0.3 s falls inside it)" % full)

# the same prompt again, with other words: nothing of it is cached
prompt2 = "Far away and long ago " + words
t0 = time.monotonic()
e.send({"type": "complete", "id": 2, "prompt": prompt2, "n_predict": 1})
time.sleep(0.3)
tc = time.monotonic()
e.send({"type": "cancel", "id": 2})
d2 = done(2)
seen = time.monotonic() - tc
print("cancelled: done %.2f s after the cancel, %.2f s after the request" % (seen, time.monotonic() - t0))
check(d2["reason"] == "cancel", "reason %s" % d2["reason"])
check(seen < max(0.25, full / 4), "the cancel is seen within %.2f s (< max(0.25, %.2f / 4))" % (seen, full))

# the engine goes on; the cancelled batch was not kept: the same prompt is evaluated in full
t0 = time.monotonic()
e.send({"type": "complete", "id": 3, "prompt": prompt2, "n_predict": 1})
d3 = done(3)
check(d3["reason"] in ("length", "eos"), "the next request is served: %s" % d3["reason"])
st = e.stats()
check(st["n_reused"] < 30 and st["n_evaluated"] > 900,
      "the cancelled batch was not kept: %d tokens reused, %d evaluated" % (st["n_reused"], st["n_evaluated"]))
e.send({"type": "quit"})
check(e.wait() == 0, "quit: exit 0")

# the trace: (tokens, layers recorded) per call; the cancelled call left nothing
calls = []
with open(trace) as f:
    for line in f:
        w = line.split()
        if w[0] == "moe":
            n_moe = len(w) - 1
        elif w[0] == "c":
            calls.append([w[1] + " " + w[2], 0])
        elif w[0] == "r":
            calls[-1][1] += 1
want = [["p %d" % n_eval, n_moe], ["p %d" % st["n_evaluated"], n_moe]]
check(calls == want, "the trace holds the two kept batches, whole: %s (want %s)" % (calls, want))
finish()
PYEOF
