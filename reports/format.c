/* format.c — number and CSV formatting shared by the report writers. */
#include "format.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "harness/util/util.h"

void db_fmt_full(char *buf, size_t len, double v) {
    if (!isfinite(v)) {
        snprintf(buf, len, "%s", "");
        return;
    }
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(buf, len, "%.*g", prec, v);
        if (strtod(buf, NULL) == v) return;
    }
}

/* a number as decobench writes one (optional sign, digits, optional
 * fraction and exponent): a spreadsheet reads it as a number, never as a
 * formula, so it needs no guard */
static bool csv_is_number(const char *s) {
    const char *p = s;
    if (*p == '-' || *p == '+') p++;
    bool digits = false;
    while (*p >= '0' && *p <= '9') p++, digits = true;
    if (*p == '.') {
        p++;
        while (*p >= '0' && *p <= '9') p++, digits = true;
    }
    if (!digits) return false;
    if (*p == 'e' || *p == 'E') {
        p++;
        if (*p == '-' || *p == '+') p++;
        if (!(*p >= '0' && *p <= '9')) return false;
        while (*p >= '0' && *p <= '9') p++;
    }
    return *p == 0;
}

/* OWASP CSV injection: a cell a spreadsheet would run as a formula (first
 * character, after any spaces, = + - @ tab or CR, or their full-width forms
 * U+FF1D U+FF0B U+FF0D U+FF20) */
static bool csv_formula_risk(const char *s) {
    const unsigned char *p = (const unsigned char *)s;
    while (*p == ' ') p++;
    if (*p == '=' || *p == '+' || *p == '-' || *p == '@' || *p == '\t' || *p == '\r') return true;
    return p[0] == 0xEF && p[1] == 0xBC && (p[2] == 0x9D || p[2] == 0x8B || p[2] == 0x8D || p[2] == 0xA0);
}

static void csv_raw(FILE *out, const char *s, int first) {
    if (!first) fputc(',', out);
    if (!strpbrk(s, ",\"\r\n")) {
        fputs(s, out);
        return;
    }
    fputc('"', out);
    for (; *s; s++) {
        if (*s == '"') fputc('"', out);
        fputc(*s, out);
    }
    fputc('"', out);
}

void db_csv_field(FILE *out, const char *s, int first) {
    if (!csv_formula_risk(s) || csv_is_number(s)) {
        csv_raw(out, s, first);
        return;
    }
    /* guarded: a leading single quote inside a quoted cell */
    if (!first) fputc(',', out);
    fputs("\"'", out);
    for (; *s; s++) {
        if (*s == '"') fputc('"', out);
        fputc(*s, out);
    }
    fputc('"', out);
}

void db_csv_num(FILE *out, double v) {
    char buf[40];
    db_fmt_full(buf, sizeof buf, v);
    csv_raw(out, buf, 0);
}

void db_md_csv_num(FILE *out, bool md, double v, const char *fmt) {
    if (!md) {
        db_csv_num(out, v);
        return;
    }
    if (!isfinite(v)) {
        fputs(" – |", out);
        return;
    }
    fputc(' ', out);
    fprintf(out, fmt, v);
    fputs(" |", out);
}

void db_md_text(FILE *out, const char *s) {
    for (; *s; s++) {
        switch (*s) {
        case '|': fputs("\\|", out); break;
        case '\n': case '\r': fputc(' ', out); break;
        /* Markdown renders inline HTML: < > & " as character references */
        case '<': fputs("&lt;", out); break;
        case '>': fputs("&gt;", out); break;
        case '&': fputs("&amp;", out); break;
        case '"': fputs("&quot;", out); break;
        default:
            if ((unsigned char)*s < 0x20 || *s == 0x7F) fputc(' ', out);
            else fputc(*s, out);
        }
    }
}

void db_md_cell(FILE *out, const char *s) {
    fputc(' ', out);
    db_md_text(out, s);
    fputs(" |", out);
}

void db_tex_text(FILE *out, const char *s) {
    for (; *s; s++) {
        switch (*s) {
        case '&': case '%': case '$': case '#': case '_': case '{': case '}':
            fputc('\\', out);
            fputc(*s, out);
            break;
        case '~': fputs("\\textasciitilde{}", out); break;
        case '^': fputs("\\textasciicircum{}", out); break;
        case '\\': fputs("\\textbackslash{}", out); break;
        case '[': fputs("{[}", out); break;
        case ']': fputs("{]}", out); break;
        default:
            if ((unsigned char)*s < 0x20 || *s == 0x7F) fputc(' ', out);   /* line breaks too */
            else fputc(*s, out);
        }
    }
}

void db_tex_comment(FILE *out, const char *s) {
    const unsigned char *p = (const unsigned char *)s;
    for (; *p; p++) {
        if (*p < 0x20 || *p == 0x7F) fputc(' ', out);   /* a line break would end the comment */
        else if (p[0] == 0xC2 && p[1] == 0x85) fputc(' ', out), p++;   /* U+0085 NEL */
        else if (p[0] == 0xE2 && p[1] == 0x80 && (p[2] == 0xA8 || p[2] == 0xA9)) fputc(' ', out), p += 2;   /* U+2028/9 */
        else fputc(*p, out);
    }
}

/* length of the valid UTF-8 sequence at s (1..4), 0 when invalid */
static int utf8_len(const unsigned char *s) {
    unsigned c = s[0];
    if (c < 0x80) return 1;
    int n = c >= 0xC2 && c <= 0xDF ? 2 : c >= 0xE0 && c <= 0xEF ? 3 : c >= 0xF0 && c <= 0xF4 ? 4 : 0;
    if (n == 0) return 0;
    for (int i = 1; i < n; i++)
        if ((s[i] & 0xC0) != 0x80) return 0;
    if (c == 0xE0 && s[1] < 0xA0) return 0;   /* overlong */
    if (c == 0xED && s[1] > 0x9F) return 0;   /* surrogates */
    if (c == 0xF0 && s[1] < 0x90) return 0;   /* overlong */
    if (c == 0xF4 && s[1] > 0x8F) return 0;   /* above U+10FFFF */
    return n;
}

void db_html_text(FILE *out, const char *s) {
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        switch (*p) {
        case '&': fputs("&amp;", out); p++; continue;
        case '<': fputs("&lt;", out); p++; continue;
        case '>': fputs("&gt;", out); p++; continue;
        case '"': fputs("&quot;", out); p++; continue;
        case '\'': fputs("&#39;", out); p++; continue;
        default: break;
        }
        if ((*p < 0x20 && *p != '\t' && *p != '\n' && *p != '\r') || *p == 0x7F) {
            fputs("\xEF\xBF\xBD", out);
            p++;
            continue;
        }
        int n = utf8_len(p);
        if (n == 0) {
            fputs("\xEF\xBF\xBD", out);
            p++;
            continue;
        }
        fwrite(p, 1, (size_t)n, out);
        p += n;
    }
}

void db_tex_commentf(FILE *out, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char *text = NULL;
    int n = vasprintf(&text, fmt, ap);
    va_end(ap);
    if (n >= 0 && text) db_tex_comment(out, text);
    free(text);
    fputc('\n', out);
}

int db_json_print(cJSON *root, FILE *out, char *err, size_t errlen) {
    char *text = cJSON_Print(root);
    cJSON_Delete(root);
    if (!text) return db_errf(err, errlen, "out of memory");
    fputs(text, out);
    fputc('\n', out);
    free(text);
    return 0;
}
