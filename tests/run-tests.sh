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
# (tests/train-check.sh)
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

echo "== layers: includes and calls go down (docs/architecture.md)"
python3 "$src/tests/layers.py" 2>&1 | tee "$tmp/layers.log"
count "$tmp/layers.log" layers.py

echo "== data checks"
bash "$src/tests/check-data.sh" 2>&1 | tee "$tmp/data.log"
count "$tmp/data.log" check-data.sh

echo "== end-to-end tests"
bash "$src/tests/e2e.sh" 2>&1 | tee "$tmp/e2e.log"
count "$tmp/e2e.log" e2e.sh

echo "== run lifecycle: kill, resume, signals, concurrent writers"
bash "$src/tests/reliability.sh" 2>&1 | tee "$tmp/reliability.log"
count "$tmp/reliability.log" reliability.sh

echo "== bad input (one line, exit 2, nothing written)"
bash "$src/tests/bad-input.sh" 2>&1 | tee "$tmp/bad.log"
count "$tmp/bad.log" bad-input.sh

echo "== suites for users' models and every shipped dataset"
bash "$src/tests/user-suites.sh" 2>&1 | tee "$tmp/user.log"
count "$tmp/user.log" user-suites.sh

echo "== -o rules and safe output files"
bash "$src/tests/outsafe.sh" 2>&1 | tee "$tmp/outsafe.log"
count "$tmp/outsafe.log" outsafe.sh

echo "== fetch: downloads from a local lighttpd (resume, retries, sha256, token)"
bash "$src/tests/fetch-check.sh" 2>&1 | tee "$tmp/fetch.log"
count "$tmp/fetch.log" fetch-check.sh

echo "== shards: run --shard I/N and their merge equal the single-process run"
bash "$src/tests/shard-check.sh" 2>&1 | tee "$tmp/shard.log"
count "$tmp/shard.log" shard-check.sh

echo "== Slurm: a 4-shard job array on a single-node cluster, merged = the single-process run"
bash "$src/tests/slurm-check.sh" 2>&1 | tee "$tmp/slurm.log"
count "$tmp/slurm.log" slurm-check.sh

echo "== models across machines: llama.cpp's RPC backend on 127.0.0.1"
DB_LLAMA_BINDIR="${DB_LLAMA_BINDIR:-$src/.deps/llama/bin}" bash "$src/tests/rpc-check.sh" 2>&1 | tee "$tmp/rpc.log"
count "$tmp/rpc.log" rpc-check.sh

echo "== serving: llama-server and a stand-in with faults on 127.0.0.1"
DB_LLAMA_BINDIR="${DB_LLAMA_BINDIR:-$src/.deps/llama/bin}" bash "$src/tests/serve-check.sh" 2>&1 | tee "$tmp/serve.log"
count "$tmp/serve.log" serve-check.sh

echo "== fuzz targets (clang/libFuzzer, fixed run counts)"
bash "$src/tests/fuzz-check.sh" 2>&1 | tee "$tmp/fuzz.log"
count "$tmp/fuzz.log" fuzz-check.sh

echo "== interference: a run on a busy machine is flagged"
bash "$src/tests/noise-check.sh" 2>&1 | tee "$tmp/noise.log"
count "$tmp/noise.log" noise-check.sh

echo "== model-building tools"
bash "$src/tests/train-check.sh" 2>&1 | tee "$tmp/train.log"
count "$tmp/train.log" train-check.sh

echo "== HTML report in a browser"
bash "$src/tests/html-check.sh" 2>&1 | tee "$tmp/html.log"
count "$tmp/html.log" html-check.sh

echo
if [ "$skipped" -gt 0 ]; then
  echo "$passed passed, $failed failed, $skipped skipped"
else
  echo "$passed passed, $failed failed"
fi
[ "$failed" -eq 0 ]
