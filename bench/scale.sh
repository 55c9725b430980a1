#!/bin/sh
# scale.sh — how report, compare, history and merge scale with the size of
# the results database (issue S13).
#
# A tiny real suite (ar, spec k=4 and pld on the bundled target/draft models,
# 8 prompts × 2 repetitions) is run once; bench/scale_gen.py multiplies its
# cases and samples (with counters, metrics and step events) by SQL into
# databases of about 1k, 10k, 100k (and, when asked, 1M) samples, a perturbed
# copy of each (for compare), a database of 1,000 small runs (history) and
# 100 copies of the seed run (merge).  Built databases are kept under --dir
# and reused.  Each command is timed --reps times (median wall time, peak
# RSS from /usr/bin/time -f %M); the table ends with the growth exponent of
# each command: the slope of log(time) over log(samples), least squares.
#
#   bench/scale.sh [--dir DIR] [--bin DECOBENCH] [--sizes "1000 10000 100000"]
#                  [--reps 3] [--runs 1000] [--merge 100] [--out FILE.md]
#
# Use an optimised build without sanitizers (e.g. build-opt/decobench).
set -eu

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
dir=${TMPDIR:-/tmp}/decobench-scale
bin=$root/build-opt/decobench
sizes="1000 10000 100000"
reps=3
nruns=1000
nmerge=100
out=

while [ $# -gt 0 ]; do
    case $1 in
    --dir) dir=$2; shift 2 ;;
    --bin) bin=$2; shift 2 ;;
    --sizes) sizes=$2; shift 2 ;;
    --reps) reps=$2; shift 2 ;;
    --runs) nruns=$2; shift 2 ;;
    --merge) nmerge=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    -h|--help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "scale.sh: unknown option $1" >&2; exit 2 ;;
    esac
done
[ -x "$bin" ] || { echo "scale.sh: no decobench at $bin (--bin)" >&2; exit 2; }
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
gen="python3 $here/scale_gen.py"

# ---- the seed run -----------------------------------------------------------
if [ ! -s "$dir/seed.db" ]; then
    cat > "$dir/seed-suite.json" <<EOF
{
  "name": "scale-seed",
  "description": "bench/scale.sh seed: three engines, 8 prompts, 2 repetitions",
  "models": {
    "target": { "path": "$root/data/models/target.gguf", "n_ctx": 512 },
    "draft": { "path": "$root/data/models/draft.gguf", "n_ctx": 512 }
  },
  "datasets": { "smoke": { "path": "$root/data/prompts/smoke.jsonl", "category": "prose" } },
  "engines": [
    { "engine": "ar", "label": "ar" },
    { "engine": "spec", "label": "spec", "draft": "draft", "params": { "k": 4 } },
    { "engine": "pld", "label": "pld", "params": { "k": 6, "ngram_max": 3 } }
  ],
  "baseline": "ar",
  "max_new_tokens": 32,
  "repetitions": 2,
  "warmup": 0,
  "seeds": [1],
  "threads": 0,
  "pin": "none"
}
EOF
    echo "scale.sh: running the seed suite" >&2
    rm -f "$dir/seed.db.tmp"
    "$bin" run "$dir/seed-suite.json" --db "$dir/seed.db.tmp" >/dev/null
    mv "$dir/seed.db.tmp" "$dir/seed.db"
fi

# ---- databases ----------------------------------------------------------------
for n in $sizes; do
    if [ ! -s "$dir/s$n.db" ] || [ ! -s "$dir/s$n-new.db" ]; then
        echo "scale.sh: building $n samples" >&2
        $gen grow "$dir/seed.db" "$dir/s$n.db.tmp" --samples "$n" > "$dir/s$n.count"
        mv "$dir/s$n.db.tmp" "$dir/s$n.db"
        $gen perturb "$dir/s$n.db" "$dir/s$n-new.db.tmp" > /dev/null
        mv "$dir/s$n-new.db.tmp" "$dir/s$n-new.db"
    fi
done
if [ ! -s "$dir/runs$nruns.db" ]; then
    echo "scale.sh: building $nruns runs" >&2
    $gen runs "$dir/seed.db" "$dir/runs$nruns.db.tmp" --runs "$nruns" > "$dir/runs$nruns.count"
    mv "$dir/runs$nruns.db.tmp" "$dir/runs$nruns.db"
fi
$gen copies "$dir/seed.db" "$dir/merge$nmerge" --count "$nmerge"

# ---- timing -------------------------------------------------------------------
results=$dir/results.tsv
: > "$results"
# time_cmd NAME SAMPLES CMD...: median wall seconds and max peak RSS of --reps runs
time_cmd() {
    name=$1 samples=$2
    shift 2
    ts= rss=0
    i=0
    while [ $i -lt "$reps" ]; do
        /usr/bin/time -f "%e %M" -o "$dir/time.txt" "$@" > "$dir/out.txt" 2> "$dir/err.txt" || {
            rc=$?
            # compare exits 1 on a regression: that is its answer, not a failure
            if [ "$name" != compare ] || [ $rc -ne 1 ]; then
                echo "scale.sh: $name failed ($rc):" >&2; tail -3 "$dir/err.txt" >&2; return 1
            fi
        }
        t=$(tail -1 "$dir/time.txt" | cut -d' ' -f1)
        m=$(tail -1 "$dir/time.txt" | cut -d' ' -f2)
        ts="$ts $t"
        [ "$m" -gt "$rss" ] && rss=$m
        i=$((i + 1))
    done
    med=$(printf '%s\n' $ts | sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}')
    bytes=$(wc -c < "$dir/out.txt")
    printf '%s\t%s\t%s\t%s\t%s\n' "$name" "$samples" "$med" "$rss" "$bytes" >> "$results"
    printf '%-14s %9s samples  %8ss  %8s KiB  %10s bytes\n' "$name" "$samples" "$med" "$rss" "$bytes" >&2
}

for n in $sizes; do
    ns=$(cat "$dir/s$n.count")
    for f in md csv json latex html; do
        time_cmd "report-$f" "$ns" "$bin" report --db "$dir/s$n.db" --format "$f"
    done
    time_cmd compare "$ns" "$bin" compare "$dir/s$n.db" "$dir/s$n-new.db"
done
nh=$(cat "$dir/runs$nruns.count")
time_cmd "history-$nruns" "$nh" "$bin" history --db "$dir/runs$nruns.db" --metric tokens_per_s
nseed=$(python3 -c "import sqlite3, sys; print(sqlite3.connect(sys.argv[1]).execute('SELECT count(*) FROM sample').fetchone()[0])" "$dir/seed.db")
nm=$((nseed * nmerge))
time_cmd "merge-$nmerge" "$nm" sh -c "rm -f '$dir/merged.db'; '$bin' merge '$dir'/merge$nmerge/m*.db -o '$dir/merged.db'"

# ---- table and growth exponents ----------------------------------------------
python3 - "$results" "$out" <<'EOF'
import math, sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
out = sys.argv[2]
lines = ["| command | samples | median wall (s) | peak RSS (MiB) | output (bytes) |", "|---|--:|--:|--:|--:|"]
for name, n, t, rss, b in rows:
    lines.append(f"| {name} | {int(n):,} | {float(t):.2f} | {int(rss)/1024:.0f} | {int(b):,} |")
lines.append("")
lines.append("growth exponent (slope of log time over log samples, least squares):")
by = {}
for name, n, t, rss, b in rows:
    by.setdefault(name, []).append((int(n), max(float(t), 0.005)))
for name, pts in by.items():
    if len(pts) < 2:
        continue
    xs = [math.log(p[0]) for p in pts]; ys = [math.log(p[1]) for p in pts]
    mx = sum(xs) / len(xs); my = sum(ys) / len(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx if sxx > 0 else float("nan")
    lines.append(f"  {name:<12} {slope:5.2f}")
text = "\n".join(lines) + "\n"
sys.stdout.write(text)
if out:
    open(out, "w").write(text)
EOF
