#!/bin/sh
# hostile-files.sh - files that are not what they claim (issue 22): a FIFO
# or a device where a model, a prompt cache or a session is expected never
# hangs and is never replaced; a name read from a GGUF that holds terminal
# escapes never reaches an output stream raw (run, eval, inspect, serve,
# the front end's plain mode); the hot list is private (0600).
# Environment: HEFT_ENGINE, HEFT_TESTDATA, top_builddir.
set -u
engine=${HEFT_ENGINE:-${top_builddir:-.}/heft-engine}
heft=${top_builddir:-.}/heft
data=${HEFT_TESTDATA:-${top_srcdir:-.}/tests/data}
moe=$data/qwen3moe-Q4_K_M.gguf
if ! command -v python3 >/dev/null 2>&1 || ! command -v timeout >/dev/null 2>&1; then
	echo "hostile-files: python3 and timeout are needed; skipping"
	exit 77
fi
[ -f "$moe" ] || { echo "hostile-files: no $moe; skipping"; exit 77; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/heft-hostile.XXXXXX") || exit 99
trap 'rm -rf "$tmp"' EXIT INT TERM
fails=0
ok() { echo "ok: $*"; }
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
esc=$(printf '\033')

# 1. A FIFO where a file is read: refused at once, named.
mkfifo "$tmp/fifo"
for cmd in "inspect" "run -p hi" "eval --tokens 1,2"; do
	timeout 10 "$engine" $cmd "$tmp/fifo" >/dev/null 2>"$tmp/err"; rc=$?
	[ $rc -eq 2 ] && grep -q 'fifo: not a regular file' "$tmp/err" && ok "$cmd FIFO: refused" \
		|| fail "$cmd FIFO: exit $rc $(cat "$tmp/err")"
done
timeout 20 "$engine" run "$moe" --tokens 1,2,3 -n 1 --prompt-cache "$tmp/fifo" >/dev/null 2>"$tmp/err"; rc=$?
[ $rc -ne 124 ] && [ -p "$tmp/fifo" ] && ! [ -e "$tmp/fifo.kv" ] && grep -q 'not a regular file' "$tmp/err" \
	&& ok "--prompt-cache FIFO: refused, left a FIFO" || fail "--prompt-cache FIFO: exit $rc $(cat "$tmp/err")"

# 2. A GGUF whose architecture holds terminal escapes.
python3 - "$moe" "$tmp/hostile.gguf" <<'PY' || { echo "FAIL: cannot write the hostile GGUF"; exit 1; }
import struct, sys
b = open(sys.argv[1], "rb").read()
key = b"general.architecture"
i = b.index(key) + len(key)
n, = struct.unpack_from("<Q", b, i + 4)
# 32 bytes longer: the tensor data, aligned to 32, moves with the header
new = b"\x1b[2J\x1b]0;X\x07\xc2\x9b"
new += b"A" * (n + 32 - len(new))
open(sys.argv[2], "wb").write(b[:i + 4] + struct.pack("<Q", len(new)) + new + b[i + 12 + n:])
PY
for cmd in "inspect" "run -p hi" "eval --tokens 1,2" "tokenize -p hi"; do
	timeout 20 "$engine" $cmd "$tmp/hostile.gguf" >"$tmp/out" 2>"$tmp/err"; rc=$?
	if grep -q "$esc" "$tmp/out" "$tmp/err" || grep -q "$(printf '\302\233')" "$tmp/out" "$tmp/err"; then
		fail "$cmd: a raw escape reached the output: $(cat -v "$tmp/err" | head -2)"
	elif [ $rc -eq 124 ]; then
		fail "$cmd: hung"
	else
		ok "$cmd hostile architecture: no raw escape (exit $rc)"
	fi
done
printf 'hello\n' | timeout 20 "$heft" --plain --engine "'$engine' serve" "$tmp/hostile.gguf" >"$tmp/out" 2>"$tmp/err"; rc=$?
if grep -q "$esc" "$tmp/out" "$tmp/err"; then
	fail "plain mode: a raw escape reached the output: $(cat -v "$tmp/err" | head -3)"
elif ! grep -q 'not supported' "$tmp/err"; then
	fail "plain mode: the engine's message is not shown: $(cat -v "$tmp/err" | head -3)"
else
	ok "plain mode: the engine's message shown, escaped"
fi

# 3. serve: load and restore of a FIFO answered, save to a FIFO or a device
# refused with both left as they were; a hostile architecture escaped.
# (A model with a tokenizer: save and restore need one.)
"$engine" synth -q --arch qwen3moe --embd 64 --layers 1 --heads 2 --kv-heads 1 --ff 128 --experts 4 \
	--experts-used 2 --expert-ff 64 --ctx 256 -o "$tmp/chat.gguf" 2>"$tmp/err" \
	|| { echo "FAIL: synth: $(cat "$tmp/err")"; exit 1; }
lib=$(dirname "$0")
PYTHONPATH=$lib PYTHONDONTWRITEBYTECODE=1 python3 - "$engine" "$tmp" "$tmp/chat.gguf" <<'PY' || fails=$((fails + 1))
import os, stat, sys
from serve_lib import Engine, check, finish
engine, tmp, model = sys.argv[1:4]
def clean(line):
    check(b"\x1b" not in line and b"\xc2\x9b" not in line, "no raw escape in: %.60s" % line)
e = Engine(engine, "-t", "1", "--stats-interval", "0", stderr=os.path.join(tmp, "serve.err"), on_line=clean)
send = e.send
def until(pred):
    evs = e.within(pred, 15)
    return evs[-1] if evs else None
fifo = os.path.join(tmp, "fifo")
send({"type": "load", "model": fifo})
ev = until(lambda e: e["type"] in ("error", "loaded"))
check(ev is not None and ev["type"] == "error" and "not a regular file" in ev["message"], "load FIFO: refused")
send({"type": "load", "model": os.path.join(tmp, "hostile.gguf")})
ev = until(lambda e: e["type"] in ("error", "loaded"))
check(ev is not None and ev["type"] == "error", "load hostile architecture: refused")
send({"type": "load", "model": model})
check(until(lambda e: e["type"] in ("error", "loaded")) is not None, "load a good model")
send({"type": "restore", "path": fifo})
ev = until(lambda e: e["type"] == "error")
check(ev is not None and "not a regular file" in ev["message"], "restore FIFO: refused")
send({"type": "stats"})
check(until(lambda e: e["type"] == "stats") is not None, "stats answered after restore of a FIFO")
targets = [fifo]
dev = os.path.join(tmp, "null")
try:
    os.mknod(dev, 0o600 | stat.S_IFCHR, os.makedev(1, 3))
    targets.append(dev)
except OSError:
    print("(no mknod: the device case is skipped)")
for t in targets:
    before = os.lstat(t)
    send({"type": "save", "path": t})
    ev = until(lambda e: e["type"] == "error")
    after = os.lstat(t)
    check(ev is not None and "not a regular file" in ev["message"], "save to %s: refused" % os.path.basename(t))
    check(after.st_mode == before.st_mode and after.st_ino == before.st_ino and after.st_rdev == before.st_rdev,
          "save to %s: left as it was" % os.path.basename(t))
    check(not os.path.exists(t + ".kv"), "save to %s: no .kv beside it" % os.path.basename(t))
check(sorted(os.listdir(tmp)) == sorted(["fifo", "hostile.gguf", "chat.gguf", "serve.err", "err", "out"] +
                                        (["null"] if len(targets) > 1 else [])),
      "no temporary left: %s" % sorted(os.listdir(tmp)))
e.close()
err = open(os.path.join(tmp, "serve.err"), "rb").read()
check(b"\x1b" not in err, "serve's standard error: no raw escape")
finish()
PY

# 4. The hot list is private.
XDG_CACHE_HOME=$tmp/xdg timeout 60 "$engine" run "$moe" --tokens 1,2,3 -n 2 --io stream >/dev/null 2>"$tmp/err"
hot=$(find "$tmp/xdg" -name 'hot-*' -type f | head -n 1)
if [ -z "$hot" ]; then
	fail "no hot list written: $(cat "$tmp/err")"
else
	mode=$(stat -c %a "$hot")
	[ "$mode" = 600 ] && ok "hot list: mode 0600" || fail "hot list: mode $mode"
fi

[ $fails -eq 0 ] || { echo "hostile-files: $fails failure(s)"; exit 1; }
echo "hostile-files: ok"
