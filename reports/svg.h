/* svg.h — a small writer of inline SVG charts for the HTML report
 * (reports/html.c): x/y charts (lines, steps, points), horizontal bars with
 * confidence intervals, grouped vertical bars.  Linear axes with "nice"
 * ticks (1, 2, 5 × 10^k), a legend below the plot, hover text in <title>
 * elements, fixed colours; every text HTML-escaped.  Output depends only on
 * the arguments (no clock, no randomness), so reports are reproducible.
 */
#ifndef DECOBENCH_SVG_H
#define DECOBENCH_SVG_H

#include <stdbool.h>
#include <stdio.h>

typedef enum { DB_SVG_LINES, DB_SVG_STEPS, DB_SVG_POINTS, DB_SVG_LINES_POINTS } db_svg_style;

typedef struct db_svg_series {
    const char *name;              /* legend text */
    const double *x, *y;           /* n points; non-finite ones are skipped */
    int n;
    db_svg_style style;
    const char *const *tips;       /* per point hover text, or NULL */
    int color;                     /* palette index; -1: the series' index */
} db_svg_series;

typedef struct db_svg_chart {
    const char *id;                /* the <svg> element's id */
    const char *title, *xlabel, *ylabel;
    bool y_from_zero;              /* the y axis includes 0 */
    bool x_integer;                /* integer x ticks */
    double y_max;                  /* upper end of the y axis when finite (e.g. 1 for rates), else from data */
} db_svg_chart;

/* An x/y chart of ns series. */
void db_svg_xy(FILE *out, const db_svg_chart *c, const db_svg_series *s, int ns);

/* Horizontal bars v[i] labelled labels[i], with [lo[i], hi[i]] whiskers
 * where finite (lo/hi may be NULL), and a dashed reference line at ref when
 * finite (1 for speedups). */
void db_svg_hbars(FILE *out, const db_svg_chart *c, const char *const *labels, const double *v, const double *lo,
                  const double *hi, int n, double ref);

/* Vertical bars grouped by category: s[k].y[i] is series k's bar in
 * category cats[i] (s[k].n == ncat; x is unused). */
void db_svg_grouped_bars(FILE *out, const db_svg_chart *c, const char *const *cats, int ncat,
                         const db_svg_series *s, int ns);

/* The palette's colour i (cycled), "#rrggbb". */
const char *db_svg_color(int i);

#endif
