#!/usr/bin/env bash
# fuzz.sh — a longer fuzzing campaign over decobench's libFuzzer targets
# (tests/fuzz; the CI check, tests/fuzz-check.sh, runs each for a fixed
# number of executions only).  Each target runs for --time wall-clock seconds
# on one core at low priority (nice); --jobs J runs J targets at once.  After
# a crash libFuzzer is started again until the target's time is spent.
# Corpora grow in BUILDDIR/fuzz-corpus/TARGET (kept between campaigns, so a
# campaign can be spread over several sessions); crashers, leaks and timeouts
# are kept in BUILDDIR/fuzz-crashers/TARGET — once fixed, copy each into
# tests/fuzz/regressions/TARGET/.
#
# Every finished target appends one row to the ledger (default
# bench/results/fuzz-ledger.tsv, kept in git): date, commit, machine, target,
# CPU seconds the fuzzer really got (user + system, measured, not the wall
# time), wall seconds, executions, new crash files.  --summary prints the
# ledger's totals per target — the figure the README quotes — and clean_min,
# the CPU minutes since the last campaign that found a crash in the target.  The goal is one
# CPU-hour per target with no crash (README "Fuzzing").
#
# --cpu SECONDS ends a target once its fuzzer has had that much CPU time
# (checked every --chunk wall seconds, default 300): on a shared machine a
# campaign can ask for CPU minutes rather than wall time.  SIGTERM, SIGINT
# and SIGHUP end the campaign early: each running target stops its fuzzer
# and still writes its ledger row for the time it had.
#
#   bench/fuzz.sh [--time SECONDS] [--cpu SECONDS] [--chunk SECONDS]
#                 [--jobs J] [--nice N] [--builddir DIR] [--ledger FILE] [TARGET...]
#   bench/fuzz.sh --summary [--ledger FILE]
#   (default: 600 s per target, 1 job, nice 19, build-fuzz, all nine targets;
#   on a machine busy with other work nice 19 gets little CPU, which the CPU
#   column shows)
set -eu
src="$(cd "$(dirname "$0")/.." && pwd)"
secs=600 niceness=19 out="$src/build-fuzz" targets="" jobs=1 summary=0 cpu_budget=0 chunk=300
ledger="$src/bench/results/fuzz-ledger.tsv"
while [ $# -gt 0 ]; do
  case "$1" in
    --time) secs="$2"; shift 2 ;;
    --cpu) cpu_budget="$2"; shift 2 ;;
    --chunk) chunk="$2"; shift 2 ;;
    --builddir) out="$2"; shift 2 ;;
    --nice) niceness="$2"; shift 2 ;;
    --jobs) jobs="$2"; shift 2 ;;
    --ledger) ledger="$2"; shift 2 ;;
    --summary) summary=1; shift ;;
    -h|--help) sed -n '2,24p' "$0"; exit 0 ;;
    -*) echo "fuzz.sh: unknown option '$1'" >&2; exit 2 ;;
    *) targets="$targets $1"; shift ;;
  esac
done
for v in "$secs" "$jobs" "$cpu_budget" "$chunk"; do
  case "$v" in ''|*[!0-9]*) echo "fuzz.sh: '$v': expected a whole number" >&2; exit 2 ;; esac
done
[ "$jobs" -ge 1 ] || { echo "fuzz.sh: --jobs must be at least 1" >&2; exit 2; }
[ "$chunk" -ge 10 ] || { echo "fuzz.sh: --chunk must be at least 10 seconds" >&2; exit 2; }

summarise() {
  [ -s "$ledger" ] || { echo "fuzz.sh: no ledger at $ledger" >&2; return 2; }
  # clean_min: CPU minutes of the rows after the target's last row that found a crash (all of
  # them if none did) -- how long the code as fixed has run clean
  awk -F'\t' 'NR > 1 { cpu[$4] += $5; wall[$4] += $6; ex[$4] += $7; cr[$4] += $8; n[$4]++
                       if ($8 > 0) clean[$4] = 0; else clean[$4] += $5
                       if (!($4 in first)) { first[$4] = $1; order[++k] = $4 } last[$4] = $1 }
    END { printf "%-13s %9s %9s %10s %12s %8s %9s  %s\n", "target", "cpu_min", "clean_min", "wall_min", "executions", "crashes", "sessions", "dates"
          for (i = 1; i <= k; i++) { t = order[i]
            printf "%-13s %9.1f %9.1f %10.1f %12d %8d %9d  %s..%s\n", t, cpu[t] / 60, clean[t] / 60, wall[t] / 60, ex[t], cr[t], n[t], first[t], last[t] } }' "$ledger"
}
if [ "$summary" = 1 ]; then summarise; exit $?; fi

targets="${targets:-suite jsonl jsonschema json_gbnf regex_dfa regex_search regex_gbnf gbnf merge sse}"
bash "$src/tests/fuzz/build.sh" "$out"
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:allocator_may_return_null=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
commit="$(git -C "$src" rev-parse --short HEAD 2>/dev/null || echo unknown)"
machine="$(uname -m) $(nproc)cpu $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1 | tr '\t' ' ')"
mkdir -p "$(dirname "$ledger")"
[ -s "$ledger" ] || printf 'date\tcommit\tmachine\ttarget\tcpu_seconds\twall_seconds\texecutions\tcrashes\n' > "$ledger"
for t in $targets; do
  [ -x "$out/tests/fuzz/fuzz-$t" ] || { echo "fuzz.sh: no target '$t'" >&2; exit 2; }
done

# fuzz_one TARGET: runs one target for $secs wall seconds, appends its ledger row
fuzz_one() {
  local t="$1" bin="$out/tests/fuzz/fuzz-$1"
  local corpus="$out/fuzz-corpus/$t" crash="$out/fuzz-crashers/$t" log="$out/fuzz-$t.log"
  mkdir -p "$corpus" "$crash"
  local before start execs=0 cpu=0 left n tf run_log stop=0 run_for
  before=$(ls "$crash" | grep -cE "^(crash|leak|timeout|oom)-" || true)
  start=$(date +%s)
  : > "$log"
  # temporary files of this campaign's own (two campaigns on one target must
  # not share them: a missing file stopped a target before its ledger row)
  tf="$(mktemp "$out/fuzz-$t.time.XXXXXX")"
  run_log="$(mktemp "$out/fuzz-$t.run.XXXXXX")"
  # a signal reaches the fuzzer too (same process group); the row is still written
  trap 'stop=1' TERM INT HUP
  # (one condition a line: a `while A && B; C` list loops on C's status alone,
  # which kept a signalled target running)
  while [ "$stop" = 0 ]; do
    left=$(( secs - ($(date +%s) - start) ))
    [ "$left" -gt 0 ] || break
    if [ "$cpu_budget" -gt 0 ]; then
      awk -v c="$cpu" -v b="$cpu_budget" 'BEGIN { exit !(c >= b) }' && break
      run_for=$(( left < chunk ? left : chunk ))
    else
      run_for=$left
    fi
    # the time keyword measures the child's user + system CPU seconds
    { TIMEFORMAT='%3U %3S'; time nice -n "$niceness" "$bin" -max_total_time="$run_for" -timeout=60 \
        -rss_limit_mb=2048 -max_len=16384 -print_final_stats=1 -artifact_prefix="$crash/" \
        "$corpus" "$out/fuzz-seeds/$t" > "$run_log" 2>&1 < /dev/null || true; } 2> "$tf"
    cpu=$(awk -v c="$cpu" '{ printf "%.3f", c + $1 + $2 }' "$tf" || echo "$cpu")
    n=$(sed -n 's/^stat::number_of_executed_units: *//p' "$run_log" | tail -n1)
    execs=$(( execs + ${n:-0} ))
    cat "$run_log" >> "$log" || true
  done
  rm -f "$tf" "$run_log"
  local took crashes
  took=$(( $(date +%s) - start ))
  crashes=$(( $(ls "$crash" | grep -cE "^(crash|leak|timeout|oom)-" || true) - before ))
  # one short append per row (under PIPE_BUF): concurrent jobs do not interleave
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$(date -u +%F)" "$commit" "$machine" "$t" \
    "$cpu" "$took" "$execs" "$crashes" >> "$ledger"
  printf 'fuzz.sh: %-13s cpu %7.0f s  wall %6d s  executions %10d  crashes %d\n' "$t" "$cpu" "$took" "$execs" "$crashes"
}

# a signal: no new target starts; the running ones stop and write their rows
main_stop=0
trap 'main_stop=1' TERM INT HUP
running=0
for t in $targets; do
  while [ "$running" -ge "$jobs" ] && [ "$main_stop" = 0 ]; do
    wait -n && running=$((running - 1)) || { [ "$main_stop" = 1 ] || running=$((running - 1)); }
  done
  [ "$main_stop" = 1 ] && break
  fuzz_one "$t" &
  running=$((running + 1))
done
while [ -n "$(jobs -pr)" ]; do wait || true; done
summarise
