#!/usr/bin/env bash
# shard-check.sh — `decobench run --shard I/N` and the merge of shards
# (harness/run/shard.h, harness/run/store_merge.c) on the bundled models,
# without a cluster (tests/slurm-check.sh does the same through Slurm):
#   - 4 shards of a suite (ar, spec, pld; two datasets; a chat dataset with
#     several turns; 2 repetitions) merged give exactly the single-process
#     run: one run, completed, the same cases, the same sample keys, every
#     output token identical, no duplicates
#   - every shard records its index, N and group; the plan balances cost
#   - a missing shard is named by merge (exit 1, run interrupted) and the
#     run completes when it arrives; a shard merged twice adds nothing
#   - a killed shard resumes as the same shard (--resume) and still merges
#     to the single-process result
#   - shards of another launch (another group) do not mix with these
# Ends with "N passed, N failed".
set -u
src="${DB_SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}"
build="$(cd "${DB_BUILDDIR:-$src}" && pwd)"
src="$(cd "$src" && pwd)"
bin="$build/decobench"
. "$src/tests/lib.sh"
command -v sqlite3 >/dev/null || { skip "shard-check" "sqlite3 is not installed"; finish; }
tmp="$(mktemp -d /tmp/decobench-shard.XXXXXX)"
trap 'rm -rf "$tmp"' EXIT
models="$src/data/models"

head -n 5 "$src/data/prompts/prose.jsonl" > "$tmp/prose.jsonl"
head -n 3 "$src/data/prompts/code.jsonl" > "$tmp/code.jsonl"
cat > "$tmp/chat.jsonl" <<'EOF'
{"question_id": 1, "turns": ["Tell me about the river.", "And the bridge?"]}
{"question_id": 2, "turns": ["Describe a city at night.", "Now in the morning.", "And at noon."]}
EOF
# the bundled target and draft given a chat template (the chat dataset's turns)
for m in target draft; do
  "$build/decobench-mkmodel" --from "$models/$m.gguf" --chat-template chatml --out "$tmp/$m.gguf" > /dev/null 2>&1 ||
    { fail "mkmodel --from $m.gguf --chat-template chatml"; finish; }
done
cat > "$tmp/suite.json" <<EOF
{
  "name": "shards",
  "models": {
    "target": { "path": "$tmp/target.gguf", "n_ctx": 512 },
    "draft": { "path": "$tmp/draft.gguf", "n_ctx": 512 }
  },
  "datasets": {
    "prose": { "path": "$tmp/prose.jsonl" },
    "code": { "path": "$tmp/code.jsonl" },
    "chat": { "path": "$tmp/chat.jsonl", "chat": true }
  },
  "engines": [
    { "engine": "ar", "label": "ar" },
    { "engine": "spec", "label": "spec", "draft": "draft", "params": { "k": 4 }, "datasets": ["prose", "code"] },
    { "engine": "pld", "label": "pld", "datasets": ["code"] }
  ],
  "max_new_tokens": 16,
  "repetitions": 2,
  "warmup": 0,
  "threads": 1
}
EOF
"$bin" run "$tmp/suite.json" --db "$tmp/single.db" --format none --no-progress > /dev/null 2> "$tmp/single.err" ||
  { fail "the single-process run" "$(tail -3 "$tmp/single.err")"; finish; }
n_single="$(q "$tmp/single.db" "SELECT COUNT(*) FROM sample")"
n_turns="$(q "$tmp/single.db" "SELECT COUNT(*) FROM sample WHERE turn > 0")"
[ "$n_turns" = 6 ] && ok "the single-process run: $n_single samples, $n_turns of them later turns of chat prompts" ||
  fail "the single-process run" "$n_single samples, $n_turns later turns (6 expected)"

for i in 0 1 2 3; do
  "$bin" run "$tmp/suite.json" --db "$tmp/s$i.db" --shard "$i/4" --shard-group launch-1 --format none -v \
    > /dev/null 2> "$tmp/s$i.err" || fail "shard $i/4" "$(tail -3 "$tmp/s$i.err")"
done
rec="$(for i in 0 1 2 3; do q "$tmp/s$i.db" "SELECT shard_index || '/' || shard_count || ':' || shard_group FROM run"; done | tr '\n' ' ')"
[ "$rec" = "0/4:launch-1 1/4:launch-1 2/4:launch-1 3/4:launch-1 " ] && ok "each shard records its index, N and group ($rec)" ||
  fail "shard records" "$rec"
counts="$(for i in 0 1 2 3; do q "$tmp/s$i.db" "SELECT COUNT(*) FROM sample"; done | tr '\n' ' ')"
sum=0; for c in $counts; do sum=$((sum + c)); done
costs="$(grep -ho '[0-9.]*% of the expected cost' "$tmp"/s?.err | cut -d% -f1 | tr '\n' ' ')"
if [ "$sum" = "$n_single" ] && python3 -c "import sys; c = [float(x) for x in sys.argv[1:]]; sys.exit(0 if len(c) == 4 and max(c) - min(c) < 12 else 1)" $costs; then
  ok "the shards split the $n_single samples ($counts) with balanced expected cost (% per shard: $costs)"
else fail "shard split" "samples $counts (sum $sum, single $n_single), cost % $costs"; fi

"$bin" merge "$tmp/s0.db" "$tmp/s1.db" "$tmp/s2.db" "$tmp/s3.db" -o "$tmp/all.db" > "$tmp/merge.out" 2> "$tmp/merge.err"
mrc=$?
runs="$(q "$tmp/all.db" "SELECT COUNT(*) || ' ' || MIN(status) || ' ' || COALESCE(MIN(shard_index), 'NULL') || ' ' || MIN(shard_count) FROM run")"
if [ "$mrc" = 0 ] && [ "$runs" = "1 completed NULL 4" ] && grep -q "shards 0,1,2,3 of 4" "$tmp/merge.err"; then
  ok "merge of the 4 shards: one run, completed, all 4 shards ($(head -1 "$tmp/merge.err"))"
else fail "merge of 4 shards" "rc=$mrc runs: $runs" "$(cat "$tmp/merge.out" "$tmp/merge.err")"; fi

# the merged run equals the single-process run, key by key
keys() {
  q "$1" "SELECT c.label || '|' || c.dataset || '|' || s.prompt_idx || '|' || s.rep || '|' || s.turn || '|' || s.output_tokens_json
          FROM sample s JOIN \"case\" c ON c.id = s.case_id ORDER BY 1"
}
keys "$tmp/single.db" > "$tmp/single.keys"
keys "$tmp/all.db" > "$tmp/all.keys"
cases_s="$(q "$tmp/single.db" "SELECT COUNT(*) FROM \"case\"")" cases_a="$(q "$tmp/all.db" "SELECT COUNT(*) FROM \"case\"")"
dups="$(q "$tmp/all.db" "SELECT COUNT(*) FROM (SELECT case_id, prompt_idx, rep, turn FROM sample GROUP BY 1, 2, 3, 4 HAVING COUNT(*) > 1)")"
if cmp -s "$tmp/single.keys" "$tmp/all.keys" && [ "$cases_s" = "$cases_a" ] && [ "$dups" = 0 ]; then
  ok "merged = single process: $cases_a cases, $(wc -l < "$tmp/all.keys") samples, every output token identical, no duplicate key"
else fail "merged vs single" "cases $cases_s vs $cases_a, duplicates $dups" "$(diff "$tmp/single.keys" "$tmp/all.keys" | head -4)"; fi
idn="$(q "$tmp/all.db" "SELECT SUM(n_identical) || '/' || SUM(n_compared) FROM identity")"
ids="$(q "$tmp/single.db" "SELECT SUM(n_identical) || '/' || SUM(n_compared) FROM identity")"
[ "$idn" = "$ids" ] && ok "the merged run's identity check covers all its samples ($idn, as the single run)" ||
  fail "identity after merge" "merged $idn, single $ids"
"$bin" report --db "$tmp/all.db" --format csv > "$tmp/report.csv" 2> "$tmp/report.err" &&
  [ "$(grep -c '^' "$tmp/report.csv")" -gt "$cases_a" ] && ok "report of the merged run" || fail "report" "$(cat "$tmp/report.err")"

# a missing shard is named; it completes the run when it arrives; twice adds nothing
"$bin" merge "$tmp/s0.db" "$tmp/s1.db" "$tmp/s3.db" -o "$tmp/part.db" > /dev/null 2> "$tmp/part.err"
prc=$?
pst="$(q "$tmp/part.db" "SELECT status FROM run")"
if [ "$prc" = 1 ] && grep -q "shards 0,1,3 of 4; missing: 2" "$tmp/part.err" && [ "$pst" = interrupted ]; then
  ok "a missing shard: merge names it (exit 1), the run is interrupted"
else fail "missing shard" "rc=$prc status=$pst" "$(cat "$tmp/part.err")"; fi
"$bin" merge "$tmp/s2.db" "$tmp/s1.db" -o "$tmp/part.db" > "$tmp/part2.out" 2> "$tmp/part2.err"
prc=$?
keys "$tmp/part.db" > "$tmp/part.keys"
if [ "$prc" = 0 ] && [ "$(q "$tmp/part.db" "SELECT status FROM run")" = completed ] && cmp -s "$tmp/single.keys" "$tmp/part.keys"; then
  ok "the missing shard merged later completes the run; shard 1 merged again adds nothing"
else fail "late shard" "rc=$prc $(cat "$tmp/part2.out" "$tmp/part2.err")"; fi

# a killed shard resumes as the same shard
DECOBENCH_TEST_KILL_AFTER_SAMPLES=3 "$bin" run "$tmp/suite.json" --db "$tmp/k1.db" --shard 1/4 --shard-group launch-1 \
  --format none > /dev/null 2>&1
kst="$(q "$tmp/k1.db" "SELECT status || ' ' || shard_index FROM run")"
"$bin" run --resume 1 --db "$tmp/k1.db" --format none > /dev/null 2> "$tmp/k1.err"
krc=$?
"$bin" merge "$tmp/s0.db" "$tmp/k1.db" "$tmp/s2.db" "$tmp/s3.db" -o "$tmp/allk.db" > /dev/null 2>&1
keys "$tmp/allk.db" > "$tmp/allk.keys"
if [ "$krc" = 0 ] && cmp -s "$tmp/single.keys" "$tmp/allk.keys" &&
   [ "$(q "$tmp/k1.db" "SELECT status || ' ' || shard_index || '/' || shard_count FROM run")" = "completed 1/4" ]; then
  ok "a shard killed after 3 samples ($kst) resumes as shard 1/4 and merges to the single-process result"
else fail "resumed shard" "rc=$krc before: $kst" "$(tail -2 "$tmp/k1.err")"; fi

# another launch's shard stays apart
"$bin" run "$tmp/suite.json" --db "$tmp/other.db" --shard 0/4 --shard-group launch-2 --format none > /dev/null 2>&1
"$bin" merge "$tmp/other.db" -o "$tmp/all.db" > /dev/null 2> "$tmp/other.err"
orc=$?
launch1="$(q "$tmp/all.db" "SELECT c.label || '|' || c.dataset || '|' || s.prompt_idx || '|' || s.rep || '|' || s.turn || '|' || s.output_tokens_json
          FROM sample s JOIN \"case\" c ON c.id = s.case_id JOIN run r ON r.id = c.run_id WHERE r.shard_group = 'launch-1' ORDER BY 1")"
if [ "$orc" = 1 ] && [ "$(q "$tmp/all.db" "SELECT COUNT(*) FROM run")" = 2 ] && [ "$launch1" = "$(cat "$tmp/single.keys")" ] &&
   grep -q "shards 0 of 4; missing: 1,2,3" "$tmp/other.err"; then
  ok "a shard of another launch (group launch-2) makes its own run, named as missing 3 shards"
else fail "other launch" "rc=$orc runs $(q "$tmp/all.db" "SELECT COUNT(*) FROM run")" "$(cat "$tmp/other.err")"; fi

# threads follow the CPUs the scheduler gave (an affinity mask, as Slurm's
# task/affinity sets): "threads": 0 means the allowed physical cores, recorded
if command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ]; then
  sed 's/"threads": 1/"threads": 0/' "$tmp/suite.json" > "$tmp/suite0.json"
  taskset -c 0 "$bin" run "$tmp/suite0.json" --db "$tmp/aff.db" --limit 1 --format none > /dev/null 2>&1
  th="$(q "$tmp/aff.db" "SELECT threads FROM run")"
  [ "$th" = 1 ] && ok "under an affinity mask of one CPU the run uses and records 1 thread" || fail "threads under taskset" "recorded $th"
else
  skip "threads under taskset" "taskset missing or one CPU"
fi

# bad --shard values: one line, exit 2, nothing written
for v in 4/4 a/b 1/0 -1/4 2 1/4x; do
  "$bin" run "$tmp/suite.json" --db "$tmp/bad.db" --shard "$v" > /dev/null 2> "$tmp/bad.err"
  brc=$?
  if [ "$brc" = 2 ] && [ "$(wc -l < "$tmp/bad.err")" = 1 ] && grep -q -- "--shard: expected I/N" "$tmp/bad.err" && [ ! -e "$tmp/bad.db" ]; then :
  else fail "--shard $v" "rc=$brc $(cat "$tmp/bad.err")"; fi
done
ok "bad --shard values (4/4 a/b 1/0 -1/4 2 1/4x): one line, exit 2, nothing written"
finish
