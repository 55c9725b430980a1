#!/usr/bin/env bash
# rpc-check.sh — a model across machines with llama.cpp's RPC backend, on
# the loopback interface: two rpc-server processes on 127.0.0.1 (the pinned
# llama.cpp's, scripts/build-llama.sh builds them with GGML_RPC), a suite
# whose model names them ("rpc": ["127.0.0.1:P1", "127.0.0.1:P2"]), and the
# same model local in the same run.  Checks: greedy outputs of the RPC-split
# model identical to the local model's, token for token, on every prompt;
# the case records the servers and the layers placed on them; the servers
# really served (their logs); an unreachable server fails the case with one
# line.  The servers are stopped at the end.  Skips without rpc-server or a
# decobench built against an RPC-enabled llama.cpp.
# Ends with "N passed, N failed[, N skipped]".
set -u
src="${DB_SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}"
build="$(cd "${DB_BUILDDIR:-$src}" && pwd)"
src="$(cd "$src" && pwd)"
bin="$build/decobench"
. "$src/tests/lib.sh"
llama_bin="${DB_LLAMA_BINDIR:-$src/.deps/llama/bin}"
if [ ! -x "$llama_bin/ggml-rpc-server" ]; then
  skip "rpc-check" "$llama_bin/ggml-rpc-server is not built (scripts/build-llama.sh builds it)"
  finish
fi
tmp="$(mktemp -d /tmp/decobench-rpc.XXXXXX)"
pids=""
cleanup() { for p in $pids; do kill "$p" 2>/dev/null; done; wait 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
ports=""
for i in 1 2; do
  p="$(free_port)"
  "$llama_bin/ggml-rpc-server" -H 127.0.0.1 -p "$p" -t 1 > "$tmp/rpc$i.log" 2>&1 &
  pids="$pids $!"
  ports="$ports $p"
done
for p in $ports; do wait_port "$p"; done
set -- $ports
p1="$1" p2="$2"
head -n 8 "$src/data/prompts/prose.jsonl" > "$tmp/prose.jsonl"
cat > "$tmp/suite.json" <<JSON
{
  "name": "rpc",
  "models": {
    "target": { "path": "$src/data/models/target.gguf", "n_ctx": 512 },
    "target-rpc": { "path": "$src/data/models/target.gguf", "n_ctx": 512, "rpc": ["127.0.0.1:$p1", "127.0.0.1:$p2"] }
  },
  "datasets": { "prose": { "path": "$tmp/prose.jsonl" } },
  "engines": [
    { "engine": "ar", "label": "local", "target": "target" },
    { "engine": "ar", "label": "rpc", "target": "target-rpc" }
  ],
  "max_new_tokens": 32, "warmup": 0, "threads": 1
}
JSON
"$bin" run "$tmp/suite.json" --db "$tmp/rpc.db" --format none > "$tmp/run.out" 2> "$tmp/run.err"
rc=$?
if [ "$rc" = 0 ] && [ "$(q "$tmp/rpc.db" "SELECT status FROM run")" = completed ]; then ok "a suite with a model on two RPC servers runs"
else
  if grep -q "built without ggml's RPC backend" "$tmp/run.err"; then
    skip "rpc-check" "this decobench links a llama.cpp without GGML_RPC (scripts/build-llama.sh, then configure again)"
    finish
  fi
  fail "the RPC run" "rc=$rc" "$(tail -3 "$tmp/run.err")"
fi
same="$(q "$tmp/rpc.db" "SELECT SUM(a.output_tokens_json = b.output_tokens_json), COUNT(*) FROM sample a
                         JOIN \"case\" ca ON ca.id = a.case_id JOIN sample b ON b.prompt_idx = a.prompt_idx
                         JOIN \"case\" cb ON cb.id = b.case_id WHERE ca.label = 'local' AND cb.label = 'rpc'")"
[ "$same" = "8|8" ] && ok "greedy outputs of the RPC-split model equal the local model's, token for token (8 of 8)" ||
  fail "RPC identity" "identical|compared = $same"
desc="$(q "$tmp/rpc.db" "SELECT model_desc FROM \"case\" WHERE label = 'rpc'")"
case "$desc" in
  *"rpc 127.0.0.1:$p1,127.0.0.1:$p2 ("*" layers)") ok "the case records the servers and the layers on them ($desc)" ;;
  *) fail "RPC placement recorded" "model_desc: $desc" ;;
esac
served=0
for i in 1 2; do grep -qi "accepted client connection\|client connected" "$tmp/rpc$i.log" && served=$((served + 1)); done
[ "$served" = 2 ] && ok "both rpc-servers served the run (their logs)" || fail "servers used" "$served of 2" "$(head -5 "$tmp/rpc1.log")"

# an unreachable server: the case fails with one line, the run goes on
dead="$(free_port)"
sed "s/\"rpc\": \[[^]]*\]/\"rpc\": [\"127.0.0.1:$dead\"]/" "$tmp/suite.json" > "$tmp/dead.json"
"$bin" run "$tmp/dead.json" --db "$tmp/dead.db" --format none > /dev/null 2> "$tmp/dead.err"
drc=$?
if [ "$drc" != 0 ] && [ "$(grep -c "target-rpc" "$tmp/dead.err")" -ge 1 ]; then ok "an unreachable RPC server: one error naming the model (exit $drc)"
else fail "unreachable RPC server" "rc=$drc" "$(cat "$tmp/dead.err")"; fi
finish
