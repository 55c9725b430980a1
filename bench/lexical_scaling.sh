#!/usr/bin/env bash
# lexical_scaling.sh — cost of lexically constrained decoding as the number
# of constraints grows: Grid Beam Search against Dynamic Beam Allocation
# (the `lexical` engine, algo=gbs|dba) with 1..8 keywords per prompt on the
# bundled target model.  Keyword sets: the content words of consecutive
# Brown keyword sets (data/constraints/brown_keywords.jsonl), first n
# distinct.  Prints a Markdown table per n and algorithm: median wall time
# per sample, model forwards per output token, rows (tokens) evaluated per
# forward, and the share of outputs containing every keyword (keywords_all).
# GBS keeps beam·(C+1) hypotheses for C constraint tokens, so its rows per
# forward grow with n; DBA keeps `beam` whatever n is.
# Usage: bench/lexical_scaling.sh [--prompts 4] [--n 24] [--beam 4] [--max 8] [--threads 2]
set -euo pipefail
cd "$(dirname "$0")/.."
root="$(pwd)"
n_prompts=4 n_new=24 beam=4 max_kw=8 threads=2
while [ $# -gt 0 ]; do
  case "$1" in
    --prompts) n_prompts="$2"; shift 2 ;;
    --n) n_new="$2"; shift 2 ;;
    --beam) beam="$2"; shift 2 ;;
    --max) max_kw="$2"; shift 2 ;;
    --threads) threads="$2"; shift 2 ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    *) echo "lexical_scaling.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
done
bin="$root/decobench"; [ -x "$bin" ] || bin="$root/build/decobench"; [ -x "$bin" ] || bin="$root/build-dev/decobench"
for f in "$root/data/models/target.gguf" "$root/data/constraints/brown_keywords.jsonl" "$bin"; do
  [ -e "$f" ] || { echo "lexical_scaling.sh: $f: not found" >&2; exit 1; }
done
command -v python3 >/dev/null || { echo "lexical_scaling.sh: python3 not found" >&2; exit 1; }
tmp="$(mktemp -d /tmp/decobench-lexical.XXXXXX)"
trap 'rm -rf "$tmp"' EXIT

python3 - "$root" "$tmp" "$n_prompts" "$max_kw" "$beam" "$n_new" "$threads" <<'PY'
import json, sys
root, tmp, n_prompts, max_kw, beam, n_new, threads = sys.argv[1], sys.argv[2], *map(int, sys.argv[3:])
sets = [json.loads(l)["concepts"] for l in open(root + "/data/constraints/brown_keywords.jsonl")]
datasets = {}
for n in range(1, max_kw + 1):
    with open("%s/kw%d.jsonl" % (tmp, n), "w") as f:
        for p in range(n_prompts):
            words, i = [], p * 3
            while len(words) < n:
                for w in sets[i % len(sets)]:
                    if w not in words and len(words) < n:
                        words.append(w)
                i += 1
            f.write(json.dumps({"id": "n%d-%d" % (n, p), "prompt": "Write a sentence that uses the words: %s.\n" % ", ".join(words),
                                "constraint": {"keywords": words}}) + "\n")
    datasets["kw%d" % n] = {"path": "%s/kw%d.jsonl" % (tmp, n)}
suite = {"name": "lexical-scaling", "models": {"target": {"path": root + "/data/models/target.gguf", "n_ctx": 8192}},
         "datasets": datasets,
         "engines": [{"engine": "lexical", "label": "gbs", "params": {"algo": "gbs", "beam": beam, "max_constraint_tokens": 48}},
                     {"engine": "lexical", "label": "dba", "params": {"algo": "dba", "beam": beam}}],
         "max_new_tokens": n_new, "repetitions": 1, "warmup": 0, "seeds": [1], "threads": threads, "stop_at_eog": True}
json.dump(suite, open(tmp + "/suite.json", "w"))
PY

"$bin" run "$tmp/suite.json" --db "$tmp/r.db" >/dev/null 2>"$tmp/run.log" || { cat "$tmp/run.log" >&2; exit 1; }

python3 - "$tmp/r.db" <<'PY'
import sqlite3, statistics, sys
db = sqlite3.connect(sys.argv[1])
rows = db.execute("""SELECT c.label, c.dataset, s.latency_ms, s.target_forwards, s.new_tokens, s.target_tokens_evaluated,
                            (SELECT value FROM sample_metric m WHERE m.sample_id = s.id AND m.name = 'keywords_all')
                     FROM sample s JOIN "case" c ON c.id = s.case_id""").fetchall()
by = {}
for label, ds, lat, fwd, new, ev, ok in rows:
    by.setdefault((int(ds[2:]), label), []).append((lat, fwd, new, ev, ok or 0))
print("| keywords | algo | samples | median time / sample (ms) | forwards / output token | tokens evaluated / forward | all keywords present |")
print("|---:|---|---:|---:|---:|---:|---:|")
for (n, label) in sorted(by, key=lambda k: (k[0], k[1] != "gbs")):
    v = by[(n, label)]
    fpt = sum(x[1] for x in v) / max(1, sum(x[2] for x in v))
    epf = sum(x[3] for x in v) / max(1, sum(x[1] for x in v))
    print("| %d | %s | %d | %.0f | %.2f | %.1f | %.0f%% |" % (n, label, len(v), statistics.median(x[0] for x in v), fpt, epf,
                                                            100.0 * sum(x[4] for x in v) / len(v)))
PY
