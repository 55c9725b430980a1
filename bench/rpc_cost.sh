#!/usr/bin/env bash
# rpc_cost.sh — what the network hop of llama.cpp's RPC backend costs per
# token: the bundled target decoded locally and split over two rpc-server
# processes on 127.0.0.1, in the same decobench run (same prompts, greedy,
# interleaved cases), 3 rounds; prints the median tokens/s of each and the
# ratio RPC / local, and the per-token latency added.
#   bench/rpc_cost.sh [--rounds N] [--tokens N]
set -eu
src="$(cd "$(dirname "$0")/.." && pwd)"
bin="${DECOBENCH:-$src/decobench}"
llama_bin="${DB_LLAMA_BINDIR:-$src/.deps/llama/bin}"
rounds=3 tokens=64
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) rounds="$2"; shift 2 ;;
    --tokens) tokens="$2"; shift 2 ;;
    *) echo "rpc_cost.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
done
tmp="$(mktemp -d /tmp/decobench-rpcbench.XXXXXX)"
pids=""
trap 'for p in $pids; do kill "$p" 2>/dev/null; done; rm -rf "$tmp"' EXIT
ports=""
for i in 1 2; do
  p="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
  "$llama_bin/ggml-rpc-server" -H 127.0.0.1 -p "$p" -t 1 > /dev/null 2>&1 &
  pids="$pids $!"
  ports="$ports $p"
done
sleep 1
set -- $ports
head -n 16 "$src/data/prompts/prose.jsonl" > "$tmp/prose.jsonl"
cat > "$tmp/suite.json" <<JSON
{ "name": "rpc-cost",
  "models": { "target": { "path": "$src/data/models/target.gguf", "n_ctx": 512 },
              "target-rpc": { "path": "$src/data/models/target.gguf", "n_ctx": 512, "rpc": ["127.0.0.1:$1", "127.0.0.1:$2"] } },
  "datasets": { "prose": { "path": "$tmp/prose.jsonl" } },
  "engines": [ { "engine": "ar", "label": "local", "target": "target" },
               { "engine": "ar", "label": "rpc", "target": "target-rpc" } ],
  "max_new_tokens": $tokens, "warmup": 1, "threads": 1, "stop_at_eog": false }
JSON
for r in $(seq "$rounds"); do
  "$bin" run "$tmp/suite.json" --db "$tmp/r.db" --format none > /dev/null 2>&1
done
sqlite3 -batch -noheader "$tmp/r.db" "SELECT c.label, s.tokens_per_s, s.tpot_ms FROM sample s JOIN \"case\" c ON c.id = s.case_id" |
python3 -c "
import statistics, sys
v = {}
for l in sys.stdin:
    lab, tps, tpot = l.strip().split('|')
    v.setdefault(lab, ([], []))[0].append(float(tps)); v[lab][1].append(float(tpot))
loc, rpc = v['local'], v['rpc']
ml, mr = statistics.median(loc[0]), statistics.median(rpc[0])
print('# ar, bundled target, 16 prose prompts x $rounds rounds, $tokens tokens, 1 thread; medians over samples')
print('local  %8.1f tok/s   TPOT %6.3f ms' % (ml, statistics.median(loc[1])))
print('rpc x2 %8.1f tok/s   TPOT %6.3f ms' % (mr, statistics.median(rpc[1])))
print('ratio rpc/local %.3f; the hop adds %.3f ms per token' % (mr / ml, statistics.median(rpc[1]) - statistics.median(loc[1])))
"
