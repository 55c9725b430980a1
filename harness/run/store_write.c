/* store_write.c — the writers of the results database (store.h): machines,
 * runs, probes, whole cases (db_store_case) and the per-sample writers of
 * the run lifecycle (db_store_case_begin, db_store_sample,
 * db_store_case_finish).  Non-finite doubles are stored as NULL.
 */
#include "store_int.h"
#include "events_codec.h"

#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/util/util.h"

/* ---- machine / run ------------------------------------------------------ */

int db_store_machine(db_store *st, const db_machine *m, int64_t *machine_id) {
    if (db_st_check_writable(st) != 0) return -1;
    sqlite3_stmt *s = NULL;
    if (db_st_prepare(st, "SELECT id FROM machine WHERE fingerprint=?", &s) != 0) return -1;
    sqlite3_bind_text(s, 1, m->fingerprint, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        *machine_id = sqlite3_column_int64(s, 0);
        sqlite3_finalize(s);
        return 0;
    }
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE) return db_st_err(st, "look up machine");
    /* OR IGNORE: another process may insert the same machine meanwhile; its id is read back below */
    if (db_st_prepare(st,
                      "INSERT OR IGNORE INTO machine(fingerprint, hostname, cpu_model, arch, os, packages, cores, pus,"
                      " numa_nodes, memory_bytes, l1d_bytes, l2_bytes, l3_bytes, topology_json, first_seen)"
                      " VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", &s) != 0)
        return -1;
    db_st_bind_text(s, 1, m->fingerprint);
    db_st_bind_text(s, 2, m->hostname);
    db_st_bind_text(s, 3, m->cpu_model);
    db_st_bind_text(s, 4, m->arch);
    db_st_bind_text(s, 5, m->os);
    sqlite3_bind_int(s, 6, m->packages);
    sqlite3_bind_int(s, 7, m->cores);
    sqlite3_bind_int(s, 8, m->pus);
    sqlite3_bind_int(s, 9, m->numa_nodes);
    sqlite3_bind_int64(s, 10, (sqlite3_int64)m->memory_bytes);
    sqlite3_bind_int64(s, 11, (sqlite3_int64)m->l1d_bytes);
    sqlite3_bind_int64(s, 12, (sqlite3_int64)m->l2_bytes);
    sqlite3_bind_int64(s, 13, (sqlite3_int64)m->l3_bytes);
    db_st_bind_text(s, 14, m->topology_json);
    sqlite3_bind_int64(s, 15, db_unix_ms());
    rc = sqlite3_step(s);
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE) return db_st_err(st, "insert machine");
    if (db_st_prepare(st, "SELECT id FROM machine WHERE fingerprint=?", &s) != 0) return -1;
    sqlite3_bind_text(s, 1, m->fingerprint, -1, SQLITE_TRANSIENT);
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) *machine_id = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    if (rc != SQLITE_ROW) return db_st_err(st, "look up machine");
    return 0;
}

int db_store_run_begin(db_store *st, const db_run_record *r, int64_t *run_id) {
    if (db_st_check_writable(st) != 0) return -1;
    sqlite3_stmt *s = NULL, *c = NULL;
    if (db_st_exec(st, "BEGIN IMMEDIATE") != 0) return -1;
    if (db_st_prepare(st,
                      "INSERT INTO run(machine_id, suite_name, suite_path, config_json, argv, decobench_rev,"
                      " llama_commit, compiler, build_flags, papi_version, threads, started_at, status)"
                      " VALUES(?,?,?,?,?,?,?,?,?,?,?,?,'running')", &s) != 0)
        goto fail;
    if (r->machine_id > 0) sqlite3_bind_int64(s, 1, r->machine_id);
    else sqlite3_bind_null(s, 1);
    db_st_bind_text(s, 2, r->suite_name);
    db_st_bind_text(s, 3, r->suite_path);
    db_st_bind_text(s, 4, r->config_json);
    db_st_bind_text(s, 5, r->argv);
    db_st_bind_text(s, 6, r->decobench_rev);
    db_st_bind_text(s, 7, r->llama_commit);
    db_st_bind_text(s, 8, r->compiler);
    db_st_bind_text(s, 9, r->build_flags);
    db_st_bind_text(s, 10, r->papi_version);
    sqlite3_bind_int(s, 11, r->threads);
    sqlite3_bind_int64(s, 12, db_unix_ms());
    if (db_st_step_done(st, s, "insert run") != 0) goto fail;
    int64_t id = sqlite3_last_insert_rowid(st->db);
    if (r->n_counters > 0) {
        if (db_st_prepare(st, "INSERT INTO run_counter(run_id, name, available, fallback, reason)"
                        " VALUES(?,?,?,?,?)", &c) != 0)
            goto fail;
        for (int i = 0; i < r->n_counters; i++) {
            const db_counter_status *cs = &r->counters[i];
            sqlite3_bind_int64(c, 1, id);
            db_st_bind_text(c, 2, cs->name);
            sqlite3_bind_int(c, 3, cs->available ? 1 : 0);
            sqlite3_bind_int(c, 4, cs->fallback ? 1 : 0);
            db_st_bind_text(c, 5, cs->reason);
            if (db_st_step_done(st, c, "insert run_counter") != 0) goto fail;
        }
    }
    sqlite3_finalize(s);
    sqlite3_finalize(c);
    s = c = NULL;
    /* S7: who runs it and its resume keys, in the same transaction */
    if (db_store_run_claim(st, id, st->next_lc_set ? &st->next_lc : NULL) != 0) goto fail;
    if (db_st_exec(st, "COMMIT") != 0) goto fail;
    *run_id = id;
    return 0;
fail:
    sqlite3_finalize(s);
    sqlite3_finalize(c);
    sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
    return -1;
}

int db_store_run_finish(db_store *st, int64_t run_id, const char *status) {
    if (db_st_check_writable(st) != 0) return -1;
    sqlite3_stmt *s = NULL;
    if (db_st_prepare(st, "UPDATE run SET finished_at=?, status=? WHERE id=?", &s) != 0) return -1;
    sqlite3_bind_int64(s, 1, db_unix_ms());
    db_st_bind_text(s, 2, status ? status : "completed");
    sqlite3_bind_int64(s, 3, run_id);
    int rc = sqlite3_step(s);
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE) return db_st_err(st, "finish run");
    if (sqlite3_changes(st->db) != 1) {
        snprintf(st->err, sizeof st->err, "%s: finish run: no run with id %lld", st->path,
                 (long long)run_id);
        return -1;
    }
    return 0;
}

int db_store_probe(db_store *st, int64_t machine_id, const db_probe_record *p) {
    if (db_st_check_writable(st) != 0) return -1;
    sqlite3_stmt *s = NULL;
    if (db_st_prepare(st,
                      "INSERT OR REPLACE INTO machine_probe(machine_id, measured_at, bandwidth_gbs, gflops,"
                      " gflops_per_thread, threads, method) VALUES(?,?,?,?,?,?,?)", &s) != 0)
        return -1;
    sqlite3_bind_int64(s, 1, machine_id);
    sqlite3_bind_int64(s, 2, p->measured_at_ms > 0 ? p->measured_at_ms : db_unix_ms());
    db_st_bind_real(s, 3, p->bandwidth_gbs);
    db_st_bind_real(s, 4, p->gflops);
    db_st_bind_real(s, 5, p->gflops_per_thread);
    sqlite3_bind_int(s, 6, p->threads);
    db_st_bind_text(s, 7, p->method);
    int rc = sqlite3_step(s);
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE) return db_st_err(st, "insert machine_probe");
    return 0;
}

int db_store_devices(db_store *st, int64_t machine_id, int64_t measured_at_ms, const db_device_record *d, int n) {
    if (db_st_check_writable(st) != 0) return -1;
    if (measured_at_ms <= 0) measured_at_ms = db_unix_ms();
    sqlite3_stmt *s = NULL;
    if (db_st_exec(st, "BEGIN IMMEDIATE") != 0) return -1;
    if (db_st_prepare(st,
                      "INSERT OR REPLACE INTO machine_device(machine_id, measured_at, idx, name, description, type,"
                      " backend, memory_bytes, known, bandwidth_gbs, peak_fp32_tflops, peak_fp16_tflops, source)"
                      " VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?)", &s) != 0) {
        sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
        return -1;
    }
    for (int i = 0; i < n; i++) {
        sqlite3_reset(s);
        sqlite3_bind_int64(s, 1, machine_id);
        sqlite3_bind_int64(s, 2, measured_at_ms);
        sqlite3_bind_int(s, 3, d[i].idx);
        db_st_bind_text(s, 4, d[i].name);
        db_st_bind_text(s, 5, d[i].description);
        db_st_bind_text(s, 6, d[i].type);
        db_st_bind_text(s, 7, d[i].backend);
        if (d[i].memory_bytes > 0) sqlite3_bind_int64(s, 8, (sqlite3_int64)d[i].memory_bytes);
        else sqlite3_bind_null(s, 8);
        db_st_bind_text(s, 9, d[i].known);
        db_st_bind_real(s, 10, d[i].bandwidth_gbs);
        db_st_bind_real(s, 11, d[i].peak_fp32_tflops);
        db_st_bind_real(s, 12, d[i].peak_fp16_tflops);
        db_st_bind_text(s, 13, d[i].source);
        if (sqlite3_step(s) != SQLITE_DONE) {
            db_st_err(st, "insert machine_device");
            sqlite3_finalize(s);
            sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
            return -1;
        }
    }
    sqlite3_finalize(s);
    return db_st_exec(st, "COMMIT");
}

/* ---- case + samples ----------------------------------------------------- */

/* shortest "%.Ng" that reads back as the same double */
static int append_double(db_str *b, double v) {
    char buf[40];
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, v);
        if (strtod(buf, NULL) == v) break;
    }
    return db_str_append(b, buf);
}

static char *tokens_json(const int32_t *t, int n) {
    db_str b;
    db_str_init(&b);
    int rc = db_str_append(&b, "[");
    for (int i = 0; i < n && rc == 0; i++) rc = db_str_printf(&b, i ? ",%d" : "%d", (int)t[i]);
    if (rc == 0) rc = db_str_append(&b, "]");
    if (rc != 0) {
        db_str_free(&b);
        return NULL;
    }
    return db_str_take(&b);
}

static char *accept_at_json(const db_sample_metrics *m) {
    int last = -1;
    for (int i = 0; i < DB_MAX_DRAFT_POS; i++)
        if (m->drafted_at[i] > 0) last = i;
    db_str b;
    db_str_init(&b);
    int rc = db_str_append(&b, "[");
    for (int i = 0; i <= last && rc == 0; i++) {
        if (i) rc = db_str_append(&b, ",");
        if (rc) break;
        if (m->drafted_at[i] > 0) rc = append_double(&b, (double)m->accepted_at[i] / m->drafted_at[i]);
        else rc = db_str_append(&b, "null");
    }
    if (rc == 0) rc = db_str_append(&b, "]");
    if (rc != 0) {
        db_str_free(&b);
        return NULL;
    }
    return db_str_take(&b);
}

/* The statement db_st_insert_sample's se parameter is: one step_event row
 * per event (`run --events rows`) or one sample_events row per sample. */
static const char *event_insert_sql(const db_store *st) {
    return st->events_rows ? "INSERT INTO step_event(sample_id, seq, kind, role, step, n_tokens, n_accepted,"
                             " accepted_mask, t_start_us, t_end_us) VALUES(?,?,?,?,?,?,?,?,?,?)"
                           : "INSERT INTO sample_events(sample_id, n, data) VALUES(?,?,?)";
}

void db_store_set_events_rows(db_store *st, bool rows) {
    if (st) st->events_rows = rows;
}

int db_st_insert_sample(db_store *st, sqlite3_stmt *s, sqlite3_stmt *sc, sqlite3_stmt *sm, sqlite3_stmt *se,
                         int64_t case_id, const db_sample_record *r) {
    const db_sample_metrics *m = &r->m;
    char *toks = tokens_json(r->output_tokens, r->output_tokens ? r->n_output_tokens : 0);
    char *acc = accept_at_json(m);
    if (!toks || !acc) {
        free(toks);
        free(acc);
        snprintf(st->err, sizeof st->err, "%s: out of memory", st->path);
        return -1;
    }
    int k = 1;
    sqlite3_bind_int64(s, k++, case_id);
    sqlite3_bind_int(s, k++, r->prompt_idx);
    db_st_bind_text(s, k++, r->prompt_id);
    db_st_bind_text(s, k++, r->category);
    sqlite3_bind_int(s, k++, r->rep);
    sqlite3_bind_int(s, k++, r->turn);
    sqlite3_bind_int64(s, k++, (sqlite3_int64)r->seed);
    sqlite3_bind_int(s, k++, m->n_prompt_tokens);
    sqlite3_bind_int(s, k++, m->new_tokens);
    db_st_bind_real(s, k++, m->ttft_ms);
    db_st_bind_real(s, k++, m->latency_ms);
    db_st_bind_real(s, k++, m->tokens_per_s);
    db_st_bind_real(s, k++, m->tpot_ms);
    sqlite3_bind_int(s, k++, m->target_forwards);
    sqlite3_bind_int(s, k++, m->draft_forwards);
    sqlite3_bind_int(s, k++, m->target_tokens_evaluated);
    sqlite3_bind_int(s, k++, m->n_commits);
    db_st_bind_real(s, k++, m->mat);
    sqlite3_bind_int(s, k++, m->drafted);
    sqlite3_bind_int(s, k++, m->accepted);
    db_st_bind_real(s, k++, m->acceptance_rate);
    sqlite3_bind_text(s, k++, acc, -1, SQLITE_TRANSIENT);
    db_st_bind_real(s, k++, m->draft_time_ms);
    db_st_bind_real(s, k++, m->forward_time_ms);
    db_st_bind_real(s, k++, m->sample_time_ms);
    sqlite3_bind_int64(s, k++, r->peak_rss_kib);
    db_st_bind_text(s, k++, r->stop_reason);
    sqlite3_bind_text(s, k++, toks, -1, SQLITE_TRANSIENT);
    db_st_bind_text(s, k++, r->output_text);
    free(toks);
    free(acc);
    if (db_st_step_done(st, s, "insert sample") != 0) return -1;
    int64_t sid = sqlite3_last_insert_rowid(st->db);
    for (int i = 0; i < r->n_counters; i++) {
        sqlite3_bind_int64(sc, 1, sid);
        db_st_bind_text(sc, 2, r->counter_names[i]);
        sqlite3_bind_int64(sc, 3, r->counter_values[i]);
        if (db_st_step_done(st, sc, "insert sample_counter") != 0) return -1;
    }
    for (int i = 0; i < r->n_metrics; i++) {
        sqlite3_bind_int64(sm, 1, sid);
        db_st_bind_text(sm, 2, r->metric_names[i]);
        db_st_bind_real(sm, 3, r->metric_values[i]);
        if (db_st_step_done(st, sm, "insert sample_metric") != 0) return -1;
    }
    if (!st->events_rows) {
        /* schema version 6: the sample's events as one compact blob */
        if (r->n_events <= 0) return 0;
        db_event_row *rows = malloc((size_t)r->n_events * sizeof *rows);
        if (!rows) {
            snprintf(st->err, sizeof st->err, "%s: out of memory", st->path);
            return -1;
        }
        for (int i = 0; i < r->n_events; i++) rows[i] = db_event_to_row(&r->events[i]);
        uint8_t *blob = NULL;
        size_t len = 0;
        char e[256];
        int rc = db_events_encode(rows, r->n_events, &blob, &len, e, sizeof e);
        free(rows);
        if (rc != 0) {
            snprintf(st->err, sizeof st->err, "%s: %s", st->path, e);
            return -1;
        }
        sqlite3_bind_int64(se, 1, sid);
        sqlite3_bind_int(se, 2, r->n_events);
        sqlite3_bind_blob(se, 3, blob, (int)len, free);
        return db_st_step_done(st, se, "insert sample_events");
    }
    for (int i = 0; i < r->n_events; i++) {
        const db_event *e = &r->events[i];
        sqlite3_bind_int64(se, 1, sid);
        sqlite3_bind_int(se, 2, i);
        sqlite3_bind_int(se, 3, e->kind);
        sqlite3_bind_int(se, 4, e->role);
        sqlite3_bind_int(se, 5, e->step);
        sqlite3_bind_int(se, 6, e->n_tokens);
        sqlite3_bind_int(se, 7, e->n_accepted);
        sqlite3_bind_int64(se, 8, (sqlite3_int64)e->accepted_mask);
        sqlite3_bind_int64(se, 9, e->t_start_ns / 1000);
        sqlite3_bind_int64(se, 10, e->t_end_ns / 1000);
        if (db_st_step_done(st, se, "insert step_event") != 0) return -1;
    }
    return 0;
}

/* Binds run_id and a case record's fields up to n_prompts (the columns
 * both case writers share, in their order); returns the next index. */
int db_st_bind_case_fields(sqlite3_stmt *s, int64_t run_id, const db_case_record *c) {
    int k = 1;
    sqlite3_bind_int64(s, k++, run_id);
    sqlite3_bind_int(s, k++, c->idx);
    db_st_bind_text(s, k++, c->engine);
    db_st_bind_text(s, k++, c->label);
    db_st_bind_text(s, k++, c->params_json);
    db_st_bind_text(s, k++, c->model_name);
    db_st_bind_text(s, k++, c->model_path);
    db_st_bind_text(s, k++, c->model_sha256);
    db_st_bind_text(s, k++, c->model_desc);
    sqlite3_bind_int64(s, k++, (sqlite3_int64)c->model_params);
    sqlite3_bind_int64(s, k++, (sqlite3_int64)c->model_bytes);
    db_st_bind_text(s, k++, c->draft_name);
    db_st_bind_text(s, k++, c->draft_path);
    db_st_bind_text(s, k++, c->draft_sha256);
    db_st_bind_text(s, k++, c->dataset);
    sqlite3_bind_int(s, k++, c->n_prompts);
    return k;
}

int db_store_case(db_store *st, int64_t run_id, const db_case_record *c,
                  const db_sample_record *samples, int n_samples, int64_t *case_id) {
    if (db_st_check_writable(st) != 0) return -1;
    sqlite3_stmt *s = NULL, *ss = NULL, *sc = NULL, *sm = NULL, *se = NULL;
    if (db_st_exec(st, "BEGIN IMMEDIATE") != 0) return -1;
    if (db_st_prepare(st,
                      "INSERT INTO \"case\"(run_id, idx, engine, label, params_json, model_name, model_path,"
                      " model_sha256, model_desc, model_params, model_bytes, draft_name, draft_path,"
                      " draft_sha256, dataset, n_prompts, status, started_at, finished_at)"
                      " VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", &s) != 0 ||
        db_st_prepare(st,
                      "INSERT INTO sample(case_id, prompt_idx, prompt_id, category, rep, turn, seed,"
                      " n_prompt_tokens, new_tokens, ttft_ms, latency_ms, tokens_per_s, tpot_ms,"
                      " target_forwards, draft_forwards, target_tokens_evaluated, n_commits, mat, drafted,"
                      " accepted, acceptance_rate, accept_at_json, draft_time_ms, forward_time_ms,"
                      " sample_time_ms, peak_rss_kib, stop_reason, output_tokens_json, output_text)"
                      " VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", &ss) != 0 ||
        db_st_prepare(st, "INSERT INTO sample_counter(sample_id, name, value) VALUES(?,?,?)", &sc) != 0 ||
        db_st_prepare(st, "INSERT INTO sample_metric(sample_id, name, value) VALUES(?,?,?)", &sm) != 0 ||
        db_st_prepare(st, event_insert_sql(st), &se) != 0)
        goto fail;
    int k = db_st_bind_case_fields(s, run_id, c);
    db_st_bind_text(s, k++, c->status);
    sqlite3_bind_int64(s, k++, c->started_at_ms);
    sqlite3_bind_int64(s, k++, c->finished_at_ms);
    if (db_st_step_done(st, s, "insert case") != 0) goto fail;
    int64_t cid = sqlite3_last_insert_rowid(st->db);
    for (int i = 0; i < n_samples; i++)
        if (db_st_insert_sample(st, ss, sc, sm, se, cid, &samples[i]) != 0) goto fail;
    sqlite3_finalize(s);
    sqlite3_finalize(ss);
    sqlite3_finalize(sc);
    sqlite3_finalize(sm);
    sqlite3_finalize(se);
    s = ss = sc = sm = se = NULL;
    if (db_st_exec(st, "COMMIT") != 0) goto fail;
    if (case_id) *case_id = cid;
    return 0;
fail:
    sqlite3_finalize(s);
    sqlite3_finalize(ss);
    sqlite3_finalize(sc);
    sqlite3_finalize(sm);
    sqlite3_finalize(se);
    sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
    return -1;
}

int db_store_case_begin(db_store *st, int64_t run_id, const db_case_record *c, int64_t *case_id) {
    if (db_st_check_writable(st) != 0) return -1;
    sqlite3_stmt *s = NULL;
    int64_t cid = 0;
    if (db_st_exec(st, "BEGIN IMMEDIATE") != 0) return -1;
    if (db_st_prepare(st, "SELECT id FROM \"case\" WHERE run_id=? AND idx=? ORDER BY id LIMIT 1", &s) != 0) goto fail;
    sqlite3_bind_int64(s, 1, run_id);
    sqlite3_bind_int(s, 2, c->idx);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) cid = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    s = NULL;
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        db_st_err(st, "look up case");
        goto fail;
    }
    if (cid > 0) {
        if (db_st_prepare(st, "UPDATE \"case\" SET status='running', finished_at=NULL WHERE id=?", &s) != 0) goto fail;
        sqlite3_bind_int64(s, 1, cid);
        if (db_st_step_done(st, s, "resume case") != 0) goto fail;
    } else {
        if (db_st_prepare(st,
                          "INSERT INTO \"case\"(run_id, idx, engine, label, params_json, model_name, model_path,"
                          " model_sha256, model_desc, model_params, model_bytes, draft_name, draft_path,"
                          " draft_sha256, dataset, n_prompts, status, started_at)"
                          " VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,'running',?)", &s) != 0)
            goto fail;
        int k = db_st_bind_case_fields(s, run_id, c);
        sqlite3_bind_int64(s, k++, c->started_at_ms > 0 ? c->started_at_ms : db_unix_ms());
        if (db_st_step_done(st, s, "insert case") != 0) goto fail;
        cid = sqlite3_last_insert_rowid(st->db);
    }
    sqlite3_finalize(s);
    s = NULL;
    if (db_st_heartbeat_now(st, "UPDATE run SET heartbeat_at=? WHERE id=?", run_id) != 0) goto fail;
    if (db_st_exec(st, "COMMIT") != 0) goto fail;
    *case_id = cid;
    return 0;
fail:
    sqlite3_finalize(s);
    sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
    return -1;
}

int db_store_sample(db_store *st, int64_t case_id, const db_sample_record *r) {
    if (db_st_check_writable(st) != 0) return -1;
    sqlite3_stmt *ss = NULL, *sc = NULL, *sm = NULL, *se = NULL;
    if (db_st_exec(st, "BEGIN IMMEDIATE") != 0) return -1;
    if (db_st_prepare(st,
                      "INSERT INTO sample(case_id, prompt_idx, prompt_id, category, rep, turn, seed,"
                      " n_prompt_tokens, new_tokens, ttft_ms, latency_ms, tokens_per_s, tpot_ms,"
                      " target_forwards, draft_forwards, target_tokens_evaluated, n_commits, mat, drafted,"
                      " accepted, acceptance_rate, accept_at_json, draft_time_ms, forward_time_ms,"
                      " sample_time_ms, peak_rss_kib, stop_reason, output_tokens_json, output_text)"
                      " VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", &ss) != 0 ||
        db_st_prepare(st, "INSERT INTO sample_counter(sample_id, name, value) VALUES(?,?,?)", &sc) != 0 ||
        db_st_prepare(st, "INSERT INTO sample_metric(sample_id, name, value) VALUES(?,?,?)", &sm) != 0 ||
        db_st_prepare(st, event_insert_sql(st), &se) != 0 ||
        db_st_insert_sample(st, ss, sc, sm, se, case_id, r) != 0 ||
        db_st_heartbeat_now(st, "UPDATE run SET heartbeat_at=? WHERE id=(SELECT run_id FROM \"case\" WHERE id=?)",
                            case_id) != 0)
        goto fail;
    sqlite3_finalize(ss);
    sqlite3_finalize(sc);
    sqlite3_finalize(sm);
    sqlite3_finalize(se);
    ss = sc = sm = se = NULL;
    if (db_st_exec(st, "COMMIT") != 0) goto fail;
    return 0;
fail:
    sqlite3_finalize(ss);
    sqlite3_finalize(sc);
    sqlite3_finalize(sm);
    sqlite3_finalize(se);
    sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
    return -1;
}

int db_store_case_finish(db_store *st, int64_t case_id, const char *status) {
    if (db_st_check_writable(st) != 0) return -1;
    sqlite3_stmt *s = NULL;
    if (db_st_prepare(st, "UPDATE \"case\" SET status=?, finished_at=? WHERE id=?", &s) != 0) return -1;
    db_st_bind_text(s, 1, status ? status : "completed");
    sqlite3_bind_int64(s, 2, db_unix_ms());
    sqlite3_bind_int64(s, 3, case_id);
    int rc = sqlite3_step(s);
    sqlite3_finalize(s);
    return rc == SQLITE_DONE ? 0 : db_st_err(st, "finish case");
}
