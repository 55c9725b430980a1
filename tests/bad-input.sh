#!/usr/bin/env bash
# bad-input.sh — every kind of bad input the CLI can be given (suite files,
# datasets, overrides, command-line options, model files, references to
# files to download (malformed; not cached with --offline), drafts with
# another vocabulary, prompts longer than the context, n_ctx = 1, invalid
# GBNF / regex / JSON Schema constraints, JSON nested too deep, report
# options): each must give exit status 2, exactly one line on stderr that
# names the input, and write nothing -- a database that did not exist still
# does not, an existing one keeps its sha256.  Prints the count ("N bad
# inputs tried") and ends with "N passed, N failed".
set -u
src="${DB_SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}"
build="${DB_BUILDDIR:-$src}"
bin="$build/decobench"
mkmodel="$build/decobench-mkmodel"
tmp="$(mktemp -d /tmp/decobench-bad.XXXXXX)"
trap 'rm -rf "$tmp"' EXIT
. "$src/tests/lib.sh"
models="$src/data/models"

# ---- inputs ------------------------------------------------------------------
cp "$models/target.gguf" "$tmp/target.gguf"
cp "$models/diffusion.gguf" "$tmp/diffusion.gguf"
# drafts: another vocabulary size (mkmodel's built-in vocabulary), and the
# bundled vocabulary with one token's piece changed (same size and specials)
"$mkmodel" --out "$tmp/draft-othersize.gguf" --n-embd 32 --n-layer 1 >/dev/null 2>&1 \
  || { fail "mkmodel writes a draft"; finish; }
awk -F'\t' 'BEGIN{OFS="\t"} NR == 300 { $1 = "zqxj" } { print }' "$models/vocab.tsv" > "$tmp/vocab-onediff.tsv"
"$mkmodel" --out "$tmp/draft-onetoken.gguf" --vocab "$tmp/vocab-onediff.tsv" --n-embd 32 --n-layer 1 >/dev/null 2>&1
"$mkmodel" --out "$tmp/draft-same.gguf" --vocab "$models/vocab.tsv" --n-embd 32 --n-layer 1 >/dev/null 2>&1
cat > "$tmp/prompts.jsonl" <<'JSONL'
{"id": "p1", "prompt": "The old house stood at the end of the road"}
{"id": "p2", "prompt": "In the beginning there was"}
JSONL
long=$(for i in $(seq 1 400); do printf 'word%d ' "$i"; done)
echo "{\"id\": \"long-one\", \"prompt\": \"$long\"}" > "$tmp/long.jsonl"
con() { echo "{\"id\": \"$1\", \"prompt\": \"Answer:\", \"constraint\": $2}"; }
con bad-gbnf '{"grammar": "root ::= \"a\" | ( \"b\""}' > "$tmp/c-gbnf.jsonl"
con bad-regex '{"regex": "(ab"}' > "$tmp/c-regex.jsonl"
con bad-schema '{"json_schema": {"type": 12}}' > "$tmp/c-schema.jsonl"
con bad-keywords '{"keywords": [1, 2]}' > "$tmp/c-keywords.jsonl"
con lookahead '{"regex": "(?=a)a"}' > "$tmp/c-lookahead.jsonl"   # the compliance check's matcher takes it, the DFA does not
kw=$(for i in $(seq 1 40); do printf '"w%d",' "$i"; done); kw="[${kw%,}]"
con many-keywords "{\"keywords\": $kw}" > "$tmp/c-manykw.jsonl"
deep=$(printf '[%.0s' $(seq 1 1200))1$(printf ']%.0s' $(seq 1 1200))
echo "{\"id\": \"deep\", \"prompt\": \"x\", \"constraint\": {\"json_schema\": {\"enum\": [$deep]}}}" > "$tmp/deep.jsonl"
printf '{"id": "a", "prompt": "fine"}\n{"id": "b", "prompt": \n' > "$tmp/badline.jsonl"
echo '{"id": "r", "prompt": "x", "reference": 42}' > "$tmp/badref.jsonl"
echo '{"question_id": 1, "turns": ["Say hello.", "Again."]}' > "$tmp/turns.jsonl"

# suite FILE [KEY=JSON ...]: a small suite; each KEY=JSON replaces a top-level key
suite() {
  local f="$1"; shift
  local models='{ "target": { "path": "target.gguf", "n_ctx": 512 } }'
  local datasets='{ "p": { "path": "prompts.jsonl" } }'
  local engines='[ { "engine": "ar", "label": "ar" } ]'
  local extra=''
  for kv in "$@"; do
    case "$kv" in
      models=*) models="${kv#models=}" ;;
      datasets=*) datasets="${kv#datasets=}" ;;
      engines=*) engines="${kv#engines=}" ;;
      *) extra="$extra, \"${kv%%=*}\": ${kv#*=}" ;;
    esac
  done
  cat > "$tmp/$f" <<JSON
{ "name": "bad-input", "models": $models, "datasets": $datasets, "engines": $engines,
  "max_new_tokens": 8, "repetitions": 1, "warmup": 0, "threads": 1$extra }
JSON
}
suite good.json
if "$bin" run "$tmp/good.json" --db "$tmp/existing.db" --no-progress --format none >/dev/null 2>"$tmp/good.err"; then
  ok "a good run makes the database the bad inputs must leave unchanged"
else
  fail "the good run" "$(tail -2 "$tmp/good.err")"; finish
fi
sha() { sha256sum "$1" 2>/dev/null | cut -c1-64; }
db_sha=$(sha "$tmp/existing.db")
cp "$tmp/existing.db" "$tmp/pristine.db"   # restored before every try, so each is judged alone

tried=0 refused=0
# refuse NAME PATTERN -- ARGS...: ARGS may hold @DB@ (replaced by a fresh
# path, then by the existing database) and @OUT@ (an output that must not
# appear).  Checks exit 2, one stderr line matching PATTERN (fixed string),
# nothing written.
refuse() {
  local name="$1" pattern="$2"; shift 3
  tried=$((tried + 1))
  local variants="fresh" problems="" has_db=0
  case " $* " in *@DB@*) has_db=1; variants="fresh existing" ;; esac
  [ "${1:-}" = report ] && variants="existing"
  for v in $variants; do
    local db="$tmp/fresh.db"; [ "$v" = existing ] && db="$tmp/existing.db"
    rm -f "$tmp/fresh.db" "$tmp/fresh.db-wal" "$tmp/fresh.db-shm" "$tmp/fresh.db-journal" "$tmp/out.txt"
    cp "$tmp/pristine.db" "$tmp/existing.db"
    local args=() a
    for a in "$@"; do a="${a//@DB@/$db}"; args+=("${a//@OUT@/$tmp/out.txt}"); done
    "$bin" "${args[@]}" >"$tmp/o" 2>"$tmp/e"; local rc=$?
    local lines; lines=$(wc -l <"$tmp/e")
    [ $rc = 2 ] || problems="$problems [$v] exit $rc;"
    [ "$lines" = 1 ] || problems="$problems [$v] $lines stderr lines;"
    grep -qF -- "$pattern" "$tmp/e" || problems="$problems [$v] no '$pattern';"
    ls "$tmp"/fresh.db* >/dev/null 2>&1 && problems="$problems [$v] database created;"
    [ -e "$tmp/out.txt" ] && problems="$problems [$v] output written;"
    [ "$(sha "$tmp/existing.db")" = "$db_sha" ] || problems="$problems [$v] existing database changed;"
    [ $has_db = 1 ] || break
  done
  if [ -z "$problems" ]; then
    refused=$((refused + 1)); ok "$name: $(head -c 150 "$tmp/e")"
  else
    fail "$name" "$problems" "$(head -3 "$tmp/e")"
  fi
}
R() { echo run "$tmp/$1" --db @DB@ --no-progress --format none; }

# ---- suite files ---------------------------------------------------------------
refuse "missing suite file" "nosuch.json" -- run "$tmp/nosuch.json" --db @DB@
printf '{ "name": "x", \n "models": { ,\n' > "$tmp/malformed.json"
refuse "malformed suite JSON (line and column)" "malformed.json:2:" -- run "$tmp/malformed.json" --db @DB@
{ printf '{"name": "deep", "x": '; printf '[%.0s' $(seq 1 1100); printf ']%.0s' $(seq 1 1100); printf '}\n'; } > "$tmp/deep-suite.json"
refuse "suite JSON nested too deep" "deep-suite.json:1:" -- run "$tmp/deep-suite.json" --db @DB@
grep -q "nested deeper than 1000" "$tmp/e" && ok "deep suite: says 'nested deeper than 1000'" || fail "deep suite message" "$(cat "$tmp/e")"
suite unknown-key.json 'warmpu=2'
refuse "unknown key names its JSON path" "warmpu" -- $(R unknown-key.json)
suite wrong-type.json 'seeds="one"'
refuse "wrong type names its JSON path" "$.seeds" -- $(R wrong-type.json)
suite bad-engine.json 'engines=[ { "engine": "warp" } ]'
refuse "unknown engine" "warp" -- $(R bad-engine.json)
suite bad-param.json 'engines=[ { "engine": "ar", "params": { "top_kk": 4 } } ]'
refuse "unknown engine parameter" "top_kk" -- $(R bad-param.json)
suite bad-range.json 'engines=[ { "engine": "ar", "params": { "mode": "sample", "temp": 99 } } ]'
refuse "out-of-range parameter" "temp" -- $(R bad-range.json)
suite self-layers.json 'engines=[ { "engine": "self-spec", "params": { "layers": 64 } } ]'
refuse "self-spec with more layers than the target has" "layers" -- $(R self-layers.json)

# ---- serving (engine serve, suite servers) ------------------------------------------
srv_ok='{ "s": { "api": "llama.cpp", "command": ["llama-server", "--port", "{port}"] } }'
suite serve-no-api.json 'servers={ "s": { "url": "http://127.0.0.1:9" } }' 'engines=[ { "engine": "serve", "server": "s" } ]'
refuse "a server without \"api\"" '$.servers.s: "api" is required' -- $(R serve-no-api.json)
suite serve-no-port.json 'servers={ "s": { "api": "openai", "command": ["llama-server", "-m", "x"] } }' 'engines=[ { "engine": "serve", "server": "s" } ]'
refuse "a started server not told its port" "no argument holds {port}" -- $(R serve-no-port.json)
suite serve-placeholder.json 'servers={ "s": { "api": "openai", "command": ["s", "--port", "{prot}"] } }' 'engines=[ { "engine": "serve", "server": "s" } ]'
refuse "an unknown placeholder in a server command" "unknown placeholder '{prot}'" -- $(R serve-placeholder.json)
suite serve-no-server.json "servers=$srv_ok" 'engines=[ { "engine": "serve" } ]'
refuse "a serve entry without a server" '$.engines[0].server: required' -- $(R serve-no-server.json)
suite serve-missing-prog.json 'servers={ "s": { "api": "llama.cpp", "command": ["no-such-server-xyz", "--port", "{port}"] } }' 'engines=[ { "engine": "serve", "server": "s" } ]'
refuse "a server program that is not on PATH" "'no-such-server-xyz' not found on PATH" -- $(R serve-missing-prog.json)
suite serve-bad-load.json "servers=$srv_ok" 'engines=[ { "engine": "serve", "server": "s", "params": { "load": "burst" } } ]'
refuse "an unknown load of a serve entry" "load" -- $(R serve-bad-load.json)
suite serve-bad-slo.json "servers=$srv_ok" 'engines=[ { "engine": "serve", "server": "s" } ]' 'slo={ "ttft_ms": -5 }'
refuse "a negative SLO" '$.slo.ttft_ms' -- $(R serve-bad-slo.json)

# ---- model files ----------------------------------------------------------------
suite no-model.json 'models={ "target": { "path": "absent.gguf" } }'
refuse "missing model file" "absent.gguf" -- $(R no-model.json)
echo "this is not a model" > "$tmp/notgguf.gguf"
suite not-gguf.json 'models={ "target": { "path": "notgguf.gguf" } }'
refuse "file that is not GGUF" "notgguf.gguf" -- $(R not-gguf.json)
suite bad-sha.json "models={ \"target\": { \"path\": \"target.gguf\", \"sha256\": \"$(printf '0%.0s' $(seq 1 64))\" } }"
refuse "model sha256 mismatch" "sha256" -- $(R bad-sha.json)
# models and datasets named by reference (hf:..., URLs; docs/fetch.md): a malformed one, and
# with --offline one the cache (empty here) lacks; neither touches the network
export DECOBENCH_CACHE_DIR="$tmp/cache"
suite bad-hfref.json 'models={ "target": { "path": "hf:org/repo" } }'
refuse "malformed hf: reference" "\$.models.target.path: bad reference: hf:org/repo: expected hf:ORG/REPO/PATH[@REVISION]" -- $(R bad-hfref.json)
suite offline-ref.json 'datasets={ "p": { "path": "hf:datasets/org/repo/p.jsonl" } }'
refuse "--offline, a referenced dataset not cached" "\$.datasets.p.path: hf:datasets/org/repo/p.jsonl: not in the cache ($tmp/cache/hub/datasets/org/repo/main/p.jsonl) and offline mode is on" \
  -- $(R offline-ref.json) --offline

# ---- drafts -----------------------------------------------------------------------
for d in othersize onetoken same; do
  suite "draft-$d.json" "models={ \"target\": { \"path\": \"target.gguf\", \"n_ctx\": 512 }, \"draft\": { \"path\": \"draft-$d.gguf\", \"n_ctx\": 512 } }" \
    'engines=[ { "engine": "spec", "draft": "draft", "params": { "k": 2 } } ]'
done
refuse "draft with another vocabulary size" "draft 'draft' does not share the vocabulary of target 'target' (vocabulary size" -- $(R draft-othersize.json)
refuse "draft differing in one token" "(tokens: token 299 is 'zqxj' in the draft" -- $(R draft-onetoken.json)
# control: the same vocabulary passes the check (the run completes)
"$bin" run "$tmp/draft-same.json" --db "$tmp/same.db" --no-progress --format none >/dev/null 2>"$tmp/e" \
  && ok "control: a draft with the target's vocabulary runs" || fail "control: a draft with the target's vocabulary runs" "$(cat "$tmp/e")"

# ---- context lengths --------------------------------------------------------------
suite long.json 'datasets={ "long": { "path": "long.jsonl" } }'
refuse "prompt longer than n_ctx" "item 'long-one'" -- $(R long.json)
grep -qF "exceed the context of model 'target', 512 tokens" "$tmp/e" && ok "too-long prompt: names the context (512)" || fail "too-long prompt message" "$(cat "$tmp/e")"
suite ctx1.json 'models={ "target": { "path": "target.gguf", "n_ctx": 1 } }'
refuse "n_ctx = 1" "context of model 'target', 1 tokens" -- $(R ctx1.json)
suite ctx-draft.json 'models={ "target": { "path": "target.gguf", "n_ctx": 512 }, "draft": { "path": "draft-same.gguf", "n_ctx": 12 } }' \
  'engines=[ { "engine": "spec", "draft": "draft" } ]'
refuse "draft context too small" "context of model 'draft', 12 tokens" -- $(R ctx-draft.json)
suite no-template.json 'datasets={ "mt": { "path": "turns.jsonl", "chat": true } }'
refuse "chat dataset on a model without a chat template" "has \"chat\": true, but model 'target'" -- $(R no-template.json)

suite scorer-short.json 'models={ "target": { "path": "target.gguf", "n_ctx": 512 }, "scorer": { "path": "target.gguf", "n_ctx": 8 } }' \
  'scorer="scorer"'
refuse "prompt longer than the scorer's context" "exceed the context of the scorer 'scorer', 8 tokens" -- $(R scorer-short.json)

# ---- what only a run can find: a failed case with its reason, nothing leaked --------
# the scorer holds the 11-token prompt but not prompt + 8 generated tokens
suite scorer-late.json 'models={ "target": { "path": "target.gguf", "n_ctx": 512 }, "scorer": { "path": "target.gguf", "n_ctx": 14 } }' \
  'scorer="scorer"' 'stop_at_eog=false' 'datasets={ "p": { "path": "one.jsonl" } }'
echo '{"id": "p1", "prompt": "The old house stood at the end of the road"}' > "$tmp/one.jsonl"
"$bin" run "$tmp/scorer-late.json" --db "$tmp/late.db" --no-progress --format none >/dev/null 2>"$tmp/late.err"; rc=$?
st=$(sqlite3 "$tmp/late.db" 'select status from "case"' 2>/dev/null)
run_st=$(sqlite3 "$tmp/late.db" 'select status from run' 2>/dev/null)
case "$st" in "failed: scorer 'scorer': scorer: forward over 18 tokens"*) st_ok=1 ;; *) st_ok=0 ;; esac
[ $rc = 1 ] && [ $st_ok = 1 ] && [ "$run_st" = failed ] && ok "a failure only the run can find: exit 1, the case stored as failed with its reason" \
  || fail "run-time failure stored as a failed case" "rc=$rc case=$st run=$run_st" "$(head -3 "$tmp/late.err")"
# under the sanitizers (build-san) LeakSanitizer reports at exit: the failed sample's copies were leaked before
grep -q "LeakSanitizer\|AddressSanitizer" "$tmp/late.err" && fail "the failed case leaks nothing" "$(grep -A3 "leak of" "$tmp/late.err" | head -8)" \
  || ok "the failed case leaks nothing (LeakSanitizer quiet under build-san)"
# a prompt beyond the model's training context (256 for the bundled target): a warning, and the run goes on
suite train-ctx.json 'models={ "target": { "path": "target.gguf", "n_ctx": 2048 } }' 'datasets={ "long": { "path": "long.jsonl" } }'
"$bin" run "$tmp/train-ctx.json" --db "$tmp/warn.db" --no-progress --format none >/dev/null 2>"$tmp/warn.err"; rc=$?
[ $rc = 0 ] && grep -qF "warning: model 'target' was trained with a context of 256 tokens; 1 prompt of dataset 'long' with max_new_tokens 8 go beyond it (first: item 'long-one', 1354 prompt tokens)" "$tmp/warn.err" \
  && ok "a prompt beyond the training context warns and runs" || fail "training-context warning" "rc=$rc $(cat "$tmp/warn.err")"

# ---- datasets and their constraints ------------------------------------------------
suite no-dataset.json 'datasets={ "d": { "path": "nosuch.jsonl" } }'
refuse "missing dataset file" "nosuch.jsonl" -- $(R no-dataset.json)
suite bad-line.json 'datasets={ "d": { "path": "badline.jsonl" } }'
refuse "malformed dataset line" "badline.jsonl:2:" -- $(R bad-line.json)
suite deep-line.json 'datasets={ "d": { "path": "deep.jsonl" } }'
refuse "dataset line nested too deep" "deep.jsonl:1: JSON nested deeper than 1000 levels" -- $(R deep-line.json)
suite bad-ref.json 'datasets={ "d": { "path": "badref.jsonl" } }'
refuse "reference of the wrong type" "badref.jsonl:1: \"reference\"" -- $(R bad-ref.json)
for c in gbnf regex schema keywords; do
  suite "c-$c.json" "datasets={ \"d\": { \"path\": \"c-$c.jsonl\" } }"
done
refuse "invalid GBNF grammar" "item 'bad-gbnf' (" -- $(R c-gbnf.json)
grep -qF '$.constraint.grammar' "$tmp/e" && ok "invalid grammar: names \$.constraint.grammar" || fail "grammar path" "$(cat "$tmp/e")"
refuse "invalid regex" "item 'bad-regex' (" -- $(R c-regex.json)
refuse "invalid JSON Schema" "\$.constraint.json_schema" -- $(R c-schema.json)
refuse "keywords that are not strings" "\$.constraint.keywords" -- $(R c-keywords.json)
suite grammar-noconstraint.json 'engines=[ { "engine": "grammar" } ]'
refuse "grammar engine on prompts without a constraint" "needs a \"grammar\" or \"json_schema\" constraint" -- $(R grammar-noconstraint.json)
suite diffusion-lookahead.json 'models={ "target": { "path": "diffusion.gguf", "n_ctx": 256 } }' \
  'datasets={ "d": { "path": "c-lookahead.jsonl" } }' 'engines=[ { "engine": "diffusion", "params": { "steps": 4 } } ]'
refuse "diffusion regex the automaton cannot compile" "(engine diffusion): dataset 'd' item 'lookahead'" -- $(R diffusion-lookahead.json)
suite lexical-many.json 'datasets={ "d": { "path": "c-manykw.jsonl" } }' 'engines=[ { "engine": "lexical" } ]'
refuse "lexical constraint with too many keywords" "more than 32 distinct keywords" -- $(R lexical-many.json)

# ---- command line -------------------------------------------------------------------
refuse "--model for a model the suite lacks" "no model named 'drafty'" -- $(R good.json) --model drafty=x.gguf
refuse "--model without NAME=" "expected NAME=PATH" -- $(R good.json) --model x.gguf
refuse "--model naming a missing file" "nothere.gguf" -- $(R good.json) --model target=nothere.gguf
refuse "--override with a missing file" "nosuch-override.json" -- $(R good.json) --override "$tmp/nosuch-override.json"
echo '[1, 2]' > "$tmp/arr.json"
refuse "--override that is not an object" "expected a JSON object" -- $(R good.json) --override "$tmp/arr.json"
echo '{"max_new_tokens": ' > "$tmp/ov-malformed.json"
refuse "--override with malformed JSON" "ov-malformed.json: --override: malformed JSON" -- $(R good.json) --override "$tmp/ov-malformed.json"
{ printf '{"x": '; printf '{"a": %.0s' $(seq 1 1100); printf '1'; printf '}%.0s' $(seq 1 1100); printf '}\n'; } > "$tmp/ov-deep.json"
refuse "--override nested too deep" "nested deeper than 1000" -- $(R good.json) --override "$tmp/ov-deep.json"
echo '{"max_new_tokens": -5}' > "$tmp/ov-range.json"
refuse "--override with an out-of-range value" "max_new_tokens" -- $(R good.json) --override "$tmp/ov-range.json"
refuse "--limit 0" "--limit" -- $(R good.json) --limit 0
refuse "--limit that is not a number" "--limit" -- $(R good.json) --limit ten
refuse "--format unknown" "--format" -- run "$tmp/good.json" --db @DB@ --format yaml
refuse "unknown option" "--frobnicate" -- run "$tmp/good.json" --db @DB@ --frobnicate
refuse "two suites" "expected one suite" -- run "$tmp/good.json" "$tmp/good.json" --db @DB@
refuse "unwritable database path" "/nonexistent-dir/x.db" -- run "$tmp/good.json" --db /nonexistent-dir/x.db
echo "plain text" > "$tmp/text.db"
refuse "a --db file that is not a database" "text.db" -- run "$tmp/good.json" --db "$tmp/text.db"
[ "$(cat "$tmp/text.db")" = "plain text" ] && ok "the non-database file is left intact" || fail "non-database file changed"

# ---- other commands -------------------------------------------------------------------
refuse "report --metrics with an unknown name" "unknown metric 'speed'" -- report --db @DB@ --metrics speed
refuse "report --metrics with an unknown name among known ones" "unknown metric 'complience'" -- report --db @DB@ --metrics compliance,complience
refuse "report --by unknown" "--by" -- report --db @DB@ --by method
refuse "report --format unknown" "--format" -- report --db @DB@ --format yaml
cp "$tmp/deep-suite.json" "$tmp/deep-schema.json"
refuse "json2gbnf on JSON nested too deep" "nested deeper than 1000" -- json2gbnf "$tmp/deep-schema.json" -o @OUT@
refuse "json2gbnf on a missing schema" "nosuch-schema.json" -- json2gbnf "$tmp/nosuch-schema.json" -o @OUT@
refuse "prune without --keep-summaries-after" "--keep-summaries-after DAYS is required" -- prune --db @DB@
refuse "prune --keep-summaries-after negative" "got '-1'" -- prune --db @DB@ --keep-summaries-after -1
refuse "prune --keep-summaries-after not a number" "got 'soon'" -- prune --db @DB@ --keep-summaries-after soon
refuse "prune with an unknown option" "--frobnicate" -- prune --db @DB@ --keep-summaries-after 30 --frobnicate
refuse "prune of a file that is not a database" "not a SQLite database" -- prune --db "$tmp/text.db" --keep-summaries-after 30
refuse "prune of a missing database" "nosuch-prune.db" -- prune --db "$tmp/nosuch-prune.db" --keep-summaries-after 30

echo "bad-input: $tried bad inputs tried -> $refused refused with one line and exit 2, nothing written"
[ "$tried" -ge 20 ] && [ "$refused" = "$tried" ] && ok "all $tried bad inputs refused" || fail "all bad inputs refused" "$refused of $tried"
finish
