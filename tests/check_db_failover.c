/* check_db_failover: db_call after a failover (issue 19, docs/SCALING.md).
 * A session that reaches a standby (the old primary, demoted behind its
 * PgBouncer, whose client connections survive the demotion) is refused
 * every write with SQLSTATE 25006 read_only_sql_transaction. db_call must
 * drop that connection and repeat the call on a new one, which libpq's
 * target_session_attrs=read-write takes to the new primary: the write did
 * nothing, so repeating it is safe. Simulated on one server: a connection
 * the pool opens is made read-only (default_transaction_read_only) while
 * the test's counter says so. Part of the db_pool_live suite's program
 * (tests/check_db_pool, run by tests/db_pool_test.sh). */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "breaker.h"
#include "check_db_pool.h"
#include "db.h"
#include "db_pool.h"

#define ADMIN_CLAIMS "{\"sub\":\"00000000-0000-4000-8000-00000000a000\",\"role\":\"admin\"}"

/* How many of the next connections the pool opens land on a "standby". */
static atomic_int standby_left;
static atomic_int opened;

static int open_maybe_standby(PGconn *conn, void *arg)
{
	(void)arg;
	atomic_fetch_add(&opened, 1);
	if (atomic_fetch_sub(&standby_left, 1) > 0) {
		PGresult *res = PQexec(conn, "SET default_transaction_read_only = on");
		int ok = PQresultStatus(res) == PGRES_COMMAND_OK;

		PQclear(res);
		if (!ok)
			return -1;
	}
	return db_prepare_all(conn, NULL);
}

/* A pool of one connection on ATTEMPTS_TEST_DB whose first `standbys`
 * connections are read-only, and a db_env of three quick tries. */
static db_pool *failover_pool(int standbys, breaker *b, db_env *env)
{
	const char *conninfo = getenv("ATTEMPTS_TEST_DB");
	pool_options opt;
	db_pool *pool = NULL;

	ck_assert_msg(conninfo != NULL && *conninfo != '\0',
		      "ATTEMPTS_TEST_DB is not set: run tests/db_pool_test.sh");
	atomic_store(&standby_left, standbys);
	atomic_store(&opened, 0);
	memset(&opt, 0, sizeof opt);
	opt.conninfo = conninfo;
	opt.min_size = 1;
	opt.max_size = 1;
	opt.acquire_timeout_ms = 2000;
	opt.idle_timeout_ms = 60000;
	opt.statement_timeout_ms = 5000;
	opt.setup = open_maybe_standby;
	ck_assert_int_eq(pool_create(&opt, &pool), ATT_OK);
	memset(env, 0, sizeof *env);
	env->pool = pool;
	env->breaker = b;
	env->retry.attempts = 3;
	env->retry.base_delay_ms = 1;
	env->retry.max_delay_ms = 5;
	return pool;
}

static pool_stats stats(db_pool *pool)
{
	pool_stats s;

	pool_get_stats(pool, &s);
	return s;
}

/* The pooled connection reaches a standby: the write is refused, the
 * connection dropped, the call repeated on a new one, which succeeds. */
START_TEST(test_write_on_standby_moves_on)
{
	db_env env;
	db_failure why;
	char *out = NULL;
	db_pool *pool = failover_pool(1, NULL, &env);

	ck_assert_int_eq(db_call(&env, ADMIN_CLAIMS, DB_STMT_SWEEP_EXPIRED, NULL, &out, &why),
			 ATT_OK);
	ck_assert_ptr_nonnull(out);
	ck_assert_int_eq(why.tries, 2);
	ck_assert_int_eq(atomic_load(&opened), 2);
	ck_assert_uint_eq(stats(pool).reconnects, 1);
	ck_assert_int_eq(stats(pool).size, 1);
	free(out);
	out = NULL;
	/* The new connection stays: the next write takes one try. */
	ck_assert_int_eq(db_call(&env, ADMIN_CLAIMS, DB_STMT_SWEEP_EXPIRED, NULL, &out, &why),
			 ATT_OK);
	ck_assert_int_eq(why.tries, 1);
	ck_assert_int_eq(atomic_load(&opened), 2);
	free(out);
	pool_free(pool);
}
END_TEST

/* Only standbys (no primary yet): every try refused, each on a new
 * connection; the answer is "unavailable, nothing was written" (a client's
 * retry is safe), and the breaker counts each as a failure. */
START_TEST(test_only_standbys_unavailable_not_sent)
{
	db_env env;
	db_failure why;
	char *out = NULL;
	breaker *b = NULL;
	breaker_stats bs;
	db_pool *pool;

	ck_assert_int_eq(breaker_create(10, 60000, NULL, NULL, &b), ATT_OK);
	pool = failover_pool(100, b, &env);
	ck_assert_int_eq(db_call(&env, ADMIN_CLAIMS, DB_STMT_SWEEP_EXPIRED, NULL, &out, &why),
			 ATT_EUNAVAILABLE);
	ck_assert_ptr_null(out);
	ck_assert_str_eq(why.sqlstate, "25006");
	ck_assert_int_eq(why.sent, 0);
	ck_assert_int_eq(why.tries, 3);
	ck_assert_int_eq(atomic_load(&opened), 3);
	breaker_get_stats(b, &bs);
	ck_assert_int_eq(bs.failures, 3);
	/* Reads still work on a standby: not refused, connection kept. */
	ck_assert_int_eq(db_call(&env, NULL, DB_STMT_PING, NULL, &out, &why), ATT_OK);
	ck_assert_int_eq(why.tries, 1);
	free(out);
	breaker_free(b);
	pool_free(pool);
}
END_TEST

/* Only 25006 means "a standby": other 25xxx and serialization failures
 * keep their own handling. */
START_TEST(test_sqlstate_is_standby)
{
	static const struct {
		const char *sqlstate;
		int standby;
	} cases[] = {{"25006", 1}, {"25P02", 0}, {"40001", 0}, {"", 0}, {NULL, 0}};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		ck_assert_int_eq(db_sqlstate_is_standby(cases[i].sqlstate), cases[i].standby);
}
END_TEST

/* Part of tests/check_db_pool (tests/check_db_pool_main.c). */
void db_failover_cases(Suite *s)
{
	TCase *tc = check_tcase(s, "standby", NULL, NULL, test_sqlstate_is_standby,
				test_write_on_standby_moves_on,
				test_only_standbys_unavailable_not_sent, NULL);

	tcase_set_timeout(tc, 30);
}
