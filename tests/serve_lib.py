# serve_lib.py - what the tests that drive `heft-engine serve` through its
# pipes share (serve.sh, serve-cancel.sh, serve-history.sh, fifo.sh,
# hostile-files.sh): the engine as a child with requests in and events out,
# every wait bounded, and the ok/FAIL tally. Each test keeps its own checks.
#
# Imported by the tests' inline scripts: PYTHONPATH holds tests/ and
# PYTHONDONTWRITEBYTECODE keeps the source tree clean.
import json
import os
import select
import subprocess
import sys
import time

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


def finish():
    """Exit 1 if any check failed, else 0."""
    if fails:
        print("%d failed" % fails)
    sys.exit(1 if fails else 0)


class Engine:
    """`ENGINE serve ARGS...`; stderr appended to the file named (default:
    dropped); on_line(raw bytes) sees every line before it is parsed."""

    def __init__(self, engine, *args, stderr=None, on_line=None):
        self.log = open(stderr, "ab") if stderr else subprocess.DEVNULL
        self.p = subprocess.Popen([engine, "serve", *args], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, stderr=self.log)
        self.buf = b""
        self.on_line = on_line

    def send(self, *msgs):
        """Requests (dicts) or raw lines (bytes), in one write."""
        data = b"".join((m if isinstance(m, bytes) else json.dumps(m).encode()) + b"\n" for m in msgs)
        self.p.stdin.write(data)
        self.p.stdin.flush()

    def event(self, timeout=20):
        """The next event; TimeoutError or EOFError when none comes. Every
        line must be JSON (json.loads checks)."""
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buf:
            r, _, _ = select.select([self.p.stdout], [], [], max(0, deadline - time.monotonic()))
            if not r:
                raise TimeoutError("no event for %gs" % timeout)
            chunk = os.read(self.p.stdout.fileno(), 1 << 16)
            if not chunk:
                raise EOFError("the engine closed its output")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        if self.on_line:
            self.on_line(line)
        return json.loads(line)

    def until(self, pred, timeout=20):
        """Events up to and including the first that pred accepts (the
        timeout for each); TimeoutError or EOFError when it does not come."""
        evs = []
        while True:
            evs.append(self.event(timeout))
            if pred(evs[-1]):
                return evs

    def within(self, pred, timeout=20):
        """until, but None when it does not come within timeout in all."""
        deadline, evs = time.monotonic() + timeout, []
        try:
            while not evs or not pred(evs[-1]):
                evs.append(self.event(max(0, deadline - time.monotonic())))
        except (TimeoutError, EOFError):
            return None
        return evs

    def done(self, rid, timeout=20):
        """The events up to request rid's done."""
        return self.until(lambda e: e["type"] == "done" and e.get("id") == rid, timeout)

    def stats(self):
        self.send({"type": "stats"})
        return self.until(lambda e: e["type"] == "stats")[-1]["stats"]

    def wait(self, timeout=10):
        """Its exit status, or "hung" (then killed) after timeout."""
        try:
            return self.p.wait(timeout)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()
            return "hung"

    def close(self, timeout=10):
        """End of input, then wait."""
        try:
            self.p.stdin.close()
        except BrokenPipeError:
            pass
        return self.wait(timeout)
