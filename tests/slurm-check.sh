#!/usr/bin/env bash
# slurm-check.sh — a suite sharded over a Slurm job array for real
# (scripts/slurm-submit.sh, `decobench run --shard I/N`, `decobench merge`;
# docs/slurm.md).  Starts a single-node Slurm cluster in a temporary
# directory, without systemd and bound to 127.0.0.1 only: munged with its own
# key and socket, slurmctld and slurmd from a generated slurm.conf (this
# host's name as the node, its CPUs from `slurmd -C`, free ports, state,
# spool and logs in the temporary directory, proctrack/linuxproc and
# task/affinity so no cgroup setup is needed), and stops them all at the end,
# on failure too.  Then:
#   - submits a 4-shard array of a small suite (bundled target and draft,
#     ar and spec k=4, greedy, 6 prose prompts × 2 repetitions, 24 tokens)
#     and the dependent merge job; checks that every task and the merge job
#     completed, and that the merged database is exactly the single-process
#     run of the same suite: one run, the same cases and sample counts, no
#     duplicate (label, dataset, prompt, rep, turn) key, every sample's
#     output tokens, stop reason and draft counts identical; each shard
#     records its index, N and the launch's group, the shards' samples are
#     disjoint and cover the run, each task ran on the one CPU Slurm gave it
#     (its affinity, and decobench's allowed_cpus) and `decobench report`
#     of the merged run works
#   - failures: a second launch where shard 1 is interrupted (SIGTERM after
#     2 samples) and shard 2 fails before writing anything; the merge job
#     fails naming both, writes no all.db; `slurm-submit.sh --resume`
#     resubmits exactly shards 1 and 2 (1 continued with `run --resume`),
#     and the merge then equals the single-process run again
#   - slurm-submit.sh's arguments: --help, bad input (exit 2), --dry-run's
#     sbatch lines (array, partitions, GPUs, CPUs, dependency)
# Needs root (slurmd starts jobs as their user) or password-less sudo, and
# Debian's slurmctld, slurmd, slurm-client and munge (scripts/setup.sh --test
# installs them); skips, saying why, without them.
# Ends with "N passed, N failed[, N skipped]".
set -u
src="${DB_SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}"
build="$(cd "${DB_BUILDDIR:-$src}" && pwd)"
src="$(cd "$src" && pwd)"
bin="$build/decobench"
. "$src/tests/lib.sh"
submit="$src/scripts/slurm-submit.sh"
t_start=$(date +%s)

# ---- slurm-submit.sh's own arguments (no cluster needed) -----------------------------------
# (once: not again in the copy of this script that runs under sudo)
if [ -z "${DB_SLURM_COUNTS:-}" ]; then
  "$submit" --help | grep -q "^  scripts/slurm-submit.sh SUITE --shards N --out DIR" && ok "slurm-submit.sh --help" ||
    fail "slurm-submit.sh --help"
  bad=""
  for args in "" "$src/suites/smoke.json" "$src/suites/smoke.json --shards 0 --out /tmp/x" \
              "$src/suites/smoke.json --shards 2" "/nonexistent.json --shards 2 --out /tmp/x" \
              "$src/suites/smoke.json --shards 2 --out /tmp/x --bogus" \
              "$src/suites/smoke.json --shards 2 --out /tmp/x -- --shard 0/2" \
              "$src/suites/smoke.json --shards 2 --out /tmp/x --cpus-per-task 0"; do
    # shellcheck disable=SC2086
    "$submit" $args --decobench "$bin" --dry-run >/dev/null 2>"${TMPDIR:-/tmp}/slurm-check.err.$$"
    rc=$?
    lines=$(wc -l < "${TMPDIR:-/tmp}/slurm-check.err.$$")
    [ "$rc" = 2 ] && [ "$lines" -ge 1 ] || bad="$bad [$args] -> exit $rc"
  done
  rm -f "${TMPDIR:-/tmp}/slurm-check.err.$$"
  [ -z "$bad" ] && ok "slurm-submit.sh: bad arguments exit 2 with a message" || fail "slurm-submit.sh bad arguments" "$bad"
  dry="$("$submit" "$src/suites/smoke.json" --shards 4 --out /tmp/decobench-slurm-dry.$$ --partition gpu \
          --merge-partition cpu --gpus-per-task 2 --gpu-type h100 --cpus-per-task 8 --time 02:00:00 --account lab \
          --max-parallel 2 --decobench "$bin" --dry-run -- --limit 5 2>&1)"
  line1="$(echo "$dry" | sed -n 1p)" line2="$(echo "$dry" | sed -n 2p)"
  if [ "$(echo "$dry" | wc -l)" = 2 ] &&
     echo "$line1" | grep -q -- "--array=0-3%2 " && echo "$line1" | grep -q -- "--partition=gpu " &&
     echo "$line1" | grep -q -- "--gres=gpu:h100:2 " && echo "$line1" | grep -q -- "--cpus-per-task=8 " &&
     echo "$line1" | grep -q -- "--time=02:00:00 " && echo "$line1" | grep -q -- "--account=lab " &&
     echo "$line1" | grep -q -- "shard.sbatch$" &&
     echo "$line2" | grep -q -- "--partition=cpu " && echo "$line2" | grep -q -- "--dependency=afterany:ARRAY_JOB_ID " &&
     echo "$line2" | grep -q -- "merge.sbatch$" && ! echo "$line2" | grep -q -- "--gres" &&
     [ ! -e "/tmp/decobench-slurm-dry.$$" ]; then
    ok "slurm-submit.sh --dry-run: array 0-3%2, GPU partition and gres, CPU partition for the merge, afterany; nothing written"
  else
    fail "slurm-submit.sh --dry-run" "$dry"
  fi
fi

# ---- can a Slurm cluster start here? -----------------------------------------------------------
missing=""
for c in munged munge unmunge slurmctld slurmd sbatch squeue sinfo scontrol scancel python3; do
  command -v "$c" >/dev/null 2>&1 || [ -x "/usr/sbin/$c" ] || missing="$missing $c"
done
if [ -n "$missing" ]; then
  skip "slurm-cluster" "missing:$missing (apt-get install slurmctld slurmd slurm-client munge; scripts/setup.sh --test installs them)"
  finish
fi
if [ "$(id -u)" != 0 ]; then
  # slurmd runs jobs as their user: it must be root.  Re-run this script under
  # password-less sudo when there is one.
  if [ -z "${DB_SLURM_SUDO:-}" ] && command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    echo "slurm-check: not root: the cluster part under sudo"
    exec sudo -n env DB_SLURM_SUDO=1 DB_SLURM_COUNTS="$passed $failed $skipped" DB_SRCDIR="$src" \
      DB_BUILDDIR="$build" PATH="$PATH:/usr/sbin:/sbin" bash "$0"
  fi
  skip "slurm-cluster" "not root and no password-less sudo: slurmd must run as root to start jobs"
  finish
fi
export PATH="$PATH:/usr/sbin:/sbin"
# under sudo (above): the argument checks ran again; count them once
if [ -n "${DB_SLURM_COUNTS:-}" ]; then read -r passed failed skipped <<< "$DB_SLURM_COUNTS"; fi

# never inherit a surrounding Slurm job's settings
for v in $(env | awk -F= '/^SLURM_|^SBATCH_|^SQUEUE_|^SINFO_/ {print $1}'); do unset "$v"; done

tmp="$(mktemp -d /tmp/decobench-slurm.XXXXXX)"
chmod 755 "$tmp"   # munged wants its socket's directories searchable by all
munged_pid="" ctld_pid="" slurmd_pid=""
stop_pid() {  # stop_pid PID: TERM, up to 15 s, then KILL
  local p="$1" k
  [ -n "$p" ] || return 0
  kill "$p" 2>/dev/null || return 0
  for k in $(seq 30); do kill -0 "$p" 2>/dev/null || return 0; sleep 0.5; done
  kill -9 "$p" 2>/dev/null
}
cleanup() {
  if [ -n "$ctld_pid" ] && kill -0 "$ctld_pid" 2>/dev/null; then
    ids="$(squeue -h -o %A 2>/dev/null | sort -u | tr '\n' ' ')"
    [ -z "$ids" ] || scancel $ids 2>/dev/null
    # let slurmd end the jobs' slurmstepd processes before it stops
    for k in $(seq 30); do [ -z "$(squeue -h 2>/dev/null)" ] && break; sleep 0.5; done
  fi
  stop_pid "$slurmd_pid"
  stop_pid "$ctld_pid"
  stop_pid "$munged_pid"
  if [ -n "${DB_SLURM_KEEP:-}" ]; then echo "slurm-check: kept $tmp"; else rm -rf "$tmp"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- munge ---------------------------------------------------------------------------------------
mkdir -p "$tmp/munge" "$tmp/run" "$tmp/state" "$tmp/log"
chmod 700 "$tmp/munge"; chmod 755 "$tmp/run"
sock="$tmp/run/munge.sock"
if ! mungekey -c -k "$tmp/munge/munge.key" -b 1024 >/dev/null 2>"$tmp/log/mungekey.err"; then
  # older munge: no mungekey; any 1 KiB of random bytes is a key
  head -c 1024 /dev/urandom > "$tmp/munge/munge.key" && chmod 600 "$tmp/munge/munge.key"
fi
munged -F --socket="$sock" --key-file="$tmp/munge/munge.key" --log-file="$tmp/log/munged.log" \
  --pid-file="$tmp/run/munged.pid" --seed-file="$tmp/munge/seed" > "$tmp/log/munged.out" 2>&1 &
munged_pid=$!
for k in $(seq 40); do [ -S "$sock" ] && break; kill -0 "$munged_pid" 2>/dev/null || break; sleep 0.25; done
if ! munge -S "$sock" -n 2>/dev/null | unmunge -S "$sock" >/dev/null 2>&1; then
  skip "slurm-cluster" "munged does not start here: $(tail -n 2 "$tmp/log/munged.out" "$tmp/log/munged.log" 2>/dev/null | tr '\n' ' ')"
  finish
fi

# ---- slurm.conf ------------------------------------------------------------------------------------
host="$(hostname -s)"
read -r ctld_port slurmd_port < <(python3 -c 'import socket
s=[socket.socket() for _ in range(2)]
for x in s: x.bind(("127.0.0.1",0))
print(*[x.getsockname()[1] for x in s])')
# the node as slurmd sees it (CPUs, sockets, cores, threads), else nproc
hw="$(slurmd -C 2>/dev/null | head -n 1 | tr ' ' '\n' |
      grep -E '^(CPUs|Boards|SocketsPerBoard|CoresPerSocket|ThreadsPerCore)=' | tr '\n' ' ')"
case "$hw" in *CPUs=*) ;; *) hw="CPUs=$(nproc)" ;; esac
ncpus="$(echo "$hw" | sed -E 's/.*CPUs=([0-9]+).*/\1/')"
mkdir -p "$tmp/spool/$host"
conf="$tmp/slurm.conf"
cat > "$conf" <<EOF
# generated by tests/slurm-check.sh: a single-node cluster on 127.0.0.1
ClusterName=decobench-test
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
CommunicationParameters=NoInAddrAny,NoCtldInAddrAny
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$sock
StateSaveLocation=$tmp/state
SlurmdSpoolDir=$tmp/spool/%n
SlurmctldPidFile=$tmp/run/slurmctld.pid
SlurmdPidFile=$tmp/run/slurmd.pid
SlurmctldLogFile=$tmp/log/slurmctld.log
SlurmdLogFile=$tmp/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
MailProg=/bin/true
ProctrackType=proctrack/linuxproc
TaskPlugin=task/affinity
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
MpiDefault=none
ReturnToService=2
SlurmctldTimeout=30
SlurmdTimeout=30
InactiveLimit=0
MinJobAge=600
KillWait=5
NodeName=$host NodeAddr=127.0.0.1 $hw RealMemory=1000 State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
export SLURM_CONF="$conf"

t0=$(date +%s)
slurmctld -D -f "$conf" > "$tmp/log/slurmctld.out" 2>&1 &
ctld_pid=$!
slurmd -D -f "$conf" -N "$host" > "$tmp/log/slurmd.out" 2>&1 &
slurmd_pid=$!
up=0
for k in $(seq 240); do   # 120 s
  kill -0 "$ctld_pid" 2>/dev/null || break
  kill -0 "$slurmd_pid" 2>/dev/null || break
  case "$(sinfo -h -n "$host" -o %T 2>/dev/null)" in idle*) up=1; break ;; esac
  sleep 0.5
done
if [ "$up" != 1 ]; then
  why="$(cat "$tmp/log/slurmctld.out" "$tmp/log/slurmd.out" 2>/dev/null | grep -iE 'error|fatal' | tail -n 3 | tr '\n' ' ')"
  if ! kill -0 "$ctld_pid" 2>/dev/null || ! kill -0 "$slurmd_pid" 2>/dev/null; then
    skip "slurm-cluster" "slurmctld or slurmd exited at start: ${why:-see their logs}"
  else
    fail "slurm cluster: the node never became idle within 120 s" "sinfo: $(sinfo -h 2>&1 | head -n 2)" "$why"
  fi
  finish
fi
ok "single-node Slurm cluster up in $(( $(date +%s) - t0 )) s (node $host, $ncpus CPUs)"
# nothing listens on another address than 127.0.0.1
if command -v ss >/dev/null 2>&1; then
  wide="$(ss -Htlnp 2>/dev/null | grep -E "pid=($ctld_pid|$slurmd_pid)," | awk '{print $4}' | grep -v '^127\.0\.0\.1:' || true)"
  [ -z "$wide" ] && ok "slurmctld and slurmd listen on 127.0.0.1 only" || fail "daemons listen beyond 127.0.0.1" "$wide"
fi

# wait_jobs ID...: until none is queued or running (bounded); 0 when they all ended
wait_jobs() {
  local ids k
  ids="$(echo "$*" | tr ' ' ',')"
  for k in $(seq 360); do   # 180 s
    [ -z "$(squeue -h -j "$ids" 2>/dev/null)" ] && return 0
    sleep 0.5
  done
  return 1
}
# job_states ID: "STATE EXIT" of the job, one line per array task, sorted by task
job_states() {
  scontrol -o show job "$1" 2>/dev/null |
    sed -nE 's/.*ArrayTaskId=([0-9]+).* JobState=([A-Z_]+) .* ExitCode=([0-9:]+).*/\1 \2 \3/p; t; s/.*JobState=([A-Z_]+) .* ExitCode=([0-9:]+).*/- \1 \2/p' |
    sort -n
}

# ---- the suite and its single-process run ----------------------------------------------------------
work="$tmp/work"
mkdir -p "$work"
cat > "$work/suite.json" <<EOF
{
  "name": "slurm-shards",
  "description": "tests/slurm-check.sh: a small suite sharded over a Slurm job array",
  "models": {
    "target": { "path": "$src/data/models/target.gguf", "n_ctx": 256 },
    "draft": { "path": "$src/data/models/draft.gguf", "n_ctx": 256 }
  },
  "datasets": { "prose": { "path": "$src/data/prompts/prose.jsonl", "category": "prose", "limit": 6 } },
  "engines": [
    { "engine": "ar", "label": "ar" },
    { "engine": "spec", "label": "spec k=4", "draft": "draft", "params": { "k": 4 } }
  ],
  "baseline": "ar",
  "max_new_tokens": 24,
  "repetitions": 2,
  "warmup": 0,
  "seeds": [1],
  "threads": 1,
  "pin": "none",
  "papi_events": []
}
EOF
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1}"
if ! "$bin" run --help 2>&1 | grep -q -- "--shard I/N"; then
  skip "slurm-shards" "this decobench has no 'run --shard I/N'"
  finish
fi
t0=$(date +%s)
if "$bin" run "$work/suite.json" --db "$work/single.db" --format none --no-progress > "$work/single.log" 2>&1; then
  ok "single-process run of the suite ($(( $(date +%s) - t0 )) s)"
else
  fail "single-process run" "$(tail -n 3 "$work/single.log")"
  finish
fi

# compare_dbs SINGLE MERGED OUTDIR NSHARDS GROUP_FILE: the merged run is the single run
compare_dbs() {
  python3 - "$@" <<'PY'
import json, os, sqlite3, sys
single, merged, outdir, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
group = open(sys.argv[5]).read().split("prev_group=")[1].split("\n")[0].strip("'\"") if len(sys.argv) > 5 else None
problems = []
def db(p):
    c = sqlite3.connect("file:%s?mode=ro" % p, uri=True)
    c.row_factory = sqlite3.Row
    return c
KEY = "c.label, c.dataset, s.prompt_idx, s.rep, s.turn"
VALS = "s.output_tokens_json, s.new_tokens, s.stop_reason, s.drafted, s.accepted, s.target_forwards, s.n_prompt_tokens"
def samples(c, where=""):
    rows = c.execute("SELECT %s, %s FROM sample s JOIN \"case\" c ON c.id = s.case_id %s" % (KEY, VALS, where)).fetchall()
    out = {}
    for r in rows:
        k = tuple(r)[:5]
        if k in out: problems.append("duplicate sample key %r" % (k,))
        out[k] = tuple(r)[5:]
    return out
a, b = db(single), db(merged)
runs_b = b.execute("SELECT * FROM run").fetchall()
if len(runs_b) != 1: problems.append("merged db has %d runs, expected 1" % len(runs_b))
else:
    r = runs_b[0]
    if r["status"] != "completed": problems.append("merged run status %s" % r["status"])
    if r["shard_count"] != n or r["shard_index"] is not None:
        problems.append("merged run shard_index %r shard_count %r (expected NULL, %d)" % (r["shard_index"], r["shard_count"], n))
    rs = b.execute("SELECT shard_index, shard_count, status FROM run_shard ORDER BY shard_index").fetchall()
    if [tuple(x) for x in rs] != [(i, n, "completed") for i in range(n)]:
        problems.append("run_shard rows %r" % [tuple(x) for x in rs])
ra = a.execute("SELECT suite_name, config_json, limit_prompts FROM run").fetchone()
rb = b.execute("SELECT suite_name, config_json, limit_prompts FROM run").fetchone()
if ra and rb and tuple(ra) != tuple(rb): problems.append("suite/config differ: %r vs %r" % (tuple(ra)[0], tuple(rb)[0]))
ca = a.execute("SELECT label, dataset, status, (SELECT count(*) FROM sample WHERE case_id = c.id) FROM \"case\" c ORDER BY idx").fetchall()
cb = b.execute("SELECT label, dataset, status, (SELECT count(*) FROM sample WHERE case_id = c.id) FROM \"case\" c ORDER BY idx").fetchall()
if [tuple(x) for x in ca] != [tuple(x) for x in cb]:
    problems.append("cases differ: single %r merged %r" % ([tuple(x) for x in ca], [tuple(x) for x in cb]))
sa, sb = samples(a), samples(b)
if len(sa) != len(sb): problems.append("samples: single %d merged %d" % (len(sa), len(sb)))
diff = [k for k in sa if sa[k] != sb.get(k)]
extra = [k for k in sb if k not in sa]
if diff: problems.append("%d samples differ or are missing, e.g. %r: %r vs %r" % (len(diff), diff[0], sa[diff[0]], sb.get(diff[0])))
if extra: problems.append("%d samples only in the merged run, e.g. %r" % (len(extra), extra[0]))
# every shard: its own index, N, the launch's group; disjoint samples covering the run
seen = {}
groups = set()
for i in range(n):
    c = db(os.path.join(outdir, "shard-%d.db" % i))
    rs = c.execute("SELECT shard_index, shard_count, shard_group, status FROM run").fetchall()
    if len(rs) != 1 or rs[0]["shard_index"] != i or rs[0]["shard_count"] != n or rs[0]["status"] != "completed":
        problems.append("shard %d: runs %r" % (i, [tuple(x) for x in rs]))
    groups.update(x["shard_group"] for x in rs)
    for k, v in samples(c).items():
        if k in seen: problems.append("sample %r in shards %d and %d" % (k, seen[k], i))
        seen[k] = i
        if sa.get(k) != v: problems.append("shard %d sample %r differs from the single run" % (i, k))
    n_allowed = c.execute("SELECT value FROM interference WHERE name = 'allowed_cpus' AND case_idx = -1").fetchall()
    # one row per process of the shard (a resumed shard has two): each saw 1 CPU
    if not n_allowed or any(x[0] != 1 for x in n_allowed):
        problems.append("shard %d: allowed_cpus recorded %r, expected 1 (--cpus-per-task 1)" % (i, [x[0] for x in n_allowed]))
if set(seen) != set(sa): problems.append("the shards hold %d sample keys, the single run %d" % (len(seen), len(sa)))
if group is not None and groups != {group}: problems.append("shard groups %r, expected {%r}" % (groups, group))
per = {}
for k, i in seen.items(): per[i] = per.get(i, 0) + 1
if problems:
    print("\n".join(problems[:8]))
    sys.exit(1)
print("%d cases, %d samples; per shard %s" % (len(ca), len(sa), " ".join("%d" % per.get(i, 0) for i in range(n))))
PY
}

# alloc_ok OUTDIR N: each task's recorded affinity is one CPU of this node
alloc_ok() {
  local i a bad=""
  for ((i = 0; i < $2; i++)); do
    a="$(sed -n 's/^cpus_allowed=//p' "$1/logs/shard-$i.alloc" 2>/dev/null)"
    case "$a" in ''|*,*|*-*) bad="$bad shard $i: '$a'" ;; esac
  done
  [ -z "$bad" ] || { echo "$bad"; return 1; }
}

# ---- a 4-shard array and its merge job ---------------------------------------------------------------
N=4
out="$work/out"
t0=$(date +%s)
ids="$("$submit" "$work/suite.json" --shards $N --out "$out" --cpus-per-task 1 --time 10 --decobench "$bin" --parsable 2>"$work/submit.err")"
rc=$?
read -r array_id merge_id <<< "$ids"
if [ "$rc" != 0 ] || [ -z "${merge_id:-}" ]; then
  fail "slurm-submit.sh: submit" "exit $rc: $(cat "$work/submit.err")"
  finish
fi
ok "slurm-submit.sh submitted the array (job $array_id) and the merge job ($merge_id)"
if ! wait_jobs "$array_id" "$merge_id"; then
  fail "the jobs did not end within 180 s" "$(squeue 2>&1 | head -n 8)"
  finish
fi
t_array=$(( $(date +%s) - t0 ))
states="$(job_states "$array_id")"
mstate="$(job_states "$merge_id")"
if [ "$(echo "$states" | tr '\n' ';')" = "0 COMPLETED 0:0;1 COMPLETED 0:0;2 COMPLETED 0:0;3 COMPLETED 0:0;" ] &&
   [ "$mstate" = "- COMPLETED 0:0" ]; then
  ok "4 array tasks and the merge job completed (exit 0) in $t_array s"
else
  fail "job states" "array: $(echo "$states" | tr '\n' ';')" "merge: $mstate" "$(tail -n 5 "$out/logs/merge.out" 2>/dev/null)" \
    "$(tail -n 3 "$out"/logs/shard-*.out 2>/dev/null | tail -n 12)"
fi
if res="$(compare_dbs "$work/single.db" "$out/all.db" "$out" $N "$out/submit.env" 2>&1)"; then
  ok "merged run = single-process run: $res; shard index/N/group recorded; allowed_cpus 1 per shard"
else
  fail "merged run vs single-process run" "$res"
fi
if a="$(alloc_ok "$out" $N)"; then ok "each task's CPU affinity was the one CPU Slurm allocated (logs/shard-I.alloc)"
else fail "task CPU affinity" "$a"; fi
if [ -s "$out/report.md" ] && grep -q "spec k=4" "$out/report.md" && "$bin" report --db "$out/all.db" > "$work/report2.md" 2>/dev/null &&
   cmp -s "$out/report.md" "$work/report2.md"; then
  ok "the merge job's report.md is \`decobench report\` of all.db"
else
  fail "report.md" "$(head -n 5 "$out/report.md" 2>/dev/null)"
fi

# ---- pinning inside the allocation: "threads": 0 and "pin": "cores", one CPU per task ------------------
# a wrapper that samples the decobench process's CPU affinity while it runs
sed -e 's/"pin": "none"/"pin": "cores"/' -e 's/"threads": 1/"threads": 0/' -e 's/"limit": 6/"limit": 4/' \
    -e 's/"repetitions": 2/"repetitions": 1/' "$work/suite.json" > "$work/pin.json"
cat > "$work/watching-decobench" <<EOF
#!/usr/bin/env bash
[ "\${1:-}" = run ] || exec "$bin" "\$@"
"$bin" "\$@" &
p=\$!
seen="$work/pin-\${SLURM_ARRAY_TASK_ID:-x}.seen"
while [ -r /proc/\$p/status ] && ! grep -q '^State:[[:space:]]*Z' /proc/\$p/status 2>/dev/null; do
  awk '/^Cpus_allowed_list/ {print \$2}' /proc/\$p/status >> "\$seen" 2>/dev/null
  sleep 0.05
done
wait \$p
EOF
chmod +x "$work/watching-decobench"
outp="$work/out-pin"
ids="$("$submit" "$work/pin.json" --shards 2 --out "$outp" --cpus-per-task 1 --decobench "$work/watching-decobench" --parsable 2>"$work/submit.err")"
read -r arrayp mergep <<< "$ids"
if [ -z "${mergep:-}" ] || ! wait_jobs "$arrayp" "$mergep"; then
  fail "the pinning launch did not end" "$(cat "$work/submit.err")"
else
  bad=""
  for i in 0 1; do
    given="$(sed -n 's/^cpus_allowed=//p' "$outp/logs/shard-$i.alloc" 2>/dev/null)"
    seen="$(sort -u "$work/pin-$i.seen" 2>/dev/null | tr '\n' ' ')"
    thr="$(python3 -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute("select threads from run").fetchone()[0])' "$outp/shard-$i.db" 2>&1)"
    [ -n "$given" ] && [ "$seen" = "$given " ] && [ "$thr" = 1 ] ||
      bad="$bad shard $i: Slurm gave CPU '$given', decobench ran on '$seen' with $thr threads;"
  done
  [ -z "$bad" ] && ok "\"threads\": 0 and \"pin\": \"cores\" stay inside each task's allocation (1 thread on its CPU)" ||
    fail "pinning follows the Slurm allocation" "$bad" \
      "(\"pin\" must choose among the CPUs the process may run on: db_pin_threads, harness/run/topology.c)"
fi

# ---- failures: shard 1 interrupted, shard 2 failing; the merge names them; --resume -----------------
# a wrapper around decobench with planted faults while $work/faults exists
cat > "$work/faulty-decobench" <<EOF
#!/usr/bin/env bash
if [ -e "$work/faults" ] && [ "\${1:-}" = run ]; then
  case "\${SLURM_ARRAY_TASK_ID:-}" in
    1) export DECOBENCH_TEST_KILL_AFTER_SAMPLES=2:TERM ;;   # interrupted after 2 samples
    2) echo "planted fault: shard 2 fails before it starts" >&2; exit 3 ;;
  esac
fi
exec "$bin" "\$@"
EOF
chmod +x "$work/faulty-decobench"
touch "$work/faults"
out2="$work/out2"
t0=$(date +%s)
ids="$("$submit" "$work/suite.json" --shards $N --out "$out2" --decobench "$work/faulty-decobench" --parsable 2>"$work/submit.err")"
read -r array2 merge2 <<< "$ids"
if [ -z "${merge2:-}" ] || ! wait_jobs "$array2" "$merge2"; then
  fail "the faulty launch did not end" "$(cat "$work/submit.err")"
  finish
fi
states="$(job_states "$array2" | tr '\n' ';')"
mstate="$(job_states "$merge2")"
mlog="$(cat "$out2/logs/merge.out" 2>/dev/null)"
st1="$(python3 -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute("select status from run").fetchone()[0])' "$out2/shard-1.db" 2>&1)"
if [ "$states" = "0 COMPLETED 0:0;1 FAILED 143:0;2 FAILED 3:0;3 COMPLETED 0:0;" ] && [ "$st1" = interrupted ] &&
   [ ! -e "$out2/shard-2.db" ]; then
  ok "planted faults: shard 1 interrupted (exit 143, run interrupted), shard 2 failed (exit 3, no database)"
else
  fail "planted faults" "array: $states" "shard 1 run: $st1"
fi
if [ "$mstate" = "- FAILED 1:0" ] && echo "$mlog" | grep -q "missing 2;" && echo "$mlog" | grep -q "not completed 1 (run 1 interrupted);" &&
   echo "$mlog" | grep -q "shards 0,1,3 of 4; missing: 2" &&
   echo "$mlog" | grep -q -- "--resume" && [ ! -e "$out2/all.db" ] && [ ! -e "$out2/report.md" ] && [ -s "$out2/partial.db" ]; then
  ok "the merge job fails (exit 1) naming missing shard 2 and unfinished shard 1 (and decobench merge: missing: 2); no all.db"
else
  fail "merge job on missing shards" "state: $mstate" "$mlog"
fi
rm -f "$work/faults"
dry="$("$submit" "$work/suite.json" --shards $N --out "$out2" --decobench "$work/faulty-decobench" --resume --dry-run 2>&1)"
echo "$dry" | sed -n 1p | grep -q -- "--array=1-2 " && ok "--resume --dry-run: only shards 1 and 2 (--array=1-2)" ||
  fail "--resume --dry-run" "$dry"
ids="$("$submit" "$work/suite.json" --shards $N --out "$out2" --decobench "$work/faulty-decobench" --resume --parsable 2>"$work/submit.err")"
read -r array3 merge3 <<< "$ids"
if [ -z "${merge3:-}" ] || ! wait_jobs "$array3" "$merge3"; then
  fail "the resumed launch did not end" "$(cat "$work/submit.err")"
  finish
fi
states="$(job_states "$array3" | tr '\n' ';')"
mstate="$(job_states "$merge3")"
if [ "$states" = "1 COMPLETED 0:0;2 COMPLETED 0:0;" ] && [ "$mstate" = "- COMPLETED 0:0" ] &&
   grep -q "continuing run" "$out2/logs/shard-1.out" &&
   [ "$(python3 -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute("select resumed from run").fetchone()[0])' "$out2/shard-1.db" 2>&1)" = 1 ]; then
  ok "--resume reran shards 1 (run --resume) and 2 only; the merge completed ($(( $(date +%s) - t0 )) s for both launches)"
else
  fail "--resume" "array: $states" "merge: $mstate" "$(tail -n 5 "$out2/logs/shard-1.out" "$out2/logs/merge.out" 2>/dev/null)"
fi
if res="$(compare_dbs "$work/single.db" "$out2/all.db" "$out2" $N "$out2/submit.env" 2>&1)"; then
  ok "after --resume the merged run = single-process run: $res"
else
  fail "resumed merged run vs single-process run" "$res"
fi
# a finished launch: --resume has no shard left to run (the merge job alone);
# another N, or a fresh submission into the same DIR, is refused
dry="$("$submit" "$work/suite.json" --shards $N --out "$out2" --decobench "$bin" --resume --dry-run 2>&1)"
"$submit" "$work/suite.json" --shards 3 --out "$out2" --decobench "$bin" --resume --dry-run >/dev/null 2>&1
rc_n=$?
"$submit" "$work/suite.json" --shards $N --out "$out2" --decobench "$bin" >/dev/null 2>"$work/again.err"
rc_again=$?
if echo "$dry" | sed -n 1p | grep -q "^# no shard to run" && echo "$dry" | sed -n 2p | grep -q "merge.sbatch$" &&
   ! echo "$dry" | grep -q -- "--dependency" && [ "$rc_n" = 2 ] && [ "$rc_again" = 2 ] && grep -q -- "--resume" "$work/again.err"; then
  ok "--resume of a finished launch: the merge job alone; --shards 3 against 4, or no --resume: exit 2"
else
  fail "--resume of a finished launch" "$dry" "exit $rc_n, $rc_again: $(cat "$work/again.err")"
fi

echo "slurm-check: $(( $(date +%s) - t_start )) s in all"
finish
