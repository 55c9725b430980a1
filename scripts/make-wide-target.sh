#!/usr/bin/env bash
# make-wide-target.sh — the bundled target in the memory-bandwidth-bound
# regime: data/models/target.gguf with 72 transformer blocks appended whose
# output projections (attn_output, ffn_down) are exactly zero (F32, other
# weights random), 76 blocks and about 521 MB in all (F32 rather than F16:
# twice the bytes per block, so half the blocks and graph nodes for the same
# traffic, and no F16 conversion in the matrix products, which made F16
# padding compute-bound on one core of this VM).  Each padding block
# adds 0 to the residual stream, so the model computes the target's function
# (same greedy tokens, so the same acceptance with the bundled drafts) while
# every forward reads the weights of a model of several hundred MB.
#
# Generated on demand by decobench-mkmodel --from ... --pad-blocks, never
# committed: cached as target-wide.gguf in $DECOBENCH_CACHE_DIR if set, else
# in data/models/ (.gitignored), and rebuilt when missing or older than
# target.gguf.  After writing it, checks that `decobench run` (ar, greedy)
# gives the same tokens as the target on 4 held-out prompts x 32 tokens, and
# deletes it if not.  Prints its path on stdout (progress on stderr).
#
# Usage: scripts/make-wide-target.sh [--blocks 72] [--type f32|f16] [--out PATH] [--force] [--no-check]
set -euo pipefail
cd "$(dirname "$0")/.."
root="$(pwd)"
blocks=72 type=f32 force=0 check=1
out="${DECOBENCH_CACHE_DIR:-$root/data/models}/target-wide.gguf"
while [ $# -gt 0 ]; do
  case "$1" in
    --blocks) blocks="$2"; shift 2 ;;
    --type) type="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --force) force=1; shift ;;
    --no-check) check=0; shift ;;
    -h|--help) sed -n '2,21p' "$0"; exit 0 ;;
    *) echo "make-wide-target.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
done
target="$root/data/models/target.gguf"
# binaries: $DB_BUILDDIR if set, else the source tree, else build/
mk="${DB_BUILDDIR:+$DB_BUILDDIR/decobench-mkmodel}"; [ -x "${mk:-}" ] || mk="$root/decobench-mkmodel"
[ -x "$mk" ] || mk="$root/build/decobench-mkmodel"
bin="${DB_BUILDDIR:+$DB_BUILDDIR/decobench}"; [ -x "${bin:-}" ] || bin="$root/decobench"; [ -x "$bin" ] || bin="$root/build/decobench"
[ -x "$mk" ] || { echo "make-wide-target.sh: decobench-mkmodel is not built (./configure && make)" >&2; exit 1; }
if [ "$force" = 0 ] && [ -s "$out" ] && [ "$out" -nt "$target" ]; then
  echo "$out"; exit 0
fi
mkdir -p "$(dirname "$out")"
echo "make-wide-target.sh: writing $out ($blocks padding blocks)" >&2
"$mk" --from "$target" --pad-blocks "$blocks" --pad-type "$type" --name decobench-target-wide --out "$out" >&2
if [ "$check" = 1 ]; then
  [ -x "$bin" ] || { echo "make-wide-target.sh: decobench is not built; cannot check $out" >&2; rm -f "$out"; exit 1; }
  tmp="$(mktemp -d /tmp/decobench-wide.XXXXXX)"
  trap 'rm -rf "$tmp"' EXIT
  cat > "$tmp/suite.json" <<JSON
{ "name": "wide-check",
  "models": { "target": { "path": "$target", "n_ctx": 512 }, "wide": { "path": "$out", "n_ctx": 512 } },
  "datasets": { "p": { "path": "$root/data/prompts/prose.jsonl", "limit": 4 } },
  "engines": [ { "engine": "ar", "label": "small" }, { "engine": "ar", "label": "wide", "target": "wide" } ],
  "max_new_tokens": 32, "repetitions": 1, "warmup": 0, "threads": 1, "stop_at_eog": false }
JSON
  "$bin" run "$tmp/suite.json" --db "$tmp/w.db" --no-progress --format none >/dev/null 2>"$tmp/err" \
    || { cat "$tmp/err" >&2; rm -f "$out"; exit 1; }
  diff=$(sqlite3 "$tmp/w.db" "select count(*) from sample a join \"case\" ca on ca.id = a.case_id
           join sample b on b.prompt_idx = a.prompt_idx join \"case\" cb on cb.id = b.case_id
           where ca.label = 'small' and cb.label = 'wide' and a.output_tokens_json = b.output_tokens_json")
  if [ "$diff" != 4 ]; then
    echo "make-wide-target.sh: $out decodes differently from the target ($diff/4 prompts identical); removed" >&2
    rm -f "$out"; exit 1
  fi
  echo "make-wide-target.sh: same greedy tokens as the target on 4/4 prompts x 32 tokens" >&2
fi
echo "$out"
