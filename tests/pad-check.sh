#!/usr/bin/env bash
# pad-check.sh — tests of decobench-mkmodel --pad-blocks, the wide target's
# construction (scripts/make-wide-target.sh): the bundled target with 2
# padding blocks (zero attn_output / ffn_down) must decode the same greedy
# tokens as the target on 30 held-out prompts x 64 tokens through `decobench
# run` (ar on both, output_tokens_json compared per prompt), give the same
# next-token distributions on held-out text (llama-perplexity
# --kl-divergence against the target's logits: maximum KLD <= 1e-4 and the
# same top token everywhere), carry block_count 6 and the padding tensors in
# its header, and grow by the padding's exact size; a planted fault (the
# padding's output projections N(0, 0.02^2) instead of zero, --pad-out-std)
# must fail both comparisons; bad options give one error line and exit 2.
# Ends with "N passed, N failed[, N skipped]".
set -u
src="${DB_SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}"
build="${DB_BUILDDIR:-$src}"
llama_bin="${DB_LLAMA_BINDIR:-$src/.deps/llama/bin}"
mk="$build/decobench-mkmodel"
bin="$build/decobench"
tmp="$(mktemp -d /tmp/decobench-pad.XXXXXX)"
trap 'rm -rf "$tmp"' EXIT
. "$src/tests/lib.sh"

for b in "$mk" "$bin"; do
  [ -x "$b" ] || { fail "$b is built"; finish; }
done
command -v sqlite3 >/dev/null && command -v jq >/dev/null || { fail "sqlite3 and jq are installed"; finish; }
models="$src/data/models"
target="$models/target.gguf"

"$mk" --from "$target" --pad-blocks 2 --out "$tmp/pad.gguf" > "$tmp/mk.out" 2> "$tmp/mk.err" \
  && ok "mkmodel --from target.gguf --pad-blocks 2 writes a model" \
  || { fail "mkmodel --pad-blocks 2" "$(cat "$tmp/mk.err")"; finish; }
"$mk" --from "$target" --pad-blocks 2 --pad-out-std 0.02 --out "$tmp/bad.gguf" > /dev/null 2>&1 \
  || { fail "mkmodel --pad-out-std (planted fault)"; finish; }
"$mk" --from "$target" --pad-blocks 1 --pad-type f32 --out "$tmp/pad32.gguf" > /dev/null 2>&1 \
  || { fail "mkmodel --pad-type f32"; finish; }
"$mk" --from "$target" --pad-blocks 1 --pad-type q8_0 --out "$tmp/padq8.gguf" > /dev/null 2>&1 \
  || { fail "mkmodel --pad-type q8_0"; finish; }

# header: block count, per-layer arrays, the padding tensors (read by
# tests/gguf-header.py, not by ggml)
h="$(python3 "$src/tests/gguf-header.py" "$tmp/pad.gguf" 2>&1)"
nt=$(grep -cE '^tensor blk\.[45]\.' <<< "$h")
if grep -qx 'llama.block_count 6' <<< "$h" && grep -qx 'llama.swiglu_clamp_exp \[6\]' <<< "$h" &&
   grep -qx 'llama.rope.dimension_sections \[4\]' <<< "$h" && [ "$nt" -eq 18 ] &&
   grep -qx 'tensor blk.5.ffn_down.weight 1024x384' <<< "$h"; then
  ok "padded header: block_count 6, per-layer arrays 6 long (rope sections still 4), 18 tensors blk.4-5 shaped like blk.0"
else
  fail "padded header" "$(grep -E 'block_count|swiglu_clamp_exp|dimension_sections' <<< "$h")" "blk.4/5 tensors: $nt"
fi
# sizes: a padding block is 4·384² + 3·384·1024 weights (F16: 2 bytes, F32: 4,
# Q8_0: 34 bytes per 32) plus two 384-float norms, each tensor aligned to 32 bytes
base=$(stat -c %s "$target"); s16=$(stat -c %s "$tmp/pad.gguf"); s32=$(stat -c %s "$tmp/pad32.gguf")
s8=$(stat -c %s "$tmp/padq8.gguf")
w=$((4 * 384 * 384 + 3 * 384 * 1024)); n=$((2 * 384 * 4))
d16=$((s16 - base - 2 * (2 * w + n))); d32=$((s32 - base - (4 * w + n))); d8=$((s8 - base - (w / 32 * 34 + n)))
[ "$d16" -ge 0 ] && [ "$d16" -le 4096 ] && [ "$d32" -ge 0 ] && [ "$d32" -le 4096 ] && [ "$d8" -ge 0 ] && [ "$d8" -le 4096 ] &&
  ok "padded sizes: +2 F16 blocks = $((s16 - base)) bytes, +1 F32 block = $((s32 - base)), +1 Q8_0 block = $((s8 - base)) (weights + metadata/alignment <= 4 KiB)" ||
  fail "padded sizes" "f16: $s16 - $base, excess $d16; f32: $s32 - $base, excess $d32; q8_0: $s8 - $base, excess $d8"

# greedy tokens: 30 held-out prompts (10 per category) x 64 tokens, ar on all three
cat > "$tmp/suite.json" <<JSON
{ "name": "pad-check",
  "models": { "target": { "path": "$target", "n_ctx": 512 }, "pad": { "path": "$tmp/pad.gguf", "n_ctx": 512 },
              "bad": { "path": "$tmp/bad.gguf", "n_ctx": 512 } },
  "datasets": { "prose": { "path": "$src/data/prompts/prose.jsonl", "limit": 10 },
                "scripture": { "path": "$src/data/prompts/scripture.jsonl", "limit": 10 },
                "code": { "path": "$src/data/prompts/code.jsonl", "limit": 10 } },
  "engines": [ { "engine": "ar", "label": "target" }, { "engine": "ar", "label": "pad", "target": "pad" },
               { "engine": "ar", "label": "bad", "target": "bad" } ],
  "max_new_tokens": 64, "repetitions": 1, "warmup": 0, "threads": 1, "stop_at_eog": false }
JSON
if "$bin" run "$tmp/suite.json" --db "$tmp/p.db" --no-progress --format none > /dev/null 2> "$tmp/run.err"; then
  same() {  # same LABEL: prompts whose 64 tokens equal the target's; total
    q "$tmp/p.db" "select sum(a.output_tokens_json = b.output_tokens_json and a.new_tokens = 64), count(*)
                   from sample a join \"case\" ca on ca.id = a.case_id
                   join sample b on b.prompt_idx = a.prompt_idx join \"case\" cb on cb.id = b.case_id
                   where ca.label = 'target' and cb.label = '$1' and ca.dataset = cb.dataset"
  }
  sp="$(same pad)"; sb="$(same bad)"
  [ "$sp" = "30|30" ] && ok "padded target: the same 64 greedy tokens as the target on 30/30 held-out prompts" ||
    fail "padded target tokens" "identical|prompts: $sp"
  [ "${sb%%|*}" -lt 30 ] 2>/dev/null && ok "planted fault (non-zero output projections): tokens differ on $((30 - ${sb%%|*}))/30 prompts" ||
    fail "planted fault not caught by the token comparison" "identical|prompts: $sb"
else
  fail "decobench run (pad-check suite)" "$(tail -3 "$tmp/run.err")"
fi

# next-token distributions on held-out text: llama-perplexity's KL divergence
ppl="$llama_bin/llama-perplexity"
if [ -x "$ppl" ]; then
  for c in prose scripture code; do jq -r .prompt "$src/data/prompts/$c.jsonl" | head -n 20; done > "$tmp/text.txt"
  "$ppl" -m "$target" -f "$tmp/text.txt" -c 128 -t 1 --kl-divergence-base "$tmp/base.kld" > "$tmp/kb.out" 2>&1
  kld() {  # kld MODEL: "maximum-KLD same-top-percent"
    "$ppl" -m "$1" -f "$tmp/text.txt" -c 128 -t 1 --kl-divergence-base "$tmp/base.kld" --kl-divergence 2>&1 |
      awk '/^Maximum KLD:/ { m = $3 } /^Same top p:/ { s = $4 } END { print m, s }'
  }
  read -r mp tp <<< "$(kld "$tmp/pad.gguf")"
  read -r mb tb <<< "$(kld "$tmp/bad.gguf")"
  awk -v m="$mp" -v t="$tp" 'BEGIN { exit !(m != "" && m + 0 <= 1e-4 && t + 0 == 100) }' &&
    ok "padded target: next-token distributions equal the target's on held-out text (max KLD $mp <= 1e-4, same top token $tp%)" ||
    fail "padded target distributions" "max KLD '$mp', same top '$tp'" "$(tail -3 "$tmp/kb.out")"
  awk -v m="$mb" -v t="$tb" 'BEGIN { exit !(m != "" && (m + 0 > 1e-4 || t + 0 < 100)) }' &&
    ok "planted fault: caught by the distributions too (max KLD $mb, same top token $tb%)" ||
    fail "planted fault not caught by the KL divergence" "max KLD '$mb', same top '$tb'"
else
  skip "llama-perplexity KL divergence" "$ppl not built"
fi

# bad options: one error line, exit 2, nothing written
for args in "--pad-blocks 2" "--from $target --pad-blocks 0" "--from $target --pad-type q8" \
            "--from $target --pad-type f32" "--from $target --seed 3" "--from $target --pad-blocks 1 --pad-type q4_0" "--from $target --pad-blocks 2 --n-layer 3"; do
  # shellcheck disable=SC2086
  "$mk" $args --out "$tmp/x.gguf" > /dev/null 2> "$tmp/bad.err"; rc=$?
  [ "$rc" -eq 2 ] && [ "$(wc -l < "$tmp/bad.err")" -eq 1 ] && [ ! -e "$tmp/x.gguf" ] &&
    ok "mkmodel '$args': one error line, exit 2, nothing written" || fail "mkmodel bad option '$args'" "exit $rc" "$(cat "$tmp/bad.err")"
done
finish
