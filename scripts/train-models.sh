#!/bin/sh
# train-models.sh — rebuild the bundled models: one shared BPE vocabulary from
# the training corpora, then the target, draft and masked-diffusion models
# (decobench-train, llama.cpp's training API), then data/models/MANIFEST.json.
#
# Every step is resumable: rerun after an interruption and finished steps are
# skipped, an interrupted model continues from its checkpoint
# ($WORK/NAME.gguf.ckpt.gguf + .state.json).  Planned wall time on 2 cores:
# about 80 (target, in two stages) + 8 (draft) + 20 (diffusion) + 8
# (draft-distilled, a second stage of the draft) + 12 (the target's third,
# unlikelihood stage) minutes of training, plus a few minutes generating the
# distillation data
# (each model stops at its --max-minutes budget or its token budget,
# whichever comes first; budgets of a second stage count from the start).
#
# Environment: DB_BUILDDIR (binaries; default build), DB_CORPUS (default
# .deps/corpus, from scripts/fetch-corpora.sh), DB_MODELS_OUT (default
# data/models), DB_TRAIN_WORK (checkpoints and reports; default .deps/train),
# DB_TRAIN_SCALE (multiplies token and time budgets, e.g. 0.01 for a smoke
# run), DB_TRAIN_THREADS (default 2).  Needs jq and sha256sum.
set -eu

SRCDIR=$(cd "$(dirname "$0")/.." && pwd)
BUILDDIR=${DB_BUILDDIR:-$SRCDIR/build}
CORPUS=${DB_CORPUS:-$SRCDIR/.deps/corpus}
OUT=${DB_MODELS_OUT:-$SRCDIR/data/models}
WORK=${DB_TRAIN_WORK:-$SRCDIR/.deps/train}
SCALE=${DB_TRAIN_SCALE:-1}
THREADS=${DB_TRAIN_THREADS:-2}
BPE=$BUILDDIR/decobench-bpe
TRAIN=$BUILDDIR/decobench-train

die() { echo "train-models.sh: $*" >&2; exit 1; }
for b in "$BPE" "$TRAIN"; do [ -x "$b" ] || die "$b: not built (run make first)"; done
command -v jq >/dev/null || die "jq: not installed (apt-get install jq)"
for split in train heldout; do
  for c in prose scripture code; do
    [ -s "$CORPUS/$split/$c.jsonl" ] || die "$CORPUS/$split/$c.jsonl: missing (run scripts/fetch-corpora.sh)"
  done
done
mkdir -p "$OUT" "$WORK"

# scale a number by $SCALE (integer result, at least 1)
scaled() { awk -v x="$1" -v s="$SCALE" 'BEGIN { v = int(x * s + 0.5); if (v < 1) v = 1; print v }'; }
scaledf() { awk -v x="$1" -v s="$SCALE" 'BEGIN { printf "%.3f\n", x * s }'; }

TR="--train $CORPUS/train/prose.jsonl --train $CORPUS/train/scripture.jsonl --train $CORPUS/train/code.jsonl"
HO="--heldout $CORPUS/heldout/prose.jsonl --heldout $CORPUS/heldout/scripture.jsonl --heldout $CORPUS/heldout/code.jsonl"
VOCAB=$OUT/vocab.tsv

# 1. the shared vocabulary (4096 tokens incl. <|mask|> and 256 byte tokens)
if [ ! -s "$VOCAB" ]; then
  "$BPE" --out "$VOCAB" --vocab-size 4096 --max-bytes 24000000 --seed 1 \
    "$CORPUS/train/prose.jsonl" "$CORPUS/train/scripture.jsonl" "$CORPUS/train/code.jsonl"
fi

# 2. models: train NAME TOKENS MINUTES [decobench-train options]
train() {
  name=$1 tokens=$(scaled "$2") minutes=$(scaledf "$3"); shift 3
  # done when its report exists and the state reached this call's budgets
  # (a later call with larger budgets is a second stage: it resumes)
  if [ -s "$WORK/$name.gguf.json" ] && [ -s "$OUT/$name.gguf" ] &&
     jq -e --argjson t "$tokens" --argjson m "$minutes" \
       '.done and (.tokens_seen + 256 > $t or .elapsed_s >= $m * 60)' "$WORK/$name.gguf.state.json" >/dev/null 2>&1; then
    echo "train-models.sh: $name: done ($WORK/$name.gguf.json)"; return 0
  fi
  echo "train-models.sh: $name: $tokens tokens, at most $minutes minutes"
  rc=0
  "$TRAIN" --out "$WORK/$name.gguf" --vocab "$VOCAB" $TR $HO --name "decobench-$name" \
    --max-tokens "$tokens" --max-minutes "$minutes" --threads "$THREADS" \
    --ckpt-every 200 --eval-every 2000 --train-bytes 8000000 --eval-tokens 49152 --seed 1 \
    --out-type auto "$@" >> "$WORK/$name.log.csv" || rc=$?
  [ "$rc" -eq 0 ] || die "$name: decobench-train exited $rc (see $WORK/$name.log.csv; rerun to resume)"
  cp "$WORK/$name.gguf" "$OUT/$name.gguf.tmp" && mv "$OUT/$name.gguf.tmp" "$OUT/$name.gguf"
}

# Learning rates: picked by 1M-token trials of the draft shape (lr 1e-3:
# held-out ppl 162.6, 3e-3: 150.1 with K/V frozen; 3e-3 with every tensor
# trained: 116.9) and 0.4M-token trials of the target shape (1e-3 ahead of
# 2e-3); see data/models/README.md.
TARGET_OPTS="--n-embd 384 --n-layer 4 --n-head 6 --n-ff 1024 --lr 1e-3 --lr-min 1e-4 --warmup 200 --beta2 0.95 --embd-init cooccur"
train target    4000000 35 $TARGET_OPTS
# the target's second stage: its held-out loss was still falling when the
# 35-minute budget ended (4.59 at 1M tokens, 4.24 at 2.1M), so it continues
# to 80 minutes in all (the cosine warm-restarted at 35/80 of the way)
train target    8000000 80 $TARGET_OPTS
# the target's third stage: unlikelihood fine-tuning (Welleck et al. 2019)
# against greedy decoding's repetition loops, 12 more minutes (80 -> 92).
# Every ordinary step also pushes down each position's earlier tokens
# (token-level); half the steps instead train on the model's own greedy
# continuations of 64-token training prefixes, pushing down the tokens of
# their repeated 4-grams (sequence-level).  The draft's distillation data
# below come from this final target.
train target    8000000 92 $TARGET_OPTS --ul-weight 1 --ul-context --ul-seq-share 0.5
train draft     3000000 8  --n-embd 128 --n-layer 2 --n-head 4 --n-ff 352  --lr 3e-3 --lr-min 3e-4 --warmup 200 --beta2 0.95 --embd-init cooccur
train diffusion 4000000 20 --n-embd 192 --n-layer 6 --n-head 4 --n-ff 512  --lr 1e-3 --lr-min 1e-4 --warmup 200 --beta2 0.95 --embd-init cooccur --diffusion

# sequence-level distillation data for the draft (Kim & Rush 2016; the
# on-policy data of DistillSpec, Zhou et al. 2023): the trained target's own
# continuations, greedy and sampled (temperature 0.8), of 800 snippets of the
# TRAINING split (never held-out text), written as a training corpus.
distill() {
  out=$WORK/distill.jsonl
  [ -s "$out" ] && { echo "train-models.sh: distill: done ($out)"; return 0; }
  n=$(scaled 800); per=$(( (n + 2) / 3 ))
  echo "train-models.sh: distill: target continuations of $n training snippets"
  for c in prose scripture code; do
    # 200-character pieces at every 3000th character of each document, trimmed to
    # whole words; $per of them spread evenly over the corpus
    jq -c --argjson per "$per" -n '[inputs | .text as $t | range(0; ($t | length); 3000) as $o
        | $t[$o:$o + 200] | select(length > 100) | (if $o > 0 then sub("^[^ \n]*[ \n]"; "") else . end)
        | sub("[ \n][^ \n]*$"; "")] | . as $a | range(0; $per) | {prompt: $a[(. * ($a | length) / $per) | floor]}' \
      "$CORPUS/train/$c.jsonl"
  done > "$WORK/distill-prompts.jsonl"
  cat > "$WORK/distill-suite.json" <<JSON
{
  "name": "distill",
  "models": { "target": { "path": "$OUT/target.gguf", "n_ctx": 512 } },
  "datasets": { "train-snippets": { "path": "$WORK/distill-prompts.jsonl" } },
  "engines": [
    { "engine": "ar", "label": "greedy" },
    { "engine": "ar", "label": "sampled", "params": { "mode": "sample", "temp": 0.8 } }
  ],
  "max_new_tokens": 128, "repetitions": 1, "warmup": 0, "seeds": [7], "threads": $THREADS, "stop_at_eog": true
}
JSON
  rm -f "$WORK/distill.db" "$WORK/distill.db-wal" "$WORK/distill.db-shm"
  "$BUILDDIR/decobench" run "$WORK/distill-suite.json" --db "$WORK/distill.db" --no-progress --format none \
    || die "distill: decobench run failed"
  sqlite3 -json "$WORK/distill.db" "SELECT s.prompt_idx AS i, c.label AS l, s.output_text AS o FROM sample s
      JOIN \"case\" c ON c.id = s.case_id ORDER BY c.idx, s.prompt_idx" |
    jq -c --slurpfile p "$WORK/distill-prompts.jsonl" '.[] | {id: "distill/\(.l)/\(.i)", text: ($p[.i].prompt + .o)}' \
    > "$out.tmp" && mv "$out.tmp" "$out"
}

distill
# draft-distilled: the finished draft continued on the corpora plus the
# target's continuations (a second draft, kept beside the generic one: it
# agrees with the target more often, see the README)
if [ ! -s "$WORK/draft-distilled.gguf.state.json" ]; then
  cp "$WORK/draft.gguf.ckpt.gguf" "$WORK/draft-distilled.gguf.ckpt.gguf"
  cp "$WORK/draft.gguf.state.json" "$WORK/draft-distilled.gguf.state.json"
fi
# (--train-bytes 700000 samples about 0.7 MB of documents from each corpus,
# about as much as the distillation data: a quarter of its windows are the
# target's own continuations)
TR_SAVE=$TR; TR="$TR --train $WORK/distill.jsonl"
train draft-distilled 5000000 16 --lr 1e-3 --lr-min 1e-4 --warmup 200 --beta2 0.95 --train-bytes 700000
TR=$TR_SAVE

# 3. the manifest
commit=$(cat "$SRCDIR/.deps/llama/LLAMA_COMMIT" 2>/dev/null || echo unknown)
models=""
for name in target draft draft-distilled diffusion; do
  sha=$(sha256sum "$OUT/$name.gguf" | cut -d' ' -f1)
  size=$(wc -c < "$OUT/$name.gguf")
  entry=$(jq --arg name "$name" --arg file "$name.gguf" --arg sha "$sha" --argjson size "$size" \
    '{name: $name, file: $file, sha256: $sha, bytes: $size} + del(.file)
     | .corpus_mix |= map(.file |= sub(".*/"; ""))' "$WORK/$name.gguf.json")
  models="$models$entry"
done
patches=$(cat "$SRCDIR/.deps/llama/LLAMA_PATCHES" 2>/dev/null || echo "")
echo "$models" | jq -s --arg commit "$commit" --arg patches "$patches" --slurpfile tgt "$WORK/target.gguf.json" '{
  generated_by: "scripts/train-models.sh (make models)",
  llama_cpp_commit: $commit,
  tokenizer: {file: "vocab.tsv", type: "llama.cpp SPM (tokenizer.ggml.model=llama), BPE merges as scores, byte fallback",
              vocab_size: .[0].vocab_size, add_space_prefix: false, mask_token: "<|mask|>"},
  unigram_baseline: {heldout_loss: $tgt[0].unigram_loss, heldout_perplexity: $tgt[0].unigram_perplexity,
                     method: "add-one smoothed unigram from the training token counts, scored on the target held-out windows (same tokenizer)"},
  llama_cpp_patches: ($patches | split("\n") | map(select(length > 0) | split("  ") | {sha256: .[0], file: ("patches/llama.cpp/" + (.[1] | ltrimstr("./")))})),
  notes: ["training: llama.cpp llama_opt_epoch with decobench'"'"'s patches/llama.cpp (0001 fixes ggml-opt summing the gradients of all previous steps into each step; 0002 and 0003 train attn_k/attn_v and token_embd.weight, which upstream llama_opt leaves frozen; 0004 adds unlikelihood terms to the loss), AdamW (beta1 0.9, beta2 0.95, weight decay 0.1), warmup + cosine over min(token, time) budgets, one 256-token window per step; exact options per model in scripts/train-models.sh",
          "second stages: a finished model resumed with larger budgets (cosine warm-restarted where the new budgets put it, re-warmup since AdamW moments restart); tokens_seen and wall_time_s cover all stages",
          "target: three stages, 35 + 45 minutes of cross-entropy training, then 12 minutes of unlikelihood fine-tuning (Welleck et al. 2019; the unlikelihood block of its entry): token-level on every ordinary step, and half the steps sequence-level on its own greedy continuations of 64-token training prefixes (no cross-entropy, the tokens of repeated 4-grams pushed down); final_train_loss includes the unlikelihood terms",
          "draft-distilled: the finished draft continued (a second stage: its 16-minute, 5M-token budgets count from the draft'"'"'s start, so about 8 more minutes) on 0.7 MB of documents from each training corpus plus continuations by the final (third-stage) target (greedy and temperature 0.8) of 800 training-split snippets (sequence-level distillation; corpus_mix lists distill.jsonl); per token it is about 7x cheaper than the target, so it can see more tokens",
          "token_embd.weight starts from random projections of next/previous-token co-occurrence counts of the training split (--embd-init cooccur) and is trained",
          "diffusion: llama architecture with llama.attention.causal=false; trained on <|mask|>-corrupted windows (t ~ U(0.05,1)) with loss on all positions; held-out loss is masked-only at 50% masking"],
  models: .
}' > "$OUT/MANIFEST.json.tmp"
mv "$OUT/MANIFEST.json.tmp" "$OUT/MANIFEST.json"
echo "train-models.sh: wrote $OUT/MANIFEST.json"
