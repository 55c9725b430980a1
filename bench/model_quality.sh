#!/usr/bin/env bash
# model_quality.sh — the quality checks the bundled models must pass (S2),
# measured, printed as Markdown for the README:
#   * held-out perplexity of target and draft against the unigram baseline,
#     and the diffusion model's 50%-mask fill accuracy against the unigram
#     baseline's (from data/models/MANIFEST.json, written by the trainer);
#   * draft/target agreement for speculative decoding: decobench `spec`,
#     k = 4, greedy, on held-out prose prompts — mean accepted tokens per
#     target forward (#MAT) — cross-checked with llama.cpp's
#     llama-speculative-simple on the same prompts;
#   * greedy continuations of held-out prompts (prose, scripture, code):
#     how much they repeat themselves (seq-rep-4, against the held-out
#     references), how many of their words never occur in the training
#     split (invented words), and six of them in full;
#   * for prose, the same for greedy decoding with 3-gram blocking (`ar`
#     no_repeat_ngram=3: at each step the most likely token that repeats
#     no earlier token 3-gram): what the model writes when it may not
#     loop, a bound on what any repetition fix can reach without
#     improving the model itself.
# Usage: bench/model_quality.sh [--prompts 20] [--n 64] [--models DIR]
#   (--models: a folder with MANIFEST.json, target.gguf, draft.gguf and
#   draft-distilled.gguf, e.g. an earlier training stage; default data/models)
# Env: DB_CORPUS (default .deps/corpus, from scripts/fetch-corpora.sh): the
#   training split whose words count as known; without it that column is "-".
set -euo pipefail
cd "$(dirname "$0")/.."
root="$(pwd)"
n_prompts=20 n_new=64 m="$root/data/models"
while [ $# -gt 0 ]; do
  case "$1" in
    --prompts) n_prompts="$2"; shift 2 ;;
    --n) n_new="$2"; shift 2 ;;
    --models) m="$(cd "$2" 2>/dev/null && pwd)" || { echo "model_quality.sh: --models $2: not a folder" >&2; exit 2; }; shift 2 ;;
    -h|--help) sed -n '2,21p' "$0"; exit 0 ;;
    *) echo "model_quality.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
done
bin="$root/decobench"; [ -x "$bin" ] || bin="$root/build/decobench"
for f in "$m/MANIFEST.json" "$m/target.gguf" "$m/draft.gguf" "$m/draft-distilled.gguf" "$bin"; do
  [ -e "$f" ] || { echo "model_quality.sh: $f: not found" >&2; exit 1; }
done
tmp="$(mktemp -d /tmp/decobench-quality.XXXXXX)"
trap 'rm -rf "$tmp"' EXIT

echo "### Held-out quality (data/models/MANIFEST.json)"
echo
echo "| model | parameters | tokens seen | held-out loss (nats) | held-out perplexity | unigram perplexity | held-out accuracy | unigram accuracy |"
echo "|---|--:|--:|--:|--:|--:|--:|--:|"
jq -r '.models[] | "| \(.name) | \(.parameters // .n_params // "-") | \(.tokens_seen) | \(.heldout_loss * 1000 | round / 1000) | \(.heldout_perplexity * 10 | round / 10) | \(.unigram_perplexity * 10 | round / 10) | \(.heldout_accuracy * 1000 | round / 1000) | \(if .unigram_accuracy then (.unigram_accuracy * 1000 | round / 1000) else "-" end) |"' "$m/MANIFEST.json"
echo
echo "(diffusion: loss and accuracy on the masked half of each held-out window, all predicted at once; the unigram baseline guesses the most frequent token)"
jq -r '.models[] | select(.heldout_fill_accuracy != null) | "\n\(.name): filling the same masked halves as its own decoder does (\(.heldout_fill_steps) steps of low-confidence remasking, LLaDA), accuracy \(.heldout_fill_accuracy * 1000 | round / 1000) against the unigram baseline'"'"'s \(.unigram_accuracy * 1000 | round / 1000)."' "$m/MANIFEST.json"
echo

cat > "$tmp/q.json" <<JSON
{
  "name": "model-quality",
  "models": { "target": { "path": "$m/target.gguf", "n_ctx": 1024 }, "draft": { "path": "$m/draft.gguf", "n_ctx": 1024 },
              "draft-distilled": { "path": "$m/draft-distilled.gguf", "n_ctx": 1024 } },
  "datasets": {
    "prose": { "path": "$root/data/prompts/prose.jsonl", "limit": $n_prompts },
    "scripture": { "path": "$root/data/prompts/scripture.jsonl", "limit": $n_prompts },
    "code": { "path": "$root/data/prompts/code.jsonl", "limit": $n_prompts }
  },
  "engines": [
    { "engine": "ar", "label": "ar", "datasets": ["prose", "scripture", "code"] },
    { "engine": "ar", "label": "ar-nr3", "params": { "no_repeat_ngram": 3 }, "datasets": ["prose"] },
    { "engine": "spec", "label": "draft", "draft": "draft", "params": { "k": 4 }, "datasets": ["prose"] },
    { "engine": "spec", "label": "draft-distilled", "draft": "draft-distilled", "params": { "k": 4 }, "datasets": ["prose"] }
  ],
  "baseline": "ar", "max_new_tokens": $n_new, "repetitions": 1, "warmup": 1, "threads": 2
}
JSON
"$bin" run "$tmp/q.json" --db "$tmp/q.db" --no-progress --format none >/dev/null 2>"$tmp/err" || { cat "$tmp/err" >&2; exit 1; }
lb="$root/.deps/llama/bin"
echo "### Draft/target agreement (greedy, k = 4, $n_prompts held-out prose prompts, $n_new new tokens)"
echo
echo "| draft | measured with | mean accepted tokens per target forward (#MAT) | acceptance rate |"
echo "|---|---|--:|--:|"
for d in draft draft-distilled; do
  mat=$(sqlite3 "$tmp/q.db" "select printf('%.2f', sum(s.mat * s.n_commits) / sum(s.n_commits)) from sample s join \"case\" c on c.id = s.case_id where c.label = '$d'")
  acc=$(sqlite3 "$tmp/q.db" "select printf('%.3f', sum(s.accepted) * 1.0 / sum(s.drafted)) from sample s join \"case\" c on c.id = s.case_id where c.label = '$d'")
  same=$(sqlite3 "$tmp/q.db" "select count(*) from sample s join \"case\" c on c.id = s.case_id and c.label = '$d' join sample b on b.prompt_idx = s.prompt_idx join \"case\" bc on bc.id = b.case_id and bc.label = 'ar' and bc.dataset = 'prose' where s.output_tokens_json = b.output_tokens_json")
  [ "$same" = "$n_prompts" ] || { echo "model_quality.sh: spec with $d differs from ar on $((n_prompts - same)) prompts (greedy must be identical)" >&2; exit 1; }
  # llama.cpp cross-check on the same prompts
  lpred=0 lacc=0
  for i in $(seq 1 "$n_prompts"); do
    p="$(sed -n "${i}p" "$root/data/prompts/prose.jsonl" | jq -r .prompt)"
    "$lb/llama-speculative-simple" -m "$m/target.gguf" -md "$m/$d.gguf" --spec-type draft-simple \
      --spec-draft-n-max 4 --spec-draft-n-min 0 --spec-draft-p-min 0 --temp 0 -n "$n_new" -t 2 -td 2 -c 1024 \
      -p "$p" >"$tmp/ls.out" 2>&1 || true
    np=$(awk '/n_predict *=/ {print $NF}' "$tmp/ls.out" | tail -1); na=$(awk '/n_accept *=/ {print $NF}' "$tmp/ls.out" | tail -1)
    [ -n "$np" ] && [ -n "$na" ] && { lpred=$((lpred + np)); lacc=$((lacc + na)); }
  done
  lmat=$(awk -v p="$lpred" -v a="$lacc" 'BEGIN { if (p > a) printf "%.2f", p / (p - a); else print "-" }')
  echo "| $d | decobench \`spec\` | $mat | $acc |"
  echo "| $d | llama.cpp \`llama-speculative-simple\` | $lmat | $(awk -v p="$lpred" -v a="$lacc" -v k=4 'BEGIN { s = p - a; if (s > 0) printf "%.3f", a / (s * k); else print "-" }') |"
done
echo
echo "decobench's speculative outputs equal its autoregressive outputs on all $n_prompts prompts (checked)."
echo
# Repetition (the looping of greedy search): word-level seq-rep-4 of
# Welleck et al. 2019 ("Neural text generation with unlikelihood training":
# the fraction of a continuation's 4-grams that repeat an earlier 4-gram of
# it), the share of continuations with any repeat, and the words before the
# first repeat; the same for each prompt's held-out reference text cut to the
# continuation's word count (what the corpus itself does at that length).
echo "### Repetition in greedy continuations (target, $n_prompts held-out prompts per category, $n_new tokens)"
echo
echo "| category | text | seq-rep-4 (words) | continuations with a repeated 4-gram | median words before the first repeat | words not in the training split |"
echo "|---|---|--:|--:|--:|--:|"
# invented words: the share of a text's words (letter runs, lower-cased)
# that occur nowhere in the training split of any corpus
corpus="${DB_CORPUS:-$root/.deps/corpus}"
known="$tmp/known-words"
if ls "$corpus"/train/*.jsonl >/dev/null 2>&1; then
  jq -r .text "$corpus"/train/*.jsonl | grep -oE '[A-Za-z]+' | tr 'A-Z' 'a-z' | sort -u > "$known"
fi
unknown_share() {  # words on stdin (reads them all: no SIGPIPE for the writer)
  { grep -oE '[A-Za-z]+' || true; } | tr 'A-Z' 'a-z' |
    awk 'NR == FNR { k[$0] = 1; next } { n++; if (!($0 in k)) u++ } END { if (n) printf "%.3f", u / n; else print "-" }' "$known" -
}
sqlite3 -json "$tmp/q.db" "select c.dataset as ds, s.prompt_id as id, s.output_text as text from sample s join \"case\" c on c.id = s.case_id where c.label = 'ar' order by c.idx, s.prompt_idx" > "$tmp/rep.json"
sqlite3 -json "$tmp/q.db" "select c.dataset as ds, s.prompt_id as id, s.output_text as text from sample s join \"case\" c on c.id = s.case_id where c.label = 'ar-nr3' order by c.idx, s.prompt_idx" > "$tmp/nr3.json"
for ds in prose scripture code; do
  # rows: one {model, blocked, reference} set of word lists per prompt
  # (blocked: the 3-gram-blocked continuation, prose only)
  jq -c --arg ds "$ds" --slurpfile p "$root/data/prompts/$ds.jsonl" --slurpfile b "$tmp/nr3.json" '
    def words: [splits("\\s+") | select(length > 0)];
    ($p | map({(.id): .reference}) | add) as $ref
    | ($b[0] | map(select(.ds == $ds) | {(.id): .text}) | add // {}) as $blk
    | .[] | select(.ds == $ds) | (.text | words) as $m
    | {model: $m, blocked: (if $blk[.id] then ($blk[.id] | words) else null end),
       reference: ($ref[.id] | words | .[0:($m | length)])}' "$tmp/rep.json" > "$tmp/rep-$ds.jsonl"
  whiches="model reference"
  [ "$ds" = prose ] && whiches="model blocked reference"
  for which in $whiches; do
    jq -rs --arg w "$which" '
      def grams: . as $w | [range(0; ($w | length) - 3) | $w[.:. + 4] | join(" ")];
      def first_repeat: . as $g | reduce range(0; $g | length) as $i ({seen: {}, at: null};
          if .at != null then . elif .seen[$g[$i]] then .at = $i else .seen[$g[$i]] = true end) | .at;
      map(.[$w] | grams | select(length > 0) | {n: length, rep: (length - (unique | length)), at: first_repeat})
      | (map((.at // .n) + 3) | sort) as $fr
      | [((map(.rep) | add) / (map(.n) | add) * 1000 | round / 1000), (map(select(.at != null)) | length), length,
         ($fr | length) as $l | if $l % 2 == 1 then $fr[($l - 1) / 2] else ($fr[$l / 2 - 1] + $fr[$l / 2]) / 2 end] | @tsv' "$tmp/rep-$ds.jsonl" |
      while IFS=$'\t' read -r r k n med; do
        case "$which" in
          model) label="target, greedy" ;;
          blocked) label="target, greedy with 3-gram blocking" ;;
          *) label="held-out reference, same length" ;;
        esac
        unk=-
        [ -s "$known" ] && unk=$(jq -r --arg w "$which" '.[$w][]' "$tmp/rep-$ds.jsonl" | unknown_share)
        echo "| $ds | $label | $r | $k of $n | $med | $unk |"
      done
  done
done
echo
echo "(3-gram blocking: \`ar\` with no_repeat_ngram=3, the most likely token that completes no earlier token 3-gram of prompt and continuation; seq-rep-4: the share of a text's word 4-grams that repeat an earlier 4-gram of it, Welleck et al. 2019; a text without a repeat counts its whole length in the median; the last column: the share of its words, as lower-cased letter runs, that occur nowhere in the training split — invented words)"
echo
echo "### Greedy continuations of held-out prompts (target, $n_new tokens)"
echo
# print_samples FILE NOTE: each continuation in FILE (a JSON array of {ds,
# id, text}) after its prompt, NOTE appended to its heading
print_samples() {
  local file=$1 note=$2 n j ds id
  n=$(jq length "$file")
  for ((j = 0; j < n; j++)); do
    ds="$(jq -r ".[$j].ds" "$file")"; id="$(jq -r ".[$j].id" "$file")"
    echo "**$ds ($id)$note** — prompt, then ⟦the model's continuation⟧"
    echo
    echo '```'
    jq -rj --arg id "$id" 'select(.id == $id) | .prompt' "$root/data/prompts/$ds.jsonl"
    jq -r ".[$j].text" "$file" | awk 'BEGIN { printf "⟦" } { if (NR > 1) printf "\n"; printf "%s", $0 } END { print "⟧" }'
    echo '```'
    echo
  done
}
# the first two prompts of each category (rep.json keeps the run's order)
jq '[("prose", "scripture", "code") as $d | map(select(.ds == $d))[0:2][]]' "$tmp/rep.json" > "$tmp/cont.json"
print_samples "$tmp/cont.json" ""
echo "### Greedy continuations with 3-gram blocking (target, prose, $n_new tokens)"
echo
jq '[map(select(.ds == "prose"))[0:2][]]' "$tmp/nr3.json" > "$tmp/cont-nr3.json"
print_samples "$tmp/cont-nr3.json" ", no_repeat_ngram=3"
