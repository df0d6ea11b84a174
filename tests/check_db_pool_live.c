/* check_db_pool_live: the db_pool_live suite (see check_db_pool.c): the pool
 * and db_call against the real PostgreSQL named by ATTEMPTS_TEST_DB. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "breaker.h"
#include "check_db_pool.h"
#include "check_suites.h"
#include "clock.h"
#include "db.h"
#include "db_pool.h"

/* The fixture: the pool a test makes, with its options opt; freed after
 * the test. */
static pool_options opt;
static db_pool *pool;

static void setup(void)
{
	pool = NULL;
}

static void teardown(void)
{
	pool_free(pool);
	pool = NULL;
}

/* ---------------------------------------------------------------- pool */

START_TEST(test_pool_create_opens_min)
{
	pool_stats s;

	pool = dp_live_pool(&opt, 2, 4);
	s = dp_expect_counts(pool, 2, 0, 2);
	ck_assert_uint_eq(s.connect_failures, 0);
	ck_assert_uint_eq(s.reconnects, 0);
}
END_TEST

START_TEST(test_pool_acquire_release_counts)
{
	PGconn *c[3];
	pool_stats s;

	pool = dp_live_pool(&opt, 1, 3);
	c[0] = dp_acquire(pool);
	s = dp_expect_counts(pool, 1, 1, 0);
	c[1] = dp_acquire(pool);
	c[2] = dp_acquire(pool);
	ck_assert_ptr_ne(c[0], c[1]);
	ck_assert_ptr_ne(c[1], c[2]);
	ck_assert_ptr_ne(c[0], c[2]);
	s = dp_expect_counts(pool, 3, 3, 0);
	for (int i = 0; i < 3; i++)
		dp_assert_scalar(c[i], "SELECT 1", NULL, "1");
	pool_release(pool, c[1], 0);
	s = dp_expect_counts(pool, 3, 2, 1);
	/* The connection just parked is handed out again. */
	ck_assert_ptr_eq(dp_acquire(pool), c[1]);
	pool_release(pool, c[0], 0);
	pool_release(pool, c[1], 0);
	pool_release(pool, c[2], 0);
	s = dp_expect_counts(pool, 3, 0, 3);
	ck_assert_uint_eq(s.acquire_waits, 0);
	ck_assert_uint_eq(s.acquire_timeouts, 0);
	/* pool_count_query only counts. */
	pool_count_query(pool);
	pool_count_query(pool);
	ck_assert_uint_eq(dp_stats_of(pool).queries, 2);
}
END_TEST

START_TEST(test_pool_acquire_times_out_at_max)
{
	PGconn *a, *b, *c = NULL;
	long long start, waited;
	pool_stats s;

	opt = dp_options(dp_test_db(), 0, 2);
	opt.acquire_timeout_ms = 300;
	pool = dp_new_pool(&opt);
	a = dp_acquire(pool);
	b = dp_acquire(pool);
	start = clock_monotonic_ms(NULL);
	ck_assert_int_eq(pool_acquire(pool, &c), ATT_ETIMEOUT);
	waited = clock_monotonic_ms(NULL) - start;
	ck_assert_ptr_null(c); /* written only on success */
	ck_assert_msg(waited >= 300, "gave up after %lld ms, before the 300 ms timeout", waited);
	ck_assert_msg(waited < 5000, "waited %lld ms for a 300 ms timeout", waited);
	s = dp_stats_of(pool);
	ck_assert_uint_eq(s.acquire_waits, 1);
	ck_assert_uint_eq(s.acquire_timeouts, 1);
	ck_assert_int_eq(s.active, 2);
	pool_release(pool, a, 0);
	pool_release(pool, b, 0);
}
END_TEST

typedef struct waiter {
	db_pool *pool;
	att_err err;
	PGconn *conn;
} waiter;

static void *wait_for_connection(void *p)
{
	waiter *w = p;

	w->err = pool_acquire(w->pool, &w->conn);
	return NULL;
}

START_TEST(test_pool_release_wakes_waiter)
{
	PGconn *mine;
	pthread_t th;
	waiter w;
	pool_stats s;
	int i;

	opt = dp_options(dp_test_db(), 1, 1);
	opt.acquire_timeout_ms = 8000;
	pool = dp_new_pool(&opt);
	mine = dp_acquire(pool);
	memset(&w, 0, sizeof w);
	w.pool = pool;
	w.err = ATT_EINVAL;
	ck_assert_int_eq(pthread_create(&th, NULL, wait_for_connection, &w), 0);
	/* Until the other thread is waiting (bounded, not a timing check). */
	for (i = 0; i < 5000 && dp_stats_of(pool).acquire_waits == 0; i++)
		check_sleep_ms(1);
	ck_assert_uint_eq(dp_stats_of(pool).acquire_waits, 1);
	pool_release(pool, mine, 0);
	ck_assert_int_eq(pthread_join(th, NULL), 0);
	ck_assert_int_eq(w.err, ATT_OK);
	ck_assert_ptr_eq(w.conn, mine); /* the one released, handed on */
	dp_assert_scalar(w.conn, "SELECT 1", NULL, "1");
	s = dp_stats_of(pool);
	ck_assert_uint_eq(s.acquire_timeouts, 0);
	ck_assert_int_eq(s.active, 1);
	pool_release(pool, w.conn, 0);
}
END_TEST

START_TEST(test_pool_release_broken_reconnects)
{
	PGconn *conn;
	char *pid1, *pid2;
	pool_stats s;

	pool = dp_live_pool(&opt, 1, 1);
	conn = dp_acquire(pool);
	pid1 = dp_scalar(conn, "SELECT pg_backend_pid()", NULL);
	pool_release(pool, conn, 1);
	s = dp_stats_of(pool);
	ck_assert_int_eq(s.size, 0);
	ck_assert_int_eq(s.idle, 0);
	ck_assert_uint_eq(s.reconnects, 0);
	conn = dp_acquire(pool);
	pid2 = dp_scalar(conn, "SELECT pg_backend_pid()", NULL);
	ck_assert_str_ne(pid1, pid2);
	s = dp_stats_of(pool);
	ck_assert_uint_eq(s.reconnects, 1);
	ck_assert_int_eq(s.size, 1);
	/* A connection left inside a transaction is not parked either. */
	dp_assert_scalar(conn, "SELECT 'x' FROM (SELECT 1) t", NULL, "x");
	PQclear(PQexec(conn, "BEGIN"));
	ck_assert_int_eq(PQtransactionStatus(conn), PQTRANS_INTRANS);
	pool_release(pool, conn, 0);
	ck_assert_int_eq(dp_stats_of(pool).size, 0);
	conn = dp_acquire(pool);
	ck_assert_int_eq(PQtransactionStatus(conn), PQTRANS_IDLE);
	ck_assert_uint_eq(dp_stats_of(pool).reconnects, 2);
	pool_release(pool, conn, 0);
	free(pid1);
	free(pid2);
}
END_TEST

START_TEST(test_pool_replaces_connection_killed_server_side)
{
	PGconn *conn, *admin;
	PGresult *res;
	ExecStatusType status;
	char pid[16], new_pid[16] = "", error[256], *gone;
	unsigned long long reconnects;
	int i;

	pool = dp_live_pool(&opt, 1, 1);
	conn = dp_acquire(pool);
	snprintf(pid, sizeof pid, "%d", PQbackendPID(conn));
	pool_release(pool, conn, 0);

	admin = PQconnectdb(opt.conninfo);
	ck_assert_int_eq(PQstatus(admin), CONNECTION_OK);
	dp_assert_scalar(admin, "SELECT pg_terminate_backend($1::int)", pid, "t");
	/* Wait until the backend has exited (bounded). */
	for (i = 0; i < 500; i++) {
		gone = dp_scalar(admin,
				 "SELECT count(*) = 0 FROM pg_stat_activity WHERE pid = $1::int",
				 pid);
		if (strcmp(gone, "t") == 0) {
			free(gone);
			break;
		}
		free(gone);
		check_sleep_ms(10);
	}
	ck_assert_int_lt(i, 500);

	/* The caller never sees the dead connection: the first query on what
	 * acquire hands out works, on a new backend. */
	conn = dp_acquire(pool);
	res = PQexec(conn, "SELECT pg_backend_pid()");
	status = PQresultStatus(res);
	snprintf(error, sizeof error, "%s", PQerrorMessage(conn));
	error[strcspn(error, "\n")] = '\0';
	if (status == PGRES_TUPLES_OK && PQntuples(res) == 1)
		snprintf(new_pid, sizeof new_pid, "%s", PQgetvalue(res, 0, 0));
	PQclear(res);
	pool_release(pool, conn, 0);
	reconnects = dp_stats_of(pool).reconnects;
	PQfinish(admin);
	ck_assert_msg(status == PGRES_TUPLES_OK, "query on the acquired connection: %s", error);
	ck_assert_str_ne(new_pid, pid);
	ck_assert_uint_eq(reconnects, 1);
}
END_TEST

static int count_setup(PGconn *conn, void *arg)
{
	PGresult *res = PQexec(conn, "SELECT 1");
	int ok = PQresultStatus(res) == PGRES_TUPLES_OK;

	PQclear(res);
	atomic_fetch_add((atomic_int *)arg, 1);
	return ok ? 0 : -1;
}

static int failing_setup(PGconn *conn, void *arg)
{
	(void)conn;
	atomic_fetch_add((atomic_int *)arg, 1);
	return -1;
}

START_TEST(test_pool_setup_runs_on_every_connection)
{
	atomic_int calls;
	PGconn *c[3];

	atomic_init(&calls, 0);
	opt = dp_options(dp_test_db(), 2, 3);
	opt.setup = count_setup;
	opt.setup_arg = &calls;
	pool = dp_new_pool(&opt);
	ck_assert_int_eq(atomic_load(&calls), 2);
	for (int i = 0; i < 3; i++)
		c[i] = dp_acquire(pool);
	ck_assert_int_eq(atomic_load(&calls), 3);
	pool_release(pool, c[0], 1);
	pool_release(pool, c[1], 0);
	c[0] = dp_acquire(pool); /* the parked one: no new connection */
	ck_assert_int_eq(atomic_load(&calls), 3);
	c[1] = dp_acquire(pool); /* replaces the broken one */
	ck_assert_int_eq(atomic_load(&calls), 4);
	for (int i = 0; i < 3; i++)
		pool_release(pool, c[i], 0);
}
END_TEST

START_TEST(test_pool_setup_failure_closes)
{
	atomic_int calls;
	PGconn *conn = NULL;
	pool_stats s;

	atomic_init(&calls, 0);
	opt = dp_options(dp_test_db(), 1, 2);
	opt.setup = failing_setup;
	opt.setup_arg = &calls;
	pool = dp_new_pool(&opt); /* not fatal */
	s = dp_stats_of(pool);
	ck_assert_int_eq(s.size, 0);
	ck_assert_uint_eq(s.connect_failures, 1);
	ck_assert_int_eq(pool_acquire(pool, &conn), ATT_EUNAVAILABLE);
	ck_assert_ptr_null(conn);
	s = dp_stats_of(pool);
	ck_assert_int_eq(s.size, 0);
	ck_assert_uint_eq(s.connect_failures, 2);
	ck_assert_int_eq(atomic_load(&calls), 2);
}
END_TEST

START_TEST(test_pool_session_setup)
{
	PGconn *conn;

	opt = dp_options(dp_test_db(), 1, 2);
	opt.statement_timeout_ms = 1234;
	pool = dp_new_pool(&opt);
	conn = dp_acquire(pool);
	dp_assert_scalar(conn, "SHOW search_path", NULL, "pg_catalog, attempts");
	dp_assert_scalar(conn, "SHOW statement_timeout", NULL, "1234ms");
	dp_assert_scalar(conn, "SHOW TimeZone", NULL, "UTC");
	/* The same on a connection opened on demand. */
	{
		PGconn *second = dp_acquire(pool);

		dp_assert_scalar(second, "SHOW search_path", NULL, "pg_catalog, attempts");
		pool_release(pool, second, 0);
	}
	pool_release(pool, conn, 0);
}
END_TEST

START_TEST(test_pool_reap_idle)
{
	PGconn *c[3];
	pool_stats s;

	opt = dp_options(dp_test_db(), 1, 3);
	opt.idle_timeout_ms = 1000;
	pool = dp_new_pool(&opt);
	for (int i = 0; i < 3; i++)
		c[i] = dp_acquire(pool);
	for (int i = 0; i < 3; i++)
		pool_release(pool, c[i], 0);
	ck_assert_int_eq(pool_reap_idle(pool), 0); /* not idle long enough */
	ck_assert_int_eq(dp_stats_of(pool).idle, 3);
	check_sleep_ms(1200);
	ck_assert_int_eq(pool_reap_idle(pool), 2);
	s = dp_stats_of(pool);
	ck_assert_int_eq(s.size, 1); /* min_size stays */
	ck_assert_int_eq(s.idle, 1);
	ck_assert_int_eq(pool_reap_idle(pool), 0);
	/* What is left works, and the pool grows again on demand. */
	c[0] = dp_acquire(pool);
	c[1] = dp_acquire(pool);
	dp_assert_scalar(c[0], "SELECT 1", NULL, "1");
	dp_assert_scalar(c[1], "SELECT 1", NULL, "1");
	pool_release(pool, c[0], 0);
	pool_release(pool, c[1], 0);
	ck_assert_int_eq(dp_stats_of(pool).size, 2);
}
END_TEST

START_TEST(test_pool_reap_spares_busy)
{
	PGconn *c[3];

	opt = dp_options(dp_test_db(), 0, 3);
	opt.idle_timeout_ms = 1000;
	pool = dp_new_pool(&opt);
	for (int i = 0; i < 3; i++)
		c[i] = dp_acquire(pool);
	pool_release(pool, c[2], 0);
	check_sleep_ms(1200);
	ck_assert_int_eq(pool_reap_idle(pool), 1); /* only the idle one */
	ck_assert_int_eq(dp_stats_of(pool).active, 2);
	dp_assert_scalar(c[0], "SELECT 1", NULL, "1");
	pool_release(pool, c[0], 0);
	pool_release(pool, c[1], 0);
}
END_TEST

/* ------------------------------------------------------ db_call with DB */

/* The fixture of the db_call tests: pool, of one prepared connection,
 * the env for db_call on it (with breaker b once a test makes one with
 * use_breaker()), and the out text of the last call; freed after each. */
static breaker *b;
static db_env env;
static char *out;

static void call_setup(void)
{
	opt = dp_options(dp_test_db(), 1, 1);
	opt.setup = db_prepare_all;
	pool = dp_new_pool(&opt);
	b = NULL;
	out = NULL;
	env = dp_make_env(pool, NULL);
}

static void call_teardown(void)
{
	free(out);
	out = NULL;
	breaker_free(b);
	b = NULL;
	teardown();
}

/* Puts a breaker of threshold failures in front of the pool. */
static void use_breaker(int threshold)
{
	ck_assert_int_eq(breaker_create(threshold, 60000, NULL, NULL, &b), ATT_OK);
	env = dp_make_env(pool, b);
}

/* db_call on env of stmt with claims and params; returns its result, the
 * text in out (which it replaces), the failure in *why. */
static att_err call(const char *claims, db_stmt stmt, const char *const *params, db_failure *why)
{
	free(out);
	out = NULL;
	return db_call(&env, claims, stmt, params, &out, why);
}

START_TEST(test_db_call_ping)
{
	db_failure why;

	ck_assert_int_eq(call(NULL, DB_STMT_PING, NULL, &why), ATT_OK);
	ck_assert_ptr_nonnull(out);
	ck_assert_str_eq(out, "1");
	ck_assert_int_eq(why.tries, 1);
	ck_assert_int_eq(why.breaker_open, 0);
	/* With claims: still one try, and the connection goes back clean. */
	ck_assert_int_eq(call("{\"sub\":\"x\"}", DB_STMT_PING, NULL, &why), ATT_OK);
	ck_assert_str_eq(out, "1");
	ck_assert_int_eq(why.tries, 1);
	ck_assert_int_eq(dp_stats_of(pool).active, 0);
	ck_assert_int_eq(dp_stats_of(pool).idle, 1);
	ck_assert_uint_eq(dp_stats_of(pool).queries, 2);
}
END_TEST

START_TEST(test_db_call_ping_with_breaker)
{
	db_failure why;

	use_breaker(2);
	ck_assert_int_eq(call(NULL, DB_STMT_PING, NULL, &why), ATT_OK);
	ck_assert_str_eq(out, "1");
	ck_assert_int_eq(why.tries, 1);
	ck_assert_int_eq(breaker_get_state(b), BREAKER_CLOSED);
}
END_TEST

/* An SQL error is the server answering: not repeated, not a breaker
 * failure. */
START_TEST(test_db_call_sql_error_not_retried)
{
	db_failure why;
	const char *params[1] = {"not-a-uuid"};
	breaker_stats bs;

	use_breaker(1);
	ck_assert_int_eq(call(NULL, DB_STMT_GET_EXAM, params, &why), ATT_EDB);
	ck_assert_ptr_null(out);
	ck_assert_str_eq(why.sqlstate, "22P02");
	ck_assert_int_eq(why.tries, 1);
	ck_assert_int_eq(why.sent, 1);
	breaker_get_stats(b, &bs);
	ck_assert_int_eq(bs.state, BREAKER_CLOSED);
	ck_assert_int_eq(bs.failures, 0);
	/* The connection is still good for the next call. */
	ck_assert_int_eq(call(NULL, DB_STMT_PING, NULL, &why), ATT_OK);
	ck_assert_str_eq(out, "1");
	ck_assert_uint_eq(dp_stats_of(pool).reconnects, 0);
}
END_TEST

/* What needs no server: runs in tests/check_unit. */

void db_pool_live_cases(Suite *s)
{
	check_tcase(s, "pool", setup, teardown, test_pool_create_opens_min,
		    test_pool_acquire_release_counts, test_pool_acquire_times_out_at_max,
		    test_pool_release_wakes_waiter, test_pool_release_broken_reconnects,
		    test_pool_replaces_connection_killed_server_side,
		    test_pool_setup_runs_on_every_connection, test_pool_setup_failure_closes,
		    test_pool_session_setup, test_pool_reap_idle, test_pool_reap_spares_busy, NULL);

	check_tcase(s, "db_call", call_setup, call_teardown, test_db_call_ping,
		    test_db_call_ping_with_breaker, test_db_call_sql_error_not_retried, NULL);
}
