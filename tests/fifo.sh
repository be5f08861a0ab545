#!/bin/sh
# fifo.sh - a FIFO where the engine expects a file never hangs it (issue
# 22, failure 1): `inspect FIFO`, `run --prompt-cache FIFO`, and `load` and
# `restore` of a FIFO in `serve` are refused with a message naming the
# path, quickly, and serve still answers stats and quit afterwards. The
# FIFO is left a FIFO. Opening before checking used to block forever
# (nobody writes to the FIFO). Every wait is bounded by a timeout.
# Environment: HEFT_ENGINE.
set -u
: "${HEFT_ENGINE:?}"
if ! command -v python3 >/dev/null 2>&1 || ! command -v timeout >/dev/null 2>&1; then
	echo "fifo: python3 and timeout are needed; skipping"
	exit 77
fi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/heft-fifo.XXXXXX") || exit 99
trap 'rm -rf "$tmp"' EXIT INT TERM
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
ok() { echo "ok: $*"; }

fifo=$tmp/fifo
mkfifo "$fifo" || exit 99
model=$tmp/tiny.gguf
if ! "$HEFT_ENGINE" synth -q --arch qwen3moe --embd 64 --layers 2 --heads 2 --kv-heads 1 --ff 128 \
	--experts 4 --experts-used 2 --expert-ff 64 --ctx 256 -o "$model" 2>"$tmp/err"; then
	echo "FAIL: synth: $(head -n 1 "$tmp/err")"
	exit 1
fi

# bounded NAME ARGS...: the engine with ARGS, at most 10 s; $rc its status
# (124: killed by the timeout), stderr in $tmp/NAME.err.
bounded() {
	name=$1
	shift
	timeout -s KILL 10 "$HEFT_ENGINE" "$@" >"$tmp/$name.out" 2>"$tmp/$name.err" </dev/null
	rc=$?
	[ "$rc" -ne 137 ] && [ "$rc" -ne 124 ] || { fail "$name: hung (killed after 10 s)"; return 1; }
}
still_fifo() { [ -p "$fifo" ] || fail "$1: $fifo is no longer a FIFO"; }

if bounded inspect inspect "$fifo"; then
	if [ "$rc" -ne 0 ] && grep -q "$fifo" "$tmp/inspect.err"; then
		ok "inspect FIFO: refused (exit $rc) naming it"
	else
		fail "inspect FIFO: exit $rc, stderr: $(cat "$tmp/inspect.err")"
	fi
fi
still_fifo inspect

if bounded prompt-cache run "$model" --tokens 1,2,3,4 -n 2 --prompt-cache "$fifo"; then
	if grep "prompt cache" "$tmp/prompt-cache.err" | grep -q "$fifo"; then
		ok "run --prompt-cache FIFO: done (exit $rc), the cache refused by name"
	else
		fail "run --prompt-cache FIFO: exit $rc, stderr: $(cat "$tmp/prompt-cache.err")"
	fi
fi
still_fifo prompt-cache

timeout -s KILL 90 env PYTHONPATH="$(dirname "$0")" PYTHONDONTWRITEBYTECODE=1 \
	python3 - "$HEFT_ENGINE" "$model" "$fifo" <<'PY'
import sys

from serve_lib import Engine, check, finish

engine, model, fifo = sys.argv[1:4]


def session(what, req):
    """A request about the FIFO, then stats and quit: each answered in time."""
    e = Engine(engine, model, "-t", "1")

    def until(pred, timeout=5):
        evs = e.within(pred, timeout)
        return evs[-1] if evs else None

    until(lambda x: x["type"] in ("loaded", "error"), 30)
    e.send(req, {"type": "stats"})
    err = until(lambda x: x["type"] in ("error", "stats"))
    check(err is not None and err["type"] == "error" and fifo in err.get("message", ""),
          "%s FIFO: an error naming it (%s)" % (what, err and err.get("message")))
    st = err if err and err["type"] == "stats" else until(lambda x: x["type"] == "stats")
    check(st is not None and st["stats"].get("n_ctx", 0) > 0, "%s FIFO: stats answered, the model loaded" % what)
    e.send({"type": "quit"})
    rc = e.wait(5)
    check(rc == 0, "%s FIFO: quit answered (exit %s)" % (what, rc))


session("load", {"type": "load", "model": fifo})
session("restore", {"type": "restore", "path": fifo})
finish()
PY
case $? in
0) ;;
137) fail "serve: hung (killed after 90 s)" ;;
*) fails=$((fails + 1)) ;;
esac
still_fifo serve

if [ "$fails" -ne 0 ]; then
	echo "fifo: $fails failure(s)"
	exit 1
fi
echo "fifo: ok"
