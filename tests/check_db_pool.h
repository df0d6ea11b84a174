/* check_db_pool: the suite of tests/check_db_pool.c that needs a real
 * PostgreSQL (ATTEMPTS_TEST_DB); tests/check_db_pool_main.c runs it. The
 * suite that needs none, db_pool_suite, is declared in check_suites.h. */
#ifndef ATT_CHECK_DB_POOL_H
#define ATT_CHECK_DB_POOL_H

#include <check.h>

Suite *db_pool_live_suite(void);
/* tests/check_db_failover.c: db_call leaving a standby (SQLSTATE 25006). */
Suite *db_failover_suite(void);

#endif
