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

# the GGUF's header, read by tests/gguf-header.py (not by llama.cpp or the
# trainer's writer), must hold the shape asked for and the vocabulary file's
# tokens; the report the same shape's parameter count:
# 2·V·E (embedding, output) + L·(2E + 4E² + 3E·F) (norms, attention, FFN) + E
V=$(wc -l < "$vocab")
header() { python3 "$src/tests/gguf-header.py" "$@" 2>&1; }
run_train "$tmp/a.gguf" "$tmp/a" "${shape[@]}" --max-tokens 15360 --lr 3e-3 --lr-min 3e-4 --warmup 5
rc=$?
header "$tmp/a.gguf" --vocab "$vocab" > "$tmp/a.header"
want_header="general.architecture llama
llama.vocab_size $V
llama.context_length 256
llama.embedding_length 32
llama.block_count 1
llama.feed_forward_length 64
llama.attention.head_count 2
llama.attention.head_count_kv 2
llama.attention.causal True
general.file_type 0
tensor token_embd.weight 32x$V
tensor output.weight 32x$V
tensor blk.0.attn_q.weight 32x32
tensor blk.0.attn_k.weight 32x32
tensor blk.0.ffn_up.weight 32x64
tensor blk.0.ffn_down.weight 64x32
vocab matches"
missing=$(grep -vxF -f "$tmp/a.header" <<< "$want_header")
n_tensors=$(grep -c '^tensor ' "$tmp/a.header")
params=$(jq -r '[.parameters, .vocab_size, .type, .causal] | join(" ")' "$tmp/a.gguf.json" 2>/dev/null)
want_params="$((2 * V * 32 + 1 * (2 * 32 + 4 * 32 * 32 + 3 * 32 * 64) + 32)) $V f32 true"
if [ $rc -eq 0 ] && [ -z "$missing" ] && [ "$n_tensors" = 12 ] && [ "$params" = "$want_params" ]; then
  ok "train: a small model trains; its GGUF has the shape asked for (E 32, 1 layer, 2 heads, FF 64, $V tokens, 12 tensors) and the report its $want_params"
else
  fail "train: small model's GGUF and report" "exit $rc; header lacks: $(echo $missing); $n_tensors tensors; report '$params', expected '$want_params'" \
    "$(tail -3 "$tmp/a.err")"
fi
f=$(first_loss "$tmp/a.csv"); l=$(last_loss "$tmp/a.csv")
awk -v f="$f" -v l="$l" 'BEGIN { exit !(f != "" && l != "" && l < f - 1.0) }' &&
  ok "train: training loss falls by more than 1 nat over 60 steps ($f -> $l)" || fail "train: loss falls" "first $f last $l"
steps=$(jq -r .steps "$tmp/a.gguf.json" 2>/dev/null); seen=$(jq -r .tokens_seen "$tmp/a.gguf.json" 2>/dev/null)
[ "$steps" = 60 ] && [ "$seen" = 15360 ] && ok "train: report counts 60 steps, 15360 tokens" || fail "train: report counts" "steps=$steps tokens=$seen"
# held-out figures: 8 windows of 256 tokens (--eval-tokens 2048); an f32
# output file evaluates exactly like the f32 checkpoint; perplexity = e^loss;
# the accuracies are whole counts out of 2048
hl=$(jq -r .heldout_loss "$tmp/a.gguf.json" 2>/dev/null); ul=$(jq -r .unigram_loss "$tmp/a.gguf.json" 2>/dev/null)
verdict=$(jq -r '[.heldout_tokens, .heldout_loss, .heldout_loss_f32, .heldout_perplexity, .heldout_accuracy,
                  .unigram_loss, .unigram_perplexity, .unigram_accuracy] | map(tostring) | join(" ")' "$tmp/a.gguf.json" 2>/dev/null |
  awk '{ n = $1; bad = ""
         if (n != 2048) bad = bad " heldout_tokens " n
         if ($2 != $3) bad = bad " f32 loss " $3 " vs " $2
         if ((d = $4 / exp($2) - 1) > 1e-12 || d < -1e-12) bad = bad " perplexity " $4
         if ((d = $7 / exp($6) - 1) > 1e-12 || d < -1e-12) bad = bad " unigram perplexity " $7
         if ((d = $5 * n - int($5 * n + 0.5)) > 1e-6 || d < -1e-6) bad = bad " accuracy " $5 " not k/" n
         if ((d = $8 * n - int($8 * n + 0.5)) > 1e-6 || d < -1e-6) bad = bad " unigram accuracy " $8 " not k/" n
         print bad }')
[ -n "$hl" ] && [ "$hl" != null ] && [ -z "$verdict" ] \
  && ok "train: report's held-out figures: 2048 tokens, f32 loss = loss, perplexity = e^loss, accuracies k/2048 ($hl, unigram $ul)" \
  || fail "train: report's held-out figures" "heldout=$hl unigram=$ul:$verdict"

# the unigram baseline recomputed here: add-one smoothed training counts,
# -ln((count(t) + 1) / (training tokens + V)) averaged over the held-out
# targets; its accuracy, that of always guessing the most frequent training
# token (the lowest id among ties).  Independent tokenization by llama.cpp's
# llama-tokenize (BOS + text per document, as the trainer).  The held-out
# corpus is made exactly 257 tokens long, one window of 256 targets, so the
# targets are every held-out token but the first (a BOS), in any document
# order: 30 training documents; scripture documents up to 240 tokens, then
# one of "the" words to fill the rest
tokenize=${DB_LLAMA_BINDIR:-$src/.deps/llama/bin}/llama-tokenize
ids() { "$tokenize" -m "$tmp/a.gguf" -p "$1" --ids --log-disable 2>/dev/null | tail -1 | tr -d '[],'; }
if [ -x "$tokenize" ]; then
  head -30 "$tmp/train.jsonl" > "$tmp/u-train.jsonl"
  : > "$tmp/u-held.jsonl"
  total=0
  while read -r d; do
    n=$(ids "$(jq -r .text <<< "$d")" | wc -w)
    [ $((total + n)) -le 240 ] || break
    echo "$d" >> "$tmp/u-held.jsonl"; total=$((total + n))
  done < "$tmp/heldout.jsonl"
  filler=$(printf 'the %.0s' $(seq 1 $((257 - total - 2))))the
  jq -cn --arg t "$filler" '{text: $t}' >> "$tmp/u-held.jsonl"
  while read -r d; do ids "$(jq -r .text <<< "$d")"; echo; done < "$tmp/u-train.jsonl" > "$tmp/u-train.ids"
  while read -r d; do ids "$(jq -r .text <<< "$d")"; echo; done < "$tmp/u-held.jsonl" > "$tmp/u-held.ids"
  expect=$(awk -v V="$V" 'FNR == 1 { f++ }
    f == 1 { for (i = 1; i <= NF; i++) { c[$i]++; n++ } next }
    { for (i = 1; i <= NF; i++) h[++m] = $i }
    END { top = 0; for (t in c) if (c[t] > c[top] || (c[t] == c[top] && t + 0 < top + 0)) top = t
          for (i = 2; i <= m; i++) { nll -= log((c[h[i]] + 1) / (n + V)); hits += h[i] == top }
          printf "%d %d %.10f %.10f", n, m, nll / (m - 1), hits / (m - 1) }' "$tmp/u-train.ids" "$tmp/u-held.ids")
  "$train" --out "$tmp/u.gguf" --vocab "$vocab" --train "$tmp/u-train.jsonl" --heldout "$tmp/u-held.jsonl" \
    --eval-tokens 256 --threads 2 --seed 3 --out-type f32 "${shape[@]}" --max-tokens 512 > "$tmp/uni.csv" 2> "$tmp/uni.err"
  rc=$?
  got=$(jq -r '[.unigram_loss, .unigram_accuracy, .heldout_tokens] | join(" ")' "$tmp/u.gguf.json" 2>/dev/null)
  n_train=$(sed -n 's/.*u-train.jsonl: 30 documents, [0-9]* bytes, \([0-9]*\) tokens/\1/p' "$tmp/uni.err")
  read -r e_train e_held e_loss e_acc <<< "$expect"
  read -r g_loss g_acc g_n <<< "$got"
  if [ $rc -eq 0 ] && [ "$e_held" = 257 ] && [ "$n_train" = "$e_train" ] && [ "$g_n" = 256 ] &&
     awk -v a="$g_loss" -v b="$e_loss" -v x="$g_acc" -v y="$e_acc" \
       'BEGIN { d = a - b; e = x - y; exit !(a != "" && d < 1e-9 && d > -1e-9 && e < 1e-9 && e > -1e-9) }'; then
    ok "train: unigram loss and accuracy equal their recomputation ($g_loss, $g_acc over 256 targets, $e_train training tokens)"
  else
    fail "train: unigram baseline recomputed" "exit $rc; trainer: $got, $n_train training tokens;" \
      "recomputed: $e_loss $e_acc, $e_held held-out and $e_train training tokens" "$(tail -2 "$tmp/uni.err")"
  fi
else
  fail "train: unigram baseline recomputed ($tokenize is not built)"
fi

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
# scored: the masked positions, each position of the 8 windows masked with
# probability 1/2 by a generator seeded with the window index (tools/train.c
# eval_model), the same 995 positions whatever the model; the accuracies are
# whole counts of them
fa=$(jq -r '.heldout_fill_accuracy' "$tmp/m.gguf.json" 2>/dev/null); causal=$(jq -r .causal "$tmp/m.gguf.json" 2>/dev/null)
mn=$(jq -r '[.heldout_tokens, .heldout_accuracy, .heldout_fill_accuracy, .heldout_fill_steps, .kind] | join(" ")' "$tmp/m.gguf.json" 2>/dev/null)
hdr=$(header "$tmp/m.gguf" | grep -cxF -e 'llama.attention.causal False' -e 'tokenizer.ggml.mask_token_id 3')
[ $rc -eq 0 ] && [ "$causal" = false ] && [ "$hdr" = 2 ] && awk -v s="$mn" 'BEGIN { split(s, v, " ")
    n = v[1]; a = v[2] * n; f = v[3] * n
    exit !(n == 995 && v[4] == 8 && v[5] == "masked-diffusion" && a - int(a + 0.5) < 1e-6 && int(a + 0.5) - a < 1e-6 &&
           f - int(f + 0.5) < 1e-6 && int(f + 0.5) - f < 1e-6) }' &&
  ok "train: --diffusion writes a non-causal model (GGUF causal False, mask token 3); fill accuracy $fa = k/995 masked positions" ||
  fail "train: diffusion" "exit $rc causal=$causal header lines=$hdr tokens/accuracy/fill/steps/kind: $mn"
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
