/* metrics: relaxed atomic counters and log-scale latency histograms
 * (bucket i holds latencies below 1.2^i microseconds). */
#include "metrics.h"

#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct op_counters {
	atomic_ullong calls;
	atomic_ullong db_calls;
	atomic_ullong cache_hits;
	atomic_ullong errors;
	atomic_ullong buckets[METRICS_BUCKETS];
} op_counters;

struct metrics {
	const char *const *names;
	int n;
	op_counters *ops;
	atomic_ullong requests;
	time_t started;
};

static double bucket_bound_us(int i)
{
	return pow(1.2, i);
}

static int bucket_of(long long us)
{
	int i;

	if (us < 1)
		return 0;
	i = (int)ceil(log((double)us) / log(1.2));
	while (i < METRICS_BUCKETS - 1 && bucket_bound_us(i) <= (double)us)
		i++;
	return i < METRICS_BUCKETS ? i : METRICS_BUCKETS - 1;
}

att_err metrics_create(const char *const *names, int n, metrics **out)
{
	metrics *m = calloc(1, sizeof *m);

	if (m == NULL)
		return ATT_ENOMEM;
	m->ops = calloc((size_t)(n > 0 ? n : 1), sizeof *m->ops);
	if (m->ops == NULL) {
		free(m);
		return ATT_ENOMEM;
	}
	m->names = names;
	m->n = n;
	m->started = time(NULL);
	*out = m;
	return ATT_OK;
}

void metrics_free(metrics *m)
{
	if (m == NULL)
		return;
	free(m->ops);
	free(m);
}

void metrics_record(metrics *m, int op, long long latency_us, int db_calls, int cache_hits,
		    int failed)
{
	op_counters *c;

	atomic_fetch_add_explicit(&m->requests, 1, memory_order_relaxed);
	if (op < 0 || op >= m->n)
		return;
	c = &m->ops[op];
	atomic_fetch_add_explicit(&c->calls, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&c->db_calls, (unsigned long long)db_calls, memory_order_relaxed);
	atomic_fetch_add_explicit(&c->cache_hits, (unsigned long long)cache_hits,
				  memory_order_relaxed);
	if (failed)
		atomic_fetch_add_explicit(&c->errors, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&c->buckets[bucket_of(latency_us)], 1, memory_order_relaxed);
}

unsigned long long metrics_calls_named(metrics *m, const char *name)
{
	for (int i = 0; i < m->n; i++)
		if (strcmp(m->names[i], name) == 0)
			return metrics_calls(m, i);
	return 0;
}

long long metrics_quantile_us(metrics *m, int op, double q)
{
	unsigned long long counts[METRICS_BUCKETS], total = 0, seen = 0, rank;

	if (op < 0 || op >= m->n)
		return 0;
	for (int i = 0; i < METRICS_BUCKETS; i++) {
		counts[i] = atomic_load_explicit(&m->ops[op].buckets[i], memory_order_relaxed);
		total += counts[i];
	}
	if (total == 0)
		return 0;
	rank = (unsigned long long)ceil(q * (double)total);
	if (rank < 1)
		rank = 1;
	for (int i = 0; i < METRICS_BUCKETS; i++) {
		seen += counts[i];
		if (seen >= rank)
			return (long long)ceil(bucket_bound_us(i));
	}
	return (long long)ceil(bucket_bound_us(METRICS_BUCKETS - 1));
}

unsigned long long metrics_requests(metrics *m)
{
	return atomic_load_explicit(&m->requests, memory_order_relaxed);
}

unsigned long long metrics_calls(metrics *m, int op)
{
	return op >= 0 && op < m->n ? atomic_load_explicit(&m->ops[op].calls, memory_order_relaxed)
				    : 0;
}

unsigned long long metrics_op_db_calls(metrics *m, int op)
{
	return op >= 0 && op < m->n
		       ? atomic_load_explicit(&m->ops[op].db_calls, memory_order_relaxed)
		       : 0;
}

unsigned long long metrics_db_calls(metrics *m)
{
	unsigned long long total = 0;

	for (int i = 0; i < m->n; i++)
		total += metrics_op_db_calls(m, i);
	return total;
}

long long metrics_uptime_s(metrics *m)
{
	return (long long)(time(NULL) - m->started);
}

cJSON *metrics_operations_json(metrics *m)
{
	cJSON *root = cJSON_CreateObject();

	if (root == NULL)
		return NULL;
	for (int i = 0; i < m->n; i++) {
		op_counters *c = &m->ops[i];
		unsigned long long calls = metrics_calls(m, i);
		cJSON *op;

		if (calls == 0)
			continue;
		op = cJSON_AddObjectToObject(root, m->names[i]);
		if (op == NULL)
			goto fail;
		cJSON_AddNumberToObject(op, "calls", (double)calls);
		cJSON_AddNumberToObject(op, "db_calls", (double)metrics_op_db_calls(m, i));
		cJSON_AddNumberToObject(op, "cache_hits", (double)atomic_load(&c->cache_hits));
		cJSON_AddNumberToObject(op, "errors", (double)atomic_load(&c->errors));
		cJSON_AddNumberToObject(op, "p50_ms", metrics_quantile_us(m, i, 0.50) / 1000.0);
		cJSON_AddNumberToObject(op, "p95_ms", metrics_quantile_us(m, i, 0.95) / 1000.0);
		cJSON_AddNumberToObject(op, "p99_ms", metrics_quantile_us(m, i, 0.99) / 1000.0);
	}
	return root;
fail:
	cJSON_Delete(root);
	return NULL;
}
