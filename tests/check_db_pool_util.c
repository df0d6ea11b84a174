/* check_db_pool_util: pools, connections and values for the pool's tests
 * (check_db_pool.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_db_pool.h"

/* The test database's conninfo; fails the test when it is not set. */
const char *dp_test_db(void)
{
	const char *conninfo = getenv("ATTEMPTS_TEST_DB");

	ck_assert_msg(conninfo != NULL && *conninfo != '\0',
		      "ATTEMPTS_TEST_DB is not set: run tests/db_pool_test.sh, which starts a"
		      " PostgreSQL for these tests");
	return conninfo;
}

pool_options dp_options(const char *conninfo, int min, int max)
{
	pool_options opt;

	memset(&opt, 0, sizeof opt);
	opt.conninfo = conninfo;
	opt.min_size = min;
	opt.max_size = max;
	opt.acquire_timeout_ms = 2000;
	opt.idle_timeout_ms = 300000;
	opt.health_check_after_ms = 30000; /* as app.c configures it */
	return opt;
}

db_pool *dp_new_pool(const pool_options *opt)
{
	db_pool *pool = NULL;

	ck_assert_int_eq(pool_create(opt, &pool), ATT_OK);
	ck_assert_ptr_nonnull(pool);
	return pool;
}

pool_stats dp_stats_of(db_pool *pool)
{
	pool_stats s;

	pool_get_stats(pool, &s);
	return s;
}

PGconn *dp_acquire(db_pool *pool)
{
	PGconn *conn = NULL;

	ck_assert_int_eq(pool_acquire(pool, &conn), ATT_OK);
	ck_assert_ptr_nonnull(conn);
	return conn;
}

/* The single value sql returns on conn (one optional text parameter); the
 * caller frees it with free(). */
char *dp_scalar(PGconn *conn, const char *sql, const char *param)
{
	const char *params[1] = {param};
	PGresult *res = PQexecParams(conn, sql, param ? 1 : 0, NULL, params, NULL, NULL, 0);
	char *value;

	ck_assert_msg(PQresultStatus(res) == PGRES_TUPLES_OK, "%s: %s", sql, PQerrorMessage(conn));
	ck_assert_int_eq(PQntuples(res), 1);
	value = strdup(PQgetvalue(res, 0, 0));
	ck_assert_ptr_nonnull(value);
	PQclear(res);
	return value;
}

void dp_assert_scalar(PGconn *conn, const char *sql, const char *param, const char *want)
{
	char *got = dp_scalar(conn, sql, param);

	ck_assert_str_eq(got, want);
	free(got);
}

/* Three tries, with short backoff delays. */
db_env dp_make_env(db_pool *pool, breaker *b)
{
	db_env env;

	memset(&env, 0, sizeof env);
	env.pool = pool;
	env.breaker = b;
	env.retry.attempts = 3;
	env.retry.base_delay_ms = 1;
	env.retry.max_delay_ms = 5;
	return env;
}

db_pool *dp_live_pool(pool_options *opt, int min, int max)
{
	*opt = dp_options(dp_test_db(), min, max);
	return dp_new_pool(opt);
}

pool_stats dp_expect_counts(db_pool *pool, int size, int active, int idle)
{
	pool_stats s = dp_stats_of(pool);

	ck_assert_int_eq(s.size, size);
	ck_assert_int_eq(s.active, active);
	ck_assert_int_eq(s.idle, idle);
	return s;
}
