/* test_compare.c — regression detection (reports/compare.c) and the
 * compare / history / merge commands, on DBs built here through
 * harness/run/store.h with seeded noise:
 *
 * compare.db: 4 runs of the same 3 cases (ar greedy, spec k=4 greedy, a
 * sampled ar whose label needs XML/CSV escaping), 20 samples per case
 * (10 prompts × 2 repetitions).  tokens/s = 100 · prompt factor
 * (0.95..1.05) · exp(0.03·z), latency = 64 tokens / tokens/s, TTFT =
 * 20 · exp(0.05·z); z standard normal from a seeded Philox stream.
 *   run 1  base (noise stream 1)
 *   run 2  every case 10% slower (stream 2): tokens/s and latency regressed
 *   run 3  noise only (stream 3): nothing regressed
 *   run 4  as run 3 but the greedy ar case changes 2 of its 20 outputs
 *          (greedy identity 0.9: regressed), the sampled case changes 5
 *          (reported, not gated) and spec's #MAT moves by one commit
 *          (correctness-like: regressed).
 *
 * Change points: a 20-point series with a 10% step at index 10 and a flat
 * one (2% noise); history over 20 runs with the step at run 11.
 *
 * Merge: A (machine fpA: 2 runs), B (fpA: 1 run, fpB: 1 run); merging A
 * then A and B, then again, gives 2 machines and 4 runs with every row
 * copied once.
 */
#include "test.h"
#include "fixtures.h"

#include <math.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness/cli/cli.h"
#include "harness/util/rng.h"
#include "harness/run/identity.h"
#include "harness/run/store.h"
#include "harness/util/util.h"
#include "reports/compare.h"
#include "reports/compare_int.h"

#define NPROMPT 10
#define NREP 2
#define NS (NPROMPT * NREP)

static const char *SAMPLED_LABEL = "ar sample <t=0.8> & \"x\"";

static int64_t begin_run(db_store *st, int64_t mid, const char *config, const char *rev) {
    db_counter_status cs[1];
    memset(cs, 0, sizeof cs);
    snprintf(cs[0].name, sizeof cs[0].name, "PAPI_TOT_INS");
    cs[0].available = true;
    db_run_record r = { mid, "nightly", "suites/nightly.json", config, "decobench run", rev, "abc1234",
                        "gcc", "-O2", "7.1", 4, cs, 1 };
    int64_t id = 0;
    if (db_store_run_begin(st, &r, &id) != 0) return 0;
    return id;
}

typedef struct variant {
    double speed;          /* tokens/s factor */
    uint64_t stream;       /* noise stream */
    int changed_outputs;   /* samples whose output differs */
    int extra_commit;      /* add one commit to sample 0 (#MAT change) */
} variant;

/* one case of NS samples; engine spec → mat 64/25 */
static int add_case(db_store *st, int64_t run, int idx, const char *label, const char *params, bool spec,
                    const variant *v, uint64_t case_stream) {
    db_case_record c = { idx, spec ? "spec" : "ar", label, params, "target", "/m/target.gguf", "ab12",
                         "target", 1, 1, NULL, NULL, NULL, "prose", NPROMPT, "completed",
                         1700000000000, 1700000001000 };
    db_sample_record s[NS];
    int32_t toks[NS][8];
    const char *names[1] = { "PAPI_TOT_INS" };
    int64_t vals[NS];
    db_event ev[NS][2];
    memset(s, 0, sizeof s);
    memset(ev, 0, sizeof ev);
    db_rng g = db_rng_make(v->stream, case_stream);
    for (int i = 0; i < NS; i++) {
        int p = i / NREP, rep = i % NREP;
        double factor = 0.95 + 0.1 * p / (NPROMPT - 1);
        double tps = 100 * factor * v->speed * exp(0.03 * db_rng_normal(&g));
        s[i].prompt_idx = p;
        s[i].prompt_id = "p";
        s[i].category = "prose";
        s[i].rep = rep;
        s[i].seed = 1;
        s[i].m.new_tokens = 65;
        s[i].m.n_commits = spec ? 25 + (i == 0 && v->extra_commit) : 64;
        s[i].m.mat = 64.0 / s[i].m.n_commits;
        s[i].m.tokens_per_s = tps;
        s[i].m.latency_ms = 64 / tps * 1000;
        s[i].m.ttft_ms = 20 * exp(0.05 * db_rng_normal(&g));
        s[i].m.tpot_ms = NAN;
        s[i].m.acceptance_rate = NAN;
        s[i].stop_reason = "length";
        for (int k = 0; k < 8; k++) toks[i][k] = 100 * p + k;
        if (i % 4 == 1 && i / 4 < v->changed_outputs) toks[i][7] = 9999;   /* samples 1, 5, 9, ... */
        s[i].output_tokens = toks[i];
        s[i].n_output_tokens = 8;
        s[i].output_text = "text";
        vals[i] = 1000 + i;
        s[i].counter_names = names;
        s[i].counter_values = vals + i;
        s[i].n_counters = 1;
        ev[i][0] = (db_event){ .kind = DB_EV_FORWARD, .role = DB_ROLE_TARGET, .n_tokens = 5 };
        ev[i][1] = (db_event){ .kind = DB_EV_COMMIT, .role = DB_ROLE_TARGET, .step = 1, .n_tokens = 1 };
        s[i].events = ev[i];
        s[i].n_events = 2;
    }
    int64_t cid;
    return db_store_case(st, run, &c, s, NS, &cid);
}

static int add_run(db_store *st, int64_t mid, const char *config, const char *rev, const variant *v,
                   const variant *v_sampled, const variant *v_spec) {
    int64_t run = begin_run(st, mid, config, rev);
    if (!run) return -1;
    int rc = add_case(st, run, 0, "ar", "{\"mode\":\"greedy\"}", false, v, 1);
    rc |= add_case(st, run, 1, "spec k=4", "{\"k\":4,\"mode\":\"greedy\"}", true, v_spec ? v_spec : v, 2);
    rc |= add_case(st, run, 2, SAMPLED_LABEL, "{\"mode\":\"sample\",\"temp\":0.8}", false,
                   v_sampled ? v_sampled : v, 3);
    rc |= db_store_run_finish(st, run, "completed");
    return rc;
}

static char *build_compare_db(void) {
    char *path = db_test_fresh_db_path("compare.db");
    int64_t mid = 0;
    db_store *st = db_test_open_store(path, "fp", &mid);
    if (!st) {
        free(path);
        return NULL;
    }
    const variant base = { 1.0, 1, 0, 0 }, slow = { 0.9, 2, 0, 0 }, noise = { 1.0, 3, 0, 0 };
    const variant ident = { 1.0, 3, 2, 0 }, ident_sampled = { 1.0, 3, 5, 0 }, ident_spec = { 1.0, 3, 0, 1 };
    int rc = add_run(st, mid, "{\"n\":1}", "r1", &base, NULL, NULL);
    rc |= add_run(st, mid, "{\"n\":2}", "r2", &slow, NULL, NULL);
    rc |= add_run(st, mid, "{\"n\":3}", "r3", &noise, NULL, NULL);
    rc |= add_run(st, mid, "{\"n\":4}", "r4", &ident, &ident_sampled, &ident_spec);
    db_store_close(st);
    CHECK_INT_EQ(rc, 0);
    if (rc) {
        free(path);
        return NULL;
    }
    return path;
}

static const db_compare_row *find_row(const db_compare_result *r, const char *label, const char *metric) {
    for (int i = 0; i < r->n_rows; i++)
        if (strcmp(r->rows[i].label, label) == 0 && strcmp(r->rows[i].metric, metric) == 0) return &r->rows[i];
    return NULL;
}

static int compare(db_store *st, int64_t a, int64_t b, db_compare_result *res) {
    char err[512] = "";
    db_compare_opts o = { NULL, 0, DB_COMPARE_MIN_EFFECT, DB_COMPARE_ALPHA, 1000, 1 };
    int rc = db_compare_runs(st, a, st, b, &o, res, err, sizeof err);
    CHECK_MSG(rc == 0, "compare %lld %lld: %s", (long long)a, (long long)b, err);
    return rc;
}

static void test_compare_slowdown(void) {
    char *path = build_compare_db();
    if (!path) return;
    char err[512];
    db_store *st = NULL;
    CHECK_INT_EQ(db_store_open_readonly(path, &st, err, sizeof err), 0);
    db_compare_result r;
    if (!st || compare(st, 1, 2, &r) != 0) {
        db_store_close(st);
        free(path);
        return;
    }
    CHECK_INT_EQ(r.n_rows, 15);   /* 3 cases × 5 metrics */
    CHECK_INT_EQ(r.n_only_base + r.n_only_new, 0);
    const char *labels[3] = { "ar", "spec k=4", SAMPLED_LABEL };
    for (int i = 0; i < 3; i++) {
        const db_compare_row *t = find_row(&r, labels[i], "tokens_per_s");
        const db_compare_row *l = find_row(&r, labels[i], "latency_ms");
        CHECK(t && l);
        if (!t || !l) continue;
        CHECK_MSG(t->verdict == DB_VERDICT_REGRESSED, "%s tokens/s: %s", labels[i], db_verdict_name(t->verdict));
        CHECK_MSG(t->change > -0.14 && t->change < -0.06, "%s change %g", labels[i], t->change);
        CHECK_MSG(t->lo < -0.02 && t->hi > t->change && t->lo < t->change, "%s CI [%g, %g]", labels[i], t->lo,
                  t->hi);
        CHECK_MSG(t->p < 0.01, "%s p %g", labels[i], t->p);
        CHECK_INT_EQ(t->n_base, NS);
        CHECK_INT_EQ(t->n_new, NS);
        CHECK_MSG(l->verdict == DB_VERDICT_REGRESSED, "%s latency: %s", labels[i], db_verdict_name(l->verdict));
        CHECK(l->change > 0.06 && l->change < 0.16);   /* 1/0.9 − 1 = 11.1% */
        const db_compare_row *tt = find_row(&r, labels[i], "ttft_ms");
        CHECK(tt && tt->verdict != DB_VERDICT_REGRESSED);
        const db_compare_row *m = find_row(&r, labels[i], "mat");
        CHECK(m && m->verdict == DB_VERDICT_UNCHANGED && m->change == 0);
        const db_compare_row *g = find_row(&r, labels[i], "greedy_identity");
        CHECK(g && g->verdict == DB_VERDICT_UNCHANGED && g->new_ == 1.0);
    }
    CHECK_NEAR(find_row(&r, "spec k=4", "mat")->base, 64.0 / 25, 1e-12);
    CHECK_INT_EQ(r.n_verdict[DB_VERDICT_REGRESSED], 6);
    /* deterministic: same seed, same CI */
    db_compare_result r2;
    if (compare(st, 1, 2, &r2) == 0) {
        CHECK(find_row(&r2, "ar", "tokens_per_s")->lo == find_row(&r, "ar", "tokens_per_s")->lo);
        db_compare_result_free(&r2);
    }
    /* markdown and CSV */
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    CHECK_INT_EQ(db_compare_write(&r, "md", f), 0);
    fclose(f);
    CHECK_CONTAINS(buf, "**decobench compare** — base: run 1 (rev r1, ");
    CHECK_CONTAINS(buf, "| label | dataset | model | metric | n base/new | base | new | change [95% CI] | p | verdict |");
    CHECK_CONTAINS(buf, "| ar | prose | target | tokens/s | 20/20 |");
    CHECK_CONTAINS(buf, "| **regressed** |");
    CHECK_CONTAINS(buf, "**6 regressed**, 0 improved,");
    free(buf);
    f = open_memstream(&buf, &len);
    CHECK_INT_EQ(db_compare_write(&r, "csv", f), 0);
    fclose(f);
    CHECK(strncmp(buf, "base_run,new_run,label,dataset,model,metric,n_base,n_new,base,new,change,change_lo,"
                       "change_hi,p,verdict,note\r\n", 97) == 0);
    CHECK_CONTAINS(buf, "\r\n1,2,\"ar sample <t=0.8> & \"\"x\"\"\",prose,target,tokens_per_s,20,20,");
    CHECK_CONTAINS(buf, "\r\n1,2,spec k=4,prose,target,mat,20,20,2.56,2.56,0,0,0,1,unchanged,\r\n");
    free(buf);
    db_compare_result_free(&r);
    db_store_close(st);
    free(path);
}

static void test_compare_noise_only(void) {
    char *path = build_compare_db();
    if (!path) return;
    char err[512];
    db_store *st = NULL;
    CHECK_INT_EQ(db_store_open_readonly(path, &st, err, sizeof err), 0);
    db_compare_result r;
    if (!st || compare(st, 1, 3, &r) != 0) {
        db_store_close(st);
        free(path);
        return;
    }
    CHECK_INT_EQ(r.n_rows, 15);
    CHECK_INT_EQ(r.n_verdict[DB_VERDICT_REGRESSED], 0);
    for (int i = 0; i < r.n_rows; i++) {
        const db_compare_row *x = &r.rows[i];
        CHECK_MSG(x->verdict != DB_VERDICT_REGRESSED && x->verdict != DB_VERDICT_IMPROVED, "%s %s: %s (%g, p %g)",
                  x->label, x->metric, db_verdict_name(x->verdict), x->change, x->p);
        if (strcmp(x->metric, "tokens_per_s") == 0) CHECK_MSG(fabs(x->change) < 0.03, "%s %g", x->label, x->change);
    }
    db_compare_result_free(&r);
    /* BASE against itself: no change, p = 1; with 20 samples of ~4% spread the
     * CI of the ratio is wider than ±2%: speed metrics read "noisy" */
    if (compare(st, 1, 1, &r) == 0) {
        CHECK_INT_EQ(r.n_verdict[DB_VERDICT_REGRESSED] + r.n_verdict[DB_VERDICT_IMPROVED], 0);
        CHECK_INT_EQ(r.n_verdict[DB_VERDICT_UNCHANGED] + r.n_verdict[DB_VERDICT_NOISY], 15);
        CHECK_NEAR(find_row(&r, "ar", "tokens_per_s")->p, 1.0, 1e-12);
        CHECK_NEAR(find_row(&r, "ar", "tokens_per_s")->change, 0.0, 0);
        db_compare_result_free(&r);
    }
    db_store_close(st);
    free(path);
}

static void test_compare_identity(void) {
    char *path = build_compare_db();
    if (!path) return;
    char err[512];
    db_store *st = NULL;
    CHECK_INT_EQ(db_store_open_readonly(path, &st, err, sizeof err), 0);
    db_compare_result r;
    if (!st || compare(st, 3, 4, &r) != 0) {
        db_store_close(st);
        free(path);
        return;
    }
    const db_compare_row *g = find_row(&r, "ar", "greedy_identity");
    CHECK(g && g->verdict == DB_VERDICT_REGRESSED);
    if (g) {
        CHECK_NEAR(g->new_, 0.9, 1e-12);
        CHECK_NEAR(g->change, -0.1, 1e-12);
    }
    g = find_row(&r, SAMPLED_LABEL, "greedy_identity");
    CHECK(g && g->verdict == DB_VERDICT_UNCHANGED && g->note && strstr(g->note, "not gated"));
    if (g) CHECK_NEAR(g->new_, 0.75, 1e-12);
    g = find_row(&r, "spec k=4", "greedy_identity");
    CHECK(g && g->verdict == DB_VERDICT_UNCHANGED && g->new_ == 1.0);
    /* #MAT: 64·20/501 vs 64/25, any change is flagged */
    const db_compare_row *m = find_row(&r, "spec k=4", "mat");
    CHECK(m && m->verdict == DB_VERDICT_REGRESSED);
    if (m) CHECK_NEAR(m->change, (64.0 * 20 / 501) / (64.0 / 25) - 1, 1e-12);
    /* speed: same draws, no change (unchanged or noisy) */
    CHECK_NEAR(find_row(&r, "ar", "tokens_per_s")->change, 0.0, 0);
    CHECK(find_row(&r, "ar", "tokens_per_s")->verdict != DB_VERDICT_REGRESSED);
    CHECK_INT_EQ(r.n_verdict[DB_VERDICT_REGRESSED], 2);
    db_compare_result_free(&r);
    db_store_close(st);
    free(path);
}

static int count_of(const char *hay, const char *needle);

/* the verdicts the other tests cannot show: run 2 (10% slower) as BASE and
 * run 1 as NEW is a speed-up, so tokens/s and latency read "improved" with
 * the mirrored change; spec's #MAT moving back up (run 4 -> 3) is an
 * improvement by the exact ratio; a run against itself reads "noisy" for
 * every speed metric (p = 1, a CI wider than 2·min_effect) and "unchanged"
 * for the exact ones; each verdict is written as such in the CSV and the
 * markdown summary */
static void test_compare_improved_and_noisy(void) {
    char *path = build_compare_db();
    if (!path) return;
    char err[512];
    db_store *st = NULL;
    CHECK_INT_EQ(db_store_open_readonly(path, &st, err, sizeof err), 0);
    db_compare_result r;
    if (!st || compare(st, 2, 1, &r) != 0) {
        db_store_close(st);
        free(path);
        return;
    }
    const char *labels[3] = { "ar", "spec k=4", SAMPLED_LABEL };
    for (int i = 0; i < 3; i++) {
        const db_compare_row *t = find_row(&r, labels[i], "tokens_per_s");
        const db_compare_row *l = find_row(&r, labels[i], "latency_ms");
        CHECK(t && l);
        if (!t || !l) continue;
        CHECK_MSG(t->verdict == DB_VERDICT_IMPROVED, "%s tokens/s: %s", labels[i], db_verdict_name(t->verdict));
        CHECK_MSG(t->change > 0.06 && t->change < 0.16, "%s change %g", labels[i], t->change);   /* 1/0.9 − 1 */
        CHECK_MSG(t->lo > 0.02 && t->lo < t->change && t->hi > t->change, "%s CI [%g, %g]", labels[i], t->lo, t->hi);
        CHECK_MSG(t->p < 0.01, "%s p %g", labels[i], t->p);
        CHECK_NEAR(t->change, t->new_ / t->base - 1, 1e-12);
        CHECK_MSG(l->verdict == DB_VERDICT_IMPROVED, "%s latency: %s", labels[i], db_verdict_name(l->verdict));
        CHECK_MSG(l->change > -0.14 && l->change < -0.06, "%s latency change %g", labels[i], l->change);   /* 0.9 − 1 */
    }
    CHECK_INT_EQ(r.n_verdict[DB_VERDICT_IMPROVED], 6);
    CHECK_INT_EQ(r.n_verdict[DB_VERDICT_REGRESSED], 0);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    CHECK_INT_EQ(db_compare_write(&r, "csv", f), 0);
    fclose(f);
    int improved_lines = 0;
    for (const char *p = buf; (p = strstr(p, "\r\n2,1,")); p += 2) {
        const char *e = strstr(p + 2, "\r\n");
        if (!e) break;
        int n = (int)(e - p);
        bool speed = strstr(p, ",tokens_per_s,") && strstr(p, ",tokens_per_s,") < e;
        bool lat = strstr(p, ",latency_ms,") && strstr(p, ",latency_ms,") < e;
        bool imp = n > 10 && memcmp(e - 10, ",improved,", 10) == 0;
        CHECK_MSG((speed || lat) == imp, "%.*s", n - 2, p + 2);
        improved_lines += imp;
    }
    CHECK_INT_EQ(improved_lines, 6);
    free(buf);
    f = open_memstream(&buf, &len);
    CHECK_INT_EQ(db_compare_write(&r, "md", f), 0);
    fclose(f);
    char summary[96];
    snprintf(summary, sizeof summary, "\n0 regressed, 6 improved, %d noisy, %d unchanged\n",
             r.n_verdict[DB_VERDICT_NOISY], r.n_verdict[DB_VERDICT_UNCHANGED]);
    CHECK_CONTAINS(buf, summary);
    CHECK_INT_EQ(r.n_verdict[DB_VERDICT_NOISY] + r.n_verdict[DB_VERDICT_UNCHANGED], 9);
    CHECK_CONTAINS(buf, "| ar | prose | target | tokens/s | 20/20 |");
    CHECK_INT_EQ(count_of(buf, " | improved |"), 6);
    free(buf);
    db_compare_result_free(&r);

    /* #MAT back up by one commit: improved by exactly (64/25) / (64·20/501) − 1 */
    if (compare(st, 4, 3, &r) == 0) {
        const db_compare_row *m = find_row(&r, "spec k=4", "mat");
        CHECK(m && m->verdict == DB_VERDICT_IMPROVED);
        if (m) CHECK_NEAR(m->change, (64.0 / 25) / (64.0 * 20 / 501) - 1, 1e-12);
        db_compare_result_free(&r);
    }

    /* a run against itself */
    if (compare(st, 1, 1, &r) == 0) {
        for (int i = 0; i < r.n_rows; i++) {
            const db_compare_row *x = &r.rows[i];
            bool speed = !strcmp(x->metric, "tokens_per_s") || !strcmp(x->metric, "latency_ms") ||
                         !strcmp(x->metric, "ttft_ms");
            CHECK_MSG(x->change == 0, "%s %s change %g", x->label, x->metric, x->change);
            if (speed) {
                CHECK_MSG(x->verdict == DB_VERDICT_NOISY && x->p == 1.0 && x->hi - x->lo > 2 * DB_COMPARE_MIN_EFFECT,
                          "%s %s: %s, p %g, CI [%g, %g]", x->label, x->metric, db_verdict_name(x->verdict), x->p, x->lo,
                          x->hi);
            } else {
                CHECK_MSG(x->verdict == DB_VERDICT_UNCHANGED, "%s %s: %s", x->label, x->metric,
                          db_verdict_name(x->verdict));
            }
        }
        CHECK_INT_EQ(r.n_verdict[DB_VERDICT_NOISY], 9);
        CHECK_INT_EQ(r.n_verdict[DB_VERDICT_UNCHANGED], 6);
        f = open_memstream(&buf, &len);
        CHECK_INT_EQ(db_compare_write(&r, "md", f), 0);
        fclose(f);
        CHECK_CONTAINS(buf, "\n0 regressed, 0 improved, 9 noisy, 6 unchanged\n");
        CHECK_INT_EQ(count_of(buf, " | noisy |"), 9);
        free(buf);
        db_compare_result_free(&r);
    }
    db_store_close(st);
    free(path);
}

/* ---- a minimal XML well-formedness check ------------------------------- */

static bool xml_entity(const char **p) {
    static const char *const ents[] = { "&amp;", "&lt;", "&gt;", "&quot;", "&apos;" };
    for (int i = 0; i < 5; i++)
        if (strncmp(*p, ents[i], strlen(ents[i])) == 0) {
            *p += strlen(ents[i]) - 1;
            return true;
        }
    return false;
}

static bool xml_name_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
           c == ':' || c == '.';
}

/* tags nest, attributes are quoted with escaped values, text has no raw '<'
 * or stray '&', one root element */
static bool xml_well_formed(const char *s, char *why, size_t wlen) {
    char stack[32][64];
    int depth = 0, roots = 0;
    const char *p = s;
    if (strncmp(p, "<?xml ", 6) == 0) {
        p = strstr(p, "?>");
        if (!p) return snprintf(why, wlen, "unterminated declaration"), false;
        p += 2;
    }
    for (; *p; p++) {
        if (*p == '&') {
            if (!xml_entity(&p)) return snprintf(why, wlen, "bad entity at %.20s", p), false;
            continue;
        }
        if (*p != '<') continue;
        p++;
        bool closing = *p == '/';
        if (closing) p++;
        char name[64];
        int n = 0;
        while (xml_name_char(*p) && n < 63) name[n++] = *p++;
        name[n] = '\0';
        if (!n) return snprintf(why, wlen, "bad tag at %.20s", p), false;
        if (closing) {
            if (*p != '>' || depth == 0 || strcmp(stack[depth - 1], name) != 0)
                return snprintf(why, wlen, "mismatched </%s>", name), false;
            depth--;
            continue;
        }
        /* attributes */
        for (;;) {
            while (*p == ' ' || *p == '\n') p++;
            if (*p == '>' || (p[0] == '/' && p[1] == '>')) break;
            int an = 0;
            while (xml_name_char(*p)) p++, an++;
            if (!an || *p != '=' || p[1] != '"') return snprintf(why, wlen, "bad attribute in <%s>", name), false;
            p += 2;
            for (; *p && *p != '"'; p++) {
                if (*p == '<') return snprintf(why, wlen, "'<' in attribute of <%s>", name), false;
                if (*p == '&' && !xml_entity(&p)) return snprintf(why, wlen, "bad entity in <%s>", name), false;
            }
            if (*p != '"') return snprintf(why, wlen, "unterminated attribute"), false;
            p++;
        }
        if (depth == 0) roots++;
        if (*p == '/') {
            p++;
            continue;
        }
        if (depth == 32) return snprintf(why, wlen, "too deep"), false;
        snprintf(stack[depth++], sizeof stack[0], "%s", name);
    }
    if (depth != 0) return snprintf(why, wlen, "%d unclosed elements", depth), false;
    if (roots != 1) return snprintf(why, wlen, "%d root elements", roots), false;
    return true;
}

static int count_of(const char *hay, const char *needle) {
    int n = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle)) n++;
    return n;
}

static int run_cmd(int (*fn)(int, char **), int n, const char **args) {
    char *argv[24];
    for (int i = 0; i < n; i++) argv[i] = (char *)args[i];
    argv[n] = NULL;
    return fn(n, argv);
}

static void test_compare_junit_and_cli(void) {
    char *path = build_compare_db();
    if (!path) return;
    char *out = db_path_join(db_test_tmpdir(), "compare.xml");
    unlink(out);
    char err[512], why[256] = "";
    /* the slowdown: exit 1, one <failure> per regression */
    const char *a1[] = { "compare", "--db", path, "1", "2", "--format", "junit", "-o", out, "--bootstrap", "500" };
    CHECK_INT_EQ(run_cmd(cmd_compare, 11, a1), 1);
    char *s = db_read_file(out, NULL, err, sizeof err);
    CHECK(s != NULL);
    if (s) {
        CHECK_MSG(xml_well_formed(s, why, sizeof why), "JUnit XML not well-formed: %s", why);
        CHECK(strncmp(s, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites ", 51) == 0);
        CHECK_CONTAINS(s, "tests=\"15\" failures=\"6\"");
        CHECK_INT_EQ(count_of(s, "<testcase "), 15);
        CHECK_INT_EQ(count_of(s, "<failure "), 6);
        CHECK_CONTAINS(s, "<testcase classname=\"decobench.ar / prose / target\" name=\"tokens_per_s\">\n"
                          "      <failure type=\"regression\" message=\"tokens/s regressed: ");
        CHECK_CONTAINS(s, "classname=\"decobench.ar sample &lt;t=0.8&gt; &amp; &quot;x&quot; / prose / target\"");
        free(s);
    }
    /* the checker itself rejects broken XML */
    CHECK(!xml_well_formed("<a><b></a></b>", why, sizeof why));
    CHECK(!xml_well_formed("<a x=\"<\"/>", why, sizeof why));
    CHECK(!xml_well_formed("<a>R&D</a>", why, sizeof why));
    /* noise only: exit 0; FILE:ID for both sides */
    char base[1100], nw[1100];
    snprintf(base, sizeof base, "%s:1", path);
    snprintf(nw, sizeof nw, "%s:3", path);
    const char *a2[] = { "compare", base, nw, "--format", "junit", "-o", out, "--bootstrap", "500" };
    CHECK_INT_EQ(run_cmd(cmd_compare, 9, a2), 0);
    s = db_read_file(out, NULL, err, sizeof err);
    if (s) {
        CHECK(xml_well_formed(s, why, sizeof why));
        CHECK_INT_EQ(count_of(s, "<failure "), 0);
        free(s);
    }
    /* identity drop: exit 1; --metric restricts; --base-db/--new-db */
    const char *a3[] = { "compare", "--base-db", path, "--new-db", path, "3", "4", "--metric", "greedy_identity",
                         "--format", "csv", "-o", out };
    CHECK_INT_EQ(run_cmd(cmd_compare, 13, a3), 1);
    s = db_read_file(out, NULL, err, sizeof err);
    if (s) {
        CHECK_INT_EQ(count_of(s, "\r\n"), 4);   /* header + 3 cases */
        CHECK_CONTAINS(s, "\r\n3,4,ar,prose,target,greedy_identity,20,20,1,0.9,");
        free(s);
    }
    const char *a4[] = { "compare", "--db", path, "3", "4", "--metric", "tps,latency", "-o", out };
    CHECK_INT_EQ(run_cmd(cmd_compare, 9, a4), 0);
    /* latest vs latest of the same file: nothing regressed */
    const char *a5[] = { "compare", "--base-db", path, "--new-db", path, "-o", out };
    CHECK_INT_EQ(run_cmd(cmd_compare, 7, a5), 0);
    /* bad input: exit 2 */
    const char *b1[] = { "compare", "--db", path, "1", "99" };
    CHECK_INT_EQ(run_cmd(cmd_compare, 5, b1), 2);
    const char *b2[] = { "compare", "--db", path, "1", "2", "--metric", "speed" };
    CHECK_INT_EQ(run_cmd(cmd_compare, 7, b2), 2);
    const char *b3[] = { "compare", "--db", path, "1" };
    CHECK_INT_EQ(run_cmd(cmd_compare, 4, b3), 2);
    const char *b4[] = { "compare", "--db", path, "1", "2", "--format", "html" };
    CHECK_INT_EQ(run_cmd(cmd_compare, 7, b4), 2);
    const char *b5[] = { "compare", "--db", path, "1", "2", "--alpha", "1.5" };
    CHECK_INT_EQ(run_cmd(cmd_compare, 7, b5), 2);
    const char *b6[] = { "compare", "no-such.db", "1" };
    CHECK_INT_EQ(run_cmd(cmd_compare, 3, b6), 2);
    free(out);
    free(path);
}

/* ---- change points ------------------------------------------------------ */

static void series(double *x, int n, int step_at, double step, uint64_t stream) {
    db_rng g = db_rng_make(7, stream);
    for (int i = 0; i < n; i++) x[i] = 100 * (i >= step_at ? 1 - step : 1) * (1 + 0.02 * db_rng_normal(&g));
}

static void test_changepoints(void) {
    double x[40];
    int idx[8];
    double p[8];
    series(x, 20, 10, 0.10, 1);
    int n = db_changepoints(x, 20, 3, 999, 0.01, 1, idx, p, 8);
    CHECK_INT_EQ(n, 1);
    if (n >= 1) {
        CHECK_INT_EQ(idx[0], 10);
        CHECK(p[0] < 0.01);
    }
    /* flat noise: none (several draws) */
    for (uint64_t s = 2; s < 6; s++) {
        series(x, 20, 20, 0, s);
        n = db_changepoints(x, 20, 3, 999, 0.01, 1, idx, p, 8);
        CHECK_MSG(n == 0, "flat series %llu: %d change points (first at %d)", (unsigned long long)s, n,
                  n > 0 ? idx[0] : -1);
    }
    /* two steps, up then down: both found */
    series(x, 30, 30, 0, 9);
    for (int i = 10; i < 20; i++) x[i] *= 1.15;
    n = db_changepoints(x, 30, 3, 999, 0.01, 1, idx, p, 8);
    CHECK_INT_EQ(n, 2);
    if (n == 2) {
        CHECK_INT_EQ(idx[0], 10);
        CHECK_INT_EQ(idx[1], 20);
    }
    /* step near the edge respects the minimum segment; too short series */
    series(x, 20, 2, 0.2, 4);
    n = db_changepoints(x, 20, 3, 999, 0.01, 1, idx, p, 8);
    CHECK(n == 0 || idx[0] >= 3);
    CHECK_INT_EQ(db_changepoints(x, 5, 3, 999, 0.01, 1, idx, p, 8), 0);
    /* constant series: none */
    for (int i = 0; i < 20; i++) x[i] = 5;
    CHECK_INT_EQ(db_changepoints(x, 20, 3, 999, 0.01, 1, idx, p, 8), 0);
}

/* the permutation test's error rates on simulated series: flat noise gives
 * a change point in about alpha of the series (binary segmentation stops at
 * the first test), and a 6% step in 2% noise is found in nearly all (the
 * early stop of a segment's permutations must not change either) */
static void test_changepoint_rates(void) {
    double x[40];
    int idx[8];
    double p[8];
    int false_pos = 0, found = 0, at_step = 0;
    const int trials = 400;
    for (int s = 0; s < trials; s++) {
        series(x, 30, 30, 0, 1000 + (uint64_t)s);
        if (db_changepoints(x, 30, 3, 999, 0.01, (uint64_t)s, idx, p, 8) > 0) false_pos++;
        series(x, 30, 15, 0.06, 5000 + (uint64_t)s);
        int n = db_changepoints(x, 30, 3, 999, 0.01, (uint64_t)s, idx, p, 8);
        if (n > 0) found++;
        for (int k = 0; k < n && k < 8; k++)
            if (idx[k] >= 14 && idx[k] <= 16) at_step++;
    }
    printf("    change points: %d/%d flat series, step found in %d/%d (%d within one run)\n", false_pos, trials,
           found, trials, at_step);
    /* Binomial(400, 0.01): mean 4, P(X >= 13) < 0.001 */
    CHECK_MSG(false_pos <= 12, "%d of %d flat series have a change point (alpha 0.01)", false_pos, trials);
    CHECK_MSG(found >= trials * 95 / 100, "a 6%% step found in %d of %d series", found, trials);
    CHECK_MSG(at_step >= trials * 85 / 100, "the step placed within one run in %d of %d series", at_step, trials);
}

/* 20 runs of one case, 4 samples each; tokens/s drops 10% from run 11 on */
static void test_history(void) {
    char *path = db_test_fresh_db_path("history.db");
    int64_t mid = 0;
    db_store *st = db_test_open_store(path, "fp", &mid);
    if (!st) {
        free(path);
        return;
    }
    int rc = 0;
    for (int r = 0; r < 20; r++) {
        char cfg[32], rev[32];
        snprintf(cfg, sizeof cfg, "{\"n\":%d}", r);
        snprintf(rev, sizeof rev, "v1-%02d", r);
        int64_t run = begin_run(st, mid, cfg, rev);
        db_case_record c = { 0, "ar", "ar", "{}", "target", "/m/t.gguf", "ab12", "t", 1, 1, NULL, NULL, NULL,
                             "prose", 4, "completed", 0, 0 };
        db_sample_record s[4];
        memset(s, 0, sizeof s);
        db_rng g = db_rng_make(11, (uint64_t)r);
        for (int i = 0; i < 4; i++) {
            s[i].prompt_idx = i;
            s[i].m.tokens_per_s = 100 * (r >= 10 ? 0.9 : 1.0) * (1 + 0.02 * db_rng_normal(&g));
            s[i].m.latency_ms = 640;
            s[i].m.ttft_ms = 20;
            s[i].m.mat = 1;
            s[i].m.n_commits = 64;
            s[i].m.tpot_ms = NAN;
            s[i].m.acceptance_rate = NAN;
        }
        rc |= db_store_case(st, run, &c, s, 4, NULL);
        rc |= db_store_run_finish(st, run, "completed");
    }
    db_store_close(st);
    CHECK_INT_EQ(rc, 0);
    char err[512] = "";
    CHECK_INT_EQ(db_store_open_readonly(path, &st, err, sizeof err), 0);
    if (!st) {
        free(path);
        return;
    }
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    db_history_opts o = { "tokens_per_s", NULL, "md", 0, 0, 0, 1 };
    int nch = -1;
    CHECK_INT_EQ(db_history(st, &o, f, &nch, err, sizeof err), 0);
    fclose(f);
    CHECK_INT_EQ(nch, 1);
    CHECK_CONTAINS(buf, "### ar — prose — target\n");
    CHECK_CONTAINS(buf, "| 11 | v1-10 | ");
    CHECK_INT_EQ(count_of(buf, "**shift "), 1);
    /* the marked row is run 11 */
    const char *mark = strstr(buf, "**shift ");
    const char *line = mark;
    while (line && line > buf && line[-1] != '\n') line--;
    CHECK(line && strncmp(line, "| 11 |", 6) == 0);
    CHECK_CONTAINS(buf, "**shift -10.");
    CHECK_CONTAINS(buf, "\n1 change point\n");
    free(buf);
    /* csv; flat metric (latency): no change point */
    f = open_memstream(&buf, &len);
    db_history_opts o2 = { "latency", NULL, "csv", 0, 0, 0, 1 };
    o2.metric = db_compare_metric("latency", 1);
    CHECK_INT_EQ(db_history(st, &o2, f, &nch, err, sizeof err), 0);
    fclose(f);
    CHECK_INT_EQ(nch, 0);
    CHECK(strncmp(buf, "label,dataset,model,run_id,revision,started_at,n,value,change_point,shift,p\r\n", 77) == 0);
    CHECK_INT_EQ(count_of(buf, "\r\n"), 21);
    CHECK_CONTAINS(buf, "\r\nar,prose,target,1,v1-00,");
    free(buf);
    /* errors */
    f = open_memstream(&buf, &len);
    db_history_opts o3 = { "tokens_per_s", "nope", "md", 0, 0, 0, 1 };
    CHECK_INT_EQ(db_history(st, &o3, f, &nch, err, sizeof err), -1);
    CHECK_STR_EQ(err, "no case labelled 'nope'");
    fclose(f);
    free(buf);
    db_store_close(st);
    /* the command */
    char *out = db_path_join(db_test_tmpdir(), "history.md");
    const char *a1[] = { "history", "--db", path, "--metric", "tps", "--case", "ar", "-o", out };
    CHECK_INT_EQ(run_cmd(cmd_history, 9, a1), 0);
    char *s = db_read_file(out, NULL, err, sizeof err);
    CHECK_CONTAINS(s, "**shift ");
    free(s);
    const char *b1[] = { "history", "--db", path };
    CHECK_INT_EQ(run_cmd(cmd_history, 3, b1), 2);
    const char *b2[] = { "history", "--db", path, "--metric", "greedy_identity" };
    CHECK_INT_EQ(run_cmd(cmd_history, 5, b2), 2);
    const char *b3[] = { "history", "--db", path, "--metric", "mat", "--case", "zzz" };
    CHECK_INT_EQ(run_cmd(cmd_history, 7, b3), 2);
    free(out);
    free(path);
}

/* ---- merge ------------------------------------------------------------- */

static const char *const TABLES[] = { "machine", "run", "run_counter", "\"case\"", "sample", "sample_counter",
                                      "step_event" };
#define NT 7

static void row_counts(const char *path, int64_t *n) {
    sqlite3 *db = NULL;
    for (int i = 0; i < NT; i++) n[i] = -1;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        sqlite3_close(db);
        return;
    }
    for (int i = 0; i < NT; i++) {
        char sql[64];
        sqlite3_stmt *s = NULL;
        snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM %s", TABLES[i]);
        if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW)
            n[i] = sqlite3_column_int64(s, 0);
        sqlite3_finalize(s);
    }
    sqlite3_close(db);
}

static int64_t query_int(const char *path, const char *sql) {
    sqlite3 *db = NULL;
    sqlite3_stmt *s = NULL;
    int64_t v = -1;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
        sqlite3_prepare_v2(db, sql, -1, &s, NULL) == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW)
        v = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    sqlite3_close(db);
    return v;
}

static char *build_shard(const char *name, bool second) {
    char *path = db_test_fresh_db_path(name);
    int64_t ma = 0, mb = 0;
    db_store *st = db_test_open_store(path, "fpA", &ma);
    if (!st) {
        free(path);
        return NULL;
    }
    const variant v = { 1.0, second ? 5 : 4, 0, 0 };
    int rc = 0;
    if (!second) {
        rc |= add_run(st, ma, "{\"shard\":\"A1\"}", "r1", &v, NULL, NULL);
        rc |= add_run(st, ma, "{\"shard\":\"A2\"}", "r1", &v, NULL, NULL);
    } else {
        db_machine m;
        memset(&m, 0, sizeof m);
        snprintf(m.cpu_model, sizeof m.cpu_model, "Other CPU");
        snprintf(m.fingerprint, sizeof m.fingerprint, "fpB");
        rc |= db_store_machine(st, &m, &mb);
        rc |= add_run(st, ma, "{\"shard\":\"B1\"}", "r1", &v, NULL, NULL);
        rc |= add_run(st, mb, "{\"shard\":\"B2\"}", "r1", &v, NULL, NULL);
    }
    /* the identity verdicts of each run, as a run stores them */
    for (int64_t run = 1; run <= 2 && rc == 0; run++) {
        char err[256];
        rc |= db_identity_check_run(db_store_handle(st), run, NULL, NULL, err, sizeof err);
    }
    db_store_close(st);
    CHECK_INT_EQ(rc, 0);
    return path;
}

static int cmp_cstr(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static char *query_text(const char *path, const char *sql) {
    sqlite3 *db = NULL;
    sqlite3_stmt *s = NULL;
    char *v = NULL;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
        sqlite3_prepare_v2(db, sql, -1, &s, NULL) == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW)
        v = db_strdup(sqlite3_column_text(s, 0) ? (const char *)sqlite3_column_text(s, 0) : "");
    sqlite3_finalize(s);
    sqlite3_close(db);
    return v ? v : db_strdup("?");
}

static void test_merge(void) {
    char *a = build_shard("merge-a.db", false), *b = build_shard("merge-b.db", true);
    char *all = db_test_fresh_db_path("merge-all.db"), *all2 = db_test_fresh_db_path("merge-all2.db");
    if (!a || !b) goto done;
    int64_t na[NT], nb[NT], n1[NT], n2[NT], n3[NT];
    row_counts(a, na);
    row_counts(b, nb);
    CHECK_INT_EQ(na[1], 2);
    CHECK_INT_EQ(na[4], 2 * 3 * NS);
    /* A alone into a new file, then A and B into it (A again: nothing new) */
    const char *m1[] = { "merge", a, "-o", all };
    CHECK_INT_EQ(run_cmd(cmd_merge, 4, m1), 0);
    char side[1100];
    snprintf(side, sizeof side, "%s-wal", all);
    CHECK(!db_file_exists(side));   /* checkpointed before the rename */
    row_counts(all, n1);
    for (int i = 0; i < NT; i++) CHECK_MSG(n1[i] == na[i], "%s: %lld vs %lld", TABLES[i], (long long)n1[i],
                                           (long long)na[i]);
    const char *m2[] = { "merge", a, b, "-o", all };
    CHECK_INT_EQ(run_cmd(cmd_merge, 5, m2), 0);
    row_counts(all, n2);
    CHECK_INT_EQ(n2[0], 2);   /* fpA once, fpB */
    for (int i = 1; i < NT; i++)
        CHECK_MSG(n2[i] == na[i] + nb[i], "%s: %lld vs %lld + %lld", TABLES[i], (long long)n2[i], (long long)na[i],
                  (long long)nb[i]);
    /* idempotent */
    const char *m3[] = { "merge", b, a, "-o", all };
    CHECK_INT_EQ(run_cmd(cmd_merge, 5, m3), 0);
    row_counts(all, n3);
    for (int i = 0; i < NT; i++) CHECK_INT_EQ(n3[i], n2[i]);
    /* runs keep their machine; children point at the right parents */
    CHECK_INT_EQ(query_int(all, "SELECT COUNT(*) FROM run r JOIN machine m ON m.id = r.machine_id"
                                " WHERE m.fingerprint = 'fpA'"), 3);
    CHECK_INT_EQ(query_int(all, "SELECT COUNT(*) FROM sample s JOIN \"case\" c ON c.id = s.case_id"
                                " JOIN run r ON r.id = c.run_id JOIN machine m ON m.id = r.machine_id"
                                " WHERE m.fingerprint = 'fpB'"), 3 * NS);
    CHECK_INT_EQ(query_int(all, "SELECT COUNT(*) FROM pragma_foreign_key_check"), 0);
    CHECK_INT_EQ(query_int(all, "SELECT COUNT(*) FROM step_event e LEFT JOIN sample s ON s.id = e.sample_id"
                                " WHERE s.id IS NULL"), 0);
    CHECK_INT_EQ(query_int(all, "SELECT COUNT(DISTINCT config_json) FROM run"), 4);
    /* identity verdicts come along, under the merged case ids */
    {
        static const char *IDQ = "SELECT group_concat(v, '|') FROM (SELECT r.config_json || ':' || c.label || ':' ||"
                                 " i.n_identical || '/' || i.n_compared || ':' || b.label AS v FROM identity i"
                                 " JOIN \"case\" c ON c.id = i.case_id JOIN \"case\" b ON b.id = i.baseline_case_id"
                                 " JOIN run r ON r.id = i.run_id ORDER BY v)";
        char *ia = query_text(a, IDQ), *ib = query_text(b, IDQ), *im = query_text(all, IDQ);
        CHECK_CONTAINS(ia, "spec k=4:");
        db_str both;
        db_str_init(&both);
        db_str_printf(&both, "%s|%s", ia, ib);
        char *want = db_str_take(&both);
        if (want) {
            /* the merged list is the two sources' lists, sorted together */
            char *w = want, *tok[16];
            int nt = 0;
            for (char *t = strtok(w, "|"); t && nt < 16; t = strtok(NULL, "|")) tok[nt++] = t;
            qsort(tok, (size_t)nt, sizeof *tok, cmp_cstr);
            db_str j;
            db_str_init(&j);
            for (int i = 0; i < nt; i++) db_str_printf(&j, "%s%s", i ? "|" : "", tok[i]);
            char *joined = db_str_take(&j);
            CHECK_STR_EQ(im, joined ? joined : "?");
            free(joined);
        }
        free(want);
        free(ia);
        free(ib);
        free(im);
    }
    /* the merged copy compares equal to its source: nothing changed */
    {
        char err[512];
        db_store *sa = NULL, *sm = NULL;
        db_compare_result r;
        db_compare_opts o = { NULL, 0, DB_COMPARE_MIN_EFFECT, DB_COMPARE_ALPHA, 200, 1 };
        if (db_store_open_readonly(a, &sa, err, sizeof err) == 0 &&
            db_store_open_readonly(all, &sm, err, sizeof err) == 0 &&
            db_compare_runs(sa, 1, sm, 1, &o, &r, err, sizeof err) == 0) {
            CHECK_INT_EQ(r.n_rows, 16);   /* 5 metrics × 3 cases, and identical-to-ar of spec */
            CHECK_INT_EQ(r.n_verdict[DB_VERDICT_REGRESSED] + r.n_verdict[DB_VERDICT_IMPROVED], 0);
            for (int i = 0; i < r.n_rows; i++) CHECK(r.rows[i].change == 0);
            CHECK_NEAR(find_row(&r, "ar", "tokens_per_s")->p, 1.0, 1e-12);
            db_compare_result_free(&r);
        } else CHECK_MSG(0, "%s", err);
        db_store_close(sa);
        db_store_close(sm);
    }
    /* both at once into a second new file: the same rows */
    const char *m4[] = { "merge", a, b, a, "--output", all2 };
    CHECK_INT_EQ(run_cmd(cmd_merge, 6, m4), 0);
    int64_t n4[NT];
    row_counts(all2, n4);
    for (int i = 0; i < NT; i++) CHECK_INT_EQ(n4[i], n2[i]);
    /* refusals: a foreign SQLite file (as source or output), a missing source, no -o */
    char *foreign = db_test_fresh_db_path("foreign.db");
    sqlite3 *db = NULL;
    if (sqlite3_open(foreign, &db) == SQLITE_OK)
        sqlite3_exec(db, "CREATE TABLE foo(x); INSERT INTO foo VALUES(1);", NULL, NULL, NULL);
    sqlite3_close(db);
    char *none = db_test_fresh_db_path("merge-none.db");
    const char *r1[] = { "merge", a, foreign, "-o", none };
    CHECK_INT_EQ(run_cmd(cmd_merge, 5, r1), 2);
    CHECK(!db_file_exists(none));
    const char *r2[] = { "merge", a, "-o", foreign };
    CHECK_INT_EQ(run_cmd(cmd_merge, 4, r2), 2);
    CHECK_INT_EQ(query_int(foreign, "SELECT COUNT(*) FROM sqlite_master"), 1);
    const char *r3[] = { "merge", "no-such-file.db", "-o", none };
    CHECK_INT_EQ(run_cmd(cmd_merge, 4, r3), 2);
    const char *r4[] = { "merge", a };
    CHECK_INT_EQ(run_cmd(cmd_merge, 2, r4), 2);
    CHECK(!db_file_exists(none));
    free(foreign);
    free(none);
done:
    free(a);
    free(b);
    free(all);
    free(all2);
}

/* The #MAT change interval (db_cmp_mat_ratio_ci): coverage of the true
 * change by simulation, for the delta-method interval above 400 samples
 * and the bootstrap below.  Samples are Spec-Bench-like: commits per
 * sample 5..60, tokens per commit around 1 + 1.6 with per-prompt spread,
 * the same law on both sides (true change 0).  95% intervals must cover it
 * 93.5-96.5% of the time (binomial sd 0.5% at 2,000 trials): too narrow
 * and too wide both fail. */
static double mat_coverage(int nb, int nn, int trials, int B) {
    db_rng g = db_rng_make(20261207, (uint64_t)(nb * 7919 + nn));
    double *y = malloc((size_t)(nb + nn) * sizeof *y), *w = malloc((size_t)(nb + nn) * sizeof *w);
    int cover = 0, valid = 0;
    for (int t = 0; t < trials && y && w; t++) {
        for (int i = 0; i < nb + nn; i++) {
            int commits = 5 + (int)(db_rng_uniform(&g) * 56);
            double per = 1 + 1.6 * exp(0.35 * db_rng_normal(&g) - 0.06);   /* E = 2.6 */
            w[i] = commits;
            y[i] = 0;
            for (int c = 0; c < commits; c++) y[i] += per + (db_rng_uniform(&g) - 0.5);
        }
        double lo, hi;
        db_cmp_mat_ratio_ci(y, w, nb, y + nb, w + nb, nn, B, 0.05, 1234, (uint64_t)t, &lo, &hi);
        if (!isfinite(lo) || !isfinite(hi)) continue;
        valid++;
        cover += lo <= 0 && 0 <= hi;
    }
    free(y);
    free(w);
    return valid == trials ? (double)cover / trials : -1;
}

static void test_mat_interval_coverage(void) {
    double c = mat_coverage(201, 201, 2000, 0);   /* the delta method: above 400 in all */
    printf("    #MAT change: delta-method coverage at 201 + 201 samples %.4f\n", c);
    CHECK(c >= 0.935 && c <= 0.965);
    c = mat_coverage(1000, 1000, 1000, 0);
    printf("    #MAT change: delta-method coverage at 1000 + 1000 samples %.4f\n", c);
    CHECK(c >= 0.93 && c <= 0.97);
    /* the bootstrap below the threshold (B 400, fewer trials: O(B·n) each) */
    c = mat_coverage(100, 100, 400, 400);
    printf("    #MAT change: bootstrap coverage at 100 + 100 samples %.4f\n", c);
    CHECK(c >= 0.91 && c <= 0.98);
    /* a change of +8% in the new side's tokens per commit is found (power) */
    db_rng g = db_rng_make(7, 7);
    double y[600], w[600];
    int found = 0;
    for (int t = 0; t < 50; t++) {
        for (int i = 0; i < 600; i++) {
            w[i] = 5 + (int)(db_rng_uniform(&g) * 56);
            y[i] = w[i] * (2.6 + 0.5 * db_rng_normal(&g)) * (i >= 300 ? 1.08 : 1.0);
        }
        double lo, hi;
        db_cmp_mat_ratio_ci(y, w, 300, y + 300, w + 300, 300, 0, 0.05, 1, (uint64_t)t, &lo, &hi);
        found += lo > 0;
    }
    CHECK_MSG(found >= 45, "+8%% found in %d of 50", found);
}

void suite_compare(void) {
    RUN(test_mat_interval_coverage);
    RUN(test_compare_slowdown);
    RUN(test_compare_noise_only);
    RUN(test_compare_identity);
    RUN(test_compare_improved_and_noisy);
    RUN(test_compare_junit_and_cli);
    RUN(test_changepoints);
    RUN(test_changepoint_rates);
    RUN(test_history);
    RUN(test_merge);
}
