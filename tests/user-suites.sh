#!/usr/bin/env bash
# user-suites.sh — the suites meant for users' own models (those whose model
# paths do not exist in a clean clone: spec-bench, jsonschemabench,
# lexical-commongen) and the README's recipes for them (and `./decobench
# run` itself), run end to end on
# the bundled models given a chat template (decobench-mkmodel --from ...
# --chat-template chatml), one prompt per dataset (--limit 1) and 16 new
# tokens; and every JSONL dataset shipped under data/ loaded in full and run
# for one prompt.  Ends with "N passed, N failed".
set -u
src="${DB_SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}"
build="${DB_BUILDDIR:-$src}"
bin="$build/decobench"
mkmodel="$build/decobench-mkmodel"
tmp="$(mktemp -d /tmp/decobench-user.XXXXXX)"
trap 'rm -rf "$tmp"' EXIT
. "$src/tests/lib.sh"
models="$src/data/models"

# ---- the bundled models with a chat template --------------------------------
for m in target draft; do
  "$mkmodel" --from "$models/$m.gguf" --chat-template chatml --out "$tmp/$m-chat.gguf" >/dev/null 2>"$tmp/mk.err" \
    || fail "mkmodel --from $m.gguf --chat-template chatml" "$(cat "$tmp/mk.err")"
done
[ -s "$tmp/target-chat.gguf" ] || finish
# control: the copy has the original's weights (same greedy tokens on a plain prompt)
echo '{"id": "x", "prompt": "The old house stood at the end of the road"}' > "$tmp/one.jsonl"
for m in orig copy; do
  p="$models/target.gguf"; [ $m = copy ] && p="$tmp/target-chat.gguf"
  cat > "$tmp/ctl-$m.json" <<JSON
{ "name": "ctl", "models": { "target": { "path": "$p", "n_ctx": 256 } }, "datasets": { "d": { "path": "one.jsonl" } },
  "engines": [ { "engine": "ar" } ], "max_new_tokens": 24, "warmup": 0, "threads": 1 }
JSON
  "$bin" run "$tmp/ctl-$m.json" --db "$tmp/ctl-$m.db" --no-progress --format none >/dev/null 2>&1
done
a=$(sqlite3 "$tmp/ctl-orig.db" 'select output_tokens_json from sample' 2>/dev/null)
b=$(sqlite3 "$tmp/ctl-copy.db" 'select output_tokens_json from sample' 2>/dev/null)
[ -n "$a" ] && [ "$a" = "$b" ] && ok "mkmodel --from: the copy decodes like the bundled target" || fail "mkmodel --from copy" "orig=$a copy=$b"

# ---- the suites for users' models ----------------------------------------------
# The bundled target has 4 blocks: spec-bench's self-spec (layers 8, for real
# models) is given 2; everything else is the suite as shipped.  Its datasets
# resolve from a copy of the suite next to a link to data/.
mkdir -p "$tmp/suites"
ln -s "$src/data" "$tmp/data"
echo '{"max_new_tokens": 16, "warmup": 0, "threads": 1}' > "$tmp/short.json"
n_user=0
for s in "$src"/suites/*.json; do
  name=$(basename "$s" .json)
  # a suite for the user's own models: a model path that does not exist here
  missing=$(jq -r '.models | to_entries[] | select(.value.path != null) | .value.path' "$s" \
    | while read -r p; do [ -e "$src/suites/$p" ] || echo "$p"; done)
  [ -n "$missing" ] || continue
  n_user=$((n_user + 1))
  jq '(.engines[] | select(.engine == "self-spec") | .params.layers) |= 2' "$s" > "$tmp/suites/$name.json"
  margs=(--model "target=$tmp/target-chat.gguf")
  jq -e '.models.draft' "$s" >/dev/null 2>&1 && margs+=(--model "draft=$tmp/draft-chat.gguf")
  # the README's recipe, with --limit 1 and 16 new tokens
  "$bin" run "$tmp/suites/$name.json" "${margs[@]}" --db "$tmp/$name.db" --limit 1 --override "$tmp/short.json" \
    --no-progress --format none >/dev/null 2>"$tmp/$name.err"
  rc=$?
  n_cases=$(jq '[.engines[] | (.grid // {} | [.[] | length] | if length == 0 then 1 else (reduce .[] as $n (1; . * $n)) end)] | add' "$s")
  n_ds=$(jq '.datasets | length' "$s")
  done_cases=$(sqlite3 "$tmp/$name.db" 'select count(*) from "case" where status = "completed"' 2>/dev/null)
  empty=$(sqlite3 "$tmp/$name.db" 'select count(*) from "case" c where not exists (select 1 from sample s where s.case_id = c.id)' 2>/dev/null)
  if [ $rc = 0 ] && [ "${done_cases:-0}" = $((n_cases * n_ds)) ] && [ "${empty:-1}" = 0 ]; then
    ok "suite $name on the bundled models with a chat template: $done_cases cases completed"
  else
    fail "suite $name on the bundled models with a chat template" "rc=$rc completed=$done_cases of $((n_cases * n_ds)) empty=$empty" "$(grep -v warning "$tmp/$name.err" | tail -2)"
  fi
  # every turn of a chat dataset ran in the template
  turns=$(sqlite3 "$tmp/$name.db" 'select count(distinct turn) from sample' 2>/dev/null)
  want=$(jq -s 'first | (.turns // [1]) | length' "$src/$(jq -r '.datasets | to_entries[0].value.path' "$s" | sed 's#^\.\./##')")
  [ "$turns" = "$want" ] && ok "suite $name: $turns turn(s) of the first prompt" || fail "suite $name turns" "ran $turns, the prompt has $want"
done
[ "$n_user" -ge 3 ] && ok "$n_user suites for users' models found and run" || fail "suites for users' models" "found $n_user"

# ---- the README's report recipes on those runs ---------------------------------
recipe() {  # recipe NAME DB ARGS...: exit 0 and a table
  local name="$1" db="$2"; shift 2
  if "$bin" report --db "$db" "$@" >"$tmp/rep.out" 2>"$tmp/rep.err" && [ -s "$tmp/rep.out" ]; then ok "$name"
  else fail "$name" "$(head -2 "$tmp/rep.err")"; fi
}
recipe "README: report --by category (spec-bench)" "$tmp/spec-bench.db" --by category
grep -qE '^[|] spec( †)? [|] ' "$tmp/rep.out" && grep -qE '^[|] self-spec( †)? [|] ' "$tmp/rep.out" && ok "spec-bench by category: a row per method" \
  || fail "spec-bench by category" "$(head -5 "$tmp/rep.out")"
recipe "README: report --by category (jsonschemabench)" "$tmp/jsonschemabench.db" --by category
recipe "README: report --metrics constraint_supported,output_compliant,compliance,mask_p50_us" "$tmp/jsonschemabench.db" \
  --metrics constraint_supported,output_compliant,compliance,mask_p50_us
recipe "README/suite: report --metrics keywords_all,keyword_coverage,constraint_success" "$tmp/lexical-commongen.db" \
  --metrics keywords_all,keyword_coverage,constraint_success

# ---- README: `./decobench run` from a clean clone (the default suite) --------------
mkdir -p "$tmp/clone"
ln -s "$src/suites" "$tmp/clone/suites"
ln -s "$src/data" "$tmp/clone/data"
(cd "$tmp/clone" && "$bin" run >"$tmp/default.out" 2>"$tmp/default.err")
rc=$?
if [ $rc = 0 ] && grep -q "^decobench run: run 1 completed: 3/3 cases, 72 samples -> decobench.db$" "$tmp/default.err" \
   && grep -Eq "^\| ar-greedy( †)? \| smoke \| target \| 24 \| " "$tmp/default.out" && [ -s "$tmp/clone/decobench.db" ]; then
  ok "README: ./decobench run runs the default suite into ./decobench.db and prints the table"
else
  fail "README: ./decobench run" "rc=$rc" "$(head -3 "$tmp/default.err")"
fi

# `decobench list suites|models` (README's command table) from the clean clone
(cd "$tmp/clone" && "$bin" list suites >"$tmp/ls.out" 2>&1 && "$bin" list models >"$tmp/lm.out" 2>&1)
n_listed=$(grep -c '^  suites/.*\.json ' "$tmp/ls.out")
n_suites=$(ls "$src"/suites/*.json | wc -l)
[ "$n_listed" = "$n_suites" ] && grep -q '^  data/models/target.gguf ' "$tmp/lm.out" \
  && ok "README: list suites ($n_listed) and list models" || fail "list suites/models" "listed $n_listed of $n_suites" "$(head -3 "$tmp/lm.out")"

# ---- every dataset shipped under data/ ----------------------------------------------
# loaded in full (every line parsed) and run for its first prompt with ar;
# data/schemas/index.jsonl is the index of the JSON Schema files (their
# prompts are data/prompts/jsonschemabench.jsonl), not a prompt dataset
ds_files() { (cd "$src" && find data -name '*.jsonl' ! -path 'data/schemas/*' | sort); }
ds_json=$(ds_files | awk '{ printf "%s\"d%d\": { \"path\": \"%s\" }", (NR > 1 ? ", " : ""), NR, $0 }')
n_files=$(ds_files | wc -l)
cat > "$tmp/all-data.json" <<JSON
{ "name": "all-data", "models": { "target": { "path": "$models/target.gguf", "n_ctx": 4096 } },
  "datasets": { $ds_json }, "engines": [ { "engine": "ar" } ],
  "max_new_tokens": 4, "warmup": 0, "threads": 1 }
JSON
(cd "$src" && "$bin" run "$tmp/all-data.json" --db "$tmp/all.db" --limit 1 --no-progress --format none >/dev/null 2>"$tmp/all.err")
rc=$?
good=$(sqlite3 "$tmp/all.db" 'select count(*) from "case" where status = "completed"' 2>/dev/null)
if [ $rc = 0 ] && [ "${good:-0}" = "$n_files" ]; then
  ok "every JSONL dataset under data/ loads and runs ($good files)"
else
  fail "every JSONL dataset under data/ loads and runs" "rc=$rc completed=$good of $n_files" "$(grep -v warning "$tmp/all.err" | head -2)"
fi
finish
