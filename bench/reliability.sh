#!/usr/bin/env bash
# reliability.sh — the run-lifecycle campaign behind the README's
# "Reliability" figures (issue S7), rerunnable by anyone:
#
#  1. kill -9 at --kills random points of one run, resuming after each kill
#     (`decobench run --resume`), half of them at an exact random sample
#     count (DECOBENCH_TEST_KILL_AFTER_SAMPLES=N: SIGKILL right after the N-th
#     stored sample, so "finished samples lost" is counted exactly) and half
#     from outside after a random delay (lands mid-sample or mid-commit);
#     then the final sample set is compared with an uninterrupted run of the
#     same suite: same keys and counts, the same tokens for every greedy
#     sample (and every sampled one: seeds depend on the sample key only),
#     no duplicates, PRAGMA integrity_check ok;
#  2. SIGTERM, SIGHUP and SIGINT from outside during a run: exit 128+signal,
#     run marked interrupted, samples kept, the summary line's count equal to
#     the samples stored, and the run resumed to completion;
#  3. --writers processes starting runs on one new database at once, for
#     --rounds rounds: every run completes.
#
# Prints one table.  The suite: the bundled target with ar greedy, ar
# sampling and spec (draft-distilled, k=4), --prompts smoke prompts, 2
# repetitions, 16 new tokens (a few minutes on 2 cores).
#
# Usage: bench/reliability.sh [--kills 20] [--prompts 6] [--writers 4] [--rounds 3] [--seed N]
#   DB_BUILDDIR (default ./build) holds the decobench binary.
set -uo pipefail
cd "$(dirname "$0")/.."
root="$(pwd)"
bin="${DB_BUILDDIR:-$root/build}/decobench"
kills=20 n_prompts=6 writers=4 rounds=3 seed=$$
while [ $# -gt 0 ]; do
  case "$1" in
    --kills) kills="$2"; shift 2 ;;
    --prompts) n_prompts="$2"; shift 2 ;;
    --writers) writers="$2"; shift 2 ;;
    --rounds) rounds="$2"; shift 2 ;;
    --seed) seed="$2"; shift 2 ;;
    -h|--help) sed -n '2,/^set -uo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench/reliability.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
done
[ -x "$bin" ] || { echo "bench/reliability.sh: $bin: not built (set DB_BUILDDIR)" >&2; exit 2; }
RANDOM=$seed
tmp="$(mktemp -d /tmp/decobench-reliability.XXXXXX)"
trap 'rm -rf "$tmp"' EXIT

cat > "$tmp/suite.json" <<JSON
{
  "name": "reliability",
  "models": { "target": { "path": "$root/data/models/target.gguf", "n_ctx": 256 },
              "draft": { "path": "$root/data/models/draft-distilled.gguf", "n_ctx": 256 } },
  "datasets": { "smoke": { "path": "$root/data/prompts/smoke.jsonl", "limit": $n_prompts } },
  "engines": [
    { "engine": "ar", "label": "ar-greedy", "params": { "mode": "greedy" } },
    { "engine": "ar", "label": "ar-sample", "params": { "mode": "sample", "temp": 0.8, "top_k": 40 } },
    { "engine": "spec", "label": "spec-k4", "draft": "draft", "params": { "k": 4 } }
  ],
  "max_new_tokens": 16, "repetitions": 2, "warmup": 1, "seeds": [1, 2], "threads": 1, "stop_at_eog": false
}
JSON
q() { sqlite3 "$1" "$2" 2>/dev/null; }
sample_set() {   # label|prompt|rep|turn|seed|tokens per sample, sorted
  q "$1" "select c.label || '|' || s.prompt_idx || '|' || s.rep || '|' || s.turn || '|' || s.seed || '|' || s.output_tokens_json
          from sample s join \"case\" c on c.id = s.case_id order by 1"
}
nsamples() { q "$1" "select count(*) from sample"; }
run() { "$bin" run "$@" --no-progress --format none; }
# in the background: $! is decobench itself (a backgrounded function would be a subshell)
run_bg() { "$bin" run "$@" --no-progress --format none & }

t_start=$(date +%s)
# ---- the uninterrupted reference --------------------------------------------------
t0=$(date +%s.%N)
run "$tmp/suite.json" --db "$tmp/ref.db" >/dev/null 2>"$tmp/ref.err" \
  || { echo "reference run failed: $(tail -1 "$tmp/ref.err")" >&2; exit 1; }
t_ref=$(echo "$(date +%s.%N) - $t0" | bc)
total=$(nsamples "$tmp/ref.db")
sample_set "$tmp/ref.db" > "$tmp/ref.set"

# ---- 1. kill -9 at random points, resume after each ---------------------------------
# chains: one run killed again and again (resumed after each kill) until
# little is left, then resumed to the end and compared; new chains until
# --kills kills have landed
lost=0 hook_kills=0 ext_kills=0 ext_misses=0 ext_early=0 chains=0 final_bad=0 resumes=0
missing=0 extra=0 dups=0 tok_diff_greedy=0 tok_diff_all=0 n_greedy=0 n_compared=0 integ_bad=0
n_greedy_ref=$(grep -cE '^(ar-greedy|spec-k4)\|' "$tmp/ref.set")
tries=0
while [ $((hook_kills + ext_kills)) -lt "$kills" ] && [ $tries -lt $((kills * 6)) ]; do
  chains=$((chains + 1))
  db="$tmp/kill$chains.db"
  while [ $((hook_kills + ext_kills)) -lt "$kills" ] && [ $tries -lt $((kills * 6)) ]; do
    tries=$((tries + 1))
    have=$( [ -e "$db" ] && nsamples "$db" || echo 0 )
    left=$((total - ${have:-0}))
    [ $left -ge 2 ] || break   # too little left to kill in: finish below
    # a new run until the database holds its row (a kill may land before that)
    if [ "$(q "$db" "select count(*) from run")" != 1 ]; then args=("$tmp/suite.json" --db "$db"); else args=(--resume 1 --db "$db"); fi
    if [ $(((hook_kills + ext_kills) % 2)) = 0 ]; then
      # right after a random number of stored samples (at most a third of what is left)
      n=$((1 + RANDOM % ((left - 1) / 3 + 1)))
      { DECOBENCH_TEST_KILL_AFTER_SAMPLES=$n run "${args[@]}" >/dev/null 2>"$tmp/k.err"; } 2>/dev/null
      rc=$?
      got=$(( $(nsamples "$db") - ${have:-0} ))
      if [ $rc = 137 ]; then
        hook_kills=$((hook_kills + 1))
        [ $got -lt $n ] && lost=$((lost + n - got))
      fi
    else
      # from outside, at a random moment within half the time the rest would take;
      # it counts when it landed in the run (the process had taken the run
      # over), not while the models were still loading
      before=$(q "$db" "select id || '/' || resumed from run")
      delay=$(echo "scale=3; 0.2 + $((RANDOM % 1000)) / 1000 * $t_ref * $left / $total / 2" | bc)
      run_bg "${args[@]}" >/dev/null 2>"$tmp/k.err"
      pid=$!
      sleep "$delay"
      if kill -9 $pid 2>/dev/null; then
        { wait $pid; } 2>/dev/null
        if [ "$(q "$db" "select id || '/' || resumed from run")" != "$before" ]; then ext_kills=$((ext_kills + 1))
        else ext_early=$((ext_early + 1)); fi
      else
        ext_misses=$((ext_misses + 1))
        { wait $pid; } 2>/dev/null
      fi
    fi
  done
  [ "$(q "$db" "select count(*) from run")" = 1 ] || continue
  frc=0
  # (an outside kill that came after the end leaves the run completed already)
  if [ "$(q "$db" "select status from run")" != completed ]; then
    run --resume 1 --db "$db" >/dev/null 2>"$tmp/final.err"
    frc=$?
  fi
  if [ $frc != 0 ] || [ "$(q "$db" "select status from run")" != completed ]; then
    final_bad=$((final_bad + 1))
    echo "chain $chains: final resume: $(tail -1 "$tmp/final.err")" >&2
  fi
  sample_set "$db" > "$tmp/got.set"
  missing=$((missing + $(comm -23 <(cut -d'|' -f1-5 "$tmp/ref.set") <(cut -d'|' -f1-5 "$tmp/got.set") | wc -l)))
  extra=$((extra + $(comm -13 <(cut -d'|' -f1-5 "$tmp/ref.set") <(cut -d'|' -f1-5 "$tmp/got.set") | wc -l)))
  dups=$((dups + $(q "$db" "select count(*) - count(distinct case_id || '/' || prompt_idx || '/' || rep || '/' || turn) from sample")))
  tok_diff_greedy=$((tok_diff_greedy + $(diff <(grep -E '^(ar-greedy|spec-k4)\|' "$tmp/ref.set") \
                                              <(grep -E '^(ar-greedy|spec-k4)\|' "$tmp/got.set") | grep -c '^>')))
  tok_diff_all=$((tok_diff_all + $(diff "$tmp/ref.set" "$tmp/got.set" | grep -c '^>')))
  n_greedy=$((n_greedy + n_greedy_ref))
  n_compared=$((n_compared + total))
  [ "$(q "$db" "pragma integrity_check")" = ok ] || integ_bad=$((integ_bad + 1))
  resumes=$((resumes + $(q "$db" "select resumed from run") + 0))
done

# ---- 2. SIGTERM, SIGHUP, SIGINT from outside ------------------------------------------
sig_rows=""
sig_ok=1
for sig in TERM HUP INT; do
  sdb="$tmp/sig$sig.db"
  run_bg "$tmp/suite.json" --db "$sdb" >/dev/null 2>"$tmp/sig.err"
  pid=$!
  want_n=$((3 + RANDOM % 10))
  for _ in $(seq 1 3000); do
    [ "$(nsamples "$sdb" 2>/dev/null || echo 0)" -ge $want_n ] 2>/dev/null && break
    sleep 0.05
  done
  kill -$sig $pid
  { wait $pid; } 2>/dev/null; rc=$?
  st=$(q "$sdb" "select status from run")
  n=$(nsamples "$sdb")
  said=$(sed -nE 's/.* ([0-9]+) samples -> .*/\1/p' "$tmp/sig.err" | tail -1)
  run --resume 1 --db "$sdb" >/dev/null 2>&1
  cmp -s "$tmp/ref.set" <(sample_set "$sdb") && same=yes || same=no
  [ $rc = $((128 + $(kill -l $sig))) ] && [ "$st" = interrupted ] && [ "$n" = "$said" ] && [ $same = yes ] || sig_ok=0
  sig_rows="$sig_rows| SIG$sig during a run | exit $rc, run $st, $n samples stored, summary says ${said:-?}; resumed to the reference set: $same |
"
done

# ---- 3. concurrent writers on one new database ---------------------------------------
w_ok=0 w_total=0
for r in $(seq 1 "$rounds"); do
  wdb="$tmp/writers$r.db"
  pids=()
  for w in $(seq 1 "$writers"); do
    run_bg "$tmp/suite.json" --db "$wdb" >/dev/null 2>"$tmp/w$w.err"
    pids+=($!)
  done
  for p in "${pids[@]}"; do wait "$p"; done
  w_ok=$((w_ok + $(q "$wdb" "select count(*) from run where status = 'completed'")))
  w_total=$((w_total + writers))
  [ "$(q "$wdb" "pragma integrity_check")" = ok ] || w_ok=-999
done

echo
echo "## Run lifecycle reliability ($(date -u +%Y-%m-%d), $(nproc) CPUs, seed $seed)"
echo
echo "suite: bundled target; ar greedy, ar sampling, spec k=4 (draft-distilled); $n_prompts prompts x 2 repetitions = $total samples; reference run ${t_ref%.*} s"
echo
echo "| check | result |"
echo "|---|---|"
echo "| kill -9 (SIGKILL) points in a run, resumed after each | $((hook_kills + ext_kills)) in $chains runs: $hook_kills right after a random number of stored samples, $ext_kills from outside at a random time (not counted: $ext_early outside kills during model loading, $ext_misses after the end) |"
echo "| finished samples lost at the exact kill points | $lost |"
echo "| runs resumed to the end | $((chains - final_bad)) of $chains completed ($resumes resumes in all) |"
echo "| sample keys missing / extra / duplicated | $missing / $extra / $dups (of $n_compared) |"
echo "| greedy samples with tokens differing from the uninterrupted run | $tok_diff_greedy of $n_greedy |"
echo "| all samples (sampled included) differing | $tok_diff_all of $n_compared |"
echo "| PRAGMA integrity_check not ok | $integ_bad of $chains |"
printf '%s' "$sig_rows"
echo "| $writers concurrent writers on a new database, $rounds rounds | $w_ok of $w_total runs completed |"
echo
echo "campaign: $(( $(date +%s) - t_start )) s"
[ "$lost" = 0 ] && [ "$missing" = 0 ] && [ "$extra" = 0 ] && [ "$dups" = 0 ] && [ "$tok_diff_all" = 0 ] \
  && [ "$integ_bad" = 0 ] && [ $final_bad = 0 ] && [ $sig_ok = 1 ] && [ "$w_ok" = "$w_total" ]
