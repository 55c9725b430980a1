#!/usr/bin/env python3
"""scale_gen.py — synthetic results databases for bench/scale.sh.

Multiplies the runs, cases and samples (with their counters, named metrics
and step events) of a small real seed database by SQL, so that report,
compare, history and merge can be timed at 1k .. 1M samples without running
a suite that long.  Only the stdlib's sqlite3 is used; the schema is the
seed's (nothing is added).

  scale_gen.py grow SEED OUT --samples N        cases and samples multiplied (about sqrt each)
  scale_gen.py perturb IN OUT                   a copy of IN with its run's timings perturbed
  scale_gen.py runs SEED OUT --runs R           R copies of the seed's run (history)
  scale_gen.py copies SEED DIR --count K        K databases, each the seed with another start time (merge)
"""
import argparse
import math
import os
import shutil
import sqlite3
import sys


def cols(con, table, schema="main"):
    return [r[1] for r in con.execute(f'PRAGMA {schema}.table_info("{table}")')]


def has_table(con, table, schema="main"):
    return con.execute(f"SELECT 1 FROM {schema}.sqlite_master WHERE type='table' AND name=?", (table,)).fetchone()


def copy_table(con, table, repl, n_copies, where="", order=""):
    """INSERT INTO table SELECT ... FROM seed.table × copies i in [1, n_copies);
    repl maps a column to an SQL expression over the seed row and i; order,
    an ORDER BY expression list, the order the rows are stored in."""
    if not has_table(con, table, "seed") or n_copies <= 1:
        return
    cs = cols(con, table, "seed")
    exprs = [repl.get(c, f'"{c}"') for c in cs]
    collist = ", ".join(f'"{c}"' for c in cs)
    sql = (f"WITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM k WHERE i < {n_copies - 1}) "
           f'INSERT INTO main."{table}"({collist}) SELECT {", ".join(exprs)} FROM seed."{table}", k {where}'
           + (f" ORDER BY {order}" if order else ""))
    con.execute(sql)


def multiply(seed, out, kr, kc, ks, perturb_runs=False):
    """kr copies of every run, kc of every case within a run copy, ks of every
    sample within a case copy (copy 0 is the seed row itself)."""
    if os.path.exists(out):
        os.unlink(out)
    shutil.copyfile(seed, out)
    con = sqlite3.connect(out)
    con.execute("PRAGMA journal_mode=OFF")
    con.execute("PRAGMA synchronous=OFF")
    con.execute(f"ATTACH DATABASE 'file:{seed}?mode=ro' AS seed")
    mx = lambda t: con.execute(f'SELECT coalesce(max(id), 0) + 1 FROM seed."{t}"').fetchone()[0]
    RS, CS, SS = mx("run"), mx("case"), mx("sample")
    NC = con.execute('SELECT coalesce(max(idx), 0) + 1 FROM seed."case"').fetchone()[0]
    R = con.execute("SELECT coalesce(max(rep), 0) + 1 FROM seed.sample").fetchone()[0]
    # copy i of a sample: run copy a = i / (kc*ks), case copy j = (i / ks) % kc, sample copy r = i % ks
    # ids: run id + a*RS, case id + (a*kc + j)*CS, sample id + i*SS
    con.execute("BEGIN")
    copy_table(con, "run", {"id": f"id + i*{RS}", "started_at": "started_at + i*3600000",
                            "finished_at": "finished_at + i*3600000",
                            "decobench_rev": "'rev' || printf('%04d', i / 10)"}, kr)
    if kr > 1:   # the seed run gets a revision in the same scheme
        con.execute("UPDATE main.run SET decobench_rev = 'rev0000'")
    copy_table(con, "run_counter", {"run_id": f"run_id + i*{RS}"}, kr)
    cc = kr * kc
    copy_table(con, "case", {"id": f"id + i*{CS}", "run_id": f"run_id + (i / {kc})*{RS}",
                             "idx": f"idx + (i % {kc})*{NC}",
                             "dataset": f"CASE WHEN i % {kc} = 0 THEN dataset ELSE dataset || '#' || (i % {kc}) END"},
               cc)
    copy_table(con, "identity", {"run_id": f"run_id + (i / {kc})*{RS}", "case_id": f"case_id + i*{CS}",
                                 "baseline_case_id": f"baseline_case_id + i*{CS}"}, cc)
    if ks > 1 and has_table(con, "identity", "seed"):
        con.execute(f"UPDATE main.identity SET n_compared = n_compared*{ks}, n_identical = n_identical*{ks}")
    copy_table(con, "interference", {"run_id": f"run_id + (i / {kc})*{RS}",
                                     "case_idx": f"CASE WHEN case_idx < 0 THEN case_idx ELSE case_idx + (i % {kc})*{NC} END"},
               cc)
    n = cc * ks
    # a per-run shift (runs from copy 600 on are 8% slower) and per-sample noise,
    # so history has change points to find and permutations to run
    noise = "(1 + 0.03 * (((id + i*7919) * 2654435761) % 1000 - 500) / 500.0)"
    shift = f"(CASE WHEN i / ({kc}*{ks}) >= 600 THEN 0.92 ELSE 1.0 END)" if perturb_runs else "1.0"
    copy_table(con, "sample", {"id": f"id + i*{SS}", "case_id": f"case_id + (i / {ks})*{CS}",
                               "rep": f"rep + (i % {ks})*{R}",
                               "tokens_per_s": f"tokens_per_s * {noise} * {shift}",
                               "latency_ms": f"latency_ms / ({noise} * {shift})"}, n)
    # stored as decobench stores them: a case's rows together (db_store_case
    # writes a case's samples and their counters in one transaction), so a
    # case's counter rows fill one stretch of rowids
    case_order = f"(SELECT case_id FROM seed.sample WHERE id = sample_id) + (i / {ks})*{CS}, sample_id + i*{SS}"
    for t in ("sample_counter", "sample_metric", "step_event", "sample_events"):
        copy_table(con, t, {"sample_id": f"sample_id + i*{SS}"}, n, order=case_order)
    con.execute("COMMIT")
    con.execute("DETACH DATABASE seed")
    con.close()


def count_samples(path):
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    n = con.execute("SELECT count(*) FROM sample").fetchone()[0]
    con.close()
    return n


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", choices=["grow", "perturb", "runs", "copies"])
    ap.add_argument("src")
    ap.add_argument("out")
    ap.add_argument("--samples", type=int, default=1000)
    ap.add_argument("--runs", type=int, default=1000)
    ap.add_argument("--count", type=int, default=100)
    a = ap.parse_args()
    if a.what == "grow":
        s0 = count_samples(a.src)
        k = max(1, math.ceil(a.samples / s0))
        ks = max(1, math.ceil(math.sqrt(k)))
        kc = max(1, math.ceil(k / ks))
        multiply(a.src, a.out, 1, kc, ks)
    elif a.what == "runs":
        multiply(a.src, a.out, a.runs, 1, 1, perturb_runs=True)
    elif a.what == "perturb":
        if os.path.exists(a.out):
            os.unlink(a.out)
        shutil.copyfile(a.src, a.out)
        con = sqlite3.connect(a.out)
        # 3% slower on average with noise, another start time: another run
        con.execute("UPDATE sample SET tokens_per_s = tokens_per_s * (0.97 + 0.02 * (((id * 40503) % 1000) - 500) / 500.0),"
                    " latency_ms = latency_ms / 0.97, ttft_ms = ttft_ms * 1.01")
        con.execute("UPDATE run SET started_at = started_at + 86400000, finished_at = finished_at + 86400000")
        con.commit()
        con.close()
    else:
        os.makedirs(a.out, exist_ok=True)
        for c in range(a.count):
            p = os.path.join(a.out, f"m{c:03d}.db")
            if os.path.exists(p):
                continue
            shutil.copyfile(a.src, p)
            con = sqlite3.connect(p)
            con.execute(f"UPDATE run SET started_at = started_at + {c + 1}*60000, finished_at = finished_at + {c + 1}*60000")
            con.commit()
            con.close()
    if a.what in ("grow", "runs", "perturb"):
        print(count_samples(a.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
