/* cmd_list.c — `decobench list [engines|suites|models]`: what decobench can
 * run here — every registered engine with its parameter table (and, from
 * its descriptor, the constraint kinds it applies and whether it is
 * lossless), the suites in suites/, and the GGUF models in data/models/. */
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>

#include "cli.h"
#include "harness/util/util.h"
#include "engines/engine.h"

static const char *type_name(db_param_type t) {
    switch (t) {
    case DB_PARAM_INT: return "int";
    case DB_PARAM_FLOAT: return "float";
    case DB_PARAM_BOOL: return "bool";
    case DB_PARAM_ENUM: return "enum";
    }
    return "?";
}

static void list_engines(void) {
    printf("engines:\n");
    for (int i = 0; i < db_engine_count; i++) {
        const db_engine *e = db_engine_registry[i];
        char kinds[96];
        db_constraint_kinds_text(e->constraints, "|", kinds, sizeof kinds);
        printf("  %-12s %s%s", e->name, e->summary, e->needs_draft ? " [needs a draft model]" : "");
        if (e->constraints) printf(" [%s constraint: %s]", e->constraint_required ? "needs a" : "applies a", kinds);
        if (e->lossless_greedy) printf(" [lossless]");
        printf("\n");
        int name_width = 14; /* this engine's longest parameter name sets the column */
        for (int j = 0; j < e->n_params; j++) {
            const int len = (int)strlen(e->params[j].name);
            if (len > name_width) name_width = len;
        }
        for (int j = 0; j < e->n_params; j++) {
            const db_param_def *d = &e->params[j];
            char range[96];
            if (d->type == DB_PARAM_ENUM) snprintf(range, sizeof range, "%s", d->choices);
            else if (d->type == DB_PARAM_BOOL) snprintf(range, sizeof range, "true|false");
            else snprintf(range, sizeof range, "[%g, %g]", d->min, d->max);
            printf("      %-*s %-5s default %-8s %-22s %s\n", name_width, d->name, type_name(d->type), d->def, range,
                   d->help);
        }
    }
}

static void list_suites(const char *dir) {
    char pattern[1024];
    snprintf(pattern, sizeof pattern, "%s/*.json", dir);
    glob_t g;
    printf("suites (%s):\n", dir);
    if (glob(pattern, 0, NULL, &g) != 0) {
        printf("  (none)\n");
        return;
    }
    for (size_t i = 0; i < g.gl_pathc; i++) {
        char err[256];
        char *text = db_read_file(g.gl_pathv[i], NULL, err, sizeof err);
        cJSON *j = text ? cJSON_Parse(text) : NULL;
        const cJSON *desc = j ? cJSON_GetObjectItemCaseSensitive(j, "description") : NULL;
        printf("  %-32s %s\n", g.gl_pathv[i],
               cJSON_IsString(desc) ? desc->valuestring : (j ? "" : "(not valid JSON)"));
        cJSON_Delete(j);
        free(text);
    }
    globfree(&g);
}

static void list_models(const char *dir) {
    char pattern[1024];
    snprintf(pattern, sizeof pattern, "%s/*.gguf", dir);
    glob_t g;
    printf("models (%s):\n", dir);
    if (glob(pattern, 0, NULL, &g) != 0) {
        printf("  (none)\n");
        return;
    }
    for (size_t i = 0; i < g.gl_pathc; i++) {
        struct stat st;
        double mib = stat(g.gl_pathv[i], &st) == 0 ? st.st_size / 1048576.0 : 0;
        printf("  %-40s %8.1f MiB\n", g.gl_pathv[i], mib);
    }
    globfree(&g);
    printf("  (backend \"exact\": the analytic oracle, no file; see docs/suite-format.md)\n");
}

int cmd_list(int argc, char **argv) {
    const char *what = argc > 1 ? argv[1] : "all";
    if (strcmp(what, "--help") == 0 || strcmp(what, "-h") == 0) {
        printf("usage: decobench list [engines|suites|models]\n\n"
               "Lists registered engines with their parameters (name, type, default, range)\n"
               "and what they take ([needs a draft model], the constraint kinds they apply or\n"
               "need, [lossless]: greedy output equals the baseline's), the suites in ./suites\n"
               "and the GGUF models in ./data/models.\n");
        return 0;
    }
    if (argc > 2) {
        fprintf(stderr, "decobench list: expected at most one of engines, suites, models\n");
        return 2;
    }
    int all = strcmp(what, "all") == 0;
    if (!all && strcmp(what, "engines") && strcmp(what, "suites") && strcmp(what, "models")) {
        fprintf(stderr, "decobench list: '%s': expected engines, suites or models\n", what);
        return 2;
    }
    if (all || !strcmp(what, "engines")) list_engines();
    if (all || !strcmp(what, "suites")) list_suites("suites");
    if (all || !strcmp(what, "models")) list_models("data/models");
    return 0;
}
