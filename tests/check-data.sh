#!/usr/bin/env bash
# check-data.sh — checks the datasets bundled in data/ and tests/data/
# (independent of the build system; needs bash and python3).
#   - every .jsonl under data/ parses (one JSON object per line), every .json
#     under data/ and tests/data/ parses;
#   - data/prompts/{prose,scripture,code}.jsonl have 50–100 lines, each with a
#     non-empty prompt and reference and a unique id; other prompt files have
#     a non-empty prompt (or text/turns) on every line;
#   - every data/ subfolder has a README.md that names a license;
#   - data/schemas/index.jsonl entries point at existing files;
#   - data/heldout/*.txt are valid UTF-8, 100–200 KB;
#   - when .deps/corpus exists (scripts/fetch-corpora.sh): no prompt of
#     data/prompts/{prose,scripture,code}.jsonl occurs in the train split, the
#     splits share no document id, and data/heldout/<c>.txt consists of whole
#     held-out documents.
# Prints "ok - ..." / "FAIL - ..." lines and ends with "N passed, N failed".
set -u
src="${DB_SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}"
corpus="${DB_CORPUS:-$src/.deps/corpus}"
passed=0 failed=0 skipped=0

check() {  # check NAME CMD...: runs CMD, ok if it exits 0
  local name=$1 out
  shift
  if out=$("$@" 2>&1); then
    echo "ok - $name"
    passed=$((passed + 1))
  else
    echo "FAIL - $name"
    [ -n "$out" ] && echo "$out" | head -n 10 | sed 's/^/    /'
    failed=$((failed + 1))
  fi
}

if ! command -v python3 >/dev/null 2>&1; then
  echo "FAIL - python3 not found"
  echo "0 passed, 1 failed"
  exit 1
fi

py() { python3 -c "$@"; }

jsonl_ok() {
  py '
import json, sys
f = sys.argv[1]
with open(f, encoding="utf-8") as fh:
    for i, line in enumerate(fh, 1):
        if not line.strip():
            sys.exit("%s:%d: empty line" % (f, i))
        if not isinstance(json.loads(line), dict):
            sys.exit("%s:%d: not an object" % (f, i))
' "$1"
}

json_ok() {  # all .json files under a directory parse
  py '
import json, os, sys
bad = []
n = 0
for root, dirs, files in os.walk(sys.argv[1]):
    for fn in files:
        if fn.endswith(".json"):
            n += 1
            try:
                with open(os.path.join(root, fn), encoding="utf-8") as f:
                    json.load(f)
            except Exception as e:
                bad.append("%s: %s" % (os.path.join(root, fn), e))
print("\n".join(bad[:10]))
sys.exit(1 if bad or n == 0 else 0)
' "$1"
}

prompts_ok() {  # prompts_ok FILE STRICT(0/1)
  py '
import json, sys
f, strict = sys.argv[1], sys.argv[2] == "1"
rows = [json.loads(l) for l in open(f, encoding="utf-8")]
if strict and not 50 <= len(rows) <= 100:
    sys.exit("%d lines, want 50-100" % len(rows))
ids = set()
for i, r in enumerate(rows, 1):
    p = r.get("prompt", r.get("text", r.get("turns")))
    if not p or (isinstance(p, list) and not all(isinstance(t, str) and t for t in p)):
        sys.exit("line %d: empty prompt" % i)
    if strict:
        if not isinstance(r.get("reference"), str) or not r["reference"].strip():
            sys.exit("line %d: empty reference" % i)
        if not r.get("id") or r["id"] in ids:
            sys.exit("line %d: missing or duplicate id" % i)
        ids.add(r["id"])
' "$1" "$2"
}

readme_license() {
  [ -f "$1/README.md" ] || { echo "no README.md"; return 1; }
  grep -Eqi 'licen[cs]e|public domain|CC0' "$1/README.md" || { echo "README.md names no license"; return 1; }
}

schemas_index_ok() {
  py '
import json, os, sys
d = sys.argv[1]
rows = [json.loads(l) for l in open(os.path.join(d, "index.jsonl"), encoding="utf-8")]
for r in rows:
    for k in ("split", "id", "path", "upstream"):
        if k not in r:
            sys.exit("missing %s in %r" % (k, r))
    for p in (r["path"], r.get("instances")):
        if p and not os.path.isfile(os.path.join(d, p)):
            sys.exit("missing file " + p)
if len(rows) < 100:
    sys.exit("only %d schemas" % len(rows))
' "$1"
}

heldout_txt_ok() {
  py '
import sys
b = open(sys.argv[1], "rb").read()
b.decode("utf-8")
if not 100_000 <= len(b) <= 200_000:
    sys.exit("%d bytes, want 100-200 KB" % len(b))
' "$1"
}

not_in_train() {  # not_in_train CATEGORY
  py '
import json, sys, os
src, corpus, cat = sys.argv[1:4]
train = [json.loads(l)["text"] for l in open(os.path.join(corpus, "train", cat + ".jsonl"), encoding="utf-8")]
blob = "\x00".join(train)
bad = []
for l in open(os.path.join(src, "data", "prompts", cat + ".jsonl"), encoding="utf-8"):
    r = json.loads(l)
    if r["prompt"] in blob:
        bad.append(r["id"])
ho = [json.loads(l) for l in open(os.path.join(corpus, "heldout", cat + ".jsonl"), encoding="utf-8")]
tr_ids = {json.loads(l)["id"] for l in open(os.path.join(corpus, "train", cat + ".jsonl"), encoding="utf-8")}
both = [d["id"] for d in ho if d["id"] in tr_ids]
# data/heldout/<cat>.txt must be whole held-out documents joined by blank lines
held = open(os.path.join(src, "data", "heldout", cat + ".txt"), encoding="utf-8").read()
texts = [d["text"].strip("\n") + "\n" for d in ho]
inc = [t for t in texts if t in held]
sample_ok = "\n".join(inc) == held
if bad or both or not sample_ok:
    sys.exit("prompts in train: %s; ids in both splits: %s; heldout sample made of held-out docs: %s"
             % (bad[:10], both[:10], sample_ok))
' "$src" "$corpus" "$1"
}

# JSON syntax
while IFS= read -r f; do
  check "parses: ${f#$src/}" jsonl_ok "$f"
done < <(find "$src/data" -name '*.jsonl' -type f | LC_ALL=C sort)
for d in "$src/data/schemas" "$src/tests/data/json-schema-test-suite"; do
  [ -d "$d" ] && check "all .json parse: ${d#$src/}" json_ok "$d"
done

# prompt files
for f in "$src"/data/prompts/*.jsonl; do
  case $(basename "$f") in
    prose.jsonl|scripture.jsonl|code.jsonl) check "prompts: ${f#$src/} (50-100 lines, prompt+reference+id)" prompts_ok "$f" 1 ;;
    *) check "prompts: ${f#$src/} (non-empty prompts)" prompts_ok "$f" 0 ;;
  esac
done
for c in prose scripture code; do
  [ -f "$src/data/prompts/$c.jsonl" ] || check "prompts: data/prompts/$c.jsonl exists" false
done

# READMEs with a license
for d in "$src"/data/*/; do
  d=${d%/}
  check "README.md names a license: ${d#$src/}" readme_license "$d"
done
[ -d "$src/tests/data/json-schema-test-suite" ] && \
  check "README.md names a license: tests/data/json-schema-test-suite" readme_license "$src/tests/data/json-schema-test-suite"

[ -f "$src/data/schemas/index.jsonl" ] && check "schemas: index.jsonl entries exist" schemas_index_ok "$src/data/schemas"
for c in prose scripture code; do
  check "heldout: data/heldout/$c.txt UTF-8, 100-200 KB" heldout_txt_ok "$src/data/heldout/$c.txt"
done

# held-out prompts must not come from the train split
if [ -d "$corpus/train" ]; then
  for c in prose scripture code; do
    check "held-out $c: prompts not in train split, sample from held-out docs" not_in_train "$c"
  done
else
  echo "skip - held-out vs train checks (no $corpus; run scripts/fetch-corpora.sh)"
  skipped=$((skipped + 1))
fi

echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
