#!/usr/bin/env bash
# spec_wide.sh — the speculative engines where speculation can pay off: on
# the wide target (scripts/make-wide-target.sh: the bundled target plus 72
# zero-output F32 blocks, about 521 MB, the same greedy tokens and so the
# same acceptance with the bundled draft), whose plain decoding is bound by
# memory bandwidth as users' targets are, so verifying k tokens costs about
# as much as decoding one.  Runs bench/spec_vs_llama.sh on it: decobench ar,
# spec (bundled draft), spec-tree, lookahead, pld, pld-cache beside
# llama-bench, llama-speculative-simple, llama-speculative, llama-lookahead
# and llama-lookup on the same prompts, medians of the rounds, ratios and
# speedups over plain decoding.  Decoding runs at about 10 tokens/s here, so
# the defaults are short: 4 prose prompts x 64 tokens, 3 rounds, llama-bench
# 3 repetitions per prompt.  The lookahead pair verifies about 80 tokens per
# forward (W = 15, N = 5): about 100 s per 64-token prompt on this target on
# one core, so `--skip lookahead` leaves it out.  Measured 2026-12-07 (2-core
# VM under load): `bench/spec_wide.sh --threads 1 --prompts 3 --skip
# lookahead`, 15 minutes.
#
# Usage: bench/spec_wide.sh [--blocks 72] [any bench/spec_vs_llama.sh option]
set -euo pipefail
cd "$(dirname "$0")/.."
blocks=72 args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --blocks) blocks="$2"; shift 2 ;;
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    *) args+=("$1"); shift ;;
  esac
done
if [ "$blocks" = 72 ]; then wide="$(scripts/make-wide-target.sh)"
else wide="$(scripts/make-wide-target.sh --blocks "$blocks" --out "${TMPDIR:-/tmp}/decobench-target-wide-$blocks.gguf" --force)"; fi
echo "wide target: $wide ($(stat -c %s "$wide") bytes)" >&2
exec bench/spec_vs_llama.sh --target "$wide" --prompts 4 --n 64 --rounds 3 --bench-reps 3 "${args[@]}"
