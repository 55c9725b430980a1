#!/usr/bin/env bash
# fuzz.sh — a longer fuzzing campaign over decobench's libFuzzer targets
# (tests/fuzz; the CI check, tests/fuzz-check.sh, runs each for a fixed
# number of executions only).  Targets run one after the other, each for
# --time seconds on one core at low priority (nice); after a crash
# libFuzzer is started again until the target's time is spent.  Corpora grow in
# BUILDDIR/fuzz-corpus/TARGET (kept between campaigns); crashers, leaks and
# timeouts are kept in BUILDDIR/fuzz-crashers/TARGET — once fixed, copy each
# into tests/fuzz/regressions/TARGET/.  Prints a table
# target / executions / seconds / crashes (and writes it to
# BUILDDIR/fuzz-campaign.tsv).  The goal is one CPU-hour per target with no
# crash (README "Fuzzing").
#
#   bench/fuzz.sh [--time SECONDS] [--nice N] [--builddir DIR] [TARGET...]
#   (default: 600 s per target, nice 19, build-fuzz, all nine targets; on a
#   machine busy with other work nice 19 gets almost no CPU: use a lower N)
set -eu
src="$(cd "$(dirname "$0")/.." && pwd)"
secs=600 niceness=19 out="$src/build-fuzz" targets=""
while [ $# -gt 0 ]; do
  case "$1" in
    --time) secs="$2"; shift 2 ;;
    --builddir) out="$2"; shift 2 ;;
    --nice) niceness="$2"; shift 2 ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    -*) echo "fuzz.sh: unknown option '$1'" >&2; exit 2 ;;
    *) targets="$targets $1"; shift ;;
  esac
done
case "$secs" in ''|*[!0-9]*) echo "fuzz.sh: --time '$secs': expected a number of seconds" >&2; exit 2 ;; esac
targets="${targets:-suite jsonl jsonschema json_gbnf regex_dfa regex_search regex_gbnf gbnf merge}"
bash "$src/tests/fuzz/build.sh" "$out"
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:allocator_may_return_null=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
tsv="$out/fuzz-campaign.tsv"
printf 'target\texecs\tseconds\tcrashes\tdate\n' > "$tsv"
for t in $targets; do
  bin="$out/tests/fuzz/fuzz-$t"
  [ -x "$bin" ] || { echo "fuzz.sh: no target '$t'" >&2; exit 2; }
  corpus="$out/fuzz-corpus/$t" crash="$out/fuzz-crashers/$t"
  mkdir -p "$corpus" "$crash"
  before=$(ls "$crash" | grep -cE "^(crash|leak|timeout|oom)-")
  start=$(date +%s) execs=0 log="$out/fuzz-$t.log"
  : > "$log"
  # a crash stops libFuzzer: start it again (the input is kept) until the time is spent
  while left=$(( secs - ($(date +%s) - start) )); [ "$left" -gt 0 ]; do
    nice -n "$niceness" "$bin" -max_total_time="$left" -timeout=60 -rss_limit_mb=2048 -max_len=16384 \
      -print_final_stats=1 -artifact_prefix="$crash/" "$corpus" "$out/fuzz-seeds/$t" > "$log.1" 2>&1 < /dev/null || true
    n=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log.1" | tail -n1)
    execs=$(( execs + ${n:-0} ))
    cat "$log.1" >> "$log"
    rm -f "$log.1"
  done
  took=$(( $(date +%s) - start ))
  crashes=$(( $(ls "$crash" | grep -cE "^(crash|leak|timeout|oom)-") - before ))
  printf '%s\t%s\t%s\t%s\t%s\n' "$t" "$execs" "$took" "$crashes" "$(date -u +%F)" >> "$tsv"
done
column -t -s "$(printf '\t')" "$tsv"
