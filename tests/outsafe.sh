#!/usr/bin/env bash
# outsafe.sh — the `-o FILE` rules of every writing command (S7 finding 13;
# harness/util/outfile.h, docs/decobench.1 "OUTPUT FILES"): report, compare,
# history, json2gbnf, export-lattice and merge write through to a
# character device (a private one made with mknod when possible, else
# /dev/null itself, checked to be a character device after) and to a FIFO
# with a reader, follow a symlink (the link stays, its target is replaced
# with its mode kept), send "-o -" to standard output, and fail on a
# read-only directory or a failed write with one line, the old file intact
# and no temporary file left.  merge never writes onto one of its inputs.
# Ends with "N passed, N failed[, N skipped]".
set -u
src="${DB_SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}"
build="$(cd "${DB_BUILDDIR:-$src}" && pwd)"
src="$(cd "$src" && pwd)"
bin="$build/decobench"
mkmodel="$build/decobench-mkmodel"
tmp="$(mktemp -d /tmp/decobench-outsafe.XXXXXX)"
chmod 755 "$tmp"
trap 'chmod -R u+w "$tmp" 2>/dev/null; rm -rf "$tmp"' EXIT
. "$src/tests/lib.sh"
export DECOBENCH_CACHE_DIR="$tmp/cache"
cd "$tmp" || exit 1   # a broken "-o -" would leave a file named "-" here, not in the caller's folder

# a character device of our own when we may make one (root with CAP_MKNOD):
# the test then cannot harm the machine's /dev/null even if the code is wrong
null=/dev/null
if mknod "$tmp/null" c 1 3 2>/dev/null && [ -c "$tmp/null" ]; then null="$tmp/null"; fi
is_null() { [ -c "$1" ] && [ -c /dev/null ]; }

# ---- a results database with two runs -----------------------------------------
"$mkmodel" --out "$tmp/tiny.gguf" --n-embd 32 --n-layer 2 --seed 3 >/dev/null 2>&1 \
  || { fail "mkmodel writes a model"; finish; }
printf '{"id": "p1", "prompt": "Once upon a time"}\n{"id": "p2", "prompt": "The sea"}\n' > "$tmp/p.jsonl"
cat > "$tmp/s.json" <<JSON
{ "name": "outsafe", "models": { "target": { "path": "tiny.gguf" } },
  "datasets": { "d": { "path": "p.jsonl" } },
  "engines": [ { "engine": "ar", "label": "ar" } ],
  "max_new_tokens": 4, "repetitions": 1, "warmup": 0, "threads": 1 }
JSON
for i in 1 2; do
  "$bin" run "$tmp/s.json" --db "$tmp/r.db" --no-progress >/dev/null 2>"$tmp/run.err" \
    || { fail "run for the fixture" "$(tail -2 "$tmp/run.err")"; finish; }
done
printf '{"type":"object","properties":{"a":{"type":"integer"}},"required":["a"]}\n' > "$tmp/schema.json"

"$bin" report --db "$tmp/r.db" > "$tmp/report.md" 2>/dev/null

# every command, -o to the character device: exit 0, still a character device
check_null() {  # check_null NAME CMD... (the output option is appended)
  local name="$1"; shift
  if "$@" -o "$null" >"$tmp/o.out" 2>"$tmp/o.err" && is_null "$null"; then
    ok "$name -o $null: written through, still a character device"
  else
    fail "$name -o $null" "rc/err: $(head -2 "$tmp/o.err")" "$(ls -l "$null" /dev/null 2>&1 | tr '\n' ' ')"
  fi
}
check_null report "$bin" report --db "$tmp/r.db"
check_null "report --format csv" "$bin" report --db "$tmp/r.db" --format csv
check_null compare "$bin" compare 1 2 --db "$tmp/r.db" --metric mat
check_null history "$bin" history --db "$tmp/r.db" --metric tokens_per_s
check_null json2gbnf "$bin" json2gbnf "$tmp/schema.json"
check_null export-lattice "$bin" export-lattice --exact vocab=8,order=1,seed=1 --prompt x --max-new-tokens 3
check_null merge "$bin" merge "$tmp/r.db"
[ -c /dev/null ] && ok "/dev/null is still a character device" || fail "/dev/null is still a character device"

# ---- a FIFO with a reader -------------------------------------------------------
mkfifo "$tmp/fifo"
timeout 30 cat "$tmp/fifo" > "$tmp/fifo.got" &   # bounded: a broken writer never opens it
reader=$!
"$bin" report --db "$tmp/r.db" -o "$tmp/fifo" 2>"$tmp/o.err"; rc=$?
wait "$reader"
if [ "$rc" = 0 ] && [ -p "$tmp/fifo" ] && cmp -s "$tmp/fifo.got" "$tmp/report.md"; then
  ok "report -o FIFO: the reader gets the report, the FIFO stays a FIFO"
else
  fail "report -o FIFO" "rc=$rc $(head -1 "$tmp/o.err")" "$(ls -l "$tmp/fifo")"
fi

# ---- -o - is standard output ------------------------------------------------------
"$bin" report --db "$tmp/r.db" -o - > "$tmp/dash.md" 2>/dev/null
[ ! -e "$tmp/-" ] && cmp -s "$tmp/dash.md" "$tmp/report.md" \
  && ok "report -o - writes to standard output" || fail "report -o - writes to standard output"
"$bin" json2gbnf "$tmp/schema.json" > "$tmp/g1" 2>/dev/null
"$bin" json2gbnf "$tmp/schema.json" -o - > "$tmp/g2" 2>/dev/null
[ -s "$tmp/g1" ] && cmp -s "$tmp/g1" "$tmp/g2" && ok "json2gbnf -o - writes to standard output" \
  || fail "json2gbnf -o - writes to standard output"
"$bin" merge "$tmp/r.db" -o - > "$tmp/dash.db" 2>"$tmp/merge.err"
n=$(sqlite3 "$tmp/dash.db" 'select count(*) from run' 2>/dev/null)
[ "$n" = 2 ] && grep -q "2 runs added" "$tmp/merge.err" \
  && ok "merge -o - writes the database to standard output (summary on stderr)" \
  || fail "merge -o - writes the database to standard output" "runs=$n $(head -1 "$tmp/merge.err")"

# ---- a symlink: the target is replaced (mode kept), the link stays -------------------
mkdir "$tmp/ln"
echo old > "$tmp/ln/target.md"
chmod 600 "$tmp/ln/target.md"
ln -s target.md "$tmp/ln/link.md"
"$bin" report --db "$tmp/r.db" -o "$tmp/ln/link.md" 2>"$tmp/o.err"; rc=$?
mode=$(stat -c %a "$tmp/ln/target.md")
if [ "$rc" = 0 ] && [ -L "$tmp/ln/link.md" ] && [ -f "$tmp/ln/target.md" ] && [ "$mode" = 600 ] \
   && cmp -s "$tmp/ln/target.md" "$tmp/report.md" && [ "$(ls "$tmp/ln" | wc -l)" = 2 ]; then
  ok "report -o SYMLINK replaces the link's target (mode 600 kept), the link stays"
else
  fail "report -o SYMLINK" "rc=$rc mode=$mode $(ls -la "$tmp/ln" | tr '\n' ' ')"
fi
# a regular file keeps its mode (and owner)
echo old > "$tmp/keep.md"; chmod 640 "$tmp/keep.md"
"$bin" report --db "$tmp/r.db" -o "$tmp/keep.md" 2>/dev/null
[ "$(stat -c %a "$tmp/keep.md")" = 640 ] && cmp -s "$tmp/keep.md" "$tmp/report.md" \
  && ok "report -o FILE keeps the replaced file's mode (640)" || fail "report -o FILE keeps the mode" "$(stat -c %a "$tmp/keep.md")"

# ---- a read-only directory: one error line, nothing changed, nothing left ----------------
mkdir "$tmp/ro"; echo keep > "$tmp/ro/out.md"; chmod 666 "$tmp/ro/out.md"; chmod 555 "$tmp/ro"
chmod 644 "$tmp/r.db"
as_user=()
if [ "$(id -u)" = 0 ]; then as_user=(setpriv --reuid=65534 --regid=65534 --clear-groups); fi
if [ "$(id -u)" = 0 ] && ! command -v setpriv >/dev/null 2>&1; then
  skip "report -o into a read-only directory" "root without setpriv: permissions do not apply"
else
  cp "$tmp/r.db" "$tmp/ro-src.db"; chmod 644 "$tmp/ro-src.db"
  "${as_user[@]}" "$bin" report --db "$tmp/ro-src.db" -o "$tmp/ro/out.md" >/dev/null 2>"$tmp/ro.err"; rc=$?
  if [ "$rc" != 0 ] && [ "$(wc -l < "$tmp/ro.err")" = 1 ] && [ "$(cat "$tmp/ro/out.md")" = keep ] \
     && [ "$(ls -A "$tmp/ro" | wc -l)" = 1 ]; then
    ok "report -o into a read-only directory: one error line, file kept, no temporary file"
  else
    fail "report -o into a read-only directory" "rc=$rc $(cat "$tmp/ro.err")" "$(ls -A "$tmp/ro" | tr '\n' ' ')"
  fi
fi
chmod 755 "$tmp/ro"

# ---- a write that fails half way (file size limit): old file intact, no temporary -----------
mkdir "$tmp/full"; echo keep > "$tmp/full/out.md"
( trap '' XFSZ; ulimit -f 1; "$bin" report --db "$tmp/r.db" --format html -o "$tmp/full/out.md" ) >/dev/null 2>"$tmp/full.err"; rc=$?
if [ "$rc" != 0 ] && [ "$(cat "$tmp/full/out.md")" = keep ] && [ "$(ls -A "$tmp/full" | wc -l)" = 1 ]; then
  ok "report: a failed write keeps the old file and leaves no temporary file"
else
  fail "report: a failed write" "rc=$rc $(head -1 "$tmp/full.err")" "$(ls -A "$tmp/full" | tr '\n' ' ')"
fi

# ---- merge never writes onto one of its inputs -------------------------------------
cp "$tmp/r.db" "$tmp/in.db"
sum=$(sqlite3 "$tmp/in.db" 'select count(*) from run; select count(*) from sample')
ln -s in.db "$tmp/in-link.db"
"$bin" merge "$tmp/in.db" -o "$tmp/in.db" >/dev/null 2>&1
"$bin" merge "$tmp/in.db" -o "$tmp/in-link.db" >/dev/null 2>&1
[ "$(sqlite3 "$tmp/in.db" 'select count(*) from run; select count(*) from sample')" = "$sum" ] && [ -L "$tmp/in-link.db" ] \
  && ok "merge onto its own input (directly or by a symlink) changes nothing" \
  || fail "merge onto its own input changes nothing"
# a new output: mkstemp file next to it, renamed; no temporary left
"$bin" merge "$tmp/r.db" -o "$tmp/new.db" >/dev/null 2>&1
[ "$(sqlite3 "$tmp/new.db" 'select count(*) from run')" = 2 ] && ! ls "$tmp"/new.db.tmp* >/dev/null 2>&1 \
  && ok "merge -o NEW.db: created, no temporary file left" || fail "merge -o NEW.db"

# ---- self-spec with the model in a read-only directory (S7 finding 8) ----------------------
# the derived draft goes to the cache directory; nothing is written next to the model
mkdir -p "$tmp/romodel" "$tmp/nb/cache"
cp "$tmp/tiny.gguf" "$tmp/p.jsonl" "$tmp/romodel/"
cat > "$tmp/romodel/self.json" <<JSON
{ "name": "ro", "models": { "target": { "path": "tiny.gguf" } },
  "datasets": { "d": { "path": "p.jsonl" } },
  "engines": [ { "engine": "ar", "label": "ar" }, { "engine": "self-spec", "label": "self", "params": { "layers": 1 } } ],
  "max_new_tokens": 4, "repetitions": 1, "warmup": 0, "threads": 1 }
JSON
chmod 644 "$tmp/romodel/"*; chmod 555 "$tmp/romodel"; chmod 700 "$tmp/nb/cache"
as_user=()
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null 2>&1; then
  chown -R 65534:65534 "$tmp/nb"
  as_user=(setpriv --reuid=65534 --regid=65534 --clear-groups)
fi
before=$(ls -A "$tmp/romodel" | wc -l)
DECOBENCH_CACHE_DIR="$tmp/nb/cache" "${as_user[@]}" "$bin" run "$tmp/romodel/self.json" --db "$tmp/nb/ro.db" --no-progress \
  >/dev/null 2>"$tmp/ro-run.err"; rc=$?
if [ "$rc" = 0 ] && [ "$(ls -A "$tmp/romodel" | wc -l)" = "$before" ] && ls "$tmp/nb/cache"/self-spec-*-L1.gguf >/dev/null 2>&1 \
   && [ "$(sqlite3 "$tmp/nb/ro.db" 'select status from run')" = completed ]; then
  ok "self-spec with the model in a read-only directory: draft in the cache, nothing beside the model${as_user:+ (as nobody)}"
else
  fail "self-spec with a read-only model directory" "rc=$rc $(tail -2 "$tmp/ro-run.err")" "$(ls -A "$tmp/romodel" "$tmp/nb/cache" | tr '\n' ' ')"
fi
chmod 755 "$tmp/romodel"

finish
