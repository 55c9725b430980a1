# lib.sh — shared by the shell test scripts (e2e.sh, html-check.sh,
# train-check.sh): the pass/fail counters, one line per check, and the
# closing "N passed, N failed[, N skipped]" line that tests/run-tests.sh
# and .ci/run add up.  Source it after `set -u`.
passed=0 failed=0 skipped=0

# ok NAME: a check that passed
ok()   { echo "ok   $1"; passed=$((passed + 1)); }
# fail NAME [DETAIL...]: a check that failed, each detail on its own indented line
fail() { echo "FAIL $1"; shift; for l in "$@"; do echo "    $l"; done; failed=$((failed + 1)); }
# skip NAME WHY: a check that could not run here
skip() { echo "skip $1: skipped: $2"; skipped=$((skipped + 1)); }
# finish: the summary line; exit status 1 when anything failed
finish() {
  if [ "$skipped" -gt 0 ]; then echo "$passed passed, $failed failed, $skipped skipped"
  else echo "$passed passed, $failed failed"; fi
  exit $((failed > 0))
}
