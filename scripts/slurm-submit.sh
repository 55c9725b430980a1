#!/usr/bin/env bash
# slurm-submit.sh — runs a decobench suite on a Slurm cluster as a job array,
# one `decobench run --shard I/N` per array task, and a dependent job that
# merges the N shard databases into one run and writes its report
# (docs/slurm.md).
#
#   scripts/slurm-submit.sh SUITE --shards N --out DIR [options] [-- RUN-ARGS...]
#
# DIR (created; must be on a file system the compute nodes share) receives
#   shard-I.db          shard I's results (I = $SLURM_ARRAY_TASK_ID)
#   all.db, report.md   the merged run and `decobench report` of it (merge job)
#   logs/               shard-I.out (stdout+stderr), shard-I.alloc (the task's
#                       node, CPUs and GPUs as Slurm allocated them), merge.out
#   shard.sbatch, merge.sbatch, submit.env, jobs   what was submitted
#
# Options:
#   --shards N            number of shards (array tasks 0..N-1), 1..4096
#   --out DIR             output directory
#   --partition P         partition of the shard tasks (a GPU or a CPU partition)
#   --merge-partition P   partition of the merge job (default: --partition)
#   --gpus-per-task G     GPUs per shard task (sbatch --gres=gpu:G; 0 = none)
#   --gpu-type T          GPU type for --gres (gpu:T:G)
#   --cpus-per-task C     CPUs per shard task (sbatch --cpus-per-task; default 1)
#   --mem M               memory per shard task (sbatch --mem, e.g. 16G)
#   --time T              time limit per shard task (sbatch --time)
#   --merge-time T        time limit of the merge job (default 00:30:00)
#   --account A           account to charge (sbatch --account)
#   --max-parallel K      at most K shard tasks at once (--array=...%K)
#   --sbatch-arg ARG      one more sbatch option for both jobs, e.g.
#                         --sbatch-arg=--qos=long (repeatable)
#   --decobench PATH      the decobench binary (default: $DECOBENCH, decobench on
#                         PATH, or this checkout's build)
#   --resume              resubmit only the shards whose database is missing or
#                         whose run is not completed (an interrupted or crashed
#                         run continues with `decobench run --resume`), then merge
#   --dry-run             print the sbatch commands; write and submit nothing
#   --parsable            print only "ARRAY_JOB_ID MERGE_JOB_ID" (an id is "-"
#                         when nothing was submitted)
#   -h, --help            this help
# RUN-ARGS (after --) go to every `decobench run`, e.g. -- --limit 20.
#
# Exit status: 0 submitted (or, with --dry-run, printed), 1 sbatch failed,
# 2 bad arguments or a DIR that does not fit (shards there without --resume).
set -euo pipefail

prog="slurm-submit.sh"
die() { echo "$prog: $*" >&2; exit 2; }
usage() { sed -n '2,/^set -euo/p' "$0" | sed -e '/^set -euo/d' -e 's/^# \{0,1\}//'; }

suite="" shards="" out="" partition="" merge_partition="" gpus=0 gpu_type="" cpus=1 mem=""
time_limit="" merge_time="00:30:00" account="" max_parallel="" resume=0 dry=0 parsable=0
decobench="${DECOBENCH:-}"
sbatch_extra=() run_args=()

need_val() { [ $# -ge 2 ] && [ -n "$2" ] || die "$1 needs a value (see --help)"; }
while [ $# -gt 0 ]; do
  a="$1"
  case "$a" in
    --*=*) set -- "${a%%=*}" "${a#*=}" "${@:2}"; continue ;;
  esac
  case "$a" in
    --shards) need_val "$@"; shards="$2"; shift 2 ;;
    --out) need_val "$@"; out="$2"; shift 2 ;;
    --partition) need_val "$@"; partition="$2"; shift 2 ;;
    --merge-partition) need_val "$@"; merge_partition="$2"; shift 2 ;;
    --gpus-per-task) need_val "$@"; gpus="$2"; shift 2 ;;
    --gpu-type) need_val "$@"; gpu_type="$2"; shift 2 ;;
    --cpus-per-task) need_val "$@"; cpus="$2"; shift 2 ;;
    --mem) need_val "$@"; mem="$2"; shift 2 ;;
    --time) need_val "$@"; time_limit="$2"; shift 2 ;;
    --merge-time) need_val "$@"; merge_time="$2"; shift 2 ;;
    --account) need_val "$@"; account="$2"; shift 2 ;;
    --max-parallel) need_val "$@"; max_parallel="$2"; shift 2 ;;
    --sbatch-arg) need_val "$@"; sbatch_extra+=("$2"); shift 2 ;;
    --decobench) need_val "$@"; decobench="$2"; shift 2 ;;
    --resume) resume=1; shift ;;
    --dry-run) dry=1; shift ;;
    --parsable) parsable=1; shift ;;
    -h|--help) usage; exit 0 ;;
    --) shift; run_args=("$@"); break ;;
    -*) die "unknown option '$a' (see --help)" ;;
    *) [ -z "$suite" ] || die "one SUITE only (got '$suite' and '$a'); decobench run arguments go after --"
       suite="$a"; shift ;;
  esac
done

[ -n "$suite" ] || die "no SUITE given (see --help)"
[ -n "$shards" ] || die "--shards N is required"
[ -n "$out" ] || die "--out DIR is required"
is_uint() { case "$1" in ''|*[!0-9]*) return 1 ;; esac; }
is_uint "$shards" && [ "$shards" -ge 1 ] && [ "$shards" -le 4096 ] || die "--shards: expected 1..4096, got '$shards'"
is_uint "$gpus" || die "--gpus-per-task: expected a count, got '$gpus'"
is_uint "$cpus" && [ "$cpus" -ge 1 ] || die "--cpus-per-task: expected a count >= 1, got '$cpus'"
[ -z "$max_parallel" ] || { is_uint "$max_parallel" && [ "$max_parallel" -ge 1 ]; } ||
  die "--max-parallel: expected a count >= 1, got '$max_parallel'"
[ -z "$gpu_type" ] || [ "$gpus" -gt 0 ] || die "--gpu-type needs --gpus-per-task G > 0"
[ -f "$suite" ] || die "$suite: no such suite file"
for a in "${run_args[@]+"${run_args[@]}"}"; do
  case "$a" in
    --db|--db=*|--shard|--shard=*|--shard-group|--shard-group=*|--resume|--resume=*)
      die "'$a' is set by $prog; leave it out of the decobench run arguments" ;;
  esac
done

abspath() { (cd "$(dirname "$1")" && printf '%s/%s\n' "$(pwd -P)" "$(basename "$1")"); }
suite="$(abspath "$suite")"

# the decobench binary: given, on PATH, or this checkout's
if [ -z "$decobench" ]; then
  here="$(cd "$(dirname "$0")/.." && pwd -P)"
  if command -v decobench >/dev/null 2>&1; then decobench="$(command -v decobench)"
  elif [ -x "$here/decobench" ]; then decobench="$here/decobench"
  elif [ -x "$here/build/decobench" ]; then decobench="$here/build/decobench"
  else die "no decobench found: give --decobench PATH (or set DECOBENCH)"; fi
fi
case "$decobench" in
  */*) [ -x "$decobench" ] || die "--decobench: $decobench is not executable"; decobench="$(abspath "$decobench")" ;;
  *) command -v "$decobench" >/dev/null 2>&1 || die "--decobench: $decobench is not on PATH"
     decobench="$(command -v "$decobench")" ;;
esac
if [ "$dry" = 0 ]; then
  command -v sbatch >/dev/null 2>&1 || die "sbatch is not on PATH (is this a Slurm login node?)"
fi

mkdir_out() { [ "$dry" = 1 ] || mkdir -p "$out/logs" || die "$out: cannot create"; }
mkdir_out
if [ -d "$out" ]; then out="$(cd "$out" && pwd -P)"; else out="$(abspath "$out")"; fi

# q ARGS...: the arguments as one shell-quoted line
q() { local s="" a; for a in "$@"; do s="$s${s:+ }$(printf '%q' "$a")"; done; printf '%s\n' "$s"; }

# ---- what this launch is (kept in submit.env; --resume checks and reuses it) -------
# the shard group: what the shards of this launch share (decobench run
# --shard-group), fixed at the first submission so that shards resubmitted by
# --resume (a new array job id) still belong to the same launch
env_file="$out/submit.env"
if [ "$resume" = 1 ]; then
  [ -f "$env_file" ] || die "--resume: $out/submit.env is missing: nothing was submitted to $out"
  prev_suite="" prev_shards="" prev_group="" prev_args=""
  # shellcheck disable=SC1090
  . "$env_file"
  [ "$prev_suite" = "$suite" ] || die "--resume: $out was submitted for suite $prev_suite, not $suite"
  [ "$prev_shards" = "$shards" ] || die "--resume: $out was submitted with --shards $prev_shards, not $shards"
  [ ${#run_args[@]} -eq 0 ] || [ "$(q "${run_args[@]}")" = "$prev_args" ] ||
    die "--resume takes the decobench run arguments of the first submission ($prev_args); leave out -- ..."
  eval "run_args=($prev_args)"
  group="$prev_group"
else
  if [ -d "$out" ] && ls "$out"/shard-*.db >/dev/null 2>&1; then
    die "$out already holds shard databases: add --resume to finish that launch, or use another --out"
  fi
  group="decobench-$(date -u +%Y%m%dT%H%M%SZ)-$$-${RANDOM}"
fi

# ---- run status of a shard database (sqlite3, else python3) ---------------------
# shard_status DB: "ID STATUS" of its latest run, "none" without one,
# "unreadable" when the query fails (no run table, not a database), "" when
# neither sqlite3 nor python3 is here
shard_status() {
  local sql="SELECT id || ' ' || status FROM run ORDER BY id DESC LIMIT 1;" r
  if command -v sqlite3 >/dev/null 2>&1; then
    r="$(sqlite3 -readonly "file:$1?mode=ro" "$sql" 2>/dev/null)" || { echo unreadable; return; }
  elif command -v python3 >/dev/null 2>&1; then
    r="$(python3 -c 'import sqlite3, sys
r = sqlite3.connect("file:%s?mode=ro" % sys.argv[1], uri=True).execute(sys.argv[2]).fetchone()
print(r[0] if r else "")' "$1" "$sql" 2>/dev/null)" || { echo unreadable; return; }
  else
    echo ""; return
  fi
  echo "${r:-none}"
}

# ---- which shards to submit ------------------------------------------------------
todo=()
if [ "$resume" = 1 ]; then
  # refuse while a job of this launch is still queued or running
  if [ "$dry" = 0 ] && [ -s "$out/jobs" ] && command -v squeue >/dev/null 2>&1; then
    ids="$(awk '{print $2}' "$out/jobs" | paste -sd, -)"
    active="$(squeue -h -o '%i %T' -j "$ids" 2>/dev/null | head -n 5 || true)"
    [ -z "$active" ] || die "--resume: jobs of $out are still queued or running (scancel them or wait):
$active"
  fi
  for ((i = 0; i < shards; i++)); do
    db="$out/shard-$i.db"
    if [ ! -e "$db" ]; then todo+=("$i"); continue; fi
    st="$(shard_status "$db")"
    [ -n "$st" ] || die "--resume reads the shard databases' run status: it needs sqlite3 or python3"
    case "$st" in
      *" completed") ;;
      *) todo+=("$i") ;;
    esac
  done
else
  for ((i = 0; i < shards; i++)); do todo+=("$i"); done
fi

# --array=0-3 for a whole launch, else the list (compressed into ranges)
array_spec() {
  local s="" start="" prev="" i
  for i in "$@" ""; do
    if [ -n "$start" ] && [ -n "$i" ] && [ "$i" -eq $((prev + 1)) ]; then prev="$i"; continue; fi
    if [ -n "$start" ]; then
      if [ "$start" = "$prev" ]; then s="$s${s:+,}$start"; else s="$s${s:+,}$start-$prev"; fi
    fi
    start="$i" prev="$i"
  done
  printf '%s\n' "$s"
}

# ---- the batch scripts -------------------------------------------------------------
# shard.sbatch: shard $SLURM_ARRAY_TASK_ID of N.  A database holding a completed
# run of the shard: nothing to do.  One holding an interrupted or crashed run
# (time limit, preemption, node failure): `decobench run --resume ID`.  One
# holding a failed run, or no run: moved aside and the shard runs afresh.
write_shard_script() {
  local f="$1"
  {
    echo '#!/usr/bin/env bash'
    echo "# generated by scripts/$prog: shard \$SLURM_ARRAY_TASK_ID of $shards (docs/slurm.md)"
    echo 'set -u'
    echo "decobench=$(printf '%q' "$decobench")"
    echo "suite=$(printf '%q' "$suite")"
    echo "out=$(printf '%q' "$out")"
    echo "n=$shards"
    echo "group=$(printf '%q' "$group")"
    echo "run_args=($(q "${run_args[@]+"${run_args[@]}"}"))"
    declare -f shard_status
    cat <<'EOS'
# the index: a Slurm array task, or a Kubernetes Indexed Job's completion index
i="${SLURM_ARRAY_TASK_ID:-${JOB_COMPLETION_INDEX:-}}"
case "$i" in ''|*[!0-9]*) echo "shard: no SLURM_ARRAY_TASK_ID (or JOB_COMPLETION_INDEX)" >&2; exit 2 ;; esac
db="$out/shard-$i.db"
# what Slurm gave this task: the CPUs it may run on (task/affinity or the
# cgroup's cpuset), its CPU count and GPUs; decobench's default thread count
# ("threads": 0) follows that affinity and it records it (allowed_cpus)
{
  echo "host=$(hostname)"
  echo "job=${SLURM_JOB_ID:-} array_job=${SLURM_ARRAY_JOB_ID:-} task=$i of $n group=$group"
  echo "partition=${SLURM_JOB_PARTITION:-}"
  echo "cpus_per_task=${SLURM_CPUS_PER_TASK:-}"
  echo "cpus_allowed=$(awk '/^Cpus_allowed_list/ {print $2}' /proc/self/status 2>/dev/null)"
  echo "cpuset=$(cat /sys/fs/cgroup/cpuset.cpus.effective 2>/dev/null ||
                 cat "/sys/fs/cgroup/cpuset$(awk -F: '$2 == "cpuset" {print $3}' /proc/self/cgroup 2>/dev/null)/cpuset.cpus" 2>/dev/null)"
  echo "gpus=${SLURM_JOB_GPUS:-${SLURM_STEP_GPUS:-}} cuda_visible_devices=${CUDA_VISIBLE_DEVICES:-}"
} > "$out/logs/shard-$i.alloc" 2>/dev/null
st=""
if [ -e "$db" ]; then
  st="$(shard_status "$db")"
  [ -n "$st" ] || { echo "shard $i/$n: $db exists and neither sqlite3 nor python3 can read its run status" >&2; exit 2; }
fi
case "$st" in
  *" completed")
    echo "shard $i/$n: $db already holds a completed run: nothing to do"; exit 0 ;;
  *" interrupted"|*" crashed"|*" running")
    id="${st%% *}"
    echo "shard $i/$n: continuing run $id of $db (decobench run --resume)"
    exec "$decobench" run --resume "$id" --db "$db" --format none --no-progress ;;
  "") ;;
  *)  # a failed run, no run, or an unreadable file: keep it aside, start again
    aside="$out/shard-$i.$(date -u +%Y%m%dT%H%M%SZ).aside.db"
    echo "shard $i/$n: $db: run ${st}: moved to $aside, running the shard afresh"
    mv "$db" "$aside"
    for x in -wal -shm; do [ ! -e "$db$x" ] || mv "$db$x" "$aside$x"; done ;;
esac
echo "shard $i/$n: decobench run $suite --shard $i/$n -> $db"
exec "$decobench" run "$suite" --db "$db" --shard "$i/$n" --shard-group "$group" --format none --no-progress \
  "${run_args[@]+"${run_args[@]}"}"
EOS
  } > "$f"
  chmod +x "$f"
}

# merge.sbatch: after every shard task ended (afterany): names the shards that
# are missing or did not complete (exit 1, their databases merged into
# partial.db to look at), else merges them into all.db and writes report.md
write_merge_script() {
  local f="$1"
  {
    echo '#!/usr/bin/env bash'
    echo "# generated by scripts/$prog: merge $shards shards and report (docs/slurm.md)"
    echo 'set -u'
    echo "decobench=$(printf '%q' "$decobench")"
    echo "suite=$(printf '%q' "$suite")"
    echo "out=$(printf '%q' "$out")"
    echo "n=$shards"
    declare -f shard_status
    cat <<'EOS'
missing="" unfinished="" present=()
for ((i = 0; i < n; i++)); do
  db="$out/shard-$i.db"
  if [ ! -s "$db" ]; then missing="$missing${missing:+,}$i"; continue; fi
  present+=("$db")
  st="$(shard_status "$db")"
  case "$st" in
    *" completed") ;;
    none) unfinished="$unfinished${unfinished:+, }$i (no run)" ;;
    unreadable|"") unfinished="$unfinished${unfinished:+, }$i (unreadable)" ;;
    *) unfinished="$unfinished${unfinished:+, }$i (run $st)" ;;
  esac
done
rm -f "$out/all.db" "$out/all.db-wal" "$out/all.db-shm" "$out/partial.db" "$out/report.md"
if [ -n "$missing" ] || [ -n "$unfinished" ]; then
  echo "merge: shards of $n not done:${missing:+ missing $missing;}${unfinished:+ not completed $unfinished;}" \
       "see $out/logs/shard-I.out; finish them with" \
       "scripts/slurm-submit.sh $suite --shards $n --out $out --resume" >&2
  if [ ${#present[@]} -gt 0 ]; then
    "$decobench" merge "${present[@]}" -o "$out/partial.db" >&2 || true
    echo "merge: the shards there are merged into $out/partial.db (incomplete)" >&2
  fi
  exit 1
fi
"$decobench" merge "${present[@]}" -o "$out/all.db" || { echo "merge: decobench merge failed" >&2; exit 1; }
"$decobench" report --db "$out/all.db" > "$out/report.md.tmp" &&
  mv "$out/report.md.tmp" "$out/report.md" || { echo "merge: decobench report failed" >&2; exit 1; }
echo "merge: $n shards -> $out/all.db, report $out/report.md"
EOS
  } > "$f"
  chmod +x "$f"
}

# ---- sbatch command lines ------------------------------------------------------------
common=()
[ -z "$account" ] || common+=("--account=$account")
common+=("${sbatch_extra[@]+"${sbatch_extra[@]}"}")

shard_cmd=() merge_cmd=()
if [ ${#todo[@]} -gt 0 ]; then
  spec="$(array_spec "${todo[@]}")"
  [ -z "$max_parallel" ] || spec="$spec%$max_parallel"
  shard_cmd=(sbatch --parsable --job-name=decobench-shard "--array=$spec" --ntasks=1 "--cpus-per-task=$cpus"
             "--output=$out/logs/shard-%a.out" --open-mode=append)
  [ -z "$partition" ] || shard_cmd+=("--partition=$partition")
  if [ "$gpus" -gt 0 ]; then shard_cmd+=("--gres=gpu:${gpu_type:+$gpu_type:}$gpus"); fi
  [ -z "$mem" ] || shard_cmd+=("--mem=$mem")
  [ -z "$time_limit" ] || shard_cmd+=("--time=$time_limit")
  shard_cmd+=("${common[@]+"${common[@]}"}" "$out/shard.sbatch")
fi
mpart="${merge_partition:-$partition}"
merge_cmd=(sbatch --parsable --job-name=decobench-merge --ntasks=1 --cpus-per-task=1 "--output=$out/logs/merge.out"
           --open-mode=append "--time=$merge_time")
[ -z "$mpart" ] || merge_cmd+=("--partition=$mpart")
merge_cmd+=("${common[@]+"${common[@]}"}")

if [ "$dry" = 1 ]; then
  if [ ${#todo[@]} -gt 0 ]; then q "${shard_cmd[@]}"; else echo "# no shard to run: every shard completed"; fi
  if [ ${#todo[@]} -gt 0 ]; then q "${merge_cmd[@]}" "--dependency=afterany:ARRAY_JOB_ID" "$out/merge.sbatch"
  else q "${merge_cmd[@]}" "$out/merge.sbatch"; fi
  exit 0
fi

write_shard_script "$out/shard.sbatch"
write_merge_script "$out/merge.sbatch"
if [ "$resume" = 0 ]; then
  {
    echo "prev_suite=$(printf '%q' "$suite")"
    echo "prev_shards=$shards"
    echo "prev_group=$(printf '%q' "$group")"
    echo "prev_args=$(printf '%q' "$(q "${run_args[@]+"${run_args[@]}"}")")"
  } > "$env_file"
fi

array_id="-"
if [ ${#todo[@]} -gt 0 ]; then
  array_id="$("${shard_cmd[@]}")" || { echo "$prog: sbatch of the shard array failed" >&2; exit 1; }
  array_id="${array_id%%;*}"
  echo "array $array_id $spec" >> "$out/jobs"
  merge_cmd+=("--dependency=afterany:$array_id")
fi
merge_id="$("${merge_cmd[@]}" "$out/merge.sbatch")" || {
  echo "$prog: sbatch of the merge job failed (the shards, job $array_id, were submitted)" >&2; exit 1; }
merge_id="${merge_id%%;*}"
echo "merge $merge_id" >> "$out/jobs"

if [ "$parsable" = 1 ]; then
  echo "$array_id $merge_id"
else
  if [ ${#todo[@]} -gt 0 ]; then
    echo "shards: job $array_id, array $spec of $shards -> $out/shard-I.db (logs $out/logs/shard-I.out)"
  else
    echo "shards: every shard of $out is completed; nothing to rerun"
  fi
  echo "merge:  job $merge_id$([ "$array_id" = - ] || echo " (after job $array_id)") -> $out/all.db, $out/report.md (log $out/logs/merge.out)"
fi
