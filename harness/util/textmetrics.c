/* textmetrics.c — ROUGE-2, sentence BLEU, distinct-n, self-BLEU and numeric
 * answer match (definitions in textmetrics.h). */
#include "textmetrics.h"

#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct toks {
    char **t;
    int n;
} toks;

static int word_byte(unsigned char c) { return isalnum(c) || c >= 0x80; }

static void toks_free(toks *w) {
    for (int i = 0; i < w->n; i++) free(w->t[i]);
    free(w->t);
    w->t = NULL;
    w->n = 0;
}

/* Returns 0, -1 out of memory (w left empty). */
static int tokenize(const char *s, toks *w) {
    w->t = NULL;
    w->n = 0;
    if (!s) return 0;
    size_t len = strlen(s);
    w->t = malloc(sizeof *w->t * (len + 1));
    if (!w->t) return -1;
    for (size_t i = 0; i < len;) {
        unsigned char c = (unsigned char)s[i];
        if (isspace(c)) { i++; continue; }
        size_t j = i + 1;
        if (word_byte(c))
            while (j < len && word_byte((unsigned char)s[j])) j++;
        char *tok = malloc(j - i + 1);
        if (!tok) { toks_free(w); return -1; }
        for (size_t k = i; k < j; k++) tok[k - i] = (char)tolower((unsigned char)s[k]);
        tok[j - i] = 0;
        w->t[w->n++] = tok;
        i = j;
    }
    return 0;
}

static int ngram_eq(const toks *a, int i, const toks *b, int j, int n) {
    for (int k = 0; k < n; k++)
        if (strcmp(a->t[i + k], b->t[j + k]) != 0) return 0;
    return 1;
}

/* Occurrences of a's n-gram at i in b. */
static int count_in(const toks *a, int i, const toks *b, int n) {
    int c = 0;
    for (int j = 0; j + n <= b->n; j++) c += ngram_eq(a, i, b, j, n);
    return c;
}

/* Is a's n-gram at i the first of its kind in a (for distinct counting)? */
static int first_occurrence(const toks *a, int i, int n) {
    for (int j = 0; j < i; j++)
        if (ngram_eq(a, j, a, i, n)) return 0;
    return 1;
}

/* Clipped n-gram matches of cand against refs (max count over references). */
static int clipped_matches(const toks *cand, const toks *refs, int n_refs, int n) {
    int m = 0;
    for (int i = 0; i + n <= cand->n; i++) {
        if (!first_occurrence(cand, i, n)) continue;
        int c = count_in(cand, i, cand, n), mx = 0;
        for (int r = 0; r < n_refs; r++) {
            int k = count_in(cand, i, &refs[r], n);
            if (k > mx) mx = k;
        }
        m += c < mx ? c : mx;
    }
    return m;
}

double db_rouge2_f(const char *candidate, const char *reference) {
    toks c, r;
    if (tokenize(candidate, &c) != 0) return NAN;
    if (tokenize(reference, &r) != 0) { toks_free(&c); return NAN; }
    double f = 0.0;
    int nc = c.n - 1, nr = r.n - 1;
    if (nc > 0 && nr > 0) {
        int m = clipped_matches(&c, &r, 1, 2);
        if (m > 0) {
            double p = (double)m / nc, rc = (double)m / nr;
            f = 2 * p * rc / (p + rc);
        }
    }
    toks_free(&c);
    toks_free(&r);
    return f;
}

static double bleu_toks(const toks *c, const toks *refs, int n_refs) {
    if (c->n == 0 || n_refs < 1) return 0.0;
    double log_sum = 0.0;
    for (int n = 1; n <= 4; n++) {
        int total = c->n - n + 1;
        if (total <= 0) return 0.0;
        int m = clipped_matches(c, refs, n_refs, n);
        double p = m > 0 ? (double)m / total : DB_BLEU_EPSILON / total;
        log_sum += 0.25 * log(p);
    }
    int r_len = refs[0].n;
    for (int i = 1; i < n_refs; i++) {
        int d = abs(refs[i].n - c->n), best = abs(r_len - c->n);
        if (d < best || (d == best && refs[i].n < r_len)) r_len = refs[i].n;
    }
    double bp = c->n < r_len ? exp(1.0 - (double)r_len / c->n) : 1.0;
    return bp * exp(log_sum);
}

double db_sentence_bleu(const char *candidate, const char *const *references, int n_references) {
    toks c;
    if (n_references < 1 || tokenize(candidate, &c) != 0) return n_references < 1 ? 0.0 : NAN;
    toks *refs = calloc((size_t)n_references, sizeof *refs);
    double b = NAN;
    if (refs) {
        int ok = 1;
        for (int i = 0; i < n_references && ok; i++) ok = tokenize(references[i], &refs[i]) == 0;
        if (ok) b = bleu_toks(&c, refs, n_references);
        for (int i = 0; i < n_references; i++) toks_free(&refs[i]);
        free(refs);
    }
    toks_free(&c);
    return b;
}

double db_distinct_n(const char *const *texts, int n_texts, int n) {
    if (n < 1 || n_texts < 1) return 0.0;
    toks *w = calloc((size_t)n_texts, sizeof *w);
    if (!w) return NAN;
    long total = 0, distinct = 0;
    int ok = 1;
    for (int i = 0; i < n_texts && ok; i++) ok = tokenize(texts[i], &w[i]) == 0;
    if (ok) {
        for (int i = 0; i < n_texts; i++)
            for (int p = 0; p + n <= w[i].n; p++) {
                total++;
                int seen = 0;
                for (int j = 0; j <= i && !seen; j++)
                    for (int q = 0; q + n <= w[j].n && !seen; q++) {
                        if (j == i && q >= p) break;
                        seen = ngram_eq(&w[i], p, &w[j], q, n);
                    }
                distinct += !seen;
            }
    }
    for (int i = 0; i < n_texts; i++) toks_free(&w[i]);
    free(w);
    if (!ok) return NAN;
    return total ? (double)distinct / (double)total : 0.0;
}

double db_self_bleu(const char *const *texts, int n_texts) {
    if (n_texts < 2) return NAN;
    toks *w = calloc((size_t)n_texts, sizeof *w);
    toks *others = calloc((size_t)n_texts, sizeof *others);
    double sum = 0.0;
    int ok = w && others;
    for (int i = 0; i < n_texts && ok; i++) ok = tokenize(texts[i], &w[i]) == 0;
    for (int i = 0; i < n_texts && ok; i++) {
        int k = 0;
        for (int j = 0; j < n_texts; j++)
            if (j != i) others[k++] = w[j];
        sum += bleu_toks(&w[i], others, k);
    }
    if (w)
        for (int i = 0; i < n_texts; i++) toks_free(&w[i]);
    free(w);
    free(others);
    return ok ? sum / n_texts : NAN;
}

int db_last_number(const char *text, double *out) {
    if (!text) return 0;
    const char *last = NULL;
    size_t last_len = 0;
    for (const char *p = text; *p;) {
        if (isdigit((unsigned char)*p)) {
            const char *s = p;
            if (s > text && s[-1] == '-') s--;
            while (*p && (isdigit((unsigned char)*p) ||
                          ((*p == ',' || *p == '.') && isdigit((unsigned char)p[1]))))
                p++;
            last = s;
            last_len = (size_t)(p - s);
        } else {
            p++;
        }
    }
    if (!last) return 0;
    char buf[64];
    size_t k = 0;
    for (size_t i = 0; i < last_len && k + 1 < sizeof buf; i++)
        if (last[i] != ',') buf[k++] = last[i];
    buf[k] = 0;
    *out = strtod(buf, NULL);
    return 1;
}

int db_answer_match(const char *output, const char *reference) {
    double want, got;
    const char *mark = reference ? strstr(reference, "####") : NULL;
    if (!mark) return -1;
    for (const char *next; (next = strstr(mark + 4, "####")) != NULL;) mark = next;
    if (!db_last_number(mark + 4, &want)) return -1;
    if (!db_last_number(output, &got)) return 0;
    return fabs(want - got) <= 1e-9 * (fabs(want) > 1 ? fabs(want) : 1);
}
