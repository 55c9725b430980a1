#!/usr/bin/env python3
"""sse_server.py — a stand-in inference server for decobench's load
generator tests (tests/test_loadgen.c): streams Server-Sent Events the way
OpenAI-compatible servers (vLLM, llama-server's /v1/...) and llama-server's
native /completion do, plus planted faults, and records what it saw.

Usage: sse_server.py [--port N] [--exit-on-stdin-eof] [--not-ready]
    Binds 127.0.0.1 only; port 0 (the default) picks a free one.  The first
    line on stdout is the port.  With --exit-on-stdin-eof the server exits
    when its stdin closes (the test that started it died).

Endpoints (the API is chosen by the path):
    POST /v1/completions        choices[0].text chunks, then "data: [DONE]"
    POST /v1/chat/completions   a role-only first delta, then delta.content chunks
    POST /completion            llama.cpp: "content" (+ "tokens"), last chunk "stop": true
                                with "timings" (+ draft_n / draft_n_accepted with "draft")
    GET  /health                200 "ok" (503 with --not-ready)
    GET  /stats                 JSON: max_active, active, count, arrivals (seconds since
                                the server started, in arrival order), auth (the last
                                Authorization header), modes, peers (distinct client
                                connections the POSTs came on)
    POST /reset                 clears the statistics

Request body fields (JSON; all optional; also read from a line
"#fault key=value ..." of the prompt or of the last chat message, values as
JSON where they parse, so a suite's dataset can plant faults):
    tag         text of chunk i is TAG + str(i) + " " (default "c")
    n           number of content chunks (default 5)
    delay_ms    sleep before each chunk (default 0)
    usage       true: OpenAI usage in a last chunk with empty choices
    tokens      llama: token ids per chunk (default 1; ids are 1000 + running index)
    draft       llama: add draft_n / draft_n_accepted to the timings
    framing     "chunked" (default) or "close" (no length; the end of the body is the close)
    mode        "ok" (default), "http500" (a multi-line body that echoes the Authorization
                header), "http429", "malformed" (one good chunk then bad JSON), "cut" (k chunks,
                then the socket closes without the end event), "slow" (sleep sleep_s before the
                first chunk), "error_event" (one chunk then an {"error": ...} event), "die"
                (k chunks, then the whole server process exits), "nostream" (one plain JSON
                response, as without "stream": true)
    k           chunks before a cut / die (default 2)
    sleep_s     for "slow" (default 5)
    prompt_tokens  reported in usage / tokens_evaluated (default 7)
"""
import argparse
import json
import os
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

T0 = time.monotonic()
LOCK = threading.Lock()
STATS = {'active': 0, 'max_active': 0, 'count': 0, 'arrivals': [], 'auth': None, 'modes': {}}
PEERS = set()   # client (address, port) pairs: connections the requests came on


def reset_stats():
    with LOCK:
        STATS.update(active=0, max_active=0, count=0, arrivals=[], auth=None, modes={})
        PEERS.clear()


class Handler(BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'
    server_version = 'sse_server/1'
    disable_nagle_algorithm = True   # TCP_NODELAY, as real servers: a chunk goes out when written

    def log_message(self, fmt, *args):   # quiet
        pass

    # ---- writing ----

    def send_raw(self, b):
        if self.chunked:
            self.wfile.write(b'%x\r\n' % len(b) + b + b'\r\n')
        else:
            self.wfile.write(b)
        self.wfile.flush()

    def event(self, obj):
        data = obj if isinstance(obj, str) else json.dumps(obj)
        self.send_raw(('data: ' + data + '\n\n').encode('utf-8'))

    def start_stream(self, framing):
        self.chunked = framing != 'close'
        self.send_response(200)
        self.send_header('Content-Type', 'text/event-stream')
        self.send_header('Cache-Control', 'no-cache')
        if self.chunked:
            self.send_header('Transfer-Encoding', 'chunked')
        else:
            self.send_header('Connection', 'close')
            self.close_connection = True
        self.end_headers()
        self.wfile.flush()

    def end_stream(self):
        if self.chunked:
            self.wfile.write(b'0\r\n\r\n')
        self.wfile.flush()

    def plain(self, status, body, extra=()):
        b = body.encode('utf-8')
        self.send_response(status)
        self.send_header('Content-Type', 'text/plain; charset=utf-8')
        self.send_header('Content-Length', str(len(b)))
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(b)
        self.wfile.flush()

    def cut(self):
        """end without the end of the body: a close-delimited body just ends (FIN, a
        clean end for the client); a chunked one is reset (RST) mid-body"""
        self.close_connection = True
        if not self.chunked:
            return
        time.sleep(0.2)   # the client has read what came before (a reset may drop unread data)
        try:
            self.wfile.flush()
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b'\x01\x00\x00\x00\x00\x00\x00\x00')
        except OSError:
            pass
        self.close_connection = True
        self.connection.close()

    # ---- requests ----

    def do_GET(self):
        if self.path.startswith('/stats'):
            with LOCK:
                body = json.dumps(dict(STATS, peers=len(PEERS)))
            b = body.encode()
            self.send_response(200)
            self.send_header('Content-Type', 'application/json')
            self.send_header('Content-Length', str(len(b)))
            self.end_headers()
            self.wfile.write(b)
        elif self.path == '/health':
            if NOT_READY:
                self.plain(503, 'loading model')
            else:
                self.plain(200, 'ok')
        else:
            self.plain(404, 'not found')

    def do_POST(self):
        arrived = time.monotonic() - T0
        length = int(self.headers.get('Content-Length') or 0)
        raw = self.rfile.read(length) if length > 0 else b''
        if self.path == '/reset':
            reset_stats()
            self.plain(200, 'ok')
            return
        try:
            req = json.loads(raw or b'{}')
        except ValueError:
            self.plain(400, 'request body is not JSON')
            return
        if isinstance(req, dict):
            req = dict(directives(req), **req)
        mode = req.get('mode', 'ok')
        with LOCK:
            STATS['active'] += 1
            STATS['max_active'] = max(STATS['max_active'], STATS['active'])
            STATS['count'] += 1
            STATS['arrivals'].append(arrived)
            STATS['auth'] = self.headers.get('Authorization')
            STATS['modes'][mode] = STATS['modes'].get(mode, 0) + 1
            PEERS.add(self.client_address)
        self.active = True
        try:
            self.serve(req, mode)
        except (BrokenPipeError, ConnectionResetError, OSError):
            self.close_connection = True
        finally:
            self.leave()

    def leave(self):
        """no longer active: called before the last bytes go out, so a client that
        saw the end and sent its next request never finds this one still counted"""
        if self.active:
            self.active = False
            with LOCK:
                STATS['active'] -= 1

    def serve(self, req, mode):
        api = self.path
        if api not in ('/v1/completions', '/v1/chat/completions', '/completion'):
            self.leave()
            self.plain(404, 'no such endpoint')
            return
        if mode == 'http500':
            self.leave()
            self.plain(500, 'internal error: the model fell over\nsecond line\tauth=%s\n%s' %
                       (self.headers.get('Authorization'), 'x' * 300))
            return
        if mode == 'http429':
            self.leave()
            self.plain(429, '{"error": {"message": "too many requests", "type": "rate_limit"}}',
                       [('Retry-After', '1')])
            return
        if mode == 'nostream':
            self.leave()
            b = json.dumps({'choices': [{'index': 0, 'text': 'all at once', 'finish_reason': 'stop'}]}).encode()
            self.send_response(200)
            self.send_header('Content-Type', 'application/json')
            self.send_header('Content-Length', str(len(b)))
            self.end_headers()
            self.wfile.write(b)
            return
        tag = str(req.get('tag', 'c'))
        n = int(req.get('n', 5))
        delay = float(req.get('delay_ms', 0)) / 1000.0
        k = int(req.get('k', 2))
        ntok = int(req.get('tokens', 1))
        prompt_tokens = int(req.get('prompt_tokens', 7))
        self.start_stream(req.get('framing', 'chunked'))
        if mode == 'slow':
            time.sleep(float(req.get('sleep_s', 5)))
        if api == '/v1/chat/completions':
            self.event({'id': 'x', 'object': 'chat.completion.chunk',
                        'choices': [{'index': 0, 'delta': {'role': 'assistant', 'content': ''}, 'finish_reason': None}]})
        next_id = 1000
        for i in range(n):
            if delay > 0:
                time.sleep(delay)
            if mode in ('cut', 'die') and i == k:
                if mode == 'die':
                    os._exit(3)
                self.leave()
                self.cut()
                return
            if mode == 'malformed' and i == 1:
                self.send_raw(b'data: {"choices": [{"text": "oops"\n\n')
                self.leave()
                self.end_stream()
                return
            if mode == 'error_event' and i == 1:
                self.leave()
                self.event({'error': {'code': 500, 'message': 'the model\ncrashed', 'type': 'server_error'}})
                self.end_stream()
                return
            text = '%s%d ' % (tag, i)
            if api == '/v1/completions':
                self.event({'id': 'x', 'object': 'text_completion',
                            'choices': [{'index': 0, 'text': text, 'logprobs': None,
                                         'finish_reason': 'length' if i == n - 1 else None}]})
            elif api == '/v1/chat/completions':
                self.event({'id': 'x', 'object': 'chat.completion.chunk',
                            'choices': [{'index': 0, 'delta': {'content': text}, 'finish_reason': None}]})
            else:
                ids = list(range(next_id, next_id + ntok))
                next_id += ntok
                ev = {'index': 0, 'content': text, 'stop': False, 'id_slot': 0,
                      'tokens_predicted': i + 1, 'tokens_evaluated': prompt_tokens}
                if ntok > 0:
                    ev['tokens'] = ids
                self.event(ev)
        if api == '/v1/chat/completions':
            self.event({'id': 'x', 'object': 'chat.completion.chunk',
                        'choices': [{'index': 0, 'delta': {}, 'finish_reason': 'stop'}]})
        completion_tokens = n * max(ntok, 1) if api == '/completion' else n
        if api == '/completion':
            timings = {'prompt_n': prompt_tokens, 'prompt_ms': 12.5, 'prompt_per_token_ms': 12.5 / prompt_tokens,
                       'predicted_n': completion_tokens, 'predicted_ms': 40.25}
            if req.get('draft'):
                timings.update(draft_n=10, draft_n_accepted=7)
            self.leave()
            self.event({'index': 0, 'content': '', 'tokens': [], 'stop': True, 'stop_type': 'limit',
                        'stopping_word': '', 'tokens_predicted': completion_tokens,
                        'tokens_evaluated': prompt_tokens, 'timings': timings})
        else:
            if req.get('usage'):
                self.event({'id': 'x', 'choices': [],
                            'usage': {'prompt_tokens': prompt_tokens, 'completion_tokens': completion_tokens,
                                      'total_tokens': prompt_tokens + completion_tokens}})
            self.leave()
            self.event('[DONE]')
        self.end_stream()


NOT_READY = False


def directives(req):
    """Fields given in the prompt (or the last chat message) as a line
    "#fault key=value ...": how decobench's own requests (tests/serve-check.sh),
    whose bodies the test cannot write, ask for a fault or a shape."""
    text = req.get('prompt')
    msgs = req.get('messages')
    if isinstance(msgs, list) and msgs and isinstance(msgs[-1], dict):
        text = msgs[-1].get('content')
    out = {}
    if not isinstance(text, str):
        return out
    for line in text.splitlines():
        if line.startswith('#fault'):
            for kv in line.split()[1:]:
                k, _, v = kv.partition('=')
                try:
                    out[k] = json.loads(v)
                except ValueError:
                    out[k] = v
    return out


def main():
    global NOT_READY
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--port', type=int, default=0)
    ap.add_argument('--exit-on-stdin-eof', action='store_true')
    ap.add_argument('--not-ready', action='store_true', help='GET /health answers 503 forever')
    a = ap.parse_args()
    NOT_READY = a.not_ready
    ThreadingHTTPServer.daemon_threads = True
    ThreadingHTTPServer.request_queue_size = 128
    srv = ThreadingHTTPServer(('127.0.0.1', a.port), Handler)
    print(srv.server_address[1], flush=True)
    # for logs (decobench keeps a started server's output): the address and the pid
    # (on stderr: a test may stop reading stdout after the port line)
    try:
        print('listening on http://127.0.0.1:%d pid %d' % (srv.server_address[1], os.getpid()), file=sys.stderr,
              flush=True)
    except OSError:
        pass
    if a.exit_on_stdin_eof:
        def watch():
            try:
                while sys.stdin.buffer.read(4096):
                    pass
            except OSError:
                pass
            os._exit(0)
        threading.Thread(target=watch, daemon=True).start()
    try:
        srv.serve_forever(poll_interval=0.05)
    except KeyboardInterrupt:
        pass


if __name__ == '__main__':
    main()
