/* metrics: this process's per-operation counters (calls, database calls,
 * cache hits, errors) and latency histograms, lock-free (atomics), plus
 * the process's request count and start time. Owns counting and the JSON
 * rendering of API.md's `optimization` statistics parts it knows. */
#ifndef ATT_METRICS_H
#define ATT_METRICS_H

#include <cJSON.h>

#include "att_err.h"

typedef struct metrics metrics;

#define METRICS_BUCKETS 96

/* Creates counters for n named operations (names must outlive it). The
 * caller frees it with metrics_free(). */
att_err metrics_create(const char *const *names, int n, metrics **out) ATT_MUSTCHECK;

/* Frees m. Accepts NULL. */
void metrics_free(metrics *m);

/* Records one finished request of operation op (0..n-1; -1 = counted only
 * as a request) with its latency, database calls made and cache hits. */
void metrics_record(metrics *m, int op, long long latency_us, int db_calls, int cache_hits,
		    int failed);

/* The latency (microseconds) at quantile q (0..1) of op: the upper bound
 * of the histogram bucket holding it; 0 with no samples. */
long long metrics_quantile_us(metrics *m, int op, double q);

/* Totals over every operation. */
unsigned long long metrics_requests(metrics *m);
unsigned long long metrics_db_calls(metrics *m);
unsigned long long metrics_calls(metrics *m, int op);
unsigned long long metrics_op_db_calls(metrics *m, int op);
/* Calls of the operation named name (0 if no operation has that name). */
unsigned long long metrics_calls_named(metrics *m, const char *name);
long long metrics_uptime_s(metrics *m);

/* {"<op>": {"calls","db_calls","cache_hits","errors","p50_ms","p95_ms",
 * "p99_ms"}, ...} for operations called at least once. The caller deletes
 * it with cJSON_Delete(); NULL on allocation failure. */
cJSON *metrics_operations_json(metrics *m);

#endif
