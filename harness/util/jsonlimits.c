/* jsonlimits.c — nesting depth of a JSON text against cJSON's limit (see
 * jsonlimits.h). */
#include "jsonlimits.h"

#include <cjson/cJSON.h>

int db_json_nesting_limit(void) { return CJSON_NESTING_LIMIT; }

int db_json_too_deep(const char *text, size_t len, int *line, int *col) {
    int depth = 0, ln = 1, cl = 1;
    int in_str = 0, esc = 0;
    for (size_t i = 0; i < len && text[i]; i++) {
        char ch = text[i];
        if (in_str) {
            if (esc) esc = 0;
            else if (ch == '\\') esc = 1;
            else if (ch == '"') in_str = 0;
        } else if (ch == '"') {
            in_str = 1;
        } else if (ch == '[' || ch == '{') {
            if (++depth > CJSON_NESTING_LIMIT) {
                if (line) *line = ln;
                if (col) *col = cl;
                return 1;
            }
        } else if (ch == ']' || ch == '}') {
            if (depth > 0) depth--;
        }
        if (ch == '\n') {
            ln++;
            cl = 1;
        } else {
            cl++;
        }
    }
    return 0;
}
