# lib.sh — shared by the shell test scripts (tests/*.sh): the pass/fail
# counters, one line per check, and the closing "N passed, N failed[, N
# skipped]" line that tests/run-tests.sh and .ci/run add up; and the small
# helpers the scripts that start servers share (q, free_port, wait_port).
# Source it after `set -u`.
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

# q DB SQL: one query, rows on stdout without headers (errors on stderr)
q() { sqlite3 -batch -noheader "$1" "$2"; }
# free_port: a TCP port free on 127.0.0.1 now (the kernel's choice)
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
# wait_port PORT [TENTHS]: wait until something accepts on 127.0.0.1:PORT,
# at most TENTHS tenths of a second (default 100); status 1 if nothing did
wait_port() {
  local i
  for ((i = 0; i < ${2:-100}; i++)); do
    python3 -c "import socket; socket.create_connection(('127.0.0.1', $1), 1)" 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}
