/* prom: writes the Prometheus text exposition format (version 0.0.4) into
 * a buf: a family's HELP and TYPE lines, samples with escaped label
 * values, histograms with cumulative buckets ending in le="+Inf", then
 * _sum and _count. Owns the syntax only; which metrics exist and where
 * their numbers come from is host_metrics' business. */
#ifndef ATT_PROM_H
#define ATT_PROM_H

#include "buf.h"

#define PROM_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* "# HELP name help" (help escaped: backslash, line feed) and
 * "# TYPE name type" (counter, gauge, histogram). Once per family, before
 * its samples; a family's samples must follow it together. */
void prom_family(buf *b, const char *name, const char *type, const char *help);

/* Label pairs are given as a NULL-terminated array of name, value, name,
 * value, ... (NULL itself for none). Names are ours ([a-z_]); values are
 * escaped (backslash, double quote, line feed). */

/* name{labels} value, the value an exact integer. */
void prom_sample_u64(buf *b, const char *name, const char *const *labels, unsigned long long value);

/* name{labels} value; NaN and the infinities as Prometheus spells them. */
void prom_sample(buf *b, const char *name, const char *const *labels, double value);

/* A histogram's series for one label set: name_bucket{labels,le="bound"}
 * for each of the n ascending bounds and for "+Inf", cumulative, then
 * name_sum and name_count. counts has n + 1 entries, not cumulative: how
 * many observations fell at or below bounds[0], in (bounds[i-1],
 * bounds[i]], and above the last bound. */
void prom_histogram(buf *b, const char *name, const char *const *labels, const double *bounds,
		    int n, const unsigned long long *counts, double sum);

/* Appends value escaped for a label value (no quotes around it). */
void prom_escape_label(buf *b, const char *value);

#endif
