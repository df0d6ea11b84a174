/* check_metrics: per-operation counters, histogram quantiles, the JSON of
 * the optimization statistics, and exact sums under concurrent recording. */
#include <math.h>
#include <string.h>

#include "check_suites.h"
#include "metrics.h"

static const char *const op_names[] = {"alpha", "beta", "gamma"};
#define NOPS 3

/* The fixture: metrics m of the NOPS operations op_names, and the JSON of
 * its operations once a test reads it (ops_json()), freed after it. */
static metrics *m;
static cJSON *json;

static void setup(void)
{
	m = NULL;
	json = NULL;
	ck_assert_int_eq(metrics_create(op_names, NOPS, &m), ATT_OK);
	ck_assert_ptr_nonnull(m);
}

static void teardown(void)
{
	cJSON_Delete(json);
	json = NULL;
	metrics_free(m);
	m = NULL;
}

/* Reads metrics_operations_json(m) into json, replacing what it held. */
static void ops_json(void)
{
	cJSON_Delete(json);
	json = metrics_operations_json(m);
	ck_assert_ptr_nonnull(json);
}

/* The number at key in obj, which must be there and be a number. */
static double num(const cJSON *obj, const char *key)
{
	const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, key);

	ck_assert_msg(cJSON_IsNumber(item), "no number at \"%s\"", key);
	return item->valuedouble;
}

/* Asserts the counts json gives operation name: calls, db_calls,
 * cache_hits, errors. */
static void expect_op_counts(const char *name, double calls, double db_calls, double cache_hits,
			     double errors)
{
	const cJSON *op = cJSON_GetObjectItemCaseSensitive(json, name);

	ck_assert_msg(op != NULL, "no operation \"%s\"", name);
	ck_assert_double_eq(num(op, "calls"), calls);
	ck_assert_double_eq(num(op, "db_calls"), db_calls);
	ck_assert_double_eq(num(op, "cache_hits"), cache_hits);
	ck_assert_double_eq(num(op, "errors"), errors);
}

START_TEST(test_metrics_fresh)
{

	ck_assert_uint_eq(metrics_requests(m), 0);
	ck_assert_uint_eq(metrics_db_calls(m), 0);
	for (int i = 0; i < NOPS; i++) {
		ck_assert_uint_eq(metrics_calls(m, i), 0);
		ck_assert_uint_eq(metrics_op_db_calls(m, i), 0);
		ck_assert_int_eq(metrics_quantile_us(m, i, 0.5), 0);
	}
	ck_assert_int_ge(metrics_uptime_s(m), 0);
	ops_json();
	ck_assert(cJSON_IsObject(json));
	ck_assert_int_eq(cJSON_GetArraySize(json), 0);
}
END_TEST

START_TEST(test_metrics_record_and_read)
{
	metrics_record(m, 0, 1000, 2, 1, 0);
	metrics_record(m, 0, 2000, 3, 0, 1);
	metrics_record(m, 0, 500, 0, 4, 1);
	metrics_record(m, 2, 10, 1, 0, 0);
	ck_assert_uint_eq(metrics_requests(m), 4);
	ck_assert_uint_eq(metrics_calls(m, 0), 3);
	ck_assert_uint_eq(metrics_calls(m, 1), 0);
	ck_assert_uint_eq(metrics_calls(m, 2), 1);
	ck_assert_uint_eq(metrics_op_db_calls(m, 0), 5);
	ck_assert_uint_eq(metrics_op_db_calls(m, 1), 0);
	ck_assert_uint_eq(metrics_op_db_calls(m, 2), 1);
	ck_assert_uint_eq(metrics_db_calls(m), 6);
	/* Out-of-range operations read as zero and are not counted. */
	metrics_record(m, -1, 10, 100, 0, 0);
	metrics_record(m, NOPS, 10, 100, 0, 0);
	ck_assert_uint_eq(metrics_db_calls(m), 6);
	ck_assert_uint_eq(metrics_calls(m, -1), 0);
	ck_assert_uint_eq(metrics_calls(m, NOPS), 0);
	ck_assert_uint_eq(metrics_op_db_calls(m, NOPS), 0);
	ck_assert_int_eq(metrics_quantile_us(m, NOPS, 0.5), 0);
	ck_assert_int_eq(metrics_quantile_us(m, -1, 0.5), 0);

	/* cache_hits and errors are read through the JSON. */
	ops_json();
	expect_op_counts("alpha", 3, 5, 5, 2);
	expect_op_counts("gamma", 1, 1, 0, 0);
}
END_TEST

START_TEST(test_metrics_op_minus_one_counts_request_only)
{

	metrics_record(m, -1, 12345, 9, 9, 1);
	metrics_record(m, NOPS, 12345, 9, 9, 1); /* out of range: the same */
	ck_assert_uint_eq(metrics_requests(m), 2);
	ck_assert_uint_eq(metrics_db_calls(m), 0);
	for (int i = 0; i < NOPS; i++) {
		ck_assert_uint_eq(metrics_calls(m, i), 0);
		ck_assert_int_eq(metrics_quantile_us(m, i, 0.99), 0);
	}
	ops_json();
	ck_assert_int_eq(cJSON_GetArraySize(json), 0);
}
END_TEST

/* Bucket i holds latencies in [1.2^(i-1), 1.2^i) and a quantile reports
 * the bucket's upper bound, so a lone sample L reads as a value in
 * (L, 1.2 L], rounded up to whole microseconds. */
START_TEST(test_metrics_quantile_single_sample_bounds)
{
	static const long long samples[] = {1,	   2,	   3,	   5,	    7,	     17,
					    99,	   100,	   999,	   1000,    1001,    4096,
					    50000, 123456, 999999, 1000000, 7654321, 10000000};

	for (size_t i = 0; i < sizeof samples / sizeof samples[0]; i++) {
		static const char *const one[] = {"op"};
		long long l = samples[i], q;
		metrics *lone = NULL;

		ck_assert_int_eq(metrics_create(one, 1, &lone), ATT_OK);
		metrics_record(lone, 0, l, 0, 0, 0);
		q = metrics_quantile_us(lone, 0, 0.5);
		ck_assert_msg(q >= l && q <= (long long)ceil(1.2 * (double)l),
			      "latency %lld us reads as %lld us", l, q);
		ck_assert_int_eq(metrics_quantile_us(lone, 0, 0.0), q);
		ck_assert_int_eq(metrics_quantile_us(lone, 0, 1.0), q);
		metrics_free(lone);
	}
}
END_TEST

START_TEST(test_metrics_quantiles)
{
	long long p50, p95, p99, pmax;

	for (int i = 0; i < 100; i++)
		metrics_record(m, 1, 1000, 0, 0, 0);
	metrics_record(m, 1, 100000, 0, 0, 0);
	p50 = metrics_quantile_us(m, 1, 0.50);
	p95 = metrics_quantile_us(m, 1, 0.95);
	p99 = metrics_quantile_us(m, 1, 0.99);
	pmax = metrics_quantile_us(m, 1, 1.0);
	/* 1000 us sits in a bucket whose upper bound is under 1.2 * 1000. */
	ck_assert_int_ge(p50, 1000);
	ck_assert_int_le(p50, 1200);
	ck_assert_int_eq(p95, p50);
	/* The 99th percentile of 101 samples is the 100th smallest
	 * (ceil(0.99 * 101) = 100): still 1000 us, not the outlier. */
	ck_assert_int_eq(p99, p50);
	ck_assert_int_le(p99, 1200);
	/* The outlier is the maximum. */
	ck_assert_int_ge(pmax, 100000);
	ck_assert_int_le(pmax, 120000);
	/* Other operations are untouched: empty reads as 0. */
	ck_assert_int_eq(metrics_quantile_us(m, 0, 0.5), 0);
	ck_assert_int_eq(metrics_quantile_us(m, 2, 0.99), 0);
}
END_TEST

START_TEST(test_metrics_quantiles_monotonic)
{
	long long prev = 0;

	for (long long l = 1; l <= 1000000; l = l * 3 + 1)
		for (int k = 0; k < 5; k++)
			metrics_record(m, 0, l, 0, 0, 0);
	for (int i = 0; i <= 100; i++) {
		long long q = metrics_quantile_us(m, 0, i / 100.0);

		ck_assert_int_ge(q, prev);
		prev = q;
	}
}
END_TEST

START_TEST(test_metrics_json_shape)
{
	static const char *const keys[] = {"calls",  "db_calls", "cache_hits", "errors",
					   "p50_ms", "p95_ms",	 "p99_ms"};
	cJSON *op, *field;
	int nops = 0;

	metrics_record(m, 0, 1000, 1, 0, 0);
	metrics_record(m, 2, 2500, 0, 1, 1);
	ops_json();
	ck_assert_ptr_null(cJSON_GetObjectItemCaseSensitive(json, "beta"));
	cJSON_ArrayForEach(op, json)
	{
		int nfields = 0, idx = strcmp(op->string, "alpha") == 0 ? 0 : 2;

		ck_assert_msg(strcmp(op->string, "alpha") == 0 || strcmp(op->string, "gamma") == 0,
			      "unexpected operation \"%s\"", op->string);
		ck_assert(cJSON_IsObject(op));
		nops++;
		cJSON_ArrayForEach(field, op)
		{
			int known = 0;

			for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++)
				known |= strcmp(field->string, keys[k]) == 0;
			ck_assert_msg(known, "unexpected key \"%s\"", field->string);
			ck_assert(cJSON_IsNumber(field));
			nfields++;
		}
		ck_assert_int_eq(nfields, 7);
		for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++)
			(void)num(op, keys[k]);
		/* The quantiles are the microsecond ones in milliseconds. */
		ck_assert_double_eq_tol(num(op, "p50_ms"),
					metrics_quantile_us(m, idx, 0.50) / 1000.0, 1e-9);
		ck_assert_double_eq_tol(num(op, "p95_ms"),
					metrics_quantile_us(m, idx, 0.95) / 1000.0, 1e-9);
		ck_assert_double_eq_tol(num(op, "p99_ms"),
					metrics_quantile_us(m, idx, 0.99) / 1000.0, 1e-9);
	}
	ck_assert_int_eq(nops, 2);
	op = cJSON_GetObjectItemCaseSensitive(json, "gamma");
	ck_assert_double_ge(num(op, "p50_ms"), 2.5);
	ck_assert_double_le(num(op, "p50_ms"), 3.0);
}
END_TEST

START_TEST(test_metrics_free_null)
{
	metrics_free(NULL);
}
END_TEST

/* ---------------------------------------------------------- concurrency */

#define REC_THREADS 8
#define REC_ITERS 50000

/* Request i of thread t: round-robin over ops -1..NOPS-1, each with 2 db
 * calls, 1 cache hit, and a failure every 4th. */
static void record_one(check_thread *t, int i)
{
	int op = (i + t->index) % (NOPS + 1) - 1;

	metrics_record(m, op, 1 + (i % 5000) * 37, 2, 1, i % 4 == 0);
}

START_TEST(test_metrics_concurrent_sums)
{
	unsigned long long want_calls[NOPS] = {0}, want_db[NOPS] = {0};
	unsigned long long want_hits[NOPS] = {0}, want_err[NOPS] = {0};
	unsigned long long want_db_total = 0;

	/* What the threads will record, computed the same way serially. */
	for (int t = 0; t < REC_THREADS; t++)
		for (int i = 0; i < REC_ITERS; i++) {
			int op = (i + t) % (NOPS + 1) - 1;

			if (op >= 0) {
				want_calls[op]++;
				want_db[op] += 2;
				want_hits[op]++;
				want_err[op] += i % 4 == 0;
			}
		}
	for (int i = 0; i < NOPS; i++)
		want_db_total += want_db[i];

	check_threads(REC_THREADS, REC_ITERS, record_one, NULL, 0);

	ck_assert_uint_eq(metrics_requests(m), (unsigned long long)REC_THREADS * REC_ITERS);
	ck_assert_uint_eq(metrics_db_calls(m), want_db_total);
	ops_json();
	for (int i = 0; i < NOPS; i++) {
		ck_assert_uint_eq(metrics_calls(m, i), want_calls[i]);
		ck_assert_uint_eq(metrics_op_db_calls(m, i), want_db[i]);
		expect_op_counts(op_names[i], (double)want_calls[i], (double)want_db[i],
				 (double)want_hits[i], (double)want_err[i]);
		/* Every sample landed in some bucket: the maximum is found. */
		ck_assert_int_ge(metrics_quantile_us(m, i, 1.0), 1 + 4999 * 37);
	}
}
END_TEST

void metrics_cases(Suite *s)
{
	TCase *tc;

	check_tcase(s, "counters", setup, teardown, test_metrics_fresh,
		    test_metrics_record_and_read, test_metrics_op_minus_one_counts_request_only,
		    test_metrics_free_null, NULL);

	check_tcase(s, "quantiles", setup, teardown, test_metrics_quantile_single_sample_bounds,
		    test_metrics_quantiles, test_metrics_quantiles_monotonic, NULL);

	check_tcase(s, "json", setup, teardown, test_metrics_json_shape, NULL);

	tc = check_tcase(s, "concurrency", setup, teardown, test_metrics_concurrent_sums, NULL);
	tcase_set_timeout(tc, 6 * CHECK_TIMEOUT_S);
}
