/* check_db_pool: the cases of tests/check_db_pool_live.c and
 * tests/check_db_failover.c, which need a real PostgreSQL
 * (ATTEMPTS_TEST_DB); tests/check_db_pool_main.c runs them. The cases that
 * need none, db_pool_cases, are declared in check_suites.h. */
#ifndef ATT_CHECK_DB_POOL_H
#define ATT_CHECK_DB_POOL_H

#include <check.h>
#include <libpq-fe.h>

#include "breaker.h"
#include "check_util.h"
#include "db.h"
#include "db_pool.h"

/* Each adds its file's test cases to s (check_db_pool_main.c's suites[]). */
void db_pool_live_cases(Suite *s);
/* tests/check_db_failover.c: db_call leaving a standby (SQLSTATE 25006). */
void db_failover_cases(Suite *s);

/* What both suites share (check_db_pool_util.c). */

/* The test database's conninfo; fails the test when it is not set. */
const char *dp_test_db(void);
/* Options for a pool of min..max connections to conninfo, with the
 * timeouts app.c gives. */
pool_options dp_options(const char *conninfo, int min, int max);
/* pool_create that must succeed; pool_free() the result. */
db_pool *dp_new_pool(const pool_options *opt);
/* A pool of min..max connections to the test database, its options in
 * *opt; pool_free() the result. */
db_pool *dp_live_pool(pool_options *opt, int min, int max);
/* Asserts the pool's size and its active and idle connections; returns
 * all its counters. */
pool_stats dp_expect_counts(db_pool *pool, int size, int active, int idle);
pool_stats dp_stats_of(db_pool *pool);
/* pool_acquire that must succeed. */
PGconn *dp_acquire(db_pool *pool);
/* The single value sql returns on conn (one optional text parameter); the
 * caller frees it with free(). */
char *dp_scalar(PGconn *conn, const char *sql, const char *param);
/* Asserts that sql returns want on conn. */
void dp_assert_scalar(PGconn *conn, const char *sql, const char *param, const char *want);
/* An environment for db_call on pool and b: three tries, with short
 * backoff delays. */
db_env dp_make_env(db_pool *pool, breaker *b);

#endif
