#!/usr/bin/env bash
# run-tests.sh — runs all of decobench's tests: the C unit tests
# (tests/unit_tests), the data checks, the end-to-end CLI tests
# (tests/e2e.sh), the layering of the code (tests/layers.py), the run lifecycle (tests/reliability.sh), bad input
# (tests/bad-input.sh), the suites for users' own models and every shipped
# dataset (tests/user-suites.sh), the -o rules and safe output files
# (tests/outsafe.sh), `decobench fetch` against a local lighttpd
# (tests/fetch-check.sh; skipped without lighttpd), a suite sharded over a
# Slurm job array on a single-node cluster (tests/slurm-check.sh; skipped
# without Slurm and munge), the serving benchmark against
# llama-server and a stand-in server with faults (tests/serve-check.sh), the fuzz targets for fixed run counts
# (tests/fuzz-check.sh), a run on a busy machine flagged as measured under
# interference (tests/noise-check.sh), the tokenizer and model trainers
# (tests/train-check.sh), mkmodel's zero-output padding blocks
# (tests/pad-check.sh)
# and the HTML report in a headless browser
# (tests/html-check.sh; skipped without chromium), and ends with one line
# "N passed, N failed[, N skipped]" summing them.
#
# Environment: DB_SRCDIR (source tree), DB_BUILDDIR (build tree with the
# decobench binaries), DB_LLAMA_BINDIR (llama.cpp reference tools),
# DB_FULL_BUILDDIR (optional: an optimised build whose tests/unit_tests
# re-runs, whole, the checks that sample under ASan).
set -u
src="${DB_SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}"
build="${DB_BUILDDIR:-$src}"
export DB_SRCDIR="$src" DB_BUILDDIR="$build"
export DB_LLAMA_BINDIR="${DB_LLAMA_BINDIR:-$src/.deps/llama/bin}"
tmp="$(mktemp -d /tmp/decobench-tests.XXXXXX)"
trap 'rm -rf "$tmp"' EXIT
export DB_TEST_TMPDIR="$tmp/unit"

passed=0 failed=0 skipped=0
count() {  # parse "N passed, N failed[, N skipped]" from a log
  local line
  line="$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$1" | tail -n1)"
  if [ -z "$line" ]; then
    echo "run-tests.sh: $2 printed no summary line (crashed?)"
    failed=$((failed + 1))
    return
  fi
  local p f s
  p="$(echo "$line" | sed -E 's/^([0-9]+) passed.*/\1/')"
  f="$(echo "$line" | sed -E 's/^[0-9]+ passed, ([0-9]+) failed.*/\1/')"
  s="$(echo "$line" | sed -nE 's/.*, ([0-9]+) skipped.*/\1/p')"
  passed=$((passed + p)); failed=$((failed + f)); skipped=$((skipped + ${s:-0}))
}

timings=""
started=$SECONDS
echo "== unit tests"
"$build/tests/unit_tests" 2>&1 | tee "$tmp/unit.log"
count "$tmp/unit.log" unit_tests

# the checks that sample under ASan (test_json_gbnf's stride, test_grammar's
# reference cross-check) once more, whole, on the optimised build: every
# MaskBench instance and test group, every sampled grammar string
if [ -n "${DB_FULL_BUILDDIR:-}" ] && [ -x "$DB_FULL_BUILDDIR/tests/unit_tests" ]; then
  echo "== unit tests without sanitizers, every case (json_gbnf)"
  DB_JSON_GBNF_STRIDE=1 "$DB_FULL_BUILDDIR/tests/unit_tests" json_gbnf 2>&1 | tee "$tmp/unit-full.log"
  count "$tmp/unit-full.log" "unit_tests json_gbnf (optimised build)"
  echo "== the grammar matcher against the independent reference, whole (optimised build)"
  DB_TEST_ONLY=matcher_equals_reference DB_GBNF_REF_SCALE=1 "$DB_FULL_BUILDDIR/tests/unit_tests" grammar 2>&1 |
    tee "$tmp/unit-ref.log"
  count "$tmp/unit-ref.log" "unit_tests grammar matcher_equals_reference (optimised build)"
fi
timings=" unit_tests $((SECONDS - started))s"

# the checks after the unit tests, in order: script, then its title
checks=(
  "layers.py|layers: includes and calls go down (docs/architecture.md)"
  "check-data.sh|data checks"
  "e2e.sh|end-to-end tests"
  "reliability.sh|run lifecycle: kill, resume, signals, concurrent writers"
  "bad-input.sh|bad input (one line, exit 2, nothing written)"
  "user-suites.sh|suites for users' models and every shipped dataset"
  "outsafe.sh|-o rules and safe output files"
  "fetch-check.sh|fetch: downloads from a local lighttpd (resume, retries, sha256, token)"
  "shard-check.sh|shards: run --shard I/N and their merge equal the single-process run"
  "slurm-check.sh|Slurm: a 4-shard job array on a single-node cluster, merged = the single-process run"
  "rpc-check.sh|models across machines: llama.cpp's RPC backend on 127.0.0.1"
  "serve-check.sh|serving: llama-server and a stand-in with faults on 127.0.0.1"
  "fuzz-check.sh|fuzz targets (clang/libFuzzer, fixed run counts)"
  "noise-check.sh|interference: a run on a busy machine is flagged"
  "train-check.sh|model-building tools"
  "pad-check.sh|the wide target's padding: zero-output blocks decode like the target"
  "html-check.sh|HTML report in a browser"
)
for entry in "${checks[@]}"; do
  script="${entry%%|*}"
  echo "== ${entry#*|}"
  started=$SECONDS
  case "$script" in
    *.py) python3 "$src/tests/$script" ;;
    *) bash "$src/tests/$script" ;;
  esac 2>&1 | tee "$tmp/$script.log"
  count "$tmp/$script.log" "$script"
  timings="$timings $script $((SECONDS - started))s"
done

echo "== time per step:$timings"
echo
if [ "$skipped" -gt 0 ]; then
  echo "$passed passed, $failed failed, $skipped skipped"
else
  echo "$passed passed, $failed failed"
fi
[ "$failed" -eq 0 ]
