#!/usr/bin/env bash
# grammar_vs_llama.sh — decobench's grammar-constrained engines against
# llama.cpp's own grammar sampler, on the bundled target and the GBNF
# prompts of data/grammars (bench/grammar_anchor.c does the work):
#
#   1. mask time per token: the `grammar` engine (strategy=mask, greedy) vs
#      llama.cpp's grammar sampler driven directly through llama.h (whole
#      vocabulary into a candidate array, llama_sampler_apply), same model,
#      grammar, prompt and threads, rounds interleaved; medians over rounds
#      and their ratio; greedy on both sides, so the tokens must agree;
#   2. grammar evaluations per token: `awrs` vs full masking at temperature
#      1, with the share of outputs that are complete sentences.
#
# Usage: bench/grammar_vs_llama.sh [--rounds 3] [--n 64] [--threads 2] [--seeds 4]
#          [--target data/models/target.gguf] [--prompts data/grammars/grammars.jsonl]
#          [--anchor PATH]   (default: bench/grammar_anchor of build/, build-dev/ or the source tree)
# Run it on an otherwise idle machine: concurrent load distorts both sides.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$(pwd)"
rounds=3 n_new=64 threads=2 seeds=4
target=data/models/target.gguf prompts=data/grammars/grammars.jsonl anchor=""
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) rounds="$2"; shift 2 ;;
    --n) n_new="$2"; shift 2 ;;
    --threads) threads="$2"; shift 2 ;;
    --seeds) seeds="$2"; shift 2 ;;
    --target) target="$2"; shift 2 ;;
    --prompts) prompts="$2"; shift 2 ;;
    --anchor) anchor="$2"; shift 2 ;;
    -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
    *) echo "grammar_vs_llama.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
done
if [ -z "$anchor" ]; then
  for d in "$root/build" "$root/build-dev" "$root"; do
    if [ -x "$d/bench/grammar_anchor" ]; then anchor="$d/bench/grammar_anchor"; break; fi
  done
fi
[ -n "$anchor" ] && [ -x "$anchor" ] || { echo "grammar_vs_llama.sh: bench/grammar_anchor not built (run make in the build directory)" >&2; exit 1; }
for f in "$target" "$prompts"; do
  [ -e "$f" ] || { echo "grammar_vs_llama.sh: $f: not found" >&2; exit 1; }
done
echo "# decobench grammar engines vs llama.cpp's grammar sampler"
echo
echo "model: $target; prompts: $prompts; rounds $rounds; max new tokens $n_new; threads $threads; $(nproc) CPUs"
echo
exec "$anchor" --model "$target" --prompts "$prompts" --rounds "$rounds" --n "$n_new" --threads "$threads" --seeds "$seeds"
