#!/usr/bin/env python3
"""http-fake-server.py - chat servers for heft's HTTP client tests.

Speaks llama-server's OpenAI-compatible SSE (default) or ollama's NDJSON
(--ollama) on 127.0.0.1 at a free port, which it writes to --port-file.
The model named in a request picks the behaviour, so one server covers
every case:
  thinkonly  reasoning_content, then the end: no answer
  basic      reasoning_content, pings, content cut at odd byte boundaries,
             timings, [DONE]; the answer quotes the turns it received
  slow       200 tokens, 50 ms apart (Ctrl-C while it streams)
  fast       3000 tokens at 100 per second (typing latency)
  errchunk   some content, then an error chunk
  stall      one token, then silence
  drop       part of an answer, then the connection closes
  auth       401 unless "Authorization: Bearer sekrit"
  busy       429 with Retry-After: 1 once, then an answer
  busyalways 429 with Retry-After: 1 every time
  fail500    500 with a JSON error
  missing    404, model not found
  garbage    200, then lines that are not JSON
  huge       200, then a 10 MB line
With --tls CERT KEY it speaks HTTPS with that certificate.
Every request is appended as one JSON line to --log (path, whether an
Authorization header came, the body). The server exits when its parent
does, so a test that dies leaves nothing behind."""
import argparse
import json
import os
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

busy_seen = set()
log_lock = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"   # the body ends when the connection does

    def log_message(self, *a):
        pass

    def record(self, body):
        if not ARGS.log:
            return
        with log_lock, open(ARGS.log, "a") as f:
            f.write(json.dumps({"path": self.path,
                                "auth": self.headers.get("Authorization"),
                                "body": body}) + "\n")

    def send_json(self, code, obj, extra=()):
        data = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def raw(self, b, pause=0.0):
        self.wfile.write(b)
        self.wfile.flush()
        if pause:
            time.sleep(pause)

    def do_GET(self):
        self.record(None)
        if ARGS.ollama and self.path == "/api/version":
            self.send_json(200, {"version": "0.6.0"})
        elif ARGS.ollama and self.path == "/api/tags":
            self.send_json(200, {"models": [{"name": "olla:latest", "model": "olla:latest"}]})
        elif not ARGS.ollama and self.path == "/v1/models":
            self.send_json(200, {"object": "list", "data": [
                {"id": "basic", "object": "model", "owned_by": "llamacpp"},
                {"id": "slow", "object": "model", "owned_by": "llamacpp"}]})
        else:
            self.send_json(404, {"error": {"code": 404, "message": "File Not Found",
                                           "type": "not_found_error"}})

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        try:
            body = json.loads(self.rfile.read(n))
        except ValueError:
            self.send_json(400, {"error": {"message": "bad JSON"}})
            return
        self.record(body)
        if ARGS.ollama:
            if self.path != "/api/chat":
                return self.send_json(404, {"error": "not found"})
            return self.ollama(body)
        if self.path != "/v1/chat/completions":
            return self.send_json(404, {"error": {"message": "File Not Found"}})
        model = body.get("model", "")
        turns = body.get("messages", [])
        last = turns[-1]["content"] if turns else ""
        if model == "auth" and self.headers.get("Authorization") != "Bearer sekrit":
            return self.send_json(401, {"error": {"code": 401, "message": "Invalid API Key",
                                                  "type": "authentication_error"}})
        if model == "busyalways" or (model == "busy" and model not in busy_seen):
            busy_seen.add(model)
            return self.send_json(429, {"error": {"code": 429, "message": "too many requests",
                                                  "type": "rate_limit_error"}},
                                  [("Retry-After", "1")])
        if model == "fail500":
            return self.send_json(500, {"error": {"code": 500, "message": "internal kaboom",
                                                  "type": "server_error"}})
        if model == "missing":
            return self.send_json(404, {"error": {"code": 404, "message": "model 'missing' not found",
                                                  "type": "not_found_error"}})
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()

        def chunk(delta, finish=None, **extra):
            c = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "model": model,
                 "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
            c.update(extra)
            return ("data: " + json.dumps(c) + "\n\n").encode()

        try:
            self.raw(b": ping\n\n")
            self.raw(chunk({"role": "assistant", "content": None}))
            if model == "garbage":
                self.raw(b"data: <html><body>502 Bad Gateway</body></html>\n\n")
                return
            if model == "huge":
                self.raw(b"data: {\"choices\":[{\"delta\":{\"content\":\"")
                block = b"x" * (1 << 20)
                for _ in range(10):
                    self.raw(block)
                self.raw(b"\"}}]}\n\n")
                return
            if model in ("slow", "fast"):
                n, gap = (200, 0.05) if model == "slow" else (3000, 0.01)
                for i in range(n):
                    self.raw(chunk({"content": "tok%d " % i}), gap)
                self.raw(chunk({}, "stop") + b"data: [DONE]\n\n")
                return
            if model == "stall":
                self.raw(chunk({"content": "waiting"}))
                time.sleep(30)
                return
            if model == "drop":
                self.raw(chunk({"content": "half an ans"}))
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            if model == "errchunk":
                self.raw(chunk({"content": "partial "}))
                self.raw(b'data: {"error":{"code":500,"message":"the slot died","type":"server_error"}}\n\n')
                return
            self.raw(chunk({"reasoning_content": "Thinking about it."}))
            if model == "thinkonly":
                self.raw(chunk({}, "length") + b"data: [DONE]\n\n")
                return
            text = "Hello from %s: %d turns, last: %s" % (model, len(turns), last)
            if model == "busy":
                text = "Hello after waiting"
            # One chunk cut in the middle of its JSON, with a pause.
            c = chunk({"content": text[:7]})
            self.raw(c[:11], 0.02)
            self.raw(c[11:] + b": keep-alive\n\n")
            self.raw(chunk({"content": text[7:]}))
            self.raw(chunk({}, "stop", timings={"prompt_n": 11, "prompt_ms": 20.0,
                                                "predicted_n": 2, "predicted_ms": 10.0}))
            self.raw(b"data: [DONE]\n\n")
        except (BrokenPipeError, ConnectionResetError):
            pass

    def ollama(self, body):
        turns = body.get("messages", [])
        self.send_response(200)
        self.send_header("Content-Type", "application/x-ndjson")
        self.end_headers()

        def line(msg, done=False, **extra):
            o = {"model": body.get("model"), "created_at": "2026-12-07T00:00:00Z",
                 "message": dict({"role": "assistant", "content": ""}, **msg), "done": done}
            o.update(extra)
            return (json.dumps(o) + "\n").encode()

        self.raw(line({"thinking": "pondering"}))
        text = "Hi from ollama: %d turns" % len(turns)
        b = line({"content": text})
        self.raw(b[:5], 0.02)
        self.raw(b[5:])
        self.raw(line({}, True, done_reason="stop", prompt_eval_count=7, eval_count=5,
                      prompt_eval_duration=1000000, eval_duration=5000000))


def watch_parent(ppid):
    while os.getppid() == ppid:
        time.sleep(0.5)
    os._exit(0)


def main():
    global ARGS
    p = argparse.ArgumentParser()
    p.add_argument("--ollama", action="store_true")
    p.add_argument("--port-file", required=True)
    p.add_argument("--log")
    p.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"))
    ARGS = p.parse_args()
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    if ARGS.tls:
        import ssl
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(*ARGS.tls)
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    tmp = ARGS.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % srv.server_address[1])
    os.rename(tmp, ARGS.port_file)
    threading.Thread(target=watch_parent, args=(os.getppid(),), daemon=True).start()
    srv.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
