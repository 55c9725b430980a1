#!/usr/bin/env python3
"""serve_client.py — is decobench's serving client ever the bottleneck?
(bench/serve_client.sh runs it; docs/serving.md, README "Serving").

Two measurements, each of decobench and of an anchor client in the same run:

1. Client cost against a trivial local server (tests/serve/sse_server.py,
   started here on 127.0.0.1): CPU seconds (user + system) of the client
   per request and per streamed chunk.  decobench's cost is measured as the
   difference of two runs that differ only in the request count (or only
   in the chunks per request), so its start-up (suite, machine probe,
   database) cancels out.  The anchor is a stdlib-Python streaming client
   (http.client, one thread per request in flight, SSE lines parsed as
   vLLM's benchmark client does), timed the same way in-process.

2. TTFT the client adds, against llama-server with the bundled target at
   concurrency 1 and 4: client-side TTFT minus the server's own prompt time
   (timings.prompt_ms), p50 and p90 over the requests, for decobench and
   for the anchor, on the same server and prompts.

Prints medians over --rounds and the ratios decobench / anchor.
"""
import argparse
import http.client
import json
import os
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.dirname(HERE)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def wait_health(port, timeout=120):
    t0 = time.time()
    while time.time() - t0 < timeout:
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            c.request("GET", "/health")
            if c.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise SystemExit("server on port %d not ready" % port)


def children_cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def run_decobench(decobench, suite, db):
    for f in (db, db + "-wal", db + "-shm"):
        if os.path.exists(f):
            os.unlink(f)
    c0 = children_cpu()
    subprocess.run([decobench, "run", suite, "--db", db], check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    return children_cpu() - c0


# ---- the anchor: a stdlib streaming client ------------------------------------------------

def anchor_request(port, path, body, out):
    t_send = time.perf_counter()
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    c.request("POST", path, body=json.dumps(body), headers={"Content-Type": "application/json"})
    r = c.getresponse()
    first = None
    chunks = 0
    prompt_ms = None
    buf = b""
    while True:
        line = r.fp.readline()
        if not line:
            break
        line = line.strip()
        if not line.startswith(b"data:"):
            continue
        data = line[5:].strip()
        if data == b"[DONE]":
            break
        ev = json.loads(data)
        text = ev.get("content")
        if text is None and ev.get("choices"):
            text = ev["choices"][0].get("text")
        if text:
            chunks += 1
            if first is None:
                first = time.perf_counter()
        if "timings" in ev:
            prompt_ms = ev["timings"].get("prompt_ms")
        if ev.get("stop") is True:
            break
    c.close()
    out.append(((first - t_send) * 1e3 if first else None, prompt_ms, chunks))


def anchor_run(port, path, bodies, concurrency):
    """closed loop over bodies; returns (cpu seconds of this process, results)"""
    res = []
    lock = threading.Lock()
    todo = list(bodies)

    def worker():
        while True:
            with lock:
                if not todo:
                    return
                b = todo.pop(0)
            anchor_request(port, path, b, res)
    r0 = resource.getrusage(resource.RUSAGE_SELF)
    ts = [threading.Thread(target=worker) for _ in range(concurrency)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    return (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime), res


# ---- suites ------------------------------------------------------------------------------

def write_prompts(path, n, chunks):
    with open(path, "w") as f:
        for i in range(n):
            f.write(json.dumps({"id": "p%d" % i, "prompt": "hello %d\n#fault n=%d" % (i, chunks)}) + "\n")


def stand_in_suite(path, prompts, port, concurrency):
    with open(path, "w") as f:
        json.dump({"name": "client-cost", "models": {},
                   "servers": {"s": {"api": "openai", "url": "http://127.0.0.1:%d" % port}},
                   "datasets": {"d": {"path": prompts}},
                   "engines": [{"engine": "serve", "server": "s", "params": {"concurrency": concurrency}}],
                   "max_new_tokens": 4096, "warmup": 0}, f)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--decobench", default=os.path.join(SRC, "decobench"))
    ap.add_argument("--llama-bin", default=os.path.join(SRC, ".deps", "llama", "bin"))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--requests", type=int, default=400)
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="decobench-serve-bench.")
    port = free_port()
    srv = subprocess.Popen([sys.executable, os.path.join(SRC, "tests", "serve", "sse_server.py"), "--port", str(port)],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    lsrv = None
    try:
        wait_health(port)
        n_lo, n_hi = a.requests // 4, a.requests
        rows = {}
        for r in range(a.rounds):
            # per request: n_hi vs n_lo requests of 4 chunks
            cpu = {}
            for n in (n_lo, n_hi):
                write_prompts(os.path.join(tmp, "p.jsonl"), n, 4)
                stand_in_suite(os.path.join(tmp, "s.json"), os.path.join(tmp, "p.jsonl"), port, 4)
                cpu[n] = run_decobench(a.decobench, os.path.join(tmp, "s.json"), os.path.join(tmp, "x.db"))
            rows.setdefault("decobench cpu ms / request", []).append((cpu[n_hi] - cpu[n_lo]) / (n_hi - n_lo) * 1e3)
            bodies = [{"prompt": "hello", "n": 4} for _ in range(n_hi)]
            c, _ = anchor_run(port, "/v1/completions", bodies, 4)
            rows.setdefault("anchor cpu ms / request", []).append(c / n_hi * 1e3)
            # per chunk: n_lo requests of 64 vs 4 chunks
            cpu = {}
            for ch in (4, 64):
                write_prompts(os.path.join(tmp, "p.jsonl"), n_lo, ch)
                stand_in_suite(os.path.join(tmp, "s.json"), os.path.join(tmp, "p.jsonl"), port, 4)
                cpu[ch] = run_decobench(a.decobench, os.path.join(tmp, "s.json"), os.path.join(tmp, "x.db"))
            rows.setdefault("decobench cpu us / chunk", []).append((cpu[64] - cpu[4]) / (n_lo * 60) * 1e6)
            c64, _ = anchor_run(port, "/v1/completions", [{"prompt": "x", "n": 64}] * n_lo, 4)
            c4, _ = anchor_run(port, "/v1/completions", [{"prompt": "x", "n": 4}] * n_lo, 4)
            rows.setdefault("anchor cpu us / chunk", []).append((c64 - c4) / (n_lo * 60) * 1e6)
        print("# client cost against tests/serve/sse_server.py (closed loop, concurrency 4); median of %d rounds"
              % a.rounds)
        for k, v in rows.items():
            print("%-28s %9.3f   (rounds: %s)" % (k, statistics.median(v), " ".join("%.3f" % x for x in v)))
        print("ratio decobench/anchor: per request %.3f, per chunk %.3f" % (
            statistics.median(rows["decobench cpu ms / request"]) / statistics.median(rows["anchor cpu ms / request"]),
            statistics.median(rows["decobench cpu us / chunk"]) / statistics.median(rows["anchor cpu us / chunk"])))

        # ---- 2. TTFT added by the client, llama-server ----
        ls = os.path.join(a.llama_bin, "llama-server")
        if not os.access(ls, os.X_OK):
            print("# llama-server not built: TTFT part skipped")
            return
        lport = free_port()
        model = os.path.join(SRC, "data", "models", "target.gguf")
        lsrv = subprocess.Popen([ls, "-m", model, "--host", "127.0.0.1", "--port", str(lport), "-c", "4096", "-np", "4",
                                 "--no-ui"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_health(lport)
        prompts = os.path.join(SRC, "data", "prompts", "prose.jsonl")
        texts = [json.loads(l)["prompt"] for l in open(prompts)][:32]
        print("\n# TTFT minus the server's prompt time (ms), llama-server, bundled target, 32 prose prompts,"
              " 32 new tokens; median of %d rounds" % a.rounds)
        print("%-12s %-10s %8s %8s" % ("client", "conc", "p50", "p90"))
        for conc in (1, 4):
            res = {"decobench": ([], []), "anchor": ([], [])}
            for r in range(a.rounds):
                suite = os.path.join(tmp, "l.json")
                with open(suite, "w") as f:
                    json.dump({"name": "ttft", "models": {}, "servers": {"l": {"api": "llama.cpp",
                               "url": "http://127.0.0.1:%d" % lport}},
                               "datasets": {"d": {"path": prompts, "limit": 32}},
                               "engines": [{"engine": "serve", "server": "l", "params": {"concurrency": conc}}],
                               "max_new_tokens": 32, "warmup": 1}, f)
                db = os.path.join(tmp, "l.db")
                run_decobench(a.decobench, suite, db)
                import sqlite3
                d = [v for (v,) in sqlite3.connect(db).execute(
                    "SELECT value FROM sample_metric WHERE name = 'ttft_minus_server_prompt_ms'")]
                res["decobench"][0].append(statistics.quantiles(d, n=10)[4])
                res["decobench"][1].append(statistics.quantiles(d, n=10)[8])
                bodies = [{"prompt": t, "n_predict": 32, "stream": True, "temperature": 0} for t in texts]
                _, out = anchor_run(lport, "/completion", bodies, conc)
                d = [t - p for (t, p, _) in out if t is not None and p is not None]
                res["anchor"][0].append(statistics.quantiles(d, n=10)[4])
                res["anchor"][1].append(statistics.quantiles(d, n=10)[8])
            for k in ("decobench", "anchor"):
                print("%-12s %-10d %8.2f %8.2f" % (k, conc, statistics.median(res[k][0]), statistics.median(res[k][1])))
            print("ratio decobench/anchor, concurrency %d: p50 %.2f, p90 %.2f" % (
                conc, statistics.median(res["decobench"][0]) / statistics.median(res["anchor"][0]),
                statistics.median(res["decobench"][1]) / statistics.median(res["anchor"][1])))
    finally:
        srv.kill()
        if lsrv:
            lsrv.kill()


if __name__ == "__main__":
    main()
