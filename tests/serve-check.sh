#!/usr/bin/env bash
# serve-check.sh — the serving benchmark (engine "serve", harness/run/serve.c)
# against real servers on 127.0.0.1 only, with bounded request counts:
#   llama-server (the pinned llama.cpp's, started by decobench from the
#   suite's "command") with the bundled target, and with the bundled draft:
#     - greedy outputs through the server equal decobench `ar`'s on the same
#       model and prompts, byte for byte (one request in flight)
#     - the harness's token counts equal the server's (prompt and output)
#     - with the draft, the server reports acceptance and its #MAT matches
#       the in-process `spec` engine's on the same prompts (within 10 %)
#     - concurrency 4 really keeps 4 requests in flight: 4 overlapping
#       requests client-side, 4 distinct slots busy at once in the server
#     - json_schema requests: every output passes decobench's validator
#     - the server is stopped at the end of the run (and on SIGTERM)
#   tests/serve/sse_server.py (a stand-in OpenAI/llama.cpp server with
#   planted faults, started by decobench too):
#     - an open-loop Poisson rate is met (inter-arrival mean and CV)
#     - faults — HTTP 500 and 429, malformed SSE, a stream cut mid-way, an
#       error event, a request past its timeout, connection refused, the
#       server killed mid-stream, a server that never becomes ready — each
#       becomes a failed request (or a failed case) with its reason while
#       the run goes on, and nothing is lost
#     - the serving report (md, csv, json) counts them
# Skips the llama-server part when llama-server is not built (scripts/
# build-llama.sh builds it).  Ends with "N passed, N failed[, N skipped]".
set -u
src="${DB_SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}"
build="$(cd "${DB_BUILDDIR:-$src}" && pwd)"
src="$(cd "$src" && pwd)"
bin="$build/decobench"
. "$src/tests/lib.sh"
llama_bin="${DB_LLAMA_BINDIR:-$src/.deps/llama/bin}"

if ! command -v python3 >/dev/null || ! command -v sqlite3 >/dev/null; then
  skip "serve-check" "python3 and sqlite3 are needed (scripts/setup.sh installs them)"
  finish
fi
tmp="$(mktemp -d /tmp/decobench-serve.XXXXXX)"
cleanup() {
  # no server may outlive the test: every pid the logs name
  for f in "$tmp"/*.db.serve-logs/*.log; do
    [ -f "$f" ] || continue
    for p in $(grep -o 'pid [0-9]*' "$f" | cut -d' ' -f2); do kill -9 "$p" 2>/dev/null; done
  done
  rm -rf "$tmp"
}
trap cleanup EXIT
export no_proxy="127.0.0.1" NO_PROXY="127.0.0.1"
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY ALL_PROXY all_proxy
models="$src/data/models"

# ---- data: prose and code prompts, and small JSON Schemas -------------------------------
head -n 8 "$src/data/prompts/prose.jsonl" > "$tmp/prose.jsonl"
head -n 8 "$src/data/prompts/code.jsonl" > "$tmp/code.jsonl"
python3 - "$tmp/schemas.jsonl" <<'PY'
import json, sys
schemas = [
    {"type": "string", "enum": ["red", "green", "blue"]},
    {"type": "boolean"},
    {"type": "object", "properties": {"color": {"enum": ["red", "green"]}, "ok": {"type": "boolean"}},
     "required": ["color", "ok"], "additionalProperties": False},
    {"type": "array", "items": {"enum": [1, 2, 3]}, "minItems": 1, "maxItems": 3},
    {"type": "integer", "minimum": 0, "maximum": 9},
    {"const": "fixed"},
]
with open(sys.argv[1], "w") as f:
    for i, s in enumerate(schemas):
        f.write(json.dumps({"id": "s%d" % i, "prompt": "A JSON value:\n", "constraint": {"json_schema": s}}) + "\n")
PY

# ==== 1. llama-server ====================================================================
if [ ! -x "$llama_bin/llama-server" ]; then
  skip "llama-server checks" "$llama_bin/llama-server is not built (scripts/build-llama.sh builds it)"
else
  server_cmd() {  # server_cmd EXTRA... : the JSON command array
    local extra=""
    for a in "$@"; do extra="$extra, \"$a\""; done
    printf '["%s/llama-server", "-m", "{model:target}", "--host", "{host}", "--port", "{port}", "-c", "4096", "-np", "4", "-t", "2", "--no-ui"%s]' \
      "$llama_bin" "$extra"
  }
  cat > "$tmp/llama.json" <<EOF
{
  "name": "serve-llama",
  "models": {
    "target": { "path": "$models/target.gguf", "n_ctx": 1024 },
    "draft": { "path": "$models/draft.gguf", "n_ctx": 1024 }
  },
  "servers": {
    "llama": { "api": "llama.cpp", "model": "target", "command": $(server_cmd), "ready_timeout_s": 120 },
    "llama-draft": { "api": "llama.cpp", "model": "target",
                     "command": $(server_cmd -md "{model:draft}" --spec-type draft-simple --spec-draft-n-max 4 --spec-draft-n-min 0 --spec-draft-p-min 0),
                     "ready_timeout_s": 120 }
  },
  "datasets": {
    "prose": { "path": "$tmp/prose.jsonl" },
    "code": { "path": "$tmp/code.jsonl" },
    "schemas": { "path": "$tmp/schemas.jsonl" }
  },
  "engines": [
    { "engine": "ar", "label": "ar", "datasets": ["prose", "code"] },
    { "engine": "spec", "label": "spec", "draft": "draft", "params": { "k": 4 }, "datasets": ["prose", "code"] },
    { "engine": "serve", "label": "server", "server": "llama", "grid": { "concurrency": [1, 4] },
      "params": { "cache_prompt": false }, "datasets": ["prose", "code"] },
    { "engine": "serve", "label": "server+draft", "server": "llama-draft", "params": { "cache_prompt": false },
      "datasets": ["prose", "code"] },
    { "engine": "serve", "label": "server json", "server": "llama", "datasets": ["schemas"] }
  ],
  "slo": { "ttft_ms": 60000, "tpot_ms": 60000 },
  "max_new_tokens": 48,
  "warmup": 0,
  "seeds": [1]
}
EOF
  db="$tmp/llama.db"
  before="$(pgrep -x llama-server | sort)"
  "$bin" run "$tmp/llama.json" --db "$db" > "$tmp/llama.out" 2> "$tmp/llama.err"
  rc=$?
  status="$(q "$db" "SELECT status FROM run" 2>/dev/null)"
  if [ "$rc" = 0 ] && [ "$status" = completed ]; then ok "a suite with llama-server cases runs to completion"
  else fail "llama-server run" "rc=$rc status=$status" "$(tail -5 "$tmp/llama.err")"; fi

  case_id() { q "$db" "SELECT id FROM \"case\" WHERE label = '$1' AND dataset = '$2'"; }
  # greedy identity, byte for byte, one request in flight
  same=0 total=0 diffs=""
  for ds in prose code; do
    a="$(case_id ar $ds)" s="$(case_id 'server concurrency=1' $ds)"
    while IFS='|' read -r pi same_text; do
      total=$((total + 1))
      if [ "$same_text" = 1 ]; then same=$((same + 1)); else diffs="$diffs $ds:$pi"; fi
    done < <(q "$db" "SELECT a.prompt_idx, a.output_text = s.output_text FROM sample a JOIN sample s
                      ON s.prompt_idx = a.prompt_idx AND s.rep = a.rep WHERE a.case_id = $a AND s.case_id = $s")
  done
  if [ "$total" = 16 ] && [ "$same" = 16 ]; then ok "greedy outputs through llama-server equal ar's byte for byte (16 of 16 prompts)"
  else fail "greedy identity through the server" "$same of $total identical; differ:$diffs"; fi
  # the draft server is lossless too
  same_d="$(q "$db" "SELECT SUM(a.output_text = s.output_text), COUNT(*) FROM sample a JOIN sample s
                     ON s.prompt_idx = a.prompt_idx AND s.rep = a.rep JOIN \"case\" ca ON ca.id = a.case_id
                     JOIN \"case\" cs ON cs.id = s.case_id AND cs.dataset = ca.dataset
                     WHERE ca.label = 'ar' AND cs.label = 'server+draft'")"
  if [ "$same_d" = "16|16" ]; then ok "llama-server with the draft: greedy outputs equal ar's (16 of 16)"
  else fail "draft server identity" "identical|compared = $same_d"; fi
  # decobench's own identity check agrees (stored per case)
  idn="$(q "$db" "SELECT SUM(n_identical), SUM(n_compared) FROM identity i JOIN \"case\" c ON c.id = i.case_id
                  WHERE c.label IN ('server concurrency=1', 'server+draft')")"
  if [ "$idn" = "32|32" ]; then ok "the run's own identity check: the serving cases are identical to ar (32 of 32)"
  else fail "identity table" "$idn"; fi

  # token counts: the harness's own equal the server's
  bad="$(q "$db" "SELECT COUNT(*) FROM sample s JOIN \"case\" c ON c.id = s.case_id
                  LEFT JOIN sample_metric p ON p.sample_id = s.id AND p.name = 'server_prompt_tokens'
                  LEFT JOIN sample_metric o ON o.sample_id = s.id AND o.name = 'server_completion_tokens'
                  WHERE c.engine = 'serve' AND (p.value IS NOT s.n_prompt_tokens OR o.value IS NOT s.new_tokens)")"
  nserve="$(q "$db" "SELECT COUNT(*) FROM sample s JOIN \"case\" c ON c.id = s.case_id WHERE c.engine = 'serve'")"
  if [ "$bad" = 0 ] && [ "$nserve" = 54 ]; then ok "token counts: the harness's equal the server's in all $nserve requests (prompt and output)"
  else fail "token counts" "$bad of $nserve differ" \
      "$(q "$db" "SELECT s.n_prompt_tokens, s.new_tokens, (SELECT group_concat(name || '=' || value) FROM sample_metric
                  WHERE sample_id = s.id AND name LIKE 'server_%tokens') FROM sample s JOIN \"case\" c ON c.id = s.case_id
                  WHERE c.engine = 'serve' LIMIT 3")"; fi

  # acceptance: the server's #MAT against the in-process spec engine's on the same prompts
  read -r mat_srv mat_spec drafted < <(q "$db" "SELECT
      (SELECT SUM(s.new_tokens - 1) * 1.0 / SUM(s.n_commits) FROM sample s JOIN \"case\" c ON c.id = s.case_id
        WHERE c.label = 'server+draft'),
      (SELECT AVG(s.mat) FROM sample s JOIN \"case\" c ON c.id = s.case_id WHERE c.label = 'spec'),
      (SELECT SUM(s.drafted) FROM sample s JOIN \"case\" c ON c.id = s.case_id WHERE c.label = 'server+draft')" | tr '|' ' ')
  if python3 -c "import sys; a, b, d = map(float, sys.argv[1:4]); sys.exit(0 if d > 0 and abs(a - b) <= 0.10 * b else 1)" \
       "${mat_srv:-0}" "${mat_spec:-1}" "${drafted:-0}"; then
    ok "llama-server with the draft reports acceptance ($drafted drafted): #MAT $mat_srv vs in-process spec $mat_spec (within 10 %)"
  else fail "server #MAT" "server $mat_srv, spec $mat_spec, drafted $drafted"; fi

  # concurrency 4: four requests overlap (client) and four slots are busy (server log)
  c4="$(case_id 'server concurrency=4' prose)"
  overlap="$(q "$db" "SELECT a.value, b.value FROM sample s JOIN sample_metric a ON a.sample_id = s.id AND a.name = 't_sent_s'
                      JOIN sample_metric b ON b.sample_id = s.id AND b.name = 't_done_s' WHERE s.case_id = $c4" |
             python3 -c "import sys
ev = []
for l in sys.stdin:
    a, b = map(float, l.split('|')); ev += [(a, 1), (b, -1)]
cur = best = 0
for t, d in sorted(ev, key=lambda e: (e[0], e[1])):
    cur += d; best = max(best, cur)
print(best)")"
  log="$(ls "$db".serve-logs/*-llama.log 2>/dev/null | head -1)"
  slots="$(grep -o 'slot [a-z_]*: id  *[0-9]*' "$log" 2>/dev/null | grep -o '[0-9]*$' | sort -u | tr '\n' ' ')"
  if [ "$overlap" = 4 ] && [ "$(echo $slots | wc -w)" -ge 4 ]; then
    ok "concurrency 4: 4 requests in flight at once (client side), slots $slots used by the server"
  else fail "concurrency 4" "max overlap $overlap, slots '$slots'" "$(grep -m3 slot "$log" 2>/dev/null)"; fi

  # json_schema requests: decobench's validator accepts every output
  js="$(q "$db" "SELECT COUNT(*), SUM(m.value) FROM sample s JOIN \"case\" c ON c.id = s.case_id
                 JOIN sample_metric m ON m.sample_id = s.id AND m.name = 'schema_valid' WHERE c.label = 'server json'")"
  if [ "$js" = "6|6.0" ] || [ "$js" = "6|6" ]; then ok "json_schema requests: all 6 outputs valid under decobench's validator (schema_valid)"
  else fail "json_schema through the server" "count|valid = $js" \
      "$(q "$db" "SELECT output_text FROM sample s JOIN \"case\" c ON c.id = s.case_id WHERE c.label = 'server json'")"; fi

  # the serving report
  "$bin" report --db "$db" --serving > "$tmp/report.md" 2> "$tmp/report.err"
  if grep -q "^| server concurrency=4 | prose | 8 | 0 |" "$tmp/report.md" &&
     grep -q "^| server+draft | code | 8 | 0 |" "$tmp/report.md"; then ok "report --serving: one row per serving case, 0 failed"
  else fail "report --serving" "$(cat "$tmp/report.md" "$tmp/report.err" | head -12)"; fi

  # the HTML report: latency–throughput curves, one line per sweep
  "$bin" report --db "$db" --format html -o "$tmp/report.html" 2> "$tmp/html.err"
  if python3 - "$tmp/report.html" <<'PY'
import re, sys
h = open(sys.argv[1], encoding="utf-8").read()
ok = True
for cid in ("chart-serving-e2e", "chart-serving-ttft"):
    m = re.search(r'<svg id="%s".*?</svg>' % cid, h, re.S)
    ok = ok and m is not None
    if m:
        svg = m.group(0)
        # the three sweeps by name, the concurrency sweep a line of 2 points
        ok = ok and all(n in svg for n in ("server \u00b7 prose", "server+draft \u00b7 code", "server json \u00b7 schemas"))
sys.exit(0 if ok else 1)
PY
  then ok "report --format html: E2E and TTFT against throughput, one line per sweep of serving cases"
  else fail "HTML serving charts" "$(grep -o 'chart-serving[a-z0-9-]*' "$tmp/report.html" | sort -u | tr '\n' ' ')" "$(cat "$tmp/html.err")"; fi

  # every server stopped at the end: no llama-server that was not there before
  left="$(comm -13 <(echo "$before") <(pgrep -x llama-server | sort) | tr '\n' ' ')"
  starts="$(cat "$db".serve-logs/*.log 2>/dev/null | grep -c "listening on http://127.0.0.1:")"
  if [ -z "${left// /}" ] && [ "$starts" = 2 ]; then ok "both llama-servers were started once and none is left running after the run"
  else fail "servers left running" "new llama-server pids: $left; starts $starts"; fi
fi

# ==== 2. a stand-in server with planted faults ===========================================
sse="$src/tests/serve/sse_server.py"
mk_prompts() {  # FILE DIRECTIVE... : one prompt per directive (sse_server.py reads "#fault ..." lines)
  local f="$1"; shift
  local i=0
  : > "$f"
  for d in "$@"; do
    printf '{"id": "p%d", "prompt": "hello %d\\n#fault %s"}\n' "$i" "$i" "$d" >> "$f"
    i=$((i + 1))
  done
}
mk_prompts "$tmp/faults.jsonl" "mode=ok" "mode=http500" "mode=http429" "mode=malformed" "mode=cut k=2" \
  "mode=error_event" "mode=slow sleep_s=4" "mode=ok n=7"
mk_prompts "$tmp/ok.jsonl" "mode=ok" "mode=ok n=3" "mode=ok n=9"
cat > "$tmp/faults.json" <<EOF
{
  "name": "serve-faults",
  "models": {},
  "servers": {
    "fake": { "api": "openai", "command": ["python3", "$sse", "--port", "{port}"], "ready_timeout_s": 30 },
    "refused": { "api": "openai", "url": "http://127.0.0.1:PORT_REFUSED" },
    "never": { "api": "openai", "command": ["python3", "$sse", "--port", "{port}", "--not-ready"], "ready_timeout_s": 2 }
  },
  "datasets": {
    "faults": { "path": "$tmp/faults.jsonl" },
    "ok": { "path": "$tmp/ok.jsonl" }
  },
  "engines": [
    { "engine": "serve", "label": "faults", "server": "fake", "datasets": ["faults"],
      "params": { "concurrency": 8, "timeout_s": 2 } },
    { "engine": "serve", "label": "refused", "server": "refused", "datasets": ["ok"] },
    { "engine": "serve", "label": "never ready", "server": "never", "datasets": ["ok"] },
    { "engine": "serve", "label": "after", "server": "fake", "datasets": ["ok"], "params": { "concurrency": 2 } },
    { "engine": "serve", "label": "open", "server": "fake", "datasets": ["ok"],
      "params": { "load": "open", "rate": 40, "requests": 200, "concurrency": 64 } }
  ],
  "max_new_tokens": 16,
  "warmup": 0
}
EOF
refused_port="$(free_port)"
sed -i "s/PORT_REFUSED/$refused_port/" "$tmp/faults.json"
db="$tmp/faults.db"
"$bin" run "$tmp/faults.json" --db "$db" > "$tmp/faults.out" 2> "$tmp/faults.err"
rc=$?
reason() { q "$db" "SELECT s.stop_reason FROM sample s JOIN \"case\" c ON c.id = s.case_id WHERE c.label = '$1' AND s.prompt_idx = $2"; }
st="$(q "$db" "SELECT status FROM run")"
if [ "$st" = failed ] && grep -q "never ready.*not ready after 2 s" "$tmp/faults.err"; then
  ok "a server that never becomes ready fails its case with the reason; the run goes on (status failed, exit $rc)"
else fail "never ready" "rc=$rc status=$st" "$(cat "$tmp/faults.err" | head -5)"; fi
n_after="$(q "$db" "SELECT COUNT(*) FROM sample s JOIN \"case\" c ON c.id = s.case_id WHERE c.label = 'after' AND s.stop_reason NOT LIKE 'error:%'")"
[ "$n_after" = 3 ] && ok "the cases after the faults run normally (3 of 3 requests succeed)" || fail "cases after faults" "$n_after of 3"
checks=(
  "0|^length$|ok"
  "1|^error: HTTP 500|HTTP 500"
  "2|^error: HTTP 429|HTTP 429"
  "3|^error: malformed event|malformed SSE"
  "4|^error: stream ended before the end event|a stream cut mid-way"
  "5|^error: .*error|an error event"
  "6|^error: timed out after 2 s|a request past its 2 s timeout"
  "7|^length$|ok"
)
for c in "${checks[@]}"; do
  IFS='|' read -r pi pat what <<< "$c"
  r="$(reason faults "$pi")"
  if echo "$r" | grep -Eq "$pat"; then ok "fault '$what': stored with its reason ($r)"
  else fail "fault '$what'" "stop_reason: $r"; fi
done
r="$(reason refused 0)"
n_ref="$(q "$db" "SELECT COUNT(*) FROM sample s JOIN \"case\" c ON c.id = s.case_id WHERE c.label = 'refused' AND s.stop_reason LIKE 'error:%onnect%'")"
[ "$n_ref" = 3 ] && ok "connection refused: 3 failed requests with the reason ($r)" || fail "connection refused" "$n_ref of 3: $r"
# the token of a bearer never leaks; texts of successful requests are exact
t0="$(q "$db" "SELECT output_text FROM sample s JOIN \"case\" c ON c.id = s.case_id WHERE c.label = 'faults' AND s.prompt_idx = 7")"
[ "$t0" = "c0 c1 c2 c3 c4 c5 c6 " ] && ok "a streamed text is stored exactly (7 chunks)" || fail "streamed text" "'$t0'"

# open loop: 200 Poisson arrivals at 40/s
python3 - "$db" > "$tmp/open.txt" <<'PY'
import sqlite3, statistics, sys
db = sqlite3.connect(sys.argv[1])
t = sorted(v for (v,) in db.execute("""SELECT m.value FROM sample s JOIN "case" c ON c.id = s.case_id
    JOIN sample_metric m ON m.sample_id = s.id AND m.name = 't_sent_s' WHERE c.label = 'open'"""))
g = [b - a for a, b in zip(t, t[1:])]
mean = statistics.mean(g); cv = statistics.pstdev(g) / mean
print(len(t), "%.4f" % mean, "%.3f" % cv)
# 199 exponential gaps: mean 0.025 s within ±25 % (about 3.5 standard errors), CV 1 within ±0.3
sys.exit(0 if len(t) == 200 and abs(mean - 0.025) <= 0.00625 and abs(cv - 1) <= 0.3 else 1)
PY
if [ $? = 0 ]; then ok "open loop at 40 req/s: 200 arrivals, gap mean and CV of a Poisson process ($(cat "$tmp/open.txt"))"
else fail "open loop rate" "$(cat "$tmp/open.txt")"; fi

# the serving report counts the failures
"$bin" report --db "$db" --serving --format json > "$tmp/faults.json.out" 2>&1
if python3 -c "import json, sys
r = {x['case']: x for x in json.load(open(sys.argv[1]))['serving']}
f = r['faults']
sys.exit(0 if f['requests'] == 8 and f['failed'] == 6 and r['refused']['failed'] == 3 and r['open']['requests'] == 200 else 1)" \
  "$tmp/faults.json.out"; then ok "report --serving --format json: 8 requests, 6 failed; refused 3 of 3; open 200"
else fail "serving report of the faults" "$(head -c 600 "$tmp/faults.json.out")"; fi

# ---- the server killed mid-stream, and SIGTERM to decobench --------------------------------
mk_prompts "$tmp/die.jsonl" "mode=ok" "mode=die k=2" "mode=ok delay_ms=50" "mode=ok"
cat > "$tmp/die.json" <<EOF
{
  "name": "serve-die",
  "models": {},
  "servers": { "fake": { "api": "openai", "command": ["python3", "$sse", "--port", "{port}"], "ready_timeout_s": 30 } },
  "datasets": { "die": { "path": "$tmp/die.jsonl" }, "ok": { "path": "$tmp/ok.jsonl" } },
  "engines": [
    { "engine": "serve", "label": "die", "server": "fake", "datasets": ["die"] },
    { "engine": "serve", "label": "restarted", "server": "fake", "datasets": ["ok"] }
  ],
  "max_new_tokens": 16, "warmup": 0
}
EOF
db="$tmp/die.db"
"$bin" run "$tmp/die.json" --db "$db" > /dev/null 2> "$tmp/die.err"
r1="$(q "$db" "SELECT stop_reason FROM sample s JOIN \"case\" c ON c.id = s.case_id WHERE c.label = 'die' AND prompt_idx = 1")"
n_die="$(q "$db" "SELECT COUNT(*) FROM sample s JOIN \"case\" c ON c.id = s.case_id WHERE c.label = 'die'")"
n_rs="$(q "$db" "SELECT COUNT(*) FROM sample s JOIN \"case\" c ON c.id = s.case_id WHERE c.label = 'restarted' AND stop_reason = 'length'")"
starts="$(grep -c "listening" "$db".serve-logs/*-fake.log 2>/dev/null)"
if echo "$r1" | grep -q "^error: " && [ "$n_die" = 4 ] && [ "$n_rs" = 3 ] && [ "${starts:-0}" -ge 2 ]; then
  ok "server killed mid-stream: that request failed ($r1), all 4 stored; the next case started it again ($starts starts)"
else fail "server killed mid-stream" "reason '$r1', $n_die stored, restarted ok $n_rs, starts $starts" "$(head -3 "$tmp/die.err")"; fi

mk_prompts "$tmp/slow.jsonl" "mode=ok" "mode=slow sleep_s=30" "mode=slow sleep_s=30" "mode=slow sleep_s=30"
sed -e "s|$tmp/die.jsonl|$tmp/slow.jsonl|" -e 's/"serve-die"/"serve-term"/' "$tmp/die.json" > "$tmp/term.json"
db="$tmp/term.db"
"$bin" run "$tmp/term.json" --db "$db" > /dev/null 2> "$tmp/term.err" &
dpid=$!
for _ in $(seq 100); do
  [ "$(q "$db" "SELECT COUNT(*) FROM sample" 2>/dev/null)" = 1 ] && break
  sleep 0.1
done
spid="$(grep -ho 'pid [0-9]*' "$db".serve-logs/*.log 2>/dev/null | head -1 | cut -d' ' -f2)"
kill -TERM "$dpid"
wait "$dpid"
trc=$?
st="$(q "$db" "SELECT status FROM run")"
n="$(q "$db" "SELECT COUNT(*) FROM sample")"
sleep 0.5
if [ "$st" = interrupted ] && [ "$n" = 1 ] && [ -n "$spid" ] && ! kill -0 "$spid" 2>/dev/null; then
  ok "SIGTERM during a serving run: run interrupted (exit $trc), the finished request kept, the server (pid $spid) stopped"
else fail "SIGTERM" "status $st, $n samples, exit $trc, server pid '$spid' $(kill -0 "$spid" 2>/dev/null && echo alive)"; fi

finish
