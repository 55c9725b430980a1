/* html_serving.c — the HTML report's serving charts (serving.h,
 * db_html_serving_charts): latency–throughput curves across a sweep of
 * serving cases, the way GuideLLM and vLLM's benchmark results are read —
 * each sweep (cases alike in everything but "concurrency" or "rate", on the
 * same dataset and model) one line, its points the cases in the order of
 * the swept value, x the output tokens/s the server delivered, y the E2E
 * latency p50 (first chart) and the TTFT p90 (second chart).
 */
#include "serving.h"
#include "svg.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "harness/run/store_read.h"
#include "harness/util/util.h"

typedef struct point {
    int sweep;          /* index of its sweep */
    double swept;       /* concurrency or rate */
    db_serving_stats st;
} point;

/* "llama-server concurrency=4" -> "llama-server" (the entry's label) */
static char *sweep_name(const char *label, const char *dataset, bool multi_ds) {
    db_str b;
    db_str_init(&b);
    const char *cut = strstr(label, " concurrency=");
    const char *cut2 = strstr(label, " rate=");
    if (!cut || (cut2 && cut2 < cut)) cut = cut2;
    db_str_printf(&b, "%.*s", cut ? (int)(cut - label) : (int)strlen(label), label);
    if (multi_ds) db_str_printf(&b, " \xC2\xB7 %s", dataset);
    return db_str_take(&b);
}

/* what makes a sweep: the suite entry (label without its swept value), model,
 * dataset and the parameters other than the swept one; and the swept value */
static char *sweep_key(const db_case_info *c, double *swept) {
    cJSON *p = cJSON_Parse(c->params_json ? c->params_json : "{}");
    *swept = NAN;
    if (!p) return NULL;
    const cJSON *load = cJSON_GetObjectItemCaseSensitive(p, "load");
    const char *axis = cJSON_IsString(load) && !strcmp(load->valuestring, "open") ? "rate" : "concurrency";
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(p, axis);
    if (cJSON_IsNumber(v)) *swept = v->valuedouble;
    cJSON_DeleteItemFromObjectCaseSensitive(p, axis);
    char *params = cJSON_PrintUnformatted(p);
    cJSON_Delete(p);
    if (!params) return NULL;
    char *entry = sweep_name(c->label, "", false);   /* the suite entry (its server) */
    db_str k;
    db_str_init(&k);
    db_str_printf(&k, "%s|%s|%s|%s|%s", entry ? entry : "", c->model_name ? c->model_name : "",
                  c->dataset ? c->dataset : "", axis, params);
    free(params);
    free(entry);
    return db_str_take(&k);
}

static int cmp_point(const void *a, const void *b) {
    const point *x = a, *y = b;
    if (x->sweep != y->sweep) return x->sweep < y->sweep ? -1 : 1;
    return x->swept < y->swept ? -1 : x->swept > y->swept;
}

int db_html_serving_charts(FILE *out, db_store *st, int64_t run_id, char *err, size_t errlen) {
    db_case_info *cases = NULL;
    int nc = 0;
    if (db_store_read_cases(st, run_id, NULL, &cases, &nc, err, errlen) != 0) return -1;
    point *pts = calloc((size_t)nc + 1, sizeof *pts);
    char **keys = calloc((size_t)nc + 1, sizeof *keys);
    int *first = calloc((size_t)nc + 1, sizeof *first);
    int n = 0, ns = 0, rc = pts && keys && first ? 0 : db_errf(err, errlen, "out of memory");
    bool multi_ds = false;
    for (int i = 0; rc == 0 && i < nc; i++) {
        if (strcmp(cases[i].engine, "serve") != 0) continue;
        double swept;
        char *key = sweep_key(&cases[i], &swept);
        if (!key) {
            rc = db_errf(err, errlen, "out of memory");
            break;
        }
        int s = -1;
        for (int k = 0; k < ns && s < 0; k++)
            if (!strcmp(keys[k], key)) s = k;
        if (s < 0) {
            keys[ns] = key;
            first[ns] = i;
            s = ns++;
        } else {
            free(key);
        }
        if (strcmp(cases[i].dataset, cases[first[0]].dataset) != 0) multi_ds = true;
        pts[n].sweep = s;
        pts[n].swept = swept;
        if (db_serving_case_stats(st, cases[i].id, &pts[n].st, err, errlen) != 0) rc = -1;
        else n++;
    }
    if (rc == 0 && n > 0) {
        qsort(pts, (size_t)n, sizeof *pts, cmp_point);
        db_svg_series *series = calloc((size_t)ns, sizeof *series);
        double *x = malloc(sizeof *x * (size_t)n), *y1 = malloc(sizeof *y1 * (size_t)n), *y2 = malloc(sizeof *y2 * (size_t)n);
        char **names = calloc((size_t)ns, sizeof *names);
        if (!series || !x || !y1 || !y2 || !names) {
            rc = db_errf(err, errlen, "out of memory");
        } else {
            int at = 0;
            for (int s = 0; s < ns; s++) {
                names[s] = sweep_name(cases[first[s]].label, cases[first[s]].dataset, multi_ds);
                series[s] = (db_svg_series){ .name = names[s] ? names[s] : "", .x = x + at, .y = y1 + at, .n = 0,
                                             .style = DB_SVG_LINES_POINTS, .color = s };
                for (int k = 0; k < n; k++)
                    if (pts[k].sweep == s) {
                        x[at + series[s].n] = pts[k].st.out_tok_per_s;
                        y1[at + series[s].n] = pts[k].st.e2e[DB_SERVING_P50];
                        y2[at + series[s].n] = pts[k].st.ttft[DB_SERVING_P90];
                        series[s].n++;
                    }
                at += series[s].n;
            }
            db_svg_chart c1 = { "chart-serving-e2e", "Serving: E2E latency p50 against output throughput (one line per sweep)",
                                "output tokens/s", "E2E latency p50 (ms)", true, false, NAN };
            db_svg_xy(out, &c1, series, ns);
            at = 0;
            for (int s = 0; s < ns; s++) {
                series[s].y = y2 + at;
                at += series[s].n;
            }
            db_svg_chart c2 = { "chart-serving-ttft", "Serving: TTFT p90 against output throughput (one line per sweep)",
                                "output tokens/s", "TTFT p90 (ms)", true, false, NAN };
            db_svg_xy(out, &c2, series, ns);
        }
        for (int s = 0; names && s < ns; s++) free(names[s]);
        free(names);
        free(series);
        free(x);
        free(y1);
        free(y2);
    }
    for (int i = 0; i < n; i++) free(pts[i].st.first_error);
    for (int k = 0; keys && k < ns; k++) free(keys[k]);
    free(keys);
    free(first);
    free(pts);
    db_case_infos_free(cases, nc);
    return rc;
}
