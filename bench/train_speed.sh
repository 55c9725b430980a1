#!/usr/bin/env bash
# train_speed.sh — training throughput of decobench-train with llama.cpp
# patch 0005 (ggml's F32 OUT_PROD, every weight gradient, as register-tiled
# GEMM blocks) against the same binary running ggml's original OUT_PROD loop
# (DECOBENCH_OUT_PROD_REFERENCE=1), interleaved round by round, on the shapes
# scripts/train-models.sh trains (target, draft, diffusion).
#
# Each run trains a fresh model from the same seed on the bundled training
# corpora for --steps steps of one 256-token window and logs tokens/s every
# 25 steps; a run's figure is the median of its logged rates after the first
# (warm-up) interval.  Prints per shape the median over rounds of each side,
# their ratio, and the largest difference between the two sides' training
# losses at the logged steps (the arithmetic is the same up to the order of
# the additions, so the losses agree to rounding).
#
# Usage: bench/train_speed.sh [--rounds 3] [--steps 125] [--threads 2]
#          [--shapes target,draft,diffusion]
# Needs the corpora (scripts/fetch-corpora.sh; DB_CORPUS, default
# .deps/corpus) and a built decobench-train (DB_BUILDDIR, default build).
# Run it on an otherwise idle machine: concurrent load distorts both sides.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$(pwd)"
rounds=3 steps=125 threads=2 shapes=target,draft,diffusion
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) rounds="$2"; shift 2 ;;
    --steps) steps="$2"; shift 2 ;;
    --threads) threads="$2"; shift 2 ;;
    --shapes) shapes="$2"; shift 2 ;;
    -h|--help) sed -n '2,21p' "$0"; exit 0 ;;
    *) echo "train_speed.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
done
for v in "$rounds" "$steps" "$threads"; do
  [[ "$v" =~ ^[1-9][0-9]*$ ]] || { echo "train_speed.sh: '$v' is not a positive integer" >&2; exit 2; }
done
[ "$steps" -ge 75 ] || { echo "train_speed.sh: --steps $steps: need at least 75 (three logged intervals)" >&2; exit 2; }
build="${DB_BUILDDIR:-$root/build}"
train="$build/decobench-train"
[ -x "$train" ] || { echo "train_speed.sh: $train: not built (run make)" >&2; exit 1; }
corpus="${DB_CORPUS:-$root/.deps/corpus}"
for c in prose scripture code; do
  [ -s "$corpus/train/$c.jsonl" ] || { echo "train_speed.sh: $corpus/train/$c.jsonl: missing (run scripts/fetch-corpora.sh)" >&2; exit 1; }
done
vocab="$root/data/models/vocab.tsv"
[ -s "$vocab" ] || { echo "train_speed.sh: $vocab: missing" >&2; exit 1; }

# the shapes of scripts/train-models.sh
shape_opts() {
  case "$1" in
    target)    echo "--n-embd 384 --n-layer 4 --n-head 6 --n-ff 1024 --lr 1e-3" ;;
    draft)     echo "--n-embd 128 --n-layer 2 --n-head 4 --n-ff 352 --lr 3e-3" ;;
    diffusion) echo "--n-embd 192 --n-layer 6 --n-head 4 --n-ff 512 --lr 1e-3 --diffusion" ;;
    *) echo "train_speed.sh: unknown shape '$1' (target, draft, diffusion)" >&2; return 2 ;;
  esac
}
IFS=, read -r -a shape_list <<< "$shapes"
for s in "${shape_list[@]}"; do shape_opts "$s" >/dev/null || exit 2; done

tmp="$(mktemp -d /tmp/train_speed.XXXXXX)"
trap 'rm -rf "$tmp"' EXIT

# run SHAPE SIDE ROUND: one training run; prints its median tokens/s
run() {
  local shape=$1 side=$2 round=$3 out="$tmp/$1-$2-$3"
  local env=()
  [ "$side" = reference ] && env=(DECOBENCH_OUT_PROD_REFERENCE=1)
  # shellcheck disable=SC2046
  env "${env[@]}" "$train" --out "$out.gguf" --vocab "$vocab" \
    --train "$corpus/train/prose.jsonl" --train "$corpus/train/scripture.jsonl" --train "$corpus/train/code.jsonl" \
    --heldout "$corpus/heldout/prose.jsonl" --name speed --max-tokens $((steps * 256)) --max-minutes 60 \
    --threads "$threads" --ckpt-every 100000 --eval-every 100000 --train-bytes 2000000 --eval-tokens 1024 \
    --seed 1 --warmup 20 $(shape_opts "$shape") > "$out.csv" 2> "$out.err" \
    || { echo "train_speed.sh: decobench-train failed ($shape, $side):" >&2; tail -3 "$out.err" >&2; return 1; }
  awk -F, 'NR > 2 && $7 + 0 > 0 { print $7 }' "$out.csv" | median
}
# the median of the numbers on stdin (fails on none)
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) exit 1; print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

printf '%-10s %14s %14s %8s %16s\n' shape "patched tok/s" "original tok/s" ratio "max |loss diff|"
for shape in "${shape_list[@]}"; do
  : > "$tmp/$shape.patched" ; : > "$tmp/$shape.reference"
  for r in $(seq 1 "$rounds"); do
    # alternate which side goes first
    if [ $((r % 2)) -eq 1 ]; then order="patched reference"; else order="reference patched"; fi
    for side in $order; do run "$shape" "$side" "$r" >> "$tmp/$shape.$side"; done
  done
  p=$(median < "$tmp/$shape.patched"); o=$(median < "$tmp/$shape.reference")
  d=$(paste -d, <(cut -d, -f5 "$tmp/$shape-patched-1.csv") <(cut -d, -f5 "$tmp/$shape-reference-1.csv") |
      awk -F, 'NR > 1 { x = $1 - $2; if (x < 0) x = -x; if (x > m) m = x } END { printf "%.4f", m }')
  printf '%-10s %14.0f %14.0f %7.2fx %16s\n' "$shape" "$p" "$o" "$(awk -v a="$p" -v b="$o" 'BEGIN { print a / b }')" "$d"
done
echo "($rounds rounds of $steps steps per side and shape, $threads threads; tokens/s: median over rounds of each run's median logged rate)"
