/* examday_report: the latency histograms and the report: per phase and
 * kind of request the latencies and errors, the resends, the CPU per
 * request, the database check and the deadline storm, as Markdown
 * tables (examday.sh puts them in EXAMDAY.md and docs/BENCHMARKS.md). */
#include <math.h>
#include <stdio.h>

#include "examday.h"

static const char *const kind_name[NK] = {"start", "save",   "activity",
					  "state", "submit", "late save"};

void hist_add(hist *h, double ms)
{
	double us = ms * 1000.0;
	int b = us <= 10.0 ? 0 : (int)(log(us / 10.0) / log(1.01)) + 1;

	if (b >= H_BUCKETS)
		b = H_BUCKETS - 1;
	h->n[b]++;
	h->count++;
	h->sum += ms;
	if (ms > h->max)
		h->max = ms;
}

/* The q-quantile in ms (the bucket's upper edge, capped at the max). */
double hist_q(const hist *h, double q)
{
	unsigned long long want, seen = 0;
	int b;

	if (h->count == 0)
		return 0;
	want = (unsigned long long)ceil(q * (double)h->count);
	if (want < 1)
		want = 1;
	for (b = 0; b < H_BUCKETS; b++) {
		seen += h->n[b];
		if (seen >= want) {
			double v = 10.0 * pow(1.01, b) / 1000.0;
			return v > h->max ? h->max : v;
		}
	}
	return h->max;
}

/* ------------------------------------------------------------ report */

static void statuses(const phase *ph, buf *b)
{
	int any = 0;

	for (int st = 0; st < 600; st++) {
		if (ph->status[st] == 0 || (st >= 200 && st < 300))
			continue;
		if (st == 0)
			buf_printf(b, "%sno answer (timeout, drain cut-off, closed)×%u",
				   any ? ", " : "", ph->status[st]);
		else
			buf_printf(b, "%s%d×%u", any ? ", " : "", st, ph->status[st]);
		any = 1;
	}
	if (!any)
		buf_puts(b, "none");
}

static int holds(const phase *ph)
{
	for (int k = 0; k < NK; k++)
		if (ph->err[k] || hist_q(&ph->h[k], 0.99) > HOLD_P99_MS)
			return 0;
	return 1;
}

/* What one phase adds to a table. */
typedef void (*row_fn)(FILE *f, const phase *ph);

/* A table: its head, then the rows of every phase. */
static void table(FILE *f, const char *head, row_fn rows)
{
	fputs(head, f);
	for (int p = 0; p < n_phases; p++)
		rows(f, &P[p]);
}

/* A row per kind of request the phase sent; the first names the phase. */
static void latency_rows(FILE *f, const phase *ph)
{
	buf st = BUF_INIT;
	int first = 1;

	statuses(ph, &st);
	for (int k = 0; k < NK; k++) {
		if (ph->h[k].count == 0)
			continue;
		if (first)
			fprintf(f, "| %s | %d | %llu | %.0f ", ph->name, ph->n, ph->answered,
				(double)ph->answered / (ph->elapsed_ms / 1000.0));
		else
			fprintf(f, "| | | | ");
		fprintf(f, "| %s | %llu | %.1f | %.1f | %.1f | %llu | %s | %s |\n", kind_name[k],
			ph->h[k].count, hist_q(&ph->h[k], 0.5), hist_q(&ph->h[k], 0.99),
			ph->h[k].max, ph->err[k], first ? (st.data ? st.data : "none") : "",
			first ? (holds(ph) ? "**holds**" : "no") : "");
		first = 0;
	}
	buf_free(&st);
}

static void resent_item(FILE *f, const phase *ph)
{
	fprintf(f, "%s %s %llu", ph == &P[0] ? "" : ",", ph->name, ph->resent);
}

static void cpu_row(FILE *f, const phase *ph)
{
	double n = ph->answered ? (double)ph->answered : 1;

	fprintf(f, "| %s | %.0f | %.0f | %.0f | %.0f | %.0f %% |\n", ph->name,
		(ph->cpu1.workers - ph->cpu0.workers) * 1e6 / n,
		(ph->cpu1.nginx - ph->cpu0.nginx) * 1e6 / n, (ph->cpu1.pg - ph->cpu0.pg) * 1e6 / n,
		(ph->cpu1.self - ph->cpu0.self) * 1e6 / n,
		(ph->cpu1.self - ph->cpu0.self) * 100.0 / (ph->elapsed_ms / 1000.0));
}

static void check_row(FILE *f, const phase *ph)
{
	fprintf(f, "| %s | %ld | %ld | %ld | %ld | %ld | %llu |\n", ph->name, ph->checked,
		ph->missing, ph->ver_bad, ph->data_bad, ph->not_found, ph->stale_reads);
}

static void deadline_storm(FILE *f, const phase *ph)
{
	if (!ph->deadline)
		return;
	fprintf(f,
		"\nDeadline storm: %d students, time limit %ld s, grace %ld s, "
		"deadlines spread over %.0f s; saves every 2 s in the last 10 s; half submit "
		"1 s before their deadline, half save 1 s after deadline + grace: answered "
		"409 attempt_closed %llu times, 409 attempt_submitted (the sweep came first) "
		"%llu times. ",
		ph->n, g_limit_s, g_grace_s, ph->window_ms / 1000.0, ph->late_closed,
		ph->late_submitted);
	if (ph->sweep_s >= 0)
		fprintf(f,
			"Nothing left in progress %.1f s after the last deadline + grace "
			"(target ≤ 10 s: %s).\n",
			ph->sweep_s, ph->sweep_s <= 10.0 ? "met" : "**not met**");
	else
		fprintf(f,
			"**%ld attempts still in progress** 15 s after the last deadline + "
			"grace.\n",
			ph->left_in_progress);
}

void report(FILE *f)
{
	table(f,
	      "| phase | students | requests | req/s | kind | n | p50 ms | p99 ms | max ms | "
	      "errors | answers other than 2xx | holds (p99 ≤ 50 ms, no error) |\n"
	      "|---|---|---|---|---|---|---|---|---|---|---|---|\n",
	      latency_rows);
	table(f,
	      "\nRequests sent again on a new connection because nginx closed a kept-alive "
	      "one before reading them (as browsers do; counted as one request):",
	      resent_item);
	fputs(".\n", f);
	table(f,
	      "\nCPU per request (µs of user + system time during the phase, over its "
	      "answered requests):\n\n"
	      "| phase | FastCGI workers | nginx | PostgreSQL | generator | generator CPU "
	      "% of one core |\n|---|---|---|---|---|---|\n",
	      cpu_row);
	table(f,
	      "\nAcknowledged saves in the database (version = 1 + acknowledged saves "
	      "(+1 when submitted), answers = the last acknowledged save's):\n\n"
	      "| phase | attempts checked | missing or wrong | of which: version | data | not "
	      "found | stale state reads |\n|---|---|---|---|---|---|---|\n",
	      check_row);
	table(f, "", deadline_storm);
}
