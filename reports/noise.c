/* noise.c — S7 interference in the reports: reads the verdicts that
 * harness/run/interference.c stored (table interference, read through
 * harness/run/store_read.h) for a run and its cases, and writes the
 * footnotes and JSON objects that go with the marker (DB_NOISE_MARK) on a
 * flagged case's label.  The thresholds behind a flag
 * are in docs/metrics.md ("Interference").
 */
#include "format.h"
#include "table_data.h"
#include "noise.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "harness/run/store_read.h"
#include "harness/util/util.h"

/* whether item is one of the "; "-joined items of list */
static bool has_item(const char *list, const char *item) {
    size_t l = strlen(item);
    for (const char *p = list; p && *p;) {
        const char *e = strstr(p, "; ");
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (n == l && !memcmp(p, item, l)) return true;
        p = e ? e + 2 : p + n;
    }
    return false;
}

/* The verdict of run run_id (case_id 0) or of case case_id: *recorded
 * when it has rows; *reasons (malloc'd, "; "-joined, each once) when
 * flagged. */
static int read_verdict(db_store *st, int64_t run_id, int64_t case_id, bool *recorded, char **reasons, char *err,
                        size_t errlen) {
    *recorded = false;
    *reasons = NULL;
    db_noise_row *rows = NULL;
    int n = 0;
    if (db_store_read_interference(st, run_id, case_id, &rows, &n, err, errlen) != 0) return -1;
    bool flagged = false;
    db_str r;
    db_str_init(&r);
    int oom = 0;
    for (int i = 0; i < n; i++) {
        const char *name = rows[i].name;
        *recorded = true;
        if (!name) continue;
        if (!strcmp(name, "flagged") && rows[i].value > 0) flagged = true;
        const char *text = rows[i].text;
        if (strcmp(name, "reason") != 0 || !text || !text[0]) continue;
        if (!has_item(r.s, text)) oom |= db_str_printf(&r, "%s%s", r.len ? "; " : "", text);
    }
    db_noise_rows_free(rows, n);
    if (oom) {
        db_str_free(&r);
        return db_errf(err, errlen, "out of memory");
    }
    if (flagged && !r.len) oom = db_str_append(&r, "flagged");
    if (flagged && !oom) *reasons = db_str_take(&r);
    else db_str_free(&r);
    return oom ? db_errf(err, errlen, "out of memory") : 0;
}

int db_table_load_noise(db_store *st, db_table *t, char *err, size_t errlen) {
    bool rec = false;
    if (read_verdict(st, t->run_id, 0, &rec, &t->noise, err, errlen) != 0) return -1;
    t->noise_recorded = rec;
    for (int i = 0; i < t->n_rows; i++) {
        db_table_row *r = &t->rows[i];
        if (read_verdict(st, t->run_id, r->case_id, &rec, &r->noise, err, errlen) != 0) return -1;
        t->noise_recorded |= rec;
    }
    return 0;
}

static bool any_noise(const db_table *t) {
    if (t->noise) return true;
    for (int i = 0; i < t->n_rows; i++)
        if (t->rows[i].noise) return true;
    return false;
}

void db_noise_footnote_md(const db_table *t, FILE *out) {
    if (!any_noise(t)) return;
    fputs("\n" DB_NOISE_MARK " measured under interference (docs/metrics.md, \"Interference\"):", out);
    if (t->noise) {
        fputs(" run: ", out);
        db_md_text(out, t->noise);
    }
    fputc('\n', out);
    for (int i = 0; i < t->n_rows; i++) {
        const db_table_row *r = &t->rows[i];
        if (!r->noise) continue;
        fputs("- ", out);
        db_md_text(out, r->label);
        fputs(" (", out);
        db_md_text(out, r->dataset);
        fputs("): ", out);
        db_md_text(out, r->noise);
        fputc('\n', out);
    }
}

void db_noise_footnote_tex(const db_table *t, FILE *out) {
    if (!any_noise(t)) return;
    fputs("\\par\\smallskip{\\footnotesize $^\\dagger$ measured under interference", out);
    if (t->noise) {
        fputs(" (run: ", out);
        db_tex_text(out, t->noise);
        fputc(')', out);
    }
    for (int i = 0; i < t->n_rows; i++) {
        const db_table_row *r = &t->rows[i];
        if (!r->noise) continue;
        fputs("; ", out);
        db_tex_text(out, r->label);
        fputs(" (", out);
        db_tex_text(out, r->dataset);
        fputs("): ", out);
        db_tex_text(out, r->noise);
    }
    fputs(".}\n", out);
}

void db_noise_footnote_html(const db_table *t, FILE *out) {
    if (!any_noise(t)) return;
    fputs("<p class=\"noise\" id=\"interference\"><b>" DB_NOISE_MARK " measured under interference</b>", out);
    if (t->noise) {
        fputs(" \xE2\x80\x94 run: ", out);
        db_html_text(out, t->noise);
    }
    fputs("</p>\n<ul class=\"noise\">\n", out);
    for (int i = 0; i < t->n_rows; i++) {
        const db_table_row *r = &t->rows[i];
        if (!r->noise) continue;
        fputs("<li>", out);
        db_html_text(out, r->label);
        fputs(" (", out);
        db_html_text(out, r->dataset);
        fputs("): ", out);
        db_html_text(out, r->noise);
        fputs("</li>\n", out);
    }
    fputs("</ul>\n", out);
}

int db_noise_union(char **acc, const char *reasons) {
    if (!reasons || !reasons[0]) return 0;
    db_str r;
    db_str_init(&r);
    int oom = *acc ? db_str_append(&r, *acc) : 0;
    for (const char *p = reasons; !oom && *p;) {
        const char *e = strstr(p, "; ");
        size_t l = e ? (size_t)(e - p) : strlen(p);
        char *one = db_strndup(p, l);
        if (!one) oom = 1;
        else if (!has_item(r.s, one)) oom = db_str_printf(&r, "%s%s", r.len ? "; " : "", one);
        free(one);
        p = e ? e + 2 : p + l;
    }
    if (oom) {
        db_str_free(&r);
        return -1;
    }
    free(*acc);
    *acc = r.s;
    return 0;
}

void db_noise_json(cJSON *o, bool recorded, const char *reasons) {
    if (!recorded || !o) return;
    cJSON *n = cJSON_AddObjectToObject(o, "interference");
    if (!n) return;
    cJSON_AddBoolToObject(n, "flagged", reasons != NULL);
    cJSON *a = cJSON_AddArrayToObject(n, "reasons");
    for (const char *p = reasons; a && p && *p;) {
        const char *e = strstr(p, "; ");
        size_t l = e ? (size_t)(e - p) : strlen(p);
        char *one = db_strndup(p, l);
        if (one) cJSON_AddItemToArray(a, cJSON_CreateString(one));
        free(one);
        p = e ? e + 2 : p + l;
    }
}

int db_noise_run_reasons(db_store *st, int64_t run_id, char **reasons, char *err, size_t errlen) {
    bool rec = false;
    *reasons = NULL;
    if (!st) return db_errf(err, errlen, "no results database");
    return read_verdict(st, run_id, 0, &rec, reasons, err, errlen);
}
