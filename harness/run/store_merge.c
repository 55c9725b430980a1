/* store_merge.c — merging results databases (`decobench merge`,
 * store_merge.h): every machine, probe, run, case, sample and their child
 * rows of a source database copied into a destination, through one copier
 * per table over the columns both databases have; runs already present
 * gain only the cases they lack.
 */
#include "store_merge.h"
#include "store_int.h"

#include <inttypes.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/run/identity.h"
#include "harness/util/util.h"

/* one table's copier: the columns common to source and destination (but
 * the id), a SELECT on the source by parent id and an INSERT into dst */
typedef struct copier {
    const char *table, *parent;   /* parent: the column remapped (NULL: none) */
    int has_id;
    int ncols, parent_col;        /* parent_col: index among cols, -1 */
    sqlite3_stmt *sel, *ins;
} copier;

static int table_cols(sqlite3 *db, const char *table, char ***cols, int *n) {
    char sql[128];
    snprintf(sql, sizeof sql, "PRAGMA table_info(\"%s\")", table);
    sqlite3_stmt *s = NULL;
    *cols = NULL;
    *n = 0;
    if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK) return -1;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        char **nc = realloc(*cols, (size_t)(*n + 1) * sizeof *nc);
        if (!nc) break;
        *cols = nc;
        if (!(nc[*n] = db_sql_text(s, 1))) break;
        (*n)++;
    }
    sqlite3_finalize(s);
    return rc == SQLITE_DONE ? 0 : -1;
}

static void free_cols(char **c, int n) {
    for (int i = 0; i < n; i++) free(c[i]);
    free(c);
}

static void copier_free(copier *c) {
    sqlite3_finalize(c->sel);
    sqlite3_finalize(c->ins);
    c->sel = c->ins = NULL;
}

/* where: SQL after FROM table (e.g. "WHERE run_id = ? ORDER BY id");
 * ignore: INSERT OR IGNORE */
static int copier_init(copier *c, sqlite3 *src, sqlite3 *dst, const char *table, const char *parent, const char *where,
                       int ignore, char *err, size_t errlen) {
    char **sc = NULL, **dc = NULL;
    int ns = 0, nd = 0, rc = -1;
    db_str sel, ins, vals;
    db_str_init(&sel);
    db_str_init(&ins);
    db_str_init(&vals);
    memset(c, 0, sizeof *c);
    c->table = table;
    c->parent = parent;
    c->parent_col = -1;
    if (table_cols(src, table, &sc, &ns) != 0 || table_cols(dst, table, &dc, &nd) != 0) {
        db_errf(err, errlen, "read the columns of %s: %s", table, sqlite3_errmsg(src));
        goto out;
    }
    /* a pruned run's samples name their output by output_id (schema version 7),
     * a row of the source's own output table: the copy takes the output itself
     * into the sample's columns (the destination's next prune moves it again) */
    int outputs_by_id = 0;
    for (int i = 0; i < ns; i++) {
        if (strcmp(sc[i], "id") == 0) c->has_id = 1;
        if (strcmp(table, "sample") == 0 && strcmp(sc[i], "output_id") == 0) outputs_by_id = 1;
    }
    int e = db_str_append(&sel, c->has_id ? "SELECT id" : "SELECT 0");
    e |= db_str_printf(&ins, "INSERT %sINTO \"%s\"(", ignore ? "OR IGNORE " : "", table);
    for (int i = 0; i < ns; i++) {
        if (strcmp(sc[i], "id") == 0) continue;
        int in_dst = 0;
        for (int j = 0; j < nd; j++) in_dst |= strcmp(sc[i], dc[j]) == 0;
        if (!in_dst) continue;
        if (parent && strcmp(sc[i], parent) == 0) c->parent_col = c->ncols;
        if (outputs_by_id && strcmp(sc[i], "output_id") == 0) continue;
        if (outputs_by_id && (strcmp(sc[i], "output_tokens_json") == 0 || strcmp(sc[i], "output_text") == 0))
            e |= db_str_printf(&sel, ", COALESCE(\"%s\", (SELECT o.%s FROM output o WHERE o.id = sample.output_id))",
                               sc[i], strcmp(sc[i], "output_text") == 0 ? "text" : "tokens_json");
        else
            e |= db_str_printf(&sel, ", \"%s\"", sc[i]);
        e |= db_str_printf(&ins, "%s\"%s\"", c->ncols ? ", " : "", sc[i]);
        e |= db_str_append(&vals, c->ncols ? ", ?" : "?");
        c->ncols++;
    }
    e |= db_str_printf(&sel, " FROM \"%s\" %s", table, where);
    e |= db_str_printf(&ins, ") VALUES(%s)", vals.s ? vals.s : "");
    if (e) {
        db_errf(err, errlen, "out of memory");
        goto out;
    }
    if (sqlite3_prepare_v2(src, sel.s, -1, &c->sel, NULL) != SQLITE_OK) {
        db_errf(err, errlen, "read %s: %s", table, sqlite3_errmsg(src));
        goto out;
    }
    if (sqlite3_prepare_v2(dst, ins.s, -1, &c->ins, NULL) != SQLITE_OK) {
        db_errf(err, errlen, "write %s: %s", table, sqlite3_errmsg(dst));
        goto out;
    }
    rc = 0;
out:
    free_cols(sc, ns);
    free_cols(dc, nd);
    db_str_free(&sel);
    db_str_free(&ins);
    db_str_free(&vals);
    if (rc != 0) copier_free(c);
    return rc;
}

/* insert the current row of c->sel into dst with the parent column set to
 * new_parent (NULL when new_parent < 0 and the row's parent is NULL) */
static int copier_put(copier *c, sqlite3 *dst, int64_t new_parent, int64_t *new_id) {
    for (int i = 0; i < c->ncols; i++) {
        if (i == c->parent_col) {
            if (new_parent > 0) sqlite3_bind_int64(c->ins, i + 1, new_parent);
            else sqlite3_bind_null(c->ins, i + 1);
        } else sqlite3_bind_value(c->ins, i + 1, sqlite3_column_value(c->sel, i + 1));
    }
    int rc = sqlite3_step(c->ins);
    sqlite3_reset(c->ins);
    sqlite3_clear_bindings(c->ins);
    if (rc != SQLITE_DONE) return -1;
    if (new_id) *new_id = sqlite3_last_insert_rowid(dst);
    return 0;
}

/* column index (in c->sel) of a named source column, -1 when absent */
static int sel_col(const copier *c, const char *name) {
    for (int i = 0; i < sqlite3_column_count(c->sel); i++)
        if (strcmp(sqlite3_column_name(c->sel, i), name) == 0) return i;
    return -1;
}

enum { C_MACHINE, C_RUN, C_RUNCNT, C_CASE, C_SAMPLE, C_SMPCNT, C_SMPMET, C_EVENT, C_EVBLOB, C_NOISE, C_N };

typedef struct merger {
    sqlite3 *src, *dst;
    copier c[C_N];
    sqlite3_stmt *find_run, *find_case, *fix_run, *find_machine;
    sqlite3_stmt *put_counter;   /* a sample_counter row into dst (packed source counters) */
    int64_t *mach_src, *mach_dst;
    int n_mach;
    int64_t *added_idx;   /* idx of the cases copy_cases added to a run already present */
    int n_added, cap_added;
    int64_t logical[64];  /* S10: logical runs that shards went into */
    int n_logical;
    char err[512];
} merger;

static int m_fail(merger *m, sqlite3 *db, const char *what) {
    snprintf(m->err, sizeof m->err, "%s: %s", what, sqlite3_errmsg(db));
    return -1;
}

/* a pruned source case's packed counters go into the destination as rows
 * (the destination's next prune packs them again with its own names), each
 * under its sample's new id: one pass over the case's blobs, not one
 * (with the name table read again) per sample */
typedef struct {
    sqlite3_stmt *ins;
    const int64_t *src_ids, *dst_ids;   /* the case's samples, src ids ascending */
    int n;
} unpack_ctx;

static int unpack_counter(void *ctx, int64_t sample_id, const char *name, bool is_null, int64_t value) {
    unpack_ctx *u = ctx;
    int lo = 0, hi = u->n - 1, at = -1;
    while (lo <= hi && at < 0) {
        int mid = lo + (hi - lo) / 2;
        if (u->src_ids[mid] == sample_id) at = mid;
        else if (u->src_ids[mid] < sample_id) lo = mid + 1;
        else hi = mid - 1;
    }
    if (at < 0) return 0;   /* not a sample the case's copy took */
    sqlite3_reset(u->ins);
    sqlite3_bind_int64(u->ins, 1, u->dst_ids[at]);
    sqlite3_bind_text(u->ins, 2, name, -1, SQLITE_TRANSIENT);
    if (is_null)
        sqlite3_bind_null(u->ins, 3);
    else
        sqlite3_bind_int64(u->ins, 3, value);
    return sqlite3_step(u->ins) == SQLITE_DONE ? 0 : -1;
}

/* copy the samples (and their counters, metrics, event rows and event
 * blobs) of source case sc_id
 * to dst case dc_id */
static int copy_samples(merger *m, int64_t sc_id, int64_t dc_id, db_merge_stats *stats) {
    copier *cs = &m->c[C_SAMPLE];
    sqlite3_reset(cs->sel);
    sqlite3_bind_int64(cs->sel, 1, sc_id);
    int64_t *src_ids = NULL, *dst_ids = NULL;
    int n = 0, cap = 0, rc;
    while ((rc = sqlite3_step(cs->sel)) == SQLITE_ROW) {
        int64_t ss_id = sqlite3_column_int64(cs->sel, 0), ds_id;
        if (copier_put(cs, m->dst, dc_id, &ds_id) != 0) {
            rc = m_fail(m, m->dst, "insert sample");
            goto out;
        }
        stats->samples_added++;
        if (n == cap) {
            cap = cap ? 2 * cap : 64;
            int64_t *a = realloc(src_ids, (size_t)cap * sizeof *a);
            if (a) src_ids = a;
            int64_t *b = realloc(dst_ids, (size_t)cap * sizeof *b);
            if (b) dst_ids = b;
            if (!a || !b) {
                snprintf(m->err, sizeof m->err, "out of memory");
                rc = -1;
                goto out;
            }
        }
        src_ids[n] = ss_id;   /* ascending: the copier reads ORDER BY id */
        dst_ids[n++] = ds_id;
        for (int k = C_SMPCNT; k <= C_EVBLOB; k++) {
            copier *cc = &m->c[k];
            sqlite3_reset(cc->sel);
            sqlite3_bind_int64(cc->sel, 1, ss_id);
            int r2;
            while ((r2 = sqlite3_step(cc->sel)) == SQLITE_ROW)
                if (copier_put(cc, m->dst, ds_id, NULL) != 0) {
                    rc = m_fail(m, m->dst, cc->table);
                    goto out;
                }
            if (r2 != SQLITE_DONE) {
                rc = m_fail(m, m->src, cc->table);
                goto out;
            }
        }
    }
    if (rc != SQLITE_DONE) {
        rc = m_fail(m, m->src, "read samples");
        goto out;
    }
    unpack_ctx u = { m->put_counter, src_ids, dst_ids, n };
    int pr = n > 0 ? db_st_for_packed_counters(m->src, DB_PACKED_CASE, sc_id, unpack_counter, &u) : 0;
    if (pr == -2) {
        snprintf(m->err, sizeof m->err, "case %lld: a malformed sample_counter_pack blob", (long long)sc_id);
        rc = -1;
    } else if (pr != 0) {   /* the source's read, or unpack_counter's insert into dst */
        rc = m_fail(m, sqlite3_errcode(m->dst) != SQLITE_OK && sqlite3_errcode(m->dst) != SQLITE_DONE &&
                               sqlite3_errcode(m->dst) != SQLITE_ROW ? m->dst : m->src,
                    "packed sample counters");
    } else {
        rc = 0;
    }
out:
    free(src_ids);
    free(dst_ids);
    return rc;
}

/* copy the cases of source run sr to dst run dr (only those dst lacks when exists) */
static int copy_cases(merger *m, int64_t sr, int64_t dr, int exists, db_merge_stats *stats) {
    copier *cc = &m->c[C_CASE];
    sqlite3_reset(cc->sel);
    sqlite3_bind_int64(cc->sel, 1, sr);
    const int ci_idx = sel_col(cc, "idx"), ci_label = sel_col(cc, "label"), ci_ds = sel_col(cc, "dataset"),
              ci_sha = sel_col(cc, "model_sha256"), ci_start = sel_col(cc, "started_at");
    int rc;
    while ((rc = sqlite3_step(cc->sel)) == SQLITE_ROW) {
        int64_t sc_id = sqlite3_column_int64(cc->sel, 0), dc_id;
        if (exists) {
            sqlite3_stmt *f = m->find_case;
            sqlite3_reset(f);
            sqlite3_bind_int64(f, 1, dr);
            int cols[5] = { ci_idx, ci_label, ci_ds, ci_sha, ci_start };
            for (int k = 0; k < 5; k++) {
                if (cols[k] >= 0) sqlite3_bind_value(f, k + 2, sqlite3_column_value(cc->sel, cols[k]));
                else sqlite3_bind_null(f, k + 2);
            }
            int r2 = sqlite3_step(f);
            sqlite3_reset(f);
            if (r2 == SQLITE_ROW) continue;
            if (r2 != SQLITE_DONE) return m_fail(m, m->dst, "look up case");
        }
        if (copier_put(cc, m->dst, dr, &dc_id) != 0) return m_fail(m, m->dst, "insert case");
        stats->cases_added++;
        if (exists && ci_idx >= 0) {   /* its interference rows follow it (merge_noise) */
            if (m->n_added == m->cap_added) {
                int cap = m->cap_added ? 2 * m->cap_added : 16;
                int64_t *a = realloc(m->added_idx, (size_t)cap * sizeof *a);
                if (!a) return snprintf(m->err, sizeof m->err, "out of memory"), -1;
                m->added_idx = a;
                m->cap_added = cap;
            }
            m->added_idx[m->n_added++] = sqlite3_column_int64(cc->sel, ci_idx);
        }
        if (copy_samples(m, sc_id, dc_id, stats) != 0) return -1;
    }
    return rc == SQLITE_DONE ? 0 : m_fail(m, m->src, "read cases");
}

static int64_t map_machine(const merger *m, int64_t src_id) {
    for (int i = 0; i < m->n_mach; i++)
        if (m->mach_src[i] == src_id) return m->mach_dst[i];
    return 0;
}

static int merge_machines(merger *m, db_merge_stats *stats) {
    copier *c = &m->c[C_MACHINE];
    const int fp = sel_col(c, "fingerprint");
    if (fp < 0) return snprintf(m->err, sizeof m->err, "machine table without fingerprint"), -1;
    if (sqlite3_exec(m->dst, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
        return m_fail(m, m->dst, "begin");
    int rc;
    while ((rc = sqlite3_step(c->sel)) == SQLITE_ROW) {
        int64_t sid = sqlite3_column_int64(c->sel, 0), did = 0;
        sqlite3_reset(m->find_machine);
        sqlite3_bind_value(m->find_machine, 1, sqlite3_column_value(c->sel, fp));
        int r2 = sqlite3_step(m->find_machine);
        if (r2 == SQLITE_ROW) did = sqlite3_column_int64(m->find_machine, 0);
        sqlite3_reset(m->find_machine);
        if (r2 != SQLITE_ROW && r2 != SQLITE_DONE) goto fail_dst;
        if (r2 == SQLITE_DONE) {
            if (copier_put(c, m->dst, -1, &did) != 0) goto fail_dst;
            stats->machines_added++;
        }
        int64_t *a = realloc(m->mach_src, (size_t)(m->n_mach + 1) * sizeof *a);
        if (a) m->mach_src = a;
        int64_t *b = realloc(m->mach_dst, (size_t)(m->n_mach + 1) * sizeof *b);
        if (b) m->mach_dst = b;
        if (!a || !b) {
            snprintf(m->err, sizeof m->err, "out of memory");
            goto fail;
        }
        m->mach_src[m->n_mach] = sid;
        m->mach_dst[m->n_mach++] = did;
    }
    if (rc != SQLITE_DONE) {
        m_fail(m, m->src, "read machines");
        goto fail;
    }
    if (sqlite3_exec(m->dst, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) goto fail_dst;
    return 0;
fail_dst:
    m_fail(m, m->dst, "insert machine");
fail:
    sqlite3_exec(m->dst, "ROLLBACK", NULL, NULL, NULL);
    return -1;
}

/* rows of a table keyed by machine: the machines' probe results
 * (machine_probe, schema version 2) and devices (machine_device, version
 * 5; absent in older sources), INSERT OR IGNORE: a row already present
 * stays */
static int merge_machine_rows(merger *m, const char *table, char *err, size_t errlen) {
    if (!db_sql_has_table(m->src, table) || !db_sql_has_table(m->dst, table)) return 0;
    copier c;
    if (copier_init(&c, m->src, m->dst, table, "machine_id", "ORDER BY rowid", 1, err, errlen) != 0)
        return -1;
    const int ci_mach = sel_col(&c, "machine_id");
    int rc = -1, r;
    if (ci_mach < 0) {
        db_errf(err, errlen, "%s table without machine_id", table);
        goto out;
    }
    if (sqlite3_exec(m->dst, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
        db_errf(err, errlen, "begin: %s", sqlite3_errmsg(m->dst));
        goto out;
    }
    while ((r = sqlite3_step(c.sel)) == SQLITE_ROW) {
        int64_t mach = map_machine(m, sqlite3_column_int64(c.sel, ci_mach));
        if (mach <= 0) continue;   /* a row of a machine the source does not hold */
        if (copier_put(&c, m->dst, mach, NULL) != 0) {
            db_errf(err, errlen, "insert %s: %s", table, sqlite3_errmsg(m->dst));
            sqlite3_exec(m->dst, "ROLLBACK", NULL, NULL, NULL);
            goto out;
        }
    }
    if (r != SQLITE_DONE) {
        db_errf(err, errlen, "read %s: %s", table, sqlite3_errmsg(m->src));
        sqlite3_exec(m->dst, "ROLLBACK", NULL, NULL, NULL);
        goto out;
    }
    if (sqlite3_exec(m->dst, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        db_errf(err, errlen, "commit: %s", sqlite3_errmsg(m->dst));
        sqlite3_exec(m->dst, "ROLLBACK", NULL, NULL, NULL);
        goto out;
    }
    rc = 0;
out:
    copier_free(&c);
    return rc;
}

/* S7 interference (harness/run/interference.h): the verdicts of source run sr
 * that dst run dr lacks — all of them for a new run; for a run already
 * present (merged while it ran, or resumed since), those of the cases just
 * added and the run's own verdict (case_idx -1) when dst has none yet */
static int merge_noise(merger *m, int64_t sr, int64_t dr, int exists) {
    copier *nc = &m->c[C_NOISE];
    const int ci_case = sel_col(nc, "case_idx");
    bool run_level = !exists;
    if (exists) {
        sqlite3_stmt *q = NULL;
        if (sqlite3_prepare_v2(m->dst, "SELECT COUNT(*) FROM interference WHERE run_id = ? AND case_idx = -1", -1,
                               &q, NULL) != SQLITE_OK)
            return m_fail(m, m->dst, "read interference");
        sqlite3_bind_int64(q, 1, dr);
        int r = sqlite3_step(q);
        run_level = r == SQLITE_ROW && sqlite3_column_int64(q, 0) == 0;
        sqlite3_finalize(q);
        if (r != SQLITE_ROW) return m_fail(m, m->dst, "read interference");
        if (ci_case < 0) return 0;   /* a foreign table without case_idx: nothing to match */
    }
    sqlite3_reset(nc->sel);
    sqlite3_bind_int64(nc->sel, 1, sr);
    int r5;
    while ((r5 = sqlite3_step(nc->sel)) == SQLITE_ROW) {
        if (exists) {
            int64_t idx = sqlite3_column_int64(nc->sel, ci_case);
            bool take = idx == -1 && run_level;
            for (int i = 0; i < m->n_added && !take; i++) take = m->added_idx[i] == idx;
            if (!take) continue;
        }
        if (copier_put(nc, m->dst, dr, NULL) != 0) return m_fail(m, m->dst, "insert interference");
    }
    return r5 == SQLITE_DONE ? 0 : m_fail(m, m->src, "read interference");
}

/* 1 when run_id of db has identity verdicts, 0 when not (or no such
 * table: an older file), -1 on an SQL error */
static int has_identity(sqlite3 *db, int64_t run_id) {
    if (!db_sql_has_table(db, "identity")) return 0;
    sqlite3_stmt *q = NULL;
    if (sqlite3_prepare_v2(db, "SELECT 1 FROM identity WHERE run_id = ? LIMIT 1", -1, &q, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_int64(q, 1, run_id);
    int r = sqlite3_step(q);
    sqlite3_finalize(q);
    return r == SQLITE_ROW ? 1 : r == SQLITE_DONE ? 0 : -1;
}

/* A pruned source run (`decobench prune`: no step events left) stays pruned
 * in dst, so its verify-step counts read as missing rather than 0.  dst's
 * run may hold unpruned cases too: the mark only matters for cases that
 * drafted and have no events. */
static int merge_prune(merger *m, int64_t sr, int64_t dr) {
    if (!db_sql_has_table(m->src, "run_prune") || !db_sql_has_table(m->dst, "run_prune")) return 0;
    sqlite3_stmt *q = NULL, *ins = NULL;
    if (sqlite3_prepare_v2(m->src, "SELECT pruned_at, samples, bytes FROM run_prune WHERE run_id = ?", -1, &q,
                           NULL) != SQLITE_OK)
        return m_fail(m, m->src, "read run_prune");
    sqlite3_bind_int64(q, 1, sr);
    int r = sqlite3_step(q), rc = 0;
    if (r == SQLITE_ROW) {
        if (sqlite3_prepare_v2(m->dst, "INSERT OR IGNORE INTO run_prune(run_id, pruned_at, samples, bytes)"
                                       " VALUES(?,?,?,?)", -1, &ins, NULL) != SQLITE_OK)
            rc = m_fail(m, m->dst, "insert run_prune");
        else {
            sqlite3_bind_int64(ins, 1, dr);
            for (int i = 0; i < 3; i++) sqlite3_bind_value(ins, i + 2, sqlite3_column_value(q, i));
            if (sqlite3_step(ins) != SQLITE_DONE) rc = m_fail(m, m->dst, "insert run_prune");
        }
    } else if (r != SQLITE_DONE) {
        rc = m_fail(m, m->src, "read run_prune");
    }
    sqlite3_finalize(q);
    sqlite3_finalize(ins);
    return rc;
}

/* ---- S10 shards ---------------------------------------------------------------
 * A source run that is shard I of N (run --shard, harness/run/shard.h) goes
 * into the logical run of its launch in dst — the run with shard_index NULL
 * and the same shard_count, shard_group, suite and configuration hashes and
 * --limit — created from the first shard merged.  Its cases join that run's
 * cases of the same idx (their samples are disjoint across shards; a sample
 * key present already means overlapping shards, an error), a run_shard row
 * records the shard, a shard merged before is skipped, and the run's start,
 * end and status follow its shards: completed when all N are there and
 * completed, failed when all are there and one is not, else interrupted. */

static int sql1(sqlite3 *db, const char *sql, sqlite3_stmt **s) {
    return sqlite3_prepare_v2(db, sql, -1, s, NULL) == SQLITE_OK ? 0 : -1;
}

/* the interference rows of the shard's cases: a case's verdict from the
 * first shard that ran it, replaced by a later shard's when that one was
 * flagged and the kept one was not; the run's own verdict likewise */
static int merge_shard_noise(merger *m, int64_t sr, int64_t dr) {
    sqlite3_stmt *f = NULL, *d = NULL, *del = NULL;
    if (sql1(m->src, "SELECT case_idx, MAX(value) FROM interference WHERE run_id = ? AND name = 'flagged' GROUP BY case_idx",
             &f) != 0)
        return m_fail(m, m->src, "read interference");
    sqlite3_bind_int64(f, 1, sr);
    int64_t *take = NULL;
    int n_take = 0, cap = 0, rc = 0;
    while (sqlite3_step(f) == SQLITE_ROW) {
        int64_t idx = sqlite3_column_int64(f, 0);
        double flagged = sqlite3_column_double(f, 1);
        if (!d && sql1(m->dst, "SELECT MAX(value) FROM interference WHERE run_id = ? AND case_idx = ? AND name = 'flagged'",
                       &d) != 0) {
            rc = m_fail(m, m->dst, "read interference");
            break;
        }
        sqlite3_reset(d);
        sqlite3_bind_int64(d, 1, dr);
        sqlite3_bind_int64(d, 2, idx);
        bool have = sqlite3_step(d) == SQLITE_ROW && sqlite3_column_type(d, 0) != SQLITE_NULL;
        double kept = have ? sqlite3_column_double(d, 0) : 0;
        if (have && !(flagged > 0 && kept == 0)) continue;
        if (have) {   /* the flagged verdict replaces the quiet one */
            if (!del && sql1(m->dst, "DELETE FROM interference WHERE run_id = ? AND case_idx = ?", &del) != 0) {
                rc = m_fail(m, m->dst, "update interference");
                break;
            }
            sqlite3_reset(del);
            sqlite3_bind_int64(del, 1, dr);
            sqlite3_bind_int64(del, 2, idx);
            if (sqlite3_step(del) != SQLITE_DONE) {
                rc = m_fail(m, m->dst, "update interference");
                break;
            }
        }
        if (n_take == cap) {
            cap = cap ? 2 * cap : 16;
            int64_t *t = realloc(take, sizeof *t * (size_t)cap);
            if (!t) {
                rc = -1;
                snprintf(m->err, sizeof m->err, "out of memory");
                break;
            }
            take = t;
        }
        take[n_take++] = idx;
    }
    sqlite3_finalize(f);
    sqlite3_finalize(d);
    sqlite3_finalize(del);
    copier *nc = &m->c[C_NOISE];
    const int ci_case = sel_col(nc, "case_idx");
    if (rc == 0 && n_take > 0 && ci_case >= 0) {
        sqlite3_reset(nc->sel);
        sqlite3_bind_int64(nc->sel, 1, sr);
        int r5;
        while ((r5 = sqlite3_step(nc->sel)) == SQLITE_ROW) {
            int64_t idx = sqlite3_column_int64(nc->sel, ci_case);
            bool want = false;
            for (int i = 0; i < n_take && !want; i++) want = take[i] == idx;
            if (want && copier_put(nc, m->dst, dr, NULL) != 0) {
                rc = m_fail(m, m->dst, "insert interference");
                break;
            }
        }
        if (rc == 0 && r5 != SQLITE_DONE) rc = m_fail(m, m->src, "read interference");
    }
    free(take);
    return rc;
}

/* the current row of the run copier (source run sr, shard I of N) into its logical run */
static int merge_shard(merger *m, int64_t sr, int64_t mach, db_merge_stats *stats) {
    copier *c = &m->c[C_RUN];
    const int ci_idx = sel_col(c, "shard_index"), ci_cnt = sel_col(c, "shard_count"), ci_grp = sel_col(c, "shard_group"),
              ci_ss = sel_col(c, "suite_sha256"), ci_cs = sel_col(c, "config_sha256"), ci_lim = sel_col(c, "limit_prompts"),
              ci_host = sel_col(c, "hostname"), ci_start = sel_col(c, "started_at"), ci_fin = sel_col(c, "finished_at"),
              ci_status = sel_col(c, "status");
    const int shard = sqlite3_column_int(c->sel, ci_idx), count = sqlite3_column_int(c->sel, ci_cnt);
    sqlite3_stmt *s = NULL;
    int64_t dr = 0;
    if (sql1(m->dst,
             "SELECT id FROM run WHERE shard_index IS NULL AND shard_count = ? AND shard_group IS ? AND suite_sha256 IS ?"
             " AND config_sha256 IS ? AND COALESCE(limit_prompts, 0) = COALESCE(?, 0) ORDER BY id LIMIT 1", &s) != 0)
        return m_fail(m, m->dst, "look up the run of the shards");
    sqlite3_bind_int(s, 1, count);
    sqlite3_bind_value(s, 2, ci_grp >= 0 ? sqlite3_column_value(c->sel, ci_grp) : NULL);
    sqlite3_bind_value(s, 3, ci_ss >= 0 ? sqlite3_column_value(c->sel, ci_ss) : NULL);
    sqlite3_bind_value(s, 4, ci_cs >= 0 ? sqlite3_column_value(c->sel, ci_cs) : NULL);
    sqlite3_bind_value(s, 5, ci_lim >= 0 ? sqlite3_column_value(c->sel, ci_lim) : NULL);
    int r = sqlite3_step(s);
    if (r == SQLITE_ROW) dr = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    s = NULL;
    if (r != SQLITE_ROW && r != SQLITE_DONE) return m_fail(m, m->dst, "look up the run of the shards");
    if (!dr) {   /* the first shard of its launch: the logical run is made from it */
        if (copier_put(c, m->dst, mach, &dr) != 0) return m_fail(m, m->dst, "insert run");
        if (sql1(m->dst, "UPDATE run SET shard_index = NULL, pid = NULL, hostname = NULL, heartbeat_at = NULL WHERE id = ?",
                 &s) != 0)
            return m_fail(m, m->dst, "insert run");
        sqlite3_bind_int64(s, 1, dr);
        r = sqlite3_step(s);
        sqlite3_finalize(s);
        s = NULL;
        if (r != SQLITE_DONE) return m_fail(m, m->dst, "insert run");
        stats->runs_added++;
    }
    /* this shard merged before: nothing more */
    if (sql1(m->dst, "SELECT 1 FROM run_shard WHERE run_id = ? AND shard_index = ?", &s) != 0)
        return m_fail(m, m->dst, "read run_shard");
    sqlite3_bind_int64(s, 1, dr);
    sqlite3_bind_int(s, 2, shard);
    r = sqlite3_step(s);
    sqlite3_finalize(s);
    s = NULL;
    if (r == SQLITE_ROW) {
        stats->runs_present++;
        stats->shards_present++;
        return 0;
    }
    if (r != SQLITE_DONE) return m_fail(m, m->dst, "read run_shard");
    if (sql1(m->dst, "INSERT INTO run_shard(run_id, shard_index, shard_count, machine_id, hostname, started_at,"
                     " finished_at, status) VALUES(?,?,?,?,?,?,?,?)", &s) != 0)
        return m_fail(m, m->dst, "insert run_shard");
    sqlite3_bind_int64(s, 1, dr);
    sqlite3_bind_int(s, 2, shard);
    sqlite3_bind_int(s, 3, count);
    if (mach > 0) sqlite3_bind_int64(s, 4, mach);
    else sqlite3_bind_null(s, 4);
    sqlite3_bind_value(s, 5, ci_host >= 0 ? sqlite3_column_value(c->sel, ci_host) : NULL);
    sqlite3_bind_value(s, 6, sqlite3_column_value(c->sel, ci_start));
    sqlite3_bind_value(s, 7, ci_fin >= 0 ? sqlite3_column_value(c->sel, ci_fin) : NULL);
    sqlite3_bind_value(s, 8, ci_status >= 0 ? sqlite3_column_value(c->sel, ci_status) : NULL);
    r = sqlite3_step(s);
    sqlite3_finalize(s);
    s = NULL;
    if (r != SQLITE_DONE) return m_fail(m, m->dst, "insert run_shard");
    stats->shards_added++;
    /* run counters (the same for every shard of a launch on one kind of machine) */
    copier *rcp = &m->c[C_RUNCNT];
    sqlite3_reset(rcp->sel);
    sqlite3_bind_int64(rcp->sel, 1, sr);
    while ((r = sqlite3_step(rcp->sel)) == SQLITE_ROW)
        if (copier_put(rcp, m->dst, dr, NULL) != 0) return m_fail(m, m->dst, "insert run_counter");
    if (r != SQLITE_DONE) return m_fail(m, m->src, "read run_counter");
    /* cases: joined by idx */
    copier *cc = &m->c[C_CASE];
    const int cc_idx = sel_col(cc, "idx"), cc_status = sel_col(cc, "status"), cc_fin = sel_col(cc, "finished_at");
    if (cc_idx < 0) return snprintf(m->err, sizeof m->err, "case table lacks idx"), -1;
    sqlite3_stmt *find = NULL, *upd = NULL;
    if (sql1(m->dst, "SELECT id FROM \"case\" WHERE run_id = ? AND idx = ? ORDER BY id LIMIT 1", &find) != 0 ||
        sql1(m->dst, "UPDATE \"case\" SET status = CASE WHEN status = 'completed' THEN ? ELSE status END,"
                     " finished_at = MAX(COALESCE(finished_at, 0), COALESCE(?, 0)) WHERE id = ?", &upd) != 0) {
        sqlite3_finalize(find);
        return m_fail(m, m->dst, "prepare cases");
    }
    int rc = 0;
    sqlite3_reset(cc->sel);
    sqlite3_bind_int64(cc->sel, 1, sr);
    while (rc == 0 && (r = sqlite3_step(cc->sel)) == SQLITE_ROW) {
        int64_t sc_id = sqlite3_column_int64(cc->sel, 0), dc_id = 0;
        sqlite3_reset(find);
        sqlite3_bind_int64(find, 1, dr);
        sqlite3_bind_value(find, 2, sqlite3_column_value(cc->sel, cc_idx));
        int fr = sqlite3_step(find);
        if (fr == SQLITE_ROW) {
            dc_id = sqlite3_column_int64(find, 0);
            sqlite3_reset(upd);
            sqlite3_bind_value(upd, 1, cc_status >= 0 ? sqlite3_column_value(cc->sel, cc_status) : NULL);
            sqlite3_bind_value(upd, 2, cc_fin >= 0 ? sqlite3_column_value(cc->sel, cc_fin) : NULL);
            sqlite3_bind_int64(upd, 3, dc_id);
            if (sqlite3_step(upd) != SQLITE_DONE) rc = m_fail(m, m->dst, "update case");
        } else if (fr == SQLITE_DONE) {
            if (copier_put(cc, m->dst, dr, &dc_id) != 0) rc = m_fail(m, m->dst, "insert case");
            else stats->cases_added++;
        } else {
            rc = m_fail(m, m->dst, "look up case");
        }
        if (rc == 0 && copy_samples(m, sc_id, dc_id, stats) != 0) {
            snprintf(m->err, sizeof m->err, "shard %d of %d: a sample of case %lld is there already: the shards "
                     "overlap (databases of different launches or plans?)", shard, count,
                     (long long)sqlite3_column_int64(cc->sel, cc_idx));
            rc = -1;
        }
    }
    if (rc == 0 && r != SQLITE_DONE) rc = m_fail(m, m->src, "read cases");
    sqlite3_finalize(find);
    sqlite3_finalize(upd);
    if (rc != 0) return rc;
    if (merge_shard_noise(m, sr, dr) != 0 || merge_prune(m, sr, dr) != 0) return -1;
    /* the logical run's start, end and status follow its shards */
    if (sql1(m->dst,
             "UPDATE run SET started_at = (SELECT MIN(started_at) FROM run_shard WHERE run_id = ?1),"
             " finished_at = (SELECT MAX(finished_at) FROM run_shard WHERE run_id = ?1),"
             " status = CASE WHEN (SELECT COUNT(*) FROM run_shard WHERE run_id = ?1) < shard_count THEN 'interrupted'"
             " WHEN (SELECT COUNT(*) FROM run_shard WHERE run_id = ?1 AND status = 'completed') = shard_count"
             " THEN 'completed' ELSE 'failed' END WHERE id = ?1", &s) != 0)
        return m_fail(m, m->dst, "update run");
    sqlite3_bind_int64(s, 1, dr);
    r = sqlite3_step(s);
    sqlite3_finalize(s);
    if (r != SQLITE_DONE) return m_fail(m, m->dst, "update run");
    if (m->n_logical < (int)(sizeof m->logical / sizeof m->logical[0])) {
        bool seen = false;
        for (int i = 0; i < m->n_logical; i++) seen = seen || m->logical[i] == dr;
        if (!seen) m->logical[m->n_logical++] = dr;
    }
    return 0;
}

static int merge_runs(merger *m, db_merge_stats *stats) {
    copier *c = &m->c[C_RUN];
    const int ci_mach = sel_col(c, "machine_id"), ci_start = sel_col(c, "started_at"),
              ci_suite = sel_col(c, "suite_name"), ci_cfg = sel_col(c, "config_json"),
              ci_fin = sel_col(c, "finished_at"), ci_status = sel_col(c, "status"),
              ci_shidx = sel_col(c, "shard_index"), ci_shcnt = sel_col(c, "shard_count");
    if (ci_mach < 0 || ci_start < 0 || ci_suite < 0 || ci_cfg < 0)
        return snprintf(m->err, sizeof m->err, "run table lacks identifying columns"), -1;
    int rc;
    while ((rc = sqlite3_step(c->sel)) == SQLITE_ROW) {
        int64_t sr = sqlite3_column_int64(c->sel, 0);
        int64_t mach = sqlite3_column_type(c->sel, ci_mach) == SQLITE_NULL
                           ? -1 : map_machine(m, sqlite3_column_int64(c->sel, ci_mach));
        if (mach == 0) mach = -1;   /* dangling machine id: keep the run, without machine */
        if (sqlite3_exec(m->dst, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
            return m_fail(m, m->dst, "begin");
        /* S10: a shard joins the logical run of its launch */
        if (ci_shidx >= 0 && ci_shcnt >= 0 && sqlite3_column_type(c->sel, ci_shidx) != SQLITE_NULL &&
            sqlite3_column_int(c->sel, ci_shcnt) > 0) {
            if (merge_shard(m, sr, mach, stats) != 0) goto fail;
            if (sqlite3_exec(m->dst, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
                m_fail(m, m->dst, "commit");
                goto fail;
            }
            continue;
        }
        /* the same run: same machine, start time, suite and configuration */
        sqlite3_stmt *f = m->find_run;
        sqlite3_reset(f);
        if (mach > 0) sqlite3_bind_int64(f, 1, mach);
        else sqlite3_bind_null(f, 1);
        sqlite3_bind_value(f, 2, sqlite3_column_value(c->sel, ci_start));
        sqlite3_bind_value(f, 3, sqlite3_column_value(c->sel, ci_suite));
        sqlite3_bind_value(f, 4, sqlite3_column_value(c->sel, ci_cfg));
        int r2 = sqlite3_step(f);
        int64_t dr = 0;
        int exists = r2 == SQLITE_ROW;
        bool unfinished = false;
        if (exists) {
            dr = sqlite3_column_int64(f, 0);
            unfinished = sqlite3_column_type(f, 1) == SQLITE_NULL;
        }
        sqlite3_reset(f);
        if (r2 != SQLITE_ROW && r2 != SQLITE_DONE) {
            m_fail(m, m->dst, "look up run");
            goto fail;
        }
        if (!exists) {
            if (copier_put(c, m->dst, mach, &dr) != 0) {
                m_fail(m, m->dst, "insert run");
                goto fail;
            }
            stats->runs_added++;
        } else {
            stats->runs_present++;
            /* a run merged while it was still running: take its end */
            if (unfinished && ci_fin >= 0 && ci_status >= 0 &&
                sqlite3_column_type(c->sel, ci_fin) != SQLITE_NULL) {
                sqlite3_reset(m->fix_run);
                sqlite3_bind_value(m->fix_run, 1, sqlite3_column_value(c->sel, ci_fin));
                sqlite3_bind_value(m->fix_run, 2, sqlite3_column_value(c->sel, ci_status));
                sqlite3_bind_int64(m->fix_run, 3, dr);
                int r3 = sqlite3_step(m->fix_run);
                sqlite3_reset(m->fix_run);
                if (r3 != SQLITE_DONE) {
                    m_fail(m, m->dst, "update run");
                    goto fail;
                }
            }
        }
        copier *rc_ = &m->c[C_RUNCNT];   /* INSERT OR IGNORE: present counters stay */
        sqlite3_reset(rc_->sel);
        sqlite3_bind_int64(rc_->sel, 1, sr);
        int r4;
        while ((r4 = sqlite3_step(rc_->sel)) == SQLITE_ROW)
            if (copier_put(rc_, m->dst, dr, NULL) != 0) {
                m_fail(m, m->dst, "insert run_counter");
                goto fail;
            }
        if (r4 != SQLITE_DONE) {
            m_fail(m, m->src, "read run_counter");
            goto fail;
        }
        m->n_added = 0;
        if (copy_cases(m, sr, dr, exists, stats) != 0) goto fail;
        if (merge_noise(m, sr, dr, exists) != 0 || merge_prune(m, sr, dr) != 0) goto fail;
        /* the identity verdicts (they name case ids, which the copy renumbered)
         * computed again over the merged run's outputs, where the source or
         * the run already in dst had them */
        char ierr[400];
        int had = exists && m->n_added == 0 ? 0 : has_identity(m->src, sr);   /* nothing new: as it was */
        if (had == 0 && exists && m->n_added > 0) had = has_identity(m->dst, dr);
        if (had < 0) {
            m_fail(m, m->src, "read identity");
            goto fail;
        }
        if (had && db_identity_check_run(m->dst, dr, NULL, NULL, ierr, sizeof ierr) != 0) {
            snprintf(m->err, sizeof m->err, "identity of run %lld: %s", (long long)dr, ierr);
            goto fail;
        }
        if (sqlite3_exec(m->dst, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
            m_fail(m, m->dst, "commit");
            goto fail;
        }
        continue;
    fail:
        sqlite3_exec(m->dst, "ROLLBACK", NULL, NULL, NULL);
        return -1;
    }
    return rc == SQLITE_DONE ? 0 : m_fail(m, m->src, "read runs");
}

int db_merge(db_store *dst, db_store *src, db_merge_stats *stats, char *err, size_t errlen) {
    merger m;
    memset(&m, 0, sizeof m);
    m.src = db_store_handle(src);
    m.dst = db_store_handle(dst);
    db_merge_stats local = { 0 };
    if (!stats) stats = &local;
    int rc = -1;
    if (copier_init(&m.c[C_MACHINE], m.src, m.dst, "machine", NULL, "ORDER BY id", 0, err, errlen) != 0 ||
        copier_init(&m.c[C_RUN], m.src, m.dst, "run", "machine_id", "ORDER BY id", 0, err, errlen) != 0 ||
        copier_init(&m.c[C_RUNCNT], m.src, m.dst, "run_counter", "run_id", "WHERE run_id = ? ORDER BY rowid", 1,
                    err, errlen) != 0 ||
        copier_init(&m.c[C_CASE], m.src, m.dst, "case", "run_id", "WHERE run_id = ? ORDER BY idx, id", 0, err,
                    errlen) != 0 ||
        copier_init(&m.c[C_SAMPLE], m.src, m.dst, "sample", "case_id", "WHERE case_id = ? ORDER BY id", 0, err,
                    errlen) != 0 ||
        copier_init(&m.c[C_SMPCNT], m.src, m.dst, "sample_counter", "sample_id",
                    "WHERE sample_id = ? ORDER BY rowid", 0, err, errlen) != 0 ||
        copier_init(&m.c[C_SMPMET], m.src, m.dst, "sample_metric", "sample_id",
                    "WHERE sample_id = ? ORDER BY rowid", 0, err, errlen) != 0 ||
        copier_init(&m.c[C_EVENT], m.src, m.dst, "step_event", "sample_id", "WHERE sample_id = ? ORDER BY seq", 0,
                    err, errlen) != 0 ||
        /* version 6: a sample's events as one blob (a read-only source of
         * an older version has an empty TEMP table of it) */
        copier_init(&m.c[C_EVBLOB], m.src, m.dst, "sample_events", "sample_id", "WHERE sample_id = ?", 0, err,
                    errlen) != 0 ||
        copier_init(&m.c[C_NOISE], m.src, m.dst, "interference", "run_id", "WHERE run_id = ? ORDER BY rowid", 0,
                    err, errlen) != 0)
        goto out;
    if (sqlite3_prepare_v2(m.dst, "SELECT id FROM machine WHERE fingerprint IS ?", -1, &m.find_machine, NULL) !=
            SQLITE_OK ||
        sqlite3_prepare_v2(m.dst,
                           "SELECT id, finished_at FROM run WHERE machine_id IS ? AND started_at IS ?"
                           " AND suite_name IS ? AND config_json IS ? ORDER BY id LIMIT 1",
                           -1, &m.find_run, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(m.dst,
                           "SELECT 1 FROM \"case\" WHERE run_id = ? AND idx IS ? AND label IS ? AND dataset IS ?"
                           " AND model_sha256 IS ? AND started_at IS ? LIMIT 1",
                           -1, &m.find_case, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(m.dst, "UPDATE run SET finished_at = ?, status = ? WHERE id = ?", -1, &m.fix_run,
                           NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(m.dst, "INSERT INTO sample_counter(sample_id, name, value) VALUES(?,?,?)", -1,
                           &m.put_counter, NULL) != SQLITE_OK) {
        db_errf(err, errlen, "prepare: %s", sqlite3_errmsg(m.dst));
        goto out;
    }
    if (merge_machines(&m, stats) != 0 || merge_runs(&m, stats) != 0) {
        db_errf(err, errlen, "%s", m.err);
        goto out;
    }
    if (merge_machine_rows(&m, "machine_probe", err, errlen) != 0 ||
        merge_machine_rows(&m, "machine_device", err, errlen) != 0)
        goto out;
    rc = 0;
out:
    for (int i = 0; i < C_N; i++) copier_free(&m.c[i]);
    sqlite3_finalize(m.find_machine);
    sqlite3_finalize(m.find_run);
    sqlite3_finalize(m.find_case);
    sqlite3_finalize(m.fix_run);
    sqlite3_finalize(m.put_counter);
    free(m.mach_src);
    free(m.mach_dst);
    free(m.added_idx);
    return rc;
}

int db_merge_shard_status(db_store *st, char **text, int *n_missing, int64_t **runs, int *n_runs, char *err,
                          size_t errlen) {
    sqlite3 *db = db_store_handle(st);
    *text = NULL;
    *n_missing = 0;
    if (runs) *runs = NULL;
    if (n_runs) *n_runs = 0;
    db_str out;
    db_str_init(&out);
    if (!db_sql_has_table(db, "run_shard")) {
        *text = db_strdup("");
        return *text ? 0 : db_errf(err, errlen, "out of memory");
    }
    sqlite3_stmt *r = NULL, *s = NULL;
    if (sql1(db, "SELECT id, suite_name, shard_count FROM run WHERE shard_index IS NULL AND shard_count > 0 ORDER BY id",
             &r) != 0 ||
        sql1(db, "SELECT shard_index FROM run_shard WHERE run_id = ? ORDER BY shard_index", &s) != 0) {
        sqlite3_finalize(r);
        return db_sql_fail(db, "read shards", err, errlen);
    }
    int64_t *ids = NULL;
    int n = 0, cap = 0, rc = 0;
    while (rc == 0 && sqlite3_step(r) == SQLITE_ROW) {
        int64_t id = sqlite3_column_int64(r, 0);
        const char *suite = (const char *)sqlite3_column_text(r, 1);
        int count = sqlite3_column_int(r, 2);
        if (n == cap) {
            cap = cap ? 2 * cap : 8;
            int64_t *t = realloc(ids, sizeof *t * (size_t)cap);
            if (!t) {
                rc = db_errf(err, errlen, "out of memory");
                break;
            }
            ids = t;
        }
        ids[n++] = id;
        char *have = calloc((size_t)count + 1, 1);
        if (!have) {
            rc = db_errf(err, errlen, "out of memory");
            break;
        }
        sqlite3_reset(s);
        sqlite3_bind_int64(s, 1, id);
        while (sqlite3_step(s) == SQLITE_ROW) {
            int k = sqlite3_column_int(s, 0);
            if (k >= 0 && k < count) have[k] = 1;
        }
        db_str_printf(&out, "run %lld (%s): shards ", (long long)id, suite ? suite : "?");
        int n_have = 0, n_miss = 0;
        for (int k = 0; k < count; k++)
            if (have[k]) db_str_printf(&out, "%s%d", n_have++ ? "," : "", k);
        if (!n_have) db_str_append(&out, "none");
        db_str_printf(&out, " of %d", count);
        for (int k = 0; k < count; k++)
            if (!have[k]) db_str_printf(&out, "%s%d", n_miss++ ? "," : "; missing: ", k);
        db_str_append(&out, "\n");
        if (n_miss) (*n_missing)++;
        free(have);
    }
    sqlite3_finalize(r);
    sqlite3_finalize(s);
    if (rc != 0) {
        free(ids);
        db_str_free(&out);
        return rc;
    }
    *text = out.s ? db_str_take(&out) : db_strdup("");
    if (runs) *runs = ids;
    else free(ids);
    if (n_runs) *n_runs = n;
    return *text ? 0 : db_errf(err, errlen, "out of memory");
}
