#!/usr/bin/env bash
# train-check.sh — tests of the model-building tools on small corpora: the
# tokenizer trainer (decobench-bpe: requested size, deterministic) and the
# model trainer (decobench-train: loss falls, a stopped run resumes where it
# stopped, a finished one continues when budgets are raised, --init-from
# copies a model exactly, the diffusion objective is kept across resumes,
# ggml's original weight-gradient loop gives the same losses as patch 0005's,
# unlikelihood fine-tuning makes greedy continuations repeat less, bad
# options give one error line).  Ends with "N passed, N failed".
set -u
src="${DB_SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}"
build="${DB_BUILDDIR:-$src}"
bpe="$build/decobench-bpe"
train="$build/decobench-train"
tmp="$(mktemp -d /tmp/decobench-train.XXXXXX)"
trap 'rm -rf "$tmp"' EXIT
. "$src/tests/lib.sh"

for b in "$bpe" "$train"; do
  [ -x "$b" ] || { fail "$b is built"; finish; }
done
command -v jq >/dev/null || { fail "jq is installed"; finish; }

# corpora: the bundled prompt sets as documents (train: prose + code; held-out: scripture)
for c in prose code; do jq -c '{text: .prompt}' "$src/data/prompts/$c.jsonl"; done > "$tmp/train.jsonl"
jq -c '{text: .prompt}' "$src/data/prompts/scripture.jsonl" > "$tmp/heldout.jsonl"
vocab="$src/data/models/vocab.tsv"

# ---- decobench-bpe ----
"$bpe" --out "$tmp/v1.tsv" --vocab-size 600 --seed 1 "$tmp/train.jsonl" >/dev/null 2>"$tmp/bpe.err" &&
"$bpe" --out "$tmp/v2.tsv" --vocab-size 600 --seed 1 "$tmp/train.jsonl" >/dev/null 2>&1
n=$(wc -l < "$tmp/v1.tsv" 2>/dev/null || echo 0)
[ "$n" -eq 600 ] && ok "bpe: vocabulary of the requested size (600 tokens)" || fail "bpe vocabulary size" "$n lines" "$(tail -2 "$tmp/bpe.err")"
cmp -s "$tmp/v1.tsv" "$tmp/v2.tsv" && ok "bpe: same corpus and seed, identical vocabulary" || fail "bpe determinism"
if "$bpe" --out "$tmp/v3.tsv" --vocab-size 600 "$tmp/missing.jsonl" >/dev/null 2>"$tmp/e"; then
  fail "bpe: a missing corpus is an error"
else
  [ "$(wc -l < "$tmp/e")" -eq 1 ] && grep -q "missing.jsonl" "$tmp/e" && [ ! -e "$tmp/v3.tsv" ] &&
    ok "bpe: a missing corpus gives one error line naming it, no output" || fail "bpe missing corpus" "$(cat "$tmp/e")"
fi

# ---- decobench-train ----
shape=(--n-embd 32 --n-layer 1 --n-head 2 --n-ff 64)
common=(--vocab "$vocab" --train "$tmp/train.jsonl" --heldout "$tmp/heldout.jsonl" --eval-tokens 2048
        --ckpt-every 10 --eval-every 1000 --threads 2 --seed 3 --out-type f32)
run_train() {  # run_train OUT LOG [options]: exit status of decobench-train
  local out="$1" log="$2"; shift 2
  "$train" --out "$out" "${common[@]}" "$@" > "$log.csv" 2> "$log.err"
}
# train_loss of the first and the last logged line
first_loss() { awk -F, 'NR == 2 { print $5 }' "$1"; }
last_loss() { awk -F, 'NR > 1 { l = $5 } END { print l }' "$1"; }

run_train "$tmp/a.gguf" "$tmp/a" "${shape[@]}" --max-tokens 15360 --lr 3e-3 --lr-min 3e-4 --warmup 5
rc=$?
if [ $rc -eq 0 ] && [ -s "$tmp/a.gguf" ] && [ -s "$tmp/a.gguf.json" ]; then
  ok "train: a small model trains and writes its GGUF and report"
else
  fail "train: small model" "exit $rc" "$(tail -3 "$tmp/a.err")"
fi
f=$(first_loss "$tmp/a.csv"); l=$(last_loss "$tmp/a.csv")
awk -v f="$f" -v l="$l" 'BEGIN { exit !(f != "" && l != "" && l < f - 1.0) }' &&
  ok "train: training loss falls by more than 1 nat over 60 steps ($f -> $l)" || fail "train: loss falls" "first $f last $l"
steps=$(jq -r .steps "$tmp/a.gguf.json" 2>/dev/null); seen=$(jq -r .tokens_seen "$tmp/a.gguf.json" 2>/dev/null)
[ "$steps" = 60 ] && [ "$seen" = 15360 ] && ok "train: report counts 60 steps, 15360 tokens" || fail "train: report counts" "steps=$steps tokens=$seen"
hl=$(jq -r .heldout_loss "$tmp/a.gguf.json" 2>/dev/null); ul=$(jq -r .unigram_loss "$tmp/a.gguf.json" 2>/dev/null)
awk -v h="$hl" -v u="$ul" 'BEGIN { exit !(h > 0 && u > 0) }' && ok "train: report has held-out and unigram losses ($hl, $ul)" \
  || fail "train: report losses" "heldout=$hl unigram=$ul"

# llama.cpp patch 0005 computes the weight gradients (ggml's OUT_PROD) with
# GEMM blocks; DECOBENCH_OUT_PROD_REFERENCE=1 selects ggml's original loop.
# The same sums in another order: the same losses, step by step.
DECOBENCH_OUT_PROD_REFERENCE=1 run_train "$tmp/r.gguf" "$tmp/r" "${shape[@]}" --max-tokens 15360 --lr 3e-3 --lr-min 3e-4 --warmup 5
rc=$?
d=$(paste -d, <(cut -d, -f5 "$tmp/a.csv") <(cut -d, -f5 "$tmp/r.csv") |
    awk -F, 'NR > 1 { n++; x = $1 - $2; if (x < 0) x = -x; if (x > m) m = x } END { if (n < 2) print "none"; else printf "%.5f", m }')
[ $rc -eq 0 ] && awk -v d="$d" 'BEGIN { exit !(d != "none" && d < 0.002) }' &&
  ok "train: ggml's original OUT_PROD loop gives the same losses (largest difference $d)" ||
  fail "train: OUT_PROD paths agree" "exit $rc, largest loss difference $d" "$(tail -2 "$tmp/r.err")"

# a run finished by its budget at 20 steps, then given the full budget,
# continues from its checkpoint to the same step count
run_train "$tmp/b.gguf" "$tmp/b1" "${shape[@]}" --max-tokens 5120 --lr 3e-3 --lr-min 3e-4 --warmup 5
run_train "$tmp/b.gguf" "$tmp/b2" "${shape[@]}" --max-tokens 15360 --lr 3e-3 --lr-min 3e-4 --warmup 5
rc=$?
grep -q "budgets raised: continuing past step 20" "$tmp/b2.err" && [ $rc -eq 0 ] &&
  [ "$(jq -r .steps "$tmp/b.gguf.json" 2>/dev/null)" = 60 ] &&
  ok "train: a finished model given larger budgets continues (20 -> 60 steps)" ||
  fail "train: continue with larger budgets" "exit $rc" "$(grep -v jsonl "$tmp/b2.err" | tail -3)"
# a third call with the same budgets trains nothing more
run_train "$tmp/b.gguf" "$tmp/b3" "${shape[@]}" --max-tokens 15360 --lr 3e-3 --lr-min 3e-4 --warmup 5
[ "$(awk -F, 'NR > 1' "$tmp/b3.csv" | wc -l)" -eq 0 ] && [ "$(jq -r .steps "$tmp/b.gguf.json" 2>/dev/null)" = 60 ] &&
  ok "train: a finished model is not trained again" || fail "train: rerun of a finished model" "$(cat "$tmp/b3.csv" | head -3)"

# --init-from: every tensor copied, so with a negligible learning rate the
# held-out loss is the source's
run_train "$tmp/c.gguf" "$tmp/c" "${shape[@]}" --init-from "$tmp/a.gguf" --max-tokens 256 --lr 1e-8 --lr-min 1e-8 --warmup 1
hc=$(jq -r .heldout_loss "$tmp/c.gguf.json" 2>/dev/null)
awk -v a="$hl" -v c="$hc" 'BEGIN { d = a - c; if (d < 0) d = -d; exit !(c != "" && d < 1e-3) }' &&
  grep -q "initialised from" "$tmp/c.err" &&
  ok "train: --init-from copies the model (held-out loss $hc vs $hl)" || fail "train: --init-from" "source $hl copy $hc" "$(tail -2 "$tmp/c.err")"
if run_train "$tmp/d.gguf" "$tmp/d" --n-embd 48 --n-layer 1 --n-head 2 --n-ff 64 --init-from "$tmp/a.gguf" --max-tokens 256; then
  fail "train: --init-from a model of another shape is an error"
else
  grep -q "token_embd.weight has another shape" "$tmp/d.err" && ok "train: --init-from another shape: error naming the tensor" \
    || fail "train: --init-from shape error" "$(tail -2 "$tmp/d.err")"
fi

# the diffusion objective: a bidirectional model with the masked-fill report,
# and resuming it without --diffusion is refused
run_train "$tmp/m.gguf" "$tmp/m" "${shape[@]}" --diffusion --max-tokens 2560 --lr 3e-3 --warmup 2
rc=$?
fa=$(jq -r '.heldout_fill_accuracy' "$tmp/m.gguf.json" 2>/dev/null); causal=$(jq -r .causal "$tmp/m.gguf.json" 2>/dev/null)
[ $rc -eq 0 ] && [ "$causal" = false ] && awk -v a="$fa" 'BEGIN { exit !(a >= 0 && a <= 1) }' &&
  ok "train: --diffusion writes a non-causal model with a fill accuracy ($fa)" || fail "train: diffusion" "exit $rc causal=$causal fill=$fa"
run_train "$tmp/m.gguf" "$tmp/m2" "${shape[@]}" --max-tokens 5120
rc=$?
[ $rc -eq 2 ] && grep -q "pass --diffusion to resume it" "$tmp/m2.err" &&
  ok "train: a diffusion checkpoint resumed without --diffusion is refused (exit 2)" || fail "train: objective mismatch" "exit $rc" "$(tail -2 "$tmp/m2.err")"

# unlikelihood fine-tuning (patch 0004): the 60-step model continued for 120
# steps of sequence-level unlikelihood on its own greedy continuations; they
# must repeat themselves clearly less at the end than at the start (the
# share of continuation tokens in repeated 4-grams, reported every 20 steps,
# falls by more than 10 points; measured 96.9% -> 78.8% here)
run_train "$tmp/b.gguf" "$tmp/u" "${shape[@]}" --max-tokens 46080 --lr 3e-3 --lr-min 3e-3 --warmup 5 \
  --ul-weight 1 --ul-context --ul-seq-share 1 --ul-prefix 32 --eval-every 20
rc=$?
shares=$(sed -n 's/.*: \([0-9.]*\)% of greedy continuation tokens in repeated 4-grams.*/\1/p' "$tmp/u.err" | tr '\n' ' ')
u_first=${shares%% *}; u_last=$(echo "$shares" | awk '{ print $NF }')
u_share=$(jq -r .unlikelihood.sequence_level_share "$tmp/b.gguf.json" 2>/dev/null)
[ $rc -eq 0 ] && [ "$u_share" = 1 ] && awk -v f="$u_first" -v l="$u_last" 'BEGIN { exit !(f != "" && l != "" && l < f - 10) }' &&
  ok "train: unlikelihood fine-tuning: greedy repeats fall ($shares%)" ||
  fail "train: unlikelihood fine-tuning" "exit $rc share=$u_share repeats: $shares" "$(grep -v jsonl "$tmp/u.err" | tail -3)"

# bad options: one error line, exit 2, nothing written
for args in "--lr 7" "--init-from $tmp/a.gguf --embd-init cooccur" "--n-ctx 300" "--out-type q4" "--ul-context" \
            "--diffusion --ul-weight 1" "--ul-weight 1 --ul-seq-share 0.5 --ul-prefix 250"; do
  # shellcheck disable=SC2086
  "$train" --out "$tmp/bad.gguf" "${common[@]}" $args > /dev/null 2> "$tmp/bad.err"
  rc=$?
  [ $rc -eq 2 ] && [ "$(wc -l < "$tmp/bad.err")" -eq 1 ] && [ ! -e "$tmp/bad.gguf.ckpt.gguf" ] &&
    ok "train: '$args' gives one error line and exit 2" || fail "train: bad option '$args'" "exit $rc" "$(cat "$tmp/bad.err")"
done
finish
