#!/usr/bin/env bash
# fuzz-check.sh — decobench's fuzz targets in CI (run by tests/run-tests.sh):
# builds them with clang/libFuzzer, ASan and UBSan (tests/fuzz/build.sh, in
# DB_FUZZ_BUILDDIR, default SRC/build-fuzz), replays every kept crasher
# (tests/fuzz/regressions/TARGET/*) through them, then runs each target for a
# fixed number of executions from its seed corpus with a fixed seed (about
# 4 minutes for all nine on 2 shared cores).  A crash, leak, timeout or
# broken invariant fails the target; its input is kept under
# BUILDDIR/fuzz-crashers/TARGET/ (add it to tests/fuzz/regressions/TARGET/
# once fixed).  The gcc build replays the same files in unit_tests (suite
# "fuzz"), so they are checked where clang is missing; then this script
# counts its targets as skipped.  Ends with "N passed, N failed[, N skipped]".
#
# Environment: DB_SRCDIR, DB_FUZZ_BUILDDIR, DB_FUZZ_SCALE (multiplies the run
# counts; default 1).
set -u
src="${DB_SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}"
out="${DB_FUZZ_BUILDDIR:-$src/build-fuzz}"
scale="${DB_FUZZ_SCALE:-1}"
# executions per target: 10-40 s each on the 2-core VM under load (2026-12-07;
# the converter and DFA targets run a few hundred inputs a minute under ASan)
runs="suite:20000 jsonl:10000 jsonschema:12000 json_gbnf:500 regex_dfa:600 regex_search:4000 regex_gbnf:3000 gbnf:20000 merge:150 sse:20000"
passed=0 failed=0 skipped=0

mkdir -p "$out"
log="$out/fuzz-build.log"
bash "$src/tests/fuzz/build.sh" "$out" > "$log" 2>&1
rc=$?
if [ "$rc" = 77 ]; then
  echo "skip fuzz targets: $(tail -n1 "$log")"
  echo "0 passed, 0 failed, 9 skipped"
  exit 0
elif [ "$rc" != 0 ]; then
  echo "FAIL fuzz build (tests/fuzz/build.sh $out):"
  tail -n 20 "$log"
  echo "0 passed, 1 failed"
  exit 1
fi

tmp="$(mktemp -d /tmp/decobench-fuzzcheck.XXXXXX)"
trap 'rm -rf "$tmp"' EXIT
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:allocator_may_return_null=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
for tr in $runs; do
  t="${tr%%:*}" n="$(( ${tr#*:} * scale ))"
  bin="$out/tests/fuzz/fuzz-$t"
  crash="$out/fuzz-crashers/$t"
  mkdir -p "$crash" "$tmp/corpus-$t"
  # 1. the kept crashers
  if ! "$bin" -runs=1 -timeout=60 "$src"/tests/fuzz/regressions/"$t"/* > "$tmp/$t.replay.log" 2>&1 < /dev/null; then
    echo "FAIL fuzz $t: a regression file crashes again:"
    grep -E 'Running:|ERROR|SUMMARY|invariant' "$tmp/$t.replay.log" | tail -n 6
    failed=$((failed + 1))
    continue
  fi
  # 2. a fixed number of executions from the seeds
  start=$(date +%s)
  if "$bin" -runs="$n" -seed=1 -timeout=60 -rss_limit_mb=2048 -max_len=16384 \
       -artifact_prefix="$crash/" "$tmp/corpus-$t" "$out/fuzz-seeds/$t" > "$tmp/$t.log" 2>&1 < /dev/null; then
    echo "ok   fuzz $t: $n runs in $(( $(date +%s) - start )) s, $(ls "$src/tests/fuzz/regressions/$t" | wc -l) regression files replayed"
    passed=$((passed + 1))
  else
    echo "FAIL fuzz $t after $(( $(date +%s) - start )) s; input kept in $crash/:"
    grep -E 'ERROR|SUMMARY|invariant|Test unit written' "$tmp/$t.log" | tail -n 6
    failed=$((failed + 1))
  fi
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
