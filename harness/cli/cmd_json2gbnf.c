/* cmd_json2gbnf.c — `decobench json2gbnf SCHEMA.json [-o OUT.gbnf]`: convert a
 * JSON Schema into a llama.cpp GBNF grammar (harness/constraint/json_gbnf.h), or say which
 * keyword at which location the converter cannot enforce (exit 1).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "harness/constraint/json_gbnf.h"
#include "harness/util/jsonlimits.h"
#include "harness/util/outfile.h"
#include "harness/util/util.h"

static void usage(FILE *f) {
    fputs("usage: decobench json2gbnf SCHEMA.json [-o OUT.gbnf] [--help]\n"
          "\n"
          "Convert a JSON Schema (draft 2020-12 or draft-07) into a GBNF grammar for llama.cpp\n"
          "(start rule \"root\") that accepts exactly the JSON texts valid against the schema,\n"
          "in a canonical spelling (members in schema order, compact optional whitespace).\n"
          "A schema using a keyword the converter cannot enforce is refused: the reason\n"
          "(\"keyword 'uniqueItems' at /properties/tags\") goes to stderr and the exit status is 1.\n"
          "\n"
          "  -o, --output F     write the grammar to F instead of stdout (- = stdout; a file is\n"
          "                     replaced atomically, a device or FIFO written through)\n"
          "  -h, --help         show this help\n", f);
}

int cmd_json2gbnf(int argc, char **argv) {
    static const struct option opts[] = {
        { "output", required_argument, NULL, 'o' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    const char *out_path = NULL;
    int c;
    optind = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":o:h", opts, NULL)) != -1) {
        switch (c) {
        case 'o': out_path = optarg; break;
        case 'h': usage(stdout); return 0;
        default:   /* ':' (missing value) or '?' (unknown option) */
            return db_cli_bad_option("json2gbnf", c, argv);
        }
    }
    if (argc - optind != 1) {
        fprintf(stderr, "decobench json2gbnf: expected exactly one SCHEMA.json (see --help)\n");
        return 2;
    }
    const char *path = argv[optind];
    char err[512];
    size_t len;
    char *text = db_read_file(path, &len, err, sizeof err);
    if (!text) {
        fprintf(stderr, "decobench json2gbnf: %s\n", err);
        return 2;
    }
    cJSON *schema = cJSON_ParseWithLength(text, len);
    int dline = 0, dcol = 0;
    int deep = !schema && db_json_too_deep(text, len, &dline, &dcol);
    free(text);
    if (deep) {
        fprintf(stderr, "decobench json2gbnf: %s:%d:%d: JSON nested deeper than %d levels\n", path, dline, dcol,
                db_json_nesting_limit());
        return 2;
    }
    if (!schema) {
        fprintf(stderr, "decobench json2gbnf: %s: not valid JSON\n", path);
        return 2;
    }
    char *gbnf = NULL;
    int rc = db_json_gbnf(schema, &gbnf, err, sizeof err);
    cJSON_Delete(schema);
    if (rc != 0) {
        fprintf(stderr, "decobench json2gbnf: %s: %s%s\n", path, rc > 0 ? "unsupported: " : "", err);
        return rc > 0 ? 1 : 2;
    }
    if (db_deliver_output(out_path, gbnf, strlen(gbnf), err, sizeof err) < 0) {
        fprintf(stderr, "decobench json2gbnf: %s\n", err);
        free(gbnf);
        return 1;
    }
    free(gbnf);
    return 0;
}
