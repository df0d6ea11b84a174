/* check_db_pool: the connection pool and db_call. Two suites:
 *  - db_pool (in tests/check_unit; this file): what needs no server, i.e. the
 *    failure paths against a socket directory where nothing listens;
 *  - db_pool_live (tests/check_db_pool, run by tests/db_pool_test.sh
 *    against a throw-away PostgreSQL): the pool and db_call against a real
 *    server whose conninfo comes from ATTEMPTS_TEST_DB. Without it every
 *    test of that suite fails, naming the variable. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "breaker.h"
#include "check_db_pool.h"
#include "check_suites.h"
#include "db.h"
#include "db_pool.h"

START_TEST(test_pool_free_null)
{
	pool_free(NULL);
}
END_TEST

/* ---------------------------------------------------- no server at all */

/* A conninfo for an empty socket directory: nothing listens there. */
static char dead_dir[64];
static char dead_conninfo[160];

static void dead_setup(void)
{
	snprintf(dead_dir, sizeof dead_dir, "/tmp/check_db_pool_XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dead_dir));
	snprintf(dead_conninfo, sizeof dead_conninfo,
		 "host=%s port=5999 dbname=none user=none connect_timeout=2", dead_dir);
}

static void dead_teardown(void)
{
	rmdir(dead_dir);
}

START_TEST(test_pool_unreachable)
{
	pool_options opt = dp_options(dead_conninfo, 1, 2);
	db_pool *pool = dp_new_pool(&opt); /* not fatal */
	PGconn *conn = NULL;
	pool_stats s = dp_stats_of(pool);

	ck_assert_int_eq(s.size, 0);
	ck_assert_uint_eq(s.connect_failures, 1);
	ck_assert_int_eq(pool_acquire(pool, &conn), ATT_EUNAVAILABLE);
	ck_assert_ptr_null(conn);
	ck_assert_int_eq(pool_acquire(pool, &conn), ATT_EUNAVAILABLE);
	s = dp_expect_counts(pool, 0, 0, 0);
	ck_assert_uint_eq(s.connect_failures, 3);
	ck_assert_uint_eq(s.acquire_timeouts, 0);
	pool_free(pool);
}
END_TEST

START_TEST(test_db_call_unavailable_after_retries)
{
	pool_options opt = dp_options(dead_conninfo, 0, 2);
	db_pool *pool = dp_new_pool(&opt);
	db_env env = dp_make_env(pool, NULL);
	db_failure why;
	char *out = (char *)"untouched";

	ck_assert_int_eq(db_call(&env, NULL, DB_STMT_PING, NULL, &out, &why), ATT_EUNAVAILABLE);
	ck_assert_str_eq(out, "untouched");
	/* One connection attempt per try, nothing ever sent. */
	ck_assert_uint_eq(dp_stats_of(pool).connect_failures, 3);
	ck_assert_int_eq(why.tries, 0);
	ck_assert_int_eq(why.sent, 0);
	ck_assert_int_eq(why.breaker_open, 0);
	ck_assert_str_eq(why.sqlstate, "");
	ck_assert_str_ne(why.message, "");
	pool_free(pool);
}
END_TEST

START_TEST(test_db_call_breaker_opens)
{
	pool_options opt = dp_options(dead_conninfo, 0, 2);
	db_pool *pool = dp_new_pool(&opt);
	breaker *b = NULL;
	db_env env;
	db_failure why;
	char *out = NULL;
	unsigned long long failures;
	breaker_stats bs;

	ck_assert_int_eq(breaker_create(2, 60000, NULL, NULL, &b), ATT_OK);
	env = dp_make_env(pool, b);
	ck_assert_int_eq(db_call(&env, NULL, DB_STMT_PING, NULL, &out, &why), ATT_EUNAVAILABLE);
	breaker_get_stats(b, &bs);
	ck_assert_int_eq(bs.state, BREAKER_OPEN);
	ck_assert_uint_eq(bs.opened_count, 1);
	failures = dp_stats_of(pool).connect_failures;
	ck_assert_uint_eq(failures, 2); /* the third try was refused */

	/* Now refused at once, without touching the pool. */
	ck_assert_int_eq(db_call(&env, NULL, DB_STMT_PING, NULL, &out, &why), ATT_EUNAVAILABLE);
	ck_assert_int_eq(why.breaker_open, 1);
	ck_assert_int_gt(why.retry_after_ms, 0);
	ck_assert_int_le(why.retry_after_ms, 60000);
	ck_assert_int_eq(why.tries, 0);
	ck_assert_int_eq(why.sent, 0);
	ck_assert_uint_eq(dp_stats_of(pool).connect_failures, failures);
	breaker_free(b);
	pool_free(pool);
}
END_TEST

void db_pool_cases(Suite *s)
{
	check_tcase(s, "pool", NULL, NULL, test_pool_free_null, NULL);

	check_tcase(s, "unreachable", dead_setup, dead_teardown, test_pool_unreachable,
		    test_db_call_unavailable_after_retries, test_db_call_breaker_opens, NULL);
}
