#!/usr/bin/env bash
# html-check.sh — `decobench report --format html` checked in a real browser
# (headless Chromium): a small speculative run on the bundled models with a
# prompt id `<script>alert(1)</script>`, a sample_metric table for the
# quality-vs-budget chart, then the page's DOM and a screenshot.  Checks: no
# console message at all (the page has no scripts; its Content-Security-Policy
# reports any blocked script or network load there), every chart's <svg id>
# in the DOM, the script prompt present as escaped text and never as an
# element, a non-trivial screenshot, and an autoregressive-only run saying
# "no speculative cases" instead of drawing empty charts.  A page with a
# deliberate script error must trip the console check (negative control).
# Without chromium every check counts as skipped.
# Ends with "N passed, N failed[, N skipped]".
set -u
src="${DB_SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}"
build="${DB_BUILDDIR:-$src}"
bin="$build/decobench"
. "$src/tests/lib.sh"

chrome="$(command -v chromium || command -v chromium-browser || true)"
if [ -z "$chrome" ]; then
  skip "html report in a browser" "chromium not installed (apt-get install chromium)"
  finish
fi
tmp="$(mktemp -d /tmp/decobench-html.XXXXXX)"
trap 'rm -rf "$tmp"' EXIT

# browse FILE.html OUTPREFIX: DOM to OUTPREFIX.dom, log to OUTPREFIX.log, screenshot OUTPREFIX.png
browse() {
  local flags=(--headless=new --no-sandbox --disable-gpu --enable-logging=stderr --v=0
               --user-data-dir="$tmp/profile" --no-first-run --no-default-browser-check)
  timeout 120 "$chrome" "${flags[@]}" --dump-dom "file://$1" >"$2.dom" 2>"$2.log"
  timeout 120 "$chrome" "${flags[@]}" --screenshot="$2.png" --window-size=1200,3000 "file://$1" \
    >/dev/null 2>>"$2.log"
}
# console messages (errors, uncaught exceptions, CSP violations) in a log
console_lines() { grep -E ':CONSOLE|Uncaught' "$1" || true; }

mkdir -p "$tmp/run"
cat > "$tmp/run/prompts.jsonl" <<'JSONL'
{"id": "<script>alert(1)</script>", "category": "prose & <b>bold</b>", "prompt": "The old house stood at the end of the road"}
{"id": "p2", "category": "prose", "prompt": "In the beginning there was"}
{"id": "p3", "category": "code", "prompt": "def main():"}
JSONL
cat > "$tmp/run/suite.json" <<JSON
{
  "name": "html-check",
  "description": "speculative cases for the HTML report check",
  "models": { "target": { "path": "$src/data/models/target.gguf", "n_ctx": 512 },
              "draft": { "path": "$src/data/models/draft.gguf", "n_ctx": 512 } },
  "datasets": { "mixed": { "path": "prompts.jsonl", "category": "prose" } },
  "engines": [
    { "engine": "ar", "label": "ar", "params": { "mode": "greedy" } },
    { "engine": "spec", "label": "spec", "draft": "draft", "grid": { "k": [2, 4] } },
    { "engine": "pld", "label": "pld" }
  ],
  "baseline": "ar",
  "max_new_tokens": 24, "repetitions": 1, "warmup": 0, "seeds": [1], "threads": 1
}
JSON
sed -e 's/"name": "html-check"/"name": "html-check-ar"/' \
    -e '/"engine": "spec"/d' -e '/"engine": "pld"/d' -e 's/"mode": "greedy" } },/"mode": "greedy" } }/' \
    "$tmp/run/suite.json" > "$tmp/run/ar.json"
db="$tmp/run/r.db"
if ! "$bin" run "$tmp/run/suite.json" --db "$db" --no-progress >"$tmp/run.out" 2>"$tmp/run.err" ||
   ! "$bin" run "$tmp/run/ar.json" --db "$db" --no-progress >>"$tmp/run.out" 2>>"$tmp/run.err"; then
  fail "runs for the HTML report" "$(tail -3 "$tmp/run.err")"
  finish
fi
# a quality metric per sample: greedy identity with the baseline's output
sqlite3 "$db" "CREATE TABLE IF NOT EXISTS sample_metric(sample_id INTEGER, name TEXT, value REAL);
  INSERT INTO sample_metric(sample_id, name, value)
  SELECT s.id, 'greedy_identity', s.output_tokens_json = b.output_tokens_json
  FROM sample s JOIN \"case\" c ON c.id = s.case_id
  JOIN \"case\" bc ON bc.run_id = c.run_id AND bc.label = 'ar'
  JOIN sample b ON b.case_id = bc.id AND b.prompt_idx = s.prompt_idx AND b.rep = s.rep
  WHERE c.run_id = 1;" 2>"$tmp/sql.err" || fail "sample_metric fixture" "$(cat "$tmp/sql.err")"

if "$bin" report --db "$db" --run 1 --format html -o "$tmp/report.html" 2>"$tmp/rep.err"; then
  ok "report --format html writes report.html ($(wc -c <"$tmp/report.html") bytes)"
else
  fail "report --format html" "$(cat "$tmp/rep.err")"
fi
"$bin" report --db "$db" --run 2 --format html -o "$tmp/ar.html" 2>>"$tmp/rep.err"

browse "$tmp/report.html" "$tmp/page"
browse "$tmp/ar.html" "$tmp/ar"
cons="$(console_lines "$tmp/page.log"; console_lines "$tmp/ar.log")"
[ -z "$cons" ] && [ -s "$tmp/page.dom" ] && ok "no console errors or blocked loads in the browser" \
  || fail "no console errors or blocked loads in the browser" "$(echo "$cons" | head -5)" "dom: $(wc -c <"$tmp/page.dom") bytes"

missing=""
for id in chart-speedup chart-accept-hist chart-accept-pos chart-mat-k chart-latency-cdf chart-pareto-0; do
  grep -q "<svg id=\"$id\"" "$tmp/page.dom" || missing="$missing $id"
done
[ -z "$missing" ] && ok "every chart is an <svg> in the DOM (6 charts)" || fail "every chart is an <svg> in the DOM" "missing:$missing"

n_script=$(grep -oi '<script' "$tmp/page.dom" | wc -l)
if grep -qF '&lt;script&gt;alert(1)&lt;/script&gt;' "$tmp/page.dom" && [ "$n_script" = 0 ] &&
   grep -qF 'prose &amp; &lt;b&gt;bold&lt;/b&gt;' "$tmp/page.dom" && ! grep -q '<b>bold</b>' "$tmp/page.dom"; then
  ok "the <script> prompt id and a markup category are text, not elements"
else
  fail "the <script> prompt id and a markup category are text, not elements" "script elements: $n_script"
fi

png_ok=0
if [ -s "$tmp/page.png" ] && [ "$(head -c 8 "$tmp/page.png" | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ]; then
  w=$(od -An -tu1 -j16 -N4 "$tmp/page.png" | awk '{print $1*16777216+$2*65536+$3*256+$4}')
  h=$(od -An -tu1 -j20 -N4 "$tmp/page.png" | awk '{print $1*16777216+$2*65536+$3*256+$4}')
  size=$(wc -c <"$tmp/page.png")
  # a blank 1200x3000 page compresses to a few KB; charts and tables make it far larger
  [ "$w" = 1200 ] && [ "$h" = 3000 ] && [ "$size" -gt 50000 ] && png_ok=1
fi
[ "$png_ok" = 1 ] && ok "screenshot is a 1200x3000 PNG of $(wc -c <"$tmp/page.png") bytes" \
  || fail "screenshot is a non-trivial 1200x3000 PNG" "w=${w:-?} h=${h:-?} size=${size:-?}"

if grep -q 'no speculative cases' "$tmp/ar.dom" && ! grep -q '<svg id="chart-accept-hist"' "$tmp/ar.dom" &&
   grep -q '<svg id="chart-latency-cdf"' "$tmp/ar.dom"; then
  ok "autoregressive-only run: \"no speculative cases\" instead of empty charts"
else
  fail "autoregressive-only run: \"no speculative cases\" instead of empty charts"
fi

# negative control: the console check sees a script error
printf '<!DOCTYPE html><html><body><script>undefinedFunction();</script></body></html>\n' > "$tmp/bad.html"
browse "$tmp/bad.html" "$tmp/bad"
[ -n "$(console_lines "$tmp/bad.log")" ] && ok "the console check detects an uncaught error (negative control)" \
  || fail "the console check detects an uncaught error (negative control)" "$(tail -3 "$tmp/bad.log")"

finish
