#!/usr/bin/env bash
# e2e.sh — end-to-end tests of the decobench CLI: a real run on a small GGUF
# followed by report, bad-input handling (one error line, exit 2, nothing
# written), SIGINT during a run, list and --help.  Ends with "N passed, N failed".
set -u
src="${DB_SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}"
build="${DB_BUILDDIR:-$src}"
bin="$build/decobench"
mkmodel="$build/decobench-mkmodel"
tmp="$(mktemp -d /tmp/decobench-e2e.XXXXXX)"
trap 'rm -rf "$tmp"' EXIT
. "$src/tests/lib.sh"
# derived models (self-spec's draft) go to a cache of this test's own
export DECOBENCH_CACHE_DIR="$tmp/cache"

# a small random GGUF (the bundled trained models replace it once S2 lands)
"$mkmodel" --out "$tmp/tiny.gguf" --n-embd 64 --n-layer 2 --seed 7 >/dev/null 2>&1 \
  || { fail "mkmodel writes a model"; finish; }
cat > "$tmp/prompts.jsonl" <<'JSONL'
{"id": "p1", "category": "prose", "prompt": "The old house stood at the end of the road"}
{"id": "p2", "category": "prose", "prompt": "In the beginning there was"}
{"id": "p3", "category": "code", "prompt": "def main():"}
JSONL
write_suite() {  # write_suite FILE MODEL_PATH [extra engine entries]
  cat > "$1" <<JSON
{
  "name": "e2e",
  "description": "end-to-end test suite",
  "models": { "target": { "path": "$2" } },
  "datasets": { "mixed": { "path": "prompts.jsonl", "category": "prose" } },
  "engines": [
    { "engine": "ar", "label": "ar-greedy", "params": { "mode": "greedy" } },
    { "engine": "ar", "label": "ar-sample", "params": { "mode": "sample", "top_k": 40 }, "grid": { "temp": [0.7, 1.0] } }
  ],
  "baseline": "ar-greedy",
  "max_new_tokens": 12, "repetitions": 2, "warmup": 1, "seeds": [1, 2], "threads": 1
}
JSON
}

# ---- a full run, then report --------------------------------------------
write_suite "$tmp/suite.json" "tiny.gguf"
"$bin" run "$tmp/suite.json" --db "$tmp/r.db" --events rows --no-progress >"$tmp/run.out" 2>"$tmp/run.err"; rc=$?
if [ $rc = 0 ] && [ "$(tail -1 "$tmp/run.err")" = "decobench run: run 1 completed: 3/3 cases, 18 samples -> $tmp/r.db" ]; then
  ok "run completes (exit 0, 'run 1 completed: 3/3 cases, 18 samples')"
else
  fail "run completes (exit 0, 'run 1 completed: 3/3 cases, 18 samples')" "rc=$rc" "$(tail -3 "$tmp/run.err")"
fi
n_cases=$(sqlite3 "$tmp/r.db" 'select count(*) from "case" where status = "completed"' 2>/dev/null)
n_samples=$(sqlite3 "$tmp/r.db" 'select count(*) from sample' 2>/dev/null)
status=$(sqlite3 "$tmp/r.db" 'select status from run' 2>/dev/null)
# 3 cases (greedy, sample temp 0.7, sample temp 1.0) x 3 prompts x 2 repetitions
if [ "$n_cases" = 3 ] && [ "$n_samples" = 18 ] && [ "$status" = completed ]; then
  ok "database holds 3 cases, 18 samples, run completed"
else
  fail "database holds 3 cases, 18 samples, run completed" "cases=$n_cases samples=$n_samples status=$status"
fi
# ar: 12 tokens unless the model ends the text (stop_reason eog: fewer), as
# many as the stored token list holds; one target forward per token, one
# commit per token after the first (the prompt's forward gives the first)
bad=$(sqlite3 "$tmp/r.db" 'select count(*) from sample where not (stop_reason = "length" and new_tokens = 12 or stop_reason = "eog" and new_tokens between 1 and 11) or json_array_length(output_tokens_json) <> new_tokens or latency_ms <= 0 or tokens_per_s <= 0 or target_forwards <> new_tokens or n_commits <> new_tokens - 1 or abs(mat - 1.0) > 1e-9 or length(output_text) = 0' 2>/dev/null)
[ "$bad" = 0 ] && ok "every ar sample: 12 tokens (fewer only at eog) as stored, one forward and commit per token, MAT 1.00" \
  || fail "every ar sample: 12 tokens (fewer only at eog) as stored, one forward and commit per token, MAT 1.00" "bad rows: $bad"
# greedy is deterministic: both repetitions of a prompt give the same tokens
diff=$(sqlite3 "$tmp/r.db" 'select count(*) from sample a join sample b on a.case_id = b.case_id and a.prompt_idx = b.prompt_idx and a.rep = 0 and b.rep = 1 join "case" c on c.id = a.case_id where c.label = "ar-greedy" and a.output_tokens_json <> b.output_tokens_json' 2>/dev/null)
[ "$diff" = 0 ] && ok "greedy repetitions give identical tokens" || fail "greedy repetitions give identical tokens" "differing: $diff"
# ar's trace (stored as step_event rows: run --events rows), per sample: a forward event (kind 1) per target forward, a
# commit (kind 4) of one token and a sampling event (kind 5) per token
events=$(sqlite3 "$tmp/r.db" 'select count(*) from step_event' 2>/dev/null)
evbad=$(sqlite3 "$tmp/r.db" 'select count(*) from sample s where
  (select count(*) from step_event e where e.sample_id = s.id and kind = 1) <> s.target_forwards
  or (select count(*) from step_event e where e.sample_id = s.id and kind = 4 and n_tokens = 1) <> s.new_tokens
  or (select count(*) from step_event e where e.sample_id = s.id and kind = 5) <> s.new_tokens
  or (select count(*) from step_event e where e.sample_id = s.id) <> 3 * s.new_tokens' 2>/dev/null)
ntok=$(sqlite3 "$tmp/r.db" 'select sum(new_tokens) from sample' 2>/dev/null)
[ "$evbad" = 0 ] && [ "${events:-0}" = "$((3 * ${ntok:-0}))" ] && [ "${ntok:-0}" -gt 0 ] \
  && ok "step events: per sample one forward per target forward, one commit and one sampling event per token ($events)" \
  || fail "step events match the samples" "events=$events tokens=$ntok samples not matching: $evbad"
# physical cores and packages as lscpu counts them from the same kernel
# topology (the whole machine, as decobench's hwloc view: not only the CPUs
# this process may use)
machine=$(sqlite3 "$tmp/r.db" 'select cores || " " || packages || " " || length(fingerprint) from machine' 2>/dev/null)
lcores=$(lscpu -p=Core,Socket 2>/dev/null | grep -v '^#' | sort -u | wc -l)
lpkgs=$(lscpu -p=Socket 2>/dev/null | grep -v '^#' | sort -u | wc -l)
[ "$machine" = "$lcores $lpkgs 64" ] && ok "machine topology stored ($lcores cores, $lpkgs package(s), as lscpu counts)" \
  || fail "machine topology stored" "cores packages fingerprint-length: $machine; lscpu: $lcores $lpkgs"
commit=$(sqlite3 "$tmp/r.db" 'select llama_commit from run' 2>/dev/null)
[ "${#commit}" = 40 ] && ok "llama.cpp commit recorded" || fail "llama.cpp commit recorded" "'$commit'"
# the table: one row per case, in suite order, 6 samples each (3 prompts x 2 repetitions)
rows=$(grep '^| ar-' "$tmp/run.out" | awk -F' [|] ' '{ sub(/^[|] /, "", $1); sub(/ †$/, "", $1); printf "%s/%s/%s;", $1, $2, $4 }')
[ "$rows" = "ar-greedy/mixed/6;ar-sample temp=0.7/mixed/6;ar-sample temp=1/mixed/6;" ] \
  && ok "run prints the table: 3 rows, 6 samples each" || fail "run prints the table" "rows: $rows" "$(head -5 "$tmp/run.out")"

if "$bin" report --db "$tmp/r.db" --format csv >"$tmp/rep.csv" 2>"$tmp/rep.err"; then
  rows=$(($(wc -l <"$tmp/rep.csv") - 1))
  labels=$(tr -d '\r' < "$tmp/rep.csv" | awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == "label") c = i; next } { printf "%s;", $c }')
  [ "$rows" = 3 ] && [ "$labels" = "ar-greedy;ar-sample temp=0.7;ar-sample temp=1;" ] && ok "report csv has 3 rows, one per case" \
    || fail "report csv has 3 rows, one per case" "labels: $labels" "$(cat "$tmp/rep.csv")"
else
  fail "report csv" "$(cat "$tmp/rep.err")"
fi
"$bin" report --db "$tmp/r.db" --format latex >"$tmp/rep.tex" 2>&1
ltx=$(awk '/^\\toprule/ { s = 1; next } /^\\midrule/ { s = 2; next } /^\\bottomrule/ { s = 3; next }
           s == 2 { split($0, f, " & "); sub(/[$]\^\\dagger[$]$/, "", f[1]); printf "%s/%s;", f[1], f[4] }' "$tmp/rep.tex")
[ "$ltx" = "ar-greedy/6;ar-sample temp=0.7/6;ar-sample temp=1/6;" ] && grep -q '^\\begin{tabular}' "$tmp/rep.tex" \
  && ok "report latex (booktabs): 3 rows between midrule and bottomrule" || fail "report latex (booktabs)" "rows: $ltx" "$(head -3 "$tmp/rep.tex")"
"$bin" report --db "$tmp/r.db" --run 999 >/dev/null 2>"$tmp/e"; rc=$?
[ $rc = 2 ] && [ "$(cat "$tmp/e")" = "decobench report: $tmp/r.db: no run with id 999" ] && ok "report of an unknown run: one error line naming it, exit 2" \
  || fail "report of an unknown run" "rc=$rc $(cat "$tmp/e")"
# pivot by the sampling temperature: the two sampled cases share a row, one column per temp
"$bin" report --db "$tmp/r.db" --by param:temp >"$tmp/pt.md" 2>"$tmp/pt.err" \
  && grep -q '| 0.7 | 1 |' "$tmp/pt.md" && [ "$(grep -c '^| ar ' "$tmp/pt.md")" = 2 ] \
  && ok "report --by param:temp: temperatures as columns" || fail "report --by param:temp" "$(cat "$tmp/pt.err" "$tmp/pt.md")"
"$bin" report --db "$tmp/r.db" --columns label,tokens_per_s,mat --format csv >"$tmp/cols.csv" 2>"$tmp/cols.err" \
  && [ "$(head -1 "$tmp/cols.csv" | tr -d '\r')" = "run_id,label,tokens_per_s,tokens_per_s_lo,tokens_per_s_hi,mat" ] \
  && ok "report --columns chooses the CSV columns" || fail "report --columns" "$(cat "$tmp/cols.err" "$tmp/cols.csv")"

# ---- hardware report and probe on the run's database -------------------------
"$bin" report --db "$tmp/r.db" --by machine >"$tmp/hw.md" 2>"$tmp/hw.err" \
  && grep -q '| ar-greedy | roofline (weight GB/s / STREAM GB/s) | n/a — run decobench probe (' "$tmp/hw.md" \
  && ok "report --by machine: roofline n/a before a probe" || fail "report --by machine before a probe" "$(cat "$tmp/hw.err")" "$(grep roofline "$tmp/hw.md" | head -2)"
if "$bin" probe --db "$tmp/r.db" --threads 1 --reps 1 --array-mib 8 >"$tmp/probe.out" 2>"$tmp/probe.err"; then
  # the stored row holds what was printed (printed to 2 decimals), for the run's machine
  prow=$(sqlite3 "$tmp/r.db" 'select count(*) || " " || printf("%.2f %.2f %.2f", bandwidth_gbs, gflops_per_thread, gflops) || " " || threads || " " || method from machine_probe p join machine m on m.id = p.machine_id' 2>/dev/null)
  printed=$(sed -n 's/^memory bandwidth: \([0-9.]*\) GB\/s (STREAM triad, 3 x 8 MiB, 1 thread, best of 1)$/\1/p; s/^peak FP32: \([0-9.]*\) GFLOP\/s on 1 thread, \([0-9.]*\) GFLOP\/s on 1 thread (\([a-z0-9-]*\) FMA)$/\1 \2 \3/p' "$tmp/probe.out" | tr '\n' ' ')
  read -r pbw pg1 pgn pk <<< "$printed"
  [ -n "$pk" ] && [ "$prow" = "1 $pbw $pg1 $pgn 1 STREAM triad 3 x 8 MiB double, 1 thread; FP32 FMA $pk, 12 chains; best of 1" ] \
    && ok "probe prints and stores bandwidth and GFLOP/s for the run's machine (stored = printed)" \
    || fail "probe stores what it prints for the run's machine" "stored: $prow" "printed: $printed" "$(cat "$tmp/probe.out")"
else
  fail "probe" "$(cat "$tmp/probe.err")"
fi
"$bin" report --db "$tmp/r.db" --by machine --format json >"$tmp/hw.json" 2>"$tmp/hw.err"
frac=$(jq -r '.cases[] | select(.label == "ar-greedy") | .machines[0].roofline_fraction' "$tmp/hw.json" 2>/dev/null)
# recomputed: model bytes x target forwards / forward seconds / 1e9, over the probe's GB/s
want=$(sqlite3 "$tmp/r.db" 'select printf("%.17g", c.model_bytes * sum(s.target_forwards) / (sum(s.forward_time_ms) / 1000.0) / 1e9 / (select bandwidth_gbs from machine_probe order by measured_at desc limit 1)) from sample s join "case" c on c.id = s.case_id where c.label = "ar-greedy" and c.run_id = 1' 2>/dev/null)
awk -v f="$frac" -v w="$want" 'BEGIN { d = f / w - 1; exit !(f != "" && f != "null" && w > 0 && d < 1e-9 && d > -1e-9) }' 2>/dev/null \
  && ok "report --by machine: roofline fraction after the probe ($frac = weight GB/s / STREAM GB/s recomputed)" \
  || fail "report --by machine: roofline fraction after the probe" "'$frac', recomputed '$want'" "$(head -c 300 "$tmp/hw.json")"
"$bin" probe --db "$tmp/r.db" --threads 0 >/dev/null 2>"$tmp/e"; rc=$?
[ $rc = 2 ] && [ "$(wc -l <"$tmp/e")" = 1 ] && ok "probe --threads 0: one error line, exit 2" || fail "probe --threads 0" "rc=$rc $(cat "$tmp/e")"

# a second run appends to the same database
"$bin" run "$tmp/suite.json" --db "$tmp/r.db" --no-progress --limit 1 --format none >/dev/null 2>&1
runs=$(sqlite3 "$tmp/r.db" 'select count(*) from run' 2>/dev/null)
[ "$runs" = 2 ] && ok "second run appends (2 runs)" || fail "second run appends" "runs=$runs"

# ---- the speculative family through the runner --------------------------------
cat > "$tmp/spec.json" <<JSON
{
  "name": "spec-e2e",
  "models": { "target": { "path": "tiny.gguf" }, "draft": { "path": "tiny.gguf" } },
  "datasets": { "mixed": { "path": "prompts.jsonl" } },
  "engines": [
    { "engine": "ar", "label": "ar" },
    { "engine": "spec", "label": "spec", "draft": "draft", "grid": { "k": [2, 5] } },
    { "engine": "spec-tree", "label": "tree", "draft": "draft", "params": { "branches": 3, "p_split": 0.001 } },
    { "engine": "pld", "label": "pld" },
    { "engine": "lookahead", "label": "lookahead", "params": { "W": 4, "N": 3, "G": 4 } },
    { "engine": "self-spec", "label": "self-spec", "params": { "layers": 1 } },
    { "engine": "token-recycling", "label": "recycle" }
  ],
  "baseline": "ar", "max_new_tokens": 24, "repetitions": 1, "warmup": 0, "threads": 1
}
JSON
"$bin" run "$tmp/spec.json" --db "$tmp/spec.db" --no-progress >"$tmp/spec.out" 2>"$tmp/spec.err"; rc=$?
labels=$(sqlite3 "$tmp/spec.db" 'select group_concat(label || ":" || status || ":" || n, ",") from (select c.label, c.status, count(s.id) n from "case" c left join sample s on s.case_id = c.id group by c.id order by c.idx)' 2>/dev/null)
[ $rc = 0 ] && [ "$labels" = "ar:completed:3,spec k=2:completed:3,spec k=5:completed:3,tree:completed:3,pld:completed:3,lookahead:completed:3,self-spec:completed:3,recycle:completed:3" ] \
  && ok "speculative suite runs (spec, spec-tree, pld, lookahead, self-spec, token-recycling): 8 cases of 3 samples" \
  || fail "speculative suite runs" "rc=$rc cases: $labels" "$(tail -3 "$tmp/spec.err")"
# greedy: every engine's tokens equal ar's on every prompt
differ=$(sqlite3 "$tmp/spec.db" 'select count(*) from sample s join "case" c on c.id = s.case_id join sample b on b.prompt_idx = s.prompt_idx join "case" bc on bc.id = b.case_id and bc.label = "ar" where c.label <> "ar" and s.output_tokens_json <> b.output_tokens_json' 2>/dev/null)
total=$(sqlite3 "$tmp/spec.db" 'select count(*) from sample s join "case" c on c.id = s.case_id where c.label <> "ar"' 2>/dev/null)
[ "$differ" = 0 ] && [ "${total:-0}" = 21 ] && ok "greedy outputs of 7 speculative configurations identical to ar (21 samples)" \
  || fail "greedy outputs identical to ar" "differing=$differ of $total"
# S7 identity: the run compared each lossless case with ar itself; report shows it
ident=$(sqlite3 "$tmp/spec.db" 'select count(*) || ":" || sum(n_identical) || "/" || sum(n_compared) from identity' 2>/dev/null)
"$bin" report --db "$tmp/spec.db" --columns label,identical >"$tmp/ident.md" 2>&1
[ "$ident" = "7:21/21" ] && grep -qE '^[|] tree( †)? [|] 3/3 [|]' "$tmp/ident.md" \
  && ok "run stores greedy identity with ar for 7 lossless cases; report column identical" \
  || fail "identity table / report column" "$ident" "$(cat "$tmp/ident.md")"
# a draft identical to the target: every drafted token accepted, so each
# commit after the first token brings k + 1 tokens (the last one fewer):
# ceil((new_tokens - 1) / (k + 1)) commits, #MAT (new_tokens - 1) / commits
mat=$(sqlite3 "$tmp/spec.db" 'select round(sum(s.mat * s.n_commits) / sum(s.n_commits), 6) from sample s join "case" c on c.id = s.case_id where c.label = "spec k=5"' 2>/dev/null)
sbad=$(sqlite3 "$tmp/spec.db" 'select count(*) from sample s join "case" c on c.id = s.case_id where c.engine = "spec" and (s.accepted <> s.drafted or s.drafted = 0 or s.n_commits <> (s.new_tokens - 1 + json_extract(c.params_json, "$.k")) / (json_extract(c.params_json, "$.k") + 1) or abs(s.mat - (s.new_tokens - 1) * 1.0 / s.n_commits) > 1e-9)' 2>/dev/null)
want=$(sqlite3 "$tmp/spec.db" 'select round(sum(s.new_tokens - 1) * 1.0 / sum((s.new_tokens - 1 + 5) / 6), 6) from sample s join "case" c on c.id = s.case_id where c.label = "spec k=5"' 2>/dev/null)
[ "$sbad" = 0 ] && [ -n "$mat" ] && [ "$mat" = "$want" ] \
  && ok "self-draft spec accepts everything: ceil((n-1)/(k+1)) commits; k=5 #MAT $mat" || fail "self-draft spec #MAT" "#MAT $mat, expected $want; samples not matching: $sbad"
dd=$(sqlite3 "$tmp/spec.db" 'select draft_name from "case" where label = "self-spec"' 2>/dev/null)
[ "$dd" = "target:derived" ] && ls "$DECOBENCH_CACHE_DIR"/self-spec-*-L1.gguf >/dev/null 2>&1 \
  && ! ls "$tmp"/tiny.gguf.self-* >/dev/null 2>&1 && ok "self-spec derived its draft in the cache directory, not next to the model" \
  || fail "self-spec derived draft" "draft_name=$dd"

# opt-tree (S11) through the runner: its own small suite, so the speculative
# suite above keeps its case list; greedy outputs identical to ar's, the
# run's identity table agrees, and every sample records its tree size
cat > "$tmp/opt.json" <<JSON
{
  "name": "opt-tree-e2e",
  "models": { "target": { "path": "tiny.gguf" }, "draft": { "path": "tiny.gguf" } },
  "datasets": { "mixed": { "path": "prompts.jsonl" } },
  "engines": [
    { "engine": "ar", "label": "ar" },
    { "engine": "opt-tree", "label": "opt-tree", "draft": "draft", "params": { "nodes": 12, "max_depth": 6 } }
  ],
  "baseline": "ar", "max_new_tokens": 24, "repetitions": 1, "warmup": 0, "threads": 1
}
JSON
"$bin" run "$tmp/opt.json" --db "$tmp/opt.db" --no-progress >/dev/null 2>"$tmp/opt.err"; rc=$?
odiff=$(sqlite3 "$tmp/opt.db" 'select count(*) from sample s join "case" c on c.id = s.case_id join sample b on b.prompt_idx = s.prompt_idx join "case" bc on bc.id = b.case_id and bc.label = "ar" where c.label = "opt-tree" and s.output_tokens_json = b.output_tokens_json' 2>/dev/null)
oid=$(sqlite3 "$tmp/opt.db" 'select sum(n_identical) || "/" || sum(n_compared) from identity' 2>/dev/null)
onodes=$(sqlite3 "$tmp/opt.db" 'select count(*) from sample_metric where name = "tree_nodes_mean" and value >= 1 and value <= 12' 2>/dev/null)
[ $rc = 0 ] && [ "$odiff" = 3 ] && [ "$oid" = "3/3" ] && [ "$onodes" = 3 ] \
  && ok "opt-tree greedy outputs identical to ar (3 samples, identity 3/3), tree_nodes_mean recorded" \
  || fail "opt-tree through the runner" "rc=$rc identical=$odiff identity=$oid tree_nodes_mean=$onodes" "$(tail -3 "$tmp/opt.err")"
# S11 equal-compute axis: target tokens per generated token — exactly 1 for
# ar; for opt-tree a step's target batch (per token × #MAT) is the tree and
# its root, 2..13 tokens
tpt_ar=$(sqlite3 "$tmp/opt.db" 'select count(*) from sample_metric m join sample s on s.id = m.sample_id join "case" c on c.id = s.case_id where c.label = "ar" and m.name = "target_tokens_per_token" and m.value = 1' 2>/dev/null)
tpt_ot=$(sqlite3 "$tmp/opt.db" 'select count(*) from sample_metric m join sample s on s.id = m.sample_id join "case" c on c.id = s.case_id where c.label = "opt-tree" and m.name = "target_tokens_per_token" and m.value * s.mat >= 2 - 1e-9 and m.value * s.mat <= 13 + 1e-9' 2>/dev/null)
[ "$tpt_ar" = 3 ] && [ "$tpt_ot" = 3 ] && ok "target tokens per token: 1 for ar, a tree's batch per step for opt-tree (3 + 3 samples)" \
  || fail "target_tokens_per_token" "ar exactly 1: $tpt_ar/3, opt-tree batch in [2, 13]: $tpt_ot/3"

# ---- chat datasets: every turn, in the model's chat template ------------------
"$mkmodel" --out "$tmp/chat.gguf" --n-embd 64 --n-layer 2 --seed 9 --chat-template chatml >/dev/null 2>&1
cat > "$tmp/turns.jsonl" <<'JSONL'
{"question_id": 1, "category": "writing", "turns": ["Write a line about the sea.", "Now make it rhyme."]}
{"question_id": 2, "category": "qa", "turns": ["What is a river?"]}
JSONL
cat > "$tmp/chat.json" <<JSON
{
  "name": "chat", "models": { "target": { "path": "chat.gguf" } },
  "datasets": { "mt": { "path": "turns.jsonl", "chat": true } },
  "engines": [ { "engine": "ar", "label": "ar" } ],
  "max_new_tokens": 8, "repetitions": 1, "warmup": 0, "threads": 1
}
JSON
"$bin" run "$tmp/chat.json" --db "$tmp/chat.db" --no-progress --format none >/dev/null 2>"$tmp/chat.err"
turns=$(sqlite3 "$tmp/chat.db" 'select group_concat(prompt_id || ":" || turn, ",") from (select prompt_id, turn from sample order by prompt_idx, turn)' 2>/dev/null)
grow=$(sqlite3 "$tmp/chat.db" 'select count(*) from sample a join sample b on a.prompt_idx = b.prompt_idx and a.turn = 0 and b.turn = 1 where b.n_prompt_tokens > a.n_prompt_tokens + a.new_tokens' 2>/dev/null)
[ "$turns" = "1:0,1:1,2:0" ] && [ "$grow" = 1 ] && ok "chat dataset: every turn runs, turn 2 sees turn 1 and its answer" \
  || fail "chat dataset turns" "turns=$turns grow=$grow $(tail -2 "$tmp/chat.err")"
sed 's/"chat.gguf"/"tiny.gguf"/' "$tmp/chat.json" > "$tmp/chat-notmpl.json"
"$bin" run "$tmp/chat-notmpl.json" --db "$tmp/chat2.db" --no-progress --format none >/dev/null 2>"$tmp/chat2.err"; rc=$?
[ $rc = 2 ] && [ ! -e "$tmp/chat2.db" ] && [ "$(wc -l <"$tmp/chat2.err")" = 1 ] && grep -q "no chat template" "$tmp/chat2.err" \
  && ok "chat dataset on a model without a template: refused before the run (exit 2, nothing written)" \
  || fail "chat without template" "rc=$rc $(cat "$tmp/chat2.err")"

# ---- model paths from the command line or an override file ------------------
cp "$tmp/tiny.gguf" "$tmp/other.gguf"
mkdir -p "$tmp/elsewhere"
write_suite "$tmp/elsewhere/placeholder.json" "not-there.gguf"
cp "$tmp/prompts.jsonl" "$tmp/elsewhere/"
(cd "$tmp" && "$bin" run elsewhere/placeholder.json --model target=other.gguf --db "$tmp/ov.db" --no-progress --limit 1 --format none >/dev/null 2>"$tmp/ov.err")
p=$(sqlite3 "$tmp/ov.db" 'select distinct model_path from "case"' 2>/dev/null)
[ "$p" = "$tmp/other.gguf" ] && ok "--model NAME=PATH replaces a suite's model path" || fail "--model NAME=PATH" "path=$p $(cat "$tmp/ov.err")"
echo '{"models": {"target": {"path": "other.gguf"}}, "max_new_tokens": 3}' > "$tmp/override.json"
(cd "$tmp" && "$bin" run elsewhere/placeholder.json --override override.json --db "$tmp/ov2.db" --no-progress --limit 1 --format none >/dev/null 2>&1)
mx=$(sqlite3 "$tmp/ov2.db" 'select max(new_tokens) from sample' 2>/dev/null)
[ "$mx" = 3 ] && ok "--override FILE merges into the suite" || fail "--override FILE" "max new tokens $mx"

# ---- bad input: one line, exit 2, nothing written -------------------------
expect_error() {  # expect_error NAME PATTERN -- ARGS...
  local name="$1" pattern="$2"; shift 3
  rm -f "$tmp/bad.db"
  "$bin" "$@" >"$tmp/o" 2>"$tmp/e"; local rc=$?
  local lines; lines=$(wc -l <"$tmp/e")
  if [ $rc = 2 ] && [ "$lines" = 1 ] && grep -q -- "$pattern" "$tmp/e" && [ ! -e "$tmp/bad.db" ]; then
    ok "$name"
  else
    fail "$name" "rc=$rc lines=$lines db_written=$([ -e "$tmp/bad.db" ] && echo yes || echo no)" "$(head -3 "$tmp/e")"
  fi
}
expect_error "missing suite file" "nosuch.json" -- run "$tmp/nosuch.json" --db "$tmp/bad.db"
printf '{ "name": "x", \n "models": { ,\n' > "$tmp/malformed.json"
expect_error "malformed suite JSON names line" "malformed.json" -- run "$tmp/malformed.json" --db "$tmp/bad.db"
write_suite "$tmp/missing-model.json" "absent.gguf"
expect_error "missing model file" "absent.gguf" -- run "$tmp/missing-model.json" --db "$tmp/bad.db"
echo "this is not a model" > "$tmp/notgguf.gguf"
write_suite "$tmp/notgguf.json" "notgguf.gguf"
expect_error "file that is not GGUF" "not a GGUF file" -- run "$tmp/notgguf.json" --db "$tmp/bad.db"
sed 's/"engine": "ar", "label": "ar-greedy"/"engine": "warp", "label": "ar-greedy"/' "$tmp/suite.json" > "$tmp/badengine.json"
expect_error "unknown engine" "warp" -- run "$tmp/badengine.json" --db "$tmp/bad.db"
sed 's/"top_k": 40/"top_kk": 40/' "$tmp/suite.json" > "$tmp/badparam.json"
expect_error "unknown parameter" "top_kk" -- run "$tmp/badparam.json" --db "$tmp/bad.db"
sed 's/"temp": \[0.7, 1.0\]/"temp": [0.7, 99]/' "$tmp/suite.json" > "$tmp/badrange.json"
expect_error "out-of-range parameter" "temp" -- run "$tmp/badrange.json" --db "$tmp/bad.db"
sed 's/"max_new_tokens": 12/"max_new_tokens": "twelve"/' "$tmp/suite.json" > "$tmp/badtype.json"
expect_error "wrong type names the JSON path" "max_new_tokens" -- run "$tmp/badtype.json" --db "$tmp/bad.db"
sed 's/"warmup": 1/"warmup": 1, "warmpu": 2/' "$tmp/suite.json" > "$tmp/badkey.json"
expect_error "unknown key names the JSON path" "warmpu" -- run "$tmp/badkey.json" --db "$tmp/bad.db"
expect_error "unwritable database path" "/nonexistent-dir/x.db" -- run "$tmp/suite.json" --db /nonexistent-dir/x.db
expect_error "report on a missing database" "nosuch.db" -- report --db "$tmp/nosuch.db"
expect_error "report --columns with an unknown name lists the valid ones" "valid: label, engine" -- report --db "$tmp/r.db" --columns label,speed
expect_error "report --by with an unknown grouping" "param:NAME" -- report --db "$tmp/r.db" --by method
echo "plain text" > "$tmp/text.db"
"$bin" run "$tmp/suite.json" --db "$tmp/text.db" --no-progress >/dev/null 2>"$tmp/e"; rc=$?
[ $rc = 2 ] && [ "$(cat "$tmp/text.db")" = "plain text" ] && ok "a non-database --db file is refused and left intact" \
  || fail "a non-database --db file is refused and left intact" "rc=$rc $(cat "$tmp/e")"
expect_error "bad option" "--frobnicate" -- run --frobnicate
expect_error "unknown command" "frobnicate" -- frobnicate
expect_error "--model for a model the suite lacks" "no model named 'drafty'" -- run "$tmp/suite.json" --model drafty=x.gguf --db "$tmp/bad.db"
expect_error "--override with a missing file" "nosuch-override.json" -- run "$tmp/suite.json" --override "$tmp/nosuch-override.json" --db "$tmp/bad.db"
echo '[1, 2]' > "$tmp/arr.json"
expect_error "--override that is not an object" "expected a JSON object" -- run "$tmp/suite.json" --override "$tmp/arr.json" --db "$tmp/bad.db"

# ---- json2gbnf: a grammar, an unsupported keyword (exit 1), bad input (exit 2) ---
echo '{"type":"object","properties":{"n":{"type":"integer","minimum":1}},"required":["n"]}' > "$tmp/schema.json"
"$bin" json2gbnf "$tmp/schema.json" -o "$tmp/schema.gbnf" 2>"$tmp/e"; rc=$?
# the object's one required key, its value an integer >= 1 (no sign, no
# leading zero), further keys allowed; every rule used is defined
undefined=$(awk -F' ::= ' 'NF > 1 { def[$1] = 1; rhs = rhs " " $2 }
  END { gsub(/"([^"\\]|\\.)*"|\[([^]\\]|\\.)*\]/, " ", rhs); n = split(rhs, w, /[^a-z0-9-]+/)
        for (i = 1; i <= n; i++) if (w[i] ~ /^[a-z]/ && !(w[i] in def)) printf "%s ", w[i] }' "$tmp/schema.gbnf" 2>/dev/null)
[ $rc = 0 ] && grep -qxF 'root ::= "{" space ("\x22n\x22" space ":" space root-n ("," space root-additional-kv)*) "}" space' "$tmp/schema.gbnf" \
  && grep -qxF 'root-n ::= (([1-9]) | [1-9] ([0-9])+) space' "$tmp/schema.gbnf" && [ -z "$undefined" ] \
  && ok "json2gbnf writes the grammar: required key n, integer >= 1, every rule defined" \
  || fail "json2gbnf writes the grammar" "rc=$rc undefined: $undefined" "$(head -2 "$tmp/e" "$tmp/schema.gbnf")"
echo '{"properties":{"tags":{"type":"array","uniqueItems":true}}}' > "$tmp/unique.json"
"$bin" json2gbnf "$tmp/unique.json" -o "$tmp/unique.gbnf" >/dev/null 2>"$tmp/e"; rc=$?
[ $rc = 1 ] && grep -q "keyword 'uniqueItems' at /properties/tags" "$tmp/e" && [ ! -e "$tmp/unique.gbnf" ] \
  && ok "json2gbnf refuses an unenforced keyword (exit 1, nothing written)" \
  || fail "json2gbnf refuses an unenforced keyword" "rc=$rc $(head -2 "$tmp/e")"
expect_error "json2gbnf on a missing schema" "nosuch-schema.json" -- json2gbnf "$tmp/nosuch-schema.json"
expect_error "json2gbnf on malformed JSON" "malformed.json: not valid JSON" -- json2gbnf "$tmp/malformed.json"
# S7 finding 7: this 100-byte schema crashed the converter (a bad free in the oneOf disjointness check)
printf '%s' '{"type":"object","oneOf":[{"properties":{"status":{"enum":{}}},"required":["status"]},{"required":["status"]}]}' > "$tmp/f7.json"
expect_error "json2gbnf on a oneOf branch with a bad enum (S7 finding 7)" "f7.json: 'enum' at /oneOf/0/properties/status is not an array" -- json2gbnf "$tmp/f7.json"

# ---- SIGINT: completed cases and finished samples stay, run marked interrupted --
# the first case is short, the second longer; the signal arrives at an exact
# point, not after a race against the clock: the runner's test hook
# (DECOBENCH_TEST_KILL_AFTER_SAMPLES=N:INT, harness/run/runner.c) raises SIGINT
# right after the N-th stored sample, 3 samples into the second case
for i in $(seq 1 40); do echo "{\"prompt\": \"The story number $i begins\"}"; done > "$tmp/big.jsonl"
cat > "$tmp/long.json" <<JSON
{
  "name": "long", "models": { "target": { "path": "tiny.gguf" } },
  "datasets": { "small": { "path": "prompts.jsonl" }, "big": { "path": "big.jsonl" } },
  "engines": [ { "engine": "ar", "label": "first", "datasets": ["small"] },
               { "engine": "ar", "label": "second", "datasets": ["big"] } ],
  "max_new_tokens": 32, "repetitions": 1, "warmup": 0, "threads": 1
}
JSON
n_small=$(grep -c . "$tmp/prompts.jsonl")
at=$((n_small + 3))
DECOBENCH_TEST_KILL_AFTER_SAMPLES="$at:INT" "$bin" run "$tmp/long.json" --db "$tmp/int.db" --no-progress --format none \
  >/dev/null 2>"$tmp/int.err"
rc=$?
st=$(sqlite3 "$tmp/int.db" 'select status from run' 2>/dev/null)
# the completed case, and the interrupted one with every sample it finished (S7)
nc=$(sqlite3 "$tmp/int.db" 'select group_concat(status, ",") from (select status from "case" order by idx)' 2>/dev/null)
ns=$(sqlite3 "$tmp/int.db" 'select count(*) from sample' 2>/dev/null)
if [ $rc = 130 ] && [ "$st" = interrupted ] && [ "$nc" = "completed,interrupted" ] && [ "$ns" = "$at" ] \
   && grep -q "interrupted: 1/2 cases, $at samples" "$tmp/int.err"; then
  ok "SIGINT: exit 130, run interrupted, the completed case and all $at finished samples kept and counted"
else
  fail "SIGINT: exit 130, run interrupted, the completed case and all $at finished samples kept and counted" \
    "rc=$rc status=$st cases=$nc samples=$ns" "$(tail -2 "$tmp/int.err")"
fi

# ---- every bundled suite runs from a clean clone ----------------------------
# one prompt per dataset, 8 new tokens: each case must complete (suites for
# the user's own models -- spec-bench, jsonschemabench, lexical-commongen --
# need GGUF paths and are checked for that here; tests/user-suites.sh runs
# them on the bundled models given a chat template)
echo '{"max_new_tokens": 8, "repetitions": 1, "warmup": 0}' > "$tmp/short.json"
for s in "$src"/suites/*.json; do
  name=$(basename "$s" .json)
  case $name in
    spec-bench|jsonschemabench|lexical-commongen)
      "$bin" run "$s" --db "$tmp/suite-$name.db" --no-progress --format none >/dev/null 2>"$tmp/suite.err"
      rc=$?
      if [ $rc = 2 ] && grep -q "models/target.gguf" "$tmp/suite.err" && [ ! -e "$tmp/suite-$name.db" ]; then
        ok "suite $name: asks for the user's model (exit 2, nothing written)"
      else
        fail "suite $name: asks for the user's model (exit 2, nothing written)" "rc=$rc $(head -1 "$tmp/suite.err")"
      fi
      continue ;;
  esac
  # spec-wide's target is generated on demand (scripts/make-wide-target.sh);
  # without it the suite runs on the target it pads (the same function;
  # tests/pad-check.sh checks the padding)
  margs=()
  [ "$name" = spec-wide ] && [ ! -e "$src/data/models/target-wide.gguf" ] && margs=(--model "target=$src/data/models/target.gguf")
  "$bin" run "$s" "${margs[@]}" --db "$tmp/suite-$name.db" --limit 1 --override "$tmp/short.json" --no-progress --format none \
    >/dev/null 2>"$tmp/suite.err"
  rc=$?
  # cases: each engine entry x its grid's combinations x its datasets
  want=$(jq '(.datasets | length) as $d | [.engines[] | ((.grid // {}) | [.[] | length] | reduce .[] as $x (1; . * $x))
             * (if .datasets then (.datasets | length) else $d end)] | add' "$s" 2>/dev/null)
  # samples: one per case, but a serving case sends its "requests" when it sets them
  want_samples=$(jq '(.datasets | length) as $d | [.engines[] | ((.grid // {}) | [.[] | length] | reduce .[] as $x (1; . * $x))
             * (if .datasets then (.datasets | length) else $d end) * ((.params // {}).requests // 1)] | add' "$s" 2>/dev/null)
  bad=$(sqlite3 "$tmp/suite-$name.db" 'select count(*) from "case" where status <> "completed"' 2>/dev/null)
  good=$(sqlite3 "$tmp/suite-$name.db" 'select count(*) from "case" where status = "completed"' 2>/dev/null)
  # samples: one per case (--limit 1, 1 repetition, no chat turns); each
  # exactly 8 tokens, or the engine's max_len where smaller, when it stopped
  # at the length limit, 1..that otherwise; as many as its stored token list
  samples=$(sqlite3 "$tmp/suite-$name.db" 'select count(*) from sample' 2>/dev/null)
  sbad=$(sqlite3 "$tmp/suite-$name.db" 'select count(*) from sample s join "case" c on c.id = s.case_id
    where s.turn <> 0 or c.n_prompts <> 1 or json_array_length(s.output_tokens_json) <> s.new_tokens
       or not (s.stop_reason = "length" and s.new_tokens = min(8, coalesce(json_extract(c.params_json, "$.max_len"), 8))
               or s.stop_reason <> "length" and s.new_tokens between 1 and min(8, coalesce(json_extract(c.params_json, "$.max_len"), 8)))' 2>/dev/null)
  if [ $rc = 0 ] && [ "${bad:-1}" = 0 ] && [ "${good:-0}" = "$want" ] && [ "${samples:-0}" = "$want_samples" ] && [ "${sbad:-1}" = 0 ]; then
    ok "suite $name runs ($good cases as the suite defines, one sample each of the expected length)"
  else
    fail "suite $name runs" "rc=$rc completed=$good other=$bad expected=$want samples=$samples (expected $want_samples) wrong-length samples=$sbad" "$(tail -2 "$tmp/suite.err")"
  fi
done

# ---- diffusion: agreement with the one-token-per-step reference ------------
# in report --search: every diffusion case has a reference case, a reference
# case's agreement with itself is exactly 1, the others' lie in [0, 1]
if [ -e "$tmp/suite-diffusion.db" ]; then
  "$bin" report --db "$tmp/suite-diffusion.db" --search --format csv -o "$tmp/agree.csv" 2>"$tmp/agree.err"
  rc=$?
  verdict=$(awk -F, '
    $1 == "table" && $3 == "engine" { for (i = 1; i <= NF; i++) col[$i] = i; next }
    $1 == "quality_vs_budget" && $(col["engine"]) == "diffusion" {
      a = $(col["agreement"]); r = $(col["agreement_reference"]); n++
      if (r == "" || a == "") { bad = bad " " $2 ": no agreement"; next }
      if (r == $2) { self++; if (a != 1 || $(col["exact_match"]) != 1) bad = bad " " $2 ": agreement " a " with itself" }
      else if (a < 0 || a > 1) bad = bad " " $2 ": agreement " a
    }
    END { if (n == 0 || self == 0) bad = bad " no diffusion case or no reference case"; print bad }' "$tmp/agree.csv")
  if [ $rc = 0 ] && [ -z "$verdict" ]; then
    ok "diffusion: agreement 1 for the reference cases, in [0,1] for the others"
  else
    fail "diffusion: agreement 1 for the reference cases, in [0,1] for the others" "rc=$rc$verdict" "$(head -1 "$tmp/agree.err")"
  fi
else
  fail "diffusion: agreement (suite diffusion did not run)"
fi

# ---- list and help ---------------------------------------------------------
# every engine of the registry (engines/registry.c), in its order, each with
# its parameter lines (ar: mode, temp, top_k, top_p, no_repeat_ngram)
(cd "$src" && "$bin" list engines) >"$tmp/list" 2>&1; rc=$?
listed=$(awk '/^  [a-z]/ { printf "%s ", $1 }' "$tmp/list")
registered=$(sed -n 's/^ *&db_engine_\([a-z_]*\),$/\1/p' "$src/engines/registry.c" | tr '_\n' '- ')
arparams=$(awk '/^  ar / { on = 1; next } /^  [a-z]/ { on = 0 } on { printf "%s ", $1 }' "$tmp/list")
[ $rc = 0 ] && [ "$listed" = "$registered" ] && [ "$(wc -w <<< "$registered")" = 21 ] \
  && [ "$arparams" = "mode temp top_k top_p no_repeat_ngram " ] \
  && ok "list shows all 21 registered engines in order, with parameters" \
  || fail "list shows all 21 registered engines in order, with parameters" "listed: $listed" "registered: $registered; ar: $arparams"
# --help: exit 0, nothing on stderr, the usage line, and every long option
# of the command's option table (harness/cli/cmd_*.c) named in the text
for cmd in run report list probe json2gbnf export-lattice compare history merge; do
  "$bin" "$cmd" --help >"$tmp/h" 2>"$tmp/he"; rc=$?
  f="$src/harness/cli/cmd_$(tr - _ <<< "$cmd").c"
  opts=$(awk '/struct option/ { on = 1 } on && /[{] *NULL/ { on = 0 } on' "$f" | sed -n 's/.*{ *"\([a-z0-9-]*\)",.*/\1/p')
  missing=""
  for o in $opts; do grep -q -- "--$o\b" "$tmp/h" || missing="$missing --$o"; done
  [ "$cmd" != list ] || grep -q 'engines|suites|models' "$tmp/h" || missing="$missing engines|suites|models"
  [ $rc = 0 ] && [ ! -s "$tmp/he" ] && head -1 "$tmp/h" | grep -q "^usage: decobench $cmd " && [ -z "$missing" ] \
    && ok "$cmd --help: usage line, its $(wc -w <<< "$opts") long options named" || fail "$cmd --help" "rc=$rc missing:$missing" "$(head -2 "$tmp/h" "$tmp/he")"
done
# --version: the package version of configure.ac and the llama.cpp commit the runs recorded
pkgver=$(sed -n 's/^AC_INIT(\[decobench\], \[\([^]]*\)\].*/\1/p' "$src/configure.ac")
"$bin" --version >"$tmp/v" 2>&1
[ -n "$pkgver" ] && [ "${#commit}" = 40 ] && grep -qx "decobench $pkgver (revision [0-9a-f]*\(-dirty\)\?, llama.cpp $commit)" "$tmp/v" \
  && ok "--version names the version ($pkgver) and the llama.cpp commit ($commit)" || fail "--version" "$(cat "$tmp/v")" "version $pkgver commit $commit"

finish
