/* regret.c — the regret of adaptive draft-length controllers against the
 * best fixed setting in hindsight (definitions in regret.h). */
#include "regret.h"
#include "format.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "harness/run/store_read.h"
#include "harness/util/util.h"

/* a case's "adaptive" parameter: 1 when set to something other than "off" */
static bool is_adaptive(const char *params_json) {
    cJSON *p = params_json ? cJSON_Parse(params_json) : NULL;
    const cJSON *a = p ? cJSON_GetObjectItemCaseSensitive(p, "adaptive") : NULL;
    bool yes = cJSON_IsString(a) && strcmp(a->valuestring, "off") != 0;
    cJSON_Delete(p);
    return yes;
}

static bool same_str(const char *a, const char *b) { return (!a && !b) || (a && b && strcmp(a, b) == 0); }

static bool controller_key(const char *k) {
    return !strcmp(k, "k") || !strcmp(k, "adaptive") || !strcmp(k, "ucb_c") || !strcmp(k, "exp3_gamma");
}

/* whether fixed case f is one of adaptive case a's arms: the same parameters
 * but for the controller's (k, adaptive, ucb_c, exp3_gamma), and a k within
 * a's arms 1..k */
static bool is_arm_of(const char *a_json, const char *f_json) {
    cJSON *a = a_json ? cJSON_Parse(a_json) : NULL, *f = f_json ? cJSON_Parse(f_json) : NULL;
    bool ok = cJSON_IsObject(a) && cJSON_IsObject(f);
    for (int pass = 0; ok && pass < 2; pass++) {
        const cJSON *x = pass ? f : a, *y = pass ? a : f, *it;
        cJSON_ArrayForEach(it, x) {
            if (!it->string || controller_key(it->string)) continue;
            const cJSON *other = cJSON_GetObjectItemCaseSensitive(y, it->string);
            if (!other || !cJSON_Compare(it, other, true)) { ok = false; break; }
        }
    }
    if (ok) {
        const cJSON *ka = cJSON_GetObjectItemCaseSensitive(a, "k"), *kf = cJSON_GetObjectItemCaseSensitive(f, "k");
        ok = cJSON_IsNumber(ka) && cJSON_IsNumber(kf) && kf->valuedouble >= 1 && kf->valuedouble <= ka->valuedouble;
    }
    cJSON_Delete(a);
    cJSON_Delete(f);
    return ok;
}

/* the samples of a case, keyed */
typedef struct ksamples {
    db_sample_info *s;
    int n;
} ksamples;

static int cmp_key(const void *pa, const void *pb) {
    const db_sample_info *a = pa, *b = pb;
    if (a->prompt_idx != b->prompt_idx) return a->prompt_idx < b->prompt_idx ? -1 : 1;
    if (a->rep != b->rep) return a->rep < b->rep ? -1 : 1;
    if (a->turn != b->turn) return a->turn < b->turn ? -1 : 1;
    return 0;
}

/* the sample of k (sorted by cmp_key) with x's key, or NULL */
static const db_sample_info *find_key(const ksamples *k, const db_sample_info *x) {
    return k->n > 0 ? bsearch(x, k->s, (size_t)k->n, sizeof *k->s, cmp_key) : NULL;
}

static void put_text(FILE *out, bool md, const char *s, int first) {
    if (md) db_md_cell(out, s ? s : "–");
    else db_csv_field(out, s ? s : "", first);
}

int db_report_regret(db_store *st, const db_report_opts *o, FILE *out, char *err, size_t errlen) {
    const char *fmt = o->format ? o->format : "md";
    bool md = strcmp(fmt, "md") == 0;
    if (!md && strcmp(fmt, "csv") != 0)
        return db_errf(err, errlen, "--regret: format '%s' not supported (md or csv)", fmt);
    db_run_info ri;
    if (db_store_read_run(st, o->run_id, &ri, err, errlen) != 0) return -1;
    int64_t run = ri.id;
    db_run_info_free(&ri);
    db_case_info *cs = NULL;
    int nc = 0;
    if (db_store_read_cases(st, run, NULL, &cs, &nc, err, errlen) != 0) return -1;
    ksamples *ks = calloc((size_t)(nc > 0 ? nc : 1), sizeof *ks);
    bool *adaptive = calloc((size_t)(nc > 0 ? nc : 1), sizeof *adaptive);
    int *cmp = malloc((size_t)(nc > 0 ? nc : 1) * sizeof *cmp);
    int rc = -1, rows = 0;
    if (!ks || !adaptive || !cmp) {
        db_errf(err, errlen, "out of memory");
        goto done;
    }
    for (int i = 0; i < nc; i++) {
        adaptive[i] = is_adaptive(cs[i].params_json);
        if (db_store_read_samples(st, cs[i].id, 0, false, &ks[i].s, &ks[i].n, err, errlen) != 0) goto done;
        if (ks[i].n > 1) qsort(ks[i].s, (size_t)ks[i].n, sizeof *ks[i].s, cmp_key);
    }
    if (md)
        fprintf(out, "## Adaptive draft length: regret against the best fixed setting in hindsight (run %lld)\n\n"
                     "| adaptive case | dataset | model | fixed cases | prompts | rounds | best fixed (rounds) "
                     "| its rounds | regret (rounds) | regret | best fixed (latency) | latency regret |\n"
                     "|---|---|---|---:|---:|---:|---|---:|---:|---:|---|---:|\n",
                (long long)run);
    else
        fputs("table,adaptive_case,dataset,model,fixed_cases,prompts,rounds,best_fixed_rounds_case,best_fixed_rounds,"
              "regret_rounds,regret_rounds_rel,best_fixed_latency_case,latency_regret_rel\n",
              out);
    for (int a = 0; a < nc; a++) {
        if (!adaptive[a]) continue;
        int ncmp = 0;
        for (int f = 0; f < nc; f++)
            if (f != a && !adaptive[f] && same_str(cs[f].engine, cs[a].engine) &&
                same_str(cs[f].dataset, cs[a].dataset) && same_str(cs[f].model_sha256, cs[a].model_sha256) &&
                same_str(cs[f].draft_name, cs[a].draft_name) && is_arm_of(cs[a].params_json, cs[f].params_json))
                cmp[ncmp++] = f;
        /* totals over the keys every comparator has */
        double rounds_a = 0, lat_a = 0, *rounds_f = calloc((size_t)(ncmp > 0 ? ncmp : 1), sizeof *rounds_f),
               *lat_f = calloc((size_t)(ncmp > 0 ? ncmp : 1), sizeof *lat_f);
        const db_sample_info **m = calloc((size_t)(ncmp > 0 ? ncmp : 1), sizeof *m);
        if (!rounds_f || !lat_f || !m) {
            free(rounds_f);
            free(lat_f);
            free(m);
            db_errf(err, errlen, "out of memory");
            goto done;
        }
        int prompts = 0;
        for (int i = 0; i < ks[a].n && ncmp > 0; i++) {
            const db_sample_info *x = &ks[a].s[i];
            bool all = true;
            for (int j = 0; j < ncmp && all; j++) all = (m[j] = find_key(&ks[cmp[j]], x)) != NULL;
            if (!all) continue;
            prompts++;
            rounds_a += (double)x->n_commits;
            lat_a += x->latency_ms;
            for (int j = 0; j < ncmp; j++) {
                rounds_f[j] += (double)m[j]->n_commits;
                lat_f[j] += m[j]->latency_ms;
            }
        }
        int best_r = -1, best_l = -1;
        for (int j = 0; j < ncmp && prompts > 0; j++) {
            if (best_r < 0 || rounds_f[j] < rounds_f[best_r]) best_r = j;
            if (isfinite(lat_f[j]) && (best_l < 0 || lat_f[j] < lat_f[best_l])) best_l = j;
        }
        double reg = best_r >= 0 ? rounds_a - rounds_f[best_r] : NAN;
        double reg_rel = best_r >= 0 && rounds_f[best_r] > 0 ? reg / rounds_f[best_r] : NAN;
        double lat_rel = best_l >= 0 && lat_f[best_l] > 0 && isfinite(lat_a) ? lat_a / lat_f[best_l] - 1 : NAN;
        if (md) fputc('|', out);
        else db_csv_field(out, "regret", 1);
        put_text(out, md, cs[a].label, 0);
        put_text(out, md, cs[a].dataset, 0);
        put_text(out, md, cs[a].model_name, 0);
        db_md_csv_num(out, md, ncmp, "%.0f");
        db_md_csv_num(out, md, prompts, "%.0f");
        db_md_csv_num(out, md, prompts ? rounds_a : NAN, "%.0f");
        put_text(out, md, best_r >= 0 ? cs[cmp[best_r]].label : NULL, 0);
        db_md_csv_num(out, md, best_r >= 0 ? rounds_f[best_r] : NAN, "%.0f");
        db_md_csv_num(out, md, reg, "%+.0f");
        if (md) db_md_csv_num(out, md, 100 * reg_rel, "%+.1f%%");
        else db_md_csv_num(out, md, reg_rel, "%g");
        put_text(out, md, best_l >= 0 ? cs[cmp[best_l]].label : NULL, 0);
        if (md) db_md_csv_num(out, md, 100 * lat_rel, "%+.1f%%");
        else db_md_csv_num(out, md, lat_rel, "%g");
        fputc('\n', out);
        rows++;
        free(rounds_f);
        free(lat_f);
        free(m);
    }
    if (md && rows == 0) fputs("| (no case with an adaptive draft length) | | | | | | | | | | | |\n", out);
    if (md) fputc('\n', out);
    rc = 0;
done:
    for (int i = 0; ks && i < nc; i++) db_sample_infos_free(ks[i].s, ks[i].n);
    free(ks);
    free(adaptive);
    free(cmp);
    db_case_infos_free(cs, nc);
    return rc;
}
