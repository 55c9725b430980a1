#!/usr/bin/env python3
"""health_server.py — a stand-in inference server for tests/test_server_proc.c
(harness/run/server_proc.h): listens on 127.0.0.1:PORT and answers GET /health.

Usage: health_server.py MODE PORT [SECONDS]
  ready SECONDS      /health answers 503 until SECONDS after the start, then 200
  never              /health always answers 503
  exit               prints an error line to stderr and exits with status 3
  ignore-term        ignores SIGTERM; /health answers 200 at once
  child              starts a child process (same process group) that sleeps,
                     logs "child pid N"; /health answers 200 at once
  child-ignore-term  the same, and the child (not the server) ignores SIGTERM

At the start it logs "health_server MODE port PORT pid PID" and the values
of $DB_TEST_ECHO and $DB_TEST_OVERRIDE (stdout, flushed).  Every process it
starts ends by itself after 120 s, so a failed test leaves nothing behind
for long.
"""
import http.server
import os
import signal
import sys
import time

LIFETIME_S = 120


def main():
    if len(sys.argv) < 3:
        sys.stderr.write(__doc__)
        return 2
    mode, port = sys.argv[1], int(sys.argv[2])
    delay = float(sys.argv[3]) if len(sys.argv) > 3 else 0.0
    start = time.monotonic()
    print("health_server %s port %d pid %d" % (mode, port, os.getpid()), flush=True)
    print("env DB_TEST_ECHO=%s" % os.environ.get("DB_TEST_ECHO", "(unset)"), flush=True)
    print("env DB_TEST_OVERRIDE=%s" % os.environ.get("DB_TEST_OVERRIDE", "(unset)"), flush=True)

    if mode == "exit":
        sys.stderr.write("error: failed to load model '/nonexistent/model.gguf'\n")
        sys.stderr.flush()
        return 3
    if mode == "ignore-term":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if mode in ("child", "child-ignore-term"):
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            if mode == "child-ignore-term":
                signal.signal(signal.SIGTERM, signal.SIG_IGN)
            os.write(w, b"x")   # set up: the server may now answer
            time.sleep(LIFETIME_S)
            os._exit(0)
        os.read(r, 1)
        print("child pid %d" % pid, flush=True)

    def ready():
        if mode == "never":
            return False
        if mode == "ready":
            return time.monotonic() - start >= delay
        return True

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            ok = ready() if self.path == "/health" else self.path == "/"
            body = b'{"status":"ok"}' if ok else b'{"status":"loading"}'
            self.send_response(200 if ok else 503)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, fmt, *args):
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
    srv.timeout = 0.2
    print("listening", flush=True)
    while time.monotonic() - start < LIFETIME_S:
        srv.handle_request()
    return 0


if __name__ == "__main__":
    sys.exit(main())
