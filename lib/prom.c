/* prom: Prometheus text format writer. */
#include "prom.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

void prom_escape_label(buf *b, const char *value)
{
	for (const char *p = value; *p; p++) {
		if (*p == '\\')
			buf_puts(b, "\\\\");
		else if (*p == '"')
			buf_puts(b, "\\\"");
		else if (*p == '\n')
			buf_puts(b, "\\n");
		else
			buf_putc(b, *p);
	}
}

void prom_family(buf *b, const char *name, const char *type, const char *help)
{
	buf_printf(b, "# HELP %s ", name);
	for (const char *p = help; *p; p++) {
		if (*p == '\\')
			buf_puts(b, "\\\\");
		else if (*p == '\n')
			buf_puts(b, "\\n");
		else
			buf_putc(b, *p);
	}
	buf_printf(b, "\n# TYPE %s %s\n", name, type);
}

/* name{labels[,le="le"]} - the part before the value. */
static void series(buf *b, const char *name, const char *suffix, const char *const *labels,
		   const char *le)
{
	int first = 1;

	buf_puts(b, name);
	buf_puts(b, suffix);
	if ((labels == NULL || labels[0] == NULL) && le == NULL)
		return;
	buf_putc(b, '{');
	for (int i = 0; labels != NULL && labels[i] != NULL && labels[i + 1] != NULL; i += 2) {
		buf_printf(b, "%s%s=\"", first ? "" : ",", labels[i]);
		prom_escape_label(b, labels[i + 1]);
		buf_putc(b, '"');
		first = 0;
	}
	if (le != NULL)
		buf_printf(b, "%sle=\"%s\"", first ? "" : ",", le);
	buf_putc(b, '}');
}

/* A float as Prometheus reads it. */
static void put_double(buf *b, double v)
{
	if (isnan(v))
		buf_puts(b, "NaN");
	else if (isinf(v))
		buf_puts(b, v > 0 ? "+Inf" : "-Inf");
	else
		buf_printf(b, "%.15g", v);
}

void prom_sample_u64(buf *b, const char *name, const char *const *labels, unsigned long long value)
{
	series(b, name, "", labels, NULL);
	buf_printf(b, " %llu\n", value);
}

void prom_sample(buf *b, const char *name, const char *const *labels, double value)
{
	series(b, name, "", labels, NULL);
	buf_putc(b, ' ');
	put_double(b, value);
	buf_putc(b, '\n');
}

void prom_histogram(buf *b, const char *name, const char *const *labels, const double *bounds,
		    int n, const unsigned long long *counts, double sum)
{
	unsigned long long total = 0;
	char le[64];

	for (int i = 0; i <= n; i++) {
		total += counts[i];
		if (i < n)
			snprintf(le, sizeof le, "%.15g", bounds[i]);
		else
			snprintf(le, sizeof le, "+Inf");
		series(b, name, "_bucket", labels, le);
		buf_printf(b, " %llu\n", total);
	}
	series(b, name, "_sum", labels, NULL);
	buf_putc(b, ' ');
	put_double(b, sum);
	buf_putc(b, '\n');
	series(b, name, "_count", labels, NULL);
	buf_printf(b, " %llu\n", total);
}
