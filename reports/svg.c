/* svg.c — inline SVG charts for the HTML report (see svg.h). */
#include "svg.h"
#include "format.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define W 760                 /* chart width, px */
#define PLOT_H 300            /* plot area height of x/y and bar charts */
#define M_LEFT 72
#define M_RIGHT 24
#define M_TOP 34
#define M_AXIS 46             /* below the plot: tick labels and the x label */
#define LEGEND_ROW 18

static const char *const PALETTE[] = { "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f",
                                       "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac" };
#define N_PALETTE ((int)(sizeof PALETTE / sizeof PALETTE[0]))

const char *db_svg_color(int i) {
    return PALETTE[((i % N_PALETTE) + N_PALETTE) % N_PALETTE];
}

/* ---- axes ------------------------------------------------------------------- */

typedef struct axis {
    double lo, hi, step;
    int decimals;
} axis;

/* 1, 2 or 5 × 10^k, the smallest at least raw */
static double nice_step(double raw) {
    double p = pow(10, floor(log10(raw)));
    double f = raw / p;
    return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * p;
}

/* a range covering [lo, hi] in about 5 nice steps */
static axis make_axis(double lo, double hi, bool integer) {
    axis a;
    if (!isfinite(lo) || !isfinite(hi)) lo = 0, hi = 1;
    if (hi - lo < 1e-12 * (fabs(lo) + fabs(hi)) || hi == lo) {
        double d = lo == 0 ? 1 : fabs(lo) * 0.1;
        lo -= d;
        hi += d;
    }
    a.step = nice_step((hi - lo) / 5);
    if (integer && a.step < 1) a.step = 1;
    a.lo = floor(lo / a.step + 1e-9) * a.step;
    a.hi = ceil(hi / a.step - 1e-9) * a.step;
    a.decimals = a.step >= 1 ? 0 : (int)ceil(-log10(a.step) - 1e-9);
    return a;
}

static double map(const axis *a, double v, double p0, double p1) {
    return p0 + (v - a->lo) / (a->hi - a->lo) * (p1 - p0);
}

static void svg_open(FILE *out, const db_svg_chart *c, int h) {
    fputs("<svg id=\"", out);
    db_html_text(out, c->id);
    fprintf(out, "\" class=\"chart\" xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\""
                 " viewBox=\"0 0 %d %d\" role=\"img\" aria-labelledby=\"", W, h, W, h);
    db_html_text(out, c->id);
    fputs("-title\">\n<title id=\"", out);
    db_html_text(out, c->id);
    fputs("-title\">", out);
    db_html_text(out, c->title ? c->title : "");
    fputs("</title>\n<text class=\"t\" x=\"", out);
    fprintf(out, "%d\" y=\"20\">", M_LEFT);
    db_html_text(out, c->title ? c->title : "");
    fputs("</text>\n", out);
}

static void text_at(FILE *out, double x, double y, const char *anchor, const char *cls, const char *s) {
    fprintf(out, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"%s\"%s%s%s>", x, y, anchor, cls ? " class=\"" : "",
            cls ? cls : "", cls ? "\"" : "");
    db_html_text(out, s);
    fputs("</text>\n", out);
}

static void fmt_tick(char *buf, size_t len, double v, int decimals) {
    if (fabs(v) < 1e-12) v = 0;   /* never "-0" */
    snprintf(buf, len, "%.*f", decimals, v);
}

/* grid lines, ticks and labels of the y axis (and of x when ax != NULL) */
static void draw_axes(FILE *out, const db_svg_chart *c, const axis *ax, const axis *ay, int x0, int x1, int y0,
                      int y1) {
    char buf[48];
    for (int k = 0;; k++) {
        double v = ay->lo + k * ay->step;
        if (v > ay->hi + ay->step * 1e-6) break;
        double y = map(ay, v, y0, y1);
        fprintf(out, "<line class=\"g\" x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\"/>\n", x0, y, x1, y);
        fmt_tick(buf, sizeof buf, v, ay->decimals);
        text_at(out, x0 - 6, y + 4, "end", NULL, buf);
    }
    if (ax) {
        for (int k = 0;; k++) {
            double v = ax->lo + k * ax->step;
            if (v > ax->hi + ax->step * 1e-6) break;
            double x = map(ax, v, x0, x1);
            fprintf(out, "<line class=\"g\" x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\"/>\n", x, y1, x, y0);
            fmt_tick(buf, sizeof buf, v, ax->decimals);
            text_at(out, x, y0 + 16, "middle", NULL, buf);
        }
    }
    fprintf(out, "<line class=\"a\" x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\"/>\n", x0, y0, x1, y0);
    fprintf(out, "<line class=\"a\" x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\"/>\n", x0, y0, x0, y1);
    if (c->xlabel) text_at(out, (x0 + x1) / 2.0, y0 + 36, "middle", NULL, c->xlabel);
    if (c->ylabel) {
        fprintf(out, "<text x=\"0\" y=\"0\" text-anchor=\"middle\" transform=\"translate(16 %.1f) rotate(-90)\">",
                (y0 + y1) / 2.0);
        db_html_text(out, c->ylabel);
        fputs("</text>\n", out);
    }
}

static void legend(FILE *out, const db_svg_series *s, int ns, int y) {
    for (int k = 0; k < ns; k++) {
        int yy = y + k * LEGEND_ROW;
        fprintf(out, "<rect x=\"%d\" y=\"%d\" width=\"12\" height=\"12\" fill=\"%s\"/>\n", M_LEFT, yy - 10,
                db_svg_color(s[k].color >= 0 ? s[k].color : k));
        text_at(out, M_LEFT + 18, yy, "start", NULL, s[k].name ? s[k].name : "");
    }
}

/* ---- x/y ---------------------------------------------------------------------- */

void db_svg_xy(FILE *out, const db_svg_chart *c, const db_svg_series *s, int ns) {
    double xlo = INFINITY, xhi = -INFINITY, ylo = INFINITY, yhi = -INFINITY;
    for (int k = 0; k < ns; k++)
        for (int i = 0; i < s[k].n; i++) {
            if (!isfinite(s[k].x[i]) || !isfinite(s[k].y[i])) continue;
            xlo = fmin(xlo, s[k].x[i]);
            xhi = fmax(xhi, s[k].x[i]);
            ylo = fmin(ylo, s[k].y[i]);
            yhi = fmax(yhi, s[k].y[i]);
        }
    if (c->y_from_zero) ylo = fmin(ylo, 0), yhi = fmax(yhi, 0);
    if (isfinite(c->y_max) && yhi <= c->y_max) yhi = c->y_max;
    axis ax = make_axis(xlo, xhi, c->x_integer), ay = make_axis(ylo, yhi, false);
    int h = M_TOP + PLOT_H + M_AXIS + LEGEND_ROW * ns + 8;
    int x0 = M_LEFT, x1 = W - M_RIGHT, y0 = M_TOP + PLOT_H, y1 = M_TOP;
    svg_open(out, c, h);
    draw_axes(out, c, &ax, &ay, x0, x1, y0, y1);
    for (int k = 0; k < ns; k++) {
        const db_svg_series *e = &s[k];
        const char *col = db_svg_color(e->color >= 0 ? e->color : k);
        fputs("<g>\n<title>", out);
        db_html_text(out, e->name ? e->name : "");
        fputs("</title>\n", out);
        if (e->style != DB_SVG_POINTS) {
            fprintf(out, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\" points=\"", col);
            bool first = true;
            double py = y0;
            for (int i = 0; i < e->n; i++) {
                if (!isfinite(e->x[i]) || !isfinite(e->y[i])) continue;
                double px = map(&ax, e->x[i], x0, x1), yy = map(&ay, e->y[i], y0, y1);
                if (e->style == DB_SVG_STEPS && !first) fprintf(out, " %.1f,%.1f", px, py);
                fprintf(out, "%s%.1f,%.1f", first ? "" : " ", px, yy);
                py = yy;
                first = false;
            }
            fputs("\"/>\n", out);
        }
        if (e->style == DB_SVG_POINTS || e->style == DB_SVG_LINES_POINTS) {
            for (int i = 0; i < e->n; i++) {
                if (!isfinite(e->x[i]) || !isfinite(e->y[i])) continue;
                fprintf(out, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"4\" fill=\"%s\">", map(&ax, e->x[i], x0, x1),
                        map(&ay, e->y[i], y0, y1), col);
                if (e->tips && e->tips[i]) {
                    fputs("<title>", out);
                    db_html_text(out, e->tips[i]);
                    fputs("</title>", out);
                }
                fputs("</circle>\n", out);
            }
        }
        fputs("</g>\n", out);
    }
    legend(out, s, ns, y0 + M_AXIS + 12);
    fputs("</svg>\n", out);
}

/* ---- horizontal bars with whiskers -------------------------------------------- */

#define BAR_ROW 26
#define BAR_LABEL_W 230

void db_svg_hbars(FILE *out, const db_svg_chart *c, const char *const *labels, const double *v, const double *lo,
                  const double *hi, int n, double ref) {
    double xlo = c->y_from_zero ? 0 : INFINITY, xhi = -INFINITY;
    for (int i = 0; i < n; i++) {
        double vals[3] = { v[i], lo ? lo[i] : NAN, hi ? hi[i] : NAN };
        for (int k = 0; k < 3; k++)
            if (isfinite(vals[k])) xlo = fmin(xlo, vals[k]), xhi = fmax(xhi, vals[k]);
    }
    if (isfinite(ref)) xlo = fmin(xlo, ref), xhi = fmax(xhi, ref);
    axis ax = make_axis(xlo, xhi, false);
    int x0 = BAR_LABEL_W, x1 = W - M_RIGHT, y1 = M_TOP, y0 = M_TOP + BAR_ROW * (n > 0 ? n : 1);
    int h = y0 + M_AXIS;
    svg_open(out, c, h);
    char buf[48];
    for (int k = 0;; k++) {
        double t = ax.lo + k * ax.step;
        if (t > ax.hi + ax.step * 1e-6) break;
        double x = map(&ax, t, x0, x1);
        fprintf(out, "<line class=\"g\" x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\"/>\n", x, y1, x, y0);
        fmt_tick(buf, sizeof buf, t, ax.decimals);
        text_at(out, x, y0 + 16, "middle", NULL, buf);
    }
    double base = map(&ax, fmax(ax.lo, fmin(0, ax.hi)), x0, x1);
    if (!c->y_from_zero) base = x0;
    for (int i = 0; i < n; i++) {
        double yc = y1 + BAR_ROW * i + BAR_ROW / 2.0;
        text_at(out, x0 - 8, yc + 4, "end", NULL, labels[i] ? labels[i] : "");
        if (!isfinite(v[i])) {
            text_at(out, x0 + 6, yc + 4, "start", "na", "n/a");
            continue;
        }
        double xv = map(&ax, v[i], x0, x1);
        fprintf(out, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%d\" fill=\"%s\"><title>",
                fmin(base, xv), yc - 8, fabs(xv - base), 16, db_svg_color(i));
        db_html_text(out, labels[i] ? labels[i] : "");
        if (lo && hi && isfinite(lo[i]) && isfinite(hi[i])) fprintf(out, ": %.3f [%.3f, %.3f]", v[i], lo[i], hi[i]);
        else fprintf(out, ": %.3f", v[i]);
        fputs("</title></rect>\n", out);
        if (lo && hi && isfinite(lo[i]) && isfinite(hi[i])) {
            double a = map(&ax, lo[i], x0, x1), b = map(&ax, hi[i], x0, x1);
            fprintf(out, "<path class=\"ci\" d=\"M%.1f %.1fH%.1fM%.1f %.1fV%.1fM%.1f %.1fV%.1f\"/>\n", a, yc, b, a,
                    yc - 5, yc + 5, b, yc - 5, yc + 5);
        }
    }
    if (isfinite(ref)) {
        double x = map(&ax, ref, x0, x1);
        fprintf(out, "<line class=\"ref\" x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\"/>\n", x, y1 - 4, x, y0);
    }
    fprintf(out, "<line class=\"a\" x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\"/>\n", x0, y0, x1, y0);
    if (c->xlabel) text_at(out, (x0 + x1) / 2.0, y0 + 36, "middle", NULL, c->xlabel);
    fputs("</svg>\n", out);
}

/* ---- grouped vertical bars -------------------------------------------------------- */

void db_svg_grouped_bars(FILE *out, const db_svg_chart *c, const char *const *cats, int ncat,
                         const db_svg_series *s, int ns) {
    double yhi = 0;
    for (int k = 0; k < ns; k++)
        for (int i = 0; i < s[k].n && i < ncat; i++)
            if (isfinite(s[k].y[i])) yhi = fmax(yhi, s[k].y[i]);
    if (isfinite(c->y_max) && yhi <= c->y_max) yhi = c->y_max;
    axis ay = make_axis(0, yhi, false);
    int h = M_TOP + PLOT_H + M_AXIS + LEGEND_ROW * ns + 8;
    int x0 = M_LEFT, x1 = W - M_RIGHT, y0 = M_TOP + PLOT_H, y1 = M_TOP;
    svg_open(out, c, h);
    draw_axes(out, c, NULL, &ay, x0, x1, y0, y1);
    double group = (double)(x1 - x0) / (ncat > 0 ? ncat : 1);
    double bar = group * 0.8 / (ns > 0 ? ns : 1);
    for (int i = 0; i < ncat; i++) {
        double gx = x0 + group * i + group * 0.1;
        text_at(out, x0 + group * (i + 0.5), y0 + 16, "middle", NULL, cats[i]);
        for (int k = 0; k < ns; k++) {
            if (i >= s[k].n || !isfinite(s[k].y[i])) continue;
            double yv = map(&ay, s[k].y[i], y0, y1);
            fprintf(out, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\"><title>",
                    gx + bar * k, yv, bar, y0 - yv, db_svg_color(s[k].color >= 0 ? s[k].color : k));
            db_html_text(out, s[k].name ? s[k].name : "");
            fputs(", ", out);
            db_html_text(out, cats[i]);
            fprintf(out, ": %.3f</title></rect>\n", s[k].y[i]);
        }
    }
    legend(out, s, ns, y0 + M_AXIS + 12);
    fputs("</svg>\n", out);
}
