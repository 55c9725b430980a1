#!/bin/sh
# make-json-prompts.sh — build the prompt files of the JSON Schema suites from
# data/schemas (JSONSchemaBench schemas; see data/schemas/README.md):
#
#   data/prompts/json.jsonl            for the bundled target (suites/json.json):
#       a short lead-in, the schema only in "constraint" (the bundled model's
#       256-token context cannot hold schemas)
#   data/prompts/jsonschemabench.jsonl for real models (suites/jsonschemabench.json):
#       a zero-shot instruction with the schema in the prompt, run through the
#       model's chat template
#
# Both list the schemas round-robin over the 10 splits (so a dataset "limit"
# takes a stratified subset), category = split.  Deterministic; needs jq.
set -eu
SRCDIR=$(cd "$(dirname "$0")/.." && pwd)
S=$SRCDIR/data/schemas
OUT=$SRCDIR/data/prompts
command -v jq >/dev/null || { echo "make-json-prompts.sh: jq: not installed (apt-get install jq)" >&2; exit 1; }
[ -s "$S/index.jsonl" ] || { echo "make-json-prompts.sh: $S/index.jsonl: missing" >&2; exit 1; }

# index lines in round-robin order: rank within split, then split order
jq -s -c 'group_by(.split) | map(to_entries | map(.value + {rank: .key})) | add
          | sort_by(.rank, .split) | .[]' "$S/index.jsonl" > "$OUT/.json-order.tmp"

emit() {   # emit MODE OUTFILE
  : > "$2.tmp"
  while IFS= read -r line; do
    path=$(printf '%s' "$line" | jq -r .path)
    printf '%s' "$line" | jq -c --arg mode "$1" --slurpfile sch "$S/$path" '
      $sch[0] as $schema
      | {id: "\(.split)/\(.id)", category: .split,
         prompt: (if $mode == "short"
                  then "A JSON document" + (if ($schema | type) == "object" and ($schema.title | type) == "string"
                                            then " (" + ($schema.title | .[:60]) + ")" else "" end) + ":\n"
                  else "You need to generate a JSON object that matches the schema below.\n\nSchema:\n"
                       + ($schema | tojson) + "\n\nOutput only the JSON object." end),
         constraint: {json_schema: $schema}}' >> "$2.tmp"
  done < "$OUT/.json-order.tmp"
  mv "$2.tmp" "$2"
}
emit short "$OUT/json.jsonl"
emit full "$OUT/jsonschemabench.jsonl"
rm -f "$OUT/.json-order.tmp"
echo "make-json-prompts.sh: wrote $OUT/json.jsonl and $OUT/jsonschemabench.jsonl ($(wc -l < "$OUT/json.jsonl") schemas each)"
