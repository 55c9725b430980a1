#!/usr/bin/env bash
# spec_vs_llama.sh — decobench's speculative engines against llama.cpp's own
# tools, built from the same llama.cpp source, on the same models, prompts,
# draft length and threads, interleaved round by round:
#
#   decobench spec       vs llama-speculative-simple (--spec-type draft-simple)
#   decobench spec-tree  vs llama-speculative (-np 3 branches, p_split 0.1)
#   decobench lookahead  vs llama-lookahead (W=15, N=5, G=15, hard-coded there)
#   decobench pld        vs llama-lookup (pld: most recent match; pld-cache:
#                        the same n-gram count cache as llama-lookup)
#   decobench ar         vs llama-bench (plain decoding: tg N at a KV depth
#                        of the prompt's token count, the same forwards)
#
# Prints, per pair, median decode tokens/s of each side and their ratio, each
# side's speedup over its own plain decoding (decobench ar; llama-bench), the
# mean accepted tokens per target forward (#MAT) and drafted tokens per
# target forward of each side (the size of each verification batch), and the share
# of decobench's wall time spent outside model forwards.  Greedy decoding
# throughout, so both sides produce the same tokens.  bench/spec_wide.sh runs
# it on the wide (memory-bandwidth-bound) target.
#
# Usage: bench/spec_vs_llama.sh [--rounds 3] [--prompts 8] [--n 128] [--k 4]
#          [--threads 2] [--target data/models/target.gguf] [--draft data/models/draft.gguf]
#          [--prompt-file data/prompts/prose.jsonl] [--bench-reps 5] [--skip lookahead]
# --skip lookahead leaves out the lookahead pair (its W = 15, N = 5 verifies
# about 80 tokens per forward: minutes per prompt on a large target).
# Run it on an otherwise idle machine: concurrent load distorts both sides.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$(pwd)"
rounds=3 n_prompts=8 n_new=128 k=4 threads=2 bench_reps=5 skip_la=0
target=data/models/target.gguf draft=data/models/draft.gguf prompt_file=data/prompts/prose.jsonl
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) rounds="$2"; shift 2 ;;
    --prompts) n_prompts="$2"; shift 2 ;;
    --n) n_new="$2"; shift 2 ;;
    --k) k="$2"; shift 2 ;;
    --threads) threads="$2"; shift 2 ;;
    --target) target="$2"; shift 2 ;;
    --draft) draft="$2"; shift 2 ;;
    --prompt-file) prompt_file="$2"; shift 2 ;;
    --bench-reps) bench_reps="$2"; shift 2 ;;
    --skip) [ "$2" = lookahead ] || { echo "spec_vs_llama.sh: --skip: only 'lookahead'" >&2; exit 2; }; skip_la=1; shift 2 ;;
    -h|--help) sed -n '2,26p' "$0"; exit 0 ;;
    *) echo "spec_vs_llama.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
done
# the decobench binary: $DB_BUILDDIR/decobench if set (e.g. an optimised build), else ./decobench, else build/
bin="${DB_BUILDDIR:+$DB_BUILDDIR/decobench}"; [ -x "${bin:-}" ] || bin="$root/decobench"; [ -x "$bin" ] || bin="$root/build/decobench"
lb="$root/.deps/llama/bin"
for f in "$bin" "$lb/llama-bench" "$lb/llama-speculative-simple" "$lb/llama-speculative" "$lb/llama-lookahead" "$lb/llama-lookup" "$target" "$draft" "$prompt_file"; do
  [ -e "$f" ] || { echo "spec_vs_llama.sh: $f: not found (run scripts/setup.sh; make models)" >&2; exit 1; }
done
target="$(realpath "$target")"; draft="$(realpath "$draft")"
tmp="$(mktemp -d /tmp/decobench-bench.XXXXXX)"
trap 'rm -rf "$tmp"' EXIT

head -n "$n_prompts" "$prompt_file" > "$tmp/prompts.jsonl"
python3 - "$tmp/prompts.jsonl" "$tmp" <<'PY'
import json, sys
for i, line in enumerate(open(sys.argv[1])):
    o = json.loads(line)
    open(f"{sys.argv[2]}/p{i}.txt", "w").write(o.get("prompt") or o.get("text") or o["turns"][0])
PY
cat > "$tmp/suite.json" <<JSON
{
  "name": "bench-spec-vs-llama",
  "models": { "target": { "path": "$target", "n_ctx": 2048 }, "draft": { "path": "$draft", "n_ctx": 2048 } },
  "datasets": { "bench": { "path": "$tmp/prompts.jsonl", "category": "bench" } },
  "engines": [
    { "engine": "ar", "label": "ar" },
    { "engine": "spec", "label": "spec", "draft": "draft", "params": { "k": $k } },
    { "engine": "spec-tree", "label": "spec-tree", "draft": "draft", "params": { "k": $k, "branches": 3, "p_split": 0.1 } },
$([ "$skip_la" = 1 ] || echo '    { "engine": "lookahead", "label": "lookahead", "params": { "W": 15, "N": 5, "G": 15 } },')
    { "engine": "pld", "label": "pld", "params": { "k": $k, "ngram_min": 1, "ngram_max": 4 } },
    { "engine": "pld", "label": "pld-cache", "params": { "k": $k, "ngram_min": 1, "ngram_max": 4, "lookup": "cache" } }
  ],
  "baseline": "ar", "max_new_tokens": $n_new, "repetitions": 1, "warmup": 1, "threads": $threads,
  "stop_at_eog": false
}
JSON

common=(-m "$target" -n "$n_new" --temp 0 -t "$threads" -tb "$threads" -c 2048 --ignore-eos)
: > "$tmp/llama.tsv"
for r in $(seq 1 "$rounds"); do
  echo "round $r/$rounds: decobench" >&2
  "$bin" run "$tmp/suite.json" --db "$tmp/bench.db" --no-progress --format none >/dev/null 2>"$tmp/run.err" \
    || { cat "$tmp/run.err" >&2; exit 1; }
  echo "round $r/$rounds: llama.cpp tools" >&2
  for ((i = 0; i < n_prompts; i++)); do
    p="$(cat "$tmp/p$i.txt")"
    # plain decoding: llama-bench's tg over a KV cache as deep as this prompt
    depth="$(sqlite3 "$tmp/bench.db" "select s.n_prompt_tokens from sample s join \"case\" c on c.id = s.case_id
                                      where c.label = 'ar' and s.prompt_idx = $i limit 1")"
    # (5 repetitions by default, their median: a fresh process's first ones run slower)
    "$lb/llama-bench" -m "$target" -p 0 -n "$n_new" -d "${depth:-0}" -t "$threads" -r "$bench_reps" -o jsonl 2>/dev/null |
      python3 -c 'import json, statistics, sys
print("bench", sys.argv[1], sys.argv[2], statistics.median(json.loads(sys.stdin.readline())["samples_ts"]), "", "", "", sep="\t")' "$r" "$i" \
      >> "$tmp/llama.tsv" || true
    tools="spec tree lookahead lookup"; [ "$skip_la" = 1 ] && tools="spec tree lookup"
    for tool in $tools; do
      case $tool in
        spec) "$lb/llama-speculative-simple" "${common[@]}" -md "$draft" --spec-type draft-simple \
                --spec-draft-n-max "$k" --spec-draft-n-min 0 --spec-draft-p-min 0 -td "$threads" -p "$p" >"$tmp/out" 2>&1 || true ;;
        tree) "$lb/llama-speculative" "${common[@]}" -md "$draft" -np 3 --spec-draft-p-split 0.1 \
                --spec-draft-n-max "$k" --spec-draft-n-min 0 --spec-draft-p-min 0 -td "$threads" -p "$p" >"$tmp/out" 2>&1 || true ;;
        lookahead) "$lb/llama-lookahead" "${common[@]}" -p "$p" >"$tmp/out" 2>&1 || true ;;
        lookup) "$lb/llama-lookup" "${common[@]}" --spec-draft-n-max "$k" -p "$p" >"$tmp/out" 2>&1 || true ;;
      esac
      # decoded N tokens in T seconds, speed: S t/s ; n_accept ; n_predict
      awk -v tool="$tool" -v r="$r" -v i="$i" '
        /decoded .* tokens in .* seconds, speed:/ { for (f = 1; f <= NF; f++) if ($f == "speed:") tps = $(f + 1) }
        /n_predict *=/ { np = $NF } /n_accept *=/ { na = $NF } /n_drafted *=/ { nd = $NF }
        END { if (tps != "") printf "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", tool, r, i, tps, np, na, nd }' "$tmp/out" >> "$tmp/llama.tsv"
    done
  done
done

# decobench decode speed: tokens after the first / time after the first token,
# the same span llama.cpp's "decoded ... speed" measures
sqlite3 -separator $'\t' "$tmp/bench.db" "
  select c.label, (s.new_tokens - 1) * 1000.0 / (s.latency_ms - s.ttft_ms), s.new_tokens, s.n_commits,
         s.forward_time_ms, s.latency_ms, coalesce(s.drafted, 0)
  from sample s join \"case\" c on c.id = s.case_id" > "$tmp/deco.tsv"

python3 - "$tmp/deco.tsv" "$tmp/llama.tsv" "$n_prompts" "$rounds" "$k" "$threads" "$n_new" <<'PY'
import statistics as st, sys
deco, llama = {}, {}
for line in open(sys.argv[1]):
    label, tps, new, commits, fwd, lat, drafted = line.rstrip("\n").split("\t")
    d = deco.setdefault(label, {"tps": [], "new": 0, "commits": 0, "fwd": 0.0, "lat": 0.0, "drafted": 0})
    d["tps"].append(float(tps)); d["new"] += int(new); d["commits"] += int(commits); d["drafted"] += int(drafted)
    d["fwd"] += float(fwd); d["lat"] += float(lat)
for line in open(sys.argv[2]):
    tool, r, i, tps, npred, nacc, ndr = line.rstrip("\n").split("\t")
    l = llama.setdefault(tool, {"tps": [], "pred": 0, "acc": 0, "steps": 0, "drafted": 0, "dsteps": 0})
    l["tps"].append(float(tps))
    if npred and nacc:
        l["pred"] += int(npred); l["acc"] += int(nacc); l["steps"] += int(npred) - int(nacc)
        if ndr:
            l["drafted"] += int(ndr); l["dsteps"] += int(npred) - int(nacc)
print(f"prompts {sys.argv[3]} x rounds {sys.argv[4]}, k = {sys.argv[5]}, threads {sys.argv[6]}, {sys.argv[7]} new tokens, greedy\n")
a, lb = deco.get("ar"), llama.get("bench")
ar_m = st.median(a["tps"]) if a else None
lb_m = st.median(lb["tps"]) if lb and lb["tps"] else None
print("| decobench | llama.cpp | decobench tok/s | llama.cpp tok/s | ratio | decobench speedup over ar | llama.cpp speedup over llama-bench | decobench #MAT | llama.cpp #MAT | drafted per forward (decobench / llama.cpp) | decobench time outside forwards |")
print("|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
for ours, theirs, tool in (("spec", "llama-speculative-simple", "spec"), ("spec-tree", "llama-speculative -np 3", "tree"), ("lookahead", "llama-lookahead", "lookahead"), ("pld", "llama-lookup", "lookup"), ("pld-cache", "llama-lookup", "lookup")):
    d, l = deco.get(ours), llama.get(tool)
    if not d or not l or not l["tps"]:
        print(f"| {ours} | {theirs} | - | - | - | - | - | - | - | - | - |"); continue
    dm, lm = st.median(d["tps"]), st.median(l["tps"])
    mat_d = d["new"] / d["commits"]
    mat_l = f'{l["pred"] / l["steps"]:.2f}' if l["steps"] > 0 else "-"
    su_d = f"{dm / ar_m:.2f}x" if ar_m else "-"
    su_l = f"{lm / lb_m:.2f}x" if lb_m else "-"
    dr_d = d["drafted"] / d["commits"]
    dr_l = f'{l["drafted"] / l["dsteps"]:.2f}' if l["dsteps"] > 0 else "-"
    print(f"| {ours} | {theirs} | {dm:.1f} | {lm:.1f} | {dm / lm:.2f}x | {su_d} | {su_l} | {mat_d:.2f} | {mat_l} | {dr_d:.2f} / {dr_l} | {100 * (1 - d['fwd'] / d['lat']):.1f}% |")
a, l = deco.get("ar"), llama.get("bench")
if a and l and l["tps"]:
    am, lm = st.median(a["tps"]), st.median(l["tps"])
    print(f"\nplain decoding: decobench ar {am:.1f} tok/s, llama-bench tg{sys.argv[7]} at the prompt's depth {lm:.1f} tok/s, ratio {am / lm:.2f}x; ar's time outside forwards {100 * (1 - a['fwd'] / a['lat']):.1f}%")
PY
