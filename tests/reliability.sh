#!/usr/bin/env bash
# reliability.sh — the run lifecycle end to end (S7 findings 3-6), short
# enough for CI: a run killed with SIGKILL right after its N-th stored sample
# (for a few N) keeps exactly N samples and `run --resume` completes it with
# the same sample set and the same tokens as an uninterrupted run (also for
# a multi-turn chat dataset killed between turns); a resume of a changed suite or dataset is refused; SIGTERM, SIGHUP and SIGINT mark
# the run interrupted and keep what was stored, and the summary line counts
# exactly that; `report` does not take a crashed run for the latest without
# saying so; four runs starting on one new database all complete.
#
# Kill points are exact, not timed: DECOBENCH_TEST_KILL_AFTER_SAMPLES=N[:SIG]
# makes decobench raise SIG after the N-th sample it stored (harness/run/runner.c).
# The model is the analytic "exact" backend, so the whole script takes seconds.
# bench/reliability.sh is the longer campaign (random kill points, kill -9
# from outside).  Ends with "N passed, N failed".
set -u
src="${DB_SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}"
build="${DB_BUILDDIR:-$src}"
bin="$build/decobench"
tmp="$(mktemp -d /tmp/decobench-rel.XXXXXX)"
trap 'rm -rf "$tmp"' EXIT
. "$src/tests/lib.sh"
# kill points (samples stored before the kill); CI runs this short slice
KILL_POINTS="${DB_REL_KILL_POINTS:-1 5 8 9 15}"

for i in 1 2 3 4; do echo "{\"id\": \"q$i\", \"prompt\": \"the cat sat on mat number $i\"}"; done > "$tmp/p.jsonl"
cat > "$tmp/suite.json" <<'JSON'
{
  "name": "reliability",
  "models": { "target": { "backend": "exact", "spec": "vocab=64,order=2,seed=5,sharpness=1.5" } },
  "datasets": { "d": { "path": "p.jsonl" } },
  "engines": [
    { "engine": "ar", "label": "greedy", "params": { "mode": "greedy" } },
    { "engine": "ar", "label": "sampled", "params": { "mode": "sample", "temp": 0.9 } }
  ],
  "max_new_tokens": 8, "repetitions": 2, "warmup": 1, "seeds": [11, 12], "threads": 1
}
JSON
TOTAL=16   # 2 cases x 4 prompts x 2 repetitions

q() { sqlite3 "$1" "$2" 2>/dev/null; }
# every sample as "label|prompt|rep|turn|seed|tokens", sorted
sample_set() {
  q "$1" "select c.label || '|' || s.prompt_idx || '|' || s.rep || '|' || s.turn || '|' || s.seed || '|' || s.output_tokens_json
          from sample s join \"case\" c on c.id = s.case_id where c.run_id = ${2:-1} order by 1"
}
dups() { q "$1" "select count(*) - count(distinct case_id || '/' || prompt_idx || '/' || rep || '/' || turn) from sample"; }

# ---- the uninterrupted reference --------------------------------------------
"$bin" run "$tmp/suite.json" --db "$tmp/ref.db" --no-progress --format none >/dev/null 2>"$tmp/ref.err"
rc=$?
n=$(q "$tmp/ref.db" "select count(*) from sample")
if [ $rc = 0 ] && [ "$n" = $TOTAL ]; then ok "reference run: $TOTAL samples"
else fail "reference run: $TOTAL samples" "rc=$rc samples=$n" "$(tail -2 "$tmp/ref.err")"; finish; fi
sample_set "$tmp/ref.db" > "$tmp/ref.set"

# ---- kill -9 after N stored samples, then resume -----------------------------
for k in $KILL_POINTS; do
  db="$tmp/kill$k.db"
  { DECOBENCH_TEST_KILL_AFTER_SAMPLES=$k "$bin" run "$tmp/suite.json" --db "$db" --no-progress --format none \
    >/dev/null 2>"$tmp/kill.err"; } 2>/dev/null   # no "Killed" line from bash
  rc=$?
  n=$(q "$db" "select count(*) from sample")
  st=$(q "$db" "select status from run")
  if [ $rc = 137 ] && [ "$n" = "$k" ] && [ "$st" = running ]; then
    ok "kill -9 after sample $k: all $k finished samples kept"
  else
    fail "kill -9 after sample $k: all $k finished samples kept" "rc=$rc samples=$n status=$st"
  fi
  "$bin" run --resume 1 --db "$db" --no-progress --format none >/dev/null 2>"$tmp/resume.err"
  rc=$?
  sample_set "$db" > "$tmp/got.set"
  st=$(q "$db" "select status || ' resumed=' || resumed from run")
  integ=$(q "$db" "pragma integrity_check")
  if [ $rc = 0 ] && [ "$st" = "completed resumed=1" ] && [ "$(dups "$db")" = 0 ] && [ "$integ" = ok ] \
     && cmp -s "$tmp/ref.set" "$tmp/got.set"; then
    ok "resume after kill at $k: completed, same $TOTAL samples and tokens as the uninterrupted run, no duplicates"
  else
    fail "resume after kill at $k: completed, same samples as the uninterrupted run" \
      "rc=$rc status=$st duplicates=$(dups "$db") integrity=$integ" \
      "$(diff "$tmp/ref.set" "$tmp/got.set" | head -3)" "$(tail -2 "$tmp/resume.err")"
  fi
done

# killed twice (the resumed run killed again), then resumed to the end
db="$tmp/twice.db"
{ DECOBENCH_TEST_KILL_AFTER_SAMPLES=3 "$bin" run "$tmp/suite.json" --db "$db" --no-progress --format none >/dev/null 2>&1; } 2>/dev/null
{ DECOBENCH_TEST_KILL_AFTER_SAMPLES=6 "$bin" run --resume 1 --db "$db" --no-progress --format none >/dev/null 2>&1; } 2>/dev/null
rc1=$?
n=$(q "$db" "select count(*) from sample")
"$bin" run --resume 1 --db "$db" --no-progress --format none >/dev/null 2>"$tmp/resume.err"
rc=$?
sample_set "$db" > "$tmp/got.set"
st=$(q "$db" "select status || ' resumed=' || resumed from run")
if [ $rc1 = 137 ] && [ "$n" = 9 ] && [ $rc = 0 ] && [ "$st" = "completed resumed=2" ] && cmp -s "$tmp/ref.set" "$tmp/got.set"; then
  ok "killed twice (3, then 6 more samples), resumed twice: the uninterrupted run's samples"
else
  fail "killed twice, resumed twice" "rc1=$rc1 samples after 2nd kill=$n rc=$rc status=$st" "$(tail -2 "$tmp/resume.err")"
fi

# ---- what readers make of a crashed run ----------------------------------------
db="$tmp/report.db"
"$bin" run "$tmp/suite.json" --db "$db" --no-progress --format none >/dev/null 2>&1
{ DECOBENCH_TEST_KILL_AFTER_SAMPLES=2 "$bin" run "$tmp/suite.json" --db "$db" --no-progress --format none >/dev/null 2>&1; } 2>/dev/null
"$bin" report --db "$db" --format csv >"$tmp/rep.out" 2>"$tmp/rep.err"
rc=$?
st=$(q "$db" "select group_concat(id || ':' || status, ' ') from run")
if [ $rc = 0 ] && grep -q "showing run 1, the latest that ended; newer run 2 (crashed" "$tmp/rep.err" \
   && [ "$st" = "1:completed 2:crashed" ]; then
  ok "report: the crashed run is marked crashed, the latest completed run shown, with a note"
else
  fail "report: the crashed run is marked crashed, the latest completed run shown, with a note" \
    "rc=$rc runs=$st" "$(head -2 "$tmp/rep.err")"
fi
"$bin" report --db "$db" --run 2 --format md >"$tmp/rep.out" 2>"$tmp/rep.err"
grep -q "run 2 is crashed: its results are incomplete" "$tmp/rep.err" && grep -q "status: crashed" "$tmp/rep.out" \
  && ok "report --run of the crashed run flags it" \
  || fail "report --run of the crashed run flags it" "$(head -2 "$tmp/rep.err")"
"$bin" compare 1 2 --db "$db" >/dev/null 2>"$tmp/cmp.err"
grep -q "note: new .*run 2 is crashed" "$tmp/cmp.err" && ok "compare flags an incomplete run" \
  || fail "compare flags an incomplete run" "$(head -2 "$tmp/cmp.err")"
"$bin" history --db "$db" --metric tokens_per_s --format csv >"$tmp/hist.out" 2>"$tmp/hist.err"
runs_in_history=$(awk -F, 'NR > 1 { print $4 }' "$tmp/hist.out" | sort -u | tr '\n' ' ')
if [ "$runs_in_history" = "1 " ]; then ok "history leaves the crashed run out"
else fail "history leaves the crashed run out" "runs: $runs_in_history" "$(head -3 "$tmp/hist.out")"; fi

# ---- resume refusals: one line, exit 2, the run untouched --------------------
expect_refusal() {  # expect_refusal NAME PATTERN DB -- ARGS...
  local name="$1" pattern="$2" db="$3"; shift 4
  local before after
  before=$(q "$db" "select status || resumed || (select count(*) from sample) from run order by id desc limit 1")
  "$bin" "$@" >/dev/null 2>"$tmp/e"; local rc=$?
  after=$(q "$db" "select status || resumed || (select count(*) from sample) from run order by id desc limit 1")
  if [ $rc = 2 ] && [ "$(wc -l <"$tmp/e")" = 1 ] && grep -q -- "$pattern" "$tmp/e" && [ "$before" = "$after" ]; then
    ok "$name"
  else
    fail "$name" "rc=$rc before=$before after=$after" "$(head -2 "$tmp/e")"
  fi
}
db="$tmp/refuse.db"
cp "$tmp/suite.json" "$tmp/suite2.json"
{ DECOBENCH_TEST_KILL_AFTER_SAMPLES=4 "$bin" run "$tmp/suite2.json" --db "$db" --no-progress --format none >/dev/null 2>&1; } 2>/dev/null
"$bin" report --db "$db" >/dev/null 2>&1   # a reader marks the killed run crashed
[ "$(q "$db" "select status from run")" = crashed ] && ok "a reader marks the killed run crashed" \
  || fail "a reader marks the killed run crashed" "status=$(q "$db" "select status from run")"
sed -i 's/"max_new_tokens": 8/"max_new_tokens": 9/' "$tmp/suite2.json"
expect_refusal "resume refuses a changed suite file" "the suite file changed since the run started" "$db" \
  -- run --resume 1 --db "$db" --no-progress
cp "$tmp/suite.json" "$tmp/suite2.json"
cp "$tmp/p.jsonl" "$tmp/p.orig"
echo '{"id": "q5", "prompt": "one more"}' >> "$tmp/p.jsonl"
expect_refusal "resume refuses a changed dataset file" "a dataset or model file changed" "$db" \
  -- run --resume 1 --db "$db" --no-progress
cp "$tmp/p.orig" "$tmp/p.jsonl"
expect_refusal "resume refuses a run id that does not exist" "no run with id 7" "$db" -- run --resume 7 --db "$db"
expect_refusal "resume takes no suite" "not allowed with it" "$db" -- run "$tmp/suite.json" --resume 1 --db "$db"
"$bin" run --resume 1 --db "$db" --no-progress --format none >/dev/null 2>&1 \
  && ok "resume after the files are restored completes" || fail "resume after the files are restored completes"
expect_refusal "resume refuses a completed run" "run 1 is completed; only an interrupted or crashed run" "$db" \
  -- run --resume 1 --db "$db"

# ---- SIGTERM, SIGHUP, SIGINT: run marked interrupted, samples kept ------------
for sig in TERM HUP INT; do
  db="$tmp/sig$sig.db"
  DECOBENCH_TEST_KILL_AFTER_SAMPLES=5:$sig "$bin" run "$tmp/suite.json" --db "$db" --no-progress --format none \
    >/dev/null 2>"$tmp/sig.err"
  rc=$?
  want=$((128 + $(kill -l $sig)))
  st=$(q "$db" "select status from run")
  n=$(q "$db" "select count(*) from sample")
  cs=$(q "$db" "select group_concat(status, ',') from \"case\"")
  if [ $rc = $want ] && [ "$st" = interrupted ] && [ "$n" = 5 ] && [ "$cs" = "interrupted" ] \
     && grep -q "run 1 interrupted: 0/2 cases, 5 samples" "$tmp/sig.err"; then
    ok "SIG$sig after 5 samples: exit $want, run interrupted, 5 samples kept and counted"
  else
    fail "SIG$sig after 5 samples: exit $want, run interrupted, 5 samples kept and counted" \
      "rc=$rc status=$st samples=$n cases=$cs" "$(tail -1 "$tmp/sig.err")"
  fi
  "$bin" run --resume 1 --db "$db" --no-progress --format none >/dev/null 2>&1
  sample_set "$db" > "$tmp/got.set"
  cmp -s "$tmp/ref.set" "$tmp/got.set" && ok "SIG$sig: resumed to the uninterrupted run's samples" \
    || fail "SIG$sig: resumed to the uninterrupted run's samples"
done

# ---- multi-turn chat: a conversation killed between its turns ---------------
# the resumed run must answer the remaining turns with the stored earlier
# answers in context (runner.c run_case), giving the uninterrupted run's
# samples: the same tokens and the same prompt lengths turn by turn
if [ -x "$build/decobench-mkmodel" ] \
   && "$build/decobench-mkmodel" --out "$tmp/chat.gguf" --n-embd 32 --n-layer 1 --seed 4 --chat-template chatml >/dev/null 2>&1; then
  cat > "$tmp/turns.jsonl" <<'JSONL'
{"question_id": 1, "category": "writing", "turns": ["Write a line about the sea.", "Now make it rhyme.", "Shorter."]}
{"question_id": 2, "category": "qa", "turns": ["What is a river?", "And a lake?"]}
{"question_id": 3, "category": "qa", "turns": ["Name a colour."]}
JSONL
  cat > "$tmp/chat.json" <<'JSON'
{
  "name": "chat-resume", "models": { "target": { "path": "chat.gguf" } },
  "datasets": { "mt": { "path": "turns.jsonl", "chat": true } },
  "engines": [ { "engine": "ar", "label": "greedy", "params": { "mode": "greedy" } } ],
  "max_new_tokens": 6, "repetitions": 2, "warmup": 0, "threads": 1
}
JSON
  chat_set() {
    q "$1" "select s.prompt_idx || '|' || s.rep || '|' || s.turn || '|' || s.n_prompt_tokens || '|' || s.output_tokens_json
            from sample s order by 1"
  }
  "$bin" run "$tmp/chat.json" --db "$tmp/chat-ref.db" --no-progress --format none >/dev/null 2>"$tmp/chat.err"
  chat_set "$tmp/chat-ref.db" > "$tmp/chat-ref.set"
  nref=$(wc -l < "$tmp/chat-ref.set")
  if [ "$nref" = 12 ]; then
    ok "chat reference run: 12 samples (6 turns x 2 repetitions)"
  else
    fail "chat reference run: 12 samples" "samples=$nref" "$(tail -2 "$tmp/chat.err")"
  fi
  # after 1 sample: turn 0 of the first conversation stored, turns 1-2 to come;
  # after 4: inside the second conversation
  for k in 1 4; do
    db="$tmp/chat-kill$k.db"
    { DECOBENCH_TEST_KILL_AFTER_SAMPLES=$k "$bin" run "$tmp/chat.json" --db "$db" --no-progress --format none \
      >/dev/null 2>&1; } 2>/dev/null
    n=$(q "$db" "select count(*) from sample")
    "$bin" run --resume 1 --db "$db" --no-progress --format none >/dev/null 2>"$tmp/resume.err"
    rc=$?
    chat_set "$db" > "$tmp/chat-got.set"
    if [ "$n" = "$k" ] && [ $rc = 0 ] && [ "$(dups "$db")" = 0 ] && cmp -s "$tmp/chat-ref.set" "$tmp/chat-got.set"; then
      ok "chat killed after sample $k (between turns), resumed: the uninterrupted run's turns, tokens and prompt lengths"
    else
      fail "chat killed after sample $k, resumed" "kept=$n rc=$rc duplicates=$(dups "$db")" \
        "$(diff "$tmp/chat-ref.set" "$tmp/chat-got.set" | head -3)" "$(tail -2 "$tmp/resume.err")"
    fi
  done
else
  fail "chat resume: decobench-mkmodel builds a model with a chat template"
fi

# ---- four runs starting together on one new database --------------------------
db="$tmp/four.db"
pids=""
for w in 1 2 3 4; do
  "$bin" run "$tmp/suite.json" --db "$db" --no-progress --format none >/dev/null 2>"$tmp/w$w.err" &
  pids="$pids $!"
done
bad=0
for p in $pids; do wait "$p" || bad=$((bad + 1)); done
st=$(q "$db" "select count(*) from run where status = 'completed'")
nm=$(q "$db" "select count(*) from machine")
n=$(q "$db" "select count(*) from sample")
if [ $bad = 0 ] && [ "$st" = 4 ] && [ "$nm" = 1 ] && [ "$n" = $((4 * TOTAL)) ] && [ "$(q "$db" "pragma integrity_check")" = ok ]; then
  ok "4 concurrent writers on a new database: 4 runs completed, 1 machine, $((4 * TOTAL)) samples"
else
  fail "4 concurrent writers on a new database" "failed=$bad completed=$st machines=$nm samples=$n" \
    "$(cat "$tmp"/w?.err | head -3)"
fi

finish
