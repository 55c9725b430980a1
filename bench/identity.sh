#!/usr/bin/env bash
# identity.sh — greedy identity of every lossless engine with `ar` on prompts
# no test uses: lines of the held-out corpora (data/heldout: prose, KJV
# verses, Python source) that are not prompts in data/prompts/*.jsonl,
# cut to their first words.  Runs one suite with `ar` and the lossless
# engines through `decobench run` (which checks identity itself and stores
# it, harness/run/identity.c), prints `report`'s identical column, then per
# first difference the logit gap under ar against the noise bound
# (build/bench/identity_gap).
#
# Usage: bench/identity.sh [--per-file N] [--tokens N] [--threads N] [--keep DIR] [--only ENGINE] [--serve]
#   --per-file N   prompts per held-out file (default 100: 300 prompts)
#   --tokens N     max_new_tokens (default 96)
#   --only ENGINE  only that engine's configurations (beside ar), e.g. token-recycling
#   --serve        the serving engine instead: the same prompts sent to
#                  llama-server (the pinned llama.cpp's, on 127.0.0.1, 4
#                  slots, prompt cache off) one at a time and four at a time
# Needs build/decobench and build/bench/identity_gap (make), python3; with
# --serve llama-server (scripts/build-llama.sh).
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
per=100 tokens=96 threads=2 keep="" serve=0 only=""
while [ $# -gt 0 ]; do
  case "$1" in
    --per-file) per="$2"; shift 2 ;;
    --tokens) tokens="$2"; shift 2 ;;
    --threads) threads="$2"; shift 2 ;;
    --keep) keep="$2"; shift 2 ;;
    --serve) serve=1; shift ;;
    --only) only="$2"; shift 2 ;;
    -h|--help) sed -n '2,21p' "$0"; exit 0 ;;
    *) echo "identity.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
done
bin="${DB_BUILDDIR:-$here/build}"
[ -x "$bin/decobench" ] && [ -x "$bin/bench/identity_gap" ] || { echo "identity.sh: build first (make; $bin/decobench, $bin/bench/identity_gap)" >&2; exit 1; }
if [ -n "$keep" ]; then tmp="$keep"; mkdir -p "$tmp"; else tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT; fi

python3 - "$here" "$per" > "$tmp/heldout.jsonl" <<'EOF'
import json, sys, glob
root, per = sys.argv[1], int(sys.argv[2])
used = set()
for f in glob.glob(root + "/data/prompts/*.jsonl"):
    for line in open(f, encoding="utf-8"):
        try:
            p = json.loads(line).get("prompt")
        except ValueError:
            continue
        if isinstance(p, str):
            used.add(p.strip())
for name, words in (("prose", 12), ("scripture", 12), ("code", 0)):
    lines = [l.rstrip("\n") for l in open(f"{root}/data/heldout/{name}.txt", encoding="utf-8")]
    cand = []
    for l in lines:
        s = l.strip()
        if name == "code":
            if len(s) < 30 or s.startswith("#"):
                continue
            text = l.rstrip()
        else:
            w = s.split()
            if len(w) < words + 4:
                continue
            text = " ".join(w[:words])
        if s in used or any(u.startswith(text) for u in used if len(u) >= len(text)):
            continue
        cand.append(text)
    step = max(1, len(cand) // per)
    for i, t in enumerate(cand[::step][:per]):
        print(json.dumps({"id": f"{name}-heldout-{i:03d}", "category": name, "prompt": t}))
EOF
n=$(wc -l < "$tmp/heldout.jsonl")
m="$here/data/models"
engines='{ "engine": "spec", "label": "spec k=4", "draft": "draft", "params": { "k": 4 } },
    { "engine": "spec", "label": "spec ucb k=8", "draft": "draft", "params": { "k": 8, "adaptive": "ucb" } },
    { "engine": "spec", "label": "spec exp3 k=8", "draft": "draft", "params": { "k": 8, "adaptive": "exp3" } },
    { "engine": "spec", "label": "spec thompson k=8", "draft": "draft", "params": { "k": 8, "adaptive": "thompson" } },
    { "engine": "spec-tree", "label": "spec-tree k=4 b=3 p=0.1", "draft": "draft-distilled", "params": { "k": 4, "branches": 3, "p_split": 0.1 } },
    { "engine": "lookahead", "label": "lookahead W=7 N=4 G=7", "params": { "W": 7, "N": 4, "G": 7 } },
    { "engine": "lookahead", "label": "lookahead W=15 N=5 G=15", "params": { "W": 15, "N": 5, "G": 15 } },
    { "engine": "pld", "label": "pld", "params": { "k": 10 } },
    { "engine": "self-spec", "label": "self-spec", "params": { "k": 4, "layers": 2 } },
    { "engine": "token-recycling", "label": "token-recycling small" },
    { "engine": "token-recycling", "label": "token-recycling paper", "params": { "tree": "paper" } },
    { "engine": "opt-tree", "label": "opt-tree N=16", "draft": "draft-distilled", "params": { "nodes": 16 } },
    { "engine": "rsd", "label": "rsd depth=4 k=2", "draft": "draft-distilled", "params": { "depth": 4, "k": 2 } }'
if [ -n "$only" ]; then
  engines=$(grep -F "\"engine\": \"$only\"" <<< "$engines" | sed 's/^ *//; s/ *},\{0,1\} *$/ }/' | paste -sd, -)
  [ -n "$engines" ] || { echo "identity.sh: --only: no configuration of engine '$only'" >&2; exit 2; }
fi
servers=""
if [ "$serve" = 1 ]; then
  llama_bin="${DB_LLAMA_BINDIR:-$here/.deps/llama/bin}"
  [ -x "$llama_bin/llama-server" ] || { echo "identity.sh: --serve needs $llama_bin/llama-server (scripts/build-llama.sh)" >&2; exit 1; }
  engines='{ "engine": "serve", "label": "llama-server c=1", "server": "llama", "params": { "concurrency": 1, "cache_prompt": false } },
    { "engine": "serve", "label": "llama-server c=4", "server": "llama", "params": { "concurrency": 4, "cache_prompt": false } }'
  servers='"servers": { "llama": { "api": "llama.cpp", "model": "target",
    "command": ["{llama_bin}/llama-server", "-m", "{model:target}", "--host", "{host}", "--port", "{port}",
                "-c", "4096", "-np", "4", "-t", "'"$threads"'", "--no-ui"] } },'
fi
cat > "$tmp/identity.json" <<EOF
{
  "name": "identity",
  "description": "greedy identity of the lossless engines with ar on $n held-out prompts (bench/identity.sh)",
  "models": {
    "target": { "path": "$m/target.gguf", "n_ctx": 1024 },
    "draft": { "path": "$m/draft.gguf", "n_ctx": 1024 },
    "draft-distilled": { "path": "$m/draft-distilled.gguf", "n_ctx": 1024 }
  },
  "datasets": { "heldout": { "path": "$tmp/heldout.jsonl" } },
  $servers
  "engines": [
    { "engine": "ar", "label": "ar" },
    $engines
  ],
  "baseline": "ar",
  "max_new_tokens": $tokens,
  "repetitions": 1,
  "warmup": 0,
  "seeds": [1],
  "threads": $threads,
  "stop_at_eog": false
}
EOF
db="$tmp/identity.db"
rm -f "$db"
"$bin/decobench" run "$tmp/identity.json" --db "$db" >/dev/null
echo "identity.sh: $n held-out prompts, $tokens new tokens, greedy, threads $threads ($(date -u +%Y-%m-%d))"
"$bin/decobench" report --db "$db" --columns label,n,identical
run=$(sqlite3 "$db" 'SELECT MAX(id) FROM run' 2>/dev/null || echo 1)
"$bin/bench/identity_gap" --db "$db" --run "${run:-1}" --dataset "$tmp/heldout.jsonl" --model "$m/target.gguf" \
  --threads "$threads"
