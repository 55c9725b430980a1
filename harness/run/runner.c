/* runner.c — executes a suite (see runner.h).
 *
 * Order of work: machine probe, thread pinning and counter setup happen
 * before any model is loaded (so decode threads inherit pinning and
 * counters); the run row is written; then each case's row is created
 * (status running), its warmup generations run (unrecorded), and each of
 * its repetitions × prompts measured samples is committed in its own
 * transaction as soon as it is finished; the case's status is set at its
 * end.  A SIGINT, SIGTERM or SIGHUP lets the current sample stop early:
 * that sample is discarded, every stored one stays, and the case and run
 * are marked interrupted.  With --resume (o->resume_run_id) the samples a
 * case already holds are skipped, so only the missing ones run.
 */
#include "runner.h"
#include "identity.h"

#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "counters.h"
#include "harness/constraint/grammar.h"
#include "interference.h"
#include "metrics.h"
#include "harness/model/model.h"
#include "preflight.h"
#include "harness/constraint/quality.h"
#include "run_inputs.h"
#include "scorer.h"
#include "serve.h"
#include "shard.h"
#include "store.h"
#include "harness/util/sha256.h"
#include "harness/util/textmetrics.h"
#include "topology.h"
#include "harness/util/util.h"
#include "harness/util/version.h"

typedef struct loaded_model {
    db_model *m;
    char sha256[65];
    db_model_info info;
    int n_seq;            /* sequence ids the engines using it need */
    int same_vocab_as_scorer; /* -1 not checked yet, 0 no, 1 same tokens and pieces */
    /* derived drafts (self-spec) only: */
    char *path;
    char *name;
} loaded_model;

typedef struct runner {
    const db_suite *s;
    const db_run_options *o;
    loaded_model *models;     /* suite models, then derived drafts */
    int n_loaded;
    int *case_draft;          /* per case: index into models of its draft, -1 */
    db_counters *counters;
    db_store *st;
    int64_t run_id;
    int threads;
    /* progress */
    int total_samples, done_samples;
    int stored_here;          /* samples this process stored (test hook) */
    int64_t t_start_ns;
    int n_noisy;              /* S7 interference: cases measured under interference */
    db_serve_pool *pool;      /* the servers of serving cases (harness/run/serve.h) */
    db_shard_plan *plan;      /* --shard: which units this process runs (harness/run/shard.h); NULL: all */
    int cur_case, cur_n_cases;   /* progress of a serving case */
    const char *cur_label;
} runner;

static int load_model(runner *r, int idx, char *err, size_t errlen) {
    loaded_model *lm = &r->models[idx];
    if (lm->m) return 0;
    const db_suite_model *sm = &r->s->models[idx];
    db_model_params p = db_model_default_params();
    p.backend = sm->backend ? sm->backend : "llama";
    p.path = sm->path;
    p.exact_spec = sm->exact_spec;
    p.n_threads = r->threads;
    p.n_threads_batch = r->threads;
    p.n_gpu_layers = sm->n_gpu_layers;
    p.rpc_servers = sm->rpc;
    p.n_ctx = sm->n_ctx > 0 ? sm->n_ctx : 4096;
    p.n_batch = p.n_ctx;
    p.n_seq_max = lm->n_seq > 0 ? lm->n_seq : 1;
    char merr[512];
    if (db_model_open(&p, &lm->m, merr, sizeof merr) != 0)
        return db_errf(err, errlen, "model '%s': %s", sm->name, merr);
    db_model_get_info(lm->m, &lm->info);
    lm->sha256[0] = 0;
    if (strcmp(p.backend, "exact") != 0 && sm->path) {
        if (sm->sha256) snprintf(lm->sha256, sizeof lm->sha256, "%s", sm->sha256);
        else if (db_sha256_file(sm->path, lm->sha256, merr, sizeof merr) != 0)
            return db_errf(err, errlen, "model '%s': %s", sm->name, merr);
    }
    return 0;
}

/* Build (or reuse) the draft an engine derives from its target, e.g.
 * self-spec's layer-truncated model, and load it once per distinct file. */
static int derive_draft(runner *r, const db_case *c, char *err, size_t errlen) {
    const db_suite_model *tsm = &r->s->models[c->target_model];
    if (!tsm->path || (tsm->backend && strcmp(tsm->backend, "llama") != 0))
        return db_errf(err, errlen, "engine '%s' (%s) derives its draft from a GGUF target; model '%s' is not one",
                       c->se->def->name, c->label, tsm->name);
    char path[4096], e2[512];
    if (c->se->def->derive_draft(&c->params, tsm->path, path, sizeof path, e2, sizeof e2) != 0)
        return db_errf(err, errlen, "%s: deriving the draft of '%s': %s", c->label, tsm->name, e2);
    for (int i = r->s->n_models; i < r->n_loaded; i++)
        if (r->models[i].path && strcmp(r->models[i].path, path) == 0) {
            r->case_draft[c->index] = i;
            return 0;
        }
    loaded_model *lm = &r->models[r->n_loaded];
    memset(lm, 0, sizeof *lm);
    lm->n_seq = c->se->def->n_seq_max ? c->se->def->n_seq_max(&c->params) : 1;
    lm->path = db_strdup(path);
    size_t nl = strlen(tsm->name) + 32;
    lm->name = malloc(nl);
    if (!lm->path || !lm->name) return db_errf(err, errlen, "out of memory");
    snprintf(lm->name, nl, "%s:derived", tsm->name);
    db_model_params p = db_model_default_params();
    p.path = path;
    p.n_threads = p.n_threads_batch = r->threads;
    p.n_gpu_layers = tsm->n_gpu_layers;
    p.n_ctx = tsm->n_ctx > 0 ? tsm->n_ctx : 4096;
    p.n_batch = p.n_ctx;
    p.n_seq_max = lm->n_seq;
    if (db_model_open(&p, &lm->m, e2, sizeof e2) != 0) {
        free(lm->path); free(lm->name);
        memset(lm, 0, sizeof *lm);
        return db_errf(err, errlen, "derived draft of '%s': %s", tsm->name, e2);
    }
    db_model_get_info(lm->m, &lm->info);
    if (db_sha256_file(path, lm->sha256, e2, sizeof e2) != 0) lm->sha256[0] = 0;
    r->case_draft[c->index] = r->n_loaded++;
    return 0;
}

static void progress(runner *r, int case_idx, int n_cases, const char *label, bool final) {
    if (!r->o->progress) return;
    double elapsed = (double)(db_now_ns() - r->t_start_ns) / 1e9;
    double eta = r->done_samples > 0
                     ? elapsed / r->done_samples * (r->total_samples - r->done_samples) : NAN;
    char eta_s[32] = "--:--";
    if (!isnan(eta)) snprintf(eta_s, sizeof eta_s, "%d:%02d", (int)eta / 60, (int)eta % 60);
    fprintf(stderr, "\r\033[Kcase %d/%d  sample %d/%d  %-28.28s  elapsed %d:%02d  ETA %s%s",
            case_idx + 1, n_cases, r->done_samples, r->total_samples, label,
            (int)elapsed / 60, (int)elapsed % 60, eta_s, final ? "\n" : "");
    fflush(stderr);
}

/* The text generation starts from: the prompt itself, or for chat datasets
 * the conversation so far (user turns 0..turn, the engine's own earlier
 * answers) in the model's chat template with the assistant's turn opened. */
static int turn_text(runner *r, const db_case *c, const db_suite_dataset *ds, const db_prompt *pr, int turn,
                     const char *const *answers, char **out, char *err, size_t errlen) {
    db_model *m = r->models[c->target_model].m;
    bool no_template = false;
    *out = db_turn_text(m, ds, pr, turn, answers, &no_template);
    if (*out) return 0;
    if (!no_template) return db_errf(err, errlen, "out of memory");
    return db_errf(err, errlen, "dataset '%s' has \"chat\": true, but model '%s': %s", ds->name,
                   r->s->models[c->target_model].name, db_model_last_error(m));
}

/* The named per-sample metrics (sample_metric rows): constraint work from
 * the events, the engine's own outcomes, and the output's compliance with
 * the prompt's constraint (harness/constraint/quality.c), and with a reference its
 * ROUGE-2, BLEU and numeric answer match (harness/util/textmetrics.h). */
static int sample_metrics(db_sample_record *rec, const db_gen_output *out, const char *constraint_json,
                          double scorer_nll, const char *reference, char *err, size_t errlen) {
    const db_sample_metrics *m = &rec->m;
    db_quality q;
    if (db_quality_check(constraint_json, rec->output_text, &q, err, errlen) != 0) return -1;
    const int cap = 16 + DB_MAX_OUTPUT_STATS + DB_QUALITY_MAX;   /* every PUT below at most once */
    const char **names = malloc(sizeof *names * cap);
    double *values = malloc(sizeof *values * cap);
    if (!names || !values) {
        free(names);
        free(values);
        return db_errf(err, errlen, "out of memory");
    }
    int n = 0;
#define PUT(nm, v) do { names[n] = (nm); values[n++] = (v); } while (0)
    if (m->constraint_steps > 0) {
        PUT("constraint_evals", (double)m->constraint_evals);
        PUT("constraint_evals_per_token", m->constraint_evals_per_token);
        PUT("constraint_time_ms", m->constraint_time_ms);
        PUT("mask_p50_us", m->mask_p50_us);
        PUT("mask_p99_us", m->mask_p99_us);
    }
    if (!isnan(m->compile_ms)) PUT("compile_ms", m->compile_ms);
    /* S11: compute per token, for comparisons at equal target compute */
    if (!isnan(m->target_tokens_per_token)) PUT("target_tokens_per_token", m->target_tokens_per_token);
    if (!isnan(m->draft_tokens_per_token)) PUT("draft_tokens_per_token", m->draft_tokens_per_token);
    for (int i = 0; i < out->n_stats; i++) PUT(out->stat_name[i], out->stat_value[i]);
    for (int i = 0; i < q.n; i++) PUT(q.name[i], q.value[i]);
    /* compliance: every check of the output passed.  output_compliant over all
     * samples is the empirical coverage; compliance only over the samples the
     * engine did not decline (constraint_supported != 0), i.e. among declared. */
    if (q.n > 0) {
        bool all = true;
        for (int i = 0; i < q.n; i++)
            if (strcmp(q.name[i], "keyword_coverage") != 0 && q.value[i] != 1.0) all = false;
        bool declined = false;
        for (int i = 0; i < out->n_stats; i++)
            if (strcmp(out->stat_name[i], "constraint_supported") == 0 && out->stat_value[i] == 0.0) declined = true;
        PUT("output_compliant", all);
        if (!declined) PUT("compliance", all);
    }
    if (!isnan(scorer_nll)) {
        PUT("scorer_nll", scorer_nll);
        PUT("scorer_ppl", exp(scorer_nll));
    }
    if (reference && rec->output_text) {
        /* quality against the prompt's reference (harness/util/textmetrics.h) */
        PUT("ref_rouge2", db_rouge2_f(rec->output_text, reference));
        PUT("ref_bleu", db_sentence_bleu(rec->output_text, &reference, 1));
        int am = db_answer_match(rec->output_text, reference);
        if (am >= 0) PUT("answer_correct", am);
    }
#undef PUT
    rec->metric_names = names;
    rec->metric_values = values;
    rec->n_metrics = n;
    return 0;
}

/* Does the scorer tokenize like the target (same ids, same pieces)?  Then
 * the generated tokens are scored as they are; otherwise the output text is
 * tokenized by the scorer.  Checked once per target. */
static int same_vocabulary(runner *r, int target) {
    loaded_model *t = &r->models[target];
    if (t->same_vocab_as_scorer >= 0) return t->same_vocab_as_scorer;
    db_model *a = t->m, *b = r->models[r->s->scorer].m;
    int same = target == r->s->scorer || db_model_n_vocab(a) == db_model_n_vocab(b);
    char pa[256], pb[256];
    for (int v = 0; same && a != b && v < db_model_n_vocab(a); v++) {
        int na = db_model_token_piece(a, v, pa, sizeof pa), nb = db_model_token_piece(b, v, pb, sizeof pb);
        same = na == nb && (na <= 0 || memcmp(pa, pb, (size_t)na) == 0);
    }
    t->same_vocab_as_scorer = same;
    return same;
}

static int tokenize_all(db_model *m, const char *text, bool add_special, db_token **out, char *err, size_t errlen) {
    size_t len = strlen(text);
    int cap = (int)len + 8;
    db_token *toks = malloc(sizeof *toks * (size_t)cap);
    if (!toks) return db_errf(err, errlen, "out of memory");
    int n = db_model_tokenize(m, text, len, add_special, add_special, toks, cap);
    if (n < 0) {
        cap = -n;
        db_token *t2 = realloc(toks, sizeof *toks * (size_t)cap);
        if (!t2) { free(toks); return db_errf(err, errlen, "out of memory"); }
        toks = t2;
        n = db_model_tokenize(m, text, len, add_special, add_special, toks, cap);
    }
    *out = toks;
    return n;
}

/* The suite scorer's mean NLL of the output given the prompt text; NaN when
 * there is no scorer or no output.  Returns 0 or -1 (err set). */
static int score_output(runner *r, const db_case *c, const char *prompt_text, const db_sample_record *rec,
                        double *nll, char *err, size_t errlen) {
    *nll = NAN;
    if (r->s->scorer < 0 || rec->n_output_tokens == 0) return 0;
    db_model *sm = r->models[r->s->scorer].m;
    const char *sname = r->s->models[r->s->scorer].name;
    db_token *prompt = NULL, *own = NULL;
    int np = tokenize_all(sm, prompt_text, true, &prompt, err, errlen);
    if (np < 0) return -1;
    const db_token *out = rec->output_tokens;
    int no = rec->n_output_tokens;
    if (!same_vocabulary(r, c->target_model)) {
        no = tokenize_all(sm, rec->output_text ? rec->output_text : "", false, &own, err, errlen);
        if (no < 0) { free(prompt); return -1; }
        out = own;
    }
    char e2[512];
    int rc = 0;
    if (no > 0 && db_score_continuation(sm, prompt, np, out, no, nll, e2, sizeof e2) != 0)
        rc = db_errf(err, errlen, "scorer '%s': %s", sname, e2);
    free(prompt);
    free(own);
    return rc;
}

/* Free the copies run_one made into a record (after it is stored, or when
 * it is not kept). */
static void record_free(db_sample_record *s) {
    free((void *)s->output_tokens);
    free((void *)s->output_text);
    free((void *)s->stop_reason);
    free((void *)s->counter_values);
    free((void *)s->events);
    free((void *)s->metric_names);
    free((void *)s->metric_values);
    memset(s, 0, sizeof *s);
}

/* One generation; when rec is NULL it is a warmup and nothing is kept.
 * Returns 0, 1 when cancelled, -1 on error (err set). */
static int run_one(runner *r, const db_case *c, const db_prompt *pr, const char *text, uint64_t seed,
                   db_event_log *log, db_sample_record *rec, char *err, size_t errlen) {
    const db_suite *s = r->s;
    db_model *target = r->models[c->target_model].m;
    db_model *draft = r->case_draft[c->index] >= 0 ? r->models[r->case_draft[c->index]].m : NULL;
    db_model_reset(target);
    if (draft) db_model_reset(draft);

    size_t len = strlen(text);
    int cap = (int)len + 8;
    db_token *toks = malloc(sizeof *toks * (size_t)cap);
    if (!toks) return db_errf(err, errlen, "out of memory");
    int n = db_model_tokenize(target, text, len, true, true, toks, cap);
    if (n < 0) {
        cap = -n;
        db_token *t2 = realloc(toks, sizeof *toks * (size_t)cap);
        if (!t2) { free(toks); return db_errf(err, errlen, "out of memory"); }
        toks = t2;
        n = db_model_tokenize(target, text, len, true, true, toks, cap);
    }
    const db_model_info *ti = &r->models[c->target_model].info;
    if (n + s->max_new_tokens > ti->n_ctx) {
        free(toks);
        return db_errf(err, errlen, "prompt '%s': %d tokens + max_new_tokens %d exceed the context of %d (set n_ctx on the model)",
                       pr->id, n, s->max_new_tokens, ti->n_ctx);
    }

    db_gen_request req = {
        .target = target, .draft = draft, .prompt = toks, .n_prompt = n,
        .max_new_tokens = s->max_new_tokens, .stop_at_eog = s->stop_at_eog, .seed = seed,
        .params = &c->params, .constraint_json = pr->constraint_json, .reference = pr->reference, .events = log,
        .cancel = r->o->interrupted,
    };
    db_gen_output out;
    memset(&out, 0, sizeof out);
    int64_t values[DB_MAX_COUNTERS + 3];
    const char *const *cnames = NULL;
    int n_active = db_counters_active(r->counters, &cnames);

    db_event_log_start(log);
    if (rec) db_counters_start(r->counters);
    int64_t t0 = db_now_ns();
    log->t0_ns = t0;
    int rc = c->se->def->generate(&req, &out, err, errlen);
    int64_t t1 = db_now_ns();
    int n_values = rec ? db_counters_stop(r->counters, values) : 0;

    if (rc == 0 && log->oom) rc = db_errf(err, errlen, "out of memory recording step events");
    const bool filled = rc == 0 && rec;
    if (rc == 0 && rec) {
        memset(rec, 0, sizeof *rec);
        db_metrics_from_events(log, n, t1 - t0, &rec->m);
        rec->peak_rss_kib = db_peak_rss_kib();
        /* a copy: out is local to this call, the record lives until the case is written */
        rec->stop_reason = db_strdup(out.stop_reason[0] ? out.stop_reason : "length");
        /* keep copies: the log and output buffers are reused */
        rec->output_tokens = out.tokens;
        rec->n_output_tokens = out.n_tokens;
        out.tokens = NULL;
        int tl = db_model_detokenize(target, rec->output_tokens, rec->n_output_tokens, NULL, 0);
        if (tl < 0) tl = -tl;
        char *out_text = malloc((size_t)tl + 1);
        if (out_text) {
            db_model_detokenize(target, rec->output_tokens, rec->n_output_tokens, out_text, tl);
            out_text[tl] = 0;
        }
        rec->output_text = out_text;
        if (n_values > 0 && n_values == n_active) {
            int64_t *v = malloc(sizeof *v * (size_t)n_values);
            if (v) memcpy(v, values, sizeof *v * (size_t)n_values);
            rec->counter_values = v;
            rec->counter_names = cnames;
            rec->n_counters = v ? n_values : 0;
        }
        db_event *ev = malloc(sizeof *ev * (size_t)(log->n > 0 ? log->n : 1));
        if (ev) memcpy(ev, log->ev, sizeof *ev * (size_t)log->n);
        rec->events = ev;
        rec->n_events = ev ? log->n : 0;
        rec->seed = seed;
        if (!out_text || !ev || !rec->stop_reason) rc = db_errf(err, errlen, "out of memory");
        double nll = NAN;
        if (rc == 0) rc = score_output(r, c, text, rec, &nll, err, errlen);
        if (rc == 0) rc = sample_metrics(rec, &out, pr->constraint_json, nll, pr->reference, err, errlen);
    }
    if (filled && rc != 0) record_free(rec);   /* S7: a failed sample is not kept; its copies leaked */
    free(out.tokens);
    free(toks);
    return rc;
}

/* The case row, created (status 'running') when the case starts, or on
 * resume the row it already has. */
static int begin_case(runner *r, const db_case *c, int n_prompts, int64_t started, int64_t *case_id) {
    const db_suite *s = r->s;
    const loaded_model *tm = &r->models[c->target_model];
    const int di = r->case_draft[c->index];
    const loaded_model *dm = di >= 0 ? &r->models[di] : NULL;
    const db_suite_model *tsm = &s->models[c->target_model];
    const db_suite_model *dsm = c->draft_model >= 0 ? &s->models[c->draft_model] : NULL;
    /* a model fetched by reference: where from (the run's configuration has every model's) */
    char desc[1024];
    if (tsm->source)
        snprintf(desc, sizeof desc, "%s (%s%s%s)", tm->info.desc, tsm->source,
                 tsm->revision && tsm->revision[0] ? " at revision " : "", tsm->revision ? tsm->revision : "");
    db_case_record cr = {
        .idx = c->index, .engine = c->se->def->name, .label = c->label, .params_json = c->params_json,
        .model_name = tsm->name, .model_path = tsm->path ? tsm->path : tsm->exact_spec,
        .model_sha256 = tm->sha256, .model_desc = tsm->source ? desc : tm->info.desc,
        .model_params = tm->info.n_params, .model_bytes = tm->info.size_bytes,
        .draft_name = dsm ? dsm->name : dm ? dm->name : NULL,
        .draft_path = dsm ? (dsm->path ? dsm->path : dsm->exact_spec) : dm ? dm->path : NULL,
        .draft_sha256 = dm ? dm->sha256 : NULL,
        .dataset = s->datasets[c->dataset].name, .n_prompts = n_prompts, .status = "running",
        .started_at_ms = started,
    };
    return db_store_case_begin(r->st, r->run_id, &cr, case_id);
}

/* The case row of a serving case whose server names no model: the server
 * stands in for the model (its name, its URL or program). */
static int begin_server_case(runner *r, const db_case *c, int n_prompts, int64_t started, int64_t *case_id) {
    const db_suite_server *sv = &r->s->servers[c->se->server_idx];
    char desc[300];
    snprintf(desc, sizeof desc, "server '%s' (api %s)", sv->name, sv->api);
    db_case_record cr = {
        .idx = c->index, .engine = c->se->def->name, .label = c->label, .params_json = c->params_json,
        .model_name = sv->name, .model_path = sv->url ? sv->url : sv->command[0], .model_desc = desc,
        .dataset = r->s->datasets[c->dataset].name, .n_prompts = n_prompts, .status = "running",
        .started_at_ms = started,
    };
    return db_store_case_begin(r->st, r->run_id, &cr, case_id);
}

/* Test hook (tests/reliability.sh, bench/reliability.sh):
 * DECOBENCH_TEST_KILL_AFTER_SAMPLES=N[:SIG] raises SIG (KILL, TERM, HUP or
 * INT; default KILL) in this process right after its N-th sample is stored,
 * so a kill lands at an exact, reproducible point. */
static void test_kill_hook(int stored_here) {
    static int after = -1, sig = SIGKILL;
    if (after < 0) {
        const char *e = getenv("DECOBENCH_TEST_KILL_AFTER_SAMPLES");
        after = e ? atoi(e) : 0;
        const char *c = e ? strchr(e, ':') : NULL;
        if (c && strcmp(c + 1, "TERM") == 0) sig = SIGTERM;
        else if (c && strcmp(c + 1, "HUP") == 0) sig = SIGHUP;
        else if (c && strcmp(c + 1, "INT") == 0) sig = SIGINT;
    }
    if (after > 0 && stored_here == after) raise(sig);
}

static int finish_case(runner *r, const db_case *c, int64_t case_id, int rc, const db_noise *noise, char *err,
                       size_t errlen);

/* Run one case, committing each finished sample as it comes; on resume the
 * samples the case already has are skipped (their outputs still feed later
 * turns of a chat).  Returns 0 done, 1 interrupted, -1 case failed (recorded
 * as such; err set), -2 the results database failed (err set). */
static int run_case(runner *r, const db_case *c, int n_cases, char *err, size_t errlen) {
    const db_suite *s = r->s;
    const db_suite_dataset *ds = &s->datasets[c->dataset];
    int n_prompts = ds->n_prompts;
    if (r->o->limit_prompts > 0 && n_prompts > r->o->limit_prompts) n_prompts = r->o->limit_prompts;
    int64_t started = db_unix_ms();
    int rc = 0;

    if (load_model(r, c->target_model, err, errlen) != 0) return -1;

    int64_t case_id = 0;
    if (begin_case(r, c, n_prompts, started, &case_id) != 0) {
        db_errf(err, errlen, "%s: %s", r->o->db_path, db_store_errmsg(r->st));
        return -2;
    }

    /* the samples this case holds already (resume): slot (rep, prompt, turn) */
    int *first_slot = calloc((size_t)n_prompts + 1, sizeof *first_slot);
    if (!first_slot) {
        db_errf(err, errlen, "out of memory");
        return -2;
    }
    for (int i = 0; i < n_prompts; i++)
        first_slot[i + 1] = first_slot[i] + (ds->chat ? ds->prompts[i].n_turns : 1);
    const int per_rep = first_slot[n_prompts];
    const int n_slots = per_rep * s->repetitions;
    const char **stored = calloc((size_t)n_slots + 1, sizeof *stored);
    db_sample_key *keys = NULL;
    int n_keys = 0, n_stored = 0;
    if (!stored) {
        free(first_slot);
        db_errf(err, errlen, "out of memory");
        return -2;
    }
    if (r->o->resume_run_id > 0 && db_store_sample_keys(r->st, case_id, &keys, &n_keys) != 0) {
        free(first_slot);
        free(stored);
        db_errf(err, errlen, "%s: %s", r->o->db_path, db_store_errmsg(r->st));
        return -2;
    }
    for (int k = 0; k < n_keys; k++) {
        const db_sample_key *key = &keys[k];
        if (key->rep < 0 || key->rep >= s->repetitions || key->prompt_idx < 0 || key->prompt_idx >= n_prompts ||
            key->turn < 0 || first_slot[key->prompt_idx] + key->turn >= first_slot[key->prompt_idx + 1])
            continue;
        int slot = key->rep * per_rep + first_slot[key->prompt_idx] + key->turn;
        if (!stored[slot]) n_stored++;
        stored[slot] = key->output_text;
    }

    db_event_log log;
    db_event_log_init(&log);
    char serr[512] = "";

    for (int w = 0; w < s->warmup && rc == 0 && n_prompts > 0 && n_stored < n_slots; w++) {
        const db_prompt *pr = &ds->prompts[w % n_prompts];
        char *text = NULL;
        rc = turn_text(r, c, ds, pr, 0, NULL, &text, serr, sizeof serr);
        if (rc == 0) rc = run_one(r, c, pr, text, s->seeds[0], &log, NULL, serr, sizeof serr);
        free(text);
        if (rc < 0) db_errf(err, errlen, "%s", serr);
    }
    db_noise_snap noise0;     /* S7 interference: the machine while the measured samples run */
    db_noise_begin(&noise0);
    for (int rep = 0; rep < s->repetitions && rc == 0; rep++) {
        for (int i = 0; i < n_prompts && rc == 0; i++) {
            const db_prompt *pr = &ds->prompts[i];
            const int n_turns = ds->chat ? pr->n_turns : 1;
            if (r->plan && db_shard_owner(r->plan, c->index, i, rep) != r->o->shard_index) continue;   /* another shard's */
            const char *answers[64];
            char *own[64] = { 0 };
            for (int t = 0; t < n_turns && t < 64 && rc == 0; t++) {
                const char *have = stored[rep * per_rep + first_slot[i] + t];
                if (have) {   /* stored by the run this one resumes */
                    answers[t] = have;
                    continue;
                }
                if (r->o->interrupted && *r->o->interrupted) { rc = 1; break; }
                db_sample_record rec;
                memset(&rec, 0, sizeof rec);
                /* the seed depends on the sample's key only (its repetition),
                 * never on what ran before, so a resumed run samples alike */
                uint64_t seed = s->seeds[rep % s->n_seeds];
                char *text = NULL;
                rc = turn_text(r, c, ds, pr, t, answers, &text, serr, sizeof serr);
                if (rc == 0) rc = run_one(r, c, pr, text, seed, &log, &rec, serr, sizeof serr);
                free(text);
                if (rc < 0) db_errf(err, errlen, "%s", serr);
                if (rc != 0) {   /* failed, or cancelled mid-sample: discarded */
                    record_free(&rec);
                    break;
                }
                rec.prompt_idx = i;
                rec.prompt_id = pr->id;
                rec.category = pr->category;
                rec.rep = rep;
                rec.turn = t;
                if (db_store_sample(r->st, case_id, &rec) != 0) {
                    db_errf(err, errlen, "%s: %s", r->o->db_path, db_store_errmsg(r->st));
                    record_free(&rec);
                    rc = -2;
                    break;
                }
                own[t] = (char *)rec.output_text;   /* kept for the later turns */
                rec.output_text = NULL;
                answers[t] = own[t] ? own[t] : "";
                record_free(&rec);
                r->done_samples++;
                r->stored_here++;
                progress(r, c->index, n_cases, c->label, false);
                test_kill_hook(r->stored_here);
            }
            for (int t = 0; t < 64; t++) free(own[t]);
        }
    }
    db_event_log_free(&log);
    db_noise noise;   /* S7 interference */
    db_noise_end(&noise0, &noise);
    db_sample_keys_free(keys, n_keys);
    free(stored);
    free(first_slot);

    return finish_case(r, c, case_id, rc, &noise, err, errlen);
}

/* The case's final status from run_case's outcome rc, and for a completed
 * case its interference verdict. */
static int finish_case(runner *r, const db_case *c, int64_t case_id, int rc, const db_noise *noise, char *err,
                       size_t errlen) {
    if (rc == -2) return -2;
    char status[700];
    if (rc == 0) snprintf(status, sizeof status, "completed");
    else if (rc == 1) snprintf(status, sizeof status, "interrupted");
    /* keep a record of the failure (and the samples it finished); the run
     * goes on with the next case */
    else snprintf(status, sizeof status, "failed: %.600s", err);
    if (db_store_case_finish(r->st, case_id, status) != 0) {
        db_errf(err, errlen, "%s: %s", r->o->db_path, db_store_errmsg(r->st));
        rc = -2;
    } else if (rc == 0) {   /* S7 interference: the completed case's verdict */
        if (db_noise_store(r->st, r->run_id, c->index, noise, err, errlen) != 0) rc = -2;
        else r->n_noisy += noise->flagged;
    }
    return rc;
}

static void serve_sample_stored(void *ctx) {
    runner *r = ctx;
    r->done_samples++;
    r->stored_here++;
    progress(r, r->cur_case, r->cur_n_cases, r->cur_label, false);
    test_kill_hook(r->stored_here);
}

/* A serving case (engines/serve.c): its requests go to its server through
 * harness/run/serve.c, one stored sample per request; the target model,
 * when the server names one, is loaded as the tokenizer.  Returns like
 * run_case. */
static int run_serve_case(runner *r, const db_case *c, int n_cases, char *err, size_t errlen) {
    const db_suite *s = r->s;
    const db_suite_dataset *ds = &s->datasets[c->dataset];
    int n_prompts = ds->n_prompts;
    if (r->o->limit_prompts > 0 && n_prompts > r->o->limit_prompts) n_prompts = r->o->limit_prompts;
    if (c->target_model >= 0 && load_model(r, c->target_model, err, errlen) != 0) return -1;
    int64_t case_id = 0;
    if ((c->target_model >= 0 ? begin_case(r, c, n_prompts, db_unix_ms(), &case_id)
                              : begin_server_case(r, c, n_prompts, db_unix_ms(), &case_id)) != 0) {
        db_errf(err, errlen, "%s: %s", r->o->db_path, db_store_errmsg(r->st));
        return -2;
    }
    db_sample_key *keys = NULL;
    int n_keys = 0;
    if (r->o->resume_run_id > 0 && db_store_sample_keys(r->st, case_id, &keys, &n_keys) != 0) {
        db_errf(err, errlen, "%s: %s", r->o->db_path, db_store_errmsg(r->st));
        return -2;
    }
    r->cur_case = c->index;
    r->cur_n_cases = n_cases;
    r->cur_label = c->label;
    db_serve_case in = {
        .c = c, .tokenizer = c->target_model >= 0 ? r->models[c->target_model].m : NULL, .st = r->st,
        .case_id = case_id, .n_prompts = n_prompts, .done = keys, .n_done = n_keys, .cancel = r->o->interrupted,
        .on_sample = serve_sample_stored, .ctx = r,
    };
    db_noise_snap noise0;
    db_noise_begin(&noise0);
    int n_stored = 0;
    int rc = db_serve_run_case(r->pool, &in, &n_stored, err, errlen);
    db_noise noise;
    db_noise_end(&noise0, &noise);
    db_sample_keys_free(keys, n_keys);
    return finish_case(r, c, case_id, rc, &noise, err, errlen);
}

/* --resume: the run must still measure what it measured (suite file,
 * resolved configuration, datasets, models); then it is taken over. */
static int resume_run(runner *r, const char *inputs_sha, const char *suite_sha, char *err, size_t errlen) {
    const int64_t id = r->o->resume_run_id;
    db_run_resume rs;
    if (db_store_run_resume(r->st, id, false, &rs, err, errlen) != 0) return -1;
    int rc = 0;
    if (rs.suite_sha256 && strcmp(rs.suite_sha256, suite_sha) != 0)
        rc = db_errf(err, errlen, "%s: --resume %lld: the suite file changed since the run started "
                     "(sha256 %.12s..., now %.12s...); start a new run", r->s->path, (long long)id,
                     rs.suite_sha256, suite_sha[0] ? suite_sha : "(unreadable)");
    else if (strcmp(rs.config_sha256, inputs_sha) != 0)
        rc = db_errf(err, errlen, "%s: --resume %lld: a dataset or model file changed since the run started "
                     "(inputs sha256 %.12s..., now %.12s...); start a new run", r->s->path, (long long)id,
                     rs.config_sha256, inputs_sha);
    db_run_resume_free(&rs);
    if (rc == 0 && db_store_run_resume(r->st, id, true, &rs, err, errlen) != 0) rc = -1;
    db_run_resume_free(&rs);
    if (rc == 0) r->run_id = id;
    return rc;
}

/* S7: the pre-flight checks (harness/run/preflight.h) on the loaded models;
 * their warnings go to stderr only when every check passed. */
static int run_preflight(runner *r, const db_case *cases, int n_cases, char *err, size_t errlen) {
    db_model **models = calloc((size_t)r->n_loaded + 1, sizeof *models);
    const char **names = calloc((size_t)r->n_loaded + 1, sizeof *names);
    int rc = -1;
    if (!models || !names) {
        db_errf(err, errlen, "out of memory");
    } else {
        for (int i = 0; i < r->n_loaded; i++) {
            models[i] = r->models[i].m;
            names[i] = i < r->s->n_models ? r->s->models[i].name : r->models[i].name;
        }
        db_preflight_in in = {
            .s = r->s, .cases = cases, .n_cases = n_cases, .models = models, .n_models = r->n_loaded,
            .model_names = names, .case_draft = r->case_draft, .limit_prompts = r->o->limit_prompts,
        };
        char *warnings = NULL;
        rc = db_preflight(&in, &warnings, err, errlen);
        if (warnings) fputs(warnings, stderr);
        free(warnings);
    }
    free(models);
    free(names);
    return rc;
}

/* Compare the run's lossless greedy cases with its greedy baseline and
 * store the result; a difference is reported on stderr (the run's status
 * is unchanged: the numbers are still measured, `report` marks them). */
static void identity_check(runner *r) {
    char ierr[600];
    int n_cmp = 0, n_diff = 0;
    if (db_identity_check_run(db_store_handle(r->st), r->run_id, &n_cmp, &n_diff, ierr, sizeof ierr) != 0)
        fprintf(stderr, "decobench run: %s\n", ierr);
    else if (n_diff > 0)
        fprintf(stderr, "decobench run: %d of %d lossless greedy cases differ from the ar baseline in some prompt "
                "(decobench report, column identical)\n", n_diff, n_cmp);
}

int db_run_suite(const db_suite *s, const db_run_options *o, db_run_summary *sum, char *err, size_t errlen) {
    runner r;
    memset(&r, 0, sizeof r);
    memset(sum, 0, sizeof *sum);
    sum->status = "failed";
    r.s = s;
    r.o = o;
    int rc = 0;
    /* grammar_valid for every engine's output, with the grammar semantics
     * the grammar engines use (llama.cpp's GBNF; harness/constraint/grammar.c) */
    db_quality_set_grammar_checker(db_gbnf_check);

    db_case *cases = NULL;
    int n_cases = 0;
    if (db_suite_expand(s, &cases, &n_cases, err, errlen) != 0) return -1;
    sum->n_cases = n_cases;

    db_machine mach;
    memset(&mach, 0, sizeof mach);
    char e2[512];
    if (db_machine_probe(&mach, e2, sizeof e2) != 0) {
        db_cases_free(cases, n_cases);
        return db_errf(err, errlen, "machine probe: %s", e2);
    }
    r.threads = s->threads > 0 ? s->threads : db_physical_cores();
    if (db_pin_threads(s->pin ? s->pin : "none", r.threads, e2, sizeof e2) != 0) {
        db_machine_free(&mach);
        db_cases_free(cases, n_cases);
        return db_errf(err, errlen, "%s: pin: %s", s->path, e2);
    }
    /* counters before models, so decode threads created at load inherit them */
    r.counters = db_counters_open((const char *const *)s->papi_events, s->n_papi_events);
    /* suite models, plus room for one derived draft per case */
    r.models = calloc((size_t)(s->n_models + n_cases + 1), sizeof *r.models);
    r.case_draft = malloc(sizeof *r.case_draft * (size_t)(n_cases + 1));
    if (!r.models || !r.case_draft) {
        rc = db_errf(err, errlen, "out of memory");
        goto done;
    }
    r.n_loaded = s->n_models;
    for (int i = 0; i < s->n_models; i++) r.models[i].same_vocab_as_scorer = -1;
    /* sequence ids each model needs: the most any case using it asks for */
    for (int i = 0; i < n_cases; i++) {
        const db_engine *e = cases[i].se->def;
        r.case_draft[i] = cases[i].draft_model;
        if (cases[i].target_model < 0) continue;   /* a serving case whose server names no model */
        int ns = e->n_seq_max ? e->n_seq_max(&cases[i].params) : 1;
        loaded_model *t = &r.models[cases[i].target_model];
        if (ns > t->n_seq) t->n_seq = ns;
        r.case_draft[i] = cases[i].draft_model;
        if (cases[i].draft_model >= 0 && ns > r.models[cases[i].draft_model].n_seq)
            r.models[cases[i].draft_model].n_seq = ns;
    }
    /* every model a case uses is loaded (and checked) before anything is written */
    for (int i = 0; i < n_cases; i++) {
        if (cases[i].target_model < 0) continue;
        if (load_model(&r, cases[i].target_model, err, errlen) != 0 ||
            (cases[i].draft_model >= 0 && load_model(&r, cases[i].draft_model, err, errlen) != 0)) {
            rc = -1;
            goto done;
        }
        const db_engine *e = cases[i].se->def;
        if (e->derive_draft && derive_draft(&r, &cases[i], err, errlen) != 0) {
            rc = -1;
            goto done;
        }
    }
    if (s->scorer >= 0 && load_model(&r, s->scorer, err, errlen) != 0) {
        rc = -1;
        goto done;
    }
    if (run_preflight(&r, cases, n_cases, err, errlen) != 0 ||   /* S7: bad input before anything is written */
        db_serve_check_servers(s, cases, n_cases, err, errlen) != 0) {
        rc = -1;
        goto done;
    }
    if (db_store_open(o->db_path, &r.st, e2, sizeof e2) != 0) {
        rc = db_errf(err, errlen, "%s", e2);
        goto done;
    }
    db_store_set_events_rows(r.st, o->events_rows);

    /* what the run measures: checked again by --resume */
    char inputs_sha[65] = "", suite_sha[65] = "";
    {
        const char **msha = calloc((size_t)s->n_models + 1, sizeof *msha);
        if (!msha) {
            rc = db_errf(err, errlen, "out of memory");
            goto done;
        }
        for (int i = 0; i < s->n_models; i++) msha[i] = r.models[i].sha256;
        int hrc = db_run_inputs_sha256(s, msha, inputs_sha, err, errlen);
        free(msha);
        if (hrc != 0) {
            rc = -1;
            goto done;
        }
        if (s->path && db_file_exists(s->path) && db_sha256_file(s->path, suite_sha, e2, sizeof e2) != 0)
            suite_sha[0] = 0;
    }
    if (o->resume_run_id > 0) {
        if (resume_run(&r, inputs_sha, suite_sha, err, errlen) != 0) {
            rc = -1;
            goto done;
        }
    } else {
        int64_t machine_id = 0;
        const db_counter_status *cst = NULL;
        int n_cst = db_counters_status(r.counters, &cst);
        db_run_record rr = {
            .suite_name = s->name, .suite_path = s->path, .config_json = s->json, .argv = o->argv_text,
            .decobench_rev = DB_REVISION, .llama_commit = db_llama_commit(), .compiler = DB_COMPILER,
            .build_flags = DB_BUILD_FLAGS, .papi_version = db_counters_papi_version(r.counters),
            .threads = r.threads, .counters = cst, .n_counters = n_cst,
        };
        db_run_lifecycle lc = { suite_sha[0] ? suite_sha : NULL, inputs_sha, o->limit_prompts, o->shard_index,
                                o->shard_count, o->shard_group ? o->shard_group : "" };
        db_store_set_run_lifecycle(r.st, &lc);
        if (db_store_machine(r.st, &mach, &machine_id) != 0 ||
            (rr.machine_id = machine_id, db_store_run_begin(r.st, &rr, &r.run_id) != 0)) {
            rc = db_errf(err, errlen, "%s: %s", o->db_path, db_store_errmsg(r.st));
            goto done;
        }
    }
    sum->run_id = r.run_id;
    if (db_store_heartbeat_start(r.st, r.run_id) != 0) {
        rc = db_errf(err, errlen, "%s", db_store_errmsg(r.st));
        db_store_run_finish(r.st, r.run_id, "failed");
        goto done;
    }

    if (o->shard_count > 0 && db_shard_plan_make(s, cases, n_cases, o->limit_prompts, o->shard_count, &r.plan, err,
                                                 errlen) != 0) {
        rc = -1;
        db_store_run_finish(r.st, r.run_id, "failed");
        goto done;
    }
    if (!(r.pool = db_serve_pool_new(s, o->db_path, r.run_id))) {
        rc = db_errf(err, errlen, "out of memory");
        db_store_run_finish(r.st, r.run_id, "failed");
        goto done;
    }
    for (int i = 0; i < n_cases; i++) {
        const db_suite_dataset *ds = &s->datasets[cases[i].dataset];
        int np = ds->n_prompts;
        if (o->limit_prompts > 0 && np > o->limit_prompts) np = o->limit_prompts;
        if (r.plan && !db_shard_has_case(r.plan, i, o->shard_index)) continue;
        if (cases[i].se->def->serving) {
            int nr = db_params_int(&cases[i].params, "requests");
            r.total_samples += nr > 0 ? nr : np * s->repetitions;
            continue;
        }
        if (r.plan) {   /* the units of this shard only */
            for (int rep = 0; rep < s->repetitions; rep++)
                for (int p = 0; p < np; p++)
                    if (db_shard_owner(r.plan, i, p, rep) == o->shard_index)
                        r.total_samples += ds->chat ? ds->prompts[p].n_turns : 1;
            continue;
        }
        for (int p = 0; p < np; p++) r.total_samples += (ds->chat ? ds->prompts[p].n_turns : 1) * s->repetitions;
    }
    if (o->resume_run_id > 0) {
        int64_t have = 0;
        if (db_store_run_samples(r.st, r.run_id, &have) == 0) r.done_samples = (int)have;
    }
    r.t_start_ns = db_now_ns();
    const char *status = "completed";
    db_noise_snap run_noise0;   /* S7 interference: the machine during the whole run */
    db_noise_begin(&run_noise0);
    if (r.plan && (o->verbose || o->progress)) {
        int nu = 0;
        double cost = db_shard_cost(r.plan, o->shard_index, &nu), all = 0;
        for (int k = 0; k < o->shard_count; k++) all += db_shard_cost(r.plan, k, NULL);
        fprintf(stderr, "decobench run: shard %d/%d: %d units, %.1f%% of the expected cost\n", o->shard_index,
                o->shard_count, nu, all > 0 ? 100.0 * cost / all : 0.0);
    }
    for (int i = 0; i < n_cases; i++) {
        char cerr[600] = "";
        if (r.plan && !db_shard_has_case(r.plan, i, o->shard_index)) continue;   /* all its units are other shards' */
        progress(&r, i, n_cases, cases[i].label, false);
        int crc = cases[i].se->def->serving ? run_serve_case(&r, &cases[i], n_cases, cerr, sizeof cerr)
                                            : run_case(&r, &cases[i], n_cases, cerr, sizeof cerr);
        if (crc == 1 || (o->interrupted && *o->interrupted)) {
            status = "interrupted";
            break;
        }
        if (crc < 0) {
            /* a store failure stops the run; an engine/model failure fails the case */
            if (crc == -2) {
                rc = db_errf(err, errlen, "%s", cerr);
                status = "failed";
                break;
            }
            sum->n_cases_failed++;
            if (o->progress) fprintf(stderr, "\n");
            fprintf(stderr, "decobench run: case %d (%s, %s): %s\n", i + 1, cases[i].label,
                    s->datasets[cases[i].dataset].name, cerr);
            continue;
        }
        sum->n_cases_done++;
        if (o->verbose && !o->progress)
            fprintf(stderr, "decobench run: case %d/%d %s on %s done\n", i + 1, n_cases, cases[i].label,
                    s->datasets[cases[i].dataset].name);
    }
    if (o->progress) progress(&r, n_cases - 1, n_cases, "done", true);
    if (strcmp(status, "completed") == 0 && sum->n_cases_failed > 0) status = "failed";
    /* S7: greedy identity of lossless engines with the ar baseline (harness/run/identity.c) */
    if (rc == 0) identity_check(&r);
    {   /* S7 interference: the run's own verdict, flagged too when a case was */
        db_noise rn;
        db_noise_end(&run_noise0, &rn);
        char why[600];
        if (r.n_noisy > 0 && rn.n_reasons < DB_NOISE_MAX_REASONS)
            snprintf(rn.reason[rn.n_reasons++], sizeof rn.reason[0], "%d of %d cases measured under interference",
                     r.n_noisy, sum->n_cases_done);
        rn.flagged = rn.n_reasons > 0;
        if (db_noise_store(r.st, r.run_id, -1, &rn, why, sizeof why) != 0 && rc == 0)
            rc = db_errf(err, errlen, "%s: %s", o->db_path, why);
        db_noise_reasons_text(&rn, why, sizeof why);
        if (rn.flagged) fprintf(stderr, "decobench run: measured under interference: %s\n", why);
    }
    if (db_store_run_finish(r.st, r.run_id, status) != 0 && rc == 0)
        rc = db_errf(err, errlen, "%s: %s", o->db_path, db_store_errmsg(r.st));
    sum->status = status;
    /* what the database holds: a sample cancelled mid-way is not counted */
    int64_t n_stored = 0;
    if (db_store_run_samples(r.st, r.run_id, &n_stored) != 0 && rc == 0)
        rc = db_errf(err, errlen, "%s: %s", o->db_path, db_store_errmsg(r.st));
    sum->n_samples = (int)n_stored;
    if (rc == 0 && strcmp(status, "interrupted") == 0) rc = 1;

done:
    db_shard_plan_free(r.plan);
    db_serve_pool_free(r.pool);   /* every server it started is stopped, whatever the way out */
    for (int i = 0; r.models && i < r.n_loaded; i++) {
        db_model_close(r.models[i].m);
        free(r.models[i].path);
        free(r.models[i].name);
    }
    free(r.models);
    free(r.case_draft);
    if (r.counters) db_counters_close(r.counters);
    if (r.st) db_store_close(r.st);
    db_machine_free(&mach);
    db_cases_free(cases, n_cases);
    return rc;
}
